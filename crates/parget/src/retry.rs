//! Retry policy.
