//! The allocator the binary and the tests use.
//!
//! Protocol steps allocate and drop many large buffers (masks, opened values, corrections). With
//! the system allocator, or with mimalloc's default of returning freed memory to the OS after
//! 10 ms, every step pays for fresh zeroed pages (half the time of a 1M-element ReLU went to the
//! kernel clearing pages). mimalloc with purging disabled keeps freed memory for reuse.

/// mimalloc's `mi_option_purge_delay` (its position in `mi_option_t`, the same in mimalloc v2
/// and v3; the Rust bindings do not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to return freed memory to the OS. Call once, early in `main`.
pub fn keep_freed_memory() {
    // SAFETY: setting a mimalloc option is a plain store into its option table; any value is
    // valid for this option (-1 means never purge).
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}
