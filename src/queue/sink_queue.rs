//! A sink's queue, in memory or on disk, behind one interface for the router and the workers.
//!
//! Workers read a batch, deliver it, and acknowledge it once the sink confirmed it. A memory
//! queue hands events over when they are read (acknowledging does nothing); a disk queue keeps
//! them until acknowledged, so everything after the last acknowledgement is delivered again
//! after a crash or restart.

use std::sync::Arc;

use super::disk::{DiskQueue, SequenceNumber};
use super::{Limits, MemoryQueue, Push, WhenFull};
use crate::event::Event;

/// What acknowledges a batch read from a queue: nothing for memory, the batch's last sequence
/// number for disk.
pub type AckToken = Option<SequenceNumber>;

#[derive(Debug)]
pub enum SinkQueue {
    Memory(MemoryQueue),
    Disk(DiskQueue),
}

impl SinkQueue {
    pub fn is_durable(&self) -> bool {
        matches!(self, SinkQueue::Disk(_))
    }

    /// Adds an event under the `when_full` policy (a disk queue returns once it is written).
    pub async fn push(&self, event: Arc<Event>) -> Push {
        match self {
            SinkQueue::Memory(queue) => queue.push(event).await,
            SinkQueue::Disk(queue) => queue.push(event).await,
        }
    }

    /// Adds `events` in order under the `when_full` policy, one outcome per event appended to
    /// `out` (as many [`push`](Self::push)es would give), taking the queue's lock and waking
    /// its worker once per part that fits instead of once per event. A disk queue returns once
    /// all of them are written, with one write and one sync for the lot (group commit).
    pub async fn push_batch(&self, events: &[Arc<Event>], out: &mut Vec<Push>) {
        match self {
            SinkQueue::Memory(queue) => queue.push_batch(events, out).await,
            SinkQueue::Disk(queue) => queue.push_batch(events, out).await,
        }
    }

    /// Reads the next batch into `out`, waiting for one; `None` once the queue is closed and
    /// everything has been read. The token acknowledges the batch.
    pub async fn pop_batch(&self, max_events: usize, max_bytes: usize, out: &mut Vec<Arc<Event>>) -> Option<AckToken> {
        match self {
            SinkQueue::Memory(queue) => queue.pop_batch(max_events, max_bytes, out).await.then_some(None),
            SinkQueue::Disk(queue) => queue.read_batch(max_events, max_bytes, out).await.map(Some),
        }
    }

    /// The sink confirmed everything up to and including the batch of `token`.
    pub fn ack(&self, token: AckToken) {
        if let (SinkQueue::Disk(queue), Some(sequence)) = (self, token) {
            queue.ack(sequence);
        }
    }

    /// A worker handing over gives back what it could not get confirmed: a memory queue takes
    /// the events back at its front; a disk queue still has them and reads again from the last
    /// acknowledgement.
    pub fn give_back(&self, events: Vec<Arc<Event>>) {
        match self {
            SinkQueue::Memory(queue) => queue.requeue_front(events),
            SinkQueue::Disk(queue) => queue.rewind(),
        }
    }

    pub fn close(&self) {
        match self {
            SinkQueue::Memory(queue) => queue.close(),
            SinkQueue::Disk(queue) => queue.close(),
        }
    }

    /// Events and bytes queued (for disk: not yet acknowledged).
    pub fn depth(&self) -> (usize, usize) {
        match self {
            SinkQueue::Memory(queue) => queue.depth(),
            SinkQueue::Disk(queue) => {
                let (events, bytes) = queue.depth();
                (usize::try_from(events).unwrap_or(usize::MAX), usize::try_from(bytes).unwrap_or(usize::MAX))
            }
        }
    }

    /// At the shutdown deadline: what is lost with this queue. A memory queue's content is
    /// discarded and counted; a disk queue keeps its content for the next start.
    pub fn discard_at_shutdown(&self) -> usize {
        match self {
            SinkQueue::Memory(queue) => queue.discard_all(),
            SinkQueue::Disk(_) => 0,
        }
    }

    /// New bounds from a reload. A disk queue keeps its bounds until the next start.
    pub fn reconfigure(&self, limits: Limits, when_full: WhenFull) -> bool {
        match self {
            SinkQueue::Memory(queue) => {
                queue.reconfigure(limits, when_full);
                true
            }
            SinkQueue::Disk(_) => false,
        }
    }
}
