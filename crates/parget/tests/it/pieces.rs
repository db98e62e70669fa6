//! Piece hashes (Metalink `<pieces>`): a bad piece is never written, it is
//! fetched again (from another mirror, and a mirror serving bad pieces is
//! dropped), and a resume keeps only held pieces that match.

use std::time::Duration;

use parget::input::PieceHashes;
use parget::retry::RetryPolicy;
use parget::{Algorithm, Request};
use parget_testbed::{ServerConfig, TestServer};

use crate::util::{assert_failed, assert_file, content, fast, part_of, sha256, Bed};

const MIB: u64 = 1 << 20;

fn piece_hashes(bytes: &[u8], length: u64) -> PieceHashes {
    let digests: Vec<_> = bytes
        .chunks(length as usize)
        .map(|c| parget::verify::digest_of(Algorithm::Sha256, c))
        .collect();
    PieceHashes::new(Algorithm::Sha256, length, &digests).unwrap()
}

#[tokio::test]
async fn a_corrupt_piece_is_fetched_again_and_only_it() {
    let bed = Bed::start().await;
    let len = 6 * MIB;
    let expected = content("/p/a.bin", len);
    // The first GET flips a byte in the fourth piece; later ones are right.
    let url = format!("/p/a.bin?size={len}&corrupt={}&fault_count=1", 3 * MIB + 17);
    let request = bed
        .request(&url, "a.bin")
        .with_piece_hashes(piece_hashes(&expected, MIB))
        .with_digest(sha256(&expected));
    let report = fast().split(1).build().unwrap().download(request).await;
    assert_file(&report, &expected);
    assert_eq!(report.attempts(), 2, "one retry, for the bad piece");
    // The three good pieces before it were kept: the retry asks from it on.
    let seen = bed.server.requests_for("/p/a.bin");
    let ranges: Vec<Option<&str>> = seen.iter().map(|r| r.header("range")).collect();
    assert_eq!(ranges, [None, Some(format!("bytes={}-", 3 * MIB).as_str())]);
}

#[tokio::test]
async fn a_mirror_serving_bad_pieces_is_dropped_and_the_other_finishes() {
    let bad = TestServer::start(ServerConfig::default()).await.unwrap();
    let good = TestServer::start(ServerConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let len = 16 * MIB;
    let expected = content("/p/m.bin", len);
    // Every piece the bad mirror serves has a byte wrong.
    let corrupt: Vec<String> = (0..16).map(|i| (i * MIB + 5).to_string()).collect();
    let request = Request::new(
        &bad.url(&format!(
            "/p/m.bin?size={len}&corrupt={}",
            corrupt.join(",")
        )),
        dir.path().join("m.bin"),
    )
    .unwrap()
    .with_mirror(&good.url(&format!("/p/m.bin?size={len}")))
    .unwrap()
    .with_piece_hashes(piece_hashes(&expected, MIB))
    .with_digest(sha256(&expected));
    let report = fast()
        .split(4)
        .min_split_size(MIB)
        .keep_single_stream_above(None)
        .build()
        .unwrap()
        .download(request)
        .await;
    assert_file(&report, &expected);
    // Two bad pieces drop it. Each request to it ends at its first bad
    // piece, and requests already open when it is dropped (at most one per
    // other connection, however the machine schedules them) end the same
    // way: no new one starts after.
    assert!(
        bad.stats().requests <= 2 + 3,
        "dropped after its bad pieces: {:?}",
        bad.stats()
    );
}

#[tokio::test]
async fn a_resume_trusts_only_the_held_pieces_that_match() {
    let bed = Bed::start().await;
    let len = 8 * MIB;
    let expected = content("/p/r.bin", len);
    let pieces = piece_hashes(&expected, MIB);
    // A first run stalls after about 5 MiB, and is cancelled there.
    let url = format!(
        "/p/r.bin?size={len}&stall_after={}&fault_count=1",
        5 * MIB + 1000
    );
    let part = part_of(&bed.path("r.bin"));
    let downloader = fast()
        .split(1)
        .retry_policy(RetryPolicy::new(0, Duration::ZERO))
        .build()
        .unwrap();
    let first = downloader.spawn(bed.request(&url, "r.bin").with_piece_hashes(pieces.clone()));
    while std::fs::metadata(&part).map_or(0, |m| m.len()) < 5 * MIB {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.cancel();
    assert!(assert_failed(&first.await).is_cancelled());
    // The disk loses a byte of the second piece.
    let mut held = std::fs::read(&part).unwrap();
    assert!(held.len() as u64 >= 5 * MIB, "{} held", held.len());
    held[(MIB + 100) as usize] ^= 0xff;
    std::fs::write(&part, &held).unwrap();
    bed.server.reset_stats();
    let report = fast()
        .split(1)
        .resume_partial(true)
        .build()
        .unwrap()
        .download(bed.request(&url, "r.bin").with_piece_hashes(pieces))
        .await;
    assert_file(&report, &expected);
    // Pieces 0, 2, 3 and 4 were kept: the damaged piece 1 and the three
    // never held were asked for, nothing else.
    let starts: Vec<u64> = bed
        .server
        .requests_for("/p/r.bin")
        .iter()
        .filter_map(|r| r.header("range"))
        .filter_map(|r| r.strip_prefix("bytes=")?.split('-').next()?.parse().ok())
        .collect();
    assert!(starts.contains(&MIB), "piece 1 again: {starts:?}");
    assert!(
        starts.iter().all(|&s| s == MIB || s >= 5 * MIB),
        "no held piece that matched was asked for: {starts:?}"
    );
}
