//! The file name a server suggests in `Content-Disposition` (RFC 6266),
//! including the extended `filename*` form (RFC 8187).
//!
//! The header comes from a server we do not control, so parsing is
//! tolerant (servers get it wrong often: unquoted names with spaces, a
//! missing disposition type, stray semicolons) and the result is reduced to
//! a safe base name: a server must not choose where a file goes, nor a name
//! that hides (leading dot), reads as an option (leading dash) or garbles a
//! terminal (control characters).

use percent_encoding::percent_decode_str;

use crate::naming;

/// A parsed `Content-Disposition` value, as the server sent it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContentDisposition {
    /// The disposition type, lower-cased (`attachment`, `inline`, …);
    /// empty when the value starts with a parameter.
    pub disposition_type: String,
    /// The `filename` parameter, unquoted, not yet made safe.
    pub filename: Option<String>,
    /// The `filename*` parameter, decoded; `None` when absent or when its
    /// charset is neither UTF-8 nor ISO-8859-1 or its bytes do not decode.
    pub filename_ext: Option<ExtValue>,
}

/// A decoded RFC 8187 `ext-value`: `charset'language'percent-encoded`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtValue {
    /// The language tag, as given (often empty).
    pub language: String,
    /// The decoded text.
    pub value: String,
}

impl ContentDisposition {
    /// Parses a header value. Never fails: what cannot be understood is
    /// skipped, and a value with nothing usable gives the default (no type,
    /// no names).
    ///
    /// The first of several `filename` (or `filename*`) parameters is kept:
    /// RFC 6266 calls repeats invalid, and the first is what most clients use.
    pub fn parse(value: &str) -> ContentDisposition {
        let mut parsed = ContentDisposition::default();
        for (index, part) in split_params(value).into_iter().enumerate() {
            let part = part.trim_matches(is_ows);
            if part.is_empty() {
                continue;
            }
            let Some((name, raw)) = part.split_once('=') else {
                if index == 0 {
                    parsed.disposition_type = part.to_ascii_lowercase();
                }
                continue;
            };
            let name = name.trim_matches(is_ows);
            let raw = raw.trim_matches(is_ows);
            if name.eq_ignore_ascii_case("filename") {
                if parsed.filename.is_none() {
                    parsed.filename = Some(unquote(raw));
                }
            } else if name.eq_ignore_ascii_case("filename*") && parsed.filename_ext.is_none() {
                // RFC 8187 forbids quoting an ext-value; some servers quote
                // it anyway, and the intent is clear.
                parsed.filename_ext = decode_ext_value(&unquote(raw));
            }
        }
        parsed
    }

    /// The suggested name reduced to a safe base name: `filename*` when it
    /// decoded, else `filename`, made safe by [`naming::safe_file_name`]
    /// (last path component only, control characters replaced), with
    /// leading dots, dashes and whitespace removed. `None` when nothing
    /// usable is left.
    pub fn safe_file_name(&self) -> Option<String> {
        let candidates = [
            self.filename_ext.as_ref().map(|ext| ext.value.as_str()),
            self.filename.as_deref(),
        ];
        candidates.into_iter().flatten().find_map(reduce)
    }
}

/// The safe base name suggested by a `Content-Disposition` value; see
/// [`ContentDisposition::safe_file_name`].
///
/// ```
/// use parget::content_disposition::file_name;
/// assert_eq!(file_name("attachment; filename=\"report.pdf\"").as_deref(), Some("report.pdf"));
/// assert_eq!(file_name("attachment; filename*=UTF-8''na%C3%AFve.txt; filename=naive.txt").as_deref(), Some("naïve.txt"));
/// assert_eq!(file_name("attachment; filename=\"../../.bashrc\"").as_deref(), Some("bashrc"));
/// assert_eq!(file_name("inline"), None);
/// ```
pub fn file_name(value: &str) -> Option<String> {
    ContentDisposition::parse(value).safe_file_name()
}

/// One candidate name made safe, or `None`.
fn reduce(name: &str) -> Option<String> {
    let base = naming::safe_file_name(name)?;
    let trimmed = base.trim_start_matches(|c: char| c == '.' || c == '-' || c.is_whitespace());
    if trimmed.is_empty() {
        None
    } else {
        // The cut cannot make a safe name unsafe (it only removes a
        // prefix), but check again so the guarantee does not rest on that.
        naming::safe_file_name(trimmed).filter(|name| name == trimmed)
    }
}

/// HTTP optional whitespace.
fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Splits at `;` outside quoted strings. A quoted string runs to the next
/// unescaped `"`; an unterminated one runs to the end.
fn split_params(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (at, c) in value.char_indices() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
        } else if c == '"' {
            in_quotes = true;
        } else if c == ';' {
            parts.push(value.get(start..at).unwrap_or(""));
            start = at + 1;
        }
    }
    parts.push(value.get(start..).unwrap_or(""));
    parts
}

/// A parameter value: a quoted string with its `\` escapes undone (text
/// after the closing quote is dropped), or a token as given.
fn unquote(raw: &str) -> String {
    let Some(inner) = raw.strip_prefix('"') else {
        return raw.to_owned();
    };
    let mut value = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    value.push(next);
                }
            }
            '"' => break,
            c => value.push(c),
        }
    }
    value
}

/// Decodes `charset'language'value` (RFC 8187 section 3.2). Charsets:
/// UTF-8 and ISO-8859-1, case-insensitively (the two the RFC requires);
/// others, bad percent escapes and invalid UTF-8 give `None`, so the caller
/// falls back to the plain `filename`.
fn decode_ext_value(text: &str) -> Option<ExtValue> {
    let (charset, rest) = text.split_once('\'')?;
    let (language, encoded) = rest.split_once('\'')?;
    if !valid_percent_escapes(encoded) {
        return None;
    }
    let bytes: Vec<u8> = percent_decode_str(encoded).collect();
    let value = if charset.eq_ignore_ascii_case("utf-8") {
        String::from_utf8(bytes).ok()?
    } else if charset.eq_ignore_ascii_case("iso-8859-1") {
        // ISO-8859-1 maps each byte to the code point of the same value.
        bytes.into_iter().map(char::from).collect()
    } else {
        return None;
    };
    Some(ExtValue {
        language: language.to_owned(),
        value,
    })
}

/// Every `%` is followed by two hex digits.
fn valid_percent_escapes(encoded: &str) -> bool {
    let bytes = encoded.as_bytes();
    bytes.iter().enumerate().all(|(at, &b)| {
        b != b'%'
            || bytes
                .get(at + 1..at + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_parts() {
        let parsed = ContentDisposition::parse(
            "Attachment; FileName=\"a \\\"b\\\".txt\"; filename*=ISO-8859-1'en'%E9t%E9.txt; size=12",
        );
        assert_eq!(parsed.disposition_type, "attachment");
        assert_eq!(parsed.filename.as_deref(), Some("a \"b\".txt"));
        assert_eq!(
            parsed.filename_ext,
            Some(ExtValue {
                language: "en".into(),
                value: "été.txt".into()
            })
        );
        assert_eq!(ContentDisposition::parse(""), ContentDisposition::default());
    }

    /// Cases from the well-known test suite for RFC 6266 (tc2231) and the
    /// RFC's own examples, plus hostile names.
    #[test]
    fn safe_names() {
        for (value, expected) in [
            ("attachment; filename=\"foo.html\"", Some("foo.html")),
            ("attachment; filename=foo.html", Some("foo.html")),
            ("inline; filename=\"foo.html\"", Some("foo.html")),
            (
                "attachment; filename=\"\\\"quoting\\\" tested.html\"",
                Some("\"quoting\" tested.html"),
            ),
            (
                "attachment; filename=\"Here's a semicolon;.html\"",
                Some("Here's a semicolon;.html"),
            ),
            (
                "attachment; foo=\"\\\"\\\\\";filename=\"foo.html\"",
                Some("foo.html"),
            ),
            (
                "attachment; filename=\"foo-%41.html\"",
                Some("foo-%41.html"),
            ),
            ("attachment; filename=\"f\\oo.html\"", Some("foo.html")),
            ("attachment; filename=foo.html ;", Some("foo.html")),
            ("attachment; filename = \"foo.html\"", Some("foo.html")),
            ("attachment;filename=\"foo.html\"", Some("foo.html")),
            ("attachment; FILENAME=\"foo.html\"", Some("foo.html")),
            ("filename=\"foo.html\"", Some("foo.html")),
            ("attachment; filename=foo bar.html", Some("foo bar.html")),
            (
                "attachment; filename=\"unterminated.html",
                Some("unterminated.html"),
            ),
            (
                "attachment; filename=\"a.html\"; filename=\"b.html\"",
                Some("a.html"),
            ),
            (
                "attachment; filename*=UTF-8''foo-%c3%a4-%e2%82%ac.html",
                Some("foo-ä-€.html"),
            ),
            (
                "attachment; filename*=utf-8''foo-%C3%A4.html",
                Some("foo-ä.html"),
            ),
            (
                "attachment; filename*=iso-8859-1'en'%A3%20rates",
                Some("£ rates"),
            ),
            (
                "attachment; filename*=UTF-8'en'%E2%82%AC%20rates",
                Some("€ rates"),
            ),
            (
                "attachment; filename*=\"UTF-8''quoted.html\"",
                Some("quoted.html"),
            ),
            (
                "attachment; filename=\"EURO rates\"; filename*=utf-8''%e2%82%ac%20rates",
                Some("€ rates"),
            ),
            (
                "attachment; filename*=utf-8''%e2%82%ac%20rates; filename=\"EURO rates\"",
                Some("€ rates"),
            ),
            // filename* that cannot be decoded falls back to filename.
            (
                "attachment; filename*=UTF-8''%FF.bin; filename=ok.bin",
                Some("ok.bin"),
            ),
            (
                "attachment; filename*=KOI8-R''%C6.bin; filename=ok.bin",
                Some("ok.bin"),
            ),
            (
                "attachment; filename*=UTF-8''bad%zz.bin; filename=ok.bin",
                Some("ok.bin"),
            ),
            (
                "attachment; filename*=UTF-8''bad%4.bin; filename=ok.bin",
                Some("ok.bin"),
            ),
            (
                "attachment; filename*=no-quotes.bin; filename=ok.bin",
                Some("ok.bin"),
            ),
            ("attachment; filename*=UTF-8''", None),
            // Paths are cut to their last component.
            ("attachment; filename=\"../../etc/passwd\"", Some("passwd")),
            ("attachment; filename=\"/etc/passwd\"", Some("passwd")),
            (
                "attachment; filename=\"C:\\\\Windows\\\\win.ini\"",
                Some("win.ini"),
            ),
            (
                "attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd",
                Some("passwd"),
            ),
            (
                "attachment; filename*=UTF-8''dir%5Cfile.txt",
                Some("file.txt"),
            ),
            // No leading dot or dash, no control characters.
            ("attachment; filename=\".bashrc\"", Some("bashrc")),
            ("attachment; filename=\"-rf\"", Some("rf")),
            ("attachment; filename=\"--.-x.txt\"", Some("x.txt")),
            ("attachment; filename=\". .hidden\"", Some("hidden")),
            (
                "attachment; filename*=UTF-8''a%1B%5B2Jb.txt",
                Some("a_[2Jb.txt"),
            ),
            ("attachment; filename*=UTF-8''nul%00.txt", Some("nul_.txt")),
            ("attachment; filename*=UTF-8''c1%C2%9B.txt", Some("c1_.txt")),
            // Nothing usable.
            ("attachment; filename=\"..\"", None),
            ("attachment; filename=\".\"", None),
            ("attachment; filename=\"...\"", None),
            ("attachment; filename=\"--\"", None),
            ("attachment; filename=\"\"", None),
            ("attachment; filename=", None),
            ("attachment; filename=\"/\"", None),
            ("attachment", None),
            ("inline", None),
            ("", None),
            (";;;", None),
            ("attachment; name=\"x\"", None),
        ] {
            assert_eq!(file_name(value).as_deref(), expected, "{value:?}");
        }
    }

    #[test]
    fn long_names_are_capped() {
        let value = format!("attachment; filename=\"{}.tar.gz\"", "a".repeat(1000));
        let name = file_name(&value).unwrap();
        assert!(name.len() <= naming::MAX_NAME_BYTES);
        assert!(name.ends_with(".gz"));
    }

    proptest! {
        #[test]
        fn never_panics_and_names_are_safe(value in "\\PC*|[\"\\\\;=* a-z%'./-]{0,40}") {
            if let Some(name) = file_name(&value) {
                prop_assert!(!name.is_empty());
                prop_assert!(!name.starts_with(['.', '-']));
                prop_assert!(!name.contains(['/', '\\']));
                prop_assert!(!name.chars().any(char::is_control));
                prop_assert!(name.len() <= naming::MAX_NAME_BYTES);
            }
        }

        #[test]
        fn quoted_names_round_trip(name in "[a-zA-Z0-9][a-zA-Z0-9 ._;=\"\\\\'-]{0,30}") {
            let quoted: String = name
                .chars()
                .flat_map(|c| if c == '"' || c == '\\' { vec!['\\', c] } else { vec![c] })
                .collect();
            let value = format!("attachment; filename=\"{quoted}\"");
            prop_assert_eq!(ContentDisposition::parse(&value).filename, Some(name));
        }

        #[test]
        fn ext_values_round_trip(name in "[\\p{L}\\p{N}][^\\p{Cc}/\\\\]{0,20}") {
            let encoded = percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC);
            let value = format!("attachment; filename*=UTF-8''{encoded}; filename=fallback");
            let parsed = ContentDisposition::parse(&value);
            prop_assert_eq!(parsed.filename_ext.map(|ext| ext.value), Some(name.clone()));
            let expected = naming::safe_file_name(&name).unwrap_or_else(|| "fallback".into());
            prop_assert_eq!(file_name(&value), Some(expected));
        }
    }
}
