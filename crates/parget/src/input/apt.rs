//! apt `--print-uris` lines.
//!
//! `apt-get --print-uris install hello` prints one line per file:
//!
//! ```text
//! 'http://deb.debian.org/debian/pool/main/h/hello/hello_2.10-3_amd64.deb' hello_2.10-3_amd64.deb 53092 SHA256:a1b2…
//! ```
//!
//! that is `'URL' FILENAME SIZE [HASHSPEC]`, with HASHSPEC one of
//! `MD5Sum:`, `SHA1:`, `SHA256:`, `SHA512:` followed by hex.

use super::aria2::digest_from_hex;
use super::{add_digest, excerpt, parse_decimal, Entry};
use crate::verify::Algorithm;

/// Parses an apt line (already known to start with `'`).
///
/// The URL and FILENAME are kept exactly as apt prints them: apt escapes
/// some characters as `%XX` (an epoch's `:` becomes `%3a`), and the URL is
/// valid that way, while the naming module decides what to do with the file
/// name. The hash is optional (apt omits it for some index files), and a
/// SIZE of 0 means unknown: apt prints 0 when it does not know the size,
/// and no package file is really empty. apt prints one hash; several are
/// accepted, for different algorithms.
pub(super) fn parse_line(text: &str, line: u64) -> Result<Entry, String> {
    let quoted = text
        .strip_prefix('\'')
        .ok_or_else(|| "apt line does not start with a quote".to_owned())?;
    let (url, fields) = quoted
        .split_once('\'')
        .ok_or_else(|| "apt line has no closing quote after the URL".to_owned())?;
    if url.is_empty() {
        return Err("apt line has an empty URL".to_owned());
    }
    if url.contains(char::is_whitespace) {
        return Err(format!("whitespace inside apt URL {}", excerpt(url)));
    }
    if !fields.is_empty() && !fields.starts_with(char::is_whitespace) {
        return Err(format!(
            "expected a space after the quoted URL, found {}",
            excerpt(fields)
        ));
    }
    let mut fields = fields.split_whitespace();
    let file_name = fields
        .next()
        .ok_or_else(|| "apt line has no file name after the URL".to_owned())?;
    let size_text = fields
        .next()
        .ok_or_else(|| "apt line has no size after the file name".to_owned())?;
    let size = parse_decimal(size_text).ok_or_else(|| {
        format!(
            "apt size {} is not a non-negative integer",
            excerpt(size_text)
        )
    })?;

    let mut entry = Entry::new(vec![url.to_owned()], line);
    entry.out = Some(file_name.to_owned());
    entry.size = (size != 0).then_some(size);
    for hash_spec in fields {
        let (name, hex_value) = hash_spec.split_once(':').ok_or_else(|| {
            format!(
                "apt hash {} is not of the form NAME:HEX",
                excerpt(hash_spec)
            )
        })?;
        let algorithm = Algorithm::from_name(name).ok_or_else(|| {
            format!(
                "unknown apt hash {} (expected MD5Sum, SHA1, SHA256 or SHA512)",
                excerpt(name)
            )
        })?;
        add_digest(&mut entry, digest_from_hex(algorithm, name, hex_value)?)?;
    }
    Ok(entry)
}
