//! The control API over its real Unix socket: every endpoint, roles, precise errors, `ctl`, and
//! metrics parsed with an independent Prometheus text-format parser.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::daemon::{get, numbered_events, TestDaemon};
use crate::support::eventually;
use crate::support::http_receiver::{HttpReceiver, Reply};
use crate::support::listeners::StreamReceiver;

const WAIT: Duration = Duration::from_secs(30);

async fn daemon(syslog: &StreamReceiver, hook: &HttpReceiver, extra: &str) -> TestDaemon {
    TestDaemon::start(&format!(
        r#"{extra}
        [event_types]
        finding_added = "A scanner found a new vulnerability"
        scan_started = "A scan began"
        [egress]
        allow = ["127.0.0.0/8"]
        [sinks.siem]
        format = "rfc5424"
        url = "{}"
        [sinks.hook]
        format = "json"
        url = "{}"
        retry_count = 0"#,
        syslog.url("tcp"),
        hook.url("/")
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_with_precise_json() {
    let syslog = StreamReceiver::tcp().await;
    let hook = HttpReceiver::start(vec![Reply::Status(400)]).await;
    let daemon = daemon(&syslog, &hook, "").await;
    daemon.send(&numbered_events("finding_added", 3)).await;
    daemon.send(r#"{"event":"unknown_type"}"#).await;
    let stats = daemon.sink_stats("hook");
    assert!(
        eventually(WAIT, || get(&stats.dead_lettered) == 1 && get(&stats.delivered) == 3).await,
        "{}",
        stats.summary()
    );

    let (status, health) = daemon.control("GET", "/v1/health").await;
    assert_eq!((status, health["status"].as_str(), health["sinks"].as_u64()), (200, Some("ok"), Some(2)));

    let (status, sinks) = daemon.control("GET", "/v1/sinks").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = sinks.as_array().expect("list").iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["hook", "siem"]);
    let (status, siem) = daemon.control("GET", "/v1/sinks/siem").await;
    assert_eq!(status, 200);
    assert_eq!(siem["format"], "rfc5424");
    assert_eq!(siem["counters"]["received"], 4);
    assert_eq!(siem["queue"]["max_events"], 10000);
    assert!(siem["breaker"].is_null());
    let (_, hook_status) = daemon.control("GET", "/v1/sinks/hook").await;
    assert_eq!(hook_status["breaker"], "closed");
    assert!(hook_status["last_error"]["error"].as_str().is_some_and(|e| e.contains("HTTP 400")), "{hook_status}");

    let (status, history) = daemon.control("GET", "/v1/sinks/hook/history").await;
    assert_eq!(status, 200);
    let attempts = history["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 4);
    assert_eq!(attempts.iter().filter(|a| a["status"] == 400).count(), 1);

    let (status, letters) = daemon.control("GET", "/v1/sinks/hook/dead-letters").await;
    assert_eq!((status, letters["dead_letters"].as_array().map(Vec::len)), (200, Some(1)));
    let (status, replay) = daemon.control("POST", "/v1/sinks/hook/dead-letters/replay").await;
    assert_eq!((status, replay["replayed"].as_u64()), (200, Some(1)));
    assert!(eventually(WAIT, || get(&stats.delivered) == 4).await);

    let (status, test) = daemon.control("POST", "/v1/sinks/hook/test").await;
    assert_eq!((status, test["attempt"]["test"].as_bool()), (200, Some(true)));

    let (status, disabled) = daemon.control("POST", "/v1/sinks/hook/disable").await;
    assert_eq!((status, disabled["state"].as_str()), (200, Some("deactivated")));
    let (_, health) = daemon.control("GET", "/v1/health").await;
    assert_eq!(health["status"], "degraded");
    let (status, enabled) = daemon.control("POST", "/v1/sinks/hook/enable").await;
    assert_eq!((status, enabled["state"].as_str(), enabled["breaker"].as_str()), (200, Some("active"), Some("closed")));

    // Other sinks pause: events wait in the queue and flow again once enabled.
    let (status, paused) = daemon.control("POST", "/v1/sinks/siem/disable").await;
    assert_eq!((status, paused["state"].as_str()), (200, Some("deactivated")));
    daemon.send(&numbered_events("scan_started", 2)).await;
    let siem_stats = daemon.sink_stats("siem");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(daemon.queue_depth("siem").0, 2, "paused: the events wait");
    let (status, _) = daemon.control("POST", "/v1/sinks/siem/enable").await;
    assert_eq!(status, 200);
    assert!(eventually(WAIT, || get(&siem_stats.delivered) == 6).await, "{}", siem_stats.summary());

    let (status, types) = daemon.control("GET", "/v1/event-types").await;
    assert_eq!(status, 200);
    let types = types["event_types"].as_array().expect("types");
    let finding = types.iter().find(|t| t["type"] == "finding_added").expect("configured type");
    assert_eq!((finding["seen"].as_u64(), finding["configured"].as_bool()), (Some(3), Some(true)));
    assert!(types.iter().any(|t| t["type"] == "scan_started" && t["seen"] == 2));
    assert!(types.iter().any(|t| t["type"] == "unknown_type" && t["configured"] == false));

    for (method, path, code, needle) in [
        ("GET", "/v1/sinks/nope", 404, "no sink named \"nope\""),
        ("GET", "/v1/sinks/siem/history", 409, "is a tcp sink"),
        ("GET", "/v1/nothing", 404, "no endpoint GET /v1/nothing"),
        ("PUT", "/v1/sinks/siem", 405, "use GET to read, POST, PATCH or DELETE to act"),
        ("DELETE", "/v1/sinks/siem", 409, "run-time sinks are off: set control.sinks_dir"),
    ] {
        let (status, body) = daemon.control(method, path).await;
        assert_eq!(status, code, "{method} {path}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| e.contains(needle)), "{method} {path}: {body}");
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_through_the_api_refuses_an_invalid_config_and_keeps_the_old_one() {
    let syslog = StreamReceiver::tcp().await;
    let hook = HttpReceiver::start(vec![]).await;
    let daemon = daemon(&syslog, &hook, "").await;
    let path = daemon.dir.path().join("siem-relay.toml");
    let good = std::fs::read_to_string(&path).expect("config");
    std::fs::write(&path, good.replace("format = \"rfc5424\"", "format = \"xml\"")).expect("write");
    let (status, body) = daemon.control("POST", "/v1/reload").await;
    assert_eq!(status, 422);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("sinks.siem.format")), "{body}");
    std::fs::write(
        &path,
        good.replace("[sinks.hook]", "[sinks.extra]\nformat = \"rfc5424\"\nurl = \"console\"\n[sinks.hook]"),
    )
    .expect("write");
    let (status, body) = daemon.control("POST", "/v1/reload").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["added"], serde_json::json!(["extra"]));
    let (_, sinks) = daemon.control("GET", "/v1/sinks").await;
    assert_eq!(sinks[0]["name"], "extra", "newest first");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_match_what_was_sent() {
    let syslog = StreamReceiver::tcp().await;
    let hook = HttpReceiver::start(vec![]).await;
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let daemon = daemon(&syslog, &hook, &format!("[control]\nmetrics_listen = \"127.0.0.1:{metrics_port}\"")).await;
    daemon.send(&(numbered_events("finding_added", 5) + "not json\n")).await;
    let stats = daemon.sink_stats("siem");
    assert!(eventually(WAIT, || get(&stats.delivered) == 5).await);
    let hook_stats = daemon.sink_stats("hook");
    assert!(eventually(WAIT, || get(&hook_stats.delivered) == 5).await);

    let (status, text) = daemon.control("GET", "/v1/metrics").await;
    assert_eq!(status, 200);
    let text = text.as_str().expect("text").to_owned();
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid Prometheus text format");
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        scrape.samples.iter().find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))).map(
            |s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            },
        )
    };
    assert_eq!(value("siem_relay_sink_events_received_total", &[("sink", "siem")]), Some(5.0), "{text}");
    assert_eq!(value("siem_relay_sink_events_delivered_total", &[("sink", "hook")]), Some(5.0));
    assert_eq!(value("siem_relay_sink_queue_events", &[("sink", "siem")]), Some(0.0));
    assert_eq!(value("siem_relay_sink_breaker_state", &[("sink", "hook")]), Some(0.0));
    assert_eq!(value("siem_relay_input_lines_accepted_total", &[]), Some(5.0));
    assert_eq!(value("siem_relay_input_lines_rejected_total", &[("reason", "invalid_json")]), Some(1.0));
    assert_eq!(
        value("siem_relay_sink_events_dropped_total", &[("sink", "siem"), ("reason", "queue_full_newest")]),
        Some(0.0)
    );
    assert!(scrape
        .samples
        .iter()
        .any(|s| s.metric == "siem_relay_sink_delivery_latency_seconds" && s.labels.get("sink") == Some("hook")));

    // The same on the TCP metrics listener, which serves nothing else.
    let get = |path: &'static str| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", metrics_port)).await.expect("connect");
        stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes()).await.expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        answer
    };
    let scraped = get("/metrics").await;
    assert!(scraped.starts_with("HTTP/1.0 200"), "{scraped}");
    assert!(scraped.contains("siem_relay_sink_events_received_total{sink=\"siem\"} 5"));
    assert!(get("/v1/reload").await.starts_with("HTTP/1.0 404"));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_prints_tables_and_json_and_other_users_are_refused() {
    let syslog = StreamReceiver::tcp().await;
    let hook = HttpReceiver::start(vec![]).await;
    let daemon = daemon(&syslog, &hook, "[control]\nsocket_mode = \"0666\"").await;
    let socket = daemon.control_socket();
    let ctl = |args: &[&str]| {
        let socket = socket.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        async move {
            tokio::task::spawn_blocking(move || {
                Command::new(env!("CARGO_BIN_EXE_siem-relay"))
                    .arg("ctl")
                    .arg("--control-socket")
                    .arg(&socket)
                    .args(&args)
                    .output()
                    .expect("ctl")
            })
            .await
            .expect("join")
        }
    };
    let out = ctl(&["sinks"]).await;
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.starts_with("NAME")
            && table.contains("hook")
            && table.contains("siem")
            && table.contains("tcp://127.0.0.1:"),
        "{table}"
    );
    let out = ctl(&["--json", "status", "siem"]).await;
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["name"], "siem");
    let out = ctl(&["status", "nope"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no sink named"));

    // A user outside the admin and viewer groups may connect (mode 0666 here) but is refused.
    let runuser = std::path::Path::new("/usr/sbin/runuser");
    if runuser.exists()
        && std::process::id() > 0
        && std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
    {
        let binary = env!("CARGO_BIN_EXE_siem-relay");
        let socket = socket.clone();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(runuser)
                .args(["-u", "nobody", "--", binary, "ctl", "--control-socket"])
                .arg(&socket)
                .arg("health")
                .output()
                .expect("runuser")
        })
        .await
        .expect("join");
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        if text.contains("Permission denied") {
            eprintln!("skipped: nobody cannot reach the temporary directory: {text}");
        } else {
            assert_eq!(out.status.code(), Some(1), "{text}");
            assert!(text.contains("error (403): access refused"), "{text}");
        }
    }
    daemon.stop().await;
}

/// The package's default config: no sink, run-time sinks on. The daemon starts, counts events
/// as unrouted until a sink exists, then delivers to the sink the API created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_without_sinks_starts_and_takes_sinks_created_at_run_time() {
    let receiver = StreamReceiver::tcp().await;
    let daemon =
        TestDaemon::start("[control]\nsinks_dir = \"{dir}/sinks.d\"\n[egress]\nallow = [\"127.0.0.0/8\"]\n").await;
    daemon.send(&numbered_events("finding_added", 1)).await;
    let (status, health) = daemon.control("GET", "/v1/health").await;
    assert_eq!(status, 200, "{health}");
    let (status, created) = daemon
        .control_with(
            "POST",
            "/v1/sinks",
            serde_json::json!({"name": "first", "format": "rfc5424", "url": receiver.url("tcp")}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    daemon.send(&numbered_events("finding_added", 2)).await;
    assert!(eventually(WAIT, || receiver.octet_frames().len() == 2).await, "{:?}", receiver.octet_frames());
    assert_eq!(daemon.handles.router.load().unrouted(), 1, "the event sent before any sink existed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_time_sinks_are_created_changed_deleted_and_persisted() {
    let main = StreamReceiver::tcp().await;
    let extra = StreamReceiver::tcp().await;
    let config = format!(
        "[control]\nsinks_dir = \"{{dir}}/sinks.d\"\nmax_sinks = 3\n[egress]\nallow = [\"127.0.0.0/8\"]\n[sinks.main]\nformat = \"rfc5424\"\nurl = \"{}\"\n",
        main.url("tcp")
    );
    let daemon = TestDaemon::start(&config).await;

    // Create: validated like the TOML file, persisted as a drop-in, running at once.
    let (status, created) = daemon
        .control_with(
            "POST",
            "/v1/sinks",
            serde_json::json!({"name": "extra", "format": "cef", "url": extra.url("tcp"), "events": ["finding_*"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["format"], "cef");
    let dropin = daemon.dir.path().join("sinks.d/extra.toml");
    assert!(std::fs::read_to_string(&dropin).expect("drop-in").contains("format = \"cef\""));
    daemon.send(&numbered_events("finding_added", 2)).await;
    assert!(eventually(WAIT, || extra.octet_frames().len() == 2).await);

    // Refusals, each with a precise reason; a refused change leaves no file behind.
    let (status, body) = daemon
        .control_with(
            "POST",
            "/v1/sinks",
            serde_json::json!({"name": "bad", "format": "cef", "url": "tcp://x", "colour": 1}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("unknown field `colour`")), "{body}");
    assert!(!daemon.dir.path().join("sinks.d/bad.toml").exists());
    let (status, body) = daemon
        .control_with("POST", "/v1/sinks", serde_json::json!({"name": "main", "format": "rfc5424", "url": "console"}))
        .await;
    assert_eq!((status, body["error"].as_str().is_some_and(|e| e.contains("exists already"))), (409, true), "{body}");
    let (status, body) = daemon.control_with("PATCH", "/v1/sinks/main", serde_json::json!({"facility": "auth"})).await;
    assert_eq!(status, 409);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("read-only")), "{body}");
    let (status, body) = daemon
        .control_with("POST", "/v1/sinks", serde_json::json!({"name": "third", "format": "rfc5424", "url": "console"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = daemon
        .control_with("POST", "/v1/sinks", serde_json::json!({"name": "fourth", "format": "rfc5424", "url": "console"}))
        .await;
    assert_eq!(status, 409);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("max_sinks")), "{body}");
    // The egress policy always applies: a webhook to a denied address is refused.
    let (status, body) = daemon.control_with("DELETE", "/v1/sinks/third", serde_json::json!(null)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = daemon
        .control_with(
            "POST",
            "/v1/sinks",
            serde_json::json!({"name": "metadata", "format": "json", "url": "http://169.254.169.254/latest"}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("egress policy") && e.contains("metadata")), "{body}");

    // Partial update: one key changed, one removed.
    let (status, updated) = daemon
        .control_with("PATCH", "/v1/sinks/extra", serde_json::json!({"cef_severity": "name", "events": null}))
        .await;
    assert_eq!(status, 200, "{updated}");
    daemon.send(r#"{"event":"scan_started","id":"s","severity":"high"}"#).await;
    assert!(eventually(WAIT, || extra.octet_frames().len() == 3).await, "events filter removed");
    let last = extra.octet_frames().pop().expect("frame");
    assert!(String::from_utf8_lossy(&last).contains("|High|"), "severity as a name now");
    let (_, kept) = daemon.stop_keeping_dir().await;

    // Persisted: the configuration loads again with the run-time sink in it.
    let restarted =
        siem_relay::config::Config::load(&kept.path().join("siem-relay.toml")).expect("loads with drop-ins");
    let names: Vec<&str> = restarted.sinks.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["extra", "main"]);
    assert!(restarted.sinks.iter().find(|s| s.name == "extra").is_some_and(|s| s.dynamic));

    // A restarted daemon runs it, and deleting it removes the file.
    let dropins = kept.path().join("sinks.d");
    let config = config.replace("{dir}/sinks.d", &dropins.display().to_string());
    let daemon = TestDaemon::start(&config).await;
    let (status, body) = daemon.control("GET", "/v1/sinks/extra").await;
    assert_eq!((status, body["format"].as_str()), (200, Some("cef")));
    let (status, _) = daemon.control_with("DELETE", "/v1/sinks/extra", serde_json::json!(null)).await;
    assert_eq!(status, 200);
    assert!(!dropins.join("extra.toml").exists());
    let (status, _) = daemon.control("GET", "/v1/sinks/extra").await;
    assert_eq!(status, 404);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_may_read_but_not_change_and_bad_bodies_are_refused() {
    let syslog = StreamReceiver::tcp().await;
    let hook = HttpReceiver::start(vec![]).await;
    // `nobody`'s primary group on Debian is `nogroup`: make it the viewer group.
    let daemon = daemon(
        &syslog,
        &hook,
        "[control]\nsocket_mode = \"0666\"\nviewer_group = \"nogroup\"\nsinks_dir = \"{dir}/sinks.d\"",
    )
    .await;
    let is_root =
        std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false);
    if is_root && std::path::Path::new("/usr/sbin/runuser").exists() {
        let socket = daemon.control_socket();
        let as_nobody = |args: &'static [&'static str]| {
            let socket = socket.clone();
            tokio::task::spawn_blocking(move || {
                Command::new("/usr/sbin/runuser")
                    .args(["-u", "nobody", "--", env!("CARGO_BIN_EXE_siem-relay"), "ctl", "--control-socket"])
                    .arg(&socket)
                    .args(args)
                    .output()
                    .expect("runuser")
            })
        };
        let read = as_nobody(&["health"]).await.expect("join");
        assert!(read.status.success(), "{}", String::from_utf8_lossy(&read.stdout));
        let write = as_nobody(&["reload"]).await.expect("join");
        assert_eq!(write.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&write.stdout).contains("error (403): this needs the admin role"));
    } else {
        eprintln!("skipped the viewer part: needs root and runuser");
    }
    for (body, needle) in [
        (&b"not json"[..], "expected a JSON object"),
        (b"[1,2]", "expected a JSON object"),
        (b"{\"format\":\"cef\"}", "expected \"name\""),
        (b"{\"name\":\"x\",\"queue\":{\"max_events\":null}}", "no null inside"),
    ] {
        let (status, text) = siem_relay::control::client::request_with_body(
            &daemon.control_socket(),
            "POST",
            "/v1/sinks",
            body.to_vec(),
        )
        .await
        .expect("request");
        assert_eq!(status, 400, "{text}");
        let error: Value = serde_json::from_str(&text).expect("JSON error");
        assert!(error["error"].as_str().is_some_and(|e| e.contains(needle)), "{text}");
    }
    daemon.stop().await;
}

/// One HTTPS request to the control TLS listener, trusting `ca`.
async fn https(port: u16, ca: &std::path::Path, method: &str, path: &str, token: Option<&str>) -> u16 {
    use http_body_util::Empty;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca).expect("ca") {
        roots.add(cert.expect("cert")).expect("add");
    }
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp).await.expect("TLS");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("http");
    tokio::spawn(connection);
    let mut request = hyper::Request::builder().method(method).uri(path).header("host", "relay");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response =
        sender.send_request(request.body(Empty::<bytes::Bytes>::new()).expect("request")).await.expect("response");
    response.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_listener_takes_bearer_tokens_with_roles() {
    use sha2::Digest;
    let syslog = StreamReceiver::tcp().await;
    let hook = HttpReceiver::start(vec![]).await;
    let certs = tempfile::tempdir().expect("tempdir");
    let pki = crate::support::certs::Pki::new(certs.path(), &["127.0.0.1"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let hash = |token: &str| sha2::Sha256::digest(token).iter().map(|b| format!("{b:02x}")).collect::<String>();
    let control = format!(
        "[control]\nlisten = \"127.0.0.1:{port}\"\ntls = {{ cert_file = \"{}\", key_file = \"{}\" }}\ntokens = [{{ sha256 = \"{}\", role = \"admin\", name = \"ops\" }}, {{ sha256 = \"{}\", role = \"viewer\" }}]",
        pki.server_cert_file.display(),
        pki.server_key_file.display(),
        hash("admin-token"),
        hash("viewer-token"),
    );
    let daemon = daemon(&syslog, &hook, &control).await;
    let ca = pki.ca_file.clone();
    assert_eq!(https(port, &ca, "GET", "/v1/health", Some("viewer-token")).await, 200);
    assert_eq!(https(port, &ca, "GET", "/v1/health", Some("admin-token")).await, 200);
    assert_eq!(https(port, &ca, "GET", "/v1/health", None).await, 401);
    assert_eq!(https(port, &ca, "GET", "/v1/health", Some("guess")).await, 401);
    assert_eq!(https(port, &ca, "POST", "/v1/reload", Some("viewer-token")).await, 403);
    assert_eq!(https(port, &ca, "POST", "/v1/reload", Some("admin-token")).await, 200);
    daemon.stop().await;
}
