//! The segments fetch: one file over several connections. Workers take
//! ranges from the [`Plan`], stream them into the sink, steal the back half
//! of the largest remaining range when they finish, and a monitor gives up
//! a connection far slower than the others so its range is fetched again
//! by faster ones. Each connection's failures go through the retry loop.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use url::Url;

use http::HeaderMap;

use super::retry_loop::{retry_loop, Failure, Next, Retrying};
use super::Effective;
use crate::error::{Error, ErrorKind};
use crate::event::DownloadProgress;
use crate::hooks::ResponseHead;
use crate::limit::{host_key, HostPermit};
use crate::plan::{pick_slow, Plan, RangeSet, SegmentRate, Work};
use crate::shared::Shared;
use crate::sink::{PieceSender, FLUSH_SIZE};
use crate::transport::{BodyStream, OpenRequest, Validator};

/// How often the monitor measures the connections.
const MONITOR_PERIOD: Duration = Duration::from_millis(500);
/// A connection this many times slower than the fastest is given up.
const SLOW_RATIO: f64 = 8.0;
/// Below this many bytes left, giving a connection up costs more than it saves.
const SLOW_MIN_LEFT: u64 = 256 * 1024;

/// Everything a segmented download needs.
pub(crate) struct Setup {
    /// The URL and its mirrors; the first is the one the validator came from.
    pub urls: Vec<Url>,
    /// The validator every range must still match (`If-Range`).
    pub validator: Validator,
    /// The file size.
    pub len: u64,
    /// The size of the pieces handed out in order (see `Plan::with_pieces`).
    pub piece: u64,
    /// Ranges already on disk (a resumed download).
    pub done: RangeSet,
    /// An open stream of the whole file from byte 0 (the first response),
    /// taken over as the first segment; `None` when resuming.
    pub first: Option<BodyStream>,
    /// Where the pieces go.
    pub sender: PieceSender,
    /// The download's counters.
    pub progress: Arc<DownloadProgress>,
    /// The request's own headers, sent with every range.
    pub headers: HeaderMap,
    /// The download's settings, hooks and cancel token.
    pub effective: Arc<Effective>,
}

struct Mirror {
    url: Url,
    host_key: String,
    alive: AtomicBool,
}

/// What the monitor sees of one worker.
struct WorkerState {
    /// Bytes received by this worker, ever.
    received: AtomicU64,
    /// The segment being fetched, or `usize::MAX`.
    segment: AtomicUsize,
    /// Set by the monitor: the segment to give up (`NO_SEGMENT` for none).
    abandon: AtomicUsize,
    /// Wakes the worker to look at `abandon`.
    wake: Notify,
}

struct Job {
    shared: Arc<Shared>,
    headers: HeaderMap,
    effective: Arc<Effective>,
    mirrors: Vec<Mirror>,
    validator: Validator,
    plan: Mutex<Plan>,
    sender: PieceSender,
    progress: Arc<DownloadProgress>,
    /// Signalled when work may have become available (a release) or the
    /// plan completed.
    changed: Notify,
    workers: Vec<WorkerState>,
    /// Set when one worker failed for good: the others stop.
    stop: AtomicBool,
}

const NO_SEGMENT: usize = usize::MAX;

/// Why one fetch ended early.
enum FetchEnd {
    /// The monitor gave the connection up for slowness.
    Abandoned,
    /// The mirror cannot serve this file (wrong size, ignores Range,
    /// another version).
    BadMirror(Error),
    Error(Error),
}

/// Downloads the missing ranges of the file over up to `split`
/// connections. Returns how it ended and the ranges received (kept in the
/// sink either way). A failure is [`Next::StartOver`] when the server
/// answered a range with the whole resource (it changed, or ignores
/// Range), and otherwise [`Next::GiveUp`]: every connection has already
/// been retried.
pub(crate) async fn fetch(
    shared: Arc<Shared>,
    mut setup: Setup,
) -> (Result<(), Failure>, RangeSet) {
    let split = shared.config.split.max(1);
    let mut plan =
        Plan::new(setup.len, shared.config.min_split_size, &setup.done).with_pieces(setup.piece);
    let mirrors: Vec<Mirror> = setup
        .urls
        .iter()
        .map(|url| Mirror {
            url: url.clone(),
            host_key: host_key(url),
            alive: AtomicBool::new(true),
        })
        .collect();
    let first = setup
        .first
        .take()
        .and_then(|stream| plan.next_work().map(|work| (work, Some(stream))));
    let job = Arc::new(Job {
        shared: shared.clone(),
        headers: setup.headers,
        effective: setup.effective,
        mirrors,
        validator: setup.validator,
        plan: Mutex::new(plan),
        sender: setup.sender,
        progress: setup.progress,
        changed: Notify::new(),
        workers: (0..split)
            .map(|_| WorkerState {
                received: AtomicU64::new(0),
                segment: AtomicUsize::new(NO_SEGMENT),
                abandon: AtomicUsize::new(NO_SEGMENT),
                wake: Notify::new(),
            })
            .collect(),
        stop: AtomicBool::new(false),
    });

    // The first worker runs on the download's own host slot; the others
    // only where a slot is free now. Their ranges are all cut before any
    // request goes out, so each asks for its final range: a range cut
    // while its request is in flight wastes what the server already sent.
    let mut starts = vec![(0, first, None)];
    for index in 1..split {
        let mirror = &job.mirrors[index % job.mirrors.len()];
        let Some(permit) = shared.hosts.try_acquire(&mirror.host_key) else {
            break;
        };
        starts.push((index, None, Some(permit)));
    }
    for (_, initial, _) in starts.iter_mut() {
        if initial.is_none() {
            *initial = job.plan().next_work().map(|work| (work, None));
        }
    }
    let mut tasks = JoinSet::new();
    for (index, initial, permit) in starts {
        tasks.spawn(worker(job.clone(), index, initial, permit));
    }

    let mut failure: Option<Failure> = None;
    let mut monitor = tokio::time::interval(MONITOR_PERIOD);
    monitor.tick().await;
    let mut last = (Instant::now(), job.received_by_worker());
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(e))) => {
                    if failure.is_none() {
                        failure = Some(e);
                    }
                    job.stop.store(true, Ordering::Release);
                    job.changed.notify_waiters();
                }
                Some(Err(panic)) => {
                    failure = Some(Failure::give_up(
                        Error::new(ErrorKind::Transfer, None).with_source(panic),
                    ));
                    job.stop.store(true, Ordering::Release);
                    job.changed.notify_waiters();
                }
            },
            _ = monitor.tick() => {
                let now = (Instant::now(), job.received_by_worker());
                job.give_up_slow(&last, &now);
                last = now;
            }
        }
    }
    let plan = job.plan();
    let received = plan.received().clone();
    let result = match failure {
        Some(failure) => Err(failure),
        None if plan.is_complete() => Ok(()),
        None => Err(Failure::give_up(
            Error::new(ErrorKind::Transfer, None).with_source(std::io::Error::other(
                "every connection ended with ranges still missing",
            )),
        )),
    };
    (result, received)
}

impl Job {
    fn plan(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn received_by_worker(&self) -> Vec<u64> {
        self.workers
            .iter()
            .map(|w| w.received.load(Ordering::Relaxed))
            .collect()
    }

    /// Gives up the connection far slower than the others, if any: its
    /// range goes back to the plan for faster connections.
    fn give_up_slow(&self, before: &(Instant, Vec<u64>), now: &(Instant, Vec<u64>)) {
        let secs = now.0.duration_since(before.0).as_secs_f64();
        if secs <= 0.0 {
            return;
        }
        let plan = self.plan();
        let rates: Vec<SegmentRate> = self
            .workers
            .iter()
            .enumerate()
            .map(|(index, state)| {
                let id = state.segment.load(Ordering::Relaxed);
                match plan.segment(id) {
                    Some(segment) => {
                        let bytes = now.1[index].saturating_sub(before.1[index]);
                        SegmentRate {
                            id,
                            bytes_per_sec: bytes as f64 / secs,
                            remaining: segment.end - segment.start,
                        }
                    }
                    // An idle worker is not compared: a rate from another
                    // moment (often a burst out of socket buffers) would
                    // make a connection fetching now look slow.
                    None => SegmentRate {
                        id: NO_SEGMENT,
                        bytes_per_sec: f64::NAN,
                        remaining: 0,
                    },
                }
            })
            .collect();
        drop(plan);
        if let Some(slow) = pick_slow(&rates, SLOW_RATIO, SLOW_MIN_LEFT) {
            if let Some(state) = self
                .workers
                .iter()
                .find(|s| s.segment.load(Ordering::Relaxed) == slow)
            {
                state.abandon.store(slow, Ordering::Release);
                state.wake.notify_one();
            }
        }
    }

    fn release(&self, work: &Work) {
        self.plan().release(work.id);
        self.changed.notify_waiters();
    }

    /// The next range for a worker; waits while other workers may still
    /// release one. `None` when there is nothing left to do.
    async fn next_work(&self) -> Option<Work> {
        loop {
            let notified = self.changed.notified();
            {
                let mut plan = self.plan();
                if let Some(work) = plan.next_work() {
                    return Some(work);
                }
                if plan.is_complete() || plan.active() == 0 {
                    return None;
                }
            }
            if self.stop.load(Ordering::Acquire) {
                return None;
            }
            // Woken by a release or a finished segment; the timeout covers
            // a wake-up that raced with the check above.
            let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
        }
    }

    /// Drops mirror `m`; true when another mirror is left to carry on with.
    fn drop_mirror(&self, m: usize) -> bool {
        self.mirrors[m].alive.store(false, Ordering::Release);
        self.next_alive_mirror(m).is_some()
    }

    fn next_alive_mirror(&self, from: usize) -> Option<usize> {
        (0..self.mirrors.len())
            .map(|i| (from + i) % self.mirrors.len())
            .find(|&i| self.mirrors[i].alive.load(Ordering::Acquire))
    }

    /// Opens `work` on mirror `m` and checks the answer is that range of
    /// this very file.
    async fn open(&self, m: usize, work: &Work) -> Result<BodyStream, FetchEnd> {
        let mirror = &self.mirrors[m];
        let transport = self
            .shared
            .transport_for(&mirror.url)
            .map_err(FetchEnd::BadMirror)?;
        let idle = self.effective.idle_timeout;
        let open = transport.open(OpenRequest {
            url: &mirror.url,
            offset: work.start,
            end: Some(work.end),
            validator: Some(&self.validator),
            method: &http::Method::GET,
            headers: &self.headers,
            body: None,
            throttle: self.effective.throttle.as_ref(),
        });
        let opened = match tokio::time::timeout(idle, open).await {
            Err(_) => {
                return Err(FetchEnd::Error(Error::new(
                    ErrorKind::IdleTimeout(idle),
                    None,
                )))
            }
            Ok(Err(e)) if e.is_retryable() => {
                return Err(FetchEnd::Error(e.with_url(mirror.url.as_str())))
            }
            Ok(Err(e)) => return Err(FetchEnd::BadMirror(e.with_url(mirror.url.as_str()))),
            Ok(Ok(opened)) => opened,
        };
        let head = ResponseHead {
            url: &mirror.url,
            final_url: &opened.final_url,
            status: opened.status,
            headers: &opened.headers,
        };
        if let Err(rejected) = self.effective.check_response(&head) {
            return Err(FetchEnd::BadMirror(rejected.with_url(mirror.url.as_str())));
        }
        let len = self.plan().len();
        if opened.offset != work.start {
            return Err(FetchEnd::BadMirror(
                Error::new(
                    ErrorKind::Protocol(format!(
                        "asked for bytes {}-{}, got the whole resource (it changed, or Range is not honoured)",
                        work.start,
                        work.end - 1
                    )),
                    Some(mirror.url.as_str()),
                ),
            ));
        }
        if opened.total.is_some_and(|total| total != len) {
            return Err(FetchEnd::BadMirror(Error::new(
                ErrorKind::SizeMismatch {
                    expected: len,
                    actual: opened.total.unwrap_or(0),
                },
                Some(mirror.url.as_str()),
            )));
        }
        let strong = |v: &Validator| v.etag.clone().filter(|t| !t.starts_with("W/"));
        if let (Some(ours), Some(theirs)) = (strong(&self.validator), strong(&opened.validator)) {
            if ours != theirs {
                return Err(FetchEnd::BadMirror(Error::new(
                    ErrorKind::Protocol(format!(
                        "serves ETag {theirs}, not {ours}: another version"
                    )),
                    Some(mirror.url.as_str()),
                )));
            }
        }
        Ok(opened.body)
    }

    /// Streams `work` into the sink until the plan says the segment is
    /// done (it may shrink while streaming: another worker stole its back).
    async fn fetch(
        &self,
        index: usize,
        mirror: &mut usize,
        work: &Work,
        stream: Option<BodyStream>,
    ) -> Result<(), FetchEnd> {
        let mut body = match stream {
            Some(stream) => stream,
            None => {
                let m = self.next_alive_mirror(*mirror).ok_or_else(|| {
                    FetchEnd::Error(
                        Error::new(ErrorKind::Transfer, None)
                            .with_source(std::io::Error::other("no mirror is left")),
                    )
                })?;
                *mirror = m;
                self.open(m, work).await?
            }
        };
        let state = &self.workers[index];
        let idle = self.effective.idle_timeout;
        let mut position = work.start;
        let mut buffer = self.sender.buffer();
        let mut buffer_start = position;
        let result = loop {
            let next = tokio::select! {
                () = state.wake.notified() => {
                    // A wake-up meant for an earlier segment is ignored.
                    if state.abandon.load(Ordering::Acquire) == work.id {
                        break Err(FetchEnd::Abandoned);
                    }
                    continue;
                }
                () = self.effective.cancel.cancelled() => break Err(FetchEnd::Error(Effective::cancelled_error())),
                next = tokio::time::timeout(idle, body.next()) => next,
            };
            let chunk = match next {
                Err(_) => {
                    break Err(FetchEnd::Error(Error::new(
                        ErrorKind::IdleTimeout(idle),
                        None,
                    )))
                }
                Ok(None) => {
                    break Err(FetchEnd::Error(Error::new(
                        ErrorKind::Truncated {
                            expected: work.end - work.start,
                            received: position - work.start,
                        },
                        None,
                    )))
                }
                Ok(Some(Err(e))) => break Err(FetchEnd::Error(e)),
                Ok(Some(Ok(chunk))) => chunk,
            };
            let advance = self.plan().advance(work.id, chunk.len() as u64);
            // Bytes past a shrunk end belong to the worker that stole them.
            let keep = advance.keep as usize;
            buffer.extend_from_slice(&chunk[..keep.min(chunk.len())]);
            position += keep as u64;
            state.received.fetch_add(keep as u64, Ordering::Relaxed);
            self.progress.add_received(keep as u64);
            self.shared.totals.add_received(keep as u64);
            if buffer.len() >= FLUSH_SIZE {
                let full = std::mem::replace(&mut buffer, self.sender.buffer());
                self.send(buffer_start, full)
                    .await
                    .map_err(FetchEnd::Error)?;
                buffer_start = position;
            }
            if advance.finished {
                self.changed.notify_waiters();
                break Ok(());
            }
        };
        // Whatever arrived is kept, however the fetch ended: a retry
        // continues after it.
        self.send(buffer_start, buffer)
            .await
            .map_err(FetchEnd::Error)?;
        result
    }

    async fn send(&self, offset: u64, buffer: BytesMut) -> Result<(), Error> {
        self.sender.send(offset, buffer.freeze()).await
    }
}

/// What one step of a connection did.
enum Step {
    /// A range was fetched; take the next.
    Fetched,
    /// Nothing is left to take, or the connection was given up as too
    /// slow (its range went back to the others).
    Done,
}

/// One connection: its place among the workers and its current mirror.
struct Worker {
    job: Arc<Job>,
    index: usize,
    mirror: usize,
    initial: Option<(Work, Option<BodyStream>)>,
}

/// One connection's loop: take a range, fetch it, take the next; failures
/// go through the retry loop, and a retry continues from the last byte
/// received (the range went back to the plan).
async fn worker(
    job: Arc<Job>,
    index: usize,
    initial: Option<(Work, Option<BodyStream>)>,
    _permit: Option<HostPermit>,
) -> Result<(), Failure> {
    let mut worker = Worker {
        mirror: index % job.mirrors.len(),
        job: job.clone(),
        index,
        initial,
    };
    loop {
        let retrying = Retrying {
            shared: &job.shared,
            progress: &job.progress,
            policy: &job.effective.retry,
            cancel: &job.effective.cancel,
        };
        match retry_loop(retrying, &mut worker, |w| Box::pin(w.step())).await? {
            Step::Fetched => continue,
            Step::Done => return Ok(()),
        }
    }
}

impl Worker {
    /// Takes a range and fetches it.
    async fn step(&mut self) -> Result<Step, Failure> {
        let job = &self.job;
        if job.stop.load(Ordering::Acquire) {
            return Ok(Step::Done);
        }
        let (work, stream) = match self.initial.take() {
            Some(first) => first,
            None => match job.next_work().await {
                Some(work) => (work, None),
                None => return Ok(Step::Done),
            },
        };
        let state = &job.workers[self.index];
        state.segment.store(work.id, Ordering::Relaxed);
        job.progress.segment_started();
        let result = job.fetch(self.index, &mut self.mirror, &work, stream).await;
        job.progress.segment_ended();
        state.segment.store(NO_SEGMENT, Ordering::Relaxed);
        let error = match result {
            Ok(()) => return Ok(Step::Fetched),
            Err(FetchEnd::Abandoned) => {
                // Too slow: leave the range to faster connections.
                job.release(&work);
                return Ok(Step::Done);
            }
            Err(FetchEnd::BadMirror(error)) => {
                job.release(&work);
                if job.drop_mirror(self.mirror) {
                    return Err(Failure::new(error, Next::RetryNow));
                }
                // The only source left answers ranges with the whole file.
                let next = if matches!(error.kind(), ErrorKind::Protocol(_)) {
                    Next::StartOver
                } else {
                    Next::GiveUp
                };
                return Err(Failure::new(error, next));
            }
            Err(FetchEnd::Error(error)) => {
                job.release(&work);
                error
            }
        };
        if error.is_cancelled() {
            return Err(Failure::give_up(error));
        }
        // With mirrors, a failing one is dropped and the others carry on;
        // a lone URL is retried with backoff.
        if job.mirrors.len() > 1 && job.drop_mirror(self.mirror) {
            return Err(Failure::new(error, Next::RetryNow));
        }
        Err(Failure::from(error))
    }
}
