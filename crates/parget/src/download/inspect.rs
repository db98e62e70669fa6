//! The inspect stage: what is on disk beside a file destination, read for
//! the decision in `resume`.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::resume::{Existing, OnDisk, Part};
use crate::error::Error;
use crate::sink::{self, FLUSH_SIZE};
use crate::verify::{Algorithm, Hashers};

/// Looks at `destination` (hashing it in `algorithms` when it exists and
/// they are given) and, when `look_for_part`, at its `.part` and control
/// file.
pub(crate) async fn on_disk(
    destination: &Path,
    algorithms: &[Algorithm],
    look_for_part: bool,
) -> Result<OnDisk, Error> {
    let existing = existing(destination.to_owned(), algorithms.to_vec()).await?;
    let part = if look_for_part {
        let destination = destination.to_owned();
        sink::blocking(move || part(&destination)).await?
    } else {
        None
    };
    Ok(OnDisk { existing, part })
}

/// The destination's size and, when `algorithms` are given, its digests.
async fn existing(
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
    sink::blocking(move || {
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
        Ok(Some(Existing {
            len: hashers.len(),
            digests: hashers.finish(),
        }))
    })
    .await
}

/// An earlier run's `NAME.part` and control file, if there is a part file.
fn part(destination: &Path) -> Result<Option<Part>, Error> {
    let part = sink::part_path(destination);
    let len = match std::fs::symlink_metadata(&part) {
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
    let control = sink::read_control(&sink::control_path(destination))?;
    Ok(Some(Part { len, control }))
}
