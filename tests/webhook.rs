//! Webhook sinks against a scripted HTTP receiver: bodies, headers and signatures (checked by
//! the Standard Webhooks reference verifier and Python's hmac), retries, Retry-After, redirects,
//! 4xx, 410, timeouts, resets, the circuit breaker, dead letters, HEC batching, and the egress
//! policy refusing before any connection is made.

use std::io::Read as _;
use std::time::Duration;

use siem_relay::sink::http::breaker::BreakerState;

use crate::support::daemon::{get, numbered_events, TestDaemon};
use crate::support::eventually;
use crate::support::http_receiver::{HttpReceiver, Reply};
use crate::support::webhook_verifier;

const WAIT: Duration = Duration::from_secs(30);
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn sink(url: &str, extra: &str) -> String {
    format!(
        "[egress]\nallow = [\"127.0.0.0/8\"]\n[sinks.hook]\nformat = \"json\"\nurl = \"{url}\"\nbackoff_initial_ms = 10\nbackoff_max_ms = 50\n{extra}"
    )
}

fn state(daemon: &TestDaemon) -> std::sync::Arc<siem_relay::sink::http::HttpSinkState> {
    daemon.handles.router.load().routes()[0].http.clone().expect("webhook sink")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(interop_unavailable, ignore = "needs the Standard Webhooks verifier: see the build warning")]
async fn json_envelope_headers_and_standard_signature() {
    let receiver = HttpReceiver::start(vec![]).await;
    let config = sink(
        &receiver.url("/hooks/abc"),
        &format!("secret = \"{STANDARD_SECRET}\"\nheaders = {{ \"X-Team\" = \"soc\" }}"),
    );
    let daemon = TestDaemon::start(&config).await;
    daemon.send(r#"{"event":"finding_added","id":"f-1","severity":"high","title":"SQLi","timestamp":"2024-05-01T12:00:00Z","data":{"cwe":"CWE-89"}}"#).await;
    assert!(eventually(WAIT, || receiver.requests().len() == 1).await);
    let request = &receiver.requests()[0];
    assert_eq!(request.path, "/hooks/abc");
    let body = request.json();
    assert_eq!(body["schema_version"], 1);
    assert_eq!(body["event"], "finding_added");
    assert_eq!(body["id"], "f-1");
    assert_eq!(body["timestamp"], "2024-05-01T12:00:00Z");
    assert_eq!(body["data"]["data"]["cwe"], "CWE-89");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-event-type"), Some("finding_added"));
    assert_eq!(request.header("x-team"), Some("soc"));
    assert!(request.header("user-agent").is_some_and(|ua| ua.starts_with("siem-relay/")));
    let delivery_id = request.header("x-delivery-id").expect("delivery id");
    assert_eq!(request.header("webhook-id"), Some(delivery_id));
    let headers: Vec<(String, String)> = request.headers.clone();
    webhook_verifier::ensure_available();
    webhook_verifier::verify("standard", &[STANDARD_SECRET], &headers, &request.body)
        .expect("valid Standard Webhooks signature");
    let mut tampered = request.body.clone();
    tampered.push(b' ');
    assert!(webhook_verifier::verify("standard", &[STANDARD_SECRET], &headers, &tampered).is_err());
    let report = daemon.stop().await;
    assert_eq!(get(&report.sinks[0].1.delivered), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(interop_unavailable, ignore = "needs the Standard Webhooks verifier: see the build warning")]
async fn hex_signatures_use_the_configured_header_and_rotate_secrets_from_a_file() {
    let receiver = HttpReceiver::start(vec![]).await;
    let daemon = TestDaemon::start(&sink(
        &receiver.url("/"),
        "signature = \"hex\"\nsignature_header = \"X-Hub-Signature-256\"\nsecret = \"It's a Secret to Everybody\"",
    ))
    .await;
    daemon.send(&numbered_events("x", 1)).await;
    assert!(eventually(WAIT, || receiver.requests().len() == 1).await);
    let request = &receiver.requests()[0];
    let signature = request.header("x-hub-signature-256").expect("signature header");
    assert!(signature.starts_with("sha256=") && signature.len() == 71);
    webhook_verifier::ensure_available();
    webhook_verifier::verify_with_header(
        "hex",
        &["It's a Secret to Everybody"],
        &request.headers,
        &request.body,
        Some("X-Hub-Signature-256"),
    )
    .expect("valid hex signature");
    daemon.stop().await;

    // Two secrets in a file: one signature each, both verifiable (key rotation).
    let receiver = HttpReceiver::start(vec![]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let second = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let path = dir.path().join("secret");
    crate::support::write_secret(&path, &format!("{STANDARD_SECRET}\n{second}\n"));
    let daemon = TestDaemon::start(&sink(&receiver.url("/"), &format!("secret_file = \"{}\"", path.display()))).await;
    daemon.send(&numbered_events("x", 1)).await;
    assert!(eventually(WAIT, || receiver.requests().len() == 1).await);
    let request = &receiver.requests()[0];
    assert_eq!(request.header("webhook-signature").expect("signature").split(' ').count(), 2);
    webhook_verifier::verify("standard", &[STANDARD_SECRET, second], &request.headers, &request.body)
        .expect("both verify");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_answers_are_retried_with_the_same_delivery_id() {
    let receiver = HttpReceiver::start(vec![
        Reply::Status(503),
        Reply::With(429, vec![("Retry-After", "0".to_owned())]),
        Reply::Status(408),
        Reply::Reset,
        Reply::Status(200),
    ])
    .await;
    let daemon = TestDaemon::start(&sink(&receiver.url("/"), "retry_count = 5\nfailure_threshold = 100")).await;
    daemon.send(&numbered_events("x", 1)).await;
    let stats = daemon.sink_stats("hook");
    assert!(eventually(WAIT, || get(&stats.delivered) == 1).await, "{}", stats.summary());
    let requests = receiver.requests();
    assert_eq!(requests.len(), 5);
    let ids: std::collections::HashSet<&str> = requests.iter().filter_map(|r| r.header("x-delivery-id")).collect();
    assert_eq!(ids.len(), 1, "one delivery id across retries");
    assert_eq!(get(&stats.retries), 4);
    let history = state(&daemon).history.newest_first();
    let statuses: Vec<Option<u16>> = history.iter().rev().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(503), Some(429), Some(408), None, Some(200)]);
    assert_eq!(history.iter().rev().map(|a| a.attempt).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert!(history[0].success && history[0].response.contains("answer 200"));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_and_client_errors_are_not_retried_and_become_dead_letters() {
    for reply in [
        Reply::With(302, vec![("Location", "http://127.0.0.1:1/elsewhere".to_owned())]),
        Reply::Status(400),
        Reply::Status(403),
    ] {
        let receiver = HttpReceiver::start(vec![reply.clone()]).await;
        let daemon = TestDaemon::start(&sink(&receiver.url("/"), "retry_count = 3")).await;
        daemon.send(&numbered_events("x", 1)).await;
        let stats = daemon.sink_stats("hook");
        assert!(eventually(WAIT, || get(&stats.dead_lettered) == 1).await, "{reply:?}: {}", stats.summary());
        assert_eq!(receiver.requests().len(), 1, "{reply:?} must not be retried or followed");
        let letters = state(&daemon).dead_letters.list();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].events[0].id(), "e0");
        assert_eq!(letters[0].attempts, 4);
        daemon.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_exhausted_into_dead_letters_nothing_is_lost() {
    let receiver = HttpReceiver::start(vec![]).await;
    receiver.set_fallback(Reply::Status(500));
    let daemon = TestDaemon::start(&sink(&receiver.url("/"), "retry_count = 2\nfailure_threshold = 1000")).await;
    daemon.send(&numbered_events("x", 5)).await;
    let stats = daemon.sink_stats("hook");
    assert!(eventually(WAIT, || get(&stats.dead_lettered) == 5).await, "{}", stats.summary());
    assert_eq!(receiver.requests().len(), 15, "3 attempts per event");
    let mut ids: Vec<String> =
        state(&daemon).dead_letters.list().iter().flat_map(|l| l.events.iter().map(|e| e.id().to_owned())).collect();
    ids.sort();
    assert_eq!(ids, ["e0", "e1", "e2", "e3", "e4"]);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_deactivates_the_sink_and_events_wait_in_the_queue() {
    let receiver = HttpReceiver::start(vec![Reply::Status(410)]).await;
    let daemon =
        TestDaemon::start(&format!("shutdown_timeout_ms = 100\n{}", sink(&receiver.url("/"), "concurrency = 1"))).await;
    daemon.send(&numbered_events("x", 1)).await;
    let state = state(&daemon);
    assert!(eventually(WAIT, || state.breaker.state() == BreakerState::Deactivated).await);
    assert_eq!(state.dead_letters.len(), 1);
    daemon.send(&numbered_events("y", 3)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.requests().len(), 1, "a deactivated sink sends nothing");
    // Enabling it again resumes deliveries.
    state.breaker.enable();
    assert!(eventually(WAIT, || receiver.requests().len() == 4).await);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_hangs_past_the_timeout_is_retried() {
    let receiver = HttpReceiver::start(vec![Reply::Hang(Duration::from_secs(5)), Reply::Status(200)]).await;
    let daemon = TestDaemon::start(&sink(&receiver.url("/"), "timeout_ms = 1000\nretry_count = 1")).await;
    daemon.send(&numbered_events("x", 1)).await;
    let stats = daemon.sink_stats("hook");
    assert!(eventually(WAIT, || get(&stats.delivered) == 1).await, "{}", stats.summary());
    let history = state(&daemon).history.newest_first();
    assert_eq!(history.last().and_then(|a| a.error.clone()).as_deref(), Some("timed out"));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_after_consecutive_failures_and_closes_on_success() {
    let receiver = HttpReceiver::start(vec![]).await;
    receiver.set_fallback(Reply::Status(503));
    let daemon = TestDaemon::start(&sink(
        &receiver.url("/"),
        "retry_count = 10\nfailure_threshold = 3\ncooldown_ms = 200\ncooldown_max_ms = 400\nconcurrency = 1",
    ))
    .await;
    daemon.send(&numbered_events("x", 2)).await;
    let state = state(&daemon);
    assert!(eventually(WAIT, || state.breaker.state() == BreakerState::Open).await);
    let seen = receiver.requests().len();
    assert!(seen >= 3);
    receiver.set_fallback(Reply::Status(200));
    let stats = daemon.sink_stats("hook");
    assert!(eventually(WAIT, || get(&stats.delivered) == 2).await, "{}", stats.summary());
    assert_eq!(state.breaker.state(), BreakerState::Closed);
    assert_eq!(get(&stats.dead_lettered), 0, "nothing lost while the breaker was open");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splunk_hec_batches_with_token_and_gzip() {
    let receiver = HttpReceiver::start(vec![]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    crate::support::write_secret(&token, "11111111-2222-3333-4444-555555555555\n");
    let daemon = TestDaemon::start(&format!(
        "[egress]\nallow = [\"127.0.0.0/8\"]\n[sinks.hec]\nformat = \"splunk_hec\"\nurl = \"{}\"\ntoken_file = \"{}\"\ngzip = true\nbatch = {{ max_events = 100, max_linger_ms = 200 }}\nhec = {{ index = \"security\" }}",
        receiver.url("/services/collector/event"),
        token.display()
    ))
    .await;
    daemon.send(&numbered_events("x", 250)).await;
    let stats = daemon.sink_stats("hec");
    assert!(eventually(WAIT, || get(&stats.delivered) == 250).await, "{}", stats.summary());
    let requests = receiver.requests();
    assert!(requests.len() >= 3 && requests.len() <= 10, "batched: {} requests", requests.len());
    let mut events = 0;
    for request in &requests {
        assert_eq!(request.header("authorization"), Some("Splunk 11111111-2222-3333-4444-555555555555"));
        assert_eq!(request.header("content-encoding"), Some("gzip"));
        let mut text = String::new();
        flate2::read::GzDecoder::new(&request.body[..]).read_to_string(&mut text).expect("gzip");
        let stream = serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>();
        for object in stream {
            let object = object.expect("concatenated JSON objects");
            assert_eq!(object["index"], "security");
            assert!(object["time"].is_number());
            events += 1;
        }
    }
    assert_eq!(events, 250);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_batches_are_json_arrays_of_envelopes_in_order() {
    let receiver = HttpReceiver::start(vec![]).await;
    let config = sink(&receiver.url("/bulk"), "concurrency = 1\nbatch = { max_events = 50, max_linger_ms = 200 }");
    let daemon = TestDaemon::start(&config).await;
    daemon.send(&numbered_events("x", 120)).await;
    let stats = daemon.sink_stats("hook");
    assert!(eventually(WAIT, || get(&stats.delivered) == 120).await, "{}", stats.summary());
    let requests = receiver.requests();
    assert!(requests.len() >= 3 && requests.len() <= 10, "batched: {} requests", requests.len());
    let mut ids = Vec::new();
    for request in &requests {
        let body = request.json();
        let batch = body.as_array().expect("a JSON array");
        assert!(!batch.is_empty() && batch.len() <= 50);
        for envelope in batch {
            assert_eq!(envelope["schema_version"], 1);
            ids.push(envelope["id"].as_str().expect("id").to_owned());
        }
    }
    let expected: Vec<String> = (0..120).map(|n| format!("e{n}")).collect();
    assert_eq!(ids, expected, "every event once, in order");
    daemon.stop().await;
}

#[tokio::test]
async fn batch_is_refused_for_formats_that_cannot_batch() {
    let error = siem_relay::config::Config::parse(
        "[egress]\nallow = [\"127.0.0.0/8\"]\n[sinks.chat]\nformat = \"slack\"\nurl = \"http://127.0.0.1:9/\"\nbatch = { max_events = 5 }",
        "test.toml",
    )
    .expect_err("slack cannot batch");
    assert!(error.to_string().contains("sinks.chat.batch"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_delivery_goes_through_format_signing_and_transport_and_is_recorded() {
    let receiver = HttpReceiver::start(vec![]).await;
    let daemon = TestDaemon::start(&sink(&receiver.url("/"), &format!("secret = \"{STANDARD_SECRET}\""))).await;
    let route = daemon.handles.router.load().routes()[0].clone();
    let config =
        Config::parse(&sink(&receiver.url("/"), &format!("secret = \"{STANDARD_SECRET}\"")), "t").expect("valid");
    let attempt = siem_relay::sink::http::test_delivery(config.sinks[0].clone(), route.http.clone().expect("state"))
        .await
        .expect("a webhook sink");
    assert!(attempt.test && attempt.success, "{attempt:?}");
    let request = &receiver.requests()[0];
    assert_eq!(request.json()["event"], "siem_relay_test");
    assert!(request.header("webhook-signature").is_some());
    assert!(route.http.as_ref().expect("state").history.newest_first()[0].test);
    daemon.stop().await;
}

use siem_relay::config::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_egress_policy_refuses_a_name_that_resolves_to_loopback_before_connecting() {
    let receiver = HttpReceiver::start(vec![]).await;
    // No [egress] allow: "localhost" resolves to loopback, which is denied.
    let config = format!(
        "[sinks.hook]\nformat = \"json\"\nurl = \"http://localhost:{}/\"\nretry_count = 0",
        receiver.addr.port()
    );
    let daemon = TestDaemon::start(&config).await;
    daemon.send(&numbered_events("x", 1)).await;
    let stats = daemon.sink_stats("hook");
    assert!(eventually(WAIT, || get(&stats.dead_lettered) == 1).await, "{}", stats.summary());
    assert!(receiver.requests().is_empty(), "no request may reach a denied address");
    let letter = &state(&daemon).dead_letters.list()[0];
    assert!(letter.error.contains("egress policy") && letter.error.contains("loopback"), "{}", letter.error);
    daemon.stop().await;

    // An IP literal is refused when the config is loaded.
    let error = Config::parse(&format!("[sinks.hook]\nformat = \"json\"\nurl = \"http://{}/\"", receiver.addr), "t")
        .expect_err("denied");
    assert!(error.to_string().contains("sinks.hook.url: egress policy"), "{error}");
}

#[test]
fn secrets_and_tokens_never_show_in_debug_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    crate::support::write_secret(&token, "super-secret-token");
    let text = format!(
        "[egress]\nallow = [\"127.0.0.0/8\"]\n[sinks.a]\nformat = \"json\"\nurl = \"http://127.0.0.1:9/x/secret-path\"\nsecret = \"{STANDARD_SECRET}\"\nheaders = {{ \"X-Api-Key\" = \"key-value-123\" }}\n[sinks.b]\nformat = \"splunk_hec\"\nurl = \"http://127.0.0.1:9/\"\ntoken_file = \"{}\"",
        token.display()
    );
    let config = Config::parse(&text, "t").expect("valid");
    let debug = format!("{config:?}");
    for secret in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "key-value-123", "super-secret-token", "secret-path"] {
        assert!(!debug.contains(secret), "{secret} leaked into Debug output");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_uses_the_tls_settings_of_syslog_sinks() {
    use crate::support::certs::Pki;
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(dir.path(), &["127.0.0.1"]);
    // Mutual TLS with a private CA and a pin on the receiver's certificate.
    let receiver = HttpReceiver::start_tls(vec![], pki.server_config(true)).await;
    let tls = format!(
        "tls = {{ ca_file = \"{}\", cert_file = \"{}\", key_file = \"{}\", pin_sha256 = \"{}\" }}",
        pki.ca_file.display(),
        pki.client_cert_file.display(),
        pki.client_key_file.display(),
        pki.server_pin()
    );
    let daemon = TestDaemon::start(&sink(&receiver.https_url("/secure"), &tls)).await;
    daemon.send(&numbered_events("x", 2)).await;
    let stats = daemon.sink_stats("hook");
    assert!(eventually(WAIT, || get(&stats.delivered) == 2).await, "{}", stats.summary());
    daemon.stop().await;

    // A certificate from another CA is refused: nothing is sent, the event is a dead letter.
    let other = Pki::other_ca_file(dir.path());
    let daemon = TestDaemon::start(&sink(
        &receiver.https_url("/secure"),
        &format!("retry_count = 0\ntls = {{ ca_file = \"{}\" }}", other.display()),
    ))
    .await;
    daemon.send(&numbered_events("y", 1)).await;
    let stats = daemon.sink_stats("hook");
    assert!(eventually(WAIT, || get(&stats.dead_lettered) == 1).await, "{}", stats.summary());
    assert_eq!(receiver.requests().len(), 2, "only the two trusted deliveries arrived");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_can_be_replayed() {
    let receiver = HttpReceiver::start(vec![Reply::Status(400)]).await;
    let daemon = TestDaemon::start(&sink(&receiver.url("/"), "retry_count = 0")).await;
    daemon.send(&numbered_events("x", 1)).await;
    let stats = daemon.sink_stats("hook");
    assert!(eventually(WAIT, || get(&stats.dead_lettered) == 1).await);
    assert_eq!(daemon.handles.router.load().replay_dead_letters("hook").await, Some(1));
    assert!(eventually(WAIT, || get(&stats.delivered) == 1).await, "{}", stats.summary());
    assert!(state(&daemon).dead_letters.is_empty());
    let bodies: Vec<serde_json::Value> = receiver.requests().iter().map(|r| r.json()).collect();
    assert_eq!(bodies[0]["id"], bodies[1]["id"], "the same event, sent again");
    assert_eq!(daemon.handles.router.load().replay_dead_letters("nonexistent").await, None);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cef_goes_as_a_plain_text_body() {
    let receiver = HttpReceiver::start(vec![]).await;
    let daemon =
        TestDaemon::start(&sink(&receiver.url("/cef"), "").replace("format = \"json\"", "format = \"cef\"")).await;
    daemon.send(r#"{"event":"finding_added","id":"f-1","title":"a|b","description":"x=y"}"#).await;
    assert!(eventually(WAIT, || receiver.requests().len() == 1).await);
    let request = &receiver.requests()[0];
    assert_eq!(request.header("content-type"), Some("text/plain; charset=utf-8"));
    let record =
        crate::support::cef_strict::parse(std::str::from_utf8(&request.body).expect("utf8")).expect("bare CEF record");
    assert_eq!((record.name.as_str(), record.get("msg")), ("a|b", Some("x=y")));
    daemon.stop().await;
}
