//! Running again: skipping what is already right, never silently
//! replacing what cannot be checked, one destination per run.

use futures_util::StreamExt;
use parget::{ErrorKind, Outcome, Report};

use crate::util::{assert_file, content, fast, sha256, Bed};

#[tokio::test]
async fn an_output_matching_its_expectations_is_skipped() {
    let bed = Bed::start().await;
    let expected = content("/k.bin", 3000);
    let downloader = fast().build().unwrap();
    let request = || {
        bed.request("/k.bin?size=3000", "k.bin")
            .with_digest(sha256(&expected))
            .with_size(3000)
    };
    assert_file(&downloader.download(request()).await, &expected);
    bed.server.reset_stats();
    let again = fast().build().unwrap().download(request()).await;
    assert!(
        matches!(again.outcome(), Outcome::Skipped),
        "{:?}",
        again.outcome()
    );
    assert_eq!((again.attempts(), again.bytes()), (0, 3000));
    assert_eq!(again.digests(), &[sha256(&expected)]);
    assert_eq!(bed.server.stats().requests, 0, "nothing was requested");
}

#[tokio::test]
async fn an_output_failing_its_expectations_is_replaced() {
    let bed = Bed::start().await;
    let expected = content("/w.bin", 3000);
    std::fs::write(bed.path("w.bin"), b"stale bytes").unwrap();
    let report = fast()
        .build()
        .unwrap()
        .download(
            bed.request("/w.bin?size=3000", "w.bin")
                .with_digest(sha256(&expected)),
        )
        .await;
    assert!(matches!(report.outcome(), Outcome::Downloaded));
    assert_file(&report, &expected);
}

#[tokio::test]
async fn an_output_without_expectations_is_not_overwritten() {
    let bed = Bed::start().await;
    std::fs::write(bed.path("mine.txt"), b"precious").unwrap();
    let report = fast()
        .build()
        .unwrap()
        .download(bed.request("/mine.txt?size=10", "mine.txt"))
        .await;
    let error = report.error().expect("refused");
    assert!(
        matches!(error.kind(), ErrorKind::DestinationExists(_)),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("replaced only when overwriting is allowed"),
        "{error}"
    );
    assert_eq!(std::fs::read(bed.path("mine.txt")).unwrap(), b"precious");
    let report = fast()
        .allow_overwrite(true)
        .build()
        .unwrap()
        .download(bed.request("/mine.txt?size=10", "mine.txt"))
        .await;
    assert_file(&report, &content("/mine.txt", 10));
}

#[tokio::test]
async fn two_downloads_to_one_path_the_second_fails() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    let requests = vec![
        bed.request("/one?size=100&latency_ms=200", "same"),
        parget::Request::new(
            &bed.server.url("/two?size=50"),
            bed.dir.path().join("./same"),
        )
        .unwrap(),
    ];
    let reports: Vec<Report> = downloader
        .download_all(futures_util::stream::iter(requests))
        .collect()
        .await;
    let failed: Vec<&Report> = reports.iter().filter(|r| !r.is_ok()).collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].url().contains("/two"));
    assert!(matches!(
        failed[0].error().unwrap().kind(),
        ErrorKind::DuplicateDestination(_)
    ));
    assert_eq!(
        std::fs::read(bed.path("same")).unwrap(),
        content("/one", 100)
    );
}
