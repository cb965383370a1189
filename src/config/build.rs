//! Validation: turns the parsed file into a runtime [`Config`], checking every value once.
//!
//! Each `build_*` function destructures its input completely (`let SinkFile { a, b, .. }` is
//! never used), so a new config field that is not handled here fails to compile.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::encoder::{build_encoder, format_defaults, FormatKeys};
use super::file::{
    ConfigFile, ControlFile, ControlTlsFile, EgressFile, InputFile, QueueFile, RetentionFile, SeverityValue, SinkFile,
    TlsFile, TokenFile,
};
use super::http::{build_http, HttpKeys};
use super::kafka::{build_kafka, KafkaKeys};
use super::limits::{check_holds_header, message_limit};
use super::{Config, ConfigError, InputConfig, SinkConfig};
use super::{ControlConfig, ControlTcp, QueueKind, StoreConfig};
use crate::control::auth::{group_id, own_uid, AccessPolicy, Role, Token};
use crate::encode::rfc5424;
use crate::encode::syslog::is_printusascii;
use crate::glob::Glob;
use crate::queue::disk::SyncPolicy;
use crate::queue::{Limits, WhenFull};
use crate::router::Filter;
use crate::severity::{Level, Severity};
use crate::sink::worker::framing_for;
use crate::transport::egress::{Cidr, EgressPolicy};
use crate::transport::tls::{parse_pin, TlsSettings};
use crate::transport::{Endpoint, Framing};

/// Collects the origin so every error can name the file.
pub(super) struct Context<'a> {
    origin: &'a str,
    /// Relative file paths in the config (secrets, tokens, certificates) are taken relative to
    /// the config file's directory.
    base_dir: Option<&'a Path>,
}

impl Context<'_> {
    /// `path` as written, or joined to the config file's directory when relative.
    pub(super) fn path(&self, path: PathBuf) -> PathBuf {
        match self.base_dir {
            Some(base) if path.is_relative() => base.join(path),
            _ => path,
        }
    }

    pub(super) fn error(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError { origin: self.origin.to_owned(), line: None, key: key.into(), message: message.into() }
    }
}

/// Reads a secret from an owner-only file (a token, a password): its text, surrounding
/// whitespace removed. Errors name the file and `key`, never the content.
pub(super) fn read_private_text(cx: &Context<'_>, key: &str, path: &Path) -> Result<String, ConfigError> {
    let full = cx.path(path.to_owned());
    let cannot_read = |e: std::io::Error| cx.error(key, format!("cannot read {}: {}", path.display(), e.kind()));
    if let Err(exposed) = crate::private_file::check_private(&full).map_err(cannot_read)? {
        return Err(cx.error(key, format!("secret file {}: {exposed}", full.display())));
    }
    let bytes = std::fs::read(&full).map_err(cannot_read)?;
    // The error of a failed conversion would carry the bytes: dropped here.
    let text = String::from_utf8(bytes).map_err(|_| cx.error(key, format!("{} is not UTF-8 text", full.display())))?;
    Ok(text.trim().to_owned())
}

pub fn build(
    text: &str,
    origin: &str,
    base_dir: Option<&Path>,
    dynamic_sinks: &[String],
) -> Result<Config, ConfigError> {
    let file = parse_toml(text, origin)?;
    // The same text as plain TOML values, to fingerprint each sink's table.
    let raw: toml::Table = toml::from_str(text).unwrap_or_default();
    let cx = Context { origin, base_dir };
    let ConfigFile { hostname, data_dir, shutdown_timeout_ms, input, egress, control, event_types, sinks } = file;
    let data_dir = match data_dir {
        Some(dir) => cx.path(dir),
        None if origin == super::EMBEDDED_ORIGIN => std::env::temp_dir().join("siem-relay"),
        None => std::env::var_os("STATE_DIRECTORY")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/lib/siem-relay")),
    };

    let hostname = match hostname {
        Some(name) if is_printusascii(&name, rfc5424::HOSTNAME_MAX) => name,
        Some(name) => {
            return Err(cx.error(
                "hostname",
                format!("expected 1-255 printable ASCII characters without spaces, found {name:?}"),
            ))
        }
        None => system_hostname(),
    };
    let input = build_input(&cx, input)?;
    let control = build_control(&cx, control, &input.socket)?;
    let egress = Arc::new(build_egress(&cx, egress)?);
    // Without sinks every event would go nowhere; that is a valid start only when sinks can be
    // added at run time (a package's default config, for one).
    if sinks.is_empty() && control.sinks_dir.is_none() {
        return Err(cx.error(
            "sinks",
            "expected at least one [sinks.NAME] table (or control.sinks_dir, to add sinks at run time)",
        ));
    }
    let sinks = sinks
        .into_iter()
        .map(|(name, sink)| {
            let raw_sink = raw.get("sinks").and_then(|sinks| sinks.get(&name));
            let dynamic = dynamic_sinks.contains(&name);
            let globals = Globals { hostname: &hostname, egress: &egress, data_dir: &data_dir };
            build_sink(&cx, &globals, name, sink, raw_sink, dynamic).map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Config {
        hostname,
        shutdown_timeout: Duration::from_millis(shutdown_timeout_ms),
        input,
        control,
        event_types,
        sinks,
    })
}

/// Deserializes strictly, reporting the key path (via `serde_path_to_error`) and line.
fn parse_toml(text: &str, origin: &str) -> Result<ConfigFile, ConfigError> {
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let key = error.path().to_string();
        let inner = error.into_inner();
        let line = inner.span().map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        ConfigError {
            origin: origin.to_owned(),
            line,
            key: if key == "." { String::new() } else { key },
            message: inner.message().trim().to_owned(),
        }
    })
}

fn build_input(cx: &Context<'_>, input: InputFile) -> Result<InputConfig, ConfigError> {
    let InputFile { socket, socket_mode, max_event_bytes, max_clients, idle_timeout_ms } = input;
    let socket = match socket {
        Some(path) if path.as_os_str().is_empty() => return Err(cx.error("input.socket", "expected a socket path")),
        Some(path) => path,
        None => super::paths::default_event_socket(),
    };
    let socket_mode = u32::from_str_radix(&socket_mode, 8).ok().filter(|mode| *mode <= 0o777).ok_or_else(|| {
        cx.error("input.socket_mode", format!("expected octal permission bits such as \"0660\", found {socket_mode:?}"))
    })?;
    if !(1..=16 * 1024 * 1024).contains(&max_event_bytes) {
        return Err(cx.error("input.max_event_bytes", format!("expected 1 to 16777216 bytes, found {max_event_bytes}")));
    }
    if max_clients == 0 {
        return Err(cx.error("input.max_clients", "expected at least 1"));
    }
    let idle_timeout = (idle_timeout_ms > 0).then(|| Duration::from_millis(idle_timeout_ms));
    Ok(InputConfig { socket, socket_mode, max_event_bytes, max_clients, idle_timeout })
}

fn build_control(cx: &Context<'_>, control: ControlFile, input_socket: &Path) -> Result<ControlConfig, ConfigError> {
    let ControlFile {
        socket,
        socket_mode,
        admin_group,
        viewer_group,
        metrics_listen,
        sinks_dir,
        max_sinks,
        listen,
        console_listen,
        tls,
        tokens,
    } = control;
    let socket_is_explicit = socket.is_some();
    let socket = socket.map(|p| cx.path(p)).unwrap_or_else(|| super::paths::default_control_socket(input_socket));
    let mode_text = socket_mode.unwrap_or_else(|| "0660".to_owned());
    let socket_mode = u32::from_str_radix(&mode_text, 8).ok().filter(|mode| *mode <= 0o777).ok_or_else(|| {
        cx.error("control.socket_mode", format!("expected octal permission bits such as \"0660\", found {mode_text:?}"))
    })?;
    let group = |key: &str, name: Option<String>| match name {
        None => Ok(None),
        Some(name) => {
            group_id(&name).map(Some).ok_or_else(|| cx.error(key, format!("no group named {name:?} in /etc/group")))
        }
    };
    let access = AccessPolicy {
        admin_gid: group("control.admin_group", admin_group)?,
        viewer_gid: group("control.viewer_group", viewer_group)?,
        own_uid: own_uid(),
    };
    let metrics_listen = metrics_listen
        .map(|text| {
            text.parse::<std::net::SocketAddr>().map_err(|_| {
                cx.error(
                    "control.metrics_listen",
                    format!("expected an address such as 127.0.0.1:9464, found {text:?}"),
                )
            })
        })
        .transpose()?;
    let max_sinks = max_sinks.unwrap_or(64);
    if max_sinks == 0 {
        return Err(cx.error("control.max_sinks", "expected at least 1"));
    }
    let tcp = build_control_tcp(cx, listen, console_listen, tls, tokens)?;
    Ok(ControlConfig {
        tcp,
        socket,
        socket_is_explicit,
        socket_mode,
        access,
        metrics_listen,
        sinks_dir: sinks_dir.map(|p| cx.path(p)),
        max_sinks,
    })
}

/// The TCP listeners of the control API: `control.listen` (TLS) and `control.console_listen`
/// (the console; TLS when `control.tls` is set, plain HTTP on loopback only), both authorised
/// by `control.tokens`.
fn build_control_tcp(
    cx: &Context<'_>,
    listen: Option<String>,
    console_listen: Option<String>,
    tls: Option<ControlTlsFile>,
    tokens: Vec<TokenFile>,
) -> Result<Option<ControlTcp>, ConfigError> {
    let address = |key: &str, text: String, example: &str| {
        text.parse::<std::net::SocketAddr>()
            .map_err(|_| cx.error(key, format!("expected an address such as {example}, found {text:?}")))
    };
    let listen = listen.map(|text| address("control.listen", text, "127.0.0.1:9443")).transpose()?;
    let console_listen =
        console_listen.map(|text| address("control.console_listen", text, "127.0.0.1:9465")).transpose()?;
    if listen.is_none() && console_listen.is_none() {
        if tls.is_some() || !tokens.is_empty() {
            return Err(cx.error(
                "control.listen",
                "control.tls and control.tokens need control.listen or control.console_listen",
            ));
        }
        return Ok(None);
    }
    if listen.is_some() && tls.is_none() {
        return Err(cx.error(
            "control.tls",
            "the TCP listener needs { cert_file, key_file }: tokens never travel in clear text",
        ));
    }
    if let Some(console) = console_listen.filter(|address| !address.ip().is_loopback() && tls.is_none()) {
        return Err(cx.error(
            "control.console_listen",
            format!(
                "{console} is not a loopback address: serving the console there needs control.tls (HTTPS), since \
                 tokens never travel in clear text over a network"
            ),
        ));
    }
    if tokens.is_empty() {
        return Err(cx.error(
            "control.tokens",
            "the TCP listeners need at least one token: [{ sha256 = \"...\", role = \"viewer\" }]",
        ));
    }
    let tls = tls.map(|tls| control_tls_config(cx, tls)).transpose()?;
    let tokens = tokens
        .into_iter()
        .enumerate()
        .map(|(index, TokenFile { sha256, role, name })| {
            let key = format!("control.tokens[{index}]");
            let hash = crate::transport::tls::parse_pin(&sha256).ok_or_else(|| {
                cx.error(format!("{key}.sha256"), "expected the token's SHA-256 as 64 hex digits (sha256sum prints it)")
            })?;
            let role = match role.as_str() {
                "admin" => Role::Admin,
                "viewer" => Role::Viewer,
                other => {
                    return Err(
                        cx.error(format!("{key}.role"), format!("expected \"admin\" or \"viewer\", found {other:?}"))
                    )
                }
            };
            Ok(Token { sha256: hash, role, name: name.unwrap_or_else(|| format!("token {index}")) })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(ControlTcp { listen, console_listen, tls, tokens }))
}

/// The TLS server configuration of the control listeners.
fn control_tls_config(cx: &Context<'_>, tls: ControlTlsFile) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
    use rustls::pki_types::pem::PemObject;
    let ControlTlsFile { cert_file, key_file } = tls;
    let (cert_file, key_file) = (cx.path(cert_file), cx.path(key_file));
    let chain = rustls::pki_types::CertificateDer::pem_file_iter(&cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|_| {
            cx.error("control.tls.cert_file", format!("cannot read PEM certificates from {}", cert_file.display()))
        })?;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&key_file).map_err(|_| {
        cx.error("control.tls.key_file", format!("cannot read a PEM private key from {}", key_file.display()))
    })?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| cx.error("control.tls", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| cx.error("control.tls.key_file", format!("certificate and key do not fit together: {e}")))?;
    Ok(Arc::new(config))
}

fn system_hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = name.trim();
    if is_printusascii(name, rfc5424::HOSTNAME_MAX) {
        name.to_owned()
    } else {
        "localhost".to_owned()
    }
}

fn build_egress(cx: &Context<'_>, egress: EgressFile) -> Result<EgressPolicy, ConfigError> {
    let EgressFile { allow } = egress;
    let allow = allow
        .iter()
        .enumerate()
        .map(|(index, text)| {
            text.parse::<Cidr>().map_err(|e| cx.error(format!("egress.allow[{index}]"), e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(EgressPolicy::new(allow))
}

/// What identifies a sink's configuration: its TOML table, the global settings it depends on,
/// and the content of the files it reads. Equal fingerprints mean a reload can keep the sink
/// running as it is.
fn fingerprint(raw_sink: Option<&toml::Value>, hostname: &str, egress: &EgressPolicy, files: &[PathBuf]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(serde_json::to_vec(&raw_sink).unwrap_or_default());
    hash.update(hostname.as_bytes());
    for cidr in egress.allow() {
        hash.update(cidr.to_string().as_bytes());
    }
    for path in files {
        hash.update(path.as_os_str().as_encoded_bytes());
        hash.update(std::fs::read(path).unwrap_or_default());
    }
    hash.finalize().into()
}

/// Settings outside `[sinks.NAME]` that every sink depends on.
struct Globals<'a> {
    hostname: &'a str,
    egress: &'a Arc<EgressPolicy>,
    data_dir: &'a Path,
}

fn build_sink(
    cx: &Context<'_>,
    globals: &Globals<'_>,
    name: String,
    sink: SinkFile,
    raw_sink: Option<&toml::Value>,
    dynamic: bool,
) -> Result<SinkConfig, ConfigError> {
    let Globals { hostname, egress: egress_policy_of_config, data_dir } = *globals;
    let SinkFile {
        format,
        url,
        framing,
        events,
        min_severity,
        facility,
        app_name,
        sd_id,
        sd_fields,
        sd_original_host,
        message,
        max_message_bytes,
        connect_timeout_ms,
        backoff_initial_ms,
        backoff_max_ms,
        queue,
        tls,
        cef_version,
        device_vendor,
        device_product,
        device_version,
        cef_severity,
        syslog_header,
        mapping,
        default_mapping,
        leef_version,
        leef_delimiter,
        retention,
        relp_window,
        relp_timeout_ms,
        key: record_key,
        compression,
        linger_ms,
        batch_bytes,
        acks,
        kafka_timeout_ms,
        sasl,
        egress_policy,
        timeout_ms,
        retry_count,
        retry_after_max_ms,
        concurrency,
        rate_limit,
        failure_threshold,
        cooldown_ms,
        cooldown_max_ms,
        deactivate_after_ms,
        history_size,
        dead_letter_max,
        headers,
        event_header,
        delivery_id_header,
        secret,
        secret_file,
        signature,
        signature_header,
        token,
        token_file,
        gzip,
        batch,
        hec,
        fields,
    } = sink;
    let key = |field: &str| format!("sinks.{name}.{field}");
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(cx.error(format!("sinks.{name}"), "sink names may use only letters, digits, '_' and '-'"));
    }

    let kafka_keys = KafkaKeys { key: record_key, compression, linger_ms, batch_bytes, acks, kafka_timeout_ms, sasl };
    // Files whose content is part of the sink: a reload re-reads them, and a change in them
    // counts as a change of the sink.
    let referenced_files: Vec<PathBuf> = tls
        .iter()
        .flat_map(|t| [t.ca_file.clone(), t.cert_file.clone(), t.key_file.clone()])
        .chain([secret_file.clone(), token_file.clone(), kafka_keys.password_file()])
        .flatten()
        .map(|p| cx.path(p))
        .collect();
    let endpoint = Endpoint::parse(&url).map_err(|reason| cx.error(key("url"), reason))?;
    // Kafka records and stores hold the json envelope unless told otherwise; every other sink
    // names its wire format.
    let format = match (format, &endpoint) {
        (Some(format), _) => format,
        (None, Endpoint::Kafka(_) | Endpoint::Store) => "json".to_owned(),
        (None, _) => {
            return Err(cx.error(
                key("format"),
                "missing: expected a format such as \"rfc5424\", \"cef\", \"leef\" or (for webhooks) \"json\"",
            ))
        }
    };
    if let Endpoint::File(path) = &endpoint {
        // Caught here (by `check`, at start and on reload) rather than as a failing write loop.
        let dir = path.parent().unwrap_or(Path::new("/"));
        if !dir.is_dir() {
            return Err(cx.error(
                key("url"),
                format!("the directory of {} does not exist: expected an existing directory", path.display()),
            ));
        }
    }
    let framing = match (framing, &endpoint) {
        (None, _) => framing_for(&endpoint, Framing::OctetCounting),
        (Some(text), Endpoint::Tcp(_) | Endpoint::Tls(_)) => {
            let framing = Framing::parse(&text)
                .ok_or_else(|| cx.error(key("framing"), format!("expected {}, found {text:?}", Framing::NAMES)))?;
            framing_for(&endpoint, framing)
        }
        (Some(_), other) => {
            return Err(cx.error(
                key("framing"),
                format!("framing applies to tcp:// and tls:// sinks only, not {}", other.kind()),
            ))
        }
    };

    let filter = build_filter(cx, &name, events, min_severity)?;
    let rfc3164_header = format == "rfc3164"
        || (matches!(format.as_str(), "cef" | "leef") && syslog_header.as_deref() == Some("rfc3164"));
    let max_bytes = message_limit(cx, &name, max_message_bytes, &format, rfc3164_header, &endpoint)?;
    let format_name = format.clone();
    let format_keys = FormatKeys {
        format,
        facility,
        app_name,
        sd_id,
        sd_fields,
        sd_original_host,
        message,
        cef_version,
        device_vendor,
        device_product,
        device_version,
        cef_severity,
        syslog_header,
        mapping,
        default_mapping,
        leef_version,
        leef_delimiter,
        hec,
        fields,
    };
    let format_defaults = format_defaults(&format_keys.format);
    let encoder = build_encoder(cx, &name, hostname, format_keys, max_bytes, &endpoint)?;
    check_holds_header(cx, &name, max_bytes, max_message_bytes.is_some(), &encoder)?;

    let chat = matches!(format_name.as_str(), "slack" | "teams");
    let (limits, when_full, queue_kind) = build_queue(
        cx,
        &name,
        queue,
        if chat { "drop_oldest" } else { "block" },
        // A store keeps events durably; its queue does too, so an acknowledged event
        // reaches the store even across kill -9.
        if endpoint == Endpoint::Store { "disk" } else { "memory" },
        data_dir,
    )?;
    let store = build_store(cx, &name, retention, &endpoint, data_dir)?;
    let tls = match (tls, &endpoint) {
        (Some(tls), Endpoint::Tls(target) | Endpoint::Relp(target)) => Some(build_tls(cx, &name, tls, &target.host)?),
        (tls, Endpoint::Kafka(target)) if target.tls => {
            let tls = tls.unwrap_or_default();
            if tls.server_name.is_some() {
                return Err(cx.error(
                    key("tls.server_name"),
                    "does not apply to kafka sinks: each broker is checked against the host name it is reached by",
                ));
            }
            let first = target.brokers.first().map_or("", |broker| broker.host.as_str());
            Some(build_tls(cx, &name, tls, first)?)
        }
        (None, Endpoint::Tls(target)) => Some(build_tls(cx, &name, TlsFile::default(), &target.host)?),
        (Some(tls), Endpoint::Http(url)) if url.is_https() => Some(build_tls(cx, &name, tls, url.host())?),
        (None, Endpoint::Http(url)) if url.is_https() => Some(build_tls(cx, &name, TlsFile::default(), url.host())?),
        (Some(_), other) => {
            return Err(cx.error(
                key("tls"),
                format!(
                    "TLS settings apply to tls://, relp://, kafkas:// and https:// sinks only, not {}",
                    other.kind()
                ),
            ))
        }
        (None, _) => None,
    };
    let positive = |field: &str, value: u64| {
        if value == 0 {
            Err(cx.error(key(field), "expected a positive number of milliseconds"))
        } else {
            Ok(Duration::from_millis(value))
        }
    };
    let connect_timeout = positive("connect_timeout_ms", connect_timeout_ms)?;
    let backoff_initial = positive("backoff_initial_ms", backoff_initial_ms)?;
    let backoff_max = positive("backoff_max_ms", backoff_max_ms)?;
    if backoff_max < backoff_initial {
        return Err(cx.error(
            key("backoff_max_ms"),
            format!("expected at least backoff_initial_ms ({backoff_initial_ms}), found {backoff_max_ms}"),
        ));
    }
    if matches!(endpoint, Endpoint::Kafka(_)) && (dynamic || egress_policy.is_some()) {
        // The client connects to whichever brokers the cluster's metadata names, which the
        // policy never sees: a Kafka sink is for operators' own config files only.
        let field = if dynamic { "url" } else { "egress_policy" };
        return Err(cx.error(
            key(field),
            "the egress policy cannot check the brokers a Kafka cluster advertises: kafka sinks are configured \
             in the config file, not through the control API",
        ));
    }
    // Sinks created through the control API always go through the egress policy.
    let egress_policy = match (dynamic, egress_policy) {
        (true, Some(false)) => {
            return Err(
                cx.error(key("egress_policy"), "sinks created through the control API always apply the egress policy")
            )
        }
        (true, _) if matches!(endpoint, Endpoint::Tcp(_) | Endpoint::Tls(_) | Endpoint::Udp(_) | Endpoint::Relp(_)) => {
            Some(true)
        }
        (_, setting) => setting,
    };
    let egress = match (&endpoint, egress_policy) {
        (Endpoint::Http(_), Some(_)) => {
            return Err(cx.error(key("egress_policy"), "webhook sinks always apply the [egress] policy"))
        }
        (Endpoint::Http(_), None) => Some(egress_policy_of_config.clone()),
        (Endpoint::Tcp(_) | Endpoint::Tls(_) | Endpoint::Udp(_) | Endpoint::Relp(_), Some(true)) => {
            Some(egress_policy_of_config.clone())
        }
        (Endpoint::Tcp(_) | Endpoint::Tls(_) | Endpoint::Udp(_) | Endpoint::Relp(_), _) => None,
        (other, Some(_)) => {
            return Err(cx.error(key("egress_policy"), format!("applies to network sinks only, not {}", other.kind())))
        }
        (_, None) => None,
    };
    let relp = match (&endpoint, relp_window, relp_timeout_ms) {
        (Endpoint::Relp(_), window, timeout_ms) => {
            use crate::sink::relp::{DEFAULT_TIMEOUT_MS, DEFAULT_WINDOW, MAX_WINDOW};
            let window = window.unwrap_or(DEFAULT_WINDOW);
            if !(1..=MAX_WINDOW).contains(&window) {
                return Err(cx.error(key("relp_window"), format!("expected 1 to {MAX_WINDOW}, found {window}")));
            }
            let timeout_ms = timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
            if !(100..=3_600_000).contains(&timeout_ms) {
                return Err(cx.error(key("relp_timeout_ms"), format!("expected 100 to 3600000, found {timeout_ms}")));
            }
            Some(crate::sink::relp::RelpSettings { window, answer_timeout: Duration::from_millis(timeout_ms) })
        }
        (other, Some(_), _) | (other, _, Some(_)) => {
            let field = if relp_window.is_some() { "relp_window" } else { "relp_timeout_ms" };
            return Err(cx.error(key(field), format!("applies to relp:// sinks only, not {}", other.kind())));
        }
        (_, None, None) => None,
    };
    let kafka = build_kafka(cx, &name, &endpoint, kafka_keys)?;
    let http_keys = HttpKeys {
        timeout_ms,
        retry_count,
        retry_after_max_ms,
        concurrency,
        rate_limit,
        failure_threshold,
        cooldown_ms,
        cooldown_max_ms,
        deactivate_after_ms,
        history_size,
        dead_letter_max,
        headers,
        event_header,
        delivery_id_header,
        secret,
        secret_file,
        signature,
        signature_header,
        token,
        token_file,
        gzip,
        batch,
    };
    let http = match (&endpoint, &egress) {
        (Endpoint::Http(url), Some(policy)) => {
            if let Some(ip) = url.literal_ip() {
                policy.check(ip).map_err(|denied| cx.error(key("url"), format!("egress policy: {denied}")))?;
            }
            let settings = build_http(
                cx,
                &name,
                url.clone(),
                http_keys,
                format_defaults,
                tls.as_ref(),
                policy.clone(),
                connect_timeout,
            )?;
            Some(Arc::new(settings))
        }
        _ => match http_keys.set_keys().first() {
            Some(field) => {
                return Err(cx
                    .error(key(field), format!("applies to http:// and https:// sinks only, not {}", endpoint.kind())))
            }
            None => None,
        },
    };
    let fingerprint = fingerprint(raw_sink, hostname, egress_policy_of_config, &referenced_files);
    Ok(SinkConfig {
        dynamic,
        fingerprint,
        name,
        endpoint,
        encoder,
        framing,
        filter,
        limits,
        when_full,
        queue_kind,
        connect_timeout,
        backoff_initial,
        backoff_max,
        tls,
        http,
        relp,
        kafka,
        store,
        egress,
    })
}

fn build_filter(
    cx: &Context<'_>,
    name: &str,
    events: Vec<String>,
    min_severity: Option<SeverityValue>,
) -> Result<Filter, ConfigError> {
    if events.is_empty() || events.iter().any(String::is_empty) {
        return Err(cx.error(
            format!("sinks.{name}.events"),
            "expected a list of non-empty event-type patterns, e.g. [\"finding_*\"]",
        ));
    }
    let min_score = match min_severity {
        None => 0,
        Some(SeverityValue::Name(text)) => text
            .parse::<Level>()
            .map(Level::min_score)
            .map_err(|e| cx.error(format!("sinks.{name}.min_severity"), e.to_string()))?,
        Some(SeverityValue::Score(score)) => u8::try_from(score)
            .ok()
            .and_then(|score| Severity::from_score(score).ok())
            .map(Severity::score)
            .ok_or_else(|| {
                cx.error(
                    format!("sinks.{name}.min_severity"),
                    format!("expected a name or an integer 0-10, found {score}"),
                )
            })?,
    };
    Ok(Filter::new(events.iter().map(|pattern| Glob::new(pattern)).collect(), min_score))
}

fn build_queue(
    cx: &Context<'_>,
    name: &str,
    queue: QueueFile,
    default_when_full: &str,
    default_kind: &str,
    data_dir: &Path,
) -> Result<(Limits, WhenFull, QueueKind), ConfigError> {
    let QueueFile { kind, max_events, max_bytes, when_full, sync } = queue;
    let key = |field: &str| format!("sinks.{name}.queue.{field}");
    let kind = kind.unwrap_or_else(|| default_kind.to_owned());
    let queue_kind = match (kind.as_str(), sync) {
        ("memory", None) => QueueKind::Memory,
        ("memory", Some(_)) => return Err(cx.error(key("sync"), "applies to kind = \"disk\" only")),
        ("disk", sync) => {
            let text = sync.unwrap_or_else(|| "batch".to_owned());
            let sync = SyncPolicy::parse(&text)
                .ok_or_else(|| cx.error(key("sync"), format!("expected {}, found {text:?}", SyncPolicy::NAMES)))?;
            QueueKind::Disk { dir: data_dir.join(name), sync }
        }
        (other, _) => return Err(cx.error(key("kind"), format!("expected \"memory\" or \"disk\", found {other:?}"))),
    };
    if max_events == 0 {
        return Err(cx.error(key("max_events"), "expected at least 1"));
    }
    if max_bytes == 0 {
        return Err(cx.error(key("max_bytes"), "expected at least 1"));
    }
    let when_full = when_full.unwrap_or_else(|| default_when_full.to_owned());
    let when_full = WhenFull::parse(&when_full)
        .ok_or_else(|| cx.error(key("when_full"), format!("expected {}, found {when_full:?}", WhenFull::NAMES)))?;
    Ok((Limits { max_events, max_bytes }, when_full, queue_kind))
}

/// The retained store of a `url = "store"` sink, in `data_dir/NAME/store/`.
fn build_store(
    cx: &Context<'_>,
    name: &str,
    retention: Option<RetentionFile>,
    endpoint: &Endpoint,
    data_dir: &Path,
) -> Result<Option<StoreConfig>, ConfigError> {
    use crate::store::Retention;
    let key = |field: &str| format!("sinks.{name}.retention.{field}");
    match (endpoint, retention) {
        (Endpoint::Store, retention) => {
            let RetentionFile { max_events, max_bytes, max_age_ms } =
                retention.unwrap_or(RetentionFile { max_events: None, max_bytes: None, max_age_ms: None });
            let positive = |field: &str, value: Option<u64>, default: u64| match value.unwrap_or(default) {
                0 => Err(cx.error(key(field), "expected at least 1")),
                value => Ok(value),
            };
            let retention = Retention {
                max_events: positive("max_events", max_events, Retention::DEFAULT_MAX_EVENTS)?,
                max_bytes: positive("max_bytes", max_bytes, Retention::DEFAULT_MAX_BYTES)?,
                max_age: Duration::from_millis(positive("max_age_ms", max_age_ms, Retention::DEFAULT_MAX_AGE_MS)?),
            };
            Ok(Some(StoreConfig { dir: data_dir.join(name).join("store"), retention }))
        }
        (other, Some(_)) => Err(cx.error(
            format!("sinks.{name}.retention"),
            format!("applies to url = \"store\" sinks only, not {}", other.kind()),
        )),
        (_, None) => Ok(None),
    }
}

fn build_tls(
    cx: &Context<'_>,
    name: &str,
    tls: TlsFile,
    url_host: &str,
) -> Result<crate::transport::tls::TlsClient, ConfigError> {
    let TlsFile { ca_file, cert_file, key_file, server_name, verify_hostname, pin_sha256, handshake_timeout_ms } = tls;
    let key = |field: &str| format!("sinks.{name}.tls.{field}");
    let pins = pin_sha256
        .map(|pins| pins.into_vec())
        .unwrap_or_default()
        .iter()
        .map(|text| {
            parse_pin(text).ok_or_else(|| {
                cx.error(key("pin_sha256"), format!("expected 64 hex digits (colons allowed), found {text:?}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if handshake_timeout_ms == 0 {
        return Err(cx.error(key("handshake_timeout_ms"), "expected a positive number of milliseconds"));
    }
    let settings = TlsSettings {
        ca_file: ca_file.map(|p| cx.path(p)),
        cert_file: cert_file.map(|p| cx.path(p)),
        key_file: key_file.map(|p| cx.path(p)),
        server_name,
        verify_hostname,
        pins,
        handshake_timeout: Duration::from_millis(handshake_timeout_ms),
    };
    settings.build(url_host).map_err(|error| {
        let field = if error.key == "url" { format!("sinks.{name}.url") } else { key(error.key) };
        cx.error(field, error.message)
    })
}

impl Default for TlsFile {
    fn default() -> Self {
        TlsFile {
            ca_file: None,
            cert_file: None,
            key_file: None,
            server_name: None,
            verify_hostname: true,
            pin_sha256: None,
            handshake_timeout_ms: super::file::defaults::HANDSHAKE_TIMEOUT_MS,
        }
    }
}
