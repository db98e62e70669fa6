//! `parget.DownloadResult` and `parget.GroupResult`: what happened to one
//! download, and to a group of them.

use std::path::PathBuf;

use http::HeaderMap;
use parget::{Outcome, Report};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyTuple};

use crate::batch::Item;
use crate::request::{route, GroupMark};

/// The result of one download. A failed download carries its exception in
/// `error` (`download_many` hands failures back this way instead of raising).
/// It pickles (see [`DownloadResult::__reduce__`]), so it comes back from a
/// `multiprocessing` or `concurrent.futures` worker, or a Ray task.
#[pyclass(frozen, module = "parget._parget", name = "DownloadResult")]
pub(crate) struct DownloadResult {
    id: u64,
    url: String,
    final_url: Option<String>,
    path: PathBuf,
    size: u64,
    digests: Vec<parget::Digest>,
    headers: HeaderMap,
    /// `headers` as Python sees them, made on first use.
    py_headers: PyOnceLock<Py<PyAny>>,
    elapsed: f64,
    attempts: u32,
    skipped: bool,
    tag: Option<Py<PyAny>>,
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
            id: report.id().get(),
            skipped: matches!(report.outcome(), Outcome::Skipped),
            url: report.url().to_owned(),
            final_url: report.final_url().map(|u| u.as_str().to_owned()),
            path: report.path().map(ToOwned::to_owned).unwrap_or_default(),
            size: report.bytes(),
            digests: report.digests().to_vec(),
            headers: report.headers().clone(),
            py_headers: PyOnceLock::new(),
            elapsed: report.elapsed().as_secs_f64(),
            attempts: report.attempts(),
            tag: route(report.tag())
                .and_then(|r| r.tag.as_ref())
                .map(|t| t.clone_ref(py)),
            error,
        })
    }

    /// The result of a request that never started, the downloader being
    /// cancelled first: its `error` is the engine's cancelled error.
    pub(crate) fn unstarted(py: Python<'_>, request: &parget::Request) -> PyResult<DownloadResult> {
        let url = request.url().as_str();
        let cancelled = parget::Error::new(parget::ErrorKind::Cancelled, Some(url));
        Ok(DownloadResult {
            // The engine numbers downloads from 1; this one never was.
            id: 0,
            skipped: false,
            url: url.to_owned(),
            final_url: None,
            path: request.path().map(ToOwned::to_owned).unwrap_or_default(),
            size: 0,
            digests: Vec::new(),
            headers: HeaderMap::new(),
            py_headers: PyOnceLock::new(),
            elapsed: 0.0,
            attempts: 0,
            tag: route(request.tag())
                .and_then(|r| r.tag.as_ref())
                .map(|t| t.clone_ref(py)),
            error: Some(crate::errors::exception(py, &cancelled, url)?.unbind()),
        })
    }

    /// The exception of a failed download.
    pub(crate) fn error(&self) -> Option<&Py<PyAny>> {
        self.error.as_ref()
    }
}

#[pymethods]
impl DownloadResult {
    /// The engine's id of the download (as on its progress entries); 0
    /// for a request cancelled before it started.
    #[getter]
    fn id(&self) -> u64 {
        self.id
    }

    /// The URL as requested.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// The URL that answered, after redirects; None when nothing was
    /// requested (skipped, refused before a request).
    #[getter]
    fn final_url(&self) -> Option<&str> {
        self.final_url.as_deref()
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
    /// per algorithm of `expected_digests` and of `digests`.
    #[getter]
    fn digests<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::request::digest_dict(py, &self.digests)
    }

    /// The headers of the response the bytes came with (a
    /// case-insensitive `parget.Headers`; empty when nothing was requested).
    #[getter]
    fn headers(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.py_headers
            .get_or_try_init(py, || {
                crate::headers::to_python(py, &self.headers).map(Bound::unbind)
            })
            .map(|h| h.clone_ref(py))
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

    /// The request's `tag`.
    #[getter]
    fn tag(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.tag.as_ref().map(|t| t.clone_ref(py))
    }

    /// The `parget.DownloadError` of a failed download, else None.
    #[getter(error)]
    fn py_error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.error.as_ref().map(|e| e.clone_ref(py))
    }

    /// Pickles as `_download_result(state)`, every field in one tuple (the
    /// headers as name and raw bytes, the digests as name and hex), so an
    /// unpickled result is equal field by field. A `tag` that does not
    /// pickle makes the result not pickle, as in any Python object.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Py<PyAny>, (Bound<'py, PyTuple>,))> {
        let rebuild = py
            .import("parget._parget")?
            .getattr("_download_result")?
            .unbind();
        let digests: Vec<(&str, String)> = self
            .digests
            .iter()
            .map(|d| (d.algorithm().name(), d.to_hex()))
            .collect();
        let headers: Vec<(&str, Bound<'py, PyBytes>)> = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), PyBytes::new(py, value.as_bytes())))
            .collect();
        let state = (
            self.id,
            &self.url,
            self.final_url.as_deref(),
            self.path.as_os_str(),
            self.size,
            digests,
            headers,
            self.elapsed,
            self.attempts,
            self.skipped,
            self.tag.as_ref().map(|t| t.clone_ref(py)),
            self.error.as_ref().map(|e| e.clone_ref(py)),
        )
            .into_pyobject(py)?;
        Ok((rebuild, (state,)))
    }

    /// The URL with its password redacted, as in the error messages: a
    /// repr ends up in logs (`.url` keeps it as given).
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let url = parget::redact::redact_url_text(&self.url);
        Ok(match &self.error {
            None => format!(
                "DownloadResult(url={:?}, path={:?}, size={}, skipped={})",
                url,
                self.path,
                self.size,
                if self.skipped { "True" } else { "False" }
            ),
            Some(e) => format!(
                "DownloadResult(url={:?}, path={:?}, error={})",
                url,
                self.path,
                e.bind(py).repr()?
            ),
        })
    }
}

/// The end of a `parget.Group`: every member's result, in member order.
#[pyclass(frozen, module = "parget._parget", name = "GroupResult")]
pub(crate) struct GroupResult {
    results: Vec<Py<DownloadResult>>,
    tag: Option<Py<PyAny>>,
}

#[pymethods]
impl GroupResult {
    /// The members' results, in the order of the group's requests.
    #[getter]
    fn results(&self, py: Python<'_>) -> Vec<Py<DownloadResult>> {
        self.results.iter().map(|r| r.clone_ref(py)).collect()
    }

    /// True when every member's file is in place.
    #[getter]
    fn ok(&self) -> bool {
        self.results.iter().all(|r| r.get().error.is_none())
    }

    /// The group's `tag`.
    #[getter]
    fn tag(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.tag.as_ref().map(|t| t.clone_ref(py))
    }

    fn __len__(&self) -> usize {
        self.results.len()
    }

    /// Pickles as `_group_result(results, tag)`.
    fn __reduce__(&self, py: Python<'_>) -> PyResult<(Py<PyAny>, PyGroupState)> {
        let rebuild = py
            .import("parget._parget")?
            .getattr("_group_result")?
            .unbind();
        Ok((
            rebuild,
            (self.results(py), self.tag.as_ref().map(|t| t.clone_ref(py))),
        ))
    }

    fn __repr__(&self) -> String {
        let failed = self
            .results
            .iter()
            .filter(|r| r.get().error.is_some())
            .count();
        format!(
            "GroupResult({} results, {failed} failed)",
            self.results.len()
        )
    }
}

/// What a pickled `GroupResult` is rebuilt from.
type PyGroupState = (Vec<Py<DownloadResult>>, Option<Py<PyAny>>);

/// The state a pickled `DownloadResult` carries, in field order (see
/// [`DownloadResult::__reduce__`]).
type PyResultState = (
    u64,
    String,
    Option<String>,
    PathBuf,
    u64,
    Vec<(String, String)>,
    Vec<(String, Vec<u8>)>,
    f64,
    u32,
    bool,
    Option<Py<PyAny>>,
    Option<Py<PyAny>>,
);

/// Rebuilds a pickled `DownloadResult`. A state that does not name a
/// known digest or a valid header, or whose error is not a
/// `parget.DownloadError` (written by hand, or by another version), is
/// refused with a `ValueError` that names it.
#[pyfunction]
pub(crate) fn _download_result(py: Python<'_>, state: PyResultState) -> PyResult<DownloadResult> {
    let (id, url, final_url, path, size, digests, headers, elapsed, attempts, skipped, tag, error) =
        state;
    let digests = digests
        .into_iter()
        .map(|(name, hex)| {
            let algorithm = parget::Algorithm::from_name(&name).ok_or_else(|| {
                PyValueError::new_err(format!("a pickled result names an unknown digest `{name}`"))
            })?;
            parget::Digest::from_hex(algorithm, &hex)
                .map_err(|e| PyValueError::new_err(format!("a pickled result's {name}: {e}")))
        })
        .collect::<PyResult<Vec<_>>>()?;
    let mut header_map = HeaderMap::new();
    for (name, value) in headers {
        let bad =
            || PyValueError::new_err(format!("a pickled result's header `{name}` is not valid"));
        let header_name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        let header_value = http::HeaderValue::from_bytes(&value).map_err(|_| bad())?;
        // `append` panics past the map's capacity (32,768 entries).
        header_map
            .try_append(header_name, header_value)
            .map_err(|_| PyValueError::new_err("a pickled result has too many headers"))?;
    }
    let download_error = py.import("parget.errors")?.getattr("DownloadError")?;
    if let Some(error) = &error {
        if !error.bind(py).is_instance(&download_error)? {
            return Err(PyValueError::new_err(
                "a pickled result's error is not a parget.DownloadError",
            ));
        }
    }
    Ok(DownloadResult {
        id,
        url,
        final_url,
        path,
        size,
        digests,
        headers: header_map,
        py_headers: PyOnceLock::new(),
        elapsed,
        attempts,
        skipped,
        tag,
        error,
    })
}

/// Rebuilds a pickled `GroupResult`.
#[pyfunction]
pub(crate) fn _group_result(
    results: Vec<Py<DownloadResult>>,
    tag: Option<Py<PyAny>>,
) -> GroupResult {
    GroupResult { results, tag }
}

/// An item of a batch as a Python object (`DownloadResult` or
/// `GroupResult`); a source's error as the error.
pub(crate) fn to_python(py: Python<'_>, item: Item) -> PyResult<Py<PyAny>> {
    match item {
        Item::Single(report) => Ok(Py::new(py, DownloadResult::new(py, *report)?)?.into_any()),
        Item::Group(reports, tag) => {
            let results = reports
                .into_iter()
                .map(|r| Py::new(py, DownloadResult::new(py, r)?))
                .collect::<PyResult<Vec<_>>>()?;
            let tag = tag
                .as_ref()
                .and_then(parget::Tag::downcast_ref::<GroupMark>)
                .and_then(|m| m.tag.as_ref())
                .map(|t| t.clone_ref(py));
            Ok(Py::new(py, GroupResult { results, tag })?.into_any())
        }
        Item::SourceError(e) => Err(e),
        Item::Unstarted(group, mark) => {
            let mut results = group
                .requests()
                .iter()
                .map(|r| Py::new(py, DownloadResult::unstarted(py, r)?))
                .collect::<PyResult<Vec<_>>>()?;
            let Some(mark) = mark else {
                if let (1, Some(result)) = (results.len(), results.pop()) {
                    return Ok(result.into_any());
                }
                return Ok(Py::new(py, GroupResult { results, tag: None })?.into_any());
            };
            let tag = mark
                .downcast_ref::<GroupMark>()
                .and_then(|m| m.tag.as_ref())
                .map(|t| t.clone_ref(py));
            Ok(Py::new(py, GroupResult { results, tag })?.into_any())
        }
    }
}

/// An item still to become a Python object: the form an awaitable
/// resolves to (converted once the GIL is held).
pub(crate) struct Finished(pub(crate) Item);

impl<'py> IntoPyObject<'py> for Finished {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, self.0).map(|o| o.into_bound(py))
    }
}
