//! The tools side by side: which are installed, and the command line and
//! input files each gets for a scenario. Building commands is pure; finding
//! tools reads `PATH`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::scenario::{Scenario, Work, MIB};

/// A tool the bench can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tool {
    /// parget: the CLI for file scenarios, `examples/paginated` for the API.
    Parget,
    /// The parget CLI again, handed every file's SHA-256 in its list (the
    /// lists only: see [`Scenario::verifying_row`]).
    PargetVerifying,
    /// curl `--parallel`.
    Curl,
    /// aria2c.
    Aria2c,
    /// wget2.
    Wget2,
    /// axel (single files only).
    Axel,
    /// Hugging Face's hf_transfer (Python extension in Rust), through a
    /// small client script (single files only).
    HfTransfer,
    /// The seeds' thread-downloader (PyPI `thread-downloader`), its CLI
    /// (the throttled file only: it holds the whole file in memory).
    ThreadDownloader,
    /// The blocking thread-pool baseline built into this binary.
    Baseline,
    /// parget from Python (`parget.download_many`, `parget.download`), the
    /// package of `crates/parget-py`, through a small client script.
    PythonParget,
    /// Python aiohttp: the seed's client for the paginated API, a client
    /// script for lists and the big file.
    Aiohttp,
    /// Python httpx's asyncio client, through a client script.
    Httpx,
    /// Python requests with a thread pool, through a client script.
    Requests,
}

/// Every tool, in table order.
pub const ALL: &[Tool] = &[
    Tool::Parget,
    Tool::PargetVerifying,
    Tool::Curl,
    Tool::Aria2c,
    Tool::Wget2,
    Tool::Axel,
    Tool::HfTransfer,
    Tool::ThreadDownloader,
    Tool::Baseline,
    Tool::PythonParget,
    Tool::Aiohttp,
    Tool::Httpx,
    Tool::Requests,
];

/// The scenarios the Python list clients (parget from Python, aiohttp,
/// httpx, requests) run: many files, and one big file.
pub const PYTHON_SCENARIOS: &[&str] = &["latency", "request-rate", "big"];

/// Where each Python client comes from: its script (in
/// `crates/parget-bench/clients/`, written out at start) and the module it
/// imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PythonClient {
    /// The script's file name.
    pub script: &'static str,
    /// The module that must import.
    pub module: &'static str,
    /// How to install the module.
    pub install: &'static str,
}

impl Tool {
    /// The tool's name in tables and on the command line (`--tool`).
    pub fn name(self) -> &'static str {
        match self {
            Tool::Parget => "parget",
            Tool::PargetVerifying => "parget-verifying",
            Tool::Curl => "curl",
            Tool::Aria2c => "aria2c",
            Tool::Wget2 => "wget2",
            Tool::Axel => "axel",
            Tool::HfTransfer => "hf_transfer",
            Tool::ThreadDownloader => "thread-downloader",
            Tool::Baseline => "blocking-baseline",
            Tool::PythonParget => "python-parget",
            Tool::Aiohttp => "python-aiohttp",
            Tool::Httpx => "python-httpx",
            Tool::Requests => "python-requests",
        }
    }

    /// The Python client of `tool` in `scenario`, if it is one.
    pub fn python_client(self, scenario: &Scenario) -> Option<PythonClient> {
        let client = |script, module, install| {
            Some(PythonClient {
                script,
                module,
                install,
            })
        };
        let paginated = matches!(scenario.work, Work::Paginated { .. });
        match self {
            Tool::PythonParget => client(
                "parget_download.py",
                "parget",
                "pip install ./crates/parget-py",
            ),
            Tool::Aiohttp if paginated => {
                client("aiohttp_paginated.py", "aiohttp", "pip install aiohttp")
            }
            Tool::Aiohttp => client("aiohttp_download.py", "aiohttp", "pip install aiohttp"),
            Tool::Httpx => client("httpx_download.py", "httpx", "pip install httpx"),
            Tool::Requests => client("requests_download.py", "requests", "pip install requests"),
            Tool::HfTransfer => client(
                "hf_transfer_download.py",
                "hf_transfer",
                "pip install hf_transfer",
            ),
            _ => None,
        }
    }

    /// True for the rows of parget itself (the CLI, its examples, the
    /// Python package): never "the best peer".
    pub fn is_parget(self) -> bool {
        matches!(
            self,
            Tool::Parget | Tool::PargetVerifying | Tool::PythonParget
        )
    }

    /// The tool called `name`.
    pub fn from_name(name: &str) -> Option<Tool> {
        let alias = match name {
            "baseline" => "blocking-baseline",
            "aiohttp" => "python-aiohttp",
            "parget-py" => "python-parget",
            "httpx" => "python-httpx",
            "requests" => "python-requests",
            "hf-transfer" => "hf_transfer",
            other => other,
        };
        ALL.iter().copied().find(|t| t.name() == alias)
    }

    /// Whether the tool has a way to run `scenario` at all: `Err(Some(why))`
    /// is worth a note under the table, `Err(None)` goes unsaid (a tool
    /// made for one scenario is not listed under every other).
    pub fn applies_to(self, scenario: &Scenario) -> Result<(), Option<&'static str>> {
        let paginated = matches!(scenario.work, Work::Paginated { .. });
        match self {
            Tool::Parget => Ok(()),
            Tool::PargetVerifying if scenario.verifying_row => Ok(()),
            Tool::PargetVerifying => Err(None),
            Tool::Aiohttp if paginated => Ok(()),
            Tool::PythonParget | Tool::Aiohttp | Tool::Httpx | Tool::Requests => {
                if PYTHON_SCENARIOS.contains(&scenario.name) {
                    Ok(())
                } else {
                    Err(None)
                }
            }
            Tool::Baseline => Ok(()),
            Tool::ThreadDownloader if scenario.name == "throttled" => Ok(()),
            Tool::ThreadDownloader => Err(None),
            _ if paginated => Err(Some("no way to walk a paginated API")),
            Tool::Axel | Tool::HfTransfer if !scenario.single_file() => {
                Err(Some("one file per run only"))
            }
            _ => Ok(()),
        }
    }
}

/// Where the binaries are and what the installed tools can do.
#[derive(Debug, Clone)]
pub struct Env {
    /// This binary (the measuring helper and the baseline).
    pub bench: PathBuf,
    /// `parget` (release build).
    pub parget: PathBuf,
    /// `parget-testbed`.
    pub testbed: PathBuf,
    /// `examples/paginated`.
    pub paginated: PathBuf,
    /// The directory the Python client scripts were written to.
    pub clients: PathBuf,
    /// The Python interpreters that were looked at, in order of preference.
    pub pythons: Vec<PathBuf>,
    /// For each module a client needs, the first of `pythons` it imports in.
    pub python_with: std::collections::BTreeMap<&'static str, PathBuf>,
}

/// The program of `tool` for `scenario` on this machine, or why it is not
/// there.
pub fn locate(tool: Tool, env: &Env, scenario: &Scenario) -> Result<PathBuf, String> {
    let built = |p: &Path| {
        p.is_file()
            .then(|| p.to_owned())
            .ok_or_else(|| format!("{} is not built", p.display()))
    };
    match tool {
        Tool::Parget if matches!(scenario.work, Work::Paginated { .. }) => built(&env.paginated),
        Tool::Parget | Tool::PargetVerifying => built(&env.parget),
        Tool::Baseline => Ok(env.bench.clone()),
        Tool::PythonParget | Tool::Aiohttp | Tool::Httpx | Tool::Requests | Tool::HfTransfer => {
            let Some(client) = tool.python_client(scenario) else {
                return Err("no Python client for this scenario".into());
            };
            env.python_with.get(client.module).cloned().ok_or_else(|| {
                let looked: Vec<String> = env
                    .pythons
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                let looked = if looked.is_empty() {
                    "no Python found".to_owned()
                } else {
                    format!("not in {}", looked.join(", "))
                };
                format!(
                    "{} {looked} ({}, or `bash scripts/bench-python.sh`)",
                    client.module, client.install
                )
            })
        }
        // On PATH, or beside one of the Pythons looked at (the bench's
        // venv installs it).
        Tool::ThreadDownloader => which("thread-downloader")
            .or_else(|| {
                env.pythons
                    .iter()
                    .map(|python| python.with_file_name("thread-downloader"))
                    .find(|script| script.is_file())
            })
            .ok_or_else(|| {
                "not installed (pip install thread-downloader, or `bash scripts/bench-python.sh`)"
                    .to_owned()
            }),
        Tool::Curl => which("curl").ok_or_else(|| "not installed".into()),
        Tool::Aria2c => which("aria2c").ok_or_else(|| "not installed".into()),
        Tool::Wget2 => which("wget2").ok_or_else(|| "not installed".into()),
        Tool::Axel => which("axel").ok_or_else(|| "not installed".into()),
    }
}

/// `program` on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// The first line the tool prints about its version.
pub fn version(tool: Tool, program: &Path) -> Option<String> {
    let output = match tool {
        Tool::Baseline => return Some(format!("parget-bench {}", env!("CARGO_PKG_VERSION"))),
        Tool::PythonParget | Tool::Aiohttp | Tool::Httpx | Tool::Requests | Tool::HfTransfer => {
            let module = match tool {
                Tool::PythonParget => "parget",
                Tool::Aiohttp => "aiohttp",
                Tool::Httpx => "httpx",
                Tool::Requests => "requests",
                _ => "hf_transfer",
            };
            Command::new(program)
                .args([
                    "-c",
                    &format!(
                        "import sys, {module}; print('Python', sys.version.split()[0], '{module}', {module}.__version__)"
                    ),
                ])
                .output()
        }
        // Its CLI has no --version.
        Tool::ThreadDownloader => Command::new("python3")
            .args([
                "-c",
                "import importlib.metadata as m; print('thread-downloader', m.version('thread-downloader'))",
            ])
            .output(),
        _ => Command::new(program).arg("--version").output(),
    }
    .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(short_version)
}

/// A version line without the build details: `curl 7.88.1 (x86_64...)
/// libcurl/...` → `curl 7.88.1`, `GNU Wget2 1.99.1 - multithreaded...` →
/// `GNU Wget2 1.99.1`.
pub fn short_version(line: &str) -> String {
    let cut = [" (", " - "]
        .iter()
        .filter_map(|sep| line.find(sep))
        .min()
        .unwrap_or(line.len());
    line[..cut].trim().to_owned()
}

/// True when `python` imports `module`.
pub fn python_has(python: &Path, module: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The chunk size hf_transfer is given: huggingface_hub's own
/// (`DOWNLOAD_CHUNK_SIZE`, 10 MiB).
pub const HF_CHUNK: u64 = 10 * MIB;

/// Connections for the single-file peers when a scenario leaves them to
/// each tool: the tools whose parallelism is a required argument
/// (hf_transfer's `max_files`, thread-downloader's `--workers`) get 16.
const DEFAULT_PARALLEL: usize = 16;

/// What one run of a tool needs: its command line, input files to write
/// before it starts (path, contents), and where its files land.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Files to write first.
    pub inputs: Vec<(PathBuf, String)>,
    /// The directory the downloaded files end up in (created first): the
    /// output directory, except for wget2 (see [`invocation`]).
    pub result_dir: PathBuf,
}

/// Where one run writes: its output directory and its input files.
#[derive(Debug, Clone, Copy)]
pub struct RunDirs<'a> {
    /// The output directory (exists and is empty).
    pub out: &'a Path,
    /// Where the run's input files (lists, configs) go.
    pub work: &'a Path,
}

/// The command for one run of `tool` in `scenario` against the server at
/// `base`, writing into `out` (which exists and is empty), with its input
/// files under `work`. Where the scenario says so (the single files'
/// row, the lists' `parget-verifying` row) parget is handed each file's
/// SHA-256 (`expected`) and verifies it while downloading, as it would
/// with an apt or aria2 list; the peers never are, since they cannot
/// check digests in flight.
pub fn invocation(
    tool: Tool,
    program: &Path,
    env: &Env,
    scenario: &Scenario,
    base: &str,
    dirs: RunDirs<'_>,
    expected: &[crate::verify::Expected],
) -> Invocation {
    let RunDirs { out, work } = dirs;
    let s = |x: &dyn std::fmt::Display| x.to_string();
    let out_s = out.display().to_string();
    let c = scenario.concurrency.max(1);
    // 0: the tool's own default.
    let split = scenario.split;
    let single = scenario.single_file();
    let files = scenario.files();
    let plain_list = || {
        let mut list = String::new();
        for f in files {
            let _ = writeln!(list, "{}", scenario.url(base, f));
        }
        list
    };
    let mut argv = vec![program.display().to_string()];
    let mut inputs = Vec::new();
    let mut result_dir = out.to_owned();
    match (tool, &scenario.work) {
        // Never run for the verifying row (no digests to hand).
        (Tool::Parget | Tool::PargetVerifying, Work::Paginated { .. }) => {
            argv.extend([base.to_owned(), out_s, "--concurrency".into(), "512".into()]);
        }
        (Tool::Aiohttp, Work::Paginated { .. }) => {
            argv.extend([
                env.clients
                    .join("aiohttp_paginated.py")
                    .display()
                    .to_string(),
                base.to_owned(),
                out_s,
            ]);
        }
        (Tool::PythonParget | Tool::Aiohttp | Tool::Httpx | Tool::Requests, _) => {
            // One list for every Python client: URL, name and (for
            // parget, which verifies as the CLI row does) the SHA-256.
            let list = work.join("python-list.tsv");
            let mut text = String::new();
            for f in files {
                let _ = write!(text, "{}\t{}", scenario.url(base, f), f.name);
                if scenario.verify {
                    if let Some(e) = expected.iter().find(|e| e.name == f.name) {
                        let _ = write!(text, "\t{}", hex(&e.sha256));
                    }
                }
                text.push('\n');
            }
            inputs.push((list.clone(), text));
            let script = tool
                .python_client(scenario)
                .map_or("", |client| client.script);
            argv.extend([
                env.clients.join(script).display().to_string(),
                list.display().to_string(),
                out_s,
                "--concurrency".into(),
                s(&c),
            ]);
        }
        (Tool::Parget, Work::Files(_)) if single => {
            // One file: what a user types for it. `-s N` where the
            // scenario sets connections, `--checksum` where parget
            // verifies; nothing else.
            let f = &files[0];
            argv.extend(["-q".into(), "-d".into(), out_s]);
            if split > 0 {
                argv.extend(["-s".into(), s(&split)]);
            }
            if scenario.verify {
                if let Some(e) = expected.iter().find(|e| e.name == f.name) {
                    argv.extend(["--checksum".into(), format!("sha-256={}", hex(&e.sha256))]);
                }
            }
            argv.push(scenario.url(base, f));
        }
        (Tool::Parget | Tool::PargetVerifying, Work::Files(_)) => {
            // A list: `-j N`, and the digests in the list (as an apt or
            // aria2 list has them) for the verifying row.
            let verify = scenario.verify || tool == Tool::PargetVerifying;
            let list = work.join("list.txt");
            let mut text = String::new();
            for f in files {
                let _ = writeln!(text, "{}", scenario.url(base, f));
                if !verify {
                    continue;
                }
                let e = expected.iter().find(|e| e.name == f.name);
                // Every served file has its expected digest; a list line
                // without one would verify less than the row says.
                debug_assert!(e.is_some(), "no expected digest for {}", f.name);
                if let Some(e) = e {
                    let _ = writeln!(text, "  checksum=sha-256={}", hex(&e.sha256));
                }
            }
            inputs.push((list.clone(), text));
            argv.extend([
                "-q".into(),
                "-i".into(),
                list.display().to_string(),
                "-d".into(),
                out_s,
                "-j".into(),
                s(&c),
            ]);
        }
        (Tool::Curl, _) => {
            let config = work.join("curl.cfg");
            let mut text = String::new();
            for f in files {
                let _ = writeln!(
                    text,
                    "url = \"{}\"\noutput = \"{}\"",
                    scenario.url(base, f),
                    out.join(&f.name).display()
                );
            }
            inputs.push((config.clone(), text));
            argv.extend([
                "-sS".into(),
                // -s alone leaves the --parallel progress meter on (7.88).
                "--no-progress-meter".into(),
                "--fail".into(),
                "--parallel".into(),
                "--parallel-max".into(),
                s(&c.min(300)),
                "-K".into(),
                config.display().to_string(),
            ]);
        }
        (Tool::Aria2c, _) => {
            let list = work.join("aria2.txt");
            let mut text = String::new();
            for f in files {
                let _ = writeln!(text, "{}\n  out={}", scenario.url(base, f), f.name);
            }
            inputs.push((list.clone(), text));
            argv.extend([
                "-q".into(),
                "--console-log-level=error".into(),
                "--summary-interval=0".into(),
                "--auto-file-renaming=false".into(),
                "--allow-overwrite=true".into(),
                "-i".into(),
                list.display().to_string(),
                "-d".into(),
                out_s,
                "-j".into(),
                s(&c),
            ]);
            if split > 0 {
                let x = split.min(16);
                argv.extend(["-x".into(), s(&x), "-s".into(), s(&x)]);
            }
        }
        (Tool::Wget2, _) => {
            // wget2 1.99.1 in --chunk-size mode ignores -nd, saves under the
            // URL's directories and loops forever on an I/O error when they
            // do not exist: so every file goes under the URL's directory
            // (-x -nH), which is created first.
            let list = work.join("wget2.txt");
            inputs.push((list.clone(), plain_list()));
            if let Some(first) = files.first() {
                let parent = Path::new(&first.path).parent().unwrap_or(Path::new("/"));
                result_dir = out.join(parent.strip_prefix("/").unwrap_or(parent));
            }
            argv.extend([
                "-q".into(),
                "-x".into(),
                "-nH".into(),
                "--cut-file-get-vars".into(),
                "--tries=1".into(),
                "-i".into(),
                list.display().to_string(),
                "-P".into(),
                out_s,
            ]);
            let threads = if single { split } else { c };
            if threads > 0 {
                argv.extend(["--max-threads".into(), s(&threads)]);
            }
            if split > 1 {
                let largest = files.iter().map(|f| f.size).max().unwrap_or(0);
                let chunk = largest.div_ceil(split as u64).max(MIB);
                argv.push(format!("--chunk-size={chunk}"));
            }
        }
        (Tool::Axel, _) => {
            let f = &files[0];
            argv.push("-q".into());
            if split > 0 {
                argv.extend(["-n".into(), s(&split)]);
            }
            argv.extend([
                "-o".into(),
                out.join(&f.name).display().to_string(),
                scenario.url(base, f),
            ]);
        }
        (Tool::HfTransfer, _) => {
            let f = &files[0];
            let parallel = if split > 0 { split } else { DEFAULT_PARALLEL };
            argv.extend([
                env.clients
                    .join("hf_transfer_download.py")
                    .display()
                    .to_string(),
                scenario.url(base, f),
                out.join(&f.name).display().to_string(),
                "--max-files".into(),
                s(&parallel),
                "--chunk-size".into(),
                s(&HF_CHUNK),
            ]);
        }
        (Tool::ThreadDownloader, _) => {
            let f = &files[0];
            let parallel = if split > 0 { split } else { DEFAULT_PARALLEL };
            argv.extend([
                scenario.url(base, f),
                out.join(&f.name).display().to_string(),
                "--workers".into(),
                s(&parallel),
            ]);
        }
        (Tool::Baseline, Work::Paginated { .. }) => {
            // Like the seed's executor variant: serial pages, a pool of 32
            // blocking downloads.
            argv.extend([
                "baseline".into(),
                "--paginated".into(),
                base.to_owned(),
                "--dir".into(),
                out_s,
                "--threads".into(),
                "32".into(),
            ]);
        }
        (Tool::Baseline, _) => {
            let list = work.join("baseline.txt");
            inputs.push((list.clone(), plain_list()));
            let threads = if single { split.max(1) } else { c };
            argv.extend([
                "baseline".into(),
                "--list".into(),
                list.display().to_string(),
                "--dir".into(),
                out_s,
                "--threads".into(),
                s(&threads),
                "--split".into(),
                s(&split.max(1)),
            ]);
        }
    }
    Invocation {
        argv,
        inputs,
        result_dir,
    }
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How the tool was asked to run, for the notes under a table: its flags
/// without paths, URLs and digests.
pub fn flags_note(invocation: &Invocation) -> String {
    invocation
        .argv
        .iter()
        .skip(1)
        .filter(|a| !a.contains('/') && !a.starts_with("http"))
        .map(|a| match a.split_once('=') {
            Some((algo, digest)) if digest.len() >= 32 => format!("{algo}=HEX"),
            _ => a.clone(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Params;
    use crate::verify::Expected;

    fn env() -> Env {
        Env {
            bench: "/b/parget-bench".into(),
            parget: "/b/parget".into(),
            testbed: "/b/parget-testbed".into(),
            paginated: "/b/examples/paginated".into(),
            clients: "/w".into(),
            pythons: Vec::new(),
            python_with: Default::default(),
        }
    }

    fn inv(tool: Tool, scenario: &str) -> Invocation {
        let p = Params::new(false);
        let s = p.scenario(scenario).unwrap();
        let expected: Vec<Expected> = s
            .files()
            .iter()
            .map(|f| Expected {
                name: f.name.clone(),
                size: f.size,
                sha256: [0xab; 32],
            })
            .collect();
        invocation(
            tool,
            Path::new("/usr/bin/x"),
            &env(),
            &s,
            "http://127.0.0.1:9",
            RunDirs {
                out: Path::new("/o"),
                work: Path::new("/w"),
            },
            &expected,
        )
    }

    fn args(i: &Invocation) -> Vec<&str> {
        i.argv[1..].iter().map(String::as_str).collect()
    }

    #[test]
    fn parget_gets_what_a_user_types_and_nothing_else() {
        // A list: -j N; the verifying row has the digests in the list.
        let i = inv(Tool::Parget, "latency");
        assert_eq!(
            args(&i),
            ["-q", "-i", "/w/list.txt", "-d", "/o", "-j", "32"]
        );
        let (path, list) = &i.inputs[0];
        assert_eq!(path, Path::new("/w/list.txt"));
        assert_eq!(list.lines().count(), 500, "a URL each");
        let i = inv(Tool::PargetVerifying, "latency");
        let (path, list) = &i.inputs[0];
        assert_eq!(path, Path::new("/w/list.txt"));
        assert_eq!(list.lines().count(), 1000, "a URL and a checksum line each");
        let hex = "ab".repeat(32);
        assert_eq!(
            list.lines().take(2).collect::<Vec<_>>(),
            [
                "http://127.0.0.1:9/lat/f00000.bin?size=16384&latency_ms=100",
                &format!("  checksum=sha-256={hex}")
            ]
        );
        // nginx serves plain paths.
        let rr = inv(Tool::Parget, "request-rate");
        assert!(rr.inputs[0]
            .1
            .starts_with("http://127.0.0.1:9/rr/f00000.bin\n"));
        let mixed = inv(Tool::Parget, "mixed");
        assert_eq!(args(&mixed)[4..], ["/o", "-j", "32"]);
        // The lists: parget does the peers' work; the verifying row gets
        // every digest, and runs for the lists alone.
        for scenario in ["request-rate", "mixed", "netns-files"] {
            let plain = inv(Tool::Parget, scenario);
            assert!(
                !plain.inputs[0].1.contains("checksum="),
                "{scenario}: {}",
                plain.inputs[0].1
            );
            let verifying = inv(Tool::PargetVerifying, scenario);
            assert_eq!(args(&verifying), args(&plain), "{scenario}");
            let list = &verifying.inputs[0].1;
            assert_eq!(
                list.lines()
                    .filter(|l| l.starts_with("  checksum=sha-256="))
                    .count(),
                list.lines().count() / 2,
                "{scenario}: a checksum line under every URL"
            );
        }
        let p = Params::new(false);
        for (scenario, runs) in [
            ("latency", true),
            ("mixed", true),
            ("big", false),
            ("throttled", false),
            ("paginated", false),
            ("netns-big", false),
            ("list-1e4", false),
        ] {
            let s = p.scenario(scenario).unwrap();
            assert_eq!(
                Tool::PargetVerifying.applies_to(&s).is_ok(),
                runs,
                "{scenario}"
            );
        }
        assert!(Tool::PargetVerifying.is_parget(), "never the best peer");

        // One big file: --checksum, each tool's default connections.
        let big = inv(Tool::Parget, "big");
        assert_eq!(
            args(&big),
            [
                "-q",
                "-d",
                "/o",
                "--checksum",
                &format!("sha-256={hex}"),
                "http://127.0.0.1:9/big/big.bin"
            ]
        );
        assert!(big.inputs.is_empty());
        assert_eq!(flags_note(&big), "-q -d --checksum sha-256=HEX");
        // The throttled file: -s 16, no digest.
        let thr = inv(Tool::Parget, "throttled");
        assert_eq!(
            args(&thr),
            [
                "-q",
                "-d",
                "/o",
                "-s",
                "16",
                "http://127.0.0.1:9/thr/throttled.bin"
            ]
        );
        // No tuning flag anywhere.
        for scenario in [
            "latency",
            "request-rate",
            "big",
            "throttled",
            "mixed",
            "netns-big",
            "netns-files",
        ] {
            let i = inv(Tool::Parget, scenario);
            for flag in ["--max-per-host", "-x", "-k", "--min-split-size"] {
                assert!(
                    !i.argv.iter().any(|a| a == flag),
                    "{scenario}: {:?}",
                    i.argv
                );
            }
        }
    }

    #[test]
    fn peers_get_their_idioms() {
        let curl = inv(Tool::Curl, "request-rate");
        assert!(curl.argv.windows(2).any(|w| w == ["--parallel-max", "32"]));
        assert!(curl.argv.contains(&"--parallel".to_owned()));
        let cfg = &curl.inputs[0].1;
        assert_eq!(cfg.lines().count(), 4000);
        assert!(cfg.starts_with(
            "url = \"http://127.0.0.1:9/rr/f00000.bin\"\noutput = \"/o/f00000.bin\"\n"
        ));

        let aria = inv(Tool::Aria2c, "throttled");
        let a = args(&aria);
        assert!(a.windows(4).any(|w| w == ["-x", "16", "-s", "16"]), "{a:?}");
        assert!(!a.contains(&"-k"), "{a:?}");
        assert!(aria.inputs[0].1.contains("\n  out=throttled.bin\n"));
        let aria = inv(Tool::Aria2c, "latency");
        assert!(!aria.argv.contains(&"-x".to_owned()));
        assert!(aria.argv.windows(2).any(|w| w == ["-j", "32"]));

        let wget = inv(Tool::Wget2, "throttled");
        assert!(wget.argv.windows(2).any(|w| w == ["--max-threads", "16"]));
        assert_eq!(wget.result_dir, Path::new("/o/thr"));
        assert_eq!(curl.result_dir, Path::new("/o"));
        assert!(wget.argv.contains(&format!("--chunk-size={}", 16 * MIB)));
        let wget = inv(Tool::Wget2, "mixed");
        assert!(wget.argv.windows(2).any(|w| w == ["--max-threads", "32"]));
        // Each tool's defaults where the scenario sets no connections.
        let wget = inv(Tool::Wget2, "big");
        assert!(!wget
            .argv
            .iter()
            .any(|a| a.contains("threads") || a.contains("chunk")));

        let axel = inv(Tool::Axel, "throttled");
        assert_eq!(args(&axel)[..4], ["-q", "-n", "16", "-o"]);
        assert_eq!(axel.argv[5], "/o/throttled.bin");
        let axel = inv(Tool::Axel, "big");
        assert_eq!(args(&axel)[..2], ["-q", "-o"]);

        let hf = inv(Tool::HfTransfer, "big");
        assert_eq!(
            args(&hf),
            [
                "/w/hf_transfer_download.py",
                "http://127.0.0.1:9/big/big.bin",
                "/o/big.bin",
                "--max-files",
                "16",
                "--chunk-size",
                "10485760"
            ]
        );
        let td = inv(Tool::ThreadDownloader, "throttled");
        assert_eq!(
            args(&td),
            [
                "http://127.0.0.1:9/thr/throttled.bin",
                "/o/throttled.bin",
                "--workers",
                "16"
            ]
        );

        let base = inv(Tool::Baseline, "mixed");
        assert!(base.argv.windows(2).any(|w| w == ["--threads", "32"]));
        assert_eq!(
            flags_note(&base),
            "baseline --list --dir --threads 32 --split 1"
        );
        let base = inv(Tool::Baseline, "throttled");
        assert!(base.argv.windows(2).any(|w| w == ["--split", "16"]));
        let base = inv(Tool::Baseline, "big");
        assert!(base.argv.ends_with(&[
            "--threads".into(),
            "1".into(),
            "--split".into(),
            "1".into()
        ]));
    }

    #[test]
    fn python_clients_share_one_list_and_only_the_big_file_has_a_digest_column() {
        for (tool, script) in [
            (Tool::PythonParget, "parget_download.py"),
            (Tool::Aiohttp, "aiohttp_download.py"),
            (Tool::Httpx, "httpx_download.py"),
            (Tool::Requests, "requests_download.py"),
        ] {
            let i = inv(tool, "request-rate");
            assert_eq!(
                args(&i),
                [
                    &format!("/w/{script}"),
                    "/w/python-list.tsv",
                    "/o",
                    "--concurrency",
                    "32"
                ],
                "{tool:?}"
            );
            let (path, list) = &i.inputs[0];
            assert_eq!(path, Path::new("/w/python-list.tsv"));
            assert_eq!(list.lines().count(), 2000);
            // nginx serves plain paths; a list is the peers' work, no
            // digest column.
            assert_eq!(
                list.lines().next(),
                Some("http://127.0.0.1:9/rr/f00000.bin\tf00000.bin")
            );
            // The big file: one line, one download at a time, and the
            // digest column, which only parget's client reads (the peers
            // verify nothing).
            let big = inv(tool, "big");
            assert_eq!(big.inputs[0].1.lines().count(), 1);
            let hex = "ab".repeat(32);
            assert_eq!(
                big.inputs[0].1.lines().next(),
                Some(format!("http://127.0.0.1:9/big/big.bin\tbig.bin\t{hex}").as_str())
            );
            assert!(big.argv.ends_with(&["--concurrency".into(), "1".into()]));
            assert_eq!(flags_note(&big), "--concurrency 1");
        }
        // The paginated API keeps the seed's aiohttp client.
        let pag = inv(Tool::Aiohttp, "paginated");
        assert_eq!(
            args(&pag),
            ["/w/aiohttp_paginated.py", "http://127.0.0.1:9", "/o"]
        );
        // Testbed URLs keep their query.
        let lat = inv(Tool::Requests, "latency");
        assert!(lat.inputs[0].1.starts_with(
            "http://127.0.0.1:9/lat/f00000.bin?size=16384&latency_ms=100\tf00000.bin\n"
        ));
        assert!(Tool::PythonParget.is_parget() && Tool::Parget.is_parget());
        assert!(!Tool::Aiohttp.is_parget());
    }

    #[test]
    fn a_missing_python_module_is_a_note_naming_its_install() {
        let p = Params::new(true);
        let big = p.scenario("big").unwrap();
        let mut env = env();
        env.pythons = vec!["/usr/bin/python3".into()];
        let why = locate(Tool::Httpx, &env, &big).unwrap_err();
        assert!(why.contains("httpx not in /usr/bin/python3"), "{why}");
        assert!(why.contains("pip install httpx"), "{why}");
        let why = locate(Tool::PythonParget, &env, &big).unwrap_err();
        assert!(why.contains("pip install ./crates/parget-py"), "{why}");
        env.python_with
            .insert("parget", PathBuf::from("/venv/bin/python"));
        assert_eq!(
            locate(Tool::PythonParget, &env, &big),
            Ok(PathBuf::from("/venv/bin/python"))
        );
    }

    #[test]
    fn versions_are_shortened() {
        assert_eq!(
            short_version("curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/7.88.1 OpenSSL/3.0.19"),
            "curl 7.88.1"
        );
        assert_eq!(
            short_version("GNU Wget2 1.99.1 - multithreaded metalink/file/website downloader"),
            "GNU Wget2 1.99.1"
        );
        assert_eq!(
            short_version("aria2 version 1.36.0"),
            "aria2 version 1.36.0"
        );
        assert_eq!(short_version("Axel 2.17.11 (linux-gnu)"), "Axel 2.17.11");
    }

    #[test]
    fn applicability() {
        let p = Params::new(false);
        let big = p.scenario("big").unwrap();
        let thr = p.scenario("throttled").unwrap();
        let lat = p.scenario("latency").unwrap();
        let pag = p.scenario("paginated").unwrap();
        assert!(Tool::Axel.applies_to(&big).is_ok());
        assert_eq!(
            Tool::Axel.applies_to(&lat),
            Err(Some("one file per run only"))
        );
        assert!(Tool::Curl.applies_to(&pag).is_err());
        assert!(Tool::Aiohttp.applies_to(&pag).is_ok());
        assert!(Tool::HfTransfer.applies_to(&big).is_ok());
        assert!(Tool::HfTransfer.applies_to(&thr).is_ok());
        assert!(Tool::HfTransfer.applies_to(&lat).is_err());
        assert!(Tool::ThreadDownloader.applies_to(&thr).is_ok());
        assert_eq!(Tool::ThreadDownloader.applies_to(&big), Err(None));
        assert!(Tool::Parget.applies_to(&pag).is_ok());
        for tool in [
            Tool::PythonParget,
            Tool::Aiohttp,
            Tool::Httpx,
            Tool::Requests,
        ] {
            assert!(tool.applies_to(&lat).is_ok(), "{tool:?}");
            assert!(tool.applies_to(&big).is_ok(), "{tool:?}");
            assert_eq!(tool.applies_to(&thr), Err(None), "{tool:?}");
        }
        assert_eq!(Tool::PythonParget.applies_to(&pag), Err(None));
        assert_eq!(Tool::from_name("parget-py"), Some(Tool::PythonParget));
        assert_eq!(Tool::from_name("httpx"), Some(Tool::Httpx));
        assert_eq!(Tool::from_name("python-requests"), Some(Tool::Requests));
        assert_eq!(Tool::from_name("baseline"), Some(Tool::Baseline));
        assert_eq!(Tool::from_name("curl"), Some(Tool::Curl));
        assert_eq!(Tool::from_name("hf-transfer"), Some(Tool::HfTransfer));
        assert_eq!(
            Tool::from_name("thread-downloader"),
            Some(Tool::ThreadDownloader)
        );
        assert_eq!(Tool::from_name("nope"), None);
    }
}
