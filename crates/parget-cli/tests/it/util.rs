//! Shared helpers: a test server on a background runtime, a sandbox
//! directory, and a runner for the `parget` binary that prints everything
//! about a run when an assertion about it fails.

use std::ffi::OsString;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use parget_testbed::{ServerConfig, TestServer};
use sha2::Digest as _;

/// The built binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_parget");

/// The longest a single run may take before it is killed as hung.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// A [`TestServer`] together with the runtime it runs on. Dereferences to
/// the server.
pub struct Server {
    // Declared first: dropped (stopped) before the runtime.
    server: TestServer,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    /// A plain HTTP server with the default configuration.
    pub fn start() -> Server {
        Server::with(ServerConfig::default())
    }

    /// A server with `config`.
    pub fn with(config: ServerConfig) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let server = runtime
            .block_on(TestServer::start(config))
            .expect("the test server starts");
        Server {
            server,
            _runtime: runtime,
        }
    }
}

impl std::ops::Deref for Server {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.server
    }
}

/// The bytes the server sends for `path` (as sent, query excluded) at `len`.
pub fn content(path: &str, len: u64) -> Vec<u8> {
    parget_testbed::content(path, len)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `bytes`, hex.
pub fn sha256(bytes: &[u8]) -> String {
    hex(&sha2::Sha256::digest(bytes))
}

/// SHA-512 of `bytes`, hex.
pub fn sha512(bytes: &[u8]) -> String {
    hex(&sha2::Sha512::digest(bytes))
}

/// SHA-1 of `bytes`, hex.
pub fn sha1(bytes: &[u8]) -> String {
    hex(&sha1::Sha1::digest(bytes))
}

/// MD5 of `bytes`, hex.
pub fn md5(bytes: &[u8]) -> String {
    hex(&md5::Md5::digest(bytes))
}

/// A temporary directory that a run works in (its current directory).
pub struct Sandbox {
    tmp: tempfile::TempDir,
}

impl Sandbox {
    /// A new empty sandbox.
    pub fn new() -> Sandbox {
        Sandbox {
            tmp: tempfile::Builder::new()
                .prefix("parget-it-")
                .tempdir()
                .expect("a temporary directory"),
        }
    }

    /// The sandbox directory.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// `rel` inside the sandbox.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// Writes `bytes` to `rel` (parents created); returns the full path.
    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, bytes).expect("write file");
        path
    }

    /// The bytes of `rel`, `None` when it does not exist.
    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        std::fs::read(self.join(rel)).ok()
    }

    /// Whether `rel` exists (as anything).
    pub fn exists(&self, rel: &str) -> bool {
        self.join(rel).symlink_metadata().is_ok()
    }

    /// Every file below the sandbox, as sorted relative paths with `/`.
    pub fn files(&self) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    let rel = path.strip_prefix(root).expect("below root");
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.path(), self.path(), &mut out);
        out.sort();
        out
    }

    /// A command for the binary in the sandbox, with fast retry defaults
    /// unless `args` set them.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.path())
            .args(args)
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .env_remove("no_proxy")
            .env("NO_PROXY", "*")
            // ~/.netrc is read by default: the sandbox is the home.
            .env("HOME", self.path());
        let has = |flag: &str| args.contains(&flag);
        if !has("--retry-wait") {
            cmd.args(["--retry-wait", "0.05"]);
        }
        if !has("--timeout") {
            cmd.args(["--timeout", "5"]);
        }
        if !has("--connect-timeout") {
            cmd.args(["--connect-timeout", "5"]);
        }
        cmd
    }

    /// Runs the binary with `args`, no standard input.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    /// Runs the binary with `args` and `stdin` piped in.
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        self.run_with_stdin(args, Some(stdin.as_bytes().to_vec()))
    }

    fn run_with_stdin(&self, args: &[&str], stdin: Option<Vec<u8>>) -> Run {
        let mut cmd = self.command(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let started = Instant::now();
        let mut child = Spawned::spawn(cmd);
        if let Some(bytes) = stdin {
            let mut pipe = child.child.stdin.take().expect("stdin piped");
            std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
        child.wait(started)
    }
}

/// A spawned binary whose output is collected on threads.
pub struct Spawned {
    /// The process.
    pub child: Child,
    cmdline: String,
    stdout: std::thread::JoinHandle<Vec<u8>>,
    stderr: std::thread::JoinHandle<Vec<u8>>,
}

impl Spawned {
    /// Spawns `cmd` with stdout and stderr piped (stdin as `cmd` says).
    pub fn spawn(mut cmd: Command) -> Spawned {
        let cmdline = command_line(&cmd);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmdline}: {e}"));
        let mut out = child.stdout.take().expect("stdout piped");
        let mut err = child.stderr.take().expect("stderr piped");
        let stdout = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.read_to_end(&mut buf);
            buf
        });
        let stderr = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf);
            buf
        });
        Spawned {
            child,
            cmdline,
            stdout,
            stderr,
        }
    }

    /// Waits for the end (killing the process after [`RUN_LIMIT`]).
    pub fn wait(mut self, started: Instant) -> Run {
        let mut killed = false;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if started.elapsed() > RUN_LIMIT && !killed {
                let _ = self.child.kill();
                killed = true;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let elapsed = started.elapsed();
        let stdout = self.stdout.join().expect("stdout reader");
        let stderr = self.stderr.join().expect("stderr reader");
        let run = Run {
            cmdline: self.cmdline,
            status,
            elapsed,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        };
        assert!(!killed, "the run was killed after {RUN_LIMIT:?}\n{run}");
        run
    }
}

fn command_line(cmd: &Command) -> String {
    let mut parts: Vec<OsString> = vec![cmd.get_program().to_owned()];
    parts.extend(cmd.get_args().map(ToOwned::to_owned));
    parts
        .iter()
        .map(|p| {
            let s = p.to_string_lossy();
            if s.contains([' ', '\'', '"', '&', '?', '#']) || s.is_empty() {
                format!("'{}'", s.replace('\'', r"'\''"))
            } else {
                s.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A finished run.
pub struct Run {
    /// The command line, shell-quoted.
    pub cmdline: String,
    /// How it ended.
    pub status: ExitStatus,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\n\n==== command ====\n{}\n==== status ====\n{} (after {:.2} s)\n\
             ==== stdout ====\n{}\n==== stderr ====\n{}\n=================\n",
            self.cmdline,
            self.status,
            self.elapsed.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }
}

impl Run {
    /// The exit code (`None` when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(self.code(), Some(code), "unexpected exit status{self}");
        self.assert_no_panic()
    }

    /// Asserts success (exit 0).
    #[track_caller]
    pub fn success(&self) -> &Run {
        self.assert_code(0)
    }

    /// Asserts exit 1 (some download failed).
    #[track_caller]
    pub fn failure(&self) -> &Run {
        self.assert_code(1)
    }

    /// Asserts that the binary did not panic.
    #[track_caller]
    pub fn assert_no_panic(&self) -> &Run {
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "the binary panicked{self}"
        );
        self
    }

    /// Asserts that standard error contains every one of `needles`.
    #[track_caller]
    pub fn stderr_has(&self, needles: &[&str]) -> &Run {
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "stderr lacks {needle:?}{self}"
            );
        }
        self
    }

    /// Asserts a condition about the run, printing it on failure.
    #[track_caller]
    pub fn check(&self, condition: bool, what: &str) -> &Run {
        assert!(condition, "{what}{self}");
        self
    }

    /// The `--json` objects on standard output.
    #[track_caller]
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("stdout line {l:?} is not JSON: {e}{self}"))
            })
            .collect()
    }

    /// The single `--json` object on standard output.
    #[track_caller]
    pub fn json_one(&self) -> serde_json::Value {
        let mut all = self.json();
        assert_eq!(all.len(), 1, "expected one JSON object{self}");
        all.pop().expect("one")
    }

    /// The `--json` object whose url ends with `suffix`.
    #[track_caller]
    pub fn json_for(&self, url_suffix: &str) -> serde_json::Value {
        let matching: Vec<_> = self
            .json()
            .into_iter()
            .filter(|j| j["url"].as_str().is_some_and(|u| u.ends_with(url_suffix)))
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "expected one JSON object for {url_suffix}{self}"
        );
        matching.into_iter().next().expect("one")
    }
}

/// Asserts that the file at `path` holds exactly `expected`.
#[track_caller]
pub fn assert_file(run: &Run, path: &Path, expected: &[u8]) {
    match std::fs::read(path) {
        Ok(actual) => {
            if actual != expected {
                let first_diff = actual
                    .iter()
                    .zip(expected)
                    .position(|(a, b)| a != b)
                    .unwrap_or(actual.len().min(expected.len()));
                panic!(
                    "{} differs: {} bytes (want {}), first difference at byte {first_diff}{run}",
                    path.display(),
                    actual.len(),
                    expected.len()
                );
            }
        }
        Err(e) => panic!("cannot read {}: {e}{run}", path.display()),
    }
}

/// Asserts that nothing exists at `path`.
#[track_caller]
pub fn assert_absent(run: &Run, path: &Path) {
    assert!(
        path.symlink_metadata().is_err(),
        "{} exists but must not{run}",
        path.display()
    );
}

/// `path` with `suffix` appended to its file name (`NAME.part`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Polls `condition` every 10 ms for at most `limit`; whether it held.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    condition()
}

/// The record lines of the control file beside `destination`'s part file,
/// as `(offset, len, crc)`, read as the README documents the format: a
/// line whose own checksum fails is left out.
pub fn control_records(destination: &Path) -> Vec<(u64, u64, u32)> {
    try_control_records(destination)
        .unwrap_or_else(|| panic!("no readable control file beside {}", destination.display()))
}

/// [`control_records`], or `None` while there is no control file with a
/// readable header.
pub fn try_control_records(destination: &Path) -> Option<Vec<(u64, u64, u32)>> {
    let text = std::fs::read(with_suffix(destination, ".part.parget")).ok()?;
    let mut lines = text.split(|&b| b == b'\n');
    let header: serde_json::Value = serde_json::from_slice(lines.next()?).ok()?;
    assert!(
        header["url"].is_string(),
        "a header names its URL: {header}"
    );
    let records = lines
        .filter(|line| {
            line.len() == 43
                && std::str::from_utf8(&line[35..])
                    .ok()
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    == Some(crc32c::crc32c(&line[..35]))
        })
        .map(|line| {
            let field = |range: std::ops::Range<usize>| {
                u64::from_str_radix(std::str::from_utf8(&line[range]).unwrap(), 16).unwrap()
            };
            (field(0..16), field(17..25), field(26..34) as u32)
        })
        .collect();
    Some(records)
}

/// The bytes the control file beside `destination`'s part file records
/// (0 while there is none).
pub fn recorded_bytes(destination: &Path) -> u64 {
    try_control_records(destination).map_or(0, |records| covered(&records))
}

/// The bytes the union of `records` covers.
pub fn covered(records: &[(u64, u64, u32)]) -> u64 {
    let mut ranges: Vec<(u64, u64)> = records.iter().map(|r| (r.0, r.0 + r.1)).collect();
    ranges.sort_unstable();
    let (mut total, mut end) = (0, 0);
    for (start, stop) in ranges {
        let start = start.max(end);
        if stop > start {
            total += stop - start;
            end = stop;
        }
    }
    total
}

/// Asserts that every range the control file beside `destination`'s part
/// file records holds `expected`'s bytes there (records never claim bytes
/// that were not written); returns the bytes they cover.
#[track_caller]
pub fn records_hold(run: &Run, destination: &Path, expected: &[u8]) -> u64 {
    let part = std::fs::read(with_suffix(destination, ".part"))
        .unwrap_or_else(|e| panic!("no .part beside {}: {e}{run}", destination.display()));
    let records = control_records(destination);
    for &(offset, len, _) in &records {
        let range = offset as usize..(offset + len) as usize;
        run.check(
            part.get(range.clone()) == expected.get(range.clone()),
            &format!("the recorded range {range:?} holds the served bytes"),
        );
    }
    covered(&records)
}

/// Bytes of `destination`'s part file that hold `expected`'s bytes at
/// their place, counted in whole 4 KiB blocks (a lower bound of what was
/// written: a preallocated file is zeros elsewhere).
pub fn written_blocks(destination: &Path, expected: &[u8]) -> u64 {
    const BLOCK: usize = 4096;
    let part = std::fs::read(with_suffix(destination, ".part")).unwrap_or_default();
    part.chunks(BLOCK)
        .zip(expected.chunks(BLOCK))
        .filter(|(on_disk, want)| on_disk == want && on_disk.len() == BLOCK)
        .count() as u64
        * BLOCK as u64
}

/// Sends the signal `name` (`TERM`, `INT`, `HUP`, `KILL`) to `spawned`.
pub fn send_signal(spawned: &Spawned, name: &str) {
    let pid = spawned.child.id().to_string();
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// Waits until the server has closed every connection: it counts a
/// response's body bytes when the response ends.
pub fn until_connections_close(server: &Server) {
    let closed = wait_until(Duration::from_secs(10), || {
        server.stats().open_connections == 0
    });
    assert!(closed, "the server's connections closed");
}
