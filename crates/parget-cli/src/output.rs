//! What parget says about finished entries: a line per failure on standard
//! error, `--json` objects on standard output, and the closing summary.
//!
//! Every URL shown has its password replaced, and every text that came
//! from a list or a server has its control characters escaped, so neither
//! a credential nor a terminal escape sequence is ever printed.

use std::io::Write;
use std::time::Instant;

use indicatif::HumanBytes;
use parget::redact::{escape_control, redact_url_text};
use parget::{ErrorKind, Outcome, Report};
use serde::Serialize;

use crate::entries::{Invalid, ListPlace};
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
    /// The failed entries, kept for `--summary-json`.
    failures: Option<Failures>,
    /// `--json` could not be written (not a reader that left): the run
    /// then fails, since the reports asked for are incomplete.
    pub json_failed: bool,
    /// Standard output is closed or failed: nothing more is written there.
    json_stopped: bool,
}

#[derive(Serialize)]
struct JsonReport {
    url: Option<String>,
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
            failures,
            json_failed: false,
            json_stopped: false,
        }
    }

    /// Records a finished download.
    pub fn report(&mut self, report: &Report, progress: &Progress) {
        let status = match report.outcome() {
            Outcome::Downloaded => {
                self.ok += 1;
                "ok"
            }
            Outcome::Skipped => {
                self.skipped += 1;
                "skipped"
            }
            Outcome::Failed(error) => {
                self.failed += 1;
                let message = describe(error);
                let url = shown_url(report.url());
                // An error about a mirror names the mirror; the line names
                // the download too, by the URL it was listed with.
                let line = match error.url() {
                    Some(about) if shown_url(about) != url => format!("{url}: {message}"),
                    _ => message.clone(),
                };
                let line = match report.tag().and_then(|t| t.downcast_ref::<ListPlace>()) {
                    Some(place) => format!("{}: {line}", shown_text(&place.0)),
                    None => line,
                };
                progress.println_always(&format!("parget: failed: {line}"));
                if let Some(failures) = &mut self.failures {
                    failures.add(&Failure {
                        url: Some(url),
                        path: report.path().map(|p| p.display().to_string()),
                        error: &message,
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
            let json = JsonReport {
                url: Some(shown_url(report.url())),
                path: report
                    .path()
                    .map(|p| escape_control(&p.display().to_string()).into_owned()),
                status,
                bytes: report.bytes(),
                digests,
                elapsed: report.elapsed().as_secs_f64(),
                attempts: report.attempts(),
                error: report.error().map(describe),
            };
            self.write_json(&json, progress);
        }
    }

    /// Records an entry that never became a download.
    pub fn invalid(&mut self, invalid: &Invalid, progress: &Progress) {
        self.failed += 1;
        let message = shown_text(&invalid.message);
        progress.println_always(&format!("parget: failed: {message}"));
        if let Some(failures) = &mut self.failures {
            failures.add(&Failure {
                url: invalid.url.as_deref().map(shown_url),
                path: None,
                error: &message,
            });
        }
        if self.json {
            let json = JsonReport {
                url: invalid.url.as_deref().map(shown_url),
                path: None,
                status: "failed",
                bytes: 0,
                digests: serde_json::Map::new(),
                elapsed: 0.0,
                attempts: 0,
                error: Some(message),
            };
            self.write_json(&json, progress);
        }
    }

    fn write_json(&mut self, report: &JsonReport, progress: &Progress) {
        if self.json_stopped {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        let written = serde_json::to_writer(&mut stdout, report)
            .map_err(std::io::Error::from)
            .and_then(|()| stdout.write_all(b"\n"))
            .and_then(|()| stdout.flush());
        let Err(e) = written else { return };
        // Either way the downloads go on. A reader that left (piped into
        // `head`) wanted no more; any other failure (a full disk) loses
        // reports the caller asked for, and fails the run.
        self.json_stopped = true;
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            self.json_failed = true;
            progress.println_always(&format!(
                "parget: cannot write the --json reports to standard output: {e}"
            ));
        }
    }

    /// The totals and the failed entries, for `--summary-json`; `bytes`
    /// as for [`Output::summary`].
    pub fn summary_parts(
        &mut self,
        bytes: u64,
        interrupted: bool,
        shard: Option<String>,
    ) -> (Totals, Option<Failures>) {
        let totals = Totals {
            ok: self.ok,
            skipped: self.skipped,
            failed: self.failed,
            bytes,
            elapsed: self.started.elapsed().as_secs_f64(),
            interrupted,
            shard,
        };
        (totals, self.failures.take())
    }

    /// The closing line; `received` is what this run received (not the
    /// bytes an earlier run left for a resume, and counting what arrived
    /// before an interrupt), so the rate is this run's.
    pub fn summary(&self, received: u64) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        format!(
            "parget: {} downloaded, {} skipped, {} failed; {} received in {:.2} s ({}/s)",
            self.ok,
            self.skipped,
            self.failed,
            HumanBytes(received),
            secs,
            HumanBytes((received as f64 / secs.max(0.001)) as u64)
        )
    }
}

/// A URL as parget shows it: password replaced, control characters escaped.
pub fn shown_url(url: &str) -> String {
    escape_control(&redact_url_text(url)).into_owned()
}

/// A message as parget shows it: the password of every URL in it replaced,
/// control characters escaped.
pub fn shown_text(text: &str) -> String {
    escape_control(&parget::redact::redact_urls_in(text)).into_owned()
}

/// An engine error on one line, with its causes, and the flag that
/// changes the outcome where there is one.
pub fn describe(error: &parget::Error) -> String {
    let hint = match error.kind() {
        ErrorKind::DestinationExists(_) => " (use --allow-overwrite to replace it)",
        ErrorKind::Cancelled => "; resume it with --continue",
        ErrorKind::Io(_) if is_locked(error) => " (use --wait-for-lock to wait for it)",
        ErrorKind::InsecureRedirect(_) => " (--allow-insecure-redirect follows it)",
        ErrorKind::Tls => tls_hint(&format!("{error:#}").to_ascii_lowercase()),
        _ => "",
    };
    shown_text(&format!("{error:#}{hint}"))
}

/// The flag that helps with a TLS refusal, by what rustls said (its
/// `Debug` names in the error's causes); none where no flag helps (a
/// certificate for another name, or expired).
fn tls_hint(causes: &str) -> &'static str {
    let says = |names: &[&str]| names.iter().any(|name| causes.contains(name));
    if says(&["unknownissuer", "badsignature"]) {
        " (--ca-certificate FILE trusts another CA)"
    } else if says(&["causedasendentity"]) {
        " (with a certificate that CA signed, --ca-certificate FILE trusts the CA; --insecure skips the check, for testing only)"
    } else if says(&[
        "certificaterequired",
        "badcertificate",
        "unknownca",
        "certificateunknown",
    ]) {
        " (the server wants a client certificate it trusts: --certificate FILE presents one)"
    } else if says(&[
        "protocolversion",
        "handshakefailure",
        "insufficientsecurity",
    ]) {
        " (the server and parget share no TLS version or cipher suite: parget speaks TLS 1.2 and 1.3)"
    } else {
        ""
    }
}

/// True for the engine's "another download holds this destination's
/// lock": an I/O error whose cause is of kind `WouldBlock`.
fn is_locked(error: &parget::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|cause| cause.downcast_ref::<std::io::Error>())
        .is_some_and(|io| io.kind() == std::io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_hints_follow_what_rustls_said() {
        for (causes, hint) in [
            (
                "invalid peer certificate: unknownissuer",
                "--ca-certificate",
            ),
            ("received fatal alert: certificaterequired", "--certificate"),
            (
                "invalid peer certificate: other(othererror(causedasendentity))",
                "--insecure skips",
            ),
            ("received fatal alert: badcertificate", "--certificate"),
            ("received fatal alert: protocolversion", "no TLS version"),
            ("received fatal alert: handshakefailure", "cipher suite"),
        ] {
            assert!(tls_hint(causes).contains(hint), "{causes}");
        }
        for causes in [
            "invalid peer certificate: notvalidforname",
            "invalid peer certificate: expired",
        ] {
            assert_eq!(tls_hint(causes), "", "{causes}");
        }
    }

    #[test]
    fn shown_text_hides_passwords_and_controls() {
        assert_eq!(
            shown_text("list:3: `http://u:pw@h/x y` failed: http://a:b@h/f: 404"),
            "list:3: `http://u:***@h/x y` failed: http://a:***@h/f: 404"
        );
        assert_eq!(shown_text("a\u{1b}[2Jb \u{9b}c"), "a\\x1b[2Jb \\u{9b}c");
        assert_eq!(shown_url("http://u:pw@h/\u{7}"), "http://u:***@h/\\x07");
        assert_eq!(shown_text("plain words"), "plain words");
    }
}
