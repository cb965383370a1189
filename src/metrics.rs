//! Prometheus metrics: every counter the pipeline keeps, read at scrape time and written in the
//! Prometheus text format by `prometheus-client` (names, help, types and label escaping).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::input::InputStats;
use crate::router::Router;
use crate::sink::SinkStats;

/// Outcomes of configuration reloads.
#[derive(Debug, Default)]
pub struct ReloadStats {
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
}

/// What the metrics are read from.
#[derive(Debug, Clone)]
pub struct MetricsSource {
    pub router: Arc<arc_swap::ArcSwap<Router>>,
    pub input: Arc<InputStats>,
    pub reloads: Arc<ReloadStats>,
}

/// Renders every metric in the Prometheus text exposition format.
pub fn render(source: &MetricsSource) -> String {
    let mut registry = Registry::with_prefix("siem_relay");
    registry.register_collector(Box::new(source.clone()));
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    text
}

type Labels<'a> = [(&'static str, &'a str)];

fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    values: &[(&Labels<'_>, u64)],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in values {
        // An unlabelled metric is written without `{}`.
        if labels.is_empty() {
            ConstCounter::new(*value).encode(family)?;
            return Ok(());
        }
        ConstCounter::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    values: &[(&Labels<'_>, i64)],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in values {
        if labels.is_empty() {
            ConstGauge::new(*value).encode(family)?;
            return Ok(());
        }
        ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

impl Collector for MetricsSource {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let router = self.router.load();
        let routes = router.routes();
        let get = SinkStats::get;
        let per_sink =
            |read: &dyn Fn(&SinkStats) -> u64| -> Vec<u64> { routes.iter().map(|r| read(&r.stats)).collect() };
        let labels: Vec<[(&'static str, &str); 1]> = routes.iter().map(|r| [("sink", r.name.as_str())]).collect();
        let sink_counter =
            |encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, read: &dyn Fn(&SinkStats) -> u64| {
                let values = per_sink(read);
                let pairs: Vec<(&Labels<'_>, u64)> = labels.iter().map(|l| &l[..]).zip(values).collect();
                counter(encoder, name, help, &pairs)
            };
        sink_counter(&mut encoder, "sink_events_received", "Events routed to the sink.", &|s| get(&s.received))?;
        sink_counter(
            &mut encoder,
            "sink_events_delivered",
            "Events the receiver confirmed (TCP acknowledgement, RELP 200, Kafka acks, 2xx) or that were written.",
            &|s| get(&s.delivered),
        )?;
        sink_counter(&mut encoder, "sink_events_resent", "Events sent again after a broken connection.", &|s| {
            get(&s.resent)
        })?;
        sink_counter(
            &mut encoder,
            "sink_delivery_retries",
            "Webhook and Kafka produce attempts repeated after a retryable failure.",
            &|s| get(&s.retries),
        )?;
        sink_counter(&mut encoder, "sink_events_failed", "Events given up and kept as dead letters.", &|s| {
            get(&s.dead_lettered)
        })?;
        sink_counter(&mut encoder, "sink_messages_truncated", "Messages cut to a length limit.", &|s| {
            get(&s.truncated)
        })?;
        sink_counter(
            &mut encoder,
            "sink_messages_sanitized",
            "Messages with characters the format cannot carry written as spaces (RFC 3164, CEF, LEEF).",
            &|s| get(&s.sanitized),
        )?;
        sink_counter(
            &mut encoder,
            "sink_fields_invalid",
            "CEF and LEEF fields left out for a value of the wrong type.",
            &|s| get(&s.invalid_fields),
        )?;
        sink_counter(&mut encoder, "sink_connect_failures", "Failed connection attempts.", &|s| {
            get(&s.connect_failures)
        })?;
        sink_counter(&mut encoder, "sink_send_failures", "Writes that failed on an open connection.", &|s| {
            get(&s.send_failures)
        })?;
        sink_counter(&mut encoder, "sink_disconnects", "Connections the receiver closed or broke.", &|s| {
            get(&s.disconnects)
        })?;

        let mut dropped = Vec::new();
        for route in routes {
            for (reason, value) in [
                ("queue_full_newest", get(&route.stats.dropped_newest)),
                ("queue_full_oldest", get(&route.stats.dropped_oldest)),
                ("shutdown", get(&route.stats.dropped_shutdown)),
                ("unsendable", get(&route.stats.dropped_unsendable)),
            ] {
                dropped.push(([("sink", route.name.as_str()), ("reason", reason)], value));
            }
        }
        let pairs: Vec<(&Labels<'_>, u64)> = dropped.iter().map(|(l, v)| (&l[..], *v)).collect();
        counter(
            &mut encoder,
            "sink_events_dropped",
            "Events dropped, by reason (queue policy, shutdown deadline, refused by the transport).",
            &pairs,
        )?;

        let depth: Vec<(usize, usize)> = routes.iter().map(|r| r.queue.depth()).collect();
        let pairs: Vec<(&Labels<'_>, i64)> =
            labels.iter().map(|l| &l[..]).zip(depth.iter().map(|d| d.0 as i64)).collect();
        gauge(&mut encoder, "sink_queue_events", "Events waiting in the sink's queue.", &pairs)?;
        let pairs: Vec<(&Labels<'_>, i64)> =
            labels.iter().map(|l| &l[..]).zip(depth.iter().map(|d| d.1 as i64)).collect();
        gauge(&mut encoder, "sink_queue_bytes", "Bytes waiting in the sink's queue.", &pairs)?;
        let in_flight: Vec<i64> = routes.iter().map(|r| get(&r.stats.in_flight) as i64).collect();
        let pairs: Vec<(&Labels<'_>, i64)> = labels.iter().map(|l| &l[..]).zip(in_flight.iter().copied()).collect();
        gauge(
            &mut encoder,
            "sink_events_in_flight",
            "Events sent and awaiting the receiver's confirmation (Kafka: produced, not yet acknowledged).",
            &pairs,
        )?;

        // Pull-mode stores: what they keep and what retention and id checks removed.
        let stores: Vec<(&Labels<'_>, &crate::store::Store)> =
            routes.iter().zip(&labels).filter_map(|(r, l)| r.store.as_deref().map(|s| (&l[..], s))).collect();
        let kept: Vec<(&Labels<'_>, i64)> = stores.iter().map(|(l, s)| (*l, s.size().0 as i64)).collect();
        gauge(&mut encoder, "store_events", "Events a pull-mode store keeps.", &kept)?;
        let kept: Vec<(&Labels<'_>, i64)> = stores.iter().map(|(l, s)| (*l, s.size().1 as i64)).collect();
        gauge(&mut encoder, "store_bytes", "Bytes of the records a pull-mode store keeps.", &kept)?;
        let expired: Vec<(&Labels<'_>, u64)> = stores.iter().map(|(l, s)| (*l, get(&s.stats.expired))).collect();
        counter(&mut encoder, "store_events_expired", "Events a store's retention removed.", &expired)?;
        let duplicates: Vec<(&Labels<'_>, u64)> = stores.iter().map(|(l, s)| (*l, get(&s.stats.duplicates))).collect();
        counter(&mut encoder, "store_events_duplicate", "Events not stored: their id was kept already.", &duplicates)?;

        let breakers: Vec<(&Labels<'_>, i64)> = routes
            .iter()
            .zip(&labels)
            .filter_map(|(r, l)| r.http.as_ref().map(|h| (&l[..], i64::from(h.breaker.state().gauge()))))
            .collect();
        gauge(
            &mut encoder,
            "sink_breaker_state",
            "Webhook circuit breaker: 0 closed, 1 half-open, 2 open, 3 deactivated.",
            &breakers,
        )?;

        let mut family = encoder.encode_descriptor(
            "sink_delivery_latency_seconds",
            "Time per delivery: a stream batch written, a webhook attempt answered, a Kafka produce acknowledged, a file write.",
            None,
            MetricType::Histogram,
        )?;
        for (route, l) in routes.iter().zip(&labels) {
            route.stats.latency.0.encode(family.encode_family(l)?)?;
        }

        let input = &self.input;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter(&mut encoder, "input_connections", "Client connections accepted.", &[(&[], load(&input.connections))])?;
        counter(
            &mut encoder,
            "input_connections_refused",
            "Clients turned away at max_clients.",
            &[(&[], load(&input.connections_refused))],
        )?;
        gauge(
            &mut encoder,
            "input_connections_active",
            "Clients connected now.",
            &[(&[], load(&input.active) as i64)],
        )?;
        counter(&mut encoder, "input_lines_accepted", "Lines decoded into events.", &[(&[], load(&input.accepted))])?;
        let rejected: Vec<([(&'static str, &str); 1], u64)> =
            input.rejected().map(|(reason, n)| ([("reason", reason)], n)).collect();
        let pairs: Vec<(&Labels<'_>, u64)> = rejected.iter().map(|(l, v)| (&l[..], *v)).collect();
        counter(&mut encoder, "input_lines_rejected", "Lines rejected, by reason.", &pairs)?;
        counter(&mut encoder, "events_unrouted", "Events that matched no sink.", &[(&[], router.unrouted())])?;
        let reloads = [
            ([("outcome", "success")], load(&self.reloads.succeeded)),
            ([("outcome", "failure")], load(&self.reloads.failed)),
        ];
        let pairs: Vec<(&Labels<'_>, u64)> = reloads.iter().map(|(l, v)| (&l[..], *v)).collect();
        counter(&mut encoder, "config_reloads", "Configuration reloads, by outcome.", &pairs)?;
        Ok(())
    }
}
