//! Kafka sink throughput: events/s from the input socket to a real Kafka-protocol broker
//! (tansu, sqlite storage, on loopback), acknowledged with `acks = all`, and the CPU the daemon
//! and the broker spend per event.
//!
//! The daemon runs in this process with one `kafka://` sink (key = host, 3 partitions, memory
//! queue that blocks); each run writes N events to a fresh topic and ends when the sink counts
//! all N delivered (acknowledged by the broker). CPU: this process's user+system time over the
//! run (the daemon; the writer only copies prepared bytes into the socket), and the broker's
//! from `/proc/PID/stat`.
//!
//! `cargo bench --bench kafka` (needs tansu: `SIEM_RELAY_TANSU`, `PATH` or `~/.cargo/bin`).
//! `BENCH_EVENTS` (default 100000), `BENCH_RUNS` (5), `BENCH_COMPRESSION` (none),
//! `BENCH_STORAGE` (tansu's storage engine: `sqlite`, the default, durable like a real broker's
//! log; `memory` shows what the sink does when the broker is not the bottleneck). Prints each
//! run and the medians; no pass/fail.

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use siem_relay::config::Config;

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/events.rs"]
mod events;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

fn tansu() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("SIEM_RELAY_TANSU").map(PathBuf::from),
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("tansu")).find(|path| path.is_file())),
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin/tansu")),
    ];
    candidates.into_iter().flatten().find(|path| path.is_file())
}

/// CPU seconds (user + system) this process has used.
fn own_cpu() -> f64 {
    // SAFETY: getrusage only writes into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// CPU seconds (user + system) process `pid` has used, from `/proc/PID/stat`.
fn process_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let Some(tansu) = tansu() else {
        println!(
            "kafka bench skipped: no tansu (cargo install tansu --version 0.6.0 --locked --features libsql,dynostore)"
        );
        return;
    };
    let (count, runs) = (env("BENCH_EVENTS", 100_000), env("BENCH_RUNS", 5));
    let compression = std::env::var("BENCH_COMPRESSION").unwrap_or_else(|_| "none".to_owned());
    let storage = match std::env::var("BENCH_STORAGE").as_deref() {
        Ok("memory") => "memory://tansu/",
        _ => "sqlite://bench.db",
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let listener = format!("tcp://127.0.0.1:{port}");
    let mut broker: Child = Command::new(&tansu)
        .args(["broker", "--listener-url", &listener, "--advertised-listener-url", &listener])
        .args(["--storage-engine", storage])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tansu");
    let ready = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(ready.elapsed() < Duration::from_secs(20), "tansu did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let create = |topic: &str| {
        let status = Command::new(&tansu)
            .args(["topic", "create", "--broker", &listener, "--partitions", "3", topic])
            .stdout(Stdio::null())
            .status()
            .expect("tansu topic create");
        assert!(status.success(), "cannot create topic {topic}");
    };
    for run in 1..=runs {
        create(&format!("bench-{run}"));
    }

    let socket = dir.path().join("events.sock");
    let control = dir.path().join("control.sock");
    let sinks: String = (1..=runs)
        .map(|run| {
            format!(
                "[sinks.run{run}]\nurl = \"kafka://127.0.0.1:{port}/bench-{run}\"\nkey = \"host\"\n\
                 compression = {compression:?}\nevents = [\"run{run}\"]\n"
            )
        })
        .collect();
    let text = format!("[input]\nsocket = {socket:?}\n[control]\nsocket = {control:?}\n{sinks}");
    let config = Config::parse(&text, "bench").expect("valid config");
    let daemon = daemon::InProcess::start(config, &[&socket, &control]);
    let delivered = |run: usize| -> u64 {
        let path = format!("/v1/sinks/run{run}");
        let (_, body) =
            daemon.runtime.block_on(siem_relay::control::client::request(&control, "GET", &path)).expect("status");
        let status: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        status["counters"]["delivered"].as_u64().unwrap_or(0)
    };

    println!(
        "kafka sink to tansu ({storage}) on loopback: {count} events per run, 3 partitions, key = host, \
         compression = {compression}"
    );
    println!("{:>4} {:>12} {:>16} {:>16}", "run", "events/s", "daemon CPU s/M", "broker CPU s/M");
    let (mut rates, mut daemon_cpu, mut broker_cpu) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs {
        // Each run's events carry their own type, so they reach only that run's sink.
        let mut input = Vec::new();
        for line in events::lines(count) {
            let line = String::from_utf8(line).expect("UTF-8").replacen("finding_added", &format!("run{run}"), 1);
            input.extend_from_slice(line.as_bytes());
            input.push(b'\n');
        }
        let (cpu0, broker0, start) = (own_cpu(), process_cpu(broker.id()), Instant::now());
        let mut writer = UnixStream::connect(&socket).expect("connect");
        writer.write_all(&input).expect("write");
        drop(writer);
        while delivered(run) < count as u64 {
            // Each status request costs the daemon some CPU too: a few per second are enough.
            std::thread::sleep(Duration::from_millis(50));
        }
        let seconds = start.elapsed().as_secs_f64();
        let per_million = |cpu: f64| cpu / count as f64 * 1e6;
        let (ours, theirs) = (per_million(own_cpu() - cpu0), per_million(process_cpu(broker.id()) - broker0));
        println!("{run:>4} {:>12.0} {ours:>16.2} {theirs:>16.2}", count as f64 / seconds);
        rates.push(count as f64 / seconds);
        daemon_cpu.push(ours);
        broker_cpu.push(theirs);
    }
    println!(
        "median {:>10.0} events/s, daemon {:.2} CPU s per million events, broker {:.2}",
        median(rates),
        median(daemon_cpu),
        median(broker_cpu)
    );
    daemon.stop();
    let _ = broker.kill();
    let _ = broker.wait();
}
