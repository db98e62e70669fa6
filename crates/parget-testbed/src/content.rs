//! Deterministic resource bytes: every test can recompute what the server
//! sent (and its digest) from the URL path alone.

use std::sync::OnceLock;

/// A prime length, so that no power of two is a multiple of it: the bytes at
/// `i` and `i + 2^k` always come from different places in the block.
const BLOCK_LEN: usize = 1_000_003;

/// Fixed seed of the block, so content is the same in every process.
const BLOCK_SEED: u64 = 0x5EED_0F9A_126E_7B01;

fn block() -> &'static [u8] {
    static BLOCK: OnceLock<Box<[u8]>> = OnceLock::new();
    BLOCK.get_or_init(|| {
        let mut state = BLOCK_SEED;
        let mut block = vec![0u8; BLOCK_LEN];
        for chunk in block.chunks_mut(8) {
            let word = splitmix64(&mut state).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        block.into_boxed_slice()
    })
}

/// SplitMix64 step: a tiny, well-mixed generator, good enough for test data.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    mix64(*state)
}

/// The SplitMix64 finalizer: a bijective 64-bit hash.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a over the path, used as the per-resource seed.
pub(crate) fn path_seed(path: &str) -> u64 {
    let mut hash: u64 = 0xCBF2_9CE4_8422_2325;
    for &b in path.as_bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01B3);
    }
    hash
}

/// Writes the bytes of the resource at URL path `path` (the path only, without
/// the query), starting at byte `offset`, into `buf`.
///
/// The bytes depend on `path` and `offset` only. Byte `i` is
/// `BLOCK[(i + s) % L] ^ h((i + s) / L)`, where `BLOCK` is a fixed
/// pseudo-random block of prime length `L = 1_000_003`, `s` is the FNV-1a hash
/// of the path and `h` hashes the block number to a byte. Because `L` is prime
/// the content has no power-of-two period, so a segment written at the wrong
/// offset never goes unnoticed.
pub fn fill(path: &str, offset: u64, buf: &mut [u8]) {
    fill_seeded(path_seed(path), offset, buf);
}

/// [`fill`] with the path already hashed, so the server hashes each path once
/// per response instead of once per buffer.
pub(crate) fn fill_seeded(seed: u64, offset: u64, buf: &mut [u8]) {
    let block = block();
    let len = BLOCK_LEN as u128;
    // u128 so that seed + offset never wraps; the division runs once per call.
    let pos = u128::from(seed) + u128::from(offset);
    let mut index = (pos % len) as usize;
    let mut block_no = (pos / len) as u64;
    let mut rest = buf;
    while !rest.is_empty() {
        let n = rest.len().min(BLOCK_LEN - index);
        let (head, tail) = rest.split_at_mut(n);
        let key = mix64(block_no) as u8;
        // A plain zip loop is what the optimiser turns into SIMD xor.
        for (dst, src) in head.iter_mut().zip(&block[index..index + n]) {
            *dst = *src ^ key;
        }
        rest = tail;
        index = 0;
        block_no = block_no.wrapping_add(1);
    }
}

/// The whole resource at `path` when it is `len` bytes long (what a
/// `GET path?size=len` returns).
///
/// # Panics
///
/// When `len` does not fit in memory (`usize`).
pub fn content(path: &str, len: u64) -> Vec<u8> {
    let len = usize::try_from(len).expect("content length fits in usize");
    let mut buf = vec![0u8; len];
    fill(path, 0, &mut buf);
    buf
}

/// The content key of `path` served with `?version=VERSION`: pass it to
/// [`fill`] or [`content`] to get the bytes of that version.
///
/// `#` cannot occur in a request path, so a versioned key never collides with
/// a plain path.
pub fn versioned_path(path: &str, version: &str) -> String {
    format!("{path}#v{version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_matches_content_slices_across_block_boundaries() {
        let path = "/files/a.bin";
        let whole = content(path, 2_500_000);
        for &(offset, len) in &[
            (0usize, 10usize),
            (999_990, 40),
            (1_000_000, 2_000),
            (1_234_567, 1_000_000),
        ] {
            let mut buf = vec![0u8; len];
            fill(path, offset as u64, &mut buf);
            assert_eq!(buf, whole[offset..offset + len], "offset {offset}");
        }
    }

    #[test]
    fn no_power_of_two_period() {
        let path = "/period.bin";
        let mut base = vec![0u8; 4096];
        fill(path, 0, &mut base);
        for k in 10..=30 {
            let mut shifted = vec![0u8; 4096];
            fill(path, 1u64 << k, &mut shifted);
            let same = base.iter().zip(&shifted).filter(|(a, b)| a == b).count();
            // Independent random bytes agree 1/256 of the time: ~16 of 4096.
            assert!(same < 100, "k = {k}: {same} equal bytes");
        }
    }

    #[test]
    fn different_paths_differ_and_same_path_repeats() {
        let a = content("/a.bin", 4096);
        let b = content("/b.bin", 4096);
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        assert!(same < 100, "{same} equal bytes");
        assert_eq!(a, content("/a.bin", 4096));
        assert_ne!(content(&versioned_path("/a.bin", "2"), 4096), a);
    }

    #[test]
    fn bytes_are_roughly_uniform() {
        let data = content("/uniform.bin", 256 * 1024);
        let mut counts = [0u32; 256];
        for &b in &data {
            counts[b as usize] += 1;
        }
        // Expected 1024 per value.
        assert!(
            counts.iter().all(|&c| (800..1250).contains(&c)),
            "{counts:?}"
        );
    }
}
