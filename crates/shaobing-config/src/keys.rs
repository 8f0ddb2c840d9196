//! Keys checked against the configuration's JSON Schema before serde sees them: unknown keys,
//! values of the wrong kind, and values an enumeration does not have, each named by its path.
//! serde's `deny_unknown_fields` cannot be combined with `flatten`, and a flattened block loses
//! the key from serde's own errors; the sections share blocks (a place, credentials, a
//! camera's source) by flattening them in, and the schema knows every key either way.

use serde_json::Value;

/// A key at fault: its path (`cameras[0].analysis_widht`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub key: String,
    pub message: String,
}

/// The first key of `value` the schema rejects.
pub(crate) fn first_problem(value: &toml::Value, schema: &Value) -> Option<Problem> {
    let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
    Walk { defs: &defs }.check(value, schema, "")
}

/// The first secret given as `{ file = "PATH" }` whose file cannot be read, by its key: serde
/// reads it too, but the flattened credential blocks lose the key from its error.
pub(crate) fn unreadable_secret_file(value: &toml::Value, path: &str) -> Option<Problem> {
    let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match value {
        toml::Value::Table(t) if t.len() == 1 => match t.get("file") {
            Some(toml::Value::String(file)) => std::fs::read_to_string(file)
                .err()
                .and_then(|e| problem(path, format!("cannot read the secret file {file}: {e}"))),
            _ => t.iter().find_map(|(k, v)| unreadable_secret_file(v, &join(k))),
        },
        toml::Value::Table(t) => t.iter().find_map(|(k, v)| unreadable_secret_file(v, &join(k))),
        toml::Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, v)| unreadable_secret_file(v, &format!("{path}[{i}]")))
        }
        _ => None,
    }
}

/// The property that accepts `key` as an alias (`#[serde(alias)]`, declared to the schema as
/// `x-aliases`).
fn aliased<'s>(properties: &'s serde_json::Map<String, Value>, key: &str) -> Option<&'s Value> {
    properties.values().find(|p| {
        p.get("x-aliases").and_then(Value::as_array).is_some_and(|a| a.iter().any(|n| n.as_str() == Some(key)))
    })
}

fn kind_of(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::Table(_) => "object",
        toml::Value::Array(_) => "array",
        toml::Value::String(_) | toml::Value::Datetime(_) => "string",
        toml::Value::Integer(_) => "integer",
        toml::Value::Float(_) => "number",
        toml::Value::Boolean(_) => "boolean",
    }
}

fn problem(key: &str, message: String) -> Option<Problem> {
    Some(Problem { key: key.to_string(), message })
}

struct Walk<'a> {
    defs: &'a Value,
}

impl Walk<'_> {
    /// The object's keys, with those of blocks flattened in through `allOf`.
    fn properties(&self, schema: &Value) -> serde_json::Map<String, Value> {
        let mut all = schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        for part in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            all.extend(self.properties(self.resolve(part)));
        }
        all
    }

    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        match schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/")) {
            Some(name) => self.defs.get(name).map_or(schema, |d| self.resolve(d)),
            None => schema,
        }
    }

    /// Whether the schema's own type admits the value's kind (no type of its own: it may).
    fn fits(&self, value: &toml::Value, schema: &Value) -> bool {
        let schema = self.resolve(schema);
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return true,
        };
        let kind = kind_of(value);
        types.iter().any(|t| *t == kind || (kind == "integer" && *t == "number"))
    }

    fn check(&self, value: &toml::Value, schema: &Value, path: &str) -> Option<Problem> {
        let schema = self.resolve(schema);
        if let Some(choices) = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array) {
            return self.check_choices(value, choices, path);
        }
        if !self.fits(value, schema) {
            let wanted = schema.get("type").map_or_else(String::new, |t| t.to_string().replace('"', ""));
            return problem(path, format!("expected {wanted}, got {}", kind_of(value)));
        }
        if let (Some(allowed), toml::Value::String(s)) = (schema.get("enum").and_then(Value::as_array), value)
            && !allowed.iter().any(|a| a.as_str() == Some(s))
        {
            let names: Vec<String> = allowed.iter().filter_map(Value::as_str).map(|a| format!("`{a}`")).collect();
            return problem(path, format!("expected one of {}, got `{s}`", names.join(", ")));
        }
        match value {
            toml::Value::Table(table) => self.check_table(table, schema, path),
            toml::Value::Array(items) => {
                let item = schema.get("items").filter(|i| i.is_object())?;
                items.iter().enumerate().find_map(|(i, v)| self.check(v, item, &format!("{path}[{i}]")))
            }
            _ => None,
        }
    }

    /// The first alternative the value fits without a problem (an `Option`, an enumeration's
    /// documented values, a tagged enum's variants); else the first alternative's problem.
    fn check_choices(&self, value: &toml::Value, choices: &[Value], path: &str) -> Option<Problem> {
        let fitting: Vec<&Value> = choices.iter().filter(|c| self.fits(value, c)).collect();
        if fitting.is_empty() {
            return problem(path, format!("a {} is not allowed here", kind_of(value)));
        }
        let consts: Vec<&str> = fitting.iter().filter_map(|c| self.resolve(c).get("const")?.as_str()).collect();
        if let (false, toml::Value::String(s)) = (consts.is_empty(), value) {
            return match consts.contains(&s.as_str()) {
                true => None,
                false => {
                    let names: Vec<String> = consts.iter().map(|c| format!("`{c}`")).collect();
                    problem(path, format!("expected one of {}, got `{s}`", names.join(", ")))
                }
            };
        }
        let reports: Vec<Option<Problem>> = fitting.iter().map(|c| self.check(value, c, path)).collect();
        match reports.iter().any(Option::is_none) {
            true => None,
            false => reports.into_iter().flatten().next(),
        }
    }

    fn check_table(&self, table: &toml::Table, schema: &Value, path: &str) -> Option<Problem> {
        let merged = self.properties(schema);
        let extra = schema.get("additionalProperties").filter(|v| v.is_object());
        if merged.is_empty() && extra.is_none() {
            return None;
        }
        for (key, v) in table {
            let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            let known = merged.get(key).or_else(|| aliased(&merged, key)).or(extra);
            let found = match known {
                Some(s) => self.check(v, s, &here),
                None => problem(&here, "unknown key (docs/configuration.md lists every key)".into()),
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Option<Problem> {
        let schema = serde_json::to_value(schemars::schema_for!(crate::Config)).unwrap_or_default();
        first_problem(&toml::from_str(text).unwrap_or_else(|e| panic!("{e}")), &schema)
    }

    #[test]
    fn keys_in_flattened_blocks_are_checked_with_their_paths() {
        let camera = "[[cameras]]\nid = \"c\"\nuri = \"rtsp://h/x\"\n";
        let problem = |extra: &str| check(&format!("{camera}{extra}")).map(|p| (p.key, p.message));
        assert_eq!(problem("lat = 39.9\nlon = 116.4\nusername = \"u\"\n"), None);
        let (key, message) = problem("rtsp_client = \"ffmpeg\"\n").unwrap();
        assert_eq!(key, "cameras[0].rtsp_client");
        assert!(message.contains("`retina`") && message.contains("`ffmpeg`"), "{message}");
        assert_eq!(problem("analysis_fps = \"fast\"\n").unwrap().0, "cameras[0].analysis_fps");
        assert_eq!(problem("password = 7\n").unwrap().0, "cameras[0].password");
        assert_eq!(problem("latitude = 39.9\n").unwrap().0, "cameras[0].latitude");
        assert_eq!(check("[mqtt]\nclean_session = true\n").unwrap().key, "mqtt.clean_session");
        assert_eq!(check("[daemon]\nbox_id = 7\n").unwrap().key, "daemon.box_id");
    }
}
