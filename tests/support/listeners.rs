//! Receivers of our own on 127.0.0.1 ephemeral ports: they keep the raw bytes of every
//! connection so tests can check framing and content exactly, and they can pause reading,
//! drop connections and restart on the same port.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

#[derive(Default)]
struct Shared {
    /// Bytes of each accepted connection, in accept order.
    connections: Mutex<Vec<Vec<u8>>>,
    /// While set, connections are not read (the kernel buffers fill, then the sender blocks).
    paused: AtomicBool,
    /// TLS handshakes that failed (bad client certificate, client refused ours, ...).
    handshake_failures: Mutex<Vec<String>>,
}

/// A TCP (optionally TLS) receiver.
pub struct StreamReceiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    tls: Option<Arc<rustls::ServerConfig>>,
    tasks: JoinSet<()>,
}

impl StreamReceiver {
    pub async fn tcp() -> StreamReceiver {
        Self::bind("127.0.0.1:0".parse().expect("addr"), None).await
    }

    pub async fn tls(config: Arc<rustls::ServerConfig>) -> StreamReceiver {
        Self::bind("127.0.0.1:0".parse().expect("addr"), Some(config)).await
    }

    async fn bind(addr: SocketAddr, tls: Option<Arc<rustls::ServerConfig>>) -> StreamReceiver {
        let listener = TcpListener::bind(addr).await.expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let mut receiver = StreamReceiver { addr, shared: Arc::default(), tls, tasks: JoinSet::new() };
        receiver.serve(listener);
        receiver
    }

    fn serve(&mut self, listener: TcpListener) {
        let shared = self.shared.clone();
        let acceptor = self.tls.clone().map(TlsAcceptor::from);
        self.tasks.spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let index = {
                    let mut all = shared.connections.lock().expect("lock");
                    all.push(Vec::new());
                    all.len() - 1
                };
                let shared = shared.clone();
                let acceptor = acceptor.clone();
                connections.spawn(async move {
                    match acceptor {
                        None => read_into(socket, &shared, index).await,
                        Some(acceptor) => match acceptor.accept(socket).await {
                            Ok(stream) => read_into(stream, &shared, index).await,
                            Err(error) => shared.handshake_failures.lock().expect("lock").push(error.to_string()),
                        },
                    }
                });
            }
        });
    }

    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    /// All bytes received, connection after connection.
    pub fn connections(&self) -> Vec<Vec<u8>> {
        self.shared.connections.lock().expect("lock").clone()
    }

    pub fn handshake_failures(&self) -> Vec<String> {
        self.shared.handshake_failures.lock().expect("lock").clone()
    }

    /// Complete octet-counted frames of every connection (a frame cut off by a dropped
    /// connection is not complete and not returned).
    pub fn octet_frames(&self) -> Vec<Vec<u8>> {
        self.connections().iter().flat_map(|bytes| complete_octet_frames(bytes)).collect()
    }

    /// The `id` structured-data parameter of every complete octet-counted frame, in order;
    /// each frame must be valid RFC 5424 by the strict parser.
    pub fn octet_ids(&self) -> Vec<String> {
        self.octet_frames()
            .iter()
            .map(|frame| {
                let message = super::rfc5424_strict::parse(frame).unwrap_or_else(|e| panic!("invalid frame: {e}"));
                message.sd_param("siem@32473", "id").expect("id parameter").to_owned()
            })
            .collect()
    }

    /// Complete LF-terminated frames of every connection.
    pub fn lf_frames(&self) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        for bytes in self.connections() {
            let mut rest = &bytes[..];
            while let Some(end) = rest.iter().position(|&b| b == b'\n') {
                frames.push(rest[..end].to_vec());
                rest = &rest[end + 1..];
            }
        }
        frames
    }

    pub fn pause(&self) {
        self.shared.paused.store(true, Ordering::SeqCst);
    }

    pub fn resume(&self) {
        self.shared.paused.store(false, Ordering::SeqCst);
    }

    /// Stops listening and drops every connection (unread data makes the kernel send a reset).
    pub async fn stop(&mut self) {
        self.tasks.shutdown().await;
    }

    /// Listens again on the same port, keeping what was received so far.
    pub async fn restart(&mut self) {
        self.tasks.shutdown().await;
        let mut attempts = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(error) if attempts < 100 => {
                    attempts += 1;
                    let _ = error;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(error) => panic!("cannot rebind {}: {error}", self.addr),
            }
        };
        self.serve(listener);
    }
}

async fn read_into(mut stream: impl AsyncRead + Unpin, shared: &Shared, index: usize) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while shared.paused.load(Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => shared.connections.lock().expect("lock")[index].extend_from_slice(&buf[..n]),
        }
    }
}

/// Splits `MSG-LEN SP MSG` frames, stopping at the first incomplete one.
pub fn complete_octet_frames(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    while let Some(space) = bytes.iter().position(|&b| b == b' ') {
        let Some(length) = std::str::from_utf8(&bytes[..space]).ok().and_then(|s| s.parse::<usize>().ok()) else {
            panic!("bad octet-counting frame header: {:?}", String::from_utf8_lossy(&bytes[..space.min(20)]));
        };
        let rest = &bytes[space + 1..];
        if rest.len() < length {
            break;
        }
        frames.push(rest[..length].to_vec());
        bytes = &rest[length..];
    }
    frames
}

/// A UDP receiver keeping every datagram.
pub struct UdpReceiver {
    pub addr: SocketAddr,
    datagrams: Arc<Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl UdpReceiver {
    pub async fn bind() -> UdpReceiver {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
        let addr = socket.local_addr().expect("addr");
        let datagrams: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let sink = datagrams.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = socket.recv(&mut buf).await {
                sink.lock().expect("lock").push(buf[..n].to_vec());
            }
        });
        UdpReceiver { addr, datagrams, task }
    }

    pub fn datagrams(&self) -> Vec<Vec<u8>> {
        self.datagrams.lock().expect("lock").clone()
    }
}

impl Drop for UdpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
