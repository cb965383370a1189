//! RELP sinks against a strict RELP receiver of our own (`support/relp_server.rs`): every event
//! answered once, the window held, refusals retried and then dropped, a receiver that dies
//! with commands unanswered. The real rsyslog `imrelp` tests are in `interop.rs`.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::daemon::{get, numbered_events, TestDaemon};
use crate::support::eventually;
use crate::support::relp_server::{Behaviour, RelpServer};
use crate::support::rfc5424_strict;

const WAIT: Duration = Duration::from_secs(30);

fn sink(url: &str, window: usize, extra: &str) -> String {
    format!(
        "[sinks.relp]\nformat = \"rfc5424\"\nurl = \"{url}\"\nrelp_window = {window}\nbackoff_initial_ms = 20\nbackoff_max_ms = 100\n{extra}"
    )
}

/// How many times each event id was accepted; every message must be valid RFC 5424.
fn accepted_ids(server: &RelpServer) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for message in server.accepted() {
        let parsed = rfc5424_strict::parse(message.as_bytes()).unwrap_or_else(|e| panic!("{e:?}: {message}"));
        let id = parsed.sd_param("siem@32473", "id").unwrap_or_else(|| panic!("no id: {message}"));
        *ids.entry(id.to_owned()).or_default() += 1;
    }
    ids
}

fn all_once(ids: &HashMap<String, usize>, n: usize) -> bool {
    ids.len() == n && (0..n).all(|i| ids.get(&format!("e{i}")) == Some(&1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_answered_once_in_order_within_the_window() {
    let server = RelpServer::start(Behaviour { window: 8, ..Behaviour::default() }).await;
    let daemon = TestDaemon::start(&sink(&server.url(), 8, "")).await;
    daemon.send(&numbered_events("finding_added", 500)).await;
    let stats = daemon.sink_stats("relp");
    assert!(eventually(WAIT, || get(&stats.delivered) == 500).await, "delivered {}", get(&stats.delivered));
    let ids = accepted_ids(&server);
    assert!(all_once(&ids, 500), "{} distinct ids", ids.len());
    let order: Vec<String> = server.accepted().iter().map(|m| m.rsplit(' ').next().unwrap_or("").to_owned()).collect();
    let expected: Vec<String> = (0..500).map(|i| i.to_string()).collect();
    assert_eq!(order, expected, "MSG ends with the event number, in queue order");
    server.with(|s| {
        assert!(s.violations.is_empty(), "{:?}", s.violations);
        assert!(s.max_outstanding <= 8, "{} outstanding", s.max_outstanding);
        assert_eq!(s.sessions, 1);
    });
    assert_eq!(daemon.queue_depth("relp").0, 0);
    // Shutdown closes the session with `close`.
    daemon.stop().await;
    assert!(eventually(WAIT, || server.with(|s| s.closed) == 1).await, "no close");
}

/// A receiver that answers slowly: the client keeps at most `relp_window` commands unanswered
/// and the rest waits in the sink's queue, where `when_full` applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_holds_the_window_and_the_queue_not_memory() {
    let server =
        RelpServer::start(Behaviour { window: 4, answer_delay: Duration::from_millis(5), ..Behaviour::default() })
            .await;
    let daemon = TestDaemon::start(&sink(&server.url(), 4, "queue = { max_events = 50, when_full = \"block\" }")).await;
    let sending = {
        let socket = daemon.socket.clone();
        tokio::spawn(async move {
            siem_relay::client::send(&socket, numbered_events("finding_added", 300).as_bytes()).await.expect("send")
        })
    };
    // The queue fills up behind the window while the receiver is slow.
    let mut deepest = 0;
    let stats = daemon.sink_stats("relp");
    while get(&stats.delivered) < 300 {
        deepest = deepest.max(daemon.queue_depth("relp").0);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sending.await.expect("sender");
    assert!(deepest > 4, "the queue never held more than the window ({deepest})");
    assert!(deepest <= 50, "the queue went past max_events ({deepest})");
    server.with(|s| {
        assert!(s.violations.is_empty(), "{:?}", s.violations);
        assert!(s.max_outstanding <= 4, "{} unanswered at once, window 4", s.max_outstanding);
    });
    assert!(all_once(&accepted_ids(&server), 300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_is_retried_and_one_never_taken_is_dropped_and_counted() {
    // e7 is refused twice, then taken.
    let server = RelpServer::start(Behaviour {
        window: 16,
        refuse: Some(("event number 7".to_owned(), 2)),
        ..Behaviour::default()
    })
    .await;
    let daemon = TestDaemon::start(&sink(&server.url(), 16, "")).await;
    daemon.send(&numbered_events("finding_added", 40)).await;
    let stats = daemon.sink_stats("relp");
    assert!(eventually(WAIT, || get(&stats.delivered) == 40).await, "delivered {}", get(&stats.delivered));
    let ids = accepted_ids(&server);
    assert_eq!(ids.get("e7"), Some(&1), "{ids:?}");
    assert!((0..40).all(|i| ids.contains_key(&format!("e{i}"))), "{ids:?}");
    assert_eq!(get(&stats.retries), 2);
    assert_eq!(get(&stats.dropped_unsendable), 0);
    server.with(|s| assert!(s.violations.is_empty(), "{:?}", s.violations));

    // e3 is refused every time: after 5 refusals it is dropped, counted, and the rest flows.
    let server = RelpServer::start(Behaviour {
        window: 16,
        refuse: Some(("event number 3".to_owned(), usize::MAX)),
        ..Behaviour::default()
    })
    .await;
    let daemon = TestDaemon::start(&sink(&server.url(), 16, "")).await;
    daemon.send(&numbered_events("finding_added", 10)).await;
    let stats = daemon.sink_stats("relp");
    // A refusal counts only when the receiver took other messages since: the traffic that
    // keeps coming shows e3 is refused for itself, not because the receiver is overloaded.
    let mut more = 10;
    let deadline = tokio::time::Instant::now() + WAIT;
    while get(&stats.dropped_unsendable) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "e3 was never dropped");
        daemon.send(&format!("{{\"event\":\"x\",\"id\":\"m{more}\",\"title\":\"more {more}\"}}\n")).await;
        more += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(get(&stats.dropped_unsendable), 1);
    assert!(eventually(WAIT, || accepted_ids(&server).len() == 9 + more - 10).await, "{:?}", accepted_ids(&server));
    assert!(!accepted_ids(&server).contains_key("e3"));
    assert_eq!(get(&stats.retries), siem_relay::sink::relp::MAX_REJECTIONS as u64);
    assert!(eventually(WAIT, || daemon.queue_depth("relp").0 == 0).await);
    let expected = (9 + more - 10) as u64;
    assert!(eventually(WAIT, || get(&stats.delivered) == expected).await, "a dropped message is not delivered");

    // A receiver that refuses everything (overloaded) never makes the sink drop anything.
    let server = RelpServer::start(Behaviour {
        window: 16,
        refuse: Some(("event number".to_owned(), 40)),
        ..Behaviour::default()
    })
    .await;
    let daemon = TestDaemon::start(&sink(&server.url(), 16, "")).await;
    daemon.send(&numbered_events("finding_added", 5)).await;
    let stats = daemon.sink_stats("relp");
    assert!(eventually(WAIT, || get(&stats.delivered) == 5).await, "delivered {}", get(&stats.delivered));
    assert_eq!(get(&stats.dropped_unsendable), 0);
    assert!(get(&stats.retries) >= 5);
}

/// The receiver dies with commands unanswered: every unanswered one is sent again on the next
/// session, so every event is answered at least once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_dying_with_commands_unanswered_loses_nothing() {
    let server = RelpServer::start(Behaviour {
        window: 32,
        cut_after: Some(120),
        answer_delay: Duration::from_millis(1),
        ..Behaviour::default()
    })
    .await;
    let daemon = TestDaemon::start(&sink(&server.url(), 32, "")).await;
    daemon.send(&numbered_events("finding_added", 300)).await;
    let stats = daemon.sink_stats("relp");
    assert!(eventually(WAIT, || get(&stats.delivered) == 300).await, "delivered {}", get(&stats.delivered));
    let ids = accepted_ids(&server);
    assert!(
        (0..300).all(|i| ids.contains_key(&format!("e{i}"))),
        "missing: {:?}",
        (0..300).filter(|i| !ids.contains_key(&format!("e{i}"))).collect::<Vec<_>>()
    );
    assert!(get(&stats.resent) > 0, "nothing was re-sent");
    assert!(ids.values().all(|&n| n == 1), "an answered message was sent again: {ids:?}");
    server.with(|s| {
        assert_eq!(s.sessions, 2);
        assert!(s.violations.is_empty(), "{:?}", s.violations);
    });
}

/// A receiver that takes commands and never answers is given up after `relp_timeout_ms`; the
/// next session gets everything again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_receiver_is_given_up_after_relp_timeout_ms() {
    let server = RelpServer::start(Behaviour { window: 8, mute_first_session: true, ..Behaviour::default() }).await;
    let daemon = TestDaemon::start(&sink(&server.url(), 8, "relp_timeout_ms = 300")).await;
    daemon.send(&numbered_events("finding_added", 20)).await;
    let stats = daemon.sink_stats("relp");
    assert!(eventually(WAIT, || get(&stats.delivered) == 20).await, "delivered {}", get(&stats.delivered));
    assert!(all_once(&accepted_ids(&server), 20));
    assert_eq!(server.with(|s| s.sessions), 2);
    assert!(get(&stats.disconnects) >= 1);
    let (_, status) = daemon.control("GET", "/v1/sinks/relp").await;
    assert!(status["last_error"]["error"].as_str().is_some_and(|e| e.contains("no answer")), "{status}");
}

/// A reload that points a RELP sink whose receiver is down at a live one takes effect at once:
/// the old worker hands its unanswered events over mid-batch instead of retrying for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_replaces_a_relp_sink_whose_receiver_is_down() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let daemon = TestDaemon::start(&sink(&format!("relp://127.0.0.1:{dead}"), 8, "")).await;
    daemon.send(&numbered_events("finding_added", 10)).await;
    let stats = daemon.sink_stats("relp");
    assert!(eventually(WAIT, || get(&stats.connect_failures) >= 2).await);
    let server = RelpServer::start(Behaviour { window: 8, ..Behaviour::default() }).await;
    daemon.reload(&sink(&server.url(), 8, "")).await.expect("reload");
    assert!(eventually(WAIT, || accepted_ids(&server).len() == 10).await, "{:?}", accepted_ids(&server));
    assert!(all_once(&accepted_ids(&server), 10));
}

#[test]
fn relp_settings_are_checked() {
    let parse = |extra: &str| {
        siem_relay::config::Config::parse(
            &format!("[sinks.r]\nformat = \"rfc5424\"\nurl = \"relp://127.0.0.1:2514\"\n{extra}"),
            "t.toml",
        )
    };
    assert!(parse("").is_ok());
    assert!(parse("relp_window = 1024").is_ok());
    for (extra, key, reason) in [
        ("relp_window = 0", "sinks.r.relp_window", "expected 1 to 1024"),
        ("relp_timeout_ms = 10", "sinks.r.relp_timeout_ms", "expected 100 to 3600000"),
        ("max_message_bytes = 200000", "sinks.r.max_message_bytes", "largest RELP frame"),
        ("framing = \"lf\"", "sinks.r.framing", "tcp:// and tls://"),
    ] {
        let error = parse(extra).expect_err(extra);
        assert_eq!(error.key, key, "{extra}");
        assert!(error.message.contains(reason), "{extra}: {}", error.message);
    }
    let error = siem_relay::config::Config::parse(
        "[sinks.r]\nformat = \"rfc5424\"\nurl = \"tcp://127.0.0.1:514\"\nrelp_window = 4",
        "t.toml",
    )
    .expect_err("relp_window on tcp");
    assert!(error.message.contains("relp:// sinks only"), "{}", error.message);
}
