//! Limits on concurrent work: the per-host connection cap (reqwest's pool
//! has no per-host cap, so it is done here), the byte-rate limits (token
//! buckets per download and per downloader, applied to body streams by a
//! [`Throttle`]) and the request pacing per host.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::transport::BodyStream;

/// The per-host connection cap.
pub(crate) struct HostLimits {
    max_per_host: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A held connection slot for one host; released on drop.
pub(crate) struct HostPermit {
    _permit: OwnedSemaphorePermit,
}

impl HostLimits {
    pub(crate) fn new(max_per_host: usize) -> HostLimits {
        HostLimits {
            max_per_host: max_per_host.max(1),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    fn semaphore(&self, host_key: &str) -> Arc<Semaphore> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        // Forget hosts nobody holds a slot of, so a list touching a
        // million hosts does not keep a million semaphores.
        if hosts.len() > 1024 {
            let max = self.max_per_host;
            hosts.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < max);
        }
        hosts
            .entry(host_key.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.max_per_host)))
            .clone()
    }

    /// Waits for a slot on `host_key` (scheme, host and port: one pool key).
    pub(crate) async fn acquire(&self, host_key: &str) -> HostPermit {
        let permit = self
            .semaphore(host_key)
            .acquire_owned()
            .await
            .expect("host semaphores are never closed");
        HostPermit { _permit: permit }
    }

    /// A slot on `host_key` if one is free now. Extra segment connections
    /// use it: a download never waits for more connections than it has.
    pub(crate) fn try_acquire(&self, host_key: &str) -> Option<HostPermit> {
        let permit = self.semaphore(host_key).try_acquire_owned().ok()?;
        Some(HostPermit { _permit: permit })
    }
}

/// The pool key of a URL: downloads with the same key share connections.
pub(crate) fn host_key(url: &url::Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// How long a bucket holds at most, in time at its rate: the largest burst
/// a limited download can make, and the largest piece a body chunk is cut
/// into. 50 ms keeps bursts small (a 2 s download at the limit is off by
/// at most 2.5 %) and wake-ups few (20 a second per download).
const BUCKET_TIME: f64 = 0.05;

/// A byte-rate limit: a token bucket of `rate` bytes a second holding at
/// most [`BUCKET_TIME`] of them. Takers reserve tokens and may run into
/// debt, then wait until the debt is paid: every taker is served in the
/// order it asked, nobody polls, and over any window of `t` seconds at most
/// `rate * t` plus one bucket of bytes pass.
pub(crate) struct TokenBucket {
    rate: f64,
    capacity: f64,
    state: Mutex<BucketState>,
}

struct BucketState {
    /// Tokens available; negative while takers wait for their share.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket for `bytes_per_second` (at least 1).
    pub(crate) fn new(bytes_per_second: u64) -> TokenBucket {
        let rate = bytes_per_second.max(1) as f64;
        let capacity = (rate * BUCKET_TIME).floor().max(1.0);
        TokenBucket {
            rate,
            capacity,
            state: Mutex::new(BucketState {
                tokens: capacity,
                updated: Instant::now(),
            }),
        }
    }

    /// The largest piece taken at once: one bucket.
    pub(crate) fn piece(&self) -> usize {
        self.capacity as usize
    }

    /// Takes `n` tokens at `now`; returns how long the taker must wait
    /// before using them (zero when the bucket had them).
    pub(crate) fn reserve(&self, n: usize, now: Instant) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(state.updated).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.rate).min(self.capacity);
        state.updated = now.max(state.updated);
        state.tokens -= n as f64;
        if state.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-state.tokens / self.rate)
        }
    }
}

/// The byte-rate limits a download's bodies are held to: its own bucket
/// (shared by all its connections) and the downloader's, when set.
/// [`Throttle::wrap`] applies them to a body; the built-in HTTP transport
/// does so with [`crate::transport::OpenRequest::throttle`], and a
/// transport of another scheme may too.
#[derive(Clone)]
pub struct Throttle {
    /// Taken in order: the download's own bucket first, so the shared one
    /// is only drawn on when the bytes are about to pass.
    buckets: Vec<Arc<TokenBucket>>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rates: Vec<f64> = self.buckets.iter().map(|b| b.rate).collect();
        f.debug_struct("Throttle")
            .field("bytes_per_second", &rates)
            .finish()
    }
}

impl Throttle {
    /// `body`, its chunks passed on no faster than every bucket allows.
    /// A chunk larger than a bucket is cut into bucket-sized pieces, so no
    /// burst exceeds one bucket. While a piece waits, the body is not read,
    /// so the sender is slowed by TCP's flow control rather than buffered.
    pub fn wrap(&self, body: BodyStream) -> BodyStream {
        let piece = self
            .buckets
            .iter()
            .map(|b| b.piece())
            .min()
            .unwrap_or(usize::MAX)
            .max(1);
        let state = Throttled {
            body,
            buckets: self.buckets.clone(),
            pending: Bytes::new(),
            piece,
        };
        futures_util::stream::unfold(state, |mut state| async move {
            if state.pending.is_empty() {
                match state.body.next().await? {
                    Ok(chunk) => state.pending = chunk,
                    Err(e) => return Some((Err(e), state)),
                }
            }
            let take = state.pending.len().min(state.piece);
            let piece = state.pending.split_to(take);
            for bucket in &state.buckets {
                let wait = bucket.reserve(piece.len(), Instant::now());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            Some((Ok(piece), state))
        })
        .boxed()
    }
}

/// The state of a throttled body.
struct Throttled {
    body: BodyStream,
    buckets: Vec<Arc<TokenBucket>>,
    /// What is left of the last chunk.
    pending: Bytes,
    piece: usize,
}

/// The byte-rate limits of one downloader: a rate for each download, and a
/// bucket all of them share.
pub(crate) struct Rates {
    per_download: Option<u64>,
    overall: Option<Arc<TokenBucket>>,
}

impl Rates {
    /// Limits of `per_download` and `overall` bytes a second (`None`: none).
    pub(crate) fn new(per_download: Option<u64>, overall: Option<u64>) -> Rates {
        Rates {
            per_download,
            overall: overall.map(|rate| Arc::new(TokenBucket::new(rate))),
        }
    }

    /// The throttle of a new download: a fresh bucket of its own, and the
    /// shared one. `None` when nothing is limited.
    pub(crate) fn for_download(&self) -> Option<Throttle> {
        let own = self
            .per_download
            .map(|rate| Arc::new(TokenBucket::new(rate)));
        let buckets: Vec<Arc<TokenBucket>> = own.into_iter().chain(self.overall.clone()).collect();
        (!buckets.is_empty()).then_some(Throttle { buckets })
    }
}

/// Slack added to each request's one-second window: a server counts
/// arrivals, and two requests sent exactly a second apart may arrive a
/// little less than a second apart (one waited for a connection, the
/// other found one open).
const PACING_SLACK: Duration = Duration::from_millis(20);

/// At most N requests a second to each host, as a server counting them in
/// a sliding one-second window expects: the first N go at once, and each
/// later one waits until the one N places before it is a second old.
pub(crate) struct RequestPacer {
    per_second: usize,
    /// For each host, the times its last `per_second` requests were let go
    /// (some in the future: requests waiting for their turn).
    hosts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RequestPacer {
    /// A pacer allowing `per_second` requests a second per host (at least 1).
    pub(crate) fn new(per_second: u32) -> RequestPacer {
        RequestPacer {
            per_second: per_second.max(1) as usize,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// Takes the next turn on `host_key` for a request asked at `now`;
    /// returns when it may be sent.
    pub(crate) fn reserve(&self, host_key: &str, now: Instant) -> Instant {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if hosts.len() > 1024 {
            // Forget hosts whose turns are all over a second old.
            hosts.retain(|_, turns| {
                turns
                    .back()
                    .is_some_and(|&t| t + Duration::from_secs(1) > now)
            });
        }
        let turns = hosts.entry(host_key.to_owned()).or_default();
        let at = if turns.len() < self.per_second {
            now
        } else {
            let oldest = turns.pop_front().unwrap_or(now);
            (oldest + Duration::from_secs(1) + PACING_SLACK).max(now)
        };
        // Turns are handed out in order, so the queue stays sorted.
        let at = turns.back().map_or(at, |&last| at.max(last));
        turns.push_back(at);
        at
    }

    /// Waits for a turn to send a request to `url`'s host.
    pub(crate) async fn wait(&self, url: &url::Url) {
        let at = self.reserve(&host_key(url), Instant::now());
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn caps_one_host_and_leaves_others_free() {
        let limits = Arc::new(HostLimits::new(2));
        let a1 = limits.acquire("http://a:80").await;
        let _a2 = limits.acquire("http://a:80").await;
        let third =
            tokio::time::timeout(Duration::from_millis(50), limits.acquire("http://a:80")).await;
        assert!(third.is_err(), "a third slot on host a must wait");
        let _b = tokio::time::timeout(Duration::from_millis(50), limits.acquire("http://b:80"))
            .await
            .expect("host b is not limited by host a");
        assert!(
            limits.try_acquire("http://a:80").is_none(),
            "no free slot on a"
        );
        drop(a1);
        let again = limits.try_acquire("http://a:80");
        assert!(again.is_some(), "a released slot is free again");
        drop(again);
        tokio::time::timeout(Duration::from_millis(50), limits.acquire("http://a:80"))
            .await
            .expect("a released slot is reusable");
    }

    #[test]
    fn host_key_includes_scheme_and_port() {
        let key = |s: &str| host_key(&url::Url::parse(s).unwrap());
        assert_eq!(key("http://h/x"), "http://h:80");
        assert_eq!(key("https://h/x"), "https://h:443");
        assert_eq!(key("http://h:8080/x"), "http://h:8080");
    }

    #[test]
    fn a_bucket_passes_its_rate_plus_one_bucket() {
        let bucket = TokenBucket::new(1000);
        assert_eq!(bucket.piece(), 50);
        let start = Instant::now();
        // A full bucket: one piece passes at once, the next waits for it.
        assert_eq!(bucket.reserve(50, start), Duration::ZERO);
        assert_eq!(bucket.reserve(50, start), Duration::from_millis(50));
        // Debt accumulates in order: the third waits behind the second.
        assert_eq!(bucket.reserve(50, start), Duration::from_millis(100));
        // A second later the debt (100 tokens) is paid and 900 refilled,
        // but the bucket holds at most 50.
        let later = start + Duration::from_secs(1);
        assert_eq!(bucket.reserve(50, later), Duration::ZERO);
        assert_eq!(bucket.reserve(1, later), Duration::from_millis(1));
    }

    #[test]
    fn a_bucket_holds_the_rate_over_any_window() {
        // Takers asking as fast as they can, in pieces of a bucket: the
        // bytes released by time t never exceed rate * t + one bucket.
        for rate in [1u64, 999, 65_536, 10 << 20] {
            let bucket = TokenBucket::new(rate);
            let piece = bucket.piece();
            let start = Instant::now();
            let mut now = start;
            let mut released = 0u64;
            for _ in 0..200 {
                now += bucket.reserve(piece, now);
                released += piece as u64;
                let t = now.duration_since(start).as_secs_f64();
                let bound = rate as f64 * t + piece as f64;
                assert!(
                    released as f64 <= bound + 1.0,
                    "rate {rate}: {released} bytes by {t} s, bound {bound}"
                );
            }
            // And the limit is reached, not undershot: the last piece went
            // exactly when the tokens for it existed.
            let t = now.duration_since(start).as_secs_f64();
            let expected = (released as f64 - piece as f64) / rate as f64;
            assert!(
                (t - expected).abs() < 1e-6,
                "rate {rate}: {t} vs {expected}"
            );
        }
    }

    #[test]
    fn rates_give_each_download_its_own_bucket_and_share_one() {
        assert!(Rates::new(None, None).for_download().is_none());
        let rates = Rates::new(Some(100), Some(1000));
        let (a, b) = (rates.for_download().unwrap(), rates.for_download().unwrap());
        assert_eq!(a.buckets.len(), 2);
        assert!(!Arc::ptr_eq(&a.buckets[0], &b.buckets[0]), "own buckets");
        assert!(
            Arc::ptr_eq(&a.buckets[1], &b.buckets[1]),
            "one shared bucket"
        );
        let only_overall = Rates::new(None, Some(1000)).for_download().unwrap();
        assert_eq!(only_overall.buckets.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_body_cuts_chunks_to_the_bucket_and_keeps_order() {
        let rates = Rates::new(Some(1000), None);
        let throttle = rates.for_download().unwrap();
        let chunks: Vec<Result<Bytes, crate::Error>> = vec![
            Ok(Bytes::from(vec![1u8; 120])),
            Ok(Bytes::from(vec![2u8; 30])),
        ];
        let body: BodyStream = futures_util::stream::iter(chunks).boxed();
        let started = Instant::now();
        let pieces: Vec<Bytes> = throttle
            .wrap(body)
            .map(|piece| piece.unwrap())
            .collect()
            .await;
        let sizes: Vec<usize> = pieces.iter().map(Bytes::len).collect();
        assert_eq!(sizes, [50, 50, 20, 30]);
        assert_eq!(pieces.concat(), [vec![1u8; 120], vec![2u8; 30]].concat());
        // 150 bytes at 1000 B/s with a full 50-byte bucket: 100 ms.
        assert_eq!(started.elapsed(), Duration::from_millis(100));
    }

    #[test]
    fn pacing_allows_n_per_sliding_second() {
        let pacer = RequestPacer::new(3);
        let start = Instant::now();
        let second = Duration::from_secs(1) + PACING_SLACK;
        let turns: Vec<Duration> = (0..7)
            .map(|_| pacer.reserve("http://h:80", start) - start)
            .collect();
        assert_eq!(
            turns,
            [
                Duration::ZERO,
                Duration::ZERO,
                Duration::ZERO,
                second,
                second,
                second,
                second * 2
            ]
        );
        // Another host is paced on its own.
        assert_eq!(pacer.reserve("http://other:80", start), start);
        // Requests asked later than their turn go when asked.
        let late = start + Duration::from_secs(10);
        assert_eq!(pacer.reserve("http://h:80", late), late);
        // Every window of one second holds at most 3 turns.
        let pacer = RequestPacer::new(3);
        let mut all = Vec::new();
        for i in 0..40u64 {
            all.push(pacer.reserve("k", start + Duration::from_millis(i * 97)));
        }
        for (i, &t) in all.iter().enumerate() {
            let within = all[i..]
                .iter()
                .filter(|&&u| u < t + Duration::from_secs(1))
                .count();
            assert!(within <= 3, "{within} turns within a second of turn {i}");
        }
    }
}
