//! One client connection: bounded line reading, decoding, routing, and replies.
//!
//! Protocol (NDJSON both ways): the client writes one event per line. The daemon writes back
//! nothing for accepted lines; for each rejected line it writes
//! `{"type":"rejected","line":N,"reason_code":"...","reason":"..."}`. When the client shuts down
//! its sending side, the daemon answers `{"type":"summary","lines":L,"accepted":A,"rejected":R}`
//! and closes. Writers that never read replies work unchanged: replies are best effort and stop
//! if the client does not read them.
//!
//! Acknowledgements: a client whose first line is `{"siem_relay":{"acks":true}}` (answered with
//! `{"type":"hello","acks":true}`) also receives `{"type":"ack","through":N}` each time the
//! daemon has taken in everything it had received: every event on lines up to N is then in the
//! queue of every sink it routes to (written to disk for disk queues), or was answered with an
//! error line (`rejected`, or `{"type":"error","line":N,"reason_code":"not_queued",...}` when a
//! queue refused it). The hello line itself is not counted.

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
    /// The client asked for acknowledgements.
    acks: bool,
    /// Lines acknowledged so far.
    acked_through: u64,
}

/// One line, as the protocol sees it.
enum Line {
    Blank,
    /// `{"siem_relay":{"acks":true}}`, honoured as the first line only.
    Hello,
    Event(Result<Event, DecodeError>),
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
        // About to wait for more from the client: acknowledge what was taken in.
        if tally.acks && tally.line > tally.acked_through && reader.buffer().is_empty() {
            tally.acked_through = tally.line;
            replies.send(json!({"type": "ack", "through": tally.line})).await;
        }
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
        match memchr::memchr(b'\n', buffer) {
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
    if tally.acks && tally.line > tally.acked_through {
        replies.send(json!({"type": "ack", "through": tally.line})).await;
    }
    replies
        .send(json!({"type": "summary", "lines": tally.line, "accepted": tally.accepted, "rejected": tally.rejected}))
        .await;
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

/// Decodes a line without its terminator.
fn decode(line: &[u8]) -> Line {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Line::Blank;
    }
    if line.starts_with(b"{\"siem_relay\"") {
        let hello = serde_json::from_slice::<serde_json::Value>(line).ok();
        if hello.as_ref().and_then(|h| h.get("siem_relay")).and_then(|o| o.get("acks"))
            == Some(&serde_json::Value::Bool(true))
        {
            return Line::Hello;
        }
    }
    Line::Event(Event::decode(line, Timestamp::now()))
}

async fn handle_line(line: &[u8], router: &SharedRouter, stats: &InputStats, replies: &mut Replies, tally: &mut Tally) {
    dispatch(decode(line), router, stats, replies, tally).await;
}

async fn dispatch(decoded: Line, router: &SharedRouter, stats: &InputStats, replies: &mut Replies, tally: &mut Tally) {
    let decoded = match decoded {
        Line::Hello if tally.line == 0 && !tally.acks => {
            tally.acks = true;
            replies.send(json!({"type": "hello", "acks": true})).await;
            return;
        }
        // A hello anywhere else is an ordinary (rejected) line.
        Line::Hello => Line::Event(Err(DecodeError::MissingEventType)),
        other => other,
    };
    tally.line += 1;
    let Line::Event(decoded) = decoded else { return };
    match decoded {
        Ok(event) => {
            tally.accepted += 1;
            InputStats::add(&stats.accepted);
            // The router in force for this event; a reload swaps in a new one between events.
            let current = router.load_full();
            if let Err(reason) = current.route(Arc::new(event)).await {
                if tally.acks {
                    replies
                        .send(
                            json!({"type": "error", "line": tally.line, "reason_code": "not_queued", "reason": reason}),
                        )
                        .await;
                }
            }
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
