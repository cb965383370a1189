//! Exact-byte tests of the LEEF encoder: both versions, delimiters, the replacement of what
//! LEEF cannot carry, typed values, devTime, and the size limit.

use super::*;
use crate::encode::rfc5424::Rfc5424Header;
use crate::timestamp::Timestamp;

fn event(json: &str) -> Event {
    let received = Timestamp::parse_rfc3339("2024-05-01T12:00:00Z").expect("valid");
    Event::decode(json.as_bytes(), received).expect("valid event")
}

fn mapping(entries: &[(&str, &str)]) -> Vec<Mapping> {
    entries
        .iter()
        .map(|(key, path)| Mapping::plain(key, path, dictionary::lookup(key).unwrap_or(dictionary::CUSTOM_KEY)))
        .collect()
}

fn leef(entries: &[(&str, &str)]) -> LeefSettings<'static> {
    LeefSettings {
        version: LeefVersion::V2,
        vendor: "Acme",
        product: "Scanner",
        device_version: "1.0",
        delimiter: '\t',
        delimiter_field: "x09",
        mapping: mapping(entries),
        prefix: SyslogPrefix::None,
        max_bytes: None,
    }
}

fn encode(settings: LeefSettings<'_>, json: &str) -> (String, Encoded) {
    let mut out = Vec::new();
    let outcome = Leef::new(settings).encode(&event(json), &mut out);
    (String::from_utf8(out).expect("utf8"), outcome)
}

#[test]
fn writes_the_header_and_typed_attributes() {
    let (out, outcome) = encode(
        leef(&[
            ("devTime", "timestamp"),
            ("sev", "severity"),
            ("src", "source_ip"),
            ("srcPort", "port"),
            ("usrName", "user"),
        ]),
        r#"{"event":"finding_added","timestamp":"2024-05-01T12:00:00.250+02:00","severity":"high","source_ip":"10.0.0.5","port":"443","user":"alice"}"#,
    );
    assert_eq!(
        out,
        "LEEF:2.0|Acme|Scanner|1.0|finding_added|x09|devTime=2024-05-01T12:00:00.250+0200\tdevTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ\tsev=8\tsrc=10.0.0.5\tsrcPort=443\tusrName=alice"
    );
    assert_eq!(outcome, Encoded::default());
}

#[test]
fn leef_1_always_uses_tabs_and_has_no_delimiter_field() {
    let settings = LeefSettings {
        version: LeefVersion::V1,
        delimiter: '^',
        delimiter_field: "^",
        ..leef(&[("sev", "severity"), ("cat", "c")])
    };
    let (out, _) = encode(settings, r#"{"event":"x","c":"a^b"}"#);
    assert_eq!(out, "LEEF:1.0|Acme|Scanner|1.0|x|sev=1\tcat=a^b");
}

#[test]
fn another_delimiter_separates_attributes_and_is_replaced_in_values() {
    let settings = LeefSettings { delimiter: '^', delimiter_field: "^", ..leef(&[("cat", "c"), ("msg", "d")]) };
    let (out, outcome) = encode(settings, r#"{"event":"x","c":"a^b=c","d":"tab\there"}"#);
    assert_eq!(out, "LEEF:2.0|Acme|Scanner|1.0|x|^|cat=a b=c^msg=tab here");
    assert!(outcome.sanitized);
    let settings = LeefSettings { delimiter: '¦', delimiter_field: "xA6", ..leef(&[("cat", "c"), ("msg", "d")]) };
    let (out, _) = encode(settings, r#"{"event":"x","c":"a¦b","d":"é"}"#);
    assert_eq!(out, "LEEF:2.0|Acme|Scanner|1.0|x|xA6|cat=a b¦msg=é");
}

#[test]
fn event_ids_lose_pipes_and_control_characters_and_stop_at_255_bytes() {
    let (out, outcome) = encode(leef(&[]), r#"{"event":"scan|done\u0000now"}"#);
    assert_eq!(out, "LEEF:2.0|Acme|Scanner|1.0|scan done now|x09|");
    assert!(outcome.sanitized);
    let (out, outcome) = encode(leef(&[]), &format!(r#"{{"event":"{}"}}"#, "é".repeat(200)));
    assert_eq!(out, format!("LEEF:2.0|Acme|Scanner|1.0|{}|x09|", "é".repeat(127)));
    assert!(outcome.truncated);
}

#[test]
fn values_of_the_wrong_type_are_left_out_and_counted() {
    let (out, outcome) = encode(
        leef(&[("src", "a"), ("dstPort", "p"), ("srcMAC", "m"), ("isLoginEvent", "l"), ("sev", "s"), ("devTime", "t")]),
        r#"{"event":"x","a":"not-an-ip","p":70000,"m":"00:11:22:33:44:55","l":"TRUE","s":11,"t":"yesterday"}"#,
    );
    assert_eq!(out, "LEEF:2.0|Acme|Scanner|1.0|x|x09|srcMAC=00:11:22:33:44:55\tisLoginEvent=true");
    assert_eq!(outcome.invalid_fields, 4);
    let (out, _) = encode(leef(&[("src", "a")]), r#"{"event":"x","a":"2001:db8::1"}"#);
    assert!(out.ends_with("src=2001:db8::1"), "LEEF takes IPv6 addresses: {out}");
}

#[test]
fn a_size_limit_drops_attributes_from_the_end_then_cuts_the_event_id() {
    let settings = || LeefSettings { max_bytes: Some(60), ..leef(&[("sev", "severity"), ("msg", "d")]) };
    let (out, outcome) = encode(settings(), r#"{"event":"x","d":"this text does not fit in the limit"}"#);
    assert_eq!(out, "LEEF:2.0|Acme|Scanner|1.0|x|x09|sev=1");
    assert!(outcome.truncated);
    let (out, _) = encode(settings(), &format!(r#"{{"event":"{}"}}"#, "e".repeat(100)));
    assert_eq!(out, format!("LEEF:2.0|Acme|Scanner|1.0|{}|x09|", "e".repeat(29)));
}

#[test]
fn the_least_limit_holds_a_record_from_any_event() {
    let prefix = SyslogPrefix::Rfc5424(Rfc5424Header::new(23, "relay", "siem-relay", "4294967295"));
    let least = Leef::new(LeefSettings { prefix: prefix.clone(), ..leef(&[]) }).min_message_bytes();
    let settings = LeefSettings { prefix, max_bytes: Some(least), ..leef(&[("sev", "severity")]) };
    let json = format!(
        r#"{{"event":"😀{}","host":"{}","severity":"critical","timestamp":"2024-12-31T23:59:59.999999+14:00"}}"#,
        "t".repeat(300),
        "h".repeat(300)
    );
    let (out, _) = encode(settings, &json);
    assert_eq!(out.len(), least, "the least limit is exactly the longest header");
    assert!(out.ends_with("LEEF:2.0|Acme|Scanner|1.0|😀|x09|"), "{out}");
}

#[test]
fn delimiter_settings_take_a_character_or_its_hex_form() {
    assert_eq!(parse_delimiter("^"), Ok('^'));
    assert_eq!(parse_delimiter("x5E"), Ok('^'));
    assert_eq!(parse_delimiter("0x09"), Ok('\t'));
    assert_eq!(parse_delimiter("xA6"), Ok('¦'));
    for bad in ["", "ab", "x", "x12345", "xZZ", "=", "|", " ", "a", "7", "x0A", "0xD800"] {
        assert!(parse_delimiter(bad).is_err(), "{bad:?}");
    }
}
