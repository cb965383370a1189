//! Sink workers: take batches from a sink's queue, encode and frame them, and deliver them over
//! the sink's transport with reconnects, backoff and at-least-once re-sending (`relp.rs` and
//! `kafka/`: with the receiver's own acknowledgements).

pub mod backoff;
pub mod http;
pub mod kafka;
pub mod pause;
pub mod relp;
pub mod stats;
mod store;
pub mod window;
pub mod worker;

pub use stats::SinkStats;
pub use worker::run;
