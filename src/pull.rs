//! `siem-relay ctl pull`: a store's events as NDJSON on stdout, one json webhook envelope per
//! line, byte for byte as a webhook would have received it (the API's `cursor` member is taken
//! off). With `--consumer C` it starts after C's commit and commits after each page it printed
//! (at least once: a crash between printing and committing prints that page again). With
//! `--follow` it long-polls for new events instead of stopping at the end.

use std::io::Write;
use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::control::client;

/// What `pull` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullArgs {
    pub sink: String,
    pub after: Option<String>,
    pub follow: bool,
    pub consumer: Option<String>,
}

/// How `pull` ended.
#[derive(Debug, PartialEq, Eq)]
pub enum PullError {
    /// The daemon answered with an error (exit 1).
    Refused(String),
    /// No daemon could be reached (exit 2).
    Unreachable(String),
    /// Standard output failed (a closed pipe ends the pull quietly).
    Output(std::io::ErrorKind),
}

#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
    next: String,
    more: bool,
}

/// The envelope inside an event of the API's answer: `{"cursor":"X",REST` becomes `{REST`.
fn envelope(event: &str) -> String {
    let rest = event.strip_prefix("{\"cursor\":\"").and_then(|r| r.split_once('"')).map(|(_, rest)| rest);
    match rest {
        Some(rest) => format!("{{{}", rest.strip_prefix(',').unwrap_or(rest)),
        None => event.to_owned(),
    }
}

fn refused(status: u16, body: &str) -> PullError {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned());
    PullError::Refused(format!("{status}: {message}"))
}

/// Pulls until the store has nothing more (or for ever with `follow`); returns the last cursor.
pub async fn pull(socket: &Path, args: &PullArgs, out: &mut impl Write) -> Result<Option<String>, PullError> {
    let sink = &args.sink;
    let mut after = args.after.clone();
    if let (None, Some(consumer)) = (&after, &args.consumer) {
        let (status, body) = client::request(socket, "GET", &format!("/v1/sinks/{sink}/consumers/{consumer}"))
            .await
            .map_err(PullError::Unreachable)?;
        match status {
            200 => {
                after = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("cursor").and_then(|c| c.as_str()).map(str::to_owned));
            }
            // Never committed: from the oldest.
            404 if body.contains("has not committed") => {}
            _ => return Err(refused(status, &body)),
        }
    }
    loop {
        let mut path = format!("/v1/sinks/{sink}/events?limit=1000");
        if let Some(cursor) = &after {
            path.push_str(&format!("&after={cursor}"));
        }
        if args.follow {
            path.push_str("&wait_ms=30000");
        }
        let (status, body) = client::request(socket, "GET", &path).await.map_err(PullError::Unreachable)?;
        if status != 200 {
            return Err(refused(status, &body));
        }
        let page: Page<'_> =
            serde_json::from_str(&body).map_err(|e| PullError::Refused(format!("unexpected answer: {e}")))?;
        for event in &page.events {
            writeln!(out, "{}", envelope(event.get())).map_err(|e| PullError::Output(e.kind()))?;
        }
        out.flush().map_err(|e| PullError::Output(e.kind()))?;
        if let (Some(consumer), false) = (&args.consumer, page.events.is_empty()) {
            let commit = serde_json::json!({ "cursor": page.next }).to_string().into_bytes();
            let (status, body) = client::request_with_body(
                socket,
                "POST",
                &format!("/v1/sinks/{sink}/consumers/{consumer}/commit"),
                commit,
            )
            .await
            .map_err(PullError::Unreachable)?;
            if status != 200 {
                return Err(refused(status, &body));
            }
        }
        after = Some(page.next);
        if !page.more && !args.follow {
            return Ok(after);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::envelope;

    #[test]
    fn the_cursor_member_comes_off_byte_for_byte() {
        let original = r#"{"schema_version":"1","event":"x","id":"a","data":{"n":1.50}}"#;
        let answered = format!("{{\"cursor\":\"3f2a9c0d11e4b7a2.7\",{}", &original[1..]);
        assert_eq!(envelope(&answered), original);
    }
}
