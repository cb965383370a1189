//! The command line: `check` on every example config and on each kind of mistake, `send`, and
//! the embedded default config run as a newcomer would run it.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::rfc5424_strict;

fn siem_relay() -> Command {
    Command::new(env!("CARGO_BIN_EXE_siem-relay"))
}

fn check(path: &Path) -> Output {
    siem_relay().arg("check").arg("--config").arg(path).output().expect("run check")
}

/// A copy of `config/` with its example secrets made owner-only, as `check` requires of secret
/// files (a checkout gives them 0644; config/secrets/README.md says to `chmod 600` them), and
/// file sinks pointed at an existing directory.
fn example_configs() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt as _;
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let copy = tempfile::tempdir().expect("tempdir");
    for sub in ["", "secrets"] {
        std::fs::create_dir_all(copy.path().join(sub)).expect("mkdir");
        for entry in std::fs::read_dir(source.join(sub)).expect("config/") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                let target = copy.path().join(sub).join(path.file_name().expect("name"));
                if path.extension().is_some_and(|e| e == "toml") {
                    // File sinks need their directory (systemd's LogsDirectory on a real host).
                    let text = std::fs::read_to_string(&path).expect("read");
                    let logs = copy.path().join("log");
                    std::fs::create_dir_all(&logs).expect("mkdir");
                    std::fs::write(&target, text.replace("/var/log/siem-relay", &logs.display().to_string()))
                        .expect("write");
                } else {
                    std::fs::copy(&path, &target).expect("copy");
                }
                if sub == "secrets" {
                    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).expect("chmod");
                }
            }
        }
    }
    copy
}

#[test]
fn check_accepts_every_example_config() {
    let copy = example_configs();
    let dir = copy.path();
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("config/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            let output = check(&path);
            assert!(output.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
            checked += 1;
        }
    }
    assert!(checked >= 3, "expected several example configs, found {checked}");
}

/// `check --print` prints TOML with every default resolved and no secret; a config without
/// secrets prints as a config that checks and prints the same (a fixed point).
#[test]
fn check_print_shows_the_effective_config_without_secrets() {
    let copy = example_configs();
    let print = |path: &Path| {
        let output = siem_relay().args(["check", "--print", "--config"]).arg(path).output().expect("check --print");
        assert!(output.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("UTF-8")
    };
    let mut fixed_points = 0;
    for entry in std::fs::read_dir(copy.path()).expect("config/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|ext| ext != "toml") {
            continue;
        }
        let printed = print(&path);
        let table: toml::Table =
            toml::from_str(&printed).unwrap_or_else(|e| panic!("{}: {e}\n{printed}", path.display()));
        for sink in table["sinks"].as_table().expect("sinks").values() {
            assert!(sink.get("queue").and_then(|q| q.get("when_full")).is_some(), "{}: {printed}", path.display());
        }
        for secret_file in [
            "config/secrets/webhook.secret.example",
            "config/secrets/splunk-hec.token.example",
            "config/secrets/kafka.password.example",
        ] {
            let secret =
                std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(secret_file)).expect("read");
            for line in secret.lines().filter(|line| line.len() > 8 && !line.starts_with('#')) {
                assert!(!printed.contains(line.trim()), "{}: secret printed", path.display());
            }
        }
        let original = std::fs::read_to_string(&path).expect("read");
        if ["secret", "token", "password", "https://", "http://"].iter().any(|s| original.contains(s)) {
            continue;
        }
        let again = path.with_extension("printed");
        std::fs::write(&again, &printed).expect("write");
        assert_eq!(print(&again), printed, "{}: printing the printed config changes it", path.display());
        fixed_points += 1;
    }
    assert!(fixed_points >= 3, "expected several configs without secrets, found {fixed_points}");
}

#[test]
fn check_names_the_file_the_key_and_the_expectation_for_each_mistake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = "[sinks.qradar]\nformat = \"rfc5424\"\nurl = \"tcp://127.0.0.1:514\"\n";
    let cef = "[sinks.qradar]\nformat = \"cef\"\nurl = \"tcp://127.0.0.1:514\"\n";
    let cases: &[(&str, String, &[&str])] = &[
        ("unknown top-level key", format!("colour = \"blue\"\n{sink}"), &["unknown field `colour`"]),
        (
            "unknown sink key",
            "[sinks.qradar]\nformat = \"rfc5424\"\nurll = \"tcp://x\"\n".into(),
            &["sinks.qradar", "unknown field `urll`", "expected one of"],
        ),
        ("missing url", "[sinks.qradar]\nformat = \"rfc5424\"\n".into(), &["sinks.qradar", "missing field `url`"]),
        ("wrong type", format!("[input]\nmax_clients = \"many\"\n{sink}"), &["input.max_clients", "invalid type"]),
        (
            "bad url",
            "[sinks.qradar]\nformat = \"rfc5424\"\nurl = \"htp://siem\"\n".into(),
            &["sinks.qradar.url", "unsupported scheme \"htp\""],
        ),
        (
            "ipv6 without brackets",
            "[sinks.qradar]\nformat = \"rfc5424\"\nurl = \"tcp://::1:514\"\n".into(),
            &["sinks.qradar.url", "brackets"],
        ),
        (
            "bad format",
            "[sinks.qradar]\nformat = \"xml\"\nurl = \"tcp://h:1\"\n".into(),
            &["sinks.qradar.format", "expected \"rfc5424\", \"rfc3164\", \"cef\" or \"leef\"", "found \"xml\""],
        ),
        (
            "bad when_full",
            format!("{sink}queue = {{ when_full = \"explode\" }}\n"),
            &["sinks.qradar.queue.when_full", "\"block\", \"drop_newest\" or \"drop_oldest\""],
        ),
        (
            "zero max_events",
            format!("{sink}queue = {{ max_events = 0 }}\n"),
            &["sinks.qradar.queue.max_events", "at least 1"],
        ),
        (
            "bad min_severity",
            format!("{sink}min_severity = \"urgent\"\n"),
            &["sinks.qradar.min_severity", "critical, high, medium, low, info"],
        ),
        ("severity out of range", format!("{sink}min_severity = 11\n"), &["sinks.qradar.min_severity", "0-10"]),
        ("bad facility", format!("{sink}facility = \"local9\"\n"), &["sinks.qradar.facility", "local0"]),
        ("bad sd field name", format!("{sink}sd_fields = [\"data.a=b\"]\n"), &["sinks.qradar.sd_fields[0]", "SD-NAME"]),
        (
            "reserved sd field name",
            format!("{sink}sd_fields = [\"id\"]\n"),
            &["sinks.qradar.sd_fields[0]", "already used"],
        ),
        ("bad sd_id", format!("{sink}sd_id = \"siem\"\n"), &["sinks.qradar.sd_id", "name@enterprise-number"]),
        ("bad app_name", format!("{sink}app_name = \"has space\"\n"), &["sinks.qradar.app_name", "APP-NAME"]),
        (
            "framing on udp",
            "[sinks.qradar]\nformat = \"rfc5424\"\nurl = \"udp://h\"\nframing = \"lf\"\n".into(),
            &["sinks.qradar.framing", "tcp:// and tls://"],
        ),
        (
            "bad framing",
            format!("{sink}framing = \"crlf\"\n"),
            &["sinks.qradar.framing", "\"octet_counting\" or \"lf\""],
        ),
        ("tls on tcp", format!("{sink}tls = {{ ca_file = \"/x\" }}\n"), &["sinks.qradar.tls", "kafkas:// and https:// sinks only"]),
        (
            "missing ca file",
            "[sinks.qradar]\nformat = \"rfc5424\"\nurl = \"tls://h\"\ntls.ca_file = \"/nonexistent/ca.pem\"\n".into(),
            &["sinks.qradar.tls.ca_file", "/nonexistent/ca.pem"],
        ),
        (
            "cert without key",
            "[sinks.qradar]\nformat = \"rfc5424\"\nurl = \"tls://h\"\ntls.cert_file = \"/x.pem\"\n".into(),
            &["sinks.qradar.tls.key_file", "expected a key_file"],
        ),
        (
            "bad pin",
            "[sinks.qradar]\nformat = \"rfc5424\"\nurl = \"tls://h\"\ntls.pin_sha256 = \"abc\"\n".into(),
            &["sinks.qradar.tls.pin_sha256", "64 hex digits"],
        ),
        (
            "small max_message_bytes",
            format!("{sink}max_message_bytes = 100\n"),
            &["sinks.qradar.max_message_bytes", "at least 480"],
        ),
        (
            "udp limit over a datagram",
            "[sinks.qradar]\nformat = \"rfc5424\"\nurl = \"udp://127.0.0.1:514\"\nmax_message_bytes = 100000\n".into(),
            &["sinks.qradar.max_message_bytes", "at most 65507", "largest UDP datagram"],
        ),
        (
            "rfc3164 over udp over 1024",
            "[sinks.qradar]\nformat = \"rfc3164\"\nurl = \"udp://127.0.0.1:514\"\nmax_message_bytes = 2048\n".into(),
            &["sinks.qradar.max_message_bytes", "at most 1024", "RFC 3164 section 4.1"],
        ),
        (
            "cef limit below its header",
            format!(
                "{cef}max_message_bytes = 480\ndevice_vendor = \"{}\"\ndevice_product = \"{}\"\ndevice_version = \"{}\"\n",
                "v".repeat(63),
                "p".repeat(63),
                "1".repeat(31)
            ),
            &["sinks.qradar.max_message_bytes", "expected at least 5", "longest header", "found 480"],
        ),
        (
            "limit on a format that ignores it",
            "[sinks.hook]\nformat = \"json\"\nurl = \"https://siem.example.net/hook\"\nmax_message_bytes = 4096\n".into(),
            &["sinks.hook.max_message_bytes", "applies to format = rfc5424 or rfc3164 or cef or leef or teams only"],
        ),
        (
            "control character in a cef header field",
            format!("{cef}device_product = \"a\\tb\"\n"),
            &["sinks.qradar.device_product", "without control characters"],
        ),
        (
            "bad leef_version",
            "[sinks.q]\nformat = \"leef\"\nurl = \"tcp://127.0.0.1:514\"\nleef_version = \"3.0\"\n".into(),
            &["sinks.q.leef_version", "\"2.0\" or \"1.0\""],
        ),
        (
            "leef delimiter that breaks records",
            "[sinks.q]\nformat = \"leef\"\nurl = \"tcp://127.0.0.1:514\"\nleef_delimiter = \"=\"\n".into(),
            &["sinks.q.leef_delimiter", "cannot separate attributes"],
        ),
        (
            "leef delimiter on 1.0",
            "[sinks.q]\nformat = \"leef\"\nurl = \"tcp://127.0.0.1:514\"\nleef_version = \"1.0\"\nleef_delimiter = \"^\"\n".into(),
            &["sinks.q.leef_delimiter", "LEEF 1.0 always uses tab"],
        ),
        (
            "pipe in a leef header field",
            "[sinks.q]\nformat = \"leef\"\nurl = \"tcp://127.0.0.1:514\"\ndevice_vendor = \"Ac|me\"\n".into(),
            &["sinks.q.device_vendor", "no '|'"],
        ),
        (
            "leef key on cef",
            format!("{cef}leef_version = \"2.0\"\n"),
            &["sinks.qradar.leef_version", "applies to format = leef only"],
        ),
        ("bad socket mode", format!("[input]\nsocket_mode = \"rw-rw----\"\n{sink}"), &["input.socket_mode", "octal"]),
        (
            "sd on rfc3164",
            "[sinks.qradar]\nformat = \"rfc3164\"\nurl = \"udp://h\"\nsd_fields = [\"x\"]\n".into(),
            &["sinks.qradar.sd_fields", "rfc5424"],
        ),
        (
            "bad sink name",
            "[sinks.\"qr adar\"]\nformat = \"rfc5424\"\nurl = \"udp://h\"\n".into(),
            &["sinks.qr adar", "letters, digits"],
        ),
        (
            "cef key on rfc5424",
            format!("{sink}mapping = {{ src = \"ip\" }}\n"),
            &["sinks.qradar.mapping", "applies to format = cef or leef only"],
        ),
        ("message on cef", format!("{cef}message = \"json\"\n"), &["sinks.qradar.message", "rfc5424 or rfc3164 only"]),
        ("bad cef_version", format!("{cef}cef_version = 2\n"), &["sinks.qradar.cef_version", "expected 0 or 1"]),
        (
            "bad syslog_header",
            format!("{cef}syslog_header = \"bsd\"\n"),
            &["sinks.qradar.syslog_header", "\"rfc5424\", \"rfc3164\" or \"none\""],
        ),
        (
            "bad cef_severity",
            format!("{cef}cef_severity = \"loud\"\n"),
            &["sinks.qradar.cef_severity", "\"number\" or \"name\""],
        ),
        (
            "vendor too long",
            format!("{cef}device_vendor = \"{}\"\n", "v".repeat(64)),
            &["sinks.qradar.device_vendor", "1-63 bytes"],
        ),
        (
            "bad mapping key",
            format!("{cef}mapping = {{ \"bad-key\" = \"x\" }}\n"),
            &["sinks.qradar.mapping.bad-key", "letters and digits"],
        ),
        (
            "label key as mapping",
            format!("{cef}mapping = {{ cs1Label = \"x\" }}\n"),
            &["sinks.qradar.mapping.cs1Label", "cs1 = { field"],
        ),
        (
            "label on a key without one",
            format!("{cef}mapping = {{ src = {{ field = \"ip\", label = \"L\" }} }}\n"),
            &["sinks.qradar.mapping.src.label", "src has no label key"],
        ),
        (
            "bad mapping path",
            format!("{cef}mapping = {{ msg = \"a..b\" }}\n"),
            &["sinks.qradar.mapping.msg", "field path"],
        ),
        (
            "bad queue kind",
            format!("{sink}queue = {{ kind = \"tape\" }}\n"),
            &["sinks.qradar.queue.kind", "\"memory\" or \"disk\""],
        ),
        (
            "sync on memory",
            format!("{sink}queue = {{ sync = \"batch\" }}\n"),
            &["sinks.qradar.queue.sync", "kind = \"disk\""],
        ),
        (
            "bad sync",
            format!("{sink}queue = {{ kind = \"disk\", sync = \"often\" }}\n"),
            &["sinks.qradar.queue.sync", "\"100ms\""],
        ),
        ("no sinks", "[input]\nmax_clients = 3\n".into(), &["sinks", "at least one"]),
        (
            "file sink in a missing directory",
            "[sinks.archive]\nformat = \"rfc5424\"\nurl = \"file:///nonexistent-siem-relay/events.log\"\n".into(),
            &["sinks.archive.url", "/nonexistent-siem-relay/events.log", "does not exist"],
        ),
        ("syntax error", format!("{sink}\nevents = [\"a\"\n"), &[":6", "invalid array"]),
    ];
    for (name, text, expected) in cases {
        let path = dir.path().join(format!("{}.toml", name.replace(' ', "_")));
        std::fs::write(&path, text).expect("write");
        let output = check(&path);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(&path.display().to_string()), "{name}: file not named: {stderr}");
        for needle in *expected {
            assert!(stderr.contains(needle), "{name}: {needle:?} not in: {stderr}");
        }
    }
}

#[test]
fn check_reports_an_unreadable_file() {
    let output = check(Path::new("/nonexistent/siem-relay.toml"));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/siem-relay.toml: cannot read the file"));
}

/// A daemon process that is killed if a test fails midway.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_embedded_default_prints_events_as_rfc5424_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("events.sock");
    let mut daemon = Daemon(
        siem_relay()
            .arg("--socket")
            .arg(&socket)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start daemon"),
    );
    wait_for(&socket);

    let mut send = siem_relay()
        .arg("send")
        .arg("--socket")
        .arg(&socket)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("send");
    use std::io::Write as _;
    send.stdin
        .take()
        .expect("stdin")
        .write_all(b"{\"event\":\"finding_added\",\"severity\":\"high\",\"title\":\"SQL injection\"}\nnot json\n{\"event\":\"scan_done\"}\n")
        .expect("write");
    let sent = send.wait_with_output().expect("send output");
    assert_eq!(String::from_utf8_lossy(&sent.stdout).trim(), "accepted 2, rejected 1");
    assert!(String::from_utf8_lossy(&sent.stderr).contains("line 2: rejected: invalid JSON"));
    assert_eq!(sent.status.code(), Some(1), "rejections make send fail");

    let status = Command::new("kill").arg("-TERM").arg(daemon.0.id().to_string()).status().expect("kill");
    assert!(status.success());
    let output = std::mem::replace(&mut daemon.0, Command::new("true").spawn().expect("true"))
        .wait_with_output()
        .expect("daemon output");
    assert!(output.status.success(), "exit status {:?}", output.status);
    let stdout = String::from_utf8(output.stdout).expect("utf8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for line in &lines {
        rfc5424_strict::parse(line.as_bytes()).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    assert!(lines[0].contains(" finding_added [siem@32473 id=\""), "{}", lines[0]);
    assert!(lines[0].ends_with("] SQL injection"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&socket.display().to_string()), "socket path printed at start-up: {stderr}");
    assert!(!socket.exists(), "socket removed on exit");
}

#[test]
fn send_fails_clearly_with_status_2_when_no_daemon_listens() {
    let output =
        siem_relay().args(["send", "--socket", "/nonexistent/events.sock", "/dev/null"]).output().expect("send");
    // 2 as for ctl: unreachable, distinct from 1 (events rejected).
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot send to /nonexistent/events.sock"));
}

#[test]
fn a_socket_that_cannot_be_bound_is_reported_once_with_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, "").expect("write");
    let socket = file.join("sub/events.sock");
    let output = siem_relay().arg("--socket").arg(&socket).output().expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&socket.display().to_string()), "{stderr}");
    assert_eq!(stderr.matches("(os error").count(), 1, "the reason once, not twice: {stderr}");
}

#[test]
fn example_configs_leave_the_event_socket_to_the_default_rule() {
    // A hard-coded /run/siem-relay/events.sock fails for a normal user: every example, the full
    // one included, leaves the socket to the default rule.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for entry in std::fs::read_dir(&dir).expect("config/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            let table: toml::Table = toml::from_str(&std::fs::read_to_string(&path).expect("read")).expect("toml");
            let socket = table.get("input").and_then(|input| input.get("socket"));
            assert!(socket.is_none(), "{}: input.socket = {socket:?}", path.display());
        }
    }
}

#[test]
fn siem_relay_log_takes_syslog_spellings_and_refuses_unknown_levels() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    // A drop-in others may read: the daemon warns as it repairs it at start.
    let sinks = dir.path().join("sinks.d");
    std::fs::create_dir(&sinks).expect("mkdir");
    std::fs::write(sinks.join("extra.toml"), "format = \"rfc5424\"\nurl = \"console\"\n").expect("write");
    std::fs::set_permissions(sinks.join("extra.toml"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let config = dir.path().join("siem-relay.toml");
    std::fs::write(
        &config,
        format!("[control]\nsinks_dir = \"{}\"\n[sinks.c]\nformat = \"rfc5424\"\nurl = \"console\"\n", sinks.display()),
    )
    .expect("config");
    let log = dir.path().join("stderr.log");
    let daemon = Daemon(
        siem_relay()
            .env("SIEM_RELAY_LOG", "warning")
            .arg("--config")
            .arg(&config)
            .arg("--socket")
            .arg(dir.path().join("events.sock"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start daemon"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("had mode 0644") {
        assert!(Instant::now() < deadline, "no warning logged with SIEM_RELAY_LOG=warning");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(daemon);
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(!text.contains(" INFO "), "info lines shown at level warning: {text}");

    let refused = siem_relay().env("SIEM_RELAY_LOG", "verbose").arg("check").arg("--config").arg(&config).output();
    let refused = refused.expect("check");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("SIEM_RELAY_LOG=\"verbose\"") && stderr.contains("warning"), "{stderr}");
}

/// Every key of the README's configuration tables (`| key | default | meaning |`).
fn readme_keys() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README");
    let mut keys = Vec::new();
    let mut in_table = false;
    for line in readme.lines() {
        if line.starts_with("| key | default | meaning |") {
            in_table = true;
            continue;
        }
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        let first = line.split('|').nth(1).unwrap_or("");
        if in_table && !first.starts_with("---") {
            // `a`, `b.c` / `d`, `[event_types]`: every backquoted name in the first cell.
            keys.extend(first.split('`').skip(1).step_by(2).map(|k| k.trim_matches(['[', ']']).to_owned()));
        }
    }
    keys
}

#[test]
fn the_full_example_config_shows_every_key_the_readme_documents() {
    let keys = readme_keys();
    assert!(keys.len() > 80 && keys.iter().any(|k| k == "data_dir"), "README tables not found: {keys:?}");
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/siem-relay.toml"))
        .expect("config/siem-relay.toml");
    // Keys as written (set or commented out): `name =`, `{ name =`, `, name =`, `[a.name]`, `a.name =`.
    let written: std::collections::BTreeSet<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '=' || c == '.'))
        .filter_map(|token| token.strip_suffix('=').or(Some(token)))
        .flat_map(|token| token.split('.'))
        .filter(|t| !t.is_empty())
        .collect();
    let defined = |name: &str| {
        text.contains(&format!("{name} ="))
            || text.contains(&format!("{name}]"))
            || text.contains(&format!(".{name} ="))
    };
    let missing: Vec<&String> = keys
        .iter()
        .filter(|key| {
            let parts: Vec<&str> = key.split('.').collect();
            let Some((last, prefix)) = parts.split_last() else { return true };
            !defined(last) || prefix.iter().any(|part| !written.contains(part))
        })
        .collect();
    assert!(missing.is_empty(), "config/siem-relay.toml claims to show every key but lacks {missing:?}");
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let output = siem_relay().arg("--version").output().expect("run --version");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(text.starts_with(&format!("siem-relay {} (commit ", env!("CARGO_PKG_VERSION"))), "{text}");
    let commit = text.trim().trim_end_matches(')').rsplit(' ').next().unwrap_or_default().to_owned();
    assert!(commit == "unknown" || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())), "{text}");
}

#[test]
fn completions_are_printed_for_each_shell_and_the_bash_one_parses() {
    for shell in ["bash", "zsh", "fish"] {
        let output = siem_relay().args(["completions", shell]).output().expect("run completions");
        assert!(output.status.success(), "{shell}: {}", String::from_utf8_lossy(&output.stderr));
        let script = String::from_utf8(output.stdout).expect("utf8");
        assert!(script.contains("siem-relay") && script.contains("ctl"), "{shell}: {script}");
        if shell == "bash" {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("siem-relay.bash");
            std::fs::write(&path, &script).expect("write");
            let status = Command::new("bash").arg("-n").arg(&path).status().expect("run bash -n");
            assert!(status.success(), "the bash completion does not parse");
        }
    }
    let output = siem_relay().args(["completions", "tcsh"]).output().expect("run completions");
    assert!(!output.status.success() && String::from_utf8_lossy(&output.stderr).contains("tcsh"));
}

#[test]
fn man_pages_cover_every_subcommand_and_the_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = siem_relay().arg("manpages").arg(dir.path()).output().expect("run manpages");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    for page in [
        "siem-relay.8",
        "siem-relay-run.8",
        "siem-relay-check.8",
        "siem-relay-ctl.8",
        "siem-relay-send.8",
        "siem-relay-completions.8",
        "siem-relay.toml.5",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".TH ") || text.contains("\n.TH "), "{page} is not a man page");
    }
    let config = std::fs::read_to_string(dir.path().join("siem-relay.toml.5")).expect("config page");
    for key in ["max_message_bytes", "leef_version", "control.sinks_dir", "queue.kind"] {
        assert!(
            config.contains(&format!("\\fB\\fB{}\\fR\\fR", key.replace('-', "\\-"))),
            "{key} is not in siem-relay.toml(5)"
        );
    }
    assert!(!std::fs::read_dir(dir.path())
        .expect("dir")
        .any(|e| e.expect("entry").file_name() == "siem-relay-manpages.8"));
}
