//! Delivery into a pull-mode store: each encoded envelope of a batch is appended to the sink's
//! store, written and fsynced before the batch leaves the queue. A store that cannot be written
//! (a full disk) is retried with backoff, like a receiver that is down: the queue holds the
//! events meanwhile, under its `when_full` policy.

use std::sync::Arc;

use super::stats::SinkStats;
use super::worker::{Batch, Shared};
use crate::queue::AckToken;
use crate::store::Store;

pub(super) struct StoreDelivery {
    pub(super) shared: Shared,
    pub(super) store: Arc<Store>,
}

impl StoreDelivery {
    pub(super) async fn deliver(&mut self, batch: Batch, token: AckToken) {
        let batch = Arc::new(batch);
        loop {
            let (store, appending) = (self.store.clone(), batch.clone());
            let started = std::time::Instant::now();
            let appended = tokio::task::spawn_blocking(move || {
                let mut start = 0;
                let envelopes: Vec<&[u8]> = appending
                    .ends
                    .iter()
                    .map(|&end| {
                        let envelope = &appending.bytes[start..end];
                        start = end;
                        envelope
                    })
                    .collect();
                store.append(&envelopes)
            })
            .await;
            match appended {
                Ok(Ok(stored)) => {
                    self.shared.stats.latency.observe(started.elapsed());
                    self.shared.succeeded();
                    SinkStats::add(&self.shared.stats.delivered, stored as u64);
                    self.shared.queue.ack(token);
                    return;
                }
                Ok(Err(error)) => {
                    SinkStats::add(&self.shared.stats.send_failures, 1);
                    self.shared
                        .failed(&format!("cannot append to the store in {}", self.store.dir().display()), error)
                        .await;
                }
                Err(error) => self.shared.failed("the store append task failed", error).await,
            }
        }
    }
}
