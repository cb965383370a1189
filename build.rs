//! Build script: decides whether the interop tests (real rsyslog and syslog-ng, the independent
//! CEF parsers, the Standard Webhooks verifier) can run here, and if they cannot, sets the cfg
//! `interop_unavailable`, which marks them `#[ignore = "..."]`: nextest then reports them as
//! skipped instead of running them, and this script prints the reason as a cargo warning. A test
//! that does run and finds a tool missing fails; none passes having checked nothing.
//!
//! They can run when the tools are installed (`tests/interop/provision.sh` did it), or when
//! provisioning can install them on first use (root or passwordless sudo, with apt-get). With
//! `CI` set they always run. `SIEM_RELAY_INTEROP=skip` ignores them deliberately (for a root
//! user who does not want the tests to install packages).
//!
//! Likewise `systemd_analyze_unavailable`, `ipv6_loopback_unavailable` and
//! `systemd_layout_present` mark the one test each that needs `systemd-analyze`, an IPv6
//! loopback, or a host without `/run/siem-relay`, and `browser_unavailable` the console's
//! browser tests, which need `/usr/bin/chromium` and `/usr/bin/chromedriver` (always run with
//! `CI` set).
//! `kafka_unavailable` marks the Kafka sink's tests (tests/kafka.rs), which need the tansu broker
//! and Debian's kafka-python with its codecs (always run with `CI` set).
//!
//! The decision is re-made when `provision.sh` finishes (it rewrites
//! `target/interop/.provisioned`) or when `CI`, `SIEM_RELAY_INTEROP`, `USER` or `SUDO_USER`
//! change.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

fn main() {
    commit();
    println!("cargo::rustc-check-cfg=cfg(interop_unavailable)");
    println!("cargo::rerun-if-changed=build.rs");
    for variable in ["CI", "SIEM_RELAY_INTEROP", "USER", "SUDO_USER"] {
        println!("cargo::rerun-if-env-changed={variable}");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let interop = root.join("target/interop");
    // Watched for provision.sh's changes; created empty if missing, because cargo would treat
    // a missing file as always changed and rebuild the crate on every build.
    let stamp = interop.join(".provisioned");
    if std::fs::create_dir_all(&interop).is_ok() {
        let _ = std::fs::OpenOptions::new().create(true).append(true).open(&stamp);
        println!("cargo::rerun-if-changed={}", stamp.display());
    }
    if let Some(reason) = why_interop_cannot_run(host(&interop)) {
        println!("cargo::rustc-cfg=interop_unavailable");
        println!("cargo::warning=interop tests are ignored (nextest shows them as skipped): {reason}");
    }
    // Two single tests that need something of the host, by the same mechanism.
    println!("cargo::rustc-check-cfg=cfg(systemd_analyze_unavailable)");
    // The directory, not the file: a missing file would count as changed on every build.
    println!("cargo::rerun-if-changed=/usr/bin");
    if !Path::new("/usr/bin/systemd-analyze").exists() {
        println!("cargo::rustc-cfg=systemd_analyze_unavailable");
        println!("cargo::warning=the systemd-analyze test is ignored: /usr/bin/systemd-analyze is not installed (package systemd)");
    }
    // The default-path test plays a user session; on a host with the systemd layout
    // (/run/siem-relay, an installed service) the rule rightly picks that instead. Not watched:
    // /run changes all the time, and a stale decision only turns the skip into the test's own
    // clear failure.
    println!("cargo::rustc-check-cfg=cfg(systemd_layout_present)");
    if Path::new("/run/siem-relay").exists() {
        println!("cargo::rustc-cfg=systemd_layout_present");
        println!("cargo::warning=the default-path test is ignored: /run/siem-relay exists (an installed service), which the rule prefers");
    }
    // The operator console's browser tests (tests/console_browser.rs) drive Debian's chromium
    // through chromedriver. With `CI` set they always run (.ci/run installs both), and a test
    // that runs without them fails.
    println!("cargo::rustc-check-cfg=cfg(browser_unavailable)");
    let missing: Vec<&str> =
        ["/usr/bin/chromium", "/usr/bin/chromedriver"].into_iter().filter(|path| !Path::new(path).exists()).collect();
    if !missing.is_empty() && flag("CI").is_none() {
        println!("cargo::rustc-cfg=browser_unavailable");
        println!(
            "cargo::warning=the console browser tests are ignored: {} not installed (apt-get install -y --no-install-recommends chromium chromium-driver)",
            missing.join(" and ")
        );
    }
    kafka();
    println!("cargo::rustc-check-cfg=cfg(ipv6_loopback_unavailable)");
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        println!("cargo::rustc-cfg=ipv6_loopback_unavailable");
        println!("cargo::warning=the IPv6 test is ignored: this host has no IPv6 loopback ([::1] cannot be bound)");
    }
}

/// `SIEM_RELAY_COMMIT` for `--version`: the commit being built, or `unknown` outside a git
/// checkout (a source tarball). Rebuilt when HEAD moves (a commit or a checkout).
fn commit() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root)
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|out| out.status.success())
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map(|text| text.trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo::rustc-env=SIEM_RELAY_COMMIT={commit}");
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        // Only files that exist: cargo treats a missing one as changed on every build.
        for file in ["HEAD", "logs/HEAD"] {
            let path = Path::new(&dir).join(file);
            if path.exists() {
                println!("cargo::rerun-if-changed={}", path.display());
            }
        }
    }
}

/// The Kafka sink's tests (tests/kafka.rs) run a real broker, tansu 0.6.0 from crates.io (found
/// as the tests find it: `SIEM_RELAY_TANSU`, `PATH`, `~/.cargo/bin/tansu`), and read what it got
/// with Debian's kafka-python and the python3 codec modules. With `CI` set they always run
/// (.ci/run installs both), and a test that runs without them fails.
fn kafka() {
    println!("cargo::rustc-check-cfg=cfg(kafka_unavailable)");
    println!("cargo::rerun-if-env-changed=SIEM_RELAY_TANSU");
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    // Directories, not files: a missing file would count as changed on every build. `PATH`
    // itself is not watched (it differs between shells and would rebuild the crate); a stale
    // decision only turns a skip into the test's own clear failure, or the reverse.
    for dir in [home.as_ref().map(|h| h.join(".cargo/bin")), Some("/usr/lib/python3/dist-packages".into())]
        .into_iter()
        .flatten()
    {
        if dir.is_dir() {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
    }
    let tansu = std::env::var_os("SIEM_RELAY_TANSU")
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths).map(|dir| dir.join("tansu")).find(|candidate| candidate.is_file())
            })
        })
        .or_else(|| home.map(|h| h.join(".cargo/bin/tansu")).filter(|p| p.is_file()));
    let mut missing = Vec::new();
    if tansu.is_none() {
        missing.push("tansu (cargo install tansu --version 0.6.0 --locked --features libsql,dynostore)");
    }
    let python = Command::new("/usr/bin/python3")
        .args(["-c", "import kafka, lz4.frame, snappy, zstandard"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !python {
        missing.push("kafka-python with its codecs (apt-get install -y python3-kafka python3-lz4 python3-snappy python3-zstandard)");
    }
    if !missing.is_empty() && flag("CI").is_none() {
        println!("cargo::rustc-cfg=kafka_unavailable");
        println!("cargo::warning=the Kafka tests are ignored: missing {}", missing.join(" and "));
    }
}

fn flag(variable: &str) -> Option<String> {
    std::env::var(variable).ok().filter(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

include!("build/interop.rs");

/// Gathers the facts `why_interop_cannot_run` decides on; sudo is asked only when it matters.
fn host(interop: &Path) -> Host {
    let installed = Path::new("/usr/sbin/rsyslogd").exists()
        && interop.join("syslog-ng/.complete").exists()
        && interop.join("cef-venv/.complete").exists()
        && Path::new("/usr/bin/lognormalizer").exists();
    let apt = Path::new("/usr/bin/apt-get").exists();
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let sudo = || {
        Command::new("sudo")
            .args(["-n", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    Host {
        ci: flag("CI").is_some(),
        skip_requested: flag("SIEM_RELAY_INTEROP").as_deref() == Some("skip"),
        installed,
        apt,
        privileged: root || (!installed && apt && sudo()),
    }
}
