//! List formats: plain lists, aria2 input files, apt-get --print-uris.

use crate::util::*;

#[test]
fn plain_list_with_blank_lines_and_comments() {
    let server = Server::start();
    let sb = Sandbox::new();
    let list = format!(
        "# a comment\n\n{}\n   \n# {}\n\t\n{}\n# trailing comment",
        server.url("/p/one.bin?size=11"),
        server.url("/p/commented.bin?size=12"),
        server.url("/p/two.bin?size=13"),
    );
    sb.write("list.txt", list);
    let run = sb.run(&["--json", "-i", "list.txt", "-d", "out"]);
    run.success();
    assert_file(&run, &sb.join("out/one.bin"), &content("/p/one.bin", 11));
    assert_file(&run, &sb.join("out/two.bin"), &content("/p/two.bin", 13));
    run.check(run.json().len() == 2, "two entries, no more");
    run.check(
        server.stats().requests_for("/p/commented.bin") == 0,
        "a commented-out URL was requested",
    );
    run.check(
        sb.files() == ["list.txt", "out/one.bin", "out/two.bin"],
        &format!("unexpected files {:?}", sb.files()),
    );
}

#[test]
fn aria2_input_file() {
    let server = Server::start();
    let sb = Sandbox::new();
    let a = content("/aria/a.bin", 5000);
    let b = content("/aria/b.bin", 6000);
    let c = content("/aria/c.bin", 7000);
    let list = format!(
        "{url_a}\n  out=first.bin\n  checksum=sha-256={sha_a}\n  size=5000\n\
         {url_b}\n\tdir=sub/dir\n\tout=second.bin\n\tchecksum=sha-512={sha_b}\n\
         # a comment between entries\n\
         {url_c}\n  dir=other\n  checksum=sha-1={sha1_c}\n  checksum=md5={md5_c}\n",
        url_a = server.url("/aria/a.bin?size=5000"),
        url_b = server.url("/aria/b.bin?size=6000"),
        url_c = server.url("/aria/c.bin?size=7000"),
        sha_a = sha256(&a),
        sha_b = sha512(&b),
        sha1_c = sha1(&c),
        md5_c = md5(&c),
    );
    sb.write("aria.txt", list);
    let run = sb.run(&["--json", "-i", "aria.txt", "-d", "out"]);
    run.success();
    assert_file(&run, &sb.join("out/first.bin"), &a);
    assert_file(&run, &sb.join("out/sub/dir/second.bin"), &b);
    assert_file(&run, &sb.join("out/other/c.bin"), &c);
    let ja = run.json_for("/aria/a.bin?size=5000");
    run.check(ja["digests"]["sha256"] == sha256(&a), "sha256 reported");
    let jb = run.json_for("/aria/b.bin?size=6000");
    run.check(jb["digests"]["sha512"] == sha512(&b), "sha512 reported");
    let jc = run.json_for("/aria/c.bin?size=7000");
    run.check(jc["digests"]["sha1"] == sha1(&c), "sha1 reported");
    run.check(jc["digests"]["md5"] == md5(&c), "md5 reported");
}

#[test]
fn aria2_checksum_mismatch_in_a_list_fails_that_entry() {
    let server = Server::start();
    let sb = Sandbox::new();
    let good = content("/aria/good.bin", 100);
    let list = format!(
        "{}\n  checksum=sha-256={}\n{}\n  checksum=sha-256={}\n",
        server.url("/aria/good.bin?size=100"),
        sha256(&good),
        server.url("/aria/bad.bin?size=100"),
        sha256(&good),
    );
    sb.write("aria.txt", list);
    let run = sb.run(&["-i", "aria.txt", "-d", "out"]);
    run.failure().stderr_has(&["/aria/bad.bin", "sha256"]);
    assert_file(&run, &sb.join("out/good.bin"), &good);
    assert_absent(&run, &sb.join("out/bad.bin"));
    assert_absent(&run, &sb.join("out/bad.bin.part"));
}

#[test]
fn apt_print_uris() {
    let server = Server::start();
    let sb = Sandbox::new();
    let files = [
        ("/debian/pool/main/a/a_1.0_amd64.deb", 3000u64, "SHA256"),
        ("/debian/pool/main/b/b_2.0_all.deb", 4000, "MD5Sum"),
        ("/debian/pool/main/c/c_3.0_all.deb", 5000, "SHA1"),
        ("/debian/pool/main/d/d_4.0_all.deb", 6000, "SHA512"),
    ];
    let mut list = String::new();
    for (path, size, algo) in files {
        let bytes = content(path, size);
        let digest = match algo {
            "SHA256" => sha256(&bytes),
            "MD5Sum" => md5(&bytes),
            "SHA1" => sha1(&bytes),
            _ => sha512(&bytes),
        };
        let name = path.rsplit('/').next().expect("a name");
        // apt names some files with escapes; a renamed output proves the
        // NAME field is used.
        let name = name.replace('_', "%5f");
        list.push_str(&format!(
            "'{}' {name} {size} {algo}:{digest}\n",
            server.url(&format!("{path}?size={size}"))
        ));
    }
    sb.write("apt.txt", &list);
    let run = sb.run(&["--json", "-i", "apt.txt", "-d", "archives"]);
    run.success();
    run.check(run.json().len() == 4, "four entries");
    for (path, size, _) in files {
        let name = path.rsplit('/').next().expect("a name").replace('_', "%5f");
        assert_file(
            &run,
            &sb.join(format!("archives/{name}")),
            &content(path, size),
        );
    }
}

#[test]
fn apt_line_with_wrong_digest_fails() {
    let server = Server::start();
    let sb = Sandbox::new();
    let path = "/debian/pool/x.deb";
    let wrong = sha256(b"something else");
    let list = format!(
        "'{}' x.deb 700 SHA256:{wrong}\n",
        server.url(&format!("{path}?size=700"))
    );
    sb.write("apt.txt", list);
    let run = sb.run(&["-i", "apt.txt", "-d", "out"]);
    run.failure()
        .stderr_has(&[path, "sha256", &wrong, &sha256(&content(path, 700))]);
    run.check(sb.files() == ["apt.txt"], "nothing downloaded");
}

#[test]
fn malformed_lines_are_reported_and_the_rest_downloads() {
    let server = Server::start();
    let sb = Sandbox::new();
    let ok1 = content("/m/ok1.bin", 100);
    let list = format!(
        "{ok1_url}\n\
         '{bad_size_url}' bad.deb 12x SHA256:{sha}\n\
         {ok2_url}\n\
         {bad_opt_url}\n  this-is-not-an-option\n\
         {ok3_url}\n  out=third.bin\n",
        ok1_url = server.url("/m/ok1.bin?size=100"),
        bad_size_url = server.url("/m/badsize.bin?size=12"),
        sha = sha256(&ok1),
        ok2_url = server.url("/m/ok2.bin?size=200"),
        bad_opt_url = server.url("/m/badopt.bin?size=13"),
        ok3_url = server.url("/m/ok3.bin?size=300"),
    );
    sb.write("mixed.list", list);
    let run = sb.run(&["--json", "-i", "mixed.list", "-d", "out"]);
    run.failure();
    // The file name and line number of each bad line.
    run.stderr_has(&["mixed.list:2", "mixed.list:5"]);
    assert_file(&run, &sb.join("out/ok1.bin"), &ok1);
    assert_file(&run, &sb.join("out/ok2.bin"), &content("/m/ok2.bin", 200));
    assert_file(&run, &sb.join("out/third.bin"), &content("/m/ok3.bin", 300));
    assert_absent(&run, &sb.join("out/bad.deb"));
    assert_absent(&run, &sb.join("out/badopt.bin"));
    let json = run.json();
    let failed = json.iter().filter(|j| j["status"] == "failed").count();
    let ok = json.iter().filter(|j| j["status"] == "ok").count();
    run.check(failed == 2 && ok == 3, "three ok and two failed entries");
    run.check(
        server.stats().requests_for("/m/badopt.bin") == 0
            && server.stats().requests_for("/m/badsize.bin") == 0,
        "invalid entries are not downloaded",
    );
}

#[test]
fn missing_list_file_is_reported() {
    let server = Server::start();
    let sb = Sandbox::new();
    let run = sb.run(&[
        "-i",
        "no-such-list.txt",
        "-d",
        "out",
        &server.url("/ok.bin?size=5"),
    ]);
    run.failure().stderr_has(&["no-such-list.txt"]);
    assert_file(&run, &sb.join("out/ok.bin"), &content("/ok.bin", 5));
}

#[test]
fn a_directory_given_as_a_list_is_named_as_one() {
    let server = Server::start();
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.join("lists")).unwrap();
    let run = sb.run(&["-i", "lists", "-d", "out", &server.url("/ok.bin?size=5")]);
    run.failure()
        .stderr_has(&["lists: cannot read the list: it is a directory"]);
    run.check(
        !run.stderr.contains("lists:1"),
        "no line number for a directory",
    );
    assert_file(&run, &sb.join("out/ok.bin"), &content("/ok.bin", 5));
}

#[test]
fn list_names_cannot_escape_the_output_directory() {
    let server = Server::start();
    let sb = Sandbox::new();
    let list = format!(
        "{}\n  out=../escape.bin\n{}\n  dir=../../up\n{}\n  out=/abs/inside.bin\n",
        server.url("/e/1.bin?size=10"),
        server.url("/e/2.bin?size=10"),
        server.url("/e/3.bin?size=10"),
    );
    sb.write("l.txt", list);
    let run = sb.run(&["-i", "l.txt", "-d", "a/out"]);
    // An absolute name is refused, naming the option, not moved under -d
    // (where it would not be the file it names).
    run.failure()
        .stderr_has(&["out=`/abs/inside.bin` is absolute"]);
    let files = sb.files();
    run.check(files == ["l.txt"], &format!("unexpected files {files:?}"));
    run.check(server.stats().requests == 0, "no entry was fetched");
}

/// A Metalink document for `path` of `len` bytes served at `urls` (with
/// priorities and locations), with its SHA-256 and piece hashes.
fn metalink(name: &str, path: &str, len: u64, piece: u64, urls: &[(String, u32, &str)]) -> String {
    let bytes = content(path, len);
    let pieces: String = bytes
        .chunks(piece as usize)
        .map(|c| format!("      <hash>{}</hash>\n", sha256(c)))
        .collect();
    let urls: String = urls
        .iter()
        .map(|(url, priority, location)| {
            let url = url.replace('&', "&amp;");
            format!("    <url priority=\"{priority}\" location=\"{location}\">{url}</url>\n")
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">\n\
         <file name=\"{name}\">\n    <size>{len}</size>\n\
         <hash type=\"sha-256\">{}</hash>\n\
         <pieces length=\"{piece}\" type=\"sha-256\">\n{pieces}    </pieces>\n{urls}\
         </file>\n</metalink>\n",
        sha256(&bytes)
    )
}

#[test]
fn metalink_mirrors_by_priority_with_the_failing_one_dropped() {
    let broken = Server::start();
    let good = Server::start();
    let sb = Sandbox::new();
    let len = 3_000_000;
    let doc = metalink(
        "iso/image.iso",
        "/ml/image.iso",
        len,
        1 << 18,
        &[
            (good.url(&format!("/ml/image.iso?size={len}")), 2, "fr"),
            (broken.url("/ml/image.iso?status=404"), 1, "de"),
        ],
    );
    sb.write("image.meta4", &doc);
    let run = sb.run(&["--json", "-M", "image.meta4", "-d", "out"]);
    run.success();
    assert_file(
        &run,
        &sb.join("out/iso/image.iso"),
        &content("/ml/image.iso", len),
    );
    run.check(
        broken.stats().requests == 1,
        "priority 1 was tried first, once",
    );
    // A .meta4 given to -i is read as Metalink too, and --metalink-location
    // puts the French mirror first: the broken one is never asked.
    let sb = Sandbox::new();
    sb.write("image.meta4", &doc);
    let before = broken.stats().requests;
    let run = sb.run(&[
        "-i",
        "image.meta4",
        "--metalink-location",
        "fr",
        "-d",
        "out",
    ]);
    run.success();
    assert_file(
        &run,
        &sb.join("out/iso/image.iso"),
        &content("/ml/image.iso", len),
    );
    run.check(
        broken.stats().requests == before,
        "the preferred location went first",
    );
}

#[test]
fn failures_found_by_the_engine_name_the_list_line() {
    let server = Server::start();
    let sb = Sandbox::new();
    let a = server.url("/l/a?size=10");
    let b = server.url("/l/b?size=10");
    sb.write(
        "list",
        format!("{a}\n  out=same\n# a comment\n{b}\n  out=same\nftp://example.invalid/x\n"),
    );
    let run = sb.run(&["-i", "list", "-d", "out"]);
    run.failure();
    run.stderr_has(&[
        &format!("failed: list:4: {b}: "),
        "is already the destination of another download in this run",
        "failed: list:6: ftp://example.invalid/x: unsupported URL scheme `ftp`",
    ]);
    assert_file(&run, &sb.join("out/same"), &content("/l/a", 10));
}

#[test]
fn messages_about_a_mirror_name_the_mirror() {
    let first = Server::start();
    let mirror = Server::start();
    let sb = Sandbox::new();
    let primary = first.url("/m/gone.bin?status=404");
    let busy = mirror.url("/m/busy.bin?status=503");
    sb.write("list", format!("{primary}\t{busy}\n  out=x.bin\n"));
    let run = sb.run(&[
        "--retries",
        "1",
        "--retry-wait",
        "0",
        "-i",
        "list",
        "-d",
        "out",
    ]);
    run.failure();
    // The retry after the mirror's 503 says it was the mirror's, and the
    // failure names the download by its listed URL and the mirror that
    // failed it.
    // The primary's 404 moves to the mirror at once, costing no retry;
    // the mirror's 503 is the one retry `--retries 1` allows.
    run.stderr_has(&[
        &format!("trying again at once for {primary}: server answered HTTP 404"),
        &format!("retry 1 of 1 for {primary} in 0.0 s: {busy}: server answered HTTP 503"),
        &format!("failed: list:1: {primary}: {busy}: server answered HTTP 503"),
    ]);
}

#[test]
fn metalink_piece_hashes_catch_a_corrupt_mirror() {
    let corrupt = Server::start();
    let good = Server::start();
    let sb = Sandbox::new();
    let len = 2_000_000;
    let doc = metalink(
        "p.bin",
        "/ml/p.bin",
        len,
        1 << 18,
        &[
            (
                corrupt.url(&format!("/ml/p.bin?size={len}&corrupt=700000")),
                1,
                "de",
            ),
            (good.url(&format!("/ml/p.bin?size={len}")), 2, "de"),
        ],
    );
    sb.write("p.metalink", &doc);
    let run = sb.run(&["--json", "-i", "p.metalink", "-d", "out"]);
    run.success();
    assert_file(&run, &sb.join("out/p.bin"), &content("/ml/p.bin", len));
    run.check(
        good.stats().requests >= 1,
        "the good mirror finished the file",
    );
}

#[test]
fn an_unsafe_metalink_name_fails_that_file_only() {
    let server = Server::start();
    let sb = Sandbox::new();
    let mut doc = metalink(
        "../escape.bin",
        "/ml/e.bin",
        10,
        10,
        &[(server.url("/ml/e.bin?size=10"), 1, "de")],
    );
    doc = doc.replace(
        "</metalink>",
        &format!(
            "<file name=\"ok.bin\"><size>12</size><url>{}</url></file>\n</metalink>",
            server.url("/ml/ok.bin?size=12")
        ),
    );
    sb.write("two.meta4", &doc);
    let run = sb.run(&["--json", "-M", "two.meta4", "-d", "out"]);
    run.failure().stderr_has(&["two.meta4", "escape.bin"]);
    assert_file(&run, &sb.join("out/ok.bin"), &content("/ml/ok.bin", 12));
    run.check(
        !sb.exists("escape.bin"),
        "nothing written outside the output directory",
    );
}

#[test]
fn a_chosen_name_longer_than_a_file_system_takes_is_refused_not_shortened() {
    // Shortened, two long names would be one file: the second run once
    // replaced the first one's output.
    let server = Server::start();
    let sb = Sandbox::new();
    let long = |tail: &str| format!("{}{tail}", "b".repeat(296));
    let url = server.url("/long/a.bin?size=10");
    let run = sb.run(&["-d", "out", "-o", &long("1.txt"), &url]);
    run.failure()
        .stderr_has(&["the file name is 301 bytes long; file systems take at most 255"]);
    sb.write(
        "list.txt",
        format!("{url}\n  out={}\n{url}\n  out=short.bin\n", long("2.txt")),
    );
    let run = sb.run(&["-d", "out", "-i", "list.txt"]);
    run.failure().stderr_has(&["301 bytes long"]);
    run.check(
        sb.files() == ["list.txt", "out/short.bin"],
        &format!("only the short name was written: {:?}", sb.files()),
    );
}
