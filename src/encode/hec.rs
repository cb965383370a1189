//! Splunk HTTP Event Collector (HEC) events, for `POST /services/collector/event`.
//!
//! ```text
//! {"time":1714564800.25,"host":"web-1","source":"siem-relay","sourcetype":"siem-relay:event","index":"security","event":{...}}\n
//! ```
//! Following Splunk's "Format events for HTTP Event Collector" (Splunk Enterprise / Cloud
//! *Getting Data In* manual, help.splunk.com):
//! * `time`: the event's time as epoch seconds, a JSON number with a millisecond fraction
//!   (`<sec>.<ms>`, written as the shortest number that reads back exactly: `1714564800.25`,
//!   `1714564800.0`). Without it Splunk would use the time of receipt.
//! * `host`: the event's `host`, else the sink's `host`; left out when neither is set (Splunk
//!   then uses the token's default or the sender's address).
//! * `source`: the sink's (default [`DEFAULT_SOURCE`]).
//! * `sourcetype`: the sink's (default [`DEFAULT_SOURCETYPE`], in Splunk's `vendor:product`
//!   naming). An unknown source type gets Splunk's default props (`KV_MODE = auto`), which
//!   extract the JSON fields at search time, and admins can give it its own props. `_json`
//!   works too: it makes Splunk index every JSON key as an indexed field ("Automate indexed
//!   field extractions with HTTP Event Collector"), which is quicker to search but grows the
//!   index.
//! * `index`: the sink's, left out when not configured (the token's default index applies).
//! * `event`: the whole event, every field in the order the agent wrote them. Never cut: Splunk
//!   applies its own `TRUNCATE` per source type.
//!
//! Batching: HEC takes several event objects in one request by plain concatenation, with or
//! without white space between them, no array and no commas ("HTTP Event Collector examples",
//! *Batching example*). [`HecSettings::encode`] writes one object followed by `\n`, so a batch is
//! the concatenation of encoded events, one per line, readable in logs and captures. A request
//! must stay within the receiver's `max_content_length` (`limits.conf`, `[http_input]`); one
//! event cannot be split across requests. [`would_exceed`] tells a sink when to send the batch
//! before appending the next event.

use super::json::push_string;
use super::Encoded;
use crate::event::Event;

/// `source` unless the sink sets one.
pub const DEFAULT_SOURCE: &str = "siem-relay";
/// `sourcetype` unless the sink sets one.
pub const DEFAULT_SOURCETYPE: &str = "siem-relay:event";
/// Request body size a batch is kept within by default: 1 MB, the long-standing default of
/// `max_content_length` and a size every HEC endpoint (Splunk Cloud included) accepts.
pub const DEFAULT_MAX_BATCH_BYTES: usize = 1_000_000;

/// Settings of a `splunk_hec` sink, built once from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HecSettings {
    /// `host` for events without one; `None` leaves `host` out for them.
    pub host: Option<String>,
    pub source: String,
    pub sourcetype: String,
    /// `None` leaves `index` out: the token's default index applies.
    pub index: Option<String>,
}

impl Default for HecSettings {
    /// No default host, [`DEFAULT_SOURCE`], [`DEFAULT_SOURCETYPE`], no index.
    fn default() -> Self {
        HecSettings {
            host: None,
            source: DEFAULT_SOURCE.to_owned(),
            sourcetype: DEFAULT_SOURCETYPE.to_owned(),
            index: None,
        }
    }
}

impl HecSettings {
    /// Appends the event object for `event` and a `\n` to `out`. Nothing is ever cut.
    pub fn encode(&self, event: &Event, out: &mut Vec<u8>) -> Encoded {
        out.extend_from_slice(b"{\"time\":");
        // A finite number into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &epoch_seconds(event.timestamp().unix_millis()));
        if let Some(host) = event.host().filter(|host| !host.is_empty()).or(self.host.as_deref()) {
            out.extend_from_slice(b",\"host\":");
            push_string(out, host);
        }
        out.extend_from_slice(b",\"source\":");
        push_string(out, &self.source);
        out.extend_from_slice(b",\"sourcetype\":");
        push_string(out, &self.sourcetype);
        if let Some(index) = &self.index {
            out.extend_from_slice(b",\"index\":");
            push_string(out, index);
        }
        out.extend_from_slice(b",\"event\":");
        out.extend_from_slice(event.json().as_bytes());
        out.extend_from_slice(b"}\n");
        Encoded::default()
    }
}

/// Milliseconds since the epoch as seconds. Every millisecond count of the years 0-9999 is far
/// below 2^53, and division is correctly rounded, so the shortest decimal that reads back as the
/// result (what serde_json writes) is the exact `<sec>.<ms>` value without trailing zeros.
fn epoch_seconds(millis: i64) -> f64 {
    millis as f64 / 1000.0
}

/// Whether appending an encoded event of `event_len` bytes to a batch of `batch_len` bytes would
/// make the request body longer than `max_bytes`: if so, send the batch first. An empty batch
/// always takes the event, so an event larger than `max_bytes` goes alone (and the receiver
/// decides; HEC answers 413 for a body over its `max_content_length`).
pub fn would_exceed(batch_len: usize, event_len: usize, max_bytes: usize) -> bool {
    batch_len > 0 && batch_len.saturating_add(event_len) > max_bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::json::testing::{event, FINDING};

    fn encode(settings: &HecSettings, json: &str) -> String {
        let mut out = Vec::new();
        let outcome = settings.encode(&event(json), &mut out);
        assert_eq!(outcome, Encoded::default());
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn golden_batch_of_two() {
        let settings =
            HecSettings { host: Some("relay-host".into()), index: Some("security".into()), ..HecSettings::default() };
        let mut batch = Vec::new();
        let _ = settings.encode(&event(FINDING), &mut batch);
        let first = batch.len();
        let _ = settings.encode(
            &event(
                r#"{"event":"login_failed","id":"l-1","timestamp":"2024-05-01T08:00:01Z","severity":3,"user":"root"}"#,
            ),
            &mut batch,
        );
        assert!(!would_exceed(first, batch.len() - first, batch.len()));
        assert!(would_exceed(first, batch.len() - first, batch.len() - 1));
        assert_eq!(String::from_utf8(batch).expect("utf8"), include_str!("../../tests/golden/hec_batch.txt"));
    }

    #[test]
    fn defaults_and_optional_metadata() {
        assert_eq!(
            encode(&HecSettings::default(), r#"{"event":"x","id":"1","timestamp":"2024-05-01T12:00:00Z"}"#),
            "{\"time\":1714564800.0,\"source\":\"siem-relay\",\"sourcetype\":\"siem-relay:event\",\
             \"event\":{\"event\":\"x\",\"id\":\"1\",\"timestamp\":\"2024-05-01T12:00:00Z\"}}\n"
        );
        let settings = HecSettings {
            host: Some("relay".into()),
            source: "scanner".into(),
            sourcetype: "_json".into(),
            index: Some("main".into()),
        };
        assert_eq!(
            encode(&settings, r#"{"event":"x","id":"1","timestamp":"2024-05-01T12:00:00Z","host":"web-1"}"#),
            "{\"time\":1714564800.0,\"host\":\"web-1\",\"source\":\"scanner\",\"sourcetype\":\"_json\",\"index\":\"main\",\
             \"event\":{\"event\":\"x\",\"id\":\"1\",\"timestamp\":\"2024-05-01T12:00:00Z\",\"host\":\"web-1\"}}\n"
        );
        assert!(encode(&settings, r#"{"event":"x","host":""}"#).contains(r#""host":"relay""#));
    }

    #[test]
    fn time_is_epoch_seconds_with_milliseconds() {
        let time = |timestamp: &str| {
            let out = encode(&HecSettings::default(), &format!(r#"{{"event":"x","timestamp":"{timestamp}"}}"#));
            let value: serde_json::Value = serde_json::from_str(&out).expect("json");
            let start = out.find("\"time\":").expect("time") + 7;
            (out[start..start + out[start..].find(',').expect("comma")].to_owned(), value["time"].as_f64())
        };
        assert_eq!(time("2024-05-01T14:00:00.250+02:00"), ("1714564800.25".to_owned(), Some(1_714_564_800.25)));
        assert_eq!(time("2024-05-01T12:00:00.999999Z").0, "1714564800.999");
        assert_eq!(time("2024-05-01T12:00:00.001Z").0, "1714564800.001");
        assert_eq!(time("2024-05-01T12:00:00.1Z").0, "1714564800.1");
        assert_eq!(time("1969-12-31T23:59:59.999Z").0, "-0.001");
        assert_eq!(time("9999-12-31T23:59:59.999Z").0, "253402300799.999");
        assert_eq!(time("0000-01-01T00:00:00.001Z").0, "-62167219199.999");
    }

    #[test]
    fn every_field_is_kept_whole() {
        let big = "x".repeat(100_000);
        let out = encode(
            &HecSettings::default(),
            &format!(r#"{{"event":"x","big":"{big}","nested":{{"a":[1,2.5,null,true]}},"s":"\"\\\n\u0001é"}}"#),
        );
        let value: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(value["event"]["big"].as_str().map(str::len), Some(100_000));
        assert_eq!(value["event"]["nested"], serde_json::json!({"a": [1, 2.5, null, true]}));
        assert_eq!(value["event"]["s"], "\"\\\n\u{1}é");
        assert!(out.ends_with("}}\n") && out.matches('\n').count() == 1, "one line");
    }

    #[test]
    fn batch_limit() {
        assert!(!would_exceed(0, 5000, 100), "an empty batch takes any event");
        assert!(!would_exceed(60, 40, 100));
        assert!(would_exceed(60, 41, 100));
        assert!(would_exceed(1, usize::MAX, 100));
    }
}
