//! The `send` client: writes NDJSON events to the daemon's socket, asking for
//! acknowledgements, and reports from the daemon's replies how many were accepted, rejected and
//! acknowledged.

use std::path::Path;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// What the daemon said about a sent stream of events.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SendOutcome {
    /// Lines the daemon read (blank ones included, the hello line not).
    pub lines: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Every line up to this one is acknowledged: queued for every sink it routes to, or
    /// answered with an error.
    pub acked_through: u64,
    /// `(line, reason)` of events a queue refused.
    pub not_queued: Vec<(u64, String)>,
    /// `(line, reason)` of each rejected line.
    pub rejections: Vec<(u64, String)>,
    /// Set when the daemon refused the connection or ended it without a summary.
    pub error: Option<String>,
}

/// The first line that asks the daemon for acknowledgements.
pub const HELLO: &[u8] = b"{\"siem_relay\":{\"acks\":true}}\n";

/// Sends everything `input` yields to the socket at `socket`, asking for acknowledgements, then
/// waits for the summary.
pub async fn send(socket: &Path, mut input: impl AsyncRead + Unpin) -> std::io::Result<SendOutcome> {
    let stream = UnixStream::connect(socket).await?;
    let (reader, mut writer) = stream.into_split();
    // Replies are read concurrently, so a client sending many bad lines never deadlocks with a
    // daemon waiting for it to read.
    let replies = tokio::spawn(read_replies(reader));
    let copied = match writer.write_all(HELLO).await {
        Ok(()) => tokio::io::copy(&mut input, &mut writer).await,
        Err(error) => Err(error),
    };
    let shutdown = writer.shutdown().await;
    let outcome = replies.await.map_err(std::io::Error::other)?;
    copied?;
    shutdown?;
    Ok(outcome)
}

async fn read_replies(reader: tokio::net::unix::OwnedReadHalf) -> SendOutcome {
    let mut outcome = SendOutcome::default();
    let mut lines = BufReader::new(reader).lines();
    let mut summarised = false;
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(error) => {
                outcome.error = Some(format!("reading replies failed: {error}"));
                return outcome;
            }
        };
        let Ok(reply) = serde_json::from_str::<Value>(&line) else {
            outcome.error = Some(format!("unexpected reply from the daemon: {line}"));
            continue;
        };
        match reply.get("type").and_then(Value::as_str) {
            Some("rejected") => {
                let number = reply.get("line").and_then(Value::as_u64).unwrap_or(0);
                let reason = reply.get("reason").and_then(Value::as_str).unwrap_or("unknown").to_owned();
                outcome.rejections.push((number, reason));
            }
            Some("ack") => {
                outcome.acked_through =
                    reply.get("through").and_then(Value::as_u64).unwrap_or(0).max(outcome.acked_through);
            }
            Some("hello") => {}
            Some("error") if reply.get("line").is_some() => {
                let number = reply.get("line").and_then(Value::as_u64).unwrap_or(0);
                let reason = reply.get("reason").and_then(Value::as_str).unwrap_or("not queued").to_owned();
                outcome.not_queued.push((number, reason));
            }
            Some("summary") => {
                outcome.lines = reply.get("lines").and_then(Value::as_u64).unwrap_or(0);
                outcome.accepted = reply.get("accepted").and_then(Value::as_u64).unwrap_or(0);
                outcome.rejected = reply.get("rejected").and_then(Value::as_u64).unwrap_or(0);
                summarised = true;
            }
            Some("error") => {
                outcome.error = Some(reply.get("reason").and_then(Value::as_str).unwrap_or("refused").to_owned());
            }
            _ => {}
        }
    }
    if !summarised && outcome.error.is_none() {
        outcome.error = Some("the daemon closed the connection before confirming the events".to_owned());
    }
    outcome
}
