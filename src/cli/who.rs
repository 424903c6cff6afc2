//! Who runs k6gate and where, for the run record, found at the edge: the history records what
//! it is given and never looks.

use std::process::Command;

/// `$USER` (`%USERNAME%` on Windows), else `git config user.name`.
pub fn current_user() -> Option<String> {
    env("USER").or_else(|| env("USERNAME")).or_else(|| command("git", &["config", "user.name"]))
}

/// The git user (`user.email`, else `user.name`): who runs k6gate on a laptop.
pub fn git_user() -> Option<String> {
    command("git", &["config", "user.email"]).or_else(|| command("git", &["config", "user.name"]))
}

/// The host name: `$HOSTNAME`/`%COMPUTERNAME%`, the kernel's, `/etc/hostname`, or `hostname`.
pub fn hostname() -> Option<String> {
    env("HOSTNAME")
        .or_else(|| env("COMPUTERNAME"))
        .or_else(|| file("/proc/sys/kernel/hostname"))
        .or_else(|| file("/etc/hostname"))
        .or_else(|| command("hostname", &[]))
}

fn nonempty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().as_deref().and_then(nonempty)
}

fn file(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().as_deref().and_then(nonempty)
}

fn command(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    nonempty(&String::from_utf8_lossy(&out.stdout))
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_a_host() {
        // Every machine these tests run on has a name; the user may legitimately be unknown.
        assert!(super::hostname().is_some_and(|h| !h.is_empty()));
        assert!(super::current_user().is_none_or(|u| !u.is_empty()));
    }
}
