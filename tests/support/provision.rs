//! Provisioning of the tools the interop tests use (rsyslog, syslog-ng, CEF parsers, the
//! Standard Webhooks verifier): `tests/interop/provision.sh`, run at most once per test process.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

static PROVISIONED: OnceLock<Result<(), String>> = OnceLock::new();

fn run_provision() -> Result<(), String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/provision.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed ({}):\n{}{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Whether the tests run in CI, where a missing tool is a failure, never a skip.
pub fn in_ci() -> bool {
    match std::env::var("CI") {
        Ok(v) => !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"),
        Err(_) => false,
    }
}

/// Makes `what` available: if `missing` reports it missing, runs provisioning (once per
/// process) and asks again. `Err` (the test prints `skipped: ...`) if it is still missing;
/// panics instead when `CI` is set.
pub fn ensure(what: &str, missing: impl Fn() -> Option<String>) -> Result<(), String> {
    if missing().is_none() {
        return Ok(());
    }
    let provision = PROVISIONED.get_or_init(run_provision).clone();
    match missing() {
        None => Ok(()),
        Some(why) => {
            let detail = match provision {
                Ok(()) => String::new(),
                Err(e) => format!("; provisioning: {e}"),
            };
            let message = format!("{what} not available ({why}){detail}; run tests/interop/provision.sh");
            if in_ci() {
                panic!("CI is set but {message}");
            }
            Err(message)
        }
    }
}
