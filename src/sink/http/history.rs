//! Delivery history: the last attempts of a webhook sink, in a bounded ring, for operators.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// When the attempt started (RFC 3339, UTC).
    pub time: String,
    /// Ids of the events delivered (several for a batch).
    pub event_ids: Vec<String>,
    /// Stays the same across retries of one delivery.
    pub delivery_id: String,
    /// 1 for the first try.
    pub attempt: u32,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: u64,
    pub success: bool,
    /// The start of the response body (at most 1 KiB), lossily decoded.
    pub response: String,
    /// A test delivery requested by an operator.
    pub test: bool,
}

#[derive(Debug)]
pub struct DeliveryHistory {
    capacity: usize,
    ring: Mutex<VecDeque<Attempt>>,
}

impl DeliveryHistory {
    pub fn new(capacity: usize) -> Self {
        DeliveryHistory { capacity, ring: Mutex::new(VecDeque::with_capacity(capacity.min(1024))) }
    }

    pub fn record(&self, attempt: Attempt) {
        if self.capacity == 0 {
            return;
        }
        let mut ring = self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if ring.len() == self.capacity {
            ring.pop_front();
        }
        ring.push_back(attempt);
    }

    /// The attempts kept, newest first.
    pub fn newest_first(&self) -> Vec<Attempt> {
        let ring = self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        ring.iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(n: u32) -> Attempt {
        Attempt {
            time: String::new(),
            event_ids: vec![],
            delivery_id: String::new(),
            attempt: n,
            status: None,
            error: None,
            latency_ms: 0,
            success: false,
            response: String::new(),
            test: false,
        }
    }

    #[test]
    fn keeps_the_newest_within_capacity() {
        let history = DeliveryHistory::new(2);
        for n in 1..=3 {
            history.record(attempt(n));
        }
        let kept: Vec<u32> = history.newest_first().iter().map(|a| a.attempt).collect();
        assert_eq!(kept, [3, 2]);
    }
}
