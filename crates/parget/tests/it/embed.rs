//! What an embedder sets per request and plugs in: headers, settings,
//! hooks, tags, the report's final URL and headers, progress ids.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Method;
use parget::hooks::{Rejection, ResponseHead, Verified};
use parget::retry::RetryPolicy;
use parget::{DownloadId, DownloadProgress, ErrorKind, Report, Reporter, Request, Tag};

use crate::util::{assert_failed, assert_file, content, fast, part_of, sha256, Bed};

/// What a hook saw, shared with the test.
type Seen<T> = Arc<Mutex<Vec<T>>>;

#[tokio::test]
async fn per_request_headers_and_user_agent_reach_the_server() {
    let bed = Bed::start().await;
    let downloader = fast().user_agent("engine/1").build().unwrap();
    let request = bed
        .request("/h/secret?size=64&bearer=t0k3n", "secret")
        .with_header("Authorization", "Bearer t0k3n")
        .unwrap()
        .with_header("X-Trace", "abc")
        .unwrap()
        .with_user_agent("embedder/2")
        .unwrap();
    let report = downloader.download(request).await;
    assert_file(&report, &content("/h/secret", 64));
    let seen = bed.server.requests_for("/h/secret");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-trace"), Some("abc"));
    assert_eq!(seen[0].header("user-agent"), Some("embedder/2"));
    // Without the header the server refuses: the header did the work.
    let plain = downloader
        .download(bed.request("/h/secret?size=64&bearer=t0k3n", "plain"))
        .await;
    assert_eq!(assert_failed(&plain).status(), Some(401));
    assert_eq!(
        bed.server.requests_for("/h/secret")[1].header("user-agent"),
        Some("engine/1")
    );
}

#[tokio::test]
async fn a_request_carries_its_own_retry_policy_and_idle_timeout() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    let once = bed
        .request("/r/flaky?size=10&fail=503&fail_count=2", "flaky")
        .with_retry_policy(RetryPolicy::new(0, Duration::ZERO));
    let report = downloader.download(once).await;
    assert_eq!(assert_failed(&report).status(), Some(503));
    assert_eq!(report.attempts(), 1, "its own policy allows no retry");
    let idle = Duration::from_millis(250);
    let stalled = bed
        .request(
            "/r/stall?size=100000&stall_after=10&fault_count=all",
            "stall",
        )
        .with_idle_timeout(idle)
        .with_retry_policy(RetryPolicy::new(0, Duration::ZERO));
    let report = downloader.download(stalled).await;
    let error = assert_failed(&report);
    assert!(
        matches!(error.kind(), ErrorKind::IdleTimeout(d) if *d == idle),
        "{error}"
    );
}

#[tokio::test]
async fn the_report_has_the_final_url_the_headers_and_the_tag() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    let request = bed
        .request(
            "/start?redirect_to=%2Ftarget.bin%3Fsize%3D300",
            "target.bin",
        )
        .with_tag(Tag::new(77_u64));
    let report = downloader.download(request).await;
    assert_file(&report, &content("/target.bin", 300));
    assert_eq!(
        report.final_url().map(url::Url::as_str),
        Some(bed.server.url("/target.bin?size=300").as_str())
    );
    assert!(
        report.headers().contains_key("etag"),
        "{:?}",
        report.headers()
    );
    assert_eq!(report.headers()["content-length"], "300");
    assert_eq!(
        report.tag().and_then(|t| t.downcast_ref::<u64>()),
        Some(&77)
    );
}

#[tokio::test]
async fn a_response_hook_sees_the_head_and_can_refuse_it_before_any_byte() {
    let bed = Bed::start().await;
    let seen: Seen<(u16, Option<String>)> = Arc::default();
    let downloader = fast()
        .response_hook(Arc::new({
            let seen = seen.clone();
            move |head: &ResponseHead<'_>| {
                let etag = head.headers.get("etag").and_then(|v| v.to_str().ok());
                seen.lock()
                    .unwrap()
                    .push((head.status, etag.map(str::to_owned)));
                Ok(())
            }
        }))
        .build()
        .unwrap();
    let ok = downloader.download(bed.request("/hk/a?size=10", "a")).await;
    assert!(ok.is_ok());
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(seen.lock().unwrap()[0].0, 200);
    assert!(
        seen.lock().unwrap()[0].1.is_some(),
        "the headers were there"
    );

    // A request's own hook refuses large files: nothing is written.
    let refuse = bed
        .request("/hk/big?size=5000000", "big")
        .with_response_hook(Arc::new(|head: &ResponseHead<'_>| {
            match head
                .headers
                .get("content-length")
                .and_then(|v| v.to_str().ok())
            {
                Some(len) if len.parse::<u64>().unwrap_or(0) > 1_000_000 => {
                    Err(Rejection::new(format!("{len} bytes is too large")))
                }
                _ => Ok(()),
            }
        }));
    let report = downloader.download(refuse).await;
    let error = assert_failed(&report);
    assert!(
        matches!(error.kind(), ErrorKind::Rejected(why) if why.contains("too large")),
        "{error}"
    );
    assert!(
        !part_of(&bed.path("big")).exists(),
        "nothing of the body was written"
    );
    assert_eq!(report.attempts(), 1, "a refusal is not retried");
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "the downloader's hook ran first"
    );
}

#[tokio::test]
async fn a_finish_hook_sees_size_and_digests_and_can_refuse_the_result() {
    let bed = Bed::start().await;
    let expected = content("/fh/f", 2000);
    let digest = sha256(&expected);
    let seen: Seen<(Option<std::path::PathBuf>, u64, usize)> = Arc::default();
    let downloader = fast()
        .finish_hook(Arc::new({
            let seen = seen.clone();
            move |v: &Verified<'_>| {
                seen.lock().unwrap().push((
                    v.destination.map(ToOwned::to_owned),
                    v.size,
                    v.digests.len(),
                ));
                Ok(())
            }
        }))
        .build()
        .unwrap();
    let report = downloader
        .download(
            bed.request("/fh/f?size=2000", "f")
                .with_digest(digest.clone()),
        )
        .await;
    assert_file(&report, &expected);
    assert_eq!(*seen.lock().unwrap(), [(Some(bed.path("f")), 2000, 1)]);

    let refuse = bed
        .request("/fh/g?size=3000000", "g")
        .with_finish_hook(Arc::new(|v: &Verified<'_>| {
            Err(Rejection::new(format!("{} bytes not wanted", v.size)))
        }));
    let report = downloader.download(refuse).await;
    let error = assert_failed(&report);
    assert!(matches!(error.kind(), ErrorKind::Rejected(_)), "{error}");
    assert!(
        !part_of(&bed.path("g")).exists(),
        "a refused result is discarded"
    );
}

#[tokio::test]
async fn a_post_with_a_body_downloads_the_answer() {
    let bed = Bed::with(parget_testbed::ServerConfig {
        listing_files: 12,
        ..Default::default()
    })
    .await;
    let downloader = fast().build().unwrap();
    let request = Request::new_in_memory(&bed.server.url("/api/list_files"))
        .unwrap()
        .with_header("Content-Type", "application/json")
        .unwrap()
        .with_body(Method::POST, r#"{"start": 0, "per_page": 5}"#);
    let report = downloader.download(request).await;
    assert!(report.is_ok(), "{:?}", report.error());
    let page: Vec<String> = serde_json::from_slice(report.data().unwrap()).unwrap();
    assert_eq!(page, bed.server.listing_endpoints()[..5]);
    assert_eq!(report.headers()["more"], "true");
    assert_eq!(bed.server.requests_for("/api/list_files")[0].method, "POST");
}

/// Every edge a reporter saw, by download id.
#[derive(Default)]
struct Edges(Mutex<Vec<(DownloadId, &'static str, Option<u64>)>>);

impl Reporter for Edges {
    fn started(&self, progress: &Arc<DownloadProgress>) {
        let tag = progress
            .tag()
            .and_then(|t| t.downcast_ref::<u64>())
            .copied();
        self.0.lock().unwrap().push((progress.id(), "started", tag));
    }
    fn retrying(&self, progress: &DownloadProgress, _: &parget::Retry<'_>) {
        self.0
            .lock()
            .unwrap()
            .push((progress.id(), "retrying", None));
    }
    fn finished(&self, report: &Report) {
        let tag = report.tag().and_then(|t| t.downcast_ref::<u64>()).copied();
        self.0.lock().unwrap().push((report.id(), "finished", tag));
    }
}

#[tokio::test]
async fn progress_edges_share_an_id_and_the_tag() {
    let bed = Bed::start().await;
    let edges = Arc::new(Edges::default());
    let downloader = fast().reporter(edges.clone()).build().unwrap();
    // Two downloads of one URL, told apart by their ids and tags.
    let url = "/p/same?size=100&fail=503";
    let a = downloader.spawn(bed.request(url, "a").with_tag(Tag::new(1_u64)));
    let b = downloader.spawn(bed.request(url, "b").with_tag(Tag::new(2_u64)));
    let (a, b) = (a.await, b.await);
    assert!(a.is_ok() && b.is_ok());
    assert_ne!(a.id(), b.id());
    let edges = edges.0.lock().unwrap().clone();
    for report in [&a, &b] {
        let tag = report.tag().and_then(|t| t.downcast_ref::<u64>()).copied();
        let mine: Vec<_> = edges.iter().filter(|(id, ..)| *id == report.id()).collect();
        assert_eq!(
            mine.first().map(|e| (e.1, e.2)),
            Some(("started", tag)),
            "{mine:?}"
        );
        assert_eq!(
            mine.last().map(|e| (e.1, e.2)),
            Some(("finished", tag)),
            "{mine:?}"
        );
    }
    let retries = edges.iter().filter(|e| e.1 == "retrying").count();
    assert_eq!(
        retries, 1,
        "the first request to the URL failed once: {edges:?}"
    );
}

#[tokio::test]
async fn computed_digests_come_back_without_being_expected() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    let md5 = |bytes: &[u8]| parget::verify::digest_of(parget::Algorithm::Md5, bytes);
    // A small body (hashed in one piece) and a large one (hashed on the
    // sink's thread as it is written), each with an expected digest too.
    for (name, len) in [("small", 1000), ("large", 3_000_000)] {
        let path = format!("/cd/{name}");
        let body = content(&path, len);
        let request = bed
            .request(&format!("{path}?size={len}"), name)
            .with_computed_digest(parget::Algorithm::Sha256)
            .with_digest(md5(&body))
            .with_computed_digest(parget::Algorithm::Md5);
        let report = downloader.download(request).await;
        assert_file(&report, &body);
        assert_eq!(report.digests(), [md5(&body), sha256(&body)], "{name}");
    }
    // With nothing expected, the digest is computed and nothing checked.
    let body = content("/cd/plain", 5000);
    let report = downloader
        .download(
            bed.request("/cd/plain?size=5000", "plain")
                .with_computed_digest(parget::Algorithm::Sha256),
        )
        .await;
    assert_file(&report, &body);
    assert_eq!(report.digests(), [sha256(&body)]);
    // A file already in place with the expected digest is skipped, and
    // the skip's report carries the computed digest as well.
    let again = downloader
        .download(
            bed.request("/cd/small?size=1000", "small")
                .with_digest(md5(&content("/cd/small", 1000)))
                .with_computed_digest(parget::Algorithm::Sha256),
        )
        .await;
    assert!(matches!(again.outcome(), parget::Outcome::Skipped));
    let small = content("/cd/small", 1000);
    assert_eq!(again.digests(), [md5(&small), sha256(&small)]);
    // Continuing, a file in place with nothing expected is done as it
    // is: its report carries the digests asked for too.
    let continuing = fast().resume_partial(true).build().unwrap();
    let done = continuing
        .download(
            bed.request("/cd/plain?size=5000", "plain")
                .with_computed_digest(parget::Algorithm::Sha256),
        )
        .await;
    assert!(
        matches!(done.outcome(), parget::Outcome::Skipped),
        "{done:?}"
    );
    assert_eq!(done.digests(), [sha256(&body)]);
}
