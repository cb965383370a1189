//! The TOML file's shape, exactly as operators write it. Strict: unknown keys are errors.
//!
//! These types only describe syntax and defaults; `build.rs` turns them into the validated
//! runtime configuration and is the single place that checks meaning.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Name this host reports as (syslog HOSTNAME when an event has no `host`); default: the
    /// system hostname.
    pub hostname: Option<String>,
    /// Where disk queues live, one directory per sink (default `$STATE_DIRECTORY`, else
    /// `/var/lib/siem-relay`; a temporary directory for the embedded default).
    pub data_dir: Option<PathBuf>,
    /// How long SIGTERM/SIGINT waits for queues to drain before exiting.
    #[serde(default = "defaults::shutdown_timeout_ms")]
    pub shutdown_timeout_ms: u64,
    #[serde(default)]
    pub input: InputFile,
    /// `[egress]`: what webhook sinks (and syslog sinks that opt in) may connect to.
    #[serde(default)]
    pub egress: EgressFile,
    /// `[control]`: the control API.
    #[serde(default)]
    pub control: ControlFile,
    /// `[event_types]`: known event types and what they mean (`finding_added = "..."`).
    #[serde(default)]
    pub event_types: BTreeMap<String, String>,
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkFile>,
}

/// `[control]`: the control API on a Unix socket, and an optional metrics listener.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlFile {
    /// Socket path; default next to the event socket (`control.sock` in a `siem-relay`
    /// directory, else `<event socket name>-control.sock`).
    pub socket: Option<PathBuf>,
    /// Octal permission bits of the control socket (default `"0660"`).
    pub socket_mode: Option<String>,
    /// Members of this group may change things (root and the daemon's user always may).
    pub admin_group: Option<String>,
    /// Members of this group may read status, history and metrics.
    pub viewer_group: Option<String>,
    /// Also serve `GET /metrics` over plain HTTP on this TCP address (e.g. `127.0.0.1:9464`).
    pub metrics_listen: Option<String>,
    /// Directory of run-time sinks (drop-in files) the control API manages; unset: off.
    pub sinks_dir: Option<PathBuf>,
    /// Most sinks in all that the control API lets exist (default 64).
    pub max_sinks: Option<usize>,
    /// Also serve the control API over TLS on this TCP address, for bearer tokens.
    pub listen: Option<String>,
    /// Serve the operator console (a web page) and the API on this TCP address, authorised by
    /// `tokens`: plain HTTP on a loopback address, HTTPS when `tls` is set (required for any
    /// other address).
    pub console_listen: Option<String>,
    /// The TCP listeners' certificate and key (PEM); required with `listen`.
    pub tls: Option<ControlTlsFile>,
    /// Bearer tokens for the TCP listener, stored only as SHA-256 hashes.
    #[serde(default)]
    pub tokens: Vec<TokenFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlTlsFile {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// A bearer token: the hex SHA-256 of the token, and the role it carries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFile {
    pub sha256: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// Who holds it, for the log.
    pub name: Option<String>,
}

/// `[egress]`: the SSRF guard's allow list.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressFile {
    /// CIDRs admitted even though they are in a denied range (e.g. `"10.20.0.0/16"`).
    #[serde(default)]
    pub allow: Vec<String>,
}

/// `[input]`: the Unix stream socket agents write NDJSON to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputFile {
    /// Socket path; default from `config::paths` (`/run/siem-relay/events.sock` on a systemd
    /// host, else `$XDG_RUNTIME_DIR/siem-relay.sock`, else `/tmp/siem-relay.sock`).
    pub socket: Option<PathBuf>,
    /// Octal permission bits for the socket file, as a string such as `"0660"`.
    #[serde(default = "defaults::socket_mode")]
    pub socket_mode: String,
    /// Longest accepted line in bytes, without its newline.
    #[serde(default = "defaults::max_event_bytes")]
    pub max_event_bytes: usize,
    /// Most clients connected at once; further connections are told so and closed.
    #[serde(default = "defaults::max_clients")]
    pub max_clients: usize,
    /// Close a client that sends nothing for this long; 0 keeps idle clients forever.
    #[serde(default)]
    pub idle_timeout_ms: u64,
}

impl Default for InputFile {
    fn default() -> Self {
        InputFile {
            socket: None,
            socket_mode: defaults::socket_mode(),
            max_event_bytes: defaults::max_event_bytes(),
            max_clients: defaults::max_clients(),
            idle_timeout_ms: 0,
        }
    }
}

/// `[sinks.NAME]`: one destination.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkFile {
    /// Output format: `rfc5424`, `rfc3164`, `cef`, `leef`, or a webhook body (`json`, `slack`,
    /// `teams`, `splunk_hec`). Required, except for Kafka and store sinks (default `json`).
    pub format: Option<String>,
    /// Destination: `udp://host:port`, `tcp://host:port`, `tls://host:port`, `file:///path`, or
    /// `console`.
    pub url: String,
    /// Stream framing for tcp and tls: `octet_counting` (RFC 6587 3.4.1, default) or `lf`.
    pub framing: Option<String>,
    /// Event-type globs this sink takes; default all.
    #[serde(default = "defaults::events")]
    pub events: Vec<String>,
    /// Least severe event this sink takes (name or 0-10); default all.
    pub min_severity: Option<SeverityValue>,
    /// Syslog facility, by name (`local0`, `auth`, ...) or number 0-23.
    pub facility: Option<FacilityValue>,
    /// Syslog APP-NAME (RFC 5424) or TAG (RFC 3164).
    pub app_name: Option<String>,
    /// RFC 5424 structured-data ID, in the private `name@enterprise-number` form.
    pub sd_id: Option<String>,
    /// Extra event fields carried as structured-data parameters.
    #[serde(default)]
    pub sd_fields: Vec<SdFieldValue>,
    /// RFC 5424: keep a `host` that HOSTNAME had to map in the SD parameter `original_host`
    /// (default true).
    pub sd_original_host: Option<bool>,
    /// What MSG carries: `title` (default) or `json` (the whole event).
    pub message: Option<String>,
    /// Longest message in bytes; longer ones are fitted and counted (`limits.rs` has the rule:
    /// 1024 behind an RFC 3164 header, else 2048 for udp, else no limit).
    pub max_message_bytes: Option<usize>,
    #[serde(default = "defaults::connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "defaults::backoff_initial_ms")]
    pub backoff_initial_ms: u64,
    #[serde(default = "defaults::backoff_max_ms")]
    pub backoff_max_ms: u64,
    #[serde(default)]
    pub queue: QueueFile,
    pub tls: Option<TlsFile>,
    /// CEF: `0` (default) or `1` (allows IPv6 in address fields).
    pub cef_version: Option<i64>,
    /// CEF and LEEF: Device Vendor header field.
    pub device_vendor: Option<String>,
    /// CEF and LEEF: Device Product header field.
    pub device_product: Option<String>,
    /// CEF and LEEF: Device Version header field.
    pub device_version: Option<String>,
    /// CEF: Severity as `number` (0-10, default) or `name` (Low, Medium, High, Very-High).
    pub cef_severity: Option<String>,
    /// CEF and LEEF: the syslog header in front of the record: `rfc5424` (default), `rfc3164`,
    /// `none`.
    pub syslog_header: Option<String>,
    /// CEF: extension key = event field path, or `{ field, label }` for keys with a label.
    /// LEEF: attribute key = event field path.
    pub mapping: Option<BTreeMap<String, MappingValue>>,
    /// CEF and LEEF: start from the built-in mapping of common fields (default true).
    pub default_mapping: Option<bool>,
    /// LEEF: `"2.0"` (default) or `"1.0"`.
    pub leef_version: Option<String>,
    /// LEEF 2.0: the attribute delimiter, one character or its hex form (`x5E`); default tab.
    pub leef_delimiter: Option<String>,
    /// Pull mode (`url = "store"`): how much the store keeps.
    pub retention: Option<RetentionFile>,
    /// RELP: most `syslog` commands unanswered at a time (default 128).
    pub relp_window: Option<usize>,
    /// RELP: how long the oldest message in flight may wait for its answer (default 90000).
    pub relp_timeout_ms: Option<u64>,
    /// Kafka: the event field path whose value is each record's key.
    pub key: Option<String>,
    /// Kafka: record batch compression, `none` (default), `gzip`, `lz4`, `snappy` or `zstd`.
    pub compression: Option<String>,
    /// Kafka: how long the first event of a batch waits for more (default 5 ms).
    pub linger_ms: Option<u64>,
    /// Kafka: record bytes that end the wait; also the most per produce request (default 1000000).
    pub batch_bytes: Option<usize>,
    /// Kafka: `all` (the default and the only value: an event counts as delivered once every
    /// in-sync replica has it).
    pub acks: Option<String>,
    /// Kafka: how long one produce request may take (default 30000).
    pub kafka_timeout_ms: Option<u64>,
    /// Kafka: SASL authentication.
    pub sasl: Option<SaslFile>,
    /// Syslog and CEF sinks: apply the `[egress]` policy to this sink's connections too.
    pub egress_policy: Option<bool>,
    /// Webhooks: request timeout, 1000-30000 ms (default 5000).
    pub timeout_ms: Option<u64>,
    /// Webhooks: retries after the first attempt, 0-10 (default 3).
    pub retry_count: Option<u32>,
    /// Webhooks: the longest `Retry-After` honoured (default 60000 ms).
    pub retry_after_max_ms: Option<u64>,
    /// Webhooks: deliveries in flight at once.
    pub concurrency: Option<usize>,
    /// Webhooks: requests per second and burst.
    pub rate_limit: Option<RateLimitFile>,
    /// Webhooks: consecutive failures that open the circuit breaker (default 5).
    pub failure_threshold: Option<u32>,
    /// Webhooks: first breaker cooldown (default 10000 ms), doubled per failed probe ...
    pub cooldown_ms: Option<u64>,
    /// ... up to this (default 300000 ms).
    pub cooldown_max_ms: Option<u64>,
    /// Webhooks: deactivate the sink when failures last longer than this (default 24 h).
    pub deactivate_after_ms: Option<u64>,
    /// Webhooks: attempts kept in the delivery history (default 100).
    pub history_size: Option<usize>,
    /// Webhooks: failed deliveries kept as dead letters (default 1000).
    pub dead_letter_max: Option<usize>,
    /// Webhooks: static request headers.
    pub headers: Option<BTreeMap<String, String>>,
    /// Webhooks: header carrying the event type (default `X-Event-Type`).
    pub event_header: Option<String>,
    /// Webhooks: header carrying the delivery id (default `X-Delivery-Id`).
    pub delivery_id_header: Option<String>,
    /// Webhooks: HMAC secret, inline (prefer `secret_file`).
    pub secret: Option<String>,
    /// Webhooks: file holding the HMAC secret(s), one per line.
    pub secret_file: Option<PathBuf>,
    /// Webhooks: `standard` (Standard Webhooks, default) or `hex` (`sha256=<hex>`).
    pub signature: Option<String>,
    /// Webhooks: header of `hex` signatures (default `X-Webhook-Signature`).
    pub signature_header: Option<String>,
    /// Splunk HEC: the token, inline (prefer `token_file`).
    pub token: Option<String>,
    /// Splunk HEC: file holding the token.
    pub token_file: Option<PathBuf>,
    /// Webhooks: gzip request bodies.
    pub gzip: Option<bool>,
    /// Splunk HEC: batching.
    pub batch: Option<BatchFile>,
    /// Splunk HEC: `index`, `source`, `sourcetype`.
    pub hec: Option<HecFile>,
    /// Slack and Teams: extra event fields shown, as `{ label = "path" }` or a list of paths.
    pub fields: Option<Vec<SdFieldValue>>,
}

/// `sasl = { mechanism, username, password_file }` of a Kafka sink.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaslFile {
    /// `plain`, `scram-sha-256` or `scram-sha-512`.
    pub mechanism: String,
    pub username: String,
    /// A file (owner-only) holding the password; there is no inline password.
    pub password_file: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitFile {
    pub per_second: f64,
    #[serde(default = "defaults::burst")]
    pub burst: u32,
}

/// `retention = { ... }` of a store sink: the oldest events go once any bound is passed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionFile {
    pub max_events: Option<u64>,
    pub max_bytes: Option<u64>,
    pub max_age_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchFile {
    pub max_events: Option<usize>,
    pub max_bytes: Option<usize>,
    pub max_linger_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HecFile {
    pub index: Option<String>,
    pub source: Option<String>,
    pub sourcetype: Option<String>,
}

/// A `mapping` entry: a field path, or a field with a label for custom keys (`cs1`...).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum MappingValue {
    Path(String),
    Labeled(LabeledField),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabeledField {
    pub field: String,
    pub label: Option<String>,
}

/// `queue = { ... }`: the sink's bounded buffer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueFile {
    /// `memory` (default) or `disk` (default for `url = "store"` sinks).
    pub kind: Option<String>,
    #[serde(default = "defaults::max_events")]
    pub max_events: usize,
    #[serde(default = "defaults::max_bytes")]
    pub max_bytes: usize,
    /// Default `block`; `drop_oldest` for chat notifications (`slack`, `teams`), which must
    /// never hold up the SIEM sinks.
    pub when_full: Option<String>,
    /// Disk queues: `batch` (fsync per group of writes, default) or an interval like `100ms`.
    pub sync: Option<String>,
}

impl Default for QueueFile {
    fn default() -> Self {
        QueueFile {
            kind: None,
            max_events: defaults::max_events(),
            max_bytes: defaults::max_bytes(),
            when_full: None,
            sync: None,
        }
    }
}

/// `tls = { ... }` on a `tls://` sink.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// PEM bundle of CAs to trust instead of the system store.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain, for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub key_file: Option<PathBuf>,
    /// Name to verify the server certificate against (and send as SNI) instead of the URL host.
    pub server_name: Option<String>,
    #[serde(default = "defaults::yes")]
    pub verify_hostname: bool,
    /// SHA-256 fingerprint(s) of the server's leaf certificate, hex (colons allowed).
    pub pin_sha256: Option<OneOrMany>,
    #[serde(default = "defaults::handshake_timeout_ms")]
    pub handshake_timeout_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SeverityValue {
    Name(String),
    Score(i64),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum FacilityValue {
    Name(String),
    Number(i64),
}

/// An `sd_fields` entry: a field path (its last segment names the parameter), or a table naming
/// the parameter explicitly.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SdFieldValue {
    Path(String),
    Named(NamedField),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedField {
    pub name: String,
    pub field: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

/// Named defaults, so the README and the code agree on one value each.
pub mod defaults {
    pub const SHUTDOWN_TIMEOUT_MS: u64 = 10_000;
    pub const MAX_EVENT_BYTES: usize = 64 * 1024;
    pub const MAX_CLIENTS: usize = 256;
    pub const CONNECT_TIMEOUT_MS: u64 = 5_000;
    pub const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
    pub const BACKOFF_INITIAL_MS: u64 = 500;
    pub const BACKOFF_MAX_MS: u64 = 30_000;
    pub const MAX_EVENTS: usize = 10_000;
    pub const MAX_BYTES: usize = 8 * 1024 * 1024;

    pub fn shutdown_timeout_ms() -> u64 {
        SHUTDOWN_TIMEOUT_MS
    }
    pub fn socket_mode() -> String {
        "0660".to_owned()
    }
    pub fn max_event_bytes() -> usize {
        MAX_EVENT_BYTES
    }
    pub fn max_clients() -> usize {
        MAX_CLIENTS
    }
    pub fn events() -> Vec<String> {
        vec!["*".to_owned()]
    }
    pub fn connect_timeout_ms() -> u64 {
        CONNECT_TIMEOUT_MS
    }
    pub fn handshake_timeout_ms() -> u64 {
        HANDSHAKE_TIMEOUT_MS
    }
    pub fn backoff_initial_ms() -> u64 {
        BACKOFF_INITIAL_MS
    }
    pub fn backoff_max_ms() -> u64 {
        BACKOFF_MAX_MS
    }
    pub fn max_events() -> usize {
        MAX_EVENTS
    }
    pub fn max_bytes() -> usize {
        MAX_BYTES
    }
    pub fn yes() -> bool {
        true
    }
    pub fn burst() -> u32 {
        1
    }
}
