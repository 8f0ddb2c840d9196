use serde::{Deserialize, Deserializer};
use std::fmt;

/// A password or token from configuration. It prints as `**REDACTED**` in every `Debug` and
/// `Display`, so a config or error that holds one can be logged; the value is reachable only
/// through [`Secret::expose`], which marks the few places that hand it to a protocol.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**REDACTED**")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**REDACTED**")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let s = Secret::new("canary-hunter2");
        assert_eq!(format!("{s:?} {s}"), "**REDACTED** **REDACTED**");
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Creds {
            user: String,
            password: Secret,
        }
        let c: Creds = serde_json::from_str(r#"{"user":"admin","password":"canary-hunter2"}"#).unwrap();
        assert!(!format!("{c:?}").contains("canary"));
        assert_eq!(c.password.expose(), "canary-hunter2");
    }
}
