//! [`DiskQueue`]: the durable queue of one sink, built on the segment files, the ack log and
//! the writer thread.
//!
//! Positions, all sequence numbers: `start` is the first record not yet acknowledged (or
//! dropped); `read` the next one the reader gets; `written` the first not yet written. Records
//! in `start..read` are in flight at the sink; `read..written` are waiting; staged records
//! (pushed, not yet written) have no number yet. The newest records are also kept in memory
//! (`resident`, up to `memory_bytes`), so a sink that keeps up never reads the disk.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;

use tokio::sync::Notify;
use tracing::{error, warn};

use super::format::{self, MAX_PAYLOAD, MAX_SEGMENT_LEN};
use super::index::{Index, Span};
use super::inspect::QueueReport;
use super::writer::Writer;
use super::{payload, recovery, DiskQueueOptions, DiskQueueStats, SequenceNumber};
use crate::event::Event;
use crate::queue::{Push, WhenFull};

/// A bounded, durable, multi-producer single-consumer queue of events for one sink, kept in
/// its own directory.
///
/// Records are read without being removed ([`read_batch`](Self::read_batch)) and leave the
/// queue when the sink confirms them ([`ack`](Self::ack)). After a restart everything not
/// acknowledged is read again: delivery is at least once.
#[derive(Debug)]
pub struct DiskQueue {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
    recovered: QueueReport,
}

/// What the queue and its writer thread share.
#[derive(Debug)]
pub struct Shared {
    pub dir: PathBuf,
    pub options: DiskQueueOptions,
    state: Mutex<State>,
    /// Wakes the writer thread when there is something to write, acknowledge or delete.
    pub wake_writer: Condvar,
    /// Wakes blocked producers when room appears or the queue closes.
    pub not_full: Notify,
    /// Wakes the reader when records were written or the queue closed.
    pub readable: Notify,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // Every update under this lock is a few counters and queue operations that cannot be
        // left half done by a panic elsewhere, so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A pushed record waiting for the writer. Its payload follows the previous record's in the
/// stage's byte buffer: one buffer, reused, instead of an allocation per event that another
/// thread frees.
#[derive(Debug)]
pub struct Staged {
    pub event: Arc<Event>,
    /// Bytes it will take on disk: the record header and the payload.
    pub size: u64,
}

impl Staged {
    pub fn payload_len(&self) -> usize {
        self.size as usize - format::RECORD_HEADER_LEN
    }
}

/// The outcome of one write, shared by every push in it.
#[derive(Debug, Default)]
pub struct Commit {
    written: OnceLock<bool>,
    done: Notify,
}

impl Commit {
    pub fn finish(&self, written: bool) {
        let _ = self.written.set(written);
        self.done.notify_waiters();
    }

    async fn wait(&self) -> bool {
        loop {
            let done = self.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if let Some(written) = self.written.get() {
                return *written;
            }
            done.await;
        }
    }
}

#[derive(Debug)]
pub struct State {
    pub start: u64,
    pub read: u64,
    pub written: u64,
    pub index: Index,
    /// Events `resident_from..written`, oldest first.
    resident: VecDeque<Arc<Event>>,
    resident_from: u64,
    resident_bytes: usize,
    /// Records (and their bytes on disk) counted against the limits: unacknowledged written
    /// ones, staged ones and those the writer holds.
    pub pending_records: u64,
    pub pending_bytes: u64,
    pub staged: Vec<Staged>,
    /// The staged records' payloads, back to back.
    pub staged_bytes: Vec<u8>,
    pub staged_commit: Arc<Commit>,
    /// Emptied buffers the writer hands back, so staging allocates nothing in the long run.
    pub spare: (Vec<Staged>, Vec<u8>),
    /// Records the writer has taken and not yet published or failed.
    pub in_writer: u64,
    /// A new `start` for the writer to record in the ack log.
    pub persist_start: Option<u64>,
    /// Consumed segments for the writer to delete.
    pub deletions: Vec<PathBuf>,
    pub sync_requests: Vec<Arc<Commit>>,
    closed: bool,
    pub shutdown: bool,
    /// The reader's open segment (its first sequence number and file).
    reader_file: Option<(u64, Arc<File>)>,
    pub write_failures: u64,
    corrupt_read: u64,
    /// Test hook: every write fails as if the disk were full.
    #[cfg(test)]
    pub fail_writes: bool,
}

impl State {
    fn fits(&self, options: &DiskQueueOptions, size: u64) -> bool {
        self.pending_records == 0
            || (self.pending_records < options.limits.max_events as u64
                && self.pending_bytes + size <= options.limits.max_bytes as u64)
    }

    pub fn push_resident(&mut self, event: Arc<Event>) {
        self.resident_bytes += event.wire_size();
        self.resident.push_back(event);
    }

    /// Forgets the oldest resident events beyond the memory budget; they are read from disk.
    pub fn evict_resident(&mut self, budget: usize) {
        while self.resident_bytes > budget {
            let Some(event) = self.resident.pop_front() else { break };
            self.resident_bytes -= event.wire_size();
            self.resident_from += 1;
        }
    }

    pub fn forget_reader_file(&mut self, removed: &[PathBuf]) {
        if let Some((first, _)) = &self.reader_file {
            let name = format::segment_name(*first);
            if removed.iter().any(|path| path.file_name().is_some_and(|file| file == name.as_str())) {
                self.reader_file = None;
            }
        }
    }

    /// Everything before `target` is acknowledged or dropped: returns how many intact records
    /// that took out of the queue.
    fn advance_start(&mut self, target: u64) -> u64 {
        if target <= self.start {
            return 0;
        }
        let (records, bytes) = self.index.count(self.start, target);
        self.pending_records -= records;
        self.pending_bytes -= bytes;
        self.start = target;
        self.read = self.read.max(target);
        while self.resident_from < target {
            let Some(event) = self.resident.pop_front() else { break };
            self.resident_bytes -= event.wire_size();
            self.resident_from += 1;
        }
        let consumed = self.index.remove_consumed(target);
        self.forget_reader_file(&consumed);
        self.deletions.extend(consumed);
        self.persist_start = Some(target);
        records
    }

    /// Drops the oldest written records until `size` more bytes fit; returns how many.
    fn drop_oldest(&mut self, options: &DiskQueueOptions, size: u64) -> usize {
        let mut dropped = 0;
        while !self.fits(options, size) && self.start < self.written {
            dropped += self.advance_start(self.start + 1) as usize;
        }
        dropped
    }

    fn finished(&self) -> bool {
        self.closed && self.staged.is_empty() && self.in_writer == 0 && self.read >= self.written
    }
}

/// A push that has been accepted into the queue (or refused) and may still be on its way to
/// disk. Lets a producer hand over many events and then wait once for all of them.
#[derive(Debug)]
#[must_use = "the push is only durable once `wait` returns"]
pub struct Enqueued {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Done(Push),
    Writing { commit: Arc<Commit>, dropped: usize },
}

impl Enqueued {
    /// Waits until the event is written (and synced, under `SyncPolicy::Batch`). A write that
    /// failed (under `drop_newest` or `drop_oldest`; `block` retries) reads as
    /// [`Push::DroppedNewest`] and is counted in [`DiskQueueStats::write_failures`].
    pub async fn wait(self) -> Push {
        match self.inner {
            Inner::Done(push) => push,
            Inner::Writing { commit, dropped } => match (commit.wait().await, dropped) {
                (true, 0) => Push::Queued,
                (true, dropped) => Push::QueuedDroppingOldest(dropped),
                (false, _) => Push::DroppedNewest,
            },
        }
    }
}

/// What [`DiskQueue::try_read_batch`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Events were added; acknowledging this sequence number confirms all of them.
    Batch(SequenceNumber),
    /// Nothing to read yet.
    Empty,
    /// Closed, and everything has been read.
    Finished,
}

impl DiskQueue {
    /// Opens (creating if needed) the queue in `dir`, recovering whatever a crash left there
    /// (see `recovery`). Fails only if the directory cannot be created or listed, or the
    /// writer thread cannot be started. Blocking: it reads every segment once, so call it
    /// before the runtime starts or from `spawn_blocking`.
    pub fn open(dir: impl Into<PathBuf>, mut options: DiskQueueOptions) -> io::Result<DiskQueue> {
        let dir = dir.into();
        // Offsets in a segment must fit 31 bits, with room for the record that crosses the size.
        options.segment_bytes = options.segment_bytes.clamp(1, MAX_SEGMENT_LEN / 2);
        let recovered = recovery::recover(&dir)?;
        let index = recovered.scan.index();
        let (pending_records, pending_bytes) = index.count(recovered.start, u64::MAX);
        let report = QueueReport {
            pending_records,
            pending_bytes,
            corrupt_records: recovered.corrupt,
            segments: index.segments.len(),
            quarantined: recovered.scan.already_quarantined + recovered.quarantined,
            torn_bytes: recovered.torn_bytes,
            problems: recovered
                .scan
                .unreadable
                .iter()
                .map(|(path, reason)| format!("{}: {reason}", path.display()))
                .chain(recovered.scan.ack_problem.clone())
                .collect(),
        };
        let state = State {
            start: recovered.start,
            read: recovered.start,
            written: recovered.next_seq,
            index,
            resident: VecDeque::new(),
            resident_from: recovered.next_seq,
            resident_bytes: 0,
            pending_records,
            pending_bytes,
            staged: Vec::new(),
            staged_bytes: Vec::new(),
            staged_commit: Arc::default(),
            spare: (Vec::new(), Vec::new()),
            in_writer: 0,
            // Written at once: this also replaces a damaged or long ack log with a clean one.
            persist_start: Some(recovered.start),
            deletions: Vec::new(),
            sync_requests: Vec::new(),
            closed: false,
            shutdown: false,
            reader_file: None,
            write_failures: 0,
            corrupt_read: 0,
            #[cfg(test)]
            fail_writes: false,
        };
        let shared = Arc::new(Shared {
            dir,
            options,
            state: Mutex::new(state),
            wake_writer: Condvar::new(),
            not_full: Notify::new(),
            readable: Notify::new(),
        });
        let writer = Writer::new(shared.clone(), recovered.next_seq);
        let name =
            format!("disk-queue-{}", shared.dir.file_name().map(|name| name.to_string_lossy()).unwrap_or_default());
        let writer = std::thread::Builder::new().name(name).spawn({
            let shared = shared.clone();
            move || {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| writer.run())).is_err() {
                    // A bug, not a disk problem: fail what is staged rather than leave its
                    // pushes waiting forever, and refuse new ones.
                    error!(dir = %shared.dir.display(), "disk queue writer failed; the queue is closed");
                    let commit = {
                        let mut state = shared.lock();
                        state.closed = true;
                        state.staged_commit.clone()
                    };
                    commit.finish(false);
                    shared.not_full.notify_waiters();
                    shared.readable.notify_one();
                }
            }
        })?;
        Ok(DiskQueue { shared, writer: Some(writer), recovered: report })
    }

    /// The queue's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// What opening found and repaired.
    pub fn recovered(&self) -> &QueueReport {
        &self.recovered
    }

    /// Adds an event, applying the `when_full` policy (with `block` this waits for room), and
    /// waits until it is on disk. A process crash after this returns cannot lose the event.
    pub async fn push(&self, event: Arc<Event>) -> Push {
        self.enqueue(event).await.wait().await
    }

    /// Adds `events` in order, each as [`push`](Self::push) would, and appends one outcome per
    /// event to `out`; returns once all of them are written. They are all enqueued first, so
    /// they share one write and one sync.
    pub async fn push_batch(&self, events: &[Arc<Event>], out: &mut Vec<Push>) {
        let mut enqueued = Vec::with_capacity(events.len());
        for event in events {
            enqueued.push(self.enqueue(event.clone()).await);
        }
        for push in enqueued {
            out.push(push.wait().await);
        }
    }

    /// Adds an event like [`push`](Self::push) but returns once it is accepted, before it is
    /// written: a producer with many events enqueues them all, then waits for each; they share
    /// one write and one sync. Writes complete in enqueue order, so once the last one's wait
    /// returns the others' return at once (each has its own outcome: under a drop policy a
    /// failed write fails only the pushes in it).
    ///
    /// This is what makes a disk queue fast: one `push` at a time waits for a sync each.
    pub async fn enqueue(&self, event: Arc<Event>) -> Enqueued {
        let options = &self.shared.options;
        // Records dropped for this push, over every wait.
        let mut dropped = 0;
        loop {
            let room = self.shared.not_full.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            let attempt = SCRATCH.with_borrow_mut(|payload| {
                // Serialized outside the lock, into a buffer each thread reuses.
                payload.clear();
                if payload::encode_into(&event, payload).is_err() || payload.len() > MAX_PAYLOAD {
                    self.shared.lock().write_failures += 1;
                    return Attempt::Done(Push::DroppedNewest);
                }
                let size = format::record_len(payload.len()) as u64;
                let mut state = self.shared.lock();
                if state.closed {
                    return Attempt::Done(Push::Closed);
                }
                if !state.fits(options, size) {
                    match options.when_full {
                        // Waits until acknowledgements make room.
                        WhenFull::Block => {}
                        WhenFull::DropNewest => return Attempt::Done(Push::DroppedNewest),
                        // Only written records can be dropped: if what fills the queue is still
                        // being written, this waits for that write (one sync at most).
                        WhenFull::DropOldest => dropped += state.drop_oldest(options, size),
                    }
                }
                if !state.fits(options, size) {
                    return Attempt::Wait;
                }
                state.pending_records += 1;
                state.pending_bytes += size;
                // The writer takes everything staged at once: it was woken by the push that
                // found the stage empty, and waking it again would cost a syscall a push.
                let wake = state.staged.is_empty();
                state.staged_bytes.extend_from_slice(payload);
                state.staged.push(Staged { event: event.clone(), size });
                let commit = state.staged_commit.clone();
                drop(state);
                if wake {
                    self.shared.wake_writer.notify_one();
                }
                Attempt::Staged(commit)
            });
            match attempt {
                Attempt::Done(push) => return Enqueued { inner: Inner::Done(push) },
                Attempt::Staged(commit) => return Enqueued { inner: Inner::Writing { commit, dropped } },
                Attempt::Wait => {}
            }
            room.await;
        }
    }

    /// Adds up to `max_events` events (and roughly `max_bytes` of them, at least one) to
    /// `out`, in order, without removing them, waiting until there is one. Returns the
    /// sequence number to [`ack`](Self::ack) once the sink confirmed them, or `None` once the
    /// queue is closed and everything has been read.
    pub async fn read_batch(
        &self,
        max_events: usize,
        max_bytes: usize,
        out: &mut Vec<Arc<Event>>,
    ) -> Option<SequenceNumber> {
        loop {
            let arrival = self.shared.readable.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            match self.try_read_batch(max_events, max_bytes, out) {
                ReadOutcome::Batch(last) => return Some(last),
                ReadOutcome::Finished => return None,
                ReadOutcome::Empty => arrival.await,
            }
        }
    }

    /// Like [`read_batch`](Self::read_batch) without waiting. Records not in memory are read
    /// from the segment files (usually from the page cache) on the calling thread.
    pub fn try_read_batch(&self, max_events: usize, max_bytes: usize, out: &mut Vec<Arc<Event>>) -> ReadOutcome {
        let added_before = out.len();
        loop {
            let plan = {
                let mut state = self.shared.lock();
                state.read = state.read.max(state.start);
                if state.read >= state.written {
                    return if state.finished() { ReadOutcome::Finished } else { ReadOutcome::Empty };
                }
                if state.read >= state.resident_from {
                    return read_resident(&mut state, max_events, max_bytes, out);
                }
                match plan_disk_read(&mut state, max_events, max_bytes) {
                    Some(plan) => plan,
                    None => continue,
                }
            };
            let file = match plan.file.clone().map_or_else(|| File::open(&plan.path).map(Arc::new), Ok) {
                Ok(file) => file,
                Err(error) => {
                    self.lost(&plan, &format!("cannot open segment: {error}"));
                    continue;
                }
            };
            let last = plan.spans.last().map_or(plan.spans[0].0, |(seq, _)| *seq);
            let added = self.decode(&plan, &file, out);
            let mut state = self.shared.lock();
            state.read = state.read.max(last + 1);
            if plan.file.is_none() {
                state.reader_file = Some((plan.first, file));
            }
            if added > 0 || out.len() > added_before {
                return ReadOutcome::Batch(SequenceNumber(last));
            }
        }
    }

    /// Reads the planned records from `file` into `out`; damaged ones are counted and skipped.
    fn decode(&self, plan: &DiskRead, file: &File, out: &mut Vec<Arc<Event>>) -> usize {
        let from = plan.spans[0].1.start;
        let to = plan.spans.last().map_or(from, |(_, span)| span.end);
        let mut buf = vec![0u8; (to - from) as usize];
        if let Err(error) = file.read_exact_at(&mut buf, u64::from(from)) {
            self.lost(plan, &format!("read failed: {error}"));
            return 0;
        }
        let mut added = 0;
        let mut damaged = 0;
        for (seq, span) in plan.spans.iter().filter(|(_, span)| span.intact) {
            let at = (span.start - from) as usize;
            let event = format::parse_record(&buf, at)
                .filter(|record| record.seq == *seq && record.end == (span.end - from) as usize)
                .and_then(|record| payload::decode(&buf[record.payload]).ok());
            match event {
                Some(event) => {
                    out.push(Arc::new(event));
                    added += 1;
                }
                None => damaged += 1,
            }
        }
        if damaged > 0 {
            self.shared.lock().corrupt_read += damaged;
            warn!(dir = %self.shared.dir.display(), records = damaged, "damaged queue records skipped while reading");
        }
        added
    }

    /// The planned records cannot be read: they are skipped and counted.
    fn lost(&self, plan: &DiskRead, why: &str) {
        let intact = plan.spans.iter().filter(|(_, span)| span.intact).count() as u64;
        let mut state = self.shared.lock();
        // A drop may have removed the segment meanwhile; then nothing was lost.
        if state.start > plan.spans.last().map_or(0, |(seq, _)| *seq) {
            return;
        }
        state.corrupt_read += intact;
        state.reader_file = None;
        drop(state);
        warn!(segment = %plan.path.display(), records = intact, "queue records skipped: {why}");
    }

    /// The sink confirmed every record up to and including `up_to`: they leave the queue, and
    /// segments holding only confirmed records are deleted. Records not read yet cannot be
    /// confirmed; `up_to` is capped to the last one read.
    pub fn ack(&self, up_to: SequenceNumber) {
        let mut state = self.shared.lock();
        let target = up_to.0.saturating_add(1).min(state.read);
        if target <= state.start {
            return;
        }
        state.advance_start(target);
        drop(state);
        self.shared.wake_writer.notify_one();
        self.shared.not_full.notify_waiters();
    }

    /// Reads everything unacknowledged again from the oldest, as after a restart (for a sink
    /// that lost what it had read).
    pub fn rewind(&self) {
        let mut state = self.shared.lock();
        state.read = state.start;
    }

    /// Refuses further pushes (blocked producers get [`Push::Closed`]); the reader still gets
    /// everything queued, then `None`. What is not acknowledged stays on disk for next time.
    pub fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.not_full.notify_waiters();
        self.shared.readable.notify_one();
    }

    /// Waits until everything pushed so far and the latest acknowledgement are synced to disk;
    /// `false` if the disk refused. For a graceful shutdown, whatever the sync policy.
    pub async fn sync(&self) -> bool {
        let commit = Arc::new(Commit::default());
        self.shared.lock().sync_requests.push(commit.clone());
        self.shared.wake_writer.notify_one();
        commit.wait().await
    }

    /// Records and bytes (on disk) not yet acknowledged, including those being written.
    pub fn depth(&self) -> (u64, u64) {
        let state = self.shared.lock();
        (state.pending_records, state.pending_bytes)
    }

    pub fn stats(&self) -> DiskQueueStats {
        let state = self.shared.lock();
        DiskQueueStats {
            pending_records: state.pending_records,
            pending_bytes: state.pending_bytes,
            unread_records: state.index.count(state.read, state.written).0,
            segments: state.index.segments.len(),
            write_failures: state.write_failures,
            corrupt_records: self.recovered.corrupt_records + state.corrupt_read,
        }
    }

    #[cfg(test)]
    pub(super) fn fail_writes(&self, fail: bool) {
        self.shared.lock().fail_writes = fail;
        self.shared.wake_writer.notify_one();
    }
}

impl Drop for DiskQueue {
    /// Stops the writer thread after it has written what is staged and synced everything, so
    /// a queue dropped and opened again continues exactly where it stopped. Blocks for that
    /// long (one write and sync at most).
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.wake_writer.notify_one();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

thread_local! {
    /// Where `enqueue` serializes an event before copying it into the stage.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One try at staging a push.
enum Attempt {
    Done(Push),
    Staged(Arc<Commit>),
    /// No room yet (`block`, or `drop_oldest` waiting for a write).
    Wait,
}

fn read_resident(state: &mut State, max_events: usize, max_bytes: usize, out: &mut Vec<Arc<Event>>) -> ReadOutcome {
    let (mut taken, mut bytes) = (0, 0);
    while taken < max_events && state.read < state.written {
        let Some(event) = state.resident.get((state.read - state.resident_from) as usize) else { break };
        if taken > 0 && bytes + event.wire_size() > max_bytes {
            break;
        }
        bytes += event.wire_size();
        out.push(event.clone());
        taken += 1;
        state.read += 1;
    }
    ReadOutcome::Batch(SequenceNumber(state.read - 1))
}

/// Records to read from one segment file.
#[derive(Debug)]
struct DiskRead {
    first: u64,
    path: PathBuf,
    file: Option<Arc<File>>,
    /// Sequence numbers and spans, consecutive, at least one.
    spans: Vec<(u64, Span)>,
}

/// Which records the next disk read takes: from `read` on, within one segment, before the
/// resident ones. `None` after skipping a gap (the caller looks again).
fn plan_disk_read(state: &mut State, max_events: usize, max_bytes: usize) -> Option<DiskRead> {
    let Some((at, mut index)) = state.index.locate(state.read) else {
        // Sequence numbers no segment holds (lost with a quarantined segment or a torn tail).
        let next = state.index.next_covered(state.read).unwrap_or(state.resident_from).min(state.resident_from);
        state.read = next.max(state.read + 1).min(state.written);
        return None;
    };
    let segment = &state.index.segments[at];
    let until = segment.end_seq().min(state.resident_from).min(state.written);
    let mut spans = Vec::new();
    let (mut taken, mut bytes) = (0, 0usize);
    let mut seq = state.read;
    while seq < until && taken < max_events {
        let Some(span) = segment.span(index) else { break };
        let size = span.size() as usize;
        if taken > 0 && bytes + size > max_bytes {
            break;
        }
        if span.intact {
            taken += 1;
            bytes += size;
        }
        spans.push((seq, span));
        seq += 1;
        index += 1;
    }
    let file = state.reader_file.as_ref().filter(|(first, _)| *first == segment.first).map(|(_, file)| file.clone());
    Some(DiskRead { first: segment.first, path: segment.path.clone(), file, spans })
}
