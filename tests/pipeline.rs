//! Events through the whole pipeline to each transport, checked byte for byte and with the
//! strict RFC 5424 parser.

use std::time::Duration;

use crate::support::daemon::{get, numbered_events, TestDaemon};
use crate::support::eventually;
use crate::support::listeners::{StreamReceiver, UdpReceiver};
use crate::support::rfc5424_strict::{self, Msg};

const WAIT: Duration = Duration::from_secs(20);

/// Events that exercise every escaping rule and the BOM.
const TRICKY: &str = concat!(
    r#"{"event":"finding_added","id":"quote\"back\\slash]bracket","severity":"critical","title":"Überprüfung \"fehlgeschlagen\" ] \\","host":"web 1.example","timestamp":"2024-05-01T10:00:00.1234567+02:00","data":{"cwe":"CWE-89]\""}}"#,
    "\n",
    r#"{"event":"a_very_long_event_type_name_that_exceeds_32_chars","severity":3,"title":"plain"}"#,
    "\n"
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_octet_counting_delivers_strictly_valid_rfc5424() {
    let receiver = StreamReceiver::tcp().await;
    let daemon = TestDaemon::start(&format!(
        r#"hostname = "relay-1"
        [sinks.siem]
        format = "rfc5424"
        url = "{}"
        sd_fields = ["data.cwe", {{ name = "event_host", field = "host" }}]"#,
        receiver.url("tcp")
    ))
    .await;
    let outcome = daemon.send(TRICKY).await;
    assert_eq!((outcome.accepted, outcome.rejected), (2, 0));
    assert!(eventually(WAIT, || receiver.octet_frames().len() == 2).await, "frames: {:?}", receiver.connections());

    let frames = receiver.octet_frames();
    let first =
        rfc5424_strict::parse(&frames[0]).unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&frames[0])));
    assert_eq!(first.pri, 16 * 8 + 2);
    assert_eq!(first.timestamp, Some("2024-05-01T10:00:00.123456+02:00"));
    assert_eq!(first.hostname, Some("web_1.example"));
    assert_eq!(first.app_name, Some("siem-relay"));
    assert_eq!(first.msgid, Some("finding_added"));
    assert_eq!(first.sd_param("siem@32473", "id"), Some("quote\"back\\slash]bracket"));
    assert_eq!(first.sd_param("siem@32473", "severity"), Some("critical"));
    assert_eq!(first.sd_param("siem@32473", "cwe"), Some("CWE-89]\""));
    assert_eq!(first.sd_param("siem@32473", "event_host"), Some("web 1.example"));
    assert!(matches!(first.msg, Some(Msg::Utf8("Überprüfung \"fehlgeschlagen\" ] \\"))), "{:?}", first.msg);

    let second = rfc5424_strict::parse(&frames[1]).expect("valid");
    assert_eq!(second.hostname, Some("relay-1"));
    assert_eq!(second.msgid, Some("a_very_long_event_type_name_that"));
    assert_eq!(second.pri, 16 * 8 + 5);
    assert_eq!(second.sd_param("siem@32473", "severity"), Some("3"));
    assert!(matches!(second.msg, Some(Msg::Any(b"plain"))));

    let report = daemon.stop().await;
    assert_eq!(get(&report.sinks[0].1.delivered), 2);
    assert_eq!(report.undelivered(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lf_framing_keeps_one_message_per_line() {
    let receiver = StreamReceiver::tcp().await;
    let daemon = TestDaemon::start(&format!(
        "[sinks.siem]\nformat = \"rfc5424\"\nurl = \"{}\"\nframing = \"lf\"\nmessage = \"json\"",
        receiver.url("tcp")
    ))
    .await;
    let text = r#"{"event":"x","id":"1","title":"line one\nline two","timestamp":"2024-05-01T12:00:00Z"}"#;
    assert_eq!(daemon.send(&format!("{text}\n{text}\n")).await.accepted, 2);
    assert!(eventually(WAIT, || receiver.lf_frames().len() == 2).await);
    for frame in receiver.lf_frames() {
        let message = rfc5424_strict::parse(&frame).expect("valid");
        let Some(Msg::Any(json)) = message.msg else { panic!("ASCII JSON expected") };
        // The JSON escape `\n` is two characters: the event's newline never reaches the wire raw.
        assert_eq!(std::str::from_utf8(json).expect("utf8"), text);
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_sends_one_datagram_per_event_and_truncates_to_the_limit() {
    let receiver = UdpReceiver::bind().await;
    let daemon = TestDaemon::start(&format!(
        "[sinks.siem]\nformat = \"rfc5424\"\nurl = \"udp://{}\"\nmax_message_bytes = 480",
        receiver.addr
    ))
    .await;
    let long_title = "€".repeat(300);
    let text = format!("{{\"event\":\"x\",\"title\":\"short\"}}\n{{\"event\":\"y\",\"title\":\"{long_title}\"}}\n");
    assert_eq!(daemon.send(&text).await.accepted, 2);
    assert!(eventually(WAIT, || receiver.datagrams().len() == 2).await);
    let datagrams = receiver.datagrams();
    for datagram in &datagrams {
        assert!(datagram.len() <= 480, "{} bytes", datagram.len());
        rfc5424_strict::parse(datagram).unwrap_or_else(|e| panic!("{e}"));
    }
    let long = rfc5424_strict::parse(&datagrams[1]).expect("valid");
    let Some(Msg::Utf8(cut)) = long.msg else { panic!("UTF-8 MSG expected") };
    assert!(long_title.starts_with(cut) && cut.len() < long_title.len());
    let report = daemon.stop().await;
    assert_eq!(get(&report.sinks[0].1.truncated), 1);
    assert_eq!(get(&report.sinks[0].1.delivered), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sink_writes_one_message_per_line() {
    let daemon = TestDaemon::start("[sinks.archive]\nformat = \"rfc3164\"\nurl = \"file://{dir}/out.log\"").await;
    assert_eq!(daemon.send(&numbered_events("scan", 3)).await.accepted, 3);
    let path = daemon.dir.path().join("out.log");
    assert!(eventually(WAIT, || std::fs::read_to_string(&path).is_ok_and(|t| t.lines().count() == 3)).await);
    let text = std::fs::read_to_string(&path).expect("read");
    let pid = std::process::id();
    for (i, line) in text.lines().enumerate() {
        assert!(line.starts_with("<131>May  1 12:00:00 "), "{line}");
        assert!(line.ends_with(&format!(" siem-relay[{pid}]: event number {i}")), "{line}");
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_route_by_type_and_severity_and_count_unrouted_events() {
    let findings = StreamReceiver::tcp().await;
    let critical = StreamReceiver::tcp().await;
    let daemon = TestDaemon::start(&format!(
        r#"[sinks.findings]
        format = "rfc5424"
        url = "{}"
        events = ["finding_*"]
        [sinks.critical]
        format = "rfc5424"
        url = "{}"
        min_severity = "critical""#,
        findings.url("tcp"),
        critical.url("tcp")
    ))
    .await;
    let text = [
        r#"{"event":"finding_added","severity":"low","id":"a"}"#,
        r#"{"event":"finding_added","severity":"critical","id":"b"}"#,
        r#"{"event":"scan_started","severity":9,"id":"c"}"#,
        r#"{"event":"scan_started","severity":"high","id":"d"}"#,
    ]
    .join("\n");
    assert_eq!(daemon.send(&text).await.accepted, 4);
    assert!(eventually(WAIT, || findings.octet_frames().len() == 2 && critical.octet_frames().len() == 2).await);
    assert_eq!(findings.octet_ids(), ["a", "b"]);
    assert_eq!(critical.octet_ids(), ["b", "c"]);
    let report = daemon.stop().await;
    assert_eq!(report.unrouted, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(ipv6_loopback_unavailable, ignore = "needs an IPv6 loopback: see the build warning")]
async fn ipv6_loopback_receivers_are_reached() {
    let listener = tokio::net::TcpListener::bind("[::1]:0").await.expect("IPv6 loopback");
    let addr = listener.local_addr().expect("addr");
    let received = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        while crate::support::listeners::complete_octet_frames(&bytes).len() < 2 {
            let n = tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await.expect("read");
            assert!(n > 0, "connection closed early");
            bytes.extend_from_slice(&buf[..n]);
        }
        bytes
    });
    let daemon =
        TestDaemon::start(&format!("[sinks.v6]\nformat = \"rfc5424\"\nurl = \"tcp://[::1]:{}\"", addr.port())).await;
    daemon.send(&numbered_events("v6", 2)).await;
    let bytes = tokio::time::timeout(WAIT, received).await.expect("in time").expect("receiver");
    for frame in crate::support::listeners::complete_octet_frames(&bytes) {
        rfc5424_strict::parse(&frame).expect("valid");
    }
    daemon.stop().await;
}
