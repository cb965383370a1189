//! The input line decoder on arbitrary bytes, differentially against serde_json: never panics;
//! it takes a line as JSON exactly when serde_json does; an accepted event's compact text
//! holds the same values serde_json reads from the line; re-decoding that text gives the same
//! event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use siem_relay::event::{DecodeError, Event};
use siem_relay::timestamp::Timestamp;

fuzz_target!(|line: &[u8]| {
    let received = Timestamp::from_unix(1_700_000_000, 0, 6);
    let decoded = Event::decode(line, received);
    let Ok(text) = std::str::from_utf8(line) else {
        assert!(matches!(decoded, Err(DecodeError::InvalidUtf8 { .. })));
        return;
    };
    let theirs = serde_json::from_str::<serde_json::Value>(text);
    match (&decoded, &theirs) {
        (Err(DecodeError::InvalidJson(why)), Ok(_)) => panic!("we reject JSON serde_json takes: {why}"),
        (Err(DecodeError::NotAnObject), Ok(value)) => assert!(!value.is_object()),
        (Err(DecodeError::NotAnObject), Err(_)) => panic!("serde_json rejects what we call valid"),
        (Ok(_), Err(error)) => panic!("we take what serde_json rejects: {error}"),
        _ => {}
    }
    let Ok(event) = decoded else { return };
    assert!(!event.event_type().is_empty());
    assert!(!event.id().is_empty());
    let ours: serde_json::Value = serde_json::from_str(event.json()).expect("compact text is JSON");
    if let (Ok(serde_json::Value::Object(theirs)), serde_json::Value::Object(ours)) = (&theirs, &ours) {
        for (key, value) in theirs {
            assert_eq!(ours.get(key), Some(value), "field {key:?}");
        }
        assert_eq!(ours.get("event").and_then(|v| v.as_str()), Some(event.event_type()));
        assert_eq!(ours.get("id").and_then(|v| v.as_str()), Some(event.id()));
    }
    let again = Event::decode(event.json().as_bytes(), received).expect("re-decoding an accepted event");
    assert_eq!(again.json(), event.json());
    assert_eq!(again.timestamp(), event.timestamp());
    assert_eq!(again.severity(), event.severity());
});
