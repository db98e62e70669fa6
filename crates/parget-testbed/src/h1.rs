//! A small hand-written HTTP/1.1 server, so that faults are real wire
//! behaviour (lying lengths, RSTs, stalls) rather than whatever a library
//! allows.

use std::borrow::Cow;
use std::io::Write as _;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use socket2::SockRef;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::handler::{
    reason, ContentLength, Ending, Method, Plan, Request, Shared, WirePart, MAX_REQUEST_BODY,
};
use crate::pacing::{body_bytes, slice_len, Pacer, CHUNK};
use crate::stats::{BodyCounter, StatsCell};

/// Bytes read per syscall while waiting for a request head.
const READ_SIZE: usize = 16 * 1024;
/// Largest request head accepted; beyond it the answer is 431.
const MAX_HEAD: usize = 64 * 1024;
/// Bodies up to this size go out in the same write as the headers.
const INLINE_BODY: u64 = 32 * 1024;
/// How long a closing connection waits for the client's FIN, so unread
/// client bytes do not turn our FIN into an RST.
const LINGER: Duration = Duration::from_secs(2);
/// Time for bytes written just before a reset to reach the client: an RST
/// discards whatever is still queued in our socket.
const RESET_GRACE: Duration = Duration::from_millis(20);

/// A byte stream over TCP, plain or TLS; the TCP socket is needed for RST.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Unpin + Send {
    fn tcp(&self) -> &TcpStream;
}

impl Transport for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Transport for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// The request head, as byte ranges into its text.
struct Head {
    method: Method,
    method_name: Range<usize>,
    target: Range<usize>,
    http10: bool,
    content_length: Option<u64>,
    chunked: bool,
    close: bool,
    keep_alive: bool,
    range: Option<Range<usize>>,
    if_range: Option<Range<usize>>,
    host: Option<Range<usize>>,
    /// Every header line as (name, value), the value trimmed.
    headers: Vec<(Range<usize>, Range<usize>)>,
}

fn span(whole: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    start..start + part.len()
}

fn parse_head(text: &str) -> Result<Head, &'static str> {
    let mut lines = text.split("\r\n");
    let request_line = lines.next().ok_or("empty request")?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed request line");
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err("unsupported HTTP version"),
    };
    // Absolute form (proxy style): keep only the path and query.
    let mut target = target;
    for scheme in ["http://", "https://"] {
        if let Some(rest) = target.strip_prefix(scheme) {
            target = rest.find('/').map_or("/", |i| &rest[i..]);
        }
    }
    if !target.starts_with('/') {
        return Err("request target must be an absolute path");
    }
    let mut head = Head {
        method: Method::parse(method),
        method_name: span(text, method),
        target: span(text, target),
        http10,
        content_length: None,
        chunked: false,
        close: false,
        keep_alive: false,
        range: None,
        if_range: None,
        host: None,
        headers: Vec::new(),
    };
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let (name, value) = line.split_once(':').ok_or("malformed header line")?;
        let value = value.trim();
        head.headers
            .push((span(text, name.trim()), span(text, value)));
        if name.eq_ignore_ascii_case("content-length") {
            let n = value.parse().map_err(|_| "bad Content-Length")?;
            if head.content_length.is_some_and(|m| m != n) {
                return Err("conflicting Content-Length");
            }
            head.content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',') {
                let token = token.trim();
                head.close |= token.eq_ignore_ascii_case("close");
                head.keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("range") {
            head.range = Some(span(text, value));
        } else if name.eq_ignore_ascii_case("if-range") {
            head.if_range = Some(span(text, value));
        } else if name.eq_ignore_ascii_case("host") {
            head.host = Some(span(text, value));
        }
    }
    Ok(head)
}

/// Per-connection buffers, reused across requests.
struct Conn {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Where the search for the end of the head resumes.
    scanned: usize,
    out: Vec<u8>,
    chunk: Vec<u8>,
    pacer: Pacer,
}

enum HeadRead {
    /// The head is `buf[start..start + len]`.
    Ready(usize),
    /// The client went away.
    Eof,
    TooLarge,
}

impl Conn {
    async fn read_head<T: Transport>(&mut self, io: &mut T) -> HeadRead {
        loop {
            let from = self
                .scanned
                .max(self.start)
                .saturating_sub(3)
                .max(self.start);
            if let Some(i) = self.buf[from..self.end]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
            {
                let len = from + i + 4 - self.start;
                self.scanned = self.start + len;
                return HeadRead::Ready(len);
            }
            self.scanned = self.end;
            if self.end - self.start >= MAX_HEAD {
                return HeadRead::TooLarge;
            }
            if self.start > 0 {
                // Keeps pending bytes at the front so the buffer never grows
                // beyond one head plus one read.
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.scanned -= self.start;
                self.start = 0;
            }
            if self.buf.len() < self.end + READ_SIZE {
                self.buf.resize(self.end + READ_SIZE, 0);
            }
            match io.read(&mut self.buf[self.end..]).await {
                Ok(0) | Err(_) => return HeadRead::Eof,
                Ok(n) => self.end += n,
            }
        }
    }

    /// Reads a request body that follows the head; the head stays in place.
    async fn read_body<T: Transport>(&mut self, io: &mut T, len: u64) -> std::io::Result<Vec<u8>> {
        let len = len as usize;
        let buffered = (self.end - self.start).min(len);
        let mut body = Vec::with_capacity(len);
        body.extend_from_slice(&self.buf[self.start..self.start + buffered]);
        self.start += buffered;
        self.scanned = self.start;
        body.resize(len, 0);
        io.read_exact(&mut body[buffered..]).await?;
        Ok(body)
    }
}

/// Serves HTTP/1.x requests on `io` until the client leaves, a response ends
/// the connection, or the task is dropped at shutdown.
pub(crate) async fn serve<T: Transport>(mut io: T, shared: Arc<Shared>) {
    let mut conn = Conn {
        buf: Vec::new(),
        start: 0,
        end: 0,
        scanned: 0,
        out: Vec::with_capacity(1024),
        chunk: Vec::new(),
        pacer: Pacer::default(),
    };
    loop {
        let head_len = match conn.read_head(&mut io).await {
            HeadRead::Ready(len) => len,
            HeadRead::Eof => return,
            HeadRead::TooLarge => {
                let plan = Plan::text(431, "request head too large\n");
                return refuse(&mut io, &mut conn, &shared.stats, plan).await;
            }
        };
        let h0 = conn.start;
        conn.start += head_len;
        let Ok(text) = std::str::from_utf8(&conn.buf[h0..h0 + head_len]) else {
            return refuse(
                &mut io,
                &mut conn,
                &shared.stats,
                Plan::bad_request("head is not UTF-8"),
            )
            .await;
        };
        let head = match parse_head(text) {
            Ok(head) => head,
            Err(why) => {
                return refuse(&mut io, &mut conn, &shared.stats, Plan::bad_request(why)).await
            }
        };
        if head.chunked {
            let plan = Plan::bad_request("chunked request bodies are not supported");
            return refuse(&mut io, &mut conn, &shared.stats, plan).await;
        }
        let body = match head.content_length {
            Some(n) if n > MAX_REQUEST_BODY => {
                let mut plan = Plan::text(413, "request body too large\n");
                plan.close = true;
                return refuse(&mut io, &mut conn, &shared.stats, plan).await;
            }
            Some(n) if n > 0 => match conn.read_body(&mut io, n).await {
                Ok(body) => body,
                Err(_) => return,
            },
            _ => Vec::new(),
        };

        let Conn {
            buf,
            out,
            chunk,
            pacer,
            ..
        } = &mut conn;
        let text = std::str::from_utf8(&buf[h0..h0 + head_len]).unwrap_or_default();
        let part = |r: &Option<Range<usize>>| r.clone().map(|r| &text[r]);
        let target = &text[head.target.clone()];
        let request = Request {
            method: head.method,
            method_name: &text[head.method_name.clone()],
            target,
            range: part(&head.range),
            if_range: part(&head.if_range),
            host: part(&head.host),
            body: &body,
            http2: false,
            headers: head
                .headers
                .iter()
                .map(|(n, v)| (&text[n.clone()], Cow::Borrowed(&text[v.clone()])))
                .collect(),
        };
        let plan = shared.plan(&request);
        let close = plan.close || head.close || (head.http10 && !head.keep_alive);
        let path = target.split_once('?').map_or(target, |(p, _)| p);
        let keep_alive =
            respond(&mut io, out, chunk, pacer, &shared.stats, path, plan, close).await;
        if !keep_alive {
            return;
        }
    }
}

/// Answers a request that could not be parsed, then closes.
async fn refuse<T: Transport>(io: &mut T, conn: &mut Conn, stats: &StatsCell, plan: Plan) {
    let Conn {
        out, chunk, pacer, ..
    } = conn;
    respond(io, out, chunk, pacer, stats, "", plan, true).await;
}

/// Writes one response as planned; returns whether the connection stays
/// open for another request.
#[allow(clippy::too_many_arguments)]
async fn respond<T: Transport>(
    io: &mut T,
    out: &mut Vec<u8>,
    chunk: &mut Vec<u8>,
    pacer: &Pacer,
    stats: &StatsCell,
    path: &str,
    plan: Plan,
    close: bool,
) -> bool {
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    if let Some(parts) = &plan.wire {
        if write_wire(io, chunk, stats, path, parts).await.is_ok() {
            let _ = io.shutdown().await;
            let _ = tokio::time::timeout(LINGER, drain(io)).await;
        }
        return false;
    }
    out.clear();
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nDate: {}\r\nServer: parget-testbed\r\n",
        plan.status,
        reason(plan.status),
        httpdate::fmt_http_date(SystemTime::now())
    );
    for (name, value) in &plan.headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    match &plan.content_length {
        ContentLength::Omit => {}
        ContentLength::Value(n) => {
            let _ = write!(out, "Content-Length: {n}\r\n");
        }
        ContentLength::Literal(s) => {
            let _ = write!(out, "Content-Length: {s}\r\n");
        }
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");

    let total = plan.body.len();
    let limit = plan.send_limit.map_or(total, |l| l.min(total));
    let mut counter = BodyCounter::new(stats, path);
    let written: std::io::Result<()> = async {
        if plan.rate.is_none() && limit <= INLINE_BODY {
            let header_len = out.len();
            out.resize(header_len + limit as usize, 0);
            body_bytes(&plan.body, 0, &mut out[header_len..]);
            io.write_all(out).await?;
            counter.sent = limit;
        } else {
            io.write_all(out).await?;
            let step = slice_len(plan.rate, CHUNK);
            let want = (step as u64).min(limit) as usize;
            if chunk.len() < want {
                chunk.resize(want, 0);
            }
            let mut pos = 0u64;
            while pos < limit {
                let n = (limit - pos).min(step as u64) as usize;
                body_bytes(&plan.body, pos, &mut chunk[..n]);
                if let Some(rate) = plan.rate {
                    tokio::time::sleep_until(pacer.reserve(n, rate)).await;
                }
                io.write_all(&chunk[..n]).await?;
                pos += n as u64;
                counter.sent = pos;
            }
        }
        io.flush().await
    }
    .await;
    drop(counter);
    if written.is_err() {
        return false;
    }
    match plan.ending {
        Ending::KeepAlive if !close => true,
        Ending::KeepAlive | Ending::Close => {
            let _ = io.shutdown().await;
            let _ = tokio::time::timeout(LINGER, drain(io)).await;
            false
        }
        Ending::Reset => {
            if limit > 0 {
                tokio::time::sleep(RESET_GRACE).await;
            }
            // Linger 0 makes the close that follows (when `io` is dropped)
            // send an RST instead of a FIN.
            let _ = SockRef::from(io.tcp()).set_linger(Some(Duration::ZERO));
            false
        }
        Ending::Stall => {
            drain(io).await;
            false
        }
    }
}

/// Writes a raw (`hostile`) response part by part; body parts are counted
/// in the stats as body bytes.
async fn write_wire<T: Transport>(
    io: &mut T,
    chunk: &mut Vec<u8>,
    stats: &StatsCell,
    path: &str,
    parts: &[WirePart],
) -> std::io::Result<()> {
    let mut counter = BodyCounter::new(stats, path);
    for part in parts {
        match part {
            WirePart::Bytes(bytes) => io.write_all(bytes).await?,
            WirePart::Body(body) => {
                let len = body.len();
                let mut pos = 0u64;
                while pos < len {
                    let n = (len - pos).min(CHUNK as u64) as usize;
                    if chunk.len() < n {
                        chunk.resize(n, 0);
                    }
                    body_bytes(body, pos, &mut chunk[..n]);
                    io.write_all(&chunk[..n]).await?;
                    pos += n as u64;
                    counter.sent += n as u64;
                }
            }
        }
    }
    io.flush().await
}

/// Reads and discards until the client closes.
async fn drain<T: Transport>(io: &mut T) {
    let mut sink = [0u8; 4096];
    while let Ok(n) = io.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_head() {
        let text = "GET http://x/a?b=1 HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\nConnection: Keep-Alive, close\r\n\r\n";
        let head = parse_head(text).unwrap();
        assert_eq!(&text[head.target.clone()], "/a?b=1");
        assert_eq!(&text[head.range.clone().unwrap()], "bytes=0-1");
        assert_eq!(&text[head.host.clone().unwrap()], "x");
        assert_eq!(&text[head.method_name.clone()], "GET");
        let headers: Vec<(&str, &str)> = head
            .headers
            .iter()
            .map(|(n, v)| (&text[n.clone()], &text[v.clone()]))
            .collect();
        assert_eq!(
            headers,
            [
                ("Host", "x"),
                ("Range", "bytes=0-1"),
                ("Connection", "Keep-Alive, close")
            ]
        );
        assert!(head.close && head.keep_alive && !head.http10);
        assert!(parse_head("GET / HTTP/2\r\n\r\n").is_err());
        assert!(parse_head("GET /\r\n\r\n").is_err());
        assert!(parse_head("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(parse_head("GET / HTTP/1.1\r\nnocolon\r\n\r\n").is_err());
    }
}
