//! The Prometheus text exposition format (0.0.4), as far as reading a target's own series:
//! `name{label="value",...} value [timestamp]` lines; `#` lines and blank lines skipped.

use std::collections::BTreeMap;

/// One sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Every sample of `text`; a line that cannot be read is an error naming its number.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(sample(line).ok_or_else(|| format!("line {}: not a sample: {line:?}", i + 1))?);
    }
    Ok(out)
}

fn sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line.get(..name_end)?.to_string();
    let mut rest = line.get(name_end..)?;
    let mut labels = BTreeMap::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut key = String::new();
        let close;
        loop {
            let (i, c) = chars.next()?;
            match c {
                '}' => {
                    close = i;
                    break;
                }
                ',' | ' ' => {}
                '=' => {
                    if chars.next()?.1 != '"' {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '"' => break,
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            other => value.push(other),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                other => key.push(other),
            }
        }
        rest = body.get(close + 1..)?;
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample { name, labels, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_labels_and_values() {
        let s = parse("# HELP x y\nup 1\na_b{route=\"GET /x\",le=\"+Inf\"} 3 1700000000\nq{v=\"a\\\"b,c\"} +Inf\n")
            .unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].name, "up");
        assert_eq!(s[1].labels["route"], "GET /x");
        assert_eq!(s[1].value, 3.0);
        assert_eq!(s[2].labels["v"], "a\"b,c");
        assert!(s[2].value.is_infinite());
        assert_eq!(parse("x{a=\"1\" 2").unwrap_err(), "line 1: not a sample: \"x{a=\\\"1\\\" 2\"");
    }
}
