//! Configuration: the TOML file (`file.rs`), its validation into runtime settings (`build.rs`,
//! with each sink's encoder in `encoder.rs`, LEEF's in `leef.rs`) and errors that point at the offending key
//! (`error.rs`).

mod build;
pub mod dropins;
pub mod effective;
mod encoder;
mod error;
pub mod file;
mod http;
mod kafka;
mod leef;
mod limits;
pub mod paths;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use error::ConfigError;

use crate::encode::Encoder;
use crate::queue::{Limits, WhenFull};
use crate::router::Filter;
use crate::sink::http::HttpSettings;
use crate::transport::egress::EgressPolicy;
use crate::transport::tls::TlsClient;
use crate::transport::{Endpoint, Framing};

/// The configuration used when no file is given: one `console` sink, so a newcomer sees events
/// flow at once.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../config/default.toml");
/// How errors name the embedded default.
pub const EMBEDDED_ORIGIN: &str = "<embedded default>";

/// A validated configuration, ready to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// HOSTNAME for events without a `host`.
    pub hostname: String,
    pub shutdown_timeout: Duration,
    pub input: InputConfig,
    pub control: ControlConfig,
    /// Known event types and their descriptions, for the catalogue.
    pub event_types: std::collections::BTreeMap<String, String>,
    pub sinks: Vec<Arc<SinkConfig>>,
}

#[derive(Debug, Clone)]
pub struct ControlConfig {
    pub socket: PathBuf,
    /// Whether `control.socket` was set, rather than derived from the event socket.
    pub socket_is_explicit: bool,
    pub socket_mode: u32,
    pub access: crate::control::auth::AccessPolicy,
    /// Where run-time sinks are kept (`control.sinks_dir`); `None` turns them off.
    pub sinks_dir: Option<PathBuf>,
    /// Most sinks in all (main configuration and run-time) the API lets exist.
    pub max_sinks: usize,
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The TLS listener for bearer tokens, if configured.
    pub tcp: Option<ControlTcp>,
}

/// The control API on TCP, authenticated with bearer tokens: over TLS on `control.listen`, and
/// with the operator console on `control.console_listen` (HTTPS when `control.tls` is set, else
/// plain HTTP, which only a loopback address may use).
#[derive(Clone)]
pub struct ControlTcp {
    pub listen: Option<std::net::SocketAddr>,
    pub console_listen: Option<std::net::SocketAddr>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub tokens: Vec<crate::control::auth::Token>,
}

impl std::fmt::Debug for ControlTcp {
    // The server config holds a private key and tokens are secrets: neither is printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlTcp")
            .field("listen", &self.listen)
            .field("console_listen", &self.console_listen)
            .field("tls", &self.tls.is_some())
            .field("tokens", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct InputConfig {
    pub socket: PathBuf,
    /// Permission bits of the socket file.
    pub socket_mode: u32,
    pub max_event_bytes: usize,
    pub max_clients: usize,
    pub idle_timeout: Option<Duration>,
}

/// Where a sink's queue keeps its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueKind {
    Memory,
    Disk { dir: PathBuf, sync: crate::queue::disk::SyncPolicy },
}

/// One sink, validated: everything static about its output is already built.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// Created through the control API (a drop-in file): it may be changed and deleted there.
    pub dynamic: bool,
    /// Identifies this configuration (TOML, global settings, referenced files): a reload keeps
    /// a sink whose fingerprint did not change.
    pub fingerprint: [u8; 32],
    pub name: String,
    pub endpoint: Endpoint,
    pub encoder: Encoder,
    /// `None` for datagrams; files and the console always use LF.
    pub framing: Option<Framing>,
    pub filter: Filter,
    pub limits: Limits,
    pub when_full: WhenFull,
    /// In memory, or on disk in this sink's own directory.
    pub queue_kind: QueueKind,
    pub connect_timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Present for `tls://` sinks.
    pub tls: Option<TlsClient>,
    /// Present for webhook (`http://`, `https://`) sinks.
    pub http: Option<Arc<HttpSettings>>,
    /// Present for `relp://` sinks.
    pub relp: Option<crate::sink::relp::RelpSettings>,
    /// Present for `kafka://` and `kafkas://` sinks.
    pub kafka: Option<Arc<crate::sink::kafka::KafkaSettings>>,
    /// Present for `url = "store"` sinks: where the store lives and what it keeps.
    pub store: Option<StoreConfig>,
    /// The egress policy this sink's connections are checked against, if any (always for
    /// webhooks; for syslog sinks with `egress_policy = true`).
    pub egress: Option<Arc<EgressPolicy>>,
}

/// A pull-mode store: its directory (`data_dir/NAME/store`) and retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub dir: std::path::PathBuf,
    pub retention: crate::store::Retention,
}

impl Config {
    /// Listens for events on `socket` instead (`--socket`); a control socket that was not set
    /// explicitly moves along with it.
    pub fn override_socket(&mut self, socket: PathBuf) {
        if !self.control.socket_is_explicit {
            self.control.socket = paths::default_control_socket(&socket);
        }
        self.input.socket = socket;
    }

    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
            origin: origin.clone(),
            line: None,
            key: String::new(),
            message: format!("cannot read the file: {error}"),
        })?;
        let merged = dropins::merge(&text, &origin, path.parent())?;
        let names: Vec<String> = merged.dropins.iter().map(|(name, _)| name.clone()).collect();
        let mut config = build::build(&merged.text, &origin, path.parent(), &names)
            .map_err(|e| dropins::locate(e, &merged.dropins))?;
        config.control.sinks_dir = merged.sinks_dir;
        Ok(config)
    }

    /// Reads a configuration file and renders it as the daemon will run it (`check --print`):
    /// defaults filled in, secrets redacted.
    pub fn load_effective(path: &Path) -> Result<(Config, String), ConfigError> {
        let config = Config::load(path)?;
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let merged = dropins::merge(&text, &path.display().to_string(), path.parent())?;
        let rendered = effective::render(&config, &merged.text);
        Ok((config, rendered))
    }

    /// The embedded default configuration.
    pub fn embedded_default() -> Result<Config, ConfigError> {
        Config::parse(EMBEDDED_DEFAULT, EMBEDDED_ORIGIN)
    }

    /// Parses and validates configuration text; `origin` names it in errors. Relative paths
    /// in it are taken relative to the working directory.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        build::build(text, origin, None, &[])
    }
}
