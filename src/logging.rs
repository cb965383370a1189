//! The log filter, from `SIEM_RELAY_LOG`: a level (with the syslog spellings operators use:
//! `warning`, `err`, `notice`, `crit`, ...) or a tracing filter such as `siem_relay=debug`.
//! Anything else is refused loudly: a tracing filter reads an unknown word as a target name,
//! which silently turns every log line off.

use tracing_subscriber::EnvFilter;

/// The environment variable that sets the filter.
pub const VARIABLE: &str = "SIEM_RELAY_LOG";

/// The filter `value` asks for; `info` when unset or empty.
pub fn filter(value: Option<&str>) -> Result<EnvFilter, String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty()).unwrap_or("info");
    let directives: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|directive| match directive.split_once('=') {
            Some((target, level)) => level_name(level).map(|level| format!("{target}={level}")),
            None => level_name(directive).map(str::to_owned),
        })
        .collect::<Result<_, _>>()
        .map_err(|word| {
            format!(
                "{VARIABLE}={value:?}: unknown level {word:?}: expected error, warn, info, debug, trace or off \
                 (or the syslog names emerg, alert, crit, err, warning, notice), or a filter such as siem_relay=debug"
            )
        })?;
    let mut directives = directives;
    // The Kafka client logs each connection and leader lookup at `info`; the sink logs what
    // matters (failures, with their reasons) itself. Its chatter shows only when asked for by
    // name (`info,rskafka=info`).
    let chatty = directives.iter().any(|d| matches!(d.as_str(), "info" | "debug" | "trace"));
    if chatty && !value.contains("rskafka") {
        directives.push("rskafka=warn".to_owned());
    }
    EnvFilter::try_new(directives.join(",")).map_err(|e| format!("{VARIABLE}={value:?}: {e}"))
}

/// The tracing level for a level name, syslog spellings included (syslog's levels above
/// `err` have no tracing equivalent: they mean `error`).
fn level_name(word: &str) -> Result<&'static str, String> {
    Ok(match word.trim().to_ascii_lowercase().as_str() {
        "off" | "none" => "off",
        "emerg" | "emergency" | "alert" | "crit" | "critical" | "err" | "error" => "error",
        "warn" | "warning" => "warn",
        "notice" | "info" | "informational" => "info",
        "debug" => "debug",
        "trace" => "trace",
        _ => return Err(word.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Log lines written under `filter` when one event of each level is emitted.
    fn emitted(value: &str) -> String {
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter(Some(value)).expect("valid filter"))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!("E-line");
            tracing::warn!("W-line");
            tracing::info!("I-line");
            tracing::debug!("D-line");
        });
        let bytes = buffer.0.lock().expect("lock").clone();
        String::from_utf8(bytes).expect("utf8")
    }

    #[test]
    fn syslog_spellings_set_the_matching_level() {
        for (value, shown, hidden) in [
            ("warning", &["E-line", "W-line"][..], &["I-line"][..]),
            ("WARN", &["E-line", "W-line"], &["I-line"]),
            ("err", &["E-line"], &["W-line"]),
            ("crit", &["E-line"], &["W-line"]),
            ("notice", &["E-line", "W-line", "I-line"], &["D-line"]),
            ("siem_relay=warning", &["E-line", "W-line"], &["I-line"]),
            ("debug", &["E-line", "D-line"], &[]),
        ] {
            let out = emitted(value);
            for line in shown {
                assert!(out.contains(line), "{value}: {line} missing from {out}");
            }
            for line in hidden {
                assert!(!out.contains(line), "{value}: {line} shown in {out}");
            }
        }
    }

    #[test]
    fn the_kafka_clients_info_lines_show_only_when_named() {
        let quiet = filter(Some("info")).expect("valid").to_string();
        assert!(quiet.contains("rskafka=warn"), "{quiet}");
        let asked = filter(Some("info,rskafka=debug")).expect("valid").to_string();
        assert!(asked.contains("rskafka=debug") && !asked.contains("rskafka=warn"), "{asked}");
        let strict = filter(Some("error")).expect("valid").to_string();
        assert!(!strict.contains("rskafka"), "a stricter level is not loosened for the client: {strict}");
    }

    #[test]
    fn unknown_levels_are_refused_naming_the_variable_and_the_choices() {
        for value in ["verbose", "warnings", "siem_relay=loud"] {
            let error = filter(Some(value)).expect_err(value);
            assert!(error.contains("SIEM_RELAY_LOG") && error.contains("warning") && error.contains(value), "{error}");
        }
        assert!(filter(None).is_ok() && filter(Some("")).is_ok());
    }
}
