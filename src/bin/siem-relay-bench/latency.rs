//! End-to-end latency: finding the generator's `sent_ns` stamp in a received frame, whatever
//! the relay made of it, and keeping every sample for exact percentiles.

/// The send time (CLOCK_REALTIME ns) carried by `frame`, if any. Recognised forms:
/// `sent_ns="DIGITS"` (RFC 5424 SD-PARAM), `"sent_ns":DIGITS` (JSON, also with spaces, a
/// quoted number, or escaped inside a JSON string as `\"sent_ns\":DIGITS`), and
/// `sentNs=DIGITS` (a CEF extension: CEF keys are letters and digits only).
pub fn find_sent_ns(frame: &[u8]) -> Option<u64> {
    find_stamp(frame, b"sent_ns", 4).or_else(|| find_stamp(frame, b"sentNs", 4))
}

/// Looks for `key` followed by a value; `anchor` is the index in `key` of a byte that is rare
/// in frames (`_`, `N`), scanned for first.
fn find_stamp(frame: &[u8], key: &[u8], anchor: usize) -> Option<u64> {
    let needle = key[anchor];
    let mut from = 0;
    while let Some(i) = frame.get(from..)?.iter().position(|&b| b == needle) {
        let at = from + i;
        from = at + 1;
        let Some(start) = at.checked_sub(anchor) else { continue };
        if frame.get(start..start + key.len()) != Some(key) {
            continue;
        }
        if start > 0 && is_name_byte(frame[start - 1]) {
            continue;
        }
        if let Some(v) = value_after(&frame[start + key.len()..]) {
            return Some(v);
        }
    }
    None
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn skip_spaces(mut r: &[u8]) -> &[u8] {
    while let Some((b' ', tail)) = r.split_first() {
        r = tail;
    }
    r
}

/// Parses `[\]["] [spaces] (=|:) [spaces] [\]["] DIGITS` at the start of `rest`.
fn value_after(rest: &[u8]) -> Option<u64> {
    let mut r = rest;
    r = r.strip_prefix(b"\\").unwrap_or(r);
    r = r.strip_prefix(b"\"").unwrap_or(r);
    r = skip_spaces(r);
    r = match r.first() {
        Some(b'=' | b':') => &r[1..],
        _ => return None,
    };
    r = skip_spaces(r);
    r = r.strip_prefix(b"\\").unwrap_or(r);
    r = r.strip_prefix(b"\"").unwrap_or(r);
    let digits = r.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in &r[..digits] {
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// Latency samples in microseconds.
#[derive(Debug, Default)]
pub struct Latencies {
    samples: Vec<u32>,
}

/// Percentiles of the samples, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub count: usize,
    pub p50: u32,
    pub p90: u32,
    pub p99: u32,
    pub max: u32,
}

impl Latencies {
    pub fn with_capacity(n: usize) -> Latencies {
        Latencies { samples: Vec::with_capacity(n) }
    }

    /// Records `now_ns - sent_ns` (0 when the clock went backwards; saturating at u32::MAX µs).
    pub fn record(&mut self, now_ns: u64, sent_ns: u64) {
        let us = now_ns.saturating_sub(sent_ns) / 1_000;
        self.samples.push(u32::try_from(us).unwrap_or(u32::MAX));
    }

    pub fn extend(&mut self, other: &mut Latencies) {
        self.samples.append(&mut other.samples);
    }

    /// Nearest-rank percentiles; `None` without samples. Sorts the samples.
    pub fn summary(&mut self) -> Option<Summary> {
        if self.samples.is_empty() {
            return None;
        }
        self.samples.sort_unstable();
        let s = &self.samples;
        let rank = |q: f64| -> u32 {
            let idx = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
            s[idx]
        };
        Some(Summary { count: s.len(), p50: rank(0.50), p90: rank(0.90), p99: rank(0.99), max: s[s.len() - 1] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sent_ns_in_every_relay_output_form() {
        let ns = 1_722_000_000_123_456_789;
        let cases: &[&str] = &[
            // RFC 5424 SD-PARAM (siem-relay, rsyslog, syslog-ng).
            r#"<131>1 2024-05-01T12:00:00.123456Z web-1 siem-relay 42 finding_added [siem@32473 id="a" severity="high" sent_ns="1722000000123456789"] SQLi"#,
            // JSON (socat passes the input through; webhooks).
            r#"{"event":"x","data":{"a":1},"sent_ns":1722000000123456789}"#,
            r#"{"sent_ns" : 1722000000123456789}"#,
            r#"{"sent_ns":"1722000000123456789"}"#,
            // JSON inside a JSON string.
            r#"{"msg":"{\"sent_ns\":1722000000123456789}"}"#,
            // CEF extension.
            "CEF:0|v|p|1|finding_added|t|8|rt=1714564800123 sentNs=1722000000123456789 dhost=web-1",
            "CEF:0|v|p|1|finding_added|t|8|sent_ns=1722000000123456789",
        ];
        for case in cases {
            assert_eq!(find_sent_ns(case.as_bytes()), Some(ns), "{case}");
        }
    }

    #[test]
    fn ignores_lookalikes_and_takes_the_first_real_stamp() {
        assert_eq!(find_sent_ns(b"no stamp here"), None);
        assert_eq!(find_sent_ns(b"sent_ns"), None);
        assert_eq!(find_sent_ns(b"sent_ns="), None);
        assert_eq!(find_sent_ns(b"sent_ns=abc"), None);
        assert_eq!(find_sent_ns(b"resent_ns=5 sent_ns=7"), Some(7));
        assert_eq!(find_sent_ns(b"title sent_ns is 3, sent_ns=\"9\""), Some(9));
        assert_eq!(find_sent_ns(b"sent_ns=99999999999999999999999"), None);
        assert_eq!(find_sent_ns(b"_ns=1 ent_ns=2 x_sent_ns=3 xsentNs=4 Ns=5"), None);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut l = Latencies::default();
        assert_eq!(l.summary(), None);
        for us in (1..=100).rev() {
            l.record(1_000_000_000 + us * 1_000, 1_000_000_000);
        }
        l.record(5, 10); // clock went backwards: 0
        let s = l.summary().expect("samples");
        assert_eq!(s, Summary { count: 101, p50: 50, p90: 90, p99: 99, max: 100 });
    }
}
