//! Each sink's recent activity for the console and the API: its counters sampled every
//! [`INTERVAL`], kept for [`KEEP`], from which come events/s in and out and the per-interval
//! series of delivered, failed and dropped events.
//!
//! Sampling reads the same lock-free counters the metrics read, once per interval for all
//! sinks; a sink is keyed by its counters (`Arc<SinkStats>`), so a reload that keeps a sink
//! keeps its history and a replaced sink starts afresh.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::router::SharedRouter;
use crate::sink::SinkStats;

/// How often the counters are sampled.
pub const INTERVAL: Duration = Duration::from_secs(2);
/// How much history is kept: ten minutes.
pub const KEEP: usize = 300;
/// Rates are averaged over this many intervals (10 s), so that one batch does not make a spike.
const RATE_INTERVALS: usize = 5;

/// Counter values at one sampling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Sample {
    /// Seconds since the Unix epoch.
    time: u64,
    received: u64,
    delivered: u64,
    /// Failed delivery attempts: connect and send failures, refusals, dead letters.
    failed: u64,
    /// Events dropped by any policy (queue full, shutdown, unsendable).
    dropped: u64,
}

impl Sample {
    fn of(stats: &SinkStats, time: u64) -> Sample {
        let get = SinkStats::get;
        Sample {
            time,
            received: get(&stats.received),
            delivered: get(&stats.delivered),
            failed: get(&stats.connect_failures)
                + get(&stats.send_failures)
                + get(&stats.retries)
                + get(&stats.dead_lettered),
            dropped: get(&stats.dropped_newest)
                + get(&stats.dropped_oldest)
                + get(&stats.dropped_shutdown)
                + get(&stats.dropped_unsendable),
        }
    }
}

/// One sink's counters and their samples, oldest first.
type History = (Arc<SinkStats>, VecDeque<Sample>);

/// The sampled history of every sink.
#[derive(Debug, Default)]
pub struct RateHistory {
    /// Keyed by the counters' address; the entry holds the counters too, so that the address
    /// cannot be reused by another sink while the entry exists.
    by_sink: Mutex<HashMap<usize, History>>,
}

/// A sink's identity in the history: its counters' address (kept alive by the route).
fn key(stats: &Arc<SinkStats>) -> usize {
    Arc::as_ptr(stats) as usize
}

impl RateHistory {
    /// Samples every sink of `router` now; forgets sinks that are gone.
    pub fn sample(&self, router: &SharedRouter) {
        let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let routes = router.load();
        let mut by_sink = self.by_sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let live: Vec<usize> = routes.routes().iter().map(|route| key(&route.stats)).collect();
        by_sink.retain(|sink, _| live.contains(sink));
        for route in routes.routes() {
            let (_, samples) = by_sink
                .entry(key(&route.stats))
                .or_insert_with(|| (route.stats.clone(), VecDeque::with_capacity(KEEP)));
            if samples.len() == KEEP {
                samples.pop_front();
            }
            samples.push_back(Sample::of(&route.stats, time));
        }
    }

    /// Events per second in (routed to the sink) and out (delivered) over the last 10 s, or
    /// since the first sample.
    pub fn rates(&self, stats: &Arc<SinkStats>) -> Value {
        let by_sink = self.by_sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some((_, samples)) = by_sink.get(&key(stats)) else {
            return json!({ "in_per_second": 0.0, "out_per_second": 0.0, "over_seconds": 0 });
        };
        let (Some(last), Some(first)) =
            (samples.back(), samples.iter().rev().nth(RATE_INTERVALS.min(samples.len().saturating_sub(1))))
        else {
            return json!({ "in_per_second": 0.0, "out_per_second": 0.0, "over_seconds": 0 });
        };
        let seconds = last.time.saturating_sub(first.time);
        let per_second = |now: u64, then: u64| {
            if seconds == 0 {
                0.0
            } else {
                ((now.saturating_sub(then)) as f64 / seconds as f64 * 10.0).round() / 10.0
            }
        };
        json!({
            "in_per_second": per_second(last.received, first.received),
            "out_per_second": per_second(last.delivered, first.delivered),
            "over_seconds": seconds,
        })
    }

    /// Per interval over the kept history: events received, delivered, failed and dropped.
    pub fn series(&self, stats: &Arc<SinkStats>) -> Value {
        let by_sink = self.by_sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let points: Vec<Value> = by_sink
            .get(&key(stats))
            .map(|(_, samples)| {
                samples
                    .iter()
                    .zip(samples.iter().skip(1))
                    .map(|(before, after)| {
                        json!({
                            "time": after.time,
                            "received": after.received.saturating_sub(before.received),
                            "delivered": after.delivered.saturating_sub(before.delivered),
                            "failed": after.failed.saturating_sub(before.failed),
                            "dropped": after.dropped.saturating_sub(before.dropped),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        json!({ "interval_seconds": INTERVAL.as_secs(), "points": points })
    }
}

/// Samples every [`INTERVAL`] until `stop` fires.
pub async fn run(history: Arc<RateHistory>, router: SharedRouter, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => history.sample(&router),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_differences_per_interval_and_rates_average_them() {
        let history = RateHistory::default();
        let stats = Arc::new(SinkStats::default());
        {
            let mut by_sink = history.by_sink.lock().expect("lock");
            let samples: VecDeque<Sample> = (0..7u64)
                .map(|i| Sample { time: 100 + 2 * i, received: 10 * i, delivered: 8 * i, failed: i, dropped: 0 })
                .collect();
            by_sink.insert(key(&stats), (stats.clone(), samples));
        }
        let series = history.series(&stats);
        let points = series["points"].as_array().expect("points");
        assert_eq!(points.len(), 6);
        assert_eq!(points[0], json!({ "time": 102, "received": 10, "delivered": 8, "failed": 1, "dropped": 0 }));
        let rates = history.rates(&stats);
        // Over the last 5 intervals (10 s): 50 in, 40 out.
        assert_eq!(rates, json!({ "in_per_second": 5.0, "out_per_second": 4.0, "over_seconds": 10 }));
        assert_eq!(history.rates(&Arc::new(SinkStats::default()))["over_seconds"], 0);
    }
}
