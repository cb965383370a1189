//! systemd integration: socket activation across a restart (the writer never sees a refused
//! connection and nothing is lost), readiness notification, and the unit files' syntax.

use std::collections::HashSet;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::eventually;
use crate::support::listeners::StreamReceiver;

const WAIT: Duration = Duration::from_secs(60);

/// Starts the daemon the way systemd does with socket activation: the listening socket as
/// descriptor 3, `LISTEN_FDS=1`, `LISTEN_PID` = the daemon's pid, `LISTEN_FDNAMES=events`.
fn start_activated(
    listener: &std::os::unix::net::UnixListener,
    config: &std::path::Path,
    notify: &std::path::Path,
) -> Child {
    let fd = listener.as_raw_fd();
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg("LISTEN_PID=$$ exec \"$0\" run --config \"$1\"")
        .arg(env!("CARGO_BIN_EXE_siem-relay"))
        .arg(config)
        .env("LISTEN_FDS", "1")
        .env("LISTEN_FDNAMES", "events")
        .env("NOTIFY_SOCKET", notify)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec only async-signal-safe calls (dup2, fcntl) are made.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // dup2 onto itself keeps close-on-exec: clear it so the daemon inherits fd 3.
            let flags = libc::fcntl(3, libc::F_GETFD);
            if flags < 0 || libc::fcntl(3, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn().expect("start the daemon")
}

/// Reads notifications (STOPPING=1 of a daemon going away comes first) until READY=1.
fn wait_ready(notify: &std::os::unix::net::UnixDatagram) {
    let mut message = [0u8; 512];
    loop {
        let n = notify.recv(&mut message).expect("a notification from the daemon");
        if String::from_utf8_lossy(&message[..n]).contains("READY=1") {
            return;
        }
    }
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_under_socket_activation_refuses_no_writer_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = StreamReceiver::tcp().await;
    let socket = dir.path().join("events.sock");
    let config = dir.path().join("siem-relay.toml");
    std::fs::write(
        &config,
        format!(
            "[input]\nsocket = \"{}\"\n[control]\nsocket = \"{}\"\n[sinks.siem]\nformat = \"rfc5424\"\nurl = \"{}\"\n",
            socket.display(),
            dir.path().join("control.sock").display(),
            receiver.url("tcp")
        ),
    )
    .expect("config");
    // The socket systemd would hold open across restarts, and systemd's notification socket.
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    let notify_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("notify socket");
    notify.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");

    let mut daemon = start_activated(&listener, &config, &notify_path);
    wait_ready(&notify);

    const BATCHES: usize = 40;
    const PER_BATCH: usize = 50;
    let writer_socket = socket.clone();
    let writer = tokio::spawn(async move {
        let mut refused = 0;
        let mut retried = 0;
        for batch in 0..BATCHES {
            let text: String = (0..PER_BATCH)
                .map(|i| format!("{{\"event\":\"x\",\"id\":\"e{}\"}}\n", batch * PER_BATCH + i))
                .collect();
            // At least once: a batch the daemon did not confirm (it was shutting down) is sent
            // again, as a careful writer does.
            loop {
                match siem_relay::client::send(&writer_socket, text.as_bytes()).await {
                    Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                        refused += 1;
                        break;
                    }
                    Err(_) => retried += 1,
                    Ok(outcome) if outcome.error.is_some() || outcome.accepted != PER_BATCH as u64 => retried += 1,
                    Ok(_) => break,
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (refused, retried)
    });

    tokio::time::sleep(Duration::from_millis(80)).await;
    // Restart: stop the first daemon (it drains), start a second one on the same socket.
    tokio::task::spawn_blocking(move || stop(&mut daemon)).await.expect("stop");
    let mut second = start_activated(&listener, &config, &notify_path);
    wait_ready(&notify);

    let (refused, retried) = writer.await.expect("writer");
    assert_eq!(refused, 0, "no writer may see a refused connection");
    let expected: HashSet<String> = (0..BATCHES * PER_BATCH).map(|i| format!("e{i}")).collect();
    let got = || receiver.octet_ids().into_iter().collect::<HashSet<_>>();
    assert!(
        eventually(WAIT, || got().is_superset(&expected)).await,
        "lost {} events",
        expected.difference(&got()).count()
    );
    eprintln!("socket activation restart: {} events, {retried} batches re-sent by the writer", expected.len());
    tokio::task::spawn_blocking(move || stop(&mut second)).await.expect("stop");
    assert!(socket.exists(), "the socket file belongs to systemd and survives the daemon");
}

#[test]
#[cfg_attr(systemd_analyze_unavailable, ignore = "needs /usr/bin/systemd-analyze: see the build warning")]
fn unit_files_pass_systemd_analyze_verify() {
    let analyze = std::path::Path::new("/usr/bin/systemd-analyze");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    // Point the units at the binary under test, as an installation would at /usr/bin.
    for unit in ["siem-relay.service", "siem-relay.socket"] {
        let text = std::fs::read_to_string(root.join(unit))
            .expect("unit")
            .replace("/usr/bin/siem-relay", env!("CARGO_BIN_EXE_siem-relay"));
        std::fs::write(dir.path().join(unit), text).expect("write");
    }
    let output = Command::new(analyze)
        .arg("verify")
        .arg(dir.path().join("siem-relay.socket"))
        .arg(dir.path().join("siem-relay.service"))
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .expect("systemd-analyze");
    let text = String::from_utf8_lossy(&output.stderr).into_owned() + &String::from_utf8_lossy(&output.stdout);
    // Warnings about the host (no systemd running here, missing users) are not about the units.
    let problems: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("siem-relay") && !line.contains("not executable") && !line.contains("User"))
        .collect();
    assert!(problems.is_empty(), "{text}");
}
