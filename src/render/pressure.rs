//! Resource pressure for a saturation run (`saturation.pressure:`): how many `stress-ng` CPU
//! (and optionally memory) workers load the machine while the steps run, and on which CPUs.
//! A capacity measured with a neighbour on the box is the capacity production has when it
//! shares its hosts. This is only the declaration and its checks; `run::pressure` starts and
//! stops the process, and the run records what it ran under.

use serde::{Deserialize, Serialize};

/// `saturation.pressure:` in an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pressure {
    /// `stress-ng --cpu N`: workers spinning on the CPU (1..=64).
    pub cpu_workers: u32,
    /// `stress-ng --vm N`: workers touching memory (0..=16; 0, the default, none).
    #[serde(default)]
    pub vm_workers: u32,
    /// `stress-ng --vm-bytes`: memory per vm worker (`64M`, `1G`); needs `vm_workers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_bytes: Option<String>,
    /// `stress-ng --taskset`: the CPUs the workers are pinned to (`[0]`); none: any CPU. Pin
    /// the service to the same CPUs and leave k6 the others, so that k6 is not the one that
    /// starves (its own host check would then flag the run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u32>,
}

impl Pressure {
    /// Checks the ranges; `Err((field, message))` names the field below `pressure`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if !(1..=64).contains(&self.cpu_workers) {
            return Err(("cpu_workers".into(), format!("{} is not between 1 and 64", self.cpu_workers)));
        }
        if self.vm_workers > 16 {
            return Err(("vm_workers".into(), format!("{} is more than 16", self.vm_workers)));
        }
        if let Some(bytes) = &self.vm_bytes {
            if self.vm_workers == 0 {
                return Err(("vm_bytes".into(), "memory per vm worker without vm_workers".into()));
            }
            let digits = bytes.trim_end_matches(['K', 'M', 'G']);
            let suffixes = bytes.len() - digits.len();
            if digits.is_empty() || suffixes > 1 || !digits.bytes().all(|b| b.is_ascii_digit()) || digits == "0" {
                return Err(("vm_bytes".into(), format!("{bytes:?} is not a size like 64M or 1G")));
            }
        }
        if let Some(cpu) = self.cpus.iter().find(|c| **c > 1023) {
            return Err(("cpus".into(), format!("CPU {cpu} is not a CPU number")));
        }
        Ok(())
    }

    /// `stress-ng`'s arguments, ending the workers after `timeout_s` whatever happens to k6gate.
    pub fn args(&self, timeout_s: u64) -> Vec<String> {
        let mut out = vec!["--cpu".to_string(), self.cpu_workers.to_string()];
        if self.vm_workers > 0 {
            out.extend(["--vm".into(), self.vm_workers.to_string()]);
            if let Some(b) = &self.vm_bytes {
                out.extend(["--vm-bytes".into(), b.clone()]);
            }
        }
        if !self.cpus.is_empty() {
            let list: Vec<String> = self.cpus.iter().map(u32::to_string).collect();
            out.extend(["--taskset".into(), list.join(",")]);
        }
        out.extend(["--timeout".into(), format!("{timeout_s}s"), "--quiet".into()]);
        out
    }

    /// "2 CPU workers pinned to CPU 0, 1 vm worker of 64M (stress-ng)", for the notes and reports.
    pub fn describe(&self) -> String {
        let plural = |n: u32, what: &str| format!("{n} {what} worker{}", if n == 1 { "" } else { "s" });
        let mut out = plural(self.cpu_workers, "CPU");
        if !self.cpus.is_empty() {
            let list: Vec<String> = self.cpus.iter().map(u32::to_string).collect();
            out.push_str(&format!(" pinned to CPU {}", list.join(",")));
        }
        if self.vm_workers > 0 {
            out.push_str(&format!(", {}", plural(self.vm_workers, "vm")));
            if let Some(b) = &self.vm_bytes {
                out.push_str(&format!(" of {b}"));
            }
        }
        out.push_str(" (stress-ng)");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(cpu: u32, vm: u32, bytes: Option<&str>, cpus: &[u32]) -> Pressure {
        Pressure { cpu_workers: cpu, vm_workers: vm, vm_bytes: bytes.map(Into::into), cpus: cpus.to_vec() }
    }

    #[test]
    fn arguments_and_description_follow_the_declaration() {
        let a = p(2, 0, None, &[0]);
        assert_eq!(a.args(40), ["--cpu", "2", "--taskset", "0", "--timeout", "40s", "--quiet"]);
        assert_eq!(a.describe(), "2 CPU workers pinned to CPU 0 (stress-ng)");
        let b = p(1, 1, Some("64M"), &[]);
        assert_eq!(b.args(5), ["--cpu", "1", "--vm", "1", "--vm-bytes", "64M", "--timeout", "5s", "--quiet"]);
        assert_eq!(b.describe(), "1 CPU worker, 1 vm worker of 64M (stress-ng)");
    }

    #[test]
    fn out_of_range_fields_are_named() {
        let field = |p: Pressure| p.validate().unwrap_err().0;
        assert_eq!(field(p(0, 0, None, &[])), "cpu_workers");
        assert_eq!(field(p(65, 0, None, &[])), "cpu_workers");
        assert_eq!(field(p(1, 17, None, &[])), "vm_workers");
        assert_eq!(field(p(1, 0, Some("64M"), &[])), "vm_bytes");
        for bad in ["", "M", "64MB", "0", "-1M", "1.5G"] {
            assert_eq!(field(p(1, 1, Some(bad), &[])), "vm_bytes", "{bad:?}");
        }
        assert_eq!(field(p(1, 0, None, &[4096])), "cpus");
        assert!(p(2, 1, Some("1G"), &[0, 1]).validate().is_ok());
    }
}
