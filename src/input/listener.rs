//! Binding the event socket and accepting clients.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, warn};

use super::connection::{self, ConnectionLimits};
use super::stats::InputStats;
use crate::router::SharedRouter;

/// Why the socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("{path}: another process is listening on this socket; refusing to take it over")]
    InUse { path: PathBuf },
    #[error("{path}: exists and is not a socket; refusing to replace it")]
    NotASocket { path: PathBuf },
    /// `error` is in the message and deliberately not a `source`: the `{:#}` chain would print
    /// it twice ("Permission denied: Permission denied").
    #[error("{path}: {action}: {error}")]
    Io { path: PathBuf, action: &'static str, error: io::Error },
}

/// A bound listening socket; the socket file is removed when this is dropped, if it is still
/// the one this process created.
#[derive(Debug)]
pub struct BoundSocket {
    pub listener: UnixListener,
    pub path: PathBuf,
    /// `None` for a socket passed by systemd, whose file systemd keeps across restarts.
    file: Option<SocketFile>,
}

/// Removes a socket file when dropped, if it is still the one this process created.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    identity: (u64, u64),
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if (meta.dev(), meta.ino()) == self.identity {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

impl BoundSocket {
    /// Splits the listener from the guard that removes the socket file, so the listener can
    /// move to a task.
    pub fn into_parts(self) -> (UnixListener, Option<SocketFile>) {
        (self.listener, self.file)
    }
}

/// Binds `path` with permission bits `mode`.
///
/// A socket file left by a crashed run (nobody accepts on it) is replaced; a live one is not.
/// The socket is bound under a temporary name, given its mode, then renamed into place, so it
/// is never reachable with the wrong permissions.
pub fn bind(path: &Path, mode: u32) -> Result<BoundSocket, BindError> {
    let io_error = |action: &'static str| move |error| BindError::Io { path: path.to_owned(), action, error };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_error("creating the parent directory"))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => return Err(BindError::InUse { path: path.to_owned() }),
            Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                warn!("replacing stale socket {} left by an earlier run", path.display());
            }
            Err(error) => return Err(io_error("probing the existing socket")(error)),
        },
        Ok(_) => return Err(BindError::NotASocket { path: path.to_owned() }),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(io_error("inspecting the path")(error)),
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let _ = std::fs::remove_file(&temporary);
    let listener = std::os::unix::net::UnixListener::bind(&temporary).map_err(io_error("binding"))?;
    let placed = std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(mode))
        .map_err(io_error("setting the socket mode"))
        .and_then(|()| std::fs::rename(&temporary, path).map_err(io_error("moving the socket into place")));
    if let Err(error) = placed {
        let _ = std::fs::remove_file(&temporary);
        return Err(error);
    }
    let meta = std::fs::symlink_metadata(path).map_err(io_error("inspecting the bound socket"))?;
    listener.set_nonblocking(true).map_err(io_error("setting non-blocking mode"))?;
    let listener = UnixListener::from_std(listener).map_err(io_error("registering with the runtime"))?;
    let file = SocketFile { path: path.to_owned(), identity: (meta.dev(), meta.ino()) };
    Ok(BoundSocket { listener, path: path.to_owned(), file: Some(file) })
}

/// Uses a listening socket passed by systemd (socket activation) instead of binding one: it
/// stays open across restarts of the daemon, so writers never see a refused connection.
pub fn adopt(fd: std::os::fd::OwnedFd) -> Result<BoundSocket, BindError> {
    let listener = std::os::unix::net::UnixListener::from(fd);
    let path = listener
        .local_addr()
        .ok()
        .and_then(|address| address.as_pathname().map(Path::to_owned))
        .unwrap_or_else(|| PathBuf::from("(socket passed by systemd)"));
    let io_error = |action: &'static str| {
        let path = path.clone();
        move |error| BindError::Io { path, action, error }
    };
    listener.set_nonblocking(true).map_err(io_error("setting non-blocking mode"))?;
    let listener = UnixListener::from_std(listener).map_err(io_error("registering with the runtime"))?;
    Ok(BoundSocket { listener, path, file: None })
}

/// Accepts clients until `stop` fires, each served on its own task (tracked by `tasks`), at
/// most `limits.max_clients` at once.
pub async fn serve(
    listener: &UnixListener,
    router: SharedRouter,
    stats: Arc<InputStats>,
    limits: ConnectionLimits,
    stop: CancellationToken,
    tasks: &TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(limits.max_clients));
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Typically EMFILE: back off instead of spinning, the listener stays open.
                error!("accepting a client failed: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            InputStats::add(&stats.connections_refused);
            tasks.spawn(connection::refuse(stream, limits.max_clients));
            continue;
        };
        InputStats::add(&stats.connections);
        InputStats::add(&stats.active);
        let (router, stats, stop) = (router.clone(), stats.clone(), stop.clone());
        tasks.spawn(async move {
            connection::serve(stream, router, stats.clone(), limits, stop).await;
            stats.active.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            drop(slot);
        });
    }
}
