//! TLS with certificates made at test time: trusted, unknown CA, wrong
//! name, expired, and a server that requires a client certificate.

use std::io::ErrorKind;

use parget_testbed::certs::{Ca, Validity};
use parget_testbed::{content, ServerConfig, TestServer, TlsIdentity};

use crate::client::{error_chain, https_builder};

async fn serving(identity: TlsIdentity, client_ca: Option<String>) -> TestServer {
    TestServer::start(ServerConfig {
        tls: true,
        tls_identity: Some(identity),
        client_ca,
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

/// Fetches `/t?size=10` trusting only `ca`; the error chain on failure.
async fn fetch(
    server: &TestServer,
    ca: &Ca,
    client_pem: Option<String>,
) -> Result<Vec<u8>, String> {
    let mut builder = https_builder(ca.cert_pem());
    if let Some(pem) = client_pem {
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    let client = builder.build().unwrap();
    let r = client
        .get(server.url("/t?size=10"))
        .send()
        .await
        .map_err(|e| error_chain(&e))?;
    assert_eq!(r.status(), 200);
    Ok(r.bytes().await.map_err(|e| error_chain(&e))?.to_vec())
}

#[tokio::test]
async fn trusted_certificate_from_the_callers_ca() {
    let ca = Ca::new("caller CA").unwrap();
    let leaf = ca.server_cert(&["127.0.0.1"], Validity::current()).unwrap();
    let server = serving(leaf.identity(), None).await;
    assert_eq!(server.ca_cert_pem(), None);
    assert_eq!(fetch(&server, &ca, None).await.unwrap(), content("/t", 10));
    assert_eq!(server.stats().tls_handshakes, 1);
}

#[tokio::test]
async fn unknown_ca_wrong_name_and_expired_fail() {
    let ca = Ca::new("trusted CA").unwrap();
    let stranger = Ca::new("unknown CA").unwrap();
    let cases = [
        (
            stranger
                .server_cert(&["127.0.0.1"], Validity::current())
                .unwrap(),
            "unknownissuer",
        ),
        (
            ca.server_cert(&["wrong.example", "10.9.8.7"], Validity::current())
                .unwrap(),
            "not valid for name",
        ),
        (
            ca.server_cert(&["127.0.0.1"], Validity::expired()).unwrap(),
            "expired",
        ),
        (
            ca.server_cert(&["127.0.0.1"], Validity::not_yet_valid())
                .unwrap(),
            "not valid yet",
        ),
    ];
    for (leaf, why) in cases {
        let server = serving(leaf.identity(), None).await;
        let err = fetch(&server, &ca, None).await.unwrap_err();
        assert!(err.to_lowercase().contains(why), "{why}: {err}");
        assert_eq!(server.stats().requests, 0);
    }
}

#[tokio::test]
async fn client_certificate_required() {
    let ca = Ca::new("mtls CA").unwrap();
    let leaf = ca
        .server_cert(&["127.0.0.1", "localhost"], Validity::current())
        .unwrap();
    let server = serving(leaf.identity(), Some(ca.cert_pem().to_owned())).await;

    // Without a certificate the handshake is refused and nothing is served.
    let err = fetch(&server, &ca, None).await.unwrap_err();
    assert!(!err.is_empty());
    // One signed by another CA is refused too.
    let stranger = Ca::new("other CA").unwrap();
    let foreign = stranger
        .client_cert("mallory", Validity::current())
        .unwrap();
    assert!(fetch(&server, &ca, Some(foreign.cert_and_key_pem()))
        .await
        .is_err());
    // So is an expired one from the right CA.
    let expired = ca.client_cert("old", Validity::expired()).unwrap();
    assert!(fetch(&server, &ca, Some(expired.cert_and_key_pem()))
        .await
        .is_err());
    let stats = server.stats();
    assert_eq!((stats.requests, stats.tls_handshakes), (0, 0));

    let alice = ca.client_cert("alice", Validity::current()).unwrap();
    let body = fetch(&server, &ca, Some(alice.cert_and_key_pem()))
        .await
        .unwrap();
    assert_eq!(body, content("/t", 10));
    assert_eq!(server.stats().tls_handshakes, 1);
}

#[tokio::test]
async fn generated_certificate_with_a_client_ca() {
    // The server's own certificate with a required client certificate.
    let ca = Ca::new("clients").unwrap();
    let server = TestServer::start(ServerConfig {
        tls: true,
        client_ca: Some(ca.cert_pem().to_owned()),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let server_ca = server.ca_cert_pem().unwrap();
    let bob = ca.client_cert("bob", Validity::current()).unwrap();
    let client = https_builder(&server_ca)
        .identity(reqwest::Identity::from_pem(bob.cert_and_key_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = client.get(server.url("/g?size=3")).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap(), content("/g", 3));
    let without = https_builder(&server_ca).build().unwrap();
    assert!(without.get(server.url("/g?size=3")).send().await.is_err());
}

#[tokio::test]
async fn bad_configuration_is_refused_at_start() {
    let ca = Ca::new("c").unwrap();
    let leaf = ca.server_cert(&["127.0.0.1"], Validity::current()).unwrap();
    let start = |config: ServerConfig| async move { TestServer::start(config).await.unwrap_err() };

    let err = start(ServerConfig {
        tls_identity: Some(leaf.identity()),
        ..ServerConfig::default()
    })
    .await;
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("need tls"), "{err}");

    let cases = [
        (
            TlsIdentity {
                cert_chain_pem: "not a pem".into(),
                key_pem: leaf.key_pem.clone(),
            },
            None,
            "tls_identity.cert_chain_pem",
        ),
        (
            TlsIdentity {
                cert_chain_pem: leaf.chain_pem.clone(),
                key_pem: String::new(),
            },
            None,
            "tls_identity.key_pem",
        ),
        (leaf.identity(), Some("junk".to_owned()), "client_ca"),
    ];
    for (identity, client_ca, names) in cases {
        let err = start(ServerConfig {
            tls: true,
            tls_identity: Some(identity),
            client_ca,
            ..ServerConfig::default()
        })
        .await;
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains(names), "{names}: {err}");
    }
}
