//! siem-relay: forwards security events written as NDJSON to a Unix socket to SIEMs, as RFC 5424
//! or RFC 3164 syslog over UDP, TCP or TLS, with a bounded queue and a declared overflow policy
//! per sink.
//!
//! The pipeline: `input` (socket, framing, decoding into [`event::Event`]) -> `router` (per-sink
//! filters, shared fan-out) -> `queue` (bounded, `when_full` policy) -> `sink` worker (`encode`,
//! `transport`, reconnects, at-least-once re-sending; `store` keeps events for pull mode).
//! `daemon` wires it together from a validated `config`.

// Unsafe code is denied everywhere; the one exception (an ioctl in `transport::outq`) carries
// its own `allow` and a SAFETY comment.
#![deny(unsafe_code)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

pub mod client;
pub mod config;
pub mod control;
pub mod ctl;
pub mod daemon;
pub mod encode;
pub mod event;
pub mod glob;
pub mod input;
pub mod logging;
pub mod manual;
pub mod metrics;
pub mod pipeline;
pub mod private_file;
pub mod pull;
pub mod queue;
pub mod ratelimit;
pub mod router;
pub mod severity;
pub mod sink;
pub mod store;
pub mod systemd;
pub mod timestamp;
pub mod transport;
