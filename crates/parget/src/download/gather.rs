//! Gathering a body's chunks into the buffers the sink takes: one flush
//! unit each (large writes, few wake-ups), and with piece hashes, held back
//! until their piece is complete and matches, so no byte of a bad piece is
//! ever written. No I/O: it hands back what is ready to write.

use bytes::{Bytes, BytesMut};

use super::pieces::PieceCheck;
use crate::error::Error;
use crate::sink::{BufferPool, FLUSH_SIZE};

/// Buffers ready to write, each with its offset in the resource.
pub(crate) type Ready = Vec<(u64, Bytes)>;

/// The bytes of one stream between the network and the sink.
pub(crate) struct Gather {
    buffer: BytesMut,
    /// Where `buffer` starts in the resource.
    buffer_start: u64,
    /// Full buffers of the piece being received, waiting for its check.
    held_back: Ready,
    check: Option<PieceCheck>,
}

impl Gather {
    /// Gathers bytes starting at `start`, in `buffer`, checking pieces
    /// with `check` when given.
    pub(crate) fn new(start: u64, buffer: BytesMut, check: Option<PieceCheck>) -> Gather {
        Gather {
            buffer,
            buffer_start: start,
            held_back: Vec::new(),
            check,
        }
    }

    /// The offset of the next byte.
    pub(crate) fn position(&self) -> u64 {
        // Held-back buffers already moved `buffer_start` past them.
        self.buffer_start + self.buffer.len() as u64
    }

    /// Takes `chunk`; hands back the buffers that are ready to write, or
    /// the failure of a piece (whose bytes are then dropped).
    pub(crate) fn take(&mut self, chunk: &[u8]) -> Result<Ready, Error> {
        let mut ready = Vec::new();
        let Some(mut check) = self.check.take() else {
            self.buffer.extend_from_slice(chunk);
            if self.buffer.len() >= FLUSH_SIZE {
                ready.push(self.cut());
            }
            return Ok(ready);
        };
        let mut rest = chunk;
        let result = loop {
            if rest.is_empty() {
                break Ok(ready);
            }
            let at = self.position();
            let room = usize::try_from(check.piece_end().saturating_sub(at)).unwrap_or(usize::MAX);
            let (now, later) = rest.split_at(room.min(rest.len()));
            // Never more than a flush unit in one buffer: a long piece is
            // held back in several.
            let space = FLUSH_SIZE.saturating_sub(self.buffer.len()).max(1);
            let (now, spill) = now.split_at(space.min(now.len()));
            self.buffer.extend_from_slice(now);
            check.update(now);
            rest = if spill.is_empty() {
                later
            } else {
                &rest[now.len()..]
            };
            if self.buffer.len() >= FLUSH_SIZE && at + (now.len() as u64) < check.piece_end() {
                let full = self.cut();
                self.held_back.push(full);
                continue;
            }
            if at + now.len() as u64 >= check.piece_end() {
                match check.finish_piece() {
                    Ok(_) => {
                        ready.append(&mut self.held_back);
                        ready.push(self.cut());
                    }
                    Err(bad) => {
                        // Its bytes are wrong: none of them is written.
                        self.buffer_start = check.piece_end();
                        self.buffer.clear();
                        self.held_back.clear();
                        break Err(bad);
                    }
                }
            }
        };
        self.check = Some(check);
        result
    }

    /// What is left to write at the end of the body (with piece hashes,
    /// only a piece already checked, so nothing unless the body ended mid
    /// piece, whose bytes are dropped).
    pub(crate) fn rest(&mut self) -> Option<(u64, Bytes)> {
        if self.check.is_some() || self.buffer.is_empty() {
            return None;
        }
        Some(self.cut())
    }

    /// The bytes taken but neither handed back nor dropped: the part of a
    /// piece not yet complete, when pieces are checked.
    pub(crate) fn unchecked(&self) -> std::ops::Range<u64> {
        let start = self
            .held_back
            .first()
            .map_or(self.buffer_start, |(offset, _)| *offset);
        start..self.position()
    }

    /// The buffer as it is, a fresh one in its place.
    fn cut(&mut self) -> (u64, Bytes) {
        let full = std::mem::replace(&mut self.buffer, BufferPool::shared().take()).freeze();
        let start = self.buffer_start;
        self.buffer_start += full.len() as u64;
        (start, full)
    }

    /// The bytes gathered but not handed back (a small body, whole).
    pub(crate) fn into_buffer(self) -> BytesMut {
        self.buffer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::PieceHashes;
    use crate::verify::{digest_of, Algorithm};
    use std::sync::Arc;

    fn joined(ready: &Ready) -> Vec<u8> {
        ready.iter().flat_map(|(_, b)| b.to_vec()).collect()
    }

    #[test]
    fn without_pieces_full_buffers_come_out_in_order() {
        let mut gather = Gather::new(100, BytesMut::new(), None);
        let chunk = vec![7u8; FLUSH_SIZE / 2 + 1];
        assert!(gather.take(&chunk).unwrap().is_empty());
        let ready = gather.take(&chunk).unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].0, 100);
        assert_eq!(ready[0].1.len(), FLUSH_SIZE + 2);
        assert_eq!(gather.position(), 100 + FLUSH_SIZE as u64 + 2);
        assert!(gather.rest().is_none(), "nothing left");
    }

    #[test]
    fn pieces_come_out_only_when_they_match() {
        // Three pieces of 1.5 flush units: each held back in two buffers.
        let length = FLUSH_SIZE + FLUSH_SIZE / 2;
        let data: Vec<u8> = (0..length * 3).map(|i| (i % 251) as u8).collect();
        let digests: Vec<_> = data
            .chunks(length)
            .map(|c| digest_of(Algorithm::Sha256, c))
            .collect();
        let hashes =
            Arc::new(PieceHashes::new(Algorithm::Sha256, length as u64, &digests).unwrap());
        let len = data.len() as u64;
        let check = PieceCheck::at(hashes.clone(), len, 0);
        let mut gather = Gather::new(0, BytesMut::new(), check);
        let mut out = Vec::new();
        for chunk in data[..length * 2].chunks(64 * 1024 + 3) {
            out.extend(gather.take(chunk).unwrap());
        }
        assert_eq!(
            joined(&out),
            data[..length * 2],
            "two whole pieces, in order"
        );
        let offsets: Vec<u64> = out.iter().map(|(o, _)| *o).collect();
        assert!(offsets.windows(2).all(|w| w[0] < w[1]));
        // A bad third piece: none of it comes out.
        let mut bad = data[length * 2..].to_vec();
        bad[10] ^= 1;
        let result: Result<Vec<_>, _> = bad.chunks(100_000).map(|c| gather.take(c)).collect();
        let error = result.unwrap_err();
        assert!(
            matches!(
                error.kind(),
                crate::ErrorKind::PieceMismatch { piece: 2, .. }
            ),
            "{error}"
        );
        assert!(gather.rest().is_none());
    }
}
