//! Redirects to another server and from https to http, for the tests that
//! check where credentials go.

use parget_testbed::{content, ServerConfig, TestServer};

use crate::client::{http_client, https_builder};

/// `s` with every byte outside the unreserved set percent-encoded.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn redirect_to_another_server() {
    let origin = TestServer::start(ServerConfig::default()).await.unwrap();
    let other = TestServer::start(ServerConfig::default()).await.unwrap();
    assert_ne!(origin.addr().port(), other.addr().port());
    let target = other.url("/landed.bin?size=64&auth=u:p");
    for status in [301u16, 302, 303, 307, 308] {
        let r = http_client()
            .get(origin.url(&format!(
                "/start?redirect_to={}&redirect_status={status}",
                encode(&target)
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status);
        assert_eq!(r.headers()["location"], target.as_str());
    }

    // Followed by a client: the second server answers, and the logs show
    // which headers reached which server.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = client
        .get(origin.url(&format!("/start?redirect_to={}", encode(&target))))
        .basic_auth("u", Some("p"))
        .header("Cookie", "session=1")
        .header("X-Custom", "kept")
        .send()
        .await
        .unwrap();
    // reqwest drops credentials on a cross-origin redirect, so the other
    // server asks for them.
    assert_eq!(r.status(), 401);
    assert_eq!(r.url().as_str(), target);
    let first = &origin.requests_for("/start")[5];
    assert!(first.has_header("authorization"));
    assert_eq!(first.header("cookie"), Some("session=1"));
    let landed = other.requests_for("/landed.bin");
    let last = landed.last().unwrap();
    assert!(!last.has_header("authorization"), "{last:?}");
    assert!(!last.has_header("cookie"), "{last:?}");
    assert_eq!(last.header("x-custom"), Some("kept"));
    assert_eq!(last.header("host"), Some(other.addr().to_string().as_str()));
    // The first server's log holds none of the second's requests.
    assert!(origin.requests_for("/landed.bin").is_empty());
}

#[tokio::test]
async fn redirect_from_https_to_plain_http() {
    let secure = TestServer::start(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let plain = TestServer::start(ServerConfig::default()).await.unwrap();
    let target = plain.url("/down.bin?size=100");
    assert!(target.starts_with("http://"));
    let client = https_builder(&secure.ca_cert_pem().unwrap())
        .build()
        .unwrap();
    let r = client
        .get(secure.url(&format!(
            "/up?redirect_to={}&redirect_status=307",
            encode(&target)
        )))
        .header("X-Trace", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.url().as_str(), target);
    assert_eq!(r.bytes().await.unwrap(), content("/down.bin", 100));
    assert_eq!(secure.requests_for("/up").len(), 1);
    assert_eq!(secure.stats().tls_handshakes, 1);
    let landed = plain.requests_for("/down.bin");
    assert_eq!(landed.len(), 1);
    assert_eq!(landed[0].header("x-trace"), Some("1"));
    // A downgrade must not leak the https URL as Referer.
    assert!(!landed[0].has_header("referer"), "{:?}", landed[0]);
}
