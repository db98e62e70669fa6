//! Progress on standard error: bars when it is a terminal, a plain line
//! every few seconds when it is not, nothing with -q.
//!
//! Built on the engine's [`Reporter`]: downloads announce their start and
//! end, and one ticker reads their byte counters at 10 Hz.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use parget::{DownloadId, DownloadProgress, Report, Reporter, Retry, Totals};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Bars, redrawn in place.
    Bars,
    /// A plain line every few seconds.
    Lines,
    /// Nothing.
    Quiet,
}

/// The CLI's reporter and renderer.
pub struct Progress {
    mode: Mode,
    bars: MultiProgress,
    overall: ProgressBar,
    /// A bar per running download, by the id its start and finish share.
    active: Mutex<Vec<(DownloadId, Arc<DownloadProgress>, ProgressBar)>>,
}

/// At most this many per-download bars; more would scroll the terminal.
const MAX_BARS: usize = 8;

impl Progress {
    /// A renderer in `mode`.
    pub fn new(mode: Mode) -> Arc<Progress> {
        let target = match mode {
            Mode::Bars => ProgressDrawTarget::stderr_with_hz(10),
            _ => ProgressDrawTarget::hidden(),
        };
        let bars = MultiProgress::with_draw_target(target);
        let overall = bars.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template(
                "{prefix:>9} {bytes:>10} {binary_bytes_per_sec:>12} ETA {eta:>4} {wide_msg}",
            )
            .expect("the template is valid"),
        );
        overall.set_prefix("total");
        Arc::new(Progress {
            mode,
            bars,
            overall,
            active: Mutex::new(Vec::new()),
        })
    }

    /// Prints a line above the bars (or plainly), unless quiet. Control
    /// characters are escaped: a line may hold text from a list or a server.
    pub fn println(&self, line: &str) {
        let line = parget::redact::escape_control(line);
        match self.mode {
            Mode::Bars => self.bars.suspend(|| eprintln!("{line}")),
            Mode::Lines => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
            Mode::Quiet => {}
        }
    }

    /// Prints a line even when quiet (failures), control characters escaped.
    pub fn println_always(&self, line: &str) {
        let line = parget::redact::escape_control(line);
        match self.mode {
            Mode::Bars => self.bars.suspend(|| eprintln!("{line}")),
            _ => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        }
    }

    /// Redraws from the counters until the task is aborted.
    pub async fn tick(self: Arc<Self>, totals: Arc<Totals>) {
        let started = Instant::now();
        let period = match self.mode {
            Mode::Bars => Duration::from_millis(100),
            Mode::Lines => Duration::from_secs(2),
            Mode::Quiet => return,
        };
        let mut interval = tokio::time::interval(period);
        interval.tick().await;
        loop {
            interval.tick().await;
            self.redraw(&totals, started);
        }
    }

    fn redraw(&self, totals: &Totals, started: Instant) {
        let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        let mut known_remaining = 0u64;
        for (_, progress, bar) in active.iter() {
            let received = progress.received();
            if let Some(total) = progress.total() {
                bar.set_length(total);
                known_remaining += total.saturating_sub(received);
            }
            bar.set_position(received);
            let name = progress
                .destination()
                .file_name()
                .map(|n| parget::redact::escape_control(&n.to_string_lossy()).into_owned())
                .unwrap_or_else(|| crate::output::shown_url(progress.url()));
            match progress.segments() {
                0 | 1 => bar.set_message(name),
                n => bar.set_message(format!("{name} ({n} connections)")),
            }
        }
        let received = totals.received();
        let message = format!(
            "{} done, {} failed, {} active",
            totals.finished() - totals.failed(),
            totals.failed(),
            totals.active()
        );
        match self.mode {
            Mode::Bars => {
                self.overall.set_length(received + known_remaining);
                self.overall.set_position(received);
                self.overall.set_message(message);
            }
            Mode::Lines => {
                let secs = started.elapsed().as_secs_f64().max(0.001);
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "parget: {} received, {}/s; {message}",
                    HumanBytes(received),
                    HumanBytes((received as f64 / secs) as u64)
                );
            }
            Mode::Quiet => {}
        }
    }

    /// Clears the bars before the summary.
    pub fn finish(&self) {
        if self.mode == Mode::Bars {
            for (_, _, bar) in self
                .active
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain(..)
            {
                bar.finish_and_clear();
            }
            self.overall.finish_and_clear();
            let _ = self.bars.clear();
        }
    }
}

impl Reporter for Progress {
    fn started(&self, progress: &Arc<DownloadProgress>) {
        if self.mode != Mode::Bars {
            return;
        }
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        if active.len() >= MAX_BARS {
            return;
        }
        let bar = self.bars.add(ProgressBar::new(0));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>9} {bytes:>10} {wide_bar} {percent:>3}% {msg}")
                .expect("the template is valid"),
        );
        active.push((progress.id(), progress.clone(), bar));
    }

    fn finished(&self, report: &Report) {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(index) = active.iter().position(|(id, _, _)| *id == report.id()) {
            let (_, _, bar) = active.swap_remove(index);
            bar.finish_and_clear();
            self.bars.remove(&bar);
        }
    }

    fn retrying(&self, progress: &DownloadProgress, retry: &Retry<'_>) {
        let url = crate::output::shown_url(progress.url());
        let why = crate::output::shown_text(&format!("{:#}", retry.error));
        self.println(&match retry.counted {
            // The count is of the retries `--retries` bounds (it starts
            // again when a connection completes a range), not of all
            // requests: with `--retries 2`, the line never says "retry 3".
            Some(count) => format!(
                "parget: retry {} of {} for {url} in {:.1} s: {why}",
                count.in_a_row,
                count.limit,
                retry.delay.as_secs_f64(),
            ),
            // The next attempt may go elsewhere (the next mirror): the URL
            // names the download, not where it goes next.
            None => format!("parget: trying again at once for {url}: {why}"),
        });
    }
}
