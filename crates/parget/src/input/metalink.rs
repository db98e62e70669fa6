//! Metalink 4 documents (RFC 5854): files with their size, digests, piece
//! hashes and mirrors, parsed into [`Entry`] values.
//!
//! ```xml
//! <?xml version="1.0" encoding="UTF-8"?>
//! <metalink xmlns="urn:ietf:params:xml:ns:metalink">
//!   <file name="debian/netinst.iso">
//!     <size>14471447</size>
//!     <hash type="sha-256">f0ad929c…</hash>
//!     <pieces length="262144" type="sha-256"><hash>…</hash>…</pieces>
//!     <url location="de" priority="1">https://de.example.org/netinst.iso</url>
//!     <url location="fr" priority="2">https://fr.example.org/netinst.iso</url>
//!   </file>
//! </metalink>
//! ```
//!
//! What is read, per `<file>`:
//! - `name`: a relative path (subdirectories allowed); an absolute path or
//!   one with a `..` component is an error naming the file, since a
//!   document must not write outside the output directory. The name is
//!   reduced by [`safe_relative_path`] (control characters replaced).
//! - `<size>`: the length in bytes.
//! - `<hash type>`: `sha-256`, `sha-512`, `sha-384`, `sha-224`, `sha-1`,
//!   `md5` (and parget's `blake3`); other types (`sha3-256`…) are ignored,
//!   as RFC 5854 allows,
//!   when the file has a hash or pieces of a known type. A file whose
//!   every hash is of an unknown type is an error: its document asks for
//!   a check parget cannot make, and the file would pass as verified.
//! - `<url priority location>`: the mirrors, lower `priority` first, those
//!   without a priority after those with one, document order otherwise;
//!   [`Entry::prefer_locations`] moves chosen countries first.
//! - `<pieces length type>` with one `<hash>` per piece: the count must be
//!   the size divided by the length, rounded up. With several `<pieces>`
//!   of supported types, one is kept: SHA-256, else SHA-512, BLAKE3,
//!   SHA-1, MD5.
//!
//! Everything else (`<metaurl>` torrents, `<published>`, `<signature>`,
//! elements of other namespaces) is skipped.
//!
//! # Safety limits
//! A document may come from anywhere, so: no DOCTYPE (entity definitions
//! are the "billion laughs" attack, and Metalink needs none), only XML's
//! predefined entities and character references, UTF-8 only, at most
//! [`MAX_DOCUMENT_BYTES`], elements nested at most 32 deep, text of one
//! element at most 64 KiB.
//!
//! # Errors
//! A problem with one `<file>` (an unsafe name, a bad hash, no URL, a
//! wrong piece count) makes that entry an error and the others go on, as
//! in line-based lists. A problem with the document itself (not XML, not
//! Metalink 4, too large) is a single error: nothing in it can be trusted.
//! Each error names the document and the line.

use std::collections::HashSet;
use std::io::Read;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::reader::NsReader;
use quick_xml::XmlVersion;

use super::aria2::digest_from_hex;
use super::{add_digest, excerpt, parse_decimal, Entry, InputError, Mirror, PieceHashes};
use crate::naming::safe_relative_path;
use crate::verify::{Algorithm, Digest};

/// The Metalink 4 XML namespace.
pub const NAMESPACE: &str = "urn:ietf:params:xml:ns:metalink";

/// The namespace of Metalink 3, which parget does not read.
const METALINK3_NAMESPACE: &str = "http://www.metalinker.org/";

/// The largest document read: room for the piece hashes of a file of
/// hundreds of GiB, small enough to hold in memory without worry.
pub const MAX_DOCUMENT_BYTES: u64 = 64 << 20;

/// Deeper nesting than this is no Metalink document.
const MAX_DEPTH: usize = 32;

/// The longest text of one element (a URL, a hash, a size).
const MAX_TEXT_BYTES: usize = 64 << 10;

/// Which `<pieces>` to keep when a file has several.
const PIECES_PREFERENCE: [Algorithm; 7] = [
    Algorithm::Sha256,
    Algorithm::Sha512,
    Algorithm::Sha384,
    Algorithm::Sha224,
    Algorithm::Blake3,
    Algorithm::Sha1,
    Algorithm::Md5,
];

/// Whether `name` (a file name or path) ends in `.meta4` or `.metalink`,
/// case-insensitively.
pub fn has_metalink_extension(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".meta4") || lower.ends_with(".metalink")
}

/// Whether the start of an input looks like XML: its first byte after an
/// optional byte-order mark and whitespace is `<`. No URL list line can
/// start so (a URL starts with its scheme, an apt line with `'`).
pub fn looks_like_metalink(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

/// Whether an input named `name` whose first bytes are `head` is a
/// Metalink document rather than a URL list: by its extension, or by its
/// content for inputs without one (stdin, a download). `head` needs only
/// the first few hundred bytes.
///
/// ```
/// use parget::input::is_metalink;
/// assert!(is_metalink("files.meta4", b""));
/// assert!(is_metalink("<stdin>", b"\n  <?xml version=\"1.0\"?>"));
/// assert!(!is_metalink("list.txt", b"https://example.com/a\n"));
/// ```
pub fn is_metalink(name: &str, head: &[u8]) -> bool {
    has_metalink_extension(name) || looks_like_metalink(head)
}

/// Reads a Metalink 4 document and returns its files as entries, in
/// document order; `source_name` (a file path or `<stdin>`) names the
/// document in errors. A problem with the whole document gives exactly one
/// error (see the module docs); at most [`MAX_DOCUMENT_BYTES`] are read.
pub fn parse_metalink<R: Read>(reader: R, source_name: &str) -> Vec<Result<Entry, InputError>> {
    let mut bytes = Vec::new();
    if let Err(error) = reader
        .take(MAX_DOCUMENT_BYTES.saturating_add(1))
        .read_to_end(&mut bytes)
    {
        return vec![Err(InputError::new(
            source_name,
            1,
            format!("cannot read the Metalink document: {error}"),
        ))];
    }
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_DOCUMENT_BYTES {
        return vec![Err(InputError::new(
            source_name,
            1,
            format!(
                "the Metalink document is larger than {} MiB",
                MAX_DOCUMENT_BYTES >> 20
            ),
        ))];
    }
    match parse_document(&bytes, source_name) {
        Ok(entries) => entries,
        Err(error) => vec![Err(error)],
    }
}

/// Byte offsets to 1-based line numbers, counting forward.
struct Lines<'a> {
    text: &'a [u8],
    offset: usize,
    line: u64,
}

impl Lines<'_> {
    fn at(&mut self, offset: u64) -> u64 {
        let offset = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        if offset < self.offset {
            self.offset = 0;
            self.line = 1;
        }
        let newlines = self
            .text
            .get(self.offset..offset)
            .unwrap_or_default()
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.line = self
            .line
            .saturating_add(u64::try_from(newlines).unwrap_or(u64::MAX));
        self.offset = offset;
        self.line
    }
}

/// Which namespace an element is in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ns {
    Metalink,
    Metalink3,
    Other,
}

fn namespace_of(resolved: &ResolveResult<'_>) -> Ns {
    match resolved {
        ResolveResult::Bound(Namespace(ns)) if *ns == NAMESPACE.as_bytes() => Ns::Metalink,
        ResolveResult::Bound(Namespace(ns)) if *ns == METALINK3_NAMESPACE.as_bytes() => {
            Ns::Metalink3
        }
        _ => Ns::Other,
    }
}

fn parse_document(
    bytes: &[u8],
    source: &str,
) -> Result<Vec<Result<Entry, InputError>>, InputError> {
    let mut lines = Lines {
        text: bytes,
        offset: 0,
        line: 1,
    };
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let line = lines.at(u64::try_from(error.valid_up_to()).unwrap_or(u64::MAX));
        InputError::new(source, line, "the Metalink document is not valid UTF-8")
    })?;
    // A byte-order mark is one character here; lines are unaffected.
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let body = text.get(bom..).unwrap_or("");
    let mut reader = NsReader::from_str(body);
    reader.config_mut().check_end_names = true;
    let mut parser = Parser {
        source,
        stack: Vec::new(),
        root_seen: false,
        root_closed: false,
        file: None,
        names: HashSet::new(),
        text: String::new(),
        entries: Vec::new(),
    };
    loop {
        let before = reader.buffer_position() + bom as u64;
        let result = reader
            .read_resolved_event()
            .map(|(resolved, event)| (namespace_of(&resolved), event));
        let (ns, event) = match result {
            Ok(item) => item,
            Err(error) => {
                let line = lines.at(reader.error_position() + bom as u64);
                return Err(InputError::new(
                    source,
                    line,
                    format!("malformed XML: {error}"),
                ));
            }
        };
        let line = lines.at(before);
        let fatal = |message: String| InputError::new(source, line, message);
        match event {
            Event::Start(start) => parser.start(ns, &start, line)?,
            Event::Empty(start) => {
                parser.start(ns, &start, line)?;
                parser.end(line)?;
            }
            Event::End(_) => parser.end(line)?,
            Event::Text(content) => {
                let content = content
                    .xml10_content()
                    .map_err(|e| fatal(format!("malformed text: {e}")))?;
                parser.text(&content, line)?;
            }
            Event::CData(content) => {
                let content = content
                    .decode()
                    .map_err(|e| fatal(format!("malformed CDATA: {e}")))?;
                parser.text(&content, line)?;
            }
            Event::GeneralRef(reference) => {
                if reference.is_char_ref() {
                    match reference.resolve_char_ref() {
                        Ok(Some(c)) => parser.text(c.encode_utf8(&mut [0; 4]), line)?,
                        Ok(None) | Err(_) => {
                            return Err(fatal("malformed character reference".to_owned()))
                        }
                    }
                } else {
                    let name = reference
                        .decode()
                        .map_err(|e| fatal(format!("malformed entity reference: {e}")))?;
                    match resolve_predefined_entity(&name) {
                        Some(value) => parser.text(value, line)?,
                        None => {
                            return Err(fatal(format!(
                                "unknown entity {} (only XML's predefined entities are allowed)",
                                excerpt(&format!("&{name};"))
                            )))
                        }
                    }
                }
            }
            Event::DocType(_) => {
                return Err(fatal(
                    "DOCTYPE declarations are refused: a Metalink document needs none, and entity definitions can expand without bound".to_owned(),
                ))
            }
            Event::Decl(decl) => match decl.encoding() {
                None => {}
                Some(Ok(encoding))
                    if encoding.eq_ignore_ascii_case(b"utf-8")
                        || encoding.eq_ignore_ascii_case(b"utf8")
                        || encoding.eq_ignore_ascii_case(b"us-ascii") => {}
                Some(Ok(encoding)) => {
                    return Err(fatal(format!(
                        "encoding {} is not supported: Metalink documents must be UTF-8",
                        excerpt(&String::from_utf8_lossy(&encoding))
                    )))
                }
                Some(Err(e)) => return Err(fatal(format!("malformed XML declaration: {e}"))),
            },
            Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    let end_line = lines.at(u64::MAX);
    if !parser.root_seen {
        return Err(InputError::new(
            source,
            end_line,
            "not a Metalink document: no <metalink> element",
        ));
    }
    if !parser.stack.is_empty() {
        return Err(InputError::new(
            source,
            end_line,
            "the Metalink document ends before its elements are closed",
        ));
    }
    if parser.entries.is_empty() {
        return Err(InputError::new(
            source,
            end_line,
            "the Metalink document holds no <file>",
        ));
    }
    Ok(parser.entries)
}

/// An open element, as far as Metalink is concerned.
enum Node {
    Root,
    File,
    Size,
    /// A file's `<hash>`; `None` for a type parget does not know.
    Hash(Option<Algorithm>),
    Url {
        priority: Option<u32>,
        location: Option<String>,
    },
    /// `<pieces>`; `false` when its type is unknown (its hashes are
    /// skipped).
    Pieces(bool),
    PieceHash,
    /// Anything else, with everything inside it.
    Ignored,
}

impl Node {
    /// Whether the element's text is its value.
    fn collects_text(&self) -> bool {
        matches!(
            self,
            Node::Size | Node::Hash(_) | Node::Url { .. } | Node::PieceHash
        )
    }

    fn tag(&self) -> &'static str {
        match self {
            Node::Size => "<size>",
            Node::Hash(_) | Node::PieceHash => "<hash>",
            Node::Url { .. } => "<url>",
            _ => "element",
        }
    }
}

/// A `<pieces>` being read.
struct Pieces {
    algorithm: Algorithm,
    length: u64,
    hashes: Vec<Digest>,
    line: u64,
}

/// A `<file>` being read.
struct FileState {
    /// The raw `name`, for messages.
    shown_name: Option<String>,
    /// The name made safe.
    name: Option<String>,
    line: u64,
    size: Option<u64>,
    entry: Entry,
    pieces: Vec<Pieces>,
    current_pieces: Option<Pieces>,
    /// The hash types given that parget does not know (the first few).
    unknown_types: Vec<String>,
    /// The first problem found; the file becomes this error.
    error: Option<InputError>,
}

struct Parser<'a> {
    source: &'a str,
    stack: Vec<Node>,
    root_seen: bool,
    root_closed: bool,
    file: Option<FileState>,
    /// Names of the files so far, to refuse a second file of one name.
    names: HashSet<String>,
    /// The text of the innermost element that collects text.
    text: String,
    entries: Vec<Result<Entry, InputError>>,
}

impl Parser<'_> {
    fn fatal(&self, line: u64, message: impl Into<String>) -> InputError {
        InputError::new(self.source, line, message)
    }

    /// Records a problem of the current file (the first one wins).
    fn fail(&mut self, line: u64, message: impl Into<String>) {
        let source = self.source;
        if let Some(file) = self.file.as_mut() {
            if file.error.is_none() {
                let message = match &file.shown_name {
                    Some(name) => format!("<file> {}: {}", excerpt(name), message.into()),
                    None => format!("<file>: {}", message.into()),
                };
                file.error = Some(InputError::new(source, line, message));
            }
        }
    }

    fn start(&mut self, ns: Ns, start: &BytesStart<'_>, line: u64) -> Result<(), InputError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.fatal(
                line,
                format!("elements are nested more than {MAX_DEPTH} deep"),
            ));
        }
        let local = start.local_name();
        let name = local.as_ref();
        let metalink = ns == Ns::Metalink;
        let node = match self.stack.last() {
            None => {
                if self.root_closed {
                    return Err(self.fatal(line, "an element follows the root element"));
                }
                if metalink && name == b"metalink" {
                    self.root_seen = true;
                    Node::Root
                } else if ns == Ns::Metalink3 {
                    return Err(self.fatal(
                        line,
                        "this is a Metalink 3 document; only Metalink 4 (RFC 5854, namespace urn:ietf:params:xml:ns:metalink) is supported",
                    ));
                } else {
                    return Err(self.fatal(
                        line,
                        format!(
                            "not a Metalink 4 document: the root element is {}, expected <metalink xmlns=\"{NAMESPACE}\">",
                            excerpt(&format!("<{}>", String::from_utf8_lossy(start.name().as_ref())))
                        ),
                    ));
                }
            }
            Some(Node::Root) if metalink && name == b"file" => {
                let attributes = self.attributes(start, line)?;
                self.begin_file(attribute(&attributes, "name"), line);
                Node::File
            }
            Some(Node::File) if metalink => match name {
                b"size" => Node::Size,
                b"hash" => {
                    let attributes = self.attributes(start, line)?;
                    match attribute(&attributes, "type") {
                        Some(kind) => {
                            let algorithm = Algorithm::from_name(kind.trim());
                            if algorithm.is_none() {
                                self.note_unknown_type(kind);
                            }
                            Node::Hash(algorithm)
                        }
                        None => {
                            self.fail(line, "<hash> has no type");
                            Node::Hash(None)
                        }
                    }
                }
                b"url" => {
                    let attributes = self.attributes(start, line)?;
                    let priority = match attribute(&attributes, "priority") {
                        None => None,
                        Some(text) => {
                            match parse_decimal(text.trim()).and_then(|p| u32::try_from(p).ok()) {
                                Some(priority) => Some(priority),
                                None => {
                                    self.fail(
                                        line,
                                        format!("<url> priority {} is not a number", excerpt(text)),
                                    );
                                    None
                                }
                            }
                        }
                    };
                    let location = attribute(&attributes, "location")
                        .map(|text| text.trim().to_ascii_lowercase())
                        .filter(|text| !text.is_empty());
                    Node::Url { priority, location }
                }
                b"pieces" => {
                    let attributes = self.attributes(start, line)?;
                    self.begin_pieces(&attributes, line)
                }
                _ => Node::Ignored,
            },
            Some(Node::Pieces(true)) if metalink && name == b"hash" => Node::PieceHash,
            Some(_) => Node::Ignored,
        };
        if node.collects_text() {
            self.text.clear();
        }
        self.stack.push(node);
        Ok(())
    }

    /// The unprefixed attributes of an element, their values unescaped.
    fn attributes(
        &self,
        start: &BytesStart<'_>,
        line: u64,
    ) -> Result<Vec<(String, String)>, InputError> {
        let mut attributes = Vec::new();
        for attribute in start.attributes() {
            let attribute =
                attribute.map_err(|e| self.fatal(line, format!("malformed attribute: {e}")))?;
            if attribute.key.prefix().is_some() {
                continue;
            }
            let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
            let value = attribute
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| {
                    self.fatal(line, format!("malformed attribute {}: {e}", excerpt(&key)))
                })?
                .into_owned();
            attributes.push((key, value));
        }
        Ok(attributes)
    }

    fn begin_file(&mut self, name: Option<&str>, line: u64) {
        self.file = Some(FileState {
            shown_name: name.map(str::to_owned),
            name: None,
            line,
            size: None,
            entry: Entry::new(Vec::new(), line),
            pieces: Vec::new(),
            current_pieces: None,
            unknown_types: Vec::new(),
            error: None,
        });
        match name.map(safe_name) {
            None => self.fail(line, "no name attribute"),
            Some(Err(message)) => self.fail(line, message),
            Some(Ok(safe)) => {
                if let Some(file) = self.file.as_mut() {
                    file.name = Some(safe);
                }
            }
        }
    }

    /// Remembers a hash type parget does not know, for the error of a
    /// file that has no other.
    fn note_unknown_type(&mut self, kind: &str) {
        if let Some(file) = self.file.as_mut() {
            let kind = excerpt(kind.trim());
            if file.unknown_types.len() < 4 && !file.unknown_types.contains(&kind) {
                file.unknown_types.push(kind);
            }
        }
    }

    fn begin_pieces(&mut self, attributes: &[(String, String)], line: u64) -> Node {
        let length = match attribute(attributes, "length") {
            None => {
                self.fail(line, "<pieces> has no length");
                return Node::Pieces(false);
            }
            Some(text) => match parse_decimal(text.trim()).filter(|&n| n > 0) {
                Some(length) => length,
                None => {
                    self.fail(
                        line,
                        format!("<pieces> length {} is not a positive number", excerpt(text)),
                    );
                    return Node::Pieces(false);
                }
            },
        };
        let Some(kind) = attribute(attributes, "type") else {
            self.fail(line, "<pieces> has no type");
            return Node::Pieces(false);
        };
        let Some(algorithm) = Algorithm::from_name(kind.trim()) else {
            self.note_unknown_type(kind);
            return Node::Pieces(false);
        };
        if let Some(file) = self.file.as_mut() {
            file.current_pieces = Some(Pieces {
                algorithm,
                length,
                hashes: Vec::new(),
                line,
            });
        }
        Node::Pieces(true)
    }

    fn text(&mut self, content: &str, line: u64) -> Result<(), InputError> {
        let Some(node) = self.stack.last() else {
            return Ok(());
        };
        if !node.collects_text() {
            return Ok(());
        }
        if self.text.len().saturating_add(content.len()) > MAX_TEXT_BYTES {
            let tag = node.tag();
            return Err(self.fatal(
                line,
                format!(
                    "the text of {tag} is longer than {} KiB",
                    MAX_TEXT_BYTES >> 10
                ),
            ));
        }
        self.text.push_str(content);
        Ok(())
    }

    fn end(&mut self, line: u64) -> Result<(), InputError> {
        let Some(node) = self.stack.pop() else {
            return Err(self.fatal(line, "a closing tag without an opening one"));
        };
        let text = std::mem::take(&mut self.text);
        let value = text.trim();
        match node {
            Node::Root => self.root_closed = true,
            Node::File => self.finish_file(),
            Node::Size => match parse_decimal(value) {
                Some(size) => {
                    if let Some(file) = self.file.as_mut() {
                        if file.size.replace(size).is_some_and(|old| old != size) {
                            self.fail(line, "two different <size> values");
                        }
                    }
                }
                None => self.fail(
                    line,
                    format!("<size> {} is not a number of bytes", excerpt(value)),
                ),
            },
            Node::Hash(Some(algorithm)) => {
                let result = digest_from_hex(algorithm, algorithm.name(), value).and_then(
                    |digest| match self.file.as_mut() {
                        Some(file) => add_digest(&mut file.entry, digest),
                        None => Ok(()),
                    },
                );
                if let Err(message) = result {
                    self.fail(line, message);
                }
            }
            Node::Url { priority, location } => {
                if value.is_empty() {
                    self.fail(line, "empty <url>");
                } else if value.contains(char::is_whitespace) {
                    self.fail(line, format!("whitespace inside URL {}", excerpt(value)));
                } else if value
                    .get(..5)
                    .is_some_and(|s| s.eq_ignore_ascii_case("file:"))
                {
                    // A document may come from anywhere (a server, a
                    // mirror list): it names remote mirrors, never local
                    // files to be copied into the output directory.
                    self.fail(
                        line,
                        format!(
                            "the file: URL {} is refused: a Metalink document names no local files",
                            excerpt(value)
                        ),
                    );
                } else if let Some(file) = self.file.as_mut() {
                    file.entry.mirrors.push(Mirror {
                        url: value.to_owned(),
                        priority,
                        location,
                    });
                }
            }
            Node::Pieces(true) => self.finish_pieces(line),
            Node::PieceHash => {
                let algorithm = self
                    .file
                    .as_ref()
                    .and_then(|file| file.current_pieces.as_ref())
                    .map(|pieces| pieces.algorithm);
                if let Some(algorithm) = algorithm {
                    match digest_from_hex(algorithm, algorithm.name(), value) {
                        Ok(digest) => {
                            if let Some(pieces) =
                                self.file.as_mut().and_then(|f| f.current_pieces.as_mut())
                            {
                                pieces.hashes.push(digest);
                            }
                        }
                        Err(message) => self.fail(line, format!("piece {message}")),
                    }
                }
            }
            Node::Hash(None) | Node::Pieces(false) | Node::Ignored => {}
        }
        Ok(())
    }

    fn finish_pieces(&mut self, line: u64) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let Some(pieces) = file.current_pieces.take() else {
            return;
        };
        if file
            .pieces
            .iter()
            .any(|known| known.algorithm == pieces.algorithm)
        {
            self.fail(line, format!("two <pieces> of type {}", pieces.algorithm));
        } else {
            file.pieces.push(pieces);
        }
    }

    fn finish_file(&mut self) {
        let Some(mut file) = self.file.take() else {
            return;
        };
        let shown = file.shown_name.clone().unwrap_or_default();
        let fail = |line: u64, message: String| {
            Err(InputError::new(
                self.source,
                line,
                format!("<file> {}: {message}", excerpt(&shown)),
            ))
        };
        let result = if let Some(error) = file.error.take() {
            Err(error)
        } else if file.entry.mirrors.is_empty() {
            fail(file.line, "no <url>".to_owned())
        } else if let Some(wrong) = file.size.and_then(|size| {
            file.pieces
                .iter()
                .find(|pieces| {
                    PieceHashes::expected_count(size, pieces.length)
                        != u64::try_from(pieces.hashes.len()).ok()
                })
                .map(|pieces| (size, pieces))
        }) {
            let (size, pieces) = wrong;
            fail(
                pieces.line,
                format!(
                    "{} piece hashes for {size} bytes in pieces of {} bytes (expected {})",
                    pieces.hashes.len(),
                    pieces.length,
                    PieceHashes::expected_count(size, pieces.length).unwrap_or(0)
                ),
            )
        } else if file.entry.digests.is_empty()
            && file.pieces.is_empty()
            && !file.unknown_types.is_empty()
        {
            // The document asks for a check parget cannot make: saving the
            // file unchecked would pass it off as verified (as an aria2
            // `checksum=` of an unknown type fails its entry).
            fail(
                file.line,
                format!(
                    "every hash is of a type parget does not know ({}), so it cannot be verified; parget checks {}",
                    file.unknown_types.join(", "),
                    Algorithm::SUPPORTED
                ),
            )
        } else if file.size.is_none() && file.pieces.iter().any(|pieces| pieces.hashes.is_empty()) {
            fail(
                file.line,
                "<pieces> without <hash> and no <size>".to_owned(),
            )
        } else {
            let name = file.name.take().unwrap_or_default();
            if self.names.insert(name.clone()) {
                let mut entry = file.entry;
                // Stable: document order within one priority.
                entry
                    .mirrors
                    .sort_by_key(|mirror| (mirror.priority.is_none(), mirror.priority));
                entry.urls = entry
                    .mirrors
                    .iter()
                    .map(|mirror| mirror.url.clone())
                    .collect();
                entry.out = Some(name);
                entry.size = file.size;
                entry.pieces = PIECES_PREFERENCE.iter().find_map(|&algorithm| {
                    let pieces = file.pieces.iter().find(|p| p.algorithm == algorithm)?;
                    PieceHashes::new(algorithm, pieces.length, &pieces.hashes)
                });
                Ok(entry)
            } else {
                fail(file.line, "a second <file> of the same name".to_owned())
            }
        };
        self.entries.push(result);
    }
}

/// The value of the attribute `key`.
fn attribute<'a>(attributes: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, value)| value.as_str())
}

/// A `<file name>` made safe, or why it is refused: RFC 5854 section
/// 4.1.2.1 forbids absolute paths and `..`; [`safe_relative_path`] does
/// the rest.
fn safe_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    let refuse = |why: &str| Err(format!("unsafe file name {}: {why}", excerpt(raw)));
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name.starts_with(['/', '\\']) || has_drive_prefix(name) {
        return refuse("it is an absolute path; names must be relative");
    }
    if name
        .split(['/', '\\'])
        .any(|component| component.trim() == "..")
    {
        return refuse("it contains `..`");
    }
    let Some(path) = safe_relative_path(name) else {
        return refuse("nothing usable is left of it");
    };
    let parts: Vec<String> = path
        .components()
        .map(|component| component.as_os_str().to_string_lossy().into_owned())
        .collect();
    Ok(parts.join("/"))
}

/// `C:` and the like, which name another drive on Windows.
fn has_drive_prefix(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

#[cfg(test)]
mod tests;
