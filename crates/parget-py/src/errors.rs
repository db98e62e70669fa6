//! Engine errors as the Python exceptions of `parget.errors`.
//!
//! The classes are written in Python (`python/parget/errors.py`): one of
//! them inherits from the builtin `TimeoutError` as well, and all of them
//! pickle, which is plain Python there and awkward here.

use parget::ErrorKind;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// Looks up a class of `parget.errors` once per process.
fn class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    cell.import(py, "parget.errors", name)
}

/// The exception instance for a failed download of `url`.
pub(crate) fn exception<'py>(
    py: Python<'py>,
    error: &parget::Error,
    url: &str,
) -> PyResult<Bound<'py, PyAny>> {
    static DOWNLOAD: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    static DIGEST: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    static SIZE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    static STATUS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    static TIMEOUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();

    // The whole chain of causes (`…: connection refused`), on one line.
    let message = format!("{error:#}");
    let url = error.url().unwrap_or(url);
    match error.kind() {
        ErrorKind::DigestMismatch { expected, actual } => {
            class(py, &DIGEST, "DigestValidationError")?.call1((
                message,
                url,
                expected.algorithm().name(),
                expected.to_hex(),
                actual.to_hex(),
            ))
        }
        ErrorKind::SizeMismatch { expected, actual } => {
            class(py, &SIZE, "SizeValidationError")?.call1((message, url, *expected, *actual))
        }
        ErrorKind::Status { code, .. } => {
            class(py, &STATUS, "HTTPStatusError")?.call1((message, url, *code))
        }
        _ if error.is_timeout() => class(py, &TIMEOUT, "TimeoutError")?.call1((message, url)),
        _ => class(py, &DOWNLOAD, "DownloadError")?.call1((message, url)),
    }
}
