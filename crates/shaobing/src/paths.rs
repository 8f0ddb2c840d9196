//! Where shipped files are found when the configuration does not say.

use std::path::{Path, PathBuf};

/// The source tree the binary was built from; `cargo run` works from any directory.
pub fn source_tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `rel` under the working directory when it exists there, else under the source tree.
pub fn shipped(rel: &str) -> PathBuf {
    let here = Path::new(rel);
    if here.exists() { here.to_path_buf() } else { source_tree().join(rel) }
}

/// The model manifest: configured, else `models/manifest.toml` as shipped.
pub fn manifest(configured: Option<&Path>) -> PathBuf {
    configured.map_or_else(|| shipped("models/manifest.toml"), Path::to_path_buf)
}
