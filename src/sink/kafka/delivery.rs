//! Delivery to Kafka: events wait up to `linger_ms` (or until `batch_bytes` of records) to go
//! out together, are produced partition by partition (the partitions in parallel, each
//! partition's requests in order), and leave the queue only once every one of them is
//! acknowledged (`acks = all`) or, for a record too large for the broker, dropped and counted.
//!
//! A failed request is produced again after the sink's backoff, on a fresh connection (which
//! also re-reads the topic's metadata): records the broker may have written before the failure
//! are counted as `resent`, the possible duplicates of at-least-once delivery. A record keeps
//! the partition it was first given, so one key's events stay in order across retries. While
//! retrying, the worker takes nothing more from the queue: a cluster that is down fills the
//! queue, and its `when_full` policy decides.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rskafka::chrono::{DateTime, Utc};
use rskafka::record::Record;
use tracing::warn;

use super::cluster::{Cluster, ConnectSettings, PartitionWork, ProduceError};
use super::partition::Partitioner;
use super::KafkaSettings;
use crate::event::Event;
use crate::queue::AckToken;
use crate::sink::stats::SinkStats;
use crate::sink::worker::{Batch, Shared};
use crate::transport::{Endpoint, KafkaTarget};

/// Record headers every record carries.
const HEADER_EVENT_TYPE: &str = "event_type";
const HEADER_EVENT_ID: &str = "event_id";

/// One event taken from the queue and not yet acknowledged by the broker.
struct Pending {
    value: Bytes,
    key: Option<Vec<u8>>,
    event: Arc<Event>,
    /// The partition it was first given; kept across retries (per-key order).
    partition: Option<i32>,
    /// In a request that failed after it was sent: producing it again may duplicate it.
    attempted: bool,
    /// Acknowledged by the broker, or dropped as too large: it leaves the queue.
    done: bool,
}

pub(in crate::sink) struct KafkaDelivery {
    shared: Shared,
    settings: Arc<KafkaSettings>,
    target: KafkaTarget,
    cluster: Option<Cluster>,
    partitioner: Partitioner,
    pending: Vec<Pending>,
    /// Queue tokens of the batches in `pending`, in order: acknowledged together once every
    /// pending event is done.
    tokens: Vec<AckToken>,
    pending_bytes: usize,
    /// When the oldest pending event has waited `linger_ms`.
    linger_until: Option<Instant>,
    /// Most records per request on a partition whose requests the broker found too large.
    request_limit: HashMap<i32, usize>,
}

impl KafkaDelivery {
    pub(in crate::sink) fn new(shared: Shared) -> Self {
        let (settings, target) = match (&shared.config.kafka, &shared.config.endpoint) {
            (Some(settings), Endpoint::Kafka(target)) => (settings.clone(), target.clone()),
            _ => unreachable!("a kafka sink's config always has its settings"),
        };
        KafkaDelivery {
            shared,
            settings,
            target,
            cluster: None,
            partitioner: Partitioner::default(),
            pending: Vec::new(),
            tokens: Vec::new(),
            pending_bytes: 0,
            linger_until: None,
            request_limit: HashMap::new(),
        }
    }

    /// Takes a batch in; produces what is pending once `batch_bytes` is reached or the oldest
    /// event has lingered long enough (else `maintain` does, when the linger ends).
    pub(in crate::sink) async fn deliver(&mut self, batch: Batch, events: &[Arc<Event>], token: AckToken) {
        let bytes = Bytes::from(batch.bytes);
        let mut start = 0;
        for (&end, event) in batch.ends.iter().zip(events) {
            let key = self.settings.key.as_ref().and_then(|path| record_key(event, path));
            self.pending_bytes += end - start + key.as_ref().map_or(0, Vec::len);
            self.pending.push(Pending {
                value: bytes.slice(start..end),
                key,
                event: event.clone(),
                partition: None,
                attempted: false,
                done: false,
            });
            start = end;
        }
        self.tokens.push(token);
        self.linger_until.get_or_insert_with(|| Instant::now() + self.settings.linger);
        if self.pending_bytes >= self.settings.batch_bytes || self.linger_over() {
            self.flush().await;
        }
    }

    fn linger_over(&self) -> bool {
        self.linger_until.is_some_and(|until| Instant::now() >= until)
    }

    /// How long the worker may wait for more events before calling `maintain`: until the
    /// linger of the oldest pending event ends.
    pub(in crate::sink) fn maintenance_delay(&self) -> Option<Duration> {
        self.linger_until.map(|until| until.saturating_duration_since(Instant::now()))
    }

    pub(in crate::sink) async fn maintain(&mut self) {
        if self.linger_over() {
            self.flush().await;
        }
    }

    /// Produces everything pending (shutdown and handover).
    pub(in crate::sink) async fn settle(&mut self) {
        self.flush().await;
    }

    /// Events taken from the queue and not yet acknowledged.
    pub(in crate::sink) fn unacknowledged(&self) -> usize {
        self.pending.iter().filter(|p| !p.done).count()
    }

    /// For a handover: the events not yet acknowledged, which the successor delivers.
    pub(in crate::sink) fn take_unacknowledged(&mut self) -> Vec<Arc<Event>> {
        let events = self.pending.drain(..).filter(|p| !p.done).map(|p| p.event).collect();
        self.tokens.clear();
        self.pending_bytes = 0;
        self.linger_until = None;
        self.set_in_flight(0);
        events
    }

    /// Produces until every pending event is acknowledged (or dropped as too large), then
    /// acknowledges their batches to the queue. Only cancellation stops it.
    async fn flush(&mut self) {
        while self.pending.iter().any(|p| !p.done) {
            let Some(cluster) = self.connected().await else { continue };
            let partitions = cluster.partitions().to_vec();
            let (work, plan) = self.plan(&partitions);
            let unacknowledged = self.unacknowledged();
            self.set_in_flight(unacknowledged);
            let resent = self.pending.iter().filter(|p| !p.done && p.attempted).count();
            SinkStats::add(&self.shared.stats.resent, resent as u64);
            let Some(cluster) = self.cluster.as_mut() else { continue };
            let outcomes =
                cluster.produce(work, self.settings.compression, self.settings.timeout, &self.shared.stats).await;
            let mut failure: Option<String> = None;
            if let Some(lost) = plan.keys().find(|p| !outcomes.iter().any(|o| o.partition == **p)) {
                // A produce task that ended without an outcome: its records go again.
                failure = Some(format!("partition {lost}: the produce task failed"));
            }
            for outcome in outcomes {
                let requests = plan.get(&outcome.partition).map(Vec::as_slice).unwrap_or_default();
                for request in requests.iter().take(outcome.acknowledged) {
                    self.mark_done(request);
                }
                SinkStats::add(
                    &self.shared.stats.delivered,
                    requests.iter().take(outcome.acknowledged).map(|r| r.len() as u64).sum(),
                );
                let Some(error) = outcome.error else { continue };
                let refused = requests.get(outcome.acknowledged).map(Vec::as_slice).unwrap_or_default();
                match error {
                    ProduceError::TooLarge(reason) if refused.len() <= 1 => {
                        for &index in refused {
                            self.drop_too_large(index, &reason);
                        }
                    }
                    ProduceError::TooLarge(reason) => {
                        // Smaller requests next time, down to one record each.
                        let limit = refused.len().div_ceil(2);
                        self.request_limit.insert(outcome.partition, limit);
                        warn!(
                            sink = %self.shared.config.name,
                            partition = outcome.partition,
                            "{reason}: a request of {} records was too large; at most {limit} per request from now \
                             on (set batch_bytes below the broker's message.max.bytes)",
                            refused.len()
                        );
                    }
                    ProduceError::Failed(reason) => {
                        if outcome.request_sent {
                            // The broker may have written it before the failure: producing
                            // it again may duplicate it (counted as `resent` when it goes).
                            for &index in refused {
                                if let Some(pending) = self.pending.get_mut(index) {
                                    pending.attempted = true;
                                }
                            }
                        }
                        SinkStats::add(&self.shared.stats.send_failures, 1);
                        SinkStats::add(&self.shared.stats.retries, 1);
                        failure.get_or_insert(format!("partition {}: {reason}", outcome.partition));
                    }
                }
            }
            match failure {
                Some(reason) => {
                    // A fresh connection re-reads the metadata: leaders that moved, a topic
                    // that went away or came back.
                    self.cluster = None;
                    self.shared
                        .failed(&format!("producing to Kafka topic {:?} failed", self.target.topic), reason)
                        .await;
                }
                None => self.shared.succeeded(),
            }
        }
        for token in self.tokens.drain(..) {
            self.shared.queue.ack(token);
        }
        self.pending.clear();
        self.pending_bytes = 0;
        self.linger_until = None;
        self.partitioner.next_flush();
        self.set_in_flight(0);
    }

    /// The connected cluster, connecting if needed; `None` after a failed attempt (whose
    /// backoff has been waited out).
    async fn connected(&mut self) -> Option<&mut Cluster> {
        if self.cluster.is_none() {
            let config = &self.shared.config;
            let settings = ConnectSettings {
                target: &self.target,
                tls: config.tls.as_ref(),
                sasl: self.settings.sasl.as_ref(),
                connect_timeout: config.connect_timeout,
            };
            match Cluster::connect(settings).await {
                Ok(cluster) => self.cluster = Some(cluster),
                Err(reason) => {
                    SinkStats::add(&self.shared.stats.connect_failures, 1);
                    let what = format!("cannot produce to Kafka topic {:?} at {}", self.target.topic, self.target);
                    self.shared.failed(&what, reason).await;
                    return None;
                }
            }
        }
        self.cluster.as_mut()
    }

    /// Gives every unacknowledged record a partition (keeping the one it had, if the topic
    /// still has it) and splits each partition's records, in queue order, into requests of at
    /// most `batch_bytes` (and the partition's record limit, if the broker found requests too
    /// large). Returns the requests and, per partition, the indices of their records.
    #[allow(clippy::type_complexity)]
    fn plan(&mut self, partitions: &[i32]) -> (Vec<PartitionWork>, BTreeMap<i32, Vec<Vec<usize>>>) {
        let mut plan: BTreeMap<i32, Vec<Vec<usize>>> = BTreeMap::new();
        let mut sizes: BTreeMap<i32, usize> = BTreeMap::new();
        for (index, pending) in self.pending.iter_mut().enumerate().filter(|(_, p)| !p.done) {
            let partition = match pending.partition {
                Some(partition) if partitions.contains(&partition) => partition,
                _ => {
                    let chosen = partitions[self.partitioner.assign(pending.key.as_deref(), partitions.len())];
                    pending.partition = Some(chosen);
                    chosen
                }
            };
            let size = pending.value.len() + pending.key.as_ref().map_or(0, Vec::len);
            let limit = self.request_limit.get(&partition).copied().unwrap_or(usize::MAX);
            let requests = plan.entry(partition).or_default();
            let bytes = sizes.entry(partition).or_default();
            match requests.last_mut() {
                Some(last) if last.len() < limit && *bytes + size <= self.settings.batch_bytes => {
                    last.push(index);
                    *bytes += size;
                }
                _ => {
                    requests.push(vec![index]);
                    *bytes = size;
                }
            }
        }
        let work = plan
            .iter()
            .map(|(&partition, requests)| PartitionWork {
                partition,
                requests: requests
                    .iter()
                    .map(|indices| indices.iter().map(|&i| self.record(&self.pending[i])).collect())
                    .collect(),
            })
            .collect();
        (work, plan)
    }

    fn record(&self, pending: &Pending) -> Record {
        let event = &pending.event;
        let headers = BTreeMap::from([
            (HEADER_EVENT_TYPE.to_owned(), event.event_type().as_bytes().to_vec()),
            (HEADER_EVENT_ID.to_owned(), event.id().as_bytes().to_vec()),
        ]);
        // The event's own time (Kafka's CreateTime); one outside chrono's range gets the
        // time of sending.
        let timestamp = DateTime::<Utc>::from_timestamp_millis(event.timestamp().unix_millis())
            .or_else(|| DateTime::<Utc>::from_timestamp_millis(crate::timestamp::Timestamp::now().unix_millis()))
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        Record { key: pending.key.clone(), value: Some(pending.value.to_vec()), headers, timestamp }
    }

    fn mark_done(&mut self, request: &[usize]) {
        for &index in request {
            if let Some(pending) = self.pending.get_mut(index) {
                pending.done = true;
            }
        }
    }

    fn drop_too_large(&mut self, index: usize, reason: &str) {
        let Some(pending) = self.pending.get_mut(index) else { return };
        pending.done = true;
        SinkStats::add(&self.shared.stats.dropped_unsendable, 1);
        warn!(
            sink = %self.shared.config.name,
            event_id = pending.event.id(),
            bytes = pending.value.len(),
            "the broker refused an event as too large; dropped: {reason}"
        );
    }

    fn set_in_flight(&self, n: usize) {
        self.shared.stats.in_flight.store(n as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The record key of `event`: the text of the field at `path` (a string as it is, anything
/// else as its JSON); no key when the field is missing or null.
fn record_key(event: &Event, path: &crate::event::FieldPath) -> Option<Vec<u8>> {
    match event.field_at(path)? {
        crate::event::FieldValue::Null => None,
        value => Some(value.into_text().into_owned().into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::config::Config;
    use crate::queue::{MemoryQueue, SinkQueue};
    use crate::sink::backoff::Backoff;
    use crate::timestamp::Timestamp;

    /// A delivery for a sink with `batch_bytes = 1024` and `key = "host"`, holding `hosts.len()`
    /// pending events (host `None`: no key) of about 200 bytes each; nothing is connected.
    fn delivery(hosts: &[Option<&str>]) -> KafkaDelivery {
        let text = "[sinks.k]\nurl = \"kafka://127.0.0.1:9/t\"\nkey = \"host\"\nbatch_bytes = 1024\n";
        let config = Config::parse(text, "test.toml").expect("valid");
        let sink = config.sinks[0].clone();
        let queue = Arc::new(SinkQueue::Memory(MemoryQueue::new(sink.limits, sink.when_full)));
        let backoff = Backoff::new(sink.backoff_initial, sink.backoff_max);
        let shared = Shared { config: sink, stats: Arc::default(), backoff, queue };
        let mut delivery = KafkaDelivery::new(shared);
        for (i, host) in hosts.iter().enumerate() {
            let host = host.map(|h| format!(",\"host\":\"{h}\"")).unwrap_or_default();
            let line = format!("{{\"event\":\"x\",\"id\":\"e{i}\"{host},\"title\":\"{}\"}}", "t".repeat(150));
            let event = Arc::new(Event::decode(line.as_bytes(), Timestamp::now()).expect("valid event"));
            let key = record_key(&event, &crate::event::FieldPath::new("host"));
            let value = Bytes::from(line.into_bytes());
            delivery.pending.push(Pending { value, key, event, partition: None, attempted: false, done: false });
        }
        delivery
    }

    #[test]
    fn plan_keeps_keys_on_their_partition_in_order_within_batch_bytes() {
        let hosts: Vec<Option<&str>> =
            (0..40).map(|i| [Some("web-1"), Some("db-7"), None, Some("mail-3")][i % 4]).collect();
        let mut delivery = delivery(&hosts);
        delivery.pending[5].done = true;
        let (work, plan) = delivery.plan(&[0, 1, 2]);
        let mut planned = BTreeSet::new();
        for (partition, requests) in &plan {
            let indices: Vec<usize> = requests.iter().flatten().copied().collect();
            assert!(indices.windows(2).all(|w| w[0] < w[1]), "queue order within partition {partition}");
            for request in requests {
                let size = |p: &Pending| p.value.len() + p.key.as_ref().map_or(0, Vec::len);
                let bytes: usize = request.iter().map(|&i| size(&delivery.pending[i])).sum();
                assert!(request.len() == 1 || bytes <= 1024, "a request of {bytes} bytes, batch_bytes 1024");
            }
            for &i in &indices {
                assert!(planned.insert(i), "event {i} planned twice");
                let pending = &delivery.pending[i];
                assert_eq!(pending.partition, Some(*partition));
                if let Some(key) = &pending.key {
                    let expected = [0, 1, 2][(super::super::partition::murmur2(key) & 0x7fff_ffff) as usize % 3];
                    assert_eq!(*partition, expected, "Kafka's partition for key {key:?}");
                }
            }
        }
        let expected: BTreeSet<usize> = (0..40).filter(|&i| i != 5).collect();
        assert_eq!(planned, expected, "every pending event once, the acknowledged one not again");
        let keyless: BTreeSet<Option<i32>> =
            delivery.pending.iter().filter(|p| p.key.is_none()).map(|p| p.partition).collect();
        assert_eq!(keyless.len(), 1, "keyless records stick to one partition per flush");
        let records: usize = work.iter().flat_map(|w| &w.requests).map(Vec::len).sum();
        assert_eq!(records, 39);
        let record = &work[0].requests[0][0];
        assert!(record.headers.contains_key("event_type") && record.headers.contains_key("event_id"));
    }

    #[test]
    fn a_partition_limit_and_a_vanished_partition_are_respected() {
        let mut delivery = delivery(&[Some("a"), Some("a"), Some("a"), Some("a"), Some("a")]);
        let (_, plan) = delivery.plan(&[0, 1, 2]);
        let (&partition, _) = plan.iter().next().expect("planned");
        delivery.request_limit.insert(partition, 2);
        let (_, plan) = delivery.plan(&[0, 1, 2]);
        assert!(plan[&partition].iter().all(|r| r.len() <= 2), "{plan:?}");
        assert_eq!(plan[&partition].iter().map(Vec::len).sum::<usize>(), 5);
        // The partition went away (a new topic of one partition): the records move, together.
        let (_, plan) = delivery.plan(&[7]);
        assert_eq!(plan.keys().copied().collect::<Vec<_>>(), vec![7]);
        assert!(delivery.pending.iter().all(|p| p.partition == Some(7)));
    }
}
