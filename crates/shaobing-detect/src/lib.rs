//! Detection: which model, from which verified file, on which ONNX Runtime, decoded how.
//!
//! A model is only ever loaded through its manifest entry, whose sha256 must match the file:
//! a truncated copy or a swapped file is refused with the file's name rather than producing
//! silently wrong detections on a box no one watches.

mod config;
mod detector;
mod head;
mod input;
mod manifest;
mod pool;
mod runtime;

pub use config::{ExecutionProviderKind, KindList, ModelsConfig, RuntimeConfig};
pub use detector::{Detector, MAX_BATCH, parse_ultralytics_names};
pub use head::{
    DecodeContext, HeadsGrid, OutputFormat, decode_centernet, decode_centernet_heads, decode_ssd, decode_yolo, nms,
};
pub use manifest::{Batch, InputSpec, InputType, Layout, Manifest, ModelSpec, OutputSpec, Resize};
pub use pool::{InferencePool, Pending};
pub use runtime::{OrtLibrarySource, Provider, Runtime, locate_onnxruntime, manifest_path, shipped};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("cannot read model manifest {path}: {source}")]
    ManifestRead { path: PathBuf, source: std::io::Error },
    #[error("model manifest {path}: {message}")]
    ManifestInvalid { path: PathBuf, message: String },
    #[error("model `{name}` is not in the manifest {manifest} (it lists: {known})")]
    UnknownModel { name: String, manifest: PathBuf, known: String },
    #[error("cannot read model file {path}: {source}")]
    ModelRead { path: PathBuf, source: std::io::Error },
    #[error(
        "model file {path} does not match its manifest checksum (expected sha256 {expected}, got {actual}); \
         the file is corrupt, truncated or not the model the manifest describes: restore it from the repository"
    )]
    ChecksumMismatch { path: PathBuf, expected: String, actual: String },
    #[error(
        "ONNX Runtime library not found at {path} ({source_desc}). Run scripts/setup.sh to install it into \
         .local/onnxruntime/, or set `runtime.onnxruntime_path` in the config (or SHAOBING_ORT_LIB) to a \
         libonnxruntime.so of version 1.31 or later"
    )]
    RuntimeMissing { path: PathBuf, source_desc: String },
    #[error("cannot load ONNX Runtime from {path}: {message}")]
    RuntimeLoad { path: PathBuf, message: String },
    #[error("ONNX Runtime: {0}")]
    Ort(String),
    #[error("model `{model}` produced output of shape {shape:?}, expected {expected}")]
    BadOutput { model: String, shape: Vec<i64>, expected: &'static str },
    #[error(transparent)]
    Vision(#[from] shaobing_vision::VisionError),
}

impl<T> From<ort::Error<T>> for DetectError {
    fn from(e: ort::Error<T>) -> Self {
        DetectError::Ort(e.to_string())
    }
}
