//! Per-event cost of the decoder and each encoder, and heap allocations per event on the
//! JSON -> RFC 5424 -> octet-counted frame path (the issue-7 budget is at most 4).
//!
//! Plain timing, no framework: `cargo bench --bench encoders` prints, per stage, the median of
//! 7 runs in ns/event and events/s, and the allocations per event counted by a counting global
//! allocator. No pass/fail.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use siem_relay::config::Config;
use siem_relay::event::Event;
use siem_relay::timestamp::Timestamp;
use siem_relay::transport::Framing;

/// Counts allocations made through the global allocator.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwards the caller's layout to the system allocator unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `dealloc` and `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const EVENTS: usize = 20_000;
const RUNS: usize = 7;

/// Realistic finding events of about 360 bytes, with field variety.
fn lines() -> Vec<Vec<u8>> {
    let severities = ["critical", "high", "medium", "low", "info"];
    (0..EVENTS)
        .map(|n| {
            format!(
                r#"{{"event":"finding_added","id":"f-{n:08}","timestamp":"2024-05-01T12:{:02}:{:02}.{:06}Z","severity":"{}","title":"SQL injection in /api/v1/items/{n} parameter q","host":"web-{}.prod.example.net","source_ip":"10.{}.{}.{}","user":"svc-scanner","url":"https://web.example.net/api/v1/items/{n}?q=1","data":{{"cwe":"CWE-89","cvss":9.1}}}}"#,
                n / 60 % 60,
                n % 60,
                n % 1_000_000,
                severities[n % 5],
                n % 16,
                n % 256,
                n / 256 % 256,
                n % 7
            )
            .into_bytes()
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Runs `stage` over every line `RUNS` times; returns the median ns/event and allocations/event.
fn measure(lines: &[Vec<u8>], mut stage: impl FnMut(&[u8], &mut Vec<u8>)) -> (f64, f64) {
    let mut out = Vec::with_capacity(64 * 1024);
    let mut times = Vec::with_capacity(RUNS);
    let mut allocations = 0;
    for _ in 0..RUNS {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let start = Instant::now();
        for line in lines {
            out.clear();
            stage(line, &mut out);
        }
        times.push(start.elapsed().as_nanos() as f64 / lines.len() as f64);
        allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    }
    (median(times), allocations as f64 / lines.len() as f64)
}

fn main() {
    // `cargo bench` passes --bench; test runners that list or run every target get nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let lines = lines();
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

    report(
        "decode (JSON line -> Event)",
        measure(&lines, |line, _| {
            std::hint::black_box(Event::decode(line, received).ok());
        }),
    );
    let rfc5424 = config("rfc5424", "sd_fields = [\"data.cwe\", \"source_ip\"]");
    let mut scratch = Vec::new();
    report(
        "decode + rfc5424 + octet-counting frame",
        measure(&lines, |line, out| {
            let event = Event::decode(line, received).expect("valid");
            scratch.clear();
            let _ = rfc5424.encoder.encode(&event, &mut scratch);
            Framing::OctetCounting.frame(&scratch, out);
        }),
    );
    for (name, format, extra) in [
        ("encode rfc5424 (structured data)", "rfc5424", "sd_fields = [\"data.cwe\", \"source_ip\"]"),
        ("encode rfc3164", "rfc3164", ""),
        ("encode cef (default mapping)", "cef", ""),
        ("encode json envelope", "json", ""),
        ("encode slack", "slack", ""),
        ("encode teams", "teams", ""),
        ("encode splunk_hec", "splunk_hec", "token = \"t\""),
    ] {
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
