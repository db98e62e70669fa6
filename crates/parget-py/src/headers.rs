//! Headers between Python and the engine: what a request sends (a mapping
//! or `(name, value)` pairs of `str`), and what a response carried (a
//! `parget.headers.Headers`, the case-insensitive mapping written in
//! Python so it pickles and type-checks like any mapping).

use http::HeaderMap;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyString, PyTuple, PyType};

/// Headers a caller gave: a mapping of `str` to `str`, or an iterable of
/// `(name, value)` pairs (so a header may be given twice). Each is checked
/// as HTTP allows it, with an error naming it.
pub(crate) fn from_python(headers: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    if headers.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "headers must be a mapping of str to str or (name, value) pairs, not one string",
        ));
    }
    let pairs = if headers.hasattr("items")? {
        headers.call_method0("items")?
    } else {
        headers.clone()
    };
    let mut out = Vec::new();
    for pair in pairs.try_iter().map_err(|_| {
        PyTypeError::new_err("headers must be a mapping of str to str or (name, value) pairs")
    })? {
        let pair = pair?;
        let parsed = pair
            .cast::<PyTuple>()
            .ok()
            .filter(|t| t.len() == 2)
            .and_then(|t| t.extract::<(String, String)>().ok());
        let Some((name, value)) = parsed else {
            return Err(PyTypeError::new_err(format!(
                "a header is a (name, value) pair of str, not {}",
                pair.repr()?
            )));
        };
        check(&name, &value)?;
        out.push((name, value));
    }
    Ok(out)
}

/// Checks one header the way the engine will, so a bad one fails where it
/// was given.
fn check(name: &str, value: &str) -> PyResult<()> {
    parget::Request::new("http://127.0.0.1/", "x")
        .and_then(|r| r.with_header(name, value))
        .map(drop)
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// `headers` as a `parget.headers.Headers`. Values are decoded as Latin-1,
/// HTTP's historical charset (as `http.client` does): every byte a server
/// may send becomes one character, nothing is lost or refused.
pub(crate) fn to_python<'py>(py: Python<'py>, headers: &HeaderMap) -> PyResult<Bound<'py, PyAny>> {
    static CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    let pairs: Vec<(&str, String)> = headers
        .iter()
        .map(|(name, value)| {
            let text: String = value.as_bytes().iter().map(|&b| char::from(b)).collect();
            (name.as_str(), text)
        })
        .collect();
    CLASS
        .import(py, "parget.headers", "Headers")?
        .call1((pairs,))
}
