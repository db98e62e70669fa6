//! A minimal blocking HTTP/1.1 client over `std::net::TcpStream`, with
//! keep-alive: enough for the baseline, the loopback ceiling and the
//! testbed's API. Plain `http` only; bodies need a `Content-Length` (the
//! testbed always sends one).

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};

/// Receive buffer size: large enough that a big body is read in few calls.
const BUFFER: usize = 256 * 1024;

/// `http://authority/path?query` split into its authority and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `host:port`.
    pub authority: String,
    /// `/path?query`.
    pub target: String,
}

impl HttpUrl {
    /// Parses an `http://` URL.
    pub fn parse(url: &str) -> Result<HttpUrl> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("`{url}`: only http:// URLs are supported"))?;
        let (authority, target) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            bail!("`{url}` has no host");
        }
        let authority = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(HttpUrl {
            authority,
            target: target.to_owned(),
        })
    }

    /// The last path segment, without the query: the saved file name.
    pub fn file_name(&self) -> &str {
        let path = self.target.split(['?', '#']).next().unwrap_or("");
        path.rsplit('/').next().unwrap_or("")
    }
}

/// The status and the headers the client cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// `Content-Length`, when sent.
    pub content_length: Option<u64>,
    /// `Content-Range: bytes a-b/total` as `(a, b, total)`.
    pub content_range: Option<(u64, u64, Option<u64>)>,
    /// Every header, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The server will close the connection after this response.
    pub close: bool,
}

/// One keep-alive connection.
pub struct Conn {
    authority: String,
    reader: BufReader<TcpStream>,
    /// The previous response's body was fully read; the connection can be
    /// reused.
    reusable: bool,
}

impl Conn {
    /// Connects to `authority` (`host:port`).
    pub fn connect(authority: &str) -> io::Result<Conn> {
        let stream = TcpStream::connect(authority)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Conn {
            authority: authority.to_owned(),
            reader: BufReader::with_capacity(BUFFER, stream),
            reusable: true,
        })
    }

    /// The `host:port` this connection goes to.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// True when the last response ended cleanly and the server keeps the
    /// connection open.
    pub fn reusable(&self) -> bool {
        self.reusable
    }

    /// Sends a request and reads the response head. The body must then be
    /// read with [`Conn::read_body`] before the next request.
    pub fn send(
        &mut self,
        method: &str,
        target: &str,
        extra_headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Head> {
        let mut request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: parget-bench-baseline\r\nAccept-Encoding: identity\r\n",
            self.authority
        );
        for (name, value) in extra_headers {
            request.push_str(name);
            request.push_str(": ");
            request.push_str(value);
            request.push_str("\r\n");
        }
        if !body.is_empty() || method == "POST" {
            request.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        self.reusable = false;
        let stream = self.reader.get_mut();
        if body.is_empty() {
            stream.write_all(request.as_bytes())?;
        } else {
            let mut whole = request.into_bytes();
            whole.extend_from_slice(body);
            stream.write_all(&whole)?;
        }
        let head = read_head(&mut self.reader)?;
        if method == "HEAD" || head.status == 204 || head.status == 304 {
            self.reusable = !head.close;
        }
        Ok(head)
    }

    /// Reads the body of `head` (`Content-Length` bytes), handing it to
    /// `sink` piece by piece; returns the byte count.
    pub fn read_body(
        &mut self,
        head: &Head,
        mut sink: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<u64> {
        let Some(len) = head.content_length else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "response without Content-Length",
            ));
        };
        let mut left = len;
        while left > 0 {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("body ended {left} bytes short of {len}"),
                ));
            }
            let n = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            sink(&chunk[..n])?;
            self.reader.consume(n);
            left -= n as u64;
        }
        self.reusable = !head.close;
        Ok(len)
    }

    /// Reads the body into memory.
    pub fn read_body_vec(&mut self, head: &Head) -> io::Result<Vec<u8>> {
        let mut body = Vec::with_capacity(head.content_length.unwrap_or(0).min(1 << 20) as usize);
        self.read_body(head, |chunk| {
            body.extend_from_slice(chunk);
            Ok(())
        })?;
        Ok(body)
    }
}

fn read_head(reader: &mut impl BufRead) -> io::Result<Head> {
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a response",
        ));
    }
    let mut parts = line.split_ascii_whitespace();
    let version = parts.next().unwrap_or("");
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line `{}`", line.trim_end())))?;
    let mut head = Head {
        status,
        content_length: None,
        content_range: None,
        headers: Vec::new(),
        close: version == "HTTP/1.0",
    };
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside the response head",
            ));
        }
        let text = line.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            break;
        }
        let Some((name, value)) = text.split_once(':') else {
            return Err(bad(format!("bad header line `{text}`")));
        };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().to_owned();
        match name.as_str() {
            "content-length" => {
                head.content_length = Some(
                    value
                        .parse()
                        .map_err(|_| bad(format!("bad Content-Length `{value}`")))?,
                );
            }
            "content-range" => head.content_range = parse_content_range(&value),
            "connection" => {
                if value.eq_ignore_ascii_case("close") {
                    head.close = true;
                } else if value.eq_ignore_ascii_case("keep-alive") {
                    head.close = false;
                }
            }
            "transfer-encoding" => {
                return Err(bad(format!("unsupported Transfer-Encoding `{value}`")));
            }
            _ => {}
        }
        head.headers.push((name, value));
    }
    Ok(head)
}

/// `bytes a-b/total` (total may be `*`).
pub fn parse_content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b, total))
}

/// One request on a fresh connection, the body in memory: for the API calls
/// of the testbed.
pub fn fetch(method: &str, url: &str, body: &[u8]) -> Result<(Head, Vec<u8>)> {
    let url = HttpUrl::parse(url)?;
    let mut conn = Conn::connect(&url.authority)
        .with_context(|| format!("connecting to {}", url.authority))?;
    let head = conn
        .send(method, &url.target, &[("Connection", "close")], body)
        .with_context(|| format!("{method} {}", url.target))?;
    let body = if method == "HEAD" {
        Vec::new()
    } else {
        conn.read_body_vec(&head)
            .with_context(|| format!("{method} {}: body", url.target))?
    };
    Ok((head, body))
}

/// Reads everything of `reader` (used by tests).
#[cfg(test)]
fn read_all(mut reader: impl std::io::Read) -> Vec<u8> {
    let mut v = Vec::new();
    reader.read_to_end(&mut v).unwrap();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_target() {
        let u = HttpUrl::parse("http://127.0.0.1:8080/a/b.bin?size=3").unwrap();
        assert_eq!(u.authority, "127.0.0.1:8080");
        assert_eq!(u.target, "/a/b.bin?size=3");
        assert_eq!(u.file_name(), "b.bin");
        let u = HttpUrl::parse("http://example").unwrap();
        assert_eq!(
            (u.authority.as_str(), u.target.as_str()),
            ("example:80", "/")
        );
        assert_eq!(u.file_name(), "");
        assert!(HttpUrl::parse("https://x/").is_err());
        assert!(HttpUrl::parse("http:///x").is_err());
    }

    #[test]
    fn heads_parse() {
        let raw = b"HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\nContent-Range: bytes 5-14/100\r\nMore: true\r\n\r\nrest";
        let mut reader = BufReader::new(&raw[..]);
        let head = read_head(&mut reader).unwrap();
        assert_eq!(head.status, 206);
        assert_eq!(head.content_length, Some(10));
        assert_eq!(head.content_range, Some((5, 14, Some(100))));
        assert!(head.headers.contains(&("more".into(), "true".into())));
        assert!(!head.close);
        assert_eq!(read_all(reader), b"rest");

        let raw = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert!(read_head(&mut BufReader::new(&raw[..])).unwrap().close);
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(read_head(&mut BufReader::new(&raw[..])).is_err());
        let raw = b"HTTP/1.1 200 OK\r\nContent-Le";
        assert!(read_head(&mut BufReader::new(&raw[..])).is_err());
        assert!(read_head(&mut BufReader::new(&b""[..])).is_err());
    }

    #[test]
    fn content_ranges_parse() {
        assert_eq!(parse_content_range("bytes 0-0/1"), Some((0, 0, Some(1))));
        assert_eq!(parse_content_range("bytes 3-9/*"), Some((3, 9, None)));
        assert_eq!(parse_content_range("bytes 9-3/10"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }
}
