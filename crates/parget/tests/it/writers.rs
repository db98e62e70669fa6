//! One writer per destination inside one process: two downloaders on one
//! path exclude each other through the part file's lock, or wait for it.

use parget::ErrorKind;

use crate::util::{assert_file, content, fast, Bed};

/// The bytes of `path` served with `?version=V`.
fn version(path: &str, v: &str, len: u64) -> Vec<u8> {
    content(&parget_testbed::versioned_path(path, v), len)
}

#[tokio::test]
async fn two_downloaders_on_one_destination_one_wins_the_other_fails() {
    let bed = Bed::start().await;
    let len = 4_000_000;
    let (a, b) = (fast().build().unwrap(), fast().build().unwrap());
    let url = |v: &str| format!("/w/one.bin?size={len}&version={v}&rate=4000000");
    let (first, second) = tokio::join!(
        a.download(bed.request(&url("1"), "one.bin")),
        b.download(bed.request(&url("2"), "one.bin")),
    );
    let (won, lost, v) = match (first.is_ok(), second.is_ok()) {
        (true, false) => (first, second, "1"),
        (false, true) => (second, first, "2"),
        _ => panic!(
            "exactly one succeeds: {:?} / {:?}",
            first.error().map(|e| format!("{e:#}")),
            second.error().map(|e| format!("{e:#}"))
        ),
    };
    let error = lost.error().unwrap();
    assert!(
        matches!(error.kind(), ErrorKind::Io(path) if path.ends_with("one.bin.part")),
        "{error:#}"
    );
    let cause = std::error::Error::source(error)
        .and_then(|c| c.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    assert_eq!(cause, Some(std::io::ErrorKind::WouldBlock), "{error:#}");
    assert_file(&won, &version("/w/one.bin", v, len));
}

#[tokio::test]
async fn a_downloader_told_to_wait_for_the_lock_goes_on_after_the_other() {
    let bed = Bed::start().await;
    let len = 3_000_000;
    let first = fast().build().unwrap();
    let waiting = fast()
        .wait_for_lock(true)
        .allow_overwrite(true)
        .build()
        .unwrap();
    let url = |v: &str| format!("/w/two.bin?size={len}&version={v}&rate=3000000");
    let running = first.spawn(bed.request(&url("1"), "two.bin"));
    while !bed.path("two.bin.part").exists() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let second = waiting.download(bed.request(&url("2"), "two.bin")).await;
    let first = running.await;
    assert!(
        first.is_ok(),
        "{:?}",
        first.error().map(|e| format!("{e:#}"))
    );
    assert_file(&second, &version("/w/two.bin", "2", len));
}
