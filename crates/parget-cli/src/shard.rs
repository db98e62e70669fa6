//! `--shard I/N`: which entries of a list one of N processes takes.
//!
//! An entry belongs to shard `I` of `N` when
//!
//! ```text
//! xxh3_64(key, seed = 0) mod N == I
//! ```
//!
//! where `key` is the entry's destination path relative to `-d`, as bytes
//! (UTF-8 for UTF-8 names), its components joined by `/`, `.` components
//! dropped (`-d out` and `a/./b.bin` give `a/b.bin`). A destination not
//! under `-d` (an absolute `-o`) is keyed by its whole path. XXH3 is a
//! specified hash with published test vectors, so every machine and every
//! version of parget splits a list alike; the tests pin the values, and the
//! function must never change.
//!
//! The destination, not the URL, is hashed: two entries that would write
//! one file land in one shard, where the duplicate check sees both. An
//! entry that cannot become a request has no destination; shard 0 alone
//! reports it, so a bad line fails one shard, not all of them.

use std::path::{Component, Path};
use std::str::FromStr;

use xxhash_rust::xxh3::xxh3_64;

/// Shard `index` of `count` (`index < count`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This process's shard, from 0.
    pub index: u64,
    /// How many shards the list is split into.
    pub count: u64,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not I/N (e.g. 0/4: the first of four shards)"))?;
        let number = |part: &str, what: &str| {
            part.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{text}`: the {what} `{part}` is not a whole number"))
        };
        let (index, count) = (number(index, "shard")?, number(count, "shard count")?);
        if count == 0 {
            return Err(format!("`{text}`: the shard count must be at least 1"));
        }
        if index >= count {
            return Err(format!(
                "`{text}`: shards are numbered from 0 to {} (I must be less than N)",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether the entry saved at `destination` belongs to this shard.
    pub fn owns(&self, destination: &Path, dir: &Path) -> bool {
        shard_of(&key(destination, dir), self.count) == self.index
    }

    /// Whether an entry with no destination (an invalid one) belongs here.
    pub fn owns_invalid(&self) -> bool {
        self.index == 0
    }
}

/// The shard of `key` among `count`.
pub fn shard_of(key: &[u8], count: u64) -> u64 {
    xxh3_64(key) % count
}

/// `path`'s components without the `.` ones.
fn normal(path: &Path) -> Vec<Component<'_>> {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// The bytes hashed for `destination`: see the module's documentation.
pub fn key(destination: &Path, dir: &Path) -> Vec<u8> {
    let (path, base) = (normal(destination), normal(dir));
    let relative = match path.strip_prefix(base.as_slice()) {
        Some(rest) if !rest.is_empty() => rest,
        _ => &path[..],
    };
    let mut key = Vec::new();
    for (i, component) in relative.iter().enumerate() {
        // Joined by `/` whatever the platform writes, so a key is the same
        // everywhere; the root of an absolute path is its own `/`.
        if i > 0 && !matches!(relative[i - 1], Component::RootDir) {
            key.push(b'/');
        }
        match component {
            Component::RootDir => key.push(b'/'),
            other => key.extend_from_slice(other.as_os_str().as_encoded_bytes()),
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The function itself, pinned: XXH3-64 with seed 0, checked against
    /// an independent implementation (the `xxhash` Python package). These
    /// values must never change, or shards of one list would differ
    /// between versions.
    #[test]
    fn the_hash_is_pinned() {
        let vectors: &[(&str, u64, u64, u64)] = &[
            ("", 0x2d06_8005_38d3_94c2, 4, 138),
            ("f00001.bin", 0xba5c_ec54_0ef4_8431, 0, 97),
            (
                "pool/main/a/apt/apt_2.6.1_amd64.deb",
                0xcf89_04e7_769a_9670,
                4,
                648,
            ),
            ("images/café.jpg", 0xa358_ac9a_1c29_7510, 5, 344),
        ];
        for &(key, hash, mod7, mod1000) in vectors {
            assert_eq!(xxh3_64(key.as_bytes()), hash, "{key:?}");
            assert_eq!(shard_of(key.as_bytes(), 7), mod7, "{key:?}");
            assert_eq!(shard_of(key.as_bytes(), 1000), mod1000, "{key:?}");
        }
    }

    #[test]
    fn keys_are_relative_to_the_output_directory() {
        let k = |p: &str, d: &str| String::from_utf8(key(Path::new(p), Path::new(d))).unwrap();
        assert_eq!(k("out/a/b.bin", "out"), "a/b.bin");
        assert_eq!(k("./out/./a//b.bin", "out/"), "a/b.bin");
        assert_eq!(k("b.bin", "."), "b.bin");
        assert_eq!(k("/srv/data/x/y", "/srv/data"), "x/y");
        // Not under -d: the whole path.
        assert_eq!(k("/elsewhere/f", "out"), "/elsewhere/f");
        assert_eq!(k("other/f", "out"), "other/f");
        // One destination, however spelled, is in one shard.
        let shard = Shard { index: 3, count: 5 };
        assert_eq!(
            shard.owns(Path::new("out/a/b"), Path::new("out")),
            shard.owns(Path::new("./out/a/./b"), Path::new("./out"))
        );
    }

    #[test]
    fn every_key_is_in_exactly_one_shard() {
        for count in [1, 2, 3, 7, 64] {
            let shards: Vec<Shard> = (0..count).map(|index| Shard { index, count }).collect();
            let mut sizes = vec![0usize; count as usize];
            for i in 0..2000 {
                let path = format!("out/f{i}.bin");
                let owners: Vec<u64> = shards
                    .iter()
                    .filter(|s| s.owns(Path::new(&path), Path::new("out")))
                    .map(|s| s.index)
                    .collect();
                assert_eq!(owners.len(), 1, "{path} in {count} shards: {owners:?}");
                sizes[owners[0] as usize] += 1;
            }
            // The hash spreads: no shard is empty or takes twice its share.
            let fair = 2000 / count as usize;
            assert!(
                sizes.iter().all(|&n| n > fair / 2 && n < fair * 2),
                "{count}: {sizes:?}"
            );
        }
    }

    #[test]
    fn parsing_says_what_is_wrong() {
        assert_eq!("0/1".parse(), Ok(Shard { index: 0, count: 1 }));
        assert_eq!("3/4".parse(), Ok(Shard { index: 3, count: 4 }));
        assert_eq!(
            " 2 / 10 ".parse(),
            Ok(Shard {
                index: 2,
                count: 10
            })
        );
        let err = |s: &str| s.parse::<Shard>().unwrap_err();
        assert!(err("4/4").contains("from 0 to 3"), "{}", err("4/4"));
        assert!(err("1/0").contains("at least 1"));
        assert!(err("3").contains("is not I/N"));
        assert!(err("a/4").contains("`a` is not a whole number"));
        assert!(err("-1/4").contains("not a whole number"));
        assert!(err("1/4/2").contains("not a whole number"));
        assert!(err("").contains("is not I/N"));
        assert_eq!(Shard { index: 1, count: 8 }.to_string(), "1/8");
    }
}
