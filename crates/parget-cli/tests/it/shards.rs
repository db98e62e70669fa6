//! Splitting a list: `--shard I/N` across processes, `--summary-json`, a
//! re-run of a shard, and the Kubernetes Indexed Job example run as its
//! pods would run it.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::*;

/// An aria2 list of `n` files under `/sh/` with their sizes, every third
/// with its SHA-256 too; returns the list and the names.
fn list(server: &Server, n: usize, dir: &str) -> (String, Vec<String>) {
    let mut text = String::new();
    let mut names = Vec::new();
    for i in 0..n {
        let size = 100 + (i as u64 * 37) % 3000;
        let path = format!("/{dir}/f{i:04}.bin");
        text.push_str(&server.url(&format!("{path}?size={size}")));
        text.push_str(&format!("\n  size={size}\n"));
        if i % 3 == 0 {
            text.push_str(&format!(
                "  checksum=sha-256={}\n",
                sha256(&content(&path, size))
            ));
        }
        names.push(format!("f{i:04}.bin"));
    }
    (text, names)
}

fn summary(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

/// Names of the files in `dir` (none when it does not exist).
fn names_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The shard the documented function puts `key` in.
fn documented_shard(key: &str, count: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(key.as_bytes(), 0) % count
}

#[test]
fn shards_run_at_once_are_disjoint_and_together_complete() {
    let server = Server::start();
    let sb = Sandbox::new();
    let (text, names) = list(&server, 240, "sh");
    sb.write("list.txt", &text);
    let shards = 4u64;
    let spawned: Vec<(u64, Spawned, Instant)> = (0..shards)
        .map(|i| {
            let shard = format!("{i}/{shards}");
            let out = format!("out{i}");
            let summary = format!("summary{i}.json");
            let cmd = sb.command(&[
                "-q",
                "--shard",
                &shard,
                "-i",
                "list.txt",
                "-d",
                &out,
                "--summary-json",
                &summary,
            ]);
            (i, Spawned::spawn(cmd), Instant::now())
        })
        .collect();
    let mut union = BTreeSet::new();
    let mut ok_total = 0;
    for (i, child, started) in spawned {
        let run = child.wait(started);
        run.success();
        let got = names_in(&sb.join(format!("out{i}")));
        // Exactly the entries the documented function gives this shard.
        let want: BTreeSet<String> = names
            .iter()
            .filter(|n| documented_shard(n, shards) == i)
            .cloned()
            .collect();
        run.check(got == want, &format!("shard {i}: {got:?} != {want:?}"));
        run.check(
            !got.is_empty(),
            "every shard has work (240 entries, 4 shards)",
        );
        for name in &got {
            run.check(union.insert(name.clone()), &format!("{name} in two shards"));
            let size = 100 + (name[1..5].parse::<u64>().unwrap() * 37) % 3000;
            assert_file(
                &run,
                &sb.join(format!("out{i}/{name}")),
                &content(&format!("/sh/{name}"), size),
            );
        }
        let s = summary(&sb.join(format!("summary{i}.json")));
        run.check(s["ok"] == want.len() as u64, &format!("summary {s}"));
        run.check(
            s["failed"] == 0 && s["skipped"] == 0,
            &format!("summary {s}"),
        );
        run.check(
            s["shard"] == format!("{i}/{shards}"),
            &format!("summary {s}"),
        );
        run.check(s["interrupted"] == false, &format!("summary {s}"));
        ok_total += s["ok"].as_u64().unwrap();
    }
    let all: BTreeSet<String> = names.into_iter().collect();
    assert_eq!(union, all, "the shards together are the list");
    assert_eq!(ok_total, 240);
    assert_eq!(
        server.stats().requests,
        240,
        "each entry fetched once, by one shard"
    );
}

#[test]
fn a_bad_shard_is_a_usage_error() {
    let sb = Sandbox::new();
    for (bad, says) in [
        ("4/4", "from 0 to 3"),
        ("0/0", "at least 1"),
        ("x/2", "not a whole number"),
        ("3", "I/N"),
    ] {
        let run = sb.run(&["--shard", bad, "http://127.0.0.1:9/f"]);
        run.assert_code(2).stderr_has(&["--shard", says]);
    }
}

#[test]
fn a_rerun_of_a_shard_fetches_only_what_failed() {
    let server = Server::start();
    let sb = Sandbox::new();
    let (mut text, names) = list(&server, 60, "rr");
    // Two entries fail on the first run only (503 once, no retries).
    let flaky = ["/rr/flaky-a.bin", "/rr/flaky-b.bin"];
    for path in flaky {
        text.push_str(&server.url(&format!("{path}?size=500&fail=503&fail_count=1")));
        text.push_str("\n  size=500\n");
    }
    sb.write("list.txt", &text);
    // Shard 0 of 1 is the whole list: every entry's fate is known here.
    let args = [
        "-q",
        "--retries",
        "0",
        "--shard",
        "0/1",
        "-i",
        "list.txt",
        "-d",
        "out",
        "--summary-json",
        "state/summary.json",
    ];
    let first = sb.run(&args);
    first.failure();
    let s = summary(&sb.join("state/summary.json"));
    first.check(s["ok"] == 60 && s["failed"] == 2, &format!("summary {s}"));
    let failures = s["failures"].as_array().unwrap();
    let failed_urls: BTreeSet<&str> = failures.iter().filter_map(|f| f["url"].as_str()).collect();
    first.check(
        failed_urls.len() == 2
            && flaky
                .iter()
                .all(|p| failed_urls.iter().any(|u| u.contains(p))),
        &format!("failures {failures:?}"),
    );
    first.check(
        failures
            .iter()
            .all(|f| f["error"].as_str().is_some_and(|e| e.contains("503"))),
        &format!("failures name their error: {failures:?}"),
    );
    let before = server.stats();

    let second = sb.run(&args);
    second.success();
    let s = summary(&sb.join("state/summary.json"));
    second.check(
        s["ok"] == 2 && s["skipped"] == 60 && s["failed"] == 0,
        &format!("summary {s}"),
    );
    second.check(
        s["failures"] == serde_json::json!([]),
        &format!("summary {s}"),
    );
    let after = server.stats();
    second.check(
        after.requests - before.requests == 2,
        &format!(
            "the re-run made {} requests, want 2 (only the failed entries)",
            after.requests - before.requests
        ),
    );
    for name in &names {
        second.check(
            after.requests_for(&format!("/rr/{name}")) == 1,
            &format!("{name} fetched again"),
        );
    }
    for path in flaky {
        assert_file(
            &second,
            &sb.join(format!("out{}", &path[3..])),
            &content(path, 500),
        );
    }
}

#[test]
fn a_summary_hides_passwords() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url =
        server
            .url("/pw/missing.bin?status=404")
            .replacen("http://", "http://alice:s3cret@", 1);
    let run = sb.run(&["-q", "--retries", "0", "--summary-json", "s.json", &url]);
    run.failure();
    let text = std::fs::read_to_string(sb.join("s.json")).unwrap();
    run.check(
        !text.contains("s3cret"),
        &format!("the password leaked: {text}"),
    );
    let s = summary(&sb.join("s.json"));
    let failure = &s["failures"][0];
    run.check(
        failure["url"]
            .as_str()
            .is_some_and(|u| u.contains("alice:***@")),
        &format!("summary {s}"),
    );
    run.check(
        failure["error"].as_str().is_some_and(|e| e.contains("404")),
        &format!("summary {s}"),
    );
}

#[test]
fn a_terminated_run_still_writes_its_summary() {
    let server = Server::start();
    let sb = Sandbox::new();
    // One entry that finishes, and slow ones that are still running when
    // the signal comes.
    let mut text = format!("{}\n", server.url("/tm/quick.bin?size=100"));
    for i in 0..4 {
        text.push_str(&format!(
            "{}\n",
            server.url(&format!("/tm/slow{i}.bin?size=100000&rate=2000"))
        ));
    }
    sb.write("list.txt", &text);
    let started = Instant::now();
    let child = Spawned::spawn(sb.command(&[
        "-q",
        "-i",
        "list.txt",
        "-d",
        "out",
        "--summary-json",
        "summary.json",
    ]));
    let pid = child.child.id().to_string();
    assert!(
        wait_until(Duration::from_secs(20), || sb
            .join("out/quick.bin")
            .exists()
            && server.stats().requests >= 5),
        "the downloads did not start"
    );
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let run = child.wait(started);
    run.assert_code(143);
    let s = summary(&sb.join("summary.json"));
    run.check(s["interrupted"] == true, &format!("summary {s}"));
    run.check(s["ok"] == 1, &format!("summary {s}"));
    run.check(
        s["bytes"].as_u64().is_some_and(|b| b >= 100),
        &format!("summary {s}"),
    );
    run.check(
        s["elapsed"].as_f64().is_some_and(|e| e > 0.0),
        &format!("summary {s}"),
    );
    run.check(
        !names_in(sb.path()).iter().any(|n| n.ends_with(".tmp")),
        "no temporary summary left behind",
    );
}

/// The example's container, read from the YAML: its command and args,
/// its environment, and where the shared volume is mounted.
struct Pod {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    mount: String,
    completions: u64,
}

fn job_example() -> Pod {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes/parget-job.yaml");
    let text = std::fs::read_to_string(&path).expect("the Job example");
    let job: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).expect("the Job example is YAML");
    assert_eq!(job["kind"].as_str(), Some("Job"));
    assert_eq!(job["spec"]["completionMode"].as_str(), Some("Indexed"));
    let completions = job["spec"]["completions"].as_u64().expect("completions");
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    let strings = |v: &serde_yaml_ng::Value| -> Vec<String> {
        v.as_sequence()
            .expect("a list")
            .iter()
            .map(|s| s.as_str().expect("a string").to_owned())
            .collect()
    };
    let mut argv = strings(&container["command"]);
    argv.extend(strings(&container["args"]));
    let env = container["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mount = container["volumeMounts"][0]["mountPath"]
        .as_str()
        .expect("a mount")
        .to_owned();
    Pod {
        argv,
        env,
        mount,
        completions,
    }
}

/// Kubernetes' `$(NAME)` expansion of a container's args: a defined
/// variable is replaced, `$$` is a `$`, anything else is left as written.
fn expand(arg: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = arg;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some((name, after)) = rest
            .strip_prefix("$(")
            .and_then(|r| r.split_once(')'))
            .filter(|(name, _)| env.iter().any(|(n, _)| n == name))
        {
            out.push_str(&env.iter().find(|(n, _)| n == name).unwrap().1);
            rest = after;
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn the_kubernetes_example_runs_as_its_pods_would() {
    let pod = job_example();
    assert_eq!(pod.argv[0], "parget");
    assert!(pod.argv.iter().any(|a| a == "--shard"));
    let shards_env = pod.env.iter().find(|(n, _)| n == "SHARDS").expect("SHARDS");
    assert_eq!(
        shards_env.1.parse::<u64>().unwrap(),
        pod.completions,
        "SHARDS must equal completions"
    );
    let server = Server::start();
    // The shared volume: the list on it, every pod writing to it.
    let volume = Sandbox::new();
    let (text, names) = list(&server, 120, "k8s");
    let list_arg = pod.argv.iter().skip_while(|a| *a != "-i").nth(1).unwrap();
    let list_path = list_arg
        .strip_prefix(&pod.mount)
        .expect("the list is on the volume");
    volume.write(list_path.trim_start_matches('/'), &text);

    let start_pods = || -> Vec<(u64, Spawned, Instant)> {
        (0..pod.completions)
            .map(|index| {
                // What the Job controller adds to each pod's environment.
                let mut env = pod.env.clone();
                env.push(("JOB_COMPLETION_INDEX".into(), index.to_string()));
                let args: Vec<String> = pod.argv[1..]
                    .iter()
                    .map(|a| expand(a, &env))
                    .map(|a| match a.strip_prefix(&pod.mount) {
                        // The volume, mounted where this test keeps it.
                        Some(rest) => format!("{}{rest}", volume.path().display()),
                        None => a,
                    })
                    .collect();
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let mut cmd = volume.command(&args);
                for (name, value) in &env {
                    cmd.env(name, value);
                }
                (index, Spawned::spawn(cmd), Instant::now())
            })
            .collect()
    };
    let mut ok = 0;
    for (index, child, started) in start_pods() {
        let run = child.wait(started);
        run.success();
        let s = summary(&volume.join(format!("summaries/shard-{index}.json")));
        run.check(
            s["shard"] == format!("{index}/{}", pod.completions) && s["failed"] == 0,
            &format!("summary {s}"),
        );
        ok += s["ok"].as_u64().unwrap();
    }
    assert_eq!(ok, 120, "the pods together downloaded the list once");
    let got = names_in(&volume.join("out"));
    let want: BTreeSet<String> = names.into_iter().collect();
    assert_eq!(got, want);
    for name in &got {
        let size = 100 + (name[1..5].parse::<u64>().unwrap() * 37) % 3000;
        let bytes = std::fs::read(volume.join(format!("out/{name}"))).unwrap();
        assert_eq!(bytes, content(&format!("/k8s/{name}"), size), "{name}");
    }
    assert_eq!(server.stats().requests, 120);

    // Every pod again, as a retry of the Job would run it: all is there,
    // nothing is fetched.
    let mut skipped = 0;
    for (index, child, started) in start_pods() {
        let run = child.wait(started);
        run.success();
        let s = summary(&volume.join(format!("summaries/shard-{index}.json")));
        run.check(s["ok"] == 0 && s["failed"] == 0, &format!("summary {s}"));
        skipped += s["skipped"].as_u64().unwrap();
    }
    assert_eq!(skipped, 120);
    assert_eq!(
        server.stats().requests,
        120,
        "a retry fetched nothing again"
    );
}

#[test]
fn kubernetes_expansion_is_modelled_faithfully() {
    let env = vec![
        ("A".to_owned(), "1".to_owned()),
        ("B".to_owned(), "x".to_owned()),
    ];
    assert_eq!(expand("$(A)/$(B)", &env), "1/x");
    assert_eq!(expand("$$(A)", &env), "$(A)");
    assert_eq!(expand("$(C)/$(A)", &env), "$(C)/1");
    assert_eq!(expand("cost $5", &env), "cost $5");
    assert_eq!(expand("$(A", &env), "$(A");
}

/// `cmd` run under `umask`, through the shell (the umask is the process's,
/// so the test process's own cannot be changed for one child).
fn under_umask(cmd: &Command, umask: &str) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        sh.current_dir(dir);
    }
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => sh.env(key, value),
            None => sh.env_remove(key),
        };
    }
    sh
}

#[test]
fn a_summary_gets_the_mode_of_a_downloaded_file_not_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let server = Server::start();
    // Umasks that leave group and others some access, so 0666 less the
    // umask cannot be mistaken for the owner-only mode of a temporary file.
    for (umask, want) in [("022", 0o644), ("027", 0o640), ("002", 0o664)] {
        let sb = Sandbox::new();
        let url = server.url("/mode/a.bin?size=100");
        let cmd = sb.command(&["-q", "--summary-json", "s.json", "-d", "out", &url]);
        let mut cmd = under_umask(&cmd, umask);
        cmd.stdin(std::process::Stdio::null());
        let run = Spawned::spawn(cmd).wait(Instant::now());
        run.success();
        let mode_of = |rel: &str| {
            std::fs::metadata(sb.join(rel))
                .unwrap_or_else(|e| panic!("{rel}: {e}"))
                .permissions()
                .mode()
                & 0o777
        };
        let (summary, file) = (mode_of("s.json"), mode_of("out/a.bin"));
        run.check(
            summary == want && file == want,
            &format!("umask {umask}: summary {summary:o}, file {file:o}, want {want:o}"),
        );
    }
}
