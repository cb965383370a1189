//! Input: the Unix stream socket agents write NDJSON events to.
//!
//! `listener.rs` binds the socket safely (stale files replaced, live ones never stolen),
//! `connection.rs` reads bounded lines from one client, decodes and routes them, and answers
//! rejected lines; `stats.rs` counts what happened.

pub mod connection;
pub mod listener;
pub mod stats;

pub use listener::{adopt, bind, serve, BoundSocket};
pub use stats::InputStats;
