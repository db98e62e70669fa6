//! The files beside a destination while it downloads: `NAME.part` holds
//! the bytes, `NAME.part.parget` (the control file) says where they came
//! from and which ranges of the part file were written, each range with a
//! CRC32C of its bytes.
//!
//! The control file (format version 2) is text: one line of JSON, the
//! header ([`Control`]), then one line per written range ([`Record`]),
//! appended right after the range's bytes were written:
//!
//! ```text
//! {"version":2,"url":"http://h/f","total":12582912,"validator":{"etag":"\"v1\"","last_modified":null}}
//! 0000000000000000 00100000 5a1b0c3e 8c2d7f10
//! 0000000000100000 00100000 e0f1a2b3 01c4d5e6
//! ```
//!
//! A record line is 44 bytes: the range's offset (16 hex digits), its
//! length (8), the CRC32C of its bytes (8), and the CRC32C of the line's
//! first 35 bytes (8), so a torn or zeroed line is recognised and dropped.
//! Nothing is flushed to disk for it: a resume re-reads every recorded
//! range and keeps only those whose bytes still match their checksum, so
//! neither a killed process nor a lost write can make it trust bytes the
//! part file does not hold. The header is written once per sink, with the
//! records of the bytes it keeps, to a temporary file renamed into place.

use std::fs::File;
use std::io::{Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, OFlags};

use super::dir::Dir;
use crate::error::Error;
use crate::naming;
use crate::transport::Validator;

/// `NAME.part` for `NAME` (see [`naming::helper_name`] for long names).
pub(crate) fn part_path(destination: &Path) -> PathBuf {
    helper_path(destination, naming::HELPER_SUFFIXES[0])
}

/// The control file beside `NAME.part`.
pub(crate) fn control_path(destination: &Path) -> PathBuf {
    helper_path(destination, naming::HELPER_SUFFIXES[1])
}

/// The temporary file a control file is written to before its rename.
pub(crate) fn control_tmp_path(destination: &Path) -> PathBuf {
    helper_path(destination, naming::HELPER_SUFFIXES[2])
}

fn helper_path(destination: &Path, suffix: &str) -> PathBuf {
    let name = destination.file_name().unwrap_or_default();
    destination.with_file_name(naming::helper_name(name, suffix))
}

/// What the control file's header records: enough to tell, on
/// `--continue`, whether the bytes in `NAME.part` belong to this download
/// and may be extended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Control {
    /// Format version, bumped on incompatible changes.
    pub version: u32,
    /// The URL the bytes came from, its credentials redacted.
    pub url: String,
    /// The fingerprint of the credentials in the URL's query
    /// ([`crate::redact::query_credentials_fingerprint`]), when it has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_credentials: Option<String>,
    /// The resource size, when the server announced it.
    pub total: Option<u64>,
    /// The validators the bytes came with.
    pub validator: Validator,
}

/// The format this build reads and writes.
pub(crate) const CONTROL_VERSION: u32 = 2;

/// One written range of the part file and the CRC32C of its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub offset: u64,
    pub len: u32,
    pub crc: u32,
}

/// The bytes of a record line, newline included.
pub(crate) const RECORD_LINE: usize = 44;

/// The part of a record line its own checksum covers.
const RECORD_CHECKED: usize = 35;

impl Record {
    /// The records of `bytes` written at `offset`: one, unless the bytes
    /// are longer than a record's length field can say.
    pub(crate) fn of(offset: u64, bytes: &[u8]) -> impl Iterator<Item = Record> + '_ {
        let max = u32::MAX as usize;
        bytes.chunks(max).enumerate().map(move |(i, chunk)| Record {
            offset: offset + (i * max) as u64,
            len: chunk.len() as u32,
            crc: crc32c::crc32c(chunk),
        })
    }

    /// The byte range the record covers.
    pub(crate) fn range(&self) -> Range<u64> {
        self.offset..self.offset + u64::from(self.len)
    }

    /// The record as a line of the control file.
    pub(crate) fn encode(&self) -> [u8; RECORD_LINE] {
        let mut line = [0u8; RECORD_LINE];
        put_hex(&mut line[0..16], self.offset);
        line[16] = b' ';
        put_hex(&mut line[17..25], u64::from(self.len));
        line[25] = b' ';
        put_hex(&mut line[26..34], u64::from(self.crc));
        line[34] = b' ';
        let check = crc32c::crc32c(&line[..RECORD_CHECKED]);
        put_hex(&mut line[35..43], u64::from(check));
        line[43] = b'\n';
        line
    }

    /// Reads a record line (without its newline); `None` for anything
    /// that is not a whole, intact record of a non-empty range.
    pub(crate) fn decode(line: &[u8]) -> Option<Record> {
        if line.len() != RECORD_LINE - 1 || line[16] != b' ' || line[25] != b' ' || line[34] != b' '
        {
            return None;
        }
        let check = hex_field(&line[35..43])?;
        if u64::from(crc32c::crc32c(&line[..RECORD_CHECKED])) != check {
            return None;
        }
        let record = Record {
            offset: hex_field(&line[0..16])?,
            len: u32::try_from(hex_field(&line[17..25])?).ok()?,
            crc: u32::try_from(hex_field(&line[26..34])?).ok()?,
        };
        let fits = record.offset.checked_add(u64::from(record.len)).is_some();
        (record.len > 0 && fits).then_some(record)
    }
}

fn put_hex(out: &mut [u8], value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut value = value;
    for byte in out.iter_mut().rev() {
        *byte = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

/// A fixed-width field of lower-case hex digits, as written (nothing
/// else: no sign, no space, no second spelling of a value).
fn hex_field(field: &[u8]) -> Option<u64> {
    field.iter().try_fold(0u64, |value, &c| {
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        Some((value << 4) | u64::from(digit))
    })
}

/// What a control file on disk holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub header: Control,
    /// The intact record lines, in the order they were written.
    pub records: Vec<Record>,
}

/// What reading a control file found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadControl {
    /// There is none.
    Absent,
    /// Its header cannot be read (a torn write, zeros after a power loss,
    /// something else): it says nothing about the part file.
    Damaged,
    /// A header and the records that are intact.
    Found(Recorded),
}

/// The largest control file read: far more than any real download
/// records (44 bytes per MiB written), far less than memory.
const MAX_CONTROL_BYTES: u64 = 256 << 20;

/// Reads the control file `path` of `dir`, without following a symbolic
/// link.
pub(crate) fn read_control(dir: &Dir, path: &Path) -> Result<ReadControl, Error> {
    // Non-blocking, so a FIFO planted there cannot hold the open until a
    // writer comes; what is not a regular file is refused before a read.
    let file = match open_nofollow(dir, path, OFlags::RDONLY | OFlags::NONBLOCK) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ReadControl::Absent),
        Err(e) => return Err(Error::io(path, e)),
    };
    let regular = file
        .metadata()
        .map_err(|e| Error::io(path, e))?
        .file_type()
        .is_file();
    if !regular {
        return Err(Error::io(
            path,
            std::io::Error::other(
                "is not a regular file; parget reads no control file from it (remove it to go on)",
            ),
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONTROL_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_CONTROL_BYTES {
        return Ok(ReadControl::Damaged);
    }
    Ok(parse_control(&bytes))
}

/// Parses a control file's bytes (see the module docs).
pub(crate) fn parse_control(bytes: &[u8]) -> ReadControl {
    let mut lines = bytes.split(|&b| b == b'\n');
    let header = lines.next().unwrap_or_default();
    let Ok(header) = serde_json::from_slice::<Control>(header) else {
        return ReadControl::Damaged;
    };
    // A zeroed or torn stretch holds no newline, so it spoils only the
    // line it lands in.
    let records = lines.filter_map(Record::decode).collect();
    ReadControl::Found(Recorded { header, records })
}

/// The control file of a running download, open for appending records.
#[derive(Debug)]
pub(crate) struct ControlLog {
    file: File,
    path: PathBuf,
}

impl ControlLog {
    /// Writes a fresh control file at `path` in `dir` holding `header` and
    /// `records`, through `tmp` and a rename, so a reader sees the old file
    /// or the new one, never half of one; the file stays open for
    /// [`ControlLog::append`]. A symbolic link at `path` is refused (and
    /// left alone); one at `tmp` is removed, never followed.
    pub(crate) fn create(
        dir: &Dir,
        path: &Path,
        tmp: &Path,
        header: &Control,
        records: &[Record],
    ) -> Result<ControlLog, Error> {
        refuse_symlink(dir, path)?;
        let mut text = serde_json::to_vec(header).map_err(|e| Error::io(path, e.into()))?;
        text.push(b'\n');
        for record in records {
            text.extend_from_slice(&record.encode());
        }
        let mut file = create_new(dir, tmp)?;
        let placed = file
            .write_all(&text)
            .map_err(|e| Error::io(tmp, e))
            .and_then(|()| dir.rename(tmp, path).map_err(|e| Error::io(path, e)));
        if let Err(e) = placed {
            // Not left behind: a full disk or a directory at `path`.
            let _ = dir.remove(tmp);
            return Err(e);
        }
        Ok(ControlLog {
            file,
            path: path.to_owned(),
        })
    }

    /// Removes the control file from `dir` (the one it was created in),
    /// for a part file that is going too. Only the download holding the
    /// part file's lock calls this, so the name is still its own.
    pub(crate) fn remove(&self, dir: &Dir) {
        let _ = dir.remove(&self.path);
    }

    /// Appends `record`: one small write, not flushed to disk (see the
    /// module docs for why that is safe).
    pub(crate) fn append(&mut self, record: &Record) -> Result<(), Error> {
        self.file
            .write_all(&record.encode())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// Creates `tmp` afresh: a leftover of a crash (or anything planted there,
/// a symbolic link included, which `O_EXCL` never follows) is removed first.
fn create_new(dir: &Dir, tmp: &Path) -> Result<File, Error> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL;
    match open_nofollow(dir, tmp, flags) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            dir.remove(tmp).map_err(|e| Error::io(tmp, e))?;
            open_nofollow(dir, tmp, flags).map_err(|e| Error::io(tmp, e))
        }
        opened => opened.map_err(|e| Error::io(tmp, e)),
    }
}

/// Refuses a symbolic link at `path`: parget never writes through one,
/// and never replaces one it did not make.
fn refuse_symlink(dir: &Dir, path: &Path) -> Result<(), Error> {
    match dir.lstat(path) {
        Ok(stat) if FileType::from_raw_mode(stat.st_mode).is_symlink() => Err(symlink_error(path)),
        _ => Ok(()),
    }
}

/// The error for a symbolic link where parget keeps a file of its own.
pub(crate) fn symlink_error(path: &Path) -> Error {
    Error::io(path, symlink_io_error())
}

fn symlink_io_error() -> std::io::Error {
    std::io::Error::other(
        "is a symbolic link; parget never writes through one and leaves it and its target alone (remove it to go on)",
    )
}

/// Opens the file `path` of `dir` with `flags`, never following a
/// symbolic link at it (`ELOOP` becomes [`symlink_error`]'s message).
pub(crate) fn open_nofollow(dir: &Dir, path: &Path, flags: OFlags) -> std::io::Result<File> {
    dir.open_file(path, flags).map_err(|e| {
        if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
            symlink_io_error()
        } else {
            e
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> std::sync::Arc<Dir> {
        Dir::open(dir, None).unwrap()
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

    #[test]
    fn part_and_control_names_sit_beside_the_destination() {
        assert_eq!(part_path(Path::new("d/f.bin")), Path::new("d/f.bin.part"));
        assert_eq!(
            control_path(Path::new("f.bin")),
            Path::new("f.bin.part.parget")
        );
        assert_eq!(
            control_tmp_path(Path::new("d/f")),
            Path::new("d/f.part.parget.tmp")
        );
        let long = format!("d/{}", "x".repeat(250));
        for path in [
            part_path(Path::new(&long)),
            control_path(Path::new(&long)),
            control_tmp_path(Path::new(&long)),
        ] {
            let name = path.file_name().unwrap().len();
            assert!(name <= 255, "{} is {name} bytes", path.display());
            assert_eq!(path.parent(), Some(Path::new("d")));
        }
    }

    #[test]
    fn a_record_line_round_trips_and_damage_is_seen() {
        let record = Record {
            offset: 0x1234_5678_9abc,
            len: 1 << 20,
            crc: 0xdead_beef,
        };
        let line = record.encode();
        assert_eq!(line.len(), RECORD_LINE);
        assert_eq!(
            std::str::from_utf8(&line[..34]).unwrap(),
            "0000123456789abc 00100000 deadbeef"
        );
        assert_eq!(Record::decode(&line[..43]), Some(record));
        // Every single-byte change of the line is caught.
        for at in 0..43 {
            for flip in [0x01u8, 0x20, 0xff] {
                let mut bad = line;
                bad[at] ^= flip;
                assert_eq!(Record::decode(&bad[..43]), None, "byte {at} ^ {flip:#x}");
            }
        }
        assert_eq!(Record::decode(&[0u8; 43]), None, "zeros");
        assert_eq!(Record::decode(&line[..42]), None, "torn");
        assert_eq!(Record::decode(b""), None);
        let empty = Record {
            offset: 5,
            len: 0,
            crc: 0,
        };
        assert_eq!(Record::decode(&empty.encode()[..43]), None, "empty range");
        let overflowing = Record {
            offset: u64::MAX - 1,
            len: 4,
            crc: 0,
        };
        assert_eq!(Record::decode(&overflowing.encode()[..43]), None);
    }

    #[test]
    fn records_of_a_piece_carry_its_checksum() {
        let records: Vec<Record> = Record::of(100, b"123456789").collect();
        // The standard CRC32C check value.
        assert_eq!(
            records,
            vec![Record {
                offset: 100,
                len: 9,
                crc: 0xe306_9283
            }]
        );
        assert_eq!(records[0].range(), 100..109);
    }

    #[test]
    fn a_control_file_round_trips_and_damage_is_contained() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c");
        let tmp = dir.path().join("c.tmp");
        assert_eq!(
            read_control(&open(dir.path()), &path).unwrap(),
            ReadControl::Absent
        );
        let first: Vec<Record> = Record::of(0, b"abc").collect();
        let mut log =
            ControlLog::create(&open(dir.path()), &path, &tmp, &header(), &first).unwrap();
        assert!(!tmp.exists(), "the temporary file was renamed");
        let second = Record::of(3, b"defg").next().unwrap();
        log.append(&second).unwrap();
        let ReadControl::Found(found) = read_control(&open(dir.path()), &path).unwrap() else {
            panic!("a control file was written");
        };
        assert_eq!(found.header, header());
        assert_eq!(found.records, vec![first[0], second]);

        // A zeroed stretch spoils the lines it touches, no other.
        let mut bytes = std::fs::read(&path).unwrap();
        let header_len = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
        bytes[header_len + 10..header_len + 20].fill(0);
        assert_eq!(
            parse_control(&bytes),
            ReadControl::Found(Recorded {
                header: header(),
                records: vec![second]
            })
        );
        // A torn last line is dropped.
        let bytes = std::fs::read(&path).unwrap();
        let ReadControl::Found(torn) = parse_control(&bytes[..bytes.len() - 5]) else {
            panic!("the header is intact");
        };
        assert_eq!(torn.records, first);
        // A header that cannot be read says nothing.
        assert_eq!(parse_control(b"{not json\n"), ReadControl::Damaged);
        assert_eq!(parse_control(&[0u8; 100]), ReadControl::Damaged);
        assert_eq!(parse_control(b""), ReadControl::Damaged);
    }

    #[test]
    fn a_control_file_that_cannot_be_placed_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c");
        let tmp = dir.path().join("c.tmp");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), b"x").unwrap();
        assert!(ControlLog::create(&open(dir.path()), &path, &tmp, &header(), &[]).is_err());
        assert!(!tmp.exists(), "the temporary file was removed");
        assert!(path.join("inside").exists(), "what was there is untouched");
    }

    #[test]
    fn a_fifo_or_a_directory_as_the_control_file_is_refused_without_waiting() {
        // Opening a FIFO for reading would wait for a writer forever.
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        for path in [fifo, sub] {
            let error = read_control(&open(dir.path()), &path).unwrap_err();
            let text = format!("{error:#}");
            assert!(
                text.contains("not a regular file") || text.contains("directory"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_leftover_temporary_file_is_replaced_and_a_symlink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c");
        let tmp = dir.path().join("c.tmp");
        let target = dir.path().join("target");
        std::fs::write(&target, b"precious").unwrap();
        std::os::unix::fs::symlink(&target, &tmp).unwrap();
        ControlLog::create(&open(dir.path()), &path, &tmp, &header(), &[]).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");

        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let error = ControlLog::create(&open(dir.path()), &path, &tmp, &header(), &[]).unwrap_err();
        assert!(format!("{error:#}").contains("symbolic link"), "{error:#}");
        let error = read_control(&open(dir.path()), &path).unwrap_err();
        assert!(format!("{error:#}").contains("symbolic link"), "{error:#}");
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
    }
}
