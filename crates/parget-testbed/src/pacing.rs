//! Bandwidth caps and body generation shared by the HTTP/1 and HTTP/2
//! writers.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::content::fill_seeded;
use crate::handler::Body;

/// Largest body write: big enough for few syscalls per gigabyte, small enough
/// to stay in cache while `fill` produces it.
pub(crate) const CHUNK: usize = 256 * 1024;

/// How many bytes to send at once under a cap of `rate` bytes/s: about 50
/// slices per second so the flow is smooth rather than a burst per second.
pub(crate) fn slice_len(rate: Option<u64>, max: usize) -> usize {
    match rate {
        None => max,
        Some(rate) => (rate / 50).clamp(1, max as u64) as usize,
    }
}

/// A per-connection pacing clock: each slice books the time it takes at the
/// current rate, and may only be sent once the previous slices' time is over.
/// Idle time is not banked, so a burst is never more than one slice.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// Books `n` bytes at `rate` bytes/s; returns when they may be sent.
    pub(crate) fn reserve(&self, n: usize, rate: u64) -> Instant {
        let now = Instant::now();
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let start = next.map_or(now, |t| t.max(now));
        *next = Some(start + Duration::from_secs_f64(n as f64 / rate.max(1) as f64));
        start
    }
}

/// Writes body bytes `[pos, pos + dst.len())` of `body` into `dst`.
pub(crate) fn body_bytes(body: &Body, pos: u64, dst: &mut [u8]) {
    match body {
        Body::Empty => {}
        Body::Static(bytes) => {
            let start = pos as usize;
            dst.copy_from_slice(&bytes[start..start + dst.len()]);
        }
        Body::Content { seed, offset, .. } => fill_seeded(*seed, offset + pos, dst),
    }
}
