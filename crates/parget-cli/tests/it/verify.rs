//! Verification: digests, sizes, error pages, broken bodies, hostile headers.

use crate::util::*;

#[test]
fn right_checksum() {
    let server = Server::start();
    let sb = Sandbox::new();
    let bytes = content("/v/good.bin", 250_000);
    let run = sb.run(&[
        "--json",
        "-d",
        "out",
        "--checksum",
        &format!("sha256={}", sha256(&bytes)),
        "--checksum",
        &format!("md5={}", md5(&bytes)),
        &server.url("/v/good.bin?size=250000"),
    ]);
    run.success();
    assert_file(&run, &sb.join("out/good.bin"), &bytes);
    let json = run.json_one();
    run.check(json["status"] == "ok", "status ok");
    run.check(
        json["digests"]["sha256"] == sha256(&bytes),
        "sha256 in JSON",
    );
    run.check(json["digests"]["md5"] == md5(&bytes), "md5 in JSON");
    run.check(
        sb.files() == ["out/good.bin"],
        "no leftover .part or control file",
    );
}

#[test]
fn checksum_spellings_and_case() {
    let server = Server::start();
    let sb = Sandbox::new();
    let bytes = content("/v/case.bin", 1000);
    let run = sb.run(&[
        "-d",
        "out",
        "--checksum",
        &format!("SHA-256={}", sha256(&bytes).to_uppercase()),
        &server.url("/v/case.bin?size=1000"),
    ]);
    run.success();
    assert_file(&run, &sb.join("out/case.bin"), &bytes);
}

#[test]
fn wrong_checksum() {
    let server = Server::start();
    let sb = Sandbox::new();
    let bytes = content("/v/bad.bin", 300_000);
    let wrong = sha256(b"not the content");
    let url = server.url("/v/bad.bin?size=300000");
    let run = sb.run(&[
        "--json",
        "-d",
        "out",
        "--checksum",
        &format!("sha256={wrong}"),
        &url,
    ]);
    run.failure()
        .stderr_has(&[&url, "sha256", &wrong, &sha256(&bytes)]);
    assert_absent(&run, &sb.join("out/bad.bin"));
    assert_absent(&run, &sb.join("out/bad.bin.part"));
    run.check(
        sb.files().is_empty(),
        &format!("files left behind: {:?}", sb.files()),
    );
    let json = run.json_one();
    run.check(json["status"] == "failed", "status failed");
    run.check(
        json["error"].as_str().is_some_and(|e| e.contains(&wrong)),
        "the JSON error names the expected digest",
    );
}

/// Above the in-memory threshold the bytes go through NAME.part: it and its
/// control file must be removed too.
#[test]
fn wrong_checksum_of_a_large_file() {
    let server = Server::start();
    let sb = Sandbox::new();
    let bytes = content("/v/large.bin", 3_000_000);
    let wrong = sha256(b"not the content");
    let url = server.url("/v/large.bin?size=3000000");
    let run = sb.run(&["-d", "out", "--checksum", &format!("sha256={wrong}"), &url]);
    run.failure()
        .stderr_has(&[&url, "sha256", &wrong, &sha256(&bytes)]);
    run.check(
        sb.files().is_empty(),
        &format!("files left behind: {:?}", sb.files()),
    );
}

#[test]
fn size_mismatch_in_a_list() {
    let server = Server::start();
    let sb = Sandbox::new();
    let list = format!(
        "{}\n  size=5001\n{}\n  size=4999\n{}\n  size=5000\n",
        server.url("/v/big.bin?size=5000"),
        server.url("/v/small.bin?size=5000"),
        server.url("/v/right.bin?size=5000"),
    );
    sb.write("l.txt", list);
    let run = sb.run(&["--json", "-i", "l.txt", "-d", "out"]);
    run.failure();
    run.stderr_has(&["/v/big.bin", "/v/small.bin"]);
    assert_absent(&run, &sb.join("out/big.bin"));
    assert_absent(&run, &sb.join("out/small.bin"));
    assert_file(
        &run,
        &sb.join("out/right.bin"),
        &content("/v/right.bin", 5000),
    );
    run.check(
        sb.files() == ["l.txt", "out/right.bin"],
        &format!("files left behind: {:?}", sb.files()),
    );
}

#[test]
fn error_status_never_writes_the_error_page() {
    let server = Server::start();
    let sb = Sandbox::new();
    for code in ["404", "403", "410"] {
        let url = server.url(&format!("/v/missing{code}.bin?status={code}"));
        let run = sb.run(&["--json", "-d", "out", &url]);
        run.failure().stderr_has(&[&url, code]);
        let json = run.json_one();
        run.check(json["attempts"] == 1, "a client error is not retried");
    }
    let run = sb.run(&[
        "-d",
        "out",
        &server.url("/v/x?status=500"),
        "--retries",
        "1",
    ]);
    run.failure().stderr_has(&["500"]);
    let files = sb.files();
    assert!(files.is_empty(), "error pages were written: {files:?}");
}

#[test]
fn body_truncated_forever_fails() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/v/trunc.bin?size=100000&truncate_after=1000&fault_count=all");
    let run = sb.run(&["--json", "--retries", "2", "-d", "out", &url]);
    run.failure().stderr_has(&["/v/trunc.bin"]);
    assert_absent(&run, &sb.join("out/trunc.bin"));
    let json = run.json_one();
    run.check(json["attempts"] == 3, "two retries after the first attempt");
}

#[test]
fn reset_forever_fails() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/v/reset.bin?size=100000&reset_after=500&fault_count=all");
    let run = sb.run(&["--retries", "1", "-d", "out", &url]);
    run.failure().stderr_has(&["/v/reset.bin"]);
    assert_absent(&run, &sb.join("out/reset.bin"));
}

#[test]
fn hostile_content_lengths_fail_cleanly() {
    let server = Server::start();
    let sb = Sandbox::new();
    for (i, spec) in ["99999999999999999999999", "-5", "abc", "1000,2000"]
        .into_iter()
        .enumerate()
    {
        let url = server.url(&format!(
            "/v/cl{i}.bin?size=1000&content_length={spec}&fault_count=all"
        ));
        let run = sb.run(&["--retries", "1", "-d", "out", &url]);
        run.failure().stderr_has(&[&format!("/v/cl{i}.bin")]);
        assert_absent(&run, &sb.join(format!("out/cl{i}.bin")));
    }
}

#[test]
fn declared_length_longer_than_the_body_fails() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/v/extra.bin?size=1000&extra_length=10&fault_count=all");
    let run = sb.run(&["--retries", "1", "-d", "out", &url]);
    run.failure().stderr_has(&["/v/extra.bin"]);
    assert_absent(&run, &sb.join("out/extra.bin"));
}

/// Every attempt is reset after 1.3 MB and resumed requests get a 206 for
/// the wrong range: the engine must refuse to splice it.
#[test]
fn a_shifted_range_answer_is_not_spliced() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url =
        server.url("/v/shift.bin?size=3000000&reset_after=1300000&range_offset=7&fault_count=all");
    let run = sb.run(&["--retries", "2", "-d", "out", &url]);
    run.failure().stderr_has(&["/v/shift.bin", "Content-Range"]);
    assert_absent(&run, &sb.join("out/shift.bin"));
    // What was kept is the true prefix.
    if let Some(part) = sb.read("out/shift.bin.part") {
        run.check(
            part == content("/v/shift.bin", 3_000_000)[..part.len()],
            "the .part holds foreign bytes",
        );
    }
}

/// A resumed request answered with a full 200: start over, right bytes.
#[test]
fn a_range_ignored_on_resume_starts_over() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url =
        server.url("/v/ign.bin?size=3000000&range_ignore=1&reset_after=1300000&fault_count=2");
    let run = sb.run(&["--json", "--retries", "3", "-d", "out", &url]);
    run.success();
    assert_file(
        &run,
        &sb.join("out/ign.bin"),
        &content("/v/ign.bin", 3_000_000),
    );
    run.check(run.json_one()["attempts"] == 3, "3 attempts");
    run.check(sb.files() == ["out/ign.bin"], "no leftovers");
}
