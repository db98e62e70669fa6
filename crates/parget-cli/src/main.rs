//! `parget`: the command-line downloader, a thin layer over the `parget`
//! library: arguments in, requests to the engine, reports out.

mod args;
mod entries;
mod output;
mod progress;
mod shard;
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
use crate::output::Output;
use crate::progress::{Mode, Progress};

/// Exit status when interrupted (128 + SIGINT), as shells expect.
const EXIT_INTERRUPTED: u8 = 130;
/// Exit status when terminated (128 + SIGTERM).
const EXIT_TERMINATED: u8 = 143;
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(message) = args.validate() {
        eprintln!("parget: {message}");
        return ExitCode::from(EXIT_USAGE);
    }
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
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("parget: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

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
    let mut interrupted: Option<u8> = None;
    let mut invalid_open = true;
    let mut signals = std::pin::pin!(stop_signal());
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
            code = &mut signals, if interrupted.is_none() => {
                interrupted = Some(code);
                progress.println_always("parget: interrupted; stopping (partial files are kept for --continue)");
                downloader.cancel();
                // A second signal ends at once (without the summary).
                tokio::spawn(async {
                    let code = stop_signal().await;
                    std::process::exit(i32::from(code));
                });
            },
        }
    }
    // Entries found invalid after the last download ended.
    while invalid_open {
        match invalid.recv().await {
            Some(item) => output.invalid(&item, &progress),
            None => invalid_open = false,
        }
    }
    ticker.abort();
    progress.finish();
    progress.println(&output.summary());
    let mut summary_failed = false;
    if let Some(path) = &args.summary_json {
        let (totals, failures) =
            output.summary_parts(interrupted.is_some(), args.shard.map(|s| s.to_string()));
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
    Ok(if let Some(code) = interrupted {
        ExitCode::from(code)
    } else if output.failed > 0 || summary_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM (what a scheduler sends to stop a
/// job); the exit status for it, 128 + the signal's number.
async fn stop_signal() -> u8 {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => EXIT_INTERRUPTED,
            _ = term.recv() => EXIT_TERMINATED,
        },
        // No SIGTERM handler could be set up: Ctrl-C still works.
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            EXIT_INTERRUPTED
        }
    }
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
        .resume_partial(args.continue_partial)
        .allow_overwrite(args.allow_overwrite)
        .fsync(args.fsync)
        .danger_accept_invalid_certs(args.insecure)
        .reporter(progress);
    if let Some(cap) = args.max_per_host {
        builder = builder.max_per_host(cap as usize);
    }
    if let Some(agent) = &args.user_agent {
        builder = builder.user_agent(agent.clone());
    }
    for path in &args.ca_certificates {
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        builder = builder.add_root_certificate_pem(pem);
    }
    builder.build().context("cannot set up the downloader")
}
