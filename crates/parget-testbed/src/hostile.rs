//! `hostile=KIND`: responses that break HTTP/1.1 framing or carry text a
//! client must not trust, written byte for byte as a broken or malicious
//! server would.

use std::fmt::Write as _;
use std::time::SystemTime;

use bytes::Bytes;

use crate::handler::{Body, WirePart};

/// Length of the one header value of `huge_header`.
pub(crate) const HUGE_HEADER_LEN: usize = 1 << 20;
/// Number of extra header lines of `many_headers`.
pub(crate) const MANY_HEADERS: usize = 10_000;

/// ESC sequences (clear screen, set the window title, colours), BEL,
/// backspace and DEL: what a terminal acts on if a client prints it raw.
pub(crate) const CONTROL_TEXT: &str = "\x1b[2J\x1b]0;pwned\x07\x1b[31mred\x1b[0m\x08\x7f";
/// The same intent in C1 controls (CSI, OSC) and a right-to-left override,
/// UTF-8 encoded: bytes ≥ 0x80, which HTTP parsers accept as `obs-text`, so
/// unlike [`CONTROL_TEXT`] this reaches clients built on strict parsers.
pub(crate) const C1_TEXT: &str = "\u{9b}2J\u{9d}0;pwned\u{9c}\u{9b}31m\u{202e}exe.txt";

/// One kind of hostile response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hostile {
    HugeHeader,
    ManyHeaders,
    TwoLengths,
    TeAndLength,
    TeGzip,
    BadChunk,
    ChunkOverflow,
    ChunkShort,
    ChunkUnterminated,
    BadStatus,
    BadLocation,
    RangeTotalMismatch,
    RangeInverted,
    RangeNotAscii,
    ControlChars,
    C1Chars,
}

impl Hostile {
    /// Every kind with its name in the query.
    pub(crate) const ALL: [(Hostile, &'static str); 16] = [
        (Hostile::HugeHeader, "huge_header"),
        (Hostile::ManyHeaders, "many_headers"),
        (Hostile::TwoLengths, "two_lengths"),
        (Hostile::TeAndLength, "te_and_length"),
        (Hostile::TeGzip, "te_gzip"),
        (Hostile::BadChunk, "bad_chunk"),
        (Hostile::ChunkOverflow, "chunk_overflow"),
        (Hostile::ChunkShort, "chunk_short"),
        (Hostile::ChunkUnterminated, "chunk_unterminated"),
        (Hostile::BadStatus, "bad_status"),
        (Hostile::BadLocation, "bad_location"),
        (Hostile::RangeTotalMismatch, "range_total_mismatch"),
        (Hostile::RangeInverted, "range_inverted"),
        (Hostile::RangeNotAscii, "range_not_ascii"),
        (Hostile::ControlChars, "control_chars"),
        (Hostile::C1Chars, "c1_chars"),
    ];

    pub(crate) fn parse(name: &str) -> Option<Hostile> {
        Hostile::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|&(kind, _)| kind)
    }

    /// Whether the kind is only a wrong header value, which the normal
    /// writers (HTTP/2 included) can carry; the others are raw bytes.
    pub(crate) fn is_header_value(self) -> bool {
        matches!(
            self,
            Hostile::BadLocation
                | Hostile::RangeTotalMismatch
                | Hostile::RangeInverted
                | Hostile::RangeNotAscii
        )
    }
}

/// The `Location` of `bad_location`: an IPv6 literal never closed, which no
/// URL parser accepts.
pub(crate) const BAD_LOCATION: &str = "http://[::1";

/// The `Content-Range` a range kind sends for bytes `first..=last` of a
/// resource of `size` bytes; `None` for the other kinds.
pub(crate) fn content_range(kind: Hostile, first: u64, last: u64, size: u64) -> Option<String> {
    match kind {
        // Half the range's end: always below the real size, and below the
        // range's own last byte too (`bytes 0-9/5`).
        Hostile::RangeTotalMismatch => Some(format!("bytes {first}-{last}/{}", last.div_ceil(2))),
        // Last before first; a one-byte range is turned around one further.
        Hostile::RangeInverted if first == last => {
            Some(format!("bytes {}-{first}/{size}", first + 1))
        }
        Hostile::RangeInverted => Some(format!("bytes {last}-{first}/{size}")),
        // An en dash for the hyphen: UTF-8, which HTTP allows as obs-text.
        Hostile::RangeNotAscii => Some(format!("bytes {first}\u{2013}{last}/{size}")),
        _ => None,
    }
}

/// The first lines every raw response shares.
fn head_start(status_line: &str) -> String {
    format!(
        "{status_line}\r\nDate: {}\r\nServer: parget-testbed\r\n",
        httpdate::fmt_http_date(SystemTime::now())
    )
}

/// `len` body bytes of `body` from `from`, which must be content.
fn slice(body: &Body, from: u64, len: u64) -> Body {
    match body {
        Body::Content {
            seed,
            offset,
            corrupt,
            ..
        } => Body::Content {
            seed: *seed,
            offset: offset + from,
            len,
            corrupt: corrupt.clone(),
        },
        other => other.clone(),
    }
}

/// The bytes of a raw kind: `body` (the whole resource) framed as the kind
/// says, with `origin` (`http://host:port`) for the redirect kinds. With
/// `head_only` (a HEAD request) the body parts are left out. The connection
/// is closed after them, since no framing can be trusted.
pub(crate) fn wire(kind: Hostile, body: &Body, origin: &str, head_only: bool) -> Vec<WirePart> {
    let n = body.len();
    let mut head;
    let mut parts = Vec::new();
    let octets = "Content-Type: application/octet-stream\r\n";
    match kind {
        Hostile::HugeHeader => {
            head = head_start("HTTP/1.1 200 OK") + octets;
            head.push_str("X-Huge: ");
            head.extend(std::iter::repeat_n('a', HUGE_HEADER_LEN));
            let _ = write!(head, "\r\nContent-Length: {n}\r\n\r\n");
            parts.push(WirePart::Body(body.clone()));
        }
        Hostile::ManyHeaders => {
            head = head_start("HTTP/1.1 200 OK") + octets;
            for i in 0..MANY_HEADERS {
                let _ = write!(head, "X-Many-{i}: {i}\r\n");
            }
            let _ = write!(head, "Content-Length: {n}\r\n\r\n");
            parts.push(WirePart::Body(body.clone()));
        }
        Hostile::TwoLengths => {
            head = head_start("HTTP/1.1 200 OK") + octets;
            let _ = write!(
                head,
                "Content-Length: {n}\r\nContent-Length: {}\r\n\r\n",
                n + 1
            );
            parts.push(WirePart::Body(body.clone()));
        }
        Hostile::TeAndLength => {
            head = head_start("HTTP/1.1 200 OK") + octets;
            let _ = write!(
                head,
                "Transfer-Encoding: chunked\r\nContent-Length: {n}\r\n\r\n"
            );
            if n > 0 {
                parts.push(WirePart::Bytes(format!("{n:x}\r\n").into()));
                parts.push(WirePart::Body(body.clone()));
                parts.push(WirePart::Bytes(Bytes::from_static(b"\r\n")));
            }
            parts.push(WirePart::Bytes(Bytes::from_static(b"0\r\n\r\n")));
        }
        Hostile::TeGzip => {
            // Declared gzip-coded, then chunked; the bytes are the plain
            // body, so only the header says it would need decoding.
            head =
                head_start("HTTP/1.1 200 OK") + octets + "Transfer-Encoding: gzip, chunked\r\n\r\n";
            if n > 0 {
                parts.push(WirePart::Bytes(format!("{n:x}\r\n").into()));
                parts.push(WirePart::Body(body.clone()));
                parts.push(WirePart::Bytes(Bytes::from_static(b"\r\n")));
            }
            parts.push(WirePart::Bytes(Bytes::from_static(b"0\r\n\r\n")));
        }
        Hostile::BadChunk | Hostile::ChunkOverflow => {
            head = head_start("HTTP/1.1 200 OK") + octets + "Transfer-Encoding: chunked\r\n\r\n";
            // A good first chunk, so the failure comes mid-body.
            let first = n / 2;
            if first > 0 {
                parts.push(WirePart::Bytes(format!("{first:x}\r\n").into()));
                parts.push(WirePart::Body(slice(body, 0, first)));
                parts.push(WirePart::Bytes(Bytes::from_static(b"\r\n")));
            }
            let size_line: &'static [u8] = if kind == Hostile::BadChunk {
                b"xyz\r\n"
            } else {
                // 2^64: one more than any 64-bit size.
                b"10000000000000000\r\n"
            };
            parts.push(WirePart::Bytes(Bytes::from_static(size_line)));
            parts.push(WirePart::Body(slice(body, first, n - first)));
            parts.push(WirePart::Bytes(Bytes::from_static(b"\r\n0\r\n\r\n")));
        }
        Hostile::ChunkShort => {
            head = head_start("HTTP/1.1 200 OK") + octets + "Transfer-Encoding: chunked\r\n\r\n";
            let declared = n.max(1);
            parts.push(WirePart::Bytes(format!("{declared:x}\r\n").into()));
            parts.push(WirePart::Body(slice(body, 0, n / 2)));
        }
        Hostile::ChunkUnterminated => {
            // Whole chunks, then close where the next size line is due.
            head = head_start("HTTP/1.1 200 OK") + octets + "Transfer-Encoding: chunked\r\n\r\n";
            let first = n / 2;
            for (start, len) in [(0, first), (first, n - first)] {
                if len > 0 {
                    parts.push(WirePart::Bytes(format!("{len:x}\r\n").into()));
                    parts.push(WirePart::Body(slice(body, start, len)));
                    parts.push(WirePart::Bytes(Bytes::from_static(b"\r\n")));
                }
            }
        }
        Hostile::BadStatus => {
            head = head_start("SSH-2.0-OpenSSH_9.2 not-http") + octets;
            let _ = write!(head, "Content-Length: {n}\r\n\r\n");
            parts.push(WirePart::Body(body.clone()));
        }
        Hostile::ControlChars | Hostile::C1Chars => {
            let text = if kind == Hostile::ControlChars {
                CONTROL_TEXT
            } else {
                C1_TEXT
            };
            let page = format!("redirecting to {origin}/{text}\n");
            head = head_start("HTTP/1.1 302 Found");
            let _ = write!(
                head,
                "Location: {origin}/{text}?size=10\r\n\
                 X-Testbed-Text: {text}\r\n\
                 Content-Disposition: attachment; filename=\"{text}\"\r\n\
                 Content-Type: text/plain\r\n\
                 Content-Length: {}\r\n\r\n",
                page.len()
            );
            parts.push(WirePart::Bytes(page.into()));
        }
        Hostile::BadLocation
        | Hostile::RangeTotalMismatch
        | Hostile::RangeInverted
        | Hostile::RangeNotAscii => {
            // Header-value kinds go through the normal writers and never
            // get here; answer something visibly wrong rather than panic.
            head = head_start("HTTP/1.1 500 Internal Server Error");
            head.push_str("Content-Length: 0\r\n\r\n");
        }
    }
    let mut all = vec![WirePart::Bytes(head.into())];
    if !head_only {
        all.extend(parts);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pacing::body_bytes;

    fn bytes_of(parts: &[WirePart]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in parts {
            match part {
                WirePart::Bytes(b) => out.extend_from_slice(b),
                WirePart::Body(body) => {
                    let mut buf = vec![0u8; body.len() as usize];
                    body_bytes(body, 0, &mut buf);
                    out.extend_from_slice(&buf);
                }
            }
        }
        out
    }

    fn content(len: u64) -> Body {
        Body::Content {
            seed: 7,
            offset: 0,
            len,
            corrupt: None,
        }
    }

    fn split(raw: &[u8]) -> (String, Vec<u8>) {
        let i = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        (
            String::from_utf8(raw[..i + 2].to_vec()).unwrap(),
            raw[i + 4..].to_vec(),
        )
    }

    #[test]
    fn names_round_trip() {
        for (kind, name) in Hostile::ALL {
            assert_eq!(Hostile::parse(name), Some(kind));
        }
        assert_eq!(Hostile::parse("nope"), None);
    }

    #[test]
    fn range_headers() {
        use Hostile::*;
        assert_eq!(
            content_range(RangeTotalMismatch, 0, 9, 100).unwrap(),
            "bytes 0-9/5"
        );
        assert_eq!(
            content_range(RangeTotalMismatch, 0, 0, 1).unwrap(),
            "bytes 0-0/0"
        );
        assert_eq!(
            content_range(RangeInverted, 0, 9, 100).unwrap(),
            "bytes 9-0/100"
        );
        assert_eq!(
            content_range(RangeInverted, 4, 4, 100).unwrap(),
            "bytes 5-4/100"
        );
        assert_eq!(content_range(BadChunk, 0, 9, 100), None);
    }

    proptest::proptest! {
        /// The range kinds always contradict: a total below the resource's
        /// size, or a first byte after the last.
        #[test]
        fn range_kinds_always_contradict(size in 1u64..1 << 40, a in 0u64..1 << 40, b in 0u64..1 << 40) {
            let (first, last) = (a.min(b) % size, a.max(b) % size);
            let (first, last) = (first.min(last), first.max(last));
            let total = content_range(Hostile::RangeTotalMismatch, first, last, size).unwrap();
            let total: u64 = total.rsplit('/').next().unwrap().parse().unwrap();
            proptest::prop_assert!(total < size && total <= last);
            let inverted = content_range(Hostile::RangeInverted, first, last, size).unwrap();
            let spec = inverted.strip_prefix("bytes ").unwrap();
            let (range, _) = spec.split_once('/').unwrap();
            let (x, y) = range.split_once('-').unwrap();
            proptest::prop_assert!(x.parse::<u64>().unwrap() > y.parse::<u64>().unwrap());
        }
    }

    #[test]
    fn framing_kinds() {
        let body = content(100);
        let full = bytes_of(&[WirePart::Body(body.clone())]);

        let (head, rest) = split(&bytes_of(&wire(Hostile::TwoLengths, &body, "", false)));
        assert!(head.contains("Content-Length: 100\r\nContent-Length: 101\r\n"));
        assert_eq!(rest, full);

        let (head, rest) = split(&bytes_of(&wire(Hostile::TeAndLength, &body, "", false)));
        assert!(head.contains("Transfer-Encoding: chunked\r\nContent-Length: 100\r\n"));
        let mut chunked = b"64\r\n".to_vec();
        chunked.extend_from_slice(&full);
        chunked.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(rest, chunked);

        for (kind, line) in [
            (Hostile::BadChunk, &b"xyz\r\n"[..]),
            (Hostile::ChunkOverflow, b"10000000000000000\r\n"),
        ] {
            let (_, rest) = split(&bytes_of(&wire(kind, &body, "", false)));
            let mut want = b"32\r\n".to_vec();
            want.extend_from_slice(&full[..50]);
            want.extend_from_slice(b"\r\n");
            want.extend_from_slice(line);
            want.extend_from_slice(&full[50..]);
            want.extend_from_slice(b"\r\n0\r\n\r\n");
            assert_eq!(rest, want, "{kind:?}");
        }

        let (_, rest) = split(&bytes_of(&wire(Hostile::ChunkShort, &body, "", false)));
        let mut want = b"64\r\n".to_vec();
        want.extend_from_slice(&full[..50]);
        assert_eq!(rest, want);

        let (_, rest) = split(&bytes_of(&wire(
            Hostile::ChunkUnterminated,
            &body,
            "",
            false,
        )));
        let mut want = b"32\r\n".to_vec();
        want.extend_from_slice(&full[..50]);
        want.extend_from_slice(b"\r\n32\r\n");
        want.extend_from_slice(&full[50..]);
        want.extend_from_slice(b"\r\n");
        assert_eq!(rest, want, "no terminating chunk");

        let raw = bytes_of(&wire(Hostile::BadStatus, &body, "", false));
        assert!(raw.starts_with(b"SSH-2.0-"));
        assert!(raw.ends_with(&full));
    }

    #[test]
    fn oversized_heads() {
        let body = content(10);
        let (head, rest) = split(&bytes_of(&wire(Hostile::HugeHeader, &body, "", false)));
        let line = head.lines().find(|l| l.starts_with("X-Huge: ")).unwrap();
        assert_eq!(line.len(), "X-Huge: ".len() + HUGE_HEADER_LEN);
        assert_eq!(rest.len(), 10);

        let (head, _) = split(&bytes_of(&wire(Hostile::ManyHeaders, &body, "", false)));
        assert_eq!(
            head.lines().filter(|l| l.starts_with("X-Many-")).count(),
            MANY_HEADERS
        );
    }

    #[test]
    fn text_kinds_and_head_only() {
        let body = content(10);
        let (head, rest) = split(&bytes_of(&wire(
            Hostile::ControlChars,
            &body,
            "http://h:1",
            false,
        )));
        assert!(head.starts_with("HTTP/1.1 302 Found\r\n"));
        assert!(head.contains(&format!("Location: http://h:1/{CONTROL_TEXT}?size=10\r\n")));
        assert!(head.contains(&format!("X-Testbed-Text: {CONTROL_TEXT}\r\n")));
        assert!(String::from_utf8(rest).unwrap().contains(CONTROL_TEXT));
        assert!(C1_TEXT.bytes().all(|b| b >= 0x80 || b.is_ascii_graphic()));

        let parts = wire(Hostile::TwoLengths, &body, "", true);
        assert_eq!(parts.len(), 1);
        let raw = bytes_of(&parts);
        assert!(raw.ends_with(b"\r\n\r\n"));
    }
}
