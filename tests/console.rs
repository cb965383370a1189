//! The operator console's listener (`control.console_listen`): the page and its files with a
//! strict Content-Security-Policy, the `/v1` API behind bearer tokens with the same roles as
//! the TLS listener, and the configuration rules (loopback only without TLS). The page itself
//! is driven in a real browser by `console_browser.rs`.

use std::time::Duration;

use sha2::Digest as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::daemon::{numbered_events, TestDaemon};
use crate::support::eventually;
use crate::support::listeners::StreamReceiver;

fn hash(token: &str) -> String {
    sha2::Sha256::digest(token).iter().map(|b| format!("{b:02x}")).collect()
}

/// The `[control]` table of a console on `port` with an admin and a viewer token.
pub fn console_control(port: u16) -> String {
    format!(
        "[control]\nconsole_listen = \"127.0.0.1:{port}\"\nsinks_dir = \"{{dir}}/sinks.d\"\ntokens = [{{ sha256 = \"{}\", role = \"admin\", name = \"ops\" }}, {{ sha256 = \"{}\", role = \"viewer\", name = \"soc\" }}]\n",
        hash("admin-token"),
        hash("viewer-token"),
    )
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// One plain HTTP/1.1 request; returns the status line's code, the headers (lower-case names)
/// and the body.
async fn request(port: u16, method: &str, path: &str, token: Option<&str>) -> (u16, Vec<(String, String)>, String) {
    request_with(port, method, path, token, "").await
}

pub async fn request_with(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let authorization = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{authorization}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_with_a_strict_policy_and_the_api_needs_a_token() {
    let receiver = StreamReceiver::tcp().await;
    let port = free_port();
    let daemon = TestDaemon::start(&format!(
        "{}[egress]\nallow = [\"127.0.0.0/8\"]\n[sinks.siem]\nformat = \"rfc5424\"\nurl = \"{}\"\n",
        console_control(port),
        receiver.url("tcp")
    ))
    .await;
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/app.css", "text/css; charset=utf-8"),
    ] {
        let (status, headers, body) = request(port, "GET", path, None).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(header(&headers, "content-type"), Some(content_type), "{path}");
        assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"), "{path}");
        let policy = header(&headers, "content-security-policy").expect("a policy");
        assert!(policy.contains("default-src 'none'") && policy.contains("script-src 'self'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert!(header(&headers, "set-cookie").is_none(), "{path} sets a cookie");
        assert!(!body.is_empty());
    }
    assert_eq!(request(port, "GET", "/nothing-here", None).await.0, 404);
    // The API: 401 without a known token, the roles of control.tokens.
    assert_eq!(request(port, "GET", "/v1/health", None).await.0, 401);
    assert_eq!(request(port, "GET", "/v1/health", Some("guess")).await.0, 401);
    let (status, headers, body) = request(port, "GET", "/v1/sinks", Some("viewer-token")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    let sinks: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(sinks[0]["name"], "siem");
    assert!(sinks[0]["rates"]["in_per_second"].is_number(), "{sinks}");
    assert_eq!(request(port, "POST", "/v1/reload", Some("viewer-token")).await.0, 403);
    assert_eq!(request(port, "POST", "/v1/reload", Some("admin-token")).await.0, 200);

    // Rates and the activity series fill in as events flow (sampled every 2 s).
    daemon.send(&numbered_events("finding_added", 20)).await;
    let delivered_in_series = || async {
        let (_, _, body) = request(port, "GET", "/v1/sinks/siem/series", Some("viewer-token")).await;
        let series: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        series["points"]
            .as_array()
            .map_or(0, |points| points.iter().map(|p| p["delivered"].as_u64().unwrap_or(0)).sum::<u64>())
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while delivered_in_series().await < 20 {
        assert!(tokio::time::Instant::now() < deadline, "the series never showed the 20 events");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(eventually(Duration::from_secs(5), || receiver.octet_frames().len() == 20).await);

    // What the page needs to know: the caller's role, and a run-time sink's keys without its
    // secrets; a refused change names the field.
    let role = |token: &'static str| async move {
        let (_, _, body) = request(port, "GET", "/v1/whoami", Some(token)).await;
        serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["role"].clone()
    };
    assert_eq!(role("viewer-token").await, "viewer");
    assert_eq!(role("admin-token").await, "admin");
    let hook = serde_json::json!({
        "name": "hook", "format": "json", "url": "http://127.0.0.1:9/very/secret/path",
        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "events": ["finding_*"], "retry_count": 0,
    });
    let (status, _, body) = request_with(port, "POST", "/v1/sinks", Some("admin-token"), &hook.to_string()).await;
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = request(port, "GET", "/v1/sinks/hook/keys", Some("viewer-token")).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("MfKQ9r8") && !body.contains("very/secret"), "{body}");
    let keys: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(keys["keys"]["secret"], "<set>");
    assert_eq!(keys["keys"]["retry_count"], 0);
    let (status, _, body) =
        request_with(port, "PATCH", "/v1/sinks/hook", Some("admin-token"), r#"{"retry_count": 11}"#).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["field"], "retry_count", "{body}");

    // No answer the page reads ever carries the secret or the webhook's path.
    for path in ["/v1/sinks", "/v1/sinks/hook", "/v1/sinks/hook/keys", "/v1/sinks/hook/history", "/v1/health"] {
        let (_, _, body) = request(port, "GET", path, Some("admin-token")).await;
        assert!(!body.contains("MfKQ9r8") && !body.contains("very/secret"), "{path}: {body}");
    }

    // Bad input: each refused with a clear error, nothing changed.
    let sinks_dir = daemon.dir.path().join("sinks.d");
    let files = || {
        let mut names: Vec<String> = std::fs::read_dir(&sinks_dir)
            .expect("sinks.d")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = files();
    let huge = format!(
        "{{\"name\": \"big\", \"format\": \"json\", \"url\": \"http://127.0.0.1:9/\", \"pad\": \"{}\"}}",
        "x".repeat(2 << 20)
    );
    for (body, status, says) in [
        (huge.as_str(), 413, "too large"),
        ("{\"name\": \"x\", \"format\": ", 400, "expected a JSON object"),
        (
            r#"{"name": "x", "format": "json", "url": "http://127.0.0.1:9/", "colour": 1}"#,
            422,
            "unknown field `colour`",
        ),
        (r#"{"name": "../x", "format": "json", "url": "http://127.0.0.1:9/"}"#, 400, "letters, digits"),
    ] {
        let (code, _, answer) = request_with(port, "POST", "/v1/sinks", Some("admin-token"), body).await;
        assert_eq!(code, status, "{answer}");
        let error = serde_json::from_str::<serde_json::Value>(&answer).expect("JSON error")["error"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert!(error.contains(says), "{error}");
    }
    assert_eq!(files(), before, "a refused change left a file behind");
    let (_, _, body) = request(port, "GET", "/v1/sinks", Some("admin-token")).await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).expect("JSON").as_array().map(Vec::len), Some(2));
    daemon.stop().await;
}

#[test]
fn a_console_off_loopback_needs_tls_and_every_listener_needs_tokens() {
    let parse = |control: &str| {
        siem_relay::config::Config::parse(
            &format!("{control}\n[sinks.c]\nformat = \"rfc5424\"\nurl = \"console\"\n"),
            "t.toml",
        )
    };
    let tokens = format!("tokens = [{{ sha256 = \"{}\", role = \"viewer\" }}]", hash("t"));
    assert!(parse(&format!("[control]\nconsole_listen = \"127.0.0.1:9465\"\n{tokens}")).is_ok());
    assert!(parse(&format!("[control]\nconsole_listen = \"[::1]:9465\"\n{tokens}")).is_ok());
    let error =
        parse(&format!("[control]\nconsole_listen = \"0.0.0.0:9465\"\n{tokens}")).expect_err("plain HTTP off loopback");
    assert_eq!(error.key, "control.console_listen");
    assert!(error.message.contains("needs control.tls"), "{}", error.message);
    let error = parse("[control]\nconsole_listen = \"127.0.0.1:9465\"").expect_err("no tokens");
    assert_eq!(error.key, "control.tokens");
    let error = parse("[control]\nconsole_listen = \"localhost:9465\"").expect_err("not an address");
    assert!(error.message.contains("expected an address such as 127.0.0.1:9465"), "{}", error.message);
}
