//! LEEF end to end: property tests against the strict parser (written from IBM's guide, not
//! from our encoder), an adversarial corpus, the daemon over TCP, and real rsyslog and
//! syslog-ng receivers whose stored messages must hold the record intact.

use std::time::Duration;

use proptest::prelude::*;
use siem_relay::config::Config;
use siem_relay::event::Event;
use siem_relay::timestamp::Timestamp;

use crate::support::blocking;
use crate::support::daemon::TestDaemon;
use crate::support::eventually;
use crate::support::leef_strict::{self, Record};
use crate::support::listeners::StreamReceiver;
use crate::support::receivers::{Kind, Receiver, Transport};
use crate::support::rfc5424_strict::{self, Msg};

const WAIT: Duration = Duration::from_secs(30);

/// A LEEF sink's config, all through the real config path.
fn sink(version: &str, delimiter: Option<&str>, header: &str) -> String {
    let delimiter = delimiter.map(|d| format!("leef_delimiter = \"{d}\"\n")).unwrap_or_default();
    format!(
        "hostname = \"relay\"\n[sinks.qradar]\nformat = \"leef\"\nurl = \"tcp://127.0.0.1:514\"\nsyslog_header = \"{header}\"\n\
         leef_version = \"{version}\"\n{delimiter}device_vendor = \"Acme\"\ndevice_product = \"Scanner\"\n\
         mapping = {{ AcmeNote = \"note\", dstPort = \"port\" }}\n"
    )
}

fn encode(config: &str, json: &str) -> Vec<u8> {
    let config = Config::parse(config, "leef-test").unwrap_or_else(|e| panic!("{e}"));
    let event = Event::decode(json.as_bytes(), Timestamp::now()).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    let _ = config.sinks[0].encoder.encode(&event, &mut out);
    out
}

/// What LEEF can carry of `text` by the guide's rules: at most `max` bytes (cut on a character
/// boundary), with the delimiter and every control character as a space (LEEF has no escapes).
fn carried(text: &str, max: usize, delimiter: char) -> String {
    let mut cut = max.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text[..cut].chars().map(|c| if c.is_control() || c == delimiter { ' ' } else { c }).collect()
}

fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just('\t'),
        Just('^'),
        Just('#'),
        Just('¦'),
        Just('='),
        Just('|'),
        Just(' '),
        Just('\n'),
        Just('\r'),
        Just('\u{0}'),
        Just('\u{85}'),
        Just('é'),
        Just('😀'),
        any::<char>(),
        proptest::char::range('a', 'z'),
    ];
    (proptest::collection::vec(piece, 0..30), prop_oneof![4 => Just(1usize), 1 => 1usize..300])
        .prop_map(|(chars, repeat)| chars.into_iter().collect::<String>().repeat(repeat))
}

fn parse_record(record: &[u8]) -> Result<Record, String> {
    let text = std::str::from_utf8(record).map_err(|e| e.to_string())?;
    leef_strict::parse(text).map_err(|e| format!("{e}: {text:?}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn any_values_round_trip_through_the_strict_parser(
        (version, delimiter, delimiter_char) in prop_oneof![
            Just(("1.0", None, '\t')),
            Just(("2.0", None, '\t')),
            Just(("2.0", Some("^"), '^')),
            Just(("2.0", Some("x23"), '#')),
            Just(("2.0", Some("0xA6"), '¦')),
        ],
        kind in text().prop_filter("event type", |s| !s.is_empty()),
        title in text(),
        user in text(),
        note in text(),
        host in text(),
        port in any::<i32>(),
    ) {
        let json = serde_json::json!({"event": kind, "title": title, "user": user, "note": note, "host": host, "port": port, "severity": "medium", "timestamp": "2024-05-01T12:00:00.250+02:00"});
        let out = encode(&sink(version, delimiter, "none"), &json.to_string());
        let record = parse_record(&out).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&record.version, version);
        prop_assert_eq!(record.delimiter, delimiter_char);
        prop_assert_eq!((record.vendor.as_str(), record.product.as_str()), ("Acme", "Scanner"));
        prop_assert_eq!(&record.event_id, &carried(&kind, 255, '|'));
        prop_assert_eq!(record.get("devTime"), Some("2024-05-01T12:00:00.250+0200"));
        prop_assert_eq!(record.get("sev"), Some("5"));
        prop_assert_eq!(record.get("title").map(str::to_owned), Some(carried(&title, 4000, delimiter_char)));
        prop_assert_eq!(record.get("usrName").map(str::to_owned), Some(carried(&user, 255, delimiter_char)));
        prop_assert_eq!(record.get("identHostName").map(str::to_owned), Some(carried(&host, 255, delimiter_char)));
        prop_assert_eq!(record.get("AcmeNote").map(str::to_owned), Some(carried(&note, 4000, delimiter_char)));
        let expected_port = u16::try_from(port).ok().map(|p| p.to_string());
        prop_assert_eq!(record.get("dstPort"), expected_port.as_deref());
    }

    #[test]
    fn behind_a_syslog_header_the_record_is_the_whole_msg(
        kind in text().prop_filter("event type", |s| !s.is_empty()),
        note in text(),
    ) {
        let json = serde_json::json!({"event": kind, "note": note});
        let out = encode(&sink("2.0", None, "rfc5424"), &json.to_string());
        let message = rfc5424_strict::parse(&out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let Some(Msg::Any(record)) = message.msg else { return Err(TestCaseError::fail("expected the record as MSG")) };
        let record = parse_record(record).map_err(TestCaseError::fail)?;
        prop_assert_eq!(record.get("AcmeNote").map(str::to_owned), Some(carried(&note, 4000, '\t')));
    }
}

/// Every rule at once, each case checked value by value against what the guide allows.
#[test]
fn the_adversarial_corpus_parses_strictly_with_the_expected_values() {
    let long = "L".repeat(10_000);
    let cases: &[(&str, &str)] = &[
        ("delimiter", "a\tb"),
        ("caret", "a^b^c"),
        ("equals", "key=value=more"),
        ("pipe", "a|b||c"),
        ("newlines", "line1\nline2\r\nline3"),
        ("nul and c1", "a\u{0}b\u{85}c\u{9f}"),
        ("non-ascii", "Überprüfung 😀 中文"),
        ("empty", ""),
        ("spaces", "  leading and trailing  "),
        ("looks like a pair", "x\tsev=10\tsrc=1.2.3.4"),
        ("very long", &long),
    ];
    for delimiter in [None, Some("^")] {
        let delimiter_char = if delimiter.is_some() { '^' } else { '\t' };
        for (name, value) in cases {
            let json =
                serde_json::json!({"event": format!("type|{value}"), "note": value, "user": value, "severity": 3});
            let out = encode(&sink("2.0", delimiter, "none"), &json.to_string());
            let record = parse_record(&out).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(record.get("AcmeNote"), Some(carried(value, 4000, delimiter_char).as_str()), "{name}");
            assert_eq!(record.get("usrName"), Some(carried(value, 255, delimiter_char).as_str()), "{name}");
            assert_eq!(record.event_id, carried(&format!("type|{value}"), 255, '|'), "{name}");
            assert_eq!(record.get("sev"), Some("3"), "{name}: an injected sev must not win");
            assert_eq!(record.get("src"), None, "{name}: an injected src must not appear");
        }
    }
}

/// Over TCP through the daemon: LEEF 1.0 and 2.0 records arrive whole and parse strictly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_sends_strict_leef_over_tcp() {
    let receiver = StreamReceiver::tcp().await;
    let config = sink("2.0", Some("^"), "rfc5424").replace("tcp://127.0.0.1:514", &receiver.url("tcp"));
    let daemon = TestDaemon::start(&config).await;
    let events = [
        r#"{"event":"finding_added","id":"f-1","title":"SQL injection","source_ip":"10.0.0.5","source_port":51515,"user":"alice^admin","host":"web-1","severity":"critical","timestamp":"2024-05-01T10:00:00.123+02:00"}"#,
        r#"{"event":"login|failed","severity":2,"description":"bad\tpassword\nagain","destination_ip":"2001:db8::1"}"#,
    ];
    assert_eq!(daemon.send(&events.join("\n")).await.accepted, 2);
    assert!(eventually(WAIT, || receiver.octet_frames().len() == 2).await, "two records expected");
    let records: Vec<Record> = receiver
        .octet_frames()
        .iter()
        .map(|frame| {
            let message = rfc5424_strict::parse(frame).unwrap_or_else(|e| panic!("{e}"));
            let Some(Msg::Any(record)) = message.msg else { panic!("expected the LEEF record as MSG") };
            parse_record(record).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    assert_eq!(records[0].event_id, "finding_added");
    assert_eq!(records[0].get("devTime"), Some("2024-05-01T10:00:00.123+0200"));
    assert_eq!(records[0].get("sev"), Some("10"));
    assert_eq!(records[0].get("src"), Some("10.0.0.5"));
    assert_eq!(records[0].get("srcPort"), Some("51515"));
    assert_eq!(records[0].get("usrName"), Some("alice admin"));
    assert_eq!(records[0].get("id"), Some("f-1"));
    assert_eq!(records[1].event_id, "login failed");
    assert_eq!(records[1].get("msg"), Some("bad password again"));
    assert_eq!(records[1].get("dst"), Some("2001:db8::1"));
    let report = daemon.stop().await;
    assert_eq!(crate::support::daemon::get(&report.sinks[0].1.sanitized), 2);
}

/// What a real receiver stored is the record, byte for byte, and parses strictly.
async fn through_receiver(kind: Kind, version: &str) -> usize {
    let dir = tempfile::tempdir().expect("tempdir");
    let workdir = dir.path().to_owned();
    let receiver = blocking(move || Receiver::start(kind, Transport::TcpOctetCounted, &workdir)).await;
    let config =
        sink(version, None, "rfc5424").replace("tcp://127.0.0.1:514", &format!("tcp://127.0.0.1:{}", receiver.port()));
    let events = [
        r#"{"event":"finding_added","id":"f-7","title":"XSS in /search","source_ip":"192.0.2.7","user":"bob","note":"a=b|c^d é","severity":"high","timestamp":"2024-05-01T10:00:00Z"}"#,
        r#"{"event":"scan_done","id":"s-8","note":"tab\there","severity":0,"timestamp":"2024-05-01T10:00:01.5-04:00"}"#,
    ];
    let expected: Vec<Vec<u8>> = events.iter().map(|json| leef_part(&encode(&config, json))).collect();
    let daemon = TestDaemon::start(&config).await;
    assert_eq!(daemon.send(&events.join("\n")).await.accepted, 2);
    let records = blocking(move || receiver.expect_records(2, WAIT)).await;
    daemon.stop().await;
    for (record, expected) in records.iter().zip(&expected) {
        assert_eq!(record.msg.as_bytes(), &expected[..], "{} changed the record", kind.name());
        let parsed = leef_strict::parse(&record.msg).unwrap_or_else(|e| panic!("{}: {e}", kind.name()));
        assert_eq!(parsed.version, version);
    }
    let first = leef_strict::parse(&records[0].msg).expect("valid");
    assert_eq!(first.get("AcmeNote"), Some("a=b|c^d é"));
    assert_eq!(first.get("usrName"), Some("bob"));
    records.len()
}

/// The LEEF record of an RFC 5424 message (its MSG).
fn leef_part(message: &[u8]) -> Vec<u8> {
    let at = message.windows(5).position(|w| w == b"LEEF:").expect("a LEEF record");
    message[at..].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(interop_unavailable, ignore = "needs rsyslog: see the build warning")]
async fn rsyslog_keeps_leef_records_intact() {
    let checked = through_receiver(Kind::Rsyslog, "2.0").await + through_receiver(Kind::Rsyslog, "1.0").await;
    eprintln!("rsyslog: {checked} LEEF records checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(interop_unavailable, ignore = "needs syslog-ng: see the build warning")]
async fn syslog_ng_keeps_leef_records_intact() {
    let checked = through_receiver(Kind::SyslogNg, "2.0").await + through_receiver(Kind::SyslogNg, "1.0").await;
    eprintln!("syslog-ng: {checked} LEEF records checked");
}
