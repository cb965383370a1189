//! The durable disk queue: an append-only, segmented log per sink that survives process
//! crashes, restarts and (with the `Batch` sync policy) power failures.
//!
//! A queue lives in its own directory (`data_dir/<sink name>/`):
//!
//! ```text
//! 00000000000000000001.seg   segment: header, then records numbered from 1
//! 00000000000000004097.seg   the next segment, first record 4097
//! acks                       ack log: the first sequence number not yet acknowledged
//! quarantine/                unreadable files moved aside at startup, never read again
//! ```
//!
//! Records are CRC32C-checked and numbered; `docs/disk-queue-format.md` specifies the bytes.
//! Producers [`push`](DiskQueue::push) events under the sink's `when_full` policy and limits;
//! the sink [reads](DiskQueue::read_batch) batches in order without removing them and
//! [acknowledges](DiskQueue::ack) them once delivered; a segment is deleted once all its records
//! are acknowledged. After a crash, everything after the last recorded acknowledgement is
//! delivered again (at least once).
//!
//! Use from the daemon: [`DiskQueue::open`] at startup (blocking: it scans the segments);
//! producers [`enqueue`](DiskQueue::enqueue) a read buffer's events and then wait for them
//! (one sync for all), or [`push`](DiskQueue::push) one; the sink worker loops on
//! [`read_batch`](DiskQueue::read_batch), delivers, and calls [`ack`](DiskQueue::ack) with the
//! batch's sequence number once the receiver confirmed it (the stream replay window still
//! re-sends after a reconnect; [`rewind`](DiskQueue::rewind) re-reads everything unconfirmed if
//! the worker lost its window). On shutdown: [`close`](DiskQueue::close), drain until the
//! deadline, [`sync`](DiskQueue::sync), drop. [`inspect()`] is for `siem-relay check`.
//!
//! Files: `format` (bytes), `index` (where records are), `payload` (event <-> bytes),
//! `recovery` (startup repairs), `inspect` (read-only report), `writer` (the thread that
//! writes, group commit), `log` (the queue itself).
//!
//! What each sync policy can lose:
//! - A process crash (kill -9, panic, OOM) loses nothing a push returned for, under either
//!   policy: records are written with `pwrite` before the push returns, and the kernel keeps
//!   written data when a process dies.
//! - A power failure or kernel crash: under [`SyncPolicy::Batch`] nothing a push returned for
//!   (each write is followed by `fdatasync` before its pushes return, and new segment files by a
//!   directory sync); under [`SyncPolicy::Interval`] up to one interval of pushes. Under both,
//!   up to about a second of acknowledgements (the ack log is synced at most once a second), so
//!   records delivered in that second are delivered again; never lost.

pub mod format;
mod index;
mod inspect;
mod log;
mod payload;
mod recovery;
mod writer;

#[cfg(test)]
mod tests;

use std::fs::File;
use std::io;
use std::path::Path;

use std::fmt;
use std::time::Duration;

pub use inspect::{inspect, QueueReport};
pub use log::{DiskQueue, Enqueued, ReadOutcome};

use super::{Limits, WhenFull};

/// The ack log's file name.
const ACKS_FILE: &str = "acks";
/// Where a new ack log is written before it replaces the old one.
const ACKS_TEMP_FILE: &str = "acks.tmp";
/// Where unreadable files are moved.
const QUARANTINE_DIR: &str = "quarantine";

/// Default memory for the newest records, so a sink that keeps up reads none back from disk.
pub const DEFAULT_MEMORY_BYTES: usize = 4 * 1024 * 1024;

/// A record's position in its queue: assigned in push order, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SequenceNumber(pub u64);

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// When written records are forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// `fdatasync` after every write, before its pushes return. Concurrent pushes share one
    /// write and one sync (group commit). A power failure loses nothing pushed.
    Batch,
    /// `fdatasync` at most this often; pushes return once written. A power failure loses up to
    /// this much of the newest pushes.
    Interval(Duration),
}

impl SyncPolicy {
    pub const NAMES: &'static str = "\"batch\" or an interval such as \"100ms\"";

    /// `batch`, or an interval in milliseconds: `100ms`.
    pub fn parse(text: &str) -> Option<Self> {
        if text == "batch" {
            return Some(SyncPolicy::Batch);
        }
        let millis: u64 = text.strip_suffix("ms")?.parse().ok()?;
        (millis > 0).then(|| SyncPolicy::Interval(Duration::from_millis(millis)))
    }
}

/// How a disk queue is bounded and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskQueueOptions {
    /// `max_bytes` counts bytes on disk (record headers included) of unacknowledged records.
    /// The directory also holds the delivered start of the oldest segment, so it may use up to
    /// `max_bytes + segment_bytes` plus one write batch.
    pub limits: Limits,
    pub when_full: WhenFull,
    pub sync: SyncPolicy,
    /// A segment is sealed and a new one started once it reaches this size.
    pub segment_bytes: u64,
    /// Memory for the newest records (by input line size): a sink that keeps up gets them
    /// without reading the disk.
    pub memory_bytes: usize,
}

impl DiskQueueOptions {
    /// `Batch` sync, segments of an eighth of `max_bytes` (64 KiB to 16 MiB), 4 MiB in memory.
    pub fn new(limits: Limits, when_full: WhenFull) -> Self {
        let segment_bytes = (limits.max_bytes as u64 / 8).clamp(64 * 1024, 16 * 1024 * 1024);
        DiskQueueOptions {
            limits,
            when_full,
            sync: SyncPolicy::Batch,
            segment_bytes,
            memory_bytes: DEFAULT_MEMORY_BYTES,
        }
    }
}

/// A disk queue's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskQueueStats {
    /// Unacknowledged records (including those being written) and their bytes on disk.
    pub pending_records: u64,
    pub pending_bytes: u64,
    /// Written records the sink has not read yet.
    pub unread_records: u64,
    pub segments: usize,
    /// Pushes that could not be written (disk full, I/O error) and were dropped.
    pub write_failures: u64,
    /// Damaged records skipped, at startup and while reading.
    pub corrupt_records: u64,
}

/// `fdatasync` of a file of the queue in `dir`.
fn sync_file(dir: &Path, file: &File) -> io::Result<()> {
    if skipping_fsync(dir) {
        return Ok(());
    }
    file.sync_data()
}

/// Makes creations, renames and deletions in `dir` durable.
fn sync_directory(dir: &Path) -> io::Result<()> {
    if skipping_fsync(dir) {
        return Ok(());
    }
    File::open(dir)?.sync_all()
}

#[cfg(not(test))]
fn skipping_fsync(_dir: &Path) -> bool {
    false
}

/// Directories whose queues skip `fsync`: the property tests simulate crashes by cutting files,
/// so they need no data on the platter, and thousands of syncs on a busy disk would make them
/// slow. Every other test syncs for real.
#[cfg(test)]
static NO_FSYNC: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

#[cfg(test)]
fn skip_fsync_under(dir: &Path) {
    NO_FSYNC.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(dir.to_path_buf());
}

#[cfg(test)]
fn skipping_fsync(dir: &Path) -> bool {
    NO_FSYNC.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).iter().any(|prefix| dir.starts_with(prefix))
}
