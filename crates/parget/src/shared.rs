//! The state every download of one [`crate::Downloader`] shares: settings,
//! transports, limits, the destinations being written, the reporter and
//! the cancel signal. The download stages read it; nothing here knows how
//! a download runs.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::event::{DownloadId, Reporter, Totals};
use crate::hooks::{FinishHook, ResponseHook};
use crate::limit::{HostLimits, Rates};
use crate::naming;
use crate::seen::destination_key;
use crate::sink::{self, PartFile};
use crate::transport::Transport;

/// Hooks the downloader applies to every download, before a request's own.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub response: Option<ResponseHook>,
    pub finish: Option<FinishHook>,
}

/// State shared by every download of one downloader.
pub(crate) struct Shared {
    pub config: Config,
    transports: HashMap<String, Arc<dyn Transport>>,
    pub hosts: HostLimits,
    /// The byte-rate limits (per download and for the whole downloader).
    pub rates: Rates,
    /// The global download slots ([`Config::concurrency`]).
    pub slots: Arc<Semaphore>,
    claims: Claims,
    pub reporter: Arc<dyn Reporter>,
    pub hooks: Hooks,
    pub totals: Arc<Totals>,
    /// Cancels every download; each download's own token is a child.
    cancel: CancellationToken,
    /// Set by a shutdown: no new download starts.
    closed: CancellationToken,
    /// Downloads between their start and their report.
    active: AtomicUsize,
    idle: Notify,
    next_id: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        config: Config,
        transports: HashMap<String, Arc<dyn Transport>>,
        reporter: Arc<dyn Reporter>,
        hooks: Hooks,
    ) -> Shared {
        Shared {
            hooks,
            slots: Arc::new(Semaphore::new(config.concurrency)),
            hosts: HostLimits::new(config.max_per_host),
            rates: Rates::new(config.max_download_rate, config.max_overall_rate),
            config,
            transports,
            claims: Claims::default(),
            reporter,
            totals: Arc::new(Totals::default()),
            cancel: CancellationToken::new(),
            closed: CancellationToken::new(),
            active: AtomicUsize::new(0),
            idle: Notify::new(),
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
    /// scheduling). Within the downloader the claim is a set of paths;
    /// across downloaders and processes it is the lock on `NAME.part`,
    /// which the claim opens (see `sink::PartFile`; in its directory
    /// opened beneath `root` when the request is confined), waiting for another
    /// download's lock when [`Config::wait_for_lock`] says so (until
    /// `cancel`). A name parget cannot use is refused first. The claim ends
    /// with the guard.
    pub(crate) async fn claim(
        &self,
        destination: &Path,
        root: Option<&Path>,
        repeated: bool,
        cancel: &CancellationToken,
    ) -> Result<Claim<'_>, Error> {
        let name = destination.file_name().unwrap_or_default();
        naming::check_destination_name(name).map_err(|why| {
            Error::new(
                ErrorKind::InvalidRequest(format!("{}: {why}", destination.display())),
                None,
            )
        })?;
        let key = self.claim_key(destination, repeated)?;
        let wait = self.config.wait_for_lock;
        let part = sink::lock_part(destination, root, wait, cancel).await?;
        Ok(Claim { part, _key: key })
    }

    /// The in-process half of [`Shared::claim`].
    fn claim_key(&self, destination: &Path, repeated: bool) -> Result<ClaimKey<'_>, Error> {
        let key = destination_key(destination);
        if repeated || !self.claims.insert(key.clone()) {
            return Err(Error::new(
                ErrorKind::DuplicateDestination(destination.to_owned()),
                None,
            ));
        }
        Ok(ClaimKey {
            claims: &self.claims,
            key,
        })
    }

    /// Stops every download: running ones end cancelled, later ones at once.
    pub(crate) fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Stops new downloads from starting (running ones go on).
    pub(crate) fn close(&self) {
        self.closed.cancel();
        self.slots.close();
    }

    /// True once [`Shared::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Resolves when [`Shared::close`] was called.
    pub(crate) async fn closing(&self) {
        self.closed.cancelled().await;
    }

    /// Counts a running download until the guard drops.
    pub(crate) fn track(&self) -> Active<'_> {
        self.active.fetch_add(1, Ordering::AcqRel);
        Active { shared: self }
    }

    /// Resolves once no download is running.
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.active.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// A token for one download (or group): cancelled with the downloader,
    /// or on its own.
    pub(crate) fn child_token(&self) -> CancellationToken {
        self.cancel.child_token()
    }
}

/// A running download, counted for [`Shared::idle`].
pub(crate) struct Active<'a> {
    shared: &'a Shared,
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        if self.shared.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.idle.notify_waiters();
        }
    }
}

/// Destinations being written now, by any call: whole paths, compared
/// exactly (at most one per running download, so few).
#[derive(Default)]
struct Claims(Mutex<HashSet<PathBuf>>);

impl Claims {
    fn insert(&self, key: PathBuf) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(key)
    }

    fn remove(&self, key: &Path) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

/// A destination held by a running download: its place in the
/// downloader's set and its locked part file; released on drop.
pub(crate) struct Claim<'a> {
    part: Arc<PartFile>,
    _key: ClaimKey<'a>,
}

impl Claim<'_> {
    /// The locked `NAME.part`.
    pub(crate) fn part(&self) -> &Arc<PartFile> {
        &self.part
    }

    /// The claimed `NAME.part`, or a new one opened and locked when the
    /// claimed one was discarded (its bytes were wrong): the next fetch
    /// then writes a file that is at `NAME.part`, not the removed one's
    /// descriptor. Another writer that made a part file there meanwhile
    /// holds it, and this fails as any claim of a held file does.
    pub(crate) async fn renew(
        &mut self,
        destination: &Path,
        root: Option<&Path>,
        cancel: &CancellationToken,
    ) -> Result<Arc<PartFile>, Error> {
        if !self.part.is_in_place() {
            self.part = sink::lock_part(destination, root, false, cancel).await?;
        }
        Ok(self.part.clone())
    }
}

/// A destination in the downloader's set; removed on drop.
struct ClaimKey<'a> {
    claims: &'a Claims,
    key: PathBuf,
}

impl Drop for ClaimKey<'_> {
    fn drop(&mut self) {
        self.claims.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared::new(
            Config::default(),
            HashMap::new(),
            Arc::new(crate::event::NoReporter),
            Hooks::default(),
        )
    }

    #[tokio::test]
    async fn a_claim_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (f, g) = (dir.path().join("d/f"), dir.path().join("d/g"));
        let spelled = dir.path().join("d/./f");
        let cancel = CancellationToken::new();
        let shared = shared();
        let first = shared.claim(&f, None, false, &cancel).await.unwrap();
        let second = shared.claim(&spelled, None, false, &cancel).await;
        assert!(
            matches!(
                second.map(|_| ()).unwrap_err().kind(),
                ErrorKind::DuplicateDestination(_)
            ),
            "one path, two spellings: one writer"
        );
        assert!(
            shared.claim(&g, None, true, &cancel).await.is_err(),
            "a repeated destination of a run is refused even when free"
        );
        // Another downloader of the process finds the part file locked.
        let other = self::shared();
        let locked = other
            .claim(&f, None, false, &cancel)
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(
            locked.is_io() && format!("{locked:#}").contains("locked"),
            "{locked:#}"
        );
        drop(first);
        assert!(shared.claim(&f, None, false, &cancel).await.is_ok());
        assert!(other.claim(&f, None, false, &cancel).await.is_ok());
    }

    #[tokio::test]
    async fn names_parget_cannot_use_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancellationToken::new();
        let shared = shared();
        for name in ["x.part", "x.part.parget", "x.part.parget.tmp"] {
            let error = shared
                .claim(&dir.path().join(name), None, false, &cancel)
                .await
                .map(|_| ())
                .unwrap_err();
            assert!(format!("{error}").contains("reserved"), "{name}: {error}");
        }
        let long = dir.path().join("n".repeat(256));
        let error = shared
            .claim(&long, None, false, &cancel)
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(format!("{error}").contains("256 bytes"), "{error}");
        assert!(shared
            .claim(&dir.path().join("n".repeat(255)), None, false, &cancel)
            .await
            .is_ok());
    }
}
