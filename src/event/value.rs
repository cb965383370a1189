//! Field values, read on demand from an event's compact JSON text.
//!
//! A [`FieldValue`] borrows from the event: numbers, arrays and objects are their JSON text,
//! strings are unescaped only when they hold escapes (rare), so looking a field up allocates
//! nothing in the common case. Finding a field is the member index's job (see
//! [`super::compact`]); this module only reads a value once found.

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
}

/// For tests that compare with `serde_json` values.
#[cfg(test)]
impl From<FieldValue<'_>> for serde_json::Value {
    fn from(value: FieldValue<'_>) -> Self {
        match value {
            FieldValue::String(text) => serde_json::Value::String(text.into_owned()),
            other => serde_json::from_str(&other.into_text()).unwrap_or(serde_json::Value::Null),
        }
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
    fn reads_each_kind_of_value() {
        assert!(matches!(FieldValue::from_json(r#"[1,{"c":"}"}]"#), FieldValue::Array(r#"[1,{"c":"}"}]"#)));
        assert!(matches!(FieldValue::from_json(r#"{"a":1}"#), FieldValue::Object(r#"{"a":1}"#)));
        assert_eq!(FieldValue::from_json(r#""x\"y""#), FieldValue::String(Cow::Owned("x\"y".into())));
        assert_eq!(FieldValue::from_plain_json(r#""xy""#), FieldValue::String(Cow::Borrowed("xy")));
        assert_eq!(FieldValue::from_json("-1.5").into_text(), "-1.5");
        assert_eq!(FieldValue::from_json("null"), FieldValue::Null);
        assert_eq!(FieldValue::from_json("true").into_text(), "true");
        assert_eq!(FieldValue::from_json("false"), FieldValue::Bool(false));
        let object = FieldValue::from_json(r#"{"b":[1,{"c":"}"}],"d":"x\"y"}"#);
        assert_eq!(serde_json::Value::from(object), serde_json::json!({"b":[1,{"c":"}"}],"d":"x\"y"}));
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
