//! Integration tests: the daemon with real sockets, our own receivers, real rsyslog and
//! syslog-ng, and the CLI. One binary, a module per area.

mod support;

mod backpressure;
mod bad_input;
mod bench_tool;
mod cef;
mod cli;
mod console;
mod console_browser;
mod control;
mod disk_queue;
mod encoding;
mod interop;
mod kafka;
mod leef;
mod limits;
mod paths;
mod pipeline;
mod provisioning;
mod pull;
mod reconnect;
mod reload;
mod relp;
mod rotation;
mod secrets;
mod systemd;
mod tls;
mod webhook;
