//! Pull mode: a `url = "store"` sink keeps events for consumers to fetch by cursor and by id.
//! Pulled envelopes are byte-equal to a json webhook's bodies; cursors and commits survive a
//! restart and kill -9; retention by count, bytes and age; long-polls wake on arrival; two
//! consumers commit independently; bad cursors and ids get clear errors; viewers may read.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::daemon::{get, TestDaemon};
use crate::support::eventually;
use crate::support::http_receiver::HttpReceiver;

const WAIT: Duration = Duration::from_secs(30);

/// `n` events with ids `p{from}`.. and values a re-serialisation would change (`1.50`, escapes).
fn events(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| {
            format!(
                "{{\"event\":\"finding_added\",\"id\":\"p{i}\",\"severity\":\"high\",\"title\":\"t\\u00e9 {i}\",\"timestamp\":\"2024-05-01T12:00:00.5Z\",\"data\":{{\"score\":1.50,\"n\":{i}}}}}\n"
            )
        })
        .collect()
}

fn ctl(control: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_siem-relay"))
        .arg("ctl")
        .arg("--control-socket")
        .arg(control)
        .args(args)
        .output()
        .expect("run ctl")
}

fn lines(output: &std::process::Output) -> Vec<String> {
    String::from_utf8(output.stdout.clone()).expect("UTF-8").lines().map(str::to_owned).collect()
}

async fn api(daemon: &TestDaemon, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    match body {
        Some(body) => daemon.control_with(method, path, body).await,
        None => daemon.control(method, path).await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulled_envelopes_are_byte_equal_to_what_the_json_webhook_received() {
    let hook = HttpReceiver::start(vec![]).await;
    let daemon = TestDaemon::start(&format!(
        "data_dir = \"{{dir}}/data\"\n[egress]\nallow = [\"127.0.0.0/8\"]\n[sinks.hook]\nformat = \"json\"\nurl = \"{}\"\n[sinks.pull]\nformat = \"json\"\nurl = \"store\"\n",
        hook.url("/")
    ))
    .await;
    daemon.send(&events(0, 50)).await;
    assert!(eventually(WAIT, || hook.requests().len() == 50).await);
    let stats = daemon.sink_stats("pull");
    assert!(eventually(WAIT, || get(&stats.delivered) == 50).await);
    let pulled = ctl(&daemon.control_socket(), &["pull", "pull"]);
    assert!(pulled.status.success(), "{}", String::from_utf8_lossy(&pulled.stderr));
    // The webhook delivers with several requests in flight, so its order may differ; the store
    // keeps queue order. Byte-equal, event by event.
    let mut webhook: Vec<String> =
        hook.requests().iter().map(|r| String::from_utf8(r.body.clone()).expect("UTF-8")).collect();
    let mut printed = lines(&pulled);
    let id_order: Vec<String> = printed
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON")["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(id_order, (0..50).map(|i| format!("p{i}")).collect::<Vec<_>>(), "queue order");
    webhook.sort();
    printed.sort();
    assert!(printed == webhook, "ctl pull does not print exactly the webhook's bodies:\n{printed:?}\n{webhook:?}");
    assert!(String::from_utf8_lossy(&pulled.stderr).contains("next cursor"));
    // By id, and the API's answer carries the cursor first.
    let (status, body) = daemon.control("GET", "/v1/sinks/pull/events/p7").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "p7");
    assert!(body["cursor"].as_str().is_some_and(|c| c.contains('.')), "{body}");
    assert_eq!(body["data"]["data"]["n"], 7, "the envelope's data is the event");
    let (status, body) = daemon.control("GET", "/v1/sinks/pull/events/nope").await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("never came, or retention removed it")), "{body}");
    // A repeated id is kept once and counted.
    daemon.send(&events(7, 1)).await;
    let (_, status) = api(&daemon, "GET", "/v1/sinks/pull", None).await;
    assert!(eventually(WAIT, || get(&stats.received) == 51).await);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, status) = daemon.control("GET", "/v1/sinks/pull").await;
        if status["store"]["duplicates"] == 1 {
            assert_eq!(status["store"]["events"], 50, "{status}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status["format"], "json");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_commits_and_acknowledged_events_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("events.sock");
    let control = dir.path().join("control.sock");
    let config = dir.path().join("siem-relay.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[input]\nsocket = \"{}\"\n[control]\nsocket = \"{}\"\n[sinks.pull]\nformat = \"json\"\nurl = \"store\"\n",
            dir.path().join("data").display(),
            socket.display(),
            control.display()
        ),
    )
    .expect("config");
    let spawn = || async {
        let child = Command::new(env!("CARGO_BIN_EXE_siem-relay"))
            .args(["run", "--config"])
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start");
        assert!(eventually(WAIT, || std::os::unix::net::UnixStream::connect(&socket).is_ok()).await);
        assert!(eventually(WAIT, || std::os::unix::net::UnixStream::connect(&control).is_ok()).await);
        child
    };
    let mut acknowledged: HashSet<String> = HashSet::new();
    let mut daemon = spawn().await;
    for round in 0..3 {
        let outcome = siem_relay::client::send(&socket, events(round * 100, 100).as_bytes()).await.expect("send");
        assert_eq!(outcome.acked_through, 100);
        acknowledged.extend((round * 100..round * 100 + 100).map(|i| format!("p{i}")));
        if round == 0 {
            // Consumer `a` reads and commits the first page, then the daemon dies.
            let first = ctl(&control, &["pull", "pull", "--consumer", "a"]);
            assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
        }
        daemon.kill().expect("kill -9");
        let _ = daemon.wait();
        daemon = spawn().await;
    }
    // Every acknowledged event is pullable after the kills.
    let all = ctl(&control, &["pull", "pull"]);
    let ids: HashSet<String> = lines(&all)
        .iter()
        .map(|line| serde_json::from_str::<Value>(line).expect("JSON")["id"].as_str().expect("id").to_owned())
        .collect();
    let missing: Vec<&String> = acknowledged.difference(&ids).collect();
    assert!(missing.is_empty(), "lost after kill -9: {missing:?}");
    // Consumer `a` committed before the first kill: it continues after its commit.
    let rest = ctl(&control, &["pull", "pull", "--consumer", "a"]);
    let rest_ids: Vec<String> = lines(&rest)
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON")["id"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(!rest_ids.contains(&"p0".to_owned()) && rest_ids.contains(&"p100".to_owned()), "{rest_ids:?}");
    assert_eq!(rest_ids.len(), ids.len() - 100);
    let _ = daemon.kill();
    let _ = daemon.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_count_bytes_and_age_and_the_errors_of_old_bad_and_foreign_cursors() {
    let daemon = TestDaemon::start(
        "data_dir = \"{dir}/data\"\n[sinks.few]\nformat = \"json\"\nurl = \"store\"\nretention = { max_events = 10 }\n\
         [sinks.small]\nformat = \"json\"\nurl = \"store\"\nretention = { max_bytes = 2000 }\n\
         [sinks.brief]\nformat = \"json\"\nurl = \"store\"\nretention = { max_age_ms = 1 }\n",
    )
    .await;
    let (_, first) = daemon.control("GET", "/v1/sinks/few/events").await;
    let start = first["next"].as_str().expect("next").to_owned();
    daemon.send(&events(0, 30)).await;
    for sink in ["few", "small", "brief"] {
        let stats = daemon.sink_stats(sink);
        assert!(eventually(WAIT, || get(&stats.delivered) == 30).await, "{sink}");
    }
    let store = |status: &Value| status["store"].clone();
    let (_, few) = daemon.control("GET", "/v1/sinks/few").await;
    assert_eq!(
        (store(&few)["events"].clone(), store(&few)["expired"].clone()),
        (Value::from(10), Value::from(20)),
        "{few}"
    );
    let (_, small) = daemon.control("GET", "/v1/sinks/small").await;
    assert!(store(&small)["bytes"].as_u64().is_some_and(|b| b <= 2000), "{small}");
    assert!(store(&small)["expired"].as_u64().is_some_and(|n| n > 0), "{small}");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (status, brief) = daemon.control("GET", "/v1/sinks/brief/events").await;
    assert_eq!(status, 200);
    assert_eq!(brief["events"], Value::Array(vec![]), "age retention: {brief}");

    // The cursor from before the 20 removed events is gone: 410 naming the oldest.
    let (status, body) = daemon.control("GET", &format!("/v1/sinks/few/events?after={start}")).await;
    assert_eq!(status, 410, "{body}");
    let oldest = body["oldest"].as_str().expect("oldest").to_owned();
    assert!(body["error"].as_str().is_some_and(|e| e.contains(&oldest)), "{body}");
    let (status, page) = daemon.control("GET", &format!("/v1/sinks/few/events?after={oldest}&limit=3")).await;
    assert_eq!(status, 200);
    assert_eq!(page["events"][0]["id"], "p20");
    assert_eq!((page["events"].as_array().map(Vec::len), page["more"].clone()), (Some(3), Value::Bool(true)));
    // Malformed, foreign, ahead; bad limits.
    let (status, body) = daemon.control("GET", "/v1/sinks/few/events?after=12").await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("malformed cursor")) && body["oldest"] == oldest.as_str(),
        "{body}"
    );
    let (_, other) = daemon.control("GET", "/v1/sinks/small/events?limit=1").await;
    let foreign = other["next"].as_str().expect("next");
    let (status, body) = daemon.control("GET", &format!("/v1/sinks/few/events?after={foreign}")).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("another store")), "{body}");
    let (status, _) = daemon.control("GET", "/v1/sinks/few/events?limit=1001").await;
    assert_eq!(status, 400);
    let (status, _) = daemon.control("GET", "/v1/sinks/few/events?wait_ms=30001").await;
    assert_eq!(status, 400);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_wakes_when_an_event_arrives_and_consumers_commit_independently() {
    let daemon =
        TestDaemon::start("data_dir = \"{dir}/data\"\n[sinks.pull]\nformat = \"json\"\nurl = \"store\"\n").await;
    let (_, empty) = daemon.control("GET", "/v1/sinks/pull/events").await;
    let start = empty["next"].as_str().expect("next").to_owned();
    let socket = daemon.control_socket();
    let polling = tokio::spawn(async move {
        let path = format!("/v1/sinks/pull/events?after={start}&wait_ms=25000");
        siem_relay::control::client::request(&socket, "GET", &path).await.expect("request")
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!polling.is_finished(), "the long-poll answered before any event came");
    daemon.send(&events(0, 1)).await;
    let (status, body) = tokio::time::timeout(WAIT, polling).await.expect("woke").expect("task");
    assert_eq!(status, 200);
    let page: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(page["events"][0]["id"], "p0", "{page}");

    daemon.send(&events(1, 9)).await;
    let stats = daemon.sink_stats("pull");
    assert!(eventually(WAIT, || get(&stats.delivered) == 10).await);
    let (_, page) = daemon.control("GET", "/v1/sinks/pull/events?limit=4").await;
    let after_four = page["next"].clone();
    let (status, body) =
        api(&daemon, "POST", "/v1/sinks/pull/consumers/a/commit", Some(serde_json::json!({ "cursor": after_four })))
            .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api(&daemon, "GET", "/v1/sinks/pull/consumers/b", None).await;
    assert_eq!(status, 404, "{body}");
    let (_, page) = daemon.control("GET", "/v1/sinks/pull/events?limit=7").await;
    api(&daemon, "POST", "/v1/sinks/pull/consumers/b/commit", Some(serde_json::json!({ "cursor": page["next"] })))
        .await;
    let (_, a) = daemon.control("GET", "/v1/sinks/pull/consumers/a").await;
    let (_, b) = daemon.control("GET", "/v1/sinks/pull/consumers/b").await;
    assert_eq!(a["cursor"], after_four);
    assert_eq!(b["cursor"], page["next"]);
    let from_a = ctl(&daemon.control_socket(), &["pull", "pull", "--consumer", "a"]);
    let from_b = ctl(&daemon.control_socket(), &["pull", "pull", "--consumer", "b"]);
    assert_eq!((lines(&from_a).len(), lines(&from_b).len()), (6, 3));
    // A bad commit: malformed cursor, unknown consumer name characters.
    let (status, _) =
        api(&daemon, "POST", "/v1/sinks/pull/consumers/a/commit", Some(serde_json::json!({ "cursor": "x" }))).await;
    assert_eq!(status, 400);
    let (status, _) = api(
        &daemon,
        "POST",
        "/v1/sinks/pull/consumers/a%20b/commit",
        Some(serde_json::json!({ "cursor": after_four })),
    )
    .await;
    assert_eq!(status, 400);
    daemon.stop().await;
}

/// Over the token listener: a viewer may read and commit, not change the configuration; an
/// unknown token may do nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_may_pull_and_commit_and_strangers_may_not() {
    let port = crate::console::free_port();
    let daemon = TestDaemon::start(&format!(
        "data_dir = \"{{dir}}/data\"\n{}[sinks.pull]\nformat = \"json\"\nurl = \"store\"\n",
        crate::console::console_control(port)
    ))
    .await;
    daemon.send(&events(0, 3)).await;
    let stats = daemon.sink_stats("pull");
    assert!(eventually(WAIT, || get(&stats.delivered) == 3).await);
    let client = |token: Option<&'static str>, method: &'static str, path: String, body: &'static str| async move {
        crate::console::request_with(port, method, &path, token, body).await
    };
    let (status, _, body) = client(Some("viewer-token"), "GET", "/v1/sinks/pull/events".into(), "").await;
    assert_eq!(status, 200, "{body}");
    let next = serde_json::from_str::<Value>(&body).expect("JSON")["next"].as_str().expect("next").to_owned();
    let commit: &'static str = Box::leak(format!("{{\"cursor\": \"{next}\"}}").into_boxed_str());
    let (status, _, body) =
        client(Some("viewer-token"), "POST", "/v1/sinks/pull/consumers/soc/commit".into(), commit).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(client(Some("viewer-token"), "POST", "/v1/reload".into(), "").await.0, 403);
    assert_eq!(client(None, "GET", "/v1/sinks/pull/events".into(), "").await.0, 401);
    assert_eq!(client(Some("guess"), "GET", "/v1/sinks/pull/events/p1".into(), "").await.0, 401);
    daemon.stop().await;
}

/// A reload keeps a store sink's open store (never opens it twice) and applies new retention
/// bounds at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_the_store_and_applies_new_retention() {
    let config = |max: u64| {
        format!("data_dir = \"{{dir}}/data\"\n[sinks.pull]\nformat = \"json\"\nurl = \"store\"\nretention = {{ max_events = {max} }}\n")
    };
    let daemon = TestDaemon::start(&config(100)).await;
    daemon.send(&events(0, 20)).await;
    let stats = daemon.sink_stats("pull");
    assert!(eventually(WAIT, || get(&stats.delivered) == 20).await);
    let (_, before) = daemon.control("GET", "/v1/sinks/pull/events?limit=1").await;
    daemon.reload(&config(5)).await.expect("reload");
    let (_, status) = daemon.control("GET", "/v1/sinks/pull").await;
    assert_eq!(
        (status["store"]["events"].clone(), status["store"]["expired"].clone()),
        (Value::from(5), Value::from(15)),
        "{status}"
    );
    // Same store: cursors from before the reload still belong to it (410, not 400).
    let (code, _) =
        daemon.control("GET", &format!("/v1/sinks/pull/events?after={}", before["next"].as_str().expect("next"))).await;
    assert_eq!(code, 410);
    daemon.send(&events(20, 3)).await;
    assert!(eventually(WAIT, || get(&stats.delivered) == 23).await);
    let (_, page) = daemon.control("GET", "/v1/sinks/pull/events").await;
    let ids: Vec<&str> = page["events"].as_array().expect("events").iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids, ["p18", "p19", "p20", "p21", "p22"]);
    daemon.stop().await;
}
