//! parget: a download engine.
pub mod input;
pub mod naming;
pub mod retry;
pub mod verify;
pub(crate) mod header;
