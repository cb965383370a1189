//! Full queues: `block` stalls writers and loses nothing; the drop policies keep memory bounded
//! and count exactly what they dropped; a slow sink does not hold up the others.

use std::collections::HashSet;
use std::time::Duration;

use crate::support::daemon::{get, TestDaemon};
use crate::support::eventually;
use crate::support::listeners::StreamReceiver;

const WAIT: Duration = Duration::from_secs(60);
/// Enough bytes to overflow every kernel buffer between the writer and a paused receiver.
const EVENTS: usize = 20_000;

/// `EVENTS` events of about 1 KiB each.
fn big_events() -> String {
    let padding = "p".repeat(1000);
    (0..EVENTS).map(|i| format!("{{\"event\":\"load\",\"id\":\"e{i}\",\"title\":\"{padding}\"}}\n")).collect()
}

fn config(url: &str, when_full: &str) -> String {
    format!("[sinks.slow]\nformat = \"rfc5424\"\nurl = \"{url}\"\nqueue = {{ max_events = 100, when_full = \"{when_full}\" }}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_stalls_the_writer_and_loses_nothing() {
    let receiver = StreamReceiver::tcp().await;
    receiver.pause();
    let daemon = TestDaemon::start(&config(&receiver.url("tcp"), "block")).await;
    let socket = daemon.socket.clone();
    let writer = tokio::spawn(async move { siem_relay::client::send(&socket, big_events().as_bytes()).await });

    // The queue fills up and stays full while the receiver does not read ...
    assert!(eventually(WAIT, || daemon.queue_depth("slow").0 == 100).await, "queue never filled");
    // ... and the writer cannot finish: the daemon stopped reading its socket.
    let accepted = get(&daemon.handles.input.accepted);
    assert!(accepted < EVENTS as u64, "all {accepted} events were taken in although the queue was full");
    assert!(!writer.is_finished());

    receiver.resume();
    let outcome = writer.await.expect("joined").expect("send");
    assert_eq!((outcome.accepted, outcome.rejected), (EVENTS as u64, 0));
    assert!(eventually(WAIT, || receiver.octet_frames().len() >= EVENTS).await);
    let received: HashSet<String> = receiver.octet_ids().into_iter().collect();
    assert_eq!(received.len(), EVENTS, "every event arrives");
    let report = daemon.stop().await;
    let stats = &report.sinks[0].1;
    assert_eq!(get(&stats.dropped_newest) + get(&stats.dropped_oldest) + get(&stats.dropped_shutdown), 0);
    assert_eq!(get(&stats.delivered), EVENTS as u64);
}

/// Runs `EVENTS` events into a paused receiver with a drop policy and returns the ids received
/// after resuming, with the sink's counters.
async fn overflow(when_full: &str) -> (Vec<String>, u64, u64, usize) {
    let receiver = StreamReceiver::tcp().await;
    receiver.pause();
    let daemon = TestDaemon::start(&config(&receiver.url("tcp"), when_full)).await;
    let socket = daemon.socket.clone();
    let writer = tokio::spawn(async move { siem_relay::client::send(&socket, big_events().as_bytes()).await });
    let mut deepest = 0;
    while !writer.is_finished() {
        deepest = deepest.max(daemon.queue_depth("slow").0);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let outcome = writer.await.expect("joined").expect("send");
    assert_eq!(outcome.accepted, EVENTS as u64, "drop policies never stall the writer");
    receiver.resume();
    let stats = daemon.sink_stats("slow");
    let settled = eventually(WAIT, || {
        get(&stats.delivered) + get(&stats.dropped_newest) + get(&stats.dropped_oldest) == EVENTS as u64
    })
    .await;
    assert!(settled, "{}", stats.summary());
    let delivered = get(&stats.delivered) as usize;
    assert!(eventually(WAIT, || receiver.octet_frames().len() == delivered).await);
    let report = daemon.stop().await;
    let stats = &report.sinks[0].1;
    assert_eq!(get(&stats.received), EVENTS as u64);
    (receiver.octet_ids(), get(&stats.dropped_newest), get(&stats.dropped_oldest), deepest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_newest_bounds_the_queue_and_counts_every_drop() {
    let (ids, newest, oldest, deepest) = overflow("drop_newest").await;
    assert!(deepest <= 100, "queue grew to {deepest}");
    assert!(newest > 0 && oldest == 0);
    assert_eq!(ids.len() as u64 + newest, EVENTS as u64, "received + dropped = sent");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "no duplicates");
    assert_eq!(ids[0], "e0", "the first events are kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_oldest_bounds_the_queue_and_keeps_the_newest() {
    let (ids, newest, oldest, deepest) = overflow("drop_oldest").await;
    assert!(deepest <= 100, "queue grew to {deepest}");
    assert!(oldest > 0 && newest == 0);
    assert_eq!(ids.len() as u64 + oldest, EVENTS as u64, "received + dropped = sent");
    assert_eq!(ids.last().map(String::as_str), Some(format!("e{}", EVENTS - 1).as_str()), "the newest event is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_sink_with_a_drop_policy_does_not_hold_up_the_others() {
    let stalled = StreamReceiver::tcp().await;
    stalled.pause();
    let healthy = StreamReceiver::tcp().await;
    let daemon = TestDaemon::start(&format!(
        "{}\n[sinks.healthy]\nformat = \"rfc5424\"\nurl = \"{}\"",
        config(&stalled.url("tcp"), "drop_newest"),
        healthy.url("tcp")
    ))
    .await;
    let outcome = daemon.send(&big_events()).await;
    assert_eq!(outcome.accepted, EVENTS as u64);
    assert!(eventually(WAIT, || healthy.octet_frames().len() == EVENTS).await);
    stalled.resume();
    daemon.stop().await;
}
