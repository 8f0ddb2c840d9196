//! Allocator policy for a process that moves megabyte frames between dozens of threads.
//!
//! glibc raises its mmap threshold each time a large block is freed, after which 1-6 MB
//! frame buffers come from per-thread arenas and stay resident when freed; with one arena per
//! streaming thread that costs several megabytes per camera. Two arenas bound that.
//!
//! Below a fixed threshold frames come from those arenas and are reused; above it every
//! picture the key-frame decoders make (a 1080p frame, its RGB copy) is mapped, faulted in page
//! by page, and unmapped again, which took about a quarter of the decoders' time. 8 MiB keeps
//! 1080p frames in the heap and maps only larger (4K) ones. Measured with `shaobing-bench
//! cameras` on one box in one sitting, against the earlier 256 KiB: key-frame decode and scale
//! 1.08 -> 0.76 % of a core per camera and 57 -> 62 cameras with CenterNet (RSS 13.5 -> 13.8
//! MiB per camera), 1.04 -> 0.82 % and 59 -> 62 with SSDLite (4.8 -> 4.5 MiB).
//! `MALLOC_MMAP_THRESHOLD_` and `MALLOC_ARENA_MAX` still override.

/// Sets the policy; call first thing in `main`, before threads start.
#[allow(unsafe_code)] // mallopt is a plain C call with integer arguments
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; it is called before any other
    // thread exists, and invalid values are rejected by glibc with a return of 0.
    unsafe {
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 8 * 1024 * 1024);
        }
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
