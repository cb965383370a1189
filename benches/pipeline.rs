//! Heap allocations per event through the whole daemon, on the JSON -> RFC 5424 -> TCP path:
//! the daemon runs in this process (its real input, router, memory queue, worker and TCP
//! transport, on a two-thread runtime like the service's), a client thread writes prepared
//! NDJSON to its socket, and a receiver thread counts octet-counted frames. Client and receiver
//! allocate nothing while measuring, so every allocation counted is the daemon's (tokio's
//! included). Also prints the in-process rate (informative only: client, daemon and receiver
//! share the two cores).
//!
//! `cargo bench --bench pipeline` prints, per run, events/s and allocations/event, then the
//! median of the runs. No pass/fail.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use siem_relay::config::Config;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;
#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/events.rs"]
mod events;

/// Events per run (`BENCH_EVENTS` overrides, e.g. for a short run under callgrind).
fn events_per_run() -> usize {
    std::env::var("BENCH_EVENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(200_000)
}
const WARM_UP: usize = 20_000;
/// Runs (`BENCH_RUNS` overrides).
fn runs() -> usize {
    std::env::var("BENCH_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(5)
}

/// Counts RFC 6587 octet-counted frames (`LEN SP MSG`) arriving on one connection, without
/// allocating.
fn count_frames(listener: TcpListener, frames: Arc<AtomicU64>) {
    let Ok((mut stream, _)) = listener.accept() else { return };
    let mut buffer = vec![0u8; 256 * 1024];
    // Bytes of the current frame's body still to skip, or the length digits read so far.
    let (mut skip, mut length) = (0usize, 0usize);
    loop {
        let read = match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        let mut at = 0;
        while at < read {
            if skip > 0 {
                let take = skip.min(read - at);
                skip -= take;
                at += take;
                if skip == 0 {
                    frames.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            match buffer[at] {
                digit @ b'0'..=b'9' => length = length * 10 + usize::from(digit - b'0'),
                b' ' => {
                    skip = length;
                    length = 0;
                }
                other => panic!("not an octet-counted stream: byte {other}"),
            }
            at += 1;
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
    let port = listener.local_addr().expect("address").port();
    let frames = Arc::new(AtomicU64::new(0));
    std::thread::spawn({
        let frames = frames.clone();
        move || count_frames(listener, frames)
    });
    let socket = dir.path().join("events.sock");
    let text = format!(
        "hostname = \"bench\"\n[input]\nsocket = {socket:?}\n[control]\nsocket = {:?}\n\
         [sinks.siem]\nformat = \"rfc5424\"\nurl = \"tcp://127.0.0.1:{port}\"\nframing = \"octet_counting\"\n\
         sd_fields = [\"data.cwe\", \"source_ip\"]\n",
        dir.path().join("control.sock")
    );
    let config = Config::parse(&text, "bench").expect("valid config");
    let daemon = daemon::InProcess::start(config, &[&socket]);
    let mut client = UnixStream::connect(&socket).expect("connect");

    let (events_per_run, runs) = (events_per_run(), runs());
    let mut input = Vec::new();
    for line in events::lines(events_per_run) {
        input.extend_from_slice(&line);
        input.push(b'\n');
    }
    let average = input.len() / events_per_run;
    let warm_up = WARM_UP.min(events_per_run);
    let wait_for = |total: u64| {
        while frames.load(Ordering::Relaxed) < total {
            std::thread::sleep(Duration::from_micros(200));
        }
    };
    // Warm up: buffers, queues and connections reach their working size.
    let warm_up_bytes = input.split(|&b| b == b'\n').take(warm_up).map(|l| l.len() + 1).sum::<usize>();
    client.write_all(&input[..warm_up_bytes]).expect("write");
    wait_for(warm_up as u64);

    println!("JSON -> RFC 5424 -> TCP (octet counting), in process, {events_per_run} events of about {average} bytes per run");
    println!("{:>4} {:>12} {:>14}", "run", "events/s", "allocs/event");
    let (mut rates, mut counts) = (Vec::new(), Vec::new());
    let mut expected = warm_up as u64;
    for run in 1..=runs {
        let before = allocations();
        let start = Instant::now();
        client.write_all(&input).expect("write");
        expected += events_per_run as u64;
        wait_for(expected);
        let seconds = start.elapsed().as_secs_f64();
        let per_event = (allocations() - before) as f64 / events_per_run as f64;
        let rate = events_per_run as f64 / seconds;
        println!("{run:>4} {rate:>12.0} {per_event:>14.2}");
        rates.push(rate);
        counts.push(per_event);
    }
    println!("median {:>12.0} {:>14.2}", median(rates), median(counts));
    drop(client);
    daemon.stop();
}
