//! `siem-relay check --print`: the configuration as the daemon will run it, as TOML.
//!
//! The operator's own keys (and the drop-ins of `control.sinks_dir`) are the base, so nothing
//! they wrote disappears; the values the daemon resolved from defaults are laid over them
//! (socket paths, queue sizes, timeouts, size limits, the webhook delivery settings), so the
//! output answers "what will it actually do". Secrets are replaced, never printed: webhook
//! secrets and HEC tokens, header values (they may carry credentials), token hashes, and the
//! paths and queries of webhook URLs (Slack and Teams put their credential there). Without
//! secrets, the output is itself a configuration that means the same (a test keeps it so).

use std::path::Path;

use toml::{Table, Value};

use super::{Config, QueueKind, SinkConfig};
use crate::queue::WhenFull;
use crate::transport::{Endpoint, Framing};

/// What a secret is printed as.
pub const REDACTED: &str = "<redacted>";

/// Sink keys whose values are secrets.
const SECRET_SINK_KEYS: [&str; 2] = ["secret", "token"];

/// Renders `config`, read from the configuration text `text` (already merged with its
/// drop-ins), as TOML.
pub fn render(config: &Config, text: &str) -> String {
    // The text parsed once already (the config was built from it); an empty base is only a
    // fallback that still prints every resolved value.
    let mut root: Table = toml::from_str(text).unwrap_or_default();
    redact(&mut root);
    resolve_globals(config, &mut root);
    let sinks = table(&mut root, "sinks");
    for sink in &config.sinks {
        resolve_sink(sink, table(sinks, &sink.name));
    }
    let mut out = String::from("# The effective configuration: defaults filled in, secrets shown as \"<redacted>\".\n");
    out.push_str(&toml::to_string(&root).unwrap_or_else(|error| format!("# cannot render: {error}\n")));
    out
}

/// Replaces every secret in the operator's keys.
fn redact(root: &mut Table) {
    if let Some(Value::Array(tokens)) = root.get_mut("control").and_then(|c| c.get_mut("tokens")) {
        for token in tokens.iter_mut().filter_map(Value::as_table_mut) {
            if token.contains_key("sha256") {
                token.insert("sha256".into(), REDACTED.into());
            }
        }
    }
    let Some(Value::Table(sinks)) = root.get_mut("sinks") else { return };
    for (_, sink) in sinks.iter_mut() {
        if let Some(sink) = sink.as_table_mut() {
            redact_sink(sink, REDACTED);
        }
    }
}

/// Replaces the secrets among one sink's keys with `shown`: the webhook secret, the HEC token
/// and every header value (headers may carry credentials). The one list of secret sink keys,
/// for `check --print` and the control API alike.
pub fn redact_sink(sink: &mut Table, shown: &str) {
    for key in SECRET_SINK_KEYS {
        if sink.contains_key(key) {
            sink.insert(key.into(), shown.into());
        }
    }
    if let Some(Value::Table(headers)) = sink.get_mut("headers") {
        for (_, value) in headers.iter_mut() {
            *value = shown.into();
        }
    }
}

fn resolve_globals(config: &Config, root: &mut Table) {
    root.insert("hostname".into(), config.hostname.clone().into());
    root.insert("shutdown_timeout_ms".into(), millis(config.shutdown_timeout));
    let input = table(root, "input");
    input.insert("socket".into(), path(&config.input.socket));
    input.insert("socket_mode".into(), format!("{:04o}", config.input.socket_mode).into());
    input.insert("max_event_bytes".into(), count(config.input.max_event_bytes));
    input.insert("max_clients".into(), count(config.input.max_clients));
    input.insert("idle_timeout_ms".into(), config.input.idle_timeout.map_or(Value::Integer(0), millis));
    let control = table(root, "control");
    control.insert("socket".into(), path(&config.control.socket));
    control.insert("socket_mode".into(), format!("{:04o}", config.control.socket_mode).into());
    control.insert("max_sinks".into(), count(config.control.max_sinks));
    if let Some(dir) = &config.control.sinks_dir {
        control.insert("sinks_dir".into(), path(dir));
    }
}

fn resolve_sink(sink: &SinkConfig, keys: &mut Table) {
    keys.insert("format".into(), sink.encoder.name().into());
    if let Endpoint::Http(_) = sink.endpoint {
        // The URL's path and query may be the credential (Slack, Teams): scheme and host only.
        keys.insert("url".into(), sink.endpoint.to_string().into());
    }
    keys.entry("events").or_insert_with(|| Value::Array(vec!["*".into()]));
    // Files and the console always write lines; only streams take the key.
    if let (Some(framing), Endpoint::Tcp(_) | Endpoint::Tls(_)) = (sink.framing, &sink.endpoint) {
        let name = match framing {
            Framing::OctetCounting => "octet_counting",
            Framing::Lf => "lf",
        };
        keys.insert("framing".into(), name.into());
    }
    if let Some(limit) = sink.encoder.max_message_bytes() {
        keys.insert("max_message_bytes".into(), count(limit));
    }
    keys.insert("connect_timeout_ms".into(), millis(sink.connect_timeout));
    keys.insert("backoff_initial_ms".into(), millis(sink.backoff_initial));
    keys.insert("backoff_max_ms".into(), millis(sink.backoff_max));
    let queue = table(keys, "queue");
    queue.insert("max_events".into(), count(sink.limits.max_events));
    queue.insert("max_bytes".into(), count(sink.limits.max_bytes));
    let when_full = match sink.when_full {
        WhenFull::Block => "block",
        WhenFull::DropNewest => "drop_newest",
        WhenFull::DropOldest => "drop_oldest",
    };
    queue.insert("when_full".into(), when_full.into());
    // Where a disk queue lives (`data_dir`/NAME) is printed by `check` beside its state.
    let kind = match sink.queue_kind {
        QueueKind::Memory => "memory",
        QueueKind::Disk { .. } => "disk",
    };
    queue.insert("kind".into(), kind.into());
    if let Some(store) = &sink.store {
        let retention = table(keys, "retention");
        retention
            .insert("max_events".into(), Value::Integer(i64::try_from(store.retention.max_events).unwrap_or(i64::MAX)));
        retention
            .insert("max_bytes".into(), Value::Integer(i64::try_from(store.retention.max_bytes).unwrap_or(i64::MAX)));
        retention.insert("max_age_ms".into(), millis(store.retention.max_age));
    }
    if let Some(relp) = &sink.relp {
        keys.insert("relp_window".into(), count(relp.window));
        keys.insert("relp_timeout_ms".into(), millis(relp.answer_timeout));
    }
    if let Some(kafka) = &sink.kafka {
        keys.insert("compression".into(), kafka.compression.name().into());
        keys.insert("linger_ms".into(), millis(kafka.linger));
        keys.insert("batch_bytes".into(), count(kafka.batch_bytes));
        keys.insert("acks".into(), "all".into());
        keys.insert("kafka_timeout_ms".into(), millis(kafka.timeout));
    }
    if let Some(http) = &sink.http {
        keys.insert("timeout_ms".into(), millis(http.timeout));
        keys.insert("retry_count".into(), Value::Integer(i64::from(http.retry_count)));
        keys.insert("retry_after_max_ms".into(), millis(http.retry_after_max));
        keys.insert("concurrency".into(), count(http.concurrency));
        keys.insert("failure_threshold".into(), Value::Integer(i64::from(http.breaker.failure_threshold)));
        keys.insert("cooldown_ms".into(), millis(http.breaker.cooldown));
        keys.insert("cooldown_max_ms".into(), millis(http.breaker.cooldown_max));
        keys.insert("deactivate_after_ms".into(), millis(http.breaker.deactivate_after));
        keys.insert("history_size".into(), count(http.history_size));
        keys.insert("dead_letter_max".into(), count(http.dead_letter_max));
        keys.insert("gzip".into(), http.gzip.into());
        if let Some((per_second, burst)) = http.rate_limit {
            let rate = table(keys, "rate_limit");
            rate.insert("per_second".into(), per_second.into());
            rate.insert("burst".into(), Value::Integer(i64::from(burst)));
        }
        if let Some(batching) = &http.batching {
            let batch = table(keys, "batch");
            batch.insert("max_events".into(), count(batching.max_events));
            batch.insert("max_bytes".into(), count(batching.max_bytes));
            batch.insert("max_linger_ms".into(), millis(batching.max_linger));
        }
    }
}

/// The table under `key`, created if missing (or replacing a non-table, which the config's
/// own parse would have refused).
fn table<'a>(parent: &'a mut Table, key: &str) -> &'a mut Table {
    let slot = parent.entry(key).or_insert_with(|| Value::Table(Table::new()));
    if !slot.is_table() {
        *slot = Value::Table(Table::new());
    }
    match slot {
        Value::Table(table) => table,
        _ => unreachable!("made a table just above"),
    }
}

fn millis(duration: std::time::Duration) -> Value {
    Value::Integer(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
}

fn count(n: usize) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

fn path(path: &Path) -> Value {
    path.display().to_string().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
[sinks.hook]
format = "json"
url = "https://hooks.example.net/services/T000/B000/XXXXSECRETPATH?sig=abc"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
headers = { Authorization = "Bearer hunter2" }

[sinks.siem]
format = "rfc3164"
url = "udp://127.0.0.1:514"
"#;

    fn rendered() -> String {
        let config = Config::parse(TEXT, "test.toml").expect("valid");
        render(&config, TEXT)
    }

    #[test]
    fn secrets_never_print() {
        let out = rendered();
        for secret in ["MfKQ9r8", "hunter2", "XXXXSECRETPATH", "sig=abc"] {
            assert!(!out.contains(secret), "{secret} printed:\n{out}");
        }
        assert!(out.contains(REDACTED), "{out}");
    }

    #[test]
    fn token_hashes_are_redacted() {
        let mut root: Table = toml::from_str(
            r#"control = { tokens = [{ sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", role = "admin" }] }"#,
        )
        .expect("TOML");
        redact(&mut root);
        assert_eq!(root["control"]["tokens"][0]["sha256"].as_str(), Some(REDACTED));
        assert_eq!(root["control"]["tokens"][0]["role"].as_str(), Some("admin"));
    }

    #[test]
    fn defaults_are_filled_in_and_the_output_is_valid_toml() {
        let out = rendered();
        let table: Table = toml::from_str(&out).expect("valid TOML");
        let siem = &table["sinks"]["siem"];
        assert_eq!(siem["max_message_bytes"].as_integer(), Some(1024), "RFC 3164's limit:\n{out}");
        assert_eq!(siem["queue"]["when_full"].as_str(), Some("block"));
        assert_eq!(siem["queue"]["max_events"].as_integer(), Some(10_000));
        let hook = &table["sinks"]["hook"];
        assert_eq!(hook["retry_count"].as_integer(), Some(3));
        assert_eq!(hook["timeout_ms"].as_integer(), Some(5000));
        assert_eq!(hook["url"].as_str(), Some("https://hooks.example.net/…"));
        assert_eq!(table["input"]["max_event_bytes"].as_integer(), Some(65_536));
    }
}
