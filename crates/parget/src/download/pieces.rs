//! Piece hashes (Metalink `<pieces>`): each piece is checked when its last
//! byte arrives, before any of it is written, so a corrupt piece never
//! reaches the part file; and a resume keeps only the held pieces whose
//! hash matches.

use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use crate::error::{Error, ErrorKind};
use crate::input::PieceHashes;
use crate::plan::RangeSet;
use crate::sink::{PartFile, FLUSH_SIZE};
use crate::verify::Hashers;

/// The check of the piece being received, and of those after it.
pub(crate) struct PieceCheck {
    hashes: Arc<PieceHashes>,
    file_len: u64,
    index: usize,
    hasher: Hashers,
}

impl PieceCheck {
    /// A check starting at `offset`, which must be where a piece starts
    /// (`None` otherwise: such bytes cannot be checked piece by piece).
    pub(crate) fn at(hashes: Arc<PieceHashes>, file_len: u64, offset: u64) -> Option<PieceCheck> {
        let length = hashes.piece_length();
        if offset % length != 0 || offset > file_len {
            return None;
        }
        let index = usize::try_from(offset / length).ok()?;
        let hasher = Hashers::new([hashes.algorithm()]);
        Some(PieceCheck {
            hashes,
            file_len,
            index,
            hasher,
        })
    }

    /// Where the piece being received ends.
    pub(crate) fn piece_end(&self) -> u64 {
        let length = self.hashes.piece_length();
        (self.index as u64 + 1)
            .saturating_mul(length)
            .min(self.file_len)
    }

    /// Takes bytes of the current piece (never past [`PieceCheck::piece_end`]).
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    /// The current piece is complete: checks it and moves to the next.
    pub(crate) fn finish_piece(&mut self) -> Result<Range<u64>, Error> {
        let length = self.hashes.piece_length();
        let start = self.index as u64 * length;
        let range = start..self.piece_end();
        let hasher = std::mem::replace(&mut self.hasher, Hashers::new([self.hashes.algorithm()]));
        let ok = hasher
            .finish()
            .first()
            .is_some_and(|d| Some(d.as_bytes()) == self.hashes.get(self.index));
        let index = self.index;
        self.index += 1;
        if ok {
            Ok(range)
        } else {
            Err(Error::new(
                ErrorKind::PieceMismatch {
                    piece: index as u64,
                    range,
                    algorithm: self.hashes.algorithm(),
                },
                None,
            ))
        }
    }
}

/// The part of `held` that lies in whole pieces whose hash matches what
/// `part` holds there (read back, on a blocking thread).
pub(crate) async fn verify_held(
    part: Arc<PartFile>,
    held: RangeSet,
    hashes: Arc<PieceHashes>,
    file_len: u64,
) -> Result<RangeSet, Error> {
    crate::sink::blocking(move || {
        let file = part.file();
        let mut kept = RangeSet::new();
        let mut buf = vec![0u8; FLUSH_SIZE];
        for index in 0..hashes.len() {
            let Some(range) = hashes.range(index, file_len) else {
                break;
            };
            let covered = held
                .ranges()
                .iter()
                .any(|r| r.start <= range.start && range.end <= r.end);
            if !covered {
                continue;
            }
            let mut hasher = Hashers::new([hashes.algorithm()]);
            let mut at = range.start;
            while at < range.end {
                let want = (range.end - at).min(buf.len() as u64) as usize;
                file.read_exact_at(&mut buf[..want], at)
                    .map_err(|e| Error::io(part.path(), e))?;
                hasher.update(&buf[..want]);
                at += want as u64;
            }
            let matches = hasher
                .finish()
                .first()
                .is_some_and(|d| Some(d.as_bytes()) == hashes.get(index));
            if matches {
                kept.insert(range);
            }
        }
        Ok(kept)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{digest_of, Algorithm};

    fn hashes(data: &[u8], length: usize) -> Arc<PieceHashes> {
        let digests: Vec<_> = data
            .chunks(length)
            .map(|c| digest_of(Algorithm::Sha1, c))
            .collect();
        Arc::new(PieceHashes::new(Algorithm::Sha1, length as u64, &digests).unwrap())
    }

    #[test]
    fn pieces_are_checked_in_turn() {
        let data: Vec<u8> = (0..25u8).collect();
        let hashes = hashes(&data, 10);
        assert!(PieceCheck::at(hashes.clone(), 25, 5).is_none(), "mid-piece");
        let mut check = PieceCheck::at(hashes.clone(), 25, 10).unwrap();
        assert_eq!(check.piece_end(), 20);
        check.update(&data[10..20]);
        assert_eq!(check.finish_piece().unwrap(), 10..20);
        assert_eq!(check.piece_end(), 25, "the last piece is short");
        let mut bad = data[20..25].to_vec();
        bad[0] ^= 1;
        check.update(&bad);
        let error = check.finish_piece().unwrap_err();
        assert!(
            matches!(error.kind(), ErrorKind::PieceMismatch { piece: 2, .. }),
            "{error}"
        );
        assert!(error.is_retryable());
    }

    #[tokio::test]
    async fn only_whole_matching_pieces_of_what_is_held_are_kept() {
        let data: Vec<u8> = (0..40u8).collect();
        let hashes = hashes(&data, 10);
        let dir = tempfile::tempdir().unwrap();
        let destination = dir.path().join("f");
        let mut on_disk = data.clone();
        on_disk[25] ^= 0xff; // piece 2 damaged
        std::fs::write(dir.path().join("f.part"), &on_disk).unwrap();
        let part = crate::sink::lock_part(&destination, None, false, &Default::default())
            .await
            .unwrap();
        let held = RangeSet::from_ranges([0..15, 20..40]);
        let kept = verify_held(part, held, hashes, 40).await.unwrap();
        // Piece 0 whole and right; piece 1 only half held; piece 2 wrong.
        assert_eq!(kept, RangeSet::from_ranges([0..10, 30..40]));
    }
}
