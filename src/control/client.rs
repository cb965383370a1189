//! The client side of the control API, for `siem-relay ctl`: one HTTP/1.1 request over the
//! Unix socket.

use std::path::Path;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// Sends `method path` and returns the status and body.
pub async fn request(socket: &Path, method: &str, path: &str) -> Result<(u16, String), String> {
    request_with_body(socket, method, path, Vec::new()).await
}

/// Sends `method path` with a JSON `body` and returns the status and body.
pub async fn request_with_body(
    socket: &Path,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<(u16, String), String> {
    let stream =
        UnixStream::connect(socket).await.map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("control socket: {e}"))?;
    tokio::spawn(connection);
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, "siem-relay")
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| format!("control request failed: {e}"))?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(|e| format!("reading the answer: {e}"))?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
