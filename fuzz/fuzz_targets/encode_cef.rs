//! The CEF encoder on any event the decoder accepts: never panics, never writes a raw line
//! break, honours the size limit, and always writes a record the strict CEF parser accepts.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/support/cef_strict.rs"]
mod cef_strict;

use libfuzzer_sys::fuzz_target;
use siem_relay::encode::cef::dictionary;
use siem_relay::encode::cef::{Cef, CefSettings, Mapping, SeverityForm, SyslogPrefix};
use siem_relay::event::Event;
use siem_relay::timestamp::Timestamp;

const KEYS: &[(&str, &str)] = &[
    ("rt", "timestamp"),
    ("externalId", "id"),
    ("msg", "description"),
    ("src", "source_ip"),
    ("spt", "source_port"),
    ("smac", "mac"),
    ("cn1", "count"),
    ("cfp1", "score"),
    ("start", "started"),
    ("cs1", "data.note"),
    ("AcmeCustomKey", "custom"),
];

fuzz_target!(|input: (u16, bool, bool, &[u8])| {
    let (limit, v1, named, line) = input;
    let Ok(event) = Event::decode(line, Timestamp::from_unix(1_700_000_000, 0, 6)) else { return };
    let max_bytes = (limit >= 480).then_some(usize::from(limit));
    let mapping = KEYS
        .iter()
        .map(|(key, path)| {
            let label = (*key == "cs1").then_some(("cs1Label", "Note=|\\"));
            Mapping::new(key, path, dictionary::lookup(key).unwrap_or(dictionary::CUSTOM_KEY), label)
        })
        .collect();
    let encoder = Cef::new(CefSettings {
        version: u8::from(v1),
        vendor: "Ven|dor\\",
        product: "Product",
        device_version: "1.0",
        severity: if named { SeverityForm::Name } else { SeverityForm::Number },
        mapping,
        prefix: SyslogPrefix::None,
        max_bytes,
    });
    let mut out = Vec::new();
    let _ = encoder.encode(&event, &mut out);
    assert!(!out.contains(&b'\n') && !out.contains(&b'\r'), "raw line break");
    if let Some(max) = max_bytes {
        assert!(out.len() <= max, "{} > {max}", out.len());
    }
    let text = std::str::from_utf8(&out).expect("UTF-8 output");
    // Every accepted limit (480 and up, above this sink's longest header) holds a whole record.
    if let Err(error) = cef_strict::parse(text) {
        panic!("invalid CEF ({error}): {text:?}");
    }
});
