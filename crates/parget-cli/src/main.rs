//! `parget`: the command-line downloader, a thin layer over the `parget`
//! library: arguments in, requests to the engine, reports out.

mod args;
mod batched;
mod entries;
mod output;
mod progress;
mod shard;
mod signals;
mod summary;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use futures_util::StreamExt;
use parget::retry::RetryPolicy;
use parget::Downloader;

use crate::args::Args;

/// mimalloc rather than the C library's allocator: a small file costs
/// parget about 140 allocations, and on 2000 files from nginx glibc's
/// malloc and free were a fifth of the instructions.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use crate::output::Output;
use crate::progress::{Mode, Progress};

const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if e.use_stderr() => return usage_error(&e),
        // --help and --version: parget's own text.
        Err(e) => e.exit(),
    };
    if let Err(message) = args.validate() {
        eprintln!("parget: {}", parget::redact::escape_control(&message));
        return ExitCode::from(EXIT_USAGE);
    }
    if args.insecure {
        eprintln!(
            "parget: warning: --insecure: TLS certificates are not checked, so anyone on the way can read and change what is downloaded"
        );
    }
    keep_freed_memory();
    // One thread drives every connection: the heavy work (writing,
    // hashing) runs on the engine's own threads, and a single event loop
    // saves the cross-thread wake-ups that dominate the cost of many small
    // files (measured: a third of the CPU per file).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("parget: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!(
                "parget: {}",
                parget::redact::escape_control(&format!("{e:#}"))
            );
            ExitCode::from(EXIT_USAGE)
        }
    };
    // Every download has reported, so the engine's work is done; a
    // blocking call it abandoned on a stop (a `file://` read that never
    // returns) must not keep the process alive.
    runtime.shutdown_background();
    code
}

/// Prints a usage error. clap quotes the offending argument as typed, and
/// on a terminal (or with `CLICOLOR_FORCE`) it would pass the escape
/// sequences in it through. The arguments are parsed again without styles,
/// so the text holds no styling of clap's own, and each line is printed
/// escaped as every other message of parget's is (`\x1b[2J`, `\u{9b}`).
fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let plain = Args::command()
        .styles(clap::builder::Styles::plain())
        .try_get_matches()
        .and_then(|matches| Args::from_arg_matches(&matches));
    let text = match plain {
        Err(plain) => plain.render().ansi().to_string(),
        Ok(_) => error.render().to_string(),
    };
    for line in text.lines() {
        eprintln!("{}", parget::redact::escape_control(line));
    }
    ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(EXIT_USAGE))
}

/// Tells glibc's allocator to keep freed memory for reuse.
///
/// The body chunks of a fast download (hundreds of KiB each, allocated by
/// the HTTP client per read and freed once written) are above glibc's
/// default thresholds: each was either mapped and unmapped on its own, or
/// handed back to the OS by a heap trim, so every chunk's pages were
/// faulted in and zeroed afresh. Measured on a verified 1 GiB from nginx
/// (8 runs each): system CPU 1.37 → 1.19 s, wall 1.46 → 1.32 s, peak RSS
/// unchanged at 14 MiB (what is kept is what was in use at the peak).
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: mallopt only sets allocator parameters; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 16 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

/// Asks the kernel not to back this process's memory with transparent
/// huge pages. Where they are on for everything (`always`, as on this
/// project's machines), the allocator's regions are 2 MiB aligned, so a
/// region a thread touches a little of is faulted in, zeroed and counted
/// whole. Measured (mimalloc, 2 cores, nginx on loopback, 5 runs each):
/// peak RSS of the 60-file mixed list 107-120 MiB -> 45-50 MiB, of a
/// verified 1 GiB 39 -> 16 MiB, of 2000 small files 16.6 -> 9.8 MiB; wall
/// time the same or less (the unverified mixed list 313 +- 48 ms -> 290 +-
/// 12 ms, less system time). Only the binary does this: the library and
/// the Python module leave a host process's settings alone.
///
/// It runs as an early constructor, before the Rust runtime and the
/// allocator make their first regions: called from `main`, the pages
/// touched by then (the allocator's first arenas) stay huge, which kept a
/// third of the saving.
#[cfg(target_os = "linux")]
extern "C" fn no_transparent_huge_pages() {
    #[allow(unsafe_code)]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and only sets a flag
    // of this process; a kernel without it returns an error, ignored.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Runs [`no_transparent_huge_pages`] among the first constructors (the
/// lower the number, the earlier).
#[cfg(target_os = "linux")]
#[used]
#[allow(unsafe_code)]
#[link_section = ".init_array.00101"]
static NO_TRANSPARENT_HUGE_PAGES: extern "C" fn() = no_transparent_huge_pages;

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create the output directory {}", args.dir.display()))?;
    // Bars are drawn without colour, so NO_COLOR needs nothing more.
    let mode = if args.quiet {
        Mode::Quiet
    } else if std::io::stderr().is_terminal() {
        Mode::Bars
    } else {
        Mode::Lines
    };
    let progress = Progress::new(mode);
    // Every file the flags name is read, and every value checked, before
    // anything is fetched: a mistake is a usage error (exit 2).
    let downloader = build_downloader(&args, progress.clone())?;

    let feed = entries::spawn(&args);
    let requests = futures_util::stream::unfold(feed.requests, |mut rx| async move {
        rx.recv().await.map(|request| (request, rx))
    });
    let mut invalid = feed.invalid;
    let mut reports = std::pin::pin!(downloader.download_all(requests));
    let ticker = tokio::spawn(progress.clone().tick(downloader.totals()));

    let failures = match &args.summary_json {
        Some(_) => Some(
            summary::Failures::new()
                .context("cannot make a temporary file for the --summary-json failures")?,
        ),
        None => None,
    };
    let mut output = Output::new(args.json, failures);
    let mut stopped_by: Option<signals::Stop> = None;
    let mut invalid_open = true;
    let mut stops = Some(signals::Stops::new().context("cannot watch for stop signals")?);
    loop {
        tokio::select! {
            report = reports.next() => match report {
                Some(report) => output.report(&report, &progress),
                None => break,
            },
            item = invalid.recv(), if invalid_open => match item {
                Some(item) => output.invalid(&item, &progress),
                None => invalid_open = false,
            },
            stop = signals::next(&mut stops) => {
                stopped_by = Some(stop);
                progress.println_always(&format!(
                    "parget: {}; stopping (partial files are kept for --continue)",
                    stop.name()
                ));
                // Every download ends and records what it wrote, and the
                // lists are read no further (standard input may never end).
                downloader.cancel();
                let closing = downloader.clone();
                tokio::spawn(async move { closing.shutdown().await });
                // A second signal ends at once.
                let mut again = stops.take();
                tokio::spawn(async move {
                    let stop = signals::next(&mut again).await;
                    std::process::exit(i32::from(stop.exit_status()));
                });
            },
        }
    }
    // Entries found invalid after the last download ended (after a stop,
    // only those already found: the lists are not read to their end).
    while invalid_open {
        let item = match stopped_by {
            None => invalid.recv().await,
            Some(_) => invalid.try_recv().ok(),
        };
        match item {
            Some(item) => output.invalid(&item, &progress),
            None => invalid_open = false,
        }
    }
    ticker.abort();
    progress.finish();
    progress.println(&output.summary(downloader.totals().received()));
    if let Some(stop) = stopped_by {
        // The counts above are of the entries that started: the rest of
        // the lists was not read (standard input may never end), so
        // nothing says how many there were. A scheduler reading the log
        // learns here that the run is unfinished.
        progress.println(&format!(
            "parget: {}: entries not yet started were not attempted; the same command with --continue goes on",
            stop.name()
        ));
    }
    let mut summary_failed = false;
    if let Some(path) = &args.summary_json {
        let (totals, failures) = output.summary_parts(
            downloader.totals().received(),
            stopped_by.is_some(),
            args.shard.map(|s| s.to_string()),
        );
        let written = match failures {
            Some(failures) => summary::write(path, &totals, failures),
            None => Ok(()),
        };
        if let Err(e) = written {
            progress.println_always(&format!(
                "parget: cannot write the summary {}: {e}",
                path.display()
            ));
            summary_failed = true;
        }
    }
    Ok(if let Some(stop) = stopped_by {
        ExitCode::from(stop.exit_status())
    } else if output.failed > 0 || summary_failed || output.json_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn build_downloader(args: &Args, progress: Arc<Progress>) -> anyhow::Result<Downloader> {
    let mut builder = Downloader::builder()
        .concurrency(args.concurrency as usize)
        .split(args.split as usize)
        .min_split_size(args.min_split_size)
        .retry_policy(RetryPolicy::new(args.retries, args.retry_wait))
        .idle_timeout(args.timeout)
        .connect_timeout(args.connect_timeout)
        .lowest_speed_limit(args.lowest_speed_limit, args.lowest_speed_time)
        .max_redirects(args.max_redirects)
        .allow_insecure_redirect(args.allow_insecure_redirect)
        .resume_partial(args.continue_partial)
        .allow_overwrite(args.allow_overwrite)
        .fsync(args.fsync)
        .wait_for_lock(args.wait_for_lock)
        .danger_accept_invalid_certs(args.insecure)
        .max_download_rate(args.max_download_limit)
        .max_overall_rate(args.max_overall_download_limit)
        .content_disposition(args.content_disposition)
        .reporter(progress);
    if let Some(cap) = args.max_per_host {
        builder = builder.max_per_host(cap as usize);
    }
    if let Some(n) = args.max_requests_per_second {
        builder = builder.max_requests_per_second(n);
    }
    if let Some(agent) = &args.user_agent {
        builder = builder.user_agent(agent.clone());
    }
    for header in &args.headers {
        let (name, value) = parget::header::parse_header_line(header)
            .map_err(|why| anyhow::anyhow!("-H/--header: {why}"))?;
        builder = builder.header(name, value);
    }
    if let Some((user, password)) = args.credentials() {
        builder = builder.basic_auth(user, password);
    }
    if let Some(netrc) = read_netrc(args)? {
        builder = builder.netrc(netrc);
    }
    if let Some(path) = &args.load_cookies {
        let bytes = read(path, "--load-cookies")?;
        let jar = parget::cookies::CookieJar::parse(&bytes, &path.display().to_string())
            .map_err(|e| anyhow::anyhow!("--load-cookies: {e}"))?;
        builder = builder.cookies(jar);
    }
    if let Some(proxy) = &args.proxy {
        builder = builder.proxy(proxy.clone());
    }
    if let Some(list) = &args.noproxy {
        builder = builder.no_proxy(list.clone());
    }
    for path in &args.ca_certificates {
        builder = builder.add_root_certificate_pem(read(path, "--ca-certificate")?);
    }
    for name in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
        if let Some(value) = std::env::var_os(name).filter(|v| !v.is_empty()) {
            // SSL_CERT_DIR may name several directories, `:`-separated.
            for part in std::env::split_paths(&value) {
                if std::fs::metadata(&part).is_err() {
                    anyhow::bail!("{name}: cannot read {}", part.display());
                }
            }
        }
    }
    if let Some(path) = &args.certificate {
        let mut pem = read(path, "--certificate")?;
        if let Some(key) = &args.private_key {
            pem.push(b'\n');
            pem.extend(read(key, "--private-key")?);
        }
        builder = builder.client_certificate_pem(pem);
    }
    builder.build().context("cannot set up the downloader")
}

/// The bytes of the file a flag names, with an error naming both.
fn read(path: &std::path::Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{flag}: cannot read {}", path.display()))
}

/// The `.netrc` to use: `--netrc-file`, else `~/.netrc` (`$HOME/.netrc`)
/// when it exists, unless `--no-netrc`. One that exists but does not parse
/// is an error naming its line.
fn read_netrc(args: &Args) -> anyhow::Result<Option<parget::netrc::Netrc>> {
    let (path, flag) = match &args.netrc_file {
        Some(path) => (path.clone(), "--netrc-file"),
        None if args.no_netrc => return Ok(None),
        None => match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            Some(home) => {
                let path = std::path::PathBuf::from(home).join(".netrc");
                if path.symlink_metadata().is_err() {
                    return Ok(None);
                }
                (path, "~/.netrc (--no-netrc skips it)")
            }
            None => return Ok(None),
        },
    };
    let bytes = read(&path, flag)?;
    parget::netrc::Netrc::parse(&bytes, &path.display().to_string())
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}
