//! Metalink documents: never a panic, and every entry is safe to use: a
//! relative name without `..`, at least one URL, mirror details that match
//! the URLs, piece hashes that fit the size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parget::input::parse_metalink;

fuzz_target!(|data: &[u8]| {
    let results = parse_metalink(data, "fuzz.meta4");
    assert!(!results.is_empty());
    for entry in results.iter().flatten() {
        let out = entry.out.as_deref().expect("a Metalink entry has a name");
        assert!(!out.is_empty() && !out.starts_with('/'));
        assert!(!out
            .split('/')
            .any(|part| part == ".." || part == "." || part.is_empty()));
        assert!(!entry.urls.is_empty());
        assert_eq!(entry.urls.len(), entry.mirrors.len());
        if let (Some(pieces), Some(size)) = (&entry.pieces, entry.size) {
            assert!(pieces.fits_size(size));
        }
    }
});
