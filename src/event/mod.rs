//! The event model and its decoding from one NDJSON line.
//!
//! An [`Event`] is immutable once decoded and shared between sinks behind an `Arc`, so fan-out to
//! any number of sinks never copies it. It holds the line as compact JSON text plus an index of
//! its top-level members (see [`compact`]), not a tree of values: decoding costs two allocations
//! whatever the number of fields, and JSON outputs copy the text as it is.

mod compact;
mod value;

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use self::compact::{Member, Rejection, Span, ROOT};
pub use self::value::{FieldValue, Number};
use crate::severity::Severity;
use crate::timestamp::Timestamp;

/// One security event, as decoded from a line.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The JSON object, compact, fields in the order the agent wrote them. `id` and `timestamp`
    /// are appended here when the agent left them out, so JSON output shows the values the
    /// syslog header carries.
    json: Box<str>,
    /// Every member of the object and of the objects nested in it through objects, in order.
    members: Box<[Member]>,
    /// One bit per top-level key ([`key_bit`]): a lookup of a key whose bit is clear is a miss
    /// without a scan. Encoders look up many fields most events do not have (CEF's mapping).
    root_keys: u64,
    event_type: Text,
    id: Text,
    title: Option<Text>,
    host: Option<Text>,
    timestamp: Timestamp,
    severity: Severity,
    /// Size of the line the event came from: what queue byte limits account for.
    wire_size: usize,
}

/// A string field the event model reads often: where it is in the text (quotes included), or
/// its unescaped copy when the agent wrote it with escapes. The copy is behind a thin pointer
/// so that a `Text` is 16 bytes: every event holds four.
#[derive(Debug, Clone, PartialEq)]
enum Text {
    InJson(Span),
    #[allow(clippy::redundant_allocation)]
    Unescaped(Box<Box<str>>),
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
    /// When a key is repeated, its last value counts (as in every common JSON reader).
    pub fn decode(line: &[u8], received: Timestamp) -> Result<Event, DecodeError> {
        // Spans are u32 offsets; `max_event_bytes` keeps lines far shorter than this anyway.
        const LONGEST: usize = (u32::MAX / 2) as usize;
        if line.len() > LONGEST {
            return Err(DecodeError::TooLong { limit: LONGEST });
        }
        let text =
            std::str::from_utf8(line).map_err(|error| DecodeError::InvalidUtf8 { offset: error.valid_up_to() })?;
        // The compact text and the index are built in per-thread scratch space, then copied
        // once at their exact size.
        thread_local! {
            static SCRATCH: RefCell<(String, Vec<Member>)> = const { RefCell::new((String::new(), Vec::new())) };
        }
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let (json, members) = &mut *scratch;
            json.clear();
            members.clear();
            decode_into(text, received, json, members)
        })
    }

    /// The event type (`event` field), e.g. `finding_added`.
    pub fn event_type(&self) -> &str {
        self.text(&self.event_type)
    }

    /// The event id, from the agent or generated on receipt.
    pub fn id(&self) -> &str {
        self.text(&self.id)
    }

    pub fn title(&self) -> Option<&str> {
        self.title.as_ref().map(|text| self.text(text))
    }

    pub fn host(&self) -> Option<&str> {
        self.host.as_ref().map(|text| self.text(text))
    }

    pub fn timestamp(&self) -> &Timestamp {
        &self.timestamp
    }

    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// The whole event as one compact JSON object: every field in the order the agent wrote
    /// them (strings with the escapes the agent wrote), then `id` and `timestamp` when they
    /// were filled in.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The event as a `serde_json` value (a copy; for the control API and tests, not the hot
    /// path).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.json).unwrap_or(serde_json::Value::Null)
    }

    /// Bytes this event accounts for in queue limits.
    pub fn wire_size(&self) -> usize {
        self.wire_size
    }

    /// Looks up a field by a dotted path such as `data.url`. A key that itself contains dots is
    /// found too, when it exists at the top level (`{"data.url": ...}`).
    pub fn field(&self, path: &str) -> Option<FieldValue<'_>> {
        let found = self.root_member(path).or_else(|| {
            let dot = memchr::memchr(b'.', path.as_bytes())?;
            let (first, rest) = (path.get(..dot)?, path.get(dot + 1..)?);
            let mut index = self.root_member(first)?;
            for part in rest.split('.') {
                index = self.member(index as u32, part)?;
            }
            Some(index)
        })?;
        Some(self.members.get(found)?.value_in(&self.json))
    }

    /// [`field`](Self::field) for a path prepared once (encoders look up their configured
    /// paths in every event): no search for its dot and no hashing per lookup.
    pub fn field_at(&self, path: &FieldPath) -> Option<FieldValue<'_>> {
        let found = self.root_member_with(path.bit, &path.text).or_else(|| {
            let (dot, first_bit) = path.first?;
            let (first, rest) = (path.text.get(..dot)?, path.text.get(dot + 1..)?);
            let mut index = self.root_member_with(first_bit, first)?;
            for part in rest.split('.') {
                index = self.member(index as u32, part)?;
            }
            Some(index)
        })?;
        Some(self.members.get(found)?.value_in(&self.json))
    }

    /// The index of the top-level member `name` (the last one, if the key is repeated).
    fn root_member(&self, name: &str) -> Option<usize> {
        self.root_member_with(key_bit(name), name)
    }

    /// [`root_member`](Self::root_member) with `name`'s [`key_bit`] already known.
    fn root_member_with(&self, bit: u64, name: &str) -> Option<usize> {
        if self.root_keys & bit == 0 {
            return None;
        }
        self.member(ROOT, name)
    }

    /// The index of the member `name` of the object that is the value of member `parent` (or
    /// of the event itself: [`ROOT`]); the last one, if the key is repeated.
    fn member(&self, parent: u32, name: &str) -> Option<usize> {
        self.members.iter().rposition(|member| member.parent() == parent && member.key_is(&self.json, name))
    }

    fn text<'a>(&'a self, text: &'a Text) -> &'a str {
        match text {
            Text::InJson(span) => {
                let quoted = span.of(&self.json);
                quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default()
            }
            Text::Unescaped(text) => text,
        }
    }
}

/// Checks `text`, builds its compact form and index in `json` and `members` (both empty), and
/// reads the fields the event model knows.
fn decode_into(
    text: &str,
    received: Timestamp,
    json: &mut String,
    members: &mut Vec<Member>,
) -> Result<Event, DecodeError> {
    compact::compact(text, json, members).map_err(|rejection| match rejection {
        Rejection::Invalid(reason) => DecodeError::InvalidJson(reason),
        Rejection::NotAnObject => DecodeError::NotAnObject,
    })?;
    // One pass over the members picks out the fields the model knows (the last of a repeated
    // key wins).
    let slot_of = |key: &str| match key {
        "event" => Some(0),
        "id" => Some(1),
        "timestamp" => Some(2),
        "severity" => Some(3),
        "title" => Some(4),
        "host" => Some(5),
        _ => None,
    };
    let mut known: [Option<&Member>; 6] = [None; 6];
    let mut root_keys = key_bit("id") | key_bit("timestamp");
    for member in members.iter().filter(|member| member.parent() == ROOT) {
        let key = member.unescaped_key(json);
        root_keys |= key_bit(&key);
        let slot = slot_of(&key);
        if let Some(slot) = slot {
            known[slot] = Some(member);
        }
    }
    let value_of = |name: &str| {
        let member = known[slot_of(name)?]?;
        Some((member.value, member.value_in(json)))
    };
    let event_type = match value_of("event") {
        Some((span, FieldValue::String(kind))) if !kind.is_empty() => Text::new(span, kind),
        Some((_, FieldValue::String(_) | FieldValue::Null)) | None => return Err(DecodeError::MissingEventType),
        Some(_) => return Err(bad_field("event", "expected a non-empty string")),
    };
    let optional_text = |name: &'static str| match value_of(name) {
        None => Ok(None),
        Some((span, FieldValue::String(value))) => Ok(Some(Text::new(span, value))),
        Some(_) => Err(bad_field(name, "expected a string")),
    };
    let title = optional_text("title")?;
    let host = optional_text("host")?;
    let id = match value_of("id") {
        None => None,
        Some((span, FieldValue::String(id))) if !id.is_empty() => Some(Text::new(span, id)),
        Some(_) => return Err(bad_field("id", "expected a non-empty string")),
    };
    let timestamp = match value_of("timestamp") {
        None => None,
        Some((_, FieldValue::String(text))) => {
            Some(Timestamp::parse_rfc3339(&text).map_err(|error| bad_field("timestamp", error.to_string()))?)
        }
        Some(_) => return Err(bad_field("timestamp", "expected an RFC 3339 string")),
    };
    let severity = match value_of("severity") {
        None | Some((_, FieldValue::Null)) => Severity::INFO,
        Some((_, FieldValue::String(text))) => {
            text.parse().map_err(|error: crate::severity::SeverityError| bad_field("severity", error.to_string()))?
        }
        Some((_, FieldValue::Number(number))) => number
            .as_u64()
            .and_then(|score| u8::try_from(score).ok())
            .and_then(|score| Severity::from_score(score).ok())
            .ok_or_else(|| bad_field("severity", format!("expected an integer 0-10, found {}", number.as_str())))?,
        Some((_, other)) => {
            return Err(bad_field(
                "severity",
                format!("expected a name or an integer 0-10, found {}", other.into_text()),
            ))
        }
    };
    // What the agent left out is filled in as members appended to the object.
    let id = match id {
        Some(id) => id,
        None => Text::InJson(append_member(json, members, "id", |json| {
            // A UUID needs no escaping.
            json.push('"');
            write_new_id(json);
            json.push('"');
        })),
    };
    let timestamp = match timestamp {
        Some(timestamp) => timestamp,
        None => {
            append_member(json, members, "timestamp", |json| {
                let _ = write!(json, "\"{received}\"");
            });
            received
        }
    };
    Ok(Event {
        json: json.as_str().into(),
        members: members.as_slice().into(),
        root_keys,
        event_type,
        id,
        title,
        host,
        timestamp,
        severity,
        wire_size: text.len(),
    })
}

impl Text {
    /// `value` is the string at `span`, unescaped; a copy is kept only if unescaping changed it.
    fn new(span: Span, value: Cow<'_, str>) -> Text {
        match value {
            Cow::Borrowed(_) => Text::InJson(span),
            Cow::Owned(text) => Text::Unescaped(Box::new(text.into())),
        }
    }
}

/// Appends `"name":VALUE` to the compact object in `json` (before its closing brace), where
/// `write_value` writes VALUE; returns the span of VALUE.
fn append_member(
    json: &mut String,
    members: &mut Vec<Member>,
    name: &str,
    write_value: impl FnOnce(&mut String),
) -> Span {
    json.pop();
    if !members.is_empty() {
        json.push(',');
    }
    json.push('"');
    let key_start = json.len();
    json.push_str(name);
    json.push_str("\":");
    let value_start = json.len();
    write_value(json);
    let value = Span::new(value_start, json.len());
    json.push('}');
    members.push(Member::new(key_start, value, ROOT, false));
    value
}

/// A dotted field path (`data.url`) with what a lookup needs worked out when the config is
/// built: the [`key_bit`] of the whole text (a top-level key may contain dots) and, when it has
/// a dot, where the first one is and the bit of the key before it. Reads as the `str` it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    text: Box<str>,
    bit: u64,
    first: Option<(usize, u64)>,
}

impl FieldPath {
    pub fn new(text: &str) -> Self {
        let first = memchr::memchr(b'.', text.as_bytes()).and_then(|dot| Some((dot, key_bit(text.get(..dot)?))));
        FieldPath { text: text.into(), bit: key_bit(text), first }
    }
}

impl From<&str> for FieldPath {
    fn from(text: &str) -> Self {
        FieldPath::new(text)
    }
}

impl std::ops::Deref for FieldPath {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

/// A key's bit in [`Event::root_keys`]: FNV-1a of the key, modulo 64.
fn key_bit(key: &str) -> u64 {
    let hash = key.bytes().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193));
    1 << (hash % 64)
}

fn bad_field(field: &'static str, expected: impl Into<String>) -> DecodeError {
    DecodeError::BadField { field, expected: expected.into() }
}

/// A random (version 4 layout) UUID. Uniqueness, not secrecy, is what ids need, so SipHash keyed
/// once per process from the OS (via `RandomState`) over a counter is enough.
pub fn new_id() -> String {
    let mut id = String::with_capacity(36);
    write_new_id(&mut id);
    id
}

/// Appends a new id (see [`new_id`]).
fn write_new_id(out: &mut String) {
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
    let _ = write!(
        out,
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xFFFF,
        high & 0xFFFF,
        low >> 48,
        low & 0xFFFF_FFFF_FFFF
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_stays_small() {
        // An event's memory is its text plus these; the queue holds thousands of them.
        assert_eq!(std::mem::size_of::<Member>(), 16);
        assert_eq!(std::mem::size_of::<Text>(), 16);
        assert_eq!(std::mem::size_of::<Option<Text>>(), 16);
    }
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
        assert_eq!(event.field("data.url").and_then(|v| v.as_str().map(str::to_owned)).as_deref(), Some("/x"));
        let keys: Vec<&str> =
            event.members.iter().filter(|m| m.parent() == ROOT).map(|m| m.key().of(event.json())).collect();
        assert_eq!(keys, ["event", "id", "timestamp", "severity", "title", "host", "data", "z"]);
    }

    #[test]
    fn fills_in_id_timestamp_and_severity() {
        let event = decode(r#"{"event":"scan_started"}"#).expect("valid");
        assert_eq!(event.id().len(), 36);
        assert_eq!(event.id().as_bytes()[14], b'4');
        assert_ne!(event.id(), decode(r#"{"event":"x"}"#).expect("valid").id());
        assert_eq!(event.timestamp(), &received());
        assert_eq!(event.field("timestamp").map(serde_json::Value::from), Some("2024-05-01T12:00:00.123456Z".into()));
        assert_eq!(
            event.json(),
            format!(r#"{{"event":"scan_started","id":"{}","timestamp":"2024-05-01T12:00:00.123456Z"}}"#, event.id())
        );
        assert_eq!(event.severity(), Severity::INFO);
    }

    #[test]
    fn keeps_the_line_as_compact_json_and_resolves_escapes_on_read() {
        let event = decode(
            "{ \"event\" : \"scan\\u005fdone\" , \"title\":\"caf\\u00e9 \\\"x\\\"\", \"host\":\"h\",\n \"data\" : { \"k\" : [ 1, 2 ] } }",
        )
        .expect("valid");
        assert_eq!(event.event_type(), "scan_done");
        assert_eq!(event.title(), Some("café \"x\""));
        assert_eq!(event.host(), Some("h"));
        assert!(event.json().starts_with(
            r#"{"event":"scan\u005fdone","title":"caf\u00e9 \"x\"","host":"h","data":{"k":[1,2]},"id":""#
        ));
        assert_eq!(event.field("data.k").map(FieldValue::into_text).as_deref(), Some("[1,2]"));
        assert_eq!(event.field("data.nope"), None);
        assert_eq!(event.field("title.nope"), None);
    }

    #[test]
    fn a_repeated_key_counts_with_its_last_value() {
        let event =
            decode(r#"{"event":"a","severity":"low","event":"b","severity":"high","x":1,"x":2}"#).expect("valid");
        assert_eq!(event.event_type(), "b");
        assert_eq!(event.severity().level(), Level::High);
        assert_eq!(event.field("x").map(FieldValue::into_text).as_deref(), Some("2"));
        assert_eq!(event.to_value()["x"], 2, "as serde_json reads it");
        let nested = decode(r#"{"event":"x","data":{"k":1,"k":2,"o":{"p":true}}}"#).expect("valid");
        assert_eq!(nested.field("data.k").map(FieldValue::into_text).as_deref(), Some("2"));
        assert_eq!(nested.field("data.o.p"), Some(FieldValue::Bool(true)));
        assert_eq!(nested.field("data.k.deeper"), None);
    }

    #[test]
    fn keys_written_with_escapes_are_found_by_their_text() {
        let event = decode(r#"{"event":"x","s\u0072c":"10.0.0.1","d\u0061ta":{"\u0075rl":"/x"}}"#).expect("valid");
        assert_eq!(event.field("src").and_then(|v| v.as_str().map(str::to_owned)).as_deref(), Some("10.0.0.1"));
        assert_eq!(event.field("data.url").and_then(|v| v.as_str().map(str::to_owned)).as_deref(), Some("/x"));
        assert_eq!(event.field("dst"), None);
    }

    #[test]
    fn dotted_keys_at_the_top_level_come_first() {
        let event = decode(r#"{"event":"x","data.url":"top","data":{"url":"nested"}}"#).expect("valid");
        assert_eq!(event.field("data.url").and_then(|v| v.as_str().map(str::to_owned)).as_deref(), Some("top"));
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
