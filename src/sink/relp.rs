//! Delivery over RELP: every message is a `syslog` command the receiver answers, and an event
//! leaves its queue only once the receiver answered `200` for it.
//!
//! At most `relp_window` commands are unanswered at a time; the worker takes no new batch
//! while the window is full, so a slow receiver holds the window and the queue (with its
//! `when_full` policy), never more memory. When the session breaks (the receiver closed or
//! failed, sent `serverclose`, or sent bytes that are not RELP), every unanswered message is
//! sent again, in order, on the next session: what the receiver answered is never sent twice,
//! what it received but could not answer may be (counted as `resent`).
//!
//! A non-200 answer (librelp's receivers answer `500` when they cannot take a message) counts
//! in `retries` and ends the session; after a backoff the message goes again with the rest.
//! After [`MAX_REJECTIONS`] refusals of the same message, each with other messages taken by
//! the receiver since the last, it is dropped, counted in `dropped_unsendable` and logged with the
//! receiver's reason, so that one message the receiver will never take cannot hold up every
//! later one; a receiver that refuses everything (overloaded) never makes it drop anything.
//! A receiver that stays silent for `relp_timeout_ms` (default 90 s) is given up like a
//! broken one.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{debug, info, warn};

use super::stats::SinkStats;
use super::worker::{Batch, Shared};
use crate::event::Event;
use crate::queue::AckToken;
use crate::transport::relp::{self, Frame};
use crate::transport::stream::StreamConnection;
use crate::transport::Endpoint;

/// Default of `relp_window`: librelp's own default window.
pub const DEFAULT_WINDOW: usize = 128;
/// The largest `relp_window` accepted.
pub const MAX_WINDOW: usize = 1024;
/// Refusals of one message before it is dropped.
pub const MAX_REJECTIONS: u32 = 5;
/// Default of `relp_timeout_ms`: how long the oldest unanswered message may wait for its answer
/// before the session is given up as hung (librelp's omrelp waits 90 s too); its messages then
/// go again.
pub const DEFAULT_TIMEOUT_MS: u64 = 90_000;
/// Most bytes read ahead of the frame parser: a whole frame and more never need more.
const MAX_INPUT: usize = 2 * relp::MAX_DATA;
/// How long `close` waits for its answer at shutdown.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// A RELP sink's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelpSettings {
    /// Most unanswered `syslog` commands at a time.
    pub window: usize,
    /// How long the oldest message in flight may wait for its answer (`relp_timeout_ms`).
    pub answer_timeout: Duration,
}

/// One message, from the moment its batch was taken until the receiver answered it.
#[derive(Debug)]
struct Message {
    bytes: Bytes,
    event: Arc<Event>,
    /// Transaction number and send time on the current session, if sent on it.
    sent: Option<(u32, Instant)>,
    /// Answered `200`, or dropped after too many refusals (`dropped`): it leaves the queue.
    answered: bool,
    dropped: bool,
    rejections: u32,
    /// `accepted` of the delivery when this message was taken or last refused: a refusal
    /// counts only if the receiver took other messages since.
    accepted_mark: u64,
}

/// The end of a batch: its queue token is acknowledged once every message up to it is answered.
#[derive(Debug)]
struct BatchEnd {
    /// Sequence number of the batch's last message.
    last: u64,
    token: AckToken,
}

/// An open session: the connection, after a successful `open`.
struct Session {
    connection: StreamConnection,
    next_txnr: u32,
    /// Bytes read and not yet a whole frame.
    input: Vec<u8>,
    /// Unanswered transactions: txnr to message sequence number.
    in_flight: HashMap<u32, u64>,
    /// Scratch buffer for outgoing frames.
    output: Vec<u8>,
}

/// Why a session ended.
enum Lost {
    /// The receiver ended it or broke it; logged and reconnected with backoff.
    Broken(String),
    /// The receiver refused a message: counted as a retry.
    Refused(String),
}

pub(super) struct RelpDelivery {
    shared: Shared,
    settings: RelpSettings,
    session: Option<Session>,
    /// Messages taken from the queue and not yet answered (answered ones are removed from the
    /// front), in queue order; the front has sequence number `front_seq`.
    messages: VecDeque<Message>,
    front_seq: u64,
    /// Index in `messages` of the first message not sent on the current session.
    next_unsent: usize,
    batch_ends: VecDeque<BatchEnd>,
    /// Set when a session was lost: the next connection waits this long first.
    reconnect_delay: Option<Duration>,
    /// Messages sent on lost sessions and not answered there: the next session sends them
    /// again (counted as `resent` once it opens).
    to_resend: usize,
    /// Messages the current read found refused: `(sequence number, the receiver's reason)`.
    refused_now: Vec<(u64, String)>,
    /// Messages the receiver answered `200`, over all sessions.
    accepted: u64,
}

impl RelpDelivery {
    pub(super) fn new(shared: Shared, settings: RelpSettings) -> Self {
        RelpDelivery {
            shared,
            settings,
            session: None,
            messages: VecDeque::new(),
            front_seq: 0,
            next_unsent: 0,
            batch_ends: VecDeque::new(),
            reconnect_delay: None,
            to_resend: 0,
            refused_now: Vec::new(),
            accepted: 0,
        }
    }

    /// Takes a batch in and sends all of it, waiting for answers whenever the window is full.
    /// Returns once every message is sent (not answered): answers are taken in later.
    pub(super) async fn deliver(&mut self, batch: Batch, events: &[Arc<Event>], token: AckToken) {
        let bytes = Bytes::from(batch.bytes);
        let mut start = 0;
        for (&end, event) in batch.ends.iter().zip(events) {
            self.messages.push_back(Message {
                bytes: bytes.slice(start..end),
                event: event.clone(),
                sent: None,
                answered: false,
                dropped: false,
                rejections: 0,
                accepted_mark: self.accepted,
            });
            start = end;
        }
        let last = self.front_seq + self.messages.len() as u64;
        self.batch_ends.push_back(BatchEnd { last: last.wrapping_sub(1), token });
        if events.is_empty() {
            self.acknowledge_answered();
        }
        while self.next_unsent < self.messages.len() {
            self.step(false).await;
        }
    }

    /// One step towards getting messages answered: connect if needed, send what the window
    /// allows, and wait for an answer when the window is full (or, with `wait`, when
    /// everything is sent and answers are all that is left).
    async fn step(&mut self, wait: bool) {
        if self.session.is_none() {
            self.connect().await;
            return;
        }
        let result = match self.send_window().await {
            Ok(()) if self.window_full() || (wait && self.next_unsent >= self.messages.len()) => self.read(true).await,
            Ok(()) => Ok(()),
            Err(lost) => Err(lost),
        };
        if let Err(lost) = result {
            self.lose(lost).await;
        }
    }

    fn window_full(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.in_flight.len() >= self.settings.window)
    }

    /// Sends unsent messages while the window has room.
    async fn send_window(&mut self) -> Result<(), Lost> {
        let Some(session) = self.session.as_mut() else { return Ok(()) };
        session.output.clear();
        let mut sent = 0;
        while session.in_flight.len() < self.settings.window && self.next_unsent < self.messages.len() {
            let message = &mut self.messages[self.next_unsent];
            if message.answered {
                // Answered on an earlier session (behind a refused one): never sent twice.
                self.next_unsent += 1;
                continue;
            }
            let txnr = session.next_txnr;
            session.next_txnr = relp::next_txnr(txnr);
            relp::write_frame(&mut session.output, txnr, relp::SYSLOG, &message.bytes);
            message.sent = Some((txnr, Instant::now()));
            session.in_flight.insert(txnr, self.front_seq + self.next_unsent as u64);
            self.next_unsent += 1;
            sent += 1;
        }
        if sent == 0 {
            return Ok(());
        }
        if let Err(error) = session.connection.send(&session.output).await {
            SinkStats::add(&self.shared.stats.send_failures, 1);
            return Err(Lost::Broken(format!("write failed: {error}")));
        }
        Ok(())
    }

    /// Reads answers: waits for at least one byte when `wait`, else takes only what arrived.
    /// Every whole frame read is taken in, even after a refusal, so that answered messages are
    /// not sent again.
    async fn read(&mut self, wait: bool) -> Result<(), Lost> {
        let Some(session) = self.session.as_mut() else { return Ok(()) };
        let mut closed = None;
        if wait {
            // A receiver that is up but never answers must not hold the sink for ever.
            let oldest = self.messages.iter().filter_map(|m| m.sent.map(|(_, at)| at)).min();
            let limit = self.settings.answer_timeout;
            let deadline = oldest.map_or(limit, |at| limit.saturating_sub(at.elapsed()));
            match tokio::time::timeout(deadline, session.connection.read_into(&mut session.input)).await {
                Err(_) => closed = Some(format!("no answer from the receiver within {limit:?} (relp_timeout_ms)")),
                Ok(Ok(0)) => closed = Some("receiver closed the connection".to_owned()),
                Ok(Ok(_)) => {}
                Ok(Err(error)) => closed = Some(format!("connection failed: {error}")),
            }
        }
        while closed.is_none() && session.input.len() < MAX_INPUT {
            match session.connection.try_read_into(&mut session.input) {
                Ok(None) => break,
                Ok(Some(0)) => closed = Some("receiver closed the connection".to_owned()),
                Ok(Some(_)) => {}
                Err(error) => closed = Some(format!("connection failed: {error}")),
            }
        }
        let mut refused = None;
        let mut broken = None;
        while let Some(session) = self.session.as_mut() {
            match relp::take_frame(&mut session.input) {
                Ok(Some(frame)) => match self.answer(frame) {
                    Ok(None) => {}
                    Ok(Some(why)) => refused = refused.or(Some(why)),
                    Err(why) => {
                        broken = Some(why);
                        break;
                    }
                },
                Ok(None) => break,
                Err(error) => {
                    broken = Some(error.to_string());
                    break;
                }
            }
        }
        self.count_refusals();
        self.acknowledge_answered();
        match (broken.or(closed), refused) {
            (Some(why), _) => Err(Lost::Broken(why)),
            (None, Some(why)) => Err(Lost::Refused(why)),
            (None, None) => Ok(()),
        }
    }

    /// Takes in one frame from the receiver: `Some` with the reason when it refused a message
    /// that is to be sent again, `Err` when the session cannot go on.
    fn answer(&mut self, frame: Frame) -> Result<Option<String>, String> {
        let Some(session) = self.session.as_mut() else { return Ok(None) };
        if frame.txnr == 0 {
            return match frame.command.as_str() {
                "serverclose" => Err("receiver announced it closes the session (serverclose)".to_owned()),
                // Other hints are advisory (relp.md): nothing to do.
                _ => Ok(None),
            };
        }
        if frame.command != "rsp" {
            return Err(format!("receiver sent the command {:?}, not a response", frame.command));
        }
        let Some(seq) = session.in_flight.remove(&frame.txnr) else {
            return Err(format!("response to transaction {}, which is not outstanding", frame.txnr));
        };
        let response = relp::parse_response(&frame.data).map_err(|e| e.to_string())?;
        let Some(message) = message_at(&mut self.messages, self.front_seq, seq) else {
            // Cannot happen (an outstanding transaction's message is kept until answered), but
            // an answer is no reason to stop a sink.
            return Ok(None);
        };
        if response.is_ok() {
            if let Some((_, sent)) = message.sent {
                self.shared.stats.latency.observe(sent.elapsed());
            }
            message.answered = true;
            self.accepted += 1;
            return Ok(None);
        }
        SinkStats::add(&self.shared.stats.retries, 1);
        let why = format!("receiver refused a message: {} {}", response.code, response.text);
        self.refused_now.push((seq, why.clone()));
        Ok(Some(why))
    }

    /// Counts this read's refusals against their messages, but only when the receiver took
    /// other messages since the message was taken or last refused: one that refuses everything
    /// is overloaded, and its messages wait (with backoff) rather than being dropped. With a
    /// window of 1 nothing else can tell, so every refusal counts. After [`MAX_REJECTIONS`] a
    /// message is dropped, counted and logged, so that one message the receiver will never
    /// take cannot hold up every later one.
    fn count_refusals(&mut self) {
        let every = self.settings.window == 1;
        let accepted = self.accepted;
        for (seq, why) in std::mem::take(&mut self.refused_now) {
            let Some(message) = message_at(&mut self.messages, self.front_seq, seq) else { continue };
            let others_taken = accepted > message.accepted_mark;
            message.accepted_mark = accepted;
            if !others_taken && !every {
                continue;
            }
            message.rejections += 1;
            if message.rejections >= MAX_REJECTIONS {
                message.answered = true;
                message.dropped = true;
                SinkStats::add(&self.shared.stats.dropped_unsendable, 1);
                self.shared.stats.set_last_error(&why);
                warn!(sink = %self.shared.config.name, rejections = message.rejections, "{why}; dropped the message");
            }
        }
    }

    /// Removes answered messages from the front and acknowledges every batch they complete.
    fn acknowledge_answered(&mut self) {
        let mut delivered = 0u64;
        while self.messages.front().is_some_and(|m| m.answered) {
            if self.messages.pop_front().is_some_and(|m| !m.dropped) {
                delivered += 1;
            }
            self.front_seq += 1;
            self.next_unsent = self.next_unsent.saturating_sub(1);
        }
        // A batch is done when its last message is before the first unanswered one.
        while self.batch_ends.front().is_some_and(|end| end.last.wrapping_add(1) <= self.front_seq) {
            if let Some(end) = self.batch_ends.pop_front() {
                self.shared.queue.ack(end.token);
            }
        }
        if delivered > 0 {
            SinkStats::add(&self.shared.stats.delivered, delivered);
            self.shared.succeeded();
        }
    }

    /// Ends the session: every unanswered message goes again on the next one.
    async fn lose(&mut self, lost: Lost) {
        let (why, refused) = match lost {
            Lost::Broken(why) => (why, false),
            Lost::Refused(why) => (why, true),
        };
        if !refused {
            SinkStats::add(&self.shared.stats.disconnects, 1);
        }
        self.shared.stats.set_last_error(&why);
        info!(sink = %self.shared.config.name, "{why}; reconnecting");
        self.session = None;
        for message in &mut self.messages {
            if message.sent.take().is_some() && !message.answered {
                self.to_resend += 1;
            }
        }
        // Answered messages behind an unanswered one stay answered (not sent again).
        self.next_unsent = 0;
        while self.messages.get(self.next_unsent).is_some_and(|m| m.answered) {
            self.next_unsent += 1;
        }
        self.reconnect_delay = Some(self.shared.backoff.next_delay());
    }

    /// Opens a session (`open` and its answer), waiting out the backoff first; on failure the
    /// backoff delay is waited out and no session exists.
    async fn connect(&mut self) {
        if let Some(delay) = self.reconnect_delay.take() {
            tokio::time::sleep(delay).await;
        }
        let config = self.shared.config.clone();
        let Endpoint::Relp(target) = &config.endpoint else {
            unreachable!("RELP delivery is only built for relp endpoints")
        };
        let connection =
            StreamConnection::connect(target, config.connect_timeout, config.tls.as_ref(), config.egress.as_deref());
        let mut connection = match connection.await {
            Ok(connection) => connection,
            Err(error) => {
                SinkStats::add(&self.shared.stats.connect_failures, 1);
                self.shared.failed("cannot connect", &error).await;
                return;
            }
        };
        let opened = tokio::time::timeout(config.connect_timeout, open(&mut connection)).await;
        match opened {
            Ok(Ok(input)) => {
                let resend = std::mem::take(&mut self.to_resend);
                if resend > 0 {
                    SinkStats::add(&self.shared.stats.resent, resend as u64);
                    info!(sink = %config.name, events = resend, "re-sending unanswered events on a new RELP session (duplicates possible)");
                }
                debug!(sink = %config.name, "RELP session open to {}", config.endpoint);
                self.session =
                    Some(Session { connection, next_txnr: 2, input, in_flight: HashMap::new(), output: Vec::new() });
            }
            Ok(Err(error)) => {
                SinkStats::add(&self.shared.stats.connect_failures, 1);
                self.shared.failed("RELP open failed", error).await;
            }
            Err(_) => {
                SinkStats::add(&self.shared.stats.connect_failures, 1);
                self.shared.failed("RELP open failed", "no answer within connect_timeout_ms").await;
            }
        }
    }

    /// Between batches: take in the answers that arrived, notice a receiver that went away,
    /// and re-send what a lost session left unanswered.
    pub(super) async fn maintain(&mut self) {
        if self.session.is_none() {
            if self.unanswered() == 0 {
                return;
            }
            self.connect().await;
        }
        if self.session.is_some() {
            let result = match self.send_window().await {
                Ok(()) => self.read(false).await,
                Err(lost) => Err(lost),
            };
            if let Err(lost) = result {
                self.lose(lost).await;
            }
        }
    }

    pub(super) fn needs_maintenance(&self) -> bool {
        self.session.is_some() || !self.messages.is_empty()
    }

    /// Waits until every message is answered (reconnecting and re-sending as needed), then
    /// closes the session politely.
    pub(super) async fn settle(&mut self) {
        while self.unanswered() > 0 {
            self.step(true).await;
        }
        if let Some(mut session) = self.session.take() {
            let txnr = session.next_txnr;
            session.output.clear();
            relp::write_frame(&mut session.output, txnr, "close", b"");
            if session.connection.send(&session.output).await.is_ok() {
                // The answer only tells the receiver saw it; the session ends either way.
                let _ = tokio::time::timeout(CLOSE_WAIT, session.connection.read_into(&mut session.input)).await;
            }
        }
    }

    /// Messages taken from the queue and not answered.
    pub(super) fn unanswered(&self) -> usize {
        self.messages.iter().filter(|m| !m.answered).count()
    }

    /// Hands the unanswered events back (a reload replaces the sink).
    pub(super) fn take_unanswered(&mut self) -> Vec<Arc<Event>> {
        self.session = None;
        self.batch_ends.clear();
        self.next_unsent = 0;
        self.messages.drain(..).filter(|m| !m.answered).map(|m| m.event).collect()
    }
}

/// The kept message with sequence number `seq` (the front one has `front_seq`), if still kept.
fn message_at(messages: &mut VecDeque<Message>, front_seq: u64, seq: u64) -> Option<&mut Message> {
    messages.get_mut(usize::try_from(seq.checked_sub(front_seq)?).ok()?)
}

/// Sends `open` and waits for its answer; returns what was read beyond it.
async fn open(connection: &mut StreamConnection) -> Result<Vec<u8>, String> {
    let mut frame = Vec::new();
    relp::write_frame(&mut frame, 1, "open", &relp::open_offers());
    connection.send(&frame).await.map_err(|e| format!("write failed: {e}"))?;
    let mut input = Vec::new();
    loop {
        if let Some(frame) = relp::take_frame(&mut input).map_err(|e| e.to_string())? {
            return match (frame.txnr, frame.command.as_str()) {
                (1, "rsp") => relp::check_open_response(&frame.data).map(|()| input),
                (0, "serverclose") => Err("the receiver closed the session at once (serverclose)".to_owned()),
                (txnr, command) => Err(format!("expected the answer to open, found {txnr} {command}")),
            };
        }
        match connection.read_into(&mut input).await {
            Ok(0) => return Err("the receiver closed the connection before answering open".to_owned()),
            Ok(_) => {}
            Err(error) => return Err(format!("connection failed: {error}")),
        }
    }
}
