//! Resume: inside one run after a failure, and across runs with `.part`
//! files; never splicing two versions of a resource.

use std::time::Duration;

use parget::retry::RetryPolicy;
use parget::ErrorKind;

use crate::util::{
    assert_failed, assert_file, content, fast, part_of, record_line, recorded, sha256, Bed,
};

const LEN: u64 = 6_000_000;

#[tokio::test]
async fn a_retry_continues_from_the_bytes_already_written() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    let expected = content("/r.bin", LEN);
    let report = downloader
        .download(
            bed.request(&format!("/r.bin?size={LEN}&reset_after=4000000"), "r.bin")
                .with_digest(sha256(&expected)),
        )
        .await;
    assert_file(&report, &expected);
    let stats = bed.server.stats();
    assert_eq!(
        stats.range_requests_for("/r.bin"),
        1,
        "the retry asked for the rest only"
    );
    assert!(
        stats.body_bytes_for("/r.bin") < LEN + 1_500_000,
        "served {} bytes for a {LEN}-byte file",
        stats.body_bytes_for("/r.bin")
    );
}

#[tokio::test]
async fn without_range_support_a_retry_starts_over() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    let expected = content("/nr.bin", LEN);
    let report = downloader
        .download(
            bed.request(
                &format!("/nr.bin?size={LEN}&ranges=0&truncate_after=3000000"),
                "nr.bin",
            )
            .with_digest(sha256(&expected)),
        )
        .await;
    assert_file(&report, &expected);
    let stats = bed.server.stats();
    assert_eq!(stats.range_requests_for("/nr.bin"), 0);
    assert_eq!(
        stats.body_bytes_for("/nr.bin"),
        3_000_000 + LEN,
        "the whole file was fetched again"
    );
}

/// Leaves `name.part` holding the first bytes of `/name`: the first GET
/// stalls after `stall` bytes and the attempt gives up.
async fn leave_part(bed: &Bed, path_and_query: &str, name: &str) -> u64 {
    let downloader = fast()
        .idle_timeout(Duration::from_millis(300))
        .retry_policy(RetryPolicy::new(0, Duration::ZERO))
        .build()
        .unwrap();
    // On a loaded machine the 300 ms idle limit can pass before the first
    // byte arrives, and then there is no `.part` yet: try again (the stall
    // itself never ends, so some attempt gets its bytes first).
    for _ in 0..10 {
        let report = downloader.download(bed.request(path_and_query, name)).await;
        assert!(assert_failed(&report).is_timeout());
        let kept = std::fs::metadata(part_of(&bed.path(name))).map(|m| m.len());
        if let Ok(len @ 1..) = kept {
            assert_eq!(
                recorded(&bed.path(name)),
                len,
                "every byte written is recorded"
            );
            return len;
        }
    }
    panic!("no attempt left a .part for {name}");
}

#[tokio::test]
async fn continue_fetches_only_what_is_missing() {
    let bed = Bed::start().await;
    let url = format!("/c.bin?size={LEN}&stall_after=2500000");
    let kept = leave_part(&bed, &url, "c.bin").await;
    assert!(kept >= 2_000_000, "kept {kept}");
    bed.server.reset_stats();
    let expected = content("/c.bin", LEN);
    let downloader = fast().resume_partial(true).build().unwrap();
    let report = downloader
        .download(bed.request(&url, "c.bin").with_digest(sha256(&expected)))
        .await;
    assert_file(&report, &expected);
    let stats = bed.server.stats();
    assert_eq!(
        stats.body_bytes_for("/c.bin"),
        LEN - kept,
        "only the missing bytes were fetched"
    );
    assert_eq!(stats.range_requests_for("/c.bin"), 1);
}

#[tokio::test]
async fn a_resume_whose_range_is_refused_fetches_the_whole_file() {
    // A server (a CDN's signed URL, say) that serves the whole file but
    // answers every Range with 403, or one that says the range is past
    // the file's end (416): `-c` gets the file as a fresh download does,
    // at once, even with no retries left.
    let bed = Bed::start().await;
    for status in [403, 416] {
        let name = format!("refused-{status}.bin");
        let stalled = format!("/{name}?size={LEN}&stall_after=2500000");
        leave_part(&bed, &stalled, &name).await;
        let url = format!("/{name}?size={LEN}&range_status={status}");
        // The kept bytes were recorded for this URL.
        let control = bed.path(&format!("{name}.part.parget"));
        let text = std::fs::read_to_string(&control).expect("control file written");
        let (header, records) = text.split_once('\n').unwrap();
        let mut json: serde_json::Value = serde_json::from_str(header).unwrap();
        json["url"] = bed.server.url(&url).into();
        std::fs::write(&control, format!("{json}\n{records}")).unwrap();
        bed.server.reset_stats();
        let expected = content(&format!("/{name}"), LEN);
        let downloader = fast()
            .resume_partial(true)
            .retry_policy(RetryPolicy::new(0, Duration::ZERO))
            .build()
            .unwrap();
        let report = downloader
            .download(bed.request(&url, &name).with_digest(sha256(&expected)))
            .await;
        assert_file(&report, &expected);
        let stats = bed.server.stats();
        let path = format!("/{name}");
        assert_eq!(
            stats.range_requests_for(&path),
            1,
            "{status}: the resume asked once"
        );
        assert_eq!(
            stats.requests_for(&path),
            2,
            "{status}: then the whole file"
        );
        let served = stats.body_bytes_for(&path);
        assert!(
            (LEN..LEN + 100).contains(&served),
            "{status}: the whole file once, and the refusal's short text: {served}"
        );
    }
}

#[tokio::test]
async fn a_changed_resource_starts_over() {
    let bed = Bed::start().await;
    let url = format!("/v.bin?size={LEN}&stall_after=2500000");
    leave_part(&bed, &url, "v.bin").await;
    // The bytes on disk came with another version of the resource.
    let control = bed.path("v.bin.part.parget");
    let text = std::fs::read_to_string(&control).expect("control file written");
    let (header, records) = text.split_once('\n').unwrap();
    assert!(!records.is_empty(), "the kept bytes are recorded");
    let mut json: serde_json::Value = serde_json::from_str(header).unwrap();
    json["validator"]["etag"] = "\"an-older-version\"".into();
    std::fs::write(&control, format!("{json}\n{records}")).unwrap();
    bed.server.reset_stats();
    let downloader = fast().resume_partial(true).build().unwrap();
    let report = downloader.download(bed.request(&url, "v.bin")).await;
    assert_file(&report, &content("/v.bin", LEN));
    assert_eq!(
        bed.server.stats().body_bytes_for("/v.bin"),
        LEN,
        "If-Range failed: whole file"
    );
}

#[tokio::test]
async fn a_part_file_of_another_url_is_refused() {
    let bed = Bed::start().await;
    leave_part(
        &bed,
        &format!("/a.bin?size={LEN}&stall_after=1500000"),
        "out.bin",
    )
    .await;
    let before = std::fs::read(part_of(&bed.path("out.bin"))).unwrap();
    let downloader = fast().resume_partial(true).build().unwrap();
    let report = downloader
        .download(bed.request(&format!("/b.bin?size={LEN}"), "out.bin"))
        .await;
    let error = assert_failed(&report);
    assert!(
        matches!(error.kind(), ErrorKind::ResumeRefused(_)),
        "{error}"
    );
    assert!(
        error.to_string().contains("/a.bin"),
        "names the other URL: {error}"
    );
    assert_eq!(
        std::fs::read(part_of(&bed.path("out.bin"))).unwrap(),
        before,
        ".part untouched"
    );
}

#[tokio::test]
async fn without_continue_a_part_file_is_started_over() {
    let bed = Bed::start().await;
    let url = format!("/n.bin?size={LEN}&stall_after=1500000");
    leave_part(&bed, &url, "n.bin").await;
    bed.server.reset_stats();
    let report = fast()
        .build()
        .unwrap()
        .download(bed.request(&url, "n.bin"))
        .await;
    assert_file(&report, &content("/n.bin", LEN));
    assert_eq!(bed.server.stats().body_bytes_for("/n.bin"), LEN);
}

#[tokio::test]
async fn continue_with_a_complete_part_fetches_nothing() {
    let bed = Bed::start().await;
    let url = format!("/full.bin?size={LEN}&stall_after=2500000");
    let kept = leave_part(&bed, &url, "full.bin").await;
    let expected = content("/full.bin", LEN);
    // Complete the .part and its records by hand, as if the earlier run
    // was killed just before its rename.
    std::fs::write(part_of(&bed.path("full.bin")), &expected).unwrap();
    let mut control = std::fs::OpenOptions::new()
        .append(true)
        .open(bed.path("full.bin.part.parget"))
        .unwrap();
    let rest = &expected[kept as usize..];
    std::io::Write::write_all(&mut control, record_line(kept, rest).as_bytes()).unwrap();
    assert!(kept < LEN);
    bed.server.reset_stats();
    let downloader = fast().resume_partial(true).build().unwrap();
    let report = downloader
        .download(bed.request(&url, "full.bin").with_digest(sha256(&expected)))
        .await;
    assert_file(&report, &expected);
    let served = bed.server.stats().body_bytes_for("/full.bin");
    assert!(
        served < 100,
        "only the 416 page was served ({served} bytes): it said all was there"
    );
    assert_eq!(report.attempts(), 1);
}

/// Bytes an earlier run kept and recorded, all of them, whose digest is
/// wrong (the disk changed them, or the earlier run got them from a bad
/// source): they are dropped and the file is fetched once more from the
/// start, rather than the run failing with nothing in place.
#[tokio::test]
async fn kept_bytes_with_a_wrong_digest_are_fetched_again() {
    let bed = Bed::start().await;
    let url = format!("/w.bin?size={LEN}&stall_after=2500000");
    leave_part(&bed, &url, "w.bin").await;
    let expected = content("/w.bin", LEN);
    let mut wrong = expected.clone();
    wrong[1000] ^= 0xff;
    std::fs::write(part_of(&bed.path("w.bin")), &wrong).unwrap();
    let control = bed.path("w.bin.part.parget");
    let text = std::fs::read_to_string(&control).unwrap();
    let header = text.split_once('\n').unwrap().0;
    std::fs::write(&control, format!("{header}\n{}", record_line(0, &wrong))).unwrap();
    bed.server.reset_stats();
    let downloader = fast().resume_partial(true).build().unwrap();
    let report = downloader
        .download(bed.request(&url, "w.bin").with_digest(sha256(&expected)))
        .await;
    assert_file(&report, &expected);
    assert!(!control.exists(), "the control file went with the rename");
    assert!(
        bed.server.stats().body_bytes_for("/w.bin") >= LEN,
        "the whole file was fetched again"
    );
    assert_eq!(report.attempts(), 2);
}

#[tokio::test]
async fn a_size_that_changes_between_requests_is_never_spliced() {
    let bed = Bed::start().await;
    // The first answer announces 10 bytes more than it sends; the retry's
    // Range answer reveals the real size: the held bytes are not trusted.
    let downloader = fast()
        .retry_policy(RetryPolicy::new(3, Duration::ZERO))
        .build()
        .unwrap();
    let report = downloader
        .download(bed.request("/grow?size=1000&extra_length=10&fault_count=all", "grow"))
        .await;
    let error = assert_failed(&report);
    assert!(error.is_retryable(), "{error}");
    assert_eq!(
        report.attempts(),
        4,
        "every attempt was tried, none accepted"
    );
}

/// The ways a server that ignores `If-Range` labels a range of another
/// version (see the testbed's `range_change`).
const CHANGES: [&str; 4] = ["version", "date", "weak", "none"];

#[tokio::test]
async fn a_retry_answered_from_another_version_starts_over() {
    let bed = Bed::start().await;
    // One retry, for the cut: starting over costs none.
    let downloader = fast()
        .retry_policy(RetryPolicy::new(1, Duration::ZERO))
        .build()
        .unwrap();
    for kind in CHANGES {
        let name = format!("rc-{kind}.bin");
        let url = format!("/{name}?size={LEN}&truncate_after=2000000&range_change={kind}");
        let report = downloader.download(bed.request(&url, &name)).await;
        assert_file(&report, &content(&format!("/{name}"), LEN));
        assert_eq!(
            report.attempts(),
            3,
            "{kind}: cut, a range of another version refused, then whole"
        );
        assert_eq!(
            bed.server.stats().range_requests_for(&format!("/{name}")),
            1
        );
    }
}

#[tokio::test]
async fn a_resume_answered_from_another_version_starts_over() {
    let bed = Bed::start().await;
    for kind in CHANGES {
        let name = format!("rr-{kind}.bin");
        let url = format!("/{name}?size={LEN}&stall_after=2500000&range_change={kind}");
        leave_part(&bed, &url, &name).await;
        let downloader = fast().resume_partial(true).build().unwrap();
        let report = downloader.download(bed.request(&url, &name)).await;
        assert_file(&report, &content(&format!("/{name}"), LEN));
        assert!(
            bed.server.stats().range_requests_for(&format!("/{name}")) >= 1,
            "{kind}: the kept bytes were offered for a resume"
        );
    }
}

/// A server whose first answer (`first` bytes promised, half of them
/// sent, then the connection closed) is of one version, and whose every
/// later answer, to a Range or not, is a whole 200 of a shorter one.
fn changing_to_a_shorter_version(first: usize, then: usize) -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            let (len, body) = match n {
                0 => (first, vec![b'a'; first / 2]),
                _ => (then, vec![b'b'; then]),
            };
            let etag = if n == 0 { "\"one\"" } else { "\"two\"" };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nETag: {etag}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    addr
}

#[tokio::test]
async fn a_file_that_starts_over_shorter_keeps_none_of_the_first_attempts_bytes() {
    // 150 kB of a 300 kB version streamed into the part file, then the
    // retry answered with a whole 100 kB version: the file in place is
    // those 100 kB alone, and no control file stays beside it.
    let addr = changing_to_a_shorter_version(300_000, 100_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.bin");
    let report = fast()
        .retry_policy(RetryPolicy::new(2, Duration::ZERO))
        .build()
        .unwrap()
        .download(parget::Request::new(&format!("http://{addr}/x.bin"), &path).unwrap())
        .await;
    assert!(report.is_ok(), "{:?}", report.error());
    let got = std::fs::read(&path).unwrap();
    assert!(
        got == vec![b'b'; 100_000],
        "{} bytes in place, {} of them the first attempt's",
        got.len(),
        got.iter().filter(|&&b| b == b'a').count()
    );
    assert!(!dir.path().join("x.bin.part").exists());
    assert!(!dir.path().join("x.bin.part.parget").exists());
}
