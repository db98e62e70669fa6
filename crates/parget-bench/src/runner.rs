//! Running the bench: builds, the output directory (a fresh tmpfs when one
//! can be mounted), the loopback ceiling, the network namespace when asked,
//! then every scenario with every tool, round-robin, each run measured and
//! its output verified.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use sha2::{Digest as _, Sha256};

use crate::client::{Conn, HttpUrl};
use crate::measure::measure;
use crate::netns::{self, Netns};
use crate::report::{self, Machine, Report, ScenarioReport, VerifiedLimit};
use crate::scenario::{self, Origin as Kind, Params, Rate, Scenario, Work, GIB, MIB};
use crate::server::{self, Origin, Server};
use crate::summary::{best_peer, rank, Sample, ToolResult};
use crate::tools::{self, Env, Tool};
use crate::verify;

/// The Python clients (file name, text), embedded so the binary runs from
/// anywhere.
const CLIENTS: &[(&str, &str)] = &[
    (
        "aiohttp_paginated.py",
        include_str!("../clients/aiohttp_paginated.py"),
    ),
    (
        "aiohttp_download.py",
        include_str!("../clients/aiohttp_download.py"),
    ),
    (
        "hf_transfer_download.py",
        include_str!("../clients/hf_transfer_download.py"),
    ),
    (
        "httpx_download.py",
        include_str!("../clients/httpx_download.py"),
    ),
    (
        "parget_download.py",
        include_str!("../clients/parget_download.py"),
    ),
    (
        "requests_download.py",
        include_str!("../clients/requests_download.py"),
    ),
];

/// The modules the Python clients import.
const PYTHON_MODULES: &[&str] = &["aiohttp", "hf_transfer", "httpx", "parget", "requests"];

/// The Python interpreters to look for client modules in, in order:
/// `$PARGET_BENCH_PYTHON`, the bench's venv (`scripts/bench-python.sh`),
/// the test suite's venv (`scripts/test.sh`, which has the `parget`
/// package built from this tree), then `python3` on `PATH`.
fn python_candidates() -> Vec<PathBuf> {
    let target = default_bin_dir()
        .parent()
        .map_or_else(|| workspace_dir().join("target"), Path::to_owned);
    let mut candidates: Vec<PathBuf> = std::env::var_os("PARGET_BENCH_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.push(target.join("bench-venv/bin/python"));
    candidates.push(target.join("py-venv/bin/python"));
    candidates.extend(tools::which("python3"));
    let mut seen = Vec::new();
    for candidate in candidates {
        if candidate.is_file() && !seen.contains(&candidate) {
            seen.push(candidate);
        }
    }
    seen
}

/// Set by the first Ctrl-C: the run in progress is stopped by the same
/// signal, and the bench then stops at the next check, undoing what it set
/// up (the network namespace, nginx, the tmpfs) on its way out.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C handler: the first press stops the bench cleanly at
/// the next check, a second one tears the network namespace down at once
/// and exits.
pub fn install_interrupt_handler() -> Result<()> {
    ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            netns::teardown(&netns::Names::bench());
            std::process::exit(130);
        }
        log("interrupted: stopping after cleaning up (Ctrl-C again to exit at once)");
    })
    .context("installing the Ctrl-C handler")
}

fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Scenario names, in order.
    pub scenarios: Vec<String>,
    /// Tools to run (all when empty).
    pub tools: Vec<Tool>,
    /// Runs per tool.
    pub runs: usize,
    /// The shrunk smoke version.
    pub smoke: bool,
    /// Resolved parameters.
    pub params: Params,
    /// Where outputs go; `None` mounts a tmpfs (or falls back to a temp dir).
    pub out_dir: Option<PathBuf>,
    /// Where the release binaries are.
    pub bin_dir: PathBuf,
    /// Build them with cargo first.
    pub build: bool,
    /// A tool whose first run is slower than this is not repeated.
    pub repeat_limit: Duration,
    /// A run taking longer is killed and counts as a failure.
    pub timeout: Duration,
    /// Set up the shared-bottleneck network namespace for the `netns-*`
    /// scenarios (root only).
    pub netns: bool,
}

/// The workspace this binary was built from.
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `target/release` of the workspace (honouring `CARGO_TARGET_DIR`).
pub fn default_bin_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("target"));
    target.join("release")
}

fn log(message: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{message}");
}

/// Builds the release binaries parget-bench runs.
fn build() -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    log("building the release binaries (parget, parget-testbed, examples/paginated)...");
    let status = Command::new(cargo)
        .current_dir(workspace_dir())
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "parget-cli",
            "-p",
            "parget-testbed",
            "-p",
            "parget",
            "--bins",
            "--example",
            "paginated",
        ])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build failed");
    }
    Ok(())
}

/// The output root: a fresh tmpfs, unmounted and removed on drop.
struct OutRoot {
    path: PathBuf,
    mounted: bool,
    created: bool,
    description: String,
}

impl OutRoot {
    fn new(explicit: Option<&Path>) -> Result<OutRoot> {
        if let Some(path) = explicit {
            std::fs::create_dir_all(path)
                .with_context(|| format!("creating {}", path.display()))?;
            let root = path.join(format!("parget-bench.{}", std::process::id()));
            std::fs::create_dir_all(&root)?;
            return Ok(OutRoot {
                description: format!("{} (as given by --out-dir)", root.display()),
                path: root,
                mounted: false,
                created: true,
            });
        }
        let path = std::env::temp_dir().join(format!("parget-bench.{}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "mode=0700", "parget-bench"])
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let description = if mounted {
            format!("a fresh tmpfs mounted at {}", path.display())
        } else {
            format!(
                "{} on the disk (no tmpfs could be mounted: many-file timings include the file system)",
                path.display()
            )
        };
        Ok(OutRoot {
            path,
            mounted,
            created: true,
            description,
        })
    }
}

impl Drop for OutRoot {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.path).status();
        }
        if self.created {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_gib,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

/// A plain read of `size` bytes from nginx over one connection to
/// /dev/null, best of `tries`: bytes per second.
fn loopback_ceiling(root: &Path, size: u64, tries: usize) -> Result<f64> {
    let file = scenario::FileSpec {
        path: "/ceiling.bin".into(),
        name: "ceiling.bin".into(),
        size,
    };
    let nginx = server::start_nginx(&[file], 0, IpAddr::V4(Ipv4Addr::LOCALHOST), root)?;
    let url = HttpUrl::parse(&nginx.url("/ceiling.bin"))?;
    let mut null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    let mut best: f64 = 0.0;
    for _ in 0..tries {
        let started = Instant::now();
        let mut conn = Conn::connect(&url.authority)?;
        let head = conn.send("GET", &url.target, &[], b"")?;
        if head.status != 200 {
            bail!("ceiling: status {}", head.status);
        }
        conn.read_body(&head, |chunk| null.write_all(chunk))?;
        best = best.max(size as f64 / started.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Runs the bench and returns the report, and whether one of our own tools
/// (parget from the CLI or Python, the baseline, the seed's aiohttp client
/// of the paginated API) failed.
pub fn run(options: &Options) -> Result<(Report, bool)> {
    if options.build {
        build()?;
    }
    let bin = &options.bin_dir;
    let root = OutRoot::new(options.out_dir.as_deref())?;
    let clients = root.path.join("clients");
    std::fs::create_dir_all(&clients)?;
    for (name, text) in CLIENTS {
        std::fs::write(clients.join(name), text)?;
    }
    let pythons = python_candidates();
    let python_with = PYTHON_MODULES
        .iter()
        .filter_map(|&module| {
            let python = pythons.iter().find(|p| tools::python_has(p, module))?;
            Some((module, python.clone()))
        })
        .collect();
    let env = Env {
        bench: std::env::current_exe().context("locating parget-bench")?,
        parget: bin.join("parget"),
        testbed: bin.join("parget-testbed"),
        paginated: bin.join("examples").join("paginated"),
        clients,
        pythons,
        python_with,
    };
    if !env.testbed.is_file() {
        bail!(
            "{} is not built: run `cargo build --release -p parget-testbed` (or drop --no-build)",
            env.testbed.display()
        );
    }
    let mut notes = Vec::new();
    if cfg!(debug_assertions) {
        notes.push(
            "**Warning:** parget-bench is a debug build, so the blocking baseline (built into it) is slow: run it with `cargo run --release -p parget-bench`.".to_owned(),
        );
    }
    log(&format!("outputs: {}", root.description));
    let wants_netns = options
        .scenarios
        .iter()
        .any(|s| scenario::NETNS.contains(&s.as_str()));
    let netns = if wants_netns {
        if !options.netns {
            bail!("the netns-* scenarios run only with --netns (as root)");
        }
        let bits = options.params.link_bits();
        let n = Netns::create(netns::Names::bench(), bits)?;
        log(&format!(
            "network namespace {} up: veth {} ({}) to {} ({}), {} Mbit/s each way",
            n.names().namespace,
            n.names().host_link,
            n.names().host_ip,
            n.names().client_link,
            n.names().client_ip(),
            bits / 1_000_000
        ));
        Some(n)
    } else {
        None
    };

    let wants_ceiling = options.scenarios.iter().any(|s| {
        s != "paginated" && s != "request-rate" && !scenario::LIST_LENGTH.contains(&s.as_str())
    });
    let ceiling = if wants_ceiling {
        let size = if options.smoke { 64 * MIB } else { GIB };
        let c = loopback_ceiling(&root.path, size, 3).context("measuring the loopback ceiling")?;
        log(&format!("loopback ceiling: {:.0} MB/s", c / 1e6));
        Some(c)
    } else {
        None
    };

    let mut scenarios = Vec::new();
    let mut own_failed = false;
    for name in &options.scenarios {
        let scenario = options.params.scenario(name)?;
        let (report, failed) = run_scenario(
            &scenario,
            options,
            &env,
            &root.path,
            ceiling,
            netns.as_ref(),
        )
        .with_context(|| format!("scenario {name}"))?;
        own_failed |= failed;
        scenarios.push(report);
    }
    let targets = if options.smoke {
        Vec::new()
    } else {
        report::judge(&scenarios)
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let report = Report {
        date: report::date(now),
        machine: machine(),
        runs: options.runs,
        smoke: options.smoke,
        params: options.params.all().clone(),
        outputs: root.description.clone(),
        ceiling_bytes_per_s: ceiling,
        notes,
        netns: netns.as_ref().map(|n| {
            format!(
                "a veth pair into a network namespace capped at {} Mbit/s each way (tc tbf) for the netns-* scenarios",
                n.bits() / 1_000_000
            )
        }),
        scenarios,
        targets,
    };
    Ok((report, own_failed))
}

/// What a scenario checks outputs against.
enum Check {
    Files(Vec<verify::Expected>),
    Paginated(Vec<String>),
}

struct Slot {
    tool: Tool,
    program: PathBuf,
    samples: Vec<Sample>,
    failure: Option<String>,
    note: Option<String>,
    /// What nginx's log said about the first run.
    connections: Option<String>,
    stop: bool,
}

fn server_args(scenario: &Scenario) -> Vec<String> {
    match scenario.work {
        Work::Paginated { endpoints, lag_ms } => vec![
            "--listing-files".into(),
            endpoints.to_string(),
            "--listing-lag-ms".into(),
            lag_ms.to_string(),
        ],
        Work::Files(_) => Vec::new(),
    }
}

fn run_scenario(
    scenario: &Scenario,
    options: &Options,
    env: &Env,
    root: &Path,
    ceiling: Option<f64>,
    netns: Option<&Netns>,
) -> Result<(ScenarioReport, bool)> {
    log(&format!("== {}", scenario.title));
    let netns = if scenario.in_netns() {
        Some(netns.context("a netns-* scenario needs --netns")?)
    } else {
        None
    };
    let listen = match netns {
        Some(n) => IpAddr::V4(n.names().host_ip),
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let server = match scenario.origin {
        Kind::Testbed => Origin::Testbed(Server::start(&env.testbed, &server_args(scenario))?),
        Kind::Nginx => Origin::Nginx(server::start_nginx(
            scenario.files(),
            scenario.rate,
            listen,
            root,
        )?),
    };
    let server_note = match (&server, scenario.rate) {
        (Origin::Testbed(_), _) => "parget-testbed".to_owned(),
        (Origin::Nginx(_), rate) => {
            let mut note = format!(
                "{}, 1 worker, sendfile, keep-alive",
                server::nginx_version().unwrap_or_else(|| "nginx".into())
            );
            if rate > 0 {
                note.push_str(&format!(", limit_rate {} per connection", Rate(rate)));
            }
            if let Some(n) = netns {
                note.push_str(&format!(
                    ", on {} with the tools in the network namespace behind a {} Mbit/s link",
                    n.names().host_ip,
                    n.bits() / 1_000_000
                ));
            }
            note
        }
    };
    let base = server.base();
    let check = match &scenario.work {
        Work::Files(files) => Check::Files(files.iter().map(verify::expected).collect()),
        Work::Paginated { endpoints, .. } => {
            let listing = server
                .testbed()
                .context("the paginated API is the testbed's")?
                .listing()?;
            if listing.len() != *endpoints {
                bail!(
                    "the server lists {} endpoints, not {endpoints}",
                    listing.len()
                );
            }
            Check::Paginated(listing)
        }
    };
    let dir = root.join(scenario.name);
    let mut slots = Vec::new();
    let mut skipped = Vec::new();
    for &tool in tools::ALL {
        if !options.tools.is_empty() && !options.tools.contains(&tool) {
            continue;
        }
        if let Err(why) = tool.applies_to(scenario) {
            if let Some(why) = why {
                skipped.push((tool.name().to_owned(), why.to_owned()));
            }
            continue;
        }
        match tools::locate(tool, env, scenario) {
            Ok(program) => slots.push(Slot {
                tool,
                program,
                samples: Vec::new(),
                failure: None,
                note: None,
                connections: None,
                stop: false,
            }),
            Err(why) => skipped.push((tool.name().to_owned(), why)),
        }
    }
    // The verified-download limit's second half: SHA-256 of the same bytes
    // on one core, from memory, in this run.
    let sha256_s = if scenario.name == "big" {
        match &check {
            Check::Files(expected) => Some(sha256_seconds(&scenario.files()[0], &expected[0])?),
            Check::Paginated(_) => None,
        }
    } else {
        None
    };
    for round in 0..options.runs.max(1) {
        for slot in slots.iter_mut() {
            check_interrupted()?;
            if slot.stop || slot.failure.is_some() {
                continue;
            }
            let run_dir = dir.join(format!("{}-{round}", slot.tool.name()));
            let out = run_dir.join("out");
            std::fs::create_dir_all(&out)?;
            let invocation = tools::invocation(
                slot.tool,
                &slot.program,
                env,
                scenario,
                &base,
                tools::RunDirs {
                    out: &out,
                    work: &run_dir,
                },
                match &check {
                    Check::Files(expected) => expected,
                    Check::Paginated(_) => &[],
                },
            );
            for (path, text) in &invocation.inputs {
                std::fs::write(path, text)?;
            }
            std::fs::create_dir_all(&invocation.result_dir)?;
            if round == 0 {
                let flags = tools::flags_note(&invocation);
                slot.note = (!flags.is_empty()).then(|| format!("`{flags}`"));
            }
            match &server {
                Origin::Testbed(t) if matches!(check, Check::Paginated(_)) => t.reset_stats()?,
                Origin::Nginx(n) => n.clear_access_log()?,
                Origin::Testbed(_) => {}
            }
            let argv = match netns {
                Some(n) => n.wrap(&invocation.argv),
                None => invocation.argv.clone(),
            };
            let cpu_before = server.cpu_seconds()?;
            let measured = measure(&env.bench, &argv, &run_dir, "log", options.timeout);
            // Ctrl-C reaches the tool and the servers too: stop here, before
            // their absence reads as a failure.
            check_interrupted()?;
            let server_cpu = server.cpu_seconds()? - cpu_before;
            let outcome = match measured {
                Err(e) => Err(format!("{e:#}")),
                Ok(m) if m.timed_out => {
                    Err(format!("killed after {} s", options.timeout.as_secs()))
                }
                Ok(m) if m.code != Some(0) => Err(format!(
                    "exit status {}: {}",
                    m.code.map_or("signal".to_owned(), |c| c.to_string()),
                    tail(&run_dir.join("log.err"))
                )),
                Ok(m) => {
                    let verdict = match &check {
                        Check::Files(expected) => verify::tree(&out, &invocation.result_dir)
                            .and_then(|()| verify::files(&invocation.result_dir, expected)),
                        Check::Paginated(endpoints) => server
                            .testbed()
                            .context("the paginated API is the testbed's")
                            .and_then(Server::stats)
                            .map_err(|e| format!("{e:#}"))
                            .and_then(|stats| verify::paginated(&out, endpoints, &stats)),
                    };
                    verdict.map(|()| m)
                }
            };
            match outcome {
                Ok(m) => {
                    log(&format!(
                        "{}: {} run {}: {:.3} s, {:.2} CPU s, ok",
                        scenario.name,
                        slot.tool.name(),
                        round + 1,
                        m.wall,
                        m.user + m.sys
                    ));
                    slot.samples.push(Sample {
                        wall: m.wall,
                        user: m.user,
                        sys: m.sys,
                        max_rss_kib: m.max_rss_kib,
                        server_cpu,
                    });
                    if round == 0 && options.runs > 1 && m.wall > options.repeat_limit.as_secs_f64()
                    {
                        slot.stop = true;
                    }
                    if round == 0 {
                        if let Some(nginx) = server.nginx() {
                            slot.connections = connections_note(nginx);
                        }
                    }
                    let _ = std::fs::remove_dir_all(&run_dir);
                }
                Err(why) => {
                    log(&format!(
                        "{}: {} run {}: FAILED: {why} (kept in {})",
                        scenario.name,
                        slot.tool.name(),
                        round + 1,
                        run_dir.display()
                    ));
                    slot.failure = Some(why);
                    // The failed output stays for inspection, but a big one
                    // would fill the tmpfs.
                    if scenario.total_bytes() > 64 * MIB {
                        let _ = std::fs::remove_dir_all(&out);
                    }
                }
            }
        }
    }

    let mut own_failed = false;
    let mut results = Vec::new();
    for slot in slots {
        let is_parget = slot.tool.is_parget();
        let name = if is_parget && matches!(scenario.work, Work::Paginated { .. }) {
            "parget (examples/paginated)"
        } else {
            slot.tool.name()
        };
        let mut result = match slot.failure {
            Some(why) => {
                own_failed |= match slot.tool {
                    Tool::Parget | Tool::PargetVerifying | Tool::PythonParget | Tool::Baseline => {
                        true
                    }
                    // The seed's client is ours; the list clients are peers.
                    Tool::Aiohttp => matches!(scenario.work, Work::Paginated { .. }),
                    _ => false,
                };
                ToolResult::failed(name, is_parget, why)
            }
            None => ToolResult::measured(name, is_parget, slot.samples),
        };
        result.version = tools::version(slot.tool, &slot.program);
        let mut notes: Vec<String> = slot.note.into_iter().collect();
        notes.extend(slot.connections);
        if slot.stop {
            notes.push(format!(
                "first run over {} s, not repeated",
                options.repeat_limit.as_secs()
            ));
        }
        result.note = (!notes.is_empty()).then(|| notes.join("; "));
        results.push(result);
    }
    let bound = scenario.bound(ceiling);
    rank(
        &mut results,
        scenario.file_count(),
        scenario.total_bytes(),
        bound,
    );
    let verified_limit = sha256_s.map(|sha| {
        let peer = best_peer(&results).and_then(|p| p.wall.map(|w| (p.tool.clone(), w.median)));
        VerifiedLimit::new(scenario.total_bytes(), sha, peer)
    });
    let _ = std::fs::remove_dir_all(&dir);
    Ok((
        ScenarioReport {
            name: scenario.name.to_owned(),
            title: scenario.title.clone(),
            files: scenario.file_count(),
            bytes: scenario.total_bytes(),
            bound_s: bound,
            bound_note: scenario.bound_note(),
            bytes_bound: scenario.bytes_bound,
            results,
            skipped,
            server: server_note,
            verified_limit,
        },
        own_failed,
    ))
}

/// Seconds for SHA-256 of `file`'s bytes on this thread, from memory (best
/// of two passes, the bytes generated first): the one-core half of the
/// verified-download limit. The digest is checked against the expected one,
/// so the figure is for the right bytes.
fn sha256_seconds(file: &scenario::FileSpec, expected: &verify::Expected) -> Result<f64> {
    let len = usize::try_from(file.size).context("the file does not fit in memory")?;
    let mut bytes = vec![0u8; len];
    parget_testbed::fill(&file.path, 0, &mut bytes);
    let mut best = f64::INFINITY;
    for _ in 0..2 {
        let started = Instant::now();
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        best = best.min(started.elapsed().as_secs_f64());
        if digest != expected.sha256 {
            bail!(
                "SHA-256 of the generated bytes of {} differs from the expected one",
                file.path
            );
        }
    }
    log(&format!(
        "SHA-256 of {} on one core from memory: {:.3} s ({:.2} GB/s)",
        file.name,
        best,
        file.size as f64 / best / 1e9
    ));
    Ok(best)
}

/// What nginx's access log says about one run: how many connections
/// carried how many requests (and how many of them asked for a range).
fn connections_note(nginx: &parget_testbed::external::Nginx) -> Option<String> {
    // nginx logs a request a moment after its last byte went out.
    std::thread::sleep(Duration::from_millis(50));
    let entries = nginx.access_log().ok()?;
    let connections: BTreeSet<u64> = entries.iter().map(|e| e.connection).collect();
    let ranges = entries.iter().filter(|e| e.range.is_some()).count();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut note = format!(
        "nginx saw {} carrying {}",
        plural(connections.len(), "connection"),
        plural(entries.len(), "request")
    );
    if ranges > 0 {
        note.push_str(&format!(" ({ranges} with Range)"));
    }
    Some(note)
}

/// The last line of a log, for a failure message.
fn tail(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .chars()
        .take(300)
        .collect()
}
