//! Numbers from runs: median and range, ratios, and the markdown table.
//! Pure: no I/O.

use serde::Serialize;

/// What one run of one tool cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Sample {
    /// Wall-clock seconds from spawn to exit.
    pub wall: f64,
    /// User CPU seconds of the tool (and its children).
    pub user: f64,
    /// System CPU seconds of the tool (and its children).
    pub sys: f64,
    /// Peak resident set size in KiB (the largest of the tool's processes).
    pub max_rss_kib: u64,
    /// CPU seconds the test server spent during the run.
    pub server_cpu: f64,
}

impl Sample {
    /// User plus system CPU seconds.
    pub fn cpu(&self) -> f64 {
        self.user + self.sys
    }
}

/// Median, minimum and maximum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` when empty.
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: sorted[0],
            max: sorted[n - 1],
        })
    }
}

/// The summary of one tool in one scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolResult {
    /// The tool's name in the table.
    pub tool: String,
    /// Its version line, when it tells one.
    pub version: Option<String>,
    /// True for parget itself (the row the ratios are about).
    pub is_parget: bool,
    /// Every measured run, in order (empty when the tool failed).
    pub samples: Vec<Sample>,
    /// Wall seconds; `None` when it failed.
    pub wall: Option<Spread>,
    /// Median CPU seconds (user + sys).
    pub cpu: Option<f64>,
    /// Largest peak RSS over the runs, KiB.
    pub max_rss_kib: Option<u64>,
    /// Median server CPU seconds per run.
    pub server_cpu: Option<f64>,
    /// Files per second at the median wall time.
    pub files_per_s: Option<f64>,
    /// Megabytes (10^6) per second at the median wall time.
    pub mb_per_s: Option<f64>,
    /// Median wall over the best peer's median wall.
    pub vs_best_peer: Option<f64>,
    /// Median wall over the physical bound.
    pub vs_bound: Option<f64>,
    /// Why the tool failed (a wrong or missing file, a non-zero exit...).
    pub failure: Option<String>,
    /// How it was run, e.g. its flags, or a note such as fewer runs.
    pub note: Option<String>,
}

impl ToolResult {
    /// A tool that ran `samples` and produced correct output every time.
    pub fn measured(tool: &str, is_parget: bool, samples: Vec<Sample>) -> ToolResult {
        let walls: Vec<f64> = samples.iter().map(|s| s.wall).collect();
        let cpus: Vec<f64> = samples.iter().map(Sample::cpu).collect();
        let servers: Vec<f64> = samples.iter().map(|s| s.server_cpu).collect();
        ToolResult {
            tool: tool.to_owned(),
            version: None,
            is_parget,
            wall: Spread::of(&walls),
            cpu: Spread::of(&cpus).map(|s| s.median),
            max_rss_kib: samples.iter().map(|s| s.max_rss_kib).max(),
            server_cpu: Spread::of(&servers).map(|s| s.median),
            samples,
            files_per_s: None,
            mb_per_s: None,
            vs_best_peer: None,
            vs_bound: None,
            failure: None,
            note: None,
        }
    }

    /// A tool whose output (or exit) was wrong: a failure, never a timing.
    pub fn failed(tool: &str, is_parget: bool, why: String) -> ToolResult {
        ToolResult {
            failure: Some(why),
            ..ToolResult::measured(tool, is_parget, Vec::new())
        }
    }
}

/// Fills in throughput and the ratios of every result of one scenario:
/// the best peer is the fastest tool that is not parget.
pub fn rank(results: &mut [ToolResult], files: usize, bytes: u64, bound: Option<f64>) {
    let best_peer = best_peer_wall(results);
    for r in results.iter_mut() {
        let Some(wall) = r.wall.map(|w| w.median) else {
            continue;
        };
        if wall > 0.0 {
            r.files_per_s = Some(files as f64 / wall);
            r.mb_per_s = Some(bytes as f64 / 1e6 / wall);
        }
        r.vs_best_peer = best_peer.filter(|b| *b > 0.0).map(|b| wall / b);
        r.vs_bound = bound.filter(|b| *b > 0.0).map(|b| wall / b);
    }
}

/// The median wall time of the fastest peer that produced correct output.
pub fn best_peer_wall(results: &[ToolResult]) -> Option<f64> {
    best_peer(results).and_then(|r| r.wall.map(|w| w.median))
}

/// The fastest peer (not parget) that produced correct output.
pub fn best_peer(results: &[ToolResult]) -> Option<&ToolResult> {
    results
        .iter()
        .filter(|r| !r.is_parget && r.failure.is_none())
        .filter(|r| r.wall.is_some())
        .min_by(|a, b| {
            let key = |r: &ToolResult| r.wall.map_or(f64::INFINITY, |w| w.median);
            key(a).total_cmp(&key(b))
        })
}

/// Seconds with a precision that suits their size: `0.083`, `1.65`, `31.2`.
pub fn secs(x: f64) -> String {
    if x < 1.0 {
        format!("{x:.3}")
    } else if x < 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.1}")
    }
}

/// A count or rate with a precision that suits its size.
pub fn number(x: f64) -> String {
    if x >= 100.0 {
        format!("{:.0}", x)
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// KiB as MiB for the RSS column.
pub fn rss(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// One scenario's table in markdown. `bytes_bound` picks MB/s over files/s.
pub fn markdown_table(results: &[ToolResult], bytes_bound: bool) -> String {
    let rate_header = if bytes_bound { "MB/s" } else { "files/s" };
    let mut out = format!(
        "| tool | wall median (s) | range (s) | runs | CPU s (user+sys) | peak RSS | {rate_header} | × best peer | × bound | server CPU s |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for r in results {
        let name = if r.is_parget {
            format!("**{}**", r.tool)
        } else {
            r.tool.clone()
        };
        if let Some(why) = &r.failure {
            out.push_str(&format!(
                "| {name} | FAILED: {} | | | | | | | | |\n",
                escape(why)
            ));
            continue;
        }
        let Some(wall) = r.wall else { continue };
        let dash = || "–".to_owned();
        let rate = if bytes_bound {
            r.mb_per_s
        } else {
            r.files_per_s
        };
        out.push_str(&format!(
            "| {name} | {} | {}–{} | {} | {} | {} | {} | {} | {} | {} |\n",
            secs(wall.median),
            secs(wall.min),
            secs(wall.max),
            r.samples.len(),
            r.cpu.map_or_else(dash, |c| format!("{c:.2}")),
            r.max_rss_kib.map_or_else(dash, rss),
            rate.map_or_else(dash, number),
            r.vs_best_peer.map_or_else(dash, |x| format!("{x:.2}×")),
            r.vs_bound.map_or_else(dash, |x| format!("{x:.2}×")),
            r.server_cpu.map_or_else(dash, |c| format!("{c:.2}")),
        ));
    }
    out
}

/// Keeps a message inside one table cell.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(wall: f64) -> Sample {
        Sample {
            wall,
            user: wall / 10.0,
            sys: wall / 20.0,
            max_rss_kib: (wall * 1000.0) as u64,
            server_cpu: 0.5,
        }
    }

    #[test]
    fn median_and_range() {
        assert_eq!(Spread::of(&[]), None);
        let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        let s = Spread::of(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
        let s = Spread::of(&[7.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (7.0, 7.0, 7.0));
    }

    #[test]
    fn ranks_against_the_fastest_correct_peer() {
        let mut results = vec![
            ToolResult::measured("parget", true, vec![sample(1.0), sample(1.2), sample(0.9)]),
            ToolResult::measured("curl", false, vec![sample(2.0), sample(2.0)]),
            ToolResult::measured("aria2c", false, vec![sample(1.5)]),
            ToolResult::failed("wget2", false, "f1.bin missing".into()),
        ];
        // A failed tool never counts as the best peer, however fast.
        rank(&mut results, 100, 10_000_000, Some(0.5));
        assert_eq!(best_peer(&results).unwrap().tool, "aria2c");
        let p = &results[0];
        assert_eq!(p.wall.unwrap().median, 1.0);
        assert!((p.vs_best_peer.unwrap() - 1.0 / 1.5).abs() < 1e-12);
        assert!((p.vs_bound.unwrap() - 2.0).abs() < 1e-12);
        assert!((p.files_per_s.unwrap() - 100.0).abs() < 1e-12);
        assert!((p.mb_per_s.unwrap() - 10.0).abs() < 1e-12);
        assert_eq!(p.max_rss_kib, Some(1200));
        assert!((p.cpu.unwrap() - 0.15).abs() < 1e-12);
        assert!((results[2].vs_best_peer.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(results[3].vs_best_peer, None);
    }

    #[test]
    fn no_peer_no_ratio() {
        let mut results = vec![ToolResult::measured("parget", true, vec![sample(1.0)])];
        rank(&mut results, 1, 1, None);
        assert_eq!(results[0].vs_best_peer, None);
        assert_eq!(results[0].vs_bound, None);
    }

    #[test]
    fn table_has_a_row_per_tool_and_failures_say_why() {
        let mut results = vec![
            ToolResult::measured("parget", true, vec![sample(1.64), sample(1.72)]),
            ToolResult::measured("curl", false, vec![sample(1.79)]),
            ToolResult::failed("wget2", false, "2 files missing | f1".into()),
        ];
        rank(&mut results, 500, 8_192_000, Some(1.6));
        let table = markdown_table(&results, false);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5, "{table}");
        assert!(lines[0].contains("files/s"));
        assert!(
            lines[2].starts_with("| **parget** | 1.68 | 1.64–1.72 | 2 |"),
            "{}",
            lines[2]
        );
        assert!(lines[2].contains("0.94×"), "{}", lines[2]);
        assert!(lines[2].contains("1.05×"), "{}", lines[2]);
        assert!(lines[3].starts_with("| curl | 1.79 |"), "{}", lines[3]);
        assert!(
            lines[4].contains("FAILED: 2 files missing \\| f1"),
            "{}",
            lines[4]
        );
        // Every row has the same number of cells as the header.
        let cells = |l: &str| l.replace("\\|", "").matches('|').count();
        for line in &lines {
            assert_eq!(cells(line), cells(lines[0]), "{line}");
        }
        assert!(markdown_table(&results, true)
            .lines()
            .next()
            .unwrap()
            .contains("MB/s"));
    }

    #[test]
    fn number_formats() {
        assert_eq!(secs(0.0834), "0.083");
        assert_eq!(secs(1.654), "1.65");
        assert_eq!(secs(31.24), "31.2");
        assert_eq!(number(20_000.4), "20000");
        assert_eq!(number(55.55), "55.5");
        assert_eq!(number(1.234), "1.23");
        assert_eq!(rss(10_240), "10.0 MiB");
    }
}
