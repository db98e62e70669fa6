//! HTTPS: certificate trust, ALPN, HTTP/1.1 over TLS and a bare-hands h2
//! exchange.

use parget_testbed::{content, ServerConfig, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::client::{tls_connect, within, Conn};

async fn tls_server(http2: bool) -> TestServer {
    TestServer::start(ServerConfig {
        tls: true,
        http2,
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

async fn connect(server: &TestServer, name: &str, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    let pem = server.ca_cert_pem().expect("a TLS server has a CA");
    tls_connect(server, &pem, name, alpn).await.unwrap()
}

#[tokio::test]
async fn https_h1_with_the_ca() {
    let server = tls_server(false).await;
    assert!(server.url("/a").starts_with("https://127.0.0.1:"));
    let tls = connect(&server, "127.0.0.1", &[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let mut conn = Conn::new(tls);
    let r = within(10, conn.request("GET", "/tls.bin?size=400000", &[])).await;
    assert_eq!(r.body, content("/tls.bin", 400_000));
    let r = conn
        .request("GET", "/tls.bin?size=400000", &["Range: bytes=5-9"])
        .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, content("/tls.bin", 10)[5..]);

    // The certificate also names localhost.
    let tls = connect(&server, "localhost", &[]).await;
    let r = Conn::new(tls).request("GET", "/x?size=3", &[]).await;
    assert_eq!(r.body, content("/x", 3));
    let stats = server.stats();
    assert_eq!(stats.tls_handshakes, 2);
    assert_eq!(stats.http2_requests, 0);
}

#[tokio::test]
async fn tls_truncation_ends_with_close_notify() {
    let server = tls_server(false).await;
    let mut conn = Conn::new(connect(&server, "127.0.0.1", &[]).await);
    conn.send("GET", "/tt.bin?size=9000&truncate_after=700", &[])
        .await;
    assert_eq!(conn.read_head().await.unwrap().content_length(), Some(9000));
    let (body, err) = within(5, conn.read_to_end()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(body, content("/tt.bin", 700));
}

/// Frame types and flags of RFC 9113 used below.
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const GOAWAY: u8 = 7;
const END_STREAM: u8 = 1;

async fn write_frame(
    io: &mut TlsStream<TcpStream>,
    kind: u8,
    flags: u8,
    stream: u32,
    payload: &[u8],
) {
    let len = payload.len() as u32;
    let mut frame = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    io.write_all(&frame).await.unwrap();
}

/// What came back on stream 1.
#[derive(Debug, Default)]
struct H2Response {
    /// First byte of the header block: the static-table index of `:status`.
    status_byte: u8,
    body: Vec<u8>,
    reset: bool,
}

/// Sends one GET on stream 1 with hand-made HPACK (indexed names, literal
/// values) and reads until the stream ends. Bodies must stay under the
/// 65,535-byte initial window: no WINDOW_UPDATE is sent.
async fn h2_get(io: &mut TlsStream<TcpStream>, path: &str) -> H2Response {
    io.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    write_frame(io, SETTINGS, 0, 0, &[]).await;
    // :method GET, :scheme https, :path <literal>, :authority <literal>.
    let mut block = vec![0x82, 0x87, 0x04, path.len() as u8];
    block.extend_from_slice(path.as_bytes());
    block.extend_from_slice(&[0x01, 9]);
    block.extend_from_slice(b"127.0.0.1");
    write_frame(io, HEADERS, END_STREAM | 0x4, 1, &block).await;

    let mut response = H2Response::default();
    loop {
        let mut header = [0u8; 9];
        io.read_exact(&mut header).await.unwrap();
        let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let (kind, flags) = (header[3], header[4]);
        let stream = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        io.read_exact(&mut payload).await.unwrap();
        match (kind, stream) {
            (SETTINGS, 0) if flags & 1 == 0 => write_frame(io, SETTINGS, 1, 0, &[]).await,
            (HEADERS, 1) => {
                response.status_byte = payload[0];
                if flags & END_STREAM != 0 {
                    return response;
                }
            }
            (DATA, 1) => {
                response.body.extend_from_slice(&payload);
                if flags & END_STREAM != 0 {
                    return response;
                }
            }
            (RST_STREAM, 1) => {
                response.reset = true;
                return response;
            }
            (GOAWAY, _) => panic!("GOAWAY {payload:?}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn h2_is_negotiated_and_served() {
    let server = tls_server(true).await;
    let mut tls = connect(&server, "127.0.0.1", &[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let r = within(10, h2_get(&mut tls, "/h2.bin?size=50000")).await;
    // Static table index 8 is ":status: 200".
    assert_eq!(r.status_byte, 0x88);
    assert_eq!(r.body, content("/h2.bin", 50_000));
    let stats = server.stats();
    assert_eq!(stats.http2_requests, 1);
    assert_eq!(stats.body_bytes_for("/h2.bin"), 50_000);

    let mut tls = connect(&server, "127.0.0.1", &[b"h2"]).await;
    let r = within(10, h2_get(&mut tls, "/h2r.bin?size=50000&reset_after=1000")).await;
    assert!(r.reset);
    assert_eq!(r.body, content("/h2r.bin", 1000));

    // A client that only speaks HTTP/1.1 still gets it.
    let tls = connect(&server, "127.0.0.1", &[b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let r = Conn::new(tls).request("GET", "/h1.bin?size=10", &[]).await;
    assert_eq!(r.body, content("/h1.bin", 10));
}
