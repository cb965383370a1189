//! Real syslog receivers (rsyslog and syslog-ng) for interop integration tests.
//!
//! Include it from an integration test with
//!
//! ```ignore
//! #[path = "support/receivers.rs"]
//! mod receivers;
//! ```
//!
//! Each [`Receiver`] is a foreground child process (`rsyslogd -n` or `syslog-ng -F`) with its
//! own work directory, listening only on `127.0.0.1` on a port picked for it, that writes one
//! JSON object per received message to `records.json` in that directory. [`Receiver::records`]
//! turns those lines into [`Record`]s, field by field as the receiver parsed them.
//!
//! The binaries come from `tests/interop/provision.sh` (rsyslog + rsyslog-gnutls + rsyslog-relp installed
//! from Debian; syslog-ng-core unpacked into `target/interop/syslog-ng` because it conflicts
//! with rsyslog as a package). [`Receiver::start`] runs that script once per test process when
//! a binary is missing; if it is still missing afterwards it panics (where provisioning cannot
//! happen, `build.rs` marks the tests `#[ignore]` instead: skipped visibly, never passed).
//!
//! How the two receivers represent what they got differs; the `Kind::expected_*` helpers and
//! [`Kind::nil`] encode the differences that were measured (see their docs).
//!
//! Only `std` and `serde_json` are used.
#![allow(dead_code)]

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read as _};
use std::net::{TcpListener, UdpSocket};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a receiver gets to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `stop` waits after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts with a fresh port when another process took the chosen one.
const PORT_ATTEMPTS: usize = 8;
/// Version directory of the unpacked syslog-ng-core package.
const SYSLOG_NG_VERSION: &str = "3.38";
/// The receiver's own logs in the work directory: its internal messages, and its stdout+stderr.
const LOG_FILES: [&str; 2] = ["internal.log", "stderr.log"];
/// Name of the JSON lines file in the work directory.
const RECORDS_FILE: &str = "records.json";

/// Which receiver to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// rsyslogd 8.2302 (Debian 12), imtcp/imudp with the built-in RFC 5424 parser,
    /// mmpstrucdata for structured data.
    Rsyslog,
    /// syslog-ng 3.38 (Debian 12), `syslog()` / `network(flags(syslog-protocol))` sources.
    SyslogNg,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Rsyslog, Kind::SyslogNg];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Rsyslog => "rsyslog",
            Kind::SyslogNg => "syslog-ng",
        }
    }

    /// How this receiver reports a NIL (`-`) APP-NAME, PROCID, MSGID or STRUCTURED-DATA:
    /// rsyslog keeps `"-"`, syslog-ng reports `""`.
    ///
    /// A NIL HOSTNAME is different: rsyslog keeps `"-"`, syslog-ng substitutes the
    /// sender's address (`"127.0.0.1"`); see [`Kind::expected_hostname`].
    /// A NIL TIMESTAMP becomes the reception time in both.
    pub fn nil(self) -> &'static str {
        match self {
            Kind::Rsyslog => "-",
            Kind::SyslogNg => "",
        }
    }

    /// The header field (APP-NAME, PROCID, MSGID) as this receiver reports it when `sent`
    /// was sent: `-` becomes [`Kind::nil`]. syslog-ng also truncates APP-NAME to 48,
    /// PROCID to 128 and MSGID to 32 bytes (rsyslog does not); that is not applied here.
    pub fn expected_field(self, sent: &str) -> String {
        if sent == "-" {
            self.nil().to_string()
        } else {
            sent.to_string()
        }
    }

    /// HOSTNAME as reported: a NIL hostname is `"-"` in rsyslog and the sender's
    /// address in syslog-ng (always 127.0.0.1 here).
    pub fn expected_hostname(self, sent: &str) -> String {
        match (self, sent) {
            (Kind::SyslogNg, "-") => "127.0.0.1".to_string(),
            _ => sent.to_string(),
        }
    }

    /// The TIMESTAMP as reported, for a valid RFC 5424 timestamp `sent` (not NIL).
    ///
    /// * rsyslog keeps it verbatim: the fraction digits as sent (`.1`, `.003`, `.000000`,
    ///   none), `Z` stays `Z`, offsets stay as sent.
    /// * syslog-ng (with `frac-digits(6)`, as configured here) always prints exactly six
    ///   fraction digits (padded with zeros, or truncated if more were sent) and prints
    ///   `Z` as `+00:00`; other offsets stay as sent.
    pub fn expected_timestamp(self, sent: &str) -> String {
        match self {
            Kind::Rsyslog => sent.to_string(),
            Kind::SyslogNg => {
                let (main, offset) = if let Some(s) = sent.strip_suffix('Z') {
                    (s, "+00:00".to_string())
                } else if sent.len() >= 6 && matches!(sent.as_bytes()[sent.len() - 6], b'+' | b'-') {
                    (&sent[..sent.len() - 6], sent[sent.len() - 6..].to_string())
                } else {
                    (sent, String::new())
                };
                let (secs, frac) = match main.split_once('.') {
                    Some((s, f)) => (s, f),
                    None => (main, ""),
                };
                let mut frac: String = frac.chars().take(6).collect();
                while frac.len() < 6 {
                    frac.push('0');
                }
                format!("{secs}.{frac}{offset}")
            }
        }
    }

    /// MSG as reported: rsyslog keeps a leading UTF-8 BOM (as U+FEFF), syslog-ng strips it.
    /// Both report an absent MSG as `""`.
    pub fn expected_msg(self, sent: &str) -> String {
        match self {
            Kind::Rsyslog => sent.to_string(),
            Kind::SyslogNg => sent.strip_prefix('\u{feff}').unwrap_or(sent).to_string(),
        }
    }

    /// STRUCTURED-DATA as reported, for a well-formed `sent` SD string.
    ///
    /// * rsyslog: verbatim as sent (`-` for NIL).
    /// * syslog-ng: `""` for NIL; otherwise re-serialised from its parsed pairs: elements in
    ///   order of first appearance, repeated SD-IDs merged, a repeated PARAM-NAME keeps its
    ///   last value, values re-escaped (`"`, `\` and `]` get a backslash; a backslash that
    ///   escaped nothing, like `\n`, is reported doubled: `\\n`). Known syslog-ng 3.38 bug,
    ///   not modelled here: a PARAM-NAME containing `.` is split at its last dot into a bogus
    ///   separate element.
    pub fn expected_structured_data(self, sent: &str) -> String {
        match self {
            Kind::Rsyslog => sent.to_string(),
            Kind::SyslogNg => {
                if sent == "-" {
                    return String::new();
                }
                let mut elements: Vec<(String, Vec<(String, String)>)> = Vec::new();
                for (id, params) in parse_sd(sent).elements {
                    let idx = match elements.iter().position(|(e, _)| *e == id) {
                        Some(i) => i,
                        None => {
                            elements.push((id, Vec::new()));
                            elements.len() - 1
                        }
                    };
                    for (name, value) in params {
                        let ps = &mut elements[idx].1;
                        match ps.iter_mut().find(|(n, _)| *n == name) {
                            Some(p) => p.1 = value,
                            None => ps.push((name, value)),
                        }
                    }
                }
                let mut out = String::new();
                for (id, params) in elements {
                    out.push('[');
                    out.push_str(&id);
                    for (name, value) in params {
                        let _ = write!(out, " {name}=\"{}\"", escape_sd_value(&value));
                    }
                    out.push(']');
                }
                out
            }
        }
    }

    /// The `(sd-id, param-name, value)` triples this receiver reports in
    /// [`Record::sd_params`] for a well-formed `sent` SD string: values unescaped (`\"`,
    /// `\\`, `\]` lose the backslash, any other backslash is kept), one entry per distinct
    /// (sd-id, name) in order of first appearance. For a repeated PARAM-NAME syslog-ng keeps
    /// the last value; rsyslog (mmpstrucdata) keeps only the last element of a repeated
    /// SD-ID and the last value of a repeated PARAM-NAME.
    pub fn expected_sd_params(self, sent: &str) -> Vec<(String, String, String)> {
        let elements = parse_sd(sent).elements;
        let mut out: Vec<(String, String, String)> = Vec::new();
        match self {
            Kind::SyslogNg => {
                for (id, params) in elements {
                    for (name, value) in params {
                        match out.iter_mut().find(|(i, n, _)| *i == id && *n == name) {
                            Some(t) => t.2 = value,
                            None => out.push((id.clone(), name, value)),
                        }
                    }
                }
            }
            Kind::Rsyslog => {
                // Order: first appearance of each (id, name); content: last element per id.
                let mut order: Vec<(String, String)> = Vec::new();
                for (id, params) in &elements {
                    for (name, _) in params {
                        if !order.iter().any(|(i, n)| i == id && n == name) {
                            order.push((id.clone(), name.clone()));
                        }
                    }
                }
                for (id, name) in order {
                    let last = elements.iter().rev().find(|(i, _)| *i == id);
                    if let Some((_, params)) = last {
                        if let Some((_, v)) = params.iter().rev().find(|(n, _)| *n == name) {
                            out.push((id, name, v.clone()));
                        }
                    }
                }
            }
        }
        out
    }
}

/// How the receiver listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// TCP with RFC 6587 octet counting (`LEN SP MSG`).
    /// rsyslog: imtcp, which detects octet counting vs LF per frame on the same port.
    /// syslog-ng: `syslog(transport("tcp"))`, octet counting only.
    TcpOctetCounted,
    /// TCP with LF-terminated frames.
    /// rsyslog: imtcp (same as above). syslog-ng: `network(transport("tcp")
    /// flags(syslog-protocol))`.
    TcpLf,
    /// One message per UDP datagram (RFC 5426).
    Udp,
    /// RFC 5425: TLS, octet-counted frames.
    /// rsyslog: imtcp with the gtls (GnuTLS) stream driver in mode 1, authmode `anon`, or
    /// `x509/certvalid` (client chain must verify against `ca_file`, name not checked)
    /// when `require_client_cert`.
    /// syslog-ng: `syslog(transport("tls"))` with `peer-verify(optional-untrusted)`, or
    /// `required-trusted` when `require_client_cert`.
    Tls { ca_file: PathBuf, cert_file: PathBuf, key_file: PathBuf, require_client_cert: bool },
    /// RELP (rsyslog only: `imrelp` from Debian's rsyslog-relp; syslog-ng has no RELP source).
    /// The main queue is `Direct`, so rsyslog answers `200` only once the message is written
    /// to `records.json`: a `kill -9` then loses nothing it acknowledged.
    Relp,
    /// RELP over TLS (`imrelp` with `tls="on"`, GnuTLS via librelp), which always asks for a
    /// client certificate: `tls.authMode="certvalid"` (the chain must verify against
    /// `ca_file`, the name is not checked).
    RelpTls { ca_file: PathBuf, cert_file: PathBuf, key_file: PathBuf },
}

impl Transport {
    fn is_udp(&self) -> bool {
        matches!(self, Transport::Udp)
    }
}

/// Knobs; `Options::default()` is what [`Receiver::start`] uses.
#[derive(Clone, Debug)]
pub struct Options {
    /// Largest message the receiver accepts (rsyslog `maxMessageSize`, syslog-ng
    /// `log-msg-size`). Default 64 KiB.
    pub max_message_size: usize,
    /// rsyslog only: `parser.escapeControlCharactersOnReceive`. rsyslog's own default is on
    /// (a TAB arrives as `#011`, an LF inside an octet-counted frame as `#012`); the default
    /// here is off, so MSG is reported byte for byte. syslog-ng never escapes.
    pub rsyslog_escape_control_chars: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { max_message_size: 64 * 1024, rsyslog_escape_control_chars: false }
    }
}

/// One message as the receiver reported it.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Which receiver produced it.
    pub kind: Kind,
    /// PRI as the receiver parsed it; `None` when rsyslog rejected it (reported `invld`:
    /// PRI > 191 or not a number). syslog-ng does not range-check (`<999>` gives 999).
    pub pri: Option<u16>,
    /// Facility number (PRI / 8); 255 when the receiver reported it as invalid.
    pub facility: u8,
    /// Severity number (PRI % 8).
    pub severity: u8,
    /// TIMESTAMP as reported; see [`Kind::expected_timestamp`].
    pub timestamp: String,
    pub hostname: String,
    pub app_name: String,
    pub procid: String,
    pub msgid: String,
    /// STRUCTURED-DATA as the receiver reports it (rsyslog: verbatim; syslog-ng:
    /// re-serialised; see [`Kind::expected_structured_data`]).
    pub structured_data: String,
    /// SD parameters as the receiver parsed them (rsyslog: mmpstrucdata `$!rfc5424-sd`;
    /// syslog-ng: `.SDATA.<id>.<name>`), values unescaped, in order of first appearance.
    /// Empty when the receiver could not parse the SD (e.g. rsyslog with an SD-NAME longer
    /// than 32 characters).
    pub sd_params: Vec<(String, String, String)>,
    pub msg: String,
    /// The receiver did not parse the message as RFC 5424:
    /// * rsyslog: `protocol-version` is not 1 (bad PRI, or VERSION not `1`: it fell back to
    ///   its RFC 3164 parser), or the RFC 5424 parser stopped at an invalid TIMESTAMP (then
    ///   APP-NAME is empty and all of the rest is MSG). rsyslog accepts most other defects.
    /// * syslog-ng: the record is syslog-ng's own `Error processing log message: <raw>`
    ///   (PROGRAM `syslog-ng`, PRI 43; raw with `>@<` at the error position), which it
    ///   emits instead of the message for SD/header syntax errors; or it fell back to its
    ///   RFC 3164 parser (bad PRI syntax or VERSION not `1`; detected by `LEGACY_MSGHDR`).
    pub parse_error: bool,
    /// The message as received, framing removed (rsyslog `rawmsg`, syslog-ng `RAWMSG`;
    /// empty for syslog-ng's parse-error records).
    pub raw: String,
    /// The whole JSON object the receiver wrote.
    pub json: Value,
}

impl Record {
    /// The value of the SD parameter `name` in element `sd_id`, if the receiver parsed one.
    pub fn sd_param(&self, sd_id: &str, name: &str) -> Option<&str> {
        self.sd_params.iter().find(|(i, n, _)| i == sd_id && n == name).map(|(_, _, v)| v.as_str())
    }

    fn from_json(kind: Kind, json: Value) -> Record {
        let s = |k: &str| -> String {
            match json.get(k) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            }
        };
        let num = |k: &str| -> Option<u64> {
            match json.get(k) {
                Some(Value::Number(n)) => n.as_u64(),
                Some(Value::String(s)) => s.parse().ok(),
                _ => None,
            }
        };
        let pri = num("pri").and_then(|p| u16::try_from(p).ok());
        let facility = num("facility").and_then(|f| u8::try_from(f).ok()).unwrap_or(u8::MAX);
        let severity = num("severity").and_then(|f| u8::try_from(f).ok()).unwrap_or(u8::MAX);
        let raw = s("raw");
        let structured_data = s("structured_data");
        let app_name = s("app_name");
        let msg = s("msg");

        let (sd_source, parse_error) = match kind {
            Kind::Rsyslog => {
                let v1 = s("protocol_version") == "1";
                (structured_data.clone(), !v1 || app_name.is_empty())
            }
            Kind::SyslogNg => {
                let injected =
                    app_name == "syslog-ng" && msg.starts_with("Error processing log message: ") && raw.is_empty();
                let legacy = !s("legacy_msghdr").is_empty();
                (sd_of_raw(&raw).to_string(), injected || legacy)
            }
        };

        // (sd-id, name) in order of first appearance, from the SD text; values from the
        // receiver's own parse.
        let mut keys: Vec<(String, String)> = Vec::new();
        for (id, params) in parse_sd(&sd_source).elements {
            for (name, _) in params {
                if !keys.iter().any(|(i, n)| *i == id && *n == name) {
                    keys.push((id.clone(), name));
                }
            }
        }
        let rsyslog_sd: Option<Value> = match kind {
            Kind::Rsyslog => serde_json::from_str(&s("sd")).ok(),
            Kind::SyslogNg => None,
        };
        let mut sd_params = Vec::new();
        for (id, name) in keys {
            let value = match kind {
                Kind::Rsyslog => rsyslog_sd
                    .as_ref()
                    .and_then(|v| v.get(&id))
                    .and_then(|e| e.get(&name))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                Kind::SyslogNg => json.get(format!(".SDATA.{id}.{name}")).and_then(Value::as_str).map(str::to_string),
            };
            if let Some(value) = value {
                sd_params.push((id, name, value));
            }
        }

        Record {
            kind,
            pri,
            facility,
            severity,
            timestamp: s("timestamp"),
            hostname: s("hostname"),
            app_name,
            procid: s("procid"),
            msgid: s("msgid"),
            structured_data,
            sd_params,
            msg,
            parse_error,
            raw,
            json,
        }
    }
}

/// A running (or stopped) receiver. Dropping it kills the process.
pub struct Receiver {
    kind: Kind,
    transport: Transport,
    options: Options,
    workdir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Receiver {
    /// Starts `kind` listening on `transport` on 127.0.0.1, with `workdir` (created if
    /// needed) holding its configuration, state, logs and `records.json`. Returns once the
    /// receiver's own process holds the listening socket.
    ///
    /// Panics when the receiver's binaries are not available (after one attempt per process
    /// to run `tests/interop/provision.sh`), and on every other failure (bad TLS file paths,
    /// the receiver rejecting its configuration or not listening within 20 s; the panic
    /// message carries its logs), so that a broken or missing receiver never looks like a pass.
    /// Tests that need a receiver carry `#[cfg_attr(interop_unavailable, ignore = ...)]`.
    /// Use [`Receiver::try_start_with`] to get failures as `Err` instead.
    pub fn start(kind: Kind, transport: Transport, workdir: &Path) -> Receiver {
        Self::start_with(kind, transport, workdir, Options::default())
    }

    /// [`Receiver::start`] with non-default [`Options`].
    pub fn start_with(kind: Kind, transport: Transport, workdir: &Path, options: Options) -> Receiver {
        ensure_available(kind);
        match Self::try_start_with(kind, transport, workdir, options) {
            Ok(rx) => rx,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`Receiver::start_with`], but every failure is an `Err` (binaries must already be
    /// available: see [`ensure_available`]).
    pub fn try_start_with(
        kind: Kind,
        transport: Transport,
        workdir: &Path,
        options: Options,
    ) -> Result<Receiver, String> {
        if let Some(why) = missing(kind) {
            return Err(format!("{} is not available ({why})", kind.name()));
        }
        fs::create_dir_all(workdir).map_err(|e| format!("cannot create work dir {}: {e}", workdir.display()))?;
        let workdir = workdir.canonicalize().map_err(|e| format!("cannot resolve {}: {e}", workdir.display()))?;
        let transport = match transport {
            Transport::Tls { ca_file, cert_file, key_file, require_client_cert } => {
                let abs = |p: PathBuf| p.canonicalize().map_err(|e| format!("TLS file {}: {e}", p.display()));
                Transport::Tls {
                    ca_file: abs(ca_file)?,
                    cert_file: abs(cert_file)?,
                    key_file: abs(key_file)?,
                    require_client_cert,
                }
            }
            Transport::RelpTls { ca_file, cert_file, key_file } => {
                let abs = |p: PathBuf| p.canonicalize().map_err(|e| format!("TLS file {}: {e}", p.display()));
                Transport::RelpTls { ca_file: abs(ca_file)?, cert_file: abs(cert_file)?, key_file: abs(key_file)? }
            }
            t => t,
        };
        let mut rx = Receiver { kind, transport, options, workdir, port: 0, child: None };
        let mut last_err = String::new();
        for _ in 0..PORT_ATTEMPTS {
            rx.port = pick_port();
            match rx.spawn_and_wait() {
                Ok(()) => return Ok(rx),
                Err(StartError::PortTaken(e)) => last_err = e,
                Err(StartError::Failed(e)) => return Err(e),
            }
        }
        Err(format!("{} did not get a free port in {PORT_ATTEMPTS} attempts; last: {last_err}", kind.name()))
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The port on 127.0.0.1 the receiver listens on (the same across [`Receiver::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// The JSON lines file the receiver writes.
    pub fn output_path(&self) -> PathBuf {
        self.workdir.join(RECORDS_FILE)
    }

    /// Process id of the running receiver.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the receiver process is running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Every record written so far (across restarts), in the order written.
    pub fn records(&self) -> Vec<Record> {
        let bytes = match fs::read(self.output_path()) {
            Ok(b) => b,
            Err(_) => return Vec::new(),
        };
        let mut out = Vec::new();
        let mut rest = &bytes[..];
        // Only complete lines: the receiver may be in the middle of writing one.
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let line = &rest[..nl];
            rest = &rest[nl + 1..];
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            // rsyslog writes invalid UTF-8 from the wire as is; read it lossily.
            let text = String::from_utf8_lossy(line);
            match serde_json::from_str::<Value>(&text) {
                Ok(v) => out.push(Record::from_json(self.kind, v)),
                Err(e) => {
                    panic!("{}: unparsable line in {}: {e}: {text}", self.kind.name(), self.output_path().display())
                }
            }
        }
        out
    }

    /// Polls until at least `n` records were written or `timeout` passed, and returns all
    /// records so far (possibly fewer than `n`).
    pub fn wait_for_records(&self, n: usize, timeout: Duration) -> Vec<Record> {
        let deadline = Instant::now() + timeout;
        loop {
            let records = self.records();
            if records.len() >= n || Instant::now() >= deadline {
                return records;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Like [`Receiver::wait_for_records`], but panics with the receiver's logs when fewer
    /// than `n` arrived in time.
    pub fn expect_records(&self, n: usize, timeout: Duration) -> Vec<Record> {
        let records = self.wait_for_records(n, timeout);
        if records.len() < n {
            panic!(
                "{} on port {} got {} of {n} expected records in {timeout:?}: {:#?}\n{}",
                self.kind.name(),
                self.port,
                records.len(),
                records,
                self.diagnostics()
            );
        }
        records
    }

    /// The receiver's own logs (internal log and stderr), for assertion messages.
    pub fn diagnostics(&self) -> String {
        let mut out = String::new();
        for name in LOG_FILES {
            let p = self.workdir.join(name);
            let text = fs::read(&p).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            let _ = writeln!(out, "--- {} ---\n{}", p.display(), text.trim_end());
        }
        out
    }

    fn log_offsets(&self) -> [u64; 2] {
        LOG_FILES.map(|n| fs::metadata(self.workdir.join(n)).map(|m| m.len()).unwrap_or(0))
    }

    /// What the receiver logged after `offsets` were taken.
    fn logs_since(&self, offsets: &[u64; 2]) -> String {
        let mut out = String::new();
        for (name, &off) in LOG_FILES.iter().zip(offsets) {
            let p = self.workdir.join(name);
            let mut text = String::new();
            if let Ok(mut f) = fs::File::open(&p) {
                use std::io::Seek as _;
                let mut buf = Vec::new();
                if f.seek(io::SeekFrom::Start(off)).is_ok() && f.read_to_end(&mut buf).is_ok() {
                    text = String::from_utf8_lossy(&buf).into_owned();
                }
            }
            let _ = writeln!(out, "--- {} ---\n{}", p.display(), text.trim_end());
        }
        out
    }

    /// Stops the receiver (SIGTERM, then SIGKILL after 5 s) and waits for it to exit.
    /// Records stay readable. Does nothing when it is not running.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, STOP_TIMEOUT);
        }
    }

    /// Kills the receiver with SIGKILL (a crash, no orderly shutdown).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the receiver if it runs and starts it again on the SAME port, keeping the
    /// records written so far. Panics (with logs) if that fails.
    pub fn restart(&mut self) {
        if let Err(e) = self.try_restart() {
            panic!("{e}");
        }
    }

    /// [`Receiver::restart`] returning the error instead of panicking. Retries for up to
    /// 20 s while another process holds the port.
    pub fn try_restart(&mut self) -> Result<(), String> {
        self.stop();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return Ok(()),
                Err(StartError::PortTaken(_)) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(200));
                }
                Err(StartError::PortTaken(e)) | Err(StartError::Failed(e)) => return Err(e),
            }
        }
    }

    fn spawn_and_wait(&mut self) -> Result<(), StartError> {
        let (program, args, env) = self.command_line().map_err(StartError::Failed)?;
        let stderr_path = self.workdir.join("stderr.log");
        let stderr = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)
            .map_err(|e| StartError::Failed(format!("{}: {e}", stderr_path.display())))?;
        let stdout = stderr.try_clone().map_err(|e| StartError::Failed(e.to_string()))?;
        let mut cmd = Command::new(&program);
        cmd.args(&args).current_dir(&self.workdir).stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = spawn_tied_to_process(cmd).map_err(|e| {
            StartError::Failed(format!("cannot start {} ({}): {e}", self.kind.name(), program.display()))
        })?;

        let deadline = Instant::now() + START_TIMEOUT;
        let udp = self.transport.is_udp();
        let mut polls = 0u32;
        let log_offsets = self.log_offsets();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let logs = self.logs_since(&log_offsets);
                let msg =
                    format!("{} exited during startup ({status}) on port {}:\n{logs}", self.kind.name(), self.port);
                return Err(if mentions_port_in_use(&logs) {
                    StartError::PortTaken(msg)
                } else {
                    StartError::Failed(msg)
                });
            }
            match port_owner(child.id(), self.port, udp) {
                PortState::OwnedByChild => {
                    self.child = Some(child);
                    return Ok(());
                }
                PortState::OwnedByOther => {
                    terminate(&mut child, STOP_TIMEOUT);
                    return Err(StartError::PortTaken(format!("port {} was taken by another process", self.port)));
                }
                PortState::Free => {
                    // rsyslog keeps running when it cannot bind; look for that in its logs.
                    if polls % 10 == 9 && mentions_port_in_use(&self.logs_since(&log_offsets)) {
                        terminate(&mut child, STOP_TIMEOUT);
                        return Err(StartError::PortTaken(format!(
                            "{} could not bind port {}:\n{}",
                            self.kind.name(),
                            self.port,
                            self.diagnostics()
                        )));
                    }
                }
            }
            polls += 1;
            if Instant::now() >= deadline {
                terminate(&mut child, STOP_TIMEOUT);
                let logs = self.logs_since(&log_offsets);
                let msg = format!(
                    "{} did not listen on 127.0.0.1:{} ({}) within {START_TIMEOUT:?}:\n{logs}",
                    self.kind.name(),
                    self.port,
                    if udp { "udp" } else { "tcp" }
                );
                return Err(if mentions_port_in_use(&logs) {
                    StartError::PortTaken(msg)
                } else {
                    StartError::Failed(msg)
                });
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Writes the configuration and returns (program, args, extra env).
    #[allow(clippy::type_complexity)]
    fn command_line(&self) -> Result<(PathBuf, Vec<String>, Vec<(String, String)>), String> {
        let w = &self.workdir;
        let path = |name: &str| w.join(name).to_string_lossy().into_owned();
        match self.kind {
            Kind::Rsyslog => {
                let conf = rsyslog_config(w, self.port, &self.transport, &self.options);
                let conf_path = w.join("rsyslog.conf");
                fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
                let _ = fs::remove_file(w.join("rsyslogd.pid"));
                Ok((
                    PathBuf::from(RSYSLOGD),
                    vec![
                        "-n".into(),
                        "-f".into(),
                        conf_path.to_string_lossy().into_owned(),
                        "-i".into(),
                        path("rsyslogd.pid"),
                    ],
                    Vec::new(),
                ))
            }
            Kind::SyslogNg => {
                let root = syslog_ng_root();
                let conf = syslog_ng_config(w, self.port, &self.transport, &self.options);
                let conf_path = w.join("syslog-ng.conf");
                fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
                // A unix socket path is limited to 107 bytes; the child runs in `w`.
                let ctl = path("syslog-ng.ctl");
                let ctl = if ctl.len() < 100 { ctl } else { "syslog-ng.ctl".into() };
                let _ = fs::remove_file(w.join("syslog-ng.ctl"));
                let libdir = root.join("usr/lib/syslog-ng");
                Ok((
                    root.join("usr/sbin/syslog-ng"),
                    vec![
                        "-F".into(),
                        "--no-caps".into(),
                        "--module-path".into(),
                        libdir.join(SYSLOG_NG_VERSION).to_string_lossy().into_owned(),
                        "--cfgfile".into(),
                        conf_path.to_string_lossy().into_owned(),
                        "--persist-file".into(),
                        path("syslog-ng.persist"),
                        "--pidfile".into(),
                        path("syslog-ng.pid"),
                        "--control".into(),
                        ctl,
                    ],
                    vec![("LD_LIBRARY_PATH".into(), libdir.to_string_lossy().into_owned())],
                ))
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Fast: a test is over, nobody reads the records any more.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("kind", &self.kind)
            .field("transport", &self.transport)
            .field("port", &self.port)
            .field("workdir", &self.workdir)
            .field("pid", &self.pid())
            .finish()
    }
}

enum StartError {
    /// Someone else holds the port: try another one (or wait, on restart).
    PortTaken(String),
    Failed(String),
}

// ------------------------------------------------------------------ configs ---

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

/// Quotes a string for rsyslog RainerScript and syslog-ng configuration files.
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn qp(p: &Path) -> String {
    q(&p.to_string_lossy())
}

fn rsyslog_config(w: &Path, port: u16, transport: &Transport, o: &Options) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "# generated by tests/support/receivers.rs\n\
         global(workDirectory={} net.enableDNS=\"off\" maxMessageSize=\"{}\"\n       \
         processInternalMessages=\"on\" \
         parser.escapeControlCharactersOnReceive=\"{}\")",
        qp(w),
        o.max_message_size,
        if o.rsyslog_escape_control_chars { "on" } else { "off" }
    );
    // Internal messages go to the default ruleset; inputs are bound to "rx".
    let _ = writeln!(c, "action(type=\"omfile\" file={})", qp(&w.join("internal.log")));
    c.push_str("module(load=\"mmpstrucdata\")\n");
    c.push_str(
        "template(name=\"rx_json\" type=\"list\" option.jsonf=\"on\") {\n  \
         property(outname=\"pri\" name=\"pri\" format=\"jsonf\")\n  \
         property(outname=\"facility\" name=\"syslogfacility\" format=\"jsonf\")\n  \
         property(outname=\"severity\" name=\"syslogseverity\" format=\"jsonf\")\n  \
         property(outname=\"protocol_version\" name=\"protocol-version\" format=\"jsonf\")\n  \
         property(outname=\"timestamp\" name=\"timereported\" dateFormat=\"rfc3339\" format=\"jsonf\")\n  \
         property(outname=\"hostname\" name=\"hostname\" format=\"jsonf\")\n  \
         property(outname=\"app_name\" name=\"app-name\" format=\"jsonf\")\n  \
         property(outname=\"procid\" name=\"procid\" format=\"jsonf\")\n  \
         property(outname=\"msgid\" name=\"msgid\" format=\"jsonf\")\n  \
         property(outname=\"structured_data\" name=\"structured-data\" format=\"jsonf\")\n  \
         property(outname=\"msg\" name=\"msg\" format=\"jsonf\")\n  \
         property(outname=\"sd\" name=\"$!rfc5424-sd\" format=\"jsonf\")\n  \
         property(outname=\"fromhost_ip\" name=\"fromhost-ip\" format=\"jsonf\")\n  \
         property(outname=\"input\" name=\"inputname\" format=\"jsonf\")\n  \
         property(outname=\"raw\" name=\"rawmsg\" format=\"jsonf\")\n\
         }\n",
    );
    let _ = writeln!(
        c,
        "ruleset(name=\"rx\") {{\n  \
         action(type=\"mmpstrucdata\" sd_name.lowercase=\"off\")\n  \
         action(type=\"omfile\" file={} template=\"rx_json\")\n}}",
        qp(&w.join(RECORDS_FILE))
    );
    match transport {
        Transport::Udp => {
            c.push_str("module(load=\"imudp\")\n");
            let _ = writeln!(
                c,
                "input(type=\"imudp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"rx\" \
                 rcvbufSize=\"4m\")"
            );
        }
        Transport::TcpOctetCounted | Transport::TcpLf => {
            c.push_str("module(load=\"imtcp\" maxSessions=\"1000\")\n");
            let _ = writeln!(
                c,
                "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"rx\" \
                 supportOctetCountedFraming=\"on\")"
            );
        }
        Transport::Relp => {
            c.push_str("main_queue(queue.type=\"Direct\")\nmodule(load=\"imrelp\")\n");
            let _ = writeln!(c, "input(type=\"imrelp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"rx\")");
        }
        Transport::RelpTls { ca_file, cert_file, key_file } => {
            c.push_str("main_queue(queue.type=\"Direct\")\nmodule(load=\"imrelp\")\n");
            let _ = writeln!(
                c,
                "input(type=\"imrelp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"rx\" tls=\"on\"\n      \
                 tls.caCert={} tls.myCert={} tls.myPrivKey={} tls.authMode=\"certvalid\")",
                qp(ca_file),
                qp(cert_file),
                qp(key_file)
            );
        }
        Transport::Tls { ca_file, cert_file, key_file, require_client_cert } => {
            c.push_str("module(load=\"imtcp\" maxSessions=\"1000\")\n");
            let _ = writeln!(
                c,
                "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"rx\" \
                 supportOctetCountedFraming=\"on\"\n      \
                 streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=\"{}\"\n      \
                 streamDriver.CAFile={} streamDriver.CertFile={} streamDriver.KeyFile={})",
                if *require_client_cert { "x509/certvalid" } else { "anon" },
                qp(ca_file),
                qp(cert_file),
                qp(key_file)
            );
        }
    }
    c
}

fn syslog_ng_config(w: &Path, port: u16, transport: &Transport, o: &Options) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "@version: {SYSLOG_NG_VERSION}\n\
         # generated by tests/support/receivers.rs\n\
         options {{ use-dns(no); dns-cache(no); use-fqdn(no); keep-hostname(yes); \
         chain-hostnames(no); keep-timestamp(yes); stats-freq(0); create-dirs(no); \
         frac-digits(6); log-msg-size({}); }};",
        o.max_message_size
    );
    let flags = "store-raw-message, store-legacy-msghdr";
    let common = format!(
        "ip(\"127.0.0.1\") port({port}) max-connections(1000) log-iw-size(100000) \
         log-msg-size({})",
        o.max_message_size
    );
    let source = match transport {
        Transport::TcpOctetCounted => {
            format!("syslog({common} transport(\"tcp\") flags({flags}))")
        }
        Transport::TcpLf => {
            format!("network({common} transport(\"tcp\") flags(syslog-protocol, {flags}))")
        }
        Transport::Udp => format!(
            "syslog(ip(\"127.0.0.1\") port({port}) transport(\"udp\") so-rcvbuf(4194304) \
             log-msg-size({}) flags({flags}))",
            o.max_message_size
        ),
        Transport::Tls { ca_file, cert_file, key_file, require_client_cert } => format!(
            "syslog({common} transport(\"tls\") flags({flags})\n    tls(key-file({}) \
             cert-file({}) ca-file({}) peer-verify({})))",
            qp(key_file),
            qp(cert_file),
            qp(ca_file),
            if *require_client_cert { "required-trusted" } else { "optional-untrusted" }
        ),
        Transport::Relp | Transport::RelpTls { .. } => panic!("syslog-ng has no RELP source: RELP tests use rsyslog"),
    };
    let _ = writeln!(c, "source s_net {{ {source}; }};");
    c.push_str("source s_internal { internal(); };\n");
    // --key-delimiter ~ keeps ".SDATA.<id>.<name>" flat (SD names may contain dots).
    let template = "$(format-json \
         --pair pri=int(${PRI}) --pair facility=int(${FACILITY_NUM}) \
         --pair severity=int(${LEVEL_NUM}) --pair timestamp=${ISODATE} \
         --pair received=${R_ISODATE} --pair hostname=${HOST} --pair app_name=${PROGRAM} \
         --pair procid=${PID} --pair msgid=${MSGID} --pair structured_data=${SDATA} \
         --pair msg=${MESSAGE} --pair raw=${RAWMSG} --pair legacy_msghdr=${LEGACY_MSGHDR} \
         --pair source_ip=${SOURCEIP} --key-delimiter ~ --key .SDATA.*)\\n";
    let _ = writeln!(
        c,
        "destination d_records {{ file({} template({})); }};",
        qp(&w.join(RECORDS_FILE)),
        q(template).replace("\\\\n", "\\n")
    );
    let _ = writeln!(c, "destination d_internal {{ file({}); }};", qp(&w.join("internal.log")));
    c.push_str("log { source(s_net); destination(d_records); };\n");
    c.push_str("log { source(s_internal); destination(d_internal); };\n");
    c
}

// -------------------------------------------------------------- provisioning ---

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where provision.sh unpacks syslog-ng-core (`SIEM_RELAY_SYSLOG_NG_DIR` overrides).
fn syslog_ng_root() -> PathBuf {
    match std::env::var_os("SIEM_RELAY_SYSLOG_NG_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => repo_root().join("target/interop/syslog-ng"),
    }
}

fn missing(kind: Kind) -> Option<String> {
    match kind {
        Kind::Rsyslog => {
            if !Path::new(RSYSLOGD).exists() {
                return Some(format!("{RSYSLOGD} not found"));
            }
            let moddir = Path::new("/usr/lib/x86_64-linux-gnu/rsyslog");
            let found = |m: &str| {
                moddir.join(m).exists()
                    || fs::read_dir("/usr/lib")
                        .into_iter()
                        .flatten()
                        .flatten()
                        .any(|d| d.path().join("rsyslog").join(m).exists())
            };
            for m in ["lmnsd_gtls.so", "mmpstrucdata.so", "imtcp.so", "imudp.so", "imrelp.so"] {
                if !found(m) {
                    return Some(format!("rsyslog module {m} not found"));
                }
            }
            None
        }
        Kind::SyslogNg => {
            let root = syslog_ng_root();
            let bin = root.join("usr/sbin/syslog-ng");
            let module = root.join("usr/lib/syslog-ng").join(SYSLOG_NG_VERSION).join("libafsocket.so");
            if !bin.exists() || !module.exists() {
                Some(format!("syslog-ng not found under {}", root.display()))
            } else {
                None
            }
        }
    }
}

/// Makes sure `kind` can be run: runs tests/interop/provision.sh once per process if a
/// binary is missing; panics if it is still missing.
pub fn ensure_available(kind: Kind) {
    super::provision::ensure(kind.name(), || missing(kind))
}

// ------------------------------------------------------------ ports & procs ---

/// A port in 127.0.0.1 that is free for both TCP and UDP right now. Picked at random below
/// the kernel's ephemeral range, so outgoing connections of parallel tests never take it
/// in the window between picking and the receiver binding it (and so it can be re-bound
/// on restart); collisions between receivers are detected and retried by the caller.
fn pick_port() -> u16 {
    let (lo, _) = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|x| x.parse::<u32>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999));
    let (min, max) = (10000u32, lo.min(65535));
    for _ in 0..200 {
        let port = if max > min + 1000 { (min + (random_u64() % u64::from(max - min)) as u32) as u16 } else { 0 };
        let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)) else {
            continue;
        };
        let Ok(actual) = tcp.local_addr().map(|a| a.port()) else {
            continue;
        };
        if UdpSocket::bind(("127.0.0.1", actual)).is_ok() {
            return actual;
        }
    }
    panic!("no free port found on 127.0.0.1");
}

fn random_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.write_u32(std::process::id());
    h.finish()
}

#[derive(Debug, PartialEq, Eq)]
enum PortState {
    Free,
    OwnedByChild,
    OwnedByOther,
}

/// Who holds 127.0.0.1:`port` (a TCP listener, or a UDP socket), from /proc.
fn port_owner(pid: u32, port: u16, udp: bool) -> PortState {
    let table = if udp { "/proc/net/udp" } else { "/proc/net/tcp" };
    let Ok(text) = fs::read_to_string(table) else {
        return PortState::Free;
    };
    let local = format!("{:08X}:{:04X}", u32::from_ne_bytes([127, 0, 0, 1]), port);
    let any = format!("{:08X}:{:04X}", 0u32, port);
    let mut inodes = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 {
            continue;
        }
        let state_ok = udp || f[3] == "0A";
        if state_ok && (f[1] == local || f[1] == any) {
            inodes.push(f[9].to_string());
        }
    }
    if inodes.is_empty() {
        return PortState::Free;
    }
    let ours = socket_inodes(pid);
    if inodes.iter().any(|i| ours.contains(i)) {
        PortState::OwnedByChild
    } else {
        PortState::OwnedByOther
    }
}

fn socket_inodes(pid: u32) -> HashSet<String> {
    let mut out = HashSet::new();
    if let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in dir.flatten() {
            if let Ok(target) = fs::read_link(e.path()) {
                let t = target.to_string_lossy();
                if let Some(inode) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
                    out.insert(inode.to_string());
                }
            }
        }
    }
    out
}

fn mentions_port_in_use(logs: &str) -> bool {
    logs.contains("Address already in use") || logs.contains("EADDRINUSE")
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
    fn prctl(option: i32, ...) -> i32;
    fn getppid() -> i32;
}
const SIGTERM: i32 = 15;
const SIGKILL: i32 = 9;
const PR_SET_PDEATHSIG: i32 = 1;

fn terminate(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // SAFETY: plain kill(2) on our own child's pid, which has not been reaped yet.
    unsafe {
        kill(child.id() as i32, SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` from a dedicated thread that lives as long as the test process, with
/// PR_SET_PDEATHSIG=SIGKILL, so receivers die with the test process even when it is killed
/// (a timeout) and Drop never runs. (The death signal follows the *thread* that forked,
/// hence the long-lived thread.)
fn spawn_tied_to_process(cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        thread::Builder::new()
            .name("receiver-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let parent = std::process::id() as i32;
                    // SAFETY: only async-signal-safe calls (prctl, getppid, kill) between
                    // fork and exec.
                    unsafe {
                        cmd.pre_exec(move || {
                            prctl(PR_SET_PDEATHSIG, SIGKILL);
                            if getppid() != parent {
                                // The test process is already gone.
                                return Err(io::Error::other("test process exited"));
                            }
                            Ok(())
                        });
                    }
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawn receiver-spawner thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    tx.lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("receiver-spawner thread is gone"))?;
    reply_rx.recv().map_err(|_| io::Error::other("receiver-spawner thread is gone"))?
}

// ------------------------------------------------------------------------ SD ---

/// Structured data split into elements, values unescaped per RFC 5424 (`\"`, `\\`, `\]`;
/// any other backslash is kept). Lenient: stops at the first syntax error.
struct ParsedSd {
    elements: Vec<(String, Vec<(String, String)>)>,
}

fn parse_sd(sd: &str) -> ParsedSd {
    let b = sd.as_bytes();
    let mut i = 0;
    let mut elements = Vec::new();
    while i < b.len() && b[i] == b'[' {
        i += 1;
        let start = i;
        while i < b.len() && b[i] != b' ' && b[i] != b']' {
            i += 1;
        }
        let id = sd[start..i].to_string();
        let mut params = Vec::new();
        loop {
            if i >= b.len() {
                elements.push((id, params));
                return ParsedSd { elements };
            }
            if b[i] == b']' {
                i += 1;
                break;
            }
            // b[i] == b' '
            i += 1;
            let start = i;
            while i < b.len() && b[i] != b'=' && b[i] != b' ' && b[i] != b']' {
                i += 1;
            }
            if i + 1 >= b.len() || b[i] != b'=' || b[i + 1] != b'"' {
                elements.push((id, params));
                return ParsedSd { elements };
            }
            let name = sd[start..i].to_string();
            i += 2;
            let mut value = Vec::new();
            let mut closed = false;
            while i < b.len() {
                match b[i] {
                    b'\\' if i + 1 < b.len() && matches!(b[i + 1], b'"' | b'\\' | b']') => {
                        value.push(b[i + 1]);
                        i += 2;
                    }
                    b'"' => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    c => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
            params.push((name, String::from_utf8_lossy(&value).into_owned()));
            if !closed {
                elements.push((id, params));
                return ParsedSd { elements };
            }
        }
        elements.push((id, params));
    }
    ParsedSd { elements }
}

fn escape_sd_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The STRUCTURED-DATA part of a raw RFC 5424 message (after six space-separated header
/// tokens), up to the end of the last element.
fn sd_of_raw(raw: &str) -> &str {
    let mut rest = raw;
    for _ in 0..6 {
        match rest.find(' ') {
            Some(i) => rest = &rest[i + 1..],
            None => return "",
        }
    }
    if !rest.starts_with('[') {
        return "";
    }
    rest
}
