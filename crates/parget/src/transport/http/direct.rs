//! The client for plain `http://` URLs that go to their server directly
//! (no proxy): hyper's HTTP/1.1 connections under hyper-util's pool, with
//! no layer between them and the transport.
//!
//! Why not reqwest here: on 2000 files of 4 KiB from nginx, reqwest's own
//! layers (a redirect layer the transport does not use, which still parses
//! every request's URI back into a URL, a second parse for the response's
//! URL, the retry and timeout layers, the default headers merged into
//! each request) were about a fifth of parget's instructions per file
//! (callgrind). What reqwest does that matters here is done by the
//! transport anyway: redirects, credentials and cookies ([`super::hop`]),
//! the idle timeouts (the engine). Everything else (TLS, proxies, HTTP/2,
//! a client the caller built) stays on reqwest.

use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::{BodyDataStream, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use url::Url;

use super::classify;
use super::Reply;
use crate::error::{Error, ErrorKind};

/// How long an idle connection is kept for the next request.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// A pool of plain HTTP/1.1 connections.
pub(crate) struct DirectClient {
    client: Client<HttpConnector, Full<Bytes>>,
    user_agent: HeaderValue,
}

impl DirectClient {
    /// A client that connects within `connect_timeout` and keeps up to
    /// `idle_per_host` idle connections a host, sending `user_agent`
    /// unless a request names its own.
    pub(crate) fn new(
        user_agent: &str,
        connect_timeout: Duration,
        idle_per_host: usize,
    ) -> Result<DirectClient, Error> {
        let user_agent = HeaderValue::from_str(user_agent).map_err(|_| {
            Error::new(
                ErrorKind::InvalidRequest("the user agent is not a valid header value".into()),
                None,
            )
        })?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(connect_timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(idle_per_host)
            .build(connector);
        Ok(DirectClient { client, user_agent })
    }

    /// Sends `method` to `url` (its credentials already removed) with
    /// `headers`, and waits for the answer's head.
    pub(crate) async fn send(
        &self,
        method: &Method,
        url: &Url,
        mut headers: HeaderMap,
        body: Option<&Bytes>,
    ) -> Result<Reply, Error> {
        let uri: Uri = url.as_str().parse().map_err(|_| {
            Error::new(
                ErrorKind::InvalidRequest(format!("`{url}` is not a valid request target")),
                None,
            )
        })?;
        // What reqwest sends by default, so a server sees one parget.
        headers
            .entry(header::USER_AGENT)
            .or_insert_with(|| self.user_agent.clone());
        headers
            .entry(header::ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));
        let request = || {
            let mut request = Request::new(Full::new(body.cloned().unwrap_or_default()));
            *request.method_mut() = method.clone();
            *request.uri_mut() = uri.clone();
            *request.headers_mut() = headers.clone();
            request
        };
        let response = match self.client.request(request()).await {
            // A kept-alive connection the server closed as the request
            // went out (its keep-alive timeout ran out at that moment):
            // a GET or HEAD is sent again at once on a new connection, as
            // curl does, instead of costing one of the user's retries.
            Err(e) if closed_before_answer(&e) && matches!(*method, Method::GET | Method::HEAD) => {
                self.client.request(request()).await
            }
            sent => sent,
        }
        .map_err(classify::hyper_send_error)?;
        let (head, body) = response.into_parts();
        let body = BodyDataStream::new(body).map_err(classify::hyper_body_error);
        Ok(Reply {
            status: head.status,
            headers: head.headers,
            body: Box::pin(body),
        })
    }
}

/// True when the connection closed after the request was written and
/// before any answer came.
fn closed_before_answer(error: &hyper_util::client::legacy::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<hyper::Error>())
        .is_some_and(hyper::Error::is_incomplete_message)
}
