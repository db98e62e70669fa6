//! The stream fetch: one answer's body, to its end, into the transfer.
//! Bytes are gathered into flush-sized buffers; a body that ends within
//! the first buffer never opens a sink (most files of a long list).

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::time::Instant;

use super::gather::Gather;
use super::pieces::PieceCheck;
use super::retry_loop::Failure;
use super::transfer::Transfer;
use super::{Ctx, Effective};
use crate::config::LowestSpeed;
use crate::error::{Error, ErrorKind};
use crate::sink::{BufferPool, Layout, FLUSH_SIZE};
use crate::transport::BodyStream;

/// Where the fetched bytes are.
pub(crate) enum Fetched {
    /// The whole body, small enough to have stayed in its first buffer.
    Small(Bytes),
    /// Every byte was handed to the transfer's sink.
    InSink,
}

/// Streams `body`, which starts at byte `start` of the resource and
/// announced `body_len` bytes, into `transfer`. On a failure the bytes
/// that arrived are kept when the server can continue after them.
pub(crate) async fn fetch(
    ctx: &Ctx<'_>,
    body: BodyStream,
    start: u64,
    body_len: Option<u64>,
    transfer: &mut Transfer,
) -> Result<Fetched, Failure> {
    let buffer = if transfer.has_sink() {
        BufferPool::shared().take()
    } else {
        // Small bodies get a buffer of their size; large ones one flush unit.
        let hint = transfer
            .total()
            .unwrap_or(FLUSH_SIZE as u64)
            .min(FLUSH_SIZE as u64);
        BytesMut::with_capacity(hint as usize)
    };
    // Piece hashes are checked where a piece starts; a stream from
    // elsewhere (nothing verified held before it) cannot be.
    let check = ctx
        .request
        .piece_hashes()
        .zip(transfer.total())
        .and_then(|(hashes, len)| PieceCheck::at(hashes.clone(), len, start));
    let checked = check.is_some();
    // A stream continues a held prefix of `start` bytes: what an earlier
    // attempt received past it is fetched again, and counts once.
    ctx.progress.set_received(start);
    let mut gather = Gather::new(start, buffer, check);
    // A body that may not fit one buffer goes to a sink: its large chunks
    // need not be copied.
    if transfer.has_sink() || transfer.total().is_none_or(|n| n > FLUSH_SIZE as u64) {
        gather = gather.passing_large_chunks();
    }
    let result = read(ctx, body, start, body_len, transfer, &mut gather).await;
    match result {
        Ok(()) if transfer.is_fresh() && !checked => {
            Ok(Fetched::Small(gather.into_buffer().freeze()))
        }
        Ok(()) => {
            // Held bytes with nothing new (a resume that found the file
            // complete) still need the sink: it hashes them.
            transfer.sink(ctx, Layout::Prefix).await?;
            write(ctx, transfer, gather.rest()).await?;
            Ok(Fetched::InSink)
        }
        Err(failure) => {
            let continuable = transfer.resumable();
            if continuable && !failure.error.is_validation() {
                // Keep what arrived: the next attempt continues after it.
                write(ctx, transfer, gather.rest()).await?;
            }
            Err(failure)
        }
    }
}

/// Hands buffers to the transfer, in order.
async fn write(
    ctx: &Ctx<'_>,
    transfer: &mut Transfer,
    ready: impl IntoIterator<Item = (u64, Bytes)>,
) -> Result<(), Error> {
    for (offset, bytes) in ready {
        transfer.write(ctx, offset, bytes).await?;
    }
    Ok(())
}

async fn read(
    ctx: &Ctx<'_>,
    mut body: BodyStream,
    start: u64,
    body_len: Option<u64>,
    transfer: &mut Transfer,
    gather: &mut Gather,
) -> Result<(), Failure> {
    let config = &ctx.shared.config;
    let idle = ctx.effective.idle_timeout;
    let expected_size = ctx.request.expected_size();
    let mut received: u64 = 0;
    let mut speed = SpeedCheck::new(config.lowest_speed, Instant::now());
    let mut last_data = Instant::now();
    loop {
        let deadline = speed
            .deadline()
            .map_or(last_data + idle, |d| d.min(last_data + idle));
        let next = tokio::select! {
            next = tokio::time::timeout_at(deadline, body.next()) => next,
            () = ctx.effective.cancel.cancelled() => {
                return Err(Failure::give_up(Effective::cancelled_error()));
            }
        };
        let now = Instant::now();
        let chunk = match next {
            Err(_) => {
                speed.check(now)?;
                if now >= last_data + idle {
                    return Err(Error::new(ErrorKind::IdleTimeout(idle), None).into());
                }
                continue;
            }
            Ok(Some(Ok(chunk))) => chunk,
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => break,
        };
        last_data = now;
        let n = chunk.len() as u64;
        received += n;
        if let Some(len) = body_len.filter(|&len| received > len) {
            return Err(Failure::give_up(Error::new(
                ErrorKind::Protocol(format!("body longer than its announced {len} bytes")),
                None,
            )));
        }
        let file_len = start + received;
        if let Some(expected) = expected_size.filter(|&n| file_len > n) {
            // Stop an endless or oversized body at once, not at its end.
            return Err(Failure::give_up(Error::new(
                ErrorKind::SizeMismatch {
                    expected,
                    actual: file_len,
                },
                None,
            )));
        }
        ctx.progress.add_received(n);
        ctx.shared.totals.add_received(n);
        speed.record(n);
        speed.check(now)?;
        let ready = gather.take(chunk)?;
        write(ctx, transfer, ready).await?;
    }
    match body_len {
        Some(len) if received < len => Err(Error::new(
            ErrorKind::Truncated {
                expected: len,
                received,
            },
            None,
        )
        .into()),
        _ => Ok(()),
    }
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

fn rate(bytes: u64, elapsed: std::time::Duration) -> u64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return u64::MAX;
    }
    (bytes as f64 / secs) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
