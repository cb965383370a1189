//! The event model and its decoding from one NDJSON line.
//!
//! An [`Event`] is immutable once decoded and shared between sinks behind an `Arc`, so fan-out to
//! any number of sinks never copies it.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use serde_json::{Map, Value};

use crate::severity::Severity;
use crate::timestamp::Timestamp;

/// One security event, as decoded from a line.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Every field of the JSON object, in the order the agent wrote them. `id` and `timestamp`
    /// are filled in here when the agent left them out, so JSON output shows the values the
    /// syslog header carries.
    fields: Map<String, Value>,
    timestamp: Timestamp,
    severity: Severity,
    /// Size of the line the event came from: what queue byte limits account for.
    wire_size: usize,
}

/// Why a line was rejected. Each variant is counted separately, so the names are stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The line is longer than the configured `max_event_bytes`.
    #[error("line exceeds max_event_bytes ({limit} bytes)")]
    TooLong { limit: usize },
    /// The bytes are not valid UTF-8.
    #[error("line is not valid UTF-8 (first bad byte at offset {offset})")]
    InvalidUtf8 { offset: usize },
    /// The text is not JSON.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// The JSON value is not an object.
    #[error("event must be a JSON object")]
    NotAnObject,
    /// The required `event` field is missing or empty.
    #[error("missing required field \"event\" (the event type, e.g. \"finding_added\")")]
    MissingEventType,
    /// A known field has the wrong type or value.
    #[error("field {field:?}: {expected}")]
    BadField { field: &'static str, expected: String },
}

impl DecodeError {
    /// A short stable name for counters and for the `reason_code` sent back to clients.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::TooLong { .. } => "too_long",
            DecodeError::InvalidUtf8 { .. } => "invalid_utf8",
            DecodeError::InvalidJson(_) => "invalid_json",
            DecodeError::NotAnObject => "not_an_object",
            DecodeError::MissingEventType => "missing_event",
            DecodeError::BadField { .. } => "bad_field",
        }
    }
}

impl Event {
    /// Decodes one line (without its line terminator).
    ///
    /// `id` is generated when absent, `timestamp` defaults to `received`, `severity` to `info`.
    pub fn decode(line: &[u8], received: Timestamp) -> Result<Event, DecodeError> {
        let text =
            std::str::from_utf8(line).map_err(|error| DecodeError::InvalidUtf8 { offset: error.valid_up_to() })?;
        let value: Value = serde_json::from_str(text).map_err(|error| DecodeError::InvalidJson(error.to_string()))?;
        let Value::Object(mut fields) = value else {
            return Err(DecodeError::NotAnObject);
        };
        match fields.get("event") {
            Some(Value::String(kind)) if !kind.is_empty() => {}
            Some(Value::String(_)) | None | Some(Value::Null) => return Err(DecodeError::MissingEventType),
            Some(_) => return Err(bad_field("event", "expected a non-empty string")),
        }
        for name in ["title", "host"] {
            if fields.get(name).is_some_and(|value| !value.is_string()) {
                return Err(bad_field(name, "expected a string"));
            }
        }
        match fields.get("id") {
            None => {
                fields.insert("id".to_owned(), Value::String(new_id()));
            }
            Some(Value::String(id)) if !id.is_empty() => {}
            Some(_) => return Err(bad_field("id", "expected a non-empty string")),
        }
        let timestamp = match fields.get("timestamp") {
            None => {
                fields.insert("timestamp".to_owned(), Value::String(received.to_string()));
                received
            }
            Some(Value::String(text)) => {
                Timestamp::parse_rfc3339(text).map_err(|error| bad_field("timestamp", error.to_string()))?
            }
            Some(_) => return Err(bad_field("timestamp", "expected an RFC 3339 string")),
        };
        let severity = match fields.get("severity") {
            None | Some(Value::Null) => Severity::INFO,
            Some(Value::String(text)) => text
                .parse()
                .map_err(|error: crate::severity::SeverityError| bad_field("severity", error.to_string()))?,
            Some(Value::Number(number)) => number
                .as_u64()
                .and_then(|score| u8::try_from(score).ok())
                .and_then(|score| Severity::from_score(score).ok())
                .ok_or_else(|| bad_field("severity", format!("expected an integer 0-10, found {number}")))?,
            Some(other) => {
                return Err(bad_field("severity", format!("expected a name or an integer 0-10, found {other}")))
            }
        };
        Ok(Event { fields, timestamp, severity, wire_size: line.len() })
    }

    /// The event type (`event` field), e.g. `finding_added`.
    pub fn event_type(&self) -> &str {
        self.str_field("event").unwrap_or_default()
    }

    /// The event id, from the agent or generated on receipt.
    pub fn id(&self) -> &str {
        self.str_field("id").unwrap_or_default()
    }

    pub fn title(&self) -> Option<&str> {
        self.str_field("title")
    }

    pub fn host(&self) -> Option<&str> {
        self.str_field("host")
    }

    pub fn timestamp(&self) -> &Timestamp {
        &self.timestamp
    }

    pub fn severity(&self) -> Severity {
        self.severity
    }

    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// Bytes this event accounts for in queue limits.
    pub fn wire_size(&self) -> usize {
        self.wire_size
    }

    /// Looks up a field by a dotted path such as `data.url`. A key that itself contains dots is
    /// found too, when it exists at the top level (`{"data.url": ...}`).
    pub fn field(&self, path: &str) -> Option<&Value> {
        if let Some(value) = self.fields.get(path) {
            return Some(value);
        }
        let mut parts = path.split('.');
        let mut value = self.fields.get(parts.next()?)?;
        for part in parts {
            value = value.as_object()?.get(part)?;
        }
        Some(value)
    }

    fn str_field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }
}

fn bad_field(field: &'static str, expected: impl Into<String>) -> DecodeError {
    DecodeError::BadField { field, expected: expected.into() }
}

/// A random (version 4 layout) UUID. Uniqueness, not secrecy, is what ids need, so SipHash keyed
/// once per process from the OS (via `RandomState`) over a counter is enough.
pub fn new_id() -> String {
    static KEYS: LazyLock<RandomState> = LazyLock::new(RandomState::new);
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let half = |salt: u64| {
        let mut hasher = KEYS.build_hasher();
        hasher.write_u64(count);
        hasher.write_u64(salt);
        hasher.finish()
    };
    let high = (half(1) & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
    let low = (half(2) & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xFFFF,
        high & 0xFFFF,
        low >> 48,
        low & 0xFFFF_FFFF_FFFF
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::severity::Level;

    fn received() -> Timestamp {
        Timestamp::parse_rfc3339("2024-05-01T12:00:00.123456Z").expect("valid")
    }

    fn decode(line: &str) -> Result<Event, DecodeError> {
        Event::decode(line.as_bytes(), received())
    }

    #[test]
    fn decodes_known_fields_and_keeps_the_rest_in_order() {
        let event = decode(
            r#"{"event":"finding_added","id":"f-1","timestamp":"2024-05-01T10:00:00+02:00","severity":"high","title":"SQLi","host":"web-1","data":{"url":"/x"},"z":1}"#,
        )
        .expect("valid");
        assert_eq!(event.event_type(), "finding_added");
        assert_eq!(event.id(), "f-1");
        assert_eq!(event.timestamp().to_string(), "2024-05-01T10:00:00+02:00");
        assert_eq!(event.severity().level(), Level::High);
        assert_eq!(event.title(), Some("SQLi"));
        assert_eq!(event.host(), Some("web-1"));
        assert_eq!(event.field("data.url"), Some(&Value::from("/x")));
        let keys: Vec<&str> = event.fields().keys().map(String::as_str).collect();
        assert_eq!(keys, ["event", "id", "timestamp", "severity", "title", "host", "data", "z"]);
    }

    #[test]
    fn fills_in_id_timestamp_and_severity() {
        let event = decode(r#"{"event":"scan_started"}"#).expect("valid");
        assert_eq!(event.id().len(), 36);
        assert_eq!(event.id().as_bytes()[14], b'4');
        assert_ne!(event.id(), decode(r#"{"event":"x"}"#).expect("valid").id());
        assert_eq!(event.timestamp(), &received());
        assert_eq!(event.field("timestamp"), Some(&Value::from("2024-05-01T12:00:00.123456Z")));
        assert_eq!(event.severity(), Severity::INFO);
    }

    #[test]
    fn accepts_numeric_severity() {
        let event = decode(r#"{"event":"x","severity":9}"#).expect("valid");
        assert_eq!(event.severity().level(), Level::Critical);
        assert_eq!(event.severity().to_string(), "9");
    }

    #[test]
    fn rejects_each_kind_of_bad_line_with_its_own_code() {
        let cases: [(&[u8], &str); 13] = [
            (b"\xff\xfe{}", "invalid_utf8"),
            (b"{\"event\":", "invalid_json"),
            (b"not json", "invalid_json"),
            (b"[1,2]", "not_an_object"),
            (b"{}", "missing_event"),
            (b"{\"event\":\"\"}", "missing_event"),
            (b"{\"event\":5}", "bad_field"),
            (b"{\"event\":\"x\",\"severity\":\"urgent\"}", "bad_field"),
            (b"{\"event\":\"x\",\"severity\":11}", "bad_field"),
            (b"{\"event\":\"x\",\"severity\":2.5}", "bad_field"),
            (b"{\"event\":\"x\",\"timestamp\":\"yesterday\"}", "bad_field"),
            (b"{\"event\":\"x\",\"title\":{}}", "bad_field"),
            (b"{\"event\":\"x\",\"id\":7}", "bad_field"),
        ];
        for (line, code) in cases {
            let error = Event::decode(line, received()).expect_err("must be rejected");
            assert_eq!(error.code(), code, "{:?}: {error}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn error_messages_name_the_field_and_expectation() {
        let error = decode(r#"{"event":"x","severity":"urgent"}"#).expect_err("bad");
        assert_eq!(
            error.to_string(),
            "field \"severity\": severity must be one of critical, high, medium, low, info or an integer 0-10, found \"urgent\""
        );
    }
}
