//! Content, headers, ranges, pacing and stats over plain HTTP/1.1.

use std::time::{Duration, Instant};

use parget_testbed::{content, fill, versioned_path, ServerConfig, TestServer, LAST_MODIFIED};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::client::{get, within, Conn};

async fn server() -> TestServer {
    TestServer::start(ServerConfig::default()).await.unwrap()
}

#[tokio::test]
async fn full_get_serves_the_content_with_validators() {
    let server = server().await;
    let r = within(10, get(&server, "/files/a.bin?size=3000000", &[])).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_length(), Some(3_000_000));
    assert_eq!(
        Sha256::digest(&r.body),
        Sha256::digest(content("/files/a.bin", 3_000_000))
    );
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("last-modified"), Some(LAST_MODIFIED));
    let etag = r.header("etag").unwrap();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "{etag}"
    );

    // Same resource, same tag; another size or path, another tag.
    let again = get(&server, "/files/a.bin?size=3000000&cache=bust", &[]).await;
    assert_eq!(again.header("etag"), Some(etag));
    let other = get(&server, "/files/a.bin?size=10", &[]).await;
    assert_ne!(other.header("etag"), Some(etag));
    assert_eq!(other.body, content("/files/a.bin", 10));

    let default = get(&server, "/no/size", &[]).await;
    assert_eq!(
        default.body,
        content("/no/size", parget_testbed::DEFAULT_SIZE)
    );
}

#[tokio::test]
async fn fill_at_an_offset_is_a_slice_of_content() {
    let whole = content("/x/y.bin", 3_000_000);
    for offset in [0u64, 1, 999_999, 1_000_003, 2_345_678] {
        let mut buf = vec![0u8; 300_000.min(3_000_000 - offset as usize)];
        fill("/x/y.bin", offset, &mut buf);
        assert_eq!(buf[..], whole[offset as usize..offset as usize + buf.len()]);
    }
    let mut base = [0u8; 2048];
    fill("/x/y.bin", 0, &mut base);
    for k in 10..=30 {
        let mut shifted = [0u8; 2048];
        fill("/x/y.bin", 1 << k, &mut shifted);
        let same = base.iter().zip(&shifted).filter(|(a, b)| a == b).count();
        assert!(same < 60, "period 2^{k}? {same} equal bytes");
    }
    assert_ne!(content("/x/y.bin", 64), content("/x/z.bin", 64));
}

#[tokio::test]
async fn head_sends_headers_only_and_keep_alive_works() {
    let server = server().await;
    let mut conn = Conn::open(&server).await;
    let head = conn.request("HEAD", "/h.bin?size=5000", &[]).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), Some(5000));
    assert!(head.header("etag").is_some());
    // Had the HEAD carried a body, this response would not parse.
    let body = conn.request("GET", "/h.bin?size=5000", &[]).await;
    assert_eq!(body.body, content("/h.bin", 5000));
    assert_eq!(body.header("etag"), head.header("etag"));
    let third = conn.request("GET", "/h.bin?size=7", &[]).await;
    assert_eq!(third.body.len(), 7);

    let stats = server.stats();
    assert_eq!(stats.connections, 1);
    assert_eq!(stats.requests, 3);
    assert_eq!(stats.head_requests, 1);
    assert_eq!(stats.http1_requests, 3);
    assert_eq!(stats.requests_for("/h.bin"), 3);
    assert_eq!(stats.body_bytes_for("/h.bin"), 5007);
    assert_eq!(stats.body_bytes, 5007);
    server.reset_stats();
    assert_eq!(server.stats().requests, 0);
}

#[tokio::test]
async fn ranges_in_all_three_forms_and_416() {
    let server = server().await;
    let full = content("/r.bin", 10_000);
    let mut conn = Conn::open(&server).await;

    let r = conn
        .request("GET", "/r.bin?size=10000", &["Range: bytes=100-199"])
        .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 100-199/10000"));
    assert_eq!(r.body, full[100..200]);

    let r = conn
        .request("GET", "/r.bin?size=10000", &["Range: bytes=9000-"])
        .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 9000-9999/10000"));
    assert_eq!(r.body, full[9000..]);

    let r = conn
        .request("GET", "/r.bin?size=10000", &["Range: bytes=-300"])
        .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 9700-9999/10000"));
    assert_eq!(r.body, full[9700..]);

    let r = conn
        .request("GET", "/r.bin?size=10000", &["Range: bytes=9990-20000"])
        .await;
    assert_eq!(r.header("content-range"), Some("bytes 9990-9999/10000"));
    assert_eq!(r.body, full[9990..]);

    let r = conn
        .request("GET", "/r.bin?size=10000", &["Range: bytes=10000-"])
        .await;
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */10000"));

    // Several ranges: documented as a full 200.
    let r = conn
        .request("GET", "/r.bin?size=10000", &["Range: bytes=0-1,5-6"])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, full);

    // ranges=0: no ranges, no Accept-Ranges.
    let r = conn
        .request("GET", "/r.bin?size=10000&ranges=0", &["Range: bytes=0-9"])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("accept-ranges"), None);
    assert_eq!(r.body, full);

    let stats = server.stats();
    assert_eq!(stats.range_requests_for("/r.bin"), 7);
}

#[tokio::test]
async fn if_range_mismatch_gives_the_full_body() {
    let server = server().await;
    let mut conn = Conn::open(&server).await;
    let etag = conn
        .request("HEAD", "/ir.bin?size=1000", &[])
        .await
        .header("etag")
        .unwrap()
        .to_owned();

    let matching = format!("If-Range: {etag}");
    let r = conn
        .request(
            "GET",
            "/ir.bin?size=1000",
            &["Range: bytes=10-19", &matching],
        )
        .await;
    assert_eq!(r.status, 206);

    let r = conn
        .request(
            "GET",
            "/ir.bin?size=1000",
            &["Range: bytes=10-19", "If-Range: \"stale\""],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, content("/ir.bin", 1000));

    let by_date = format!("If-Range: {LAST_MODIFIED}");
    let r = conn
        .request(
            "GET",
            "/ir.bin?size=1000",
            &["Range: bytes=10-19", &by_date],
        )
        .await;
    assert_eq!(r.status, 206);
    let r = conn
        .request(
            "GET",
            "/ir.bin?size=1000",
            &[
                "Range: bytes=10-19",
                "If-Range: Tue, 01 Jan 2030 00:00:00 GMT",
            ],
        )
        .await;
    assert_eq!(r.status, 200);

    // etag= changes the validator, not the bytes.
    let r = conn
        .request(
            "GET",
            "/ir.bin?size=1000&etag=v2",
            &["Range: bytes=10-19", &matching],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag"), Some("\"v2\""));
    assert_eq!(r.body, content("/ir.bin", 1000));
}

#[tokio::test]
async fn version_changes_bytes_and_etag() {
    let server = server().await;
    let v1 = get(&server, "/v.bin?size=500&version=1", &[]).await;
    let v2 = get(&server, "/v.bin?size=500&version=2", &[]).await;
    assert_eq!(v1.body, content(&versioned_path("/v.bin", "1"), 500));
    assert_eq!(v2.body, content(&versioned_path("/v.bin", "2"), 500));
    assert_ne!(v1.body, v2.body);
    assert_ne!(v1.header("etag"), v2.header("etag"));
}

#[tokio::test]
async fn range_change_serves_ranges_of_another_version_whatever_if_range_says() {
    let server = server().await;
    let path = "/rc.bin?size=1000&range_change=";
    let changed = content(&versioned_path("/rc.bin", "range-changed"), 1000);
    for kind in ["version", "date", "weak", "none"] {
        let url = format!("{path}{kind}");
        let full = get(&server, &url, &[]).await;
        assert_eq!(full.status, 200);
        assert_eq!(full.body, content("/rc.bin", 1000), "{kind}");
        let if_range = format!(
            "If-Range: {}",
            full.header("etag")
                .or(full.header("last-modified"))
                .unwrap()
        );
        let part = get(&server, &url, &["Range: bytes=10-19", &if_range]).await;
        assert_eq!(part.status, 206, "{kind}");
        assert_eq!(part.body, changed[10..20], "{kind}");
        let (etag, date) = (part.header("etag"), part.header("last-modified"));
        match kind {
            "version" => {
                assert!(etag.is_some() && etag != full.header("etag"));
            }
            "date" => {
                assert_eq!((full.header("etag"), etag), (None, None));
                assert!(date.is_some() && date != full.header("last-modified"));
            }
            "weak" => assert_eq!(
                etag,
                Some(format!("W/{}", full.header("etag").unwrap()).as_str())
            ),
            _ => assert_eq!((etag, date), (None, None)),
        }
    }
    assert_eq!(get(&server, &format!("{path}other"), &[]).await.status, 400);
}

#[tokio::test]
async fn config_without_ranges_ignores_range() {
    let server = TestServer::start(ServerConfig {
        ranges: false,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let r = get(&server, "/nr.bin?size=100", &["Range: bytes=0-9"]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("accept-ranges"), None);
    assert_eq!(r.body.len(), 100);
}

#[tokio::test]
async fn rate_cap_and_latency_are_respected() {
    let server = server().await;
    let started = Instant::now();
    let r = within(10, get(&server, "/slow.bin?size=60000&rate=100000", &[])).await;
    assert_eq!(r.body, content("/slow.bin", 60_000));
    // 60 kB at 100 kB/s is 0.6 s minus one 2 kB slice.
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let r = get(&server, "/late.bin?size=10&latency_ms=200", &[]).await;
    assert_eq!(r.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(195));

    let capped = TestServer::start(ServerConfig {
        rate_per_connection: Some(200_000),
        latency: Duration::from_millis(100),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let started = Instant::now();
    let r = within(10, get(&capped, "/c.bin?size=100000", &[])).await;
    assert_eq!(r.body.len(), 100_000);
    // 100 ms latency + (100 kB - 4 kB) / 200 kB/s.
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn bad_requests_get_400_and_a_close() {
    let server = server().await;
    for garbage in [
        &b"NONSENSE\r\n\r\n"[..],
        b"GET /x HTTP/9.9\r\n\r\n",
        b"GET /x HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n",
    ] {
        let mut conn = Conn::new(TcpStream::connect(server.addr()).await.unwrap());
        conn.io.write_all(garbage).await.unwrap();
        let r = within(5, conn.read_head()).await.unwrap();
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(garbage));
        assert_eq!(r.header("connection"), Some("close"));
        let (_, err) = within(5, conn.read_to_end()).await;
        assert!(err.is_none());
    }

    let mut conn = Conn::open(&server).await;
    let huge = format!("X-Big: {}", "a".repeat(70_000));
    conn.send("GET", "/x", &[&huge]).await;
    assert_eq!(within(5, conn.read_head()).await.unwrap().status, 431);

    // Hostile numbers in a Range are just unsatisfiable.
    let r = get(
        &server,
        "/x?size=10",
        &["Range: bytes=99999999999999999999999-"],
    )
    .await;
    assert_eq!(r.status, 416);
    let r = get(&server, "/x?size=abc", &[]).await;
    assert_eq!(r.status, 400);
    let r = Conn::open(&server).await.request("DELETE", "/x", &[]).await;
    assert_eq!(r.status, 405);

    // The server survived all of it.
    assert_eq!(get(&server, "/x?size=3", &[]).await.body, content("/x", 3));
}

#[tokio::test]
async fn connection_close_and_http10_are_honoured() {
    let server = server().await;
    let mut conn = Conn::open(&server).await;
    let r = conn
        .request("GET", "/c?size=10", &["Connection: close"])
        .await;
    assert_eq!(r.header("connection"), Some("close"));
    let (rest, err) = within(5, conn.read_to_end()).await;
    assert!(rest.is_empty() && err.is_none());

    let mut conn = Conn::open(&server).await;
    conn.io
        .write_all(b"GET /c?size=10 HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let r = conn.response(false).await;
    assert_eq!(r.body, content("/c", 10));
    let (rest, err) = within(5, conn.read_to_end()).await;
    assert!(rest.is_empty() && err.is_none());
}

#[tokio::test]
async fn dropping_the_server_closes_connections() {
    let server = server().await;
    let addr = server.addr();
    let mut idle = Conn::open(&server).await;
    let mut stalled = Conn::open(&server).await;
    stalled.send("GET", "/s?size=100&stall_after=10", &[]).await;
    stalled.read_head().await.unwrap();
    assert_eq!(idle.request("GET", "/i?size=1", &[]).await.status, 200);
    drop(server);
    let (_, _) = within(5, idle.read_to_end()).await;
    let (body, _) = within(5, stalled.read_to_end()).await;
    assert_eq!(body.len(), 10);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(TcpStream::connect(addr).await.is_err());
}
