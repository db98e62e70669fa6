//! `parget-bench`: parget side by side with the tools people would use
//! instead, on scenarios that matter, against real servers: nginx from
//! Debian's packages, and `parget-testbed` where a scenario needs latency
//! or the paginated API.
//!
//! ```sh
//! cargo run --release -p parget-bench                 # every scenario, 3 runs each
//! cargo run --release -p parget-bench -- --smoke      # shrunk, correctness only
//! cargo run --release -p parget-bench -- --scenario latency --runs 5 --json
//! cargo run --release -p parget-bench -- --netns      # also the shared bottleneck (root)
//! ```
//!
//! It builds the release binaries (parget, parget-testbed,
//! `examples/paginated`), starts a server per scenario, and runs each
//! installed tool several times, round-robin, with the flags a user would
//! type for the job: parget, curl `--parallel`, aria2c, wget2, axel and
//! hf_transfer (single files), thread-downloader (the throttled file), a
//! blocking thread-pool baseline built into this binary, for the
//! paginated API a Python aiohttp client written the seed's way, and on the
//! many-files and big-file scenarios the Python rows: parget from Python
//! next to aiohttp, httpx and requests with a thread pool, each a small
//! client script (`clients/`) run by the first Python that imports its
//! module (`$PARGET_BENCH_PYTHON`, `target/bench-venv`, `target/py-venv`,
//! `python3`). Every
//! output is checked against the known digests; a wrong or missing file is
//! a failure, never a timing. The report is markdown (or JSON with
//! `--json`) on standard output; progress goes to standard error.

mod baseline;
mod client;
mod measure;
mod netns;
mod report;
mod runner;
mod scenario;
mod server;
mod summary;
mod tools;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, Result};
use clap::{Parser, Subcommand};

/// parget next to curl, aria2c, wget2, axel, hf_transfer,
/// thread-downloader, a blocking baseline and Python clients (parget from
/// Python, aiohttp, httpx, requests), against nginx and parget-testbed; a
/// markdown table each.
#[derive(Debug, Parser)]
#[command(
    name = "parget-bench",
    version,
    max_term_width = 100,
    args_conflicts_with_subcommands = true
)]
struct Args {
    /// Scenario to run (repeatable): latency, request-rate, big, throttled,
    /// mixed, paginated, with --netns netns-big, netns-files, and the long
    /// list-length ones (list-1e4, list-1e5, list-1e6; `list-length` is all
    /// three). Default: all but the list-length ones, in that order (the
    /// netns-* ones only with --netns).
    #[arg(long = "scenario", value_name = "NAME")]
    scenarios: Vec<String>,

    /// Tool to run (repeatable): parget, parget-verifying (the lists
    /// again, every file's SHA-256 in the list), curl, aria2c, wget2,
    /// axel, hf_transfer, thread-downloader, baseline, python-parget,
    /// aiohttp, httpx, requests. Default: every installed one.
    #[arg(long = "tool", value_name = "NAME")]
    tools: Vec<String>,

    /// Runs per tool and scenario (median and min–max are reported).
    #[arg(long, default_value_t = 3, value_name = "N")]
    runs: usize,

    /// Shrink every scenario (and run once): a fast correctness check,
    /// timings are not judged.
    #[arg(long)]
    smoke: bool,

    /// Set a scenario parameter, e.g. `latency.files=1000`,
    /// `big.size=512M`, `throttled.rate=10MB` (K/M/G: powers of 1024;
    /// KB/MB/GB: powers of 1000). Repeatable. `--list-params` shows them.
    #[arg(long = "param", value_name = "SCENARIO.KEY=VALUE")]
    params: Vec<String>,

    /// Also run the shared-bottleneck scenarios (netns-big, netns-files):
    /// the tools in a network namespace, nginx across a veth pair capped
    /// with tc at --netns-mbit each way. Root only.
    #[arg(long)]
    netns: bool,

    /// The capacity of the namespace's link in Mbit/s (the parameter
    /// `netns.mbit`).
    #[arg(long, value_name = "MBIT", requires = "netns")]
    netns_mbit: Option<u64>,

    /// Print every parameter with its value and exit.
    #[arg(long)]
    list_params: bool,

    /// Print the report as JSON instead of markdown.
    #[arg(long)]
    json: bool,

    /// Write outputs under DIR instead of a fresh tmpfs.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,

    /// Where the release binaries are (default: the workspace's
    /// target/release).
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,

    /// Do not run `cargo build --release` for parget, parget-testbed and
    /// examples/paginated first.
    #[arg(long)]
    no_build: bool,

    /// A tool whose first run takes longer than SECS is not repeated.
    #[arg(long, default_value_t = 8, value_name = "SECS")]
    repeat_limit: u64,

    /// Kill a run after SECS (it counts as a failure).
    #[arg(long, default_value_t = 180, value_name = "SECS")]
    timeout: u64,

    #[command(subcommand)]
    command: Option<Sub>,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// The blocking baseline: a pool of threads doing blocking HTTP/1.1
    /// GETs over keep-alive connections.
    Baseline {
        /// One URL per line.
        #[arg(
            long,
            required_unless_present = "paginated",
            conflicts_with = "paginated"
        )]
        list: Option<PathBuf>,
        /// Instead of a list: walk the paginated API of the server at
        /// BASE_URL page after page, downloading every endpoint found.
        #[arg(long, value_name = "BASE_URL")]
        paginated: Option<String>,
        /// Directory to save into.
        #[arg(long)]
        dir: PathBuf,
        /// Threads (connections) at once.
        #[arg(long, default_value_t = 16)]
        threads: usize,
        /// Ranges one file may be cut into.
        #[arg(long, default_value_t = 1)]
        split: usize,
        /// Files under twice this size are not split (bytes; K/M/G allowed).
        #[arg(long, default_value = "1M", value_parser = scenario::parse_size)]
        min_split: u64,
    },
    /// Runs a command and prints its wall time, CPU time and peak RSS as
    /// JSON (used internally: one fresh helper per measured run).
    #[command(hide = true)]
    Measure {
        /// Where the command's standard output goes.
        #[arg(long)]
        stdout: PathBuf,
        /// Where the command's standard error goes.
        #[arg(long)]
        stderr: PathBuf,
        /// Seconds before the command is killed.
        #[arg(long, default_value_t = 180)]
        timeout: u64,
        /// The command.
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match real_main(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("parget-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main(args: Args) -> Result<ExitCode> {
    match args.command {
        Some(Sub::Baseline {
            list,
            paginated,
            dir,
            threads,
            split,
            min_split,
        }) => {
            let options = baseline::Options {
                threads,
                split,
                min_split,
            };
            let result = match (&list, &paginated) {
                (_, Some(base)) => {
                    baseline::run_paginated(base.trim_end_matches('/'), &dir, &options)
                }
                (Some(list), None) => baseline::run(list, &dir, &options),
                (None, None) => Err(anyhow!("--list or --paginated is needed")),
            };
            return match result {
                Ok(_) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("baseline: {e:#}");
                    Ok(ExitCode::FAILURE)
                }
            };
        }
        Some(Sub::Measure {
            stdout,
            stderr,
            timeout,
            argv,
        }) => {
            let m = measure::helper(&argv, &stdout, &stderr, Duration::from_secs(timeout))?;
            println!("{}", serde_json::to_string(&m)?);
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }

    let mut params = scenario::Params::new(args.smoke);
    for p in &args.params {
        params.set(p)?;
    }
    if let Some(mbit) = args.netns_mbit {
        params.set(&format!("netns.mbit={mbit}"))?;
    }
    if args.list_params {
        for (key, value) in params.all() {
            println!("{key}={value}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let scenarios: Vec<String> = if args.scenarios.is_empty() {
        scenario::NAMES
            .iter()
            .filter(|s| args.netns || !scenario::NETNS.contains(s))
            .filter(|s| !scenario::LIST_LENGTH.contains(s))
            .map(|s| (*s).to_owned())
            .collect()
    } else {
        args.scenarios
            .iter()
            .flat_map(|s| match s.as_str() {
                "list-length" => scenario::LIST_LENGTH
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
                _ => vec![s.clone()],
            })
            .collect()
    };
    for name in &scenarios {
        params.scenario(name)?;
        if scenario::NETNS.contains(&name.as_str()) && !args.netns {
            return Err(anyhow!(
                "scenario `{name}` runs only with --netns (as root)"
            ));
        }
    }
    if args.netns {
        // Before anything is built or started.
        netns::require_root()?;
    }
    runner::install_interrupt_handler()?;
    let tools = args
        .tools
        .iter()
        .map(|t| tools::Tool::from_name(t).ok_or_else(|| anyhow!("unknown tool `{t}`")))
        .collect::<Result<Vec<_>>>()?;
    let options = runner::Options {
        scenarios,
        tools,
        runs: if args.smoke { 1 } else { args.runs.max(1) },
        smoke: args.smoke,
        params,
        out_dir: args.out_dir,
        bin_dir: args.bin_dir.unwrap_or_else(runner::default_bin_dir),
        build: !args.no_build,
        repeat_limit: Duration::from_secs(args.repeat_limit),
        timeout: Duration::from_secs(args.timeout),
        netns: args.netns,
    };
    let (report, own_failed) = runner::run(&options)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report::markdown(&report));
    }
    if own_failed {
        eprintln!("parget-bench: parget (CLI or Python), the baseline or the paginated aiohttp client produced wrong output (see the FAILED rows)");
        return Ok(ExitCode::FAILURE);
    }
    let peer_failures: Vec<String> = report
        .scenarios
        .iter()
        .flat_map(|s| {
            s.results
                .iter()
                .filter(|r| r.failure.is_some())
                .map(move |r| format!("{} in {}", r.tool, s.name))
        })
        .collect();
    if !peer_failures.is_empty() {
        eprintln!(
            "parget-bench: warning: peers failed: {}",
            peer_failures.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
