//! Many files at once, naming, input sources, concurrency, redirects,
//! HTTPS and URL schemes.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use parget_testbed::ServerConfig;

use crate::util::*;

#[test]
fn several_urls_on_the_command_line() {
    let server = Server::start();
    let sb = Sandbox::new();
    let run = sb.run(&[
        "-d",
        "out",
        &server.url("/a/one.bin?size=1000"),
        &server.url("/b/two.bin?size=70000"),
        &server.url("/three.dat"),
    ]);
    run.success();
    assert_file(&run, &sb.join("out/one.bin"), &content("/a/one.bin", 1000));
    assert_file(&run, &sb.join("out/two.bin"), &content("/b/two.bin", 70000));
    assert_file(
        &run,
        &sb.join("out/three.dat"),
        &content("/three.dat", parget_testbed::DEFAULT_SIZE),
    );
    run.check(
        sb.files() == ["out/one.bin", "out/three.dat", "out/two.bin"],
        &format!("unexpected files {:?}", sb.files()),
    );
}

#[test]
fn default_directory_is_the_current_one() {
    let server = Server::start();
    let sb = Sandbox::new();
    let run = sb.run(&[&server.url("/here.bin?size=10")]);
    run.success();
    assert_file(&run, &sb.join("here.bin"), &content("/here.bin", 10));
}

#[test]
fn input_file_list() {
    let server = Server::start();
    let sb = Sandbox::new();
    let list = format!(
        "{}\n{}\n",
        server.url("/l/x1.bin?size=300"),
        server.url("/l/x2.bin?size=400")
    );
    sb.write("urls.txt", list);
    let run = sb.run(&["-i", "urls.txt", "-d", "dl"]);
    run.success();
    assert_file(&run, &sb.join("dl/x1.bin"), &content("/l/x1.bin", 300));
    assert_file(&run, &sb.join("dl/x2.bin"), &content("/l/x2.bin", 400));
}

#[test]
fn input_from_stdin_and_arguments_together() {
    let server = Server::start();
    let sb = Sandbox::new();
    let list = format!(
        "{}\n{}\n",
        server.url("/s/in1.bin?size=123"),
        server.url("/s/in2.bin?size=4567")
    );
    let run = sb.run_stdin(
        &["-i", "-", "-d", "out", &server.url("/s/arg.bin?size=77")],
        &list,
    );
    run.success();
    assert_file(&run, &sb.join("out/in1.bin"), &content("/s/in1.bin", 123));
    assert_file(&run, &sb.join("out/in2.bin"), &content("/s/in2.bin", 4567));
    assert_file(&run, &sb.join("out/arg.bin"), &content("/s/arg.bin", 77));
}

#[test]
fn output_directory_is_created_with_parents() {
    let server = Server::start();
    let sb = Sandbox::new();
    assert!(!sb.exists("deep"));
    let run = sb.run(&["-d", "deep/er/est", &server.url("/f.bin?size=5")]);
    run.success();
    assert_file(&run, &sb.join("deep/er/est/f.bin"), &content("/f.bin", 5));
}

#[test]
fn out_names_the_single_file() {
    let server = Server::start();
    let sb = Sandbox::new();
    let run = sb.run(&[
        "-d",
        "out",
        "-o",
        "renamed.data",
        &server.url("/orig.bin?size=999"),
    ]);
    run.success();
    assert_file(
        &run,
        &sb.join("out/renamed.data"),
        &content("/orig.bin", 999),
    );
    assert_absent(&run, &sb.join("out/orig.bin"));
    run.check(sb.files() == ["out/renamed.data"], "only the named file");
}

#[test]
fn names_are_percent_decoded_and_query_dropped() {
    let server = Server::start();
    let sb = Sandbox::new();
    let run = sb.run(&[
        "-d",
        "out",
        &server.url("/dir/a%20b.bin?size=321&x=1"),
        &server.url("/dir/caf%C3%A9.txt?size=12"),
    ]);
    run.success();
    // The server keys its content by the path as sent (still encoded).
    assert_file(
        &run,
        &sb.join("out/a b.bin"),
        &content("/dir/a%20b.bin", 321),
    );
    assert_file(
        &run,
        &sb.join("out/café.txt"),
        &content("/dir/caf%C3%A9.txt", 12),
    );
}

#[test]
fn hostile_url_paths_stay_inside_the_output_directory() {
    let server = Server::start();
    let sb = Sandbox::new();
    let run = sb.run(&[
        "-d",
        "a/b/out",
        &server.url("/%2e%2e%2f%2e%2e%2fescape.bin?size=50"),
        &server.url("/..%2Fx?size=60"),
        &server.url("/sub/%2e%2e%5c%2e%2e%5cwin.bin?size=70"),
    ]);
    run.success();
    let files = sb.files();
    run.check(
        files.iter().all(|f| f.starts_with("a/b/out/")),
        &format!("a file landed outside the output directory: {files:?}"),
    );
    assert_file(
        &run,
        &sb.join("a/b/out/escape.bin"),
        &content("/%2e%2e%2f%2e%2e%2fescape.bin", 50),
    );
    assert_file(&run, &sb.join("a/b/out/x"), &content("/..%2Fx", 60));
    assert_file(
        &run,
        &sb.join("a/b/out/win.bin"),
        &content("/sub/%2e%2e%5c%2e%2e%5cwin.bin", 70),
    );
    assert_absent(&run, &sb.join("escape.bin"));
    assert_absent(&run, &sb.join("a/escape.bin"));
}

/// Two entries wanting one output path: one of them fails, the other's
/// bytes are intact (whichever won).
#[test]
fn two_entries_with_one_destination() {
    let server = Server::start();
    let sb = Sandbox::new();
    let run = sb.run(&[
        "--json",
        "-d",
        "out",
        &server.url("/x/same.bin?size=2000"),
        &server.url("/y/same.bin?size=3000"),
    ]);
    run.failure();
    run.stderr_has(&["already the destination"]);
    let x = run.json_for("/x/same.bin?size=2000");
    let y = run.json_for("/y/same.bin?size=3000");
    let statuses = (x["status"].as_str(), y["status"].as_str());
    let expected = match statuses {
        (Some("ok"), Some("failed")) => content("/x/same.bin", 2000),
        (Some("failed"), Some("ok")) => content("/y/same.bin", 3000),
        _ => panic!("want one ok and one failed entry, got {statuses:?}{run}"),
    };
    assert_file(&run, &sb.join("out/same.bin"), &expected);
    run.check(sb.files() == ["out/same.bin"], "no stray files");
}

/// The list order decides: the second entry fails, the first is intact.
#[test]
fn two_entries_with_one_destination_first_wins() {
    let server = Server::start();
    let sb = Sandbox::new();
    for round in 0..10 {
        let dir = format!("out{round}");
        let run = sb.run(&[
            "--json",
            "-d",
            &dir,
            &server.url("/x/same.bin?size=2000"),
            &server.url("/y/same.bin?size=3000"),
        ]);
        run.failure();
        run.check(
            run.json_for("/x/same.bin?size=2000")["status"] == "ok",
            "the first entry must win",
        );
        run.check(
            run.json_for("/y/same.bin?size=3000")["status"] == "failed",
            "the second entry must fail",
        );
        assert_file(
            &run,
            &sb.join(format!("{dir}/same.bin")),
            &content("/x/same.bin", 2000),
        );
    }
}

/// Downloads start while the list is still being read. An entry is
/// complete once the next line arrives (aria2 options follow their URL, so
/// the reader looks one line ahead); the list stays open after two lines
/// and the first download must not wait for the end of the list.
#[test]
fn stdin_list_is_streamed_with_lookahead() {
    let server = Server::start();
    let sb = Sandbox::new();
    let urls = [
        server.url("/stream2/a.bin?size=100"),
        server.url("/stream2/b.bin?size=200"),
        server.url("/stream2/c.bin?size=300"),
    ];
    let mut cmd = sb.command(&["-i", "-", "-d", "out"]);
    cmd.stdin(Stdio::piped());
    let started = Instant::now();
    let mut spawned = Spawned::spawn(cmd);
    let mut stdin = spawned.child.stdin.take().expect("stdin");
    let first_path = sb.join("out/a.bin");
    let lines = urls.clone();
    let feeder = std::thread::spawn(move || {
        writeln!(stdin, "{}\n{}", lines[0], lines[1]).expect("write lines");
        stdin.flush().expect("flush");
        let appeared = wait_until(Duration::from_secs(10), || first_path.exists());
        let _ = writeln!(stdin, "{}", lines[2]);
        drop(stdin);
        appeared
    });
    let appeared = feeder.join().expect("feeder");
    let run = spawned.wait(started);
    run.success();
    run.check(
        appeared,
        "the first file did not appear while the list was open",
    );
    for (name, size) in [("a.bin", 100), ("b.bin", 200), ("c.bin", 300)] {
        assert_file(
            &run,
            &sb.join(format!("out/{name}")),
            &content(&format!("/stream2/{name}"), size),
        );
    }
}

#[test]
fn concurrency_flags() {
    let server = Server::start();
    let sb = Sandbox::new();
    let urls = |tag: &str| -> Vec<String> {
        (0..4)
            .map(|i| server.url(&format!("/{tag}/f{i}.bin?size=1000&latency_ms=300")))
            .collect()
    };

    let serial = urls("serial");
    let mut args = vec!["-j", "1", "-d", "serial"];
    args.extend(serial.iter().map(String::as_str));
    let run = sb.run(&args);
    run.success();
    run.check(
        run.elapsed >= Duration::from_millis(1200),
        "-j 1 ran the four 300 ms downloads at once",
    );
    for i in 0..4 {
        assert_file(
            &run,
            &sb.join(format!("serial/f{i}.bin")),
            &content(&format!("/serial/f{i}.bin"), 1000),
        );
    }

    let parallel = urls("parallel");
    let mut args = vec!["-j", "4", "--max-per-host", "4", "-d", "parallel"];
    args.extend(parallel.iter().map(String::as_str));
    let run = sb.run(&args);
    run.success();
    for i in 0..4 {
        assert_file(
            &run,
            &sb.join(format!("parallel/f{i}.bin")),
            &content(&format!("/parallel/f{i}.bin"), 1000),
        );
    }

    // --max-per-host 1 serialises one host even with -j 4.
    let per_host = urls("perhost");
    let mut args = vec!["-j", "4", "--max-per-host", "1", "-d", "perhost"];
    args.extend(per_host.iter().map(String::as_str));
    let run = sb.run(&args);
    run.success();
    run.check(
        run.elapsed >= Duration::from_millis(1200),
        "--max-per-host 1 ran the four 300 ms downloads at once",
    );

    // Out-of-range values are usage errors.
    sb.run(&["-j", "0", &server.url("/z")]).assert_code(2);
    sb.run(&["--max-per-host", "0", &server.url("/z")])
        .assert_code(2);
}

#[test]
fn redirects_are_followed() {
    let server = Server::start();
    let sb = Sandbox::new();
    let run = sb.run(&["-d", "out", &server.url("/r/hop.bin?size=4000&redirect=3")]);
    run.success();
    assert_file(&run, &sb.join("out/hop.bin"), &content("/r/hop.bin", 4000));
}

#[test]
fn too_many_redirects_fail() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/r/loop.bin?size=4000&redirect=11");
    let run = sb.run(&["-d", "out", &url]);
    run.failure().stderr_has(&["redirect", "/r/loop.bin"]);
    assert_absent(&run, &sb.join("out/loop.bin"));
    assert_absent(&run, &sb.join("out/loop.bin.part"));

    // --max-redirs lowers the limit.
    let run = sb.run(&[
        "-d",
        "out",
        "--max-redirs",
        "2",
        &server.url("/r/three.bin?redirect=3"),
    ]);
    run.failure().stderr_has(&["redirect"]);
    assert_absent(&run, &sb.join("out/three.bin"));
}

#[test]
fn https_with_http2_and_a_ca_certificate() {
    let server = Server::with(ServerConfig {
        tls: true,
        http2: true,
        ..ServerConfig::default()
    });
    let sb = Sandbox::new();
    let url = server.url("/tls/secure.bin?size=100000");
    assert!(url.starts_with("https://"));

    // Untrusted certificate: fails.
    let run = sb.run(&["-d", "out", &url]);
    run.failure().stderr_has(&["/tls/secure.bin"]);
    assert_absent(&run, &sb.join("out/secure.bin"));

    sb.write("ca.pem", server.ca_cert_pem().expect("a CA"));
    let run = sb.run(&["-d", "out", "--ca-certificate", "ca.pem", &url]);
    run.success();
    assert_file(
        &run,
        &sb.join("out/secure.bin"),
        &content("/tls/secure.bin", 100000),
    );
    let stats = server.stats();
    run.check(stats.http2_requests >= 1, "the download used HTTP/2");

    // An unreadable CA file is reported (usage error, nothing downloaded).
    let run = sb.run(&["-d", "out2", "--ca-certificate", "missing.pem", &url]);
    run.check(run.code() != Some(0), "a missing CA file is an error")
        .stderr_has(&["missing.pem"]);
    assert_absent(&run, &sb.join("out2/secure.bin"));
}

#[test]
fn file_urls() {
    let sb = Sandbox::new();
    let bytes = content("/local/source.bin", 54321);
    let source = sb.write("src/source.bin", &bytes);
    let url = format!("file://{}", source.display());
    let run = sb.run(&[
        "-d",
        "out",
        "--checksum",
        &format!("sha256={}", sha256(&bytes)),
        &url,
    ]);
    run.success();
    assert_file(&run, &sb.join("out/source.bin"), &bytes);
    assert_file(&run, &source, &bytes);

    // A missing local file fails.
    let missing = format!("file://{}", sb.join("src/nope.bin").display());
    let run = sb.run(&["-d", "out", &missing]);
    run.failure().stderr_has(&["nope.bin"]);
    assert_absent(&run, &sb.join("out/nope.bin"));
}

#[test]
fn unsupported_scheme() {
    let sb = Sandbox::new();
    let run = sb.run(&["-d", "out", "ftp://127.0.0.1:9/pub/file.bin"]);
    run.failure().stderr_has(&["ftp"]);
    run.check(sb.files().is_empty(), "nothing written");
}

#[test]
fn the_process_asks_for_no_transparent_huge_pages() {
    // Read from the running process: its status says whether THP may
    // back its memory (see `no_transparent_huge_pages` in main.rs).
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/thp/slow.bin?size=400000&rate=200000");
    let started = Instant::now();
    let spawned = Spawned::spawn(sb.command(&["-q", "-d", "out", &url]));
    let status = format!("/proc/{}/status", spawned.child.id());
    // Once it downloads, main has long run.
    let part = sb.join("out/slow.bin.part");
    wait_until(Duration::from_secs(10), || part.exists());
    let mut line = None;
    wait_until(Duration::from_secs(10), || {
        line = std::fs::read_to_string(&status).ok().and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("THP_enabled:"))
                .map(str::to_owned)
        });
        line.is_some()
    });
    let run = spawned.wait(started);
    run.success();
    match line {
        Some(line) => {
            run.check(line.ends_with('0'), &format!("THP still allowed: {line}"));
        }
        // Kernels before 5.0 do not say; CI's does.
        None if std::env::var_os("CI").is_some() => panic!("no THP_enabled line in {status}"),
        None => eprintln!("note: this kernel's /proc status has no THP_enabled line"),
    }
}
