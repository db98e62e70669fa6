//! The decide stage: given what is on disk, skip the download, refuse it,
//! or start it (fresh, or continuing bytes an earlier run left).
//!
//! Pure: no I/O. The rules that keep two versions of a file from being
//! spliced together live here, each with a table test:
//! - bytes without a control file cannot be validated: start over;
//! - a control file of another URL or format is refused, never reused;
//! - a resume needs a validator the server can check (`If-Range`);
//! - recorded bytes beyond the size, or beyond the part file, do not exist;
//! - a recorded size that contradicts the expected size is refused.

use std::ops::Range;
use std::path::Path;

use crate::error::{Error, ErrorKind};
use crate::plan::RangeSet;
use crate::sink::{Control, CONTROL_VERSION};
use crate::transport::Validator;
use crate::verify::Digest;

/// What the inspect stage found beside a file destination.
#[derive(Debug, Default)]
pub(crate) struct OnDisk {
    /// The destination itself, when it exists.
    pub existing: Option<Existing>,
    /// `NAME.part`, when resuming was asked for and one exists.
    pub part: Option<Part>,
}

/// An existing destination file.
#[derive(Debug)]
pub(crate) struct Existing {
    pub len: u64,
    /// Its digests in the expected algorithms (none when nothing was expected).
    pub digests: Vec<Digest>,
}

/// An earlier run's `NAME.part` and its control file.
#[derive(Debug)]
pub(crate) struct Part {
    pub len: u64,
    pub control: Option<Control>,
}

/// What the request wants, as far as the decision goes.
#[derive(Debug)]
pub(crate) struct Wanted<'a> {
    pub url: &'a str,
    pub expected_size: Option<u64>,
    pub digests: &'a [Digest],
    pub allow_overwrite: bool,
    /// The destination, for messages.
    pub destination: &'a Path,
    /// The part file, for messages.
    pub part: &'a Path,
}

/// The decision.
#[derive(Debug)]
pub(crate) enum Decision {
    /// The destination already holds the expected bytes.
    Skip { len: u64, digests: Vec<Digest> },
    /// The download must not run.
    Refuse(Error),
    /// Download, starting from what is held.
    Start(Held),
}

/// Bytes held from an earlier run, and what they were served with.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Held {
    /// Byte ranges of `NAME.part` that hold the resource's bytes.
    pub ranges: RangeSet,
    /// The resource size the bytes were part of, when known.
    pub total: Option<u64>,
    /// The validator they came with; `Some` whenever `ranges` is not empty.
    pub validator: Option<Validator>,
}

/// Decides what to do with a download to a file, given what is on disk.
pub(crate) fn decide(on_disk: &OnDisk, wanted: &Wanted<'_>) -> Decision {
    if let Some(existing) = &on_disk.existing {
        let expectations = wanted.expected_size.is_some() || !wanted.digests.is_empty();
        if !expectations {
            if !wanted.allow_overwrite {
                return Decision::Refuse(Error::new(
                    ErrorKind::DestinationExists(wanted.destination.to_owned()),
                    None,
                ));
            }
        } else if wanted.expected_size.is_none_or(|n| n == existing.len)
            && wanted.digests.iter().all(|d| existing.digests.contains(d))
        {
            return Decision::Skip {
                len: existing.len,
                digests: existing.digests.clone(),
            };
        }
        // Known wrong, or replacing is allowed: download and replace it.
    }
    match &on_disk.part {
        None => Decision::Start(Held::default()),
        Some(part) => decide_part(part, wanted),
    }
}

fn decide_part(part: &Part, wanted: &Wanted<'_>) -> Decision {
    let Some(control) = &part.control else {
        // Bytes without a record of where they came from cannot be
        // validated: start over rather than risk splicing.
        return Decision::Start(Held::default());
    };
    if control.version != CONTROL_VERSION || control.url != wanted.url {
        return Decision::Refuse(Error::new(
            ErrorKind::ResumeRefused(format!(
                "{} belongs to {} (control file version {}), not to this URL; remove it or choose another output",
                wanted.part.display(),
                control.url,
                control.version
            )),
            None,
        ));
    }
    if let (Some(expected), Some(total)) = (wanted.expected_size, control.total) {
        if expected != total {
            return Decision::Refuse(Error::new(
                ErrorKind::ResumeRefused(format!(
                    "{} holds part of a {total}-byte file, but {expected} bytes are expected; remove it to start over",
                    wanted.part.display()
                )),
                None,
            ));
        }
    }
    if control.validator.if_range().is_none() {
        // The server could not tell whether the bytes are still its own.
        return Decision::Start(Held::default());
    }
    // Recorded ranges, or for a single stream the file's length from 0.
    let recorded: Vec<Range<u64>> = match &control.ranges {
        Some(ranges) => ranges.iter().map(|&[start, end]| start..end).collect(),
        None => std::iter::once(0..part.len).collect(),
    };
    if control.ranges.is_none() && control.total.is_some_and(|total| part.len > total) {
        // A single stream longer than its resource: not this resource's bytes.
        return Decision::Start(Held::default());
    }
    // Bytes recorded past the part file's end (a write that never
    // happened, a full disk) or past the size do not exist.
    let limit = control.total.map_or(part.len, |total| total.min(part.len));
    let ranges = RangeSet::from_ranges(recorded).clipped(limit);
    if ranges.is_empty() {
        return Decision::Start(Held::default());
    }
    Decision::Start(Held {
        ranges,
        total: control.total,
        validator: Some(control.validator.clone()),
    })
}

#[cfg(test)]
// `[0..10, 50..60]` here are lists of byte ranges.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;
    use crate::verify::{digest_of, Algorithm};

    const URL: &str = "http://h/f";

    fn wanted<'a>(size: Option<u64>, digests: &'a [Digest], overwrite: bool) -> Wanted<'a> {
        Wanted {
            url: URL,
            expected_size: size,
            digests,
            allow_overwrite: overwrite,
            destination: Path::new("f"),
            part: Path::new("f.part"),
        }
    }

    fn etag() -> Validator {
        Validator {
            etag: Some("\"v1\"".into()),
            last_modified: None,
        }
    }

    fn control(total: Option<u64>, validator: Validator, ranges: Option<Vec<[u64; 2]>>) -> Control {
        Control {
            version: CONTROL_VERSION,
            url: URL.into(),
            total,
            validator,
            ranges,
        }
    }

    fn part(len: u64, control: Option<Control>) -> OnDisk {
        OnDisk {
            existing: None,
            part: Some(Part { len, control }),
        }
    }

    fn held(decision: Decision) -> Held {
        match decision {
            Decision::Start(held) => held,
            other => panic!("expected a start, got {other:?}"),
        }
    }

    fn refused(decision: Decision) -> String {
        match decision {
            Decision::Refuse(error) => error.to_string(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn existing_destinations() {
        let good = digest_of(Algorithm::Sha256, b"abc");
        let bad = digest_of(Algorithm::Sha256, b"abd");
        let existing = |digests: Vec<Digest>| OnDisk {
            existing: Some(Existing { len: 3, digests }),
            part: None,
        };
        // Nothing to check against: refused, unless overwriting is allowed.
        let text = refused(decide(&existing(vec![]), &wanted(None, &[], false)));
        assert!(text.contains("exists"), "{text}");
        assert_eq!(
            held(decide(&existing(vec![]), &wanted(None, &[], true))),
            Held::default()
        );
        // Matches every expectation: skipped, with its digests.
        let skip = decide(
            &existing(vec![good.clone()]),
            &wanted(Some(3), std::slice::from_ref(&good), false),
        );
        assert!(
            matches!(skip, Decision::Skip { len: 3, ref digests } if digests == std::slice::from_ref(&good))
        );
        let size_only = decide(&existing(vec![]), &wanted(Some(3), &[], false));
        assert!(matches!(size_only, Decision::Skip { len: 3, .. }));
        // Known wrong (size or digest): downloaded again and replaced,
        // whatever the overwrite setting.
        for w in [
            wanted(Some(4), &[], false),
            wanted(None, std::slice::from_ref(&good), false),
        ] {
            let on_disk = existing(vec![bad.clone()]);
            assert_eq!(held(decide(&on_disk, &w)), Held::default());
        }
    }

    #[test]
    fn no_part_or_no_control_starts_over() {
        assert_eq!(
            held(decide(&OnDisk::default(), &wanted(None, &[], false))),
            Held::default()
        );
        assert_eq!(
            held(decide(&part(100, None), &wanted(None, &[], false))),
            Held::default(),
            "bytes without a record cannot be validated"
        );
    }

    #[test]
    fn a_foreign_control_file_is_refused() {
        let mut other_url = control(Some(10), etag(), None);
        other_url.url = "http://h/other".into();
        let text = refused(decide(&part(5, Some(other_url)), &wanted(None, &[], false)));
        assert!(text.contains("belongs to http://h/other"), "{text}");
        let mut old = control(Some(10), etag(), None);
        old.version = CONTROL_VERSION + 1;
        refused(decide(&part(5, Some(old)), &wanted(None, &[], false)));
    }

    #[test]
    fn a_size_contradicting_the_expected_one_is_refused() {
        let c = control(Some(10), etag(), Some(vec![[0, 4]]));
        let text = refused(decide(&part(10, Some(c)), &wanted(Some(11), &[], false)));
        assert!(
            text.contains("10-byte") && text.contains("11 bytes"),
            "{text}"
        );
    }

    #[test]
    fn without_a_validator_nothing_is_continued() {
        for validator in [
            Validator::default(),
            Validator {
                etag: Some("W/\"weak\"".into()),
                last_modified: None,
            },
        ] {
            let c = control(Some(10), validator, None);
            assert_eq!(
                held(decide(&part(5, Some(c)), &wanted(None, &[], false))),
                Held::default()
            );
        }
        let by_date = Validator {
            etag: None,
            last_modified: Some("Tue, 01 Dec 2026 00:00:00 GMT".into()),
        };
        let c = control(Some(10), by_date.clone(), None);
        let h = held(decide(&part(5, Some(c)), &wanted(None, &[], false)));
        assert_eq!(
            h.validator,
            Some(by_date),
            "a Last-Modified date validates too"
        );
    }

    #[test]
    fn a_single_stream_continues_after_its_length() {
        let c = control(Some(10), etag(), None);
        let h = held(decide(&part(4, Some(c)), &wanted(Some(10), &[], false)));
        assert_eq!(h.ranges, RangeSet::from_ranges(std::iter::once(0..4)));
        assert_eq!((h.total, h.validator), (Some(10), Some(etag())));
        // Unknown size: the length is all there is.
        let c = control(None, etag(), None);
        let h = held(decide(&part(4, Some(c)), &wanted(None, &[], false)));
        assert_eq!(
            (h.ranges, h.total),
            (RangeSet::from_ranges(std::iter::once(0..4)), None)
        );
        // Longer than the resource: not its bytes.
        let c = control(Some(3), etag(), None);
        assert_eq!(
            held(decide(&part(4, Some(c)), &wanted(None, &[], false))),
            Held::default()
        );
        // An empty part holds nothing.
        let c = control(Some(10), etag(), None);
        assert_eq!(
            held(decide(&part(0, Some(c)), &wanted(None, &[], false))),
            Held::default()
        );
    }

    #[test]
    fn recorded_ranges_are_kept_within_the_part_file_and_the_size() {
        let c = control(Some(100), etag(), Some(vec![[0, 10], [50, 60], [90, 120]]));
        let h = held(decide(&part(100, Some(c)), &wanted(None, &[], false)));
        assert_eq!(h.ranges, RangeSet::from_ranges([0..10, 50..60, 90..100]));
        // A part file shorter than its records (a full disk, a crash before
        // the preallocation): only what it can hold is kept.
        let c = control(Some(100), etag(), Some(vec![[0, 10], [50, 60]]));
        let h = held(decide(&part(55, Some(c)), &wanted(None, &[], false)));
        assert_eq!(h.ranges, RangeSet::from_ranges([0..10, 50..55]));
        let c = control(Some(100), etag(), Some(vec![[20, 30]]));
        assert_eq!(
            held(decide(&part(0, Some(c)), &wanted(None, &[], false))),
            Held::default(),
            "an empty part file continues nothing"
        );
    }

    #[test]
    fn an_existing_match_wins_over_a_part_file() {
        let on_disk = OnDisk {
            existing: Some(Existing {
                len: 3,
                digests: vec![],
            }),
            part: Some(Part {
                len: 1,
                control: Some(control(Some(3), etag(), None)),
            }),
        };
        assert!(matches!(
            decide(&on_disk, &wanted(Some(3), &[], false)),
            Decision::Skip { .. }
        ));
    }
}
