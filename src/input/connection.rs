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
use crate::router::{RouteScratch, SharedRouter};
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
    let mut cx = Context {
        router,
        stats,
        replies: Replies { writer: Some(writer) },
        tally: Tally::default(),
        batch: Batch::default(),
    };
    // A line that spans buffer refills is gathered here.
    let mut partial: Vec<u8> = Vec::new();
    // Set while skipping the rest of an over-long line.
    let mut discarding = false;

    // After `stop`, lines the client has already sent are still taken, until it pauses for
    // DRAIN_PAUSE or DRAIN_LIMIT has passed; then the connection closes without a summary.
    let mut drain_until: Option<tokio::time::Instant> = None;
    loop {
        // About to wait for more from the client: acknowledge what was taken in.
        if cx.tally.acks && cx.tally.line > cx.tally.acked_through && reader.buffer().is_empty() {
            cx.tally.acked_through = cx.tally.line;
            cx.replies.send(json!({"type": "ack", "through": cx.tally.line})).await;
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
                take(decode(&line, Timestamp::now()), &mut cx).await;
            }
            cx.flush().await;
            break;
        }
        // Every complete line of what was read: its events are routed together, per sink in
        // one queue operation (see `Batch`). They arrived together: one clock reading is their
        // time of receipt.
        let received = Timestamp::now();
        let mut consumed = 0;
        while let Some(rest) = buffer.get(consumed..).filter(|rest| !rest.is_empty()) {
            match memchr::memchr(b'\n', rest) {
                Some(end) if discarding => {
                    consumed += end + 1;
                    discarding = false;
                }
                Some(end) if partial.is_empty() => {
                    consumed += end + 1;
                    if end > limits.max_event_bytes {
                        cx.reject_too_long(limits.max_event_bytes).await;
                        continue;
                    }
                    take(decode(&rest[..end], received), &mut cx).await;
                }
                Some(end) => {
                    let fits = partial.len() + end <= limits.max_event_bytes;
                    if fits {
                        partial.extend_from_slice(&rest[..end]);
                    }
                    consumed += end + 1;
                    let line = std::mem::take(&mut partial);
                    if fits {
                        take(decode(&line, received), &mut cx).await;
                    } else {
                        cx.reject_too_long(limits.max_event_bytes).await;
                    }
                }
                None => {
                    if !discarding {
                        if partial.len() + rest.len() > limits.max_event_bytes {
                            // Reject now and skip to the next newline: an endless line never
                            // costs more memory than one buffer.
                            partial.clear();
                            discarding = true;
                            cx.reject_too_long(limits.max_event_bytes).await;
                        } else {
                            partial.extend_from_slice(rest);
                        }
                    }
                    consumed = buffer.len();
                }
            }
        }
        // Routed before the buffer is consumed: if a queue blocks, nothing more is read.
        cx.flush().await;
        reader.consume(consumed);
    }
    let Context { mut replies, tally, .. } = cx;
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

/// Decodes a line without its terminator, received at `received`.
fn decode(line: &[u8], received: Timestamp) -> Line {
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
    Line::Event(Event::decode(line, received))
}

/// Most events routed together: a full read buffer holds a few hundred events; routing them in
/// parts bounds the wait of the first one (and the memory held back under backpressure).
const BATCH_EVENTS: usize = 256;

/// One connection's state while its lines are taken in.
struct Context {
    router: SharedRouter,
    stats: Arc<InputStats>,
    replies: Replies,
    tally: Tally,
    batch: Batch,
}

/// Accepted events not routed yet, with their line numbers; the buffers are reused.
#[derive(Default)]
struct Batch {
    events: Vec<Arc<Event>>,
    lines: Vec<u64>,
    scratch: RouteScratch,
    refused: Vec<(usize, String)>,
}

/// Takes in one line: an event joins the batch; a reply (hello, rejection) is sent once the
/// events before it are routed, so replies keep the order of the lines.
async fn take(decoded: Line, cx: &mut Context) {
    let decoded = match decoded {
        Line::Hello if cx.tally.line == 0 && !cx.tally.acks => {
            cx.tally.acks = true;
            cx.replies.send(json!({"type": "hello", "acks": true})).await;
            return;
        }
        // A hello anywhere else is an ordinary (rejected) line.
        Line::Hello => Line::Event(Err(DecodeError::MissingEventType)),
        other => other,
    };
    cx.tally.line += 1;
    match decoded {
        Line::Blank | Line::Hello => {}
        Line::Event(Ok(event)) => {
            cx.tally.accepted += 1;
            cx.batch.events.push(Arc::new(event));
            cx.batch.lines.push(cx.tally.line);
            if cx.batch.events.len() >= BATCH_EVENTS {
                cx.flush().await;
            }
        }
        Line::Event(Err(error)) => {
            cx.flush().await;
            cx.reject(error).await;
        }
    }
}

impl Context {
    /// Routes the batch: each sink's queue takes its events at once. A writer that asked for
    /// acknowledgements hears of every event a queue refused, by line, in line order.
    async fn flush(&mut self) {
        let Batch { events, lines, scratch, refused } = &mut self.batch;
        if events.is_empty() {
            return;
        }
        self.stats.accepted.fetch_add(events.len() as u64, std::sync::atomic::Ordering::Relaxed);
        // The router in force for this batch; a reload swaps in a new one between batches.
        let current = self.router.load_full();
        current.route_batch(events, scratch, refused).await;
        events.clear();
        for (index, reason) in refused.drain(..) {
            if self.tally.acks {
                let line = lines.get(index).copied().unwrap_or_default();
                self.replies
                    .send(json!({"type": "error", "line": line, "reason_code": "not_queued", "reason": reason}))
                    .await;
            }
        }
        lines.clear();
    }

    async fn reject_too_long(&mut self, limit: usize) {
        self.flush().await;
        self.tally.line += 1;
        self.reject(DecodeError::TooLong { limit }).await;
    }

    async fn reject(&mut self, error: DecodeError) {
        self.tally.rejected += 1;
        self.stats.reject(&error);
        debug!(line = self.tally.line, reason = error.code(), "rejected line: {error}");
        self.replies
            .send(json!({"type": "rejected", "line": self.tally.line, "reason_code": error.code(), "reason": error.to_string()}))
            .await;
    }
}
