//! Receivers that go away: events written into a broken connection, or queued while the
//! receiver is down, arrive once it is back (at least once: duplicates are allowed).

use std::collections::HashSet;
use std::time::Duration;

use crate::support::daemon::{get, numbered_events, TestDaemon};
use crate::support::eventually;
use crate::support::listeners::StreamReceiver;

const WAIT: Duration = Duration::from_secs(30);

fn received_ids(receiver: &StreamReceiver) -> HashSet<String> {
    receiver.octet_ids().into_iter().collect()
}

fn sink(url: &str) -> String {
    format!("[sinks.siem]\nformat = \"rfc5424\"\nurl = \"{url}\"\nbackoff_initial_ms = 20\nbackoff_max_ms = 100")
}

fn expected(range: std::ops::Range<usize>) -> HashSet<String> {
    range.map(|i| format!("e{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_restarting_mid_stream_loses_nothing() {
    let mut receiver = StreamReceiver::tcp().await;
    let daemon = TestDaemon::start(&sink(&receiver.url("tcp"))).await;
    let all = numbered_events("x", 900);
    let lines: Vec<&str> = all.lines().collect();

    daemon.send(&lines[..300].join("\n")).await;
    assert!(eventually(WAIT, || received_ids(&receiver).len() == 300).await);
    receiver.stop().await;
    // Written while the receiver is gone: the first write may vanish into the dead
    // connection, the rest queue up while reconnects fail.
    daemon.send(&lines[300..600].join("\n")).await;
    receiver.restart().await;
    daemon.send(&lines[600..].join("\n")).await;

    assert!(
        eventually(WAIT, || received_ids(&receiver) == expected(0..900)).await,
        "missing: {:?}",
        expected(0..900).difference(&received_ids(&receiver)).count()
    );
    let report = daemon.stop().await;
    assert_eq!(report.undelivered(), 0);
    assert!(get(&report.sinks[0].1.connect_failures) > 0 || receiver.connections().len() > 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_acknowledged_but_unread_by_a_dying_receiver_is_sent_again() {
    let mut receiver = StreamReceiver::tcp().await;
    receiver.pause();
    let daemon = TestDaemon::start(&sink(&receiver.url("tcp"))).await;
    daemon.send(&numbered_events("x", 200)).await;
    // The peer's kernel acknowledges everything, but the receiver never reads it ...
    let stats = daemon.sink_stats("siem");
    assert!(eventually(WAIT, || get(&stats.delivered) == 200).await);
    // ... and dies with it unread (the kernel answers with a reset).
    receiver.stop().await;
    receiver.resume();
    receiver.restart().await;
    daemon.send(&numbered_events("y", 1)).await;
    assert!(eventually(WAIT, || received_ids(&receiver).is_superset(&expected(0..200))).await, "lost events");
    let report = daemon.stop().await;
    assert!(get(&report.sinks[0].1.resent) >= 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_sink_is_reported_at_shutdown() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let daemon =
        TestDaemon::start(&format!("shutdown_timeout_ms = 300\n{}", sink(&format!("tcp://127.0.0.1:{port}")))).await;
    daemon.send(&numbered_events("x", 5)).await;
    let report = daemon.stop().await;
    assert_eq!(report.undelivered(), 5);
    assert!(get(&report.sinks[0].1.connect_failures) > 0);
}
