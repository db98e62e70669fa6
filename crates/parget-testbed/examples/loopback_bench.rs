//! Rough throughput check of the testbed itself on loopback:
//! `cargo run --release -p parget-testbed --example loopback_bench`.

use std::time::{Duration, Instant};

use parget_testbed::{fill, ServerConfig, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::main]
async fn main() {
    let mut buf = vec![0u8; 256 * 1024];
    let started = Instant::now();
    let mut total = 0u64;
    while started.elapsed() < Duration::from_secs(1) {
        fill("/bench.bin", total, &mut buf);
        total += buf.len() as u64;
    }
    println!(
        "fill: {:.2} GB/s",
        total as f64 / started.elapsed().as_secs_f64() / 1e9
    );

    let server = TestServer::start(ServerConfig::default()).await.unwrap();
    let size: u64 = 4_000_000_000;
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    let request = format!("GET /big.bin?size={size} HTTP/1.1\r\nHost: x\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut received = 0u64;
    let mut head_len = None;
    while head_len.is_none_or(|h| received < size + h) {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "early EOF");
        if head_len.is_none() {
            let at = buf[..n].windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            head_len = Some(at as u64 + 4);
        }
        received += n as u64;
    }
    println!(
        "one body: {:.2} GB/s",
        size as f64 / started.elapsed().as_secs_f64() / 1e9
    );

    let connections = 32;
    let per_connection = 2000;
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let addr = server.addr();
            tokio::spawn(async move {
                let mut tcp = TcpStream::connect(addr).await.unwrap();
                let mut buf = vec![0u8; 4096];
                for _ in 0..per_connection {
                    tcp.write_all(b"GET /small.bin?size=100 HTTP/1.1\r\nHost: x\r\n\r\n")
                        .await
                        .unwrap();
                    let mut got = 0;
                    // Head plus a 100-byte body; the head's length is fixed.
                    loop {
                        got += tcp.read(&mut buf[got..]).await.unwrap();
                        if let Some(at) = buf[..got].windows(4).position(|w| w == b"\r\n\r\n") {
                            if got >= at + 4 + 100 {
                                break;
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let n = connections * per_connection;
    println!(
        "small requests: {:.0}/s",
        n as f64 / started.elapsed().as_secs_f64()
    );
}
