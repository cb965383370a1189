//! RFC 3164 ("BSD") syslog messages, for legacy receivers.
//!
//! ```text
//! <PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG
//! ```
//! * TIMESTAMP in UTC (section 4.1.2 has no zone field; UTC is the one unambiguous choice).
//! * HOSTNAME without its domain (4.1.2), PRINTUSASCII only.
//! * TAG is the configured `app_name`; RFC 3164 asks for alphanumerics only (4.1.3), but every
//!   current receiver ends the TAG at `[` or `:`, so `-`, `_`, `.` and `/` are accepted too.
//! * MSG: the title or the event JSON; the event type is not in the header, so `message =
//!   "json"` is the way to carry every field. Section 4.1.3 allows printing characters only:
//!   every control character (C0, DEL, C1; a tab or a line break too) is written as a space
//!   and the message counted as `sanitized`.
//! * The whole message is at most 1024 bytes (section 4.1) unless `max_message_bytes` says
//!   otherwise; longer ones have their content cut on a character boundary and are counted.

use crate::event::Event;

use super::rfc5424::HOSTNAME_MAX;
use super::syslog::{message_text, push_header_field, write_pri};
use super::text::{char_boundary, no_escapes, push_text};
use super::{Encoded, MessageSource};

/// RFC 3164 section 4.1: "The total length of the packet MUST be 1024 bytes or less."
pub const DEFAULT_MAX_BYTES: usize = 1024;
/// RFC 3164 section 4.1.3: the TAG is at most 32 characters.
pub const TAG_MAX: usize = 32;

/// The RFC 3164 header (`<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: `), shared by every format
/// sent behind one.
#[derive(Debug, Clone)]
pub struct Rfc3164Header {
    facility: u8,
    /// HOSTNAME used when the event has no `host`, already cut to its first label.
    hostname: Box<str>,
    /// `" TAG[PID]: "`, rendered once.
    tag_and_pid: Box<[u8]>,
}

impl Rfc3164Header {
    /// `tag` must already be valid (see [`is_tag`]).
    pub fn new(facility: u8, hostname: &str, tag: &str, pid: u32) -> Self {
        Rfc3164Header {
            facility,
            hostname: short_hostname(hostname).into(),
            tag_and_pid: format!(" {tag}[{pid}]: ").into_bytes().into(),
        }
    }

    /// The longest header any event can give this sink: PRI, TIMESTAMP, the longest HOSTNAME
    /// and the fixed TAG part. A size limit must leave room for it.
    pub fn longest(&self) -> usize {
        "<191>".len() + "Mmm dd hh:mm:ss ".len() + HOSTNAME_MAX + self.tag_and_pid.len()
    }

    /// Writes the header including the `": "` that precedes the content.
    pub fn write(&self, event: &Event, out: &mut Vec<u8>) {
        write_pri(out, self.facility, event.severity().level());
        event.timestamp().write_rfc3164(out);
        out.push(b' ');
        push_header_field(out, event.host().map(short_hostname).unwrap_or(&self.hostname), HOSTNAME_MAX);
        out.extend_from_slice(&self.tag_and_pid);
    }
}

#[derive(Debug, Clone)]
pub struct Rfc3164 {
    pub header: Rfc3164Header,
    pub message: MessageSource,
    pub max_bytes: usize,
}

impl Rfc3164 {
    pub fn new(header: Rfc3164Header, message: MessageSource, max_bytes: Option<usize>) -> Self {
        Rfc3164 { header, message, max_bytes: max_bytes.unwrap_or(DEFAULT_MAX_BYTES) }
    }

    pub fn encode(&self, event: &Event, out: &mut Vec<u8>) -> Encoded {
        let start = out.len();
        self.header.write(event, out);
        let content_start = out.len();
        let sanitized = push_text(out, message_text(event, self.message), no_escapes);
        let mut outcome = Encoded { sanitized, ..Encoded::default() };
        if out.len() - start > self.max_bytes {
            let room = (start + self.max_bytes).saturating_sub(content_start);
            out.truncate(content_start + char_boundary(&out[content_start..], room));
            outcome.truncated = true;
        }
        outcome
    }
}

/// Whether `tag` is acceptable as a TAG: 1-32 of alphanumerics and `-_./`.
pub fn is_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= TAG_MAX
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
}

/// The host name without its domain; IPv4 and IPv6 addresses are kept whole.
fn short_hostname(host: &str) -> &str {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return host;
    }
    host.split('.').next().unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::Timestamp;

    fn encode(encoder: &Rfc3164, json: &str) -> (String, bool) {
        let (out, outcome) = encoded(encoder, json);
        (out, outcome.truncated)
    }

    fn encoded(encoder: &Rfc3164, json: &str) -> (String, Encoded) {
        let received = Timestamp::parse_rfc3339("2024-05-01T12:00:00Z").expect("valid");
        let event = Event::decode(json.as_bytes(), received).expect("valid");
        let mut out = Vec::new();
        let outcome = encoder.encode(&event, &mut out);
        (String::from_utf8(out).expect("utf8"), outcome)
    }

    #[test]
    fn writes_bsd_header_in_utc_with_short_hostname() {
        let encoder =
            Rfc3164::new(Rfc3164Header::new(4, "relay.example.net", "siem-relay", 77), MessageSource::Title, None);
        let (out, _) = encode(
            &encoder,
            r#"{"event":"login_failed","severity":"medium","timestamp":"2024-05-02T01:02:03+02:00","title":"bad password"}"#,
        );
        assert_eq!(out, "<36>May  1 23:02:03 relay siem-relay[77]: bad password");
        let (out, _) = encode(&encoder, r#"{"event":"x","host":"10.0.0.1","timestamp":"2024-05-02T01:02:03Z"}"#);
        assert_eq!(out, "<38>May  2 01:02:03 10.0.0.1 siem-relay[77]: x");
    }

    #[test]
    fn cuts_to_1024_bytes_by_default() {
        let encoder = Rfc3164::new(Rfc3164Header::new(1, "h", "t", 1), MessageSource::Title, None);
        let (out, truncated) = encode(&encoder, &format!(r#"{{"event":"x","title":"{}"}}"#, "€".repeat(500)));
        assert!(truncated);
        assert!(out.len() <= 1024 && out.len() > 1020);
    }

    #[test]
    fn content_holds_printing_characters_only() {
        let encoder = Rfc3164::new(Rfc3164Header::new(1, "h", "t", 1), MessageSource::Title, None);
        let (out, outcome) = encoded(
            &encoder,
            r#"{"event":"x","title":"a\u0000b\tc\r\nd\u007fe\u0085f","timestamp":"2024-05-02T01:02:03Z"}"#,
        );
        assert_eq!(out, "<14>May  2 01:02:03 h t[1]: a b c  d e f");
        assert!(outcome.sanitized && !outcome.truncated);
        let (_, outcome) = encoded(&encoder, r#"{"event":"x","title":"clean é"}"#);
        assert!(!outcome.sanitized);
    }

    #[test]
    fn the_longest_header_is_an_upper_bound() {
        let header = Rfc3164Header::new(1, "h", "siem-relay", 4_294_967_295);
        let encoder = Rfc3164::new(header.clone(), MessageSource::Title, None);
        let host = "h".repeat(300);
        let (out, _) = encode(
            &encoder,
            &format!(
                r#"{{"event":"x","severity":"info","host":"{host}","title":"","timestamp":"2024-12-12T12:12:12Z"}}"#
            ),
        );
        assert_eq!(out.len(), header.longest() - 1, "<14> is a byte shorter than <191>");
    }

    #[test]
    fn accepts_common_tag_characters_only() {
        assert!(is_tag("siem-relay"));
        assert!(is_tag("a_b.c/d"));
        assert!(!is_tag(""));
        assert!(!is_tag("has space"));
        assert!(!is_tag("colon:"));
        assert!(!is_tag(&"t".repeat(33)));
    }
}
