//! TLS sinks (RFC 5425) against a rustls test receiver: trust, mutual TLS, hostname checks and
//! pinning, each failure mode refusing to deliver rather than sending to the wrong peer.

use std::time::Duration;

use crate::support::certs::Pki;
use crate::support::daemon::{get, numbered_events, TestDaemon};
use crate::support::eventually;
use crate::support::listeners::StreamReceiver;
use crate::support::rfc5424_strict;

const WAIT: Duration = Duration::from_secs(20);

fn sink(url: &str, tls: &str) -> String {
    format!("shutdown_timeout_ms = 200\n[sinks.siem]\nformat = \"rfc5424\"\nurl = \"{url}\"\nbackoff_initial_ms = 20\nbackoff_max_ms = 100\ntls = {{ {tls} }}")
}

/// Sends 3 events and says whether they arrived.
async fn delivers(receiver: &StreamReceiver, config: &str) -> (bool, u64) {
    let daemon = TestDaemon::start(config).await;
    daemon.send(&numbered_events("tls", 3)).await;
    let stats = daemon.sink_stats("siem");
    let arrived = eventually(Duration::from_secs(3), || receiver.octet_frames().len() == 3).await;
    if !arrived {
        // TLS 1.3 finishes the client's side of the handshake before the server has judged the
        // client certificate, so a refusal may show as a broken connection instead.
        let failures = || get(&stats.connect_failures) + get(&stats.disconnects);
        assert!(eventually(WAIT, || failures() >= 2).await, "failures are counted and retried: {}", stats.summary());
    }
    let report = daemon.stop().await;
    let stats = &report.sinks[0].1;
    (arrived, get(&stats.connect_failures) + get(&stats.disconnects))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_octet_counted_frames_over_tls_with_a_private_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(dir.path(), &["localhost", "127.0.0.1"]);
    let receiver = StreamReceiver::tls(pki.server_config(false)).await;
    let (arrived, _) =
        delivers(&receiver, &sink(&receiver.url("tls"), &format!("ca_file = \"{}\"", pki.ca_file.display()))).await;
    assert!(arrived);
    for frame in receiver.octet_frames() {
        rfc5424_strict::parse(&frame).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_presents_the_client_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(dir.path(), &["127.0.0.1"]);
    let receiver = StreamReceiver::tls(pki.server_config(true)).await;
    let tls = format!(
        "ca_file = \"{}\", cert_file = \"{}\", key_file = \"{}\"",
        pki.ca_file.display(),
        pki.client_cert_file.display(),
        pki.client_key_file.display()
    );
    assert!(delivers(&receiver, &sink(&receiver.url("tls"), &tls)).await.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_requiring_client_certificates_refuses_a_client_without_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(dir.path(), &["127.0.0.1"]);
    let receiver = StreamReceiver::tls(pki.server_config(true)).await;
    let (arrived, failures) =
        delivers(&receiver, &sink(&receiver.url("tls"), &format!("ca_file = \"{}\"", pki.ca_file.display()))).await;
    assert!(!arrived && failures > 0);
    assert!(receiver.octet_frames().is_empty());
    assert!(!receiver.handshake_failures().is_empty(), "the receiver refused the handshake");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_server_certificate_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(dir.path(), &["127.0.0.1"]);
    let receiver = StreamReceiver::tls(pki.server_config(false)).await;
    let other = Pki::other_ca_file(dir.path());
    let (arrived, failures) =
        delivers(&receiver, &sink(&receiver.url("tls"), &format!("ca_file = \"{}\"", other.display()))).await;
    assert!(!arrived && failures > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostname_verification_is_on_by_default_and_can_be_overridden() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(dir.path(), &["siem.example.net"]);
    let receiver = StreamReceiver::tls(pki.server_config(false)).await;
    let ca = format!("ca_file = \"{}\"", pki.ca_file.display());
    let url = receiver.url("tls");
    assert!(!delivers(&receiver, &sink(&url, &ca)).await.0, "127.0.0.1 is not in the certificate");

    let named = StreamReceiver::tls(pki.server_config(false)).await;
    assert!(delivers(&named, &sink(&named.url("tls"), &format!("{ca}, server_name = \"siem.example.net\""))).await.0);

    let unverified = StreamReceiver::tls(pki.server_config(false)).await;
    assert!(delivers(&unverified, &sink(&unverified.url("tls"), &format!("{ca}, verify_hostname = false"))).await.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_pins_must_match_the_server_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(dir.path(), &["127.0.0.1"]);
    let ca = format!("ca_file = \"{}\"", pki.ca_file.display());

    let pinned = StreamReceiver::tls(pki.server_config(false)).await;
    let good = format!("{ca}, pin_sha256 = [\"{}\", \"{}\"]", "00".repeat(32), pki.server_pin());
    assert!(delivers(&pinned, &sink(&pinned.url("tls"), &good)).await.0);

    let mismatched = StreamReceiver::tls(pki.server_config(false)).await;
    let bad = format!("{ca}, pin_sha256 = \"{}\"", "ab".repeat(32));
    assert!(!delivers(&mismatched, &sink(&mismatched.url("tls"), &bad)).await.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_the_handshake_times_out_and_is_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(dir.path(), &["127.0.0.1"]);
    // Accepts TCP connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let config =
        sink(&format!("tls://{addr}"), &format!("ca_file = \"{}\", handshake_timeout_ms = 50", pki.ca_file.display()));
    let daemon = TestDaemon::start(&config).await;
    daemon.send(&numbered_events("tls", 1)).await;
    let stats = daemon.sink_stats("siem");
    assert!(eventually(WAIT, || get(&stats.connect_failures) >= 2).await, "{}", stats.summary());
    let report = daemon.stop().await;
    assert_eq!(report.undelivered(), 1);
    silent.abort();
}
