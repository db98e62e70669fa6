//! One writer per destination inside one process: two downloaders on one
//! path exclude each other through the part file's lock, or wait for it.

use parget::ErrorKind;

use crate::util::{assert_failed, assert_file, content, fast, Bed};

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

/// Waits until `path` exists (the download has claimed its part file).
async fn until_exists(path: &std::path::Path) {
    while path.symlink_metadata().is_err() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_directory_swapped_for_a_link_mid_download_does_not_move_the_file() {
    // Confined or not, the directory the part file was made in is where
    // the file lands: renaming it away and planting a link at its path
    // while the bytes stream takes nothing through the link.
    for confined in [true, false] {
        let bed = Bed::start().await;
        let root = bed.dir.path();
        let len = 1_000_000;
        let path = "/swap/f.bin";
        let mut request = parget::Request::new(
            &bed.server.url(&format!("{path}?size={len}&rate=1000000")),
            root.join("sub/f.bin"),
        )
        .unwrap();
        if confined {
            request = request.confined_to(root);
        }
        let downloader = fast().build().unwrap();
        let download = tokio::spawn(async move { downloader.download(request).await });
        until_exists(&root.join("sub/f.bin.part")).await;
        std::fs::rename(root.join("sub"), root.join("moved")).unwrap();
        std::fs::create_dir(root.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere"), root.join("sub")).unwrap();

        let report = download.await.unwrap();
        assert!(report.is_ok(), "confined {confined}: {:?}", report.error());
        let landed = std::fs::read(root.join("moved/f.bin")).unwrap();
        assert!(
            landed == content(path, len),
            "confined {confined}: the bytes"
        );
        let through: Vec<_> = std::fs::read_dir(root.join("elsewhere")).unwrap().collect();
        assert!(through.is_empty(), "confined {confined}: {through:?}");
    }
}

#[tokio::test]
async fn a_link_planted_below_the_root_fails_a_confined_download_naming_it() {
    let bed = Bed::start().await;
    let root = bed.dir.path();
    std::fs::create_dir(root.join("elsewhere")).unwrap();
    std::fs::create_dir(root.join("a")).unwrap();
    std::os::unix::fs::symlink(root.join("elsewhere"), root.join("a/b")).unwrap();
    std::os::unix::fs::symlink(root.join("gone"), root.join("dangling")).unwrap();
    let downloader = fast().build().unwrap();
    for (name, link) in [("a/b/c/f.bin", "a/b"), ("dangling/f.bin", "dangling")] {
        let request = bed.request("/l/f.bin?size=10", name).confined_to(root);
        let report = downloader.download(request).await;
        let error = format!("{:#}", assert_failed(&report));
        let named = root.join(link).display().to_string();
        assert!(
            error.contains(&named) && error.contains("symbolic link"),
            "{error}"
        );
    }
    assert!(
        bed.server.requests_for("/l/f.bin").is_empty(),
        "nothing asked"
    );
    let through: Vec<_> = std::fs::read_dir(root.join("elsewhere")).unwrap().collect();
    assert!(through.is_empty(), "{through:?}");
    assert!(!root.join("gone").exists(), "nothing made through the link");
    // Missing directories below the root are made; the root itself may
    // be a link (the user's choice).
    std::os::unix::fs::symlink(root.join("elsewhere"), root.join("chosen")).unwrap();
    let request = bed
        .request("/l/f.bin?size=10", "chosen/x/y/f.bin")
        .confined_to(root.join("chosen"));
    let report = downloader.download(request).await;
    assert_file(&report, &content("/l/f.bin", 10));
    assert!(root.join("elsewhere/x/y/f.bin").exists());
}

#[tokio::test]
async fn a_held_directory_moved_out_of_the_root_and_linked_back_takes_no_new_file() {
    let bed = Bed::start().await;
    let root = bed.dir.path().join("out");
    let outside = bed.dir.path().join("outside");
    let request = |name: &str, query: &str| {
        parget::Request::new(
            &bed.server.url(&format!("/held/{name}?{query}")),
            root.join("sub").join(name),
        )
        .unwrap()
        .confined_to(&root)
    };
    let downloader = fast().build().unwrap();
    let slow = request("a.bin", "size=1000000&rate=1000000");
    let running = {
        let downloader = downloader.clone();
        tokio::spawn(async move { downloader.download(slow).await })
    };
    until_exists(&root.join("sub/a.bin.part")).await;
    std::fs::rename(root.join("sub"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("sub")).unwrap();

    // The running download holds the moved directory; a new one for the
    // same directory walks from the root and meets the link.
    let report = downloader.download(request("b.bin", "size=10")).await;
    let error = format!("{:#}", assert_failed(&report));
    assert!(error.contains("symbolic link"), "{error}");
    assert!(
        !outside.join("b.bin").exists(),
        "nothing new through the link"
    );
    assert!(running.await.unwrap().is_ok());
}
