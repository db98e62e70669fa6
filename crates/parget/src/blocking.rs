//! A synchronous facade over the async engine, for code that is not async:
//! the same calls as [`crate::Downloader`], each blocking until it is done
//! (or handing back an iterator that blocks for each report).
//!
//! ```no_run
//! use parget::{blocking, Group, Request};
//! let downloader = blocking::Downloader::new()?;
//! let report = downloader.download(Request::new("https://example.com/a.bin", "a.bin")?);
//! println!("{:?}", report.outcome());
//! let group = downloader.download_group(Group::new([
//!     Request::new("https://example.com/p.deb", "p.deb")?,
//!     Request::new("https://example.com/p.deb.asc", "p.deb.asc")?,
//! ]));
//! println!("both ok: {}", group.is_ok());
//! # Ok::<(), parget::Error>(())
//! ```

use std::sync::Arc;

use futures_util::{Stream, StreamExt};

use crate::error::{Error, ErrorKind};
use crate::event::Totals;
use crate::group::{Group, GroupReport};
use crate::report::Report;
use crate::request::Request;
use crate::DownloaderBuilder;

/// A [`crate::Downloader`] with its own tokio runtime; every call blocks.
#[derive(Debug)]
pub struct Downloader {
    runtime: tokio::runtime::Runtime,
    inner: crate::Downloader,
}

impl Downloader {
    /// A blocking downloader with default settings.
    pub fn new() -> Result<Downloader, Error> {
        Downloader::from_builder(DownloaderBuilder::default())
    }

    /// A blocking downloader configured by `builder`.
    pub fn from_builder(builder: DownloaderBuilder) -> Result<Downloader, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("parget")
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidRequest("the runtime could not start".into()),
                    None,
                )
                .with_source(e)
            })?;
        // The HTTP client must be built inside the runtime it will run on.
        let inner = runtime.block_on(async { builder.build() })?;
        Ok(Downloader { runtime, inner })
    }

    /// Downloads one request and returns its report.
    pub fn download(&self, request: Request) -> Report {
        self.runtime.block_on(self.inner.download(request))
    }

    /// Starts one request in the background; the handle cancels it or
    /// waits for its report.
    pub fn spawn(&self, request: Request) -> DownloadHandle<'_> {
        let _guard = self.runtime.enter();
        DownloadHandle {
            inner: self.inner.spawn(request),
            runtime: &self.runtime,
        }
    }

    /// Downloads a group and returns its report once every member ended.
    pub fn download_group(&self, group: Group) -> GroupReport {
        self.runtime.block_on(self.inner.download_group(group))
    }

    /// Downloads every request (concurrently, as the builder allows) and
    /// returns an iterator over the reports in completion order. Requests
    /// are pulled from `requests` as slots free up.
    pub fn download_all<I>(&self, requests: I) -> impl Iterator<Item = Report> + '_
    where
        I: IntoIterator<Item = Request>,
        I::IntoIter: Send + 'static,
    {
        let _guard = self.runtime.enter();
        self.iterate(
            self.inner
                .download_all(futures_util::stream::iter(requests)),
        )
    }

    /// As [`Downloader::download_all`], with the reports in the order of
    /// `requests`.
    pub fn download_all_in_order<I>(&self, requests: I) -> impl Iterator<Item = Report> + '_
    where
        I: IntoIterator<Item = Request>,
        I::IntoIter: Send + 'static,
    {
        let _guard = self.runtime.enter();
        self.iterate(
            self.inner
                .download_all_in_order(futures_util::stream::iter(requests)),
        )
    }

    /// Downloads every group; an iterator over their reports, each as its
    /// last member ends.
    pub fn download_groups<I>(&self, groups: I) -> impl Iterator<Item = GroupReport> + '_
    where
        I: IntoIterator<Item = Group>,
        I::IntoIter: Send + 'static,
    {
        let _guard = self.runtime.enter();
        self.iterate(
            self.inner
                .download_groups(futures_util::stream::iter(groups)),
        )
    }

    /// Cancels every running download (see [`crate::Downloader::cancel`]).
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// Shuts down gracefully (see [`crate::Downloader::shutdown`]).
    pub fn shutdown(&self) {
        self.runtime.block_on(self.inner.shutdown());
    }

    /// Counters over every download of this downloader.
    pub fn totals(&self) -> Arc<Totals> {
        self.inner.totals()
    }

    /// The async downloader underneath, sharing this one's pool.
    pub fn as_async(&self) -> &crate::Downloader {
        &self.inner
    }

    fn iterate<S>(&self, stream: S) -> impl Iterator<Item = S::Item> + '_
    where
        S: Stream + Unpin + 'static,
    {
        let mut stream = stream;
        std::iter::from_fn(move || self.runtime.block_on(stream.next()))
    }
}

/// A download started by [`Downloader::spawn`].
#[derive(Debug)]
pub struct DownloadHandle<'a> {
    inner: crate::DownloadHandle,
    runtime: &'a tokio::runtime::Runtime,
}

impl DownloadHandle<'_> {
    /// Stops the download; its `.part` file stays for a resume.
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// True once the download has ended.
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// Waits for the report.
    pub fn wait(self) -> Report {
        self.runtime.block_on(self.inner)
    }
}
