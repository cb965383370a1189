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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_asking_for_acks_get_them_and_learn_of_refused_events() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    // Nothing listens: the worker holds the first event while it retries, the second fills the
    // one-event queue, and the next is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let daemon = TestDaemon::start(&format!(
        "shutdown_timeout_ms = 100\n[sinks.siem]\nformat = \"rfc5424\"\nurl = \"tcp://{closed}\"\nqueue = {{ max_events = 1, when_full = \"drop_newest\" }}\n"
    ))
    .await;
    daemon.send(&numbered_events("held", 1)).await;
    let stats = daemon.sink_stats("siem");
    assert!(eventually(WAIT, || daemon.queue_depth("siem").0 == 0 && get(&stats.connect_failures) > 0).await);
    daemon.send(&numbered_events("queued", 1)).await;
    assert_eq!(daemon.queue_depth("siem").0, 1);

    let stream = tokio::net::UnixStream::connect(&daemon.socket).await.expect("connect");
    let (reader, mut writer) = stream.into_split();
    writer.write_all(siem_relay::client::HELLO).await.expect("hello");
    writer.write_all(b"{\"event\":\"x\",\"id\":\"a\"}\n{\"siem_relay\":{\"acks\":true}}\n").await.expect("write");
    writer.shutdown().await.expect("shutdown");
    let mut replies = Vec::new();
    let mut lines = BufReader::new(reader).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        replies.push(serde_json::from_str::<serde_json::Value>(&line).expect("JSON"));
    }
    let kinds: Vec<&str> = replies.iter().filter_map(|r| r["type"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"hello"), "{replies:?}");
    assert!(
        replies.iter().any(|r| r["type"] == "error" && r["line"] == 1 && r["reason_code"] == "not_queued"),
        "{replies:?}"
    );
    assert!(
        replies.iter().any(|r| r["type"] == "rejected" && r["line"] == 2),
        "a second hello is an ordinary line: {replies:?}"
    );
    assert!(replies.iter().any(|r| r["type"] == "ack" && r["through"] == 2), "{replies:?}");
    let summary = replies.last().expect("summary");
    assert_eq!((summary["lines"].as_u64(), summary["accepted"].as_u64()), (Some(2), Some(1)));
    daemon.stop().await;
}

/// Starts the daemon binary and waits until it accepts on its event socket.
pub(crate) async fn spawn_daemon(config: &std::path::Path, socket: &std::path::Path) -> std::process::Child {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_siem-relay"))
        .arg("run")
        .arg("--config")
        .arg(config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the daemon");
    // A socket file left by a killed run refuses connections until the new daemon replaces it.
    assert!(
        eventually(WAIT, || std::os::unix::net::UnixStream::connect(socket).is_ok()).await,
        "daemon did not come up"
    );
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(interop_unavailable, ignore = "needs rsyslog: see the build warning")]
async fn kill_9_at_random_moments_loses_no_acknowledged_event() {
    use crate::support::blocking;
    use crate::support::http_receiver::HttpReceiver;
    use crate::support::receivers::{Kind, Receiver, Transport};
    const ROUNDS: u64 = 8;
    const BATCH: usize = 50;
    let dir = tempfile::tempdir().expect("tempdir");
    // Real receivers: rsyslog over TCP (octet counting), and an HTTP receiver.
    let workdir = dir.path().join("rsyslog");
    let rsyslog = blocking(move || Receiver::start(Kind::Rsyslog, Transport::TcpOctetCounted, &workdir)).await;
    let http = HttpReceiver::start(vec![]).await;
    let socket = dir.path().join("events.sock");
    let config = dir.path().join("siem-relay.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[input]\nsocket = \"{}\"\n[control]\nsocket = \"{}\"\n[egress]\nallow = [\"127.0.0.0/8\"]\n\
             [sinks.rsyslog]\nformat = \"rfc5424\"\nurl = \"tcp://127.0.0.1:{}\"\nbackoff_initial_ms = 20\nbackoff_max_ms = 100\nqueue = {{ kind = \"disk\", max_events = 100000 }}\n\
             [sinks.hook]\nformat = \"json\"\nurl = \"{}\"\nbackoff_initial_ms = 20\nbackoff_max_ms = 100\nqueue = {{ kind = \"disk\", max_events = 100000 }}\n",
            dir.path().join("data").display(),
            socket.display(),
            dir.path().join("control.sock").display(),
            rsyslog.port(),
            http.url("/")
        ),
    )
    .expect("config");

    let mut acknowledged: Vec<String> = Vec::new();
    let mut next_id = 0usize;
    for round in 0..ROUNDS {
        let mut daemon = spawn_daemon(&config, &socket).await;
        // A different, repeatable moment each round.
        let lifetime = Duration::from_millis(30 + (round * 7919 % 170));
        let deadline = tokio::time::Instant::now() + lifetime;
        while tokio::time::Instant::now() < deadline {
            let ids: Vec<String> = (next_id..next_id + BATCH).map(|i| format!("e{i}")).collect();
            next_id += BATCH;
            let text: String = ids.iter().map(|id| format!("{{\"event\":\"x\",\"id\":\"{id}\"}}\n")).collect();
            match siem_relay::client::send(&socket, text.as_bytes()).await {
                Ok(outcome) => {
                    let through = usize::try_from(outcome.acked_through).unwrap_or(0).min(BATCH);
                    acknowledged.extend(ids.into_iter().take(through));
                }
                Err(_) => break,
            }
        }
        daemon.kill().expect("kill -9");
        let _ = daemon.wait();
    }
    // One last run with nothing new: it delivers what the killed runs left on disk.
    let mut daemon = spawn_daemon(&config, &socket).await;
    let expected: HashSet<String> = acknowledged.iter().cloned().collect();
    let rsyslog_ids = |rsyslog: &Receiver| -> Vec<String> {
        rsyslog.records().iter().filter_map(|r| r.sd_param("siem@32473", "id").map(str::to_owned)).collect()
    };
    let http_ids = || -> Vec<String> {
        http.requests().iter().filter_map(|r| r.json()["id"].as_str().map(str::to_owned)).collect()
    };
    let complete = eventually(WAIT, || {
        let syslog: HashSet<String> = rsyslog_ids(&rsyslog).into_iter().collect();
        let hook: HashSet<String> = http_ids().into_iter().collect();
        syslog.is_superset(&expected) && hook.is_superset(&expected)
    })
    .await;
    let _ = daemon.kill();
    let _ = daemon.wait();
    for (name, ids) in [("rsyslog", rsyslog_ids(&rsyslog)), ("http", http_ids())] {
        let unique: HashSet<&String> = ids.iter().collect();
        let lost = expected.iter().filter(|id| !unique.contains(id)).count();
        eprintln!(
            "kill -9 ({name}): {ROUNDS} rounds, {} events acknowledged, {} received, {} duplicates, {lost} lost",
            expected.len(),
            ids.len(),
            ids.len() - unique.len()
        );
        assert_eq!(lost, 0, "{name} lost acknowledged events");
    }
    assert!(complete && !expected.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_under_load_is_bridged_by_the_bounded_disk_queue() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut receiver = StreamReceiver::tcp().await;
    let daemon = TestDaemon::start(&format!(
        "data_dir = \"{}\"\n[sinks.siem]\nformat = \"rfc5424\"\nurl = \"{}\"\nbackoff_initial_ms = 20\nbackoff_max_ms = 100\nqueue = {{ kind = \"disk\", max_events = 3000 }}\n",
        data.path().display(),
        receiver.url("tcp")
    ))
    .await;
    daemon.send(&numbered_events("x", 100)).await;
    assert!(eventually(WAIT, || receiver.octet_ids().len() >= 100).await);
    receiver.stop().await;
    // Down: 2500 more arrive and wait on disk, within the queue's bound.
    let more: String = (100..2600).map(|i| format!("{{\"event\":\"x\",\"id\":\"e{i}\"}}\n")).collect();
    let outcome = daemon.send(&more).await;
    assert_eq!((outcome.accepted, outcome.acked_through), (2500, 2500));
    let (depth, _) = daemon.queue_depth("siem");
    assert!(depth <= 3000, "the queue stays within max_events: {depth}");
    receiver.restart().await;
    let expected: HashSet<String> = (0..2600).map(|i| format!("e{i}")).collect();
    let got = || receiver.octet_ids().into_iter().collect::<HashSet<_>>();
    assert!(eventually(WAIT, || got() == expected).await, "missing {}", expected.difference(&got()).count());
    let report = daemon.stop().await;
    assert_eq!(get(&report.sinks[0].1.dropped_newest) + get(&report.sinks[0].1.dropped_oldest), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_record_is_skipped_and_counted_and_the_rest_is_delivered() {
    let data = tempfile::tempdir().expect("tempdir");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let daemon = TestDaemon::start(&config(data.path(), &format!("tcp://{closed}"))).await;
    daemon.send(&numbered_events("x", 100)).await;
    daemon.stop().await;

    // Flip one byte in the middle of the segment: one record's checksum fails.
    let segment = std::fs::read_dir(data.path().join("siem"))
        .expect("queue dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .expect("a segment file");
    let mut bytes = std::fs::read(&segment).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&segment, bytes).expect("write");
    let config_file = data.path().join("check.toml");
    std::fs::write(&config_file, config(data.path(), &format!("tcp://{closed}"))).expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_siem-relay"))
        .args(["check", "--config"])
        .arg(&config_file)
        .output()
        .expect("check");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("1 corrupt"), "{text}");

    // The daemon comes up and delivers every intact record.
    let receiver = StreamReceiver::tcp().await;
    let daemon = TestDaemon::start(&config(data.path(), &receiver.url("tcp"))).await;
    assert!(eventually(WAIT, || receiver.octet_ids().len() == 99).await, "delivered {}", receiver.octet_ids().len());
    daemon.stop().await;
}
