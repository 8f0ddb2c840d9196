//! The `[runtime]` and `[models]` sections, owned here with the runtime and models they set.

use serde::Deserialize;
use shaobing_core::ObjectKind;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Path of `libonnxruntime.so`. When unset, the environment variable `SHAOBING_ORT_LIB`
    /// is used, then `.local/onnxruntime/libonnxruntime.so` (installed by scripts/setup.sh).
    #[serde(default)]
    pub onnxruntime_path: Option<PathBuf>,
    /// Threads one inference may use; 0 shares the cores among the inference workers (one
    /// each on a 2-core box).
    #[serde(default)]
    pub intra_threads: usize,
    /// Inference sessions per model, each on its own thread, serving all cameras in arrival
    /// order. Two sessions of one thread each hold more cameras on a 2-core box than one
    /// session of two threads (43 against 39 cameras, `shaobing-bench cameras`); one session
    /// answers a single camera sooner.
    #[serde(default = "default_inference_workers")]
    pub inference_workers: usize,
    /// Let idle inference threads spin-wait: lower latency on an idle box, stolen CPU on a
    /// box busy decoding many cameras.
    #[serde(default)]
    pub intra_op_spinning: bool,
    /// `cpu`, or `cuda` for an NVIDIA GPU. CUDA needs an ONNX Runtime library built with it
    /// (onnxruntime-gpu); without one the daemon warns once and runs on the CPU.
    #[serde(default)]
    pub execution_provider: ExecutionProviderKind,
    /// GPU index for `cuda`.
    #[serde(default)]
    pub cuda_device: i32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionProviderKind {
    #[default]
    Cpu,
    Cuda,
}

fn default_inference_workers() -> usize {
    2
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            onnxruntime_path: None,
            intra_threads: 0,
            inference_workers: default_inference_workers(),
            intra_op_spinning: false,
            execution_provider: ExecutionProviderKind::Cpu,
            cuda_device: 0,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelsConfig {
    /// Path of the model manifest; models are looked up by name in it. When unset,
    /// `models/manifest.toml` under the working directory, else the one in the source tree
    /// the binary was built from.
    #[serde(default)]
    pub manifest: Option<PathBuf>,
    /// Per model, model class name -> hazard kinds (a kind or a list; `[]` ignores the class).
    /// Classes not listed keep their default kinds: COCO names (`car` is a `vehicle`, `dining
    /// table` a `stall_proxy`), `tricycle`/`awning-tricycle`, `stall`, `fire`/`flame`, `smoke`.
    /// E.g. `[models.class_map.my-stall-model]` with `booth = "stall"`.
    #[serde(default)]
    pub class_map: BTreeMap<String, BTreeMap<String, KindList>>,
}

/// One hazard kind or several.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "KindListRepr")]
pub struct KindList(Vec<ObjectKind>);

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum KindListRepr {
    One(String),
    Many(Vec<String>),
}

impl TryFrom<KindListRepr> for KindList {
    type Error = String;
    fn try_from(r: KindListRepr) -> Result<Self, String> {
        let names = match r {
            KindListRepr::One(s) => vec![s],
            KindListRepr::Many(v) => v,
        };
        let kinds = names
            .iter()
            .map(|n| {
                ObjectKind::ALL.into_iter().find(|k| k.as_str() == n).ok_or_else(|| {
                    let known: Vec<&str> = ObjectKind::ALL.iter().map(|k| k.as_str()).collect();
                    format!("unknown hazard kind `{n}`; expected one of {} (or a list of them)", known.join(", "))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(KindList(kinds))
    }
}

impl schemars::JsonSchema for KindList {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "KindList".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        KindListRepr::json_schema(generator)
    }
}

impl KindList {
    pub fn kinds(&self) -> &[ObjectKind] {
        &self.0
    }
}

impl ModelsConfig {
    /// The kinds `class` of `model` means to the rules.
    pub fn kinds_of(&self, model: &str, class: &str) -> Vec<ObjectKind> {
        match self.class_map.get(model).and_then(|m| m.get(class)) {
            Some(list) => list.kinds().to_vec(),
            None => ObjectKind::defaults_for(class).to_vec(),
        }
    }
}
