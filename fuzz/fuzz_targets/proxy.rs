//! Proxy settings and no-proxy lists: never a panic; and the redaction
//! used in every message hides the password of a proxy URL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parget::proxy::{proxy_for, ProxyOptions};
use parget::redact::{escape_control, redact_url_text};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first line is the proxy, the rest the no-proxy list.
    let (proxy, noproxy) = text.split_once('\n').unwrap_or((&text, ""));
    for target in [
        "http://example.com/",
        "https://[::1]:8443/",
        "http://10.1.2.3/",
    ] {
        let target = url::Url::parse(target).expect("a valid URL");
        let options = ProxyOptions {
            proxy: Some(proxy),
            noproxy: Some(noproxy),
        };
        if let Err(error) = proxy_for(&target, options, |_| None) {
            assert!(!error.to_string().chars().any(char::is_control));
        }
        let _ = proxy_for(&target, ProxyOptions::default(), |_| Some(proxy.to_owned()));
    }
    // `scheme://user:PASSWORD@host…` with a plain password and one `@`:
    // the password never survives redaction.
    if let Some((_, rest)) = proxy.split_once("://") {
        if let Some((userinfo, _)) = rest.split_once('@') {
            if let Some((_, password)) = userinfo.split_once(':') {
                let plain = !password.is_empty()
                    && password != "***"
                    && password.bytes().all(|b| b.is_ascii_alphanumeric());
                let user_plain = !userinfo.contains(['/', '\\', '?', '#']);
                if plain && user_plain && proxy.matches('@').count() == 1 {
                    let redacted = redact_url_text(proxy);
                    assert!(!redacted.contains(&format!(":{password}@")), "{redacted}");
                }
            }
        }
    }
    let escaped = escape_control(&text);
    assert!(!escaped.chars().any(char::is_control));
});
