//! The inspect stage: what is on disk beside a file destination, read for
//! the decision in `resume`; and after it, the re-reading of the ranges an
//! earlier run recorded, so that only bytes that still match their
//! checksums are continued.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::FileType;

use super::resume::{Existing, Held, OnDisk, Part};
use crate::error::Error;
use crate::sink::{self, PartFile, ReadControl, Record, FLUSH_SIZE};
use crate::verify::{Algorithm, Hashers};

/// Looks at `destination` (hashing it in `algorithms` when it exists and
/// they are given) and, when `look_for_part`, at its locked `part` file
/// (when an earlier run left it) and the control file beside.
pub(crate) async fn on_disk(
    destination: &Path,
    part: &Arc<PartFile>,
    algorithms: &[Algorithm],
    look_for_part: bool,
) -> Result<OnDisk, Error> {
    let existing = existing(destination.to_owned(), part.clone(), algorithms.to_vec()).await?;
    // A part file created for this download holds nothing to look at.
    let part = if look_for_part && !part.created() {
        let destination = destination.to_owned();
        let part = part.clone();
        sink::blocking(move || earlier_part(&destination, &part)).await?
    } else {
        None
    };
    Ok(OnDisk { existing, part })
}

/// Re-reads each range `held` records from `part` and keeps the ranges
/// whose bytes still match their checksums: after a crash or a power loss
/// the part file may hold zeros, older bytes or nothing where a record
/// says bytes were written.
pub(crate) async fn verified(part: &Arc<PartFile>, held: Held) -> Result<Held, Error> {
    if held.records.is_empty() {
        return Ok(held);
    }
    let part = part.clone();
    sink::blocking(move || {
        let mut scratch = vec![0u8; FLUSH_SIZE];
        let mut failed = None;
        let kept = held.keep(
            |record| match crc_on_disk(part.file(), record, &mut scratch) {
                Ok(crc) => crc == Some(record.crc),
                Err(e) => {
                    failed.get_or_insert(e);
                    false
                }
            },
        );
        match failed {
            Some(e) => Err(Error::io(part.path(), e)),
            None => Ok(kept),
        }
    })
    .await
}

/// The CRC32C of the bytes `record` covers in `file`; `None` when the
/// file ends before them.
fn crc_on_disk(file: &File, record: &Record, scratch: &mut [u8]) -> std::io::Result<Option<u32>> {
    let mut crc = 0;
    let mut at = record.offset;
    let end = record.range().end;
    while at < end {
        let want = (end - at).min(scratch.len() as u64) as usize;
        match file.read_exact_at(&mut scratch[..want], at) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        crc = crc32c::crc32c_append(crc, &scratch[..want]);
        at += want as u64;
    }
    Ok(Some(crc))
}

/// The destination's size and, when `algorithms` are given, its digests,
/// read in the directory `part` was claimed in (see `sink::Dir`).
async fn existing(
    destination: PathBuf,
    part: Arc<PartFile>,
    algorithms: Vec<Algorithm>,
) -> Result<Option<Existing>, Error> {
    // One stat, done in place: handing it to a blocking thread would cost
    // more than the call (two thread wake-ups per file), and most
    // destinations do not exist yet. Not following a link, so a link is
    // known as one (see `resume::decide`); its target is stat'ed after.
    let not_found = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let meta = match part.dir().lstat(&destination) {
        Ok(meta) => meta,
        Err(e) if not_found(&e) => return Ok(None),
        Err(e) => return Err(Error::io(&destination, e)),
    };
    let link = FileType::from_raw_mode(meta.st_mode) == FileType::Symlink;
    let meta = match link {
        false => meta,
        true => match part.dir().stat(&destination) {
            Ok(meta) => meta,
            // A dangling link: nothing to compare, but a link all the same.
            Err(e) if not_found(&e) => {
                return Ok(Some(Existing {
                    len: 0,
                    digests: Vec::new(),
                    link,
                }))
            }
            Err(e) => return Err(Error::io(&destination, e)),
        },
    };
    if FileType::from_raw_mode(meta.st_mode) != FileType::RegularFile {
        return Err(Error::io(
            &destination,
            std::io::Error::other("exists and is not a regular file"),
        ));
    }
    if algorithms.is_empty() {
        return Ok(Some(Existing {
            len: u64::try_from(meta.st_size).unwrap_or(0),
            digests: Vec::new(),
            link,
        }));
    }
    sink::blocking(move || {
        let mut hashers = Hashers::new(algorithms);
        let mut file = part
            .dir()
            .open_to_read(&destination)
            .map_err(|e| Error::io(&destination, e))?;
        let mut buf = vec![0u8; FLUSH_SIZE];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => hashers.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(&destination, e)),
            }
        }
        Ok(Some(Existing {
            len: hashers.len(),
            digests: hashers.finish(),
            link,
        }))
    })
    .await
}

/// An earlier run's `NAME.part` (locked, as `part`) and its control file.
fn earlier_part(destination: &Path, part: &PartFile) -> Result<Option<Part>, Error> {
    let len = part
        .file()
        .metadata()
        .map_err(|e| Error::io(part.path(), e))?
        .len();
    let control = match sink::read_control(part.dir(), &sink::control_path(destination))? {
        ReadControl::Found(recorded) => Some(recorded),
        // Unreadable says as little as absent: the bytes start over.
        ReadControl::Absent | ReadControl::Damaged => None,
    };
    Ok(Some(Part { len, control }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::RangeSet;
    use crate::transport::Validator;
    use tokio_util::sync::CancellationToken;

    #[tokio::test]
    async fn only_ranges_whose_bytes_match_their_records_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let destination = dir.path().join("f");
        let bytes: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        let mut on_disk = bytes.clone();
        let records: Vec<Record> = (0..3)
            .flat_map(|i| Record::of(i * 1000, &bytes[i as usize * 1000..(i as usize + 1) * 1000]))
            .collect();
        on_disk[1500] ^= 1; // the second range is corrupt
        on_disk.truncate(2999); // the third one is cut short
        std::fs::write(sink::part_path(&destination), &on_disk).unwrap();
        let part = sink::lock_part(&destination, None, false, &CancellationToken::new())
            .await
            .unwrap();
        let held = Held {
            ranges: RangeSet::from_ranges(records.iter().map(Record::range)),
            records: records.clone(),
            total: Some(3000),
            validator: Some(Validator::default()),
        };
        let kept = verified(&part, held).await.unwrap();
        assert_eq!(kept.records, vec![records[0]]);
        assert_eq!(kept.ranges.covered(), 1000);
    }
}
