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

/// The per-host connection cap, when one is set.
pub(crate) struct HostLimits {
    max_per_host: Option<usize>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A held connection slot for one host; released on drop.
pub(crate) struct HostPermit {
    _permit: Option<OwnedSemaphorePermit>,
}

impl HostLimits {
    /// Limits of `max_per_host` connections per host; `None` for no cap.
    pub(crate) fn new(max_per_host: Option<usize>) -> HostLimits {
        HostLimits {
            max_per_host: max_per_host.map(|n| n.max(1)),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    fn semaphore(&self, host_key: &str, max: usize) -> Arc<Semaphore> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        // Forget hosts nobody holds a slot of, so a list touching a
        // million hosts does not keep a million semaphores.
        if hosts.len() > 1024 {
            hosts.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < max);
        }
        hosts
            .entry(host_key.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(max)))
            .clone()
    }

    /// Waits for a slot on `host_key` (scheme, host and port: one pool
    /// key); at once without a cap.
    pub(crate) async fn acquire(&self, host_key: &str) -> HostPermit {
        let Some(max) = self.max_per_host else {
            return HostPermit { _permit: None };
        };
        // Host semaphores are never closed.
        let permit = self.semaphore(host_key, max).acquire_owned().await.ok();
        HostPermit { _permit: permit }
    }

    /// A slot on `host_key` if one is free now. Extra segment connections
    /// use it: a download never waits for more connections than it has.
    pub(crate) fn try_acquire(&self, host_key: &str) -> Option<HostPermit> {
        let Some(max) = self.max_per_host else {
            return Some(HostPermit { _permit: None });
        };
        let permit = self.semaphore(host_key, max).try_acquire_owned().ok()?;
        Some(HostPermit {
            _permit: Some(permit),
        })
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
/// a limited download can make (after a pause), and the largest piece a
/// body chunk is cut into. 100 ms keeps bursts small and wake-ups few (at
/// least 10 a second per download), and tokens are lost only when a taker
/// is woken more than 100 ms late (on a loaded machine 50 ms lost a few
/// percent of the rate).
const BUCKET_TIME: f64 = 0.1;

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
    /// An empty bucket for `bytes_per_second` (at least 1): a download
    /// starts at its rate, with no burst.
    pub(crate) fn new(bytes_per_second: u64) -> TokenBucket {
        TokenBucket::new_at(bytes_per_second, Instant::now())
    }

    /// An empty bucket for `bytes_per_second`, as of `now`.
    fn new_at(bytes_per_second: u64, now: Instant) -> TokenBucket {
        let rate = bytes_per_second.max(1) as f64;
        let capacity = (rate * BUCKET_TIME).floor().max(1.0);
        TokenBucket {
            rate,
            capacity,
            state: Mutex::new(BucketState {
                tokens: 0.0,
                updated: now,
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

/// A second, and a little more: the window a pacing host's requests are
/// counted in (the margin covers timer granularity).
const PACING_WINDOW: Duration = Duration::from_millis(1005);

/// At most N requests in any second to each host, as a server counting
/// them in a sliding one-second window expects: the first N go at once,
/// and each later one waits until a second has passed since the answer to
/// the one N places before it came back. Counting from the answer, not
/// from the sending, is what makes it hold on the server's side: a server
/// saw a request no later than its answer arrived, however long the
/// request took to get there.
pub(crate) struct RequestPacer {
    per_second: usize,
    hosts: Mutex<HashMap<String, Turns>>,
    /// Signalled when a request ends: a waiting one may go.
    ended: tokio::sync::Notify,
}

/// One host's recent requests.
#[derive(Debug, Default)]
struct Turns {
    /// When the answers to the last requests came back, oldest first
    /// (those older than [`PACING_WINDOW`] are dropped as they are seen).
    answered: VecDeque<Instant>,
    /// Requests sent and not answered yet.
    in_flight: usize,
}

impl Turns {
    /// Takes a turn at `now` when fewer than `limit` requests are in the
    /// window; otherwise says until when to wait (`None`: until a request
    /// in flight ends).
    fn take(&mut self, limit: usize, now: Instant) -> Result<(), Option<Instant>> {
        while self
            .answered
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= PACING_WINDOW)
        {
            self.answered.pop_front();
        }
        if self.answered.len() + self.in_flight < limit {
            self.in_flight += 1;
            return Ok(());
        }
        Err(self.answered.front().map(|&t| t + PACING_WINDOW))
    }

    /// A request of a turn was answered (or gave up) at `now`.
    fn done(&mut self, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.answered.push_back(now);
    }
}

/// A request's turn: it counts as in flight until dropped, which records
/// the moment its answer came.
pub(crate) struct Turn<'a> {
    pacer: &'a RequestPacer,
    host: String,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut hosts = self.pacer.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(turns) = hosts.get_mut(&self.host) {
            turns.done(Instant::now());
        }
        drop(hosts);
        self.pacer.ended.notify_waiters();
    }
}

impl RequestPacer {
    /// A pacer allowing `per_second` requests a second per host (at least 1).
    pub(crate) fn new(per_second: u32) -> RequestPacer {
        RequestPacer {
            per_second: per_second.max(1) as usize,
            hosts: Mutex::new(HashMap::new()),
            ended: tokio::sync::Notify::new(),
        }
    }

    /// Waits for a turn to send a request to `url`'s host; hold it until
    /// the answer's head arrived.
    pub(crate) async fn turn(&self, url: &url::Url) -> Turn<'_> {
        let host = host_key(url);
        loop {
            let ended = self.ended.notified();
            let wait = {
                let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                if hosts.len() > 1024 {
                    // Forget hosts with nothing in flight or in the window.
                    hosts.retain(|_, t| {
                        t.in_flight > 0
                            || t.answered.back().is_some_and(|&a| a + PACING_WINDOW > now)
                    });
                }
                match hosts
                    .entry(host.clone())
                    .or_default()
                    .take(self.per_second, now)
                {
                    Ok(()) => return Turn { pacer: self, host },
                    Err(until) => until,
                }
            };
            match wait {
                Some(until) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(until) => {}
                        () = ended => {}
                    }
                }
                None => ended.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn caps_one_host_and_leaves_others_free() {
        let limits = Arc::new(HostLimits::new(Some(2)));
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

    #[tokio::test]
    async fn without_a_cap_every_slot_is_free() {
        let limits = HostLimits::new(None);
        let held: Vec<_> = (0..100)
            .map(|_| limits.try_acquire("http://a:80"))
            .collect();
        assert!(held.iter().all(Option::is_some));
        let _more = limits.acquire("http://a:80").await;
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
        let start = Instant::now();
        let bucket = TokenBucket::new_at(1000, start);
        assert_eq!(bucket.piece(), 100);
        // Empty at first: the first piece waits for its tokens.
        assert_eq!(bucket.reserve(100, start), Duration::from_millis(100));
        // Debt accumulates in order: the next waits behind the first.
        assert_eq!(bucket.reserve(50, start), Duration::from_millis(150));
        // A second later the debt (150 tokens) is paid and 850 refilled,
        // but the bucket holds at most 100.
        let later = start + Duration::from_secs(1);
        assert_eq!(bucket.reserve(100, later), Duration::ZERO);
        assert_eq!(bucket.reserve(1, later), Duration::from_millis(1));
    }

    #[test]
    fn a_bucket_holds_the_rate_over_any_window() {
        // Takers asking as fast as they can, in pieces of a bucket: the
        // bytes released by time t never exceed rate * t + one bucket.
        for rate in [1u64, 999, 65_536, 10 << 20] {
            let start = Instant::now();
            let bucket = TokenBucket::new_at(rate, start);
            let piece = bucket.piece();
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
            let expected = released as f64 / rate as f64;
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
        assert_eq!(sizes, [100, 20, 30]);
        assert_eq!(pieces.concat(), [vec![1u8; 120], vec![2u8; 30]].concat());
        // 150 bytes at 1000 B/s from an empty bucket: 150 ms.
        assert_eq!(started.elapsed(), Duration::from_millis(150));
    }

    #[test]
    fn pacing_counts_from_the_answers() {
        let start = Instant::now();
        let ms = |n: u64| start + Duration::from_millis(n);
        let mut turns = Turns::default();
        // Three at once; the fourth waits for one of them to end.
        for _ in 0..3 {
            assert_eq!(turns.take(3, start), Ok(()));
        }
        assert_eq!(turns.take(3, start), Err(None));
        // Answers at 100, 200 and 300 ms: a second after each, one more.
        turns.done(ms(100));
        assert_eq!(turns.take(3, ms(100)), Err(Some(ms(100) + PACING_WINDOW)));
        turns.done(ms(200));
        turns.done(ms(300));
        assert_eq!(turns.take(3, ms(1000)), Err(Some(ms(100) + PACING_WINDOW)));
        assert_eq!(turns.take(3, ms(1105)), Ok(()));
        assert_eq!(turns.take(3, ms(1105)), Err(Some(ms(200) + PACING_WINDOW)));
        // Long after, the window is empty again.
        turns.done(ms(1200));
        for _ in 0..3 {
            assert_eq!(turns.take(3, ms(5000)), Ok(()));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn paced_requests_never_exceed_n_in_a_second_of_answers() {
        let pacer = Arc::new(RequestPacer::new(3));
        let url = url::Url::parse("http://h/").unwrap();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..10u64 {
            let (pacer, url) = (pacer.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let turn = pacer.turn(&url).await;
                let sent = Instant::now();
                // Each request takes a different while to be answered.
                tokio::time::sleep(Duration::from_millis(10 + i * 7)).await;
                drop(turn);
                sent
            }));
        }
        let mut sent = Vec::new();
        for task in tasks {
            sent.push(task.await.unwrap());
        }
        sent.sort();
        for (i, &t) in sent.iter().enumerate() {
            let within = sent[i..]
                .iter()
                .filter(|&&u| u < t + Duration::from_secs(1))
                .count();
            assert!(
                within <= 3,
                "{within} requests within a second of request {i}: {sent:?}"
            );
        }
        // And no slower than needed: 10 at 3 a second take a little over 3 s.
        let last = *sent.last().unwrap() - started;
        assert!(last < Duration::from_secs(4), "{last:?}");
        let other = url::Url::parse("http://other/").unwrap();
        let _free = pacer.turn(&other).await;
    }
}
