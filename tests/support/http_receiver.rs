//! A scripted HTTP/1.1 receiver (hyper) on 127.0.0.1: it records every request and answers
//! with the next scripted reply (200 once the script is used up).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One received request.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// A status with extra headers (e.g. `Retry-After`, `Location`).
    With(u16, Vec<(&'static str, String)>),
    /// Answer only after this long (past the client's timeout).
    Hang(Duration),
    /// Drop the connection without answering.
    Reset,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    /// Answer every request with this once the script is used up (default 200).
    fallback: Mutex<Option<Reply>>,
}

pub struct HttpReceiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpReceiver {
    pub async fn start(script: Vec<Reply>) -> HttpReceiver {
        Self::serve(script, None).await
    }

    /// An HTTPS receiver with `tls` (from `certs::Pki::server_config`).
    pub async fn start_tls(script: Vec<Reply>, tls: Arc<rustls::ServerConfig>) -> HttpReceiver {
        Self::serve(script, Some(tokio_rustls::TlsAcceptor::from(tls))).await
    }

    async fn serve(script: Vec<Reply>, tls: Option<tokio_rustls::TlsAcceptor>) -> HttpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared::default());
        shared.script.lock().expect("lock").extend(script);
        let serving = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let shared = serving.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                        let shared = shared.clone();
                        async move { answer(&shared, request).await }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                    }
                });
            }
        });
        HttpReceiver { addr, shared, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn https_url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.shared.requests.lock().expect("lock").clone()
    }

    pub fn set_fallback(&self, reply: Reply) {
        *self.shared.fallback.lock().expect("lock") = Some(reply);
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for Dropped {}

async fn answer(
    shared: &Shared,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Dropped> {
    let path = request.uri().path().to_owned();
    let headers = request
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = request.into_body().collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
    shared.requests.lock().expect("lock").push(Received { path, headers, body });
    let reply = shared.script.lock().expect("lock").pop_front();
    let reply = reply.or_else(|| shared.fallback.lock().expect("lock").clone()).unwrap_or(Reply::Status(200));
    let (status, extra) = match reply {
        Reply::Status(status) => (status, Vec::new()),
        Reply::With(status, headers) => (status, headers),
        Reply::Hang(delay) => {
            tokio::time::sleep(delay).await;
            (200, Vec::new())
        }
        Reply::Reset => return Err(Dropped),
    };
    let mut response = hyper::Response::builder().status(status);
    for (name, value) in extra {
        response = response.header(name, value);
    }
    Ok(response.body(Full::new(Bytes::from(format!("answer {status}")))).expect("response"))
}
