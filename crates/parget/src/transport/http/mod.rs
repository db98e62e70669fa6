//! The `http` and `https` transport, over shared clients: hyper directly
//! for plain `http://` without a proxy (`direct`), reqwest for the rest.
//!
//! Each open is a chain of requests: the transport follows redirects
//! itself (up to `max_redirects`), so that it decides what every request
//! of the chain carries (see the `hop` module): credentials and cookies only to the
//! origin they were given for, no `Referer`, and no redirect from https
//! down to http unless allowed. The answer's head is checked before its
//! body is used ([`HttpTransport`] refuses contradictory lengths and
//! ranges), and errors are classified (the `classify` module) so that a malformed
//! answer is not retried as if the network had failed.

mod classify;
mod clients;
mod direct;
mod hop;
mod roots;

use std::sync::Arc;
use std::time::SystemTime;

use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use http::Method;
use reqwest::header::{self, HeaderMap};
use reqwest::StatusCode;
use url::Url;

use super::{BodyStream, OpenRequest, Opened, Transport, Validator};
use crate::cookies::CookieJar;
use crate::error::{Error, ErrorKind};
use crate::header::{
    parse_content_length, parse_content_range, parse_retry_after, parse_unsatisfied_total,
};
use crate::limit::RequestPacer;

use clients::{ClientKind, Clients};
pub(crate) use clients::{ClientSettings, ProxyRoute};
pub(crate) use hop::Credentials;

/// Fetches `http` and `https` URLs with a shared connection pool.
#[derive(Clone)]
pub struct HttpTransport {
    clients: Arc<Clients>,
    chain: Arc<ChainSettings>,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("max_redirects", &self.chain.max_redirects)
            .finish_non_exhaustive()
    }
}

/// What every request chain of the transport follows.
#[derive(Default)]
pub(crate) struct ChainSettings {
    pub max_redirects: usize,
    /// Follow redirects from https to plain http.
    pub allow_insecure_redirect: bool,
    pub credentials: Credentials,
    /// Headers sent with every request (a request's own header of the same
    /// name replaces them); origin-bound ones only to the URL asked for.
    pub default_headers: HeaderMap,
    pub cookies: Option<CookieJar>,
    /// At most N requests a second per host.
    pub pacer: Option<RequestPacer>,
    /// The proxy decision, checked before each request is sent.
    pub proxy: Arc<ProxyRoute>,
}

/// What the engine's own HTTP transport is built from.
pub(crate) struct HttpSettings {
    pub clients: ClientSettings,
    pub chain: ChainSettings,
}

/// One answer's head and its body, from either client.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: BodyStream,
}

/// The client a request goes through.
enum Via<'a> {
    Direct(&'a direct::DirectClient),
    Reqwest(&'a reqwest::Client),
}

/// The largest redirect body read to keep its connection for the next
/// request; a larger one closes the connection instead.
const REDIRECT_BODY_LIMIT: usize = 64 * 1024;

impl HttpTransport {
    /// Wraps two clients: one for whole resources (HTTP/2 where offered),
    /// and one limited to HTTP/1.1 for segments. Neither may decompress
    /// bodies (bytes on disk must be the bytes served) nor set a
    /// whole-request timeout (it would kill large downloads); the engine
    /// applies idle timeouts. Redirects are followed by the transport, up
    /// to `max_redirects`, when the clients do not follow them themselves
    /// (`reqwest::redirect::Policy::none()`); only then do credentials and
    /// cookies stay with their origin.
    pub fn new(
        client: reqwest::Client,
        http1_client: reqwest::Client,
        max_redirects: usize,
    ) -> HttpTransport {
        HttpTransport {
            clients: Arc::new(Clients::given(client, http1_client)),
            chain: Arc::new(ChainSettings {
                max_redirects,
                ..ChainSettings::default()
            }),
        }
    }

    /// The engine's own transport, its clients built from `settings` on
    /// first use. Fails when a root or client certificate is not valid
    /// PEM, or the proxy setting cannot be used.
    pub(crate) fn from_settings(settings: HttpSettings) -> Result<HttpTransport, Error> {
        Ok(HttpTransport {
            clients: Arc::new(Clients::from_settings(settings.clients)?),
            chain: Arc::new(settings.chain),
        })
    }

    /// Opens `request`: follows its redirects, then checks the answer.
    async fn open_inner(&self, request: OpenRequest<'_>) -> Result<Opened, Error> {
        let mut url = request.url.clone();
        let mut method = request.method.clone();
        let mut body = request.body.cloned();
        let mut redirects = 0;
        // A failure after a redirect happened elsewhere than the URL the
        // error is about: the message says where.
        let at_hop = |error: Error, url: &Url, redirects: usize| match redirects {
            0 => error,
            1 => error.context(format!("at {url} (after a redirect)")),
            n => error.context(format!("at {url} (after {n} redirects)")),
        };
        loop {
            let response = self
                .send_hop(&request, &url, &method, body.as_ref())
                .await
                .map_err(|e| at_hop(e, &url, redirects))?;
            let next = hop::redirect(
                &url,
                response.status.as_u16(),
                response.headers.get(header::LOCATION),
                &method,
                self.chain.allow_insecure_redirect,
            )?;
            let Some(next) = next else {
                return self
                    .interpret(&request, url.clone(), response)
                    .map_err(|e| at_hop(e, &url, redirects));
            };
            if redirects >= self.chain.max_redirects {
                return Err(Error::new(
                    ErrorKind::TooManyRedirects(self.chain.max_redirects),
                    None,
                ));
            }
            redirects += 1;
            drain(response).await;
            url = next.url;
            method = next.method;
            if !next.keep_body {
                body = None;
            }
        }
    }

    /// Sends one request of a chain: to `url`, with the headers [`hop`]
    /// gives it, once the proxy setting is known to be usable and the
    /// host's request rate allows.
    async fn send_hop(
        &self,
        request: &OpenRequest<'_>,
        url: &Url,
        method: &Method,
        body: Option<&bytes::Bytes>,
    ) -> Result<Reply, Error> {
        let chain = &self.chain;
        let proxy = if chain.proxy.is_direct() {
            None
        } else {
            chain.proxy.decide(url).map_err(clients::proxy_error)?
        };
        let mut headers = hop::Hop {
            asked: request.url,
            url,
            own: request.headers,
            defaults: &chain.default_headers,
            credentials: &chain.credentials,
            cookies: chain.cookies.as_ref(),
            now: SystemTime::now(),
        }
        .headers()?;
        let kind = match (url.scheme(), request.end) {
            ("http", _) => ClientKind::Plain,
            (_, Some(_)) => ClientKind::TlsHttp1,
            (_, None) => ClientKind::Tls,
        };
        headers.insert(
            header::ACCEPT_ENCODING,
            header::HeaderValue::from_static("identity"),
        );
        for (name, value) in range_headers(request)? {
            headers.insert(name, value);
        }
        // Credentials go in the header hop decided on, never from the URL
        // (a client would send a URL's own to every server of a chain).
        let mut target = url.clone();
        if !target.username().is_empty() || target.password().is_some() {
            let _ = target.set_username("");
            let _ = target.set_password(None);
        }
        // Chosen (and built) before waiting for a turn, so a client that
        // cannot be set up fails at once.
        let direct = match kind {
            ClientKind::Plain if chain.proxy.is_direct() => self.clients.direct(),
            _ => None,
        };
        let client = match direct {
            Some(direct) => Via::Direct(direct),
            None => Via::Reqwest(self.clients.get(kind)?),
        };
        // The turn is held until the answer's head arrives (see
        // `RequestPacer`).
        let _turn = match &chain.pacer {
            Some(pacer) => Some(pacer.turn(url).await),
            None => None,
        };
        let client = match client {
            Via::Direct(direct) => return direct.send(method, &target, headers, body).await,
            Via::Reqwest(client) => client,
        };
        let mut builder = client.request(method.clone(), target).headers(headers);
        if let Some(body) = body {
            builder = builder.body(body.clone());
        }
        let mut response = builder.send().await.map_err(|e| {
            let error = classify::send_error(e);
            match &proxy {
                Some(proxy) => through_proxy(error, proxy, url),
                None => error,
            }
        })?;
        Ok(Reply {
            status: response.status(),
            headers: std::mem::take(response.headers_mut()),
            body: response
                .bytes_stream()
                .map_err(classify::body_error)
                .boxed(),
        })
    }

    /// The answer to `request` from `final_url`, checked.
    fn interpret(
        &self,
        request: &OpenRequest<'_>,
        final_url: Url,
        response: Reply,
    ) -> Result<Opened, Error> {
        let status = response.status;
        let headers = &response.headers;
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
        if headers.contains_key(header::TRANSFER_ENCODING) && content_length.is_some() {
            // RFC 9112 section 6.3: a sender must not send both; one that
            // does is broken or smuggling, and which length is meant
            // cannot be known.
            return Err(Error::new(
                ErrorKind::Protocol(
                    "both Transfer-Encoding and Content-Length: the length is ambiguous".into(),
                ),
                None,
            ));
        }
        // Only chunked framing is undone here: a body in another transfer
        // coding (gzip, compress, deflate) would be saved still encoded,
        // as if it were the resource.
        for value in headers.get_all(header::TRANSFER_ENCODING) {
            let text = String::from_utf8_lossy(value.as_bytes());
            let other = text
                .split(',')
                .map(str::trim)
                .find(|coding| !coding.eq_ignore_ascii_case("chunked"));
            if let Some(coding) = other {
                return Err(Error::new(
                    ErrorKind::Protocol(format!(
                        "the body is sent in the transfer coding `{}`, which parget does not decode",
                        crate::redact::escape_control(coding)
                    )),
                    None,
                ));
            }
        }
        let accepts_ranges = header_str(headers, header::ACCEPT_RANGES).is_some_and(|v| {
            v.split(',')
                .any(|unit| unit.trim().eq_ignore_ascii_case("bytes"))
        });

        let (offset, body_len, total) = if status == StatusCode::PARTIAL_CONTENT {
            let value = header_str(headers, header::CONTENT_RANGE).unwrap_or("");
            let range = parse_content_range(value).ok_or_else(|| {
                // Not ASCII (so `value` is empty): shown as it came, the
                // bytes that are not text escaped.
                let shown = match headers.get(header::CONTENT_RANGE) {
                    Some(raw) if value.is_empty() => {
                        String::from_utf8_lossy(raw.as_bytes()).into_owned()
                    }
                    _ => value.to_owned(),
                };
                let problem = if shown.is_ascii() {
                    content_range_problem(value)
                } else {
                    "it is not ASCII"
                };
                Error::new(
                    ErrorKind::Protocol(format!(
                        "206 with an invalid Content-Range `{shown}`: {problem}"
                    )),
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

        let Reply { headers, body, .. } = response;
        let body = match request.throttle {
            Some(throttle) => throttle.wrap(body),
            None => body,
        };
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
}

/// What is wrong with a `Content-Range` that did not parse.
fn content_range_problem(value: &str) -> &'static str {
    let numbers = value
        .trim()
        .get(6..)
        .and_then(|spec| spec.split_once('/'))
        .and_then(|(range, total)| {
            let (first, last) = range.split_once('-')?;
            Some((
                first.trim().parse::<u64>().ok()?,
                last.trim().parse::<u64>().ok()?,
                total.trim().parse::<u64>().ok(),
            ))
        });
    match numbers {
        Some((first, last, _)) if first > last => "its first byte comes after its last",
        Some((_, last, Some(total))) if last >= total => "its last byte is beyond its total",
        _ => "not of the form `bytes FIRST-LAST/TOTAL`",
    }
}

/// Reads a redirect's small body, so its connection can carry the next
/// request; a large or slow one is dropped with its connection.
async fn drain(mut response: Reply) {
    if header_str(&response.headers, header::CONTENT_LENGTH)
        .and_then(parse_content_length)
        .is_some_and(|n| n > REDIRECT_BODY_LIMIT as u64)
    {
        return;
    }
    let mut read = 0;
    while let Ok(Some(chunk)) = response.body.try_next().await {
        read += chunk.len();
        if read > REDIRECT_BODY_LIMIT {
            return;
        }
    }
}

/// The Range and If-Range headers of `request`, if it asks for a range.
/// `error` of a request that went through `proxy`, said of the proxy
/// where the failure was its: reaching it, its refusal to open a tunnel
/// (reqwest tells no status for it; a refusal is final), or its own TLS
/// certificate when the target is plain `http` (no other TLS was spoken).
fn through_proxy(error: Error, proxy: &crate::proxy::Proxy, url: &Url) -> Error {
    let named = format!("the proxy {} (from {})", proxy.url(), proxy.source);
    match error.kind() {
        ErrorKind::Connect | ErrorKind::ConnectTimeout if error.cause_says("tunnel") => {
            let host = url.host_str().unwrap_or("");
            let port = url.port_or_known_default().unwrap_or(0);
            Error::new(
                ErrorKind::Proxy(format!(
                    "{named} refused to open a tunnel (CONNECT) to {host}:{port}"
                )),
                None,
            )
        }
        ErrorKind::Connect | ErrorKind::ConnectTimeout => error.context(format!("to {named}")),
        ErrorKind::Tls if url.scheme() == "http" => error.context(format!("with {named}")),
        ErrorKind::Tls => error.context(format!("with the server or {named}")),
        _ => error,
    }
}

fn range_headers(
    request: &OpenRequest<'_>,
) -> Result<Vec<(header::HeaderName, header::HeaderValue)>, Error> {
    let mut headers = Vec::new();
    if request.is_range() {
        let range = match request.end {
            Some(end) => format!("bytes={}-{}", request.offset, end.saturating_sub(1)),
            None => format!("bytes={}-", request.offset),
        };
        headers.push((header::RANGE, value(range)?));
        if let Some(if_range) = request.validator.and_then(Validator::if_range) {
            headers.push((header::IF_RANGE, value(if_range.to_owned())?));
        }
    }
    Ok(headers)
}

/// `text` as a header value; a validator a server sent that cannot be
/// sent back is an error (a resume without it would not be validated).
fn value(text: String) -> Result<header::HeaderValue, Error> {
    header::HeaderValue::try_from(text).map_err(|e| {
        Error::new(
            ErrorKind::Protocol("a validator that cannot be sent back as If-Range".into()),
            None,
        )
        .with_source(e)
    })
}

/// A header's value when it is visible ASCII, trimmed.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_problems_are_named() {
        assert_eq!(
            content_range_problem("bytes 9-0/100"),
            "its first byte comes after its last"
        );
        assert_eq!(
            content_range_problem("bytes 0-9/5"),
            "its last byte is beyond its total"
        );
        assert_eq!(
            content_range_problem("items 0-9/100"),
            "not of the form `bytes FIRST-LAST/TOTAL`"
        );
        assert_eq!(
            content_range_problem(""),
            "not of the form `bytes FIRST-LAST/TOTAL`"
        );
    }
}
