//! `generate`: writes synthetic events (or replays a file of events) to a relay's Unix stream
//! socket at full speed or at a fixed rate, over one or more connections, stamping each line's
//! `sent_ns` just before it is written; or writes the synthetic lines to a file / stdout so
//! that every relay can be fed the identical input.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::json;

use crate::clock::realtime_ns;
use crate::pacer::Pacer;
use crate::prng::Prng;
use crate::replies::{Replies, ReplyState};
use crate::synth::{patch_sent_ns, EventGen};

/// Bytes gathered before one write (also the largest burst at a fixed rate).
const CHUNK_BYTES: usize = 64 * 1024;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["socket", "stdout", "output"])))]
pub struct GenerateArgs {
    /// The relay's Unix stream socket.
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// Write the event lines to standard output instead (the summary goes to stderr).
    #[arg(long)]
    pub stdout: bool,
    /// Write the event lines to this file instead.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Replay the event lines of this file (one JSON object per line) instead of making
    /// them up; each line's `sent_ns` is set to the send time in place.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Events to send (with --input: at most this many lines; default all of them).
    #[arg(long)]
    pub events: Option<u64>,
    /// Events per second over all connections; full speed when absent.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seed of the synthetic events.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Ask for acknowledgements (siem-relay only) and fail unless every event is acknowledged.
    #[arg(long)]
    pub acks: bool,
    /// Connections to write on at once; events and rate are split evenly.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub connections: u64,
    /// Average size of a synthetic event line, in bytes.
    #[arg(long, default_value_t = 360, value_parser = clap::value_parser!(u64).range(120..=65536))]
    pub size_target: u64,
    /// After writing, keep the connections open until this file exists (so a relay that exits
    /// at end of input, such as socat, can be measured), then close them.
    #[arg(long)]
    pub hold_until: Option<PathBuf>,
    /// How long to keep retrying to connect while the relay starts.
    #[arg(long, default_value_t = 10.0)]
    pub connect_timeout_s: f64,
    /// How long to wait, after the last write, for acknowledgements and for the relay to close.
    #[arg(long, default_value_t = 60.0)]
    pub drain_timeout_s: f64,
}

/// Where the event lines come from.
#[derive(Clone)]
enum Source {
    Synthetic { seed: u64, size_target: usize },
    Replay(Arc<Vec<u8>>),
}

/// One connection's share of the work.
struct Share {
    index: u64,
    events: u64,
    /// Replay: the byte range of this share's lines.
    range: std::ops::Range<usize>,
    rate: Option<f64>,
}

/// Fills write buffers with lines from a source.
enum Lines<'a> {
    Synthetic(EventGen),
    Replay { data: &'a [u8], pos: usize },
}

impl Lines<'_> {
    /// Appends up to `max_events` lines (and about `max_bytes`) to `buf`, stamped `now_ns`;
    /// returns how many.
    fn fill(&mut self, buf: &mut Vec<u8>, max_events: u64, max_bytes: usize, now_ns: u64) -> u64 {
        let mut n = 0;
        while n < max_events && buf.len() < max_bytes {
            match self {
                Lines::Synthetic(generator) => generator.push_event(buf, now_ns),
                Lines::Replay { data, pos } => {
                    let rest = &data[*pos..];
                    if rest.is_empty() {
                        break;
                    }
                    let len = rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |i| i + 1);
                    *pos += len;
                    let line = &rest[..len];
                    if line.iter().all(|b| b.is_ascii_whitespace()) {
                        continue;
                    }
                    let start = buf.len();
                    buf.extend_from_slice(line);
                    if line.last() != Some(&b'\n') {
                        buf.push(b'\n');
                    }
                    patch_sent_ns(&mut buf[start..], now_ns);
                }
            }
            n += 1;
        }
        n
    }
}

/// What one connection did.
#[derive(Debug, Default)]
struct Outcome {
    events: u64,
    bytes: u64,
    started_at: Option<u64>,
    finished_at: u64,
    replies: ReplyState,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        bail!("--rate must be a positive number of events per second");
    }
    let source = match &args.input {
        Some(path) => {
            Source::Replay(Arc::new(std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?))
        }
        None => Source::Synthetic { seed: args.seed, size_target: args.size_target as usize },
    };
    let total = match (&source, args.events) {
        (_, Some(n)) => n,
        (Source::Replay(data), None) => count_lines(data),
        (Source::Synthetic { .. }, None) => bail!("--events is required without --input"),
    };
    if args.socket.is_none() {
        if args.connections != 1 {
            bail!("--connections applies to --socket only");
        }
        return write_to_file(&args, source, total);
    }
    let socket = args.socket.clone().unwrap_or_default();
    let shares = plan(&source, total, args.connections, args.rate);
    let outcomes: Vec<anyhow::Result<Outcome>> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            shares.into_iter().map(|share| scope.spawn(|| feed_socket(&args, &socket, &source, share))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a connection thread panicked"))))
            .collect()
    });
    let mut all = Vec::new();
    for outcome in outcomes {
        all.push(outcome?);
    }
    let events: u64 = all.iter().map(|o| o.events).sum();
    let bytes: u64 = all.iter().map(|o| o.bytes).sum();
    let started_at = all.iter().filter_map(|o| o.started_at).min().unwrap_or(0);
    let finished_at = all.iter().map(|o| o.finished_at).max().unwrap_or(0);
    let rejected: u64 = all.iter().map(|o| o.replies.rejected).sum();
    let errors: u64 = all.iter().map(|o| o.replies.errors).sum();
    let acked: u64 = all.iter().map(|o| o.replies.through).sum();
    let mut summary = summary_json(&args, events, bytes, started_at, finished_at);
    summary["rejected"] = json!(rejected);
    summary["errors"] = json!(errors);
    summary["acked"] = if args.acks { json!(acked) } else { serde_json::Value::Null };
    println!("{summary}");
    if let Some(problem) = all.iter().find_map(|o| o.replies.first_problem.clone()) {
        bail!("the relay reported {rejected} rejected and {errors} failed lines; first: {problem}");
    }
    if args.acks && acked < events {
        bail!("the relay acknowledged {acked} of {events} events");
    }
    if events < total {
        bail!("only {events} of {total} events were available to send");
    }
    Ok(())
}

fn summary_json(args: &GenerateArgs, events: u64, bytes: u64, started_at: u64, finished_at: u64) -> serde_json::Value {
    let seconds = finished_at.saturating_sub(started_at) as f64 / 1e9;
    let per_s = |x: u64| if seconds > 0.0 { json!(x as f64 / seconds) } else { serde_json::Value::Null };
    json!({
        "mode": if args.input.is_some() { "replay" } else { "synthetic" },
        "events": events,
        "bytes": bytes,
        "avg_event_bytes": if events > 0 { json!(bytes as f64 / events as f64) } else { serde_json::Value::Null },
        "connections": args.connections,
        "seconds": seconds,
        "events_per_s": per_s(events),
        "MB_per_s": if seconds > 0.0 { json!(bytes as f64 / 1e6 / seconds) } else { serde_json::Value::Null },
        "started_at": started_at,
        "finished_at": finished_at,
    })
}

fn count_lines(data: &[u8]) -> u64 {
    data.split(|&b| b == b'\n').filter(|l| !l.iter().all(|b| b.is_ascii_whitespace())).count() as u64
}

/// Splits `total` events over `connections`: even counts, and for a replay contiguous line
/// ranges of the file.
fn plan(source: &Source, total: u64, connections: u64, rate: Option<f64>) -> Vec<Share> {
    let per = |i: u64| total / connections + u64::from(i < total % connections);
    let rate = rate.map(|r| r / connections as f64);
    let mut shares = Vec::new();
    let mut pos = 0;
    for index in 0..connections {
        let events = per(index);
        let range = match source {
            Source::Synthetic { .. } => 0..0,
            Source::Replay(data) => {
                let start = pos;
                let mut lines = 0;
                while lines < events && pos < data.len() {
                    let len = data[pos..].iter().position(|&b| b == b'\n').map_or(data.len() - pos, |i| i + 1);
                    if !data[pos..pos + len].iter().all(|b| b.is_ascii_whitespace()) {
                        lines += 1;
                    }
                    pos += len;
                }
                start..pos
            }
        };
        shares.push(Share { index, events, range, rate });
    }
    shares
}

fn lines_for<'a>(source: &'a Source, share: &Share) -> Lines<'a> {
    match source {
        Source::Synthetic { seed, size_target } => {
            Lines::Synthetic(EventGen::new(Prng::stream(*seed, share.index), *size_target))
        }
        Source::Replay(data) => Lines::Replay { data: &data[share.range.clone()], pos: 0 },
    }
}

/// Writes `events` lines from `lines` to `out`; returns (events, bytes, first write time, last).
fn pump(out: &mut impl Write, lines: &mut Lines<'_>, events: u64, rate: Option<f64>) -> anyhow::Result<Outcome> {
    let pacer = rate.map(Pacer::new);
    let mut buf = Vec::with_capacity(CHUNK_BYTES + 4096);
    let mut outcome = Outcome::default();
    while outcome.events < events {
        let budget = match &pacer {
            Some(p) => p.wait(outcome.events, events - outcome.events),
            None => events - outcome.events,
        };
        buf.clear();
        let now = realtime_ns();
        let n = lines.fill(&mut buf, budget, CHUNK_BYTES, now);
        if n == 0 {
            break;
        }
        outcome.started_at.get_or_insert(now);
        out.write_all(&buf).context("write to the relay failed")?;
        outcome.events += n;
        outcome.bytes += buf.len() as u64;
    }
    out.flush().context("flush failed")?;
    outcome.finished_at = realtime_ns();
    Ok(outcome)
}

fn feed_socket(args: &GenerateArgs, socket: &Path, source: &Source, share: Share) -> anyhow::Result<Outcome> {
    let mut stream = connect(socket, crate::clock::secs(args.connect_timeout_s))?;
    let replies = Replies::spawn_reader(stream.try_clone().context("cannot clone the socket")?);
    if args.acks {
        stream.write_all(b"{\"siem_relay\":{\"acks\":true}}\n").context("cannot send the acknowledgement hello")?;
    }
    let mut lines = lines_for(source, &share);
    let mut outcome = pump(&mut stream, &mut lines, share.events, share.rate)?;
    let drain = crate::clock::secs(args.drain_timeout_s);
    if args.acks {
        let sent = outcome.events;
        let state = replies.wait_until(drain, |s| s.through >= sent || s.closed);
        if !state.hello {
            bail!("the relay did not answer the acknowledgement hello (is it siem-relay?)");
        }
    }
    if let Some(path) = &args.hold_until {
        while !path.exists() && !replies.snapshot().closed {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
    outcome.replies = replies.wait_until(drain, |s| s.closed);
    Ok(outcome)
}

/// Connects, retrying while the socket does not exist yet or nobody accepts on it.
fn connect(socket: &Path, limit: Duration) -> anyhow::Result<UnixStream> {
    let deadline = Instant::now() + limit;
    loop {
        match UnixStream::connect(socket) {
            Ok(stream) => return Ok(stream),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e).with_context(|| format!("cannot connect to {}", socket.display())),
        }
    }
}

fn write_to_file(args: &GenerateArgs, source: Source, total: u64) -> anyhow::Result<()> {
    let share = Share { index: 0, events: total, range: 0..source_len(&source), rate: args.rate };
    let mut lines = lines_for(&source, &share);
    let outcome = match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            let outcome = pump(&mut out, &mut lines, share.events, share.rate)?;
            out.into_inner().map_err(|e| e.into_error()).and_then(|f| f.sync_all()).context("write failed")?;
            outcome
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
            pump(&mut out, &mut lines, share.events, share.rate)?
        }
    };
    let summary =
        summary_json(args, outcome.events, outcome.bytes, outcome.started_at.unwrap_or(0), outcome.finished_at);
    if args.stdout {
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    if outcome.events < total {
        bail!("only {} of {total} events were available", outcome.events);
    }
    Ok(())
}

fn source_len(source: &Source) -> usize {
    match source {
        Source::Synthetic { .. } => 0,
        Source::Replay(data) => data.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_splits_events_and_replay_lines_evenly() {
        let data = Arc::new(b"{\"a\":1}\n{\"a\":2}\n\n{\"a\":3}\n{\"a\":4}\n{\"a\":5}\n".to_vec());
        let source = Source::Replay(data.clone());
        assert_eq!(count_lines(&data), 5);
        let shares = plan(&source, 5, 2, Some(100.0));
        assert_eq!(shares.iter().map(|s| s.events).collect::<Vec<_>>(), vec![3, 2]);
        assert_eq!(shares[0].rate, Some(50.0));
        let first = &data[shares[0].range.clone()];
        let second = &data[shares[1].range.clone()];
        assert_eq!(first, b"{\"a\":1}\n{\"a\":2}\n\n{\"a\":3}\n");
        assert_eq!(second, b"{\"a\":4}\n{\"a\":5}\n");
    }

    #[test]
    fn pump_replays_lines_with_fresh_stamps_and_adds_a_missing_newline() {
        let data =
            b"{\"event\":\"x\",\"sent_ns\":0000000000000000001}\n\n{\"event\":\"y\",\"sent_ns\":0000000000000000002}"
                .to_vec();
        let source = Source::Replay(Arc::new(data));
        let share = Share { index: 0, events: 10, range: 0..source_len(&source), rate: None };
        let mut lines = lines_for(&source, &share);
        let mut out = Vec::new();
        let before = realtime_ns();
        let outcome = pump(&mut out, &mut lines, 10, None).expect("pump");
        assert_eq!(outcome.events, 2);
        let text = String::from_utf8(out).expect("utf8");
        let got: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
        assert_eq!(got.len(), 2);
        assert!(text.ends_with("}\n"));
        for v in got {
            assert!(v["sent_ns"].as_u64().is_some_and(|ns| ns >= before));
        }
    }

    #[test]
    fn pump_synthetic_sends_exactly_n() {
        let source = Source::Synthetic { seed: 1, size_target: 360 };
        let share = Share { index: 0, events: 1000, range: 0..0, rate: None };
        let mut lines = lines_for(&source, &share);
        let mut out = Vec::new();
        let outcome = pump(&mut out, &mut lines, 1000, None).expect("pump");
        assert_eq!(outcome.events, 1000);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1000);
        assert_eq!(outcome.bytes, out.len() as u64);
    }
}
