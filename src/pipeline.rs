//! The running sinks: starting them, replacing, adding and removing them on reload without
//! losing queued events, and stopping them at shutdown.
//!
//! A sink keeps its queue and counters for as long as its name is configured: a reload that
//! changes a sink reconfigures the queue in place, installs a new route (filter, state) and
//! hands the sink over from the old worker to a new one. The old worker stops taking events,
//! lets what it wrote be confirmed, and gives back what was not; the new worker starts only
//! then, on the same queue, so order is kept and nothing queued is lost. A removed sink stops
//! receiving events and drains its queue in the background.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use crate::config::QueueKind;
use crate::config::{Config, SinkConfig};
use crate::event::Event;
use crate::queue::disk::{DiskQueue, DiskQueueOptions};
use crate::queue::{MemoryQueue, SinkQueue};
use crate::ratelimit::LogLimiter;
use crate::router::{Route, Router, SharedRouter};
use crate::sink::http::HttpSinkState;
use crate::sink::{self, SinkStats};
use crate::store::Store;

/// One running sink.
#[derive(Debug)]
struct Running {
    /// When this sink (by name) first started.
    since: String,
    config: Arc<SinkConfig>,
    route: Arc<Route>,
    /// Asks the worker to hand the sink over.
    handover: CancellationToken,
    /// The worker; yields the events it could not get confirmed when handing over.
    task: JoinHandle<Vec<Arc<Event>>>,
}

/// A running sink as the control API shows it.
#[derive(Debug, Clone)]
pub struct SinkView {
    /// When it was added (RFC 3339).
    pub since: String,
    pub config: Arc<SinkConfig>,
    pub route: Arc<Route>,
}

fn now() -> String {
    crate::timestamp::Timestamp::now().to_string()
}

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReloadSummary {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
}

#[derive(Debug)]
pub struct Pipeline {
    router: SharedRouter,
    running: tokio::sync::Mutex<BTreeMap<String, Running>>,
    /// Fires when the shutdown deadline passes: workers stop and count what is left.
    abort: CancellationToken,
    workers: TaskTracker,
}

impl Pipeline {
    /// Starts a worker for every sink of `config`; fails if a disk queue cannot be opened.
    pub fn start(config: &Config) -> Result<Pipeline, String> {
        let abort = CancellationToken::new();
        let workers = TaskTracker::new();
        let mut running = BTreeMap::new();
        let mut routes = Vec::with_capacity(config.sinks.len());
        // Sinks of the starting configuration are equally old.
        let started = now();
        for sink in &config.sinks {
            let queue = open_queue(sink)?;
            let route = new_route(sink, queue, Arc::default(), None, open_store(sink)?);
            let handover = CancellationToken::new();
            let task = spawn_worker(&workers, sink.clone(), route.clone(), abort.clone(), handover.clone(), None);
            routes.push(route.clone());
            running.insert(
                sink.name.clone(),
                Running { since: started.clone(), config: sink.clone(), route, handover, task },
            );
        }
        Ok(Pipeline {
            router: Arc::new(arc_swap::ArcSwap::from_pointee(Router::new(routes))),
            running: tokio::sync::Mutex::new(running),
            abort,
            workers,
        })
    }

    pub fn router(&self) -> &SharedRouter {
        &self.router
    }

    /// Every running sink, newest first (by when it was added), then by name.
    pub async fn sinks(&self) -> Vec<SinkView> {
        let running = self.running.lock().await;
        let mut list: Vec<SinkView> = running
            .values()
            .map(|r| SinkView { since: r.since.clone(), config: r.config.clone(), route: r.route.clone() })
            .collect();
        list.sort_by(|a, b| b.since.cmp(&a.since).then_with(|| a.config.name.cmp(&b.config.name)));
        list
    }

    /// Whether every sink has a worker running (the watchdog's check): a worker that ended
    /// while its sink is configured means events are no longer being delivered.
    pub async fn healthy(&self) -> bool {
        self.running.lock().await.values().all(|running| !running.task.is_finished())
    }

    /// The configuration a sink runs with now.
    pub async fn sink_config(&self, name: &str) -> Option<Arc<SinkConfig>> {
        self.running.lock().await.get(name).map(|running| running.config.clone())
    }

    /// Applies a new configuration's sinks (the input settings are not changed by a reload).
    /// Fails, changing nothing, if a new sink's disk queue cannot be opened.
    pub async fn apply(&self, config: &Config) -> Result<ReloadSummary, String> {
        let mut running = self.running.lock().await;
        // Open the queues of added sinks, and stores new to a sink, first: a failure must leave
        // everything as it was.
        let mut opened: BTreeMap<String, Arc<SinkQueue>> = BTreeMap::new();
        let mut stores: BTreeMap<String, Arc<Store>> = BTreeMap::new();
        for sink in &config.sinks {
            let current = running.get(&sink.name);
            if current.is_none() {
                opened.insert(sink.name.clone(), open_queue(sink)?);
            }
            // A store the sink has already is kept: opening it twice would race its writer.
            let kept = current
                .and_then(|c| c.route.store.clone())
                .filter(|store| sink.store.as_ref().is_some_and(|wanted| wanted.dir.as_path() == store.dir()));
            let store = match kept {
                Some(store) => Some(store),
                None => open_store(sink)?,
            };
            if let Some(store) = store {
                stores.insert(sink.name.clone(), store);
            }
        }
        let mut summary = ReloadSummary::default();
        let mut next: BTreeMap<String, Running> = BTreeMap::new();
        for sink in &config.sinks {
            match running.remove(&sink.name) {
                Some(current) if current.config.fingerprint == sink.fingerprint => {
                    summary.unchanged.push(sink.name.clone());
                    next.insert(sink.name.clone(), current);
                }
                Some(current) => {
                    summary.changed.push(sink.name.clone());
                    if current.config.queue_kind != sink.queue_kind {
                        tracing::warn!(sink = %sink.name, "a change of queue kind or directory applies at the next start");
                    }
                    if !current.route.queue.reconfigure(sink.limits, sink.when_full)
                        && (current.config.limits, current.config.when_full) != (sink.limits, sink.when_full)
                    {
                        tracing::warn!(sink = %sink.name, "a disk queue's bounds change at the next start");
                    }
                    let http = sink.http.as_ref().map(|settings| {
                        let state = Arc::new(HttpSinkState::new(&sink.name, settings));
                        // Dead letters survive a change of the sink's settings.
                        if let Some(old) = &current.route.http {
                            for letter in old.dead_letters.take_all() {
                                state.dead_letters.push(letter);
                            }
                        }
                        state
                    });
                    let store = stores.remove(&sink.name);
                    // Only now, with every open done: a refused reload changes nothing.
                    if let (Some(store), Some(config)) = (&store, &sink.store) {
                        store.set_retention(config.retention);
                    }
                    let route = new_route(sink, current.route.queue.clone(), current.route.stats.clone(), http, store);
                    route.pause.set(current.route.pause.is_paused());
                    current.handover.cancel();
                    let handover = CancellationToken::new();
                    let task = spawn_worker(
                        &self.workers,
                        sink.clone(),
                        route.clone(),
                        self.abort.clone(),
                        handover.clone(),
                        Some(current.task),
                    );
                    next.insert(
                        sink.name.clone(),
                        Running { since: current.since, config: sink.clone(), route, handover, task },
                    );
                }
                None => {
                    summary.added.push(sink.name.clone());
                    let Some(queue) = opened.remove(&sink.name) else { continue };
                    let route = new_route(sink, queue, Arc::default(), None, stores.remove(&sink.name));
                    let handover = CancellationToken::new();
                    let task = spawn_worker(
                        &self.workers,
                        sink.clone(),
                        route.clone(),
                        self.abort.clone(),
                        handover.clone(),
                        None,
                    );
                    next.insert(
                        sink.name.clone(),
                        Running { since: now(), config: sink.clone(), route, handover, task },
                    );
                }
            }
        }
        // What is left was removed: no more events, drain what is queued.
        for (name, removed) in std::mem::take(&mut *running) {
            removed.route.queue.close();
            summary.removed.push(name);
        }
        let routes = config.sinks.iter().filter_map(|sink| next.get(&sink.name).map(|r| r.route.clone())).collect();
        let current = self.router.load_full();
        self.router.store(Arc::new(current.with_routes(routes)));
        *running = next;
        let summary_log = summary.clone();
        info!(
            added = ?summary_log.added,
            changed = ?summary_log.changed,
            removed = ?summary_log.removed,
            unchanged = summary_log.unchanged.len(),
            "configuration reloaded"
        );
        Ok(summary)
    }

    /// Stops taking events, drains every queue for up to `deadline`, then stops the workers,
    /// which count what is left as `dropped_shutdown`.
    pub async fn shutdown(&self, deadline: Duration) {
        for route in self.router.load().routes() {
            route.queue.close();
        }
        self.workers.close();
        if tokio::time::timeout(deadline, self.workers.wait()).await.is_err() {
            self.abort.cancel();
            self.workers.wait().await;
        }
    }
}

/// A sink's queue: in memory, or its disk queue opened (recovering what the last run left).
fn open_queue(sink: &SinkConfig) -> Result<Arc<SinkQueue>, String> {
    match &sink.queue_kind {
        QueueKind::Memory => Ok(Arc::new(SinkQueue::Memory(MemoryQueue::new(sink.limits, sink.when_full)))),
        QueueKind::Disk { dir, sync } => {
            let options = DiskQueueOptions { sync: *sync, ..DiskQueueOptions::new(sink.limits, sink.when_full) };
            let queue = DiskQueue::open(dir, options)
                .map_err(|e| format!("sinks.{}: cannot open the disk queue in {}: {e}", sink.name, dir.display()))?;
            let (pending, bytes) = queue.depth();
            info!(sink = %sink.name, dir = %dir.display(), pending, bytes, "disk queue opened");
            Ok(Arc::new(SinkQueue::Disk(queue)))
        }
    }
}

/// A pull-mode sink's store, opened (recovering what the last run left); `None` for others.
fn open_store(sink: &SinkConfig) -> Result<Option<Arc<Store>>, String> {
    let Some(config) = &sink.store else { return Ok(None) };
    let store = Store::open(&config.dir, config.retention)
        .map_err(|e| format!("sinks.{}: cannot open the store in {}: {e}", sink.name, config.dir.display()))?;
    let (events, bytes) = store.size();
    info!(sink = %sink.name, dir = %config.dir.display(), events, bytes, "store opened");
    Ok(Some(Arc::new(store)))
}

fn new_route(
    sink: &SinkConfig,
    queue: Arc<SinkQueue>,
    stats: Arc<SinkStats>,
    http: Option<Arc<HttpSinkState>>,
    store: Option<Arc<Store>>,
) -> Arc<Route> {
    let http = http.or_else(|| sink.http.as_ref().map(|settings| Arc::new(HttpSinkState::new(&sink.name, settings))));
    Arc::new(Route {
        name: sink.name.clone(),
        filter: sink.filter.clone(),
        queue,
        stats,
        http,
        store,
        pause: Arc::default(),
        drop_log: LogLimiter::default(),
    })
}

/// Runs the sink's worker, after its predecessor (if any) has handed over: what the predecessor
/// could not get confirmed goes back to the front of the queue first.
fn spawn_worker(
    workers: &TaskTracker,
    config: Arc<SinkConfig>,
    route: Arc<Route>,
    abort: CancellationToken,
    handover: CancellationToken,
    predecessor: Option<JoinHandle<Vec<Arc<Event>>>>,
) -> JoinHandle<Vec<Arc<Event>>> {
    workers.spawn(async move {
        if let Some(previous) = predecessor {
            if let Ok(unconfirmed) = previous.await {
                route.queue.give_back(unconfirmed);
            }
        }
        let (queue, stats) = (route.queue.clone(), route.stats.clone());
        match &route.http {
            Some(state) => sink::http::run(config, queue, stats, state.clone(), abort, handover).await,
            None => sink::run(config, queue, stats, abort, handover, route.pause.clone(), route.store.clone()).await,
        }
    })
}
