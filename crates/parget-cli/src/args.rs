//! The command line: every flag, its default and its help text.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use parget::{naming, Digest};

use crate::shard::Shard;

/// parget: fetch many files at once, verified while they stream.
///
/// Downloads each URL (and each entry of the lists given with -i) into the
/// output directory. Bytes go to NAME.part and are renamed to NAME only
/// after the size and every expected digest matched.
///
/// Exit status: 0 all downloads ok (or skipped), 1 some download failed,
/// 2 usage error, 128 + N stopped by signal N (SIGINT 130, SIGTERM 143,
/// SIGHUP 129; partial files are kept for --continue).
#[derive(Debug, Parser)]
#[command(name = "parget", version, max_term_width = 100)]
pub struct Args {
    /// URLs to download (http, https, file).
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,

    /// Read URLs from FILE ("-" for standard input): one URL per line, aria2
    /// input files (URL lines followed by indented out=, dir=, checksum=,
    /// size= lines), apt-get --print-uris output, or a Metalink document
    /// (.meta4, .metalink, or a file starting with `<`). May be repeated.
    #[arg(short = 'i', long = "input-file", value_name = "FILE")]
    pub input_files: Vec<String>,

    /// Read a Metalink 4 document (RFC 5854): every file it lists, from its
    /// mirrors by priority, with its size, hashes and piece hashes. May be
    /// repeated.
    #[arg(short = 'M', long = "metalink", value_name = "FILE")]
    pub metalinks: Vec<String>,

    /// Comma-separated country codes (ISO 3166-1, e.g. `de,fr`): Metalink
    /// mirrors in these locations are tried first.
    #[arg(
        long = "metalink-location",
        value_name = "CC,...",
        value_delimiter = ','
    )]
    pub metalink_locations: Vec<String>,

    /// Directory to save files in (created if missing).
    #[arg(short = 'd', long = "dir", value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,

    /// Name of the saved file, relative to --dir (only with a single URL);
    /// it may not climb out of --dir (no "..", not absolute).
    #[arg(short = 'o', long = "out", value_name = "NAME")]
    pub out: Option<String>,

    /// Number of downloads running at once.
    #[arg(
        short = 'j',
        long = "max-concurrent-downloads",
        value_name = "N",
        default_value_t = 16,
        value_parser = clap::value_parser!(u32).range(1..=65536)
    )]
    pub concurrency: u32,

    /// A politeness cap: connections to one host (scheme, host and port) at
    /// once, segments included. Default: none (-j and -s bound them).
    #[arg(short = 'x', long = "max-per-host", visible_alias = "max-connection-per-server",
          value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub max_per_host: Option<u32>,

    /// Connections one large file may be fetched over, when its server
    /// supports Range: they are opened when the first connection, past its
    /// first burst, is slower than the client could take, and closed again
    /// when they do not add. 1 fetches every file in one stream.
    #[arg(short = 's', long = "split", value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub split: u32,

    /// The smallest piece a file is split into (K, M, G suffixes): files
    /// smaller than two pieces go in one stream.
    #[arg(short = 'k', long = "min-split-size", value_name = "SIZE", default_value = "4M",
          value_parser = parse_nonzero_size)]
    pub min_split_size: u64,

    /// The URLs given are mirrors of one file: its segments are spread over
    /// them, and a mirror that fails is dropped.
    #[arg(long = "mirrors")]
    pub mirrors: bool,

    /// Expected digest ALGO=HEX of the single URL (md5, sha1, sha256, sha512,
    /// blake3; sha-256 spellings accepted). May be repeated.
    #[arg(long = "checksum", value_name = "ALGO=HEX")]
    pub checksums: Vec<Digest>,

    /// Retries after a failed attempt (connection errors, resets, truncated
    /// bodies, timeouts, 408, 429, 5xx).
    #[arg(long = "retries", value_name = "N", default_value_t = 5)]
    pub retries: u32,

    /// Base delay between retries, doubled after each retry (with jitter,
    /// capped at 60 s); a server's Retry-After is honoured.
    #[arg(long = "retry-wait", value_name = "SECS", default_value = "1", value_parser = parse_seconds)]
    pub retry_wait: Duration,

    /// Idle timeout: an attempt that receives no byte for SECS is retried.
    #[arg(long = "timeout", value_name = "SECS", default_value = "60", value_parser = parse_positive_seconds)]
    pub timeout: Duration,

    /// The longest wait for a connection to be made.
    #[arg(long = "connect-timeout", value_name = "SECS", default_value = "30", value_parser = parse_positive_seconds)]
    pub connect_timeout: Duration,

    /// Fail (and retry) an attempt whose rate stays below RATE bytes/s for
    /// --lowest-speed-time; K and M suffixes are 1024 and 1024². 0: no limit.
    #[arg(long = "lowest-speed-limit", value_name = "RATE", default_value = "0", value_parser = parse_size)]
    pub lowest_speed_limit: u64,

    /// The window over which --lowest-speed-limit is measured.
    #[arg(long = "lowest-speed-time", value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
    pub lowest_speed_time: Duration,

    /// Redirects followed before giving up.
    #[arg(long = "max-redirs", value_name = "N", default_value_t = 10)]
    pub max_redirects: usize,

    /// Follow redirects from https to plain http (refused by default).
    #[arg(long = "allow-insecure-redirect")]
    pub allow_insecure_redirect: bool,

    /// Basic authentication for every URL given (never for another host, port
    /// or scheme a server redirects to). Without :PASS the password comes
    /// from the .netrc entry of USER.
    #[arg(short = 'u', long = "user", value_name = "USER[:PASS]")]
    pub user: Option<String>,

    /// The user of Basic authentication (aria2's spelling of --user).
    #[arg(long = "http-user", value_name = "USER")]
    pub http_user: Option<String>,

    /// The password of Basic authentication (with --http-user).
    #[arg(long = "http-passwd", value_name = "PASS")]
    pub http_passwd: Option<String>,

    /// Send the header "Name: value" with every request (Authorization,
    /// Cookie, Proxy-Authorization and names that say they hold a secret,
    /// like X-Api-Key, only to the URLs given). May be repeated.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Read credentials by host from FILE instead of ~/.netrc.
    #[arg(long = "netrc-file", value_name = "FILE")]
    pub netrc_file: Option<PathBuf>,

    /// Do not read ~/.netrc.
    #[arg(long = "no-netrc", conflicts_with = "netrc_file")]
    pub no_netrc: bool,

    /// Send the cookies of FILE (Netscape format, as curl -c and wget
    /// --save-cookies write it) to the hosts and paths they match.
    #[arg(long = "load-cookies", value_name = "FILE")]
    pub load_cookies: Option<PathBuf>,

    /// Use this proxy (http://, https://, socks5://, socks5h://, with
    /// USER:PASS@ if it wants credentials) instead of http_proxy,
    /// https_proxy, ALL_PROXY; "" for none.
    #[arg(long = "proxy", value_name = "URL")]
    pub proxy: Option<String>,

    /// Hosts reached without a proxy (names and their subdomains, IP
    /// addresses, CIDR ranges, * for all), instead of NO_PROXY.
    #[arg(long = "noproxy", visible_alias = "no-proxy", value_name = "LIST")]
    pub noproxy: Option<String>,

    /// The most a download receives per second, all its connections
    /// together (K, M, G suffixes). 0: no limit.
    #[arg(long = "max-download-limit", value_name = "RATE", default_value = "0", value_parser = parse_size)]
    pub max_download_limit: u64,

    /// The most all downloads together receive per second (K, M, G
    /// suffixes). 0: no limit.
    #[arg(long = "max-overall-download-limit", value_name = "RATE", default_value = "0", value_parser = parse_size)]
    pub max_overall_download_limit: u64,

    /// Send at most N requests per second to one host (for servers that
    /// answer 429 when hammered).
    #[arg(long = "max-requests-per-second", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_requests_per_second: Option<u32>,

    /// Name files after the server's Content-Disposition, when it suggests
    /// a name (made safe, inside the output directory; costs a HEAD request
    /// per file). Not for -o or out= names.
    #[arg(long = "content-disposition")]
    pub content_disposition: bool,

    /// Resume NAME.part files left by an earlier run (validated with the
    /// ETag or Last-Modified they came with; a changed file starts over).
    #[arg(short = 'c', long = "continue")]
    pub continue_partial: bool,

    /// Replace an existing output that there is nothing to check against
    /// (without it, such a download fails and the file is left alone).
    #[arg(long = "allow-overwrite")]
    pub allow_overwrite: bool,

    /// fsync each file and its directory before reporting it done.
    #[arg(long = "fsync")]
    pub fsync: bool,

    /// When another parget (or another download of this one) is writing
    /// the same file, wait for it to end instead of failing that entry.
    #[arg(long = "wait-for-lock")]
    pub wait_for_lock: bool,

    /// Trust the PEM certificates in FILE, besides the system's roots
    /// (SSL_CERT_FILE and SSL_CERT_DIR add roots too). May be repeated.
    #[arg(long = "ca-certificate", value_name = "FILE")]
    pub ca_certificates: Vec<PathBuf>,

    /// Present the client certificate in FILE (PEM) to servers that ask
    /// for one; its key is in FILE too, or in --private-key.
    #[arg(long = "certificate", value_name = "FILE")]
    pub certificate: Option<PathBuf>,

    /// The private key (PEM) of --certificate.
    #[arg(long = "private-key", value_name = "FILE", requires = "certificate")]
    pub private_key: Option<PathBuf>,

    /// Do not check TLS certificates (for testing only; a warning is printed).
    #[arg(long = "insecure")]
    pub insecure: bool,

    /// The User-Agent header.
    #[arg(short = 'U', long = "user-agent", value_name = "AGENT")]
    pub user_agent: Option<String>,

    /// Print no progress and no summary (failures are still reported).
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,

    /// Write one JSON object per finished entry to standard output.
    #[arg(long = "json")]
    pub json: bool,

    /// Take only shard I of N (0 <= I < N): the entries whose destination,
    /// relative to --dir, hashes to I (XXH3-64, seed 0, mod N). N processes
    /// or machines given one list with 0/N .. N-1/N split it with no
    /// coordination, each entry to exactly one of them.
    #[arg(long = "shard", value_name = "I/N")]
    pub shard: Option<Shard>,

    /// Write the run's totals (ok, skipped, failed, bytes, elapsed) and its
    /// failed entries with their errors to FILE as JSON at the end, also
    /// after an interrupt; written to a temporary file and renamed, so a
    /// reader never sees half of it.
    #[arg(long = "summary-json", value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
}

impl Args {
    /// Checks the combinations clap cannot express; the message is a usage error.
    pub fn validate(&self) -> Result<(), String> {
        let lists = self.input_files.len() + self.metalinks.len();
        let single = (self.urls.len() == 1 || self.mirrors) && lists == 0;
        if self.mirrors && (self.urls.is_empty() || lists > 0) {
            return Err("--mirrors takes the URLs of one file on the command line (lists give mirrors TAB-separated)".into());
        }
        if self.urls.is_empty() && lists == 0 {
            return Err("no URL given: pass URLs, -i FILE or -M FILE (see --help)".into());
        }
        if self.out.is_some() && !single {
            return Err(
                "-o/--out names the file of a single URL; lists name files with out=".into(),
            );
        }
        if let Some(out) = &self.out {
            self.out_path(out)?;
        }
        if !self.checksums.is_empty() && !single {
            return Err(
                "--checksum applies to a single URL; lists carry checksum= per entry".into(),
            );
        }
        if self
            .input_files
            .iter()
            .chain(&self.metalinks)
            .filter(|f| f.as_str() == "-")
            .count()
            > 1
        {
            return Err("standard input (-i -) can be read only once".into());
        }
        if let Some(agent) = &self.user_agent {
            parget::header::check_header_value(agent)
                .map_err(|why| format!("-U/--user-agent {why}"))?;
        }
        for header in &self.headers {
            parget::header::parse_header_line(header)
                .map_err(|why| format!("-H/--header: {why}"))?;
        }
        if self.user.is_some() && (self.http_user.is_some() || self.http_passwd.is_some()) {
            return Err(
                "-u/--user and --http-user/--http-passwd both give credentials: use one".into(),
            );
        }
        if self.http_passwd.is_some() && self.http_user.is_none() {
            return Err("--http-passwd needs --http-user".into());
        }
        if let Some((user, password)) = self.credentials() {
            let both = format!("{user}{}", password.unwrap_or_default());
            if user.contains(':') || both.chars().any(char::is_control) {
                return Err(
                    "the user name cannot hold `:`, nor the credentials control characters".into(),
                );
            }
        }
        if let Some(proxy) = self.proxy.as_deref().filter(|p| !p.is_empty()) {
            parget::proxy::parse_proxy(proxy, "--proxy").map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The Basic credentials of -u or --http-user/--http-passwd.
    pub fn credentials(&self) -> Option<(&str, Option<&str>)> {
        match (&self.user, &self.http_user) {
            (Some(user), _) => Some(match user.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (user.as_str(), None),
            }),
            (None, Some(user)) => Some((user.as_str(), self.http_passwd.as_deref())),
            (None, None) => None,
        }
    }
}

/// Parses seconds that must be more than zero: a timeout of 0 cannot work.
pub fn parse_positive_seconds(text: &str) -> Result<Duration, String> {
    let secs = parse_seconds(text)?;
    if secs.is_zero() {
        return Err(format!("`{text}`: a timeout must be more than 0 seconds"));
    }
    Ok(secs)
}

impl Args {
    /// The `-o` path below `--dir`: the rules of a list's `out=`
    /// ([`naming::safe_relative_path`]: no `..`, safe names), and not
    /// absolute, since `-o /x` would otherwise name `DIR/x` unasked.
    pub fn out_path(&self, out: &str) -> Result<PathBuf, String> {
        if Path::new(out).is_absolute() {
            return Err(format!(
                "-o/--out `{out}` is absolute; it names a file inside the output directory: use -d DIR -o NAME"
            ));
        }
        naming::safe_relative_path(out).ok_or_else(|| {
            format!("-o/--out `{out}` does not name a file inside the output directory (-d)")
        })
    }
}

/// Parses seconds, fractions allowed ("0.5").
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("`{text}` is not a sensible number of seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a byte count that must not be zero.
pub fn parse_nonzero_size(text: &str) -> Result<u64, String> {
    match parse_size(text)? {
        0 => Err(format!("`{text}` must be more than 0 bytes")),
        n => Ok(n),
    }
}

/// Parses a byte count with an optional K, M or G suffix (powers of 1024,
/// as aria2 does), fractions allowed ("1.5M").
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let (number, unit) = match trimmed
        .char_indices()
        .find(|(_, c)| c.is_ascii_alphabetic())
    {
        Some((at, _)) => trimmed.split_at(at),
        None => (trimmed, ""),
    };
    let multiplier: f64 = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (use K, M or G)")),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. 500, 10K, 1.5M)"))?;
    let bytes = value * multiplier;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 / 2.0 {
        return Err(format!("`{text}` is out of range"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("500"), Ok(500));
        assert_eq!(parse_size("10K"), Ok(10 * 1024));
        assert_eq!(parse_size("10k"), Ok(10 * 1024));
        assert_eq!(parse_size("1.5M"), Ok(1_572_864));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        for bad in ["", "K", "-1", "1X", "1e400", "abc", "NaN"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        for bad in ["", "-1", "inf", "x", "1e20"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_that_cannot_work_are_refused() {
        let parse = |args: &[&str]| {
            Args::try_parse_from(std::iter::once("parget").chain(args.iter().copied()))
        };
        let validate = |args: &[&str]| parse(args).map_err(|e| e.to_string())?.validate();
        for (args, says) in [
            (&["--timeout", "0", "http://a/"][..], "0 seconds"),
            (&["--connect-timeout", "0", "http://a/"], "0 seconds"),
            (
                &["-U", "a\r\nX-Injected: 1", "http://a/"],
                "-U/--user-agent holds a line break",
            ),
            (&["-U", "a\nb", "http://a/"], "line break"),
            (
                &["-H", "X: a\r\nY: b", "http://a/"],
                "-H/--header: the value of `X` holds a line break",
            ),
            (&["-H", "no colon", "http://a/"], "-H/--header"),
            (&["-H", "Bad Name: v", "http://a/"], "not a header name"),
            (
                &["--proxy", "socks4://p", "http://a/"],
                "bad proxy in --proxy",
            ),
            (
                &["--proxy", "http://u:s3cret@p:99999", "http://a/"],
                "u:***@p:99999",
            ),
            (&["-u", "a:b", "--http-user", "c", "http://a/"], "use one"),
            (&["--http-passwd", "p", "http://a/"], "needs --http-user"),
            (&["-u", "a\nb:c", "http://a/"], "control characters"),
            (&["--http-user", "a:b", "http://a/"], "cannot hold `:`"),
            (&["--private-key", "k.pem", "http://a/"], "--certificate"),
            (&["--max-requests-per-second", "0", "http://a/"], "0"),
            (
                &["--netrc-file", "n", "--no-netrc", "http://a/"],
                "--no-netrc",
            ),
        ] {
            let error = validate(args).expect_err(&format!("{args:?}"));
            assert!(error.contains(says), "{args:?}: {error}");
            assert!(!error.contains("s3cret"), "{error}");
        }
        assert!(validate(&["--proxy", "", "-H", "X-A: b", "-u", "u:p:w", "http://a/"]).is_ok());
        let args = parse(&["-u", "alice:pa:ss", "http://a/"]).unwrap();
        assert_eq!(args.credentials(), Some(("alice", Some("pa:ss"))));
        let args = parse(&["-u", "alice", "http://a/"]).unwrap();
        assert_eq!(args.credentials(), Some(("alice", None)));
        let args = parse(&["--http-user", "bob", "--http-passwd", "x", "http://a/"]).unwrap();
        assert_eq!(args.credentials(), Some(("bob", Some("x"))));
        let args = parse(&[
            "--max-download-limit",
            "500K",
            "--max-overall-download-limit",
            "10M",
            "http://a/",
        ])
        .unwrap();
        assert_eq!(
            (args.max_download_limit, args.max_overall_download_limit),
            (500 << 10, 10 << 20)
        );
    }

    #[test]
    fn combinations() {
        let parse = |args: &[&str]| {
            Args::try_parse_from(std::iter::once("parget").chain(args.iter().copied()))
        };
        assert!(parse(&[]).unwrap().validate().is_err());
        assert!(parse(&["-o", "x", "http://a/1", "http://a/2"])
            .unwrap()
            .validate()
            .is_err());
        assert!(parse(&["-o", "x", "-i", "list", "http://a/1"])
            .unwrap()
            .validate()
            .is_err());
        assert!(parse(&[
            "--checksum",
            "md5=900150983cd24fb0d6963f7d28e17f72",
            "-i",
            "l"
        ])
        .unwrap()
        .validate()
        .is_err());
        assert!(parse(&["-o", "x", "http://a/1"])
            .unwrap()
            .validate()
            .is_ok());
        assert!(parse(&["-i", "-", "-i", "-"]).unwrap().validate().is_err());
        assert!(
            parse(&["--checksum", "md5=zz", "http://a/1"]).is_err(),
            "bad digest is a clap error"
        );
        assert!(parse(&["-j", "0", "http://a/1"]).is_err());
        assert!(parse(&["-s", "0", "http://a/1"]).is_err());
        assert!(parse(&["-k", "0", "http://a/1"]).is_err());
        assert_eq!(
            parse(&["-k", "1M", "-s", "16", "-x", "16", "http://a/1"])
                .unwrap()
                .min_split_size,
            1 << 20
        );
        assert!(parse(&["--mirrors", "-o", "f", "http://a/1", "http://b/1"])
            .unwrap()
            .validate()
            .is_ok());
        assert!(parse(&["--mirrors", "-i", "l", "http://a/1"])
            .unwrap()
            .validate()
            .is_err());
        assert!(parse(&["--mirrors"]).unwrap().validate().is_err());
    }

    #[test]
    fn out_stays_inside_the_output_directory() {
        let parse = |out: &str| {
            let args = Args::try_parse_from(["parget", "-o", out, "http://a/1"]).unwrap();
            args.validate().map(|()| args.out_path(out).unwrap())
        };
        assert_eq!(parse("x.bin"), Ok(PathBuf::from("x.bin")));
        assert_eq!(parse("sub/x.bin"), Ok(PathBuf::from("sub/x.bin")));
        assert_eq!(parse("./a//b"), Ok(PathBuf::from("a/b")));
        for bad in ["../x", "a/../../x", "/abs", "/", "", ".", ".."] {
            let error = parse(bad).unwrap_err();
            assert!(error.contains("-o/--out"), "{bad}: {error}");
        }
        assert!(parse("/abs").unwrap_err().contains("absolute"));
    }
}
