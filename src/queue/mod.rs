//! Per-sink bounded queues and what they do when full.

pub mod disk;
pub mod memory;
pub mod sink_queue;

pub use memory::{MemoryQueue, Push};
pub use sink_queue::{AckToken, SinkQueue};

/// What a full queue does with one more event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait for room: backpressure reaches the writers through their sockets. Nothing is dropped.
    Block,
    /// Discard the incoming event (counted as `dropped_newest`).
    DropNewest,
    /// Discard the oldest queued events until the new one fits (counted as `dropped_oldest`).
    DropOldest,
}

impl WhenFull {
    pub const NAMES: &'static str = "\"block\", \"drop_newest\" or \"drop_oldest\"";

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "block" => Some(WhenFull::Block),
            "drop_newest" => Some(WhenFull::DropNewest),
            "drop_oldest" => Some(WhenFull::DropOldest),
            _ => None,
        }
    }
}

/// A queue's bounds: whichever is reached first makes it full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_events: usize,
    pub max_bytes: usize,
}
