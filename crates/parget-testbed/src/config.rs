//! Server-wide settings.

use std::time::Duration;

/// Server-wide defaults; most can be overridden per request by the query
/// string (see the crate documentation).
///
/// Build it with struct update syntax:
/// `ServerConfig { tls: true, ..ServerConfig::default() }`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Serve HTTPS with a certificate for `127.0.0.1` and `localhost`, issued
    /// at start by a freshly made CA (see [`crate::TestServer::ca_cert_pem`]).
    /// Default: `false`.
    pub tls: bool,
    /// With `tls`, offer ALPN `h2` besides `http/1.1` and serve HTTP/2 when the
    /// client picks it. Ignored without TLS (no h2c). Default: `false`.
    pub http2: bool,
    /// Delay before the response headers of every request (query
    /// `latency_ms` overrides it). Default: zero.
    pub latency: Duration,
    /// Body bytes per second per connection (query `rate` overrides it).
    /// Default: `None`, unlimited.
    pub rate_per_connection: Option<u64>,
    /// Honour `Range` requests and advertise `Accept-Ranges: bytes` (query
    /// `ranges=0` turns it off per request). Default: `true`.
    pub ranges: bool,
    /// Number of endpoints behind the paginated `/api/list_files`.
    /// Default: 25.
    pub listing_files: usize,
    /// Delay before each answer of the listing API and of its endpoints, on
    /// top of `latency`. Default: zero.
    pub listing_lag: Duration,
    /// Port to listen on at 127.0.0.1; 0 picks a free one. Default: 0.
    pub port: u16,
    /// With `tls`, serve this certificate chain and key instead of the
    /// generated ones (then [`crate::TestServer::ca_cert_pem`] is `None`: the
    /// caller knows its CA). Default: `None`.
    pub tls_identity: Option<TlsIdentity>,
    /// With `tls`, a CA certificate (PEM, one or more): the server then
    /// requires a client certificate signed by it and refuses the handshake
    /// without one. Default: `None`, no client certificate asked for.
    pub client_ca: Option<String>,
    /// How many of the newest requests [`crate::TestServer::requests`]
    /// keeps; 0 records nothing (for benchmarks). Default:
    /// [`DEFAULT_RECORDED_REQUESTS`].
    pub record_requests: usize,
}

/// Requests kept by default for [`crate::TestServer::requests`].
pub const DEFAULT_RECORDED_REQUESTS: usize = 10_000;

/// A server certificate chain and its private key, both PEM, as
/// [`crate::certs`] makes them.
#[derive(Debug, Clone)]
pub struct TlsIdentity {
    /// The leaf certificate first, then any intermediates.
    pub cert_chain_pem: String,
    /// The leaf's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            tls: false,
            http2: false,
            latency: Duration::ZERO,
            rate_per_connection: None,
            ranges: true,
            listing_files: 25,
            listing_lag: Duration::ZERO,
            port: 0,
            tls_identity: None,
            client_ca: None,
            record_requests: DEFAULT_RECORDED_REQUESTS,
        }
    }
}
