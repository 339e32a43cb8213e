//! Handing memory back to the system after a large piece of work (an import, a restore).
//!
//! The binary allocates with mimalloc, which keeps freed pages for reuse: after an import
//! of 60,000 rows the server stayed ~170 MiB above its idle size. [`release`] asks mimalloc
//! to collect its free pages and return them to the system now.

/// Returns the allocator's free memory to the system (a no-op under another allocator).
pub fn release() {
    // SAFETY: mi_collect takes no pointers; it only walks mimalloc's own free lists.
    unsafe { libmimalloc_sys::mi_collect(true) };
}
