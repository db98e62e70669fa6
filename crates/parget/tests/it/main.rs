//! The engine against `parget-testbed` over loopback: one test binary, one
//! module per feature.

mod api;
mod auth;
mod cancel;
mod embed;
mod errors;
mod groups;
mod hostile;
mod mirrors;
mod names;
mod pieces;
mod proxies;
mod rates;
mod rerun;
mod resume;
mod retries;
mod segments;
mod streams;
mod tls;
mod util;
mod writers;
