use crate::DetectError;
use crate::head::OutputFormat;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// `models/manifest.toml`: every model the box may load, with its checksum and I/O contract.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    #[serde(rename = "model")]
    pub models: Vec<ModelSpec>,
    /// Directory of the manifest; model files are relative to it.
    #[serde(skip)]
    pub dir: PathBuf,
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModelSpec {
    pub name: String,
    pub file: PathBuf,
    pub sha256: String,
    pub licence: String,
    /// A model the box may run but never needs by default (a separately licensed file).
    #[serde(default)]
    pub optional: bool,
    pub input: InputSpec,
    pub output: OutputSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Layout {
    NHWC,
    NCHW,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InputSpec {
    pub name: String,
    pub layout: Layout,
    pub width: u32,
    pub height: u32,
    /// Channel order the model expects; only `RGB` and `BGR` exist in practice.
    pub color: String,
    /// Multiplier applied to 0..255 pixel values.
    pub scale: f32,
    /// Subtracted per channel after scaling.
    pub mean: [f32; 3],
    /// Element type of the input tensor: `float32` (scaled as above) or `uint8` (raw pixels).
    #[serde(default)]
    pub dtype: InputType,
    /// How frames are fitted to the input: `letterbox` (aspect kept, grey padding) or
    /// `stretch` (resized, aspect not kept): whatever the model's reference code does.
    #[serde(default)]
    pub resize: Resize,
    /// Images per run: `1`, or `"dynamic"` when the graph's batch dimension is free and
    /// frames of several cameras may share one run.
    #[serde(default)]
    pub batch: Batch,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resize {
    #[default]
    Letterbox,
    Stretch,
}

impl From<Resize> for shaobing_vision::Fit {
    fn from(r: Resize) -> Self {
        match r {
            Resize::Letterbox => shaobing_vision::Fit::Letterbox,
            Resize::Stretch => shaobing_vision::Fit::Stretch,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    #[default]
    Float32,
    Uint8,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "BatchRepr")]
pub enum Batch {
    #[default]
    One,
    Dynamic,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum BatchRepr {
    Number(u32),
    Word(String),
}

impl TryFrom<BatchRepr> for Batch {
    type Error = String;
    fn try_from(r: BatchRepr) -> Result<Self, String> {
        match r {
            BatchRepr::Number(1) => Ok(Batch::One),
            BatchRepr::Word(w) if w == "dynamic" => Ok(Batch::Dynamic),
            BatchRepr::Number(n) => Err(format!("batch: expected 1 or \"dynamic\", got {n}")),
            BatchRepr::Word(w) => Err(format!("batch: expected 1 or \"dynamic\", got \"{w}\"")),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct OutputSpec {
    pub format: OutputFormat,
    /// The output tensor of single-output heads (`centernet`, `yolo`).
    #[serde(default)]
    pub name: Option<String>,
    /// `pixels` (of the model input) or `normalised` (0..1 of the model input).
    pub box_units: String,
    /// Class names by index. May be left out when the ONNX file carries them in its metadata
    /// (`names`, as Ultralytics exports write it).
    #[serde(default)]
    pub class_names: Vec<String>,
    /// `ssd`: the four output tensors; `centernet_heads`: `heatmap` and `boxes`.
    #[serde(default)]
    pub boxes: Option<String>,
    #[serde(default)]
    pub heatmap: Option<String>,
    /// `centernet_heads`: input pixels between two cells of the heads.
    #[serde(default)]
    pub stride: Option<f32>,
    /// `centernet_heads`: at most this many peaks per image, the strongest.
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    #[serde(default)]
    pub scores: Option<String>,
    #[serde(default)]
    pub classes: Option<String>,
    #[serde(default)]
    pub count: Option<String>,
    /// `ssd` only: subtracted from the graph's class ids to index `class_names`.
    #[serde(default)]
    pub class_offset: f32,
    /// Overlap above which the weaker of two boxes is suppressed (heads without NMS).
    #[serde(default = "default_nms_iou")]
    pub nms_iou: f32,
    /// Suppress across classes, as the model's reference code does (CenterNet's `human`).
    #[serde(default)]
    pub nms_class_agnostic: bool,
}

fn default_nms_iou() -> f32 {
    0.5
}

fn default_top_k() -> usize {
    100
}

impl OutputSpec {
    /// The output tensors the head reads, in the order the decoder wants them; names a
    /// missing key so a manifest error points at it.
    pub fn tensor_names<'a>(&'a self) -> Result<Vec<&'a str>, String> {
        let format = self.format;
        let need = |v: &'a Option<String>, key: &str| -> Result<&'a str, String> {
            v.as_deref().ok_or_else(|| format!("output.{key} is required for format {format:?}"))
        };
        match self.format {
            OutputFormat::Centernet | OutputFormat::Yolo => Ok(vec![need(&self.name, "name")?]),
            OutputFormat::CenternetHeads => {
                self.stride
                    .filter(|s| *s > 0.0)
                    .ok_or_else(|| format!("output.stride (> 0) is required for format {format:?}"))?;
                Ok(vec![need(&self.heatmap, "heatmap")?, need(&self.boxes, "boxes")?])
            }
            OutputFormat::Ssd => Ok(vec![
                need(&self.boxes, "boxes")?,
                need(&self.scores, "scores")?,
                need(&self.classes, "classes")?,
                need(&self.count, "count")?,
            ]),
        }
    }
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self, DetectError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| DetectError::ManifestRead { path: path.to_path_buf(), source })?;
        let mut manifest: Manifest = toml::from_str(&text)
            .map_err(|e| DetectError::ManifestInvalid { path: path.to_path_buf(), message: e.to_string() })?;
        manifest.dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        manifest.path = path.to_path_buf();
        for m in &manifest.models {
            m.output.tensor_names().map_err(|message| DetectError::ManifestInvalid {
                path: path.to_path_buf(),
                message: format!("model `{}`: {message}", m.name),
            })?;
        }
        Ok(manifest)
    }

    pub fn get(&self, name: &str) -> Result<&ModelSpec, DetectError> {
        self.models.iter().find(|m| m.name == name).ok_or_else(|| DetectError::UnknownModel {
            name: name.to_string(),
            manifest: self.path.clone(),
            known: self.models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }

    pub fn file_of(&self, spec: &ModelSpec) -> PathBuf {
        self.dir.join(&spec.file)
    }

    /// Reads the model file and checks it against the manifest's sha256.
    pub fn read_verified(&self, spec: &ModelSpec) -> Result<Vec<u8>, DetectError> {
        let path = self.file_of(spec);
        let mut bytes = Vec::new();
        std::fs::File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|source| DetectError::ModelRead { path: path.clone(), source })?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(spec.sha256.trim()) {
            return Err(DetectError::ChecksumMismatch { path, expected: spec.sha256.clone(), actual });
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_with(dir: &Path, file_bytes: &[u8], sha: &str) -> Manifest {
        std::fs::write(dir.join("m.onnx"), file_bytes).unwrap();
        let text = format!(
            r#"
[[model]]
name = "m"
file = "m.onnx"
sha256 = "{sha}"
licence = "MIT"
[model.input]
name = "in"
layout = "NHWC"
width = 8
height = 8
color = "RGB"
scale = 1.0
mean = [0.0, 0.0, 0.0]
[model.output]
format = "centernet"
name = "out"
box_units = "pixels"
class_names = ["person"]
"#
        );
        let path = dir.join("manifest.toml");
        std::fs::write(&path, text).unwrap();
        Manifest::load(&path).unwrap()
    }

    #[test]
    fn verified_read_accepts_the_right_file() {
        let dir = tempfile::tempdir().unwrap();
        let sha = hex::encode(Sha256::digest(b"model bytes"));
        let m = manifest_with(dir.path(), b"model bytes", &sha);
        let spec = m.get("m").unwrap();
        assert_eq!(m.read_verified(spec).unwrap(), b"model bytes");
    }

    #[test]
    fn checksum_mismatch_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let sha = hex::encode(Sha256::digest(b"model bytes"));
        let m = manifest_with(dir.path(), b"model byte", &sha);
        let err = m.read_verified(m.get("m").unwrap()).unwrap_err().to_string();
        assert!(err.contains("m.onnx") && err.contains("does not match"), "{err}");
    }

    #[test]
    fn ssd_without_its_output_names_is_refused_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.toml");
        let text = std::fs::read_to_string(manifest_with(dir.path(), b"x", "00").path).unwrap();
        std::fs::write(&path, text.replace("format = \"centernet\"", "format = \"ssd\"\nboxes = \"b\"")).unwrap();
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert!(err.contains("model `m`: output.scores is required"), "{err}");
    }

    #[test]
    fn batch_is_one_or_dynamic() {
        #[derive(Deserialize)]
        struct B {
            batch: Batch,
        }
        let parse = |t: &str| toml::from_str::<B>(t).map(|b| b.batch).map_err(|e| e.to_string());
        assert_eq!(parse("batch = 1"), Ok(Batch::One));
        assert_eq!(parse("batch = \"dynamic\""), Ok(Batch::Dynamic));
        assert!(parse("batch = 4").unwrap_err().contains("expected 1 or \"dynamic\", got 4"));
    }

    #[test]
    fn unknown_model_lists_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest_with(dir.path(), b"x", "00");
        let err = m.get("yolo").unwrap_err().to_string();
        assert!(err.contains("`yolo`") && err.contains("lists: m"), "{err}");
    }
}
