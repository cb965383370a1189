//! The daemon run in-process on a temporary socket, with a handle to stop it and read its
//! report.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use siem_relay::client::{self, SendOutcome};
use siem_relay::config::Config;
use siem_relay::daemon::{self, Handles, Report};
use tokio::sync::oneshot;

pub struct TestDaemon {
    pub socket: PathBuf,
    pub handles: Handles,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Report>,
    pub dir: tempfile::TempDir,
}

impl TestDaemon {
    /// Starts the daemon on `config` (TOML without `[input] socket`, which is set to a fresh
    /// temporary path). `{dir}` in the text is replaced by the daemon's temporary directory.
    pub async fn start(config: &str) -> TestDaemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = config.replace("{dir}", &dir.path().display().to_string());
        // Written to a file so that tests can change it and reload.
        let path = dir.path().join("siem-relay.toml");
        std::fs::write(&path, &text).expect("write config");
        let mut config = Config::load(&path).unwrap_or_else(|e| panic!("test config invalid: {e}"));
        let socket = dir.path().join("events.sock");
        config.override_socket(socket.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = oneshot::channel::<Handles>();
        let ready_tx = Arc::new(Mutex::new(Some(ready_tx)));
        let task = tokio::spawn(async move {
            daemon::run(
                config,
                daemon::ConfigSource::File(path),
                Vec::new(),
                async {
                    let _ = stopped.await;
                },
                move |handles| {
                    if let Some(tx) = ready_tx.lock().expect("lock").take() {
                        let _ = tx.send(handles.clone());
                    }
                },
            )
            .await
            .expect("daemon failed")
        });
        let handles = ready_rx.await.expect("daemon did not start");
        TestDaemon { socket, handles, stop: Some(stop), task, dir }
    }

    /// The control API's socket.
    pub fn control_socket(&self) -> PathBuf {
        self.dir.path().join("events-control.sock")
    }

    /// One control API request: status and parsed JSON body (or the raw text as a JSON string).
    pub async fn control(&self, method: &str, path: &str) -> (u16, serde_json::Value) {
        let (status, body) =
            siem_relay::control::client::request(&self.control_socket(), method, path).await.expect("control request");
        let value = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
        (status, value)
    }

    /// A control API request with a JSON body.
    pub async fn control_with(&self, method: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let body = serde_json::to_vec(&body).expect("json");
        let (status, text) = siem_relay::control::client::request_with_body(&self.control_socket(), method, path, body)
            .await
            .expect("control request");
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    /// Replaces the config file (same `{dir}` substitution) and reloads it.
    pub async fn reload(&self, config: &str) -> Result<siem_relay::pipeline::ReloadSummary, String> {
        let text = config.replace("{dir}", &self.dir.path().display().to_string());
        std::fs::write(self.dir.path().join("siem-relay.toml"), text).expect("write config");
        self.handles.reload().await
    }

    /// Sends NDJSON text over one connection and returns the daemon's verdict.
    pub async fn send(&self, text: &str) -> SendOutcome {
        client::send(&self.socket, text.as_bytes()).await.expect("send failed")
    }

    /// Stops the daemon and keeps its directory (config, drop-ins) for a restart.
    pub async fn stop_keeping_dir(mut self) -> (Report, tempfile::TempDir) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let report = (&mut self.task).await.expect("daemon task panicked");
        (report, self.dir)
    }

    /// Stops the daemon (as SIGTERM would) and returns its report.
    pub async fn stop(mut self) -> Report {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.expect("daemon task panicked")
    }

    /// Counter of the sink `name`.
    pub fn sink_stats(&self, name: &str) -> Arc<siem_relay::sink::SinkStats> {
        self.handles
            .router
            .load()
            .routes()
            .iter()
            .find(|route| route.name == name)
            .map(|route| route.stats.clone())
            .unwrap_or_else(|| panic!("no sink {name}"))
    }

    pub fn queue_depth(&self, name: &str) -> (usize, usize) {
        self.handles.router.load().routes().iter().find(|r| r.name == name).map(|r| r.queue.depth()).expect("sink")
    }
}

/// `n` numbered events of type `kind`, one per line, with ids `e0`, `e1`, ...
pub fn numbered_events(kind: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("{{\"event\":\"{kind}\",\"id\":\"e{i}\",\"severity\":\"high\",\"title\":\"event number {i}\",\"timestamp\":\"2024-05-01T12:00:00.123456Z\"}}\n"))
        .collect()
}

pub fn get(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(std::sync::atomic::Ordering::Relaxed)
}
