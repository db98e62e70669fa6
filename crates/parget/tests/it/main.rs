//! The engine against `parget-testbed` over loopback: one test binary, one
//! module per feature.

mod api;
mod cancel;
mod embed;
mod errors;
mod groups;
mod mirrors;
mod pieces;
mod rerun;
mod resume;
mod retries;
mod segments;
mod streams;
mod tls;
mod util;
mod writers;
