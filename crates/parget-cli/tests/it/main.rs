//! Integration tests of the `parget` binary against the loopback test server.

mod basics;
mod disk;
mod faults;
mod lists;
mod networks;
mod nginx;
mod output;
mod rerun;
mod segments;
mod shards;
mod stops;
mod util;
mod verify;
mod writers;
