//! What every daemon shares: finding its binary, picking a free port,
//! waiting until it accepts connections, retrying when the port was taken
//! in between, and stopping it on drop.

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{Error, STARTUP_LIMIT};

/// How often a start is retried on a fresh port after the port picked was
/// taken by another process between our probe and the daemon's bind.
const PORT_ATTEMPTS: usize = 5;

/// How long a stopped daemon gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A program and the Debian package that ships it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Program {
    /// Its name, e.g. `nginx`.
    pub name: &'static str,
    /// The package, e.g. `nginx-light`.
    pub package: &'static str,
}

impl Program {
    /// `explicit` when given (it must exist), else the program on `PATH`,
    /// then in `/usr/sbin`, `/usr/bin`, `/sbin`, `/bin` (daemons live in
    /// `sbin`, which is often not on a user's `PATH`).
    pub fn locate(self, explicit: Option<&Path>) -> Result<PathBuf, Error> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        if let Some(path) = explicit {
            if path.is_file() {
                return Ok(path.to_owned());
            }
            return Err(Error::Missing {
                program: self.name,
                package: self.package,
                looked_in: vec![path.to_owned()],
            });
        }
        if let Some(path) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&path));
        }
        for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
            let dir = PathBuf::from(dir);
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs.iter()
            .map(|d| d.join(self.name))
            .find(|p| p.is_file())
            .ok_or(Error::Missing {
                program: self.name,
                package: self.package,
                looked_in: dirs,
            })
    }
}

/// A port on `ip` that was free a moment ago: bind port 0, read the port,
/// close. Another process may take it before the daemon binds it; callers
/// retry through [`with_free_port`].
pub(crate) fn free_port(ip: IpAddr) -> Result<u16, Error> {
    let listener = TcpListener::bind((ip, 0))
        .map_err(|e| Error::io(format!("binding {ip} port 0 to find a free port"), e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::io("reading the port picked", e))
}

/// Calls `start` with fresh ports until it does not fail with
/// [`Error::PortInUse`], at most `attempts` times.
pub(crate) fn retry_port_races<T>(
    attempts: usize,
    mut pick: impl FnMut() -> Result<u16, Error>,
    mut start: impl FnMut(u16) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut last = None;
    for _ in 0..attempts.max(1) {
        let port = pick()?;
        match start(port) {
            Err(Error::PortInUse { program, .. }) => last = Some(program),
            other => return other,
        }
    }
    Err(Error::PortInUse {
        program: last.unwrap_or("daemon"),
        attempts: attempts.max(1),
    })
}

/// [`retry_port_races`] with ports from [`free_port`] on `ip`.
pub(crate) fn with_free_port<T>(
    ip: IpAddr,
    start: impl FnMut(u16) -> Result<T, Error>,
) -> Result<T, Error> {
    retry_port_races(PORT_ATTEMPTS, || free_port(ip), start)
}

/// What to run and how to tell that it is up.
pub(crate) struct Launch<'a> {
    /// Which program (for messages).
    pub program: Program,
    /// Its binary.
    pub path: &'a Path,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Where its standard output and error go (`None`: discarded).
    pub output: Option<&'a Path>,
    /// The address it will listen on.
    pub addr: SocketAddr,
    /// Its log files, read for messages when it fails.
    pub logs: Vec<PathBuf>,
    /// An extra readiness condition (e.g. a pid file that proves the
    /// daemon itself bound the port).
    pub ready: &'a dyn Fn() -> bool,
    /// Also require that the address accepts a connection. Off for a
    /// daemon whose log would record the probe as a client.
    pub probe: bool,
}

/// A running daemon, stopped when dropped.
#[derive(Debug)]
pub(crate) struct Running {
    child: Child,
    program: &'static str,
}

impl Running {
    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        stop(&mut self.child, self.program);
    }
}

/// SIGTERM (nginx's master then stops its workers), SIGKILL after
/// [`STOP_GRACE`].
fn stop(child: &mut Child, _program: &str) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    let _ = kill(pid, Signal::SIGTERM);
    let started = Instant::now();
    while started.elapsed() < STOP_GRACE {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The last lines of `logs`, for messages.
pub(crate) fn log_tail(logs: &[PathBuf]) -> String {
    let mut out = String::new();
    for path in logs {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(15);
        if lines.is_empty() {
            continue;
        }
        out.push_str(&format!("--- {}\n", path.display()));
        for line in &lines[start..] {
            out.push_str(line);
            out.push('\n');
        }
    }
    if out.is_empty() {
        out.push_str("(no log output)\n");
    }
    out
}

/// Whether a log says the listening address was taken.
pub(crate) fn says_address_in_use(log: &str) -> bool {
    let log = log.to_ascii_lowercase();
    log.contains("address already in use") || log.contains("address in use")
}

/// Spawns the daemon and waits until it accepts connections on its
/// address (and `ready` holds). A daemon that ends first with a log saying
/// its address is in use is [`Error::PortInUse`], so the caller retries on
/// another port.
pub(crate) fn launch(launch: Launch<'_>) -> Result<Running, Error> {
    let name = launch.program.name;
    let mut command = Command::new(launch.path);
    command.args(&launch.args).stdin(Stdio::null());
    match launch.output {
        Some(path) => {
            let out = std::fs::File::create(path)
                .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
            let err = out
                .try_clone()
                .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
            command.stdout(out).stderr(err);
        }
        None => {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    let child = command
        .spawn()
        .map_err(|e| Error::io(format!("starting {}", launch.path.display()), e))?;
    let mut running = Running {
        child,
        program: name,
    };
    let mut logs = launch.logs.clone();
    if let Some(path) = launch.output {
        logs.push(path.to_owned());
    }
    let started = Instant::now();
    loop {
        if let Some(status) = running
            .child
            .try_wait()
            .map_err(|e| Error::io(format!("waiting for {name}"), e))?
        {
            let log = log_tail(&logs);
            if says_address_in_use(&log) {
                return Err(Error::PortInUse {
                    program: name,
                    attempts: 1,
                });
            }
            return Err(Error::Exited {
                program: name,
                status: status.to_string(),
                log,
            });
        }
        let accepts = || {
            !launch.probe
                || TcpStream::connect_timeout(&launch.addr, Duration::from_millis(200)).is_ok()
        };
        if (launch.ready)() && accepts() {
            // Still ours: a daemon that lost the port exits instead.
            if matches!(running.child.try_wait(), Ok(None)) {
                return Ok(running);
            }
            continue;
        }
        if started.elapsed() > STARTUP_LIMIT {
            return Err(Error::NotReady {
                program: name,
                log: log_tail(&logs),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A fresh temporary directory for one daemon, under `parent` when given.
pub(crate) fn temp_dir(prefix: &str, parent: Option<&Path>) -> Result<tempfile::TempDir, Error> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    match parent {
        Some(dir) => builder.tempdir_in(dir),
        None => builder.tempdir(),
    }
    .map_err(|e| Error::io("creating a temporary directory", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const NGINX: Program = Program {
        name: "nginx",
        package: "nginx-light",
    };

    #[test]
    fn a_missing_program_names_its_package() {
        let err = Program {
            name: "parget-no-such-daemon",
            package: "parget-no-such-package",
        }
        .locate(None)
        .unwrap_err();
        assert!(err.is_missing());
        let text = err.to_string();
        assert!(
            text.contains("parget-no-such-daemon is not installed"),
            "{text}"
        );
        assert!(
            text.contains("apt-get install parget-no-such-package"),
            "{text}"
        );
        assert!(text.contains("/usr/sbin"), "{text}");
        let err = NGINX
            .locate(Some(Path::new("/nonexistent/nginx")))
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/nginx"), "{err}");
        assert!(err.to_string().contains("nginx-light"), "{err}");
    }

    #[test]
    fn port_races_are_retried_on_fresh_ports() {
        let mut ports = 40_000..;
        let mut tried = Vec::new();
        let result = retry_port_races(
            5,
            || Ok(ports.next().unwrap()),
            |port| {
                tried.push(port);
                if tried.len() < 3 {
                    Err(Error::PortInUse {
                        program: "nginx",
                        attempts: 1,
                    })
                } else {
                    Ok(port)
                }
            },
        );
        assert_eq!(result.unwrap(), 40_002);
        assert_eq!(tried, [40_000, 40_001, 40_002]);

        let err = retry_port_races(
            3,
            || Ok(1),
            |_| -> Result<(), Error> {
                Err(Error::PortInUse {
                    program: "tinyproxy",
                    attempts: 1,
                })
            },
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::PortInUse {
                    program: "tinyproxy",
                    attempts: 3
                }
            ),
            "{err:?}"
        );
        // Other failures are not retried.
        let mut calls = 0;
        let err = retry_port_races(
            3,
            || Ok(1),
            |_| -> Result<(), Error> {
                calls += 1;
                Err(Error::Config("bad".into()))
            },
        )
        .unwrap_err();
        assert_eq!(calls, 1);
        assert!(matches!(err, Error::Config(_)));
    }

    #[test]
    fn free_ports_are_bindable() {
        let port = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }

    #[test]
    fn address_in_use_is_recognised_in_each_daemon_s_words() {
        assert!(says_address_in_use(
            "nginx: [emerg] bind() to 127.0.0.1:80 failed (98: Address already in use)"
        ));
        assert!(says_address_in_use("bind: Address in use"));
        assert!(!says_address_in_use("permission denied"));
    }

    #[test]
    fn a_daemon_that_exits_at_once_is_reported_with_its_log() {
        let dir = temp_dir("parget-process-", None).unwrap();
        let out = dir.path().join("out.log");
        let err = launch(Launch {
            program: Program {
                name: "sh",
                package: "dash",
            },
            path: Path::new("/bin/sh"),
            args: vec!["-c".into(), "echo config broken; exit 3".into()],
            output: Some(&out),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 9)),
            logs: Vec::new(),
            ready: &|| true,
            probe: true,
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Exited { .. }), "{err:?}");
        assert!(text.contains("config broken"), "{text}");
        assert!(text.contains("exit status: 3"), "{text}");

        let err = launch(Launch {
            program: Program {
                name: "sh",
                package: "dash",
            },
            path: Path::new("/bin/sh"),
            args: vec![
                "-c".into(),
                "echo 'bind: Address in use' >&2; exit 1".into(),
            ],
            output: Some(&out),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 9)),
            logs: Vec::new(),
            ready: &|| true,
            probe: true,
        })
        .unwrap_err();
        assert!(matches!(err, Error::PortInUse { .. }), "{err:?}");
    }
}
