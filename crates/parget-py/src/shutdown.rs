//! Leaving the interpreter while parget still works.
//!
//! When CPython finalizes, a thread that wants the GIL back is ended with
//! `pthread_exit`, whose forced unwind aborts the process when it meets a
//! Rust frame that catches panics (tokio's blocking threads, pyo3's
//! trampolines); a thread that gets in later finds a half-torn-down
//! interpreter (a segfault, "PyGILState_Release: thread state must be
//! current"). Our threads call into Python to advance a source, to complete
//! an asyncio future and between the waits of a blocking call, so each of
//! those goes through [`enter`], and an `atexit` hook ([`at_exit`]: Python
//! runs it before finalizing, while other threads may still take the GIL)
//! closes the door: it refuses every later [`enter`], cancels every live
//! batch, and waits, with the GIL released and for at most [`EXIT_WAIT`],
//! until no thread is inside. What was refused ends without touching Python:
//! a source reads as cancelled, a future is never completed (its loop is
//! gone), and a blocking call on another (daemon) thread never takes the
//! GIL back (the process is ending; its thread goes with it).
//!
//! The wait is bounded so that a source blocked for good cannot hang the
//! exit; a source that is still inside Python after [`EXIT_WAIT`] is the
//! one case left to CPython.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// How long the exit hook waits for threads inside Python to leave.
pub(crate) const EXIT_WAIT: Duration = Duration::from_secs(2);

/// What the exit hook and the threads that call into Python share.
#[derive(Default)]
struct State {
    /// The process this state belongs to: a forked child starts afresh,
    /// since none of the threads counted or batches tracked are its own.
    pid: u32,
    /// Set by the exit hook, never cleared.
    exiting: bool,
    /// The thread that ran the exit hook: the one that finalizes.
    exit_thread: Option<ThreadId>,
    /// Threads between [`enter`] and the drop of its [`Inside`].
    inside: usize,
    /// The cancel handles of the batches alive now, by [`Tracked`] id.
    live: HashMap<u64, parget::CancelHandle>,
    /// The id of the next batch tracked.
    next_id: u64,
}

/// `None` until first used (a `HashMap` cannot be made in a `static`).
static STATE: Mutex<Option<State>> = Mutex::new(None);
/// Signalled when `inside` drops.
static LEFT: Condvar = Condvar::new();

/// Runs `f` on this process's state, under its lock.
fn with_state<T>(f: impl FnOnce(&mut State) -> T) -> T {
    let mut guard = lock();
    let pid = std::process::id();
    let state = match guard.take() {
        Some(state) if state.pid == pid => state,
        inherited => {
            // The parent's batches are not ours to touch (their runtime
            // has no threads here): forgotten, not dropped.
            std::mem::forget(inherited);
            State {
                pid,
                ..State::default()
            }
        }
    };
    f(guard.insert(state))
}

/// The state's lock; a panic elsewhere while it was held leaves the
/// counts as they were, still usable.
fn lock() -> MutexGuard<'static, Option<State>> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Leave to call into Python: held from before the thread takes the GIL
/// until after it let go of it. [`at_exit`] waits for every one to drop.
#[must_use = "the thread counts as inside Python only while this lives"]
pub(crate) struct Inside(());

impl Drop for Inside {
    fn drop(&mut self) {
        // Saturating: a thread that forked while inside leaves the child's
        // fresh count.
        with_state(|s| s.inside = s.inside.saturating_sub(1));
        LEFT.notify_all();
    }
}

/// Leave for this thread to call into Python, or `None` once the
/// interpreter is exiting: then nothing may call into Python any more.
pub(crate) fn enter() -> Option<Inside> {
    with_state(|s| {
        if s.exiting {
            return None;
        }
        s.inside += 1;
        Some(Inside(()))
    })
}

/// True once the exit hook ran.
pub(crate) fn exiting() -> bool {
    with_state(|s| s.exiting)
}

/// True on the thread that ran the exit hook (the one finalizing, which
/// CPython never ends early).
pub(crate) fn on_exit_thread() -> bool {
    with_state(|s| s.exit_thread == Some(std::thread::current().id()))
}

/// The error of a call made once the interpreter is exiting.
pub(crate) fn exiting_error() -> PyErr {
    PyRuntimeError::new_err("parget cannot start downloads: the interpreter is exiting")
}

/// Blocks this thread for good: what a thread does instead of taking the
/// GIL back once the interpreter exits (see the module docs).
pub(crate) fn wait_for_the_end() -> ! {
    loop {
        std::thread::park();
    }
}

/// A live batch, known to the exit hook so it can be cancelled; forgotten
/// when dropped.
pub(crate) struct Tracked(Option<(u32, u64)>);

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some((pid, id)) = self.0 {
            // A batch of the parent, dropped in a forked child, is not in
            // the child's table (whose ids start afresh).
            with_state(|s| {
                if s.pid == pid {
                    s.live.remove(&id);
                }
            });
        }
    }
}

/// Registers a batch's cancel handle until the [`Tracked`] is dropped; a
/// batch started once the interpreter is exiting is cancelled at once.
pub(crate) fn track(cancel: parget::CancelHandle) -> Tracked {
    let id = with_state(|s| {
        if s.exiting {
            return None;
        }
        let id = s.next_id;
        s.next_id += 1;
        s.live.insert(id, cancel.clone());
        Some((s.pid, id))
    });
    if id.is_none() {
        cancel.cancel();
    }
    Tracked(id)
}

/// The `atexit` hook: closes the door, cancels every live batch, and waits
/// (GIL released, at most [`EXIT_WAIT`]) until no thread is inside Python.
#[pyfunction]
pub(crate) fn at_exit(py: Python<'_>) {
    let live: Vec<parget::CancelHandle> = with_state(|s| {
        s.exiting = true;
        s.exit_thread = Some(std::thread::current().id());
        s.live.drain().map(|(_, cancel)| cancel).collect()
    });
    for cancel in live {
        cancel.cancel();
    }
    // Released: the threads inside may be waiting for the GIL to leave.
    py.detach(|| {
        let deadline = Instant::now() + EXIT_WAIT;
        let mut guard = lock();
        while guard
            .as_ref()
            .is_some_and(|s| s.inside > 0 && s.pid == std::process::id())
        {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            guard = LEFT
                .wait_timeout(guard, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    });
}

/// Registers [`at_exit`] with Python's `atexit`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let hook = wrap_pyfunction!(at_exit, m)?;
    m.py().import("atexit")?.call_method1("register", (hook,))?;
    Ok(())
}
