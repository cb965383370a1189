//! ArcSight Common Event Format (CEF), optionally behind a syslog header.
//!
//! ```text
//! [syslog header] CEF:Version|Device Vendor|Device Product|Device Version|Device Event Class ID|Name|Severity|Extension
//! ```
//! * Vendor, product and version come from the config and are validated and escaped once.
//! * Device Event Class ID is the event type (at most 1023 bytes), Name its title or, without
//!   one (or with an empty one), its type (at most 512 bytes); both are cut on a character
//!   boundary and counted.
//! * Severity is the event's 0-10 score, or its band name (`Low`, `Medium`, `High`,
//!   `Very-High`) with `cef_severity = "name"`.
//! * Extension: `key=value` pairs from the sink's mapping table, each value checked against its
//!   key's type in the dictionary. A value of the wrong type is left out of the record and
//!   counted (`invalid_fields`); an over-long string is cut on a character boundary and counted
//!   (`truncated`).
//! * Escaping per `escape.rs`; no raw control character (CR and LF included) can appear
//!   anywhere in a record.
//! * Size: with `max_message_bytes`, the record is fitted (`encode/fit.rs`): Name is shortened,
//!   then whole extension pairs are dropped from the end; all seven header fields always stay.

pub mod dictionary;
pub mod escape;

use std::io::Write as _;
use std::ops::Range;

use self::escape::{push_header, push_value};
use super::fit::{Field, Record};
use super::pairs::{write_pairs, PairStyle};
pub use super::syslog::SyslogPrefix;
use super::text::char_boundary;
use super::typed::{TimeForm, ValueType};
use super::Encoded;
use crate::event::Event;

/// Header field limits from the CEF standard.
pub const VENDOR_MAX: usize = 63;
pub const PRODUCT_MAX: usize = 63;
pub const DEVICE_VERSION_MAX: usize = 31;
pub const CLASS_ID_MAX: usize = 1023;
pub const NAME_MAX: usize = 512;

/// How the Severity header field is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeverityForm {
    /// 0-10.
    Number,
    /// `Low` (0-3), `Medium` (4-6), `High` (7-8), `Very-High` (9-10).
    Name,
}

pub use super::pairs::Mapping;

impl Mapping {
    /// A CEF mapping for `key`; `label` (for keys that have a label key) is escaped here, once,
    /// and written after the value.
    pub fn new(key: &str, path: &str, value_type: ValueType, label: Option<(&str, &str)>) -> Self {
        let suffix = label.map(|(label_key, text)| {
            let mut rendered = format!(" {label_key}=").into_bytes();
            let _ = push_value(&mut rendered, text);
            rendered.into_boxed_slice()
        });
        Mapping { suffix, ..Mapping::plain(key, path, value_type) }
    }
}

/// What a CEF sink is built from; the static parts must already be validated.
#[derive(Debug, Clone)]
pub struct CefSettings<'a> {
    /// 0 or 1.
    pub version: u8,
    pub vendor: &'a str,
    pub product: &'a str,
    pub device_version: &'a str,
    pub severity: SeverityForm,
    pub mapping: Vec<Mapping>,
    pub prefix: SyslogPrefix,
    pub max_bytes: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Cef {
    prefix: SyslogPrefix,
    /// `CEF:V|vendor|product|version|`, escaped once.
    header_start: Box<[u8]>,
    version: u8,
    severity: SeverityForm,
    mapping: Box<[Mapping]>,
    max_bytes: Option<usize>,
}

impl Cef {
    pub fn new(settings: CefSettings<'_>) -> Self {
        let CefSettings { version, vendor, product, device_version, severity, mapping, prefix, max_bytes } = settings;
        let mut header_start = format!("CEF:{version}|").into_bytes();
        for field in [vendor, product, device_version] {
            let _ = push_header(&mut header_start, field);
            header_start.push(b'|');
        }
        Cef { prefix, header_start: header_start.into(), version, severity, mapping: mapping.into(), max_bytes }
    }

    /// The limit records are fitted into, if any.
    pub fn max_bytes(&self) -> Option<usize> {
        self.max_bytes
    }

    /// The least `max_message_bytes` that every event fits in: the longest syslog header, the
    /// static header fields, one character each of Device Event Class ID and Name (at most 4
    /// bytes), the longest Severity, and the `|` separators.
    pub fn min_message_bytes(&self) -> usize {
        let prefix = self.prefix.longest();
        let severity = match self.severity {
            SeverityForm::Number => "10".len(),
            SeverityForm::Name => "Very-High".len(),
        };
        prefix + self.header_start.len() + 4 + "|".len() + 4 + "|".len() + severity + "|".len()
    }

    pub fn encode(&self, event: &Event, out: &mut Vec<u8>) -> Encoded {
        let start = out.len();
        let mut outcome = Encoded::default();
        self.prefix.write(event, out);
        out.extend_from_slice(&self.header_start);
        let class = push_header_cut(out, event.event_type(), CLASS_ID_MAX, &mut outcome);
        out.push(b'|');
        // An empty title would leave Name empty; the type names the event then too.
        let name_text = event.title().filter(|title| !title.is_empty()).unwrap_or(event.event_type());
        let name = push_header_cut(out, name_text, NAME_MAX, &mut outcome);
        out.push(b'|');
        let score = event.severity().score();
        match self.severity {
            SeverityForm::Number => {
                let _ = write!(out, "{score}");
            }
            SeverityForm::Name => out.extend_from_slice(severity_name(score).as_bytes()),
        }
        out.push(b'|');
        let layout = Layout { start, class, name, extension: out.len() };

        let style = PairStyle { separator: b" ", ipv6: self.version == 1, time: TimeForm::UnixMillis, push_value };
        let cut = write_pairs(event, &self.mapping, &style, out, &mut outcome, |out, pair_ends| {
            self.max_bytes.is_some_and(|max| fit(out, &layout, pair_ends, max))
        });
        outcome.truncated |= cut;
        outcome
    }
}

/// Writes an escaped header field cut to `max` bytes (of the text, before escaping) and returns
/// where it went; a cut or a replaced control character is noted in `outcome`.
fn push_header_cut(out: &mut Vec<u8>, text: &str, max: usize, outcome: &mut Encoded) -> Range<usize> {
    let start = out.len();
    let keep = char_boundary(text.as_bytes(), max);
    // `keep` is a character boundary, so the slice is valid UTF-8.
    outcome.sanitized |= push_header(out, text.get(..keep).unwrap_or_default());
    outcome.truncated |= keep < text.len();
    start..out.len()
}

/// Where the parts of a written record are in the output: what a size limit may shorten.
struct Layout {
    /// Where the record (with its syslog header) starts.
    start: usize,
    /// Device Event Class ID, escaped.
    class: Range<usize>,
    /// Name, escaped.
    name: Range<usize>,
    /// Where the extension starts, after Severity's `|`.
    extension: usize,
}

/// Name is cut to this many bytes before any extension pair is dropped: enough to tell what
/// happened, while the pairs (addresses, users, ids) are what a SIEM correlates on.
const NAME_KEEP: usize = 128;

/// Fits the record into `max` bytes (see [`fit`](super::fit)): Name is cut to [`NAME_KEEP`]
/// bytes, then whole extension pairs go from the end, then Name and last the Device Event Class
/// ID (which SIEMs categorise by) are cut to their first character. A limit of at least
/// [`Cef::min_message_bytes`] always fits.
fn fit(out: &mut Vec<u8>, layout: &Layout, pair_ends: &[usize], max: usize) -> bool {
    let fields = [
        Field { range: layout.class.clone(), keep: usize::MAX },
        Field { range: layout.name.clone(), keep: NAME_KEEP },
    ];
    let record =
        Record { start: layout.start, fields: &fields, importance: &[0, 1], pairs_start: layout.extension, pair_ends };
    super::fit::fit(out, &record, max)
}

/// CEF's named severities.
pub fn severity_name(score: u8) -> &'static str {
    match score {
        0..=3 => "Low",
        4..=6 => "Medium",
        7..=8 => "High",
        _ => "Very-High",
    }
}

#[cfg(test)]
mod tests;
