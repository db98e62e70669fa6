//! `Content-Range` values: never a panic, and a parsed range is coherent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parget::header::{parse_content_range, parse_unsatisfied_total};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(range) = parse_content_range(value) {
        assert!(range.start <= range.end_inclusive);
        if let Some(total) = range.total {
            assert!(range.end_inclusive < total);
        }
    }
    let _ = parse_unsatisfied_total(value);
});
