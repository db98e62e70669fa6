//! asyncio: batches read with `async for`, on parget's own runtime.
//!
//! pyo3-async-runtimes' tokio support keeps its runtime in a once-set
//! global, which a forked child could not replace; its generic API takes a
//! runtime type instead, and [`PargetRuntime`] hands it the per-process
//! runtime of [`crate::runtime`].

use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3_async_runtimes::generic::{self, ContextExt, JoinError, Runtime};
use pyo3_async_runtimes::TaskLocals;

use crate::batch::{Batch, Item};
use crate::progress::{CallProgress, ProgressEvent};
use crate::result::Finished;
use crate::shutdown;

/// parget's runtime, as pyo3-async-runtimes sees it.
pub(crate) struct PargetRuntime;

/// A task that failed (panicked or was aborted).
pub(crate) struct TaskFailure(tokio::task::JoinError);

impl JoinError for TaskFailure {
    fn is_panic(&self) -> bool {
        self.0.is_panic()
    }

    fn into_panic(self) -> Box<dyn std::any::Any + Send + 'static> {
        self.0.into_panic()
    }
}

tokio::task_local! {
    static TASK_LOCALS: OnceCell<TaskLocals>;
}

/// The runtime to spawn on: the current one inside the engine, else the
/// process's (built by the entry point that led here).
fn spawn_handle() -> tokio::runtime::Handle {
    tokio::runtime::Handle::try_current()
        .or_else(|_| crate::runtime::handle())
        .unwrap_or_else(|e| panic!("parget's runtime is gone: {e}"))
}

impl Runtime for PargetRuntime {
    type JoinError = TaskFailure;
    type JoinHandle = Pin<Box<dyn Future<Output = Result<(), TaskFailure>> + Send>>;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let task = spawn_handle().spawn(fut);
        Box::pin(async move { task.await.map_err(TaskFailure) })
    }

    /// pyo3-async-runtimes runs here what calls into Python from our
    /// threads (completing an asyncio future): once the interpreter exits
    /// it is dropped unrun, and the future never completes (its loop is
    /// gone; see [`crate::shutdown`]).
    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        let task = spawn_handle().spawn_blocking(move || {
            if let Some(_inside) = shutdown::enter() {
                f();
            }
        });
        Box::pin(async move { task.await.map_err(TaskFailure) })
    }
}

impl ContextExt for PargetRuntime {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS
            .try_with(|c| c.get().cloned())
            .unwrap_or_default()
    }
}

/// A batch read with `async for`: each `__anext__` awaits the next result.
/// Cancelling an `__anext__` (the task awaiting it was cancelled) cancels
/// the batch's downloads, and only this batch's; so do `cancel()` and
/// dropping the batch. `drain()` waits until they have all ended, their
/// `.part` files flushed.
#[pyclass(frozen, module = "parget._parget")]
pub(crate) struct AsyncBatch {
    batch: Arc<tokio::sync::Mutex<Batch>>,
    cancel: parget::CancelHandle,
    progress: Option<Arc<CallProgress>>,
}

impl AsyncBatch {
    pub(crate) fn new(batch: Batch) -> AsyncBatch {
        AsyncBatch {
            cancel: batch.cancel_handle(),
            progress: batch.progress(),
            batch: Arc::new(tokio::sync::Mutex::new(batch)),
        }
    }
}

/// Cancels a batch when dropped, unless disarmed first.
struct CancelOnDrop(Option<parget::CancelHandle>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(cancel) = &self.0 {
            cancel.cancel();
        }
    }
}

#[pymethods]
impl AsyncBatch {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let batch = self.batch.clone();
        let cancel = self.cancel.clone();
        let locals = generic::get_current_locals::<PargetRuntime>(py)?;
        generic::future_into_py_with_locals::<PargetRuntime, _, _>(py, locals, async move {
            // Dropped before the result is in: the awaiting task was cancelled.
            let cancel_unless_done = CancelOnDrop(Some(cancel));
            let item = batch.lock().await.next().await;
            cancel_unless_done.disarm();
            match item {
                None => Err(PyStopAsyncIteration::new_err(())),
                Some(Item::SourceError(e)) => Err(e),
                Some(item) => Ok(Finished(item)),
            }
        })
    }

    /// Waits until every download of the batch has ended (soon after
    /// `cancel()`), so their `.part` files hold what they received.
    fn drain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let batch = self.batch.clone();
        let locals = generic::get_current_locals::<PargetRuntime>(py)?;
        generic::future_into_py_with_locals::<PargetRuntime, _, _>(py, locals, async move {
            batch.lock().await.drain().await;
            Ok(())
        })
    }

    /// Progress so far (None unless the batch was opened with `track=True`).
    fn progress(&self, py: Python<'_>) -> PyResult<Option<ProgressEvent>> {
        self.progress
            .as_ref()
            .map(|call| call.snapshot(py))
            .transpose()
    }

    /// Cancels the batch's downloads; their `.part` files stay.
    fn cancel(&self) {
        self.cancel.cancel();
    }
}
