//! Releasing the GIL, and taking it from otlp's own threads, around interpreter exit.
//!
//! Until Python 3.14, a thread that asks for the GIL once the interpreter is finalizing
//! is ended by `pthread_exit()`, which unwinds through whatever Rust frames are on its
//! stack: undefined behaviour, and in practice a segfault at exit. It happens to the
//! daemon thread that is inside otlp with the GIL released (a flush, a blocked producer)
//! when the main thread finishes, and to an otlp thread that would run metric callbacks.
//!
//! So the module's import registers [`_at_exit`] with `atexit`; it runs among the last
//! exit hooks (those registered before `import otlp` run after it), after
//! `otlp._lifecycle` has shut every exporter down and before finalization begins. It lets
//! the threads already on their way back into Python through, and from then on a thread
//! that comes back from otlp with the GIL released never asks for it again: it waits,
//! parked, for the process to end, as Python 3.14 makes such threads wait. The thread
//! running the exit hooks carries on, and otlp's threads no longer run Python callbacks.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::OnceLock;
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

static EXITING: AtomicBool = AtomicBool::new(false);
static EXIT_THREAD: OnceLock<ThreadId> = OnceLock::new();
/// Threads on their way into Python from otlp: taking the GIL back after a wait, or
/// running Python callbacks from one of otlp's threads.
static ENTERING: AtomicUsize = AtomicUsize::new(0);

/// How long the exit hook waits for the threads in [`ENTERING`] to be done.
const EXIT_WAIT: Duration = Duration::from_secs(1);

/// The `atexit` hook: the interpreter is about to finalize. Threads that are already
/// taking the GIL back are let through first (with the GIL released here), so that none
/// is still waiting for it when finalization begins.
#[pyfunction]
pub fn _at_exit(py: Python<'_>) {
    EXIT_THREAD.get_or_init(|| thread::current().id());
    EXITING.store(true, SeqCst);
    if ENTERING.load(SeqCst) == 0 {
        return;
    }
    py.detach(|| {
        let deadline = Instant::now() + EXIT_WAIT;
        while ENTERING.load(SeqCst) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
    });
}

/// Register [`_at_exit`] (the module's `atexit` hook).
pub fn register_exit_hook(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let hook = m.getattr("_at_exit")?;
    m.py().import("atexit")?.call_method1("register", (hook,))?;
    Ok(())
}

/// A thread counted in [`ENTERING`] while it holds this.
struct Entering;

impl Entering {
    /// None once the interpreter has begun to exit, on any thread but the one running
    /// the exit hooks: this thread must not take the GIL any more. (The count goes up
    /// before the flag is read and the hook sets the flag before it reads the count, so
    /// either this thread stays out or the hook waits for it.)
    fn enter() -> Option<Self> {
        ENTERING.fetch_add(1, SeqCst);
        if EXITING.load(SeqCst) && EXIT_THREAD.get() != Some(&thread::current().id()) {
            ENTERING.fetch_sub(1, SeqCst);
            return None;
        }
        Some(Self)
    }
}

impl Drop for Entering {
    fn drop(&mut self) {
        ENTERING.fetch_sub(1, SeqCst);
    }
}

/// Run `f` with the GIL released, as `py.detach(f)`; but once the interpreter is
/// exiting, a thread other than the exiting one never takes the GIL back (see the
/// module).
pub fn detach<T, F>(py: Python<'_>, f: F) -> T
where
    F: Send + FnOnce() -> T,
    T: Send,
{
    let (out, entering) = py.detach(|| {
        let out = f();
        match Entering::enter() {
            Some(entering) => (out, entering),
            None => park_until_the_process_ends(),
        }
    });
    drop(entering);
    out
}

/// Run `f` attached to the interpreter from any thread, as `Python::attach(f)`; None,
/// without running it, once the interpreter is exiting.
pub fn attach<R>(f: impl FnOnce(Python<'_>) -> R) -> Option<R> {
    let _entering = Entering::enter()?;
    Some(Python::attach(f))
}

fn park_until_the_process_ends() -> ! {
    loop {
        thread::park();
    }
}
