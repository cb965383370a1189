//! A real Kafka-protocol broker for the Kafka sink's tests: `tansu` (crates.io, 0.6.0) on a free
//! loopback port with sqlite storage in a fresh temporary directory, and an independent client,
//! Debian's kafka-python (`python3-kafka` 2.0.2), to create records and to read them back.
//!
//! * [`Broker::start`] / [`Broker::start_with`]: the broker, killed on drop. [`Broker::kill`] is
//!   a SIGKILL; [`Broker::restart`] starts it again on the same port and the same database, which
//!   keeps topics and records (sqlite storage is persistent).
//! * TLS: tansu 0.6 accepts `--cert`/`--key` but never uses them (its listener stays plain TCP),
//!   so [`BrokerOptions::tls`] puts a TLS-terminating proxy of ours in front of it (rustls with
//!   the test PKI) and makes tansu advertise the proxy's port, so that metadata sends clients
//!   back through the proxy.
//! * SASL: with `--authentication` tansu takes SCRAM-SHA-256/512 against users kept in its
//!   storage. Not PLAIN: its SASL library is built without it ("NoSharedMechanism"; its PLAIN
//!   check would take any password anyway). Users can only be created over the
//!   Kafka protocol (AlterUserScramCredentials, `tansu user create`), which an authenticating
//!   broker refuses before authentication; so [`BrokerOptions::scram_users`] (and
//!   [`BrokerOptions::topics`]) are set up on a first, open run, and the broker is then
//!   restarted with `--authentication` on the same database.
//! * [`KafkaClient::consume`] runs `tests/support/kafka_consume.py` (every record of a topic from
//!   the beginning, all partitions); [`KafkaClient::produce`] runs `kafka_produce.py`. Both
//!   block: async tests wrap them in `support::blocking`.
//!
//! tansu is found at `SIEM_RELAY_TANSU`, else on `PATH`, else at `~/.cargo/bin/tansu`. Tests
//! that need it carry `#[cfg_attr(kafka_unavailable, ignore = "...")]` (see `build.rs`); a test
//! that runs without it fails.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// The interpreter that has Debian's python3-kafka (not a pyenv `python3` on `PATH`).
pub const PYTHON: &str = "/usr/bin/python3";
/// How long the broker may take to accept connections.
const READY: Duration = Duration::from_secs(20);
/// Longer than this past a script's own timeout, a client script is killed.
const SCRIPT_GRACE: Duration = Duration::from_secs(30);

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support").join(name)
}

/// The tansu binary: `SIEM_RELAY_TANSU`, else `tansu` on `PATH`, else `~/.cargo/bin/tansu`.
pub fn tansu() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SIEM_RELAY_TANSU").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("tansu"))
        .find(|candidate| candidate.is_file());
    on_path.or_else(|| {
        std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo/bin/tansu")).filter(|p| p.is_file())
    })
}

/// Why the Kafka tests cannot run here (`None` when they can).
pub fn missing() -> Option<String> {
    let mut missing = Vec::new();
    if tansu().is_none() {
        missing.push(
            "tansu (cargo install tansu --version 0.6.0 --locked --features libsql,dynostore, or set SIEM_RELAY_TANSU)"
                .to_owned(),
        );
    }
    let check = Command::new(PYTHON).arg(script("kafka_consume.py")).arg("--check").output();
    match check {
        Ok(out) if out.status.success() => {}
        Ok(out) => missing.push(format!(
            "{} (apt-get install -y python3-kafka python3-lz4 python3-snappy python3-zstandard)",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => missing.push(format!("{PYTHON}: {e}")),
    }
    (!missing.is_empty()).then(|| missing.join("; "))
}

/// Panics with what is missing: a Kafka test that runs must not pass having checked nothing.
pub fn ensure_available() {
    if let Some(missing) = missing() {
        panic!("the Kafka tests need: {missing}");
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A SCRAM user created before the broker starts authenticating.
#[derive(Clone, Debug)]
pub struct ScramUser {
    pub name: String,
    pub password: String,
    /// `scram256` or `scram512` (tansu's `user create --mechanism`).
    pub mechanism: &'static str,
}

/// How the broker is set up.
#[derive(Clone, Default)]
pub struct BrokerOptions {
    /// Topics created before anything else, `(name, partitions)`.
    pub topics: Vec<(String, u32)>,
    /// SCRAM users; when not empty the broker requires SASL authentication.
    pub scram_users: Vec<ScramUser>,
    /// Clients reach the broker through a TLS proxy with this server configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

pub struct Broker {
    tansu: PathBuf,
    /// tansu's own listener.
    tansu_port: u16,
    /// What clients connect to: the proxy with TLS, else `port`.
    client_port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    authentication: bool,
    runs: usize,
    proxy: Option<TlsProxy>,
}

impl Broker {
    /// A plain broker, no TLS and no authentication.
    pub fn start() -> Broker {
        Broker::start_with(BrokerOptions::default())
    }

    /// Starts tansu on a free loopback port in a fresh directory and waits until it accepts
    /// connections; panics (with its log) when it does not.
    pub fn start_with(options: BrokerOptions) -> Broker {
        ensure_available();
        let tansu = tansu().expect("tansu");
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let proxy = options.tls.map(|config| TlsProxy::start(config, port));
        let client_port = proxy.as_ref().map_or(port, |p| p.port);
        let mut broker =
            Broker { tansu, tansu_port: port, client_port, dir, child: None, authentication: false, runs: 0, proxy };
        broker.spawn();
        for (name, partitions) in &options.topics {
            broker.create_topic(name, *partitions);
        }
        if !options.scram_users.is_empty() {
            for user in &options.scram_users {
                broker.tansu_command(&[
                    "user",
                    "create",
                    "--broker",
                    &broker.admin_url(),
                    "--mechanism",
                    user.mechanism,
                    &user.name,
                    &user.password,
                ]);
            }
            broker.authentication = true;
            broker.restart();
        }
        broker
    }

    /// `127.0.0.1:PORT`, what a client bootstraps from (the TLS proxy's port with TLS).
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.client_port
    }

    /// `kafka://127.0.0.1:PORT/TOPIC` (`kafkas://` with TLS).
    pub fn url(&self, topic: &str) -> String {
        let scheme = if self.proxy.is_some() { "kafkas" } else { "kafka" };
        format!("{scheme}://{}/{topic}", self.bootstrap())
    }

    /// The broker's directory (its sqlite database and logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn admin_url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.tansu_port)
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "the broker is running");
        self.runs += 1;
        let log = |name: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.path().join(name))
                .expect("broker log file")
        };
        let advertised = format!("tcp://127.0.0.1:{}", self.client_port);
        let mut command = Command::new(&self.tansu);
        command
            .args(["broker", "--listener-url", &self.admin_url(), "--advertised-listener-url", &advertised])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log("tansu.out"))
            .stderr(log("tansu.err"));
        if self.authentication {
            command.arg("--authentication");
        }
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot run {}: {e}", self.tansu.display()));
        let deadline = Instant::now() + READY;
        let address = SocketAddr::from(([127, 0, 0, 1], self.tansu_port));
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                panic!("tansu exited ({status}) before accepting connections:\n{}", self.logs());
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                break;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tansu did not accept connections on {address} within {READY:?}:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// What tansu printed (for failure messages).
    pub fn logs(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        let tail = |text: String| {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        format!("--- stdout ---\n{}\n--- stderr ---\n{}", tail(read("tansu.out")), tail(read("tansu.err")))
    }

    /// Whether tansu is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL: no shutdown of any kind. The TLS proxy, if any, stays up (and closes what it
    /// accepts until the broker is back).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the broker if it runs, and starts it again on the same port and database.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn tansu_command(&self, args: &[&str]) -> String {
        let output = Command::new(&self.tansu)
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run tansu {args:?}: {e}"));
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "tansu {args:?} failed ({}): {text}\n{}", output.status, self.logs());
        text
    }

    /// Creates `name` with `partitions` partitions (not on an authenticating broker: tansu's
    /// CLI does not authenticate; use [`BrokerOptions::topics`]).
    pub fn create_topic(&self, name: &str, partitions: u32) {
        assert!(!self.authentication, "create topics of an authenticating broker with BrokerOptions::topics");
        let partitions = partitions.to_string();
        self.tansu_command(&["topic", "create", "--broker", &self.admin_url(), "--partitions", &partitions, name]);
    }

    /// The topics the broker has.
    pub fn topics(&self) -> String {
        self.tansu_command(&["topic", "list", "--broker", &self.admin_url()])
    }

    /// A client for the independent kafka-python scripts: plain, or through the TLS proxy with
    /// `ca_file` when the broker has one.
    pub fn client(&self) -> KafkaClient {
        KafkaClient { bootstrap: self.bootstrap(), ca_file: None, sasl: None }
    }

    /// Like [`Broker::consume`] with a client that trusts `ca_file` and authenticates with `sasl`
    /// (`(mechanism, user, password)`, the mechanism as Kafka names it: `SCRAM-SHA-256`).
    pub fn client_with(&self, ca_file: Option<&Path>, sasl: Option<(&str, &str, &str)>) -> KafkaClient {
        KafkaClient {
            bootstrap: self.bootstrap(),
            ca_file: ca_file.map(Path::to_path_buf),
            sasl: sasl.map(|(m, u, p)| (m.to_owned(), u.to_owned(), p.to_owned())),
        }
    }

    /// Every record of `topic` as tansu stored it, read from its sqlite database (read-only) and
    /// not over the Kafka protocol: for snappy, which tansu 0.6 takes but cannot fetch.
    pub fn stored(&self, topic: &str) -> Vec<ConsumedRecord> {
        let args = [
            "--sqlite".to_owned(),
            self.dir.path().join("tansu.db").display().to_string(),
            "--topic".to_owned(),
            topic.to_owned(),
        ];
        parse_records(&run_script("kafka_consume.py", &args, None, SCRIPT_GRACE))
    }

    /// Every record of `topic` (see [`KafkaClient::consume`]) with a plain client.
    pub fn consume(&self, topic: &str, expected: usize, timeout: Duration) -> Vec<ConsumedRecord> {
        self.client().consume(topic, expected, timeout)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One record read back by `kafka_consume.py`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ConsumedRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub value: String,
}

/// One record for `kafka_produce.py`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ProducedRecord {
    pub key: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub value: String,
}

/// Where `kafka_produce.py` put a record.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub struct RecordPosition {
    pub partition: i32,
    pub offset: i64,
}

/// The independent client's settings (cheap to clone into `support::blocking`).
#[derive(Clone, Debug)]
pub struct KafkaClient {
    pub bootstrap: String,
    pub ca_file: Option<PathBuf>,
    pub sasl: Option<(String, String, String)>,
}

impl KafkaClient {
    fn arguments(&self) -> Vec<String> {
        let mut args = vec!["--bootstrap".to_owned(), self.bootstrap.clone()];
        let protocol = match (&self.ca_file, &self.sasl) {
            (None, None) => "PLAINTEXT",
            (Some(_), None) => "SSL",
            (None, Some(_)) => "SASL_PLAINTEXT",
            (Some(_), Some(_)) => "SASL_SSL",
        };
        args.extend(["--security-protocol".to_owned(), protocol.to_owned()]);
        if let Some(ca) = &self.ca_file {
            args.extend(["--cafile".to_owned(), ca.display().to_string()]);
        }
        if let Some((mechanism, user, password)) = &self.sasl {
            args.extend([
                "--sasl-mechanism".to_owned(),
                mechanism.clone(),
                "--username".to_owned(),
                user.clone(),
                "--password".to_owned(),
                password.clone(),
            ]);
        }
        args
    }

    /// Reads `topic` from the beginning, every partition, until `expected` records were read
    /// (then on to the end of every partition, so duplicates show) or `timeout` passed; returns
    /// what was read, per partition in offset order. Panics when the script fails (no such
    /// topic, no broker) or hangs well past `timeout`.
    pub fn consume(&self, topic: &str, expected: usize, timeout: Duration) -> Vec<ConsumedRecord> {
        let mut args = self.arguments();
        args.extend([
            "--topic".to_owned(),
            topic.to_owned(),
            "--expected".to_owned(),
            expected.to_string(),
            "--timeout".to_owned(),
            format!("{:.3}", timeout.as_secs_f64()),
        ]);
        parse_records(&run_script("kafka_consume.py", &args, None, timeout + SCRIPT_GRACE))
    }

    /// Produces `records` with acks=all (and `compression`, a kafka-python `compression_type`)
    /// and returns where each went; panics when any send fails.
    pub fn produce(&self, topic: &str, records: &[ProducedRecord], compression: Option<&str>) -> Vec<RecordPosition> {
        let mut args = self.arguments();
        args.extend(["--topic".to_owned(), topic.to_owned()]);
        if let Some(codec) = compression {
            args.extend(["--compression".to_owned(), codec.to_owned()]);
        }
        let input: String =
            records.iter().map(|r| serde_json::to_string(r).expect("json") + "\n").collect::<Vec<_>>().concat();
        let stdout = run_script("kafka_produce.py", &args, Some(input), Duration::from_secs(30) + SCRIPT_GRACE);
        stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("producer printed {line:?}: {e}")))
            .collect()
    }
}

fn parse_records(stdout: &str) -> Vec<ConsumedRecord> {
    stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("consumer printed {line:?}: {e}")))
        .collect()
}

/// Runs a kafka-python script, killing it past `limit`; its stdout, or a panic with its stderr.
fn run_script(name: &str, args: &[String], input: Option<String>, limit: Duration) -> String {
    let out = tempfile::tempdir().expect("tempdir");
    let stdout_path = out.path().join("stdout");
    let stderr_path = out.path().join("stderr");
    let mut child = Command::new(PYTHON)
        .arg("-B")
        .arg(script(name))
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {PYTHON} {name}: {e}"));
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("write to the script");
    }
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{name} still running after {limit:?}; stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(&stdout_path).expect("script output is UTF-8");
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "{name} {args:?} failed ({status}):\n{stderr}\nstdout:\n{stdout}");
    stdout
}

/// A TLS-terminating TCP proxy: accepts TLS on its own port with `config` and forwards the
/// plain bytes to the broker's port. Runs on a thread of its own (with its own runtime), so it
/// outlives broker restarts and needs no runtime from the test. Stopped on drop.
struct TlsProxy {
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsProxy {
    fn start(config: Arc<rustls::ServerConfig>, backend: u16) -> TlsProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the TLS proxy");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("proxy runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("proxy listener");
                let acceptor = tokio_rustls::TlsAcceptor::from(config);
                let accepting = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else { continue };
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            let Ok(mut tls) = acceptor.accept(client).await else { return };
                            let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", backend)).await else {
                                return;
                            };
                            let _ = server.set_nodelay(true);
                            let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                        });
                    }
                };
                tokio::select! {
                    _ = accepting => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime ends every connection.
        });
        TlsProxy { port, stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
