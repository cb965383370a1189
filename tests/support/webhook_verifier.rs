//! An independent check of webhook signatures (not written by us) for the HTTP sink.
//!
//! Include it from an integration test with
//!
//! ```ignore
//! #[path = "support/webhook_verifier.rs"]
//! mod webhook_verifier;
//! ```
//!
//! It runs `tests/interop/verify_webhook.py` with the venv's Python
//! (`target/interop/cef-venv/bin/python`), which checks one request:
//!
//! * `"standard"` — with the PyPI package standardwebhooks 1.1.0, the Standard Webhooks
//!   reference library (`Webhook(secret).verify(body, headers)`), after checking the header
//!   formats itself (integer timestamp, no `.` in the id, `v1,<base64>` entries separated by
//!   single spaces). EVERY secret given must verify the request on its own, as a receiver that
//!   knows only that one secret would: pass the old and the new secret to check a rotation.
//!   The library refuses timestamps more than 5 minutes from now (either way), so sign with
//!   the current time; and it verifies text, so the body must be UTF-8.
//! * `"hex"` — with Python's `hmac`: the header (default `X-Webhook-Signature`, any case) must
//!   be `sha256=` + lowercase hex HMAC-SHA256 of the body, the secret taken as UTF-8 bytes.
//!
//! A header name given twice (any case) is a failure. The venv is made by
//! `tests/interop/provision.sh` (shared with the CEF parsers, see `cef_parsers.rs`).
//!
//! Usage:
//!
//! ```ignore
//! webhook_verifier::ensure_available(); // panics if it cannot be had
//! let (headers, body) = /* what the receiver got */;
//! webhook_verifier::verify("standard", &["whsec_..."], &headers, &body).expect("signature verifies");
//! ```
//!
//! Only `std` and `serde_json` are used.
#![allow(dead_code)]

use std::io::Write as _;
use std::process::Stdio;

use serde_json::{json, Value};

use super::provision::VenvScript;

/// `tests/interop/verify_webhook.py`, with the interop venv's interpreter (`SIEM_RELAY_WEBHOOK_PYTHON` overrides it).
const SCRIPT: VenvScript =
    VenvScript { script: "tests/interop/verify_webhook.py", python_override: "SIEM_RELAY_WEBHOOK_PYTHON" };

/// Why it cannot run now (`None` when it can): the script's own `--check`, which checks
/// standardwebhooks.
pub fn missing() -> Option<String> {
    SCRIPT.missing()
}

/// Whether the verifier can run now (no provisioning is attempted).
pub fn available() -> bool {
    missing().is_none()
}

/// Makes sure the verifier can run: runs `tests/interop/provision.sh` once per process if
/// not; panics if still not (tests that need it carry `cfg_attr(interop_unavailable, ignore)`).
pub fn ensure_available() {
    super::provision::ensure("the Standard Webhooks verifier", missing)
}

// -------------------------------------------------------------------- verifying ---

/// Checks the signature of a request whose headers were `headers` and body `body` (exactly
/// the bytes received) with the independent verifier. `scheme` is `"standard"` or `"hex"`;
/// `secrets` are as configured (`whsec_...` for standard, raw text for hex, where the
/// signature is looked for in `X-Webhook-Signature`). `Ok(())` when every secret verifies;
/// `Err` says why not, or that the verifier could not run (see [`ensure_available`]).
pub fn verify(scheme: &str, secrets: &[&str], headers: &[(String, String)], body: &[u8]) -> Result<(), String> {
    verify_with_header(scheme, secrets, headers, body, None)
}

/// [`verify`] with the hex scheme's header named (`None`: `X-Webhook-Signature`; ignored by
/// the standard scheme).
pub fn verify_with_header(
    scheme: &str,
    secrets: &[&str],
    headers: &[(String, String)],
    body: &[u8],
    hex_header: Option<&str>,
) -> Result<(), String> {
    let mut request = json!({
        "scheme": scheme,
        "secrets": secrets,
        "headers": headers.iter().map(|(k, v)| [k.as_str(), v.as_str()]).collect::<Vec<_>>(),
        "body_b64": base64_encode(body),
    });
    if let Some(header) = hex_header {
        request["header"] = Value::from(header);
    }
    let mut child = SCRIPT
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| SCRIPT.cannot_run(e))?;
    let input = request.to_string();
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Written from a thread, like cef_parsers: never blocked by a full output pipe.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().map_err(|e| format!("waiting for verify_webhook.py: {e}"))?;
    let written = writer.join().map_err(|_| "stdin writer panicked".to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let reply: Option<Value> = serde_json::from_str(stdout.trim()).ok();
    let ok = reply.as_ref().and_then(|r| r.get("ok")).and_then(Value::as_bool);
    let error = reply.as_ref().and_then(|r| r.get("error")).and_then(Value::as_str).unwrap_or("");
    match (out.status.code(), ok) {
        (Some(0), Some(true)) => written.map_err(|e| format!("writing to verify_webhook.py: {e}")),
        (Some(1), Some(false)) => Err(format!("{scheme} signature rejected: {error}")),
        _ => Err(format!(
            "verify_webhook.py could not check the request ({}): {} {}",
            out.status,
            if error.is_empty() { stdout.trim() } else { error },
            stderr.trim()
        )),
    }
}

/// Standard base64 with padding (RFC 4648 section 4).
pub fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
