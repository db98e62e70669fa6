//! What happened to one download.

use std::path::Path;
use std::time::Duration;

use crate::error::Error;
use crate::event::DownloadId;
use crate::request::Destination;
use crate::verify::Digest;

/// How a download ended.
#[derive(Debug)]
pub enum Outcome {
    /// The bytes were fetched, checked and renamed into place.
    Downloaded,
    /// The destination already held the expected bytes; nothing was fetched.
    Skipped,
    /// The download failed; the destination was not touched.
    Failed(Error),
}

/// The result of one download, handed back as soon as it ends.
#[derive(Debug)]
pub struct Report {
    pub(crate) id: DownloadId,
    pub(crate) url: String,
    pub(crate) final_url: Option<url::Url>,
    pub(crate) headers: http::HeaderMap,
    pub(crate) tag: Option<crate::hooks::Tag>,
    pub(crate) destination: Destination,
    pub(crate) outcome: Outcome,
    pub(crate) bytes: u64,
    pub(crate) digests: Vec<Digest>,
    pub(crate) elapsed: Duration,
    pub(crate) attempts: u32,
    pub(crate) data: Option<bytes::Bytes>,
}

impl Report {
    /// A report of a download that failed before it could say more.
    pub(crate) fn failed(url: String, destination: Destination, error: Error) -> Report {
        Report {
            id: DownloadId(0),
            url,
            final_url: None,
            headers: http::HeaderMap::new(),
            tag: None,
            destination,
            outcome: Outcome::Failed(error),
            bytes: 0,
            digests: Vec::new(),
            elapsed: Duration::ZERO,
            attempts: 0,
            data: None,
        }
    }

    /// The download's id, the same as its progress events carry.
    pub fn id(&self) -> DownloadId {
        self.id
    }

    /// The URL as requested.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL that answered last, after redirects (`None` when nothing
    /// was requested: skipped, refused).
    pub fn final_url(&self) -> Option<&url::Url> {
        self.final_url.as_ref()
    }

    /// The headers of the last answer the bytes came with (empty when
    /// nothing was requested).
    pub fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }

    /// The request's tag, if it had one.
    pub fn tag(&self) -> Option<&crate::hooks::Tag> {
        self.tag.as_ref()
    }

    /// Where the bytes went.
    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// The destination file's path, or `None` for a download to memory.
    pub fn path(&self) -> Option<&Path> {
        self.destination.path()
    }

    /// How it ended.
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// True when the destination holds the right bytes (downloaded or skipped).
    pub fn is_ok(&self) -> bool {
        !matches!(self.outcome, Outcome::Failed(_))
    }

    /// The error, when the download failed.
    pub fn error(&self) -> Option<&Error> {
        match &self.outcome {
            Outcome::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// The size of the file: bytes downloaded, or the size of the skipped file.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The digests computed: every expected algorithm, then those of
    /// [`crate::Request::with_computed_digest`].
    pub fn digests(&self) -> &[Digest] {
        &self.digests
    }

    /// Wall time from the start of the download to its end (slot waits excluded).
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// How many requests were made (1 when the first attempt succeeded; 0
    /// when nothing was requested, e.g. skipped).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The body of a download to memory ([`crate::Request::new_in_memory`]).
    pub fn data(&self) -> Option<&bytes::Bytes> {
        self.data.as_ref()
    }

    /// Takes the body of a download to memory out of the report.
    pub fn take_data(&mut self) -> Option<bytes::Bytes> {
        self.data.take()
    }

    /// Turns the report into a `Result`.
    pub fn into_result(self) -> Result<Report, Error> {
        match self.outcome {
            Outcome::Failed(e) => Err(e),
            _ => Ok(self),
        }
    }
}
