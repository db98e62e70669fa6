//! The real daemons of `parget_testbed::external`: nginx serves the
//! testbed's bytes with Range and keep-alive and logs which connection
//! carried which request; tinyproxy and microsocks forward a request to a
//! `TestServer` and log it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use parget_testbed::external::{range_connections, AccessEntry, Microsocks, Nginx, Tinyproxy};
use parget_testbed::{content, ServerConfig, TestServer};

use crate::client::Conn;

/// Polls `f` until it returns `Some`, for what a daemon logs a moment after
/// the client saw the answer. Gives up after a minute (a hung daemon, not a
/// timing).
fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the daemon never logged what was expected"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

async fn connect(addr: SocketAddr) -> Conn<TcpStream> {
    Conn::new(TcpStream::connect(addr).await.expect("connect"))
}

/// The access log once it holds `n` entries.
fn log_of(nginx: &Nginx, n: usize) -> Vec<AccessEntry> {
    eventually(|| {
        let entries = nginx.access_log().expect("the access log parses");
        (entries.len() >= n).then_some(entries)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_serves_the_testbed_s_bytes_with_range_and_logs_each_connection() {
    const LEN: u64 = 3_000_017;
    let nginx = Nginx::builder()
        .file("/files/a.bin", LEN)
        .file("/files/sub/b.bin", 10)
        .start()
        .expect("nginx starts");
    assert!(nginx.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(nginx.url("x"), format!("{}/x", nginx.base_url()));
    let want = content("/files/a.bin", LEN);

    let mut first = connect(nginx.addr()).await;
    let whole = first.request("GET", "/files/a.bin", &[]).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, want);
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    let etag = whole.header("etag").expect("an ETag").to_owned();
    assert!(!etag.starts_with("W/"), "a strong ETag: {etag}");
    // The same connection again (keep-alive), for a range.
    let part = first
        .request("GET", "/files/a.bin", &["Range: bytes=1000000-1000099"])
        .await;
    assert_eq!(part.status, 206);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 1000000-1000099/{LEN}").as_str())
    );
    assert_eq!(part.body, want[1_000_000..1_000_100]);

    let mut second = connect(nginx.addr()).await;
    let small = second
        .request("GET", "/files/sub/b.bin", &["Range: bytes=-4"])
        .await;
    assert_eq!(small.body, content("/files/sub/b.bin", 10)[6..]);
    let missing = second.request("GET", "/files/none.bin", &[]).await;
    assert_eq!(missing.status, 404);

    let log = log_of(&nginx, 4);
    assert_eq!(log.len(), 4, "{log:?}");
    let (a, b, c, d) = (&log[0], &log[1], &log[2], &log[3]);
    assert_eq!((a.method.as_str(), a.uri.as_str()), ("GET", "/files/a.bin"));
    assert_eq!(
        (a.status, a.body_bytes_sent, a.range.as_deref()),
        (200, LEN, None)
    );
    assert_eq!(
        (b.status, b.body_bytes_sent, b.range.as_deref()),
        (206, 100, Some("bytes=1000000-1000099"))
    );
    assert_eq!(a.connection, b.connection, "keep-alive: one connection");
    assert_eq!((a.connection_requests, b.connection_requests), (1, 2));
    assert_ne!(c.connection, a.connection);
    assert_eq!(
        (c.uri.as_str(), c.status, c.body_bytes_sent),
        ("/files/sub/b.bin", 206, 4)
    );
    assert_eq!(
        (d.status, d.connection, d.connection_requests),
        (404, c.connection, 2)
    );
    assert_eq!(range_connections(&log, "/files/a.bin").len(), 1);

    nginx.clear_access_log().unwrap();
    let again = second.request("GET", "/files/sub/b.bin", &[]).await;
    assert_eq!(again.status, 200);
    let log = log_of(&nginx, 1);
    assert_eq!(log.len(), 1, "cleared, then one request: {log:?}");
    assert_eq!(log[0].connection_requests, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_limit_rate_paces_each_response() {
    // nginx lets a response send one second's worth at once, then paces:
    // 3 MB at 1 MB/s cannot take less than two seconds.
    const LEN: u64 = 3_000_000;
    let nginx = Nginx::builder()
        .file("/slow.bin", LEN)
        .limit_rate(1_000_000)
        .start()
        .expect("nginx starts");
    let config = std::fs::read_to_string(nginx.dir().join("nginx.conf")).unwrap();
    assert!(config.contains("limit_rate 1000000;"), "{config}");
    let started = Instant::now();
    let response = connect(nginx.addr())
        .await
        .request("GET", "/slow.bin", &[])
        .await;
    let elapsed = started.elapsed();
    assert_eq!(response.body, content("/slow.bin", LEN));
    assert!(
        elapsed >= Duration::from_millis(1500),
        "3 MB at 1 MB/s arrived in {elapsed:?}: limit_rate is not applied"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_serves_a_root_the_caller_gives_and_stops_on_drop() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("hello.txt"), b"hello nginx").unwrap();
    let nginx = Nginx::builder()
        .root(root.path())
        .start()
        .expect("nginx starts");
    assert_eq!(nginx.root(), root.path());
    let response = connect(nginx.addr())
        .await
        .request("GET", "/hello.txt", &[])
        .await;
    assert_eq!(response.body, b"hello nginx");
    let (addr, dir, pid) = (nginx.addr(), nginx.dir().to_owned(), nginx.pid());
    assert!(dir.join("access.log").is_file());
    drop(nginx);
    assert!(!dir.exists(), "the temporary directory is removed");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the master process is gone"
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "nothing listens on {addr} any more"
    );
    assert!(
        root.path().join("hello.txt").is_file(),
        "the caller's root stays"
    );
}

#[test]
fn a_missing_daemon_names_its_debian_package() {
    let err = Nginx::builder()
        .program("/nonexistent/sbin/nginx")
        .start()
        .unwrap_err();
    assert!(err.is_missing());
    assert!(
        err.to_string().contains("apt-get install nginx-light"),
        "{err}"
    );
    let err = Tinyproxy::builder()
        .program("/nonexistent/tinyproxy")
        .start()
        .unwrap_err();
    assert!(
        err.to_string().contains("apt-get install tinyproxy"),
        "{err}"
    );
    let err = Microsocks::builder()
        .program("/nonexistent/microsocks")
        .start()
        .unwrap_err();
    assert!(
        err.to_string().contains("apt-get install microsocks"),
        "{err}"
    );
}

#[test]
fn two_nginx_at_once_get_their_own_ports() {
    let a = Nginx::builder().start().expect("nginx starts");
    let b = Nginx::builder().start().expect("nginx starts");
    assert_ne!(a.port(), b.port());
    assert_ne!(a.dir(), b.dir());
}

#[tokio::test(flavor = "multi_thread")]
async fn tinyproxy_forwards_get_and_connect_and_logs_them() {
    let server = TestServer::start(ServerConfig::default()).await.unwrap();
    let proxy = Tinyproxy::builder().start().expect("tinyproxy starts");
    assert_eq!(proxy.url(), format!("http://{}", proxy.addr()));
    let target = server.url("/via/proxy.bin?size=5000");

    let mut conn = connect(proxy.addr()).await;
    let response = conn.request("GET", &target, &[]).await;
    assert_eq!(response.status, 200, "{:?}", response.headers);
    assert_eq!(response.body, content("/via/proxy.bin", 5000));

    // CONNECT to the server's (non-443) port, then plain HTTP in the tunnel.
    let authority = server.addr().to_string();
    let mut tunnel = connect(proxy.addr()).await;
    tunnel.send("CONNECT", &authority, &[]).await;
    let head = tunnel.read_head().await.unwrap();
    assert_eq!(head.status, 200, "CONNECT to any port is allowed");
    let inner = tunnel.request("GET", "/tunnel.bin?size=777", &[]).await;
    assert_eq!(inner.body, content("/tunnel.bin", 777));

    let requests = eventually(|| {
        let r = proxy.requests().unwrap();
        (r.len() >= 2).then_some(r)
    });
    assert_eq!(
        requests,
        [
            format!("GET {target} HTTP/1.1"),
            format!("CONNECT {authority} HTTP/1.1")
        ]
    );
    let log = proxy.log().unwrap();
    assert!(log.contains("Connect (file descriptor"), "{log}");
    assert_eq!(
        server.stats().requests,
        2,
        "both went through to the server"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tinyproxy_basic_auth_refuses_strangers() {
    let server = TestServer::start(ServerConfig::default()).await.unwrap();
    let proxy = Tinyproxy::builder()
        .basic_auth("alice", "s3cret")
        .start()
        .expect("tinyproxy starts");
    let target = server.url("/auth.bin?size=10");

    let mut stranger = connect(proxy.addr()).await;
    stranger.send("GET", &target, &[]).await;
    let head = stranger.read_head().await.unwrap();
    assert_eq!(head.status, 407);
    // "alice:s3cret"
    let mut friend = connect(proxy.addr()).await;
    let response = friend
        .request(
            "GET",
            &target,
            &["Proxy-Authorization: Basic YWxpY2U6czNjcmV0"],
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, content("/auth.bin", 10));
    assert_eq!(
        server.stats().requests,
        1,
        "only the authorised one arrived"
    );
    assert!(Tinyproxy::builder()
        .basic_auth("a b", "c")
        .start()
        .unwrap_err()
        .to_string()
        .contains("without whitespace"));
}

/// A SOCKS5 CONNECT (RFC 1928) to `target`, with RFC 1929 credentials when
/// given; returns the stream once the proxy has connected, or the failing
/// reply byte.
async fn socks5(
    proxy: SocketAddr,
    target: SocketAddr,
    auth: Option<(&str, &str)>,
) -> Result<TcpStream, String> {
    let mut s = TcpStream::connect(proxy).await.map_err(|e| e.to_string())?;
    let method = if auth.is_some() { 0x02 } else { 0x00 };
    s.write_all(&[0x05, 0x01, method]).await.unwrap();
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).await.map_err(|e| e.to_string())?;
    if choice != [0x05, method] {
        return Err(format!("method choice {choice:?}"));
    }
    if let Some((user, password)) = auth {
        let mut msg = vec![0x01, user.len() as u8];
        msg.extend_from_slice(user.as_bytes());
        msg.push(password.len() as u8);
        msg.extend_from_slice(password.as_bytes());
        s.write_all(&msg).await.unwrap();
        let mut status = [0u8; 2];
        s.read_exact(&mut status).await.map_err(|e| e.to_string())?;
        if status[1] != 0 {
            return Err(format!("authentication refused ({:#04x})", status[1]));
        }
    }
    let SocketAddr::V4(v4) = target else {
        panic!("IPv4 targets only")
    };
    let mut request = vec![0x05, 0x01, 0x00, 0x01];
    request.extend_from_slice(&v4.ip().octets());
    request.extend_from_slice(&v4.port().to_be_bytes());
    s.write_all(&request).await.unwrap();
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).await.map_err(|e| e.to_string())?;
    if reply[1] != 0 {
        return Err(format!("connect refused ({:#04x})", reply[1]));
    }
    Ok(s)
}

#[tokio::test(flavor = "multi_thread")]
async fn microsocks_connects_clients_and_logs_where_to() {
    let server = TestServer::start(ServerConfig::default()).await.unwrap();
    let proxy = Microsocks::builder().start().expect("microsocks starts");
    assert_eq!(proxy.url(), format!("socks5://{}", proxy.addr()));
    let stream = socks5(proxy.addr(), server.addr(), None).await.unwrap();
    let mut conn = Conn::new(stream);
    let response = conn.request("GET", "/socks.bin?size=4096", &[]).await;
    assert_eq!(response.body, content("/socks.bin", 4096));
    let connections = eventually(|| {
        let c = proxy.connections().unwrap();
        (!c.is_empty()).then_some(c)
    });
    assert_eq!(connections, [server.addr().to_string()]);
    assert_eq!(server.stats().requests, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn microsocks_with_credentials_refuses_a_wrong_password() {
    let server = TestServer::start(ServerConfig::default()).await.unwrap();
    let proxy = Microsocks::builder()
        .auth("bob", "hunter2")
        .start()
        .expect("microsocks starts");
    // A client offering no authentication gets no acceptable method.
    let err = socks5(proxy.addr(), server.addr(), None).await.unwrap_err();
    assert!(err.contains("method choice"), "{err}");
    let err = socks5(proxy.addr(), server.addr(), Some(("bob", "wrong")))
        .await
        .unwrap_err();
    assert!(err.contains("refused") || err.contains("eof"), "{err}");
    let stream = socks5(proxy.addr(), server.addr(), Some(("bob", "hunter2")))
        .await
        .unwrap();
    let response = Conn::new(stream)
        .request("GET", "/auth.bin?size=99", &[])
        .await;
    assert_eq!(response.body, content("/auth.bin", 99));
    let connections = eventually(|| {
        let c = proxy.connections().unwrap();
        (!c.is_empty()).then_some(c)
    });
    assert_eq!(
        connections,
        [server.addr().to_string()],
        "only bob got through"
    );
    assert_eq!(server.stats().requests, 1);
}
