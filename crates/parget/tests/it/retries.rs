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
        matches!(error.kind(), ErrorKind::IdleTimeout(d) if *d == Duration::from_millis(300)),
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
