//! The daemon's replies on an event connection (see `src/input/connection.rs`): `hello`,
//! `ack` (`through` = last line safely taken in), `rejected` / `error` per line, and `summary`
//! once our sending side is shut down. Read on a thread of its own so the writer never waits
//! for them; relays that answer nothing (socat, rsyslog, syslog-ng) just close at the end.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What the replies said so far.
#[derive(Debug, Default, Clone)]
pub struct ReplyState {
    /// The daemon accepted the acknowledgement protocol.
    pub hello: bool,
    /// Highest `through` acknowledged.
    pub through: u64,
    /// `rejected` lines (invalid events).
    pub rejected: u64,
    /// `error` lines (not queued, too many clients, ...).
    pub errors: u64,
    /// The first rejection or error, as sent.
    pub first_problem: Option<String>,
    /// The final `summary` line.
    pub summary: Option<serde_json::Value>,
    /// The daemon closed the connection (or reading failed).
    pub closed: bool,
}

#[derive(Debug, Default)]
pub struct Replies {
    state: Mutex<ReplyState>,
    changed: Condvar,
}

impl Replies {
    /// Reads replies from `stream` until it closes, on a new thread.
    pub fn spawn_reader(stream: UnixStream) -> Arc<Replies> {
        let replies = Arc::new(Replies::default());
        let shared = replies.clone();
        std::thread::spawn(move || shared.read_all(stream));
        replies
    }

    fn read_all(&self, stream: UnixStream) {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => self.update(|s| apply(s, line.trim_end())),
            }
        }
        self.update(|s| s.closed = true);
    }

    fn update(&self, f: impl FnOnce(&mut ReplyState)) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut state);
        self.changed.notify_all();
    }

    pub fn snapshot(&self) -> ReplyState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until `done` holds or `limit` passes; returns the state either way.
    pub fn wait_until(&self, limit: Duration, done: impl Fn(&ReplyState) -> bool) -> ReplyState {
        let deadline = Instant::now() + limit;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if done(&state) {
                return state.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                return state.clone();
            }
            state = match self.changed.wait_timeout(state, deadline - now) {
                Ok((s, _)) => s,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

/// Applies one reply line to the state. Lines that are not JSON objects are counted as errors.
fn apply(state: &mut ReplyState, line: &str) {
    if line.is_empty() {
        return;
    }
    let value: serde_json::Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(_) => {
            note_problem(state, line);
            state.errors += 1;
            return;
        }
    };
    match value.get("type").and_then(|t| t.as_str()) {
        Some("hello") => state.hello = value.get("acks").and_then(|a| a.as_bool()).unwrap_or(false),
        Some("ack") => {
            if let Some(n) = value.get("through").and_then(|n| n.as_u64()) {
                state.through = state.through.max(n);
            }
        }
        Some("rejected") => {
            note_problem(state, line);
            state.rejected += 1;
        }
        Some("summary") => state.summary = Some(value),
        _ => {
            note_problem(state, line);
            state.errors += 1;
        }
    }
}

fn note_problem(state: &mut ReplyState, line: &str) {
    if state.first_problem.is_none() {
        state.first_problem = Some(line.chars().take(500).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_tallied() {
        let mut s = ReplyState::default();
        for line in [
            r#"{"type":"hello","acks":true}"#,
            r#"{"type":"ack","through":10}"#,
            r#"{"type":"rejected","line":11,"reason_code":"invalid_json","reason":"x"}"#,
            r#"{"type":"ack","through":7}"#,
            r#"{"type":"error","line":12,"reason_code":"not_queued","reason":"full"}"#,
            r#"{"type":"summary","lines":12,"accepted":10,"rejected":1}"#,
            "",
            "garbage",
        ] {
            apply(&mut s, line);
        }
        assert!(s.hello);
        assert_eq!(s.through, 10);
        assert_eq!(s.rejected, 1);
        assert_eq!(s.errors, 2);
        assert!(s.first_problem.as_deref().is_some_and(|p| p.contains("invalid_json")));
        assert!(s.summary.is_some());
    }
}
