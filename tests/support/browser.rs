//! A small W3C WebDriver client for the operator console's browser tests: starts Debian's
//! `chromedriver` on a free port, a headless `chromium` through it with a fresh profile, and
//! drives the page over the WebDriver HTTP API (JSON over plain HTTP on loopback, with reqwest).
//!
//! Only what the tests need: navigate, find elements by CSS selector, click, type, read text,
//! run a script, take a screenshot, and read chromium's logs (`goog:loggingPrefs`: the console
//! and the performance log, i.e. every network request). Waiting is by polling a condition
//! with a generous deadline, never by sleeping a fixed time.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a condition may take to hold.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// The key of an element reference in W3C WebDriver answers.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver element reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element(String);

/// A WebDriver error answer (`{"value": {"error": ..., "message": ...}}`).
#[derive(Debug, Clone)]
pub struct WebDriverError {
    pub error: String,
    pub message: String,
}

pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    /// The browser's process, ended here should chromedriver leave it behind.
    browser_pid: Option<i32>,
    http: reqwest::Client,
    profile: tempfile::TempDir,
    ended: bool,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Where screenshots of the browser tests are kept: `target/<profile>/console-screenshots`.
pub fn artefact_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/debug/deps/integration-HASH
    let profile_dir = exe.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_else(std::env::temp_dir);
    profile_dir.join("console-screenshots")
}

impl Browser {
    /// Starts chromedriver and a headless chromium; fails (never skips) when either is missing.
    pub async fn start() -> Browser {
        for path in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: the console browser tests need chromium and chromedriver \
                 (apt-get install -y --no-install-recommends chromium chromium-driver)"
            );
        }
        // Plain HTTP on loopback; reqwest's rustls back end still wants a TLS configuration.
        let tls =
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(Duration::from_secs(60))
            .build()
            .expect("HTTP client");
        let profile = tempfile::tempdir().expect("profile dir");
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", profile.path().join("chromedriver.log").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut browser =
            Browser { driver, port, session: String::new(), browser_pid: None, http, profile, ended: false };
        browser.wait_until_ready().await;
        let user_data = browser.profile.path().join("user-data");
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--no-first-run",
                            "--disable-quic",
                            "--disable-dev-shm-usage",
                            "--window-size=1360,820",
                            format!("--user-data-dir={}", user_data.display()),
                        ],
                    },
                    "goog:loggingPrefs": { "browser": "ALL", "performance": "ALL" },
                    "timeouts": { "script": 30000, "pageLoad": 30000, "implicit": 0 },
                }
            }
        });
        let answer = browser.raw("POST", "/session", Some(capabilities)).await.unwrap_or_else(|e| {
            panic!("chromedriver could not start chromium: {}: {}", e.error, e.message);
        });
        browser.session = answer["sessionId"].as_str().expect("a session id").to_owned();
        browser.browser_pid = answer["capabilities"]["goog:processID"].as_i64().and_then(|pid| i32::try_from(pid).ok());
        // Whatever chromium did on its own at start-up is not the page's doing.
        browser.log("performance").await;
        browser.log("browser").await;
        browser
    }

    async fn wait_until_ready(&mut self) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!("chromedriver exited at start: {status}");
            }
            if let Ok(value) = self.raw("GET", "/status", None).await {
                if value["ready"] == true {
                    return;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "chromedriver did not become ready in {DEADLINE:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One WebDriver request on `path` (from the server root); the answer's `value`.
    async fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, WebDriverError> {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let request = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self
                .http
                .post(&url)
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(&body.unwrap_or_else(|| json!({}))).expect("JSON")),
        };
        let response = request.send().await.map_err(|e| WebDriverError {
            error: "unreachable".to_owned(),
            message: format!("chromedriver did not answer {method} {path}: {e}"),
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let answer: Value = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "value": text }));
        let value = answer.get("value").cloned().unwrap_or(Value::Null);
        if !status.is_success() || value.get("error").is_some_and(|e| e.is_string()) {
            return Err(WebDriverError {
                error: value["error"].as_str().unwrap_or("unknown error").to_owned(),
                message: value["message"].as_str().unwrap_or(&text).lines().next().unwrap_or_default().to_owned(),
            });
        }
        Ok(value)
    }

    /// A command of this session (`path` after `/session/ID`).
    pub async fn try_command(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, WebDriverError> {
        self.raw(method, &format!("/session/{}{path}", self.session), body).await
    }

    pub async fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_command(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {}: {}", e.error, e.message))
    }

    pub async fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns what it returns.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.command("POST", "/execute/sync", Some(json!({ "script": script, "args": args }))).await
    }

    /// Runs an asynchronous script: it calls `arguments[arguments.length - 1]` with its result.
    pub async fn execute_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.command("POST", "/execute/async", Some(json!({ "script": script, "args": args }))).await
    }

    pub async fn try_find(&self, css: &str) -> Option<Element> {
        let found = self.try_command("POST", "/element", Some(json!({ "using": "css selector", "value": css }))).await;
        found.ok().and_then(|value| value[ELEMENT_KEY].as_str().map(|id| Element(id.to_owned())))
    }

    /// The element `css` selects, waiting for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Some(element) = self.try_find(css).await {
                return element;
            }
            if tokio::time::Instant::now() >= deadline {
                self.fail(&format!("no element matches {css:?}")).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the element `css` selects once it is there and enabled (found afresh on each try:
    /// the page re-renders parts of itself every few seconds).
    pub async fn click(&self, css: &str) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let error = match self.try_find(css).await {
                Some(Element(id)) => match self.try_command("POST", &format!("/element/{id}/click"), None).await {
                    Ok(_) => return,
                    Err(error) => format!("{}: {}", error.error, error.message),
                },
                None => "not found".to_owned(),
            };
            if tokio::time::Instant::now() >= deadline {
                self.fail(&format!("cannot click {css:?}: {error}")).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Replaces the value of the input `css` selects with `text`, typed as keys.
    pub async fn fill(&self, css: &str, text: &str) {
        let Element(id) = self.find(css).await;
        self.command("POST", &format!("/element/{id}/clear"), None).await;
        if !text.is_empty() {
            self.command("POST", &format!("/element/{id}/value"), Some(json!({ "text": text }))).await;
        }
    }

    /// Picks the option `value` of the `<select>` that `css` selects.
    pub async fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value=\"{value}\"]")).await;
    }

    /// The rendered text of the element `css` selects (waiting for it).
    pub async fn text(&self, css: &str) -> String {
        let Element(id) = self.find(css).await;
        self.command("GET", &format!("/element/{id}/text"), None).await.as_str().unwrap_or_default().to_owned()
    }

    /// Polls `script` until it returns something truthy, and returns that; fails with
    /// `what`, the page's text and a screenshot after [`DEADLINE`].
    pub async fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let value = self.try_command("POST", "/execute/sync", Some(json!({ "script": script, "args": [] }))).await;
            if let Ok(value) = value {
                let truthy = match &value {
                    Value::Null => false,
                    Value::Bool(b) => *b,
                    Value::String(s) => !s.is_empty(),
                    Value::Number(n) => n.as_f64() != Some(0.0),
                    _ => true,
                };
                if truthy {
                    return value;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                self.fail(&format!("waited {DEADLINE:?} for {what}")).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The whole page as HTML (what a user could find with "view source" after rendering).
    pub async fn html(&self) -> String {
        self.execute("return document.documentElement.outerHTML;", vec![]).await.as_str().unwrap_or_default().to_owned()
    }

    pub async fn screenshot(&self) -> Vec<u8> {
        let value = self.command("GET", "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD.decode(value.as_str().expect("base64 PNG")).expect("base64")
    }

    /// Saves a screenshot as `console-screenshots/NAME.png` under the target directory; returns
    /// its path.
    pub async fn save_screenshot(&self, name: &str) -> PathBuf {
        let png = self.screenshot().await;
        let dir = artefact_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// The log entries of `kind` (`browser`: the console; `performance`: DevTools events) since
    /// the last call.
    pub async fn log(&self, kind: &str) -> Vec<Value> {
        match self.command("POST", "/se/log", Some(json!({ "type": kind }))).await {
            Value::Array(entries) => entries,
            other => panic!("unexpected log answer: {other}"),
        }
    }

    /// Every URL the page requested since the last call (from the performance log).
    pub async fn requested_urls(&self) -> Vec<String> {
        self.log("performance")
            .await
            .iter()
            .filter_map(|entry| serde_json::from_str::<Value>(entry["message"].as_str()?).ok())
            .filter(|message| message["message"]["method"] == "Network.requestWillBeSent")
            .filter_map(|message| message["message"]["params"]["request"]["url"].as_str().map(str::to_owned))
            .collect()
    }

    /// Fails the test with `why`, the page's text and a screenshot saved beside the others.
    async fn fail(&self, why: &str) -> ! {
        let text = self
            .try_command(
                "POST",
                "/execute/sync",
                Some(json!({ "script": "return document.body.innerText;", "args": [] })),
            )
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let name = format!("failure-{}", std::process::id());
        let shot = match self.try_command("GET", "/screenshot", None).await {
            Ok(Value::String(png)) => {
                let dir = artefact_dir();
                let path = dir.join(format!("{name}.png"));
                let written = std::fs::create_dir_all(&dir).is_ok()
                    && base64::engine::general_purpose::STANDARD
                        .decode(png)
                        .is_ok_and(|bytes| std::fs::write(&path, bytes).is_ok());
                if written {
                    format!("screenshot: {}", path.display())
                } else {
                    "no screenshot".to_owned()
                }
            }
            _ => "no screenshot".to_owned(),
        };
        panic!("{why}\n{shot}\npage text:\n{text}");
    }

    /// Closes the browser and chromedriver.
    pub async fn quit(mut self) {
        let _ = self.try_command("DELETE", "", None).await;
        self.ended = true;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.ended && !self.session.is_empty() {
            // A test that failed: end the session without the async runtime (plain HTTP).
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = stream.write_all(request.as_bytes());
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Chromium normally exits with its session; should it not have, end it (it is ours).
        // Only the process whose command line names this browser's own profile directory.
        if let Some(pid) = self.browser_pid {
            let ours = std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                String::from_utf8_lossy(&cmdline).contains(&*self.profile.path().to_string_lossy())
            });
            if ours {
                // SAFETY: kill(2) has no memory effects; the pid is the chromium this session started.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}
