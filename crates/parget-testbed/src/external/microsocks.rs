//! microsocks (Debian's `microsocks`): a real SOCKS5 proxy for proxy
//! tests, optionally with a user and password (`-u`/`-P`). It logs each
//! connection it makes (`client[N] IP: connected to HOST:PORT`) to standard
//! error, which the harness captures to a log file.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use super::process::{self, Launch, Program, Running};
use super::Error;

const MICROSOCKS: Program = Program {
    name: "microsocks",
    package: "microsocks",
};

/// Settings of a [`Microsocks`] to start.
#[derive(Debug, Clone)]
pub struct MicrosocksBuilder {
    program: Option<PathBuf>,
    listen: IpAddr,
    auth: Option<(String, String)>,
}

impl MicrosocksBuilder {
    /// The microsocks binary (default: `microsocks` on `PATH` or in
    /// `/usr/bin`).
    pub fn program(mut self, path: impl Into<PathBuf>) -> MicrosocksBuilder {
        self.program = Some(path.into());
        self
    }

    /// The address to listen on (default 127.0.0.1).
    pub fn listen(mut self, ip: IpAddr) -> MicrosocksBuilder {
        self.listen = ip;
        self
    }

    /// Require SOCKS5 user/password authentication (RFC 1929).
    pub fn auth(mut self, user: &str, password: &str) -> MicrosocksBuilder {
        self.auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Starts microsocks and waits until it accepts connections.
    pub fn start(self) -> Result<Microsocks, Error> {
        if let Some((user, password)) = &self.auth {
            // RFC 1929 carries each in one length byte.
            if user.is_empty() || password.is_empty() || user.len() > 255 || password.len() > 255 {
                return Err(Error::Config(
                    "a SOCKS5 user and password are 1 to 255 bytes each".into(),
                ));
            }
        }
        let program = MICROSOCKS.locate(self.program.as_deref())?;
        let dir = process::temp_dir("parget-microsocks-", None)?;
        let log = dir.path().join("microsocks.log");
        let (running, addr) = process::with_free_port(self.listen, |port| {
            let addr = SocketAddr::new(self.listen, port);
            let running = process::launch(Launch {
                program: MICROSOCKS,
                path: &program,
                args: arguments(addr, self.auth.as_ref()),
                output: Some(&log),
                addr,
                logs: Vec::new(),
                ready: &|| true,
                probe: true,
            })?;
            Ok((running, addr))
        })?;
        Ok(Microsocks {
            running,
            addr,
            log,
            dir,
        })
    }
}

/// microsocks' command line.
fn arguments(addr: SocketAddr, auth: Option<&(String, String)>) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "-i".into(),
        addr.ip().to_string().into(),
        "-p".into(),
        addr.port().to_string().into(),
    ];
    if let Some((user, password)) = auth {
        args.extend(["-u".into(), user.into(), "-P".into(), password.into()]);
    }
    args
}

/// A running microsocks; stopped, and its temporary directory removed,
/// when dropped.
#[derive(Debug)]
pub struct Microsocks {
    running: Running,
    addr: SocketAddr,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Microsocks {
    /// Settings with the defaults: loopback, no authentication.
    pub fn builder() -> MicrosocksBuilder {
        MicrosocksBuilder {
            program: None,
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            auth: None,
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

    /// `socks5://IP:PORT`.
    pub fn url(&self) -> String {
        format!("socks5://{}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.running.pid()
    }

    /// The temporary directory (the log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The captured standard output and error.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The log so far.
    pub fn log(&self) -> std::io::Result<String> {
        std::fs::read_to_string(&self.log)
    }

    /// The `HOST:PORT` of every connection made for a client so far, in
    /// order.
    pub fn connections(&self) -> std::io::Result<Vec<String>> {
        Ok(connection_targets(&self.log()?))
    }
}

/// The targets of a microsocks log's `connected to` lines.
pub(crate) fn connection_targets(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.starts_with("client["))
        .filter_map(|l| l.split_once(": connected to "))
        .map(|(_, target)| target.trim().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_read_from_the_log() {
        let log = "client[4] 127.0.0.1: connected to 127.0.0.1:18092\n\
                   server_setup: something\n\
                   client[5] 127.0.0.1: connected to example.com:443\n";
        assert_eq!(
            connection_targets(log),
            ["127.0.0.1:18092", "example.com:443"]
        );
    }

    #[test]
    fn arguments_carry_address_and_credentials() {
        let addr: SocketAddr = "127.0.0.1:1080".parse().unwrap();
        let auth = ("u".to_owned(), "p w".to_owned());
        let args = arguments(addr, Some(&auth));
        assert_eq!(
            args,
            ["-i", "127.0.0.1", "-p", "1080", "-u", "u", "-P", "p w"]
        );
        assert_eq!(arguments(addr, None).len(), 4);
    }
}
