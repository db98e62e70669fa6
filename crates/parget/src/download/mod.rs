//! One download, from request to report, in stages a reader can follow
//! down [`run`]:
//!
//! 1. **claim** the destination: one writer per path ([`Shared::claim`]);
//! 2. **inspect** what is on disk ([`inspect`]) and **decide** to skip,
//!    refuse, resume or start over ([`resume`], pure);
//! 3. **limits**: the caller holds a global slot, this takes a host slot;
//! 4. **attempts**, under the one [`retry_loop`], each of which
//!    - **opens**: the first request is the probe ([`open`]),
//!    - chooses a **strategy**: one stream or segments ([`strategy`], pure),
//!    - **fetches** into the sink ([`stream`] or [`segments`]);
//! 5. **finish**: verify size and digests, then rename into place, hand
//!    back, or discard ([`finish`]);
//! 6. **report**.

mod controller;
mod disposition;
mod finish;
mod gather;
mod inspect;
mod open;
mod pieces;
mod resume;
mod retry_loop;
mod segments;
mod sources;
mod strategy;
mod stream;
mod transfer;

use std::sync::atomic::AtomicU32;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use http::HeaderMap;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, ErrorKind};
use crate::event::{DownloadId, DownloadProgress, Totals};
use crate::hooks::{FinishHook, ResponseHead, ResponseHook, Verified};
use crate::limit::host_key;
use crate::plan::RangeSet;
use crate::report::{Outcome, Report};
use crate::request::Request;
use crate::retry::RetryPolicy;
use crate::shared::{Claim, Shared};
use crate::sink::{self, Layout};
use crate::transport::{BodyStream, Throttle};
use crate::verify::Algorithm;

use finish::Done;
use resume::{Decision, Held, Wanted};
use retry_loop::{retry_loop, Failure, Next, Retrying};
use sources::Sources;
use strategy::{Facts, Settings, Strategy};
use stream::Fetched;
use transfer::{Answer, Transfer};

/// What every stage of one download reads.
pub(crate) struct Ctx<'a> {
    pub shared: &'a Arc<Shared>,
    pub request: &'a Request,
    pub progress: &'a Arc<DownloadProgress>,
    pub effective: &'a Arc<Effective>,
}

/// What one download runs with: its request's settings over the
/// downloader's, and its own cancel token.
pub(crate) struct Effective {
    pub idle_timeout: Duration,
    pub retry: RetryPolicy,
    /// The downloader's hook first, then the request's.
    response_hooks: Vec<ResponseHook>,
    finish_hooks: Vec<FinishHook>,
    pub cancel: CancellationToken,
    /// Cancelled when the download's group is given up (another member
    /// failed): a cancel then also removes what this download wrote.
    abandoned: Option<CancellationToken>,
    /// The byte-rate limits of this download's bodies, all connections
    /// together (see `limit::Rates`).
    pub throttle: Option<Throttle>,
    /// Retries spent since the last progress, by the download's attempts
    /// and its segment connections together: `--retries` bounds the
    /// download, not each connection of it (eight connections each
    /// retrying five times was forty retries of one file).
    pub retries_spent: AtomicU32,
}

impl Effective {
    fn new(shared: &Shared, request: &Request, stop: Stop) -> Effective {
        let own = request.settings();
        Effective {
            idle_timeout: own.idle_timeout.unwrap_or(shared.config.idle_timeout),
            retry: own.retry.unwrap_or(shared.config.retry),
            response_hooks: [&shared.hooks.response, &own.response_hook]
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
            finish_hooks: [&shared.hooks.finish, &own.finish_hook]
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
            cancel: stop.cancel,
            abandoned: stop.abandoned,
            throttle: shared.rates.for_download(),
            retries_spent: AtomicU32::new(0),
        }
    }

    /// Lets every response hook see `head`; the first refusal fails.
    pub(crate) fn check_response(&self, head: &ResponseHead<'_>) -> Result<(), Error> {
        for hook in &self.response_hooks {
            hook(head).map_err(|r| Error::new(ErrorKind::Rejected(r.0), None))?;
        }
        Ok(())
    }

    /// Lets every finish hook see `verified`; the first refusal fails.
    pub(crate) fn check_finished(&self, verified: &Verified<'_>) -> Result<(), Error> {
        for hook in &self.finish_hooks {
            hook(verified).map_err(|r| Error::new(ErrorKind::Rejected(r.0), None))?;
        }
        Ok(())
    }

    /// An error for a download stopped by its token.
    pub(crate) fn cancelled_error() -> Error {
        Error::new(ErrorKind::Cancelled, None)
    }
}

/// What stops a download.
pub(crate) struct Stop {
    /// Stops it; its `.part` file is kept for a resume.
    pub cancel: CancellationToken,
    /// Cancelled (before `cancel`) when its group is given up: the
    /// `.part` file it holds is removed as it stops.
    pub abandoned: Option<CancellationToken>,
}

impl Stop {
    /// Stopped by `cancel` alone.
    pub(crate) fn by(cancel: CancellationToken) -> Stop {
        Stop {
            cancel,
            abandoned: None,
        }
    }
}

/// Runs one download to its end and reports it; `stop` stops it.
pub(crate) async fn run(
    shared: Arc<Shared>,
    request: Request,
    repeated: bool,
    stop: Stop,
) -> Report {
    let _active = shared.track();
    let started = Instant::now();
    let id = shared.next_id();
    let mut progress = None;
    let effective = Arc::new(Effective::new(&shared, &request, stop));
    let mut response = None;
    let mut counted = None;
    // A server-chosen name, when the request asks for one (off by default).
    let named =
        disposition::destination_from_content_disposition(&shared, request, &effective).await;
    let (request, refused) = match named {
        Ok(request) => (request, None),
        Err((request, error)) => (request, Some(error)),
    };
    let result = match refused {
        Some(error) => Err(error),
        None => {
            download(
                &shared,
                &request,
                repeated,
                id,
                &effective,
                Started {
                    progress: &mut progress,
                    counted: &mut counted,
                    response: &mut response,
                },
            )
            .await
        }
    };
    let attempts = progress.as_ref().map_or(0, |p| p.attempts());
    let url = request.url().as_str().to_owned();
    let (outcome, bytes, digests, data) = match result {
        Ok(Done::Downloaded {
            bytes,
            digests,
            data,
        }) => (Outcome::Downloaded, bytes, digests, data),
        Ok(Done::Skipped { bytes, digests }) => (Outcome::Skipped, bytes, digests, None),
        Err(e) => (Outcome::Failed(e.with_url(&url)), 0, Vec::new(), None),
    };
    if let Some(mut counted) = counted {
        counted.ok = !matches!(outcome, Outcome::Failed(_));
    }
    let (final_url, headers) = response.unwrap_or_default();
    let report = Report {
        id,
        url,
        final_url,
        headers,
        tag: request.tag().cloned(),
        destination: request.destination().clone(),
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

/// What a download leaves for its report besides the result.
struct Started<'a, 'b> {
    /// Its progress, once it started.
    progress: &'a mut Option<Arc<DownloadProgress>>,
    /// Its place in the totals, once it started.
    counted: &'a mut Option<Counted<'b>>,
    /// The final URL and headers of the last first answer.
    response: &'a mut Option<(Option<url::Url>, HeaderMap)>,
}

/// A started download in the totals: it ends there when its report is
/// made, or when its future is dropped (counted as failed).
struct Counted<'a> {
    totals: &'a Totals,
    ok: bool,
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.totals.ended(self.ok);
    }
}

/// The stages; a download of an abandoned group removes the part file it
/// claimed, while it still holds it (a member that never claimed one
/// leaves the name alone: another writer may hold it).
async fn download<'b>(
    shared: &'b Arc<Shared>,
    request: &Request,
    repeated: bool,
    id: DownloadId,
    effective: &Arc<Effective>,
    started: Started<'_, 'b>,
) -> Result<Done, Error> {
    let mut claim = None;
    let result = stages(
        shared, request, repeated, id, effective, started, &mut claim,
    )
    .await;
    let abandoned = effective
        .abandoned
        .as_ref()
        .is_some_and(CancellationToken::is_cancelled);
    if let (Err(e), Some(claim), Some(path)) = (&result, &claim, request.path()) {
        if e.is_cancelled() && abandoned {
            sink::discard(path.to_owned(), claim.part().clone()).await;
        }
    }
    result
}

/// The stages, in order.
async fn stages<'b>(
    shared: &'b Arc<Shared>,
    request: &Request,
    repeated: bool,
    id: DownloadId,
    effective: &Arc<Effective>,
    started: Started<'_, 'b>,
    claim: &mut Option<Claim<'b>>,
) -> Result<Done, Error> {
    let Started {
        progress,
        counted,
        response,
    } = started;
    if effective.cancel.is_cancelled() || shared.is_closed() {
        return Err(Effective::cancelled_error());
    }
    // An unknown scheme fails before anything else happens.
    shared.transport_for(request.url())?;
    let algorithms: Vec<Algorithm> = request.algorithms();

    // Claim (lock `NAME.part`), inspect, decide, and re-read what an
    // earlier run recorded (files only: memory has nothing on disk).
    let mut held = Held::default();
    if let Some(path) = request.path() {
        let root = request.settings().root.as_deref();
        let claimed = claim.insert(
            shared
                .claim(path, root, repeated, &effective.cancel)
                .await?,
        );
        let resume = shared.config.resume_partial;
        // An existing file is hashed when it may be the result: checked
        // against expectations, or, continuing, taken as done (its
        // report then carries the digests asked for, as a download's).
        let may_skip = request.has_expectations() || (resume && !shared.config.allow_overwrite);
        let expected = if may_skip { &algorithms[..] } else { &[] };
        let on_disk = inspect::on_disk(path, claimed.part(), expected, resume).await?;
        let recorded_url = crate::redact::redact_url(request.url());
        let query_credentials = crate::redact::query_credentials_fingerprint(request.url().query());
        let wanted = Wanted {
            url: &recorded_url,
            query_credentials: query_credentials.as_deref(),
            expected_size: request.expected_size(),
            digests: request.digests(),
            allow_overwrite: shared.config.allow_overwrite,
            resume,
            destination: path,
            part: claimed.part().path(),
        };
        match resume::decide(&on_disk, &wanted) {
            Decision::Skip { len, digests } => {
                return Ok(Done::Skipped {
                    bytes: len,
                    digests,
                })
            }
            Decision::Refuse(error) => return Err(error),
            Decision::Start(start) => held = inspect::verified(claimed.part(), start).await?,
        }
        if let Some(hashes) = request.piece_hashes().filter(|_| !held.ranges.is_empty()) {
            // With piece hashes, only held pieces that match are trusted.
            held.ranges = match held.total {
                Some(total) => {
                    pieces::verify_held(claimed.part().clone(), held.ranges, hashes.clone(), total)
                        .await?
                }
                None => RangeSet::new(),
            };
            if held.ranges.is_empty() {
                held = Held::default();
            }
        }
    }
    let mut part = claim.as_ref().map(|c| c.part().clone());

    // Limits: a connection slot on the host.
    let _host = shared.hosts.acquire(&host_key(request.url())).await;
    let started = Arc::new(DownloadProgress::new(
        id,
        request.url().as_str().to_owned(),
        request.path().map(ToOwned::to_owned).unwrap_or_default(),
        request.tag().cloned(),
    ));
    *progress = Some(started.clone());
    let progress = started;
    shared.totals.started();
    *counted = Some(Counted {
        totals: &shared.totals,
        ok: false,
    });
    shared.reporter.started(&progress);
    progress.set_received(held.ranges.covered());
    progress.set_attempts(1);

    // Attempts, then finish; a file whose digest fails from one source is
    // fetched again from the next, if there is one.
    let ctx = Ctx {
        shared,
        request,
        progress: &progress,
        effective,
    };
    let mut sources = Sources::new(request.url(), request.mirrors());
    // Bytes kept from an earlier run that end in a wrong digest may be
    // the wrong ones: the file is then fetched once more from the start.
    let mut resumed = !held.ranges.is_empty();
    loop {
        let retrying = Retrying {
            shared,
            progress: &progress,
            policy: &effective.retry,
            cancel: &effective.cancel,
            spent: &effective.retries_spent,
        };
        // The loop's state carries the context, so each attempt's future
        // borrows only from it.
        let transfer = Transfer::new(
            std::mem::take(&mut held),
            algorithms.clone(),
            sources,
            part.clone(),
        );
        let mut state = (&ctx, transfer);
        let fetched = retry_loop(retrying, &mut state, |(ctx, transfer)| {
            Box::pin(attempt(ctx, transfer))
        })
        .await;
        let (ctx, transfer) = state;
        *response = transfer
            .response()
            .map(|(url, headers)| (Some(url.clone()), headers.clone()));
        sources = transfer.sources.clone();
        match fetched {
            Ok(fetched) => match finish::finish(ctx, transfer, fetched, algorithms.clone()).await {
                Err(e)
                    if e.is_digest_mismatch()
                        && (std::mem::take(&mut resumed) || sources.drop_current()) =>
                {
                    // The bytes are gone (discarded with their part file):
                    // the next fetch starts over in a new one.
                    if let (Some(claim), Some(path)) = (claim.as_mut(), request.path()) {
                        let root = request.settings().root.as_deref();
                        part = Some(claim.renew(path, root, &effective.cancel).await?);
                    }
                    progress.add_attempt();
                    progress.set_received(0);
                    // Fetching the file afresh (or from the next mirror)
                    // after a digest mismatch costs no retry.
                    let retry = crate::event::Retry {
                        error: &e,
                        delay: Duration::ZERO,
                        counted: None,
                    };
                    shared.reporter.retrying(&progress, &retry);
                }
                done => return done,
            },
            Err(Failure { error, .. }) => {
                // The sink's own error (a full disk) says more than a send
                // that found the writer gone.
                let part = transfer.part().cloned();
                let sink_error = transfer.close().await;
                let error = sink_error.unwrap_or(error);
                if let (true, Some(path), Some(part)) =
                    (error.is_validation(), request.path(), part)
                {
                    sink::discard(path.to_owned(), part).await;
                }
                return Err(error);
            }
        }
    }
}

/// One attempt: open, choose a strategy, fetch.
async fn attempt(ctx: &Ctx<'_>, transfer: &mut Transfer) -> Result<Fetched, Failure> {
    let mut failure = match open_and_fetch(ctx, transfer).await {
        Ok(fetched) => return Ok(fetched),
        Err(failure) => failure,
    };
    if transfer.sources.on_a_mirror() && source_failed(&failure.error) {
        // Reports name the download by its first URL: say which mirror
        // this was about.
        failure.error = failure.error.with_url(transfer.sources.current().as_str());
    }
    if let Some(error) = transfer.sink_error().await {
        // The disk, not the network, failed: retrying cannot help.
        return Err(Failure::give_up(error));
    }
    // A source that fails is dropped while others are left: the next
    // attempt goes to the next one, at once.
    if matches!(failure.next, Next::Retry | Next::GiveUp)
        && source_failed(&failure.error)
        && transfer.sources.drop_current()
    {
        return Err(Failure::new(failure.error, Next::RetryNow));
    }
    Err(failure)
}

/// True for failures that say a source cannot serve the file (an error
/// status, a refused or broken connection, another size), as opposed to a
/// local problem or a decision of the caller's.
fn source_failed(error: &Error) -> bool {
    !matches!(
        error.kind(),
        ErrorKind::Cancelled
            | ErrorKind::Io(_)
            | ErrorKind::Rejected(_)
            | ErrorKind::DigestMismatch { .. }
            | ErrorKind::ResumeRefused(_)
            | ErrorKind::InvalidRequest(_)
            | ErrorKind::DestinationExists(_)
            | ErrorKind::DuplicateDestination(_)
    )
}

async fn open_and_fetch(ctx: &Ctx<'_>, transfer: &mut Transfer) -> Result<Fetched, Failure> {
    let config = &ctx.shared.config;
    let asked = transfer.next_offset();
    let started = Instant::now();
    let opened = open::first_request(ctx, transfer, asked).await?;
    // How long a request waits for its answer: each piece of a segmented
    // download pays it again.
    let latency = started.elapsed();
    let answer = Answer::of(&opened);
    let facts = Facts {
        total: answer.total.or(answer.body_len.map(|n| answer.offset + n)),
        ranges: answer.ranges,
        validated: answer.validator.if_range().is_some(),
        offset: answer.offset,
        held_scattered: false,
    };
    let validator = answer.validator.clone();
    transfer.accept(ctx, answer, asked).await?;

    let facts = Facts {
        held_scattered: transfer.held_scattered(),
        ..facts
    };
    let settings = Settings {
        split: config.split,
        min_split: config.min_split_size,
        segments_allowed: transfer.segments_allowed,
    };
    let mut strategy = strategy::choose(&facts, &settings);
    if !facts.ranges {
        // Range support unknown: ask, but only when the answer matters.
        let assumed = strategy::choose(
            &Facts {
                ranges: true,
                ..facts
            },
            &settings,
        );
        if let Strategy::Segments { len } = assumed {
            let url = transfer.sources.current().clone();
            if open::ranges_work(ctx, &url, &validator, len).await {
                strategy = assumed;
            }
        }
    }
    let body = opened.body;
    match strategy {
        Strategy::Stream => {
            if transfer.held_scattered() {
                // A stream writes a prefix; scattered held bytes cannot
                // be continued by one.
                transfer.restart(ctx).await?;
                return Err(Failure::new(
                    Error::new(
                        ErrorKind::Protocol(
                            "the server no longer serves ranges of this file; starting over".into(),
                        ),
                        None,
                    ),
                    Next::RetryNow,
                ));
            }
            stream::fetch(ctx, body, opened.offset, opened.body_len, transfer).await
        }
        Strategy::Segments { len } => segmented(ctx, transfer, body, len, latency).await,
    }
}

/// Fetches the missing ranges over several connections, the first being
/// `first`, the open body.
async fn segmented(
    ctx: &Ctx<'_>,
    transfer: &mut Transfer,
    first: BodyStream,
    len: u64,
    latency: Duration,
) -> Result<Fetched, Failure> {
    let resumed = !transfer.held().is_empty();
    let sender = transfer.sink(ctx, Layout::Ranges { len }).await?.sender();
    let setup = segments::Setup {
        urls: transfer.sources.alive(),
        validator: transfer.validator().cloned().unwrap_or_default(),
        len,
        latency,
        done: transfer.held().clone(),
        first: Some(first),
        sender,
        progress: ctx.progress.clone(),
        headers: ctx.request.headers().clone(),
        effective: ctx.effective.clone(),
        pieces: ctx.request.piece_hashes().cloned(),
    };
    let (result, received, dropped) = segments::fetch(ctx.shared.clone(), setup).await;
    transfer.record(&received);
    for url in &dropped {
        transfer.sources.drop_source(url);
    }
    match result {
        Ok(()) => Ok(Fetched::InSink),
        Err(Failure {
            error,
            next: Next::StartOver,
        }) => {
            // A resumed file changed: start over, segmented again. A fresh
            // one whose server ignores Range: one stream.
            transfer.segments_allowed = resumed;
            transfer.restart(ctx).await?;
            let how = if resumed {
                "the file starts over"
            } else {
                "the file starts over in one stream"
            };
            Err(Failure::new(
                error.context(format!("ranges of it failed: {how}")),
                Next::RetryNow,
            ))
        }
        Err(failure) => Err(failure),
    }
}
