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

/// A TLS server presenting `leaf` (issued by a CA made here), optionally
/// asking for a client certificate signed by `client_ca`.
async fn server_with(
    leaf: &parget_testbed::certs::Issued,
    client_ca: Option<&str>,
) -> parget_testbed::TestServer {
    parget_testbed::TestServer::start(ServerConfig {
        tls: true,
        tls_identity: Some(leaf.identity()),
        client_ca: client_ca.map(str::to_owned),
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn certificates_are_checked_for_trust_name_and_validity() {
    use parget_testbed::certs::{Ca, Validity};
    let ca = Ca::new("parget test CA").unwrap();
    let stranger = Ca::new("someone else").unwrap();
    let loopback = ["127.0.0.1", "localhost"];
    let cases = [
        (
            "trusted",
            ca.server_cert(&loopback, Validity::current()).unwrap(),
            true,
            "",
        ),
        (
            "unknown CA",
            stranger
                .server_cert(&loopback, Validity::current())
                .unwrap(),
            false,
            "unknownissuer",
        ),
        (
            "wrong host name",
            ca.server_cert(&["example.test"], Validity::current())
                .unwrap(),
            false,
            "notvalidforname",
        ),
        (
            "expired",
            ca.server_cert(&loopback, Validity::expired()).unwrap(),
            false,
            "expired",
        ),
        (
            "not yet valid",
            ca.server_cert(&loopback, Validity::not_yet_valid())
                .unwrap(),
            false,
            "notvalidyet",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (what, leaf, ok, cause) in cases {
        let server = server_with(&leaf, None).await;
        let downloader = fast()
            .add_root_certificate_pem(ca.cert_pem())
            .retry_policy(RetryPolicy::new(3, std::time::Duration::ZERO))
            .build()
            .unwrap();
        let request = parget::Request::new(
            &server.url("/t.bin?size=1000"),
            dir.path().join(what.replace(' ', "-")),
        )
        .unwrap();
        let report = downloader.download(request).await;
        if ok {
            assert_file(&report, &content("/t.bin", 1000));
            continue;
        }
        let error = assert_failed(&report);
        let text = format!("{error:#}").to_lowercase().replace(['_', ' '], "");
        assert!(
            matches!(error.kind(), parget::ErrorKind::Tls),
            "{what}: {error:#}"
        );
        assert!(text.contains(cause), "{what}: {error:#}");
        assert_eq!(report.attempts(), 1, "{what}: not retried");
    }
}

#[tokio::test]
async fn a_self_signed_ca_certificate_as_the_servers_own_is_refused_by_name() {
    // What `openssl req -x509` makes: trusted, and still refused (a CA
    // certificate is not a server's), with a message that says why.
    let leaf = parget_testbed::certs::Issued::self_signed_ca(&["127.0.0.1", "localhost"]).unwrap();
    let server = server_with(&leaf, None).await;
    let dir = tempfile::tempdir().unwrap();
    let report = fast()
        .add_root_certificate_pem(leaf.cert_pem.as_str())
        .build()
        .unwrap()
        .download(
            parget::Request::new(&server.url("/t.bin?size=10"), dir.path().join("t")).unwrap(),
        )
        .await;
    let error = assert_failed(&report);
    assert!(matches!(error.kind(), parget::ErrorKind::Tls), "{error:#}");
    assert!(
        error
            .to_string()
            .contains("the server presents a CA certificate as its own"),
        "{error:#}"
    );
    assert_eq!(report.attempts(), 1, "not retried");
}

#[tokio::test]
async fn a_server_that_requires_a_client_certificate() {
    use parget_testbed::certs::{Ca, Validity};
    let ca = Ca::new("mutual CA").unwrap();
    let leaf = ca.server_cert(&["127.0.0.1"], Validity::current()).unwrap();
    let client = ca.client_cert("alice", Validity::current()).unwrap();
    let foreign = Ca::new("other")
        .unwrap()
        .client_cert("mallory", Validity::current())
        .unwrap();
    let server = server_with(&leaf, Some(ca.cert_pem())).await;
    let dir = tempfile::tempdir().unwrap();
    let fetch = |identity: Option<String>, name: &str| {
        let mut builder = fast()
            .add_root_certificate_pem(ca.cert_pem())
            .retry_policy(RetryPolicy::new(2, std::time::Duration::ZERO));
        if let Some(pem) = identity {
            builder = builder.client_certificate_pem(pem);
        }
        let downloader = builder.build().unwrap();
        let request =
            parget::Request::new(&server.url("/m.bin?size=5000"), dir.path().join(name)).unwrap();
        async move { downloader.download(request).await }
    };
    let without = fetch(None, "without").await;
    let error = assert_failed(&without);
    assert!(matches!(error.kind(), parget::ErrorKind::Tls), "{error:#}");
    assert_eq!(without.attempts(), 1, "not retried: {error:#}");
    let untrusted = fetch(Some(foreign.cert_and_key_pem()), "foreign").await;
    assert!(matches!(
        assert_failed(&untrusted).kind(),
        parget::ErrorKind::Tls
    ));
    let with = fetch(Some(client.cert_and_key_pem()), "with").await;
    assert_file(&with, &content("/m.bin", 5000));
    // A certificate that does not parse is refused when the downloader is built.
    let bad = fast().client_certificate_pem("not a pem").build();
    assert!(bad.is_err());
}
