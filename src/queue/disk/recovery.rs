//! Reading a queue directory back after a restart or a crash, and repairing what needs it.
//!
//! [`scan`] only reads: it is shared by [`inspect`](super::inspect()) (for `siem-relay check`)
//! and by [`recover`], which then applies the plan: torn tails are cut, unreadable segments are
//! moved into `quarantine/` with the reason logged, consumed segments are deleted. Nothing in a
//! directory's content can make opening fail; only a directory that cannot be listed does.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use super::format::{self, HeaderError, SegmentScan, ACKS_MAGIC, HEADER_LEN, MAX_SEGMENT_LEN, SEGMENT_MAGIC};
use super::index::{Index, Segment};
use super::{sync_directory, sync_file, ACKS_FILE, ACKS_TEMP_FILE, QUARANTINE_DIR};

/// What a scan of a directory found, and what opening it would change.
#[derive(Debug, Default)]
pub struct Scan {
    /// Readable segments, oldest first.
    pub segments: Vec<ScannedSegment>,
    /// Files to move into `quarantine/`, with the reason.
    pub unreadable: Vec<(PathBuf, String)>,
    /// Files to delete: an empty or half-created last segment, a leftover temporary ack log.
    pub leftovers: Vec<PathBuf>,
    /// The first sequence number not yet acknowledged, from the ack log.
    pub acked: Option<u64>,
    /// Why the ack log could not be used, if it exists and could not.
    pub ack_problem: Option<String>,
    /// Files already in `quarantine/`.
    pub already_quarantined: usize,
    /// Bytes of a last segment too short to hold its header (torn while being created).
    pub torn_creation: u64,
}

/// One readable segment.
#[derive(Debug)]
pub struct ScannedSegment {
    pub first: u64,
    pub path: PathBuf,
    pub file_len: u64,
    pub scan: SegmentScan,
    /// Records lost after the last intact one: the gap up to the next segment's first record.
    pub lost_at_tail: u64,
}

impl Scan {
    /// The first pending sequence number: after everything acknowledged, and never before the
    /// oldest record that still exists.
    pub fn start(&self) -> u64 {
        let oldest = self.segments.first().map_or(1, |segment| segment.first);
        self.acked.unwrap_or(1).max(oldest).max(1)
    }

    /// The sequence number the next record written gets.
    pub fn next_seq(&self) -> u64 {
        let after_records = self.segments.last().map_or(1, |segment| segment.scan.end_seq(segment.first));
        // A gap, if the last segment lost records, is harmless; reusing a number is not.
        after_records.max(self.acked.unwrap_or(1)).max(1)
    }

    /// Damaged records among those still pending.
    pub fn corrupt_pending(&self) -> u64 {
        let start = self.start();
        let mut corrupt = 0;
        for segment in &self.segments {
            for (n, end) in segment.scan.ends.iter().enumerate() {
                if end & format::MISSING != 0 && segment.first + n as u64 >= start {
                    corrupt += 1;
                }
            }
            let tail_from = segment.scan.end_seq(segment.first).max(start);
            let tail_to = segment.scan.end_seq(segment.first) + segment.lost_at_tail;
            corrupt += tail_to.saturating_sub(tail_from);
        }
        corrupt
    }

    /// Bytes after the last intact record of the last segment: a write that was torn.
    pub fn torn_bytes(&self) -> u64 {
        self.torn_creation + self.segments.last().map_or(0, |segment| segment.file_len - segment.scan.valid_end as u64)
    }

    /// The index of the segments that stay.
    pub fn index(&self) -> Index {
        let mut index = Index::default();
        for segment in &self.segments {
            index.segments.push_back(Segment {
                first: segment.first,
                path: segment.path.clone(),
                ends: segment.scan.ends.clone(),
            });
        }
        index
    }
}

/// Reads a queue directory without changing anything.
pub fn scan(dir: &Path) -> io::Result<Scan> {
    let mut result = Scan::default();
    let mut named = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(first) = format::parse_segment_name(name) {
            named.push((first, entry.path()));
        } else if name == ACKS_TEMP_FILE {
            result.leftovers.push(entry.path());
        }
    }
    named.sort();
    if let Ok(entries) = fs::read_dir(dir.join(QUARANTINE_DIR)) {
        result.already_quarantined = entries.count();
    }
    read_acks(dir, &mut result);
    for (n, (first, path)) in named.iter().enumerate() {
        let is_last = n + 1 == named.len();
        let limit = named.get(n + 1).map(|(next, _)| *next);
        match read_segment(path, *first, limit) {
            Ok((file_len, scan)) => {
                let lost_at_tail = limit.map_or(0, |limit| limit.saturating_sub(scan.end_seq(*first)));
                if scan.ends.is_empty() && lost_at_tail == 0 && file_len == HEADER_LEN as u64 {
                    // Only a header (a segment created just before a crash): it goes.
                    result.leftovers.push(path.clone());
                    continue;
                }
                result.segments.push(ScannedSegment {
                    first: *first,
                    path: path.clone(),
                    file_len,
                    scan,
                    lost_at_tail,
                });
            }
            Err(Unreadable::Header(HeaderError::Short(len))) if is_last => {
                // Created, and the process died before its header was written.
                result.torn_creation = len;
                result.leftovers.push(path.clone());
            }
            Err(why) => result.unreadable.push((path.clone(), why.to_string())),
        }
    }
    Ok(result)
}

#[derive(Debug, thiserror::Error)]
enum Unreadable {
    #[error("{0}")]
    Header(HeaderError),
    #[error("header names first record {0}, the file name {1}")]
    Misnamed(u64, u64),
    #[error("file is {0} bytes, larger than a segment can be")]
    TooLarge(u64),
    #[error("read failed: {0}")]
    Io(io::Error),
}

fn read_segment(path: &Path, first: u64, limit: Option<u64>) -> Result<(u64, SegmentScan), Unreadable> {
    let len = fs::metadata(path).map_err(Unreadable::Io)?.len();
    if len > MAX_SEGMENT_LEN {
        return Err(Unreadable::TooLarge(len));
    }
    let bytes = fs::read(path).map_err(Unreadable::Io)?;
    let named = format::decode_header(&bytes, SEGMENT_MAGIC).map_err(Unreadable::Header)?;
    if named != first {
        return Err(Unreadable::Misnamed(named, first));
    }
    Ok((bytes.len() as u64, format::scan_segment(&bytes, first, limit)))
}

fn read_acks(dir: &Path, result: &mut Scan) {
    let bytes = match fs::read(dir.join(ACKS_FILE)) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return,
        Err(error) => {
            result.ack_problem = Some(format!("ack log unreadable: {error}"));
            return;
        }
    };
    match format::decode_header(&bytes, ACKS_MAGIC) {
        Ok(_) => {
            result.acked = format::scan_acks(&bytes[HEADER_LEN..]);
            if result.acked.is_none() && bytes.len() > HEADER_LEN {
                result.ack_problem = Some("ack log holds no intact entry".to_owned());
            }
        }
        Err(error) => result.ack_problem = Some(format!("ack log: {error}")),
    }
}

/// The state a queue starts from.
#[derive(Debug)]
pub struct Recovered {
    /// The segments that stay (consumed ones are gone).
    pub scan: Scan,
    /// First pending sequence number.
    pub start: u64,
    /// Sequence number of the next record written.
    pub next_seq: u64,
    /// Damaged records skipped among the pending ones.
    pub corrupt: u64,
    /// Bytes of a torn write cut from the end.
    pub torn_bytes: u64,
    /// Segments moved into `quarantine/` by this recovery.
    pub quarantined: usize,
}

/// Scans `dir` and repairs it: the queue always starts from what is left. Failures to repair
/// (a read-only disk, say) are logged and leave the files as they are; new segments are
/// numbered so they never collide with them.
pub fn recover(dir: &Path) -> io::Result<Recovered> {
    fs::create_dir_all(dir)?;
    let mut scan = scan(dir)?;
    let (start, mut next_seq, corrupt, torn_bytes) =
        (scan.start(), scan.next_seq(), scan.corrupt_pending(), scan.torn_bytes());
    let mut quarantined = 0;
    for (path, reason) in &scan.unreadable {
        match quarantine(dir, path) {
            Ok(to) => {
                quarantined += 1;
                warn!(segment = %path.display(), moved_to = %to.display(), "unreadable queue segment quarantined: {reason}");
            }
            Err(error) => {
                warn!(segment = %path.display(), "unreadable queue segment ({reason}) could not be quarantined: {error}");
                // It stays: new segments are numbered after it so it is never overwritten.
                let named = path.file_name().and_then(|name| format::parse_segment_name(&name.to_string_lossy()));
                next_seq = next_seq.max(named.unwrap_or(0).saturating_add(1));
            }
        }
    }
    if let Some(problem) = &scan.ack_problem {
        warn!(dir = %dir.display(), "{problem}; undelivered records from the oldest segment on are delivered again");
        if fs::metadata(dir.join(ACKS_FILE)).is_ok() {
            if let Err(error) = quarantine(dir, &dir.join(ACKS_FILE)) {
                warn!(dir = %dir.display(), "damaged ack log could not be quarantined: {error}");
            }
        }
    }
    for path in &scan.leftovers {
        if let Err(error) = fs::remove_file(path) {
            warn!(file = %path.display(), "could not remove leftover queue file: {error}");
        }
    }
    if let Some(last) = scan.segments.last_mut() {
        let torn = last.file_len - last.scan.valid_end as u64;
        if torn > 0 {
            match File::options().write(true).open(&last.path).and_then(|file| {
                file.set_len(last.scan.valid_end as u64)?;
                sync_file(dir, &file)
            }) {
                Ok(()) => {
                    info!(segment = %last.path.display(), bytes = torn, "cut a torn write at the end of the queue");
                    last.file_len = last.scan.valid_end as u64;
                }
                Err(error) => warn!(segment = %last.path.display(), "could not cut a torn write: {error}"),
            }
        }
    }
    if corrupt > 0 {
        warn!(dir = %dir.display(), records = corrupt, "damaged queue records skipped (checksum mismatch or missing)");
    }
    // Segments whose records were all delivered before the crash, and those without a single
    // intact record (what they lost is counted above; the last one's number is reused).
    let (kept, gone): (Vec<ScannedSegment>, Vec<ScannedSegment>) = std::mem::take(&mut scan.segments)
        .into_iter()
        .partition(|segment| segment.scan.end_seq(segment.first) > start && !segment.scan.ends.is_empty());
    scan.segments = kept;
    for segment in gone {
        if let Err(error) = fs::remove_file(&segment.path) {
            warn!(segment = %segment.path.display(), "could not remove a delivered queue segment: {error}");
        }
    }
    sync_dir(dir);
    Ok(Recovered { scan, start, next_seq, corrupt, torn_bytes, quarantined })
}

/// Moves `path` into `dir/quarantine/`, under a name not taken yet.
fn quarantine(dir: &Path, path: &Path) -> io::Result<PathBuf> {
    let target_dir = dir.join(QUARANTINE_DIR);
    fs::create_dir_all(&target_dir)?;
    let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let mut target = target_dir.join(&name);
    let mut n = 1;
    while fs::symlink_metadata(&target).is_ok() {
        target = target_dir.join(format!("{name}.{n}"));
        n += 1;
    }
    fs::rename(path, &target)?;
    Ok(target)
}

/// Makes renames, creations and deletions in `dir` durable. Best effort: a failure only means
/// the next start may see a file that was already removed, which recovery handles.
pub fn sync_dir(dir: &Path) {
    if let Err(error) = sync_directory(dir) {
        warn!(dir = %dir.display(), "could not sync the queue directory: {error}");
    }
}
