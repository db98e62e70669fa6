//! An HTTP(S) test server for parget's tests and benchmarks.
//!
//! It serves deterministic content of any size, so every test knows the
//! bytes and their digest without storing them ([`fill`], [`content`]), and it
//! misbehaves on demand, driven by the query string.
//!
//! # URL scheme
//!
//! Every path is a file, except `/api/...` and the listing's
//! `/endpoint/...`. `GET` or `HEAD /any/path?size=N` serves
//! `fill(path, 0..N)` (the path exactly as sent, not percent-decoded, without
//! the query) with `Content-Length`, `Accept-Ranges: bytes`, a quoted `ETag`
//! derived from the content seed and the size, and `Last-Modified:`
//! [`LAST_MODIFIED`]. Without `size` the resource is [`DEFAULT_SIZE`] bytes.
//! Other methods get 405. Query parameters, all optional and combinable
//! (unknown ones are ignored, so they can be used as cache busters):
//!
//! | parameter | effect |
//! |---|---|
//! | `size=N` | resource length |
//! | `version=V` | serve the bytes of [`versioned_path`]`(path, V)`; the derived ETag changes with them |
//! | `etag=S` | send ETag `S` (quoted unless it already is, or is `W/...`); the bytes do not change |
//! | `latency_ms=N` | delay before the response headers (overrides [`ServerConfig::latency`]) |
//! | `rate=B` / `trickle=B` | body bytes per second on this connection; 0 = unlimited |
//! | `ranges=0` | ignore `Range`, always 200, no `Accept-Ranges` |
//! | `accept_ranges=0` | honour `Range` but send no `Accept-Ranges` header |
//! | `fail=CODE` | the first `fail_count` (default 1, `all` = forever) requests to this exact `path?query` answer CODE with a short text body |
//! | `retry_after=SPEC` | with `fail`: add `Retry-After: SPEC` verbatim to the failures |
//! | `status=CODE` | answer CODE (200..=599) with a small HTML page |
//! | `redirect=N` | N > 0: 302 to the same URL with `redirect=N-1`; 0 serves the content |
//! | `redirect_to=PATH` | one 302 to the percent-decoded PATH (a path gets this server's origin; a full URL is sent as is) |
//! | `redirect_status=CODE` | status for `redirect`/`redirect_to` instead of 302 |
//! | `reset_after=N` | send the headers and N body bytes, then RST the TCP connection |
//! | `truncate_after=N` | send the full `Content-Length` but only N body bytes, then close (FIN) |
//! | `stall_after=N` | send the headers and N body bytes, then nothing until the client leaves or the server shuts down |
//! | `content_length=S` | send `Content-Length: S` verbatim, then the real body, then close |
//! | `extra_length=N` | declare N bytes more than sent, send the real body, then close |
//! | `range_offset=D` | answer a Range request with a 206 shifted by D bytes: header **and** body describe the shifted range (kept inside the resource by shifting the other way if needed) |
//! | `range_ignore=1` | answer a Range request with a full 200 although `Accept-Ranges` is advertised |
//! | `fault_count=K` | how many GETs to this exact `path?query` get the faults above (default 1, `all` = forever); later ones are served normally |
//!
//! Evaluation order: `fail`, then redirects, then `status`, then the content
//! with its faults. Only `GET`s consume `fault_count` (a `HEAD` probe never
//! misbehaves); `fail` counts every method. The counters are per server and
//! per exact `path?query` (the `Range` header is not part of the key).
//!
//! Ranges: `bytes=a-b`, `bytes=a-` and `bytes=-n` give a 206 with
//! `Content-Range: bytes a-b/N`; an unsatisfiable range gives a 416 with
//! `Content-Range: bytes */N`. A syntactically invalid range, and a request
//! for several ranges, are ignored: the answer is a 200 with the full body
//! (no multipart). An `If-Range` (ETag, compared strongly, or the
//! `Last-Modified` date) that does not match also gives a full 200.
//!
//! # API
//!
//! * `POST /api/list_files` with `{"start": S, "per_page": P}` or
//!   `start=S&per_page=P` (S 0-based, P capped at [`LISTING_MAX_PER_PAGE`],
//!   0 or missing = the cap): after [`ServerConfig::listing_lag`], a JSON
//!   array of endpoint paths and a `More: true|false` header. Each
//!   `GET /endpoint/NAME` (also after the lag) answers `x of N`.
//! * `GET /api/list_files`: the full list. `GET /api/stats`: [`Stats`] as
//!   JSON. `POST /api/reset_stats`: zero the stats and the fault counters.
//!
//! # Protocols
//!
//! Plain HTTP/1.1 and HTTP/1.1 over TLS use a hand-written server, so every
//! fault is real wire behaviour. HTTP/2 (TLS with ALPN `h2`) goes through
//! hyper: there `reset_after` resets the stream (RST_STREAM), `stall_after`
//! stalls the stream, `truncate_after` stops the body short of its
//! `content-length` (the peer sees a stream error, since h2 polices lengths),
//! and
//! `content_length`/`extra_length` are not applied (the true length is sent).

mod config;
mod content;
pub mod external;
mod h1;
mod h2;
mod handler;
mod pacing;
mod stats;
mod tls;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

pub use config::ServerConfig;
pub use content::{content, fill, versioned_path};
pub use handler::{DEFAULT_SIZE, LAST_MODIFIED, LISTING_MAX_PER_PAGE};
pub use stats::{PathStats, Stats};

use handler::Shared;

/// Longest a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running test server on 127.0.0.1. Dropping it stops accepting and drops
/// every open connection.
pub struct TestServer {
    addr: SocketAddr,
    ca_pem: Option<String>,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .field("tls", &self.shared.tls)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Binds `127.0.0.1:config.port` and serves in the background on the
    /// current tokio runtime.
    pub async fn start(config: ServerConfig) -> io::Result<TestServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).await?;
        let addr = listener.local_addr()?;
        let (acceptor, ca_pem) = if config.tls {
            let (acceptor, pem) = tls::acceptor(config.http2)?;
            (Some(acceptor), Some(pem))
        } else {
            (None, None)
        };
        let shared = Arc::new(Shared::new(config, addr, acceptor.is_some()));
        let (shutdown, stopped) = watch::channel(false);
        tokio::spawn(accept_loop(
            listener,
            Arc::clone(&shared),
            acceptor,
            stopped,
        ));
        Ok(TestServer {
            addr,
            ca_pem,
            shared,
            shutdown,
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` or `https://...`, without a trailing slash.
    pub fn base_url(&self) -> String {
        let scheme = if self.shared.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The absolute URL of `path_and_query` (a leading `/` is added if
    /// missing).
    pub fn url(&self, path_and_query: &str) -> String {
        let slash = if path_and_query.starts_with('/') {
            ""
        } else {
            "/"
        };
        format!("{}{slash}{path_and_query}", self.base_url())
    }

    /// The PEM of the CA that issued the server certificate, when TLS is on;
    /// trust it to connect to `127.0.0.1` or `localhost`.
    pub fn ca_cert_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// The paths of the listing API's endpoints, in order.
    pub fn listing_endpoints(&self) -> Vec<String> {
        self.shared.listing.names().to_vec()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats.snapshot()
    }

    /// Zeroes the counters (the open-connection gauge excepted).
    pub fn reset_stats(&self) {
        self.shared.stats.reset();
    }

    /// Forgets how often each `fail`/fault URL was requested, so their
    /// failures happen again.
    pub fn reset_faults(&self) {
        self.shared.reset_fault_counters();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Resolves once the server is told to stop (or its handle is gone).
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|&stop| stop).await;
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    acceptor: Option<TlsAcceptor>,
    stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stopped(stop.clone()) => return,
            accepted = listener.accept() => accepted,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(_) => {
                // Out of descriptors or an aborted handshake: back off briefly
                // instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let acceptor = acceptor.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _open = shared.stats.connection_opened();
            tokio::select! {
                _ = stopped(stop) => {}
                _ = serve_connection(tcp, shared.clone(), acceptor) => {}
            }
        });
    }
}

async fn serve_connection(
    tcp: tokio::net::TcpStream,
    shared: Arc<Shared>,
    acceptor: Option<TlsAcceptor>,
) {
    let Some(acceptor) = acceptor else {
        return h1::serve(tcp, shared).await;
    };
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        _ => return,
    };
    shared.stats.tls_handshake();
    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        h2::serve(tls, shared).await;
    } else {
        h1::serve(tls, shared).await;
    }
}
