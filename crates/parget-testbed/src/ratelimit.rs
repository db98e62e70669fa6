//! `rps=N`: at most N requests per path in any one-second window, per
//! server, like a server that answers 429 when hammered.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Length of the sliding window.
pub(crate) const WINDOW: Duration = Duration::from_secs(1);

/// When each path's recently served requests arrived.
#[derive(Debug, Default)]
pub(crate) struct RateWindows {
    served: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateWindows {
    /// Whether a request to `path` arriving at `now` may be served under a
    /// limit of `limit` per [`WINDOW`]; a served request joins the window.
    ///
    /// Refused requests do not count, so a client that keeps knocking still
    /// gets `limit` answers per second rather than being locked out forever.
    pub(crate) fn admit(&self, path: &str, limit: u64, now: Instant) -> bool {
        let mut map = self.served.lock().unwrap_or_else(|e| e.into_inner());
        let window = match map.get_mut(path) {
            Some(window) => window,
            None => map.entry(path.to_owned()).or_default(),
        };
        while window
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= WINDOW)
        {
            window.pop_front();
        }
        if window.len() as u64 >= limit {
            return false;
        }
        window.push_back(now);
        true
    }

    /// Forgets every window.
    pub(crate) fn clear(&self) {
        self.served
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window() {
        let windows = RateWindows::default();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert!(windows.admit("/a", 2, at(0)));
        assert!(windows.admit("/a", 2, at(400)));
        assert!(!windows.admit("/a", 2, at(500)));
        // Another path has its own window.
        assert!(windows.admit("/b", 2, at(500)));
        // Refusals did not join the window: at 1000 ms the first request
        // leaves it and one more fits.
        assert!(!windows.admit("/a", 2, at(999)));
        assert!(windows.admit("/a", 2, at(1000)));
        assert!(!windows.admit("/a", 2, at(1300)));
        assert!(windows.admit("/a", 2, at(1400)));
        windows.clear();
        assert!(windows.admit("/a", 2, at(1401)));
        assert!(windows.admit("/a", 2, at(1402)));
        assert!(!windows.admit("/a", 2, at(1403)));
    }

    #[test]
    fn limit_zero_refuses_everything() {
        let windows = RateWindows::default();
        assert!(!windows.admit("/a", 0, Instant::now()));
    }
}
