//! Measuring one run of a tool: wall time, CPU time and peak RSS.
//!
//! Why a helper process: `getrusage(RUSAGE_CHILDREN)` is the safe way to
//! read a finished child's CPU time and peak RSS, but its `ru_maxrss` is the
//! largest RSS of *any* child waited for so far, and the bench also waits
//! for its test servers. So every measured run is spawned by a fresh copy of
//! the bench (`parget-bench measure -- TOOL ARGS...`) whose only child is the
//! tool: its `RUSAGE_CHILDREN` after the wait is exactly the tool's CPU time
//! (with the tool's own children, e.g. Python's) and the tool's peak RSS.
//! The helper prints one JSON line; the wall time is taken in the helper
//! from spawn to exit, so the helper's own start-up is not counted.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// What the helper reports about one run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Measured {
    /// Seconds from spawn to exit.
    pub wall: f64,
    /// User CPU seconds.
    pub user: f64,
    /// System CPU seconds.
    pub sys: f64,
    /// Peak RSS in KiB.
    pub max_rss_kib: u64,
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// True when the run was killed for exceeding its time limit.
    pub timed_out: bool,
}

/// The helper's body: runs `argv` with stdout and stderr going to the given
/// files, kills it after `timeout`, and returns the measurement.
pub fn helper(
    argv: &[String],
    stdout: &Path,
    stderr: &Path,
    timeout: Duration,
) -> Result<Measured> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| anyhow!("measure: no command given"))?;
    let out =
        std::fs::File::create(stdout).with_context(|| format!("creating {}", stdout.display()))?;
    let err =
        std::fs::File::create(stderr).with_context(|| format!("creating {}", stderr.display()))?;
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let status = child.wait();
        let _ = tx.send((status, started.elapsed()));
    });
    let mut timed_out = false;
    let (status, wall) = match rx.recv_timeout(timeout) {
        Ok(done) => done,
        Err(_) => {
            timed_out = true;
            let _ = kill(pid, Signal::SIGKILL);
            rx.recv().map_err(|_| anyhow!("the waiting thread died"))?
        }
    };
    let status = status.context("waiting for the tool")?;
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).context("getrusage")?;
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Ok(Measured {
        wall: wall.as_secs_f64(),
        user: secs(usage.user_time()),
        sys: secs(usage.system_time()),
        // Linux reports ru_maxrss in KiB.
        max_rss_kib: u64::try_from(usage.max_rss()).unwrap_or(0),
        code: status.code(),
        timed_out,
    })
}

/// Runs `argv` through the helper (`bench_exe measure ...`) and parses its
/// report. `log_dir/NAME.out` and `.err` keep the tool's output.
pub fn measure(
    bench_exe: &Path,
    argv: &[String],
    log_dir: &Path,
    name: &str,
    timeout: Duration,
) -> Result<Measured> {
    let stdout = log_dir.join(format!("{name}.out"));
    let stderr = log_dir.join(format!("{name}.err"));
    let output = Command::new(bench_exe)
        .arg("measure")
        .arg("--stdout")
        .arg(&stdout)
        .arg("--stderr")
        .arg(&stderr)
        .arg("--timeout")
        .arg(timeout.as_secs().to_string())
        .arg("--")
        .args(argv)
        .stdin(Stdio::null())
        .output()
        .context("starting the measuring helper")?;
    if !output.status.success() {
        return Err(anyhow!(
            "the measuring helper failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let line = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(line.trim()).with_context(|| format!("helper said `{}`", line.trim()))
}

/// CPU seconds (user + system) a live process has used so far, from
/// `/proc/PID/stat` (fields 14 and 15, in clock ticks of 1/100 s: USER_HZ is
/// 100 on every Linux architecture the bench runs on).
pub fn process_cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    parse_stat_cpu(&stat).ok_or_else(|| anyhow!("cannot parse /proc/{pid}/stat"))
}

/// CPU seconds used so far by `pid` and every live descendant (nginx's
/// master and its worker), found by scanning `/proc` for parent ids:
/// `/proc/PID/task/TID/children` is not built into every kernel.
pub fn tree_cpu_seconds(pid: u32) -> Result<f64> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc")
        .context("listing /proc")?
        .flatten()
    {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // A process may end while we look: skip it.
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) {
            if let (Some(ppid), Some(cpu)) = (parse_stat_ppid(&stat), parse_stat_cpu(&stat)) {
                parents.push((child, ppid, cpu));
            }
        }
    }
    let mut total = process_cpu_seconds(pid)?;
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(child, ppid, cpu) in &parents {
            if ppid == parent && child != pid {
                total += cpu;
                frontier.push(child);
            }
        }
    }
    Ok(total)
}

/// Field 4 (ppid) of a `/proc/PID/stat` line.
pub fn parse_stat_ppid(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// Fields 14 (utime) and 15 (stime) of a `/proc/PID/stat` line, in seconds.
/// The command name (field 2) may hold spaces and parentheses, so fields are
/// counted after its last `)`.
pub fn parse_stat_cpu(stat: &str) -> Option<f64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_ascii_whitespace().collect();
    // `after` starts at field 3 (state), so utime (14) is index 11.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_fields() {
        let stat = "1234 (parget testbed) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 37 0 0 20 0 3 0 100 1000 200 18446744073709551615";
        assert_eq!(parse_stat_cpu(stat), Some(2.87));
        let odd = "1 (a) b) c) R 1 1 1 0 -1 0 0 0 0 0 1 2 0 0";
        assert_eq!(parse_stat_cpu(odd), Some(0.03));
        assert_eq!(parse_stat_cpu("garbage"), None);
        assert_eq!(parse_stat_ppid(stat), Some(1));
        assert_eq!(parse_stat_ppid(odd), Some(1));
        assert_eq!(parse_stat_ppid("1 (x)"), None);
    }

    #[test]
    fn own_cpu_is_readable() {
        let cpu = process_cpu_seconds(std::process::id()).unwrap();
        assert!(cpu >= 0.0);
    }

    #[test]
    fn a_tree_counts_its_children() {
        // A child that burns CPU: the tree of this process includes it.
        let mut child = Command::new("sh")
            .args([
                "-c",
                "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; sleep 30",
            ])
            .spawn()
            .unwrap();
        let child_pid = child.id();
        let mut child_cpu = 0.0;
        for _ in 0..1000 {
            child_cpu = process_cpu_seconds(child_pid).unwrap_or(0.0);
            if child_cpu >= 0.05 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let own = process_cpu_seconds(std::process::id()).unwrap();
        let tree = tree_cpu_seconds(std::process::id()).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(child_cpu >= 0.05, "the child burnt {child_cpu} s");
        assert!(
            tree >= own + child_cpu - 0.011,
            "tree {tree} own {own} child {child_cpu}"
        );
    }

    #[test]
    fn helper_measures_a_child() {
        let dir = std::env::temp_dir().join(format!("parget-bench-measure-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let argv: Vec<String> = ["sh", "-c", "echo hi; exit 3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let m = helper(
            &argv,
            &dir.join("o"),
            &dir.join("e"),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(m.code, Some(3));
        assert!(!m.timed_out);
        assert_eq!(std::fs::read_to_string(dir.join("o")).unwrap(), "hi\n");
        let argv: Vec<String> = ["sleep", "5"].iter().map(|s| s.to_string()).collect();
        let m = helper(
            &argv,
            &dir.join("o"),
            &dir.join("e"),
            Duration::from_millis(200),
        )
        .unwrap();
        assert!(m.timed_out);
        assert!(m.wall < 4.0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
