//! What parget says about finished entries: a line per failure on standard
//! error, `--json` objects on standard output, and the closing summary.

use std::io::Write;
use std::time::Instant;

use indicatif::HumanBytes;
use parget::redact::redact_url_text;
use parget::{ErrorKind, Outcome, Report};
use serde::Serialize;

use crate::entries::Invalid;
use crate::progress::Progress;
use crate::summary::{Failure, Failures, Totals};

/// Counts and writes the results.
pub struct Output {
    json: bool,
    started: Instant,
    /// Downloads that ended well.
    pub ok: u64,
    /// Destinations that already held the expected bytes.
    pub skipped: u64,
    /// Downloads and entries that failed.
    pub failed: u64,
    bytes: u64,
    /// The failed entries, kept for `--summary-json`.
    failures: Option<Failures>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    url: Option<&'a str>,
    path: Option<String>,
    status: &'static str,
    bytes: u64,
    digests: serde_json::Map<String, serde_json::Value>,
    elapsed: f64,
    attempts: u32,
    error: Option<String>,
}

impl Output {
    /// Output that writes JSON objects when `json`, and keeps the failed
    /// entries for a summary when `failures` is given.
    pub fn new(json: bool, failures: Option<Failures>) -> Output {
        Output {
            json,
            started: Instant::now(),
            ok: 0,
            skipped: 0,
            failed: 0,
            bytes: 0,
            failures,
        }
    }

    /// Records a finished download.
    pub fn report(&mut self, report: &Report, progress: &Progress) {
        let status = match report.outcome() {
            Outcome::Downloaded => {
                self.ok += 1;
                self.bytes += report.bytes();
                "ok"
            }
            Outcome::Skipped => {
                self.skipped += 1;
                "skipped"
            }
            Outcome::Failed(error) => {
                self.failed += 1;
                let message = describe(error);
                progress.println_always(&format!("parget: failed: {message}"));
                if let Some(failures) = &mut self.failures {
                    // The error names the URL as given: its password goes
                    // too, so a summary can be shared.
                    let url = redact_url_text(report.url());
                    let error = message.replace(report.url(), &url);
                    failures.add(&Failure {
                        url: Some(url.into_owned()),
                        path: report.path().map(|p| p.display().to_string()),
                        error: &error,
                    });
                }
                "failed"
            }
        };
        if self.json {
            let digests = report
                .digests()
                .iter()
                .map(|d| (d.algorithm().name().to_owned(), d.to_hex().into()))
                .collect();
            self.write_json(&JsonReport {
                url: Some(report.url()),
                path: report.path().map(|p| p.display().to_string()),
                status,
                bytes: report.bytes(),
                digests,
                elapsed: report.elapsed().as_secs_f64(),
                attempts: report.attempts(),
                error: report.error().map(describe),
            });
        }
    }

    /// Records an entry that never became a download.
    pub fn invalid(&mut self, invalid: &Invalid, progress: &Progress) {
        self.failed += 1;
        progress.println_always(&format!("parget: failed: {}", invalid.message));
        if let Some(failures) = &mut self.failures {
            failures.add(&Failure {
                url: invalid
                    .url
                    .as_deref()
                    .map(|u| redact_url_text(u).into_owned()),
                path: None,
                error: &invalid.message,
            });
        }
        if self.json {
            self.write_json(&JsonReport {
                url: invalid.url.as_deref(),
                path: None,
                status: "failed",
                bytes: 0,
                digests: serde_json::Map::new(),
                elapsed: 0.0,
                attempts: 0,
                error: Some(invalid.message.clone()),
            });
        }
    }

    fn write_json(&self, report: &JsonReport<'_>) {
        let mut stdout = std::io::stdout().lock();
        // A closed stdout (piped into `head`) must not stop the downloads.
        if serde_json::to_writer(&mut stdout, report).is_ok() {
            let _ = stdout.write_all(b"\n");
            let _ = stdout.flush();
        }
    }

    /// The totals and the failed entries, for `--summary-json`.
    pub fn summary_parts(
        &mut self,
        interrupted: bool,
        shard: Option<String>,
    ) -> (Totals, Option<Failures>) {
        let totals = Totals {
            ok: self.ok,
            skipped: self.skipped,
            failed: self.failed,
            bytes: self.bytes,
            elapsed: self.started.elapsed().as_secs_f64(),
            interrupted,
            shard,
        };
        (totals, self.failures.take())
    }

    /// The closing line.
    pub fn summary(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        format!(
            "parget: {} downloaded, {} skipped, {} failed; {} in {:.2} s ({}/s)",
            self.ok,
            self.skipped,
            self.failed,
            HumanBytes(self.bytes),
            secs,
            HumanBytes((self.bytes as f64 / secs.max(0.001)) as u64)
        )
    }
}

/// An engine error on one line, with its causes, and the flag that
/// changes the outcome where there is one.
pub fn describe(error: &parget::Error) -> String {
    let hint = match error.kind() {
        ErrorKind::DestinationExists(_) => " (use --allow-overwrite to replace it)",
        ErrorKind::Cancelled => "; resume it with --continue",
        ErrorKind::Io(_) if is_locked(error) => " (use --wait-for-lock to wait for it)",
        _ => "",
    };
    format!("{error:#}{hint}")
}

/// True for the engine's "another download holds this destination's
/// lock": an I/O error whose cause is of kind `WouldBlock`.
fn is_locked(error: &parget::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|cause| cause.downcast_ref::<std::io::Error>())
        .is_some_and(|io| io.kind() == std::io::ErrorKind::WouldBlock)
}
