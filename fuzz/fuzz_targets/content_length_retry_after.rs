//! `Content-Length` and `Retry-After` values: never a panic; a length
//! agrees with the standard library's reading of plain digits.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use parget::header::{parse_content_length, parse_retry_after};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(length) = parse_content_length(value) {
        assert_eq!(
            value.trim_matches([' ', '\t']).parse::<u64>().ok(),
            Some(length)
        );
    }
    for now in [
        SystemTime::UNIX_EPOCH,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799),
    ] {
        let _ = parse_retry_after(value, now);
    }
});
