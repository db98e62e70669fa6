//! The paginated listing API.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use parget_testbed::{ServerConfig, TestServer};
use tokio::io::AsyncWriteExt;

use crate::client::{get, Conn, Response};

async fn post(server: &TestServer, content_type: &str, body: &str) -> Response {
    let mut conn = Conn::open(server).await;
    let req = format!(
        "POST /api/list_files HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.io.write_all(req.as_bytes()).await.unwrap();
    conn.response(false).await
}

#[tokio::test]
async fn pages_more_header_and_endpoints_once_each() {
    let server = TestServer::start(ServerConfig {
        listing_files: 12,
        listing_lag: Duration::from_millis(30),
        ..ServerConfig::default()
    })
    .await
    .unwrap();

    let mut seen = Vec::new();
    let mut start = 0;
    let mut pages = 0;
    loop {
        let started = Instant::now();
        let r = if pages % 2 == 0 {
            post(
                &server,
                "application/json",
                &format!("{{\"start\": {start}, \"per_page\": 10}}"),
            )
            .await
        } else {
            post(
                &server,
                "application/x-www-form-urlencoded",
                &format!("start={start}&per_page=10"),
            )
            .await
        };
        assert!(started.elapsed() >= Duration::from_millis(29));
        assert_eq!(r.status, 200);
        let page: Vec<String> = serde_json::from_slice(&r.body).unwrap();
        assert!(page.len() <= 5, "per_page must be capped at 5");
        pages += 1;
        start += page.len();
        seen.extend(page);
        match r.header("more") {
            Some("true") => continue,
            Some("false") => break,
            other => panic!("More: {other:?}"),
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, server.listing_endpoints());
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 12);

    for (i, path) in seen.iter().enumerate() {
        let r = get(&server, path, &[]).await;
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            format!("{} of 12", i + 1)
        );
    }
    let stats = server.stats();
    assert!(seen.iter().all(|p| stats.requests_for(p) == 1));

    let all = get(&server, "/api/list_files", &[]).await;
    let all: Vec<String> = serde_json::from_slice(&all.body).unwrap();
    assert_eq!(all, seen);
    assert_eq!(get(&server, "/endpoint/nope", &[]).await.status, 404);
    assert_eq!(get(&server, "/api/unknown", &[]).await.status, 404);

    let r = post(&server, "application/json", "{\"start\": 100}").await;
    assert_eq!(r.body, b"[]");
    assert_eq!(r.header("more"), Some("false"));
    assert_eq!(
        post(&server, "application/json", "{broken").await.status,
        400
    );

    let stats = get(&server, "/api/stats", &[]).await;
    let stats: serde_json::Value = serde_json::from_slice(&stats.body).unwrap();
    assert!(stats["requests"].as_u64().unwrap() > 12);
}
