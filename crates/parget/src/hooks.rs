//! What embedders plug into a download: hooks that see each response
//! before its body is used and each verified result before it is put in
//! place (either may reject), and an opaque tag that comes back on the
//! report.

use std::any::Any;
use std::path::Path;
use std::sync::Arc;

use http::HeaderMap;
use url::Url;

use crate::verify::Digest;

/// A response as the hooks see it: before any byte of its body is written.
#[derive(Debug)]
pub struct ResponseHead<'a> {
    /// The URL asked for (the request's, or a mirror's).
    pub url: &'a Url,
    /// The URL that answered, after redirects.
    pub final_url: &'a Url,
    /// The HTTP status (`file://` answers 200, or 206 for a range).
    pub status: u16,
    /// The response headers.
    pub headers: &'a HeaderMap,
}

/// A verified download as the finish hook sees it: size and digests
/// checked, not yet at its destination.
#[derive(Debug)]
pub struct Verified<'a> {
    /// The URL asked for.
    pub url: &'a Url,
    /// Where the file goes (`None` for a download to memory).
    pub destination: Option<&'a Path>,
    /// Its size in bytes.
    pub size: u64,
    /// Its digests: the algorithms the request expected, then those it
    /// asked to compute ([`crate::Request::with_computed_digest`]).
    pub digests: &'a [Digest],
    /// The headers of the response the bytes came with.
    pub headers: &'a HeaderMap,
}

/// Why a hook refused a response or a result; the download then fails
/// with [`crate::ErrorKind::Rejected`] and nothing is put in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection(pub String);

impl Rejection {
    /// A rejection saying `why`.
    pub fn new(why: impl Into<String>) -> Rejection {
        Rejection(why.into())
    }
}

/// Sees each response (the first of every attempt, and each segment's)
/// before its body is used; an `Err` fails the download without writing
/// anything of that response.
pub type ResponseHook = Arc<dyn Fn(&ResponseHead<'_>) -> Result<(), Rejection> + Send + Sync>;

/// Sees a download once its size and digests are verified, before it is
/// put in place; an `Err` fails it and discards the bytes.
pub type FinishHook = Arc<dyn Fn(&Verified<'_>) -> Result<(), Rejection> + Send + Sync>;

/// An opaque value a request carries to its progress and its report, so an
/// embedder can tell two downloads of one URL apart (a database id, an
/// object of its own).
///
/// ```
/// let tag = parget::Tag::new(42_u32);
/// assert_eq!(tag.downcast_ref::<u32>(), Some(&42));
/// assert_eq!(tag.downcast_ref::<String>(), None);
/// ```
#[derive(Clone)]
pub struct Tag(Arc<dyn Any + Send + Sync>);

impl Tag {
    /// Wraps `value`.
    pub fn new<T: Any + Send + Sync>(value: T) -> Tag {
        Tag(Arc::new(value))
    }

    /// The value, if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl std::fmt::Debug for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tag(..)")
    }
}
