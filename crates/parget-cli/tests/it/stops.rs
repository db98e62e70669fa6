//! Stops: SIGINT, SIGTERM and SIGHUP end a run cleanly (exit 128 + N,
//! `.part` kept, every byte written recorded, so `-c` fetches exactly what
//! was never written); a second signal exits at once; and a resume after
//! a power loss (recorded ranges corrupted, zeroed or cut off on disk, a
//! record line damaged) fetches exactly the damaged ranges again.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::{
    assert_absent, assert_file, content, control_records, covered, recorded_bytes, records_hold,
    send_signal, sha256, until_connections_close, wait_until, with_suffix, written_blocks, Sandbox,
    Server, Spawned,
};

const MIB: u64 = 1 << 20;
const LEN: u64 = 12 * MIB;

/// The arguments of a download of `url` to `out/f.bin` over `split`
/// connections.
fn args<'a>(split: &'a str, url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["-s", split, "-k", "1M", "-d", "out", "-o", "f.bin"];
    args.extend_from_slice(extra);
    args.push(url);
    args
}

/// Starts a download of `path` (rate-capped, so it is still running when
/// stopped), waits until it recorded `at_least` bytes, stops it with
/// `signal`, and checks the clean stop. Returns the bytes recorded.
fn start_and_stop(
    server: &Server,
    sb: &Sandbox,
    path: &str,
    split: &str,
    signal: &str,
    code: i32,
    at_least: u64,
) -> u64 {
    let url = server.url(&format!("{path}?size={LEN}&rate=3000000"));
    let expected = content(path, LEN);
    let dest = sb.join("out/f.bin");
    let spawned = Spawned::spawn(sb.command(&args(split, &url, &[])));
    let flowing = wait_until(Duration::from_secs(20), || {
        recorded_bytes(&dest) >= at_least
    });
    assert!(flowing, "the download got going");
    send_signal(&spawned, signal);
    let stopped = spawned.wait(Instant::now());
    stopped.assert_code(code).stderr_has(&[
        "stopping",
        "--continue",
        "entries not yet started were not attempted",
    ]);
    assert_absent(&stopped, &dest);
    let recorded = records_hold(&stopped, &dest, &expected);
    let written = written_blocks(&dest, &expected);
    stopped.check(
        recorded >= written,
        &format!("every byte written is recorded: {written} written, {recorded} recorded"),
    );
    stopped.check(recorded < LEN, "stopped before the end");
    recorded
}

/// Resumes `path` with `-c` (its digest checked) and returns the body
/// bytes the server sent for it.
fn resume(server: &Server, sb: &Sandbox, path: &str, split: &str) -> u64 {
    let url = server.url(&format!("{path}?size={LEN}&rate=3000000"));
    let expected = content(path, LEN);
    let checksum = format!("sha256={}", sha256(&expected));
    until_connections_close(server);
    server.reset_stats();
    let run = sb.run(&args(split, &url, &["-c", "--checksum", &checksum]));
    run.success();
    assert_file(&run, &sb.join("out/f.bin"), &expected);
    run.check(
        sb.files() == ["out/f.bin"],
        &format!("leftovers: {:?}", sb.files()),
    );
    until_connections_close(server);
    server.stats().body_bytes_for(path)
}

/// A connection whose range another took over wastes what the server had
/// already sent past the new end: with the rate cap, a few slices.
const STEAL_SLACK: u64 = MIB;

fn a_signal_stops_cleanly_and_continue_fetches_only_the_rest(signal: &str, code: i32) {
    let server = Server::start();
    for split in ["4", "1"] {
        let sb = Sandbox::new();
        let path = format!("/stop/{signal}-{split}.bin");
        let recorded = start_and_stop(&server, &sb, &path, split, signal, code, 2 * MIB);
        let served = resume(&server, &sb, &path, split);
        let missing = LEN - recorded;
        let slack = if split == "1" { 0 } else { STEAL_SLACK };
        assert!(
            served >= missing && served <= missing + slack,
            "-s {split}, {signal}: {recorded} bytes recorded, {missing} missing, {served} fetched"
        );
    }
}

#[test]
fn sigterm_stops_cleanly_with_143() {
    a_signal_stops_cleanly_and_continue_fetches_only_the_rest("TERM", 143);
}

#[test]
fn sigint_stops_cleanly_with_130() {
    a_signal_stops_cleanly_and_continue_fetches_only_the_rest("INT", 130);
}

#[test]
fn sighup_stops_cleanly_with_129() {
    a_signal_stops_cleanly_and_continue_fetches_only_the_rest("HUP", 129);
}

#[test]
fn a_second_signal_exits_at_once() {
    // An existing output with a checksum to compare against is hashed
    // before anything else, on a thread a stop does not interrupt: a
    // sparse 4 GiB file keeps it busy for seconds, so the first signal's
    // clean stop waits for it, and the second ends the run.
    let server = Server::start();
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.join("out")).unwrap();
    let existing = std::fs::File::create(sb.join("out/f")).unwrap();
    existing.set_len(4 << 30).unwrap();
    let checksum = format!("sha256={}", sha256(b"something else"));
    let url = server.url("/second/f?size=1000");
    let spawned =
        Spawned::spawn(sb.command(&["--checksum", &checksum, "-d", "out", "-o", "f", &url]));
    // The part file is claimed once the run watches for signals.
    let claimed = wait_until(Duration::from_secs(20), || sb.exists("out/f.part"));
    assert!(claimed, "the download started");
    send_signal(&spawned, "TERM");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        spawned_is_running(&spawned),
        "the clean stop waits for the hashing"
    );
    send_signal(&spawned, "INT");
    let run = spawned.wait(Instant::now());
    run.assert_code(130).stderr_has(&["SIGTERM", "stopping"]);
    run.check(server.stats().requests == 0, "nothing was fetched");
}

fn spawned_is_running(spawned: &Spawned) -> bool {
    // /proc/PID/stat's third field is the state; Z is a zombie (ended).
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", spawned.child.id()));
    stat.is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            != Some("Z")
    })
}

/// Damage done to a stopped download's files, as a power loss could.
struct Damage {
    /// Records whose ranges no longer hold their bytes.
    ranges: Vec<(u64, u64)>,
}

impl Damage {
    /// Flips a byte in `record`'s range of the part file.
    fn corrupt(&mut self, part: &Path, record: (u64, u64, u32)) {
        let file = OpenOptions::new()
            .write(true)
            .read(true)
            .open(part)
            .unwrap();
        let at = record.0 + record.1 / 2;
        let mut byte = [0u8];
        file.read_exact_at(&mut byte, at).unwrap();
        file.write_all_at(&[byte[0] ^ 0x5a], at).unwrap();
        self.ranges.push((record.0, record.1));
    }

    /// Zeroes `record`'s range of the part file.
    fn zero(&mut self, part: &Path, record: (u64, u64, u32)) {
        let file = OpenOptions::new().write(true).open(part).unwrap();
        file.write_all_at(&vec![0u8; record.1 as usize], record.0)
            .unwrap();
        self.ranges.push((record.0, record.1));
    }

    /// Zeroes ten bytes of `record`'s line in the control file.
    fn spoil_line(&mut self, control: &Path, record: (u64, u64, u32)) {
        let text = std::fs::read(control).unwrap();
        let line = format!("{:016x} {:08x} {:08x} ", record.0, record.1, record.2);
        let at = text
            .windows(line.len())
            .position(|w| w == line.as_bytes())
            .expect("the record's line");
        let file = OpenOptions::new().write(true).open(control).unwrap();
        file.write_all_at(&[0u8; 10], at as u64 + 5).unwrap();
        self.ranges.push((record.0, record.1));
    }

    /// Cuts the part file in the middle of `record`: it and every record
    /// reaching past the cut are lost.
    fn truncate(&mut self, part: &Path, record: (u64, u64, u32), all: &[(u64, u64, u32)]) {
        let cut = record.0 + record.1 / 2;
        OpenOptions::new()
            .write(true)
            .open(part)
            .unwrap()
            .set_len(cut)
            .unwrap();
        for r in all.iter().filter(|r| r.0 + r.1 > cut) {
            self.ranges.push((r.0, r.1));
        }
    }

    /// What is still held: `records` without the damaged ones.
    fn kept(&self, records: &[(u64, u64, u32)]) -> u64 {
        let kept: Vec<(u64, u64, u32)> = records
            .iter()
            .filter(|r| !self.ranges.contains(&(r.0, r.1)))
            .copied()
            .collect();
        covered(&kept)
    }
}

fn a_power_loss_is_detected_range_by_range(split: &str) {
    let server = Server::start();
    let sb = Sandbox::new();
    let path = format!("/loss/{split}.bin");
    let dest = sb.join("out/f.bin");
    // Enough written for several records to damage, some left to fetch.
    start_and_stop(&server, &sb, &path, split, "TERM", 143, 6 * MIB);
    let mut records = control_records(&dest);
    records.sort_unstable();
    assert!(records.len() >= 5, "enough records to damage: {records:?}");
    let part = with_suffix(&dest, ".part");
    let control = with_suffix(&dest, ".part.parget");
    let mut damage = Damage { ranges: Vec::new() };
    damage.corrupt(&part, records[0]);
    damage.zero(&part, records[2]);
    damage.spoil_line(&control, records[3]);
    let last = records[records.len() - 1];
    damage.truncate(&part, last, &records);
    let kept = damage.kept(&records);

    let served = resume(&server, &sb, &path, split);
    let missing = LEN - kept;
    // One connection fills the holes with ranges; its first request, the
    // probe, asks from the first hole to the end and is cut at the hole's
    // end, which wastes what the server had sent past it (a slice or two).
    let slack = if split == "1" {
        256 * 1024
    } else {
        STEAL_SLACK
    };
    assert!(
        served >= missing && served <= missing + slack,
        "-s {split}: {kept} bytes intact after the damage, {missing} missing, {served} fetched"
    );
}

#[test]
fn after_a_power_loss_a_stream_refetches_exactly_the_damaged_ranges() {
    a_power_loss_is_detected_range_by_range("1");
}

#[test]
fn after_a_power_loss_segments_refetch_only_the_damaged_ranges() {
    a_power_loss_is_detected_range_by_range("4");
}
