//! Secrets at rest: run-time sink files are owner-only (written so, and repaired at start), and
//! secret or token files that other users may read are refused.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use crate::support::daemon::TestDaemon;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o7777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_time_sink_files_are_owner_only_whatever_the_umask() {
    // The umask a shell or a unit without UMask= gives: files would be 0644.
    // SAFETY: umask has no memory effects; this test process runs alone (nextest).
    unsafe {
        libc::umask(0o022);
    }
    let daemon = TestDaemon::start(
        "[control]\nsinks_dir = \"{dir}/sinks.d\"\n[egress]\nallow = [\"127.0.0.0/8\"]\n[sinks.main]\nformat = \"rfc5424\"\nurl = \"console\"\n",
    )
    .await;
    let keys = serde_json::json!({"name": "hook", "format": "json", "url": "http://127.0.0.1:9/T0/secret-path", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"});
    let (status, body) = daemon.control_with("POST", "/v1/sinks", keys).await;
    assert_eq!(status, 201, "{body}");
    let dropin = daemon.dir.path().join("sinks.d/hook.toml");
    assert_eq!(mode(&dropin), 0o600, "created");
    assert_eq!(mode(&daemon.dir.path().join("sinks.d")), 0o700, "the directory the API created");
    let (status, body) = daemon.control_with("PATCH", "/v1/sinks/hook", serde_json::json!({"timeout_ms": 2000})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(mode(&dropin), 0o600, "updated");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_run_time_sink_files_are_made_owner_only_at_start() {
    let sinks = tempfile::tempdir().expect("tempdir");
    let old = sinks.path().join("old.toml");
    std::fs::write(&old, "format = \"rfc5424\"\nurl = \"console\"\n").expect("write");
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let daemon = TestDaemon::start(&format!(
        "[control]\nsinks_dir = \"{}\"\n[sinks.main]\nformat = \"rfc5424\"\nurl = \"console\"\n",
        sinks.path().display()
    ))
    .await;
    assert_eq!(mode(&old), 0o600);
    let (status, body) = daemon.control("GET", "/v1/sinks/old").await;
    assert_eq!(status, 200, "the repaired drop-in still loads: {body}");
    daemon.stop().await;
}

#[test]
fn secret_and_token_files_readable_by_others_are_refused_naming_the_file_key_and_remedy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("hook.secret");
    std::fs::write(&secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n").expect("write");
    let token = dir.path().join("hec.token");
    std::fs::write(&token, "11111111-2222-3333-4444-555555555555\n").expect("write");
    let config = dir.path().join("siem-relay.toml");
    let cases = [
        (
            "secret_file",
            &secret,
            "[sinks.hook]\nformat = \"json\"\nurl = \"https://example.com/h\"\nsecret_file = \"hook.secret\"\n",
            "sinks.hook.secret_file",
        ),
        (
            "token_file",
            &token,
            "[sinks.hec]\nformat = \"splunk_hec\"\nurl = \"https://example.com/\"\ntoken_file = \"hec.token\"\n",
            "sinks.hec.token_file",
        ),
    ];
    for (what, file, text, key) in cases {
        std::fs::write(&config, text).expect("write config");
        for bits in [0o640, 0o644] {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(bits)).expect("chmod");
            let out = Command::new(env!("CARGO_BIN_EXE_siem-relay"))
                .args(["check", "--config"])
                .arg(&config)
                .output()
                .expect("run check");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{what} {bits:o}: {stderr}");
            for needle in
                [&config.display().to_string(), key, &file.display().to_string(), &format!("{bits:04o}"), "chmod 600"]
            {
                assert!(stderr.contains(needle), "{what} {bits:o}: {needle:?} missing from {stderr}");
            }
            assert!(!stderr.contains("MfKQ9r8G") && !stderr.contains("5555"), "{stderr}");
        }
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let out = Command::new(env!("CARGO_BIN_EXE_siem-relay"))
            .args(["check", "--config"])
            .arg(&config)
            .output()
            .expect("run");
        assert!(out.status.success(), "{what} 0600: {}", String::from_utf8_lossy(&out.stderr));
    }
}
