//! CEF end to end: property tests against the strict parser, the daemon over TCP, and real
//! rsyslog and syslog-ng receivers (TCP and TLS) whose stored messages are parsed by two
//! independent CEF parsers (cefp from PyPI, liblognorm's lognormalizer) and compared with
//! values derived from the events, not from our encoder.

use std::time::Duration;

use proptest::prelude::*;
use siem_relay::encode::cef::dictionary;
use siem_relay::encode::cef::{Cef, CefSettings, Mapping, SeverityForm, SyslogPrefix};
use siem_relay::event::Event;
use siem_relay::timestamp::Timestamp;

use crate::support::blocking;
use crate::support::cef_parsers::{self, ExpectedCef};
use crate::support::cef_strict;
use crate::support::certs::Pki;
use crate::support::daemon::TestDaemon;
use crate::support::eventually;
use crate::support::listeners::StreamReceiver;
use crate::support::receivers::{Kind, Receiver, Transport};
use crate::support::rfc5424_strict;

const WAIT: Duration = Duration::from_secs(30);

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just('|'),
            Just('\\'),
            Just('='),
            Just(' '),
            Just('\n'),
            Just('\r'),
            Just('n'),
            Just('é'),
            Just('€'),
            any::<char>(),
            proptest::char::range('a', 'z'),
        ],
        0..40,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn mapped(key: &str, path: &str) -> Mapping {
    Mapping::new(key, path, dictionary::lookup(key).expect("dictionary key"), None)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn every_event_parses_back_to_the_same_values(
        kind in text().prop_filter("type", |s| !s.is_empty()),
        title in text(),
        vendor in text().prop_filter("vendor", |s| !s.is_empty() && !s.chars().any(char::is_control)),
        a in text(),
        b in text(),
        user in text(),
        score in 0u8..=10,
    ) {
        let json = serde_json::json!({"event": kind, "title": title, "a": a, "data": {"b": b}, "user": user, "severity": score});
        let event = Event::decode(json.to_string().as_bytes(), Timestamp::now()).expect("valid event");
        let encoder = Cef::new(CefSettings {
            version: 0,
            vendor: &vendor,
            product: "P|r\\o",
            device_version: "1",
            severity: SeverityForm::Number,
            mapping: vec![
                mapped("cs1", "a"),
                Mapping::new("cs2", "data.b", dictionary::lookup("cs2").expect("cs2"), Some(("cs2Label", "B=b|\\"))),
                mapped("suser", "user"),
            ],
            prefix: SyslogPrefix::None,
            max_bytes: None,
        });
        let mut out = Vec::new();
        let _ = encoder.encode(&event, &mut out);
        prop_assert!(!out.contains(&b'\n') && !out.contains(&b'\r'), "raw line break");
        let text = String::from_utf8(out).expect("utf8");
        let record = cef_strict::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text:?}")))?;
        // No control character is written raw: in header fields each is a space, in values
        // CR and LF are escapes (and come back) and every other one is a space.
        let header = |s: &str| s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>();
        let value = |s: &str| s.chars().map(|c| if c.is_control() && !matches!(c, '\r' | '\n') { ' ' } else { c }).collect::<String>();
        prop_assert_eq!(&record.vendor, &vendor);
        prop_assert_eq!(&record.product, "P|r\\o");
        prop_assert_eq!(&record.class_id, &header(&kind));
        let name = if title.is_empty() { header(&kind) } else { header(&title) };
        prop_assert_eq!(&record.name, &name);
        prop_assert_eq!(&record.severity, &score.to_string());
        let expected = vec![("cs1".to_owned(), value(&a)), ("cs2".to_owned(), value(&b)), ("cs2Label".to_owned(), "B=b|\\".to_owned()), ("suser".to_owned(), value(&user))];
        prop_assert_eq!(record.extension, expected);
    }
}

fn cef_sink(url: &str, extra: &str) -> String {
    format!(
        r#"hostname = "relay-test"
        [sinks.arcsight]
        format = "cef"
        url = "{url}"
        device_vendor = "Acme|Corp"
        device_product = "Scan\\ner"
        device_version = "2.1"
        backoff_initial_ms = 50
        mapping = {{ cs1 = {{ field = "data.cwe", label = "CWE" }}, request = "data.url" }}
        {extra}"#
    )
}

/// Events with every escaping rule in header and extension, and wrongly typed fields.
const EVENTS: &[&str] = &[
    r#"{"event":"finding_added","id":"f-1","timestamp":"2024-05-01T10:00:00.123+02:00","severity":"critical","title":"SQL injection | in \\login","description":"param=id\nvalue \\ 'x' | y","source_ip":"10.0.0.5","source_port":51515,"user":"alice smith","host":"web-1","data":{"cwe":"CWE-89","url":"/login?user=admin&pw=x"}}"#,
    r#"{"event":"scan|completed","id":"s-2","timestamp":"2024-05-01T08:00:00Z","severity":4,"title":"Überprüfung abgeschlossen","source_ip":"not-an-ip","source_port":"http","action":"blocked","outcome":"success"}"#,
    r#"{"event":"login_failed","id":"l-3","timestamp":"2024-05-01T08:00:01Z","severity":"low","description":"trailing backslash \\","target_user":"root=admin"}"#,
];

/// What each event must parse to, derived by hand from the events and the mapping rules.
fn expected() -> Vec<ExpectedCef> {
    let ext = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    let header = |class_id: &str, name: &str, severity: &str, extension| ExpectedCef {
        version: "0".into(),
        vendor: "Acme|Corp".into(),
        product: "Scan\\ner".into(),
        device_version: "2.1".into(),
        class_id: class_id.into(),
        name: name.into(),
        severity: severity.into(),
        extension,
    };
    vec![
        header(
            "finding_added",
            "SQL injection | in \\login",
            "10",
            ext(&[
                ("rt", "1714550400123"),
                ("externalId", "f-1"),
                ("msg", "param=id\nvalue \\ 'x' | y"),
                ("src", "10.0.0.5"),
                ("spt", "51515"),
                ("suser", "alice smith"),
                ("dhost", "web-1"),
                ("cs1", "CWE-89"),
                ("cs1Label", "CWE"),
                ("request", "/login?user=admin&pw=x"),
            ]),
        ),
        header(
            "scan|completed",
            "Überprüfung abgeschlossen",
            "4",
            ext(&[("rt", "1714550400000"), ("externalId", "s-2"), ("act", "blocked"), ("outcome", "success")]),
        ),
        header(
            "login_failed",
            "login_failed",
            "3",
            ext(&[
                ("rt", "1714550401000"),
                ("externalId", "l-3"),
                ("msg", "trailing backslash \\"),
                ("duser", "root=admin"),
            ]),
        ),
    ]
}

fn assert_strictly_equal(record: &cef_strict::Record, expected: &ExpectedCef) {
    let got =
        (&record.vendor, &record.product, &record.device_version, &record.class_id, &record.name, &record.severity);
    let want = (
        &expected.vendor,
        &expected.product,
        &expected.device_version,
        &expected.class_id,
        &expected.name,
        &expected.severity,
    );
    assert_eq!(got, want);
    let want: std::collections::BTreeMap<String, String> = expected.extension.iter().cloned().collect();
    assert_eq!(record.extension_map(), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cef_over_tcp_behind_rfc5424_parses_strictly_and_counts_bad_fields() {
    let receiver = StreamReceiver::tcp().await;
    let daemon = TestDaemon::start(&cef_sink(&receiver.url("tcp"), "")).await;
    assert_eq!(daemon.send(&EVENTS.join("\n")).await.accepted, 3);
    assert!(eventually(WAIT, || receiver.octet_frames().len() == 3).await);
    for (frame, expected) in receiver.octet_frames().iter().zip(expected()) {
        let message = rfc5424_strict::parse(frame).unwrap_or_else(|e| panic!("{e}"));
        assert!(message.structured_data.is_empty(), "NILVALUE structured data");
        let Some(rfc5424_strict::Msg::Any(bytes)) = message.msg else { panic!("MSG-ANY without BOM expected") };
        let record = cef_strict::parse(std::str::from_utf8(bytes).expect("utf8")).unwrap_or_else(|e| panic!("{e}"));
        assert_strictly_equal(&record, &expected);
    }
    let report = daemon.stop().await;
    assert_eq!(crate::support::daemon::get(&report.sinks[0].1.invalid_fields), 2, "bad src and spt of event 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cef_over_lf_framed_tcp_has_no_line_break_inside_a_record() {
    let receiver = StreamReceiver::tcp().await;
    let daemon = TestDaemon::start(&cef_sink(&receiver.url("tcp"), "framing = \"lf\"\nsyslog_header = \"none\"")).await;
    daemon.send(&EVENTS.join("\n")).await;
    assert!(eventually(WAIT, || receiver.lf_frames().len() == 3).await);
    for (frame, expected) in receiver.lf_frames().iter().zip(expected()) {
        let record = cef_strict::parse(std::str::from_utf8(frame).expect("utf8")).unwrap_or_else(|e| panic!("{e}"));
        assert_strictly_equal(&record, &expected);
    }
    daemon.stop().await;
}

/// Sends `EVENTS` through a real receiver, then checks what it stored with the strict parser
/// and both independent parsers. Returns how many (record, parser) checks agreed.
async fn through_receiver(kind: Kind, transport: Transport, scheme: &str, extra: &str) -> usize {
    blocking(cef_parsers::ensure_available).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let workdir = dir.path().to_owned();
    let receiver = blocking(move || Receiver::start(kind, transport, &workdir)).await;
    let daemon = TestDaemon::start(&cef_sink(&format!("{scheme}://127.0.0.1:{}", receiver.port()), extra)).await;
    assert_eq!(daemon.send(&EVENTS.join("\n")).await.accepted, 3);
    let records = blocking(move || receiver.expect_records(EVENTS.len(), WAIT)).await;
    daemon.stop().await;

    let messages: Vec<String> = records.iter().map(|record| record.msg.clone()).collect();
    let expected = expected();
    for (message, expected) in messages.iter().zip(&expected) {
        assert_strictly_equal(&cef_strict::parse(message).unwrap_or_else(|e| panic!("{e}: {message}")), expected);
    }
    let parsed = blocking(move || cef_parsers::parse_with_independent_parsers(&messages)).await.expect("parsers ran");
    for result in &parsed {
        let differences = result.differences(&expected[result.line]);
        assert!(
            differences.is_empty(),
            "{} via {}: record {}: {differences:?}",
            result.parser,
            kind.name(),
            result.line
        );
    }
    parsed.len()
}

fn tls(dir: &std::path::Path) -> (Transport, String) {
    let pki = Pki::new(dir, &["127.0.0.1"]);
    let transport = Transport::Tls {
        ca_file: pki.ca_file.clone(),
        cert_file: pki.server_cert_file.clone(),
        key_file: pki.server_key_file.clone(),
        require_client_cert: false,
    };
    (transport, format!("tls = {{ ca_file = \"{}\" }}", pki.ca_file.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(interop_unavailable, ignore = "needs rsyslog, syslog-ng and the CEF parsers: see the build warning")]
async fn independent_parsers_agree_on_what_rsyslog_received_over_tcp_and_tls() {
    let checks = through_receiver(Kind::Rsyslog, Transport::TcpOctetCounted, "tcp", "").await;
    let certs = tempfile::tempdir().expect("tempdir");
    let (transport, settings) = tls(certs.path());
    let checks = checks + through_receiver(Kind::Rsyslog, transport, "tls", &settings).await;
    eprintln!("rsyslog: {checks} (record, parser) checks agreed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(interop_unavailable, ignore = "needs rsyslog, syslog-ng and the CEF parsers: see the build warning")]
async fn independent_parsers_agree_on_what_syslog_ng_received_over_tcp_and_tls() {
    let checks = through_receiver(Kind::SyslogNg, Transport::TcpOctetCounted, "tcp", "").await;
    let certs = tempfile::tempdir().expect("tempdir");
    let (transport, settings) = tls(certs.path());
    let checks = checks + through_receiver(Kind::SyslogNg, transport, "tls", &settings).await;
    eprintln!("syslog-ng: {checks} (record, parser) checks agreed");
}
