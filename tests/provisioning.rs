//! `tests/interop/provision.sh` never removes a package the user installed: every install is
//! simulated first (`refuse-removals.sh`) and refused if apt-get would remove anything. Checked
//! with a stand-in `apt-get` on PATH, so nothing is installed or removed here.

use std::os::unix::fs::PermissionsExt as _;

#[path = "../build/interop.rs"]
mod decision;
use std::path::Path;
use std::process::{Command, Output};

fn interop(script: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop").join(script)
}

/// Runs refuse-removals.sh with an `apt-get` that prints `simulation` for `install -s`, and
/// records every call.
fn refuse_removals(simulation: &str, packages: &[&str]) -> (Output, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let calls = dir.path().join("calls");
    let fake = dir.path().join("apt-get");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\necho \"$@\" >>'{}'\ncat <<'SIMULATION'\n{simulation}\nSIMULATION\n", calls.display()),
    )
    .expect("write fake apt-get");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!("{}:{}", dir.path().display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .arg(interop("refuse-removals.sh"))
        .args(packages)
        .env("PATH", path)
        .output()
        .expect("run refuse-removals.sh");
    (out, std::fs::read_to_string(&calls).unwrap_or_default())
}

#[test]
fn an_install_that_would_remove_a_package_is_refused_naming_it() {
    let simulation = "Reading package lists...\nRemv syslog-ng-core [3.38.1-5]\nInst rsyslog (8.2302.0-1 Debian:12/stable [amd64])\nConf rsyslog (8.2302.0-1 Debian:12/stable [amd64])";
    let (out, calls) = refuse_removals(simulation, &["rsyslog", "rsyslog-gnutls"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("would remove installed package(s): syslog-ng-core"), "{stderr}");
    assert!(stderr.contains("refusing") && stderr.contains("SIEM_RELAY_INTEROP=skip"), "{stderr}");
    assert_eq!(calls.trim(), "install -s -q --no-install-recommends rsyslog rsyslog-gnutls", "only a simulation ran");
}

#[test]
fn an_install_that_removes_nothing_is_allowed() {
    let simulation =
        "Inst rsyslog (8.2302.0-1 Debian:12/stable [amd64])\nConf rsyslog (8.2302.0-1 Debian:12/stable [amd64])";
    let (out, _) = refuse_removals(simulation, &["rsyslog"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn provision_simulates_before_every_install() {
    let script = std::fs::read_to_string(interop("provision.sh")).expect("provision.sh");
    let installs = script.matches("apt-get install \"${opts[@]}\"").count();
    let checks = script.matches("refuse-removals.sh\" \"${missing[@]}\"").count();
    assert!(installs >= 1, "provision.sh installs with apt-get");
    assert!(checks >= installs, "{checks} simulation(s) for {installs} install(s)");
}

#[test]
fn the_interop_tests_run_under_ci_and_where_they_can_be_provisioned_and_are_ignored_elsewhere() {
    use decision::{why_interop_cannot_run, Host};
    let runs = |host: Host| why_interop_cannot_run(host).is_none();
    // CI: always, whatever is missing, even if skipping was asked for.
    assert!(runs(Host { ci: true, skip_requested: true, ..Host::default() }));
    assert!(runs(Host { ci: true, ..Host::default() }));
    assert!(runs(Host { installed: true, ..Host::default() }));
    assert!(runs(Host { apt: true, privileged: true, ..Host::default() }), "root provisions on first use");
    let ignored = |host: Host| why_interop_cannot_run(host).expect("ignored");
    assert!(ignored(Host { apt: true, ..Host::default() }).contains("needs root or passwordless sudo"));
    assert!(ignored(Host { privileged: true, ..Host::default() }).contains("no apt-get"));
    assert!(ignored(Host { apt: true, privileged: true, skip_requested: true, ..Host::default() })
        .contains("SIEM_RELAY_INTEROP=skip"));
    assert!(ignored(Host::default()).contains("tests/interop/provision.sh"));
}

/// Ignored where provisioning cannot happen, like the interop tests themselves; elsewhere it
/// runs provision.sh once (as a test needing a tool does) before failing.
#[test]
#[cfg_attr(interop_unavailable, ignore = "provisioning cannot run here: see the build warning")]
#[should_panic(expected = "not available (not installed)")]
fn a_tool_still_missing_after_provisioning_fails_the_test_rather_than_passing_it() {
    crate::support::provision::ensure("a tool that is never there", || Some("not installed".to_owned()));
}
