//! Integration tests: real loopback sockets; hand-rolled clients where the
//! wire bytes are the point, reqwest elsewhere.

mod access;
mod certs;
mod client;
mod content;
mod corrupt;
mod external;
mod faults;
mod hostile;
mod listing;
mod pacing;
mod recording;
mod redirects;
mod tls;
