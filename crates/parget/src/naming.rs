//! Safe output file names.
//!
//! Names come from places we do not control: a URL's path, a list's `out=`,
//! an apt FILENAME. The danger is a name that escapes the output directory
//! (`..`, an absolute path, a separator smuggled in percent-encoded) or that
//! a terminal or file system mangles (NUL, control characters, an over-long
//! name). These functions reduce such input to something that, joined to the
//! output directory, stays inside it.
//!
//! Decisions:
//! - Leading dots are kept (`.bashrc` stays `.bashrc`): the name was asked
//!   for by the user's list or URL, a dot file cannot leave the directory,
//!   and silently renaming would surprise more than it protects. Only `.`
//!   and `..` themselves are refused.
//! - Surrounding whitespace is trimmed: list values are trimmed anyway, and a
//!   name that is only whitespace is refused.
//! - Percent escapes in an explicit name (apt writes `1%3a2.0` for `1:2.0`)
//!   are kept as given, as apt itself names its archive files; only a URL's
//!   path is percent-decoded, by [`name_from_url`].
//! - On Windows the characters the file system reserves (`<>:"|?*`) become
//!   `_` too, since `C:name` would otherwise name another drive.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use percent_encoding::percent_decode_str;

/// The name to use when a URL yields none ([`name_from_url`] returns `None`
/// for `http://host/`), as wget does for a directory URL.
pub const FALLBACK_NAME: &str = "index.html";

/// The longest name most file systems accept, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// The longest extension kept when a name is shortened; a longer "extension"
/// is more likely part of the name than a file type.
const MAX_KEPT_EXTENSION_BYTES: usize = 32;

/// The file name a URL suggests: its last non-empty path segment,
/// percent-decoded (invalid UTF-8 replaced), then made safe by
/// [`safe_file_name`].
///
/// Decoding happens before the safety reduction, so `%2e%2e`, `%2f` and
/// `%00` are seen for what they are and cannot escape. Returns `None` when
/// nothing usable is left (`http://host/`, a last segment of `..`, a URL
/// without a path such as `mailto:`): the caller falls back, for example
/// to [`FALLBACK_NAME`]. The query string is never part of the name.
pub fn name_from_url(url: &url::Url) -> Option<String> {
    let segment = url.path_segments()?.rev().find(|s| !s.is_empty())?;
    let decoded = percent_decode_str(segment).decode_utf8_lossy();
    safe_file_name(&decoded)
}

/// Reduces a requested name to a safe base name.
///
/// Takes the last non-empty component after splitting on both `/` and `\`
/// (so neither a Unix nor a Windows path can point elsewhere), replaces NUL
/// and other control characters (and the bidi overrides) with `_`, trims surrounding whitespace,
/// refuses `.` and `..`, and shortens the result to [`MAX_NAME_BYTES`] bytes
/// on a character boundary, keeping a short extension. `None` when nothing
/// usable is left.
pub fn safe_file_name(name: &str) -> Option<String> {
    let base = name.split(['/', '\\']).rev().find(|c| !c.is_empty())?;
    safe_component(base)
}

/// Reduces a requested relative path (an `out=` such as `sub/dir/file.bin`)
/// to a safe relative path below the output directory.
///
/// `/` and `\` both separate components; a leading separator is dropped
/// (never absolute), empty, blank and `.` components are dropped (`a//./b`
/// is `a/b`), and each other component is made safe as in [`safe_file_name`]
/// but never shortened: a name someone chose is used as given or refused
/// (one longer than [`MAX_NAME_BYTES`] fails at the claim, naming its
/// length), since two long names cut to one would be one file.
/// A `..` component anywhere refuses the whole path rather than being
/// dropped, since dropping it would silently change which file is meant.
/// `None` too when nothing is left.
pub fn safe_relative_path(path: &str) -> Option<PathBuf> {
    let mut result = PathBuf::new();
    for component in path.split(['/', '\\']) {
        match component.trim() {
            "" | "." => continue,
            ".." => return None,
            _ => result.push(clean_component(component)?),
        }
    }
    if result.as_os_str().is_empty() {
        None
    } else {
        Some(result)
    }
}

/// Makes one path component safe and short enough; the input holds no
/// separator.
fn safe_component(component: &str) -> Option<String> {
    let shortened = shorten(&clean_component(component)?, MAX_NAME_BYTES);
    // Shortening cannot produce these from a longer name, but check the
    // final value so the guarantee does not rest on that argument.
    match shortened.as_str() {
        "" | "." | ".." => None,
        _ => Some(shortened),
    }
}

/// Makes one path component safe, whatever its length; the input holds
/// no separator.
fn clean_component(component: &str) -> Option<String> {
    // Trim first, so that a name of only tabs is refused rather than
    // turned into `_`.
    let replaced: String = component
        .trim()
        .chars()
        .map(|c| if is_unsafe_char(c) { '_' } else { c })
        .collect();
    match replaced.as_str() {
        "" | "." | ".." => None,
        _ => Some(replaced),
    }
}

/// Characters never written into a name: separators (in case a caller
/// passes one through), control characters, the bidi embeddings,
/// overrides and isolates (a name must show as what it is), and on Windows
/// the reserved set.
fn is_unsafe_char(c: char) -> bool {
    c == '/'
        || c == '\\'
        || c.is_control()
        || crate::redact::reorders_text(c)
        || (cfg!(windows) && matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*'))
}

/// The suffixes of the files parget keeps beside a destination `NAME`
/// while it downloads: the partial file, its control file, and the control
/// file's temporary twin. A destination whose name ends with one of them is
/// refused ([`check_destination_name`]), so that one entry's helper file can
/// never be another entry's destination.
pub const HELPER_SUFFIXES: [&str; 3] = [".part", ".part.parget", ".part.parget.tmp"];

/// The longest helper suffix, in bytes: a name this much shorter than
/// [`MAX_NAME_BYTES`] keeps its helper files' names whole.
const LONGEST_HELPER_SUFFIX: usize = ".part.parget.tmp".len();

/// Hex digits of the hash that stands for the cut end of a shortened name.
const HELPER_HASH_HEX: usize = 16;

/// Checks that `name`, a destination's file name, can be downloaded to:
/// it is at most [`MAX_NAME_BYTES`] bytes, and does not end with one of
/// parget's [`HELPER_SUFFIXES`]. The message says what is wrong.
pub fn check_destination_name(name: &OsStr) -> Result<(), String> {
    let bytes = name.as_encoded_bytes();
    if bytes.len() > MAX_NAME_BYTES {
        return Err(format!(
            "the file name is {} bytes long; file systems take at most {MAX_NAME_BYTES}",
            bytes.len()
        ));
    }
    if let Some(suffix) = HELPER_SUFFIXES
        .iter()
        .find(|suffix| bytes.ends_with(suffix.as_bytes()))
    {
        return Err(format!(
            "names ending in `{suffix}` are reserved for parget's partial and control files; choose another output name"
        ));
    }
    Ok(())
}

/// The name of the helper file with `suffix` (one of [`HELPER_SUFFIXES`])
/// beside a destination named `name`.
///
/// Every helper of one destination shares one base: `name` itself when
/// `name` plus the longest suffix fits in [`MAX_NAME_BYTES`], and otherwise
/// the first bytes of `name` (cut on a character boundary when it is
/// UTF-8), `~`, and 16 hex digits of the BLAKE3 hash of the whole name, so
/// that helper names stay within the limit, stay distinct for distinct
/// names, and are the same in every run and every version of parget.
pub fn helper_name(name: &OsStr, suffix: &str) -> OsString {
    let bytes = name.as_encoded_bytes();
    let mut helper = Vec::with_capacity(MAX_NAME_BYTES);
    if bytes.len() + LONGEST_HELPER_SUFFIX <= MAX_NAME_BYTES {
        helper.extend_from_slice(bytes);
    } else {
        let budget = MAX_NAME_BYTES - LONGEST_HELPER_SUFFIX - 1 - HELPER_HASH_HEX;
        let kept = match std::str::from_utf8(bytes) {
            Ok(text) => prefix_within(text, budget).as_bytes(),
            Err(_) => &bytes[..budget],
        };
        helper.extend_from_slice(kept);
        helper.push(b'~');
        let hash = blake3::hash(bytes);
        helper.extend_from_slice(hex::encode(&hash.as_bytes()[..HELPER_HASH_HEX / 2]).as_bytes());
    }
    helper.extend_from_slice(suffix.as_bytes());
    // Rebuilt through the platform's byte form: a cut UTF-8 name stays
    // whole characters, and what is added is ASCII.
    os_string_from_bytes(helper)
}

#[cfg(unix)]
fn os_string_from_bytes(bytes: Vec<u8>) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(bytes)
}

#[cfg(not(unix))]
fn os_string_from_bytes(bytes: Vec<u8>) -> OsString {
    OsString::from(String::from_utf8_lossy(&bytes).into_owned())
}

/// Cuts `name` to at most `max` bytes on a character boundary, keeping the
/// extension (from the last `.`, if it is short and not the whole name).
fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let extension = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_KEPT_EXTENSION_BYTES => {
            name.get(dot..).unwrap_or("")
        }
        _ => "",
    };
    let stem_budget = max.saturating_sub(extension.len());
    let stem = prefix_within(name, stem_budget);
    let mut shortened = String::with_capacity(max);
    shortened.push_str(stem.trim_end());
    shortened.push_str(extension);
    shortened
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
fn prefix_within(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::{Component, Path};

    fn from_url(url: &str) -> Option<String> {
        name_from_url(&url::Url::parse(url).unwrap())
    }

    #[test]
    fn url_names() {
        assert_eq!(
            from_url("http://host/file.iso").as_deref(),
            Some("file.iso")
        );
        assert_eq!(
            from_url("http://host/a/b/c.tar.gz?x=1#frag").as_deref(),
            Some("c.tar.gz")
        );
        assert_eq!(from_url("http://host/dir/").as_deref(), Some("dir"));
        assert_eq!(from_url("http://host/dir//").as_deref(), Some("dir"));
        assert_eq!(
            from_url("http://host/hello%20world.txt").as_deref(),
            Some("hello world.txt")
        );
        assert_eq!(from_url("http://host/caf%C3%A9").as_deref(), Some("café"));
        assert_eq!(
            from_url("http://host/bad%FFbyte").as_deref(),
            Some("bad\u{FFFD}byte")
        );
        assert_eq!(from_url("http://host/.bashrc").as_deref(), Some(".bashrc"));
        let expected = if cfg!(windows) {
            "libfoo_1_2.0_amd64.deb"
        } else {
            "libfoo_1:2.0_amd64.deb"
        };
        assert_eq!(
            from_url("http://deb.debian.org/pool/libfoo_1%3a2.0_amd64.deb").as_deref(),
            Some(expected)
        );
    }

    #[test]
    fn url_without_a_usable_name() {
        for url in [
            "http://host/",
            "http://host",
            "http://host/..",
            "http://host/a/..",
            "http://host/%2e%2e",
            "http://host/.",
            "http://host/%2e",
            "http://host/%20",
            "http://host/%2F",
            "http://host/%2f%2f",
            "mailto:someone@example.com",
            "data:text/plain,hello",
        ] {
            assert_eq!(from_url(url), None, "{url}");
        }
    }

    #[test]
    fn encoded_traversal_cannot_escape() {
        assert_eq!(
            from_url("http://host/..%2f..%2fetc%2fpasswd").as_deref(),
            Some("passwd")
        );
        assert_eq!(from_url("http://host/x%2f.."), None);
        assert_eq!(
            from_url("http://host/..%5c..%5cwin.ini").as_deref(),
            Some("win.ini")
        );
        assert_eq!(from_url("http://host/a%00b").as_deref(), Some("a_b"));
        assert_eq!(from_url("http://host/%2e%2e%2f%2e%2e").as_deref(), None);
    }

    #[test]
    fn file_names() {
        assert_eq!(safe_file_name("file.bin").as_deref(), Some("file.bin"));
        assert_eq!(safe_file_name("/etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(safe_file_name("../../x").as_deref(), Some("x"));
        assert_eq!(
            safe_file_name("C:\\Windows\\evil.dll").as_deref(),
            Some("evil.dll")
        );
        assert_eq!(safe_file_name("sub/dir/").as_deref(), Some("dir"));
        assert_eq!(safe_file_name("a\0b").as_deref(), Some("a_b"));
        // Shown as "reportexe.pdf" if kept.
        assert_eq!(
            safe_file_name("report\u{202e}fdp.exe").as_deref(),
            Some("report_fdp.exe")
        );
        // Isolates go; a mark, part of how Hebrew and Arabic are written,
        // stays in the name (and is escaped when printed).
        assert_eq!(
            safe_file_name("\u{2067}a\u{2069}\u{200f}").as_deref(),
            Some("_a_\u{200f}")
        );
        assert_eq!(
            safe_file_name("tab\there\nnew\u{7f}\u{9b}").as_deref(),
            Some("tab_here_new__")
        );
        assert_eq!(
            safe_file_name("  spaced name  ").as_deref(),
            Some("spaced name")
        );
        assert_eq!(safe_file_name(".hidden").as_deref(), Some(".hidden"));
        assert_eq!(safe_file_name("...").as_deref(), Some("..."));
        assert_eq!(
            safe_file_name("hello_2.10-3_amd64.deb").as_deref(),
            Some("hello_2.10-3_amd64.deb")
        );
        assert_eq!(
            safe_file_name("libfoo_1%3a2.0_amd64.deb").as_deref(),
            Some("libfoo_1%3a2.0_amd64.deb")
        );
    }

    #[test]
    fn unusable_file_names() {
        for name in [
            "", "/", "//", "\\", ".", "..", "a/..", "a\\..", " ", " . ", " .. ", "\t", "foo/ .. ",
        ] {
            assert_eq!(safe_file_name(name), None, "{name:?}");
        }
    }

    #[test]
    fn long_names_keep_their_extension() {
        let long = format!("{}.tar.gz", "a".repeat(400));
        let short = safe_file_name(&long).unwrap();
        assert_eq!(short.len(), 255);
        assert!(short.ends_with("aaa.gz"), "{short}");

        let no_extension = "b".repeat(300);
        assert_eq!(safe_file_name(&no_extension).unwrap(), "b".repeat(255));

        let long_extension = format!("x.{}", "e".repeat(300));
        let short = safe_file_name(&long_extension).unwrap();
        assert_eq!(short.len(), 255);
        assert!(short.starts_with("x.e"));

        let dot_file = format!(".{}", "c".repeat(300));
        assert_eq!(safe_file_name(&dot_file).unwrap().len(), 255);
    }

    #[test]
    fn long_names_are_cut_on_char_boundaries() {
        let long = format!("{}.txt", "é".repeat(200));
        let short = safe_file_name(&long).unwrap();
        assert!(short.len() <= 255);
        assert!(short.ends_with(".txt"));
        let emoji = "🦀".repeat(100);
        let short = safe_file_name(&emoji).unwrap();
        assert_eq!(short.len(), 252);
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            safe_relative_path("sub/dir/file.bin"),
            Some(PathBuf::from("sub/dir/file.bin"))
        );
        assert_eq!(
            safe_relative_path("/abs/file"),
            Some(PathBuf::from("abs/file"))
        );
        assert_eq!(safe_relative_path("a//./b/"), Some(PathBuf::from("a/b")));
        // A chosen name is never shortened (the claim refuses a long one).
        let long = format!("{}.txt", "b".repeat(296));
        assert_eq!(
            safe_relative_path(&format!("d/{long}")),
            Some(PathBuf::from("d").join(&long))
        );
        assert_eq!(safe_file_name(&long).unwrap().len(), MAX_NAME_BYTES);
        assert_eq!(
            safe_relative_path("a\\b"),
            Some(PathBuf::from("a").join("b"))
        );
        assert_eq!(safe_relative_path("x/\0/y"), Some(PathBuf::from("x/_/y")));
        assert_eq!(safe_relative_path("a/ /b"), Some(PathBuf::from("a/b")));
        assert_eq!(
            safe_relative_path(".config/app"),
            Some(PathBuf::from(".config/app"))
        );
        for path in [
            "", "/", ".", "./", "//./", "..", "../x", "a/../b", "a/..", "a\\..\\b", " .. /x",
        ] {
            assert_eq!(safe_relative_path(path), None, "{path:?}");
        }
    }

    #[test]
    fn destination_names_parget_cannot_use() {
        let ok = |name: &str| check_destination_name(OsStr::new(name));
        assert!(ok("file.bin").is_ok());
        assert!(ok("x.partial").is_ok() && ok("x.parget").is_ok() && ok("part").is_ok());
        for reserved in ["x.part", ".part", "x.part.parget", "x.bin.part.parget.tmp"] {
            let why = ok(reserved).unwrap_err();
            assert!(why.contains("reserved"), "{reserved}: {why}");
        }
        assert!(ok(&"n".repeat(255)).is_ok());
        let why = ok(&"n".repeat(256)).unwrap_err();
        assert!(why.contains("256 bytes"), "{why}");
    }

    #[test]
    fn helper_names_fit_and_stay_apart() {
        let helper =
            |name: &str, suffix: &str| helper_name(OsStr::new(name), suffix).into_string().unwrap();
        // Short names keep their helpers' names whole.
        assert_eq!(helper("f.bin", ".part"), "f.bin.part");
        let fits = "a".repeat(MAX_NAME_BYTES - LONGEST_HELPER_SUFFIX);
        assert_eq!(helper(&fits, ".part.parget.tmp").len(), MAX_NAME_BYTES);
        assert_eq!(helper(&fits, ".part"), format!("{fits}.part"));
        // Longer ones share one shortened base, within the limit.
        for len in [MAX_NAME_BYTES - LONGEST_HELPER_SUFFIX + 1, 250, 255] {
            let name = "b".repeat(len);
            let bases: Vec<String> = HELPER_SUFFIXES
                .iter()
                .map(|suffix| {
                    let helper = helper(&name, suffix);
                    assert!(helper.len() <= MAX_NAME_BYTES, "{len}: {helper}");
                    helper.strip_suffix(suffix).unwrap().to_owned()
                })
                .collect();
            assert!(bases.iter().all(|b| b == &bases[0]), "{bases:?}");
            assert!(check_destination_name(OsStr::new(&helper(&name, ".part"))).is_err());
        }
        // The scheme, pinned: it must read the files of earlier runs.
        let name = "c".repeat(250);
        let expected_hash = &blake3::hash(name.as_bytes()).to_hex()[..16];
        assert_eq!(
            helper(&name, ".part"),
            format!("{}~{expected_hash}.part", "c".repeat(222))
        );
        // Two names that share the kept prefix get two helpers.
        let (one, two) = (
            format!("{}1", "d".repeat(249)),
            format!("{}2", "d".repeat(249)),
        );
        assert_ne!(helper(&one, ".part"), helper(&two, ".part"));
        // Cut on a character boundary.
        let wide = "é".repeat(120);
        let cut = helper(&wide, ".part");
        assert!(cut.len() <= MAX_NAME_BYTES && cut.contains('~'), "{cut}");
    }

    #[cfg(unix)]
    #[test]
    fn helper_names_of_names_that_are_not_utf8() {
        use std::os::unix::ffi::OsStrExt;
        let bytes = vec![0xffu8; 250];
        let helper = helper_name(OsStr::from_bytes(&bytes), ".part.parget");
        assert!(helper.len() <= MAX_NAME_BYTES);
        assert!(helper.as_bytes().ends_with(b".part.parget"));
    }

    fn assert_safe_name(name: &str) -> Result<(), TestCaseError> {
        prop_assert!(!name.contains('/'));
        prop_assert!(!name.contains('\\'));
        prop_assert!(!name.contains('\0'));
        prop_assert!(!name.chars().any(char::is_control));
        prop_assert!(name != "." && name != "..");
        prop_assert!(!name.is_empty());
        prop_assert!(name.len() <= MAX_NAME_BYTES);
        let dir = Path::new("/srv/out");
        let joined = dir.join(name);
        prop_assert_eq!(joined.parent(), Some(dir));
        Ok(())
    }

    proptest! {
        #[test]
        fn safe_file_name_is_safe(name in "\\PC*|[./\\\\ a\\x00]{0,12}") {
            if let Some(result) = safe_file_name(&name) {
                assert_safe_name(&result)?;
            }
        }

        #[test]
        fn safe_file_name_is_safe_on_any_chars(name: String) {
            if let Some(result) = safe_file_name(&name) {
                assert_safe_name(&result)?;
            }
        }

        #[test]
        fn safe_file_name_is_idempotent(name: String) {
            if let Some(result) = safe_file_name(&name) {
                prop_assert_eq!(safe_file_name(&result), Some(result.clone()));
            }
        }

        #[test]
        fn long_names_are_capped(name in "[a-zé🦀.]{200,400}") {
            if let Some(result) = safe_file_name(&name) {
                prop_assert!(result.len() <= MAX_NAME_BYTES);
            }
        }

        #[test]
        fn name_from_url_is_safe(path in "(/|%2[eEfF]|%5[cC]|%00|%[0-9a-fA-F]{2}|\\.|[a-z])*") {
            if let Ok(url) = url::Url::parse(&format!("http://host{path}")) {
                if let Some(result) = name_from_url(&url) {
                    assert_safe_name(&result)?;
                }
            }
        }

        #[test]
        fn safe_relative_path_stays_inside(path in "\\PC*|[./\\\\ a\\x00]{0,16}") {
            if let Some(result) = safe_relative_path(&path) {
                prop_assert!(result.is_relative());
                prop_assert!(result.components().count() > 0);
                for component in result.components() {
                    match component {
                        Component::Normal(part) => {
                            let part = part.to_str().unwrap();
                            assert_safe_name(part)?;
                        }
                        other => prop_assert!(false, "unexpected component {:?}", other),
                    }
                }
                let dir = Path::new("/srv/out");
                prop_assert!(dir.join(&result).starts_with(dir));
            }
        }
    }
}
