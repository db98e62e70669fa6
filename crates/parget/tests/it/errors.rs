//! Verification and hostile answers: nothing wrong ever lands at the
//! destination, and every error names the URL and what differed.

use parget::ErrorKind;

use crate::util::{assert_failed, content, fast, part_of, sha256, Bed};

#[tokio::test]
async fn digest_mismatch_names_url_algorithm_expected_and_actual() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    for (len, name) in [(1000u64, "small.bin"), (3_000_000, "large.bin")] {
        let wrong = sha256(b"something else");
        let actual = sha256(&content(&format!("/{name}"), len));
        let report = downloader
            .download(
                bed.request(&format!("/{name}?size={len}"), name)
                    .with_digest(wrong.clone()),
            )
            .await;
        let error = assert_failed(&report);
        assert!(
            error.is_digest_mismatch() && error.is_validation(),
            "{error}"
        );
        let text = error.to_string();
        for needle in [
            bed.server.url(&format!("/{name}?size={len}")),
            "sha256".into(),
            wrong.to_hex(),
            actual.to_hex(),
        ] {
            assert!(text.contains(&needle), "`{text}` lacks `{needle}`");
        }
        assert!(
            !part_of(&bed.path(name)).exists(),
            "wrong bytes are not kept as .part"
        );
        assert_eq!(report.attempts(), 1, "a mismatch is not retried");
    }
}

#[tokio::test]
async fn size_mismatch_fails_before_the_body() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    let report = downloader
        .download(bed.request("/s.bin?size=5000000", "s.bin").with_size(4000))
        .await;
    let error = assert_failed(&report);
    assert!(
        matches!(
            error.kind(),
            ErrorKind::SizeMismatch {
                expected: 4000,
                actual: 5_000_000
            }
        ),
        "{error}"
    );
    assert!(
        bed.server.stats().body_bytes < 5_000_000,
        "the body was not all fetched"
    );
}

#[tokio::test]
async fn error_status_never_writes_the_error_page() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    for code in [404u16, 403, 410] {
        let report = downloader
            .download(bed.request(&format!("/e{code}?status={code}"), "page.html"))
            .await;
        let error = assert_failed(&report);
        assert_eq!(error.status(), Some(code), "{error}");
        assert_eq!(report.attempts(), 1, "{code} is not retried");
        assert!(
            error.to_string().contains(&format!("HTTP {code}")),
            "{error}"
        );
        assert!(!part_of(&bed.path("page.html")).exists());
    }
}

#[tokio::test]
async fn hostile_content_length_fails_cleanly() {
    let bed = Bed::start().await;
    let downloader = fast()
        .retry_policy(parget::retry::RetryPolicy::new(
            1,
            std::time::Duration::ZERO,
        ))
        .build()
        .unwrap();
    for (i, value) in ["99999999999999999999999", "-5", "abc", "1,2"]
        .iter()
        .enumerate()
    {
        let name = format!("cl{i}");
        let report = downloader
            .download(bed.request(
                &format!("/{name}?size=100&content_length={value}&fault_count=all"),
                &name,
            ))
            .await;
        let error = assert_failed(&report);
        assert!(!part_of(&bed.path(&name)).exists(), "{value}: no .part");
        assert!(error.url().is_some(), "{value}: {error}");
    }
}

#[tokio::test]
async fn a_body_that_never_reaches_its_content_length_fails() {
    let bed = Bed::start().await;
    let downloader = fast()
        .retry_policy(parget::retry::RetryPolicy::new(
            2,
            std::time::Duration::ZERO,
        ))
        .build()
        .unwrap();
    let report = downloader
        .download(bed.request("/lie?size=1000&extra_length=500&fault_count=all", "lie"))
        .await;
    let error = assert_failed(&report);
    assert!(
        error.is_retryable(),
        "a short body is worth retrying: {error}"
    );
    assert_eq!(report.attempts(), 3);
    let report = downloader
        .download(bed.request(
            "/cut?size=3000000&truncate_after=2000000&fault_count=all&ranges=0",
            "cut",
        ))
        .await;
    assert_failed(&report);
}

#[derive(Default)]
struct Started {
    seen: std::sync::Mutex<Vec<std::sync::Arc<parget::DownloadProgress>>>,
}

impl parget::Reporter for Started {
    fn started(&self, progress: &std::sync::Arc<parget::DownloadProgress>) {
        self.seen.lock().unwrap().push(progress.clone());
    }
}

#[tokio::test]
async fn bytes_fetched_again_count_once_in_the_progress() {
    // No Range: the retry after the cut fetches the first half again.
    let bed = Bed::start().await;
    let started = std::sync::Arc::new(Started::default());
    let downloader = fast().reporter(started.clone()).build().unwrap();
    let len = 1_000_000;
    let report = downloader
        .download(bed.request(
            &format!("/again?size={len}&rate=4000000&ranges=0&truncate_after=500000"),
            "again",
        ))
        .await;
    assert_eq!(report.attempts(), 2, "{report:?}");
    assert_eq!(report.bytes(), len);
    let seen = started.seen.lock().unwrap();
    let progress = &seen[0];
    assert_eq!(progress.received(), len, "received past the total");
    assert_eq!(progress.total(), Some(len));
}

/// A 1 MiB tmpfs, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .status();
        match status {
            Ok(s) if s.success() => Some(SmallDisk { dir }),
            _ if std::env::var_os("CI").is_some() => {
                panic!("CI runs as root and must be able to mount a tmpfs")
            }
            _ => None,
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_is_a_clear_error_and_nothing_lands() {
    let Some(disk) = SmallDisk::mount() else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let bed = Bed::start().await;
    let destination = disk.dir.path().join("big.bin");
    let request =
        parget::Request::new(&bed.server.url("/big.bin?size=3000000"), &destination).unwrap();
    let report = fast().build().unwrap().download(request).await;
    let error = report.error().expect("a full disk fails the download");
    assert!(error.is_io() && !error.is_retryable(), "{error}");
    let text = format!("{error:#}");
    assert!(
        text.contains("big.bin.part") && text.to_lowercase().contains("no space"),
        "{text}"
    );
    assert!(!destination.exists());
    assert_eq!(report.attempts(), 1);
}

/// A 32 MiB ext4 filesystem in a file, loop-mounted; unmounted on drop.
struct SmallExt4 {
    dir: tempfile::TempDir,
    _image: tempfile::TempDir,
}

impl SmallExt4 {
    fn mount() -> Option<SmallExt4> {
        let image_dir = tempfile::tempdir().unwrap();
        let image = image_dir.path().join("ext4.img");
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(32 << 20))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let made = std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F"])
            .arg(&image)
            .status()
            .is_ok_and(|s| s.success())
            && std::process::Command::new("mount")
                .args(["-o", "loop"])
                .arg(&image)
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
        match made {
            true => Some(SmallExt4 {
                dir,
                _image: image_dir,
            }),
            false if std::env::var_os("CI").is_some() => {
                panic!(
                    "CI runs as root with e2fsprogs and must be able to loop-mount an ext4 image"
                )
            }
            false => None,
        }
    }

    /// Bytes free for an unprivileged writer, as `df` says.
    fn free(&self) -> u64 {
        let out = std::process::Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(self.dir.path())
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        text.lines().nth(1).unwrap().trim().parse().unwrap()
    }
}

impl Drop for SmallExt4 {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn an_announced_size_larger_than_the_disk_fails_at_once_and_takes_no_space() {
    // A server announces 1 GiB (a lie or not) for a disk of 32 MiB: the
    // download fails before reserving anything, instead of filling the
    // disk and leaving it full.
    announced_size_larger_than_the_disk(
        fast()
            .split(4)
            .min_split_size(1 << 20)
            .keep_single_stream_above(None),
        "/huge.bin?size=1073741824",
    )
    .await;
}

#[tokio::test]
async fn over_one_stream_too_an_announced_size_larger_than_the_disk_fails_at_once() {
    // One stream grows its file as it writes; the room is checked all the
    // same, with or without a server that takes ranges.
    announced_size_larger_than_the_disk(fast().split(1), "/huge.bin?size=1073741824").await;
    announced_size_larger_than_the_disk(fast(), "/huge.bin?size=1073741824&ranges=0").await;
}

/// Downloads `path` (1 GiB announced) onto a 32 MiB disk and checks it
/// failed at once, naming the part file, with nothing left on the disk.
async fn announced_size_larger_than_the_disk(builder: parget::DownloaderBuilder, path: &str) {
    let Some(disk) = SmallExt4::mount() else {
        eprintln!("skipped: loop-mounting ext4 needs root and mkfs.ext4");
        return;
    };
    let free = disk.free();
    let bed = Bed::start().await;
    let destination = disk.dir.path().join("huge.bin");
    let request = parget::Request::new(&bed.server.url(path), &destination).unwrap();
    let report = builder.build().unwrap().download(request).await;
    let error = assert_failed(&report);
    assert!(error.is_io() && !error.is_retryable(), "{error}");
    let text = format!("{error:#}");
    assert!(
        text.contains("huge.bin.part")
            && text.contains("No space left on device for its 1073741824 bytes"),
        "{text}"
    );
    assert!(!destination.exists());
    // Nothing was written, so no empty part or control file is left.
    let left: Vec<_> = std::fs::read_dir(disk.dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name != "lost+found")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let taken = free.saturating_sub(disk.free());
    assert!(taken < 4 << 20, "{taken} bytes of the disk are still taken");
}

#[tokio::test]
async fn an_unusable_destination_directory_is_a_clear_error() {
    let bed = Bed::start().await;
    std::fs::write(bed.path("file"), b"x").unwrap();
    let report = fast()
        .build()
        .unwrap()
        .download(bed.request("/d.bin?size=3000000", "file/sub/d.bin"))
        .await;
    let error = report
        .error()
        .expect("cannot create a directory below a file");
    assert!(
        error.is_io() && format!("{error:#}").contains("file/sub"),
        "{error}"
    );
}
