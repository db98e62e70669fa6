//! The one place that decides what a request gets: status, headers, body and
//! how the response misbehaves. The HTTP/1 and HTTP/2 writers only carry out
//! the [`Plan`].

// `Err(Plan)` carries an early answer (a 400, a simulated failure); it is
// built once per request at most, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::config::ServerConfig;
use crate::content::{mix64, path_seed, versioned_path};
use crate::gate::{Checks, Refusal};
use crate::hostile::{self, Hostile};
use crate::ratelimit::RateWindows;
use crate::record::{RecordedRequest, RequestLog};
use crate::stats::StatsCell;

/// `Last-Modified` of every content resource; fixed so validators are stable
/// across server restarts.
pub const LAST_MODIFIED: &str = "Sun, 09 Sep 2001 01:46:40 GMT";

/// Size of a content resource when the query has no `size`.
pub const DEFAULT_SIZE: u64 = 1024;

/// Most endpoints one page of the listing API returns.
pub const LISTING_MAX_PER_PAGE: u64 = 5;

/// Largest request body accepted (only the listing API reads bodies).
pub(crate) const MAX_REQUEST_BODY: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Head,
    Post,
    Other,
}

impl Method {
    pub(crate) fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            _ => Method::Other,
        }
    }
}

/// The parts of a request the handler looks at, borrowed from whichever
/// protocol parsed it.
pub(crate) struct Request<'a> {
    pub(crate) method: Method,
    /// The method as sent, for the request log.
    pub(crate) method_name: &'a str,
    /// Origin form: `/path?query`.
    pub(crate) target: &'a str,
    pub(crate) range: Option<&'a str>,
    pub(crate) if_range: Option<&'a str>,
    pub(crate) host: Option<&'a str>,
    pub(crate) body: &'a [u8],
    pub(crate) http2: bool,
    /// Every header in the order received (HTTP/2: `:authority` as `host`).
    pub(crate) headers: Vec<(&'a str, Cow<'a, str>)>,
}

/// Where the body bytes come from.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Empty,
    Static(Bytes),
    /// `len` bytes of the resource with `seed`, from `offset`.
    Content {
        seed: u64,
        offset: u64,
        len: u64,
        /// Sorted resource offsets whose byte is flipped (`corrupt`).
        corrupt: Option<Arc<[u64]>>,
    },
}

/// A piece of a raw response (`hostile`), written as is.
#[derive(Debug, Clone)]
pub(crate) enum WirePart {
    /// Head lines, chunk framing: counted as headers, not body.
    Bytes(Bytes),
    /// Resource bytes, counted as body.
    Body(Body),
}

impl Body {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Static(b) => b.len() as u64,
            Body::Content { len, .. } => *len,
        }
    }
}

/// The `Content-Length` header to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ContentLength {
    /// No header, for statuses that cannot have a body.
    Omit,
    Value(u64),
    /// Sent verbatim, whatever it says (h1 only).
    Literal(String),
}

/// What happens on the connection once the (possibly cut) body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Ready for the next request (unless the client asked to close).
    KeepAlive,
    /// Orderly close (FIN) without announcing it in the headers.
    Close,
    /// Abortive close: RST.
    Reset,
    /// Keep the connection open and send nothing more.
    Stall,
}

#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) content_length: ContentLength,
    /// Already empty for HEAD.
    pub(crate) body: Body,
    /// Send at most this many body bytes, then carry out `ending`.
    pub(crate) send_limit: Option<u64>,
    pub(crate) ending: Ending,
    pub(crate) delay: Duration,
    /// Body bytes per second for this response, `None` = unlimited.
    pub(crate) rate: Option<u64>,
    /// Announce `Connection: close` and close after the response (h1).
    pub(crate) close: bool,
    /// `hostile`: these bytes replace the whole response (HTTP/1 only); the
    /// connection closes after them.
    pub(crate) wire: Option<Vec<WirePart>>,
}

impl Plan {
    fn new(status: u16) -> Plan {
        Plan {
            status,
            headers: Vec::new(),
            content_length: ContentLength::Value(0),
            body: Body::Empty,
            send_limit: None,
            ending: Ending::KeepAlive,
            delay: Duration::ZERO,
            rate: None,
            close: false,
            wire: None,
        }
    }

    /// A short `text/plain` answer.
    pub(crate) fn text(status: u16, text: impl Into<String>) -> Plan {
        let mut plan = Plan::new(status);
        let body = Bytes::from(text.into());
        plan.headers
            .push(("Content-Type", "text/plain; charset=utf-8".into()));
        plan.content_length = ContentLength::Value(body.len() as u64);
        plan.body = Body::Static(body);
        plan
    }

    /// A 400 that closes the connection, for requests that cannot be trusted
    /// to be framed right.
    pub(crate) fn bad_request(why: &str) -> Plan {
        let mut plan = Plan::text(400, format!("bad request: {why}\n"));
        plan.close = true;
        plan
    }

    fn json(status: u16, value: &serde_json::Value) -> Plan {
        let mut plan = Plan::text(status, value.to_string());
        plan.headers[0].1 = "application/json".into();
        plan
    }

    fn html(status: u16) -> Plan {
        let reason = reason(status);
        let mut plan = Plan::text(
            status,
            format!(
                "<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>\
                 <body><h1>{status} {reason}</h1><p>parget-testbed error page</p></body></html>\n"
            ),
        );
        plan.headers[0].1 = "text/html; charset=utf-8".into();
        if !status_allows_body(status) {
            plan.body = Body::Empty;
            plan.content_length = ContentLength::Omit;
        }
        plan
    }

    fn without_body(mut self) -> Plan {
        self.body = Body::Empty;
        self
    }
}

/// 204 and 304 have no body by definition (1xx are refused earlier).
fn status_allows_body(status: u16) -> bool {
    !matches!(status, 204 | 304)
}

/// The reason phrase of the status line.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

/// Decodes `%XX` escapes (and `+` as space in forms); malformed escapes are
/// kept as they are rather than rejected, since hostile input is expected.
pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> Cow<'_, str> {
    if !(s.contains('%') || plus_is_space && s.contains('+')) {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Parsed `key=value` pairs; the first occurrence of a key wins.
pub(crate) struct Params<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Params<'a> {
    pub(crate) fn parse(s: &'a str, plus_is_space: bool) -> Params<'a> {
        let pairs = s
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (
                    percent_decode(k, plus_is_space),
                    percent_decode(v, plus_is_space),
                )
            })
            .collect();
        Params { pairs }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// Every value of `key`, in order, for parameters that may repeat.
    fn all<'s>(&'s self, key: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn num<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, Plan> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| Plan::text(400, format!("bad query parameter {key}={v}\n"))),
        }
    }

    /// A count where `all` means forever.
    fn count(&self, key: &str, default: u64) -> Result<u64, Plan> {
        match self.get(key) {
            Some("all") => Ok(u64::MAX),
            _ => Ok(self.num(key)?.unwrap_or(default)),
        }
    }

    fn flag(&self, key: &str) -> Option<bool> {
        self.get(key)
            .map(|v| !matches!(v, "0" | "false" | "no" | "off"))
    }

    /// A status code usable in a response line: 1xx would break framing.
    fn status(&self, key: &str) -> Result<Option<u16>, Plan> {
        match self.num::<u16>(key)? {
            Some(code) if !(200..=599).contains(&code) => Err(Plan::text(
                400,
                format!("{key} must be a status in 200..=599, got {code}\n"),
            )),
            other => Ok(other),
        }
    }
}

/// The outcome of a `Range` header against a resource of known size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeOutcome {
    /// Serve the whole resource: no range, a syntax we ignore, or several
    /// ranges (we never send multipart/byteranges).
    Full,
    /// Inclusive first and last byte.
    Partial(u64, u64),
    Unsatisfiable,
}

pub(crate) fn parse_range(header: &str, size: u64) -> RangeOutcome {
    let header = header.trim();
    let Some((unit, spec)) = header.split_once('=') else {
        return RangeOutcome::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return RangeOutcome::Full;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeOutcome::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if first.is_empty() {
        if !digits(last) {
            return RangeOutcome::Full;
        }
        // Too many digits only means "more than the whole resource".
        let n = last.parse::<u64>().unwrap_or(u64::MAX);
        if n == 0 || size == 0 {
            return RangeOutcome::Unsatisfiable;
        }
        return RangeOutcome::Partial(size.saturating_sub(n), size - 1);
    }
    if !digits(first) || !(last.is_empty() || digits(last)) {
        return RangeOutcome::Full;
    }
    let start = first.parse::<u64>().unwrap_or(u64::MAX);
    let end = if last.is_empty() {
        u64::MAX
    } else {
        last.parse::<u64>().unwrap_or(u64::MAX)
    };
    if end < start {
        return RangeOutcome::Full;
    }
    if start >= size {
        return RangeOutcome::Unsatisfiable;
    }
    RangeOutcome::Partial(start, end.min(size - 1))
}

/// Whether an `If-Range` value still designates the representation we have.
fn if_range_matches(value: &str, etag: &str) -> bool {
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        // If-Range requires a strong comparison: weak tags never match.
        return !value.starts_with("W/") && !etag.starts_with("W/") && value == etag;
    }
    match (
        httpdate::parse_http_date(value),
        httpdate::parse_http_date(LAST_MODIFIED),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The paginated listing: endpoint names are hashes of the index, so a
/// client cannot guess them and must walk the pages.
pub(crate) struct Listing {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Listing {
    fn new(n: usize) -> Listing {
        let names: Vec<String> = (0..n as u64)
            .map(|i| format!("/endpoint/{:016x}", mix64(i ^ 0x6C15_7F11_E500_0000)))
            .collect();
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Listing { names, index }
    }

    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }
}

/// State shared by all connections of one server.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) stats: Arc<StatsCell>,
    pub(crate) tls: bool,
    pub(crate) addr: SocketAddr,
    pub(crate) listing: Listing,
    /// Requests seen per `path?query` for `fail` (all methods).
    fail_hits: Mutex<HashMap<String, u64>>,
    /// GET requests seen per `path?query` for the body faults.
    fault_hits: Mutex<HashMap<String, u64>>,
    /// The newest requests, for [`crate::TestServer::requests`].
    pub(crate) requests: RequestLog,
    /// Served requests per path in the last second, for `rps`.
    rate_windows: RateWindows,
}

/// The count of `map[key]` without taking a number.
fn peek_hit(map: &Mutex<HashMap<String, u64>>, key: &str) -> u64 {
    let map = map.lock().unwrap_or_else(|e| e.into_inner());
    map.get(key).copied().unwrap_or(0)
}

/// Parses `corrupt=OFFSET[,OFFSET...]` into sorted, distinct offsets.
fn corrupt_offsets(list: &str) -> Result<Arc<[u64]>, Plan> {
    let mut offsets = list
        .split(',')
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| Plan::text(400, format!("bad offset {s:?} in corrupt={list}\n")))
        })
        .collect::<Result<Vec<u64>, Plan>>()?;
    offsets.sort_unstable();
    offsets.dedup();
    Ok(offsets.into())
}

/// Takes the next 0-based request number for `key`.
fn next_hit(map: &Mutex<HashMap<String, u64>>, key: &str) -> u64 {
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    let slot = match map.get_mut(key) {
        Some(slot) => slot,
        None => map.entry(key.to_owned()).or_insert(0),
    };
    let n = *slot;
    *slot += 1;
    n
}

/// Query parameters that make a GET misbehave (they consume `fault_count`).
/// `range_change=KIND`: how a server that ignores `If-Range` labels the
/// 206 it serves from a changed resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RangeChange {
    /// The changed resource's own ETag.
    Version,
    /// No ETag on any answer; the 206 carries a later Last-Modified.
    Date,
    /// The unchanged ETag, made weak.
    Weak,
    /// Neither ETag nor Last-Modified.
    None,
}

/// The Last-Modified date of `range_change=date`'s changed resource.
const CHANGED_LAST_MODIFIED: &str = "Mon, 10 Sep 2001 01:46:40 GMT";

impl RangeChange {
    fn parse(kind: &str) -> Option<RangeChange> {
        Some(match kind {
            "version" => RangeChange::Version,
            "date" => RangeChange::Date,
            "weak" => RangeChange::Weak,
            "none" => RangeChange::None,
            _ => return None,
        })
    }

    /// Rewrites a 206's validators; `changed_etag` is the changed
    /// resource's strong ETag.
    fn relabel(self, headers: &mut Vec<(&'static str, String)>, changed_etag: &str) {
        for (name, value) in headers.iter_mut() {
            match (self, *name) {
                (RangeChange::Version, "ETag") => *value = changed_etag.to_owned(),
                (RangeChange::Weak, "ETag") if !value.starts_with("W/") => {
                    *value = format!("W/{value}");
                }
                (RangeChange::Date, "Last-Modified") => *value = CHANGED_LAST_MODIFIED.to_owned(),
                _ => {}
            }
        }
        if self == RangeChange::None {
            headers.retain(|(name, _)| !matches!(*name, "ETag" | "Last-Modified"));
        }
    }
}

const FAULT_PARAMS: &[&str] = &[
    "reset_after",
    "truncate_after",
    "stall_after",
    "content_length",
    "extra_length",
    "range_offset",
    "range_ignore",
];

impl Shared {
    pub(crate) fn new(config: ServerConfig, addr: SocketAddr, tls: bool) -> Shared {
        let listing = Listing::new(config.listing_files);
        Shared {
            stats: Arc::new(StatsCell::default()),
            tls,
            addr,
            listing,
            fail_hits: Mutex::new(HashMap::new()),
            fault_hits: Mutex::new(HashMap::new()),
            requests: RequestLog::new(config.record_requests),
            rate_windows: RateWindows::default(),
            config,
        }
    }

    /// Zeroes the counters and forgets the recorded requests.
    pub(crate) fn reset_stats(&self) {
        self.stats.reset();
        self.requests.clear();
    }

    /// Forgets how many times each faulty URL was requested, so faults fire
    /// again.
    pub(crate) fn reset_fault_counters(&self) {
        self.fail_hits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.fault_hits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.rate_windows.clear();
    }

    /// Decides the response to `req` and records it in the stats.
    pub(crate) fn plan(&self, req: &Request<'_>) -> Plan {
        if self.requests.enabled() {
            self.requests.push(RecordedRequest {
                method: req.method_name.to_owned(),
                target: req.target.to_owned(),
                headers: req
                    .headers
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), v.clone().into_owned()))
                    .collect(),
                http2: req.http2,
            });
        }
        let (path, query) = req.target.split_once('?').unwrap_or((req.target, ""));
        if !path.starts_with('/') {
            return Plan::bad_request("request target must be an absolute path");
        }
        self.stats.request(
            path,
            req.http2,
            req.method == Method::Head,
            req.range.is_some(),
        );
        let params = Params::parse(query, false);
        let mut plan = match self.decide(req, path, &params) {
            Ok(plan) | Err(plan) => plan,
        };
        if req.method == Method::Head {
            plan = plan.without_body();
        }
        plan.delay += match params.num::<u64>("latency_ms") {
            Ok(Some(ms)) => Duration::from_millis(ms),
            _ => self.config.latency,
        };
        let rate = params
            .num::<u64>("rate")
            .ok()
            .flatten()
            .or(params.num::<u64>("trickle").ok().flatten())
            .or(self.config.rate_per_connection);
        plan.rate = rate.filter(|&r| r > 0);
        plan
    }

    /// `Err` carries an early answer (an error or a simulated failure).
    fn decide(&self, req: &Request<'_>, path: &str, params: &Params<'_>) -> Result<Plan, Plan> {
        if path == "/api" || path.starts_with("/api/") {
            return self.api(req, path);
        }
        if let Some(&i) = self.listing.index.get(path) {
            let mut plan = Plan::text(200, format!("{} of {}", i + 1, self.listing.names.len()));
            plan.delay = self.config.listing_lag;
            return Ok(plan);
        }
        if path.starts_with("/endpoint/") {
            let mut plan = Plan::text(404, "no such endpoint\n");
            plan.delay = self.config.listing_lag;
            return Ok(plan);
        }
        if !matches!(req.method, Method::Get | Method::Head) {
            let mut plan = Plan::text(405, "content paths answer GET and HEAD only\n");
            plan.headers.push(("Allow", "GET, HEAD".into()));
            return Ok(plan);
        }

        if let Some(limit) = params.num::<u64>("rps")?.filter(|&n| n > 0) {
            if !self
                .rate_windows
                .admit(path, limit, tokio::time::Instant::now())
            {
                let mut plan = Plan::text(429, format!("more than {limit} requests per second\n"));
                plan.headers.push(("Retry-After", "1".into()));
                return Ok(plan);
            }
        }

        let checks = Checks {
            basic: params.get("auth"),
            bearer: params.get("bearer"),
            headers: params.all("require_header").collect(),
            cookies: params.all("cookie").collect(),
        };
        match checks.check(&req.headers) {
            Ok(()) => {}
            Err(Refusal::Unauthorized(challenges)) => {
                let mut plan = Plan::text(401, "credentials required\n");
                for challenge in challenges {
                    plan.headers.push(("WWW-Authenticate", challenge));
                }
                return Ok(plan);
            }
            Err(Refusal::Forbidden(why)) => return Ok(Plan::text(403, why + "\n")),
        }

        if let Some(code) = params.status("fail")? {
            let fail_count = params.count("fail_count", 1)?;
            if next_hit(&self.fail_hits, req.target) < fail_count {
                let mut plan = Plan::text(code, format!("simulated failure {code}\n"));
                if let Some(spec) = params.get("retry_after") {
                    plan.headers.push(("Retry-After", spec.to_owned()));
                }
                return Ok(plan);
            }
        }

        let redirect_status = params.num::<u16>("redirect_status")?.unwrap_or(302);
        if let Some(to) = params.get("redirect_to") {
            let location = if to.starts_with('/') {
                format!("{}{}", self.origin(req), to)
            } else {
                to.to_owned()
            };
            return Ok(self.redirect(redirect_status, location));
        }
        if let Some(n) = params.num::<u64>("redirect")? {
            if n > 0 {
                let (_, raw_query) = req.target.split_once('?').unwrap_or_default();
                let query: Vec<String> = raw_query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some(("redirect", _)) => format!("redirect={}", n - 1),
                        _ => pair.to_owned(),
                    })
                    .collect();
                let location = format!("{}{}?{}", self.origin(req), path, query.join("&"));
                return Ok(self.redirect(redirect_status, location));
            }
        }

        if let Some(code) = params.status("status")? {
            return Ok(Plan::html(code));
        }

        self.content(req, path, params)
    }

    fn origin(&self, req: &Request<'_>) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        match req.host {
            Some(host) if !host.is_empty() => format!("{scheme}://{host}"),
            _ => format!("{scheme}://{}", self.addr),
        }
    }

    fn redirect(&self, status: u16, location: String) -> Plan {
        let mut plan = Plan::text(status, format!("redirecting to {location}\n"));
        plan.headers.push(("Location", location));
        plan
    }

    fn content(&self, req: &Request<'_>, path: &str, params: &Params<'_>) -> Result<Plan, Plan> {
        let size = params.num::<u64>("size")?.unwrap_or(DEFAULT_SIZE);
        let seed = match params.get("version") {
            Some(v) => path_seed(&versioned_path(path, v)),
            None => path_seed(path),
        };
        let etag = match params.get("etag") {
            Some(tag) if tag.starts_with('"') || tag.starts_with("W/") => tag.to_owned(),
            Some(tag) => format!("\"{tag}\""),
            None => format!("\"{seed:016x}-{size:x}\""),
        };
        let ranges = params.flag("ranges").unwrap_or(self.config.ranges);

        let hostile = match params.get("hostile") {
            None => None,
            Some(name) => Some(Hostile::parse(name).ok_or_else(|| {
                let known: Vec<&str> = Hostile::ALL.iter().map(|(_, n)| *n).collect();
                Plan::text(
                    400,
                    format!("unknown hostile={name}; known: {}\n", known.join(", ")),
                )
            })?),
        };
        let corrupt = params.get("corrupt").map(corrupt_offsets).transpose()?;

        // The body faults hit the first `fault_count` GETs (default 1);
        // `hostile` and `corrupt` hit every request unless `fault_count` is
        // given. Only GETs use up the count, so that a HEAD probe does not
        // spend a fault; a HEAD sees `hostile` while GETs still would.
        let classic = FAULT_PARAMS.iter().any(|p| params.has(p));
        let explicit_count = params.has("fault_count");
        let in_count = if classic || explicit_count && (hostile.is_some() || corrupt.is_some()) {
            let count = params.count("fault_count", 1)?;
            let seen = if req.method == Method::Get {
                next_hit(&self.fault_hits, req.target)
            } else {
                peek_hit(&self.fault_hits, req.target)
            };
            seen < count
        } else {
            true
        };
        let faulty = req.method == Method::Get && classic && in_count;
        let hostile = hostile.filter(|_| !explicit_count || in_count);
        let corrupt = corrupt.filter(|_| !explicit_count || in_count);

        match hostile {
            Some(Hostile::BadLocation) => {
                return Ok(self.redirect(302, hostile::BAD_LOCATION.to_owned()))
            }
            Some(kind) if !kind.is_header_value() => {
                let body = Body::Content {
                    seed,
                    offset: 0,
                    len: size,
                    corrupt,
                };
                let head_only = req.method == Method::Head;
                let mut plan = Plan::new(200);
                plan.wire = Some(hostile::wire(kind, &body, &self.origin(req), head_only));
                plan.ending = Ending::Close;
                plan.close = true;
                return Ok(plan);
            }
            _ => {}
        }

        let range_change = params
            .get("range_change")
            .map(|kind| {
                RangeChange::parse(kind).ok_or_else(|| {
                    Plan::text(
                        400,
                        format!("unknown range_change={kind}; known: version, date, weak, none\n"),
                    )
                })
            })
            .transpose()?;

        let mut plan = Plan::new(200);
        plan.headers
            .push(("Content-Type", "application/octet-stream".into()));
        // `range_change=date`: validated by its date alone.
        if range_change != Some(RangeChange::Date) {
            plan.headers.push(("ETag", etag.clone()));
        }
        plan.headers.push(("Last-Modified", LAST_MODIFIED.into()));
        // `accept_ranges=0`: Range is honoured but not advertised, as some
        // servers do, so clients must probe for it.
        if ranges && params.flag("accept_ranges") != Some(false) {
            plan.headers.push(("Accept-Ranges", "bytes".into()));
        }
        if let Some(disposition) = params.get("disposition") {
            plan.headers
                .push(("Content-Disposition", disposition.to_owned()));
        }

        // `range_status=CODE`: every Range request is refused with CODE
        // (a 416 says the resource has `size` bytes, as one would).
        if let (true, Some(_), Some(code)) = (ranges, req.range, params.status("range_status")?) {
            let mut plan = Plan::text(code, format!("range refused with {code}\n"));
            if code == 416 {
                plan.headers
                    .push(("Content-Range", format!("bytes */{size}")));
            }
            return Ok(plan);
        }

        let mut outcome = RangeOutcome::Full;
        if let (true, Some(range)) = (ranges, req.range) {
            let current = req.if_range.is_none_or(|v| if_range_matches(v, &etag));
            if current {
                outcome = parse_range(range, size);
            }
        }
        if faulty && params.flag("range_ignore") == Some(true) {
            outcome = RangeOutcome::Full;
        }
        // `range_change`: If-Range is ignored, so every Range request is
        // answered from the changed resource.
        let mut seed = seed;
        if let (true, Some(change), Some(range)) = (ranges, range_change, req.range) {
            outcome = parse_range(range, size);
            if matches!(outcome, RangeOutcome::Partial(..)) {
                seed = path_seed(&versioned_path(path, "range-changed"));
                change.relabel(&mut plan.headers, &format!("\"{seed:016x}-{size:x}\""));
            }
        }
        // The range kinds answer 206 even to a request without Range.
        let bad_range = hostile.filter(|k| k.is_header_value());
        if bad_range.is_some() && outcome == RangeOutcome::Full && size > 0 {
            outcome = RangeOutcome::Partial(0, size - 1);
        }
        let (offset, len) = match outcome {
            RangeOutcome::Full => (0, size),
            RangeOutcome::Unsatisfiable => {
                let mut plan = Plan::text(416, format!("range not satisfiable for {size} bytes\n"));
                plan.headers
                    .push(("Content-Range", format!("bytes */{size}")));
                return Ok(plan);
            }
            RangeOutcome::Partial(first, last) => {
                let len = last - first + 1;
                let mut first = first;
                if faulty {
                    if let Some(shift) = params.num::<i64>("range_offset")? {
                        first = shifted_start(first, len, size, shift);
                    }
                }
                plan.status = 206;
                let last = first + len - 1;
                let range = bad_range
                    .and_then(|kind| hostile::content_range(kind, first, last, size))
                    .unwrap_or_else(|| format!("bytes {first}-{last}/{size}"));
                plan.headers.push(("Content-Range", range));
                (first, len)
            }
        };
        plan.body = Body::Content {
            seed,
            offset,
            len,
            corrupt,
        };
        plan.content_length = ContentLength::Value(len);

        if faulty {
            if let Some(literal) = params.get("content_length") {
                plan.content_length = ContentLength::Literal(literal.to_owned());
                plan.ending = Ending::Close;
            }
            if let Some(extra) = params.num::<u64>("extra_length")? {
                plan.content_length = ContentLength::Value(len.saturating_add(extra));
                plan.ending = Ending::Close;
            }
            let cut = [
                ("reset_after", Ending::Reset),
                ("truncate_after", Ending::Close),
                ("stall_after", Ending::Stall),
            ];
            for (key, ending) in cut {
                if let Some(n) = params.num::<u64>(key)? {
                    plan.send_limit = Some(n.min(len));
                    plan.ending = ending;
                    break;
                }
            }
        }
        // `range_truncate_after=N`: every 206 for a range that does not
        // start at 0 is cut after N body bytes, as a server that limits
        // what extra connections may take.
        if plan.status == 206 && offset > 0 {
            if let Some(n) = params.num::<u64>("range_truncate_after")? {
                plan.send_limit = Some(n.min(len));
                plan.ending = Ending::Close;
            }
        }
        Ok(plan)
    }

    fn api(&self, req: &Request<'_>, path: &str) -> Result<Plan, Plan> {
        match (path, req.method) {
            ("/api/list_files", Method::Post) => {
                let (start, per_page) = listing_query(req.body)?;
                let total = self.listing.names.len() as u64;
                let per_page = if per_page == 0 {
                    LISTING_MAX_PER_PAGE
                } else {
                    per_page.min(LISTING_MAX_PER_PAGE)
                };
                let from = start.min(total) as usize;
                let to = start.saturating_add(per_page).min(total) as usize;
                let page = &self.listing.names[from..to];
                let mut plan = Plan::json(200, &serde_json::json!(page));
                plan.headers
                    .push(("More", (to < total as usize).to_string()));
                plan.headers.push(("X-Total", total.to_string()));
                plan.delay = self.config.listing_lag;
                Ok(plan)
            }
            ("/api/list_files", Method::Get | Method::Head) => {
                let mut plan = Plan::json(200, &serde_json::json!(self.listing.names));
                plan.headers
                    .push(("X-Total", self.listing.names.len().to_string()));
                plan.delay = self.config.listing_lag;
                Ok(plan)
            }
            ("/api/stats", Method::Get | Method::Head) => {
                Ok(Plan::json(200, &self.stats.snapshot().to_json()))
            }
            ("/api/reset_stats", Method::Post) => {
                self.reset_stats();
                self.reset_fault_counters();
                Ok(Plan::text(200, "ok\n"))
            }
            ("/api/time", Method::Get | Method::Head) => Ok(Plan::text(
                200,
                httpdate::fmt_http_date(SystemTime::now()) + "\n",
            )),
            ("/api/list_files" | "/api/stats" | "/api/reset_stats" | "/api/time", _) => {
                Ok(Plan::text(405, "method not allowed\n"))
            }
            _ => Ok(Plan::text(404, "unknown API\n")),
        }
    }
}

/// Moves a range start by `shift` while keeping the range inside the
/// resource: if the shift would leave it, the range moves the other way.
fn shifted_start(first: u64, len: u64, size: u64, shift: i64) -> u64 {
    let max_start = size - len;
    let moved = |s: i64| {
        let start = i128::from(first) + i128::from(s);
        (0..=i128::from(max_start))
            .contains(&start)
            .then_some(start as u64)
    };
    moved(shift)
        .or_else(|| moved(shift.saturating_neg()))
        .unwrap_or(if first == 0 { max_start } else { 0 })
}

/// Reads `{"start": S, "per_page": P}` or `start=S&per_page=P`.
fn listing_query(body: &[u8]) -> Result<(u64, u64), Plan> {
    let text = std::str::from_utf8(body).map_err(|_| Plan::text(400, "body is not UTF-8\n"))?;
    let text = text.trim();
    if text.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Plan::text(400, format!("bad JSON body: {e}\n")))?;
        let field = |key: &str| -> Result<u64, Plan> {
            match &value[key] {
                serde_json::Value::Null => Ok(if key == "start" {
                    0
                } else {
                    LISTING_MAX_PER_PAGE
                }),
                serde_json::Value::Number(n) => n
                    .as_u64()
                    .ok_or_else(|| Plan::text(400, format!("{key} must be a natural number\n"))),
                serde_json::Value::String(s) => s
                    .trim()
                    .parse()
                    .map_err(|_| Plan::text(400, format!("{key} must be a natural number\n"))),
                _ => Err(Plan::text(400, format!("{key} must be a natural number\n"))),
            }
        };
        return Ok((field("start")?, field("per_page")?));
    }
    let params = Params::parse(text, true);
    Ok((
        params.num("start")?.unwrap_or(0),
        params.num("per_page")?.unwrap_or(LISTING_MAX_PER_PAGE),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_forms() {
        use RangeOutcome::*;
        assert_eq!(parse_range("bytes=0-9", 100), Partial(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), Partial(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), Partial(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), Partial(0, 99));
        assert_eq!(parse_range("bytes=50-1000", 100), Partial(50, 99));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=9-3", 100), Full);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Full);
        assert_eq!(parse_range("items=0-1", 100), Full);
        assert_eq!(parse_range("bytes=a-b", 100), Full);
        assert_eq!(
            parse_range("bytes=99999999999999999999999-", 100),
            Unsatisfiable
        );
    }

    #[test]
    fn if_range_compares_strongly() {
        assert!(if_range_matches("\"abc\"", "\"abc\""));
        assert!(!if_range_matches("W/\"abc\"", "\"abc\""));
        assert!(!if_range_matches("\"abd\"", "\"abc\""));
        assert!(if_range_matches(LAST_MODIFIED, "\"abc\""));
        assert!(!if_range_matches(
            "Mon, 10 Sep 2001 01:46:40 GMT",
            "\"abc\""
        ));
        assert!(!if_range_matches("garbage", "\"abc\""));
    }

    #[test]
    fn last_modified_is_a_valid_http_date() {
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(httpdate::fmt_http_date(t), LAST_MODIFIED);
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%2Fb", false), "a/b");
        assert_eq!(percent_decode("100%", false), "100%");
        assert_eq!(percent_decode("%zz%4", false), "%zz%4");
        assert_eq!(percent_decode("a+b", true), "a b");
        assert_eq!(percent_decode("a+b", false), "a+b");
    }

    #[test]
    fn shifted_start_stays_inside() {
        assert_eq!(shifted_start(10, 10, 100, 5), 15);
        assert_eq!(shifted_start(90, 10, 100, 5), 85);
        assert_eq!(shifted_start(0, 10, 100, -5), 5);
        assert_eq!(shifted_start(0, 100, 100, 5), 0);
    }

    #[test]
    fn corrupt_offset_lists() {
        let parsed = |s: &str| corrupt_offsets(s).ok().map(|o| o.to_vec());
        assert_eq!(parsed("5"), Some(vec![5]));
        assert_eq!(parsed("9, 3,3,,0"), Some(vec![0, 3, 9]));
        assert_eq!(parsed(""), Some(vec![]));
        assert_eq!(parsed("18446744073709551615"), Some(vec![u64::MAX]));
        for bad in ["x", "1,-2", "1.5", "18446744073709551616"] {
            assert_eq!(parsed(bad), None, "{bad}");
        }
    }

    #[test]
    fn listing_bodies() {
        assert_eq!(
            listing_query(br#"{"start": 5, "per_page": 3}"#)
                .ok()
                .unwrap(),
            (5, 3)
        );
        assert_eq!(listing_query(b"start=10&per_page=2").ok().unwrap(), (10, 2));
        assert_eq!(listing_query(b"").ok().unwrap(), (0, 5));
        assert!(listing_query(b"{nope").is_err());
    }
}
