//! Independent CEF parsers (not written by us) for checking the CEF encoder.
//!
//! Include it from an integration test with
//!
//! ```ignore
//! #[path = "support/cef_parsers.rs"]
//! mod cef_parsers;
//! ```
//!
//! It runs `tests/interop/cef_parse.py` with the venv's Python
//! (`target/interop/cef-venv/bin/python`), which parses every line with each of:
//!
//! * `cefp` — PyPI package cefp 0.0.2 (pure Python). Correct unescaping of `\|` `\\` in
//!   the header and `\=` `\\` `\n` `\r` in extension values, but lenient: it accepts invalid
//!   escapes (`\|` in the extension, `\=` in the header, `\t`, ...) by dropping the backslash,
//!   so it cannot catch over-escaping; and an unescaped `=` in a value silently shifts keys.
//! * `lognorm` — liblognorm 2.0.6's `lognormalizer` with the rule `%cef:cef%` (Debian
//!   liblognorm-utils). Same unescaping, and strict: it rejects any other escape, `\|` in the
//!   extension, unescaped `=` in values, extension keys outside `[A-Za-z0-9_.]` and versions
//!   other than `CEF:0`. Bug of 2.0.6: it rejects a record whose LAST extension value is empty
//!   (`... dpt=`); see [`ParsedCef::is_known_lognorm_limitation`]. (Its other bug, eating the
//!   first character of the extension, is worked around by the script.)
//!
//! Both are installed by `tests/interop/provision.sh`. A syslog header in front of the record
//! (RFC 5424 or RFC 3164) is removed by the script, not by the parsers, and reported as
//! [`ParsedCef::syslog_prefix`].
//!
//! Usage:
//!
//! ```ignore
//! cef_parsers::ensure_available(); // panics if it cannot be had
//! let parsed = cef_parsers::parse_with_independent_parsers(&lines).expect("CEF parsers ran");
//! for p in &parsed {
//!     let diffs = p.differences(&expected[p.line]);
//!     assert!(diffs.is_empty(), "{} on line {}: {diffs:?}", p.parser, p.line);
//! }
//! ```
//!
//! Only `std` and `serde_json` are used.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::Stdio;

use serde_json::Value;

use super::provision::VenvScript;

/// The parsers the script runs by default, in the order it reports them for each line.
pub const PARSERS: [&str; 2] = ["cefp", "lognorm"];

/// What one parser made of one input line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedCef {
    /// Index of the input line (into the slice given to the parse function).
    pub line: usize,
    /// `"cefp"` or `"lognorm"`.
    pub parser: String,
    /// Whether the parser accepted the record. When false, [`ParsedCef::error`] says why and
    /// the fields below are `None` / empty.
    pub ok: bool,
    pub error: Option<String>,
    /// The syslog header the script removed before the record (`""` if none). `None` if the
    /// line could not be split (then `ok` is false).
    pub syslog_prefix: Option<String>,
    /// CEF version (`"0"` for lognorm, which accepts only `CEF:0`).
    pub version: Option<String>,
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub device_version: Option<String>,
    /// Device Event Class ID (lognorm calls it SignatureID).
    pub class_id: Option<String>,
    pub name: Option<String>,
    pub severity: Option<String>,
    /// Extension pairs, unescaped, in the order the parser reported them (with serde_json's
    /// `preserve_order`, as in this crate; sorted by key otherwise). A repeated key appears
    /// once, with its last value, in both parsers.
    pub extension: Vec<(String, String)>,
}

/// The record a line is expected to parse to: fields unescaped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpectedCef {
    pub version: String,
    pub vendor: String,
    pub product: String,
    pub device_version: String,
    pub class_id: String,
    pub name: String,
    pub severity: String,
    /// Compared as a map (order is not compared); a key repeated here keeps its last value.
    pub extension: Vec<(String, String)>,
}

impl ParsedCef {
    /// The value of extension key `key`, if present.
    pub fn ext(&self, key: &str) -> Option<&str> {
        self.extension.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The extension as a map.
    pub fn extension_map(&self) -> BTreeMap<String, String> {
        self.extension.iter().cloned().collect()
    }

    /// A failure that is a known limitation of the parser rather than a fault of the record:
    /// liblognorm 2.0.6 rejects a record whose last extension value is empty (`... key=`),
    /// which is valid CEF (fixed upstream after 2.0.6, liblognorm PR #351).
    pub fn is_known_lognorm_limitation(&self) -> bool {
        !self.ok
            && self.parser == "lognorm"
            && self.error.as_deref().is_some_and(|e| e.contains("empty LAST extension value"))
    }

    /// Human-readable differences from `expected` (empty when it matches, or when the
    /// failure [`is_known_lognorm_limitation`](ParsedCef::is_known_lognorm_limitation)).
    pub fn differences(&self, expected: &ExpectedCef) -> Vec<String> {
        if self.is_known_lognorm_limitation() {
            return Vec::new();
        }
        if !self.ok {
            return vec![format!("not parsed: {}", self.error.as_deref().unwrap_or("?"))];
        }
        let mut diffs = Vec::new();
        let fields: [(&str, &Option<String>, &str); 7] = [
            ("version", &self.version, &expected.version),
            ("vendor", &self.vendor, &expected.vendor),
            ("product", &self.product, &expected.product),
            ("device_version", &self.device_version, &expected.device_version),
            ("class_id", &self.class_id, &expected.class_id),
            ("name", &self.name, &expected.name),
            ("severity", &self.severity, &expected.severity),
        ];
        for (field, got, want) in fields {
            if got.as_deref() != Some(want) {
                diffs.push(format!("{field}: got {got:?}, expected {want:?}"));
            }
        }
        let got = self.extension_map();
        let want: BTreeMap<String, String> = expected.extension.iter().cloned().collect();
        for (k, v) in &want {
            match got.get(k) {
                None => diffs.push(format!("extension {k:?}: missing, expected {v:?}")),
                Some(g) if g != v => diffs.push(format!("extension {k:?}: got {g:?}, expected {v:?}")),
                Some(_) => {}
            }
        }
        for (k, g) in &got {
            if !want.contains_key(k) {
                diffs.push(format!("extension {k:?}: unexpected, value {g:?}"));
            }
        }
        diffs
    }
}

/// `tests/interop/cef_parse.py`, with the interop venv's interpreter (`SIEM_RELAY_CEF_PYTHON` overrides it).
const SCRIPT: VenvScript =
    VenvScript { script: "tests/interop/cef_parse.py", python_override: "SIEM_RELAY_CEF_PYTHON" };

/// Why it cannot run now (`None` when it can): the script's own `--check`, which checks
/// cefp and lognormalizer alike.
pub fn missing() -> Option<String> {
    SCRIPT.missing()
}

/// Whether both independent parsers can run now (no provisioning is attempted).
pub fn available() -> bool {
    missing().is_none()
}

/// Makes sure the parsers can run: runs `tests/interop/provision.sh` once per process if
/// not; panics if still not (tests that need it carry `cfg_attr(interop_unavailable, ignore)`).
pub fn ensure_available() {
    super::provision::ensure("independent CEF parsers", missing)
}

// ----------------------------------------------------------------------- parsing ---

/// Parses every line (a CEF record, optionally behind an RFC 5424 / RFC 3164 header) with
/// every parser in [`PARSERS`]. Returns one [`ParsedCef`] per line and parser, ordered by
/// line, then parser. A record a parser rejects is an `ok: false` entry, not an `Err`;
/// `Err` means the parsers could not be run (see [`ensure_available`]) or misbehaved.
pub fn parse_with_independent_parsers(lines: &[String]) -> Result<Vec<ParsedCef>, String> {
    parse_with(&PARSERS, lines, true)
}

/// [`parse_with_independent_parsers`] with a choice of parsers, and `strip_syslog = false`
/// to hand each line to the parsers unchanged.
pub fn parse_with(parsers: &[&str], lines: &[String], strip_syslog: bool) -> Result<Vec<ParsedCef>, String> {
    if parsers.is_empty() {
        return Err("no parser selected".to_string());
    }
    if let Some(i) = lines.iter().position(|l| l.contains('\n')) {
        return Err(format!("line {i} contains a raw LF; a CEF record is one line: {:?}", lines[i]));
    }
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    let mut cmd = SCRIPT.command();
    cmd.arg(format!("--parsers={}", parsers.join(",")));
    if !strip_syslog {
        cmd.arg("--no-strip");
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| SCRIPT.cannot_run(e))?;
    let mut input = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in lines {
        input.push_str(l);
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Written from a thread: the script's output can fill the pipe before it has read all input.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().map_err(|e| format!("waiting for cef_parse.py: {e}"))?;
    let written = writer.join().map_err(|_| "stdin writer panicked".to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("cef_parse.py failed ({}): {}", out.status, stderr.trim()));
    }
    written.map_err(|e| format!("writing to cef_parse.py: {e}"))?;
    let stdout = String::from_utf8(out.stdout).map_err(|e| format!("cef_parse.py printed invalid UTF-8: {e}"))?;
    let results = stdout.lines().map(parse_result_line).collect::<Result<Vec<_>, _>>()?;
    if results.len() != lines.len() * parsers.len() {
        return Err(format!(
            "cef_parse.py printed {} results for {} lines x {} parsers; stderr: {}",
            results.len(),
            lines.len(),
            parsers.len(),
            stderr.trim()
        ));
    }
    for (i, r) in results.iter().enumerate() {
        let (line, parser) = (i / parsers.len(), parsers[i % parsers.len()]);
        if r.line != line || r.parser != parser {
            return Err(format!(
                "cef_parse.py result {i} is for line {} / {}, expected {line} / {parser}",
                r.line, r.parser
            ));
        }
    }
    Ok(results)
}

/// Parses one line with every parser in [`PARSERS`] (syslog header removed).
pub fn parse_one(line: &str) -> Result<Vec<ParsedCef>, String> {
    parse_with_independent_parsers(&[line.to_string()])
}

fn parse_result_line(text: &str) -> Result<ParsedCef, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("cef_parse.py printed bad JSON ({e}): {text}"))?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let extension = match v.get("extension") {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, val)| match val.as_str() {
                Some(s) => Ok((k.clone(), s.to_string())),
                None => Err(format!("extension {k:?} is not a string in: {text}")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => return Err(format!("extension is not an object ({other}) in: {text}")),
    };
    Ok(ParsedCef {
        line: v.get("line").and_then(Value::as_u64).ok_or_else(|| format!("no line number in: {text}"))? as usize,
        parser: s("parser").ok_or_else(|| format!("no parser name in: {text}"))?,
        ok: v.get("ok").and_then(Value::as_bool).ok_or_else(|| format!("no ok flag in: {text}"))?,
        error: s("error"),
        syslog_prefix: s("syslog_prefix"),
        version: s("version"),
        vendor: s("vendor"),
        product: s("product"),
        device_version: s("device_version"),
        class_id: s("class_id"),
        name: s("name"),
        severity: s("severity"),
        extension,
    })
}
