//! Minimal HTTP/1.1 client helpers, so tests see exactly what is on the wire.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use parget_testbed::TestServer;

/// A parsed response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }
}

/// A connection with its read buffer.
pub struct Conn<S> {
    pub io: S,
    buf: Vec<u8>,
    /// Sent as `Host`; redirects are built from it.
    host: String,
}

impl Conn<TcpStream> {
    pub async fn open(server: &TestServer) -> Conn<TcpStream> {
        let mut conn = Conn::new(TcpStream::connect(server.addr()).await.unwrap());
        conn.host = server.addr().to_string();
        conn
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(io: S) -> Conn<S> {
        Conn {
            io,
            buf: Vec::new(),
            host: "127.0.0.1".to_owned(),
        }
    }

    /// Sends `METHOD target` with extra header lines (each without CRLF).
    pub async fn send(&mut self, method: &str, target: &str, headers: &[&str]) {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        self.io.write_all(req.as_bytes()).await.unwrap();
    }

    /// Reads a response head; returns it with an empty body.
    pub async fn read_head(&mut self) -> io::Result<Response> {
        loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(self.buf[..i].to_vec()).unwrap();
                self.buf.drain(..i + 4);
                let mut lines = head.split("\r\n");
                let status_line = lines.next().unwrap();
                let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
                let headers = lines
                    .map(|l| {
                        let (n, v) = l.split_once(':').unwrap();
                        (n.trim().to_owned(), v.trim().to_owned())
                    })
                    .collect();
                return Ok(Response {
                    status,
                    headers,
                    body: Vec::new(),
                });
            }
            let mut chunk = [0u8; 16384];
            let n = self.io.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads exactly `n` body bytes.
    pub async fn read_body(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let take = n.min(self.buf.len());
        let mut body: Vec<u8> = self.buf.drain(..take).collect();
        body.resize(n, 0);
        self.io.read_exact(&mut body[take..]).await?;
        Ok(body)
    }

    /// Reads body bytes until EOF or an error; returns them and the error.
    pub async fn read_to_end(&mut self) -> (Vec<u8>, Option<io::Error>) {
        let mut body = std::mem::take(&mut self.buf);
        let mut chunk = vec![0u8; 65536];
        loop {
            match self.io.read(&mut chunk).await {
                Ok(0) => return (body, None),
                Ok(n) => body.extend_from_slice(&chunk[..n]),
                Err(e) => return (body, Some(e)),
            }
        }
    }

    /// A whole response framed by Content-Length (no body for HEAD).
    pub async fn response(&mut self, head_request: bool) -> Response {
        let mut response = self.read_head().await.unwrap();
        if !head_request {
            let len = response.content_length().unwrap_or(0) as usize;
            response.body = self.read_body(len).await.unwrap();
        }
        response
    }

    pub async fn request(&mut self, method: &str, target: &str, headers: &[&str]) -> Response {
        self.send(method, target, headers).await;
        self.response(method == "HEAD").await
    }
}

/// One GET on a fresh connection.
pub async fn get(server: &TestServer, target: &str, headers: &[&str]) -> Response {
    Conn::open(server)
        .await
        .request("GET", target, headers)
        .await
}

/// Fails the test instead of hanging when the server misbehaves.
pub async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("timed out")
}

/// A TLS connection to `server` trusting only `ca_pem`, checking the
/// certificate against `name`.
pub async fn tls_connect(
    server: &TestServer,
    ca_pem: &str,
    name: &str,
    alpn: &[&[u8]],
) -> io::Result<TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(server.addr()).await?;
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(name.to_owned()).unwrap(), tcp)
        .await
}

/// Sends one request on `io` with `Connection: close` and reads every byte
/// until the server closes: for responses whose framing cannot be trusted.
pub async fn raw_exchange<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    method: &str,
    target: &str,
    headers: &[&str],
) -> Vec<u8> {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    io.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    // A TLS peer that closes without close_notify is an error here, but the
    // bytes before it are what the test looks at.
    let _ = io.read_to_end(&mut raw).await;
    raw
}

/// A raw response split at the blank line: head lines and the bytes after.
pub struct RawResponse {
    pub lines: Vec<String>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn parse(raw: &[u8]) -> RawResponse {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a blank line ends the head");
        let head = String::from_utf8(raw[..end].to_vec()).expect("the head is UTF-8");
        RawResponse {
            lines: head.split("\r\n").map(str::to_owned).collect(),
            body: raw[end + 4..].to_vec(),
        }
    }

    pub fn status_line(&self) -> &str {
        &self.lines[0]
    }

    /// Every value of header `name` (case-insensitive), untrimmed past the
    /// one space after the colon.
    pub fn headers(&self, name: &str) -> Vec<&str> {
        self.lines[1..]
            .iter()
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.strip_prefix(' ').unwrap_or(v))
            .collect()
    }
}

/// A reqwest client that goes straight to loopback (no proxy from the
/// environment) and does not follow redirects.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A reqwest builder trusting only `ca_pem` (no system roots), no proxy.
pub fn https_builder(ca_pem: &str) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
}

/// The error and all its sources, for checking why a request failed.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
