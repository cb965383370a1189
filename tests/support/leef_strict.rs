//! A strict LEEF parser written from IBM's "Log Event Extended Format (LEEF)" guide, version 2
//! (LEEF event components, predefined attributes, custom keys, best practices, custom date
//! format), for tests. It accepts exactly what a careful producer writes and rejects the rest:
//! a header field with `|` or a control character, an EventID over 255 characters, a bad
//! delimiter field, an attribute that is not `key=value` with a one-word key, a duplicate key,
//! a raw control character anywhere, a predefined attribute whose value has the wrong type,
//! and `devTime` without a `devTimeFormat` it can be read with.

use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `1.0` or `2.0`.
    pub version: String,
    pub vendor: String,
    pub product: String,
    pub device_version: String,
    pub event_id: String,
    /// The attribute delimiter: tab for 1.0, the header's DelimiterCharacter for 2.0.
    pub delimiter: char,
    /// Attributes in order.
    pub attributes: Vec<(String, String)>,
}

impl Record {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Parses a record that starts with `LEEF:`.
pub fn parse(text: &str) -> Result<Record, String> {
    if let Some(c) = text.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(format!("raw control character {c:?} in the record"));
    }
    let rest = text.strip_prefix("LEEF:").ok_or("the record must start with \"LEEF:\"")?;
    let mut fields = rest.splitn(6, '|');
    let mut next = |what: &str| fields.next().map(str::to_owned).ok_or_else(|| format!("missing {what} and its '|'"));
    let version = next("the version")?;
    let vendor = next("Vendor")?;
    let product = next("Product")?;
    let device_version = next("Version")?;
    let event_id = next("EventID")?;
    let mut rest = fields.next().ok_or("the header must end with '|'")?;
    if version != "1.0" && version != "2.0" {
        return Err(format!("version {version:?} is neither 1.0 nor 2.0"));
    }
    for (name, value) in
        [("Vendor", &vendor), ("Product", &product), ("Version", &device_version), ("EventID", &event_id)]
    {
        if value.is_empty() || value.contains('\t') {
            return Err(format!("{name} {value:?} must be non-empty and without tabs"));
        }
    }
    if event_id.chars().count() > 255 {
        return Err(format!("EventID has {} characters, more than 255", event_id.chars().count()));
    }
    let delimiter = if version == "2.0" {
        let (field, attributes) = rest.split_once('|').ok_or("LEEF 2.0 needs a DelimiterCharacter field")?;
        rest = attributes;
        delimiter_of(field)?
    } else {
        '\t'
    };
    if delimiter != '\t' && rest.contains('\t') {
        return Err("raw tab in the attributes of a record delimited by another character".to_owned());
    }
    let mut attributes: Vec<(String, String)> = Vec::new();
    if !rest.is_empty() {
        for piece in rest.split(delimiter) {
            let (key, value) = piece.split_once('=').ok_or_else(|| format!("attribute {piece:?} is not key=value"))?;
            let one_word = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && key.chars().all(|c| c.is_ascii_alphanumeric());
            if !one_word {
                return Err(format!("key {key:?} is not one word of letters and digits"));
            }
            if attributes.iter().any(|(k, _)| k == key) {
                return Err(format!("duplicate key {key}"));
            }
            check_type(key, value)?;
            attributes.push((key.to_owned(), value.to_owned()));
        }
    }
    let record = Record { version, vendor, product, device_version, event_id, delimiter, attributes };
    if let Some(time) = record.get("devTime") {
        match record.get("devTimeFormat") {
            Some("yyyy-MM-dd'T'HH:mm:ss.SSSZ") => check_iso_millis(time)?,
            Some(other) => return Err(format!("devTimeFormat {other:?} is not one this checker reads")),
            None if time.len() == 13 && time.bytes().all(|b| b.is_ascii_digit()) => {}
            None => return Err("devTime without devTimeFormat (only 13-digit epoch values may omit it)".to_owned()),
        }
    }
    Ok(record)
}

/// DelimiterCharacter: one character, or `x`/`0x` and 1-4 hex digits.
fn delimiter_of(field: &str) -> Result<char, String> {
    let mut chars = field.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Ok(c);
    }
    let hex = field
        .strip_prefix("0x")
        .or_else(|| field.strip_prefix('x'))
        .ok_or_else(|| format!("bad delimiter {field:?}"))?;
    if hex.is_empty() || hex.len() > 4 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("bad hex delimiter {field:?}"));
    }
    u32::from_str_radix(hex, 16).ok().and_then(char::from_u32).ok_or_else(|| format!("{field:?} is no character"))
}

/// The guide's types for predefined attributes.
fn check_type(key: &str, value: &str) -> Result<(), String> {
    let bad = |what: &str| Err(format!("{key}={value:?} is not {what}"));
    match key {
        "sev" => match value.parse::<u8>() {
            Ok(1..=10) => Ok(()),
            _ => bad("a severity of 1-10"),
        },
        "src" | "dst" | "srcPreNAT" | "dstPreNAT" | "srcPostNAT" | "dstPostNAT" | "identSrc" | "vSrc"
        | "identSecondlp" => {
            if value.parse::<IpAddr>().is_ok() {
                Ok(())
            } else {
                bad("an IP address")
            }
        }
        "srcPort" | "dstPort" | "srcPreNATPort" | "dstPreNATPort" | "srcPostNATPort" | "dstPostNATPort" => {
            if value.parse::<u16>().is_ok() {
                Ok(())
            } else {
                bad("a port 0-65535")
            }
        }
        "srcMAC" | "dstMAC" | "identMAC" => {
            let octets: Vec<&str> = value.split(':').collect();
            if octets.len() == 6 && octets.iter().all(|o| o.len() == 2 && o.bytes().all(|b| b.is_ascii_hexdigit())) {
                Ok(())
            } else {
                bad("a MAC address")
            }
        }
        "srcBytes" | "dstBytes" | "srcPackets" | "dstPackets" | "totalPackets" => {
            if value.parse::<i64>().is_ok() {
                Ok(())
            } else {
                bad("an integer")
            }
        }
        "isLoginEvent" | "isLogoutEvent" => {
            if value == "true" || value == "false" {
                Ok(())
            } else {
                bad("true or false")
            }
        }
        "usrName" | "identHostName" | "identNetBios" | "identGrpName" | "vSrcName" | "accountName" => {
            if value.chars().count() <= 255 {
                Ok(())
            } else {
                bad("at most 255 characters")
            }
        }
        "calLanguage" | "calCountryOrRegion" => {
            if value.chars().count() <= 2 {
                Ok(())
            } else {
                bad("at most 2 characters")
            }
        }
        _ => Ok(()),
    }
}

/// `yyyy-MM-dd'T'HH:mm:ss.SSSZ` (Java: `Z` is `+hhmm`).
fn check_iso_millis(text: &str) -> Result<(), String> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| b.get(range).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let ok = b.len() == 28
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && matches!(b[23], b'+' | b'-')
        && digits(24..28);
    if ok {
        Ok(())
    } else {
        Err(format!("devTime {text:?} does not match yyyy-MM-dd'T'HH:mm:ss.SSSZ"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_versions_and_delimiter_forms() {
        let record = parse(
            "LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.1\tdst=172.50.123.1\tsev=5\turl=http://x/?a=b",
        )
        .expect("valid");
        assert_eq!(record.get("url"), Some("http://x/?a=b"));
        assert_eq!(record.event_id, "15345");
        let record = parse("LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5").expect("valid");
        assert_eq!((record.delimiter, record.attributes.len()), ('^', 3));
        assert_eq!(parse("LEEF:2.0|V|P|1|id|x5E|a=1^b=").expect("valid").get("b"), Some(""));
        assert_eq!(parse("LEEF:2.0|V|P|1|id|0x09|").expect("valid").attributes, []);
    }

    #[test]
    fn rejects_what_a_producer_must_not_write() {
        for bad in [
            "LEEF:3.0|V|P|1|id|",
            "LEEF:1.0|V|P|1|id",
            "LEEF:1.0||P|1|id|",
            "LEEF:1.0|V|P|1|id|sev=11",
            "LEEF:1.0|V|P|1|id|src=not-an-ip",
            "LEEF:1.0|V|P|1|id|a=1\ta=2",
            "LEEF:1.0|V|P|1|id|two words=1",
            "LEEF:1.0|V|P|1|id|noequals",
            "LEEF:1.0|V|P|1|id|msg=line\nbreak",
            "LEEF:2.0|V|P|1|id|^|msg=a\tb",
            "LEEF:2.0|V|P|1|id|xZZ|a=1",
            "LEEF:1.0|V|P|1|id|devTime=2024-05-01 12:00",
            "LEEF:1.0|V|P|1|id|devTime=2024-05-01T12:00:00Z\tdevTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ",
            "CEF:0|V|P|1|id|n|5|",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&format!("LEEF:1.0|V|P|1|{}|", "e".repeat(256))).is_err());
        assert!(parse("LEEF:1.0|V|P|1|id|devTime=1714564800250").is_ok());
    }
}
