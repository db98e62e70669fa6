//! Groups: reported once when every member is done, interleaved under the
//! downloader's limits, and a failure's effect on the rest of its group.

use std::time::Duration;

use futures_util::StreamExt;
use parget::{Group, GroupPolicy, GroupReport, Tag};

use crate::util::{assert_file, content, fast, part_of, Bed};

#[tokio::test]
async fn a_group_is_reported_once_with_every_member_in_order() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    // The first member is the slowest: the report still lists it first.
    let group = Group::new([
        bed.request("/g/a.deb?size=3000&latency_ms=300", "a.deb"),
        bed.request("/g/a.deb.asc?size=800", "a.deb.asc"),
        bed.request("/g/a.meta?size=20", "a.meta"),
    ])
    .with_tag(Tag::new("unit-7"));
    let report = downloader.download_group(group).await;
    assert!(report.is_ok());
    assert_eq!(
        report.tag().and_then(|t| t.downcast_ref::<&str>()),
        Some(&"unit-7")
    );
    let names: Vec<_> = report
        .reports()
        .iter()
        .map(|r| r.path().unwrap().file_name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["a.deb", "a.deb.asc", "a.meta"]);
    for (report, (path, len)) in
        report
            .reports()
            .iter()
            .zip([("/g/a.deb", 3000), ("/g/a.deb.asc", 800), ("/g/a.meta", 20)])
    {
        assert_file(report, &content(path, len));
    }
}

#[tokio::test]
async fn members_of_many_groups_interleave_under_one_limit() {
    let bed = Bed::start().await;
    let downloader = fast().concurrency(2).build().unwrap();
    let groups: Vec<Group> = (0..4)
        .map(|g| {
            Group::new((0..3).map(|m| {
                bed.request(
                    &format!("/i/{g}-{m}?size=5000&latency_ms=50"),
                    &format!("{g}-{m}"),
                )
            }))
            .with_tag(Tag::new(g))
        })
        .collect();
    let reports: Vec<GroupReport> = downloader
        .download_groups(futures_util::stream::iter(groups))
        .collect()
        .await;
    assert_eq!(reports.len(), 4);
    let mut tags: Vec<i32> = reports
        .iter()
        .map(|r| *r.tag().unwrap().downcast_ref::<i32>().unwrap())
        .collect();
    tags.sort_unstable();
    assert_eq!(tags, [0, 1, 2, 3]);
    for report in &reports {
        assert!(report.is_ok());
        assert_eq!(report.reports().len(), 3);
    }
    let stats = bed.server.stats();
    assert!(
        stats.peak_connections <= 2,
        "two downloads at once, whatever the groups: {stats:?}"
    );
}

#[tokio::test]
async fn a_failed_member_cancels_its_group_and_removes_the_partial_files() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    // The slow member is well under way when its sibling fails.
    let slow = bed.request("/c/slow.bin?size=8000000&rate=1000000", "slow.bin");
    let missing = bed.request("/c/missing.bin?status=404&latency_ms=600", "missing.bin");
    let report = downloader.download_group(Group::new([slow, missing])).await;
    assert!(!report.is_ok());
    let [slow, missing] = report.reports() else {
        panic!("two reports: {report:?}");
    };
    assert_eq!(missing.error().and_then(parget::Error::status), Some(404));
    let cancelled = slow.error().expect("the slow member was cancelled");
    assert!(cancelled.is_cancelled(), "{cancelled}");
    let path = slow.path().unwrap();
    assert!(!path.exists(), "nothing at the destination");
    assert!(!part_of(path).exists(), "the partial file is removed");
    assert_eq!(
        bed.server.requests_for("/c/slow.bin").len(),
        1,
        "the slow member had started"
    );
}

#[tokio::test]
async fn a_member_cancelled_before_it_claimed_leaves_another_writers_part_file_alone() {
    // Another downloader is writing `shared.bin.part`; a group naming the
    // same destination fails before its member got a slot. The member
    // never held that part file, so it must not remove it.
    let bed = Bed::start().await;
    let len = 3_000_000;
    let writer = fast().build().unwrap();
    let running = writer.spawn(bed.request(
        &format!("/s/shared.bin?size={len}&rate=3000000"),
        "shared.bin",
    ));
    while !bed.path("shared.bin.part").exists() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let group = Group::new([
        bed.request("/s/missing.bin?status=404", "missing.bin"),
        bed.request(&format!("/s/shared.bin?size={len}"), "shared.bin"),
    ]);
    let report = fast()
        .concurrency(1)
        .build()
        .unwrap()
        .download_group(group)
        .await;
    let [missing, queued] = report.reports() else {
        panic!("two reports: {report:?}");
    };
    assert_eq!(missing.error().and_then(parget::Error::status), Some(404));
    assert!(
        queued.error().is_some_and(parget::Error::is_cancelled),
        "{queued:?}"
    );
    assert!(
        bed.path("shared.bin.part").exists(),
        "the other writer's part file is still there"
    );
    assert_file(&running.await, &content("/s/shared.bin", len));
}

#[tokio::test]
async fn with_finish_all_the_other_members_complete() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    let group = Group::new([
        bed.request("/f/missing?status=404", "missing"),
        bed.request("/f/ok.bin?size=200000&latency_ms=200", "ok.bin"),
    ])
    .with_policy(GroupPolicy::FinishAll);
    let report = downloader.download_group(group).await;
    assert!(!report.is_ok());
    assert_eq!(
        report.reports()[0].error().and_then(parget::Error::status),
        Some(404)
    );
    assert_file(&report.reports()[1], &content("/f/ok.bin", 200000));
}

#[tokio::test]
async fn a_cancel_from_outside_keeps_the_partial_files() {
    let bed = Bed::start().await;
    let downloader = fast().build().unwrap();
    let group = Group::new([
        bed.request("/k/a.bin?size=8000000&rate=2000000", "a.bin"),
        bed.request("/k/b.bin?size=8000000&rate=2000000", "b.bin"),
    ]);
    let task = tokio::spawn({
        let downloader = downloader.clone();
        async move { downloader.download_group(group).await }
    });
    // Wait until both have bytes on disk, then cancel everything.
    while !(bed.path("a.bin.part").exists() && bed.path("b.bin.part").exists()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    downloader.cancel();
    let report = task.await.unwrap();
    for member in report.reports() {
        assert!(member.error().is_some_and(parget::Error::is_cancelled));
        let part = part_of(member.path().unwrap());
        let kept = std::fs::metadata(&part).expect(".part kept").len();
        assert!(kept > 0, "{} keeps its bytes", part.display());
    }
}

#[tokio::test]
async fn an_empty_group_is_reported_ok_at_once() {
    let downloader = fast().build().unwrap();
    let report = downloader.download_group(Group::new([])).await;
    assert!(report.is_ok() && report.reports().is_empty());
}
