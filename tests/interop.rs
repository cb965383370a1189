//! Interop with real receivers: rsyslog 8.2302 and syslog-ng 3.38 from Debian, over TCP
//! (octet counting and LF), TLS (with and without client certificates) and UDP. Each message
//! must be parsed by the receiver without error and equal, field by field, to what the daemon
//! sent; what it sent is re-derived here with the sink's own encoder and checked with the
//! strict parser, so both the receivers and the ABNF agree.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use siem_relay::config::Config;
use siem_relay::event::Event;
use siem_relay::timestamp::Timestamp;

use crate::support::blocking;
use crate::support::certs::Pki;
use crate::support::daemon::{numbered_events, TestDaemon};
use crate::support::receivers::{Kind, Receiver, Record, Transport};
use crate::support::rfc5424_strict::{self, Msg};

const WAIT: Duration = Duration::from_secs(30);

/// Events with every escaping rule, non-ASCII text (BOM), cut header fields, offsets and
/// over-long fractions. Ids and timestamps are explicit so the expected bytes can be rebuilt.
const EVENTS: &[&str] = &[
    r#"{"event":"finding_added","id":"f-1","timestamp":"2024-05-01T10:00:00.1234567+02:00","severity":"critical","title":"SQL injection in \"login\" [CWE-89] C:\\path","host":"web-1.example.net","data":{"cwe":"CWE-89","url":"/login?q=\"]\\"}}"#,
    r#"{"event":"scan_completed","id":"s-2","timestamp":"2024-05-01T08:00:00Z","severity":2,"title":"Überprüfung abgeschlossen ✓","data":{"cwe":"ä]"}}"#,
    r#"{"event":"an_event_type_that_is_longer_than_thirty_two_characters","id":"t-3","timestamp":"2024-02-29T23:59:59.5-07:30","severity":"medium","title":"plain ascii"}"#,
    r#"{"event":"host_seen","id":"h-4","timestamp":"2024-05-01T12:00:00.000001Z","title":"spaces in host","host":"bad host name"}"#,
];

fn sink_config(url: &str, extra: &str) -> String {
    format!(
        "hostname = \"relay-test\"\n[sinks.siem]\nformat = \"rfc5424\"\nurl = \"{url}\"\nbackoff_initial_ms = 50\nbackoff_max_ms = 500\nsd_fields = [\"data.cwe\", \"data.url\"]\n{extra}"
    )
}

/// What the daemon sends for each event, from the sink's own encoder.
fn expected_messages(config: &str) -> Vec<Vec<u8>> {
    let config = Config::parse(config, "interop").expect("valid config");
    EVENTS
        .iter()
        .map(|line| {
            let event = Event::decode(line.as_bytes(), Timestamp::now()).expect("valid event");
            let mut out = Vec::new();
            let _ = config.sinks[0].encoder.encode(&event, &mut out);
            out
        })
        .collect()
}

/// Starts a receiver (panics if it cannot: see `Receiver::start`).
async fn start(kind: Kind, transport: Transport, dir: &Path) -> Receiver {
    let dir = dir.to_owned();
    blocking(move || Receiver::start(kind, transport, &dir)).await
}

fn assert_same(kind: Kind, got: &Record, sent: &[u8]) {
    let parsed = rfc5424_strict::parse(sent).unwrap_or_else(|e| panic!("our own output is invalid: {e}"));
    let context = format!("{} got {got:#?}\nsent {:?}", kind.name(), String::from_utf8_lossy(sent));
    assert!(!got.parse_error, "{context}");
    assert_eq!(got.pri, Some(u16::from(parsed.pri)), "{context}");
    assert_eq!(got.timestamp, kind.expected_timestamp(parsed.timestamp.expect("timestamp")), "{context}");
    assert_eq!(got.hostname, kind.expected_hostname(parsed.hostname.unwrap_or("-")), "{context}");
    assert_eq!(got.app_name, kind.expected_field(parsed.app_name.unwrap_or("-")), "{context}");
    assert_eq!(got.procid, kind.expected_field(parsed.procid.unwrap_or("-")), "{context}");
    assert_eq!(got.msgid, kind.expected_field(parsed.msgid.unwrap_or("-")), "{context}");
    // STRUCTURED-DATA is everything from the first '[' up to the SP before MSG (and its BOM).
    let sd_start = sent.iter().position(|&b| b == b'[').expect("structured data");
    let sd_end = match parsed.msg {
        Some(Msg::Utf8(text)) => text.as_ptr() as usize - sent.as_ptr() as usize - 1 - 3,
        Some(Msg::Any(bytes)) => bytes.as_ptr() as usize - sent.as_ptr() as usize - 1,
        None => sent.len(),
    };
    let sd_text = std::str::from_utf8(&sent[sd_start..sd_end]).expect("utf8");
    assert_eq!(got.structured_data, kind.expected_structured_data(sd_text), "{context}");
    assert_eq!(got.sd_params, kind.expected_sd_params(sd_text), "{context}");
    let msg = match parsed.msg {
        Some(Msg::Utf8(text)) => format!("\u{feff}{text}"),
        Some(Msg::Any(bytes)) => String::from_utf8(bytes.to_vec()).expect("utf8"),
        None => String::new(),
    };
    assert_eq!(got.msg, kind.expected_msg(&msg), "{context}");
}

/// Sends `EVENTS` through the daemon to a real receiver and checks every field.
async fn round_trip(kind: Kind, transport: Transport, scheme: &str, extra: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = start(kind, transport, dir.path()).await;
    let config = sink_config(&format!("{scheme}://127.0.0.1:{}", receiver.port()), extra);
    let expected = expected_messages(&config);
    let daemon = TestDaemon::start(&config).await;
    let outcome = daemon.send(&EVENTS.join("\n")).await;
    assert_eq!(outcome.accepted, EVENTS.len() as u64);
    let (receiver, records) = blocking(move || {
        let records = receiver.expect_records(EVENTS.len(), WAIT);
        (receiver, records)
    })
    .await;
    assert_eq!(records.len(), EVENTS.len(), "{}", receiver.diagnostics());
    for (got, sent) in records.iter().zip(&expected) {
        assert_same(kind, got, sent);
    }
    let report = daemon.stop().await;
    assert_eq!(report.undelivered(), 0);
}

fn tls_transport(pki: &Pki, require_client_cert: bool) -> Transport {
    Transport::Tls {
        ca_file: pki.ca_file.clone(),
        cert_file: pki.server_cert_file.clone(),
        key_file: pki.server_key_file.clone(),
        require_client_cert,
    }
}

macro_rules! interop_tests {
    ($($name:ident: $kind:expr;)*) => {$(
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(interop_unavailable, ignore = "needs rsyslog and syslog-ng: see the build warning")]
            async fn tcp_octet_counting() {
                round_trip($kind, Transport::TcpOctetCounted, "tcp", "").await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(interop_unavailable, ignore = "needs rsyslog and syslog-ng: see the build warning")]
            async fn tcp_lf_framing() {
                round_trip($kind, Transport::TcpLf, "tcp", "framing = \"lf\"").await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(interop_unavailable, ignore = "needs rsyslog and syslog-ng: see the build warning")]
            async fn udp() {
                round_trip($kind, Transport::Udp, "udp", "").await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(interop_unavailable, ignore = "needs rsyslog and syslog-ng: see the build warning")]
            async fn tls() {
                let certs = tempfile::tempdir().expect("tempdir");
                let pki = Pki::new(certs.path(), &["127.0.0.1", "localhost"]);
                let tls = format!("tls = {{ ca_file = \"{}\" }}", pki.ca_file.display());
                round_trip($kind, tls_transport(&pki, false), "tls", &tls).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(interop_unavailable, ignore = "needs rsyslog and syslog-ng: see the build warning")]
            async fn mutual_tls() {
                let certs = tempfile::tempdir().expect("tempdir");
                let pki = Pki::new(certs.path(), &["127.0.0.1"]);
                let tls = format!(
                    "tls = {{ ca_file = \"{}\", cert_file = \"{}\", key_file = \"{}\" }}",
                    pki.ca_file.display(),
                    pki.client_cert_file.display(),
                    pki.client_key_file.display()
                );
                round_trip($kind, tls_transport(&pki, true), "tls", &tls).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(interop_unavailable, ignore = "needs rsyslog and syslog-ng: see the build warning")]
            async fn a_mapped_hostname_is_recoverable_from_the_structured_data() {
                mapped_hostname($kind).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(interop_unavailable, ignore = "needs rsyslog and syslog-ng: see the build warning")]
            async fn receiver_restart_mid_stream_loses_nothing() {
                restart_mid_stream($kind).await;
            }
        }
    )*};
}

interop_tests! {
    rsyslog: Kind::Rsyslog;
    syslog_ng: Kind::SyslogNg;
}

/// A `host` HOSTNAME cannot carry is mapped in the header, and the analyst still finds the
/// original in the SD parameter `original_host`, as the receiver parsed it.
async fn mapped_hostname(kind: Kind) {
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = start(kind, Transport::TcpOctetCounted, dir.path()).await;
    let daemon = TestDaemon::start(&sink_config(&format!("tcp://127.0.0.1:{}", receiver.port()), "")).await;
    let hosts = ["ünï-host", "db 01.corp", "web-1"];
    let lines: Vec<String> =
        hosts.iter().map(|host| format!(r#"{{"event":"login","id":"{host}","host":"{host}"}}"#)).collect();
    assert_eq!(daemon.send(&lines.join("\n")).await.accepted, 3);
    let (receiver, records) = blocking(move || {
        let records = receiver.expect_records(3, WAIT);
        (receiver, records)
    })
    .await;
    assert_eq!(records.len(), 3, "{}", receiver.diagnostics());
    for (record, (host, mapped)) in
        records.iter().zip([("ünï-host", "_n_-host"), ("db 01.corp", "db_01.corp"), ("web-1", "web-1")])
    {
        assert_eq!(record.hostname, kind.expected_hostname(mapped), "{}", kind.name());
        let original = (host != mapped).then_some(host);
        assert_eq!(record.sd_param("siem@32473", "original_host"), original, "{}: {record:#?}", kind.name());
    }
    daemon.stop().await;
}

/// The receiver is stopped and started again while events flow: every event arrives at least
/// once.
async fn restart_mid_stream(kind: Kind) {
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = start(kind, Transport::TcpOctetCounted, dir.path()).await;
    let daemon = TestDaemon::start(&sink_config(&format!("tcp://127.0.0.1:{}", receiver.port()), "")).await;
    let all = numbered_events("x", 600);
    let lines: Vec<&str> = all.lines().collect();
    daemon.send(&lines[..200].join("\n")).await;
    let receiver = blocking(move || {
        receiver.expect_records(200, WAIT);
        receiver
    })
    .await;
    let mut receiver = blocking(move || {
        let mut receiver = receiver;
        receiver.stop();
        receiver
    })
    .await;
    daemon.send(&lines[200..400].join("\n")).await;
    receiver = blocking(move || {
        receiver.restart();
        receiver
    })
    .await;
    daemon.send(&lines[400..].join("\n")).await;
    let expected: HashSet<String> = (0..600).map(|i| format!("e{i}")).collect();
    let (receiver, ids) = blocking(move || {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let ids: HashSet<String> =
                receiver.records().iter().filter_map(|r| r.sd_param("siem@32473", "id").map(str::to_owned)).collect();
            if ids.is_superset(&expected) || std::time::Instant::now() > deadline {
                return (receiver, ids);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await;
    let missing = (0..600).filter(|i| !ids.contains(&format!("e{i}"))).count();
    assert_eq!(missing, 0, "{missing} events lost\n{}", receiver.diagnostics());
    let duplicates = receiver.records().len() - ids.len();
    eprintln!("{}: restart mid-stream: 600 events, {duplicates} duplicates", kind.name());
    daemon.stop().await;
}

/// RELP to rsyslog's `imrelp` (Debian's rsyslog-relp): every field as sent, as over TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(interop_unavailable, ignore = "needs rsyslog and syslog-ng: see the build warning")]
async fn rsyslog_relp_round_trip() {
    round_trip(Kind::Rsyslog, Transport::Relp, "relp", "").await;
}

/// RELP over mutual TLS (the sink's `tls` table) to rsyslog's `imrelp` with `tls="on"`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(interop_unavailable, ignore = "needs rsyslog and syslog-ng: see the build warning")]
async fn rsyslog_relp_over_tls_round_trip() {
    let certs = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(certs.path(), &["127.0.0.1", "localhost"]);
    let transport = Transport::RelpTls {
        ca_file: pki.ca_file.clone(),
        cert_file: pki.server_cert_file.clone(),
        key_file: pki.server_key_file.clone(),
    };
    // librelp's TLS always asks for a client certificate: mutual TLS.
    let tls = format!(
        "tls = {{ ca_file = \"{}\", cert_file = \"{}\", key_file = \"{}\" }}",
        pki.ca_file.display(),
        pki.client_cert_file.display(),
        pki.client_key_file.display()
    );
    round_trip(Kind::Rsyslog, transport, "relp", &tls).await;
}

/// Ids of the records rsyslog wrote, with how often each came.
fn ids_with_counts(receiver: &Receiver) -> std::collections::HashMap<String, usize> {
    let mut ids = std::collections::HashMap::new();
    for record in receiver.records() {
        if let Some(id) = record.sd_param("siem@32473", "id") {
            *ids.entry(id.to_owned()).or_insert(0) += 1;
        }
    }
    ids
}

/// rsyslog is killed with SIGKILL while events stream over RELP and started again on the same
/// port: every event arrives (what it acknowledged was written, since its queue is direct; what
/// it had not acknowledged is sent again), and in normal operation each arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(interop_unavailable, ignore = "needs rsyslog and syslog-ng: see the build warning")]
async fn rsyslog_relp_killed_mid_stream_loses_nothing_acknowledged() {
    const N: usize = 5000;
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = start(Kind::Rsyslog, Transport::Relp, dir.path()).await;
    let config = sink_config(&format!("relp://127.0.0.1:{}", receiver.port()), "relp_window = 64");
    let daemon = TestDaemon::start(&config).await;
    let stats = daemon.sink_stats("siem");

    // Normal operation first: 200 events, each exactly once.
    daemon.send(&numbered_events("x", 200)).await;
    let (receiver, ids) = blocking(move || {
        receiver.expect_records(200, WAIT);
        let ids = ids_with_counts(&receiver);
        (receiver, ids)
    })
    .await;
    assert!(ids.len() == 200 && ids.values().all(|&n| n == 1), "{ids:?}");

    // Then N more, with rsyslog killed once part of them arrived.
    let all: String = (200..200 + N)
        .map(|i| format!("{{\"event\":\"x\",\"id\":\"e{i}\",\"severity\":\"high\",\"title\":\"event number {i}\"}}\n"))
        .collect();
    let sending = {
        let socket = daemon.socket.clone();
        tokio::spawn(async move { siem_relay::client::send(&socket, all.as_bytes()).await.expect("send") })
    };
    let mut receiver = blocking(move || {
        let deadline = std::time::Instant::now() + WAIT;
        while receiver.records().len() < 200 + N / 10 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut receiver = receiver;
        receiver.kill();
        receiver
    })
    .await;
    let killed_at = get_delivered(&stats);
    receiver = blocking(move || {
        std::thread::sleep(Duration::from_millis(300));
        receiver.restart();
        receiver
    })
    .await;
    assert_eq!(sending.await.expect("sender").accepted, N as u64);
    let delivered = crate::support::eventually(WAIT, || get_delivered(&stats) == (200 + N) as u64).await;
    let (receiver, ids) = blocking(move || {
        let ids = ids_with_counts(&receiver);
        (receiver, ids)
    })
    .await;
    let missing: Vec<usize> = (0..200 + N).filter(|i| !ids.contains_key(&format!("e{i}"))).collect();
    assert!(
        missing.is_empty(),
        "{} events lost: {:?}\n{}",
        missing.len(),
        &missing[..missing.len().min(20)],
        receiver.diagnostics()
    );
    assert!(delivered, "delivered {} of {}", get_delivered(&stats), 200 + N);
    let duplicates: usize = ids.values().map(|n| n - 1).sum();
    let resent = crate::support::daemon::get(&stats.resent);
    eprintln!(
        "rsyslog RELP kill -9 after {killed_at} answered: {} events, {duplicates} duplicates, {resent} re-sent",
        200 + N
    );
    assert!(duplicates as u64 <= resent, "more duplicates ({duplicates}) than re-sent events ({resent})");
    daemon.stop().await;
}

fn get_delivered(stats: &siem_relay::sink::SinkStats) -> u64 {
    crate::support::daemon::get(&stats.delivered)
}
