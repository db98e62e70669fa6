//! Real networks from the command line: credentials (flags, URL, netrc,
//! lists), no leaks in any output, TLS roots and client certificates,
//! proxies from flags and the environment, rate limits, cookies,
//! server-chosen names, redirects, and values checked at the door.

use std::process::Command;
use std::time::{Duration, Instant};

use parget_testbed::certs::{Ca, Validity};
use parget_testbed::external::Tinyproxy;
use parget_testbed::ServerConfig;

use crate::util::*;

/// `text` percent-encoded for a query value.
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A TLS server whose CA is written to `name` in the sandbox.
fn tls_server(sb: &Sandbox, name: &str) -> (Server, std::path::PathBuf) {
    let server = Server::with(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    });
    let ca = sb.write(name, server.ca_cert_pem().unwrap());
    (server, ca)
}

#[test]
fn values_that_cannot_work_are_usage_errors_before_any_request() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = server.url("/door.bin?size=10");
    sb.write("bad.netrc", "machine h login\n");
    sb.write("bad.cookies", "h\tMAYBE\t/\tFALSE\t0\tn\tv\n");
    sb.write("notpem.crt", "not a certificate");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--timeout", "0"], "--timeout"),
        (vec!["--connect-timeout", "0"], "--connect-timeout"),
        (
            vec!["-U", "agent\r\nX-Injected: 1"],
            "-U/--user-agent holds a line break",
        ),
        (vec!["-H", "X-A: 1\r\nX-B: 2"], "-H/--header"),
        (vec!["-H", "no colon here"], "-H/--header"),
        (vec!["-H", "Content-Length: 5"], "is parget's to send"),
        (vec!["--proxy", "socks4://p:1080"], "--proxy"),
        (vec!["--proxy", "http://u:s3cret@p:99999"], "--proxy"),
        (
            vec!["--netrc-file", "missing.netrc"],
            "--netrc-file: cannot read",
        ),
        (vec!["--netrc-file", "bad.netrc"], "bad.netrc:1"),
        (
            vec!["--load-cookies", "missing.txt"],
            "--load-cookies: cannot read",
        ),
        (vec!["--load-cookies", "bad.cookies"], "bad.cookies:1"),
        (
            vec!["--ca-certificate", "missing.pem"],
            "--ca-certificate: cannot read",
        ),
        (vec!["--ca-certificate", "notpem.crt"], "root certificate"),
        (
            vec!["--certificate", "missing.pem"],
            "--certificate: cannot read",
        ),
        (vec!["--certificate", "notpem.crt"], "client certificate"),
        (vec!["--private-key", "k.pem"], "--certificate"),
        (vec!["-u", "a:b", "--http-user", "c"], "use one"),
        (
            vec!["--max-requests-per-second", "0"],
            "--max-requests-per-second",
        ),
    ];
    for (flags, says) in cases {
        let mut args = flags.clone();
        args.push(&url);
        let run = sb.run(&args);
        run.assert_code(2).stderr_has(&[says]);
        run.check(
            !run.stderr.contains("s3cret"),
            "the proxy password is hidden",
        );
    }
    // A broken ~/.netrc is named too, with the way around it.
    sb.write(".netrc", "machine\n");
    sb.run(&[&url])
        .assert_code(2)
        .stderr_has(&[".netrc:1", "--no-netrc"]);
    sb.run(&["--no-netrc", "-d", "out", &url]).success();
    std::fs::remove_file(sb.join(".netrc")).unwrap();
    // An SSL_CERT_FILE that cannot be read.
    let mut cmd = sb.command(&["-d", "out2", &url]);
    cmd.env("SSL_CERT_FILE", sb.join("missing-bundle.pem"));
    let run = Spawned::spawn(cmd).wait(Instant::now());
    run.assert_code(2).stderr_has(&["SSL_CERT_FILE"]);
    assert_eq!(
        server.stats().requests_for("/door.bin"),
        1,
        "only the --no-netrc run reached the server"
    );
}

#[test]
fn credentials_from_flags_urls_netrc_and_lists() {
    let server = Server::start();
    let sb = Sandbox::new();
    let host = server.addr().ip().to_string();
    let gated = |name: &str| server.url(&format!("/{name}.bin?size=50&auth=alice%3As3cr%3At"));
    let with_url = format!(
        "http://alice:s3cr%3At@{}/url.bin?size=50&auth=alice%3As3cr%3At",
        server.addr()
    );
    sb.run(&["-d", "out", "-u", "alice:s3cr:t", &gated("user")])
        .success();
    sb.run(&[
        "-d",
        "out",
        "--http-user",
        "alice",
        "--http-passwd",
        "s3cr:t",
        &gated("aria2"),
    ])
    .success();
    sb.run(&[
        "-d",
        "out",
        "-H",
        "Authorization: Basic YWxpY2U6czNjcjp0",
        &gated("header"),
    ])
    .success();
    sb.run(&["-d", "out", &with_url]).success();
    sb.write(
        "other.netrc",
        format!("machine {host} login alice password s3cr:t\n"),
    );
    sb.run(&[
        "-d",
        "out",
        "--netrc-file",
        "other.netrc",
        &gated("netrcfile"),
    ])
    .success();
    // ~/.netrc, found through $HOME (the sandbox), and -u USER taking its
    // password from there.
    sb.write(
        ".netrc",
        format!("machine {host}\n  login alice\n  password s3cr:t\n"),
    );
    sb.run(&["-d", "out", &gated("home")]).success();
    sb.run(&["-d", "out", "-u", "alice", &gated("useronly")])
        .success();
    sb.run(&["-d", "out", "--no-netrc", &gated("nonetrc")])
        .failure();
    std::fs::remove_file(sb.join(".netrc")).unwrap();
    // A list: per-entry credentials and headers.
    let list = format!(
        "{}\n  http-user=alice\n  http-passwd=s3cr:t\n  out=list1.bin\n\
         {}\n  header=Authorization: Bearer tok-9\n  out=list2.bin\n",
        gated("list1"),
        server.url("/list2.bin?size=50&bearer=tok-9")
    );
    sb.write("list.txt", list);
    sb.run(&["-d", "out", "-i", "list.txt"]).success();
    for name in [
        "user",
        "aria2",
        "header",
        "url",
        "netrcfile",
        "home",
        "useronly",
        "list1",
        "list2",
    ] {
        assert_eq!(
            sb.read(&format!("out/{name}.bin")),
            Some(content(&format!("/{name}.bin"), 50)),
            "{name}"
        );
    }
}

#[test]
fn passwords_are_never_printed() {
    let server = Server::start();
    let sb = Sandbox::new();
    let url = format!(
        "http://user:secret@{}/missing.bin?fail=404&fail_count=all",
        server.addr()
    );
    let retried = format!(
        "http://user:secret@{}/flaky.bin?size=10&fail=503&fail_count=1",
        server.addr()
    );
    let list = format!("{retried}\nnot a url with http://u:secret@h/\n");
    sb.write("list.txt", &list);
    let run = sb.run(&["--json", "-d", "out", "-i", "list.txt", &url]);
    run.failure();
    run.check(!run.stderr.contains("secret"), "stderr shows a password");
    run.check(!run.stdout.contains("secret"), "--json shows a password");
    run.stderr_has(&[
        "failed: http://user:***@",
        "retry 1 of 5 for http://user:***@",
    ]);
    let failed = run.json_for("missing.bin?fail=404&fail_count=all");
    run.check(
        failed["url"]
            .as_str()
            .unwrap()
            .starts_with("http://user:***@"),
        "json url redacted",
    );
    run.check(
        failed["error"].as_str().unwrap().contains("user:***@"),
        "json error redacted",
    );
}

#[test]
fn a_token_given_as_the_user_name_is_never_printed() {
    // `https://TOKEN@host/` is a common way to pass a token: a user name
    // without a password is shown as `***`.
    let server = Server::start();
    let sb = Sandbox::new();
    let url = format!(
        "http://ghp_T0KEN@{}/flaky.bin?size=10&fail=503&fail_count=all",
        server.addr()
    );
    let run = sb.run(&["--json", "--retries", "1", "-d", "out", &url]);
    run.failure();
    run.check(!run.stderr.contains("T0KEN"), "stderr shows the token");
    run.check(!run.stdout.contains("T0KEN"), "--json shows the token");
    run.stderr_has(&["retry 1 of 1 for http://***@", "failed: http://***@"]);
}

#[test]
fn the_credentials_of_a_presigned_url_are_never_printed_or_stored() {
    // A presigned object-store URL carries its credential in the query:
    // shown nowhere, kept out of the control file (only a fingerprint),
    // and the part file is continued under the same credentials only,
    // since a query's credential can pick the object.
    let server = Server::start();
    let sb = Sandbox::new();
    let path = "/signed/object.bin";
    let url = |signature: &str| {
        format!(
            "{}?size=200000&stall_after=50000&fault_count=1&X-Amz-Credential=AKIA0CRED0&X-Amz-Signature={signature}&X-Amz-Expires=60",
            server.url(path)
        )
    };
    let missing = format!(
        "{}?fail=404&fail_count=all&token=T0KEN0&api_key=K3Y0",
        server.url("/signed/missing.bin")
    );
    let run = sb.run(&[
        "--json",
        "--timeout",
        "1",
        "--retries",
        "0",
        "-d",
        "out",
        &url("5IGNATURE0"),
        &missing,
    ]);
    run.failure();
    for secret in ["5IGNATURE0", "AKIA0CRED0", "T0KEN0", "K3Y0"] {
        run.check(
            !run.stderr.contains(secret),
            &format!("stderr shows {secret}"),
        );
        run.check(
            !run.stdout.contains(secret),
            &format!("--json shows {secret}"),
        );
    }
    run.stderr_has(&["X-Amz-Signature=***", "token=***&api_key=***"]);
    let control = std::fs::read_to_string(sb.join("out/object.bin.part.parget")).unwrap();
    run.check(
        !control.contains("5IGNATURE0") && control.contains("X-Amz-Signature=***"),
        &format!("the control file shows the signature: {control}"),
    );
    let kept = std::fs::metadata(sb.join("out/object.bin.part"))
        .unwrap()
        .len();
    let run = sb.run(&["-c", "-d", "out", &url("5IGNATURE1")]);
    run.failure();
    run.stderr_has(&["other credentials in the URL's query"]);
    run.check(
        !run.stderr.contains("5IGNATURE"),
        "stderr shows a signature",
    );
    server.reset_stats();
    let run = sb.run(&["-c", "-d", "out", &url("5IGNATURE0")]);
    run.success();
    assert_file(&run, &sb.join("out/object.bin"), &content(path, 200_000));
    let fetched = server.stats().body_bytes_for(path);
    run.check(
        kept > 0 && fetched == 200_000 - kept,
        &format!("kept {kept} bytes, fetched {fetched} of 200000 on resuming"),
    );
}

#[test]
fn passwords_that_break_the_url_are_not_printed_either() {
    let server = Server::start();
    let sb = Sandbox::new();
    // `#` and `?` end the authority, so these do not parse as URLs; the
    // password must still not show.
    let broken = format!("http://user:se#cretPW@{}/x", server.addr());
    let run = sb.run(&["--json", "-d", "out", &broken]);
    run.failure();
    run.check(!run.stderr.contains("cretPW"), "stderr shows a password");
    run.check(!run.stdout.contains("cretPW"), "--json shows a password");
    run.stderr_has(&["http://user:***@"]);
    let proxy = "http://user:px?secretPX@127.0.0.1:9";
    let run = sb.run(&["--proxy", proxy, "-d", "out", &server.url("/f")]);
    run.assert_code(2);
    run.check(!run.stderr.contains("secretPX"), "stderr shows a password");
}

#[test]
fn the_control_file_never_holds_the_password() {
    let server = Server::start();
    let sb = Sandbox::new();
    let path = "/pw/resume.bin";
    let query = "size=200000&stall_after=50000&fault_count=1";
    let url = |password: &str| format!("http://user:{password}@{}{path}?{query}", server.addr());
    let run = sb.run(&[
        "--timeout",
        "1",
        "--retries",
        "0",
        "-d",
        "out",
        &url("Hunter2"),
    ]);
    run.failure();
    let control = std::fs::read_to_string(sb.join("out/resume.bin.part.parget")).unwrap();
    run.check(
        !control.contains("Hunter2") && control.contains("user:***@"),
        &format!("the control file shows the password: {control}"),
    );
    let kept = std::fs::metadata(sb.join("out/resume.bin.part"))
        .unwrap()
        .len();
    // A password changed between runs does not stop the resume.
    server.reset_stats();
    let run = sb.run(&["-c", "-d", "out", &url("Changed3")]);
    run.success();
    assert_file(&run, &sb.join("out/resume.bin"), &content(path, 200_000));
    let fetched = server.stats().body_bytes_for(path);
    run.check(
        kept > 0 && fetched == 200_000 - kept,
        &format!("{kept} bytes were kept, and {fetched} fetched on -c"),
    );
}

#[test]
fn control_characters_from_lists_and_servers_are_escaped() {
    let server = Server::start();
    let sb = Sandbox::new();
    sb.write(
        "list.txt",
        format!(
            "\x1b]0;pwned\x07not-a-url\x1b[2J\n{}\n  header=X: a\x1b[31m\n{}\n",
            server.url("/h.bin?size=10"),
            server.url("/c1?hostile=c1_chars"),
        ),
    );
    let run = sb.run(&[
        "--json",
        "--content-disposition",
        "-d",
        "out",
        "-i",
        "list.txt",
        &server.url("/cc?hostile=control_chars"),
    ]);
    run.failure();
    for (what, text) in [("stderr", &run.stderr), ("stdout", &run.stdout)] {
        run.check(
            !text.contains('\x1b') && !text.contains('\x07') && !text.contains('\u{9b}'),
            &format!("{what} holds raw control characters"),
        );
    }
    run.stderr_has(&["\\x1b]0;pwned\\x07not-a-url\\x1b[2J", "invalid header line"]);
    // The C1 redirect was followed and its file named safely.
    for name in sb.files() {
        run.check(
            !name.chars().any(char::is_control),
            &format!("file name {name:?}"),
        );
    }
}

#[test]
fn control_characters_in_a_refused_argument_are_not_printed_raw() {
    // clap quotes a bad value as typed; with colours forced (as on a
    // terminal) its escape sequences would reach the terminal.
    let sb = Sandbox::new();
    let hostile = "sha-256=\x1b]0;pwned\x07ab\u{9b}31m\u{202e}cd";
    let mut cmd = sb.command(&["--checksum", hostile, "http://127.0.0.1:9/"]);
    cmd.env("CLICOLOR_FORCE", "1");
    let run = Spawned::spawn(cmd).wait(Instant::now());
    run.assert_code(2);
    run.check(
        !["\x1b", "\x07", "\u{9b}", "\u{202e}"]
            .iter()
            .any(|c| run.stderr.contains(c)),
        "stderr holds raw control characters",
    );
    // Shown escaped, not dropped: the user sees what was refused.
    run.stderr_has(&["--checksum", "\\x1b]0;pwned\\x07ab\\u{9b}31m\\u{202e}cd"]);
}

#[test]
fn tls_roots_from_the_environment_and_client_certificates() {
    let sb = Sandbox::new();
    let (server, ca) = tls_server(&sb, "ca.pem");
    let url = server.url("/t.bin?size=1000");
    // Unknown CA: refused, with the way out in the message.
    sb.run(&["-d", "out", &url])
        .failure()
        .stderr_has(&["TLS certificate not accepted", "--ca-certificate"]);
    sb.run(&["-d", "out", "--ca-certificate", "ca.pem", &url])
        .success();
    // SSL_CERT_FILE and SSL_CERT_DIR add roots.
    let mut cmd = sb.command(&["-d", "env-file", &url]);
    cmd.env("SSL_CERT_FILE", &ca);
    Spawned::spawn(cmd).wait(Instant::now()).success();
    sb.write("certs/ca.pem", server.ca_cert_pem().unwrap());
    let mut cmd = sb.command(&["-d", "env-dir", &url]);
    cmd.env("SSL_CERT_DIR", sb.join("certs"));
    Spawned::spawn(cmd).wait(Instant::now()).success();
    // Both at once, each trusting another server, with --ca-certificate
    // for a third: all three roots are trusted together.
    let (second, _) = tls_server(&sb, "second/ca.pem");
    let (third, _) = tls_server(&sb, "third.pem");
    let mut cmd = sb.command(&[
        "-d",
        "env-both",
        "--ca-certificate",
        "third.pem",
        &server.url("/t1.bin?size=10"),
        &second.url("/t2.bin?size=10"),
        &third.url("/t3.bin?size=10"),
    ]);
    cmd.env("SSL_CERT_FILE", &ca)
        .env("SSL_CERT_DIR", sb.join("second"));
    Spawned::spawn(cmd).wait(Instant::now()).success();
    // --insecure works, and says what it costs.
    sb.run(&["-d", "insecure", "--insecure", &url])
        .success()
        .stderr_has(&["warning: --insecure"]);

    // Mutual TLS: the server wants a client certificate of its CA.
    let authority = Ca::new("mutual").unwrap();
    let leaf = authority
        .server_cert(&["127.0.0.1"], Validity::current())
        .unwrap();
    let client = authority.client_cert("alice", Validity::current()).unwrap();
    let mutual = Server::with(ServerConfig {
        tls: true,
        tls_identity: Some(leaf.identity()),
        client_ca: Some(authority.cert_pem().to_owned()),
        ..ServerConfig::default()
    });
    sb.write("mutual-ca.pem", authority.cert_pem());
    sb.write("client.crt", &client.cert_pem);
    sb.write("client.key", &client.key_pem);
    sb.write("client-both.pem", client.cert_and_key_pem());
    let url = mutual.url("/m.bin?size=2000");
    sb.run(&["-d", "m0", "--ca-certificate", "mutual-ca.pem", &url])
        .failure()
        .stderr_has(&["TLS"]);
    for (dir, flags) in [
        (
            "m1",
            vec!["--certificate", "client.crt", "--private-key", "client.key"],
        ),
        ("m2", vec!["--certificate", "client-both.pem"]),
    ] {
        let mut args = vec!["-d", dir, "--ca-certificate", "mutual-ca.pem"];
        args.extend(flags);
        args.push(&url);
        let run = sb.run(&args);
        run.success();
        assert_file(
            &run,
            &sb.join(format!("{dir}/m.bin")),
            &content("/m.bin", 2000),
        );
    }
    // A key of another certificate: a usage error, before any request.
    let other = authority.client_cert("bob", Validity::current()).unwrap();
    sb.write("other.key", &other.key_pem);
    let run = sb.run(&[
        "-d",
        "m3",
        "--ca-certificate",
        "mutual-ca.pem",
        "--certificate",
        "client.crt",
        "--private-key",
        "other.key",
        &url,
    ]);
    run.assert_code(2)
        .stderr_has(&["the client certificate cannot be used"]);
    run.check(!sb.exists("m3/m.bin"), "nothing downloaded");
}

fn tinyproxy() -> Tinyproxy {
    Tinyproxy::builder()
        .start()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn proxies_from_the_environment_and_flags() {
    let server = Server::start();
    let proxy = tinyproxy();
    let sb = Sandbox::new();
    let port = server.addr().port();
    let run_with = |env: &[(&str, &str)], args: &[&str]| {
        let mut cmd = sb.command(args);
        cmd.env_remove("NO_PROXY");
        for (name, value) in env {
            cmd.env(name, value);
        }
        Spawned::spawn(cmd).wait(Instant::now())
    };
    let through = |path: &str| {
        proxy
            .requests()
            .unwrap()
            .iter()
            .any(|line| line.contains(path))
    };
    // http_proxy is used; NO_PROXY hosts go direct.
    let by_ip = server.url("/env.bin?size=100");
    let by_name = format!("http://localhost:{port}/bypass.bin?size=100");
    run_with(
        &[("http_proxy", &proxy.url()), ("NO_PROXY", "localhost")],
        &["-d", "out", &by_ip, &by_name],
    )
    .success();
    assert!(through("/env.bin"), "{:?}", proxy.requests());
    assert!(!through("/bypass.bin"), "{:?}", proxy.requests());
    // HTTP_PROXY is never read for http (httpoxy); ALL_PROXY is.
    run_with(
        &[("HTTP_PROXY", &proxy.url())],
        &["-d", "out", &server.url("/upper.bin?size=10")],
    )
    .success();
    assert!(!through("/upper.bin"));
    run_with(
        &[("ALL_PROXY", &proxy.url())],
        &["-d", "out", &server.url("/all.bin?size=10")],
    )
    .success();
    assert!(through("/all.bin"));
    // --proxy beats the environment, --noproxy replaces NO_PROXY, and
    // --proxy "" turns proxies off.
    run_with(
        &[("http_proxy", "http://127.0.0.1:9")],
        &[
            "-d",
            "out",
            "--proxy",
            &proxy.url(),
            &server.url("/flag.bin?size=10"),
        ],
    )
    .success();
    assert!(through("/flag.bin"));
    run_with(
        &[("http_proxy", &proxy.url())],
        &[
            "-d",
            "out",
            "--noproxy",
            "127.0.0.1",
            &server.url("/noproxy.bin?size=10"),
        ],
    )
    .success();
    run_with(
        &[("http_proxy", &proxy.url())],
        &["-d", "out", "--proxy", "", &server.url("/none.bin?size=10")],
    )
    .success();
    assert!(!through("/noproxy.bin") && !through("/none.bin"));
    // A bad proxy in the environment fails its downloads, naming it.
    run_with(
        &[("http_proxy", "socks4://p")],
        &["-d", "out", &server.url("/bad.bin?size=10")],
    )
    .failure()
    .stderr_has(&["bad proxy in http_proxy"]);
}

/// The `bytes` of a `--json` object over its `elapsed`, bytes/s.
fn json_rate(json: &serde_json::Value) -> f64 {
    json["bytes"].as_f64().unwrap() / json["elapsed"].as_f64().unwrap()
}

#[test]
fn rate_limits_hold_a_download_and_a_run() {
    let server = Server::start();
    let sb = Sandbox::new();
    let run = sb.run(&[
        "--json",
        "-d",
        "out",
        "--max-download-limit",
        "1M",
        &server.url("/one.bin?size=2097152"),
    ]);
    run.success();
    let rate = json_rate(&run.json_one());
    let limit = 1024.0 * 1024.0;
    run.check(
        (0.95 * limit..=1.05 * limit).contains(&rate),
        &format!("{rate:.0} B/s against a limit of {limit} B/s"),
    );
    let started = Instant::now();
    let run = sb.run(&[
        "--json",
        "-d",
        "out",
        "--max-overall-download-limit",
        "1M",
        &server.url("/a.bin?size=1048576"),
        &server.url("/b.bin?size=1048576"),
    ]);
    run.success();
    let bytes: f64 = run
        .json()
        .iter()
        .map(|j| j["bytes"].as_f64().unwrap())
        .sum();
    let slowest = run
        .json()
        .iter()
        .map(|j| j["elapsed"].as_f64().unwrap())
        .fold(0.0, f64::max);
    let rate = bytes / slowest;
    run.check(
        (0.95 * limit..=1.05 * limit).contains(&rate),
        &format!("{rate:.0} B/s together against a limit of {limit} B/s"),
    );
    run.check(
        started.elapsed() >= Duration::from_millis(1900),
        "two files at 1 MiB/s",
    );
}

#[test]
fn requests_per_second_avoid_429s() {
    let server = Server::start();
    let sb = Sandbox::new();
    let list: String = (0..8)
        .map(|i| {
            format!(
                "{}\n  out=r{i}.bin\n",
                server.url(&format!("/rps.bin?size=10&rps=3&n={i}"))
            )
        })
        .collect();
    sb.write("list.txt", list);
    let run = sb.run(&[
        "--json",
        "-d",
        "out",
        "--timeout",
        "20",
        "--max-requests-per-second",
        "3",
        "-i",
        "list.txt",
    ]);
    run.success();
    run.check(run.json().len() == 8, "eight downloads");
    for json in run.json() {
        run.check(json["attempts"] == 1, "a paced request was refused");
    }
}

#[test]
fn cookies_server_names_and_redirects() {
    let server = Server::start();
    let sb = Sandbox::new();
    let host = server.addr().ip().to_string();
    sb.write(
        "cookies.txt",
        format!("# Netscape HTTP Cookie File\n{host}\tFALSE\t/\tFALSE\t0\tsid\tabc\n"),
    );
    sb.run(&[
        "-d",
        "out",
        "--load-cookies",
        "cookies.txt",
        &server.url("/k.bin?size=10&cookie=sid%3Dabc"),
    ])
    .success();
    sb.run(&["-d", "out", &server.url("/k2.bin?size=10&cookie=sid%3Dabc")])
        .failure()
        .stderr_has(&["403"]);

    let named = server.url(&format!(
        "/cd.bin?size=40&disposition={}",
        enc("attachment; filename=\"report.pdf\"")
    ));
    sb.run(&["-d", "out", "--content-disposition", &named])
        .success();
    assert_eq!(sb.read("out/report.pdf"), Some(content("/cd.bin", 40)));
    // The name exists now: refused unless --allow-overwrite.
    sb.run(&["-d", "out", "--content-disposition", &named])
        .failure()
        .stderr_has(&["report.pdf exists", "--allow-overwrite"]);
    sb.run(&[
        "-d",
        "out",
        "--content-disposition",
        "--allow-overwrite",
        &named,
    ])
    .success();
    // -o names the file itself; off by default.
    sb.run(&[
        "-d",
        "out",
        "--content-disposition",
        "-o",
        "mine.bin",
        &named,
    ])
    .success();
    sb.run(&["-d", "plain", &named]).success();
    assert!(sb.exists("out/mine.bin") && sb.exists("plain/cd.bin"));

    let secure = Server::with(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    });
    sb.write("ca.pem", secure.ca_cert_pem().unwrap());
    let down = secure.url(&format!(
        "/up?redirect_to={}",
        enc(&server.url("/down.bin?size=10"))
    ));
    sb.run(&["-d", "r1", "--ca-certificate", "ca.pem", &down])
        .failure()
        .stderr_has(&["https to plain http", "--allow-insecure-redirect"]);
    sb.run(&[
        "-d",
        "r2",
        "--ca-certificate",
        "ca.pem",
        "--allow-insecure-redirect",
        &down,
    ])
    .success();
}

/// The byte count of the summary's "N UNIT received".
fn summary_bytes(run: &Run) -> f64 {
    let line = run
        .stderr
        .lines()
        .rev()
        .find(|l| l.contains(" received in "))
        .unwrap_or_else(|| panic!("no summary{run}"));
    let before = line.split(" received in ").next().unwrap();
    let mut words = before.rsplit(' ');
    let unit = words.next().unwrap();
    let number: f64 = words.next().unwrap().parse().unwrap();
    number
        * match unit {
            "B" => 1.0,
            "KiB" => 1024.0,
            "MiB" => 1024.0 * 1024.0,
            "GiB" => 1024.0 * 1024.0 * 1024.0,
            other => panic!("unit {other}{run}"),
        }
}

#[test]
fn the_summary_counts_the_bytes_this_run_received() {
    let server = Server::start();
    let sb = Sandbox::new();
    let len = 3_000_000u64;
    let url = server.url(&format!("/sum.bin?size={len}"));
    let spawned =
        Spawned::spawn(sb.command(&["-d", "out", "-s", "1", "--max-download-limit", "500K", &url]));
    let pid = spawned.child.id();
    wait_until(Duration::from_secs(10), || {
        server.stats().body_bytes_for("/sum.bin") > 0
    });
    std::thread::sleep(Duration::from_millis(1500));
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let run = spawned.wait(Instant::now());
    run.assert_code(130);
    let received = summary_bytes(&run);
    run.check(
        received >= 100_000.0,
        &format!("{received} bytes counted after an interrupt"),
    );
    let kept = std::fs::metadata(sb.join("out/sum.bin.part"))
        .unwrap()
        .len();

    // The resumed run counts only what it fetched itself.
    let run = sb.run(&["-c", "-d", "out", "-s", "1", &url]);
    run.success();
    assert_file(&run, &sb.join("out/sum.bin"), &content("/sum.bin", len));
    let resumed = summary_bytes(&run);
    let missing = (len - kept) as f64;
    run.check(
        (resumed - missing).abs() <= 0.01 * len as f64,
        &format!("the resumed run says {resumed} bytes, {missing} were missing"),
    );
}
