//! Integration tests: real loopback sockets, hand-rolled clients.

mod client;
mod content;
mod external;
mod faults;
mod listing;
mod tls;
