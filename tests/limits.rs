//! Size limits at every format and transport: for any event and any `max_message_bytes` the
//! config accepts, the record is valid for its format (by strict parsers written from the
//! specs) and fits; limits that cannot hold a record are refused by `check`; and a datagram
//! the kernel refuses is dropped and counted without holding up the ones behind it.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use siem_relay::config::Config;
use siem_relay::encode::Encoder;
use siem_relay::event::Event;
use siem_relay::pipeline::Pipeline;
use siem_relay::timestamp::Timestamp;
use siem_relay::transport::Framing;

use crate::support::daemon::{get, TestDaemon};
use crate::support::eventually;
use crate::support::listeners::{StreamReceiver, UdpReceiver};
use crate::support::rfc5424_strict::{self, Msg};
use crate::support::{cef_strict, leef_strict, rfc3164_strict};

const WAIT: Duration = Duration::from_secs(30);

/// The wire formats, each with the settings that change what its header can hold.
#[derive(Debug, Clone)]
enum Format {
    Rfc5424 { json: bool },
    Rfc3164 { json: bool },
    Cef { header: &'static str, named_severity: bool },
    Leef { header: &'static str, version: &'static str },
}

impl Format {
    fn keys(&self) -> String {
        match self {
            Format::Rfc5424 { json } => format!(
                "format = \"rfc5424\"\nsd_fields = [\"note\", \"data.n\"]\nmessage = \"{}\"\n",
                if *json { "json" } else { "title" }
            ),
            Format::Rfc3164 { json } => {
                format!("format = \"rfc3164\"\nmessage = \"{}\"\n", if *json { "json" } else { "title" })
            }
            Format::Cef { header, named_severity } => format!(
                "format = \"cef\"\nsyslog_header = \"{header}\"\ncef_severity = \"{}\"\n\
                 device_vendor = \"Ac|me\\\\\"\nmapping = {{ msg = \"note\", cs1 = {{ field = \"data.n\", label = \"N=n\" }} }}\n",
                if *named_severity { "name" } else { "number" }
            ),
            Format::Leef { header, version } => format!(
                "format = \"leef\"\nsyslog_header = \"{header}\"\nleef_version = \"{version}\"\n\
                 mapping = {{ AcmeNote = \"note\", AcmeN = \"data.n\" }}\n"
            ),
        }
    }

    /// Whether the record travels behind an RFC 3164 header.
    fn rfc3164(&self) -> bool {
        matches!(
            self,
            Format::Rfc3164 { .. } | Format::Cef { header: "rfc3164", .. } | Format::Leef { header: "rfc3164", .. }
        )
    }
}

fn formats() -> impl Strategy<Value = Format> {
    prop_oneof![
        any::<bool>().prop_map(|json| Format::Rfc5424 { json }),
        any::<bool>().prop_map(|json| Format::Rfc3164 { json }),
        (prop_oneof![Just("rfc5424"), Just("rfc3164"), Just("none")], any::<bool>())
            .prop_map(|(header, named_severity)| Format::Cef { header, named_severity }),
        (prop_oneof![Just("rfc5424"), Just("rfc3164"), Just("none")], prop_oneof![Just("1.0"), Just("2.0")])
            .prop_map(|(header, version)| Format::Leef { header, version }),
    ]
}

/// Transports with different limits and framings (nothing is sent: only the config is built).
/// TLS has TCP's rules; it is left out because each sink would load the system trust store.
fn urls() -> impl Strategy<Value = (&'static str, &'static str)> {
    prop_oneof![
        Just(("udp://127.0.0.1:514", "")),
        Just(("udp://[::1]:514", "")),
        Just(("udp://siem.example.net:514", "")),
        Just(("tcp://127.0.0.1:514", "framing = \"lf\"\n")),
        Just(("tcp://127.0.0.1:514", "framing = \"octet_counting\"\n")),
        Just(("file:///tmp/siem-relay-limits-test.log", "")),
        Just(("http://127.0.0.1:9/hook", "")),
    ]
}

/// Limits around every boundary: below and at the least a header needs, RFC 3164's 1024,
/// the UDP defaults and maxima.
fn limits() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![
        Just(None),
        (300usize..1200).prop_map(Some),
        (1000usize..3000).prop_map(Some),
        prop_oneof![Just(65_507usize), Just(65_508), Just(65_527), Just(65_528), Just(100_000)].prop_map(Some),
    ]
}

fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just('|'),
        Just('\\'),
        Just('='),
        Just('"'),
        Just(']'),
        Just(' '),
        Just('\n'),
        Just('\r'),
        Just('\t'),
        Just('\u{0}'),
        Just('\u{85}'),
        Just('é'),
        Just('€'),
        Just('😀'),
        any::<char>(),
        proptest::char::range('a', 'z'),
    ];
    (proptest::collection::vec(piece, 0..40), 1usize..60).prop_map(|(chars, repeat)| {
        let text: String = chars.into_iter().collect();
        text.repeat(repeat)
    })
}

fn sink_config(format: &Format, (url, framing): (&str, &str), limit: Option<usize>) -> Result<Config, String> {
    let limit = limit.map(|n| format!("max_message_bytes = {n}\n")).unwrap_or_default();
    let text = format!(
        "hostname = \"relay\"\n[egress]\nallow = [\"127.0.0.1\"]\n[sinks.s]\nurl = \"{url}\"\n{framing}{}{limit}",
        format.keys()
    );
    Config::parse(&text, "limits-test").map_err(|e| e.to_string())
}

/// Checks one encoded record against its format's strict parser and the limit.
fn check_record(format: &Format, record: &[u8], limit: Option<usize>) -> Result<(), String> {
    let lossy = || String::from_utf8_lossy(record).into_owned();
    if let Some(limit) = limit {
        if record.len() > limit {
            return Err(format!("{} bytes over the limit {limit}: {:?}", record.len(), lossy()));
        }
    }
    let any_limit = limit.unwrap_or(usize::MAX);
    // The key-value record of CEF and LEEF, without its syslog header.
    let (header, record) = match format {
        Format::Rfc5424 { .. } => {
            return rfc5424_strict::parse(record).map(drop).map_err(|e| format!("{e}: {:?}", lossy()));
        }
        Format::Rfc3164 { .. } => {
            return rfc3164_strict::parse(record, any_limit).map(drop).map_err(|e| format!("{e}: {:?}", lossy()));
        }
        Format::Cef { header, .. } | Format::Leef { header, .. } => (*header, record),
    };
    let record = match header {
        "rfc5424" => {
            let message = rfc5424_strict::parse(record).map_err(|e| format!("{e}: {:?}", lossy()))?;
            match message.msg {
                Some(Msg::Any(bytes)) => String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())?,
                other => return Err(format!("expected the record as MSG-ANY, found {other:?}")),
            }
        }
        "rfc3164" => {
            // LEEF's tab delimiter is the one control character kept behind an RFC 3164
            // header: QRadar's LEEF guide specifies that combination.
            let tabs = matches!(format, Format::Leef { .. });
            rfc3164_strict::parse_with(record, any_limit, tabs)
                .map_err(|e| format!("{e}: {:?}", lossy()))?
                .content
                .to_owned()
        }
        _ => String::from_utf8(record.to_vec()).map_err(|e| e.to_string())?,
    };
    match format {
        Format::Leef { .. } => leef_strict::parse(&record).map(drop).map_err(|e| format!("{e}: {record:?}")),
        _ => cef_strict::parse(&record).map(drop).map_err(|e| format!("{e}: {record:?}")),
    }
}

/// The limit a sink runs with when none is configured, as the README states it.
fn default_limit(format: &Format, (url, _): (&str, &str)) -> Option<usize> {
    if format.rfc3164() {
        Some(1024)
    } else if url.starts_with("udp:") {
        Some(2048)
    } else {
        None
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn every_accepted_limit_holds_a_valid_record_of_any_event(
        format in formats(),
        url in urls(),
        limit in limits(),
        kind in text().prop_filter("event type", |s| !s.is_empty()),
        title in text(),
        host in text(),
        note in text(),
        n in text(),
    ) {
        let config = match sink_config(&format, url, limit) {
            Ok(config) => config,
            Err(error) => {
                // Refused, so never run: the refusal must be about the limit, and only a limit
                // outside what the format and transport allow may be refused.
                prop_assert!(error.contains("max_message_bytes"), "{}", error);
                let n = limit.unwrap_or_default();
                let default = sink_config(&format, url, None).map_err(TestCaseError::fail)?;
                let least = default.sinks[0].encoder.min_message_bytes().unwrap_or(0).max(480);
                let udp = url.0.starts_with("udp:");
                let udp_max = if url.0.contains("[::1]") { 65_527 } else { 65_507 };
                prop_assert!(
                    n < least || (udp && n > udp_max) || (udp && format.rfc3164() && n > 1024),
                    "limit {} refused (least {}): {}", n, least, error
                );
                return Ok(());
            }
        };
        let sink = &config.sinks[0];
        let effective = limit.or_else(|| default_limit(&format, url));
        let json = serde_json::json!({"event": kind, "title": title, "host": host, "note": note, "data": {"n": n}, "severity": "critical", "timestamp": "2024-12-31T23:59:59.123456+14:00"});
        let event = Event::decode(json.to_string().as_bytes(), Timestamp::now()).expect("valid event");
        let mut record = Vec::new();
        let _ = sink.encoder.encode(&event, &mut record);
        check_record(&format, &record, effective).map_err(TestCaseError::fail)?;
        // The framing keeps the record whole: an octet count of exactly its length, or one LF
        // at the end (an LF inside written as a space).
        if let Some(framing) = sink.framing {
            let mut frame = Vec::new();
            framing.frame(&record, &mut frame);
            match framing {
                Framing::OctetCounting => prop_assert_eq!(frame, [format!("{} ", record.len()).as_bytes(), &record].concat()),
                Framing::Lf => prop_assert_eq!(frame.iter().position(|&b| b == b'\n'), Some(record.len())),
            }
        }
    }
}

#[test]
fn the_defaults_are_those_of_the_format_then_of_the_transport() {
    let limit_of =
        |format: Format, url: (&str, &str)| match &sink_config(&format, url, None).expect("valid").sinks[0].encoder {
            Encoder::Rfc5424(encoder) => encoder.max_bytes,
            Encoder::Rfc3164(encoder) => Some(encoder.max_bytes),
            Encoder::Cef(_) => None,
            other => panic!("unexpected encoder {}", other.name()),
        };
    let (udp, tcp) = (("udp://127.0.0.1:514", ""), ("tcp://127.0.0.1:514", ""));
    assert_eq!(limit_of(Format::Rfc3164 { json: false }, udp), Some(1024));
    assert_eq!(limit_of(Format::Rfc3164 { json: false }, tcp), Some(1024));
    assert_eq!(limit_of(Format::Rfc5424 { json: false }, udp), Some(2048));
    assert_eq!(limit_of(Format::Rfc5424 { json: false }, tcp), None);
}

/// The defect as reported: CEF over LF-framed TCP with a 480-byte limit and a title of 600+
/// characters was cut inside Name, with no Severity and no extension.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cef_under_a_small_limit_keeps_all_seven_header_fields() {
    let receiver = StreamReceiver::tcp().await;
    let daemon = TestDaemon::start(&format!(
        "hostname = \"relay\"\n[sinks.arcsight]\nformat = \"cef\"\nurl = \"{}\"\nframing = \"lf\"\nmax_message_bytes = 480\n",
        receiver.url("tcp")
    ))
    .await;
    let title = "Remote code execution via deserialisation | ".repeat(15);
    let event = serde_json::json!({"event": "finding_added", "id": "f-1", "title": title, "source_ip": "10.0.0.5", "severity": "high"});
    assert_eq!(daemon.send(&format!("{event}\n")).await.accepted, 1);
    assert!(eventually(WAIT, || receiver.lf_frames().len() == 1).await, "the record did not arrive");
    let frame = receiver.lf_frames().remove(0);
    assert!(frame.len() <= 480, "{} bytes", frame.len());
    let message = rfc5424_strict::parse(&frame).unwrap_or_else(|e| panic!("{e}"));
    let Some(Msg::Any(record)) = message.msg else { panic!("expected the CEF record as MSG") };
    let record = cef_strict::parse(std::str::from_utf8(record).expect("utf8")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((record.class_id.as_str(), record.severity.as_str()), ("finding_added", "8"));
    assert!(title.starts_with(&record.name) && record.name.len() >= 128, "{:?}", record.name);
    assert_eq!(record.get("externalId"), Some("f-1"));
    assert_eq!(record.get("src"), Some("10.0.0.5"));
    let report = daemon.stop().await;
    assert_eq!(get(&report.sinks[0].1.truncated), 1);
}

/// RFC 3164 section 4.1: a packet MUST be 1024 bytes or less, also for CEF behind such a header;
/// the UDP default of 2048 was applied first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc3164_datagrams_are_at_most_1024_bytes_by_default() {
    let receiver = UdpReceiver::bind().await;
    let daemon = TestDaemon::start(&format!(
        "hostname = \"relay\"\n[sinks.bsd]\nformat = \"rfc3164\"\nurl = \"udp://{0}\"\n\
         [sinks.cef]\nformat = \"cef\"\nsyslog_header = \"rfc3164\"\nurl = \"udp://{0}\"\n",
        receiver.addr
    ))
    .await;
    let event =
        serde_json::json!({"event": "finding_added", "title": "x\ty\0".repeat(1000), "description": "d".repeat(3000)});
    assert_eq!(daemon.send(&format!("{event}\n")).await.accepted, 1);
    assert!(eventually(WAIT, || receiver.datagrams().len() == 2).await, "two datagrams expected");
    for datagram in receiver.datagrams() {
        let message = rfc3164_strict::parse(&datagram, 1024).unwrap_or_else(|e| panic!("{e}"));
        if let Some(record) = message.content.strip_prefix("CEF:") {
            // The description (cut to msg's 1023 bytes) cannot fit: that pair is dropped whole.
            let record = cef_strict::parse(&format!("CEF:{record}")).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(record.name, "x y ".repeat(128));
            assert_eq!(record.get("msg"), None);
        } else {
            assert!(message.content.starts_with("x y x y "), "{:?}", message.content);
            assert!(datagram.len() > 1020, "cut to the limit, not far below it: {}", datagram.len());
        }
    }
    let report = daemon.stop().await;
    for (name, stats) in &report.sinks {
        assert_eq!(get(&stats.truncated), 1, "{name}");
        assert_eq!(get(&stats.sanitized), 1, "{name}: the tab and NUL became spaces");
    }
}

/// A datagram the kernel refuses for good (EMSGSIZE) used to be retried for ever, with every
/// later event waiting behind it. `check` now refuses such limits, so the sink is built past
/// it here, as a sink whose path allows less than its limit would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsendable_datagram_is_dropped_and_counted_and_the_next_ones_flow() {
    let receiver = UdpReceiver::bind().await;
    let text = format!(
        "hostname = \"relay\"\n[sinks.siem]\nformat = \"rfc5424\"\nurl = \"udp://{}\"\nbackoff_initial_ms = 50\n",
        receiver.addr
    );
    let mut config = Config::parse(&text, "limits-test").expect("valid config");
    let sink = Arc::make_mut(&mut config.sinks[0]);
    let Encoder::Rfc5424(encoder) = &mut sink.encoder else { panic!("rfc5424 sink expected") };
    encoder.max_bytes = None;
    let pipeline = Pipeline::start(&config).expect("pipeline");
    let router = pipeline.router().load_full();
    for json in [format!(r#"{{"event":"big","title":"{}"}}"#, "x".repeat(70_000)), r#"{"event":"small"}"#.to_owned()] {
        let event = Event::decode(json.as_bytes(), Timestamp::now()).expect("valid event");
        router.route(Arc::new(event)).await.expect("queued");
    }
    assert!(eventually(WAIT, || !receiver.datagrams().is_empty()).await, "the sink is wedged");
    let datagrams = receiver.datagrams();
    assert_eq!(datagrams.len(), 1);
    assert_eq!(rfc5424_strict::parse(&datagrams[0]).expect("valid").msgid, Some("small"));
    let stats = pipeline.sinks().await[0].route.stats.clone();
    assert_eq!(get(&stats.dropped_unsendable), 1);
    assert_eq!(get(&stats.delivered), 1);
    pipeline.shutdown(Duration::from_secs(5)).await;
}
