//! parget: a download engine.
//!
//! parget fetches many files at once and verifies size and digests while
//! the bytes stream. Bytes go to `NAME.part` and are renamed to `NAME` only
//! after every check passed, so a destination path never holds partial or
//! wrong bytes. Failed attempts are retried with backoff and resumed from
//! the bytes already written when the server allows it.
//!
//! ```no_run
//! use parget::{Downloader, Request};
//!
//! # #[tokio::main] async fn main() -> Result<(), parget::Error> {
//! let downloader = Downloader::builder().concurrency(16).build()?;
//! let request = Request::new("https://example.com/file.iso", "file.iso")?
//!     .with_digest("sha256=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".parse().unwrap());
//! let report = downloader.download(request).await;
//! match report.error() {
//!     None => println!("{} bytes in {:?}", report.bytes(), report.elapsed()),
//!     Some(e) if e.is_digest_mismatch() => eprintln!("corrupt: {e}"),
//!     Some(e) => eprintln!("failed: {e}"),
//! }
//! # Ok(()) }
//! ```
//!
//! Modules: [`input`] reads URL lists (plain, aria2, apt `--print-uris`)
//! and Metalink documents; [`naming`] makes safe file names; [`verify`]
//! holds digests; [`retry`] the retry policy; [`transport`] the
//! http/https/file transports and the trait for new schemes; [`blocking`]
//! a synchronous facade. Pure parsers and rules, without I/O: [`header`]
//! (`Content-Range`, `Content-Length`, `Retry-After`),
//! [`content_disposition`] (server-chosen names), [`netrc`], [`cookies`]
//! (Netscape cookie files), [`proxy`] (the proxy for a URL, as curl decides
//! it) and [`redact`] (passwords and control characters out of messages).

pub mod blocking;
mod config;
pub mod content_disposition;
pub mod cookies;
mod download;
mod downloader;
mod error;
pub mod event;
pub mod group;
pub mod header;
pub mod hooks;
pub mod input;
mod intake;
mod limit;
pub mod naming;
pub mod netrc;
pub(crate) mod plan;
pub mod proxy;
pub mod redact;
mod report;
mod request;
pub mod retry;
mod seen;
mod shared;
mod sink;
pub mod transport;
pub mod verify;

pub use downloader::{DownloadHandle, Downloader, DownloaderBuilder};
pub use error::{Error, ErrorKind};
pub use event::{DownloadId, DownloadProgress, Reporter, Retry, RetryCount, Totals};
pub use group::{Group, GroupPolicy, GroupReport};
pub use hooks::Tag;
pub use intake::{CancelHandle, GroupReports, Reports};
pub use report::{Outcome, Report};
pub use request::{Destination, Request};
pub use verify::{Algorithm, Digest};

/// The README's Rust examples, compiled as doctests so they keep working.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
