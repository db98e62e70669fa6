//! Segmented downloads through the binary: kill -9 at several moments and
//! `-c` fetches only what the control file says is missing; mirrors on the
//! command line; control files that belong to something else are refused.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{
    assert_file, content, records_hold, sha256, until_connections_close, wait_until,
    written_blocks, Run, Sandbox, Server, Spawned,
};

const MIB: u64 = 1 << 20;
const LEN: u64 = 24 * MIB;

fn segment_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["-s", "4", "-k", "1M", "--retry-wait", "0.05", "-d", "out"];
    args.extend_from_slice(extra);
    args
}

fn kill_9(spawned: Spawned) -> Run {
    let pid = spawned.child.id();
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -9 failed");
    spawned.wait(Instant::now())
}

#[test]
fn kill_9_at_several_moments_then_continue_fetches_only_what_was_never_written() {
    let server = Server::start();
    // 4 connections at 3 MB/s each: the download takes about two seconds.
    let path = "/k/big.bin";
    let url = server.url(&format!("{path}?size={LEN}&rate=3000000"));
    let expected = content(path, LEN);
    let mut most_recorded = 0;
    for delay in [
        Duration::from_millis(300),
        Duration::from_millis(1200),
        Duration::from_millis(1800),
    ] {
        let sb = Sandbox::new();
        let dest = sb.join("out/big.bin");
        server.reset_stats();
        let spawned = Spawned::spawn(sb.command(&segment_args(&[&url])));
        // The preallocated .part appears once the first answer is in.
        let flowing = wait_until(Duration::from_secs(5), || sb.exists("out/big.bin.part"));
        assert!(flowing, "the download started");
        std::thread::sleep(delay);
        let killed = kill_9(spawned);
        assert!(
            !sb.exists("out/big.bin"),
            "killed at {delay:?}: nothing at the destination{killed}"
        );
        // What the control file claims is on disk, and what is.
        let recorded = records_hold(&killed, &dest, &expected);
        let written = written_blocks(&dest, &expected);
        assert!(recorded < LEN, "killed at {delay:?} before the end");
        most_recorded = most_recorded.max(recorded);

        until_connections_close(&server);
        server.reset_stats();
        let run = sb.run(&segment_args(&["-c", "--json", &url]));
        run.success();
        assert_file(&run, &dest, &expected);
        until_connections_close(&server);
        let served = server.stats().body_bytes_for(path);
        let never_written = LEN - written;
        // Every write is recorded as it is made: only the write in flight
        // at the kill (at most one 1 MiB buffer) is fetched again, and a
        // connection cut short by a steal wastes a little.
        run.check(
            served >= LEN - recorded && served <= never_written + 2 * MIB,
            &format!(
                "killed at {delay:?}: {written} bytes were written, {recorded} recorded; \
                 {served} fetched for the {never_written} never written"
            ),
        );
        run.check(
            !sb.exists("out/big.bin.part.parget"),
            "the control file is removed",
        );
    }
    assert!(
        most_recorded > 0,
        "bytes were recorded before the last kill"
    );
}

#[test]
fn a_control_file_of_another_url_or_size_is_refused() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url(&format!("/r/f.bin?size={LEN}&rate=4000000"));
    let spawned = Spawned::spawn(sb.command(&segment_args(&["-o", "f.bin", &url])));
    wait_until(Duration::from_secs(5), || sb.exists("out/f.bin.part"));
    std::thread::sleep(Duration::from_millis(1200));
    kill_9(spawned);
    let part = std::fs::read(sb.join("out/f.bin.part")).expect("the .part is kept");

    let other = server.url(&format!("/r/other.bin?size={LEN}"));
    let run = sb.run(&segment_args(&["-c", "-o", "f.bin", &other]));
    run.failure().stderr_has(&["cannot resume", "/r/f.bin"]);

    let list = format!("{url}\n  out=f.bin\n  size={}\n", LEN + 1);
    sb.write("list.txt", list);
    let run = sb.run(&segment_args(&["-c", "-i", "list.txt"]));
    run.failure()
        .stderr_has(&["cannot resume", &format!("{} bytes are expected", LEN + 1)]);
    run.check(
        std::fs::read(sb.join("out/f.bin.part")).ok() == Some(part),
        "the .part is untouched",
    );
}

#[test]
fn mirrors_on_the_command_line() {
    let a = Server::start();
    let b = Server::start();
    let sb = Sandbox::new();
    // Capped, so the first connection is slow enough to be split.
    let path = format!("/mir/m.bin?size={LEN}&rate=30000000");
    let expected = content("/mir/m.bin", LEN);
    let checksum = format!("sha256={}", sha256(&expected));
    let run = sb.run(&segment_args(&[
        "--mirrors",
        "--checksum",
        &checksum,
        &a.url(&path),
        &b.url(&format!("{path}&fail=503&fail_count=all")),
    ]));
    run.success();
    assert_file(&run, &sb.join("out/m.bin"), &expected);
    run.check(
        a.stats().range_requests_for("/mir/m.bin") >= 2,
        "segments went to the good mirror",
    );
}
