//! Text made safe to show: URLs without their passwords or the secrets in
//! their query strings, and text from a list or a server without terminal
//! control characters.
//!
//! Every message parget prints or returns (progress, the summary, JSON,
//! errors) passes URLs through [`redact_url`] or [`redact_url_text`], and
//! any text that came from outside through [`escape_control`].

use std::borrow::Cow;
use std::fmt::Write as _;

/// What a password is replaced with.
pub const REDACTED: &str = "***";

/// The URL as text, its password (if any) replaced by [`REDACTED`]. The
/// user name beside a password is kept, since it helps tell accounts
/// apart; a user name alone is replaced too, since it is often the
/// credential itself (`https://TOKEN@host/`). The values of query
/// parameters that carry credentials (a presigned URL's `X-Amz-Signature`
/// or `sig`, `token`, `access_token`, `api_key`, `key` and their kin, in
/// any case) are replaced as well, their names kept.
///
/// ```
/// let url = url::Url::parse("https://h/f?X-Amz-Signature=ab12&part=1").unwrap();
/// assert_eq!(parget::redact::redact_url(&url), "https://h/f?X-Amz-Signature=***&part=1");
/// let url = url::Url::parse("https://alice:s3cret@example.com/f").unwrap();
/// assert_eq!(parget::redact::redact_url(&url), "https://alice:***@example.com/f");
/// let url = url::Url::parse("https://ghp_t0k3n@example.com/f").unwrap();
/// assert_eq!(parget::redact::redact_url(&url), "https://***@example.com/f");
/// ```
pub fn redact_url(url: &url::Url) -> String {
    let password = url.password().is_some();
    if !password && matches!(url.username(), "" | REDACTED) {
        let secret = [url.query(), url.fragment()]
            .into_iter()
            .flatten()
            .any(has_secret_parameter);
        return match secret {
            true => redact_query(url.as_str()).into_owned(),
            false => url.to_string(),
        };
    }
    let mut redacted = url.clone();
    // Neither can fail: a URL with a user name or a password can have
    // another one.
    let set = if password {
        redacted.set_password(Some(REDACTED))
    } else {
        redacted.set_username(REDACTED)
    };
    if set.is_err() {
        return redact_url_text(url.as_str()).into_owned();
    }
    let text = redacted.to_string();
    match redact_query(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(text) => text,
    }
}

/// Query parameters whose values are credentials, compared without regard
/// to case: the signatures and tokens of presigned object-store URLs (S3,
/// Google Cloud Storage, Azure SAS, CloudFront) and the usual names of API
/// keys and access tokens. A presigned URL is a password for as long as it
/// lives, and such URLs are what big downloads are often given as; the
/// parameter stays in a message with its value replaced, so the file is
/// still recognisable.
const SECRET_PARAMETERS: &[&str] = &[
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
    "signature",
    "sig",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth",
    "api_key",
    "apikey",
    "api-key",
    "key",
    "secret",
    "client_secret",
    "password",
    "passwd",
];

/// Whether a query parameter (`name=value`) holds a credential that is not
/// redacted yet.
fn is_secret_parameter(pair: &str) -> bool {
    let Some((name, value)) = pair.split_once('=') else {
        return false;
    };
    if value.is_empty() || value == REDACTED {
        return false;
    }
    // A server reads `%74oken` as `token`: the name is compared decoded.
    let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
    SECRET_PARAMETERS
        .iter()
        .any(|secret| name.eq_ignore_ascii_case(secret))
}

fn has_secret_parameter(query: &str) -> bool {
    query.split('&').any(is_secret_parameter)
}

/// A fingerprint of the credentials in a URL's `query` (SHA-256, in hex,
/// of its [`SECRET_PARAMETERS`] pairs in order), `None` when it has none.
/// It takes the parsed URL's query (`Url::query`), so a download does not
/// parse its URL again for it.
/// The control file records it beside the redacted URL: the value of
/// `?token=` or `?sig=` can pick which object a server sends, so a part
/// file is only continued under the same credentials, and none of them is
/// written down.
pub(crate) fn query_credentials_fingerprint(query: Option<&str>) -> Option<String> {
    use sha2::Digest as _;
    let query = query?;
    let mut hasher = sha2::Sha256::new();
    let mut any = false;
    for pair in query.split('&').filter(|pair| is_secret_parameter(pair)) {
        hasher.update(pair.as_bytes());
        hasher.update(b"&");
        any = true;
    }
    any.then(|| hex::encode(hasher.finalize()))
}

/// URL text with the value of every [`SECRET_PARAMETERS`] parameter in its
/// query, and in a fragment of `name=value` pairs (where OAuth's implicit
/// flow puts `#access_token=`), replaced by [`REDACTED`]. The query is what
/// follows the first `?` after `scheme://`, up to a `#`; the fragment is
/// what follows that `#`.
fn redact_query(text: &str) -> Cow<'_, str> {
    let Some(after_scheme) = text.find("://").map(|at| at + 3) else {
        return Cow::Borrowed(text);
    };
    let rest = text.get(after_scheme..).unwrap_or("");
    let query_start = rest.find('?').map(|at| after_scheme + at + 1);
    let hash = text
        .get(query_start.unwrap_or(after_scheme)..)
        .and_then(|rest| rest.find('#'))
        .map(|at| query_start.unwrap_or(after_scheme) + at);
    let query = query_start.map(|start| start..hash.unwrap_or(text.len()));
    let fragment = hash.map(|at| at + 1..text.len());
    let secret = |range: &Option<std::ops::Range<usize>>| {
        range
            .clone()
            .and_then(|range| text.get(range))
            .is_some_and(has_secret_parameter)
    };
    if !secret(&query) && !secret(&fragment) {
        return Cow::Borrowed(text);
    }
    let mut redacted = String::with_capacity(text.len());
    let mut copied = 0;
    for range in [query, fragment].into_iter().flatten() {
        redacted.push_str(text.get(copied..range.start).unwrap_or(""));
        let pairs = text.get(range.clone()).unwrap_or("");
        for (i, pair) in pairs.split('&').enumerate() {
            if i > 0 {
                redacted.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) if is_secret_parameter(pair) => {
                    redacted.push_str(name);
                    redacted.push('=');
                    redacted.push_str(REDACTED);
                }
                _ => redacted.push_str(pair),
            }
        }
        copied = range.end;
    }
    redacted.push_str(text.get(copied..).unwrap_or(""));
    Cow::Owned(redacted)
}

/// URL text as given (it may not parse), its password (or a user name
/// without one) replaced by [`REDACTED`] as [`redact_url`] does; the text
/// is otherwise untouched, so a message shows what the user wrote.
///
/// The userinfo is what precedes the last `@` of the authority (after
/// `scheme://`, up to the first `/`, `\`, `?` or `#`), as a URL parser reads
/// it, and the password is what follows its first `:`. Text that does not
/// parse as a URL is treated more suspiciously, since a password holding
/// `/`, `?`, `#` or a space is what breaks parsing: there the authority
/// runs to the end, its last `@` ending the userinfo, so
/// `http://u:pa/ss@host` loses `pa/ss` and `http://u:p#w@host` loses
/// `p#w`. Text
/// without `://` whose start looks like `user:password@host` (curl's form
/// for a proxy without a scheme) is redacted too. Redacting too much in a
/// broken URL is harmless; showing a password is not. The credentials in
/// a query string are replaced as [`redact_url`] replaces them.
///
/// ```
/// use parget::redact::redact_url_text;
/// assert_eq!(redact_url_text("http://u:pw@h:bad/"), "http://u:***@h:bad/");
/// assert_eq!(redact_url_text("http://h/f"), "http://h/f");
/// ```
pub fn redact_url_text(text: &str) -> Cow<'_, str> {
    let (authority_start, stops): (usize, &[char]) = match text.find("://") {
        Some(at) if url::Url::parse(text.trim()).is_ok() => (at + 3, &['/', '\\', '?', '#']),
        Some(at) => (at + 3, &[]),
        // `u:pw@proxy` even parses, as a URL of scheme `u`.
        None => (0, &['/', '\\', '?', '#', ' ', '\t', '\n']),
    };
    let rest = text.get(authority_start..).unwrap_or("");
    let authority_len = rest.find(stops).unwrap_or(rest.len());
    let authority = rest.get(..authority_len).unwrap_or("");
    let Some(at) = authority.rfind('@') else {
        return redact_query(text);
    };
    let userinfo = authority.get(..at).unwrap_or("");
    // The secret: the password, or the user name when there is none (or
    // an empty one: `TOKEN:@host`, curl's `-u TOKEN:` form).
    let (secret, secret_start) = match userinfo.find(':') {
        Some(colon) if colon + 1 < userinfo.len() => {
            (userinfo.get(colon + 1..).unwrap_or(""), colon + 1)
        }
        Some(colon) => (userinfo.get(..colon).unwrap_or(""), 0),
        None => (userinfo, 0),
    };
    if secret.is_empty() || secret == REDACTED {
        return redact_query(text);
    }
    let password_start = authority_start + secret_start;
    let password_end = authority_start + at;
    let mut redacted = String::with_capacity(text.len());
    redacted.push_str(text.get(..password_start).unwrap_or(""));
    redacted.push_str(REDACTED);
    redacted.push_str(text.get(password_end..).unwrap_or(""));
    match redact_query(&redacted) {
        Cow::Borrowed(_) => Cow::Owned(redacted),
        Cow::Owned(both) => Cow::Owned(both),
    }
}

/// `text` with the password of every URL in it replaced: a message may
/// quote URLs (`` `http://u:pw@h/` ``, or followed by `:`), and each word
/// holding `://` is redacted as [`redact_url_text`] does, the quotes and
/// punctuation around it kept.
///
/// ```
/// use parget::redact::redact_urls_in;
/// assert_eq!(
///     redact_urls_in("the .part is of `http://u:pw@h/a`, not http://u:pw@h/b:"),
///     "the .part is of `http://u:***@h/a`, not http://u:***@h/b:"
/// );
/// ```
pub fn redact_urls_in(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let words: Vec<Cow<'_, str>> = text
        .split(' ')
        .map(|word| {
            if !word.contains("://") {
                return Cow::Borrowed(word);
            }
            let inner =
                word.trim_matches(|c| matches!(c, '`' | '\'' | '"' | ':' | ',' | ';' | '(' | ')'));
            match redact_url_text(inner) {
                Cow::Borrowed(_) => Cow::Borrowed(word),
                Cow::Owned(redacted) => Cow::Owned(word.replacen(inner, &redacted, 1)),
            }
        })
        .collect();
    if words.iter().all(|w| matches!(w, Cow::Borrowed(_))) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(words.join(" "))
}

/// `text` made safe to print on a terminal: every control character is
/// written as a visible escape, everything else is left as it is.
///
/// Escaped: C0 controls and DEL as `\xNN` (TAB, LF and CR as `\t`, `\n`,
/// `\r`), C1 controls (U+0080 to U+009F, which include the one-character
/// CSI, U+009B) and the bidi controls (U+202E and its kin, which reorder
/// what a terminal shows) as `\u{NN}`. The ESC that starts a terminal escape sequence
/// is a C0 control, so no sequence survives. Borrowed when nothing needed
/// escaping.
///
/// ```
/// use parget::redact::escape_control;
/// assert_eq!(escape_control("a\u{1b}[2Jb"), "a\\x1b[2Jb");
/// assert_eq!(escape_control("café"), "café");
/// ```
pub fn escape_control(text: &str) -> Cow<'_, str> {
    let Some(first) = text.find(is_escaped) else {
        return Cow::Borrowed(text);
    };
    let mut escaped = String::with_capacity(text.len() + 8);
    escaped.push_str(text.get(..first).unwrap_or(""));
    for c in text.get(first..).unwrap_or("").chars() {
        match c {
            '\t' => escaped.push_str("\\t"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(escaped, "\\x{:02x}", u32::from(c));
            }
            c if is_escaped(c) => {
                let _ = write!(escaped, "\\u{{{:x}}}", u32::from(c));
            }
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// C0, DEL and C1 (exactly Unicode's `Cc` category), and the bidi
/// controls.
fn is_escaped(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// The Unicode bidi controls: the embeddings, overrides and isolates
/// ([`reorders_text`]) and the marks. Escaped in printed text, where even
/// a mark can move the characters around it.
pub(crate) fn is_bidi_control(c: char) -> bool {
    reorders_text(c) || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}')
}

/// The bidi embeddings, overrides and isolates: they reorder a whole run
/// of text, so a name such as `report\u{202e}fdp.exe` shows as
/// `reportexe.pdf`. Replaced in file names ([`crate::naming`]); the marks
/// (U+200E, U+200F, U+061C) are left in names, where Hebrew and Arabic
/// text uses them.
pub(crate) fn reorders_text(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parsed_urls() {
        for (input, expected) in [
            (
                "https://alice:s3cret@example.com/f",
                "https://alice:***@example.com/f",
            ),
            ("https://alice@example.com/f", "https://***@example.com/f"),
            (
                "https://ghp_t0k3n@example.com/f",
                "https://***@example.com/f",
            ),
            ("https://***@example.com/f", "https://***@example.com/f"),
            ("https://T0KEN:@example.com/f", "https://***@example.com/f"),
            ("https://:pw@example.com/", "https://:***@example.com/"),
            ("https://example.com/a:b@c", "https://example.com/a:b@c"),
            ("http://u:p%40ss@h:8080/x?q=1", "http://u:***@h:8080/x?q=1"),
            ("ftp://u:p@h/", "ftp://u:***@h/"),
        ] {
            let url = url::Url::parse(input).unwrap();
            assert_eq!(redact_url(&url), expected, "{input}");
            assert_eq!(redact_url_text(input), expected, "{input}");
        }
    }

    #[test]
    fn credentials_in_query_strings() {
        for (input, expected) in [
            (
                "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=9f86d0&X-Amz-Expires=60",
                "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Expires=60",
            ),
            (
                "https://a.blob.core.windows.net/c/f?sv=2022&sig=abc%3D#top",
                "https://a.blob.core.windows.net/c/f?sv=2022&sig=***#top",
            ),
            ("https://h/f?TOKEN=t&Key=k&page=2", "https://h/f?TOKEN=***&Key=***&page=2"),
            ("https://h/f?token=&token", "https://h/f?token=&token"),
            ("https://h/f?tokens=1&monkey=2", "https://h/f?tokens=1&monkey=2"),
            ("https://h/token=1?q=2", "https://h/token=1?q=2"),
            ("https://h/f?a=1#token=2", "https://h/f?a=1#token=***"),
            ("https://h/f#access_token=t&token_type=x", "https://h/f#access_token=***&token_type=x"),
            ("https://h/f?sig=s#top", "https://h/f?sig=***#top"),
            ("https://h/f?%74oken=t&%53ig=s&a%3d=1", "https://h/f?%74oken=***&%53ig=***&a%3d=1"),
            ("https://h/f?token=***", "https://h/f?token=***"),
            (
                "https://u:pw@h/f?access_token=x",
                "https://u:***@h/f?access_token=***",
            ),
            ("https://TOKEN@h/f?api_key=x", "https://***@h/f?api_key=***"),
        ] {
            let url = url::Url::parse(input).unwrap();
            assert_eq!(redact_url(&url), expected, "{input}");
            assert_eq!(redact_url_text(input), expected, "{input}");
            assert_eq!(redact_url_text(expected), expected, "twice: {input}");
        }
        // Text that does not parse, and URLs inside a message.
        assert_eq!(
            redact_url_text("http://u:p?w@h:bad/f?sig=s"),
            "http://u:***@h:bad/f?sig=***"
        );
        assert_eq!(
            redact_urls_in("fetching `https://h/f?Signature=s1`: 403"),
            "fetching `https://h/f?Signature=***`: 403"
        );
        // Not a URL: left alone.
        assert_eq!(redact_url_text("?token=1"), "?token=1");
    }

    #[test]
    fn query_credentials_have_a_fingerprint_that_tells_them_apart() {
        let fingerprint =
            |url: &str| query_credentials_fingerprint(url::Url::parse(url).unwrap().query());
        assert_eq!(fingerprint("https://h/f?page=2"), None);
        assert_eq!(fingerprint("https://u:pw@h/f"), None);
        assert_eq!(query_credentials_fingerprint(None), None);
        let a = fingerprint("https://h/f?token=a&page=2").unwrap();
        assert_eq!(a.len(), 64);
        assert_eq!(fingerprint("https://h/f?page=3&token=a"), Some(a.clone()));
        assert_ne!(fingerprint("https://h/f?token=b&page=2"), Some(a.clone()));
        assert_ne!(fingerprint("https://h/f?Token=a"), Some(a));
    }

    #[test]
    fn text_that_parses_is_kept_as_written() {
        // The url crate would lower-case the host and add a slash.
        assert_eq!(
            redact_url_text("HTTP://u:pw@EXAMPLE.com"),
            "HTTP://u:***@EXAMPLE.com"
        );
        assert_eq!(
            redact_url_text("http://u:a@b@host/p"),
            "http://u:***@host/p"
        );
        assert_eq!(
            redact_url_text("http://host/path?next=http://u:pw@evil/"),
            "http://host/path?next=http://u:pw@evil/",
            "the query is not an authority"
        );
    }

    #[test]
    fn text_that_does_not_parse() {
        for (input, expected) in [
            ("http://u:pw@h:badport/", "http://u:***@h:badport/"),
            ("http://u:pa/ss@host/f", "http://u:***@host/f"),
            ("http://u:pa ss@host/f", "http://u:***@host/f"),
            ("http://u:se#cret@h:1/x", "http://u:***@h:1/x"),
            ("http://u:px#secret@h:3128", "http://u:***@h:3128"),
            ("http://u:env?secret@h:3128", "http://u:***@h:3128"),
            ("http://u:a?b#c/d@h/x", "http://u:***@h/x"),
            ("http://u:pw@[::1/", "http://u:***@[::1/"),
            ("u:pw@proxy:3128", "u:***@proxy:3128"),
            ("u:pw@proxy/x@y", "u:***@proxy/x@y"),
            ("http://[bad/", "http://[bad/"),
            ("http://u@h:x/", "http://***@h:x/"),
            ("", ""),
            ("://", "://"),
            (":@", ":@"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact_url_text(input), expected, "{input:?}");
        }
    }

    #[test]
    fn nothing_to_redact_borrows() {
        assert!(matches!(redact_url_text("http://h/f"), Cow::Borrowed(_)));
        assert!(matches!(
            redact_url_text("http://u:***@h/f"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(escape_control("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn urls_inside_messages() {
        for (input, expected) in [
            ("no url here", "no url here"),
            ("http://h/ is fine", "http://h/ is fine"),
            (
                "`http://u:pw@h/x` and (https://a:b@c/)",
                "`http://u:***@h/x` and (https://a:***@c/)",
            ),
            (
                "http://u:pw@h/f: server answered HTTP 404",
                "http://u:***@h/f: server answered HTTP 404",
            ),
            (
                "twice http://u:pw@h/ http://u:pw@h/",
                "twice http://u:***@h/ http://u:***@h/",
            ),
        ] {
            assert_eq!(redact_urls_in(input), expected, "{input}");
        }
        assert!(matches!(redact_urls_in("http://h/ ok"), Cow::Borrowed(_)));
    }

    #[test]
    fn control_characters() {
        for (input, expected) in [
            ("", ""),
            ("plain text", "plain text"),
            ("\u{1b}[31mred\u{1b}[0m", "\\x1b[31mred\\x1b[0m"),
            ("a\u{9b}2Jb", "a\\u{9b}2Jb"),
            ("\u{80}\u{9f}", "\\u{80}\\u{9f}"),
            ("nul\0", "nul\\x00"),
            ("del\u{7f}", "del\\x7f"),
            ("t\tn\nr\r", "t\\tn\\nr\\r"),
            ("bell\u{7}", "bell\\x07"),
            // Printable non-ASCII and backslashes are left alone.
            ("café 🦀 \u{a0}\u{a0}", "café 🦀 \u{a0}\u{a0}"),
            ("a\\x1b", "a\\x1b"),
            // Bidi controls reorder what is shown: escaped too.
            ("a\u{202e}fdp.exe", "a\\u{202e}fdp.exe"),
        ] {
            assert_eq!(escape_control(input), expected, "{input:?}");
        }
    }

    proptest! {
        #[test]
        fn redaction_never_panics(text in "\\PC*|[a-z:/@?#\\[\\] %]{0,24}") {
            let _ = redact_url_text(&text);
        }

        #[test]
        fn passwords_never_survive(
            user in "[a-z0-9]{0,8}",
            password in "[A-Za-z0-9._~!$&'()*+,;=-]{1,12}|[A-Za-z0-9/ :@]{1,12}",
            host in "[a-z]{1,8}(\\.[a-z]{1,5})?",
            path in "(/[a-z0-9@:]{0,6}){0,3}",
            port in proptest::option::of(any::<u16>()),
        ) {
            prop_assume!(password != REDACTED);
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let text = format!("http://{user}:{password}@{host}{port}{path}");
            let redacted = redact_url_text(&text);
            match url::Url::parse(&text) {
                // A `/` in the password can make the text a valid URL of
                // another host (`http://u:1/x@h` is host `u`, port 1): then
                // it holds no password, and whatever it does hold is gone.
                Ok(url) => {
                    let again = url::Url::parse(&redacted).unwrap();
                    prop_assert!(again.password().is_none() || again.password() == Some(REDACTED));
                    if url.password().is_some() {
                        prop_assert_eq!(again.password(), Some(REDACTED));
                        let via_url = url::Url::parse(&redact_url(&url)).unwrap();
                        prop_assert_eq!(via_url.password(), Some(REDACTED));
                    }
                }
                Err(_) => {
                    let expected_prefix = format!("http://{user}:{REDACTED}@");
                    prop_assert!(redacted.starts_with(&expected_prefix), "{} -> {}", text, redacted);
                }
            }
        }

        #[test]
        fn query_credentials_never_survive(
            before in proptest::collection::vec("[a-z]{1,6}=[a-z0-9]{0,6}", 0..3),
            name in proptest::sample::select(SECRET_PARAMETERS),
            upper in any::<bool>(),
            secret in "[A-Za-z0-9%._~-]{4,16}",
            after in proptest::collection::vec("[a-z]{1,6}=[a-z0-9]{0,6}", 0..3),
            fragment in proptest::option::of("[a-z=]{0,6}"),
        ) {
            prop_assume!(secret != REDACTED);
            let name = if upper { name.to_ascii_uppercase() } else { name.to_owned() };
            let mut pairs = before.clone();
            pairs.push(format!("{name}={secret}"));
            pairs.extend(after.iter().cloned());
            let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
            let text = format!("https://h/p?{}{fragment}", pairs.join("&"));
            let url = url::Url::parse(&text).unwrap();
            for redacted in [redact_url(&url), redact_url_text(&text).into_owned()] {
                let again = url::Url::parse(&redacted).unwrap();
                for (key, value) in again.query_pairs() {
                    if key.eq_ignore_ascii_case(&name) {
                        prop_assert_eq!(&*value, REDACTED, "{} -> {}", text, redacted);
                    }
                }
                // Every other parameter, and a fragment without a
                // credential, are kept.
                for pair in before.iter().chain(&after) {
                    if !is_secret_parameter(pair) {
                        prop_assert!(redacted.contains(pair.as_str()), "{} -> {}", text, redacted);
                    }
                }
                if !url.fragment().is_some_and(has_secret_parameter) {
                    prop_assert_eq!(again.fragment(), url.fragment());
                }
            }
        }

        #[test]
        fn credentials_in_a_fragment_never_survive(
            query in proptest::collection::vec("[a-z]{1,6}=[a-z0-9]{0,6}", 0..3),
            name in proptest::sample::select(SECRET_PARAMETERS),
            secret in "[A-Za-z0-9._~-]{4,16}",
            others in proptest::collection::vec("[a-z]{1,6}=[a-z0-9]{0,6}", 0..3),
        ) {
            prop_assume!(secret != REDACTED);
            // The other pairs neither are credentials nor hold the secret.
            prop_assume!(!others.iter().chain(&query).any(|p| is_secret_parameter(p) || p.contains(&secret)));
            let mut pairs = others.clone();
            pairs.insert(others.len() / 2, format!("{name}={secret}"));
            let text = format!("https://h/p?{}#{}", query.join("&"), pairs.join("&"));
            let url = url::Url::parse(&text).unwrap();
            for redacted in [redact_url(&url), redact_url_text(&text).into_owned()] {
                prop_assert!(!redacted.contains(&format!("={secret}")), "{} -> {}", text, redacted);
                let kept = format!("#{}", pairs.join("&").replace(&format!("{name}={secret}"), &format!("{name}={REDACTED}")));
                prop_assert!(redacted.ends_with(&kept), "{} -> {}", text, redacted);
            }
        }

        #[test]
        fn bidi_controls_are_escaped_wherever_they_are(
            before in "[a-z.]{0,8}",
            after in "[a-z.]{0,8}",
            c in prop::sample::select(vec!['\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}']),
        ) {
            let text = format!("{before}{c}{after}");
            let expected = format!("{before}\\u{{{:x}}}{after}", u32::from(c));
            prop_assert_eq!(escape_control(&text), expected.as_str());
        }

        #[test]
        fn escaped_text_has_no_control_characters(text: String) {
            let escaped = escape_control(&text);
            prop_assert!(!escaped.chars().any(|c| c.is_control() || is_bidi_control(c)));
        }

        #[test]
        fn text_without_controls_is_unchanged(
            text in "[^\\p{Cc}\u{061c}\u{200e}\u{200f}\u{202a}-\u{202e}\u{2066}-\u{2069}]*"
        ) {
            prop_assert_eq!(escape_control(&text), text.as_str());
        }
    }
}
