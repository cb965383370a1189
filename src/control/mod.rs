//! The control API: HTTP/1.1 with JSON over a Unix socket, versioned under `/v1`, with access
//! decided by the caller's peer credentials (`auth.rs`). `api.rs` answers requests,
//! `server.rs` accepts connections, `client.rs` is the other end for `siem-relay ctl`.

pub mod api;
pub mod auth;
pub mod client;
pub mod server;
pub mod sinks;
