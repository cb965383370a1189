//! Disk queues through the daemon: events a sink could not deliver survive a shutdown and are
//! delivered by the next start; `check` reports them without touching the queue.

use std::collections::HashSet;
use std::time::Duration;

use crate::support::daemon::{get, numbered_events, TestDaemon};
use crate::support::eventually;
use crate::support::listeners::StreamReceiver;

const WAIT: Duration = Duration::from_secs(30);

fn config(data_dir: &std::path::Path, url: &str) -> String {
    format!(
        "shutdown_timeout_ms = 200\ndata_dir = \"{}\"\n[sinks.siem]\nformat = \"rfc5424\"\nurl = \"{url}\"\nbackoff_initial_ms = 20\nbackoff_max_ms = 100\nqueue = {{ kind = \"disk\", max_events = 1000 }}\n",
        data_dir.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_events_wait_on_disk_for_the_next_start() {
    let data = tempfile::tempdir().expect("tempdir");
    // Nothing listens here: the first run cannot deliver.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let daemon = TestDaemon::start(&config(data.path(), &format!("tcp://{closed}"))).await;
    assert_eq!(daemon.send(&numbered_events("x", 100)).await.accepted, 100);
    let report = daemon.stop().await;
    let stats = &report.sinks[0].1;
    assert_eq!(get(&stats.dropped_shutdown), 0, "a disk queue loses nothing at the deadline");
    assert_eq!(get(&stats.delivered), 0);

    // `check` sees them, and changes nothing.
    let config_file = data.path().join("check.toml");
    std::fs::write(&config_file, config(data.path(), &format!("tcp://{closed}"))).expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_siem-relay"))
        .args(["check", "--config"])
        .arg(&config_file)
        .output()
        .expect("check");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("queue siem (") && text.contains("100 records pending"), "{text}");

    // The next start, with the receiver up, delivers every one of them.
    let receiver = StreamReceiver::tcp().await;
    let daemon = TestDaemon::start(&config(data.path(), &receiver.url("tcp"))).await;
    let expected: HashSet<String> = (0..100).map(|i| format!("e{i}")).collect();
    let got = || receiver.octet_ids().into_iter().collect::<HashSet<_>>();
    assert!(eventually(WAIT, || got() == expected).await, "delivered {} of 100", got().len());
    // Once confirmed, they are acknowledged: nothing is pending any more.
    let stats = daemon.sink_stats("siem");
    assert!(
        eventually(WAIT, || get(&stats.delivered) == 100 && daemon.queue_depth("siem").0 == 0).await,
        "{}",
        stats.summary()
    );
    daemon.stop().await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_siem-relay"))
        .args(["check", "--config"])
        .arg(&config_file)
        .output()
        .expect("check");
    assert!(String::from_utf8_lossy(&output.stdout).contains("0 records pending"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_queued_webhook_acknowledges_in_order() {
    use crate::support::http_receiver::HttpReceiver;
    let data = tempfile::tempdir().expect("tempdir");
    let receiver = HttpReceiver::start(vec![]).await;
    let daemon = TestDaemon::start(&format!(
        "data_dir = \"{}\"\n[egress]\nallow = [\"127.0.0.0/8\"]\n[sinks.hook]\nformat = \"json\"\nurl = \"{}\"\nconcurrency = 4\nqueue = {{ kind = \"disk\", sync = \"50ms\" }}\n",
        data.path().display(),
        receiver.url("/")
    ))
    .await;
    daemon.send(&numbered_events("x", 40)).await;
    let stats = daemon.sink_stats("hook");
    assert!(
        eventually(WAIT, || get(&stats.delivered) == 40 && daemon.queue_depth("hook").0 == 0).await,
        "{}",
        stats.summary()
    );
    daemon.stop().await;
}
