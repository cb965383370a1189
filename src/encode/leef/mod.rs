//! IBM QRadar's Log Event Extended Format (LEEF) 1.0 and 2.0, optionally behind a syslog header.
//!
//! ```text
//! [syslog header] LEEF:1.0|Vendor|Product|Version|EventID|key=value<TAB>key=value...
//! [syslog header] LEEF:2.0|Vendor|Product|Version|EventID|DelimiterCharacter|key=value<DELIM>...
//! ```
//! * Vendor, product and version come from the config, validated once (no `|`, no control
//!   character: LEEF defines no escape for them).
//! * EventID is the event type, at most 255 bytes (the guide: "cannot exceed 255 characters"),
//!   cut on a character boundary and counted.
//! * DelimiterCharacter (2.0 only) is the configured one, written as configured (one
//!   character, or its `x`/`0x` hex form); tab, written `x09`, by default. LEEF 1.0 always
//!   separates attributes with a tab.
//! * Attributes: `key=value` from the sink's mapping, each value checked against its key's type
//!   (`typed.rs`). `devTime` carries the event's time with its offset and is followed by its
//!   `devTimeFormat`. `sev` is 1-10.
//! * LEEF has no escape sequences: characters a record cannot carry are replaced by a space and
//!   the message counted as `sanitized`: `|` in EventID, the delimiter in values, and every
//!   control character (line breaks and tabs included). `=` needs nothing: a value runs from
//!   the first `=` after its key to the next delimiter.
//! * Size: with `max_message_bytes`, whole attributes are dropped from the end, then EventID is
//!   cut (`fit.rs`); the header always stays whole.

pub mod dictionary;

use super::fit::{Field, Record};
use super::pairs::{write_pairs, PairStyle};
use super::syslog::SyslogPrefix;
use super::text::{char_boundary, push_text};
use super::typed::{TimeForm, ValueType};
use super::Encoded;
use crate::event::Event;
use crate::timestamp::LEEF_DEVTIME_FORMAT;

/// The guide's limit on EventID.
pub const EVENT_ID_MAX: usize = 255;
/// The longest vendor, product or version accepted in the config (the guide sets none; this is
/// EventID's).
pub const HEADER_FIELD_MAX: usize = 255;

/// Which LEEF version a sink writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeefVersion {
    V1,
    V2,
}

pub use super::pairs::Mapping;

/// What a LEEF sink is built from; the static parts must already be validated.
#[derive(Debug, Clone)]
pub struct LeefSettings<'a> {
    pub version: LeefVersion,
    pub vendor: &'a str,
    pub product: &'a str,
    pub device_version: &'a str,
    /// The attribute delimiter (tab for LEEF 1.0).
    pub delimiter: char,
    /// How the delimiter is written in a LEEF 2.0 header (`x09`, `^`, `0x5E`, ...).
    pub delimiter_field: &'a str,
    pub mapping: Vec<Mapping>,
    pub prefix: SyslogPrefix,
    pub max_bytes: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Leef {
    prefix: SyslogPrefix,
    /// `LEEF:V|vendor|product|version|`, rendered once.
    header_start: Box<[u8]>,
    /// `DELIM|` for LEEF 2.0, empty for 1.0.
    delimiter_field: Box<[u8]>,
    delimiter: char,
    mapping: Box<[Mapping]>,
    max_bytes: Option<usize>,
}

impl Leef {
    pub fn new(settings: LeefSettings<'_>) -> Self {
        let LeefSettings {
            version,
            vendor,
            product,
            device_version,
            delimiter,
            delimiter_field,
            mapping,
            prefix,
            max_bytes,
        } = settings;
        let (version_text, delimiter, delimiter_field) = match version {
            LeefVersion::V1 => ("1.0", '\t', String::new()),
            LeefVersion::V2 => ("2.0", delimiter, format!("{delimiter_field}|")),
        };
        // The guide: devTimeFormat is required with devTime. It is written as part of the
        // devTime pair, so a size limit never drops one without the other.
        let mapping: Vec<Mapping> = mapping
            .into_iter()
            .map(|entry| match entry.value_type {
                ValueType::Time => Mapping {
                    suffix: Some(format!("{delimiter}devTimeFormat={LEEF_DEVTIME_FORMAT}").into_bytes().into()),
                    ..entry
                },
                _ => entry,
            })
            .collect();
        Leef {
            prefix,
            header_start: format!("LEEF:{version_text}|{vendor}|{product}|{device_version}|").into_bytes().into(),
            delimiter_field: delimiter_field.into_bytes().into(),
            delimiter,
            mapping: mapping.into(),
            max_bytes,
        }
    }

    /// The limit records are fitted into, if any.
    pub fn max_bytes(&self) -> Option<usize> {
        self.max_bytes
    }

    /// The least `max_message_bytes` that every event fits in: the longest syslog header, the
    /// static header, one character of EventID (at most 4 bytes) and the delimiter field.
    pub fn min_message_bytes(&self) -> usize {
        self.prefix.longest() + self.header_start.len() + 4 + "|".len() + self.delimiter_field.len()
    }

    pub fn encode(&self, event: &Event, out: &mut Vec<u8>) -> Encoded {
        let start = out.len();
        let mut outcome = Encoded::default();
        self.prefix.write(event, out);
        out.extend_from_slice(&self.header_start);
        let event_id_start = out.len();
        let kind = event.event_type();
        let keep = char_boundary(kind.as_bytes(), EVENT_ID_MAX);
        outcome.truncated |= keep < kind.len();
        let kind = kind.get(..keep).unwrap_or_default();
        outcome.sanitized |=
            push_text(out, kind, |byte| (byte == b'|').then_some(b" ".as_slice())) || kind.contains('|');
        let event_id = event_id_start..out.len();
        out.push(b'|');
        out.extend_from_slice(&self.delimiter_field);

        let pairs_start = out.len();
        let mut separator = [0u8; 4];
        let separator = self.delimiter.encode_utf8(&mut separator).as_bytes();
        let style = PairStyle {
            separator,
            ipv6: true,
            time: TimeForm::Leef,
            push_value: |out: &mut Vec<u8>, text: &str| self.push_value(out, text),
        };
        let cut = write_pairs(event, &self.mapping, &style, out, &mut outcome, |out, pair_ends| {
            let Some(max) = self.max_bytes else { return false };
            let fields = [Field { range: event_id, keep: usize::MAX }];
            super::fit::fit(out, &Record { start, fields: &fields, importance: &[0], pairs_start, pair_ends }, max)
        });
        outcome.truncated |= cut;
        outcome
    }

    /// Appends a value with the delimiter and control characters written as spaces; returns
    /// whether anything was replaced.
    fn push_value(&self, out: &mut Vec<u8>, text: &str) -> bool {
        let has_delimiter = text.contains(self.delimiter);
        if self.delimiter.is_ascii() {
            let delimiter = self.delimiter as u8;
            return push_text(out, text, |byte| (byte == delimiter).then_some(b" ".as_slice())) || has_delimiter;
        }
        if has_delimiter {
            let _ = push_text(out, &text.replace(self.delimiter, " "), |_| None);
            return true;
        }
        push_text(out, text, |_| None)
    }
}

/// Reads a `leef_delimiter` setting: one character, or `x`/`0x` and 1-4 hex digits (the
/// guide's two forms). Returns the character, or why it cannot be used.
pub fn parse_delimiter(text: &str) -> Result<char, String> {
    let mut chars = text.chars();
    let delimiter = match (chars.next(), chars.next()) {
        (Some(c), None) => c,
        _ => {
            let hex = text
                .strip_prefix("0x")
                .or_else(|| text.strip_prefix('x'))
                .ok_or_else(|| format!("expected one character or its hex form (x5E, 0x5E), found {text:?}"))?;
            if hex.is_empty() || hex.len() > 4 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("expected 1-4 hex digits after the x, found {text:?}"));
            }
            u32::from_str_radix(hex, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| format!("{text:?} is not a character"))?
        }
    };
    // A delimiter that can occur in keys, in `key=`, in the header, or that receivers rewrite
    // would make records ambiguous.
    if delimiter.is_alphanumeric()
        || matches!(delimiter, '=' | '|' | ' ')
        || (delimiter.is_control() && delimiter != '\t')
    {
        return Err(format!(
            "{text:?} cannot separate attributes: letters, digits, '=', '|', space and control characters other than tab can appear in keys, values or the header"
        ));
    }
    Ok(delimiter)
}

#[cfg(test)]
mod tests;
