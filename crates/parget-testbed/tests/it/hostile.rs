//! `hostile=KIND`: the bytes on the wire, read with a raw client since a
//! real HTTP client refuses most of them.

use parget_testbed::{content, ServerConfig, TestServer};
use tokio::net::TcpStream;

use crate::client::{http_client, https_builder, raw_exchange, tls_connect, RawResponse};

async fn server() -> TestServer {
    TestServer::start(ServerConfig::default()).await.unwrap()
}

async fn raw(server: &TestServer, target: &str, headers: &[&str]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    raw_exchange(&mut tcp, "GET", target, headers).await
}

async fn parsed(server: &TestServer, target: &str) -> RawResponse {
    RawResponse::parse(&raw(server, target, &[]).await)
}

/// A chunked body: `(size line, data)` pairs up to the end or the first
/// size line that is not hex.
fn chunks(mut body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(i) = body.windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&body[..i]).into_owned();
        body = &body[i + 2..];
        let Ok(n) = usize::from_str_radix(&line, 16) else {
            out.push((line, body.to_vec()));
            break;
        };
        let take = n.min(body.len());
        out.push((line, body[..take].to_vec()));
        body = &body[take..];
        if n == 0 || take < n {
            break;
        }
        body = body.strip_prefix(b"\r\n").unwrap_or(body);
    }
    out
}

#[tokio::test]
async fn huge_header_and_many_headers() {
    let server = server().await;
    let r = parsed(&server, "/hh?size=100&hostile=huge_header").await;
    assert_eq!(r.status_line(), "HTTP/1.1 200 OK");
    let huge = r.headers("x-huge");
    assert_eq!(huge.len(), 1);
    assert_eq!(huge[0].len(), 1 << 20);
    assert!(huge[0].bytes().all(|b| b == b'a'));
    assert_eq!(r.headers("content-length"), ["100"]);
    assert_eq!(r.body, content("/hh", 100));

    let r = parsed(&server, "/mh?size=100&hostile=many_headers").await;
    let many = r.lines.iter().filter(|l| l.starts_with("X-Many-")).count();
    assert_eq!(many, 10_000);
    assert_eq!(r.body, content("/mh", 100));
}

#[tokio::test]
async fn contradictory_lengths() {
    let server = server().await;
    let r = parsed(&server, "/tl?size=300&hostile=two_lengths").await;
    assert_eq!(r.headers("content-length"), ["300", "301"]);
    // 300 bytes, then the server closes.
    assert_eq!(r.body, content("/tl", 300));

    let r = parsed(&server, "/te?size=300&hostile=te_and_length").await;
    assert_eq!(r.headers("transfer-encoding"), ["chunked"]);
    assert_eq!(r.headers("content-length"), ["300"]);
    let chunks = chunks(&r.body);
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0], ("12c".to_owned(), content("/te", 300)));
    assert_eq!(chunks[1], ("0".to_owned(), vec![]));
    assert!(r.body.ends_with(b"0\r\n\r\n"));
}

#[tokio::test]
async fn broken_chunks() {
    let server = server().await;
    let full = content("/bc", 200);
    for (kind, line) in [
        ("bad_chunk", "xyz"),
        ("chunk_overflow", "10000000000000000"),
    ] {
        let r = parsed(&server, &format!("/bc?size=200&hostile={kind}")).await;
        assert_eq!(r.headers("transfer-encoding"), ["chunked"]);
        assert!(r.headers("content-length").is_empty());
        let chunks = chunks(&r.body);
        assert_eq!(chunks[0], ("64".to_owned(), full[..100].to_vec()));
        assert_eq!(chunks[1].0, line, "{kind}");
        assert!(chunks[1].1.starts_with(&full[100..]));
    }

    let r = parsed(&server, "/cs?size=200&hostile=chunk_short").await;
    let chunks = chunks(&r.body);
    assert_eq!(chunks, [("c8".to_owned(), content("/cs", 100))]);
    // Nothing after the short chunk: the server closed.
    assert_eq!(r.body.len(), "c8\r\n".len() + 100);
}

#[tokio::test]
async fn status_line_that_is_not_http() {
    let server = server().await;
    let r = parsed(&server, "/bs?size=50&hostile=bad_status").await;
    assert!(!r.status_line().starts_with("HTTP/"), "{}", r.status_line());
    assert_eq!(r.body, content("/bs", 50));
}

#[tokio::test]
async fn bad_location_and_contradictory_ranges() {
    let server = server().await;
    let r = parsed(&server, "/bl?hostile=bad_location").await;
    assert!(r.status_line().starts_with("HTTP/1.1 302 "));
    assert_eq!(r.headers("location"), ["http://[::1"]);

    let full = content("/rg", 100);
    let target = "/rg?size=100&hostile=range_total_mismatch";
    let r = RawResponse::parse(&raw(&server, target, &["Range: bytes=0-9"]).await);
    assert!(r.status_line().starts_with("HTTP/1.1 206 "));
    assert_eq!(r.headers("content-range"), ["bytes 0-9/5"]);
    assert_eq!(r.body, full[..10]);
    // Without Range: a 206 all the same.
    let r = RawResponse::parse(&raw(&server, target, &[]).await);
    assert!(r.status_line().starts_with("HTTP/1.1 206 "));
    assert_eq!(r.headers("content-range"), ["bytes 0-99/50"]);
    assert_eq!(r.body, full);

    let target = "/rg?size=100&hostile=range_inverted";
    let r = RawResponse::parse(&raw(&server, target, &["Range: bytes=0-9"]).await);
    assert_eq!(r.headers("content-range"), ["bytes 9-0/100"]);
    assert_eq!(r.body, full[..10]);
    let r = RawResponse::parse(&raw(&server, target, &["Range: bytes=40-40"]).await);
    assert_eq!(r.headers("content-range"), ["bytes 41-40/100"]);
    assert_eq!(r.body, full[40..41]);
}

#[tokio::test]
async fn control_characters_in_headers_and_location() {
    let server = server().await;
    let r = parsed(&server, "/cc?hostile=control_chars").await;
    assert!(r.status_line().starts_with("HTTP/1.1 302 "));
    let location = r.headers("location");
    assert_eq!(location.len(), 1);
    // The origin comes from the request's Host (here without a port).
    assert!(
        location[0].starts_with("http://127.0.0.1/\x1b"),
        "{location:?}"
    );
    for value in [
        location[0],
        r.headers("x-testbed-text")[0],
        r.headers("content-disposition")[0],
    ] {
        assert!(value.contains("\x1b[2J"), "{value:?}");
        assert!(value.contains('\x07') && value.contains('\x08') && value.contains('\x7f'));
    }

    let r = parsed(&server, "/c1?hostile=c1_chars").await;
    let text = r.headers("x-testbed-text")[0];
    assert!(
        text.contains('\u{9b}') && text.contains('\u{202e}'),
        "{text:?}"
    );
    assert!(!text.bytes().any(|b| b < 0x20 || b == 0x7f), "{text:?}");

    // A strict client refuses the C0 controls but lets the C1 ones through,
    // which is why both kinds exist.
    let client = http_client();
    assert!(client
        .get(server.url("/cc?hostile=control_chars"))
        .send()
        .await
        .is_err());
    let r = client
        .get(server.url("/c1?hostile=c1_chars"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(r.headers()["location"].as_bytes().contains(&0x9b));
}

#[tokio::test]
async fn head_gets_the_hostile_head_without_body() {
    let server = server().await;
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    let raw = raw_exchange(&mut tcp, "HEAD", "/hd?size=100&hostile=two_lengths", &[]).await;
    let r = RawResponse::parse(&raw);
    assert_eq!(r.headers("content-length"), ["100", "101"]);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn hostile_is_forever_unless_fault_count_is_given() {
    let server = server().await;
    for _ in 0..3 {
        let r = parsed(&server, "/fv?size=10&hostile=two_lengths").await;
        assert_eq!(r.headers("content-length").len(), 2);
    }

    let target = "/fc?size=10&hostile=two_lengths&fault_count=2";
    // A HEAD sees the fault but does not spend it.
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    let head = RawResponse::parse(&raw_exchange(&mut tcp, "HEAD", target, &[]).await);
    assert_eq!(head.headers("content-length").len(), 2);
    for _ in 0..2 {
        let r = parsed(&server, target).await;
        assert_eq!(r.headers("content-length").len(), 2);
    }
    let client = http_client();
    let r = client.get(server.url(target)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), content("/fc", 10));

    let r = client
        .get(server.url("/x?hostile=no_such_kind"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("huge_header"));
}

/// Drops the `Date` line, the only part that differs between two answers.
fn without_date(raw: &[u8]) -> Vec<u8> {
    let text = raw.to_vec();
    let start = text.windows(8).position(|w| w == b"\r\nDate: ").unwrap();
    let end = start
        + 2
        + text[start + 2..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap();
    [&text[..start], &text[end..]].concat()
}

#[tokio::test]
async fn tls_carries_the_same_bytes() {
    let plain = server().await;
    let tls = TestServer::start(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let ca = tls.ca_cert_pem().unwrap();
    for kind in [
        "huge_header",
        "many_headers",
        "two_lengths",
        "te_and_length",
        "bad_chunk",
        "chunk_overflow",
        "chunk_short",
        "bad_status",
        "range_total_mismatch",
        "range_inverted",
        "bad_location",
    ] {
        let target = format!("/tls-h?size=5000&hostile={kind}");
        let headers = ["Range: bytes=10-19"];
        let over_plain = raw(&plain, &target, &headers).await;
        let mut io = tls_connect(&tls, &ca, "127.0.0.1", &[]).await.unwrap();
        let over_tls = raw_exchange(&mut io, "GET", &target, &headers).await;
        assert_eq!(without_date(&over_tls), without_date(&over_plain), "{kind}");
    }
    // The text kinds name the server's origin, which differs, so compare
    // what matters.
    let mut io = tls_connect(&tls, &ca, "127.0.0.1", &[]).await.unwrap();
    let r =
        RawResponse::parse(&raw_exchange(&mut io, "GET", "/t?hostile=control_chars", &[]).await);
    assert!(r.headers("location")[0].starts_with("https://127.0.0.1/"));
    assert!(r.headers("x-testbed-text")[0].contains('\x1b'));
}

#[tokio::test]
async fn http2_carries_header_kinds_and_refuses_framing_kinds() {
    let server = TestServer::start(ServerConfig {
        tls: true,
        http2: true,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let client = https_builder(&server.ca_cert_pem().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .get(server.url("/h2h?size=100&hostile=range_inverted"))
        .header("Range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 9-0/100");
    assert_eq!(r.bytes().await.unwrap(), content("/h2h", 10));

    let r = client
        .get(server.url("/h2h?hostile=bad_location"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "http://[::1");

    let r = client
        .get(server.url("/h2h?hostile=two_lengths"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 501);
    assert!(r.text().await.unwrap().contains("HTTP/1.1 only"));
}
