//! The measurement tool `siem-relay-bench` end to end at a tiny size: its receiver, the daemon
//! binary forwarding to it, and its generator feeding the daemon. Functional checks only (every
//! frame counted, none malformed, a latency for each); no timing assertions.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_siem-relay-bench"))
}

/// A child process killed when the test ends, however it ends.
struct Guard(Option<Child>);

impl Guard {
    fn take(mut self) -> Child {
        self.0.take().expect("child")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn json_line(output: &Output, what: &str) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("{what} printed nothing; stderr: {}", String::from_utf8_lossy(&output.stderr)));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{what} printed {line:?}: {e}"))
}

/// Starts `receive` with `listen` (e.g. `["--tcp", "127.0.0.1:0"]`) expecting `n` frames;
/// returns it and the address it bound.
fn start_receiver(dir: &Path, listen: &[&str], n: usize) -> (Guard, String) {
    let ready = dir.join("ready");
    let child = bench()
        .arg("receive")
        .args(listen)
        .args(["--expect", &n.to_string(), "--timeout-s", "20", "--ready-file"])
        .arg(&ready)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start siem-relay-bench receive");
    let guard = Guard(Some(child));
    wait_until("the receiver's ready file", || std::fs::metadata(&ready).is_ok_and(|m| m.len() > 0));
    let addr = std::fs::read_to_string(&ready).expect("ready file").trim().to_owned();
    (guard, addr)
}

/// Starts the daemon binary with one sink (`sink`: the keys of `[sinks.bench]`).
fn start_daemon(dir: &Path, sink: &str) -> (Guard, PathBuf) {
    let socket = dir.join("events.sock");
    let config = dir.join("siem-relay.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[input]\nsocket = \"{}\"\n[control]\nsocket = \"{}\"\n\
             [egress]\nallow = [\"127.0.0.0/8\"]\n[sinks.bench]\n{sink}\n",
            dir.join("data").display(),
            socket.display(),
            dir.join("control.sock").display(),
        ),
    )
    .expect("write config");
    let child = Command::new(env!("CARGO_BIN_EXE_siem-relay"))
        .arg("run")
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the daemon");
    let guard = Guard(Some(child));
    wait_until("the daemon's socket", || std::os::unix::net::UnixStream::connect(&socket).is_ok());
    (guard, socket)
}

/// Generates `n` events into the daemon (with acknowledgements), waits for the receiver and
/// returns both summaries.
fn run(sink: &str, listen: &[&str], n: usize) -> (serde_json::Value, serde_json::Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (receiver, addr) = start_receiver(dir.path(), listen, n);
    let (_daemon, socket) = start_daemon(dir.path(), &sink.replace("{addr}", &addr));
    let generated = bench()
        .args(["generate", "--events", &n.to_string(), "--acks", "--seed", "7", "--socket"])
        .arg(&socket)
        .output()
        .expect("run siem-relay-bench generate");
    assert!(generated.status.success(), "generate failed: {}", String::from_utf8_lossy(&generated.stderr));
    let generated = json_line(&generated, "generate");
    let received = receiver.take().wait_with_output().expect("receiver");
    assert!(received.status.success(), "receiver incomplete: {}", String::from_utf8_lossy(&received.stdout));
    (generated, json_line(&received, "receive"))
}

#[test]
fn rfc5424_over_tcp_with_octet_counting_counts_every_frame_and_its_latency() {
    let (generated, received) = run(
        "format = \"rfc5424\"\nurl = \"tcp://{addr}\"\nframing = \"octet_counting\"\nsd_fields = [\"sent_ns\"]",
        &["--tcp", "127.0.0.1:0"],
        200,
    );
    assert_eq!(generated["events"], 200, "{generated}");
    assert_eq!(generated["acked"], 200, "{generated}");
    assert_eq!(generated["rejected"], 0, "{generated}");
    assert_eq!(received["frames"], 200, "{received}");
    assert_eq!(received["complete"], true, "{received}");
    assert_eq!(received["malformed"], 0, "{received}");
    assert_eq!(received["truncated"], 0, "{received}");
    assert_eq!(received["no_sent_ns"], 0, "{received}");
    assert_eq!(received["latency_count"], 200, "{received}");
    assert!(received["latency_max_us"].as_u64().is_some(), "{received}");
    assert!(received["first_frame_at"].as_u64() <= received["last_frame_at"].as_u64(), "{received}");
}

#[test]
fn json_webhooks_and_splunk_hec_batches_are_counted_per_event() {
    let (_, received) = run("format = \"json\"\nurl = \"http://{addr}/hook\"", &["--http", "127.0.0.1:0"], 50);
    assert_eq!((received["frames"].as_u64(), received["malformed"].as_u64()), (Some(50), Some(0)), "{received}");
    assert_eq!(received["latency_count"], 50, "{received}");

    let (_, received) = run(
        "format = \"splunk_hec\"\nurl = \"http://{addr}/services/collector/event\"\ntoken = \"t\"\n\
         batch = { max_events = 20, max_linger_ms = 50 }",
        &["--http", "127.0.0.1:0"],
        50,
    );
    assert_eq!((received["frames"].as_u64(), received["malformed"].as_u64()), (Some(50), Some(0)), "{received}");
    assert_eq!(received["latency_count"], 50, "{received}");
}

#[test]
fn generated_files_are_seeded_and_replay_with_fresh_send_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let make = |name: &str| {
        let path = dir.path().join(name);
        let out = bench().args(["generate", "--events", "300", "--seed", "3", "--output"]).arg(&path).output();
        let out = out.expect("generate --output");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::read_to_string(&path).expect("read output")
    };
    let (a, b) = (make("a.ndjson"), make("b.ndjson"));
    let without_times = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .map(|line| {
                let mut v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
                let object = v.as_object_mut().expect("object");
                object.remove("sent_ns").expect("sent_ns");
                object.remove("timestamp").expect("timestamp");
                v
            })
            .collect()
    };
    assert_eq!(a.lines().count(), 300);
    assert_eq!(without_times(&a), without_times(&b), "the same seed makes the same events");

    // Replayed through the daemon: same events, stamped at send time, all counted.
    let (receiver, addr) = start_receiver(dir.path(), &["--tcp", "127.0.0.1:0", "--framing", "lf"], 300);
    let (_daemon, socket) = start_daemon(
        dir.path(),
        &format!("format = \"rfc5424\"\nurl = \"tcp://{addr}\"\nframing = \"lf\"\nsd_fields = [\"sent_ns\"]"),
    );
    let replay = bench()
        .args(["generate", "--input"])
        .arg(dir.path().join("a.ndjson"))
        .arg("--socket")
        .arg(&socket)
        .args(["--rate", "3000", "--connections", "2", "--acks"])
        .output()
        .expect("replay");
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    let replay = json_line(&replay, "generate --input");
    assert_eq!((replay["events"].as_u64(), replay["acked"].as_u64()), (Some(300), Some(300)), "{replay}");
    let received = json_line(&receiver.take().wait_with_output().expect("receiver"), "receive");
    assert_eq!((received["frames"].as_u64(), received["malformed"].as_u64()), (Some(300), Some(0)), "{received}");
    assert_eq!(received["latency_count"], 300, "{received}");
    // Fresh stamps: no latency near the age of the file.
    assert!(received["latency_max_us"].as_u64().is_some_and(|us| us < 10_000_000), "{received}");
}
