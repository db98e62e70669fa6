//! `parget.Request` and `parget.Group`: what to download, and how a
//! source's items become the engine's groups.
//!
//! Every item of a call goes to the engine as a [`parget::Group`]: a
//! `Group` as one, a single request as a group of one. Each request
//! carries a [`Route`] tag naming the call that asked for it (progress
//! follows downloads by it, not by destination), and a Python group a
//! [`GroupMark`], so its report comes back as a `GroupResult`.

use std::path::PathBuf;
use std::sync::{Arc, Weak};

use parget::verify::{Algorithm, Digest};
use parget::{GroupPolicy, Tag};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyMapping, PyString, PyTuple};

use crate::progress::CallProgress;

/// One download: `Request(url, path, *, expected_digests=None,
/// expected_size=None, headers=None, digests=None, tag=None,
/// confined_to=None)`.
#[pyclass(frozen, module = "parget._parget", name = "Request")]
pub(crate) struct PyRequest {
    pub(crate) inner: parget::Request,
    pub(crate) tag: Option<Py<PyAny>>,
}

#[pymethods]
impl PyRequest {
    #[new]
    #[pyo3(signature = (
        url,
        path,
        *,
        expected_digests = None,
        expected_size = None,
        headers = None,
        digests = None,
        tag = None,
        confined_to = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        url: &str,
        path: PathBuf,
        expected_digests: Option<&Bound<'_, PyAny>>,
        expected_size: Option<u64>,
        headers: Option<&Bound<'_, PyAny>>,
        digests: Option<&Bound<'_, PyAny>>,
        tag: Option<Py<PyAny>>,
        confined_to: Option<PathBuf>,
    ) -> PyResult<PyRequest> {
        let expected_digests = expected_digests.map(self::expected_digests).transpose()?;
        let headers = headers.map(crate::headers::from_python).transpose()?;
        let digests = digests.map(algorithms).transpose()?;
        let inner = build(
            url,
            path,
            Expect {
                digests: expected_digests,
                size: expected_size,
                headers: headers.unwrap_or_default(),
                compute: digests.unwrap_or_default(),
            },
        )?;
        // No symbolic link between the root and the file (a path built
        // from names a server or a page chose).
        let inner = match confined_to {
            Some(root) => inner.confined_to(no_nul("confined_to", root)?),
            None => inner,
        };
        Ok(PyRequest { inner, tag })
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

    /// The headers sent with this download (a `parget.Headers`).
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::headers::to_python(py, self.inner.headers())
    }

    /// The hashlib names of the digests computed besides the expected ones.
    #[getter]
    fn digests(&self) -> Vec<&'static str> {
        self.inner
            .computed_digests()
            .iter()
            .map(|a| a.name())
            .collect()
    }

    /// The object given as `tag`; it comes back on the result and progress.
    #[getter]
    fn tag(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.tag.as_ref().map(|t| t.clone_ref(py))
    }

    /// The URL with its password redacted (`.url` keeps it as given).
    fn __repr__(&self) -> String {
        format!(
            "Request({:?}, {:?})",
            parget::redact::redact_url(self.inner.url()),
            self.path()
        )
    }
}

/// Files that belong together: `Group(requests, *, policy="cancel", tag=None)`.
#[pyclass(frozen, module = "parget._parget", name = "Group")]
pub(crate) struct PyGroup {
    members: Vec<Member>,
    policy: GroupPolicy,
    tag: Option<Py<PyAny>>,
}

/// A request with the tag its caller gave it.
struct Member {
    request: parget::Request,
    tag: Option<Py<PyAny>>,
}

#[pymethods]
impl PyGroup {
    #[new]
    #[pyo3(signature = (requests, *, policy = "cancel", tag = None))]
    fn new(
        py: Python<'_>,
        requests: &Bound<'_, PyAny>,
        policy: &str,
        tag: Option<Py<PyAny>>,
    ) -> PyResult<PyGroup> {
        let policy = match policy {
            "cancel" => GroupPolicy::CancelOnFailure,
            "finish" => GroupPolicy::FinishAll,
            other => {
                return Err(PyValueError::new_err(format!(
                    "a group's policy is \"cancel\" (a failure cancels the other members) or \"finish\" (they run to their end), not {other:?}"
                )))
            }
        };
        if requests.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "a group takes an iterable of parget.Request or (url, path) pairs, not one string",
            ));
        }
        let mut members = Vec::new();
        for item in requests.try_iter()? {
            let item = item?;
            if item.cast::<PyGroup>().is_ok() {
                return Err(PyTypeError::new_err("a group cannot hold another group"));
            }
            members.push(member(py, &item)?);
        }
        Ok(PyGroup {
            members,
            policy,
            tag,
        })
    }

    /// The members, in order.
    #[getter]
    fn requests(&self, py: Python<'_>) -> Vec<PyRequest> {
        self.members
            .iter()
            .map(|m| PyRequest {
                inner: m.request.clone(),
                tag: m.tag.as_ref().map(|t| t.clone_ref(py)),
            })
            .collect()
    }

    /// `"cancel"` or `"finish"`.
    #[getter]
    fn policy(&self) -> &'static str {
        match self.policy {
            GroupPolicy::CancelOnFailure => "cancel",
            GroupPolicy::FinishAll => "finish",
        }
    }

    /// The object given as `tag`; it comes back on the group's result.
    #[getter]
    fn tag(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.tag.as_ref().map(|t| t.clone_ref(py))
    }

    fn __len__(&self) -> usize {
        self.members.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Group({} requests, policy={:?})",
            self.members.len(),
            self.policy()
        )
    }
}

/// The tag of every request a call submits: the call's progress (when it
/// tracks any) and the caller's own tag.
pub(crate) struct Route {
    /// Weak: the call's progress holds the downloads' progress, which
    /// holds this tag; a strong reference would make a cycle.
    call: Weak<CallProgress>,
    pub(crate) tag: Option<Py<PyAny>>,
}

impl Route {
    /// The call's progress, while the call lasts and tracks progress.
    pub(crate) fn call(&self) -> Option<Arc<CallProgress>> {
        self.call.upgrade()
    }
}

/// The tag of a group that came from a `parget.Group`, with its own tag.
pub(crate) struct GroupMark {
    pub(crate) tag: Option<Py<PyAny>>,
}

/// The route of a report, progress or group, when it is one of ours.
pub(crate) fn route(tag: Option<&Tag>) -> Option<&Route> {
    tag.and_then(Tag::downcast_ref::<Route>)
}

/// What a downloader adds to every request of its calls.
#[derive(Clone, Debug, Default)]
pub(crate) struct Defaults {
    /// Sent unless the request sets a header of the same name.
    pub headers: Vec<(String, String)>,
    /// Computed besides the request's own.
    pub digests: Vec<Algorithm>,
}

impl Defaults {
    fn apply(&self, mut request: parget::Request) -> PyResult<parget::Request> {
        let own: Vec<String> = request.headers().keys().map(|n| n.to_string()).collect();
        for (name, value) in &self.headers {
            if !own.iter().any(|n| n.eq_ignore_ascii_case(name.trim())) {
                request = request
                    .with_header(name, value)
                    .map_err(|e| PyValueError::new_err(e.to_string()))?;
            }
        }
        for &algorithm in &self.digests {
            request = request.with_computed_digest(algorithm);
        }
        Ok(request)
    }
}

/// How one call turns items into the engine's groups.
#[derive(Clone)]
pub(crate) struct Submit {
    pub(crate) defaults: Arc<Defaults>,
    pub(crate) call: Option<Arc<CallProgress>>,
}

impl Submit {
    fn routed(
        &self,
        request: parget::Request,
        tag: Option<Py<PyAny>>,
    ) -> PyResult<parget::Request> {
        let route = Route {
            call: self.call.as_ref().map_or_else(Weak::new, Arc::downgrade),
            tag,
        };
        Ok(self.defaults.apply(request)?.with_tag(Tag::new(route)))
    }

    /// One request of the caller's, with no tag.
    pub(crate) fn single(&self, request: parget::Request) -> PyResult<parget::Group> {
        Ok(parget::Group::new([self.routed(request, None)?]))
    }

    /// An item of a source: a `Request`, a `(url, path)` pair or a `Group`.
    pub(crate) fn item(&self, item: &Bound<'_, PyAny>) -> PyResult<parget::Group> {
        self.marked_item(item).map(|(group, _)| group)
    }

    /// [`Submit::item`], with the tag of a `Group` (its [`GroupMark`]).
    pub(crate) fn marked_item(
        &self,
        item: &Bound<'_, PyAny>,
    ) -> PyResult<(parget::Group, Option<Tag>)> {
        let py = item.py();
        if let Ok(group) = item.cast::<PyGroup>() {
            let group = group.get();
            let requests = group
                .members
                .iter()
                .map(|m| self.routed(m.request.clone(), m.tag.as_ref().map(|t| t.clone_ref(py))))
                .collect::<PyResult<Vec<_>>>()?;
            let mark = Tag::new(GroupMark {
                tag: group.tag.as_ref().map(|t| t.clone_ref(py)),
            });
            let group = parget::Group::new(requests)
                .with_policy(group.policy)
                .with_tag(mark.clone());
            return Ok((group, Some(mark)));
        }
        let Member { request, tag } = member(py, item)?;
        Ok((parget::Group::new([self.routed(request, tag)?]), None))
    }
}

/// A `Request` or a `(url, path)` pair.
fn member(py: Python<'_>, item: &Bound<'_, PyAny>) -> PyResult<Member> {
    if let Ok(request) = item.cast::<PyRequest>() {
        let request = request.get();
        return Ok(Member {
            request: request.inner.clone(),
            tag: request.tag.as_ref().map(|t| t.clone_ref(py)),
        });
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
            "a download is a parget.Request, a parget.Group or a (url, path) pair of a str and a path, not {}",
            item.repr()?
        )))
    };
    let Some((Ok(url), Ok(path))) = pair else {
        return Err(not_a_request()?);
    };
    match (url.extract::<String>(), path.extract::<PathBuf>()) {
        (Ok(url), Ok(path)) => Ok(Member {
            request: build(&url, path, Expect::default())?,
            tag: None,
        }),
        _ => Err(not_a_request()?),
    }
}

/// What a request expects and sends besides its URL and path.
#[derive(Default)]
pub(crate) struct Expect {
    pub digests: Option<Vec<(String, String)>>,
    pub size: Option<u64>,
    pub headers: Vec<(String, String)>,
    pub compute: Vec<Algorithm>,
}

/// A request from its parts, with errors that name the bad part.
pub(crate) fn build(url: &str, path: PathBuf, expect: Expect) -> PyResult<parget::Request> {
    let invalid = |e: parget::Error| PyValueError::new_err(e.to_string());
    let path = no_nul("path", path)?;
    let mut request = parget::Request::new(url, path).map_err(invalid)?;
    for (name, hex) in expect.digests.unwrap_or_default() {
        let digest = parse_digest(&name, &hex).map_err(PyValueError::new_err)?;
        request = request.with_digest(digest);
    }
    if let Some(size) = expect.size {
        request = request.with_size(size);
    }
    for (name, value) in &expect.headers {
        request = request.with_header(name, value).map_err(invalid)?;
    }
    for algorithm in expect.compute {
        request = request.with_computed_digest(algorithm);
    }
    Ok(request)
}

/// A path no file can have: refused with `ValueError` as `open()` does,
/// when the request is made, not when its download fails.
fn no_nul(name: &str, path: PathBuf) -> PyResult<PathBuf> {
    if path.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(PyValueError::new_err(format!(
            "embedded null byte in {name} {:?}",
            path.display().to_string()
        )));
    }
    Ok(path)
}

/// `expected_digests=`: any mapping of hashlib names to hex digests (a
/// dict, a `MappingProxyType`, a `collections.abc.Mapping`), as the stub
/// says.
pub(crate) fn expected_digests(given: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let wrong = || {
        PyTypeError::new_err(format!(
            "expected_digests must be a mapping of hashlib names to hex digests, such as {{\"sha256\": \"...\"}}, not {}",
            given.get_type().name().map_or_else(|_| "this".to_owned(), |n| n.to_string())
        ))
    };
    if let Ok(dict) = given.cast::<PyDict>() {
        return dict
            .iter()
            .map(|(k, v)| entry(&k, &v).ok_or_else(wrong))
            .collect();
    }
    let mapping = given.cast::<PyMapping>().map_err(|_| wrong())?;
    let mut entries = Vec::new();
    for pair in mapping.items()?.iter() {
        let (name, hex) = pair.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>()?;
        entries.push(entry(&name, &hex).ok_or_else(wrong)?);
    }
    Ok(entries)
}

/// One entry of `expected_digests`, when both are strings.
fn entry(name: &Bound<'_, PyAny>, hex: &Bound<'_, PyAny>) -> Option<(String, String)> {
    Some((name.extract().ok()?, hex.extract().ok()?))
}

/// A hashlib name as an algorithm.
fn algorithm(name: &str) -> Result<Algorithm, String> {
    Algorithm::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
        format!(
            "unknown digest algorithm '{name}': parget computes {}",
            known.join(", ")
        )
    })
}

/// `digests=`: hashlib names (one name alone is taken as a list of one).
pub(crate) fn algorithms(names: &Bound<'_, PyAny>) -> PyResult<Vec<Algorithm>> {
    let names: Vec<String> = match names.extract::<String>() {
        Ok(one) => vec![one],
        Err(_) => names.extract().map_err(|_| {
            PyTypeError::new_err("digests must be hashlib names, such as (\"sha256\",)")
        })?,
    };
    let mut out = Vec::new();
    for name in names {
        let algorithm = algorithm(&name).map_err(PyValueError::new_err)?;
        if !out.contains(&algorithm) {
            out.push(algorithm);
        }
    }
    Ok(out)
}

/// One `expected_digests` entry: a hashlib name and a hex value.
fn parse_digest(name: &str, hex: &str) -> Result<Digest, String> {
    let algorithm = algorithm(name)?;
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
