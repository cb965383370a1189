//! Bad input never crashes the daemon or costs other events: each bad line is rejected with a
//! reason, idle and endless clients are contained, and the socket is bound safely.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::support::daemon::{get, numbered_events, TestDaemon};
use crate::support::eventually;
use crate::support::listeners::StreamReceiver;

const WAIT: Duration = Duration::from_secs(20);

fn sink(url: &str) -> String {
    format!("[input]\nmax_event_bytes = 1024\nmax_clients = 4\n[sinks.siem]\nformat = \"rfc5424\"\nurl = \"{url}\"")
}

/// Reads reply lines until the connection closes.
async fn replies(stream: UnixStream) -> Vec<Value> {
    let mut lines = BufReader::new(stream).lines();
    let mut out = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        out.push(serde_json::from_str(&line).expect("replies are JSON"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_line_is_rejected_with_its_reason_and_the_rest_flow_on() {
    let receiver = StreamReceiver::tcp().await;
    let daemon = TestDaemon::start(&sink(&receiver.url("tcp"))).await;
    let mut input: Vec<u8> = Vec::new();
    let lines: [&[u8]; 12] = [
        br#"{"event":"ok","id":"1"}"#,
        b"\xff\xfe not utf-8",
        b"{not json",
        b"[1,2,3]",
        br#"{"title":"no type"}"#,
        br#"{"event":"x","severity":"apocalyptic"}"#,
        br#"{"event":"x","timestamp":"yesterday"}"#,
        &[b'x'; 2000],
        b"",
        b"   ",
        br#"{"event":"ok","id":"2"}"#,
        br#"{"event":"ok","id":"3"}"#,
    ];
    for line in lines {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    input.truncate(input.len() - 1); // a last line without its newline still counts

    let mut stream = UnixStream::connect(&daemon.socket).await.expect("connect");
    stream.write_all(&input).await.expect("write");
    stream.shutdown().await.expect("shutdown");
    let replies = replies(stream).await;
    let rejected: Vec<(u64, &str)> = replies
        .iter()
        .filter(|r| r["type"] == "rejected")
        .map(|r| (r["line"].as_u64().expect("line"), r["reason_code"].as_str().expect("code")))
        .collect();
    assert_eq!(
        rejected,
        [
            (2, "invalid_utf8"),
            (3, "invalid_json"),
            (4, "not_an_object"),
            (5, "missing_event"),
            (6, "bad_field"),
            (7, "bad_field"),
            (8, "too_long")
        ]
    );
    assert!(replies.iter().all(|r| r["type"] != "rejected" || !r["reason"].as_str().unwrap_or("").is_empty()));
    let summary = replies.last().expect("summary");
    assert_eq!(
        (summary["type"].as_str(), summary["accepted"].as_u64(), summary["rejected"].as_u64()),
        (Some("summary"), Some(3), Some(7))
    );
    assert!(eventually(WAIT, || receiver.octet_frames().len() == 3).await);
    let report = daemon.stop().await;
    let counts: Vec<(&str, u64)> = report.input.rejected().filter(|(_, n)| *n > 0).collect();
    assert_eq!(
        counts,
        [
            ("too_long", 1),
            ("invalid_utf8", 1),
            ("invalid_json", 1),
            ("not_an_object", 1),
            ("missing_event", 1),
            ("bad_field", 2)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_line_is_rejected_once_without_buffering_it() {
    let receiver = StreamReceiver::tcp().await;
    let daemon = TestDaemon::start(&sink(&receiver.url("tcp"))).await;
    let mut stream = UnixStream::connect(&daemon.socket).await.expect("connect");
    let chunk = vec![b'a'; 64 * 1024];
    // 16 MiB without a newline: far beyond max_event_bytes, never held in memory at once.
    for _ in 0..256 {
        stream.write_all(&chunk).await.expect("write");
    }
    stream.write_all(b"\n{\"event\":\"after\",\"id\":\"after\"}\n").await.expect("write");
    stream.shutdown().await.expect("shutdown");
    let replies = replies(stream).await;
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert_eq!(replies[0]["reason_code"], "too_long");
    assert_eq!(replies[1]["accepted"], 1);
    assert!(eventually(WAIT, || receiver.octet_frames().len() == 1).await);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_does_not_block_others_and_the_client_cap_holds() {
    let receiver = StreamReceiver::tcp().await;
    let daemon = TestDaemon::start(&sink(&receiver.url("tcp"))).await;
    // Three clients that connect and say nothing, plus one that half-writes a line.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(UnixStream::connect(&daemon.socket).await.expect("connect"));
    }
    silent[0].write_all(b"{\"event\":\"half").await.expect("write");
    let active = || get(&daemon.handles.input.active);
    assert!(eventually(WAIT, || active() == 3).await);

    // The fourth (last allowed) client gets through ...
    let outcome = daemon.send(&numbered_events("x", 10)).await;
    assert_eq!(outcome.accepted, 10);
    assert!(eventually(WAIT, || receiver.octet_frames().len() == 10).await);

    // ... and while a fourth is held open, a fifth is told why it is turned away.
    assert!(eventually(WAIT, || active() == 3).await);
    let fourth = UnixStream::connect(&daemon.socket).await.expect("connect");
    assert!(eventually(WAIT, || active() == 4).await);
    let fifth = UnixStream::connect(&daemon.socket).await.expect("connect");
    let replies = replies(fifth).await;
    assert_eq!(replies[0]["type"], "error");
    assert!(replies[0]["reason"].as_str().expect("reason").contains("too many clients"));
    drop((fourth, silent));
    let report = daemon.stop().await;
    assert_eq!(get(&report.input.connections_refused), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_are_closed_after_the_idle_timeout() {
    let receiver = StreamReceiver::tcp().await;
    let daemon = TestDaemon::start(&format!(
        "[input]\nidle_timeout_ms = 50\n[sinks.siem]\nformat = \"rfc5424\"\nurl = \"{}\"",
        receiver.url("tcp")
    ))
    .await;
    let stream = UnixStream::connect(&daemon.socket).await.expect("connect");
    // The daemon closes the connection: reading reaches end-of-file with no summary.
    let replies = tokio::time::timeout(WAIT, replies(stream)).await.expect("closed by the daemon");
    assert!(replies.is_empty());
    daemon.stop().await;
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_is_not_stolen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.sock");
    // A socket file whose listener is gone, as a crashed run leaves it.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    assert!(path.exists());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let bound = siem_relay::input::bind(&path, 0o600).expect("stale socket replaced");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
        let error = siem_relay::input::bind(&path, 0o600).expect_err("live socket must not be taken over");
        assert!(error.to_string().contains("another process is listening"), "{error}");
        drop(bound);
        assert!(!path.exists(), "the socket file is removed on shutdown");
        std::fs::write(&path, "not a socket").expect("write");
        let error = siem_relay::input::bind(&path, 0o600).expect_err("regular file must not be replaced");
        assert!(error.to_string().contains("not a socket"), "{error}");
    });
}
