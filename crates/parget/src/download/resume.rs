//! The decide stage: given what is on disk, skip the download, refuse it,
//! or start it (fresh, or continuing bytes an earlier run left).
//!
//! Pure: no I/O. The rules that keep two versions of a file from being
//! spliced together, or a part file's stale bytes from being trusted, live
//! here, each with a table test:
//! - bytes without a control file, or with one whose header cannot be
//!   read, cannot be validated: start over;
//! - a control file of another URL or format is refused, never reused;
//! - a resume needs a validator the server can check (`If-Range`);
//! - a recorded range beyond the size, or beyond the part file, does not
//!   exist (a write that never happened, a full disk, a truncated file);
//! - a recorded size that contradicts the expected size is refused;
//! - only a recorded range whose bytes still match its checksum is kept
//!   ([`Held::keep`]; the re-reading is the inspect stage's I/O);
//! - with `--continue`, an existing output that there is nothing to check
//!   against and no part file beside is complete: parget renames only
//!   finished files into place.

use std::path::Path;

use crate::error::{Error, ErrorKind};
use crate::plan::RangeSet;
use crate::sink::{Record, Recorded, CONTROL_VERSION};
use crate::transport::Validator;
use crate::verify::Digest;

/// What the inspect stage found beside a file destination.
#[derive(Debug, Default)]
pub(crate) struct OnDisk {
    /// The destination itself, when it exists.
    pub existing: Option<Existing>,
    /// An earlier run's `NAME.part`, when resuming was asked for and one
    /// exists.
    pub part: Option<Part>,
}

/// An existing destination file.
#[derive(Debug)]
pub(crate) struct Existing {
    pub len: u64,
    /// Its digests in the expected algorithms (none when nothing was expected).
    pub digests: Vec<Digest>,
    /// It is a symbolic link (`len` and `digests` are its target's).
    pub link: bool,
}

/// An earlier run's `NAME.part` and its control file.
#[derive(Debug)]
pub(crate) struct Part {
    pub len: u64,
    /// The control file, when there is one whose header could be read.
    pub control: Option<Recorded>,
}

/// What the request wants, as far as the decision goes.
#[derive(Debug)]
pub(crate) struct Wanted<'a> {
    /// The URL, its credentials redacted, as the control file records it.
    pub url: &'a str,
    /// The fingerprint of the credentials in the URL's query, as the
    /// control file records it.
    pub query_credentials: Option<&'a str>,
    pub expected_size: Option<u64>,
    pub digests: &'a [Digest],
    pub allow_overwrite: bool,
    /// `--continue`: earlier runs' files are to be continued.
    pub resume: bool,
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
    /// Byte ranges of `NAME.part` that hold the resource's bytes: the
    /// union of `records`.
    pub ranges: RangeSet,
    /// The recorded ranges and their checksums.
    pub records: Vec<Record>,
    /// The resource size the bytes were part of, when known.
    pub total: Option<u64>,
    /// The validator they came with; `Some` whenever `ranges` is not empty.
    pub validator: Option<Validator>,
}

impl Held {
    /// Keeps the records `verified` says still match their bytes (in
    /// offset order, each once); nothing is held when none does.
    pub(crate) fn keep(self, mut verified: impl FnMut(&Record) -> bool) -> Held {
        let mut records: Vec<Record> = self.records.into_iter().filter(|r| verified(r)).collect();
        records.sort_by_key(|r| (r.offset, r.len, r.crc));
        records.dedup();
        if records.is_empty() {
            return Held::default();
        }
        Held {
            ranges: RangeSet::from_ranges(records.iter().map(Record::range)),
            records,
            ..self
        }
    }
}

/// Decides what to do with a download to a file, given what is on disk.
pub(crate) fn decide(on_disk: &OnDisk, wanted: &Wanted<'_>) -> Decision {
    match &on_disk.existing {
        // A link's target is no file parget put there: only a digest can
        // show it holds the download (a size cannot). Without one it is
        // never skipped as done; it is never written through, and
        // replacing the link itself is overwriting.
        Some(existing) if existing.link && wanted.digests.is_empty() && !wanted.allow_overwrite => {
            return Decision::Refuse(Error::io(
                wanted.destination,
                std::io::Error::other(
                    "is a symbolic link, and without a digest nothing shows its target is the download; parget leaves it alone (with --allow-overwrite the link itself is replaced)",
                ),
            ));
        }
        Some(existing) if existing.link && wanted.digests.is_empty() => {}
        Some(existing) => {
            let expectations = wanted.expected_size.is_some() || !wanted.digests.is_empty();
            if !expectations {
                if wanted.resume && !wanted.allow_overwrite && on_disk.part.is_none() {
                    // Nothing to continue: the output was put there complete.
                    // (Allowed to overwrite, the caller asked for it anew.)
                    return Decision::Skip {
                        len: existing.len,
                        digests: existing.digests.clone(),
                    };
                }
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
        None => {}
    }
    match &on_disk.part {
        None => Decision::Start(Held::default()),
        Some(part) => decide_part(part, wanted),
    }
}

fn decide_part(part: &Part, wanted: &Wanted<'_>) -> Decision {
    let Some(recorded) = &part.control else {
        // Bytes without a record of where they came from cannot be
        // validated: start over rather than risk splicing.
        return Decision::Start(Held::default());
    };
    let control = &recorded.header;
    if control.version != CONTROL_VERSION {
        return Decision::Refuse(Error::new(
            ErrorKind::ResumeRefused(format!(
                "{} was left by another version of parget (control file format {}, this one reads {CONTROL_VERSION}); remove it and its control file to start over",
                wanted.part.display(),
                control.version
            )),
            None,
        ));
    }
    // Control files of earlier versions recorded the password itself.
    let recorded_url = crate::redact::redact_url_text(&control.url);
    if recorded_url != wanted.url {
        return Decision::Refuse(Error::new(
            ErrorKind::ResumeRefused(format!(
                "{} belongs to {recorded_url}, not to this URL; remove it or choose another output",
                wanted.part.display(),
            )),
            None,
        ));
    }
    // Control files of earlier versions recorded the query's credentials
    // themselves, and no fingerprint.
    let recorded_credentials = control.query_credentials.clone().or_else(|| {
        let url = url::Url::parse(&control.url).ok()?;
        crate::redact::query_credentials_fingerprint(url.query())
    });
    if recorded_credentials.as_deref() != wanted.query_credentials {
        return Decision::Refuse(Error::new(
            ErrorKind::ResumeRefused(format!(
                "{} was fetched with other credentials in the URL's query ({recorded_url}): they can pick another object, so it is not continued; remove it to start over",
                wanted.part.display(),
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
    // A record is kept whole or not at all (its checksum covers all of
    // it): one reaching past the part file's end (a write that never
    // happened, a full disk, a truncation) or past the size is dropped.
    let limit = control.total.map_or(part.len, |total| total.min(part.len));
    let records: Vec<Record> = recorded
        .records
        .iter()
        .filter(|r| r.range().end <= limit)
        .copied()
        .collect();
    if records.is_empty() {
        return Decision::Start(Held::default());
    }
    Decision::Start(Held {
        ranges: RangeSet::from_ranges(records.iter().map(Record::range)),
        records,
        total: control.total,
        validator: Some(control.validator.clone()),
    })
}

#[cfg(test)]
// `[0..10, 50..60]` here are lists of byte ranges.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;
    use crate::sink::Control;
    use crate::verify::{digest_of, Algorithm};
    use std::ops::Range;

    const URL: &str = "http://h/f";

    fn wanted<'a>(size: Option<u64>, digests: &'a [Digest], overwrite: bool) -> Wanted<'a> {
        Wanted {
            url: URL,
            query_credentials: None,
            expected_size: size,
            digests,
            allow_overwrite: overwrite,
            resume: false,
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

    /// A record of `range` (its checksum is the range's start, as a tag).
    fn record(range: Range<u64>) -> Record {
        Record {
            offset: range.start,
            len: (range.end - range.start) as u32,
            crc: range.start as u32,
        }
    }

    fn control(total: Option<u64>, validator: Validator, ranges: &[Range<u64>]) -> Recorded {
        Recorded {
            header: Control {
                version: CONTROL_VERSION,
                url: URL.into(),
                query_credentials: None,
                total,
                validator,
            },
            records: ranges.iter().cloned().map(record).collect(),
        }
    }

    fn part(len: u64, control: Option<Recorded>) -> OnDisk {
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

    fn ranges(held: &Held) -> Vec<Range<u64>> {
        held.ranges.ranges().to_vec()
    }

    #[test]
    fn a_link_at_the_destination_is_done_only_when_a_digest_says_so() {
        let good = digest_of(Algorithm::Sha256, b"abc");
        let link = |digests: Vec<Digest>| OnDisk {
            existing: Some(Existing {
                len: 3,
                digests,
                link: true,
            }),
            part: None,
        };
        // No digest: refused, whether resuming, or sized, or neither.
        for w in [
            wanted(None, &[], false),
            wanted(Some(3), &[], false),
            Wanted {
                resume: true,
                ..wanted(None, &[], false)
            },
        ] {
            let Decision::Refuse(error) = decide(&link(vec![]), &w) else {
                panic!("a link is refused");
            };
            let text = format!("{error:#}");
            assert!(text.contains("is a symbolic link"), "{text}");
        }
        // Overwriting replaces the link.
        assert_eq!(
            held(decide(&link(vec![]), &wanted(None, &[], true))),
            Held::default()
        );
        // Its target verified by digest: done.
        let skip = decide(
            &link(vec![good.clone()]),
            &wanted(Some(3), std::slice::from_ref(&good), false),
        );
        assert!(matches!(skip, Decision::Skip { len: 3, .. }), "{skip:?}");
        // A target that does not match: fetched, and the link replaced.
        assert_eq!(
            held(decide(
                &link(vec![]),
                &wanted(None, std::slice::from_ref(&good), false)
            )),
            Held::default()
        );
    }

    #[test]
    fn existing_destinations() {
        let good = digest_of(Algorithm::Sha256, b"abc");
        let bad = digest_of(Algorithm::Sha256, b"abd");
        let existing = |digests: Vec<Digest>| OnDisk {
            existing: Some(Existing {
                len: 3,
                digests,
                link: false,
            }),
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
    fn continuing_a_complete_output_skips_it() {
        let resume = |overwrite| Wanted {
            resume: true,
            ..wanted(None, &[], overwrite)
        };
        let complete = OnDisk {
            existing: Some(Existing {
                len: 7,
                digests: vec![],
                link: false,
            }),
            part: None,
        };
        assert!(matches!(
            decide(&complete, &resume(false)),
            Decision::Skip { len: 7, .. }
        ));
        // Allowed to overwrite, the caller wants it fetched anew.
        assert_eq!(held(decide(&complete, &resume(true))), Held::default());
        // A part file beside it: there is something to continue, and the
        // output may be replaced only when overwriting is allowed.
        let with_part = OnDisk {
            part: Some(Part {
                len: 4,
                control: Some(control(Some(10), etag(), &[0..4])),
            }),
            ..complete
        };
        refused(decide(&with_part, &resume(false)));
        assert_eq!(ranges(&held(decide(&with_part, &resume(true)))), [0..4]);
        // Expectations still decide when there are some.
        let wrong_size = Wanted {
            expected_size: Some(8),
            ..resume(false)
        };
        assert_eq!(
            held(decide(
                &OnDisk {
                    part: None,
                    ..with_part
                },
                &wrong_size
            )),
            Held::default()
        );
    }

    #[test]
    fn no_part_or_no_readable_control_starts_over() {
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
        let mut other_url = control(Some(10), etag(), &[0..5]);
        other_url.header.url = "http://h/other".into();
        let text = refused(decide(&part(5, Some(other_url)), &wanted(None, &[], false)));
        assert!(text.contains("belongs to http://h/other"), "{text}");
        let mut old = control(Some(10), etag(), &[0..5]);
        old.header.version = 1;
        let text = refused(decide(&part(5, Some(old)), &wanted(None, &[], false)));
        assert!(
            text.contains("another version of parget") && text.contains("format 1"),
            "{text}"
        );
    }

    #[test]
    fn the_recorded_url_is_compared_without_its_password() {
        // The control file records the URL with its password redacted;
        // files of earlier builds hold the password itself.
        let mut wanted = wanted(None, &[], false);
        wanted.url = "http://u:***@h/f";
        for recorded in ["http://u:***@h/f", "http://u:old-secret@h/f"] {
            let mut control = control(Some(10), etag(), &[0..5]);
            control.header.url = recorded.into();
            assert_eq!(
                held(decide(&part(5, Some(control)), &wanted))
                    .ranges
                    .covered(),
                5,
                "{recorded}"
            );
        }
        let mut other_user = control(Some(10), etag(), &[0..5]);
        other_user.header.url = "http://v:secret@h/f".into();
        let text = refused(decide(&part(5, Some(other_user)), &wanted));
        assert!(
            text.contains("belongs to http://v:***@h/f") && !text.contains("secret"),
            "{text}"
        );
    }

    #[test]
    fn the_query_credentials_must_be_the_same_ones() {
        // `?token=` can pick the object: a part file is continued only
        // under the credentials it was fetched with, compared by their
        // fingerprint (and, in control files of earlier builds, by the
        // values they recorded in the URL).
        let fingerprint = |url: &str| {
            crate::redact::query_credentials_fingerprint(url::Url::parse(url).unwrap().query())
        };
        let url = "http://h/f?token=***";
        let mine = fingerprint("http://h/f?token=A1").unwrap();
        let mut wanted = wanted(None, &[], false);
        wanted.url = url;
        wanted.query_credentials = Some(&mine);
        let recorded = |text: &str, credentials: Option<String>| {
            let mut c = control(Some(10), etag(), &[0..5]);
            c.header.url = text.into();
            c.header.query_credentials = credentials;
            part(5, Some(c))
        };
        for same in [
            recorded(url, Some(mine.clone())),
            recorded("http://h/f?token=A1", None),
        ] {
            assert_eq!(held(decide(&same, &wanted)).ranges.covered(), 5);
        }
        for other in [
            recorded(url, fingerprint("http://h/f?token=B2")),
            recorded(url, None),
            recorded("http://h/f?token=B2", None),
        ] {
            let text = refused(decide(&other, &wanted));
            assert!(
                text.contains("other credentials in the URL's query (http://h/f?token=***)")
                    && !text.contains("B2"),
                "{text}"
            );
        }
        // A URL without credentials in its query is not continued from a
        // part file fetched with some.
        wanted.query_credentials = None;
        let text = refused(decide(&recorded(url, Some(mine.clone())), &wanted));
        assert!(text.contains("other credentials"), "{text}");
    }

    #[test]
    fn a_size_contradicting_the_expected_one_is_refused() {
        let c = control(Some(10), etag(), &[0..4]);
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
            let c = control(Some(10), validator, &[0..5]);
            assert_eq!(
                held(decide(&part(5, Some(c)), &wanted(None, &[], false))),
                Held::default()
            );
        }
        let by_date = Validator {
            etag: None,
            last_modified: Some("Tue, 01 Dec 2026 00:00:00 GMT".into()),
        };
        let c = control(Some(10), by_date.clone(), &[0..5]);
        let h = held(decide(&part(5, Some(c)), &wanted(None, &[], false)));
        assert_eq!(
            h.validator,
            Some(by_date),
            "a Last-Modified date validates too"
        );
    }

    #[test]
    fn a_stream_holds_what_its_records_say_not_its_length() {
        // A stream's part file may be longer than its records (a write
        // whose record was never appended): the records decide.
        let c = control(Some(10), etag(), &[0..2, 2..4]);
        let h = held(decide(&part(6, Some(c)), &wanted(Some(10), &[], false)));
        assert_eq!(ranges(&h), [0..4]);
        assert_eq!(h.records, vec![record(0..2), record(2..4)]);
        assert_eq!((h.total, h.validator), (Some(10), Some(etag())));
        // Unknown size: the part file's length bounds the records.
        let c = control(None, etag(), &[0..4, 4..8]);
        let h = held(decide(&part(6, Some(c)), &wanted(None, &[], false)));
        assert_eq!((ranges(&h), h.total), (vec![0..4], None));
        // No records: nothing held, whatever the length.
        let c = control(Some(10), etag(), &[]);
        assert_eq!(
            held(decide(&part(10, Some(c)), &wanted(None, &[], false))),
            Held::default()
        );
    }

    #[test]
    fn records_are_kept_whole_within_the_part_file_and_the_size() {
        let records = [0..10, 50..60, 90..120];
        let c = control(Some(100), etag(), &records);
        let h = held(decide(&part(200, Some(c)), &wanted(None, &[], false)));
        assert_eq!(ranges(&h), [0..10, 50..60], "past the size: dropped whole");
        // A part file shorter than its records (a full disk, a truncation,
        // a crash before the preallocation): only records it holds whole.
        let c = control(Some(100), etag(), &records);
        let h = held(decide(&part(55, Some(c)), &wanted(None, &[], false)));
        assert_eq!(ranges(&h), [0..10]);
        let c = control(Some(100), etag(), &[20..30]);
        assert_eq!(
            held(decide(&part(0, Some(c)), &wanted(None, &[], false))),
            Held::default(),
            "an empty part file continues nothing"
        );
    }

    #[test]
    fn only_verified_records_are_kept() {
        let c = control(Some(100), etag(), &[0..10, 10..20, 40..50, 40..50, 60..70]);
        let h = held(decide(&part(100, Some(c)), &wanted(None, &[], false)));
        // The checksums of 10..20 and 60..70 no longer match their bytes.
        let kept = h.keep(|r| r.offset != 10 && r.offset != 60);
        assert_eq!(ranges(&kept), [0..10, 40..50]);
        assert_eq!(
            kept.records,
            vec![record(0..10), record(40..50)],
            "each once"
        );
        assert_eq!(kept.validator, Some(etag()));
        let c = control(Some(100), etag(), &[0..10]);
        let h = held(decide(&part(100, Some(c)), &wanted(None, &[], false)));
        assert_eq!(h.keep(|_| false), Held::default(), "none left: start over");
    }

    #[test]
    fn an_existing_match_wins_over_a_part_file() {
        let on_disk = OnDisk {
            existing: Some(Existing {
                len: 3,
                digests: vec![],
                link: false,
            }),
            part: Some(Part {
                len: 1,
                control: Some(control(Some(3), etag(), &[0..1])),
            }),
        };
        assert!(matches!(
            decide(&on_disk, &wanted(Some(3), &[], false)),
            Decision::Skip { .. }
        ));
    }
}
