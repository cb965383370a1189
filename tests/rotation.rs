//! File sinks under log rotation: `mv` then SIGHUP (logrotate's `create` + `postrotate`), a file
//! deleted or moved with no signal at all, and `ctl reload`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::daemon::TestDaemon;
use crate::support::eventually;

/// Generous: the machine is shared; nothing here measures time.
const WAIT: Duration = Duration::from_secs(30);

fn siem_relay() -> Command {
    Command::new(env!("CARGO_BIN_EXE_siem-relay"))
}

/// A daemon process that is killed if a test fails midway.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn poll(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn send(socket: &Path, event: &str) {
    let out =
        siem_relay().arg("send").arg("--socket").arg(socket).arg(write_event(socket, event)).output().expect("send");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn write_event(socket: &Path, event: &str) -> std::path::PathBuf {
    let path = socket.with_file_name(format!("{event}.ndjson"));
    std::fs::write(&path, format!("{{\"event\":\"{event}\",\"title\":\"{event}\"}}\n")).expect("write event");
    path
}

#[test]
fn a_file_sink_writes_to_the_new_file_after_mv_and_sighup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("events.log");
    let config = dir.path().join("siem-relay.toml");
    std::fs::write(&config, format!("[sinks.file]\nformat = \"rfc5424\"\nurl = \"file://{}\"\n", log.display()))
        .expect("config");
    let socket = dir.path().join("events.sock");
    let daemon = Daemon(
        siem_relay()
            .arg("run")
            .arg("--config")
            .arg(&config)
            .arg("--socket")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start daemon"),
    );
    poll("the socket never appeared", || socket.exists());
    send(&socket, "before_rotation");
    poll("the first event never reached the file", || read(&log).contains("before_rotation"));

    let rotated = dir.path().join("events.log.1");
    std::fs::rename(&log, &rotated).expect("mv");
    let hup = Command::new("kill").arg("-HUP").arg(daemon.0.id().to_string()).status().expect("kill");
    assert!(hup.success());
    send(&socket, "after_rotation");
    poll("the event after rotation never reached the new events.log", || read(&log).contains("after_rotation"));
    assert!(!read(&rotated).contains("after_rotation"), "written to the rotated file: {}", read(&rotated));
    assert!(read(&rotated).contains("before_rotation"));
}

/// Whether this process holds a deleted file open under `path`.
fn holds_deleted(path: &Path) -> bool {
    let wanted = format!("{} (deleted)", path.display());
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .any(|target| target.to_string_lossy() == wanted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_file_is_closed_while_idle_and_recreated_by_the_next_event() {
    let out = tempfile::tempdir().expect("tempdir");
    let log = out.path().join("events.log");
    let daemon =
        TestDaemon::start(&format!("[sinks.file]\nformat = \"rfc5424\"\nurl = \"file://{}\"\n", log.display())).await;
    daemon.send("{\"event\":\"first\"}\n").await;
    assert!(eventually(WAIT, || read(&log).contains("first")).await);

    // No signal, no event: the daemon notices by itself and lets go of the deleted file.
    std::fs::remove_file(&log).expect("rm");
    assert!(eventually(WAIT, || !holds_deleted(&log)).await, "the deleted file is still held open");
    daemon.send("{\"event\":\"second\"}\n").await;
    assert!(eventually(WAIT, || read(&log).contains("second")).await, "the file was not recreated");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_reload_asks_file_sinks_to_reopen_even_when_the_config_is_refused() {
    let out = tempfile::tempdir().expect("tempdir");
    let log = out.path().join("events.log");
    let daemon =
        TestDaemon::start(&format!("[sinks.file]\nformat = \"rfc5424\"\nurl = \"file://{}\"\n", log.display())).await;
    let before = siem_relay::transport::writer::reopen_generation();
    let (status, body) = daemon.control("POST", "/v1/reload").await;
    assert_eq!(status, 200, "{body}");
    assert!(siem_relay::transport::writer::reopen_generation() > before, "reload did not ask to reopen");
    let before = siem_relay::transport::writer::reopen_generation();
    std::fs::write(daemon.dir.path().join("siem-relay.toml"), "not toml [").expect("break the config");
    let (status, _) = daemon.control("POST", "/v1/reload").await;
    assert_eq!(status, 422);
    assert!(siem_relay::transport::writer::reopen_generation() > before, "a refused reload must still reopen");
    daemon.stop().await;
}
