//! Hostile responses: each of the testbed's `hostile=KIND` gives a clear
//! error naming the URL and what was wrong, is not retried when it is
//! malformed (the server would send the same again), and leaves nothing
//! at the destination.

use parget::retry::RetryPolicy;
use parget::ErrorKind;

use crate::util::{assert_failed, fast, Bed};

#[tokio::test]
async fn malformed_answers_fail_at_once_with_what_was_wrong() {
    let bed = Bed::start().await;
    let downloader = fast()
        .retry_policy(RetryPolicy::new(4, std::time::Duration::from_millis(200)))
        .build()
        .unwrap();
    for (kind, says) in [
        ("huge_header", "response head is too large"),
        ("many_headers", "response head is too large"),
        ("two_lengths", "Content-Length"),
        ("te_and_length", "both Transfer-Encoding and Content-Length"),
        (
            "te_gzip",
            "the transfer coding `gzip`, which parget does not decode",
        ),
        ("bad_chunk", "bad chunked encoding"),
        ("chunk_overflow", "bad chunked encoding"),
        ("bad_status", "not an HTTP response"),
        ("bad_location", "unusable Location `http://[::1`"),
        ("range_total_mismatch", "its last byte is beyond its total"),
        ("range_inverted", "its first byte comes after its last"),
        (
            "range_not_ascii",
            "invalid Content-Range `bytes 0\u{2013}99999/100000`: it is not ASCII",
        ),
        ("control_chars", "invalid header line"),
    ] {
        let path = format!("/{kind}.bin?size=100000&hostile={kind}");
        let report = downloader.download(bed.request(&path, kind)).await;
        let error = assert_failed(&report);
        let text = format!("{error:#}");
        assert!(
            matches!(error.kind(), ErrorKind::Protocol(_)),
            "{kind}: {text}"
        );
        assert!(text.contains(says), "{kind}: {text}");
        assert_eq!(
            error.url(),
            Some(bed.server.url(&path).as_str()),
            "{kind}: the error names the URL"
        );
        assert!(
            !text.contains('\u{1b}'),
            "{kind}: no raw control character: {text:?}"
        );
        assert!(
            !text.contains(" parsed"),
            "{kind}: the parser's own words are not repeated: {text}"
        );
        assert_eq!(report.attempts(), 1, "{kind}: not retried: {text}");
        assert!(
            !crate::util::part_of(&bed.path(kind)).exists(),
            "{kind}: no partial file"
        );
    }
}

#[tokio::test]
async fn a_chunked_body_cut_short_is_retried_like_a_cut_connection() {
    let bed = Bed::start().await;
    let downloader = fast()
        .retry_policy(RetryPolicy::new(2, std::time::Duration::ZERO))
        .build()
        .unwrap();
    let report = downloader
        .download(bed.request("/short.bin?size=1000&hostile=chunk_short", "short.bin"))
        .await;
    let error = assert_failed(&report);
    assert!(error.is_retryable(), "{error:#}");
    assert_eq!(report.attempts(), 3, "{error:#}");
    assert!(error.url().is_some());
}

#[tokio::test]
async fn a_chunked_body_cut_between_chunks_is_retried_and_lands_whole() {
    // Whole chunks, then a close where the terminating chunk is due: a
    // truncated body (retried), not a malformed one; the retry is served
    // normally.
    let bed = Bed::start().await;
    let report = fast()
        .retry_policy(RetryPolicy::new(2, std::time::Duration::ZERO))
        .build()
        .unwrap()
        .download(bed.request(
            "/cut.bin?size=5000&hostile=chunk_unterminated&fault_count=1",
            "cut.bin",
        ))
        .await;
    crate::util::assert_file(&report, &crate::util::content("/cut.bin", 5000));
    assert_eq!(report.attempts(), 2);
}

#[tokio::test]
async fn control_characters_from_a_server_never_reach_a_name() {
    let bed = Bed::start().await;
    // A redirect whose Location holds C1 controls and a right-to-left
    // override: followed percent-encoded, and the name made safe.
    let report = fast()
        .build()
        .unwrap()
        .download(
            parget::Request::new_in_dir(&bed.server.url("/c1?hostile=c1_chars"), bed.dir.path())
                .unwrap(),
        )
        .await;
    assert!(
        report.is_ok(),
        "{:?}",
        report.error().map(|e| format!("{e:#}"))
    );
    let name = report
        .path()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    assert!(!name.chars().any(char::is_control), "{name:?}");
    let final_url = report.final_url().unwrap().as_str();
    assert!(!final_url.chars().any(char::is_control), "{final_url}");
}
