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
