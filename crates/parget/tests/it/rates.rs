//! Rate limits: the bytes a download (or a whole downloader) receives
//! over time stay within the limit, measured at the client, with no burst
//! above one bucket; requests per second per host.
//!
//! These check the limiter's correctness, not speed: each download is
//! capped far below what loopback carries, so the cap is what sets its
//! duration.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use parget::{DownloadProgress, Report, Reporter};

use crate::util::{assert_file, content, fast, Bed};

/// Samples the received bytes of every running download every 10 ms.
#[derive(Default)]
struct Sampler {
    running: Mutex<Vec<Arc<DownloadProgress>>>,
    /// (time since the sampler started, bytes received by all downloads).
    samples: Mutex<Vec<(Duration, u64)>>,
}

impl Reporter for Sampler {
    fn started(&self, progress: &Arc<DownloadProgress>) {
        self.running.lock().unwrap().push(progress.clone());
    }
}

impl Sampler {
    /// Samples until `done` resolves; returns its output.
    async fn watch<T>(self: &Arc<Self>, done: impl std::future::Future<Output = T>) -> T {
        let me = self.clone();
        let started = Instant::now();
        let sampling = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            loop {
                tick.tick().await;
                let total: u64 = me
                    .running
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|p| p.received())
                    .sum();
                me.samples.lock().unwrap().push((started.elapsed(), total));
            }
        });
        let out = done.await;
        sampling.abort();
        out
    }

    /// Asserts that by every sample at most `rate * t + burst` bytes had
    /// arrived, counting `t` from when the sampler started (before any
    /// byte was asked for).
    fn assert_no_burst(&self, rate: f64, burst: f64) {
        for &(at, bytes) in self.samples.lock().unwrap().iter() {
            let bound = rate * at.as_secs_f64() + burst;
            assert!(
                bytes as f64 <= bound,
                "{bytes} bytes after {at:?}: more than {bound:.0} ({rate} B/s plus a bucket)"
            );
        }
    }
}

/// Asserts `bytes` over `elapsed` is within 5 % of `rate`.
#[track_caller]
fn assert_rate(bytes: u64, elapsed: Duration, rate: f64) {
    let measured = bytes as f64 / elapsed.as_secs_f64();
    assert!(
        (0.95 * rate..=1.05 * rate).contains(&measured),
        "{bytes} bytes in {elapsed:?}: {measured:.0} B/s, limit {rate} B/s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_download_is_held_to_its_limit() {
    let bed = Bed::start().await;
    let rate = 1_000_000.0;
    let sampler = Arc::new(Sampler::default());
    let downloader = fast()
        .max_download_rate(rate as u64)
        .reporter(sampler.clone())
        .build()
        .unwrap();
    let len = 2_000_000;
    let started = Instant::now();
    let report = sampler
        .watch(downloader.download(bed.request(&format!("/one.bin?size={len}"), "one.bin")))
        .await;
    let elapsed = started.elapsed();
    assert_file(&report, &content("/one.bin", len));
    assert_rate(len, elapsed, rate);
    // Buckets start empty: no burst at all.
    sampler.assert_no_burst(rate, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_segments_of_one_file_share_its_limit() {
    let bed = Bed::start().await;
    let rate = 2_000_000.0;
    let sampler = Arc::new(Sampler::default());
    let downloader = fast()
        .max_download_rate(rate as u64)
        .split(4)
        .min_split_size(512 * 1024)
        .reporter(sampler.clone())
        .build()
        .unwrap();
    let len = 4_000_000;
    let started = Instant::now();
    let report = sampler
        .watch(downloader.download(bed.request(&format!("/seg.bin?size={len}"), "seg.bin")))
        .await;
    let elapsed = started.elapsed();
    assert_file(&report, &content("/seg.bin", len));
    assert!(
        bed.server.stats().range_requests_for("/seg.bin") >= 2,
        "the file was fetched in segments: {:?}",
        bed.server.stats()
    );
    assert_rate(len, elapsed, rate);
    sampler.assert_no_burst(rate, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_downloads_together_are_held_to_the_overall_limit() {
    let bed = Bed::start().await;
    let rate = 1_000_000.0;
    let sampler = Arc::new(Sampler::default());
    let downloader = fast()
        .max_overall_rate(rate as u64)
        .reporter(sampler.clone())
        .build()
        .unwrap();
    let requests: Vec<_> = (0..4)
        .map(|i| bed.request(&format!("/all{i}.bin?size=500000"), &format!("all{i}.bin")))
        .collect();
    let started = Instant::now();
    let reports: Vec<Report> = sampler
        .watch(
            downloader
                .download_all(futures_util::stream::iter(requests))
                .collect(),
        )
        .await;
    let elapsed = started.elapsed();
    for report in &reports {
        let name = report
            .path()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert_file(report, &content(&format!("/{name}"), 500_000));
    }
    assert_rate(2_000_000, elapsed, rate);
    // The shared bucket was made with the downloader, and filled up to one
    // bucket (100 ms) before the downloads began.
    sampler.assert_no_burst(rate, rate * 0.1 + 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_per_second_keep_a_strict_server_from_refusing() {
    let bed = Bed::start().await;
    let run = |limit: Option<u32>, tag: &'static str| {
        // Waiting for a turn counts toward the idle timeout (the engine
        // times the whole open): the last of 12 at 4 a second waits 2 s.
        let mut builder = fast().concurrency(12).idle_timeout(Duration::from_secs(10));
        if let Some(n) = limit {
            builder = builder.max_requests_per_second(n);
        }
        let downloader = builder.build().unwrap();
        let requests: Vec<_> = (0..12)
            .map(|i| {
                bed.request(
                    &format!("/rps.bin?size=10&rps=4&n={tag}{i}"),
                    &format!("{tag}{i}"),
                )
            })
            .collect();
        async move {
            downloader
                .download_all(futures_util::stream::iter(requests))
                .collect::<Vec<Report>>()
                .await
        }
    };
    // Without pacing the server refuses some (429, Retry-After: 1) and
    // they are retried.
    let hammered = run(None, "h").await;
    assert!(hammered.iter().all(Report::is_ok));
    assert!(
        hammered.iter().any(|r| r.attempts() > 1),
        "the server refused some requests when hammered"
    );
    bed.server.reset_faults();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let started = Instant::now();
    let paced = run(Some(4), "p").await;
    for report in &paced {
        assert!(report.is_ok(), "{:?}", report.error());
        assert_eq!(report.attempts(), 1, "paced requests are never refused");
    }
    // 12 requests at 4 a second: the last four wait two seconds.
    assert!(started.elapsed() >= Duration::from_secs(2));
}
