//! Progress for library users and the CLI's bars.
//!
//! Events happen only at the edges of a download (start, retry, finish);
//! the bytes in between are counted in atomics that a renderer reads at its
//! own pace, so progress costs no message per chunk.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::report::Report;

/// Identifies one download of a [`crate::Downloader`]: its
/// [`DownloadProgress`], its retries and its [`Report`] carry the same id,
/// so a UI can follow each download from start to finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DownloadId(pub(crate) u64);

impl DownloadId {
    /// The id as a number (unique within one downloader, counting from 1).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for DownloadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Live counters of one running download.
#[derive(Debug)]
pub struct DownloadProgress {
    id: DownloadId,
    tag: Option<crate::hooks::Tag>,
    url: String,
    destination: std::path::PathBuf,
    received: AtomicU64,
    total: AtomicU64,
    attempts: AtomicU32,
    segments: AtomicU32,
}

const UNKNOWN: u64 = u64::MAX;

impl DownloadProgress {
    pub(crate) fn new(
        id: DownloadId,
        url: String,
        destination: std::path::PathBuf,
        tag: Option<crate::hooks::Tag>,
    ) -> DownloadProgress {
        DownloadProgress {
            id,
            tag,
            url,
            destination,
            received: AtomicU64::new(0),
            total: AtomicU64::new(UNKNOWN),
            attempts: AtomicU32::new(0),
            segments: AtomicU32::new(0),
        }
    }

    /// The download's id, the same as on its [`Report`].
    pub fn id(&self) -> DownloadId {
        self.id
    }

    /// The request's tag, if it has one.
    pub fn tag(&self) -> Option<&crate::hooks::Tag> {
        self.tag.as_ref()
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The destination path (empty for a download to memory).
    pub fn destination(&self) -> &std::path::Path {
        &self.destination
    }

    /// Bytes of the file present so far (resumed bytes included).
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// The file's size, once the server said it.
    pub fn total(&self) -> Option<u64> {
        match self.total.load(Ordering::Relaxed) {
            UNKNOWN => None,
            n => Some(n),
        }
    }

    /// Requests made so far.
    pub fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// Connections streaming this download now: 1 for a single stream,
    /// more for a segmented download, 0 between attempts.
    pub fn segments(&self) -> u32 {
        self.segments.load(Ordering::Relaxed)
    }

    pub(crate) fn segment_started(&self) {
        self.segments.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn segment_ended(&self) {
        self.segments.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn set_received(&self, n: u64) {
        self.received.store(n, Ordering::Relaxed);
    }

    pub(crate) fn add_received(&self, n: u64) {
        self.received.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set_total(&self, total: Option<u64>) {
        self.total
            .store(total.unwrap_or(UNKNOWN), Ordering::Relaxed);
    }

    pub(crate) fn set_attempts(&self, n: u32) {
        self.attempts.store(n, Ordering::Relaxed);
    }

    pub(crate) fn add_attempt(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counters over every download of one [`crate::Downloader`].
#[derive(Debug, Default)]
pub struct Totals {
    received: AtomicU64,
    active: AtomicU64,
    finished: AtomicU64,
    failed: AtomicU64,
}

impl Totals {
    /// Bytes received from the network or read from file URLs, all downloads.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Downloads running now.
    pub fn active(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }

    /// Downloads ended (ok, skipped or failed).
    pub fn finished(&self) -> u64 {
        self.finished.load(Ordering::Relaxed)
    }

    /// Downloads failed.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    pub(crate) fn add_received(&self, n: u64) {
        self.received.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn started(&self) {
        self.active.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn ended(&self, ok: bool) {
        self.active.fetch_sub(1, Ordering::Relaxed);
        self.finished.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A retry, as [`Reporter::retrying`] is told of it.
#[derive(Debug)]
pub struct Retry<'a> {
    /// Why the attempt failed.
    pub error: &'a Error,
    /// How long until the next attempt.
    pub delay: Duration,
    /// Where this retry stands against the retry policy; `None` when it
    /// costs no retry (the next attempt does something else: another
    /// mirror, the whole file after a refused continuation).
    pub counted: Option<RetryCount>,
}

/// A retry's place in the retry policy's budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryCount {
    /// The retries spent so far, this one included: since the download
    /// started, or since one of its connections last completed a range
    /// (a segmented download through a flaky link can retry more often
    /// than `limit` in all, never more than `limit` in a row). Requests
    /// are not retries: eight connections make eight requests and spend
    /// none.
    pub in_a_row: u32,
    /// The retries in a row the policy allows ([`crate::retry::RetryPolicy::max_retries`]).
    pub limit: u32,
}

/// Receives the edges of every download. All methods have empty defaults;
/// implement the ones you need. Called from the engine's tasks: keep them quick.
pub trait Reporter: Send + Sync {
    /// A download got its slot and is about to make its first request. The
    /// counters in `progress` move until [`Reporter::finished`].
    fn started(&self, progress: &Arc<DownloadProgress>) {
        let _ = progress;
    }

    /// An attempt failed and another follows after `retry.delay`.
    fn retrying(&self, progress: &DownloadProgress, retry: &Retry<'_>) {
        let _ = (progress, retry);
    }

    /// A download ended. Also called for downloads that never started
    /// (skipped, refused destinations).
    fn finished(&self, report: &Report) {
        let _ = report;
    }
}

/// A reporter that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoReporter;

impl Reporter for NoReporter {}
