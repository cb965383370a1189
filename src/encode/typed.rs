//! Typed values for key-value formats (CEF, LEEF): an event field is written only when it has
//! the type its key requires (an address that is an address, a port in range, ...), so a record
//! never carries a malformed value; a value of the wrong type is left out and counted.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr};

use crate::event::{Event, FieldPath, FieldValue};
use crate::timestamp::Timestamp;

/// What kind of value a key takes; values that do not fit are left out of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// Text of at most this many bytes (cut on a character boundary beyond).
    Text(usize),
    /// A 32-bit integer.
    Integer,
    /// A 64-bit integer.
    Long,
    /// A finite floating-point number.
    Float,
    /// A port number, 0-65535.
    Port,
    /// An IP address: IPv4, or IPv6 too where the format allows it (CEF:1, LEEF).
    Address,
    /// An IPv6 address (CEF's `c6a*` keys).
    Ipv6,
    /// A MAC address, six hex octets.
    Mac,
    /// A point in time: an RFC 3339 string or milliseconds since the epoch (`timestamp` is the
    /// event's own, parsed one).
    Time,
    /// `true` or `false` (a JSON boolean, or those words in any case).
    Boolean,
    /// A severity of 1-10 (LEEF's `sev`): from `severity`, the event's own score with 0 (info)
    /// written as 1, LEEF's lowest; from another field, an integer 1-10.
    Severity,
}

/// The field's value does not have the type its key requires: it is left out and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

/// How a [`ValueType::Time`] value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeForm {
    /// Milliseconds since the Unix epoch (CEF).
    UnixMillis,
    /// `yyyy-MM-dd'T'HH:mm:ss.SSSZ` with the event's own offset (LEEF's `devTime`).
    Leef,
}

/// Writes the value of the field at `path` as `value_type` to `text`: `Ok(None)` when the field
/// is absent or null, `Ok(Some(truncated))` when written, `Err` when the value has the wrong
/// type. `ipv6` says whether [`ValueType::Address`] takes IPv6 addresses.
pub fn write_value(
    event: &Event,
    path: &FieldPath,
    value_type: ValueType,
    ipv6: bool,
    time: TimeForm,
    text: &mut String,
) -> Result<Option<bool>, WrongType> {
    match (value_type, &**path) {
        (ValueType::Time, "timestamp") => {
            write_time(*event.timestamp(), time, text);
            return Ok(Some(false));
        }
        (ValueType::Severity, "severity") => {
            let _ = write!(text, "{}", event.severity().score().max(1));
            return Ok(Some(false));
        }
        _ => {}
    }
    let value = match event.field_at(path) {
        None | Some(FieldValue::Null) => return Ok(None),
        Some(value) => value,
    };
    match value_type {
        ValueType::Text(max) => {
            let value = value.into_text();
            let keep = super::text::char_boundary(value.as_bytes(), max);
            // `keep` is a character boundary.
            text.push_str(value.get(..keep).unwrap_or_default());
            return Ok(Some(keep < value.len()));
        }
        ValueType::Integer => {
            let n = integer(&value).filter(|n| i32::try_from(*n).is_ok()).ok_or(WrongType)?;
            let _ = write!(text, "{n}");
        }
        ValueType::Long => {
            let n = integer(&value).ok_or(WrongType)?;
            let _ = write!(text, "{n}");
        }
        ValueType::Port => {
            let n = integer(&value).and_then(|n| u16::try_from(n).ok()).ok_or(WrongType)?;
            let _ = write!(text, "{n}");
        }
        ValueType::Severity => {
            let n = integer(&value).filter(|n| (1..=10).contains(n)).ok_or(WrongType)?;
            let _ = write!(text, "{n}");
        }
        ValueType::Float => {
            let n = match value {
                FieldValue::Number(n) => n.as_f64(),
                FieldValue::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            }
            .filter(|n| n.is_finite())
            .ok_or(WrongType)?;
            let _ = write!(text, "{n}");
        }
        ValueType::Address => {
            let address = value.as_str().and_then(|s| s.parse::<IpAddr>().ok()).ok_or(WrongType)?;
            if address.is_ipv6() && !ipv6 {
                return Err(WrongType);
            }
            let _ = write!(text, "{address}");
        }
        ValueType::Ipv6 => {
            let address = value.as_str().and_then(|s| s.parse::<Ipv6Addr>().ok()).ok_or(WrongType)?;
            let _ = write!(text, "{address}");
        }
        ValueType::Mac => {
            let mac = value.as_str().and_then(parse_mac).ok_or(WrongType)?;
            for (n, octet) in mac.iter().enumerate() {
                let _ = write!(text, "{}{octet:02x}", if n == 0 { "" } else { ":" });
            }
        }
        ValueType::Boolean => {
            let flag = match value {
                FieldValue::Bool(flag) => Some(flag),
                FieldValue::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
                FieldValue::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
                _ => None,
            }
            .ok_or(WrongType)?;
            text.push_str(if flag { "true" } else { "false" });
        }
        ValueType::Time => {
            if let (TimeForm::UnixMillis, FieldValue::Number(n)) = (time, &value) {
                let millis = n.as_i64().ok_or(WrongType)?;
                let _ = write!(text, "{millis}");
                return Ok(Some(false));
            }
            let at = match value {
                FieldValue::Number(n) => n.as_i64().map(|millis| {
                    Timestamp::from_unix(millis.div_euclid(1000), (millis.rem_euclid(1000) * 1_000_000) as u32, 3)
                }),
                FieldValue::String(s) => Timestamp::parse_rfc3339(&s).ok(),
                _ => None,
            }
            .ok_or(WrongType)?;
            write_time(at, time, text);
        }
    }
    Ok(Some(false))
}

fn write_time(at: Timestamp, form: TimeForm, text: &mut String) {
    match form {
        TimeForm::UnixMillis => {
            let _ = write!(text, "{}", at.unix_millis());
        }
        TimeForm::Leef => {
            let mut out = Vec::with_capacity(32);
            at.write_leef(&mut out);
            text.push_str(std::str::from_utf8(&out).unwrap_or_default());
        }
    }
}

fn integer(value: &FieldValue<'_>) -> Option<i64> {
    match value {
        FieldValue::Number(n) => n.as_i64(),
        FieldValue::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// Six hex octets separated by `:` or `-`.
fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split([':', '-']);
    for octet in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *octet = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}
