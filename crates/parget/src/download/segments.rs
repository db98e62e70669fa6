//! The segments fetch: one file over several connections. Workers take
//! ranges from the [`Plan`], stream them into the sink, steal the back half
//! of the largest remaining range when they finish, and a monitor gives up
//! a connection far slower than the others so its range is fetched again
//! by faster ones. Each connection's failures go through the retry loop.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use url::Url;

use http::HeaderMap;

use super::controller::{Controller, Decision, Reading, Settings as ControllerSettings};
use super::gather::Gather;
use super::pieces::PieceCheck;
use super::retry_loop::{retry_loop, Failure, Next, Retrying};
use super::strategy::piece_size;
use super::Effective;
use crate::error::{Error, ErrorKind};
use crate::event::DownloadProgress;
use crate::hooks::ResponseHead;
use crate::input::PieceHashes;
use crate::limit::{host_key, HostPermit};
use crate::plan::{pick_slow, Plan, RangeSet, SegmentRate, Work};
use crate::shared::Shared;
use crate::sink::PieceSender;
use crate::transport::{BodyStream, OpenRequest, Validator};

/// How often the monitor measures the connections.
const MONITOR_PERIOD: Duration = Duration::from_millis(500);
/// A connection this many times slower than the fastest is given up.
const SLOW_RATIO: f64 = 8.0;
/// The shortest fetch whose rate is taken as its connection's rate.
const MIN_RATE_WINDOW: Duration = Duration::from_millis(200);
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
    /// How long the first request waited for its answer: pieces are made
    /// large enough that waiting costs little.
    pub latency: Duration,
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
    /// Piece hashes to check each piece against before it is written.
    pub pieces: Option<Arc<PieceHashes>>,
}

struct Mirror {
    url: Url,
    host_key: String,
    alive: AtomicBool,
    /// Pieces this mirror served that did not match their hash.
    bad_pieces: AtomicU32,
}

/// A mirror that serves this many bad pieces is dropped.
const BAD_PIECES_TO_DROP: u32 = 2;

/// What the monitor sees of one worker.
struct WorkerState {
    /// Bytes received by this worker, ever.
    received: AtomicU64,
    /// The rate of its last fetch that lasted long enough to measure
    /// (bytes/s, as f64 bits; NaN before): an idle fast worker still shows
    /// how fast a connection can be, so a slow one holding the tail is
    /// given up for it.
    last_rate: AtomicU64,
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
    /// Connections the controller wants closed: that many workers stop
    /// after their current piece.
    to_close: AtomicUsize,
    /// Connections running now.
    running: AtomicUsize,
    /// Connections that failed while others were running, and ended
    /// without a retry: each lowers how many may run (a server that
    /// refuses more connections than it likes, or cuts their answers
    /// short, is left to the ones that work).
    failed_beside_others: AtomicUsize,
    /// The error that ended the last of those, for the report when no
    /// connection is left to finish the file.
    last_error: Mutex<Option<Error>>,
    /// Ranges fetched whole over a request of their own (not the first
    /// answer's stream): while none has been, a server whose every range
    /// failed may serve a whole file and no ranges.
    ranges_fetched: AtomicUsize,
    pieces: Option<Arc<PieceHashes>>,
}

const NO_SEGMENT: usize = usize::MAX;

/// Why one fetch ended early.
enum FetchEnd {
    /// A piece did not match its hash: its bytes were not written.
    BadPiece(Error),
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
/// answered a range with the whole resource, another version or size (it
/// changed, or ignores Range), or a 416, and otherwise [`Next::GiveUp`]:
/// every connection has already been retried.
pub(crate) async fn fetch(
    shared: Arc<Shared>,
    mut setup: Setup,
) -> (Result<(), Failure>, RangeSet, Vec<Url>) {
    let split = shared.config.split.max(1);
    // No pieces yet: the first stream takes the whole first gap, and is
    // cut to a piece only when other connections join it.
    let mut plan = Plan::new(setup.len, shared.config.min_split_size, &setup.done);
    if let Some(pieces) = &setup.pieces {
        // Every range a connection gets is whole pieces, so each can be
        // checked from that connection's own bytes.
        plan = plan.aligned(pieces.piece_length());
    }
    let mirrors: Vec<Mirror> = setup
        .urls
        .iter()
        .map(|url| Mirror {
            url: url.clone(),
            host_key: host_key(url),
            alive: AtomicBool::new(true),
            bad_pieces: AtomicU32::new(0),
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
                last_rate: AtomicU64::new(f64::NAN.to_bits()),
                segment: AtomicUsize::new(NO_SEGMENT),
                abandon: AtomicUsize::new(NO_SEGMENT),
                wake: Notify::new(),
            })
            .collect(),
        stop: AtomicBool::new(false),
        to_close: AtomicUsize::new(0),
        running: AtomicUsize::new(0),
        failed_beside_others: AtomicUsize::new(0),
        last_error: Mutex::new(None),
        ranges_fetched: AtomicUsize::new(0),
        pieces: setup.pieces,
    });

    // The first worker runs on the download's own host slot, with the
    // first answer's stream; the controller opens the others.
    let mut tasks = JoinSet::new();
    let mut busy = vec![false; split];
    busy[0] = true;
    tasks.spawn(worker(job.clone(), 0, first, None));
    let mut controller = Controller::new(ControllerSettings {
        max: split,
        keep_single_above: shared.config.keep_single_above.map(|n| n as f64),
        crowded: false,
    });
    // The controller's clock starts when the writer takes pieces: until
    // then the connections wait on the client's own preallocation.
    let mut started: Option<Instant> = None;

    let mut failure: Option<Failure> = None;
    let mut monitor = tokio::time::interval(MONITOR_PERIOD);
    monitor.tick().await;
    let mut last = (Instant::now(), job.received_by_worker());
    let mut next_tick = Instant::now() + controller.period();
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Ok((index, result))) => {
                    busy[index] = false;
                    // A connection that ended is no yardstick for the
                    // others: its last rate must not make them look slow.
                    job.workers[index]
                        .last_rate
                        .store(f64::NAN.to_bits(), Ordering::Relaxed);
                    if let Err(e) = result {
                        if failure.is_none() {
                            failure = Some(e);
                        }
                        job.stop.store(true, Ordering::Release);
                        job.changed.notify_waiters();
                    } else if tasks.is_empty()
                        && !job.stop.load(Ordering::Acquire)
                        && !job.plan().is_complete()
                        && job.failed_beside_others.load(Ordering::Acquire) > 0
                    {
                        // The connections that failed each thought
                        // another would carry on, and all have ended:
                        // one more takes the rest, on the download's own
                        // host slot, with what is left of the retries.
                        busy[index] = true;
                        tasks.spawn(worker(job.clone(), index, None, None));
                    }
                }
                Some(Err(panic)) => {
                    failure = Some(Failure::give_up(
                        Error::new(ErrorKind::Transfer, None).with_source(panic),
                    ));
                    job.stop.store(true, Ordering::Release);
                    job.changed.notify_waiters();
                }
            },
            () = tokio::time::sleep_until(next_tick) => {
                let running = tasks.len();
                let (received, remaining) = {
                    let plan = job.plan();
                    (job.fetched(), plan.remaining())
                };
                // Each running download has a connection (this one
                // included); a file that downloads started after is
                // crowded by the time it is sampled.
                controller.set_crowded(shared.totals.active() as usize > split);
                if started.is_none() && job.sender.is_ready() {
                    started = Some(Instant::now());
                }
                let decision = match started {
                    Some(started) => {
                        let reading = Reading {
                            at: started.elapsed(),
                            received,
                            busy: Some(job.sender.busy()),
                        };
                        controller.tick(reading, running, remaining)
                    }
                    None => Decision::Hold,
                };
                match decision {
                    Decision::Hold => {}
                    Decision::Close(n) => {
                        job.to_close.fetch_add(n, Ordering::AcqRel);
                        if controller.target() == 1 {
                            // One connection left: the rest in one
                            // request, not one per piece.
                            job.plan().prepare_for_one();
                        }
                    }
                    Decision::Open(n) if !job.stop.load(Ordering::Acquire) => {
                        // Cancel closes still pending first.
                        let pending = job.to_close.swap(0, Ordering::AcqRel);
                        let open = n.saturating_sub(pending);
                        let piece = piece_size(
                            shared.config.min_split_size,
                            controller.sampled_rate(),
                            setup.latency,
                        );
                        job.plan().prepare_for_more(piece);
                        let allowed = split
                            .saturating_sub(job.failed_beside_others.load(Ordering::Acquire))
                            .max(1);
                        let open = open.min(allowed.saturating_sub(tasks.len()));
                        for _ in 0..open {
                            let Some(index) = busy.iter().position(|b| !b) else {
                                break;
                            };
                            let mirror = &job.mirrors[index % job.mirrors.len()];
                            let Some(permit) = shared.hosts.try_acquire(&mirror.host_key) else {
                                break;
                            };
                            busy[index] = true;
                            tasks.spawn(worker(job.clone(), index, None, Some(permit)));
                        }
                    }
                    Decision::Open(_) => {}
                }
                next_tick = Instant::now() + controller.period();
            }
            _ = monitor.tick() => {
                let now = (Instant::now(), job.received_by_worker());
                job.give_up_slow(&last, &now);
                last = now;
            }
        }
    }
    let plan = job.plan();
    let received = plan.received().clone();
    let last_error = job
        .last_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let result = match failure {
        Some(failure) => Err(failure),
        None if plan.is_complete() => Ok(()),
        None => Err(Failure::give_up(last_error.unwrap_or_else(|| {
            Error::new(ErrorKind::Transfer, None).with_source(std::io::Error::other(
                "every connection ended with ranges still missing",
            ))
        }))),
    };
    let dropped = job
        .mirrors
        .iter()
        .filter(|m| !m.alive.load(Ordering::Acquire))
        .map(|m| m.url.clone())
        .collect();
    (result, received, dropped)
}

impl Job {
    fn plan(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes received by every connection of this fetch.
    fn fetched(&self) -> u64 {
        self.workers
            .iter()
            .map(|w| w.received.load(Ordering::Relaxed))
            .sum()
    }

    /// Takes one pending close, if any and if another connection goes on:
    /// the caller's connection stops.
    fn take_close(&self) -> bool {
        if self.running.load(Ordering::Acquire) <= 1 {
            return false;
        }
        self.to_close
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
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
                        let rate = bytes as f64 / secs;
                        state.last_rate.store(rate.to_bits(), Ordering::Relaxed);
                        SegmentRate {
                            id,
                            bytes_per_sec: rate,
                            remaining: segment.end - segment.start,
                        }
                    }
                    // An idle worker: its last measured rate is the
                    // yardstick, with nothing left to give up.
                    None => SegmentRate {
                        id: NO_SEGMENT,
                        bytes_per_sec: f64::from_bits(state.last_rate.load(Ordering::Relaxed)),
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

    /// Whether a connection that failed with `error` may end without a
    /// retry, leaving its range to the connections still running: a
    /// server that refuses (403, 503) or cuts short the connections beyond
    /// those it allows must not fail a download the others can finish, nor
    /// cost a retry per extra connection. The last connection retries:
    /// `error` is handed back when this one is it.
    fn others_carry_on(&self, error: Error) -> Option<Error> {
        // Only what the server or the network did: a full disk or a
        // refusing hook ends the download at once.
        let about_the_server = error.status().is_some() || error.is_retryable();
        if !about_the_server || self.running.load(Ordering::Acquire) <= 1 {
            return Some(error);
        }
        self.failed_beside_others.fetch_add(1, Ordering::AcqRel);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
        None
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

    /// Drops mirror `m` when another is still alive, and says whether it
    /// did: the last one is never dropped, since the connections that
    /// carry on (and the download's retries) still need a source.
    fn drop_mirror(&self, m: usize) -> bool {
        // Under the plan's lock, so two connections dropping the last two
        // mirrors at once cannot drop both.
        let _plan = self.plan();
        let other = (0..self.mirrors.len())
            .any(|i| i != m && self.mirrors[i].alive.load(Ordering::Acquire));
        if other {
            self.mirrors[m].alive.store(false, Ordering::Release);
        }
        other
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
                    ErrorKind::AnswerTimeout(idle),
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
        // Every range must prove it is the first answer's version: a
        // server that ignores If-Range serves another one as a 206.
        if !self.validator.same_version(&opened.validator) {
            return Err(FetchEnd::BadMirror(Error::new(
                ErrorKind::Protocol(format!(
                    "serves a range with {}, not {}: another version",
                    opened.validator.describe(),
                    self.validator.describe()
                )),
                Some(mirror.url.as_str()),
            )));
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
        let len = self.plan().len();
        let check = self
            .pieces
            .as_ref()
            .and_then(|hashes| PieceCheck::at(hashes.clone(), len, work.start));
        let mut gather =
            Gather::new(work.start, self.sender.buffer(), check).passing_large_chunks();
        // Where the bytes taken from the body reach.
        let mut taken = work.start;
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
                            received: gather.position() - work.start,
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
            taken += keep as u64;
            state.received.fetch_add(keep as u64, Ordering::Relaxed);
            self.progress.add_received(keep as u64);
            self.shared.totals.add_received(keep as u64);
            let ready = match gather.take(chunk.slice(..keep.min(chunk.len()))) {
                Ok(ready) => ready,
                Err(bad) => {
                    // The plan counted those bytes, and what followed them
                    // in the chunk: they are missing again.
                    if let ErrorKind::PieceMismatch { range, .. } = bad.kind() {
                        self.plan().unreceive(range.start..taken);
                    }
                    break Err(FetchEnd::BadPiece(bad));
                }
            };
            for (offset, bytes) in ready {
                self.sender
                    .send(offset, bytes)
                    .await
                    .map_err(FetchEnd::Error)?;
            }
            if advance.finished {
                self.changed.notify_waiters();
                break Ok(());
            }
        };
        // Whatever arrived (and, with piece hashes, matched) is kept,
        // however the fetch ended: a retry continues after it. Bytes of a
        // piece not yet checked are dropped, and fetched again.
        if let Some((offset, bytes)) = gather.rest() {
            self.sender
                .send(offset, bytes)
                .await
                .map_err(FetchEnd::Error)?;
        }
        let unchecked = gather.unchecked();
        if !unchecked.is_empty() {
            self.plan().unreceive(unchecked);
        }
        result
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
    permit: Option<HostPermit>,
) -> (usize, Result<(), Failure>) {
    job.running.fetch_add(1, Ordering::AcqRel);
    let result = connection(job.clone(), index, initial).await;
    job.running.fetch_sub(1, Ordering::AcqRel);
    drop(permit);
    (index, result)
}

async fn connection(
    job: Arc<Job>,
    index: usize,
    initial: Option<(Work, Option<BodyStream>)>,
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
            spent: &job.effective.retries_spent,
        };
        match retry_loop(retrying, &mut worker, |w| Box::pin(w.step())).await? {
            Step::Fetched => {
                // A whole range is progress: the retries are for
                // failures in a row.
                job.effective.retries_spent.store(0, Ordering::Release);
                continue;
            }
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
        // Between pieces: a connection the controller closes stops here.
        if self.initial.is_none() && job.take_close() {
            return Ok(Step::Done);
        }
        let (work, stream) = match self.initial.take() {
            Some(first) => first,
            None => match job.next_work().await {
                Some(work) => (work, None),
                None => return Ok(Step::Done),
            },
        };
        let own_request = stream.is_none();
        let state = &job.workers[self.index];
        state.segment.store(work.id, Ordering::Relaxed);
        job.progress.segment_started();
        let fetch_started = Instant::now();
        let received_before = state.received.load(Ordering::Relaxed);
        let result = job.fetch(self.index, &mut self.mirror, &work, stream).await;
        job.progress.segment_ended();
        // A fetch long enough to say how fast this connection is: shorter
        // ones are mostly a burst out of socket buffers, which would make
        // every other connection look slow.
        let secs = fetch_started.elapsed().as_secs_f64();
        if secs >= MIN_RATE_WINDOW.as_secs_f64() {
            let bytes = state.received.load(Ordering::Relaxed) - received_before;
            state
                .last_rate
                .store((bytes as f64 / secs).to_bits(), Ordering::Relaxed);
        }
        state.segment.store(NO_SEGMENT, Ordering::Relaxed);
        let error = match result {
            Ok(()) => {
                if own_request {
                    job.ranges_fetched.fetch_add(1, Ordering::AcqRel);
                }
                return Ok(Step::Fetched);
            }
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
                // A range refused (403, 404, 416, 429 by a server that
                // limits connections) while other connections run is left
                // to them.
                let refused = error.status().is_some_and(|s| (400..500).contains(&s));
                let error = if refused {
                    match job.others_carry_on(error) {
                        None => return Ok(Step::Done),
                        Some(error) => error,
                    }
                } else {
                    error
                };
                // The only source left answers ranges with the whole
                // file, another version or size, or refuses a range to
                // its last connection after serving the first answer: one
                // stream from the start can still work (and a file that
                // is gone fails there, at once). Other failures (a TLS
                // refusal, a hook's) end the download.
                let ranges_broken = refused
                    || matches!(
                        error.kind(),
                        ErrorKind::Protocol(_) | ErrorKind::SizeMismatch { .. }
                    );
                let next = if ranges_broken {
                    Next::StartOver
                } else {
                    Next::GiveUp
                };
                return Err(Failure::new(error, next));
            }
            Err(FetchEnd::BadPiece(error)) => {
                job.release(&work);
                let mirror = &job.mirrors[self.mirror];
                let bad = mirror.bad_pieces.fetch_add(1, Ordering::AcqRel) + 1;
                if bad >= BAD_PIECES_TO_DROP {
                    if job.drop_mirror(self.mirror) {
                        return Err(Failure::new(error, Next::RetryNow));
                    }
                    // The only source left keeps serving bad pieces: each
                    // one more costs a retry.
                    return Err(Failure::from(error));
                }
                // Fetched again (by whichever connection takes the piece).
                return Err(Failure::new(error, Next::RetryNow));
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
        // a lone URL is retried with backoff by its last connection.
        if job.drop_mirror(self.mirror) {
            return Err(Failure::new(error, Next::RetryNow));
        }
        match job.others_carry_on(error) {
            None => Ok(Step::Done),
            // Every range asked for failed, the others' too, where the
            // first answer streamed: this server serves the file but no
            // ranges (it cuts, stalls or refuses them), so one stream from
            // the start is the way, as with `-s 1`, rather than retries
            // of ranges.
            Some(error)
                if own_request
                    && job.failed_beside_others.load(Ordering::Acquire) > 0
                    && job.ranges_fetched.load(Ordering::Acquire) == 0 =>
            {
                Err(Failure::new(error, Next::StartOver))
            }
            Some(error) => Err(Failure::from(error)),
        }
    }
}
