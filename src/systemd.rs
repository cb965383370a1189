//! systemd integration without a library: readiness and status notifications (`Type=notify`),
//! watchdog keep-alives, and sockets passed by socket activation. All of it does nothing when
//! the daemon was not started by systemd.

// Taking over the inherited socket descriptors needs `from_raw_fd`; see `listen_fds`.
#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Sends `state` (e.g. `READY=1`) to the service manager, if there is one.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return };
    let path = path.to_string_lossy();
    let address = match path.strip_prefix('@') {
        // A leading '@' names a socket in the abstract namespace.
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(path.as_ref()),
    };
    let sent = address.and_then(|address| {
        let socket = UnixDatagram::unbound()?;
        socket.send_to_addr(state.as_bytes(), &address)
    });
    if let Err(error) = sent {
        tracing::warn!("cannot notify systemd ({state}): {error}");
    }
}

/// How often to send `WATCHDOG=1`: half the `WatchdogSec=` systemd asked for, if it asked
/// this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Some(pid) = std::env::var("WATCHDOG_PID").ok().and_then(|p| p.parse::<u32>().ok()) {
        if pid != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: i32 = 3;

/// Takes the sockets systemd passed to this process (`LISTEN_FDS`, with their
/// `FileDescriptorName=` from `LISTEN_FDNAMES`), once: the variables are removed so that
/// nothing takes them twice, and child processes do not inherit them.
pub fn listen_fds() -> Vec<(OwnedFd, String)> {
    let pid_matches = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    let count: i32 = std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse().ok()).unwrap_or(0);
    let names: Vec<String> =
        std::env::var("LISTEN_FDNAMES").map(|names| names.split(':').map(str::to_owned).collect()).unwrap_or_default();
    // Called at start-up, before any other thread runs, so changing the environment is safe.
    for variable in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(variable);
    }
    if !pid_matches || count <= 0 {
        return Vec::new();
    }
    (0..count)
        .map(|index| {
            let fd = LISTEN_FDS_START + index;
            // SAFETY: systemd passed descriptors LISTEN_FDS_START..LISTEN_FDS_START+count open
            // to this process (LISTEN_PID matched); nothing else in the process owns them, and
            // the environment variables were removed above so they are taken exactly once.
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            let name = names.get(index as usize).cloned().unwrap_or_else(|| "unknown".to_owned());
            (owned, name)
        })
        .collect()
}
