//! Who may do what on the control socket: decided from the caller's peer credentials.
//!
//! Root and the daemon's own user are admins; members of `admin_group` are admins; members of
//! `viewer_group` may only read; everyone else is refused. Group membership counts the
//! caller's primary group and its supplementary groups (from `/proc/PID/status` when readable,
//! else from the membership lists in `/etc/group`).

use std::collections::HashSet;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read: status, history, metrics, event types.
    Viewer,
    /// Read and change: enable, disable, test, replay, reload.
    Admin,
}

/// A bearer token accepted on the TCP listener: its SHA-256 and the role it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub sha256: [u8; 32],
    pub role: Role,
    pub name: String,
}

/// The role of an `Authorization: Bearer ...` header value, or `None`. Every configured hash is
/// compared in full, in constant time, so timing tells nothing about how close a guess was.
pub fn bearer_role(tokens: &[Token], authorization: Option<&str>) -> Option<Role> {
    use sha2::{Digest, Sha256};
    let presented = authorization?.strip_prefix("Bearer ")?.trim();
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let mut found = None;
    for token in tokens {
        let difference = token.sha256.iter().zip(&digest).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if difference == 0 {
            found = Some(token.role);
        }
    }
    found
}

/// The groups that grant roles, resolved to gids when the config is built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    pub admin_gid: Option<u32>,
    pub viewer_gid: Option<u32>,
    /// The daemon's own user: its processes are trusted like root.
    pub own_uid: u32,
}

/// The caller, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gids: HashSet<u32>,
}

impl AccessPolicy {
    /// The caller's role, or `None` to refuse it.
    pub fn role(&self, caller: &Caller) -> Option<Role> {
        if caller.uid == 0 || caller.uid == self.own_uid {
            return Some(Role::Admin);
        }
        let member = |gid: Option<u32>| gid.is_some_and(|gid| caller.gids.contains(&gid));
        if member(self.admin_gid) {
            Some(Role::Admin)
        } else if member(self.viewer_gid) {
            Some(Role::Viewer)
        } else {
            None
        }
    }
}

/// The caller's groups: primary gid, supplementary groups of the process if `/proc` shows them,
/// and the groups whose member lists name the user.
pub fn caller_groups(uid: u32, gid: u32, pid: Option<i32>) -> HashSet<u32> {
    let mut gids = HashSet::from([gid]);
    let from_proc =
        pid.and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok()).and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Groups:"))
                .map(|groups| groups.split_whitespace().filter_map(|g| g.parse::<u32>().ok()).collect::<Vec<_>>())
        });
    match from_proc {
        Some(groups) => gids.extend(groups),
        None => {
            if let Some(user) = user_name(uid) {
                let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
                gids.extend(
                    parse_groups(&groups)
                        .filter(|(_, _, members)| members.contains(&user.as_str()))
                        .map(|(_, gid, _)| gid),
                );
            }
        }
    }
    gids
}

/// The gid of group `name` (from `/etc/group`).
pub fn group_id(name: &str) -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    let gid = parse_groups(&groups).find(|(group, _, _)| *group == name).map(|(_, gid, _)| gid);
    gid
}

/// `/etc/group` lines: `name:password:gid:member,member`.
fn parse_groups(text: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    text.lines().filter_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let gid = fields.next()?.parse().ok()?;
        let members = fields.next().unwrap_or_default().split(',').filter(|m| !m.is_empty()).collect();
        Some((name, gid, members))
    })
}

fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        (fields.next()?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    })
}

/// The uid this process runs as.
pub fn own_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|meta| meta.uid()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(uid: u32, gids: &[u32]) -> Caller {
        Caller { uid, gids: gids.iter().copied().collect() }
    }

    #[test]
    fn roles_follow_user_and_groups() {
        let policy = AccessPolicy { admin_gid: Some(900), viewer_gid: Some(901), own_uid: 500 };
        assert_eq!(policy.role(&caller(0, &[0])), Some(Role::Admin));
        assert_eq!(policy.role(&caller(500, &[500])), Some(Role::Admin));
        assert_eq!(policy.role(&caller(1000, &[1000, 900])), Some(Role::Admin));
        assert_eq!(policy.role(&caller(1001, &[901])), Some(Role::Viewer));
        assert_eq!(policy.role(&caller(1002, &[900, 901])), Some(Role::Admin));
        assert_eq!(policy.role(&caller(1003, &[1003])), None);
        let nobody_configured = AccessPolicy { admin_gid: None, viewer_gid: None, own_uid: 500 };
        assert_eq!(nobody_configured.role(&caller(1000, &[900, 901])), None);
    }

    #[test]
    fn bearer_tokens_are_matched_by_hash() {
        use sha2::{Digest, Sha256};
        let token = |secret: &str, role| Token { sha256: Sha256::digest(secret).into(), role, name: String::new() };
        let tokens = [token("admin-secret", Role::Admin), token("viewer-secret", Role::Viewer)];
        assert_eq!(bearer_role(&tokens, Some("Bearer admin-secret")), Some(Role::Admin));
        assert_eq!(bearer_role(&tokens, Some("Bearer viewer-secret")), Some(Role::Viewer));
        assert_eq!(bearer_role(&tokens, Some("Bearer guess")), None);
        assert_eq!(bearer_role(&tokens, Some("Basic admin-secret")), None);
        assert_eq!(bearer_role(&tokens, None), None);
    }

    #[test]
    fn reads_group_files() {
        let text = "root:x:0:\nsiem-admin:x:900:alice,bob\nbroken line\nsiem-view:x:901:\n";
        let groups: Vec<(&str, u32, Vec<&str>)> = parse_groups(text).collect();
        assert_eq!(
            groups,
            [("root", 0, vec![]), ("siem-admin", 900, vec!["alice", "bob"]), ("siem-view", 901, vec![])]
        );
        assert_eq!(group_id("root"), Some(0));
        assert!(caller_groups(0, 0, Some(std::process::id() as i32)).contains(&0));
    }
}
