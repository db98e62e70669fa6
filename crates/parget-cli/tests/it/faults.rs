//! Retries: transient failures, Retry-After, permanent failures, broken
//! connections, stalls and slow transfers.

use std::time::Duration;

use crate::util::*;

#[test]
fn transient_503_is_retried() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/f/flaky.bin?size=20000&fail=503&fail_count=2");
    let run = sb.run(&["--json", "-d", "out", &url]);
    run.success();
    assert_file(
        &run,
        &sb.join("out/flaky.bin"),
        &content("/f/flaky.bin", 20000),
    );
    let json = run.json_one();
    run.check(
        json["attempts"] == 3,
        "two failures then success: 3 attempts",
    );
    run.check(json["status"] == "ok", "status ok");
    run.check(json["error"].is_null(), "no error on success");
}

#[test]
fn retry_after_is_honoured() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/f/busy.bin?size=100&fail=429&retry_after=1");
    let run = sb.run(&["--json", "-d", "out", &url]);
    run.success();
    run.check(
        run.elapsed >= Duration::from_millis(900),
        "Retry-After: 1 was not waited for",
    );
    assert_file(&run, &sb.join("out/busy.bin"), &content("/f/busy.bin", 100));
    run.check(run.json_one()["attempts"] == 2, "2 attempts");
}

#[test]
fn not_found_fails_at_once() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/f/gone.bin?fail=404&fail_count=all");
    let run = sb.run(&["--json", "-d", "out", "--retry-wait", "2", &url]);
    run.failure().stderr_has(&[&url, "404"]);
    let json = run.json_one();
    run.check(json["attempts"] == 1, "404 is not retried");
    run.check(json["status"] == "failed", "status failed");
    run.check(
        server.stats().requests_for("/f/gone.bin") == 1,
        "one request",
    );
    assert_absent(&run, &sb.join("out/gone.bin"));
}

#[test]
fn retries_run_out() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/f/down.bin?fail=503&fail_count=5");
    let run = sb.run(&["--json", "--retries", "1", "-d", "out", &url]);
    run.failure()
        .stderr_has(&[&format!("parget: retry 1 of 1 for {url} in ")]);
    run.check(!run.stderr.contains("retry 2"), "one retry is retry 1");
    run.check(run.json_one()["attempts"] == 2, "one retry: 2 attempts");
    run.check(
        server.stats().requests_for("/f/down.bin") == 2,
        "two requests",
    );
    assert_absent(&run, &sb.join("out/down.bin"));
}

#[test]
fn retries_zero_means_one_attempt() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/f/once.bin?fail=503");
    let run = sb.run(&["--json", "--retries", "0", "-d", "out", &url]);
    run.failure();
    run.check(run.json_one()["attempts"] == 1, "1 attempt");
}

#[test]
fn connection_reset_is_retried() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/f/reset.bin?size=200000&reset_after=50000");
    let run = sb.run(&["--json", "-d", "out", &url]);
    run.success();
    assert_file(
        &run,
        &sb.join("out/reset.bin"),
        &content("/f/reset.bin", 200_000),
    );
    run.check(run.json_one()["attempts"] == 2, "2 attempts");
}

#[test]
fn truncated_body_is_retried() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/f/trunc.bin?size=200000&truncate_after=70000");
    let run = sb.run(&["--json", "-d", "out", &url]);
    run.success();
    assert_file(
        &run,
        &sb.join("out/trunc.bin"),
        &content("/f/trunc.bin", 200_000),
    );
    run.check(run.json_one()["attempts"] == 2, "2 attempts");
    // The retry resumed: fewer than two full bodies were sent.
    let sent = server.stats().body_bytes_for("/f/trunc.bin");
    run.check(
        sent < 2 * 200_000,
        &format!("the retry started over ({sent} body bytes sent)"),
    );
}

#[test]
fn truncated_body_without_ranges_is_retried_from_the_start() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/f/noranges.bin?size=100000&truncate_after=30000&ranges=0");
    let run = sb.run(&["--json", "-d", "out", &url]);
    run.success();
    assert_file(
        &run,
        &sb.join("out/noranges.bin"),
        &content("/f/noranges.bin", 100_000),
    );
}

#[test]
fn stall_is_timed_out_and_retried() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/f/stall.bin?size=100000&stall_after=20000");
    let run = sb.run(&["--json", "--timeout", "1", "-d", "out", &url]);
    run.success();
    assert_file(
        &run,
        &sb.join("out/stall.bin"),
        &content("/f/stall.bin", 100_000),
    );
    run.check(run.json_one()["attempts"] == 2, "2 attempts");
    run.check(
        run.elapsed >= Duration::from_millis(900),
        "the idle timeout was not waited for",
    );
}

#[test]
fn lowest_speed_limit() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/f/slow.bin?size=100000&trickle=1000");
    let run = sb.run(&[
        "--json",
        "--retries",
        "0",
        "--lowest-speed-limit",
        "100K",
        "--lowest-speed-time",
        "1",
        "-d",
        "out",
        &url,
    ]);
    run.failure().stderr_has(&[&url, "slow"]);
    assert_absent(&run, &sb.join("out/slow.bin"));
    run.check(run.json_one()["attempts"] == 1, "1 attempt");
}

#[test]
fn connection_refused_fails() {
    // A port that was just free: nothing listens there.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let sb = Sandbox::new();
    let url = format!("http://127.0.0.1:{port}/nothing.bin");
    let run = sb.run(&["--json", "--retries", "1", "-d", "out", &url]);
    run.failure().stderr_has(&[&url]);
    run.check(
        run.json_one()["attempts"] == 2,
        "connection errors are retried",
    );
    assert_absent(&run, &sb.join("out/nothing.bin"));
}
