//! Turns the command line's URLs and lists into download requests, on a
//! thread of its own, so downloads start while a long list is still being
//! read and the list never sits in memory.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use parget::input::{Entry, EntryReader};
use parget::{naming, Request};
use tokio::sync::mpsc;

use crate::args::Args;
use crate::batched::BatchedSender;
use crate::shard::Shard;

/// An entry that could not become a request: reported as a failure, and
/// the other entries go on.
#[derive(Debug)]
pub struct Invalid {
    /// The URL, when one was read.
    pub url: Option<String>,
    /// What is wrong, naming the file and line.
    pub message: String,
}

/// Requests in list order, and the entries that failed before becoming one.
pub struct Feed {
    /// Requests, pulled by the engine as slots free up.
    pub requests: mpsc::Receiver<Request>,
    /// Entries that are not valid.
    pub invalid: mpsc::Receiver<Invalid>,
}

/// Requests read ahead of the engine; the input thread wakes up to refill
/// half of them at a time ([`BatchedSender`]).
const REQUESTS_AHEAD: usize = 64;

/// Starts reading the URLs and lists of `args`.
pub fn spawn(args: &Args) -> Feed {
    let (request_tx, requests) = mpsc::channel(REQUESTS_AHEAD);
    let (invalid_tx, invalid) = mpsc::channel(64);
    let feeder = Feeder {
        urls: args.urls.clone(),
        input_files: args.input_files.clone(),
        metalinks: args.metalinks.clone(),
        locations: args.metalink_locations.clone(),
        dir: args.dir.clone(),
        // Checked by `Args::validate`.
        out: args.out.as_deref().and_then(|out| args.out_path(out).ok()),
        mirrors: args.mirrors,
        checksums: args.checksums.clone(),
        shard: args.shard,
        credentials: args
            .credentials()
            .map(|(user, password)| (user.to_owned(), password.map(str::to_owned))),
        request_tx: BatchedSender::new(request_tx, REQUESTS_AHEAD / 2),
        invalid_tx,
    };
    std::thread::Builder::new()
        .name("parget-input".into())
        .spawn(move || feeder.run())
        .expect("the input thread could not start");
    Feed { requests, invalid }
}

struct Feeder {
    urls: Vec<String>,
    input_files: Vec<String>,
    metalinks: Vec<String>,
    locations: Vec<String>,
    dir: PathBuf,
    out: Option<PathBuf>,
    mirrors: bool,
    checksums: Vec<parget::Digest>,
    shard: Option<Shard>,
    /// The command line's Basic credentials: an entry's `http-user=` or
    /// `http-passwd=` alone takes the other half from them.
    credentials: Option<(String, Option<String>)>,
    request_tx: BatchedSender<Request>,
    invalid_tx: mpsc::Sender<Invalid>,
}

impl Feeder {
    fn run(self) {
        if self.mirrors {
            let result = self.request_for_mirrors().map_err(|message| Invalid {
                url: self.urls.first().cloned(),
                message: format!("arguments: {message}"),
            });
            if !self.send(result) {
                return;
            }
        }
        let single_urls = if self.mirrors {
            &[][..]
        } else {
            &self.urls[..]
        };
        for (index, url) in single_urls.iter().enumerate() {
            let result = self.request_for_argument(url).map_err(|message| Invalid {
                url: Some(url.clone()),
                message: format!("argument {}: {message}", index + 1),
            });
            if !self.send(result) {
                return;
            }
        }
        for name in &self.input_files {
            if !self.read_list(name, false) {
                return;
            }
        }
        for name in &self.metalinks {
            if !self.read_list(name, true) {
                return;
            }
        }
    }

    /// One request for every URL on the command line: mirrors of one file.
    fn request_for_mirrors(&self) -> Result<Request, String> {
        let (first, others) = self.urls.split_first().ok_or("no URL given")?;
        let mut request = self.request_for_argument(first)?;
        for mirror in others {
            request = request.with_mirror(mirror).map_err(|e| format!("{e:#}"))?;
        }
        Ok(request)
    }

    fn request_for_argument(&self, url: &str) -> Result<Request, String> {
        let request = match &self.out {
            Some(out) => Request::new(url, self.dir.join(out)),
            None => Request::new_in_dir(url, &self.dir),
        };
        let mut request = request
            .map_err(|e| format!("{e:#}"))?
            .confined_to(&self.dir);
        for digest in &self.checksums {
            request = request.with_digest(digest.clone());
        }
        Ok(request)
    }

    /// Reads one list (a Metalink document when `metalink`, or when it
    /// looks like one); false when the engine stopped listening.
    fn read_list(&self, name: &str, metalink: bool) -> bool {
        let mut reader: Box<dyn BufRead> = if name == "-" {
            Box::new(BufReader::new(std::io::stdin()))
        } else {
            match File::open(name) {
                // A directory opens, and fails on the first read: say so
                // by name, not as an error at its line 1.
                Ok(file) if file.metadata().is_ok_and(|m| m.is_dir()) => {
                    return self.send(Err(Invalid {
                        url: None,
                        message: format!("{name}: cannot read the list: it is a directory"),
                    }))
                }
                Ok(file) => Box::new(BufReader::with_capacity(64 * 1024, file)),
                Err(e) => {
                    return self.send(Err(Invalid {
                        url: None,
                        message: format!("{name}: cannot read the list: {e}"),
                    }))
                }
            }
        };
        let source = if name == "-" { "<stdin>" } else { name };
        let head = reader.fill_buf().map(<[u8]>::to_vec).unwrap_or_default();
        let entries: Box<dyn Iterator<Item = Result<Entry, parget::input::InputError>>> =
            if metalink || parget::input::is_metalink(name, &head) {
                Box::new(parget::input::parse_metalink(reader, source).into_iter())
            } else {
                Box::new(EntryReader::new(reader, source))
            };
        for entry in entries {
            let result = match entry {
                Ok(mut entry) => {
                    entry.prefer_locations(&self.locations);
                    let place = ListPlace(format!("{source}:{}", entry.line));
                    request_for_entry(&entry, &self.dir, self.credentials.as_ref())
                        .map(|request| request.with_tag(parget::Tag::new(place)))
                }
                .map_err(|message| Invalid {
                    url: entry.urls.first().cloned(),
                    message: format!("{source}:{}: {message}", entry.line),
                }),
                Err(e) => Err(Invalid {
                    url: None,
                    message: e.to_string(),
                }),
            };
            if !self.send(result) {
                return false;
            }
        }
        true
    }

    fn send(&self, item: Result<Request, Invalid>) -> bool {
        // Another shard's entry is not this run's business: not run, not
        // counted, not reported.
        if let Some(shard) = &self.shard {
            let ours = match &item {
                Ok(request) => request
                    .path()
                    .is_none_or(|path| shard.owns(path, &self.dir)),
                Err(_) => shard.owns_invalid(),
            };
            if !ours {
                return true;
            }
        }
        match item {
            Ok(request) => self.request_tx.send(request).is_ok(),
            Err(invalid) => self.invalid_tx.blocking_send(invalid).is_ok(),
        }
    }
}

/// Where a request's entry is in its list (`list.txt:3`), kept on the
/// request as its tag so that a failure found by the engine (a destination
/// taken twice, a scheme it does not speak) names the line to fix.
pub struct ListPlace(pub String);

/// True for a `dir=` that names the directory it is relative to: `.`,
/// `./`, `./.` (and blank).
fn names_current_dir(dir: &str) -> bool {
    dir.split(['/', '\\'])
        .all(|component| matches!(component.trim(), "" | "."))
}

/// A path that starts at a root: `/x` or `\x` (a list may come from
/// Windows), and on Windows `C:\x` too.
fn is_absolute(path: &str) -> bool {
    path.starts_with('/') || path.starts_with('\\') || Path::new(path).is_absolute()
}

/// The request for a list entry: `dir=` and `out=` are relative to the
/// output directory (an absolute one is refused), made safe, and confined
/// to it ([`Request::confined_to`]), so a list cannot write outside it. `header=` lines are sent with it (replacing a `-H` of the same name),
/// and `http-user=`/`http-passwd=` give its Basic credentials, a missing
/// half taken from the command line's `credentials`.
pub fn request_for_entry(
    entry: &Entry,
    base: &Path,
    credentials: Option<&(String, Option<String>)>,
) -> Result<Request, String> {
    let url = entry.urls.first().ok_or("the entry has no URL")?;
    // An absolute path would be placed under the output directory, which
    // is not the file it names: refused, as `-o /abs` is.
    for (key, value) in [("dir", &entry.dir), ("out", &entry.out)] {
        if let Some(value) = value.as_deref().filter(|v| is_absolute(v)) {
            return Err(format!(
                "{key}=`{value}` is absolute; a list's paths are relative to the output directory (-d)"
            ));
        }
    }
    let mut dir = base.to_path_buf();
    // `dir=.` (or `./`) is the output directory itself, as in aria2.
    if let Some(sub) = entry.dir.as_deref().filter(|sub| !names_current_dir(sub)) {
        let safe = naming::safe_relative_path(sub).ok_or_else(|| {
            format!("dir=`{sub}` does not name a directory inside the output directory")
        })?;
        dir.push(safe);
    }
    let request = match &entry.out {
        Some(out) => {
            let safe = naming::safe_relative_path(out)
                .ok_or_else(|| format!("out=`{out}` is not a usable file name"))?;
            Request::new(url, dir.join(safe))
        }
        None => Request::new_in_dir(url, &dir),
    };
    let mut request = request
        .map_err(|e| format!("{e:#}"))?
        .confined_to(base)
        .with_mirrors(&entry.urls[1..])
        .map_err(|e| format!("{e:#}"))?;
    if let Some(size) = entry.size {
        request = request.with_size(size);
    }
    for digest in &entry.digests {
        request = request.with_digest(digest.clone());
    }
    if let Some(pieces) = &entry.pieces {
        request = request.with_piece_hashes(pieces.clone());
    }
    for (name, value) in &entry.headers {
        request = request
            .with_header(name, value)
            .map_err(|e| format!("header={name}: {e:#}"))?;
    }
    if entry.http_user.is_some() || entry.http_passwd.is_some() {
        let user = entry
            .http_user
            .as_deref()
            .or(credentials.map(|(user, _)| user.as_str()))
            .unwrap_or("");
        let password = entry
            .http_passwd
            .as_deref()
            .or(credentials.and_then(|(_, password)| password.as_deref()))
            .unwrap_or("");
        request = request
            .with_basic_auth(user, password)
            .map_err(|e| format!("http-user/http-passwd: {e:#}"))?;
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(url: &str) -> Entry {
        Entry::new(vec![url.to_owned()], 1)
    }

    #[test]
    fn names_stay_inside_the_output_directory() {
        let base = Path::new("out");
        let plain = request_for_entry(&entry("http://h/a/b.bin?x=1"), base, None).unwrap();
        assert_eq!(plain.path().unwrap(), Path::new("out/b.bin"));
        let mut e = entry("http://h/%2e%2e%2fetc%2fpasswd");
        assert_eq!(
            request_for_entry(&e, base, None).unwrap().path().unwrap(),
            Path::new("out/passwd")
        );
        // Absolute: refused, naming the option, not moved under -d.
        e.out = Some("/etc/shadow".into());
        let error = request_for_entry(&e, base, None).unwrap_err();
        assert!(error.contains("out=`/etc/shadow` is absolute"), "{error}");
        e.out = None;
        e.dir = Some("/srv/mirror".into());
        let error = request_for_entry(&e, base, None).unwrap_err();
        assert!(error.contains("dir=`/srv/mirror` is absolute"), "{error}");
        e.dir = Some("\\share\\x".into());
        assert!(request_for_entry(&e, base, None).is_err());
        e.dir = None;
        e.out = Some("../x".into());
        assert!(request_for_entry(&e, base, None).is_err());
        e.out = Some("sub/f.deb".into());
        e.dir = Some("pool".into());
        assert_eq!(
            request_for_entry(&e, base, None).unwrap().path().unwrap(),
            Path::new("out/pool/sub/f.deb")
        );
        e.dir = Some("../../up".into());
        assert!(request_for_entry(&e, base, None).is_err());
        // `dir=.` and its spellings are the output directory itself.
        for here in [".", "./", "./.", " . "] {
            e.dir = Some(here.into());
            assert_eq!(
                request_for_entry(&e, base, None).unwrap().path().unwrap(),
                Path::new("out/sub/f.deb"),
                "dir={here}"
            );
        }
        e.dir = Some("./..".into());
        assert!(request_for_entry(&e, base, None).is_err());
        e.dir = None;
        e.out = Some("a/../../b".into());
        let error = request_for_entry(&e, base, None).unwrap_err();
        assert!(error.contains("out=`a/../../b`"), "{error}");
        let root = request_for_entry(&entry("http://h/"), base, None).unwrap();
        assert_eq!(root.path().unwrap(), Path::new("out/index.html"));
    }

    #[test]
    fn headers_and_credentials_carry_over() {
        let mut e = entry("http://h/f");
        e.headers = vec![("X-Token".into(), "t".into())];
        e.http_passwd = Some("only-pass".into());
        let cli = ("cliuser".to_owned(), Some("clipass".to_owned()));
        let request = request_for_entry(&e, Path::new("."), Some(&cli)).unwrap();
        assert_eq!(request.headers()["x-token"], "t");
        // cliuser:only-pass
        assert_eq!(
            request.headers()["authorization"],
            "Basic Y2xpdXNlcjpvbmx5LXBhc3M="
        );
        e.http_user = Some("a:b".into());
        assert!(request_for_entry(&e, Path::new("."), None).is_err());
    }

    #[test]
    fn size_and_digests_carry_over() {
        let mut e = entry("http://h/f");
        e.size = Some(3);
        e.digests = vec!["md5=900150983cd24fb0d6963f7d28e17f72".parse().unwrap()];
        let request = request_for_entry(&e, Path::new("."), None).unwrap();
        assert_eq!(request.expected_size(), Some(3));
        assert_eq!(request.digests().len(), 1);
        assert!(request_for_entry(&entry("not a url"), Path::new("."), None).is_err());
    }
}
