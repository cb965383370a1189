//! The sink worker loop: queue -> encode -> frame -> deliver, until shutdown.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::backoff::Backoff;
use super::kafka::KafkaDelivery;
use super::relp::RelpDelivery;
use super::stats::{EncodeTally, SinkStats};
use super::store::StoreDelivery;
use super::window::{Replay, ReplayWindow};
use crate::config::SinkConfig;
use crate::event::Event;
use crate::queue::{AckToken, SinkQueue};
use crate::transport::stream::{PeerState, StreamConnection};
use crate::transport::udp::UdpConnection;
use crate::transport::writer::LocalWriter;
use crate::transport::{Endpoint, Framing};

/// Most events encoded and written in one go: large enough to coalesce many frames per
/// syscall under load, small enough to keep latency and the replay window modest.
const BATCH_EVENTS: usize = 512;
/// Most queue bytes (input line sizes) taken into one batch.
const BATCH_BYTES: usize = 256 * 1024;
/// How often an idle stream sink asks the kernel what the peer has acknowledged and looks
/// whether the peer has gone, so confirmations and re-sends do not wait for the next event.
const MAINTAIN_INTERVAL: Duration = Duration::from_millis(100);

/// How long a worker handing its sink over (on reload) waits for what it wrote to be confirmed;
/// what is still unconfirmed then goes back to the queue for its successor.
pub const HANDOVER_SETTLE: Duration = Duration::from_secs(5);

/// Runs one sink until its queue is closed and drained (and, for streams, everything written is
/// acknowledged), or until `abort` fires: whatever is left undelivered then is counted in
/// `dropped_shutdown`. When `handover` fires instead (a reload replaces the sink), the worker
/// stops taking events and returns the events it could not get confirmed, for its successor.
pub async fn run(
    config: Arc<SinkConfig>,
    queue: Arc<SinkQueue>,
    stats: Arc<SinkStats>,
    abort: CancellationToken,
    handover: CancellationToken,
    pause: Arc<super::pause::Pause>,
    store: Option<Arc<crate::store::Store>>,
) -> Vec<Arc<Event>> {
    let mut delivery = Delivery::new(&config, stats.clone(), queue.clone(), store);
    let mut events: Vec<Arc<Event>> = Vec::with_capacity(BATCH_EVENTS);
    let mut lost_in_flight = 0;
    loop {
        events.clear();
        if pause.is_paused() {
            tokio::select! {
                biased;
                () = abort.cancelled() => break,
                () = handover.cancelled() => break,
                () = pause.wait_resumed() => {}
            }
        }
        let popped = tokio::select! {
            biased;
            () = abort.cancelled() => break,
            () = handover.cancelled() => break,
            () = pause.wait_paused() => continue,
            token = queue.pop_batch(BATCH_EVENTS, BATCH_BYTES, &mut events) => Some(token),
            () = sleep_or_forever(delivery.maintenance_delay()) => None,
        };
        let token = match popped {
            None => {
                let interruptible = delivery.tracks_every_message();
                tokio::select! {
                    biased;
                    () = abort.cancelled() => break,
                    () = handover.cancelled(), if interruptible => break,
                    () = delivery.maintain() => {}
                }
                continue;
            }
            Some(None) => break,
            Some(Some(token)) => token,
        };
        let batch = encode_batch(&config, &events, &stats);
        // A RELP sink whose receiver is down or hung would keep a reload waiting for ever; it
        // tracks every message it took, so it can hand over mid-batch.
        let interruptible = delivery.tracks_every_message();
        tokio::select! {
            biased;
            () = abort.cancelled() => {
                lost_in_flight = delivery.untracked_in_flight(events.len());
                break;
            }
            () = handover.cancelled(), if interruptible => break,
            () = delivery.deliver(batch, &events, token) => {}
        }
    }
    if handover.is_cancelled() && !abort.is_cancelled() {
        let _ = tokio::time::timeout(HANDOVER_SETTLE, delivery.settle()).await;
        return delivery.take_unconfirmed();
    }
    let unconfirmed = tokio::select! {
        biased;
        () = abort.cancelled() => delivery.unconfirmed_events(),
        () = delivery.settle() => 0,
    };
    // A disk queue still holds everything not acknowledged: it is delivered after the restart.
    let left = if queue.is_durable() { 0 } else { queue.discard_at_shutdown() + unconfirmed + lost_in_flight };
    SinkStats::add(&stats.dropped_shutdown, left as u64);
    if left > 0 {
        warn!(sink = %config.name, undelivered = left, "shutdown deadline passed with events undelivered");
    }
    if queue.is_durable() && queue.depth().0 > 0 {
        info!(sink = %config.name, pending = queue.depth().0, "events stay in the disk queue for the next start");
    }
    Vec::new()
}

/// Sleeps for `delay`, or for ever when there is none (a `select!` branch that never fires).
async fn sleep_or_forever(delay: Option<Duration>) {
    match delay {
        Some(delay) => tokio::time::sleep(delay).await,
        None => std::future::pending().await,
    }
}

/// Encoded, framed messages of one batch, with message boundaries for datagram transports
/// (and RELP, one command per message).
pub(super) struct Batch {
    pub(super) bytes: Vec<u8>,
    /// End offset of each message in `bytes`.
    pub(super) ends: Vec<usize>,
}

fn encode_batch(config: &SinkConfig, events: &[Arc<Event>], stats: &SinkStats) -> Batch {
    let mut batch = Batch { bytes: Vec::with_capacity(events.len() * 384), ends: Vec::with_capacity(events.len()) };
    let mut tally = EncodeTally::default();
    for event in events {
        // Encoded straight into the batch, framed in place.
        let encoded = match config.framing {
            Some(framing) => framing.frame_with(&mut batch.bytes, |out| config.encoder.encode(event, out)),
            None => config.encoder.encode(event, &mut batch.bytes),
        };
        tally.add(encoded);
        batch.ends.push(batch.bytes.len());
    }
    stats.count_encoded(tally);
    batch
}

/// Transport-specific delivery state.
enum Delivery {
    Stream(StreamDelivery),
    Udp(UdpDelivery),
    Local(LocalDelivery),
    Relp(RelpDelivery),
    Kafka(KafkaDelivery),
    Store(StoreDelivery),
}

impl Delivery {
    fn new(
        config: &Arc<SinkConfig>,
        stats: Arc<SinkStats>,
        queue: Arc<SinkQueue>,
        store: Option<Arc<crate::store::Store>>,
    ) -> Self {
        let backoff = Backoff::new(config.backoff_initial, config.backoff_max);
        let shared = Shared { config: config.clone(), stats, backoff, queue };
        match &config.endpoint {
            Endpoint::Tcp(_) | Endpoint::Tls(_) => Delivery::Stream(StreamDelivery {
                shared,
                connection: None,
                window: ReplayWindow::default(),
                pending_replay: None,
                reconnect_delay: None,
            }),
            Endpoint::Udp(_) => Delivery::Udp(UdpDelivery { shared, socket: None, sent_of_batch: 0 }),
            Endpoint::File(_) | Endpoint::Console => Delivery::Local(LocalDelivery { shared, writer: None }),
            Endpoint::Store => match store {
                Some(store) => Delivery::Store(StoreDelivery { shared, store }),
                None => unreachable!("a store sink's route always has its store"),
            },
            Endpoint::Relp(_) => match config.relp {
                Some(settings) => Delivery::Relp(RelpDelivery::new(shared, settings)),
                None => unreachable!("a relp sink's config always has its settings"),
            },
            Endpoint::Kafka(_) => Delivery::Kafka(KafkaDelivery::new(shared)),
            Endpoint::Http(_) => unreachable!("webhook sinks run in sink::http"),
        }
    }

    /// Hands the batch to the transport, retrying (with backoff) until it is written. Only
    /// cancellation stops it.
    async fn deliver(&mut self, batch: Batch, events: &[Arc<Event>], token: AckToken) {
        match self {
            Delivery::Stream(stream) => stream.deliver(Bytes::from(batch.bytes), events.to_vec(), token).await,
            Delivery::Udp(udp) => {
                udp.deliver(&batch).await;
                udp.shared.queue.ack(token);
            }
            Delivery::Local(local) => {
                local.deliver(&batch.bytes, events.len()).await;
                local.shared.queue.ack(token);
            }
            Delivery::Relp(relp) => relp.deliver(batch, events, token).await,
            Delivery::Kafka(kafka) => kafka.deliver(batch, events, token).await,
            Delivery::Store(store) => store.deliver(batch, token).await,
        }
    }

    /// Whether every event taken from the queue is tracked until confirmed, so that a delivery
    /// may be interrupted by a handover and its events given back (RELP, Kafka).
    fn tracks_every_message(&self) -> bool {
        matches!(self, Delivery::Relp(_) | Delivery::Kafka(_))
    }

    /// Unconfirmed events, taken out of the replay window (streams only).
    fn take_unconfirmed(&mut self) -> Vec<Arc<Event>> {
        match self {
            Delivery::Stream(stream) => stream.window.take_unconfirmed(),
            Delivery::Relp(relp) => relp.take_unanswered(),
            Delivery::Kafka(kafka) => kafka.take_unacknowledged(),
            Delivery::Udp(_) | Delivery::Local(_) | Delivery::Store(_) => Vec::new(),
        }
    }

    /// Of a batch of `events` whose delivery was cancelled, how many are neither delivered nor
    /// tracked in a replay window (and so would otherwise go uncounted).
    fn untracked_in_flight(&self, events: usize) -> usize {
        match self {
            Delivery::Stream(_) | Delivery::Relp(_) | Delivery::Kafka(_) => 0,
            Delivery::Udp(udp) => events - udp.sent_of_batch,
            Delivery::Local(_) | Delivery::Store(_) => events,
        }
    }

    /// How long an idle worker waits for events before calling `maintain`; `None`: nothing
    /// to maintain.
    fn maintenance_delay(&self) -> Option<Duration> {
        let periodic = match self {
            Delivery::Stream(stream) => stream.connection.is_some() || stream.has_replay(),
            // An open file: noticing its rotation while idle closes the old one promptly.
            Delivery::Local(local) => matches!(local.writer, Some(LocalWriter::File(_))),
            Delivery::Relp(relp) => relp.needs_maintenance(),
            // Pending records go out when their linger ends.
            Delivery::Kafka(kafka) => return kafka.maintenance_delay(),
            Delivery::Udp(_) | Delivery::Store(_) => false,
        };
        periodic.then_some(MAINTAIN_INTERVAL)
    }

    /// Between batches: confirm what the peer acknowledged, notice a peer that went away, and
    /// re-send what it may have lost; close a file that was rotated away.
    async fn maintain(&mut self) {
        match self {
            Delivery::Stream(stream) => stream.maintain().await,
            Delivery::Local(local) => local.close_if_stale(),
            Delivery::Relp(relp) => relp.maintain().await,
            Delivery::Kafka(kafka) => kafka.maintain().await,
            Delivery::Udp(_) | Delivery::Store(_) => {}
        }
    }

    fn unconfirmed_events(&self) -> usize {
        match self {
            Delivery::Stream(stream) => stream.window.unconfirmed_events(),
            Delivery::Relp(relp) => relp.unanswered(),
            Delivery::Kafka(kafka) => kafka.unacknowledged(),
            Delivery::Udp(_) | Delivery::Local(_) | Delivery::Store(_) => 0,
        }
    }

    /// Waits until everything written is confirmed (streams), re-sending over a new connection
    /// if the old one breaks meanwhile.
    async fn settle(&mut self) {
        match self {
            Delivery::Stream(stream) => stream.settle().await,
            Delivery::Relp(relp) => relp.settle().await,
            Delivery::Kafka(kafka) => kafka.settle().await,
            Delivery::Udp(_) | Delivery::Local(_) | Delivery::Store(_) => {}
        }
    }
}

/// What every transport's delivery needs.
pub(super) struct Shared {
    pub(super) config: Arc<SinkConfig>,
    pub(super) stats: Arc<SinkStats>,
    pub(super) backoff: Backoff,
    /// Acknowledged as deliveries are confirmed.
    pub(super) queue: Arc<SinkQueue>,
}

impl Shared {
    /// Logs a failed attempt and waits out the backoff delay.
    pub(super) async fn failed(&mut self, what: &str, error: impl std::fmt::Display) {
        self.stats.set_last_error(format_args!("{what}: {error}"));
        let delay = self.backoff.next_delay();
        warn!(sink = %self.config.name, "{what}: {error}; retrying in {delay:.1?}");
        tokio::time::sleep(delay).await;
    }

    pub(super) fn succeeded(&mut self) {
        self.backoff.reset();
    }
}

struct StreamDelivery {
    shared: Shared,
    connection: Option<StreamConnection>,
    window: ReplayWindow,
    /// Set when the connection was lost: how much of the window the next one must replay.
    pending_replay: Option<Replay>,
    /// Wait before the next connection attempt after losing one.
    reconnect_delay: Option<Duration>,
}

impl StreamDelivery {
    async fn deliver(&mut self, frames: Bytes, events: Vec<Arc<Event>>, token: AckToken) {
        // Tracked from the start: if this connection fails at any point, the batch is part of
        // what the next one replays, and shutdown accounting sees it as unconfirmed.
        self.window.push(frames.clone(), events, token, None);
        loop {
            let _ = self.connected().await;
            if self.window.newest_written() {
                // The reconnect just replayed it.
                return;
            }
            if !self.peer_still_open() {
                continue;
            }
            let Some(connection) = self.connection.as_mut() else { continue };
            let started = std::time::Instant::now();
            match connection.send(&frames).await {
                Ok(()) => {
                    self.shared.stats.latency.observe(started.elapsed());
                    let end = connection.wire_bytes();
                    self.window.newest_written_to(end);
                    self.confirm();
                    return;
                }
                Err(error) => {
                    SinkStats::add(&self.shared.stats.send_failures, 1);
                    // Partly written at best: it goes out again, whole, on the next connection.
                    self.lost(&format!("write failed: {error}"), Replay::All);
                }
            }
        }
    }

    fn lost(&mut self, why: &str, replay: Replay) {
        SinkStats::add(&self.shared.stats.disconnects, 1);
        self.shared.stats.set_last_error(why);
        info!(sink = %self.shared.config.name, "{why}; reconnecting");
        self.connection = None;
        // A receiver that accepts connections and then drops them must not be hammered: the
        // next connection waits out the backoff, which only a confirmed batch resets.
        self.reconnect_delay = Some(self.shared.backoff.next_delay());
        // A second loss before reconnecting keeps the wider of the two replays.
        self.pending_replay = Some(match self.pending_replay {
            Some(Replay::All) => Replay::All,
            _ => replay,
        });
    }

    /// Whether the current connection is still open; a peer that closed or failed is recorded
    /// as lost, with the replay its way of going implies. No connection counts as not open.
    fn peer_still_open(&mut self) -> bool {
        let Some(connection) = self.connection.as_mut() else { return false };
        match connection.peer_state() {
            PeerState::Open => true,
            // A clean close means the receiver read everything written: only unconfirmed
            // batches go again.
            PeerState::Closed => {
                self.lost("receiver closed the connection", Replay::Unconfirmed);
                false
            }
            PeerState::Failed(error) => {
                self.lost(&format!("connection failed: {error}"), Replay::All);
                false
            }
        }
    }

    /// The open connection, connecting (with backoff) and replaying the window first if needed.
    async fn connected(&mut self) -> &mut StreamConnection {
        if self.connection.is_none() {
            let connection = loop {
                if let Some(connection) = self.connect_and_replay().await {
                    break connection;
                }
            };
            self.connection = Some(connection);
        }
        match &mut self.connection {
            Some(connection) => connection,
            None => unreachable!("a connection was just established"),
        }
    }

    /// One connection attempt; on failure the backoff delay has been waited out.
    async fn connect_and_replay(&mut self) -> Option<StreamConnection> {
        if let Some(delay) = self.reconnect_delay.take() {
            tokio::time::sleep(delay).await;
        }
        let config = self.shared.config.clone();
        let (target, tls) = match &config.endpoint {
            Endpoint::Tcp(target) => (target, None),
            Endpoint::Tls(target) => (target, config.tls.as_ref()),
            _ => unreachable!("stream delivery is only built for tcp and tls endpoints"),
        };
        let egress = config.egress.as_deref();
        let mut connection = match StreamConnection::connect(target, config.connect_timeout, tls, egress).await {
            Ok(connection) => connection,
            Err(error) => {
                SinkStats::add(&self.shared.stats.connect_failures, 1);
                self.shared.failed("cannot connect", &error).await;
                return None;
            }
        };
        if let Some(how) = self.pending_replay {
            let (batches, events) = self.window.replay(how);
            let mut ends = Vec::with_capacity(batches.len());
            for frames in &batches {
                if let Err(error) = connection.send(frames).await {
                    SinkStats::add(&self.shared.stats.send_failures, 1);
                    self.pending_replay = Some(Replay::All);
                    self.shared.failed("re-sending after reconnect failed", &error).await;
                    return None;
                }
                ends.push(connection.wire_bytes());
            }
            self.window.rewritten(how, ends.into_iter());
            if events > 0 {
                SinkStats::add(&self.shared.stats.resent, events as u64);
                info!(sink = %self.shared.config.name, events, "re-sent events after reconnecting (duplicates possible)");
            }
            self.pending_replay = None;
        }
        debug!(sink = %self.shared.config.name, "connected to {}", config.endpoint);
        Some(connection)
    }

    fn confirm(&mut self) {
        let Some(connection) = &self.connection else {
            return;
        };
        if let Ok(acknowledged) = connection.acknowledged_up_to() {
            let (confirmed, token) = self.window.confirm(acknowledged);
            self.shared.queue.ack(token);
            if confirmed > 0 {
                SinkStats::add(&self.shared.stats.delivered, confirmed as u64);
                self.shared.succeeded();
            }
        }
    }

    /// Whether a lost connection left batches that must be re-sent.
    fn has_replay(&self) -> bool {
        match self.pending_replay {
            None => false,
            Some(Replay::Unconfirmed) => self.window.unconfirmed_events() > 0,
            Some(Replay::All) => !self.window.is_empty(),
        }
    }

    async fn maintain(&mut self) {
        self.confirm();
        if self.connection.is_some() && self.peer_still_open() {
            return;
        }
        // Closed cleanly with everything confirmed: reconnect lazily, with the next batch.
        if self.has_replay() {
            let _ = self.connected().await;
        }
    }

    async fn settle(&mut self) {
        loop {
            self.confirm();
            if self.window.unconfirmed_events() == 0 && !self.has_replay() {
                return;
            }
            let _ = self.connected().await;
            if self.peer_still_open() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

struct UdpDelivery {
    shared: Shared,
    socket: Option<UdpConnection>,
    /// Datagrams of the current batch already sent.
    sent_of_batch: usize,
}

impl UdpDelivery {
    async fn deliver(&mut self, batch: &Batch) {
        let config = self.shared.config.clone();
        let Endpoint::Udp(target) = &config.endpoint else {
            unreachable!("udp delivery is only built for udp endpoints")
        };
        let mut start = 0;
        self.sent_of_batch = 0;
        for &end in &batch.ends {
            loop {
                let socket = match &self.socket {
                    Some(socket) => socket,
                    None => match UdpConnection::connect(target, config.egress.as_deref()).await {
                        Ok(socket) => self.socket.insert(socket),
                        Err(error) => {
                            SinkStats::add(&self.shared.stats.connect_failures, 1);
                            self.shared.failed("cannot open UDP socket", &error).await;
                            continue;
                        }
                    },
                };
                match socket.send(&batch.bytes[start..end]).await {
                    Ok(()) => {
                        self.shared.succeeded();
                        SinkStats::add(&self.shared.stats.delivered, 1);
                        self.sent_of_batch += 1;
                        break;
                    }
                    Err(error) if is_permanent(&error) => {
                        // This datagram can never be sent: retrying would hold up every later
                        // one for ever (with `block`, the writers and every other sink too).
                        SinkStats::add(&self.shared.stats.dropped_unsendable, 1);
                        let bytes = end - start;
                        self.shared
                            .stats
                            .set_last_error(format_args!("UDP send refused a {bytes}-byte datagram: {error}"));
                        warn!(sink = %config.name, bytes, "UDP send refused the datagram for good ({error}); dropped it");
                        self.sent_of_batch += 1;
                        break;
                    }
                    Err(error) => {
                        // Often an ICMP error for an earlier datagram: that one is lost (UDP is
                        // best effort); this one is sent again on a fresh socket.
                        SinkStats::add(&self.shared.stats.send_failures, 1);
                        self.socket = None;
                        self.shared.failed("UDP send failed", &error).await;
                    }
                }
            }
            start = end;
        }
    }
}

/// Whether a send error is about the datagram itself (too long for the socket or the path),
/// so that sending it again can never succeed.
fn is_permanent(error: &std::io::Error) -> bool {
    error.raw_os_error() == Some(libc::EMSGSIZE)
}

struct LocalDelivery {
    shared: Shared,
    writer: Option<LocalWriter>,
}

impl LocalDelivery {
    /// Closes a file whose path was moved, deleted or replaced, or that a reload asked to
    /// reopen; the next write opens the path afresh.
    fn close_if_stale(&mut self) {
        if self.writer.as_ref().is_some_and(LocalWriter::is_stale) {
            info!(sink = %self.shared.config.name, "file moved, deleted or reopen requested: reopening");
            self.writer = None;
        }
    }

    async fn deliver(&mut self, bytes: &[u8], events: usize) {
        // Before every write, so that nothing goes to a file rotated away since the last one.
        self.close_if_stale();
        loop {
            let writer = match &mut self.writer {
                Some(writer) => writer,
                None => {
                    let opened = match &self.shared.config.endpoint {
                        Endpoint::File(path) => LocalWriter::open_file(path).await,
                        _ => Ok(LocalWriter::stdout()),
                    };
                    match opened {
                        Ok(writer) => self.writer.insert(writer),
                        Err(error) => {
                            SinkStats::add(&self.shared.stats.connect_failures, 1);
                            self.shared.failed("cannot open output", &error).await;
                            continue;
                        }
                    }
                }
            };
            let started = std::time::Instant::now();
            match writer.send(bytes).await {
                Ok(()) => {
                    self.shared.stats.latency.observe(started.elapsed());
                    self.shared.succeeded();
                    SinkStats::add(&self.shared.stats.delivered, events as u64);
                    return;
                }
                Err(error) => {
                    SinkStats::add(&self.shared.stats.send_failures, 1);
                    self.writer = None;
                    let what = match &self.shared.config.endpoint {
                        Endpoint::File(path) => format!("write to {} failed", path.display()),
                        _ => "write to stdout failed".to_owned(),
                    };
                    self.shared.failed(&what, &error).await;
                }
            }
        }
    }
}

/// Framing a sink's transport uses: streams as configured, files and the console one message
/// per line, datagrams none.
pub fn framing_for(endpoint: &Endpoint, configured: Framing) -> Option<Framing> {
    match endpoint {
        Endpoint::Tcp(_) | Endpoint::Tls(_) => Some(configured),
        Endpoint::File(_) | Endpoint::Console => Some(Framing::Lf),
        // RELP frames each message itself (a `syslog` command with its length); a store and
        // Kafka keep each message as its own record.
        Endpoint::Udp(_) | Endpoint::Relp(_) | Endpoint::Kafka(_) | Endpoint::Http(_) | Endpoint::Store => None,
    }
}
