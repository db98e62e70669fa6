//! Integration tests of the `parget` binary against the loopback test server.

mod basics;
mod faults;
mod lists;
mod networks;
mod nginx;
mod output;
mod rerun;
mod segments;
mod util;
mod verify;
