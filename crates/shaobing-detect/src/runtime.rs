use crate::DetectError;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Environment variable that overrides where ONNX Runtime is loaded from.
pub const ORT_ENV: &str = "SHAOBING_ORT_LIB";

/// Where the ONNX Runtime library path came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrtLibrarySource {
    Config,
    Environment,
    ProjectDefault,
}

impl OrtLibrarySource {
    fn describe(&self) -> String {
        match self {
            OrtLibrarySource::Config => "from config key runtime.onnxruntime_path".into(),
            OrtLibrarySource::Environment => format!("from environment variable {ORT_ENV}"),
            OrtLibrarySource::ProjectDefault => "the project-local default installed by scripts/setup.sh".into(),
        }
    }
}

/// Resolves the library path: config key, then environment override, then the project-local
/// default (`.local/onnxruntime/` under the working directory, else under the source tree the
/// binary was built from, so `cargo run` works from any directory).
pub fn locate_onnxruntime(configured: Option<&Path>) -> (PathBuf, OrtLibrarySource) {
    if let Some(p) = configured {
        return (p.to_path_buf(), OrtLibrarySource::Config);
    }
    if let Some(p) = std::env::var_os(ORT_ENV).filter(|v| !v.is_empty()) {
        return (PathBuf::from(p), OrtLibrarySource::Environment);
    }
    let rel = Path::new(".local/onnxruntime/libonnxruntime.so");
    let built_tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel);
    let path = if rel.exists() { rel.to_path_buf() } else { built_tree };
    (path, OrtLibrarySource::ProjectDefault)
}

/// How sessions use the CPU.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionOptions {
    /// Threads one inference may use; 0 lets ONNX Runtime use one per core.
    pub intra_threads: usize,
    /// Let idle inference threads spin. Faster on an idle box, but on an edge box busy
    /// decoding dozens of cameras the spinning threads steal the decoders' CPU: off by default.
    pub spinning: bool,
}

/// A loaded ONNX Runtime with its environment; create sessions from it.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) env: ort::environment::Environment,
    pub(crate) options: SessionOptions,
    pub library: PathBuf,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("library", &self.library).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Loads the library once per process. `ort` panics on first use when no library is
    /// loaded, so a missing file is turned into an error before `ort` ever sees it.
    pub fn load(configured: Option<&Path>, options: SessionOptions) -> Result<Self, DetectError> {
        let (path, source) = locate_onnxruntime(configured);
        if !path.is_file() {
            return Err(DetectError::RuntimeMissing { path, source_desc: source.describe() });
        }
        // ONNX Runtime allows one environment per process: the first load creates it, later
        // loads (several daemons in one test process, `detect` after `run`) share it.
        static ENV: OnceLock<(ort::environment::Environment, PathBuf)> = OnceLock::new();
        if let Some((env, library)) = ENV.get() {
            return Ok(Self { env: env.clone(), options, library: library.clone() });
        }
        let builder = ort::init_from(&path)
            .map_err(|e| DetectError::RuntimeLoad { path: path.clone(), message: e.to_string() })?;
        let env = builder.with_name("shaobing").build()?;
        let (env, library) = ENV.get_or_init(|| (env, path));
        Ok(Self { env: env.clone(), options, library: library.clone() })
    }
}
