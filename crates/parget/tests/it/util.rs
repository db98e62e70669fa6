//! Helpers shared by the engine's integration tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use parget::retry::RetryPolicy;
use parget::{Algorithm, Digest, Downloader, DownloaderBuilder, Report, Request};
use parget_testbed::{ServerConfig, TestServer};

/// A test server and a scratch directory for one test.
pub struct Bed {
    pub server: TestServer,
    pub dir: tempfile::TempDir,
}

impl Bed {
    pub async fn start() -> Bed {
        Bed::with(ServerConfig::default()).await
    }

    pub async fn with(config: ServerConfig) -> Bed {
        Bed {
            server: TestServer::start(config).await.expect("testbed starts"),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A request for `path_and_query` saved as `name`.
    pub fn request(&self, path_and_query: &str, name: &str) -> Request {
        Request::new(&self.server.url(path_and_query), self.path(name)).expect("valid URL")
    }
}

/// A builder with fast retries and short timeouts, for tests. The proxy
/// variables of the environment are ignored: tests talk to loopback.
pub fn fast() -> DownloaderBuilder {
    Downloader::builder()
        .retry_policy(RetryPolicy::new(5, Duration::from_millis(20)))
        .idle_timeout(Duration::from_secs(2))
        .proxy_from_env(false)
}

/// `text` percent-encoded for a query value (`redirect_to=`, `auth=`).
pub fn enc(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The bytes the testbed serves at `path` with `size=len`.
pub fn content(path: &str, len: u64) -> Vec<u8> {
    parget_testbed::content(path, len)
}

pub fn sha256(bytes: &[u8]) -> Digest {
    parget::verify::digest_of(Algorithm::Sha256, bytes)
}

/// Asserts the report is ok and the file holds `expected`.
#[track_caller]
pub fn assert_file(report: &Report, expected: &[u8]) {
    assert!(
        report.is_ok(),
        "download failed: {:?}",
        report.error().map(ToString::to_string)
    );
    let path = report.path().expect("a file destination");
    let got = std::fs::read(path).expect("destination exists");
    assert!(
        got == expected,
        "{} holds {} bytes, expected {}",
        path.display(),
        got.len(),
        expected.len()
    );
    assert!(!part_of(path).exists(), "the .part file is gone");
}

/// Asserts the report failed and nothing is at its destination.
#[track_caller]
pub fn assert_failed(report: &Report) -> &parget::Error {
    let error = report
        .error()
        .unwrap_or_else(|| panic!("{} should have failed", report.url()));
    assert!(
        !report.path().expect("a file destination").exists(),
        "nothing may be at the destination after: {error}"
    );
    error
}

pub fn part_of(destination: &Path) -> PathBuf {
    let mut name = destination.file_name().unwrap().to_os_string();
    name.push(".part");
    destination.with_file_name(name)
}

/// The control file beside `destination`'s part file: its JSON header and
/// its record lines as `(offset, len, crc)`, read as the README documents
/// the format (a line whose own checksum fails is left out).
pub fn control_of(destination: &Path) -> (serde_json::Value, Vec<(u64, u64, u32)>) {
    let mut name = destination.file_name().unwrap().to_os_string();
    name.push(".part.parget");
    let text = std::fs::read(destination.with_file_name(name)).expect("a control file");
    let mut lines = text.split(|&b| b == b'\n');
    let header = serde_json::from_slice(lines.next().unwrap()).expect("a JSON header");
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
    (header, records)
}

/// Bytes the control file beside `destination`'s part file records.
pub fn recorded(destination: &Path) -> u64 {
    control_of(destination).1.iter().map(|r| r.1).sum()
}

/// A record line of the control file for `bytes` written at `offset`.
pub fn record_line(offset: u64, bytes: &[u8]) -> String {
    let head = format!(
        "{offset:016x} {:08x} {:08x} ",
        bytes.len(),
        crc32c::crc32c(bytes)
    );
    format!("{head}{:08x}\n", crc32c::crc32c(head.as_bytes()))
}
