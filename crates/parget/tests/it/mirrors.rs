//! Mirrors that fail are dropped and the download goes on from the others:
//! an error status, a refused connection, a reset, a corrupt file.

use parget::Request;
use parget_testbed::{ServerConfig, TestServer};

use crate::util::{assert_failed, assert_file, content, fast, sha256};

const LEN: u64 = 300_000;

async fn server() -> TestServer {
    TestServer::start(ServerConfig::default()).await.unwrap()
}

/// A port nothing listens on.
fn refused_url(path: &str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}{path}")
}

#[tokio::test]
async fn a_mirror_answering_404_is_dropped_for_the_next() {
    let (bad, good) = (server().await, server().await);
    let dir = tempfile::tempdir().unwrap();
    let path = format!("/m/f.bin?size={LEN}");
    let request = Request::new(
        &bad.url(&format!("/m/f.bin?size={LEN}&status=404")),
        dir.path().join("f"),
    )
    .unwrap()
    .with_mirror(&good.url(&path))
    .unwrap();
    let report = fast().build().unwrap().download(request).await;
    assert_file(&report, &content("/m/f.bin", LEN));
    assert_eq!(
        report.final_url().map(url::Url::as_str),
        Some(good.url(&path).as_str())
    );
    assert_eq!(bad.stats().requests, 1, "the 404 was not retried");
}

#[tokio::test]
async fn a_refused_connection_and_a_reset_move_on_to_the_next_mirror() {
    let (resets, good) = (server().await, server().await);
    let dir = tempfile::tempdir().unwrap();
    let path = format!("/m/g.bin?size={LEN}");
    let request = Request::new(&refused_url(&path), dir.path().join("g"))
        .unwrap()
        .with_mirror(&resets.url(&format!(
            "/m/g.bin?size={LEN}&reset_after=1000&fault_count=all"
        )))
        .unwrap()
        .with_mirror(&good.url(&path))
        .unwrap()
        .with_digest(sha256(&content("/m/g.bin", LEN)));
    let report = fast().build().unwrap().download(request).await;
    assert_file(&report, &content("/m/g.bin", LEN));
    assert_eq!(
        resets.stats().requests,
        1,
        "the resetting mirror was dropped"
    );
    assert!(report.attempts() >= 3, "{}", report.attempts());
}

#[tokio::test]
async fn a_corrupt_mirror_is_fetched_again_from_the_next() {
    let (corrupt, good) = (server().await, server().await);
    let dir = tempfile::tempdir().unwrap();
    let expected = content("/m/h.bin", LEN);
    let request = Request::new(
        &corrupt.url(&format!("/m/h.bin?size={LEN}&corrupt=1000")),
        dir.path().join("h"),
    )
    .unwrap()
    .with_mirror(&good.url(&format!("/m/h.bin?size={LEN}")))
    .unwrap()
    .with_digest(sha256(&expected));
    let report = fast().build().unwrap().download(request).await;
    assert_file(&report, &expected);
    assert_eq!(corrupt.stats().requests, 1);
    assert_eq!(good.stats().requests, 1);
}

#[tokio::test]
async fn when_every_mirror_fails_the_last_error_is_reported() {
    let (a, b) = (server().await, server().await);
    let dir = tempfile::tempdir().unwrap();
    let request = Request::new(&a.url("/m/x?status=404"), dir.path().join("x"))
        .unwrap()
        .with_mirror(&b.url("/m/x?status=410"))
        .unwrap();
    let report = fast().build().unwrap().download(request).await;
    assert_eq!(assert_failed(&report).status(), Some(410));
}

/// Past the size gathered in memory, the corrupt bytes are in `NAME.part`
/// when the digest fails: the next mirror writes a fresh part file, which
/// is what lands (not the removed one's descriptor, nor another's file).
#[tokio::test]
async fn a_corrupt_mirror_of_a_large_file_is_fetched_again_from_the_next() {
    const BIG: u64 = 3 * 1024 * 1024;
    let (corrupt, good) = (server().await, server().await);
    let dir = tempfile::tempdir().unwrap();
    let expected = content("/m/big.bin", BIG);
    let request = Request::new(
        &corrupt.url(&format!("/m/big.bin?size={BIG}&corrupt=2000000")),
        dir.path().join("big"),
    )
    .unwrap()
    .with_mirror(&good.url(&format!("/m/big.bin?size={BIG}")))
    .unwrap()
    .with_digest(sha256(&expected));
    let report = fast().split(1).build().unwrap().download(request).await;
    assert_file(&report, &expected);
    assert!(!dir.path().join("big.part").exists());
    assert_eq!(good.stats().requests, 1);
}
