//! A synchronous facade over the async engine, for code that is not async.
//!
//! ```no_run
//! use parget::{blocking, Request};
//! let downloader = blocking::Downloader::new()?;
//! let report = downloader.download(Request::new("https://example.com/a.bin", "a.bin")?);
//! println!("{:?}", report.outcome());
//! # Ok::<(), parget::Error>(())
//! ```

use crate::error::{Error, ErrorKind};
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

    /// Downloads every request (concurrently, as the builder allows) and
    /// returns an iterator over the reports in completion order. Requests
    /// are pulled from `requests` as slots free up.
    pub fn download_all<I>(&self, requests: I) -> impl Iterator<Item = Report> + '_
    where
        I: IntoIterator<Item = Request>,
        I::IntoIter: Send + 'static,
    {
        let _guard = self.runtime.enter();
        let stream = self
            .inner
            .download_all(futures_util::stream::iter(requests));
        let mut stream = Box::pin(stream);
        std::iter::from_fn(move || {
            use futures_util::StreamExt;
            self.runtime.block_on(stream.next())
        })
    }

    /// Cancels every running download (see [`crate::Downloader::cancel`]).
    pub fn cancel(&self) {
        self.inner.cancel();
    }
}
