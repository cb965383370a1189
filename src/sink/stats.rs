//! Per-sink counters. Every event that enters a sink's queue ends up in exactly one of
//! `delivered`, a `dropped_*` counter, or the undelivered count reported at shutdown.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::metrics::histogram::Histogram;

/// Delivery latency buckets, in seconds: 100 µs to about 13 s.
fn latency_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 18)
}

/// How long deliveries take: a stream batch written, a webhook request answered, a file write.
#[derive(Debug)]
pub struct LatencyHistogram(pub Histogram);

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram(Histogram::new(latency_buckets()))
    }
}

impl LatencyHistogram {
    pub fn observe(&self, took: Duration) {
        self.0.observe(took.as_secs_f64());
    }
}

/// Counters of one sink, updated lock-free from the input tasks and the sink worker.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Events routed to this sink (its filters matched).
    pub received: AtomicU64,
    /// Events handed over: acknowledged by the peer's TCP stack (tcp, tls), answered (relp),
    /// acknowledged by the partition leader (kafka), sent (udp), or written (file, console).
    pub delivered: AtomicU64,
    /// Events discarded on arrival because the queue was full (`when_full = "drop_newest"`).
    pub dropped_newest: AtomicU64,
    /// Queued events discarded to make room (`when_full = "drop_oldest"`).
    pub dropped_oldest: AtomicU64,
    /// Events still queued or unconfirmed when the shutdown deadline passed.
    pub dropped_shutdown: AtomicU64,
    /// Messages the transport refused for good (a datagram too long for the path): each one
    /// dropped, logged and counted, never retried, so it cannot hold up the ones behind it.
    pub dropped_unsendable: AtomicU64,
    /// Messages cut to a length limit (`max_message_bytes`, or a CEF field limit).
    pub truncated: AtomicU64,
    /// Messages in which characters the format cannot carry were written as spaces (control
    /// characters in RFC 3164 content, CEF and LEEF; the delimiter and `|` in LEEF).
    pub sanitized: AtomicU64,
    /// CEF and LEEF fields left out of a record because their value had the wrong type.
    pub invalid_fields: AtomicU64,
    /// Events sent again after a connection broke (possible duplicates at the receiver).
    pub resent: AtomicU64,
    /// Attempts repeated after a retryable failure (webhook requests, Kafka produce requests).
    pub retries: AtomicU64,
    /// Webhook events given up and kept as dead letters.
    pub dead_lettered: AtomicU64,
    /// Failed connection attempts.
    pub connect_failures: AtomicU64,
    /// Writes that failed on an open connection.
    pub send_failures: AtomicU64,
    /// Connections the receiver closed or broke (found before writing into them).
    pub disconnects: AtomicU64,
    /// Events handed to the transport and not yet confirmed (Kafka: produced, awaiting the
    /// broker's acknowledgement). A gauge.
    pub in_flight: AtomicU64,
    /// Time per delivery (batch write, webhook attempt, Kafka produce round trip).
    pub latency: LatencyHistogram,
    /// The most recent failure: when (RFC 3339) and what.
    last_error: std::sync::Mutex<Option<(String, String)>>,
}

/// What encoding a batch of events changed, summed so that the counters are updated once per
/// batch, not once per event.
#[derive(Debug, Default, Clone, Copy)]
pub struct EncodeTally {
    truncated: u64,
    invalid_fields: u64,
    sanitized: u64,
}

impl EncodeTally {
    pub fn add(&mut self, outcome: crate::encode::Encoded) {
        self.truncated += u64::from(outcome.truncated);
        self.invalid_fields += u64::from(outcome.invalid_fields);
        self.sanitized += u64::from(outcome.sanitized);
    }
}

impl SinkStats {
    /// Adds what encoding changed to `truncated`, `invalid_fields` and `sanitized`.
    pub fn count_encoded(&self, tally: EncodeTally) {
        for (counter, n) in [
            (&self.truncated, tally.truncated),
            (&self.invalid_fields, tally.invalid_fields),
            (&self.sanitized, tally.sanitized),
        ] {
            if n > 0 {
                Self::add(counter, n);
            }
        }
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn set_last_error(&self, error: impl std::fmt::Display) {
        let entry = (crate::timestamp::Timestamp::now().to_string(), error.to_string());
        *self.last_error.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(entry);
    }

    /// When and what the most recent failure was.
    pub fn last_error(&self) -> Option<(String, String)> {
        self.last_error.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// A one-line summary for logs.
    pub fn summary(&self) -> String {
        let get = Self::get;
        format!(
            "received={} delivered={} dropped_newest={} dropped_oldest={} dropped_shutdown={} truncated={} invalid_fields={} resent={} retries={} dead_lettered={} connect_failures={} send_failures={} disconnects={}",
            get(&self.received),
            get(&self.delivered),
            get(&self.dropped_newest),
            get(&self.dropped_oldest),
            get(&self.dropped_shutdown),
            get(&self.truncated),
            get(&self.invalid_fields),
            get(&self.resent),
            get(&self.retries),
            get(&self.dead_lettered),
            get(&self.connect_failures),
            get(&self.send_failures),
            get(&self.disconnects),
        )
    }
}
