//! `siem-relay-bench`: measurement tools for siem-relay and its peers (rsyslog, syslog-ng,
//! socat), kept out of the daemon binary.
//!
//! - `generate`: writes seeded synthetic security events (or replays a file of them) to a
//!   relay's Unix socket, at full speed or a fixed rate, each stamped with its send time
//!   (`sent_ns`); or writes them to a file so every relay gets identical input.
//! - `receive`: a counting receiver (TCP, TLS, UDP, HTTP) that splits frames and measures
//!   end-to-end latency from the `sent_ns` stamps.
//!
//! Both print one JSON line of figures on stdout. `bench/compare.sh` drives them.

mod clock;
mod frames;
mod generate;
mod http_rx;
mod latency;
mod pacer;
mod prng;
mod receive;
mod replies;
mod synth;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Load generator and counting receiver for benchmarking siem-relay.
#[derive(Debug, Parser)]
#[command(name = "siem-relay-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write synthetic (or replayed) events to a relay's Unix socket, a file or stdout.
    Generate(generate::GenerateArgs),
    /// Receive frames, count them and measure latency; exits when --expect have arrived
    /// (status 0) or after --timeout-s without progress (status 3).
    Receive(receive::ReceiveArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(args) => generate::run(args).map(|()| ExitCode::SUCCESS),
        Command::Receive(args) => receive::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("siem-relay-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
