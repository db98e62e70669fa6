//! Progress of one call, read by Python at its own pace.
//!
//! The engine counts bytes in atomics ([`DownloadProgress`]) and tells a
//! [`Reporter`] only when a download starts and ends. [`Hub`] is that
//! reporter: it hands each download's counters to the call that asked for
//! the download ([`CallProgress`]), and a snapshot ([`ProgressEvent`]) is
//! made only when Python asks for one, at most ~10 times a second. Nothing
//! happens per chunk.
//!
//! Downloads are matched to calls by the [`Route`] tag each request
//! carries (the engine hands it back on the progress and the report), and
//! to their entries by the engine's download id: two calls may fetch the
//! same destination one after the other, and neither sees the other's.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use parget::event::{DownloadProgress, Reporter};
use parget::Report;
use pyo3::prelude::*;

use crate::request::{route, Route};

/// The reporter of one engine: routes each download to the call whose
/// [`Route`] it carries. It holds nothing itself.
#[derive(Default)]
pub(crate) struct Hub;

impl Reporter for Hub {
    fn started(&self, progress: &Arc<DownloadProgress>) {
        if let Some(call) = route(progress.tag()).and_then(Route::call) {
            call.state().active.push(progress.clone());
        }
    }

    fn finished(&self, report: &Report) {
        let Some(call) = route(report.tag()).and_then(Route::call) else {
            return;
        };
        let mut state = call.state();
        // Bytes of a failed download still count: they were received.
        let mut bytes = report.bytes();
        if let Some(i) = state.active.iter().position(|p| p.id() == report.id()) {
            bytes = bytes.max(state.active.swap_remove(i).received());
        }
        state.done_bytes += bytes;
        state.finished += 1;
        state.failed += u64::from(!report.is_ok());
    }
}

/// The downloads of one call, running and done.
pub(crate) struct CallProgress {
    started: Instant,
    state: Mutex<CallState>,
}

#[derive(Default)]
struct CallState {
    active: Vec<Arc<DownloadProgress>>,
    done_bytes: u64,
    finished: u64,
    failed: u64,
}

impl CallProgress {
    pub(crate) fn new() -> CallProgress {
        CallProgress {
            started: Instant::now(),
            state: Mutex::new(CallState::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, CallState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A snapshot. The counters are copied under the lock and the Python
    /// objects made after it, so the engine never waits on the GIL.
    pub(crate) fn snapshot(&self, py: Python<'_>) -> PyResult<ProgressEvent> {
        let (active, done_bytes, finished, failed) = {
            let state = self.state();
            (
                state.active.clone(),
                state.done_bytes,
                state.finished,
                state.failed,
            )
        };
        let files: Vec<FileProgress> = active
            .iter()
            .map(|p| FileProgress {
                id: p.id().get(),
                url: p.url().to_owned(),
                path: p.destination().as_os_str().to_owned(),
                received: p.received(),
                total: p.total(),
                tag: route(p.tag())
                    .and_then(|r: &Route| r.tag.as_ref())
                    .map(|t| t.clone_ref(py)),
            })
            .collect();
        let received = done_bytes + files.iter().map(|f| f.received).sum::<u64>();
        let total = files
            .iter()
            .try_fold(done_bytes, |sum, f| f.total.map(|t| sum + t));
        let active = files.len() as u64;
        let downloads = files
            .into_iter()
            .map(|f| Py::new(py, f))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(ProgressEvent {
            downloads,
            received,
            total,
            active,
            finished,
            failed,
            elapsed: self.started.elapsed().as_secs_f64(),
        })
    }
}

/// One running download in a [`ProgressEvent`].
#[pyclass(frozen, get_all, module = "parget._parget")]
pub(crate) struct FileProgress {
    /// The engine's id of the download (the result's `id`).
    id: u64,
    /// The URL.
    url: String,
    /// The destination (a `str`, as `os.fspath` gives).
    path: std::ffi::OsString,
    /// Bytes of the file present so far (resumed bytes included).
    received: u64,
    /// The file's size, once the server said it.
    total: Option<u64>,
    /// The request's `tag`.
    tag: Option<Py<PyAny>>,
}

#[pymethods]
impl FileProgress {
    /// The URL with its password redacted (`.url` keeps it as given).
    fn __repr__(&self) -> String {
        let total = self.total.map_or("None".to_owned(), |t| t.to_string());
        format!(
            "FileProgress(id={}, url={:?}, received={}, total={total})",
            self.id,
            parget::redact::redact_url_text(&self.url),
            self.received
        )
    }
}

/// Progress of one call: its running downloads and the totals so far.
#[pyclass(frozen, get_all, module = "parget._parget")]
pub(crate) struct ProgressEvent {
    /// The downloads running now.
    downloads: Vec<Py<FileProgress>>,
    /// Bytes received by the call's downloads, finished and running.
    received: u64,
    /// The sizes known so far (finished downloads and running ones), or
    /// None while a running download's size is unknown.
    total: Option<u64>,
    /// Downloads running now.
    active: u64,
    /// Downloads ended (ok, skipped or failed).
    finished: u64,
    /// Downloads failed.
    failed: u64,
    /// Seconds since the call started.
    elapsed: f64,
}

#[pymethods]
impl ProgressEvent {
    fn __repr__(&self) -> String {
        let total = self.total.map_or("None".to_owned(), |t| t.to_string());
        format!(
            "ProgressEvent(received={}, total={total}, active={}, finished={}, failed={})",
            self.received, self.active, self.finished, self.failed
        )
    }
}
