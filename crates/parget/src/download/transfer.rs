//! What a download holds across its attempts: the byte ranges handed to
//! the sink, what they were served with, and the sink itself (opened on
//! the first bytes, kept open through retries, so a retry continues
//! where the last attempt stopped).

use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;
use url::Url;

use super::resume::Held;
use super::retry_loop::{Failure, Next};
use super::sources::Sources;
use super::Ctx;
use crate::error::{Error, ErrorKind};
use crate::plan::RangeSet;
use crate::request::Destination;
use crate::sink::{self, Control, FileTarget, Layout, PartFile, Record, Sink, CONTROL_VERSION};
use crate::transport::{Opened, Validator};

/// The head of an attempt's first answer: what [`Transfer::accept`] judges.
pub(crate) struct Answer<'a> {
    pub offset: u64,
    pub body_len: Option<u64>,
    pub total: Option<u64>,
    pub validator: &'a Validator,
    pub ranges: bool,
    pub final_url: &'a Url,
    pub headers: &'a HeaderMap,
}

impl<'a> Answer<'a> {
    pub(crate) fn of(opened: &'a Opened) -> Answer<'a> {
        Answer {
            offset: opened.offset,
            body_len: opened.body_len,
            total: opened.total,
            validator: &opened.validator,
            ranges: opened.ranges,
            final_url: &opened.final_url,
            headers: &opened.headers,
        }
    }
}
use crate::verify::Algorithm;

/// The state of one download between and during its attempts.
pub(crate) struct Transfer {
    algorithms: Vec<Algorithm>,
    /// Ranges of the resource handed to the sink (or kept from an earlier
    /// run, which the sink re-reads for the digest when it opens).
    held: RangeSet,
    /// The verified records of the bytes kept from an earlier run, until
    /// the sink opens and records them afresh.
    kept: Vec<Record>,
    /// `NAME.part`, locked, for a file destination.
    part: Option<Arc<PartFile>>,
    /// The validators the held bytes came with.
    validator: Option<Validator>,
    /// The resource size, once announced.
    total: Option<u64>,
    /// A range request can continue the held bytes: the server honours
    /// Range and sent a validator to check the range against.
    resumable: bool,
    /// False once a server answered a range with the whole file.
    pub segments_allowed: bool,
    sink: Option<Sink>,
    /// The final URL and headers of the last first answer, for the report.
    response: Option<(Url, HeaderMap)>,
    /// The URL and mirrors, those that failed dropped.
    pub sources: Sources,
}

impl Transfer {
    /// A transfer from `sources` into `part` (for a file destination)
    /// starting from `held` (verified bytes an earlier run left).
    pub(crate) fn new(
        held: Held,
        algorithms: Vec<Algorithm>,
        sources: Sources,
        part: Option<Arc<PartFile>>,
    ) -> Transfer {
        Transfer {
            sources,
            algorithms,
            resumable: !held.ranges.is_empty(),
            held: held.ranges,
            kept: held.records,
            part,
            validator: held.validator,
            total: held.total,
            segments_allowed: true,
            sink: None,
            response: None,
        }
    }

    /// The final URL and headers of the last first answer.
    pub(crate) fn response(&self) -> Option<&(Url, HeaderMap)> {
        self.response.as_ref()
    }

    /// The locked part file of a file destination.
    pub(crate) fn part(&self) -> Option<&Arc<PartFile>> {
        self.part.as_ref()
    }

    /// Bytes held so far.
    pub(crate) fn held(&self) -> &RangeSet {
        &self.held
    }

    /// The resource size, once announced.
    pub(crate) fn total(&self) -> Option<u64> {
        self.total
    }

    /// The validator the held bytes came with.
    pub(crate) fn validator(&self) -> Option<&Validator> {
        self.validator.as_ref()
    }

    /// True when an answer carrying `served` is the version of the held
    /// bytes (nothing held validates nothing).
    fn continues_version(&self, served: &Validator) -> bool {
        self.validator
            .as_ref()
            .is_some_and(|held| held.same_version(served))
    }

    /// True when the server can continue the held bytes with a range.
    pub(crate) fn resumable(&self) -> bool {
        self.resumable
    }

    /// Where the next request starts: after the held prefix when the
    /// server can continue it, else at 0.
    pub(crate) fn next_offset(&self) -> u64 {
        if self.resumable {
            self.held.frontier()
        } else {
            0
        }
    }

    /// True when held bytes lie beyond the held prefix: only range
    /// requests can fill the gaps between them.
    pub(crate) fn held_scattered(&self) -> bool {
        self.held.ranges().len() > 1 || self.held.ranges().first().is_some_and(|r| r.start > 0)
    }

    /// True when nothing is held and no sink is open: a body that fits in
    /// one buffer can go to its destination without a sink.
    pub(crate) fn is_fresh(&self) -> bool {
        self.held.is_empty() && self.sink.is_none()
    }

    /// The server can no longer continue at the held offset (HTTP 416):
    /// the next attempt starts over.
    pub(crate) fn cannot_continue(&mut self) {
        self.resumable = false;
    }

    /// Takes in the first answer of an attempt asked at `asked`: keeps the
    /// held bytes when the answer continues them, and otherwise starts
    /// over, so two versions are never spliced.
    pub(crate) async fn accept(
        &mut self,
        ctx: &Ctx<'_>,
        opened: Answer<'_>,
        asked: u64,
    ) -> Result<(), Failure> {
        let continuing = if asked > 0 {
            // An empty continuation (the 416 that says every byte is
            // held) splices nothing; any other must be of the held bytes'
            // version, or a server that ignored If-Range would splice two.
            let adds = opened.body_len != Some(0);
            if opened.offset == asked && adds && !self.continues_version(opened.validator) {
                let held = self
                    .validator
                    .as_ref()
                    .map_or_else(|| "no validator".to_owned(), Validator::describe);
                self.restart(ctx).await?;
                // The next attempt starts from byte 0 (nothing is held):
                // at once, without spending one of the user's retries.
                let error = Error::new(ErrorKind::Transfer, None).with_source(
                    std::io::Error::other(format!(
                        "the continuation carries {}, the held bytes {held}: another version; starting over",
                        opened.validator.describe()
                    )),
                );
                return Err(Failure::new(error, Next::RetryNow));
            }
            opened.offset == asked
        } else {
            // From byte 0 the held bytes can only be ranges further on
            // (an earlier segmented run's), of the same version, for
            // segments to fill the gaps between.
            self.held.is_empty()
                || (self.held.frontier() == 0
                    && opened.ranges
                    && self.continues_version(opened.validator))
        };
        let total = opened.total.or(opened.body_len.map(|n| opened.offset + n));
        if let (true, Some(before), Some(now)) =
            (continuing && !self.held.is_empty(), self.total, total)
        {
            if before != now {
                // The held bytes were announced as part of another size:
                // the resource changed or the server lies; never splice.
                self.restart(ctx).await?;
                return Err(Error::new(ErrorKind::Transfer, None)
                    .with_source(std::io::Error::other(format!(
                        "the size changed from {before} to {now} bytes between requests; starting over"
                    )))
                    .into());
            }
        }
        if !continuing {
            // Served from byte 0: whatever is held is another version or
            // a lost cause.
            self.restart(ctx).await?;
        }
        self.response = Some((opened.final_url.clone(), opened.headers.clone()));
        self.validator = Some(opened.validator.clone());
        self.resumable = opened.ranges && opened.validator.if_range().is_some();
        self.total = total;
        ctx.progress.set_total(total);
        if let (Some(expected), Some(total)) = (ctx.request.expected_size(), total) {
            if expected != total {
                return Err(Failure::give_up(Error::new(
                    ErrorKind::SizeMismatch {
                        expected,
                        actual: total,
                    },
                    None,
                )));
            }
        }
        Ok(())
    }

    /// Drops everything held: the resource is fetched anew from byte 0.
    pub(crate) async fn restart(&mut self, ctx: &Ctx<'_>) -> Result<(), Error> {
        if let Some(sink) = self.sink.take() {
            // Its writer must be done before the file is truncated; the
            // next sink truncates it and records the new version.
            sink.finish().await?;
        }
        self.held = RangeSet::new();
        self.kept.clear();
        self.resumable = false;
        ctx.progress.set_received(0);
        Ok(())
    }

    /// The sink, opened on first use in `layout`.
    pub(crate) async fn sink(&mut self, ctx: &Ctx<'_>, layout: Layout) -> Result<&Sink, Error> {
        if self.sink.is_none() {
            let sink = match (ctx.request.destination(), &self.part) {
                (Destination::File(path), Some(part)) => {
                    let target = FileTarget {
                        part: part.clone(),
                        control: sink::control_path(path),
                        control_tmp: sink::control_tmp_path(path),
                        header: Control {
                            version: CONTROL_VERSION,
                            // Never the password: the control file is as
                            // readable as the part file, and a password
                            // changed between runs must not stop a resume.
                            url: crate::redact::redact_url(ctx.request.url()),
                            query_credentials: crate::redact::query_credentials_fingerprint(
                                ctx.request.url().query(),
                            ),
                            total: self.total,
                            validator: self.validator.clone().unwrap_or_default(),
                        },
                    };
                    let kept = std::mem::take(&mut self.kept);
                    Sink::open_file(target, layout, kept, self.algorithms.clone()).await?
                }
                (Destination::File(path), None) => {
                    return Err(Error::io(
                        path,
                        std::io::Error::other("the part file was not claimed"),
                    ))
                }
                (Destination::Memory, _) => Sink::open_memory(self.algorithms.clone()),
            };
            self.sink = Some(sink);
        }
        match &self.sink {
            Some(sink) => Ok(sink),
            None => unreachable!("the sink was opened above"),
        }
    }

    /// True when the sink is open.
    pub(crate) fn has_sink(&self) -> bool {
        self.sink.is_some()
    }

    /// Hands `bytes`, which belong at `offset`, to the sink (opened for a
    /// stream when it is not open yet).
    pub(crate) async fn write(
        &mut self,
        ctx: &Ctx<'_>,
        offset: u64,
        bytes: Bytes,
    ) -> Result<(), Error> {
        if bytes.is_empty() {
            return Ok(());
        }
        let end = offset + bytes.len() as u64;
        self.sink(ctx, Layout::Prefix)
            .await?
            .sender()
            .send(offset, bytes)
            .await?;
        self.held.insert(offset..end);
        Ok(())
    }

    /// Records ranges other senders (segment connections) handed over.
    pub(crate) fn record(&mut self, ranges: &RangeSet) {
        for range in ranges.ranges() {
            self.held.insert(range.clone());
        }
    }

    /// When the sink's writer stopped on an error of its own (a full
    /// disk), that error: it explains a failed send better than the send.
    pub(crate) async fn sink_error(&mut self) -> Option<Error> {
        if !self.sink.as_ref().is_some_and(Sink::stopped) {
            return None;
        }
        self.sink.take()?.finish().await.err()
    }

    /// Ends a download that will not complete: the sink records what is
    /// on disk for a resume. An error of the sink's own comes back.
    pub(crate) async fn close(mut self) -> Option<Error> {
        self.sink.take()?.finish().await.err()
    }

    /// The sink, for the finish stage, once every byte was handed over.
    pub(crate) fn into_sink(self) -> Option<Sink> {
        self.sink
    }
}
