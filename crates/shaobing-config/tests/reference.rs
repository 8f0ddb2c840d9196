//! The configuration reference in `docs/configuration.md` is generated from the JSON Schema of
//! the configuration types (derived from the types themselves, their serde attributes and doc
//! comments). This test regenerates it and fails when the committed file is stale;
//! `SHAOBING_WRITE_REFERENCE=1` rewrites it. It also fails when a key has no doc comment.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// A table of keys to render: where it sits in the file, and its schema.
struct Section {
    paths: Vec<String>,
    schema: Value,
}

/// Walks the schema from the root, naming each object type by where it sits in the TOML file
/// (`[daemon]`, `[[cameras]]`, `[rules.fire_smoke]`, `[sensors.groups.sensors.<key>]`).
struct Walker<'a> {
    defs: &'a Map<String, Value>,
    /// Object types by definition name, in the order first reached.
    sections: Vec<(String, Section)>,
    enums: BTreeMap<String, Value>,
}

impl<'a> Walker<'a> {
    fn def(&self, schema: &Value) -> Option<(String, &'a Value)> {
        let name = schema.get("$ref")?.as_str()?.rsplit('/').next()?.to_string();
        self.defs.get(&name).map(|d| (name, d))
    }

    /// The `$ref`s a property's schema leads to, with how the TOML path grows on the way.
    fn targets(schema: &Value, path: &str, out: &mut Vec<(Value, String, bool)>) {
        if schema.get("$ref").is_some() {
            out.push((schema.clone(), path.to_string(), false));
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            for s in schema.get(key).and_then(Value::as_array).into_iter().flatten() {
                Self::targets(s, path, out);
            }
        }
        if let Some(items) = schema.get("items") {
            let before = out.len();
            Self::targets(items, path, out);
            out[before..].iter_mut().for_each(|t| t.2 = true);
        }
        if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
            Self::targets(values, &format!("{path}.<key>"), out);
        }
    }

    /// Records a type reached at `shown`; its keys continue from `path`. A type reached again
    /// (one settings type for three rules) is listed once, under every place it sits.
    fn visit(&mut self, name: &str, schema: &Value, shown: String, path: &str) {
        if let Some((_, existing)) = self.sections.iter_mut().find(|(n, _)| n == name) {
            if !existing.paths.contains(&shown) {
                existing.paths.push(shown);
            }
            return;
        }
        if schema.get("properties").is_none() {
            self.enums.insert(name.to_string(), schema.clone());
            return;
        }
        self.sections.push((name.to_string(), Section { paths: vec![shown], schema: schema.clone() }));
        self.children(schema, path);
    }

    fn children(&mut self, schema: &Value, path: &str) {
        let props = schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        for (key, prop) in props {
            let mut found = Vec::new();
            let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            Self::targets(&prop, &child, &mut found);
            for (target, p, array) in found {
                if let Some((name, def)) = self.def(&target) {
                    let shown = if array { format!("[[{p}]]") } else { format!("[{p}]") };
                    self.visit_def(&name, def, shown, &p);
                }
            }
        }
    }

    /// A definition reached at `shown`; its own keys continue from `path`.
    fn visit_def(&mut self, name: &str, def: &Value, shown: String, path: &str) {
        let variants =
            def.get("oneOf").and_then(Value::as_array).filter(|v| v.iter().all(|v| v.get("properties").is_some()));
        let Some(variants) = variants else { return self.visit(name, def, shown, path) };
        // An internally tagged enum: one table per variant, named by its tag.
        for v in variants.clone() {
            let props = v["properties"].as_object().cloned().unwrap_or_default();
            let tag = props.iter().find_map(|(k, s)| s.get("const").map(|c| format!("{k} = {c}")));
            let label = format!("{shown} ({})", tag.unwrap_or_default());
            self.visit(&format!("{name} {label}"), &v, label, path);
        }
    }
}

/// A readable type: `string`, `integer`, `array of string`, a definition's name, `X or Y`.
fn type_of(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_string();
    }
    if let Some(any) = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array) {
        let parts: Vec<String> =
            any.iter().filter(|s| s.get("type").and_then(Value::as_str) != Some("null")).map(type_of).collect();
        return parts.join(" or ");
    }
    let ty = match schema.get("type") {
        Some(Value::Array(types)) => {
            types.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect::<Vec<_>>().join(" or ")
        }
        Some(Value::String(t)) => t.clone(),
        _ => return "value".into(),
    };
    match ty.as_str() {
        "array" => match schema.get("items") {
            Some(Value::Array(tuple)) => format!("[{}]", tuple.iter().map(type_of).collect::<Vec<_>>().join(", ")),
            Some(items) => format!("array of {}", type_of(items)),
            None => "array".into(),
        },
        "object" => match schema.get("additionalProperties").filter(|v| v.is_object()) {
            Some(values) => format!("table of {}", type_of(values)),
            None => "table".into(),
        },
        _ => ty,
    }
}

fn with_doc(doc: &str) -> String {
    if doc.is_empty() { String::new() } else { format!(": {doc}") }
}

fn description(schema: &Value) -> String {
    schema.get("description").and_then(Value::as_str).unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An `Option` key: unset means off, not its keys' defaults.
fn nullable(prop: &Value) -> bool {
    let null = |v: &Value| v.get("type").and_then(Value::as_str) == Some("null");
    prop.get("anyOf").and_then(Value::as_array).is_some_and(|a| a.iter().any(null))
}

/// A key's default as it would be written in the file, or `unset`.
fn default_of(prop: &Value) -> String {
    match prop.get("default") {
        None | Some(Value::Null) => "unset".into(),
        Some(Value::Array(a)) if a.is_empty() => "`[]`".into(),
        Some(Value::Object(o)) if o.is_empty() => "`{}`".into(),
        Some(v @ (Value::Array(_) | Value::Object(_))) => match toml::Value::try_from(v) {
            Ok(t) => format!("`{}`", t.to_string().replace('\n', " ").replace('|', "\\|")),
            Err(_) => format!("`{v}`"),
        },
        Some(v) => format!("`{v}`"),
    }
}

fn render(sections: &[(String, Section)], enums: &BTreeMap<String, Value>, undocumented: &mut Vec<String>) -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from the JSON Schema of the configuration types (their serde attributes and doc\n\
         comments, where each key is declared): edit those, then\n\
         `SHAOBING_WRITE_REFERENCE=1 cargo test -p shaobing-config --test reference`.\n\
         Unknown keys are rejected; `shaobing check-config FILE` names the key at fault.\n",
    );
    for (name, section) in sections {
        let header = section.paths.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
        let _ = write!(out, "\n## {header}\n\n");
        let doc = description(&section.schema);
        if !doc.is_empty() {
            let _ = write!(out, "{doc}\n\n");
        }
        out.push_str("| key | type | default | description |\n| --- | --- | --- | --- |\n");
        let required: Vec<&str> =
            section.schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        for (key, prop) in section.schema["properties"].as_object().into_iter().flatten() {
            if prop.get("const").is_some() {
                continue;
            }
            let kind = type_of(prop);
            let need = match default_of(prop) {
                _ if required.contains(&key.as_str()) => "required".to_string(),
                unset if unset == "unset" && !nullable(prop) && sections.iter().any(|(n, _)| *n == kind) => {
                    "its keys' defaults".into()
                }
                unset if unset == "unset" && (kind.starts_with("array of") || kind.starts_with("table of")) => {
                    "none".into()
                }
                default => default,
            };
            let doc = description(prop);
            if doc.is_empty() {
                undocumented.push(format!("{name}.{key}"));
            }
            let _ = writeln!(out, "| `{key}` | `{kind}` | {need} | {doc} |");
        }
    }
    out.push_str("\n## Values\n");
    for (name, schema) in enums {
        let _ = write!(out, "\n### `{name}`\n\n");
        let doc = description(schema);
        if !doc.is_empty() {
            let _ = write!(out, "{doc}\n\n");
        }
        match schema.get("oneOf").and_then(Value::as_array) {
            // Each value with its own doc comment.
            Some(values) => {
                for v in values {
                    let value = v.get("const").and_then(Value::as_str).map_or_else(|| type_of(v), String::from);
                    let _ = writeln!(out, "- `{value}`{}", with_doc(&description(v)));
                }
            }
            None => match schema.get("enum").and_then(Value::as_array) {
                Some(values) => {
                    let values: Vec<String> =
                        values.iter().filter_map(Value::as_str).map(|v| format!("`{v}`")).collect();
                    let _ = writeln!(out, "One of {}.", values.join(", "));
                }
                None => {
                    let _ = writeln!(out, "A value of type `{}`.", type_of(schema));
                }
            },
        }
    }
    out
}

/// Every section and value type of the configuration, walked from its JSON Schema.
fn walk_config() -> (Vec<(String, Section)>, BTreeMap<String, Value>) {
    let schema = serde_json::to_value(schemars::schema_for!(shaobing_config::Config)).unwrap();
    let defs = schema["$defs"].as_object().cloned().unwrap_or_default();
    let mut walker = Walker { defs: &defs, sections: Vec::new(), enums: BTreeMap::new() };
    walker.sections.push(("Config".into(), Section { paths: vec!["(top level)".into()], schema: schema.clone() }));
    walker.children(&schema, "");
    (walker.sections, walker.enums)
}

#[test]
fn the_configuration_reference_is_current() {
    let (sections, enums) = walk_config();
    let mut undocumented = Vec::new();
    let rendered = render(&sections, &enums, &mut undocumented);
    assert!(undocumented.is_empty(), "keys without a doc comment: {undocumented:?}");
    for section in
        ["[daemon]", "[[cameras]]", "[[cameras.zones]]", "[rules.fire_smoke]", "[central]", "[mqtt.tls]", "[readings]"]
    {
        assert!(rendered.contains(&format!("`{section}`")), "section {section} missing from the reference");
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    if std::env::var_os("SHAOBING_WRITE_REFERENCE").is_some() {
        std::fs::write(&target, &rendered).unwrap();
    }
    let committed = std::fs::read_to_string(&target).unwrap_or_default();
    assert!(
        committed == rendered,
        "docs/configuration.md is stale: run SHAOBING_WRITE_REFERENCE=1 cargo test -p shaobing-config --test reference"
    );
}

/// The example configuration shows every key, set or commented out (`# key = …`), so an
/// integrator reads every option where they edit.
#[test]
fn the_example_configuration_shows_every_key() {
    let (sections, _) = walk_config();
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/shaobing.example.toml"))
            .unwrap();
    let shown = |key: &str| {
        example.lines().any(|l| {
            let l = l.trim_start().trim_start_matches('#').trim_start();
            l.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('='))
                || l.starts_with(&format!("{key}."))
                || l.contains(&format!("{{ {key} ="))
                || l.contains(&format!(", {key} ="))
        })
    };
    let header = |path: &str| {
        let bare = path.trim_start_matches('[').trim_end_matches(']');
        // A section of subsections only (`[rules]`) shows in theirs (`[rules.fire_smoke]`).
        bare.contains('<')
            || bare.contains(' ')
            || example.contains(&format!("[{bare}]"))
            || example.contains(&format!("[{bare}."))
    };
    let mut missing = Vec::new();
    for (_, section) in &sections {
        let sections_shown = section.paths.iter().any(|p| p == "(top level)" || header(p));
        if !sections_shown {
            missing.push(section.paths.join(" | "));
        }
        for (key, prop) in section.schema["properties"].as_object().into_iter().flatten() {
            let kind = type_of(prop);
            let kind = kind.trim_start_matches("array of ").trim_start_matches("table of ");
            let is_table = sections.iter().any(|(n, _)| n == kind);
            if prop.get("const").is_none() && !is_table && !shown(key) {
                missing.push(format!("{}.{key}", section.paths[0]));
            }
        }
    }
    assert!(missing.is_empty(), "deploy/shaobing.example.toml does not show {} keys: {missing:#?}", missing.len());
}
