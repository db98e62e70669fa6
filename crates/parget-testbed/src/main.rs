//! `parget-testbed`: runs the test server until killed, printing its base URL.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use parget_testbed::{ServerConfig, TestServer};

/// HTTP(S) test server with deterministic content and faults on demand.
#[derive(Debug, Parser)]
#[command(name = "parget-testbed", version, about)]
struct Args {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Serve HTTPS with a fresh CA (see --ca-out).
    #[arg(long)]
    tls: bool,
    /// With --tls, offer HTTP/2 via ALPN.
    #[arg(long)]
    http2: bool,
    /// Delay before every response's headers, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Body bytes per second per connection (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Ignore Range headers and do not advertise Accept-Ranges.
    #[arg(long)]
    no_ranges: bool,
    /// Number of endpoints behind /api/list_files.
    #[arg(long, default_value_t = 25)]
    listing_files: usize,
    /// Delay of the listing API and its endpoints, in milliseconds.
    #[arg(long, default_value_t = 0)]
    listing_lag_ms: u64,
    /// With --tls, write the CA certificate (PEM) to this file.
    #[arg(long)]
    ca_out: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let config = ServerConfig {
        tls: args.tls,
        http2: args.http2,
        latency: Duration::from_millis(args.latency_ms),
        rate_per_connection: (args.rate > 0).then_some(args.rate),
        ranges: !args.no_ranges,
        listing_files: args.listing_files,
        listing_lag: Duration::from_millis(args.listing_lag_ms),
        port: args.port,
        ..ServerConfig::default()
    };
    let server = TestServer::start(config).await?;
    if let (Some(path), Some(pem)) = (&args.ca_out, server.ca_cert_pem()) {
        std::fs::write(path, pem)?;
    }
    // Written after the CA file, so a script that waits for this line can
    // read the certificate right away.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", server.base_url())?;
    stdout.flush()?;
    drop(stdout);
    tokio::signal::ctrl_c().await?;
    drop(server);
    Ok(())
}
