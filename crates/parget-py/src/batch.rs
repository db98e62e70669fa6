//! One call's downloads: requests pulled from a [`Source`] as slots free
//! up, run on the engine, their reports handed back in completion order.
//!
//! Every download of a batch runs as its own task, so downloads spread
//! over the runtime's threads. Two ways to end a batch early:
//! - [`Batch::stop`]: no more requests are pulled; the running downloads
//!   go on (the caller may cancel them through the engine, which flushes
//!   what they received into their `.part` files and records it for resume).
//! - [`Batch::abort`] (also on drop): every running download is dropped where
//!   it stands. Its `.part` file stays, with what was written so far.

use std::sync::Arc;

use pyo3::prelude::*;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::progress::{CallProgress, Hub};
use crate::source::Source;

/// What a batch hands back.
pub(crate) enum Item {
    /// A download ended.
    Report(Box<parget::Report>),
    /// The source raised (or gave something that is not a request): the
    /// batch is over and its running downloads are cancelled.
    SourceError(PyErr),
}

/// A running call. Dropping it cancels its downloads.
pub(crate) struct Batch {
    rx: mpsc::Receiver<Item>,
    /// Drops the running downloads (and stops the feeder: `stop` is its child).
    abort: CancellationToken,
    /// Stops pulling requests.
    stop: CancellationToken,
    progress: Option<(Arc<CallProgress>, Arc<Hub>)>,
}

impl Batch {
    /// Starts pulling from `source` on `handle`, at most `limit` downloads
    /// running (and at most `limit` reports waiting to be read). With
    /// `track`, the downloads' progress can be read with [`Batch::progress`].
    pub(crate) fn start(
        handle: &Handle,
        engine: parget::Downloader,
        hub: Arc<Hub>,
        source: Source,
        limit: usize,
        track: bool,
    ) -> Batch {
        let limit = limit.max(1);
        let (tx, rx) = mpsc::channel(limit);
        let abort = CancellationToken::new();
        let stop = abort.child_token();
        let progress = track.then(|| (Arc::new(CallProgress::new()), hub));
        let feeder = Feeder {
            engine,
            source,
            slots: Arc::new(Semaphore::new(limit)),
            tx,
            abort: abort.clone(),
            stop: stop.clone(),
            progress: progress.clone(),
        };
        handle.spawn(feeder.run());
        Batch {
            rx,
            abort,
            stop,
            progress,
        }
    }

    /// The next item; `None` once the source is exhausted and every
    /// download has been reported (or the batch was cancelled). Cancel-safe.
    pub(crate) async fn next(&mut self) -> Option<Item> {
        self.rx.recv().await
    }

    /// The next item if one is ready.
    pub(crate) fn try_next(&mut self) -> Option<Item> {
        self.rx.try_recv().ok()
    }

    /// A token that aborts this batch.
    pub(crate) fn abort_token(&self) -> CancellationToken {
        self.abort.clone()
    }

    /// The progress tracker, when the batch was started with `track`.
    pub(crate) fn progress(&self) -> Option<Arc<CallProgress>> {
        self.progress.as_ref().map(|(call, _)| call.clone())
    }

    /// Stops pulling requests; the running downloads go on.
    pub(crate) fn stop(&self) {
        self.stop.cancel();
    }

    /// Drops the running downloads and stops pulling requests.
    pub(crate) fn abort(&self) {
        self.abort.cancel();
    }

    /// Waits until every download has ended and let go of its files (so a
    /// following call may write the same destinations), discarding the
    /// reports. Only ends soon after [`Batch::stop`] or [`Batch::abort`].
    pub(crate) async fn drain(&mut self) {
        while self.rx.recv().await.is_some() {}
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.abort.cancel();
        if let Some((call, hub)) = &self.progress {
            hub.forget(call);
        }
    }
}

/// The task that pulls requests and starts downloads.
struct Feeder {
    engine: parget::Downloader,
    source: Source,
    slots: Arc<Semaphore>,
    tx: mpsc::Sender<Item>,
    abort: CancellationToken,
    stop: CancellationToken,
    progress: Option<(Arc<CallProgress>, Arc<Hub>)>,
}

impl Feeder {
    async fn run(mut self) {
        loop {
            // A slot first, then the request: the source is read only as
            // fast as downloads end.
            let slot = tokio::select! {
                biased;
                () = self.stop.cancelled() => return,
                slot = self.slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => return,
                },
            };
            let next = tokio::select! {
                biased;
                () = self.stop.cancelled() => return,
                next = self.source.next() => next,
            };
            let request = match next {
                None => return,
                Some(Ok(request)) => request,
                Some(Err(e)) => {
                    self.abort.cancel();
                    let _ = self.tx.send(Item::SourceError(e)).await;
                    return;
                }
            };
            if let Some((call, hub)) = &self.progress {
                hub.register(request.path().unwrap_or(std::path::Path::new("")), call);
            }
            let (engine, tx, abort) = (self.engine.clone(), self.tx.clone(), self.abort.clone());
            tokio::spawn(async move {
                let report = tokio::select! {
                    biased;
                    () = abort.cancelled() => return,
                    report = engine.download(request) => report,
                };
                // The slot is held until the report is taken, so a reader
                // that stops reading stops the downloads too.
                let _ = tx.send(Item::Report(Box::new(report))).await;
                drop(slot);
            });
        }
    }
}
