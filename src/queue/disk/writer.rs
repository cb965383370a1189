//! The queue's writer thread: the only code that writes to the queue directory.
//!
//! Producers stage records in memory and wake it; it takes everything staged at once, writes
//! it with one `pwrite` per segment, syncs per the policy, and then publishes the records (the
//! reader may take them, their pushes return). Many concurrent pushes thus share one `fsync`
//! (group commit). Blocking file I/O stays off the async runtime, and because one thread owns
//! the files their layout needs no locking.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::format::{self, ACKS_MAGIC, ACK_ENTRY_LEN, HEADER_LEN, SEGMENT_MAGIC};
use super::index::Segment;
use super::log::{Commit, Shared, Staged};
use super::recovery::sync_dir;
use super::{sync_directory, sync_file, SyncPolicy, ACKS_FILE, ACKS_TEMP_FILE};
use crate::queue::WhenFull;

/// How often the ack log is synced when acknowledgements arrive. Losing the last second of
/// acknowledgements to a power failure costs duplicates, never events.
const ACK_SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// The ack log is rewritten with a single entry once it grows past this.
const ACK_COMPACT_LEN: u64 = 64 * 1024;
/// First and longest wait before writing again after a failure (disk full, I/O error).
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// A failure that goes on is logged again this often.
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Staged records that share one commit, and their payloads back to back.
pub struct Batch {
    records: Vec<Staged>,
    bytes: Vec<u8>,
    commit: Arc<Commit>,
}

/// Everything the writer took from the state in one go.
#[derive(Default)]
struct Work {
    batches: Vec<Batch>,
    ack: Option<u64>,
    deletions: Vec<PathBuf>,
    syncs: Vec<Arc<Commit>>,
    shutdown: bool,
}

/// The segment being appended to.
struct Active {
    first: u64,
    file: File,
    len: u64,
    records: u64,
    /// Written to since its last sync.
    dirty: bool,
}

/// Where each written record went, in order, for the index.
enum Placement {
    NewSegment(u64, PathBuf),
    Record(u32),
}

pub struct Writer {
    shared: Arc<Shared>,
    next_seq: u64,
    active: Option<Active>,
    /// Segments written to but not yet synced (`Interval` policy), oldest first.
    unsynced: Vec<File>,
    /// A segment was created since the directory was last synced.
    dir_dirty: bool,
    last_sync: Instant,
    acks: Option<(File, u64)>,
    /// An ack position that could not be written yet.
    ack_pending: Option<u64>,
    acks_dirty: bool,
    last_ack_sync: Instant,
    /// Batches that failed under `block`, written again before anything newer.
    retry: Vec<Batch>,
    retry_at: Option<Instant>,
    backoff: Duration,
    failing_since: Option<Instant>,
    last_failure_log: Option<Instant>,
    buf: Vec<u8>,
}

impl Writer {
    pub fn new(shared: Arc<Shared>, next_seq: u64) -> Self {
        Writer {
            shared,
            next_seq,
            active: None,
            unsynced: Vec::new(),
            dir_dirty: false,
            last_sync: Instant::now(),
            acks: None,
            ack_pending: None,
            acks_dirty: false,
            last_ack_sync: Instant::now(),
            retry: Vec::new(),
            retry_at: None,
            backoff: RETRY_FIRST,
            failing_since: None,
            last_failure_log: None,
            buf: Vec::new(),
        }
    }

    /// Runs until the queue is dropped; then writes what is staged, syncs, and returns.
    pub fn run(mut self) {
        loop {
            let work = self.take_work();
            let shutdown = work.shutdown;
            self.cycle(work);
            if shutdown {
                return;
            }
        }
    }

    /// Waits until there is something to do and takes it.
    fn take_work(&mut self) -> Work {
        let shared = self.shared.clone();
        let mut state = shared.lock();
        loop {
            let now = Instant::now();
            let retry_due = self.retry_at.is_some_and(|at| at <= now);
            let failing = self.retry_at.is_some();
            let has_work = !state.staged.is_empty()
                || state.persist_start.is_some()
                || !state.deletions.is_empty()
                || !state.sync_requests.is_empty();
            // While failing, new records wait for the retry instead of hammering the disk.
            if state.shutdown || retry_due || (has_work && !failing) || self.periodic_due(now) {
                break;
            }
            let deadline = [self.retry_at, self.next_periodic()].into_iter().flatten().min();
            state = match deadline {
                Some(at) => shared
                    .wake_writer
                    .wait_timeout(state, at.saturating_duration_since(now))
                    .map_or_else(|poisoned| poisoned.into_inner().0, |(state, _)| state),
                None => shared.wake_writer.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner()),
            };
        }
        let batches = if state.staged.is_empty() {
            Vec::new()
        } else {
            let (spare_records, spare_bytes) = std::mem::take(&mut state.spare);
            vec![Batch {
                records: std::mem::replace(&mut state.staged, spare_records),
                bytes: std::mem::replace(&mut state.staged_bytes, spare_bytes),
                commit: std::mem::replace(&mut state.staged_commit, Arc::new(Commit::default())),
            }]
        };
        state.in_writer += batches.iter().map(|batch| batch.records.len() as u64).sum::<u64>();
        Work {
            batches,
            ack: state.persist_start.take(),
            deletions: std::mem::take(&mut state.deletions),
            syncs: std::mem::take(&mut state.sync_requests),
            shutdown: state.shutdown,
        }
    }

    fn periodic_due(&self, now: Instant) -> bool {
        self.next_periodic().is_some_and(|at| at <= now)
    }

    /// When unsynced data must next be synced.
    fn next_periodic(&self) -> Option<Instant> {
        let segments = match self.shared.options.sync {
            SyncPolicy::Interval(every) if self.has_unsynced() => Some(self.last_sync + every),
            _ => None,
        };
        let acks = (self.acks_dirty || self.ack_pending.is_some()).then_some(self.last_ack_sync + ACK_SYNC_INTERVAL);
        [segments, acks].into_iter().flatten().min()
    }

    fn has_unsynced(&self) -> bool {
        !self.unsynced.is_empty() || self.dir_dirty || self.active.as_ref().is_some_and(|active| active.dirty)
    }

    fn cycle(&mut self, work: Work) {
        let mut batches = std::mem::take(&mut self.retry);
        let retrying = !batches.is_empty();
        batches.extend(work.batches);
        let written = if batches.is_empty() { None } else { Some(self.write(&batches)) };
        let sync_everything = work.shutdown || !work.syncs.is_empty();
        let mut synced = Ok(());
        // Under `Batch` the write itself synced.
        if sync_everything || self.periodic_due(Instant::now()) {
            synced = self.sync_segments();
        }
        if let Some(position) = work.ack.or(self.ack_pending.take()) {
            self.persist_ack(position);
        }
        if self.acks_dirty && (sync_everything || self.last_ack_sync.elapsed() >= ACK_SYNC_INTERVAL) {
            self.sync_acks();
        }
        for path in &work.deletions {
            if let Err(error) = fs::remove_file(path) {
                if error.kind() != io::ErrorKind::NotFound {
                    warn!(segment = %path.display(), "could not delete a delivered queue segment: {error}");
                }
            }
        }
        match written {
            Some(Ok(placements)) => {
                if retrying {
                    self.recovered();
                }
                self.publish(batches, placements);
            }
            Some(Err(error)) => self.failed(batches, &error, work.shutdown),
            None => {}
        }
        let ok = synced.is_ok() && self.ack_pending.is_none() && self.retry.is_empty();
        for commit in work.syncs {
            commit.finish(ok);
        }
    }

    /// Writes the records, syncing first under the `Batch` policy. On failure nothing is
    /// published and the files are put back as they were, as far as possible.
    fn write(&mut self, batches: &[Batch]) -> io::Result<Vec<Placement>> {
        #[cfg(test)]
        if self.shared.lock().fail_writes {
            self.active = None;
            return Err(io::Error::new(io::ErrorKind::StorageFull, "simulated: no space left on device"));
        }
        let before = self.active.as_ref().map(|active| (active.first, active.len));
        let mut created = Vec::new();
        let mut placements = Vec::new();
        let result =
            self.write_records(batches, &mut created, &mut placements).and_then(|()| match self.shared.options.sync {
                SyncPolicy::Batch => self.sync_segments(),
                SyncPolicy::Interval(_) => Ok(()),
            });
        match result {
            Ok(()) => Ok(placements),
            Err(error) => {
                self.roll_back(before, &created);
                Err(error)
            }
        }
    }

    fn write_records(
        &mut self,
        batches: &[Batch],
        created: &mut Vec<PathBuf>,
        placements: &mut Vec<Placement>,
    ) -> io::Result<()> {
        let segment_bytes = self.shared.options.segment_bytes;
        let mut seq = self.next_seq;
        self.buf.clear();
        for (staged, payload) in batches.iter().flat_map(|batch| {
            let mut from = 0;
            batch.records.iter().map(move |staged| {
                let payload = &batch.bytes[from..from + staged.payload_len()];
                from += staged.payload_len();
                (staged, payload)
            })
        }) {
            let full =
                |active: &Active, pending: usize| active.records > 0 && active.len + pending as u64 >= segment_bytes;
            let roll = match &self.active {
                None => true,
                Some(active) => full(active, self.buf.len()),
            };
            if roll {
                self.flush()?;
                let path = self.create_segment(seq)?;
                created.push(path.clone());
                placements.push(Placement::NewSegment(seq, path));
            }
            let Some(active) = self.active.as_mut() else {
                return Err(io::Error::other("no active segment"));
            };
            format::encode_record(seq, payload, &mut self.buf);
            debug_assert_eq!(format::record_len(payload.len()) as u64, staged.size);
            active.records += 1;
            placements.push(Placement::Record((active.len + self.buf.len() as u64) as u32));
            seq += 1;
        }
        self.flush()?;
        self.next_seq = seq;
        Ok(())
    }

    /// Writes the buffered records at the end of the active segment.
    fn flush(&mut self) -> io::Result<()> {
        if let Some(active) = self.active.as_mut() {
            if !self.buf.is_empty() {
                active.file.write_all_at(&self.buf, active.len)?;
                active.len += self.buf.len() as u64;
                active.dirty = true;
                self.buf.clear();
            }
        }
        Ok(())
    }

    /// Starts a new segment whose first record is `first`; the previous one is sealed.
    fn create_segment(&mut self, first: u64) -> io::Result<PathBuf> {
        let path = self.shared.dir.join(format::segment_name(first));
        // Truncating: a file of this name can only be left from a failed attempt.
        let file = File::options().read(true).write(true).create(true).truncate(true).open(&path)?;
        file.write_all_at(&format::encode_header(SEGMENT_MAGIC, first), 0)?;
        if let Some(previous) = self.active.take() {
            match self.shared.options.sync {
                // Sealed segments are synced before the new one takes records.
                SyncPolicy::Batch => sync_file(&self.shared.dir, &previous.file)?,
                SyncPolicy::Interval(_) => self.unsynced.push(previous.file),
            }
        }
        self.active = Some(Active { first, file, len: HEADER_LEN as u64, records: 0, dirty: true });
        self.dir_dirty = true;
        Ok(path)
    }

    /// Syncs every segment written since the last sync, and the directory if it changed.
    fn sync_segments(&mut self) -> io::Result<()> {
        for file in &self.unsynced {
            sync_file(&self.shared.dir, file)?;
        }
        self.unsynced.clear();
        if let Some(active) = self.active.as_mut().filter(|active| active.dirty) {
            sync_file(&self.shared.dir, &active.file)?;
            active.dirty = false;
        }
        if self.dir_dirty {
            sync_directory(&self.shared.dir)?;
            self.dir_dirty = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// After a failed write: new segments are removed and the old one cut back to its
    /// published length. The next write starts a fresh segment either way, so bytes a failed
    /// cut leaves behind sit past the end that the next segment's number marks, where recovery
    /// ignores them.
    fn roll_back(&mut self, before: Option<(u64, u64)>, created: &[PathBuf]) {
        self.active = None;
        self.unsynced.clear();
        self.buf.clear();
        for path in created {
            let _ = fs::remove_file(path);
        }
        if let Some((first, len)) = before {
            let path = self.shared.dir.join(format::segment_name(first));
            let _ = File::options().write(true).open(path).and_then(|file| file.set_len(len));
        }
    }

    /// Appends the ack position to the ack log, rewriting the log when it is missing or long.
    fn persist_ack(&mut self, position: u64) {
        let result = match &mut self.acks {
            Some((file, len)) if *len < ACK_COMPACT_LEN => {
                file.write_all_at(&format::encode_ack(position), *len).map(|()| *len += ACK_ENTRY_LEN as u64)
            }
            _ => self.rewrite_acks(position),
        };
        match result {
            Ok(()) => self.acks_dirty = true,
            Err(error) => {
                self.acks = None;
                self.ack_pending = Some(position);
                self.log_failure("could not record delivered position", &error);
            }
        }
    }

    /// Writes a fresh ack log holding only `position` (temp file, sync, rename, sync dir).
    fn rewrite_acks(&mut self, position: u64) -> io::Result<()> {
        let dir = &self.shared.dir;
        let temp = dir.join(ACKS_TEMP_FILE);
        let mut bytes = format::encode_header(ACKS_MAGIC, 0).to_vec();
        bytes.extend_from_slice(&format::encode_ack(position));
        let file = File::options().read(true).write(true).create(true).truncate(true).open(&temp)?;
        file.write_all_at(&bytes, 0)?;
        sync_file(dir, &file)?;
        fs::rename(&temp, dir.join(ACKS_FILE))?;
        sync_dir(dir);
        self.acks = Some((file, bytes.len() as u64));
        self.last_ack_sync = Instant::now();
        Ok(())
    }

    fn sync_acks(&mut self) {
        if let Some((file, _)) = &self.acks {
            if let Err(error) = sync_file(&self.shared.dir, file) {
                self.log_failure("could not sync the ack log", &error);
                // Rewritten (and so synced) with the next position.
                self.acks = None;
            }
        }
        self.acks_dirty = false;
        self.last_ack_sync = Instant::now();
    }

    /// Makes written records visible to the reader and completes their pushes.
    fn publish(&mut self, batches: Vec<Batch>, placements: Vec<Placement>) {
        let shared = self.shared.clone();
        let mut state = shared.lock();
        for placement in placements {
            match placement {
                Placement::NewSegment(first, path) => {
                    state.index.segments.push_back(Segment { first, path, ends: Vec::new() });
                }
                Placement::Record(end) => state.index.append(end),
            }
        }
        let mut commits = Vec::with_capacity(batches.len());
        for mut batch in batches {
            state.in_writer -= batch.records.len() as u64;
            for staged in batch.records.drain(..) {
                state.push_resident(staged.event);
            }
            batch.bytes.clear();
            state.spare = (batch.records, batch.bytes);
            commits.push(batch.commit);
        }
        state.written = self.next_seq;
        state.evict_resident(shared.options.memory_bytes);
        // A segment sealed by this write may already be fully delivered.
        let start = state.start;
        let consumed = state.index.remove_consumed(start);
        if !consumed.is_empty() {
            state.forget_reader_file(&consumed);
            state.deletions.extend(consumed);
        }
        drop(state);
        for commit in commits {
            commit.finish(true);
        }
        shared.readable.notify_one();
        // `drop_oldest` pushes may wait for written records to drop.
        shared.not_full.notify_waiters();
    }

    /// A write failed: under `block` the records are kept and written again after a pause
    /// (the pushes wait; producers block once the queue counts them as full); otherwise their
    /// pushes fail and they leave the queue's accounting.
    fn failed(&mut self, batches: Vec<Batch>, error: &io::Error, shutdown: bool) {
        self.log_failure("cannot write to the disk queue", error);
        if self.shared.options.when_full == WhenFull::Block && !shutdown {
            self.retry = batches;
            self.retry_at = Some(Instant::now() + self.backoff);
            self.backoff = (self.backoff * 2).min(RETRY_MAX);
            return;
        }
        let shared = self.shared.clone();
        let mut state = shared.lock();
        let mut commits = Vec::with_capacity(batches.len());
        for batch in batches {
            state.in_writer -= batch.records.len() as u64;
            state.write_failures += batch.records.len() as u64;
            for staged in &batch.records {
                state.pending_records -= 1;
                state.pending_bytes -= staged.size;
            }
            commits.push(batch.commit);
        }
        drop(state);
        for commit in commits {
            commit.finish(false);
        }
        shared.not_full.notify_waiters();
        shared.readable.notify_one();
    }

    fn recovered(&mut self) {
        if let Some(since) = self.failing_since.take() {
            info!(dir = %self.shared.dir.display(), "disk queue writable again after {:.1?}", since.elapsed());
        }
        self.retry_at = None;
        self.backoff = RETRY_FIRST;
        self.last_failure_log = None;
    }

    /// Logs a failure when it starts and then at most every [`FAILURE_LOG_INTERVAL`].
    fn log_failure(&mut self, what: &str, error: &io::Error) {
        let now = Instant::now();
        self.failing_since.get_or_insert(now);
        if self.last_failure_log.is_none_or(|at| now.duration_since(at) >= FAILURE_LOG_INTERVAL) {
            self.last_failure_log = Some(now);
            let policy = match self.shared.options.when_full {
                WhenFull::Block => "pushes wait and the write is retried",
                WhenFull::DropNewest | WhenFull::DropOldest => "the records are dropped",
            };
            warn!(dir = %self.shared.dir.display(), "{what}: {error}; {policy}");
        }
    }
}
