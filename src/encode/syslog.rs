//! Pieces shared by the syslog encoders: facilities, PRI, header-field character rules and the
//! syslog header in front of CEF and LEEF records.

use crate::event::Event;
use crate::severity::Level;

use super::rfc3164::Rfc3164Header;
use super::rfc5424::Rfc5424Header;
use super::MessageSource;

/// The syslog header a key-value record (CEF, LEEF) travels behind.
#[derive(Debug, Clone)]
pub enum SyslogPrefix {
    /// The bare record.
    None,
    /// RFC 5424 HEADER, NILVALUE structured data, then the record as MSG (without a BOM:
    /// receivers expect `CEF:` or `LEEF:` right after the header).
    Rfc5424(Rfc5424Header),
    /// RFC 3164 header, then the record as content.
    Rfc3164(Rfc3164Header),
}

impl SyslogPrefix {
    /// Writes the header and the separator the record follows.
    pub fn write(&self, event: &Event, out: &mut Vec<u8>) {
        match self {
            SyslogPrefix::None => {}
            SyslogPrefix::Rfc5424(header) => {
                header.write(event, out);
                out.extend_from_slice(b" - ");
            }
            SyslogPrefix::Rfc3164(header) => header.write(event, out),
        }
    }

    /// The longest [`write`](Self::write) can be for any event.
    pub fn longest(&self) -> usize {
        match self {
            SyslogPrefix::None => 0,
            SyslogPrefix::Rfc5424(header) => header.longest() + " - ".len(),
            SyslogPrefix::Rfc3164(header) => header.longest(),
        }
    }
}

/// RFC 5424 section 6.2.1, table 1 (RFC 3164 uses the same codes).
pub const FACILITIES: [(&str, u8); 24] = [
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("ntp", 12),
    ("audit", 13),
    ("alert", 14),
    ("clock", 15),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// Writes `<PRIVAL>`: facility * 8 + severity, no leading zeros (RFC 5424 section 6.2.1).
pub fn write_pri(out: &mut Vec<u8>, facility: u8, level: Level) {
    let prival = u16::from(facility) * 8 + u16::from(level.syslog_severity());
    out.push(b'<');
    out.extend_from_slice(itoa::Buffer::new().format(prival).as_bytes());
    out.push(b'>');
}

/// Whether `text` is a valid RFC 5424 header field of at most `max` PRINTUSASCII (33-126) octets.
pub fn is_printusascii(text: &str, max: usize) -> bool {
    !text.is_empty() && text.len() <= max && text.bytes().all(|b| (33..=126).contains(&b))
}

/// Writes `text` as an RFC 5424 header field (section 6.2: `1*max PRINTUSASCII`): every
/// character outside 33-126 becomes one `_`, the result is cut to `max` octets, and an empty
/// value becomes the NILVALUE `-`. A value that is exactly `-` is written as `_`, so that it is
/// not read as "no value".
pub fn push_header_field(out: &mut Vec<u8>, text: &str, max: usize) {
    if text.is_empty() {
        out.push(b'-');
        return;
    }
    if text == "-" {
        out.push(b'_');
        return;
    }
    // The common case: already a valid field.
    if text.len() <= max && text.bytes().all(|b| (33..=126).contains(&b)) {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    for c in text.chars().take(max) {
        out.push(u8::try_from(c).ok().filter(|b| (33..=126).contains(b)).unwrap_or(b'_'));
    }
}

/// The MSG text for `event`, as `source` asks.
pub fn message_text(event: &Event, source: MessageSource) -> &str {
    match source {
        MessageSource::Title => event.title().unwrap_or(event.event_type()),
        MessageSource::Json => event.json(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_keep_only_printusascii() {
        let field = |text: &str, max| {
            let mut out = Vec::new();
            push_header_field(&mut out, text, max);
            String::from_utf8(out).expect("ascii")
        };
        assert_eq!(field("web-1.example", 255), "web-1.example");
        assert_eq!(field("a b\tc", 255), "a_b_c");
        assert_eq!(field("münchen", 255), "m_nchen");
        assert_eq!(field("", 32), "-");
        assert_eq!(field("-", 32), "_", "a literal dash is not the NILVALUE");
        assert_eq!(field(&"x".repeat(40), 32), "x".repeat(32));
    }

    #[test]
    fn pri_is_facility_times_eight_plus_severity() {
        let mut out = Vec::new();
        write_pri(&mut out, 16, Level::Critical);
        write_pri(&mut out, 0, Level::Info);
        write_pri(&mut out, 23, Level::Info);
        assert_eq!(out, b"<130><6><190>");
    }
}
