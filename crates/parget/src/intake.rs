//! Intake: from a caller's stream of requests or groups to the download
//! stages, and their reports back.
//!
//! A single request is a group of one, so there is one way in. Groups are
//! pulled from the stream one at a time; each member takes a global slot
//! before it starts, so members of many groups interleave under one
//! limit, and the stream is read no faster than slots free up (a million
//! requests are never held in memory). Destinations are claimed in stream
//! order, so which of two entries with one destination wins does not
//! depend on scheduling; the destinations taken are remembered exactly,
//! in about ten bytes of memory each ([`crate::seen`]). Reports go out in
//! completion order, or in input order through a bounded queue; either way a consumer that does not read
//! them holds back the intake, so memory stays flat.
//!
//! Each stream has a cancel token of its own (a child of the
//! downloader's), parent of its groups' tokens: cancelling one stream
//! stops its downloads, flushed and kept for a resume, and leaves the
//! downloader's other streams and calls running.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::{Stream, StreamExt};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::group::{Group, GroupPolicy, GroupReport};
use crate::hooks::Tag;
use crate::report::Report;
use crate::request::Request;
use crate::seen::Seen;
use crate::shared::Shared;

/// The order reports come back in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    /// As each ends.
    Completion,
    /// As the stream gave them.
    Input,
}

/// Starts pulling `groups` and returns their reports, and the token that
/// cancels this stream's downloads.
pub(crate) fn feed<S>(
    shared: Arc<Shared>,
    groups: S,
    order: Order,
) -> (mpsc::Receiver<GroupReport>, CancellationToken)
where
    S: Stream<Item = Group> + Send + 'static,
{
    let capacity = shared.config.concurrency;
    let (out, reports) = mpsc::channel(capacity);
    let stream_cancel = shared.child_token();
    let call = stream_cancel.clone();
    tokio::spawn(async move {
        let ordered = (order == Order::Input).then(|| start_orderer(out.clone(), capacity));
        let mut seen = Seen::new();
        let mut groups = std::pin::pin!(groups);
        loop {
            // After a cancel (of this stream, or of the whole downloader,
            // whose token is the stream's parent) or a shutdown, or once
            // nobody reads the reports, stop pulling: a long list must not
            // be churned through.
            if out.is_closed() || call.is_cancelled() || shared.is_closed() {
                break;
            }
            let next = tokio::select! {
                next = groups.next() => next,
                () = shared.closing() => None,
                () = call.cancelled() => None,
            };
            let Some(group) = next else {
                break;
            };
            let deliver = match &ordered {
                Some(pending) => {
                    let (tx, rx) = oneshot::channel();
                    if pending.send(rx).await.is_err() {
                        break;
                    }
                    Deliver::Once(tx)
                }
                None => Deliver::Channel(out.clone()),
            };
            start_group(&shared, &call, group, &mut seen, deliver).await;
        }
    });
    (reports, stream_cancel)
}

/// Forwards reports queued in input order as each becomes ready. The
/// queue holds at most `capacity` groups: a slow head holds back the
/// intake instead of letting finished reports pile up.
fn start_orderer(
    out: mpsc::Sender<GroupReport>,
    capacity: usize,
) -> mpsc::Sender<oneshot::Receiver<GroupReport>> {
    let (pending, mut queue) = mpsc::channel::<oneshot::Receiver<GroupReport>>(capacity);
    tokio::spawn(async move {
        while let Some(next) = queue.recv().await {
            // A sender dropped without a report cannot happen: every
            // member reports, even when cancelled before it started.
            if let Ok(report) = next.await {
                if out.send(report).await.is_err() {
                    return;
                }
            }
        }
    });
    pending
}

/// Where a group's report goes.
enum Deliver {
    Channel(mpsc::Sender<GroupReport>),
    Once(oneshot::Sender<GroupReport>),
}

impl Deliver {
    async fn send(self, report: GroupReport) {
        match self {
            Deliver::Channel(tx) => {
                let _ = tx.send(report).await;
            }
            Deliver::Once(tx) => {
                let _ = tx.send(report);
            }
        }
    }
}

/// One group while its members run.
struct GroupRun {
    reports: Mutex<Vec<Option<Report>>>,
    remaining: AtomicUsize,
    policy: GroupPolicy,
    /// Cancels the members; a child of the downloader's token.
    cancel: CancellationToken,
    /// Cancelled when a member failed and the others were cancelled for
    /// it (not by a cancel from outside, which keeps `.part` files for a
    /// resume).
    abandoned: CancellationToken,
    tag: Option<Tag>,
    deliver: Mutex<Option<Deliver>>,
}

impl GroupRun {
    /// Takes a member's report; the last one sends the group's.
    async fn member_done(&self, index: usize, report: Report) {
        let error = report.error();
        if error.is_some_and(|e| !e.is_cancelled()) && self.policy == GroupPolicy::CancelOnFailure {
            // The group is useless, so its partial files are too: the
            // members still running remove theirs as they stop.
            self.abandoned.cancel();
            self.cancel.cancel();
        }
        let complete = {
            let mut reports = self.reports.lock().unwrap_or_else(|e| e.into_inner());
            reports[index] = Some(report);
            self.remaining.fetch_sub(1, Ordering::AcqRel) == 1
        };
        if complete {
            self.deliver().await;
        }
    }

    async fn deliver(&self) {
        let reports = std::mem::take(&mut *self.reports.lock().unwrap_or_else(|e| e.into_inner()));
        let deliver = self
            .deliver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(deliver) = deliver {
            deliver
                .send(GroupReport {
                    reports: reports.into_iter().flatten().collect(),
                    tag: self.tag.clone(),
                })
                .await;
        }
    }
}

/// Starts every member of `group`, each once it has a slot; `call` is
/// the stream's cancel token.
async fn start_group(
    shared: &Arc<Shared>,
    call: &CancellationToken,
    group: Group,
    seen: &mut Seen,
    deliver: Deliver,
) {
    let (requests, policy, tag) = group.into_parts();
    let run = Arc::new(GroupRun {
        reports: Mutex::new((0..requests.len()).map(|_| None).collect()),
        remaining: AtomicUsize::new(requests.len()),
        policy,
        cancel: call.child_token(),
        abandoned: CancellationToken::new(),
        tag,
        deliver: Mutex::new(Some(deliver)),
    });
    if requests.is_empty() {
        run.deliver().await;
        return;
    }
    for (index, request) in requests.into_iter().enumerate() {
        // Downloads to memory have no destination to collide on.
        let repeated = match request.path().map(|path| seen.insert(path)) {
            None | Some(Ok(true)) => false,
            Some(Ok(false)) => true,
            Some(Err(e)) => {
                // Whether this destination was taken before is unknown:
                // neither running it nor calling it a duplicate is right.
                let path = request.path().map(ToOwned::to_owned).unwrap_or_default();
                let mut report = Report::failed(
                    request.url().as_str().to_owned(),
                    request.destination().clone(),
                    Error::io(&path, e).with_url(request.url().as_str()),
                );
                report.tag = request.tag().cloned();
                run.member_done(index, report).await;
                continue;
            }
        };
        // A member of a group given up (a member failed, or the stream
        // was cancelled), before or while it waits, needs no slot: it ends
        // at once. Waiting on would let other streams' downloads, which
        // hold the slots, delay this stream's end.
        let slot = if run.cancel.is_cancelled() {
            None
        } else {
            tokio::select! {
                slot = acquire_slot(shared) => slot,
                () = run.cancel.cancelled() => None,
            }
        };
        let shared = shared.clone();
        let run = run.clone();
        tokio::spawn(async move {
            // Boxed: a download's future is tens of KiB, and a task's own
            // future is copied when it is spawned and again when it ends.
            let stop = crate::download::Stop {
                cancel: run.cancel.clone(),
                abandoned: Some(run.abandoned.clone()),
            };
            let download = crate::download::run(shared, request, repeated, stop);
            let report = Box::pin(download).await;
            // The slot is held until the report is handed on: a consumer
            // that does not read reports holds back the intake.
            run.member_done(index, report).await;
            drop(slot);
        });
    }
}

/// A global download slot; `None` once the downloader is shut down.
pub(crate) async fn acquire_slot(shared: &Shared) -> Option<OwnedSemaphorePermit> {
    shared.slots.clone().acquire_owned().await.ok()
}

/// The reports of [`crate::Downloader::download_all`] and
/// [`crate::Downloader::download_all_in_order`]: a [`Stream`] that ends
/// when every request has been downloaded.
#[derive(Debug)]
pub struct Reports {
    pub(crate) rx: mpsc::Receiver<GroupReport>,
    pub(crate) cancel: CancellationToken,
}

impl Reports {
    /// Cancels every download of this stream, running or still to come:
    /// each ends with a cancelled report and keeps its `.part` file (and
    /// a final checkpoint) for a resume; no more requests are pulled, and
    /// the stream ends once the running ones have reported. The
    /// downloader's other streams and calls go on.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// A handle that cancels this stream as [`Reports::cancel`] does,
    /// for when the stream itself is being read elsewhere.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(self.cancel.clone())
    }
}

impl Stream for Reports {
    type Item = Report;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Report>> {
        // Every request went in as a group of one.
        self.rx
            .poll_recv(cx)
            .map(|group| group.and_then(|g| g.into_reports().into_iter().next()))
    }
}

/// The reports of [`crate::Downloader::download_groups`] and
/// [`crate::Downloader::download_groups_in_order`]: a [`Stream`] that ends
/// when every group is done.
#[derive(Debug)]
pub struct GroupReports {
    pub(crate) rx: mpsc::Receiver<GroupReport>,
    pub(crate) cancel: CancellationToken,
}

impl GroupReports {
    /// Cancels every group of this stream, as [`Reports::cancel`] does.
    /// A group cancelled this way keeps its members' `.part` files (only a
    /// member's own failure discards its siblings').
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// A handle that cancels this stream as [`GroupReports::cancel`] does.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(self.cancel.clone())
    }
}

/// Cancels the downloads of one stream of reports ([`Reports::cancel_handle`],
/// [`GroupReports::cancel_handle`]). Cheap to clone; cancelling twice is
/// harmless.
#[derive(Clone, Debug)]
pub struct CancelHandle(CancellationToken);

impl CancelHandle {
    /// Cancels the stream's downloads (see [`Reports::cancel`]).
    pub fn cancel(&self) {
        self.0.cancel();
    }

    /// True once the stream, or its whole downloader, was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

impl Stream for GroupReports {
    type Item = GroupReport;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<GroupReport>> {
        self.rx.poll_recv(cx)
    }
}

/// Wraps each request of `requests` in a group of one.
pub(crate) fn singles<S>(requests: S) -> impl Stream<Item = Group> + Send + 'static
where
    S: Stream<Item = Request> + Send + 'static,
{
    requests.map(|request| Group::new([request]))
}
