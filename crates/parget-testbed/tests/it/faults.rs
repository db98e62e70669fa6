//! Misbehaviour on demand: failures, resets, truncation, stalls, lies.

use std::io::ErrorKind;
use std::time::Duration;

use parget_testbed::{content, ServerConfig, TestServer};

use crate::client::{get, within, Conn};

async fn server() -> TestServer {
    TestServer::start(ServerConfig::default()).await.unwrap()
}

#[tokio::test]
async fn fail_count_then_success() {
    let server = server().await;
    let target = "/f.bin?size=100&fail=503&fail_count=2&retry_after=7";
    let mut conn = Conn::open(&server).await;
    for _ in 0..2 {
        let r = conn.request("GET", target, &[]).await;
        assert_eq!(r.status, 503);
        assert_eq!(r.header("retry-after"), Some("7"));
        assert!(!r.body.is_empty());
    }
    let r = conn.request("GET", target, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, content("/f.bin", 100));

    // The count is per path+query: another query fails afresh.
    let r = get(&server, "/f.bin?size=100&fail=429", &[]).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), None);
    assert_eq!(
        get(&server, "/f.bin?size=100&fail=429", &[]).await.status,
        200
    );

    for _ in 0..3 {
        assert_eq!(
            get(&server, "/f.bin?fail=500&fail_count=all", &[])
                .await
                .status,
            500
        );
    }
    server.reset_faults();
    assert_eq!(
        get(&server, "/f.bin?size=100&fail=429", &[]).await.status,
        429
    );
}

#[tokio::test]
async fn status_serves_an_html_error_page() {
    let server = server().await;
    let r = get(&server, "/missing.bin?status=404", &[]).await;
    assert_eq!(r.status, 404);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(String::from_utf8(r.body).unwrap().contains("404"));
    // Every time, unlike fail.
    assert_eq!(
        get(&server, "/missing.bin?status=404", &[]).await.status,
        404
    );
    assert_eq!(get(&server, "/x?status=99", &[]).await.status, 400);
}

#[tokio::test]
async fn reset_after_sends_a_real_rst() {
    let server = server().await;
    let target = "/reset.bin?size=100000&reset_after=1000";
    let mut conn = Conn::open(&server).await;
    conn.send("GET", target, &[]).await;
    let head = within(5, conn.read_head()).await.unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), Some(100_000));
    let (body, err) = within(5, conn.read_to_end()).await;
    assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::ConnectionReset));
    assert_eq!(body, content("/reset.bin", 1000));

    // fault_count defaults to 1: the retry is served in full.
    let r = get(&server, target, &[]).await;
    assert_eq!(r.body, content("/reset.bin", 100_000));
}

#[tokio::test]
async fn truncate_after_closes_early_with_fin() {
    let server = server().await;
    let target = "/t.bin?size=50000&truncate_after=12345&fault_count=2";
    for _ in 0..2 {
        let mut conn = Conn::open(&server).await;
        conn.send("GET", target, &[]).await;
        let head = within(5, conn.read_head()).await.unwrap();
        assert_eq!(head.content_length(), Some(50_000));
        let (body, err) = within(5, conn.read_to_end()).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(body, content("/t.bin", 12_345));
    }
    assert_eq!(get(&server, target, &[]).await.body.len(), 50_000);
}

#[tokio::test]
async fn stall_after_goes_silent_but_keeps_the_connection() {
    let server = server().await;
    let mut conn = Conn::open(&server).await;
    conn.send("GET", "/st.bin?size=10000&stall_after=100", &[])
        .await;
    let head = within(5, conn.read_head()).await.unwrap();
    assert_eq!(head.content_length(), Some(10_000));
    let body = within(5, conn.read_body(100)).await.unwrap();
    assert_eq!(body, content("/st.bin", 100));
    let more = tokio::time::timeout(Duration::from_millis(400), conn.read_body(1)).await;
    assert!(more.is_err(), "expected silence, got {more:?}");
    assert_eq!(server.stats().open_connections, 1);
    drop(conn);
    // The server notices the client leaving.
    within(5, async {
        while server.stats().open_connections != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn hostile_content_length_is_sent_verbatim() {
    let server = server().await;
    for literal in ["99999999999999999999999", "-5", "abc"] {
        let mut conn = Conn::open(&server).await;
        conn.send(
            "GET",
            &format!("/cl.bin?size=300&content_length={literal}"),
            &[],
        )
        .await;
        let head = within(5, conn.read_head()).await.unwrap();
        assert_eq!(head.header("content-length"), Some(literal));
        let (body, err) = within(5, conn.read_to_end()).await;
        assert!(err.is_none());
        assert_eq!(body, content("/cl.bin", 300));
    }

    let mut conn = Conn::open(&server).await;
    conn.send("GET", "/cl.bin?size=300&extra_length=50", &[])
        .await;
    let head = within(5, conn.read_head()).await.unwrap();
    assert_eq!(head.content_length(), Some(350));
    let (body, _) = within(5, conn.read_to_end()).await;
    assert_eq!(body, content("/cl.bin", 300));
}

#[tokio::test]
async fn redirect_chain_and_redirect_to() {
    let server = server().await;
    let mut url = server.url("/red.bin?size=10&redirect=3&x=1");
    let mut hops = 0;
    let last = loop {
        let target = url.strip_prefix(&server.base_url()).unwrap().to_owned();
        let r = get(&server, &target, &[]).await;
        if r.status != 302 {
            break r;
        }
        hops += 1;
        url = r.header("location").unwrap().to_owned();
        assert!(url.starts_with("http://127.0.0.1"), "{url}");
    };
    assert_eq!(hops, 3);
    assert!(url.ends_with("/red.bin?size=10&redirect=0&x=1"), "{url}");
    assert_eq!(last.body, content("/red.bin", 10));
    assert_eq!(server.stats().requests_for("/red.bin"), 4);

    let r = get(
        &server,
        "/a?redirect_to=%2Fb.bin%3Fsize%3D5&redirect_status=307",
        &[],
    )
    .await;
    assert_eq!(r.status, 307);
    assert_eq!(
        r.header("location"),
        Some(server.url("/b.bin?size=5").as_str())
    );
}

#[tokio::test]
async fn wrong_content_range_and_ignored_range() {
    let server = server().await;
    let full = content("/ro.bin", 1000);
    let target = "/ro.bin?size=1000&range_offset=50";
    let r = get(&server, target, &["Range: bytes=100-199"]).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 150-249/1000"));
    assert_eq!(r.body, full[150..250]);
    let r = get(&server, target, &["Range: bytes=100-199"]).await;
    assert_eq!(r.header("content-range"), Some("bytes 100-199/1000"));
    assert_eq!(r.body, full[100..200]);

    let target = "/ro.bin?size=1000&range_ignore=1&fault_count=all";
    for _ in 0..2 {
        let r = get(&server, target, &["Range: bytes=100-199"]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
        assert_eq!(r.body, full);
    }
}

#[tokio::test]
async fn head_does_not_use_up_a_fault() {
    let server = server().await;
    let target = "/hf.bin?size=1000&truncate_after=10";
    let head = Conn::open(&server).await.request("HEAD", target, &[]).await;
    assert_eq!(head.content_length(), Some(1000));
    let mut conn = Conn::open(&server).await;
    conn.send("GET", target, &[]).await;
    conn.read_head().await.unwrap();
    let (body, _) = within(5, conn.read_to_end()).await;
    assert_eq!(body.len(), 10);
}
