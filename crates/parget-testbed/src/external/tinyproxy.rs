//! tinyproxy (Debian's `tinyproxy`): a real HTTP proxy for proxy tests.
//! `CONNECT` is allowed to every port (no `ConnectPort` line) unless
//! [`TinyproxyBuilder::connect_ports`] names some, the log is
//! at `Info`, which records each client connection (`Connect (file
//! descriptor N): IP`) and each request line (`Request (file descriptor
//! N): GET http://... HTTP/1.1`), and Basic authentication is optional.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use super::process::{self, Launch, Program, Running};
use super::Error;

const TINYPROXY: Program = Program {
    name: "tinyproxy",
    package: "tinyproxy",
};

/// Settings of a [`Tinyproxy`] to start.
#[derive(Debug, Clone)]
pub struct TinyproxyBuilder {
    program: Option<PathBuf>,
    listen: IpAddr,
    basic_auth: Option<(String, String)>,
    connect_ports: Vec<u16>,
}

impl TinyproxyBuilder {
    /// The tinyproxy binary (default: `tinyproxy` on `PATH` or in
    /// `/usr/bin`).
    pub fn program(mut self, path: impl Into<PathBuf>) -> TinyproxyBuilder {
        self.program = Some(path.into());
        self
    }

    /// The address to listen on and accept clients from (default
    /// 127.0.0.1).
    pub fn listen(mut self, ip: IpAddr) -> TinyproxyBuilder {
        self.listen = ip;
        self
    }

    /// Require `Proxy-Authorization: Basic` with `user` and `password`
    /// (tinyproxy answers 407 without them). Neither may hold whitespace
    /// or quotes (tinyproxy's config syntax).
    pub fn basic_auth(mut self, user: &str, password: &str) -> TinyproxyBuilder {
        self.basic_auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Allow `CONNECT` only to these ports (tinyproxy answers others 403).
    pub fn connect_ports(mut self, ports: &[u16]) -> TinyproxyBuilder {
        self.connect_ports = ports.to_vec();
        self
    }

    /// Writes the config, starts tinyproxy in the foreground and waits
    /// until it accepts connections.
    pub fn start(self) -> Result<Tinyproxy, Error> {
        if let Some((user, password)) = &self.basic_auth {
            let bad = |s: &str| s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '"');
            if bad(user) || bad(password) {
                return Err(Error::Config(
                    "tinyproxy's BasicAuth user and password must be non-empty, without whitespace or quotes".into(),
                ));
            }
        }
        let program = TINYPROXY.locate(self.program.as_deref())?;
        let dir = process::temp_dir("parget-tinyproxy-", None)?;
        let log = dir.path().join("tinyproxy.log");
        let (running, addr) = process::with_free_port(self.listen, |port| {
            let addr = SocketAddr::new(self.listen, port);
            let config_path = dir.path().join("tinyproxy.conf");
            let config = render(
                dir.path(),
                addr,
                self.basic_auth.as_ref(),
                &self.connect_ports,
            );
            std::fs::write(&config_path, config)
                .map_err(|e| Error::io(format!("writing {}", config_path.display()), e))?;
            let _ = std::fs::remove_file(&log);
            // The log says when the socket is bound and the loop runs: a
            // connection accepted after that is this tinyproxy's.
            let ready =
                || std::fs::read_to_string(&log).is_ok_and(|t| t.contains("Accepting connections"));
            let running = process::launch(Launch {
                program: TINYPROXY,
                path: &program,
                args: vec!["-d".into(), "-c".into(), config_path.into()],
                output: Some(&dir.path().join("stderr.log")),
                addr,
                logs: vec![log.clone()],
                ready: &ready,
                probe: false,
            })?;
            Ok((running, addr))
        })?;
        Ok(Tinyproxy {
            running,
            addr,
            log,
            dir,
        })
    }
}

/// A running tinyproxy; stopped, and its temporary directory removed,
/// when dropped.
#[derive(Debug)]
pub struct Tinyproxy {
    running: Running,
    addr: SocketAddr,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Tinyproxy {
    /// Settings with the defaults: loopback, no authentication.
    pub fn builder() -> TinyproxyBuilder {
        TinyproxyBuilder {
            program: None,
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            basic_auth: None,
            connect_ports: Vec::new(),
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

    /// `http://IP:PORT`: the proxy URL for `HTTP_PROXY` or `--proxy`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.running.pid()
    }

    /// The temporary directory (config and log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The log so far.
    pub fn log(&self) -> std::io::Result<String> {
        std::fs::read_to_string(&self.log)
    }

    /// The request lines logged so far (`GET http://host/path HTTP/1.1`,
    /// `CONNECT host:port HTTP/1.1`), in order.
    pub fn requests(&self) -> std::io::Result<Vec<String>> {
        Ok(request_lines(&self.log()?))
    }
}

/// The request lines of a tinyproxy log.
pub(crate) fn request_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.split_once("]: Request (file descriptor "))
        .filter_map(|(_, rest)| rest.split_once("): "))
        .map(|(_, request)| request.trim().to_owned())
        .collect()
}

/// The generated tinyproxy.conf.
fn render(
    dir: &Path,
    addr: SocketAddr,
    auth: Option<&(String, String)>,
    connect_ports: &[u16],
) -> String {
    let dir = dir.display();
    let mut config = format!(
        "# Generated by parget-testbed's tinyproxy harness.\n\
         Port {port}\n\
         Listen {ip}\n\
         Timeout 600\n\
         LogFile \"{dir}/tinyproxy.log\"\n\
         # Info records every client connection and request line.\n\
         LogLevel Info\n\
         PidFile \"{dir}/tinyproxy.pid\"\n\
         MaxClients 512\n\
         Allow {ip}\n",
        port = addr.port(),
        ip = addr.ip(),
    );
    if connect_ports.is_empty() {
        config.push_str("# No ConnectPort line: CONNECT is allowed to every port.\n");
    }
    for port in connect_ports {
        config.push_str(&format!("ConnectPort {port}\n"));
    }
    if let Some((user, password)) = auth {
        config.push_str(&format!("BasicAuth {user} {password}\n"));
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_read_from_the_log() {
        let log = "\
NOTICE    Dec 01 19:48:10.832 [20334]: Initializing tinyproxy ...
CONNECT   Dec 01 19:48:11.343 [20334]: Connect (file descriptor 5): 127.0.0.1
CONNECT   Dec 01 19:48:11.343 [20334]: Request (file descriptor 5): GET http://127.0.0.1:18080/a.bin HTTP/1.1
CONNECT   Dec 01 19:48:11.377 [20334]: Request (file descriptor 6): CONNECT 127.0.0.1:18080 HTTP/1.1
";
        assert_eq!(
            request_lines(log),
            [
                "GET http://127.0.0.1:18080/a.bin HTTP/1.1",
                "CONNECT 127.0.0.1:18080 HTTP/1.1"
            ]
        );
        assert!(request_lines("").is_empty());
    }

    #[test]
    fn the_config_allows_connect_anywhere_and_logs_requests() {
        let auth = ("u".to_owned(), "p".to_owned());
        let config = render(
            Path::new("/t"),
            "127.0.0.1:3128".parse().unwrap(),
            Some(&auth),
            &[],
        );
        for needle in [
            "Port 3128\n",
            "Listen 127.0.0.1\n",
            "Allow 127.0.0.1\n",
            "LogLevel Info\n",
            "LogFile \"/t/tinyproxy.log\"\n",
            "BasicAuth u p\n",
        ] {
            assert!(config.contains(needle), "{needle:?} missing from\n{config}");
        }
        assert!(!config.lines().any(|l| l.starts_with("ConnectPort")));
        let open = render(Path::new("/t"), "127.0.0.1:1".parse().unwrap(), None, &[]);
        assert!(!open.contains("BasicAuth"));
        let closed = render(
            Path::new("/t"),
            "127.0.0.1:1".parse().unwrap(),
            None,
            &[443],
        );
        assert!(closed.contains("ConnectPort 443\n"), "{closed}");
    }
}
