//! Allocator policy for a process that moves megabyte frames between dozens of threads.
//!
//! glibc raises its mmap threshold each time a large block is freed, after which 1-6 MB
//! frame buffers come from per-thread arenas and stay resident when freed; with one arena per
//! streaming thread that costs several megabytes per camera. A fixed threshold returns frame
//! buffers to the kernel when freed, and two arenas bound the fragmentation. Measured with
//! `shaobing-bench cameras`: about 20 instead of 25 MiB per 1080p camera.

/// Sets the policy; call first thing in `main`, before threads start.
#[allow(unsafe_code)] // mallopt is a plain C call with integer arguments
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; it is called before any other
    // thread exists, and invalid values are rejected by glibc with a return of 0.
    unsafe {
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        }
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
