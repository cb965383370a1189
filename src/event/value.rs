//! Field values, read on demand from an event's compact JSON text.
//!
//! A [`FieldValue`] borrows from the event: numbers, arrays and objects are their JSON text,
//! strings are unescaped only when they hold escapes (rare), so looking a field up allocates
//! nothing in the common case. The text was checked by [`super::compact`], so the scanners here
//! only need to find boundaries; they still never panic on anything.

use std::borrow::Cow;

/// One field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    Null,
    Bool(bool),
    Number(Number<'a>),
    /// The string's text, escapes resolved.
    String(Cow<'a, str>),
    /// The array's compact JSON text.
    Array(&'a str),
    /// The object's compact JSON text.
    Object(&'a str),
}

/// A JSON number, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Number<'a>(&'a str);

impl Number<'_> {
    /// The value, if it is an integer (no fraction or exponent) that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }

    /// The value, if it is an integer (no fraction or exponent) that fits a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        self.0.parse().ok()
    }

    /// The value as the nearest `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        self.0.parse().ok()
    }

    /// The number as written.
    pub fn as_str(&self) -> &str {
        self.0
    }
}

impl<'a> FieldValue<'a> {
    /// The value whose compact JSON text is `json`.
    pub(super) fn from_json(json: &'a str) -> FieldValue<'a> {
        match json.as_bytes().first() {
            Some(b'"') => FieldValue::String(unescape(string_content(json))),
            _ => Self::from_plain_json(json),
        }
    }

    /// As [`FieldValue::from_json`], for a value known not to be a string with escapes.
    pub(super) fn from_plain_json(json: &'a str) -> FieldValue<'a> {
        match json.as_bytes().first() {
            Some(b'"') => FieldValue::String(Cow::Borrowed(string_content(json))),
            Some(b'{') => FieldValue::Object(json),
            Some(b'[') => FieldValue::Array(json),
            Some(b't') => FieldValue::Bool(true),
            Some(b'f') => FieldValue::Bool(false),
            Some(b'n') | None => FieldValue::Null,
            Some(_) => FieldValue::Number(Number(json)),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, FieldValue::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::String(text) => Some(text),
            _ => None,
        }
    }

    /// The value as text for people and text formats: a string as it is, anything else as its
    /// compact JSON.
    pub fn into_text(self) -> Cow<'a, str> {
        match self {
            FieldValue::String(text) => text,
            FieldValue::Null => Cow::Borrowed("null"),
            FieldValue::Bool(true) => Cow::Borrowed("true"),
            FieldValue::Bool(false) => Cow::Borrowed("false"),
            FieldValue::Number(Number(json)) | FieldValue::Array(json) | FieldValue::Object(json) => {
                Cow::Borrowed(json)
            }
        }
    }

    /// The member `key` of an object (the last one, if the key is repeated).
    pub fn get(&self, key: &str) -> Option<FieldValue<'a>> {
        let FieldValue::Object(json) = self else {
            return None;
        };
        let mut found = None;
        for (raw_key, value) in ObjectMembers::new(json) {
            if key_matches(raw_key, key) {
                found = Some(value);
            }
        }
        found.map(FieldValue::from_json)
    }
}

impl From<FieldValue<'_>> for serde_json::Value {
    fn from(value: FieldValue<'_>) -> Self {
        match value {
            FieldValue::String(text) => serde_json::Value::String(text.into_owned()),
            other => serde_json::from_str(&other.into_text()).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// Whether a key as written (escapes kept) is `wanted`.
pub(super) fn key_matches(raw: &str, wanted: &str) -> bool {
    if raw.contains('\\') {
        unescape(raw) == wanted
    } else {
        raw == wanted
    }
}

/// The text between the quotes of a JSON string.
fn string_content(json: &str) -> &str {
    json.get(1..json.len().saturating_sub(1)).unwrap_or_default()
}

/// Resolves the escapes of a JSON string's content (`raw` is what is between the quotes).
pub fn unescape(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut text = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            text.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => text.push('\u{8}'),
            Some('f') => text.push('\u{c}'),
            Some('n') => text.push('\n'),
            Some('r') => text.push('\r'),
            Some('t') => text.push('\t'),
            Some('u') => {
                let unit = hex4(&mut chars);
                let code = match unit {
                    Some(high @ 0xD800..=0xDBFF) => {
                        // The reader only lets a high surrogate through when `\uDC00-DFFF` follows.
                        let low = (chars.next(), chars.next(), hex4(&mut chars));
                        match low {
                            (Some('\\'), Some('u'), Some(low @ 0xDC00..=0xDFFF)) => {
                                Some(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
                            }
                            _ => None,
                        }
                    }
                    other => other,
                };
                text.push(code.and_then(char::from_u32).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            // `"`, `\` and `/` stand for themselves.
            Some(other) => text.push(other),
            None => {}
        }
    }
    Cow::Owned(text)
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    let mut unit = 0;
    for _ in 0..4 {
        unit = unit * 16 + chars.next()?.to_digit(16)?;
    }
    Some(unit)
}

/// The members of a compact JSON object: (key as written between its quotes, value's JSON).
pub(super) struct ObjectMembers<'a> {
    json: &'a str,
    at: usize,
}

impl<'a> ObjectMembers<'a> {
    pub(super) fn new(json: &'a str) -> Self {
        // Past the `{`.
        ObjectMembers { json, at: 1 }
    }
}

impl<'a> Iterator for ObjectMembers<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.json.as_bytes();
        if bytes.get(self.at) != Some(&b'"') {
            return None;
        }
        let key_end = skip_string(bytes, self.at);
        let key = self.json.get(self.at + 1..key_end.saturating_sub(1))?;
        // Past the `:`.
        let value_start = key_end + 1;
        let value_end = skip_value(bytes, value_start);
        let value = self.json.get(value_start..value_end)?;
        // Past the `,` (or onto the closing `}`, which ends the iteration).
        self.at = value_end + 1;
        Some((key, value))
    }
}

/// The index just after the string that starts (with its quote) at `at`.
fn skip_string(bytes: &[u8], at: usize) -> usize {
    let mut i = at + 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index just after the compact JSON value that starts at `at`.
fn skip_value(bytes: &[u8], at: usize) -> usize {
    match bytes.get(at) {
        Some(b'"') => skip_string(bytes, at),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = at;
            while let Some(&b) = bytes.get(i) {
                match b {
                    b'"' => {
                        i = skip_string(bytes, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            bytes.len()
        }
        _ => {
            let rest = bytes.get(at..).unwrap_or_default();
            at + rest.iter().position(|b| matches!(b, b',' | b'}' | b']')).unwrap_or(rest.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_every_escape() {
        assert_eq!(unescape("plain"), Cow::Borrowed("plain"));
        assert_eq!(unescape(r#"a\"b\\c\/d\b\f\n\r\t"#), "a\"b\\c/d\u{8}\u{c}\n\r\t");
        assert_eq!(unescape(r"\u00e9\ud83d\ude00\u0041"), "é😀A");
        assert_eq!(unescape(r"\ud800x"), "\u{FFFD}", "never panics on what the reader rejects");
    }

    #[test]
    fn reads_values_and_nested_members() {
        let object =
            FieldValue::from_json(r#"{"a":{"b":[1,{"c":"}"}],"d":"x\"y"},"e":-1.5,"f":null,"a\u0062":7,"e":2}"#);
        let a = object.get("a").expect("a");
        assert!(matches!(a.get("b"), Some(FieldValue::Array(r#"[1,{"c":"}"}]"#))));
        assert_eq!(a.get("d"), Some(FieldValue::String(Cow::Borrowed("x\"y"))));
        assert_eq!(
            object.get("e").and_then(|v| if let FieldValue::Number(n) = v { n.as_i64() } else { None }),
            Some(2)
        );
        assert_eq!(object.get("f"), Some(FieldValue::Null));
        assert_eq!(object.get("ab").map(FieldValue::into_text).as_deref(), Some("7"), "escaped keys match");
        assert_eq!(object.get("zz"), None);
        assert_eq!(FieldValue::from_json("true").into_text(), "true");
        assert_eq!(serde_json::Value::from(a), serde_json::json!({"b":[1,{"c":"}"}],"d":"x\"y"}));
    }

    #[test]
    fn numbers_convert_like_serde_json() {
        let n = |text| Number(text);
        assert_eq!(n("42").as_i64(), Some(42));
        assert_eq!(n("-42").as_u64(), None);
        assert_eq!(n("1.0").as_i64(), None);
        assert_eq!(n("1e3").as_i64(), None);
        assert_eq!(n("1e3").as_f64(), Some(1000.0));
        assert_eq!(n("99999999999999999999").as_i64(), None);
    }
}
