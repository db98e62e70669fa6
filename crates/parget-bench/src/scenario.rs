//! The scenarios: what each one asks of the tools, its parameters (with the
//! defaults of the issue and a shrunk smoke version), the server that
//! serves it, the files it serves and its physical bound. Pure: no I/O.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{anyhow, bail, Context as _, Result};

/// KiB, MiB and GiB.
pub const KIB: u64 = 1024;
/// A mebibyte.
pub const MIB: u64 = 1024 * KIB;
/// A gibibyte.
pub const GIB: u64 = 1024 * MIB;

/// The scenario names, in run order.
pub const NAMES: &[&str] = &[
    "latency",
    "request-rate",
    "big",
    "throttled",
    "mixed",
    "paginated",
    "netns-big",
    "netns-files",
    "list-1e4",
    "list-1e5",
    "list-1e6",
];

/// The list-length scenarios: one list of 10^4, 10^5 and 10^6 tiny files,
/// for peak memory and files/s as the list grows. Long (the last one runs
/// for minutes per tool), so run only when asked for, by name or all three
/// as `--scenario list-length`.
pub const LIST_LENGTH: &[&str] = &["list-1e4", "list-1e5", "list-1e6"];

/// The scenarios that run in the shared-bottleneck network namespace
/// (`--netns`).
pub const NETNS: &[&str] = &["netns-big", "netns-files"];

/// One file a scenario serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// The URL path (no query): the content key of [`parget_testbed::fill`].
    pub path: String,
    /// The saved name (the last path segment).
    pub name: String,
    /// The length in bytes.
    pub size: u64,
}

/// What a scenario serves.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// Plain files, listed up front.
    Files(Vec<FileSpec>),
    /// The seeds' paginated listing API (`POST /api/list_files`).
    Paginated {
        /// Endpoints behind the listing.
        endpoints: usize,
        /// Delay of every listing and endpoint answer, in milliseconds.
        lag_ms: u64,
    },
}

/// Which server a scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// nginx from Debian's packages, serving the files from a directory:
    /// what users download from.
    Nginx,
    /// `parget-testbed`: only where a scenario needs what nginx cannot do
    /// (latency before each answer, the paginated API).
    Testbed,
}

/// A scenario with its parameters resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Short name (`--scenario NAME`).
    pub name: &'static str,
    /// One line describing it, with its parameters.
    pub title: String,
    /// What is served.
    pub work: Work,
    /// The server.
    pub origin: Origin,
    /// Delay before each response's headers, in milliseconds (testbed
    /// only).
    pub latency_ms: u64,
    /// Body bytes per second per connection, 0 = unlimited (nginx's
    /// `limit_rate`, or the testbed's `rate`).
    pub rate: u64,
    /// The capacity of the one link every connection shares, bits per
    /// second (the network-namespace scenarios); `None` on loopback.
    pub link_bits: Option<u64>,
    /// Downloads at once.
    pub concurrency: usize,
    /// Connections the one file of a single-file scenario is fetched over;
    /// 0 = each tool's default. Always 0 with many files: there
    /// `concurrency` is the budget of connections, and no tool is told to
    /// split.
    pub split: usize,
    /// parget's row is handed every file's SHA-256 and verifies it (with
    /// `--checksum` for one file): the single-file scenarios, whose target
    /// is a verified download. The peers verify nothing.
    pub verify: bool,
    /// A second parget row, `parget-verifying`, is handed every file's
    /// SHA-256 in its list: the lists, where parget's own row does the
    /// peers' work (size checks, `.part` and rename, no digest) and this
    /// one shows what checking the digests in flight costs.
    pub verifying_row: bool,
    /// Whether the table shows MB/s (true) or files/s (false).
    pub bytes_bound: bool,
}

impl Scenario {
    /// The files, empty for the paginated scenario.
    pub fn files(&self) -> &[FileSpec] {
        match &self.work {
            Work::Files(files) => files,
            Work::Paginated { .. } => &[],
        }
    }

    /// How many files (or endpoints) one run fetches.
    pub fn file_count(&self) -> usize {
        match &self.work {
            Work::Files(files) => files.len(),
            Work::Paginated { endpoints, .. } => *endpoints,
        }
    }

    /// Body bytes one run fetches (for the paginated API: the endpoint
    /// bodies are a few bytes and are not counted).
    pub fn total_bytes(&self) -> u64 {
        self.files().iter().map(|f| f.size).sum()
    }

    /// The query string every testbed URL carries (nginx URLs have none).
    pub fn query(&self, size: u64) -> String {
        let mut query = format!("size={size}");
        if self.latency_ms > 0 {
            query.push_str(&format!("&latency_ms={}", self.latency_ms));
        }
        if self.rate > 0 {
            query.push_str(&format!("&rate={}", self.rate));
        }
        query
    }

    /// The URL of `file` on the server at `base` (no trailing slash).
    pub fn url(&self, base: &str, file: &FileSpec) -> String {
        match self.origin {
            Origin::Nginx => format!("{base}{}", file.path),
            Origin::Testbed => format!("{base}{}?{}", file.path, self.query(file.size)),
        }
    }

    /// True for the scenarios of one file (where single-file tools such as
    /// axel apply).
    pub fn single_file(&self) -> bool {
        matches!(&self.work, Work::Files(files) if files.len() == 1)
    }

    /// True for the scenarios that run in the network namespace.
    pub fn in_netns(&self) -> bool {
        self.link_bits.is_some()
    }

    /// The physical lower bound of one run, in seconds, given the loopback
    /// ceiling in bytes per second. `None` when no meaningful bound exists
    /// (the request-rate scenario is bound by per-request work, not by a
    /// physical limit).
    pub fn bound(&self, ceiling: Option<f64>) -> Option<f64> {
        let bytes = self.total_bytes() as f64;
        let transfer = match self.link_bits {
            Some(bits) => Some(bytes * 8.0 / bits.max(1) as f64),
            None => ceiling.filter(|c| *c > 0.0).map(|c| bytes / c),
        };
        match self.name {
            "request-rate" | "list-1e4" | "list-1e5" | "list-1e6" => None,
            "paginated" => match self.work {
                // One page round trip, then one endpoint round trip: no
                // endpoint is known before a page answer arrives.
                Work::Paginated { lag_ms, .. } => Some(2.0 * lag_ms as f64 / 1000.0),
                Work::Files(_) => None,
            },
            _ => {
                let rounds = self.file_count().div_ceil(self.concurrency.max(1)) as f64;
                let latency = rounds * self.latency_ms as f64 / 1000.0;
                let throttled = if self.rate > 0 {
                    bytes / (self.rate as f64 * self.split.max(1) as f64)
                } else {
                    0.0
                };
                let bound = latency.max(throttled).max(transfer.unwrap_or(0.0));
                (bound > 0.0).then_some(bound)
            }
        }
    }

    /// How the bound is computed, for the report.
    pub fn bound_note(&self) -> String {
        match self.name {
            "request-rate" | "list-1e4" | "list-1e5" | "list-1e6" => {
                "none (bound by per-request work)".into()
            }
            "paginated" => "two lags: one page round trip, then one endpoint round trip".into(),
            "big" => "size / loopback ceiling".into(),
            "throttled" => "size / (rate × connections); nginx lets each response send its first second's worth at once, so a tool that spreads the file wide can come in under it".into(),
            "latency" => "⌈files / concurrency⌉ × latency".into(),
            "netns-big" | "netns-files" => "bytes / link capacity: one link that every connection shares, so more connections cannot help".into(),
            _ => "bytes / loopback ceiling".into(),
        }
    }
}

/// The tunable parameters of every scenario: `scenario.key` → value.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    values: BTreeMap<String, u64>,
}

/// The defaults of the issue, as `(scenario.key, value)`.
const DEFAULTS: &[(&str, u64)] = &[
    ("latency.files", 500),
    ("latency.size", 16 * KIB),
    ("latency.latency_ms", 100),
    ("latency.concurrency", 32),
    ("request-rate.files", 2000),
    ("request-rate.size", 4 * KIB),
    ("request-rate.concurrency", 32),
    ("big.size", GIB),
    ("big.connections", 0),
    ("throttled.size", 256 * MIB),
    // nginx's `limit_rate 20m`.
    ("throttled.rate", 20 * MIB),
    ("throttled.connections", 16),
    ("mixed.files", 60),
    ("mixed.min", KIB),
    ("mixed.max", 64 * MIB),
    ("mixed.concurrency", 32),
    ("paginated.endpoints", 500),
    ("paginated.lag_ms", 300),
    // 256 MiB at 400 Mbit/s is about 5 s a run.
    ("netns-big.size", 256 * MIB),
    ("netns-big.connections", 0),
    ("netns-files.files", 2000),
    ("netns-files.size", 4 * KIB),
    ("netns-files.concurrency", 32),
    ("list-1e4.files", 10_000),
    ("list-1e5.files", 100_000),
    ("list-1e6.files", 1_000_000),
    ("list-1e4.size", 16),
    ("list-1e5.size", 16),
    ("list-1e6.size", 16),
    ("list-1e4.concurrency", 16),
    ("list-1e5.concurrency", 16),
    ("list-1e6.concurrency", 16),
];

/// The smoke version: every scenario shrunk so the whole run takes seconds.
const SMOKE: &[(&str, u64)] = &[
    ("latency.files", 40),
    ("latency.latency_ms", 20),
    ("latency.concurrency", 8),
    ("request-rate.files", 200),
    ("request-rate.concurrency", 8),
    ("big.size", 16 * MIB),
    ("throttled.size", 4 * MIB),
    ("throttled.connections", 4),
    ("mixed.files", 12),
    ("mixed.max", 2 * MIB),
    ("mixed.concurrency", 4),
    ("paginated.endpoints", 25),
    ("paginated.lag_ms", 20),
    ("netns-big.size", 8 * MIB),
    ("netns-files.files", 100),
    ("netns-files.concurrency", 8),
    ("list-1e4.files", 100),
    ("list-1e5.files", 200),
    ("list-1e6.files", 400),
];

/// The default capacity of the network namespace's link, Mbit/s.
pub const DEFAULT_LINK_MBIT: u64 = 400;

impl Params {
    /// The defaults, shrunk when `smoke`.
    pub fn new(smoke: bool) -> Params {
        let mut values: BTreeMap<String, u64> =
            DEFAULTS.iter().map(|&(k, v)| (k.to_owned(), v)).collect();
        if smoke {
            for &(k, v) in SMOKE {
                values.insert(k.to_owned(), v);
            }
        }
        values.insert("netns.mbit".to_owned(), DEFAULT_LINK_MBIT);
        Params { values }
    }

    /// Applies `scenario.key=VALUE` (sizes take K/M/G suffixes, powers of
    /// 1024, or KB/MB/GB, powers of 1000).
    pub fn set(&mut self, assignment: &str) -> Result<()> {
        let (key, value) = assignment
            .split_once('=')
            .ok_or_else(|| anyhow!("`{assignment}`: expected scenario.key=VALUE"))?;
        let key = key.trim();
        if !self.values.contains_key(key) {
            let known: Vec<&str> = self.values.keys().map(String::as_str).collect();
            bail!("unknown parameter `{key}`; known: {}", known.join(", "));
        }
        let value = parse_size(value).with_context(|| format!("parameter `{key}`"))?;
        self.values.insert(key.to_owned(), value);
        Ok(())
    }

    /// The value of `scenario.key`.
    pub fn get(&self, key: &str) -> u64 {
        self.values.get(key).copied().unwrap_or(0)
    }

    fn count(&self, key: &str) -> usize {
        usize::try_from(self.get(key)).unwrap_or(usize::MAX).max(1)
    }

    /// Every parameter, for the JSON report.
    pub fn all(&self) -> &BTreeMap<String, u64> {
        &self.values
    }

    /// The capacity of the network namespace's link, bits per second.
    pub fn link_bits(&self) -> u64 {
        self.get("netns.mbit").max(1) * 1_000_000
    }

    /// The scenario called `name`, resolved.
    pub fn scenario(&self, name: &str) -> Result<Scenario> {
        let p = |k: &str| self.get(&format!("{name}.{k}"));
        let c = |k: &str| self.count(&format!("{name}.{k}"));
        let base = |name: &'static str, title: String, work: Work| Scenario {
            name,
            title,
            work,
            origin: Origin::Nginx,
            latency_ms: 0,
            rate: 0,
            link_bits: None,
            concurrency: 1,
            split: 0,
            verify: false,
            verifying_row: false,
            bytes_bound: true,
        };
        let how = |conns: u64| match conns {
            0 => "each tool's default connections".to_owned(),
            n => format!("{n} connections"),
        };
        let scenario = match name {
            "latency" => {
                let (n, size, lat, conc) =
                    (c("files"), p("size"), p("latency_ms"), c("concurrency"));
                Scenario {
                    origin: Origin::Testbed,
                    latency_ms: lat,
                    concurrency: conc,
                    verifying_row: true,
                    bytes_bound: false,
                    ..base(
                        "latency",
                        format!(
                            "latency-bound: {n} files × {}, {lat} ms latency (parget-testbed), concurrency {conc}",
                            Bytes(size)
                        ),
                        Work::Files(uniform_files("lat", n, size)),
                    )
                }
            }
            "request-rate" => {
                let (n, size, conc) = (c("files"), p("size"), c("concurrency"));
                Scenario {
                    concurrency: conc,
                    verifying_row: true,
                    bytes_bound: false,
                    ..base(
                        "request-rate",
                        format!(
                            "request-rate-bound: {n} files × {} from nginx, concurrency {conc}",
                            Bytes(size)
                        ),
                        Work::Files(uniform_files("rr", n, size)),
                    )
                }
            }
            "big" => {
                let (size, conns) = (p("size"), p("connections"));
                Scenario {
                    split: usize::try_from(conns).unwrap_or(usize::MAX),
                    verify: true,
                    ..base(
                        "big",
                        format!(
                            "one {} file from nginx, unthrottled, {}; parget verifies its SHA-256",
                            Bytes(size),
                            how(conns)
                        ),
                        Work::Files(vec![file("big", "big.bin", size)]),
                    )
                }
            }
            "throttled" => {
                let (size, rate, conns) = (p("size"), p("rate"), c("connections"));
                Scenario {
                    rate,
                    split: conns,
                    ..base(
                        "throttled",
                        format!(
                            "one {} file from nginx at {} per connection (limit_rate), {conns} connections",
                            Bytes(size),
                            Rate(rate)
                        ),
                        Work::Files(vec![file("thr", "throttled.bin", size)]),
                    )
                }
            }
            "mixed" => {
                let (n, min, max, conc) = (c("files"), p("min"), p("max"), c("concurrency"));
                if min > max {
                    bail!("mixed.min ({min}) is larger than mixed.max ({max})");
                }
                Scenario {
                    concurrency: conc,
                    verifying_row: true,
                    ..base(
                        "mixed",
                        format!(
                            "mixed: {n} files from {} to {} from nginx, concurrency {conc}",
                            Bytes(min),
                            Bytes(max)
                        ),
                        Work::Files(mixed_files(n, min, max)),
                    )
                }
            }
            "paginated" => {
                let (n, lag) = (c("endpoints"), p("lag_ms"));
                Scenario {
                    origin: Origin::Testbed,
                    concurrency: 0,
                    split: 1,
                    bytes_bound: false,
                    ..base(
                        "paginated",
                        format!(
                            "paginated API: {n} endpoints behind POST /api/list_files \
                             (per_page ≤ 5, header More), {lag} ms lag on every request (parget-testbed)"
                        ),
                        Work::Paginated {
                            endpoints: n,
                            lag_ms: lag,
                        },
                    )
                }
            }
            "netns-big" => {
                let (size, conns) = (p("size"), p("connections"));
                let mbit = self.get("netns.mbit");
                Scenario {
                    link_bits: Some(self.link_bits()),
                    split: usize::try_from(conns).unwrap_or(usize::MAX),
                    verify: true,
                    ..base(
                        "netns-big",
                        format!(
                            "shared bottleneck: one {} file from nginx over one {mbit} Mbit/s link, {}; parget verifies its SHA-256",
                            Bytes(size),
                            how(conns)
                        ),
                        Work::Files(vec![file("nbig", "netns-big.bin", size)]),
                    )
                }
            }
            "netns-files" => {
                let (n, size, conc) = (c("files"), p("size"), c("concurrency"));
                let mbit = self.get("netns.mbit");
                Scenario {
                    link_bits: Some(self.link_bits()),
                    concurrency: conc,
                    verifying_row: true,
                    bytes_bound: false,
                    ..base(
                        "netns-files",
                        format!(
                            "shared bottleneck: {n} files × {} from nginx over one {mbit} Mbit/s link, concurrency {conc}",
                            Bytes(size)
                        ),
                        Work::Files(uniform_files("nfiles", n, size)),
                    )
                }
            }
            "list-1e4" | "list-1e5" | "list-1e6" => {
                let (n, size, conc) = (c("files"), p("size"), c("concurrency"));
                let name = LIST_LENGTH
                    .iter()
                    .copied()
                    .find(|s| *s == name)
                    .expect("matched above");
                Scenario {
                    // The testbed serves any path: a million files need
                    // no million files on the server's side.
                    origin: Origin::Testbed,
                    concurrency: conc,
                    bytes_bound: false,
                    ..base(
                        name,
                        format!(
                            "list length: one list of {n} files × {} from parget-testbed, concurrency {conc} (peak RSS as the list grows)",
                            Bytes(size)
                        ),
                        Work::Files(uniform_files(&name.replace('-', ""), n, size)),
                    )
                }
            }
            other => bail!(
                "unknown scenario `{other}`; known: {}, list-length",
                NAMES.join(", ")
            ),
        };
        Ok(scenario)
    }
}

fn file(dir: &str, name: &str, size: u64) -> FileSpec {
    FileSpec {
        path: format!("/{dir}/{name}"),
        name: name.to_owned(),
        size,
    }
}

/// `n` files of `size` bytes under `/dir/`.
pub fn uniform_files(dir: &str, n: usize, size: u64) -> Vec<FileSpec> {
    (0..n)
        .map(|i| file(dir, &format!("f{i:05}.bin"), size))
        .collect()
}

/// `n` files whose sizes are spread evenly on a log scale from `min` to
/// `max` (both included), in a shuffled but fixed order, so large and small
/// files are interleaved in the list as in real lists.
pub fn mixed_files(n: usize, min: u64, max: u64) -> Vec<FileSpec> {
    let min = min.max(1);
    let max = max.max(min);
    let ratio = max as f64 / min as f64;
    let sizes: Vec<u64> = (0..n)
        .map(|i| {
            if n == 1 {
                return max;
            }
            let t = i as f64 / (n - 1) as f64;
            let size = (min as f64 * ratio.powf(t)).round() as u64;
            // Odd sizes now and then, so no tool is only tested on round numbers.
            let size = if i % 3 == 1 {
                size.saturating_sub(17)
            } else {
                size
            };
            size.clamp(min, max)
        })
        .collect();
    // A fixed permutation: stride through the sizes with a step coprime to n.
    let step = (1..=n)
        .rev()
        .find(|s| gcd(*s, n) == 1 && *s * 2 < n + 2)
        .unwrap_or(1);
    (0..n)
        .map(|i| {
            let size = sizes[(i * step) % n];
            file("mix", &format!("m{i:03}.bin"), size)
        })
        .collect()
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Parses `16384`, `16K`, `16KiB`, `1G`, `20MB` (K/M/G are powers of 1024,
/// KB/MB/GB powers of 1000).
pub fn parse_size(text: &str) -> Result<u64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits);
    let number: u64 = number
        .replace('_', "")
        .parse()
        .map_err(|_| anyhow!("`{text}` is not a number with an optional K/M/G suffix"))?;
    let factor: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => KIB,
        "m" | "mib" => MIB,
        "g" | "gib" => GIB,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => bail!("`{text}`: unknown suffix `{suffix}` (K, M, G, KB, MB, GB)"),
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| anyhow!("`{text}` is too large"))
}

/// A byte count for people: `16 KiB`, `1 GiB`, `1.5 MiB`.
#[derive(Debug, Clone, Copy)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, size) in [("GiB", GIB), ("MiB", MIB), ("KiB", KIB)] {
            if n >= size {
                return if n % size == 0 {
                    write!(f, "{} {unit}", n / size)
                } else {
                    write!(f, "{:.1} {unit}", n as f64 / size as f64)
                };
            }
        }
        write!(f, "{n} B")
    }
}

/// A byte rate for people, decimal as rates usually are: `20 MB/s`.
#[derive(Debug, Clone, Copy)]
pub struct Rate(pub u64);

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= MIB && self.0 % MIB == 0 {
            // nginx's spelling (`limit_rate 20m`) is binary.
            return write!(f, "{} MiB/s", self.0 / MIB);
        }
        let n = self.0 as f64;
        if n >= 1e9 {
            write!(f, "{} GB/s", trim(n / 1e9))
        } else if n >= 1e6 {
            write!(f, "{} MB/s", trim(n / 1e6))
        } else if n >= 1e3 {
            write!(f, "{} kB/s", trim(n / 1e3))
        } else {
            write!(f, "{n} B/s")
        }
    }
}

fn trim(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_issue_s() {
        let p = Params::new(false);
        let lat = p.scenario("latency").unwrap();
        assert_eq!(lat.file_count(), 500);
        assert_eq!(lat.files()[0].size, 16 * KIB);
        assert_eq!(lat.concurrency, 32);
        // ⌈500/32⌉ × 0.1 s = 1.6 s.
        let bound = lat.bound(Some(3e9)).unwrap();
        assert!((bound - 1.6).abs() < 1e-9, "{bound}");

        let rr = p.scenario("request-rate").unwrap();
        assert_eq!((rr.file_count(), rr.files()[0].size), (2000, 4096));
        assert_eq!(rr.bound(Some(3e9)), None);

        let big = p.scenario("big").unwrap();
        assert_eq!(big.total_bytes(), GIB);
        assert_eq!(big.split, 0, "each tool's default connections");
        let bound = big.bound(Some(2e9)).unwrap();
        assert!((bound - GIB as f64 / 2e9).abs() < 1e-9);
        assert_eq!(big.bound(None), None);

        assert!(big.verify, "parget is handed the big file's digest");
        assert!(!big.verifying_row, "its one row verifies");
        // The lists: parget's row does the peers' work, a second row
        // verifies.
        for list in [&lat, &rr] {
            assert!(!list.verify && list.verifying_row, "{}", list.name);
        }
        assert_eq!(big.origin, Origin::Nginx);

        // 256 MiB / (20 MiB/s × 16) = 0.8 s.
        let thr = p.scenario("throttled").unwrap();
        let bound = thr.bound(Some(3e9)).unwrap();
        assert!((bound - 0.8).abs() < 1e-9, "{bound}");
        assert_eq!(
            (thr.rate, thr.split, thr.verify, thr.verifying_row),
            (20 * MIB, 16, false, false)
        );
        assert!(
            thr.title.contains("20 MiB/s per connection"),
            "{}",
            thr.title
        );

        let mixed = p.scenario("mixed").unwrap();
        assert_eq!((mixed.file_count(), mixed.concurrency), (60, 32));
        assert!(!mixed.verify && mixed.verifying_row);
        // No latency from nginx: the bytes over the loopback ceiling.
        let bound = mixed.bound(Some(1e9)).unwrap();
        assert!((bound - mixed.total_bytes() as f64 / 1e9).abs() < 1e-9);
        assert_eq!(mixed.bound(None), None);

        // The shared bottleneck: bytes over the link, whatever the loopback.
        let nbig = p.scenario("netns-big").unwrap();
        assert_eq!(nbig.link_bits, Some(400_000_000));
        let bound = nbig.bound(Some(3e9)).unwrap();
        assert!((bound - nbig.total_bytes() as f64 * 8.0 / 4e8).abs() < 1e-9);
        assert!(nbig.in_netns() && !big.in_netns());
        assert!(nbig.verify && !nbig.verifying_row);
        let nfiles = p.scenario("netns-files").unwrap();
        assert!(!nfiles.verify && nfiles.verifying_row);
        assert_eq!((nfiles.file_count(), nfiles.concurrency), (2000, 32));
        let mut p2 = p.clone();
        p2.set("netns.mbit=100").unwrap();
        assert_eq!(
            p2.scenario("netns-files").unwrap().link_bits,
            Some(100_000_000)
        );
        assert!(p2
            .scenario("netns-files")
            .unwrap()
            .title
            .contains("100 Mbit/s"));

        let pag = p.scenario("paginated").unwrap();
        assert_eq!(pag.file_count(), 500);
        assert_eq!(pag.origin, Origin::Testbed);
        assert!(!pag.verify && !pag.verifying_row);
        assert_eq!(lat.origin, Origin::Testbed);
        assert_eq!(rr.origin, Origin::Nginx);
        assert!((pag.bound(None).unwrap() - 0.6).abs() < 1e-9);
    }

    #[test]
    fn list_length_scenarios_grow_tenfold() {
        let p = Params::new(false);
        let counts: Vec<usize> = LIST_LENGTH
            .iter()
            .map(|name| p.scenario(name).unwrap().file_count())
            .collect();
        assert_eq!(counts, [10_000, 100_000, 1_000_000]);
        let big = p.scenario("list-1e6").unwrap();
        assert_eq!(big.origin, Origin::Testbed, "no million files on disk");
        assert!(!big.bytes_bound, "reported in files/s");
        assert_eq!(big.bound(Some(3e9)), None);
        let names: std::collections::BTreeSet<&str> =
            big.files().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names.len(), 1_000_000, "every file its own name");
        assert!(big.url("http://h", &big.files()[0]).ends_with("?size=16"));
    }

    #[test]
    fn smoke_shrinks_every_scenario() {
        let full = Params::new(false);
        let smoke = Params::new(true);
        for name in NAMES {
            let f = full.scenario(name).unwrap();
            let s = smoke.scenario(name).unwrap();
            assert!(s.file_count() <= f.file_count(), "{name}");
            assert!(
                s.total_bytes() <= f.total_bytes() / 8 || f.total_bytes() < MIB,
                "{name}"
            );
            let bound = |x: &Scenario| x.bound(Some(3e9)).unwrap_or(0.0);
            assert!(bound(&s) <= bound(&f), "{name}");
        }
    }

    #[test]
    fn params_are_settable_with_suffixes() {
        let mut p = Params::new(false);
        p.set("big.size=512M").unwrap();
        p.set("throttled.rate=10MB").unwrap();
        p.set("latency.files = 1_000").unwrap();
        assert_eq!(p.get("big.size"), 512 * MIB);
        assert_eq!(p.get("throttled.rate"), 10_000_000);
        assert_eq!(p.scenario("latency").unwrap().file_count(), 1000);
        assert!(p.set("big.nope=1").is_err());
        assert!(p.set("big.size").is_err());
        assert!(p.set("big.size=12Q").is_err());
        assert!(p.scenario("nope").is_err());
        p.set("mixed.min=2M").unwrap();
        p.set("mixed.max=1M").unwrap();
        assert!(p.scenario("mixed").is_err());
    }

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(parse_size("16384").unwrap(), 16384);
        assert_eq!(parse_size("16K").unwrap(), 16384);
        assert_eq!(parse_size("16kib").unwrap(), 16384);
        assert_eq!(parse_size("1G").unwrap(), GIB);
        assert_eq!(parse_size("20MB").unwrap(), 20_000_000);
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
        assert_eq!(Bytes(16 * KIB).to_string(), "16 KiB");
        assert_eq!(Bytes(GIB).to_string(), "1 GiB");
        assert_eq!(Bytes(3 * MIB / 2).to_string(), "1.5 MiB");
        assert_eq!(Bytes(100).to_string(), "100 B");
        assert_eq!(Rate(20_000_000).to_string(), "20 MB/s");
        assert_eq!(Rate(1_500_000_000).to_string(), "1.5 GB/s");
        assert_eq!(Rate(20 * MIB).to_string(), "20 MiB/s");
    }

    #[test]
    fn mixed_sizes_span_the_range_with_unique_names() {
        let files = mixed_files(60, KIB, 64 * MIB);
        assert_eq!(files.len(), 60);
        let sizes: Vec<u64> = files.iter().map(|f| f.size).collect();
        assert_eq!(*sizes.iter().min().unwrap(), KIB);
        assert_eq!(*sizes.iter().max().unwrap(), 64 * MIB);
        let mut sorted = sizes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 60, "every size distinct");
        // Interleaved: the list is not sorted by size.
        assert!(sizes.windows(2).any(|w| w[0] > w[1]));
        assert!(sizes.windows(2).any(|w| w[0] < w[1]));
        let mut names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 60);
        // Edge cases.
        assert_eq!(mixed_files(1, 5, 10)[0].size, 10);
        assert_eq!(mixed_files(2, 5, 5).len(), 2);
    }

    #[test]
    fn testbed_urls_carry_size_and_latency_nginx_urls_are_paths() {
        let p = Params::new(false);
        let lat = p.scenario("latency").unwrap();
        assert_eq!(
            lat.url("http://127.0.0.1:1", &lat.files()[3]),
            "http://127.0.0.1:1/lat/f00003.bin?size=16384&latency_ms=100"
        );
        // nginx serves files by path: no query.
        let thr = p.scenario("throttled").unwrap();
        assert_eq!(
            thr.url("http://h", &thr.files()[0]),
            "http://h/thr/throttled.bin"
        );
        assert!(thr.single_file());
        assert!(!lat.single_file());
    }
}
