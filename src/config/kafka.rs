//! The keys of a Kafka sink (`url = "kafka://..."`): record key, compression, linger, batch
//! size, acks, produce timeout and SASL, checked into [`KafkaSettings`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::build::{read_private_text, Context};
use super::file::SaslFile;
use super::ConfigError;
use crate::sink::kafka::{
    Compression, KafkaSettings, Sasl, SaslMechanism, DEFAULT_BATCH_BYTES, DEFAULT_LINGER_MS, DEFAULT_TIMEOUT_MS,
};
use crate::transport::Endpoint;

/// The Kafka keys of one `[sinks.NAME]` table.
pub(super) struct KafkaKeys {
    pub key: Option<String>,
    pub compression: Option<String>,
    pub linger_ms: Option<u64>,
    pub batch_bytes: Option<usize>,
    pub acks: Option<String>,
    pub kafka_timeout_ms: Option<u64>,
    pub sasl: Option<SaslFile>,
}

impl KafkaKeys {
    /// The names of the keys that are set, for the error on a sink that is not Kafka.
    fn set_keys(&self) -> Vec<&'static str> {
        let KafkaKeys { key, compression, linger_ms, batch_bytes, acks, kafka_timeout_ms, sasl } = self;
        [
            ("key", key.is_some()),
            ("compression", compression.is_some()),
            ("linger_ms", linger_ms.is_some()),
            ("batch_bytes", batch_bytes.is_some()),
            ("acks", acks.is_some()),
            ("kafka_timeout_ms", kafka_timeout_ms.is_some()),
            ("sasl", sasl.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }

    /// The file this sink reads besides the config (a change in it changes the sink).
    pub(super) fn password_file(&self) -> Option<PathBuf> {
        self.sasl.as_ref().map(|sasl| sasl.password_file.clone())
    }
}

/// Most `linger_ms`: longer would hold events back for no gain in batching.
const MAX_LINGER_MS: u64 = 60_000;
/// `batch_bytes` bounds: at least one typical event; at most what brokers can be set to take.
const MIN_BATCH_BYTES: usize = 1024;
const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;

pub(super) fn build_kafka(
    cx: &Context<'_>,
    sink: &str,
    endpoint: &Endpoint,
    keys: KafkaKeys,
) -> Result<Option<Arc<KafkaSettings>>, ConfigError> {
    let key_of = |field: &str| format!("sinks.{sink}.{field}");
    if !matches!(endpoint, Endpoint::Kafka(_)) {
        return match keys.set_keys().first() {
            Some(field) => Err(cx.error(
                key_of(field),
                format!("applies to kafka:// and kafkas:// sinks only, not {}", endpoint.kind()),
            )),
            None => Ok(None),
        };
    }
    let KafkaKeys { key, compression, linger_ms, batch_bytes, acks, kafka_timeout_ms, sasl } = keys;
    if let Some(path) = &key {
        super::encoder::check_path(cx, &key_of("key"), path)?;
    }
    let compression = match compression.as_deref() {
        None => Compression::None,
        Some(name) => Compression::parse(name).ok_or_else(|| {
            cx.error(key_of("compression"), format!("expected {}, found {name:?}", Compression::NAMES))
        })?,
    };
    let linger_ms = linger_ms.unwrap_or(DEFAULT_LINGER_MS);
    if linger_ms > MAX_LINGER_MS {
        return Err(cx.error(key_of("linger_ms"), format!("expected 0 to {MAX_LINGER_MS}, found {linger_ms}")));
    }
    let batch_bytes = batch_bytes.unwrap_or(DEFAULT_BATCH_BYTES);
    if !(MIN_BATCH_BYTES..=MAX_BATCH_BYTES).contains(&batch_bytes) {
        return Err(cx.error(
            key_of("batch_bytes"),
            format!("expected {MIN_BATCH_BYTES} to {MAX_BATCH_BYTES}, found {batch_bytes}"),
        ));
    }
    match acks.as_deref() {
        None | Some("all") => {}
        Some(other) => {
            return Err(cx.error(
                key_of("acks"),
                format!(
                    "expected \"all\", found {other:?}: an event leaves its queue only once every in-sync replica \
                     has it, so weaker acknowledgements are not offered"
                ),
            ))
        }
    }
    let timeout_ms = kafka_timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(100..=300_000).contains(&timeout_ms) {
        return Err(cx.error(key_of("kafka_timeout_ms"), format!("expected 100 to 300000, found {timeout_ms}")));
    }
    let sasl = match sasl {
        None => None,
        Some(SaslFile { mechanism, username, password_file }) => {
            let mechanism = SaslMechanism::parse(&mechanism).ok_or_else(|| {
                cx.error(key_of("sasl.mechanism"), format!("expected {}, found {mechanism:?}", SaslMechanism::NAMES))
            })?;
            if username.is_empty() {
                return Err(cx.error(key_of("sasl.username"), "expected a user name, found an empty one"));
            }
            let password = read_private_text(cx, &key_of("sasl.password_file"), &password_file)?;
            if password.is_empty() {
                return Err(cx.error(
                    key_of("sasl.password_file"),
                    format!("{} holds no password", cx.path(password_file).display()),
                ));
            }
            Some(Sasl::new(mechanism, username, password))
        }
    };
    Ok(Some(Arc::new(KafkaSettings {
        key: key.as_deref().map(crate::event::FieldPath::new),
        compression,
        linger: Duration::from_millis(linger_ms),
        batch_bytes,
        timeout: Duration::from_millis(timeout_ms),
        sasl,
    })))
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};
    use crate::sink::kafka::{Compression, SaslMechanism};

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        Config::parse(&format!("[sinks.k]\nurl = \"kafka://127.0.0.1:9092/events\"\n{extra}\n"), "test.toml")
    }

    #[test]
    fn defaults_are_json_acks_all_and_librdkafka_batching() {
        let config = parse("").expect("valid");
        let sink = &config.sinks[0];
        assert_eq!(sink.encoder.name(), "json");
        assert!(sink.framing.is_none(), "a record is a whole message: no framing");
        let kafka = sink.kafka.as_ref().expect("kafka settings");
        assert_eq!(kafka.compression, Compression::None);
        assert_eq!(kafka.linger.as_millis(), 5);
        assert_eq!(kafka.batch_bytes, 1_000_000);
        assert_eq!(kafka.timeout.as_millis(), 30_000);
        assert!(kafka.key.is_none() && kafka.sasl.is_none());
        assert!(sink.tls.is_none());
    }

    #[test]
    fn every_key_is_read() {
        let config = parse(
            "format = \"cef\"\nkey = \"host\"\ncompression = \"zstd\"\nlinger_ms = 0\nbatch_bytes = 65536\n\
             acks = \"all\"\nkafka_timeout_ms = 5000",
        )
        .expect("valid");
        let kafka = config.sinks[0].kafka.as_ref().expect("kafka settings");
        assert_eq!(kafka.key.as_deref(), Some("host"));
        assert_eq!(kafka.compression, Compression::Zstd);
        assert_eq!((kafka.linger.as_millis(), kafka.batch_bytes, kafka.timeout.as_millis()), (0, 65536, 5000));
        assert_eq!(config.sinks[0].encoder.name(), "cef");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (extra, key, reason) in [
            ("compression = \"brotli\"", "compression", "\"none\", \"gzip\""),
            ("linger_ms = 60001", "linger_ms", "expected 0 to 60000"),
            ("batch_bytes = 10", "batch_bytes", "expected 1024 to"),
            ("acks = \"1\"", "acks", "expected \"all\""),
            ("kafka_timeout_ms = 50", "kafka_timeout_ms", "expected 100 to 300000"),
            ("key = \"a..b\"", "key", "field path"),
            (
                "sasl = { mechanism = \"gssapi\", username = \"u\", password_file = \"/nonexistent\" }",
                "sasl.mechanism",
                "scram-sha-256",
            ),
            (
                "sasl = { mechanism = \"plain\", username = \"u\", password_file = \"/nonexistent/pw\" }",
                "sasl.password_file",
                "cannot read /nonexistent/pw",
            ),
            (
                "sasl = { mechanism = \"plain\", username = \"u\", password = \"inline\" }",
                "",
                "unknown field `password`",
            ),
            ("tls = { ca_file = \"/x.pem\" }", "tls", "kafkas://"),
            ("egress_policy = true", "egress_policy", "cannot check the brokers"),
            ("relp_window = 4", "relp_window", "relp:// sinks only"),
        ] {
            let error = parse(extra).expect_err(extra);
            if !key.is_empty() {
                assert_eq!(error.key, format!("sinks.k.{key}"), "{extra}");
            }
            assert!(error.to_string().contains(reason), "{extra}: {error}");
        }
    }

    #[test]
    fn kafka_keys_on_other_sinks_and_tls_names_are_refused() {
        let error = Config::parse("[sinks.s]\nformat = \"rfc5424\"\nurl = \"tcp://h:514\"\nlinger_ms = 5\n", "t.toml")
            .expect_err("linger_ms on tcp");
        assert_eq!(error.key, "sinks.s.linger_ms");
        assert!(error.message.contains("kafka:// and kafkas:// sinks only"), "{error}");
        let error = Config::parse("[sinks.s]\nurl = \"tcp://h:514\"\n", "t.toml").expect_err("no format");
        assert_eq!(error.key, "sinks.s.format");
        let error =
            Config::parse("[sinks.k]\nurl = \"kafkas://h:9093/t\"\ntls = { server_name = \"other\" }\n", "t.toml")
                .expect_err("server_name");
        assert_eq!(error.key, "sinks.k.tls.server_name");
        let config =
            Config::parse("[sinks.k]\nurl = \"kafkas://h:9093/t\"\n", "t.toml").expect("kafkas without tls table");
        assert!(config.sinks[0].tls.is_some(), "kafkas:// always has TLS");
    }

    #[test]
    fn the_password_comes_from_an_owner_only_file_and_is_never_printed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kafka.password");
        crate::private_file::write_atomic(&path, b"s3cret-pass\n").expect("write");
        let config = parse(&format!(
            "sasl = {{ mechanism = \"scram-sha-512\", username = \"relay\", password_file = \"{}\" }}",
            path.display()
        ))
        .expect("valid");
        let sasl = config.sinks[0].kafka.as_ref().and_then(|k| k.sasl.as_ref()).expect("sasl");
        assert_eq!(sasl.mechanism, SaslMechanism::ScramSha512);
        let debug = format!("{:?}", config.sinks[0]);
        assert!(!debug.contains("s3cret"), "the password shows in Debug output");
        std::fs::write(&path, "s3cret-pass\n").expect("rewrite");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod");
        let error = parse(&format!(
            "sasl = {{ mechanism = \"plain\", username = \"relay\", password_file = \"{}\" }}",
            path.display()
        ))
        .expect_err("world-readable");
        assert_eq!(error.key, "sinks.k.sasl.password_file");
        assert!(!error.to_string().contains("s3cret"));
    }
}
