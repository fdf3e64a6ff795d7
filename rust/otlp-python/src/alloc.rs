//! The extension's allocator: mimalloc for everything up to [`LARGE`], the C library's
//! allocator above it.
//!
//! A span is allocated on the application's thread and freed on the batcher's; with the
//! C library's malloc those two threads contend for one arena lock on every span (a
//! profile of a million spans showed more time in that lock's futex wakes and the
//! batcher's context switches than in encoding). mimalloc's per-thread heaps take the
//! lock out. Large buffers (a decompressed request, a large export body) stay with the
//! C library's allocator, which maps them apart, grows them in place (`mremap`) and gives
//! them back when freed: mimalloc would copy them as they grow and keep them after, and
//! the receiver's memory bound against decompression bombs rests on neither happening.
//! Python's own objects keep Python's allocator.

use std::alloc::{GlobalAlloc, Layout, System};

use mimalloc::MiMalloc;

/// Allocations of at least this many bytes go to the C library's allocator.
const LARGE: usize = 256 << 10;

/// The `#[global_allocator]` of the extension (see the module).
pub struct Allocator;

// SAFETY: every method forwards to one of two allocators that uphold `GlobalAlloc`'s
// contract, choosing by size; a block is always freed or resized by the allocator that
// made it, because the layout passed back for a block has the size it was made with.
unsafe impl GlobalAlloc for Allocator {
    // SAFETY: callers uphold `GlobalAlloc::alloc`'s contract; see the impl above.
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, valid for `alloc` by this method's contract.
        unsafe {
            if layout.size() >= LARGE {
                System.alloc(layout)
            } else {
                MiMalloc.alloc(layout)
            }
        }
    }

    // SAFETY: callers uphold `GlobalAlloc::alloc_zeroed`'s contract; see the impl above.
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            if layout.size() >= LARGE {
                System.alloc_zeroed(layout)
            } else {
                MiMalloc.alloc_zeroed(layout)
            }
        }
    }

    // SAFETY: callers uphold `GlobalAlloc::dealloc`'s contract; see the impl above.
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated with `layout` by this allocator, so by the one of
        // the two that this size selects.
        unsafe {
            if layout.size() >= LARGE {
                System.dealloc(ptr, layout)
            } else {
                MiMalloc.dealloc(ptr, layout)
            }
        }
    }

    // SAFETY: callers uphold `GlobalAlloc::realloc`'s contract; see the impl above.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match (layout.size() >= LARGE, new_size >= LARGE) {
            // SAFETY: the block belongs to the allocator both sizes select.
            (false, false) => unsafe { MiMalloc.realloc(ptr, layout, new_size) },
            // SAFETY: as above.
            (true, true) => unsafe { System.realloc(ptr, layout, new_size) },
            _ => {
                // SAFETY: `realloc`'s contract makes `new_size`, rounded up to
                // `layout.align()`, not overflow `isize`; the new block is fresh, so the
                // two do not overlap, and the old one is freed with its own layout.
                unsafe {
                    let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
                    let new = self.alloc(new_layout);
                    if !new.is_null() {
                        std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    new
                }
            }
        }
    }
}
