//! The whole report: per-scenario tables, the notes, and the targets of the
//! issue judged on the numbers of this run. Pure: no I/O.

use serde::Serialize;

use crate::summary::{best_peer, markdown_table, secs, ToolResult};
use crate::tools::Tool;

/// The machine the numbers come from.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Cores available to the bench.
    pub cores: usize,
    /// Total memory in GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
}

/// One scenario's results.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// Short name.
    pub name: String,
    /// One-line description with the parameters.
    pub title: String,
    /// Files (or endpoints) per run.
    pub files: usize,
    /// Body bytes per run.
    pub bytes: u64,
    /// The physical bound in seconds, if any.
    pub bound_s: Option<f64>,
    /// How the bound is computed.
    pub bound_note: String,
    /// Whether MB/s (true) or files/s is the rate of the table.
    pub bytes_bound: bool,
    /// One row per tool that ran.
    pub results: Vec<ToolResult>,
    /// Tools not run, and why.
    pub skipped: Vec<(String, String)>,
    /// The server, e.g. `nginx/1.22.1, 1 worker, sendfile, limit_rate
    /// 20 MiB/s` or `parget-testbed`.
    pub server: String,
    /// For a verified single file: the limit a verified download is judged
    /// by.
    pub verified_limit: Option<VerifiedLimit>,
}

/// The limit of a verified download on this machine, measured in the same
/// run: no tool can be faster than the fastest peer that verifies
/// nothing, nor than one core hashing the same bytes from memory (on two
/// cores shared with the server, hashing cannot hide behind the transfer).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VerifiedLimit {
    /// Seconds for SHA-256 of the file's bytes on one core, from memory.
    pub sha256_s: f64,
    /// The same as a rate, 10^9 bytes per second.
    pub sha256_gb_per_s: f64,
    /// The fastest peer (none of them verifies) and its median wall time.
    pub peer: Option<(String, f64)>,
}

impl VerifiedLimit {
    /// The larger of the two, in seconds.
    pub fn limit_s(&self) -> f64 {
        self.peer
            .as_ref()
            .map_or(self.sha256_s, |(_, wall)| wall.max(self.sha256_s))
    }

    /// `sha256_s` from a measured `elapsed` over `bytes`, and the peer.
    pub fn new(bytes: u64, sha256_s: f64, peer: Option<(String, f64)>) -> VerifiedLimit {
        VerifiedLimit {
            sha256_s,
            sha256_gb_per_s: if sha256_s > 0.0 {
                bytes as f64 / sha256_s / 1e9
            } else {
                0.0
            },
            peer,
        }
    }
}

/// One target of the issue, judged.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Target {
    /// The scenario it is about.
    pub scenario: String,
    /// The target in words.
    pub goal: String,
    /// Met, missed, or `None` when it could not be judged (no peer, a failure).
    pub met: Option<bool>,
    /// The numbers behind the verdict.
    pub detail: String,
}

/// Everything one bench run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Where the numbers come from.
    pub machine: Machine,
    /// Runs per tool asked for.
    pub runs: usize,
    /// True for the shrunk smoke version (no timing is judged).
    pub smoke: bool,
    /// Every scenario parameter (`scenario.key` → value).
    pub params: std::collections::BTreeMap<String, u64>,
    /// Where the tools wrote their outputs.
    pub outputs: String,
    /// The loopback ceiling: a plain read of one large body to /dev/null,
    /// bytes per second.
    pub ceiling_bytes_per_s: Option<f64>,
    /// General remarks (fewer runs, debug build, ...).
    pub notes: Vec<String>,
    /// The shared-bottleneck link, when `--netns` ran.
    pub netns: Option<String>,
    /// The scenarios, in run order.
    pub scenarios: Vec<ScenarioReport>,
    /// The targets, judged (empty for a smoke run).
    pub targets: Vec<Target>,
}

impl ScenarioReport {
    /// The row the targets judge: parget doing the peers' work (the
    /// verifying row of a list is shown beside it, never judged).
    fn parget(&self) -> Option<&ToolResult> {
        self.results
            .iter()
            .find(|r| r.is_parget && r.tool != Tool::PargetVerifying.name())
    }

    /// The list's `parget-verifying` row, when it ran and is correct.
    fn verifying(&self) -> Option<&ToolResult> {
        self.results
            .iter()
            .find(|r| r.tool == Tool::PargetVerifying.name() && r.failure.is_none())
    }

    /// Why the list's `parget-verifying` row failed, when it ran and did.
    fn verifying_failure(&self) -> Option<&str> {
        self.results
            .iter()
            .find(|r| r.tool == Tool::PargetVerifying.name())
            .and_then(|r| r.failure.as_deref())
    }

    /// A target of this scenario.
    fn target(&self, goal: &str, met: Option<bool>, detail: String) -> Target {
        Target {
            scenario: self.name.clone(),
            goal: goal.to_owned(),
            met,
            detail,
        }
    }
}

/// Judges the targets on `scenarios`.
pub fn judge(scenarios: &[ScenarioReport]) -> Vec<Target> {
    let mut targets = Vec::new();
    for s in scenarios {
        let Some(p) = s.parget() else { continue };
        // A verifying row that went wrong is a failure of parget's own,
        // whatever the judged row did.
        if let Some(why) = s.verifying_failure() {
            targets.push(s.target(
                "parget-verifying produces correct output",
                Some(false),
                why.to_owned(),
            ));
        }
        if let Some(why) = &p.failure {
            targets.push(s.target("parget produces correct output", Some(false), why.clone()));
            continue;
        }
        let Some(wall) = p.wall.map(|w| w.median) else {
            continue;
        };
        let peer = best_peer(&s.results);
        let Some(mut judged) = scenario_target(s, wall, p.cpu.unwrap_or(0.0), peer) else {
            continue;
        };
        // The baseline is a peer, but it is not a tool people download
        // with: when it is the best peer, say how parget stands against the
        // fastest real tool too.
        if peer.is_some_and(|peer| peer.tool == BASELINE) {
            if let Some(tool) = best_tool(&s.results) {
                let tool_wall = tool.wall.map_or(f64::INFINITY, |w| w.median);
                judged.detail.push_str(&format!(
                    " (the best peer is the blocking baseline; the fastest download tool, {}, takes {} s at {:.2} CPU s: parget {:.2}× its time)",
                    tool.tool,
                    secs(tool_wall),
                    tool.cpu.unwrap_or(0.0),
                    wall / tool_wall
                ));
            }
        }
        // What verifying costs, beside the judged row that does not.
        if let Some(v) = s.verifying() {
            if let Some(v_wall) = v.wall.map(|w| w.median) {
                judged.detail.push_str(&format!(
                    "; handed every file's SHA-256 to verify (parget-verifying): {} s at {:.2} CPU s, {:.2}× the unverified row",
                    secs(v_wall),
                    v.cpu.unwrap_or(0.0),
                    v_wall / wall
                ));
            }
        }
        targets.push(judged);
    }
    targets
}

/// The target `s` is judged by, from parget's median `wall` and `cpu`
/// and the best peer's row; `None` for a scenario without a target.
fn scenario_target(
    s: &ScenarioReport,
    wall: f64,
    cpu: f64,
    peer: Option<&ToolResult>,
) -> Option<Target> {
    let peer_wall = peer.and_then(|p| p.wall).map(|w| w.median);
    match s.name.as_str() {
        "latency" => {
            let goal = "many small files behind latency: ≤ 1.05× the bound";
            let Some(bound) = s.bound_s else {
                return Some(s.target(goal, None, "no bound".into()));
            };
            let ratio = wall / bound;
            let mut detail = format!(
                "parget {} s = {ratio:.3}× the {} s bound (target ≤ 1.05×); CPU {cpu:.2} s",
                secs(wall),
                secs(bound)
            );
            if let Some(peer) = peer {
                detail.push_str(&format!(
                    "; the fastest peer, {}, {} s at {:.2} CPU s",
                    peer.tool,
                    secs(peer_wall.unwrap_or(f64::NAN)),
                    peer.cpu.unwrap_or(f64::NAN)
                ));
            }
            Some(s.target(goal, Some(ratio <= 1.05), detail))
        }
        "request-rate" => {
            let goal = "request rate: ≥ 1.2× the best peer's files/s";
            let (Some(peer), Some(peer_wall)) = (peer, peer_wall) else {
                return Some(s.target(goal, None, "no peer to compare".into()));
            };
            let speedup = peer_wall / wall;
            let per_file = |c: f64| c / s.files.max(1) as f64 * 1e6;
            let peer_cpu = peer.cpu.unwrap_or(f64::INFINITY);
            Some(s.target(
            goal,
            Some(speedup >= 1.2),
            format!(
                "parget {:.0} files/s vs {} {:.0} files/s = {speedup:.2}× (target ≥ 1.2×); CPU {:.0} µs/file vs {:.0} µs/file",
                s.files as f64 / wall,
                peer.tool,
                s.files as f64 / peer_wall,
                per_file(cpu),
                per_file(peer_cpu)
            ),
        ))
        }
        "big" => {
            let goal = "one big file with SHA-256: ≤ 1.1× the verified-download limit";
            let Some(limit) = &s.verified_limit else {
                return Some(s.target(goal, None, "no limit measured".into()));
            };
            let ratio = wall / limit.limit_s();
            Some(s.target(
                goal,
                Some(ratio <= 1.1),
                format!(
                    "parget {} s = {ratio:.2}× the {} s limit (target ≤ 1.1×); {}",
                    secs(wall),
                    secs(limit.limit_s()),
                    limit_words(limit)
                ),
            ))
        }
        "throttled" => {
            let goal = "one file over throttled connections: ≤ 1.05× the bound";
            let Some(bound) = s.bound_s else {
                return Some(s.target(goal, None, "no bound".into()));
            };
            let ratio = wall / bound;
            let mut detail = format!(
                "parget {} s = {ratio:.2}× the {} s bound (target ≤ 1.05×)",
                secs(wall),
                secs(bound)
            );
            if let (Some(peer), Some(pw)) = (peer, peer_wall) {
                detail.push_str(&format!(
                    "; the fastest peer, {}, {} s",
                    peer.tool,
                    secs(pw)
                ));
            }
            Some(s.target(goal, Some(ratio <= 1.05), detail))
        }
        "mixed" => {
            let goal = "mixed list: ≤ 0.8× the best peer's time";
            let (Some(peer), Some(peer_wall)) = (peer, peer_wall) else {
                return Some(s.target(goal, None, "no peer to compare".into()));
            };
            let ratio = wall / peer_wall;
            Some(s.target(
                goal,
                Some(ratio <= 0.8),
                format!(
                    "parget {} s vs the fastest peer, {}, {} s = {ratio:.2}× (target ≤ 0.8×)",
                    secs(wall),
                    peer.tool,
                    secs(peer_wall)
                ),
            ))
        }
        "paginated" => {
            let goal = "paginated API: ≤ 1.2× the bound";
            let Some(bound) = s.bound_s else {
                return Some(s.target(goal, None, "no bound".into()));
            };
            let ratio = wall / bound;
            let mut detail = format!(
                "parget {} s = {ratio:.2}× the {} s bound for {} endpoints (target ≤ 1.2×)",
                secs(wall),
                secs(bound),
                s.files
            );
            if let (Some(peer), Some(pw)) = (peer, peer_wall) {
                detail.push_str(&format!("; {} {} s", peer.tool, secs(pw)));
            }
            Some(s.target(goal, Some(ratio <= 1.2), detail))
        }
        _ => None,
    }
}

/// The verified-download limit in words.
fn limit_words(limit: &VerifiedLimit) -> String {
    let sha = format!(
        "SHA-256 of the same bytes on one core from memory {} s ({:.2} GB/s)",
        secs(limit.sha256_s),
        limit.sha256_gb_per_s
    );
    match &limit.peer {
        Some((tool, wall)) => format!(
            "the larger of the fastest peer without a check ({tool}, {} s) and {sha}",
            secs(*wall)
        ),
        None => format!("no peer ran, so {sha}"),
    }
}

/// The name of the baseline's row.
const BASELINE: &str = "blocking-baseline";

/// The fastest correct tool that is neither parget nor the baseline.
fn best_tool(results: &[ToolResult]) -> Option<&ToolResult> {
    results
        .iter()
        .filter(|r| !r.is_parget && r.tool != BASELINE && r.failure.is_none())
        .filter(|r| r.wall.is_some())
        .min_by(|a, b| {
            let key = |r: &ToolResult| r.wall.map_or(f64::INFINITY, |w| w.median);
            key(a).total_cmp(&key(b))
        })
}

/// The report in markdown: a header, a table per scenario, the targets.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let m = &report.machine;
    out.push_str(&format!(
        "parget-bench{}, {}: {} ({} cores, {:.0} GiB, Linux {}), {}; {} run(s) per tool, median and min–max.\n\n",
        if report.smoke { " (smoke: shrunk, timings not judged)" } else { "" },
        report.date,
        m.cpu,
        m.cores,
        m.memory_gib,
        m.kernel,
        match &report.netns {
            Some(link) => format!("loopback, and {link}"),
            None => "loopback only".to_owned(),
        },
        report.runs
    ));
    out.push_str(&format!("Outputs went to {}.", report.outputs));
    if let Some(c) = report.ceiling_bytes_per_s {
        out.push_str(&format!(
            " Loopback ceiling (one connection, plain read to /dev/null): {:.0} MB/s.",
            c / 1e6
        ));
    }
    out.push_str(
        " CPU is the client's user+sys (children included); the server runs as its own process and its CPU is the last column.\n",
    );
    for note in &report.notes {
        out.push_str(&format!("\n{note}\n"));
    }
    for s in &report.scenarios {
        out.push_str(&format!("\n### {}\n\n", s.title));
        out.push_str(&format!("Server: {}.\n\n", s.server));
        match s.bound_s {
            Some(b) => out.push_str(&format!("Bound: {} s ({}).\n\n", secs(b), s.bound_note)),
            None => out.push_str(&format!("Bound: {}.\n\n", s.bound_note)),
        }
        out.push_str(&markdown_table(&s.results, s.bytes_bound));
        if let Some(limit) = &s.verified_limit {
            out.push_str(&format!(
                "\nVerified-download limit: {} s, {}.",
                secs(limit.limit_s()),
                limit_words(limit)
            ));
            if let Some(wall) = s.parget().and_then(|p| p.wall) {
                out.push_str(&format!(
                    " parget (verifying): {} s = {:.2}× the limit.",
                    secs(wall.median),
                    wall.median / limit.limit_s()
                ));
            }
            out.push('\n');
        }
        let mut notes = Vec::new();
        for r in &s.results {
            let mut parts = Vec::new();
            if let Some(v) = &r.version {
                parts.push(v.clone());
            }
            if let Some(n) = &r.note {
                parts.push(n.clone());
            }
            if !parts.is_empty() {
                notes.push(format!("{}: {}", r.tool, parts.join("; ")));
            }
        }
        // One line per reason: "curl, aria2c: not run (...)".
        let mut reasons: Vec<(&str, Vec<&str>)> = Vec::new();
        for (tool, why) in &s.skipped {
            match reasons.iter_mut().find(|(w, _)| w == why) {
                Some((_, tools)) => tools.push(tool),
                None => reasons.push((why, vec![tool])),
            }
        }
        for (why, tools) in reasons {
            notes.push(format!("{}: not run ({why})", tools.join(", ")));
        }
        if !notes.is_empty() {
            out.push('\n');
            for n in notes {
                out.push_str(&format!("- {n}\n"));
            }
        }
    }
    if !report.targets.is_empty() {
        out.push_str("\n### Targets\n\n");
        for t in &report.targets {
            let verdict = match t.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "not judged",
            };
            out.push_str(&format!(
                "- {} — {}: **{verdict}**. {}\n",
                t.scenario, t.goal, t.detail
            ));
        }
    }
    out
}

/// `YYYY-MM-DD` of a Unix time (UTC), by the days-to-civil algorithm.
pub fn date(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{rank, Sample};

    fn sample(wall: f64, cpu: f64) -> Sample {
        Sample {
            wall,
            user: cpu,
            sys: 0.0,
            max_rss_kib: 1024,
            server_cpu: 0.1,
        }
    }

    fn scenario(
        name: &str,
        files: usize,
        bound: Option<f64>,
        rows: Vec<ToolResult>,
    ) -> ScenarioReport {
        let mut rows = rows;
        rank(&mut rows, files, 1_000_000, bound);
        ScenarioReport {
            name: name.into(),
            title: format!("{name} title"),
            files,
            bytes: 1_000_000,
            bound_s: bound,
            bound_note: "how".into(),
            bytes_bound: false,
            results: rows,
            skipped: vec![("axel".into(), "one file per run only".into())],
            server: "nginx/1.22.1".into(),
            verified_limit: None,
        }
    }

    #[test]
    fn targets_are_judged_on_the_numbers() {
        let scenarios = vec![
            scenario(
                "latency",
                500,
                Some(1.6),
                vec![
                    ToolResult::measured("parget", true, vec![sample(1.65, 0.1)]),
                    ToolResult::measured("aria2c", false, vec![sample(1.73, 0.3)]),
                ],
            ),
            scenario(
                "request-rate",
                2000,
                None,
                vec![
                    ToolResult::measured("parget", true, vec![sample(0.15, 0.25)]),
                    ToolResult::measured("curl", false, vec![sample(0.10, 0.08)]),
                ],
            ),
            scenario(
                "mixed",
                60,
                Some(0.2),
                vec![
                    // Listed first, still never the judged row.
                    ToolResult::measured("parget-verifying", true, vec![sample(0.5, 0.6)]),
                    ToolResult::measured("parget", true, vec![sample(0.4, 0.3)]),
                    ToolResult::measured("aria2c", false, vec![sample(0.55, 0.3)]),
                    // A failed peer never counts, however fast.
                    ToolResult::failed("wget2", false, "missing".into()),
                ],
            ),
            scenario(
                "paginated",
                500,
                Some(0.6),
                vec![ToolResult::failed("parget", true, "3 missing".into())],
            ),
            ScenarioReport {
                verified_limit: Some(VerifiedLimit::new(
                    1_000_000_000,
                    0.8,
                    Some(("wget2".into(), 0.75)),
                )),
                ..scenario(
                    "big",
                    1,
                    Some(0.4),
                    vec![
                        ToolResult::measured("parget", true, vec![sample(0.9, 1.0)]),
                        ToolResult::measured("wget2", false, vec![sample(0.75, 0.5)]),
                    ],
                )
            },
            scenario(
                "throttled",
                1,
                Some(0.8),
                vec![
                    ToolResult::measured("parget", true, vec![sample(12.8, 1.0)]),
                    ToolResult::measured("axel", false, vec![sample(0.8, 0.5)]),
                ],
            ),
            scenario(
                "paginated",
                500,
                Some(0.6),
                vec![ToolResult::measured("parget", true, vec![sample(0.7, 0.1)])],
            ),
            scenario(
                "netns-big",
                1,
                Some(5.0),
                vec![ToolResult::measured("parget", true, vec![sample(5.5, 0.1)])],
            ),
        ];
        let t = judge(&scenarios);
        assert_eq!(t.len(), 7, "no target for the namespace scenarios: {t:?}");
        assert_eq!(t[0].met, Some(true), "{}", t[0].detail);
        assert!(
            t[0].detail.contains("1.031× the 1.60 s bound"),
            "{}",
            t[0].detail
        );
        assert_eq!(t[1].met, Some(false));
        assert!(t[1].detail.contains("0.67×"), "{}", t[1].detail);
        assert!(
            t[1].detail.contains("125 µs/file vs 40 µs/file"),
            "{}",
            t[1].detail
        );
        assert_eq!(t[2].met, Some(true), "{}", t[2].detail);
        assert!(
            t[2].detail.contains("0.73× (target ≤ 0.8×)"),
            "{}",
            t[2].detail
        );
        assert!(
            t[2].detail.ends_with(
                "; handed every file's SHA-256 to verify (parget-verifying): 0.500 s at 0.60 CPU s, 1.25× the unverified row"
            ),
            "{}",
            t[2].detail
        );
        assert_eq!(t[3].met, Some(false));
        assert_eq!(t[3].detail, "3 missing");
        // The limit is the larger of the peer's 0.75 s and SHA-256's 0.8 s.
        assert_eq!(t[4].met, Some(false), "{}", t[4].detail);
        assert!(
            t[4].detail.contains("1.12× the 0.800 s limit"),
            "{}",
            t[4].detail
        );
        assert!(t[4].detail.contains("(wget2, 0.750 s)"), "{}", t[4].detail);
        assert!(t[4].detail.contains("1.25 GB/s"), "{}", t[4].detail);
        assert_eq!(t[5].met, Some(false));
        assert!(
            t[5].detail.contains("16.00× the 0.800 s bound"),
            "{}",
            t[5].detail
        );
        assert_eq!(t[6].met, Some(true));
        assert!(
            t[6].detail.contains("1.17× the 0.600 s bound"),
            "{}",
            t[6].detail
        );

        // The baseline as the best peer: the fastest real tool is named too.
        let with_baseline = vec![scenario(
            "request-rate",
            2000,
            None,
            vec![
                ToolResult::measured("parget", true, vec![sample(0.15, 0.25)]),
                ToolResult::measured("curl", false, vec![sample(0.10, 0.08)]),
                ToolResult::measured("blocking-baseline", false, vec![sample(0.05, 0.06)]),
            ],
        )];
        let t = judge(&with_baseline);
        assert_eq!(t[0].met, Some(false));
        assert!(
            t[0].detail.contains("vs blocking-baseline 40000 files/s"),
            "{}",
            t[0].detail
        );
        assert!(t[0].detail.contains("the fastest download tool, curl, takes 0.100 s at 0.08 CPU s: parget 1.50× its time"), "{}", t[0].detail);
    }

    #[test]
    fn the_verifying_row_is_reported_when_it_fails_and_when_nothing_is_compared() {
        // Its failure is a target missed, even with the judged row correct.
        let failed = vec![scenario(
            "mixed",
            60,
            None,
            vec![
                ToolResult::measured("parget", true, vec![sample(0.3, 0.4)]),
                ToolResult::failed("parget-verifying", true, "m007.bin: wrong bytes".into()),
                ToolResult::measured("wget2", false, vec![sample(0.4, 0.5)]),
            ],
        )];
        let t = judge(&failed);
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(t[0].goal, "parget-verifying produces correct output");
        assert_eq!(t[0].met, Some(false));
        assert_eq!(t[0].detail, "m007.bin: wrong bytes");
        assert_eq!(t[1].met, Some(true), "{}", t[1].detail);

        // With no peer to compare, the line still says what verifying cost.
        let alone = vec![scenario(
            "request-rate",
            2000,
            None,
            vec![
                ToolResult::measured("parget", true, vec![sample(0.1, 0.1)]),
                ToolResult::measured("parget-verifying", true, vec![sample(0.12, 0.13)]),
            ],
        )];
        let t = judge(&alone);
        assert_eq!(t.len(), 1, "{t:?}");
        assert_eq!(t[0].met, None);
        assert!(
            t[0].detail.starts_with("no peer to compare"),
            "{}",
            t[0].detail
        );
        assert!(
            t[0].detail
                .contains("(parget-verifying): 0.120 s at 0.13 CPU s, 1.20× the unverified row"),
            "{}",
            t[0].detail
        );
    }

    #[test]
    fn markdown_has_header_tables_notes_and_targets() {
        let scenarios = vec![
            scenario(
                "latency",
                500,
                Some(1.6),
                vec![ToolResult::measured(
                    "parget",
                    true,
                    vec![sample(1.65, 0.1)],
                )],
            ),
            ScenarioReport {
                verified_limit: Some(VerifiedLimit::new(1_000_000_000, 0.8, None)),
                ..scenario(
                    "big",
                    1,
                    None,
                    vec![ToolResult::measured("parget", true, vec![sample(1.2, 1.0)])],
                )
            },
        ];
        let report = Report {
            date: "2026-11-21".into(),
            machine: Machine {
                cpu: "Some CPU".into(),
                cores: 2,
                memory_gib: 23.0,
                kernel: "6.1".into(),
            },
            runs: 3,
            smoke: false,
            params: Default::default(),
            outputs: "a tmpfs at /tmp/x".into(),
            ceiling_bytes_per_s: Some(3.1e9),
            notes: vec!["a note".into()],
            netns: Some("a veth pair capped at 400 Mbit/s".into()),
            targets: judge(&scenarios),
            scenarios,
        };
        let md = markdown(&report);
        assert!(
            md.starts_with("parget-bench, 2026-11-21: Some CPU (2 cores, 23 GiB, Linux 6.1), loopback, and a veth pair capped at 400 Mbit/s;"),
            "{md}"
        );
        assert!(md.contains("Outputs went to a tmpfs at /tmp/x."));
        assert!(md.contains("3100 MB/s"));
        assert!(md.contains(
            "\n### latency title\n\nServer: nginx/1.22.1.\n\nBound: 1.60 s (how).\n\n| tool |"
        ));
        assert!(md.contains("- axel: not run (one file per run only)"));
        assert!(
            md.contains("\nVerified-download limit: 0.800 s, no peer ran, so SHA-256 of the same bytes on one core from memory 0.800 s (1.25 GB/s). parget (verifying): 1.20 s = 1.50× the limit.\n"),
            "{md}"
        );
        assert!(md.contains("\n### Targets\n"), "{md}");
        assert!(
            md.contains("- latency — many small files behind latency: ≤ 1.05× the bound: **met**."),
            "{md}"
        );
        assert!(md.contains("- big — one big file with SHA-256: ≤ 1.1× the verified-download limit: **MISSED**."), "{md}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["scenarios"][0]["results"][0]["tool"], "parget");
    }

    #[test]
    fn dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_795_258_014), "2026-11-21");
    }
}
