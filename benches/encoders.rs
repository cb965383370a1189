//! Per-event cost of the decoder and each encoder, and heap allocations per event on the
//! JSON -> RFC 5424 -> octet-counted frame path (the issue-7 budget is at most 4).
//!
//! Plain timing, no framework: `cargo bench --bench encoders` prints, per stage, the median of
//! 7 runs in ns/event and events/s, and the allocations per event counted by a counting global
//! allocator. No pass/fail.

use std::time::Instant;

use siem_relay::config::Config;
use siem_relay::event::Event;
use siem_relay::timestamp::Timestamp;
use siem_relay::transport::Framing;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;
#[path = "support/events.rs"]
mod events;
use events::lines;

const EVENTS: usize = 20_000;
const RUNS: usize = 7;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Runs `stage` over every line `RUNS` times; returns the median ns/event and allocations/event.
fn measure(lines: &[Vec<u8>], mut stage: impl FnMut(&[u8], &mut Vec<u8>)) -> (f64, f64) {
    let mut out = Vec::with_capacity(64 * 1024);
    let mut times = Vec::with_capacity(RUNS);
    let mut counted = 0;
    for _ in 0..RUNS {
        let before = allocations();
        let start = Instant::now();
        for line in lines {
            out.clear();
            stage(line, &mut out);
        }
        times.push(start.elapsed().as_nanos() as f64 / lines.len() as f64);
        counted = allocations() - before;
    }
    (median(times), counted as f64 / lines.len() as f64)
}

/// Whether to run the stage `name`: all of them, or those containing `BENCH_STAGE` (to look at
/// one stage, e.g. under `valgrind --tool=callgrind`, whose instruction counts do not depend on
/// what else the machine is doing).
fn selected(name: &str) -> bool {
    std::env::var("BENCH_STAGE").map_or(true, |wanted| name.contains(&wanted))
}

fn main() {
    // `cargo bench` passes --bench; test runners that list or run every target get nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // BENCH_INPUT=FILE measures the first EVENTS lines of FILE instead (for example the output
    // of `siem-relay-bench generate --output FILE`).
    let lines = match std::env::var_os("BENCH_INPUT") {
        Some(path) => std::fs::read(path)
            .expect("BENCH_INPUT readable")
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .take(EVENTS)
            .map(<[u8]>::to_vec)
            .collect(),
        None => lines(EVENTS),
    };
    let received = Timestamp::now();
    let events: Vec<Event> = lines.iter().map(|l| Event::decode(l, received).expect("valid")).collect();
    let config = |format: &str, extra: &str| {
        let text = format!(
            "hostname = \"bench\"\n[egress]\nallow = [\"127.0.0.0/8\"]\n[sinks.s]\nformat = \"{format}\"\nurl = \"{}\"\n{extra}",
            if ["json", "slack", "teams", "splunk_hec"].contains(&format) { "http://127.0.0.1:9/" } else { "tcp://127.0.0.1:9" }
        );
        Config::parse(&text, "bench").expect("valid config").sinks[0].clone()
    };
    let average = lines.iter().map(Vec::len).sum::<usize>() / lines.len();
    println!("{EVENTS} events of about {average} bytes, median of {RUNS} runs");
    println!("{:<44} {:>10} {:>12} {:>12}", "stage", "ns/event", "events/s", "allocs/event");
    let report = |name: &str, (ns, allocs): (f64, f64)| {
        println!("{name:<44} {ns:>10.0} {:>12.0} {allocs:>12.2}", 1e9 / ns);
    };

    if selected("decode (JSON line -> Event)") {
        report(
            "decode (JSON line -> Event)",
            measure(&lines, |line, _| {
                std::hint::black_box(Event::decode(line, received).ok());
            }),
        );
    }
    let rfc5424 = config("rfc5424", "sd_fields = [\"data.cwe\", \"source_ip\"]");
    let mut scratch = Vec::new();
    if !selected("decode + rfc5424 + octet-counting frame") {
    } else {
        report(
            "decode + rfc5424 + octet-counting frame",
            measure(&lines, |line, out| {
                let event = Event::decode(line, received).expect("valid");
                scratch.clear();
                let _ = rfc5424.encoder.encode(&event, &mut scratch);
                Framing::OctetCounting.frame(&scratch, out);
            }),
        );
    }
    for (name, format, extra) in [
        ("encode rfc5424 (structured data)", "rfc5424", "sd_fields = [\"data.cwe\", \"source_ip\"]"),
        ("encode rfc3164", "rfc3164", ""),
        ("encode cef (default mapping)", "cef", ""),
        ("encode json envelope", "json", ""),
        ("encode slack", "slack", ""),
        ("encode teams", "teams", ""),
        ("encode splunk_hec", "splunk_hec", "token = \"t\""),
    ] {
        if !selected(name) {
            continue;
        }
        let sink = config(format, extra);
        let mut index = 0;
        report(
            name,
            measure(&lines, |_, out| {
                let _ = sink.encoder.encode(&events[index % events.len()], out);
                index += 1;
            }),
        );
    }
}
