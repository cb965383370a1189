//! One client connection: bounded line reading, decoding, routing, and replies.
//!
//! Protocol (NDJSON both ways): the client writes one event per line. The daemon writes back
//! nothing for accepted lines; for each rejected line it writes
//! `{"type":"rejected","line":N,"reason_code":"...","reason":"..."}`. When the client shuts down
//! its sending side, the daemon answers `{"type":"summary","accepted":A,"rejected":R}` and
//! closes. Writers that never read replies work unchanged: replies are best effort and stop if
//! the client does not read them.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::stats::InputStats;
use crate::event::{DecodeError, Event};
use crate::router::SharedRouter;
use crate::timestamp::Timestamp;

/// How long a reply may wait for the client to read; after that, replies to this client stop.
const REPLY_TIMEOUT: Duration = Duration::from_secs(1);
/// On shutdown, how long a client may pause before its connection is closed ...
const DRAIN_PAUSE: Duration = Duration::from_millis(50);
/// ... and how long at most its already-sent lines are still read.
const DRAIN_LIMIT: Duration = Duration::from_secs(1);

/// Input limits that apply per connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_event_bytes: usize,
    pub max_clients: usize,
    pub idle_timeout: Option<Duration>,
}

/// Tells a client over the `max_clients` limit why it is turned away, then closes.
pub async fn refuse(mut stream: UnixStream, max_clients: usize) {
    let reply =
        json!({"type": "error", "reason": format!("too many clients (max_clients = {max_clients}); try again later")});
    let _ = tokio::time::timeout(REPLY_TIMEOUT, stream.write_all(format!("{reply}\n").as_bytes())).await;
}

/// Replies to one client; disabled after a reply times out or fails.
struct Replies {
    writer: Option<OwnedWriteHalf>,
}

impl Replies {
    async fn send(&mut self, reply: serde_json::Value) {
        let Some(writer) = &mut self.writer else {
            return;
        };
        let mut line = reply.to_string();
        line.push('\n');
        match tokio::time::timeout(REPLY_TIMEOUT, writer.write_all(line.as_bytes())).await {
            Ok(Ok(())) => {}
            _ => {
                debug!("client does not read replies; no more replies on this connection");
                self.writer = None;
            }
        }
    }
}

/// Per-connection counts, for the summary reply.
#[derive(Default)]
struct Tally {
    line: u64,
    accepted: u64,
    rejected: u64,
}

/// Serves one client until it closes, its idle timeout passes, or `stop` fires.
pub async fn serve(
    stream: UnixStream,
    router: SharedRouter,
    stats: Arc<InputStats>,
    limits: ConnectionLimits,
    stop: CancellationToken,
) {
    let (reader, writer) = stream.into_split();
    // The buffer holds a whole maximal line, so most lines are decoded straight from it.
    let mut reader = BufReader::with_capacity((limits.max_event_bytes + 1).clamp(8 * 1024, 1024 * 1024), reader);
    let mut replies = Replies { writer: Some(writer) };
    let mut tally = Tally::default();
    // A line that spans buffer refills is gathered here.
    let mut partial: Vec<u8> = Vec::new();
    // Set while skipping the rest of an over-long line.
    let mut discarding = false;

    // After `stop`, lines the client has already sent are still taken, until it pauses for
    // DRAIN_PAUSE or DRAIN_LIMIT has passed; then the connection closes without a summary.
    let mut drain_until: Option<tokio::time::Instant> = None;
    loop {
        let filled = match drain_until {
            None => tokio::select! {
                () = stop.cancelled() => {
                    drain_until = Some(tokio::time::Instant::now() + DRAIN_LIMIT);
                    continue;
                }
                filled = fill(&mut reader, limits.idle_timeout) => filled,
            },
            Some(deadline) => {
                let pause = DRAIN_PAUSE.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
                match tokio::time::timeout(pause, fill(&mut reader, None)).await {
                    Ok(filled) => filled,
                    Err(_) => return,
                }
            }
        };
        let buffer = match filled {
            Ok(buffer) => buffer,
            Err(reason) => {
                info!("closing client connection: {reason}");
                return;
            }
        };
        if buffer.is_empty() {
            // End of input: a last line without a newline still counts.
            if !partial.is_empty() && !discarding {
                let line = std::mem::take(&mut partial);
                handle_line(&line, &router, &stats, &mut replies, &mut tally).await;
            }
            break;
        }
        match buffer.iter().position(|&b| b == b'\n') {
            Some(end) if discarding => {
                reader.consume(end + 1);
                discarding = false;
            }
            Some(end) if partial.is_empty() => {
                if end > limits.max_event_bytes {
                    reader.consume(end + 1);
                    reject_too_long(&stats, &mut replies, &mut tally, limits.max_event_bytes).await;
                    continue;
                }
                let decoded = decode(&buffer[..end]);
                reader.consume(end + 1);
                dispatch(decoded, &router, &stats, &mut replies, &mut tally).await;
            }
            Some(end) => {
                let fits = partial.len() + end <= limits.max_event_bytes;
                if fits {
                    partial.extend_from_slice(&buffer[..end]);
                }
                reader.consume(end + 1);
                let line = std::mem::take(&mut partial);
                if fits {
                    handle_line(&line, &router, &stats, &mut replies, &mut tally).await;
                } else {
                    reject_too_long(&stats, &mut replies, &mut tally, limits.max_event_bytes).await;
                }
            }
            None => {
                let length = buffer.len();
                if !discarding {
                    if partial.len() + length > limits.max_event_bytes {
                        // Reject now and skip to the next newline: an endless line never
                        // costs more memory than one buffer.
                        partial.clear();
                        discarding = true;
                        reject_too_long(&stats, &mut replies, &mut tally, limits.max_event_bytes).await;
                    } else {
                        partial.extend_from_slice(buffer);
                    }
                }
                reader.consume(length);
            }
        }
    }
    replies.send(json!({"type": "summary", "accepted": tally.accepted, "rejected": tally.rejected})).await;
    if let Some(mut writer) = replies.writer.take() {
        let _ = writer.shutdown().await;
    }
}

/// Reads more input, honouring the idle timeout.
async fn fill(
    reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
    idle: Option<Duration>,
) -> Result<&[u8], String> {
    let read = reader.fill_buf();
    let result = match idle {
        Some(limit) => tokio::time::timeout(limit, read).await.map_err(|_| format!("idle for {limit:?}"))?,
        None => read.await,
    };
    result.map_err(|error| format!("read failed: {error}"))
}

/// Decodes a line without its terminator; `None` for blank lines, which are skipped.
fn decode(line: &[u8]) -> Option<Result<Event, DecodeError>> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    Some(Event::decode(line, Timestamp::now()))
}

async fn handle_line(line: &[u8], router: &SharedRouter, stats: &InputStats, replies: &mut Replies, tally: &mut Tally) {
    dispatch(decode(line), router, stats, replies, tally).await;
}

async fn dispatch(
    decoded: Option<Result<Event, DecodeError>>,
    router: &SharedRouter,
    stats: &InputStats,
    replies: &mut Replies,
    tally: &mut Tally,
) {
    tally.line += 1;
    let Some(decoded) = decoded else { return };
    match decoded {
        Ok(event) => {
            tally.accepted += 1;
            InputStats::add(&stats.accepted);
            // The router in force for this event; a reload swaps in a new one between events.
            let current = router.load_full();
            current.route(Arc::new(event)).await;
        }
        Err(error) => reject(error, stats, replies, tally).await,
    }
}

async fn reject_too_long(stats: &InputStats, replies: &mut Replies, tally: &mut Tally, limit: usize) {
    tally.line += 1;
    reject(DecodeError::TooLong { limit }, stats, replies, tally).await;
}

async fn reject(error: DecodeError, stats: &InputStats, replies: &mut Replies, tally: &mut Tally) {
    tally.rejected += 1;
    stats.reject(&error);
    debug!(line = tally.line, reason = error.code(), "rejected line: {error}");
    replies
        .send(json!({"type": "rejected", "line": tally.line, "reason_code": error.code(), "reason": error.to_string()}))
        .await;
}
