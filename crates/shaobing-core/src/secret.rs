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

impl schemars::JsonSchema for Secret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secret".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [
                { "type": "string" },
                { "type": "object", "properties": { "file": { "type": "string" } }, "required": ["file"] }
            ]
        })
    }
}

/// In configuration a secret is either the value itself or `{ file = "PATH" }`: a file such
/// as a systemd credential (`/run/credentials/shaobing.service/mqtt-password`), read once
/// when the configuration loads, one trailing newline removed.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Value(String),
            File { file: std::path::PathBuf },
        }
        match Form::deserialize(d)? {
            Form::Value(v) => Ok(Secret(v)),
            Form::File { file } => std::fs::read_to_string(&file)
                .map(|v| Secret(v.strip_suffix('\n').unwrap_or(&v).to_string()))
                .map_err(|e| serde::de::Error::custom(format!("cannot read secret file {}: {e}", file.display()))),
        }
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

    #[test]
    fn can_come_from_a_credential_file() {
        let path = std::env::temp_dir().join(format!("shaobing-secret-{}", std::process::id()));
        std::fs::write(&path, "canary-from-file\n").unwrap();
        let json = format!(r#"{{"file":"{}"}}"#, path.display());
        let s: Secret = serde_json::from_str(&json).unwrap();
        assert_eq!(s.expose(), "canary-from-file");
        std::fs::remove_file(&path).unwrap();
        let err = serde_json::from_str::<Secret>(&json).unwrap_err().to_string();
        assert!(err.contains("cannot read secret file") && err.contains("shaobing-secret-"), "{err}");
    }
}
