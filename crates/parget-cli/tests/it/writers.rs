//! One destination, one writer, nothing written outside it: two processes
//! on one name (one wins, the other fails or waits, never a mix), links
//! planted at the helper files, names that are another entry's helper
//! files, `-o` outside `--dir`, and names up to 255 bytes.

use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use crate::util::{
    assert_absent, assert_file, content, send_signal, sha256, until_connections_close, wait_until,
    Run, Sandbox, Server, Spawned,
};

/// The bytes of `path` served with `?version=V`.
fn version(path: &str, v: &str, len: u64) -> Vec<u8> {
    content(&parget_testbed::versioned_path(path, v), len)
}

/// Starts two runs at once on `out/f.bin`, one for each version of
/// `path`; returns them as they ended.
fn race(server: &Server, sb: &Sandbox, path: &str, len: u64, extra: &[&str]) -> [Run; 2] {
    let runs = ["1", "2"].map(|v| {
        let url = server.url(&format!("{path}?size={len}&version={v}&rate=8000000"));
        let mut args = vec!["-s", "4", "-k", "1M", "-d", "out", "-o", "f.bin"];
        args.extend_from_slice(extra);
        args.push(&url);
        sb.command(&args)
    });
    let started = Instant::now();
    let [a, b] = runs.map(Spawned::spawn);
    [a.wait(started), b.wait(started)]
}

/// Checks a race: one run succeeded and the file is all of its version,
/// the other failed naming the lock (or, when it started after the first
/// had finished, the existing output).
fn one_wins(runs: &[Run; 2], sb: &Sandbox, path: &str, len: u64) {
    let winners: Vec<usize> = (0..2).filter(|&i| runs[i].code() == Some(0)).collect();
    let [a, b] = runs;
    assert_eq!(winners.len(), 1, "exactly one run succeeds{a}{b}");
    let (won, lost) = (winners[0], 1 - winners[0]);
    let loser = &runs[lost];
    loser.failure();
    loser.check(
        loser.stderr.contains("locked") || loser.stderr.contains("exists"),
        "the other run says why it failed",
    );
    let v = ["1", "2"][won];
    assert_file(&runs[won], &sb.join("out/f.bin"), &version(path, v, len));
    runs[won].check(
        sb.files() == ["out/f.bin"],
        &format!("leftovers: {:?}", sb.files()),
    );
}

#[test]
fn two_processes_on_one_name_never_mix_two_versions() {
    let server = Server::start();
    for round in 0..3 {
        let sb = Sandbox::new();
        let path = format!("/race/big{round}.bin");
        let len = 8 << 20;
        let runs = race(&server, &sb, &path, len, &[]);
        one_wins(&runs, &sb, &path, len);
    }
    // Small files take the fast path: one open, one lock, one write.
    for round in 0..10 {
        let sb = Sandbox::new();
        let path = format!("/race/small{round}.bin");
        let runs = race(&server, &sb, &path, 20_000, &[]);
        one_wins(&runs, &sb, &path, 20_000);
    }
}

#[test]
fn wait_for_lock_waits_for_the_other_writer_then_goes_on() {
    let server = Server::start();
    let sb = Sandbox::new();
    let path = "/wait/f.bin";
    let len = 8u64 << 20;
    let first = Spawned::spawn(sb.command(&[
        "-d",
        "out",
        "-o",
        "f.bin",
        &server.url(&format!("{path}?size={len}&version=1&rate=3000000")),
    ]));
    assert!(
        wait_until(Duration::from_secs(10), || sb.exists("out/f.bin.part")),
        "the first run claimed the file"
    );
    // The second is given the digest of its version: the first run's
    // output is then known wrong, and replaced.
    let second_bytes = version(path, "2", len);
    let checksum = format!("sha256={}", sha256(&second_bytes));
    let second = Spawned::spawn(sb.command(&[
        "--wait-for-lock",
        "--checksum",
        &checksum,
        "-d",
        "out",
        "-o",
        "f.bin",
        &server.url(&format!("{path}?size={len}&version=2")),
    ]));
    std::thread::sleep(Duration::from_millis(500));
    let asked = server
        .requests_for(path)
        .iter()
        .filter(|r| r.target.contains("version=2"))
        .count();
    assert_eq!(asked, 0, "the waiting run sent no request");
    let started = Instant::now();
    let first = first.wait(started);
    first.success();
    let second = second.wait(started);
    second.success();
    assert_file(&second, &sb.join("out/f.bin"), &second_bytes);
    second.check(
        sb.files() == ["out/f.bin"],
        &format!("leftovers: {:?}", sb.files()),
    );
}

/// A file the test plants a link to; it must never change.
fn victim(sb: &Sandbox) -> std::path::PathBuf {
    sb.write("victim.txt", b"do not touch")
}

#[test]
fn a_link_planted_at_the_part_file_is_refused_and_its_target_untouched() {
    let server = Server::start();
    for (size, extra) in [(1000u64, None), (8 << 20, None), (1000, Some("-c"))] {
        let sb = Sandbox::new();
        let target = victim(&sb);
        std::fs::create_dir_all(sb.join("out")).unwrap();
        std::os::unix::fs::symlink(&target, sb.join("out/f.bin.part")).unwrap();
        let url = server.url(&format!("/link/f.bin?size={size}"));
        let mut args = vec!["-s", "4", "-k", "1M", "-d", "out", "-o", "f.bin"];
        args.extend(extra);
        args.push(&url);
        let run = sb.run(&args);
        run.failure()
            .stderr_has(&["out/f.bin.part", "symbolic link"]);
        run.check(
            std::fs::read(&target).unwrap() == b"do not touch",
            "the link's target is untouched",
        );
        run.check(
            sb.join("out/f.bin.part").is_symlink(),
            "the link is left as it was",
        );
        assert_absent(&run, &sb.join("out/f.bin"));
    }
}

#[test]
fn a_link_planted_at_the_destination_is_never_taken_for_the_download() {
    // Its target lives outside the output directory; only a digest could
    // show it holds the download. `-c` once reported it "skipped".
    let server = Server::start();
    let url = server.url("/dlink/f.bin?size=1000");
    for extra in [&[][..], &["-c"], &["-c", "--allow-overwrite"]] {
        let sb = Sandbox::new();
        let target = victim(&sb);
        std::fs::create_dir_all(sb.join("out")).unwrap();
        std::os::unix::fs::symlink(&target, sb.join("out/f.bin")).unwrap();
        let mut args = vec!["--json", "-d", "out"];
        args.extend(extra);
        args.push(&url);
        let run = sb.run(&args);
        run.check(
            std::fs::read(&target).unwrap() == b"do not touch",
            "the link's target is untouched",
        );
        if extra.contains(&"--allow-overwrite") {
            run.success();
            assert_file(&run, &sb.join("out/f.bin"), &content("/dlink/f.bin", 1000));
            run.check(
                !sb.join("out/f.bin").is_symlink(),
                "the link itself was replaced",
            );
        } else {
            run.failure()
                .stderr_has(&["out/f.bin", "is a symbolic link"]);
            run.check(run.json_one()["status"] == "failed", "not skipped");
            run.check(
                sb.join("out/f.bin").is_symlink(),
                "the link is left as it was",
            );
        }
    }
}

#[test]
fn a_directory_link_planted_inside_the_output_directory_is_refused() {
    let server = Server::start();
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.join("elsewhere")).unwrap();
    std::fs::create_dir_all(sb.join("out")).unwrap();
    std::os::unix::fs::symlink(sb.join("elsewhere"), sb.join("out/sub")).unwrap();
    let url = server.url("/link/t.bin?size=1000");
    // A list's dir= meets the same rule as -o.
    sb.write("list.txt", format!("{url}\n  dir=sub\n").as_bytes());
    for args in [
        vec!["-d", "out", "-o", "sub/t.bin", &url],
        vec!["-d", "out", "-i", "list.txt"],
    ] {
        let run = sb.run(&args);
        run.failure().stderr_has(&["out/sub", "symbolic link"]);
        run.check(
            std::fs::read_dir(sb.join("elsewhere"))
                .unwrap()
                .next()
                .is_none(),
            "nothing was written through the link",
        );
    }
}

#[test]
fn a_link_planted_at_the_control_file_is_refused_and_its_target_untouched() {
    let server = Server::start();
    let sb = Sandbox::new();
    let target = victim(&sb);
    std::fs::create_dir_all(sb.join("out")).unwrap();
    std::os::unix::fs::symlink(&target, sb.join("out/f.bin.part.parget")).unwrap();
    // Large enough for a part file with a control file.
    let url = server.url("/link/c.bin?size=8388608");
    let run = sb.run(&["-s", "4", "-k", "1M", "-d", "out", "-o", "f.bin", &url]);
    run.failure()
        .stderr_has(&["out/f.bin.part.parget", "symbolic link"]);
    run.check(
        std::fs::read(&target).unwrap() == b"do not touch",
        "the link's target is untouched",
    );
    run.check(
        sb.join("out/f.bin.part.parget").is_symlink(),
        "the link is left as it was",
    );
    // And with -c, beside an earlier run's part file.
    sb.write("out/f.bin.part", b"earlier bytes");
    let run = sb.run(&["-c", "-d", "out", "-o", "f.bin", &url]);
    run.failure()
        .stderr_has(&["out/f.bin.part.parget", "symbolic link"]);
    run.check(
        std::fs::read(&target).unwrap() == b"do not touch",
        "the link's target is untouched",
    );
}

#[test]
fn an_entry_cannot_be_another_entrys_helper_file() {
    let server = Server::start();
    let sb = Sandbox::new();
    let size = 8u64 << 20;
    let list = format!(
        "{big}\n  out=x\n{a}\n  out=x.part\n{b}\n  out=x.part.parget\n{c}\n  out=y.part.parget.tmp\n",
        big = server.url(&format!("/help/x?size={size}")),
        a = server.url("/help/a?size=100"),
        b = server.url("/help/b?size=100"),
        c = server.url("/help/c?size=100"),
    );
    sb.write("list.txt", list);
    let run = sb.run(&["-s", "4", "-k", "1M", "-d", "out", "-i", "list.txt"]);
    run.failure().stderr_has(&["x.part", "reserved"]);
    assert_file(&run, &sb.join("out/x"), &content("/help/x", size));
    run.check(
        sb.files() == ["list.txt", "out/x"],
        &format!("only x was written: {:?}", sb.files()),
    );
    run.check(
        run.stderr.matches("reserved").count() == 3,
        "each helper name is refused",
    );
}

#[test]
fn out_cannot_leave_the_output_directory() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/out/f?size=100");
    let absolute = sb.join("abs.bin");
    for out in ["../x", "a/../../x", absolute.to_str().unwrap()] {
        let run = sb.run(&["-d", "out", "-o", out, &url]);
        run.assert_code(2).stderr_has(&["-o/--out", out]);
        assert_absent(&run, &sb.join("x"));
        assert_absent(&run, &absolute);
    }
    assert_eq!(server.stats().requests, 0, "nothing was fetched");
    // Inside it, -o may name a subdirectory.
    let run = sb.run(&["-d", "out", "-o", "sub/f", &url]);
    run.success();
    assert_file(&run, &sb.join("out/sub/f"), &content("/out/f", 100));
}

#[test]
fn names_up_to_255_bytes_work_helper_files_included() {
    let server = Server::start();
    let len = 8u64 << 20;
    for name_len in [240usize, 250, 255] {
        let sb = Sandbox::new();
        let name = format!("{}.bin", "n".repeat(name_len - 4));
        let path = format!("/long/{name_len}.bin");
        let url = server.url(&format!("{path}?size={len}&rate=1000000"));
        let args = ["-s", "4", "-k", "1M", "-d", "out", "-o", &name, &url];
        // Stopped half-way, so the helper files exist...
        let spawned = Spawned::spawn(sb.command(&args));
        let helpers = || {
            std::fs::read_dir(sb.join("out"))
                .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        assert!(
            wait_until(Duration::from_secs(10), || helpers().len() == 2),
            "a part file and a control file appear"
        );
        std::thread::sleep(Duration::from_millis(300));
        send_signal(&spawned, "TERM");
        let stopped = spawned.wait(Instant::now());
        stopped.assert_code(143);
        let mut names = helpers();
        names.sort();
        stopped.check(names.len() == 2, &format!("two helper files: {names:?}"));
        for helper in &names {
            stopped.check(
                helper.len() <= 255,
                &format!("{} bytes: {helper:?}", helper.len()),
            );
        }
        let (part, control) = (names[0].as_bytes(), names[1].as_bytes());
        stopped.check(
            part.ends_with(b".part")
                && control.ends_with(b".part.parget")
                && control.starts_with(part),
            &format!("one base, two suffixes: {names:?}"),
        );
        // ...and a resume finds them.
        until_connections_close(&server);
        server.reset_stats();
        let mut resumed = args.to_vec();
        resumed.insert(0, "-c");
        let run = sb.run(&resumed);
        run.success();
        assert_file(&run, &sb.join("out").join(&name), &content(&path, len));
        until_connections_close(&server);
        let served = server.stats().body_bytes_for(&path);
        run.check(
            served < len,
            &format!("the resume continued the part file: {served} bytes fetched"),
        );
        run.check(
            sb.files() == [format!("out/{name}")],
            &format!("leftovers: {:?}", sb.files()),
        );
    }
    // A small file of a 255-byte name, by the fast path.
    let sb = Sandbox::new();
    let name = "s".repeat(255);
    let run = sb.run(&["-d", "out", "-o", &name, &server.url("/long/s?size=100")]);
    run.success();
    assert_file(&run, &sb.join("out").join(&name), &content("/long/s", 100));
}
