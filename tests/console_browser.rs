//! The operator console in a real browser: Debian's headless chromium driven through
//! chromedriver (W3C WebDriver, `support/browser.rs`) against a real daemon with real
//! receivers. Each test signs in with a token of `console_control` and uses the page as an
//! operator would: the sinks and their live counters, a run-time webhook created, tested,
//! disabled, edited and deleted through the form, a viewer without controls, a wrong token.
//!
//! The tests need `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's `chromium` and
//! `chromium-driver`); without them, and without `CI`, the build script marks them ignored
//! (cfg `browser_unavailable`, with a warning). One that runs without them fails.
//!
//! Screenshots are kept in `target/debug/console-screenshots/`; with `SIEM_RELAY_SCREENSHOT`
//! set, the sinks view is also written to `docs/console.png` (the README's picture).

use std::path::Path;

use serde_json::{json, Value};

use crate::console::{console_control, free_port};
use crate::support::browser::Browser;
use crate::support::daemon::{numbered_events, TestDaemon};
use crate::support::http_receiver::{HttpReceiver, Reply};
use crate::support::listeners::StreamReceiver;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The catalogue every test's daemon has.
const EVENT_TYPES: &str = "[event_types]\nfinding_added = \"A scanner found a new vulnerability\"\nfinding_updated = \"A known finding changed\"\ncritical_finding = \"A finding that needs immediate attention\"\n";

/// A console on `port`, loopback egress allowed, the event catalogue, a syslog sink `siem`, and
/// `sinks` (more `[sinks.NAME]` tables).
fn config(port: u16, siem: &StreamReceiver, sinks: &str) -> String {
    format!(
        "{}[egress]\nallow = [\"127.0.0.0/8\"]\n{EVENT_TYPES}[sinks.siem]\nformat = \"rfc5424\"\nurl = \"{}\"\n{sinks}",
        console_control(port),
        siem.url("tcp")
    )
}

/// JavaScript returning the trimmed text of the element `css` selects, or null.
fn text_of(css: &str) -> String {
    format!("const e = document.querySelector({}); return e ? e.textContent.trim() : null;", json!(css))
}

/// JavaScript returning true once the element `css` selects has exactly `text`.
fn text_is(css: &str, text: &str) -> String {
    format!("const e = document.querySelector({}); return !!e && e.textContent.trim() === {};", json!(css), json!(text))
}

/// JavaScript returning the text of `css` once it contains `part`.
fn text_contains(css: &str, part: &str) -> String {
    format!(
        "const e = document.querySelector({}); return e && e.textContent.includes({}) ? e.textContent.trim() : null;",
        json!(css),
        json!(part)
    )
}

async fn open(port: u16) -> Browser {
    let browser = Browser::start().await;
    browser.goto(&format!("http://127.0.0.1:{port}/")).await;
    browser.wait_for("the sign-in form", "return !document.getElementById('signin').hidden;").await;
    browser
}

async fn sign_in(browser: &Browser, token: &str, role: &str) {
    browser.fill("#token", token).await;
    browser.click("#signin-button").await;
    let signed_in = format!(
        "return !document.getElementById('session').hidden && document.getElementById('role').textContent === {};",
        json!(role)
    );
    browser.wait_for(&format!("signed in as {role}"), &signed_in).await;
}

/// Polls until the element `css` selects shows `text`.
async fn wait_text(browser: &Browser, css: &str, text: &str) {
    browser.wait_for(&format!("{css} to read {text:?}"), &text_is(css, text)).await;
}

/// Every visible button and link styled as a button, by id (or text).
async fn visible_controls(browser: &Browser) -> Vec<String> {
    let value = browser
        .execute(
            "return [...document.querySelectorAll('button, a.button, input[type=submit]')]
                .filter((e) => e.offsetParent !== null)
                .map((e) => e.id || e.textContent.trim());",
            vec![],
        )
        .await;
    value.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

/// What the page must never have done: request another host, break its CSP, throw.
async fn assert_only_own_origin_and_no_errors(browser: &Browser, port: u16) {
    let origin = format!("http://127.0.0.1:{port}/");
    let urls = browser.requested_urls().await;
    assert!(urls.iter().any(|u| u.starts_with(&origin)), "no request to the console seen: {urls:?}");
    let foreign: Vec<&String> = urls
        .iter()
        .filter(|u| !u.starts_with(&origin) && !u.starts_with("data:") && !u.starts_with("chrome"))
        .collect();
    assert!(foreign.is_empty(), "the page requested another host: {foreign:?}");
    // Console messages: only the API's refusals may be errors (chromium logs every 4xx answer
    // to a fetch): 400 for a bad sink name, 401 for a wrong token, 403 for a viewer's forged
    // change, 404 for a refresh that was under way while its sink was deleted, 409 for the keys
    // of a sink of the configuration file, 422 for a refused form.
    let logs = browser.log("browser").await;
    let bad: Vec<&Value> = logs
        .iter()
        .filter(|entry| entry["level"] == "SEVERE" || entry["level"] == "WARNING")
        .filter(|entry| {
            let message = entry["message"].as_str().unwrap_or_default();
            let refusal = ["400", "401", "403", "404", "409", "422"]
                .iter()
                .any(|code| message.contains(&format!("status of {code}")));
            !(entry["source"] == "network" && message.contains("/v1/") && refusal)
        })
        .collect();
    assert!(bad.is_empty(), "console errors (CSP violations, exceptions): {bad:#?}");
    // And nothing in the document points elsewhere.
    let external = browser
        .execute(
            "return [...document.querySelectorAll('[src], [href], [action]')]
                .map((e) => e.src || e.href || e.action)
                .filter((u) => typeof u === 'string' && !u.startsWith(location.origin + '/') && !u.startsWith('data:'));",
            vec![],
        )
        .await;
    assert_eq!(external, json!([]), "elements naming another host");
}

#[cfg_attr(browser_unavailable, ignore = "needs chromium and chromium-driver: see the build warning")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_sees_the_sinks_and_their_counters_and_rates_update_live() {
    let siem = StreamReceiver::tcp().await;
    let hooks = HttpReceiver::start(vec![]).await;
    let pager = HttpReceiver::start(vec![]).await;
    pager.set_fallback(Reply::Status(503));
    let port = free_port();
    let daemon = TestDaemon::start(&config(
        port,
        &siem,
        &format!(
            "[sinks.soc-webhook]\nformat = \"json\"\nurl = \"{}\"\nevents = [\"finding_*\"]\n\
             [sinks.pager]\nformat = \"json\"\nurl = \"{}\"\nevents = [\"critical_*\"]\nretry_count = 0\nfailure_threshold = 3\n",
            hooks.url("/hooks/secret-path-T0B0X"),
            pager.url("/pager")
        ),
    ))
    .await;
    let browser = open(port).await;
    sign_in(&browser, "admin-token", "admin").await;
    for name in ["siem", "soc-webhook", "pager"] {
        browser.find(&format!("#sink-row-{name}")).await;
    }
    wait_text(&browser, "#sink-row-siem [data-col=format]", "rfc5424").await;
    let url = browser.execute(&text_of("#sink-row-siem [data-col=url]"), vec![]).await;
    assert_eq!(url, json!(siem.url("tcp")));
    // A webhook's path may be its credential: only scheme and host are shown.
    wait_text(&browser, "#sink-row-soc-webhook [data-col=url]", &format!("http://{}/…", hooks.addr)).await;
    wait_text(&browser, "#sink-row-soc-webhook [data-col=breaker]", "closed").await;
    wait_text(&browser, "#sink-row-siem [data-col=breaker]", "–").await;
    wait_text(&browser, "#sink-row-siem [data-col=delivered]", "0").await;

    // Events flow: the counters, the rates and the charts follow (refreshed every 3 s).
    daemon.send(&numbered_events("finding_added", 20)).await;
    daemon.send(&numbered_events("critical_finding", 5)).await;
    wait_text(&browser, "#sink-row-siem [data-col=delivered]", "25").await;
    wait_text(&browser, "#sink-row-soc-webhook [data-col=delivered]", "20").await;
    browser
        .wait_for(
            "an incoming rate above zero",
            "const t = (document.querySelector('#sink-row-siem [data-col=in]') || {}).textContent; return t && parseFloat(t) > 0 ? t : null;",
        )
        .await;
    browser
        .wait_for(
            "the chart to show the 25 deliveries",
            "const c = document.querySelector('[data-testid=\"chart-siem\"]'); return !!c && Number(c.dataset.delivered) >= 25;",
        )
        .await;
    // The failing webhook: its breaker opens, its error shows, its chart shows failures.
    wait_text(&browser, "#sink-row-pager [data-col=breaker]", "open").await;
    browser.wait_for("the pager's last error", &text_contains("#sink-row-pager [data-col=last_error]", "503")).await;
    browser
        .wait_for(
            "the pager's chart to show failures",
            "const c = document.querySelector('[data-testid=\"chart-pager\"]'); return !!c && Number(c.dataset.failed) > 0;",
        )
        .await;
    assert!(!browser.html().await.contains("secret-path"), "the webhook's path is on the page");

    browser.save_screenshot("sinks").await;

    // The event types: the catalogue with the counts seen.
    browser.click("#nav-event-types").await;
    wait_text(&browser, "#event-types-body tr[data-type=finding_added] [data-col=seen]", "20").await;
    wait_text(&browser, "#event-types-body tr[data-type=critical_finding] [data-col=seen]", "5").await;
    let description = browser.text("#event-types-body tr[data-type=finding_added] td").await;
    assert_eq!(description, "A scanner found a new vulnerability");
    browser.save_screenshot("event-types").await;
    assert_only_own_origin_and_no_errors(&browser, port).await;

    // A narrow (phone) window: the same page, the table scrolls sideways within its frame.
    browser.click("#nav-sinks").await;
    wait_text(&browser, "#sink-row-siem [data-col=delivered]", "25").await;
    browser.command("POST", "/window/rect", Some(json!({ "width": 400, "height": 860 }))).await;
    let overflow = browser
        .execute("return document.documentElement.scrollWidth - document.documentElement.clientWidth;", vec![])
        .await;
    assert_eq!(overflow, json!(0), "the page is wider than a narrow window");
    browser.save_screenshot("sinks-narrow").await;

    if std::env::var_os("SIEM_RELAY_SCREENSHOT").is_some() {
        // The README's picture, with about a minute of traffic in the charts.
        browser.command("POST", "/window/rect", Some(json!({ "width": 1360, "height": 820 }))).await;
        for batch in 0..12 {
            daemon.send(&numbered_events("finding_added", 5 + batch * 3)).await;
            daemon.send(&numbered_events("critical_finding", batch % 3)).await;
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
        browser.wait_for("a refresh", &text_contains("#sink-row-siem [data-col=delivered]", "295")).await;
        let shot = browser.save_screenshot("sinks-docs").await;
        std::fs::copy(&shot, Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console.png")).expect("docs/console.png");
    }

    // Signing out forgets the token.
    browser.click("#sign-out").await;
    browser.wait_for("the sign-in form", "return !document.getElementById('signin').hidden;").await;
    assert_eq!(browser.execute("return sessionStorage.length;", vec![]).await, json!(0));
    assert_eq!(browser.execute("return document.getElementById('view').children.length;", vec![]).await, json!(0));
    browser.quit().await;
    daemon.stop().await;
}

#[cfg_attr(browser_unavailable, ignore = "needs chromium and chromium-driver: see the build warning")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_creates_tests_disables_edits_and_deletes_a_webhook_through_the_form() {
    let siem = StreamReceiver::tcp().await;
    let receiver = HttpReceiver::start(vec![]).await;
    let port = free_port();
    let daemon = TestDaemon::start(&config(port, &siem, "")).await;
    let browser = open(port).await;
    sign_in(&browser, "admin-token", "admin").await;
    browser.click("#create-sink").await;
    // The form is built once the catalogue has loaded.
    browser.find("#f-event-finding_added").await;
    browser.fill("#f-name", "soc-hook").await;
    browser.fill("#f-url", &receiver.url("/hooks/very-secret-path")).await;
    browser.select("#f-format", "json").await;
    browser.click("#f-event-finding_added").await;
    browser.click("#f-event-critical_finding").await;
    browser.select("#f-min-severity", "high").await;
    browser.fill("#f-secret", SECRET).await;
    assert_eq!(browser.text("#f-secret-state").await, "not set");

    // Refused values: the API's error beside its field, nothing created. A name that is a path:
    browser.fill("#f-name", "../etc").await;
    browser.click("#save-sink").await;
    let error = browser.wait_for("the name error", &text_of("#error-name")).await;
    assert!(error.as_str().is_some_and(|e| e.contains("letters, digits")), "{error}");
    assert!(
        !daemon.dir.path().join("etc.toml").exists() && !daemon.dir.path().join("sinks.d").join("etc.toml").exists()
    );
    browser.fill("#f-name", "soc-hook").await;
    // A number out of range:
    browser.fill("#f-retry-count", "11").await;
    browser.fill("#f-timeout-ms", "5000").await;
    browser.click("#save-sink").await;
    let error = browser.wait_for("the retry_count error", &text_of("#error-retry_count")).await;
    assert_eq!(error, "retry_count: expected 0 to 10, found 11", "the API's error without the drop-in's path");
    assert_eq!(browser.execute(&text_of("#error-timeout_ms"), vec![]).await, json!(""));
    assert_eq!(browser.execute(&text_of("#error-name"), vec![]).await, json!(""), "the name's error stays");
    assert_eq!(browser.execute(&text_of("#form-error"), vec![]).await, json!(""));
    assert_eq!(
        browser.execute("return document.getElementById('f-retry-count').getAttribute('aria-invalid');", vec![]).await,
        json!("true")
    );
    assert_eq!(daemon.control("GET", "/v1/sinks/soc-hook").await.0, 404);
    // Another: the timeout's error, and the first one gone.
    browser.fill("#f-retry-count", "1").await;
    browser.fill("#f-timeout-ms", "500").await;
    browser.click("#save-sink").await;
    let error = browser.wait_for("the timeout_ms error", &text_of("#error-timeout_ms")).await;
    assert_eq!(error, "timeout_ms: expected 1000 to 30000, found 500");
    assert_eq!(browser.execute(&text_of("#error-retry_count"), vec![]).await, json!(""));
    assert_eq!(daemon.control("GET", "/v1/sinks/soc-hook").await.0, 404);
    browser.save_screenshot("form-error").await;

    // Fixed: created, and the page moves to the new sink.
    browser.fill("#f-timeout-ms", "4000").await;
    browser.click("#save-sink").await;
    browser
        .wait_for("the new sink's page", "return !!document.querySelector('#sink-view[data-sink=\"soc-hook\"]');")
        .await;
    browser.wait_for("the created message", &text_contains("#action-result", "Created")).await;
    let (status, keys) = daemon.control("GET", "/v1/sinks/soc-hook/keys").await;
    assert_eq!(status, 200, "{keys}");
    assert_eq!(keys["keys"]["events"], json!(["critical_finding", "finding_added"]), "in the catalogue's order");
    assert_eq!(keys["keys"]["min_severity"], "high");
    assert_eq!(keys["keys"]["retry_count"], 1);
    assert_eq!(keys["keys"]["timeout_ms"], 4000);
    assert_eq!(keys["keys"]["secret"], "<set>");
    // The secret is write-only: shown as "set", never as itself.
    wait_text(&browser, "[data-testid=key-secret] dd", "set (hidden)").await;
    let html = browser.html().await;
    assert!(
        !html.contains(SECRET) && !html.contains("MfKQ9r8") && !html.contains("very-secret-path"),
        "a secret on the page"
    );

    // Test delivery: the result, then the attempt in the history with its status code.
    browser.click("#test-delivery").await;
    browser.wait_for("the test result", &text_contains("#action-result", "HTTP 200")).await;
    wait_text(&browser, "#history-body tr[data-test=true] [data-col=status]", "200").await;
    wait_text(&browser, "#history-body tr[data-test=true] [data-col=success]", "delivered").await;
    let request = receiver.requests().into_iter().next().expect("the test delivery reached the receiver");
    assert_eq!(request.path, "/hooks/very-secret-path");
    assert!(request.header("webhook-signature").is_some_and(|s| s.starts_with("v1,")), "{request:?}");
    browser.save_screenshot("sink-page").await;

    // Disable, then enable.
    browser.click("#disable-sink").await;
    wait_text(&browser, "#sink-state", "deactivated").await;
    assert_eq!(daemon.control("GET", "/v1/sinks/soc-hook").await.1["state"], "deactivated");
    browser.click("#enable-sink").await;
    wait_text(&browser, "#sink-state", "active").await;
    assert_eq!(daemon.control("GET", "/v1/sinks/soc-hook").await.1["state"], "active");

    // Edit: the form shows the secret as "set" with an empty field, which keeps it.
    browser.click("#edit-sink").await;
    browser.find("#f-retry-count").await;
    assert_eq!(browser.text("#f-secret-state").await, "set");
    assert_eq!(browser.execute("return document.getElementById('f-secret').value;", vec![]).await, json!(""));
    assert_eq!(
        browser.execute("return document.getElementById('f-event-finding_added').checked;", vec![]).await,
        json!(true)
    );
    assert!(!browser.html().await.contains("MfKQ9r8"), "the secret in the edit form");
    browser.fill("#f-retry-count", "11").await;
    browser.click("#save-sink").await;
    browser.wait_for("the retry_count error on edit", &text_of("#error-retry_count")).await;
    browser.fill("#f-retry-count", "4").await;
    browser.click("#save-sink").await;
    browser.wait_for("the saved message", &text_contains("#action-result", "Saved")).await;
    let (_, keys) = daemon.control("GET", "/v1/sinks/soc-hook/keys").await;
    assert_eq!(keys["keys"]["retry_count"], 4);
    assert_eq!(keys["keys"]["secret"], "<set>");
    let dropin = std::fs::read_to_string(daemon.dir.path().join("sinks.d/soc-hook.toml")).expect("drop-in");
    assert!(
        dropin.contains(SECRET) && dropin.contains("/hooks/very-secret-path"),
        "the edit lost a kept key: {dropin}"
    );

    // Delete, after a confirmation.
    browser.click("#delete-sink").await;
    browser.click("#confirm-delete").await;
    browser.wait_for("the sinks view", "return !!document.getElementById('sinks-view');").await;
    browser.wait_for("the deleted message", &text_contains("#sinks-view", "Deleted")).await;
    browser.find("#sink-row-siem").await;
    browser.wait_for("the row to go", "return !document.getElementById('sink-row-soc-hook');").await;
    assert_eq!(daemon.control("GET", "/v1/sinks/soc-hook").await.0, 404);
    assert_only_own_origin_and_no_errors(&browser, port).await;
    browser.quit().await;
    daemon.stop().await;
}

#[cfg_attr(browser_unavailable, ignore = "needs chromium and chromium-driver: see the build warning")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_the_sinks_but_no_control_and_a_forged_change_is_refused() {
    let siem = StreamReceiver::tcp().await;
    let receiver = HttpReceiver::start(vec![]).await;
    let port = free_port();
    let daemon = TestDaemon::start(&config(port, &siem, "")).await;
    let (status, body) = daemon
        .control_with(
            "POST",
            "/v1/sinks",
            json!({ "name": "soc-hook", "format": "json", "url": receiver.url("/hooks/very-secret-path"), "secret": SECRET, "events": ["finding_*"] }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    daemon.send(&numbered_events("finding_added", 3)).await;

    let browser = open(port).await;
    sign_in(&browser, "viewer-token", "viewer").await;
    wait_text(&browser, "#sink-row-soc-hook [data-col=delivered]", "3").await;
    browser.find("#sink-row-siem").await;
    assert_eq!(visible_controls(&browser).await, vec!["sign-out"], "a viewer's sinks view");
    assert_eq!(browser.execute("return document.querySelectorAll('[data-change]').length;", vec![]).await, json!(0));

    // A sink's page: everything to read, nothing to change, no secret.
    browser.click("#sink-row-soc-hook a").await;
    browser.find("#history-body tr[data-testid=history-row]").await;
    wait_text(&browser, "#history-body tr [data-col=status]", "200").await;
    wait_text(&browser, "[data-testid=key-secret] dd", "set (hidden)").await;
    browser.wait_for("the dead letters summary", &text_of("#dead-letters-summary")).await;
    assert_eq!(visible_controls(&browser).await, vec!["sign-out"], "a viewer's sink page");
    assert_eq!(browser.execute("return document.querySelectorAll('[data-change]').length;", vec![]).await, json!(0));
    let html = browser.html().await;
    assert!(!html.contains("MfKQ9r8") && !html.contains("very-secret-path"), "a secret on the viewer's page");
    browser.save_screenshot("viewer-sink-page").await;

    // The form is not offered, even by its address.
    browser.goto(&format!("http://127.0.0.1:{port}/#/new")).await;
    browser.wait_for("the refusal", &text_contains("#view", "needs an admin token")).await;
    assert!(browser.try_find("#sink-form").await.is_none());

    // A change forged with the viewer's token is refused by the daemon.
    let answer = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/v1/sinks/soc-hook/disable', { method: 'POST', headers: { Authorization: 'Bearer ' + sessionStorage.getItem('siem-relay.console.token') } })
               .then((r) => r.text().then((t) => done([r.status, t])), (e) => done([0, String(e)]));",
            vec![],
        )
        .await;
    assert_eq!(answer[0], 403, "{answer}");
    assert!(answer[1].as_str().is_some_and(|t| t.contains("admin role")), "{answer}");
    assert_eq!(daemon.control("GET", "/v1/sinks/soc-hook").await.1["state"], "active");
    assert_only_own_origin_and_no_errors(&browser, port).await;
    browser.quit().await;
    daemon.stop().await;
}

#[cfg_attr(browser_unavailable, ignore = "needs chromium and chromium-driver: see the build warning")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused_and_a_session_lasts_until_sign_out() {
    let siem = StreamReceiver::tcp().await;
    let port = free_port();
    let daemon = TestDaemon::start(&config(port, &siem, "")).await;
    let browser = open(port).await;
    browser.click("#signin-button").await;
    wait_text(&browser, "#signin-error", "Enter an access token.").await;
    browser.fill("#token", "not-a-token").await;
    browser.click("#signin-button").await;
    browser.wait_for("the refusal", &text_contains("#signin-error", "refused")).await;
    assert_eq!(browser.execute("return document.getElementById('view').hidden;", vec![]).await, json!(true));
    assert_eq!(browser.execute("return sessionStorage.length;", vec![]).await, json!(0));
    assert_eq!(browser.execute("return document.cookie;", vec![]).await, json!(""));
    browser.save_screenshot("wrong-token").await;

    // The right one; a reload keeps the session (sessionStorage), no cookie is ever set.
    sign_in(&browser, "admin-token", "admin").await;
    browser.find("#sink-row-siem").await;
    browser.click("#nav-event-types").await;
    browser.find("#event-types-body tr[data-type=finding_added]").await;
    browser.command("POST", "/refresh", None).await;
    browser.find("#event-types-body tr[data-type=finding_added]").await;
    wait_text(&browser, "#role", "admin").await;
    assert_eq!(browser.execute("return document.cookie;", vec![]).await, json!(""));
    let cookies = browser.command("GET", "/cookie", None).await;
    assert_eq!(cookies, json!([]), "the console set a cookie");
    assert_only_own_origin_and_no_errors(&browser, port).await;

    // Signed out: a reload asks for a token again.
    browser.click("#sign-out").await;
    wait_text(&browser, "#signin-note", "Signed out. The token was removed from this tab.").await;
    browser.command("POST", "/refresh", None).await;
    browser.wait_for("the sign-in form", "return !document.getElementById('signin').hidden;").await;
    assert_eq!(browser.execute("return document.getElementById('session').hidden;", vec![]).await, json!(true));
    assert_eq!(browser.execute("return document.getElementById('view').children.length;", vec![]).await, json!(0));
    browser.quit().await;
    daemon.stop().await;
}
