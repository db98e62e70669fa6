//! The files beside a destination while it downloads: `NAME.part` holds
//! the bytes, `NAME.part.parget` (the control file) says where they came
//! from and which ranges of the part file are written.

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind};
use crate::transport::Validator;

/// `NAME.part` for `NAME`.
pub(crate) fn part_path(destination: &Path) -> PathBuf {
    with_suffix(destination, ".part")
}

/// The control file beside `NAME.part`.
pub(crate) fn control_path(destination: &Path) -> PathBuf {
    with_suffix(destination, ".part.parget")
}

pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
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
pub(crate) fn write_control(path: &Path, control: &Control) -> Result<(), Error> {
    let tmp = with_suffix(path, ".tmp");
    let json =
        serde_json::to_vec(control).map_err(|e| Error::io(path, std::io::Error::other(e)))?;
    std::fs::write(&tmp, json).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
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

    #[test]
    fn a_control_file_round_trips_and_junk_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c");
        assert_eq!(read_control(&path).unwrap(), None, "absent is not an error");
        let control = Control {
            version: CONTROL_VERSION,
            url: "http://h/f".into(),
            total: Some(10),
            validator: Validator::default(),
            ranges: Some(vec![[0, 4]]),
        };
        write_control(&path, &control).unwrap();
        assert_eq!(read_control(&path).unwrap(), Some(control));
        std::fs::write(&path, b"{not json").unwrap();
        let error = read_control(&path).unwrap_err();
        assert!(
            error.to_string().contains("not a parget control file"),
            "{error}"
        );
    }
}
