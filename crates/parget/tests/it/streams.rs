//! Streamed sources: requests start as they arrive, reports come back in
//! completion or input order, and a slow consumer holds back the intake.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use parget::Report;

use crate::util::{assert_file, content, fast, Bed};

#[tokio::test]
async fn downloads_start_before_the_stream_ends() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let requests = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|request| (request, rx))
    });
    let mut reports = downloader.download_all(requests);
    tx.send(bed.request("/s/first?size=100", "first"))
        .await
        .unwrap();
    // The stream is still open: the first report comes anyway.
    let first = reports
        .next()
        .await
        .expect("a report before the stream ends");
    assert_file(&first, &content("/s/first", 100));
    tx.send(bed.request("/s/second?size=200", "second"))
        .await
        .unwrap();
    drop(tx);
    let second = reports.next().await.unwrap();
    assert_file(&second, &content("/s/second", 200));
    assert!(
        reports.next().await.is_none(),
        "the stream ended, so do the reports"
    );
}

#[tokio::test]
async fn reports_can_come_in_input_order() {
    let bed = Bed::start().await;
    let downloader = fast().concurrency(8).build().unwrap();
    // Earlier requests are slower: in completion order they would come last.
    let requests: Vec<_> = (0..6)
        .map(|i| {
            bed.request(
                &format!("/o/{i}?size=1000&latency_ms={}", 300 - i * 50),
                &format!("{i}"),
            )
        })
        .collect();
    let urls: Vec<String> = requests.iter().map(|r| r.url().to_string()).collect();
    let in_order: Vec<Report> = downloader
        .download_all_in_order(futures_util::stream::iter(requests.clone()))
        .collect()
        .await;
    let got: Vec<&str> = in_order.iter().map(Report::url).collect();
    assert_eq!(got, urls);
    for report in &in_order {
        assert!(report.is_ok());
    }
    // The same list in completion order: the fastest (last) comes first.
    for request in &requests {
        std::fs::remove_file(request.path().unwrap()).unwrap();
    }
    let by_completion: Vec<Report> = downloader
        .download_all(futures_util::stream::iter(requests))
        .collect()
        .await;
    assert_eq!(
        by_completion.first().map(Report::url),
        urls.last().map(String::as_str)
    );
}

#[tokio::test]
async fn a_consumer_that_does_not_read_holds_back_the_intake() {
    let bed = Bed::start().await;
    let concurrency = 2;
    let downloader = fast().concurrency(concurrency).build().unwrap();
    let pulled = Arc::new(AtomicUsize::new(0));
    let total = 200;
    let requests = futures_util::stream::iter(0..total).map({
        let pulled = pulled.clone();
        let bed_urls: Vec<_> = (0..total)
            .map(|i| bed.request(&format!("/b/{i}?size=10"), &format!("b{i}")))
            .collect();
        move |i| {
            pulled.fetch_add(1, Ordering::SeqCst);
            bed_urls[i].clone()
        }
    });
    let mut reports = downloader.download_all(requests);
    // Nobody reads: after the downloads that fit have run, the intake waits.
    let settle = || async {
        let mut last = usize::MAX;
        loop {
            tokio::time::sleep(Duration::from_millis(150)).await;
            let now = pulled.load(Ordering::SeqCst);
            if now == last {
                return now;
            }
            last = now;
        }
    };
    let held_back = settle().await;
    // A full report channel, a report held by each slot, and one request
    // pulled ahead while waiting for a slot.
    let bound = concurrency * 2 + 1;
    assert!(
        held_back <= bound,
        "{held_back} requests pulled, at most {bound} expected"
    );
    let mut count = 0;
    while let Some(report) = reports.next().await {
        assert!(report.is_ok(), "{:?}", report.error());
        count += 1;
    }
    assert_eq!(count, total);
}

#[tokio::test]
async fn the_paginated_api_is_walked_and_fetched_at_once() {
    // The example pages POST /api/list_files with the engine itself and
    // feeds the endpoints to the same downloader while paging.
    let bed = Bed::with(parget_testbed::ServerConfig {
        listing_files: 40,
        listing_lag: Duration::from_millis(30),
        ..Default::default()
    })
    .await;
    // `cargo test` builds the examples beside the test binaries.
    let deps = std::env::current_exe().unwrap();
    let example = deps
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/paginated");
    assert!(
        example.exists(),
        "{} is built by cargo test",
        example.display()
    );
    let mut command = std::process::Command::new(example);
    // One page in flight at a time: paging and downloads still overlap,
    // since a page's endpoints start while the next page is asked for.
    command
        .arg(bed.server.base_url())
        .arg(bed.dir.path())
        .args(["--window", "1", "--growth", "1", "--max-window", "1"]);
    // The server runs on this test's runtime: wait off it.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("the example runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let endpoints = bed.server.listing_endpoints();
    assert_eq!(endpoints.len(), 40);
    let stats = bed.server.stats();
    for endpoint in &endpoints {
        assert_eq!(
            stats.requests_for(endpoint),
            1,
            "{endpoint} fetched once: {stats:?}"
        );
        let name = endpoint.rsplit('/').next().unwrap();
        let got = std::fs::read_to_string(bed.dir.path().join(name)).unwrap();
        assert!(got.ends_with(" of 40"), "{name}: {got}");
    }
    // Paging overlapped the downloads: some endpoint was requested before
    // the last page was.
    let requests = bed.server.requests();
    let last_page = requests
        .iter()
        .rposition(|r| r.path() == "/api/list_files")
        .expect("pages were requested");
    let first_endpoint = requests
        .iter()
        .position(|r| r.path().starts_with("/endpoint/"))
        .expect("endpoints were requested");
    assert!(first_endpoint < last_page, "downloads began while paging");
}
