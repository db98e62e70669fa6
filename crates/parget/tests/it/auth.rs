//! Credentials: every way to give them reaches the server; none of them
//! follows a redirect to another origin; no Referer; no https→http; no
//! password in any message.

use parget::netrc::Netrc;
use parget::retry::RetryPolicy;
use parget::Request;
use parget_testbed::{RecordedRequest, ServerConfig, TestServer};

use crate::util::{assert_failed, assert_file, content, enc, fast, Bed};

/// Basic credentials as the testbed's `auth=` gate wants them.
const GATE: &str = "auth=alice%3As3cr%3At";

fn netrc(text: &str) -> Netrc {
    Netrc::parse(text.as_bytes(), "netrc").unwrap()
}

#[tokio::test]
async fn every_source_of_credentials_reaches_the_server() {
    let bed = Bed::start().await;
    let base = bed.server.base_url();
    let host = bed.server.addr().ip().to_string();
    let path = format!("/c.bin?size=100&{GATE}");
    let plain = |name: &str| Request::new(&format!("{base}{path}"), bed.path(name)).unwrap();
    let cases: Vec<(&str, parget::DownloaderBuilder, Request)> = vec![
        (
            "in the URL",
            fast(),
            Request::new(
                &format!("http://alice:s3cr%3At@{}{path}", bed.server.addr()),
                bed.path("url"),
            )
            .unwrap(),
        ),
        (
            "per request",
            fast(),
            plain("request").with_basic_auth("alice", "s3cr:t").unwrap(),
        ),
        (
            "downloader-wide",
            fast().basic_auth("alice", Some("s3cr:t")),
            plain("builder"),
        ),
        (
            "netrc machine",
            fast().netrc(netrc(&format!(
                "machine {host} login alice password s3cr:t"
            ))),
            plain("netrc"),
        ),
        (
            "netrc default",
            fast().netrc(netrc("default login alice password s3cr:t")),
            plain("default"),
        ),
        (
            "user from the URL, password from netrc",
            fast().netrc(netrc(&format!(
                "machine {host} login bob password nope\nmachine {host} login alice password s3cr:t"
            ))),
            Request::new(
                &format!("http://alice@{}{path}", bed.server.addr()),
                bed.path("mixed"),
            )
            .unwrap(),
        ),
        (
            "user downloader-wide, password from netrc",
            fast().basic_auth("alice", None).netrc(netrc(&format!(
                "machine {host} login alice password s3cr:t"
            ))),
            plain("userwide"),
        ),
        (
            "an Authorization header",
            fast().header("Authorization", "Basic YWxpY2U6czNjcjp0"),
            plain("header"),
        ),
    ];
    for (what, builder, request) in cases {
        let report = builder.build().unwrap().download(request).await;
        assert!(
            report.is_ok(),
            "{what}: {:?}",
            report.error().map(|e| format!("{e:#}"))
        );
        assert_file(&report, &content("/c.bin", 100));
    }
    // A Bearer token as a header.
    let report = fast()
        .build()
        .unwrap()
        .download(
            bed.request("/t.bin?size=10&bearer=tok-1", "bearer")
                .with_header("Authorization", "Bearer tok-1")
                .unwrap(),
        )
        .await;
    assert_file(&report, &content("/t.bin", 10));
}

#[tokio::test]
async fn a_refusal_is_final_and_wrong_credentials_are_not_retried() {
    let bed = Bed::start().await;
    let downloader = fast()
        .retry_policy(RetryPolicy::new(3, std::time::Duration::ZERO))
        .build()
        .unwrap();
    let report = downloader
        .download(
            bed.request(&format!("/r.bin?{GATE}"), "r.bin")
                .with_basic_auth("alice", "wrong")
                .unwrap(),
        )
        .await;
    let error = assert_failed(&report);
    assert_eq!(error.status(), Some(401), "{error}");
    assert_eq!(report.attempts(), 1);
}

/// Where a redirect goes, for the leak tests.
enum Away {
    /// The same server under another host name (`localhost` for
    /// `127.0.0.1`): same port and scheme.
    Host,
    /// Another server on the same host: another port.
    Port,
    /// An https server on the same host.
    Scheme,
}

/// The credentials and cookies a request carried.
fn secrets(request: &RecordedRequest) -> Vec<(String, String)> {
    request
        .headers
        .iter()
        .filter(|(name, _)| {
            [
                "authorization",
                "cookie",
                "proxy-authorization",
                "x-api-key",
                "x-auth-token",
            ]
            .contains(&name.to_ascii_lowercase().as_str())
        })
        .cloned()
        .collect()
}

/// curl CVE-2018-1000007 (custom Authorization to another host),
/// CVE-2022-27776 (credentials and cookies to another port or scheme of the
/// same host), wget CVE-2021-31879 (Authorization to the redirect target);
/// and the headers whose names say they hold a secret (`X-Api-Key`).
#[tokio::test]
async fn credentials_and_cookies_never_follow_a_redirect_to_another_origin() {
    let origin = Bed::start().await;
    let other_port = TestServer::start(ServerConfig::default()).await.unwrap();
    let secure = TestServer::start(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    for (round, away) in [Away::Host, Away::Port, Away::Scheme]
        .into_iter()
        .enumerate()
    {
        let (target_server, target) = match away {
            Away::Host => (
                &origin.server,
                format!(
                    "http://localhost:{}/final.bin?size=64",
                    origin.server.addr().port()
                ),
            ),
            Away::Port => (&other_port, other_port.url("/final.bin?size=64")),
            Away::Scheme => (
                &secure,
                format!(
                    "https://127.0.0.1:{}/final.bin?size=64",
                    secure.addr().port()
                ),
            ),
        };
        // Every way of giving a secret at once: the URL's password, a
        // request's Authorization and Cookie headers, the downloader's
        // Cookie and Proxy-Authorization, and a netrc `default` (a netrc
        // `machine` entry is for its host on any port, see the next test).
        let downloader = fast()
            .header("Cookie", "wide=1")
            .header("Proxy-Authorization", "Basic d2lkZTp3aWRl")
            .header("X-Auth-Token", "w1de")
            .netrc(netrc(
                "machine elsewhere login n password npw\ndefault login d password dpw",
            ))
            .add_root_certificate_pem(secure.ca_cert_pem().unwrap())
            .build()
            .unwrap();
        let start = format!("/start.bin?redirect_to={}", enc(&target));
        let with_url_password = format!("http://alice:s3cret@{}{start}", origin.server.addr());
        let name = |what: &str| format!("{round}-{what}");
        let with_headers = origin
            .request(&start, &name("headers.bin"))
            .with_header("Authorization", "Bearer t0k")
            .unwrap()
            .with_header("Cookie", "session=abc")
            .unwrap()
            .with_header("X-Api-Key", "k3y")
            .unwrap();
        for (name, request) in [
            (
                "url",
                Request::new(&with_url_password, origin.path(&name("url.bin"))).unwrap(),
            ),
            ("headers", with_headers),
            ("netrc", origin.request(&start, &name("netrc.bin"))),
        ] {
            origin.server.reset_stats();
            target_server.reset_stats();
            let report = downloader.download(request).await;
            assert_file(&report, &content("/final.bin", 64));
            let first = origin.server.requests_for("/start.bin");
            assert_eq!(first.len(), 1, "{name}");
            assert!(
                first[0].has_header("authorization")
                    && first[0].has_header("cookie")
                    && first[0].has_header("x-auth-token"),
                "{name}: the origin gets its credentials: {:?}",
                first[0].headers
            );
            let last = target_server.requests_for("/final.bin");
            assert_eq!(last.len(), 1, "{name}");
            assert_eq!(
                secrets(&last[0]),
                [],
                "{name}: nothing secret crosses to {target}"
            );
            assert!(!last[0].has_header("referer"), "{name}: no Referer");
        }
    }
}

#[tokio::test]
async fn a_redirect_within_the_origin_keeps_the_credentials() {
    let bed = Bed::start().await;
    let report = fast()
        .basic_auth("alice", Some("s3cr:t"))
        .build()
        .unwrap()
        .download(bed.request(
            &format!(
                "/hop.bin?redirect_to={}",
                enc(&format!("/same.bin?size=30&{GATE}"))
            ),
            "same.bin",
        ))
        .await;
    assert_file(&report, &content("/same.bin", 30));
    assert_eq!(
        report.final_url().map(|u| u.path()),
        Some("/same.bin"),
        "the report names where the bytes came from"
    );
}

#[tokio::test]
async fn a_netrc_machine_entry_of_the_redirect_target_is_used_there() {
    let origin = Bed::start().await;
    let target = format!(
        "http://localhost:{}/m.bin?size=20&auth=bob%3Abpw",
        origin.server.addr().port()
    );
    let downloader = fast()
        .netrc(netrc(&format!(
            "machine {} login alice password apw\nmachine localhost login bob password bpw",
            origin.server.addr().ip()
        )))
        .build()
        .unwrap();
    let report = downloader
        .download(origin.request(&format!("/go?redirect_to={}", enc(&target)), "m.bin"))
        .await;
    assert_file(&report, &content("/m.bin", 20));
}

#[tokio::test]
async fn no_referer_is_sent_on_redirects() {
    let bed = Bed::start().await;
    let report = fast()
        .build()
        .unwrap()
        .download(bed.request("/r.bin?size=10&redirect=2&secret_query=1", "r.bin"))
        .await;
    assert_file(&report, &content("/r.bin", 10));
    let requests = bed.server.requests_for("/r.bin");
    assert_eq!(requests.len(), 3);
    for request in requests {
        assert!(!request.has_header("referer"), "{:?}", request.headers);
    }
}

#[tokio::test]
async fn a_redirect_from_https_to_http_is_refused_unless_allowed() {
    let secure = TestServer::start(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let plain = Bed::start().await;
    let target = plain.server.url("/down.bin?size=10");
    let url = secure.url(&format!("/up?redirect_to={}", enc(&target)));
    let build = |allow: bool| {
        fast()
            .add_root_certificate_pem(secure.ca_cert_pem().unwrap())
            .allow_insecure_redirect(allow)
            .retry_policy(RetryPolicy::new(3, std::time::Duration::ZERO))
            .build()
            .unwrap()
    };
    let report = build(false)
        .download(Request::new(&url, plain.path("down.bin")).unwrap())
        .await;
    let error = assert_failed(&report);
    assert!(
        matches!(error.kind(), parget::ErrorKind::InsecureRedirect(to) if to == &target),
        "{error:#}"
    );
    assert!(error.to_string().contains("https to plain http"), "{error}");
    assert_eq!(report.attempts(), 1, "refused, not retried");
    assert!(
        plain.server.requests_for("/down.bin").is_empty(),
        "nothing went over http"
    );
    let report = build(true)
        .download(Request::new(&url, plain.path("down.bin")).unwrap())
        .await;
    assert_file(&report, &content("/down.bin", 10));
}

#[tokio::test]
async fn messages_never_show_a_password() {
    let bed = Bed::start().await;
    let url = format!(
        "http://user:hunter2@{}/missing.bin?fail=404&fail_count=all",
        bed.server.addr()
    );
    let report = fast()
        .build()
        .unwrap()
        .download(Request::new(&url, bed.path("missing.bin")).unwrap())
        .await;
    let error = assert_failed(&report);
    for shown in [
        error.to_string(),
        format!("{error:#}"),
        format!("{error:?}"),
    ] {
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("user:***@"), "{shown}");
    }
    assert_eq!(error.url().map(|u| u.contains("hunter2")), Some(false));
    // The server got the credentials, as a header and not in the URL.
    let seen = bed.server.requests_for("/missing.bin");
    assert!(seen[0].has_header("authorization"));
    assert!(!seen[0].target.contains("hunter2"));
}
