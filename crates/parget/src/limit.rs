//! Limits on concurrent work: the global download slots and the per-host
//! connection cap (reqwest's pool has no per-host cap, so it is done here).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The per-host connection cap, when one is set.
pub(crate) struct HostLimits {
    max_per_host: Option<usize>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A held connection slot for one host; released on drop.
pub(crate) struct HostPermit {
    _permit: Option<OwnedSemaphorePermit>,
}

impl HostLimits {
    /// Limits of `max_per_host` connections per host; `None` for no cap.
    pub(crate) fn new(max_per_host: Option<usize>) -> HostLimits {
        HostLimits {
            max_per_host: max_per_host.map(|n| n.max(1)),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    fn semaphore(&self, host_key: &str, max: usize) -> Arc<Semaphore> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        // Forget hosts nobody holds a slot of, so a list touching a
        // million hosts does not keep a million semaphores.
        if hosts.len() > 1024 {
            hosts.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < max);
        }
        hosts
            .entry(host_key.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(max)))
            .clone()
    }

    /// Waits for a slot on `host_key` (scheme, host and port: one pool
    /// key); at once without a cap.
    pub(crate) async fn acquire(&self, host_key: &str) -> HostPermit {
        let Some(max) = self.max_per_host else {
            return HostPermit { _permit: None };
        };
        // Host semaphores are never closed.
        let permit = self.semaphore(host_key, max).acquire_owned().await.ok();
        HostPermit { _permit: permit }
    }

    /// A slot on `host_key` if one is free now. Extra segment connections
    /// use it: a download never waits for more connections than it has.
    pub(crate) fn try_acquire(&self, host_key: &str) -> Option<HostPermit> {
        let Some(max) = self.max_per_host else {
            return Some(HostPermit { _permit: None });
        };
        let permit = self.semaphore(host_key, max).try_acquire_owned().ok()?;
        Some(HostPermit {
            _permit: Some(permit),
        })
    }
}

/// The pool key of a URL: downloads with the same key share connections.
pub(crate) fn host_key(url: &url::Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn caps_one_host_and_leaves_others_free() {
        let limits = Arc::new(HostLimits::new(Some(2)));
        let a1 = limits.acquire("http://a:80").await;
        let _a2 = limits.acquire("http://a:80").await;
        let third =
            tokio::time::timeout(Duration::from_millis(50), limits.acquire("http://a:80")).await;
        assert!(third.is_err(), "a third slot on host a must wait");
        let _b = tokio::time::timeout(Duration::from_millis(50), limits.acquire("http://b:80"))
            .await
            .expect("host b is not limited by host a");
        assert!(
            limits.try_acquire("http://a:80").is_none(),
            "no free slot on a"
        );
        drop(a1);
        let again = limits.try_acquire("http://a:80");
        assert!(again.is_some(), "a released slot is free again");
        drop(again);
        tokio::time::timeout(Duration::from_millis(50), limits.acquire("http://a:80"))
            .await
            .expect("a released slot is reusable");
    }

    #[tokio::test]
    async fn without_a_cap_every_slot_is_free() {
        let limits = HostLimits::new(None);
        let held: Vec<_> = (0..100)
            .map(|_| limits.try_acquire("http://a:80"))
            .collect();
        assert!(held.iter().all(Option::is_some));
        let _more = limits.acquire("http://a:80").await;
    }

    #[test]
    fn host_key_includes_scheme_and_port() {
        let key = |s: &str| host_key(&url::Url::parse(s).unwrap());
        assert_eq!(key("http://h/x"), "http://h:80");
        assert_eq!(key("https://h/x"), "https://h:443");
        assert_eq!(key("http://h:8080/x"), "http://h:8080");
    }
}
