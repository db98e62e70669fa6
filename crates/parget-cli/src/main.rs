//! `parget`: the command-line downloader, a thin layer over the `parget`
//! library: arguments in, requests to the engine, reports out.

mod args;
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
use crate::output::Output;
use crate::progress::{Mode, Progress};

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
    let code = match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("parget: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    };
    // Every download has reported, so the engine's work is done; a
    // blocking call it abandoned on a stop (a `file://` read that never
    // returns) must not keep the process alive.
    runtime.shutdown_background();
    code
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
    progress.println(&output.summary());
    let mut summary_failed = false;
    if let Some(path) = &args.summary_json {
        let (totals, failures) =
            output.summary_parts(stopped_by.is_some(), args.shard.map(|s| s.to_string()));
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
    } else if output.failed > 0 || summary_failed {
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
        .resume_partial(args.continue_partial)
        .allow_overwrite(args.allow_overwrite)
        .fsync(args.fsync)
        .wait_for_lock(args.wait_for_lock)
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
