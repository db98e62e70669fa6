//! nginx (Debian's `nginx-light`) serving a directory of static files, as
//! real servers do: `sendfile`, keep-alive, strong ETags and Range from the
//! core static module, optionally `limit_rate` per connection, and an access
//! log that records which connection carried which request.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::process::{self, Launch, Program, Running};
use super::Error;

const NGINX: Program = Program {
    name: "nginx",
    package: "nginx-light",
};

/// The access log's format: fields a test needs to count connections and
/// requests. `$http_range` is quoted since a Range header may hold spaces;
/// nginx escapes `"` inside values (as `\x22`), so the quotes are
/// unambiguous.
const LOG_FORMAT: &str = r#"$connection $connection_requests $request_method $uri $status $body_bytes_sent "$http_range""#;

/// Settings of an [`Nginx`] to start.
#[derive(Debug, Clone)]
pub struct NginxBuilder {
    program: Option<PathBuf>,
    listen: IpAddr,
    root: Option<PathBuf>,
    files: Vec<(String, u64)>,
    limit_rate: u64,
    limit_conn: Option<(u32, u16)>,
    temp_in: Option<PathBuf>,
}

impl NginxBuilder {
    /// The nginx binary (default: `nginx` on `PATH` or in `/usr/sbin`).
    pub fn program(mut self, path: impl Into<PathBuf>) -> NginxBuilder {
        self.program = Some(path.into());
        self
    }

    /// The address to listen on (default 127.0.0.1); the port is picked
    /// free.
    pub fn listen(mut self, ip: IpAddr) -> NginxBuilder {
        self.listen = ip;
        self
    }

    /// Serve this directory (default: a `root` directory in nginx's
    /// temporary directory). It must be readable by root.
    pub fn root(mut self, dir: impl Into<PathBuf>) -> NginxBuilder {
        self.root = Some(dir.into());
        self
    }

    /// Writes `parget_testbed::content(url_path, len)` at `url_path` below
    /// the document root before starting, so `GET url_path` serves bytes
    /// whose digest every test can compute. `url_path` is a plain path
    /// (`/dir/name.bin`: no query, no `..`, no percent-escapes).
    pub fn file(mut self, url_path: &str, len: u64) -> NginxBuilder {
        self.files.push((url_path.to_owned(), len));
        self
    }

    /// [`file`](Self::file) for each `(url_path, len)`.
    pub fn files<'a>(mut self, files: impl IntoIterator<Item = (&'a str, u64)>) -> NginxBuilder {
        self.files
            .extend(files.into_iter().map(|(p, n)| (p.to_owned(), n)));
        self
    }

    /// `limit_rate` in bytes per second for every response (nginx applies
    /// it per request, so per connection at a time); 0 (the default) is
    /// unlimited. nginx lets a response send one second's worth at once
    /// before pacing, as real servers with such limits do.
    pub fn limit_rate(mut self, bytes_per_second: u64) -> NginxBuilder {
        self.limit_rate = bytes_per_second;
        self
    }

    /// `limit_conn`: at most `connections` at once per client address;
    /// nginx answers the others `status` (503 by default there; 403 and
    /// 429 are common too).
    pub fn limit_conn(mut self, connections: u32, status: u16) -> NginxBuilder {
        self.limit_conn = Some((connections, status));
        self
    }

    /// Create the temporary directory (config, logs, and the document root
    /// when none is given) under `dir` instead of the system's temp dir,
    /// e.g. on a tmpfs.
    pub fn temp_in(mut self, dir: impl Into<PathBuf>) -> NginxBuilder {
        self.temp_in = Some(dir.into());
        self
    }

    /// Writes the files and the config, starts nginx and waits until it
    /// accepts connections.
    pub fn start(self) -> Result<Nginx, Error> {
        let program = NGINX.locate(self.program.as_deref())?;
        let dir = process::temp_dir("parget-nginx-", self.temp_in.as_deref())?;
        let root = match &self.root {
            Some(root) => root.clone(),
            None => dir.path().join("root"),
        };
        std::fs::create_dir_all(&root)
            .map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
        for (url_path, len) in &self.files {
            write_content(&root, url_path, *len)?;
        }
        let temp_paths = temp_path_modules(&program);
        // nginx creates the last component of each temp path, not parents.
        let temp = dir.path().join("temp");
        std::fs::create_dir_all(&temp)
            .map_err(|e| Error::io(format!("creating {}", temp.display()), e))?;
        let (running, addr) = process::with_free_port(self.listen, |port| {
            let addr = SocketAddr::new(self.listen, port);
            let config = Config {
                dir: dir.path(),
                root: &root,
                listen: addr,
                limit_rate: self.limit_rate,
                limit_conn: self.limit_conn,
                temp_paths: &temp_paths,
            };
            let config_path = dir.path().join("nginx.conf");
            std::fs::write(&config_path, config.render())
                .map_err(|e| Error::io(format!("writing {}", config_path.display()), e))?;
            // A pid file from an earlier attempt would pass for this one.
            let pid_file = dir.path().join("nginx.pid");
            let _ = std::fs::remove_file(&pid_file);
            let error_log = dir.path().join("error.log");
            // nginx writes the pid file after it has bound every listening
            // socket: with it, a connection accepted is this nginx's.
            let ready = || pid_file.is_file();
            let running = process::launch(Launch {
                program: NGINX,
                path: &program,
                args: vec![
                    "-e".into(),
                    error_log.clone().into(),
                    "-p".into(),
                    dir.path().into(),
                    "-c".into(),
                    config_path.into(),
                ],
                output: Some(&dir.path().join("stderr.log")),
                addr,
                logs: vec![error_log],
                ready: &ready,
                probe: true,
            })?;
            Ok((running, addr))
        })?;
        Ok(Nginx {
            running,
            addr,
            root,
            access_log: dir.path().join("access.log"),
            error_log: dir.path().join("error.log"),
            dir,
        })
    }
}

/// A running nginx; stopped, and its temporary directory removed, when
/// dropped.
#[derive(Debug)]
pub struct Nginx {
    // Declared first: the daemon stops before its directory goes.
    running: Running,
    addr: SocketAddr,
    root: PathBuf,
    access_log: PathBuf,
    error_log: PathBuf,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Settings with the defaults: loopback, one worker, no rate limit, an
    /// empty document root in the temporary directory.
    pub fn builder() -> NginxBuilder {
        NginxBuilder {
            program: None,
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            root: None,
            files: Vec::new(),
            limit_rate: 0,
            limit_conn: None,
            temp_in: None,
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://IP:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of `path` (a leading `/` is added if missing).
    pub fn url(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("{}{slash}{path}", self.base_url())
    }

    /// The document root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The master process's id (its one worker is its child).
    pub fn pid(&self) -> u32 {
        self.running.pid()
    }

    /// The temporary directory holding the config and the logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The access log (one line per finished request, see
    /// [`AccessEntry`]).
    pub fn access_log_path(&self) -> &Path {
        &self.access_log
    }

    /// The error log.
    pub fn error_log_path(&self) -> &Path {
        &self.error_log
    }

    /// Every request logged so far. nginx logs a request when its response
    /// has been handed to the socket, so the last one may appear a moment
    /// after a client has read its last byte: wait for what you expect.
    pub fn access_log(&self) -> Result<Vec<AccessEntry>, AccessLogError> {
        let text = std::fs::read_to_string(&self.access_log).map_err(|e| AccessLogError {
            line: 0,
            text: String::new(),
            why: format!("cannot read {}: {e}", self.access_log.display()),
        })?;
        parse_log(&text)
    }

    /// Empties the access log, so the next requests are the only ones in it
    /// (nginx opens it in append mode: truncating in place is safe).
    pub fn clear_access_log(&self) -> std::io::Result<()> {
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&self.access_log)
            .map(drop)
    }
}

/// The connections (`$connection` serial numbers) that carried a request
/// with a `Range` header for `uri`.
pub fn range_connections(entries: &[AccessEntry], uri: &str) -> BTreeSet<u64> {
    entries
        .iter()
        .filter(|e| e.uri == uri && e.range.is_some())
        .map(|e| e.connection)
        .collect()
}

/// One line of the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    /// `$connection`: the connection's serial number (unique per nginx run:
    /// there is one worker).
    pub connection: u64,
    /// `$connection_requests`: 1 for the first request on the connection.
    pub connection_requests: u64,
    /// `$request_method`.
    pub method: String,
    /// `$uri`: the decoded path, without the query.
    pub uri: String,
    /// `$status`.
    pub status: u16,
    /// `$body_bytes_sent`.
    pub body_bytes_sent: u64,
    /// `$http_range`: the request's `Range` header, if any.
    pub range: Option<String>,
}

impl fmt::Display for AccessEntry {
    /// The line as nginx writes it (with nginx's escaping).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = |s: &str| {
            if s.is_empty() {
                "-".to_owned()
            } else {
                escape(s)
            }
        };
        write!(
            f,
            "{} {} {} {} {} {} \"{}\"",
            self.connection,
            self.connection_requests,
            field(&self.method),
            field(&self.uri),
            self.status,
            self.body_bytes_sent,
            self.range.as_deref().map_or("-".to_owned(), escape)
        )
    }
}

/// A line of the access log that is not in the harness's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogError {
    /// 1-based line number (0: the file itself).
    pub line: usize,
    /// The line.
    pub text: String,
    /// What is wrong with it.
    pub why: String,
}

impl fmt::Display for AccessLogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "nginx access log: {}", self.why)
        } else {
            write!(
                f,
                "nginx access log line {}: {} in `{}`",
                self.line, self.why, self.text
            )
        }
    }
}

impl std::error::Error for AccessLogError {}

impl std::str::FromStr for AccessEntry {
    type Err = String;

    /// Parses one line of [`LOG_FORMAT`]. The URI may hold spaces, so it is
    /// what lies between the first three and the last three fields.
    fn from_str(line: &str) -> Result<AccessEntry, String> {
        let line = line.trim_end_matches(['\r', '\n']);
        let (rest, range) = line
            .strip_suffix('"')
            .and_then(|l| l.rsplit_once(" \""))
            .ok_or("no quoted Range field at the end")?;
        let mut left = rest.splitn(4, ' ');
        let connection = left.next().ok_or("no $connection")?;
        let requests = left.next().ok_or("no $connection_requests")?;
        let method = left.next().ok_or("no $request_method")?;
        let rest = left.next().ok_or("no $uri")?;
        let mut right = rest.rsplitn(3, ' ');
        let bytes = right.next().ok_or("no $body_bytes_sent")?;
        let status = right.next().ok_or("no $status")?;
        let uri = right.next().ok_or("no $uri")?;
        let number = |name: &str, s: &str| {
            s.parse::<u64>()
                .map_err(|_| format!("{name} `{s}` is not a number"))
        };
        let dash = |s: &str| if s == "-" { String::new() } else { unescape(s) };
        Ok(AccessEntry {
            connection: number("$connection", connection)?,
            connection_requests: number("$connection_requests", requests)?,
            method: dash(method),
            uri: dash(uri),
            status: status
                .parse()
                .map_err(|_| format!("$status `{status}` is not a status code"))?,
            body_bytes_sent: number("$body_bytes_sent", bytes)?,
            range: (range != "-").then(|| unescape(range)),
        })
    }
}

/// Every line of an access log; blank lines are skipped.
pub(crate) fn parse_log(text: &str) -> Result<Vec<AccessEntry>, AccessLogError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            l.parse().map_err(|why| AccessLogError {
                line: i + 1,
                text: l.to_owned(),
                why,
            })
        })
        .collect()
}

/// nginx's default log escaping: `"`, `\`, and bytes outside 0x20..=0x7e
/// become `\xHH`.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b == b'"' || b == b'\\' || !(0x20..=0x7e).contains(&b) {
            out.push_str(&format!("\\x{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// The inverse of [`escape`]; anything that is not a well-formed `\xHH`
/// stays as it is.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') {
            let hex = bytes
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes the testbed's content for `url_path` at `root/url_path`, a
/// megabyte at a time (files may be far larger than memory should hold).
fn write_content(root: &Path, url_path: &str, len: u64) -> Result<(), Error> {
    let rel = url_path.trim_start_matches('/');
    let bad = rel.is_empty()
        || rel
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        || rel.contains(['?', '#', '%', '\\']);
    if bad {
        return Err(Error::Config(format!(
            "`{url_path}` is not a plain file path (like /dir/name.bin)"
        )));
    }
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
    }
    let io = |e| Error::io(format!("writing {}", path.display()), e);
    let mut file =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).map_err(io)?);
    let mut buf = vec![0u8; (1usize << 20).min(usize::try_from(len).unwrap_or(usize::MAX))];
    let mut offset = 0u64;
    while offset < len {
        let n = buf
            .len()
            .min(usize::try_from(len - offset).unwrap_or(usize::MAX));
        crate::fill(url_path, offset, &mut buf[..n]);
        file.write_all(&buf[..n]).map_err(io)?;
        offset += n as u64;
    }
    file.flush().map_err(io)
}

/// The modules whose temporary directories nginx creates at start-up
/// (`--http-client-body-temp-path`, `--http-proxy-temp-path`, ... in
/// `nginx -V`): each gets a directory of ours, so nginx writes nothing
/// outside its temporary directory. A module built out has no such flag,
/// and its directive would be unknown.
fn temp_path_modules(program: &Path) -> Vec<&'static str> {
    let output = Command::new(program).arg("-V").output();
    let text = output
        .map(|o| {
            String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout)
        })
        .unwrap_or_default();
    ["client-body", "proxy", "fastcgi", "uwsgi", "scgi"]
        .into_iter()
        .filter(|m| text.contains(&format!("--http-{m}-temp-path")))
        .collect()
}

/// The generated nginx.conf.
struct Config<'a> {
    dir: &'a Path,
    root: &'a Path,
    listen: SocketAddr,
    limit_rate: u64,
    limit_conn: Option<(u32, u16)>,
    temp_paths: &'a [&'static str],
}

impl Config<'_> {
    fn render(&self) -> String {
        let dir = self.dir.display();
        let mut temp = String::new();
        for module in self.temp_paths {
            let directive = module.replace('-', "_");
            temp.push_str(&format!("    {directive}_temp_path {dir}/temp/{module};\n"));
        }
        let mut limit = if self.limit_rate > 0 {
            format!("        limit_rate {};\n", self.limit_rate)
        } else {
            String::new()
        };
        let mut zone = String::new();
        if let Some((connections, status)) = self.limit_conn {
            zone = "    limit_conn_zone $binary_remote_addr zone=perclient:1m;\n".to_owned();
            limit.push_str(&format!(
                "        limit_conn perclient {connections};\n        limit_conn_status {status};\n"
            ));
        }
        let listen = match self.listen {
            SocketAddr::V4(a) => a.to_string(),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        };
        format!(
            "# Generated by parget-testbed's nginx harness.\n\
             daemon off;\n\
             master_process on;\n\
             # The server shares the machine's cores with the client.\n\
             worker_processes 1;\n\
             # nginx is started as root here; files must stay readable.\n\
             user root;\n\
             pid {dir}/nginx.pid;\n\
             error_log {dir}/error.log info;\n\
             events {{\n    worker_connections 4096;\n}}\n\
             http {{\n\
             \x20   default_type application/octet-stream;\n\
             \x20   sendfile on;\n\
             \x20   tcp_nopush on;\n\
             \x20   keepalive_requests 1000000;\n\
             \x20   keepalive_timeout 300s;\n\
             {temp}\
             {zone}\
             \x20   log_format parget '{LOG_FORMAT}';\n\
             \x20   access_log {dir}/access.log parget;\n\
             \x20   server {{\n\
             \x20       listen {listen};\n\
             \x20       root {root};\n\
             {limit}\
             \x20   }}\n\
             }}\n",
            root = self.root.display(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn log_lines_parse() {
        let e: AccessEntry = r#"7 2 GET /files/a.bin 206 1048576 "bytes=0-1048575""#
            .parse()
            .unwrap();
        assert_eq!(
            e,
            AccessEntry {
                connection: 7,
                connection_requests: 2,
                method: "GET".into(),
                uri: "/files/a.bin".into(),
                status: 206,
                body_bytes_sent: 1_048_576,
                range: Some("bytes=0-1048575".into()),
            }
        );
        let e: AccessEntry = r#"1 1 HEAD /a b/c.bin 200 0 "-""#.parse().unwrap();
        assert_eq!(e.uri, "/a b/c.bin");
        assert_eq!(e.range, None);
        let e: AccessEntry = r#"3 1 GET /q\x22uote 200 5 "bytes=0-1, 5-6""#.parse().unwrap();
        assert_eq!(e.uri, "/q\"uote");
        assert_eq!(e.range.as_deref(), Some("bytes=0-1, 5-6"));
        // A bad request nginx could not parse: no method, no URI.
        let e: AccessEntry = r#"9 1 - - 400 150 "-""#.parse().unwrap();
        assert_eq!((e.method.as_str(), e.uri.as_str(), e.status), ("", "", 400));
    }

    #[test]
    fn bad_log_lines_say_what_is_wrong() {
        for (line, why) in [
            ("", "no quoted Range"),
            ("1 1 GET /a 200 5 -", "no quoted Range"),
            (r#"x 1 GET /a 200 5 "-""#, "$connection `x`"),
            (r#"1 1 GET /a 2x0 5 "-""#, "$status `2x0`"),
            (r#"1 1 GET /a 200 -5 "-""#, "$body_bytes_sent `-5`"),
            (r#"1 1 GET "-""#, "no $"),
        ] {
            let err = line.parse::<AccessEntry>().unwrap_err();
            assert!(err.contains(why), "{line:?}: {err}");
        }
        let err = parse_log("1 1 GET /a 200 5 \"-\"\n\ngarbage\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn range_connections_are_counted_per_uri() {
        let log = "1 1 GET /a 200 100 \"-\"\n\
                   2 1 GET /a 206 10 \"bytes=0-9\"\n\
                   2 2 GET /a 206 10 \"bytes=10-19\"\n\
                   3 1 GET /a 206 10 \"bytes=20-29\"\n\
                   4 1 GET /b 206 10 \"bytes=0-9\"\n";
        let entries = parse_log(log).unwrap();
        assert_eq!(range_connections(&entries, "/a"), BTreeSet::from([2, 3]));
        assert_eq!(range_connections(&entries, "/b"), BTreeSet::from([4]));
        assert!(range_connections(&entries, "/c").is_empty());
    }

    #[test]
    fn the_config_has_what_the_harness_promises() {
        let config = Config {
            dir: Path::new("/t/d"),
            root: Path::new("/t/d/root"),
            listen: "127.0.0.1:8080".parse().unwrap(),
            limit_rate: 20 << 20,
            limit_conn: Some((2, 403)),
            temp_paths: &["client-body", "proxy"],
        }
        .render();
        for needle in [
            "daemon off;",
            "worker_processes 1;",
            "user root;",
            "sendfile on;",
            "tcp_nopush on;",
            "keepalive_requests 1000000;",
            "listen 127.0.0.1:8080;",
            "root /t/d/root;",
            "limit_rate 20971520;",
            "limit_conn_zone $binary_remote_addr zone=perclient:1m;",
            "limit_conn perclient 2;",
            "limit_conn_status 403;",
            "client_body_temp_path /t/d/temp/client-body;",
            "proxy_temp_path /t/d/temp/proxy;",
            "access_log /t/d/access.log parget;",
            "pid /t/d/nginx.pid;",
            "$connection $connection_requests $request_method $uri $status $body_bytes_sent",
        ] {
            assert!(config.contains(needle), "{needle} missing from\n{config}");
        }
        let unlimited = Config {
            limit_rate: 0,
            limit_conn: None,
            listen: "[::1]:80".parse().unwrap(),
            temp_paths: &[],
            dir: Path::new("/d"),
            root: Path::new("/r"),
        }
        .render();
        assert!(!unlimited.contains("limit_rate"));
        assert!(!unlimited.contains("limit_conn"));
        assert!(!unlimited.contains("temp_path"));
        assert!(unlimited.contains("listen [::1]:80;"));
    }

    #[test]
    fn content_files_are_the_testbed_s_bytes() {
        let dir = tempfile::tempdir().unwrap();
        write_content(dir.path(), "/x/y/z.bin", 2_500_000).unwrap();
        let bytes = std::fs::read(dir.path().join("x/y/z.bin")).unwrap();
        assert_eq!(bytes, crate::content("/x/y/z.bin", 2_500_000));
        write_content(dir.path(), "/empty.bin", 0).unwrap();
        assert_eq!(std::fs::read(dir.path().join("empty.bin")).unwrap(), b"");
        for bad in ["/", "/a/../b", "/a?b", "/a//b", "/%2e%2e/x", "/./a"] {
            let err = write_content(dir.path(), bad, 1).unwrap_err();
            assert!(
                err.to_string().contains("not a plain file path"),
                "{bad}: {err}"
            );
        }
    }

    proptest! {
        #[test]
        fn log_lines_round_trip(
            connection in any::<u64>(),
            requests in 1..u64::MAX,
            method in "[A-Z]{1,8}",
            uri in "/[ -~]{0,40}",
            status in 100u16..600,
            bytes in any::<u64>(),
            range in proptest::option::of("[ -~]{1,40}"),
        ) {
            let entry = AccessEntry {
                connection,
                connection_requests: requests,
                method,
                uri,
                status,
                body_bytes_sent: bytes,
                range: range.filter(|r| r != "-"),
            };
            let line = entry.to_string();
            prop_assert_eq!(line.parse::<AccessEntry>(), Ok(entry));
        }

        #[test]
        fn escaping_round_trips(s in any::<String>()) {
            prop_assert_eq!(unescape(&escape(&s)), s);
        }

        #[test]
        fn arbitrary_lines_never_panic(line in any::<String>()) {
            let _ = line.parse::<AccessEntry>();
        }
    }
}
