//! `receive`: a counting sink for relays. Listens on TCP, TLS, UDP or HTTP (port 0 allowed;
//! the bound address goes to `--ready-file`), accepts any number of connections, splits
//! frames, and for each frame records `now - sent_ns` as its latency. Exits when `--expect`
//! frames have arrived, or after `--timeout-s` without progress, printing one JSON line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Notify;

use crate::clock::realtime_ns;
use crate::frames::{Framing, Leftover, Splitter};
use crate::latency::{find_sent_ns, Latencies};

/// Read buffer per connection.
const READ_BUF: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FramingArg {
    /// RFC 6587 octet counting: `LEN SP MSG`.
    Octet,
    /// One frame per LF-terminated line.
    Lf,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("listen").required(true).args(["tcp", "tls", "udp", "http"])))]
pub struct ReceiveArgs {
    /// Listen for TCP streams on this address (e.g. 127.0.0.1:0).
    #[arg(long)]
    pub tcp: Option<SocketAddr>,
    /// Listen for TLS streams on this address (needs --cert and --key).
    #[arg(long, requires_all = ["cert", "key"])]
    pub tls: Option<SocketAddr>,
    /// TLS certificate chain (PEM).
    #[arg(long)]
    pub cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Receive UDP datagrams (one frame each) on this address.
    #[arg(long)]
    pub udp: Option<SocketAddr>,
    /// Serve HTTP/1.1 on this address: each JSON object in a request body is a frame (a JSON
    /// webhook has one, a Splunk HEC batch several); any other body is one frame.
    #[arg(long)]
    pub http: Option<SocketAddr>,
    /// Framing of TCP and TLS streams.
    #[arg(long, value_enum, default_value = "octet")]
    pub framing: FramingArg,
    /// Frames to wait for.
    #[arg(long)]
    pub expect: u64,
    /// Give up after this many seconds without a new frame.
    #[arg(long, default_value_t = 30.0)]
    pub timeout_s: f64,
    /// Write the bound address (`IP:PORT`) to this file once listening.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// Write the first frame received to this file (to check what a relay sends).
    #[arg(long)]
    pub sample_file: Option<PathBuf>,
    /// Read no faster than this many frames per second over all connections (a slow SIEM, for
    /// overload tests: the relay's queue fills). Streams and UDP only.
    #[arg(long)]
    pub max_rate: Option<f64>,
    /// After printing the figures, keep the connections open (still reading) until this file
    /// exists, so that a relay that exits when its output closes (socat) can be measured.
    #[arg(long)]
    pub linger_until: Option<PathBuf>,
}

/// Counts of everything received, shared by all connections.
#[derive(Debug, Default)]
struct Tally {
    frames: u64,
    bytes: u64,
    connections: u64,
    /// HTTP requests (each a delivery: one event, or a batch).
    requests: u64,
    malformed: u64,
    truncated: u64,
    no_sent_ns: u64,
    tls_failures: u64,
    first_frame_at: Option<u64>,
    last_frame_at: u64,
    latencies: Latencies,
    first_problem: Option<String>,
    /// The first frame, kept when `--sample-file` asks for it.
    sample: Option<Vec<u8>>,
}

/// What one read (or datagram, or request) contributed.
#[derive(Default)]
pub struct Batch {
    pub frames: u64,
    pub no_sent_ns: u64,
    pub latencies: Latencies,
    /// Set to keep a copy of the next frame.
    pub want_sample: bool,
    pub sample: Option<Vec<u8>>,
}

impl Batch {
    /// Counts one frame received at `now`.
    pub fn frame(&mut self, now: u64, frame: &[u8]) {
        if self.want_sample && self.sample.is_none() {
            self.sample = Some(frame.to_vec());
        }
        self.frames += 1;
        match find_sent_ns(frame) {
            Some(sent) => self.latencies.record(now, sent),
            None => self.no_sent_ns += 1,
        }
    }
}

pub struct Shared {
    tally: Mutex<Tally>,
    expect: u64,
    /// A sample frame is wanted and not taken yet.
    want_sample: std::sync::atomic::AtomicBool,
    /// Frames so far (read without the lock, for progress).
    frames: AtomicU64,
    done: Notify,
    /// `--max-rate`, and when the first frame arrived.
    max_rate: Option<f64>,
    first_frame: std::sync::OnceLock<Instant>,
}

impl Shared {
    fn new(expect: u64, want_sample: bool, max_rate: Option<f64>) -> Shared {
        let tally = Tally {
            latencies: Latencies::with_capacity(usize::try_from(expect.min(50_000_000)).unwrap_or(0)),
            ..Tally::default()
        };
        Shared {
            tally: Mutex::new(tally),
            expect,
            want_sample: want_sample.into(),
            frames: AtomicU64::new(0),
            done: Notify::new(),
            max_rate,
            first_frame: std::sync::OnceLock::new(),
        }
    }

    /// With `--max-rate`: waits until the frames so far are due at that rate.
    async fn throttle(&self) {
        let Some(rate) = self.max_rate else { return };
        let frames = self.frames.load(Ordering::Relaxed);
        if frames == 0 {
            return;
        }
        let first = *self.first_frame.get_or_init(Instant::now);
        let due = first + crate::clock::secs(frames as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
    }

    /// A new batch (asking for a sample frame while none is kept).
    pub fn batch(&self, capacity: usize) -> Batch {
        Batch {
            latencies: Latencies::with_capacity(capacity),
            want_sample: self.want_sample.load(Ordering::Relaxed),
            ..Batch::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a batch received at `now` carrying `bytes` bytes (the batch is emptied).
    pub fn add(&self, now: u64, bytes: usize, batch: &mut Batch) {
        let mut t = self.lock();
        t.bytes += bytes as u64;
        if batch.frames > 0 {
            t.frames += batch.frames;
            t.no_sent_ns += batch.no_sent_ns;
            t.first_frame_at.get_or_insert(now);
            t.last_frame_at = now;
            t.latencies.extend(&mut batch.latencies);
            self.frames.store(t.frames, Ordering::Relaxed);
            if t.frames >= self.expect {
                self.done.notify_one();
            }
        }
        if let Some(sample) = batch.sample.take() {
            t.sample.get_or_insert(sample);
            self.want_sample.store(false, Ordering::Relaxed);
        }
        batch.want_sample = false;
        batch.frames = 0;
        batch.no_sent_ns = 0;
    }

    /// Counts a malformed frame or stream (and remembers the first reason).
    pub fn malformed(&self, reason: String) {
        let mut t = self.lock();
        t.malformed += 1;
        t.first_problem.get_or_insert(reason);
    }

    fn connection(&self) {
        self.lock().connections += 1;
    }

    /// Counts an HTTP request.
    pub fn request(&self) {
        self.lock().requests += 1;
    }

    fn problem(&self, f: impl FnOnce(&mut Tally), reason: String) {
        let mut t = self.lock();
        f(&mut t);
        t.first_problem.get_or_insert(reason);
    }
}

pub fn run(args: ReceiveArgs) -> anyhow::Result<std::process::ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("tokio runtime")?;
    runtime.block_on(receive(args))
}

async fn receive(args: ReceiveArgs) -> anyhow::Result<std::process::ExitCode> {
    if args.max_rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        anyhow::bail!("--max-rate must be a positive number of frames per second");
    }
    let shared = Arc::new(Shared::new(args.expect, args.sample_file.is_some(), args.max_rate));
    let framing = match args.framing {
        FramingArg::Octet => Framing::Octet,
        FramingArg::Lf => Framing::Lf,
    };
    let addr = if let Some(addr) = args.tcp {
        let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on tcp {addr}"))?;
        let bound = listener.local_addr()?;
        tokio::spawn(accept_streams(listener, None, framing, shared.clone()));
        bound
    } else if let Some(addr) = args.tls {
        let (Some(cert), Some(key)) = (&args.cert, &args.key) else {
            anyhow::bail!("--tls needs --cert and --key");
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(tls_config(cert, key)?);
        let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on tls {addr}"))?;
        let bound = listener.local_addr()?;
        tokio::spawn(accept_streams(listener, Some(acceptor), framing, shared.clone()));
        bound
    } else if let Some(addr) = args.udp {
        let socket = udp_socket(addr).with_context(|| format!("cannot listen on udp {addr}"))?;
        let bound = socket.local_addr()?;
        tokio::spawn(receive_datagrams(socket, shared.clone()));
        bound
    } else if let Some(addr) = args.http {
        let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on http {addr}"))?;
        let bound = listener.local_addr()?;
        tokio::spawn(crate::http_rx::serve(listener, shared.clone()));
        bound
    } else {
        anyhow::bail!("one of --tcp, --tls, --udp or --http is required");
    };
    if let Some(path) = &args.ready_file {
        write_ready_file(path, addr)?;
    }
    let complete = wait(&shared, crate::clock::secs(args.timeout_s)).await;
    let summary = summarize(&shared, complete);
    if let Some(path) = &args.sample_file {
        let sample = shared.lock().sample.take().unwrap_or_default();
        std::fs::write(path, sample).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("{summary}");
    let _ = std::io::Write::flush(&mut std::io::stdout());
    if let Some(path) = &args.linger_until {
        while !path.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(if complete { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(3) })
}

/// Waits for the expected frames; false after `timeout` without progress.
async fn wait(shared: &Shared, timeout: Duration) -> bool {
    let mut last = shared.frames.load(Ordering::Relaxed);
    let mut last_progress = Instant::now();
    loop {
        if last >= shared.expect {
            return true;
        }
        tokio::select! {
            _ = shared.done.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        let now = shared.frames.load(Ordering::Relaxed);
        if now != last {
            last = now;
            last_progress = Instant::now();
        } else if last_progress.elapsed() >= timeout {
            return last >= shared.expect;
        }
    }
}

fn summarize(shared: &Shared, complete: bool) -> serde_json::Value {
    let mut t = shared.lock();
    let first = t.first_frame_at.unwrap_or(0);
    let seconds = t.last_frame_at.saturating_sub(first) as f64 / 1e9;
    let rate = |x: f64| if seconds > 0.0 { json!(x / seconds) } else { serde_json::Value::Null };
    let lat = t.latencies.summary();
    json!({
        "frames": t.frames,
        "expect": shared.expect,
        "complete": complete,
        "bytes": t.bytes,
        "connections": t.connections,
        "requests": t.requests,
        "malformed": t.malformed,
        "truncated": t.truncated,
        "no_sent_ns": t.no_sent_ns,
        "tls_failures": t.tls_failures,
        "first_frame_at": t.first_frame_at,
        "last_frame_at": if t.first_frame_at.is_some() { json!(t.last_frame_at) } else { serde_json::Value::Null },
        "seconds": seconds,
        "frames_per_s": rate(t.frames as f64),
        "MB_per_s": rate(t.bytes as f64 / 1e6),
        "latency_count": lat.map_or(0, |l| l.count),
        "latency_p50_us": lat.map(|l| l.p50),
        "latency_p90_us": lat.map(|l| l.p90),
        "latency_p99_us": lat.map(|l| l.p99),
        "latency_max_us": lat.map(|l| l.max),
        "first_problem": t.first_problem,
    })
}

/// Writes `addr` to `path` atomically (a reader never sees a partial address).
fn write_ready_file(path: &Path, addr: SocketAddr) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, format!("{addr}\n")).with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn tls_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("cannot read PEM certificates from {}: {e}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("no certificate in {}", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("cannot read a PEM private key from {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("TLS certificate and key do not fit together")?;
    Ok(Arc::new(config))
}

async fn accept_streams(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    framing: Framing,
    shared: Arc<Shared>,
) {
    loop {
        let socket = match listener.accept().await {
            Ok((socket, _)) => socket,
            Err(e) => {
                // EMFILE and the like: note it, back off, keep accepting.
                shared.problem(|_| {}, format!("accept failed: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        shared.connection();
        let shared = shared.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => read_frames(socket, framing, &shared).await,
                Some(acceptor) => match acceptor.accept(socket).await {
                    Ok(stream) => read_frames(stream, framing, &shared).await,
                    Err(e) => shared.problem(|t| t.tls_failures += 1, format!("TLS handshake failed: {e}")),
                },
            }
        });
    }
}

/// Reads one stream to its end, counting frames; a malformed frame closes it.
async fn read_frames(mut stream: impl AsyncRead + Unpin, framing: Framing, shared: &Shared) {
    let mut splitter = Splitter::new(framing);
    let mut buf = vec![0u8; READ_BUF];
    let mut batch = shared.batch(4096);
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                shared.problem(|_| {}, format!("read failed: {e}"));
                break;
            }
        };
        let now = realtime_ns();
        let result = splitter.push(&buf[..n], |frame| batch.frame(now, frame));
        shared.add(now, n, &mut batch);
        if let Err(e) = result {
            shared.malformed(format!("malformed stream, connection closed: {e}"));
            return;
        }
        shared.throttle().await;
    }
    match splitter.finish() {
        Leftover::None => {}
        Leftover::Frame(frame) => {
            let now = realtime_ns();
            batch.frame(now, &frame);
            shared.add(now, 0, &mut batch);
        }
        Leftover::Truncated(n) => {
            shared.problem(|t| t.truncated += 1, format!("stream ended inside a frame ({n} bytes)"))
        }
    }
}

fn udp_socket(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // A large receive buffer: bursts must not be lost while we are busy (best effort; the
    // kernel caps it at net.core.rmem_max).
    let _ = socket.set_recv_buffer_size(16 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

async fn receive_datagrams(socket: UdpSocket, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 65_536];
    let mut batch = shared.batch(1024);
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, _)) => {
                let now = realtime_ns();
                batch.frame(now, &buf[..n]);
                shared.add(now, n, &mut batch);
                shared.throttle().await;
            }
            Err(e) => {
                shared.problem(|_| {}, format!("udp receive failed: {e}"));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
