//! `.netrc` files, read as curl reads them.
//!
//! The file is a sequence of whitespace-separated tokens:
//! `machine NAME` starts the entry of a host, `default` the entry for every
//! other host; `login NAME`, `password SECRET` and `account VALUE` belong to
//! the entry above them; `macdef NAME` starts an ftp macro whose body runs
//! to the next empty line and is skipped. Keywords are case-insensitive, as
//! are host names. A token starting with `"` is quoted: it runs to the next
//! unescaped `"` on the same line, and `\n`, `\r`, `\t` stand for newline,
//! carriage return and TAB, `\` before any other character for that
//! character (`\"`, `\\`). A token starting with `#` comments out the rest
//! of its line (`pass#word` is a password, `#` alone a comment).
//!
//! As in curl, unknown words are skipped, so files written for other tools
//! still work. Refused, with the file and line: an unterminated quote, a
//! `machine`, `login`, `password` or `account` with no value before the end
//! of the file, and a line that is not UTF-8.
//!
//! One difference from curl: [`Netrc::lookup`] prefers a `machine` entry
//! to `default` wherever `default` appears (the format expects it last;
//! curl takes whichever comes first), and `macdef` ends the entry above it
//! wherever it appears.

use crate::input::InputError;

/// A parsed `.netrc` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Netrc {
    entries: Vec<NetrcEntry>,
}

/// One `machine` or `default` entry.
#[derive(Clone, PartialEq, Eq)]
pub struct NetrcEntry {
    /// The host name; `None` for the `default` entry.
    pub machine: Option<String>,
    /// The `login`, if given.
    pub login: Option<String>,
    /// The `password`, if given.
    pub password: Option<String>,
    /// The `account`, if given (an ftp notion, unused for HTTP).
    pub account: Option<String>,
    /// The 1-based line where the entry starts.
    pub line: u64,
}

impl std::fmt::Debug for NetrcEntry {
    /// Shows whether a password is set, never the password itself, so an
    /// entry can be logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetrcEntry")
            .field("machine", &self.machine)
            .field("login", &self.login)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("account", &self.account.as_ref().map(|_| "***"))
            .field("line", &self.line)
            .finish()
    }
}

/// What the next token is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Keyword,
    Machine,
    Login,
    Password,
    Account,
}

impl Expect {
    fn keyword(self) -> &'static str {
        match self {
            Expect::Keyword => "keyword",
            Expect::Machine => "machine",
            Expect::Login => "login",
            Expect::Password => "password",
            Expect::Account => "account",
        }
    }
}

impl Netrc {
    /// Parses a whole file; `source_name` (its path) names it in errors.
    pub fn parse(bytes: &[u8], source_name: &str) -> Result<Netrc, InputError> {
        let error = |line: u64, message: String| InputError::new(source_name, line, message);
        let mut entries = Vec::new();
        let mut current: Option<NetrcEntry> = None;
        let mut expect = Expect::Keyword;
        // The line of the keyword still waiting for its value.
        let mut expect_line = 0;
        let mut in_macro = false;
        let mut number = 0u64;
        for raw in bytes.split(|&b| b == b'\n') {
            number += 1;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if in_macro {
                // Like curl, only a truly empty line ends a macro.
                if raw.is_empty() {
                    in_macro = false;
                }
                continue;
            }
            let line = std::str::from_utf8(raw)
                .map_err(|_| error(number, "line is not valid UTF-8".to_owned()))?;
            let mut rest = line;
            loop {
                let token = match next_token(rest) {
                    Ok(Some((token, after))) => {
                        rest = after;
                        token
                    }
                    Ok(None) => break,
                    Err(message) => return Err(error(number, message)),
                };
                if expect != Expect::Keyword {
                    let waiting = std::mem::replace(&mut expect, Expect::Keyword);
                    if waiting == Expect::Machine {
                        current = Some(NetrcEntry::new(Some(token), number));
                    } else if let Some(entry) = current.as_mut() {
                        let field = match waiting {
                            Expect::Login => &mut entry.login,
                            Expect::Password => &mut entry.password,
                            _ => &mut entry.account,
                        };
                        *field = Some(token);
                    }
                    continue;
                }
                // As in curl, a quoted keyword is a keyword.
                let keyword = token.to_ascii_lowercase();
                match keyword.as_str() {
                    "machine" => {
                        entries.extend(current.take());
                        expect = Expect::Machine;
                    }
                    "default" => {
                        entries.extend(current.take());
                        current = Some(NetrcEntry::new(None, number));
                    }
                    "login" | "password" | "account" => {
                        expect = match keyword.as_str() {
                            "login" => Expect::Login,
                            "password" => Expect::Password,
                            _ => Expect::Account,
                        };
                    }
                    "macdef" => {
                        entries.extend(current.take());
                        in_macro = true;
                        // The macro's name and anything else on its line.
                        break;
                    }
                    _ => {}
                }
                if expect != Expect::Keyword {
                    expect_line = number;
                }
            }
        }
        if expect != Expect::Keyword {
            return Err(error(
                expect_line,
                format!(
                    "`{}` has no value before the end of the file",
                    expect.keyword()
                ),
            ));
        }
        entries.extend(current);
        Ok(Netrc { entries })
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> &[NetrcEntry] {
        &self.entries
    }

    /// The entry to use for `host`: the first `machine` entry of that host
    /// (case-insensitively), else the `default` entry. With `login` (a user
    /// name the URL or the command line gave), only an entry with that very
    /// login matches, as curl does: its password is for that user.
    pub fn lookup(&self, host: &str, login: Option<&str>) -> Option<&NetrcEntry> {
        let login_matches =
            |entry: &&NetrcEntry| login.is_none_or(|login| entry.login.as_deref() == Some(login));
        self.entries
            .iter()
            .filter(|entry| {
                entry
                    .machine
                    .as_deref()
                    .is_some_and(|machine| machine.eq_ignore_ascii_case(host))
            })
            .find(login_matches)
            .or_else(|| {
                self.entries
                    .iter()
                    .filter(|entry| entry.machine.is_none())
                    .find(login_matches)
            })
    }
}

impl NetrcEntry {
    fn new(machine: Option<String>, line: u64) -> NetrcEntry {
        NetrcEntry {
            machine,
            login: None,
            password: None,
            account: None,
            line,
        }
    }
}

/// The next token of a line and the text after it; `None` at the end of
/// the line or at a comment.
fn next_token(line: &str) -> Result<Option<(String, &str)>, String> {
    let line = line.trim_start_matches(is_space);
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let Some(quoted) = line.strip_prefix('"') else {
        let end = line.find(is_space).unwrap_or(line.len());
        let (text, rest) = line.split_at(end);
        return Ok(Some((text.to_owned(), rest)));
    };
    let mut text = String::new();
    let mut chars = quoted.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => {
                let rest = quoted.get(at + 1..).unwrap_or("");
                return Ok(Some((text, rest)));
            }
            '\\' => match chars.next() {
                Some((_, 'n')) => text.push('\n'),
                Some((_, 'r')) => text.push('\r'),
                Some((_, 't')) => text.push('\t'),
                Some((_, other)) => text.push(other),
                None => break,
            },
            c => text.push(c),
        }
    }
    Err("quoted token has no closing `\"` on its line".to_owned())
}

/// C's `isspace`, which curl uses to end a token.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Netrc {
        Netrc::parse(text.as_bytes(), ".netrc").unwrap_or_else(|e| panic!("{e}"))
    }

    /// `(login, password)` that `lookup` finds.
    fn creds(
        netrc: &Netrc,
        host: &str,
        login: Option<&str>,
    ) -> Option<(Option<String>, Option<String>)> {
        netrc
            .lookup(host, login)
            .map(|entry| (entry.login.clone(), entry.password.clone()))
    }

    fn pair(login: &str, password: &str) -> Option<(Option<String>, Option<String>)> {
        Some((Some(login.to_owned()), Some(password.to_owned())))
    }

    #[test]
    fn one_line_and_multi_line_entries() {
        let netrc = parse(
            "machine a.example login alice password apw\n\
             machine b.example\n  login bob\n  password bpw\n  account acct\n\
             default login anonymous password me@example\n",
        );
        assert_eq!(netrc.entries().len(), 3);
        assert_eq!(creds(&netrc, "a.example", None), pair("alice", "apw"));
        assert_eq!(creds(&netrc, "B.EXAMPLE", None), pair("bob", "bpw"));
        assert_eq!(netrc.entries()[1].account.as_deref(), Some("acct"));
        assert_eq!(netrc.entries()[1].line, 2);
        assert_eq!(
            creds(&netrc, "other", None),
            pair("anonymous", "me@example")
        );
        assert_eq!(netrc.entries()[2].machine, None);
    }

    #[test]
    fn lookup_rules() {
        let netrc = parse(
            "default login dflt password dpw\n\
             machine h login one password p1\n\
             machine h login two password p2\n\
             machine onlylogin login three\n",
        );
        // A machine entry beats a default before it.
        assert_eq!(creds(&netrc, "h", None), pair("one", "p1"));
        assert_eq!(creds(&netrc, "h", Some("two")), pair("two", "p2"));
        // No entry of h for that login: the default, if its login matches.
        assert_eq!(creds(&netrc, "h", Some("dflt")), pair("dflt", "dpw"));
        assert_eq!(creds(&netrc, "h", Some("nobody")), None);
        assert_eq!(
            creds(&netrc, "onlylogin", None),
            Some((Some("three".into()), None))
        );
        assert_eq!(creds(&netrc, "hh", None), pair("dflt", "dpw"));
        let no_default = parse("machine h login a password b");
        assert_eq!(creds(&no_default, "other", None), None);
        assert_eq!(parse("").lookup("h", None), None);
        let no_login = parse("machine h password secret");
        assert_eq!(
            creds(&no_login, "h", None),
            Some((None, Some("secret".into())))
        );
        assert_eq!(creds(&no_login, "h", Some("u")), None);
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let netrc = parse("MACHINE h LOGIN u PASSWORD p\nDEFAULT Login d Password q");
        assert_eq!(creds(&netrc, "h", None), pair("u", "p"));
        assert_eq!(creds(&netrc, "x", None), pair("d", "q"));
    }

    #[test]
    fn quoted_tokens_and_escapes() {
        let netrc = parse(
            "machine h login \"user name\" password \"a\\\"b\\\\c\\n\\r\\t\\x\"\n\
             machine e login \"\" password \"\"\n\
             machine k login \"machine\" password \"#notacomment\"\n",
        );
        assert_eq!(
            creds(&netrc, "h", None),
            pair("user name", "a\"b\\c\n\r\tx")
        );
        assert_eq!(creds(&netrc, "e", None), pair("", ""));
        assert_eq!(creds(&netrc, "k", None), pair("machine", "#notacomment"));
        // Quotes inside an unquoted token are literal.
        let netrc = parse("machine h login u password pa\"ss");
        assert_eq!(creds(&netrc, "h", None), pair("u", "pa\"ss"));
    }

    #[test]
    fn comments() {
        let netrc = parse(
            "# a comment\n\
             machine h # the host\n\
             login u # the user\n\
             password pass#word\n\
             #machine evil login x password y\n",
        );
        assert_eq!(netrc.entries().len(), 1);
        assert_eq!(creds(&netrc, "h", None), pair("u", "pass#word"));
    }

    #[test]
    fn macdef_bodies_are_skipped() {
        let netrc = parse(
            "machine h login u password p\n\
             macdef init\n\
             machine evil login x password y\n\
             \x20\n\
             still macro\n\
             \n\
             machine after login v password q\n",
        );
        assert_eq!(creds(&netrc, "h", None), pair("u", "p"));
        assert_eq!(creds(&netrc, "evil", None), None);
        assert_eq!(creds(&netrc, "after", None), pair("v", "q"));
        // A CRLF empty line ends a macro too; a macro at the end needs none.
        let netrc = parse("macdef m\r\nbody\r\n\r\nmachine h login u password p\r\n");
        assert_eq!(creds(&netrc, "h", None), pair("u", "p"));
        assert_eq!(parse("macdef m\nbody").entries().len(), 0);
    }

    #[test]
    fn unknown_words_are_skipped_like_curl() {
        let netrc = parse("port 21\nmachine h protocol https login u password p\nunknown");
        assert_eq!(creds(&netrc, "h", None), pair("u", "p"));
        assert_eq!(netrc.entries().len(), 1);
        // A quoted keyword is a keyword, as in curl.
        let netrc = parse("\"machine\" x \"LOGIN\" u");
        assert_eq!(creds(&netrc, "x", None), Some((Some("u".into()), None)));
        // Fields outside any entry belong to nothing.
        let netrc = parse("login orphan password lost\nmachine h login u");
        assert_eq!(creds(&netrc, "h", None), Some((Some("u".into()), None)));
    }

    #[test]
    fn all_whitespace_separates() {
        let netrc = parse("machine\th\u{b}login\u{c}u\r\npassword   p");
        assert_eq!(creds(&netrc, "h", None), pair("u", "p"));
    }

    #[test]
    fn malformed_files_name_the_file_and_line() {
        for (text, line, message) in [
            ("machine h\nlogin \"unterminated\n", 2, "no closing `\"`"),
            (
                "machine h password \"ends with backslash\\",
                1,
                "no closing `\"`",
            ),
            ("machine h\nlogin u\npassword", 3, "`password` has no value"),
            ("machine h login", 1, "`login` has no value"),
            ("machine h account\n\n# c\n", 1, "`account` has no value"),
            ("\n\nmachine", 3, "`machine` has no value"),
        ] {
            let error = Netrc::parse(text.as_bytes(), "/home/u/.netrc");
            let error = match error {
                Err(error) => error,
                Ok(netrc) => panic!("{text:?} parsed: {netrc:?}"),
            };
            assert_eq!(error.line(), line, "{text:?}: {error}");
            assert!(error.message().contains(message), "{text:?}: {error}");
            assert!(error
                .to_string()
                .starts_with(&format!("/home/u/.netrc:{line}: ")));
        }
        let error = Netrc::parse(b"machine h\nlogin \xff\n", "/home/u/.netrc").unwrap_err();
        assert_eq!(
            error.to_string(),
            "/home/u/.netrc:2: line is not valid UTF-8"
        );
        // A non-UTF-8 line inside a macro body is skipped, never read.
        assert!(Netrc::parse(b"macdef m\n\xff\n\nmachine h", "n").is_ok());
    }

    #[test]
    fn debug_hides_secrets() {
        let netrc = parse("machine h login u password hunter2 account acct1");
        let shown = format!("{netrc:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("acct1"), "{shown}");
        assert!(shown.contains("\"u\""), "{shown}");
    }

    /// Quotes a token the way the parser reads it back.
    fn quote(text: &str) -> String {
        let mut quoted = String::from("\"");
        for c in text.chars() {
            match c {
                '"' => quoted.push_str("\\\""),
                '\\' => quoted.push_str("\\\\"),
                '\n' => quoted.push_str("\\n"),
                '\r' => quoted.push_str("\\r"),
                '\t' => quoted.push_str("\\t"),
                c => quoted.push(c),
            }
        }
        quoted.push('"');
        quoted
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Netrc::parse(&bytes, "n");
        }

        #[test]
        fn never_panics_on_near_misses(text in "((machine|login|password|default|macdef|account|#|\"|\\\\|[a-z]{1,3}|[ \t\n])){0,30}") {
            if let Ok(netrc) = Netrc::parse(text.as_bytes(), "n") {
                let _ = netrc.lookup("a", None);
                let _ = netrc.lookup("a", Some("b"));
            }
        }

        #[test]
        fn quoted_entries_round_trip(
            entries in proptest::collection::vec(
                ("[a-z][a-z0-9.-]{0,10}", "\\PC{0,12}", "\\PC{0,12}|[\"\\\\\n\r\t #]{0,6}"),
                1..6,
            ),
        ) {
            let mut text = String::new();
            for (machine, login, password) in &entries {
                text.push_str(&format!("machine {machine}\n  login {}\n  password {}\n", quote(login), quote(password)));
            }
            let netrc = Netrc::parse(text.as_bytes(), "n").unwrap();
            prop_assert_eq!(netrc.entries().len(), entries.len());
            for ((machine, login, password), entry) in entries.iter().zip(netrc.entries()) {
                prop_assert_eq!(entry.machine.as_deref(), Some(machine.as_str()));
                prop_assert_eq!(entry.login.as_deref(), Some(login.as_str()));
                prop_assert_eq!(entry.password.as_deref(), Some(password.as_str()));
            }
            let (machine, login, password) = &entries[0];
            let found = netrc.lookup(&machine.to_uppercase(), None).unwrap();
            prop_assert_eq!(found.login.as_deref(), Some(login.as_str()));
            prop_assert_eq!(found.password.as_deref(), Some(password.as_str()));
        }
    }
}
