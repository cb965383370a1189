//! Local outputs: a file opened for appending, or standard output.

use std::io;
use std::path::Path;

use tokio::io::AsyncWriteExt;

/// A local destination for framed messages.
#[derive(Debug)]
pub enum LocalWriter {
    File(tokio::fs::File),
    Stdout(tokio::io::Stdout),
}

impl LocalWriter {
    /// Opens `path` for appending, creating it with mode 0640 (events can be sensitive).
    pub async fn open_file(path: &Path) -> io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new().append(true).create(true).mode(0o640).open(path)?;
        Ok(LocalWriter::File(tokio::fs::File::from_std(file)))
    }

    pub fn stdout() -> Self {
        LocalWriter::Stdout(tokio::io::stdout())
    }

    /// Writes all of `bytes` and flushes them to the operating system.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            LocalWriter::File(file) => {
                file.write_all(bytes).await?;
                file.flush().await
            }
            LocalWriter::Stdout(stdout) => {
                stdout.write_all(bytes).await?;
                stdout.flush().await
            }
        }
    }
}
