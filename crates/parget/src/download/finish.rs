//! The finish stage, one place for every kind of destination: the size
//! and digests are checked, then the bytes are renamed into place (a
//! file), handed back (memory), or discarded.

use std::sync::Arc;

use bytes::Bytes;

use super::stream::Fetched;
use super::transfer::Transfer;
use super::Ctx;
use crate::error::{Error, ErrorKind};
use crate::hooks::Verified;
use crate::request::{Destination, Request};
use crate::sink::{self, PartFile};
use crate::verify::{Algorithm, Digest};

/// How a download ended well.
pub(crate) enum Done {
    /// Fetched, checked and put in place.
    Downloaded {
        bytes: u64,
        digests: Vec<Digest>,
        /// The body of a download to memory.
        data: Option<Bytes>,
    },
    /// The destination already held the expected bytes.
    Skipped { bytes: u64, digests: Vec<Digest> },
}

/// The fetched bytes, wherever they are.
enum Body {
    /// Still in one buffer: written (or handed back) now.
    Small(Bytes),
    /// In `NAME.part`, to be renamed.
    File(Arc<PartFile>),
    /// Assembled in memory by the sink.
    Memory(Bytes),
}

/// Verifies what was fetched and puts it in place.
pub(crate) async fn finish(
    ctx: &Ctx<'_>,
    transfer: Transfer,
    fetched: Fetched,
    algorithms: Vec<Algorithm>,
) -> Result<Done, Error> {
    let request = ctx.request;
    let total = transfer.total();
    let transfer_headers = transfer.response().cloned();
    let part = transfer.part().cloned();
    let (len, digests, body) = match fetched {
        Fetched::Small(bytes) => {
            let digests = sink::hash_bytes(bytes.clone(), algorithms).await?;
            (bytes.len() as u64, digests, Body::Small(bytes))
        }
        Fetched::InSink => {
            let Some(sink) = transfer.into_sink() else {
                return Err(Error::new(
                    ErrorKind::Protocol("nothing was stored for a finished download".into()),
                    None,
                ));
            };
            let finished = sink.finish().await?;
            let body = match (finished.file, finished.data) {
                (Some(file), _) => Body::File(file),
                (None, data) => Body::Memory(data.unwrap_or_default()),
            };
            (finished.len, finished.digests, body)
        }
    };
    let checked = match total {
        Some(total) if total != len => Err(Error::new(
            ErrorKind::Truncated {
                expected: total,
                received: len,
            },
            None,
        )),
        _ => verify(request, len, &digests),
    };
    let checked = checked.and_then(|()| {
        let headers = transfer_headers.as_ref().map(|(_, h)| h);
        let empty = http::HeaderMap::new();
        ctx.effective.check_finished(&Verified {
            url: request.url(),
            destination: request.path(),
            size: len,
            digests: &digests,
            headers: headers.unwrap_or(&empty),
        })
    });
    if let Err(e) = checked {
        if let Destination::File(path) = request.destination() {
            if let (Body::File(_), Some(part)) = (&body, part) {
                sink::discard(path.clone(), part).await;
            }
        }
        return Err(e);
    }
    let fsync = ctx.shared.config.fsync;
    let data = match (request.destination(), body) {
        (Destination::File(path), Body::Small(bytes)) => {
            let part = part.ok_or_else(|| {
                Error::io(path, std::io::Error::other("the part file was not claimed"))
            })?;
            sink::write_small(part, path.clone(), bytes, fsync).await?;
            None
        }
        (Destination::File(path), Body::File(file)) => {
            sink::commit(file, path.clone(), fsync).await?;
            None
        }
        (_, Body::Small(bytes) | Body::Memory(bytes)) => Some(bytes),
        (Destination::Memory, Body::File(_)) => {
            return Err(Error::new(
                ErrorKind::Protocol("a download to memory was stored in a file".into()),
                None,
            ))
        }
    };
    Ok(Done::Downloaded {
        bytes: len,
        digests,
        data,
    })
}

/// Checks `len` and `digests` against what the request expects.
fn verify(request: &Request, len: u64, digests: &[Digest]) -> Result<(), Error> {
    if let Some(expected) = request.expected_size().filter(|&n| n != len) {
        return Err(Error::new(
            ErrorKind::SizeMismatch {
                expected,
                actual: len,
            },
            None,
        ));
    }
    for expected in request.digests() {
        let actual = digests
            .iter()
            .find(|d| d.algorithm() == expected.algorithm());
        match actual {
            Some(actual) if actual == expected => {}
            Some(actual) => {
                return Err(Error::new(
                    ErrorKind::DigestMismatch {
                        expected: expected.clone(),
                        actual: actual.clone(),
                    },
                    None,
                ))
            }
            None => {
                return Err(Error::new(
                    ErrorKind::Protocol(format!("no {} digest was computed", expected.algorithm())),
                    None,
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::digest_of;

    #[test]
    fn verify_checks_size_then_every_digest() {
        let good = digest_of(Algorithm::Sha256, b"abc");
        let request = Request::new("http://h/f", "f")
            .unwrap()
            .with_size(3)
            .with_digest(good.clone());
        assert!(verify(&request, 3, std::slice::from_ref(&good)).is_ok());
        assert!(verify(&request, 4, std::slice::from_ref(&good))
            .unwrap_err()
            .is_size_mismatch());
        let bad = digest_of(Algorithm::Sha256, b"abd");
        assert!(verify(&request, 3, &[bad])
            .unwrap_err()
            .is_digest_mismatch());
        let missing = verify(&request, 3, &[]).unwrap_err();
        assert!(
            missing.to_string().contains("no sha256 digest"),
            "{missing}"
        );
    }
}
