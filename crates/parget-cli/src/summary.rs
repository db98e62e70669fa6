//! `--summary-json FILE`: the run's totals and its failed entries, for a
//! scheduler or a retry of the shard to read.
//!
//! Failures are appended, one JSON object a line, to an unnamed temporary
//! file while the run goes on, so a list where every entry fails still runs
//! in flat memory; at the end they are streamed into the summary. The
//! summary goes to a temporary file beside FILE, is synced, and is renamed
//! over FILE: a reader sees the old summary or the whole new one, never a
//! part.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Seek, Write};
use std::path::Path;

use serde::ser::{Error as _, SerializeSeq};
use serde::{Serialize, Serializer};

/// One failed entry.
#[derive(Debug, Serialize)]
pub struct Failure<'a> {
    /// The URL, its password redacted; `None` when the entry had none.
    pub url: Option<String>,
    /// Where it was to be saved, when known.
    pub path: Option<String>,
    /// What went wrong.
    pub error: &'a str,
}

/// Failed entries, kept on disk until the summary is written.
pub struct Failures {
    log: BufWriter<File>,
    /// The first write that failed: reported when the summary is written,
    /// instead of a summary that silently lacks entries.
    error: Option<io::Error>,
}

impl Failures {
    /// An empty list, backed by an unnamed temporary file.
    pub fn new() -> io::Result<Failures> {
        Ok(Failures {
            log: BufWriter::new(tempfile::tempfile()?),
            error: None,
        })
    }

    /// Appends `failure`.
    pub fn add(&mut self, failure: &Failure<'_>) {
        if self.error.is_some() {
            return;
        }
        let written = serde_json::to_writer(&mut self.log, failure)
            .map_err(io::Error::from)
            .and_then(|()| self.log.write_all(b"\n"));
        if let Err(e) = written {
            self.error = Some(e);
        }
    }
}

/// The totals of a run.
#[derive(Debug, Serialize)]
pub struct Totals {
    /// Entries downloaded.
    pub ok: u64,
    /// Entries whose output was already there and matched.
    pub skipped: u64,
    /// Entries that failed (each is in `failures`).
    pub failed: u64,
    /// Bytes downloaded.
    pub bytes: u64,
    /// Seconds from start to end.
    pub elapsed: f64,
    /// The run was stopped by a signal: entries not reached are in no count.
    pub interrupted: bool,
    /// `I/N` with `--shard`.
    pub shard: Option<String>,
}

#[derive(Serialize)]
struct Document<'a> {
    #[serde(flatten)]
    totals: &'a Totals,
    failures: Streamed,
}

/// The logged failures, serialised one at a time as they are read back.
struct Streamed(RefCell<BufReader<File>>);

impl Serialize for Streamed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        let mut reader = self.0.borrow_mut();
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader.read_line(&mut line).map_err(S::Error::custom)?;
            if n == 0 {
                break;
            }
            let value: serde_json::Value = serde_json::from_str(&line).map_err(S::Error::custom)?;
            seq.serialize_element(&value)?;
        }
        seq.end()
    }
}

/// Writes `totals` and `failures` to `path`, atomically.
pub fn write(path: &Path, totals: &Totals, failures: Failures) -> io::Result<()> {
    if let Some(e) = failures.error {
        return Err(io::Error::new(
            e.kind(),
            format!("the failed entries could not be kept for the summary: {e}"),
        ));
    }
    let mut log = failures.log.into_inner().map_err(|e| e.into_error())?;
    log.rewind()?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "summary".into());
    // A summary may go to a directory of its own (one per job, say).
    std::fs::create_dir_all(dir)?;
    // Made as any file parget writes is (0666 less the umask), not
    // owner-only as temporary files are: the summary holds no secret
    // (URLs in it are redacted), and a CI job's uploader may be another
    // user.
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)?;
    {
        let mut out = BufWriter::new(temp.as_file_mut());
        let document = Document {
            totals,
            failures: Streamed(RefCell::new(BufReader::new(log))),
        };
        serde_json::to_writer_pretty(&mut out, &document)?;
        out.write_all(b"\n")?;
        out.flush()?;
    }
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals() -> Totals {
        Totals {
            ok: 3,
            skipped: 1,
            failed: 2,
            bytes: 1234,
            elapsed: 0.5,
            interrupted: false,
            shard: Some("1/4".into()),
        }
    }

    #[test]
    fn totals_and_failures_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.json");
        std::fs::write(&path, "an older summary").unwrap();
        let mut failures = Failures::new().unwrap();
        failures.add(&Failure {
            url: Some("http://h/a".into()),
            path: Some("out/a".into()),
            error: "HTTP 404 \"quoted\"\nsecond line",
        });
        failures.add(&Failure {
            url: None,
            path: None,
            error: "list:3: not a URL",
        });
        write(&path, &totals(), failures).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(json["ok"], 3);
        assert_eq!(json["skipped"], 1);
        assert_eq!(json["failed"], 2);
        assert_eq!(json["bytes"], 1234);
        assert_eq!(json["elapsed"], 0.5);
        assert_eq!(json["interrupted"], false);
        assert_eq!(json["shard"], "1/4");
        let failures = json["failures"].as_array().unwrap();
        assert_eq!(failures.len(), 2);
        assert_eq!(failures[0]["url"], "http://h/a");
        assert_eq!(failures[0]["path"], "out/a");
        assert_eq!(failures[0]["error"], "HTTP 404 \"quoted\"\nsecond line");
        assert!(failures[1]["url"].is_null());
        // Nothing but the summary is left in the directory.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn the_summary_is_made_as_other_files_are_not_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let umask = status
            .lines()
            .find_map(|line| line.strip_prefix("Umask:"))
            .map(|octal| u32::from_str_radix(octal.trim(), 8).unwrap())
            .expect("the umask in /proc/self/status");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        write(&path, &totals(), Failures::new().unwrap()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !umask, "mode {mode:o} with umask {umask:o}");
    }

    #[test]
    fn no_failures_is_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        write(&path, &totals(), Failures::new().unwrap()).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(json["failures"], serde_json::json!([]));
    }

    #[test]
    fn missing_directories_are_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/s.json");
        write(&path, &totals(), Failures::new().unwrap()).unwrap();
        assert!(path.is_file());
    }

    #[test]
    fn an_unwritable_place_is_an_error_and_nothing_is_left() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "").unwrap();
        // A directory cannot be made below a file.
        let path = dir.path().join("file/s.json");
        assert!(write(&path, &totals(), Failures::new().unwrap()).is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }
}
