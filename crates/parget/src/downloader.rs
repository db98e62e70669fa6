//! The [`Downloader`]: the calls that run downloads, one or a stream of
//! them, over state they share (see `shared`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, LowestSpeed};
use crate::cookies::CookieJar;
use crate::error::{Error, ErrorKind};
use crate::event::{NoReporter, Reporter, Totals};
use crate::group::{Group, GroupReport};
use crate::hooks::{FinishHook, ResponseHook};
use crate::intake::{self, GroupReports, Order, Reports};
use crate::limit::RequestPacer;
use crate::netrc::Netrc;
use crate::report::Report;
use crate::request::{Destination, Request};
use crate::retry::RetryPolicy;
use crate::shared::{Hooks, Shared};
use crate::transport::file::FileTransport;
use crate::transport::http::{
    ChainSettings, ClientSettings, Credentials, HttpSettings, HttpTransport, ProxyRoute,
};
use crate::transport::Transport;

/// The download engine. Cheap to clone; clones share the connection pool,
/// the limits and the reporter.
///
/// ```no_run
/// # async fn example() -> Result<(), parget::Error> {
/// use futures_util::StreamExt;
/// use parget::{Downloader, Request};
///
/// let downloader = Downloader::builder().concurrency(32).build()?;
/// let requests = futures_util::stream::iter(vec![
///     Request::new("https://example.com/a.bin", "a.bin")?,
///     Request::new("https://example.com/b.bin", "b.bin")?,
/// ]);
/// let mut reports = downloader.download_all(requests);
/// while let Some(report) = reports.next().await {
///     match report.error() {
///         None => println!("{} ok", report.url()),
///         Some(e) => eprintln!("{e}"),
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Downloader {
    shared: Arc<Shared>,
}

impl Downloader {
    /// A downloader with every setting at its default.
    pub fn new() -> Result<Downloader, Error> {
        Downloader::builder().build()
    }

    /// Starts configuring a downloader.
    pub fn builder() -> DownloaderBuilder {
        DownloaderBuilder::default()
    }

    /// Downloads one request, waiting for a slot like any other.
    /// Dropping the future stops the download at once: its connections
    /// close and its `.part` file stays for a resume.
    pub async fn download(&self, request: Request) -> Report {
        let cancel = self.shared.child_token();
        run_one(self.shared.clone(), request, cancel).await
    }

    /// Starts downloading one request in the background; the handle can
    /// cancel it and is a future of its report.
    pub fn spawn(&self, request: Request) -> DownloadHandle {
        let cancel = self.shared.child_token();
        let url = request.url().as_str().to_owned();
        let destination = request.destination().clone();
        let join = tokio::spawn(run_one(self.shared.clone(), request, cancel.clone()));
        DownloadHandle {
            cancel,
            join,
            url,
            destination,
        }
    }

    /// Downloads a group of requests and reports them together once the
    /// last one ends (see [`Group`] and [`crate::GroupPolicy`]).
    pub async fn download_group(&self, group: Group) -> GroupReport {
        let mut reports = self.download_groups(futures_util::stream::iter([group]));
        match reports.next().await {
            Some(report) => report,
            // The intake stopped before the group started (a cancel or a
            // shutdown): nothing of it ran.
            None => GroupReport {
                reports: Vec::new(),
                tag: None,
            },
        }
    }

    /// Downloads every request of `requests` (one run: two requests with
    /// the same destination make the later one fail), at most
    /// [`DownloaderBuilder::concurrency`] at once, and yields a report as
    /// each one ends (in completion order).
    ///
    /// Requests are pulled from the stream as slots free up, so a stream of
    /// a million requests is never held in memory, discovery and download
    /// overlap, and a consumer that stops reading reports holds back the
    /// intake. Dropping the returned stream stops pulling new requests;
    /// running ones finish in the background ([`Reports::cancel`] stops
    /// them instead, without touching the downloader's other calls).
    pub fn download_all<S>(&self, requests: S) -> Reports
    where
        S: Stream<Item = Request> + Send + 'static,
    {
        let (rx, cancel) = intake::feed(
            self.shared.clone(),
            intake::singles(requests),
            Order::Completion,
        );
        Reports { rx, cancel }
    }

    /// As [`Downloader::download_all`], with the reports in the order of
    /// `requests`. At most [`DownloaderBuilder::concurrency`] finished
    /// reports wait for a slower one ahead of them; then the intake waits.
    pub fn download_all_in_order<S>(&self, requests: S) -> Reports
    where
        S: Stream<Item = Request> + Send + 'static,
    {
        let (rx, cancel) =
            intake::feed(self.shared.clone(), intake::singles(requests), Order::Input);
        Reports { rx, cancel }
    }

    /// Downloads every group of `groups` (one run, as for
    /// [`Downloader::download_all`]); their members run interleaved under
    /// the same limits, and a group's report comes once its last member
    /// ends, in completion order.
    pub fn download_groups<S>(&self, groups: S) -> GroupReports
    where
        S: Stream<Item = Group> + Send + 'static,
    {
        let (rx, cancel) = intake::feed(self.shared.clone(), groups, Order::Completion);
        GroupReports { rx, cancel }
    }

    /// As [`Downloader::download_groups`], with the reports in the order of
    /// `groups`.
    pub fn download_groups_in_order<S>(&self, groups: S) -> GroupReports
    where
        S: Stream<Item = Group> + Send + 'static,
    {
        let (rx, cancel) = intake::feed(self.shared.clone(), groups, Order::Input);
        GroupReports { rx, cancel }
    }

    /// Stops every running download: each ends with a cancelled error and
    /// keeps its `.part` file (and a final checkpoint) for a resume.
    /// Downloads started after this call are cancelled at once.
    pub fn cancel(&self) {
        self.shared.cancel();
    }

    /// Shuts the downloader down gracefully: no new download starts (the
    /// streams stop pulling, later calls end cancelled at once) and this
    /// returns when every running download has ended. Running downloads
    /// finish; call [`Downloader::cancel`] first to have them stop and
    /// checkpoint instead.
    pub async fn shutdown(&self) {
        self.shared.close();
        self.shared.idle().await;
    }

    /// Counters over every download of this downloader.
    pub fn totals(&self) -> Arc<Totals> {
        self.shared.totals.clone()
    }
}

/// One download with its slot: the way in for [`Downloader::download`]
/// and [`Downloader::spawn`].
async fn run_one(shared: Arc<Shared>, request: Request, cancel: CancellationToken) -> Report {
    // Without a slot (a shutdown closed them) the download ends at once.
    let _slot = intake::acquire_slot(&shared).await;
    crate::download::run(shared, request, false, crate::download::Stop::by(cancel)).await
}

impl std::fmt::Debug for Downloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downloader")
            .field("config", &self.shared.config)
            .finish()
    }
}

/// A download started by [`Downloader::spawn`]: await it for its report,
/// or cancel it. Dropping the handle lets the download go on.
#[derive(Debug)]
pub struct DownloadHandle {
    cancel: CancellationToken,
    join: tokio::task::JoinHandle<Report>,
    url: String,
    destination: Destination,
}

impl DownloadHandle {
    /// Stops the download: its connections close, its `.part` file stays
    /// for a resume, and its report says it was cancelled.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// True once the download has ended.
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }
}

impl std::future::Future for DownloadHandle {
    type Output = Report;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Report> {
        let this = &mut *self;
        std::pin::Pin::new(&mut this.join).poll(cx).map(|joined| {
            joined.unwrap_or_else(|e| {
                Report::failed(
                    this.url.clone(),
                    this.destination.clone(),
                    Error::new(ErrorKind::Transfer, Some(&this.url)).with_source(e),
                )
            })
        })
    }
}

/// Configures a [`Downloader`]. Each setter documents its default.
pub struct DownloaderBuilder {
    config: Config,
    hooks: Hooks,
    root_certificates: Vec<Vec<u8>>,
    client_identity: Option<Vec<u8>>,
    insecure: bool,
    transports: HashMap<String, Arc<dyn Transport>>,
    reporter: Arc<dyn Reporter>,
    network: Network,
}

/// The HTTP settings of a builder that are not engine settings.
#[derive(Default)]
struct Network {
    headers: Vec<(String, String)>,
    credentials: Credentials,
    cookies: Option<CookieJar>,
    proxy: Option<String>,
    no_proxy: Option<String>,
    ignore_proxy_env: bool,
    allow_insecure_redirect: bool,
    requests_per_second: Option<u32>,
}

impl Default for DownloaderBuilder {
    fn default() -> DownloaderBuilder {
        DownloaderBuilder {
            config: Config::default(),
            hooks: Hooks::default(),
            root_certificates: Vec::new(),
            client_identity: None,
            insecure: false,
            transports: HashMap::new(),
            reporter: Arc::new(NoReporter),
            network: Network::default(),
        }
    }
}

impl DownloaderBuilder {
    /// How many downloads run at once. Default 16.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.config.concurrency = n.max(1);
        self
    }

    /// A politeness cap: how many connections go to one host (scheme, host
    /// and port) at once, segments included. Default: no cap, so
    /// [`DownloaderBuilder::concurrency`] downloads run at once even when a
    /// whole list is on one host (the concurrency and
    /// [`DownloaderBuilder::split`] bound the connections).
    pub fn max_per_host(mut self, n: usize) -> Self {
        self.config.max_per_host = Some(n.max(1));
        self
    }

    /// How often a failed attempt is retried and how long to wait.
    /// Default: 5 retries, 1 s base delay doubling up to 60 s.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.config.retry = policy;
        self
    }

    /// The longest wait for a connection to be made. Default 30 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// The longest wait for the next byte (or for the response headers)
    /// before the attempt fails and is retried. Default 60 s.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// Fails an attempt whose rate over `window` stays below
    /// `bytes_per_second`. Default: no limit.
    pub fn lowest_speed_limit(mut self, bytes_per_second: u64, window: Duration) -> Self {
        self.config.lowest_speed = (bytes_per_second > 0).then_some(LowestSpeed {
            bytes_per_second,
            window: window.max(Duration::from_millis(100)),
        });
        self
    }

    /// The most connections one large file is fetched over, when its server
    /// supports Range; the connection controller decides how many of them
    /// are used, from the rate measured over time (see
    /// [`DownloaderBuilder::keep_single_stream_above`]). Extra connections
    /// count against [`DownloaderBuilder::max_per_host`] when it is set.
    /// Default 8; 1 fetches every file in one stream.
    pub fn split(mut self, n: usize) -> Self {
        self.config.split = n.max(1);
        self
    }

    /// The smallest piece a file is split into: files smaller than two of
    /// these go in one stream, and a piece is never split below it.
    /// Default 4 MiB.
    pub fn min_split_size(mut self, bytes: u64) -> Self {
        self.config.min_split_size = bytes.max(1);
        self
    }

    /// A first connection that is at least this fast (bytes/s) once its
    /// first burst is over keeps the whole file: the client's own work
    /// (receiving, writing, hashing) is then the limit, and more
    /// connections would only add CPU. So does a slower one whose writer
    /// or hasher thread is at work 90% of the time: the client is the
    /// limit there too. A file sampled while more downloads
    /// run than [`DownloaderBuilder::split`] starts alone whatever its rate
    /// (its later probes open more when they add). The burst (what a server hands over
    /// from socket buffers before its pacing starts: the first 2 MiB or
    /// 10 ms) is not counted. Slower first connections get every
    /// connection [`DownloaderBuilder::split`] allows at once, and the
    /// connection controller closes those that do not add. `None` always
    /// opens them all. Default 500 MB/s (measured on loopback, where one
    /// stream of 1 GiB is faster than eight).
    pub fn keep_single_stream_above(mut self, bytes_per_second: Option<u64>) -> Self {
        self.config.keep_single_above = bytes_per_second;
        self
    }

    /// How many redirects are followed before failing. Default 10.
    pub fn max_redirects(mut self, n: usize) -> Self {
        self.config.max_redirects = n;
        self
    }

    /// Continue `NAME.part` files left by an earlier run (validated with
    /// the ETag or Last-Modified they came with). Default false: they are
    /// started over.
    pub fn resume_partial(mut self, yes: bool) -> Self {
        self.config.resume_partial = yes;
        self
    }

    /// Replace an existing destination when nothing was given to check it
    /// against. Default false: such a download fails, the file untouched.
    pub fn allow_overwrite(mut self, yes: bool) -> Self {
        self.config.allow_overwrite = yes;
        self
    }

    /// Wait for a destination that another download (of this or another
    /// downloader, in this or another process) is writing, until that one
    /// ends, instead of failing. Default false: such a download fails at
    /// once with an I/O error of kind `WouldBlock` naming `NAME.part`,
    /// whose lock the other holds.
    pub fn wait_for_lock(mut self, yes: bool) -> Self {
        self.config.wait_for_lock = yes;
        self
    }

    /// fsync each file (and its directory) before reporting it done.
    /// Default false: the rename is atomic but not durable across a power loss.
    pub fn fsync(mut self, yes: bool) -> Self {
        self.config.fsync = yes;
        self
    }

    /// The `User-Agent` header. Default `parget/VERSION`. [`build`](Self::build)
    /// fails when it holds a control character (CR, LF, ...).
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.config.user_agent = agent.into();
        self
    }

    /// Sends the header `name: value` with every request (a request's own
    /// header of that name replaces it). Headers carrying credentials or
    /// cookies (`Authorization`, `Cookie`, `Proxy-Authorization`, and any
    /// whose name holds `auth`, `token`, `key`, `secret`, `session`,
    /// `pass`, `pwd`, `cred`, `sig`, `api`, `jwt`, `bearer`, `cookie`,
    /// `csrf`, `xsrf` or `otp`, such as `X-Api-Key`) go only
    /// to the URLs asked for, never to another origin a server redirects
    /// to. May be called again for more headers. [`build`](Self::build)
    /// fails on a name or value HTTP does not allow. Default: none.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.network.headers.push((name.into(), value.into()));
        self
    }

    /// Sends `user` and `password` with Basic authentication to every URL
    /// asked for (and its mirrors), unless the URL carries credentials of
    /// its own or the request an `Authorization` header; never to another
    /// origin a server redirects to. Without a password, the
    /// [`netrc`](Self::netrc) entry of that user gives it (else it is
    /// empty). Default: none.
    pub fn basic_auth(mut self, user: &str, password: Option<&str>) -> Self {
        self.network.credentials.basic = Some((user.to_owned(), password.map(str::to_owned)));
        self
    }

    /// Credentials by host, as curl reads a `.netrc` file: a request with
    /// no other credentials uses the entry of its URL's host, or the
    /// `default` entry; a redirect to another origin uses only a `machine`
    /// entry of that host. Default: none (the library reads no file by
    /// itself; the command line reads `~/.netrc`).
    pub fn netrc(mut self, netrc: Netrc) -> Self {
        self.network.credentials.netrc = Some(netrc);
        self
    }

    /// Sends the cookies of `jar` with every request they match (host,
    /// path, expiry; `Secure` ones only over https), redirects included.
    /// Default: none.
    pub fn cookies(mut self, jar: CookieJar) -> Self {
        self.network.cookies = Some(jar);
        self
    }

    /// Sends every request through the proxy `url` (`http://`, `https://`,
    /// `socks5://`, `socks5h://`, with credentials if it needs them)
    /// instead of what the environment says; an empty string means no
    /// proxy. Hosts on the no-proxy list still go direct.
    /// [`build`](Self::build) fails when the URL is unusable. Default: the
    /// environment decides (see [`proxy_from_env`](Self::proxy_from_env)).
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.network.proxy = Some(url.into());
        self
    }

    /// The hosts that never go through a proxy: a list like `NO_PROXY`
    /// (names and their subdomains, IP addresses, CIDR ranges, `*`),
    /// replacing `NO_PROXY`; an empty list turns it off. Default: the
    /// environment's `no_proxy` or `NO_PROXY`.
    pub fn no_proxy(mut self, list: impl Into<String>) -> Self {
        self.network.no_proxy = Some(list.into());
        self
    }

    /// Reads the proxy variables of the environment (`http_proxy`,
    /// `https_proxy`, `HTTPS_PROXY`, `all_proxy`, `ALL_PROXY`, `no_proxy`,
    /// `NO_PROXY`; never `HTTP_PROXY`, see [`crate::proxy`]) when the
    /// downloader is built. Default true.
    pub fn proxy_from_env(mut self, yes: bool) -> Self {
        self.network.ignore_proxy_env = !yes;
        self
    }

    /// Follows redirects from https to plain http. Default false: such a
    /// redirect fails the download (the rest of the transfer could be read
    /// and altered on the way).
    pub fn allow_insecure_redirect(mut self, yes: bool) -> Self {
        self.network.allow_insecure_redirect = yes;
        self
    }

    /// Limits each download to `bytes_per_second`, all its connections
    /// together (a token bucket of 100 ms, starting empty: no burst above
    /// that). Default: no limit.
    pub fn max_download_rate(mut self, bytes_per_second: u64) -> Self {
        self.config.max_download_rate = (bytes_per_second > 0).then_some(bytes_per_second);
        self
    }

    /// Limits all downloads together to `bytes_per_second`. Default: no
    /// limit.
    pub fn max_overall_rate(mut self, bytes_per_second: u64) -> Self {
        self.config.max_overall_rate = (bytes_per_second > 0).then_some(bytes_per_second);
        self
    }

    /// Sends at most `n` requests in any second to one host (scheme, host
    /// and port), redirects and segments included, for servers that answer
    /// 429 when hammered: the first `n` go at once, then each waits until a
    /// second has passed since the answer to the one `n` before it came
    /// back. The wait for a turn counts toward the
    /// [`idle_timeout`](Self::idle_timeout), as the wait for an answer
    /// does: keep it above [`max_per_host`](Self::max_per_host) ÷ `n`
    /// seconds. Default: no limit.
    pub fn max_requests_per_second(mut self, n: u32) -> Self {
        self.network.requests_per_second = (n > 0).then_some(n);
        self
    }

    /// Lets servers name the files of requests named by their URL
    /// ([`Request::new_in_dir`]) with `Content-Disposition`; see
    /// [`Request::with_content_disposition`]. Default false.
    pub fn content_disposition(mut self, yes: bool) -> Self {
        self.config.content_disposition = yes;
        self
    }

    /// Trusts a PEM certificate (or bundle) as a root, besides the system's
    /// roots and those of `SSL_CERT_FILE` and `SSL_CERT_DIR`.
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// Presents a client certificate to https servers that ask for one
    /// (mutual TLS): `pem` holds the certificate (and any intermediates),
    /// then its private key. [`build`](Self::build) fails when it does not
    /// parse. Default: none.
    pub fn client_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.client_identity = Some(pem.into());
        self
    }

    /// Accepts any TLS certificate. Default false. For testing only.
    pub fn danger_accept_invalid_certs(mut self, yes: bool) -> Self {
        self.insecure = yes;
        self
    }

    /// Handles URLs of `scheme` with `transport` (replacing the built-in one
    /// for `http`, `https` or `file` if named).
    pub fn transport(mut self, scheme: &str, transport: Arc<dyn Transport>) -> Self {
        self.transports
            .insert(scheme.to_ascii_lowercase(), transport);
        self
    }

    /// Calls `hook` with every response of every download before its
    /// body is used (before a request's own hook); an `Err` fails that
    /// download and nothing of the response is written. Default: none.
    pub fn response_hook(mut self, hook: ResponseHook) -> Self {
        self.hooks.response = Some(hook);
        self
    }

    /// Calls `hook` with every download once its size and digests are
    /// verified, before it is put in place (before a request's own hook);
    /// an `Err` fails it and discards the bytes. Default: none.
    pub fn finish_hook(mut self, hook: FinishHook) -> Self {
        self.hooks.finish = Some(hook);
        self
    }

    /// Receives start, retry and finish events. Default: none.
    pub fn reporter(mut self, reporter: Arc<dyn Reporter>) -> Self {
        self.reporter = reporter;
        self
    }

    /// Builds the downloader. Fails when a root or client certificate does
    /// not parse, a header or the user agent holds characters HTTP does not
    /// allow, or the proxy setting is unusable.
    pub fn build(self) -> Result<Downloader, Error> {
        let config = self.config;
        let network = self.network;
        crate::header::check_header_value(&config.user_agent).map_err(|why| {
            Error::new(
                ErrorKind::InvalidRequest(format!("the User-Agent {why}")),
                None,
            )
        })?;
        let mut default_headers = http::HeaderMap::new();
        for (name, value) in &network.headers {
            let (name, mut value) = crate::request::parse_header(name, value)?;
            if matches!(
                name.as_str(),
                "authorization" | "cookie" | "proxy-authorization"
            ) {
                value.set_sensitive(true);
            }
            default_headers.append(name, value);
        }
        let proxy = Arc::new(ProxyRoute {
            explicit: network.proxy,
            noproxy: network.no_proxy,
            env: if network.ignore_proxy_env {
                Vec::new()
            } else {
                ProxyRoute::read_env()
            },
        });
        let http: Arc<dyn Transport> = Arc::new(HttpTransport::from_settings(HttpSettings {
            clients: ClientSettings {
                user_agent: config.user_agent.clone(),
                connect_timeout: config.connect_timeout,
                // Every connection a run can have open to one host stays
                // pooled between requests.
                idle_per_host: config
                    .max_per_host
                    .unwrap_or(config.concurrency + config.split),
                root_certificates: self.root_certificates,
                identity: self.client_identity,
                insecure: self.insecure,
                proxy: proxy.clone(),
            },
            chain: ChainSettings {
                max_redirects: config.max_redirects,
                allow_insecure_redirect: network.allow_insecure_redirect,
                credentials: network.credentials,
                default_headers,
                cookies: network.cookies,
                pacer: network.requests_per_second.map(RequestPacer::new),
                proxy,
            },
        })?);
        let mut transports: HashMap<String, Arc<dyn Transport>> = HashMap::new();
        transports.insert("http".into(), http.clone());
        transports.insert("https".into(), http);
        transports.insert("file".into(), Arc::new(FileTransport));
        transports.extend(self.transports);
        Ok(Downloader {
            shared: Arc::new(Shared::new(config, transports, self.reporter, self.hooks)),
        })
    }
}
