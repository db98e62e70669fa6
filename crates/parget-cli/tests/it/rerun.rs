//! Re-runs: skipping verified files, refusing to clobber, overwriting, and
//! resuming `.part` files with -c.

use crate::util::*;

#[test]
fn second_run_with_checksum_skips() {
    let server = Server::start();
    let sb = Sandbox::new();
    let bytes = content("/rr/keep.bin", 40000);
    let url = server.url("/rr/keep.bin?size=40000");
    let checksum = format!("sha256={}", sha256(&bytes));
    let args = ["--json", "-d", "out", "--checksum", &checksum, &url];
    let run = sb.run(&args);
    run.success();
    run.check(run.json_one()["status"] == "ok", "first run downloads");
    let requests = server.stats().requests_for("/rr/keep.bin");

    let run = sb.run(&args);
    run.success();
    let json = run.json_one();
    run.check(json["status"] == "skipped", "second run skips");
    run.check(
        json["digests"]["sha256"] == sha256(&bytes),
        "digest reported",
    );
    run.check(
        server.stats().requests_for("/rr/keep.bin") == requests,
        "a skipped entry made a request",
    );
    assert_file(&run, &sb.join("out/keep.bin"), &bytes);
}

#[test]
fn a_wrong_existing_file_is_replaced_when_a_checksum_says_so() {
    let server = Server::start();
    let sb = Sandbox::new();
    let bytes = content("/rr/fix.bin", 3000);
    sb.write("out/fix.bin", b"stale content");
    let run = sb.run(&[
        "--json",
        "-d",
        "out",
        "--checksum",
        &format!("sha256={}", sha256(&bytes)),
        &server.url("/rr/fix.bin?size=3000"),
    ]);
    run.success();
    run.check(run.json_one()["status"] == "ok", "downloaded again");
    assert_file(&run, &sb.join("out/fix.bin"), &bytes);
}

#[test]
fn existing_output_without_expectations_is_left_alone() {
    let server = Server::start();
    let sb = Sandbox::new();
    let mine = b"my precious file";
    sb.write("out/mine.bin", mine);
    let url = server.url("/rr/mine.bin?size=500");
    let run = sb.run(&["--json", "-d", "out", &url]);
    run.failure().stderr_has(&["mine.bin", "--allow-overwrite"]);
    run.check(run.json_one()["status"] == "failed", "status failed");
    assert_file(&run, &sb.join("out/mine.bin"), mine);
    assert_absent(&run, &sb.join("out/mine.bin.part"));
    run.check(
        server.stats().requests_for("/rr/mine.bin") == 0,
        "a refused entry made a request",
    );

    let run = sb.run(&["--json", "--allow-overwrite", "-d", "out", &url]);
    run.success();
    run.check(run.json_one()["status"] == "ok", "overwritten");
    assert_file(
        &run,
        &sb.join("out/mine.bin"),
        &content("/rr/mine.bin", 500),
    );
}

#[test]
fn continue_resumes_a_part_file() {
    let server = Server::start();
    let sb = Sandbox::new();
    let path = "/rr/resume.bin";
    let size = 300_000u64;
    // The stall is served to the first GET only: the second run gets the
    // same URL served normally (and the control file's URL matches).
    let url = server.url(&format!(
        "{path}?size={size}&stall_after=120000&fault_count=1"
    ));
    let dest = sb.join("out/resume.bin");
    let part = with_suffix(&dest, ".part");

    let run = sb.run(&["--timeout", "1", "--retries", "0", "-d", "out", &url]);
    run.failure().stderr_has(&[path]);
    assert_absent(&run, &dest);
    let kept = std::fs::metadata(&part)
        .unwrap_or_else(|e| panic!("no .part after the stalled run: {e}{run}"))
        .len();
    run.check(kept > 0 && kept <= 120_000, &format!("{kept} bytes kept"));
    let partial = std::fs::read(&part).expect("read part");
    run.check(
        partial == content(path, size)[..kept as usize],
        "the .part holds the first bytes",
    );

    server.reset_stats();
    let run = sb.run(&["--json", "-c", "-d", "out", &url]);
    run.success();
    assert_file(&run, &dest, &content(path, size));
    assert_absent(&run, &part);
    let stats = server.stats();
    run.check(
        stats.body_bytes_for(path) == size - kept,
        &format!(
            "the resumed run fetched {} body bytes, want {}",
            stats.body_bytes_for(path),
            size - kept
        ),
    );
    run.check(
        stats.range_requests_for(path) >= 1,
        "a Range request was made",
    );
    run.check(
        sb.files() == ["out/resume.bin"],
        &format!("leftovers: {:?}", sb.files()),
    );
}

#[test]
fn without_continue_a_part_file_is_started_over() {
    let server = Server::start();
    let sb = Sandbox::new();
    let path = "/rr/over.bin";
    let size = 200_000u64;
    let url = server.url(&format!(
        "{path}?size={size}&stall_after=50000&fault_count=1"
    ));
    let run = sb.run(&["--timeout", "1", "--retries", "0", "-d", "out", &url]);
    run.failure();
    run.check(sb.exists("out/over.bin.part"), "a .part is kept");

    server.reset_stats();
    let run = sb.run(&["-d", "out", &url]);
    run.success();
    assert_file(&run, &sb.join("out/over.bin"), &content(path, size));
    run.check(
        server.stats().body_bytes_for(path) == size,
        "without -c the whole file is fetched",
    );
}

#[test]
fn no_stale_control_file_after_a_fresh_download() {
    let server = Server::start();
    let sb = Sandbox::new();
    let path = "/rr/stale.bin";
    let url = server.url(&format!(
        "{path}?size=200000&stall_after=50000&fault_count=1"
    ));
    let run = sb.run(&["--timeout", "1", "--retries", "0", "-d", "out", &url]);
    run.failure();
    run.check(
        sb.exists("out/stale.bin.part.parget"),
        "a control file is kept",
    );

    let run = sb.run(&["-d", "out", &url]);
    run.success();
    assert_file(&run, &sb.join("out/stale.bin"), &content(path, 200_000));
    run.check(
        sb.files() == ["out/stale.bin"],
        &format!("leftovers: {:?}", sb.files()),
    );
}

#[test]
fn continue_refuses_a_part_file_of_another_url() {
    let server = Server::start();
    let sb = Sandbox::new();
    let size = 200_000u64;
    let first = server.url(&format!(
        "/rr/one.bin?size={size}&stall_after=60000&fault_count=1"
    ));
    let run = sb.run(&[
        "--timeout",
        "1",
        "--retries",
        "0",
        "-d",
        "out",
        "-o",
        "same.bin",
        &first,
    ]);
    run.failure();
    let part = sb.read("out/same.bin.part").expect("a .part is kept");

    let other = server.url(&format!("/rr/two.bin?size={size}"));
    let run = sb.run(&["-c", "-d", "out", "-o", "same.bin", &other]);
    run.failure().stderr_has(&["resume", "/rr/one.bin"]);
    assert_absent(&run, &sb.join("out/same.bin"));
    run.check(
        sb.read("out/same.bin.part").as_deref() == Some(&part[..]),
        "the other URL's .part was modified",
    );
}
