//! The one secret type: tokens, passwords and URLs that carry a credential (a Slack webhook
//! URL is one). It exists so that a credential cannot reach a log line, an error or a file by
//! accident.
//!
//! What it must never do: show its value through `Debug`, `Display` or `Serialize` (it has
//! no `Serialize`). The value leaves only through [`Secret::expose`], for the one header or
//! URL that needs it.

use std::fmt;

/// What a secret looks like wherever it is shown.
pub const REDACTED: &str = "***";

/// A credential. `Debug` and `Display` show [`REDACTED`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the request that needs it. Never format it into a message.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every occurrence of the secret replaced by [`REDACTED`]. Secrets shorter
    /// than 4 characters are not replaced: they would garble ordinary words, and say little.
    pub fn scrub(&self, text: &str) -> String {
        if self.0.chars().count() < 4 { text.to_string() } else { text.replace(&self.0, REDACTED) }
    }

    /// [`Secret::scrub`] for several secrets at once.
    pub fn scrub_all<'a>(secrets: impl IntoIterator<Item = &'a Secret>, text: &str) -> String {
        secrets.into_iter().fold(text.to_string(), |t, s| s.scrub(&t))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shows_its_value() {
        let s = Secret::new("ghs_secret123");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(***)");
        assert_eq!(s.expose(), "ghs_secret123");
    }

    #[test]
    fn scrub_removes_every_occurrence() {
        let s = Secret::new("ghs_secret123");
        assert_eq!(s.scrub("bad ghs_secret123 here, ghs_secret123 again"), "bad *** here, *** again");
        assert_eq!(s.scrub("nothing to hide"), "nothing to hide");
    }

    #[test]
    fn short_secrets_are_not_scrubbed() {
        assert_eq!(Secret::new("pw").scrub("pw is in power"), "pw is in power");
        assert_eq!(Secret::new("").scrub("text"), "text");
        assert_eq!(Secret::new("abcd").scrub("xabcdx"), "x***x");
    }

    #[test]
    fn scrub_all_applies_each() {
        let (a, b) = (Secret::new("alpha-1"), Secret::new("beta-22"));
        assert_eq!(Secret::scrub_all([&a, &b], "alpha-1 and beta-22"), "*** and ***");
    }
}
