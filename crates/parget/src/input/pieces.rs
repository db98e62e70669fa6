//! Piece hashes: one digest per fixed-length piece of a file, so each part
//! can be checked as soon as it is written (Metalink `<pieces>`).

use std::fmt;
use std::ops::Range;

use crate::verify::{Algorithm, Digest};

/// The hashes of a file's pieces: piece `i` covers bytes
/// `i * length .. min((i + 1) * length, size)`.
///
/// The digests are held back to back in one buffer: a large file has
/// hundreds of thousands of pieces, and one allocation per digest would
/// cost more memory than the digests themselves.
#[derive(Clone, PartialEq, Eq)]
pub struct PieceHashes {
    algorithm: Algorithm,
    length: u64,
    hashes: Vec<u8>,
}

impl PieceHashes {
    /// Pieces of `length` bytes with the given digests, in file order.
    /// `None` when `length` is 0 or a digest is not of `algorithm`.
    pub fn new(algorithm: Algorithm, length: u64, digests: &[Digest]) -> Option<PieceHashes> {
        if length == 0 || digests.iter().any(|d| d.algorithm() != algorithm) {
            return None;
        }
        let mut hashes = Vec::with_capacity(digests.len().saturating_mul(algorithm.output_len()));
        for digest in digests {
            hashes.extend_from_slice(digest.as_bytes());
        }
        Some(PieceHashes {
            algorithm,
            length,
            hashes,
        })
    }

    /// The hash algorithm of every piece.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The length of each piece but the last, in bytes.
    pub fn piece_length(&self) -> u64 {
        self.length
    }

    /// The number of pieces.
    pub fn len(&self) -> usize {
        self.hashes.len() / self.algorithm.output_len()
    }

    /// Whether there are no pieces (only for an empty file).
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The expected digest of piece `index`.
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        let len = self.algorithm.output_len();
        let start = index.checked_mul(len)?;
        self.hashes.get(start..start.checked_add(len)?)
    }

    /// Every piece's expected digest, in file order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.hashes.chunks_exact(self.algorithm.output_len())
    }

    /// The byte range of piece `index` in a file of `file_size` bytes;
    /// `None` past the last piece.
    pub fn range(&self, index: usize, file_size: u64) -> Option<Range<u64>> {
        if index >= self.len() {
            return None;
        }
        let start = u64::try_from(index).ok()?.checked_mul(self.length)?;
        if start >= file_size {
            return None;
        }
        Some(start..start.saturating_add(self.length).min(file_size))
    }

    /// How many pieces of `length` bytes a file of `file_size` bytes has.
    pub fn expected_count(file_size: u64, length: u64) -> Option<u64> {
        if length == 0 {
            return None;
        }
        Some(file_size / length + u64::from(file_size % length != 0))
    }

    /// Whether the number of pieces is right for a file of `file_size`
    /// bytes.
    pub fn fits_size(&self, file_size: u64) -> bool {
        Self::expected_count(file_size, self.length) == u64::try_from(self.len()).ok()
    }
}

impl fmt::Debug for PieceHashes {
    /// A summary: hundreds of thousands of digests help no one in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PieceHashes")
            .field("algorithm", &self.algorithm)
            .field("piece_length", &self.length)
            .field("pieces", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn digests(algorithm: Algorithm, count: usize) -> Vec<Digest> {
        (0..count)
            .map(|i| Digest::new(algorithm, vec![i as u8; algorithm.output_len()]).unwrap())
            .collect()
    }

    #[test]
    fn accessors() {
        let pieces = PieceHashes::new(Algorithm::Sha1, 10, &digests(Algorithm::Sha1, 3)).unwrap();
        assert_eq!(pieces.len(), 3);
        assert!(!pieces.is_empty());
        assert_eq!(pieces.piece_length(), 10);
        assert_eq!(pieces.algorithm(), Algorithm::Sha1);
        assert_eq!(pieces.get(2), Some(&[2u8; 20][..]));
        assert_eq!(pieces.get(3), None);
        assert_eq!(pieces.get(usize::MAX), None);
        assert_eq!(pieces.iter().count(), 3);
        assert_eq!(pieces.range(0, 25), Some(0..10));
        assert_eq!(pieces.range(2, 25), Some(20..25));
        assert_eq!(pieces.range(3, 25), None);
        assert_eq!(pieces.range(2, 15), None);
        assert!(pieces.fits_size(21) && pieces.fits_size(30));
        assert!(!pieces.fits_size(20) && !pieces.fits_size(31));
        assert_eq!(
            format!("{pieces:?}"),
            "PieceHashes { algorithm: Sha1, piece_length: 10, pieces: 3 }"
        );
    }

    #[test]
    fn refuses_zero_length_and_mixed_algorithms() {
        assert!(PieceHashes::new(Algorithm::Md5, 0, &[]).is_none());
        assert!(PieceHashes::new(Algorithm::Md5, 1, &digests(Algorithm::Sha1, 1)).is_none());
        let empty = PieceHashes::new(Algorithm::Md5, 1, &[]).unwrap();
        assert!(empty.is_empty() && empty.fits_size(0));
        assert_eq!(PieceHashes::expected_count(0, 0), None);
        assert_eq!(PieceHashes::expected_count(u64::MAX, 1), Some(u64::MAX));
        assert_eq!(
            PieceHashes::expected_count(u64::MAX, 2),
            Some(u64::MAX / 2 + 1)
        );
    }

    proptest! {
        #[test]
        fn ranges_tile_the_file(size in 0u64..10_000, length in 1u64..500) {
            let count = PieceHashes::expected_count(size, length).unwrap() as usize;
            let pieces = PieceHashes::new(Algorithm::Md5, length, &digests(Algorithm::Md5, count)).unwrap();
            prop_assert!(pieces.fits_size(size));
            let mut next = 0;
            for index in 0..count {
                let range = pieces.range(index, size).unwrap();
                prop_assert_eq!(range.start, next);
                prop_assert!(range.end > range.start && range.end - range.start <= length);
                next = range.end;
            }
            prop_assert_eq!(next, size);
            prop_assert_eq!(pieces.range(count, size), None);
        }
    }
}
