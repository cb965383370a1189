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

/// Makes `what` available: if `missing` reports it missing, runs provisioning (once per
/// process) and asks again; panics if it is still missing. Never a silent skip: where the tools
/// cannot be had, the build script (`build.rs`, cfg `interop_unavailable`) marks the tests that
/// need them `#[ignore]`, so that nextest reports them as skipped, with the reason printed by
/// the build.
pub fn ensure(what: &str, missing: impl Fn() -> Option<String>) {
    if missing().is_none() {
        return;
    }
    let provision = PROVISIONED.get_or_init(run_provision).clone();
    if let Some(why) = missing() {
        let detail = match provision {
            Ok(()) => String::new(),
            Err(e) => format!("; provisioning: {e}"),
        };
        panic!(
            "{what} not available ({why}){detail}; run `sudo bash tests/interop/provision.sh`, or build with \
             SIEM_RELAY_INTEROP=skip to have the interop tests ignored (README, Tests)"
        );
    }
}

/// A Python script under `tests/interop/` run by the interop venv's interpreter
/// (`target/interop/cef-venv`, made by `provision.sh`), or by the interpreter an environment
/// variable names.
pub struct VenvScript {
    /// Path below the repository root, e.g. `tests/interop/cef_parse.py`.
    pub script: &'static str,
    /// Environment variable that overrides the interpreter.
    pub python_override: &'static str,
}

impl VenvScript {
    fn repo_root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    pub fn script_path(&self) -> PathBuf {
        Self::repo_root().join(self.script)
    }

    pub fn python_path(&self) -> PathBuf {
        match std::env::var_os(self.python_override) {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => Self::repo_root().join("target/interop/cef-venv/bin/python"),
        }
    }

    /// A command running the script with the venv's interpreter.
    pub fn command(&self) -> Command {
        let mut command = Command::new(self.python_path());
        command.arg(self.script_path());
        command
    }

    /// Why the script cannot run now (`None` when it can): asks the script itself (`--check`,
    /// which imports what it needs); takes about 0.1 s.
    pub fn missing(&self) -> Option<String> {
        let python = self.python_path();
        if !python.exists() {
            return Some(format!("{} not found", python.display()));
        }
        if !Self::repo_root().join("target/interop/cef-venv/.complete").exists()
            && std::env::var_os(self.python_override).is_none()
        {
            return Some("target/interop/cef-venv is incomplete".to_string());
        }
        match self.command().arg("--check").stdin(Stdio::null()).output() {
            Ok(out) if out.status.success() => None,
            Ok(out) => Some(format!(
                "{} --check failed ({}): {}",
                self.script_path().display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Some(format!("cannot run {}: {e}", python.display())),
        }
    }

    /// What a failure to start the script says.
    pub fn cannot_run(&self, error: std::io::Error) -> String {
        format!("cannot run {} {}: {error}", self.python_path().display(), self.script_path().display())
    }
}
