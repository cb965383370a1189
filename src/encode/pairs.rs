//! The key-value pairs of CEF's extension and LEEF's attributes: one writer for both. Each
//! mapped field is written only when its value has its key's type (`typed.rs`), escaped or
//! replaced by the format's own rule, and where each pair ends is kept so that a size limit can
//! drop whole pairs (`fit.rs`).

use super::typed::{write_value, TimeForm, ValueType, WrongType};
use super::Encoded;
use crate::event::{Event, FieldPath};

/// One key and where its value comes from.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub key: Box<str>,
    /// Dotted path of the event field; `timestamp` and `severity` are the event's own, parsed.
    pub path: FieldPath,
    pub value_type: ValueType,
    /// Rendered once, written right after the value when there is one: CEF's ` csNLabel=...`,
    /// LEEF's `devTimeFormat` beside `devTime`. Part of the pair, so a size limit never drops
    /// one without the other.
    pub suffix: Option<Box<[u8]>>,
}

impl Mapping {
    /// A mapping without a suffix.
    pub fn plain(key: &str, path: &str, value_type: ValueType) -> Self {
        Mapping { key: key.into(), path: path.into(), value_type, suffix: None }
    }
}

/// How a format writes its pairs.
pub(crate) struct PairStyle<'a, F: Fn(&mut Vec<u8>, &str) -> bool> {
    /// Between two pairs.
    pub separator: &'a [u8],
    /// Whether address keys take IPv6 addresses.
    pub ipv6: bool,
    pub time: TimeForm,
    /// Appends a value with the format's escaping; returns whether a character was replaced.
    pub push_value: F,
}

/// Writes the pairs of `mapping` for `event`, then returns what `then` makes of the output and
/// where each pair ended. Counts wrong types, cuts and replacements in `outcome`.
pub(crate) fn write_pairs<F: Fn(&mut Vec<u8>, &str) -> bool, R>(
    event: &Event,
    mapping: &[Mapping],
    style: &PairStyle<'_, F>,
    out: &mut Vec<u8>,
    outcome: &mut Encoded,
    then: impl FnOnce(&mut Vec<u8>, &[usize]) -> R,
) -> R {
    // Per-thread scratch space, so encoding allocates nothing once warm.
    thread_local! {
        static SCRATCH: std::cell::RefCell<(Vec<usize>, String)> = const { std::cell::RefCell::new((Vec::new(), String::new())) };
    }
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let (pair_ends, text) = &mut *scratch;
        pair_ends.clear();
        for entry in mapping {
            text.clear();
            match write_value(event, &entry.path, entry.value_type, style.ipv6, style.time, text) {
                Ok(None) => continue,
                Ok(Some(cut)) => outcome.truncated |= cut,
                Err(WrongType) => {
                    outcome.invalid_fields += 1;
                    continue;
                }
            }
            if !pair_ends.is_empty() {
                out.extend_from_slice(style.separator);
            }
            out.extend_from_slice(entry.key.as_bytes());
            out.push(b'=');
            outcome.sanitized |= (style.push_value)(out, text);
            if let Some(suffix) = &entry.suffix {
                out.extend_from_slice(suffix);
            }
            pair_ends.push(out.len());
        }
        then(out, pair_ends)
    })
}
