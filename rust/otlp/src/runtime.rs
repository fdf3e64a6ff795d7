//! The process-wide background runtime that runs network I/O: one tokio worker
//! thread (`otlp-io`), created on first use and rebuilt in a child after `fork()`.

use std::sync::{Arc, Mutex};

use tokio::runtime::{Builder, Handle, Runtime};

static RUNTIME: Mutex<Option<Arc<Runtime>>> = Mutex::new(None);

/// The shared runtime's handle, creating the runtime on first use; fails only when
/// its threads cannot be started.
pub fn handle() -> std::io::Result<Handle> {
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = slot.as_ref() {
        return Ok(rt.handle().clone());
    }
    // One worker: exports are I/O bound and encoding happens on the batcher threads.
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(2)
        .thread_name("otlp-io")
        .enable_all()
        .build()?;
    let handle = rt.handle().clone();
    *slot = Some(Arc::new(rt));
    Ok(handle)
}

/// In a child process after `fork()` the runtime's threads do not exist: forget it
/// (dropping it would wait for those threads) so that the next use builds a new one.
pub fn forget_after_fork() {
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = slot.take() {
        std::mem::forget(rt);
    }
}

/// In a child process after `fork()`, before anything else of otlp runs: ids are
/// reseeded and the runtime is rebuilt on next use.
pub fn after_fork_in_child() {
    crate::ids::reseed_after_fork();
    forget_after_fork();
}
