//! Run-time sinks through the control API: create, partially update and delete, persisted as
//! drop-in files and applied by a reload. A change the new configuration refuses is undone, so
//! the files on disk always load.

use serde_json::{json, Value};

use super::api::{sink_status, Answer, ControlState};
use crate::config::dropins;

/// The drop-in directory, or the answer saying run-time sinks are off.
fn sinks_dir(state: &ControlState) -> Result<&std::path::Path, Answer> {
    state
        .sinks_dir
        .as_deref()
        .ok_or_else(|| Answer::error(409, "run-time sinks are off: set control.sinks_dir in the configuration"))
}

fn to_table(value: Value) -> Result<toml::Table, Answer> {
    serde::Deserialize::deserialize(value).map_err(|e: serde_json::Error| {
        Answer::error(400, format!("the sink's keys must be TOML values (no null inside): {e}"))
    })
}

/// Writes the drop-in (or removes it for `None`), reloads, and undoes the change if the
/// reload refuses it.
async fn apply(
    state: &ControlState,
    dir: &std::path::Path,
    name: &str,
    new: Option<&toml::Table>,
    old: Option<&toml::Table>,
) -> Result<(), Answer> {
    let written = match new {
        Some(table) => dropins::write(dir, name, table),
        None => dropins::remove(dir, name),
    };
    written.map_err(|e| Answer::error(500, format!("cannot write the drop-in in {}: {e}", dir.display())))?;
    match state.handles.reload().await {
        Ok(_) => Ok(()),
        Err(error) => {
            // Put the files back as they were: the running configuration never changed.
            let _ = match old {
                Some(table) => dropins::write(dir, name, table),
                None => dropins::remove(dir, name),
            };
            Err(Answer::json(422, json!({ "error": error, "field": field_named(&error, name) })))
        }
    }
}

/// The sink key a refused change is about, so that a form can show the error beside its field:
/// from the error's key path (`sinks.NAME.retry_count` gives `retry_count`, `sinks.NAME.tls.ca_file`
/// gives `tls.ca_file`), or the unknown field it names.
fn field_named(error: &str, name: &str) -> Option<String> {
    let prefix = format!("sinks.{name}.");
    if let Some(start) = error.find(&prefix) {
        let rest = &error[start + prefix.len()..];
        let end = rest.find([':', ' ']).unwrap_or(rest.len());
        return Some(rest[..end].to_owned()).filter(|field| !field.is_empty());
    }
    let rest = &error[error.find("unknown field `")? + "unknown field `".len()..];
    Some(rest[..rest.find('`')?].to_owned())
}

async fn status_of(state: &ControlState, name: &str) -> Value {
    state.handles.pipeline.sinks().await.iter().find(|s| s.config.name == name).map(sink_status).unwrap_or(Value::Null)
}

pub async fn create(state: &ControlState, body: &[u8]) -> Answer {
    let _one_at_a_time = state.changes.lock().await;
    let dir = match sinks_dir(state) {
        Ok(dir) => dir,
        Err(answer) => return answer,
    };
    let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(body) else {
        return Answer::error(
            400,
            "expected a JSON object: {\"name\": \"...\", \"format\": \"...\", \"url\": \"...\", ...}",
        );
    };
    let name = match fields.remove("name") {
        Some(Value::String(name))
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            name
        }
        _ => return Answer::error(400, "expected \"name\": a sink name of letters, digits, '_' and '-'"),
    };
    let sinks = state.handles.pipeline.sinks().await;
    if sinks.iter().any(|s| s.config.name == name) {
        return Answer::error(409, format!("a sink named {name:?} exists already"));
    }
    if sinks.len() >= state.max_sinks {
        return Answer::error(409, format!("control.max_sinks ({}) sinks exist already", state.max_sinks));
    }
    let table = match to_table(Value::Object(fields)) {
        Ok(table) => table,
        Err(answer) => return answer,
    };
    match apply(state, dir, &name, Some(&table), None).await {
        Ok(()) => Answer::json(201, status_of(state, &name).await),
        Err(answer) => answer,
    }
}

/// The drop-in of a run-time sink, or why there is none to change.
async fn existing(state: &ControlState, name: &str) -> Result<(std::path::PathBuf, toml::Table), Answer> {
    let dir = sinks_dir(state)?.to_owned();
    let Some(config) = state.handles.pipeline.sink_config(name).await else {
        return Err(Answer::error(404, format!("no sink named {name:?}")));
    };
    if !config.dynamic {
        return Err(Answer::error(
            409,
            format!("sink {name:?} is defined in the main configuration: it is read-only through the API"),
        ));
    }
    let table = dropins::read(&dir, name)
        .map_err(|e| Answer::error(500, format!("cannot read the drop-in of {name:?}: {e}")))?;
    Ok((dir, table))
}

/// A run-time sink's keys as its drop-in holds them, for an edit form: secrets (`secret`,
/// `token`, header values) read `"<set>"`, and a webhook URL shows only its scheme and host
/// (its path may be the credential).
pub async fn keys(state: &ControlState, name: &str) -> Answer {
    let (_, mut table) = match existing(state, name).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    crate::config::effective::redact_sink(&mut table, SET);
    let mut keys = match serde_json::to_value(&table) {
        Ok(Value::Object(keys)) => keys,
        _ => return Answer::error(500, format!("the drop-in of {name:?} cannot be shown as JSON")),
    };
    if let Some(config) = state.handles.pipeline.sink_config(name).await {
        if let crate::transport::Endpoint::Http(_) = config.endpoint {
            keys.insert("url".to_owned(), json!(config.endpoint.to_string()));
        }
    }
    Answer::json(200, json!({ "name": name, "keys": keys }))
}

/// What a secret reads as when shown back.
const SET: &str = "<set>";

pub async fn update(state: &ControlState, name: &str, body: &[u8]) -> Answer {
    let _one_at_a_time = state.changes.lock().await;
    let (dir, old) = match existing(state, name).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Value::Object(changes)) = serde_json::from_slice::<Value>(body) else {
        return Answer::error(400, "expected a JSON object of keys to change (null removes a key)");
    };
    if changes.contains_key("name") {
        return Answer::error(400, "a sink cannot be renamed: create a new one and delete this one");
    }
    let mut table = old.clone();
    for (key, value) in changes {
        if value.is_null() {
            table.remove(&key);
            continue;
        }
        let mut one = serde_json::Map::new();
        one.insert(key.clone(), value);
        match to_table(Value::Object(one)) {
            Ok(mut converted) => {
                if let Some(value) = converted.remove(&key) {
                    table.insert(key, value);
                }
            }
            Err(answer) => return answer,
        }
    }
    match apply(state, &dir, name, Some(&table), Some(&old)).await {
        Ok(()) => Answer::json(200, status_of(state, name).await),
        Err(answer) => answer,
    }
}

pub async fn delete(state: &ControlState, name: &str) -> Answer {
    let _one_at_a_time = state.changes.lock().await;
    let (dir, old) = match existing(state, name).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    match apply(state, &dir, name, None, Some(&old)).await {
        Ok(()) => Answer::json(200, json!({ "deleted": name })),
        Err(answer) => answer,
    }
}

#[cfg(test)]
mod tests {
    use super::field_named;

    #[test]
    fn refusals_name_the_field_they_are_about() {
        let named = |error: &str| field_named(error, "hook");
        assert_eq!(
            named("/x/sinks.d/hook.toml: sinks.hook.retry_count: expected 0 to 10").as_deref(),
            Some("retry_count")
        );
        assert_eq!(named("/x: sinks.hook.tls.ca_file: cannot read").as_deref(), Some("tls.ca_file"));
        assert_eq!(named("/x: sinks.hook: unknown field `colour`, expected one of ...").as_deref(), Some("colour"));
        assert_eq!(named("/x: something else entirely"), None);
    }
}
