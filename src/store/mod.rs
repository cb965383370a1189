//! Pull mode's retained store: the events a `url = "store"` sink keeps for consumers to fetch by
//! cursor and by id, as the json webhook envelopes a webhook would have received.
//!
//! On disk (`data_dir/NAME/store/`): `store.id` (the store's random id, which every cursor
//! carries), segment files of records in the disk queue's record format (`queue::disk::format`:
//! length, CRC32C, sequence number, payload; here the payload is the append time in ms and the
//! envelope), and `consumers.json` (named consumers' committed cursors). Appends are written
//! and fsynced before the sink counts them delivered, so an event a disk queue handed over
//! survives `kill -9`. Opening scans every segment with the disk queue's scanner: a torn tail is
//! cut, a damaged record is skipped.
//!
//! Retention (`retention = { max_events, max_bytes, max_age_ms }`) removes the oldest events,
//! counted as `expired`; whole segments older than the oldest kept event are deleted. Ids are
//! unique per store: an event whose envelope `id` is already kept is not stored again (counted
//! as `duplicates`). Memory: one index entry per kept event (its position and id), about 64
//! bytes plus the id.

pub mod consumers;
pub mod cursor;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use crate::queue::disk::format as records;
pub use cursor::Cursor;

/// First eight bytes of a store segment (the disk queue's are `SRQ-SEG\n`).
const SEGMENT_MAGIC: [u8; 8] = *b"SRS-SEG\n";
/// First eight bytes of `store.id`.
const ID_MAGIC: [u8; 8] = *b"SRS-IDN\n";
/// A segment is closed for appends once it passes this size; retention deletes whole segments.
const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;
/// Bytes of the payload before the envelope: the append time in milliseconds.
const TIME_LEN: usize = 8;

/// How much a store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub max_events: u64,
    pub max_bytes: u64,
    pub max_age: Duration,
}

impl Retention {
    pub const DEFAULT_MAX_EVENTS: u64 = 100_000;
    pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
    pub const DEFAULT_MAX_AGE_MS: u64 = 7 * 24 * 3600 * 1000;
}

/// Counters of a store.
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Events removed by retention.
    pub expired: AtomicU64,
    /// Events not stored because an event with their id is kept already.
    pub duplicates: AtomicU64,
    /// Damaged records skipped (when the store was opened, or read).
    pub corrupt: AtomicU64,
    /// Events not stored because one record would exceed `retention.max_bytes`.
    pub oversized: AtomicU64,
}

/// One kept event: where its record is, when it came, its id.
#[derive(Debug)]
struct Entry {
    segment: u64,
    offset: u64,
    len: u32,
    time_ms: u64,
    id: Box<str>,
}

#[derive(Debug)]
struct Segment {
    first: u64,
    path: PathBuf,
    file: File,
    len: u64,
}

#[derive(Debug)]
struct Inner {
    retention: Retention,
    /// Segments in order; the last takes appends.
    segments: VecDeque<Segment>,
    /// Sequence number of `entries[0]`.
    first: u64,
    /// Kept events from `first` on; `None` for a record that was damaged.
    entries: VecDeque<Option<Entry>>,
    ids: HashMap<Box<str>, u64>,
    /// Record bytes of the kept events.
    bytes: u64,
    /// The next sequence number.
    next: u64,
}

/// A retained store of events.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    id: u64,
    inner: Mutex<Inner>,
    /// Wakes long-polling readers when events arrive.
    appended: Notify,
    pub stats: StoreStats,
    pub consumers: consumers::Consumers,
}

/// What `read` found.
#[derive(Debug)]
pub struct Page {
    /// `(cursor of the event, envelope)`, oldest first.
    pub events: Vec<(Cursor, Vec<u8>)>,
    /// Where the next read continues (the last event's cursor, or the one given).
    pub next: Cursor,
    /// Whether more events are kept after `next`.
    pub more: bool,
}

/// Why a read cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Malformed, from another store, or ahead of the store (400).
    Invalid(String),
    /// Older than retention: events after it were removed (410).
    Expired { oldest: Cursor },
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The `id` member of an envelope.
fn envelope_id(envelope: &[u8]) -> Option<Box<str>> {
    #[derive(serde::Deserialize)]
    struct Id<'a> {
        #[serde(borrow)]
        id: std::borrow::Cow<'a, str>,
    }
    serde_json::from_slice::<Id<'_>>(envelope).ok().map(|id| id.id.into())
}

impl Store {
    /// Opens the store in `dir` (creating it), recovering what is there.
    pub fn open(dir: &Path, retention: Retention) -> io::Result<Store> {
        std::fs::create_dir_all(dir)?;
        let id = read_or_create_id(&dir.join("store.id"))?;
        let stats = StoreStats::default();
        let inner = recover(dir, &stats, retention)?;
        let store = Store {
            dir: dir.to_owned(),
            id,
            inner: Mutex::new(inner),
            appended: Notify::new(),
            stats,
            consumers: consumers::Consumers::open(&dir.join("consumers.json"))?,
        };
        store.apply_retention(&mut store.lock());
        Ok(store)
    }

    /// New retention bounds (a reload), applied at once.
    pub fn set_retention(&self, retention: Retention) {
        let mut inner = self.lock();
        inner.retention = retention;
        self.apply_retention(&mut inner);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change under this lock leaves the index consistent before any I/O that can fail.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `(events kept, record bytes kept)`.
    pub fn size(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.next - inner.first, inner.bytes)
    }

    /// The cursor just before the oldest kept event: reading after it starts at the oldest.
    pub fn oldest(&self) -> Cursor {
        Cursor { store: self.id, seq: self.lock().first.saturating_sub(1) }
    }

    /// Appends envelopes (each one JSON object), writes and fsyncs them, and applies retention.
    /// Returns how many were stored (the others were duplicates). Blocking: call it off the
    /// async threads.
    pub fn append(&self, envelopes: &[&[u8]]) -> io::Result<usize> {
        let mut inner = self.lock();
        let time_ms = now_ms();
        let mut stored = 0;
        let mut buffer = Vec::new();
        let mut pending: Vec<(u64, Entry)> = Vec::new();
        let mut seen_here: HashSet<Box<str>> = HashSet::new();
        if inner.segments.back().is_none_or(|s| s.len >= SEGMENT_BYTES) {
            let first = inner.next;
            inner.segments.push_back(create_segment(&self.dir, first)?);
        }
        let (segment, start) = match inner.segments.back() {
            Some(segment) => (segment.first, segment.len),
            None => return Err(io::Error::other("no segment to append to")),
        };
        let mut offset = start;
        for envelope in envelopes {
            if (records::record_len(TIME_LEN + envelope.len()) as u64) > inner.retention.max_bytes {
                // Kept, it would push every other event out and then itself.
                self.stats.oversized.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    store = %self.dir.display(),
                    bytes = envelope.len(),
                    max_bytes = inner.retention.max_bytes,
                    "an event larger than retention.max_bytes was not stored"
                );
                continue;
            }
            let id = envelope_id(envelope).unwrap_or_else(|| "".into());
            if !id.is_empty() && (inner.ids.contains_key(&id) || seen_here.contains(&id)) {
                self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let seq = inner.next + pending.len() as u64;
            let mut payload = Vec::with_capacity(TIME_LEN + envelope.len());
            payload.extend_from_slice(&time_ms.to_le_bytes());
            payload.extend_from_slice(envelope);
            let before = buffer.len();
            records::encode_record(seq, &payload, &mut buffer);
            let len = (buffer.len() - before) as u32;
            if !id.is_empty() {
                seen_here.insert(id.clone());
            }
            pending.push((seq, Entry { segment, offset, len, time_ms, id }));
            offset += u64::from(len);
            stored += 1;
        }
        if pending.is_empty() {
            return Ok(0);
        }
        let Some(active) = inner.segments.back_mut() else { return Err(io::Error::other("no segment")) };
        if let Err(error) = active.file.write_all(&buffer).and_then(|()| active.file.sync_data()) {
            // Cut what may have been written, so the next append starts on a record boundary.
            let _ = active.file.set_len(active.len);
            return Err(error);
        }
        active.len += buffer.len() as u64;
        for (seq, entry) in pending {
            inner.bytes += u64::from(entry.len);
            if !entry.id.is_empty() {
                inner.ids.insert(entry.id.clone(), seq);
            }
            inner.entries.push_back(Some(entry));
            inner.next = seq + 1;
        }
        self.apply_retention(&mut inner);
        drop(inner);
        self.appended.notify_waiters();
        Ok(stored)
    }

    /// Removes the oldest events while a retention bound is passed, and deletes segments
    /// that hold no kept event.
    fn apply_retention(&self, inner: &mut Inner) {
        let retention = inner.retention;
        let oldest_allowed = now_ms().saturating_sub(retention.max_age.as_millis() as u64);
        let mut expired = 0;
        while let Some(front) = inner.entries.front() {
            let count = inner.next - inner.first;
            let too_old = front.as_ref().is_some_and(|entry| entry.time_ms < oldest_allowed);
            if count <= retention.max_events && inner.bytes <= retention.max_bytes && !too_old && front.is_some() {
                break;
            }
            if let Some(Some(entry)) = inner.entries.pop_front() {
                inner.bytes -= u64::from(entry.len);
                // Only this event's own mapping: a later event may carry the same id again.
                if inner.ids.get(&entry.id) == Some(&inner.first) {
                    inner.ids.remove(&entry.id);
                }
                expired += 1;
            }
            inner.first += 1;
        }
        self.stats.expired.fetch_add(expired, Ordering::Relaxed);
        // A segment goes once the next one starts at or before the first kept event; the last
        // segment always stays (it takes the appends).
        while inner.segments.len() > 1 && inner.segments.get(1).is_some_and(|next| next.first <= inner.first) {
            if let Some(segment) = inner.segments.pop_front() {
                // The events are already out of the index; a file that cannot be removed now
                // is removed at the next start, when nothing in it is kept.
                if let Err(error) = std::fs::remove_file(&segment.path) {
                    tracing::warn!(path = %segment.path.display(), "cannot remove an expired store segment: {error}");
                }
            }
        }
    }

    /// The events after `after` (from the oldest without one), at most `limit`.
    pub fn read(&self, after: Option<Cursor>, limit: usize) -> Result<Page, ReadError> {
        let mut inner = self.lock();
        // Age retention also runs on reads, so an idle store does not serve expired events.
        self.apply_retention(&mut inner);
        let start = match after {
            None => inner.first,
            Some(cursor) => {
                if cursor.store != self.id {
                    return Err(ReadError::Invalid(format!(
                        "cursor {cursor} belongs to another store (this store's cursors start with {:016x}); the \
                         oldest cursor here is {}",
                        self.id,
                        Cursor { store: self.id, seq: inner.first.saturating_sub(1) }
                    )));
                }
                if cursor.seq >= inner.next {
                    return Err(ReadError::Invalid(format!(
                        "cursor {cursor} is ahead of this store (its newest is {})",
                        Cursor { store: self.id, seq: inner.next.saturating_sub(1) }
                    )));
                }
                if cursor.seq + 1 < inner.first {
                    return Err(ReadError::Expired { oldest: Cursor { store: self.id, seq: inner.first - 1 } });
                }
                cursor.seq + 1
            }
        };
        let mut events = Vec::new();
        let mut seq = start;
        while seq < inner.next && events.len() < limit {
            let index = (seq - inner.first) as usize;
            if let Some(Some(entry)) = inner.entries.get(index) {
                match read_envelope(&inner, entry) {
                    Ok(envelope) => events.push((Cursor { store: self.id, seq }, envelope)),
                    // Damaged since the store was opened: skipped like a record damaged before.
                    Err(error) => {
                        self.stats.corrupt.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(store = %self.dir.display(), seq, "a stored event cannot be read, skipped: {error}");
                    }
                }
            }
            seq += 1;
        }
        // Past the last event examined (gaps of damaged records included); `start - 1` when
        // nothing was.
        Ok(Page { events, next: Cursor { store: self.id, seq: seq - 1 }, more: seq < inner.next })
    }

    /// [`read`](Self::read) off the async threads (it reads files and may wait for an append's
    /// fsync), waiting up to `wait` for an event when there is none yet.
    pub async fn read_waiting(
        self: &std::sync::Arc<Self>,
        after: Option<Cursor>,
        limit: usize,
        wait: Duration,
    ) -> Result<Page, ReadError> {
        let deadline = tokio::time::Instant::now() + wait;
        let read = |store: std::sync::Arc<Store>| async move {
            tokio::task::spawn_blocking(move || store.read(after, limit))
                .await
                .unwrap_or_else(|e| Err(ReadError::Invalid(format!("the read failed: {e}"))))
        };
        loop {
            // Registered before reading, so an append between the read and the wait wakes it.
            let appended = self.appended.notified();
            let page = read(self.clone()).await?;
            if !page.events.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(page);
            }
            if tokio::time::timeout_at(deadline, appended).await.is_err() {
                return read(self.clone()).await;
            }
        }
    }

    /// The kept event with envelope id `id`.
    pub fn get(&self, id: &str) -> Option<(Cursor, Vec<u8>)> {
        let mut inner = self.lock();
        self.apply_retention(&mut inner);
        let seq = *inner.ids.get(id)?;
        let entry = inner.entries.get((seq - inner.first) as usize)?.as_ref()?;
        let envelope = read_envelope(&inner, entry).ok()?;
        Some((Cursor { store: self.id, seq }, envelope))
    }

    /// Checks that `cursor` is one of this store's (for commits).
    pub fn check_cursor(&self, cursor: Cursor) -> Result<(), String> {
        if cursor.store != self.id {
            return Err(format!("cursor {cursor} belongs to another store"));
        }
        if cursor.seq >= self.lock().next {
            return Err(format!("cursor {cursor} is ahead of this store"));
        }
        Ok(())
    }
}

/// Reads a kept event's envelope from its segment, checking the record's checksum.
fn read_envelope(inner: &Inner, entry: &Entry) -> io::Result<Vec<u8>> {
    let segment = inner
        .segments
        .iter()
        .find(|s| s.first == entry.segment)
        .ok_or_else(|| io::Error::other("the event's segment is gone"))?;
    let mut record = vec![0u8; entry.len as usize];
    segment.file.read_exact_at(&mut record, entry.offset)?;
    let parsed = records::parse_record(&record, 0).ok_or_else(|| io::Error::other("damaged record"))?;
    Ok(record[parsed.payload.start + TIME_LEN..parsed.payload.end].to_vec())
}

fn create_segment(dir: &Path, first: u64) -> io::Result<Segment> {
    let path = dir.join(records::segment_name(first));
    let mut created = OpenOptions::new().create(true).truncate(true).write(true).open(&path)?;
    created.write_all(&records::encode_header(SEGMENT_MAGIC, first))?;
    created.sync_all()?;
    // Appends always go to the end, whatever a failed write left behind.
    let file = OpenOptions::new().read(true).append(true).open(&path)?;
    File::open(dir)?.sync_all()?;
    Ok(Segment { first, path, file, len: records::HEADER_LEN as u64 })
}

fn read_or_create_id(path: &Path) -> io::Result<u64> {
    match std::fs::read(path) {
        Ok(bytes) => records::decode_header(&bytes, ID_MAGIC)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let mut random = [0u8; 8];
            File::open("/dev/urandom").and_then(|mut f| io::Read::read_exact(&mut f, &mut random))?;
            let id = u64::from_le_bytes(random);
            crate::private_file::write_atomic(path, &records::encode_header(ID_MAGIC, id))?;
            Ok(id)
        }
        Err(error) => Err(error),
    }
}

/// Rebuilds the index from the segment files: intact records in order, damaged ones as gaps,
/// a torn tail cut off.
fn recover(dir: &Path, stats: &StoreStats, retention: Retention) -> io::Result<Inner> {
    let mut firsts: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok()?.file_name().to_str().and_then(records::parse_segment_name))
        .collect();
    firsts.sort_unstable();
    let mut inner = Inner {
        retention,
        segments: VecDeque::new(),
        first: 1,
        entries: VecDeque::new(),
        ids: HashMap::new(),
        bytes: 0,
        next: 1,
    };
    for (index, &first) in firsts.iter().enumerate() {
        let path = dir.join(records::segment_name(first));
        let buf = std::fs::read(&path)?;
        if records::decode_header(&buf, SEGMENT_MAGIC).ok() != Some(first) {
            tracing::warn!(path = %path.display(), "store segment with a damaged header skipped");
            continue;
        }
        let limit = firsts.get(index + 1).copied();
        let scan = records::scan_segment(&buf, first, limit);
        if inner.entries.is_empty() {
            inner.first = first;
            inner.next = first;
        }
        // Sequence numbers missing between segments are gaps.
        while inner.next < first {
            inner.entries.push_back(None);
            inner.next += 1;
        }
        let mut start = records::HEADER_LEN as u64;
        for (i, &end) in scan.ends.iter().enumerate() {
            let seq = first + i as u64;
            let end_offset = u64::from(end & !records::MISSING);
            let entry = (end & records::MISSING == 0)
                .then(|| {
                    let record = buf.get(start as usize..end_offset as usize)?;
                    let parsed = records::parse_record(record, 0)?;
                    let payload = &record[parsed.payload];
                    let time_ms = u64::from_le_bytes(payload.get(..TIME_LEN)?.try_into().ok()?);
                    let id = envelope_id(&payload[TIME_LEN..]).unwrap_or_else(|| "".into());
                    Some(Entry { segment: first, offset: start, len: (end_offset - start) as u32, time_ms, id })
                })
                .flatten();
            match &entry {
                Some(entry) => {
                    inner.bytes += u64::from(entry.len);
                    if !entry.id.is_empty() {
                        // An id stored again after its first copy expired: the newer one counts.
                        inner.ids.insert(entry.id.clone(), seq);
                    }
                }
                None => {
                    stats.corrupt.fetch_add(1, Ordering::Relaxed);
                }
            }
            inner.entries.push_back(entry);
            inner.next = seq + 1;
            start = end_offset;
        }
        // Appends go to the end, which is where the last intact record ends.
        let file = OpenOptions::new().read(true).append(true).open(&path)?;
        if (scan.valid_end as u64) < buf.len() as u64 {
            // A torn tail from a crash mid-append: nothing after it was acknowledged.
            file.set_len(scan.valid_end as u64)?;
        }
        inner.segments.push_back(Segment { first, path, file, len: scan.valid_end as u64 });
    }
    Ok(inner)
}

#[cfg(test)]
mod tests;
