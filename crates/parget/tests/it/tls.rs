//! HTTPS with rustls: HTTP/1.1 and HTTP/2, custom roots, refused certificates.

use parget::retry::RetryPolicy;
use parget_testbed::ServerConfig;

use crate::util::{assert_failed, assert_file, content, fast, Bed};

#[tokio::test]
async fn https_over_http2_and_http1_with_a_trusted_root() {
    for http2 in [true, false] {
        let bed = Bed::with(ServerConfig {
            tls: true,
            http2,
            ..ServerConfig::default()
        })
        .await;
        let pem = bed.server.ca_cert_pem().unwrap();
        let downloader = fast().add_root_certificate_pem(pem).build().unwrap();
        let report = downloader
            .download(bed.request("/s.bin?size=2500000", "s.bin"))
            .await;
        assert_file(&report, &content("/s.bin", 2_500_000));
        let stats = bed.server.stats();
        if http2 {
            assert!(
                stats.http2_requests >= 1,
                "HTTP/2 was negotiated: {stats:?}"
            );
        } else {
            assert_eq!(stats.http2_requests, 0);
        }
    }
}

#[tokio::test]
async fn an_untrusted_certificate_fails_without_retrying() {
    let bed = Bed::with(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    })
    .await;
    let downloader = fast()
        .retry_policy(RetryPolicy::new(3, std::time::Duration::ZERO))
        .build()
        .unwrap();
    let report = downloader
        .download(bed.request("/s.bin?size=10", "s.bin"))
        .await;
    let error = assert_failed(&report);
    assert!(
        format!("{error:#}").to_lowercase().contains("certificate"),
        "{error}"
    );
    assert_eq!(
        report.attempts(),
        1,
        "a certificate problem does not go away by retrying"
    );
}

#[tokio::test]
async fn a_redirect_from_http_to_https_is_followed() {
    let plain = Bed::start().await;
    let secure = parget_testbed::TestServer::start(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let target = secure.url("/up.bin?size=5000");
    let encoded =
        percent_encoding::utf8_percent_encode(&target, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let downloader = fast()
        .add_root_certificate_pem(secure.ca_cert_pem().unwrap())
        .build()
        .unwrap();
    let report = downloader
        .download(plain.request(&format!("/start?redirect_to={encoded}"), "up.bin"))
        .await;
    assert_file(&report, &content("/up.bin", 5000));
    assert_eq!(secure.stats().tls_handshakes, 1);
}
