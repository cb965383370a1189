//! The RFC 5424 encoder on any event the decoder accepts: never panics, honours the size
//! limit, and always writes a message the strict RFC 5424 parser accepts.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/support/rfc5424_strict.rs"]
mod rfc5424_strict;

use libfuzzer_sys::fuzz_target;
use siem_relay::encode::rfc5424::{Rfc5424, Rfc5424Settings, SdField};
use siem_relay::encode::MessageSource;
use siem_relay::event::Event;
use siem_relay::timestamp::Timestamp;

fuzz_target!(|input: (u16, bool, &[u8])| {
    let (limit, json, line) = input;
    let Ok(event) = Event::decode(line, Timestamp::from_unix(1_700_000_000, 0, 6)) else { return };
    let max_bytes = (limit >= 480).then_some(usize::from(limit));
    let encoder = Rfc5424::new(Rfc5424Settings {
        facility: 16,
        hostname: "fuzz-host",
        app_name: "siem-relay",
        procid: "1",
        sd_id: "siem@32473",
        sd_fields: vec![
            SdField { name: "url".into(), path: "data.url".into() },
            SdField { name: "note".into(), path: "note".into() },
        ],
        message: if json { MessageSource::Json } else { MessageSource::Title },
        max_bytes,
        original_host: true,
    });
    let mut out = Vec::new();
    let _ = encoder.encode(&event, &mut out);
    if let Some(max) = max_bytes {
        assert!(out.len() <= max, "{} > {max}", out.len());
    }
    // Valid by the strict parser the integration tests use, written from RFC 5424's ABNF.
    if let Err(error) = rfc5424_strict::parse(&out) {
        panic!("invalid RFC 5424 ({error}): {:?}", String::from_utf8_lossy(&out));
    }
});
