//! Wiring: builds queues, workers and the input from a [`Config`], runs until shutdown, then
//! drains within the deadline and reports what could not be delivered.

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::Config;
use crate::input::connection::ConnectionLimits;
use crate::input::{self, InputStats};
use crate::queue::MemoryQueue;
use crate::ratelimit::LogLimiter;
use crate::router::{Route, Router};
use crate::sink::http::HttpSinkState;
use crate::sink::{self, SinkStats};
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

/// A running daemon's handles, given to tests that want to watch it.
#[derive(Debug, Clone)]
pub struct Handles {
    pub router: Arc<Router>,
    pub input: Arc<InputStats>,
}

/// Runs the daemon on `config` until `shutdown` completes, then drains and returns the report.
/// `started` is called once the socket is bound (tests use it to know when to connect).
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()>,
    started: impl FnOnce(&Handles),
) -> anyhow::Result<Report> {
    let bound = input::bind(&config.input.socket, config.input.socket_mode)?;
    let abort = CancellationToken::new();
    let workers = TaskTracker::new();
    let mut routes = Vec::with_capacity(config.sinks.len());
    for sink in &config.sinks {
        let queue = Arc::new(MemoryQueue::new(sink.limits, sink.when_full));
        let stats = Arc::new(SinkStats::default());
        let http = sink.http.as_ref().map(|settings| Arc::new(HttpSinkState::new(&sink.name, settings)));
        match &http {
            Some(state) => {
                workers.spawn(sink::http::run(sink.clone(), queue.clone(), stats.clone(), state.clone(), abort.clone()))
            }
            None => workers.spawn(sink::run(sink.clone(), queue.clone(), stats.clone(), abort.clone())),
        };
        routes.push(Route {
            name: sink.name.clone(),
            filter: sink.filter.clone(),
            queue,
            stats,
            http,
            drop_log: LogLimiter::default(),
        });
    }
    workers.close();
    let router = Arc::new(Router::new(routes));
    let input_stats = Arc::new(InputStats::default());
    let handles = Handles { router: router.clone(), input: input_stats.clone() };

    let sink_names: Vec<String> = config.sinks.iter().map(|s| format!("{} -> {}", s.name, s.endpoint)).collect();
    info!(socket = %bound.path.display(), sinks = %sink_names.join(", "), "siem-relay listening");
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
    tokio::select! {
        () = input::serve(&bound.listener, router.clone(), input_stats.clone(), limits, stop_input.clone(), &connections) => {}
        () = shutdown => {}
    }

    // Stop taking input, then let every queue drain within the deadline.
    systemd::notify("STOPPING=1");
    info!(deadline = ?config.shutdown_timeout, "shutting down: no new input, draining queues");
    stop_input.cancel();
    drop(bound);
    for route in router.routes() {
        route.queue.close();
    }
    connections.close();
    connections.wait().await;
    if tokio::time::timeout(config.shutdown_timeout, workers.wait()).await.is_err() {
        abort.cancel();
        workers.wait().await;
    }

    let report = Report {
        input: input_stats,
        sinks: router.routes().iter().map(|route| (route.name.clone(), route.stats.clone())).collect(),
        unrouted: router.unrouted(),
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
