//! Where the bytes go: `NAME.part`, its control file, and the rename into place.
//!
//! A [`PartSink`] runs two blocking threads per large download: a writer
//! that puts ≥1 MiB buffers into `NAME.part` with positioned writes, and a
//! hasher fed the same buffers in order. Hashing inline on the receive path
//! would halve throughput (DESIGN.md), and `tokio::fs` would cost a
//! `spawn_blocking` per call, so both threads block on their channels
//! instead. Small bodies skip the threads: [`write_small`] does it all in
//! one blocking call. Nothing reaches the destination path but a fully
//! verified file, by rename.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;

use crate::error::{Error, ErrorKind};
use crate::transport::Validator;
use crate::verify::{Algorithm, Digest, Hashers};

mod positioned;
mod stream;

pub(crate) use positioned::{Finished, PieceSender, PositionedSink};
pub(crate) use stream::PartSink;

/// Buffers handed to the writer are at least this large (but the last one).
pub(crate) const FLUSH_SIZE: usize = 1 << 20;

/// Buffers a download keeps for reuse. A fresh 1 MiB allocation costs 256
/// page faults when first touched; recycling the few buffers in flight
/// (one filling, one in the channel, one being written or hashed) removes
/// them from the receive path.
const POOL_SIZE: usize = 16;

/// Emptied buffers going back from the last thread that used them to the
/// receive loop.
#[derive(Clone, Default)]
pub(crate) struct BufferPool(std::sync::Arc<std::sync::Mutex<Vec<BytesMut>>>);

impl BufferPool {
    /// The pool every download of the process shares: a list of files,
    /// each downloaded with its own fresh buffers, would otherwise fault in
    /// a new MiB of pages per file.
    pub(crate) fn shared() -> BufferPool {
        static SHARED: std::sync::OnceLock<BufferPool> = std::sync::OnceLock::new();
        SHARED.get_or_init(BufferPool::default).clone()
    }

    /// A cleared buffer of at least [`FLUSH_SIZE`] capacity.
    pub(crate) fn take(&self) -> BytesMut {
        let recycled = self.0.lock().unwrap_or_else(|e| e.into_inner()).pop();
        recycled.unwrap_or_else(|| BytesMut::with_capacity(FLUSH_SIZE))
    }

    /// Returns `bytes` to the pool when nobody else holds it.
    pub(super) fn give(&self, bytes: Bytes) {
        if let Ok(mut buffer) = bytes.try_into_mut() {
            if buffer.capacity() >= FLUSH_SIZE {
                buffer.clear();
                let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
                if pool.len() < POOL_SIZE {
                    pool.push(buffer);
                }
            }
        }
    }
}

/// `NAME.part` for `NAME`.
pub(crate) fn part_path(destination: &Path) -> PathBuf {
    with_suffix(destination, ".part")
}

/// The control file beside `NAME.part`.
pub(crate) fn control_path(destination: &Path) -> PathBuf {
    with_suffix(destination, ".part.parget")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// What the control file records: enough to tell, on `--continue`, whether
/// the bytes in `NAME.part` belong to this download and may be extended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Control {
    /// Format version, bumped on incompatible changes.
    pub version: u32,
    /// The URL the bytes came from.
    pub url: String,
    /// The resource size, when the server announced it.
    pub total: Option<u64>,
    /// The validators the bytes came with.
    pub validator: Validator,
    /// For a segmented download: the byte ranges durable in `NAME.part`
    /// (half-open `[start, end)` pairs). Absent for a single stream, whose
    /// bytes are the file's length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Vec<[u64; 2]>>,
}

pub(crate) const CONTROL_VERSION: u32 = 1;

/// Reads a control file; `Ok(None)` when there is none.
pub(crate) fn read_control(path: &Path) -> Result<Option<Control>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::new(
                ErrorKind::ResumeRefused(format!(
                    "{} is not a parget control file",
                    path.display()
                )),
                None,
            )
            .with_source(e)
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Writes a control file atomically (temporary file, then rename), so a
/// crash leaves the old one or the new one, never half of one.
pub(super) fn write_control(path: &Path, control: &Control) -> Result<(), Error> {
    let tmp = with_suffix(path, ".tmp");
    let json =
        serde_json::to_vec(control).map_err(|e| Error::io(path, std::io::Error::other(e)))?;
    std::fs::write(&tmp, json).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

pub(super) fn create_parent(path: &Path) -> Result<(), Error> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
        }
        _ => Ok(()),
    }
}

pub(super) async fn join<T>(handle: JoinHandle<T>) -> Result<T, Error> {
    handle
        .await
        .map_err(|e| Error::io(Path::new(""), std::io::Error::other(e)))
}

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    join(tokio::task::spawn_blocking(f)).await?
}

/// Hashes a whole body held in memory (small downloads).
pub(crate) async fn hash_bytes(
    bytes: Bytes,
    algorithms: Vec<Algorithm>,
) -> Result<Vec<Digest>, Error> {
    let in_place = bytes.len() <= WRITE_IN_PLACE || algorithms.is_empty();
    let hash = move || {
        let mut hashers = Hashers::new(algorithms);
        hashers.update(&bytes);
        Ok(hashers.finish())
    };
    // Small bodies hash in microseconds: cheaper than a thread hand-off
    // (see WRITE_IN_PLACE).
    if in_place {
        return hash();
    }
    blocking(hash).await
}

/// Bodies up to this size are written in place, on the calling thread.
/// Handing them to a blocking thread costs two thread wake-ups, more than
/// the open, write and rename of a few pages into the page cache; that is
/// most of the per-file cost when fetching thousands of small files.
const WRITE_IN_PLACE: usize = 64 * 1024;

/// Writes a small, already verified body to `NAME.part` and renames it into
/// place, in one blocking call (or in place for the smallest bodies).
pub(crate) async fn write_small(
    destination: PathBuf,
    bytes: Bytes,
    fsync: bool,
) -> Result<(), Error> {
    if bytes.len() <= WRITE_IN_PLACE && !fsync {
        return write_whole(&destination, &bytes, fsync);
    }
    blocking(move || write_whole(&destination, &bytes, fsync)).await
}

/// Writes `bytes` to `NAME.part` and renames it to `destination`.
fn write_whole(destination: &Path, bytes: &[u8], fsync: bool) -> Result<(), Error> {
    let part = part_path(destination);
    // The common case costs one open: the directory exists and no earlier
    // `.part` is in the way. Only a failed open pays for creating
    // directories or clearing an earlier run's leftovers.
    let create_new = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&part)
    };
    let (file, leftovers) = match create_new() {
        Ok(file) => (file, false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_parent(&part)?;
            (create_new().map_err(|e| Error::io(&part, e))?, false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            (File::create(&part).map_err(|e| Error::io(&part, e))?, true)
        }
        Err(e) => return Err(Error::io(&part, e)),
    };
    file.write_all_at(bytes, 0)
        .map_err(|e| Error::io(&part, e))?;
    // An earlier run's control file can only be there beside its `.part`.
    let control = leftovers.then(|| control_path(destination));
    finish_rename(file, &part, destination, control.as_deref(), fsync)
}

/// Renames a verified `NAME.part` into place and removes its control file.
pub(crate) async fn commit(file: File, destination: PathBuf, fsync: bool) -> Result<(), Error> {
    blocking(move || {
        let part = part_path(&destination);
        let control = control_path(&destination);
        finish_rename(file, &part, &destination, Some(&control), fsync)
    })
    .await
}

fn finish_rename(
    file: File,
    part: &Path,
    destination: &Path,
    control: Option<&Path>,
    fsync: bool,
) -> Result<(), Error> {
    if fsync {
        file.sync_all().map_err(|e| Error::io(part, e))?;
    }
    drop(file);
    std::fs::rename(part, destination).map_err(|e| Error::io(destination, e))?;
    if let Some(control) = control {
        remove_if_present(control)?;
    }
    if fsync {
        sync_parent(destination)?;
    }
    Ok(())
}

/// Makes a rename into `destination`'s directory durable.
fn sync_parent(destination: &Path) -> Result<(), Error> {
    match destination.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, e)),
        None => Ok(()),
    }
}

fn remove_if_present(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}

/// Removes `NAME.part` and its control file: their bytes are known wrong.
pub(crate) async fn discard(destination: PathBuf) {
    let _ = blocking(move || {
        remove_if_present(&part_path(&destination))?;
        remove_if_present(&control_path(&destination))
    })
    .await;
}

/// What an existing destination holds, for the skip check.
pub(crate) struct Existing {
    pub len: u64,
    pub digests: Vec<Digest>,
}

/// Looks at an existing destination: `Ok(None)` when there is none; its
/// size and, when `algorithms` are given, its digests otherwise.
pub(crate) async fn inspect_existing(
    destination: PathBuf,
    algorithms: Vec<Algorithm>,
) -> Result<Option<Existing>, Error> {
    // One stat, done in place: handing it to a blocking thread would cost
    // more than the call (two thread wake-ups per file), and most
    // destinations do not exist yet.
    let meta = match std::fs::metadata(&destination) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&destination, e)),
    };
    if !meta.is_file() {
        return Err(Error::io(
            &destination,
            std::io::Error::other("exists and is not a regular file"),
        ));
    }
    if algorithms.is_empty() {
        return Ok(Some(Existing {
            len: meta.len(),
            digests: Vec::new(),
        }));
    }
    blocking(move || {
        let digests = {
            let mut hashers = Hashers::new(algorithms);
            let mut file = File::open(&destination).map_err(|e| Error::io(&destination, e))?;
            let mut buf = vec![0u8; FLUSH_SIZE];
            loop {
                match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => hashers.update(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Error::io(&destination, e)),
                }
            }
            hashers.finish()
        };
        Ok(Some(Existing {
            len: meta.len(),
            digests,
        }))
    })
    .await
}

/// What `--continue` finds beside a destination.
pub(crate) struct Resumable {
    pub part_len: u64,
    pub control: Option<Control>,
}

/// Looks for an earlier run's `NAME.part` and control file.
pub(crate) async fn inspect_part(destination: PathBuf) -> Result<Option<Resumable>, Error> {
    blocking(move || {
        let part = part_path(&destination);
        let part_len = match std::fs::metadata(&part) {
            Ok(meta) if meta.is_file() => meta.len(),
            Ok(_) => {
                return Err(Error::io(
                    &part,
                    std::io::Error::other("is not a regular file"),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&part, e)),
        };
        let control = read_control(&control_path(&destination))?;
        Ok(Some(Resumable { part_len, control }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_and_control_names_sit_beside_the_destination() {
        assert_eq!(part_path(Path::new("d/f.bin")), Path::new("d/f.bin.part"));
        assert_eq!(
            control_path(Path::new("f.bin")),
            Path::new("f.bin.part.parget")
        );
    }
}
