//! A strict CEF parser written from "Implementing ArcSight Common Event Format", for tests: it
//! accepts exactly what the standard defines and rejects everything a careful producer must
//! never write (raw line breaks, unknown escapes, an unescaped `=` in a value, duplicate keys).

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub version: u32,
    pub vendor: String,
    pub product: String,
    pub device_version: String,
    pub class_id: String,
    pub name: String,
    pub severity: String,
    /// Extension pairs in order, values unescaped.
    pub extension: Vec<(String, String)>,
}

impl Record {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.extension.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn extension_map(&self) -> BTreeMap<String, String> {
        self.extension.iter().cloned().collect()
    }
}

/// Parses a record that starts with `CEF:`.
pub fn parse(text: &str) -> Result<Record, String> {
    if text.contains(['\r', '\n']) {
        return Err("raw CR or LF in the record".to_owned());
    }
    let rest = text.strip_prefix("CEF:").ok_or("the record must start with \"CEF:\"")?;
    let mut fields = Vec::with_capacity(7);
    let mut current = String::new();
    let mut chars = rest.char_indices();
    let mut extension_start = None;
    while let Some((index, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, '\\')) => current.push('\\'),
                Some((_, '|')) => current.push('|'),
                other => return Err(format!("invalid escape {other:?} in header field {}", fields.len())),
            },
            '|' => {
                fields.push(std::mem::take(&mut current));
                if fields.len() == 7 {
                    extension_start = Some(index + 1);
                    break;
                }
            }
            other => current.push(other),
        }
    }
    let extension_start =
        extension_start.ok_or_else(|| format!("expected 7 '|'-terminated header fields, found {}", fields.len()))?;
    let version: u32 = fields[0].parse().map_err(|_| format!("bad version {:?}", fields[0]))?;
    let severity = fields[6].clone();
    let valid_severity = severity.parse::<u8>().is_ok_and(|n| n <= 10)
        || ["Unknown", "Low", "Medium", "High", "Very-High"].contains(&severity.as_str());
    if !valid_severity {
        return Err(format!("bad severity {severity:?}"));
    }
    let extension = parse_extension(&rest[extension_start..])?;
    let mut fields = fields.into_iter().skip(1);
    let mut next = || fields.next().unwrap_or_default();
    Ok(Record {
        version,
        vendor: next(),
        product: next(),
        device_version: next(),
        class_id: next(),
        name: next(),
        severity,
        extension,
    })
}

/// Whether `bytes[at..]` starts a `key=` (one ASCII letter, then letters and digits, then `=`).
fn key_at(bytes: &[u8], at: usize) -> Option<usize> {
    let first = *bytes.get(at)?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let mut end = at + 1;
    while bytes.get(end).is_some_and(u8::is_ascii_alphanumeric) {
        end += 1;
    }
    (bytes.get(end) == Some(&b'=')).then_some(end)
}

fn parse_extension(text: &str) -> Result<Vec<(String, String)>, String> {
    let bytes = text.as_bytes();
    let mut pairs: Vec<(String, String)> = Vec::new();
    if text.is_empty() {
        return Ok(pairs);
    }
    let mut at = 0;
    loop {
        let key_end = key_at(bytes, at).ok_or_else(|| format!("expected key= at extension offset {at}"))?;
        let key = &text[at..key_end];
        let mut value = Vec::new();
        let mut i = key_end + 1;
        let next_key = loop {
            match bytes.get(i) {
                None => break None,
                Some(b'\\') => {
                    let unescaped = match bytes.get(i + 1) {
                        Some(b'\\') => b'\\',
                        Some(b'=') => b'=',
                        Some(b'n') => b'\n',
                        Some(b'r') => b'\r',
                        other => {
                            return Err(format!("invalid escape {:?} in the value of {key}", other.map(|b| *b as char)))
                        }
                    };
                    value.push(unescaped);
                    i += 2;
                }
                Some(b'=') => return Err(format!("unescaped '=' in the value of {key}")),
                Some(b' ') if key_at(bytes, i + 1).is_some() => break Some(i + 1),
                Some(&other) => {
                    value.push(other);
                    i += 1;
                }
            }
        };
        if pairs.iter().any(|(k, _)| k == key) {
            return Err(format!("duplicate key {key}"));
        }
        let value = String::from_utf8(value).map_err(|_| format!("value of {key} is not UTF-8"))?;
        pairs.push((key.to_owned(), value));
        match next_key {
            Some(next) => at = next,
            None => return Ok(pairs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_escapes_and_spaces() {
        let record =
            parse(r"CEF:0|Ac\|me|Sc\\an|1.0|id|a name|7|msg=a\=b c\\d|e\nf cs1= x  cs1Label=L").expect("valid");
        assert_eq!(
            (record.vendor.as_str(), record.product.as_str(), record.name.as_str()),
            ("Ac|me", r"Sc\an", "a name")
        );
        assert_eq!(record.get("msg"), Some("a=b c\\d|e\nf"));
        assert_eq!(record.get("cs1"), Some(" x "));
        assert_eq!(record.get("cs1Label"), Some("L"));
    }

    #[test]
    fn rejects_what_a_producer_must_not_write() {
        for bad in [
            "CEF:0|a|b|c|d|e|5|msg=x=y",
            "CEF:0|a|b|c|d|e|5|msg=x\ny",
            r"CEF:0|a|b|c|d|e|5|msg=\|",
            r"CEF:0|a\=|b|c|d|e|5|",
            "CEF:0|a|b|c|d|e|11|",
            "CEF:0|a|b|c|d|e|5|msg=1 msg=2",
            "CEF:0|a|b|c|d|e|5",
            "LEEF:1|a|b|c|d|",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("CEF:0|a|b|c|d|e|Very-High|").is_ok());
    }
}
