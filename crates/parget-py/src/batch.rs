//! One call's downloads: the items of a [`Source`], pulled by the engine's
//! intake as slots free up ([`parget::Downloader::download_groups`]), their
//! reports handed back in completion order.
//!
//! A call ends early through its own cancel handle ([`Batch::cancel`],
//! also on drop): the engine stops pulling, and every running download of
//! this call, and of no other, stops, flushes what it received into its
//! `.part` file and records it for a resume. [`Batch::drain`] then waits
//! until they all have.

use std::sync::Arc;

use futures_util::{FutureExt, StreamExt};
use pyo3::prelude::*;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::progress::CallProgress;
use crate::request::GroupMark;
use crate::shutdown;
use crate::source::Source;

/// What a batch hands back.
pub(crate) enum Item {
    /// A single request ended.
    Single(Box<parget::Report>),
    /// Every member of a `parget.Group` ended: their reports in member
    /// order, and the group's tag (a [`GroupMark`]).
    Group(Vec<parget::Report>, Option<parget::Tag>),
    /// The source raised (or gave something that is not a request): the
    /// batch is over and its running downloads are cancelled.
    SourceError(PyErr),
    /// An item of a list the engine never pulled, because the downloader
    /// was cancelled first: each of its requests ends cancelled. The tag
    /// is that of a `parget.Group` (a [`GroupMark`]).
    Unstarted(parget::Group, Option<parget::Tag>),
}

/// A running call. Dropping it cancels its downloads.
pub(crate) struct Batch {
    reports: parget::GroupReports,
    cancel: parget::CancelHandle,
    /// The source's error, once it raised; `None` once read (or once the
    /// source ended without one).
    source_failed: Option<oneshot::Receiver<PyErr>>,
    /// Shared with the engine's intake, which stops pulling from it on a
    /// cancel: what it left of a list is reported here as unstarted.
    source: Arc<tokio::sync::Mutex<Source>>,
    progress: Option<Arc<CallProgress>>,
    /// Lets the exit hook cancel this batch while it lives.
    _tracked: shutdown::Tracked,
}

impl Batch {
    /// Starts pulling from `source` on `handle`. `progress` is the call's
    /// tracker when it asked for progress (its requests carry it already).
    pub(crate) fn start(
        handle: &Handle,
        engine: &parget::Downloader,
        source: Source,
        progress: Option<Arc<CallProgress>>,
    ) -> Batch {
        let (failed, source_failed) = oneshot::channel();
        let source = Arc::new(tokio::sync::Mutex::new(source));
        let groups = futures_util::stream::unfold(
            (source.clone(), Some(failed)),
            |(source, mut failed)| async move {
                let next = source.lock().await.next().await;
                match next {
                    None => None,
                    Some(Ok(group)) => Some((group, (source, failed))),
                    Some(Err(e)) => {
                        if let Some(failed) = failed.take() {
                            let _ = failed.send(e);
                        }
                        None
                    }
                }
            },
        );
        // The intake spawns its task on the current runtime.
        let reports = {
            let _runtime = handle.enter();
            engine.download_groups(groups)
        };
        Batch {
            _tracked: shutdown::track(reports.cancel_handle()),
            cancel: reports.cancel_handle(),
            reports,
            source_failed: Some(source_failed),
            source,
            progress,
        }
    }

    /// The next item; `None` once the source is exhausted and every
    /// download has been reported (or the batch was cancelled and every
    /// running download has ended, and then every item of a list the
    /// engine did not pull came back as [`Item::Unstarted`]). Cancel-safe.
    pub(crate) async fn next(&mut self) -> Option<Item> {
        loop {
            let Some(failed) = self.source_failed.as_mut() else {
                return match self.reports.next().await {
                    Some(report) => Some(item(report)),
                    None => self.unstarted().await,
                };
            };
            tokio::select! {
                biased;
                error = failed => {
                    self.source_failed = None;
                    if let Ok(error) = error {
                        self.cancel.cancel();
                        return Some(Item::SourceError(error));
                    }
                    // The source ended without an error: only reports remain.
                }
                report = self.reports.next() => match report {
                    Some(report) => return Some(item(report)),
                    None => return self.unstarted().await,
                },
            }
        }
    }

    /// Once the reports ended after a cancel, the next item of the list
    /// that the engine never pulled: every request gets a result.
    async fn unstarted(&mut self) -> Option<Item> {
        if !self.cancel.is_cancelled() {
            return None;
        }
        let known = self.source.lock().await.next_unstarted()?;
        Some(Item::Unstarted(known.group, known.mark))
    }

    /// The next item if one is ready.
    pub(crate) fn try_next(&mut self) -> Option<Item> {
        self.next().now_or_never().flatten()
    }

    /// A handle that cancels this batch from anywhere.
    pub(crate) fn cancel_handle(&self) -> parget::CancelHandle {
        self.cancel.clone()
    }

    /// The progress tracker, when the batch was started with one.
    pub(crate) fn progress(&self) -> Option<Arc<CallProgress>> {
        self.progress.clone()
    }

    /// Cancels this batch's downloads (see the module docs).
    pub(crate) fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Waits until every download has ended and let go of its files (so a
    /// following call may resume or write the same destinations),
    /// discarding the reports. Ends soon only after [`Batch::cancel`].
    /// Cancel-safe.
    pub(crate) async fn drain(&mut self) {
        while self.reports.next().await.is_some() {}
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A report of the engine as an item: a group of one is a single request,
/// unless it came from a `parget.Group`.
fn item(group: parget::GroupReport) -> Item {
    let tag = group.tag().cloned();
    let marked = tag
        .as_ref()
        .and_then(parget::Tag::downcast_ref::<GroupMark>)
        .is_some();
    let mut reports = group.into_reports();
    if !marked && reports.len() == 1 {
        if let Some(report) = reports.pop() {
            return Item::Single(Box::new(report));
        }
    }
    Item::Group(reports, tag)
}
