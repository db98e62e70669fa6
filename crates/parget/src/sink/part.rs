//! The part file of one download and its lock: one writer per destination,
//! across processes and across downloaders of one process.
//!
//! The claim stage opens `NAME.part` (creating it when there is none) and
//! takes an exclusive `flock` on it, held until the download ends (the
//! kernel drops it when the process dies, however it dies). `flock` locks
//! belong to an open file, not to a process, so two downloaders of one
//! process exclude each other too. The rules that make the lock mean
//! "this path is mine":
//! - every open is `O_NOFOLLOW`: a symbolic link at `NAME.part` is an
//!   error, and its target is never opened;
//! - a part file found on disk (not created by this open) counts only once
//!   it is locked *and* still the file at `NAME.part`: a writer that
//!   finished renames its file away before it unlocks, so a lock won on a
//!   renamed file is let go and the open tried again;
//! - a part file created here (`O_EXCL`) is locked by the very next call,
//!   which is all the small-file path pays for the lock: one `flock`. A
//!   process that found it and locked it first wins, and this open fails.
//!
//! A part file created here and never written (the download was skipped,
//! refused, or failed before its first byte) is removed when the last
//! handle goes, while still locked and only if it is still the file at
//! `NAME.part`.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustix::fs::{FlockOperation, OFlags};
use tokio_util::sync::CancellationToken;

use super::control::{open_nofollow, part_path};
use super::dir::Dir;
use crate::error::{Error, ErrorKind};

/// How often a download waiting for another one's lock looks again.
const WAIT_STEP: Duration = Duration::from_millis(50);

/// Tries of the open-and-lock dance before giving up: each retry means
/// another writer renamed or removed the file in between, which a healthy
/// system does a few times at most.
const MAX_TRIES: usize = 100;

/// `NAME.part`, open and locked by this download.
#[derive(Debug)]
pub(crate) struct PartFile {
    file: File,
    path: PathBuf,
    /// The directory it is in, held open: every later step there goes
    /// through it (see `dir`).
    dir: Arc<Dir>,
    created: bool,
    used: AtomicBool,
}

impl PartFile {
    /// The open part file.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Its path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The directory it is in, open.
    pub(crate) fn dir(&self) -> &Dir {
        &self.dir
    }

    /// True when this download created it: it holds no earlier run's bytes.
    pub(crate) fn created(&self) -> bool {
        self.created
    }

    /// True while it is the file at its path (not removed or replaced).
    pub(crate) fn is_in_place(&self) -> bool {
        is_at(&self.dir, &self.file, &self.path)
    }

    /// Marks it as holding this download's bytes: it is kept (for a
    /// resume, or because it was renamed into place) when the handle goes.
    pub(crate) fn mark_used(&self) {
        self.used.store(true, Ordering::Release);
    }

    /// Takes back [`PartFile::mark_used`] for a part file this download
    /// created and never wrote a byte to: it is removed when the handle
    /// goes, as an unused one is.
    pub(crate) fn mark_unused(&self) {
        self.used.store(false, Ordering::Release);
    }

    /// True once it held this download's bytes (an earlier attempt of this
    /// run streamed into it, with a control file beside it).
    pub(crate) fn is_used(&self) -> bool {
        self.used.load(Ordering::Acquire)
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if self.created
            && !self.used.load(Ordering::Acquire)
            && is_at(&self.dir, &self.file, &self.path)
        {
            let _ = self.dir.remove(&self.path);
        }
    }
}

/// Opens and locks the part file of `destination`, in its directory opened
/// beneath `root` when given (see `dir`). When another download holds it,
/// fails with an I/O error of kind `WouldBlock` naming the part file, or
/// with `wait`, waits for it (until `cancel`).
pub(crate) async fn lock(
    destination: &Path,
    root: Option<&Path>,
    wait: bool,
    cancel: &CancellationToken,
) -> Result<Arc<PartFile>, Error> {
    let path = part_path(destination);
    let dir = Dir::open(destination.parent().unwrap_or(Path::new("")), root)?;
    let mut tries = 0;
    loop {
        match try_lock(&dir, &path)? {
            Attempt::Locked(part) => return Ok(Arc::new(part)),
            Attempt::Moved if tries < MAX_TRIES => tries += 1,
            Attempt::Moved => {
                return Err(Error::io(
                    &path,
                    std::io::Error::other("keeps being replaced while parget opens it"),
                ))
            }
            Attempt::Busy if wait => {
                tokio::select! {
                    () = tokio::time::sleep(WAIT_STEP) => {}
                    () = cancel.cancelled() => return Err(Error::new(ErrorKind::Cancelled, None)),
                }
            }
            Attempt::Busy => return Err(locked_error(&path)),
        }
    }
}

/// The error for a part file another download holds.
pub(crate) fn locked_error(path: &Path) -> Error {
    Error::io(
        path,
        std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            "is locked: another download (in this process or another) is writing this destination",
        ),
    )
}

/// What one open-and-lock try gave.
enum Attempt {
    Locked(PartFile),
    /// Another download holds the lock.
    Busy,
    /// The file at the path changed under the open: try again.
    Moved,
}

fn try_lock(dir: &Arc<Dir>, path: &Path) -> Result<Attempt, Error> {
    let create = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL;
    match open_nofollow(dir, path, create) {
        Ok(file) => {
            return Ok(match flock(&file, path)? {
                true => Attempt::Locked(PartFile {
                    file,
                    path: path.to_owned(),
                    dir: dir.clone(),
                    created: true,
                    used: AtomicBool::new(false),
                }),
                false => Attempt::Busy,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(path, e)),
    }
    // An earlier run's file, or another download's.
    let file = match open_nofollow(dir, path, OFlags::RDWR) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Attempt::Moved),
        Err(e) => return Err(Error::io(path, e)),
    };
    if !flock(&file, path)? {
        return Ok(Attempt::Busy);
    }
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::io(
            path,
            std::io::Error::other("is not a regular file"),
        ));
    }
    // A part file found on disk becomes the destination by rename: one with
    // another name elsewhere (a hard link) would have that file rewritten,
    // and one of another user's would stay theirs to change after it was
    // verified. Neither is written into.
    if meta.nlink() > 1 {
        return Err(Error::io(
            path,
            std::io::Error::other(
                "has other hard links; parget does not write into a file that is also elsewhere (remove it to go on)",
            ),
        ));
    }
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(Error::io(
            path,
            std::io::Error::other(
                "belongs to another user; parget does not write into it (remove it to go on)",
            ),
        ));
    }
    if !is_at(dir, &file, path) {
        return Ok(Attempt::Moved);
    }
    Ok(Attempt::Locked(PartFile {
        file,
        path: path.to_owned(),
        dir: dir.clone(),
        created: false,
        used: AtomicBool::new(false),
    }))
}

/// Takes the exclusive lock without waiting; false when another holds it.
fn flock(file: &File, path: &Path) -> Result<bool, Error> {
    match rustix::fs::flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
        Err(e) => Err(Error::io(path, e.into())),
    }
}

/// True when `path` (not followed) in `dir` names the open `file`.
fn is_at(dir: &Dir, file: &File, path: &Path) -> bool {
    match (rustix::fs::fstat(file), dir.lstat(path)) {
        (Ok(open), Ok(named)) => open.st_dev == named.st_dev && open.st_ino == named.st_ino,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> CancellationToken {
        CancellationToken::new()
    }

    #[tokio::test]
    async fn one_lock_per_destination_until_it_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let destination = dir.path().join("sub/f.bin");
        let first = lock(&destination, None, false, &token()).await.unwrap();
        assert!(first.created(), "a fresh part file");
        assert_eq!(first.path(), dir.path().join("sub/f.bin.part"));
        let second = lock(&destination, None, false, &token()).await.unwrap_err();
        let text = format!("{second:#}");
        assert!(
            text.contains("f.bin.part") && text.contains("locked"),
            "{text}"
        );
        // Used, it stays for a resume; the next lock finds it.
        first.mark_used();
        drop(first);
        let again = lock(&destination, None, false, &token()).await.unwrap();
        assert!(!again.created(), "an earlier run's part file");
    }

    #[tokio::test]
    async fn an_unused_part_file_is_removed_with_its_lock() {
        let dir = tempfile::tempdir().unwrap();
        let destination = dir.path().join("f");
        drop(lock(&destination, None, false, &token()).await.unwrap());
        assert!(!dir.path().join("f.part").exists());
        // But one found on disk is not this download's to remove.
        std::fs::write(dir.path().join("f.part"), b"kept").unwrap();
        drop(lock(&destination, None, false, &token()).await.unwrap());
        assert_eq!(std::fs::read(dir.path().join("f.part")).unwrap(), b"kept");
    }

    #[tokio::test]
    async fn a_waiter_gets_the_lock_when_it_is_let_go_or_stops_when_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let destination = dir.path().join("f");
        let held = lock(&destination, None, false, &token()).await.unwrap();
        held.mark_used();
        let cancel = token();
        let waiting = {
            let destination = destination.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move { lock(&destination, None, true, &cancel).await })
        };
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(!waiting.is_finished(), "it waits while the lock is held");
        // The holder finishes: renamed into place, then unlocked.
        std::fs::rename(held.path(), &destination).unwrap();
        drop(held);
        let got = waiting.await.unwrap().unwrap();
        assert!(got.created(), "a new part file, not the renamed one");

        let cancelled = {
            let destination = destination.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move { lock(&destination, None, true, &cancel).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
        assert!(cancelled.await.unwrap().unwrap_err().is_cancelled());
        drop(got);
    }

    /// The error of a lock on `destination` that must fail.
    async fn refusal(destination: &Path) -> String {
        let error = lock(destination, None, false, &token()).await.unwrap_err();
        format!("{error:#}")
    }

    #[tokio::test]
    async fn a_part_file_with_other_links_or_another_owner_is_not_written_into() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        std::fs::hard_link(&victim, dir.path().join("f.part")).unwrap();
        let text = refusal(&dir.path().join("f")).await;
        assert!(
            text.contains("f.part") && text.contains("hard links"),
            "{text}"
        );
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");

        std::fs::write(dir.path().join("g.part"), b"theirs").unwrap();
        if std::os::unix::fs::chown(dir.path().join("g.part"), Some(65534), None).is_err() {
            eprintln!("note: skipped the other owner's part file: chown takes root");
            return;
        }
        let text = refusal(&dir.path().join("g")).await;
        assert!(
            text.contains("g.part") && text.contains("another user"),
            "{text}"
        );
        assert_eq!(std::fs::read(dir.path().join("g.part")).unwrap(), b"theirs");
    }

    #[tokio::test]
    async fn a_symlink_at_the_part_path_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"precious").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("f.part")).unwrap();
        let error = lock(&dir.path().join("f"), None, false, &token())
            .await
            .unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.contains("f.part") && text.contains("symbolic link"),
            "{text}"
        );
        // Dangling, too.
        std::fs::remove_file(&target).unwrap();
        assert!(lock(&dir.path().join("f"), None, false, &token())
            .await
            .is_err());
        assert!(!target.exists(), "nothing was created through the link");
        std::fs::create_dir(dir.path().join("d.part")).unwrap();
        let error = lock(&dir.path().join("d"), None, false, &token())
            .await
            .unwrap_err();
        assert!(format!("{error:#}").contains("d.part"), "{error:#}");
    }
}
