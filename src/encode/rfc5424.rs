//! RFC 5424 syslog messages.
//!
//! ```text
//! <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID id="..." severity="..." ...] BOM MSG
//! ```
//! * PRI: the sink's facility and the event's severity band (section 6.2.1).
//! * TIMESTAMP: the event's, at most six fraction digits, never a leap second (6.2.3).
//! * HOSTNAME (255), APP-NAME (48), PROCID (128), MSGID (32): PRINTUSASCII only (6.2.4-6.2.7);
//!   event-supplied values are mapped into that set and cut, configured ones are validated.
//! * STRUCTURED-DATA: one element under a private SD-ID (6.3.2, 7.2.2) with `id`, `severity`
//!   and the configured fields; PARAM-VALUE escapes `"`, `\` and `]` (6.3.3).
//! * MSG: prefixed by a BOM when it holds non-ASCII text, so it is MSG-UTF8; pure ASCII is sent
//!   as MSG-ANY without one, which every receiver reads as text (6.4).
//! * Size: with `max_message_bytes`, MSG is cut on a character boundary; if the header and SD
//!   alone are too long, SD is reduced to `id` and `severity`, then to NILVALUE (6.1).

use std::sync::Arc;

use crate::event::{Event, FieldPath, FieldValue};

use super::syslog::{message_text, push_header_field, write_pri};
use super::text::char_boundary;
use super::{Encoded, MessageSource};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Lengths from RFC 5424 section 6 ABNF.
pub const HOSTNAME_MAX: usize = 255;
pub const APP_NAME_MAX: usize = 48;
pub const PROCID_MAX: usize = 128;
pub const MSGID_MAX: usize = 32;
pub const SD_NAME_MAX: usize = 32;
/// The SD parameter that keeps an event's `host` as it was when HOSTNAME had to map it (a
/// character outside PRINTUSASCII, more than 255 bytes, or a lone `-`).
pub const ORIGINAL_HOST_PARAM: &str = "original_host";
/// The least any transport receiver must accept (RFC 5426 section 3.2, 480 octets over IPv4):
/// below this even a header could not be sent whole.
pub const MIN_MESSAGE_BYTES: usize = 480;

/// A structured-data parameter taken from an event field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdField {
    /// PARAM-NAME, validated as an SD-NAME.
    pub name: Box<str>,
    /// Dotted path of the event field.
    pub path: FieldPath,
}

/// The RFC 5424 HEADER (`<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID`), shared by every
/// format sent behind one.
#[derive(Debug, Clone)]
pub struct Rfc5424Header {
    facility: u8,
    /// HOSTNAME used when the event has no `host` (already in PRINTUSASCII form).
    hostname: Arc<str>,
    /// `" APP-NAME PROCID "`, rendered once: neither changes per event.
    app_and_procid: Box<[u8]>,
}

impl Rfc5424Header {
    /// `app_name` and `procid` must already be valid header fields; `hostname` is mapped.
    pub fn new(facility: u8, hostname: &str, app_name: &str, procid: &str) -> Self {
        let mut host = Vec::new();
        push_header_field(&mut host, hostname, HOSTNAME_MAX);
        Rfc5424Header {
            facility,
            hostname: String::from_utf8_lossy(&host).into(),
            app_and_procid: format!(" {app_name} {procid} ").into_bytes().into(),
        }
    }

    /// The longest HEADER any event can give this sink: PRI, VERSION, the longest TIMESTAMP
    /// (six fraction digits and an offset), HOSTNAME and MSGID at their maximum, and the fixed
    /// APP-NAME and PROCID.
    pub fn longest(&self) -> usize {
        "<191>1 ".len()
            + "2024-05-01T12:00:00.000000+00:00 ".len()
            + HOSTNAME_MAX
            + self.app_and_procid.len()
            + MSGID_MAX
    }

    /// Writes the HEADER, without a trailing space.
    pub fn write(&self, event: &Event, out: &mut Vec<u8>) {
        write_pri(out, self.facility, event.severity().level());
        out.extend_from_slice(b"1 ");
        event.timestamp().write_rfc5424(out);
        out.push(b' ');
        match event.host() {
            Some(host) => push_header_field(out, host, HOSTNAME_MAX),
            None => out.extend_from_slice(self.hostname.as_bytes()),
        }
        out.extend_from_slice(&self.app_and_procid);
        push_header_field(out, event.event_type(), MSGID_MAX);
    }
}

/// Settings of one RFC 5424 sink, validated when the config is built.
#[derive(Debug, Clone)]
pub struct Rfc5424 {
    pub header: Rfc5424Header,
    pub sd_id: Box<str>,
    pub sd_fields: Box<[SdField]>,
    pub message: MessageSource,
    pub max_bytes: Option<usize>,
    /// Write [`ORIGINAL_HOST_PARAM`] when HOSTNAME maps the event's `host`.
    pub original_host: bool,
}

/// What an RFC 5424 sink is built from.
#[derive(Debug, Clone)]
pub struct Rfc5424Settings<'a> {
    pub facility: u8,
    /// HOSTNAME for events without `host`.
    pub hostname: &'a str,
    pub app_name: &'a str,
    pub procid: &'a str,
    pub sd_id: &'a str,
    pub sd_fields: Vec<SdField>,
    pub message: MessageSource,
    pub max_bytes: Option<usize>,
    /// Keep a mapped `host` in [`ORIGINAL_HOST_PARAM`] (unless an `sd_fields` entry carries
    /// `host` already).
    pub original_host: bool,
}

/// Where MSG went in a written message.
struct MsgAt {
    /// The end of STRUCTURED-DATA: MSG's space, BOM and text follow.
    separator: usize,
    /// The start of MSG's text, after any BOM.
    text: usize,
}

/// Which structured data to write; the smaller forms are fall-backs for size limits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SdForm {
    Full,
    IdAndSeverity,
    Nil,
}

impl Rfc5424 {
    /// Builds the encoder from settings whose `app_name`, `procid` and `sd_id` are already
    /// validated.
    pub fn new(settings: Rfc5424Settings<'_>) -> Self {
        let Rfc5424Settings {
            facility,
            hostname,
            app_name,
            procid,
            sd_id,
            sd_fields,
            message,
            max_bytes,
            original_host,
        } = settings;
        let original_host = original_host && !sd_fields.iter().any(|field| &*field.path == "host");
        Rfc5424 {
            header: Rfc5424Header::new(facility, hostname, app_name, procid),
            sd_id: sd_id.into(),
            sd_fields: sd_fields.into(),
            message,
            max_bytes,
            original_host,
        }
    }

    pub fn encode(&self, event: &Event, out: &mut Vec<u8>) -> Encoded {
        let start = out.len();
        self.write(event, SdForm::Full, out);
        let Some(max) = self.max_bytes else {
            return Encoded::default();
        };
        if out.len() - start <= max {
            return Encoded::default();
        }
        for form in [SdForm::Full, SdForm::IdAndSeverity, SdForm::Nil] {
            out.truncate(start);
            let msg = self.write(event, form, out);
            if msg.separator - start <= max || form == SdForm::Nil {
                let keep = char_boundary(&out[msg.text..], (start + max).saturating_sub(msg.text));
                // Nothing of MSG fits: leave it out with its space (and BOM), as for no MSG.
                out.truncate(if keep == 0 { msg.separator } else { msg.text + keep });
                // Config validation keeps every limit above the longest HEADER plus NILVALUE.
                debug_assert!(out.len() - start <= max, "limit {max} below the longest header");
                break;
            }
        }
        Encoded { truncated: true, ..Encoded::default() }
    }

    /// The least `max_message_bytes` that every event fits in: the longest HEADER and the
    /// NILVALUE structured data (MSG can always be cut).
    pub fn min_message_bytes(&self) -> usize {
        self.header.longest() + " -".len()
    }

    /// Writes the whole message and returns where MSG starts.
    fn write(&self, event: &Event, sd: SdForm, out: &mut Vec<u8>) -> MsgAt {
        self.header.write(event, out);
        out.push(b' ');
        self.write_structured_data(event, sd, out);

        let text = message_text(event, self.message);
        let separator = out.len();
        if text.is_empty() {
            // No MSG: no trailing space either.
            return MsgAt { separator, text: separator };
        }
        out.push(b' ');
        // MSG-ANY for plain ASCII; MSG-UTF8, with its BOM, otherwise.
        if !text.is_ascii() {
            out.extend_from_slice(BOM);
        }
        let msg_start = out.len();
        out.extend_from_slice(text.as_bytes());
        MsgAt { separator, text: msg_start }
    }

    fn write_structured_data(&self, event: &Event, form: SdForm, out: &mut Vec<u8>) {
        if form == SdForm::Nil {
            out.push(b'-');
            return;
        }
        out.push(b'[');
        out.extend_from_slice(self.sd_id.as_bytes());
        write_param(out, "id", event.id().as_bytes());
        let mut digits = itoa::Buffer::new();
        write_param(out, "severity", event.severity().text(&mut digits).as_bytes());
        if form == SdForm::Full {
            // A HOSTNAME that had to be mapped loses what an analyst searches for: keep it.
            if let Some(host) = event.host().filter(|host| self.original_host && hostname_maps(host)) {
                write_param(out, ORIGINAL_HOST_PARAM, host.as_bytes());
            }
            for field in self.sd_fields.iter() {
                match event.field_at(&field.path) {
                    None | Some(FieldValue::Null) => {}
                    Some(value) => write_param(out, &field.name, value.into_text().as_bytes()),
                }
            }
        }
        out.push(b']');
    }
}

/// Whether HOSTNAME cannot carry `host` as it is (an empty one is simply NILVALUE).
fn hostname_maps(host: &str) -> bool {
    !host.is_empty() && (host == "-" || !super::syslog::is_printusascii(host, HOSTNAME_MAX))
}

/// Writes ` NAME="VALUE"` with PARAM-VALUE escaping (RFC 5424 section 6.3.3): `"`, `\` and `]`
/// are preceded by a backslash; every other octet is written as it is.
fn write_param(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    let mut rest = value;
    while let Some(at) = memchr::memchr3(b'"', b'\\', b']', rest) {
        out.extend_from_slice(&rest[..at]);
        out.push(b'\\');
        out.push(rest[at]);
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// Whether `name` is a valid SD-NAME (section 6.3.2): 1-32 PRINTUSASCII except `=`, SP, `]`
/// and `"`.
pub fn is_sd_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= SD_NAME_MAX
        && name.bytes().all(|b| (33..=126).contains(&b) && !matches!(b, b'=' | b']' | b'"'))
}

/// Whether `id` is a valid private SD-ID (section 7.2.2): `name@enterprise-number`, where the
/// name is an SD-NAME without `@` and the number is digits, optionally dot-separated.
pub fn is_private_sd_id(id: &str) -> bool {
    let Some((name, number)) = id.split_once('@') else {
        return false;
    };
    is_sd_name(id)
        && !name.is_empty()
        && !number.is_empty()
        && number.split('.').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::Timestamp;

    fn event(json: &str) -> Event {
        let received = Timestamp::parse_rfc3339("2024-05-01T12:00:00Z").expect("valid");
        Event::decode(json.as_bytes(), received).expect("valid event")
    }

    fn encoder(sd_fields: &[(&str, &str)], message: MessageSource, max: Option<usize>) -> Rfc5424 {
        let fields =
            sd_fields.iter().map(|(name, path)| SdField { name: (*name).into(), path: (*path).into() }).collect();
        Rfc5424::new(Rfc5424Settings {
            facility: 16,
            hostname: "relay-host",
            app_name: "siem-relay",
            procid: "4242",
            sd_id: "siem@32473",
            sd_fields: fields,
            message,
            max_bytes: max,
            original_host: true,
        })
    }

    fn encode(encoder: &Rfc5424, json: &str) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let outcome = encoder.encode(&event(json), &mut out);
        (out, outcome.truncated)
    }

    const FINDING: &str = r#"{"event":"finding_added","id":"f-1","timestamp":"2024-05-01T10:00:00.1234567+02:00","severity":"high","title":"SQL injection","host":"web-1","data":{"cwe":"CWE-89"}}"#;

    #[test]
    fn a_mapped_hostname_keeps_the_original_in_the_structured_data() {
        let with = encoder(&[], MessageSource::Title, None);
        let (out, _) = encode(&with, r#"{"event":"x","id":"i","host":"ünï-host","timestamp":"2024-05-01T12:00:00Z"}"#);
        let text = String::from_utf8(out).expect("utf8");
        assert!(text.contains(r#" _n_-host siem-relay "#), "{text}");
        assert!(text.contains(r#"[siem@32473 id="i" severity="info" original_host="ünï-host"]"#), "{text}");
        for host in ["web-1", ""] {
            let (out, _) = encode(&with, &format!(r#"{{"event":"x","id":"i","host":"{host}"}}"#));
            assert!(!String::from_utf8(out).expect("utf8").contains("original_host"), "{host:?} is not mapped");
        }
        let (out, _) = encode(&with, r#"{"event":"x","id":"i","host":"-"}"#);
        assert!(String::from_utf8(out).expect("utf8").contains(r#"original_host="-""#));
        // An sd_fields entry carrying host keeps it already; no second copy.
        let carried = encoder(&[("host", "host")], MessageSource::Title, None);
        let (out, _) = encode(&carried, r#"{"event":"x","id":"i","host":"a b"}"#);
        let text = String::from_utf8(out).expect("utf8");
        assert!(text.contains(r#"host="a b""#) && !text.contains("original_host"), "{text}");
    }

    #[test]
    fn sd_severity_is_a_lower_case_name_or_the_score_as_sent() {
        let settings = || Rfc5424Settings {
            facility: 16,
            hostname: "relay",
            app_name: "siem-relay",
            procid: "1",
            sd_id: "siem@32473",
            sd_fields: Vec::new(),
            message: MessageSource::Title,
            max_bytes: None,
            original_host: true,
        };
        for (sent, written) in [(r#""HIGH""#, "high"), (r#""Critical""#, "critical"), ("7", "7"), ("0", "0")] {
            let mut out = Vec::new();
            let _ = Rfc5424::new(settings())
                .encode(&event(&format!(r#"{{"event":"x","id":"i","severity":{sent}}}"#)), &mut out);
            let text = String::from_utf8(out).expect("utf8");
            assert!(text.contains(&format!(r#"severity="{written}"]"#)), "{sent}: {text}");
        }
    }

    #[test]
    fn writes_every_header_field_and_structured_data() {
        let (out, truncated) = encode(&encoder(&[("cwe", "data.cwe")], MessageSource::Title, None), FINDING);
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "<131>1 2024-05-01T10:00:00.123456+02:00 web-1 siem-relay 4242 finding_added \
             [siem@32473 id=\"f-1\" severity=\"high\" cwe=\"CWE-89\"] SQL injection"
        );
        assert!(!truncated);
    }

    #[test]
    fn escapes_quote_backslash_and_bracket_in_param_values_only() {
        let (out, _) = encode(
            &encoder(&[("path", "path")], MessageSource::Title, None),
            r#"{"event":"x","id":"a\"b\\c]d","path":"C:\\[x]","title":"t \"q\" ] \\","timestamp":"2024-05-01T12:00:00Z"}"#,
        );
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            r#"<134>1 2024-05-01T12:00:00Z relay-host siem-relay 4242 x [siem@32473 id="a\"b\\c\]d" severity="info" path="C:\\[x\]"] t "q" ] \"#
        );
    }

    #[test]
    fn maps_header_fields_into_printusascii_and_cuts_them() {
        let long_type = "t".repeat(40);
        let (out, _) = encode(
            &encoder(&[], MessageSource::Title, None),
            &format!(
                r#"{{"event":"{long_type}","id":"1","host":"bad host\u00e9","timestamp":"2024-05-01T12:00:00Z","title":"x"}}"#
            ),
        );
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(
            text,
            format!(
                "<134>1 2024-05-01T12:00:00Z bad_host_ siem-relay 4242 {} [siem@32473 id=\"1\" severity=\"info\" original_host=\"bad hosté\"] x",
                "t".repeat(32)
            )
        );
    }

    #[test]
    fn non_ascii_msg_gets_a_bom_and_ascii_msg_does_not() {
        let plain = encoder(&[], MessageSource::Title, None);
        let (out, _) =
            encode(&plain, r#"{"event":"x","id":"1","timestamp":"2024-05-01T12:00:00Z","title":"Überprüfung"}"#);
        assert!(out.ends_with("] \u{feff}Überprüfung".as_bytes()));
        let (out, _) = encode(&plain, r#"{"event":"x","id":"1","timestamp":"2024-05-01T12:00:00Z","title":"plain"}"#);
        assert!(out.ends_with(b"] plain"));
    }

    #[test]
    fn empty_msg_is_left_out_with_its_space() {
        let (out, _) = encode(
            &encoder(&[], MessageSource::Title, None),
            r#"{"event":"x","id":"1","timestamp":"2024-05-01T12:00:00Z","title":""}"#,
        );
        assert!(out.ends_with(b"severity=\"info\"]"), "{}", String::from_utf8_lossy(&out));
    }

    #[test]
    fn json_message_carries_the_whole_event() {
        let (out, _) = encode(
            &encoder(&[], MessageSource::Json, None),
            r#"{"event":"x","id":"1","timestamp":"2024-05-01T12:00:00Z","n":[1,2]}"#,
        );
        assert!(out.ends_with(br#"] {"event":"x","id":"1","timestamp":"2024-05-01T12:00:00Z","n":[1,2]}"#));
    }

    #[test]
    fn non_string_and_missing_fields_in_structured_data() {
        let (out, _) = encode(
            &encoder(&[("n", "n"), ("obj", "obj"), ("gone", "gone"), ("nul", "nul")], MessageSource::Title, None),
            r#"{"event":"x","id":"1","timestamp":"2024-05-01T12:00:00Z","n":5,"obj":{"a":"]"},"nul":null,"title":"t"}"#,
        );
        assert!(String::from_utf8(out).expect("utf8").contains(r#"severity="info" n="5" obj="{\"a\":\"\]\"}"] t"#));
    }

    #[test]
    fn truncates_msg_on_a_character_boundary() {
        let title = "é".repeat(400);
        let json = format!(r#"{{"event":"x","id":"1","timestamp":"2024-05-01T12:00:00Z","title":"{title}"}}"#);
        for max in [480, 481, 500, 777] {
            let (out, truncated) = encode(&encoder(&[], MessageSource::Title, Some(max)), &json);
            assert!(truncated);
            assert!(out.len() == max || out.len() == max - 1, "max {max}: {}", out.len());
            let text = std::str::from_utf8(&out).expect("cut on a boundary");
            assert!(text.contains("] \u{feff}éé"));
        }
    }

    #[test]
    fn falls_back_to_smaller_structured_data_when_header_and_sd_do_not_fit() {
        let big = "v".repeat(600);
        let json =
            format!(r#"{{"event":"x","id":"1","timestamp":"2024-05-01T12:00:00Z","big":"{big}","title":"hello"}}"#);
        let (out, truncated) = encode(&encoder(&[("big", "big")], MessageSource::Title, Some(480)), &json);
        assert!(truncated);
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "<134>1 2024-05-01T12:00:00Z relay-host siem-relay 4242 x [siem@32473 id=\"1\" severity=\"info\"] hello"
        );
        let huge_id = "i".repeat(600);
        let json = format!(r#"{{"event":"x","id":"{huge_id}","timestamp":"2024-05-01T12:00:00Z","title":"hello"}}"#);
        let (out, _) = encode(&encoder(&[], MessageSource::Title, Some(480)), &json);
        assert_eq!(out, b"<134>1 2024-05-01T12:00:00Z relay-host siem-relay 4242 x - hello");
    }

    #[test]
    fn messages_within_the_limit_are_untouched() {
        let unlimited = encode(&encoder(&[], MessageSource::Json, None), FINDING).0;
        let (limited, truncated) = encode(&encoder(&[], MessageSource::Json, Some(unlimited.len())), FINDING);
        assert_eq!(limited, unlimited);
        assert!(!truncated);
    }

    #[test]
    fn validates_sd_names_and_private_ids() {
        assert!(is_sd_name("cwe"));
        assert!(!is_sd_name(""));
        assert!(!is_sd_name("a=b"));
        assert!(!is_sd_name("a b"));
        assert!(!is_sd_name("a]"));
        assert!(!is_sd_name("a\""));
        assert!(!is_sd_name(&"n".repeat(33)));
        assert!(is_private_sd_id("siem@32473"));
        assert!(is_private_sd_id("x@1.2.3"));
        assert!(!is_private_sd_id("siem"));
        assert!(!is_private_sd_id("@32473"));
        assert!(!is_private_sd_id("a@b@1"));
        assert!(!is_private_sd_id("siem@"));
        assert!(!is_private_sd_id("siem@12a"));
        assert!(!is_private_sd_id("siem@1..2"));
    }
}
