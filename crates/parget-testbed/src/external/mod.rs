//! Real servers from Debian's packages, started on demand for tests and
//! benchmarks: [`Nginx`] (a static file server), [`Tinyproxy`] (an HTTP
//! proxy) and [`Microsocks`] (a SOCKS5 proxy).
//!
//! Each one runs the installed binary in the foreground with a config
//! generated into a fresh temporary directory, listens on a free port of
//! the address it is given (loopback by default), and is ready when its
//! handle is returned: the harness waits until the port accepts
//! connections. Its logs stay in the temporary directory so a test can see
//! what went through it. Dropping the handle stops the daemon (SIGTERM, then
//! SIGKILL) and removes the directory.
//!
//! A missing program is an [`Error::Missing`] that names the program and
//! the Debian package to install (`scripts/install-deps.sh` installs them).
//!
//! ```no_run
//! use parget_testbed::external::Nginx;
//!
//! let nginx = Nginx::builder()
//!     .file("/files/a.bin", 1 << 20)
//!     .limit_rate(20 << 20)
//!     .start()?;
//! let url = nginx.url("/files/a.bin");
//! // ... download `url`; its bytes are `parget_testbed::content("/files/a.bin", 1 << 20)` ...
//! let requests = nginx.access_log()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod microsocks;
mod nginx;
mod process;
mod tinyproxy;

pub use microsocks::{Microsocks, MicrosocksBuilder};
pub use nginx::{range_connections, AccessEntry, AccessLogError, Nginx, NginxBuilder};
pub use tinyproxy::{Tinyproxy, TinyproxyBuilder};

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a daemon could not be started.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The program is not installed.
    Missing {
        /// The program, e.g. `nginx`.
        program: &'static str,
        /// The Debian package that installs it, e.g. `nginx-light`.
        package: &'static str,
        /// Where it was looked for.
        looked_in: Vec<PathBuf>,
    },
    /// Preparing the config or the directory, or spawning, failed.
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: io::Error,
    },
    /// The daemon ended before it accepted connections.
    Exited {
        /// The program.
        program: &'static str,
        /// How it ended.
        status: String,
        /// The end of its logs.
        log: String,
    },
    /// The daemon could not listen on the port picked for it: another
    /// process took the port in between, every time it was tried.
    PortInUse {
        /// The program.
        program: &'static str,
        /// How many ports were tried.
        attempts: usize,
    },
    /// The daemon did not accept connections within [`STARTUP_LIMIT`].
    NotReady {
        /// The program.
        program: &'static str,
        /// The end of its logs.
        log: String,
    },
    /// The caller's settings cannot be turned into a config.
    Config(String),
}

impl Error {
    /// True when the program is not installed.
    pub fn is_missing(&self) -> bool {
        matches!(self, Error::Missing { .. })
    }

    fn io(what: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Missing {
                program,
                package,
                looked_in,
            } => {
                let dirs: Vec<String> = looked_in.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "{program} is not installed (looked in {}): install the Debian package \
                     {package} (apt-get install {package}, or run scripts/install-deps.sh as root)",
                    dirs.join(", ")
                )
            }
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::Exited {
                program,
                status,
                log,
            } => write!(
                f,
                "{program} exited ({status}) before accepting connections; its log ends:\n{log}"
            ),
            Error::PortInUse { program, attempts } => write!(
                f,
                "{program} found its port taken by another process on each of {attempts} tries"
            ),
            Error::NotReady { program, log } => write!(
                f,
                "{program} did not accept connections within {} s; its log ends:\n{log}",
                STARTUP_LIMIT.as_secs()
            ),
            Error::Config(why) => write!(f, "invalid daemon settings: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The longest a daemon may take from spawn to accepting connections
/// before the start is given up (a start-up failure, not a test timing).
pub const STARTUP_LIMIT: std::time::Duration = std::time::Duration::from_secs(20);
