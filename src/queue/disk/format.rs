//! The on-disk format (version 1): file headers, records, ack-log entries, and the scanner that
//! finds every intact record of a segment whatever happened to the bytes around it.
//!
//! `docs/disk-queue-format.md` is the specification; this file is its implementation. All
//! integers are little-endian. Nothing here does I/O, so every branch is testable on byte slices.

use std::ops::Range;

/// First eight bytes of a segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"SRQ-SEG\n";
/// First eight bytes of the ack log.
pub const ACKS_MAGIC: [u8; 8] = *b"SRQ-ACK\n";
/// The format version this code writes and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the header at the start of every file.
pub const HEADER_LEN: usize = 32;
/// Size of a record header: length, checksum, sequence number.
pub const RECORD_HEADER_LEN: usize = 16;
/// Size of one ack-log entry.
pub const ACK_ENTRY_LEN: usize = 16;
/// Largest payload a record may carry. Input lines are capped at 16 MiB; re-serialized events
/// stay close to that, and a bound keeps a corrupt length field from looking plausible.
pub const MAX_PAYLOAD: usize = 64 * 1024 * 1024;
/// Segment files must stay below this so that offsets fit the index's 31 bits.
pub const MAX_SEGMENT_LEN: u64 = (1 << 31) - 1;
/// Flag bit of an index entry: the record at this sequence number is missing (corrupt).
pub const MISSING: u32 = 1 << 31;

/// Why a file header was rejected; the text goes into the quarantine log line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("file is {0} bytes, shorter than the {HEADER_LEN}-byte header")]
    Short(u64),
    #[error("bad magic {0:?}")]
    Magic([u8; 8]),
    #[error("header checksum mismatch")]
    Checksum,
    #[error("unknown format version {0} (this build reads version {FORMAT_VERSION})")]
    Version(u32),
}

/// Encodes a file header: magic, version, flags (0), a value (a segment's first sequence
/// number; 0 for the ack log), and a CRC32C of the preceding 24 bytes.
pub fn encode_header(magic: [u8; 8], value: u64) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(&magic);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[16..24].copy_from_slice(&value.to_le_bytes());
    let crc = crc32c::crc32c(&header[..24]);
    header[24..28].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Checks a file header and returns its value. The checksum is verified before the version,
/// so a bit flip in the version field reads as damage, not as a file from the future.
pub fn decode_header(bytes: &[u8], magic: [u8; 8]) -> Result<u64, HeaderError> {
    let Some(header) = bytes.get(..HEADER_LEN) else {
        return Err(HeaderError::Short(bytes.len() as u64));
    };
    let found: [u8; 8] = array(&header[..8]);
    if found != magic {
        return Err(HeaderError::Magic(found));
    }
    if u32::from_le_bytes(array(&header[24..28])) != crc32c::crc32c(&header[..24]) {
        return Err(HeaderError::Checksum);
    }
    let version = u32::from_le_bytes(array(&header[8..12]));
    if version != FORMAT_VERSION {
        return Err(HeaderError::Version(version));
    }
    Ok(u64::from_le_bytes(array(&header[16..24])))
}

/// Appends one record: `len: u32 | crc: u32 | seq: u64 | payload`, where the CRC32C covers
/// `len`, `seq` and the payload (so a damaged length or sequence number is caught too).
pub fn encode_record(seq: u64, payload: &[u8], out: &mut Vec<u8>) {
    let len = (payload.len() as u32).to_le_bytes();
    let seq = seq.to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&len), &seq), payload);
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&seq);
    out.extend_from_slice(payload);
}

/// Bytes a record with this payload occupies on disk.
pub fn record_len(payload_len: usize) -> usize {
    RECORD_HEADER_LEN + payload_len
}

/// An intact record found in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub payload: Range<usize>,
    /// Offset just past the record.
    pub end: usize,
}

/// The record starting at `pos`, if one is there and its checksum holds.
pub fn parse_record(buf: &[u8], pos: usize) -> Option<Record> {
    parse_record_if(buf, pos, |_| true)
}

/// Like [`parse_record`], but gives up before the checksum unless `wanted(seq)`: searching
/// damaged bytes for the next record stays cheap.
fn parse_record_if(buf: &[u8], pos: usize, wanted: impl Fn(u64) -> bool) -> Option<Record> {
    let header = buf.get(pos..pos.checked_add(RECORD_HEADER_LEN)?)?;
    let len = u32::from_le_bytes(array(&header[..4])) as usize;
    if len > MAX_PAYLOAD || !wanted(u64::from_le_bytes(array(&header[8..16]))) {
        return None;
    }
    let end = pos + RECORD_HEADER_LEN + len;
    let payload = buf.get(pos + RECORD_HEADER_LEN..end)?;
    let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&header[..4]), &header[8..16]), payload);
    if crc != u32::from_le_bytes(array(&header[4..8])) {
        return None;
    }
    let seq = u64::from_le_bytes(array(&header[8..16]));
    Some(Record { seq, payload: pos + RECORD_HEADER_LEN..end, end })
}

/// What scanning one segment's bytes found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentScan {
    /// For each sequence number from the segment's first on: the end offset of its record,
    /// with [`MISSING`] set if the record is damaged. A record starts where the previous entry
    /// ends ([`HEADER_LEN`] for the first).
    pub ends: Vec<u32>,
    /// Offset just past the last intact record: where a torn tail begins.
    pub valid_end: usize,
    /// Damaged records inside the segment (entries flagged [`MISSING`]).
    pub missing: u64,
}

impl SegmentScan {
    /// The sequence number after the last record found.
    pub fn end_seq(&self, first: u64) -> u64 {
        first + self.ends.len() as u64
    }
}

/// Finds the records of a segment whose header said `first`. Records must carry consecutive
/// sequence numbers; `limit` (the next segment's first sequence number) ends the segment, so
/// stale bytes past a failed write are never taken for records.
///
/// A damaged record is skipped by trusting its length field when the next record is where it
/// says, and otherwise by searching byte by byte for the next intact record with a plausible
/// sequence number. The sequence numbers on both sides tell exactly how many records were lost.
/// Whatever follows the last intact record is a torn tail (`valid_end`).
pub fn scan_segment(buf: &[u8], first: u64, limit: Option<u64>) -> SegmentScan {
    let mut scan = SegmentScan { ends: Vec::new(), valid_end: HEADER_LEN.min(buf.len()), missing: 0 };
    let mut pos = HEADER_LEN;
    let mut expected = first;
    let below_limit = |seq: u64| limit.is_none_or(|limit| seq < limit);
    while pos < buf.len() && below_limit(expected) {
        let found = match parse_record(buf, pos) {
            Some(record) if record.seq >= expected && below_limit(record.seq) => Some((pos, record)),
            _ => resync(buf, pos, expected, limit),
        };
        let Some((at, record)) = found else { break };
        // Records lost between the last intact one and this one end where this one starts.
        for _ in expected..record.seq {
            scan.ends.push(at as u32 | MISSING);
            scan.missing += 1;
        }
        scan.ends.push(record.end as u32);
        expected = record.seq + 1;
        pos = record.end;
        scan.valid_end = pos;
    }
    scan
}

/// The next intact record after damage at `pos`, if any.
fn resync(buf: &[u8], pos: usize, expected: u64, limit: Option<u64>) -> Option<(usize, Record)> {
    let below_limit = |seq: u64| limit.is_none_or(|limit| seq < limit);
    // Fast path: only the payload was damaged, the length field still points at the next one.
    if let Some(len) = buf.get(pos..pos + 4).map(|bytes| u32::from_le_bytes(array(bytes)) as usize) {
        let next = pos + RECORD_HEADER_LEN + len.min(MAX_PAYLOAD);
        if let Some(record) = parse_record_if(buf, next, |seq| seq == expected + 1 && below_limit(seq)) {
            return Some((next, record));
        }
    }
    (pos + 1..buf.len().saturating_sub(RECORD_HEADER_LEN - 1)).find_map(|at| {
        // Every lost record took at least a record header's worth of bytes.
        let most = expected + ((at - pos) / RECORD_HEADER_LEN) as u64;
        parse_record_if(buf, at, |seq| seq > expected && seq <= most && below_limit(seq)).map(|record| (at, record))
    })
}

/// One ack-log entry: the first sequence number not yet acknowledged (or dropped), with a
/// CRC32C of those eight bytes and four reserved zero bytes.
pub fn encode_ack(position: u64) -> [u8; ACK_ENTRY_LEN] {
    let mut entry = [0u8; ACK_ENTRY_LEN];
    let position = position.to_le_bytes();
    entry[..8].copy_from_slice(&position);
    entry[8..12].copy_from_slice(&crc32c::crc32c(&position).to_le_bytes());
    entry
}

/// The highest intact position in an ack log's entries (the bytes after its header). Entries
/// only grow, but taking the maximum keeps one damaged entry from hiding later ones.
pub fn scan_acks(entries: &[u8]) -> Option<u64> {
    entries
        .chunks_exact(ACK_ENTRY_LEN)
        .filter(|entry| {
            entry[12..16] == [0; 4] && u32::from_le_bytes(array(&entry[8..12])) == crc32c::crc32c(&entry[..8])
        })
        .map(|entry| u64::from_le_bytes(array(&entry[..8])))
        .max()
}

/// File name of the segment whose first record is `first`: twenty digits, so names sort in
/// sequence order.
pub fn segment_name(first: u64) -> String {
    format!("{first:020}.seg")
}

/// The first sequence number a segment file name stands for.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(first: u64, payloads: &[&[u8]]) -> Vec<u8> {
        let mut buf = encode_header(SEGMENT_MAGIC, first).to_vec();
        for (n, payload) in payloads.iter().enumerate() {
            encode_record(first + n as u64, payload, &mut buf);
        }
        buf
    }

    /// Pins the bytes `docs/disk-queue-format.md` specifies: a change here is a new version.
    #[test]
    fn bytes_match_the_specification() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283, "CRC32C (Castagnoli) check value");
        let buf = segment(7, &[br#"{"event":"x"}"#]);
        assert_eq!(buf.len(), 61);
        assert_eq!(&buf[..8], b"SRQ-SEG\n");
        assert_eq!(buf[8..12], 1u32.to_le_bytes());
        assert_eq!(buf[12..16], [0; 4]);
        assert_eq!(buf[16..24], 7u64.to_le_bytes());
        assert_eq!(buf[24..28], crc32c::crc32c(&buf[..24]).to_le_bytes());
        assert_eq!(buf[28..32], [0; 4]);
        let record = &buf[32..];
        assert_eq!(record[..4], 13u32.to_le_bytes());
        let mut covered = record[..4].to_vec();
        covered.extend_from_slice(&record[8..]);
        assert_eq!(record[4..8], crc32c::crc32c(&covered).to_le_bytes());
        assert_eq!(record[8..16], 7u64.to_le_bytes());
        assert_eq!(&record[16..], br#"{"event":"x"}"#);
        let entry = encode_ack(42);
        assert_eq!(entry[..8], 42u64.to_le_bytes());
        assert_eq!(entry[8..12], crc32c::crc32c(&42u64.to_le_bytes()).to_le_bytes());
        assert_eq!(entry[12..], [0; 4]);
    }

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let header = encode_header(SEGMENT_MAGIC, 42);
        assert_eq!(decode_header(&header, SEGMENT_MAGIC), Ok(42));
        assert_eq!(decode_header(&header[..10], SEGMENT_MAGIC), Err(HeaderError::Short(10)));
        assert!(matches!(decode_header(&header, ACKS_MAGIC), Err(HeaderError::Magic(_))));
        let mut flipped = header;
        flipped[17] ^= 1;
        assert_eq!(decode_header(&flipped, SEGMENT_MAGIC), Err(HeaderError::Checksum));
        let mut future = header;
        future[8..12].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32c::crc32c(&future[..24]);
        future[24..28].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_header(&future, SEGMENT_MAGIC), Err(HeaderError::Version(2)));
    }

    #[test]
    fn scan_finds_every_record_of_a_clean_segment() {
        let buf = segment(7, &[b"a", b"bb", b"ccc"]);
        let scan = scan_segment(&buf, 7, None);
        assert_eq!(scan.ends.len(), 3);
        assert_eq!(scan.missing, 0);
        assert_eq!(scan.valid_end, buf.len());
        assert_eq!(scan.end_seq(7), 10);
    }

    #[test]
    fn damaged_payload_is_skipped_and_counted() {
        let mut buf = segment(1, &[b"first", b"second", b"third"]);
        let second = HEADER_LEN + RECORD_HEADER_LEN + 5 + RECORD_HEADER_LEN;
        buf[second] ^= 0x40;
        let scan = scan_segment(&buf, 1, None);
        assert_eq!(scan.missing, 1);
        assert_eq!(scan.ends.len(), 3);
        assert_ne!(scan.ends[1] & MISSING, 0);
        assert_eq!(scan.ends[2] & MISSING, 0);
        assert_eq!(scan.valid_end, buf.len());
    }

    #[test]
    fn damaged_length_resyncs_on_the_next_record() {
        let mut buf = segment(1, &[b"first", b"second", b"third", b"fourth"]);
        let second = HEADER_LEN + RECORD_HEADER_LEN + 5;
        buf[second + 3] ^= 0x10;
        let scan = scan_segment(&buf, 1, None);
        assert_eq!(scan.missing, 1);
        assert_eq!(scan.ends.len(), 4);
    }

    #[test]
    fn torn_tail_ends_the_scan() {
        let buf = segment(1, &[b"first", b"second"]);
        let cut = buf.len() - 3;
        let scan = scan_segment(&buf[..cut], 1, None);
        assert_eq!(scan.ends.len(), 1);
        assert_eq!(scan.missing, 0);
        assert_eq!(scan.valid_end, HEADER_LEN + RECORD_HEADER_LEN + 5);
    }

    #[test]
    fn limit_cuts_stale_records() {
        let buf = segment(1, &[b"a", b"b", b"c"]);
        let scan = scan_segment(&buf, 1, Some(3));
        assert_eq!(scan.ends.len(), 2);
    }

    #[test]
    fn ack_log_keeps_the_highest_intact_entry() {
        let mut entries = Vec::new();
        for position in [3u64, 9, 5] {
            entries.extend_from_slice(&encode_ack(position));
        }
        assert_eq!(scan_acks(&entries), Some(9));
        entries[16] ^= 1;
        assert_eq!(scan_acks(&entries), Some(5));
        assert_eq!(scan_acks(&entries[..10]), None);
    }

    #[test]
    fn segment_names_sort_and_parse() {
        assert_eq!(segment_name(12), "00000000000000000012.seg");
        assert_eq!(parse_segment_name("00000000000000000012.seg"), Some(12));
        assert_eq!(parse_segment_name("12.seg"), None);
        assert_eq!(parse_segment_name("0000000000000000001x.seg"), None);
    }
}
