//! Where a call's requests come from: a list, a Python iterator or a
//! Python async iterator, pulled one item (a request or a group) at a
//! time as slots free up, each made into the engine's group by the call's
//! [`Submit`].

use std::sync::Arc;

use pyo3::exceptions::{PyRuntimeError, PyStopAsyncIteration, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use pyo3_async_runtimes::TaskLocals;

use crate::request::Submit;
use crate::shutdown;

/// The requests of one call.
pub(crate) enum Source {
    /// Converted up front (a list or tuple is in memory already).
    Known(std::vec::IntoIter<Known>),
    /// A Python iterator, advanced on a blocking thread: a generator may
    /// do blocking I/O without stalling the engine or an event loop.
    Iter(Arc<Py<PyAny>>, Submit),
    /// A Python async iterator, advanced on the event loop of `locals`.
    AsyncIter(Arc<Py<PyAny>>, TaskLocals, Submit),
}

/// An item of a list, converted up front, with the tag of its
/// `parget.Group` (a [`crate::request::GroupMark`]) kept aside: the
/// engine's group does not hand its tag back, and an item a cancel left
/// unstarted still needs it for its result.
pub(crate) struct Known {
    /// The engine's group (a request alone is a group of one).
    pub(crate) group: parget::Group,
    /// The tag of a `parget.Group`; `None` for a request alone.
    pub(crate) mark: Option<parget::Tag>,
}

impl Source {
    /// The source for `requests`. `locals` is the running event loop, for
    /// the async API; without it an async iterable is refused.
    pub(crate) fn new(
        requests: &Bound<'_, PyAny>,
        locals: Option<TaskLocals>,
        submit: Submit,
    ) -> PyResult<Source> {
        if requests.is_instance_of::<PyString>() || requests.is_instance_of::<PyBytes>() {
            return Err(PyTypeError::new_err(
                "requests must be an iterable of parget.Request, parget.Group or (url, path) pairs, not one string",
            ));
        }
        if requests.is_instance_of::<PyList>() || requests.is_instance_of::<PyTuple>() {
            let known = requests
                .try_iter()?
                .map(|item| {
                    let (group, mark) = submit.marked_item(&item?)?;
                    Ok(Known { group, mark })
                })
                .collect::<PyResult<Vec<_>>>()?;
            return Ok(Source::Known(known.into_iter()));
        }
        if requests.hasattr("__aiter__")? {
            return match locals {
                Some(locals) => {
                    let iterator = requests.call_method0("__aiter__")?;
                    Ok(Source::AsyncIter(Arc::new(iterator.unbind()), locals, submit))
                }
                None => Err(PyTypeError::new_err(
                    "an async iterable of requests needs adownload_many (download_many takes an iterable)",
                )),
            };
        }
        match requests.try_iter() {
            Ok(iterator) => Ok(Source::Iter(Arc::new(iterator.into_any().unbind()), submit)),
            Err(_) => Err(PyTypeError::new_err(format!(
                "requests must be an iterable of parget.Request, parget.Group or (url, path) pairs, not {}",
                requests.get_type().name()?
            ))),
        }
    }

    /// The next item of a list that was never handed to the engine (after
    /// a cancel stopped the engine pulling). An iterator is not read on:
    /// it may be endless, or ask a server for every page.
    pub(crate) fn next_unstarted(&mut self) -> Option<Known> {
        match self {
            Source::Known(known) => known.next(),
            Source::Iter(..) | Source::AsyncIter(..) => None,
        }
    }

    /// The next item; `None` at the end; an error raised by the source
    /// (or for an item that is not a request) ends the call.
    pub(crate) async fn next(&mut self) -> Option<PyResult<parget::Group>> {
        match self {
            Source::Known(known) => known.next().map(|k| Ok(k.group)),
            Source::Iter(iterator, submit) => {
                let (iterator, submit) = (iterator.clone(), submit.clone());
                off_loop(move |py| match iterator.bind(py).call_method0("__next__") {
                    Ok(item) => Some(submit.item(&item)),
                    Err(e) if e.is_instance_of::<pyo3::exceptions::PyStopIteration>(py) => None,
                    Err(e) => Some(Err(e)),
                })
                .await
                .unwrap_or_else(|e| Some(Err(e)))
            }
            Source::AsyncIter(iterator, locals, submit) => {
                let (iterator, locals, submit) = (iterator.clone(), locals.clone(), submit.clone());
                // `__anext__()` only makes the awaitable; it runs on the loop.
                let awaiting = off_loop(move |py| {
                    let awaitable = iterator.bind(py).call_method0("__anext__")?;
                    pyo3_async_runtimes::into_future_with_locals(&locals, awaitable)
                })
                .await;
                let item = match awaiting.and_then(|r| r) {
                    Ok(future) => future.await,
                    Err(e) => Err(e),
                };
                off_loop(move |py| match item {
                    Ok(item) => Some(submit.item(item.bind(py))),
                    Err(e) if e.is_instance_of::<PyStopAsyncIteration>(py) => None,
                    Err(e) => Some(Err(e)),
                })
                .await
                .unwrap_or_else(|e| Some(Err(e)))
            }
        }
    }
}

/// Runs `f` with the GIL on a blocking thread, so no engine worker waits
/// for the GIL. Once the interpreter exits, `f` is not run (and the source
/// reads as failed): see [`crate::shutdown`].
async fn off_loop<T, F>(f: F) -> PyResult<T>
where
    F: FnOnce(Python<'_>) -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        // Taken before the GIL and dropped after it, so the exit hook
        // waits for the whole call.
        let Some(_inside) = shutdown::enter() else {
            return Err(PyRuntimeError::new_err(
                "the requests were not read to their end: the interpreter is exiting",
            ));
        };
        Ok(Python::attach(f))
    })
    .await
    .map_err(|e| PyRuntimeError::new_err(format!("reading the requests failed: {e}")))?
}
