//! The strategy stage: one stream, or segments over several connections,
//! and the size of the pieces handed out. Pure: it decides from what the
//! first answer said, what is held, and the settings.

use std::time::Duration;

/// What is known when the first answer of an attempt arrived.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Facts {
    /// The resource size, when announced.
    pub total: Option<u64>,
    /// The server serves byte ranges of it.
    pub ranges: bool,
    /// It came with a validator a range request can be checked against.
    pub validated: bool,
    /// Where the body of the answer starts.
    pub offset: u64,
    /// Bytes are held beyond a prefix (an earlier segmented run's ranges):
    /// only range requests can fill the gaps.
    pub held_scattered: bool,
}

/// The settings the choice follows.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// Connections one file may use.
    pub split: usize,
    /// The smallest piece; a file below two of them goes in one stream.
    pub min_split: u64,
    /// False after a server answered a range of this file with the whole
    /// file: it ignores Range, so segments cannot work.
    pub segments_allowed: bool,
}

/// How the body is fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// The answer's body, to its end.
    Stream,
    /// Ranges of a `len`-byte resource over several connections (the
    /// answer's body becomes the first).
    Segments {
        /// The resource size.
        len: u64,
    },
}

/// Chooses how to fetch. Segments need Range, a validator (so every range
/// is of one version) and a known size; they are chosen for a fresh file
/// of at least two pieces when more than one connection is allowed, and
/// always to fill the gaps of scattered held bytes.
pub(crate) fn choose(facts: &Facts, settings: &Settings) -> Strategy {
    let Some(len) = facts.total else {
        return Strategy::Stream;
    };
    if !(facts.ranges && facts.validated && settings.segments_allowed) {
        return Strategy::Stream;
    }
    let worth_splitting =
        settings.split > 1 && facts.offset == 0 && len >= settings.min_split.saturating_mul(2);
    if facts.held_scattered || worth_splitting {
        Strategy::Segments { len }
    } else {
        Strategy::Stream
    }
}

/// The size of the pieces a segmented download hands out in order: at
/// least `min_split`, and large enough that fetching a piece takes eight
/// times the request's `latency` at the `rate` seen, so waiting for
/// answers costs at most an eighth of the time. Small pieces keep the
/// digest frontier close behind the connections; on a link with latency
/// they would mostly wait (measured: 64 MiB files behind 50 ms of latency
/// took twice as long with 4 MiB pieces).
pub(crate) fn piece_size(min_split: u64, rate: Option<f64>, latency: Duration) -> u64 {
    let covering = rate.map_or(0.0, |rate| rate * latency.as_secs_f64() * 8.0);
    if covering.is_finite() && covering > min_split as f64 {
        covering.min(u64::MAX as f64 / 2.0) as u64
    } else {
        min_split
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn facts(total: Option<u64>) -> Facts {
        Facts {
            total,
            ranges: true,
            validated: true,
            offset: 0,
            held_scattered: false,
        }
    }

    fn settings(split: usize) -> Settings {
        Settings {
            split,
            min_split: 4 * MIB,
            segments_allowed: true,
        }
    }

    #[test]
    fn segments_need_range_a_validator_a_size_and_two_pieces() {
        let big = Some(8 * MIB);
        assert_eq!(
            choose(&facts(big), &settings(8)),
            Strategy::Segments { len: 8 * MIB }
        );
        assert_eq!(
            choose(&facts(Some(8 * MIB - 1)), &settings(8)),
            Strategy::Stream,
            "under two pieces"
        );
        assert_eq!(
            choose(&facts(None), &settings(8)),
            Strategy::Stream,
            "unknown size"
        );
        assert_eq!(
            choose(&facts(big), &settings(1)),
            Strategy::Stream,
            "one connection allowed"
        );
        for f in [
            Facts {
                ranges: false,
                ..facts(big)
            },
            Facts {
                validated: false,
                ..facts(big)
            },
            Facts {
                offset: 5,
                ..facts(big)
            },
        ] {
            assert_eq!(choose(&f, &settings(8)), Strategy::Stream, "{f:?}");
        }
        let ignores_range = Settings {
            segments_allowed: false,
            ..settings(8)
        };
        assert_eq!(choose(&facts(big), &ignores_range), Strategy::Stream);
    }

    #[test]
    fn scattered_held_bytes_are_filled_by_segments_even_over_one_connection() {
        let f = Facts {
            held_scattered: true,
            offset: 100,
            ..facts(Some(MIB))
        };
        assert_eq!(choose(&f, &settings(1)), Strategy::Segments { len: MIB });
        let no_range = Facts { ranges: false, ..f };
        assert_eq!(
            choose(&no_range, &settings(8)),
            Strategy::Stream,
            "then start over"
        );
    }

    #[test]
    fn pieces_grow_with_latency_times_rate() {
        let ms = Duration::from_millis;
        assert_eq!(
            piece_size(4 * MIB, None, ms(50)),
            4 * MIB,
            "unmeasured: the minimum"
        );
        assert_eq!(
            piece_size(4 * MIB, Some(20e6), Duration::from_micros(100)),
            4 * MIB,
            "loopback"
        );
        // 100 MB/s behind 50 ms: a piece of 40 MB takes eight round trips.
        assert_eq!(piece_size(4 * MIB, Some(100e6), ms(50)), 40_000_000);
        assert_eq!(
            piece_size(4 * MIB, Some(f64::INFINITY), ms(50)),
            4 * MIB,
            "no nonsense from a zero-time sample"
        );
        assert_eq!(piece_size(4 * MIB, Some(f64::NAN), ms(50)), 4 * MIB);
    }
}
