//! Where the bytes go: `NAME.part` (locked by its download), its control
//! file, and the rename into place.
//!
//! A [`Sink`] runs blocking threads per large download: a writer that puts
//! ≥1 MiB buffers into `NAME.part` with positioned writes, and a hasher
//! that follows the contiguous written frontier. Hashing inline on the
//! receive path would halve throughput (DESIGN.md), and `tokio::fs` would
//! cost a `spawn_blocking` per call, so both threads block on their
//! channels instead. Small bodies skip the threads: [`write_small`] does it
//! all in one call. Nothing reaches the destination path but a fully
//! verified file, by rename.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::verify::{Algorithm, Digest, Hashers};

mod control;
mod dir;
mod part;
mod positioned;

pub(crate) use control::{
    control_path, control_tmp_path, part_path, read_control, Control, ReadControl, Record,
    Recorded, CONTROL_VERSION,
};
pub(crate) use part::{lock as lock_part, PartFile};
pub(crate) use positioned::{FileTarget, Layout, PieceSender, Sink};

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

pub(super) async fn join<T>(handle: JoinHandle<T>) -> Result<T, Error> {
    handle
        .await
        .map_err(|e| Error::io(Path::new("a blocking task"), std::io::Error::other(e)))
}

pub(crate) async fn blocking<T: Send + 'static>(
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
/// the write and rename of a few pages into the page cache; that is most
/// of the per-file cost when fetching thousands of small files.
const WRITE_IN_PLACE: usize = 64 * 1024;

/// Writes a small, already verified body to the locked `NAME.part` and
/// renames it into place, in one blocking call (or in place for the
/// smallest bodies).
pub(crate) async fn write_small(
    part: Arc<PartFile>,
    destination: PathBuf,
    bytes: Bytes,
    fsync: bool,
) -> Result<(), Error> {
    if bytes.len() <= WRITE_IN_PLACE && !fsync {
        return write_whole(&part, &destination, &bytes, fsync);
    }
    blocking(move || write_whole(&part, &destination, &bytes, fsync)).await
}

/// Writes `bytes` to `part` and renames it to `destination`. A part file
/// created for this download and not written yet costs one write and the
/// rename; one that holds other bytes (an earlier run's, or an earlier
/// attempt's of this run that streamed into it before the file started
/// over) is cut to the new length and its control file removed. Without
/// the cut, 100 kB fetched afresh over 150 kB of a first attempt were put
/// in place as 150 kB, the old tail after the new bytes.
fn write_whole(
    part: &PartFile,
    destination: &Path,
    bytes: &[u8],
    fsync: bool,
) -> Result<(), Error> {
    let file = part.file();
    file.write_all_at(bytes, 0)
        .map_err(|e| Error::io(part.path(), e))?;
    let leftovers = !part.created() || part.is_used();
    if leftovers {
        file.set_len(bytes.len() as u64)
            .map_err(|e| Error::io(part.path(), e))?;
    }
    // A control file can only be there beside a `.part` that held bytes.
    let control = leftovers.then(|| control_path(destination));
    finish_rename(part, destination, control.as_deref(), fsync)
}

/// Renames a verified `NAME.part` into place and removes its control file.
pub(crate) async fn commit(
    part: Arc<PartFile>,
    destination: PathBuf,
    fsync: bool,
) -> Result<(), Error> {
    blocking(move || {
        let control = control_path(&destination);
        finish_rename(&part, &destination, Some(&control), fsync)
    })
    .await
}

fn finish_rename(
    part: &PartFile,
    destination: &Path,
    control: Option<&Path>,
    fsync: bool,
) -> Result<(), Error> {
    if fsync {
        part.file()
            .sync_all()
            .map_err(|e| Error::io(part.path(), e))?;
    }
    // From here on the file is the destination's, whatever happens next.
    part.mark_used();
    // Through the directory the part file was made in, whatever its path
    // leads to now (see `dir`).
    let dir = part.dir();
    dir.rename(part.path(), destination)
        .map_err(|e| Error::io(destination, e))?;
    if let Some(control) = control {
        dir.remove(control).map_err(|e| Error::io(control, e))?;
    }
    if fsync {
        // Makes the rename durable.
        let parent = destination.parent().unwrap_or(Path::new("."));
        dir.sync().map_err(|e| Error::io(parent, e))?;
    }
    Ok(())
}

/// Removes `NAME.part` and its control file: their bytes are known wrong.
/// Only while the download holds `part`, and through the directory it was
/// made in (see `dir`): by path, the names could be another writer's.
pub(crate) async fn discard(destination: PathBuf, part: Arc<PartFile>) {
    let _ = blocking(move || {
        // A part file no longer at its path was removed or replaced by
        // someone else: the names are no longer this download's.
        if !part.is_in_place() {
            return Ok(());
        }
        for helper in [part_path(&destination), control_path(&destination)] {
            part.dir()
                .remove(&helper)
                .map_err(|e| Error::io(&helper, e))?;
        }
        Ok(())
    })
    .await;
}
