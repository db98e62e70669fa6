//! HTTP/2 (over TLS with ALPN h2) through hyper, driven by the same
//! [`Plan`]s as HTTP/1. Wire-level faults are approximated per stream.

use std::borrow::Cow;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

use crate::handler::{
    Body, ContentLength, Ending, Method, Plan, Request, Shared, MAX_REQUEST_BODY,
};
use crate::pacing::{body_bytes, slice_len, Pacer};
use crate::stats::BodyCounter;

/// Frames are produced in slices this big; smaller than h1's writes because
/// each one is a separate allocation handed to hyper.
const H2_CHUNK: usize = 64 * 1024;
/// Time for the bytes before a `reset_after` reset to be flushed.
const RESET_GRACE: std::time::Duration = std::time::Duration::from_millis(20);

/// A response body: nothing, one buffer, or slices from a producer task.
pub(crate) enum H2Body {
    Empty,
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<io::Result<Bytes>>),
}

impl hyper::body::Body for H2Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            H2Body::Empty => Poll::Ready(None),
            H2Body::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            H2Body::Stream(rx) => rx
                .poll_recv(cx)
                .map(|item| item.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            H2Body::Empty => true,
            H2Body::Full(data) => data.is_none(),
            H2Body::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            H2Body::Empty => SizeHint::with_exact(0),
            H2Body::Full(data) => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
            H2Body::Stream(_) => SizeHint::default(),
        }
    }
}

/// Serves HTTP/2 on an established TLS connection.
pub(crate) async fn serve(io: TlsStream<TcpStream>, shared: Arc<Shared>) {
    // One pacer per connection: a rate cap limits all its streams together.
    let pacer = Arc::new(Pacer::default());
    let service = service_fn(move |req| handle(Arc::clone(&shared), Arc::clone(&pacer), req));
    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), service)
        .await;
}

async fn handle(
    shared: Arc<Shared>,
    pacer: Arc<Pacer>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<H2Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BODY as usize)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(text_response(Plan::text(413, "request body too large\n"))),
    };
    let header =
        |name: hyper::header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let authority = parts.uri.authority().map(|a| a.as_str());
    let method = Method::parse(parts.method.as_str());
    // `:authority` stands in for `Host`, so the log looks the same for both
    // protocols.
    let mut headers: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(parts.headers.len() + 1);
    if let Some(authority) = authority {
        if !parts.headers.contains_key(hyper::header::HOST) {
            headers.push(("host", Cow::Borrowed(authority)));
        }
    }
    headers.extend(
        parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), String::from_utf8_lossy(v.as_bytes()))),
    );
    let request = Request {
        method,
        method_name: parts.method.as_str(),
        target,
        range: header(hyper::header::RANGE),
        if_range: header(hyper::header::IF_RANGE),
        host: authority.or(header(hyper::header::HOST)),
        body: &body,
        http2: true,
        headers,
    };
    let mut plan = shared.plan(&request);
    if plan.wire.is_some() {
        // Broken HTTP/1.1 framing has no HTTP/2 equivalent.
        return Ok(text_response(Plan::text(
            501,
            "this hostile kind is HTTP/1.1 only\n",
        )));
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p).to_owned();
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    // A lying or unparsable Content-Length cannot be expressed in h2 (hyper
    // and the client's h2 layer police it), so h2 sends the true length.
    let lying = match &plan.content_length {
        ContentLength::Literal(_) => true,
        ContentLength::Value(n) => method != Method::Head && *n != plan.body.len(),
        ContentLength::Omit => false,
    };
    if lying {
        plan.content_length = ContentLength::Value(plan.body.len());
        if plan.ending == Ending::Close {
            plan.ending = Ending::KeepAlive;
        }
    }

    let total = plan.body.len();
    let limit = plan.send_limit.map_or(total, |l| l.min(total));
    let body = match (&plan.body, plan.rate, plan.ending) {
        (Body::Empty, _, Ending::KeepAlive | Ending::Close) => H2Body::Empty,
        (Body::Static(bytes), None, Ending::KeepAlive | Ending::Close) => {
            BodyCounter::new(&shared.stats, &path).sent = total;
            H2Body::Full(Some(bytes.clone()))
        }
        _ => {
            let (tx, rx) = mpsc::channel(4);
            let (body, rate, ending) = (plan.body.clone(), plan.rate, plan.ending);
            let stats = Arc::clone(&shared.stats);
            tokio::spawn(async move {
                let mut counter = BodyCounter::new(&stats, &path);
                let step = slice_len(rate, H2_CHUNK);
                let mut pos = 0u64;
                while pos < limit {
                    let n = (limit - pos).min(step as u64) as usize;
                    let mut slice = vec![0u8; n];
                    body_bytes(&body, pos, &mut slice);
                    if let Some(rate) = rate {
                        tokio::time::sleep_until(pacer.reserve(n, rate)).await;
                    }
                    if tx.send(Ok(Bytes::from(slice))).await.is_err() {
                        return;
                    }
                    pos += n as u64;
                    counter.sent = pos;
                }
                match ending {
                    // An error from the body makes hyper reset the stream.
                    Ending::Reset => {
                        // hyper drops queued DATA when it resets the stream;
                        // give the sent bytes time to leave first.
                        if limit > 0 {
                            tokio::time::sleep(RESET_GRACE).await;
                        }
                        let _ = tx
                            .send(Err(io::Error::new(
                                io::ErrorKind::ConnectionReset,
                                "reset_after",
                            )))
                            .await;
                    }
                    // Holds the stream open until the client cancels it or
                    // the connection goes away.
                    Ending::Stall => tx.closed().await,
                    Ending::KeepAlive | Ending::Close => {}
                }
            });
            H2Body::Stream(rx)
        }
    };
    Ok(response(plan, body))
}

/// A short answer built here (not by [`Shared::plan`]), sent at once.
fn text_response(plan: Plan) -> hyper::Response<H2Body> {
    let body = match &plan.body {
        Body::Static(bytes) => H2Body::Full(Some(bytes.clone())),
        _ => H2Body::Empty,
    };
    response(plan, body)
}

fn response(plan: Plan, body: H2Body) -> hyper::Response<H2Body> {
    let mut response = hyper::Response::new(body);
    *response.status_mut() = hyper::StatusCode::from_u16(plan.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in &plan.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    if let ContentLength::Value(n) = plan.content_length {
        headers.insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    headers.insert(
        hyper::header::SERVER,
        HeaderValue::from_static("parget-testbed"),
    );
    response
}
