//! Dead letters: events whose delivery failed for good (retries exhausted, or a response that
//! must not be retried). Kept in a bounded ring per sink, counted and logged, so they can be
//! inspected and replayed; when the ring is full the oldest letter is discarded and counted.
//! Memory only: dead letters do not survive a restart.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::event::Event;

/// Events of one failed delivery.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub events: Vec<Arc<Event>>,
    /// The last error or status.
    pub error: String,
    pub attempts: u32,
    /// When it was given up (RFC 3339, UTC).
    pub time: String,
}

#[derive(Debug)]
pub struct DeadLetters {
    capacity: usize,
    ring: Mutex<VecDeque<DeadLetter>>,
    /// Letters discarded because the ring was full.
    pub discarded: AtomicU64,
}

impl DeadLetters {
    pub fn new(capacity: usize) -> Self {
        DeadLetters { capacity, ring: Mutex::default(), discarded: AtomicU64::new(0) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<DeadLetter>> {
        self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a letter; returns how many events were discarded to make room.
    pub fn push(&self, letter: DeadLetter) -> usize {
        let mut ring = self.lock();
        let mut discarded = 0;
        while ring.len() >= self.capacity.max(1) {
            if let Some(old) = ring.pop_front() {
                discarded += old.events.len();
            }
        }
        ring.push_back(letter);
        self.discarded.fetch_add(discarded as u64, Ordering::Relaxed);
        discarded
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// A copy of the letters, oldest first.
    pub fn list(&self) -> Vec<DeadLetter> {
        self.lock().iter().cloned().collect()
    }

    /// Removes and returns every letter (to replay them).
    pub fn take_all(&self) -> Vec<DeadLetter> {
        self.lock().drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::Timestamp;

    fn letter(id: &str) -> DeadLetter {
        let event =
            Event::decode(format!(r#"{{"event":"x","id":"{id}"}}"#).as_bytes(), Timestamp::now()).expect("valid");
        DeadLetter { events: vec![Arc::new(event)], error: "503".into(), attempts: 4, time: String::new() }
    }

    #[test]
    fn is_bounded_and_counts_what_it_discards() {
        let letters = DeadLetters::new(2);
        assert_eq!(letters.push(letter("a")), 0);
        assert_eq!(letters.push(letter("b")), 0);
        assert_eq!(letters.push(letter("c")), 1);
        let ids: Vec<String> = letters.list().iter().map(|l| l.events[0].id().to_owned()).collect();
        assert_eq!(ids, ["b", "c"]);
        assert_eq!(letters.discarded.load(Ordering::Relaxed), 1);
        assert_eq!(letters.take_all().len(), 2);
        assert!(letters.is_empty());
    }
}
