//! Unknown keys, found against the configuration's JSON Schema. serde's
//! `deny_unknown_fields` cannot be combined with `flatten`, and the sections share blocks
//! (a place, credentials) by flattening them in: the schema knows every key either way.

use serde_json::Value;

/// The first key of `value` the schema does not know, as a path (`cameras[0].analysis_widht`).
pub(crate) fn first_unknown(value: &toml::Value, schema: &Value) -> Option<String> {
    let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
    Walk { defs: &defs }.unknown(value, schema, "")
}

/// The property that accepts `key` as an alias (`#[serde(alias)]`, declared to the schema as
/// `x-aliases`).
fn aliased<'s>(properties: &'s serde_json::Map<String, Value>, key: &str) -> Option<&'s Value> {
    properties.values().find(|p| {
        p.get("x-aliases").and_then(Value::as_array).is_some_and(|a| a.iter().any(|n| n.as_str() == Some(key)))
    })
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

    fn unknown(&self, value: &toml::Value, schema: &Value, path: &str) -> Option<String> {
        let schema = self.resolve(schema);
        if let Some(choices) = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array) {
            // The first alternative the value fits without an unknown key (an `Option`, a tagged
            // enum's variants); when none fits, the closest report is the first alternative's.
            let reports: Vec<Option<String>> =
                choices.iter().filter(|c| self.fits(value, c)).map(|c| self.unknown(value, c, path)).collect();
            return reports
                .iter()
                .find(|r| r.is_none())
                .cloned()
                .unwrap_or_else(|| reports.into_iter().flatten().next());
        }
        match value {
            toml::Value::Table(table) => self.unknown_in_table(table, schema, path),
            toml::Value::Array(items) => {
                let item = schema.get("items")?;
                items.iter().enumerate().find_map(|(i, v)| self.unknown(v, item, &format!("{path}[{i}]")))
            }
            _ => None,
        }
    }

    /// Whether an alternative can describe the value at all (a table is no `null`).
    fn fits(&self, value: &toml::Value, schema: &Value) -> bool {
        let schema = self.resolve(schema);
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            // No type of its own (a choice, a reference chain, `{}`): it may fit.
            _ => return true,
        };
        let wanted = match value {
            toml::Value::Table(_) => "object",
            toml::Value::Array(_) => "array",
            toml::Value::String(_) | toml::Value::Datetime(_) => "string",
            toml::Value::Integer(_) => "integer",
            toml::Value::Float(_) => "number",
            toml::Value::Boolean(_) => "boolean",
        };
        types.iter().any(|t| *t == wanted || (wanted == "integer" && *t == "number"))
    }

    fn unknown_in_table(&self, table: &toml::Table, schema: &Value, path: &str) -> Option<String> {
        let merged = self.properties(schema);
        let properties = (!merged.is_empty()).then_some(&merged);
        let extra = schema.get("additionalProperties").filter(|v| v.is_object());
        if properties.is_none() && extra.is_none() {
            return None;
        }
        for (key, v) in table {
            let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            let known = properties.and_then(|p| p.get(key).or_else(|| aliased(p, key))).or(extra);
            match known {
                Some(s) => {
                    if let Some(unknown) = self.unknown(v, s, &here) {
                        return Some(unknown);
                    }
                }
                None => return Some(here),
            }
        }
        None
    }
}
