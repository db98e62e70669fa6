//! `parget.Downloader`: one engine (connection pool, limits) shared by
//! every call made through it, blocking and async.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyList;
use tokio::runtime::Handle;

use crate::aio::AsyncBatch;
use crate::batch::Batch;
use crate::progress::{CallProgress, Hub};
use crate::request::{Defaults, Expect, Submit};
use crate::result::DownloadResult;
use crate::runtime::{self, TICK};
use crate::settings::{positive, read_certificates, seconds, timeout_seconds, Settings};
use crate::shutdown;
use crate::source::{Known, Source};

/// The engine of one process.
struct Live {
    pid: u32,
    engine: parget::Downloader,
}

/// A downloader: its settings and, per process, its engine.
#[pyclass(frozen, subclass, module = "parget._parget", name = "Downloader")]
pub(crate) struct PyDownloader {
    settings: Settings,
    live: Mutex<Option<Live>>,
}

impl PyDownloader {
    /// The engine for this process, with the runtime it runs on. A forked
    /// child gets a new engine: the parent's connections and locks are not
    /// its own. The parent's engine is leaked there, never dropped: its
    /// connections belong to a runtime whose threads do not exist.
    fn engine(&self) -> PyResult<(Handle, parget::Downloader)> {
        let handle = runtime::handle()?;
        let pid = std::process::id();
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        match live.as_ref() {
            Some(l) if l.pid == pid => {}
            _ => {
                let engine = {
                    let _runtime = handle.enter();
                    self.settings.engine(Arc::new(Hub))?
                };
                if let Some(inherited) = live.replace(Live { pid, engine }) {
                    std::mem::forget(inherited);
                }
            }
        }
        let engine = live.as_ref().map(|l| l.engine.clone());
        engine
            .map(|engine| (handle, engine))
            .ok_or_else(|| PyRuntimeError::new_err("parget's engine is gone"))
    }

    /// How a call with (or without) progress submits its items.
    fn submit(&self, track: bool) -> Submit {
        Submit {
            defaults: self.settings.defaults.clone(),
            call: track.then(|| Arc::new(CallProgress::new())),
        }
    }

    /// Starts a batch over `source`; refused once the interpreter exits
    /// (nothing could hand its results back).
    fn start(&self, source: Source, submit: &Submit) -> PyResult<(Handle, Batch)> {
        if shutdown::exiting() {
            return Err(shutdown::exiting_error());
        }
        let (handle, engine) = self.engine()?;
        let batch = Batch::start(&handle, &engine, source, submit.call.clone());
        Ok((handle, batch))
    }
}

#[pymethods]
impl PyDownloader {
    #[new]
    #[pyo3(signature = (
        *,
        concurrency = 16,
        per_host = None,
        retries = 5,
        retry_wait = 1.0,
        split = None,
        min_split_size = None,
        connect_timeout = None,
        timeout = None,
        resume = true,
        allow_overwrite = false,
        fsync = false,
        wait_for_lock = false,
        user_agent = None,
        headers = None,
        digests = None,
        ca_certificate = None,
        insecure = false,
        proxy = None,
        no_proxy = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        concurrency: usize,
        per_host: Option<usize>,
        retries: u32,
        retry_wait: f64,
        split: Option<usize>,
        min_split_size: Option<u64>,
        connect_timeout: Option<f64>,
        timeout: Option<f64>,
        resume: bool,
        allow_overwrite: bool,
        fsync: bool,
        wait_for_lock: bool,
        user_agent: Option<String>,
        headers: Option<Bound<'_, PyAny>>,
        digests: Option<Bound<'_, PyAny>>,
        ca_certificate: Option<Bound<'_, PyAny>>,
        insecure: bool,
        proxy: Option<String>,
        no_proxy: Option<String>,
    ) -> PyResult<PyDownloader> {
        let certificates = match ca_certificate {
            None => Vec::new(),
            Some(one) => {
                let paths: Vec<PathBuf> = match one.extract::<PathBuf>() {
                    Ok(path) => vec![path],
                    Err(_) => one.extract()?,
                };
                read_certificates(paths)?
            }
        };
        let defaults = Defaults {
            headers: headers
                .as_ref()
                .map(crate::headers::from_python)
                .transpose()?
                .unwrap_or_default(),
            digests: digests
                .as_ref()
                .map(crate::request::algorithms)
                .transpose()?
                .unwrap_or_default(),
        };
        let settings = Settings {
            concurrency: positive("concurrency", concurrency)?,
            per_host: per_host.map(|n| positive("per_host", n)).transpose()?,
            retries,
            retry_wait: seconds("retry_wait", retry_wait)?,
            split: split.map(|n| positive("split", n)).transpose()?,
            min_split_size: min_split_size
                .map(|n| positive("min_split_size", n))
                .transpose()?,
            connect_timeout: connect_timeout
                .map(|s| timeout_seconds("connect_timeout", s))
                .transpose()?,
            timeout: timeout.map(|s| timeout_seconds("timeout", s)).transpose()?,
            resume,
            allow_overwrite,
            fsync,
            wait_for_lock,
            user_agent,
            certificates,
            insecure,
            proxy,
            no_proxy,
            defaults: Arc::new(defaults),
        };
        let downloader = PyDownloader {
            settings,
            live: Mutex::new(None),
        };
        // Build now, so a setting the engine refuses fails here.
        downloader.engine()?;
        Ok(downloader)
    }

    /// How many downloads run at once.
    #[getter]
    fn concurrency(&self) -> usize {
        self.settings.concurrency
    }

    /// Downloads `url` to `path` and returns its result; raises the
    /// download's `DownloadError` when it fails.
    #[pyo3(signature = (
        url,
        path,
        *,
        expected_digests = None,
        expected_size = None,
        headers = None,
        digests = None,
        on_progress = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn download(
        &self,
        py: Python<'_>,
        url: &str,
        path: PathBuf,
        expected_digests: Option<Bound<'_, PyAny>>,
        expected_size: Option<u64>,
        headers: Option<Bound<'_, PyAny>>,
        digests: Option<Bound<'_, PyAny>>,
        on_progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<DownloadResult>> {
        let on_progress = on_progress.map(callable).transpose()?;
        let expect = Expect {
            digests: expected_digests
                .as_ref()
                .map(crate::request::expected_digests)
                .transpose()?,
            size: expected_size,
            headers: headers
                .as_ref()
                .map(crate::headers::from_python)
                .transpose()?
                .unwrap_or_default(),
            compute: digests
                .as_ref()
                .map(crate::request::algorithms)
                .transpose()?
                .unwrap_or_default(),
        };
        let request = crate::request::build(url, path, expect)?;
        let submit = self.submit(on_progress.is_some());
        let group = submit.single(request)?;
        let source = Source::Known(vec![Known { group, mark: None }].into_iter());
        let mut results = Vec::with_capacity(1);
        self.run_blocking(py, source, &submit, on_progress, |result| {
            results.push(result);
            Ok(())
        })?;
        let result = results.pop().ok_or_else(|| {
            PyRuntimeError::new_err(format!("the download of {url} ended without a result"))
        })?;
        let result = result
            .into_bound(py)
            .cast_into::<DownloadResult>()
            .map_err(|_| {
                PyTypeError::new_err(format!(
                    "the download of {url} did not end with a DownloadResult"
                ))
            })?;
        if let Some(error) = result.get().error() {
            return Err(PyErr::from_value(error.bind(py).clone()));
        }
        Ok(result.unbind())
    }

    /// Downloads every item of `requests` (an iterable of `Request`,
    /// `Group` or `(url, path)` pairs, pulled as slots free up) and returns
    /// the results in completion order: a `DownloadResult` per request, a
    /// `GroupResult` per group; failures are results with `error` set.
    #[pyo3(signature = (requests, *, on_progress = None))]
    fn download_many<'py>(
        &self,
        py: Python<'py>,
        requests: &Bound<'py, PyAny>,
        on_progress: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let on_progress = on_progress.map(callable).transpose()?;
        let submit = self.submit(on_progress.is_some());
        let source = Source::new(requests, None, submit.clone())?;
        let list = PyList::empty(py);
        self.run_blocking(py, source, &submit, on_progress, |result| {
            list.append(result)
        })?;
        Ok(list)
    }

    /// Starts an async batch over `requests` (a list, an iterator or an
    /// async iterator); used by `adownload` and `adownload_many`.
    #[pyo3(signature = (requests, *, track = false))]
    fn _open(
        &self,
        py: Python<'_>,
        requests: &Bound<'_, PyAny>,
        track: bool,
    ) -> PyResult<AsyncBatch> {
        let locals = pyo3_async_runtimes::TaskLocals::with_running_loop(py)?.copy_context(py)?;
        let submit = self.submit(track);
        let source = Source::new(requests, Some(locals), submit.clone())?;
        let (_, batch) = self.start(source, &submit)?;
        Ok(AsyncBatch::new(batch))
    }

    /// Cancels every running download of this downloader, of every call:
    /// each ends with a `DownloadError`, its `.part` file kept for resume,
    /// and so does each request of a list that had not started yet (an
    /// iterator is not read further). Later calls work as usual (on a
    /// fresh connection pool).
    fn cancel(&self) {
        self.cancel_engine();
    }

    fn __repr__(&self) -> String {
        format!("Downloader(concurrency={})", self.settings.concurrency)
    }
}

impl PyDownloader {
    /// Cancels every running download of the engine through the engine, so
    /// each flushes what it received into its `.part` file and records it
    /// for resume. The engine stays cancelled, so it is let go: the next
    /// call builds a fresh one.
    fn cancel_engine(&self) {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(live) = live {
            if live.pid == std::process::id() {
                live.engine.cancel();
            } else {
                std::mem::forget(live);
            }
        }
    }

    /// Runs a batch to its end on this thread with the GIL released, taking
    /// it back every [`TICK`] to run signal handlers and `on_progress`, and
    /// hands each result to `each`.
    ///
    /// Any exception on the way (`KeyboardInterrupt` from Ctrl-C, one
    /// raised by the source, by `on_progress` or by `each`) cancels this
    /// call's downloads, and no other call's: each stops and flushes what
    /// it received into its `.part` file. The call waits until they have
    /// (a second interrupt stops the wait), then propagates the exception.
    fn run_blocking(
        &self,
        py: Python<'_>,
        source: Source,
        submit: &Submit,
        on_progress: Option<Bound<'_, PyAny>>,
        mut each: impl FnMut(Py<PyAny>) -> PyResult<()>,
    ) -> PyResult<()> {
        let (handle, mut batch) = self.start(source, submit)?;
        // This thread runs Python between two waits (signal handlers,
        // `each`, `on_progress`): the exit hook waits for it to stop.
        let mut inside = Some(shutdown::enter().ok_or_else(shutdown::exiting_error)?);
        let progress = batch.progress();
        let mut last_event = Instant::now();
        let outcome = (|| -> PyResult<()> {
            let mut open = true;
            while open {
                match runtime::park(py, &handle, &mut inside, batch.next()) {
                    None => {}
                    Some(None) => open = false,
                    Some(Some(first)) => {
                        // Take every result that is ready before waiting again.
                        let mut item = Some(first);
                        while let Some(ready) = item {
                            each(crate::result::to_python(py, ready)?)?;
                            item = batch.try_next();
                        }
                    }
                }
                py.check_signals()?;
                if let (Some(callback), Some(call)) = (&on_progress, &progress) {
                    // The last event is always sent, so a bar ends full.
                    if !open || last_event.elapsed() >= TICK {
                        callback.call1((call.snapshot(py)?,))?;
                        last_event = Instant::now();
                    }
                }
            }
            Ok(())
        })();
        if outcome.is_err() {
            batch.cancel();
            loop {
                if runtime::park(py, &handle, &mut inside, batch.drain()).is_some() {
                    break;
                }
                // Another interrupt: stop waiting; the downloads finish
                // their cancel in the background.
                py.check_signals()?;
            }
        }
        outcome
    }
}

/// `on_progress`, refused before anything is downloaded unless it can be
/// called (it would fail only after the files were in place).
fn callable(on_progress: Bound<'_, PyAny>) -> PyResult<Bound<'_, PyAny>> {
    if on_progress.is_callable() {
        return Ok(on_progress);
    }
    Err(PyTypeError::new_err(format!(
        "on_progress must be callable (it is called with a parget.ProgressEvent), not {}",
        on_progress.get_type().name()?
    )))
}
