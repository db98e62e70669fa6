//! The library's calls: many downloads at once, results as each finishes,
//! the blocking facade, the reporter, limits and schemes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use parget::retry::RetryPolicy;
use parget::{DownloadProgress, Outcome, Report, Reporter, Request};
use parget_testbed::ServerConfig;

use crate::util::{assert_file, content, fast, sha256, Bed};

#[tokio::test]
async fn many_files_at_once_with_results_as_each_finishes() {
    let bed = Bed::start().await;
    let downloader = fast().concurrency(8).build().unwrap();
    // The slow file is first in the list but must not be the first result.
    let mut requests = vec![bed.request("/slow.bin?size=1000&latency_ms=400", "slow.bin")];
    for i in 0..20 {
        requests.push(bed.request(
            &format!("/f{i}.bin?size={}", 1000 + i * 7919),
            &format!("f{i}.bin"),
        ));
    }
    let reports: Vec<Report> = downloader
        .download_all(futures_util::stream::iter(requests))
        .collect()
        .await;
    assert_eq!(reports.len(), 21);
    assert_ne!(
        reports[0].url(),
        bed.server.url("/slow.bin?size=1000&latency_ms=400")
    );
    for report in &reports {
        let url = url::Url::parse(report.url()).unwrap();
        let size: u64 = url
            .query_pairs()
            .find(|(k, _)| k == "size")
            .unwrap()
            .1
            .parse()
            .unwrap();
        assert_file(report, &content(url.path(), size));
        assert!(matches!(report.outcome(), Outcome::Downloaded));
        assert_eq!(report.attempts(), 1);
    }
}

#[tokio::test]
async fn large_file_streams_through_the_part_file_and_verifies() {
    let bed = Bed::start().await;
    let len = 9 * 1024 * 1024 + 17;
    let expected = content("/big.bin", len);
    let downloader = fast().build().unwrap();
    let request = bed
        .request(&format!("/big.bin?size={len}"), "big.bin")
        .with_size(len)
        .with_digest(sha256(&expected))
        .with_digest(parget::verify::digest_of(
            parget::Algorithm::Blake3,
            &expected,
        ));
    let report = downloader.download(request).await;
    assert_file(&report, &expected);
    assert_eq!(report.bytes(), len);
    assert_eq!(
        report.digests().len(),
        2,
        "every expected algorithm is reported"
    );
}

#[tokio::test]
async fn requests_are_pulled_only_as_slots_free_up() {
    let bed = Bed::start().await;
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let requests: Vec<Request> = (0..10)
        .map(|i| bed.request(&format!("/p{i}?size=10&latency_ms=300"), &format!("p{i}")))
        .collect();
    let stream = futures_util::stream::iter(requests).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let downloader = fast().concurrency(2).build().unwrap();
    let mut reports = Box::pin(downloader.download_all(stream));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        pulled.load(Ordering::SeqCst) <= 3,
        "a bounded number of requests is held, not the list"
    );
    let mut n = 0;
    while let Some(report) = reports.next().await {
        assert!(report.is_ok());
        n += 1;
    }
    assert_eq!(n, 10);
}

#[tokio::test]
async fn per_host_connections_are_capped() {
    let bed = Bed::start().await;
    let downloader = fast().concurrency(16).max_per_host(3).build().unwrap();
    let requests: Vec<Request> = (0..12)
        .map(|i| bed.request(&format!("/h{i}?size=100&latency_ms=100"), &format!("h{i}")))
        .collect();
    let reports: Vec<Report> = downloader
        .download_all(futures_util::stream::iter(requests))
        .collect()
        .await;
    assert!(reports.iter().all(Report::is_ok));
    let stats = bed.server.stats();
    assert!(
        stats.peak_connections <= 3,
        "peak {} connections to one host",
        stats.peak_connections
    );
    assert!(
        stats.connections <= 6,
        "connections are reused: {} opened",
        stats.connections
    );
}

#[test]
fn blocking_facade_downloads() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bed = runtime.block_on(Bed::start());
    let downloader = parget::blocking::Downloader::from_builder(fast()).unwrap();
    let report = downloader.download(bed.request("/b.bin?size=5000", "b.bin"));
    assert_file(&report, &content("/b.bin", 5000));
    let reports: Vec<Report> = downloader
        .download_all(vec![
            bed.request("/c1?size=10", "c1"),
            bed.request("/c2?size=20", "c2"),
        ])
        .collect();
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(Report::is_ok));
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
    received_at_finish: Mutex<Vec<u64>>,
    progress: Mutex<Vec<Arc<DownloadProgress>>>,
}

impl Reporter for Recorder {
    fn started(&self, progress: &Arc<DownloadProgress>) {
        self.events
            .lock()
            .unwrap()
            .push(format!("start {}", progress.url()));
        self.progress.lock().unwrap().push(progress.clone());
    }
    fn retrying(&self, progress: &DownloadProgress, retry: &parget::Retry<'_>) {
        let count = retry
            .counted
            .map(|c| format!(" {}/{}", c.in_a_row, c.limit))
            .unwrap_or_default();
        self.events.lock().unwrap().push(format!(
            "retry {} {}{count}",
            progress.url(),
            retry.error.status().unwrap_or(0)
        ));
    }
    fn finished(&self, report: &Report) {
        self.events
            .lock()
            .unwrap()
            .push(format!("finish {}", report.url()));
        self.received_at_finish.lock().unwrap().push(report.bytes());
    }
}

#[tokio::test]
async fn reporter_sees_start_retry_finish_and_counters() {
    let bed = Bed::start().await;
    let recorder = Arc::new(Recorder::default());
    let downloader = fast().reporter(recorder.clone()).build().unwrap();
    let url = bed.server.url("/r.bin?size=3000000&fail=503");
    let report = downloader
        .download(bed.request("/r.bin?size=3000000&fail=503", "r.bin"))
        .await;
    assert!(report.is_ok());
    let events = recorder.events.lock().unwrap().clone();
    assert_eq!(
        events,
        vec![
            format!("start {url}"),
            format!("retry {url} 503 1/5"),
            format!("finish {url}")
        ]
    );
    let progress = recorder.progress.lock().unwrap()[0].clone();
    assert_eq!(progress.received(), 3_000_000);
    assert_eq!(progress.total(), Some(3_000_000));
    assert_eq!(progress.attempts(), 2);
    let totals = downloader.totals();
    assert_eq!(
        (totals.finished(), totals.failed(), totals.active()),
        (1, 0, 0)
    );
    assert_eq!(totals.received(), 3_000_000);
}

#[tokio::test]
async fn a_retry_is_counted_against_the_limit() {
    // The first two GETs are cut after 400 kB: two retries of the two
    // a policy of two allows, each resuming where the last one stopped.
    let bed = Bed::start().await;
    let recorder = Arc::new(Recorder::default());
    let downloader = fast()
        .retry_policy(RetryPolicy::new(2, Duration::from_millis(5)))
        .reporter(recorder.clone())
        .build()
        .unwrap();
    let path = "/cut.bin?size=2000000&truncate_after=400000&fault_count=2";
    let url = bed.server.url(path);
    let report = downloader.download(bed.request(path, "cut.bin")).await;
    assert!(report.is_ok(), "{:?}", report.error());
    assert_eq!(
        std::fs::read(bed.path("cut.bin")).unwrap(),
        content("/cut.bin", 2_000_000)
    );
    let events = recorder.events.lock().unwrap().clone();
    let retries: Vec<&String> = events.iter().filter(|e| e.starts_with("retry")).collect();
    assert_eq!(
        retries,
        [format!("retry {url} 0 1/2"), format!("retry {url} 0 2/2")]
            .iter()
            .collect::<Vec<_>>(),
        "{events:?}"
    );
    assert_eq!(report.attempts(), 3);
}

#[tokio::test]
async fn starting_over_in_one_stream_costs_no_retry() {
    // Every range is refused with a 503 while the first answer streams:
    // the file starts over in one stream, which a reporter is told is a
    // retry that counts against nothing.
    let bed = Bed::with(ServerConfig {
        rate_per_connection: Some(50_000_000),
        ..ServerConfig::default()
    })
    .await;
    let recorder = Arc::new(Recorder::default());
    let downloader = fast()
        .retry_policy(RetryPolicy::new(2, Duration::from_millis(5)))
        .split(8)
        .reporter(recorder.clone())
        .build()
        .unwrap();
    let len = 24 << 20;
    let path = format!("/seg.bin?size={len}&range_status=503");
    let url = bed.server.url(&path);
    let report = downloader.download(bed.request(&path, "seg.bin")).await;
    assert_file(&report, &content("/seg.bin", len));
    let events = recorder.events.lock().unwrap().clone();
    assert_eq!(
        events,
        [
            format!("start {url}"),
            format!("retry {url} 503"),
            format!("finish {url}")
        ],
        "the retry carries no count"
    );
}

#[tokio::test]
async fn file_urls_are_read_and_verified() {
    let bed = Bed::start().await;
    let source = bed.path("source.bin");
    let bytes = content("/anything", 2_500_000);
    std::fs::write(&source, &bytes).unwrap();
    let url = url::Url::from_file_path(&source).unwrap();
    let downloader = fast().build().unwrap();
    let report = downloader
        .download(
            Request::new(url.as_str(), bed.path("copy.bin"))
                .unwrap()
                .with_digest(sha256(&bytes)),
        )
        .await;
    assert_file(&report, &bytes);
    let missing = url::Url::from_file_path(bed.path("missing")).unwrap();
    let report = downloader
        .download(Request::new(missing.as_str(), bed.path("m")).unwrap())
        .await;
    let error = report.error().expect("a missing file fails");
    assert!(
        error.is_io() && format!("{error:#}").contains("missing"),
        "{error}"
    );
}

#[tokio::test]
async fn file_urls_without_a_known_size_are_read_to_their_end() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    // The files of /proc report 0 bytes and have content; this one stays
    // the same between two reads.
    let proc_file = std::path::Path::new("/proc/self/cmdline");
    let before = std::fs::read(proc_file).unwrap();
    assert_eq!(std::fs::metadata(proc_file).unwrap().len(), 0);
    assert!(!before.is_empty());
    let url = url::Url::from_file_path(proc_file).unwrap();
    let report = downloader
        .download(Request::new(url.as_str(), bed.path("cmdline")).unwrap())
        .await;
    assert_file(&report, &before);
    // A really empty file is an empty download.
    let empty = bed.path("empty-source");
    std::fs::write(&empty, b"").unwrap();
    let url = url::Url::from_file_path(&empty).unwrap();
    let report = downloader
        .download(Request::new(url.as_str(), bed.path("empty-copy")).unwrap())
        .await;
    assert_file(&report, b"");
}

#[tokio::test]
async fn unsupported_schemes_fail_per_request() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    let requests = vec![
        Request::new("ftp://example.invalid/x", bed.path("x")).unwrap(),
        bed.request("/ok?size=10", "ok"),
    ];
    let reports: Vec<Report> = downloader
        .download_all(futures_util::stream::iter(requests))
        .collect()
        .await;
    let failed: Vec<_> = reports.iter().filter_map(Report::error).collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .to_string()
            .contains("unsupported URL scheme `ftp`"),
        "{}",
        failed[0]
    );
    assert_eq!(reports.iter().filter(|r| r.is_ok()).count(), 1);
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_limit() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    let report = downloader
        .download(bed.request("/red.bin?size=100&redirect=3", "red.bin"))
        .await;
    assert_file(&report, &content("/red.bin", 100));
    let report = downloader
        .download(bed.request("/far.bin?size=100&redirect=11", "far.bin"))
        .await;
    let error = crate::util::assert_failed(&report);
    assert!(
        matches!(error.kind(), parget::ErrorKind::TooManyRedirects(10)),
        "{error}"
    );
    assert!(
        error.to_string().contains("more than 10 redirects"),
        "{error}"
    );
    // A failure after redirects says where it happened.
    let report = downloader
        .download(bed.request("/hop.bin?redirect_to=%2Fgone.bin%3Fstatus%3D404", "hop.bin"))
        .await;
    let error = crate::util::assert_failed(&report);
    let text = format!("{error:#}");
    assert_eq!(error.status(), Some(404), "{text}");
    assert!(
        text.contains(&format!(
            "server answered HTTP 404: at {} (after a redirect)",
            bed.server.url("/gone.bin?status=404")
        )),
        "{text}"
    );
    assert_eq!(
        error.url(),
        Some(
            bed.server
                .url("/hop.bin?redirect_to=%2Fgone.bin%3Fstatus%3D404")
                .as_str()
        )
    );
}

#[tokio::test]
async fn cancel_keeps_the_part_file() {
    let bed = Bed::with(ServerConfig::default()).await;
    let downloader = fast().build().unwrap();
    let request = bed.request("/slow?size=4000000&rate=2000000", "slow");
    let task = tokio::spawn({
        let downloader = downloader.clone();
        async move { downloader.download(request).await }
    });
    tokio::time::sleep(Duration::from_millis(1200)).await;
    downloader.cancel();
    let report = task.await.unwrap();
    let error = crate::util::assert_failed(&report);
    assert!(error.is_cancelled(), "{error}");
    let part = crate::util::part_of(&bed.path("slow"));
    let kept = std::fs::metadata(&part).expect(".part kept").len();
    assert!(kept >= 1 << 20, "received bytes were kept: {kept}");
    assert!(kept < 4_000_000, "it stopped before the end: {kept}");
    assert_eq!(
        std::fs::read(&part).unwrap(),
        content("/slow", kept),
        "the kept bytes are right"
    );
}
