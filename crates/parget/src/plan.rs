//! Segment planning for downloading one file over several connections.
//!
//! Pure logic, no I/O. The file `[0, len)` is divided between workers: an
//! idle worker first gets the lowest unassigned gap (holes left on disk by a
//! previous run, or ranges released by workers that failed or were given
//! up); when none is left it steals the back half of the active segment with
//! the most bytes left, so no single slow tail remains at the end. A split
//! never leaves either half below `min_split` bytes.
//!
//! At every moment the received bytes, the active segments' remaining
//! `[pos, end)` and the unassigned gaps partition `[0, len)` exactly.

use std::collections::BTreeMap;
use std::ops::Range;

/// Merged, sorted, disjoint half-open intervals of `u64` (byte ranges).
///
/// Adjacent ranges are merged too, so [`RangeSet::ranges`] is canonical: two
/// sets holding the same bytes compare equal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RangeSet {
    /// Sorted by start; non-empty, non-overlapping and non-adjacent.
    ranges: Vec<Range<u64>>,
}

impl RangeSet {
    /// An empty set.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The union of `ranges`; overlapping and adjacent ranges are merged,
    /// empty (and inverted, `start > end`) ranges are ignored.
    pub(crate) fn from_ranges(ranges: impl IntoIterator<Item = Range<u64>>) -> Self {
        let mut set = Self::new();
        for range in ranges {
            set.insert(range);
        }
        set
    }

    /// Adds the bytes of `range`, merging with overlapping or adjacent
    /// ranges. Empty and inverted ranges are ignored.
    pub(crate) fn insert(&mut self, range: Range<u64>) {
        if range.start >= range.end {
            return;
        }
        // Ranges ending before `range.start` (not even touching) stay as they
        // are; so do those starting after `range.end`. Everything between
        // touches or overlaps `range` and is merged into one.
        let first = self.ranges.partition_point(|r| r.end < range.start);
        let past_last = self.ranges.partition_point(|r| r.start <= range.end);
        if first >= past_last {
            self.ranges.insert(first, range);
            return;
        }
        let merged = range.start.min(self.ranges[first].start)
            ..range.end.max(self.ranges[past_last - 1].end);
        self.ranges.splice(first..past_last, [merged]);
    }

    /// Removes the bytes of `range`, splitting a range that straddles it.
    /// Empty and inverted ranges are ignored.
    pub(crate) fn remove(&mut self, range: Range<u64>) {
        if range.start >= range.end {
            return;
        }
        let first = self.ranges.partition_point(|r| r.end <= range.start);
        let past_last = self.ranges.partition_point(|r| r.start < range.end);
        if first >= past_last {
            return;
        }
        let head = self.ranges[first].start..range.start;
        let tail = range.end..self.ranges[past_last - 1].end;
        let kept = [head, tail].into_iter().filter(|r| r.start < r.end);
        self.ranges.splice(first..past_last, kept);
    }

    /// The ranges: sorted, disjoint, non-empty, adjacent ones merged.
    pub(crate) fn ranges(&self) -> &[Range<u64>] {
        &self.ranges
    }

    /// Whether the set holds no byte.
    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Whether byte `offset` is in the set.
    #[cfg(test)]
    pub(crate) fn contains(&self, offset: u64) -> bool {
        let index = self.ranges.partition_point(|r| r.end <= offset);
        self.ranges.get(index).is_some_and(|r| r.start <= offset)
    }

    /// Total number of bytes in the set.
    pub(crate) fn covered(&self) -> u64 {
        // Disjoint sub-ranges of u64 cannot sum past u64::MAX; saturating
        // only to make that obvious.
        self.ranges
            .iter()
            .fold(0u64, |total, r| total.saturating_add(r.end - r.start))
    }

    /// How far the bytes are contiguous from 0: the end of the range starting
    /// at 0, or 0 if byte 0 is missing.
    pub(crate) fn frontier(&self) -> u64 {
        match self.ranges.first() {
            Some(r) if r.start == 0 => r.end,
            _ => 0,
        }
    }

    /// The complement within `[0, len)`, sorted.
    pub(crate) fn gaps(&self, len: u64) -> Vec<Range<u64>> {
        let mut gaps = Vec::new();
        let mut cursor = 0u64;
        for r in &self.ranges {
            if r.start >= len {
                break;
            }
            if r.start > cursor {
                gaps.push(cursor..r.start);
            }
            cursor = r.end;
        }
        if cursor < len {
            gaps.push(cursor..len);
        }
        gaps
    }

    /// The part of the set inside `[0, len)`.
    pub(crate) fn clipped(&self, len: u64) -> RangeSet {
        let ranges = self
            .ranges
            .iter()
            .take_while(|r| r.start < len)
            .map(|r| r.start..r.end.min(len))
            .collect();
        RangeSet { ranges }
    }
}

/// Identifies one segment of a [`Plan`]; never reused within a plan.
pub(crate) type SegmentId = usize;

/// A piece of work for one connection: request bytes `[start, end)`.
///
/// The segment may shrink later (another worker steals its back half), so the
/// worker must feed every received chunk through [`Plan::advance`] and stop
/// when it reports `finished`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Work {
    /// The segment to report progress for.
    pub id: SegmentId,
    /// First byte to request.
    pub start: u64,
    /// One past the last byte to request.
    pub end: u64,
}

/// The outcome of [`Plan::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Advance {
    /// How many of the reported bytes belong to the segment; the caller must
    /// drop (not write) the rest, which now belongs to another segment.
    pub keep: u64,
    /// The segment has no byte left: the worker should stop streaming it.
    pub finished: bool,
}

/// An active segment: bytes `[pos, end)` are still to be received.
/// Invariant: `pos < end` (finished segments are removed).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    pos: u64,
    end: u64,
}

impl Segment {
    fn remaining(&self) -> u64 {
        self.end - self.pos
    }
}

/// Who downloads which bytes of one file.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    len: u64,
    /// Never 0: a split must leave at least one byte on both sides.
    min_split: u64,
    received: RangeSet,
    /// Bytes neither received nor held by an active segment.
    unassigned: RangeSet,
    /// Active segments by id; ordered so ties are broken deterministically.
    segments: BTreeMap<SegmentId, Segment>,
    next_id: SegmentId,
    /// When set, gaps are handed out in pieces of this size, lowest first.
    piece: Option<u64>,
    /// When set, every cut falls on a multiple of this many bytes (the
    /// length of the pieces whose hashes are checked).
    align: Option<u64>,
}

impl Plan {
    /// A plan for `len` bytes, of which `done` are already on disk (ranges
    /// past `len` are ignored). `min_split` is the smallest piece a split may
    /// leave; 0 is treated as 1.
    pub(crate) fn new(len: u64, min_split: u64, done: &RangeSet) -> Plan {
        let received = done.clipped(len);
        let unassigned = RangeSet {
            ranges: received.gaps(len),
        };
        Plan {
            len,
            min_split: min_split.max(1),
            received,
            unassigned,
            segments: BTreeMap::new(),
            next_id: 0,
            piece: None,
            align: None,
        }
    }

    /// Makes every cut fall on a multiple of `align` bytes (0 is treated as
    /// 1): each range handed out is then whole pieces of that length (the
    /// last may end with the file), which a connection can check alone.
    /// Ranges already done should be whole pieces too.
    pub(crate) fn aligned(mut self, align: u64) -> Plan {
        let align = align.max(1);
        self.align = Some(align);
        self.min_split = self
            .min_split
            .max(align)
            .div_ceil(align)
            .saturating_mul(align);
        self
    }

    /// `at`, moved down to the alignment.
    fn snap(&self, at: u64) -> u64 {
        match self.align {
            Some(align) => at / align * align,
            None => at,
        }
    }

    /// The bytes of `range` were received but must be fetched again (they
    /// failed a check): they become an unassigned gap.
    pub(crate) fn unreceive(&mut self, range: Range<u64>) {
        let range = range.start..range.end.min(self.len);
        self.received.remove(range.clone());
        self.unassigned.insert(range);
    }

    /// Hands gaps out in pieces of `piece` bytes, lowest first, rather than
    /// whole: the connections then work side by side near the start of
    /// what is missing, so the contiguous frontier (which a digest like
    /// SHA-256 must follow in order) advances at their combined rate
    /// instead of one connection's. A gap is handed out whole when cutting
    /// it would leave a remainder under `min_split`. 0 is treated as 1.
    #[cfg(test)]
    pub(crate) fn with_pieces(mut self, piece: u64) -> Plan {
        self.piece = Some(piece.max(1));
        self
    }

    /// Gets ready for more connections: gaps are handed out in pieces of
    /// `piece` bytes from now on, and when nothing is unassigned, the
    /// active segment with the most bytes left keeps one piece and gives
    /// the rest back, so the newcomers take pieces right after it and the
    /// contiguous frontier stays close behind them all.
    pub(crate) fn prepare_for_more(&mut self, piece: u64) {
        let piece = piece.max(self.min_split);
        self.piece = Some(piece);
        if !self.unassigned.is_empty() {
            return;
        }
        let largest = self
            .segments
            .values_mut()
            .max_by_key(|segment| segment.remaining());
        let Some((pos, end)) = largest.map(|segment| (segment.pos, segment.end)) else {
            return;
        };
        let cut = self.snap(pos + piece);
        if cut > pos && end.saturating_sub(cut) >= self.min_split {
            self.unassigned.insert(cut..end);
            if let Some(segment) = self
                .segments
                .values_mut()
                .find(|s| s.pos == pos && s.end == end)
            {
                segment.end = cut;
            }
        }
    }

    /// Back to one connection: gaps are handed out whole again, so the
    /// one left fetches the rest of the file in one request, in order,
    /// rather than a request per piece. More connections later cut it, as
    /// [`Plan::prepare_for_more`] cuts the first stream.
    pub(crate) fn prepare_for_one(&mut self) {
        self.piece = None;
    }

    /// Work for an idle worker, or `None` when there is nothing to give.
    ///
    /// The lowest unassigned gap is handed out whole (an idle worker that
    /// comes later splits it by stealing, so there is no need to cut it
    /// here). Without gaps, the active segment with the most bytes left is
    /// split at the midpoint of its remaining part: it keeps `[pos, mid)`,
    /// the new segment gets `[mid, end)`; only when both halves are at least
    /// `min_split` bytes. Ties go to the oldest segment.
    pub(crate) fn next_work(&mut self) -> Option<Work> {
        let id = self.next_id;
        // Checked before anything changes, so running out of ids (not
        // reachable in practice) loses no bytes.
        let following_id = id.checked_add(1)?;
        let range = match self.unassigned.ranges().first().cloned() {
            Some(gap) => {
                let piece = match self.piece {
                    Some(piece) if gap.end - gap.start >= piece.saturating_add(self.min_split) => {
                        let cut = self.snap(gap.start + piece).max(gap.start + 1);
                        gap.start..cut
                    }
                    _ => gap,
                };
                self.unassigned.remove(piece.clone());
                piece
            }
            None => self.split_largest()?,
        };
        self.next_id = following_id;
        self.segments.insert(
            id,
            Segment {
                pos: range.start,
                end: range.end,
            },
        );
        Some(Work {
            id,
            start: range.start,
            end: range.end,
        })
    }

    /// Shrinks the segment with the most bytes left to its front half and
    /// returns the back half, if both halves are at least `min_split`.
    fn split_largest(&mut self) -> Option<Range<u64>> {
        let mut victim: Option<&mut Segment> = None;
        for segment in self.segments.values_mut() {
            if victim
                .as_ref()
                .is_none_or(|best| segment.remaining() > best.remaining())
            {
                victim = Some(segment);
            }
        }
        let (pos, end) = {
            let victim = victim?;
            (victim.pos, victim.end)
        };
        let remaining = end - pos;
        if remaining < self.min_split.saturating_mul(2) {
            return None;
        }
        // The front half is the smaller one when odd: the victim is already
        // streaming it, so it is the sooner to finish anyway.
        let mid = self.snap(pos + remaining / 2);
        if mid <= pos || end - mid < self.min_split {
            return None;
        }
        let victim = self
            .segments
            .values_mut()
            .find(|s| s.pos == pos && s.end == end)?;
        victim.end = mid;
        Some(mid..end)
    }

    /// Segment `id` received `n` more bytes at its current position.
    ///
    /// Returns how many of them fall inside the segment (it may have shrunk
    /// since the worker asked for its range) and whether the segment is now
    /// finished. Unknown, finished or released ids: `keep` 0, `finished`.
    pub(crate) fn advance(&mut self, id: SegmentId, n: u64) -> Advance {
        let Some(segment) = self.segments.get_mut(&id) else {
            return Advance {
                keep: 0,
                finished: true,
            };
        };
        let keep = n.min(segment.remaining());
        let start = segment.pos;
        segment.pos += keep;
        let finished = segment.pos == segment.end;
        self.received.insert(start..start + keep);
        if finished {
            self.segments.remove(&id);
        }
        Advance { keep, finished }
    }

    /// The bytes `[pos, end)` still to come for active segment `id`; `None`
    /// if unknown, finished or released.
    pub(crate) fn segment(&self, id: SegmentId) -> Option<Range<u64>> {
        self.segments.get(&id).map(|s| s.pos..s.end)
    }

    /// Every active segment with its remaining `[pos, end)`, by id.
    #[cfg(test)]
    pub(crate) fn active_segments(&self) -> impl Iterator<Item = (SegmentId, Range<u64>)> + '_ {
        self.segments.iter().map(|(&id, s)| (id, s.pos..s.end))
    }

    /// The worker of `id` gives up: its remaining bytes become an unassigned
    /// gap, handed out by the next [`Plan::next_work`]. Unknown ids: no-op.
    pub(crate) fn release(&mut self, id: SegmentId) {
        if let Some(segment) = self.segments.remove(&id) {
            self.unassigned.insert(segment.pos..segment.end);
        }
    }

    /// All bytes received so far, including those on disk at the start.
    pub(crate) fn received(&self) -> &RangeSet {
        &self.received
    }

    /// Bytes that are neither received nor held by an active segment.
    #[cfg(test)]
    pub(crate) fn unassigned(&self) -> &RangeSet {
        &self.unassigned
    }

    /// Whether every byte of `[0, len)` has been received.
    pub(crate) fn is_complete(&self) -> bool {
        self.remaining() == 0
    }

    /// Bytes not yet received.
    pub(crate) fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.received.covered())
    }

    /// Segments currently assigned and not finished.
    pub(crate) fn active(&self) -> usize {
        self.segments.len()
    }

    /// The file length.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The smallest piece a split leaves (at least 1).
    #[cfg(test)]
    pub(crate) fn min_split(&self) -> u64 {
        self.min_split
    }
}

/// The measured transfer rate of one active segment, for [`pick_slow`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SegmentRate {
    /// The segment measured.
    pub id: SegmentId,
    /// Its recent rate; NaN, infinite or negative means "not measured yet".
    pub bytes_per_sec: f64,
    /// Bytes it still has to fetch.
    pub remaining: u64,
}

/// Picks one segment far slower than the others, worth giving up so its
/// bytes can be fetched again by a faster connection.
///
/// A candidate has a rate below `fastest / ratio`, at least `min_split`
/// bytes left (and at least 1), and at its rate would finish later than the
/// fastest segment could fetch the same bytes twice over. Of the candidates,
/// the one with the latest projected finish is returned (ties: more bytes
/// left, then the first given).
///
/// Only finite, non-negative rates count as measured (NaN or infinity come
/// from an empty measuring window and say nothing); at least two measured
/// segments are needed. A zero rate with bytes left projects an infinite
/// finish, so a stalled segment is the slowest. If every measured rate is
/// zero there is nothing to compare with and none is picked. A NaN `ratio`
/// or one below 1 is treated as 1.
pub(crate) fn pick_slow(rates: &[SegmentRate], ratio: f64, min_split: u64) -> Option<SegmentId> {
    let measured = || {
        rates
            .iter()
            .filter(|r| r.bytes_per_sec.is_finite() && r.bytes_per_sec >= 0.0)
    };
    // A single measured segment has nothing to be compared with.
    measured().nth(1)?;
    let fastest = measured().map(|r| r.bytes_per_sec).fold(0.0, f64::max);
    if fastest <= 0.0 {
        return None;
    }
    let ratio = if ratio >= 1.0 { ratio } else { 1.0 };
    let slow_below = fastest / ratio;
    let min_left = min_split.max(1);
    measured()
        .filter(|r| r.remaining >= min_left && r.bytes_per_sec < slow_below)
        .filter_map(|r| {
            let left = r.remaining as f64;
            let projected_finish = if r.bytes_per_sec > 0.0 {
                left / r.bytes_per_sec
            } else {
                f64::INFINITY
            };
            let refetch_twice = 2.0 * left / fastest;
            (projected_finish > refetch_twice).then_some((projected_finish, r.remaining, r.id))
        })
        .enumerate()
        // `max_by` keeps the last of equals; comparing the position in
        // reverse makes the first given win ties instead.
        .max_by(|(i, a), (j, b)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(j.cmp(i)))
        .map(|(_, (_, _, id))| id)
}

#[cfg(test)]
// `&[0..4]` here is a list of byte ranges, not a misspelt `Vec` of numbers.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(ranges: &[Range<u64>]) -> RangeSet {
        RangeSet::from_ranges(ranges.iter().cloned())
    }

    fn work(id: SegmentId, range: Range<u64>) -> Work {
        Work {
            id,
            start: range.start,
            end: range.end,
        }
    }

    fn rate(id: SegmentId, bytes_per_sec: f64, remaining: u64) -> SegmentRate {
        SegmentRate {
            id,
            bytes_per_sec,
            remaining,
        }
    }

    // ---- RangeSet ----

    #[test]
    fn range_set_merges_overlapping_and_adjacent_and_drops_empty() {
        // Empty and inverted ranges on purpose.
        #[allow(clippy::reversed_empty_ranges)]
        let s = set(&[10..20, 5..5, 30..40, 20..25, 18..22, 50..45, 0..3, 3..4]);
        assert_eq!(s.ranges(), &[0..4, 10..25, 30..40]);
        let mut s = s;
        s.insert(4..10);
        assert_eq!(s.ranges(), &[0..25, 30..40]);
        s.insert(0..100);
        assert_eq!(s.ranges(), &[0..100]);
    }

    #[test]
    fn range_set_queries() {
        let s = set(&[0..4, 10..20]);
        assert!(s.contains(0) && s.contains(3) && s.contains(10) && s.contains(19));
        assert!(!s.contains(4) && !s.contains(9) && !s.contains(20));
        assert_eq!(s.covered(), 14);
        assert_eq!(s.frontier(), 4);
        assert_eq!(s.gaps(30), vec![4..10, 20..30]);
        assert_eq!(s.gaps(15), vec![4..10]);
        assert_eq!(s.gaps(0), Vec::<Range<u64>>::new());
        assert_eq!(set(&[5..9]).frontier(), 0);
        assert_eq!(RangeSet::new().gaps(7), vec![0..7]);
        assert_eq!(RangeSet::new().frontier(), 0);
        assert_eq!(s.clipped(12).ranges(), &[0..4, 10..12]);
    }

    #[test]
    fn range_set_remove_splits() {
        let mut s = set(&[0..10, 20..30]);
        s.remove(5..25);
        assert_eq!(s.ranges(), &[0..5, 25..30]);
        s.remove(2..3);
        assert_eq!(s.ranges(), &[0..2, 3..5, 25..30]);
        s.remove(40..50);
        assert_eq!(s.ranges(), &[0..2, 3..5, 25..30]);
        s.remove(0..100);
        assert!(s.is_empty());
    }

    #[test]
    fn pieces_are_handed_out_in_order() {
        let mut plan = Plan::new(65, 10, &RangeSet::new()).with_pieces(20);
        let handed: Vec<(u64, u64)> = (0..3)
            .map(|_| plan.next_work().map(|w| (w.start, w.end)).unwrap())
            .collect();
        assert_eq!(
            handed,
            vec![(0, 20), (20, 40), (40, 65)],
            "a remainder under min_split stays with the last piece"
        );
        assert_eq!(
            plan.next_work().map(|w| (w.start, w.end)),
            Some((52, 65)),
            "then stealing, as without pieces"
        );
        // A finished piece is followed by the next lowest gap; a released
        // one comes back first.
        let mut plan = Plan::new(100, 10, &RangeSet::new()).with_pieces(20);
        let first = plan.next_work().unwrap();
        let second = plan.next_work().unwrap();
        plan.release(second.id);
        plan.advance(first.id, 20);
        assert_eq!(plan.next_work().map(|w| (w.start, w.end)), Some((20, 40)));
        assert_eq!(plan.next_work().map(|w| (w.start, w.end)), Some((40, 60)));
    }

    #[test]
    fn back_to_one_connection_the_rest_is_handed_out_whole_and_cut_again_for_more() {
        let mut plan = Plan::new(100, 10, &RangeSet::new());
        plan.prepare_for_more(20);
        let first = plan.next_work().unwrap();
        assert_eq!((first.start, first.end), (0, 20));
        plan.prepare_for_one();
        let rest = plan.next_work().unwrap();
        assert_eq!((rest.start, rest.end), (20, 100), "the rest, whole");
        // Another connection joins: the one streaming keeps a piece.
        plan.advance(rest.id, 5);
        plan.prepare_for_more(20);
        assert_eq!(plan.segment(rest.id), Some(25..45));
        assert_eq!(plan.next_work().map(|w| (w.start, w.end)), Some((45, 65)));
    }

    #[test]
    fn range_set_handles_extreme_offsets() {
        let mut s = set(&[u64::MAX - 1..u64::MAX, 0..1]);
        assert_eq!(s.covered(), 2);
        assert!(s.contains(u64::MAX - 1) && !s.contains(u64::MAX));
        s.insert(0..u64::MAX);
        assert_eq!(s.ranges(), &[0..u64::MAX]);
        assert_eq!(s.covered(), u64::MAX);
        assert_eq!(s.gaps(u64::MAX), Vec::<Range<u64>>::new());
    }

    // ---- Plan ----

    #[test]
    fn fresh_plan_hands_out_whole_file_first() {
        let mut plan = Plan::new(1000, 10, &RangeSet::new());
        assert_eq!(plan.next_work(), Some(work(0, 0..1000)));
        assert_eq!(plan.active(), 1);
        assert_eq!(plan.remaining(), 1000);
        assert!(!plan.is_complete());
    }

    #[test]
    fn second_request_splits_remaining_part_at_midpoint() {
        let mut plan = Plan::new(1000, 10, &RangeSet::new());
        let first = plan.next_work().unwrap();
        assert_eq!(plan.advance(first.id, 100).keep, 100);
        // 900 left at 100: the split is at 100 + 450.
        assert_eq!(plan.next_work(), Some(work(1, 550..1000)));
        assert_eq!(plan.segment(0), Some(100..550));
        assert_eq!(plan.segment(1), Some(550..1000));
        // Odd remaining: the victim keeps the smaller front half.
        let mut plan = Plan::new(7, 1, &RangeSet::new());
        plan.next_work();
        assert_eq!(plan.next_work(), Some(work(1, 3..7)));
    }

    #[test]
    fn split_takes_segment_with_most_remaining() {
        let mut plan = Plan::new(1000, 1, &RangeSet::new());
        plan.next_work(); // 0: 0..1000
        plan.next_work(); // 1: 500..1000, 0 keeps 0..500
        plan.advance(1, 400); // 1 has 100 left, 0 has 500
        assert_eq!(plan.next_work(), Some(work(2, 250..500)));
        // Tie (250 vs 250): the oldest is split.
        assert_eq!(plan.next_work(), Some(work(3, 125..250)));
    }

    #[test]
    fn splitting_stops_below_twice_min_split() {
        let mut plan = Plan::new(40, 10, &RangeSet::new());
        assert_eq!(plan.next_work(), Some(work(0, 0..40)));
        assert_eq!(plan.next_work(), Some(work(1, 20..40)));
        assert_eq!(plan.next_work(), Some(work(2, 10..20)));
        assert_eq!(plan.next_work(), Some(work(3, 30..40)));
        // Every segment has exactly 10 = min_split left: no more splits.
        assert_eq!(plan.next_work(), None);
        let mut plan = Plan::new(39, 10, &RangeSet::new());
        plan.next_work();
        // 0 keeps 0..19, 1 takes 19..39: 20 left there is still splittable.
        assert_eq!(plan.next_work(), Some(work(1, 19..39)));
        assert_eq!(plan.next_work(), Some(work(2, 29..39)));
        // 19, 10 and 10 left: all below 2 * 10.
        assert_eq!(plan.next_work(), None);
        // A request that got nothing consumed no id.
        plan.release(0);
        assert_eq!(plan.next_work(), Some(work(3, 0..19)));
    }

    #[test]
    fn advance_past_shrunk_end_keeps_only_up_to_end() {
        let mut plan = Plan::new(100, 1, &RangeSet::new());
        let first = plan.next_work().unwrap();
        plan.next_work(); // first now ends at 50
        assert_eq!(
            plan.advance(first.id, 30),
            Advance {
                keep: 30,
                finished: false
            }
        );
        assert_eq!(
            plan.advance(first.id, 40),
            Advance {
                keep: 20,
                finished: true
            }
        );
        assert_eq!(plan.segment(first.id), None);
        assert_eq!(plan.received().ranges(), &[0..50]);
        assert_eq!(
            plan.advance(first.id, 5),
            Advance {
                keep: 0,
                finished: true
            }
        );
        assert_eq!(plan.advance(1, 0).keep, 0);
        assert!(!plan.advance(1, 0).finished);
        assert_eq!(plan.advance(1, u64::MAX).keep, 50);
        assert!(plan.is_complete());
    }

    #[test]
    fn release_returns_rest_as_gap_handed_out_first() {
        let mut plan = Plan::new(100, 1, &RangeSet::new());
        plan.next_work(); // 0: 0..50 after the split
        plan.next_work(); // 1: 50..100
        plan.advance(1, 20);
        plan.release(1);
        assert_eq!(plan.segment(1), None);
        assert_eq!(plan.active(), 1);
        assert_eq!(plan.unassigned().ranges(), &[70..100]);
        // The gap comes before any split, even though segment 0 is larger.
        assert_eq!(plan.next_work(), Some(work(2, 70..100)));
        assert!(plan.unassigned().is_empty());
        // Bytes received before the release stay received.
        assert_eq!(plan.received().ranges(), &[50..70]);
        assert_eq!(plan.remaining(), 80);
        assert!(plan.advance(1, 5).finished);
        plan.release(1);
        plan.release(999);
        assert!(plan.unassigned().is_empty());
    }

    #[test]
    fn resume_hands_out_gaps_lowest_first() {
        let done = set(&[0..10, 30..60, 80..90]);
        let mut plan = Plan::new(100, 5, &done);
        assert_eq!(plan.remaining(), 50);
        assert_eq!(plan.received(), &done);
        assert_eq!(plan.next_work(), Some(work(0, 10..30)));
        assert_eq!(plan.next_work(), Some(work(1, 60..80)));
        assert_eq!(plan.next_work(), Some(work(2, 90..100)));
        // Then the largest (first of equals) is split.
        assert_eq!(plan.next_work(), Some(work(3, 20..30)));
    }

    #[test]
    fn resume_clips_done_ranges_to_len() {
        let plan = Plan::new(50, 5, &set(&[40..70, 100..200]));
        assert_eq!(plan.received().ranges(), &[40..50]);
        assert_eq!(plan.remaining(), 40);
        let plan = Plan::new(50, 5, &set(&[0..1000]));
        assert!(plan.is_complete());
        let mut plan = plan;
        assert_eq!(plan.next_work(), None);
    }

    #[test]
    fn zero_length_is_complete_at_once() {
        let mut plan = Plan::new(0, 10, &set(&[0..5]));
        assert!(plan.is_complete());
        assert_eq!(plan.remaining(), 0);
        assert_eq!(plan.next_work(), None);
        assert!(plan.received().is_empty());
    }

    #[test]
    fn min_split_larger_than_len_gives_one_segment() {
        let mut plan = Plan::new(100, 1000, &RangeSet::new());
        assert_eq!(plan.next_work(), Some(work(0, 0..100)));
        assert_eq!(plan.next_work(), None);
        let mut plan = Plan::new(100, u64::MAX, &RangeSet::new());
        plan.next_work();
        assert_eq!(plan.next_work(), None);
    }

    #[test]
    fn min_split_zero_is_treated_as_one() {
        let mut plan = Plan::new(2, 0, &RangeSet::new());
        assert_eq!(plan.min_split(), 1);
        assert_eq!(plan.next_work(), Some(work(0, 0..2)));
        assert_eq!(plan.next_work(), Some(work(1, 1..2)));
        assert_eq!(plan.next_work(), None);
    }

    #[test]
    fn ids_are_unique_and_never_reused() {
        let mut plan = Plan::new(1 << 20, 1, &RangeSet::new());
        let mut ids = Vec::new();
        for _ in 0..50 {
            let w = plan.next_work().unwrap();
            ids.push(w.id);
            if w.id % 3 == 0 {
                plan.release(w.id);
            } else if w.id % 3 == 1 {
                plan.advance(w.id, 1000);
            }
        }
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(unique, ids);
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn huge_length_splits_without_overflow() {
        let mut plan = Plan::new(u64::MAX, u64::MAX / 2, &RangeSet::new());
        assert_eq!(plan.next_work(), Some(work(0, 0..u64::MAX)));
        let half = u64::MAX / 2;
        assert_eq!(plan.next_work(), Some(work(1, half..u64::MAX)));
        assert_eq!(plan.next_work(), None);
        assert_eq!(plan.advance(1, u64::MAX).keep, u64::MAX - half);
        assert_eq!(plan.remaining(), half);
    }

    // ---- pick_slow ----

    #[test]
    fn pick_slow_picks_far_slower_segment() {
        let rates = [
            rate(1, 1_000_000.0, 10_000_000),
            rate(2, 900_000.0, 10_000_000),
            rate(3, 50_000.0, 10_000_000),
        ];
        assert_eq!(pick_slow(&rates, 8.0, 1024), Some(3));
    }

    #[test]
    fn pick_slow_none_when_similar() {
        let rates = [
            rate(1, 1_000_000.0, 10_000_000),
            rate(2, 500_000.0, 10_000_000),
            rate(3, 200_000.0, 10_000_000),
        ];
        assert_eq!(pick_slow(&rates, 8.0, 1024), None);
    }

    #[test]
    fn pick_slow_none_with_fewer_than_two_measured() {
        assert_eq!(pick_slow(&[], 8.0, 1), None);
        assert_eq!(pick_slow(&[rate(1, 0.0, 1000)], 8.0, 1), None);
        let rates = [rate(1, 1000.0, 1000), rate(2, f64::NAN, 1000)];
        assert_eq!(pick_slow(&rates, 8.0, 1), None);
    }

    #[test]
    fn pick_slow_zero_rate_counts_as_slowest() {
        let rates = [
            rate(1, 1000.0, 100_000),
            rate(2, 10.0, 100_000),
            rate(3, 0.0, 5_000),
        ];
        assert_eq!(pick_slow(&rates, 8.0, 1), Some(3));
        // All stalled: nothing to compare with.
        let stalled = [rate(1, 0.0, 1000), rate(2, 0.0, 1000)];
        assert_eq!(pick_slow(&stalled, 8.0, 1), None);
    }

    #[test]
    fn pick_slow_ignores_unmeasured_rates_and_bad_ratio() {
        let rates = [
            rate(1, f64::INFINITY, 100_000),
            rate(2, f64::NAN, 100_000),
            rate(3, -5.0, 100_000),
            rate(4, 1000.0, 100_000),
            rate(5, 10.0, 100_000),
        ];
        assert_eq!(pick_slow(&rates, 8.0, 1), Some(5));
        assert_eq!(pick_slow(&rates, f64::NAN, 1), Some(5));
        assert_eq!(pick_slow(&rates, -3.0, 1), Some(5));
        assert_eq!(pick_slow(&rates, f64::INFINITY, 1), None);
    }

    #[test]
    fn pick_slow_requires_min_split_left() {
        let rates = [rate(1, 1000.0, 100_000), rate(2, 1.0, 500)];
        assert_eq!(pick_slow(&rates, 8.0, 1000), None);
        assert_eq!(pick_slow(&rates, 8.0, 500), Some(2));
        let done = [rate(1, 1000.0, 100_000), rate(2, 0.0, 0)];
        assert_eq!(pick_slow(&done, 8.0, 0), None);
    }

    #[test]
    fn pick_slow_with_low_ratio_still_needs_twice_over() {
        // 1.5x slower is below fastest / 1, but refetching twice would take
        // longer than letting it finish.
        let rates = [rate(1, 1500.0, 100_000), rate(2, 1000.0, 100_000)];
        assert_eq!(pick_slow(&rates, 1.0, 1), None);
        let rates = [rate(1, 3000.0, 100_000), rate(2, 1000.0, 100_000)];
        assert_eq!(pick_slow(&rates, 1.0, 1), Some(2));
    }

    #[test]
    fn pick_slow_picks_latest_projected_finish() {
        let rates = [
            rate(1, 10_000.0, 1_000_000),
            rate(2, 100.0, 1_000),   // 10 s
            rate(3, 200.0, 100_000), // 500 s
            rate(4, 100.0, 20_000),  // 200 s
        ];
        assert_eq!(pick_slow(&rates, 8.0, 1), Some(3));
        // Two stalled: the one with more bytes left.
        let rates = [
            rate(1, 10_000.0, 1_000_000),
            rate(2, 0.0, 1_000),
            rate(3, 0.0, 9_000),
            rate(4, 0.0, 9_000),
        ];
        assert_eq!(pick_slow(&rates, 8.0, 1), Some(3));
    }

    // ---- properties ----

    /// Runs of `true` in `bits`, as ranges.
    fn runs(bits: &[bool], want: bool) -> Vec<Range<u64>> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, &bit) in bits.iter().chain([&!want]).enumerate() {
            match (bit == want, start) {
                (true, None) => start = Some(i as u64),
                (false, Some(s)) => {
                    out.push(s..i as u64);
                    start = None;
                }
                _ => {}
            }
        }
        out
    }

    const UNIVERSE: u64 = 72;

    fn any_range() -> impl Strategy<Value = Range<u64>> {
        (0..=UNIVERSE, 0..=UNIVERSE).prop_map(|(a, b)| a..b)
    }

    proptest! {
        #[test]
        fn range_set_matches_bitmap_model(
            ops in prop::collection::vec((any::<bool>(), any_range()), 0..30),
            len in 0..UNIVERSE + 8,
        ) {
            let mut s = RangeSet::new();
            let mut bits = vec![false; UNIVERSE as usize];
            for (is_insert, range) in ops {
                if is_insert {
                    s.insert(range.clone());
                } else {
                    s.remove(range.clone());
                }
                for i in range {
                    bits[i as usize] = is_insert;
                }
                prop_assert_eq!(s.ranges(), &runs(&bits, true)[..]);
                prop_assert_eq!(s.covered(), bits.iter().filter(|&&b| b).count() as u64);
                prop_assert_eq!(s.frontier(), bits.iter().take_while(|&&b| b).count() as u64);
                for (offset, &bit) in bits.iter().enumerate() {
                    prop_assert_eq!(s.contains(offset as u64), bit);
                }
                let within: Vec<bool> =
                    (0..len).map(|i| bits.get(i as usize).copied().unwrap_or(false)).collect();
                prop_assert_eq!(s.gaps(len), runs(&within, false));
                prop_assert_eq!(s.clipped(len).ranges().to_vec(), runs(&within, true));
            }
        }

        #[test]
        fn range_set_from_ranges_equals_inserts(
            ranges in prop::collection::vec(any_range(), 0..20),
        ) {
            let mut bits = vec![false; UNIVERSE as usize];
            for r in &ranges {
                for i in r.clone() {
                    bits[i as usize] = true;
                }
            }
            let s = RangeSet::from_ranges(ranges);
            prop_assert_eq!(s.ranges(), &runs(&bits, true)[..]);
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        NextWork,
        Advance { pick: usize, bytes: u64 },
        Release { pick: usize },
    }

    fn any_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::NextWork),
            4 => (any::<usize>(), prop_oneof![4 => 0u64..600, 1 => Just(u64::MAX)])
                .prop_map(|(pick, bytes)| Op::Advance { pick, bytes }),
            1 => any::<usize>().prop_map(|pick| Op::Release { pick }),
        ]
    }

    /// Received bytes, active segments and unassigned gaps partition
    /// `[0, len)`; the counters agree with the sets.
    fn check_partition(plan: &Plan) -> Result<(), TestCaseError> {
        let len = plan.len();
        let mut owners = vec![0u8; len as usize];
        let active: Vec<Range<u64>> = plan.active_segments().map(|(_, r)| r).collect();
        for (what, ranges) in [
            ("received", plan.received().ranges()),
            ("unassigned", plan.unassigned().ranges()),
            ("active", &active[..]),
        ] {
            for r in ranges {
                prop_assert!(r.start < r.end, "empty {} range {:?}", what, r);
                prop_assert!(r.end <= len, "{} range {:?} past len {}", what, r, len);
                for i in r.clone() {
                    owners[i as usize] += 1;
                }
            }
        }
        if let Some(i) = owners.iter().position(|&n| n != 1) {
            prop_assert!(false, "byte {} owned {} times", i, owners[i]);
        }
        prop_assert_eq!(plan.remaining(), len - plan.received().covered());
        prop_assert_eq!(plan.is_complete(), plan.received().covered() == len);
        prop_assert_eq!(plan.active(), active.len());
        Ok(())
    }

    fn pick_id(plan: &Plan, issued: &[SegmentId], pick: usize) -> SegmentId {
        // Mostly active ids, but also finished/released ones and unknowns.
        let active: Vec<SegmentId> = plan.active_segments().map(|(id, _)| id).collect();
        let index = pick % (active.len() + issued.len() + 1);
        if index < active.len() {
            active[index]
        } else if index < active.len() + issued.len() {
            issued[index - active.len()]
        } else {
            usize::MAX
        }
    }

    /// Calls `next_work` and checks what it handed out against the rules.
    fn next_work_checked(plan: &mut Plan) -> Result<Option<Work>, TestCaseError> {
        let min_split = plan.min_split();
        let lowest_gap = plan.unassigned().ranges().first().cloned();
        let before: BTreeMap<SegmentId, Range<u64>> = plan.active_segments().collect();
        let largest = before.values().map(|r| r.end - r.start).max();
        let Some(work) = plan.next_work() else {
            prop_assert!(lowest_gap.is_none());
            prop_assert!(largest.is_none_or(|l| l < min_split.saturating_mul(2)));
            return Ok(None);
        };
        prop_assert!(before.keys().all(|&id| id < work.id));
        prop_assert_eq!(plan.segment(work.id), Some(work.start..work.end));
        if let Some(gap) = lowest_gap {
            // The gap whole, or (with pieces) its front piece, leaving at
            // least min_split behind.
            prop_assert_eq!(work.start, gap.start);
            prop_assert!(work.end <= gap.end);
            if work.end < gap.end {
                let piece = plan.piece.unwrap_or(u64::MAX).max(1);
                prop_assert_eq!(work.end - work.start, piece);
                prop_assert!(gap.end - work.end >= min_split);
            }
            return Ok(Some(work));
        }
        // A split: the new piece and what the victim keeps are both at
        // least min_split, and the victim had the most bytes left.
        prop_assert!(work.end - work.start >= min_split);
        let victims: Vec<_> = plan
            .active_segments()
            .filter(|(id, r)| before.get(id).is_some_and(|old| old != r))
            .collect();
        prop_assert_eq!(victims.len(), 1);
        let (victim, kept) = &victims[0];
        let old = &before[victim];
        prop_assert_eq!(old.end - old.start, largest.unwrap_or(0));
        prop_assert_eq!(kept.start, old.start);
        prop_assert_eq!(kept.end, work.start);
        prop_assert_eq!(work.end, old.end);
        prop_assert!(kept.end - kept.start >= min_split);
        Ok(Some(work))
    }

    proptest! {
        // Cheap (well under a second), and interleavings are where bugs hide.
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn plan_partitions_file_and_always_completes(
            len in 0u64..2000,
            min_split in 0u64..400,
            done in prop::collection::vec((0u64..2200, 0u64..2200).prop_map(|(a, b)| a..b), 0..5),
            ops in prop::collection::vec(any_op(), 0..80),
            workers in 1usize..6,
            step in 1u64..500,
            piece in prop::option::of(0u64..300),
        ) {
            let mut plan = Plan::new(len, min_split, &RangeSet::from_ranges(done));
            if let Some(piece) = piece {
                plan = plan.with_pieces(piece);
            }
            let mut issued = Vec::new();
            check_partition(&plan)?;
            for op in ops {
                match op {
                    Op::NextWork => {
                        if let Some(work) = next_work_checked(&mut plan)? {
                            issued.push(work.id);
                        }
                    }
                    Op::Advance { pick, bytes } => {
                        let id = pick_id(&plan, &issued, pick);
                        let before = plan.segment(id);
                        let received = plan.received().covered();
                        let advance = plan.advance(id, bytes);
                        match before {
                            None => prop_assert_eq!(advance, Advance { keep: 0, finished: true }),
                            Some(r) => {
                                prop_assert_eq!(advance.keep, bytes.min(r.end - r.start));
                                prop_assert_eq!(advance.finished, advance.keep == r.end - r.start);
                                prop_assert_eq!(plan.received().covered(), received + advance.keep);
                            }
                        }
                    }
                    Op::Release { pick } => plan.release(pick_id(&plan, &issued, pick)),
                }
                check_partition(&plan)?;
            }

            // Liveness: workers keep asking for work and streaming it; every
            // round moves at least one byte, so this ends within `len` rounds.
            let mut streaming: Vec<SegmentId> = plan.active_segments().map(|(id, _)| id).collect();
            let mut rounds = 0u64;
            loop {
                while streaming.len() < workers {
                    match next_work_checked(&mut plan)? {
                        Some(work) => streaming.push(work.id),
                        None => break,
                    }
                }
                if streaming.is_empty() {
                    break;
                }
                streaming.retain(|&id| !plan.advance(id, step).finished);
                check_partition(&plan)?;
                rounds += 1;
                prop_assert!(rounds <= len, "no progress after {} rounds", rounds);
            }
            prop_assert!(plan.is_complete());
            prop_assert_eq!(plan.active(), 0);
            prop_assert!(plan.unassigned().is_empty());
        }

        /// With an alignment, every range handed out starts and ends on it
        /// (or at the file's end), pieces checked and failed go back to be
        /// fetched again, and the plan still completes.
        #[test]
        fn an_aligned_plan_hands_out_whole_pieces(
            len in 1u64..3000,
            align in 1u64..64,
            min_split in 0u64..200,
            piece in 1u64..400,
            workers in 1usize..6,
            step in 1u64..300,
            failures in prop::collection::vec(0u64..3000, 0..4),
        ) {
            let mut plan = Plan::new(len, min_split, &RangeSet::new()).aligned(align);
            let on_piece = |at: u64| at % align == 0 || at == len;
            let mut streaming: Vec<Work> = Vec::new();
            let mut rounds = 0u64;
            let mut failures = failures.into_iter();
            loop {
                if rounds == 2 {
                    plan.prepare_for_more(piece);
                }
                while streaming.len() < workers {
                    match plan.next_work() {
                        Some(work) => {
                            prop_assert!(on_piece(work.start) && on_piece(work.end), "{:?}", work);
                            streaming.push(work);
                        }
                        None => break,
                    }
                }
                if streaming.is_empty() {
                    break;
                }
                let mut next = Vec::new();
                for work in streaming {
                    if !plan.advance(work.id, step).finished {
                        let left = plan.segment(work.id).unwrap();
                        prop_assert!(on_piece(left.end), "a cut end {:?}", left);
                        next.push(work);
                    }
                }
                streaming = next;
                // Now and then a received piece fails its check.
                if let Some(at) = failures.next() {
                    let start = at.min(len - 1) / align * align;
                    let piece = start..(start + align).min(len);
                    if plan.received().ranges().iter().any(|r| r.start <= piece.start && piece.end <= r.end) {
                        plan.unreceive(piece);
                    }
                }
                check_partition(&plan)?;
                rounds += 1;
                prop_assert!(rounds <= 4 * len + 8, "no progress after {} rounds", rounds);
            }
            prop_assert!(plan.is_complete());
        }
    }
}
