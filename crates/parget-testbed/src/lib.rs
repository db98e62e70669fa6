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
//! | `rate=B` / `trickle=B` | body bytes per second on this connection; 0 = unlimited. Paced from the first body byte, in slices of `B/50` bytes every 20 ms: at no moment is more than one slice ahead of the rate (no initial burst), and idle time on a kept-alive connection is not saved up |
//! | `ranges=0` | ignore `Range`, always 200, no `Accept-Ranges` |
//! | `accept_ranges=0` | honour `Range` but send no `Accept-Ranges` header |
//! | `fail=CODE` | the first `fail_count` (default 1, `all` = forever) requests to this exact `path?query` answer CODE with a short text body |
//! | `retry_after=SPEC` | with `fail`: add `Retry-After: SPEC` verbatim to the failures |
//! | `status=CODE` | answer CODE (200..=599) with a small HTML page |
//! | `redirect=N` | N > 0: 302 to the same URL with `redirect=N-1`; 0 serves the content |
//! | `redirect_to=PATH` | one 302 to the percent-decoded PATH (a path gets this server's origin; a full URL is sent as is, so it may name another `TestServer`, another port or scheme, e.g. https → http) |
//! | `redirect_status=CODE` | status for `redirect`/`redirect_to` instead of 302 |
//! | `reset_after=N` | send the headers and N body bytes, then RST the TCP connection |
//! | `truncate_after=N` | send the full `Content-Length` but only N body bytes, then close (FIN) |
//! | `stall_after=N` | send the headers and N body bytes, then nothing until the client leaves or the server shuts down |
//! | `content_length=S` | send `Content-Length: S` verbatim, then the real body, then close |
//! | `extra_length=N` | declare N bytes more than sent, send the real body, then close |
//! | `range_offset=D` | answer a Range request with a 206 shifted by D bytes: header **and** body describe the shifted range (kept inside the resource by shifting the other way if needed) |
//! | `range_ignore=1` | answer a Range request with a full 200 although `Accept-Ranges` is advertised |
//! | `range_status=CODE` | answer every Range request CODE with a short text body (a 416 with `Content-Range: bytes */size`); requests without Range are served |
//! | `range_truncate_after=N` | every 206 for a range that does not start at byte 0 sends the full `Content-Length` but only N body bytes, then closes; every request, not only the first `fault_count` |
//! | `range_change=KIND` | the resource changed and `If-Range` is ignored: every Range request is answered 206 with the bytes of another version, labelled by KIND: `version` (that version's ETag), `date` (no ETag on any answer, a later Last-Modified on the 206s), `weak` (the first answers' ETag made weak), `none` (no ETag or Last-Modified) |
//! | `corrupt=O[,O...]` | flip (XOR 0xFF) the byte at each resource offset O wherever it is served, in a full body or a range (HTTP/1 and HTTP/2), so digests fail while `ETag` and length stay; every GET unless `fault_count` is given |
//! | `hostile=KIND` | a hostile response, see [below](#hostile-responses); every request unless `fault_count` is given |
//! | `fault_count=K` | how many GETs to this exact `path?query` get the faults above (default 1, `all` = forever); later ones are served normally. `corrupt` and `hostile` apply to every GET without it, to the first K with it |
//! | `auth=USER:PASS` | answer 401 with `WWW-Authenticate: Basic realm="parget-testbed"` unless an `Authorization: Basic` header carries exactly `USER:PASS` (percent-decoded; the first `:` of the credentials splits them, so PASS may hold `:`) |
//! | `bearer=TOKEN` | answer 401 with `WWW-Authenticate: Bearer realm="parget-testbed"` unless `Authorization: Bearer TOKEN` arrives. With `auth` too, either credential passes and the 401 carries both challenges |
//! | `require_header=NAME:VALUE` | answer 403 unless a header NAME (any case) with exactly VALUE (trimmed) arrives; `NAME` alone accepts any value. May be repeated: all must arrive |
//! | `cookie=NAME=VALUE` | answer 403 unless a `Cookie` header holds the cookie NAME with exactly VALUE; `NAME` alone accepts any value. May be repeated: all must arrive |
//! | `disposition=VALUE` | send `Content-Disposition: VALUE` with the content (GET and HEAD, 200 and 206), VALUE percent-decoded once and sent verbatim, control characters included (so `filename*=UTF-8''%E2%82%AC` must be written `%25E2%2582%25AC` in the query). Decoded bytes that are not UTF-8 become U+FFFD |
//! | `rps=N` | answer 429 with `Retry-After: 1` once N requests (GET or HEAD, any query) to this path were served in the last second: a sliding one-second window per server and path. Refused requests do not count, so a client that keeps knocking still gets N answers a second. 0 = no limit |
//!
//! Evaluation order: `rps`, then `auth`/`bearer` (401), then
//! `require_header`/`cookie` (403), then `fail`, then redirects, then
//! `status`, then `hostile`, then the content with its faults. Only `GET`s
//! consume `fault_count` (a `HEAD` probe never gets the body faults, and sees
//! `hostile` only while GETs still would); `fail` counts every method. The
//! counters are per server and per exact `path?query` (the `Range` header is
//! not part of the key). [`TestServer::reset_faults`] and
//! `POST /api/reset_stats` reset them and the `rps` windows.
//!
//! # Hostile responses
//!
//! `hostile=KIND` makes the answer one a broken or malicious server would
//! give. Over HTTP/1.1 (plain and TLS) most kinds are written byte for byte
//! and the connection is closed after them, since their framing cannot be
//! trusted; the body is the resource (`size`, `version`, `corrupt` apply, not
//! `rate` or `Range`) and a `HEAD` gets the same head without a body.
//!
//! | kind | what is sent |
//! |---|---|
//! | `huge_header` | a 200 with one header line `X-Huge:` of 1 MiB, then `Content-Length` and the body |
//! | `many_headers` | a 200 with 10,000 `X-Many-i: i` header lines, then the body |
//! | `two_lengths` | a 200 with `Content-Length: N` and `Content-Length: N+1`, then N bytes |
//! | `te_and_length` | a 200 with `Transfer-Encoding: chunked` and `Content-Length: N`, then the body chunked (one chunk) |
//! | `te_gzip` | a 200 with `Transfer-Encoding: gzip, chunked`: the body chunked, in one chunk, and not gzip-coded at all |
//! | `bad_chunk` | chunked: a good chunk of the first N/2 bytes, then the size line `xyz` (not hex), the rest, `0` |
//! | `chunk_overflow` | as `bad_chunk` with the size line `10000000000000000` (2^64, beyond any 64-bit size) |
//! | `chunk_short` | chunked: a chunk announcing N bytes (at least 1) that carries N/2, then close |
//! | `chunk_unterminated` | chunked: the body in two whole chunks, then close where the terminating `0` chunk is due |
//! | `bad_status` | the status line `SSH-2.0-OpenSSH_9.2 not-http`, then headers and the body |
//! | `bad_location` | a 302 whose `Location` is `http://[::1` (no URL parser accepts it) |
//! | `range_total_mismatch` | a 206 for the requested range (the whole resource without `Range`) whose `Content-Range` total is half its last byte rounded up, so it contradicts the size and itself: `bytes 0-9/5` |
//! | `range_inverted` | the same with first and last swapped: `bytes 9-0/100` (a one-byte range `a-a` becomes `a+1-a`) |
//! | `range_not_ascii` | the same with an en dash (U+2013, UTF-8) for the hyphen: `bytes 0–9/100` |
//! | `control_chars` | a 302 whose `Location` (this server's origin, then a path), an `X-Testbed-Text` header, a `Content-Disposition` filename and the body hold ESC sequences (clear screen, window title, colours), BEL, BS and DEL. Strict HTTP parsers refuse the whole response |
//! | `c1_chars` | the same with C1 controls (CSI U+009B, OSC U+009D, ST U+009C) and a right-to-left override (U+202E), UTF-8 encoded: bytes HTTP parsers accept as `obs-text`, so the text reaches clients |
//!
//! `bad_location`, `range_total_mismatch`, `range_inverted` and `range_not_ascii` are ordinary
//! responses with a bad header value and work over HTTP/2 too; over HTTP/2
//! the other kinds answer 501.
//!
//! # Request log
//!
//! Every request that could be parsed is recorded (method, path and query,
//! every header in order, the protocol) before it is answered, refused ones
//! included: [`TestServer::requests`] and [`TestServer::requests_for`] show
//! which headers (`Authorization`, `Cookie`, `Referer`, ...) reached which
//! server. The newest [`ServerConfig::record_requests`] (default
//! [`DEFAULT_RECORDED_REQUESTS`]) are kept; [`TestServer::reset_stats`] and
//! `POST /api/reset_stats` clear them.
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
//!   JSON. `POST /api/reset_stats`: zero the stats and the fault counters,
//!   empty the `rps` windows and the request log.
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
//! Header values HTTP/2 cannot carry (control characters, from
//! `disposition`) are left out there.
//!
//! # TLS
//!
//! With [`ServerConfig::tls`] the server presents a certificate for
//! `127.0.0.1` and `localhost` from a CA made at start
//! ([`TestServer::ca_cert_pem`]), or the chain and key given in
//! [`ServerConfig::tls_identity`]; [`ServerConfig::client_ca`] makes it
//! require a client certificate signed by that CA. [`certs`] makes CAs and
//! server and client certificates at test time, with chosen names and
//! validity: unknown CA, wrong name, expired and mutual TLS are a few lines
//! each.

pub mod certs;
mod config;
mod content;
pub mod external;
mod gate;
mod h1;
mod h2;
mod handler;
mod hostile;
mod pacing;
mod ratelimit;
mod record;
mod stats;
mod tls;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

pub use config::{ServerConfig, TlsIdentity, DEFAULT_RECORDED_REQUESTS};
pub use content::{content, fill, versioned_path};
pub use handler::{DEFAULT_SIZE, LAST_MODIFIED, LISTING_MAX_PER_PAGE};
pub use record::RecordedRequest;
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
        if !config.tls && (config.tls_identity.is_some() || config.client_ca.is_some()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ServerConfig: tls_identity and client_ca need tls: true",
            ));
        }
        let (acceptor, ca_pem) = if config.tls {
            let (acceptor, pem) = tls::acceptor(&config)?;
            (Some(acceptor), pem)
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

    /// The PEM of the CA that issued the generated server certificate, when
    /// TLS is on; trust it to connect to `127.0.0.1` or `localhost`. `None`
    /// without TLS and with [`ServerConfig::tls_identity`].
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

    /// Zeroes the counters (the open-connection gauge excepted) and forgets
    /// the recorded requests.
    pub fn reset_stats(&self) {
        self.shared.reset_stats();
    }

    /// The requests received since start or the last
    /// [`TestServer::reset_stats`], oldest first: the newest
    /// [`ServerConfig::record_requests`] of them (default
    /// [`DEFAULT_RECORDED_REQUESTS`]). Requests too malformed to parse are
    /// not recorded.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.snapshot()
    }

    /// The recorded requests whose path (without the query) is `path`,
    /// oldest first.
    pub fn requests_for(&self, path: &str) -> Vec<RecordedRequest> {
        self.shared.requests.for_path(path)
    }

    /// Forgets how often each `fail`/fault URL was requested, so their
    /// failures happen again, and empties the `rps` windows.
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
