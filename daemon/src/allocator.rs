//! What the process's memory allocator tells and lets us do: its own figures for the memory
//! breakdown, and handing freed memory back to the system — lmd's work comes in bursts (a
//! first sync, a sort order built, a burst of lists) that free tens of megabytes at once,
//! which glibc would otherwise keep for good.

use std::time::Duration;
use tokio::sync::watch;

/// How often [`keep_trimmed`] looks.
const LOOK_EVERY: Duration = Duration::from_secs(5);

/// More freed memory than this, kept by the allocator, is handed back.
const KEEP_AT_MOST: u64 = 4 << 20;

/// Sets the allocator up for a long-running process: run once, at start.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets the allocator's own parameters under its lock; no preconditions.
    unsafe {
        // A fixed threshold for blocks mapped apart (and unmapped when freed): glibc raises
        // it up to 32 MiB once a large block is freed, and from then on the large temporary
        // vectors of a sync or a sort stay in the heap after use (40 MiB more after a sync
        // of 100,000 licenses).
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}

/// Until shutdown, hands freed memory back whenever the allocator keeps more than
/// [`KEEP_AT_MOST`] of it and the heap changed since the last look: after a sync, a sort
/// order built, lists and changes. (Freed memory handed back stays counted as kept, and the
/// heap in use counts blocks never touched — sled allocates 25 MiB zeroed and leaves it
/// so —, so neither figure alone tells whether freed memory takes room.)
pub async fn keep_trimmed(mut shutdown: watch::Receiver<bool>) {
    let mut last_look = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep(LOOK_EVERY) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let Some(figures) = heap_figures() else {
            return;
        };
        let (_, kept) = figures;
        if kept > KEEP_AT_MOST && last_look != Some(figures) {
            let _ = tokio::task::spawn_blocking(release_freed_memory).await;
        }
        last_look = Some(figures);
    }
}

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
