//! The binary against nginx from Debian's packages, run with only the
//! flags a user types for the job.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use parget_testbed::external::{range_connections, Nginx};

use crate::util::{content, sha256, wait_until, Sandbox, Spawned, BIN};

const MIB: u64 = 1 << 20;

/// The binary with only the flags a user types, in `sb`, no proxy of the
/// environment in the way.
fn as_typed(sb: &Sandbox, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(sb.path()).args(args);
    for proxy in [
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env_remove(proxy);
    }
    cmd
}

#[test]
fn split_8_spreads_a_file_over_several_connections_to_a_throttled_nginx() {
    // 64 MiB at nginx's `limit_rate 20m` per connection: one stream needs
    // about three seconds, eight need less than half of one. nginx sends a
    // response's first second's worth at once, so the first megabytes come
    // in a burst whatever the limit.
    const LEN: u64 = 64 * MIB;
    let path = "/pool/image.bin";
    let nginx = Nginx::builder()
        .file(path, LEN)
        .limit_rate(20 * MIB)
        .start()
        .expect("nginx starts (scripts/install-deps.sh installs it)");
    let sb = Sandbox::new();
    let url = nginx.url(path);
    // `parget -s 8 URL` and nothing else.
    let run = Spawned::spawn(as_typed(&sb, &["-s", "8", &url])).wait(Instant::now());
    run.success();
    let saved = std::fs::read(sb.join("image.bin")).expect("image.bin is saved");
    run.check(
        sha256(&saved) == sha256(&content(path, LEN)),
        "image.bin has the SHA-256 of the served bytes",
    );

    // nginx logs each request a moment after its last byte is sent: wait
    // until the log accounts for the whole file.
    let logged = wait_until(Duration::from_secs(30), || {
        nginx.access_log().is_ok_and(|log| {
            log.iter()
                .filter(|e| e.uri == path)
                .map(|e| e.body_bytes_sent)
                .sum::<u64>()
                >= LEN
        })
    });
    let log = nginx.access_log().expect("the access log parses");
    let lines: Vec<String> = log.iter().map(ToString::to_string).collect();
    run.check(
        logged,
        &format!(
            "nginx logged every byte of the file; its log:\n{}",
            lines.join("\n")
        ),
    );
    let connections: BTreeSet<u64> = log.iter().map(|e| e.connection).collect();
    let ranged = range_connections(&log, path);
    run.check(
        ranged.len() > 1,
        &format!(
            "`-s 8` against a server that paces each connection uses more than one \
             connection: {} connection(s) in all, {} with a Range request; nginx's log \
             ($connection $connection_requests $request_method $uri $status \
             $body_bytes_sent \"$http_range\"):\n{}",
            connections.len(),
            ranged.len(),
            lines.join("\n")
        ),
    );
}

#[test]
fn a_server_limiting_connections_per_client_gets_the_file_over_those_it_allows() {
    // nginx's `limit_conn 2` answers a third connection 403 (mirrors set
    // it to 403, 429 or 503): the refused connections leave their ranges
    // to the two allowed, and the file is neither failed nor started over.
    const LEN: u64 = 32 * MIB;
    let path = "/pool/limited.bin";
    for status in [403, 503] {
        let nginx = Nginx::builder()
            .file(path, LEN)
            .limit_rate(20 * MIB)
            .limit_conn(2, status)
            .start()
            .expect("nginx starts (scripts/install-deps.sh installs it)");
        let sb = Sandbox::new();
        let run =
            Spawned::spawn(as_typed(&sb, &["-s", "8", &nginx.url(path)])).wait(Instant::now());
        run.success();
        let saved = std::fs::read(sb.join("limited.bin")).expect("limited.bin is saved");
        run.check(
            sha256(&saved) == sha256(&content(path, LEN)),
            "limited.bin has the SHA-256 of the served bytes",
        );
        let logged = wait_until(Duration::from_secs(30), || {
            nginx.access_log().is_ok_and(|log| {
                log.iter()
                    .filter(|e| e.uri == path && e.status / 100 == 2)
                    .map(|e| e.body_bytes_sent)
                    .sum::<u64>()
                    >= LEN
            })
        });
        let log = nginx.access_log().expect("the access log parses");
        let lines: Vec<String> = log.iter().map(ToString::to_string).collect();
        let count = |wanted: u16| log.iter().filter(|e| e.status == wanted).count();
        run.check(
            logged && count(status) > 0 && count(200) == 1,
            &format!(
                "{status}: the limit refused connections, and one full answer was enough; nginx's log:\n{}",
                lines.join("\n")
            ),
        );
    }
}
