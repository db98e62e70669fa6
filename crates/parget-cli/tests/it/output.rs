//! What the binary prints, its exit codes, and Ctrl-C.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::*;

#[test]
fn json_objects_carry_every_field() {
    let server = Server::start();
    let sb = Sandbox::new();
    let bytes = content("/o/ok.bin", 12345);
    sb.write(
        "l.txt",
        format!(
            "{}\n  checksum=sha-256={}\n{}\n",
            server.url("/o/ok.bin?size=12345"),
            sha256(&bytes),
            server.url("/o/fail.bin?status=404"),
        ),
    );
    let run = sb.run(&["--json", "-i", "l.txt", "-d", "out"]);
    run.failure();
    let json = run.json();
    run.check(json.len() == 2, "one object per entry");
    for object in &json {
        for key in [
            "url", "path", "status", "bytes", "digests", "elapsed", "attempts", "error",
        ] {
            run.check(
                object.get(key).is_some(),
                &format!("{key} missing in {object}"),
            );
        }
        run.check(object["digests"].is_object(), "digests is an object");
        run.check(
            object["elapsed"].is_f64() || object["elapsed"].is_u64(),
            "elapsed is a number",
        );
    }
    let ok = run.json_for("/o/ok.bin?size=12345");
    run.check(ok["status"] == "ok", "status ok");
    run.check(ok["bytes"] == 12345, "bytes");
    run.check(ok["attempts"] == 1, "attempts");
    run.check(ok["error"].is_null(), "no error");
    run.check(ok["digests"]["sha256"] == sha256(&bytes), "digest");
    let path = ok["path"].as_str().expect("a path");
    run.check(
        std::path::Path::new(path).ends_with("out/ok.bin"),
        &format!("path {path}"),
    );
    let failed = run.json_for("/o/fail.bin?status=404");
    run.check(failed["status"] == "failed", "status failed");
    run.check(
        failed["error"].as_str().is_some_and(|e| e.contains("404")),
        "the error says 404",
    );
    run.check(failed["bytes"] == 0, "no bytes for a failure");
}

#[test]
fn json_for_an_invalid_list_entry() {
    let sb = Sandbox::new();
    sb.write("l.txt", "'http://127.0.0.1:9/x.deb' x.deb notasize\n");
    let run = sb.run(&["--json", "-i", "l.txt", "-d", "out"]);
    run.failure().stderr_has(&["l.txt:1"]);
    let json = run.json_one();
    run.check(json["status"] == "failed", "status failed");
    run.check(
        json["error"]
            .as_str()
            .is_some_and(|e| e.contains("l.txt:1")),
        "the error names file and line",
    );
}

#[test]
fn quiet_success_prints_nothing() {
    let server = Server::start();
    let sb = Sandbox::new();
    let run = sb.run(&["-q", "-d", "out", &server.url("/o/q.bin?size=100")]);
    run.success();
    run.check(run.stderr.is_empty(), "-q printed on stderr");
    run.check(run.stdout.is_empty(), "-q printed on stdout");
    assert_file(&run, &sb.join("out/q.bin"), &content("/o/q.bin", 100));

    // Failures are still reported.
    let url = server.url("/o/q404.bin?status=404");
    let run = sb.run(&["-q", "-d", "out", &url]);
    run.failure().stderr_has(&[&url]);
}

#[test]
fn summary_line_when_not_a_terminal() {
    let server = Server::start();
    let sb = Sandbox::new();
    sb.write("out/exists.bin", content("/o/exists.bin", 10));
    let bytes = content("/o/exists.bin", 10);
    let run = sb.run(&[
        "-d",
        "out",
        &server.url("/o/s1.bin?size=100"),
        &server.url("/o/s2.bin?size=100"),
    ]);
    run.success();
    run.stderr_has(&["2 downloaded, 0 skipped, 0 failed"]);
    run.check(run.stdout.is_empty(), "nothing on stdout without --json");

    let run = sb.run(&[
        "-d",
        "out",
        "--checksum",
        &format!("sha256={}", sha256(&bytes)),
        &server.url("/o/exists.bin?size=10"),
    ]);
    run.success()
        .stderr_has(&["0 downloaded, 1 skipped, 0 failed"]);
}

#[test]
fn usage_errors_exit_2() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/o/u.bin");
    let cases: Vec<Vec<String>> = vec![
        vec![],
        vec!["-d".into(), "out".into()],
        vec![
            "-o".into(),
            "x".into(),
            url.clone(),
            server.url("/o/u2.bin"),
        ],
        vec!["--no-such-flag".into(), url.clone()],
        vec!["--checksum".into(), "md5=zz".into(), url.clone()],
        vec!["--checksum".into(), "nosuchalgo=00".into(), url.clone()],
        vec![
            "--checksum".into(),
            format!("sha256={}", "0".repeat(64)),
            "-i".into(),
            "l".into(),
        ],
        vec!["-i".into(), "-".into(), "-i".into(), "-".into()],
        vec!["--timeout".into(), "soon".into(), url.clone()],
        vec!["--lowest-speed-limit".into(), "10X".into(), url.clone()],
    ];
    for args in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = sb.run(&args);
        run.assert_code(2);
        run.check(
            !run.stderr.trim().is_empty(),
            "a usage error explains itself",
        );
    }
    run_check_nothing_requested(&server);
    let files = sb.files();
    assert!(files.is_empty(), "usage errors wrote files: {files:?}");
}

fn run_check_nothing_requested(server: &Server) {
    assert_eq!(server.stats().requests, 0, "a usage error made a request");
}

#[test]
fn help_and_version() {
    let sb = Sandbox::new();
    let run = sb.run(&["--help"]);
    run.success();
    run.check(run.stdout.contains("--continue"), "help lists the flags");
    let run = sb.run(&["--version"]);
    run.success();
    run.check(run.stdout.starts_with("parget "), "version line");
}

#[test]
fn exit_code_1_when_any_entry_fails() {
    let server = Server::start();
    let sb = Sandbox::new();
    let run = sb.run(&[
        "-d",
        "out",
        &server.url("/o/fine.bin?size=10"),
        &server.url("/o/broken.bin?status=404"),
    ]);
    run.failure()
        .stderr_has(&["1 downloaded, 0 skipped, 1 failed"]);
    assert_file(&run, &sb.join("out/fine.bin"), &content("/o/fine.bin", 10));
}

#[test]
fn ctrl_c_keeps_the_part_file() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/o/big.bin?rate=100000&size=5000000");
    let started = Instant::now();
    let spawned = Spawned::spawn(sb.command(&["-d", "out", &url]));
    let pid = spawned.child.id();
    let part = sb.join("out/big.bin.part");
    // Wait until bytes flow, then a little more.
    wait_until(Duration::from_secs(5), || {
        server.stats().body_bytes_for("/o/big.bin") > 0
    });
    std::thread::sleep(Duration::from_millis(1000));
    let kill = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success(), "kill -INT failed");
    let run = spawned.wait(started);
    run.assert_code(130);
    run.stderr_has(&["interrupted"]);
    assert_absent(&run, &sb.join("out/big.bin"));
    let kept = std::fs::metadata(&part)
        .unwrap_or_else(|e| panic!("no .part kept: {e}{run}"))
        .len();
    run.check(kept > 0 && kept < 5_000_000, &format!("{kept} bytes kept"));
    let bytes = std::fs::read(&part).expect("read part");
    run.check(
        bytes == content("/o/big.bin", 5_000_000)[..bytes.len()],
        "the .part holds the first bytes",
    );

    // And -c finishes it from there.
    server.reset_stats();
    let fast = server.url("/o/big.bin?rate=100000&size=5000000");
    // The rate makes the rest take long; a fresh URL would not match the
    // control file, so only check that -c picks up where it stopped by
    // looking at the first request's Range, then interrupt again.
    let spawned = Spawned::spawn(sb.command(&["-c", "-d", "out", &fast]));
    let pid = spawned.child.id();
    let resumed = wait_until(Duration::from_secs(5), || {
        server.stats().range_requests_for("/o/big.bin") >= 1
    });
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let run = spawned.wait(Instant::now());
    run.check(resumed, "-c did not send a Range request");
    run.assert_code(130);
    let now = std::fs::metadata(&part).expect("part still kept").len();
    run.check(now >= kept, "the .part shrank");
}

#[test]
fn json_that_cannot_be_written_fails_the_run_and_a_reader_that_left_does_not() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/o/full.bin?size=1000");
    // A full device: the reports asked for are lost, so the run fails,
    // saying why; the download itself still lands.
    let out = sb
        .command(&["--json", "-d", "out", &url])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot write the --json reports to standard output"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(sb.join("out/full.bin")).unwrap(),
        content("/o/full.bin", 1000)
    );
    // A reader that closed its end (`| head -c 1`) is not an error.
    let mut child = sb
        .command(&[
            "--json",
            "-d",
            "out2",
            &url,
            &server.url("/o/two.bin?size=10"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(sb.join("out2/two.bin").exists());
}
