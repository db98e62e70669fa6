//! The sink of every download: pieces arrive in order (one stream) or out
//! of order (segments), each with its offset.
//!
//! For a file, one writer thread puts every piece into `NAME.part` with a
//! positioned write and then appends a record of it, with the CRC32C of
//! the piece's buffer, to the control file (see `control`): the control
//! file is up to date with every write, without a flush to disk, and a
//! resume trusts only the recorded ranges whose bytes still match. A hasher
//! thread follows the contiguous written frontier, hashing a piece straight
//! from its buffer when it is the next one, and otherwise reading back from
//! the page cache what was written ahead, so the digest is ready when the
//! last byte lands.
//!
//! In memory, one thread keeps the pieces by offset and hashes them in order.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::control::ControlLog;
use super::{blocking, join, BufferPool, Control, PartFile, Record, FLUSH_SIZE};
use crate::error::Error;
use crate::plan::RangeSet;
use crate::verify::{Algorithm, Digest, Hashers};

/// How a part file's contents are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Written in order from the start (one stream): the file grows as it
    /// is written, and is cut after the bytes kept from earlier.
    Prefix,
    /// Ranges anywhere in a file preallocated to `len` bytes (segments).
    Ranges {
        /// The file's size.
        len: u64,
    },
}

/// Where a file sink keeps its bytes and its records.
pub(crate) struct FileTarget {
    /// `NAME.part`, locked by the download.
    pub part: Arc<PartFile>,
    /// The control file and its temporary twin.
    pub control: PathBuf,
    pub control_tmp: PathBuf,
    /// What the control file's header says.
    pub header: Control,
}

/// A piece of the file: bytes at an offset.
struct Piece {
    offset: u64,
    bytes: Bytes,
}

/// Sends pieces to the sink; cheap to clone, one per worker.
#[derive(Clone)]
pub(crate) struct PieceSender {
    tx: mpsc::Sender<Piece>,
    pool: BufferPool,
    /// The file written, named when the writer stopped (`None` in memory).
    part: Option<Arc<PathBuf>>,
    /// Set once the writer takes pieces: after the file is preallocated.
    ready: Arc<AtomicBool>,
    /// How long the writer and the hasher have each been at work.
    busy: Arc<Busy>,
}

/// Nanoseconds the sink's writer and hasher threads have spent working
/// (writing and recording a piece, hashing one), waits for pieces not
/// counted. A thread at work nearly all the time is the download's limit:
/// more connections cannot make it faster.
#[derive(Default)]
struct Busy {
    writer: AtomicU64,
    hasher: AtomicU64,
}

impl Busy {
    fn add(counter: &AtomicU64, since: Instant) {
        let nanos = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        counter.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The time the busier of the two has worked.
    fn most(&self) -> Duration {
        let writer = self.writer.load(Ordering::Relaxed);
        let hasher = self.hasher.load(Ordering::Relaxed);
        Duration::from_nanos(writer.max(hasher))
    }
}

impl PieceSender {
    /// Hands `bytes`, which belong at `offset`, to the writer. Waits while
    /// the writer is behind, so memory stays bounded.
    pub(crate) async fn send(&self, offset: u64, bytes: Bytes) -> Result<(), Error> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.tx.send(Piece { offset, bytes }).await.map_err(|_| {
            // The writer's own error (a full disk, say) comes back from
            // `Sink::finish`; this one only says where.
            let part = self
                .part
                .as_deref()
                .map_or(Path::new("memory"), |p| p.as_path());
            Error::io(part, std::io::Error::other("the writer stopped"))
        })
    }

    /// A cleared buffer for the next piece.
    pub(crate) fn buffer(&self) -> BytesMut {
        self.pool.take()
    }

    /// True once the writer takes pieces. Until then (preallocating a
    /// large file on tmpfs takes a third of a second a GiB) connections
    /// stall on the client, not the network, and a rate measured then
    /// says nothing about the network.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// How long the busier of the sink's threads (the writer, the hasher)
    /// has been at work so far: the connection controller's sign that the
    /// client, not the network, is the limit.
    pub(crate) fn busy(&self) -> Duration {
        self.busy.most()
    }
}

/// What a finished positioned sink holds.
pub(crate) struct Finished {
    /// The `.part` file (file storage), to be fsynced and renamed.
    pub file: Option<Arc<PartFile>>,
    /// The body (memory storage).
    pub data: Option<Bytes>,
    /// Bytes covered, from 0 (a gap would make this short of the size).
    pub len: u64,
    /// The digests of the bytes, in algorithm order.
    pub digests: Vec<Digest>,
}

/// Where the bytes of one download go: `NAME.part` or memory.
pub(crate) struct Sink {
    sender: PieceSender,
    thread: JoinHandle<Result<Finished, Error>>,
}

impl Sink {
    /// A sink writing into `target`'s part file in `layout`. `kept` are
    /// verified records of bytes already in the file (an earlier run's);
    /// for a prefix, the file is cut after the first gap in them, and
    /// records beyond it are dropped. Everything else is overwritten. The
    /// control file is written afresh with the records kept, and grows by
    /// one record per piece written.
    pub(crate) async fn open_file(
        target: FileTarget,
        layout: Layout,
        kept: Vec<Record>,
        algorithms: Vec<Algorithm>,
    ) -> Result<Sink, Error> {
        let FileTarget {
            part,
            control,
            control_tmp,
            header,
        } = target;
        let announced = header.total;
        let mut done = RangeSet::from_ranges(kept.iter().map(Record::range));
        let (kept, cut_at) = match layout {
            Layout::Prefix => {
                let frontier = done.frontier();
                done = RangeSet::from_ranges((frontier > 0).then_some(0..frontier));
                let kept = kept.into_iter().filter(|r| r.range().end <= frontier);
                (kept.collect(), Some(frontier))
            }
            // Nothing to keep: drop whatever an earlier file held.
            Layout::Ranges { .. } => (kept, done.is_empty().then_some(0)),
        };
        let open_part = part.clone();
        let log = blocking(move || {
            // The control file first: when it cannot be written (a link
            // planted at its name, a full disk), a part file made for this
            // download is still unused, and goes.
            let log = ControlLog::create(open_part.dir(), &control, &control_tmp, &header, &kept)?;
            open_part.mark_used();
            if let Some(len) = cut_at {
                open_part
                    .file()
                    .set_len(len)
                    .map_err(|e| Error::io(open_part.path(), e))?;
            }
            Ok(log)
        })
        .await?;

        let pool = BufferPool::shared();
        let sender_part = Arc::new(part.path().to_owned());
        let busy = Arc::new(Busy::default());
        let (tx, rx) = mpsc::channel(4);
        let (hasher, hash_tx) = if algorithms.is_empty() {
            (None, None)
        } else {
            let (hash_tx, hash_rx) = mpsc::channel(4);
            let reader = part.clone();
            let known = done.clone();
            let hash_pool = pool.clone();
            let hash_busy = busy.clone();
            let handle = std::thread::Builder::new()
                .name("parget-hash".into())
                .spawn(move || {
                    hash_frontier(reader, known, algorithms, hash_rx, &hash_pool, &hash_busy)
                })
                .map_err(|e| Error::io(part.path(), e))?;
            (Some(handle), Some(hash_tx))
        };
        let ready = Arc::new(AtomicBool::new(layout == Layout::Prefix));
        let writer = FileWriter {
            layout,
            announced,
            part,
            log,
            written: done,
            hash_tx,
            pool: pool.clone(),
            ready: ready.clone(),
            busy: busy.clone(),
        };
        let thread = tokio::task::spawn_blocking(move || writer.run(rx, hasher));
        Ok(Sink {
            sender: PieceSender {
                tx,
                pool,
                part: Some(sender_part),
                ready,
                busy,
            },
            thread,
        })
    }

    /// A sink keeping the body in memory.
    pub(crate) fn open_memory(algorithms: Vec<Algorithm>) -> Sink {
        let pool = BufferPool::shared();
        let (tx, rx) = mpsc::channel(4);
        let thread = tokio::task::spawn_blocking(move || keep_in_memory(rx, algorithms));
        Sink {
            sender: PieceSender {
                tx,
                pool,
                part: None,
                ready: Arc::new(AtomicBool::new(true)),
                busy: Arc::default(),
            },
            thread,
        }
    }

    /// A sender for a worker.
    pub(crate) fn sender(&self) -> PieceSender {
        self.sender.clone()
    }

    /// True when the writer stopped early: it failed, and
    /// [`Sink::finish`] returns its error.
    pub(crate) fn stopped(&self) -> bool {
        self.sender.tx.is_closed()
    }

    /// Waits until every piece sent (by every sender, all of which must be
    /// dropped first) is stored, recorded and hashed. Whatever the end,
    /// the control file then records every byte written.
    pub(crate) async fn finish(self) -> Result<Finished, Error> {
        drop(self.sender);
        join(self.thread).await?
    }
}

/// Reserves the file's blocks up front (fewer fragments, and a full disk
/// shows at once), falling back to a sparse length where the filesystem
/// has no fallocate.
///
/// On a filesystem in memory (tmpfs, ramfs) reserving means allocating
/// and charging every page before the first byte is written: half a
/// second per GiB on one thread, while the writes that follow would have
/// allocated the same pages as they went (measured on a verified 1 GiB:
/// 1.46–1.65 s with the reservation, 1.37 s without). There the file gets
/// its length sparse, and a file larger than the free space the
/// filesystem reports, less what this process's other sparse files there
/// still need ([`FILLING`]), fails at once. Unlike a reservation this
/// promises nothing against other processes (they can still fill it
/// mid-stream, which fails cleanly and leaves what `-c` resumes). Memory
/// has no fragments to avoid.
fn preallocate(part: &Arc<PartFile>, len: u64) -> std::io::Result<()> {
    make_room(part, len, Sizing::Sized)
}

/// What [`make_room`] does with a part file once there is room.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sizing {
    /// Given its length, reserved where the filesystem can (segments
    /// write anywhere in it).
    Sized,
    /// Left to grow as it is written (one stream), the room only checked
    /// and, in memory, counted against the files after it.
    Checked,
}

/// Fails when the filesystem has no room for a part file of `len`
/// bytes, counting what the other files being filled in memory still
/// need, and sizes the file as `sizing` says.
fn make_room(part: &Arc<PartFile>, len: u64, sizing: Sizing) -> std::io::Result<()> {
    let file = part.file();
    if len > 0 {
        if free_in_memory_filesystem(file).is_some() {
            let mut filling = FILLING.lock().unwrap_or_else(|e| e.into_inner());
            // Read under the lock, with what the others still need: what
            // they write meanwhile is then off one figure or the other.
            let free = free_in_memory_filesystem(file).unwrap_or(0);
            let meta = file.metadata()?;
            // Dropped files go, and so does an earlier size of this one.
            filling.retain(|f| {
                f.part.strong_count() > 0 && !std::ptr::eq(f.part.as_ptr(), Arc::as_ptr(part))
            });
            let promised = still_needed(&filling, meta.dev(), part);
            let needed = len.saturating_sub(meta.blocks() * 512);
            if needed > free.saturating_sub(promised) {
                return Err(no_room(len, free.saturating_sub(promised)));
            }
            if sizing == Sizing::Sized {
                file.set_len(len)?;
            }
            filling.push(Filling {
                device: meta.dev(),
                part: Arc::downgrade(part),
                len,
            });
            return Ok(());
        }
        // A length the filesystem has no room for fails before anything
        // is reserved: an announced size (a server's word) must not be
        // able to fill the disk.
        let meta = file.metadata()?;
        let needed = len.saturating_sub(meta.blocks() * 512);
        if let Some(free) = free_space(file).filter(|free| needed > *free) {
            return Err(no_room(len, free));
        }
        if sizing == Sizing::Checked {
            return Ok(());
        }
        match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
            Ok(()) => return Ok(()),
            Err(e) if e == rustix::io::Errno::NOSPC => {
                // Another writer took the space meanwhile. What was
                // reserved before the filesystem ran out (a failed
                // fallocate keeps it, and the length it reached) is given
                // back: the bytes an earlier run wrote stay.
                file.set_len(meta.len())?;
                return Err(no_room(len, free_space(file).unwrap_or(0)));
            }
            Err(_) => {}
        }
    }
    file.set_len(len)
}

/// The error for a file of `len` bytes where `free` bytes are free.
fn no_room(len: u64, free: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::StorageFull,
        format!("No space left on device for its {len} bytes ({free} bytes free)"),
    )
}

/// The bytes an unprivileged writer may still use on the filesystem of
/// `file`, when it says.
fn free_space(file: &std::fs::File) -> Option<u64> {
    let stat = rustix::fs::fstatvfs(file).ok()?;
    // A filesystem with no size to report (some FUSE ones) says nothing.
    (stat.f_blocks > 0).then(|| stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// The sparse files this process sized on a filesystem in memory and may
/// still be filling. Without them, several large files started at once
/// would each count the same free space, and fill the filesystem
/// mid-stream.
static FILLING: std::sync::Mutex<Vec<Filling>> = std::sync::Mutex::new(Vec::new());

/// One sparse file of [`FILLING`]; gone once its download drops the file.
struct Filling {
    device: u64,
    part: std::sync::Weak<PartFile>,
    len: u64,
}

/// The bytes the files of `filling` on `device`, other than `part`, still
/// need to reach their lengths (what they have written is already off the
/// free space).
fn still_needed(filling: &[Filling], device: u64, part: &Arc<PartFile>) -> u64 {
    filling
        .iter()
        .filter(|f| f.device == device)
        .filter_map(|f| {
            let other = f.part.upgrade().filter(|other| !Arc::ptr_eq(other, part))?;
            let held = other.file().metadata().ok()?.blocks() * 512;
            Some(f.len.saturating_sub(held))
        })
        .sum()
}

/// The bytes free to an unprivileged writer when `file` lives on a
/// filesystem in memory; `None` on any other (or when unknown).
fn free_in_memory_filesystem(file: &std::fs::File) -> Option<u64> {
    // The superblock magic numbers of linux/magic.h.
    const TMPFS_MAGIC: u64 = 0x0102_1994;
    const RAMFS_MAGIC: u64 = 0x8584_58f6;
    let stat = rustix::fs::fstatfs(file).ok()?;
    // f_type's width differs between targets; the magic numbers fit in 32 bits.
    #[allow(clippy::unnecessary_cast)]
    let kind = stat.f_type as u64 & 0xffff_ffff;
    #[allow(clippy::unnecessary_cast)]
    let free = (stat.f_bavail as u64).saturating_mul(stat.f_bsize as u64);
    match kind {
        // A tmpfs mounted with `size=0` has no limit and reports no blocks.
        TMPFS_MAGIC if stat.f_blocks == 0 => Some(u64::MAX),
        TMPFS_MAGIC => Some(free),
        // ramfs has no size limit and reports no free blocks.
        RAMFS_MAGIC => Some(u64::MAX),
        _ => None,
    }
}

struct FileWriter {
    layout: Layout,
    /// The size the server announced for the whole file, when it did.
    announced: Option<u64>,
    part: Arc<PartFile>,
    log: ControlLog,
    written: RangeSet,
    hash_tx: Option<mpsc::Sender<Piece>>,
    pool: BufferPool,
    /// Told once pieces are taken (see [`PieceSender::is_ready`]).
    ready: Arc<AtomicBool>,
    busy: Arc<Busy>,
}

impl FileWriter {
    fn run(
        mut self,
        mut rx: mpsc::Receiver<Piece>,
        hasher: Option<std::thread::JoinHandle<Result<Hashers, Error>>>,
    ) -> Result<Finished, Error> {
        // Preallocating can take milliseconds on a disk: done here, it
        // overlaps the segments' connection setup
        // instead of delaying it, and pieces wait in the channel meanwhile.
        let preallocated = match (self.layout, self.announced) {
            (Layout::Ranges { len }, _) => preallocate(&self.part, len),
            // One stream grows its file as it writes, but an announced
            // size with no room for it fails here too, before the disk
            // fills: a server's word must not fill it either way.
            (Layout::Prefix, Some(len)) => make_room(&self.part, len, Sizing::Checked),
            (Layout::Prefix, None) => Ok(()),
        };
        self.ready.store(true, Ordering::Release);
        if preallocated.is_err() && self.part.created() && self.written.is_empty() {
            // A file that could not be given its size (most often: no
            // room), in a part file this download made and never wrote
            // to: its control file goes now and its part file with its
            // last handle, as for a download that never started, instead
            // of leaving two empty helpers beside the destination.
            self.log.remove(self.part.dir());
            self.part.mark_unused();
        }
        let result = preallocated
            .map_err(|e| Error::io(self.part.path(), e))
            .and_then(|()| self.write_all(&mut rx));
        // Stop the hasher whatever happened, then wait for it.
        drop(self.hash_tx.take());
        let hashed = hasher.map(|h| h.join().map_err(|_| self.thread_died("hasher")));
        result?;
        let digests = match hashed {
            Some(hashed) => {
                let hashers = hashed??;
                hashers.finish()
            }
            None => Vec::new(),
        };
        Ok(Finished {
            len: self.written.frontier(),
            file: Some(self.part),
            data: None,
            digests,
        })
    }

    fn write_all(&mut self, rx: &mut mpsc::Receiver<Piece>) -> Result<(), Error> {
        while let Some(piece) = rx.blocking_recv() {
            let working = Instant::now();
            let end = piece.offset + piece.bytes.len() as u64;
            self.part
                .file()
                .write_all_at(&piece.bytes, piece.offset)
                .map_err(|e| Error::io(self.part.path(), e))?;
            // Recorded once written, with the checksum of the buffer just
            // written (hot in the cache; hardware CRC32C runs at many GB/s),
            // so the record never claims bytes the write did not make.
            for record in Record::of(piece.offset, &piece.bytes) {
                self.log.append(&record)?;
            }
            self.written.insert(piece.offset..end);
            Busy::add(&self.busy.writer, working);
            match &self.hash_tx {
                Some(tx) => {
                    if tx.blocking_send(piece).is_err() {
                        return Err(self.thread_died("hasher"));
                    }
                }
                None => self.pool.give(piece.bytes),
            }
        }
        Ok(())
    }

    fn thread_died(&self, which: &str) -> Error {
        Error::io(
            self.part.path(),
            std::io::Error::other(format!("the {which} thread stopped")),
        )
    }
}

/// Hashes the file in order as its contiguous written frontier advances.
fn hash_frontier(
    reader: Arc<PartFile>,
    known: RangeSet,
    algorithms: Vec<Algorithm>,
    mut rx: mpsc::Receiver<Piece>,
    pool: &BufferPool,
    busy: &Busy,
) -> Result<Hashers, Error> {
    let mut frontier = Frontier {
        reader,
        known,
        hashed: 0,
        hashers: Hashers::new(algorithms),
        scratch: Vec::new(),
    };
    frontier.catch_up()?;
    while let Some(piece) = rx.blocking_recv() {
        let working = Instant::now();
        frontier.take(&piece);
        pool.give(piece.bytes);
        frontier.catch_up()?;
        Busy::add(&busy.hasher, working);
    }
    Ok(frontier.hashers)
}

/// The hashing side of a positioned sink: what is on disk, and how far
/// the digest has got through it.
struct Frontier {
    reader: Arc<PartFile>,
    /// Ranges written so far (the writer's, as it reported them).
    known: RangeSet,
    /// Bytes hashed, from 0.
    hashed: u64,
    hashers: Hashers,
    /// Read-back buffer, allocated on first use.
    scratch: Vec<u8>,
}

impl Frontier {
    /// Records a written piece, hashing it from its buffer when it is the
    /// next bytes in order.
    fn take(&mut self, piece: &Piece) {
        let end = piece.offset + piece.bytes.len() as u64;
        self.known.insert(piece.offset..end);
        if piece.offset == self.hashed {
            self.hashers.update(&piece.bytes);
            self.hashed = end;
        }
    }

    /// Reads back and hashes what was written ahead of `hashed`, up to the
    /// contiguous frontier. The bytes are in the page cache: a copy, not a
    /// disk read.
    fn catch_up(&mut self) -> Result<(), Error> {
        let frontier = self.known.frontier();
        while self.hashed < frontier {
            if self.scratch.is_empty() {
                self.scratch.resize(FLUSH_SIZE, 0);
            }
            let want = (frontier - self.hashed).min(self.scratch.len() as u64) as usize;
            self.reader
                .file()
                .read_exact_at(&mut self.scratch[..want], self.hashed)
                .map_err(|e| Error::io(self.reader.path(), e))?;
            self.hashers.update(&self.scratch[..want]);
            self.hashed += want as u64;
        }
        Ok(())
    }
}

/// Keeps pieces by offset, hashing them in order as the gaps close.
fn keep_in_memory(
    mut rx: mpsc::Receiver<Piece>,
    algorithms: Vec<Algorithm>,
) -> Result<Finished, Error> {
    let mut pieces: BTreeMap<u64, Bytes> = BTreeMap::new();
    let mut hashers = Hashers::new(algorithms);
    let mut hashed = 0u64;
    while let Some(piece) = rx.blocking_recv() {
        pieces.insert(piece.offset, piece.bytes);
        while let Some(next) = pieces.get(&hashed) {
            hashers.update(next);
            hashed += next.len() as u64;
        }
    }
    let data = if pieces.len() == 1 && pieces.contains_key(&0) {
        pieces.into_values().next().unwrap_or_default()
    } else {
        let mut all = BytesMut::with_capacity(usize::try_from(hashed).unwrap_or(0));
        for (offset, bytes) in pieces {
            if offset != all.len() as u64 {
                break;
            }
            all.extend_from_slice(&bytes);
        }
        all.freeze()
    };
    Ok(Finished {
        file: None,
        len: data.len() as u64,
        data: Some(data),
        digests: hashers.finish(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{lock_part, read_control, ReadControl, CONTROL_VERSION};
    use crate::transport::Validator;
    use crate::verify::digest_of;
    use tokio_util::sync::CancellationToken;

    /// A directory on the machine's tmpfs (`/dev/shm`), or `None` with a
    /// note where there is none.
    fn dir_in_memory() -> Option<tempfile::TempDir> {
        let dir = tempfile::tempdir_in("/dev/shm").ok()?;
        let probe = std::fs::File::create(dir.path().join("probe")).ok()?;
        if free_in_memory_filesystem(&probe).is_none() {
            eprintln!("note: skipped: /dev/shm is not a tmpfs here");
            return None;
        }
        Some(dir)
    }

    async fn part_in(dir: &Path, name: &str) -> Arc<PartFile> {
        lock_part(&dir.join(name), None, false, &CancellationToken::new())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn on_a_filesystem_in_memory_the_file_is_sized_sparse_and_a_full_one_fails_at_once() {
        let Some(dir) = dir_in_memory() else {
            return;
        };
        let part = part_in(dir.path(), "f").await;
        preallocate(&part, 8 << 20).unwrap();
        let meta = part.file().metadata().unwrap();
        assert_eq!(meta.len(), 8 << 20);
        assert_eq!(
            meta.blocks(),
            0,
            "no page was allocated ahead of the writes"
        );

        let free = free_in_memory_filesystem(part.file()).unwrap();
        if free < u64::MAX / 2 {
            let err = preallocate(&part, free + (64 << 20)).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::StorageFull, "{err}");
            let len = part.file().metadata().unwrap().len();
            assert_eq!(len, 8 << 20, "left as it was");
        }
    }

    #[tokio::test]
    async fn sparse_files_still_being_filled_count_against_the_next_ones_free_space() {
        let Some(dir) = dir_in_memory() else {
            return;
        };
        let first = part_in(dir.path(), "a").await;
        let free = free_in_memory_filesystem(first.file()).unwrap();
        if free >= u64::MAX / 2 {
            eprintln!("note: skipped: /dev/shm has no size limit here");
            return;
        }
        // Sparse: none of these sizes takes memory.
        let two_thirds = free / 3 * 2;
        preallocate(&first, two_thirds).unwrap();
        let second = part_in(dir.path(), "b").await;
        let err = preallocate(&second, two_thirds).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::StorageFull, "{err}");
        assert_eq!(second.file().metadata().unwrap().len(), 0, "left as it was");

        // What the first has written is off the free space and off what it
        // still needs: counted once, so a quarter still fits beside it.
        first.file().write_all_at(&[1u8; 1 << 20], 0).unwrap();
        preallocate(&second, free / 4).unwrap();
        // Sizing a file again replaces its earlier size (not counted twice
        // against a third file).
        preallocate(&second, free / 4).unwrap();
        let third = part_in(dir.path(), "c").await;
        let left = free - two_thirds - free / 4;
        preallocate(&third, left / 2).unwrap();

        // A dropped file needs nothing more.
        drop(first);
        drop(third);
        preallocate(&second, two_thirds).unwrap();
    }

    fn header() -> Control {
        Control {
            version: CONTROL_VERSION,
            url: "http://h/f".into(),
            query_credentials: None,
            total: Some(10),
            validator: Validator::default(),
        }
    }

    async fn target(dir: &Path) -> FileTarget {
        let destination = dir.join("f");
        FileTarget {
            part: lock_part(&destination, None, false, &CancellationToken::new())
                .await
                .unwrap(),
            control: dir.join("f.part.parget"),
            control_tmp: dir.join("f.part.parget.tmp"),
            header: header(),
        }
    }

    fn records(dir: &Path) -> Vec<Record> {
        let opened = crate::sink::dir::Dir::open(dir, None).unwrap();
        match read_control(&opened, &dir.join("f.part.parget")).unwrap() {
            ReadControl::Found(found) => found.records,
            other => panic!("no control file: {other:?}"),
        }
    }

    #[tokio::test]
    async fn out_of_order_pieces_land_in_place_hash_in_order_and_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Sink::open_file(
            target(dir.path()).await,
            Layout::Ranges { len: 10 },
            Vec::new(),
            vec![Algorithm::Sha256, Algorithm::Blake3],
        )
        .await
        .unwrap();
        let sender = sink.sender();
        sender.send(6, Bytes::from_static(b"6789")).await.unwrap();
        sender.send(3, Bytes::from_static(b"345")).await.unwrap();
        sender.send(0, Bytes::from_static(b"012")).await.unwrap();
        drop(sender);
        let finished = sink.finish().await.unwrap();
        assert_eq!(finished.len, 10);
        assert_eq!(
            finished.digests[0],
            digest_of(Algorithm::Sha256, b"0123456789")
        );
        assert_eq!(
            finished.digests[1],
            digest_of(Algorithm::Blake3, b"0123456789")
        );
        assert_eq!(
            std::fs::read(dir.path().join("f.part")).unwrap(),
            b"0123456789"
        );
        let expected: Vec<Record> = [(6, &b"6789"[..]), (3, b"345"), (0, b"012")]
            .into_iter()
            .flat_map(|(offset, bytes)| Record::of(offset, bytes).collect::<Vec<_>>())
            .collect();
        assert_eq!(
            records(dir.path()),
            expected,
            "one record per write, in order"
        );
    }

    #[tokio::test]
    async fn kept_ranges_are_rewritten_hashed_and_continued() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.part"), b"01234xxxxx").unwrap();
        let kept: Vec<Record> = Record::of(0, b"01234").collect();
        let sink = Sink::open_file(
            target(dir.path()).await,
            Layout::Ranges { len: 10 },
            kept.clone(),
            vec![Algorithm::Md5],
        )
        .await
        .unwrap();
        let sender = sink.sender();
        sender.send(5, Bytes::from_static(b"56789")).await.unwrap();
        drop(sender);
        let finished = sink.finish().await.unwrap();
        assert_eq!(finished.len, 10);
        assert_eq!(
            finished.digests,
            vec![digest_of(Algorithm::Md5, b"0123456789")]
        );
        assert_eq!(
            std::fs::read(dir.path().join("f.part")).unwrap(),
            b"0123456789"
        );
        let mut expected = kept;
        expected.extend(Record::of(5, b"56789"));
        assert_eq!(records(dir.path()), expected);
    }

    #[tokio::test]
    async fn a_prefix_is_cut_after_its_first_gap() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.part"), b"0123456789").unwrap();
        let kept: Vec<Record> = Record::of(0, b"012")
            .chain(Record::of(6, b"6789"))
            .collect();
        let sink = Sink::open_file(
            target(dir.path()).await,
            Layout::Prefix,
            kept.clone(),
            vec![Algorithm::Sha1],
        )
        .await
        .unwrap();
        sink.sender()
            .send(3, Bytes::from_static(b"abc"))
            .await
            .unwrap();
        let finished = sink.finish().await.unwrap();
        assert_eq!(finished.len, 6);
        assert_eq!(
            finished.digests,
            vec![digest_of(Algorithm::Sha1, b"012abc")]
        );
        assert_eq!(std::fs::read(dir.path().join("f.part")).unwrap(), b"012abc");
        let mut expected = vec![kept[0]];
        expected.extend(Record::of(3, b"abc"));
        assert_eq!(
            records(dir.path()),
            expected,
            "the record past the gap is gone"
        );
    }

    #[tokio::test]
    async fn a_gap_leaves_the_length_short() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Sink::open_file(
            target(dir.path()).await,
            Layout::Ranges { len: 10 },
            Vec::new(),
            vec![],
        )
        .await
        .unwrap();
        sink.sender()
            .send(5, Bytes::from_static(b"56789"))
            .await
            .unwrap();
        let finished = sink.finish().await.unwrap();
        assert_eq!(finished.len, 0, "nothing is contiguous from 0");
    }

    #[tokio::test]
    async fn a_sink_is_ready_once_its_file_is_preallocated() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = Sink::open_file(target(dir.path()).await, Layout::Prefix, vec![], vec![])
            .await
            .unwrap();
        assert!(prefix.sender().is_ready(), "nothing to preallocate");
        drop(prefix.finish().await.unwrap());
        let other = tempfile::tempdir().unwrap();
        let len = 64 << 20;
        let ranges = Sink::open_file(
            target(other.path()).await,
            Layout::Ranges { len },
            vec![],
            vec![],
        )
        .await
        .unwrap();
        let sender = ranges.sender();
        while !sender.is_ready() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        // Ready means preallocated: the file has its size.
        assert_eq!(
            std::fs::metadata(other.path().join("f.part"))
                .unwrap()
                .len(),
            len
        );
        drop(sender);
        drop(ranges.finish().await.unwrap());
        assert!(Sink::open_memory(vec![]).sender().is_ready());
    }

    #[tokio::test]
    async fn memory_sink_assembles_and_hashes() {
        let sink = Sink::open_memory(vec![Algorithm::Sha1]);
        let sender = sink.sender();
        sender.send(4, Bytes::from_static(b"efgh")).await.unwrap();
        sender.send(0, Bytes::from_static(b"abcd")).await.unwrap();
        drop(sender);
        let finished = sink.finish().await.unwrap();
        assert_eq!(finished.data.as_deref(), Some(&b"abcdefgh"[..]));
        assert_eq!(
            finished.digests,
            vec![digest_of(Algorithm::Sha1, b"abcdefgh")]
        );
    }
}
