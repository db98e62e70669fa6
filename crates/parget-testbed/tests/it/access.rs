//! Credentials, required headers and cookies, server-chosen names and the
//! per-path request rate limit.

use std::time::{Duration, Instant};

use parget_testbed::{content, ServerConfig, TestServer};

use crate::client::{get, http_client, Conn};

async fn server() -> TestServer {
    TestServer::start(ServerConfig::default()).await.unwrap()
}

#[tokio::test]
async fn basic_auth() {
    let server = server().await;
    let url = server.url("/private.bin?size=100&auth=alice:s%3Acret");
    let client = http_client();

    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Basic realm=\"parget-testbed\""
    );
    for (user, pass) in [("alice", "wrong"), ("bob", "s:cret"), ("alice", "s")] {
        let r = client.get(&url).basic_auth(user, Some(pass)).send().await;
        assert_eq!(r.unwrap().status(), 401, "{user}:{pass}");
    }
    let r = client
        .get(&url)
        .basic_auth("alice", Some("s:cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), content("/private.bin", 100));

    // HEAD is checked the same way; the 401 is not a fault that runs out.
    let r = client.head(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn bearer_token_and_either_credential() {
    let server = server().await;
    let client = http_client();
    let url = server.url("/api-file?size=10&bearer=tok.123");
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"parget-testbed\""
    );
    let r = client
        .get(&url)
        .bearer_auth("tok.124")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .get(&url)
        .bearer_auth("tok.123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), content("/api-file", 10));

    let url = server.url("/both?size=10&bearer=t&auth=u:p");
    let r = client.get(&url).send().await.unwrap();
    let challenges: Vec<_> = r.headers().get_all("www-authenticate").iter().collect();
    assert_eq!(
        challenges,
        [
            "Basic realm=\"parget-testbed\"",
            "Bearer realm=\"parget-testbed\""
        ]
    );
    for request in [
        client.get(&url).bearer_auth("t"),
        client.get(&url).basic_auth("u", Some("p")),
    ] {
        assert_eq!(request.send().await.unwrap().status(), 200);
    }
}

#[tokio::test]
async fn required_headers_and_cookies() {
    let server = server().await;
    let client = http_client();
    let url = server.url(
        "/gated?size=10&require_header=X-Api-Key:k%201&require_header=X-Tenant&cookie=session=abc",
    );
    let ok = || {
        client
            .get(&url)
            .header("X-Api-Key", "k 1")
            .header("X-Tenant", "any")
            .header("Cookie", "theme=dark; session=abc")
    };
    let r = ok().send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), content("/gated", 10));

    let cases = [
        (client.get(&url), "required header missing: X-Api-Key:k 1"),
        (
            client.get(&url).header("X-Api-Key", "k 2"),
            "required header missing: X-Api-Key:k 1",
        ),
        (
            client.get(&url).header("X-Api-Key", "k 1"),
            "required header missing: X-Tenant",
        ),
        (
            client
                .get(&url)
                .header("X-Api-Key", "k 1")
                .header("X-Tenant", "t")
                .header("Cookie", "session=abcd"),
            "required cookie missing: session=abc",
        ),
    ];
    for (request, why) in cases {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(r.text().await.unwrap().trim(), why);
    }

    // Credentials are checked before headers: 401 first, then 403.
    let url = server.url("/gated2?auth=u:p&cookie=c");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    let r = client.get(&url).basic_auth("u", Some("p")).send().await;
    assert_eq!(r.unwrap().status(), 403);
    let r = client
        .get(&url)
        .basic_auth("u", Some("p"))
        .header("Cookie", "c=1")
        .send()
        .await;
    assert_eq!(r.unwrap().status(), 200);
}

#[tokio::test]
async fn content_disposition_is_sent_verbatim() {
    let server = server().await;
    let client = http_client();
    // `filename*` keeps its own escapes: the query is decoded once.
    let r = client
        .get(server.url(
            "/cd?size=10&disposition=attachment%3B%20filename%3D%22a%20b.bin%22%3B%20filename*%3DUTF-8%27%27%25E2%2582%25AC.bin",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"a b.bin\"; filename*=UTF-8''%E2%82%AC.bin"
    );
    assert_eq!(r.bytes().await.unwrap(), content("/cd", 10));

    // On a range too, and on HEAD.
    let url = server.url("/cd?size=10&disposition=inline%3B%20filename%3D..%2F..%2Fetc%2Fpasswd");
    let r = client.get(&url).header("Range", "bytes=2-3").send().await;
    let r = r.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-disposition"],
        "inline; filename=../../etc/passwd"
    );
    let r = client.head(&url).send().await.unwrap();
    assert_eq!(
        r.headers()["content-disposition"],
        "inline; filename=../../etc/passwd"
    );

    // Control characters go out raw, which strict clients refuse: look at
    // the wire.
    let r = get(
        &server,
        "/cd?size=1&disposition=attachment%3B%20filename%3D%22%1B%5B2Jx%07.bin%22",
        &[],
    )
    .await;
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"\x1b[2Jx\x07.bin\"")
    );
}

/// Sends GETs to `targets` in turn on one connection until one is refused;
/// returns the statuses and the time from the first request to the last
/// answer.
async fn until_refused(server: &TestServer, targets: &[&str], max: usize) -> (Vec<u16>, Duration) {
    let mut conn = Conn::open(server).await;
    let started = Instant::now();
    let mut statuses = Vec::new();
    for target in targets.iter().cycle().take(max) {
        let r = conn.request("GET", target, &[]).await;
        statuses.push(r.status);
        if r.status == 429 {
            assert_eq!(r.header("retry-after"), Some("1"));
            break;
        }
    }
    (statuses, started.elapsed())
}

#[tokio::test]
async fn rps_answers_429_beyond_the_rate() {
    let server = server().await;
    // A round only proves the limit if it took less than the window; on a
    // machine so busy that four requests take a second, try again.
    let mut proved = false;
    for _ in 0..5 {
        server.reset_faults();
        // The window is per path: the query does not matter.
        let targets = ["/limited?size=10&rps=3", "/limited?size=10&rps=3&other=1"];
        let (statuses, took) = until_refused(&server, &targets, 10).await;
        if took < Duration::from_millis(900) {
            assert_eq!(statuses, [200, 200, 200, 429]);
            proved = true;
            break;
        }
    }
    assert!(proved, "no round finished within the one-second window");

    // Another path has a window of its own.
    let other_path = get(&server, "/free?size=10&rps=3", &[]).await;
    assert_eq!(other_path.status, 200);

    // A second later the window has room again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = get(&server, "/limited?size=10&rps=3", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, content("/limited", 10));

    // rps=0 is no limit.
    for _ in 0..10 {
        assert_eq!(
            get(&server, "/unlimited?size=1&rps=0", &[]).await.status,
            200
        );
    }
}

#[tokio::test]
async fn rps_with_reqwest_sees_429_then_recovers() {
    let server = server().await;
    let client = http_client();
    let url = server.url("/rq?size=10&rps=1");
    let mut proved = false;
    for _ in 0..5 {
        server.reset_faults();
        let started = Instant::now();
        let first = client.get(&url).send().await.unwrap().status();
        let second = client.get(&url).send().await.unwrap();
        if started.elapsed() < Duration::from_millis(900) {
            assert_eq!(first, 200);
            assert_eq!(second.status(), 429);
            assert_eq!(second.headers()["retry-after"], "1");
            proved = true;
            break;
        }
    }
    assert!(proved, "no round finished within the one-second window");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Every request was recorded, refused or not.
    assert!(server.requests_for("/rq").len() >= 3);
}
