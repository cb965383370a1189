//! A RELP receiver of our own for the tests, written from librelp's `doc/relp.md`
//! independently of the daemon's client (it shares no code with `src/transport/relp.rs`).
//!
//! It checks every byte the client sends: the frame grammar (TXNR, COMMAND of 1-32 letters,
//! DATALEN, data, LF trailer), that a session starts with `1 open` carrying a `relp_version`
//! offer and offering `syslog`, that transaction numbers go up by one, that only `syslog` and
//! `close` follow, that DATA stays within 128 KiB, and that the client never has more commands
//! unanswered than the window allows. Anything else is recorded as a violation.
//!
//! Its behaviour is set per test: answers delayed, some messages refused with `500`, or the
//! connection cut without answering after a number of messages (a receiver that dies).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How the receiver behaves.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Wait this long before answering each `syslog` command.
    pub answer_delay: Duration,
    /// Refuse (`500`) messages containing this text, this many times each.
    pub refuse: Option<(String, usize)>,
    /// Close the connection without answering when this many `syslog` commands have been
    /// received in all (once).
    pub cut_after: Option<usize>,
    /// The window the client was configured with: more unanswered commands is a violation.
    pub window: usize,
    /// On the first session, take `syslog` commands and never answer them (a hung receiver).
    pub mute_first_session: bool,
}

#[derive(Debug, Default)]
pub struct State {
    /// Messages answered `200`, in the order received.
    pub accepted: Vec<String>,
    /// `syslog` commands received in all (answered or not).
    pub received: usize,
    pub refused: usize,
    /// Most commands the client had unanswered at once.
    pub max_outstanding: usize,
    pub sessions: usize,
    /// Sessions the client ended with `close`.
    pub closed: usize,
    pub violations: Vec<String>,
    refusals_left: std::collections::HashMap<String, usize>,
    cut_done: bool,
}

pub struct RelpServer {
    pub port: u16,
    pub state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RelpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RelpServer {
    pub async fn start(behaviour: Behaviour) -> RelpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, behaviour.clone(), shared.clone()));
            }
        });
        RelpServer { port, state, task }
    }

    pub fn url(&self) -> String {
        format!("relp://127.0.0.1:{}", self.port)
    }

    pub fn accepted(&self) -> Vec<String> {
        self.state.lock().expect("lock").accepted.clone()
    }

    pub fn with<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.lock().expect("lock"))
    }
}

/// One client frame.
struct Frame {
    txnr: u64,
    command: String,
    data: Vec<u8>,
}

/// Reads one frame, strictly; `Ok(None)` at a clean end between frames.
async fn read_frame(stream: &mut tokio::net::tcp::OwnedReadHalf) -> Result<Option<Frame>, String> {
    async fn byte(stream: &mut tokio::net::tcp::OwnedReadHalf) -> Result<Option<u8>, String> {
        let mut one = [0u8; 1];
        match stream.read(&mut one).await {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(one[0])),
            Err(e) => Err(e.to_string()),
        }
    }
    // TXNR: 1-9 digits, SP.
    let mut field = Vec::new();
    loop {
        match byte(stream).await? {
            None if field.is_empty() => return Ok(None),
            None => return Err("connection ended inside a frame".into()),
            Some(b' ') => break,
            Some(d) if d.is_ascii_digit() && field.len() < 9 => field.push(d),
            Some(other) => return Err(format!("TXNR: unexpected byte {other:#04x}")),
        }
    }
    if field.is_empty() {
        return Err("empty TXNR".into());
    }
    let txnr: u64 = String::from_utf8_lossy(&field).parse().map_err(|_| "TXNR not a number")?;
    // COMMAND: 1-32 letters, SP.
    let mut command = Vec::new();
    loop {
        match byte(stream).await?.ok_or("connection ended in COMMAND")? {
            b' ' if !command.is_empty() => break,
            c if c.is_ascii_alphabetic() && command.len() < 32 => command.push(c),
            other => return Err(format!("COMMAND: unexpected byte {other:#04x}")),
        }
    }
    // DATALEN: 1-9 digits, then LF (no data) or SP.
    let mut len = Vec::new();
    let after = loop {
        match byte(stream).await?.ok_or("connection ended in DATALEN")? {
            d if d.is_ascii_digit() && len.len() < 9 => len.push(d),
            b @ (b' ' | b'\n') if !len.is_empty() => break b,
            other => return Err(format!("DATALEN: unexpected byte {other:#04x}")),
        }
    };
    let datalen: usize = String::from_utf8_lossy(&len).parse().map_err(|_| "DATALEN not a number")?;
    if len.len() > 1 && len[0] == b'0' {
        return Err("DATALEN with a leading zero".into());
    }
    let data = match (datalen, after) {
        (0, b'\n') => Vec::new(),
        (0, _) => return Err("DATALEN 0 must be followed by LF".into()),
        (_, b'\n') => return Err("DATALEN > 0 but LF instead of SP".into()),
        (n, _) => {
            if n > 128 * 1024 {
                return Err(format!("DATALEN {n} over 128 KiB"));
            }
            let mut data = vec![0u8; n];
            stream.read_exact(&mut data).await.map_err(|e| format!("data: {e}"))?;
            match byte(stream).await? {
                Some(b'\n') => {}
                other => return Err(format!("no LF trailer: {other:?}")),
            }
            data
        }
    };
    Ok(Some(Frame { txnr, command: String::from_utf8_lossy(&command).into_owned(), data }))
}

fn encode(txnr: u64, command: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("{txnr} {command} {}", data.len()).into_bytes();
    if !data.is_empty() {
        out.push(b' ');
        out.extend_from_slice(data);
    }
    out.push(b'\n');
    out
}

async fn session(stream: TcpStream, behaviour: Behaviour, state: Arc<Mutex<State>>) {
    let violation = |why: String| state.lock().expect("lock").violations.push(why);
    let (mut reader, mut writer) = stream.into_split();
    // Answers go out in order from their own task, each after the configured delay, so reading
    // goes on meanwhile (and the client's window is what limits it).
    let (answers, mut to_send) = mpsc::unbounded_channel::<(Vec<u8>, Option<String>, bool)>();
    let outstanding = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let answering = {
        let state = state.clone();
        let delay = behaviour.answer_delay;
        let outstanding = outstanding.clone();
        tokio::spawn(async move {
            while let Some((bytes, accepted, syslog)) = to_send.recv().await {
                if !delay.is_zero() && syslog {
                    tokio::time::sleep(delay).await;
                }
                {
                    let mut state = state.lock().expect("lock");
                    if let Some(message) = accepted {
                        state.accepted.push(message);
                    }
                }
                // Counted down before the write: the client may send its next command as soon
                // as the answer arrives, before this task runs again.
                if syslog {
                    outstanding.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }
                if writer.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        })
    };
    let mut expected = 1u64;
    let mut muted = false;
    loop {
        let frame = match read_frame(&mut reader).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(why) => {
                violation(why);
                break;
            }
        };
        if frame.txnr != expected {
            violation(format!("TXNR {} where {expected} was due", frame.txnr));
        }
        expected = if frame.txnr >= 999_999_999 { 1 } else { frame.txnr + 1 };
        match (frame.txnr, frame.command.as_str()) {
            (1, "open") => {
                let offers = String::from_utf8_lossy(&frame.data).into_owned();
                let lines: Vec<&str> = offers.split('\n').collect();
                if !lines.iter().any(|l| l.starts_with("relp_version=")) {
                    violation(format!("open without relp_version: {offers:?}"));
                }
                if !lines
                    .iter()
                    .any(|l| l.strip_prefix("commands=").is_some_and(|c| c.split(',').any(|c| c == "syslog")))
                {
                    violation(format!("open does not offer syslog: {offers:?}"));
                }
                let mut locked = state.lock().expect("lock");
                locked.sessions += 1;
                muted = behaviour.mute_first_session && locked.sessions == 1;
                drop(locked);
                let body = b"200 OK\nrelp_version=0\nrelp_software=test-receiver\ncommands=syslog";
                let _ = answers.send((encode(1, "rsp", body), None, false));
            }
            (_, "open") => violation(format!("open with TXNR {}", frame.txnr)),
            (1, _) => violation(format!("session starts with {} instead of open", frame.command)),
            (txnr, "syslog") => {
                if frame.data.is_empty() {
                    violation(format!("syslog {txnr} without a message"));
                }
                let message = String::from_utf8_lossy(&frame.data).into_owned();
                let (cut, refuse) = {
                    let mut state = state.lock().expect("lock");
                    state.received += 1;
                    // Outstanding: received on this session and not yet answered (the answer
                    // task counts down as it writes).
                    let now = outstanding.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    state.max_outstanding = state.max_outstanding.max(now);
                    if behaviour.window > 0 && now > behaviour.window {
                        state.violations.push(format!("{now} commands unanswered, window {}", behaviour.window));
                    }
                    let cut = behaviour.cut_after.is_some_and(|n| state.received >= n && !state.cut_done);
                    if cut {
                        state.cut_done = true;
                    }
                    let refuse = match &behaviour.refuse {
                        Some((marker, times)) if message.contains(marker.as_str()) => {
                            let left = state.refusals_left.entry(marker.clone()).or_insert(*times);
                            if *left > 0 {
                                *left -= 1;
                                state.refused += 1;
                                true
                            } else {
                                false
                            }
                        }
                        _ => false,
                    };
                    (cut, refuse)
                };
                if cut {
                    // Dies with commands unanswered: nothing more is read or answered.
                    answering.abort();
                    return;
                }
                if muted {
                    continue;
                }
                let reply = if refuse {
                    encode(txnr, "rsp", b"500 refused by the test")
                } else {
                    encode(txnr, "rsp", b"200 OK")
                };
                let accepted = (!refuse).then_some(message);
                let _ = answers.send((reply, accepted, true));
            }
            (txnr, "close") => {
                state.lock().expect("lock").closed += 1;
                let _ = answers.send((encode(txnr, "rsp", b""), None, false));
                break;
            }
            (_, other) => violation(format!("unexpected command {other:?}")),
        }
    }
    drop(answers);
    let _ = answering.await;
}
