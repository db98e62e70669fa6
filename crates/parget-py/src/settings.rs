//! A downloader's settings, checked once and turned into an engine as often
//! as needed (once per process: a forked child builds its own).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parget::retry::RetryPolicy;
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyPermissionError, PyValueError};
use pyo3::prelude::*;

use crate::progress::Hub;
use crate::request::Defaults;

/// Everything `parget.Downloader(...)` takes. `None` keeps the engine's default.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub concurrency: usize,
    pub per_host: Option<usize>,
    pub retries: u32,
    pub retry_wait: Duration,
    pub split: Option<usize>,
    pub min_split_size: Option<u64>,
    pub connect_timeout: Option<Duration>,
    pub timeout: Option<Duration>,
    pub resume: bool,
    pub allow_overwrite: bool,
    pub fsync: bool,
    /// Wait for another download (of this process or another) writing a
    /// destination to finish, instead of failing (the CLI's
    /// `--wait-for-lock`).
    pub wait_for_lock: bool,
    pub user_agent: Option<String>,
    pub certificates: Vec<Vec<u8>>,
    pub insecure: bool,
    /// The proxy for every request (`""` for none); `None` lets the
    /// environment's proxy variables decide.
    pub proxy: Option<String>,
    /// Hosts reached directly, replacing `NO_PROXY`.
    pub no_proxy: Option<String>,
    /// Headers and digests added to every request.
    pub defaults: Arc<Defaults>,
}

/// A count that must be at least 1.
pub(crate) fn positive<T: Copy + PartialOrd + From<u8>>(name: &str, n: T) -> PyResult<T> {
    if n < T::from(1) {
        return Err(PyValueError::new_err(format!("{name} must be at least 1")));
    }
    Ok(n)
}

/// Seconds as a duration, refusing negative, NaN and infinite values.
pub(crate) fn seconds(name: &str, secs: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(secs).map_err(|_| {
        PyValueError::new_err(format!(
            "{name} must be a number of seconds ≥ 0, not {secs}"
        ))
    })
}

/// Seconds of a timeout: more than 0 (a timeout of 0 fails every
/// download, as the CLI's `--timeout 0` is refused), and not so small that
/// it rounds to no time at all.
pub(crate) fn timeout_seconds(name: &str, secs: f64) -> PyResult<Duration> {
    match Duration::try_from_secs_f64(secs) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        _ => Err(PyValueError::new_err(format!(
            "{name} must be a number of seconds more than 0, not {secs}"
        ))),
    }
}

/// The PEM files of `ca_certificate`, read and checked now so a bad file
/// is named when the downloader is made, not at the first download.
pub(crate) fn read_certificates(paths: Vec<PathBuf>) -> PyResult<Vec<Vec<u8>>> {
    let mut pems = Vec::new();
    for path in paths {
        let pem = std::fs::read(&path).map_err(|e| {
            let message = format!("cannot read the CA certificate {}: {e}", path.display());
            match e.kind() {
                std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
                std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
                _ => PyOSError::new_err(message),
            }
        })?;
        // The engine's own parser, on this file alone, so the error names it.
        parget::Downloader::builder()
            .add_root_certificate_pem(pem.clone())
            .build()
            .map_err(|e| PyValueError::new_err(format!("{}: {e}", path.display())))?;
        pems.push(pem);
    }
    Ok(pems)
}

impl Settings {
    /// An engine with these settings, reporting to `hub`.
    pub(crate) fn engine(&self, hub: Arc<Hub>) -> PyResult<parget::Downloader> {
        let mut builder = parget::Downloader::builder()
            .concurrency(self.concurrency)
            .retry_policy(RetryPolicy::new(self.retries, self.retry_wait))
            .resume_partial(self.resume)
            .allow_overwrite(self.allow_overwrite)
            .fsync(self.fsync)
            .wait_for_lock(self.wait_for_lock)
            .danger_accept_invalid_certs(self.insecure)
            .reporter(hub);
        if let Some(n) = self.per_host {
            builder = builder.max_per_host(n);
        }
        if let Some(n) = self.split {
            builder = builder.split(n);
        }
        if let Some(bytes) = self.min_split_size {
            builder = builder.min_split_size(bytes);
        }
        if let Some(timeout) = self.connect_timeout {
            builder = builder.connect_timeout(timeout);
        }
        if let Some(timeout) = self.timeout {
            builder = builder.idle_timeout(timeout);
        }
        if let Some(agent) = &self.user_agent {
            builder = builder.user_agent(agent.clone());
        }
        if let Some(proxy) = &self.proxy {
            builder = builder.proxy(proxy.clone());
        }
        if let Some(list) = &self.no_proxy {
            builder = builder.no_proxy(list.clone());
        }
        for pem in &self.certificates {
            builder = builder.add_root_certificate_pem(pem.clone());
        }
        builder
            .build()
            .map_err(|e| PyValueError::new_err(format!("cannot set up the downloader: {e}")))
    }
}
