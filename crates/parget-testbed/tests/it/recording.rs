//! The request log: which method, target and headers reached the server.

use parget_testbed::{content, ServerConfig, TestServer, DEFAULT_RECORDED_REQUESTS};
use tokio::io::AsyncWriteExt;

use crate::client::{get, http_client, https_builder, Conn};

#[tokio::test]
async fn records_method_target_and_every_header() {
    let server = TestServer::start(ServerConfig::default()).await.unwrap();
    assert_eq!(server.config().record_requests, DEFAULT_RECORDED_REQUESTS);
    let client = http_client();
    let r = client
        .get(server.url("/rec.bin?size=10&x=%41"))
        .header("Authorization", "Basic dTpw")
        .header("Cookie", "a=1; b=2")
        .header("Referer", "http://elsewhere.test/page?secret=1")
        .header("Proxy-Authorization", "Basic cHJveHk=")
        .header("User-Agent", "parget-test/1")
        .header("X-Custom", "value with  spaces")
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap(), content("/rec.bin", 10));
    client.head(server.url("/other.bin")).send().await.unwrap();

    let all = server.requests();
    assert_eq!(all.len(), 2);
    let first = &all[0];
    assert_eq!(first.method, "GET");
    assert_eq!(first.target, "/rec.bin?size=10&x=%41");
    assert_eq!(first.path(), "/rec.bin");
    assert!(!first.http2);
    for (name, value) in [
        ("authorization", "Basic dTpw"),
        ("cookie", "a=1; b=2"),
        ("referer", "http://elsewhere.test/page?secret=1"),
        ("proxy-authorization", "Basic cHJveHk="),
        ("user-agent", "parget-test/1"),
        ("x-custom", "value with  spaces"),
        ("host", &server.addr().to_string()),
    ] {
        assert_eq!(first.header(name), Some(value), "{name}");
    }
    assert_eq!(all[1].method, "HEAD");
    assert!(!all[1].has_header("authorization"));

    assert_eq!(server.requests_for("/rec.bin"), vec![first.clone()]);
    assert_eq!(server.requests_for("/other.bin").len(), 1);
    assert!(server.requests_for("/rec.bin?size=10&x=%41").is_empty());

    server.reset_stats();
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn headers_keep_their_order_case_and_repeats() {
    let server = TestServer::start(ServerConfig::default()).await.unwrap();
    let mut conn = Conn::open(&server).await;
    let r = conn
        .request(
            "GET",
            "/dup?size=1",
            &["X-Dup: one", "x-DUP: two", "X-Empty:", "X-Pad:   padded   "],
        )
        .await;
    assert_eq!(r.status, 200);
    // Methods the server refuses are recorded too.
    let r = conn.request("DELETE", "/dup", &[]).await;
    assert_eq!(r.status, 405);

    let recorded = server.requests_for("/dup");
    assert_eq!(recorded.len(), 2);
    let names: Vec<&str> = recorded[0]
        .headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(names, ["Host", "X-Dup", "x-DUP", "X-Empty", "X-Pad"]);
    assert_eq!(
        recorded[0].header_all("x-dup").collect::<Vec<_>>(),
        ["one", "two"]
    );
    assert_eq!(recorded[0].header("x-empty"), Some(""));
    assert_eq!(recorded[0].header("x-pad"), Some("padded"));
    assert_eq!(recorded[1].method, "DELETE");

    // A request that cannot be parsed is answered 400 and not recorded.
    let mut raw = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    raw.write_all(b"GET /garbage HTTP/9\r\n\r\n").await.unwrap();
    let mut conn = Conn::new(raw);
    assert_eq!(conn.read_head().await.unwrap().status, 400);
    assert!(server.requests_for("/garbage").is_empty());

    // The API's reset clears the log as well.
    let r = Conn::open(&server)
        .await
        .request("POST", "/api/reset_stats", &["Content-Length: 0"])
        .await;
    assert_eq!(r.status, 200);
    let left: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn the_log_is_bounded_and_can_be_off() {
    let server = TestServer::start(ServerConfig {
        record_requests: 3,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    for i in 0..5 {
        assert_eq!(
            get(&server, &format!("/n{i}?size=1"), &[]).await.status,
            200
        );
    }
    let targets: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, ["/n2?size=1", "/n3?size=1", "/n4?size=1"]);

    let off = TestServer::start(ServerConfig {
        record_requests: 0,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(get(&off, "/x?size=1", &[]).await.status, 200);
    assert!(off.requests().is_empty());
    assert_eq!(off.stats().requests, 1);
}

#[tokio::test]
async fn http2_requests_are_recorded_with_host() {
    let server = TestServer::start(ServerConfig {
        tls: true,
        http2: true,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let client = https_builder(&server.ca_cert_pem().unwrap())
        .build()
        .unwrap();
    let r = client
        .get(server.url("/h2rec?size=5"))
        .header("X-Custom", "h2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.bytes().await.unwrap(), content("/h2rec", 5));
    let recorded = server.requests_for("/h2rec");
    assert_eq!(recorded.len(), 1);
    assert!(recorded[0].http2);
    assert_eq!(recorded[0].method, "GET");
    assert_eq!(recorded[0].target, "/h2rec?size=5");
    assert_eq!(recorded[0].header("x-custom"), Some("h2"));
    assert_eq!(
        recorded[0].header("host"),
        Some(server.addr().to_string().as_str())
    );
}
