//! The control API's endpoints: what each request reads or changes, and the JSON it answers.
//!
//! | method | path | role | what |
//! |---|---|---|---|
//! | GET | `/v1/health` | viewer | liveness and a summary |
//! | GET | `/v1/sinks` | viewer | every sink, newest first |
//! | GET | `/v1/sinks/NAME` | viewer | one sink's status |
//! | POST | `/v1/sinks` | admin | create a run-time sink (JSON body: `name` and the sink's keys) |
//! | PATCH | `/v1/sinks/NAME` | admin | change keys of a run-time sink (`null` removes a key) |
//! | DELETE | `/v1/sinks/NAME` | admin | delete a run-time sink |
//! | GET | `/v1/whoami` | viewer | the caller's role (`viewer` or `admin`) |
//! | GET | `/v1/sinks/NAME/keys` | viewer | a run-time sink's keys, secrets shown as `"<set>"` |
//! | GET | `/v1/sinks/NAME/events?after=C&limit=N&wait_ms=MS` | viewer | a store's events after cursor C (pull mode) |
//! | GET | `/v1/sinks/NAME/events/ID` | viewer | one stored event by id |
//! | GET | `/v1/sinks/NAME/consumers/C` | viewer | consumer C's committed cursor |
//! | POST | `/v1/sinks/NAME/consumers/C/commit` | viewer | commit consumer C's cursor |
//! | GET | `/v1/sinks/NAME/series` | viewer | received, delivered, failed, dropped per 2 s, last 10 minutes |
//! | GET | `/v1/sinks/NAME/history` | viewer | webhook delivery attempts, newest first |
//! | GET | `/v1/sinks/NAME/dead-letters` | viewer | webhook dead letters |
//! | POST | `/v1/sinks/NAME/dead-letters/replay` | admin | put dead letters back in the queue |
//! | POST | `/v1/sinks/NAME/test` | admin | send a test delivery |
//! | POST | `/v1/sinks/NAME/enable` | admin | re-activate a sink (webhooks: reset the breaker) |
//! | POST | `/v1/sinks/NAME/disable` | admin | stop delivering; events wait in the queue |
//! | GET | `/v1/event-types` | viewer | configured and seen event types |
//! | POST | `/v1/reload` | admin | reload the configuration |
//! | GET | `/v1/metrics` | viewer | Prometheus text format |

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use super::auth::Role;
use crate::daemon::Handles;
use crate::metrics::{self, MetricsSource};
use crate::pipeline::SinkView;
use crate::sink::SinkStats;

/// What every request can reach.
#[derive(Debug, Clone)]
pub struct ControlState {
    pub handles: Handles,
    pub started: Instant,
    /// `[event_types]` of the configuration the daemon started with.
    pub event_types: Arc<BTreeMap<String, String>>,
    /// Where run-time sinks are kept (`None`: they are off).
    pub sinks_dir: Option<std::path::PathBuf>,
    pub max_sinks: usize,
    /// Run-time sink changes happen one at a time.
    pub changes: Arc<tokio::sync::Mutex<()>>,
    /// Each sink's recent rates and activity series.
    pub rates: Arc<super::rates::RateHistory>,
}

/// An answer: status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Answer {
    pub(super) fn json(status: u16, value: Value) -> Answer {
        let mut body = serde_json::to_string_pretty(&value).unwrap_or_default();
        body.push('\n');
        Answer { status, content_type: "application/json", body }
    }

    pub(super) fn error(status: u16, message: impl Into<String>) -> Answer {
        Answer::json(status, json!({ "error": message.into() }))
    }
}

/// Answers one request from a caller with `role`.
/// `path` may carry a query string (`?after=...`), which only the pull endpoints read.
pub async fn handle(state: &ControlState, role: Role, method: &str, path: &str, body: &[u8]) -> Answer {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let write = method != "GET";
    if !matches!(method, "GET" | "POST" | "PATCH" | "DELETE") {
        return Answer::error(
            405,
            format!("method {method} is not supported: use GET to read, POST, PATCH or DELETE to act"),
        );
    }
    // A consumer's commit is the reader's own bookkeeping (it changes no configuration and no
    // event), so whoever may read may commit.
    let commit = matches!(segments.as_slice(), ["v1", "sinks", _, "consumers", _, "commit"]);
    if write && role < Role::Admin && !commit {
        return Answer::error(403, "this needs the admin role (root, the daemon's user, or control.admin_group)");
    }
    match (method, segments.as_slice()) {
        ("GET", ["v1", "health"]) => health(state).await,
        ("GET", ["v1", "whoami"]) => Answer::json(200, json!({ "role": role })),
        ("GET", ["v1", "sinks", name, "keys"]) => super::sinks::keys(state, name).await,
        ("GET", ["v1", "sinks", name, "events"]) => super::pull::events(state, name, query).await,
        ("GET", ["v1", "sinks", name, "events", id]) => super::pull::event(state, name, id).await,
        ("GET", ["v1", "sinks", name, "consumers", consumer]) => super::pull::consumer(state, name, consumer).await,
        ("POST", ["v1", "sinks", name, "consumers", consumer, "commit"]) => {
            super::pull::commit(state, name, consumer, body).await
        }
        ("GET", ["v1", "sinks"]) => {
            let sinks = state.handles.pipeline.sinks().await;
            Answer::json(200, Value::Array(sinks.iter().map(|sink| status_with_rates(state, sink)).collect()))
        }
        ("GET", ["v1", "sinks", name]) => {
            with_sink(state, name, |sink| Answer::json(200, status_with_rates(state, sink))).await
        }
        ("GET", ["v1", "sinks", name, "series"]) => {
            with_sink(state, name, |sink| {
                let mut series = state.rates.series(&sink.route.stats);
                series["sink"] = json!(sink.config.name);
                Answer::json(200, series)
            })
            .await
        }
        ("POST", ["v1", "sinks"]) => super::sinks::create(state, body).await,
        ("PATCH", ["v1", "sinks", name]) => super::sinks::update(state, name, body).await,
        ("DELETE", ["v1", "sinks", name]) => super::sinks::delete(state, name).await,
        ("GET", ["v1", "sinks", name, "history"]) => {
            with_webhook(state, name, |sink, http| {
                Answer::json(200, json!({ "sink": sink.config.name, "attempts": http.history.newest_first() }))
            })
            .await
        }
        ("GET", ["v1", "sinks", name, "dead-letters"]) => {
            with_webhook(state, name, |sink, http| {
                let letters: Vec<Value> = http
                    .dead_letters
                    .list()
                    .iter()
                    .map(|letter| {
                        json!({
                            "time": letter.time,
                            "error": letter.error,
                            "attempts": letter.attempts,
                            "event_ids": letter.events.iter().map(|e| e.id()).collect::<Vec<_>>(),
                            "events": letter.events.iter().map(|e| e.to_value()).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                let discarded = SinkStats::get(&http.dead_letters.discarded);
                Answer::json(200, json!({ "sink": sink.config.name, "dead_letters": letters, "discarded": discarded }))
            })
            .await
        }
        ("POST", ["v1", "sinks", name, "dead-letters", "replay"]) => {
            match state.handles.router.load_full().replay_dead_letters(name).await {
                Some(replayed) => Answer::json(200, json!({ "sink": name, "replayed": replayed })),
                None => not_a_webhook(state, name).await,
            }
        }
        ("POST", ["v1", "sinks", name, "test"]) => {
            let Some(config) = state.handles.pipeline.sink_config(name).await else { return no_sink(name) };
            let Some(http) = route_of(state, name).and_then(|route| route.http.clone()) else {
                return not_a_webhook(state, name).await;
            };
            match crate::sink::http::test_delivery(config, http).await {
                Some(attempt) => {
                    Answer::json(if attempt.success { 200 } else { 502 }, json!({ "sink": name, "attempt": attempt }))
                }
                None => Answer::error(500, "the test event could not be built"),
            }
        }
        ("POST", ["v1", "sinks", name, action @ ("enable" | "disable")]) => {
            with_sink(state, name, |sink| {
                let enable = *action == "enable";
                match &sink.route.http {
                    // Webhooks: the breaker; enabling also resets its failure counters.
                    Some(http) if enable => http.breaker.enable(),
                    Some(http) => http.breaker.deactivate("disabled by an operator"),
                    None => sink.route.pause.set(!enable),
                }
                tracing::info!(sink = %sink.config.name, "{action}d by an operator");
                Answer::json(200, sink_status(sink))
            })
            .await
        }
        ("GET", ["v1", "event-types"]) => event_types(state),
        ("POST", ["v1", "reload"]) => match state.handles.reload().await {
            Ok(summary) => Answer::json(200, json!({ "reloaded": true, "summary": summary })),
            Err(error) => Answer::json(422, json!({ "reloaded": false, "error": error })),
        },
        ("GET", ["v1", "metrics"] | ["metrics"]) => Answer {
            status: 200,
            // prometheus-client writes OpenMetrics text (counters as NAME_total, `# EOF`).
            content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
            body: metrics::render(&metrics_source(state)),
        },
        _ => Answer::error(
            404,
            format!("no endpoint {method} {path}; see GET /v1/health and the README's control API section"),
        ),
    }
}

pub fn metrics_source(state: &ControlState) -> MetricsSource {
    MetricsSource {
        router: state.handles.router.clone(),
        input: state.handles.input.clone(),
        reloads: state.handles.reloads.clone(),
    }
}

async fn health(state: &ControlState) -> Answer {
    let sinks = state.handles.pipeline.sinks().await;
    let deactivated: Vec<&str> = sinks
        .iter()
        .filter(|s| {
            s.route
                .http
                .as_ref()
                .is_some_and(|h| h.breaker.state() == crate::sink::http::breaker::BreakerState::Deactivated)
        })
        .map(|s| s.config.name.as_str())
        .collect();
    Answer::json(
        200,
        json!({
            "status": if deactivated.is_empty() { "ok" } else { "degraded" },
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": state.started.elapsed().as_secs(),
            "sinks": sinks.len(),
            "deactivated_sinks": deactivated,
            "input": {
                "connections_active": SinkStats::get(&state.handles.input.active),
                "lines_accepted": SinkStats::get(&state.handles.input.accepted),
                "lines_rejected": state.handles.input.rejected_total(),
            },
        }),
    )
}

fn route_of(state: &ControlState, name: &str) -> Option<Arc<crate::router::Route>> {
    state.handles.router.load().route_named(name).cloned()
}

fn no_sink(name: &str) -> Answer {
    Answer::error(404, format!("no sink named {name:?}"))
}

async fn not_a_webhook(state: &ControlState, name: &str) -> Answer {
    match state.handles.pipeline.sinks().await.iter().find(|s| s.config.name == name) {
        None => no_sink(name),
        Some(sink) => Answer::error(
            409,
            format!(
                "sink {name:?} is a {} sink: this applies to webhook (http/https) sinks only",
                sink.config.endpoint.kind()
            ),
        ),
    }
}

async fn with_sink(state: &ControlState, name: &str, answer: impl FnOnce(&SinkView) -> Answer) -> Answer {
    match state.handles.pipeline.sinks().await.iter().find(|s| s.config.name == *name) {
        Some(sink) => answer(sink),
        None => no_sink(name),
    }
}

async fn with_webhook(
    state: &ControlState,
    name: &str,
    answer: impl FnOnce(&SinkView, &crate::sink::http::HttpSinkState) -> Answer,
) -> Answer {
    let sinks = state.handles.pipeline.sinks().await;
    match sinks.iter().find(|s| s.config.name == *name) {
        None => no_sink(name),
        Some(sink) => match &sink.route.http {
            Some(http) => answer(sink, http),
            None => not_a_webhook(state, name).await,
        },
    }
}

/// One sink's status with its current rates (`rates.rs`).
fn status_with_rates(state: &ControlState, sink: &SinkView) -> Value {
    let mut status = sink_status(sink);
    status["rates"] = state.rates.rates(&sink.route.stats);
    status
}

/// One sink's status.
pub fn sink_status(sink: &SinkView) -> Value {
    let stats = &sink.route.stats;
    let get = SinkStats::get;
    let (events, bytes) = sink.route.queue.depth();
    let breaker = sink.route.http.as_ref().map(|h| h.breaker.state());
    let deactivated =
        breaker == Some(crate::sink::http::breaker::BreakerState::Deactivated) || sink.route.pause.is_paused();
    let last_error = stats.last_error().map(|(time, error)| json!({ "time": time, "error": error }));
    json!({
        "name": sink.config.name,
        "format": sink.config.encoder.name(),
        "url": sink.config.endpoint.to_string(),
        "since": sink.since,
        "state": if deactivated { "deactivated" } else { "active" },
        "breaker": breaker,
        "deactivation_reason": sink.route.http.as_ref().and_then(|h| h.breaker.deactivation_reason()),
        "queue": {
            "events": events,
            "bytes": bytes,
            "max_events": sink.config.limits.max_events,
            "max_bytes": sink.config.limits.max_bytes,
            "when_full": format!("{:?}", sink.config.when_full).to_lowercase(),
        },
        "counters": {
            "received": get(&stats.received),
            "delivered": get(&stats.delivered),
            "dropped_newest": get(&stats.dropped_newest),
            "dropped_oldest": get(&stats.dropped_oldest),
            "dropped_shutdown": get(&stats.dropped_shutdown),
            "dropped_unsendable": get(&stats.dropped_unsendable),
            "truncated": get(&stats.truncated),
            "sanitized": get(&stats.sanitized),
            "invalid_fields": get(&stats.invalid_fields),
            "resent": get(&stats.resent),
            "retries": get(&stats.retries),
            "dead_lettered": get(&stats.dead_lettered),
            "connect_failures": get(&stats.connect_failures),
            "send_failures": get(&stats.send_failures),
            "disconnects": get(&stats.disconnects),
        },
        "in_flight": get(&stats.in_flight),
        "dead_letters": sink.route.http.as_ref().map(|h| h.dead_letters.len()),
        "store": sink.route.store.as_ref().map(|store| {
            let (events, bytes) = store.size();
            json!({
                "events": events,
                "bytes": bytes,
                "oldest": store.oldest().to_string(),
                "expired": SinkStats::get(&store.stats.expired),
                "duplicates": SinkStats::get(&store.stats.duplicates),
                "corrupt": SinkStats::get(&store.stats.corrupt),
                "oversized": SinkStats::get(&store.stats.oversized),
            })
        }),
        "last_error": last_error,
    })
}

fn event_types(state: &ControlState) -> Answer {
    let seen: BTreeMap<String, u64> = state.handles.router.load().seen_types().into_iter().collect();
    let mut types: Vec<Value> = state
        .event_types
        .iter()
        .map(|(name, description)| {
            json!({ "type": name, "description": description, "configured": true, "seen": seen.get(name).copied().unwrap_or(0) })
        })
        .collect();
    for (name, count) in &seen {
        if !state.event_types.contains_key(name) {
            types.push(json!({ "type": name, "description": null, "configured": false, "seen": count }));
        }
    }
    Answer::json(
        200,
        json!({
            "event_types": types,
            "wildcard": "sink `events` filters are globs: `*` matches any run of characters, `?` one character; `*` alone takes every type",
        }),
    )
}
