//! Webhook sinks: the delivery loop for `http://` and `https://` URLs.
//!
//! Each delivery (one event, or a Splunk HEC batch) is encoded once, then attempted until it
//! succeeds or is given up: success is a 2xx only; 408, 429, 5xx and network errors are retried
//! with exponential backoff and jitter (honouring `Retry-After`, clamped); redirects and other
//! 4xx are not retried; 410 Gone deactivates the sink. Every attempt passes the circuit breaker
//! and the rate limit first and is recorded in the delivery history. A delivery that is given up
//! goes to the sink's dead letters. Up to `concurrency` deliveries run at once.

pub mod breaker;
pub mod dead_letter;
pub mod history;
pub mod rate_limit;
pub mod sign;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use self::breaker::{Breaker, BreakerSettings};
use self::dead_letter::{DeadLetter, DeadLetters};
use self::history::{Attempt, DeliveryHistory};
use self::rate_limit::TokenBucket;
use self::sign::SigningScheme;
use super::backoff::Backoff;
use super::stats::{EncodeTally, SinkStats};
use crate::config::SinkConfig;
use crate::event::Event;
use crate::queue::{AckToken, SinkQueue};
use crate::ratelimit::LogLimiter;
use crate::timestamp::Timestamp;
use crate::transport::http::{HttpClient, HttpError, Response};

/// How events are grouped into requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    pub max_events: usize,
    pub max_bytes: usize,
    /// How long a partial batch waits for more events.
    pub max_linger: Duration,
    /// The body is a JSON array of the encoded events (`json`); otherwise the encoded events
    /// are concatenated (Splunk HEC).
    pub json_array: bool,
}

/// A webhook sink's delivery settings, validated when the config is built.
#[derive(Debug)]
pub struct HttpSettings {
    pub client: HttpClient,
    pub content_type: &'static str,
    pub event_header: HeaderName,
    pub delivery_id_header: HeaderName,
    /// Custom headers and credentials (marked sensitive, so they never print).
    pub static_headers: HeaderMap,
    pub signing: Option<SigningScheme>,
    /// Each request's timeout (the client enforces it; kept here to report it).
    pub timeout: Duration,
    pub retry_count: u32,
    pub retry_after_max: Duration,
    pub concurrency: usize,
    /// Requests per second and burst.
    pub rate_limit: Option<(f64, u32)>,
    pub breaker: BreakerSettings,
    pub history_size: usize,
    pub dead_letter_max: usize,
    /// `None`: one event per request.
    pub batching: Option<Batching>,
    pub gzip: bool,
}

/// The run-time state of a webhook sink that operators can see and act on.
#[derive(Debug)]
pub struct HttpSinkState {
    pub breaker: Breaker,
    pub history: DeliveryHistory,
    pub dead_letters: DeadLetters,
    rate: Option<TokenBucket>,
    give_up_log: LogLimiter,
}

impl HttpSinkState {
    pub fn new(sink: &str, settings: &HttpSettings) -> Self {
        HttpSinkState {
            breaker: Breaker::new(sink, settings.breaker),
            history: DeliveryHistory::new(settings.history_size),
            dead_letters: DeadLetters::new(settings.dead_letter_max),
            rate: settings.rate_limit.map(|(per_second, burst)| TokenBucket::new(per_second, burst)),
            give_up_log: LogLimiter::default(),
        }
    }
}

/// How one attempt ended.
enum Verdict {
    Delivered,
    /// Worth trying again, not before the given delay (from `Retry-After`).
    Retry(Option<Duration>),
    /// Never worth repeating (a redirect, a 4xx, an egress denial).
    Fail,
    /// 410 Gone: the receiver is gone for good.
    Gone,
}

fn verdict(result: &Result<Response, HttpError>) -> Verdict {
    match result {
        Ok(response) => match response.status {
            200..=299 => Verdict::Delivered,
            410 => Verdict::Gone,
            408 | 429 | 500..=599 => Verdict::Retry(response.retry_after),
            _ => Verdict::Fail,
        },
        Err(HttpError::Egress(_)) => Verdict::Fail,
        Err(_) => Verdict::Retry(None),
    }
}

/// Runs a webhook sink until its queue is closed and drained, or `abort` fires; deliveries
/// still under way then are counted in `dropped_shutdown`. When `handover` fires (a reload
/// replaces the sink), it stops taking events, lets deliveries under way finish for a while, and
/// returns the events of those that did not, for its successor.
pub async fn run(
    config: Arc<SinkConfig>,
    queue: Arc<SinkQueue>,
    stats: Arc<SinkStats>,
    state: Arc<HttpSinkState>,
    abort: CancellationToken,
    handover: CancellationToken,
) -> Vec<Arc<Event>> {
    let Some(settings) = config.http.clone() else { unreachable!("webhook sinks are built with HTTP settings") };
    let slots = Arc::new(Semaphore::new(settings.concurrency));
    // Events of the deliveries under way, by delivery number, so nothing in flight is lost on
    // a handover or goes uncounted at shutdown.
    let in_flight: Arc<Mutex<InFlight>> = Arc::default();
    let mut next_delivery = 0u64;
    let mut deliveries = JoinSet::new();
    let (max_events, max_bytes) = settings.batching.map_or((1, usize::MAX), |b| (b.max_events, b.max_bytes));
    loop {
        let slot = tokio::select! {
            biased;
            () = abort.cancelled() => break,
            () = handover.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let mut events = Vec::new();
        let popped = tokio::select! {
            biased;
            () = abort.cancelled() => break,
            () = handover.cancelled() => break,
            popped = queue.pop_batch(max_events, max_bytes, &mut events) => popped,
        };
        let Some(mut token) = popped else { break };
        if let Some(batching) = settings.batching {
            token = linger(&queue, &mut events, batching, &abort).await.unwrap_or(token);
        }
        while deliveries.try_join_next().is_some() {}
        let number = next_delivery;
        next_delivery += 1;
        lock(&in_flight).started(number, events.clone(), token);
        let delivery =
            Delivery { config: config.clone(), settings: settings.clone(), state: state.clone(), stats: stats.clone() };
        let (in_flight, queue) = (in_flight.clone(), queue.clone());
        deliveries.spawn(async move {
            delivery.deliver(events).await;
            // Delivered or kept as a dead letter: either way the queue may let it go, in order.
            let token = lock(&in_flight).finished(number);
            queue.ack(token);
            drop(slot);
        });
    }
    let all_done = async { while deliveries.join_next().await.is_some() {} };
    if handover.is_cancelled() && !abort.is_cancelled() {
        let _ = tokio::time::timeout(super::worker::HANDOVER_SETTLE, all_done).await;
        deliveries.shutdown().await;
        return lock(&in_flight).take_unfinished();
    }
    tokio::select! {
        biased;
        () = abort.cancelled() => {}
        () = all_done => {}
    }
    deliveries.shutdown().await;
    let unfinished = lock(&in_flight).take_unfinished().len();
    // A disk queue keeps everything not acknowledged for the next start.
    let left = if queue.is_durable() { 0 } else { queue.discard_at_shutdown() + unfinished };
    SinkStats::add(&stats.dropped_shutdown, left as u64);
    if left > 0 {
        warn!(sink = %config.name, undelivered = left, "shutdown deadline passed with events undelivered");
    }
    Vec::new()
}

/// Deliveries under way, by number. Deliveries finish out of order (concurrency), but a queue
/// is acknowledged in order: up to the last delivery before the oldest unfinished one.
#[derive(Debug, Default)]
struct InFlight {
    deliveries: BTreeMap<u64, (Vec<Arc<Event>>, AckToken, bool)>,
}

impl InFlight {
    fn started(&mut self, number: u64, events: Vec<Arc<Event>>, token: AckToken) {
        self.deliveries.insert(number, (events, token, false));
    }

    /// Marks delivery `number` finished; returns the token that acknowledges every delivery
    /// finished without an unfinished one before it.
    fn finished(&mut self, number: u64) -> AckToken {
        if let Some(entry) = self.deliveries.get_mut(&number) {
            entry.2 = true;
        }
        let mut token = None;
        while let Some(entry) = self.deliveries.first_entry() {
            if !entry.get().2 {
                break;
            }
            token = entry.remove().1.or(token);
        }
        token
    }

    /// The events of every unfinished delivery, oldest first (and forgets them).
    fn take_unfinished(&mut self) -> Vec<Arc<Event>> {
        std::mem::take(&mut self.deliveries)
            .into_values()
            .filter(|(_, _, done)| !done)
            .flat_map(|(events, _, _)| events)
            .collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits up to `max_linger` for a partial batch to fill; returns the token of the last batch
/// read, if more were read.
async fn linger(
    queue: &SinkQueue,
    events: &mut Vec<Arc<Event>>,
    batching: Batching,
    abort: &CancellationToken,
) -> Option<AckToken> {
    let deadline = tokio::time::Instant::now() + batching.max_linger;
    let mut bytes: usize = events.iter().map(|e| e.wire_size()).sum();
    let mut last = None;
    while events.len() < batching.max_events && bytes < batching.max_bytes {
        let mut more = Vec::new();
        let room = batching.max_bytes - bytes;
        let popped = tokio::select! {
            biased;
            () = abort.cancelled() => return last,
            () = tokio::time::sleep_until(deadline) => return last,
            popped = queue.pop_batch(batching.max_events - events.len(), room, &mut more) => popped,
        };
        let Some(token) = popped else { return last };
        last = Some(token);
        // pop_batch always takes at least one event: stop if that one overshot the byte budget.
        bytes += more.iter().map(|e| e.wire_size()).sum::<usize>();
        events.append(&mut more);
    }
    last
}

/// Everything one delivery needs.
#[derive(Clone)]
struct Delivery {
    config: Arc<SinkConfig>,
    settings: Arc<HttpSettings>,
    state: Arc<HttpSinkState>,
    stats: Arc<SinkStats>,
}

impl Delivery {
    /// Encodes `events` into one body (concatenated, or a JSON array, for batches), gzipped
    /// when configured.
    fn body(&self, events: &[Arc<Event>]) -> Bytes {
        let json_array = self.settings.batching.is_some_and(|batching| batching.json_array);
        let mut body = Vec::with_capacity(events.iter().map(|event| event.wire_size() + 128).sum());
        let mut tally = EncodeTally::default();
        if json_array {
            body.push(b'[');
        }
        for (n, event) in events.iter().enumerate() {
            if json_array && n > 0 {
                body.push(b',');
            }
            tally.add(self.config.encoder.encode(event, &mut body));
        }
        if json_array {
            body.push(b']');
        }
        self.stats.count_encoded(tally);
        if self.settings.gzip {
            use std::io::Write as _;
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
            // Writing into a Vec cannot fail.
            if encoder.write_all(&body).is_ok() {
                if let Ok(compressed) = encoder.finish() {
                    return Bytes::from(compressed);
                }
            }
        }
        Bytes::from(body)
    }

    fn headers(&self, event_type: &str, delivery_id: &str, body: &[u8]) -> HeaderMap {
        let settings = &self.settings;
        let mut headers = settings.static_headers.clone();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(settings.content_type));
        if settings.gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        if let Ok(value) = HeaderValue::from_str(event_type) {
            headers.insert(settings.event_header.clone(), value);
        }
        if let Ok(value) = HeaderValue::from_str(delivery_id) {
            headers.insert(settings.delivery_id_header.clone(), value);
        }
        if let Some(signing) = &settings.signing {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
            // Signing only fails for an id with a '.', which generated ids never have.
            for (name, value) in signing.sign(delivery_id, now, body).unwrap_or_default() {
                if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value))
                {
                    headers.insert(name, value);
                }
            }
        }
        headers
    }

    /// One attempt: sends and records it in the history.
    async fn attempt(
        &self,
        events: &[Arc<Event>],
        delivery_id: &str,
        number: u32,
        body: &Bytes,
        test: bool,
    ) -> (Result<Response, HttpError>, Attempt) {
        let event_type = events.first().map_or("", |e| e.event_type());
        let headers = self.headers(event_type, delivery_id, body);
        let time = Timestamp::now().to_string();
        let started = Instant::now();
        let result = self.settings.client.post(headers, body.clone()).await;
        let latency = started.elapsed();
        self.stats.latency.observe(latency);
        let (status, error, response) = match &result {
            Ok(r) => (Some(r.status), None, String::from_utf8_lossy(&r.body_prefix).into_owned()),
            Err(e) => (None, Some(e.to_string()), String::new()),
        };
        let attempt = Attempt {
            time,
            event_ids: events.iter().map(|e| e.id().to_owned()).collect(),
            delivery_id: delivery_id.to_owned(),
            attempt: number,
            status,
            error,
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            success: matches!(verdict(&result), Verdict::Delivered),
            response,
            test,
        };
        self.state.history.record(attempt.clone());
        (result, attempt)
    }

    async fn deliver(&self, events: Vec<Arc<Event>>) {
        let delivery_id = crate::event::new_id();
        let body = self.body(&events);
        let mut backoff = Backoff::new(self.config.backoff_initial, self.config.backoff_max);
        let mut last_error = String::new();
        let attempts = self.settings.retry_count + 1;
        for number in 1..=attempts {
            self.state.breaker.admit().await;
            if let Some(rate) = &self.state.rate {
                rate.acquire().await;
            }
            let (result, attempt) = self.attempt(&events, &delivery_id, number, &body, false).await;
            last_error = attempt.error.clone().unwrap_or_else(|| format!("HTTP {}", attempt.status.unwrap_or(0)));
            if !attempt.success {
                self.stats.set_last_error(&last_error);
            }
            match verdict(&result) {
                Verdict::Delivered => {
                    self.state.breaker.record_success();
                    SinkStats::add(&self.stats.delivered, events.len() as u64);
                    return;
                }
                Verdict::Gone => {
                    self.state.breaker.deactivate("the receiver answered 410 Gone");
                    break;
                }
                Verdict::Fail => {
                    self.state.breaker.record_failure();
                    break;
                }
                Verdict::Retry(after) => {
                    self.state.breaker.record_failure();
                    if number == attempts {
                        break;
                    }
                    SinkStats::add(&self.stats.retries, 1);
                    let delay = backoff.next_delay().max(after.unwrap_or_default().min(self.settings.retry_after_max));
                    tokio::time::sleep(delay).await;
                }
            }
        }
        self.give_up(events, last_error, attempts);
    }

    fn give_up(&self, events: Vec<Arc<Event>>, error: String, attempts: u32) {
        let count = events.len() as u64;
        SinkStats::add(&self.stats.dead_lettered, count);
        if let Some(suppressed) = self.state.give_up_log.allow() {
            warn!(sink = %self.config.name, events = count, suppressed_messages = suppressed, "delivery failed ({error}); kept as dead letter");
        }
        let discarded =
            self.state.dead_letters.push(DeadLetter { events, error, attempts, time: Timestamp::now().to_string() });
        if discarded > 0 {
            warn!(sink = %self.config.name, discarded, "dead letters full: the oldest were discarded");
        }
    }
}

/// Sends a synthetic event through the sink's real format, signing and transport, once, and
/// records the attempt (marked as a test) in the delivery history.
pub async fn test_delivery(config: Arc<SinkConfig>, state: Arc<HttpSinkState>) -> Option<Attempt> {
    let settings = config.http.clone()?;
    let line = br#"{"event":"siem_relay_test","title":"Test delivery from siem-relay","severity":"info","description":"A test event sent by an operator to check this sink."}"#;
    let event = Arc::new(Event::decode(line, Timestamp::now()).ok()?);
    let delivery = Delivery { config, settings, state, stats: Arc::new(SinkStats::default()) };
    let body = delivery.body(std::slice::from_ref(&event));
    let (_, attempt) = delivery.attempt(&[event], &crate::event::new_id(), 1, &body, true).await;
    Some(attempt)
}
