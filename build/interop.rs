// The decision of build.rs about the interop tests, apart from how the facts are gathered, so
// that tests/provisioning.rs can check it (included by both; no `//!` docs: it is included).

/// What the host offers, as far as the interop tests are concerned.
#[derive(Debug, Clone, Copy, Default)]
pub struct Host {
    /// `CI` is set: every test must really run.
    pub ci: bool,
    /// `SIEM_RELAY_INTEROP=skip`: the user does not want them (nor anything installed).
    pub skip_requested: bool,
    /// rsyslog, the syslog-ng tree, the venv and lognormalizer are all there.
    pub installed: bool,
    /// apt-get exists.
    pub apt: bool,
    /// Root, or passwordless sudo: provision.sh can install.
    pub privileged: bool,
}

/// Why the interop tests cannot run here (they are then marked ignored), or `None`: they run,
/// provisioning on first use if need be, and fail if a tool is still missing.
pub fn why_interop_cannot_run(host: Host) -> Option<String> {
    if host.ci {
        return None;
    }
    if host.skip_requested {
        return Some("SIEM_RELAY_INTEROP=skip".to_owned());
    }
    if host.installed || (host.apt && host.privileged) {
        return None;
    }
    Some(format!(
        "rsyslog, syslog-ng, the CEF parsers and the webhook verifier are not installed{}; \
         run `sudo bash tests/interop/provision.sh` (see README, Tests), then build again",
        if host.apt { " and installing them needs root or passwordless sudo" } else { " and there is no apt-get" }
    ))
}
