//! The directory a download's files live in, held open.
//!
//! A download claims `NAME.part` through an open handle on its directory,
//! and every later step in that directory (the control file, the rename
//! into place, removing what is left) goes through the same handle, with
//! the `*at` calls. Once the part file exists, renaming a directory on the
//! way or putting a symbolic link in its place changes nothing: the bytes
//! go to the directory that was opened.
//!
//! With a root (the CLI's output directory), the directories between the
//! root and the destination are made and opened one at a time without
//! following symbolic links, at the moment of the claim, so a link planted
//! there before or during a run never takes a file outside the root. The
//! root itself is opened as named (it may be a link the user chose).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, CWD};

use crate::error::{Error, ErrorKind};

/// An open directory and the path it was opened by (for messages).
#[derive(Debug)]
pub(crate) struct Dir {
    fd: OwnedFd,
    path: PathBuf,
    /// Device and inode of the directory opened: a later open of the same
    /// path shares it while the path still leads here.
    id: (u64, u64),
    /// When the path was last seen to lead here, in milliseconds since
    /// [`clock`] started.
    checked: AtomicU64,
}

/// How long a shared directory is handed out again without a look at its
/// path: a `stat` per file would be a ninth of a small file's system
/// calls. A file claimed that soon after its directory was renamed away
/// lands where it would have had it started a moment earlier.
const RECHECK_MS: u64 = 500;

/// Milliseconds since the first call.
fn clock() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let elapsed = START.get_or_init(Instant::now).elapsed();
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

/// Flags of every directory open. A directory opened only for lookups
/// could be `O_PATH`, but `fsync` needs a real descriptor.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

/// The directories open for downloads that are running, so a list of many
/// files in one directory opens it once, not once a file (an open and a
/// close are a fifth of a small file's system calls; the check that the
/// path still leads to it is one `stat`, at most every [`RECHECK_MS`]).
/// Only directories opened as named are shared: unconfined ones, and the
/// roots of confined ones. An entry goes when its last download lets go
/// of it.
type OpenDirs = HashMap<PathBuf, Weak<Dir>>;
static OPEN: Mutex<Option<OpenDirs>> = Mutex::new(None);

impl Dir {
    /// Opens `dir`, making it (and its parents) when missing. With `root`,
    /// `dir` must be inside it, and no directory below the root may be a
    /// symbolic link.
    ///
    /// A directory opened as named (without a root, or the root itself:
    /// the caller's, which may be a link) is shared while its path still
    /// leads to it. The directories below a root are walked from the root
    /// at every claim, never shared: one moved out of the root and linked
    /// back is then refused, where a shared one would still be handed out.
    pub(crate) fn open(dir: &Path, root: Option<&Path>) -> Result<Arc<Dir>, Error> {
        let Some(root) = root else {
            return shared(dir);
        };
        let base = shared(root)?;
        // Compared by components: `out/` is `out`.
        if dir == root {
            return Ok(base);
        }
        let (absolute_root, absolute) = (absolute(root)?, absolute(dir)?);
        let below = absolute.strip_prefix(&absolute_root).map_err(|_| {
            Error::new(
                ErrorKind::InvalidRequest(format!(
                    "{} is not inside {}, the directory it is confined to",
                    dir.display(),
                    root.display()
                )),
                None,
            )
        })?;
        let fd = open_beneath(&base.fd, &absolute_root, below)?;
        Ok(Arc::new(Dir::new(fd, dir)?))
    }

    fn new(fd: OwnedFd, dir: &Path) -> Result<Dir, Error> {
        let stat = rustix::fs::fstat(&fd).map_err(|e| Error::io(dir, e.into()))?;
        Ok(Dir {
            fd,
            path: dir.to_owned(),
            id: (stat.st_dev, stat.st_ino),
            checked: AtomicU64::new(clock()),
        })
    }

    /// The name of `path` in this directory. Every path handed to a
    /// [`Dir`] is a file of it; anything else is a bug, reported as an
    /// error rather than acted on elsewhere.
    fn name<'a>(&self, path: &'a Path) -> std::io::Result<&'a OsStr> {
        let parent = path.parent().map_or(Path::new(""), |p| p);
        // Spelled alike, as they are built: no need to compare components.
        let alike = parent.as_os_str() == self.path.as_os_str();
        match path.file_name() {
            Some(name) if alike || same_dir(parent, &self.path) => Ok(name),
            _ => Err(std::io::Error::other(format!(
                "is not in the directory {} parget opened",
                self.path.display()
            ))),
        }
    }

    /// Opens the file `path` of this directory with `flags`, never
    /// following a symbolic link at it (`ELOOP`).
    pub(crate) fn open_file(&self, path: &Path, flags: OFlags) -> std::io::Result<File> {
        let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(
            &self.fd,
            self.name(path)?,
            flags,
            Mode::from_raw_mode(0o666),
        )?;
        Ok(File::from(fd))
    }

    /// Opens the regular file `path` of this directory to read it,
    /// following a link at it: an existing destination the user linked is
    /// theirs to compare with (it is replaced, never written through).
    /// Opened non-blocking and checked after the open: a FIFO swapped in
    /// after a `stat` would otherwise block the open until a writer came.
    pub(crate) fn open_to_read(&self, path: &Path) -> std::io::Result<File> {
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let fd = rustix::fs::openat(&self.fd, self.name(path)?, flags, Mode::empty())?;
        let stat = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(std::io::Error::other("exists and is not a regular file"));
        }
        // A regular file ignores O_NONBLOCK; reads block as usual.
        Ok(File::from(fd))
    }

    /// The file `path` of this directory, a link at it followed.
    pub(crate) fn stat(&self, path: &Path) -> std::io::Result<rustix::fs::Stat> {
        Ok(rustix::fs::statat(
            &self.fd,
            self.name(path)?,
            AtFlags::empty(),
        )?)
    }

    /// The file `path` of this directory, not followed.
    pub(crate) fn lstat(&self, path: &Path) -> std::io::Result<rustix::fs::Stat> {
        Ok(rustix::fs::statat(
            &self.fd,
            self.name(path)?,
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }

    /// Renames the file `from` of this directory to `to`, also of it.
    pub(crate) fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        Ok(rustix::fs::renameat(
            &self.fd,
            self.name(from)?,
            &self.fd,
            self.name(to)?,
        )?)
    }

    /// Removes the file `path` of this directory; one already gone is fine.
    pub(crate) fn remove(&self, path: &Path) -> std::io::Result<()> {
        match rustix::fs::unlinkat(&self.fd, self.name(path)?, AtFlags::empty()) {
            Err(e) if e == rustix::io::Errno::NOENT => Ok(()),
            done => Ok(done?),
        }
    }

    /// Makes the directory's entries durable (after a rename).
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        Ok(rustix::fs::fsync(&self.fd)?)
    }
}

/// `dir` opened as named, or the same directory some running download
/// holds.
fn shared(dir: &Path) -> Result<Arc<Dir>, Error> {
    if let Some(held) = held(dir) {
        return Ok(held);
    }
    let opened = Arc::new(Dir::new(open_made(&absolute(dir)?)?, dir)?);
    let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    let open = open.get_or_insert_with(HashMap::new);
    if open.len() >= 64 {
        open.retain(|_, held| held.strong_count() > 0);
    }
    open.insert(dir.to_owned(), Arc::downgrade(&opened));
    Ok(opened)
}

/// The directory opened as `dir` some running download holds, if its path
/// still leads to it: one renamed away, removed or replaced is opened
/// afresh. A relative path means the current directory of the moment, so
/// this covers a change of directory too.
fn held(dir: &Path) -> Option<Arc<Dir>> {
    let held = {
        let open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        open.as_ref()?.get(dir)?.upgrade()?
    };
    let now = clock();
    if now.saturating_sub(held.checked.load(Ordering::Relaxed)) < RECHECK_MS {
        return Some(held);
    }
    let at = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let stat = rustix::fs::stat(at).ok()?;
    if (stat.st_dev, stat.st_ino) != held.id {
        return None;
    }
    held.checked.store(now, Ordering::Relaxed);
    Some(held)
}

/// `path` made absolute against the current directory, without `.`
/// components (links are not resolved).
fn absolute(path: &Path) -> Result<PathBuf, Error> {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    let absolute = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    Ok(without_cur_dir(&absolute))
}

/// Whether two spellings name one directory as parget builds paths (`""`
/// and `.` are the current one).
fn same_dir(a: &Path, b: &Path) -> bool {
    without_cur_dir(a) == without_cur_dir(b)
}

/// `path` without its `.` components.
fn without_cur_dir(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| *c != Component::CurDir)
        .collect()
}

/// Opens `dir` as named, making it first when missing.
fn open_made(dir: &Path) -> Result<OwnedFd, Error> {
    match open_dir(CWD, dir.as_os_str(), DIR_FLAGS) {
        Err(e) if e == rustix::io::Errno::NOENT => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            open_dir(CWD, dir.as_os_str(), DIR_FLAGS).map_err(|e| Error::io(dir, e.into()))
        }
        opened => opened.map_err(|e| Error::io(dir, e.into())),
    }
}

/// Opens the directory `name` of `at` with `flags`; one that may be
/// written but not read (a drop box, mode 0733) is opened `O_PATH`, which
/// every `*at` call takes (only `fsync` does not).
fn open_dir(at: impl AsFd, name: &OsStr, flags: OFlags) -> rustix::io::Result<OwnedFd> {
    let at = at.as_fd();
    match rustix::fs::openat(at, name, flags, Mode::empty()) {
        Err(e) if e == rustix::io::Errno::ACCESS => {
            let path_only = (flags - OFlags::RDONLY) | OFlags::PATH;
            rustix::fs::openat(at, name, path_only, Mode::empty())
        }
        opened => opened,
    }
}

/// Opens each component of `below` from the one before, starting at the
/// open `root`, never following a link, making the missing ones.
fn open_beneath(root_fd: &OwnedFd, root: &Path, below: &Path) -> Result<OwnedFd, Error> {
    let mut at: Option<OwnedFd> = None;
    let mut path = root.to_path_buf();
    for component in below.components() {
        let name = match component {
            Component::Normal(name) => name,
            Component::CurDir => continue,
            // Names are made safe before they get here; a path that climbs
            // or restarts is refused rather than followed.
            _ => {
                return Err(Error::io(
                    &root.join(below),
                    std::io::Error::other("leaves the output directory"),
                ))
            }
        };
        path.push(name);
        let parent = at.as_ref().unwrap_or(root_fd);
        at = Some(open_child(parent, name, &path)?);
    }
    // Nothing below (the root spelled another way, relative against
    // absolute): a descriptor of the root's own.
    match at {
        Some(at) => Ok(at),
        None => rustix::io::fcntl_dupfd_cloexec(root_fd, 0).map_err(|e| Error::io(root, e.into())),
    }
}

/// Opens (or makes, then opens) the directory `name` in `parent`.
fn open_child(parent: &OwnedFd, name: &OsStr, path: &Path) -> Result<OwnedFd, Error> {
    let flags = DIR_FLAGS | OFlags::NOFOLLOW;
    let opened = match open_dir(parent, name, flags) {
        Err(e) if e == rustix::io::Errno::NOENT => {
            match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o777)) {
                // Made by another download meanwhile: open what is there.
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(Error::io(path, e.into())),
            }
            open_dir(parent, name, flags)
        }
        opened => opened,
    };
    opened.map_err(|e| {
        let linked = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|stat| FileType::from_raw_mode(stat.st_mode).is_symlink());
        if linked {
            Error::io(
                path,
                std::io::Error::other(
                    "is a symbolic link; parget writes nothing outside the output directory",
                ),
            )
        } else {
            Error::io(path, e.into())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_directory() {
        assert!(same_dir(Path::new(""), Path::new(".")));
        assert!(same_dir(Path::new("a/./b"), Path::new("a/b")));
        assert!(same_dir(Path::new("./a"), Path::new("a")));
        assert!(!same_dir(Path::new("a"), Path::new("b")));
        assert!(!same_dir(Path::new("a/.."), Path::new("")));
    }

    #[test]
    fn only_files_of_the_directory_are_acted_on_and_nothing_climbs_out_of_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open(&tmp.path().join("d"), None).unwrap();
        assert!(tmp.path().join("d").is_dir(), "made when missing");
        let outside = tmp.path().join("other/f");
        let error = dir.remove(&outside).unwrap_err();
        assert!(
            error.to_string().contains("is not in the directory"),
            "{error}"
        );
        dir.open_file(&tmp.path().join("d/f"), OFlags::WRONLY | OFlags::CREATE)
            .unwrap();
        dir.rename(&tmp.path().join("d/f"), &tmp.path().join("d/g"))
            .unwrap();
        assert!(tmp.path().join("d/g").is_file());
        dir.remove(&tmp.path().join("d/g")).unwrap();
        dir.remove(&tmp.path().join("d/g")).unwrap();

        let root = tmp.path().join("root");
        let error = Dir::open(&root.join("a/../../x"), Some(&root)).unwrap_err();
        assert!(
            format!("{error:#}").contains("leaves the output directory"),
            "{error:#}"
        );
        assert!(!tmp.path().join("x").exists());
        // A directory opened as named is shared while a download holds
        // it, and while its path still leads to it.
        let d = tmp.path().join("shared");
        let first = Dir::open(&d, None).unwrap();
        let second = Dir::open(&d, None).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        std::fs::rename(&d, tmp.path().join("shared.old")).unwrap();
        std::fs::create_dir(&d).unwrap();
        let soon = Dir::open(&d, None).unwrap();
        assert!(Arc::ptr_eq(&first, &soon), "not looked at again so soon");
        std::thread::sleep(std::time::Duration::from_millis(RECHECK_MS + 50));
        let later = Dir::open(&d, None).unwrap();
        assert!(!Arc::ptr_eq(&first, &later), "a new directory at the path");

        // Below a root nothing is shared: every claim walks from the root,
        // so a directory moved out and linked back is refused at once.
        let held = Dir::open(&root.join("s"), Some(&root)).unwrap();
        let again = Dir::open(&root.join("s"), Some(&root)).unwrap();
        assert!(!Arc::ptr_eq(&held, &again));
        let base = Dir::open(&root, Some(&root)).unwrap();
        assert!(Arc::ptr_eq(&base, &Dir::open(&root, Some(&root)).unwrap()));
        std::fs::rename(root.join("s"), tmp.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("moved"), root.join("s")).unwrap();
        let error = Dir::open(&root.join("s"), Some(&root)).unwrap_err();
        assert!(format!("{error:#}").contains("symbolic link"), "{error:#}");
        // `root/` and `root/.` are the root, shared.
        let slashed = PathBuf::from(format!("{}/", root.display()));
        assert!(Arc::ptr_eq(
            &base,
            &Dir::open(&slashed, Some(&root)).unwrap()
        ));
        assert!(Arc::ptr_eq(
            &base,
            &Dir::open(&root.join("."), Some(&root)).unwrap()
        ));
    }

    #[test]
    fn only_a_regular_file_is_opened_to_read_and_a_fifo_never_blocks() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open(tmp.path(), None).unwrap();
        let fifo = tmp.path().join("fifo");
        rustix::fs::mknodat(
            &dir.fd,
            "fifo",
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let error = dir.open_to_read(&fifo).unwrap_err();
        assert!(error.to_string().contains("not a regular file"), "{error}");
        std::fs::write(tmp.path().join("f"), b"bytes").unwrap();
        let mut read = String::new();
        std::io::Read::read_to_string(
            &mut dir.open_to_read(&tmp.path().join("f")).unwrap(),
            &mut read,
        )
        .unwrap();
        assert_eq!(read, "bytes");
    }

    #[test]
    fn a_root_and_a_path_spelled_differently_are_still_confined() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("out");
        std::fs::create_dir_all(tmp.path().join("elsewhere")).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("elsewhere"), root.join("sub")).unwrap();
        let dotted = tmp.path().join("./out/./sub");
        let error = Dir::open(&dotted, Some(&tmp.path().join("out/."))).unwrap_err();
        assert!(format!("{error:#}").contains("symbolic link"), "{error:#}");
        // A destination outside its root is refused, not let through.
        let error = Dir::open(&tmp.path().join("elsewhere"), Some(&root)).unwrap_err();
        assert!(format!("{error:#}").contains("is not inside"), "{error:#}");
    }
}
