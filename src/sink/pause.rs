//! An operator's pause switch for a sink (`siem-relay ctl disable`): the worker stops taking
//! events, which wait in the queue under its `when_full` policy, until it is enabled again.
//! Webhook sinks use their circuit breaker's deactivation instead, which does the same.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct Pause {
    paused: AtomicBool,
    /// Wakes a waiting worker when the switch changes either way.
    changed: Notify,
}

impl Pause {
    pub fn set(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Returns once the sink is not paused.
    pub async fn wait_resumed(&self) {
        self.wait_for(false).await;
    }

    /// Returns once the sink is paused (a worker waiting for events uses it to stop at once).
    pub async fn wait_paused(&self) {
        self.wait_for(true).await;
    }

    async fn wait_for(&self, paused: bool) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.is_paused() == paused {
                return;
            }
            changed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Pause;
    use std::sync::Arc;

    #[tokio::test]
    async fn waits_until_resumed() {
        let pause = Arc::new(Pause::default());
        pause.wait_resumed().await;
        pause.set(true);
        let waiting = tokio::spawn({
            let pause = pause.clone();
            async move { pause.wait_resumed().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        pause.set(false);
        waiting.await.expect("resumed");
    }
}
