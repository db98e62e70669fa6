//! `parget.DownloadResult`: what happened to one download.

use std::path::PathBuf;

use parget::{Outcome, Report};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The result of one download. A failed download carries its exception in
/// `error` (`download_many` hands failures back this way instead of raising).
#[pyclass(frozen, module = "parget._parget", name = "DownloadResult")]
pub(crate) struct DownloadResult {
    url: String,
    path: PathBuf,
    size: u64,
    digests: Vec<parget::Digest>,
    elapsed: f64,
    attempts: u32,
    skipped: bool,
    error: Option<Py<PyAny>>,
}

impl DownloadResult {
    /// The result of an engine report (the GIL is needed for the exception).
    pub(crate) fn new(py: Python<'_>, report: Report) -> PyResult<DownloadResult> {
        let error = match report.outcome() {
            Outcome::Failed(e) => Some(crate::errors::exception(py, e, report.url())?.unbind()),
            _ => None,
        };
        Ok(DownloadResult {
            skipped: matches!(report.outcome(), Outcome::Skipped),
            url: report.url().to_owned(),
            path: report.path().map(ToOwned::to_owned).unwrap_or_default(),
            size: report.bytes(),
            digests: report.digests().to_vec(),
            elapsed: report.elapsed().as_secs_f64(),
            attempts: report.attempts(),
            error,
        })
    }

    /// The exception of a failed download.
    pub(crate) fn error(&self) -> Option<&Py<PyAny>> {
        self.error.as_ref()
    }
}

#[pymethods]
impl DownloadResult {
    /// The URL as requested.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// Where the file is (or would have been).
    #[getter]
    fn path(&self) -> &std::ffi::OsStr {
        self.path.as_os_str()
    }

    /// Bytes of the file (0 for a failure).
    #[getter]
    fn size(&self) -> u64 {
        self.size
    }

    /// The digests computed while the bytes streamed, by hashlib name: one
    /// per algorithm of `expected_digests`.
    #[getter]
    fn digests<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::request::digest_dict(py, &self.digests)
    }

    /// Seconds from the start of the download to its end.
    #[getter]
    fn elapsed(&self) -> f64 {
        self.elapsed
    }

    /// Requests made (0 when nothing had to be fetched).
    #[getter]
    fn attempts(&self) -> u32 {
        self.attempts
    }

    /// True when the file was already there with the expected size and digests.
    #[getter]
    fn skipped(&self) -> bool {
        self.skipped
    }

    /// True when the file is in place.
    #[getter]
    fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// The `parget.DownloadError` of a failed download, else None.
    #[getter(error)]
    fn py_error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.error.as_ref().map(|e| e.clone_ref(py))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(match &self.error {
            None => format!(
                "DownloadResult(url={:?}, path={:?}, size={}, skipped={})",
                self.url,
                self.path,
                self.size,
                if self.skipped { "True" } else { "False" }
            ),
            Some(e) => format!(
                "DownloadResult(url={:?}, path={:?}, error={})",
                self.url,
                self.path,
                e.bind(py).repr()?
            ),
        })
    }
}

/// A report still to become a [`DownloadResult`]: the form an awaitable
/// resolves to (converted once the GIL is held).
pub(crate) struct Finished(pub(crate) Report);

impl<'py> IntoPyObject<'py> for Finished {
    type Target = DownloadResult;
    type Output = Bound<'py, DownloadResult>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, DownloadResult>> {
        Bound::new(py, DownloadResult::new(py, self.0)?)
    }
}
