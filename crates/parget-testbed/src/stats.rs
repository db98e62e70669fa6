//! Request counters, kept cheap enough for benchmark rates.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Counters for one URL path (query excluded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathStats {
    /// Requests received for the path.
    pub requests: u64,
    /// Body bytes written for the path.
    pub body_bytes: u64,
    /// Requests for the path that carried a `Range` header.
    pub range_requests: u64,
}

/// A snapshot of what the server has seen since start or the last
/// [`crate::TestServer::reset_stats`].
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Requests received (every method, every path, HTTP/1 and HTTP/2).
    pub requests: u64,
    /// Body bytes written to clients (headers excluded).
    pub body_bytes: u64,
    /// TCP connections accepted.
    pub connections: u64,
    /// Connections open at the time of the snapshot.
    pub open_connections: u64,
    /// Most connections open at the same time.
    pub peak_connections: u64,
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// Requests received over HTTP/1.x.
    pub http1_requests: u64,
    /// Requests received over HTTP/2.
    pub http2_requests: u64,
    /// `HEAD` requests received.
    pub head_requests: u64,
    /// Requests that carried a `Range` header.
    pub range_requests: u64,
    /// Counters per URL path (query excluded).
    pub per_path: HashMap<String, PathStats>,
}

impl Stats {
    /// Requests received for `path` (the path only, without query).
    pub fn requests_for(&self, path: &str) -> u64 {
        self.per_path.get(path).map_or(0, |p| p.requests)
    }

    /// Body bytes written for `path` (the path only, without query).
    pub fn body_bytes_for(&self, path: &str) -> u64 {
        self.per_path.get(path).map_or(0, |p| p.body_bytes)
    }

    /// Requests with a `Range` header for `path`.
    pub fn range_requests_for(&self, path: &str) -> u64 {
        self.per_path.get(path).map_or(0, |p| p.range_requests)
    }

    /// The snapshot as JSON, as served by `GET /api/stats`.
    pub fn to_json(&self) -> serde_json::Value {
        let per_path: serde_json::Map<String, serde_json::Value> = self
            .per_path
            .iter()
            .map(|(path, p)| {
                (
                    path.clone(),
                    serde_json::json!({
                        "requests": p.requests,
                        "body_bytes": p.body_bytes,
                        "range_requests": p.range_requests,
                    }),
                )
            })
            .collect();
        serde_json::json!({
            "requests": self.requests,
            "body_bytes": self.body_bytes,
            "connections": self.connections,
            "open_connections": self.open_connections,
            "peak_connections": self.peak_connections,
            "tls_handshakes": self.tls_handshakes,
            "http1_requests": self.http1_requests,
            "http2_requests": self.http2_requests,
            "head_requests": self.head_requests,
            "range_requests": self.range_requests,
            "per_path": per_path,
        })
    }
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct StatsCell {
    requests: AtomicU64,
    body_bytes: AtomicU64,
    connections: AtomicU64,
    open_connections: AtomicU64,
    peak_connections: AtomicU64,
    tls_handshakes: AtomicU64,
    http1_requests: AtomicU64,
    http2_requests: AtomicU64,
    head_requests: AtomicU64,
    range_requests: AtomicU64,
    per_path: Mutex<HashMap<String, PathStats>>,
}

impl StatsCell {
    pub(crate) fn snapshot(&self) -> Stats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            requests: get(&self.requests),
            body_bytes: get(&self.body_bytes),
            connections: get(&self.connections),
            open_connections: get(&self.open_connections),
            peak_connections: get(&self.peak_connections),
            tls_handshakes: get(&self.tls_handshakes),
            http1_requests: get(&self.http1_requests),
            http2_requests: get(&self.http2_requests),
            head_requests: get(&self.head_requests),
            range_requests: get(&self.range_requests),
            per_path: self
                .per_path
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    /// Zeroes everything but the open-connection gauge, which still describes
    /// live sockets; the peak restarts from it.
    pub(crate) fn reset(&self) {
        for a in [
            &self.requests,
            &self.body_bytes,
            &self.connections,
            &self.tls_handshakes,
            &self.http1_requests,
            &self.http2_requests,
            &self.head_requests,
            &self.range_requests,
        ] {
            a.store(0, Ordering::Relaxed);
        }
        self.peak_connections.store(
            self.open_connections.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        self.per_path
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub(crate) fn tls_handshake(&self) {
        self.tls_handshakes.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an accepted connection; the guard counts its end when dropped.
    pub(crate) fn connection_opened(self: &Arc<Self>) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::Relaxed);
        let open = self.open_connections.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_connections.fetch_max(open, Ordering::Relaxed);
        ConnectionGuard(Arc::clone(self))
    }

    pub(crate) fn request(&self, path: &str, http2: bool, head: bool, range: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if http2 {
            self.http2_requests.fetch_add(1, Ordering::Relaxed);
        } else {
            self.http1_requests.fetch_add(1, Ordering::Relaxed);
        }
        if head {
            self.head_requests.fetch_add(1, Ordering::Relaxed);
        }
        if range {
            self.range_requests.fetch_add(1, Ordering::Relaxed);
        }
        let mut map = self.per_path.lock().unwrap_or_else(|e| e.into_inner());
        // Avoids allocating the key on every request to a known path.
        let entry = match map.get_mut(path) {
            Some(entry) => entry,
            None => map.entry(path.to_owned()).or_default(),
        };
        entry.requests += 1;
        if range {
            entry.range_requests += 1;
        }
    }

    pub(crate) fn body_bytes(&self, path: &str, n: u64) {
        if n == 0 {
            return;
        }
        self.body_bytes.fetch_add(n, Ordering::Relaxed);
        let mut map = self.per_path.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = map.get_mut(path) {
            entry.body_bytes += n;
        } else {
            map.entry(path.to_owned()).or_default().body_bytes += n;
        }
    }
}

/// Decrements the open-connection gauge when the connection task ends,
/// however it ends.
pub(crate) struct ConnectionGuard(Arc<StatsCell>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Adds the body bytes of one response to the stats when dropped, so bytes
/// sent before an error, a fault or a shutdown are counted too.
pub(crate) struct BodyCounter<'a> {
    stats: &'a StatsCell,
    path: &'a str,
    pub(crate) sent: u64,
}

impl<'a> BodyCounter<'a> {
    pub(crate) fn new(stats: &'a StatsCell, path: &'a str) -> Self {
        BodyCounter {
            stats,
            path,
            sent: 0,
        }
    }
}

impl Drop for BodyCounter<'_> {
    fn drop(&mut self) {
        self.stats.body_bytes(self.path, self.sent);
    }
}
