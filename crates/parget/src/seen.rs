//! The destinations one run has taken: an exact set in about ten bytes of
//! memory per destination, whatever the length of the list.
//!
//! Two entries of one run that want the same destination: the second fails,
//! so list order (not scheduling) decides which one writes. That needs every
//! destination a run has taken, the one piece of state that grows with the
//! list. Paths are tens of bytes each; a 64-bit hash is 8, but two
//! different paths may share one, and such a false duplicate would fail an
//! entry that should run. So the set keeps the paths, just not in memory:
//!
//! - each new destination is appended, with its hash, to a **log**: in
//!   memory while it is small ([`SPILL_AT`]), then in an unnamed temporary
//!   file (`$TMPDIR`, gone when the run ends; 12 bytes and the path per
//!   destination). When no temporary file can be made or written, the log
//!   stays in memory: correct, only larger;
//! - memory holds an open-addressing **table** of 8-byte slots, each 24 bits
//!   of the hash (a tag) and the 40-bit offset of the destination's record
//!   in the log;
//! - a lookup probes from the hash's home slot; a slot with the same tag is
//!   confirmed by reading its record: the full hash, then the path bytes.
//!   That read happens for a true duplicate and, otherwise, about once in
//!   16 million lookups (a tag shared by chance), so the check is exact at
//!   almost no cost;
//! - the table grows by a quarter when it is 85% full, rebuilt from the
//!   log. The old table is freed before the new one is made, so growing
//!   never holds two tables: memory stays between 8 / 0.85 = 9.4 and
//!   8 / 0.68 = 11.8 bytes per destination.
//!
//! The hash is XXH3 with a seed drawn per set, so a list cannot be crafted
//! to collide (which would only cost time, never correctness).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Bits of a slot holding the record's offset in the log, plus one (so 0
/// means an empty slot).
const OFFSET_BITS: u32 = 40;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;
/// The largest log offset a slot can hold: a terabyte of destinations.
const MAX_OFFSET: u64 = OFFSET_MASK - 1;
/// Bits of a slot holding the hash's tag.
const TAG_MASK: u64 = (1 << (64 - OFFSET_BITS)) - 1;

/// The table's first size, in slots (8 KiB).
const MIN_SLOTS: usize = 1024;
/// The table grows when more than this share of its slots is taken:
/// linear probing stays short up to here (about 4 probes for a destination
/// that is in the set, 23 for one that is not, in one or two cache lines).
const MAX_LOAD_PERCENT: usize = 85;

/// The log moves to a temporary file once it holds this many bytes (about
/// 5,000 destinations): a short list never touches the disk.
pub(crate) const SPILL_AT: usize = 256 << 10;
/// Once in a file, appended records are written in batches of this size.
const FLUSH_AT: usize = 64 << 10;
/// A record's header: the 64-bit hash and the 32-bit path length.
const HEADER: usize = 12;

/// Destinations taken so far by one run.
pub(crate) struct Seen {
    seed: u64,
    /// Slots: 0, or `tag << OFFSET_BITS | (offset + 1)`.
    table: Vec<u64>,
    len: usize,
    log: Log,
    /// Set when the log could not be read back: the set can no longer say
    /// for sure, so every later question fails with this message.
    broken: Option<String>,
    /// Tests replace the hash to force collisions.
    hash: fn(&[u8], u64) -> u64,
}

impl Seen {
    /// An empty set.
    pub(crate) fn new() -> Seen {
        Seen::with_hash(xxh3_64_with_seed)
    }

    fn with_hash(hash: fn(&[u8], u64) -> u64) -> Seen {
        Seen {
            seed: fastrand::u64(..),
            table: Vec::new(),
            len: 0,
            log: Log::default(),
            broken: None,
            hash,
        }
    }

    /// Adds `destination`; false when the run has taken it before (`a/./b`
    /// and `a//b` are `a/b`). An error means the log could not be read
    /// back, so whether the destination is new is unknown.
    pub(crate) fn insert(&mut self, destination: &Path) -> io::Result<bool> {
        if let Some(why) = &self.broken {
            return Err(io::Error::other(why.clone()));
        }
        let key = destination_key(destination);
        let key = key.as_os_str().as_encoded_bytes();
        let hash = (self.hash)(key, self.seed);
        if (self.len + 1) * 100 > self.table.len() * MAX_LOAD_PERCENT {
            if let Err(e) = self.grow() {
                let why = format!(
                    "the destinations taken by this run could not be read back from their temporary file: {e}"
                );
                self.broken = Some(why.clone());
                return Err(io::Error::other(why));
            }
        }
        let tag = hash & TAG_MASK;
        let mut index = home(hash, self.table.len());
        loop {
            let slot = self.table[index];
            if slot == 0 {
                break;
            }
            if slot >> OFFSET_BITS == tag && self.log.holds((slot & OFFSET_MASK) - 1, hash, key)? {
                return Ok(false);
            }
            index = next(index, self.table.len());
        }
        // Checked before the append: a record past what a slot can address
        // would be misread by the next rebuild.
        if self.log.end() > MAX_OFFSET {
            return Err(io::Error::other(
                "more than a terabyte of destination paths in one run",
            ));
        }
        let offset = self.log.append(hash, key);
        self.table[index] = tag << OFFSET_BITS | (offset + 1);
        self.len += 1;
        Ok(true)
    }

    /// How many destinations the set holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// Bytes of memory the set holds: the table, and the log while it is
    /// in memory.
    #[cfg(test)]
    fn memory_bytes(&self) -> usize {
        self.table.capacity() * 8 + self.log.tail.capacity()
    }

    /// Replaces the table by one a quarter larger, filled from the log.
    fn grow(&mut self) -> io::Result<()> {
        let slots = (self.table.len() + self.table.len() / 4).max(MIN_SLOTS);
        // Freed first: growing never holds two tables.
        self.table = Vec::new();
        self.table = vec![0; slots];
        let table = &mut self.table;
        self.log.for_each(|offset, hash| {
            let mut index = home(hash, table.len());
            while table[index] != 0 {
                index = next(index, table.len());
            }
            table[index] = (hash & TAG_MASK) << OFFSET_BITS | (offset + 1);
        })
    }
}

/// The slot where `hash`'s probe starts: the hash scaled to the table
/// (Lemire's multiply-shift), so the table's size need not be a power of
/// two and can grow by a quarter.
fn home(hash: u64, slots: usize) -> usize {
    ((u128::from(hash) * slots as u128) >> 64) as usize
}

fn next(index: usize, slots: usize) -> usize {
    if index + 1 == slots {
        0
    } else {
        index + 1
    }
}

/// A destination as compared: `a/./b` and `a//b` are one path.
pub(crate) fn destination_key(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// The records, `hash (u64 LE) | length (u32 LE) | path bytes`, in the order
/// they were taken: the bytes from `flushed` on are in `tail`, the ones
/// before in `file`. A flush writes the whole tail, so a record is never
/// split between the two.
#[derive(Default)]
struct Log {
    file: Option<File>,
    flushed: u64,
    tail: Vec<u8>,
    /// No temporary file could be made or written: keep the rest in memory.
    in_memory: bool,
}

impl Log {
    /// The offset the next record gets.
    fn end(&self) -> u64 {
        self.flushed + self.tail.len() as u64
    }

    /// Appends a record; returns its offset.
    fn append(&mut self, hash: u64, key: &[u8]) -> u64 {
        let offset = self.end();
        self.tail.extend_from_slice(&hash.to_le_bytes());
        // Paths are far shorter than 4 GiB (PATH_MAX is 4096 bytes).
        self.tail
            .extend_from_slice(&(key.len() as u32).to_le_bytes());
        self.tail.extend_from_slice(key);
        self.flush_if_due();
        offset
    }

    fn flush_if_due(&mut self) {
        if self.in_memory {
            return;
        }
        if self.file.is_none() {
            if self.tail.len() < SPILL_AT {
                return;
            }
            match tempfile::tempfile() {
                Ok(file) => self.file = Some(file),
                Err(_) => {
                    self.in_memory = true;
                    return;
                }
            }
        }
        if self.tail.len() < FLUSH_AT {
            return;
        }
        let Some(file) = &self.file else { return };
        match file.write_all_at(&self.tail, self.flushed) {
            Ok(()) => {
                self.flushed += self.tail.len() as u64;
                self.tail.clear();
                // A spill from memory leaves a large buffer behind: keep
                // only what one batch needs.
                self.tail.shrink_to(FLUSH_AT * 2);
            }
            // A full disk: what is written stays readable, the rest stays here.
            Err(_) => self.in_memory = true,
        }
    }

    /// Whether the record at `offset` is `hash` and `key`.
    fn holds(&self, offset: u64, hash: u64, key: &[u8]) -> io::Result<bool> {
        let mut header = [0u8; HEADER];
        self.read(offset, &mut header)?;
        let (stored, len) = parse_header(&header);
        if stored != hash || len != key.len() {
            return Ok(false);
        }
        let mut path = vec![0u8; len];
        self.read(offset + HEADER as u64, &mut path)?;
        Ok(path == key)
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if offset >= self.flushed {
            let start = usize::try_from(offset - self.flushed).map_err(io::Error::other)?;
            let bytes = self
                .tail
                .get(start..start + buf.len())
                .ok_or_else(|| io::Error::other("a record lies past the end of the log"))?;
            buf.copy_from_slice(bytes);
            return Ok(());
        }
        match &self.file {
            Some(file) => file.read_exact_at(buf, offset),
            None => Err(io::Error::other("the log's file is gone")),
        }
    }

    /// Calls `f(offset, hash)` for every record, in order.
    fn for_each(&self, mut f: impl FnMut(u64, u64)) -> io::Result<()> {
        if let Some(file) = &self.file {
            // The file in large reads; a record cut by a read's end is
            // completed by the next read.
            let mut buf = vec![0u8; 1 << 20];
            let mut at = 0u64;
            let mut have = 0usize;
            let mut read_to = 0u64;
            while read_to < self.flushed {
                let want = buf.len() - have;
                let n = usize::try_from((self.flushed - read_to).min(want as u64))
                    .map_err(io::Error::other)?;
                file.read_exact_at(&mut buf[have..have + n], read_to)?;
                read_to += n as u64;
                have += n;
                let used = parse_records(&buf[..have], at, &mut f);
                if used == 0 && have == buf.len() {
                    // One record longer than the buffer: make room for it.
                    buf.resize(buf.len() * 2, 0);
                }
                buf.copy_within(used..have, 0);
                have -= used;
                at += used as u64;
            }
            if have != 0 {
                return Err(io::Error::other("the log's file ends inside a record"));
            }
        }
        let used = parse_records(&self.tail, self.flushed, &mut f);
        if used != self.tail.len() {
            return Err(io::Error::other("the log ends inside a record"));
        }
        Ok(())
    }
}

fn parse_header(header: &[u8; HEADER]) -> (u64, usize) {
    let mut hash = [0u8; 8];
    hash.copy_from_slice(&header[..8]);
    let mut len = [0u8; 4];
    len.copy_from_slice(&header[8..]);
    (u64::from_le_bytes(hash), u32::from_le_bytes(len) as usize)
}

/// Calls `f` for each whole record at the start of `bytes` (which begins
/// at log offset `base`); returns the bytes they take.
fn parse_records(bytes: &[u8], base: u64, f: &mut impl FnMut(u64, u64)) -> usize {
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + HEADER) {
        let header: &[u8; HEADER] = header.try_into().expect("HEADER bytes");
        let (hash, len) = parse_header(header);
        let end = at + HEADER + len;
        if end > bytes.len() {
            break;
        }
        f(base + at as u64, hash);
        at = end;
    }
    at
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn one_path_two_spellings() {
        let mut seen = Seen::new();
        assert!(seen.insert(Path::new("d/f")).unwrap());
        assert!(!seen.insert(Path::new("d/./f")).unwrap());
        assert!(!seen.insert(Path::new("./d//f")).unwrap());
        assert!(
            seen.insert(Path::new("d/../f")).unwrap(),
            "`..` is not folded"
        );
        assert!(seen.insert(Path::new("d/g")).unwrap());
        assert_eq!(seen.len(), 3);
    }

    /// Every path hashes alike: each lookup walks every slot and reads every
    /// record, and still no different path is taken for a duplicate.
    #[test]
    fn equal_hashes_are_not_duplicates() {
        let mut seen = Seen::with_hash(|_, _| 42);
        for i in 0..3000 {
            assert!(seen.insert(Path::new(&format!("out/{i}"))).unwrap(), "{i}");
        }
        for i in 0..3000 {
            assert!(!seen.insert(Path::new(&format!("out/{i}"))).unwrap(), "{i}");
        }
        assert_eq!(seen.len(), 3000);
    }

    /// Equal tags, different hashes: the record's full hash tells them apart.
    #[test]
    fn equal_tags_are_not_duplicates() {
        fn same_tag(key: &[u8], _seed: u64) -> u64 {
            xxh3_64_with_seed(key, 7) & !TAG_MASK
        }
        let mut seen = Seen::with_hash(same_tag);
        for i in 0..20_000 {
            assert!(seen.insert(Path::new(&format!("t/{i}"))).unwrap());
        }
        assert!(
            seen.log.file.is_some(),
            "records are read from the file too"
        );
        assert!(!seen.insert(Path::new("t/19999")).unwrap());
        assert!(!seen.insert(Path::new("t/0")).unwrap());
    }

    /// A list long enough to spill the log to its file, grow the table many
    /// times and flush in many batches: every path once is new, twice is not.
    #[test]
    fn a_long_list_spills_and_stays_exact() {
        let mut seen = Seen::new();
        let n = 200_000;
        let path = |i: usize| PathBuf::from(format!("/srv/mirror/pool/{:x}/{i}.deb", i % 97));
        for i in 0..n {
            assert!(seen.insert(&path(i)).unwrap(), "{i}");
        }
        assert!(seen.log.file.is_some(), "the log moved to a file");
        assert!(seen.log.flushed > 0 && !seen.log.in_memory);
        for i in (0..n).step_by(7) {
            assert!(!seen.insert(&path(i)).unwrap(), "{i}");
        }
        assert_eq!(seen.len(), n);
        // The bound the README states: under 12 bytes of memory an entry
        // (plus one flush batch).
        let per_entry = (seen.memory_bytes() - 2 * FLUSH_AT) as f64 / n as f64;
        assert!(per_entry < 12.0, "{per_entry} bytes per destination");
        assert!(per_entry >= 8.0);
    }

    #[test]
    fn a_log_that_cannot_spill_stays_in_memory() {
        let mut seen = Seen::new();
        seen.log.in_memory = true;
        for i in 0..20_000 {
            assert!(seen.insert(Path::new(&format!("m/{i}"))).unwrap());
        }
        assert!(seen.log.file.is_none());
        assert!(seen.log.tail.len() > SPILL_AT);
        assert!(!seen.insert(Path::new("m/19999")).unwrap());
        assert!(!seen.insert(Path::new("m/0")).unwrap());
    }

    #[test]
    fn records_are_read_across_chunk_ends() {
        // Records of every length, so some straddle the 1 MiB reads.
        let mut log = Log::default();
        let mut want = Vec::new();
        for i in 0..40_000u64 {
            let key = vec![b'x'; (i % 300) as usize];
            want.push((log.append(i, &key), i));
        }
        assert!(log.flushed > 1 << 20, "several reads' worth in the file");
        let mut got = Vec::new();
        log.for_each(|offset, hash| got.push((offset, hash)))
            .unwrap();
        assert_eq!(got, want);
        for &(offset, hash) in want.iter().step_by(101) {
            let key = vec![b'x'; (hash % 300) as usize];
            assert!(log.holds(offset, hash, &key).unwrap());
            assert!(!log.holds(offset, hash + 1, &key).unwrap());
        }
    }

    proptest! {
        /// The set answers as a set of normalised paths does.
        #[test]
        fn answers_as_a_hash_set_of_paths(
            paths in proptest::collection::vec("[ab./]{1,6}", 1..400),
            collide in any::<bool>(),
        ) {
            let mut seen = if collide {
                Seen::with_hash(|key, _| key.len() as u64)
            } else {
                Seen::new()
            };
            let mut model = HashSet::new();
            for p in &paths {
                let path = Path::new(p);
                prop_assert_eq!(
                    seen.insert(path).unwrap(),
                    model.insert(destination_key(path)),
                    "{}", p
                );
            }
        }
    }
}
