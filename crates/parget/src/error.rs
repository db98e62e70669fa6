//! The one public error type.
//!
//! [`Error`] is opaque and cheap to move (one box). Its [`ErrorKind`] tells
//! validation failures, HTTP statuses, timeouts and I/O apart, and every
//! message names the URL (and, for validation, the expected and actual
//! values), so a line of output is enough to act on. URLs are stored with
//! their passwords replaced ([`crate::redact`]), so no message, `url()` or
//! `Debug` output of an error shows a credential.

use std::error::Error as StdError;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::verify::{Algorithm, Digest};

type BoxError = Box<dyn StdError + Send + Sync>;

/// A failed download, or a request that could not be started.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    url: Option<String>,
    source: Option<BoxError>,
}

/// What went wrong. Matched by library users who need more than the
/// predicates on [`Error`].
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The server answered with a status that is not a success.
    Status {
        /// The HTTP status code.
        code: u16,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// The connection could not be made (refused, unreachable, TLS handshake).
    Connect,
    /// Connecting took longer than the connect timeout.
    ConnectTimeout,
    /// The TLS handshake failed on the server's certificate: retrying
    /// cannot help.
    Tls,
    /// No byte of the body arrived for the whole idle timeout.
    IdleTimeout(Duration),
    /// The answer's status line and headers were not all in within the
    /// idle timeout (none came, or they trickled in).
    AnswerTimeout(Duration),
    /// The transfer stayed below the lowest speed limit for a whole window.
    TooSlow {
        /// The configured limit, bytes per second.
        limit: u64,
        /// The rate measured over the window, bytes per second.
        rate: u64,
    },
    /// The connection broke while the body was streaming.
    Transfer,
    /// The body ended before its announced length.
    Truncated {
        /// Bytes announced by the server.
        expected: u64,
        /// Bytes received.
        received: u64,
    },
    /// The server's answer cannot be used as it is: an invalid header, a
    /// Content-Range that is not what was asked, a body longer than announced.
    Protocol(String),
    /// More redirects than allowed.
    TooManyRedirects(usize),
    /// A redirect from `https` to plain `http` (to the URL given, its
    /// password hidden), refused unless insecure redirects are allowed:
    /// the rest of the transfer would be readable and alterable on the way.
    InsecureRedirect(String),
    /// The proxy setting cannot be used, or the proxy refused the request
    /// (it wants credentials, or other ones).
    Proxy(String),
    /// The size differs from the expected size.
    SizeMismatch {
        /// The expected size in bytes.
        expected: u64,
        /// The size received or announced.
        actual: u64,
    },
    /// A digest differs from the expected one.
    DigestMismatch {
        /// The expected digest.
        expected: Digest,
        /// The digest of the bytes received.
        actual: Digest,
    },
    /// A local file operation failed.
    Io(PathBuf),
    /// The URL's scheme has no transport.
    UnsupportedScheme(String),
    /// The URL or request is malformed.
    InvalidRequest(String),
    /// The destination exists and may not be replaced.
    DestinationExists(PathBuf),
    /// Another download of the same run already writes to this destination.
    DuplicateDestination(PathBuf),
    /// A `.part` file left by an earlier run belongs to another download.
    ResumeRefused(String),
    /// The download was cancelled; its `.part` file is kept.
    Cancelled,
    /// A hook (see [`crate::hooks`]) refused a response or the result.
    Rejected(String),
    /// A piece of the file does not match its hash (Metalink piece
    /// hashes): its bytes were not written, and another attempt (from
    /// another mirror, when there is one) fetches them again.
    PieceMismatch {
        /// The piece's index, from 0.
        piece: u64,
        /// Its bytes in the file.
        range: std::ops::Range<u64>,
        /// The hash it failed.
        algorithm: Algorithm,
    },
}

impl Error {
    /// Makes an error of `kind` about `url` (kept with its password
    /// replaced).
    pub fn new(kind: ErrorKind, url: Option<&str>) -> Error {
        Error {
            inner: Box::new(Inner {
                kind,
                url: url.map(redacted),
                source: None,
            }),
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Error {
        self.inner.source = Some(source.into());
        self
    }

    /// Sets the URL the error is about, when it has none yet (kept with
    /// its password replaced).
    pub fn with_url(mut self, url: &str) -> Error {
        if self.inner.url.is_none() {
            self.inner.url = Some(redacted(url));
        }
        self
    }

    /// Puts `what` before the chain of causes (`kind: what: cause`): where
    /// the failure happened, when the kind alone would mislead.
    pub(crate) fn context(mut self, what: String) -> Error {
        let source = self.inner.source.take();
        self.inner.source = Some(Box::new(Context { what, source }));
        self
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::new(ErrorKind::Io(path.to_owned()), None).with_source(source)
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// The URL the error is about, if any, its password replaced by
    /// [`crate::redact::REDACTED`].
    pub fn url(&self) -> Option<&str> {
        self.inner.url.as_deref()
    }

    /// The HTTP status, when the server answered with an error status.
    pub fn status(&self) -> Option<u16> {
        match self.inner.kind {
            ErrorKind::Status { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The server's `Retry-After`, when it sent one with an error status.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.inner.kind {
            ErrorKind::Status { retry_after, .. } => retry_after,
            _ => None,
        }
    }

    /// True for the connect timeout, the idle timeout and the lowest speed limit.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.inner.kind,
            ErrorKind::ConnectTimeout
                | ErrorKind::IdleTimeout(_)
                | ErrorKind::AnswerTimeout(_)
                | ErrorKind::TooSlow { .. }
        )
    }

    /// True when a digest of the received bytes differs from the expected one.
    pub fn is_digest_mismatch(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::DigestMismatch { .. })
    }

    /// True when the size differs from the expected size.
    pub fn is_size_mismatch(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::SizeMismatch { .. })
    }

    /// True for a validation failure: the bytes are not the expected ones.
    pub fn is_validation(&self) -> bool {
        self.is_digest_mismatch() || self.is_size_mismatch()
    }

    /// True when a local file operation failed.
    pub fn is_io(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Io(_))
    }

    /// True when the download was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Cancelled)
    }

    /// True when another attempt may succeed: connection trouble, timeouts,
    /// truncated bodies, and the statuses [`crate::retry::is_retryable_status`]
    /// names. Validation failures, other statuses and local errors are final.
    pub fn is_retryable(&self) -> bool {
        match &self.inner.kind {
            ErrorKind::Status { code, .. } => crate::retry::is_retryable_status(*code),
            ErrorKind::Connect
            | ErrorKind::ConnectTimeout
            | ErrorKind::IdleTimeout(_)
            | ErrorKind::AnswerTimeout(_)
            | ErrorKind::TooSlow { .. }
            | ErrorKind::Transfer
            | ErrorKind::Truncated { .. }
            | ErrorKind::PieceMismatch { .. } => true,
            _ => false,
        }
    }

    /// Whether the text of a cause in the chain holds `needle`
    /// (lower-case).
    pub(crate) fn cause_says(&self, needle: &str) -> bool {
        StdError::source(self).is_some_and(|cause| chain_text(cause).contains(needle))
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.kind {
            // Only a proxy answers 407.
            ErrorKind::Status { code: 407, .. } => {
                write!(f, "the proxy answered HTTP 407: it wants credentials")
            }
            ErrorKind::Status { code, .. } => write!(f, "server answered HTTP {code}"),
            ErrorKind::Connect => write!(f, "connection failed"),
            ErrorKind::ConnectTimeout => write!(f, "connect timed out"),
            // rustls says which: the server's certificate, or an alert
            // (a client certificate wanted or refused, no version or
            // cipher in common).
            // A self-signed certificate made with `openssl req -x509` is
            // a CA's (basicConstraints CA:TRUE): curl takes it as the
            // server's own with `--cacert`, rustls (as browsers) does not,
            // and its own words for that are an enum's name.
            ErrorKind::Tls if self.cause_says("causedasendentity") => write!(
                f,
                "TLS certificate not accepted: the server presents a CA certificate as its own \
                 (as a self-signed one made with `openssl req -x509` is); it needs one that CA \
                 signed"
            ),
            ErrorKind::Tls if self.cause_says("unknownissuer") => write!(
                f,
                "TLS certificate not accepted: it is not signed by a trusted CA"
            ),
            ErrorKind::Tls if self.cause_says("invalid peer certificate") => {
                write!(f, "TLS certificate not accepted")
            }
            ErrorKind::Tls => write!(f, "TLS handshake refused"),
            ErrorKind::IdleTimeout(idle) => {
                write!(f, "no data received for {:.1} s (idle timeout)", idle.as_secs_f64())
            }
            ErrorKind::AnswerTimeout(idle) => write!(
                f,
                "no complete answer (status line and headers) within {:.1} s (idle timeout)",
                idle.as_secs_f64()
            ),
            ErrorKind::TooSlow { limit, rate } => write!(
                f,
                "transfer too slow: {rate} B/s, below the lowest speed limit of {limit} B/s"
            ),
            ErrorKind::Transfer => write!(f, "transfer interrupted"),
            ErrorKind::Truncated { expected, received } => write!(
                f,
                "body ended early: received {received} of {expected} announced bytes"
            ),
            ErrorKind::Protocol(what) => write!(f, "unusable response: {}", shown(what)),
            ErrorKind::TooManyRedirects(max) => write!(f, "more than {max} redirects"),
            ErrorKind::InsecureRedirect(to) => {
                write!(f, "refused a redirect from https to plain http ({to})")
            }
            ErrorKind::Proxy(what) => write!(f, "proxy: {}", shown(what)),
            ErrorKind::SizeMismatch { expected, actual } => {
                write!(f, "size mismatch: expected {expected} bytes, got {actual}")
            }
            ErrorKind::DigestMismatch { expected, actual } => write!(
                f,
                "{} mismatch: expected {}, got {}",
                expected.algorithm(),
                expected.to_hex(),
                actual.to_hex()
            ),
            ErrorKind::Io(path) => write!(f, "{}: file operation failed", path.display()),
            ErrorKind::UnsupportedScheme(scheme) => write!(
                f,
                "unsupported URL scheme `{scheme}` (parget speaks http, https and file)"
            ),
            ErrorKind::InvalidRequest(what) => write!(f, "invalid request: {}", shown(what)),
            ErrorKind::DestinationExists(path) => write!(
                f,
                "{} exists and nothing was given to check it against; it is replaced only when overwriting is allowed",
                path.display()
            ),
            ErrorKind::DuplicateDestination(path) => write!(
                f,
                "{} is already the destination of another download in this run",
                path.display()
            ),
            ErrorKind::ResumeRefused(why) => write!(f, "cannot resume: {}", shown(why)),
            ErrorKind::Cancelled => write!(f, "cancelled (any partial file is kept for a resume)"),
            ErrorKind::Rejected(why) => write!(f, "rejected: {}", shown(why)),
            ErrorKind::PieceMismatch {
                piece,
                range,
                algorithm,
            } => write!(
                f,
                "piece {piece} (bytes {}-{}) does not match its {algorithm}",
                range.start,
                range.end.saturating_sub(1)
            ),
        }
    }

    /// The algorithm of a digest mismatch.
    pub fn mismatched_algorithm(&self) -> Option<Algorithm> {
        match &self.inner.kind {
            ErrorKind::DigestMismatch { expected, .. } => Some(expected.algorithm()),
            _ => None,
        }
    }
}

/// The text of `error` and of every cause below it, lower-cased, each
/// followed by `: `: where a library tells a cause only in words.
pub(crate) fn chain_text(error: &(dyn StdError + 'static)) -> String {
    let mut text = String::new();
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(cause) = source {
        text.push_str(&cause.to_string().to_ascii_lowercase());
        text.push_str(": ");
        source = cause.source();
    }
    text
}

/// A place in a chain of causes: see [`Error::context`].
#[derive(Debug)]
struct Context {
    what: String,
    source: Option<BoxError>,
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shown(&self.what))
    }
}

impl StdError for Context {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

/// `url` as an error keeps it: its password replaced.
fn redacted(url: &str) -> String {
    crate::redact::redact_url_text(url).into_owned()
}

/// A free-text part of a message (it may quote URLs, from a control file
/// or a server), every URL's password replaced.
fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    crate::redact::redact_urls_in(text)
}

impl fmt::Display for Error {
    /// The URL and what went wrong. The alternate form (`{:#}`) appends
    /// the chain of causes on the same line (`…: connection refused`), for
    /// a one-line report; the plain form leaves them to
    /// [`std::error::Error::source`], so reporters that walk the chain do
    /// not print a cause twice.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(url) = &self.inner.url {
            write!(f, "{url}: ")?;
        }
        self.describe(f)?;
        if f.alternate() {
            let mut source = self.source();
            while let Some(cause) = source {
                write!(f, ": {cause}")?;
                source = cause.source();
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("url", &self.inner.url)
            .field("source", &self.inner.source)
            .finish()
    }
}

impl StdError for Error {
    /// The underlying I/O, HTTP or TLS error, when there is one.
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_url_algorithm_expected_and_actual() {
        let expected = crate::verify::digest_of(Algorithm::Sha256, b"a");
        let actual = crate::verify::digest_of(Algorithm::Sha256, b"b");
        let err = Error::new(
            ErrorKind::DigestMismatch {
                expected: expected.clone(),
                actual: actual.clone(),
            },
            Some("http://h/f"),
        );
        let text = err.to_string();
        assert!(text.starts_with("http://h/f: sha256 mismatch"), "{text}");
        assert!(
            text.contains(&expected.to_hex()) && text.contains(&actual.to_hex()),
            "{text}"
        );
        assert!(err.is_digest_mismatch() && err.is_validation() && !err.is_retryable());
        assert_eq!(err.mismatched_algorithm(), Some(Algorithm::Sha256));
    }

    #[test]
    fn urls_are_kept_without_their_passwords() {
        let error = Error::new(ErrorKind::Connect, Some("http://u:s3cret@h/f"));
        assert_eq!(error.url(), Some("http://u:***@h/f"));
        let quoted = Error::new(
            ErrorKind::ResumeRefused("the .part is of `http://u:s3cret@h/other`".into()),
            None,
        );
        assert!(!quoted.to_string().contains("s3cret"), "{quoted}");
        let later = Error::new(ErrorKind::Connect, None).with_url("https://a:b@h/");
        assert_eq!(later.url(), Some("https://a:***@h/"));
        for shown in [
            error.to_string(),
            format!("{error:#}"),
            format!("{error:?}"),
            later.to_string(),
        ] {
            assert!(
                !shown.contains("s3cret") && !shown.contains(":b@"),
                "{shown}"
            );
        }
    }

    #[test]
    fn predicates() {
        let e503 = Error::new(
            ErrorKind::Status {
                code: 503,
                retry_after: None,
            },
            None,
        );
        assert!(e503.is_retryable() && e503.status() == Some(503));
        let e404 = Error::new(
            ErrorKind::Status {
                code: 404,
                retry_after: None,
            },
            None,
        );
        assert!(!e404.is_retryable());
        let idle = Error::new(ErrorKind::IdleTimeout(Duration::from_secs(1)), None);
        assert!(idle.is_timeout() && idle.is_retryable());
        let tls = |cause: &str| {
            Error::new(ErrorKind::Tls, None)
                .with_source(std::io::Error::other(cause.to_owned()))
                .to_string()
        };
        assert_eq!(
            tls("invalid peer certificate: UnknownIssuer"),
            "TLS certificate not accepted: it is not signed by a trusted CA"
        );
        assert_eq!(
            tls("invalid peer certificate: BadSignature"),
            "TLS certificate not accepted"
        );
        assert!(
            tls("invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))")
                .contains("presents a CA certificate as its own")
        );
        assert_eq!(
            tls("received fatal alert: ProtocolVersion"),
            "TLS handshake refused"
        );
        let answer = Error::new(ErrorKind::AnswerTimeout(Duration::from_secs(2)), None);
        assert!(answer.is_timeout() && answer.is_retryable());
        assert_eq!(
            answer.to_string(),
            "no complete answer (status line and headers) within 2.0 s (idle timeout)"
        );
        let io = Error::io(Path::new("/x"), std::io::Error::other("disk full"));
        assert!(io.is_io() && !io.is_retryable());
        assert_eq!(io.to_string(), "/x: file operation failed");
        assert_eq!(format!("{io:#}"), "/x: file operation failed: disk full");
        assert_eq!(
            io.source().map(ToString::to_string).as_deref(),
            Some("disk full"),
            "the cause is the source"
        );
    }
}
