//! Cookie files in the Netscape format, as curl (`-c`) and wget
//! (`--save-cookies`) write them, and the `Cookie:` header they give a
//! request (RFC 6265 section 5.4).
//!
//! One cookie per line, seven TAB-separated fields:
//!
//! ```text
//! .example.com<TAB>TRUE<TAB>/<TAB>FALSE<TAB>1767225600<TAB>session<TAB>abc123
//! ```
//!
//! (`<TAB>` standing for a TAB): domain, include-subdomains
//! (`TRUE`/`FALSE`), path, secure (`TRUE`/`FALSE`), expiry (seconds since
//! 1970; 0 for a session cookie), name, value. A
//! domain prefixed with `#HttpOnly_` marks an HttpOnly cookie (curl's
//! spelling); other lines starting with `#` are comments, blank lines are
//! skipped, and a line of six fields is a cookie with an empty value, as
//! curl reads it.
//!
//! curl and wget skip lines they cannot read without a word; here they are
//! errors naming the file and line, since a cookie silently not sent is a
//! confusing failure. A name or value holding `;` or a control character is
//! refused too: it would change the meaning of the `Cookie:` header.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::input::InputError;

/// The prefix curl puts before the domain of an HttpOnly cookie.
const HTTP_ONLY_PREFIX: &str = "#HttpOnly_";

/// One cookie from a file.
#[derive(Clone, PartialEq, Eq)]
pub struct Cookie {
    /// The domain, lower-cased, without a leading dot.
    pub domain: String,
    /// Whether subdomains of [`domain`](Self::domain) get the cookie too.
    pub include_subdomains: bool,
    /// The path the cookie is for.
    pub path: String,
    /// Sent only over https.
    pub secure: bool,
    /// Marked HttpOnly (meaningful to browsers only; kept for completeness).
    pub http_only: bool,
    /// Expiry in seconds since 1970; `None` for a session cookie (0 in
    /// the file), which lasts as long as the run.
    pub expires: Option<u64>,
    /// The cookie's name.
    pub name: String,
    /// The cookie's value.
    pub value: String,
    /// The 1-based line it came from.
    pub line: u64,
}

impl std::fmt::Debug for Cookie {
    /// Cookie values are often credentials: never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cookie")
            .field("domain", &self.domain)
            .field("include_subdomains", &self.include_subdomains)
            .field("path", &self.path)
            .field("secure", &self.secure)
            .field("http_only", &self.http_only)
            .field("expires", &self.expires)
            .field("name", &self.name)
            .field("value", &"***")
            .field("line", &self.line)
            .finish()
    }
}

/// The cookies of a file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CookieJar {
    cookies: Vec<Cookie>,
}

impl CookieJar {
    /// Parses a whole cookie file; `source_name` (its path) names it in
    /// errors. A cookie with the same domain, path and name as an earlier
    /// one replaces it, as when curl loads a file.
    pub fn parse(bytes: &[u8], source_name: &str) -> Result<CookieJar, InputError> {
        let mut cookies: Vec<Cookie> = Vec::new();
        let mut number = 0u64;
        for raw in bytes.split(|&b| b == b'\n') {
            number += 1;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let line = std::str::from_utf8(raw)
                .map_err(|_| InputError::new(source_name, number, "line is not valid UTF-8"))?;
            let cookie = parse_line(line, number)
                .map_err(|message| InputError::new(source_name, number, message))?;
            let Some(cookie) = cookie else { continue };
            match cookies.iter_mut().find(|known| {
                known.domain == cookie.domain
                    && known.path == cookie.path
                    && known.name == cookie.name
            }) {
                Some(known) => *known = cookie,
                None => cookies.push(cookie),
            }
        }
        Ok(CookieJar { cookies })
    }

    /// Every cookie, in file order.
    pub fn cookies(&self) -> &[Cookie] {
        &self.cookies
    }

    /// The cookies to send with a request for `url` at time `now`, in the
    /// order RFC 6265 asks for: longer paths first, then file order.
    ///
    /// A cookie is sent when the URL is http or https, its host
    /// domain-matches the cookie (the domain itself, or a subdomain when
    /// the cookie includes subdomains; an IP address only exactly), its
    /// path path-matches, it is not `Secure` or the URL is https, and it has
    /// not expired.
    pub fn matching(&self, url: &url::Url, now: SystemTime) -> Vec<&Cookie> {
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return Vec::new(),
        };
        let Some(host) = request_host(url) else {
            return Vec::new();
        };
        let now_secs = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let mut matching: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|cookie| {
                (https || !cookie.secure)
                    && cookie.expires.is_none_or(|expires| expires > now_secs)
                    && domain_matches(&host, cookie)
                    && path_matches(url.path(), &cookie.path)
            })
            .collect();
        // Stable: equal path lengths keep file order.
        matching.sort_by_key(|cookie| std::cmp::Reverse(cookie.path.len()));
        matching
    }

    /// The `Cookie:` header value for a request for `url` at time `now`
    /// (`a=1; b=2`), or `None` when no cookie matches.
    pub fn header_for(&self, url: &url::Url, now: SystemTime) -> Option<String> {
        let matching = self.matching(url, now);
        if matching.is_empty() {
            return None;
        }
        let pairs: Vec<String> = matching
            .iter()
            .map(|cookie| format!("{}={}", cookie.name, cookie.value))
            .collect();
        Some(pairs.join("; "))
    }
}

/// One line: `Ok(None)` for a comment or a blank line.
fn parse_line(line: &str, number: u64) -> Result<Option<Cookie>, String> {
    let (http_only, line) = match line.strip_prefix(HTTP_ONLY_PREFIX) {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    if !http_only && (line.starts_with('#') || line.trim().is_empty()) {
        return Ok(None);
    }
    let fields: Vec<&str> = line.split('\t').collect();
    let (domain, subdomains, path, secure, expires, name, value) = match fields.as_slice() {
        [d, s, p, sec, e, n, v] => (*d, *s, *p, *sec, *e, *n, *v),
        [d, s, p, sec, e, n] => (*d, *s, *p, *sec, *e, *n, ""),
        _ => {
            return Err(format!(
                "expected 7 TAB-separated fields (domain, subdomains, path, secure, expiry, name, value), found {}",
                fields.len()
            ))
        }
    };
    let domain = domain.trim();
    let domain = domain.strip_prefix('.').unwrap_or(domain);
    if domain.is_empty() || domain.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "bad cookie domain `{}`",
            crate::redact::escape_control(domain)
        ));
    }
    let include_subdomains = parse_flag(subdomains, "include-subdomains")?;
    let path = match path.trim() {
        "" => "/",
        path if path.starts_with('/') && !path.contains(char::is_control) => path,
        other => {
            return Err(format!(
                "bad cookie path `{}`",
                crate::redact::escape_control(other)
            ))
        }
    };
    let secure = parse_flag(secure, "secure")?;
    let expires = parse_expiry(expires.trim())?;
    if name.is_empty() {
        return Err("empty cookie name".to_owned());
    }
    for (what, text) in [("name", name), ("value", value)] {
        if let Some(bad) = text.chars().find(|&c| c == ';' || c.is_control()) {
            return Err(format!(
                "cookie {what} contains `{}`",
                crate::redact::escape_control(bad.encode_utf8(&mut [0; 4]))
            ));
        }
    }
    if name.contains('=') {
        return Err("cookie name contains `=`".to_owned());
    }
    Ok(Some(Cookie {
        domain: domain.to_ascii_lowercase(),
        include_subdomains,
        path: path.to_owned(),
        secure,
        http_only,
        expires,
        name: name.to_owned(),
        value: value.to_owned(),
        line: number,
    }))
}

/// `TRUE` or `FALSE`, case-insensitively (curl compares that way).
fn parse_flag(text: &str, what: &str) -> Result<bool, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("TRUE") {
        Ok(true)
    } else if text.eq_ignore_ascii_case("FALSE") {
        Ok(false)
    } else {
        Err(format!(
            "{what} flag `{}` is neither TRUE nor FALSE",
            crate::redact::escape_control(text)
        ))
    }
}

/// Seconds since 1970, 0 for a session cookie. A negative value (some
/// exporters write -1 for "session") is read as a session cookie too.
fn parse_expiry(text: &str) -> Result<Option<u64>, String> {
    let bad = || {
        format!(
            "expiry `{}` is not a number of seconds",
            crate::redact::escape_control(text)
        )
    };
    if let Some(digits) = text.strip_prefix('-') {
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        return Err(bad());
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    // A number too large for u64 is "far in the future".
    let seconds = text.parse::<u64>().unwrap_or(u64::MAX);
    Ok((seconds != 0).then_some(seconds))
}

/// The request's host as cookies compare it: a lower-cased domain without
/// a trailing dot, or an IP address as text (IPv6 without brackets).
fn request_host(url: &url::Url) -> Option<String> {
    match url.host()? {
        url::Host::Domain(domain) => {
            let domain = domain.strip_suffix('.').unwrap_or(domain);
            Some(domain.to_ascii_lowercase())
        }
        url::Host::Ipv4(ip) => Some(ip.to_string()),
        url::Host::Ipv6(ip) => Some(ip.to_string()),
    }
}

/// RFC 6265 section 5.1.3, with the file's include-subdomains flag: an
/// exact match always counts; a subdomain only when the flag says so and
/// the host is a name, not an IP address.
fn domain_matches(host: &str, cookie: &Cookie) -> bool {
    let domain = cookie.domain.strip_prefix('[').unwrap_or(&cookie.domain);
    let domain = domain.strip_suffix(']').unwrap_or(domain);
    if host == domain {
        return true;
    }
    if !cookie.include_subdomains || host.parse::<std::net::IpAddr>().is_ok() {
        return false;
    }
    host.strip_suffix(domain)
        .is_some_and(|prefix| prefix.ends_with('.'))
}

/// RFC 6265 section 5.1.4: the paths are equal, or the cookie's path is a
/// prefix of the request's that ends with `/` or is followed by `/`.
fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    let request_path = if request_path.is_empty() {
        "/"
    } else {
        request_path
    };
    match request_path.strip_prefix(cookie_path) {
        Some("") => true,
        Some(rest) => cookie_path.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn jar(text: &str) -> CookieJar {
        CookieJar::parse(text.as_bytes(), "cookies.txt").unwrap_or_else(|e| panic!("{e}"))
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn header(jar: &CookieJar, url: &str, now: u64) -> Option<String> {
        jar.header_for(&url::Url::parse(url).unwrap(), at(now))
    }

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn reads_curl_and_wget_files() {
        let text = "# Netscape HTTP Cookie File\n\
                    # https://curl.se/docs/http-cookies.html\n\
                    # This file was generated by libcurl! Edit at your own risk.\n\
                    \n\
                    .example.com\tTRUE\t/\tFALSE\t0\tsession\tabc\n\
                    #HttpOnly_www.example.com\tFALSE\t/app\tTRUE\t1800000000\ttoken\tt0k=n\r\n\
                    example.org\tFALSE\t/\tFALSE\t1800000000\tempty\n";
        let jar = jar(text);
        let cookies = jar.cookies();
        assert_eq!(cookies.len(), 3);
        assert_eq!(cookies[0].domain, "example.com");
        assert!(cookies[0].include_subdomains);
        assert_eq!(cookies[0].expires, None);
        assert_eq!(cookies[0].line, 5);
        assert!(cookies[1].http_only && cookies[1].secure);
        assert_eq!(cookies[1].domain, "www.example.com");
        assert_eq!(cookies[1].path, "/app");
        assert_eq!(cookies[1].expires, Some(1_800_000_000));
        assert_eq!(cookies[1].value, "t0k=n");
        assert_eq!(cookies[2].value, "");
        assert_eq!(cookies[2].name, "empty");
    }

    #[test]
    fn matching_rules() {
        let jar = jar(".example.com\tTRUE\t/\tFALSE\t0\tall\t1\n\
             example.com\tFALSE\t/\tFALSE\t0\texact\t2\n\
             example.com\tFALSE\t/docs\tFALSE\t0\tdocs\t3\n\
             example.com\tFALSE\t/\tTRUE\t0\tsecure\t4\n\
             example.com\tFALSE\t/\tFALSE\t1600000000\texpired\t5\n\
             example.com\tFALSE\t/\tFALSE\t1800000000\tfresh\t6\n\
             127.0.0.1\tTRUE\t/\tFALSE\t0\tip\t7\n\
             0.0.1\tTRUE\t/\tFALSE\t0\tipsuffix\t8\n\
             [::1]\tFALSE\t/\tFALSE\t0\tv6\t9\n");
        for (url, expected) in [
            ("http://example.com/", Some("all=1; exact=2; fresh=6")),
            (
                "https://example.com/",
                Some("all=1; exact=2; secure=4; fresh=6"),
            ),
            // Longer paths first.
            (
                "http://example.com/docs/a",
                Some("docs=3; all=1; exact=2; fresh=6"),
            ),
            (
                "http://example.com/docs",
                Some("docs=3; all=1; exact=2; fresh=6"),
            ),
            ("http://example.com/docsx", Some("all=1; exact=2; fresh=6")),
            // Subdomains only for the include-subdomains cookie.
            ("http://www.example.com/docs", Some("all=1")),
            ("http://a.b.EXAMPLE.com./", Some("all=1")),
            ("http://notexample.com/", None),
            ("http://example.com.evil/", None),
            ("http://com/", None),
            // IP addresses match exactly, never as a suffix.
            ("http://127.0.0.1:8080/", Some("ip=7")),
            ("http://10.0.0.1/", None),
            ("http://[::1]/", Some("v6=9")),
            // Other schemes get nothing.
            ("ftp://example.com/", None),
            ("file:///etc/passwd", None),
        ] {
            assert_eq!(header(&jar, url, NOW).as_deref(), expected, "{url}");
        }
        // Expiry is against `now`: strictly before the expiry time.
        assert_eq!(
            header(&jar, "http://example.com/", 1_600_000_000 - 1).as_deref(),
            Some("all=1; exact=2; expired=5; fresh=6")
        );
        assert_eq!(
            header(&jar, "http://example.com/", 1_800_000_000).as_deref(),
            Some("all=1; exact=2")
        );
        // A clock before 1970 does not panic.
        let before_epoch = UNIX_EPOCH - Duration::from_secs(10);
        assert!(jar
            .header_for(
                &url::Url::parse("http://example.com/").unwrap(),
                before_epoch
            )
            .is_some());
    }

    #[test]
    fn path_match_table() {
        for (request, cookie, expected) in [
            ("/", "/", true),
            ("/a", "/", true),
            ("/a", "/a", true),
            ("/a/", "/a", true),
            ("/a/b", "/a", true),
            ("/a/b", "/a/", true),
            ("/ab", "/a", false),
            ("/a", "/a/", false),
            ("/", "/a", false),
            ("", "/", true),
        ] {
            assert_eq!(
                path_matches(request, cookie),
                expected,
                "{request} {cookie}"
            );
        }
    }

    #[test]
    fn later_duplicates_replace_earlier_ones() {
        let jar = jar(
            "h\tFALSE\t/\tFALSE\t0\tn\told\nh\tFALSE\t/x\tFALSE\t0\tn\tother\nh\tFALSE\t/\tFALSE\t0\tn\tnew\n",
        );
        assert_eq!(jar.cookies().len(), 2);
        assert_eq!(header(&jar, "http://h/", NOW).as_deref(), Some("n=new"));
    }

    #[test]
    fn expiry_forms() {
        let jar = jar(
            "h\tFALSE\t/\tFALSE\t-1\ta\t1\nh\tFALSE\t/\tFALSE\t99999999999999999999999\tb\t2\n",
        );
        assert_eq!(jar.cookies()[0].expires, None);
        assert_eq!(jar.cookies()[1].expires, Some(u64::MAX));
        assert_eq!(
            header(&jar, "http://h/", u64::MAX / 2).as_deref(),
            Some("a=1; b=2")
        );
    }

    #[test]
    fn empty_path_means_root_and_flags_ignore_case() {
        let jar = jar("h\ttrue\t\tfalse\t0\tn\tv\n");
        assert_eq!(jar.cookies()[0].path, "/");
        assert!(jar.cookies()[0].include_subdomains);
    }

    #[test]
    fn bad_lines_name_the_file_and_line() {
        for (text, line, message) in [
            (
                "# ok\nh\tFALSE\t/\tFALSE\t0\n",
                2,
                "expected 7 TAB-separated fields",
            ),
            ("h FALSE / FALSE 0 n v\n", 1, "found 1"),
            ("h\tFALSE\t/\tFALSE\t0\tn\tv\textra\n", 1, "found 8"),
            (
                "h\tYES\t/\tFALSE\t0\tn\tv\n",
                1,
                "include-subdomains flag `YES`",
            ),
            ("h\tFALSE\t/\tno\t0\tn\tv\n", 1, "secure flag `no`"),
            ("h\tFALSE\t/\tFALSE\tsoon\tn\tv\n", 1, "expiry `soon`"),
            ("h\tFALSE\t/\tFALSE\t-\tn\tv\n", 1, "expiry `-`"),
            ("h\tFALSE\t/\tFALSE\t1.5\tn\tv\n", 1, "expiry `1.5`"),
            ("\tFALSE\t/\tFALSE\t0\tn\tv\n", 1, "bad cookie domain"),
            (".\tFALSE\t/\tFALSE\t0\tn\tv\n", 1, "bad cookie domain"),
            (
                "h\tFALSE\trel\tFALSE\t0\tn\tv\n",
                1,
                "bad cookie path `rel`",
            ),
            ("h\tFALSE\t/\tFALSE\t0\t\tv\n", 1, "empty cookie name"),
            (
                "h\tFALSE\t/\tFALSE\t0\tn\ta;b=c\n",
                1,
                "cookie value contains `;`",
            ),
            (
                "h\tFALSE\t/\tFALSE\t0\tn\ta\u{1b}b\n",
                1,
                "cookie value contains `\\x1b`",
            ),
            (
                "h\tFALSE\t/\tFALSE\t0\tn\ta\rb\n",
                1,
                "cookie value contains `\\r`",
            ),
            (
                "h\tFALSE\t/\tFALSE\t0\tn=x\tv\n",
                1,
                "cookie name contains `=`",
            ),
            ("#HttpOnly_\n", 1, "expected 7"),
        ] {
            let error = CookieJar::parse(text.as_bytes(), "/tmp/c.txt").unwrap_err();
            assert_eq!(error.line(), line, "{text:?}: {error}");
            assert!(error.message().contains(message), "{text:?}: {error}");
            assert_eq!(error.source(), "/tmp/c.txt");
        }
        let error = CookieJar::parse(b"h\tFALSE\t/\tFALSE\t0\tn\t\xff\n", "c").unwrap_err();
        assert_eq!(error.to_string(), "c:1: line is not valid UTF-8");
    }

    #[test]
    fn debug_hides_values() {
        let jar = jar("h\tFALSE\t/\tFALSE\t0\tsid\thunter2\n");
        let shown = format!("{jar:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("sid"), "{shown}");
    }

    fn cookie_strategy() -> impl Strategy<Value = (String, bool, String, bool, u64, String, String)>
    {
        (
            "[a-z]{1,6}(\\.[a-z]{1,4}){0,2}",
            any::<bool>(),
            "(/[a-z]{0,3}){1,3}",
            any::<bool>(),
            prop_oneof![Just(0u64), 1u64..4_000_000_000],
            "[A-Za-z0-9_-]{1,8}",
            "[!-:<-~]{0,12}",
        )
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(jar) = CookieJar::parse(&bytes, "c") {
                let _ = header(&jar, "https://a.b/c", NOW);
            }
        }

        #[test]
        fn never_panics_on_near_misses(text in "([a-z.#_]{0,4}|TRUE|FALSE|/[a-z]?|[0-9-]{0,3}|\t|\n|;){0,30}") {
            if let Ok(jar) = CookieJar::parse(text.as_bytes(), "c") {
                for url in ["http://a/", "https://a.b/c", "http://1.2.3.4/"] {
                    let _ = header(&jar, url, NOW);
                }
            }
        }

        #[test]
        fn files_round_trip(cookies in proptest::collection::vec(cookie_strategy(), 1..8)) {
            let mut text = String::from("# Netscape HTTP Cookie File\n");
            for (domain, sub, path, secure, expires, name, value) in &cookies {
                let flag = |b: bool| if b { "TRUE" } else { "FALSE" };
                let dot = if *sub { "." } else { "" };
                text.push_str(&format!("{dot}{domain}\t{}\t{path}\t{}\t{expires}\t{name}\t{value}\n", flag(*sub), flag(*secure)));
            }
            let jar = CookieJar::parse(text.as_bytes(), "c").unwrap();
            // Later duplicates replace earlier ones; compare against the last of each key.
            for parsed in jar.cookies() {
                let source = cookies.iter().rev().find(|c| c.0 == parsed.domain && c.2 == parsed.path && c.5 == parsed.name).unwrap();
                prop_assert_eq!(parsed.include_subdomains, source.1);
                prop_assert_eq!(parsed.secure, source.3);
                prop_assert_eq!(parsed.expires, (source.4 != 0).then_some(source.4));
                prop_assert_eq!(&parsed.value, &source.6);
            }
            // Each cookie is sent to its own domain and path over https,
            // when it has not expired.
            for (domain, _, path, _, expires, name, value) in &cookies {
                let url = url::Url::parse(&format!("https://{domain}{path}")).unwrap();
                let sent = jar.header_for(&url, at(NOW)).unwrap_or_default();
                let pair = format!("{name}={value}");
                let is_current = jar.cookies().iter().any(|c| &c.domain == domain && &c.path == path && &c.name == name && &c.value == value);
                if is_current && (*expires == 0 || *expires > NOW) {
                    prop_assert!(sent.split("; ").any(|p| p == pair), "{} not in {}", pair, sent);
                }
            }
        }

        #[test]
        fn subdomain_matching_agrees_with_suffix_rule(label in "[a-z]{1,5}", domain in "[a-z]{1,5}\\.[a-z]{2,3}", sub: bool) {
            let jar = jar(&format!("{domain}\t{}\t/\tFALSE\t0\tn\tv\n", if sub { "TRUE" } else { "FALSE" }));
            let exact = format!("http://{domain}/");
            let below = format!("http://{label}.{domain}/");
            let glued = format!("http://{label}{domain}/");
            prop_assert!(header(&jar, &exact, NOW).is_some());
            prop_assert_eq!(header(&jar, &below, NOW).is_some(), sub);
            prop_assert!(header(&jar, &glued, NOW).is_none());
        }
    }
}
