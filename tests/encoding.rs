//! Property tests: whatever an agent sends, the RFC 5424 encoder's output is valid by the
//! strict parser (written from the RFC's ABNF, not from our encoder) and carries the event's
//! values, escaped and unescaped exactly.

use proptest::prelude::*;
use siem_relay::encode::rfc5424::{Rfc5424, Rfc5424Settings, SdField};
use siem_relay::encode::MessageSource;
use siem_relay::event::Event;
use siem_relay::timestamp::Timestamp;

use crate::support::rfc5424_strict::{self, Msg};

fn encoder(max: Option<usize>, message: MessageSource) -> Rfc5424 {
    let fields =
        vec![SdField { name: "note".into(), path: "note".into() }, SdField { name: "n".into(), path: "data.n".into() }];
    Rfc5424::new(Rfc5424Settings {
        facility: 10,
        hostname: "relay",
        app_name: "siem-relay",
        procid: "1",
        sd_id: "siem@32473",
        sd_fields: fields,
        message,
        max_bytes: max,
        original_host: true,
    })
}

fn any_text() -> impl Strategy<Value = String> {
    // Every interesting class: ASCII specials, controls, multi-byte characters.
    proptest::collection::vec(
        prop_oneof![
            Just('"'),
            Just('\\'),
            Just(']'),
            Just('['),
            Just('='),
            Just(' '),
            Just('\n'),
            Just('\u{0}'),
            Just('\u{feff}'),
            any::<char>(),
            proptest::char::range('a', 'z'),
        ],
        0..60,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn event(kind: &str, id: &str, title: &str, host: &str, note: &str, n: i64, timestamp: &str) -> Event {
    let mut object = serde_json::json!({"event": kind, "id": id, "title": title, "note": note, "data": {"n": n}, "timestamp": timestamp});
    if !host.is_empty() {
        object["host"] = serde_json::Value::from(host);
    }
    Event::decode(object.to_string().as_bytes(), Timestamp::now()).expect("valid event")
}

fn timestamps() -> impl Strategy<Value = String> {
    (1970u32..2100, 1u32..13, 1u32..29, 0u32..24, 0u32..60, 0u32..61, proptest::option::of(1usize..10), -1439i32..1440)
        .prop_map(|(y, mo, d, h, mi, s, frac, offset)| {
            let frac = frac.map(|n| format!(".{}", "7".repeat(n))).unwrap_or_default();
            let zone = if offset == 0 {
                "Z".to_owned()
            } else {
                format!("{}{:02}:{:02}", if offset < 0 { '-' } else { '+' }, offset.abs() / 60, offset.abs() % 60)
            };
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{zone}")
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn every_event_encodes_to_valid_rfc5424_carrying_its_values(
        kind in any_text().prop_filter("event type must not be empty", |s| !s.is_empty()),
        id in any_text().prop_filter("id must not be empty", |s| !s.is_empty()),
        title in any_text(),
        host in any_text(),
        note in any_text(),
        n in any::<i64>(),
        timestamp in timestamps(),
    ) {
        let event = event(&kind, &id, &title, &host, &note, n, &timestamp);
        let mut out = Vec::new();
        let outcome = encoder(None, MessageSource::Title).encode(&event, &mut out);
        prop_assert!(!outcome.truncated);
        let message = rfc5424_strict::parse(&out).map_err(|e| TestCaseError::fail(format!("{e}: {:?}", String::from_utf8_lossy(&out))))?;
        prop_assert_eq!(message.sd_param("siem@32473", "id"), Some(id.as_str()));
        let expected_note = note.as_str();
        prop_assert_eq!(message.sd_param("siem@32473", "note"), Some(expected_note));
        let expected_n = n.to_string();
        prop_assert_eq!(message.sd_param("siem@32473", "n"), Some(expected_n.as_str()));
        // A present title is MSG even when empty (then MSG is left out entirely).
        let shown_title = title.as_str();
        match message.msg {
            Some(Msg::Utf8(text)) => prop_assert_eq!(text, shown_title),
            Some(Msg::Any(bytes)) => prop_assert_eq!(bytes, shown_title.as_bytes()),
            None => prop_assert!(shown_title.is_empty()),
        }
        prop_assert!(message.msgid.is_some_and(|m| m.len() <= 32));
        prop_assert!(message.hostname.is_some_and(|h| h.len() <= 255));
    }

    #[test]
    fn truncated_messages_stay_valid_and_within_the_limit(
        title in any_text(),
        note in any_text(),
        id in any_text().prop_filter("id must not be empty", |s| !s.is_empty()),
        repeat in 1usize..40,
        max in 480usize..1500,
        json in any::<bool>(),
    ) {
        let event = event("finding", &id.repeat(repeat), &title.repeat(repeat), "", &note.repeat(repeat), 1, "2024-05-01T12:00:00Z");
        let message = if json { MessageSource::Json } else { MessageSource::Title };
        let mut out = Vec::new();
        let _ = encoder(Some(max), message).encode(&event, &mut out);
        prop_assert!(out.len() <= max, "{} > {}", out.len(), max);
        let parsed = rfc5424_strict::parse(&out).map_err(|e| TestCaseError::fail(format!("{e}: {:?}", String::from_utf8_lossy(&out))));
        prop_assert!(parsed.is_ok());
    }
}
