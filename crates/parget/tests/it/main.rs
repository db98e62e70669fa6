//! The engine against `parget-testbed` over loopback: one test binary, one
//! module per feature.

mod api;
mod errors;
mod rerun;
mod resume;
mod retries;
mod segments;
mod tls;
mod util;
