//! The `http` and `https` transport, over shared reqwest clients.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{self, HeaderMap};
use reqwest::StatusCode;

use super::{OpenRequest, Opened, Transport, Validator};
use crate::error::{Error, ErrorKind};
use crate::header::{
    parse_content_length, parse_content_range, parse_retry_after, parse_unsatisfied_total,
};

/// Fetches `http` and `https` URLs with a shared connection pool.
#[derive(Clone)]
pub struct HttpTransport {
    clients: Arc<Clients>,
    max_redirects: usize,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("max_redirects", &self.max_redirects)
            .finish_non_exhaustive()
    }
}

/// Which client a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientKind {
    /// `http://`: no TLS, so no root certificates to load.
    Plain,
    /// `https://`, HTTP/2 where the server offers it.
    Tls,
    /// `https://` limited to HTTP/1.1, for segments: HTTP/2 would multiplex
    /// every segment onto one TCP connection, which defeats their point.
    TlsHttp1,
}

type ClientFactory = Box<dyn Fn(ClientKind) -> Result<reqwest::Client, Error> + Send + Sync>;

/// What the engine's own HTTP clients are built from.
#[derive(Clone, Debug)]
pub(crate) struct HttpSettings {
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// Idle connections kept per host for reuse.
    pub idle_per_host: usize,
    pub max_redirects: usize,
    /// PEM certificates (or bundles) trusted besides the system's roots.
    pub root_certificates: Vec<Vec<u8>>,
    pub insecure: bool,
}

impl HttpSettings {
    /// Builds the client of `kind`. None may decompress bodies (the bytes
    /// on disk must be the bytes served) nor set a whole-request timeout
    /// (it would kill large downloads): the engine applies idle timeouts.
    fn client(
        &self,
        kind: ClientKind,
        roots: &[reqwest::Certificate],
    ) -> Result<reqwest::Client, Error> {
        let max_redirects = self.max_redirects;
        let mut builder = reqwest::Client::builder()
            .user_agent(self.user_agent.clone())
            .connect_timeout(self.connect_timeout)
            .pool_max_idle_per_host(self.idle_per_host)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .danger_accept_invalid_certs(self.insecure);
        builder = match kind {
            ClientKind::Plain => builder
                // No TLS here: a redirect to https is handed back and
                // followed by the TLS client, which loads the roots.
                .tls_built_in_native_certs(false)
                .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                    if attempt.url().scheme() != "http" {
                        attempt.stop()
                    } else if attempt.previous().len() > max_redirects {
                        attempt.error("too many redirects")
                    } else {
                        attempt.follow()
                    }
                })),
            ClientKind::Tls | ClientKind::TlsHttp1 => {
                for certificate in roots {
                    builder = builder.add_root_certificate(certificate.clone());
                }
                let builder = builder.redirect(reqwest::redirect::Policy::limited(max_redirects));
                if kind == ClientKind::TlsHttp1 {
                    builder.http1_only()
                } else {
                    builder
                }
            }
        };
        builder.build().map_err(|e| {
            Error::new(
                ErrorKind::InvalidRequest("the HTTP client could not be set up".into()),
                None,
            )
            .with_source(e)
        })
    }
}

/// The clients, built on first use: loading the system's root certificates
/// costs about 12 ms of CPU, which a run of plain `http` URLs never needs.
struct Clients {
    factory: Option<ClientFactory>,
    plain: OnceLock<reqwest::Client>,
    tls: OnceLock<reqwest::Client>,
    tls_http1: OnceLock<reqwest::Client>,
}

impl Clients {
    fn get(&self, kind: ClientKind) -> Result<&reqwest::Client, Error> {
        let cell = match kind {
            ClientKind::Plain => &self.plain,
            ClientKind::Tls => &self.tls,
            ClientKind::TlsHttp1 => &self.tls_http1,
        };
        if let Some(client) = cell.get() {
            return Ok(client);
        }
        let factory = self.factory.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidRequest("no HTTP client for this URL".into()),
                None,
            )
        })?;
        // Two first requests may race to build: one client wins, the other
        // is dropped unused.
        let _ = cell.set(factory(kind)?);
        cell.get().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidRequest("the HTTP client could not be set up".into()),
                None,
            )
        })
    }
}

impl HttpTransport {
    /// Wraps two clients: one for whole resources (HTTP/2 where offered),
    /// and one limited to HTTP/1.1 for segments. Neither may decompress
    /// bodies (bytes on disk must be the bytes served) nor set a
    /// whole-request timeout (it would kill large downloads); the engine
    /// applies idle timeouts.
    pub fn new(
        client: reqwest::Client,
        http1_client: reqwest::Client,
        max_redirects: usize,
    ) -> HttpTransport {
        let clients = Clients {
            factory: None,
            plain: OnceLock::from(client.clone()),
            tls: OnceLock::from(client),
            tls_http1: OnceLock::from(http1_client),
        };
        HttpTransport {
            clients: Arc::new(clients),
            max_redirects,
        }
    }

    /// The engine's own transport, its clients built from `settings` on
    /// first use. Fails when a root certificate is not valid PEM.
    pub(crate) fn from_settings(settings: HttpSettings) -> Result<HttpTransport, Error> {
        let mut roots = Vec::new();
        for pem in &settings.root_certificates {
            roots.extend(reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidRequest("a root certificate is not valid PEM".into()),
                    None,
                )
                .with_source(e)
            })?);
        }
        let max_redirects = settings.max_redirects;
        let factory = move |kind: ClientKind| settings.client(kind, &roots);
        Ok(HttpTransport::lazy(Box::new(factory), max_redirects))
    }

    /// A transport whose clients `factory` builds on first use.
    fn lazy(factory: ClientFactory, max_redirects: usize) -> HttpTransport {
        let clients = Clients {
            factory: Some(factory),
            plain: OnceLock::new(),
            tls: OnceLock::new(),
            tls_http1: OnceLock::new(),
        };
        HttpTransport {
            clients: Arc::new(clients),
            max_redirects,
        }
    }

    async fn open_inner(&self, request: OpenRequest<'_>) -> Result<Opened, Error> {
        let url = request.url;
        let tls_kind = if request.end.is_some() {
            ClientKind::TlsHttp1
        } else {
            ClientKind::Tls
        };
        let kind = if url.scheme() == "http" {
            ClientKind::Plain
        } else {
            tls_kind
        };
        let client = self.clients.get(kind)?;
        let mut response = send(client, &request).await.map_err(|e| self.classify(e))?;
        if kind == ClientKind::Plain && response.status().is_redirection() {
            // The plain client stops at a redirect to https: the TLS client
            // takes the request from the start and follows it.
            let client = self.clients.get(tls_kind)?;
            response = send(client, &request).await.map_err(|e| self.classify(e))?;
        }
        let final_url = response.url().clone();
        let status = response.status();
        let headers = response.headers();
        let validator = Validator {
            etag: header_str(headers, header::ETAG).map(str::to_owned),
            last_modified: header_str(headers, header::LAST_MODIFIED).map(str::to_owned),
        };
        let content_length = match header_str(headers, header::CONTENT_LENGTH) {
            None => None,
            Some(value) => Some(parse_content_length(value).ok_or_else(|| {
                Error::new(
                    ErrorKind::Protocol(format!("invalid Content-Length `{value}`")),
                    None,
                )
            })?),
        };
        let accepts_ranges = header_str(headers, header::ACCEPT_RANGES).is_some_and(|v| {
            v.split(',')
                .any(|unit| unit.trim().eq_ignore_ascii_case("bytes"))
        });

        let (offset, body_len, total) = if status == StatusCode::PARTIAL_CONTENT {
            let value = header_str(headers, header::CONTENT_RANGE).unwrap_or("");
            let range = parse_content_range(value).ok_or_else(|| {
                Error::new(
                    ErrorKind::Protocol(format!("206 with an invalid Content-Range `{value}`")),
                    None,
                )
            })?;
            // A range that is not exactly what was asked would put bytes at
            // the wrong offset: refuse it rather than write it anywhere.
            let asked_end = request.end.map(|end| end.saturating_sub(1));
            if !request.is_range()
                || range.start != request.offset
                || asked_end.is_some_and(|end| range.end_inclusive != end)
            {
                return Err(Error::new(
                    ErrorKind::Protocol(format!(
                        "asked for bytes {}-{}, got Content-Range `{value}`",
                        request.offset,
                        asked_end.map(|e| e.to_string()).unwrap_or_default()
                    )),
                    None,
                ));
            }
            let len = range.end_inclusive - range.start + 1;
            if content_length.is_some_and(|n| n != len) {
                return Err(Error::new(
                    ErrorKind::Protocol(format!(
                        "Content-Length {} disagrees with Content-Range `{value}`",
                        content_length.unwrap_or(0)
                    )),
                    None,
                ));
            }
            if asked_end.is_none()
                && range
                    .total
                    .is_some_and(|total| range.end_inclusive + 1 != total)
            {
                return Err(Error::new(
                    ErrorKind::Protocol(format!(
                        "asked for bytes {}- to the end, got Content-Range `{value}`",
                        request.offset
                    )),
                    None,
                ));
            }
            (range.start, Some(len), range.total)
        } else if status.is_success() {
            // A 200 to a range request is the whole resource from byte 0:
            // the caller starts over instead of splicing.
            (0, content_length, content_length)
        } else if status == StatusCode::RANGE_NOT_SATISFIABLE
            && request.offset > 0
            && request.end.is_none()
            && header_str(headers, header::CONTENT_RANGE).and_then(parse_unsatisfied_total)
                == Some(request.offset)
        {
            // Everything up to the end is already held: an If-Range that
            // failed would have brought a 200, so this is the same resource.
            return Ok(Opened {
                status: status.as_u16(),
                final_url,
                headers: headers.clone(),
                offset: request.offset,
                body_len: Some(0),
                total: Some(request.offset),
                validator,
                ranges: true,
                body: futures_util::stream::empty().boxed(),
            });
        } else {
            let retry_after = header_str(headers, header::RETRY_AFTER)
                .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
            return Err(Error::new(
                ErrorKind::Status {
                    code: status.as_u16(),
                    retry_after,
                },
                None,
            ));
        };

        let headers = std::mem::take(response.headers_mut());
        let body = response
            .bytes_stream()
            .map_err(|e| Error::new(ErrorKind::Transfer, None).with_source(e))
            .boxed();
        Ok(Opened {
            status: status.as_u16(),
            final_url,
            headers,
            offset,
            body_len,
            total,
            validator,
            ranges: accepts_ranges || status == StatusCode::PARTIAL_CONTENT,
            body,
        })
    }

    fn classify(&self, error: reqwest::Error) -> Error {
        let kind = if error.is_redirect() {
            ErrorKind::TooManyRedirects(self.max_redirects)
        } else if error.is_timeout() {
            ErrorKind::ConnectTimeout
        } else if error.is_connect() && is_certificate_error(&error) {
            ErrorKind::Tls
        } else if error.is_connect() {
            ErrorKind::Connect
        } else {
            ErrorKind::Transfer
        };
        Error::new(kind, None).with_source(error.without_url())
    }
}

/// True when a connect error comes from certificate verification. reqwest
/// exposes no typed TLS error, so the cause chain's text is matched: rustls
/// names these failures "invalid peer certificate".
fn is_certificate_error(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.to_string().contains("invalid peer certificate") {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Sends `request` with `client`: its method, body and headers, and no
/// content coding (the bytes on disk must be the bytes served).
async fn send(
    client: &reqwest::Client,
    request: &OpenRequest<'_>,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut builder = client
        .request(request.method.clone(), request.url.clone())
        .headers(request.headers.clone())
        .header(header::ACCEPT_ENCODING, "identity");
    for (name, value) in range_headers(request) {
        builder = builder.header(name, value);
    }
    if let Some(body) = request.body {
        builder = builder.body(body.clone());
    }
    builder.send().await
}

/// The Range and If-Range headers of `request`, if it asks for a range.
fn range_headers(request: &OpenRequest<'_>) -> Vec<(header::HeaderName, String)> {
    let mut headers = Vec::new();
    if request.is_range() {
        let range = match request.end {
            Some(end) => format!("bytes={}-{}", request.offset, end.saturating_sub(1)),
            None => format!("bytes={}-", request.offset),
        };
        headers.push((header::RANGE, range));
        if let Some(if_range) = request.validator.and_then(Validator::if_range) {
            headers.push((header::IF_RANGE, if_range.to_owned()));
        }
    }
    headers
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

impl Transport for HttpTransport {
    fn open<'a>(&'a self, request: OpenRequest<'a>) -> BoxFuture<'a, Result<Opened, Error>> {
        Box::pin(self.open_inner(request))
    }
}
