//! The input line decoder on arbitrary bytes: never panics; an accepted event has a non-empty
//! type and id, and re-decoding its JSON gives the same event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use siem_relay::event::Event;
use siem_relay::timestamp::Timestamp;

fuzz_target!(|line: &[u8]| {
    let received = Timestamp::from_unix(1_700_000_000, 0, 6);
    let Ok(event) = Event::decode(line, received) else { return };
    assert!(!event.event_type().is_empty());
    assert!(!event.id().is_empty());
    let json = serde_json::to_vec(event.fields()).expect("fields serialize");
    let again = Event::decode(&json, received).expect("re-decoding an accepted event");
    assert_eq!(again.fields(), event.fields());
    assert_eq!(again.timestamp(), event.timestamp());
    assert_eq!(again.severity(), event.severity());
});
