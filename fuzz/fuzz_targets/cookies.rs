//! Cookie files: never a panic, and a `Cookie:` header never holds a
//! control character (it would split the request's headers).
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use parget::cookies::CookieJar;

fuzz_target!(|data: &[u8]| {
    let Ok(jar) = CookieJar::parse(data, "fuzz-cookies.txt") else {
        return;
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut urls = vec![
        "https://example.com/".to_owned(),
        "http://127.0.0.1/a/b".to_owned(),
    ];
    for cookie in jar.cookies() {
        urls.push(format!("https://{}{}", cookie.domain, cookie.path));
    }
    for url in urls {
        let Ok(url) = url::Url::parse(&url) else {
            continue;
        };
        if let Some(header) = jar.header_for(&url, now) {
            assert!(!header.chars().any(char::is_control));
        }
    }
});
