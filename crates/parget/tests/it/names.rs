//! Server-chosen names (`Content-Disposition`) and cookies from a file.

use parget::cookies::CookieJar;
use parget::Request;
use parget_testbed::{ServerConfig, TestServer};

use crate::util::{assert_failed, assert_file, content, enc, fast, Bed};

#[tokio::test]
async fn content_disposition_names_the_file_inside_its_directory() {
    let bed = Bed::start().await;
    let downloader = fast().content_disposition(true).build().unwrap();
    for (value, expected) in [
        ("attachment; filename=\"report.pdf\"", "report.pdf"),
        // RFC 8187: filename* wins, percent-decoded UTF-8.
        (
            "attachment; filename*=UTF-8''na%C3%AFve%20plan.txt; filename=naive.txt",
            "naïve plan.txt",
        ),
        // Never a path: the base name only, no leading dots.
        ("attachment; filename=\"../../.bashrc\"", "bashrc"),
        ("attachment; filename=\"/etc/passwd\"", "passwd"),
        ("attachment; filename=\"-rf\"", "rf"),
        // A name parget reserves for its own files is no usable name:
        // the URL's stays (it failed the download).
        ("attachment; filename=\"d.bin.part\"", "d.bin"),
        ("attachment; filename=\"x.part.parget\"", "d.bin"),
    ] {
        let path = format!("/d.bin?size=300&disposition={}", enc(value));
        let report = downloader
            .download(Request::new_in_dir(&bed.server.url(&path), bed.dir.path()).unwrap())
            .await;
        assert_eq!(report.path(), Some(bed.path(expected).as_path()), "{value}");
        assert_file(&report, &content("/d.bin", 300));
        std::fs::remove_file(bed.path(expected)).unwrap();
    }
    // One HEAD then one GET.
    let methods: Vec<String> = bed
        .server
        .requests_for("/d.bin")
        .into_iter()
        .map(|r| r.method)
        .collect();
    assert_eq!(&methods[..2], ["HEAD", "GET"]);
}

#[tokio::test]
async fn content_disposition_is_off_by_default_and_never_for_given_names() {
    let bed = Bed::start().await;
    let path = format!(
        "/own.bin?size=20&disposition={}",
        enc("attachment; filename=x.txt")
    );
    let off = fast().build().unwrap();
    let report = off
        .download(Request::new_in_dir(&bed.server.url(&path), bed.dir.path()).unwrap())
        .await;
    assert_eq!(report.path(), Some(bed.path("own.bin").as_path()));
    let on = fast().content_disposition(true).build().unwrap();
    let report = on
        .download(Request::new(&bed.server.url(&path), bed.path("given.bin")).unwrap())
        .await;
    assert_eq!(report.path(), Some(bed.path("given.bin").as_path()));
    assert_file(&report, &content("/own.bin", 20));
    assert!(!bed.path("x.txt").exists());
    // Without a usable name (or with no header), the URL's name stays.
    let plain = on
        .download(
            Request::new_in_dir(
                &bed.server.url("/plain.bin?size=5&disposition=inline"),
                bed.dir.path(),
            )
            .unwrap(),
        )
        .await;
    assert_eq!(plain.path(), Some(bed.path("plain.bin").as_path()));
}

#[tokio::test]
async fn a_server_chosen_name_never_replaces_a_file_unless_allowed() {
    let bed = Bed::start().await;
    std::fs::write(bed.path("precious.txt"), b"mine").unwrap();
    let path = format!(
        "/p.bin?size=50&disposition={}",
        enc("attachment; filename=\"precious.txt\"")
    );
    let url = bed.server.url(&path);
    let report = fast()
        .content_disposition(true)
        .build()
        .unwrap()
        .download(
            Request::new_in_dir(&url, bed.dir.path())
                .unwrap()
                .with_size(50),
        )
        .await;
    let error = report.error().expect("refused");
    assert!(
        matches!(error.kind(), parget::ErrorKind::DestinationExists(p) if p == &bed.path("precious.txt")),
        "{error:#}"
    );
    assert!(
        format!("{error:#}").contains("Content-Disposition"),
        "{error:#}"
    );
    assert_eq!(std::fs::read(bed.path("precious.txt")).unwrap(), b"mine");
    assert!(
        bed.server
            .requests_for("/p.bin")
            .iter()
            .all(|r| r.method == "HEAD"),
        "no GET"
    );
    let report = fast()
        .content_disposition(true)
        .allow_overwrite(true)
        .build()
        .unwrap()
        .download(Request::new_in_dir(&url, bed.dir.path()).unwrap())
        .await;
    assert_file(&report, &content("/p.bin", 50));
}

#[tokio::test]
async fn cookies_go_to_matching_hosts_and_paths_and_secure_ones_only_over_https() {
    let plain = Bed::start().await;
    let secure = TestServer::start(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let jar = CookieJar::parse(
        b"# Netscape HTTP Cookie File\n\
          127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tabc\n\
          127.0.0.1\tFALSE\t/private\tFALSE\t0\tdeep\tyes\n\
          127.0.0.1\tFALSE\t/\tTRUE\t0\tsecret\ts3\n\
          127.0.0.1\tFALSE\t/\tFALSE\t1\texpired\told\n\
          example.com\tTRUE\t/\tFALSE\t0\tforeign\tno\n",
        "cookies.txt",
    )
    .unwrap();
    let downloader = fast()
        .cookies(jar)
        .add_root_certificate_pem(secure.ca_cert_pem().unwrap())
        .build()
        .unwrap();
    // The gate wants the session cookie: sent.
    let report = downloader
        .download(plain.request("/a.bin?size=10&cookie=session%3Dabc", "a.bin"))
        .await;
    assert_file(&report, &content("/a.bin", 10));
    let cookie_of = |server: &TestServer, path: &str| {
        server.requests_for(path)[0]
            .header("cookie")
            .map(str::to_owned)
    };
    assert_eq!(
        cookie_of(&plain.server, "/a.bin").as_deref(),
        Some("session=abc")
    );
    // A deeper path gets its cookie first; https gets the Secure one.
    let report = downloader
        .download(plain.request("/private/b.bin?size=10", "b.bin"))
        .await;
    assert!(report.is_ok());
    assert_eq!(
        cookie_of(&plain.server, "/private/b.bin").as_deref(),
        Some("deep=yes; session=abc")
    );
    let report = downloader
        .download(
            Request::new(
                &secure.url("/s.bin?size=10&cookie=secret%3Ds3"),
                plain.path("s.bin"),
            )
            .unwrap(),
        )
        .await;
    assert_file(&report, &content("/s.bin", 10));
    assert_eq!(
        cookie_of(&secure, "/s.bin").as_deref(),
        Some("session=abc; secret=s3")
    );
    // Over http the Secure cookie is never sent: the gate refuses.
    let report = downloader
        .download(plain.request("/ns.bin?size=10&cookie=secret%3Ds3", "ns.bin"))
        .await;
    assert_eq!(assert_failed(&report).status(), Some(403));
    // Another host gets none of them.
    let report = downloader
        .download(
            Request::new(
                &format!(
                    "http://localhost:{}/other.bin?size=10",
                    plain.server.addr().port()
                ),
                plain.path("other.bin"),
            )
            .unwrap(),
        )
        .await;
    assert!(report.is_ok());
    assert_eq!(cookie_of(&plain.server, "/other.bin"), None);
}
