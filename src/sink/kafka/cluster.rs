//! A sink's connection to its Kafka cluster: bootstrap, the topic's partitions, a client per
//! partition leader, and produce requests with their failures sorted into "too large" (the
//! request can never succeed as it is) and everything else (retried).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::client::partition::{PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use rskafka::BackoffConfig;

use super::{Compression, Sasl};
use crate::sink::stats::SinkStats;
use crate::transport::tls::TlsClient;
use crate::transport::KafkaTarget;

/// Sent as `client.id`, which brokers log and quota by.
const CLIENT_ID: &str = "siem-relay";

/// What connecting needs.
pub(super) struct ConnectSettings<'a> {
    pub target: &'a KafkaTarget,
    pub tls: Option<&'a TlsClient>,
    pub sasl: Option<&'a Sasl>,
    pub connect_timeout: Duration,
}

/// A connected cluster, for one topic.
pub(super) struct Cluster {
    client: Client,
    topic: String,
    /// The topic's partition ids, ascending.
    partitions: Vec<i32>,
    /// Clients of the partitions' leaders, made on first use (each asks for its leader).
    leaders: HashMap<i32, Arc<PartitionClient>>,
}

/// Why a produce request failed.
#[derive(Debug)]
pub(super) enum ProduceError {
    /// The broker refused the request for its size (`MESSAGE_TOO_LARGE`,
    /// `RECORD_LIST_TOO_LARGE`): sent again as it is, it fails again.
    TooLarge(String),
    /// Anything else (broker down, leader moving, timeout, not authorised): worth retrying.
    Failed(String),
}

/// One partition's share of a flush: its requests, produced one after another so that the
/// partition keeps their order.
pub(super) struct PartitionWork {
    pub partition: i32,
    pub requests: Vec<Vec<Record>>,
}

/// How a partition's share went: how many requests (from the first) the leader acknowledged,
/// and what stopped the rest, if anything.
pub(super) struct PartitionOutcome {
    pub partition: i32,
    pub acknowledged: usize,
    pub error: Option<ProduceError>,
    /// Whether the request that failed was sent (the broker may have written it), rather than
    /// stopped before it left (no leader found).
    pub request_sent: bool,
}

impl Cluster {
    /// Bootstraps from the sink's brokers and looks the topic up; a topic the cluster does not
    /// have is an error (the sink never creates topics, and a metadata request for all topics
    /// does not make a broker create one).
    pub(super) async fn connect(settings: ConnectSettings<'_>) -> Result<Cluster, String> {
        let ConnectSettings { target, tls, sasl, connect_timeout } = settings;
        let brokers = target.brokers.iter().map(ToString::to_string).collect();
        // The client's own retries end at the connect timeout, so that failures reach the
        // worker (its backoff, counters and `last_error`) instead of being retried unseen.
        let backoff = BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
            deadline: Some(connect_timeout),
        };
        let mut builder = ClientBuilder::new(brokers).client_id(CLIENT_ID).backoff_config(backoff);
        if let Some(tls) = tls {
            builder = builder.tls_config(tls.config.clone());
        }
        if let Some(sasl) = sasl {
            builder = builder.sasl_config(sasl.to_client());
        }
        // One attempt may hang (a broker that accepts and never answers): bounded here.
        let limit = connect_timeout + Duration::from_secs(1);
        let client = tokio::time::timeout(limit, builder.build())
            .await
            .map_err(|_| format!("no answer from the brokers within {limit:?}"))?
            .map_err(|error| describe(&error))?;
        let topics = tokio::time::timeout(limit, client.list_topics())
            .await
            .map_err(|_| format!("no metadata from the brokers within {limit:?}"))?
            .map_err(|error| format!("cannot read the cluster's metadata: {}", describe(&error)))?;
        let partitions: Vec<i32> = match topics.into_iter().find(|topic| topic.name == target.topic) {
            Some(topic) => topic.partitions.into_iter().collect(),
            None => return Err(format!("topic {:?} does not exist on the cluster", target.topic)),
        };
        if partitions.is_empty() {
            return Err(format!("topic {:?} has no partitions", target.topic));
        }
        Ok(Cluster { client, topic: target.topic.clone(), partitions, leaders: HashMap::new() })
    }

    /// The topic's partition ids, ascending.
    pub(super) fn partitions(&self) -> &[i32] {
        &self.partitions
    }

    /// Produces each partition's requests, the partitions in parallel; returns one outcome
    /// per partition. Leaders are found first (sequentially, only where not yet known).
    pub(super) async fn produce(
        &mut self,
        work: Vec<PartitionWork>,
        compression: Compression,
        timeout: Duration,
        stats: &Arc<SinkStats>,
    ) -> Vec<PartitionOutcome> {
        let mut outcomes = Vec::with_capacity(work.len());
        let mut tasks = tokio::task::JoinSet::new();
        for PartitionWork { partition, requests } in work {
            let leader = match self.leader(partition, timeout).await {
                Ok(leader) => leader,
                Err(error) => {
                    outcomes.push(PartitionOutcome {
                        partition,
                        acknowledged: 0,
                        error: Some(error),
                        request_sent: false,
                    });
                    continue;
                }
            };
            let stats = stats.clone();
            tasks.spawn(async move {
                let mut acknowledged = 0;
                for records in requests {
                    let started = Instant::now();
                    let result = tokio::time::timeout(timeout, leader.produce(records, compression.to_client())).await;
                    match result {
                        Ok(Ok(_offsets)) => {
                            stats.latency.observe(started.elapsed());
                            acknowledged += 1;
                        }
                        Ok(Err(error)) => {
                            let error = Some(classify(&error));
                            return PartitionOutcome { partition, acknowledged, error, request_sent: true };
                        }
                        Err(_) => {
                            let error = Some(ProduceError::Failed(format!("no acknowledgement within {timeout:?}")));
                            return PartitionOutcome { partition, acknowledged, error, request_sent: true };
                        }
                    }
                }
                PartitionOutcome { partition, acknowledged, error: None, request_sent: false }
            });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(outcome) => outcomes.push(outcome),
                // A produce task cannot panic on its own; should one, its partition's records
                // stay unacknowledged and are produced again.
                Err(error) => tracing::error!("kafka produce task failed: {error}"),
            }
        }
        for outcome in &outcomes {
            if outcome.error.is_some() {
                // A failed leader is looked up afresh next time.
                self.leaders.remove(&outcome.partition);
            }
        }
        outcomes
    }

    async fn leader(&mut self, partition: i32, timeout: Duration) -> Result<Arc<PartitionClient>, ProduceError> {
        if let Some(leader) = self.leaders.get(&partition) {
            return Ok(leader.clone());
        }
        let found = self.client.partition_client(self.topic.clone(), partition, UnknownTopicHandling::Error);
        let leader = match tokio::time::timeout(timeout, found).await {
            Ok(Ok(leader)) => Arc::new(leader),
            Ok(Err(error)) => {
                return Err(ProduceError::Failed(format!(
                    "cannot find the leader of partition {partition}: {}",
                    describe(&error)
                )))
            }
            Err(_) => {
                return Err(ProduceError::Failed(format!("no leader for partition {partition} within {timeout:?}")))
            }
        };
        self.leaders.insert(partition, leader.clone());
        Ok(leader)
    }
}

fn classify(error: &ClientError) -> ProduceError {
    match error {
        ClientError::ServerError {
            protocol_error: ProtocolError::MessageTooLarge | ProtocolError::RecordListTooLarge,
            ..
        } => ProduceError::TooLarge(describe(error)),
        _ => ProduceError::Failed(describe(error)),
    }
}

/// A client error in one line, for logs and `last_error`: a broker's refusal by its Kafka
/// error name and message (the client's own text adds the whole request and response).
fn describe(error: &ClientError) -> String {
    match error {
        ClientError::ServerError { protocol_error, error_message, .. } => match error_message {
            Some(message) if !message.is_empty() => format!("the broker answered {protocol_error}: {message}"),
            _ => format!("the broker answered {protocol_error}"),
        },
        other => other.to_string(),
    }
}

impl std::fmt::Display for ProduceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProduceError::TooLarge(text) | ProduceError::Failed(text) => f.write_str(text),
        }
    }
}
