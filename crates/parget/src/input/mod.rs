//! URL lists: aria2 input files, apt `--print-uris` output and plain URL
//! lists, read as a stream of [`Entry`] values; and Metalink 4 documents
//! (RFC 5854), parsed whole by [`parse_metalink`] (see the [`metalink`]
//! module; [`is_metalink`] tells the two kinds of input apart).
//!
//! The format is recognised per entry, so the three may be mixed in one
//! file:
//! - blank lines, and lines whose first non-blank character is `#`, are
//!   skipped (also between an entry's option lines);
//! - a line starting with `'` is an apt line (see "apt lines" below);
//! - any other line starting at column 1 is a URL line: one URL, or several
//!   mirrors of one file separated by TAB; surrounding whitespace is trimmed;
//! - a line starting with a space or tab is an aria2 option line
//!   (`key=value`) belonging to the entry above it.
//!
//! Note that a URL line cannot be indented: aria2 gives indentation a
//! meaning, so an indented URL is reported as a misplaced option line with a
//! message saying so.
//!
//! # Errors and recovery
//! A bad line makes its whole entry an error (reported at the bad line),
//! and reading resumes at the next line that starts at column 1, so one
//! mistake costs one entry. A line that is not UTF-8, or longer than 1 MiB,
//! is such a bad line. An I/O error from the reader ends the iteration
//! after one error; the entry being read when it happened is dropped, since
//! its options (a checksum, say) may be missing.
//!
//! # apt lines
//! `'URL' FILENAME SIZE [HASHSPEC]`: FILENAME becomes [`Entry::out`] as
//! given (percent escapes included), a SIZE of 0 means unknown, HASHSPEC
//! (`SHA256:HEX`, `MD5Sum:HEX`, `SHA1:HEX`, `SHA512:HEX`) is optional.
//!
//! # Memory
//! [`EntryReader`] holds one entry and one line of look-ahead, whatever the
//! length of the list, so a list of millions of lines on stdin streams.

mod apt;
mod aria2;
mod line;
pub mod metalink;
mod pieces;
#[cfg(test)]
mod tests;

pub use metalink::{is_metalink, parse_metalink};
pub use pieces::PieceHashes;

use std::fmt;
use std::io::BufRead;

use crate::verify::Digest;
use line::{LineSource, RawLine, MAX_LINE_BYTES};

/// One file to download, as a list describes it.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// One or more URLs of the same file (aria2 allows several
    /// TAB-separated mirrors on one line); raw strings, validated later by
    /// the engine.
    pub urls: Vec<String>,
    /// The output file name the list asks for (aria2 `out=`, apt FILENAME),
    /// as given: the naming module makes it safe.
    pub out: Option<String>,
    /// The output directory the list asks for (aria2 `dir=`).
    pub dir: Option<String>,
    /// The expected size in bytes (our aria2 extension `size=N`, apt SIZE
    /// when not 0).
    pub size: Option<u64>,
    /// Expected digests, at most one per algorithm (aria2 `checksum=`, apt
    /// HASHSPEC, Metalink `<hash>`).
    pub digests: Vec<Digest>,
    /// What the list says about each URL (Metalink's `priority` and
    /// `location`): one per URL of [`urls`](Self::urls), in the same
    /// order. Empty for formats that say nothing about their URLs.
    pub mirrors: Vec<Mirror>,
    /// Hashes of the file's pieces (Metalink `<pieces>`), to verify each
    /// piece as it is written.
    pub pieces: Option<PieceHashes>,
    /// Headers to send with the entry's requests (aria2 `header=`, which
    /// may repeat), each checked `(name, value)`.
    pub headers: Vec<(String, String)>,
    /// The user of Basic authentication (aria2 `http-user=`).
    pub http_user: Option<String>,
    /// The password of Basic authentication (aria2 `http-passwd=`).
    pub http_passwd: Option<String>,
    /// The 1-based line number where the entry starts.
    pub line: u64,
}

impl fmt::Debug for Entry {
    /// Header values and the password are often secrets: never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Entry")
            .field("urls", &self.urls)
            .field("out", &self.out)
            .field("dir", &self.dir)
            .field("size", &self.size)
            .field("digests", &self.digests)
            .field("mirrors", &self.mirrors)
            .field("pieces", &self.pieces)
            .field("headers", &headers)
            .field("http_user", &self.http_user)
            .field("http_passwd", &self.http_passwd.as_ref().map(|_| "***"))
            .field("line", &self.line)
            .finish()
    }
}

/// One URL of an entry and what the list says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    /// The URL, as in [`Entry::urls`].
    pub url: String,
    /// Metalink's `priority`: 1 is the most preferred; `None` when not
    /// given (such URLs come after those with a priority).
    pub priority: Option<u32>,
    /// Metalink's `location`: an ISO 3166-1 country code, lower-cased.
    pub location: Option<String>,
}

impl Entry {
    /// An entry with only URLs, starting at `line`.
    pub fn new(urls: Vec<String>, line: u64) -> Entry {
        Entry {
            urls,
            out: None,
            dir: None,
            size: None,
            digests: Vec::new(),
            mirrors: Vec::new(),
            pieces: None,
            headers: Vec::new(),
            http_user: None,
            http_passwd: None,
            line,
        }
    }

    /// Moves the mirrors in one of `locations` (country codes, compared
    /// case-insensitively) before the others, keeping the priority order
    /// within each group, and reorders [`urls`](Self::urls) to match (what
    /// aria2's `--metalink-location` does). Does nothing for an entry
    /// without mirror details.
    pub fn prefer_locations<S: AsRef<str>>(&mut self, locations: &[S]) {
        if self.mirrors.is_empty() || locations.is_empty() {
            return;
        }
        let preferred = |mirror: &Mirror| {
            mirror.location.as_deref().is_some_and(|location| {
                locations
                    .iter()
                    .any(|wanted| wanted.as_ref().trim().eq_ignore_ascii_case(location))
            })
        };
        // Stable: the priority order survives within each group.
        self.mirrors.sort_by_key(|mirror| !preferred(mirror));
        self.urls = self
            .mirrors
            .iter()
            .map(|mirror| mirror.url.clone())
            .collect();
    }
}

/// A problem in an input file (a URL list, a Metalink document, a
/// `.netrc` or a cookie file), located by source and line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    source: String,
    line: u64,
    message: String,
}

impl InputError {
    /// An error at `line` (1-based) of `source` (a file path or `<stdin>`).
    pub fn new(source: impl Into<String>, line: u64, message: impl Into<String>) -> InputError {
        InputError {
            source: source.into(),
            line,
            message: message.into(),
        }
    }

    /// The list's name: its file path, or `<stdin>`. (An inherent method,
    /// so it takes precedence over `std::error::Error::source`, which is
    /// always `None` here.)
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The 1-based line number of the problem.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// What is wrong, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for InputError {
    /// `FILE:LINE: message`, the form editors and terminals link to.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.source, self.line, self.message)
    }
}

impl std::error::Error for InputError {}

/// A line, classified by what it can be.
#[derive(Debug)]
enum LineKind {
    /// Blank or a comment.
    Skip,
    /// Starts at column 1: the start of an entry.
    Head(String),
    /// Indented: an option of the entry above.
    Option(String),
    /// Unreadable (not UTF-8, too long); `indented` says where it belongs.
    Bad { indented: bool, message: String },
}

#[derive(Debug)]
struct Line {
    number: u64,
    kind: LineKind,
}

/// Reads [`Entry`] values one at a time from a list.
pub struct EntryReader<R> {
    lines: LineSource<R>,
    source_name: String,
    /// The number of the last line read from `lines`.
    line_number: u64,
    /// A line read past the end of an entry, starting the next one.
    lookahead: Option<Line>,
    /// Set at end of input or after an I/O error.
    finished: bool,
}

impl<R: BufRead> EntryReader<R> {
    /// Reads entries from `reader`; `source_name` (a file path or
    /// `<stdin>`) names the list in errors.
    pub fn new(reader: R, source_name: impl Into<String>) -> Self {
        EntryReader {
            lines: LineSource::new(reader, MAX_LINE_BYTES),
            source_name: source_name.into(),
            line_number: 0,
            lookahead: None,
            finished: false,
        }
    }

    /// Changes the line length cap, so tests can exercise it cheaply.
    #[cfg(test)]
    fn with_max_line_len(mut self, max_len: usize) -> Self {
        self.lines.set_max_len(max_len);
        self
    }

    fn error(&self, line: u64, message: impl Into<String>) -> InputError {
        InputError::new(self.source_name.clone(), line, message)
    }

    /// The next line, from the look-ahead or the reader.
    fn next_line(&mut self) -> Result<Option<Line>, InputError> {
        if let Some(line) = self.lookahead.take() {
            return Ok(Some(line));
        }
        let raw = match self.lines.next_line() {
            Ok(raw) => raw,
            Err(error) => {
                let at = self.line_number.saturating_add(1);
                return Err(self.error(at, format!("cannot read the list: {error}")));
            }
        };
        let Some(raw) = raw else {
            return Ok(None);
        };
        self.line_number = self.line_number.saturating_add(1);
        Ok(Some(Line {
            number: self.line_number,
            kind: classify(raw, self.line_number),
        }))
    }

    /// Reads one entry and its option lines; `None` at end of input.
    fn read_entry(&mut self) -> Option<Result<Entry, InputError>> {
        let (number, parsed) = loop {
            let line = match self.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => return None,
                Err(error) => {
                    self.finished = true;
                    return Some(Err(error));
                }
            };
            let parsed = match line.kind {
                LineKind::Skip => continue,
                LineKind::Head(text) => parse_head(&text, line.number),
                LineKind::Option(text) => Err(format!(
                    "option line {} has no URL line before it",
                    excerpt(text.trim())
                )),
                LineKind::Bad { message, .. } => Err(message),
            };
            break (line.number, parsed);
        };
        let mut outcome = parsed.map_err(|message| self.error(number, message));

        // The entry's option lines; after an error they are only skipped,
        // which resynchronises at the next line starting at column 1.
        loop {
            let line = match self.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(error) => {
                    self.finished = true;
                    return Some(Err(error));
                }
            };
            match line.kind {
                LineKind::Skip => {}
                LineKind::Option(text) => {
                    if let Ok(entry) = &mut outcome {
                        if let Err(message) = aria2::apply_option(entry, &text) {
                            outcome = Err(self.error(line.number, message));
                        }
                    }
                }
                LineKind::Bad {
                    indented: true,
                    message,
                } => {
                    if outcome.is_ok() {
                        outcome = Err(self.error(line.number, message));
                    }
                }
                LineKind::Head(_) | LineKind::Bad { .. } => {
                    self.lookahead = Some(line);
                    break;
                }
            }
        }
        Some(outcome)
    }
}

impl<R: BufRead> Iterator for EntryReader<R> {
    type Item = Result<Entry, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let item = self.read_entry();
        if item.is_none() {
            self.finished = true;
        }
        item
    }
}

impl<R: BufRead> std::iter::FusedIterator for EntryReader<R> {}

/// Parses a whole list held in memory; a convenience for tests and library
/// users (the CLI streams with [`EntryReader`]).
pub fn parse_str(text: &str, source_name: &str) -> Vec<Result<Entry, InputError>> {
    EntryReader::new(text.as_bytes(), source_name).collect()
}

/// Classifies a physical line.
fn classify(raw: RawLine, number: u64) -> LineKind {
    let bytes = match raw {
        RawLine::TooLong { indented } => {
            return LineKind::Bad {
                indented,
                message: format!("line is longer than {MAX_LINE_BYTES} bytes"),
            }
        }
        RawLine::Complete(bytes) => bytes,
    };
    let mut text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            return LineKind::Bad {
                indented: matches!(error.as_bytes().first(), Some(b' ' | b'\t')),
                message: "line is not valid UTF-8".to_owned(),
            }
        }
    };
    // A byte-order mark, as some Windows editors write, is not part of the
    // first URL.
    if number == 1 {
        if let Some(rest) = text.strip_prefix('\u{feff}') {
            text = rest.to_owned();
        }
    }
    let content = text.trim();
    if content.is_empty() || content.starts_with('#') {
        LineKind::Skip
    } else if text.starts_with([' ', '\t']) {
        LineKind::Option(text)
    } else {
        LineKind::Head(text)
    }
}

/// Parses the line that starts an entry: apt when it starts with a quote,
/// otherwise a (mirror) URL line.
fn parse_head(text: &str, number: u64) -> Result<Entry, String> {
    let text = text.trim();
    if text.starts_with('\'') {
        apt::parse_line(text, number)
    } else {
        aria2::parse_url_line(text, number)
    }
}

/// Adds an expected digest; the same value twice is harmless, two different
/// values for one algorithm cannot both be right.
fn add_digest(entry: &mut Entry, digest: Digest) -> Result<(), String> {
    match entry
        .digests
        .iter()
        .find(|known| known.algorithm() == digest.algorithm())
    {
        Some(known) if *known == digest => Ok(()),
        Some(_) => Err(format!(
            "two different {} checksums for one entry",
            digest.algorithm()
        )),
        None => {
            entry.digests.push(digest);
            Ok(())
        }
    }
}

/// A non-empty run of ASCII digits that fits a `u64` (no sign, no spaces).
fn parse_decimal(digits: &str) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.bytes().try_fold(0u64, |acc, b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Quotes a piece of input for an error message: escaped, so control
/// characters cannot garble a terminal, and cut short, so a megabyte line
/// does not become a megabyte message.
fn excerpt(text: &str) -> String {
    const MAX_CHARS: usize = 60;
    let mut chars = text.chars();
    let shown: String = chars.by_ref().take(MAX_CHARS).collect();
    // A URL's password is not repeated in a message.
    let shown = crate::redact::redact_url_text(&shown).into_owned();
    if chars.next().is_some() {
        format!("`{}…`", crate::redact::escape_control(&shown))
    } else {
        format!("`{}`", crate::redact::escape_control(&shown))
    }
}
