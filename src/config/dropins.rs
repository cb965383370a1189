//! Run-time sinks: one drop-in file per sink (`NAME.toml`, the sink's keys at top level) in
//! `control.sinks_dir`. The control API creates, changes and removes them; the daemon loads
//! them after the main configuration, validated exactly like it. Sinks of the main file are
//! never changed this way.

use std::path::{Path, PathBuf};

use super::ConfigError;

/// The main configuration merged with its drop-ins, ready to build.
#[derive(Debug)]
pub struct Merged {
    pub text: String,
    /// Names of the sinks that come from drop-ins, with their files.
    pub dropins: Vec<(String, PathBuf)>,
    pub sinks_dir: Option<PathBuf>,
}

fn error(origin: &str, key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { origin: origin.to_owned(), line: None, key: key.to_owned(), message: message.into() }
}

/// Reads `control.sinks_dir` of the main text and adds every drop-in's sink to it.
pub fn merge(text: &str, origin: &str, base_dir: Option<&Path>) -> Result<Merged, ConfigError> {
    let Ok(mut table) = toml::from_str::<toml::Table>(text) else {
        // Not TOML: the full parse reports it with its line.
        return Ok(Merged { text: text.to_owned(), dropins: Vec::new(), sinks_dir: None });
    };
    let dir = table.get("control").and_then(|c| c.get("sinks_dir")).and_then(toml::Value::as_str).map(PathBuf::from);
    let Some(dir) = dir else {
        return Ok(Merged { text: text.to_owned(), dropins: Vec::new(), sinks_dir: None });
    };
    let dir = match base_dir {
        Some(base) if dir.is_relative() => base.join(dir),
        _ => dir,
    };
    let mut dropins = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        // A missing directory has no drop-ins yet; the API creates it.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Merged { text: text.to_owned(), dropins, sinks_dir: Some(dir) })
        }
        Err(e) => return Err(error(origin, "control.sinks_dir", format!("cannot read {}: {e}", dir.display()))),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    let sinks = table.entry("sinks").or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(sinks) = sinks.as_table_mut() else {
        return Ok(Merged { text: text.to_owned(), dropins, sinks_dir: Some(dir) });
    };
    for path in paths {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let file_origin = path.display().to_string();
        let content = std::fs::read_to_string(&path)
            .map_err(|e| error(&file_origin, "", format!("cannot read the file: {e}")))?;
        let sink: toml::Table =
            toml::from_str(&content).map_err(|e| error(&file_origin, "", e.message().to_owned()))?;
        if sinks.contains_key(&name) {
            return Err(error(
                &file_origin,
                &format!("sinks.{name}"),
                format!("a sink named {name:?} is already in {origin}"),
            ));
        }
        sinks.insert(name.clone(), toml::Value::Table(sink));
        dropins.push((name, path));
    }
    let text = toml::to_string(&table).map_err(|e| error(origin, "", e.to_string()))?;
    Ok(Merged { text, dropins, sinks_dir: Some(dir) })
}

/// Where an error in the merged configuration comes from: a drop-in's file when its key is
/// under that drop-in's sink.
pub fn locate(mut error: ConfigError, dropins: &[(String, PathBuf)]) -> ConfigError {
    for (name, path) in dropins {
        let prefix = format!("sinks.{name}");
        if error.key == prefix
            || error.key.starts_with(&format!("{prefix}."))
            || error.key.starts_with(&format!("{prefix}["))
        {
            error.origin = path.display().to_string();
        }
    }
    // The merged text is not what anyone wrote: its line numbers would mislead.
    if !dropins.is_empty() {
        error.line = None;
    }
    error
}

/// Writes a drop-in atomically and owner-only (0600): drop-ins hold webhook URLs, secrets and
/// tokens in clear.
pub fn write(dir: &Path, name: &str, sink: &toml::Table) -> std::io::Result<()> {
    // Created owner-only too: not even the names of the run-time sinks are others' business.
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700).create(dir)?;
    let text = toml::to_string(sink).map_err(std::io::Error::other)?;
    let text = format!("# Managed by siem-relay's control API; changes here are kept.\n{text}");
    crate::private_file::write_atomic(&dir.join(format!("{name}.toml")), text.as_bytes())
}

/// Makes every drop-in in `dir` owner-only (files written by older versions, or by hand, may
/// be readable by the service's group); returns each file repaired with the mode it had.
pub fn restrict_modes(dir: &Path) -> std::io::Result<Vec<(PathBuf, u32)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut repaired = Vec::new();
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            if let Some(mode) = crate::private_file::restrict(&path)? {
                repaired.push((path, mode));
            }
        }
    }
    repaired.sort();
    Ok(repaired)
}

/// Reads a drop-in's table.
pub fn read(dir: &Path, name: &str) -> std::io::Result<toml::Table> {
    let text = std::fs::read_to_string(dir.join(format!("{name}.toml")))?;
    toml::from_str(&text).map_err(std::io::Error::other)
}

pub fn remove(dir: &Path, name: &str) -> std::io::Result<()> {
    std::fs::remove_file(dir.join(format!("{name}.toml")))
}
