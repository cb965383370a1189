//! `siem-relay ctl`: the control API from the command line, as tables for people or as the
//! API's JSON with `--json`.

use std::path::Path;

use serde_json::Value;

use crate::control::client;

/// One `ctl` command: the request it makes and how its answer is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Health,
    Sinks,
    Status(String),
    Test(String),
    History(String),
    Enable(String),
    Disable(String),
    DeadLetters {
        sink: String,
        replay: bool,
    },
    EventTypes,
    Reload,
    Metrics,
    /// Create a run-time sink from its keys (a JSON object).
    Create {
        sink: String,
        keys: serde_json::Map<String, Value>,
    },
    /// Change keys of a run-time sink (`null` removes one).
    Update {
        sink: String,
        keys: serde_json::Map<String, Value>,
    },
    Delete(String),
}

impl Command {
    fn request(&self) -> (&'static str, String, Vec<u8>) {
        let (method, path) = match self {
            Command::Health => ("GET", "/v1/health".to_owned()),
            Command::Sinks => ("GET", "/v1/sinks".to_owned()),
            Command::Status(name) => ("GET", format!("/v1/sinks/{name}")),
            Command::Test(name) => ("POST", format!("/v1/sinks/{name}/test")),
            Command::History(name) => ("GET", format!("/v1/sinks/{name}/history")),
            Command::Enable(name) => ("POST", format!("/v1/sinks/{name}/enable")),
            Command::Disable(name) => ("POST", format!("/v1/sinks/{name}/disable")),
            Command::DeadLetters { sink, replay: false } => ("GET", format!("/v1/sinks/{sink}/dead-letters")),
            Command::DeadLetters { sink, replay: true } => ("POST", format!("/v1/sinks/{sink}/dead-letters/replay")),
            Command::EventTypes => ("GET", "/v1/event-types".to_owned()),
            Command::Reload => ("POST", "/v1/reload".to_owned()),
            Command::Metrics => ("GET", "/v1/metrics".to_owned()),
            Command::Create { .. } => ("POST", "/v1/sinks".to_owned()),
            Command::Update { sink, .. } => ("PATCH", format!("/v1/sinks/{sink}")),
            Command::Delete(name) => ("DELETE", format!("/v1/sinks/{name}")),
        };
        let body = match self {
            Command::Create { sink, keys } => {
                let mut keys = keys.clone();
                keys.insert("name".to_owned(), Value::String(sink.clone()));
                serde_json::to_vec(&keys).unwrap_or_default()
            }
            Command::Update { keys, .. } => serde_json::to_vec(keys).unwrap_or_default(),
            _ => Vec::new(),
        };
        (method, path, body)
    }
}

/// Runs `command` against the control socket; returns the text to print and whether the
/// daemon answered with success.
pub async fn run(socket: &Path, command: &Command, json: bool) -> Result<(String, bool), String> {
    let (method, path, body) = command.request();
    let (status, body) = client::request_with_body(socket, method, &path, body).await?;
    let ok = (200..300).contains(&status);
    if json || matches!(command, Command::Metrics) {
        return Ok((body, ok));
    }
    let value: Value = serde_json::from_str(&body).map_err(|_| format!("unexpected answer ({status}): {body}"))?;
    if !ok {
        let error = value.get("error").and_then(Value::as_str).unwrap_or(&body);
        return Ok((format!("error ({status}): {error}\n"), false));
    }
    Ok((render(command, &value), true))
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Lays out rows under a header, columns padded to their widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

fn render(command: &Command, value: &Value) -> String {
    match command {
        Command::Sinks => {
            let rows: Vec<Vec<String>> = value
                .as_array()
                .map(|sinks| {
                    sinks
                        .iter()
                        .map(|s| {
                            let c = &s["counters"];
                            let dropped =
                                ["dropped_newest", "dropped_oldest", "dropped_shutdown", "dropped_unsendable"]
                                    .iter()
                                    .map(|k| c[k].as_u64().unwrap_or(0))
                                    .sum::<u64>();
                            vec![
                                text(&s["name"]),
                                text(&s["format"]),
                                text(&s["url"]),
                                text(&s["state"]),
                                text(&s["breaker"]),
                                format!("{}/{}", text(&s["queue"]["events"]), text(&s["queue"]["max_events"])),
                                text(&c["delivered"]),
                                dropped.to_string(),
                                text(&s["last_error"]["error"]),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            table(&["NAME", "FORMAT", "URL", "STATE", "BREAKER", "QUEUE", "DELIVERED", "DROPPED", "LAST ERROR"], &rows)
        }
        Command::History(_) => {
            let rows: Vec<Vec<String>> = value["attempts"]
                .as_array()
                .map(|attempts| {
                    attempts
                        .iter()
                        .map(|a| {
                            vec![
                                text(&a["time"]),
                                text(&a["attempt"]),
                                if a["status"].is_null() { text(&a["error"]) } else { text(&a["status"]) },
                                format!("{} ms", text(&a["latency_ms"])),
                                if a["success"] == true { "ok".to_owned() } else { "failed".to_owned() },
                                if a["test"] == true { "test".to_owned() } else { String::new() },
                                a["event_ids"]
                                    .as_array()
                                    .map(|ids| ids.iter().map(text).collect::<Vec<_>>().join(","))
                                    .unwrap_or_default(),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            table(&["TIME", "ATTEMPT", "STATUS", "LATENCY", "RESULT", "", "EVENTS"], &rows)
        }
        Command::DeadLetters { replay: false, .. } => {
            let rows: Vec<Vec<String>> = value["dead_letters"]
                .as_array()
                .map(|letters| {
                    letters
                        .iter()
                        .map(|l| {
                            let ids =
                                l["event_ids"].as_array().map(|ids| ids.iter().map(text).collect::<Vec<_>>().join(","));
                            vec![text(&l["time"]), text(&l["attempts"]), text(&l["error"]), ids.unwrap_or_default()]
                        })
                        .collect()
                })
                .unwrap_or_default();
            table(&["TIME", "ATTEMPTS", "ERROR", "EVENTS"], &rows)
        }
        Command::DeadLetters { replay: true, .. } => format!("replayed {} event(s)\n", text(&value["replayed"])),
        Command::EventTypes => {
            let rows: Vec<Vec<String>> = value["event_types"]
                .as_array()
                .map(|types| {
                    types
                        .iter()
                        .map(|t| {
                            vec![
                                text(&t["type"]),
                                text(&t["seen"]),
                                if t["configured"] == true { "yes".into() } else { "no".into() },
                                text(&t["description"]),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            table(&["TYPE", "SEEN", "CONFIGURED", "DESCRIPTION"], &rows)
        }
        Command::Test(_) => {
            let a = &value["attempt"];
            let status = if a["status"].is_null() { text(&a["error"]) } else { format!("HTTP {}", text(&a["status"])) };
            format!(
                "test delivery: {} ({status}, {} ms)\n",
                if a["success"] == true { "ok" } else { "failed" },
                text(&a["latency_ms"])
            )
        }
        Command::Reload => {
            let s = &value["summary"];
            let list = |k: &str| {
                s[k].as_array().map(|v| v.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_default()
            };
            format!(
                "reloaded: added [{}], changed [{}], removed [{}], unchanged [{}]\n",
                list("added"),
                list("changed"),
                list("removed"),
                list("unchanged")
            )
        }
        Command::Delete(name) => format!("deleted {name}\n"),
        Command::Status(_)
        | Command::Enable(_)
        | Command::Disable(_)
        | Command::Health
        | Command::Metrics
        | Command::Create { .. }
        | Command::Update { .. } => key_values(value, ""),
    }
}

/// Nested JSON as indented `key: value` lines.
fn key_values(value: &Value, indent: &str) -> String {
    let mut out = String::new();
    if let Value::Object(map) = value {
        for (key, value) in map {
            match value {
                Value::Object(_) => {
                    out.push_str(&format!("{indent}{key}:\n"));
                    out.push_str(&key_values(value, &format!("{indent}  ")));
                }
                other => out.push_str(&format!("{indent}{key}: {}\n", text(other))),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_columns_to_the_widest_cell() {
        let out = table(&["A", "BB"], &[vec!["long cell".into(), "x".into()], vec!["y".into(), "z".into()]]);
        assert_eq!(out, "A          BB\nlong cell  x\ny          z\n");
    }

    #[test]
    fn nested_values_become_indented_lines() {
        let value = serde_json::json!({"name": "a", "queue": {"events": 3}, "breaker": null});
        assert_eq!(key_values(&value, ""), "name: a\nqueue:\n  events: 3\nbreaker: -\n");
    }
}
