//! Throughput of the disk queue against the memory queue on the same job: a producer pushes
//! events (in chunks, as an input connection hands over a read buffer), a consumer reads them
//! in sink-sized batches and, for the disk queue, acknowledges each batch. The disk producer
//! is either a plain writer (hands events over and goes on) or one that asked for
//! acknowledgements (waits until each chunk is durable). The job is run on pre-decoded events
//! and, closer to the daemon, with decoding each line included.
//!
//! Plain timing, no framework: `cargo bench --bench disk_queue`. Prints events/s and the ratio;
//! there is no pass/fail. `DISK_QUEUE_BENCH_EVENTS` sets the event count (default 200000),
//! `DISK_QUEUE_BENCH_DIR` where the queue is written (default: a temporary directory; the
//! file system matters, since `Batch` syncs every write).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use siem_relay::event::Event;
use siem_relay::queue::disk::{DiskQueue, DiskQueueOptions, SyncPolicy};
use siem_relay::queue::{Limits, MemoryQueue, WhenFull};
use siem_relay::timestamp::Timestamp;

/// What a sink worker takes per batch (`sink::worker`).
const BATCH_EVENTS: usize = 512;
const BATCH_BYTES: usize = 256 * 1024;
/// Events a producer hands over before waiting: one read buffer's worth of lines.
const CHUNK: usize = 256;

fn lines(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|n| {
            format!(
                r#"{{"event":"finding_added","id":"f-{n:08}","timestamp":"2024-05-01T10:00:00.123456Z","severity":"high","title":"SQL injection in /api/search","host":"web-{}","data":{{"url":"/api/search?q=1","param":"q","scanner":"zap","confidence":0.9}}}}"#,
                n % 16
            )
            .into_bytes()
        })
        .collect()
}

fn decode(lines: &[Vec<u8>]) -> Vec<Arc<Event>> {
    lines.iter().map(|line| Arc::new(Event::decode(line, Timestamp::now()).expect("valid"))).collect()
}

fn limits() -> Limits {
    Limits { max_events: 100_000, max_bytes: 64 * 1024 * 1024 }
}

/// Events per second through a memory queue; `decode` includes decoding the lines.
async fn memory(lines: &[Vec<u8>], events: &[Arc<Event>], with_decode: bool) -> f64 {
    let queue = Arc::new(MemoryQueue::new(limits(), WhenFull::Block));
    let total = events.len();
    let started = Instant::now();
    let consumer = tokio::spawn({
        let queue = queue.clone();
        async move {
            let mut out = Vec::with_capacity(BATCH_EVENTS);
            let mut seen = 0;
            while seen < total {
                out.clear();
                if !queue.pop_batch(BATCH_EVENTS, BATCH_BYTES, &mut out).await {
                    break;
                }
                seen += out.len();
            }
        }
    });
    for (n, event) in events.iter().enumerate() {
        let event = if with_decode {
            Arc::new(Event::decode(&lines[n], Timestamp::now()).expect("valid"))
        } else {
            event.clone()
        };
        queue.push(event).await;
    }
    consumer.await.expect("consumer");
    total as f64 / started.elapsed().as_secs_f64()
}

/// How the producer waits for the disk.
#[derive(Clone, Copy)]
enum Producer {
    /// A writer that asked for acknowledgements: waits for every chunk to be durable before
    /// handing over the next.
    Acknowledged,
    /// The same, pipelined: hands over chunk n, then waits for chunk n - 1 (an input that
    /// keeps reading while the previous buffer's acknowledgement is pending).
    Pipelined,
    /// A plain writer: hands events over and goes on; the sink still only sees them once they
    /// are written and synced.
    Plain,
}

/// Events per second through a disk queue in `dir` (pushed, read, acknowledged).
async fn disk(
    dir: &Path,
    sync: SyncPolicy,
    producer: Producer,
    lines: &[Vec<u8>],
    events: &[Arc<Event>],
    with_decode: bool,
) -> f64 {
    let _ = std::fs::remove_dir_all(dir);
    let options = DiskQueueOptions { sync, ..DiskQueueOptions::new(limits(), WhenFull::Block) };
    let queue = Arc::new(DiskQueue::open(dir, options).expect("opens"));
    let total = events.len();
    let started = Instant::now();
    let consumer = tokio::spawn({
        let queue = queue.clone();
        async move {
            let mut out = Vec::with_capacity(BATCH_EVENTS);
            let mut seen = 0;
            while seen < total {
                out.clear();
                let Some(last) = queue.read_batch(BATCH_EVENTS, BATCH_BYTES, &mut out).await else { break };
                seen += out.len();
                queue.ack(last);
            }
        }
    });
    let mut previous = None;
    for (chunk, lines) in events.chunks(CHUNK).zip(lines.chunks(CHUNK)) {
        let mut last = None;
        for (event, line) in chunk.iter().zip(lines) {
            let event = if with_decode {
                Arc::new(Event::decode(line, Timestamp::now()).expect("valid"))
            } else {
                event.clone()
            };
            last = Some(queue.enqueue(event).await);
        }
        match producer {
            Producer::Plain => {}
            Producer::Acknowledged => {
                if let Some(last) = last {
                    last.wait().await;
                }
            }
            Producer::Pipelined => {
                if let Some(previous) = std::mem::replace(&mut previous, last) {
                    previous.wait().await;
                }
            }
        }
    }
    if let Some(previous) = previous {
        previous.wait().await;
    }
    consumer.await.expect("consumer");
    let rate = total as f64 / started.elapsed().as_secs_f64();
    drop(queue);
    let _ = std::fs::remove_dir_all(dir);
    rate
}

/// The best of three runs: the figure least disturbed by whatever else the machine does.
async fn best<F, Fut>(mut run: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = f64>,
{
    let mut best: f64 = 0.0;
    for _ in 0..3 {
        best = best.max(run().await);
    }
    best
}

fn main() {
    // `cargo bench` passes --bench. Test runners list (`--list`) or run every target; this
    // one is a benchmark, not a test: it does nothing for them.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let count: usize = std::env::var("DISK_QUEUE_BENCH_EVENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(200_000);
    let temp = tempfile::tempdir().expect("tempdir");
    let base = std::env::var_os("DISK_QUEUE_BENCH_DIR").map_or_else(|| temp.path().to_path_buf(), Into::into);
    let dir = base.join("bench-sink");
    let lines = lines(count);
    let events = decode(&lines);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        println!("{count} events of {} bytes, batches of {BATCH_EVENTS}, producer chunks of {CHUNK}", lines[0].len());
        println!("{:<74} {:>12} {:>8}", "job", "events/s", "ratio");
        for with_decode in [false, true] {
            let job = if with_decode { "decode + push + read (+ ack)" } else { "push + read (+ ack)" };
            let memory = best(|| memory(&lines, &events, with_decode)).await;
            println!("{:<74} {memory:>12.0} {:>8}", format!("memory, {job}"), "1.00");
            for (name, sync) in
                [("batch", SyncPolicy::Batch), ("100ms", SyncPolicy::Interval(Duration::from_millis(100)))]
            {
                for (writer, producer) in [
                    ("plain", Producer::Plain),
                    ("acked", Producer::Acknowledged),
                    ("acked, pipelined", Producer::Pipelined),
                ] {
                    let disk = best(|| disk(&dir, sync, producer, &lines, &events, with_decode)).await;
                    let name = format!("disk (sync {name}, {writer} writer), {job}");
                    println!("{name:<74} {disk:>12.0} {:>8.2}", disk / memory);
                }
            }
        }
    });
}
