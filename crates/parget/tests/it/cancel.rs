//! Stopping downloads: a dropped future, a handle's cancel, a downloader
//! shut down; and the blocking facade doing the same.

use std::time::Duration;

use futures_util::StreamExt;
use parget::{blocking, Group, Request};

use crate::util::{assert_failed, assert_file, content, fast, part_of, recorded, Bed};

/// Waits until `path` holds at least `bytes` bytes.
async fn until_written(path: &std::path::Path, bytes: u64) {
    while std::fs::metadata(path).map_or(0, |m| m.len()) < bytes {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the server stops sending bytes of `path`: every connection
/// that was streaming it is closed. (Idle connections may stay in the
/// pool.) A stream left running would keep this loop going, so a leak
/// shows as a hang with the name of the test.
async fn until_streaming_stops(bed: &Bed, path: &str) {
    let mut before = bed.server.stats().body_bytes_for(path);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = bed.server.stats().body_bytes_for(path);
        if now == before {
            return;
        }
        before = now;
    }
}

#[tokio::test]
async fn dropping_the_future_closes_the_connection_and_keeps_the_part() {
    let bed = Bed::start().await;
    // One stream, so the part file is the bytes received, in order.
    let downloader = fast().split(1).build().unwrap();
    let path = bed.path("dropped.bin");
    let part = part_of(&path);
    let url = "/d/dropped.bin?size=6000000&rate=2000000";
    let download = downloader.download(bed.request(url, "dropped.bin"));
    tokio::select! {
        _ = download => panic!("a 3 s download cannot end here"),
        () = until_written(&part, 1 << 20) => {}
    }
    until_streaming_stops(&bed, "/d/dropped.bin").await;
    let totals = downloader.totals();
    assert_eq!(
        (totals.active(), totals.failed()),
        (0, 1),
        "a dropped download is no longer active"
    );
    let kept = std::fs::read(part_of(&path)).unwrap();
    assert!(!kept.is_empty());
    assert_eq!(
        kept,
        content("/d/dropped.bin", kept.len() as u64),
        "the kept bytes are right"
    );
    assert!(!path.exists());
    // And a resume continues after them.
    bed.server.reset_stats();
    let report = fast()
        .resume_partial(true)
        .build()
        .unwrap()
        .download(bed.request(url, "dropped.bin"))
        .await;
    assert_file(&report, &content("/d/dropped.bin", 6_000_000));
    assert_eq!(
        bed.server.stats().body_bytes_for("/d/dropped.bin"),
        6_000_000 - kept.len() as u64
    );
}

#[tokio::test]
async fn a_dropped_segmented_download_resumes_from_its_recorded_ranges() {
    let bed = Bed::start().await;
    let len = 12_000_000;
    let downloader = fast()
        .min_split_size(1 << 20)
        .keep_single_stream_above(None)
        .build()
        .unwrap();
    let download =
        downloader.download(bed.request(&format!("/d/seg.bin?size={len}&rate=2000000"), "seg.bin"));
    tokio::select! {
        _ = download => panic!("a 6 s download cannot end here"),
        () = async {
            while bed.server.stats().body_bytes_for("/d/seg.bin") < 4 << 20 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        } => {}
    }
    until_streaming_stops(&bed, "/d/seg.bin").await;
    // Every write is recorded as it is made; the writer's last ones may
    // still be on their way after the drop.
    let recorded = loop {
        let covered = recorded(&bed.path("seg.bin"));
        if covered > 0 {
            break covered;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    bed.server.reset_stats();
    let report = fast()
        .resume_partial(true)
        .build()
        .unwrap()
        .download(bed.request(&format!("/d/seg.bin?size={len}&rate=2000000"), "seg.bin"))
        .await;
    assert_file(&report, &content("/d/seg.bin", len));
    assert!(
        bed.server.stats().body_bytes_for("/d/seg.bin") <= len - recorded + (8 << 20),
        "the recorded {recorded} bytes were not fetched again"
    );
}

#[tokio::test]
async fn a_handle_cancels_its_download_only() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    let doomed = downloader.spawn(bed.request("/h/doomed?size=20000000&rate=2000000", "doomed"));
    let other = downloader.spawn(bed.request("/h/other?size=300000&latency_ms=300", "other"));
    until_written(&part_of(&bed.path("doomed")), 1 << 20).await;
    doomed.cancel();
    let report = doomed.await;
    assert!(assert_failed(&report).is_cancelled());
    assert!(
        part_of(&bed.path("doomed")).exists(),
        ".part kept for a resume"
    );
    assert_file(&other.await, &content("/h/other", 300000));
}

#[tokio::test]
async fn cancelling_a_stream_stops_its_downloads_only_and_keeps_their_bytes() {
    let bed = Bed::start().await;
    // One stream each, so a part file is the bytes received, in order.
    let downloader = fast().split(1).concurrency(2).build().unwrap();
    let mut other = downloader.download_all(futures_util::stream::iter([
        bed.request("/sc/other?size=1500000&rate=1000000", "other")
    ]));
    while bed.server.stats().requests < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let doomed = downloader.download_groups(futures_util::stream::iter([
        Group::new([bed.request("/sc/a?size=20000000&rate=2000000", "a")]),
        // Waits for a slot when the stream is cancelled: the other
        // stream's download and `a` hold both.
        Group::new([bed.request("/sc/b?size=20000000&rate=2000000", "b")]),
        Group::new([bed.request("/sc/c?size=10", "c")]),
    ]));
    let cancel = doomed.cancel_handle();
    until_written(&part_of(&bed.path("a")), 1 << 20).await;
    assert!(!cancel.is_cancelled());
    cancel.cancel();
    let reports: Vec<_> = doomed.collect().await;
    assert!(cancel.is_cancelled());
    assert!(!reports.is_empty(), "what had started reports its cancel");
    for group in &reports {
        for report in group.reports() {
            assert!(assert_failed(report).is_cancelled(), "{}", report.url());
        }
    }
    // The cancel flushed what had arrived, in order.
    let kept = std::fs::read(part_of(&bed.path("a"))).unwrap();
    assert!(kept.len() >= 1 << 20);
    assert_eq!(
        kept,
        content("/sc/a", kept.len() as u64),
        "the kept bytes are right"
    );
    assert!(
        !bed.path("c").exists(),
        "nothing is pulled after the cancel"
    );
    // The downloader's other stream was not touched.
    let report = other.next().await.expect("the other download reports");
    assert_file(&report, &content("/sc/other", 1_500_000));
    assert!(other.next().await.is_none());
    // Nor is the downloader: later calls work.
    let later = downloader
        .download(bed.request("/sc/later?size=100", "later"))
        .await;
    assert_file(&later, &content("/sc/later", 100));
}

#[tokio::test]
async fn shutdown_lets_running_downloads_finish_and_starts_no_more() {
    let bed = Bed::start().await;
    let downloader = fast().concurrency(2).build().unwrap();
    let requests: Vec<Request> = (0..10)
        .map(|i| {
            bed.request(
                &format!("/s/{i}?size=50000&latency_ms=300"),
                &format!("s{i}"),
            )
        })
        .collect();
    let mut reports = downloader.download_all(futures_util::stream::iter(requests));
    // Two are running; shut down.
    while bed.server.stats().requests < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    downloader.shutdown().await;
    assert_eq!(
        downloader.totals().active(),
        0,
        "every running download ended"
    );
    let mut ok = 0;
    while let Some(report) = reports.next().await {
        if report.is_ok() {
            ok += 1;
        } else {
            assert!(assert_failed(&report).is_cancelled());
        }
    }
    assert!(
        (2..10).contains(&ok),
        "the running ones finished, the rest never started: {ok}"
    );
    assert_eq!(
        bed.server.stats().requests,
        ok,
        "no request after the shutdown"
    );
    let late = downloader
        .download(bed.request("/s/late?size=10", "late"))
        .await;
    assert!(
        assert_failed(&late).is_cancelled(),
        "nothing starts after a shutdown"
    );
}

#[tokio::test]
async fn cancel_then_shutdown_checkpoints_what_runs() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    let handle = downloader.spawn(bed.request("/c/big?size=30000000&rate=3000000", "big"));
    until_written(&part_of(&bed.path("big")), 1 << 20).await;
    downloader.cancel();
    downloader.shutdown().await;
    assert!(
        handle.is_finished(),
        "shutdown returned after the download ended"
    );
    assert!(assert_failed(&handle.await).is_cancelled());
    assert!(part_of(&bed.path("big")).exists());
}

#[test]
fn the_blocking_facade_covers_groups_order_handles_and_shutdown() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bed = runtime.block_on(Bed::start());
    let downloader = blocking::Downloader::from_builder(fast()).unwrap();

    let group = downloader.download_group(Group::new([
        bed.request("/b/a?size=100", "a"),
        bed.request("/b/b?size=200", "b"),
    ]));
    assert!(group.is_ok());
    assert_file(&group.reports()[1], &content("/b/b", 200));

    let requests: Vec<Request> = (0..4)
        .map(|i| {
            bed.request(
                &format!("/b/o{i}?size=10&latency_ms={}", 200 - i * 50),
                &format!("o{i}"),
            )
        })
        .collect();
    let urls: Vec<String> = requests.iter().map(|r| r.url().to_string()).collect();
    let got: Vec<String> = downloader
        .download_all_in_order(requests)
        .map(|r| r.url().to_owned())
        .collect();
    assert_eq!(got, urls);

    let groups: Vec<Group> = (0..3)
        .map(|g| Group::new([bed.request(&format!("/b/g{g}?size=10"), &format!("g{g}"))]))
        .collect();
    assert_eq!(
        downloader
            .download_groups(groups)
            .filter(|g| g.is_ok())
            .count(),
        3
    );

    let handle = downloader.spawn(bed.request("/b/slow?size=20000000&rate=2000000", "slow"));
    runtime.block_on(until_written(&part_of(&bed.path("slow")), 1 << 20));
    handle.cancel();
    assert!(assert_failed(&handle.wait()).is_cancelled());

    downloader.shutdown();
    let late = downloader.download(bed.request("/b/late?size=10", "late"));
    assert!(assert_failed(&late).is_cancelled());
}
