//! Named consumers of a store: the cursor each committed last, kept in `consumers.json`
//! (written whole to a temporary file, fsynced and renamed over the old one, so a crash leaves
//! the old commits or the new ones, never a torn file). A consumer that restarts reads after its
//! commit: delivery to it is at least once.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One consumer's last commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub cursor: String,
    /// When it was committed (RFC 3339).
    pub committed_at: String,
}

#[derive(Debug)]
pub struct Consumers {
    path: PathBuf,
    commits: Mutex<BTreeMap<String, Commit>>,
}

/// Whether `name` may name a consumer: 1 to 64 letters, digits, `_`, `-` or `.`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl Consumers {
    pub fn open(path: &Path) -> io::Result<Consumers> {
        let commits = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(error) => return Err(error),
        };
        Ok(Consumers { path: path.to_owned(), commits: Mutex::new(commits) })
    }

    pub fn get(&self, name: &str) -> Option<Commit> {
        self.commits.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(name).cloned()
    }

    /// Records `cursor` as `name`'s commit, durably, before returning. Blocking (a file write).
    pub fn commit(&self, name: &str, cursor: &str) -> io::Result<Commit> {
        let mut commits = self.commits.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let commit = Commit { cursor: cursor.to_owned(), committed_at: crate::timestamp::Timestamp::now().to_string() };
        let mut next = commits.clone();
        next.insert(name.to_owned(), commit.clone());
        let text = serde_json::to_vec_pretty(&next).map_err(io::Error::other)?;
        crate::private_file::write_atomic(&self.path, &text)?;
        *commits = next;
        Ok(commit)
    }
}
