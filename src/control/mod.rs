//! The control API: HTTP/1.1 with JSON over a Unix socket, versioned under `/v1`, with access
//! decided by the caller's peer credentials, or over TCP by bearer tokens (`auth.rs`).
//! `api.rs` answers requests, `server.rs` accepts connections, `console.rs` serves the
//! operator console's page, `rates.rs` keeps each sink's recent rates, `client.rs` is the other
//! end for `siem-relay ctl`.

pub mod api;
pub mod auth;
pub mod client;
pub mod console;
pub mod pull;
pub mod rates;
pub mod server;
pub mod sinks;
