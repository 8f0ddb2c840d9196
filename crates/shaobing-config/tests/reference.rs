//! The configuration reference in `docs/configuration.md` is generated from the doc comments
//! on the configuration types, where each key is declared. This test regenerates it and fails
//! when the committed file is stale; `SHAOBING_WRITE_REFERENCE=1` rewrites it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write;
use std::path::Path;

/// Where each configuration type sits in the TOML file.
const SECTIONS: &[(&str, &str)] = &[
    ("Config", "(top level)"),
    ("DaemonConfig", "[daemon]"),
    ("RuntimeConfig", "[runtime]"),
    ("ConsoleConfig", "[metrics]"),
    ("ModelsConfig", "[models]"),
    ("CameraConfig", "[[cameras]]"),
    ("ZoneConfig", "[[cameras.zones]]"),
    ("RulesConfig", "[rules]"),
    ("MotionGateSettings", "[cameras.motion_gate]"),
    ("DwellRuleSettings", "[rules.illegal_parking], [rules.street_vending], [rules.unlicensed_tricycle]"),
    ("FireRuleSettings", "[rules.fire_smoke]"),
    ("ResponsibilityEntry", "[responsibility.<category>]"),
    ("CentralConfig", "[central]"),
    ("MqttConfig", "[mqtt]"),
    ("TlsConfig", "[mqtt.tls]"),
    ("SensorsConfig", "[sensors]"),
    ("SensorGroupConfig", "[[sensors.groups]]"),
    ("SensorLocationConfig", "[sensors.groups.sensors.<sensor id>]"),
    ("RuleConfig", "[[sensors.groups.rules]]"),
    ("DecoderConfig", "sensors.groups.decoder"),
    ("FieldConfig", "sensors.groups.decoder.fields[]"),
    ("RetentionConfig", "[readings]"),
];

const SOURCES: &[&str] = &[
    "shaobing-config/src/lib.rs",
    "shaobing-analysis/src/camera.rs",
    "shaobing-rules/src/settings.rs",
    "shaobing-detect/src/config.rs",
    "shaobing-api/src/config.rs",
    "shaobing-config/src/responsibility.rs",
    "shaobing-mqtt/src/config.rs",
    "shaobing-sensors/src/config.rs",
    "shaobing-sensors/src/store.rs",
    "shaobing-sink-postgres/src/config.rs",
];

#[derive(Debug, Default)]
struct Item {
    name: String,
    kind: String,
    docs: Vec<String>,
    default: bool,
}

#[derive(Debug, Default)]
struct Type {
    name: String,
    is_enum: bool,
    docs: Vec<String>,
    items: Vec<Item>,
}

fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Reads the serde types of one source file: derive(Deserialize) structs and enums, their
/// doc comments, and their fields or variants with theirs.
fn parse(source: &str) -> Vec<Type> {
    let (mut types, mut docs, mut deserialize, mut default) = (Vec::new(), Vec::new(), false, false);
    let mut current: Option<Type> = None;
    for line in source.lines() {
        let t = line.trim();
        if let Some(doc) = t.strip_prefix("///") {
            docs.push(doc.trim().to_string());
            continue;
        }
        if t.starts_with("#[derive(") {
            deserialize = t.contains("Deserialize");
            continue;
        }
        if t.starts_with("#[serde(") {
            default |= t.contains("default");
            continue;
        }
        if t.starts_with("#[") {
            continue;
        }
        if let Some(ty) = current.as_mut() {
            if line.starts_with('}') {
                types.push(current.take().unwrap());
            } else if let Some(field) = t.strip_prefix("pub ").and_then(|f| f.split_once(':')) {
                let kind = field.1.trim().trim_end_matches(',').to_string();
                ty.items.push(Item { name: field.0.to_string(), kind, docs: docs.clone(), default });
            } else if ty.is_enum && !t.is_empty() && t.chars().next().is_some_and(char::is_uppercase) {
                let variant = t.split(['{', '(', ',', ' ']).next().unwrap_or(t);
                ty.items.push(Item { name: snake(variant), kind: String::new(), docs: docs.clone(), default: false });
            }
        } else if deserialize {
            let decl =
                t.strip_prefix("pub struct ").map(|r| (r, false)).or(t.strip_prefix("pub enum ").map(|r| (r, true)));
            if let Some((rest, is_enum)) = decl.filter(|(r, _)| r.ends_with('{')) {
                let name = rest.trim_end_matches('{').trim().to_string();
                current = Some(Type { name, is_enum, docs: docs.clone(), items: Vec::new() });
                deserialize = false;
            }
        }
        docs.clear();
        default = false;
    }
    types
}

fn render(types: &[Type]) -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from the doc comments on the configuration types, where each key is declared:\n\
         edit those, then `SHAOBING_WRITE_REFERENCE=1 cargo test -p shaobing-config --test reference`.\n\
         Unknown keys are rejected; `shaobing check-config FILE` names the key at fault.\n",
    );
    let section = |name: &str| SECTIONS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s);
    for ty in types.iter().filter(|t| !t.is_enum) {
        let header = section(&ty.name).map_or_else(|| format!("`{}`", ty.name), |s| format!("`{s}`"));
        let _ = write!(out, "\n## {header}\n\n");
        if !ty.docs.is_empty() {
            let _ = write!(out, "{}\n\n", ty.docs.join(" "));
        }
        out.push_str("| key | type | | description |\n| --- | --- | --- | --- |\n");
        for item in &ty.items {
            let need = if item.default || item.kind.starts_with("Option<") { "optional" } else { "required" };
            let _ = writeln!(out, "| `{}` | `{}` | {need} | {} |", item.name, item.kind, item.docs.join(" "));
        }
    }
    out.push_str("\n## Values of the enumerations\n");
    for ty in types.iter().filter(|t| t.is_enum) {
        let _ = write!(out, "\n### `{}`\n\n{}\n\n", ty.name, ty.docs.join(" "));
        for item in &ty.items {
            let _ = writeln!(out, "- `{}`: {}", item.name, item.docs.join(" "));
        }
    }
    out
}

#[test]
fn the_configuration_reference_is_current() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut types = Vec::new();
    for file in SOURCES {
        types.extend(parse(&std::fs::read_to_string(crates.join(file)).unwrap()));
    }
    for (name, _) in SECTIONS {
        assert!(types.iter().any(|t| t.name == *name), "configuration type {name} not found in the sources");
    }
    let undocumented: Vec<String> = types
        .iter()
        .filter(|t| !t.is_enum)
        .flat_map(|t| t.items.iter().filter(|i| i.docs.is_empty()).map(move |i| format!("{}.{}", t.name, i.name)))
        .collect();
    assert!(undocumented.is_empty(), "keys without a doc comment: {undocumented:?}");
    let rendered = render(&types);
    let target = crates.join("../docs/configuration.md");
    if std::env::var_os("SHAOBING_WRITE_REFERENCE").is_some() {
        std::fs::write(&target, &rendered).unwrap();
    }
    let committed = std::fs::read_to_string(&target).unwrap_or_default();
    assert!(
        committed == rendered,
        "docs/configuration.md is stale: run SHAOBING_WRITE_REFERENCE=1 cargo test -p shaobing-config --test reference"
    );
}
