//! `.netrc` files: never a panic, and lookups on what parsed never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parget::netrc::Netrc;

fuzz_target!(|data: &[u8]| {
    if let Ok(netrc) = Netrc::parse(data, "fuzz.netrc") {
        for entry in netrc.entries() {
            if let Some(machine) = &entry.machine {
                let found = netrc.lookup(machine, entry.login.as_deref());
                assert!(found.is_some());
            }
        }
        let _ = netrc.lookup("example.com", None);
    }
});
