//! The process's one tokio runtime, rebuilt in a forked child, and the
//! blocking wait that keeps Python responsive while the engine works.
//!
//! A forked child inherits the runtime's memory but none of its threads: a
//! task spawned on it would never run, and dropping it would wait forever
//! for workers that do not exist. So the runtime is remembered with the
//! process id it was built in; a call from another process builds a new
//! one and leaks the old (the child's copy of it is never touched again).

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::runtime::{Handle, Runtime};

use crate::shutdown;

/// How long a blocking call waits with the GIL released before it takes
/// the GIL back to run Python's signal handlers (so Ctrl-C raises
/// `KeyboardInterrupt` at once) and the progress callback.
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// The runtime and the id of the process that built it. Leaked on purpose:
/// see the module docs.
static RUNTIME: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);

/// The runtime of this process, built on first use (and again after a fork).
pub(crate) fn handle() -> PyResult<Handle> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((owner, runtime)) = *slot {
        if owner == pid {
            return Ok(runtime.handle().clone());
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("parget")
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("parget cannot start its runtime: {e}")))?;
    let runtime: &'static Runtime = Box::leak(Box::new(runtime));
    *slot = Some((pid, runtime));
    Ok(runtime.handle().clone())
}

/// The id of the process the current runtime was built in, if one was
/// built: tests compare it with `os.getpid()` after a fork.
#[pyfunction]
pub(crate) fn runtime_pid() -> Option<u32> {
    RUNTIME
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .map(|(pid, _)| pid)
}

/// Drives `future` for at most [`TICK`] with the GIL released: `Some` with
/// its output when it finished, `None` when the time ran out. `future` must
/// be cancel-safe (a timed-out one is dropped).
///
/// `inside` is the calling thread's leave to run Python between two waits
/// ([`shutdown::enter`]): let go while the GIL is released, taken again
/// before the GIL is. Once the interpreter exits, a thread other than the
/// exiting one gets no leave and never takes the GIL back: CPython would
/// end it in the middle of our frames (see [`crate::shutdown`]).
pub(crate) fn park<F>(
    py: Python<'_>,
    handle: &Handle,
    inside: &mut Option<shutdown::Inside>,
    future: F,
) -> Option<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    py.detach(|| {
        drop(inside.take());
        let output = handle
            .block_on(async { tokio::time::timeout(TICK, future).await })
            .ok();
        *inside = shutdown::enter();
        if inside.is_none() && !shutdown::on_exit_thread() {
            shutdown::wait_for_the_end();
        }
        output
    })
}
