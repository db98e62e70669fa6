//! aria2 input files and plain URL lists.
//!
//! An entry is a line with one or more URLs separated by TAB (mirrors of one
//! file), followed by option lines indented by at least one space or tab,
//! each `key=value`. A plain URL list is the same format without options.

use super::{add_digest, excerpt, parse_decimal, Entry};
use crate::verify::{Algorithm, Digest};

/// Parses an entry's URL line (already known not to be blank, a comment, or
/// indented) into an entry without options.
///
/// Each TAB-separated part is trimmed and empty parts are skipped (two TABs
/// in a row are an easy mistake). Any other whitespace inside a URL is an
/// error: a real URL encodes spaces, so `http://a b` is most likely two URLs
/// joined by a space, or a name that needed `%20`, and guessing either way
/// could fetch the wrong thing.
pub(super) fn parse_url_line(text: &str, line: u64) -> Result<Entry, String> {
    let mut urls = Vec::new();
    for part in text.split('\t') {
        let url = part.trim();
        if url.is_empty() {
            continue;
        }
        if url.contains(char::is_whitespace) {
            return Err(format!(
                "whitespace inside URL {} (separate mirror URLs with a TAB, encode spaces as %20)",
                excerpt(url)
            ));
        }
        urls.push(url.to_owned());
    }
    if urls.is_empty() {
        return Err("line holds no URL".to_owned());
    }
    Ok(Entry::new(urls, line))
}

/// Applies one indented `key=value` option line to `entry`.
///
/// Supported keys: `out`, `dir`, `checksum` (`ALGO=HEX`, may repeat for
/// different algorithms), `size` (our extension, decimal bytes), `header`
/// (`Name: value`, may repeat), `http-user` and `http-passwd`. Other
/// well-formed keys are ignored: aria2 has many options (`split`,
/// `referer`…) and ignoring them keeps real aria2 files usable.
/// A line without `=` or with a key that is not an option name is an error,
/// as is setting `out`, `dir`, `size`, `http-user` or `http-passwd` twice,
/// a header that is not a valid `Name: value`, and a user holding `:`.
pub(super) fn apply_option(entry: &mut Entry, text: &str) -> Result<(), String> {
    let text = text.trim();
    let Some((key, value)) = text
        .split_once('=')
        .filter(|(key, _)| is_option_name(key.trim()))
    else {
        if text.contains("://") {
            return Err(format!(
                "indented line {} looks like a URL, but indented lines hold aria2 options: start URL lines at the beginning of the line",
                excerpt(text)
            ));
        }
        return Err(format!(
            "malformed option line {} (expected key=value)",
            excerpt(text)
        ));
    };
    let (key, value) = (key.trim(), value.trim());
    match key {
        "out" => set_once(&mut entry.out, "out", non_empty(key, value)?.to_owned()),
        "dir" => set_once(&mut entry.dir, "dir", non_empty(key, value)?.to_owned()),
        "size" => {
            let size = parse_decimal(value).ok_or_else(|| {
                format!(
                    "size {} is not a non-negative integer of bytes",
                    excerpt(value)
                )
            })?;
            set_once(&mut entry.size, "size", size)
        }
        "checksum" => add_digest(entry, parse_checksum(value)?),
        "header" => {
            let header = crate::header::parse_header_line(value)?;
            entry.headers.push(header);
            Ok(())
        }
        "http-user" => {
            if value.contains(':') {
                return Err("http-user cannot hold `:` (Basic authentication splits at it)".into());
            }
            set_once(&mut entry.http_user, "http-user", value.to_owned())
        }
        "http-passwd" => set_once(&mut entry.http_passwd, "http-passwd", value.to_owned()),
        _ => Ok(()),
    }
}

/// aria2 option names: ASCII letters, digits and `-` (we accept `_` too).
fn is_option_name(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn non_empty<'a>(key: &str, value: &'a str) -> Result<&'a str, String> {
    if value.is_empty() {
        Err(format!("empty value for `{key}`"))
    } else {
        Ok(value)
    }
}

/// A repeated `out`, `dir` or `size` is an error rather than "last wins":
/// two different names for one file is a mistake in the list, better
/// reported than silently resolved.
fn set_once<T>(field: &mut Option<T>, key: &str, value: T) -> Result<(), String> {
    if field.is_some() {
        return Err(format!("`{key}` is given twice for one entry"));
    }
    *field = Some(value);
    Ok(())
}

/// Parses aria2's `checksum=` value, `ALGO=HEX` (`sha-256=…`; `sha256` is
/// accepted too). aria2 also knows adler32, which parget cannot verify:
/// it is refused by name rather than ignored, since a checksum the user
/// asked for must not be silently skipped.
pub(super) fn parse_checksum(value: &str) -> Result<Digest, String> {
    let (name, hex_value) = value
        .split_once('=')
        .ok_or_else(|| format!("checksum {} is not of the form ALGO=HEX", excerpt(value)))?;
    let name = name.trim();
    let algorithm = Algorithm::from_name(name).ok_or_else(|| {
        format!(
            "unsupported checksum algorithm {} (supported: {})",
            excerpt(name),
            Algorithm::SUPPORTED
        )
    })?;
    digest_from_hex(algorithm, name, hex_value)
}

/// Parses a hex digest, with a message that names the algorithm as the list
/// spelled it and does not echo an unbounded value.
pub(super) fn digest_from_hex(
    algorithm: Algorithm,
    spelled: &str,
    hex_value: &str,
) -> Result<Digest, String> {
    Digest::from_hex(algorithm, hex_value).map_err(|_| {
        format!(
            "bad {} checksum {}: expected {} hexadecimal digits",
            excerpt(spelled),
            excerpt(hex_value.trim()),
            algorithm.output_len().saturating_mul(2)
        )
    })
}
