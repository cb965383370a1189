//! The LEEF encoder on any event the decoder accepts, for both versions and several
//! delimiters: never panics, honours the size limit, and always writes a record the strict
//! LEEF parser (written from IBM's guide) accepts.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/support/leef_strict.rs"]
mod leef_strict;

use libfuzzer_sys::fuzz_target;
use siem_relay::encode::leef::{dictionary, Leef, LeefSettings, LeefVersion, Mapping};
use siem_relay::encode::syslog::SyslogPrefix;
use siem_relay::event::Event;
use siem_relay::timestamp::Timestamp;

const KEYS: &[(&str, &str)] = &[
    ("devTime", "timestamp"),
    ("sev", "severity"),
    ("src", "source_ip"),
    ("srcPort", "source_port"),
    ("srcMAC", "mac"),
    ("usrName", "user"),
    ("isLoginEvent", "login"),
    ("totalPackets", "count"),
    ("title", "title"),
    ("AcmeNote", "data.note"),
];

const DELIMITERS: &[(char, &str)] = &[('\t', "x09"), ('^', "^"), ('#', "0x23"), ('¦', "xA6")];

fuzz_target!(|input: (u16, bool, u8, &[u8])| {
    let (limit, v1, delimiter, line) = input;
    let Ok(event) = Event::decode(line, Timestamp::from_unix(1_700_000_000, 0, 6)) else { return };
    let max_bytes = (limit >= 480).then_some(usize::from(limit));
    let (delimiter, delimiter_field) = DELIMITERS[usize::from(delimiter) % DELIMITERS.len()];
    let mapping = KEYS
        .iter()
        .map(|(key, path)| Mapping::plain(key, path, dictionary::lookup(key).unwrap_or(dictionary::CUSTOM_KEY)))
        .collect();
    let encoder = Leef::new(LeefSettings {
        version: if v1 { LeefVersion::V1 } else { LeefVersion::V2 },
        vendor: "Vendor",
        product: "Product",
        device_version: "1.0",
        delimiter,
        delimiter_field,
        mapping,
        prefix: SyslogPrefix::None,
        max_bytes,
    });
    let mut out = Vec::new();
    let _ = encoder.encode(&event, &mut out);
    if let Some(max) = max_bytes {
        assert!(out.len() <= max, "{} > {max}", out.len());
    }
    let text = std::str::from_utf8(&out).expect("UTF-8 output");
    if let Err(error) = leef_strict::parse(text) {
        panic!("invalid LEEF ({error}): {text:?}");
    }
});
