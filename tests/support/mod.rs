//! Test support: an in-process daemon, simple receivers of our own, real receivers (rsyslog,
//! syslog-ng), a strict RFC 5424 parser written from the RFC, and test certificates.

#![allow(dead_code)]

pub mod browser;
pub mod cef_parsers;
pub mod cef_strict;
pub mod certs;
pub mod daemon;
pub mod http_receiver;
pub mod kafka;
pub mod leef_strict;
pub mod listeners;
pub mod provision;
pub mod receivers;
pub mod relp_server;
pub mod rfc3164_strict;
pub mod rfc5424_strict;
pub mod webhook_verifier;

/// Writes a secret (or token) file owner-only, as the daemon requires of secret files.
pub fn write_secret(path: &std::path::Path, content: &str) {
    siem_relay::private_file::write_atomic(path, content.as_bytes()).expect("write secret file");
}

/// Runs a blocking closure (real-receiver control, file polling) off the async runtime.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task panicked")
}

/// Polls `condition` every 10 ms until it holds or `limit` passes; returns whether it held.
/// Used to await effects that have no signal of their own (bytes arriving at a receiver).
pub async fn eventually(limit: std::time::Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
