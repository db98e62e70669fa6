//! What each request of a redirect chain carries, and where a redirect
//! leads. Pure: no I/O, so every rule has a table test.
//!
//! Credentials and cookies belong to the origin (scheme, host and port)
//! they were given for. A request the engine asks for goes to its URL's
//! origin with everything; a redirect to another origin gets none of the
//! `Authorization`, `Cookie` and `Proxy-Authorization` headers the request
//! or the downloader carried (nor any header whose name says it holds a
//! secret: `X-Api-Key`, `X-Auth-Token`), nor the credentials of the URL, of
//! `basic_auth` or of a `.netrc` `default` entry (the cases of curl's
//! CVE-2018-1000007 and CVE-2022-27776 and wget's CVE-2021-31879). Only
//! what is given for the new host itself goes there: its own `.netrc`
//! `machine` entry and the cookies of the jar that match it.

use std::time::SystemTime;

use http::header::{HeaderMap, HeaderValue, AUTHORIZATION, COOKIE, HOST, PROXY_AUTHORIZATION};
use http::Method;
use url::Url;

use crate::cookies::CookieJar;
use crate::error::{Error, ErrorKind};
use crate::netrc::Netrc;
use crate::redact::{escape_control, redact_url, redact_url_text};
use crate::request::basic_auth_value;

/// Whether `a` and `b` have one origin: scheme, host and port (RFC 6454).
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Credentials a downloader has for every URL it is asked for.
#[derive(Clone, Default)]
pub(crate) struct Credentials {
    /// `--user USER[:PASSWORD]`: sent to every URL asked for. Without a
    /// password, the `.netrc` entry of that user gives it.
    pub basic: Option<(String, Option<String>)>,
    /// The `.netrc` file.
    pub netrc: Option<Netrc>,
}

/// What one request of a chain is built from.
pub(crate) struct Hop<'a> {
    /// The URL the engine asked for (the chain's first).
    pub asked: &'a Url,
    /// The URL this request goes to.
    pub url: &'a Url,
    /// The request's own headers.
    pub own: &'a HeaderMap,
    /// The downloader's headers, for every request (a request's own header
    /// of the same name replaces them).
    pub defaults: &'a HeaderMap,
    pub credentials: &'a Credentials,
    pub cookies: Option<&'a CookieJar>,
    pub now: SystemTime,
}

/// The headers that carry credentials or cookies, and a given `Host`
/// (the virtual host of the asked origin: at another origin the client
/// names that one's, as curl does): they go only to the origin they were
/// given for.
const ORIGIN_BOUND: [http::header::HeaderName; 4] =
    [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, HOST];

/// Words in a header's name that say it carries a secret: `X-Api-Key`,
/// `X-Auth-Token`, `Private-Token`, `X-Amz-Security-Token`,
/// `Ocp-Apim-Subscription-Key`, `X-Session-Id`, `X-JFrog-Art-Api`,
/// `X-JWT-Assertion`, `X-Bearer`, `X-Pass`, `X-Pwd`, `X-Sig`,
/// `X-Cookie`, `X-CSRF`, `X-OTP`, `X-Cred`. Such a header goes only to the
/// origin it was given for, as `Authorization` does. A name matched by
/// mistake costs a header not sent to another host; one missed would hand a
/// secret to whatever host a redirect names.
const SECRET_WORDS: [&str; 16] = [
    "auth", "token", "key", "secret", "session", "pass", "pwd", "cred", "sig", "api", "jwt",
    "bearer", "cookie", "csrf", "xsrf", "otp",
];

/// Whether the header `name` stays on the origin it was given for.
fn origin_bound(name: &http::header::HeaderName) -> bool {
    // Header names are lowercase in `http`.
    ORIGIN_BOUND.contains(name) || SECRET_WORDS.iter().any(|word| name.as_str().contains(word))
}

impl Hop<'_> {
    /// The headers of this request: the downloader's and the request's,
    /// without the origin-bound ones when it leaves the asked origin; Basic
    /// credentials when nothing set an `Authorization`; the jar's cookies.
    pub(crate) fn headers(&self) -> Result<HeaderMap, Error> {
        let home = same_origin(self.asked, self.url);
        let mut headers = HeaderMap::with_capacity(self.defaults.len() + self.own.len() + 2);
        for (name, value) in self.defaults {
            if !self.own.contains_key(name) {
                headers.append(name, value.clone());
            }
        }
        for (name, value) in self.own {
            headers.append(name, value.clone());
        }
        if !home {
            let bound: Vec<_> = headers
                .keys()
                .filter(|n| origin_bound(n))
                .cloned()
                .collect();
            for name in &bound {
                headers.remove(name);
            }
        }
        if !headers.contains_key(AUTHORIZATION) {
            if let Some((user, password)) = self.basic_credentials(home) {
                headers.insert(AUTHORIZATION, basic_auth_value(&user, &password)?);
            }
        }
        let jar = self
            .cookies
            .and_then(|jar| jar.header_for(self.url, self.now));
        if let Some(jar) = jar {
            // One Cookie header (RFC 6265 section 5.4): the given ones
            // first, then the jar's.
            let mut pairs: Vec<String> = headers
                .get_all(COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_owned)
                .collect();
            pairs.push(jar);
            let mut value = HeaderValue::from_str(&pairs.join("; ")).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidRequest("a cookie cannot be sent as a header".into()),
                    None,
                )
                .with_source(e)
            })?;
            value.set_sensitive(true);
            headers.insert(COOKIE, value);
        }
        Ok(headers)
    }

    /// The Basic credentials of this request, if any: on the asked origin
    /// those of the URL, else the downloader's, else the `.netrc` entry of
    /// the host (or its `default`); elsewhere only a `.netrc` `machine`
    /// entry naming the new host.
    fn basic_credentials(&self, home: bool) -> Option<(String, String)> {
        let host = self.url.host_str()?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let netrc = self.credentials.netrc.as_ref();
        let password_of = |user: &str| {
            netrc
                .and_then(|n| n.lookup(host, Some(user)))
                .and_then(|entry| entry.password.clone())
        };
        if !home {
            let entry = netrc?.lookup(host, None)?;
            entry.machine.as_ref()?;
            return login(entry);
        }
        let user = decode(self.asked.username());
        let password = self.asked.password().map(decode);
        if !user.is_empty() || password.is_some() {
            let password = password.or_else(|| password_of(&user)).unwrap_or_default();
            return Some((user, password));
        }
        if let Some((user, password)) = &self.credentials.basic {
            let password = password
                .clone()
                .or_else(|| password_of(user))
                .unwrap_or_default();
            return Some((user.clone(), password));
        }
        login(netrc?.lookup(host, None)?)
    }
}

/// The credentials of a `.netrc` entry, if it has any.
fn login(entry: &crate::netrc::NetrcEntry) -> Option<(String, String)> {
    if entry.login.is_none() && entry.password.is_none() {
        return None;
    }
    Some((
        entry.login.clone().unwrap_or_default(),
        entry.password.clone().unwrap_or_default(),
    ))
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// Where a redirect leads, and how the request changes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Redirect {
    /// The next URL (without a fragment).
    pub url: Url,
    /// The next method.
    pub method: Method,
    /// Whether the body is sent again (307 and 308 keep it).
    pub keep_body: bool,
}

/// The redirect an answer of `status` with `location` to a `method`
/// request for `current` asks for: `None` when it is not one to follow
/// (not 301, 302, 303, 307 or 308, or without a `Location`). A `Location`
/// that is no URL, leads to a scheme other than http and https, or from
/// https to http without `allow_insecure`, is an error that is not retried:
/// the server will answer the same again.
pub(crate) fn redirect(
    current: &Url,
    status: u16,
    location: Option<&HeaderValue>,
    method: &Method,
    allow_insecure: bool,
) -> Result<Option<Redirect>, Error> {
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return Ok(None);
    }
    let Some(location) = location else {
        return Ok(None);
    };
    // Servers send raw UTF-8 (obs-text) in Location; the URL parser
    // percent-encodes it.
    let text = String::from_utf8_lossy(location.as_bytes());
    let mut url = current.join(text.trim()).map_err(|e| {
        Error::new(
            ErrorKind::Protocol(format!(
                "redirect to an unusable Location `{}`",
                escape_control(&redact_url_text(&text))
            )),
            None,
        )
        .with_source(e)
    })?;
    url.set_fragment(None);
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::new(
            ErrorKind::Protocol(format!(
                "redirect to a `{}:` URL, which is not followed",
                escape_control(url.scheme())
            )),
            None,
        ));
    }
    if current.scheme() == "https" && url.scheme() == "http" && !allow_insecure {
        return Err(Error::new(
            ErrorKind::InsecureRedirect(redact_url(&url)),
            None,
        ));
    }
    // As browsers and curl do: 303 makes any request but HEAD a GET, and
    // 301 and 302 make a POST a GET; the body then goes.
    let becomes_get = match status {
        303 => *method != Method::HEAD,
        301 | 302 => *method == Method::POST,
        _ => false,
    };
    Ok(Some(if becomes_get {
        Redirect {
            url,
            method: Method::GET,
            keep_body: false,
        }
    } else {
        Redirect {
            url,
            method: method.clone(),
            keep_body: true,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                http::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    fn basic(user_pass: &str) -> String {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    /// The Authorization, Cookie and Proxy-Authorization of one hop.
    fn sent(
        asked: &str,
        hop: &str,
        own: &[(&str, &str)],
        credentials: &Credentials,
        jar: Option<&CookieJar>,
    ) -> [Option<String>; 3] {
        let own = map(own);
        let defaults = map(&[("X-Default", "d"), ("Cookie", "dflt=1")]);
        let headers = Hop {
            asked: &url(asked),
            url: &url(hop),
            own: &own,
            defaults: &defaults,
            credentials,
            cookies: jar,
            now: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
        }
        .headers()
        .unwrap();
        assert_eq!(headers["x-default"], "d", "other defaults always go");
        [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION]
            .map(|name| headers.get(name).map(|v| v.to_str().unwrap().to_owned()))
    }

    #[test]
    fn origins() {
        let same = |a: &str, b: &str| same_origin(&url(a), &url(b));
        assert!(same("http://h/a", "http://h:80/b?x"));
        assert!(same("https://u:p@h/a", "https://h:443/"));
        assert!(same("http://H.example/", "http://h.example/"));
        assert!(!same("http://h/", "https://h/"), "scheme");
        assert!(!same("http://h/", "http://h:8080/"), "port");
        assert!(!same("http://h/", "http://h2/"), "host");
        assert!(!same("http://127.0.0.1/", "http://localhost/"));
    }

    #[test]
    fn given_headers_stay_on_their_origin() {
        let none = Credentials::default();
        let own = [
            ("Authorization", "Bearer t0k"),
            ("Proxy-Authorization", "Basic cHg6cHc="),
        ];
        for (hop, home) in [
            ("http://h:1/next", true),
            // CVE-2018-1000007: another host.
            ("http://other:1/next", false),
            // CVE-2022-27776: the same host on another port or scheme.
            ("http://h:2/next", false),
            ("https://h:1/next", false),
        ] {
            let [auth, cookie, proxy] = sent("http://h:1/f", hop, &own, &none, None);
            if home {
                assert_eq!(auth.as_deref(), Some("Bearer t0k"), "{hop}");
                assert_eq!(cookie.as_deref(), Some("dflt=1"), "{hop}");
                assert_eq!(proxy.as_deref(), Some("Basic cHg6cHc="), "{hop}");
            } else {
                assert_eq!([auth, cookie, proxy], [None, None, None], "{hop}");
            }
        }
        // A request's own header replaces the downloader's of that name.
        let [_, cookie, _] = sent(
            "http://h/",
            "http://h/",
            &[("Cookie", "mine=2")],
            &none,
            None,
        );
        assert_eq!(cookie.as_deref(), Some("mine=2"));
    }

    #[test]
    fn headers_named_as_secrets_and_host_stay_on_their_origin() {
        let secret = [
            ("X-Api-Key", "k1"),
            ("X-Auth-Token", "t1"),
            ("PRIVATE-TOKEN", "t2"),
            ("X-Amz-Security-Token", "t3"),
            ("Ocp-Apim-Subscription-Key", "k2"),
            ("X-Session-Id", "s1"),
            ("X-Client-Secret", "s2"),
            ("X-Password", "p1"),
            ("X-JFrog-Art-Api", "a1"),
            ("X-JWT-Assertion", "j1"),
            ("X-Bearer", "b1"),
            ("X-Pass", "p2"),
            ("X-Pwd", "p3"),
            ("X-Sig", "g1"),
            ("X-Cookie", "c1"),
            ("X-CSRF", "c2"),
            ("X-XSRF-Header", "c3"),
            ("X-OTP", "o1"),
            ("X-Cred", "c4"),
            ("Host", "only-for-h.example"),
        ];
        let plain = [("Accept", "application/octet-stream"), ("X-Trace", "1")];
        let own = map(&[&secret[..], &plain[..]].concat());
        let defaults = map(&[("X-Default-Token", "d")]);
        let none = Credentials::default();
        for (hop, home) in [("http://h/next", true), ("http://cdn/next", false)] {
            let headers = Hop {
                asked: &url("http://h/f"),
                url: &url(hop),
                own: &own,
                defaults: &defaults,
                credentials: &none,
                cookies: None,
                now: SystemTime::UNIX_EPOCH,
            }
            .headers()
            .unwrap();
            for (name, value) in secret.iter().chain(&[("X-Default-Token", "d")]) {
                let sent = headers.get(*name).map(|v| v.to_str().unwrap());
                assert_eq!(sent, home.then_some(*value), "{name} to {hop}");
            }
            for (name, value) in plain {
                assert_eq!(headers[name], value, "{name} goes everywhere");
            }
        }
    }

    #[test]
    fn credentials_by_origin_and_precedence() {
        let netrc = Netrc::parse(
            b"machine h login nu password npw\n\
              machine h login urluser password fromnetrc\n\
              machine other login ou password opw\n\
              default login du password dpw\n",
            ".netrc",
        )
        .unwrap();
        let with = |basic: Option<(&str, Option<&str>)>, netrc: Option<&Netrc>| Credentials {
            basic: basic.map(|(u, p)| (u.to_owned(), p.map(str::to_owned))),
            netrc: netrc.cloned(),
        };
        let auth = |asked: &str, hop: &str, own: &[(&str, &str)], c: &Credentials| {
            sent(asked, hop, own, c, None)[0].clone()
        };
        let all = with(Some(("cli", Some("clipw"))), Some(&netrc));
        // An Authorization given as a header wins over everything.
        assert_eq!(
            auth(
                "http://u:p@h/",
                "http://h/",
                &[("Authorization", "Bearer x")],
                &all
            ),
            Some("Bearer x".into())
        );
        // Then the URL's, then --user, then the netrc.
        assert_eq!(
            auth("http://u:p%40ss@h/", "http://h/", &[], &all),
            Some(basic("u:p@ss"))
        );
        assert_eq!(
            auth("http://h/", "http://h/", &[], &all),
            Some(basic("cli:clipw"))
        );
        let netrc_only = with(None, Some(&netrc));
        assert_eq!(
            auth("http://h/", "http://h/", &[], &netrc_only),
            Some(basic("nu:npw"))
        );
        assert_eq!(
            auth("http://x/", "http://x/", &[], &netrc_only),
            Some(basic("du:dpw"))
        );
        // A user without a password: the netrc entry of that user.
        assert_eq!(
            auth("http://urluser@h/", "http://h/", &[], &netrc_only),
            Some(basic("urluser:fromnetrc"))
        );
        let user_only = with(Some(("urluser", None)), Some(&netrc));
        assert_eq!(
            auth("http://h/", "http://h/", &[], &user_only),
            Some(basic("urluser:fromnetrc"))
        );
        assert_eq!(
            auth("http://nobody@z/", "http://z/", &[], &with(None, None)),
            Some(basic("nobody:"))
        );
        // Nothing at all.
        assert_eq!(auth("http://h/", "http://h/", &[], &with(None, None)), None);
        // Away from the asked origin: only a machine entry of the new host.
        assert_eq!(
            auth("http://u:p@h/", "http://other/", &[], &all),
            Some(basic("ou:opw"))
        );
        assert_eq!(
            auth("http://u:p@h/", "http://third/", &[], &all),
            None,
            "no default elsewhere"
        );
        assert_eq!(
            auth("http://u:p@h/", "http://h:8080/", &[], &all),
            Some(basic("nu:npw"))
        );
        assert_eq!(
            auth(
                "http://u:p@h/",
                "http://third/",
                &[],
                &with(Some(("a", Some("b"))), None)
            ),
            None
        );
        // Back on the asked origin later in the chain: its credentials again.
        assert_eq!(
            auth("http://u:p@h/a", "http://h/b", &[], &all),
            Some(basic("u:p"))
        );
    }

    #[test]
    fn cookies_from_a_jar_follow_its_rules_and_join_given_ones() {
        let jar = CookieJar::parse(
            b"h\tFALSE\t/\tFALSE\t0\tsid\tabc\n\
              h\tFALSE\t/\tTRUE\t0\tsecure\tonly-https\n\
              other\tFALSE\t/\tFALSE\t0\tother\t1\n",
            "jar",
        )
        .unwrap();
        let none = Credentials::default();
        let cookie = |asked: &str, hop: &str, own: &[(&str, &str)]| {
            sent(asked, hop, own, &none, Some(&jar))[1].clone()
        };
        assert_eq!(
            cookie("http://h/", "http://h/", &[]),
            Some("dflt=1; sid=abc".into())
        );
        assert_eq!(
            cookie("https://h/", "https://h/", &[("Cookie", "a=1")]),
            Some("a=1; sid=abc; secure=only-https".into())
        );
        // On another origin: the given ones are gone, the jar decides.
        assert_eq!(
            cookie("http://h/", "http://other/", &[("Cookie", "a=1")]),
            Some("other=1".into())
        );
        assert_eq!(cookie("http://h/", "http://third/", &[]), None);
    }

    #[test]
    fn redirects() {
        let current = url("https://h/dir/f?q=1");
        let location = |text: &str| HeaderValue::from_bytes(text.as_bytes()).unwrap();
        let follow = |status: u16, to: &str, method: Method| {
            redirect(&current, status, Some(&location(to)), &method, false)
        };
        let next = follow(302, "../g#frag", Method::GET).unwrap().unwrap();
        assert_eq!(next.url.as_str(), "https://h/g");
        assert_eq!((next.method, next.keep_body), (Method::GET, true));
        for (status, method, expected, keep) in [
            (301, Method::POST, Method::GET, false),
            (302, Method::POST, Method::GET, false),
            (303, Method::POST, Method::GET, false),
            (303, Method::PUT, Method::GET, false),
            (303, Method::HEAD, Method::HEAD, true),
            (302, Method::HEAD, Method::HEAD, true),
            (307, Method::POST, Method::POST, true),
            (308, Method::PUT, Method::PUT, true),
        ] {
            let next = follow(status, "/x", method.clone()).unwrap().unwrap();
            assert_eq!(
                (next.method, next.keep_body),
                (expected, keep),
                "{status} {method}"
            );
        }
        // Not a redirect to follow.
        for status in [200, 300, 304, 305, 404] {
            assert_eq!(follow(status, "/x", Method::GET).unwrap(), None, "{status}");
        }
        assert_eq!(
            redirect(&current, 302, None, &Method::GET, false).unwrap(),
            None
        );
        // Raw UTF-8 and C1 controls are percent-encoded, not passed on.
        let raw = HeaderValue::from_bytes("/\u{9b}2J\u{202e}".as_bytes()).unwrap();
        let next = redirect(&current, 302, Some(&raw), &Method::GET, false)
            .unwrap()
            .unwrap();
        assert_eq!(next.url.path(), "/%C2%9B2J%E2%80%AE");
        // Refused, and not retryable.
        let refused = |status: u16, to: &str, allow: bool| {
            redirect(&current, status, Some(&location(to)), &Method::GET, allow).unwrap_err()
        };
        let bad = refused(302, "http://[::1", false);
        assert!(
            bad.to_string().contains("unusable Location `http://[::1`"),
            "{bad}"
        );
        assert!(!bad.is_retryable());
        let ftp = refused(302, "ftp://h/f", false);
        assert!(ftp.to_string().contains("`ftp:`"), "{ftp}");
        let down = refused(301, "http://u:pw@h/plain", false);
        assert!(
            matches!(down.kind(), ErrorKind::InsecureRedirect(to) if to == "http://u:***@h/plain")
        );
        assert!(!down.is_retryable());
        let allowed = follow(301, "http://h/plain", Method::GET);
        assert!(allowed.is_err());
        let allowed = redirect(
            &current,
            301,
            Some(&location("http://h/plain")),
            &Method::GET,
            true,
        );
        assert_eq!(allowed.unwrap().unwrap().url.as_str(), "http://h/plain");
        // http to https is an upgrade, always followed.
        let plain = url("http://h/");
        let up = redirect(
            &plain,
            302,
            Some(&location("https://h/")),
            &Method::GET,
            false,
        );
        assert!(up.unwrap().is_some());
    }
}
