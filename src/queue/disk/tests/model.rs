//! Model-based property test: random interleavings of push, read, ack, rewind, clean restart
//! and crash (files cut at a random point of the writes in flight) against a plain in-memory
//! model of what the queue must hold.
//!
//! The model is exact between crashes. A crash makes some records uncertain ("maybe": pushed
//! while crashing, or acknowledged/dropped before it if the ack log is cut too); right after
//! every reopen the test reads the whole queue once ("settle"), checks it holds every certain
//! record, only known records, in order, and then makes the model exact again from what it saw.

use std::collections::{BTreeSet, VecDeque};
use std::fs;
use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;

use super::{event, number, segment_files};
use crate::queue::disk::{DiskQueue, DiskQueueOptions, ReadOutcome, SequenceNumber, SyncPolicy};
use crate::queue::{Limits, Push, WhenFull};

#[derive(Debug, Clone)]
enum Op {
    /// Push this many events concurrently (one enqueue each, then wait for all).
    Push(u8),
    /// Read one batch of at most this many events.
    Read(u8),
    /// Acknowledge the batch at this index (modulo) of those read and not yet acknowledged.
    Ack(u8),
    Rewind,
    Restart,
    /// Push `inflight` more events, then "crash": keep a random prefix (`cut`, per mille) of the
    /// bytes written since, and maybe cut the ack log too.
    Crash {
        inflight: u8,
        cut: u16,
        ack_cut: Option<u16>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u8..6).prop_map(Op::Push),
        3 => (1u8..8).prop_map(Op::Read),
        3 => any::<u8>().prop_map(Op::Ack),
        1 => Just(Op::Rewind),
        1 => Just(Op::Restart),
        1 => (0u8..5, 0u16..=1000, prop::option::of(0u16..=1000))
            .prop_map(|(inflight, cut, ack_cut)| Op::Crash { inflight, cut, ack_cut }),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    when_full: WhenFull,
    max_events: usize,
    segment_bytes: u64,
    memory_bytes: usize,
    sync: SyncPolicy,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![Just(WhenFull::Block), Just(WhenFull::DropNewest), Just(WhenFull::DropOldest)],
        2usize..25,
        150u64..1500,
        prop_oneof![Just(0usize), Just(200), Just(usize::MAX)],
        prop_oneof![Just(SyncPolicy::Batch), Just(SyncPolicy::Interval(Duration::from_secs(3600)))],
    )
        .prop_map(|(when_full, max_events, segment_bytes, memory_bytes, sync)| Setup {
            when_full,
            // `block` would wait forever with nobody acknowledging: it gets room enough.
            max_events: if when_full == WhenFull::Block { 10_000 } else { max_events },
            segment_bytes,
            memory_bytes,
            sync,
        })
}

impl Setup {
    fn options(&self) -> DiskQueueOptions {
        DiskQueueOptions {
            limits: Limits { max_events: self.max_events, max_bytes: usize::MAX },
            when_full: self.when_full,
            sync: self.sync,
            segment_bytes: self.segment_bytes,
            memory_bytes: self.memory_bytes,
        }
    }
}

#[derive(Debug, Default)]
struct Model {
    /// Records in the queue (pushed, neither acknowledged nor dropped), oldest first.
    pending: VecDeque<u64>,
    /// How many of `pending` were read since the last restart or rewind.
    read: usize,
    /// Records removed from the front of `pending` since the last restart.
    removed: u64,
    /// Batches read and not acknowledged: their sequence number and the `removed + read`
    /// count just after them.
    batches: Vec<(SequenceNumber, u64)>,
    /// Records that may or may not be in the queue after a crash.
    maybe: BTreeSet<u64>,
    /// Everything acknowledged or dropped: may come back if a crash cuts the ack log.
    gone: Vec<u64>,
    next: u64,
}

impl Model {
    fn remove_front(&mut self, count: usize) {
        for _ in 0..count {
            let id = self.pending.pop_front().expect("model has the records the queue removed");
            self.gone.push(id);
        }
        self.removed += count as u64;
        self.read = self.read.saturating_sub(count);
    }

    /// Applies push outcomes, in the order the events were enqueued.
    fn pushed(&mut self, ids: &[u64], outcomes: &[Push]) -> Result<(), TestCaseError> {
        for (id, outcome) in ids.iter().zip(outcomes) {
            match outcome {
                Push::Queued => self.pending.push_back(*id),
                Push::QueuedDroppingOldest(n) => {
                    prop_assert!(*n <= self.pending.len(), "dropped {n} of {}", self.pending.len());
                    self.remove_front(*n);
                    self.pending.push_back(*id);
                }
                Push::DroppedNewest => {}
                Push::Closed => prop_assert!(false, "queue closed unexpectedly"),
            }
        }
        Ok(())
    }
}

async fn push(queue: &DiskQueue, model: &mut Model, count: u8) -> (Vec<u64>, Vec<Push>) {
    let ids: Vec<u64> = (0..u64::from(count)).map(|n| model.next + n).collect();
    model.next += u64::from(count);
    let mut pending = Vec::new();
    for id in &ids {
        pending.push(queue.enqueue(event(*id)).await);
    }
    let mut outcomes = Vec::new();
    for enqueued in pending {
        outcomes.push(enqueued.wait().await);
    }
    (ids, outcomes)
}

/// Reads the whole queue after a reopen and checks it against the model, then makes the model
/// exact again.
fn settle(queue: &DiskQueue, model: &mut Model) -> Result<(), TestCaseError> {
    let mut out = Vec::new();
    while let ReadOutcome::Batch(_) = queue.try_read_batch(usize::MAX, usize::MAX, &mut out) {}
    let found: Vec<u64> = out.iter().map(|event| number(event)).collect();
    prop_assert!(found.windows(2).all(|pair| pair[0] < pair[1]), "out of order: {found:?}");
    for id in &found {
        prop_assert!(
            model.pending.contains(id) || model.maybe.contains(id),
            "record {id} came back though it was acknowledged or dropped (queue: {found:?}, model: {:?})",
            model.pending
        );
    }
    for id in &model.pending {
        prop_assert!(found.contains(id), "record {id} was lost (queue: {found:?}, model: {:?})", model.pending);
    }
    prop_assert_eq!(queue.depth().0, found.len() as u64);
    queue.rewind();
    model.pending = found.into();
    model.maybe.clear();
    model.read = 0;
    model.removed = 0;
    model.batches.clear();
    Ok(())
}

/// Simulates a crash at a point in the writes made since `before` (segment sizes then): the
/// files keep a prefix of those bytes, and segments begun after the point vanish.
fn crash_files(dir: &Path, before: &[(String, u64)], cut: u16) {
    let size_then = |name: &str| before.iter().find(|(then, _)| then == name).map(|(_, len)| *len);
    let mut grown = Vec::new();
    for path in segment_files(dir) {
        let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        let len = fs::metadata(&path).map(|meta| meta.len()).unwrap_or(0);
        let from = size_then(&name).unwrap_or(0);
        if len > from || size_then(&name).is_none() {
            grown.push((path, from, len));
        }
    }
    let total: u64 = grown.iter().map(|(_, from, len)| len - from).sum();
    let mut keep = total * u64::from(cut) / 1000;
    for (path, from, len) in grown {
        let appended = len - from;
        let kept = keep.min(appended);
        keep -= kept;
        if kept == 0 && from == 0 {
            fs::remove_file(&path).expect("removable");
        } else {
            fs::OpenOptions::new().write(true).open(&path).and_then(|file| file.set_len(from + kept)).expect("cut");
        }
    }
}

fn sizes(dir: &Path) -> Vec<(String, u64)> {
    segment_files(dir)
        .into_iter()
        .map(|path| {
            let len = fs::metadata(&path).map(|meta| meta.len()).unwrap_or(0);
            (path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default(), len)
        })
        .collect()
}

async fn run(setup: Setup, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::queue::disk::skip_fsync_under(dir.path());
    let open = || DiskQueue::open(dir.path(), setup.options()).expect("the queue always opens");
    let mut queue = open();
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Push(count) => {
                let (ids, outcomes) = push(&queue, &mut model, count).await;
                model.pushed(&ids, &outcomes)?;
            }
            Op::Read(max) => {
                let mut out = Vec::new();
                match queue.try_read_batch(usize::from(max), usize::MAX, &mut out) {
                    ReadOutcome::Batch(seq) => {
                        let got: Vec<u64> = out.iter().map(|event| number(event)).collect();
                        let expected: Vec<u64> =
                            model.pending.iter().skip(model.read).take(got.len()).copied().collect();
                        prop_assert!(!got.is_empty() && got.len() <= usize::from(max));
                        prop_assert_eq!(&got, &expected, "read the wrong records");
                        model.read += got.len();
                        model.batches.push((seq, model.removed + model.read as u64));
                    }
                    ReadOutcome::Empty => prop_assert_eq!(model.read, model.pending.len(), "records left unread"),
                    ReadOutcome::Finished => prop_assert!(false, "finished without close"),
                }
            }
            Op::Ack(which) => {
                if model.batches.is_empty() {
                    continue;
                }
                let (seq, upto) = model.batches.remove(usize::from(which) % model.batches.len());
                queue.ack(seq);
                // The queue caps an acknowledgement to what was read (a rewind may have reset that).
                let count = (upto.saturating_sub(model.removed) as usize).min(model.read);
                model.remove_front(count);
                model.batches.retain(|(_, end)| *end > model.removed);
                prop_assert_eq!(queue.depth().0, model.pending.len() as u64);
            }
            Op::Rewind => {
                queue.rewind();
                model.read = 0;
            }
            Op::Restart => {
                drop(queue);
                queue = open();
                prop_assert_eq!(queue.recovered().corrupt_records, 0);
                settle(&queue, &mut model)?;
            }
            Op::Crash { inflight, cut, ack_cut } => {
                let before = sizes(dir.path());
                let depth_before = model.pending.len();
                let (ids, outcomes) = push(&queue, &mut model, inflight).await;
                // Everything that happened during the crash window is uncertain.
                model.pushed(&ids, &outcomes)?;
                let dropped_now = depth_before + ids.len() - model.pending.len();
                let uncertain: Vec<u64> = model.gone.iter().rev().take(dropped_now).copied().collect();
                model.maybe.extend(uncertain);
                for id in &ids {
                    if let Some(at) = model.pending.iter().position(|pending| pending == id) {
                        model.pending.remove(at);
                    }
                    model.maybe.insert(*id);
                }
                drop(queue);
                crash_files(dir.path(), &before, cut);
                if let Some(ack_cut) = ack_cut {
                    let acks = dir.path().join("acks");
                    let len = fs::metadata(&acks).map(|meta| meta.len()).unwrap_or(0);
                    if len > 0 {
                        let file = fs::OpenOptions::new().write(true).open(&acks).expect("ack log");
                        file.set_len(len * u64::from(ack_cut) / 1000).expect("cut");
                        model.maybe.extend(model.gone.iter().copied());
                    }
                }
                queue = open();
                settle(&queue, &mut model)?;
            }
        }
    }
    // Finally: a clean restart loses nothing and brings nothing back.
    drop(queue);
    let queue = open();
    settle(&queue, &mut model)?;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn queue_matches_the_model(setup in setup(), ops in prop::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(run(setup, ops))?;
    }
}
