//! The reqwest clients the HTTP transport sends with, built lazily from
//! the downloader's settings, and the proxy each request goes through.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use url::Url;

use super::direct::DirectClient;
use crate::error::{Error, ErrorKind};
use crate::proxy::{parse_proxy, proxy_for, Proxy, ProxyError, ProxyKind, ProxyOptions};

/// Which client a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientKind {
    /// `http://`: no TLS, so no root certificates to load (unless a proxy
    /// is reached over TLS).
    Plain,
    /// `https://`, HTTP/2 where the server offers it.
    Tls,
    /// `https://` limited to HTTP/1.1, for segments: HTTP/2 would multiplex
    /// every segment onto one TCP connection, which defeats their point.
    TlsHttp1,
}

/// The proxy settings, decided per request as [`crate::proxy`] says:
/// reqwest's own reading of the environment is turned off, so this is the
/// only decision.
#[derive(Clone, Default)]
pub(crate) struct ProxyRoute {
    /// `--proxy`: `Some("")` means none.
    pub explicit: Option<String>,
    /// `--noproxy`.
    pub noproxy: Option<String>,
    /// The proxy variables of the environment, read once when the
    /// downloader was built.
    pub env: Vec<(String, String)>,
}

impl ProxyRoute {
    /// Reads the proxy variables of the process's environment.
    pub(crate) fn read_env() -> Vec<(String, String)> {
        crate::proxy::ENVIRONMENT_VARIABLES
            .iter()
            .filter_map(|&name| Some((name.to_owned(), std::env::var(name).ok()?)))
            .collect()
    }

    /// Checks the explicit proxy, so a bad one is an error of the
    /// builder rather than of every download.
    pub(crate) fn check(&self) -> Result<(), Error> {
        match self.explicit.as_deref() {
            Some(proxy) if !proxy.is_empty() => parse_proxy(proxy, crate::proxy::EXPLICIT)
                .map(drop)
                .map_err(proxy_error),
            _ => Ok(()),
        }
    }

    /// The proxy for `url`, or `None` to connect directly.
    pub(crate) fn decide(&self, url: &Url) -> Result<Option<Proxy>, ProxyError> {
        let options = ProxyOptions {
            proxy: self.explicit.as_deref(),
            noproxy: self.noproxy.as_deref(),
        };
        proxy_for(url, options, |name| {
            self.env
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        })
    }

    /// True when no request can go through a proxy: reqwest is then given
    /// none, which spares a decision per request.
    pub(crate) fn is_direct(&self) -> bool {
        match self.explicit.as_deref() {
            Some(explicit) => explicit.is_empty(),
            None => !self
                .env
                .iter()
                .any(|(name, value)| !name.eq_ignore_ascii_case("no_proxy") && !value.is_empty()),
        }
    }

    /// True when some proxy is reached over TLS (`https://`): then even
    /// the plain client needs root certificates.
    fn may_use_tls(&self) -> bool {
        let https = |value: &str| value.trim().to_ascii_lowercase().starts_with("https://");
        match self.explicit.as_deref() {
            Some(explicit) => https(explicit),
            None => self.env.iter().any(|(_, value)| https(value)),
        }
    }

    /// The proxy as reqwest takes it: a URL with the credentials in it.
    fn reqwest_proxy(route: Arc<ProxyRoute>) -> reqwest::Proxy {
        reqwest::Proxy::custom(move |url| {
            // An unusable setting was refused before the request was sent
            // (see `HttpTransport::send_hop`); `None` here is unreachable.
            route
                .decide(url)
                .ok()
                .flatten()
                .map(|proxy| proxy_url(&proxy))
        })
    }
}

/// A proxy error as an engine error.
pub(crate) fn proxy_error(error: ProxyError) -> Error {
    Error::new(ErrorKind::Proxy(error.to_string()), None)
}

/// `scheme://user:password@host:port`, the credentials percent-encoded.
fn proxy_url(proxy: &Proxy) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let userinfo = match (&proxy.username, &proxy.password) {
        (None, None) => String::new(),
        (user, password) => format!(
            "{}:{}@",
            utf8_percent_encode(user.as_deref().unwrap_or(""), NON_ALPHANUMERIC),
            utf8_percent_encode(password.as_deref().unwrap_or(""), NON_ALPHANUMERIC)
        ),
    };
    let host = if proxy.host.contains(':') {
        format!("[{}]", proxy.host)
    } else {
        proxy.host.clone()
    };
    let scheme = match proxy.kind {
        ProxyKind::Http => "http",
        ProxyKind::Https => "https",
        ProxyKind::Socks5 => "socks5",
        ProxyKind::Socks5h => "socks5h",
    };
    format!("{scheme}://{userinfo}{host}:{}", proxy.port)
}

/// What the engine's own clients are built from.
#[derive(Clone)]
pub(crate) struct ClientSettings {
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// Idle connections kept per host for reuse.
    pub idle_per_host: usize,
    /// PEM certificates (or bundles) trusted besides the system's roots.
    pub root_certificates: Vec<Vec<u8>>,
    /// The client certificate and its key, PEM, for mutual TLS.
    pub identity: Option<Vec<u8>>,
    pub insecure: bool,
    pub proxy: Arc<ProxyRoute>,
}

type ClientFactory = Box<dyn Fn(ClientKind) -> Result<reqwest::Client, Error> + Send + Sync>;

/// What the factory keeps between the clients it builds: the roots are
/// loaded once (about 12 ms of CPU for a system store), whichever client
/// needs them first.
struct Prepared {
    settings: ClientSettings,
    extra_roots: Vec<reqwest::Certificate>,
    identity: Option<reqwest::Identity>,
    roots: OnceLock<Result<Vec<reqwest::Certificate>, String>>,
}

impl Prepared {
    fn roots(&self) -> Result<&[reqwest::Certificate], Error> {
        let roots = self.roots.get_or_init(|| {
            let mut roots = super::roots::system_roots().map_err(|e| format!("{e:#}"))?;
            roots.extend(self.extra_roots.iter().cloned());
            Ok(roots)
        });
        roots
            .as_deref()
            .map_err(|why| Error::new(ErrorKind::InvalidRequest(why.clone()), None))
    }

    /// Builds the client of `kind`. None may decompress bodies (the bytes
    /// on disk must be the bytes served) nor set a whole-request timeout
    /// (it would kill large downloads): the engine applies idle timeouts.
    /// None follows redirects: the transport does, so that credentials and
    /// cookies stay with their origin (reqwest's policy sees a redirect's
    /// URL but cannot change which headers go with it), and none sends a
    /// `Referer` (it would tell the next server the previous URL, query
    /// string included).
    fn client(&self, kind: ClientKind) -> Result<reqwest::Client, Error> {
        let settings = &self.settings;
        let mut builder = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .connect_timeout(settings.connect_timeout)
            .pool_max_idle_per_host(settings.idle_per_host)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .danger_accept_invalid_certs(settings.insecure)
            .tls_built_in_root_certs(false)
            .no_proxy();
        if !settings.proxy.is_direct() {
            builder = builder.proxy(ProxyRoute::reqwest_proxy(settings.proxy.clone()));
        }
        let needs_tls = kind != ClientKind::Plain || settings.proxy.may_use_tls();
        if needs_tls && !settings.insecure {
            for certificate in self.roots()? {
                builder = builder.add_root_certificate(certificate.clone());
            }
        }
        if let (true, Some(identity)) = (needs_tls, &self.identity) {
            builder = builder.identity(identity.clone());
        }
        if kind == ClientKind::TlsHttp1 {
            builder = builder.http1_only();
        }
        builder.build().map_err(|e| {
            Error::new(
                ErrorKind::InvalidRequest("the HTTP client could not be set up".into()),
                None,
            )
            .with_source(e)
        })
    }
}

/// The clients, built on first use: loading the system's root certificates
/// costs about 12 ms of CPU, which a run of plain `http` URLs never needs.
pub(crate) struct Clients {
    factory: Option<ClientFactory>,
    /// For plain `http` without a proxy, when the engine built the
    /// clients (see `direct`).
    direct: Option<DirectClient>,
    plain: OnceLock<reqwest::Client>,
    tls: OnceLock<reqwest::Client>,
    tls_http1: OnceLock<reqwest::Client>,
}

impl Clients {
    /// Clients given whole: `client` for whole resources and plain http,
    /// `http1_client` for segments.
    pub(crate) fn given(client: reqwest::Client, http1_client: reqwest::Client) -> Clients {
        Clients {
            factory: None,
            direct: None,
            plain: OnceLock::from(client.clone()),
            tls: OnceLock::from(client),
            tls_http1: OnceLock::from(http1_client),
        }
    }

    /// The engine's own clients, from `settings`. Fails when a root
    /// certificate or the client certificate is not valid PEM, or the
    /// proxy setting cannot be used.
    pub(crate) fn from_settings(settings: ClientSettings) -> Result<Clients, Error> {
        let mut extra_roots = Vec::new();
        for pem in &settings.root_certificates {
            let certificates = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidRequest("a root certificate is not valid PEM".into()),
                    None,
                )
                .with_source(e)
            })?;
            if certificates.is_empty() {
                return Err(Error::new(
                    ErrorKind::InvalidRequest(
                        "a root certificate file holds no PEM certificate".into(),
                    ),
                    None,
                ));
            }
            extra_roots.extend(certificates);
        }
        let identity = match &settings.identity {
            None => None,
            Some(pem) => Some(reqwest::Identity::from_pem(pem).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidRequest(
                        "the client certificate and key are not valid PEM (a certificate, then its private key)".into(),
                    ),
                    None,
                )
                .with_source(e)
            })?),
        };
        settings.proxy.check()?;
        let direct = DirectClient::new(
            &settings.user_agent,
            settings.connect_timeout,
            settings.idle_per_host,
        )?;
        let has_identity = identity.is_some();
        let prepared = Prepared {
            settings,
            extra_roots,
            identity,
            roots: OnceLock::new(),
        };
        let clients = Clients {
            factory: Some(Box::new(move |kind| prepared.client(kind))),
            direct: Some(direct),
            plain: OnceLock::new(),
            tls: OnceLock::new(),
            tls_http1: OnceLock::new(),
        };
        if has_identity {
            // A certificate and a key that parse but do not belong
            // together are found only when a TLS client is built: built
            // now, that is a setting refused before any download.
            clients.get(ClientKind::Tls).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidRequest(
                        "the client certificate cannot be used (is the private key the certificate's?)"
                            .into(),
                    ),
                    None,
                )
                .with_source(e)
            })?;
        }
        Ok(clients)
    }

    /// The client for plain `http` URLs reached without a proxy, unless
    /// the clients were given (then those serve every URL).
    pub(crate) fn direct(&self) -> Option<&DirectClient> {
        self.direct.as_ref()
    }

    /// The client of `kind`, built now if it is the first use.
    pub(crate) fn get(&self, kind: ClientKind) -> Result<&reqwest::Client, Error> {
        let cell = match kind {
            ClientKind::Plain => &self.plain,
            ClientKind::Tls => &self.tls,
            ClientKind::TlsHttp1 => &self.tls_http1,
        };
        if let Some(client) = cell.get() {
            return Ok(client);
        }
        let factory = self.factory.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidRequest("no HTTP client for this URL".into()),
                None,
            )
        })?;
        // Two first requests may race to build: one client wins, the other
        // is dropped unused.
        let _ = cell.set(factory(kind)?);
        cell.get().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidRequest("the HTTP client could not be set up".into()),
                None,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(explicit: Option<&str>, env: &[(&str, &str)]) -> ProxyRoute {
        ProxyRoute {
            explicit: explicit.map(str::to_owned),
            noproxy: None,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn proxy_urls_carry_encoded_credentials() {
        let proxy = parse_proxy("http://us%40er:p%3Ass@proxy:3128", "--proxy").unwrap();
        assert_eq!(proxy_url(&proxy), "http://us%40er:p%3Ass@proxy:3128");
        let proxy = parse_proxy("socks5h://[::1]:1080", "--proxy").unwrap();
        assert_eq!(proxy_url(&proxy), "socks5h://[::1]:1080");
        let proxy = parse_proxy("user@proxy", "--proxy").unwrap();
        assert_eq!(proxy_url(&proxy), "http://user:@proxy:1080");
    }

    #[test]
    fn direct_and_tls_routes() {
        assert!(route(None, &[]).is_direct());
        assert!(route(Some(""), &[("http_proxy", "http://p:1")]).is_direct());
        assert!(route(None, &[("no_proxy", "*")]).is_direct());
        assert!(!route(None, &[("https_proxy", "http://p:1")]).is_direct());
        assert!(!route(Some("socks5://p"), &[]).is_direct());
        assert!(route(None, &[("ALL_PROXY", "https://p")]).may_use_tls());
        assert!(!route(Some("http://p"), &[("ALL_PROXY", "https://p")]).may_use_tls());
        assert!(route(Some("http://p:99999"), &[]).check().is_err());
        assert!(route(None, &[("http_proxy", "http://p:99999")])
            .check()
            .is_ok());
    }
}
