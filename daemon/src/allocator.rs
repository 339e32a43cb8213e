//! What the process's memory allocator tells and lets us do: its own figures for the memory
//! breakdown, and handing freed memory back to the system after work that freed a lot.

/// Bytes in use and bytes freed but kept, by the allocator's count, where it tells (glibc).
pub fn heap_figures() -> Option<(u64, u64)> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's own counters; no preconditions.
        let info = unsafe { libc::mallinfo2() };
        // Small blocks in the arenas, and the large ones mapped apart.
        let in_use = (info.uordblks + info.hblkhd) as u64;
        Some((in_use, info.fordblks as u64))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

/// Hands memory the allocator holds but no longer uses back to the system, after work that
/// freed a lot of it (glibc keeps it otherwise; other allocators manage by themselves).
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no
    // preconditions and may be called from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The process's resident memory in bytes (Linux `/proc`), zero where it cannot be read.
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}
