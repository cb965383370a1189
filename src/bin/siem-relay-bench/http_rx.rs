//! The HTTP side of `receive`: HTTP/1.1 with keep-alive; every request is answered 200 with a
//! Splunk-HEC style success body (any webhook client takes it). Events per request: each
//! top-level JSON object of the body (one for JSON webhooks, several for Splunk HEC batches,
//! which are objects one after another), or the whole body for other formats (CEF, RFC 5424
//! as text/plain). `Content-Encoding: gzip` bodies are inflated first.

use std::io::Read as _;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::clock::realtime_ns;
use crate::receive::Shared;

const REPLY: &[u8] = b"{\"text\":\"Success\",\"code\":0}";

pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let socket = match listener.accept().await {
            Ok((socket, _)) => socket,
            Err(e) => {
                shared.malformed(format!("accept failed: {e}"));
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(request, &shared).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(socket), service)
                .await;
        });
    }
}

async fn handle(request: Request<hyper::body::Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    let gzip = request
        .headers()
        .get(hyper::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            shared.malformed(format!("request body could not be read: {e}"));
            return reply(400);
        }
    };
    let wire = body.len();
    let body = if gzip {
        let mut inflated = Vec::new();
        if let Err(e) = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut inflated) {
            shared.malformed(format!("gzip body could not be inflated: {e}"));
            return reply(200);
        }
        Bytes::from(inflated)
    } else {
        body
    };
    let now = realtime_ns();
    shared.request();
    let mut batch = shared.batch(8);
    let result = split_body(&body, |event| batch.frame(now, event));
    shared.add(now, wire, &mut batch);
    if let Err(e) = result {
        shared.malformed(format!("request body is not a sequence of JSON objects: {e}"));
    }
    reply(200)
}

fn reply(status: u16) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(REPLY)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    response
}

/// Calls `event` for each event in a request body (one JSON object, concatenated objects as in
/// Splunk HEC batches, or a JSON array of objects as in batched `json` webhooks); an error
/// after the objects that parsed.
pub fn split_body(body: &[u8], mut event: impl FnMut(&[u8])) -> Result<(), String> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(body.len());
    if start == body.len() {
        return Ok(());
    }
    if body[start] == b'[' {
        return split_array(&body[start..], event);
    }
    if body[start] != b'{' {
        event(body);
        return Ok(());
    }
    let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<serde::de::IgnoredAny>();
    let mut from = 0;
    while let Some(item) = stream.next() {
        item.map_err(|e| e.to_string())?;
        let to = stream.byte_offset();
        event(&body[from..to]);
        from = to;
    }
    Ok(())
}

/// The elements of a JSON array, found by tracking nesting and strings (the receiver only
/// needs their bounds; it does not check them).
fn split_array(body: &[u8], mut event: impl FnMut(&[u8])) -> Result<(), String> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut from = 1;
    for (at, &byte) in body.iter().enumerate() {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth = depth.checked_sub(1).ok_or("unbalanced JSON array")?;
                if depth == 0 {
                    let element = &body[from..at];
                    if element.iter().any(|b| !b.is_ascii_whitespace()) {
                        event(element);
                    }
                    return Ok(());
                }
            }
            b',' if depth == 1 => {
                event(&body[from..at]);
                from = at + 1;
            }
            _ => {}
        }
    }
    Err("unterminated JSON array".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(body: &str) -> (Vec<String>, Result<(), String>) {
        let mut out = Vec::new();
        let r = split_body(body.as_bytes(), |e| out.push(String::from_utf8_lossy(e).trim().to_owned()));
        (out, r)
    }

    #[test]
    fn a_json_array_batch_is_one_event_per_element() {
        let (e, r) = events(r#"[{"a":"x,]}"},{"b":[1,2],"c":{"d":"\""}} , {"e":3}]"#);
        assert_eq!(r, Ok(()));
        assert_eq!(e, [r#"{"a":"x,]}"}"#, r#"{"b":[1,2],"c":{"d":"\""}}"#, r#"{"e":3}"#]);
        assert_eq!(events("[]").0.len(), 0);
        assert!(events("[{}").1.is_err());
    }

    #[test]
    fn one_json_webhook_is_one_event() {
        let (e, r) = events(r#"{"schema_version":1,"event":"x","data":{"sent_ns":5}}"#);
        assert_eq!(r, Ok(()));
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn hec_batches_count_each_object() {
        let (e, r) = events(
            "{\"time\":1.5,\"event\":{\"sent_ns\":1}}{\"time\":1.6,\"event\":{\"sent_ns\":2}}\n{\"event\":{}}\n",
        );
        assert_eq!(r, Ok(()));
        assert_eq!(
            e,
            vec![r#"{"time":1.5,"event":{"sent_ns":1}}"#, r#"{"time":1.6,"event":{"sent_ns":2}}"#, r#"{"event":{}}"#]
        );
        assert_eq!(crate::latency::find_sent_ns(e[1].as_bytes()), Some(2));
    }

    #[test]
    fn text_bodies_are_one_event_and_broken_json_is_an_error() {
        let (e, r) = events("CEF:0|a|b|1|x|y|5|sent_ns=9");
        assert_eq!((e.len(), r), (1, Ok(())));
        let (e, r) = events("   ");
        assert_eq!((e.len(), r), (0, Ok(())));
        let (e, r) = events("{\"a\":1}{\"b\":");
        assert_eq!(e.len(), 1);
        assert!(r.is_err());
    }
}
