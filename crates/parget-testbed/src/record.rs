//! A bounded log of the requests a server received, so tests can prove which
//! headers (credentials, cookies, `Referer`, ...) reached which server.

use std::collections::VecDeque;
use std::sync::Mutex;

/// One request as it arrived: method, target and every header in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The method as sent (`GET`, `HEAD`, ...).
    pub method: String,
    /// The path and query as sent (origin form, not percent-decoded).
    pub target: String,
    /// Every header in the order received, names as sent. HTTP/2 names are
    /// lower case and `:authority` appears as `host`; values that are not
    /// UTF-8 are decoded lossily.
    pub headers: Vec<(String, String)>,
    /// Whether the request came over HTTP/2.
    pub http2: bool,
}

impl RecordedRequest {
    /// The path part of [`RecordedRequest::target`], without the query.
    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(path, _)| path)
    }

    /// The first value of header `name` (compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (compared case-insensitively), in order.
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether header `name` arrived at all.
    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }
}

/// The newest requests, oldest first; the oldest are dropped beyond the
/// capacity so a long benchmark does not grow memory without bound.
#[derive(Debug)]
pub(crate) struct RequestLog {
    capacity: usize,
    entries: Mutex<VecDeque<RecordedRequest>>,
}

impl RequestLog {
    /// A log keeping at most `capacity` requests; 0 records nothing.
    pub(crate) fn new(capacity: usize) -> RequestLog {
        RequestLog {
            capacity,
            entries: Mutex::new(VecDeque::new()),
        }
    }

    /// Whether recording is on; callers skip building the entry otherwise.
    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    pub(crate) fn push(&self, request: RecordedRequest) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        while entries.len() >= self.capacity {
            entries.pop_front();
        }
        entries.push_back(request);
    }

    pub(crate) fn snapshot(&self) -> Vec<RecordedRequest> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.iter().cloned().collect()
    }

    pub(crate) fn for_path(&self, path: &str) -> Vec<RecordedRequest> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .filter(|r| r.path() == path)
            .cloned()
            .collect()
    }

    pub(crate) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str) -> RecordedRequest {
        RecordedRequest {
            method: "GET".into(),
            target: target.into(),
            headers: vec![
                ("Host".into(), "x".into()),
                ("X-Twice".into(), "1".into()),
                ("x-twice".into(), "2".into()),
            ],
            http2: false,
        }
    }

    #[test]
    fn keeps_the_newest_within_capacity() {
        let log = RequestLog::new(3);
        for i in 0..5 {
            log.push(request(&format!("/{i}?q=1")));
        }
        let targets: Vec<String> = log.snapshot().into_iter().map(|r| r.target).collect();
        assert_eq!(targets, ["/2?q=1", "/3?q=1", "/4?q=1"]);
        assert_eq!(log.for_path("/3").len(), 1);
        assert!(log.for_path("/3?q=1").is_empty());
        log.clear();
        assert!(log.snapshot().is_empty());
    }

    #[test]
    fn zero_capacity_records_nothing() {
        let log = RequestLog::new(0);
        assert!(!log.enabled());
        log.push(request("/a"));
        assert!(log.snapshot().is_empty());
    }

    #[test]
    fn header_lookup_is_case_insensitive_and_ordered() {
        let r = request("/p?x");
        assert_eq!(r.path(), "/p");
        assert_eq!(r.header("HOST"), Some("x"));
        assert_eq!(r.header_all("X-TWICE").collect::<Vec<_>>(), ["1", "2"]);
        assert!(!r.has_header("cookie"));
        assert_eq!(request("/plain").path(), "/plain");
    }
}
