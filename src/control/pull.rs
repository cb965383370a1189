//! Pull mode's endpoints: events of a `url = "store"` sink by cursor (with long-polling) and by
//! id, and named consumers' commits.
//!
//! Events are answered as the json webhook envelope, byte for byte, with the event's `cursor`
//! added as the first member: `{"cursor":"...","schema_version":...}`. Removing that member
//! gives back exactly what a json webhook would have received.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::api::{Answer, ControlState};
use crate::store::{consumers, Cursor, ReadError, Store};

/// Most events one read returns.
pub const MAX_LIMIT: usize = 1000;
/// Longest long-poll.
pub const MAX_WAIT_MS: u64 = 30_000;
/// Events per read when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;

/// The store of sink `name`, or the answer saying why there is none.
async fn store_of(state: &ControlState, name: &str) -> Result<Arc<Store>, Answer> {
    let sinks = state.handles.pipeline.sinks().await;
    let Some(sink) = sinks.iter().find(|s| s.config.name == name) else {
        return Err(Answer::error(404, format!("no sink named {name:?}")));
    };
    sink.route.store.clone().ok_or_else(|| {
        Answer::error(
            409,
            format!(
                "sink {name:?} is a {} sink: pulling applies to url = \"store\" sinks only",
                sink.config.endpoint.kind()
            ),
        )
    })
}

/// `name=value` pairs of a query string (no percent-decoding is needed: every value here is a
/// cursor or a number).
fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').filter_map(|pair| pair.split_once('=')).find(|(key, _)| *key == name).map(|(_, value)| value)
}

fn number(query: &str, name: &str, most: u64) -> Result<Option<u64>, Answer> {
    match query_value(query, name) {
        None => Ok(None),
        Some(text) => match text.parse::<u64>() {
            Ok(n) if n <= most => Ok(Some(n)),
            _ => Err(Answer::error(400, format!("{name} must be a whole number from 0 to {most}, found {text:?}"))),
        },
    }
}

/// A path segment with its `%XX` escapes decoded (event ids are the producers' strings); an
/// invalid escape stays as written.
fn percent_decoded(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let hex = bytes
            .get(at + 1..at + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[at], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                at += 3;
            }
            (byte, _) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An envelope with its cursor as the first member.
fn with_cursor(cursor: Cursor, envelope: &[u8], out: &mut String) {
    let text = String::from_utf8_lossy(envelope);
    let members = text.strip_prefix('{').unwrap_or(&text);
    out.push_str("{\"cursor\":\"");
    out.push_str(&cursor.to_string());
    out.push('"');
    if !members.trim_start().starts_with('}') {
        out.push(',');
    }
    out.push_str(members);
}

fn read_error(store: &Store, error: ReadError) -> Answer {
    match error {
        ReadError::Invalid(why) => Answer::json(400, json!({ "error": why, "oldest": store.oldest().to_string() })),
        ReadError::Expired { oldest } => Answer::json(
            410,
            json!({
                "error": format!("the cursor is older than the store's retention: events after it were removed; the oldest cursor still available is {oldest}"),
                "oldest": oldest.to_string(),
            }),
        ),
    }
}

/// `GET /v1/sinks/NAME/events?after=CURSOR&limit=N&wait_ms=MS`.
pub async fn events(state: &ControlState, name: &str, query: &str) -> Answer {
    let store = match store_of(state, name).await {
        Ok(store) => store,
        Err(answer) => return answer,
    };
    let after = match query_value(query, "after").filter(|text| !text.is_empty()).map(Cursor::parse).transpose() {
        Ok(after) => after,
        Err(why) => return Answer::json(400, json!({ "error": why, "oldest": store.oldest().to_string() })),
    };
    let (limit, wait_ms) = match (number(query, "limit", MAX_LIMIT as u64), number(query, "wait_ms", MAX_WAIT_MS)) {
        (Ok(limit), Ok(wait)) => (limit.map_or(DEFAULT_LIMIT, |n| n.max(1) as usize), wait.unwrap_or(0)),
        (Err(answer), _) | (_, Err(answer)) => return answer,
    };
    let page = match store.read_waiting(after, limit, Duration::from_millis(wait_ms)).await {
        Ok(page) => page,
        Err(error) => return read_error(&store, error),
    };
    let mut body = String::from("{\"events\":[");
    for (index, (cursor, envelope)) in page.events.iter().enumerate() {
        if index > 0 {
            body.push(',');
        }
        with_cursor(*cursor, envelope, &mut body);
    }
    body.push_str(&format!("],\"next\":\"{}\",\"more\":{}}}\n", page.next, page.more));
    Answer { status: 200, content_type: "application/json", body }
}

/// `GET /v1/sinks/NAME/events/ID`.
pub async fn event(state: &ControlState, name: &str, id: &str) -> Answer {
    let store = match store_of(state, name).await {
        Ok(store) => store,
        Err(answer) => return answer,
    };
    let id = percent_decoded(id);
    let lookup = store.clone();
    let found = {
        let id = id.clone();
        tokio::task::spawn_blocking(move || lookup.get(&id)).await.ok().flatten()
    };
    match found {
        Some((cursor, envelope)) => {
            let mut body = String::new();
            with_cursor(cursor, &envelope, &mut body);
            body.push('\n');
            Answer { status: 200, content_type: "application/json", body }
        }
        None => Answer::json(
            404,
            json!({
                "error": format!("no event with id {id:?} in the store of {name:?}: it never came, or retention removed it"),
                "oldest": store.oldest().to_string(),
            }),
        ),
    }
}

/// `GET /v1/sinks/NAME/consumers/C`.
pub async fn consumer(state: &ControlState, name: &str, consumer: &str) -> Answer {
    let store = match store_of(state, name).await {
        Ok(store) => store,
        Err(answer) => return answer,
    };
    match store.consumers.get(consumer) {
        Some(commit) => Answer::json(
            200,
            json!({ "consumer": consumer, "cursor": commit.cursor, "committed_at": commit.committed_at }),
        ),
        None => Answer::json(
            404,
            json!({
                "error": format!("consumer {consumer:?} has not committed yet: start from the oldest cursor"),
                "oldest": store.oldest().to_string(),
            }),
        ),
    }
}

/// `POST /v1/sinks/NAME/consumers/C/commit` with `{"cursor": "..."}`.
pub async fn commit(state: &ControlState, name: &str, consumer: &str, body: &[u8]) -> Answer {
    let store = match store_of(state, name).await {
        Ok(store) => store,
        Err(answer) => return answer,
    };
    if !consumers::valid_name(consumer) {
        return Answer::error(400, "a consumer name is 1 to 64 letters, digits, '_', '-' or '.'");
    }
    let cursor = match serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("cursor").and_then(Value::as_str).map(str::to_owned))
    {
        Some(text) => match Cursor::parse(&text) {
            Ok(cursor) => cursor,
            Err(why) => return Answer::json(400, json!({ "error": why, "oldest": store.oldest().to_string() })),
        },
        None => return Answer::error(400, "expected {\"cursor\": \"...\"}: the cursor of the last event processed"),
    };
    if let Err(why) = store.check_cursor(cursor) {
        return Answer::json(400, json!({ "error": why, "oldest": store.oldest().to_string() }));
    }
    let (store_for_write, consumer_name) = (store.clone(), consumer.to_owned());
    let written =
        tokio::task::spawn_blocking(move || store_for_write.consumers.commit(&consumer_name, &cursor.to_string()))
            .await;
    match written {
        Ok(Ok(commit)) => Answer::json(
            200,
            json!({ "consumer": consumer, "cursor": commit.cursor, "committed_at": commit.committed_at }),
        ),
        Ok(Err(error)) => Answer::error(500, format!("cannot write the commit in {}: {error}", store.dir().display())),
        Err(error) => Answer::error(500, format!("the commit failed: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::{percent_decoded, with_cursor};
    use crate::store::Cursor;

    #[test]
    fn ids_in_paths_are_percent_decoded_and_bad_escapes_kept() {
        assert_eq!(percent_decoded("f-1"), "f-1");
        assert_eq!(percent_decoded("a%20b%2Fc%3F"), "a b/c?");
        assert_eq!(percent_decoded("caf%C3%A9"), "café");
        assert_eq!(percent_decoded("100%"), "100%");
        assert_eq!(percent_decoded("%zz%4"), "%zz%4");
    }

    #[test]
    fn the_cursor_goes_first_and_the_envelope_follows_byte_for_byte() {
        let mut out = String::new();
        with_cursor(Cursor { store: 1, seq: 2 }, br#"{"id":"a","n":1.50}"#, &mut out);
        assert_eq!(out, r#"{"cursor":"0000000000000001.2","id":"a","n":1.50}"#);
        out.clear();
        with_cursor(Cursor { store: 1, seq: 2 }, b"{}", &mut out);
        assert_eq!(out, r#"{"cursor":"0000000000000001.2"}"#);
    }
}
