//! Corruption property test: random bit flips and truncations at random offsets in segment
//! files (and sometimes the ack log). The queue must open, count what it skipped, quarantine
//! what it cannot read, and deliver every record whose bytes were not touched.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use proptest::prelude::*;

use super::super::format::{self, HEADER_LEN};
use super::{event, number, read_all, segment_files};
use crate::queue::disk::{inspect, DiskQueue, DiskQueueOptions, ReadOutcome};
use crate::queue::{Limits, Push, WhenFull};

#[derive(Debug, Clone)]
enum Damage {
    /// Flip bit `bit` of the byte at `at` (per mille of the file) of segment `file` (modulo).
    Flip { file: usize, at: u16, bit: u8 },
    /// Cut segment `file` at `at` per mille of its length.
    Truncate { file: usize, at: u16 },
    /// Flip a bit of the ack log.
    FlipAcks { at: u16, bit: u8 },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        6 => (any::<usize>(), 0u16..1000, 0u8..8).prop_map(|(file, at, bit)| Damage::Flip { file, at, bit }),
        2 => (any::<usize>(), 0u16..1000).prop_map(|(file, at)| Damage::Truncate { file, at }),
        1 => (0u16..1000, 0u8..8).prop_map(|(at, bit)| Damage::FlipAcks { at, bit }),
    ]
}

/// A record as written: where it is, and the event it holds.
struct Written {
    file: PathBuf,
    range: (usize, usize),
    event: u64,
}

async fn fill(dir: &std::path::Path, events: u64, acked: u64, segment_bytes: u64) -> u64 {
    let options = DiskQueueOptions {
        segment_bytes,
        memory_bytes: 0,
        ..DiskQueueOptions::new(Limits { max_events: 100_000, max_bytes: usize::MAX }, WhenFull::Block)
    };
    let queue = DiskQueue::open(dir, options).expect("opens");
    let mut pending = Vec::new();
    for n in 0..events {
        pending.push(queue.enqueue(event(n)).await);
    }
    for enqueued in pending {
        assert_eq!(enqueued.wait().await, Push::Queued);
    }
    // Acknowledge a prefix: those records must not come back (unless the ack log is damaged).
    let mut out = Vec::new();
    let mut read = 0;
    while read < acked {
        let ReadOutcome::Batch(last) = queue.try_read_batch((acked - read) as usize, usize::MAX, &mut out) else {
            break;
        };
        read = out.len() as u64;
        queue.ack(last);
    }
    read
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn damaged_queues_open_and_deliver_every_intact_record(
        events in 1u64..60,
        acked_share in 0u64..3,
        segment_bytes in 200u64..2000,
        damages in prop::collection::vec(damage(), 1..6),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        crate::queue::disk::skip_fsync_under(dir.path());
        let acked = runtime.block_on(fill(dir.path(), events, events * acked_share / 4, segment_bytes));

        // Where every record is, from the undamaged files (a fresh queue numbers from 1).
        let mut written: Vec<Written> = Vec::new();
        for file in segment_files(dir.path()) {
            let bytes = fs::read(&file).expect("readable");
            let first = format::decode_header(&bytes, format::SEGMENT_MAGIC).expect("clean header");
            let scan = format::scan_segment(&bytes, first, None);
            let mut start = HEADER_LEN;
            for (n, end) in scan.ends.iter().enumerate() {
                let event = first + n as u64 - 1;
                written.push(Written { file: file.clone(), range: (start, *end as usize), event });
                start = *end as usize;
            }
        }
        let files = segment_files(dir.path());
        // Bytes touched per file (offsets), truncation points, damaged headers.
        let mut touched: Vec<(PathBuf, usize)> = Vec::new();
        let mut cut_at: Vec<(PathBuf, usize)> = Vec::new();
        let mut acks_damaged = false;
        for damage in &damages {
            match *damage {
                Damage::Flip { file, at, bit } if !files.is_empty() => {
                    let path = &files[file % files.len()];
                    let mut bytes = fs::read(path).expect("readable");
                    if bytes.is_empty() { continue; }
                    let offset = bytes.len() * usize::from(at) / 1000;
                    bytes[offset] ^= 1 << bit;
                    fs::write(path, &bytes).expect("writable");
                    touched.push((path.clone(), offset));
                }
                Damage::Truncate { file, at } if !files.is_empty() => {
                    let path = &files[file % files.len()];
                    let len = fs::metadata(path).expect("exists").len() as usize;
                    let keep = len * usize::from(at) / 1000;
                    fs::OpenOptions::new().write(true).open(path).and_then(|f| f.set_len(keep as u64)).expect("cut");
                    cut_at.push((path.clone(), keep));
                }
                Damage::FlipAcks { at, bit } => {
                    let path = dir.path().join("acks");
                    let mut bytes = fs::read(&path).expect("ack log");
                    let offset = bytes.len() * usize::from(at) / 1000;
                    bytes[offset] ^= 1 << bit;
                    fs::write(&path, &bytes).expect("writable");
                    acks_damaged = true;
                }
                _ => {}
            }
        }
        // The header's last four bytes are reserved and not checked.
        let header_damaged = |file: &PathBuf| {
            touched.iter().any(|(path, offset)| path == file && *offset < HEADER_LEN - 4)
                || cut_at.iter().any(|(path, keep)| path == file && *keep < HEADER_LEN)
        };
        let intact = |record: &Written| {
            !header_damaged(&record.file)
                && !touched.iter().any(|(path, offset)| *path == record.file && (record.range.0..record.range.1).contains(offset))
                && !cut_at.iter().any(|(path, keep)| *path == record.file && *keep < record.range.1)
        };
        let must: BTreeSet<u64> = written.iter().filter(|record| record.event >= acked && intact(record)).map(|record| record.event).collect();
        let may: BTreeSet<u64> = written.iter().map(|record| record.event).filter(|event| *event >= acked || acks_damaged).collect();

        let report = inspect(dir.path()).expect("inspect reads a damaged queue");
        let queue = DiskQueue::open(dir.path(), DiskQueueOptions::new(Limits { max_events: 100_000, max_bytes: usize::MAX }, WhenFull::Block))
            .expect("a damaged queue always opens");
        let opened = queue.recovered().clone();
        prop_assert_eq!(
            (opened.pending_records, opened.pending_bytes, opened.corrupt_records, opened.torn_bytes),
            (report.pending_records, report.pending_bytes, report.corrupt_records, report.torn_bytes),
            "inspect and open disagree"
        );
        prop_assert_eq!(opened.quarantined, report.quarantined);
        let (found, _) = read_all(&queue);
        prop_assert!(found.windows(2).all(|pair| pair[0] < pair[1]), "out of order: {:?}", found);
        for event in &found {
            prop_assert!(may.contains(event), "record {} was acknowledged or never written", event);
        }
        for event in &must {
            prop_assert!(found.contains(event), "intact record {} lost; found {:?}; report {:?}", event, found, opened);
        }
        prop_assert_eq!(found.len() as u64, opened.pending_records, "every intact pending record is read");
        if must.len() + usize::from(acks_damaged) < written.iter().filter(|record| record.event >= acked).count() {
            // Something pending was damaged: it shows in the report.
            // (A cut exactly between records of the newest segment looks like a crash, not damage.)
            let clean_cut = cut_at.iter().any(|(path, keep)| {
                *keep <= HEADER_LEN || written.iter().any(|record| record.file == *path && record.range.1 == *keep)
            });
            prop_assert!(opened.corrupt_records + opened.quarantined as u64 + opened.torn_bytes > 0 || acks_damaged || clean_cut,
                "must {:?} found {:?} acked {} touched {:?} files {:?} report {:?}", must, found, acked, touched, files, opened);
        }
        // Still a working queue: a new record goes after everything else.
        prop_assert_eq!(runtime.block_on(queue.push(event(1_000))), Push::Queued);
        let mut out = Vec::new();
        prop_assert!(matches!(queue.try_read_batch(usize::MAX, usize::MAX, &mut out), ReadOutcome::Batch(_)));
        prop_assert_eq!(out.last().map(|event| number(event)), Some(1_000));
        drop(queue);
        // And opening again finds nothing new to repair.
        let again = DiskQueue::open(dir.path(), DiskQueueOptions::new(Limits { max_events: 100_000, max_bytes: usize::MAX }, WhenFull::Block))
            .expect("reopens");
        prop_assert_eq!(again.recovered().torn_bytes, 0);
        prop_assert!(again.recovered().problems.is_empty(), "{:?}", again.recovered().problems);
    }
}
