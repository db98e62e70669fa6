use super::*;
use proptest::prelude::*;
use std::io;

const SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const SHA1: &str = "a9993e364706816aba3e25717850c26c9cd0d89d";
const MD5: &str = "900150983cd24fb0d6963f7d28e17f72";

fn parse(text: &str) -> Vec<Result<Entry, InputError>> {
    parse_metalink(text.as_bytes(), "files.meta4")
}

fn ok(text: &str) -> Vec<Entry> {
    parse(text)
        .into_iter()
        .map(|result| result.unwrap_or_else(|e| panic!("unexpected error: {e}")))
        .collect()
}

/// The single document-level error of `text`.
fn fatal(text: &str) -> InputError {
    let mut results = parse(text);
    assert_eq!(results.len(), 1, "{results:?}");
    results.remove(0).unwrap_err()
}

/// A document holding `files` (the inside of `<metalink>`).
fn doc(files: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">\n{files}</metalink>\n"
    )
}

fn digest(algorithm: Algorithm, hex_value: &str) -> Digest {
    Digest::from_hex(algorithm, hex_value).unwrap()
}

fn mirror(url: &str, priority: Option<u32>, location: Option<&str>) -> Mirror {
    Mirror {
        url: url.to_owned(),
        priority,
        location: location.map(str::to_owned),
    }
}

/// RFC 5854's own example (section 1.1), with real hex values.
#[test]
fn rfc_example() {
    let text = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <published>2009-05-15T12:23:23Z</published>
  <file name="example.ext">
    <size>14471447</size>
    <identity>Example</identity>
    <version>1.0</version>
    <language>en</language>
    <description>
    A description of the example file for download.
    </description>
    <hash type="sha-256">{SHA256}</hash>
    <url location="de"
      priority="1">ftp://ftp.example.com/example.ext</url>
    <url location="fr"
      priority="1">http://example.com/example.ext</url>
    <metaurl mediatype="torrent"
      priority="2">http://example.com/example.ext.torrent</metaurl>
  </file>
</metalink>
"#
    );
    let entries = ok(&text);
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.out.as_deref(), Some("example.ext"));
    assert_eq!(entry.size, Some(14471447));
    assert_eq!(entry.digests, [digest(Algorithm::Sha256, SHA256)]);
    assert_eq!(
        entry.urls,
        [
            "ftp://ftp.example.com/example.ext",
            "http://example.com/example.ext"
        ]
    );
    assert_eq!(
        entry.mirrors,
        [
            mirror("ftp://ftp.example.com/example.ext", Some(1), Some("de")),
            mirror("http://example.com/example.ext", Some(1), Some("fr")),
        ]
    );
    assert_eq!(entry.pieces, None);
    assert_eq!(entry.dir, None);
    assert_eq!(entry.line, 4);
}

#[test]
fn several_files_with_hashes_and_pieces() {
    let piece = |n: u8| format!("{:02x}", n).repeat(32);
    let text = doc(&format!(
        r#"  <file name="a.iso">
    <size>5</size>
    <hash type="sha-256">{SHA256}</hash>
    <hash type="SHA-1">{SHA1}</hash>
    <hash type="md5">{MD5}</hash>
    <hash type="sha-384">{}</hash>
    <hash type="sha3-256">{SHA256}</hash>
    <pieces length="2" type="sha-256"><hash>{}</hash><hash>{}</hash>
      <hash>{}</hash></pieces>
    <pieces length="4" type="sha3-256"><hash>whatever</hash></pieces>
    <url>https://a.example/a.iso</url>
  </file>
  <file name="sub/dir/b.bin">
    <url priority="3">https://b.example/b</url>
  </file>
"#,
        "ab".repeat(48),
        piece(0),
        piece(1),
        piece(2)
    ));
    let entries = ok(&text);
    assert_eq!(entries.len(), 2);
    let a = &entries[0];
    assert_eq!(
        a.digests,
        [
            digest(Algorithm::Sha256, SHA256),
            digest(Algorithm::Sha1, SHA1),
            digest(Algorithm::Md5, MD5),
            digest(Algorithm::Sha384, &"ab".repeat(48))
        ]
    );
    let pieces = a.pieces.as_ref().unwrap();
    assert_eq!(pieces.algorithm(), Algorithm::Sha256);
    assert_eq!(pieces.piece_length(), 2);
    assert_eq!(pieces.len(), 3);
    assert_eq!(pieces.get(1), Some(&[1u8; 32][..]));
    assert_eq!(pieces.range(2, 5), Some(4..5));
    assert_eq!(a.line, 3);
    let b = &entries[1];
    assert_eq!(b.out.as_deref(), Some("sub/dir/b.bin"));
    assert_eq!(b.size, None);
    assert!(b.digests.is_empty());
    assert_eq!(b.mirrors, [mirror("https://b.example/b", Some(3), None)]);
    assert_eq!(b.line, 15);
}

#[test]
fn mirrors_are_ordered_by_priority_then_document_order() {
    let text = doc(r#"<file name="f">
  <url>http://none1/</url>
  <url priority="2" location="US">http://two/</url>
  <url priority="1" location="de">http://one-a/</url>
  <url>http://none2/</url>
  <url priority="1">http://one-b/</url>
  <url priority="10" location=" ">http://ten/</url>
</file>
"#);
    let entry = ok(&text).remove(0);
    assert_eq!(
        entry.urls,
        [
            "http://one-a/",
            "http://one-b/",
            "http://two/",
            "http://ten/",
            "http://none1/",
            "http://none2/"
        ]
    );
    assert_eq!(entry.mirrors[2].location.as_deref(), Some("us"));
    assert_eq!(entry.mirrors[3].location, None);
}

#[test]
fn preferred_locations_come_first() {
    let text = doc(r#"<file name="f">
  <url priority="1" location="us">http://us1/</url>
  <url priority="2" location="fr">http://fr2/</url>
  <url priority="3" location="de">http://de3/</url>
  <url priority="4" location="fr">http://fr4/</url>
  <url>http://nowhere/</url>
</file>
"#);
    let mut entry = ok(&text).remove(0);
    entry.prefer_locations(&["DE", " fr"]);
    assert_eq!(
        entry.urls,
        [
            "http://fr2/",
            "http://de3/",
            "http://fr4/",
            "http://us1/",
            "http://nowhere/"
        ]
    );
    let urls: Vec<&str> = entry.mirrors.iter().map(|m| m.url.as_str()).collect();
    assert_eq!(urls, entry.urls);
    let before = entry.clone();
    entry.prefer_locations::<&str>(&[]);
    assert_eq!(entry, before);
    // Entries from other formats have no mirror details: nothing moves.
    let mut plain = Entry::new(vec!["http://b/".into(), "http://a/".into()], 1);
    plain.prefer_locations(&["de"]);
    assert_eq!(plain.urls, ["http://b/", "http://a/"]);
}

#[test]
fn entities_character_references_and_cdata() {
    let text = doc(r#"<file name="a&amp;b &#x263a;.txt">
  <url>http://h/f?a=1&amp;b=2&#38;c=&lt;3&gt;</url>
  <url><![CDATA[http://h/g?x=<y>&z]]></url>
</file>
"#);
    let entry = ok(&text).remove(0);
    assert_eq!(entry.out.as_deref(), Some("a&b ☺.txt"));
    assert_eq!(
        entry.urls,
        ["http://h/f?a=1&b=2&c=<3>", "http://h/g?x=<y>&z"]
    );
}

#[test]
fn namespace_prefixes_and_foreign_elements() {
    let text = r#"<ml:metalink xmlns:ml="urn:ietf:params:xml:ns:metalink" xmlns:x="urn:example:ext">
  <x:file name="ignored"><ml:url>http://no/</ml:url></x:file>
  <ml:file name="f">
    <x:url>http://foreign/</x:url>
    <x:wrapper><ml:url>http://nested/</ml:url></x:wrapper>
    <url>http://unbound/</url>
    <ml:url>http://yes/</ml:url>
    <ml:signature mediatype="application/pgp-signature">sig</ml:signature>
  </ml:file>
</ml:metalink>"#;
    let entries = ok(text);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].urls, ["http://yes/"]);
}

#[test]
fn byte_order_mark_and_no_declaration() {
    let text = format!(
        "\u{feff}{}",
        doc("<file name=\"f\"><url>http://h/</url></file>")
    );
    assert_eq!(ok(&text).len(), 1);
    let bare = "<metalink xmlns='urn:ietf:params:xml:ns:metalink'><file name='f'><url>http://h/</url></file></metalink>";
    assert_eq!(ok(bare).len(), 1);
}

#[test]
fn unsafe_names_are_errors_naming_the_file() {
    for (name, why) in [
        ("../etc/passwd", "contains `..`"),
        ("a/../../b", "contains `..`"),
        ("a\\..\\b", "contains `..`"),
        ("..", "contains `..`"),
        ("/etc/passwd", "absolute"),
        ("\\\\server\\share", "absolute"),
        ("C:\\Windows\\x", "absolute"),
        ("", "empty"),
        ("   ", "empty"),
        (".", "nothing usable"),
        ("./.", "nothing usable"),
    ] {
        let text = doc(&format!(
            "<file name=\"{name}\">\n<url>http://h/</url>\n</file>\n<file name=\"ok\"><url>http://h/ok</url></file>\n"
        ));
        let results = parse(&text);
        assert_eq!(results.len(), 2, "{name:?}: {results:?}");
        let error = results[0].as_ref().unwrap_err();
        assert_eq!(error.line(), 3, "{name:?}: {error}");
        assert!(
            error.message().contains("unsafe file name"),
            "{name:?}: {error}"
        );
        assert!(error.message().contains(why), "{name:?}: {error}");
        assert!(
            error.to_string().starts_with("files.meta4:3: <file> "),
            "{error}"
        );
        assert_eq!(results[1].as_ref().unwrap().out.as_deref(), Some("ok"));
    }
    // Harmless oddities are normalised rather than refused.
    for (name, expected) in [
        ("./a", "a"),
        ("a//b", "a/b"),
        ("dir/./f", "dir/f"),
        ("tab\tname", "tab name"),
        (".hidden", ".hidden"),
    ] {
        let text = doc(&format!(
            "<file name=\"{name}\"><url>http://h/</url></file>"
        ));
        assert_eq!(ok(&text)[0].out.as_deref(), Some(expected), "{name:?}");
    }
    // A control character that survives attribute normalisation is replaced.
    let text = doc("<file name=\"a&#x1b;b\"><url>http://h/</url></file>");
    assert_eq!(ok(&text)[0].out.as_deref(), Some("a_b"));
}

#[test]
fn file_errors_are_per_file_and_located() {
    let cases: Vec<(String, u64, &str)> = vec![
        ("<file>\n<url>http://h/</url></file>".into(), 3, "<file>: no name attribute"),
        ("<file name=\"f\">\n</file>".into(), 3, "<file> `f`: no <url>"),
        ("<file name=\"f\">\n<url></url>\n</file>".into(), 4, "empty <url>"),
        ("<file name=\"f\">\n<url/>\n</file>".into(), 4, "empty <url>"),
        ("<file name=\"f\">\n<url>http://a b/</url>\n</file>".into(), 4, "whitespace inside URL"),
        ("<file name=\"f\">\n<url>file:///etc/shadow</url><url>http://h/</url>\n</file>".into(), 4, "the file: URL `file:///etc/shadow` is refused"),
        ("<file name=\"f\">\n<url>FILE:etc/passwd</url>\n</file>".into(), 4, "is refused: a Metalink document names no local files"),
        ("<file name=\"f\">\n<url priority=\"high\">http://h/</url>\n</file>".into(), 4, "priority `high` is not a number"),
        ("<file name=\"f\">\n<url priority=\"99999999999\">http://h/</url>\n</file>".into(), 4, "is not a number"),
        ("<file name=\"f\"><url>http://h/</url>\n<size>12kB</size>\n</file>".into(), 4, "<size> `12kB` is not a number"),
        ("<file name=\"f\"><url>http://h/</url>\n<size>1</size><size>2</size></file>".into(), 4, "two different <size>"),
        ("<file name=\"f\"><url>http://h/</url>\n<hash>abc</hash></file>".into(), 4, "<hash> has no type"),
        ("<file name=\"f\"><url>http://h/</url>\n<hash type=\"sha-256\">abc</hash></file>".into(), 4, "bad `sha256` checksum `abc`: expected 64"),
        (format!("<file name=\"f\"><url>http://h/</url>\n<hash type=\"sha-256\">{SHA256}</hash><hash type=\"sha256\">{}</hash></file>", "0".repeat(64)), 4, "two different sha256 checksums"),
        ("<file name=\"f\"><url>http://h/</url>\n<pieces type=\"sha-1\"></pieces></file>".into(), 4, "<pieces> has no length"),
        ("<file name=\"f\"><url>http://h/</url>\n<pieces length=\"0\" type=\"sha-1\"></pieces></file>".into(), 4, "length `0` is not a positive number"),
        ("<file name=\"f\"><url>http://h/</url>\n<pieces length=\"1\"></pieces></file>".into(), 4, "<pieces> has no type"),
        (format!("<file name=\"f\"><url>http://h/</url>\n<pieces length=\"1\" type=\"sha-1\">\n<hash>{SHA1}</hash><hash>xyz</hash></pieces></file>"), 5, "piece bad `sha1` checksum `xyz`"),
        (format!("<file name=\"f\"><url>http://h/</url><size>3</size>\n<pieces length=\"2\" type=\"sha-1\"><hash>{SHA1}</hash></pieces></file>"), 4, "1 piece hashes for 3 bytes in pieces of 2 bytes (expected 2)"),
        (format!("<file name=\"f\"><url>http://h/</url><size>2</size>\n<pieces length=\"2\" type=\"sha-1\"><hash>{SHA1}</hash><hash>{SHA1}</hash></pieces></file>"), 4, "2 piece hashes for 2 bytes in pieces of 2 bytes (expected 1)"),
        (format!("<file name=\"f\"><url>http://h/</url>\n<pieces length=\"2\" type=\"sha-1\"><hash>{SHA1}</hash></pieces>\n<pieces length=\"4\" type=\"sha-1\"><hash>{SHA1}</hash></pieces></file>"), 5, "two <pieces> of type sha1"),
        ("<file name=\"f\">\n<pieces length=\"2\" type=\"md5\"></pieces><url>http://h/</url></file>".into(), 3, "<pieces> without <hash> and no <size>"),
        ("<file name=\"f\"><url>http://h/</url></file>\n<file name=\"./f\"><url>http://h/2</url></file>".into(), 4, "a second <file> of the same name"),
        ("<file name=\"f\">\n<hash type=\"sha3-256\">00</hash><hash type=\"SHA3-512\">00</hash><url>http://h/</url></file>".into(), 3, "every hash is of a type parget does not know (`sha3-256`, `SHA3-512`), so it cannot be verified"),
        ("<file name=\"f\">\n<pieces length=\"2\" type=\"tiger\"><hash>00</hash></pieces><url>http://h/</url></file>".into(), 3, "does not know (`tiger`)"),
    ];
    for (files, line, message) in cases {
        let text = doc(&format!(
            "{files}\n<file name=\"after\"><url>http://h/after</url></file>\n"
        ));
        let results = parse(&text);
        let error = results
            .iter()
            .find_map(|result| result.as_ref().err())
            .unwrap_or_else(|| panic!("{files}: no error in {results:?}"));
        assert_eq!(error.line(), line, "{files}: {error}");
        assert!(error.message().contains(message), "{files}: {error}");
        assert!(
            results
                .last()
                .unwrap()
                .as_ref()
                .is_ok_and(|e| e.out.as_deref() == Some("after")),
            "{files}: the next file must survive: {results:?}"
        );
    }
}

#[test]
fn empty_files_and_piece_counts_at_the_edges() {
    let text = doc(&format!(
        "<file name=\"empty\"><size>0</size><pieces length=\"4\" type=\"md5\"></pieces><url>http://h/e</url></file>\
         <file name=\"exact\"><size>4</size><pieces length=\"4\" type=\"md5\"><hash>{MD5}</hash></pieces><url>http://h/x</url></file>\
         <file name=\"nosize\"><pieces length=\"4\" type=\"md5\"><hash>{MD5}</hash><hash>{MD5}</hash></pieces><url>http://h/n</url></file>"
    ));
    let entries = ok(&text);
    assert!(entries[0].pieces.as_ref().unwrap().is_empty());
    assert_eq!(entries[1].pieces.as_ref().unwrap().len(), 1);
    let nosize = entries[2].pieces.as_ref().unwrap();
    assert!(nosize.fits_size(5) && nosize.fits_size(8) && !nosize.fits_size(9));
}

#[test]
fn the_preferred_piece_type_is_kept() {
    let text = doc(&format!(
        "<file name=\"f\"><size>1</size>\
         <pieces length=\"1\" type=\"md5\"><hash>{MD5}</hash></pieces>\
         <pieces length=\"1\" type=\"sha-1\"><hash>{SHA1}</hash></pieces>\
         <url>http://h/</url></file>"
    ));
    assert_eq!(
        ok(&text)[0].pieces.as_ref().unwrap().algorithm(),
        Algorithm::Sha1
    );
}

#[test]
fn document_errors() {
    let billion_laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
]>
<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="&lol2;"><url>http://h/</url></file></metalink>"#;
    let external = r#"<?xml version="1.0"?>
<!DOCTYPE metalink SYSTEM "file:///etc/passwd">
<metalink xmlns="urn:ietf:params:xml:ns:metalink"/>"#;
    for (text, line, message) in [
        (
            billion_laughs.to_owned(),
            2,
            "DOCTYPE declarations are refused",
        ),
        (external.to_owned(), 2, "DOCTYPE declarations are refused"),
        (
            doc("<file name=\"f\"><url>http://h/&foo;</url></file>"),
            3,
            "unknown entity `&foo;`",
        ),
        (
            doc("<file name=\"&foo;\"><url>http://h/</url></file>"),
            3,
            "malformed attribute `name`",
        ),
        (
            doc("<file name=\"f\"><url>&#0;</url></file>"),
            3,
            "malformed character reference",
        ),
        (
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<metalink/>".to_owned(),
            1,
            "encoding `ISO-8859-1` is not supported",
        ),
        (
            "<metalink xmlns=\"http://www.metalinker.org/\" version=\"3.0\"><files/></metalink>"
                .to_owned(),
            1,
            "Metalink 3 document",
        ),
        (
            "<metalink><file name=\"f\"/></metalink>".to_owned(),
            1,
            "the root element is `<metalink>`",
        ),
        (
            "\n<rss version=\"2.0\"></rss>".to_owned(),
            2,
            "the root element is `<rss>`",
        ),
        (
            "<x:metalink xmlns:x=\"urn:other\"/>".to_owned(),
            1,
            "the root element is `<x:metalink>`",
        ),
        (doc(""), 4, "holds no <file>"),
        ("".to_owned(), 1, "no <metalink> element"),
        ("  \n\n".to_owned(), 3, "no <metalink> element"),
        (
            "http://example.com/a.iso\n".to_owned(),
            2,
            "no <metalink> element",
        ),
        (
            doc("<file name=\"f\"><url>http://h/</url></file>").replace("</metalink>\n", ""),
            3,
            "ends before its elements are closed",
        ),
        (
            doc("<file name=\"f\"><url>http://h/</url></file></x>"),
            3,
            "malformed XML",
        ),
        (
            doc("<file name=\"f\" name=\"g\"><url>http://h/</url></file>"),
            3,
            "malformed attribute",
        ),
        (
            doc("<file name=\"f\"><url>http://h/</url></file>")
                + "<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\"/>",
            4,
            "an element follows the root element",
        ),
        (
            doc("<file name=\"f\">\n<url>http://h/\n</file>"),
            5,
            "expected `</url>`, but `</file>` was found",
        ),
        (
            doc("<file name=\"f\"><url>http://h/</url></file>\n<a><b>"),
            4,
            "expected `</b>`, but `</metalink>` was found",
        ),
    ] {
        let error = fatal(&text);
        assert_eq!(error.line(), line, "{text}: {error}");
        assert!(error.message().contains(message), "{text}: {error}");
        assert_eq!(error.source(), "files.meta4");
    }
}

#[test]
fn not_utf8_is_refused_with_its_line() {
    let mut bytes = doc("<file name=\"f\">\n<url>http://h/</url></file>").into_bytes();
    let at = bytes.windows(8).position(|w| w == b"name=\"f\"").unwrap();
    bytes[at + 6] = 0xe9;
    let results = parse_metalink(&bytes[..], "latin1.meta4");
    let error = results[0].as_ref().unwrap_err();
    assert_eq!(
        error.to_string(),
        "latin1.meta4:3: the Metalink document is not valid UTF-8"
    );
}

#[test]
fn caps_depth_and_text() {
    let deep = doc(&format!(
        "<file name=\"f\"><url>http://h/</url>{}{}</file>",
        "<x>".repeat(40),
        "</x>".repeat(40)
    ));
    assert!(fatal(&deep).message().contains("nested more than 32 deep"));
    let fine = doc(&format!(
        "<file name=\"f\"><url>http://h/</url>{}{}</file>",
        "<x>".repeat(25),
        "</x>".repeat(25)
    ));
    assert_eq!(ok(&fine).len(), 1);
    let long = doc(&format!(
        "<file name=\"f\"><url>http://h/{}</url></file>",
        "a".repeat(70_000)
    ));
    assert!(fatal(&long)
        .message()
        .contains("the text of <url> is longer than 64 KiB"));
    // Long text outside a value element is not collected, so not capped.
    let description = doc(&format!(
        "<file name=\"f\"><description>{}</description><url>http://h/</url></file>",
        "a".repeat(70_000)
    ));
    assert_eq!(ok(&description).len(), 1);
}

#[test]
fn caps_document_size() {
    let huge = io::repeat(b' ').take(MAX_DOCUMENT_BYTES + 10);
    let results = parse_metalink(huge, "big.meta4");
    assert_eq!(results.len(), 1);
    let error = results[0].as_ref().unwrap_err();
    assert_eq!(
        error.to_string(),
        "big.meta4:1: the Metalink document is larger than 64 MiB"
    );
}

struct FailingReader;

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::other("disk on fire"))
    }
}

#[test]
fn read_errors_are_reported() {
    let results = parse_metalink(FailingReader, "x.meta4");
    let error = results[0].as_ref().unwrap_err();
    assert_eq!(
        error.to_string(),
        "x.meta4:1: cannot read the Metalink document: disk on fire"
    );
}

#[test]
fn detection() {
    for (name, head, expected) in [
        ("a.meta4", &b"http://x/"[..], true),
        ("A.METALINK", b"", true),
        ("dir.meta4/list.txt", b"http://x/", false),
        ("list.txt", b"<?xml version=\"1.0\"?>", true),
        ("<stdin>", b"\xef\xbb\xbf  \r\n\t<metalink", true),
        ("<stdin>", b"http://x/\n", false),
        ("<stdin>", b"'http://x/' f 1", false),
        ("<stdin>", b"# comment <metalink>", false),
        ("<stdin>", b"", false),
        ("<stdin>", b"   ", false),
    ] {
        assert_eq!(is_metalink(name, head), expected, "{name} {head:?}");
    }
}

/// Escapes text for an XML attribute or element.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[derive(Debug, Clone)]
struct FileSpec {
    name: String,
    size: Option<u64>,
    sha256: Option<Vec<u8>>,
    mirrors: Vec<(String, Option<u32>, Option<String>)>,
    pieces: Option<(u64, Algorithm)>,
}

fn file_strategy() -> impl Strategy<Value = FileSpec> {
    (
        "[a-z0-9][a-z0-9 &<>\"'._-]{0,10}(/[a-z0-9][a-z0-9._-]{0,6}){0,2}",
        proptest::option::of(0u64..5000),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 32)),
        proptest::collection::vec(
            (
                "https?://[a-z]{1,8}\\.example/[a-z0-9&<>._~%-]{0,12}",
                proptest::option::of(1u32..1000),
                proptest::option::of("[a-z]{2}"),
            ),
            1..5,
        ),
        proptest::option::of((
            1u64..700,
            prop_oneof![
                Just(Algorithm::Sha256),
                Just(Algorithm::Sha1),
                Just(Algorithm::Md5)
            ],
        )),
    )
        .prop_map(|(name, size, sha256, mirrors, pieces)| FileSpec {
            name,
            size,
            sha256,
            mirrors,
            pieces: if size.is_some() { pieces } else { None },
        })
}

fn write_file(spec: &FileSpec, out: &mut String) {
    out.push_str(&format!("  <file name=\"{}\">\n", escape(&spec.name)));
    if let Some(size) = spec.size {
        out.push_str(&format!("    <size>{size}</size>\n"));
    }
    if let Some(sha) = &spec.sha256 {
        out.push_str(&format!(
            "    <hash type=\"sha-256\">{}</hash>\n",
            hex::encode(sha)
        ));
    }
    if let (Some((length, algorithm)), Some(size)) = (spec.pieces, spec.size) {
        let kind = match algorithm {
            Algorithm::Sha256 => "sha-256",
            Algorithm::Sha1 => "sha-1",
            _ => "md5",
        };
        out.push_str(&format!(
            "    <pieces length=\"{length}\" type=\"{kind}\">\n"
        ));
        for index in 0..PieceHashes::expected_count(size, length).unwrap() {
            let byte = (index % 251) as u8;
            out.push_str(&format!(
                "      <hash>{}</hash>\n",
                hex::encode(vec![byte; algorithm.output_len()])
            ));
        }
        out.push_str("    </pieces>\n");
    }
    for (url, priority, location) in &spec.mirrors {
        out.push_str("    <url");
        if let Some(priority) = priority {
            out.push_str(&format!(" priority=\"{priority}\""));
        }
        if let Some(location) = location {
            out.push_str(&format!(" location=\"{location}\""));
        }
        out.push_str(&format!(">{}</url>\n", escape(url)));
    }
    out.push_str("  </file>\n");
}

proptest! {
    #[test]
    fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let results = parse_metalink(&bytes[..], "fuzz.meta4");
        prop_assert!(!results.is_empty());
    }

    #[test]
    fn never_panics_on_near_misses(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">".to_owned()),
                Just("</metalink>".to_owned()),
                Just("<file name=\"f\">".to_owned()),
                Just("<file name=\"../x\">".to_owned()),
                Just("</file>".to_owned()),
                Just("<url priority=\"1\" location=\"de\">http://h/</url>".to_owned()),
                Just("<url>".to_owned()),
                Just("</url>".to_owned()),
                Just("<size>3</size>".to_owned()),
                Just("<pieces length=\"2\" type=\"md5\">".to_owned()),
                Just("</pieces>".to_owned()),
                Just(format!("<hash type=\"md5\">{MD5}</hash>")),
                Just(format!("<hash>{MD5}</hash>")),
                Just("<![CDATA[x]]>".to_owned()),
                Just("&amp;".to_owned()),
                Just("&#x41;".to_owned()),
                Just("<!-- c -->".to_owned()),
                Just("<?pi x?>".to_owned()),
                Just("<x:y xmlns:x=\"urn:x\">".to_owned()),
                Just("</x:y>".to_owned()),
                "[<>&;/=\" a-z\n]{0,6}",
            ],
            0..24,
        )
    ) {
        let text = parts.concat();
        let results = parse(&text);
        prop_assert!(!results.is_empty());
        for entry in results.iter().flatten() {
            prop_assert!(!entry.urls.is_empty());
            prop_assert_eq!(entry.urls.len(), entry.mirrors.len());
            let out = entry.out.as_deref().unwrap();
            prop_assert!(!out.starts_with('/') && !out.split('/').any(|c| c == ".."));
        }
    }

    #[test]
    fn documents_round_trip(files in proptest::collection::vec(file_strategy(), 1..5)) {
        let mut text = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">\n");
        for file in &files {
            write_file(file, &mut text);
        }
        text.push_str("</metalink>\n");
        let results = parse(&text);
        prop_assert_eq!(results.len(), files.len());
        let mut seen = HashSet::new();
        for (spec, result) in files.iter().zip(&results) {
            let expected_name = safe_name(&spec.name).unwrap();
            if !seen.insert(expected_name.clone()) {
                prop_assert!(result.as_ref().unwrap_err().message().contains("same name"));
                continue;
            }
            let entry = result.as_ref().unwrap_or_else(|e| panic!("{e}\n{text}"));
            prop_assert_eq!(entry.out.as_deref(), Some(expected_name.as_str()));
            prop_assert_eq!(entry.size, spec.size);
            let digests: Vec<Digest> = spec.sha256.iter().map(|sha| Digest::new(Algorithm::Sha256, sha.clone()).unwrap()).collect();
            prop_assert_eq!(&entry.digests, &digests);
            // The mirrors, sorted as documented.
            let mut expected: Vec<&(String, Option<u32>, Option<String>)> = spec.mirrors.iter().collect();
            expected.sort_by_key(|(_, priority, _)| (priority.is_none(), *priority));
            let urls: Vec<&str> = expected.iter().map(|(url, _, _)| url.as_str()).collect();
            prop_assert_eq!(&entry.urls, &urls);
            for (mirror, (url, priority, location)) in entry.mirrors.iter().zip(expected) {
                prop_assert_eq!(&mirror.url, url);
                prop_assert_eq!(mirror.priority, *priority);
                prop_assert_eq!(&mirror.location, location);
            }
            match (spec.pieces, spec.size) {
                (Some((length, algorithm)), Some(size)) => {
                    let pieces = entry.pieces.as_ref().unwrap();
                    prop_assert_eq!(pieces.algorithm(), algorithm);
                    prop_assert_eq!(pieces.piece_length(), length);
                    prop_assert!(pieces.fits_size(size));
                    for (index, hash) in pieces.iter().enumerate() {
                        prop_assert!(hash.iter().all(|&b| b == (index % 251) as u8));
                    }
                }
                _ => prop_assert!(entry.pieces.is_none()),
            }
        }
    }
}
