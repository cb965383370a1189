//! Default paths: `run`, `send` and `ctl` without flags meet on the same sockets (one rule,
//! `siem_relay::config::paths`), and ctl's old `--socket` spelling still works, with a note.

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A daemon process that is killed if a test fails midway.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary with a user session of its own: `XDG_RUNTIME_DIR` set to `dir`.
fn siem_relay(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_siem-relay"));
    command.env("XDG_RUNTIME_DIR", dir).env_remove("SIEM_RELAY_LOG");
    command
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
#[cfg_attr(systemd_layout_present, ignore = "/run/siem-relay exists (an installed service): see the build warning")]
fn run_send_and_ctl_without_flags_meet_on_the_same_sockets() {
    // Where /run/siem-relay exists, the rule picks it (a systemd host): this test is about a
    // user session and must not touch an installed service.
    assert!(
        !Path::new(siem_relay::config::paths::SYSTEM_DIR).exists(),
        "this test needs a host without {} (the systemd layout takes precedence there)",
        siem_relay::config::paths::SYSTEM_DIR
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon(siem_relay(dir.path()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start"));
    let socket = dir.path().join("siem-relay.sock");
    let control = dir.path().join("siem-relay-control.sock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(socket.exists() && control.exists()) {
        assert!(Instant::now() < deadline, "the daemon never listened in $XDG_RUNTIME_DIR");
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut send = siem_relay(dir.path())
        .arg("send")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("send");
    send.stdin.take().expect("stdin").write_all(b"{\"event\":\"finding_added\"}\n").expect("write");
    let sent = send.wait_with_output().expect("send output");
    assert_eq!(sent.status.code(), Some(0), "send without flags: {}", text(&sent));

    let health = siem_relay(dir.path()).args(["ctl", "health"]).output().expect("ctl");
    assert_eq!(health.status.code(), Some(0), "ctl without flags: {}", text(&health));

    let named = siem_relay(dir.path()).arg("ctl").arg("--control-socket").arg(&control).arg("health").output();
    let named = named.expect("ctl");
    assert_eq!(named.status.code(), Some(0), "ctl --control-socket: {}", text(&named));
    assert!(!text(&named).contains("deprecated"));

    let old = siem_relay(dir.path()).arg("ctl").arg("--socket").arg(&control).arg("health").output().expect("ctl");
    assert_eq!(old.status.code(), Some(0), "ctl --socket still works: {}", text(&old));
    assert!(String::from_utf8_lossy(&old.stderr).contains("--socket is deprecated"), "{}", text(&old));
    drop(daemon);
}
