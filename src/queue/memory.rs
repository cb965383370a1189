//! The in-memory queue: a `VecDeque` of shared events bounded by count and bytes.
//!
//! Its content is lost if the process crashes; on a graceful shutdown it is drained up to the
//! shutdown deadline and whatever is left is reported.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::{Limits, WhenFull};
use crate::event::Event;

/// A bounded multi-producer, single-consumer queue of events for one sink.
#[derive(Debug)]
pub struct MemoryQueue {
    state: Mutex<State>,
    /// Wakes the consumer when events arrive or the queue closes.
    not_empty: Notify,
    /// Wakes blocked producers when room appears or the queue closes.
    not_full: Notify,
}

#[derive(Debug)]
struct State {
    events: VecDeque<Arc<Event>>,
    bytes: usize,
    /// No more pushes are accepted; the consumer drains what is left.
    closed: bool,
    /// Kept with the content so a reload can change them in place.
    limits: Limits,
    when_full: WhenFull,
}

/// What happened to a pushed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    Queued,
    /// Queued after discarding this many of the oldest events (`drop_oldest`).
    QueuedDroppingOldest(usize),
    /// Discarded because the queue was full (`drop_newest`).
    DroppedNewest,
    /// Discarded because the queue is closed for shutdown.
    Closed,
}

impl Push {
    /// Whether the event went into the queue (the consumer has something new).
    fn is_queued(&self) -> bool {
        matches!(self, Push::Queued | Push::QueuedDroppingOldest(_))
    }
}

impl State {
    /// Applies the `when_full` policy to one event, under the lock: its outcome, or `None` when
    /// it must wait for room (`block` and no room).
    fn offer(&mut self, event: &Arc<Event>) -> Option<Push> {
        if self.closed {
            return Some(Push::Closed);
        }
        let size = event.wire_size();
        let mut dropped = 0;
        if !self.fits(size) {
            match self.when_full {
                WhenFull::Block => return None,
                WhenFull::DropNewest => return Some(Push::DroppedNewest),
                WhenFull::DropOldest => {
                    // An empty queue fits anything, so this ends.
                    while !self.fits(size) {
                        if let Some(old) = self.events.pop_front() {
                            self.bytes -= old.wire_size();
                            dropped += 1;
                        }
                    }
                }
            }
        }
        self.bytes += size;
        self.events.push_back(event.clone());
        Some(if dropped == 0 { Push::Queued } else { Push::QueuedDroppingOldest(dropped) })
    }

    /// An event fits if the queue has room for it; an event larger than `max_bytes` still fits
    /// into an empty queue, so an oversized event can never wedge a blocking queue forever.
    fn fits(&self, size: usize) -> bool {
        let limits = &self.limits;
        self.events.is_empty() || (self.events.len() < limits.max_events && self.bytes + size <= limits.max_bytes)
    }
}

impl MemoryQueue {
    pub fn new(limits: Limits, when_full: WhenFull) -> Self {
        let state = State { events: VecDeque::new(), bytes: 0, closed: false, limits, when_full };
        MemoryQueue { state: Mutex::new(state), not_empty: Notify::new(), not_full: Notify::new() }
    }

    /// Changes the bounds and policy in place (on reload), keeping what is queued. A queue
    /// that is now over its bounds takes nothing new until it has drained below them.
    pub fn reconfigure(&self, limits: Limits, when_full: WhenFull) {
        let mut state = self.lock();
        state.limits = limits;
        state.when_full = when_full;
        drop(state);
        self.not_full.notify_waiters();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state inconsistent (every update is a
        // push or pop plus a counter), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds an event, applying the `when_full` policy; with `block` this waits for room.
    pub async fn push(&self, event: Arc<Event>) -> Push {
        loop {
            let room = self.not_full.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            let offered = self.lock().offer(&event);
            if let Some(outcome) = offered {
                if outcome.is_queued() {
                    self.not_empty.notify_one();
                }
                return outcome;
            }
            room.await;
        }
    }

    /// Adds `events` in order, each under the `when_full` policy exactly as [`push`](Self::push)
    /// would, and appends one outcome per event to `out`. What fits goes in under one lock and
    /// with one wake-up of the consumer; under `block` the rest waits for room, as often as
    /// needed (a batch larger than the queue still gets through, a part at a time).
    pub async fn push_batch(&self, events: &[Arc<Event>], out: &mut Vec<Push>) {
        let mut next = 0;
        while next < events.len() {
            let room = self.not_full.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            let mut queued = false;
            {
                let mut state = self.lock();
                while let Some(event) = events.get(next) {
                    let Some(outcome) = state.offer(event) else { break };
                    queued |= outcome.is_queued();
                    out.push(outcome);
                    next += 1;
                }
            }
            if queued {
                self.not_empty.notify_one();
            }
            if next < events.len() {
                room.await;
            }
        }
    }

    /// Moves up to `max_events` events (and roughly `max_bytes`, at least one event) into `out`,
    /// waiting until there is at least one. Returns `false` once the queue is closed and empty.
    pub async fn pop_batch(&self, max_events: usize, max_bytes: usize, out: &mut Vec<Arc<Event>>) -> bool {
        loop {
            let arrival = self.not_empty.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            match self.try_pop_batch(max_events, max_bytes, out) {
                Some(true) => return true,
                Some(false) => return false,
                None => arrival.await,
            }
        }
    }

    /// Like [`pop_batch`](Self::pop_batch) without waiting: `None` when empty but still open.
    pub fn try_pop_batch(&self, max_events: usize, max_bytes: usize, out: &mut Vec<Arc<Event>>) -> Option<bool> {
        let mut state = self.lock();
        if state.events.is_empty() {
            return state.closed.then_some(false);
        }
        let mut bytes = 0;
        while out.len() < max_events {
            let Some(next) = state.events.front() else {
                break;
            };
            if !out.is_empty() && bytes + next.wire_size() > max_bytes {
                break;
            }
            bytes += next.wire_size();
            if let Some(event) = state.events.pop_front() {
                out.push(event);
            }
        }
        state.bytes -= bytes;
        drop(state);
        self.not_full.notify_waiters();
        Some(true)
    }

    /// Puts events back at the front, in order, whatever the limits (they were admitted once
    /// already): a worker that hands its sink over returns what it could not confirm.
    pub fn requeue_front(&self, events: Vec<Arc<Event>>) {
        if events.is_empty() {
            return;
        }
        let mut state = self.lock();
        for event in events.into_iter().rev() {
            state.bytes += event.wire_size();
            state.events.push_front(event);
        }
        drop(state);
        self.not_empty.notify_one();
    }

    /// Refuses further pushes (blocked producers are released with [`Push::Closed`]); the
    /// consumer still drains what is queued.
    pub fn close(&self) {
        self.lock().closed = true;
        self.not_full.notify_waiters();
        self.not_empty.notify_one();
    }

    /// Events and bytes currently queued.
    pub fn depth(&self) -> (usize, usize) {
        let state = self.lock();
        (state.events.len(), state.bytes)
    }

    /// Discards everything queued and returns how many events that was (used when the shutdown
    /// deadline passes, so the loss is counted and reported).
    pub fn discard_all(&self) -> usize {
        let mut state = self.lock();
        let count = state.events.len();
        state.events.clear();
        state.bytes = 0;
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::Timestamp;
    use std::time::Duration;

    fn event(n: usize) -> Arc<Event> {
        let line = format!(r#"{{"event":"e","id":"{n:04}"}}"#);
        Arc::new(Event::decode(line.as_bytes(), Timestamp::now()).expect("valid"))
    }

    fn ids(events: &[Arc<Event>]) -> Vec<String> {
        events.iter().map(|e| e.id().to_owned()).collect()
    }

    fn limits(max_events: usize) -> Limits {
        Limits { max_events, max_bytes: usize::MAX }
    }

    #[tokio::test]
    async fn drop_newest_keeps_the_first_events() {
        let queue = MemoryQueue::new(limits(2), WhenFull::DropNewest);
        assert_eq!(queue.push(event(1)).await, Push::Queued);
        assert_eq!(queue.push(event(2)).await, Push::Queued);
        assert_eq!(queue.push(event(3)).await, Push::DroppedNewest);
        let mut out = Vec::new();
        assert!(queue.pop_batch(10, usize::MAX, &mut out).await);
        assert_eq!(ids(&out), ["0001", "0002"]);
    }

    #[tokio::test]
    async fn drop_oldest_keeps_the_last_events() {
        let queue = MemoryQueue::new(limits(2), WhenFull::DropOldest);
        for n in 1..=2 {
            assert_eq!(queue.push(event(n)).await, Push::Queued);
        }
        assert_eq!(queue.push(event(3)).await, Push::QueuedDroppingOldest(1));
        let mut out = Vec::new();
        assert!(queue.pop_batch(10, usize::MAX, &mut out).await);
        assert_eq!(ids(&out), ["0002", "0003"]);
    }

    #[tokio::test]
    async fn byte_limit_counts_line_sizes() {
        let size = event(1).wire_size();
        let queue = MemoryQueue::new(Limits { max_events: 100, max_bytes: size * 2 }, WhenFull::DropNewest);
        assert_eq!(queue.push(event(1)).await, Push::Queued);
        assert_eq!(queue.push(event(2)).await, Push::Queued);
        assert_eq!(queue.push(event(3)).await, Push::DroppedNewest);
        assert_eq!(queue.depth(), (2, size * 2));
    }

    #[tokio::test]
    async fn oversized_event_still_enters_an_empty_queue() {
        let queue = MemoryQueue::new(Limits { max_events: 10, max_bytes: 1 }, WhenFull::Block);
        assert_eq!(queue.push(event(1)).await, Push::Queued);
    }

    #[tokio::test]
    async fn block_waits_for_room_and_loses_nothing() {
        let queue = Arc::new(MemoryQueue::new(limits(1), WhenFull::Block));
        assert_eq!(queue.push(event(1)).await, Push::Queued);
        let producer = tokio::spawn({
            let queue = queue.clone();
            async move { queue.push(event(2)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!producer.is_finished(), "the push must wait while the queue is full");
        let mut out = Vec::new();
        assert!(queue.pop_batch(10, usize::MAX, &mut out).await);
        assert_eq!(producer.await.expect("joined"), Push::Queued);
        assert!(queue.pop_batch(10, usize::MAX, &mut out).await);
        assert_eq!(ids(&out), ["0001", "0002"]);
    }

    #[tokio::test]
    async fn close_releases_blocked_producers_and_drains() {
        let queue = Arc::new(MemoryQueue::new(limits(1), WhenFull::Block));
        assert_eq!(queue.push(event(1)).await, Push::Queued);
        let producer = tokio::spawn({
            let queue = queue.clone();
            async move { queue.push(event(2)).await }
        });
        tokio::task::yield_now().await;
        queue.close();
        assert_eq!(producer.await.expect("joined"), Push::Closed);
        let mut out = Vec::new();
        assert!(queue.pop_batch(10, usize::MAX, &mut out).await);
        assert!(!queue.pop_batch(10, usize::MAX, &mut out).await);
        assert_eq!(ids(&out), ["0001"]);
    }

    #[tokio::test]
    async fn push_batch_gives_each_event_the_outcome_a_push_would() {
        let batch: Vec<Arc<Event>> = (1..=4).map(event).collect();
        for (policy, outcomes, kept) in [
            (
                WhenFull::DropNewest,
                vec![Push::Queued, Push::Queued, Push::DroppedNewest, Push::DroppedNewest],
                ["0001", "0002"],
            ),
            (
                WhenFull::DropOldest,
                vec![Push::Queued, Push::Queued, Push::QueuedDroppingOldest(1), Push::QueuedDroppingOldest(1)],
                ["0003", "0004"],
            ),
        ] {
            let queue = MemoryQueue::new(limits(2), policy);
            let mut out = Vec::new();
            queue.push_batch(&batch, &mut out).await;
            assert_eq!(out, outcomes, "{policy:?}");
            let mut popped = Vec::new();
            assert!(queue.pop_batch(10, usize::MAX, &mut popped).await);
            assert_eq!(ids(&popped), kept, "{policy:?}");
        }
        let queue = MemoryQueue::new(limits(2), WhenFull::Block);
        queue.close();
        let mut out = Vec::new();
        queue.push_batch(&batch, &mut out).await;
        assert_eq!(out, [Push::Closed; 4]);
    }

    #[tokio::test]
    async fn push_batch_larger_than_a_blocking_queue_goes_in_as_room_appears() {
        let queue = Arc::new(MemoryQueue::new(limits(2), WhenFull::Block));
        let producer = tokio::spawn({
            let queue = queue.clone();
            async move {
                let mut out = Vec::new();
                queue.push_batch(&(1..=5).map(event).collect::<Vec<_>>(), &mut out).await;
                out
            }
        });
        let mut popped = Vec::new();
        while popped.len() < 5 {
            // One at a time (`pop_batch` counts what `popped` holds already).
            assert!(queue.pop_batch(popped.len() + 1, usize::MAX, &mut popped).await);
        }
        assert_eq!(producer.await.expect("joined"), [Push::Queued; 5]);
        assert_eq!(ids(&popped), ["0001", "0002", "0003", "0004", "0005"]);
    }

    #[tokio::test]
    async fn batches_respect_event_and_byte_limits() {
        let queue = MemoryQueue::new(limits(100), WhenFull::Block);
        for n in 0..10 {
            let _ = queue.push(event(n)).await;
        }
        let size = event(0).wire_size();
        let mut out = Vec::new();
        assert!(queue.pop_batch(4, usize::MAX, &mut out).await);
        assert_eq!(out.len(), 4);
        out.clear();
        assert!(queue.pop_batch(100, size * 3, &mut out).await);
        assert_eq!(out.len(), 3);
        assert_eq!(queue.depth(), (3, size * 3));
    }
}
