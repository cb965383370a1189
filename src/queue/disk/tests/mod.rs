//! Tests of the disk queue through its public API: behaviour, policies, recovery. The model
//! and corruption property tests have their own files.

mod corruption;
mod model;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::format::{self, HEADER_LEN, SEGMENT_MAGIC};
use super::*;
use crate::event::Event;
use crate::queue::{Limits, Push, WhenFull};
use crate::timestamp::Timestamp;

pub fn event(n: u64) -> Arc<Event> {
    let line = format!(r#"{{"event":"e","id":"{n:06}","n":{n}}}"#);
    Arc::new(Event::decode(line.as_bytes(), Timestamp::now()).expect("valid"))
}

pub fn number(event: &Event) -> u64 {
    event.id().parse().expect("numbered event")
}

pub fn options(max_events: usize, when_full: WhenFull) -> DiskQueueOptions {
    DiskQueueOptions {
        segment_bytes: 400,
        memory_bytes: 0,
        ..DiskQueueOptions::new(Limits { max_events, max_bytes: usize::MAX }, when_full)
    }
}

pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("listable")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "seg"))
        .collect();
    files.sort();
    files
}

/// Reads everything readable now; returns the event numbers and the last sequence number.
pub fn read_all(queue: &DiskQueue) -> (Vec<u64>, Option<SequenceNumber>) {
    let mut out = Vec::new();
    let mut last = None;
    while let ReadOutcome::Batch(seq) = queue.try_read_batch(usize::MAX, usize::MAX, &mut out) {
        last = Some(seq);
    }
    (out.iter().map(|event| number(event)).collect(), last)
}

async fn push_all(queue: &DiskQueue, numbers: impl IntoIterator<Item = u64>) -> Vec<Push> {
    let mut pending = Vec::new();
    for n in numbers {
        pending.push(queue.enqueue(event(n)).await);
    }
    let mut outcomes = Vec::new();
    for enqueued in pending {
        outcomes.push(enqueued.wait().await);
    }
    outcomes
}

#[tokio::test]
async fn push_read_ack_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = DiskQueue::open(dir.path(), options(100, WhenFull::Block)).expect("opens");
    for n in 0..10 {
        assert_eq!(queue.push(event(n)).await, Push::Queued);
    }
    let mut out = Vec::new();
    let last = queue.read_batch(4, usize::MAX, &mut out).await.expect("a batch");
    assert_eq!(out.iter().map(|event| number(event)).collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert_eq!(last, SequenceNumber(4));
    queue.ack(last);
    assert_eq!(queue.depth().0, 6);
    let (rest, last) = read_all(&queue);
    assert_eq!(rest, [4, 5, 6, 7, 8, 9]);
    queue.ack(last.expect("read"));
    assert_eq!(queue.depth(), (0, 0));
}

#[tokio::test]
async fn replayed_events_keep_their_id_timestamp_and_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original =
        Arc::new(Event::decode(br#"{"event":"x","severity":7,"data":{"k":"v"}}"#, Timestamp::now()).expect("valid"));
    {
        let queue = DiskQueue::open(dir.path(), options(10, WhenFull::Block)).expect("opens");
        assert_eq!(queue.push(original.clone()).await, Push::Queued);
    }
    let queue = DiskQueue::open(dir.path(), options(10, WhenFull::Block)).expect("reopens");
    let mut out = Vec::new();
    assert!(matches!(queue.try_read_batch(10, usize::MAX, &mut out), ReadOutcome::Batch(_)));
    assert_eq!(out[0].json(), original.json());
    assert_eq!(out[0].timestamp().to_string(), original.timestamp().to_string());
    assert_eq!(out[0].severity(), original.severity());
}

#[tokio::test]
async fn unacknowledged_records_are_read_again_after_a_restart_and_acknowledged_ones_are_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let options = DiskQueueOptions { segment_bytes: 1 << 20, ..options(100, WhenFull::Block) };
        let queue = DiskQueue::open(dir.path(), options).expect("opens");
        push_all(&queue, 0..20).await;
        let mut out = Vec::new();
        let last = queue.try_read_batch(7, usize::MAX, &mut out);
        let ReadOutcome::Batch(last) = last else { panic!("expected a batch, got {last:?}") };
        queue.ack(last);
        // Read but not acknowledged: delivered again after the restart.
        let _ = read_all(&queue);
    }
    let queue = DiskQueue::open(dir.path(), options(100, WhenFull::Block)).expect("reopens");
    assert_eq!(queue.recovered().pending_records, 13);
    assert_eq!(read_all(&queue).0, (7..20).collect::<Vec<_>>());
}

#[tokio::test]
async fn memory_and_disk_reads_return_the_same() {
    for memory_bytes in [0, 120, usize::MAX] {
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = DiskQueue::open(dir.path(), DiskQueueOptions { memory_bytes, ..options(1000, WhenFull::Block) })
            .expect("opens");
        push_all(&queue, 0..50).await;
        let mut numbers = Vec::new();
        let mut out = Vec::new();
        while let ReadOutcome::Batch(last) = queue.try_read_batch(3, usize::MAX, &mut out) {
            numbers.extend(out.drain(..).map(|event| number(&event)));
            queue.ack(last);
        }
        assert_eq!(numbers, (0..50).collect::<Vec<_>>(), "memory_bytes {memory_bytes}");
    }
}

#[tokio::test]
async fn delivered_segments_are_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = DiskQueue::open(dir.path(), options(1000, WhenFull::Block)).expect("opens");
    push_all(&queue, 0..100).await;
    assert!(segment_files(dir.path()).len() > 5, "400-byte segments roll often");
    let (_, last) = read_all(&queue);
    queue.ack(last.expect("read"));
    assert!(queue.sync().await);
    assert_eq!(segment_files(dir.path()).len(), 1, "only the segment being appended to stays");
    drop(queue);
    let queue = DiskQueue::open(dir.path(), options(1000, WhenFull::Block)).expect("reopens");
    assert_eq!(queue.recovered().pending_records, 0);
    assert!(segment_files(dir.path()).is_empty(), "a fully delivered segment is removed on open");
    assert_eq!(queue.push(event(100)).await, Push::Queued);
    assert_eq!(read_all(&queue).0, [100]);
}

#[tokio::test]
async fn sequence_numbers_are_never_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = {
        let queue = DiskQueue::open(dir.path(), options(100, WhenFull::Block)).expect("opens");
        push_all(&queue, 0..3).await;
        let (_, last) = read_all(&queue);
        queue.ack(last.expect("read"));
        last.expect("read")
    };
    let queue = DiskQueue::open(dir.path(), options(100, WhenFull::Block)).expect("reopens");
    assert_eq!(queue.push(event(3)).await, Push::Queued);
    let (numbers, last) = read_all(&queue);
    assert_eq!(numbers, [3]);
    assert!(last.expect("read") > first);
}

#[tokio::test]
async fn drop_newest_refuses_when_full() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = DiskQueue::open(dir.path(), options(2, WhenFull::DropNewest)).expect("opens");
    assert_eq!(push_all(&queue, 0..3).await, [Push::Queued, Push::Queued, Push::DroppedNewest]);
    assert_eq!(read_all(&queue).0, [0, 1]);
}

#[tokio::test]
async fn drop_oldest_discards_the_oldest_undelivered_records_for_good() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let queue = DiskQueue::open(dir.path(), options(3, WhenFull::DropOldest)).expect("opens");
        let outcomes = push_all(&queue, 0..3).await;
        assert!(outcomes.iter().all(|push| *push == Push::Queued));
        assert_eq!(queue.push(event(3)).await, Push::QueuedDroppingOldest(1));
        assert_eq!(queue.push(event(4)).await, Push::QueuedDroppingOldest(1));
        assert_eq!(queue.depth().0, 3);
    }
    let queue = DiskQueue::open(dir.path(), options(3, WhenFull::DropOldest)).expect("reopens");
    assert_eq!(read_all(&queue).0, [2, 3, 4], "dropped records stay dropped across a restart");
}

#[tokio::test]
async fn byte_limit_counts_bytes_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let size = format::record_len(payload::encode(&event(1)).expect("encodes").len());
    let limits = Limits { max_events: 100, max_bytes: size * 2 };
    let queue = DiskQueue::open(dir.path(), DiskQueueOptions::new(limits, WhenFull::DropNewest)).expect("opens");
    assert_eq!(push_all(&queue, 1..4).await, [Push::Queued, Push::Queued, Push::DroppedNewest]);
    assert_eq!(queue.depth(), (2, 2 * size as u64));
}

#[tokio::test]
async fn oversized_event_still_enters_an_empty_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = Limits { max_events: 10, max_bytes: 1 };
    let queue = DiskQueue::open(dir.path(), DiskQueueOptions::new(limits, WhenFull::Block)).expect("opens");
    assert_eq!(queue.push(event(1)).await, Push::Queued);
}

#[tokio::test]
async fn block_waits_for_an_acknowledgement_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = Arc::new(DiskQueue::open(dir.path(), options(1, WhenFull::Block)).expect("opens"));
    assert_eq!(queue.push(event(1)).await, Push::Queued);
    let producer = tokio::spawn({
        let queue = queue.clone();
        async move { queue.push(event(2)).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!producer.is_finished(), "the push must wait while the queue is full");
    let mut out = Vec::new();
    let last = queue.read_batch(10, usize::MAX, &mut out).await.expect("a batch");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!producer.is_finished(), "reading does not make room; acknowledging does");
    queue.ack(last);
    assert_eq!(producer.await.expect("joined"), Push::Queued);
    assert!(queue.read_batch(10, usize::MAX, &mut out).await.is_some());
    assert_eq!(out.iter().map(|event| number(event)).collect::<Vec<_>>(), [1, 2]);
}

#[tokio::test]
async fn close_releases_blocked_producers_and_drains() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = Arc::new(DiskQueue::open(dir.path(), options(1, WhenFull::Block)).expect("opens"));
    assert_eq!(queue.push(event(1)).await, Push::Queued);
    let producer = tokio::spawn({
        let queue = queue.clone();
        async move { queue.push(event(2)).await }
    });
    tokio::task::yield_now().await;
    queue.close();
    assert_eq!(producer.await.expect("joined"), Push::Closed);
    let mut out = Vec::new();
    assert!(queue.read_batch(10, usize::MAX, &mut out).await.is_some());
    assert!(queue.read_batch(10, usize::MAX, &mut out).await.is_none());
    assert_eq!(out.len(), 1);
}

#[tokio::test]
async fn rewind_reads_unacknowledged_records_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = DiskQueue::open(dir.path(), options(100, WhenFull::Block)).expect("opens");
    push_all(&queue, 0..5).await;
    let mut out = Vec::new();
    let ReadOutcome::Batch(first) = queue.try_read_batch(2, usize::MAX, &mut out) else { panic!("a batch") };
    queue.ack(first);
    let _ = read_all(&queue);
    queue.rewind();
    assert_eq!(read_all(&queue).0, [2, 3, 4]);
}

#[tokio::test]
async fn interval_sync_policy_writes_before_returning_and_syncs_on_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sync = SyncPolicy::Interval(Duration::from_secs(3600));
    let queue = DiskQueue::open(dir.path(), DiskQueueOptions { sync, ..options(100, WhenFull::Block) }).expect("opens");
    push_all(&queue, 0..5).await;
    // Written (not synced) before the pushes returned: another reader of the directory sees them.
    assert_eq!(inspect(dir.path()).expect("inspects").pending_records, 5);
    assert!(queue.sync().await);
}

#[tokio::test]
async fn disk_full_under_drop_policies_drops_and_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = DiskQueue::open(dir.path(), options(100, WhenFull::DropNewest)).expect("opens");
    assert_eq!(queue.push(event(1)).await, Push::Queued);
    queue.fail_writes(true);
    assert_eq!(queue.push(event(2)).await, Push::DroppedNewest);
    assert_eq!(queue.stats().write_failures, 1);
    assert_eq!(queue.depth().0, 1, "a failed write leaves the accounting");
    queue.fail_writes(false);
    assert_eq!(queue.push(event(3)).await, Push::Queued);
    assert_eq!(read_all(&queue).0, [1, 3]);
}

#[tokio::test]
async fn disk_full_under_block_waits_and_writes_when_space_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = Arc::new(DiskQueue::open(dir.path(), options(100, WhenFull::Block)).expect("opens"));
    queue.fail_writes(true);
    let producer = tokio::spawn({
        let queue = queue.clone();
        async move { queue.push(event(1)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!producer.is_finished(), "the push waits while the disk refuses");
    queue.fail_writes(false);
    assert_eq!(producer.await.expect("joined"), Push::Queued);
    assert_eq!(queue.stats().write_failures, 0);
    assert_eq!(read_all(&queue).0, [1]);
}

#[tokio::test]
async fn a_torn_last_record_is_cut_and_everything_before_it_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let queue = DiskQueue::open(dir.path(), options(100, WhenFull::Block)).expect("opens");
        push_all(&queue, 0..5).await;
    }
    let last = segment_files(dir.path()).pop().expect("a segment");
    let len = fs::metadata(&last).expect("exists").len();
    fs::write(&last, &fs::read(&last).expect("readable")[..len as usize - 5]).expect("writable");
    let report = inspect(dir.path()).expect("inspects");
    assert_eq!((report.pending_records, report.corrupt_records), (4, 0));
    assert!(report.torn_bytes > 0);
    let queue = DiskQueue::open(dir.path(), options(100, WhenFull::Block)).expect("reopens");
    assert_eq!(read_all(&queue).0, [0, 1, 2, 3]);
    assert_eq!(inspect(dir.path()).expect("inspects").torn_bytes, 0, "the tail was cut");
}

#[tokio::test]
async fn a_damaged_record_is_skipped_counted_and_the_rest_delivered() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let queue =
            DiskQueue::open(dir.path(), DiskQueueOptions { segment_bytes: 1 << 20, ..options(100, WhenFull::Block) })
                .expect("opens");
        push_all(&queue, 0..5).await;
    }
    let path = segment_files(dir.path()).pop().expect("a segment");
    let mut bytes = fs::read(&path).expect("readable");
    let scan = format::scan_segment(&bytes, 1, None);
    let second = scan.ends[0] as usize + 20;
    bytes[second] ^= 0x08;
    fs::write(&path, &bytes).expect("writable");
    let queue = DiskQueue::open(dir.path(), options(100, WhenFull::Block)).expect("reopens");
    assert_eq!(queue.recovered().corrupt_records, 1);
    assert_eq!(read_all(&queue).0, [0, 2, 3, 4]);
    assert_eq!(queue.stats().corrupt_records, 1);
}

#[tokio::test]
async fn unreadable_segments_are_quarantined_and_the_queue_opens() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let queue = DiskQueue::open(dir.path(), options(100, WhenFull::Block)).expect("opens");
        push_all(&queue, 0..30).await;
    }
    let files = segment_files(dir.path());
    assert!(files.len() >= 3);
    // A segment from a future format version, and a directory where a segment should be.
    let mut future = fs::read(&files[0]).expect("readable");
    let first = format::parse_segment_name(&files[0].file_name().expect("named").to_string_lossy()).expect("name");
    let mut header = format::encode_header(SEGMENT_MAGIC, first);
    header[8..12].copy_from_slice(&2u32.to_le_bytes());
    let crc = crc32c::crc32c(&header[..24]);
    header[24..28].copy_from_slice(&crc.to_le_bytes());
    future[..HEADER_LEN].copy_from_slice(&header);
    fs::write(&files[0], &future).expect("writable");
    fs::remove_file(&files[1]).expect("removable");
    fs::create_dir(&files[1]).expect("creatable");
    let before = inspect(dir.path()).expect("inspects");
    assert_eq!(before.quarantined, 2);
    assert_eq!(before.problems.len(), 2);
    assert!(
        before.problems.iter().any(|problem| problem.contains("unknown format version 2")),
        "{:?}",
        before.problems
    );
    let queue = DiskQueue::open(dir.path(), options(100, WhenFull::Block)).expect("opens anyway");
    assert_eq!(queue.recovered().quarantined, 2);
    let numbers = read_all(&queue).0;
    assert!(!numbers.is_empty() && numbers.windows(2).all(|pair| pair[0] < pair[1]));
    assert_eq!(*numbers.last().expect("some"), 29, "records after the bad segments are delivered");
    assert_eq!(fs::read_dir(dir.path().join("quarantine")).expect("exists").count(), 2);
    assert_eq!(queue.push(event(30)).await, Push::Queued);
}

#[tokio::test]
async fn a_damaged_ack_log_means_duplicates_not_loss() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let queue =
            DiskQueue::open(dir.path(), DiskQueueOptions { segment_bytes: 1 << 20, ..options(100, WhenFull::Block) })
                .expect("opens");
        push_all(&queue, 0..6).await;
        let mut out = Vec::new();
        let ReadOutcome::Batch(last) = queue.try_read_batch(3, usize::MAX, &mut out) else { panic!("a batch") };
        queue.ack(last);
    }
    fs::write(dir.path().join("acks"), b"garbage").expect("writable");
    let queue = DiskQueue::open(dir.path(), options(100, WhenFull::Block)).expect("opens");
    assert_eq!(read_all(&queue).0, (0..6).collect::<Vec<_>>());
}

#[tokio::test]
async fn inspect_reports_without_changing_anything() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let queue = DiskQueue::open(dir.path(), options(100, WhenFull::Block)).expect("opens");
        push_all(&queue, 0..20).await;
        let mut out = Vec::new();
        let ReadOutcome::Batch(last) = queue.try_read_batch(5, usize::MAX, &mut out) else { panic!("a batch") };
        queue.ack(last);
    }
    let files = segment_files(dir.path());
    let last = files.last().expect("segments");
    let mut bytes = fs::read(last).expect("readable");
    bytes.extend_from_slice(b"torn");
    fs::write(last, &bytes).expect("writable");
    fs::write(&files[1], b"SRQ-SEG\nnot a header").expect("writable");
    let snapshot = |dir: &Path| {
        let mut all: Vec<(PathBuf, Vec<u8>)> = fs::read_dir(dir)
            .expect("listable")
            .map(|entry| {
                let path = entry.expect("entry").path();
                let bytes = fs::read(&path).unwrap_or_default();
                (path, bytes)
            })
            .collect();
        all.sort();
        all
    };
    let before = snapshot(dir.path());
    let report = inspect(dir.path()).expect("inspects");
    assert_eq!(snapshot(dir.path()), before);
    assert_eq!(report.quarantined, 1);
    assert_eq!(report.torn_bytes, 4);
    assert!(report.pending_records > 0 && report.pending_records < 15);
    let queue = DiskQueue::open(dir.path(), options(100, WhenFull::Block)).expect("opens");
    let opened = queue.recovered();
    assert_eq!((opened.pending_records, opened.pending_bytes), (report.pending_records, report.pending_bytes));
    assert_eq!(read_all(&queue).0.len() as u64, report.pending_records);
    assert_eq!(inspect(&dir.path().join("missing")).expect("empty"), QueueReport::default());
}

#[test]
fn sync_policy_names() {
    assert_eq!(SyncPolicy::parse("batch"), Some(SyncPolicy::Batch));
    assert_eq!(SyncPolicy::parse("250ms"), Some(SyncPolicy::Interval(Duration::from_millis(250))));
    assert_eq!(SyncPolicy::parse("0ms"), None);
    assert_eq!(SyncPolicy::parse("fast"), None);
}
