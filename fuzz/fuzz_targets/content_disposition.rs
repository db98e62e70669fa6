//! `Content-Disposition` values: never a panic, and a name is always a
//! safe base name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parget::content_disposition::file_name;

fuzz_target!(|data: &[u8]| {
    let value = String::from_utf8_lossy(data);
    if let Some(name) = file_name(&value) {
        assert!(!name.is_empty());
        assert!(!name.starts_with(['.', '-']));
        assert!(!name.contains(['/', '\\']));
        assert!(!name.chars().any(char::is_control));
        assert!(name.len() <= parget::naming::MAX_NAME_BYTES);
    }
});
