use crate::DetectError;
use crate::config::{ExecutionProviderKind, RuntimeConfig};
use ort::ep::{CUDA, ExecutionProvider};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
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
    (shipped(".local/onnxruntime/libonnxruntime.so"), OrtLibrarySource::ProjectDefault)
}

/// `rel` under the working directory when it exists there, else under the source tree the
/// binary was built from: `cargo run` works from any directory.
pub fn shipped(rel: &str) -> PathBuf {
    let here = Path::new(rel);
    if here.exists() { here.to_path_buf() } else { Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel) }
}

/// The model manifest: configured, else `models/manifest.toml` as shipped.
pub fn manifest_path(configured: Option<&Path>) -> PathBuf {
    configured.map_or_else(|| shipped("models/manifest.toml"), Path::to_path_buf)
}

/// Where inference runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Provider {
    #[default]
    Cpu,
    /// NVIDIA GPU through the CUDA execution provider; falls back to the CPU with one warning
    /// when the loaded library has no CUDA support or no GPU answers.
    Cuda { device: i32 },
}

/// A loaded ONNX Runtime with its environment; create sessions from it.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) env: ort::environment::Environment,
    pub(crate) options: RuntimeConfig,
    pub library: PathBuf,
    /// The provider sessions actually use, after any fallback.
    pub provider: Provider,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("library", &self.library).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Loads the library once per process. `ort` panics on first use when no library is
    /// loaded, so a missing file is turned into an error before `ort` ever sees it.
    pub fn load(options: &RuntimeConfig) -> Result<Self, DetectError> {
        let (path, source) = locate_onnxruntime(options.onnxruntime_path.as_deref());
        if !path.is_file() {
            return Err(DetectError::RuntimeMissing { path, source_desc: source.describe() });
        }
        // ONNX Runtime allows one environment per process: the first load creates it, later
        // loads (several daemons in one test process, `detect` after `run`) share it.
        static ENV: OnceLock<(ort::environment::Environment, PathBuf)> = OnceLock::new();
        let (env, library) = match ENV.get() {
            Some(loaded) => loaded,
            None => {
                let builder = ort::init_from(&path)
                    .map_err(|e| DetectError::RuntimeLoad { path: path.clone(), message: e.to_string() })?;
                let env = builder.with_name("shaobing").build()?;
                ENV.get_or_init(|| (env, path))
            }
        };
        let asked = match options.execution_provider {
            ExecutionProviderKind::Cpu => Provider::Cpu,
            ExecutionProviderKind::Cuda => Provider::Cuda { device: options.cuda_device },
        };
        let provider = effective_provider(asked, library);
        Ok(Self { env: env.clone(), options: options.clone(), library: library.clone(), provider })
    }

    /// The process's ONNX Runtime environment, for sessions built outside `Detector` (the
    /// benchmark's bare baseline).
    pub fn environment(&self) -> &ort::environment::Environment {
        &self.env
    }

    /// Threads per inference: as configured, or the cores shared among one model's inference
    /// workers (a second model's pool, busy at the same moment, shares the same cores).
    fn intra_threads(&self) -> usize {
        match self.options.intra_threads {
            0 => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                (cores / self.options.inference_workers.max(1)).max(1)
            }
            n => n,
        }
    }

    /// A session for a verified model file, on the effective provider with the thread settings.
    pub(crate) fn session(&self, model: &[u8]) -> Result<Session, DetectError> {
        let mut builder = Session::builder(&self.env)?
            .with_optimization_level(GraphOptimizationLevel::Level3)?
            .with_intra_op_spinning(self.options.intra_op_spinning)?;
        builder = builder.with_intra_threads(self.intra_threads())?;
        if let Provider::Cuda { device } = self.provider {
            builder = builder.with_execution_providers([CUDA::default().with_device_id(device).build()])?;
        }
        Ok(builder.commit_from_memory(model)?)
    }
}

/// The provider to use: CUDA only when asked for and the library offers it. Falling back is
/// right for an edge box (a CPU detector is better than none) but must be said once, loudly
/// enough that an operator who paid for a GPU notices.
fn effective_provider(asked: Provider, library: &Path) -> Provider {
    let Provider::Cuda { device } = asked else { return asked };
    match CUDA::is_available() {
        Ok(true) => Provider::Cuda { device },
        available => {
            let reason = match available {
                Err(e) => format!("cannot list its execution providers: {e}"),
                _ => "it was built without the CUDA execution provider".into(),
            };
            tracing::warn!(
                library = %library.display(),
                "runtime.execution_provider = \"cuda\" but the ONNX Runtime library {} cannot use CUDA ({reason}); \
                 inference runs on the CPU. Install onnxruntime-gpu's library and point runtime.onnxruntime_path at it",
                library.display()
            );
            Provider::Cpu
        }
    }
}
