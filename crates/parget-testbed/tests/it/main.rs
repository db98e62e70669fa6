//! Integration tests: real loopback sockets; hand-rolled clients where the
//! wire bytes are the point, reqwest elsewhere.

mod certs;
mod client;
mod content;
mod faults;
mod listing;
mod tls;
