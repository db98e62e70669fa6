//! The state every download of one [`crate::Downloader`] shares: settings,
//! transports, limits, the destinations being written, the reporter and
//! the cancel signal. The download stages read it; nothing here knows how
//! a download runs.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{watch, Semaphore};

use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::event::{DownloadId, Reporter, Totals};
use crate::limit::HostLimits;
use crate::transport::Transport;

/// State shared by every download of one downloader.
pub(crate) struct Shared {
    pub config: Config,
    transports: HashMap<String, Arc<dyn Transport>>,
    pub hosts: HostLimits,
    /// The global download slots ([`Config::concurrency`]).
    pub slots: Arc<Semaphore>,
    claims: Claims,
    pub reporter: Arc<dyn Reporter>,
    pub totals: Arc<Totals>,
    cancel: watch::Sender<bool>,
    next_id: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        config: Config,
        transports: HashMap<String, Arc<dyn Transport>>,
        reporter: Arc<dyn Reporter>,
    ) -> Shared {
        let (cancel, _) = watch::channel(false);
        Shared {
            slots: Arc::new(Semaphore::new(config.concurrency)),
            hosts: HostLimits::new(config.max_per_host),
            config,
            transports,
            claims: Claims::default(),
            reporter,
            totals: Arc::new(Totals::default()),
            cancel,
            next_id: AtomicU64::new(1),
        }
    }

    /// The transport for `url`'s scheme.
    pub(crate) fn transport_for(&self, url: &url::Url) -> Result<Arc<dyn Transport>, Error> {
        self.transports
            .get(url.scheme())
            .cloned()
            .ok_or_else(|| Error::new(ErrorKind::UnsupportedScheme(url.scheme().to_owned()), None))
    }

    /// A fresh id for a download of this downloader.
    pub(crate) fn next_id(&self) -> DownloadId {
        DownloadId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Claims `destination` while it is downloaded: two downloads never
    /// write one file at once. `repeated` says the destination appeared
    /// earlier in the same run (list order decides which entry wins, not
    /// scheduling). The claim ends with the guard.
    pub(crate) fn claim(&self, destination: &Path, repeated: bool) -> Result<Claim<'_>, Error> {
        let key = destination_hash(destination);
        if repeated || !self.claims.insert(key) {
            return Err(Error::new(
                ErrorKind::DuplicateDestination(destination.to_owned()),
                None,
            ));
        }
        Ok(Claim {
            claims: &self.claims,
            key,
        })
    }

    /// Stops every download: running ones end cancelled, later ones at once.
    pub(crate) fn cancel(&self) {
        self.cancel.send_replace(true);
    }

    /// True once [`Shared::cancel`] was called.
    pub(crate) fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Resolves when [`Shared::cancel`] was called.
    pub(crate) async fn cancelled(&self) {
        let mut rx = self.cancel.subscribe();
        // The sender lives as long as `self`, so this only ends on cancel.
        let _ = rx.wait_for(|cancelled| *cancelled).await;
    }
}

/// Destinations being written now, by any call, as 64-bit hashes.
#[derive(Default)]
struct Claims(Mutex<HashSet<u64>>);

impl Claims {
    fn insert(&self, key: u64) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(key)
    }

    fn remove(&self, key: u64) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }
}

/// A destination held by a running download; released on drop.
pub(crate) struct Claim<'a> {
    claims: &'a Claims,
    key: u64,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.claims.remove(self.key);
    }
}

/// A destination as a 64-bit hash: a run remembers the destinations of a
/// million-entry list at 8 bytes an entry, not their paths. Two different
/// paths colliding in 64 bits is not a practical concern.
pub(crate) fn destination_hash(destination: &Path) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    destination_key(destination).hash(&mut hasher);
    hasher.finish()
}

/// A stable key for a destination path: `a/./b` and `a//b` are one path.
fn destination_key(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_key_folds_dot_components() {
        assert_eq!(
            destination_key(Path::new("a/./b")),
            destination_key(Path::new("a/b"))
        );
        assert_eq!(
            destination_key(Path::new("./a//b")),
            destination_key(Path::new("a/b"))
        );
        assert_ne!(
            destination_key(Path::new("a/../b")),
            destination_key(Path::new("b"))
        );
    }

    #[test]
    fn a_claim_is_exclusive_until_dropped() {
        let shared = Shared::new(
            Config::default(),
            HashMap::new(),
            Arc::new(crate::event::NoReporter),
        );
        let first = shared.claim(Path::new("d/f"), false).unwrap();
        let second = shared.claim(Path::new("d/./f"), false);
        assert!(second.is_err(), "one path, two spellings: one writer");
        assert!(
            shared.claim(Path::new("d/g"), true).is_err(),
            "a repeated destination of a run is refused even when free"
        );
        drop(first);
        assert!(shared.claim(Path::new("d/f"), false).is_ok());
    }
}
