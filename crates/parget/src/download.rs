//! One download, from request to report: destination checks, attempts with
//! retries and resume, streaming into the sink, verification, rename.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::time::Instant;

use crate::config::LowestSpeed;
use crate::engine::Shared;
use crate::error::{Error, ErrorKind};
use crate::event::DownloadProgress;
use crate::plan::RangeSet;
use crate::report::{Outcome, Report};
use crate::request::Request;
use crate::retry::RetryDecision;
use crate::segmented::{self, Failure};
use crate::sink::{self, Control, PartSink, PositionedSink, CONTROL_VERSION, FLUSH_SIZE};
use crate::transport::{OpenRequest, Transport, Validator};
use crate::verify::{Algorithm, Digest};

/// Runs one download to its end and reports it.
pub(crate) async fn run(shared: Arc<Shared>, request: Request, repeated: bool) -> Report {
    let started = Instant::now();
    let url = request.url().as_str().to_owned();
    let mut run = Run {
        shared: &shared,
        request: &request,
        attempts: 0,
        progress: None,
    };
    let result = run.download(repeated).await;
    let attempts = run.attempts;
    let (outcome, bytes, digests, data) = match result {
        Ok(Done::Downloaded {
            bytes,
            digests,
            data,
        }) => (Outcome::Downloaded, bytes, digests, data),
        Ok(Done::Skipped { bytes, digests }) => (Outcome::Skipped, bytes, digests, None),
        Err(e) => (Outcome::Failed(e.with_url(&url)), 0, Vec::new(), None),
    };
    if run.progress.is_some() {
        shared.totals.ended(!matches!(outcome, Outcome::Failed(_)));
    }
    let report = Report {
        url,
        destination: request.destination().to_owned(),
        outcome,
        bytes,
        digests,
        elapsed: started.elapsed(),
        attempts,
        data,
    };
    shared.reporter.finished(&report);
    report
}

enum Done {
    Downloaded {
        bytes: u64,
        digests: Vec<Digest>,
        data: Option<Bytes>,
    },
    Skipped {
        bytes: u64,
        digests: Vec<Digest>,
    },
}

struct Run<'a> {
    shared: &'a Arc<Shared>,
    request: &'a Request,
    attempts: u32,
    progress: Option<Arc<DownloadProgress>>,
}

/// Where the bytes of the current download stand.
struct Transfer {
    /// Bytes of the file handed to the sink, contiguous from byte 0.
    offset: u64,
    /// The validators the bytes in the sink came with.
    validator: Option<Validator>,
    /// The resource size, once announced.
    total: Option<u64>,
    /// True when the server can continue from `offset` (Range and a validator).
    resumable: bool,
    /// The sink, opened at the first flush (small bodies never open one).
    sink: Option<PartSink>,
    /// Bytes received but not yet handed to the sink.
    buffer: BytesMut,
    /// Bytes kept from an earlier run, to be hashed when the sink opens.
    kept: u64,
    /// A download to memory: the flushed buffers, in order.
    memory: Option<Vec<Bytes>>,
    /// Ranges of an earlier segmented run, to be completed by segments.
    segmented_resume: Option<RangeSet>,
    /// The server answered a range with the whole file: one stream only.
    segments_disabled: bool,
    /// Set by an attempt whose failure must not be retried by the attempt
    /// loop (segments retry on their own), or must be retried at once
    /// (a segmented download that starts over).
    after_failure: AfterFailure,
}

/// What the attempt loop does after a failed attempt.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AfterFailure {
    /// Ask the retry policy.
    Policy,
    /// Retry at once: the download starts over.
    StartOver,
    /// Give up: the failure was already retried inside the attempt.
    GiveUp,
}

/// How an attempt ended.
enum AttemptEnd {
    /// The whole body arrived, in the stream buffers.
    Complete,
    /// A segmented download completed in its positioned sink.
    Segmented(sink::Finished),
}

impl Run<'_> {
    async fn download(&mut self, repeated: bool) -> Result<Done, Error> {
        let request = self.request;
        let shared = self.shared;
        let transport = shared.transport_for(request.url())?;
        let algorithms: Vec<Algorithm> = request.digests().iter().map(Digest::algorithm).collect();
        let _claim = if request.is_in_memory() {
            None
        } else {
            let claim = shared.claim(request.destination(), repeated)?;
            if let Some(done) = self.check_existing(&algorithms).await? {
                return Ok(done);
            }
            Some(claim)
        };

        let _host = shared
            .hosts
            .acquire(&crate::limit::host_key(request.url()))
            .await;
        let progress = Arc::new(DownloadProgress::new(
            request.url().as_str().to_owned(),
            request.destination().to_owned(),
        ));
        self.progress = Some(progress.clone());
        shared.totals.started();
        shared.reporter.started(&progress);

        let mut transfer = self.prepare_resume().await?;
        progress.set_received(transfer.offset);
        let result = self
            .attempt_until_done(&*transport, &mut transfer, &progress, &algorithms)
            .await;
        self.attempts = self.attempts.max(progress.attempts());
        match result {
            Ok(AttemptEnd::Complete) => self.finish(transfer, algorithms).await,
            Ok(AttemptEnd::Segmented(finished)) => self.finish_positioned(finished).await,
            Err(e) => {
                if let Some(sink) = transfer.sink.take() {
                    sink.close().await;
                }
                if e.is_validation() && !request.is_in_memory() {
                    sink::discard(request.destination().to_owned()).await;
                }
                Err(e)
            }
        }
    }

    /// A destination that exists: skipped when it matches what was
    /// expected, refused when nothing was expected (unless overwriting is
    /// allowed), replaced when it is known wrong.
    async fn check_existing(&self, algorithms: &[Algorithm]) -> Result<Option<Done>, Error> {
        let request = self.request;
        let expectations = request.has_expectations();
        let hash_with = if expectations {
            algorithms.to_vec()
        } else {
            Vec::new()
        };
        let Some(existing) =
            sink::inspect_existing(request.destination().to_owned(), hash_with).await?
        else {
            return Ok(None);
        };
        if !expectations {
            return if self.shared.config.allow_overwrite {
                Ok(None)
            } else {
                Err(Error::new(
                    ErrorKind::DestinationExists(request.destination().to_owned()),
                    None,
                ))
            };
        }
        let size_ok = request.expected_size().is_none_or(|n| n == existing.len);
        let digests_ok = request
            .digests()
            .iter()
            .all(|d| existing.digests.contains(d));
        Ok((size_ok && digests_ok).then_some(Done::Skipped {
            bytes: existing.len,
            digests: existing.digests,
        }))
    }

    /// With `--continue`, picks up an earlier run's `.part` file when its
    /// control file says it belongs to this URL.
    async fn prepare_resume(&self) -> Result<Transfer, Error> {
        let mut transfer = Transfer {
            offset: 0,
            validator: None,
            total: None,
            resumable: false,
            sink: None,
            buffer: BytesMut::new(),
            kept: 0,
            memory: self.request.is_in_memory().then(Vec::new),
            segmented_resume: None,
            segments_disabled: false,
            after_failure: AfterFailure::Policy,
        };
        if !self.shared.config.resume_partial || self.request.is_in_memory() {
            return Ok(transfer);
        }
        let Some(found) = sink::inspect_part(self.request.destination().to_owned()).await? else {
            return Ok(transfer);
        };
        let Some(control) = found.control else {
            // Bytes without a record of where they came from cannot be
            // validated: start over rather than risk splicing.
            return Ok(transfer);
        };
        let url = self.request.url().as_str();
        if control.version != CONTROL_VERSION || control.url != url {
            return Err(Error::new(
                ErrorKind::ResumeRefused(format!(
                    "{} belongs to {} (control file version {}), not to this URL; remove it or choose another output",
                    sink::part_path(self.request.destination()).display(),
                    control.url,
                    control.version
                )),
                None,
            ));
        }
        if let (Some(ranges), Some(total)) = (&control.ranges, control.total) {
            // An earlier segmented run: its ranges say what is on disk.
            let part = sink::part_path(self.request.destination());
            if let Some(expected) = self.request.expected_size().filter(|&n| n != total) {
                return Err(Error::new(
                    ErrorKind::ResumeRefused(format!(
                        "{} holds a {total}-byte file, but {expected} bytes are expected; remove it to start over",
                        part.display()
                    )),
                    None,
                ));
            }
            if found.part_len != total {
                return Err(Error::new(
                    ErrorKind::ResumeRefused(format!(
                        "{} is {} bytes but its control file describes {total}; remove both to start over",
                        part.display(),
                        found.part_len
                    )),
                    None,
                ));
            }
            if control.validator.if_range().is_some() {
                transfer.total = Some(total);
                transfer.segmented_resume = Some(RangeSet::from_ranges(
                    ranges.iter().map(|&[start, end]| start..end.min(total)),
                ));
                transfer.validator = Some(control.validator);
            }
            return Ok(transfer);
        }
        let fits = control.total.is_none_or(|total| found.part_len <= total)
            && self
                .request
                .expected_size()
                .is_none_or(|n| found.part_len <= n)
            && control.validator.if_range().is_some();
        if fits {
            transfer.offset = found.part_len;
            transfer.kept = found.part_len;
            transfer.total = control.total;
            transfer.validator = Some(control.validator);
            transfer.resumable = true;
        }
        Ok(transfer)
    }

    async fn attempt_until_done(
        &mut self,
        transport: &dyn Transport,
        transfer: &mut Transfer,
        progress: &Arc<DownloadProgress>,
        algorithms: &[Algorithm],
    ) -> Result<AttemptEnd, Error> {
        let shared = self.shared;
        let mut retries = 0;
        loop {
            self.attempts += 1;
            progress.set_attempts(self.attempts);
            let attempt = self.attempt(transport, transfer, progress, algorithms);
            let error = tokio::select! {
                result = attempt => match result {
                    Ok(end) => return Ok(end),
                    Err(e) => e,
                },
                () = shared.cancelled() => Error::new(ErrorKind::Cancelled, None),
            };
            if error.is_cancelled() {
                self.flush(transfer, algorithms).await?;
                return Err(error);
            }
            match std::mem::replace(&mut transfer.after_failure, AfterFailure::Policy) {
                AfterFailure::GiveUp => return Err(error),
                AfterFailure::StartOver => {
                    shared.reporter.retrying(progress, &error, Duration::ZERO);
                    continue;
                }
                AfterFailure::Policy => {}
            }
            if error.is_retryable() && transfer.resumable {
                // Keep what arrived: the next attempt continues after it.
                self.flush(transfer, algorithms).await?;
            }
            let decision = shared.config.retry.decide(
                retries,
                error.is_retryable(),
                error.retry_after(),
                fastrand::f64(),
            );
            let RetryDecision::RetryAfter(delay) = decision else {
                return Err(error);
            };
            shared.reporter.retrying(progress, &error, delay);
            retries += 1;
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shared.cancelled() => return Err(Error::new(ErrorKind::Cancelled, None)),
            }
        }
    }

    /// One request: open at the current offset and stream the body.
    async fn attempt(
        &self,
        transport: &dyn Transport,
        transfer: &mut Transfer,
        progress: &Arc<DownloadProgress>,
        algorithms: &[Algorithm],
    ) -> Result<AttemptEnd, Error> {
        let config = &self.shared.config;
        let url = self.request.url();
        if let (Some(done), Some(len)) = (transfer.segmented_resume.clone(), transfer.total) {
            let piece = self.shared.config.min_split_size;
            return self
                .segmented(transfer, None, (len, piece), done, progress, algorithms)
                .await;
        }
        // Bytes buffered but not flushed belong to a failed attempt whose
        // server could not resume: they are dropped with the restart below.
        let want = if transfer.resumable {
            transfer.offset + transfer.buffer.len() as u64
        } else {
            0
        };
        if !transfer.resumable {
            transfer.buffer.clear();
        }
        let asked = Instant::now();
        let open = transport.open(OpenRequest {
            url,
            offset: want,
            end: None,
            validator: transfer.validator.as_ref().filter(|_| want > 0),
        });
        let opened = tokio::time::timeout(config.idle_timeout, open)
            .await
            .map_err(|_| Error::new(ErrorKind::IdleTimeout(config.idle_timeout), None))?;
        let opened = match opened {
            // The resource is shorter than the bytes already held (the
            // server lied about its length, or the file changed): the held
            // bytes cannot be continued, so the next attempt starts over.
            Err(e) if want > 0 && e.status() == Some(416) => {
                transfer.resumable = false;
                return Err(Error::new(ErrorKind::Transfer, None).with_source(
                    std::io::Error::other(format!(
                        "the server cannot continue at byte {want} (HTTP 416); starting over"
                    )),
                ));
            }
            other => other?,
        };

        let continuing = want > 0 && opened.offset == want;
        if let (true, Some(before), Some(now)) = (continuing, transfer.total, opened.total) {
            if before != now {
                // The bytes held were announced as part of another size:
                // the resource changed or the server lies; never splice.
                transfer.resumable = false;
                return Err(Error::new(ErrorKind::Transfer, None).with_source(
                    std::io::Error::other(format!(
                    "the size changed from {before} to {now} bytes between requests; starting over"
                )),
                ));
            }
        }
        if !continuing {
            // Served from byte 0: whatever is on disk is another version
            // or a lost cause; never splice.
            transfer.buffer.clear();
            if let Some(memory) = transfer.memory.as_mut() {
                memory.clear();
            }
            if let Some(sink) = transfer.sink.as_mut() {
                sink.restart(control_for(url.as_str(), opened.total, &opened.validator))
                    .await?;
            }
            transfer.offset = 0;
            transfer.kept = 0;
            progress.set_received(0);
        }
        transfer.validator = Some(opened.validator.clone());
        transfer.resumable = opened.ranges && opened.validator.if_range().is_some();
        transfer.total = opened.total.or(opened.body_len.map(|n| opened.offset + n));
        progress.set_total(transfer.total);
        if let (Some(expected), Some(total)) = (self.request.expected_size(), transfer.total) {
            if expected != total {
                return Err(Error::new(
                    ErrorKind::SizeMismatch {
                        expected,
                        actual: total,
                    },
                    None,
                ));
            }
        }
        let candidate = self.segmentable(transfer, &opened);
        let segment_len = match candidate {
            Some(len)
                if opened.ranges || self.probe_ranges(transport, &opened.validator, len).await =>
            {
                Some(len)
            }
            _ => None,
        };
        // How long a request waits for its answer: each piece of a
        // segmented download pays it again.
        let latency = asked.elapsed();
        let mut body = opened.body;
        if let Some(len) = segment_len {
            let sample = sample_rate(&mut body, config.keep_single_above).await?;
            let piece = piece_size(config.min_split_size, sample.rate, latency);
            let seen = futures_util::stream::iter(sample.seen.into_iter().map(Ok));
            // A body that already ended is not polled again.
            body = if sample.ended {
                seen.boxed()
            } else {
                seen.chain(body).boxed()
            };
            if !sample.fast && !sample.ended {
                return self
                    .segmented(
                        transfer,
                        Some(body),
                        (len, piece),
                        RangeSet::new(),
                        progress,
                        algorithms,
                    )
                    .await;
            }
        }
        if transfer.buffer.capacity() == 0 {
            // Small bodies get a buffer of their size; large ones one flush unit.
            let hint = transfer
                .total
                .unwrap_or(FLUSH_SIZE as u64)
                .min(FLUSH_SIZE as u64);
            transfer.buffer.reserve(hint as usize);
        }
        self.stream_body(
            body,
            opened.offset,
            opened.body_len,
            transfer,
            progress,
            algorithms,
        )
        .await
    }

    async fn stream_body(
        &self,
        mut body: crate::transport::BodyStream,
        start: u64,
        body_len: Option<u64>,
        transfer: &mut Transfer,
        progress: &Arc<DownloadProgress>,
        algorithms: &[Algorithm],
    ) -> Result<AttemptEnd, Error> {
        let config = &self.shared.config;
        let expected_size = self.request.expected_size();
        let mut received: u64 = 0;
        let mut speed = SpeedCheck::new(config.lowest_speed, Instant::now());
        let mut last_data = Instant::now();
        loop {
            let deadline = speed
                .deadline()
                .map_or(last_data + config.idle_timeout, |d| {
                    d.min(last_data + config.idle_timeout)
                });
            let next = tokio::time::timeout_at(deadline, body.next()).await;
            let now = Instant::now();
            let chunk = match next {
                Err(_) => {
                    speed.check(now)?;
                    if now >= last_data + config.idle_timeout {
                        return Err(Error::new(
                            ErrorKind::IdleTimeout(config.idle_timeout),
                            None,
                        ));
                    }
                    continue;
                }
                Ok(Some(Ok(chunk))) => chunk,
                Ok(Some(Err(e))) => return Err(e),
                Ok(None) => break,
            };
            last_data = now;
            let n = chunk.len() as u64;
            received += n;
            if body_len.is_some_and(|len| received > len) {
                return Err(Error::new(
                    ErrorKind::Protocol(format!(
                        "body longer than its announced {} bytes",
                        body_len.unwrap_or(0)
                    )),
                    None,
                ));
            }
            let file_len = start + received;
            if let Some(expected) = expected_size {
                // Stop an endless or oversized body at once, not at its end.
                if file_len > expected {
                    return Err(Error::new(
                        ErrorKind::SizeMismatch {
                            expected,
                            actual: file_len,
                        },
                        None,
                    ));
                }
            }
            transfer.buffer.extend_from_slice(&chunk);
            progress.add_received(n);
            self.shared.totals.add_received(n);
            speed.record(n);
            speed.check(now)?;
            if transfer.buffer.len() >= FLUSH_SIZE {
                self.flush(transfer, algorithms).await?;
            }
        }
        if let Some(len) = body_len {
            if received < len {
                return Err(Error::new(
                    ErrorKind::Truncated {
                        expected: len,
                        received,
                    },
                    None,
                ));
            }
        }
        Ok(AttemptEnd::Complete)
    }

    /// Hands the buffered bytes to the sink, opening it first if needed.
    async fn flush(&self, transfer: &mut Transfer, algorithms: &[Algorithm]) -> Result<(), Error> {
        if transfer.buffer.is_empty() {
            return Ok(());
        }
        if let Some(memory) = transfer.memory.as_mut() {
            let bytes = transfer.buffer.split().freeze();
            transfer.offset += bytes.len() as u64;
            memory.push(bytes);
            transfer.buffer.reserve(FLUSH_SIZE);
            return Ok(());
        }
        if transfer.sink.is_none() {
            let destination = self.request.destination();
            let validator = transfer.validator.clone().unwrap_or_default();
            let control = control_for(self.request.url().as_str(), transfer.total, &validator);
            transfer.sink = Some(
                PartSink::open(
                    sink::part_path(destination),
                    sink::control_path(destination),
                    control,
                    transfer.kept.min(transfer.offset),
                    algorithms.to_vec(),
                )
                .await?,
            );
        }
        let Some(sink) = transfer.sink.as_mut() else {
            unreachable!("the sink was opened above");
        };
        let bytes = std::mem::replace(&mut transfer.buffer, sink.pool().take()).freeze();
        transfer.offset += bytes.len() as u64;
        sink.write(bytes).await
    }

    /// Verifies the complete file and renames it into place.
    async fn finish(
        &self,
        mut transfer: Transfer,
        algorithms: Vec<Algorithm>,
    ) -> Result<Done, Error> {
        let destination = self.request.destination().to_owned();
        let fsync = self.shared.config.fsync;
        if let Some(mut memory) = transfer.memory.take() {
            memory.push(transfer.buffer.split().freeze());
            let data: Bytes = if memory.len() == 1 {
                memory.pop().unwrap_or_default()
            } else {
                memory.concat().into()
            };
            let digests = sink::hash_bytes(data.clone(), algorithms).await?;
            self.verify(data.len() as u64, &digests)?;
            return Ok(Done::Downloaded {
                bytes: data.len() as u64,
                digests,
                data: Some(data),
            });
        }
        if transfer.sink.is_none() && transfer.kept == 0 {
            let bytes: Bytes = transfer.buffer.split().freeze();
            let digests = sink::hash_bytes(bytes.clone(), algorithms).await?;
            self.verify(bytes.len() as u64, &digests)?;
            let len = bytes.len() as u64;
            sink::write_small(destination, bytes, fsync).await?;
            return Ok(Done::Downloaded {
                bytes: len,
                digests,
                data: None,
            });
        }
        self.flush(&mut transfer, &algorithms).await?;
        let sink = match transfer.sink.take() {
            Some(sink) => sink,
            // Resumed with nothing left to fetch: open the kept bytes to
            // hash and check them.
            None => {
                let destination = self.request.destination();
                let validator = transfer.validator.clone().unwrap_or_default();
                PartSink::open(
                    sink::part_path(destination),
                    sink::control_path(destination),
                    control_for(self.request.url().as_str(), transfer.total, &validator),
                    transfer.kept,
                    algorithms.clone(),
                )
                .await?
            }
        };
        let (file, len, digests) = sink.finish().await?;
        if let Err(e) = self.verify(len, &digests) {
            sink::discard(destination).await;
            return Err(e);
        }
        sink::commit(file, destination, fsync).await?;
        Ok(Done::Downloaded {
            bytes: len,
            digests,
            data: None,
        })
    }

    /// The size to split, when this response can be taken over as the
    /// first segment of a segmented download: the whole resource from byte
    /// 0, a validator to keep the segments of one version, and large enough
    /// for two pieces. Range support is checked by the caller.
    fn segmentable(&self, transfer: &Transfer, opened: &crate::transport::Opened) -> Option<u64> {
        let config = &self.shared.config;
        let len = opened.body_len?;
        let fits = config.split > 1
            && !transfer.segments_disabled
            && transfer.sink.is_none()
            && opened.offset == 0
            && opened.validator.if_range().is_some()
            && len >= config.min_split_size.saturating_mul(2);
        fits.then_some(len)
    }

    /// Asks for `bytes=0-0` when the first answer did not say whether Range
    /// works (no `Accept-Ranges`; some servers honour Range without saying
    /// so). A 206 for exactly that byte of a `len`-byte resource means yes;
    /// anything else means one stream, and costs nothing more.
    async fn probe_ranges(
        &self,
        transport: &dyn Transport,
        validator: &Validator,
        len: u64,
    ) -> bool {
        let probe = transport.open(OpenRequest {
            url: self.request.url(),
            offset: 0,
            end: Some(1),
            validator: Some(validator),
        });
        match tokio::time::timeout(self.shared.config.idle_timeout, probe).await {
            Ok(Ok(answer)) => {
                let exact =
                    answer.offset == 0 && answer.body_len == Some(1) && answer.total == Some(len);
                if exact {
                    // Read the one byte so the connection can be reused.
                    let mut body = answer.body;
                    while let Ok(Some(Ok(_))) =
                        tokio::time::timeout(self.shared.config.idle_timeout, body.next()).await
                    {
                    }
                }
                exact
            }
            _ => false,
        }
    }

    /// Runs a segmented download (taking over `first`, the open stream of
    /// the whole file, when given) into a positioned sink.
    async fn segmented(
        &self,
        transfer: &mut Transfer,
        first: Option<crate::transport::BodyStream>,
        (len, piece): (u64, u64),
        done: RangeSet,
        progress: &Arc<DownloadProgress>,
        algorithms: &[Algorithm],
    ) -> Result<AttemptEnd, Error> {
        let request = self.request;
        let validator = transfer.validator.clone().unwrap_or_default();
        let resumed = !done.is_empty();
        let sink = if request.is_in_memory() {
            PositionedSink::open_memory(algorithms.to_vec())
        } else {
            let destination = request.destination();
            PositionedSink::open_file(
                sink::part_path(destination),
                sink::control_path(destination),
                control_for(request.url().as_str(), Some(len), &validator),
                len,
                done.clone(),
                algorithms.to_vec(),
            )
            .await?
        };
        progress.set_total(Some(len));
        progress.set_received(done.covered());
        let mut urls = vec![request.url().clone()];
        urls.extend(request.mirrors().iter().cloned());
        let setup = segmented::Setup {
            urls,
            validator,
            len,
            piece,
            done,
            first,
            sender: sink.sender(),
            progress: progress.clone(),
        };
        let result = segmented::run(self.shared.clone(), setup).await;
        // The sink finishes either way: its threads stop and, on failure,
        // its last checkpoint records what is on disk for a resume.
        let finished = sink.finish(result.is_ok()).await;
        match result {
            Ok(()) => Ok(AttemptEnd::Segmented(finished?)),
            Err(Failure::StartOver(error)) => {
                // A resumed file changed: start over, segmented again. A
                // fresh one whose server ignores Range: one stream.
                transfer.segmented_resume = None;
                transfer.segments_disabled = !resumed;
                transfer.offset = 0;
                transfer.kept = 0;
                transfer.resumable = false;
                transfer.after_failure = AfterFailure::StartOver;
                Err(error)
            }
            Err(Failure::Failed(error)) => {
                transfer.after_failure = AfterFailure::GiveUp;
                Err(error)
            }
        }
    }

    /// Verifies a finished segmented download and puts it in place.
    async fn finish_positioned(&self, finished: sink::Finished) -> Result<Done, Error> {
        if let Err(e) = self.verify(finished.len, &finished.digests) {
            if !self.request.is_in_memory() {
                sink::discard(self.request.destination().to_owned()).await;
            }
            return Err(e);
        }
        if let Some(file) = finished.file {
            sink::commit(
                file,
                self.request.destination().to_owned(),
                self.shared.config.fsync,
            )
            .await?;
        }
        Ok(Done::Downloaded {
            bytes: finished.len,
            digests: finished.digests,
            data: finished.data,
        })
    }

    fn verify(&self, len: u64, digests: &[Digest]) -> Result<(), Error> {
        if let Some(expected) = self.request.expected_size() {
            if expected != len {
                return Err(Error::new(
                    ErrorKind::SizeMismatch {
                        expected,
                        actual: len,
                    },
                    None,
                ));
            }
        }
        for expected in self.request.digests() {
            let actual = digests
                .iter()
                .find(|d| d.algorithm() == expected.algorithm());
            match actual {
                Some(actual) if actual == expected => {}
                Some(actual) => {
                    return Err(Error::new(
                        ErrorKind::DigestMismatch {
                            expected: expected.clone(),
                            actual: actual.clone(),
                        },
                        None,
                    ))
                }
                None => {
                    return Err(Error::new(
                        ErrorKind::Protocol(format!(
                            "no {} digest was computed",
                            expected.algorithm()
                        )),
                        None,
                    ))
                }
            }
        }
        Ok(())
    }
}

fn control_for(url: &str, total: Option<u64>, validator: &Validator) -> Control {
    Control {
        version: CONTROL_VERSION,
        url: url.to_owned(),
        total,
        validator: validator.clone(),
        ranges: None,
    }
}

/// How long the first stream is watched before deciding to split.
const SAMPLE_TIME: Duration = Duration::from_millis(20);

/// What the first [`SAMPLE_TIME`] of a stream showed.
struct Sample {
    /// The chunks read, to be used as the start of the body.
    seen: Vec<Bytes>,
    /// The stream reached `keep_single_above` bytes/s.
    fast: bool,
    /// The rate seen, bytes/s, when it was measured.
    rate: Option<f64>,
    /// The body ended within the window.
    ended: bool,
}

/// Reads the first stream for [`SAMPLE_TIME`] and says whether it is
/// already faster than `keep_single_above` (see
/// `DownloaderBuilder::keep_single_stream_above`).
async fn sample_rate(
    body: &mut crate::transport::BodyStream,
    keep_single_above: Option<u64>,
) -> Result<Sample, Error> {
    let Some(threshold) = keep_single_above else {
        return Ok(Sample {
            seen: Vec::new(),
            fast: false,
            rate: None,
            ended: false,
        });
    };
    let started = Instant::now();
    let deadline = started + SAMPLE_TIME;
    let mut seen = Vec::new();
    let mut bytes = 0u64;
    let mut ended = false;
    loop {
        match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => break,
            Ok(None) => {
                ended = true;
                break;
            }
            Ok(Some(chunk)) => {
                let chunk = chunk?;
                bytes += chunk.len() as u64;
                seen.push(chunk);
                // Enough to judge; the sample is held in memory.
                if bytes >= SAMPLE_BYTES {
                    break;
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64().max(1e-6);
    let rate = bytes as f64 / secs;
    Ok(Sample {
        seen,
        fast: rate >= threshold as f64,
        rate: Some(rate),
        ended,
    })
}

/// The most of the first stream held while sampling.
const SAMPLE_BYTES: u64 = 1 << 20;

/// The size of the pieces a segmented download hands out in order: at
/// least `min_split`, and large enough that fetching a piece takes eight
/// times the request's `latency` at the `rate` seen, so waiting for
/// answers costs at most an eighth of the time. Small pieces keep the
/// digest frontier close behind the connections; on a link with latency
/// they would mostly wait (measured: 64 MiB files behind 50 ms of latency
/// took twice as long with 4 MiB pieces).
fn piece_size(min_split: u64, rate: Option<f64>, latency: Duration) -> u64 {
    let covering = rate.map_or(0.0, |rate| rate * latency.as_secs_f64() * 8.0);
    if covering.is_finite() && covering > min_split as f64 {
        covering.min(u64::MAX as f64 / 2.0) as u64
    } else {
        min_split
    }
}

/// A stable key for a destination path: `a/./b` and `a//b` are one path.
pub(crate) fn destination_key(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// The lowest-speed-limit check: the rate over each window must reach the
/// limit, so a server trickling bytes cannot hold a slot forever.
struct SpeedCheck {
    limit: Option<LowestSpeed>,
    window_start: Instant,
    bytes: u64,
}

impl SpeedCheck {
    fn new(limit: Option<LowestSpeed>, now: Instant) -> SpeedCheck {
        SpeedCheck {
            limit,
            window_start: now,
            bytes: 0,
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.limit.map(|l| self.window_start + l.window)
    }

    fn record(&mut self, n: u64) {
        self.bytes += n;
    }

    fn check(&mut self, now: Instant) -> Result<(), Error> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let elapsed = now.duration_since(self.window_start);
        if elapsed < limit.window {
            return Ok(());
        }
        let rate = rate(self.bytes, elapsed);
        if rate < limit.bytes_per_second {
            return Err(Error::new(
                ErrorKind::TooSlow {
                    limit: limit.bytes_per_second,
                    rate,
                },
                None,
            ));
        }
        self.window_start = now;
        self.bytes = 0;
        Ok(())
    }
}

fn rate(bytes: u64, elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return u64::MAX;
    }
    (bytes as f64 / secs) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_grow_with_latency_times_rate() {
        let mib = 1 << 20;
        let ms = Duration::from_millis;
        assert_eq!(
            piece_size(4 * mib, None, ms(50)),
            4 * mib,
            "unmeasured: the minimum"
        );
        assert_eq!(
            piece_size(4 * mib, Some(20e6), Duration::from_micros(100)),
            4 * mib,
            "loopback"
        );
        // 100 MB/s behind 50 ms: a piece of 40 MB takes eight round trips.
        assert_eq!(piece_size(4 * mib, Some(100e6), ms(50)), 40_000_000);
        assert_eq!(
            piece_size(4 * mib, Some(f64::INFINITY), ms(50)),
            4 * mib,
            "no nonsense from a zero-time sample"
        );
        assert_eq!(piece_size(4 * mib, Some(f64::NAN), ms(50)), 4 * mib);
    }

    #[test]
    fn destination_key_folds_dot_components() {
        assert_eq!(
            destination_key(Path::new("a/./b")),
            destination_key(Path::new("a/b"))
        );
        assert_eq!(
            destination_key(Path::new("./a//b")),
            destination_key(Path::new("a/b"))
        );
        assert_ne!(
            destination_key(Path::new("a/../b")),
            destination_key(Path::new("b"))
        );
    }

    #[test]
    fn speed_check_fails_a_slow_window_and_passes_a_fast_one() {
        let t0 = Instant::now();
        let limit = LowestSpeed {
            bytes_per_second: 1000,
            window: Duration::from_secs(2),
        };
        let mut check = SpeedCheck::new(Some(limit), t0);
        check.record(1500);
        assert!(
            check.check(t0 + Duration::from_secs(1)).is_ok(),
            "window not over yet"
        );
        let err = check.check(t0 + Duration::from_secs(2)).unwrap_err();
        assert!(err.is_timeout(), "{err}");

        let mut check = SpeedCheck::new(Some(limit), t0);
        check.record(5000);
        assert!(check.check(t0 + Duration::from_secs(2)).is_ok());
        assert_eq!(check.deadline(), Some(t0 + Duration::from_secs(4)));
        assert!(SpeedCheck::new(None, t0)
            .check(t0 + Duration::from_secs(99))
            .is_ok());
    }
}
