//! A read-only report on a queue directory, for `siem-relay check`: what opening it would
//! deliver and repair, without changing a byte.

use std::io;
use std::path::Path;

use super::recovery;

/// The state of one queue directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueReport {
    /// Intact records not yet acknowledged: what the sink will be sent.
    pub pending_records: u64,
    /// Their bytes on disk (record headers included).
    pub pending_bytes: u64,
    /// Damaged records among the pending ones, skipped when the queue opens.
    pub corrupt_records: u64,
    /// Readable segment files that hold pending records.
    pub segments: usize,
    /// Files in `quarantine/`, plus unreadable segments that opening would move there.
    pub quarantined: usize,
    /// Bytes of a torn write at the end of the newest segment, cut when the queue opens.
    pub torn_bytes: u64,
    /// One line per problem found (unreadable segments and why, a damaged ack log).
    pub problems: Vec<String>,
}

/// Reports on the queue in `dir`. A directory that does not exist is an empty queue.
pub fn inspect(dir: &Path) -> io::Result<QueueReport> {
    let scan = match recovery::scan(dir) {
        Ok(scan) => scan,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(QueueReport::default()),
        Err(error) => return Err(error),
    };
    let start = scan.start();
    let (pending_records, pending_bytes) = scan.index().count(start, u64::MAX);
    let segments = scan.segments.iter().filter(|segment| segment.scan.end_seq(segment.first) > start).count();
    let mut problems: Vec<String> =
        scan.unreadable.iter().map(|(path, reason)| format!("{}: {reason}", path.display())).collect();
    problems.extend(scan.ack_problem.clone());
    Ok(QueueReport {
        pending_records,
        pending_bytes,
        corrupt_records: scan.corrupt_pending(),
        segments,
        quarantined: scan.already_quarantined + scan.unreadable.len(),
        torn_bytes: scan.torn_bytes(),
        problems,
    })
}
