//! Retries: which failures are retried, how long parget waits, and how
//! faulty servers are survived.

use std::time::{Duration, Instant};

use parget::retry::RetryPolicy;
use parget::ErrorKind;

use crate::util::{assert_failed, assert_file, content, fast, Bed};

#[tokio::test]
async fn transient_statuses_are_retried() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    for code in [503u16, 500, 502, 408, 429] {
        let path = format!("/t{code}");
        let report = downloader
            .download(bed.request(&format!("{path}?size=700&fail={code}&fail_count=2"), "t"))
            .await;
        assert_file(&report, &content(&path, 700));
        assert_eq!(report.attempts(), 3, "{code}");
        std::fs::remove_file(bed.path("t")).unwrap();
    }
}

#[tokio::test]
async fn retry_after_seconds_and_dates_are_honoured() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    let started = Instant::now();
    let report = downloader
        .download(bed.request("/ra?size=10&fail=429&retry_after=1", "ra"))
        .await;
    assert!(report.is_ok());
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        started.elapsed()
    );

    let date = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
    let encoded = percent_encoding::utf8_percent_encode(&date, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    let started = Instant::now();
    let report = downloader
        .download(bed.request(&format!("/rd?size=10&fail=503&retry_after={encoded}"), "rd"))
        .await;
    assert!(report.is_ok());
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn client_errors_fail_at_once_and_retries_run_out() {
    let bed = Bed::start().await;
    let downloader = fast()
        .retry_policy(RetryPolicy::new(2, Duration::ZERO))
        .build()
        .unwrap();
    let report = downloader
        .download(bed.request("/nf?fail=404&fail_count=all", "nf"))
        .await;
    assert_eq!(assert_failed(&report).status(), Some(404));
    assert_eq!(report.attempts(), 1);
    let report = downloader
        .download(bed.request("/busy?fail=503&fail_count=all", "busy"))
        .await;
    assert_eq!(assert_failed(&report).status(), Some(503));
    assert_eq!(report.attempts(), 3);
}

#[tokio::test]
async fn resets_and_truncations_are_survived() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    for (name, fault) in [
        ("reset", "reset_after=1500000"),
        ("trunc", "truncate_after=1200000"),
        ("small", "reset_after=10"),
    ] {
        let len = if name == "small" { 5000 } else { 4_000_000 };
        let report = downloader
            .download(bed.request(&format!("/{name}?size={len}&{fault}"), name))
            .await;
        assert_file(&report, &content(&format!("/{name}"), len));
        assert_eq!(report.attempts(), 2, "{name}");
    }
}

#[tokio::test]
async fn a_stalled_server_hits_the_idle_timeout() {
    let bed = Bed::start().await;
    let downloader = fast()
        .idle_timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let report = downloader
        .download(bed.request("/stall?size=3000000&stall_after=1000", "stall"))
        .await;
    assert_file(&report, &content("/stall", 3_000_000));
    assert_eq!(report.attempts(), 2);

    let quick = fast()
        .idle_timeout(Duration::from_millis(300))
        .retry_policy(RetryPolicy::new(0, Duration::ZERO))
        .build()
        .unwrap();
    let report = quick
        .download(bed.request("/late?size=10&latency_ms=5000", "late"))
        .await;
    // Headers that never come end the attempt at the idle timeout.
    let error = assert_failed(&report);
    assert!(
        matches!(error.kind(), ErrorKind::AnswerTimeout(d) if *d == Duration::from_millis(300)),
        "{error}"
    );
}

#[tokio::test]
async fn a_trickling_server_hits_the_lowest_speed_limit() {
    let bed = Bed::start().await;
    let downloader = fast()
        .idle_timeout(Duration::from_secs(10))
        .lowest_speed_limit(100_000, Duration::from_millis(600))
        .retry_policy(RetryPolicy::new(1, Duration::ZERO))
        .build()
        .unwrap();
    let report = downloader
        .download(bed.request("/trickle?size=100000&trickle=2000", "trickle"))
        .await;
    let error = assert_failed(&report);
    assert!(
        matches!(error.kind(), ErrorKind::TooSlow { limit: 100_000, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("lowest speed limit"), "{error}");
    assert_eq!(report.attempts(), 2);
}

#[tokio::test]
async fn refused_connections_are_retried_then_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let downloader = fast()
        .retry_policy(RetryPolicy::new(2, Duration::ZERO))
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/x");
    let report = downloader
        .download(parget::Request::new(&url, dir.path().join("x")).unwrap())
        .await;
    let error = assert_failed(&report);
    assert!(matches!(error.kind(), ErrorKind::Connect), "{error}");
    assert_eq!(report.attempts(), 3);
    assert_eq!(error.url(), Some(url.as_str()));
}

/// A server that answers the first request of each connection with
/// keep-alive, then closes the connection once the next request on it has
/// arrived, without answering (a keep-alive timeout that runs out just as
/// a request comes). Returns its address and the requests it read.
fn closing_after_one_request() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let counted = counted.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                for served in 0.. {
                    // Read one request head.
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if served == 1 {
                        return; // closes without an answer
                    }
                    let _ = writer.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello",
                    );
                }
            });
        }
    });
    (addr, requests)
}

#[tokio::test]
async fn a_kept_alive_connection_closed_as_the_request_goes_out_costs_no_retry() {
    let (addr, requests) = closing_after_one_request();
    let dir = tempfile::tempdir().unwrap();
    let downloader = fast()
        .concurrency(1)
        .retry_policy(RetryPolicy::new(0, Duration::ZERO))
        .build()
        .unwrap();
    for name in ["a.txt", "b.txt", "c.txt"] {
        let url = format!("http://{addr}/{name}");
        let report = downloader
            .download(parget::Request::new(&url, dir.path().join(name)).unwrap())
            .await;
        assert_file(&report, b"hello");
        assert_eq!(report.attempts(), 1, "{name}");
    }
    assert_eq!(
        requests.load(std::sync::atomic::Ordering::SeqCst),
        5,
        "b and c each went out twice: once on the connection that closed"
    );
}
