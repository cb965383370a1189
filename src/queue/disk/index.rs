//! The in-memory index of the segments on disk: for every record, where it ends and whether it
//! is intact. Four bytes a record, so even millions of queued events cost a few megabytes.

use std::collections::VecDeque;
use std::path::PathBuf;

use super::format::{HEADER_LEN, MISSING};

/// One segment file and the records it holds.
#[derive(Debug)]
pub struct Segment {
    pub first: u64,
    pub path: PathBuf,
    /// End offset of each record (sequence numbers `first..`), [`MISSING`] flagged if damaged.
    pub ends: Vec<u32>,
}

/// Where one record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
    pub intact: bool,
}

impl Span {
    /// Bytes the record holds on disk; a damaged one counts for nothing.
    pub fn size(&self) -> u64 {
        if self.intact {
            u64::from(self.end - self.start)
        } else {
            0
        }
    }
}

impl Segment {
    /// The sequence number after this segment's last record.
    pub fn end_seq(&self) -> u64 {
        self.first + self.ends.len() as u64
    }

    /// The record at `index` (its sequence number minus `first`).
    pub fn span(&self, index: usize) -> Option<Span> {
        let end = *self.ends.get(index)?;
        let start = match index {
            0 => HEADER_LEN as u32,
            _ => self.ends[index - 1] & !MISSING,
        };
        Some(Span { start, end: end & !MISSING, intact: end & MISSING == 0 })
    }
}

/// The segments of one queue, oldest first. The last one is the one being appended to.
#[derive(Debug, Default)]
pub struct Index {
    pub segments: VecDeque<Segment>,
}

impl Index {
    /// The segment holding `seq` and the record's position in it.
    pub fn locate(&self, seq: u64) -> Option<(usize, usize)> {
        let after = self.segments.partition_point(|segment| segment.first <= seq);
        let at = after.checked_sub(1)?;
        let segment = &self.segments[at];
        (seq < segment.end_seq()).then(|| (at, (seq - segment.first) as usize))
    }

    /// The first sequence number at or after `seq` that some segment covers, if any.
    pub fn next_covered(&self, seq: u64) -> Option<u64> {
        if self.locate(seq).is_some() {
            return Some(seq);
        }
        self.segments
            .iter()
            .find(|segment| segment.first > seq && !segment.ends.is_empty())
            .map(|segment| segment.first)
    }

    /// Intact records and their bytes among sequence numbers `range`.
    pub fn count(&self, from: u64, to: u64) -> (u64, u64) {
        let (mut records, mut bytes) = (0, 0);
        for segment in &self.segments {
            let lo = from.max(segment.first);
            let hi = to.min(segment.end_seq());
            for seq in lo..hi {
                if let Some(span) = segment.span((seq - segment.first) as usize).filter(|span| span.intact) {
                    records += 1;
                    bytes += span.size();
                }
            }
        }
        (records, bytes)
    }

    /// Adds a record written at the end of the last segment.
    pub fn append(&mut self, end: u32) {
        if let Some(segment) = self.segments.back_mut() {
            segment.ends.push(end);
        }
    }

    /// Removes the oldest segments whose records all come before `start`, except the last one
    /// (still being appended to), and returns their paths for deletion.
    pub fn remove_consumed(&mut self, start: u64) -> Vec<PathBuf> {
        let mut removed = Vec::new();
        while self.segments.len() > 1 && self.segments.front().is_some_and(|segment| segment.end_seq() <= start) {
            if let Some(segment) = self.segments.pop_front() {
                removed.push(segment.path);
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Index {
        let header = HEADER_LEN as u32;
        let mut index = Index::default();
        index.segments.push_back(Segment {
            first: 1,
            path: "a".into(),
            ends: vec![header + 20, (header + 50) | MISSING, header + 70],
        });
        index.segments.push_back(Segment { first: 6, path: "b".into(), ends: vec![header + 10] });
        index
    }

    #[test]
    fn locates_records_across_segments_and_gaps() {
        let index = index();
        assert_eq!(index.locate(1), Some((0, 0)));
        assert_eq!(index.locate(3), Some((0, 2)));
        assert_eq!(index.locate(4), None);
        assert_eq!(index.locate(6), Some((1, 0)));
        assert_eq!(index.locate(7), None);
        assert_eq!(index.next_covered(4), Some(6));
        assert_eq!(index.next_covered(7), None);
    }

    #[test]
    fn spans_and_counts_skip_damaged_records() {
        let index = index();
        let segment = &index.segments[0];
        assert_eq!(
            segment.span(1),
            Some(Span { start: HEADER_LEN as u32 + 20, end: HEADER_LEN as u32 + 50, intact: false })
        );
        assert_eq!(segment.span(2).map(|span| span.size()), Some(20));
        assert_eq!(index.count(1, 7), (3, 50));
        assert_eq!(index.count(2, 4), (1, 20));
    }

    #[test]
    fn removes_only_consumed_sealed_segments() {
        let mut index = index();
        assert!(index.remove_consumed(3).is_empty());
        assert_eq!(index.remove_consumed(100), vec![PathBuf::from("a")]);
        assert_eq!(index.segments.len(), 1);
    }
}
