//! Transports: how bytes are fetched for a URL scheme.
//!
//! A [`Transport`] opens a URL at a byte offset and hands back a stream of
//! body chunks. The engine does the rest (limits, retries, writing, hashing),
//! so a user-supplied scheme gets all of it for free.

use std::pin::Pin;

use ::http::{HeaderMap, Method};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::Stream;
use url::Url;

use crate::error::Error;

pub mod file;
pub mod http;

pub use crate::limit::Throttle;

/// The validators that tell whether a resource changed between two requests.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Validator {
    /// The `ETag`, as sent (quotes included); weak tags are kept but never
    /// used to resume.
    pub etag: Option<String>,
    /// The `Last-Modified` date, as sent.
    pub last_modified: Option<String>,
}

impl Validator {
    /// The value for `If-Range`: a strong ETag, else the Last-Modified date.
    /// `None` means a resume cannot be validated, so it must not be tried.
    pub fn if_range(&self) -> Option<&str> {
        match &self.etag {
            Some(tag) if !tag.starts_with("W/") => Some(tag),
            _ => self.last_modified.as_deref(),
        }
    }

    /// True when an answer carrying `served` is proven to be the version
    /// these validators name, as a server's `If-Range` check would
    /// conclude: the same strong ETag, or, where these have no strong
    /// ETag, the same Last-Modified date. An answer without them (a 206
    /// must repeat the validators its 200 had), a strong tag turned weak,
    /// and validators with nothing to check prove nothing.
    pub fn same_version(&self, served: &Validator) -> bool {
        self.if_range()
            .is_some_and(|ours| served.if_range() == Some(ours))
    }

    /// The validator compared, for messages: `ETag "x"`, `Last-Modified
    /// DATE` or `no validator`.
    pub(crate) fn describe(&self) -> String {
        match (&self.etag, self.if_range()) {
            (Some(tag), Some(used)) if tag == used => format!("ETag {tag}"),
            (_, Some(date)) => format!("Last-Modified {date}"),
            (Some(tag), None) => format!("only the weak ETag {tag}"),
            (None, None) => "no validator".to_owned(),
        }
    }
}

/// What the engine asks a transport for.
#[derive(Clone, Copy, Debug)]
pub struct OpenRequest<'a> {
    /// The URL.
    pub url: &'a Url,
    /// The first byte wanted (0 for the whole resource).
    pub offset: u64,
    /// One past the last byte wanted, for a bounded range (a segment);
    /// `None` for everything from `offset` to the end.
    pub end: Option<u64>,
    /// When asking for a range: the validator the earlier bytes came with.
    /// The transport must serve the range only when the resource still
    /// matches it, and otherwise serve the whole resource from 0.
    pub validator: Option<&'a Validator>,
    /// The method (`GET` unless the request has a body).
    pub method: &'a Method,
    /// Headers to send besides the transport's own.
    pub headers: &'a HeaderMap,
    /// The body to send, if any.
    pub body: Option<&'a Bytes>,
    /// The byte-rate limits the body must be held to (the download's own,
    /// shared by its connections, and the downloader's): a transport
    /// passes its body through [`Throttle::wrap`]. `None`: no limit.
    pub throttle: Option<&'a Throttle>,
}

impl OpenRequest<'_> {
    /// True when a byte range is asked for rather than the whole resource.
    pub fn is_range(&self) -> bool {
        self.offset > 0 || self.end.is_some()
    }
}

/// A stream of body chunks.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send>>;

/// An opened resource, ready to stream.
pub struct Opened {
    /// The status of the answer (200, or 206 for a range; `file://` says
    /// the same).
    pub status: u16,
    /// The URL that answered, after redirects.
    pub final_url: Url,
    /// The answer's headers (empty where the scheme has none).
    pub headers: HeaderMap,
    /// Where the body starts in the resource: the asked offset, or 0 when
    /// the transport serves the whole resource instead.
    pub offset: u64,
    /// The number of body bytes announced (for HTTP, Content-Length), if known.
    pub body_len: Option<u64>,
    /// The size of the whole resource, if known.
    pub total: Option<u64>,
    /// The resource's validators.
    pub validator: Validator,
    /// True when the transport can serve byte ranges of this resource.
    pub ranges: bool,
    /// The body.
    pub body: BodyStream,
}

/// Fetches bytes for one or more URL schemes.
pub trait Transport: Send + Sync {
    /// Opens `request.url` at `request.offset`.
    fn open<'a>(&'a self, request: OpenRequest<'a>) -> BoxFuture<'a, Result<Opened, Error>>;
}

#[cfg(test)]
mod validator_tests {
    use super::Validator;

    fn v(etag: Option<&str>, date: Option<&str>) -> Validator {
        Validator {
            etag: etag.map(Into::into),
            last_modified: date.map(Into::into),
        }
    }

    #[test]
    fn versions_are_compared_as_if_range_would() {
        let (a, b, w) = (Some("\"a\""), Some("\"b\""), Some("W/\"a\""));
        let (d1, d2) = (
            Some("Mon, 01 Jan 2024 00:00:00 GMT"),
            Some("Tue, 02 Jan 2024 00:00:00 GMT"),
        );
        // (held, served, same version)
        let cases = [
            (v(a, d1), v(a, d1), true),
            (v(a, d1), v(a, d2), true),
            (v(a, None), v(a, None), true),
            (v(a, d1), v(b, d1), false),
            // A strong tag turned weak, or dropped, proves nothing.
            (v(a, d1), v(w, d1), false),
            (v(a, d1), v(None, d1), false),
            (v(a, d1), v(None, None), false),
            // Without a strong tag the date decides, on both sides.
            (v(None, d1), v(None, d1), true),
            (v(w, d1), v(Some("W/\"b\""), d1), true),
            (v(None, d1), v(None, d2), false),
            (v(None, d1), v(None, None), false),
            (v(None, d1), v(a, d1), false),
            // Nothing to compare proves nothing.
            (v(None, None), v(None, None), false),
            (v(w, None), v(w, None), false),
        ];
        for (held, served, same) in cases {
            assert_eq!(held.same_version(&served), same, "{held:?} / {served:?}");
        }
    }

    #[test]
    fn the_compared_validator_is_named() {
        assert_eq!(v(Some("\"a\""), Some("d")).describe(), "ETag \"a\"");
        assert_eq!(v(Some("W/\"a\""), Some("d")).describe(), "Last-Modified d");
        assert_eq!(
            v(Some("W/\"a\""), None).describe(),
            "only the weak ETag W/\"a\""
        );
        assert_eq!(v(None, None).describe(), "no validator");
    }
}
