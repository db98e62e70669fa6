//! URL lists (plain, aria2, apt): never a panic, every entry has a URL,
//! and streaming through a small buffer gives the same result.
#![no_main]

use std::io::BufReader;

use libfuzzer_sys::fuzz_target;
use parget::input::EntryReader;

fuzz_target!(|data: &[u8]| {
    let whole: Vec<_> = EntryReader::new(data, "fuzz.txt").collect();
    for entry in whole.iter().flatten() {
        assert!(!entry.urls.is_empty());
    }
    let streamed: Vec<_> =
        EntryReader::new(BufReader::with_capacity(7, data), "fuzz.txt").collect();
    assert_eq!(whole, streamed);
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(parget::input::parse_str(text, "fuzz.txt"), whole);
    }
});
