//! Digests and their algorithms, computed while the bytes stream.
//!
//! [`Algorithm`] names a hash function, [`Digest`] is an expected or computed
//! value, and [`Hashers`] feeds every requested algorithm from one pass over
//! the bytes. The engine runs a [`Hashers`] on a thread of its own, fed in
//! order, so hashing never slows the receive path.

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;

/// A hash function parget can verify while downloading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// MD5 (apt's `MD5Sum:`); weak, kept for lists that only carry it.
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA-224 (Metalink's `sha-224`, aria2's `sha-224`).
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384 (Metalink's `sha-384`, aria2's `sha-384`).
    Sha384,
    /// SHA-512.
    Sha512,
    /// BLAKE3 with a 32-byte output.
    Blake3,
}

impl Algorithm {
    /// The names of every algorithm, as messages list them.
    pub const SUPPORTED: &'static str = "md5, sha-1, sha-224, sha-256, sha-384, sha-512, blake3";

    /// Every algorithm, strongest-first order is not implied.
    pub const ALL: [Algorithm; 7] = [
        Algorithm::Md5,
        Algorithm::Sha1,
        Algorithm::Sha224,
        Algorithm::Sha256,
        Algorithm::Sha384,
        Algorithm::Sha512,
        Algorithm::Blake3,
    ];

    /// The canonical lower-case name: `md5`, `sha1`, `sha224`, `sha256`,
    /// `sha384`, `sha512`, `blake3` (hashlib's names).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "md5",
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha224 => "sha224",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
            Algorithm::Blake3 => "blake3",
        }
    }

    /// The digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Algorithm::Md5 => 16,
            Algorithm::Sha1 => 20,
            Algorithm::Sha224 => 28,
            Algorithm::Sha256 => 32,
            Algorithm::Sha384 => 48,
            Algorithm::Sha512 => 64,
            Algorithm::Blake3 => 32,
        }
    }

    /// Parses an algorithm name, case-insensitively, in the spellings the
    /// supported list formats use: `sha256`, `sha-256`, `SHA256` (apt),
    /// `md5`, `MD5Sum` (apt), `sha1`, `sha-1`, `sha224`, `sha-224`, `sha384`,
    /// `sha-384`, `sha512`, `sha-512`, `blake3`.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "md5" | "md5sum" => Some(Algorithm::Md5),
            "sha1" | "sha-1" => Some(Algorithm::Sha1),
            "sha224" | "sha-224" => Some(Algorithm::Sha224),
            "sha256" | "sha-256" => Some(Algorithm::Sha256),
            "sha384" | "sha-384" => Some(Algorithm::Sha384),
            "sha512" | "sha-512" => Some(Algorithm::Sha512),
            "blake3" => Some(Algorithm::Blake3),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = ParseDigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::from_name(s)
            .ok_or_else(|| ParseDigestError(format!("unknown digest algorithm `{s}`")))
    }
}

/// A digest value together with its algorithm.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    algorithm: Algorithm,
    value: Vec<u8>,
}

impl Digest {
    /// Builds a digest from raw bytes; fails when the length does not fit the
    /// algorithm.
    pub fn new(algorithm: Algorithm, value: Vec<u8>) -> Result<Digest, ParseDigestError> {
        if value.len() != algorithm.output_len() {
            return Err(ParseDigestError(format!(
                "a {algorithm} digest has {} bytes, got {}",
                algorithm.output_len(),
                value.len()
            )));
        }
        Ok(Digest { algorithm, value })
    }

    /// Parses a hexadecimal value (either case) for `algorithm`.
    pub fn from_hex(algorithm: Algorithm, hex_value: &str) -> Result<Digest, ParseDigestError> {
        let value = hex::decode(hex_value.trim()).map_err(|_| {
            ParseDigestError(format!(
                "`{hex_value}` is not a hexadecimal {algorithm} digest"
            ))
        })?;
        Digest::new(algorithm, value)
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.value
    }

    /// The value as lower-case hexadecimal.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.value)
    }
}

impl fmt::Display for Digest {
    /// Formats as `ALGO=HEX`, the form `--checksum` takes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.algorithm, self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = ParseDigestError;

    /// Parses `ALGO=HEX` or `ALGO:HEX` (for example `sha256=ab12…`,
    /// `sha-256=ab12…`, `SHA256:ab12…`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, hex_value) = s
            .split_once(['=', ':'])
            .ok_or_else(|| ParseDigestError(format!("`{s}` is not of the form ALGO=HEX")))?;
        Digest::from_hex(name.parse()?, hex_value)
    }
}

/// A digest or algorithm that could not be parsed; the message names the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseDigestError(String);

impl fmt::Display for ParseDigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseDigestError {}

enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha224(sha2::Sha224),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
    Blake3(Box<blake3::Hasher>),
}

impl Hasher {
    fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Md5 => Hasher::Md5(md5::Md5::new()),
            Algorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Algorithm::Sha224 => Hasher::Sha224(sha2::Sha224::new()),
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
            Algorithm::Blake3 => Hasher::Blake3(Box::default()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(bytes),
            Hasher::Sha1(h) => h.update(bytes),
            Hasher::Sha224(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha384(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
            Hasher::Blake3(h) => {
                h.update(bytes);
            }
        }
    }

    fn finish(self) -> Digest {
        let (algorithm, value) = match self {
            Hasher::Md5(h) => (Algorithm::Md5, h.finalize().to_vec()),
            Hasher::Sha1(h) => (Algorithm::Sha1, h.finalize().to_vec()),
            Hasher::Sha224(h) => (Algorithm::Sha224, h.finalize().to_vec()),
            Hasher::Sha256(h) => (Algorithm::Sha256, h.finalize().to_vec()),
            Hasher::Sha384(h) => (Algorithm::Sha384, h.finalize().to_vec()),
            Hasher::Sha512(h) => (Algorithm::Sha512, h.finalize().to_vec()),
            Hasher::Blake3(h) => (Algorithm::Blake3, h.finalize().as_bytes().to_vec()),
        };
        Digest { algorithm, value }
    }
}

/// Several hash functions fed from one pass over the bytes.
pub struct Hashers {
    hashers: Vec<Hasher>,
    len: u64,
}

impl Hashers {
    /// Hashers for the given algorithms (duplicates are hashed once).
    pub fn new(algorithms: impl IntoIterator<Item = Algorithm>) -> Hashers {
        let mut algorithms: Vec<Algorithm> = algorithms.into_iter().collect();
        algorithms.sort();
        algorithms.dedup();
        Hashers {
            hashers: algorithms.into_iter().map(Hasher::new).collect(),
            len: 0,
        }
    }

    /// True when no algorithm is requested: feeding is then only counting.
    pub fn is_empty(&self) -> bool {
        self.hashers.is_empty()
    }

    /// Feeds the next bytes, in order.
    pub fn update(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        for hasher in &mut self.hashers {
            hasher.update(bytes);
        }
    }

    /// How many bytes were fed.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Finishes every hash; digests come in [`Algorithm`] order.
    pub fn finish(self) -> Vec<Digest> {
        self.hashers.into_iter().map(Hasher::finish).collect()
    }
}

/// Hashes a byte slice with one algorithm: a convenience for tests and small
/// in-memory checks.
pub fn digest_of(algorithm: Algorithm, bytes: &[u8]) -> Digest {
    let mut hashers = Hashers::new([algorithm]);
    hashers.update(bytes);
    hashers.finish().remove(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        let cases = [
            (Algorithm::Md5, "900150983cd24fb0d6963f7d28e17f72"),
            (Algorithm::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                Algorithm::Sha256,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                Algorithm::Sha224,
                "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
            ),
            (
                Algorithm::Sha384,
                "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
            ),
            (
                Algorithm::Sha512,
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
            (
                Algorithm::Blake3,
                "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
            ),
        ];
        for (algorithm, hex_value) in cases {
            assert_eq!(
                digest_of(algorithm, b"abc").to_hex(),
                hex_value,
                "{algorithm}"
            );
        }
    }

    #[test]
    fn split_updates_equal_one_update() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut split = Hashers::new(Algorithm::ALL);
        for chunk in data.chunks(777) {
            split.update(chunk);
        }
        let mut whole = Hashers::new(Algorithm::ALL);
        whole.update(&data);
        assert_eq!(split.len(), 10_000);
        assert_eq!(split.finish(), whole.finish());
    }

    #[test]
    fn parses_digest_spellings() {
        let hex_value = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        for form in [
            format!("sha256={hex_value}"),
            format!("sha-256={hex_value}"),
            format!("SHA256:{hex_value}"),
            format!("sha256={}", hex_value.to_uppercase()),
        ] {
            let digest: Digest = form.parse().unwrap();
            assert_eq!(digest.algorithm(), Algorithm::Sha256);
            assert_eq!(digest.to_hex(), hex_value);
        }
        assert!("sha256=abcd".parse::<Digest>().is_err(), "short value");
        assert!("crc32=abcd".parse::<Digest>().is_err(), "unknown algorithm");
        for algorithm in Algorithm::ALL {
            let name = algorithm.name();
            assert_eq!(Algorithm::from_name(name), Some(algorithm));
            let dashed = name.replacen("sha", "sha-", 1);
            assert_eq!(Algorithm::from_name(&dashed), Some(algorithm), "{dashed}");
            assert!(
                Algorithm::SUPPORTED.contains(&dashed),
                "{dashed} is missing from the supported list"
            );
        }
        assert!("sha256".parse::<Digest>().is_err(), "no value");
        assert!(
            format!("md5={hex_value}").parse::<Digest>().is_err(),
            "length of another algorithm"
        );
    }
}
