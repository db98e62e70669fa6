//! `parget.Request`: a URL, a path and what the bytes must be.

use std::collections::HashMap;
use std::path::PathBuf;

use parget::verify::{Algorithm, Digest};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

/// One download: `Request(url, path, *, expected_digests=None, expected_size=None)`.
#[pyclass(frozen, module = "parget._parget", name = "Request")]
#[derive(Clone)]
pub(crate) struct PyRequest {
    pub(crate) inner: parget::Request,
}

#[pymethods]
impl PyRequest {
    #[new]
    #[pyo3(signature = (url, path, *, expected_digests = None, expected_size = None))]
    fn new(
        url: &str,
        path: PathBuf,
        expected_digests: Option<HashMap<String, String>>,
        expected_size: Option<u64>,
    ) -> PyResult<PyRequest> {
        build(url, path, expected_digests, expected_size).map(|inner| PyRequest { inner })
    }

    /// The URL (normalized: `http://host` reads `http://host/`).
    #[getter]
    fn url(&self) -> &str {
        self.inner.url().as_str()
    }

    /// Where the file goes.
    #[getter]
    fn path(&self) -> &std::ffi::OsStr {
        self.inner
            .path()
            .unwrap_or(std::path::Path::new(""))
            .as_os_str()
    }

    /// The digests the bytes must have, by hashlib name.
    #[getter]
    fn expected_digests<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        digest_dict(py, self.inner.digests())
    }

    /// The size the bytes must have, if given.
    #[getter]
    fn expected_size(&self) -> Option<u64> {
        self.inner.expected_size()
    }

    fn __repr__(&self) -> String {
        format!(
            "Request({:?}, {:?})",
            self.inner.url().as_str(),
            self.inner.destination()
        )
    }
}

/// A request from its parts, with errors that name the bad part.
pub(crate) fn build(
    url: &str,
    path: PathBuf,
    expected_digests: Option<HashMap<String, String>>,
    expected_size: Option<u64>,
) -> PyResult<parget::Request> {
    let mut request =
        parget::Request::new(url, path).map_err(|e| PyValueError::new_err(e.to_string()))?;
    for (name, hex) in expected_digests.unwrap_or_default() {
        let digest = parse_digest(&name, &hex).map_err(PyValueError::new_err)?;
        request = request.with_digest(digest);
    }
    if let Some(size) = expected_size {
        request = request.with_size(size);
    }
    Ok(request)
}

/// One `expected_digests` entry: a hashlib name and a hex value.
fn parse_digest(name: &str, hex: &str) -> Result<Digest, String> {
    let algorithm = Algorithm::from_name(name).ok_or_else(|| {
        format!("unknown digest algorithm '{name}': parget verifies md5, sha1, sha256, sha512 and blake3")
    })?;
    Digest::from_hex(algorithm, hex.trim())
        .map_err(|e| format!("expected {name} digest '{hex}': {e}"))
}

/// Digests as a dict by hashlib name, as pulp and hashlib spell them.
pub(crate) fn digest_dict<'py>(
    py: Python<'py>,
    digests: &[Digest],
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for digest in digests {
        dict.set_item(digest.algorithm().name(), digest.to_hex())?;
    }
    Ok(dict)
}

/// An item of a source: a `Request`, or a `(url, path)` pair.
pub(crate) fn from_item(item: &Bound<'_, PyAny>) -> PyResult<parget::Request> {
    if let Ok(request) = item.cast::<PyRequest>() {
        return Ok(request.get().inner.clone());
    }
    let pair = if let Ok(tuple) = item.cast::<PyTuple>() {
        (tuple.len() == 2).then(|| (tuple.get_item(0), tuple.get_item(1)))
    } else if let Ok(list) = item.cast::<PyList>() {
        (list.len() == 2).then(|| (list.get_item(0), list.get_item(1)))
    } else {
        None
    };
    let not_a_request = || -> PyResult<PyErr> {
        Ok(PyTypeError::new_err(format!(
            "a download is a parget.Request or a (url, path) pair of a str and a path, not {}",
            item.repr()?
        )))
    };
    let Some((Ok(url), Ok(path))) = pair else {
        return Err(not_a_request()?);
    };
    match (url.extract::<String>(), path.extract::<PathBuf>()) {
        (Ok(url), Ok(path)) => build(&url, path, None, None),
        _ => Err(not_a_request()?),
    }
}
