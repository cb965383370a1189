//! Accepting control connections: a Unix socket (roles from peer credentials), TCP listeners
//! authorised by bearer tokens (over TLS, and the operator console's), and a TCP listener that
//! serves only the metrics.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, UnixListener};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::api::{self, Answer, ControlState};
use super::auth::{bearer_role, caller_groups, AccessPolicy, Caller, Role, Token};

fn response(answer: Answer) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(answer.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = hyper::header::HeaderValue::from_str(answer.content_type) {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// Serves the control API on `listener` until `stop` fires.
pub async fn serve_unix(listener: UnixListener, state: ControlState, access: AccessPolicy, stop: CancellationToken) {
    let state = Arc::new(state);
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let role = match stream.peer_cred() {
            Ok(cred) => {
                let caller = Caller { uid: cred.uid(), gids: caller_groups(cred.uid(), cred.gid(), cred.pid()) };
                access.role(&caller)
            }
            Err(error) => {
                warn!("control connection without peer credentials refused: {error}");
                None
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let state = state.clone();
                async move {
                    let method = request.method().as_str().to_owned();
                    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
                    // Request bodies are sink definitions: a megabyte is plenty.
                    let body = http_body_util::Limited::new(request.into_body(), 1 << 20)
                        .collect()
                        .await
                        .map(|b| b.to_bytes());
                    let answer = match (role, body) {
                        (_, Err(_)) => Answer { status: 413, content_type: "application/json", body: "{\"error\": \"request body too large or unreadable\"}\n".to_owned() },
                        (Some(role), Ok(body)) => api::handle(&state, role, &method, &path, &body).await,
                        (None, Ok(_)) => Answer {
                            status: 403,
                            content_type: "application/json",
                            body: "{\"error\": \"access refused: the control API is for root, the daemon's user, and the members of control.admin_group or control.viewer_group\"}\n".to_owned(),
                        },
                    };
                    Ok::<_, Infallible>(response(answer))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Serves `GET /metrics` (and nothing else) on a TCP listener until `stop` fires.
pub async fn serve_metrics(listener: TcpListener, state: ControlState, stop: CancellationToken) {
    let state = Arc::new(state);
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let state = state.clone();
                async move {
                    let answer = if request.method() == hyper::Method::GET && request.uri().path() == "/metrics" {
                        api::handle(&state, Role::Viewer, "GET", "/metrics", &[]).await
                    } else {
                        Answer {
                            status: 404,
                            content_type: "text/plain",
                            body: "only GET /metrics is served here\n".to_owned(),
                        }
                    };
                    Ok::<_, Infallible>(response(answer))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Serves the control API on TCP until `stop` fires, over TLS when `tls` is given; each
/// request's role comes from its bearer token. With `console`, the operator console's files
/// are served too (without a token: they hold nothing secret, and the page signs in itself).
pub async fn serve_tokens(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    tokens: Arc<Vec<Token>>,
    state: ControlState,
    console: bool,
    stop: CancellationToken,
) {
    let state = Arc::new(state);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, peer)) = accepted else { continue };
        let (state, tokens, acceptor) = (state.clone(), tokens.clone(), acceptor.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let (state, tokens) = (state.clone(), tokens.clone());
                async move { Ok::<_, Infallible>(answer_bearer(&state, &tokens, console, peer, request).await) }
            });
            let builder = hyper::server::conn::http1::Builder::new();
            match acceptor {
                None => {
                    let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                }
                Some(acceptor) => {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(stream)).await
                    else {
                        warn!(%peer, "control TLS handshake failed");
                        return;
                    };
                    let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                }
            }
        });
    }
}

/// One request on a token listener: a console file, or an API call with a bearer token.
async fn answer_bearer(
    state: &ControlState,
    tokens: &[Token],
    console: bool,
    peer: std::net::SocketAddr,
    request: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    if console && !path.starts_with("/v1/") {
        return super::console::serve(request.method(), request.uri().path());
    }
    let authorization = request.headers().get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let role = bearer_role(tokens, authorization);
    let method = request.method().as_str().to_owned();
    let body = http_body_util::Limited::new(request.into_body(), 1 << 20).collect().await.map(|b| b.to_bytes());
    let answer = match (role, body) {
        (None, _) => {
            warn!(%peer, "control request without a valid bearer token refused");
            let mut response = response(Answer {
                status: 401,
                content_type: "application/json",
                body: "{\"error\": \"a valid bearer token is required (Authorization: Bearer ...)\"}\n".to_owned(),
            });
            response
                .headers_mut()
                .insert(hyper::header::WWW_AUTHENTICATE, hyper::header::HeaderValue::from_static("Bearer"));
            return response;
        }
        (Some(_), Err(_)) => Answer {
            status: 413,
            content_type: "application/json",
            body: "{\"error\": \"request body too large or unreadable\"}\n".to_owned(),
        },
        (Some(role), Ok(body)) => api::handle(state, role, &method, &path, &body).await,
    };
    let mut response = response(answer);
    // API answers carry live state and are per token: never cached.
    response.headers_mut().insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-store"));
    response
}
