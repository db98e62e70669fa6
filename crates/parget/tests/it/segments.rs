//! Big files over many connections: Range detection, segments, re-split,
//! mirrors, faults inside segments, downloads to memory.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use parget::{DownloadProgress, DownloaderBuilder, Report, Reporter, Request};
use parget_testbed::{ServerConfig, TestServer};

use crate::util::{assert_file, content, fast, sha256, Bed};

const MIB: u64 = 1 << 20;

/// Fast retries, 4 connections, 1 MiB pieces, and split however fast the
/// first connection is (loopback would otherwise keep one stream).
fn segmented() -> DownloaderBuilder {
    fast()
        .split(4)
        .min_split_size(MIB)
        .keep_single_stream_above(None)
}

#[tokio::test]
async fn a_large_file_is_fetched_over_several_connections() {
    // Capped per connection so the server writes no faster than parget
    // reads: unthrottled, a cut connection wastes whatever the loopback
    // socket buffers hold (megabytes), which would blur the count below.
    let bed = Bed::with(ServerConfig {
        rate_per_connection: Some(40_000_000),
        ..ServerConfig::default()
    })
    .await;
    let len = 24 * MIB + 12_345;
    let expected = content("/seg.bin", len);
    let report = segmented()
        .build()
        .unwrap()
        .download(
            bed.request(&format!("/seg.bin?size={len}"), "seg.bin")
                .with_digest(sha256(&expected)),
        )
        .await;
    assert_file(&report, &expected);
    let stats = bed.server.stats();
    assert!(
        stats.range_requests_for("/seg.bin") >= 3,
        "segments asked for ranges: {stats:?}"
    );
    assert!(
        stats.body_bytes_for("/seg.bin") < len + 2 * MIB,
        "little is fetched twice: {} served for {len}",
        stats.body_bytes_for("/seg.bin")
    );
    assert_eq!(report.attempts(), 1);
    assert!(
        !bed.path("seg.bin.part.parget").exists(),
        "the control file is removed"
    );
}

#[tokio::test]
async fn ranges_of_another_version_are_never_spliced() {
    // The server ignores If-Range: every range comes from a changed
    // resource, however it is labelled (see the testbed's `range_change`).
    let bed = Bed::with(ServerConfig {
        rate_per_connection: Some(40_000_000),
        ..ServerConfig::default()
    })
    .await;
    let len = 12 * MIB;
    for kind in ["version", "date", "weak", "none"] {
        let name = format!("sc-{kind}.bin");
        let report = segmented()
            .build()
            .unwrap()
            .download(bed.request(&format!("/{name}?size={len}&range_change={kind}"), &name))
            .await;
        assert_file(&report, &content(&format!("/{name}"), len));
        assert!(
            bed.server.stats().range_requests_for(&format!("/{name}")) >= 1,
            "{kind}: a range was asked for"
        );
    }
}

#[tokio::test]
async fn a_server_that_refuses_ranges_with_416_is_fetched_as_one_stream() {
    let bed = Bed::with(ServerConfig {
        rate_per_connection: Some(40_000_000),
        ..ServerConfig::default()
    })
    .await;
    let len = 12 * MIB;
    let report = segmented()
        .build()
        .unwrap()
        .download(bed.request(
            &format!("/r416.bin?size={len}&range_status=416"),
            "r416.bin",
        ))
        .await;
    assert_file(&report, &content("/r416.bin", len));
    assert!(bed.server.stats().range_requests_for("/r416.bin") >= 1);
    // Ranges refused with a 403 after a full first answer: the file is
    // what one stream gets, as with `-s 1`.
    let report = segmented()
        .retry_policy(parget::retry::RetryPolicy::new(1, Duration::ZERO))
        .build()
        .unwrap()
        .download(bed.request(
            &format!("/r403.bin?size={len}&range_status=403"),
            "r403.bin",
        ))
        .await;
    assert_file(&report, &content("/r403.bin", len));
    assert!(bed.server.stats().range_requests_for("/r403.bin") >= 1);
    // A file that is gone fails at once, however it was split.
    let report = segmented()
        .build()
        .unwrap()
        .download(bed.request(
            &format!("/gone.bin?size={len}&range_status=404&fail=404&fail_count=all"),
            "gone.bin",
        ))
        .await;
    assert_eq!(
        report.error().and_then(parget::Error::status),
        Some(404),
        "{report:?}"
    );
    assert_eq!(report.attempts(), 1);
}

#[tokio::test]
async fn a_server_whose_every_range_fails_is_fetched_as_one_stream() {
    // The first answer streams; every range after it is cut short, refused
    // with a 503 or stalls. The extra connections end at their first
    // failure, and when the last one's range fails too the file starts
    // over in one stream, as `-s 1` gets it, instead of spending the
    // retries on ranges (and a retry budget per connection).
    let bed = Bed::with(ServerConfig {
        rate_per_connection: Some(20_000_000),
        ..ServerConfig::default()
    })
    .await;
    let len = 12 * MIB;
    for (fault, retries) in [
        ("range_truncate_after=1000", 0),
        ("range_truncate_after=1000", 3),
        ("range_status=503", 0),
    ] {
        let name = format!("every-{}-{retries}.bin", fault.replace('=', "-"));
        let report = segmented()
            .retry_policy(parget::retry::RetryPolicy::new(retries, Duration::ZERO))
            .build()
            .unwrap()
            .download(bed.request(&format!("/{name}?size={len}&{fault}"), &name))
            .await;
        assert_file(&report, &content(&format!("/{name}"), len));
        let stats = bed.server.stats();
        let path = format!("/{name}");
        assert!(
            stats.range_requests_for(&path) >= 1,
            "{fault}: ranges were asked for"
        );
        assert!(
            stats.requests_for(&path) <= 8,
            "{fault}, {retries} retries: {} requests",
            stats.requests_for(&path)
        );
    }
}

#[tokio::test]
async fn without_range_support_one_stream_and_nothing_wasted_beyond_the_probe() {
    let bed = Bed::start().await;
    let len = 12 * MIB;
    let report = segmented()
        .build()
        .unwrap()
        .download(bed.request(&format!("/nr.bin?size={len}&ranges=0"), "nr.bin"))
        .await;
    assert_file(&report, &content("/nr.bin", len));
    assert_eq!(report.attempts(), 1, "no error, no retry");
    let stats = bed.server.stats();
    assert_eq!(
        stats.requests_for("/nr.bin"),
        2,
        "the download and one bytes=0-0 probe"
    );
    assert_eq!(
        stats.range_requests_for("/nr.bin"),
        1,
        "only the probe asked for a range"
    );
}

#[tokio::test]
async fn range_support_that_is_not_advertised_is_found_by_a_probe() {
    let bed = Bed::start().await;
    let len = 12 * MIB;
    let expected = content("/quiet.bin", len);
    let report = segmented()
        .build()
        .unwrap()
        .download(
            bed.request(
                &format!("/quiet.bin?size={len}&accept_ranges=0"),
                "quiet.bin",
            )
            .with_digest(sha256(&expected)),
        )
        .await;
    assert_file(&report, &expected);
    let stats = bed.server.stats();
    assert!(
        stats.range_requests_for("/quiet.bin") >= 3,
        "the probe, then segments: {stats:?}"
    );
}

#[tokio::test]
async fn advertised_range_support_needs_no_probe() {
    let bed = Bed::start().await;
    let len = 64 * MIB;
    let report = segmented()
        .split(2)
        .build()
        .unwrap()
        .download(bed.request(&format!("/adv.bin?size={len}"), "adv.bin"))
        .await;
    assert_file(&report, &content("/adv.bin", len));
    // The first request is the probe: a plain GET, its answer taken over as
    // the first segment; every other request asks for a validated range of
    // what was left (no `bytes=0-0` probe, no HEAD).
    let seen = bed.server.requests_for("/adv.bin");
    assert!(seen.len() >= 2, "two connections: {seen:?}");
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].header("range"), None);
    for later in &seen[1..] {
        let range = later.header("range").unwrap_or("");
        assert!(
            later.method == "GET" && later.has_header("if-range") && range != "bytes=0-0",
            "{later:?}"
        );
    }
}

#[tokio::test]
async fn a_server_pacing_each_connection_gets_every_connection_allowed() {
    let bed = Bed::start().await;
    let len = 24 * MIB;
    // Default settings but four connections: the first one, paced at
    // 2 MB/s past any burst, is slower than the client could take.
    let report = fast()
        .split(4)
        .build()
        .unwrap()
        .download(bed.request(&format!("/paced.bin?size={len}&rate=2000000"), "paced.bin"))
        .await;
    assert_file(&report, &content("/paced.bin", len));
    // Four at once (and, for a moment, the first answer's connection,
    // closed once its stream was cut to a piece).
    let stats = bed.server.stats();
    assert!((4..=5).contains(&stats.peak_connections), "{stats:?}");
    assert!(stats.range_requests_for("/paced.bin") >= 3, "{stats:?}");
}

// The server gets a thread of its own: on one thread it would take turns
// with the client, and the client's sample of the first connection could
// fall in one of the server's turns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_already_fast_enough_keeps_the_whole_file() {
    let bed = Bed::start().await;
    let len = 64 * MIB;
    let report = segmented()
        .keep_single_stream_above(Some(1))
        .build()
        .unwrap()
        .download(bed.request(&format!("/fast.bin?size={len}"), "fast.bin"))
        .await;
    assert_file(&report, &content("/fast.bin", len));
    assert_eq!(
        bed.server.stats().requests_for("/fast.bin"),
        1,
        "one stream"
    );
}

#[tokio::test]
async fn small_files_go_in_one_stream() {
    let bed = Bed::start().await;
    let len = 2 * MIB - 1;
    let report = segmented()
        .build()
        .unwrap()
        .download(bed.request(&format!("/sm.bin?size={len}"), "sm.bin"))
        .await;
    assert_file(&report, &content("/sm.bin", len));
    assert_eq!(bed.server.stats().requests_for("/sm.bin"), 1);
}

#[tokio::test]
async fn a_wrong_content_range_is_never_written() {
    let bed = Bed::start().await;
    let len = 12 * MIB;
    let expected = content("/off.bin", len);
    // Every range request is answered with a shifted range: the segments
    // are refused and the file comes in one stream instead.
    let report = segmented()
        .build()
        .unwrap()
        .download(
            bed.request(
                &format!("/off.bin?size={len}&range_offset=4096&fault_count=all"),
                "off.bin",
            )
            .with_digest(sha256(&expected)),
        )
        .await;
    assert_file(&report, &expected);
}

#[tokio::test]
async fn a_200_to_a_range_request_falls_back_to_one_stream() {
    let bed = Bed::start().await;
    let len = 12 * MIB;
    let expected = content("/ign.bin", len);
    let report = segmented()
        .build()
        .unwrap()
        .download(
            bed.request(
                &format!("/ign.bin?size={len}&range_ignore=1&fault_count=all"),
                "ign.bin",
            )
            .with_digest(sha256(&expected)),
        )
        .await;
    assert_file(&report, &expected);
    assert!(report.attempts() >= 2, "started over as one stream");
}

#[tokio::test]
async fn faults_inside_segments_are_retried_from_their_last_byte() {
    let bed = Bed::start().await;
    let len = 16 * MIB;
    let expected = content("/flt.bin", len);
    // The first three GETs (the first stream and two segments) break after 1 MB.
    let report = segmented()
        .build()
        .unwrap()
        .download(
            bed.request(
                &format!("/flt.bin?size={len}&reset_after=1000000&fault_count=3"),
                "flt.bin",
            )
            .with_digest(sha256(&expected)),
        )
        .await;
    assert_file(&report, &expected);
    // A broken connection beside others ends and leaves its range to them
    // (no retry is spent); a lone one is retried. Either way the broken
    // ranges were asked for again.
    let requests = bed.server.stats().requests_for("/flt.bin");
    assert!(
        requests >= 4,
        "the broken ranges were fetched again: {requests} requests"
    );
    let served = bed.server.stats().body_bytes_for("/flt.bin");
    assert!(
        served < len + len / 2,
        "failed segments resumed, not restarted: {served} served for {len}"
    );
}

#[tokio::test]
async fn a_slow_connection_is_given_up_and_its_range_re_split() {
    let fast_server = TestServer::start(ServerConfig::default()).await.unwrap();
    let slow_server = TestServer::start(ServerConfig {
        rate_per_connection: Some(100_000),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let len = 16 * MIB;
    let path = format!("/tail.bin?size={len}");
    let request = Request::new(&fast_server.url(&path), dir.path().join("tail.bin"))
        .unwrap()
        .with_mirror(&slow_server.url(&path))
        .unwrap()
        .with_digest(sha256(&content("/tail.bin", len)));
    let report = segmented().build().unwrap().download(request).await;
    assert_file(&report, &content("/tail.bin", len));
    // Left alone, the slow mirror would have served about half the file
    // (its share of the pieces). At 100 kB/s per connection it could not
    // have, however slow the machine: its pieces went to the fast one,
    // tail included. What it did send before being given up depends on how
    // long that took, so the bound is the share it was dealt, not a time.
    let slow_share = slow_server.stats().body_bytes_for("/tail.bin");
    assert!(
        slow_share < len / 4,
        "the slow mirror's ranges went to the fast one: it served {slow_share}"
    );
}

#[tokio::test]
async fn a_broken_mirror_is_dropped_and_the_others_finish() {
    let good = TestServer::start(ServerConfig::default()).await.unwrap();
    let broken = TestServer::start(ServerConfig::default()).await.unwrap();
    let other_size = TestServer::start(ServerConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let len = 16 * MIB;
    let path = format!("/m.bin?size={len}");
    let request = Request::new(&good.url(&path), dir.path().join("m.bin"))
        .unwrap()
        .with_mirror(&broken.url(&format!("{path}&fail=503&fail_count=all")))
        .unwrap()
        .with_mirror(&other_size.url(&format!("/m.bin?size={}", len + 1)))
        .unwrap()
        .with_digest(sha256(&content("/m.bin", len)));
    let report = segmented()
        .split(6)
        .build()
        .unwrap()
        .download(request)
        .await;
    assert_file(&report, &content("/m.bin", len));
    assert!(
        broken.stats().body_bytes_for("/m.bin") < 1000,
        "only error pages"
    );
    // Each connection meets it at most once, before it is dropped.
    let asked = other_size.stats().requests_for("/m.bin");
    assert!(
        asked <= 6,
        "a mirror of another size is dropped at its first answer: asked {asked} times"
    );
    assert!(good.stats().range_requests_for("/m.bin") >= 2);
}

#[tokio::test]
async fn mirrors_share_the_segments() {
    let a = TestServer::start(ServerConfig::default()).await.unwrap();
    let b = TestServer::start(ServerConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let len = 16 * MIB;
    let path = format!("/both.bin?size={len}&rate=20000000");
    let request = Request::new(&a.url(&path), dir.path().join("both.bin"))
        .unwrap()
        .with_mirror(&b.url(&path))
        .unwrap();
    let report = segmented().build().unwrap().download(request).await;
    assert_file(&report, &content("/both.bin", len));
    assert!(a.stats().body_bytes_for("/both.bin") > 0 && b.stats().body_bytes_for("/both.bin") > 0);
}

#[tokio::test]
async fn downloads_to_memory_segmented_or_not() {
    let bed = Bed::start().await;
    let downloader = segmented().build().unwrap();
    for (len, query) in [(20 * MIB + 3, ""), (3000, ""), (6 * MIB, "&ranges=0")] {
        let path = format!("/mem{len}.bin");
        let expected = content(&path, len);
        let url = bed.server.url(&format!("{path}?size={len}{query}"));
        let request = Request::new_in_memory(&url)
            .unwrap()
            .with_digest(sha256(&expected));
        let mut report = downloader.download(request).await;
        assert!(
            report.is_ok(),
            "{:?}",
            report.error().map(ToString::to_string)
        );
        let data = report.take_data().expect("the body is in the report");
        assert!(data == expected, "{len} bytes in memory");
        assert_eq!(report.bytes(), len);
    }
    let bad = Request::new_in_memory(&bed.server.url("/mem-bad?size=20000000"))
        .unwrap()
        .with_digest(sha256(b"x"));
    let report = downloader.download(bad).await;
    assert!(
        report
            .error()
            .is_some_and(parget::Error::is_digest_mismatch),
        "{:?}",
        report.error().map(|e| format!("{e:#}"))
    );
    assert!(report.data().is_none());
}

#[derive(Default)]
struct MostSegments {
    seen: Mutex<Vec<Arc<DownloadProgress>>>,
}

impl Reporter for MostSegments {
    fn started(&self, progress: &Arc<DownloadProgress>) {
        self.seen.lock().unwrap().push(progress.clone());
    }
}

#[tokio::test]
async fn progress_tells_how_many_segments_are_active() {
    let bed = Bed::start().await;
    let reporter = Arc::new(MostSegments::default());
    let downloader = segmented().reporter(reporter.clone()).build().unwrap();
    let len = 16 * MIB;
    let task = tokio::spawn({
        let request = bed.request(&format!("/p.bin?size={len}&rate=8000000"), "p.bin");
        async move { downloader.download(request).await }
    });
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !task.is_finished() && Instant::now() < deadline {
        if let Some(progress) = reporter.seen.lock().unwrap().first() {
            most = most.max(progress.segments());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let report: Report = task.await.unwrap();
    assert_file(&report, &content("/p.bin", len));
    assert_eq!(most, 4, "four connections were active at once");
}

/// Five paced downloads of `other_size` bytes at 2 MB/s under `dir`,
/// then the file `dir/a.bin` of `len` bytes at `rate`, all at once with
/// four connections allowed a file and a threshold no connection reaches;
/// checks every file and returns the ranges asked for `a.bin`.
async fn a_file_after_five_others(dir: &str, other_size: u64, len: u64, rate: u64) -> u64 {
    let bed = Bed::start().await;
    let mut requests: Vec<Request> = (0..5)
        .map(|i| {
            bed.request(
                &format!("/{dir}/o{i}.bin?size={other_size}&rate=2000000"),
                &format!("o{i}.bin"),
            )
        })
        .collect();
    let path = format!("/{dir}/a.bin");
    requests.push(bed.request(&format!("{path}?size={len}&rate={rate}"), "a.bin"));
    let reports: Vec<Report> = segmented()
        .keep_single_stream_above(Some(1_000_000_000))
        .concurrency(8)
        .build()
        .unwrap()
        .download_all(futures_util::stream::iter(requests))
        .collect()
        .await;
    for report in &reports {
        assert!(report.error().is_none(), "{report:?}");
    }
    let a = reports.iter().find(|r| r.url().contains(&path)).unwrap();
    assert_file(a, &content(&path, len));
    bed.server.stats().range_requests_for(&path)
}

#[tokio::test]
async fn a_file_that_starts_among_more_downloads_than_its_connections_starts_alone() {
    // Five others hold five connections, more than the file's four: it
    // starts alone although its connection (4 MB/s) is far below the
    // threshold, and it ends (0.8 s) before its first probe (1 s).
    let ranges = a_file_after_five_others("crowd", 1_000_000, 3 * MIB, 4_000_000).await;
    assert_eq!(ranges, 0, "one stream");
}

#[tokio::test]
async fn a_crowded_file_still_gets_connections_from_its_probes_when_they_add() {
    // Five others (3 s each) crowd the file; each connection adds 2 MB/s,
    // so its first probe (1 s in) doubles it and the next doubling
    // follows at once.
    let ranges = a_file_after_five_others("grow", 6_000_000, 12 * MIB, 2_000_000).await;
    assert!(ranges >= 2, "probes opened connections: {ranges} ranges");
}
