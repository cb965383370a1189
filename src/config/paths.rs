//! Default socket paths: one rule shared by the daemon (`run`) and its clients (`send`, `ctl`),
//! so that a client without flags finds a daemon started without flags, on a desktop and on a
//! host installed from the systemd files alike.
//!
//! The event socket is, in order:
//! 1. `/run/siem-relay/events.sock` when the directory `/run/siem-relay` exists: a host
//!    installed from the systemd files (`siem-relay.socket` and `RuntimeDirectory=` make it),
//!    where agents and operators reach the service;
//! 2. `$XDG_RUNTIME_DIR/siem-relay.sock` in a user session;
//! 3. `/tmp/siem-relay.sock`.
//!
//! The control socket sits beside it: `control.sock` in a `siem-relay` directory, else
//! `<event socket name>-control.sock`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The runtime directory the systemd units create.
pub const SYSTEM_DIR: &str = "/run/siem-relay";

/// The default event socket on this host (see the module docs).
pub fn default_event_socket() -> PathBuf {
    event_socket_rule(Path::new(SYSTEM_DIR).is_dir(), std::env::var_os("XDG_RUNTIME_DIR"))
}

/// The rule itself, apart from what it looks at.
fn event_socket_rule(system_dir_exists: bool, xdg_runtime_dir: Option<OsString>) -> PathBuf {
    if system_dir_exists {
        return Path::new(SYSTEM_DIR).join("events.sock");
    }
    match xdg_runtime_dir {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("siem-relay.sock"),
        _ => PathBuf::from("/tmp/siem-relay.sock"),
    }
}

/// `control.sock` beside an event socket in a `siem-relay` directory (the systemd layout,
/// `/run/siem-relay/`), else `<event socket stem>-control.sock` beside it.
pub fn default_control_socket(event_socket: &Path) -> PathBuf {
    let dir = event_socket.parent().unwrap_or(Path::new("."));
    if dir.file_name().is_some_and(|name| name == "siem-relay") {
        return dir.join("control.sock");
    }
    let stem =
        event_socket.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "siem-relay".to_owned());
    dir.join(format!("{stem}-control.sock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_systemd_directory_wins_then_the_user_session_then_tmp() {
        let xdg = Some(OsString::from("/run/user/1000"));
        assert_eq!(event_socket_rule(true, xdg.clone()), Path::new("/run/siem-relay/events.sock"));
        assert_eq!(event_socket_rule(false, xdg), Path::new("/run/user/1000/siem-relay.sock"));
        assert_eq!(event_socket_rule(false, Some(OsString::new())), Path::new("/tmp/siem-relay.sock"));
        assert_eq!(event_socket_rule(false, None), Path::new("/tmp/siem-relay.sock"));
    }

    #[test]
    fn the_control_socket_sits_beside_the_event_socket() {
        assert_eq!(
            default_control_socket(Path::new("/run/siem-relay/events.sock")),
            Path::new("/run/siem-relay/control.sock")
        );
        assert_eq!(
            default_control_socket(Path::new("/run/user/1000/siem-relay.sock")),
            Path::new("/run/user/1000/siem-relay-control.sock")
        );
    }
}
