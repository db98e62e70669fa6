//! parget-testbed
