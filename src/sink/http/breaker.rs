//! The circuit breaker of a webhook sink.
//!
//! Closed: deliveries flow. After `failure_threshold` consecutive failed attempts it opens:
//! deliveries pause (events keep queueing under the sink's `when_full` policy). After the
//! cooldown one probe goes through (half-open): success closes it, failure opens it again with
//! the cooldown doubled (up to `cooldown_max`). If failures have gone on for longer than
//! `deactivate_after`, or the receiver answered 410 Gone, the sink is deactivated until it is
//! enabled again, which also resets the counters.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{info, warn};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    pub failure_threshold: u32,
    pub cooldown: Duration,
    pub cooldown_max: Duration,
    pub deactivate_after: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
    Deactivated,
}

impl BreakerState {
    /// As a number for metrics: 0 closed, 1 half-open, 2 open, 3 deactivated.
    pub fn gauge(self) -> u8 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
            BreakerState::Deactivated => 3,
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive_failures: u32,
    /// When the current run of failures began.
    failing_since: Option<Instant>,
    open_until: Instant,
    cooldown: Duration,
    /// A half-open probe is under way; other attempts wait for its outcome.
    probing: bool,
    /// Why the sink was deactivated.
    reason: Option<String>,
}

/// What [`Breaker::admit`] lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Normal,
    /// The one attempt that decides whether a half-open breaker closes.
    Probe,
}

#[derive(Debug)]
pub struct Breaker {
    sink: String,
    settings: BreakerSettings,
    inner: Mutex<Inner>,
    changed: Notify,
}

impl Breaker {
    pub fn new(sink: &str, settings: BreakerSettings) -> Self {
        Breaker {
            sink: sink.to_owned(),
            settings,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive_failures: 0,
                failing_since: None,
                open_until: Instant::now(),
                cooldown: settings.cooldown,
                probing: false,
                reason: None,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn state(&self) -> BreakerState {
        self.lock().state
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.lock().consecutive_failures
    }

    /// Why the sink is deactivated, if it is.
    pub fn deactivation_reason(&self) -> Option<String> {
        self.lock().reason.clone()
    }

    /// Waits until an attempt may be made.
    pub async fn admit(&self) -> Admission {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let wait_until = {
                let mut inner = self.lock();
                match inner.state {
                    BreakerState::Closed => return Admission::Normal,
                    BreakerState::Open if Instant::now() >= inner.open_until => {
                        inner.state = BreakerState::HalfOpen;
                        inner.probing = true;
                        info!(sink = %self.sink, "circuit half-open: sending a probe");
                        return Admission::Probe;
                    }
                    BreakerState::HalfOpen if !inner.probing => {
                        inner.probing = true;
                        return Admission::Probe;
                    }
                    BreakerState::Open => Some(inner.open_until),
                    BreakerState::HalfOpen | BreakerState::Deactivated => None,
                }
            };
            match wait_until {
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = &mut changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    pub fn record_success(&self) {
        let mut inner = self.lock();
        let was = inner.state;
        inner.consecutive_failures = 0;
        inner.failing_since = None;
        inner.probing = false;
        if matches!(was, BreakerState::Open | BreakerState::HalfOpen) {
            inner.state = BreakerState::Closed;
            inner.cooldown = self.settings.cooldown;
            info!(sink = %self.sink, "circuit closed: deliveries succeed again");
            drop(inner);
            self.changed.notify_waiters();
        }
    }

    pub fn record_failure(&self) {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
        let since = *inner.failing_since.get_or_insert(now);
        let was = inner.state;
        inner.probing = false;
        if was == BreakerState::Deactivated {
            return;
        }
        if now.duration_since(since) >= self.settings.deactivate_after {
            let reason = format!("deliveries have failed for {:?}", now.duration_since(since));
            drop(inner);
            self.deactivate(&reason);
            return;
        }
        let open = match was {
            BreakerState::HalfOpen => {
                inner.cooldown = (inner.cooldown * 2).min(self.settings.cooldown_max);
                true
            }
            BreakerState::Closed => inner.consecutive_failures >= self.settings.failure_threshold,
            _ => false,
        };
        if open {
            inner.state = BreakerState::Open;
            inner.open_until = now + inner.cooldown;
            warn!(sink = %self.sink, failures = inner.consecutive_failures, cooldown = ?inner.cooldown, "circuit open: deliveries paused");
        }
        drop(inner);
        self.changed.notify_waiters();
    }

    /// Stops deliveries until [`enable`](Self::enable) is called.
    pub fn deactivate(&self, reason: &str) {
        let mut inner = self.lock();
        if inner.state != BreakerState::Deactivated {
            warn!(sink = %self.sink, "sink deactivated: {reason}; events queue until it is enabled again");
        }
        inner.state = BreakerState::Deactivated;
        inner.probing = false;
        inner.reason = Some(reason.to_owned());
        drop(inner);
        self.changed.notify_waiters();
    }

    /// Re-activates the sink and resets its failure counters.
    pub fn enable(&self) {
        let mut inner = self.lock();
        inner.state = BreakerState::Closed;
        inner.consecutive_failures = 0;
        inner.failing_since = None;
        inner.cooldown = self.settings.cooldown;
        inner.probing = false;
        inner.reason = None;
        info!(sink = %self.sink, "sink enabled");
        drop(inner);
        self.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(
            "test",
            BreakerSettings {
                failure_threshold: 3,
                cooldown: Duration::from_secs(10),
                cooldown_max: Duration::from_secs(30),
                deactivate_after: Duration::from_secs(3600),
            },
        )
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_the_threshold_and_probes_after_the_cooldown() {
        let breaker = breaker();
        for _ in 0..2 {
            assert_eq!(breaker.admit().await, Admission::Normal);
            breaker.record_failure();
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.record_failure();
        assert_eq!(breaker.state(), BreakerState::Open);
        let start = Instant::now();
        assert_eq!(breaker.admit().await, Admission::Probe);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        // A failed probe doubles the cooldown.
        breaker.record_failure();
        assert_eq!(breaker.state(), BreakerState::Open);
        let start = Instant::now();
        assert_eq!(breaker.admit().await, Admission::Probe);
        assert_eq!(start.elapsed(), Duration::from_secs(20));
        breaker.record_success();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.consecutive_failures(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_cooldown_is_capped() {
        let breaker = breaker();
        for _ in 0..3 {
            breaker.record_failure();
        }
        for expected in [10, 20, 30, 30] {
            let start = Instant::now();
            assert_eq!(breaker.admit().await, Admission::Probe);
            assert_eq!(start.elapsed(), Duration::from_secs(expected));
            breaker.record_failure();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn long_failure_deactivates_until_enabled() {
        let breaker = breaker();
        breaker.record_failure();
        tokio::time::advance(Duration::from_secs(3601)).await;
        breaker.record_failure();
        assert_eq!(breaker.state(), BreakerState::Deactivated);
        assert!(breaker.deactivation_reason().is_some());
        let waiting = tokio::spawn(async move {
            let admitted = breaker.admit().await;
            (admitted, breaker)
        });
        tokio::time::sleep(Duration::from_secs(100_000)).await;
        assert!(!waiting.is_finished(), "a deactivated sink admits nothing");
        waiting.abort();
    }

    #[tokio::test]
    async fn enable_resets_everything() {
        let breaker = breaker();
        breaker.deactivate("410 Gone");
        breaker.enable();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.consecutive_failures(), 0);
        assert_eq!(breaker.admit().await, Admission::Normal);
    }
}
