//! Pull mode: events/s a consumer pulls from a store over the control socket, and bytes on disk
//! per stored event. The daemon runs in this process with one `url = "store"` sink (disk
//! queue, the default); the bench writes N events, waits until all are stored, then pulls them
//! all back (`GET /v1/sinks/NAME/events?limit=1000`, page after page) as `ctl pull` does.
//!
//! `cargo bench --bench pull` prints, per run, events/s pulled, then the median, and the
//! store's bytes on disk per event (segment files / events kept). No pass/fail.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use siem_relay::config::Config;

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/events.rs"]
mod events;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let (count, runs) = (env("BENCH_EVENTS", 100_000), env("BENCH_RUNS", 5));
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("events.sock");
    let control = dir.path().join("control.sock");
    let text = format!(
        "data_dir = {:?}\n[input]\nsocket = {socket:?}\n[control]\nsocket = {control:?}\n\
         [sinks.pull]\nformat = \"json\"\nurl = \"store\"\nretention = {{ max_events = {count} }}\n",
        dir.path().join("data")
    );
    let config = Config::parse(&text, "bench").expect("valid config");
    let daemon = daemon::InProcess::start(config, &[&socket, &control]);
    let mut input = Vec::new();
    for line in events::lines(count) {
        input.extend_from_slice(&line);
        input.push(b'\n');
    }
    let average_line = input.len() / count;
    UnixStream::connect(&socket).expect("connect").write_all(&input).expect("write");
    // Stored once the store holds every event.
    let stored = |body: &str| body.contains(&format!("\"events\": {count},"));
    loop {
        let (_, body) = daemon
            .runtime
            .block_on(siem_relay::control::client::request(&control, "GET", "/v1/sinks/pull"))
            .expect("status");
        if stored(&body) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let store_dir = dir.path().join("data/pull/store");
    let on_disk: u64 = std::fs::read_dir(&store_dir)
        .expect("store dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
        .filter_map(|e| e.metadata().ok().map(|m| m.len()))
        .sum();
    println!("pull over the control socket: {count} stored events, input lines of about {average_line} bytes");
    println!("{:>4} {:>12}", "run", "events/s");
    let mut rates = Vec::new();
    for run in 1..=runs {
        let start = Instant::now();
        let mut after = String::new();
        let mut pulled = 0usize;
        loop {
            let path = format!("/v1/sinks/pull/events?limit=1000{after}");
            let (status, body) =
                daemon.runtime.block_on(siem_relay::control::client::request(&control, "GET", &path)).expect("pull");
            assert_eq!(status, 200, "{body}");
            let page: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            pulled += page["events"].as_array().map_or(0, Vec::len);
            after = format!("&after={}", page["next"].as_str().expect("next"));
            if page["more"] != true {
                break;
            }
        }
        assert_eq!(pulled, count);
        let rate = count as f64 / start.elapsed().as_secs_f64();
        println!("{run:>4} {rate:>12.0}");
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!("median {:>12.0} events/s", rates[rates.len() / 2]);
    println!(
        "on disk: {on_disk} bytes of segments for {count} events = {:.0} bytes per event (envelope, 8-byte time, 16-byte record header)",
        on_disk as f64 / count as f64
    );
    daemon.stop();
}
