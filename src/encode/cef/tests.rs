//! Exact-byte tests of the CEF encoder: every escaping rule, every severity, truncation on
//! multi-byte characters, and the mapping table with present, absent and wrongly typed fields.

use super::*;
use crate::encode::rfc3164::Rfc3164Header;
use crate::encode::rfc5424::Rfc5424Header;
use crate::timestamp::Timestamp;

fn event(json: &str) -> Event {
    let received = Timestamp::parse_rfc3339("2024-05-01T12:00:00Z").expect("valid");
    Event::decode(json.as_bytes(), received).expect("valid event")
}

fn mapping(entries: &[(&str, &str)]) -> Vec<Mapping> {
    entries
        .iter()
        .map(|(key, path)| Mapping::new(key, path, dictionary::lookup(key).unwrap_or(dictionary::CUSTOM_KEY), None))
        .collect()
}

fn cef(entries: &[(&str, &str)]) -> CefSettings<'static> {
    CefSettings {
        version: 0,
        vendor: "Acme",
        product: "Scanner",
        device_version: "1.0",
        severity: SeverityForm::Number,
        mapping: mapping(entries),
        prefix: SyslogPrefix::None,
        max_bytes: None,
    }
}

fn encode(settings: CefSettings<'_>, json: &str) -> (String, Encoded) {
    let mut out = Vec::new();
    let outcome = Cef::new(settings).encode(&event(json), &mut out);
    (String::from_utf8(out).expect("utf8"), outcome)
}

#[test]
fn writes_the_header_and_mapped_extension() {
    let (out, outcome) = encode(
        cef(&[("rt", "timestamp"), ("externalId", "id"), ("src", "source_ip"), ("suser", "user")]),
        r#"{"event":"finding_added","id":"f-1","timestamp":"2024-05-01T12:00:00.250Z","severity":"high","title":"SQL injection","source_ip":"10.0.0.5","user":"alice"}"#,
    );
    assert_eq!(
        out,
        "CEF:0|Acme|Scanner|1.0|finding_added|SQL injection|8|rt=1714564800250 externalId=f-1 src=10.0.0.5 suser=alice"
    );
    assert_eq!(outcome, Encoded::default());
}

#[test]
fn header_fields_escape_pipe_and_backslash_and_never_carry_line_breaks() {
    let settings = CefSettings { vendor: r"Ac|me\", product: "Scan=ner", ..cef(&[]) };
    let (out, _) = encode(settings, r#"{"event":"type|with\\pipe","title":"line\nbreak | and \\ backslash"}"#);
    assert_eq!(out, r"CEF:0|Ac\|me\\|Scan=ner|1.0|type\|with\\pipe|line break \| and \\ backslash|0|");
}

#[test]
fn extension_values_escape_equals_backslash_and_line_breaks_but_not_pipes() {
    let (out, _) = encode(
        cef(&[("msg", "description"), ("request", "url")]),
        r#"{"event":"x","description":"a=b\\c|d\r\ne","url":"/q?x=1&y=2"}"#,
    );
    assert_eq!(out, r"CEF:0|Acme|Scanner|1.0|x|x|0|msg=a\=b\\c|d\r\ne request=/q?x\=1&y\=2");
    assert!(!out.contains('\n') && !out.contains('\r'));
}

#[test]
fn every_severity_maps_to_its_number_and_name() {
    let cases = [
        ("\"info\"", 0, "Low"),
        ("\"low\"", 3, "Low"),
        ("\"medium\"", 5, "Medium"),
        ("\"high\"", 8, "High"),
        ("\"critical\"", 10, "Very-High"),
        ("0", 0, "Low"),
        ("1", 1, "Low"),
        ("2", 2, "Low"),
        ("3", 3, "Low"),
        ("4", 4, "Medium"),
        ("5", 5, "Medium"),
        ("6", 6, "Medium"),
        ("7", 7, "High"),
        ("8", 8, "High"),
        ("9", 9, "Very-High"),
        ("10", 10, "Very-High"),
    ];
    for (severity, number, name) in cases {
        let json = format!(r#"{{"event":"x","title":"t","severity":{severity}}}"#);
        let (out, _) = encode(cef(&[]), &json);
        assert_eq!(out, format!("CEF:0|Acme|Scanner|1.0|x|t|{number}|"), "{severity}");
        let (out, _) = encode(CefSettings { severity: SeverityForm::Name, ..cef(&[]) }, &json);
        assert_eq!(out, format!("CEF:0|Acme|Scanner|1.0|x|t|{name}|"), "{severity}");
    }
}

#[test]
fn long_values_are_cut_on_a_character_boundary_to_their_key_limit() {
    // msg: 1023 bytes; "é" is 2 bytes, so 511 of them (1022 bytes) fit.
    let long = "é".repeat(600);
    let (out, outcome) = encode(cef(&[("msg", "description")]), &format!(r#"{{"event":"x","description":"{long}"}}"#));
    assert_eq!(out, format!("CEF:0|Acme|Scanner|1.0|x|x|0|msg={}", "é".repeat(511)));
    assert!(outcome.truncated);
    // act: 63 bytes; "€" is 3 bytes, so 21 fit exactly.
    let (out, outcome) =
        encode(cef(&[("act", "action")]), &format!(r#"{{"event":"x","action":"{}"}}"#, "€".repeat(30)));
    assert_eq!(out, format!("CEF:0|Acme|Scanner|1.0|x|x|0|act={}", "€".repeat(21)));
    assert!(outcome.truncated);
    // cs1: 4000 bytes.
    let (out, _) = encode(cef(&[("cs1", "data")]), &format!(r#"{{"event":"x","data":"{}"}}"#, "a".repeat(5000)));
    assert!(out.ends_with(&format!("cs1={}", "a".repeat(4000))));
}

#[test]
fn class_id_and_name_are_cut_to_their_header_limits() {
    let kind = "k".repeat(1100);
    let title = "ü".repeat(300);
    let (out, outcome) = encode(cef(&[]), &format!(r#"{{"event":"{kind}","title":"{title}"}}"#));
    assert_eq!(out, format!("CEF:0|Acme|Scanner|1.0|{}|{}|0|", "k".repeat(1023), "ü".repeat(256)));
    assert!(outcome.truncated);
}

#[test]
fn absent_and_null_fields_are_left_out_silently() {
    let (out, outcome) =
        encode(cef(&[("src", "source_ip"), ("suser", "user"), ("msg", "nothing")]), r#"{"event":"x","user":null}"#);
    assert_eq!(out, "CEF:0|Acme|Scanner|1.0|x|x|0|");
    assert_eq!(outcome, Encoded::default());
}

#[test]
fn wrongly_typed_fields_are_left_out_and_counted() {
    let entries = [
        ("src", "bad_ip"),
        ("dst", "good_ip"),
        ("spt", "bad_port"),
        ("dpt", "good_port"),
        ("cnt", "too_big"),
        ("cn1", "long"),
        ("cfp1", "float"),
        ("smac", "bad_mac"),
        ("dmac", "mac"),
        ("start", "bad_time"),
        ("end", "time"),
        ("c6a1", "v6"),
    ];
    let (out, outcome) = encode(
        cef(&entries),
        r#"{"event":"x","bad_ip":"10.0.0.300","good_ip":"192.0.2.1","bad_port":"http","good_port":"8443","too_big":4294967296,"long":4294967296,"float":"1.5","bad_mac":"00:11:22:33:44","mac":"00-1A-2b-3c-4D-5e","bad_time":"yesterday","time":"2024-05-01T12:00:01Z","v6":"2001:db8::1"}"#,
    );
    assert_eq!(
        out,
        "CEF:0|Acme|Scanner|1.0|x|x|0|dst=192.0.2.1 dpt=8443 cn1=4294967296 cfp1=1.5 dmac=00:1a:2b:3c:4d:5e end=1714564801000 c6a1=2001:db8::1"
    );
    assert_eq!(outcome.invalid_fields, 5);
}

#[test]
fn ipv6_addresses_need_cef_version_1() {
    let json = r#"{"event":"x","ip":"2001:db8::7"}"#;
    let (out, outcome) = encode(cef(&[("src", "ip")]), json);
    assert_eq!((out.as_str(), outcome.invalid_fields), ("CEF:0|Acme|Scanner|1.0|x|x|0|", 1));
    let (out, outcome) = encode(CefSettings { version: 1, ..cef(&[("src", "ip")]) }, json);
    assert_eq!((out.as_str(), outcome.invalid_fields), ("CEF:1|Acme|Scanner|1.0|x|x|0|src=2001:db8::7", 0));
}

#[test]
fn labels_follow_their_values_and_are_escaped_once() {
    let settings = CefSettings {
        mapping: vec![Mapping::new(
            "cs1",
            "data.cwe",
            dictionary::lookup("cs1").expect("cs1"),
            Some(("cs1Label", "CWE=id")),
        )],
        ..cef(&[])
    };
    let (out, _) = encode(settings.clone(), r#"{"event":"x","data":{"cwe":"CWE-89"}}"#);
    assert_eq!(out, r"CEF:0|Acme|Scanner|1.0|x|x|0|cs1=CWE-89 cs1Label=CWE\=id");
    let (out, _) = encode(settings, r#"{"event":"x"}"#);
    assert_eq!(out, "CEF:0|Acme|Scanner|1.0|x|x|0|", "no label without its value");
}

#[test]
fn non_string_values_become_text() {
    let (out, _) = encode(
        cef(&[("cs2", "obj"), ("cs3", "flag"), ("cs4", "n")]),
        r#"{"event":"x","obj":{"a":"b=c"},"flag":true,"n":1.5}"#,
    );
    assert_eq!(out, r#"CEF:0|Acme|Scanner|1.0|x|x|0|cs2={"a":"b\=c"} cs3=true cs4=1.5"#);
}

#[test]
fn syslog_prefixes_put_cef_right_after_the_header_without_a_bom() {
    let json = r#"{"event":"login","title":"Überprüfung","timestamp":"2024-05-01T12:00:00Z","severity":"medium","host":"web-1"}"#;
    let rfc5424 =
        CefSettings { prefix: SyslogPrefix::Rfc5424(Rfc5424Header::new(10, "relay", "siem-relay", "42")), ..cef(&[]) };
    let (out, _) = encode(rfc5424, json);
    assert_eq!(
        out,
        "<84>1 2024-05-01T12:00:00Z web-1 siem-relay 42 login - CEF:0|Acme|Scanner|1.0|login|Überprüfung|5|"
    );
    let rfc3164 =
        CefSettings { prefix: SyslogPrefix::Rfc3164(Rfc3164Header::new(10, "relay", "siem-relay", 42)), ..cef(&[]) };
    let (out, _) = encode(rfc3164, json);
    assert_eq!(out, "<84>May  1 12:00:00 web-1 siem-relay[42]: CEF:0|Acme|Scanner|1.0|login|Überprüfung|5|");
}

#[test]
fn a_size_limit_drops_whole_extension_pairs_from_the_end() {
    let settings = CefSettings { max_bytes: Some(60), ..cef(&[("externalId", "id"), ("msg", "description")]) };
    let (out, outcome) = encode(settings, r#"{"event":"x","id":"abc","description":"this text does not fit"}"#);
    assert_eq!(out, "CEF:0|Acme|Scanner|1.0|x|x|0|externalId=abc");
    assert!(outcome.truncated);
}

#[test]
fn a_size_limit_below_the_header_never_leaves_half_an_escape() {
    let settings = CefSettings { max_bytes: Some(34), ..cef(&[]) };
    let (out, outcome) = encode(settings, r#"{"event":"x","title":"ab\\\\\\\\cd"}"#);
    // 34 bytes would end inside the second `\\` of Name: the cut keeps whole escapes and
    // every header field.
    assert_eq!(out, r"CEF:0|Acme|Scanner|1.0|x|ab\\\\|0|");
    assert!(outcome.truncated);
}

#[test]
fn a_size_limit_shortens_name_before_dropping_pairs_and_keeps_every_header_field() {
    let settings = || CefSettings {
        max_bytes: Some(300),
        prefix: SyslogPrefix::Rfc5424(Rfc5424Header::new(10, "relay", "siem-relay", "42")),
        ..cef(&[("externalId", "id"), ("src", "source_ip")])
    };
    let title = "é|".repeat(300);
    let json = format!(r#"{{"event":"scan","id":"f-1","source_ip":"10.0.0.5","title":"{title}"}}"#);
    let (out, outcome) = encode(settings(), &json);
    assert!(outcome.truncated);
    assert!(out.len() <= 300 && out.len() >= 298, "{} bytes: {out}", out.len());
    let record = &out[out.find("CEF:").expect("a CEF record")..];
    assert!(record.ends_with("|0|externalId=f-1 src=10.0.0.5"), "{record}");
    let name = record.split("|scan|").nth(1).and_then(|rest| rest.strip_suffix("|0|externalId=f-1 src=10.0.0.5"));
    let name = name.expect("Name between the class id and Severity");
    assert!(name.starts_with(r"é\|é\|") && !name.ends_with('\\'), "{name}");

    // A long extension: Name keeps its first 128 bytes, and the pairs at the end go.
    let json =
        format!(r#"{{"event":"scan","id":"{}","source_ip":"10.0.0.5","title":"{}"}}"#, "i".repeat(40), "t".repeat(300));
    let settings = CefSettings { max_bytes: Some(210), ..cef(&[("externalId", "id"), ("src", "source_ip")]) };
    let (out, _) = encode(settings, &json);
    assert_eq!(out, format!("CEF:0|Acme|Scanner|1.0|scan|{}|0|externalId={}", "t".repeat(128), "i".repeat(40)));
}

#[test]
fn the_least_limit_holds_a_record_from_any_event() {
    for prefix in [
        SyslogPrefix::None,
        SyslogPrefix::Rfc5424(Rfc5424Header::new(23, "relay", "siem-relay", "4294967295")),
        SyslogPrefix::Rfc3164(Rfc3164Header::new(23, "relay", "siem-relay", 4_294_967_295)),
    ] {
        for severity in [SeverityForm::Number, SeverityForm::Name] {
            let least = Cef::new(CefSettings { prefix: prefix.clone(), severity, ..cef(&[]) }).min_message_bytes();
            let settings =
                CefSettings { prefix: prefix.clone(), severity, max_bytes: Some(least), ..cef(&[("msg", "d")]) };
            let json = format!(
                r#"{{"event":"😀{}","severity":"critical","host":"{}","title":"😀 long","d":"x","timestamp":"2024-12-31T23:59:59.999999+14:00"}}"#,
                "t".repeat(2000),
                "h".repeat(300)
            );
            let (out, _) = encode(settings, &json);
            assert!(out.len() <= least, "{} > {least}: {out}", out.len());
            let record = &out[out.find("CEF:").expect("a CEF record")..];
            let severity_text = if severity == SeverityForm::Number { "10" } else { "Very-High" };
            assert!(record.ends_with(&format!("|😀|😀|{severity_text}|")), "{record}");
        }
    }
}

#[test]
fn control_characters_in_the_header_and_values_become_spaces_and_are_counted() {
    let (out, outcome) =
        encode(cef(&[("msg", "d")]), r#"{"event":"x","title":"nul\u0000 tab\t","d":"a\u0000b\tc\nd"}"#);
    assert_eq!(out, r"CEF:0|Acme|Scanner|1.0|x|nul  tab |0|msg=a b c\nd");
    assert!(outcome.sanitized);
    let (_, outcome) = encode(cef(&[("msg", "d")]), r#"{"event":"x","title":"clean","d":"a\nb"}"#);
    assert!(!outcome.sanitized, "escaped line breaks are not a change");
}

#[test]
fn an_empty_title_names_the_event_by_its_type() {
    let (out, _) = encode(cef(&[]), r#"{"event":"scan_done","title":""}"#);
    assert_eq!(out, "CEF:0|Acme|Scanner|1.0|scan_done|scan_done|0|");
}

/// `rt` is the time the event happened, and CEF defines it as the receipt time: an event
/// without a `timestamp` gets the time the relay received it (README: CEF mapping), so
/// ArcSight does not place it at its own, later, receipt.
#[test]
fn rt_falls_back_to_the_receive_time_for_events_without_a_timestamp() {
    let (out, _) = encode(cef(&[("rt", "timestamp")]), r#"{"event":"finding_added","severity":"high","title":"t"}"#);
    // `event()` receives at 2024-05-01T12:00:00Z.
    assert_eq!(out, "CEF:0|Acme|Scanner|1.0|finding_added|t|8|rt=1714564800000");
}
