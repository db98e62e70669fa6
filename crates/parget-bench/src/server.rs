//! The servers a scenario runs against, each its own process so its CPU
//! time can be reported apart from the client's: nginx from Debian's
//! packages (through `parget_testbed::external`), and `parget-testbed`
//! where a scenario needs latency or the paginated API.

use std::io::{BufRead as _, BufReader};
use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use parget_testbed::external::Nginx;

use crate::client;
use crate::measure::{process_cpu_seconds, tree_cpu_seconds};
use crate::scenario::FileSpec;

/// The running server of a scenario.
pub enum Origin {
    /// `parget-testbed`.
    Testbed(Server),
    /// nginx.
    Nginx(Nginx),
}

impl Origin {
    /// `http://IP:PORT`.
    pub fn base(&self) -> String {
        match self {
            Origin::Testbed(s) => s.base().to_owned(),
            Origin::Nginx(n) => n.base_url(),
        }
    }

    /// CPU seconds the server has used so far (nginx: master and worker).
    pub fn cpu_seconds(&self) -> Result<f64> {
        match self {
            Origin::Testbed(s) => s.cpu_seconds(),
            Origin::Nginx(n) => tree_cpu_seconds(n.pid()),
        }
    }

    /// The testbed, when it is one.
    pub fn testbed(&self) -> Option<&Server> {
        match self {
            Origin::Testbed(s) => Some(s),
            Origin::Nginx(_) => None,
        }
    }

    /// nginx, when it is.
    pub fn nginx(&self) -> Option<&Nginx> {
        match self {
            Origin::Nginx(n) => Some(n),
            Origin::Testbed(_) => None,
        }
    }
}

/// Starts nginx listening on `listen`, serving `files` (the testbed's
/// bytes, so the digests are known) with `limit_rate` at `rate` (0: none),
/// its directory under `temp_in`.
pub fn start_nginx(files: &[FileSpec], rate: u64, listen: IpAddr, temp_in: &Path) -> Result<Nginx> {
    Nginx::builder()
        .listen(listen)
        .files(files.iter().map(|f| (f.path.as_str(), f.size)))
        .limit_rate(rate)
        .temp_in(temp_in)
        .start()
        .context("starting nginx")
}

/// `nginx/1.22.1`, from `nginx -v`.
pub fn nginx_version() -> Option<String> {
    let program = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file())?;
    let output = Command::new(program).arg("-v").output().ok()?;
    let text = String::from_utf8_lossy(&output.stderr);
    text.split_whitespace()
        .find(|w| w.starts_with("nginx/"))
        .map(str::to_owned)
}

/// A running `parget-testbed`; killed when dropped.
pub struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts `bin` with `args` and waits for the base URL it prints.
    pub fn start(bin: &Path, args: &[String]) -> Result<Server> {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(10));
        let mut server = Server {
            child,
            base: String::new(),
        };
        let line = line.map_err(|_| anyhow!("{} printed no URL within 10 s", bin.display()))?;
        let base = line.trim();
        if !base.starts_with("http://") {
            bail!("{} printed `{base}`, not a base URL", bin.display());
        }
        server.base = base.to_owned();
        Ok(server)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// CPU seconds the server has used so far.
    pub fn cpu_seconds(&self) -> Result<f64> {
        process_cpu_seconds(self.child.id())
    }

    /// `GET /api/stats` as JSON.
    pub fn stats(&self) -> Result<serde_json::Value> {
        let (head, body) = client::fetch("GET", &format!("{}/api/stats", self.base), b"")?;
        if head.status != 200 {
            bail!("GET /api/stats: status {}", head.status);
        }
        serde_json::from_slice(&body).context("GET /api/stats: not JSON")
    }

    /// `POST /api/reset_stats`.
    pub fn reset_stats(&self) -> Result<()> {
        let (head, _) = client::fetch("POST", &format!("{}/api/reset_stats", self.base), b"")?;
        if head.status != 200 {
            bail!("POST /api/reset_stats: status {}", head.status);
        }
        Ok(())
    }

    /// `GET /api/list_files`: every endpoint of the listing, in order.
    pub fn listing(&self) -> Result<Vec<String>> {
        let (head, body) = client::fetch("GET", &format!("{}/api/list_files", self.base), b"")?;
        if head.status != 200 {
            bail!("GET /api/list_files: status {}", head.status);
        }
        serde_json::from_slice(&body).context("GET /api/list_files: not a JSON list")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
