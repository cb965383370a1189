//! Files that hold secrets: written owner-only (0600) and atomically, repaired when found
//! readable by others, and refused when a configured secret file is readable by its group or
//! by everyone.
//!
//! The service's group is the group event-writing agents join (to reach the event socket), so
//! "group-readable" means "readable by every agent": a secret file must be owner-only.

use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// The mode of every file this module writes: read and write for the owner only.
pub const PRIVATE_MODE: u32 = 0o600;
/// Permission bits that let anyone but the owner read, write or run a file.
const OTHERS: u32 = 0o077;
/// Permission bits that let anyone but the owner read a file.
const READABLE_BY_OTHERS: u32 = 0o044;

/// Writes `bytes` to `path` atomically (a temporary file in the same directory, synced, then
/// renamed over the old one, and the directory synced) with mode 0600 whatever the umask.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| io::Error::other(format!("{} is not a file path", path.display())))?;
    let temporary = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(PRIVATE_MODE).open(&temporary)?;
    // `mode` applies only when the file is created: a temporary left by a crash keeps its old
    // bits, so they are set explicitly.
    file.set_permissions(std::fs::Permissions::from_mode(PRIVATE_MODE))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Makes `path` owner-only if anyone else may read, write or run it; returns the mode it had
/// then (`None`: it was already private).
pub fn restrict(path: &Path) -> io::Result<Option<u32>> {
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    if mode & OTHERS == 0 {
        return Ok(None);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
    Ok(Some(mode))
}

/// Why a secret file may not be used: it is readable by its group or by everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposed {
    pub mode: u32,
}

impl std::fmt::Display for Exposed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = match (self.mode & 0o040 != 0, self.mode & 0o004 != 0) {
            (true, true) => "its group and everyone",
            (true, false) => "its group",
            _ => "everyone",
        };
        write!(
            f,
            "mode {:04o} lets {who} read the secret (agents in the service's group among them): \
             expected owner-only access (chmod 600)",
            self.mode
        )
    }
}

/// Refuses a secret file that its group or everyone may read (the check follows symlinks, as
/// reading does).
pub fn check_private(path: &Path) -> io::Result<Result<(), Exposed>> {
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    Ok(if mode & READABLE_BY_OTHERS == 0 { Ok(()) } else { Err(Exposed { mode }) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("metadata").permissions().mode() & 0o7777
    }

    #[test]
    fn written_files_are_owner_only_and_replace_the_old_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.toml");
        std::fs::write(&path, "old").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        write_atomic(&path, b"new").expect("write_atomic");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1, "no temporary left behind");
    }

    #[test]
    fn a_stale_temporary_with_open_bits_does_not_leak_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let stale = dir.path().join(".a.toml.tmp");
        std::fs::write(&stale, "x").expect("write");
        std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        write_atomic(&dir.path().join("a.toml"), b"new").expect("write_atomic");
        assert_eq!(mode(&dir.path().join("a.toml")), 0o600);
    }

    #[test]
    fn restrict_removes_group_and_other_bits_only_when_set() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s");
        std::fs::write(&path, "x").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        assert_eq!(restrict(&path).expect("restrict"), Some(0o640));
        assert_eq!(mode(&path), 0o600);
        assert_eq!(restrict(&path).expect("restrict"), None);
    }

    #[test]
    fn group_or_world_readable_secrets_are_refused_with_the_mode_and_the_remedy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s");
        std::fs::write(&path, "x").expect("write");
        for (bits, who) in [(0o640, "its group"), (0o604, "everyone"), (0o644, "its group and everyone")] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(bits)).expect("chmod");
            let exposed = check_private(&path).expect("stat").expect_err("refused");
            let text = exposed.to_string();
            assert!(
                text.contains(&format!("{bits:04o}")) && text.contains(who) && text.contains("chmod 600"),
                "{text}"
            );
        }
        for bits in [0o600, 0o400, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(bits)).expect("chmod");
            assert_eq!(check_private(&path).expect("stat"), Ok(()), "{bits:o}");
        }
    }
}
