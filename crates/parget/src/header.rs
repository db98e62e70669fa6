//! Parsing of the HTTP response headers the engine relies on:
//! `Content-Range`, `Content-Length` and `Retry-After`; and of the
//! `Name: value` header lines users give (`-H`).
//!
//! Header values come from servers we do not control, so every parser here
//! returns `None` on anything it does not fully understand rather than
//! guessing, and none of them can panic or overflow.

use std::time::{Duration, SystemTime};

/// A satisfied byte range from `Content-Range: bytes START-END/TOTAL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentRange {
    /// First byte offset of the part, inclusive.
    pub start: u64,
    /// Last byte offset of the part, inclusive.
    pub end_inclusive: u64,
    /// The complete length of the resource; `None` for `/*` (unknown).
    pub total: Option<u64>,
}

/// Parses a satisfied `Content-Range` value: `bytes A-B/N` or `bytes A-B/*`.
///
/// Rejects (returns `None`) `A > B`, `B >= N`, numbers that overflow `u64`,
/// signs, other units, extra text, and the unsatisfied form `bytes */N`
/// (see [`parse_unsatisfied_total`]). The unit is matched case-insensitively
/// (RFC 9110 range units are case-insensitive); surrounding spaces and tabs
/// are allowed, inner spaces other than the one after the unit are not.
pub fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = strip_bytes_unit(value)?;
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let start = parse_decimal(start)?;
    let end_inclusive = parse_decimal(end)?;
    if start > end_inclusive {
        return None;
    }
    let total = match total {
        "*" => None,
        digits => {
            let total = parse_decimal(digits)?;
            if end_inclusive >= total {
                return None;
            }
            Some(total)
        }
    };
    Some(ContentRange {
        start,
        end_inclusive,
        total,
    })
}

/// Parses the unsatisfied `Content-Range` form `bytes */N` sent with a 416
/// response, returning `N`: it tells a resuming client the real length.
pub fn parse_unsatisfied_total(value: &str) -> Option<u64> {
    strip_bytes_unit(value)?
        .strip_prefix("*/")
        .and_then(parse_decimal)
}

/// Parses a `Content-Length` value: ASCII digits only (no sign, no list of
/// repeated values), fitting a `u64`, with optional surrounding spaces/tabs.
pub fn parse_content_length(value: &str) -> Option<u64> {
    parse_decimal(trim_ows(value))
}

/// Parses `Retry-After`: either delta-seconds or an HTTP-date.
///
/// Delta-seconds is a non-negative integer; one too large for a `u64`
/// saturates to `u64::MAX` seconds, because the server clearly means "a
/// long time" and the retry policy applies its own cap (returning `None`
/// would make the caller retry sooner than asked). The date forms are the
/// ones `httpdate` accepts: IMF-fixdate plus the obsolete RFC 850 and
/// asctime forms. A date at or before `now` gives `Duration::ZERO`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = trim_ows(value);
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let secs = parse_decimal(value).unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A header a user gave as one `Name: value` line (curl's `-H`, aria2's
/// `header=`), split and checked: the name must be an HTTP token, the value
/// may hold no control character but TAB (no CR or LF that would start
/// another header). Surrounding whitespace is trimmed. The error says
/// what is wrong without echoing the value, which may be a secret.
///
/// ```
/// use parget::header::parse_header_line;
/// assert_eq!(parse_header_line("X-Token: a b").unwrap(), ("X-Token".into(), "a b".into()));
/// assert!(parse_header_line("X: a\r\nInjected: 1").is_err());
/// assert!(parse_header_line("no colon").is_err());
/// ```
pub fn parse_header_line(line: &str) -> Result<(String, String), String> {
    let (name, value) = line
        .split_once(':')
        .ok_or("a header is `Name: value`, and this has no `:`")?;
    let name = trim_ows(name);
    let value = trim_ows(value);
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(format!(
            "`{}` is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)",
            crate::redact::escape_control(name)
        ));
    }
    check_header_value(value).map_err(|why| format!("the value of `{name}` {why}"))?;
    Ok((name.to_owned(), value.to_owned()))
}

/// Checks a header value a user gave: no control character but TAB.
/// `Err` says what is wrong, to follow the header's name.
pub fn check_header_value(value: &str) -> Result<(), String> {
    match value.chars().find(|&c| c.is_control() && c != '\t') {
        Some('\r' | '\n') => Err("holds a line break (CR or LF)".into()),
        Some(c) => Err(format!(
            "holds the control character {}",
            crate::redact::escape_control(c.encode_utf8(&mut [0; 4]))
        )),
        None => Ok(()),
    }
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Strips optional whitespace and the `bytes ` unit, case-insensitively.
fn strip_bytes_unit(value: &str) -> Option<&str> {
    let value = trim_ows(value);
    let unit = value.get(..6)?;
    if unit.eq_ignore_ascii_case("bytes ") {
        value.get(6..)
    } else {
        None
    }
}

/// Trims HTTP optional whitespace (spaces and horizontal tabs).
fn trim_ows(value: &str) -> &str {
    value.trim_matches([' ', '\t'])
}

/// A non-empty run of ASCII digits that fits a `u64`; anything else `None`.
fn parse_decimal(digits: &str) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.bytes().try_fold(0u64, |acc, b| {
        let digit = if b.is_ascii_digit() {
            b - b'0'
        } else {
            return None;
        };
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn range(start: u64, end_inclusive: u64, total: Option<u64>) -> Option<ContentRange> {
        Some(ContentRange {
            start,
            end_inclusive,
            total,
        })
    }

    #[test]
    fn content_range_accepts_valid_forms() {
        assert_eq!(
            parse_content_range("bytes 0-499/1234"),
            range(0, 499, Some(1234))
        );
        assert_eq!(
            parse_content_range("bytes 500-1233/1234"),
            range(500, 1233, Some(1234))
        );
        assert_eq!(parse_content_range("bytes 0-0/1"), range(0, 0, Some(1)));
        assert_eq!(parse_content_range("bytes 42-42/*"), range(42, 42, None));
        assert_eq!(parse_content_range("  Bytes 1-2/3\t"), range(1, 2, Some(3)));
        assert_eq!(parse_content_range("BYTES 1-2/3"), range(1, 2, Some(3)));
        assert_eq!(
            parse_content_range("bytes 0-18446744073709551614/18446744073709551615"),
            range(0, u64::MAX - 1, Some(u64::MAX))
        );
        assert_eq!(
            parse_content_range("bytes 0-18446744073709551615/*"),
            range(0, u64::MAX, None)
        );
    }

    #[test]
    fn content_range_rejects_invalid_forms() {
        for value in [
            "",
            "bytes",
            "bytes ",
            "bytes */1234",
            "bytes 5-4/10",
            "bytes 0-10/10",
            "bytes 0-11/10",
            "bytes 0-9/0",
            "bytes -1-5/10",
            "bytes +1-5/10",
            "bytes 1--5/10",
            "bytes 1-5/-10",
            "bytes 1-5/+10",
            "bytes 1-5",
            "bytes 1-/10",
            "bytes -5/10",
            "bytes 1-5/",
            "bytes 1-5/10/10",
            "bytes 1 - 5/10",
            "bytes  1-5/10",
            "bytes 1-5 /10",
            "bytes=1-5/10",
            "bits 1-5/10",
            "1-5/10",
            "bytes 0-18446744073709551616/*",
            "bytes 0-1/18446744073709551616",
            "bytes 0x1-5/10",
            "bytes 1-5/**",
            "bytes 1-5/1e3",
            "bytes １-5/10",
            "bytés 1-5/10",
        ] {
            assert_eq!(parse_content_range(value), None, "{value:?}");
        }
    }

    #[test]
    fn unsatisfied_total() {
        assert_eq!(parse_unsatisfied_total("bytes */1234"), Some(1234));
        assert_eq!(parse_unsatisfied_total(" bytes */0 "), Some(0));
        assert_eq!(parse_unsatisfied_total("Bytes */7"), Some(7));
        for value in [
            "bytes */",
            "bytes */*",
            "bytes 0-1/2",
            "bytes * /3",
            "*/3",
            "bytes */-3",
            "bytes */18446744073709551616",
        ] {
            assert_eq!(parse_unsatisfied_total(value), None, "{value:?}");
        }
    }

    #[test]
    fn content_length() {
        assert_eq!(parse_content_length("0"), Some(0));
        assert_eq!(parse_content_length("53092"), Some(53092));
        assert_eq!(parse_content_length(" 12\t"), Some(12));
        assert_eq!(parse_content_length("007"), Some(7));
        assert_eq!(parse_content_length("18446744073709551615"), Some(u64::MAX));
        for value in [
            "",
            " ",
            "-1",
            "+1",
            "1 2",
            "12,12",
            "1.0",
            "0x10",
            "18446744073709551616",
            "1e3",
            "١٢",
        ] {
            assert_eq!(parse_content_length(value), None, "{value:?}");
        }
    }

    #[test]
    fn retry_after_delta_seconds() {
        let now = SystemTime::now();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        for value in ["", "-5", "+5", "1.5", "5s", "soon"] {
            assert_eq!(parse_retry_after(value, now), None, "{value:?}");
        }
    }

    #[test]
    fn retry_after_http_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        for (value, secs) in [
            ("Sun, 06 Nov 1994 08:49:37 GMT", 0),
            ("Sun, 06 Nov 1994 08:50:37 GMT", 60),
            ("Sunday, 06-Nov-94 08:49:47 GMT", 10),
            ("Sun Nov  6 08:49:57 1994", 20),
            ("Sat, 05 Nov 1994 08:49:37 GMT", 0),
        ] {
            assert_eq!(
                parse_retry_after(value, now),
                Some(Duration::from_secs(secs)),
                "{value:?}"
            );
        }
        assert_eq!(
            parse_retry_after("Sun, 32 Nov 1994 08:49:37 GMT", now),
            None
        );
    }

    proptest! {
        #[test]
        fn content_range_round_trips(start: u64, len_minus_one: u64, extra: u64, known: bool) {
            let end = start.saturating_add(len_minus_one);
            let total = end.checked_add(1).map(|min| min.saturating_add(extra % 1000));
            let text = match (known, total) {
                (true, Some(total)) => format!("bytes {start}-{end}/{total}"),
                _ => format!("bytes {start}-{end}/*"),
            };
            let parsed = parse_content_range(&text).unwrap();
            prop_assert_eq!(parsed.start, start);
            prop_assert_eq!(parsed.end_inclusive, end);
            prop_assert_eq!(parsed.total, if known { total } else { None });
        }

        #[test]
        fn content_range_rejects_end_past_total(start in 0u64..1000, end in 0u64..1000, total in 0u64..1000) {
            let parsed = parse_content_range(&format!("bytes {start}-{end}/{total}"));
            prop_assert_eq!(parsed.is_some(), start <= end && end < total);
        }

        #[test]
        fn header_parsers_never_panic(value in "\\PC*") {
            let _ = parse_content_range(&value);
            let _ = parse_unsatisfied_total(&value);
            let _ = parse_content_length(&value);
            let _ = parse_retry_after(&value, SystemTime::now());
            let _ = parse_retry_after(&value, SystemTime::UNIX_EPOCH);
        }

        #[test]
        fn header_parsers_never_panic_on_near_misses(value in "[bytesBYTES */0-9+-]{0,40}") {
            let _ = parse_content_range(&value);
            let _ = parse_unsatisfied_total(&value);
            let _ = parse_content_length(&value);
        }

        #[test]
        fn content_length_matches_std_on_digits(digits in "[0-9]{1,25}") {
            prop_assert_eq!(parse_content_length(&digits), digits.parse::<u64>().ok());
        }

        #[test]
        fn content_length_rejects_signs_and_garbage(n: u64, garbage in "[^0-9 \t]") {
            let signed_plus = format!("+{n}");
            let signed_minus = format!("-{n}");
            let with_garbage = format!("{n}{garbage}");
            prop_assert_eq!(parse_content_length(&signed_plus), None);
            prop_assert_eq!(parse_content_length(&signed_minus), None);
            prop_assert_eq!(parse_content_length(&with_garbage), None);
        }

        #[test]
        fn retry_after_round_trips_delta_seconds(secs: u64) {
            prop_assert_eq!(
                parse_retry_after(&secs.to_string(), SystemTime::now()),
                Some(Duration::from_secs(secs))
            );
        }

        #[test]
        fn retry_after_round_trips_http_dates(
            now_secs in 0u64..4_000_000_000,
            now_nanos in 0u32..1_000_000_000,
            ahead in 0u64..10_000_000,
        ) {
            // HTTP dates are whole seconds and start at 1970; httpdate
            // formats years up to 9999.
            let now = SystemTime::UNIX_EPOCH + Duration::new(now_secs, now_nanos);
            let then = now + Duration::from_secs(ahead);
            let text = httpdate::fmt_http_date(then);
            let parsed = parse_retry_after(&text, now).unwrap();
            prop_assert!(parsed <= Duration::from_secs(ahead));
            prop_assert!(parsed + Duration::from_secs(1) > Duration::from_secs(ahead));
        }

        #[test]
        fn retry_after_past_dates_are_zero(now_secs in 1u64..4_000_000_000, behind in 1u64..1_000_000) {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs);
            let then = SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs.saturating_sub(behind));
            let text = httpdate::fmt_http_date(then);
            prop_assert_eq!(parse_retry_after(&text, now), Some(Duration::ZERO));
        }
    }

    #[test]
    fn header_lines() {
        let ok = |line: &str| parse_header_line(line).unwrap();
        assert_eq!(
            ok("Authorization: Bearer t0k"),
            ("Authorization".into(), "Bearer t0k".into())
        );
        assert_eq!(ok("  X-A :\tv\t "), ("X-A".into(), "v".into()));
        assert_eq!(ok("X-Empty:"), ("X-Empty".into(), String::new()));
        assert_eq!(
            ok("X-Url: http://h/a:b"),
            ("X-Url".into(), "http://h/a:b".into())
        );
        assert_eq!(ok("X-Tab: a\tb"), ("X-Tab".into(), "a\tb".into()));
        for (line, why) in [
            ("X: a\r\nInjected: 1", "line break"),
            ("X: a\nb", "line break"),
            ("X: a\u{1b}[2J", "control character"),
            ("X: a\u{9b}2J", "control character"),
            ("Bad Name: v", "not a header name"),
            (": v", "not a header name"),
            ("X\u{0}: v", "not a header name"),
            ("novalue", "no `:`"),
        ] {
            let error = parse_header_line(line).unwrap_err();
            assert!(error.contains(why), "{line:?}: {error}");
        }
        assert!(check_header_value("parget/1.0 (x)").is_ok());
        assert!(check_header_value("a\rb").is_err());
    }
}
