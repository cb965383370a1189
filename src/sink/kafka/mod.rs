//! The Kafka sink: events produced as records to one topic, each leaving its queue only once
//! the partition's leader acknowledged it with `acks = all` (every in-sync replica has it).
//!
//! `cluster.rs` talks to the brokers (through `rskafka`, a pure-Rust client on our rustls),
//! `partition.rs` picks partitions as Kafka's default partitioner does, and `delivery.rs`
//! lingers, batches, produces, retries and acknowledges. This file holds the settings.

mod cluster;
mod delivery;
pub mod partition;

use std::fmt;
use std::time::Duration;

pub(super) use delivery::KafkaDelivery;

/// Default of `linger_ms`: librdkafka's `linger.ms`.
pub const DEFAULT_LINGER_MS: u64 = 5;
/// Default of `batch_bytes`: librdkafka's `batch.size`, under the brokers' default
/// `message.max.bytes` (1 MiB) so that one full batch is one accepted request.
pub const DEFAULT_BATCH_BYTES: usize = 1_000_000;
/// Default of `kafka_timeout_ms`: how long one produce request may take (Kafka's
/// `request.timeout.ms`).
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// A Kafka sink's settings (the brokers and topic are its endpoint; TLS its `tls`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// Event field path whose value is each record's key (`key`), prepared for lookups.
    pub key: Option<crate::event::FieldPath>,
    pub compression: Compression,
    /// How long the first event of a batch may wait for more (`linger_ms`).
    pub linger: Duration,
    /// Record bytes that end the wait and go out at once; also the most per produce request.
    pub batch_bytes: usize,
    /// How long one produce request may take before it counts as failed (`kafka_timeout_ms`).
    pub timeout: Duration,
    pub sasl: Option<Sasl>,
}

/// Record batch compression (`compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Lz4,
    Snappy,
    Zstd,
}

impl Compression {
    pub const NAMES: &'static str = "\"none\", \"gzip\", \"lz4\", \"snappy\" or \"zstd\"";

    pub fn parse(name: &str) -> Option<Compression> {
        Some(match name {
            "none" => Compression::None,
            "gzip" => Compression::Gzip,
            "lz4" => Compression::Lz4,
            "snappy" => Compression::Snappy,
            "zstd" => Compression::Zstd,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Lz4 => "lz4",
            Compression::Snappy => "snappy",
            Compression::Zstd => "zstd",
        }
    }

    fn to_client(self) -> rskafka::client::partition::Compression {
        use rskafka::client::partition::Compression as C;
        match self {
            Compression::None => C::NoCompression,
            Compression::Gzip => C::Gzip,
            Compression::Lz4 => C::Lz4,
            Compression::Snappy => C::Snappy,
            Compression::Zstd => C::Zstd,
        }
    }
}

/// SASL authentication (`sasl`): the password is read from a file and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Sasl {
    pub mechanism: SaslMechanism,
    pub username: String,
    password: String,
}

impl Sasl {
    pub fn new(mechanism: SaslMechanism, username: String, password: String) -> Sasl {
        Sasl { mechanism, username, password }
    }

    fn to_client(&self) -> rskafka::client::SaslConfig {
        use rskafka::client::{Credentials, SaslConfig};
        let credentials = Credentials::new(self.username.clone(), self.password.clone());
        match self.mechanism {
            SaslMechanism::Plain => SaslConfig::Plain(credentials),
            SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(credentials),
            SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(credentials),
        }
    }
}

impl fmt::Debug for Sasl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sasl")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `sasl.mechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    pub const NAMES: &'static str = "\"plain\", \"scram-sha-256\" or \"scram-sha-512\"";

    pub fn parse(name: &str) -> Option<SaslMechanism> {
        Some(match name {
            "plain" => SaslMechanism::Plain,
            "scram-sha-256" => SaslMechanism::ScramSha256,
            "scram-sha-512" => SaslMechanism::ScramSha512,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "plain",
            SaslMechanism::ScramSha256 => "scram-sha-256",
            SaslMechanism::ScramSha512 => "scram-sha-512",
        }
    }
}
