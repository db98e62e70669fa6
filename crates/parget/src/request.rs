//! What to download: a URL, where to put it, and what the bytes must be.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, USER_AGENT};
use http::Method;
use url::Url;

use crate::error::{Error, ErrorKind};
use crate::hooks::{FinishHook, ResponseHook, Tag};
use crate::input::PieceHashes;
use crate::retry::RetryPolicy;
use crate::verify::{Algorithm, Digest};

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
#[derive(Clone)]
pub struct Request {
    url: Url,
    mirrors: Vec<Url>,
    destination: Destination,
    expected_size: Option<u64>,
    digests: Vec<Digest>,
    pieces: Option<Arc<PieceHashes>>,
    /// The file name came from the URL ([`Request::new_in_dir`]), so a
    /// server's `Content-Disposition` may replace it when the downloader
    /// allows that.
    named_by_url: bool,
    settings: Settings,
}

/// What a request may set for itself, over the downloader's settings.
#[derive(Clone, Default)]
pub(crate) struct Settings {
    pub method: Method,
    pub body: Option<Bytes>,
    pub headers: HeaderMap,
    pub idle_timeout: Option<Duration>,
    pub retry: Option<RetryPolicy>,
    pub tag: Option<Tag>,
    /// Algorithms computed without an expected value.
    pub compute: Vec<Algorithm>,
    pub response_hook: Option<ResponseHook>,
    pub finish_hook: Option<FinishHook>,
    /// Take the file name from `Content-Disposition`: `Some` when the
    /// request says so, else the downloader decides.
    pub content_disposition: Option<bool>,
    /// The directory the destination is confined to
    /// ([`Request::confined_to`]).
    pub root: Option<PathBuf>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("url", &crate::redact::redact_url(&self.url))
            .field("mirrors", &self.mirrors.len())
            .field("destination", &self.destination)
            .field("expected_size", &self.expected_size)
            .field("digests", &self.digests)
            .field("method", &self.settings.method)
            .field("headers", &self.settings.headers.len())
            .field("tag", &self.settings.tag.is_some())
            .finish_non_exhaustive()
    }
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
        let mut request = Request::from_url(url, Destination::File(path));
        request.named_by_url = true;
        Ok(request)
    }

    /// A request for an already parsed URL.
    pub fn from_url(url: Url, destination: Destination) -> Request {
        Request {
            url,
            mirrors: Vec::new(),
            destination,
            expected_size: None,
            digests: Vec::new(),
            pieces: None,
            named_by_url: false,
            settings: Settings::default(),
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

    /// Adds every URL of `urls` as a mirror, as [`Request::with_mirror`]
    /// does one; duplicates are dropped in one pass, however many there
    /// are (a Metalink `<file>` may list thousands).
    pub fn with_mirrors<S: AsRef<str>>(
        mut self,
        urls: impl IntoIterator<Item = S>,
    ) -> Result<Request, Error> {
        let mut seen: std::collections::HashSet<Url> = self.mirrors.iter().cloned().collect();
        seen.insert(self.url.clone());
        for url in urls {
            let parsed = parse_url(url.as_ref())?;
            if seen.insert(parsed.clone()) {
                self.mirrors.push(parsed);
            }
        }
        Ok(self)
    }

    /// Confines the destination to the directory `root`. When the
    /// download claims its part file, the directories between `root` and
    /// the file are made and opened one at a time without following
    /// symbolic links: a link planted on the way fails the download naming
    /// it. From then on the part file, the control file and the rename
    /// into place go through the directory so opened, so a link planted
    /// while the download runs changes nothing: the file never goes
    /// outside `root`. A destination that is not inside `root` (compared
    /// as absolute paths without `.` components) fails the download;
    /// `root` itself may be a link. The CLI confines every file to its
    /// output directory.
    pub fn confined_to(mut self, root: impl Into<PathBuf>) -> Request {
        self.settings.root = Some(root.into());
        self
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

    /// Requires each piece of the file to match its hash (Metalink
    /// `<pieces>`): a piece is checked when its last byte arrives, before
    /// any of it is written; one that fails is fetched again (from another
    /// mirror, and a mirror that serves bad pieces twice is dropped), and a
    /// resume keeps only held pieces whose hash matches.
    pub fn with_piece_hashes(mut self, pieces: PieceHashes) -> Request {
        self.pieces = Some(Arc::new(pieces));
        self
    }

    /// The piece hashes, if given.
    pub fn piece_hashes(&self) -> Option<&Arc<PieceHashes>> {
        self.pieces.as_ref()
    }

    /// Computes the digest in `algorithm` while the bytes stream, with no
    /// value to check it against: it comes back on the report
    /// ([`crate::Report::digests`]) beside the expected ones. Costs one
    /// more hash of the bytes, on the hashing thread.
    pub fn with_computed_digest(mut self, algorithm: Algorithm) -> Request {
        if !self.settings.compute.contains(&algorithm) {
            self.settings.compute.push(algorithm);
        }
        self
    }

    /// Sends the header `name: value` with every request of this download
    /// (an `Authorization`, say). Fails on a name or value HTTP does not
    /// allow (control characters, CR or LF). Headers given several times
    /// are all sent.
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Request, Error> {
        let (name, value) = parse_header(name, value)?;
        self.settings.headers.append(name, value);
        Ok(self)
    }

    /// Sends `user` and `password` with Basic authentication (RFC 7617) to
    /// the URL's origin (scheme, host and port) and the mirrors', replacing
    /// an `Authorization` header given before. The credentials are never
    /// sent to another origin a server redirects to, and never shown.
    /// Fails when they hold CR, LF or other control characters.
    pub fn with_basic_auth(mut self, user: &str, password: &str) -> Result<Request, Error> {
        let value = basic_auth_value(user, password)?;
        self.settings.headers.insert(AUTHORIZATION, value);
        Ok(self)
    }

    /// Lets the server name the file: when its answer carries a
    /// `Content-Disposition` with a file name, that name, made safe
    /// ([`crate::content_disposition`]), replaces the destination's file
    /// name in the same directory. It costs a `HEAD` request before the
    /// download. A name that exists already fails the download unless
    /// overwriting is allowed. Default: what
    /// [`crate::DownloaderBuilder::content_disposition`] says, for
    /// requests named by their URL ([`Request::new_in_dir`]).
    pub fn with_content_disposition(mut self, yes: bool) -> Request {
        self.settings.content_disposition = Some(yes);
        self
    }

    /// Whether this request takes its name from `Content-Disposition`,
    /// given the downloader's setting `default`.
    pub(crate) fn wants_content_disposition(&self, default: bool) -> bool {
        matches!(self.destination, Destination::File(_))
            && self
                .settings
                .content_disposition
                .unwrap_or(default && self.named_by_url)
    }

    /// This request saved at `path` instead (a name a server chose).
    pub(crate) fn with_path(mut self, path: PathBuf) -> Request {
        self.destination = Destination::File(path);
        self
    }

    /// The `User-Agent` of this download, instead of the downloader's.
    pub fn with_user_agent(mut self, agent: &str) -> Result<Request, Error> {
        self.settings.headers.remove(USER_AGENT);
        self.with_header(USER_AGENT.as_str(), agent)
    }

    /// Sends `body` with `method` (a `POST` to a listing API, say) instead
    /// of a bodiless `GET`. Such a download is one stream: it is neither
    /// split nor continued by range, and a failed attempt sends the body
    /// again, so use it for requests that may be repeated.
    pub fn with_body(mut self, method: Method, body: impl Into<Bytes>) -> Request {
        self.settings.method = method;
        self.settings.body = Some(body.into());
        self
    }

    /// The idle timeout of this download, instead of the downloader's.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Request {
        self.settings.idle_timeout = Some(timeout);
        self
    }

    /// The retry policy of this download, instead of the downloader's.
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Request {
        self.settings.retry = Some(policy);
        self
    }

    /// Attaches `tag`; it comes back on the download's progress and report.
    pub fn with_tag(mut self, tag: Tag) -> Request {
        self.settings.tag = Some(tag);
        self
    }

    /// Calls `hook` with each response of this download before its body
    /// is used (after the downloader's own hook, if it has one); an `Err`
    /// fails the download and nothing of that response is written.
    pub fn with_response_hook(mut self, hook: ResponseHook) -> Request {
        self.settings.response_hook = Some(hook);
        self
    }

    /// Calls `hook` once the download's size and digests are verified,
    /// before it is put in place (after the downloader's own hook, if it
    /// has one); an `Err` fails the download and discards the bytes.
    pub fn with_finish_hook(mut self, hook: FinishHook) -> Request {
        self.settings.finish_hook = Some(hook);
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

    /// The algorithms of [`Request::with_computed_digest`].
    pub fn computed_digests(&self) -> &[Algorithm] {
        &self.settings.compute
    }

    /// Every algorithm the download hashes: the expected digests' first,
    /// then the computed ones not among them.
    pub(crate) fn algorithms(&self) -> Vec<Algorithm> {
        let mut algorithms: Vec<Algorithm> = self.digests.iter().map(Digest::algorithm).collect();
        for &algorithm in &self.settings.compute {
            if !algorithms.contains(&algorithm) {
                algorithms.push(algorithm);
            }
        }
        algorithms
    }

    /// True when a size or digest was given to check the result against.
    pub fn has_expectations(&self) -> bool {
        self.expected_size.is_some() || !self.digests.is_empty()
    }

    /// The headers sent with this download's requests.
    pub fn headers(&self) -> &HeaderMap {
        &self.settings.headers
    }

    /// The method: `GET` unless a body was given.
    pub fn method(&self) -> &Method {
        &self.settings.method
    }

    /// The tag, if one was attached.
    pub fn tag(&self) -> Option<&Tag> {
        self.settings.tag.as_ref()
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// Parses a URL, with an error that names it (password hidden, control
/// characters escaped: the text may come from a list).
fn parse_url(url: &str) -> Result<Url, Error> {
    Url::parse(url).map_err(|e| {
        let shown = crate::redact::redact_url_text(url);
        Error::new(
            ErrorKind::InvalidRequest(format!(
                "`{}` is not a URL",
                crate::redact::escape_control(&shown)
            )),
            None,
        )
        .with_source(e)
    })
}

/// The `Authorization` value for Basic authentication of `user` and
/// `password`, marked sensitive (HTTP/2 never indexes it).
pub(crate) fn basic_auth_value(user: &str, password: &str) -> Result<HeaderValue, Error> {
    use base64::Engine as _;
    if user.contains(':') {
        return Err(Error::new(
            ErrorKind::InvalidRequest(
                "a Basic authentication user name cannot hold `:` (RFC 7617)".into(),
            ),
            None,
        ));
    }
    if user.chars().chain(password.chars()).any(char::is_control) {
        return Err(Error::new(
            ErrorKind::InvalidRequest("credentials hold control characters (CR, LF, ...)".into()),
            None,
        ));
    }
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut value = HeaderValue::from_str(&format!("Basic {token}")).map_err(|e| {
        Error::new(
            ErrorKind::InvalidRequest("credentials cannot be sent".into()),
            None,
        )
        .with_source(e)
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// A header as HTTP allows it, with an error that names the header.
pub(crate) fn parse_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), Error> {
    let parsed = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|e| {
        Error::new(
            ErrorKind::InvalidRequest(format!(
                "`{}` is not a valid HTTP header name",
                crate::redact::escape_control(name)
            )),
            None,
        )
        .with_source(e)
    })?;
    if PARGETS_OWN.contains(&parsed.as_str()) {
        return Err(Error::new(
            ErrorKind::InvalidRequest(format!(
                "the header `{parsed}` is parget's to send: it frames the request or the ranges parget asks for, and one given would make the server wait for a body or answer what was not asked"
            )),
            None,
        ));
    }
    let value = HeaderValue::from_str(value.trim()).map_err(|e| {
        Error::new(
            ErrorKind::InvalidRequest(format!(
                "the value of header `{parsed}` holds characters HTTP does not allow (control characters, CR or LF)"
            )),
            None,
        )
        .with_source(e)
    })?;
    Ok((parsed, value))
}

/// Headers a user may not give (lower case): the request's framing and
/// connection handling (a `Content-Length: 5` on a GET makes the server
/// wait for five bytes until the idle timeout), and the ranges, which
/// the engine chooses.
const PARGETS_OWN: [&str; 9] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "range",
    "if-range",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_that_frame_the_request_are_refused() {
        for name in [
            "Content-Length",
            "transfer-encoding",
            "Connection",
            "TE",
            "Range",
        ] {
            let error = Request::new("http://a/f", "/tmp/f")
                .unwrap()
                .with_header(name, "5")
                .unwrap_err();
            assert!(
                error.to_string().contains("is parget's to send"),
                "{name}: {error}"
            );
        }
        for name in ["Host", "Accept", "X-Trace", "If-None-Match"] {
            assert!(
                Request::new("http://a/f", "/tmp/f")
                    .unwrap()
                    .with_header(name, "v")
                    .is_ok(),
                "{name}"
            );
        }
        let built = crate::Downloader::builder()
            .header("Content-Length", "5")
            .build();
        assert!(built.is_err(), "the downloader's headers are checked too");
    }

    #[test]
    fn mirrors_are_added_in_order_once_each() {
        let request = Request::new("http://a/f", "/tmp/f")
            .unwrap()
            .with_mirror("http://b/f")
            .unwrap()
            .with_mirrors([
                "http://c/f",
                "http://a/f",
                "http://b/f",
                "http://c/f",
                "http://d/f",
            ])
            .unwrap();
        let mirrors: Vec<&str> = request.mirrors().iter().map(Url::as_str).collect();
        assert_eq!(mirrors, ["http://b/f", "http://c/f", "http://d/f"]);
        assert!(Request::new("http://a/f", "/tmp/f")
            .unwrap()
            .with_mirrors(["http://b/f", "not a url"])
            .is_err());
    }

    #[test]
    fn headers_are_checked_and_kept_in_order() {
        let request = Request::new("http://h/f", "f")
            .unwrap()
            .with_header("Authorization", "Bearer t0k")
            .unwrap()
            .with_header("X-Twice", "1")
            .unwrap()
            .with_header("x-twice", "2")
            .unwrap();
        assert_eq!(request.headers()["authorization"], "Bearer t0k");
        let twice: Vec<_> = request.headers().get_all("x-twice").iter().collect();
        assert_eq!(twice, ["1", "2"]);
        for (name, value) in [
            ("X", "a\r\nInjected: 1"),
            ("X", "a\nb"),
            ("Bad Name", "v"),
            ("", "v"),
        ] {
            let error = Request::new("http://h/f", "f")
                .unwrap()
                .with_header(name, value)
                .unwrap_err();
            assert!(
                matches!(error.kind(), ErrorKind::InvalidRequest(_)),
                "{name:?}: {error}"
            );
        }
    }

    #[test]
    fn a_user_agent_replaces_the_previous_one() {
        let request = Request::new("http://h/f", "f")
            .unwrap()
            .with_user_agent("one/1")
            .unwrap()
            .with_user_agent("two/2")
            .unwrap();
        let agents: Vec<_> = request.headers().get_all(USER_AGENT).iter().collect();
        assert_eq!(agents, ["two/2"]);
    }

    #[test]
    fn computed_digests_follow_the_expected_ones_once_each() {
        let sha = "sha256=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            .parse::<Digest>()
            .unwrap();
        let plain = Request::new("http://h/f", "f").unwrap();
        assert!(plain.algorithms().is_empty());
        let request = plain
            .with_computed_digest(Algorithm::Md5)
            .with_digest(sha)
            .with_computed_digest(Algorithm::Sha256)
            .with_computed_digest(Algorithm::Md5);
        assert_eq!(
            request.computed_digests(),
            [Algorithm::Md5, Algorithm::Sha256]
        );
        assert_eq!(request.algorithms(), [Algorithm::Sha256, Algorithm::Md5]);
        // Nothing to check against: a computed digest is no expectation.
        let computed = Request::new("http://h/f", "f")
            .unwrap()
            .with_computed_digest(Algorithm::Sha256);
        assert!(!computed.has_expectations());
    }

    #[test]
    fn basic_auth_replaces_an_authorization_and_is_checked() {
        let request = Request::new("http://h/f", "f")
            .unwrap()
            .with_header("Authorization", "Bearer old")
            .unwrap()
            .with_basic_auth("Aladdin", "open sesame")
            .unwrap();
        let values: Vec<_> = request.headers().get_all(AUTHORIZATION).iter().collect();
        // RFC 7617's own example.
        assert_eq!(values, ["Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="]);
        assert!(values[0].is_sensitive());
        let pass_with_colon = Request::new("http://h/f", "f")
            .unwrap()
            .with_basic_auth("u", "a:b")
            .unwrap();
        assert_eq!(pass_with_colon.headers()[AUTHORIZATION], "Basic dTphOmI=");
        for (user, password) in [("a:b", "p"), ("u", "p\r\nX: 1"), ("u\n", "p")] {
            assert!(
                Request::new("http://h/f", "f")
                    .unwrap()
                    .with_basic_auth(user, password)
                    .is_err(),
                "{user:?} {password:?}"
            );
        }
    }

    #[test]
    fn content_disposition_applies_to_names_from_urls_unless_said() {
        let by_url = Request::new_in_dir("http://h/a", "d").unwrap();
        let named = Request::new("http://h/a", "d/x").unwrap();
        assert!(by_url.wants_content_disposition(true));
        assert!(!by_url.wants_content_disposition(false));
        assert!(!named.wants_content_disposition(true));
        assert!(named
            .clone()
            .with_content_disposition(true)
            .wants_content_disposition(false));
        assert!(!by_url
            .clone()
            .with_content_disposition(false)
            .wants_content_disposition(true));
        let memory = Request::new_in_memory("http://h/a")
            .unwrap()
            .with_content_disposition(true);
        assert!(!memory.wants_content_disposition(true));
    }

    #[test]
    fn messages_and_debug_hide_passwords() {
        let request = Request::new("http://u:s3cret@h/f", "f").unwrap();
        assert!(!format!("{request:?}").contains("s3cret"));
        let error = Request::new("http://u:s3cret@h:bad\u{1b}[2J/", "f").unwrap_err();
        let text = format!("{error:#}");
        assert!(
            !text.contains("s3cret") && !text.contains('\u{1b}'),
            "{text}"
        );
    }

    #[test]
    fn destinations() {
        let file = Request::new_in_dir("http://h/a/b.iso?x=1", "d").unwrap();
        assert_eq!(file.path(), Some(Path::new("d/b.iso")));
        let memory = Request::new_in_memory("http://h/a").unwrap();
        assert_eq!(memory.destination(), &Destination::Memory);
        assert_eq!(memory.path(), None);
        assert!(Request::new("not a url", "f").is_err());
    }
}
