//! Full disks and leftovers: a download whose announced size has no room
//! fails before its first write, leaving nothing; one that runs out of
//! space (at the preallocation, or in the middle of a stream) fails with
//! the OS error and the `.part` path and leaves what `-c` continues once
//! there is room;
//! `-c` on an output that is already complete skips it. The full disk is a
//! small tmpfs the test mounts (as root; skipped with a note otherwise).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use std::time::{Duration, Instant};

use crate::util::{
    assert_absent, assert_file, content, records_hold, sha256, until_connections_close, wait_until,
    Sandbox, Server, Spawned,
};

const MIB: u64 = 1 << 20;

/// A tmpfs of a given size mounted for one test; unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount`'s syntax: `16m`) at `dir`, or
    /// says why it cannot and returns `None`.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("create the mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "parget-test"])
            .arg(dir)
            .stderr(Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!(
                "note: skipped: cannot mount a tmpfs at {} (it takes root)",
                dir.display()
            );
            return None;
        }
        Some(Tmpfs {
            dir: dir.to_owned(),
        })
    }

    /// Gives it `size` (room freed, as a user deleting files would).
    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {} to {size}", self.dir.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

#[test]
fn a_full_disk_at_the_preallocation_fails_clearly_and_continue_starts_once_there_is_room() {
    let server = Server::start();
    let sb = Sandbox::new();
    let Some(disk) = Tmpfs::mount(&sb.join("out"), "16m") else {
        return;
    };
    let path = "/full/big.bin";
    let len = 24 * MIB;
    // Capped, so the first connection is split and the file preallocated.
    let url = server.url(&format!("{path}?size={len}&rate=20000000"));
    let args = ["-s", "4", "-k", "1M", "-d", "out", &url];
    let run = sb.run(&args);
    run.failure()
        .stderr_has(&["out/big.bin.part", "No space left on device"]);
    run.check(
        !run.stderr.contains("the writer stopped"),
        "the OS error, not its echo",
    );
    assert_absent(&run, &sb.join("out/big.bin"));

    disk.resize("64m");
    let run = sb.run(&["-c", "-s", "4", "-k", "1M", "-d", "out", &url]);
    run.success();
    assert_file(&run, &sb.join("out/big.bin"), &content(path, len));
    run.check(
        sb.files() == ["out/big.bin"],
        &format!("leftovers: {:?}", sb.files()),
    );
}

#[test]
fn two_large_files_that_do_not_both_fit_a_tmpfs_one_fails_at_once_and_the_other_completes() {
    let server = Server::start();
    let sb = Sandbox::new();
    let Some(_disk) = Tmpfs::mount(&sb.join("out"), "48m") else {
        return;
    };
    // Capped, so each first connection is split and its file sized; 60 MiB
    // in all for 48. Had both been sized, both would fill the tmpfs
    // mid-stream and both fail (a failed file keeps its bytes for -c).
    let len = 30 * MIB;
    let urls: Vec<String> = ["/a.bin", "/b.bin"]
        .iter()
        .map(|p| server.url(&format!("{p}?size={len}&rate=10000000")))
        .collect();
    let run = sb.run(&[
        "-j", "2", "-s", "4", "-k", "1M", "-d", "out", &urls[0], &urls[1],
    ]);
    run.failure().stderr_has(&["No space left on device"]);
    let done: Vec<&str> = ["a.bin", "b.bin"]
        .into_iter()
        .filter(|name| sb.exists(&format!("out/{name}")))
        .collect();
    run.check(done.len() == 1, &format!("one file completes: {done:?}"));
    let name = done[0];
    assert_file(
        &run,
        &sb.join(format!("out/{name}")),
        &content(&format!("/{name}"), len),
    );
}

#[test]
fn a_full_disk_in_a_stream_keeps_what_was_written_for_continue() {
    let server = Server::start();
    let sb = Sandbox::new();
    let Some(disk) = Tmpfs::mount(&sb.join("out"), "8m") else {
        return;
    };
    let path = "/full/stream.bin";
    let len = 12 * MIB;
    let expected = content(path, len);
    // Paced, so the test can fill the disk while the stream runs.
    let url = server.url(&format!("{path}?size={len}&rate={}", 4 * MIB));
    let dest = sb.join("out/stream.bin");

    // An announced size the disk has no room for fails before the first
    // write, and leaves nothing behind.
    let run = sb.run(&["-s", "1", "-d", "out", &url]);
    run.failure().stderr_has(&[
        "out/stream.bin.part",
        &format!("No space left on device for its {len} bytes"),
    ]);
    run.check(sb.files().is_empty(), &format!("left: {:?}", sb.files()));

    // With room for it, another writer takes the rest of the disk while
    // the stream runs: the write that finds it full fails, and what was
    // written stays for `-c`.
    disk.resize("32m");
    let spawned = Spawned::spawn(sb.command(&["-s", "1", "-d", "out", &url]));
    let part = sb.join("out/stream.bin.part");
    let writing = wait_until(Duration::from_secs(60), || {
        part.metadata().is_ok_and(|m| m.len() >= 2 * MIB)
    });
    assert!(writing, "the stream wrote its first bytes");
    fill(&sb.join("out/filler"));
    let run = spawned.wait(Instant::now());
    run.failure()
        .stderr_has(&["out/stream.bin.part", "No space left on device"]);
    let recorded = records_hold(&run, &dest, &expected);
    run.check(
        recorded >= 2 * MIB && recorded < len,
        &format!("{recorded} bytes recorded"),
    );

    std::fs::remove_file(sb.join("out/filler")).unwrap();
    until_connections_close(&server);
    server.reset_stats();
    let checksum = format!("sha256={}", sha256(&expected));
    let run = sb.run(&["-c", "-s", "1", "--checksum", &checksum, "-d", "out", &url]);
    run.success();
    assert_file(&run, &dest, &expected);
    until_connections_close(&server);
    let served = server.stats().body_bytes_for(path);
    run.check(
        served == len - recorded,
        &format!("{served} bytes fetched for the {} missing", len - recorded),
    );
}

/// Writes zeros to `path` until its filesystem is full.
fn fill(path: &Path) {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 << 10];
    loop {
        match file.write_all(&chunk) {
            Ok(()) => continue,
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
}

#[test]
fn continue_on_a_complete_output_skips_it() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/done/f.bin?size=300000");
    sb.run(&["-d", "out", &url]).success();
    server.reset_stats();
    let run = sb.run(&["-c", "--json", "-d", "out", &url]);
    run.success();
    let json = run.json_one();
    run.check(json["status"] == "skipped", "reported as skipped");
    run.check(json["bytes"] == 300000, "with its size");
    run.check(server.stats().requests == 0, "nothing was fetched");
    assert_file(&run, &sb.join("out/f.bin"), &content("/done/f.bin", 300000));
    run.check(
        sb.files() == ["out/f.bin"],
        &format!("leftovers: {:?}", sb.files()),
    );
}
