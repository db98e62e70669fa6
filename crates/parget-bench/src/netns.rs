//! The shared-bottleneck mode (`--netns`): the tools run in a network
//! namespace joined to the host by a veth pair whose link is capped with
//! `tc tbf` in both directions, and nginx listens on the host's end. Every
//! connection of every tool crosses that one link, so, unlike a cap per
//! connection, more connections cannot make a download faster.
//!
//! The commands are built by pure functions (tested below); [`Netns`] runs
//! them and undoes them on drop. Names are fixed, so a run that crashed
//! is cleaned up by the next one before it starts.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _, Result};

/// The names and addresses of one namespace set-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The network namespace of the client side.
    pub namespace: String,
    /// The veth end that stays on the host (nginx listens on its address).
    pub host_link: String,
    /// The veth end moved into the namespace.
    pub client_link: String,
    /// The host end's address; the client's is the next one, in one /30.
    pub host_ip: Ipv4Addr,
}

impl Names {
    /// The bench's own: `parget-bench`, `pgb-host`/`pgb-client`, 10.203.0.1/30
    /// (a private range that no real interface here uses).
    pub fn bench() -> Names {
        Names {
            namespace: "parget-bench".into(),
            host_link: "pgb-host".into(),
            client_link: "pgb-client".into(),
            host_ip: Ipv4Addr::new(10, 203, 0, 1),
        }
    }

    /// The client end's address.
    pub fn client_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.host_ip) + 1)
    }
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// The `tbf` parameters for a link of `bits` per second: a bucket of 4 ms
/// at the rate (at least 64 KiB, so one GSO packet always fits) and a
/// queue of 20 ms.
pub fn tbf(bits: u64) -> Vec<String> {
    let burst = (bits / 8 / 250).max(64 * 1024);
    argv(&[
        "tbf",
        "rate",
        &format!("{bits}bit"),
        "burst",
        &burst.to_string(),
        "latency",
        "20ms",
    ])
}

/// The commands that build the set-up, in order.
pub fn setup_commands(names: &Names, bits: u64) -> Vec<Vec<String>> {
    let ns = names.namespace.as_str();
    let (host, client) = (names.host_link.as_str(), names.client_link.as_str());
    let host_cidr = format!("{}/30", names.host_ip);
    let client_cidr = format!("{}/30", names.client_ip());
    let in_ns = |words: &[&str]| {
        let mut a = argv(&["ip", "netns", "exec", ns]);
        a.extend(argv(words));
        a
    };
    let mut host_tc = argv(&["tc", "qdisc", "add", "dev", host, "root"]);
    host_tc.extend(tbf(bits));
    let mut client_tc = in_ns(&["tc", "qdisc", "add", "dev", client, "root"]);
    client_tc.extend(tbf(bits));
    vec![
        argv(&["ip", "netns", "add", ns]),
        argv(&[
            "ip", "link", "add", host, "type", "veth", "peer", "name", client,
        ]),
        argv(&["ip", "link", "set", client, "netns", ns]),
        argv(&["ip", "addr", "add", &host_cidr, "dev", host]),
        argv(&["ip", "link", "set", host, "up"]),
        in_ns(&["ip", "addr", "add", &client_cidr, "dev", client]),
        in_ns(&["ip", "link", "set", client, "up"]),
        in_ns(&["ip", "link", "set", "lo", "up"]),
        // Server to client (the downloads) and client to server (requests
        // and ACKs): one cap each way.
        host_tc,
        client_tc,
    ]
}

/// The commands that undo [`setup_commands`]; each may fail harmlessly
/// when its object is already gone. Deleting the namespace deletes the
/// veth end inside it and so the pair and both qdiscs; the link is deleted
/// by name too in case the pair never got moved.
pub fn teardown_commands(names: &Names) -> Vec<Vec<String>> {
    vec![
        argv(&["ip", "netns", "del", &names.namespace]),
        argv(&["ip", "link", "del", &names.host_link]),
    ]
}

/// `argv` run inside the namespace.
pub fn wrap(names: &Names, argv: &[String]) -> Vec<String> {
    let mut wrapped: Vec<String> = ["ip", "netns", "exec", names.namespace.as_str()]
        .iter()
        .map(|w| (*w).to_owned())
        .collect();
    wrapped.extend(argv.iter().cloned());
    wrapped
}

/// The effective user id, from `/proc/self/status`.
fn euid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Refuses clearly unless running as root.
pub fn require_root() -> Result<()> {
    match euid() {
        Some(0) => Ok(()),
        Some(uid) => bail!(
            "--netns needs root (it creates a network namespace, a veth pair and tc qdiscs); \
             this is uid {uid}: run it as root, e.g. `sudo target/release/parget-bench --netns --no-build`"
        ),
        None => bail!("--netns needs root, and /proc/self/status does not say who this is"),
    }
}

fn run(argv: &[String]) -> Result<()> {
    let output = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} (is iproute2 installed?)", argv[0]))?;
    if !output.status.success() {
        bail!(
            "`{}` failed: {}",
            argv.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Runs the teardown, ignoring what is already gone.
pub fn teardown(names: &Names) {
    for command in teardown_commands(names) {
        let _ = Command::new(&command[0])
            .args(&command[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A live set-up; torn down when dropped.
#[derive(Debug)]
pub struct Netns {
    names: Names,
    bits: u64,
}

impl Netns {
    /// Removes what an earlier run may have left, then builds the set-up
    /// with a link of `bits` per second. Needs root.
    pub fn create(names: Names, bits: u64) -> Result<Netns> {
        require_root()?;
        teardown(&names);
        let netns = Netns { names, bits };
        for command in setup_commands(&netns.names, bits) {
            // On failure `netns` is dropped: what was built is undone.
            run(&command).context("setting up the network namespace")?;
        }
        Ok(netns)
    }

    /// The names in use.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// The link's capacity, bits per second.
    pub fn bits(&self) -> u64 {
        self.bits
    }

    /// `argv` run inside the namespace.
    pub fn wrap(&self, argv: &[String]) -> Vec<String> {
        wrap(&self.names, argv)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        teardown(&self.names);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_build_a_capped_veth_pair_into_a_namespace() {
        let names = Names::bench();
        assert_eq!(names.client_ip(), Ipv4Addr::new(10, 203, 0, 2));
        let setup = setup_commands(&names, 400_000_000);
        let lines: Vec<String> = setup.iter().map(|c| c.join(" ")).collect();
        assert_eq!(lines[0], "ip netns add parget-bench");
        assert_eq!(
            lines[1],
            "ip link add pgb-host type veth peer name pgb-client"
        );
        assert!(lines.contains(&"ip addr add 10.203.0.1/30 dev pgb-host".to_owned()));
        assert!(lines.contains(
            &"ip netns exec parget-bench ip addr add 10.203.0.2/30 dev pgb-client".to_owned()
        ));
        // One cap in each direction, 400 Mbit/s with a 200 kB bucket.
        let tbf_line = "tbf rate 400000000bit burst 200000 latency 20ms";
        assert!(lines.contains(&format!("tc qdisc add dev pgb-host root {tbf_line}")));
        assert!(lines.contains(&format!(
            "ip netns exec parget-bench tc qdisc add dev pgb-client root {tbf_line}"
        )));
        // Small links still get a bucket that holds a GSO packet.
        assert_eq!(tbf(1_000_000)[4], "65536");
        let teardown: Vec<String> = teardown_commands(&names)
            .iter()
            .map(|c| c.join(" "))
            .collect();
        assert_eq!(
            teardown,
            ["ip netns del parget-bench", "ip link del pgb-host"]
        );
        let wrapped = wrap(&names, &["curl".to_owned(), "-s".to_owned()]);
        assert_eq!(wrapped.join(" "), "ip netns exec parget-bench curl -s");
    }

    #[test]
    fn the_set_up_is_real_and_goes_away_on_drop() {
        if euid() != Some(0) {
            // The bench refuses --netns without root in the same way.
            assert!(require_root()
                .unwrap_err()
                .to_string()
                .contains("needs root"));
            return;
        }
        // Names of its own, so a bench running at the same time is not
        // disturbed.
        let names = Names {
            namespace: format!("pgb-test-{}", std::process::id()),
            host_link: "pgbt-host".into(),
            client_link: "pgbt-client".into(),
            host_ip: Ipv4Addr::new(10, 203, 1, 1),
        };
        let netns = Netns::create(names.clone(), 100_000_000).unwrap();
        let show = |args: &[&str]| {
            let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert!(show(&["ip", "netns", "list"]).contains(&names.namespace));
        let qdisc = show(&["tc", "qdisc", "show", "dev", "pgbt-host"]);
        assert!(
            qdisc.contains("tbf") && qdisc.contains("100Mbit"),
            "{qdisc}"
        );
        // The client side reaches a listener on the host side over the veth.
        let listener = std::net::TcpListener::bind((names.host_ip, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let script = format!(
            "exec 3<>/dev/tcp/{}/{port} && echo through >&3",
            names.host_ip
        );
        let client = netns.wrap(&argv(&["bash", "-c", &script]));
        let status = Command::new(&client[0])
            .args(&client[1..])
            .status()
            .unwrap();
        assert!(status.success(), "bash in the namespace could not connect");
        let (mut conn, peer) = listener.accept().unwrap();
        assert_eq!(
            peer.ip(),
            names.client_ip(),
            "the connection came from the namespace"
        );
        let mut text = String::new();
        std::io::Read::read_to_string(&mut conn, &mut text).unwrap();
        assert_eq!(text, "through\n");
        drop(netns);
        assert!(!show(&["ip", "netns", "list"]).contains(&names.namespace));
        assert!(!show(&["ip", "link", "show"]).contains("pgbt-host"));
    }
}
