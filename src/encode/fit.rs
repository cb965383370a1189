//! Fitting a key-value record (CEF, LEEF) into a size limit: one mechanism for every format
//! whose record is fixed header parts, a few header fields that may be shortened, and a list of
//! pairs that may be dropped whole from the end.
//!
//! The order is what keeps most for an analyst: each shortenable field is first cut down to its
//! `keep` length, then whole pairs are dropped from the end, then the fields are cut down to
//! their first character. Room is handed out to the fields by importance. Cuts never split a
//! character or a backslash escape, and every separator stays, so the record keeps its shape.

use std::ops::Range;

use super::text::{escaped_boundary, first_unit};

/// A header field a size limit may shorten.
#[derive(Debug, Clone)]
pub struct Field {
    /// Where its (escaped) text is in the output.
    pub range: Range<usize>,
    /// How much of it to keep before any pair is dropped (bytes; the whole field if shorter).
    pub keep: usize,
}

/// A written record: where it starts, its shortenable fields in output order, and its pairs.
#[derive(Debug)]
pub struct Record<'a> {
    pub start: usize,
    pub fields: &'a [Field],
    /// Indices into `fields`, most important first: it gets room first.
    pub importance: &'a [usize],
    /// Where the first pair starts.
    pub pairs_start: usize,
    /// The end offset of each pair (with its leading separator).
    pub pair_ends: &'a [usize],
}

/// Shrinks `out[record.start..]` to at most `max` bytes; returns whether anything was cut. A
/// record whose fixed parts, one character per field and no pair exceed `max` stays over it:
/// config validation keeps every limit above that.
pub fn fit(out: &mut Vec<u8>, record: &Record<'_>, max: usize) -> bool {
    let total = out.len() - record.start;
    if total <= max {
        return false;
    }
    let pairs_len = |pairs: usize| pairs.checked_sub(1).map_or(0, |last| record.pair_ends[last] - record.pairs_start);
    let field = |i: usize| &out[record.fields[i].range.clone()];
    let lens: Vec<usize> = (0..record.fields.len()).map(|i| field(i).len()).collect();
    let fixed = total - lens.iter().sum::<usize>() - pairs_len(record.pair_ends.len());
    let budget = max.saturating_sub(fixed);

    let keeps: Vec<usize> = (0..lens.len()).map(|i| escaped_boundary(field(i), record.fields[i].keep)).collect();
    let (floors, pairs) =
        match (0..=record.pair_ends.len()).rev().find(|&k| keeps.iter().sum::<usize>() + pairs_len(k) <= budget) {
            Some(pairs) => (keeps, pairs),
            None => ((0..lens.len()).map(|i| first_unit(field(i))).collect(), 0),
        };
    // Each field gets its floor, then what is left goes to the fields by importance.
    let mut room = budget.saturating_sub(floors.iter().sum::<usize>() + pairs_len(pairs));
    let mut allotted = floors.clone();
    for &i in record.importance {
        let extra = (lens[i] - floors[i]).min(room);
        allotted[i] += extra;
        room -= extra;
    }
    let kept: Vec<usize> = (0..lens.len()).map(|i| escaped_boundary(field(i), allotted[i]).max(floors[i])).collect();

    let mut fitted = Vec::with_capacity(max);
    let mut copied = record.start;
    for (f, keep) in record.fields.iter().zip(&kept) {
        fitted.extend_from_slice(&out[copied..f.range.start]);
        fitted.extend_from_slice(&out[f.range.start..f.range.start + keep]);
        copied = f.range.end;
    }
    fitted.extend_from_slice(&out[copied..record.pairs_start + pairs_len(pairs)]);
    out.truncate(record.start);
    out.extend_from_slice(&fitted);
    debug_assert!(out.len() - record.start <= max, "limit {max} below the least the record needs");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `H|a-field|b-field|` then pairs ` k=v`.
    fn record(a: &str, b: &str, pairs: &[&str]) -> (Vec<u8>, Vec<Field>, usize, Vec<usize>) {
        let mut out = b"H|".to_vec();
        let a_range = out.len()..out.len() + a.len();
        out.extend_from_slice(a.as_bytes());
        out.push(b'|');
        let b_range = out.len()..out.len() + b.len();
        out.extend_from_slice(b.as_bytes());
        out.push(b'|');
        let pairs_start = out.len();
        let mut ends = Vec::new();
        for (n, pair) in pairs.iter().enumerate() {
            if n > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(pair.as_bytes());
            ends.push(out.len());
        }
        (out, vec![Field { range: a_range, keep: usize::MAX }, Field { range: b_range, keep: 3 }], pairs_start, ends)
    }

    fn fitted(a: &str, b: &str, pairs: &[&str], max: usize) -> String {
        let (mut out, fields, pairs_start, ends) = record(a, b, pairs);
        let record = Record { start: 0, fields: &fields, importance: &[0, 1], pairs_start, pair_ends: &ends };
        let _ = fit(&mut out, &record, max);
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn fields_shrink_to_their_keep_before_pairs_go_then_to_one_character() {
        assert_eq!(fitted("aa", "bbbbbb", &["k=1", "l=2"], 100), "H|aa|bbbbbb|k=1 l=2");
        assert_eq!(fitted("aa", "bbbbbb", &["k=1", "l=2"], 17), "H|aa|bbbb|k=1 l=2");
        assert_eq!(fitted("aa", "bbbbbb", &["k=1", "l=2"], 15), "H|aa|bbbbbb|k=1");
        assert_eq!(fitted("aa", "bbbbbb", &["k=1", "l=2"], 9), "H|aa|bbb|");
        assert_eq!(fitted("aa", "bbbbbb", &["k=1", "l=2"], 6), "H|a|b|");
    }

    #[test]
    fn cuts_keep_escapes_and_characters_whole() {
        assert_eq!(fitted(r"\|\|", "é€", &[], 8), r"H|\||é|");
    }
}
