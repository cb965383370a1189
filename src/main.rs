//! The `siem-relay` command: `run` (the default), `check`, `ctl`, `send`, `completions`, and the
//! hidden `manpages` that packaging uses.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, CommandFactory as _, Parser, Subcommand};
use siem_relay::client;
use siem_relay::config::Config;
use siem_relay::daemon::{ConfigSource, Handles};

/// The version and the commit it was built from (`unknown` outside a git checkout).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("SIEM_RELAY_COMMIT"), ")");

/// Forwards security events (NDJSON on a Unix socket) to SIEMs as syslog, CEF, LEEF and
/// webhooks.
#[derive(Debug, Parser)]
#[command(name = "siem-relay", version = VERSION, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no subcommand, `run` is assumed with these options.
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon (the default).
    Run(RunArgs),
    /// Validate a config file and exit: 0 if valid, 1 with the error otherwise.
    Check {
        /// Config file to check.
        #[arg(long, short)]
        config: PathBuf,
        /// Print the effective configuration as TOML on stdout (defaults filled in, secrets
        /// redacted); the verdict goes to stderr.
        #[arg(long)]
        print: bool,
    },
    /// Talk to a running daemon through its control API.
    Ctl(CtlArgs),
    /// Send NDJSON events to a running daemon and report how many were accepted and rejected.
    Send {
        /// The daemon's event socket.
        #[arg(long, short)]
        socket: Option<PathBuf>,
        /// File of events, one JSON object per line; `-` or nothing for standard input.
        file: Option<PathBuf>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell) to stdout.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (siem-relay(8), one per subcommand, siem-relay.toml(5)) into DIR.
    #[command(hide = true)]
    Manpages {
        /// Directory to write the pages into (created if missing).
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
struct CtlArgs {
    /// The control socket; default: the one of --config, else the default beside the default
    /// event socket (the rule `run` and `send` use).
    #[arg(long, global = true, value_name = "PATH")]
    control_socket: Option<PathBuf>,
    /// Deprecated spelling of --control-socket (for `run` and `send`, --socket is the event
    /// socket; for ctl it meant the control socket).
    #[arg(long = "socket", short = 's', global = true, hide = true, value_name = "PATH")]
    deprecated_socket: Option<PathBuf>,
    /// Config file to find the control socket in.
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Debug, Subcommand)]
enum CtlCommand {
    /// Liveness and a summary.
    Health,
    /// Every sink with its state, queue and counters.
    Sinks,
    /// One sink's status.
    Status { name: String },
    /// Send a test delivery through a webhook sink.
    Test { name: String },
    /// A webhook sink's recent delivery attempts.
    History { name: String },
    /// Re-activate a webhook sink and reset its failure counters.
    Enable { name: String },
    /// Deactivate a webhook sink.
    Disable { name: String },
    /// A webhook sink's dead letters; --replay puts them back in its queue.
    DeadLetters {
        name: String,
        #[arg(long)]
        replay: bool,
    },
    /// Configured and seen event types.
    EventTypes,
    /// Reload the configuration.
    Reload,
    /// Metrics in the Prometheus text format.
    Metrics,
    /// Create a run-time sink from a TOML or JSON file of its keys.
    Create { name: String, file: PathBuf },
    /// Change keys of a run-time sink from a TOML or JSON file (JSON null removes a key).
    Update { name: String, file: PathBuf },
    /// Delete a run-time sink.
    Delete { name: String },
    /// Print a store's events (a `url = "store"` sink) as NDJSON, one json webhook envelope per
    /// line; the last cursor goes to stderr.
    Pull {
        name: String,
        /// Start after this cursor (default: the consumer's commit, else the oldest event).
        #[arg(long)]
        after: Option<String>,
        /// Keep waiting for new events (long-polling) instead of stopping at the end.
        #[arg(long)]
        follow: bool,
        /// Start after this named consumer's commit and commit after each page printed.
        #[arg(long)]
        consumer: Option<String>,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Config file; without it the embedded default (one console sink) is used.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Event socket path, overriding `input.socket`.
    #[arg(long, short)]
    socket: Option<PathBuf>,
}

fn main() -> ExitCode {
    // Before any thread starts: take the sockets systemd may have passed (socket activation).
    let inherited = siem_relay::systemd::listen_fds();
    let level = std::env::var(siem_relay::logging::VARIABLE).ok();
    let filter = match siem_relay::logging::filter(level.as_deref()) {
        Ok(filter) => filter,
        Err(error) => {
            // Refused rather than guessed: a misread level would silently hide every log line.
            eprintln!("siem-relay: {error}");
            return ExitCode::FAILURE;
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        None => run(cli.run, inherited),
        Some(Command::Run(args)) => run(args, inherited),
        Some(Command::Check { config, print }) => check(config, print),
        Some(Command::Send { socket, file }) => send(socket, file),
        Some(Command::Ctl(args)) => ctl(args),
        Some(Command::Completions { shell }) => completions(shell),
        Some(Command::Manpages { dir }) => manpages(&dir),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("siem-relay: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the completion script for `shell`; a reader that stops early (`| head`) is no error.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut command = Cli::command();
    command.set_bin_name("siem-relay");
    command.build();
    match clap_complete::Generator::try_generate(&shell, &command, &mut std::io::stdout()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(error).context("cannot write the completion script")
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Writes `siem-relay.8`, `siem-relay-SUBCOMMAND.8` for each visible subcommand, and
/// `siem-relay.toml.5` (from the README's key tables) into `dir`.
fn manpages(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let write = |name: &str, page: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))
    };
    let render = |command: clap::Command| -> anyhow::Result<Vec<u8>> {
        let mut page = Vec::new();
        clap_mangen::Man::new(command).section("8").render(&mut page).context("cannot render a man page")?;
        Ok(page)
    };
    let cli = Cli::command().version(VERSION);
    write("siem-relay.8", &render(cli.clone())?)?;
    for sub in cli.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        let name = format!("siem-relay-{}", sub.get_name());
        write(&format!("{name}.8"), &render(sub.clone().name(name.clone()).version(VERSION))?)?;
    }
    write("siem-relay.toml.5", siem_relay::manual::config_page(siem_relay::manual::README, VERSION).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// `ctl pull`: exit 0 at the end of the store, 1 when the daemon refuses, 2 when unreachable.
fn pull(socket: &std::path::Path, args: siem_relay::pull::PullArgs) -> anyhow::Result<ExitCode> {
    use siem_relay::pull::PullError;
    runtime()?.block_on(async move {
        let mut out = std::io::stdout().lock();
        match siem_relay::pull::pull(socket, &args, &mut out).await {
            Ok(last) => {
                if let Some(cursor) = last {
                    eprintln!("siem-relay ctl pull: next cursor {cursor}");
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(PullError::Output(std::io::ErrorKind::BrokenPipe)) => Ok(ExitCode::SUCCESS),
            Err(PullError::Output(kind)) => Err(anyhow::anyhow!("cannot write to stdout: {kind}")),
            Err(PullError::Refused(why)) => {
                eprintln!("siem-relay ctl pull: {why}");
                Ok(ExitCode::FAILURE)
            }
            Err(PullError::Unreachable(why)) => {
                eprintln!("siem-relay ctl pull: {why}");
                Ok(ExitCode::from(2))
            }
        }
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn run(args: RunArgs, inherited: Vec<(std::os::fd::OwnedFd, String)>) -> anyhow::Result<ExitCode> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::embedded_default()?,
    };
    if let Some(socket) = args.socket {
        config.override_socket(socket);
    }
    let source = match args.config {
        Some(path) => ConfigSource::File(path),
        None => ConfigSource::Embedded,
    };
    runtime()?.block_on(async move {
        // Undelivered events at shutdown are reported in the log; the exit status stays 0 so
        // that a requested stop is never mistaken for a crash by the service manager.
        siem_relay::daemon::run(config, source, inherited, shutdown_signal(), |handles| {
            tokio::spawn(reload_on_sighup(handles.clone()));
        })
        .await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Reloads the configuration on every SIGHUP (`systemctl reload`).
async fn reload_on_sighup(handles: Handles) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot install the SIGHUP handler; reload through the control API");
        return;
    };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP received: reloading");
        // The outcome is logged by the daemon.
        let _ = handles.reload().await;
    }
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}

fn check(path: PathBuf, print: bool) -> anyhow::Result<ExitCode> {
    let loaded = if print {
        Config::load_effective(&path).map(|(config, effective)| (config, Some(effective)))
    } else {
        Config::load(&path).map(|config| (config, None))
    };
    match loaded {
        Ok((config, effective)) => {
            // With --print, stdout carries only the TOML, so that it can be piped and parsed.
            let say = |line: String| match effective {
                Some(_) => eprintln!("{line}"),
                None => println!("{line}"),
            };
            if let Some(effective) = &effective {
                print!("{effective}");
            }
            let names: Vec<String> = config.sinks.iter().map(|s| format!("{} ({})", s.name, s.endpoint)).collect();
            match (names.is_empty(), &config.control.sinks_dir) {
                (true, Some(dir)) => {
                    say(format!("{}: OK, no sinks yet (run-time sinks go to {})", path.display(), dir.display()))
                }
                _ => say(format!("{}: OK, {} sink(s): {}", path.display(), config.sinks.len(), names.join(", "))),
            }
            // The state of each disk queue, read without changing anything.
            for sink in &config.sinks {
                if let siem_relay::config::QueueKind::Disk { dir, .. } = &sink.queue_kind {
                    match siem_relay::queue::disk::inspect(dir) {
                        Ok(report) => {
                            say(format!(
                                "queue {} ({}): {} records pending, {} bytes, {} corrupt, {} segment(s), {} quarantined",
                                sink.name,
                                dir.display(),
                                report.pending_records,
                                report.pending_bytes,
                                report.corrupt_records,
                                report.segments,
                                report.quarantined
                            ));
                            for problem in &report.problems {
                                say(format!("queue {}: {problem}", sink.name));
                            }
                        }
                        Err(error) => say(format!("queue {} ({}): cannot be read: {error}", sink.name, dir.display())),
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("siem-relay: config error: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn ctl(args: CtlArgs) -> anyhow::Result<ExitCode> {
    use siem_relay::ctl::Command as C;
    if args.deprecated_socket.is_some() {
        eprintln!(
            "siem-relay ctl: --socket is deprecated here (it names the event socket for run and send): use --control-socket"
        );
    }
    let socket = match (args.control_socket.or(args.deprecated_socket), args.config) {
        (Some(socket), _) => socket,
        (None, Some(config)) => Config::load(&config)?.control.socket,
        (None, None) => {
            use siem_relay::config::paths;
            paths::default_control_socket(&paths::default_event_socket())
        }
    };
    let command = match args.command {
        CtlCommand::Health => C::Health,
        CtlCommand::Sinks => C::Sinks,
        CtlCommand::Status { name } => C::Status(name),
        CtlCommand::Test { name } => C::Test(name),
        CtlCommand::History { name } => C::History(name),
        CtlCommand::Enable { name } => C::Enable(name),
        CtlCommand::Disable { name } => C::Disable(name),
        CtlCommand::DeadLetters { name, replay } => C::DeadLetters { sink: name, replay },
        CtlCommand::EventTypes => C::EventTypes,
        CtlCommand::Reload => C::Reload,
        CtlCommand::Metrics => C::Metrics,
        CtlCommand::Create { name, file } => C::Create { sink: name, keys: read_keys(&file)? },
        CtlCommand::Update { name, file } => C::Update { sink: name, keys: read_keys(&file)? },
        CtlCommand::Delete { name } => C::Delete(name),
        CtlCommand::Pull { name, after, follow, consumer } => {
            return pull(&socket, siem_relay::pull::PullArgs { sink: name, after, follow, consumer })
        }
    };
    runtime()?.block_on(async move {
        match siem_relay::ctl::run(&socket, &command, args.json).await {
            Ok((text, ok)) => {
                print!("{text}");
                Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
            }
            Err(error) => {
                eprintln!("siem-relay ctl: {error}");
                Ok(ExitCode::from(2))
            }
        }
    })
}

/// A sink's keys from a JSON file, or else a TOML file.
fn read_keys(path: &std::path::Path) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    if let Ok(serde_json::Value::Object(keys)) = serde_json::from_str(&text) {
        return Ok(keys);
    }
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{}: expected a JSON object or TOML keys", path.display()))?;
    match serde_json::to_value(table)? {
        serde_json::Value::Object(keys) => Ok(keys),
        _ => anyhow::bail!("{}: expected keys", path.display()),
    }
}

fn send(socket: Option<PathBuf>, file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let socket = socket.unwrap_or_else(siem_relay::config::paths::default_event_socket);
    runtime()?.block_on(async move {
        let sent = match file.filter(|f| f.as_os_str() != "-") {
            Some(path) => {
                let file =
                    tokio::fs::File::open(&path).await.with_context(|| format!("cannot open {}", path.display()))?;
                client::send(&socket, file).await
            }
            None => client::send(&socket, tokio::io::stdin()).await,
        };
        // No daemon there (or the connection broke): 2, as for ctl; 1 is for refused events.
        let outcome = match sent {
            Ok(outcome) => outcome,
            Err(error) => {
                eprintln!("siem-relay: cannot send to {}: {error}", socket.display());
                return Ok(ExitCode::from(2));
            }
        };
        for (line, reason) in &outcome.rejections {
            eprintln!("line {line}: rejected: {reason}");
        }
        for (line, reason) in &outcome.not_queued {
            eprintln!("line {line}: {reason}");
        }
        println!("accepted {}, rejected {}", outcome.accepted, outcome.rejected);
        if let Some(error) = &outcome.error {
            eprintln!("siem-relay: {error}");
            return Ok(ExitCode::from(2));
        }
        if outcome.acked_through < outcome.lines {
            eprintln!("siem-relay: only lines up to {} of {} were acknowledged", outcome.acked_through, outcome.lines);
            return Ok(ExitCode::from(2));
        }
        Ok(if outcome.rejected > 0 || !outcome.not_queued.is_empty() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
    })
}
