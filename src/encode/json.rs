//! The generic JSON webhook body, and the event summary the card formats (`slack`, `teams`)
//! share.
//!
//! ```text
//! {"schema_version":1,"event":"finding_added","id":"f-1","timestamp":"2024-05-01T14:00:00.25+02:00","data":{...}}
//! ```
//! * One event per request, compact JSON, no trailing newline; `Content-Type: application/json`.
//! * `schema_version` is [`SCHEMA_VERSION`]; it changes only when a field of the envelope changes
//!   meaning or goes away (new envelope fields may be added without a bump).
//! * `event`, `id`: the event type and id. `timestamp`: the event's time as RFC 3339 with at most
//!   six fraction digits and the offset the agent wrote (the form the syslog formats send).
//! * `data`: every field of the event, in the order the agent wrote them, including `event`,
//!   `id` and `timestamp` (filled in on receipt when the agent left them out).
//! * Nothing is ever cut: a receiver of this format gets the whole event, so
//!   [`Encoded::truncated`](super::Encoded) is always `false`.
//!
//! This is our own format, not a vendor's; it follows RFC 8259 (JSON) and is what generic
//! webhook receivers (SOAR tools, Logic Apps, Lambda URLs, ...) take without configuration.

use std::borrow::Cow;
use std::io::Write as _;

use super::Encoded;
use crate::event::{Event, FieldValue};
use crate::severity::Severity;

/// The `schema_version` this module writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Settings of a `json` sink. The envelope has nothing to configure; the type exists so every
/// webhook format is built and called the same way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonSettings;

impl JsonSettings {
    /// Appends the envelope for `event` to `out`.
    pub fn encode(&self, event: &Event, out: &mut Vec<u8>) -> Encoded {
        let _ = write!(out, "{{\"schema_version\":{SCHEMA_VERSION},\"event\":");
        push_string(out, event.event_type());
        out.extend_from_slice(b",\"id\":");
        push_string(out, event.id());
        // RFC 3339 text never needs escaping.
        let _ = write!(out, ",\"timestamp\":\"{}\",\"data\":", event.timestamp());
        out.extend_from_slice(event.json().as_bytes());
        out.push(b'}');
        Encoded::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The summary shown by the card formats (Slack Block Kit, Teams Adaptive Cards).

/// What the card formats cut text with: U+2026 HORIZONTAL ELLIPSIS (one character, three UTF-8
/// bytes, one UTF-16 unit).
pub const ELLIPSIS: &str = "\u{2026}";

/// Event field holding the long free text the card formats show under the facts.
pub const DESCRIPTION_FIELD: &str = "description";

/// The configured facts (`label`, dotted field path) a card shows when the sink configures none:
/// the common fields of the README's event table that CEF's built-in mapping also carries.
pub const DEFAULT_CARD_FIELDS: [(&str, &str); 4] =
    [("Source IP", "source_ip"), ("User", "user"), ("URL", "url"), ("Outcome", "outcome")];

/// [`DEFAULT_CARD_FIELDS`] in the owned form the settings structs hold.
pub fn default_card_fields() -> Vec<(String, String)> {
    DEFAULT_CARD_FIELDS.iter().map(|(label, path)| ((*label).to_owned(), (*path).to_owned())).collect()
}

/// One labelled value of a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact<'a> {
    pub label: &'a str,
    pub value: Cow<'a, str>,
}

/// The heading of a card: the event's title or, when it has none (or only white space), its type.
pub fn card_title(event: &Event) -> &str {
    event.title().filter(|title| !title.trim().is_empty()).unwrap_or(event.event_type())
}

/// The event's severity for people: the band name, followed by the agent's number when it sent
/// a score (`high`, `critical (9)`).
pub fn severity_text(severity: Severity) -> Cow<'static, str> {
    let name = severity.level().name();
    let written = severity.to_string();
    if written == name {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(format!("{name} ({written})"))
    }
}

/// A field's value as text: strings as they are, everything else as compact JSON (the same
/// rule as [`FieldValue::into_text`]). `None` for a missing field, `null` and `""`.
pub fn field_text(value: Option<FieldValue<'_>>) -> Option<Cow<'_, str>> {
    match value? {
        FieldValue::Null => None,
        FieldValue::String(text) if text.is_empty() => None,
        other => Some(other.into_text()),
    }
}

/// Appends `text` as a JSON string (quoted and escaped).
pub fn push_string(out: &mut Vec<u8>, text: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// The `description` text, when the event has one that is not just white space.
pub fn description_text(event: &Event) -> Option<Cow<'_, str>> {
    field_text(event.field(DESCRIPTION_FIELD)).filter(|text| !text.trim().is_empty())
}

/// The facts of a card, in order: Severity, Event type, Host (when the event has one), Id,
/// Time, then each configured field the event has (missing, `null` and `""` are left out).
pub fn card_facts<'a>(event: &'a Event, fields: &'a [(String, String)]) -> Vec<Fact<'a>> {
    let mut facts = Vec::with_capacity(5 + fields.len());
    let mut standard = |label, value| facts.push(Fact { label, value });
    standard("Severity", severity_text(event.severity()));
    standard("Event type", Cow::Borrowed(event.event_type()));
    if let Some(host) = event.host().filter(|host| !host.is_empty()) {
        standard("Host", Cow::Borrowed(host));
    }
    standard("Id", Cow::Borrowed(event.id()));
    standard("Time", Cow::Owned(event.timestamp().to_string()));
    for (label, path) in fields {
        if let Some(value) = field_text(event.field(path)) {
            facts.push(Fact { label, value });
        }
    }
    facts
}

/// Fixtures shared by the tests of the webhook formats.
#[cfg(test)]
pub(crate) mod testing {
    use serde_json::Value;

    use crate::event::Event;
    use crate::timestamp::Timestamp;

    /// The representative finding the golden files show.
    pub(crate) const FINDING: &str = r#"{"event":"finding_added","id":"f-1","timestamp":"2024-05-01T14:00:00.250+02:00","severity":"high","title":"SQL injection in /login","host":"web-1","description":"The `user` parameter reaches a query unescaped: <script> & \"quotes\" *bold*","source_ip":"10.0.0.5","user":"alice","url":"/login?user=admin&pw=x","data":{"cwe":"CWE-89","score":9.1}}"#;

    /// Decodes `json`, received at 2024-05-01T12:00:00Z.
    pub(crate) fn event(json: &str) -> Event {
        let received = Timestamp::parse_rfc3339("2024-05-01T12:00:00Z").expect("valid");
        Event::decode(json.as_bytes(), received).expect("valid event")
    }

    /// Re-serialises compact JSON output in the pretty form the golden files keep (key order is
    /// kept: `preserve_order`).
    pub(crate) fn pretty(compact: &[u8]) -> String {
        let value: Value = serde_json::from_slice(compact).expect("output is JSON");
        serde_json::to_string_pretty(&value).expect("serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{event, pretty, FINDING};
    use super::*;

    fn encode(json: &str) -> String {
        let mut out = b"prefix".to_vec();
        let outcome = JsonSettings.encode(&event(json), &mut out);
        assert_eq!(outcome, Encoded::default());
        assert!(out.starts_with(b"prefix"), "appends to what is there");
        String::from_utf8(out.split_off(6)).expect("utf8")
    }

    #[test]
    fn envelope_carries_type_id_timestamp_and_the_whole_event() {
        assert_eq!(
            encode(r#"{"event":"x","id":"a","timestamp":"2024-05-01T12:00:00.1234567Z","n":[1,{"b":null}],"s":"é\n"}"#),
            r#"{"schema_version":1,"event":"x","id":"a","timestamp":"2024-05-01T12:00:00.123456Z","data":{"event":"x","id":"a","timestamp":"2024-05-01T12:00:00.1234567Z","n":[1,{"b":null}],"s":"é\n"}}"#
        );
    }

    #[test]
    fn filled_in_id_and_timestamp_appear_in_both_places() {
        let out = encode(r#"{"event":"scan_started"}"#);
        let value: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(value["timestamp"], "2024-05-01T12:00:00Z");
        assert_eq!(value["data"]["timestamp"], "2024-05-01T12:00:00Z");
        assert_eq!(value["id"].as_str().map(str::len), Some(36));
        assert_eq!(value["id"], value["data"]["id"]);
    }

    #[test]
    fn golden_finding() {
        let mut out = Vec::new();
        let _ = JsonSettings.encode(&event(FINDING), &mut out);
        assert!(!out.contains(&b'\n'), "compact, no trailing newline");
        assert_eq!(pretty(&out), include_str!("../../tests/golden/json_envelope.json").trim_end());
    }

    #[test]
    fn card_summary_helpers() {
        let finding = event(FINDING);
        assert_eq!(card_title(&finding), "SQL injection in /login");
        assert_eq!(card_title(&event(r#"{"event":"x","title":"  "}"#)), "x");
        assert_eq!(severity_text(event(r#"{"event":"x","severity":9}"#).severity()), "critical (9)");
        assert_eq!(severity_text(event(r#"{"event":"x","severity":"LOW"}"#).severity()), "low");
        let values = event(r#"{"event":"x","n":1.5,"o":{ "a" : [true] },"z":null,"e":"","s":"a\"b"}"#);
        assert_eq!(field_text(values.field("n")).as_deref(), Some("1.5"));
        assert_eq!(field_text(values.field("o")).as_deref(), Some(r#"{"a":[true]}"#));
        assert_eq!(field_text(values.field("z")), None);
        assert_eq!(field_text(values.field("e")), None);
        assert_eq!(field_text(values.field("s")).as_deref(), Some("a\"b"));
        assert_eq!(description_text(&event(r#"{"event":"x","description":" \n"}"#)), None);

        let fields = vec![("CWE".to_owned(), "data.cwe".to_owned()), ("Gone".to_owned(), "nope".to_owned())];
        let facts = card_facts(&finding, &fields);
        let shown: Vec<(&str, &str)> = facts.iter().map(|fact| (fact.label, fact.value.as_ref())).collect();
        assert_eq!(
            shown,
            [
                ("Severity", "high"),
                ("Event type", "finding_added"),
                ("Host", "web-1"),
                ("Id", "f-1"),
                ("Time", "2024-05-01T14:00:00.250+02:00"),
                ("CWE", "CWE-89"),
            ]
        );
        let minimal = event(r#"{"event":"x","id":"1","timestamp":"2024-05-01T12:00:00Z"}"#);
        let no_host = card_facts(&minimal, &[]);
        let labels: Vec<&str> = no_host.iter().map(|fact| fact.label).collect();
        assert_eq!(labels, ["Severity", "Event type", "Id", "Time"]);
    }
}
