use std::path::{Path, PathBuf};
use std::process::Command;

/// A real, tiny tmpfs mounted over a directory, so that a test can fill a disk. Mounting
/// needs root: the tests using it are ignored by default and run with `--ignored` by
/// `scripts/test.sh` as root (as CI does), where failing to mount fails the test.
#[derive(Debug)]
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, bytes: u64) -> Tmpfs {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}")])
            .arg("tmpfs")
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "could not mount a tmpfs on {} (this test needs root): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Tmpfs(dir.to_path_buf())
    }

    /// Fills what is left with a file (`ballast` in the mounted directory) until the disk
    /// refuses more; remove it to give the space back.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.0.join("ballast");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 16 << 10];
        while file.write_all(&chunk).and_then(|()| file.flush()).is_ok() {}
        // Whatever is left is smaller than a chunk: take it byte by byte.
        while file.write_all(&[0]).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}
