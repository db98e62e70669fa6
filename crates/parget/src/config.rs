//! Engine settings, filled by [`crate::DownloaderBuilder`].

use std::time::Duration;

use crate::retry::RetryPolicy;

/// Every engine setting. Defaults are documented on the builder's setters.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub concurrency: usize,
    pub max_per_host: Option<usize>,
    pub retry: RetryPolicy,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    pub lowest_speed: Option<LowestSpeed>,
    pub max_redirects: usize,
    pub split: usize,
    pub min_split_size: u64,
    pub keep_single_above: Option<u64>,
    pub resume_partial: bool,
    pub allow_overwrite: bool,
    pub wait_for_lock: bool,
    pub fsync: bool,
    pub user_agent: String,
    /// Bytes a second each download may receive, all its connections together.
    pub max_download_rate: Option<u64>,
    /// Bytes a second all downloads together may receive.
    pub max_overall_rate: Option<u64>,
    /// Files named from their URL take the name a server's
    /// `Content-Disposition` suggests, when it suggests one.
    pub content_disposition: bool,
}

/// The lowest acceptable transfer rate, measured over a window.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LowestSpeed {
    pub bytes_per_second: u64,
    pub window: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            concurrency: 16,
            max_per_host: None,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            lowest_speed: None,
            max_redirects: 10,
            split: 8,
            min_split_size: 4 << 20,
            keep_single_above: Some(500_000_000),
            resume_partial: false,
            allow_overwrite: false,
            wait_for_lock: false,
            fsync: false,
            user_agent: concat!("parget/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_download_rate: None,
            max_overall_rate: None,
            content_disposition: false,
        }
    }
}
