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
        Body::Content {
            seed,
            offset,
            corrupt,
            ..
        } => {
            let start = offset + pos;
            fill_seeded(*seed, start, dst);
            if let Some(corrupt) = corrupt {
                let end = start + dst.len() as u64;
                let from = corrupt.partition_point(|&o| o < start);
                for &o in corrupt[from..].iter().take_while(|&&o| o < end) {
                    dst[(o - start) as usize] ^= 0xFF;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn content_body(offset: u64, len: u64, corrupt: &[u64]) -> Body {
        Body::Content {
            seed: 42,
            offset,
            len,
            corrupt: Some(Arc::from(corrupt)),
        }
    }

    proptest::proptest! {
        /// Any window of a corrupt body is the clean bytes with exactly the
        /// listed offsets inside it flipped.
        #[test]
        fn corruption_lands_on_resource_offsets(
            mut offsets in proptest::collection::vec(0u64..2_000, 0..12),
            offset in 0u64..1_000,
            pos in 0u64..500,
            len in 0usize..600,
        ) {
            offsets.sort_unstable();
            offsets.dedup();
            let body = content_body(offset, 2_000, &offsets);
            let mut got = vec![0u8; len];
            body_bytes(&body, pos, &mut got);
            let mut want = vec![0u8; len];
            fill_seeded(42, offset + pos, &mut want);
            let start = offset + pos;
            for o in offsets.iter().filter(|&&o| o >= start && o < start + len as u64) {
                want[(o - start) as usize] ^= 0xFF;
            }
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn slices_follow_the_rate() {
        assert_eq!(slice_len(None, CHUNK), CHUNK);
        assert_eq!(slice_len(Some(100_000), CHUNK), 2_000);
        assert_eq!(slice_len(Some(10), CHUNK), 1);
        assert_eq!(slice_len(Some(u64::MAX), CHUNK), CHUNK);
    }

    #[test]
    fn the_pacer_books_slices_back_to_back_from_now() {
        let pacer = Pacer::default();
        let before = Instant::now();
        let first = pacer.reserve(1_000, 10_000);
        let second = pacer.reserve(1_000, 10_000);
        // The first slice may go at once: pacing starts with the first byte.
        assert!(first >= before && first <= Instant::now());
        assert_eq!(second - first, Duration::from_millis(100));
    }
}
