use crate::StoreError;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The evidence directory inside the data directory.
pub const EVIDENCE_DIR: &str = "evidence";

/// A durably written evidence file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceFile {
    pub path: PathBuf,
    /// The path as the database keeps it: relative to the data directory, so that a data
    /// directory restored elsewhere still finds its files.
    pub stored: String,
    pub sha256: String,
    pub bytes: u64,
}

/// The file extension evidence is stored under, from its first bytes: snapshots are JPEG,
/// clips MP4, sensor evidence is the readings around the event as JSON.
pub fn extension_of(bytes: &[u8]) -> &'static str {
    match bytes {
        [0xFF, 0xD8, ..] => "jpg",
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => "mp4",
        [b'{' | b'[', ..] => "json",
        _ => "bin",
    }
}

/// Writes evidence files with write -> fsync -> rename -> fsync(dir).
#[derive(Debug)]
pub struct EvidenceWriter {
    dir: PathBuf,
}

impl EvidenceWriter {
    pub fn new(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Evidence { path: dir.to_path_buf(), source })?;
        Ok(Self { dir: dir.to_path_buf() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<EvidenceFile, StoreError> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let io = |source| StoreError::Evidence { path: path.clone(), source };
        let result = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all()
        })();
        if let Err(e) = result {
            // A full disk must not leave half-written files behind for the next attempt.
            let _ = std::fs::remove_file(&tmp);
            return Err(io(e));
        }
        Ok(EvidenceFile {
            sha256: hex::encode(Sha256::digest(bytes)),
            bytes: bytes.len() as u64,
            stored: format!("{EVIDENCE_DIR}/{name}"),
            path,
        })
    }
}

/// The SHA-256 of a file's bytes, read in pieces (a clip is megabytes).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}
