use super::*;
use crate::verify::Algorithm;
use proptest::prelude::*;
use std::io::{self, BufReader, Read};

const SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const SHA1: &str = "a9993e364706816aba3e25717850c26c9cd0d89d";
const MD5: &str = "900150983cd24fb0d6963f7d28e17f72";

fn sha512() -> String {
    "ab".repeat(64)
}

fn digest(algorithm: Algorithm, hex_value: &str) -> Digest {
    Digest::from_hex(algorithm, hex_value).unwrap()
}

fn entry(urls: &[&str], line: u64) -> Entry {
    Entry::new(urls.iter().map(|u| u.to_string()).collect(), line)
}

fn parse(text: &str) -> Vec<Result<Entry, InputError>> {
    parse_str(text, "list.txt")
}

fn ok_entries(text: &str) -> Vec<Entry> {
    parse(text)
        .into_iter()
        .map(|result| result.unwrap_or_else(|e| panic!("unexpected error: {e}")))
        .collect()
}

/// Each item as `Ok(first URL)` or `Err((line, message))`, for compact
/// assertions about recovery.
fn outline(text: &str) -> Vec<Result<String, (u64, String)>> {
    parse(text)
        .into_iter()
        .map(|result| match result {
            Ok(entry) => Ok(entry.urls[0].clone()),
            Err(error) => Err((error.line(), error.message().to_owned())),
        })
        .collect()
}

fn single_error(text: &str) -> InputError {
    let mut results = parse(text);
    assert_eq!(results.len(), 1, "{results:?}");
    results.remove(0).unwrap_err()
}

// --- plain lists ---

#[test]
fn plain_url_list() {
    assert_eq!(
        ok_entries("http://a/1\nhttps://b/2\nftp://c/3"),
        [
            entry(&["http://a/1"], 1),
            entry(&["https://b/2"], 2),
            entry(&["ftp://c/3"], 3)
        ]
    );
}

#[test]
fn empty_lists() {
    assert!(parse("").is_empty());
    assert!(parse("\n\n   \n\t\n# only a comment\n  # indented comment\n").is_empty());
}

#[test]
fn blank_lines_and_comments_are_skipped_and_lines_counted() {
    let text = "# header\n\nhttp://a/1\r\n   \n  # note\nhttp://b/2  \r\n";
    assert_eq!(
        ok_entries(text),
        [entry(&["http://a/1"], 3), entry(&["http://b/2"], 6)]
    );
}

#[test]
fn crlf_lines() {
    let text = "http://a/1\r\n  out=x.bin\r\nhttp://b/2\r\n";
    let mut first = entry(&["http://a/1"], 1);
    first.out = Some("x.bin".into());
    assert_eq!(ok_entries(text), [first, entry(&["http://b/2"], 3)]);
}

#[test]
fn byte_order_mark_is_ignored_on_the_first_line() {
    assert_eq!(
        outline("\u{feff}  out=x\nhttp://a/1\n"),
        [
            Err((
                1,
                "option line `out=x` has no URL line before it".to_owned()
            )),
            Ok("http://a/1".to_owned())
        ]
    );
    assert_eq!(
        ok_entries("\u{feff}http://a/1\n"),
        [entry(&["http://a/1"], 1)]
    );
    assert_eq!(
        ok_entries("\u{feff}# comment\nhttp://a/1\n"),
        [entry(&["http://a/1"], 2)]
    );
}

#[test]
fn url_is_kept_as_given() {
    let url = "http://h/a%20b?q=1&r=%3a#frag";
    assert_eq!(ok_entries(url), [entry(&[url], 1)]);
    // Not validated here: the engine does.
    assert_eq!(ok_entries("not-a-url"), [entry(&["not-a-url"], 1)]);
    assert_eq!(ok_entries("gopher:x"), [entry(&["gopher:x"], 1)]);
}

#[test]
fn whitespace_inside_a_url_is_an_error() {
    let error = single_error("http://a b\n");
    assert_eq!(error.line(), 1);
    assert!(error.message().contains("whitespace inside URL"), "{error}");
    assert!(single_error("http://a\u{a0}b")
        .message()
        .contains("whitespace"));
    assert!(single_error("http://a\tmirror b")
        .message()
        .contains("`mirror b`"));
}

// --- aria2 ---

#[test]
fn aria2_mirrors_on_one_line() {
    assert_eq!(
        ok_entries("http://a/f\thttp://b/f\t\thttp://c/f \n"),
        [entry(&["http://a/f", "http://b/f", "http://c/f"], 1)]
    );
}

#[test]
fn aria2_options() {
    let text = format!(
        "http://a/f\thttp://b/f\n  dir=/tmp/x\n\tout=sub/f.iso\n  checksum=sha-256={SHA256}\n  checksum=md5={MD5}\n  checksum=sha-1={SHA1}\n  size=53092\nhttp://c/g\n"
    );
    let mut first = entry(&["http://a/f", "http://b/f"], 1);
    first.dir = Some("/tmp/x".into());
    first.out = Some("sub/f.iso".into());
    first.size = Some(53092);
    first.digests = vec![
        digest(Algorithm::Sha256, SHA256),
        digest(Algorithm::Md5, MD5),
        digest(Algorithm::Sha1, SHA1),
    ];
    assert_eq!(ok_entries(&text), [first, entry(&["http://c/g"], 8)]);
}

#[test]
fn aria2_checksum_spellings() {
    for (spec, algorithm, hex_value) in [
        (
            format!("sha-256={SHA256}"),
            Algorithm::Sha256,
            SHA256.to_owned(),
        ),
        (
            format!("sha256={SHA256}"),
            Algorithm::Sha256,
            SHA256.to_owned(),
        ),
        (
            format!("SHA-256={}", SHA256.to_uppercase()),
            Algorithm::Sha256,
            SHA256.to_owned(),
        ),
        (format!("sha-1={SHA1}"), Algorithm::Sha1, SHA1.to_owned()),
        (format!("sha-512={}", sha512()), Algorithm::Sha512, sha512()),
        (
            format!("sha-384={}", "ab".repeat(48)),
            Algorithm::Sha384,
            "ab".repeat(48),
        ),
        (
            format!("sha-224={}", "cd".repeat(28)),
            Algorithm::Sha224,
            "cd".repeat(28),
        ),
        (format!("md5={MD5}"), Algorithm::Md5, MD5.to_owned()),
        (
            format!("blake3={SHA256}"),
            Algorithm::Blake3,
            SHA256.to_owned(),
        ),
    ] {
        let entries = ok_entries(&format!("http://a/f\n checksum={spec}\n"));
        assert_eq!(
            entries[0].digests,
            [digest(algorithm, &hex_value)],
            "{spec}"
        );
    }
}

#[test]
fn aria2_unknown_options_are_ignored() {
    let text = "http://a/f\n  split=5\n  max-connection-per-server=4\n  referer=http://x/\n  user_agent=\n  out=f\n";
    let mut expected = entry(&["http://a/f"], 1);
    expected.out = Some("f".into());
    assert_eq!(ok_entries(text), [expected]);
}

#[test]
fn aria2_headers_and_credentials() {
    let text = "http://a/f\n  header=Cookie: a=b\n  header=X-Token:  t0k \n  http-user=alice\n  http-passwd=s3cr=t:x\n";
    let entries = ok_entries(text);
    assert_eq!(
        entries[0].headers,
        [
            ("Cookie".to_owned(), "a=b".to_owned()),
            ("X-Token".to_owned(), "t0k".to_owned())
        ]
    );
    assert_eq!(entries[0].http_user.as_deref(), Some("alice"));
    assert_eq!(entries[0].http_passwd.as_deref(), Some("s3cr=t:x"));
    let shown = format!("{:?}", entries[0]);
    assert!(
        !shown.contains("s3cr") && !shown.contains("t0k") && !shown.contains("a=b"),
        "{shown}"
    );
    for (bad, why) in [
        ("http://a/f\n  header=no colon\n", "no `:`"),
        ("http://a/f\n  header=Bad Name: v\n", "not a header name"),
        ("http://a/f\n  header=X: a\u{1b}[2J\n", "control character"),
        ("http://a/f\n  http-user=a\n  http-user=b\n", "twice"),
        ("http://a/f\n  http-passwd=a\n  http-passwd=b\n", "twice"),
        ("http://a/f\n  http-user=a:b\n", "`:`"),
    ] {
        let error = parse(bad).into_iter().find_map(Result::err).expect(bad);
        assert!(error.message().contains(why), "{bad:?}: {error}");
    }
}

#[test]
fn aria2_option_values_are_trimmed_and_may_contain_equals() {
    let entries = ok_entries("http://a/f\n  out = a=b.bin  \n");
    assert_eq!(entries[0].out.as_deref(), Some("a=b.bin"));
}

#[test]
fn comments_and_blank_lines_between_options_keep_the_entry() {
    let entries = ok_entries("http://a/f\n  out=f\n\n# comment\n  # indented\n  dir=d\nhttp://b\n");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].out.as_deref(), Some("f"));
    assert_eq!(entries[0].dir.as_deref(), Some("d"));
}

#[test]
fn repeated_identical_checksum_is_accepted() {
    let entries = ok_entries(&format!(
        "http://a/f\n checksum=sha-256={SHA256}\n checksum=sha256={SHA256}\n"
    ));
    assert_eq!(entries[0].digests.len(), 1);
}

#[test]
fn bad_options_are_errors_at_their_line() {
    let sha512 = sha512();
    let cases: Vec<(String, &str)> = vec![
        ("  out\n".into(), "malformed option line `out`"),
        ("  =x\n".into(), "malformed option line"),
        ("  bad key=x\n".into(), "malformed option line"),
        ("  http://mirror/f\n".into(), "looks like a URL"),
        ("  http://mirror/f?a=b\n".into(), "looks like a URL"),
        ("  out=\n".into(), "empty value for `out`"),
        ("  dir=  \n".into(), "empty value for `dir`"),
        (
            "  size=-1\n".into(),
            "size `-1` is not a non-negative integer",
        ),
        ("  size=12kB\n".into(), "size `12kB`"),
        (
            "  size=18446744073709551616\n".into(),
            "size `18446744073709551616`",
        ),
        ("  checksum=abc\n".into(), "is not of the form ALGO=HEX"),
        (
            format!("  checksum=sha3-256={SHA256}\n"),
            "unsupported checksum algorithm `sha3-256`",
        ),
        (
            format!("  checksum=sha-384={sha512}\n"),
            "bad `sha-384` checksum",
        ),
        (
            "  checksum=adler32=01020304\n".into(),
            "unsupported checksum algorithm `adler32`",
        ),
        (
            "  checksum=sha-256=zz\n".into(),
            "bad `sha-256` checksum `zz`: expected 64 hexadecimal digits",
        ),
        (
            format!("  checksum=md5={SHA256}\n"),
            "expected 32 hexadecimal digits",
        ),
        ("  out=a\n  out=b\n".into(), "`out` is given twice"),
        ("  dir=a\n  dir=a\n".into(), "`dir` is given twice"),
        ("  size=1\n  size=1\n".into(), "`size` is given twice"),
        (
            format!(
                "  checksum=sha-256={SHA256}\n  checksum=sha-256={}\n",
                "00".repeat(32)
            ),
            "two different sha256 checksums",
        ),
    ];
    for (options, expected) in cases {
        let text = format!("# c\nhttp://a/f\n  split=2\n{options}http://b/g\n");
        let results = outline(&text);
        let bad_line = 3 + options.lines().count() as u64;
        assert_eq!(results.len(), 2, "{options:?}: {results:?}");
        match &results[0] {
            Err((line, message)) => {
                assert_eq!(*line, bad_line, "{options:?}");
                assert!(message.contains(expected), "{options:?}: {message}");
            }
            Ok(url) => panic!("{options:?}: accepted {url}"),
        }
        assert_eq!(results[1], Ok("http://b/g".to_owned()), "{options:?}");
    }
}

#[test]
fn first_bad_option_is_reported_and_the_rest_skipped() {
    let text = "http://a/f\n  out\n  also bad\n  out=x\nhttp://b\n";
    assert_eq!(
        outline(text),
        [
            Err((
                2,
                "malformed option line `out` (expected key=value)".to_owned()
            )),
            Ok("http://b".to_owned())
        ]
    );
}

#[test]
fn options_of_a_bad_url_line_are_skipped() {
    let text = "http://a b\n  out=x\n  checksum=nonsense\nhttp://c\n";
    let results = outline(text);
    assert_eq!(results.len(), 2);
    assert!(matches!(&results[0], Err((1, m)) if m.contains("whitespace")));
    assert_eq!(results[1], Ok("http://c".to_owned()));
}

#[test]
fn option_without_an_entry_is_an_error() {
    let text = "  out=x\n  dir=y\n\nhttp://a\n";
    let results = outline(text);
    assert_eq!(results.len(), 2);
    assert!(
        matches!(&results[0], Err((1, m)) if m == "option line `out=x` has no URL line before it"),
        "{results:?}"
    );
    assert_eq!(results[1], Ok("http://a".to_owned()));
}

#[test]
fn option_after_a_comment_still_belongs_to_the_entry() {
    let entries = ok_entries("http://a\n# out=x is below\n  out=y\n");
    assert_eq!(entries[0].out.as_deref(), Some("y"));
}

// --- apt ---

#[test]
fn apt_lines() {
    let text = format!(
        "'http://deb.debian.org/debian/pool/main/h/hello/hello_2.10-3_amd64.deb' hello_2.10-3_amd64.deb 53092 SHA256:{SHA256}\n\
         'http://deb.debian.org/debian/pool/main/libf/libfoo_1%3a2.0-1_amd64.deb' libfoo_1%3a2.0-1_amd64.deb 10 MD5Sum:{MD5}\n\
         'http://x/a' a 1 SHA1:{SHA1}\n\
         'http://x/b' b 2 SHA512:{}\n",
        sha512()
    );
    let mut hello = entry(
        &["http://deb.debian.org/debian/pool/main/h/hello/hello_2.10-3_amd64.deb"],
        1,
    );
    hello.out = Some("hello_2.10-3_amd64.deb".into());
    hello.size = Some(53092);
    hello.digests = vec![digest(Algorithm::Sha256, SHA256)];
    let mut libfoo = entry(
        &["http://deb.debian.org/debian/pool/main/libf/libfoo_1%3a2.0-1_amd64.deb"],
        2,
    );
    libfoo.out = Some("libfoo_1%3a2.0-1_amd64.deb".into());
    libfoo.size = Some(10);
    libfoo.digests = vec![digest(Algorithm::Md5, MD5)];
    let mut a = entry(&["http://x/a"], 3);
    a.out = Some("a".into());
    a.size = Some(1);
    a.digests = vec![digest(Algorithm::Sha1, SHA1)];
    let mut b = entry(&["http://x/b"], 4);
    b.out = Some("b".into());
    b.size = Some(2);
    b.digests = vec![digest(Algorithm::Sha512, &sha512())];
    assert_eq!(ok_entries(&text), [hello, libfoo, a, b]);
}

#[test]
fn apt_line_without_hash_and_with_unknown_size() {
    let text = "'http://deb.debian.org/debian/dists/bookworm/InRelease' deb.debian.org_debian_dists_bookworm_InRelease 0 \n";
    let mut expected = entry(
        &["http://deb.debian.org/debian/dists/bookworm/InRelease"],
        1,
    );
    expected.out = Some("deb.debian.org_debian_dists_bookworm_InRelease".into());
    assert_eq!(ok_entries(text), [expected]);
}

#[test]
fn apt_line_with_several_hashes() {
    let entries = ok_entries(&format!("'http://x/a' a 3 MD5Sum:{MD5} SHA256:{SHA256}\n"));
    assert_eq!(
        entries[0].digests,
        [
            digest(Algorithm::Md5, MD5),
            digest(Algorithm::Sha256, SHA256)
        ]
    );
}

#[test]
fn apt_line_may_be_followed_by_options() {
    let entries = ok_entries("'http://x/a' a 3\n  dir=debs\n");
    assert_eq!(entries[0].dir.as_deref(), Some("debs"));
    let error = single_error("'http://x/a' a 3\n  out=b\n");
    assert_eq!(error.line(), 2);
    assert!(error.message().contains("`out` is given twice"));
}

#[test]
fn bad_apt_lines() {
    for (line, expected) in [
        ("'http://x/a a 3", "no closing quote"),
        ("'' a 3", "empty URL"),
        ("'http://x/a b' a 3", "whitespace inside apt URL"),
        ("'http://x/a'a 3", "expected a space after the quoted URL"),
        ("'http://x/a'", "no file name"),
        ("'http://x/a' a", "no size"),
        (
            "'http://x/a' a big",
            "apt size `big` is not a non-negative integer",
        ),
        ("'http://x/a' a -1", "apt size `-1`"),
        ("'http://x/a' a 99999999999999999999", "apt size"),
        ("'http://x/a' a 3 SHA256", "not of the form NAME:HEX"),
        (
            "'http://x/a' a 3 SHA3-256:abcd",
            "unknown apt hash `SHA3-256`",
        ),
        (
            "'http://x/a' a 3 SHA224:abcd",
            "expected 56 hexadecimal digits",
        ),
        ("'http://x/a' a 3 SHA256:xyz", "bad `SHA256` checksum `xyz`"),
        (
            "'http://x/a' a 3 SHA256:abcd",
            "expected 64 hexadecimal digits",
        ),
    ] {
        let text = format!("{line}\n  out=ignored\nhttp://next\n");
        let results = outline(&text);
        assert_eq!(results.len(), 2, "{line}: {results:?}");
        assert!(
            matches!(&results[0], Err((1, m)) if m.contains(expected)),
            "{line}: {results:?}"
        );
        assert_eq!(results[1], Ok("http://next".to_owned()));
    }
}

#[test]
fn formats_mix_in_one_file() {
    let text = format!("http://plain/1\n'http://apt/2' two 2 SHA256:{SHA256}\nhttp://aria/3\thttp://mirror/3\n  out=three\n");
    let entries = ok_entries(&text);
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0], entry(&["http://plain/1"], 1));
    assert_eq!(entries[1].out.as_deref(), Some("two"));
    assert_eq!(entries[2].urls, ["http://aria/3", "http://mirror/3"]);
    assert_eq!(entries[2].out.as_deref(), Some("three"));
}

// --- unreadable lines ---

#[test]
fn invalid_utf8_line_is_an_error_and_reading_goes_on() {
    let input: &[u8] = b"http://a\n\xff\xfe bad\n  out=x\nhttp://b\n";
    let results: Vec<_> = EntryReader::new(input, "<stdin>").collect();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].as_ref().unwrap().urls, ["http://a"]);
    let error = results[1].as_ref().unwrap_err();
    assert_eq!(error.to_string(), "<stdin>:2: line is not valid UTF-8");
    assert_eq!(results[2].as_ref().unwrap().line, 4);
}

#[test]
fn invalid_utf8_option_line_spoils_its_entry() {
    let input: &[u8] = b"http://a\n  out=\xff\nhttp://b\n";
    let results: Vec<_> = EntryReader::new(input, "l").collect();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].as_ref().unwrap_err().line(), 2);
    assert!(results[1].is_ok());
}

#[test]
fn over_long_lines_are_errors_and_reading_goes_on() {
    let long = "x".repeat(50);
    let text = format!("http://a\n  out={long}\nhttp://{long}\n  out=y\nhttp://b\n");
    let results: Vec<_> = EntryReader::new(BufReader::with_capacity(4, text.as_bytes()), "l")
        .with_max_line_len(20)
        .collect();
    assert_eq!(results.len(), 3, "{results:?}");
    assert_eq!(results[0].as_ref().unwrap_err().line(), 2);
    let error = results[1].as_ref().unwrap_err();
    assert_eq!(error.line(), 3);
    assert!(error.message().contains("longer than"));
    assert_eq!(results[2].as_ref().unwrap().urls, ["http://b"]);
}

#[test]
fn over_long_line_at_the_real_cap() {
    let mut text = String::from("http://");
    text.push_str(&"a".repeat(MAX_LINE_BYTES));
    text.push_str("\nhttp://b\n");
    let results = parse(&text);
    assert_eq!(results.len(), 2);
    assert_eq!(
        results[0].as_ref().unwrap_err().to_string(),
        format!("list.txt:1: line is longer than {MAX_LINE_BYTES} bytes")
    );
    assert_eq!(results[1].as_ref().unwrap().urls, ["http://b"]);
}

#[test]
fn error_messages_quote_input_safely_and_briefly() {
    let error = single_error(&format!("http://a\x1b[31m b{}\n", "c".repeat(500)));
    let message = error.message();
    assert!(!message.contains('\x1b'), "{message}");
    assert!(message.contains("\\x1b[31m"), "{message}");
    assert!(message.len() < 200, "{message}");
    assert!(message.contains('…'));
}

// --- reader behaviour ---

/// Yields `data`, then fails.
struct FailingReader {
    data: &'static [u8],
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.data.is_empty() {
            return Err(io::Error::other("disk on fire"));
        }
        let n = self.data.len().min(buf.len());
        let (now, later) = self.data.split_at(n);
        buf[..n].copy_from_slice(now);
        self.data = later;
        Ok(n)
    }
}

#[test]
fn io_error_ends_the_iteration_after_one_error() {
    let reader = BufReader::with_capacity(
        8,
        FailingReader {
            data: b"http://a\nhttp://b\n  out=x\n",
        },
    );
    let mut entries = EntryReader::new(reader, "list");
    assert_eq!(entries.next().unwrap().unwrap().urls, ["http://a"]);
    // The entry being read when the error came is dropped.
    let error = entries.next().unwrap().unwrap_err();
    assert_eq!(error.line(), 4);
    assert!(error.message().contains("disk on fire"), "{error}");
    assert!(entries.next().is_none());
    assert!(entries.next().is_none());
}

#[test]
fn io_error_before_any_line() {
    let reader = BufReader::new(FailingReader { data: b"" });
    let results: Vec<_> = EntryReader::new(reader, "list").collect();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].as_ref().unwrap_err().line(), 1);
}

/// An endless list: proves entries come out before the input ends.
struct EndlessList {
    next: u64,
    pending: Vec<u8>,
}

impl Read for EndlessList {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pending.is_empty() {
            self.pending = format!("http://h/{}\n  out=f{}\n", self.next, self.next).into_bytes();
            self.next += 1;
        }
        let n = self.pending.len().min(buf.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

#[test]
fn entries_stream_from_endless_input() {
    let reader = BufReader::new(EndlessList {
        next: 0,
        pending: Vec::new(),
    });
    let entries: Vec<Entry> = EntryReader::new(reader, "<stdin>")
        .take(10_000)
        .map(Result::unwrap)
        .collect();
    assert_eq!(entries.len(), 10_000);
    assert_eq!(entries[9_999].urls, ["http://h/9999"]);
    assert_eq!(entries[9_999].out.as_deref(), Some("f9999"));
    assert_eq!(entries[9_999].line, 19_999);
}

#[test]
fn input_error_accessors_and_display() {
    let error = InputError::new("/tmp/list", 7, "something is wrong");
    assert_eq!(error.source(), "/tmp/list");
    assert_eq!(error.line(), 7);
    assert_eq!(error.message(), "something is wrong");
    assert_eq!(error.to_string(), "/tmp/list:7: something is wrong");
    let as_std: &dyn std::error::Error = &error;
    assert!(as_std.source().is_none());
}

// --- properties ---

fn url_strategy() -> impl Strategy<Value = String> {
    "(http|https|ftp)://[a-z0-9.-]{1,12}(/[A-Za-z0-9._~%-]{0,10}){0,4}"
}

fn entry_strategy() -> impl Strategy<Value = Entry> {
    (
        proptest::collection::vec(url_strategy(), 1..4),
        proptest::option::of("[A-Za-z0-9._-]([A-Za-z0-9._/ -]{0,10}[A-Za-z0-9._-])?"),
        proptest::option::of("[A-Za-z0-9._/-]{1,10}"),
        proptest::option::of(any::<u64>()),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 32)),
    )
        .prop_map(|(urls, out, dir, size, sha)| Entry {
            urls,
            out,
            dir,
            size,
            digests: sha
                .map(|bytes| Digest::new(Algorithm::Sha256, bytes).unwrap())
                .into_iter()
                .collect(),
            mirrors: Vec::new(),
            pieces: None,
            headers: Vec::new(),
            http_user: None,
            http_passwd: None,
            line: 0,
        })
}

/// Writes an entry as an aria2 entry, returning how many lines it took.
fn write_aria2(entry: &Entry, text: &mut String) -> u64 {
    let mut lines = 1;
    text.push_str(&entry.urls.join("\t"));
    text.push('\n');
    for (key, value) in [("out", &entry.out), ("dir", &entry.dir)] {
        if let Some(value) = value {
            text.push_str(&format!("  {key}={value}\n"));
            lines += 1;
        }
    }
    if let Some(size) = entry.size {
        text.push_str(&format!("\tsize={size}\n"));
        lines += 1;
    }
    for digest in &entry.digests {
        text.push_str(&format!(" checksum=sha-256={}\n", digest.to_hex()));
        lines += 1;
    }
    lines
}

proptest! {
    #[test]
    fn aria2_entries_round_trip(entries in proptest::collection::vec(entry_strategy(), 0..8), crlf: bool) {
        let mut text = String::new();
        let mut expected = Vec::new();
        let mut line = 1;
        for entry in &entries {
            let mut entry = entry.clone();
            entry.line = line;
            line += write_aria2(&entry, &mut text);
            expected.push(entry);
        }
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        let parsed: Vec<Entry> = parse(&text).into_iter().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(parsed, expected);
    }

    #[test]
    fn never_panics_and_result_does_not_depend_on_buffering(
        bytes in proptest::collection::vec(
            prop_oneof![
                Just(b'\n'), Just(b'\r'), Just(b' '), Just(b'\t'), Just(b'\''), Just(b'='),
                Just(b'#'), Just(b':'), Just(b'a'), Just(b'0'), Just(0xff), any::<u8>()
            ],
            0..200,
        ),
        capacity in 1usize..16,
        max_len in 1usize..40,
    ) {
        let small: Vec<_> = EntryReader::new(BufReader::with_capacity(capacity, bytes.as_slice()), "p")
            .with_max_line_len(max_len)
            .collect();
        let large: Vec<_> = EntryReader::new(bytes.as_slice(), "p")
            .with_max_line_len(max_len)
            .collect();
        prop_assert_eq!(&small, &large);
        let line_count = bytes.split(|&b| b == b'\n').count() as u64;
        for result in &small {
            let line = match result {
                Ok(entry) => entry.line,
                Err(error) => error.line(),
            };
            prop_assert!(line >= 1 && line <= line_count);
        }
    }

    #[test]
    fn never_panics_on_arbitrary_text(text in "\\PC*(\n[ \t']?\\PC*){0,6}") {
        for result in parse(&text) {
            match result {
                Ok(entry) => prop_assert!(!entry.urls.is_empty()),
                Err(error) => prop_assert!(!error.message().is_empty()),
            }
        }
    }

    #[test]
    fn every_non_blank_head_line_yields_one_item(lines in proptest::collection::vec("[a-z:/. \t']{0,12}", 0..12)) {
        // Each line starting at column 1 that is neither blank nor a
        // comment starts exactly one item (an entry or an error).
        let text = lines.join("\n");
        let heads = lines
            .iter()
            .filter(|l| !l.starts_with([' ', '\t']) && !l.trim().is_empty() && !l.trim().starts_with('#'))
            .count();
        let results = parse(&text);
        let orphan_block = lines
            .iter()
            .find(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
            .is_some_and(|l| l.starts_with([' ', '\t']));
        prop_assert_eq!(results.len(), heads + usize::from(orphan_block));
    }
}

/// An apt `--print-uris` line and the entry it must read as.
fn apt_strategy() -> impl Strategy<Value = (String, Entry)> {
    let algorithm = prop_oneof![
        Just(("SHA256", Algorithm::Sha256)),
        Just(("SHA512", Algorithm::Sha512)),
        Just(("SHA1", Algorithm::Sha1)),
        Just(("MD5Sum", Algorithm::Md5)),
    ];
    (
        url_strategy(),
        "[A-Za-z0-9._+~-]{1,20}(%3a[0-9]{1,3})?[A-Za-z0-9._-]{0,8}",
        0u64..u64::MAX,
        proptest::option::of((algorithm, proptest::collection::vec(any::<u8>(), 64))),
    )
        .prop_map(|(url, name, size, hash)| {
            let mut line = format!("'{url}' {name} {size}");
            let mut digests = Vec::new();
            if let Some(((label, algorithm), bytes)) = hash {
                let digest =
                    Digest::new(algorithm, bytes[..algorithm.output_len()].to_vec()).unwrap();
                line.push_str(&format!(" {label}:{}", digest.to_hex()));
                digests.push(digest);
            }
            let entry = Entry {
                urls: vec![url],
                out: Some(name),
                dir: None,
                size: (size != 0).then_some(size),
                digests,
                mirrors: Vec::new(),
                pieces: None,
                headers: Vec::new(),
                http_user: None,
                http_passwd: None,
                line: 0,
            };
            (line, entry)
        })
}

proptest! {
    #[test]
    fn apt_lines_round_trip(lines in proptest::collection::vec(apt_strategy(), 0..10), crlf: bool) {
        let newline = if crlf { "\r\n" } else { "\n" };
        let text: String = lines.iter().map(|(line, _)| format!("{line}{newline}")).collect();
        let parsed: Vec<Entry> = parse_str(&text, "apt")
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected: Vec<Entry> = lines
            .into_iter()
            .enumerate()
            .map(|(i, (_, mut entry))| {
                entry.line = i as u64 + 1;
                entry
            })
            .collect();
        prop_assert_eq!(parsed, expected);
    }

    #[test]
    fn plain_lists_round_trip(
        items in proptest::collection::vec(
            prop_oneof![
                url_strategy().prop_map(Some),
                Just(None),
            ],
            0..20,
        ),
    ) {
        // `None` stands for a blank or comment line between the URLs.
        let mut text = String::new();
        let mut expected = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item {
                Some(url) => {
                    text.push_str(&format!("{url}  \n"));
                    expected.push(Entry::new(vec![url.clone()], i as u64 + 1));
                }
                None if i % 2 == 0 => text.push_str("   \n"),
                None => text.push_str("# a comment\n"),
            }
        }
        let parsed: Vec<Entry> = parse_str(&text, "plain")
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed, expected);
    }
}
