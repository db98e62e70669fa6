//! What to download: a URL, where to put it, and what the bytes must be.

use std::path::{Path, PathBuf};

use url::Url;

use crate::error::{Error, ErrorKind};
use crate::verify::Digest;

/// Where the bytes of a download go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A file: the bytes go to `PATH.part` and are renamed to `PATH` once
    /// every check passed.
    File(PathBuf),
    /// Memory: the bytes come back in the report ([`crate::Report::data`]).
    Memory,
}

impl Destination {
    /// The file's path, or `None` for memory.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Destination::File(path) => Some(path),
            Destination::Memory => None,
        }
    }
}

/// One download: a URL, its destination, and the size and digests the
/// bytes must have.
///
/// ```
/// use parget::{Request, verify::Digest};
/// let request = Request::new("https://example.com/file.iso", "out/file.iso")?
///     .with_size(1024)
///     .with_digest("sha256=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".parse::<Digest>()?);
/// assert_eq!(request.expected_size(), Some(1024));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Request {
    url: Url,
    mirrors: Vec<Url>,
    destination: Destination,
    expected_size: Option<u64>,
    digests: Vec<Digest>,
}

impl Request {
    /// A request for `url`, saved at `path`. Fails when the URL does not
    /// parse; the scheme is checked when the download starts.
    pub fn new(url: &str, path: impl Into<PathBuf>) -> Result<Request, Error> {
        Ok(Request::from_url(
            parse_url(url)?,
            Destination::File(path.into()),
        ))
    }

    /// A request whose bytes are handed back in memory
    /// ([`crate::Report::data`]) instead of written to a file; segmenting,
    /// verification and limits apply as for files.
    pub fn new_in_memory(url: &str) -> Result<Request, Error> {
        Ok(Request::from_url(parse_url(url)?, Destination::Memory))
    }

    /// A request saved in `dir` under the name the URL suggests (its last
    /// path segment made safe, see [`crate::naming`]), or `index.html`.
    pub fn new_in_dir(url: &str, dir: impl AsRef<Path>) -> Result<Request, Error> {
        let url = parse_url(url)?;
        let name = crate::naming::name_from_url(&url)
            .unwrap_or_else(|| crate::naming::FALLBACK_NAME.to_owned());
        let path = dir.as_ref().join(name);
        Ok(Request::from_url(url, Destination::File(path)))
    }

    /// A request for an already parsed URL.
    pub fn from_url(url: Url, destination: Destination) -> Request {
        Request {
            url,
            mirrors: Vec::new(),
            destination,
            expected_size: None,
            digests: Vec::new(),
        }
    }

    /// Adds a mirror: another URL serving the same bytes. Segments are
    /// spread over the URL and its mirrors; a mirror that fails or serves
    /// another size or version is dropped and its ranges go to the others.
    pub fn with_mirror(mut self, url: &str) -> Result<Request, Error> {
        let parsed = parse_url(url)?;
        if parsed != self.url && !self.mirrors.contains(&parsed) {
            self.mirrors.push(parsed);
        }
        Ok(self)
    }

    /// Requires the download to be exactly `size` bytes.
    pub fn with_size(mut self, size: u64) -> Request {
        self.expected_size = Some(size);
        self
    }

    /// Requires the bytes to have `digest` (several algorithms may be given;
    /// each is computed while the bytes stream).
    pub fn with_digest(mut self, digest: Digest) -> Request {
        if !self.digests.contains(&digest) {
            self.digests.push(digest);
        }
        self
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The mirrors given besides [`Request::url`].
    pub fn mirrors(&self) -> &[Url] {
        &self.mirrors
    }

    /// Where the bytes go.
    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// The destination file's path, or `None` for a download to memory.
    pub fn path(&self) -> Option<&Path> {
        self.destination.path()
    }

    /// The size the bytes must have, if given.
    pub fn expected_size(&self) -> Option<u64> {
        self.expected_size
    }

    /// The digests the bytes must have.
    pub fn digests(&self) -> &[Digest] {
        &self.digests
    }

    /// True when a size or digest was given to check the result against.
    pub fn has_expectations(&self) -> bool {
        self.expected_size.is_some() || !self.digests.is_empty()
    }
}

/// Parses a URL, with an error that names it.
fn parse_url(url: &str) -> Result<Url, Error> {
    Url::parse(url).map_err(|e| {
        Error::new(
            ErrorKind::InvalidRequest(format!("`{url}` is not a URL")),
            None,
        )
        .with_source(e)
    })
}
