//! Physical lines from a `BufRead`, with a length cap.
//!
//! `BufRead::read_line` would buffer a line of any length: a hostile or
//! broken list (a binary file passed by mistake, a huge single line on
//! stdin) could exhaust memory. This reader keeps at most `max_len` bytes of
//! a line and skips the rest up to the next newline.

use std::io::{self, BufRead};

/// The default cap on a line's length, terminator excluded: far beyond any
/// real URL or option, small enough to hold without worry.
pub(super) const MAX_LINE_BYTES: usize = 1 << 20;

/// One physical line, its terminator (`\n` or `\r\n`) removed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RawLine {
    /// The line's bytes, not yet checked for UTF-8.
    Complete(Vec<u8>),
    /// The line was longer than the cap and was skipped.
    TooLong {
        /// Whether it started with a space or tab (an option line).
        indented: bool,
    },
}

/// Splits a `BufRead` into capped lines.
pub(super) struct LineSource<R> {
    reader: R,
    max_len: usize,
}

impl<R: BufRead> LineSource<R> {
    /// Lines of at most `max_len` bytes.
    pub(super) fn new(reader: R, max_len: usize) -> Self {
        LineSource { reader, max_len }
    }

    /// Changes the cap, so tests can exercise it cheaply.
    #[cfg(test)]
    pub(super) fn set_max_len(&mut self, max_len: usize) {
        self.max_len = max_len;
    }

    /// The next line, `None` at end of input.
    pub(super) fn next_line(&mut self) -> io::Result<Option<RawLine>> {
        let mut bytes = Vec::new();
        let mut first_byte = None;
        let mut too_long = false;
        let mut seen_any = false;
        // One more byte than the cap may be held: the `\r` of a CRLF line
        // whose content is exactly at the cap.
        let hold_limit = self.max_len.saturating_add(1);
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            if available.is_empty() {
                if !seen_any {
                    return Ok(None);
                }
                break;
            }
            seen_any = true;
            if first_byte.is_none() {
                first_byte = available.first().copied();
            }
            let newline = available.iter().position(|&b| b == b'\n');
            let content_len = newline.unwrap_or(available.len());
            if !too_long {
                if bytes.len().saturating_add(content_len) > hold_limit {
                    too_long = true;
                    bytes = Vec::new();
                } else {
                    bytes.extend_from_slice(available.get(..content_len).unwrap_or_default());
                }
            }
            let used = newline.map_or(available.len(), |at| at.saturating_add(1));
            self.reader.consume(used);
            if newline.is_some() {
                break;
            }
        }
        if !too_long && bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        if too_long || bytes.len() > self.max_len {
            let indented = matches!(first_byte, Some(b' ' | b'\t'));
            return Ok(Some(RawLine::TooLong { indented }));
        }
        Ok(Some(RawLine::Complete(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn lines_of(input: &[u8], capacity: usize, max_len: usize) -> Vec<RawLine> {
        let mut source = LineSource::new(BufReader::with_capacity(capacity, input), max_len);
        let mut lines = Vec::new();
        while let Some(line) = source.next_line().unwrap() {
            lines.push(line);
        }
        lines
    }

    fn complete(text: &str) -> RawLine {
        RawLine::Complete(text.as_bytes().to_vec())
    }

    #[test]
    fn splits_on_lf_and_crlf() {
        for capacity in [1, 2, 3, 8, 1024] {
            assert_eq!(
                lines_of(b"a\nbc\r\n\r\nd", capacity, 100),
                [complete("a"), complete("bc"), complete(""), complete("d")],
                "capacity {capacity}"
            );
        }
    }

    #[test]
    fn empty_input_has_no_lines() {
        assert_eq!(lines_of(b"", 8, 100), []);
        assert_eq!(lines_of(b"\n", 8, 100), [complete("")]);
    }

    #[test]
    fn lone_cr_inside_a_line_is_kept() {
        assert_eq!(lines_of(b"a\rb\n", 8, 100), [complete("a\rb")]);
    }

    #[test]
    fn caps_long_lines_and_goes_on() {
        for capacity in [1, 3, 4, 1024] {
            assert_eq!(
                lines_of(b"abcd\n abcde\nabcd\r\nx", capacity, 4),
                [
                    complete("abcd"),
                    RawLine::TooLong { indented: true },
                    complete("abcd"),
                    complete("x"),
                ],
                "capacity {capacity}"
            );
        }
        assert_eq!(
            lines_of(b"abcde", 2, 4),
            [RawLine::TooLong { indented: false }]
        );
        assert_eq!(lines_of(b"abcd\r", 2, 4), [complete("abcd")]);
    }

    #[test]
    fn real_cap_is_one_mebibyte() {
        let mut input = vec![b'a'; MAX_LINE_BYTES];
        input.extend_from_slice(b"\r\n");
        input.extend(std::iter::repeat_n(b'b', MAX_LINE_BYTES + 1));
        input.extend_from_slice(b"\nok\n");
        let lines = lines_of(&input, 8192, MAX_LINE_BYTES);
        assert_eq!(lines.len(), 3);
        assert!(matches!(&lines[0], RawLine::Complete(bytes) if bytes.len() == MAX_LINE_BYTES));
        assert_eq!(lines[1], RawLine::TooLong { indented: false });
        assert_eq!(lines[2], complete("ok"));
    }
}
