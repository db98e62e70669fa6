//! Checking what a tool left behind: every expected file with the known
//! digest, nothing else. A wrong or missing file is a failure, never a
//! timing.

use std::collections::{BTreeSet, HashMap};
use std::io::Read as _;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::scenario::FileSpec;

/// A file the output directory must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The file name.
    pub name: String,
    /// Its size.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: [u8; 32],
}

/// The SHA-256 of the testbed's bytes for `file`.
pub fn expected(file: &FileSpec) -> Expected {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; (1 << 20).min(file.size.max(1) as usize)];
    let mut offset = 0;
    while offset < file.size {
        let n = buf.len().min((file.size - offset) as usize);
        parget_testbed::fill(&file.path, offset, &mut buf[..n]);
        hasher.update(&buf[..n]);
        offset += n as u64;
    }
    Expected {
        name: file.name.clone(),
        size: file.size,
        sha256: hasher.finalize().into(),
    }
}

fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

/// The names in `dir` (files and anything else).
fn names_in(dir: &Path) -> Result<BTreeSet<String>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut names = BTreeSet::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        names.insert(entry.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

/// Problems found, summarised in one line.
#[derive(Debug, Default)]
struct Problems {
    missing: Vec<String>,
    wrong: Vec<String>,
    unexpected: Vec<String>,
}

impl Problems {
    fn into_result(self) -> Result<(), String> {
        let mut parts = Vec::new();
        for (what, list) in [
            ("missing", &self.missing),
            ("wrong", &self.wrong),
            ("unexpected", &self.unexpected),
        ] {
            if !list.is_empty() {
                parts.push(format!("{} {what} ({})", list.len(), abbreviate(list)));
            }
        }
        if parts.is_empty() {
            Ok(())
        } else {
            Err(parts.join(", "))
        }
    }
}

/// The first three items and "…" when there are more.
pub fn abbreviate(items: &[String]) -> String {
    let mut text = items.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > 3 {
        text.push_str(", …");
    }
    text
}

/// Checks that `out` holds nothing but the directories leading to
/// `result_dir` (for tools that save under the URL's directories).
pub fn tree(out: &Path, result_dir: &Path) -> Result<(), String> {
    let mut dir = result_dir;
    while dir != out {
        let Some(parent) = dir.parent() else { break };
        let want = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        let names = names_in(parent)?;
        let extra: Vec<String> = names
            .into_iter()
            .filter(|n| Some(n) != want.as_ref())
            .collect();
        if !extra.is_empty() {
            return Err(format!(
                "{} unexpected ({})",
                extra.len(),
                abbreviate(&extra)
            ));
        }
        dir = parent;
    }
    Ok(())
}

/// Checks that `dir` holds exactly the `expected` files with their sizes and
/// digests.
pub fn files(dir: &Path, expected: &[Expected]) -> Result<(), String> {
    let mut present = names_in(dir)?;
    let mut problems = Problems::default();
    for e in expected {
        if !present.remove(&e.name) {
            problems.missing.push(e.name.clone());
            continue;
        }
        let path = dir.join(&e.name);
        match std::fs::metadata(&path) {
            Ok(m) if !m.is_file() => problems.wrong.push(format!("{}: not a file", e.name)),
            Ok(m) if m.len() != e.size => {
                problems
                    .wrong
                    .push(format!("{}: {} bytes, not {}", e.name, m.len(), e.size))
            }
            Ok(_) => match sha256_file(&path) {
                Ok(digest) if digest == e.sha256 => {}
                Ok(_) => problems.wrong.push(format!("{}: SHA-256 differs", e.name)),
                Err(err) => problems.wrong.push(format!("{}: {err}", e.name)),
            },
            Err(err) => problems.wrong.push(format!("{}: {err}", e.name)),
        }
    }
    problems.unexpected = present.into_iter().collect();
    problems.into_result()
}

/// Checks a paginated run: `dir` holds one file per endpoint, named by the
/// endpoint's last segment, holding `x of N` with `x` its 1-based position
/// in the listing; and the server saw exactly one request for each endpoint
/// (`stats` is `GET /api/stats`).
pub fn paginated(
    dir: &Path,
    endpoints: &[String],
    stats: &serde_json::Value,
) -> Result<(), String> {
    let n = endpoints.len();
    let mut present = names_in(dir)?;
    let mut problems = Problems::default();
    for (i, endpoint) in endpoints.iter().enumerate() {
        let name = endpoint.rsplit('/').next().unwrap_or("").to_owned();
        if !present.remove(&name) {
            problems.missing.push(name);
            continue;
        }
        let want = format!("{} of {n}", i + 1);
        match std::fs::read_to_string(dir.join(&name)) {
            Ok(text) if text.trim() == want => {}
            Ok(text) => problems
                .wrong
                .push(format!("{name}: `{}`, not `{want}`", text.trim())),
            Err(err) => problems.wrong.push(format!("{name}: {err}")),
        }
    }
    problems.unexpected = present.into_iter().collect();
    let files = problems.into_result();

    let per_path: HashMap<&str, u64> = stats["per_path"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str(), v["requests"].as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    let mut not_once = Vec::new();
    for endpoint in endpoints {
        let count = per_path.get(endpoint.as_str()).copied().unwrap_or(0);
        if count != 1 {
            not_once.push(format!("{endpoint} ×{count}"));
        }
    }
    let strays: Vec<String> = per_path
        .iter()
        .filter(|(path, _)| path.starts_with("/endpoint/") && !endpoints.iter().any(|e| e == *path))
        .map(|(path, count)| format!("{path} ×{count}"))
        .collect();
    let mut server = Vec::new();
    if !not_once.is_empty() {
        server.push(format!(
            "{} endpoints not requested exactly once ({})",
            not_once.len(),
            abbreviate(&not_once)
        ));
    }
    if !strays.is_empty() {
        server.push(format!(
            "{} unknown endpoints requested ({})",
            strays.len(),
            abbreviate(&strays)
        ));
    }
    match (files, server.is_empty()) {
        (Ok(()), true) => Ok(()),
        (Ok(()), false) => Err(server.join(", ")),
        (Err(f), true) => Err(f),
        (Err(f), false) => Err(format!("{f}, {}", server.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("parget-bench-verify-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn files_are_checked_by_size_digest_and_presence() {
        let dir = tempdir("files");
        let specs: Vec<FileSpec> = ["a.bin", "b.bin", "c.bin"]
            .iter()
            .map(|n| FileSpec {
                path: format!("/t/{n}"),
                name: (*n).into(),
                size: 3000,
            })
            .collect();
        let expected: Vec<Expected> = specs.iter().map(expected).collect();
        for spec in &specs {
            std::fs::write(
                dir.join(&spec.name),
                parget_testbed::content(&spec.path, spec.size),
            )
            .unwrap();
        }
        assert_eq!(files(&dir, &expected), Ok(()));

        // One byte changed, same size: the digest catches it.
        let mut bytes = parget_testbed::content("/t/b.bin", 3000);
        bytes[1234] ^= 1;
        std::fs::write(dir.join("b.bin"), bytes).unwrap();
        std::fs::remove_file(dir.join("c.bin")).unwrap();
        std::fs::write(dir.join("c.bin.part"), b"x").unwrap();
        let err = files(&dir, &expected).unwrap_err();
        assert!(err.contains("1 missing (c.bin)"), "{err}");
        assert!(err.contains("1 wrong (b.bin: SHA-256 differs)"), "{err}");
        assert!(err.contains("1 unexpected (c.bin.part)"), "{err}");
        std::fs::write(dir.join("b.bin"), b"short").unwrap();
        let err = files(&dir, &expected).unwrap_err();
        assert!(err.contains("b.bin: 5 bytes, not 3000"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_expected_digest_is_the_content_s() {
        let spec = FileSpec {
            path: "/x/y.bin".into(),
            name: "y.bin".into(),
            size: 2_500_000,
        };
        let want: [u8; 32] = Sha256::digest(parget_testbed::content(&spec.path, spec.size)).into();
        assert_eq!(expected(&spec).sha256, want);
        let empty = FileSpec { size: 0, ..spec };
        let want: [u8; 32] = Sha256::digest(b"").into();
        assert_eq!(expected(&empty).sha256, want);
    }

    #[test]
    fn paginated_needs_every_endpoint_once() {
        let dir = tempdir("pag");
        let endpoints: Vec<String> = ["/endpoint/aa", "/endpoint/bb"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        std::fs::write(dir.join("aa"), "1 of 2").unwrap();
        std::fs::write(dir.join("bb"), "2 of 2").unwrap();
        let once = serde_json::json!({"per_path": {
            "/endpoint/aa": {"requests": 1}, "/endpoint/bb": {"requests": 1},
            "/api/list_files": {"requests": 7}}});
        assert_eq!(paginated(&dir, &endpoints, &once), Ok(()));
        let twice = serde_json::json!({"per_path": {
            "/endpoint/aa": {"requests": 2}, "/endpoint/bb": {"requests": 1}}});
        let err = paginated(&dir, &endpoints, &twice).unwrap_err();
        assert!(
            err.contains("1 endpoints not requested exactly once (/endpoint/aa ×2)"),
            "{err}"
        );
        std::fs::write(dir.join("bb"), "1 of 2").unwrap();
        let err = paginated(&dir, &endpoints, &once).unwrap_err();
        assert!(err.contains("bb: `1 of 2`, not `2 of 2`"), "{err}");
        std::fs::remove_file(dir.join("bb")).unwrap();
        let stray = serde_json::json!({"per_path": {
            "/endpoint/aa": {"requests": 1}, "/endpoint/bb": {"requests": 1},
            "/endpoint/zz": {"requests": 1}}});
        let err = paginated(&dir, &endpoints, &stray).unwrap_err();
        assert!(err.contains("1 missing (bb)"), "{err}");
        assert!(
            err.contains("unknown endpoints requested (/endpoint/zz ×1)"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn abbreviations() {
        let items: Vec<String> = (0..5).map(|i| i.to_string()).collect();
        assert_eq!(abbreviate(&items[..2]), "0, 1");
        assert_eq!(abbreviate(&items), "0, 1, 2, …");
    }
}
