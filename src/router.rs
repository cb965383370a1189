//! Routing: which sinks take an event (their filters), and handing it to their queues.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tracing::warn;

use crate::event::Event;
use crate::glob::Glob;
use crate::queue::{Push, SinkQueue};
use crate::ratelimit::LogLimiter;
use crate::sink::SinkStats;

/// A sink's filter: event-type globs and a minimum severity score.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Empty means every type.
    events: Vec<Glob>,
    /// Least severity score (0-10) taken; 0 takes everything.
    min_score: u8,
}

impl Filter {
    pub fn new(events: Vec<Glob>, min_score: u8) -> Self {
        let events = if events.iter().any(Glob::is_match_all) { Vec::new() } else { events };
        Filter { events, min_score }
    }

    pub fn accepts(&self, event: &Event) -> bool {
        event.severity().score() >= self.min_score
            && (self.events.is_empty() || self.events.iter().any(|glob| glob.matches(event.event_type())))
    }
}

/// Counts of the event types seen, bounded so that agents sending random types cannot grow it.
///
/// Every event passes here, from every input task, a batch at a time: a known type costs a
/// shared read lock and an atomic add per batch, so writers do not queue behind one another;
/// only a new type takes the write lock.
#[derive(Debug, Default)]
pub struct SeenTypes {
    counts: std::sync::RwLock<std::collections::HashMap<Box<str>, AtomicU64>>,
}

impl SeenTypes {
    pub const MAX: usize = 1000;

    /// Counts the types of a batch of events: each distinct type is looked up once, with its
    /// count (a read burst has a handful of types among hundreds of events).
    fn record_batch(&self, events: &[Arc<Event>]) {
        const DISTINCT: usize = 16;
        let mut tally: [(&str, u64); DISTINCT] = [("", 0); DISTINCT];
        let mut distinct = 0;
        for event in events {
            let kind = event.event_type();
            if let Some((_, count)) = tally[..distinct].iter_mut().find(|(seen, _)| *seen == kind) {
                *count += 1;
            } else if let Some(slot) = tally.get_mut(distinct) {
                *slot = (kind, 1);
                distinct += 1;
            } else {
                self.record(kind, 1);
            }
        }
        for &(kind, count) in &tally[..distinct] {
            self.record(kind, count);
        }
    }

    fn record(&self, event_type: &str, n: u64) {
        {
            let counts = self.counts.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(count) = counts.get(event_type) {
                count.fetch_add(n, Ordering::Relaxed);
                return;
            }
            if counts.len() >= Self::MAX {
                return;
            }
        }
        let mut counts = self.counts.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = counts.get(event_type) {
            count.fetch_add(n, Ordering::Relaxed);
        } else if counts.len() < Self::MAX {
            counts.insert(event_type.into(), AtomicU64::new(n));
        }
    }

    fn list(&self) -> Vec<(String, u64)> {
        let counts = self.counts.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut list: Vec<(String, u64)> =
            counts.iter().map(|(kind, count)| (kind.to_string(), count.load(Ordering::Relaxed))).collect();
        list.sort();
        list
    }
}

/// One sink as the router sees it.
#[derive(Debug)]
pub struct Route {
    pub name: String,
    pub filter: Filter,
    pub queue: Arc<SinkQueue>,
    pub stats: Arc<SinkStats>,
    /// Breaker, history and dead letters of a webhook sink.
    pub http: Option<Arc<crate::sink::http::HttpSinkState>>,
    /// The retained store of a pull-mode sink (`url = "store"`).
    pub store: Option<Arc<crate::store::Store>>,
    /// The operator's pause switch (other sinks; webhooks use their breaker).
    pub pause: Arc<crate::sink::pause::Pause>,
    /// Rate-limits the "dropping events" warning of this sink.
    pub drop_log: LogLimiter,
}

/// Fans events out to the queues of the sinks whose filters match.
///
/// A router is immutable; a reload installs a new one (see [`SharedRouter`]) whose routes for
/// unchanged sinks are the very same `Arc<Route>`s, so their queues and counters carry over.
#[derive(Debug)]
pub struct Router {
    routes: Vec<Arc<Route>>,
    /// Event types seen, for the control API's catalogue; shared by every generation.
    seen: Arc<SeenTypes>,
    /// Events that matched no sink (counted: they are not forwarded anywhere); shared by every
    /// generation of the router.
    unrouted: Arc<AtomicU64>,
    unrouted_log: Arc<LogLimiter>,
}

/// The router in force, swapped atomically on reload; input tasks load it per event.
pub type SharedRouter = Arc<arc_swap::ArcSwap<Router>>;

impl Router {
    pub fn new(routes: Vec<Arc<Route>>) -> Self {
        Router { routes, seen: Arc::default(), unrouted: Arc::default(), unrouted_log: Arc::default() }
    }

    /// Event types seen so far with their counts (at most [`SeenTypes::MAX`] types).
    pub fn seen_types(&self) -> Vec<(String, u64)> {
        self.seen.list()
    }

    /// A router with other routes that keeps counting unrouted events where this one did.
    pub fn with_routes(&self, routes: Vec<Arc<Route>>) -> Self {
        Router {
            routes,
            seen: self.seen.clone(),
            unrouted: self.unrouted.clone(),
            unrouted_log: self.unrouted_log.clone(),
        }
    }

    pub fn routes(&self) -> &[Arc<Route>] {
        &self.routes
    }

    pub fn route_named(&self, name: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|route| route.name == name)
    }

    pub fn unrouted(&self) -> u64 {
        SinkStats::get(&self.unrouted)
    }

    /// Moves every dead letter of webhook sink `name` back into its queue (under its
    /// `when_full` policy) and returns how many events that was, or `None` if there is no such
    /// webhook sink.
    pub async fn replay_dead_letters(&self, name: &str) -> Option<usize> {
        let route = self.routes.iter().find(|route| route.name == name)?;
        let state = route.http.as_ref()?;
        let mut replayed = 0;
        for letter in state.dead_letters.take_all() {
            for event in letter.events {
                match route.queue.push(event).await {
                    Push::Queued => replayed += 1,
                    Push::QueuedDroppingOldest(n) => {
                        replayed += 1;
                        SinkStats::add(&route.stats.dropped_oldest, n as u64);
                    }
                    Push::DroppedNewest => SinkStats::add(&route.stats.dropped_newest, 1),
                    Push::Closed => SinkStats::add(&route.stats.dropped_shutdown, 1),
                }
            }
        }
        Some(replayed)
    }

    /// Offers the event to every matching sink, in config order. With `when_full = "block"` a
    /// full queue makes this wait, which is how backpressure reaches the writer.
    ///
    /// Returns `Err` naming the sinks whose queue did not take the event (full under
    /// `drop_newest`, or closing), so writers asking for acknowledgements learn of it.
    pub async fn route(&self, event: Arc<Event>) -> Result<(), String> {
        let mut refused = Vec::new();
        self.route_batch(std::slice::from_ref(&event), &mut RouteScratch::default(), &mut refused).await;
        match refused.pop() {
            None => Ok(()),
            Some((_, reason)) => Err(reason),
        }
    }

    /// Offers the events of one read, in order, to every matching sink, in config order: each
    /// sink's queue takes its share in one [`push_batch`](SinkQueue::push_batch) (one lock and
    /// one wake-up of its worker instead of one per event), with the `when_full` policy applied
    /// to each event as [`route`](Self::route) would. With `block` a full queue makes this wait.
    ///
    /// Appends to `refused`, in batch order, the index of each event some sink's queue did not
    /// take, with the same reason [`route`](Self::route) gives. `scratch` is reused between
    /// calls, so a batch allocates nothing.
    pub async fn route_batch(
        &self,
        events: &[Arc<Event>],
        scratch: &mut RouteScratch,
        refused: &mut Vec<(usize, String)>,
    ) {
        let RouteScratch { selected, indexes, outcomes, matched, refusals } = scratch;
        self.seen.record_batch(events);
        matched.clear();
        matched.resize(events.len(), false);
        refusals.clear();
        for (route_index, route) in self.routes.iter().enumerate() {
            indexes.clear();
            indexes.extend(events.iter().enumerate().filter(|(_, event)| route.filter.accepts(event)).map(|(i, _)| i));
            if indexes.is_empty() {
                continue;
            }
            // Usually every event matches: the batch goes as it is.
            let batch = if indexes.len() == events.len() {
                events
            } else {
                selected.clear();
                selected.extend(indexes.iter().filter_map(|&i| events.get(i).cloned()));
                selected.as_slice()
            };
            for &i in indexes.iter() {
                if let Some(matched) = matched.get_mut(i) {
                    *matched = true;
                }
            }
            SinkStats::add(&route.stats.received, batch.len() as u64);
            outcomes.clear();
            route.queue.push_batch(batch, outcomes).await;
            for (outcome, &event_index) in outcomes.iter().zip(indexes.iter()) {
                let (counter, reason, lost) = match *outcome {
                    Push::Queued => continue,
                    Push::QueuedDroppingOldest(n) => (&route.stats.dropped_oldest, "queue full, dropped oldest", n),
                    Push::DroppedNewest => {
                        refusals.push((event_index, route_index));
                        (&route.stats.dropped_newest, "queue full, dropped newest", 1)
                    }
                    Push::Closed => {
                        refusals.push((event_index, route_index));
                        (&route.stats.dropped_shutdown, "shutting down, dropped", 1)
                    }
                };
                SinkStats::add(counter, lost as u64);
                if let Some(suppressed) = route.drop_log.allow() {
                    warn!(sink = %route.name, dropped = lost, suppressed_messages = suppressed, total = SinkStats::get(counter), "{reason}");
                }
            }
            selected.clear();
        }
        for (event, _) in events.iter().zip(matched.iter()).filter(|(_, matched)| !**matched) {
            SinkStats::add(&self.unrouted, 1);
            if let Some(suppressed) = self.unrouted_log.allow() {
                warn!(
                    event_type = event.event_type(),
                    suppressed_messages = suppressed,
                    total = self.unrouted(),
                    "event matches no sink and is not forwarded"
                );
            }
        }
        if refusals.is_empty() {
            return;
        }
        // Per event, the sinks in config order (a stable sort keeps route order).
        refusals.sort_by_key(|&(event_index, _)| event_index);
        for group in refusals.chunk_by(|a, b| a.0 == b.0) {
            let names: Vec<&str> = group
                .iter()
                .filter_map(|&(_, route_index)| self.routes.get(route_index).map(|route| route.name.as_str()))
                .collect();
            refused.push((
                group[0].0,
                format!("not queued for sink(s) {}: queue full or shutting down", names.join(", ")),
            ));
        }
    }
}

/// Buffers [`Router::route_batch`] reuses from one batch to the next.
#[derive(Debug, Default)]
pub struct RouteScratch {
    /// The events of a batch that one sink's filter takes, when that is not all of them.
    selected: Vec<Arc<Event>>,
    /// Their indexes in the batch.
    indexes: Vec<usize>,
    outcomes: Vec<Push>,
    /// Whether any sink took each event.
    matched: Vec<bool>,
    /// (event index, route index) of every refusal.
    refusals: Vec<(usize, usize)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::Timestamp;

    fn event(kind: &str, severity: &str) -> Event {
        let line = format!(r#"{{"event":"{kind}","severity":"{severity}"}}"#);
        Event::decode(line.as_bytes(), Timestamp::now()).expect("valid")
    }

    #[test]
    fn filters_by_type_glob_and_minimum_severity() {
        let filter = Filter::new(vec![Glob::new("finding_*"), Glob::new("critical_finding")], 4);
        assert!(filter.accepts(&event("finding_added", "medium")));
        assert!(filter.accepts(&event("critical_finding", "critical")));
        assert!(!filter.accepts(&event("finding_added", "low")));
        assert!(!filter.accepts(&event("scan_started", "critical")));
        assert!(Filter::new(vec![Glob::new("*")], 0).accepts(&event("anything", "info")));
    }
}
