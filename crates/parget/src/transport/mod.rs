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
