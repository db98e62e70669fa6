//! Which proxy a request goes through, decided as curl decides it, without
//! touching the process environment: the caller passes a lookup function
//! (the real environment in the CLI, a table in tests).
//!
//! The rules, in order:
//! 1. URLs that need no network (`file://`) never use a proxy.
//! 2. The no-proxy list is `--noproxy` when given (even empty, which
//!    turns the environment's list off), else `no_proxy`, else `NO_PROXY`.
//!    A host on the list uses no proxy, whatever else is set, an explicit
//!    `--proxy` included.
//! 3. An explicit `--proxy` is used as given; an empty one means no proxy.
//! 4. Otherwise the environment: `http_proxy` for http URLs (lowercase
//!    only: a CGI server sets `HTTP_PROXY` from a request's `Proxy:`
//!    header, the "httpoxy" attack), `https_proxy` then `HTTPS_PROXY` for
//!    https (and `SCHEME_proxy` then `SCHEME_PROXY` for any other scheme),
//!    then `all_proxy`, then `ALL_PROXY`.
//!
//! As in curl, a variable set to the empty string counts as unset, so
//! `no_proxy=` does not hide `NO_PROXY`.
//!
//! The no-proxy list is separated by commas or whitespace. An entry is `*`
//! (alone: every host), a host name (matching itself and its subdomains;
//! leading and trailing dots ignored, case ignored), an IP address or a
//! CIDR range (`10.0.0.0/8`, `fe80::/10`; IPv6 without brackets), each
//! optionally with `:PORT` (IPv6 then in brackets, `[::1]:8080`), which
//! limits the entry to that port. curl compares host names only, so
//! `example.com` matches `example.com:8080` as well; the port form is
//! parget's addition (Go's and Python's readers have it too).
//!
//! A proxy is `[SCHEME://][USER[:PASSWORD]@]HOST[:PORT]`: schemes `http`
//! (the default when none is given), `https`, `socks5` (names resolved
//! locally) and `socks5h` (names resolved by the proxy); the default port
//! is 1080, or 443 for `https`, as curl documents. Credentials are
//! percent-decoded.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::redact::redact_url_text;

/// The environment variables a proxy decision reads, all of them: a
/// downloader reads them once, when it is built, and a caller that
/// caches downloaders keys them by these (the Python package does).
/// `HTTP_PROXY` is not one of them (httpoxy, above).
pub const ENVIRONMENT_VARIABLES: [&str; 7] = [
    "http_proxy",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// The kind of proxy, from its URL's scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    /// `http://`: plain HTTP to the proxy, `CONNECT` for https URLs.
    Http,
    /// `https://`: TLS to the proxy itself.
    Https,
    /// `socks5://`: SOCKS5, host names resolved locally.
    Socks5,
    /// `socks5h://`: SOCKS5, host names resolved by the proxy (remote DNS).
    Socks5h,
}

impl ProxyKind {
    /// The URL scheme.
    pub fn scheme(self) -> &'static str {
        match self {
            ProxyKind::Http => "http",
            ProxyKind::Https => "https",
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
        }
    }
}

/// A proxy to use.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// What kind of proxy it is.
    pub kind: ProxyKind,
    /// Its host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The user name, percent-decoded, when the proxy URL had one.
    pub username: Option<String>,
    /// The password, percent-decoded, when the proxy URL had one.
    pub password: Option<String>,
    /// Where the setting came from: [`EXPLICIT`] or the variable's name.
    pub source: String,
}

impl Proxy {
    /// The proxy's URL without credentials: `scheme://host:port`, the port
    /// always written (the scheme's default port is not the proxy's).
    pub fn url(&self) -> String {
        if self.host.contains(':') {
            format!("{}://[{}]:{}", self.kind.scheme(), self.host, self.port)
        } else {
            format!("{}://{}:{}", self.kind.scheme(), self.host, self.port)
        }
    }
}

impl std::fmt::Debug for Proxy {
    /// The password is never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("source", &self.source)
            .finish()
    }
}

/// A proxy setting that cannot be used, naming where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyError {
    source: String,
    value: String,
    reason: String,
}

impl ProxyError {
    /// `--proxy`, or the name of the environment variable.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl std::fmt::Display for ProxyError {
    /// `bad proxy in SOURCE (`VALUE`): REASON`, the value's password
    /// redacted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bad proxy in {} (`{}`): {}",
            self.source,
            crate::redact::escape_control(&redact_url_text(&self.value)),
            self.reason
        )
    }
}

impl std::error::Error for ProxyError {}

/// The explicit settings: curl's `--proxy` and `--noproxy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyOptions<'a> {
    /// The explicit proxy (`DownloaderBuilder::proxy`, the CLI's
    /// `--proxy`); `Some("")` means no proxy, overriding the environment.
    pub proxy: Option<&'a str>,
    /// The hosts reached directly (`DownloaderBuilder::no_proxy`, the
    /// CLI's `--noproxy`); `Some("")` turns the environment's list off.
    pub noproxy: Option<&'a str>,
}

/// How errors name the explicit proxy setting ([`ProxyOptions::proxy`]:
/// the downloader builder's, Python's `proxy=`, the CLI's `--proxy`).
pub const EXPLICIT: &str = "the proxy setting";

/// The proxy for `url`, or `None` for a direct connection.
///
/// `env` looks up an environment variable (`|name| std::env::var(name).ok()`
/// in a program). Errors name the setting that holds an unusable proxy.
pub fn proxy_for(
    url: &url::Url,
    options: ProxyOptions<'_>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>, ProxyError> {
    let scheme = url.scheme();
    if scheme == "file" {
        return Ok(None);
    }
    let get = |name: &str| env(name).filter(|value| !value.is_empty());
    let noproxy = match options.noproxy {
        Some(list) => Some(list.to_owned()),
        None => get("no_proxy").or_else(|| get("NO_PROXY")),
    };
    if let Some(list) = noproxy {
        if bypasses(&list, url) {
            return Ok(None);
        }
    }
    if let Some(explicit) = options.proxy {
        if explicit.is_empty() {
            return Ok(None);
        }
        return parse_proxy(explicit, EXPLICIT).map(Some);
    }
    let own = format!("{scheme}_proxy");
    let mut names = vec![own.clone()];
    // Never HTTP_PROXY: see the module docs (httpoxy).
    if scheme != "http" {
        names.push(own.to_ascii_uppercase());
    }
    names.extend(["all_proxy".to_owned(), "ALL_PROXY".to_owned()]);
    for name in names {
        if let Some(value) = get(&name) {
            return parse_proxy(&value, &name).map(Some);
        }
    }
    Ok(None)
}

/// Parses a proxy setting; `source` names it in errors.
pub fn parse_proxy(value: &str, source: &str) -> Result<Proxy, ProxyError> {
    let error = |reason: &str| ProxyError {
        source: source.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let text = value.trim();
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => ("http".to_owned(), text),
    };
    let kind = match scheme.as_str() {
        "http" => ProxyKind::Http,
        "https" => ProxyKind::Https,
        "socks5" => ProxyKind::Socks5,
        "socks5h" => ProxyKind::Socks5h,
        _ => {
            return Err(error(
                "unsupported scheme (use http://, https://, socks5:// or socks5h://)",
            ))
        }
    };
    // The authority as written, to tell an explicit port from a default
    // one: the url crate forgets `:80` on an http URL, and the default
    // port of a proxy is not the scheme's.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_end).unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let explicit_port = match host_port.rfind(':') {
        Some(colon) if !host_port.get(colon..).unwrap_or("").contains(']') => {
            Some(host_port.get(colon + 1..).unwrap_or(""))
        }
        _ => None,
    };
    let port = match explicit_port {
        Some(digits) if !digits.is_empty() => digits
            .parse::<u16>()
            .map_err(|_| error("the port is not a number from 0 to 65535"))?,
        _ if kind == ProxyKind::Https => 443,
        _ => 1080,
    };
    // Parse as http so that any of the schemes gets the same, full
    // authority parsing (the url crate treats `socks5:` as opaque).
    let parsed = url::Url::parse(&format!("http://{authority}"))
        .map_err(|e| error(&format!("not a valid proxy address ({e})")))?;
    let host = match parsed.host() {
        Some(url::Host::Domain(domain)) if !domain.is_empty() => domain.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err(error("no host name")),
    };
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    let username = Some(parsed.username())
        .filter(|u| !u.is_empty())
        .map(decode);
    let password = parsed.password().map(decode);
    Ok(Proxy {
        kind,
        host,
        port,
        username,
        password,
        source: source.to_owned(),
    })
}

/// Whether `url`'s host is on the no-proxy `list`.
pub fn bypasses(list: &str, url: &url::Url) -> bool {
    let Some(host) = url.host() else {
        return false;
    };
    let port = url.port_or_known_default();
    if list.trim() == "*" {
        return true;
    }
    let host = match host {
        url::Host::Domain(name) => Target::Name(name.trim_end_matches('.').to_ascii_lowercase()),
        url::Host::Ipv4(ip) => Target::Ip(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Target::Ip(IpAddr::V6(ip)),
    };
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|entry| !entry.is_empty())
        .any(|entry| entry_matches(entry, &host, port))
}

/// A request's host, as no-proxy entries compare it.
enum Target {
    Name(String),
    Ip(IpAddr),
}

/// One no-proxy entry against the host and port.
fn entry_matches(entry: &str, host: &Target, port: Option<u16>) -> bool {
    let (pattern, entry_port) = split_entry_port(entry);
    if let Some(entry_port) = entry_port {
        if port != Some(entry_port) {
            return false;
        }
    }
    match host {
        Target::Name(name) => {
            let pattern = pattern.trim_end_matches('.');
            let pattern = pattern.strip_prefix('.').unwrap_or(pattern);
            if pattern.is_empty() {
                return false;
            }
            let pattern = pattern.to_ascii_lowercase();
            name == &pattern
                || name
                    .strip_suffix(pattern.as_str())
                    .is_some_and(|prefix| prefix.ends_with('.'))
        }
        Target::Ip(ip) => ip_matches(pattern, *ip),
    }
}

/// Splits `host:port`, `[v6]:port`, `[v6]`; a bare IPv6 address (several
/// colons, no brackets) has no port.
fn split_entry_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(inner) = entry.strip_prefix('[') {
        return match inner.split_once(']') {
            Some((address, "")) => (address, None),
            Some((address, rest)) => match rest.strip_prefix(':').and_then(|p| p.parse().ok()) {
                Some(port) => (address, Some(port)),
                // An unreadable port: an entry that matches nothing.
                None => ("", None),
            },
            None => ("", None),
        };
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => ("", None),
        },
        _ => (entry, None),
    }
}

/// An IP address or CIDR range (`ADDRESS/BITS`) against `ip`. An IPv4
/// entry matches an IPv4-mapped IPv6 address too.
fn ip_matches(pattern: &str, ip: IpAddr) -> bool {
    let (address, bits) = match pattern.split_once('/') {
        Some((address, bits)) => match bits.parse::<u8>() {
            Ok(bits) => (address, Some(bits)),
            Err(_) => return false,
        },
        None => (pattern, None),
    };
    let Ok(network) = address.parse::<IpAddr>() else {
        return false;
    };
    let ip = match (network, ip) {
        (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => return false,
        },
        _ => ip,
    };
    match (network, ip) {
        (IpAddr::V4(network), IpAddr::V4(ip)) => prefix_matches_v4(network, ip, bits.unwrap_or(32)),
        (IpAddr::V6(network), IpAddr::V6(ip)) => {
            prefix_matches_v6(network, ip, bits.unwrap_or(128))
        }
        _ => false,
    }
}

fn prefix_matches_v4(network: Ipv4Addr, ip: Ipv4Addr, bits: u8) -> bool {
    if bits > 32 {
        return false;
    }
    let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
    u32::from(network) & mask == u32::from(ip) & mask
}

fn prefix_matches_v6(network: Ipv6Addr, ip: Ipv6Addr, bits: u8) -> bool {
    if bits > 128 {
        return false;
    }
    let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
    u128::from(network) & mask == u128::from(ip) & mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).unwrap()
    }

    /// The decision for `target` with the environment `env` and explicit
    /// options, as the proxy's URL (or "direct").
    fn decide(
        target: &str,
        proxy: Option<&str>,
        noproxy: Option<&str>,
        env: &[(&str, &str)],
    ) -> String {
        let lookup = |name: &str| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        };
        match proxy_for(&url(target), ProxyOptions { proxy, noproxy }, lookup) {
            Ok(Some(proxy)) => format!("{} ({})", proxy.url(), proxy.source),
            Ok(None) => "direct".to_owned(),
            Err(error) => format!("error: {error}"),
        }
    }

    /// A decision-table row: the URL, `--proxy`, `--noproxy`, the
    /// environment, and the decision.
    type Row<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Vec<(&'a str, String)>,
        String,
    );

    /// Every rule of the module docs, one row each.
    #[test]
    fn decision_table() {
        let p = |host: &str| format!("http://{host}:3128");
        let rows: Vec<Row> = vec![
            // Nothing set: direct.
            ("http://h/", None, None, vec![], "direct".into()),
            // http: lowercase http_proxy only (httpoxy).
            ("http://h/", None, None, vec![("http_proxy", p("lower"))], "http://lower:3128 (http_proxy)".into()),
            ("http://h/", None, None, vec![("HTTP_PROXY", p("upper"))], "direct".into()),
            ("http://h/", None, None, vec![("HTTP_PROXY", p("upper")), ("ALL_PROXY", p("all"))], "http://all:3128 (ALL_PROXY)".into()),
            // https: lowercase first, then uppercase.
            ("https://h/", None, None, vec![("HTTPS_PROXY", p("upper"))], "http://upper:3128 (HTTPS_PROXY)".into()),
            ("https://h/", None, None, vec![("https_proxy", p("lower")), ("HTTPS_PROXY", p("upper"))], "http://lower:3128 (https_proxy)".into()),
            ("https://h/", None, None, vec![("http_proxy", p("wrong"))], "direct".into()),
            ("http://h/", None, None, vec![("https_proxy", p("wrong"))], "direct".into()),
            // Other schemes: SCHEME_proxy, SCHEME_PROXY.
            ("ftp://h/", None, None, vec![("FTP_PROXY", p("ftp"))], "http://ftp:3128 (FTP_PROXY)".into()),
            ("ftp://h/", None, None, vec![("ftp_proxy", p("ftp"))], "http://ftp:3128 (ftp_proxy)".into()),
            // all_proxy, then ALL_PROXY, after the scheme's own.
            ("https://h/", None, None, vec![("all_proxy", p("all")), ("ALL_PROXY", p("upperall"))], "http://all:3128 (all_proxy)".into()),
            ("https://h/", None, None, vec![("ALL_PROXY", p("upperall"))], "http://upperall:3128 (ALL_PROXY)".into()),
            ("https://h/", None, None, vec![("https_proxy", p("s")), ("all_proxy", p("all"))], "http://s:3128 (https_proxy)".into()),
            // Empty values count as unset.
            ("https://h/", None, None, vec![("https_proxy", String::new()), ("HTTPS_PROXY", p("upper"))], "http://upper:3128 (HTTPS_PROXY)".into()),
            // file:// never uses a proxy.
            ("file:///etc/hosts", Some("http://x:1"), None, vec![("all_proxy", p("all"))], "direct".into()),
            // An explicit --proxy beats the environment; empty means none.
            ("http://h/", Some("explicit:8080"), None, vec![("http_proxy", p("env"))], "http://explicit:8080 (the proxy setting)".into()),
            ("http://h/", Some(""), None, vec![("http_proxy", p("env"))], "direct".into()),
            // NO_PROXY, lowercase winning; it applies to --proxy too.
            ("http://h/", None, None, vec![("http_proxy", p("env")), ("NO_PROXY", "h".into())], "direct".into()),
            ("http://h/", None, None, vec![("http_proxy", p("env")), ("no_proxy", "other".into()), ("NO_PROXY", "h".into())], "http://env:3128 (http_proxy)".into()),
            ("http://h/", None, None, vec![("http_proxy", p("env")), ("no_proxy", String::new()), ("NO_PROXY", "h".into())], "direct".into()),
            ("http://h/", Some("explicit:8080"), None, vec![("NO_PROXY", "h".into())], "direct".into()),
            // --noproxy replaces NO_PROXY; empty turns it off.
            ("http://h/", None, Some("other"), vec![("http_proxy", p("env")), ("NO_PROXY", "h".into())], "http://env:3128 (http_proxy)".into()),
            ("http://h/", None, Some(""), vec![("http_proxy", p("env")), ("no_proxy", "*".into())], "http://env:3128 (http_proxy)".into()),
            ("http://h/", None, Some("h"), vec![("http_proxy", p("env"))], "direct".into()),
            ("http://h/", None, Some("*"), vec![("http_proxy", p("env"))], "direct".into()),
            // Scheme-less proxies are http; default ports per curl.
            ("http://h/", Some("proxy"), None, vec![], "http://proxy:1080 (the proxy setting)".into()),
            ("http://h/", Some("http://proxy:80"), None, vec![], "http://proxy:80 (the proxy setting)".into()),
            ("http://h/", Some("https://proxy"), None, vec![], "https://proxy:443 (the proxy setting)".into()),
            ("http://h/", Some("socks5://proxy"), None, vec![], "socks5://proxy:1080 (the proxy setting)".into()),
            ("http://h/", Some("SOCKS5H://proxy:9050"), None, vec![], "socks5h://proxy:9050 (the proxy setting)".into()),
            ("http://h/", Some("http://[::1]:3128/"), None, vec![], "http://[::1]:3128 (the proxy setting)".into()),
            // Unusable settings are errors naming their source, password hidden.
            ("http://h/", Some("socks4://proxy"), None, vec![], "error: bad proxy in the proxy setting (`socks4://proxy`): unsupported scheme (use http://, https://, socks5:// or socks5h://)".into()),
            ("http://h/", None, None, vec![("http_proxy", "http://u:secret@proxy:99999".into())], "error: bad proxy in http_proxy (`http://u:***@proxy:99999`): the port is not a number from 0 to 65535".into()),
            ("https://h/", None, None, vec![("HTTPS_PROXY", "http://".into())], "error: bad proxy in HTTPS_PROXY (`http://`): not a valid proxy address (empty host)".into()),
        ];
        for (target, proxy, noproxy, env, expected) in rows {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            assert_eq!(
                decide(target, proxy, noproxy, &env),
                expected,
                "{target} --proxy {proxy:?} --noproxy {noproxy:?} env {env:?}"
            );
        }
    }

    #[test]
    fn credentials_are_decoded_and_hidden() {
        let proxy = parse_proxy("http://us%40er:p%3Ass@proxy:3128", "--proxy").unwrap();
        assert_eq!(proxy.username.as_deref(), Some("us@er"));
        assert_eq!(proxy.password.as_deref(), Some("p:ss"));
        assert_eq!(proxy.url(), "http://proxy:3128");
        assert!(!format!("{proxy:?}").contains("p:ss"));
        let proxy = parse_proxy("user@proxy", "--proxy").unwrap();
        assert_eq!(proxy.username.as_deref(), Some("user"));
        assert_eq!(proxy.password, None);
        let proxy = parse_proxy("socks5h://u:pw@127.0.0.1", "ALL_PROXY").unwrap();
        assert_eq!(
            (proxy.kind, proxy.host.as_str(), proxy.port),
            (ProxyKind::Socks5h, "127.0.0.1", 1080)
        );
        assert_eq!(proxy.password.as_deref(), Some("pw"));
    }

    #[test]
    fn no_proxy_entries() {
        for (list, target, expected) in [
            ("*", "http://anything/", true),
            (" * ", "http://anything/", true),
            ("*.example.com", "http://www.example.com/", false),
            ("example.com", "http://example.com/", true),
            ("example.com", "http://www.example.com/", true),
            ("example.com", "http://a.b.example.com:8080/", true),
            ("example.com", "http://notexample.com/", false),
            ("example.com", "http://example.com.org/", false),
            (".example.com", "http://example.com/", true),
            (".example.com", "http://www.example.com/", true),
            ("example.com.", "http://www.example.com/", true),
            ("EXAMPLE.com", "http://example.COM./", true),
            ("a, b ,example.com", "http://example.com/", true),
            ("a b\texample.com", "http://example.com/", true),
            ("a,,b", "http://c/", false),
            (",", "http://c/", false),
            (".", "http://c/", false),
            // Ports limit an entry to that port.
            ("example.com:8080", "http://example.com:8080/", true),
            ("example.com:8080", "http://example.com/", false),
            ("example.com:80", "http://example.com/", true),
            ("example.com:443", "https://www.example.com/", true),
            ("example.com:x", "http://example.com/", false),
            // IP addresses and CIDR ranges.
            ("127.0.0.1", "http://127.0.0.1:9000/", true),
            ("127.0.0.1", "http://127.0.0.2/", false),
            ("10.0.0.0/8", "http://10.20.30.40/", true),
            ("10.0.0.0/8", "http://11.0.0.1/", false),
            ("192.168.1.7/32", "http://192.168.1.7/", true),
            ("0.0.0.0/0", "http://8.8.8.8/", true),
            ("10.0.0.0/33", "http://10.0.0.1/", false),
            ("10.0.0.0/x", "http://10.0.0.1/", false),
            ("127.0.0.1:8080", "http://127.0.0.1:8080/", true),
            ("127.0.0.1:8080", "http://127.0.0.1:8081/", false),
            ("::1", "http://[::1]/", true),
            ("[::1]", "http://[::1]/", true),
            ("[::1]:8080", "http://[::1]:8080/", true),
            ("[::1]:8080", "http://[::1]:80/", false),
            ("fe80::/10", "http://[fe80::1]/", true),
            ("fe80::/10", "http://[fec0::1]/", false),
            ("::/0", "http://[2001:db8::1]/", true),
            ("::/129", "http://[::1]/", false),
            ("10.0.0.0/8", "http://[::ffff:10.1.2.3]/", true),
            // A name entry never matches an address, and the reverse.
            ("localhost", "http://127.0.0.1/", false),
            ("127.0.0.1", "http://localhost/", false),
            ("0.0.1", "http://127.0.0.1/", false),
            // Junk matches nothing.
            ("[::1", "http://[::1]/", false),
            ("[::1]x", "http://[::1]/", false),
        ] {
            assert_eq!(
                bypasses(list, &url(target)),
                expected,
                "{list:?} vs {target}"
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics(proxy in "\\PC{0,30}|[a-z:/@\\[\\]0-9.%]{0,30}", list in "\\PC{0,30}|[a-z:/,. \\[\\]0-9*]{0,30}", target in "(http|https|ftp|file)://[a-z0-9.]{1,10}(:[0-9]{1,5})?/") {
            if let Ok(target) = url::Url::parse(&target) {
                let _ = proxy_for(&target, ProxyOptions { proxy: Some(&proxy), noproxy: Some(&list) }, |_| None);
                let _ = proxy_for(&target, ProxyOptions::default(), |_| Some(proxy.clone()));
                let _ = bypasses(&list, &target);
            }
        }

        #[test]
        fn proxies_round_trip(
            kind in prop_oneof![Just(ProxyKind::Http), Just(ProxyKind::Https), Just(ProxyKind::Socks5), Just(ProxyKind::Socks5h)],
            host in "[a-z][a-z0-9-]{0,8}(\\.[a-z]{2,4})?",
            port: u16,
        ) {
            let proxy = parse_proxy(&format!("{}://{host}:{port}", kind.scheme()), "--proxy").unwrap();
            prop_assert_eq!(proxy.kind, kind);
            prop_assert_eq!(&proxy.host, &host);
            prop_assert_eq!(proxy.port, port);
            prop_assert_eq!(parse_proxy(&proxy.url(), "--proxy").unwrap(), proxy);
        }

        #[test]
        fn cidr_agrees_with_masking(network: u32, ip: u32, bits in 0u8..=32) {
            let list = format!("{}/{bits}", Ipv4Addr::from(network));
            let target = url::Url::parse(&format!("http://{}/", Ipv4Addr::from(ip))).unwrap();
            let shift = 32 - u32::from(bits);
            let expected = bits == 0 || (network >> shift) == (ip >> shift);
            prop_assert_eq!(bypasses(&list, &target), expected);
        }

        #[test]
        fn domain_entries_match_subdomains(label in "[a-z]{1,6}", domain in "[a-z]{1,6}\\.[a-z]{2,3}") {
            let sub = url::Url::parse(&format!("http://{label}.{domain}/")).unwrap();
            let glued = url::Url::parse(&format!("http://{label}{domain}/")).unwrap();
            let dotted = format!(".{domain}");
            prop_assert!(bypasses(&domain, &sub));
            prop_assert!(bypasses(&dotted, &sub));
            prop_assert!(!bypasses(&domain, &glued));
        }
    }
}
