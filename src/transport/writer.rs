//! Local outputs: a file opened for appending, or standard output.
//!
//! A file sink follows its path, so that it can be rotated (logrotate's `create` or a plain
//! `mv`): it reopens the path when a reload is requested (SIGHUP, `ctl reload`) and when the
//! path no longer names the file it has open (moved, deleted or replaced: another inode),
//! which it checks before every write and, when idle, by [`LocalWriter::is_stale`].

use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::AsyncWriteExt;

/// Bumped by every reload request; a file opened under an older value is reopened. Process-wide
/// because rotation is: one SIGHUP is meant for every file sink of the process.
static REOPEN_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Asks every file sink to reopen its file before its next write (and within its next idle
/// check): what SIGHUP and `ctl reload` do, for log rotation.
pub fn request_reopen() {
    REOPEN_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// How many reopens were requested so far (for tests and diagnostics).
pub fn reopen_generation() -> u64 {
    REOPEN_GENERATION.load(Ordering::Relaxed)
}

/// A local destination for framed messages.
#[derive(Debug)]
pub enum LocalWriter {
    File(OpenFile),
    Stdout(tokio::io::Stdout),
}

/// A file opened for appending, with what identifies it on disk.
#[derive(Debug)]
pub struct OpenFile {
    file: tokio::fs::File,
    path: PathBuf,
    /// Device and inode of the open file: the path must still name them.
    identity: (u64, u64),
    generation: u64,
}

impl LocalWriter {
    /// Opens `path` for appending, creating it with mode 0640 (events can be sensitive). The
    /// error names the path.
    pub async fn open_file(path: &Path) -> io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let generation = REOPEN_GENERATION.load(Ordering::Relaxed);
        let file = std::fs::OpenOptions::new().append(true).create(true).mode(0o640).open(path).map_err(named)?;
        let meta = file.metadata().map_err(named)?;
        Ok(LocalWriter::File(OpenFile {
            file: tokio::fs::File::from_std(file),
            path: path.to_owned(),
            identity: (meta.dev(), meta.ino()),
            generation,
        }))
    }

    pub fn stdout() -> Self {
        LocalWriter::Stdout(tokio::io::stdout())
    }

    /// Whether a file should be reopened: a reload asked for it, or its path now names another
    /// file or none (rotated or deleted). Standard output never is.
    pub fn is_stale(&self) -> bool {
        let LocalWriter::File(open) = self else { return false };
        if open.generation != REOPEN_GENERATION.load(Ordering::Relaxed) {
            return true;
        }
        match std::fs::metadata(&open.path) {
            Ok(meta) => (meta.dev(), meta.ino()) != open.identity,
            // Gone (or unreachable): the next write recreates it, or reports why it cannot.
            Err(_) => true,
        }
    }

    /// Writes all of `bytes` and flushes them to the operating system.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            LocalWriter::File(open) => {
                open.file.write_all(bytes).await?;
                open.file.flush().await
            }
            LocalWriter::Stdout(stdout) => {
                stdout.write_all(bytes).await?;
                stdout.flush().await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_moved_or_deleted_file_is_stale_and_a_fresh_one_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.log");
        let writer = LocalWriter::open_file(&path).await.expect("open");
        assert!(!writer.is_stale());
        std::fs::rename(&path, dir.path().join("events.log.1")).expect("mv");
        assert!(writer.is_stale(), "moved");
        let writer = LocalWriter::open_file(&path).await.expect("open");
        std::fs::remove_file(&path).expect("rm");
        assert!(writer.is_stale(), "deleted");
    }

    #[tokio::test]
    async fn a_reopen_request_makes_open_files_stale() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writer = LocalWriter::open_file(&dir.path().join("events.log")).await.expect("open");
        request_reopen();
        assert!(writer.is_stale());
        assert!(!LocalWriter::stdout().is_stale());
    }

    #[tokio::test]
    async fn an_open_error_names_the_path() {
        let path = Path::new("/nonexistent-siem-relay-dir/events.log");
        let error = LocalWriter::open_file(path).await.expect_err("no such directory");
        assert!(error.to_string().contains("/nonexistent-siem-relay-dir/events.log"), "{error}");
    }
}
