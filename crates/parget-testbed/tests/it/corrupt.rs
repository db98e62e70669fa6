//! `corrupt=OFFSETS`: a mirror that serves a bad byte where a test says.

use parget_testbed::{content, ServerConfig, TestServer};
use sha2::{Digest, Sha256};

use crate::client::{http_client, https_builder};

/// The resource with the bytes at `offsets` flipped, as the server sends it.
fn corrupted(path: &str, size: u64, offsets: &[usize]) -> Vec<u8> {
    let mut bytes = content(path, size);
    for &o in offsets {
        bytes[o] ^= 0xFF;
    }
    bytes
}

#[tokio::test]
async fn flips_bytes_at_resource_offsets_in_full_and_ranges() {
    let server = TestServer::start(ServerConfig::default()).await.unwrap();
    let client = http_client();
    // A big body goes out in several writes: an offset past the first one.
    let size = 1_000_000u64;
    let url = server.url("/bad.bin?size=1000000&corrupt=5,300000,5,999999");
    let full = client
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let good = content("/bad.bin", size);
    let differing: Vec<usize> = (0..good.len()).filter(|&i| full[i] != good[i]).collect();
    assert_eq!(differing, [5, 300_000, 999_999]);
    assert_eq!(full, corrupted("/bad.bin", size, &[5, 300_000, 999_999]));
    assert_ne!(Sha256::digest(&full), Sha256::digest(&good));

    // Offsets are of the resource, so a range sees them where they fall.
    let r = client
        .get(&url)
        .header("Range", "bytes=299990-300009")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    let part = r.bytes().await.unwrap();
    assert_eq!(
        part[..],
        corrupted("/bad.bin", size, &[300_000])[299_990..300_010]
    );
    // A range without a listed offset is clean.
    let r = client.get(&url).header("Range", "bytes=10-99").send().await;
    assert_eq!(r.unwrap().bytes().await.unwrap()[..], good[10..100]);

    // The validators do not change: the corruption is a lie.
    let clean = client
        .head(server.url("/bad.bin?size=1000000"))
        .send()
        .await
        .unwrap();
    let bad = client.head(&url).send().await.unwrap();
    assert_eq!(clean.headers()["etag"], bad.headers()["etag"]);

    let r = client
        .get(server.url("/bad.bin?corrupt=1,x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn fault_count_limits_the_corrupt_gets() {
    let server = TestServer::start(ServerConfig::default()).await.unwrap();
    let client = http_client();
    let url = server.url("/c2.bin?size=100&corrupt=50&fault_count=2");
    let bad = corrupted("/c2.bin", 100, &[50]);
    // A HEAD does not spend the count.
    client.head(&url).send().await.unwrap();
    for _ in 0..2 {
        assert_eq!(
            client
                .get(&url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
            bad
        );
    }
    for _ in 0..2 {
        let body = client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(body, content("/c2.bin", 100));
    }
    server.reset_faults();
    assert_eq!(
        client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
        bad
    );

    // Without fault_count, every GET is corrupt.
    let url = server.url("/c3.bin?size=100&corrupt=0");
    for _ in 0..3 {
        let body = client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(body, corrupted("/c3.bin", 100, &[0]));
    }
    // Offsets beyond the resource change nothing.
    let body = client
        .get(server.url("/c4.bin?size=100&corrupt=100,5000"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body, content("/c4.bin", 100));
}

#[tokio::test]
async fn corrupt_over_http2_and_with_a_rate() {
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
        .get(server.url("/h2c.bin?size=200000&corrupt=70000,199999"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let body = r.bytes().await.unwrap();
    assert_eq!(body, corrupted("/h2c.bin", 200_000, &[70_000, 199_999]));

    // Paced bodies go out in small slices; the flip lands all the same.
    let r = client
        .get(server.url("/h2c.bin?size=20000&corrupt=12345&rate=1000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.bytes().await.unwrap(),
        corrupted("/h2c.bin", 20_000, &[12_345])
    );
}
