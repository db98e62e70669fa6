//! `rate=B` paces from the first body byte: at no moment has the client
//! received more than the rate allows since it asked, plus one slice.

use std::time::{Duration, Instant};

use parget_testbed::{content, ServerConfig, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends a GET on `tcp` and reads the response of `size` body bytes,
/// checking after every read that no more than `rate` bytes per second
/// since the request was sent (plus `slack`) have arrived.
async fn paced_get(
    tcp: &mut TcpStream,
    target: &str,
    size: usize,
    rate: u64,
    slack: u64,
) -> Vec<u8> {
    let sent = Instant::now();
    tcp.write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut head_len = None;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = tcp.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed early");
        buf.extend_from_slice(&chunk[..n]);
        if head_len.is_none() {
            head_len = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
        }
        let Some(head) = head_len else { continue };
        let body = (buf.len() - head) as u64;
        // The server cannot have started before the request was sent, so
        // this bound holds however slow the machine is.
        let allowed = (rate as f64 * sent.elapsed().as_secs_f64()) as u64 + slack;
        assert!(
            body <= allowed,
            "{body} body bytes after {:?}, allowed {allowed}",
            sent.elapsed()
        );
        if body as usize >= size {
            assert_eq!(body as usize, size);
            return buf.split_off(head);
        }
    }
}

#[tokio::test]
async fn rate_paces_from_the_first_byte_without_burst() {
    let server = TestServer::start(ServerConfig::default()).await.unwrap();
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    // 100 kB/s goes out in 2 kB slices every 20 ms; allow one slice beyond
    // the first. A burst of socket-buffer size would break the bound.
    let started = Instant::now();
    let body = paced_get(
        &mut tcp,
        "/pace.bin?size=120000&rate=100000",
        120_000,
        100_000,
        4_000,
    )
    .await;
    assert_eq!(body, content("/pace.bin", 120_000));
    assert!(
        started.elapsed() >= Duration::from_millis(1150),
        "{:?}",
        started.elapsed()
    );

    // Idle time on a kept-alive connection is not banked into a burst.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = paced_get(
        &mut tcp,
        "/pace.bin?size=60000&rate=100000",
        60_000,
        100_000,
        4_000,
    )
    .await;
    assert_eq!(body, content("/pace.bin", 60_000));
}

#[tokio::test]
async fn server_wide_rate_paces_the_same_way() {
    let server = TestServer::start(ServerConfig {
        rate_per_connection: Some(200_000),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    let body = paced_get(&mut tcp, "/srv.bin?size=200000", 200_000, 200_000, 8_000).await;
    assert_eq!(body, content("/srv.bin", 200_000));
}
