//! Wiring: builds the pipeline and the input from a [`Config`], runs until shutdown (reloading
//! on request), then drains within the deadline and reports what could not be delivered.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::control::api::ControlState;
use crate::control::server;
use crate::input::connection::ConnectionLimits;
use crate::input::{self, InputStats};
use crate::metrics::ReloadStats;
use crate::pipeline::{Pipeline, ReloadSummary};
use crate::router::SharedRouter;
use crate::sink::SinkStats;
use crate::systemd;

/// What a run ended with, per sink and for the input.
#[derive(Debug)]
pub struct Report {
    pub input: Arc<InputStats>,
    pub sinks: Vec<(String, Arc<SinkStats>)>,
    pub unrouted: u64,
}

impl Report {
    /// Events that were accepted by some sink but neither delivered nor dropped by policy.
    pub fn undelivered(&self) -> u64 {
        self.sinks.iter().map(|(_, stats)| SinkStats::get(&stats.dropped_shutdown)).sum()
    }
}

/// Where a reload reads the configuration from.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    File(PathBuf),
    Embedded,
}

impl ConfigSource {
    pub fn load(&self) -> Result<Config, crate::config::ConfigError> {
        match self {
            ConfigSource::File(path) => Config::load(path),
            ConfigSource::Embedded => Config::embedded_default(),
        }
    }
}

/// A request to reload, answered with the outcome.
pub type ReloadRequest = tokio::sync::oneshot::Sender<Result<ReloadSummary, String>>;

/// A running daemon's handles, for the control API and for tests.
#[derive(Debug, Clone)]
pub struct Handles {
    pub router: SharedRouter,
    pub input: Arc<InputStats>,
    pub reloads: Arc<ReloadStats>,
    pub pipeline: Arc<Pipeline>,
    /// Asks the daemon to reload its configuration.
    pub reload: mpsc::Sender<ReloadRequest>,
}

impl Handles {
    /// Reloads the configuration and waits for the outcome.
    pub async fn reload(&self) -> Result<ReloadSummary, String> {
        let (answer, outcome) = tokio::sync::oneshot::channel();
        self.reload.send(answer).await.map_err(|_| "the daemon is shutting down".to_owned())?;
        outcome.await.map_err(|_| "the daemon is shutting down".to_owned())?
    }
}

/// Runs the daemon on `config` until `shutdown` completes, then drains and returns the report.
/// `started` is called once the socket is bound. Reloads read `source`.
pub async fn run(
    config: Config,
    source: ConfigSource,
    inherited: Vec<(std::os::fd::OwnedFd, String)>,
    shutdown: impl Future<Output = ()>,
    started: impl FnOnce(&Handles),
) -> anyhow::Result<Report> {
    if let Some(dir) = &config.control.sinks_dir {
        // Before anything else reads them: drop-ins hold secrets and must be owner-only.
        let repaired = crate::config::dropins::restrict_modes(dir).map_err(|e| {
            anyhow::anyhow!("control.sinks_dir {}: cannot make the drop-ins owner-only: {e}", dir.display())
        })?;
        for (path, mode) in repaired {
            warn!(file = %path.display(), "run-time sink file had mode {mode:04o} (it holds secrets): changed to 0600");
        }
    }
    // Socket activation: the socket named "events" (or the only one passed) is the input.
    let single = inherited.len() == 1;
    let passed = inherited.into_iter().find(|(_, name)| single || name == "events");
    let bound = match passed {
        Some((fd, _)) => input::adopt(fd)?,
        None => input::bind(&config.input.socket, config.input.socket_mode)?,
    };
    if config.sinks.is_empty() {
        warn!("no sinks configured: events are counted as unrouted until a sink is added (ctl create, or the config and a reload)");
    }
    let pipeline = Arc::new(Pipeline::start(&config).map_err(|e| anyhow::anyhow!(e))?);
    let router = pipeline.router().clone();
    let input_stats = Arc::new(InputStats::default());
    let reloads = Arc::new(ReloadStats::default());
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let handles = Handles {
        router: router.clone(),
        input: input_stats.clone(),
        reloads: reloads.clone(),
        pipeline: pipeline.clone(),
        reload: reload_tx,
    };

    // The control API (and the metrics listener) live as long as the input does.
    let stop_control = CancellationToken::new();
    let control_state = ControlState {
        handles: handles.clone(),
        started: std::time::Instant::now(),
        event_types: Arc::new(config.event_types.clone()),
        sinks_dir: config.control.sinks_dir.clone(),
        max_sinks: config.control.max_sinks,
        changes: Arc::default(),
        rates: Arc::default(),
    };
    tokio::spawn(crate::control::rates::run(control_state.rates.clone(), router.clone(), stop_control.clone()));
    let control = input::bind(&config.control.socket, config.control.socket_mode)?;
    let control_path = control.path.clone();
    // The socket file is removed on exit by this guard.
    let (control_listener, _control_file) = control.into_parts();
    tokio::spawn(server::serve_unix(
        control_listener,
        control_state.clone(),
        config.control.access.clone(),
        stop_control.clone(),
    ));
    if let Some(tcp) = &config.control.tcp {
        let tokens = Arc::new(tcp.tokens.clone());
        let listeners = [("control.listen", tcp.listen, false), ("control.console_listen", tcp.console_listen, true)];
        for (key, address, console) in listeners {
            let Some(address) = address else { continue };
            let listener =
                tokio::net::TcpListener::bind(address).await.map_err(|e| anyhow::anyhow!("{key} {address}: {e}"))?;
            let scheme = if tcp.tls.is_some() { "https" } else { "http" };
            let what = if console { "operator console and control API" } else { "control API" };
            info!(url = %format!("{scheme}://{}/", listener.local_addr().unwrap_or(address)), tokens = tokens.len(), "{what}");
            tokio::spawn(server::serve_tokens(
                listener,
                tcp.tls.clone(),
                tokens.clone(),
                control_state.clone(),
                console,
                stop_control.clone(),
            ));
        }
    }
    if let Some(address) = config.control.metrics_listen {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| anyhow::anyhow!("control.metrics_listen {address}: {e}"))?;
        info!(%address, "serving metrics");
        tokio::spawn(server::serve_metrics(listener, control_state.clone(), stop_control.clone()));
    }

    if let Some(interval) = systemd::watchdog_interval() {
        tokio::spawn(watchdog(interval, handles.clone(), stop_control.clone()));
    }

    let sink_names: Vec<String> = config.sinks.iter().map(|s| format!("{} -> {}", s.name, s.endpoint)).collect();
    info!(socket = %bound.path.display(), control = %control_path.display(), sinks = %sink_names.join(", "), "siem-relay listening");
    systemd::notify(&format!(
        "READY=1\nSTATUS=listening on {} with {} sink(s)",
        bound.path.display(),
        config.sinks.len()
    ));
    started(&handles);

    let stop_input = CancellationToken::new();
    let connections = TaskTracker::new();
    let limits = ConnectionLimits {
        max_event_bytes: config.input.max_event_bytes,
        max_clients: config.input.max_clients,
        idle_timeout: config.input.idle_timeout,
    };
    tokio::pin!(shutdown);
    let mut input_config = config.input.clone();
    {
        let serving = input::serve(
            &bound.listener,
            router.clone(),
            input_stats.clone(),
            limits,
            stop_input.clone(),
            &connections,
        );
        tokio::pin!(serving);
        loop {
            tokio::select! {
                () = &mut serving => break,
                () = &mut shutdown => break,
                Some(answer) = reload_rx.recv() => {
                    let outcome = reload(&source, &pipeline, &reloads, &mut input_config).await;
                    let _ = answer.send(outcome);
                }
            }
        }
    }

    // Stop taking input, then let every queue drain within the deadline.
    systemd::notify("STOPPING=1");
    info!(deadline = ?config.shutdown_timeout, "shutting down: no new input, draining queues");
    stop_input.cancel();
    drop(bound);
    connections.close();
    // Clients get a moment to have what they already sent taken in (bounded: a client blocked
    // on a full `block` queue of a dead sink is released when the queues close below).
    let _ = tokio::time::timeout(std::time::Duration::from_millis(1500), connections.wait()).await;
    pipeline.shutdown(config.shutdown_timeout).await;
    connections.wait().await;
    stop_control.cancel();

    let current = router.load();
    let report = Report {
        input: input_stats,
        sinks: current.routes().iter().map(|route| (route.name.clone(), route.stats.clone())).collect(),
        unrouted: current.unrouted(),
    };
    info!("input: {}", report.input.summary());
    for (name, stats) in &report.sinks {
        info!(sink = %name, "{}", stats.summary());
    }
    if report.undelivered() > 0 {
        warn!(undelivered = report.undelivered(), "some events could not be delivered before the shutdown deadline");
    }
    Ok(report)
}

/// Pings the systemd watchdog while the pipeline is healthy, with a one-line status; a
/// pipeline that is not healthy gets no ping, so systemd restarts the service.
async fn watchdog(interval: std::time::Duration, handles: Handles, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if !handles.pipeline.healthy().await {
            error!("a sink worker has stopped: withholding the watchdog ping so systemd restarts the service");
            continue;
        }
        let router = handles.router.load();
        let (mut queued, mut delivered, mut dropped) = (0, 0, 0);
        for route in router.routes() {
            queued += route.queue.depth().0;
            delivered += SinkStats::get(&route.stats.delivered);
            dropped += SinkStats::get(&route.stats.dropped_newest) + SinkStats::get(&route.stats.dropped_oldest);
        }
        let accepted = SinkStats::get(&handles.input.accepted);
        systemd::notify(&format!(
            "WATCHDOG=1\nSTATUS={} sinks, {accepted} events in, {delivered} delivered, {queued} queued, {dropped} dropped",
            router.routes().len()
        ));
    }
}

/// Loads the configuration again and applies its sinks; an invalid configuration changes
/// nothing.
async fn reload(
    source: &ConfigSource,
    pipeline: &Pipeline,
    stats: &ReloadStats,
    input: &mut crate::config::InputConfig,
) -> Result<ReloadSummary, String> {
    use std::sync::atomic::Ordering;
    systemd::notify("RELOADING=1");
    // Whatever the new configuration says (even if it is refused): SIGHUP is also how log
    // rotation asks file sinks to reopen their files.
    crate::transport::writer::request_reopen();
    let outcome = match source.load() {
        Ok(config) => {
            if config.input.socket != input.socket {
                warn!("input settings change only with a restart; the reload applies the sinks");
            }
            match pipeline.apply(&config).await {
                Ok(summary) => {
                    stats.succeeded.fetch_add(1, Ordering::Relaxed);
                    Ok(summary)
                }
                Err(e) => {
                    error!("reload refused, the running configuration stays: {e}");
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    Err(e)
                }
            }
        }
        Err(e) => {
            error!("reload refused, the running configuration stays: {e}");
            stats.failed.fetch_add(1, Ordering::Relaxed);
            Err(e.to_string())
        }
    };
    systemd::notify("READY=1");
    outcome
}
