//! Input counters: connections and lines, with rejections by reason.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::event::DecodeError;

/// Rejection reasons in a fixed order, matching [`DecodeError::code`].
pub const REJECT_REASONS: [&str; 6] =
    ["too_long", "invalid_utf8", "invalid_json", "not_an_object", "missing_event", "bad_field"];

#[derive(Debug, Default)]
pub struct InputStats {
    /// Connections accepted since start.
    pub connections: AtomicU64,
    /// Clients connected now.
    pub active: AtomicU64,
    /// Connections turned away because `max_clients` were already connected.
    pub connections_refused: AtomicU64,
    /// Lines decoded into events and routed.
    pub accepted: AtomicU64,
    rejected: [AtomicU64; REJECT_REASONS.len()],
}

impl InputStats {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reject(&self, error: &DecodeError) {
        if let Some(index) = REJECT_REASONS.iter().position(|code| *code == error.code()) {
            self.rejected[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Rejected lines per reason.
    pub fn rejected(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        REJECT_REASONS.iter().zip(&self.rejected).map(|(code, count)| (*code, count.load(Ordering::Relaxed)))
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected().map(|(_, count)| count).sum()
    }

    pub fn summary(&self) -> String {
        let reasons: Vec<String> =
            self.rejected().filter(|(_, n)| *n > 0).map(|(code, n)| format!("{code}={n}")).collect();
        format!(
            "connections={} refused={} accepted={} rejected={} [{}]",
            self.connections.load(Ordering::Relaxed),
            self.connections_refused.load(Ordering::Relaxed),
            self.accepted.load(Ordering::Relaxed),
            self.rejected_total(),
            reasons.join(" ")
        )
    }
}
