//! List formats.
