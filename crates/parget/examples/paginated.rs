//! Downloads every endpoint of a paginated listing API, each exactly once,
//! with discovery and downloads overlapping.
//!
//! The API is the one of `../shared/seeds/001_5a5f72e399808b7c.txt` (served
//! by `parget-testbed`): `POST /api/list_files` with `start` and `per_page`
//! (at most 5) answers a JSON array of endpoint paths and a header
//! `More: true|false`.
//!
//! The seed walks the pages one after the other, so 100 pages with a 0.3 s
//! lag take 30 s before the last endpoint is even known. Here the paging is
//! not serial: a page's offset is known without its predecessor's answer,
//! so pages are asked for ahead, in a window that starts at
//! `--window` pages and grows by `--growth` pages for every answer saying
//! `More: true` (up to `--max-window` in flight). The first `More: false`
//! (or empty page) marks the end: no offset past it is asked for, and pages
//! still in flight past it are dropped. The first window is as wide as
//! the largest one: a page asked for past the end costs one small request
//! answered at once with an empty list, while a page asked for one lag too
//! late costs a whole lag (with 100 pages, a first window of 64 made three
//! lags of what two can do). The price: a short listing still gets 128
//! page requests at once, which an API that limits its request rate may
//! not like; `--window 8` (and `--growth`, which widens the window by that
//! many pages per full page answered, up to `--max-window`) asks less. Every endpoint a page brings goes
//! straight into [`parget::Downloader::download_all`], so downloads start
//! while later pages are still on their way.
//!
//! The pages themselves are fetched by the same downloader, as downloads
//! to memory with a body: its retries, timeouts and connection pool serve
//! the listing too, and the `More` header comes back on the report.
//!
//! ```sh
//! cargo run --release -p parget-testbed -- --listing-files 500 --listing-lag-ms 300
//! cargo run --release -p parget --example paginated -- http://127.0.0.1:PORT out
//! ```
//!
//! Prints how many endpoints were fetched; exit status 1 if any failed.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use futures_util::stream::{FuturesUnordered, StreamExt};
use http::Method;
use parget::{Downloader, Request};
use tokio::sync::mpsc;

/// Command-line settings.
struct Args {
    base: String,
    out: PathBuf,
    concurrency: usize,
    per_page: u64,
    window: usize,
    growth: usize,
    max_window: usize,
}

const USAGE: &str = "usage: paginated BASE_URL OUT_DIR [--concurrency N] [--per-page N] \
                     [--window N] [--growth N] [--max-window N]";

fn parse_args() -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut args = Args {
        base: String::new(),
        out: PathBuf::new(),
        concurrency: 512,
        per_page: 5,
        window: 128,
        growth: 2,
        max_window: 128,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{name} needs a positive number"))
        };
        match arg.as_str() {
            "--concurrency" => args.concurrency = number("--concurrency")?,
            "--per-page" => args.per_page = number("--per-page")? as u64,
            "--window" => args.window = number("--window")?,
            "--growth" => args.growth = number("--growth")?,
            "--max-window" => args.max_window = number("--max-window")?,
            "-h" | "--help" => return Err(USAGE.into()),
            _ if arg.starts_with('-') => return Err(format!("unknown flag {arg}\n{USAGE}")),
            _ => positional.push(arg),
        }
    }
    let [base, out] = <[String; 2]>::try_from(positional).map_err(|_| USAGE.to_owned())?;
    args.base = base.trim_end_matches('/').to_owned();
    args.out = out.into();
    Ok(args)
}

/// One page's answer: its offset, the endpoint paths, and `More`.
struct Page {
    offset: u64,
    endpoints: Vec<String>,
    more: bool,
}

/// `POST /api/list_files` for the page at `offset`, through the engine:
/// a download to memory with a body, retried by the engine's policy, its
/// `More` header read from the report.
async fn fetch_page(
    downloader: &Downloader,
    base: &str,
    offset: u64,
    per_page: u64,
) -> Result<Page, String> {
    let body = serde_json::json!({ "start": offset, "per_page": per_page }).to_string();
    let request = Request::new_in_memory(&format!("{base}/api/list_files"))
        .and_then(|r| r.with_header("Content-Type", "application/json"))
        .map_err(|e| format!("page at {offset}: {e:#}"))?
        .with_body(Method::POST, body);
    let report = downloader
        .download(request)
        .await
        .into_result()
        .map_err(|e| format!("page at {offset}: {e:#}"))?;
    let more = report
        .headers()
        .get("More")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let endpoints: Vec<String> = serde_json::from_slice(report.data().map_or(&[][..], |d| d))
        .map_err(|e| format!("page at {offset}: not a JSON list of strings: {e}"))?;
    Ok(Page {
        offset,
        endpoints,
        more,
    })
}

/// Walks the pages with a growing window of requests in flight and sends
/// every new endpoint to `found`. Returns the number of pages asked for.
async fn discover(
    args: &Args,
    downloader: &Downloader,
    found: mpsc::UnboundedSender<String>,
) -> Result<u64, String> {
    let per_page = args.per_page;
    let mut in_flight = FuturesUnordered::new();
    // Offsets asked for and not yet answered.
    let mut pending: BTreeSet<u64> = BTreeSet::new();
    let mut next_offset = 0u64;
    // The first offset known to lie past the end of the listing.
    let mut end: Option<u64> = None;
    let mut allowance = args.window.max(1);
    let mut seen: HashSet<String> = HashSet::new();
    let mut asked = 0u64;
    loop {
        while allowance > 0
            && in_flight.len() < args.max_window.max(1)
            && end.is_none_or(|e| next_offset < e)
        {
            let offset = next_offset;
            in_flight
                .push(async move { fetch_page(downloader, &args.base, offset, per_page).await });
            pending.insert(offset);
            next_offset += per_page;
            allowance -= 1;
            asked += 1;
        }
        // Done once every page before the end has answered; pages still in
        // flight past the end are dropped (their requests cancelled).
        if let Some(e) = end {
            if pending.range(..e).next().is_none() {
                break;
            }
        }
        let Some(page) = in_flight.next().await else {
            break;
        };
        let page = page?;
        pending.remove(&page.offset);
        let got = page.endpoints.len() as u64;
        for endpoint in page.endpoints {
            if seen.insert(endpoint.clone()) && found.send(endpoint).is_err() {
                return Err("the downloads stopped".into());
            }
        }
        if page.more && got < per_page {
            return Err(format!(
                "the page at {} brought {got} endpoints and More: true; \
                 the server pages by fewer than --per-page {per_page}",
                page.offset
            ));
        }
        if page.more && got > 0 {
            allowance += args.growth;
        } else {
            // Nothing lies past this page's last entry.
            let past = page.offset + got.max(1);
            let past = past.div_ceil(per_page) * per_page;
            end = Some(end.map_or(past, |e| e.min(past)));
        }
    }
    Ok(asked)
}

/// The file name of an endpoint: its last path segment.
fn file_name(endpoint: &str) -> Option<&str> {
    let name = endpoint.trim_end_matches('/').rsplit('/').next()?;
    (!name.is_empty() && name != "." && name != "..").then_some(name)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let downloader = match Downloader::builder()
        .concurrency(args.concurrency)
        .max_per_host(args.concurrency)
        .build()
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let (found, mut endpoints) = mpsc::unbounded_channel::<String>();
    let base = args.base.clone();
    let out = args.out.clone();
    // Endpoints become requests as they arrive; a bad name ends the stream
    // of requests early and is reported below.
    let (bad_tx, mut bad_rx) = mpsc::unbounded_channel::<String>();
    let requests = futures_util::stream::poll_fn(move |cx| endpoints.poll_recv(cx)).filter_map(
        move |endpoint| {
            let request = match file_name(&endpoint) {
                Some(name) => Request::new(&format!("{base}{endpoint}"), out.join(name))
                    .map_err(|e| e.to_string()),
                None => Err(format!("endpoint `{endpoint}` has no file name")),
            };
            let bad_tx = bad_tx.clone();
            async move {
                match request {
                    Ok(r) => Some(r),
                    Err(e) => {
                        let _ = bad_tx.send(e);
                        None
                    }
                }
            }
        },
    );
    let mut reports = downloader.download_all(requests);

    let downloads = async {
        let (mut ok, mut failed) = (0usize, 0usize);
        while let Some(report) = reports.next().await {
            match report.error() {
                None => ok += 1,
                Some(e) => {
                    failed += 1;
                    if failed <= 3 {
                        eprintln!("failed: {e}");
                    }
                }
            }
        }
        (ok, failed)
    };
    let discovery = async {
        let result = discover(&args, &downloader, found).await;
        if let Err(e) = &result {
            eprintln!("discovery failed: {e}");
        }
        result
    };
    let (pages, (ok, failed)) = tokio::join!(discovery, downloads);
    let mut bad = 0;
    while let Ok(e) = bad_rx.try_recv() {
        eprintln!("{e}");
        bad += 1;
    }
    let pages = pages.ok();
    println!(
        "fetched {ok} endpoints ({failed} failed) after asking for {} pages, in {:.2} s",
        pages.map_or_else(|| "?".to_owned(), |p| p.to_string()),
        started.elapsed().as_secs_f64()
    );
    if failed > 0 || bad > 0 || pages.is_none() || ok == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
