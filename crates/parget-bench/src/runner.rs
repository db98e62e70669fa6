//! Running the bench: builds, the output directory (a fresh tmpfs when one
//! can be mounted), the loopback ceiling, then every scenario with every
//! tool, round-robin, each run measured and its output verified.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};

use crate::client::{Conn, HttpUrl};
use crate::measure::measure;
use crate::report::{self, Machine, Report, ScenarioReport};
use crate::scenario::{Params, Scenario, Work, GIB, MIB};
use crate::server::Server;
use crate::summary::{rank, Sample, ToolResult};
use crate::tools::{self, Env, Tool};
use crate::verify;

/// The Python client, embedded so the binary runs from anywhere.
const AIOHTTP_CLIENT: &str = include_str!("../clients/aiohttp_paginated.py");

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

/// A plain read of `size` bytes over one connection to /dev/null, best of
/// `tries`: bytes per second.
fn loopback_ceiling(testbed: &Path, size: u64, tries: usize) -> Result<f64> {
    let server = Server::start(testbed, &[])?;
    let url = HttpUrl::parse(&format!("{}/ceiling.bin?size={size}", server.base()))?;
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

/// Reads `parget --help` for `--split` (segmented downloads).
fn parget_split(parget: &Path) -> bool {
    let help = Command::new(parget)
        .arg("--help")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    help.contains("--split")
}

/// Runs the bench and returns the report, and whether one of our own tools
/// (parget, the baseline, the aiohttp client) failed.
pub fn run(options: &Options) -> Result<(Report, bool)> {
    if options.build {
        build()?;
    }
    let bin = &options.bin_dir;
    let root = OutRoot::new(options.out_dir.as_deref())?;
    let script = root.path.join("aiohttp_paginated.py");
    std::fs::write(&script, AIOHTTP_CLIENT)?;
    let parget = bin.join("parget");
    let parget_split = parget_split(&parget);
    let python = tools::which("python3").filter(|p| tools::python_has_aiohttp(p));
    let env = Env {
        bench: std::env::current_exe().context("locating parget-bench")?,
        parget,
        testbed: bin.join("parget-testbed"),
        paginated: bin.join("examples").join("paginated"),
        aiohttp_script: script,
        python,
        parget_split,
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
    if !env.parget_split {
        notes.push(
            "parget has no `--split` flag yet: it fetches every file over one connection."
                .to_owned(),
        );
    }
    log(&format!("outputs: {}", root.description));

    let wants_ceiling = options
        .scenarios
        .iter()
        .any(|s| s != "paginated" && s != "request-rate");
    let ceiling = if wants_ceiling {
        let size = if options.smoke { 64 * MIB } else { GIB };
        let c =
            loopback_ceiling(&env.testbed, size, 3).context("measuring the loopback ceiling")?;
        log(&format!("loopback ceiling: {:.0} MB/s", c / 1e6));
        Some(c)
    } else {
        None
    };

    let mut scenarios = Vec::new();
    let mut own_failed = false;
    for name in &options.scenarios {
        let scenario = options.params.scenario(name)?;
        let (report, failed) = run_scenario(&scenario, options, &env, &root.path, ceiling)
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
) -> Result<(ScenarioReport, bool)> {
    log(&format!("== {}", scenario.title));
    let server = Server::start(&env.testbed, &server_args(scenario))?;
    let check = match &scenario.work {
        Work::Files(files) => Check::Files(files.iter().map(verify::expected).collect()),
        Work::Paginated { endpoints, .. } => {
            let listing = server.listing()?;
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
            if tool != Tool::Aiohttp || matches!(scenario.work, Work::Paginated { .. }) {
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
                stop: false,
            }),
            Err(why) => skipped.push((tool.name().to_owned(), why)),
        }
    }
    for round in 0..options.runs.max(1) {
        for slot in slots.iter_mut() {
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
                server.base(),
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
            if matches!(check, Check::Paginated(_)) {
                server.reset_stats()?;
            }
            let cpu_before = server.cpu_seconds()?;
            let measured = measure(
                &env.bench,
                &invocation.argv,
                &run_dir,
                "log",
                options.timeout,
            );
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
                            .stats()
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
        let is_parget = slot.tool == Tool::Parget;
        let name = if is_parget && matches!(scenario.work, Work::Paginated { .. }) {
            "parget (examples/paginated)"
        } else {
            slot.tool.name()
        };
        let mut result = match slot.failure {
            Some(why) => {
                own_failed |= matches!(slot.tool, Tool::Parget | Tool::Baseline | Tool::Aiohttp);
                ToolResult::failed(name, is_parget, why)
            }
            None => ToolResult::measured(name, is_parget, slot.samples),
        };
        result.version = tools::version(slot.tool, &slot.program);
        let mut notes: Vec<String> = slot.note.into_iter().collect();
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
        },
        own_failed,
    ))
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
