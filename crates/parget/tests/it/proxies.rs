//! Proxies: real tinyproxy (HTTP forwarding and CONNECT) and microsocks
//! (SOCKS5) from Debian's packages; their logs show what went through them.

use parget::retry::RetryPolicy;
use parget::Request;
use parget_testbed::external::{Microsocks, Tinyproxy};
use parget_testbed::{ServerConfig, TestServer};

use crate::util::{assert_failed, assert_file, content, fast, Bed};

fn tinyproxy() -> Tinyproxy {
    Tinyproxy::builder()
        .start()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn http_goes_through_an_http_proxy_and_https_through_connect() {
    let proxy = tinyproxy();
    let plain = Bed::start().await;
    let secure = TestServer::start(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let downloader = fast()
        .proxy(proxy.url())
        .add_root_certificate_pem(secure.ca_cert_pem().unwrap())
        .build()
        .unwrap();
    let report = downloader
        .download(plain.request("/via.bin?size=3000", "via.bin"))
        .await;
    assert_file(&report, &content("/via.bin", 3000));
    let report = downloader
        .download(
            Request::new(
                &secure.url("/tunnel.bin?size=4000"),
                plain.path("tunnel.bin"),
            )
            .unwrap(),
        )
        .await;
    assert_file(&report, &content("/tunnel.bin", 4000));
    let lines = proxy.requests().unwrap();
    assert!(
        lines.contains(&format!(
            "GET {} HTTP/1.1",
            plain.server.url("/via.bin?size=3000")
        )),
        "{lines:?}"
    );
    assert!(
        lines.contains(&format!("CONNECT {} HTTP/1.1", secure.addr())),
        "{lines:?}"
    );
}

#[tokio::test]
async fn proxy_credentials_are_sent_and_a_refusal_is_final() {
    let proxy = Tinyproxy::builder()
        .basic_auth("puser", "ppass")
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let bed = Bed::start().await;
    let with = format!("http://puser:ppass@{}", proxy.addr());
    let report = fast()
        .proxy(with)
        .build()
        .unwrap()
        .download(bed.request("/auth.bin?size=100", "auth.bin"))
        .await;
    assert_file(&report, &content("/auth.bin", 100));
    // The proxy's credentials are for the proxy: the server never sees them.
    let seen = bed.server.requests_for("/auth.bin");
    assert!(
        !seen[0].has_header("proxy-authorization"),
        "{:?}",
        seen[0].headers
    );
    // The same for a CONNECT tunnel to an https server.
    let secure = TestServer::start(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let report = fast()
        .proxy(format!("http://puser:ppass@{}", proxy.addr()))
        .add_root_certificate_pem(secure.ca_cert_pem().unwrap())
        .build()
        .unwrap()
        .download(Request::new(&secure.url("/t.bin?size=100"), bed.path("t.bin")).unwrap())
        .await;
    assert_file(&report, &content("/t.bin", 100));
    assert!(proxy
        .requests()
        .unwrap()
        .contains(&format!("CONNECT {} HTTP/1.1", secure.addr())));

    let report = fast()
        .proxy(proxy.url())
        .retry_policy(RetryPolicy::new(3, std::time::Duration::ZERO))
        .build()
        .unwrap()
        .download(bed.request("/noauth.bin?size=100", "noauth.bin"))
        .await;
    let error = assert_failed(&report);
    assert_eq!(error.status(), Some(407), "{error:#}");
    assert_eq!(report.attempts(), 1);
    assert!(bed.server.requests_for("/noauth.bin").is_empty());
}

#[tokio::test]
async fn failures_of_the_proxy_name_the_proxy() {
    let bed = Bed::start().await;
    let secure = TestServer::start(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    // tinyproxy answers 403 to a CONNECT to any port but this one.
    let proxy = Tinyproxy::builder()
        .connect_ports(&[1])
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let report = fast()
        .proxy(proxy.url())
        .add_root_certificate_pem(secure.ca_cert_pem().unwrap())
        .retry_policy(RetryPolicy::new(3, std::time::Duration::ZERO))
        .build()
        .unwrap()
        .download(Request::new(&secure.url("/tun.bin?size=100"), bed.path("tun.bin")).unwrap())
        .await;
    let error = assert_failed(&report);
    let text = format!("{error:#}");
    assert!(
        text.contains(&format!(
            "the proxy {} (from the proxy setting) refused to open a tunnel (CONNECT) to {}",
            proxy.url(),
            secure.addr()
        )),
        "{text}"
    );
    assert_eq!(report.attempts(), 1, "a refusal is final: {text}");
    // A proxy that is down: the connection that failed is the proxy's.
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let report = fast()
        .proxy(format!("http://{down}"))
        .retry_policy(RetryPolicy::new(0, std::time::Duration::ZERO))
        .build()
        .unwrap()
        .download(bed.request("/down.bin?size=100", "down.bin"))
        .await;
    let error = assert_failed(&report);
    let text = format!("{error:#}");
    assert!(
        matches!(error.kind(), parget::ErrorKind::Connect)
            && text.contains(&format!("to the proxy http://{down}")),
        "{text}"
    );
    assert!(bed.server.requests_for("/down.bin").is_empty());
}

#[tokio::test]
async fn socks5_resolves_locally_and_socks5h_lets_the_proxy_resolve() {
    let socks = Microsocks::builder()
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let bed = Bed::start().await;
    let port = bed.server.addr().port();
    let by_name = |path: &str| format!("http://localhost:{port}{path}");
    for (scheme, expected_target) in [
        ("socks5", format!("127.0.0.1:{port}")),
        ("socks5h", format!("localhost:{port}")),
    ] {
        let downloader = fast()
            .proxy(format!("{scheme}://{}", socks.addr()))
            .build()
            .unwrap();
        let path = format!("/{scheme}.bin?size=2000");
        let report = downloader
            .download(Request::new(&by_name(&path), bed.path(scheme)).unwrap())
            .await;
        assert_file(&report, &content(&format!("/{scheme}.bin"), 2000));
        let connections = socks.connections().unwrap();
        assert_eq!(
            connections.last(),
            Some(&expected_target),
            "{scheme}: {connections:?}"
        );
    }
}

#[tokio::test]
async fn socks5_with_credentials() {
    let socks = Microsocks::builder()
        .auth("suser", "spass")
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let bed = Bed::start().await;
    let report = fast()
        .proxy(format!("socks5://suser:spass@{}", socks.addr()))
        .build()
        .unwrap()
        .download(bed.request("/s.bin?size=500", "s.bin"))
        .await;
    assert_file(&report, &content("/s.bin", 500));
    assert_eq!(socks.connections().unwrap().len(), 1);
    let refused = fast()
        .proxy(format!("socks5://suser:wrong@{}", socks.addr()))
        .retry_policy(RetryPolicy::new(1, std::time::Duration::ZERO))
        .build()
        .unwrap()
        .download(bed.request("/refused.bin?size=500", "refused.bin"))
        .await;
    assert_failed(&refused);
    assert!(bed.server.requests_for("/refused.bin").is_empty());
}

#[tokio::test]
async fn hosts_on_the_no_proxy_list_go_direct() {
    let proxy = tinyproxy();
    let bed = Bed::start().await;
    let port = bed.server.addr().port();
    let downloader = fast()
        .proxy(proxy.url())
        .no_proxy("localhost, 10.0.0.0/8")
        .build()
        .unwrap();
    let direct = format!("http://localhost:{port}/direct.bin?size=700");
    let report = downloader
        .download(Request::new(&direct, bed.path("direct.bin")).unwrap())
        .await;
    assert_file(&report, &content("/direct.bin", 700));
    let report = downloader
        .download(bed.request("/proxied.bin?size=700", "proxied.bin"))
        .await;
    assert_file(&report, &content("/proxied.bin", 700));
    let lines = proxy.requests().unwrap();
    assert!(lines.iter().all(|l| !l.contains("direct.bin")), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("proxied.bin")), "{lines:?}");
    assert_eq!(bed.server.requests_for("/direct.bin").len(), 1);
}

#[tokio::test]
async fn an_unusable_proxy_is_refused_when_the_downloader_is_built() {
    for bad in ["socks4://p:1080", "http://p:99999", "http://"] {
        let error = fast().proxy(bad).build().unwrap_err();
        assert!(
            matches!(error.kind(), parget::ErrorKind::Proxy(_)),
            "{bad}: {error}"
        );
        assert!(
            error.to_string().contains("bad proxy in the proxy setting"),
            "{error}"
        );
    }
    let error = fast().proxy("http://u:s3cret@p:99999").build().unwrap_err();
    assert!(!error.to_string().contains("s3cret"), "{error}");
}
