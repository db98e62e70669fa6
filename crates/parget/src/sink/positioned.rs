//! The sink of every download: pieces arrive in order (one stream) or out
//! of order (segments), each with its offset.
//!
//! For a file, one writer thread puts every piece into the preallocated
//! `NAME.part` with a positioned write and records what is on disk; a
//! hasher thread follows the contiguous written frontier, hashing a piece
//! straight from its buffer when it is the next one, and otherwise reading
//! back from the page cache what was written ahead, so the digest is ready
//! when the last byte lands. Every [`CHECKPOINT_INTERVAL`] a checkpoint
//! thread makes the data durable (`fdatasync`) and only then records its
//! ranges in the control file, so a crash never leaves a control file that
//! claims bytes the disk does not hold.
//!
//! In memory, one thread keeps the pieces by offset and hashes them in order.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{blocking, create_parent, join, write_control, BufferPool, Control, FLUSH_SIZE};
use crate::error::Error;
use crate::plan::RangeSet;
use crate::verify::{Algorithm, Digest, Hashers};

/// How often the data on disk is made durable and recorded in the control
/// file. An fdatasync flushes everything written since the last one; doing
/// it on its own thread keeps the writer going meanwhile.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// How a part file's contents are described.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Written in order from the start (one stream): the file's length
    /// says what it holds, so nothing is checkpointed and it grows as it
    /// is written.
    Prefix,
    /// Ranges anywhere in a file preallocated to `len` bytes (segments):
    /// the control file records them at each checkpoint.
    Ranges {
        /// The file's size.
        len: u64,
    },
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
}

/// What a finished positioned sink holds.
pub(crate) struct Finished {
    /// The `.part` file (file storage), to be fsynced and renamed.
    pub file: Option<File>,
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
    /// Set before the last sender goes when every byte arrived: the file
    /// is about to be renamed, so no last checkpoint is needed.
    complete: Arc<AtomicBool>,
}

impl Sink {
    /// A sink writing into `part` in `layout`. The ranges in `done` are
    /// already in the file (an earlier attempt's or run's; for a prefix,
    /// the file is cut after them); everything else is overwritten.
    /// `control` is recorded beside it, and for ranges, the ranges on disk
    /// at each checkpoint.
    pub(crate) async fn open_file(
        part: PathBuf,
        control_file: PathBuf,
        control: Control,
        layout: Layout,
        done: RangeSet,
        algorithms: Vec<Algorithm>,
    ) -> Result<Sink, Error> {
        let open_part = part.clone();
        let open_control = control_file.clone();
        let mut first = control.clone();
        let cut_at = match layout {
            Layout::Prefix => Some(done.frontier()),
            Layout::Ranges { .. } => {
                first.ranges = Some(to_pairs(&done));
                // Nothing to keep: drop whatever an earlier file held.
                done.is_empty().then_some(0)
            }
        };
        let file = blocking(move || {
            create_parent(&open_part)?;
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&open_part)
                .map_err(|e| Error::io(&open_part, e))?;
            if let Some(len) = cut_at {
                file.set_len(len).map_err(|e| Error::io(&open_part, e))?;
            }
            write_control(&open_control, &first)?;
            Ok(file)
        })
        .await?;

        let pool = BufferPool::shared();
        let sender_part = Arc::new(part.clone());
        let (tx, rx) = mpsc::channel(4);
        let (hasher, hash_tx) = if algorithms.is_empty() {
            (None, None)
        } else {
            let (hash_tx, hash_rx) = mpsc::channel(4);
            let reader = file.try_clone().map_err(|e| Error::io(&part, e))?;
            let known = done.clone();
            let hash_part = part.clone();
            let hash_pool = pool.clone();
            let handle = std::thread::Builder::new()
                .name("parget-hash".into())
                .spawn(move || {
                    hash_frontier(reader, known, &hash_part, algorithms, hash_rx, &hash_pool)
                })
                .map_err(|e| Error::io(&part, e))?;
            (Some(handle), Some(hash_tx))
        };
        let complete = Arc::new(AtomicBool::new(false));
        let writer = FileWriter {
            complete: complete.clone(),
            layout,
            file,
            part,
            control_file,
            control,
            written: done,
            hash_tx,
            pool: pool.clone(),
            checkpoint: Checkpoint::default(),
        };
        let thread = tokio::task::spawn_blocking(move || writer.run(rx, hasher));
        Ok(Sink {
            sender: PieceSender {
                tx,
                pool,
                part: Some(sender_part),
            },
            thread,
            complete,
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
            },
            thread,
            complete: Arc::new(AtomicBool::new(false)),
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
    /// dropped first) is stored and hashed. `complete` says every byte
    /// arrived; otherwise a last checkpoint records what is on disk for a
    /// later resume.
    pub(crate) async fn finish(self, complete: bool) -> Result<Finished, Error> {
        self.complete.store(complete, Ordering::Release);
        drop(self.sender);
        join(self.thread).await?
    }
}

fn to_pairs(ranges: &RangeSet) -> Vec<[u64; 2]> {
    ranges.ranges().iter().map(|r| [r.start, r.end]).collect()
}

/// Reserves the file's blocks up front (fewer fragments, and a full disk
/// shows at once), falling back to a sparse length where the filesystem
/// has no fallocate.
fn preallocate(file: &File, len: u64) -> std::io::Result<()> {
    if len > 0 {
        match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
            Ok(()) => return Ok(()),
            Err(e) if e == rustix::io::Errno::NOSPC => return Err(e.into()),
            Err(_) => {}
        }
    }
    file.set_len(len)
}

/// The checkpoint in flight, if any: one at a time.
#[derive(Default)]
struct Checkpoint {
    last: Option<Instant>,
    busy: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<(), Error>>>,
}

struct FileWriter {
    complete: Arc<AtomicBool>,
    layout: Layout,
    file: File,
    part: PathBuf,
    control_file: PathBuf,
    control: Control,
    written: RangeSet,
    hash_tx: Option<mpsc::Sender<Piece>>,
    pool: BufferPool,
    checkpoint: Checkpoint,
}

impl FileWriter {
    fn run(
        mut self,
        mut rx: mpsc::Receiver<Piece>,
        hasher: Option<std::thread::JoinHandle<Result<Hashers, Error>>>,
    ) -> Result<Finished, Error> {
        // Preallocating can take tens of milliseconds (tmpfs zeroes every
        // page): done here, it overlaps the segments' connection setup
        // instead of delaying it, and pieces wait in the channel meanwhile.
        let preallocated = match self.layout {
            Layout::Ranges { len } => preallocate(&self.file, len),
            Layout::Prefix => Ok(()),
        };
        let result = preallocated
            .map_err(|e| Error::io(&self.part, e))
            .and_then(|()| self.write_all(&mut rx));
        // Stop the hasher whatever happened, then wait for it.
        drop(self.hash_tx.take());
        let hashed = hasher.map(|h| h.join().map_err(|_| self.thread_died("hasher")));
        // The last checkpoint runs here, in line: on success it is replaced
        // by the rename, on failure it is what a resume will trust.
        let checkpoint = self.finish_checkpoints();
        result?;
        checkpoint?;
        let digests = match hashed {
            Some(hashed) => {
                let hashers = hashed??;
                hashers.finish()
            }
            None => Vec::new(),
        };
        Ok(Finished {
            len: self.written.frontier(),
            file: Some(self.file),
            data: None,
            digests,
        })
    }

    fn write_all(&mut self, rx: &mut mpsc::Receiver<Piece>) -> Result<(), Error> {
        while let Some(piece) = rx.blocking_recv() {
            let end = piece.offset + piece.bytes.len() as u64;
            self.file
                .write_all_at(&piece.bytes, piece.offset)
                .map_err(|e| Error::io(&self.part, e))?;
            self.written.insert(piece.offset..end);
            match &self.hash_tx {
                Some(tx) => {
                    if tx.blocking_send(piece).is_err() {
                        return Err(self.thread_died("hasher"));
                    }
                }
                None => self.pool.give(piece.bytes),
            }
            self.maybe_checkpoint()?;
        }
        Ok(())
    }

    fn thread_died(&self, which: &str) -> Error {
        Error::io(
            &self.part,
            std::io::Error::other(format!("the {which} thread stopped")),
        )
    }

    /// Starts a checkpoint when the last one is old enough and done.
    fn maybe_checkpoint(&mut self) -> Result<(), Error> {
        if self.layout == Layout::Prefix {
            return Ok(());
        }
        let now = Instant::now();
        let last = *self.checkpoint.last.get_or_insert(now);
        if now.duration_since(last) < CHECKPOINT_INTERVAL
            || self.checkpoint.busy.load(Ordering::Acquire)
        {
            return Ok(());
        }
        if let Some(done) = self.checkpoint.thread.take() {
            done.join().map_err(|_| self.thread_died("checkpoint"))??;
        }
        self.checkpoint.last = Some(now);
        self.checkpoint.busy.store(true, Ordering::Release);
        let file = self
            .file
            .try_clone()
            .map_err(|e| Error::io(&self.part, e))?;
        let mut control = self.control.clone();
        // The ranges are taken before the sync: everything in them was
        // written, so the sync makes all of it durable.
        control.ranges = Some(to_pairs(&self.written));
        let (part, control_file, busy) = (
            self.part.clone(),
            self.control_file.clone(),
            self.checkpoint.busy.clone(),
        );
        let thread = std::thread::Builder::new()
            .name("parget-checkpoint".into())
            .spawn(move || {
                let result = file
                    .sync_data()
                    .map_err(|e| Error::io(&part, e))
                    .and_then(|()| write_control(&control_file, &control));
                busy.store(false, Ordering::Release);
                result
            })
            .map_err(|e| Error::io(&self.part, e))?;
        self.checkpoint.thread = Some(thread);
        Ok(())
    }

    /// Waits for a checkpoint in flight and, unless the download is
    /// complete (it is renamed next, and the control file removed),
    /// records the final state.
    fn finish_checkpoints(&mut self) -> Result<(), Error> {
        if let Some(thread) = self.checkpoint.thread.take() {
            thread
                .join()
                .map_err(|_| self.thread_died("checkpoint"))??;
        }
        if self.complete.load(Ordering::Acquire) || self.layout == Layout::Prefix {
            return Ok(());
        }
        self.file
            .sync_data()
            .map_err(|e| Error::io(&self.part, e))?;
        let mut control = self.control.clone();
        control.ranges = Some(to_pairs(&self.written));
        write_control(&self.control_file, &control)
    }
}

/// Hashes the file in order as its contiguous written frontier advances.
fn hash_frontier(
    reader: File,
    known: RangeSet,
    part: &Path,
    algorithms: Vec<Algorithm>,
    mut rx: mpsc::Receiver<Piece>,
    pool: &BufferPool,
) -> Result<Hashers, Error> {
    let mut frontier = Frontier {
        reader,
        part,
        known,
        hashed: 0,
        hashers: Hashers::new(algorithms),
        scratch: Vec::new(),
    };
    frontier.catch_up()?;
    while let Some(piece) = rx.blocking_recv() {
        frontier.take(&piece);
        pool.give(piece.bytes);
        frontier.catch_up()?;
    }
    Ok(frontier.hashers)
}

/// The hashing side of a positioned sink: what is on disk, and how far
/// the digest has got through it.
struct Frontier<'a> {
    reader: File,
    part: &'a Path,
    /// Ranges written so far (the writer's, as it reported them).
    known: RangeSet,
    /// Bytes hashed, from 0.
    hashed: u64,
    hashers: Hashers,
    /// Read-back buffer, allocated on first use.
    scratch: Vec<u8>,
}

impl Frontier<'_> {
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
                .read_exact_at(&mut self.scratch[..want], self.hashed)
                .map_err(|e| Error::io(self.part, e))?;
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
    use crate::sink::{read_control, CONTROL_VERSION};
    use crate::transport::Validator;
    use crate::verify::digest_of;

    fn control() -> Control {
        Control {
            version: CONTROL_VERSION,
            url: "http://h/f".into(),
            total: Some(10),
            validator: Validator::default(),
            ranges: None,
        }
    }

    #[tokio::test]
    async fn out_of_order_pieces_land_in_place_and_hash_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("f.part");
        let control_file = dir.path().join("f.part.parget");
        let sink = Sink::open_file(
            part.clone(),
            control_file.clone(),
            control(),
            Layout::Ranges { len: 10 },
            RangeSet::new(),
            vec![Algorithm::Sha256, Algorithm::Blake3],
        )
        .await
        .unwrap();
        let sender = sink.sender();
        sender.send(6, Bytes::from_static(b"6789")).await.unwrap();
        sender.send(3, Bytes::from_static(b"345")).await.unwrap();
        sender.send(0, Bytes::from_static(b"012")).await.unwrap();
        drop(sender);
        let finished = sink.finish(false).await.unwrap();
        assert_eq!(finished.len, 10);
        assert_eq!(
            finished.digests[0],
            digest_of(Algorithm::Sha256, b"0123456789")
        );
        assert_eq!(
            finished.digests[1],
            digest_of(Algorithm::Blake3, b"0123456789")
        );
        assert_eq!(std::fs::read(&part).unwrap(), b"0123456789");
        let recorded = read_control(&control_file).unwrap().unwrap();
        assert_eq!(recorded.ranges, Some(vec![[0, 10]]));
    }

    #[tokio::test]
    async fn resumed_ranges_are_kept_and_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("f.part");
        std::fs::write(&part, b"01234xxxxx").unwrap();
        let sink = Sink::open_file(
            part.clone(),
            dir.path().join("c"),
            control(),
            Layout::Ranges { len: 10 },
            RangeSet::from_ranges(std::iter::once(0..5)),
            vec![Algorithm::Md5],
        )
        .await
        .unwrap();
        let sender = sink.sender();
        sender.send(5, Bytes::from_static(b"56789")).await.unwrap();
        drop(sender);
        let finished = sink.finish(false).await.unwrap();
        assert_eq!(finished.len, 10);
        assert_eq!(
            finished.digests,
            vec![digest_of(Algorithm::Md5, b"0123456789")]
        );
        assert_eq!(std::fs::read(&part).unwrap(), b"0123456789");
    }

    #[tokio::test]
    async fn a_gap_leaves_the_length_short() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Sink::open_file(
            dir.path().join("p"),
            dir.path().join("c"),
            control(),
            Layout::Ranges { len: 10 },
            RangeSet::new(),
            vec![],
        )
        .await
        .unwrap();
        sink.sender()
            .send(5, Bytes::from_static(b"56789"))
            .await
            .unwrap();
        let finished = sink.finish(false).await.unwrap();
        assert_eq!(finished.len, 0, "nothing is contiguous from 0");
    }

    #[tokio::test]
    async fn memory_sink_assembles_and_hashes() {
        let sink = Sink::open_memory(vec![Algorithm::Sha1]);
        let sender = sink.sender();
        sender.send(4, Bytes::from_static(b"efgh")).await.unwrap();
        sender.send(0, Bytes::from_static(b"abcd")).await.unwrap();
        drop(sender);
        let finished = sink.finish(false).await.unwrap();
        assert_eq!(finished.data.as_deref(), Some(&b"abcdefgh"[..]));
        assert_eq!(
            finished.digests,
            vec![digest_of(Algorithm::Sha1, b"abcdefgh")]
        );
    }
}
