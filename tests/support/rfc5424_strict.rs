//! Strict, std-only validator for RFC 5424 syslog messages and RFC 6587
//! octet-counted framing, written from the RFC text (not from any encoder).
//!
//! Include it from an integration test with
//! `#[path = "support/rfc5424_strict.rs"] mod rfc5424_strict;`.
//! Its self-tests can be run without cargo:
//! `rustc --edition 2021 --test tests/support/rfc5424_strict.rs -o /tmp/t && /tmp/t`.
//! (They are `#[cfg(test)]`, so they also run, in well under a second, inside
//! every integration-test binary that includes this module.)
//!
//! # What is checked, and where the rule comes from
//!
//! Every check returns a [`ParseError`] carrying the byte offset of the
//! offending octet and a reason that names the rule and the RFC section.
//!
//! | Check | Source |
//! |---|---|
//! | `SYSLOG-MSG = HEADER SP STRUCTURED-DATA [SP MSG]`; exactly one SP between fields | RFC 5424 §6 (ABNF) |
//! | PRI = `"<" PRIVAL ">"`, PRIVAL = 1*3DIGIT, value 0..=191 | RFC 5424 §6, §6.2.1 |
//! | no leading zero in PRIVAL (`<0>` ok, `<01>` rejected) | RFC 5424 §6.2.1 ("leading \"0\"s MUST NOT be used") |
//! | VERSION = NONZERO-DIGIT 0*2DIGIT, and only `1` is accepted | RFC 5424 §6, §6.2.2 |
//! | HEADER is PRINTUSASCII (%d33-126) only | RFC 5424 §6, §6.2 |
//! | TIMESTAMP = NILVALUE / FULL-DATE "T" FULL-TIME; `T` and `Z` upper case | RFC 5424 §6, §6.2.3 |
//! | DATE-MONTH 01-12, DATE-MDAY valid for month and (Gregorian) leap year | RFC 5424 §6 (ABNF comments) |
//! | hour 00-23, minute 00-59, second 00-59 (no leap second `60`) | RFC 5424 §6, §6.2.3 |
//! | TIME-SECFRAC = "." 1*6DIGIT (7+ digits rejected) | RFC 5424 §6, §6.2.3.1 example 5 |
//! | TIME-OFFSET = "Z" / ("+"/"-") hh ":" mm, hh 00-23, mm 00-59 | RFC 5424 §6 |
//! | HOSTNAME 1*255, APP-NAME 1*48, PROCID 1*128, MSGID 1*32 PRINTUSASCII, or NILVALUE | RFC 5424 §6, §6.2.4-§6.2.7 |
//! | STRUCTURED-DATA = NILVALUE / 1*SD-ELEMENT, no SP between elements | RFC 5424 §6, §6.3, §6.3.5 ex. 2 |
//! | SD-ELEMENT = "[" SD-ID *(SP SD-PARAM) "]"; SD-ID right after `[` | RFC 5424 §6, §6.3.5 ex. 4 |
//! | SD-NAME = 1*32 PRINTUSASCII except `=`, SP, `]`, `"` | RFC 5424 §6 |
//! | SD-ID with `@`: `name@PEN`, name non-empty, one `@`, PEN = digits with `.`-separated decimal sub-identifiers | RFC 5424 §6.3.2, §7.2.2 |
//! | SD-ID without `@`: must be IANA-registered ([`IANA_SD_IDS`]) | RFC 5424 §6.3.2, §7 |
//! | the same SD-ID at most once per message | RFC 5424 §6.3.2 |
//! | SD-PARAM = PARAM-NAME "=" %d34 PARAM-VALUE %d34 | RFC 5424 §6 |
//! | PARAM-VALUE: `"`, `\` and `]` MUST be escaped; unescaped `]`/`"` rejected | RFC 5424 §6.3.3 |
//! | PARAM-VALUE is valid shortest-form UTF-8 | RFC 5424 §6.3, §6.3.3, RFC 3629 |
//! | PARAM-NAMEs of IANA SD-IDs are the registered ones, with their value rules | RFC 5424 §6.3.3, §7.1-§7.3 |
//! | after STRUCTURED-DATA: end of message or SP MSG | RFC 5424 §6 |
//! | MSG starting with BOM (EF BB BF) is MSG-UTF8: rest must be valid shortest-form UTF-8 | RFC 5424 §6, §6.4 |
//! | octet counting: `MSG-LEN SP SYSLOG-MSG`, MSG-LEN = NONZERO-DIGIT *DIGIT, no trailing bytes | RFC 6587 §3.4.1 |
//! | truncation (if any) only at the end, limit >= 480 | RFC 5424 §6.1 ([`validate_truncation`]) |
//!
//! # Ambiguities and how they are resolved
//!
//! * **Invalid escapes in PARAM-VALUE (§6.3.3).** The RFC says the sender
//!   MUST escape `"`, `\` and `]`, and that a *receiver* seeing `\` followed by
//!   any other character treats it as a literal backslash plus that character.
//!   Because every backslash a conforming sender emits is followed by one of
//!   the three characters, `\x` on the wire proves the sender did not escape a
//!   backslash. [`parse`] therefore REJECTS it (sender conformance). The
//!   receiver rule is available via [`ParseOptions::accept_invalid_escapes`],
//!   which keeps both characters literally (`\n` -> `\n`, two chars).
//! * **Empty MSG after SP.** `[SP MSG]` with `MSG-ANY = *OCTET` allows a
//!   trailing SP with an empty MSG; it is accepted as `Some(Msg::Any(b""))`.
//!   No SP at all gives `msg: None`.
//! * **`]SP[` (§6.3.5 example 3).** The RFC calls it invalid STRUCTURED-DATA,
//!   but by the ABNF the whole message still parses, with the second element
//!   becoming MSG-ANY. [`parse`] follows the ABNF (MSG is free-form, §6.4, and
//!   may legitimately start with `[`); set
//!   [`ParseOptions::reject_msg_starting_with_bracket`] to reject it.
//! * **Registered SD-IDs.** Only the three SD-IDs of RFC 5424 §7 are accepted
//!   without `@`. Later RFCs registered more (e.g. `ssign` in RFC 5848); they
//!   are rejected here because this validator targets RFC 5424 alone. §6.3.5
//!   example 5 (`sigSig`) is labelled valid only as a *hypothetical*
//!   registration, so it is rejected too (§6.3.2: "only valid if they are first
//!   registered").
//! * **Private enterprise number (§7.2.2).** `1*DIGIT *("." 1*DIGIT)`; an arc
//!   with a leading zero (`032473`, `1.02`) is rejected since arcs are decimal
//!   numbers, not digit strings.
//! * **Integer parameters (§7.1.3, §7.3.1, §7.3.2)** must be plain decimal
//!   without leading zeros; `sequenceId` 1..=2147483647; `sysUpTime` must fit
//!   SNMP `TimeTicks` (u32, RFC 3418/2578). `language` gets a syntactic BCP 47
//!   check only (subtags of 1-8 alphanumerics, first subtag 2-8 letters or a
//!   singleton `x`/`i`).
//! * **Message length (§6.1)** has no upper limit per se, so [`parse`] does
//!   not impose one; the constants and [`validate_truncation`] cover the
//!   truncation rules for tests that need them.
//! * Year `0000` and offset `-00:00` are accepted (the ABNF allows them).
//! * Control characters in PARAM-VALUE and MSG are allowed (§6.3.3, §6.4
//!   "SHOULD avoid", §8.2), so they are not rejected.
#![allow(dead_code)]

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Largest PRIVAL: facility 23 * 8 + severity 7 (RFC 5424 §6, §6.2.1).
pub const MAX_PRIVAL: u8 = 191;
/// The only VERSION this validator accepts (RFC 5424 §6.2.2).
pub const SUPPORTED_VERSION: u8 = 1;
/// HOSTNAME = NILVALUE / 1*255PRINTUSASCII (RFC 5424 §6).
pub const MAX_HOSTNAME_LEN: usize = 255;
/// APP-NAME = NILVALUE / 1*48PRINTUSASCII (RFC 5424 §6).
pub const MAX_APP_NAME_LEN: usize = 48;
/// PROCID = NILVALUE / 1*128PRINTUSASCII (RFC 5424 §6).
pub const MAX_PROCID_LEN: usize = 128;
/// MSGID = NILVALUE / 1*32PRINTUSASCII (RFC 5424 §6).
pub const MAX_MSGID_LEN: usize = 32;
/// SD-NAME = 1*32PRINTUSASCII (RFC 5424 §6).
pub const MAX_SD_NAME_LEN: usize = 32;
/// TIME-SECFRAC = "." 1*6DIGIT (RFC 5424 §6).
pub const MAX_SECFRAC_DIGITS: usize = 6;
/// Every transport receiver MUST accept messages up to this size (RFC 5424 §6.1).
pub const MIN_MAX_MESSAGE_LEN: usize = 480;
/// Receivers SHOULD accept messages up to this size (RFC 5424 §6.1).
pub const RECOMMENDED_MAX_MESSAGE_LEN: usize = 2048;
/// meta/sequenceId maximum (RFC 5424 §7.3.1).
pub const MAX_SEQUENCE_ID: u64 = 2_147_483_647;
/// origin/software maximum length in characters (RFC 5424 §7.2.3).
pub const MAX_SOFTWARE_CHARS: usize = 48;
/// origin/swVersion maximum length in characters (RFC 5424 §7.2.4).
pub const MAX_SW_VERSION_CHARS: usize = 32;
/// UTF-8 byte order mark, BOM = %xEF.BB.BF (RFC 5424 §6).
pub const BOM: &[u8] = b"\xEF\xBB\xBF";
/// SD-IDs registered by RFC 5424 §7 (the only `@`-less SD-IDs accepted).
pub const IANA_SD_IDS: &[&str] = &["timeQuality", "origin", "meta"];

/// A fully validated RFC 5424 message. NILVALUE fields are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub pri: u8,
    pub facility: u8,
    pub severity: u8,
    pub version: u8,
    pub timestamp: Option<&'a str>,
    pub hostname: Option<&'a str>,
    pub app_name: Option<&'a str>,
    pub procid: Option<&'a str>,
    pub msgid: Option<&'a str>,
    /// Empty means STRUCTURED-DATA was the NILVALUE.
    pub structured_data: Vec<SdElement>,
    /// `None` when the message ends right after STRUCTURED-DATA.
    pub msg: Option<Msg<'a>>,
}

impl Message<'_> {
    /// The SD-ELEMENT with this SD-ID, if present.
    #[must_use]
    pub fn sd(&self, id: &str) -> Option<&SdElement> {
        self.structured_data.iter().find(|e| e.id == id)
    }

    /// First value of `param` inside SD-ELEMENT `id`.
    #[must_use]
    pub fn sd_param(&self, id: &str, param: &str) -> Option<&str> {
        self.sd(id).and_then(|e| e.param(param))
    }
}

/// One SD-ELEMENT; parameter values are unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement {
    pub id: String,
    pub params: Vec<(String, String)>,
}

impl SdElement {
    /// First value of the named parameter (SD-PARAMs may repeat, §6.3.3).
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// All values of the named parameter, in order.
    pub fn params_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.params.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// MSG = MSG-UTF8 (BOM stripped) / MSG-ANY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg<'a> {
    Utf8(&'a str),
    Any(&'a [u8]),
}

impl<'a> Msg<'a> {
    /// The MSG octets (without the BOM for MSG-UTF8).
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        match *self {
            Msg::Utf8(s) => s.as_bytes(),
            Msg::Any(b) => b,
        }
    }
}

/// Why the input is not a valid message; `offset` is a byte index into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub offset: usize,
    pub reason: String,
}

impl ParseError {
    fn new(offset: usize, reason: impl Into<String>) -> Self {
        ParseError { offset, reason: reason.into() }
    }

    fn shifted(self, by: usize) -> Self {
        ParseError { offset: self.offset + by, reason: self.reason }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// Knobs for the two places where the RFC leaves room (see module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParseOptions {
    /// Apply the RFC 5424 §6.3.3 receiver rule: `\` followed by anything but
    /// `"`, `\`, `]` is kept literally (both characters). Default: reject.
    pub accept_invalid_escapes: bool,
    /// Reject a MSG-ANY starting with `[` (RFC 5424 §6.3.5 example 3,
    /// `]SP[`). Default: accept, as the ABNF does.
    pub reject_msg_starting_with_bracket: bool,
}

/// Strictly parse one RFC 5424 SYSLOG-MSG (no framing, no trailing LF).
///
/// # Errors
/// The first RFC 5424 violation found, with its byte offset in `input`.
pub fn parse(input: &[u8]) -> Result<Message<'_>, ParseError> {
    parse_with(input, ParseOptions::default())
}

/// `parse(input).is_ok()`.
#[must_use]
pub fn is_valid(input: &[u8]) -> bool {
    parse(input).is_ok()
}

/// [`parse`] with explicit [`ParseOptions`].
///
/// # Errors
/// As [`parse`].
pub fn parse_with(input: &[u8], opts: ParseOptions) -> Result<Message<'_>, ParseError> {
    let mut p = Parser { input, pos: 0, opts };

    // HEADER = PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID
    let pri = p.pri()?;
    let version = p.version()?;
    p.expect_sp("VERSION", "TIMESTAMP")?;
    let timestamp = p.timestamp()?;
    p.expect_sp("TIMESTAMP", "HOSTNAME")?;
    let hostname = p.header_field("HOSTNAME", MAX_HOSTNAME_LEN)?;
    p.expect_sp("HOSTNAME", "APP-NAME")?;
    let app_name = p.header_field("APP-NAME", MAX_APP_NAME_LEN)?;
    p.expect_sp("APP-NAME", "PROCID")?;
    let procid = p.header_field("PROCID", MAX_PROCID_LEN)?;
    p.expect_sp("PROCID", "MSGID")?;
    let msgid = p.header_field("MSGID", MAX_MSGID_LEN)?;
    p.expect_sp("MSGID", "STRUCTURED-DATA")?;

    let structured_data = p.structured_data()?;

    // SYSLOG-MSG = HEADER SP STRUCTURED-DATA [SP MSG]
    let msg = match p.peek() {
        None => None,
        Some(b' ') => {
            let start = p.pos + 1;
            let raw = &input[start..];
            let msg = validate_utf8_bom_rule(raw).map_err(|e| e.shifted(start))?;
            if opts.reject_msg_starting_with_bracket && raw.first() == Some(&b'[') {
                return Err(ParseError::new(
                    start,
                    "MSG starts with '[': an SD-ELEMENT separated from STRUCTURED-DATA by SP \
                     ends STRUCTURED-DATA and becomes MSG (RFC 5424 6.3.5 example 3)",
                ));
            }
            Some(msg)
        }
        Some(b) => {
            let reason = if structured_data.is_empty() {
                format!(
                    "NILVALUE STRUCTURED-DATA must be followed by SP or end of message, found {} \
                     (SYSLOG-MSG = HEADER SP STRUCTURED-DATA [SP MSG], RFC 5424 6)",
                    describe(b)
                )
            } else {
                format!(
                    "after SD-ELEMENT expected '[', SP or end of message, found {} \
                     (SYSLOG-MSG = HEADER SP STRUCTURED-DATA [SP MSG], RFC 5424 6)",
                    describe(b)
                )
            };
            return Err(ParseError::new(p.pos, reason));
        }
    };

    Ok(Message {
        pri,
        facility: pri / 8,
        severity: pri % 8,
        version,
        timestamp,
        hostname,
        app_name,
        procid,
        msgid,
        structured_data,
        msg,
    })
}

/// RFC 5424 §6 / §6.4: a MSG starting with BOM is MSG-UTF8 and the rest MUST
/// be valid shortest-form UTF-8 (RFC 3629); anything else is MSG-ANY.
/// Offsets in the error are relative to `msg`.
///
/// # Errors
/// A BOM followed by invalid or non-shortest-form UTF-8.
pub fn validate_utf8_bom_rule(msg: &[u8]) -> Result<Msg<'_>, ParseError> {
    match msg.strip_prefix(BOM) {
        Some(rest) => std::str::from_utf8(rest).map(Msg::Utf8).map_err(|e| {
            ParseError::new(
                BOM.len() + e.valid_up_to(),
                "MSG starts with BOM so it is MSG-UTF8, but the rest is not valid shortest-form \
                 UTF-8 (RFC 5424 6.4, RFC 3629)",
            )
        }),
        None => Ok(Msg::Any(msg)),
    }
}

/// RFC 6587 §3.4.1 octet counting: `TCP-DATA = *SYSLOG-FRAME`,
/// `SYSLOG-FRAME = MSG-LEN SP SYSLOG-MSG`, `MSG-LEN = NONZERO-DIGIT *DIGIT`.
/// Returns the SYSLOG-MSG slices. Any framing violation, a truncated frame or
/// trailing bytes that do not form a frame is an error.
///
/// # Errors
/// The first framing violation, with its byte offset in `stream`.
pub fn split_octet_counted(stream: &[u8]) -> Result<Vec<&[u8]>, ParseError> {
    Ok(split_with_offsets(stream)?.into_iter().map(|(_, frame)| frame).collect())
}

/// [`split_octet_counted`] followed by [`parse`] of every frame; error offsets
/// are relative to `stream`.
///
/// # Errors
/// The first framing or message violation, offset relative to `stream`.
pub fn parse_octet_counted(stream: &[u8]) -> Result<Vec<Message<'_>>, ParseError> {
    split_with_offsets(stream)?.into_iter().map(|(start, frame)| parse(frame).map_err(|e| e.shifted(start))).collect()
}

fn split_with_offsets(stream: &[u8]) -> Result<Vec<(usize, &[u8])>, ParseError> {
    let mut frames = Vec::new();
    let mut pos = 0;
    while pos < stream.len() {
        let len_start = pos;
        match stream[pos] {
            b'1'..=b'9' => {}
            b'0' => {
                let reason = if stream.get(pos + 1).is_some_and(u8::is_ascii_digit) {
                    "MSG-LEN has a leading zero (MSG-LEN = NONZERO-DIGIT *DIGIT, RFC 6587 3.4.1)"
                } else {
                    "MSG-LEN is zero (MSG-LEN = NONZERO-DIGIT *DIGIT, RFC 6587 3.4.1)"
                };
                return Err(ParseError::new(pos, reason));
            }
            b => {
                return Err(ParseError::new(
                    pos,
                    format!(
                        "expected MSG-LEN (NONZERO-DIGIT) at start of frame, found {} \
                         (trailing garbage? RFC 6587 3.4.1)",
                        describe(b)
                    ),
                ))
            }
        }
        let mut len: usize = 0;
        while let Some(&b) = stream.get(pos).filter(|b| b.is_ascii_digit()) {
            len = len
                .checked_mul(10)
                .and_then(|l| l.checked_add(usize::from(b - b'0')))
                .ok_or_else(|| ParseError::new(len_start, "MSG-LEN overflows usize"))?;
            pos += 1;
        }
        match stream.get(pos) {
            Some(b' ') => pos += 1,
            Some(&b) => {
                return Err(ParseError::new(
                    pos,
                    format!(
                        "expected SP after MSG-LEN, found {} (SYSLOG-FRAME = MSG-LEN SP \
                         SYSLOG-MSG, RFC 6587 3.4.1)",
                        describe(b)
                    ),
                ))
            }
            None => {
                return Err(ParseError::new(
                    pos,
                    "truncated frame: end of stream after MSG-LEN, expected SP (RFC 6587 3.4.1)",
                ))
            }
        }
        let remaining = stream.len() - pos;
        if len > remaining {
            return Err(ParseError::new(
                len_start,
                format!(
                    "truncated frame: MSG-LEN is {len} but only {remaining} octets remain \
                     (RFC 6587 3.4.1)"
                ),
            ));
        }
        frames.push((pos, &stream[pos..pos + len]));
        pos += len;
    }
    Ok(frames)
}

/// RFC 5424 §6.1: a size limit must be at least 480 octets; a message that
/// fits must be passed unaltered; a longer one may be truncated, and then only
/// at the end (the result is a prefix of the original, at most `limit` long).
/// Note a truncated message may legitimately fail [`parse`] (§6.1).
///
/// # Errors
/// A limit below 480, an altered message, or truncation other than at the end.
pub fn validate_truncation(original: &[u8], emitted: &[u8], limit: usize) -> Result<(), ParseError> {
    if limit < MIN_MAX_MESSAGE_LEN {
        return Err(ParseError::new(
            0,
            format!("size limit {limit} is below the 480-octet minimum maximum (RFC 5424 6.1)"),
        ));
    }
    if original.len() <= limit {
        return match original.iter().zip(emitted).position(|(a, b)| a != b) {
            None if original.len() == emitted.len() => Ok(()),
            mismatch => Err(ParseError::new(
                mismatch.unwrap_or(original.len().min(emitted.len())),
                format!(
                    "message of {} octets fits the {limit}-octet limit but was altered \
                     (RFC 5424 6.1)",
                    original.len()
                ),
            )),
        };
    }
    if emitted.len() > limit {
        return Err(ParseError::new(
            limit,
            format!("emitted {} octets, more than the limit {limit} (RFC 5424 6.1)", emitted.len()),
        ));
    }
    match original.iter().zip(emitted).position(|(a, b)| a != b) {
        Some(at) => Err(ParseError::new(
            at,
            "truncated message is not a prefix of the original: truncation MUST occur at the end \
             of the message (RFC 5424 6.1)",
        )),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// Parser internals
// ---------------------------------------------------------------------------

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    opts: ParseOptions,
}

fn describe(b: u8) -> String {
    match b {
        b' ' => "SP".to_string(),
        0x21..=0x7e => format!("'{}'", char::from(b)),
        _ => format!("octet 0x{b:02X}"),
    }
}

fn is_printusascii(b: u8) -> bool {
    (33..=126).contains(&b)
}

/// SD-NAME = 1*32PRINTUSASCII except '=', SP, ']', %d34 (RFC 5424 §6).
fn is_sd_name_char(b: u8) -> bool {
    is_printusascii(b) && !matches!(b, b'=' | b']' | b'"')
}

fn ascii_str(bytes: &[u8], offset: usize) -> Result<&str, ParseError> {
    std::str::from_utf8(bytes).map_err(|e| ParseError::new(offset + e.valid_up_to(), "field is not ASCII"))
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn scan_digits(&self, from: usize) -> usize {
        let mut end = from;
        while self.input.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        end
    }

    /// PRI = "<" PRIVAL ">", PRIVAL = 1*3DIGIT ; range 0 .. 191 (RFC 5424 §6, §6.2.1).
    fn pri(&mut self) -> Result<u8, ParseError> {
        match self.peek() {
            Some(b'<') => self.pos += 1,
            Some(b) => {
                return Err(ParseError::new(
                    0,
                    format!("PRI: message must start with '<', found {} (RFC 5424 6.2.1)", describe(b)),
                ))
            }
            None => return Err(ParseError::new(0, "empty input: expected PRI '<' (RFC 5424 6)")),
        }
        let start = self.pos;
        let end = self.scan_digits(start);
        let digits = &self.input[start..end];
        if digits.is_empty() {
            let reason = match self.peek() {
                Some(b'>') => "PRI: empty PRIVAL (PRIVAL = 1*3DIGIT, RFC 5424 6)".to_string(),
                Some(b) => format!(
                    "PRI: PRIVAL must be decimal digits, found {} (PRIVAL = 1*3DIGIT, RFC 5424 6.2.1)",
                    describe(b)
                ),
                None => "unexpected end of input in PRI".to_string(),
            };
            return Err(ParseError::new(start, reason));
        }
        if digits.len() > 3 {
            return Err(ParseError::new(
                start + 3,
                "PRI: PRIVAL has more than 3 digits (PRIVAL = 1*3DIGIT, RFC 5424 6, 6.2.1)",
            ));
        }
        if digits.len() > 1 && digits[0] == b'0' {
            return Err(ParseError::new(
                start,
                "PRI: leading zero in PRIVAL (RFC 5424 6.2.1: leading \"0\"s MUST NOT be used)",
            ));
        }
        let value = digits.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        let pri = u8::try_from(value).ok().filter(|v| *v <= MAX_PRIVAL).ok_or_else(|| {
            ParseError::new(start, format!("PRI: PRIVAL {value} out of range 0..=191 (RFC 5424 6, 6.2.1)"))
        })?;
        self.pos = end;
        match self.peek() {
            Some(b'>') => {
                self.pos += 1;
                Ok(pri)
            }
            Some(b) => Err(ParseError::new(
                self.pos,
                format!(
                    "PRI: expected DIGIT or '>' after PRIVAL, found {} (PRI = \"<\" PRIVAL \">\", RFC 5424 6)",
                    describe(b)
                ),
            )),
            None => Err(ParseError::new(self.pos, "unexpected end of input: expected '>' closing PRI")),
        }
    }

    /// VERSION = NONZERO-DIGIT 0*2DIGIT; only "1" is defined (RFC 5424 §6, §6.2.2).
    fn version(&mut self) -> Result<u8, ParseError> {
        let start = self.pos;
        let end = self.scan_digits(start);
        let digits = &self.input[start..end];
        if digits.is_empty() {
            let reason = match self.peek() {
                Some(b) => format!(
                    "VERSION missing: expected NONZERO-DIGIT right after PRI, found {} \
                     (HEADER = PRI VERSION SP ..., RFC 5424 6)",
                    describe(b)
                ),
                None => "unexpected end of input: missing VERSION".to_string(),
            };
            return Err(ParseError::new(start, reason));
        }
        if digits[0] == b'0' {
            return Err(ParseError::new(
                start,
                "VERSION must start with NONZERO-DIGIT (VERSION = NONZERO-DIGIT 0*2DIGIT, RFC 5424 6)",
            ));
        }
        if digits.len() > 3 {
            return Err(ParseError::new(
                start + 3,
                "VERSION has more than 3 digits (VERSION = NONZERO-DIGIT 0*2DIGIT, RFC 5424 6)",
            ));
        }
        if digits != b"1" {
            return Err(ParseError::new(
                start,
                format!(
                    "unsupported VERSION {}: only \"1\" is defined (RFC 5424 6.2.2)",
                    String::from_utf8_lossy(digits)
                ),
            ));
        }
        self.pos = end;
        Ok(SUPPORTED_VERSION)
    }

    fn expect_sp(&mut self, after: &str, next: &str) -> Result<(), ParseError> {
        match self.peek() {
            Some(b' ') => {
                self.pos += 1;
                Ok(())
            }
            Some(b) => Err(ParseError::new(
                self.pos,
                format!(
                    "expected SP after {after}, found {} (fields are separated by exactly one SP, \
                     RFC 5424 6)",
                    describe(b)
                ),
            )),
            None => Err(ParseError::new(
                self.pos,
                format!("unexpected end of input after {after}: expected SP {next} (RFC 5424 6)"),
            )),
        }
    }

    /// Takes 1*max PRINTUSASCII up to the next SP / end of input.
    fn token(&mut self, name: &str, max: usize) -> Result<(usize, &'a [u8]), ParseError> {
        let start = self.pos;
        match self.peek() {
            None => {
                return Err(ParseError::new(start, format!("unexpected end of input: missing {name} (RFC 5424 6)")))
            }
            Some(b' ') => {
                return Err(ParseError::new(
                    start,
                    format!(
                        "{name}: empty field, found a second SP (header fields are separated by \
                         exactly one SP, RFC 5424 6)"
                    ),
                ))
            }
            Some(_) => {}
        }
        let mut end = start;
        while let Some(&b) = self.input.get(end) {
            if b == b' ' {
                break;
            }
            if !is_printusascii(b) {
                return Err(ParseError::new(
                    end,
                    format!(
                        "{name}: {} is not PRINTUSASCII (%d33-126; HEADER MUST be seven-bit ASCII, \
                         RFC 5424 6, 6.2)",
                        describe(b)
                    ),
                ));
            }
            end += 1;
        }
        if end - start > max {
            return Err(ParseError::new(
                start + max,
                format!(
                    "{name} is {} octets, longer than the maximum {max} (1*{max}PRINTUSASCII, RFC 5424 6)",
                    end - start
                ),
            ));
        }
        self.pos = end;
        Ok((start, &self.input[start..end]))
    }

    /// HOSTNAME / APP-NAME / PROCID / MSGID = NILVALUE / 1*maxPRINTUSASCII.
    fn header_field(&mut self, name: &str, max: usize) -> Result<Option<&'a str>, ParseError> {
        let (start, tok) = self.token(name, max)?;
        if tok == b"-" {
            return Ok(None);
        }
        ascii_str(tok, start).map(Some)
    }

    /// TIMESTAMP = NILVALUE / FULL-DATE "T" FULL-TIME (RFC 5424 §6, §6.2.3).
    fn timestamp(&mut self) -> Result<Option<&'a str>, ParseError> {
        let (start, tok) = self.token("TIMESTAMP", usize::MAX)?;
        if tok == b"-" {
            return Ok(None);
        }
        validate_timestamp(tok, start)?;
        ascii_str(tok, start).map(Some)
    }

    /// STRUCTURED-DATA = NILVALUE / 1*SD-ELEMENT (RFC 5424 §6, §6.3).
    fn structured_data(&mut self) -> Result<Vec<SdElement>, ParseError> {
        let mut elements = Vec::new();
        match self.peek() {
            None => {
                return Err(ParseError::new(
                    self.pos,
                    "unexpected end of input: missing STRUCTURED-DATA (NILVALUE '-' when there is \
                     none, RFC 5424 6.3)",
                ))
            }
            Some(b'-') => {
                self.pos += 1;
                return Ok(elements);
            }
            Some(b'[') => {}
            Some(b' ') => {
                return Err(ParseError::new(
                    self.pos,
                    "extra SP before STRUCTURED-DATA (exactly one SP after MSGID, RFC 5424 6)",
                ))
            }
            Some(b) => {
                return Err(ParseError::new(
                    self.pos,
                    format!(
                        "STRUCTURED-DATA must be NILVALUE '-' or start with '[', found {} \
                         (RFC 5424 6, 6.3)",
                        describe(b)
                    ),
                ))
            }
        }
        while self.peek() == Some(b'[') {
            let element = self.sd_element(&elements)?;
            elements.push(element);
        }
        Ok(elements)
    }

    /// SD-ELEMENT = "[" SD-ID *(SP SD-PARAM) "]" (RFC 5424 §6, §6.3.1-§6.3.3).
    fn sd_element(&mut self, seen: &[SdElement]) -> Result<SdElement, ParseError> {
        self.pos += 1; // '['
        let id_start = self.pos;
        let id = self.sd_name("SD-ID", b" ]")?;
        validate_sd_id(id, id_start)?;
        if seen.iter().any(|e| e.id == id) {
            return Err(ParseError::new(
                id_start,
                format!(
                    "duplicate SD-ID \"{id}\": the same SD-ID MUST NOT exist more than once in a \
                     message (RFC 5424 6.3.2)"
                ),
            ));
        }
        let mut params = Vec::new();
        let mut offsets = Vec::new();
        loop {
            match self.peek() {
                Some(b']') => {
                    self.pos += 1;
                    break;
                }
                Some(b' ') => {
                    self.pos += 1;
                    offsets.push(self.pos);
                    params.push(self.sd_param()?);
                }
                // sd_name / sd_param only stop on SP or ']' or report an error.
                Some(b) => {
                    return Err(ParseError::new(
                        self.pos,
                        format!("expected SP or ']' in SD-ELEMENT, found {}", describe(b)),
                    ))
                }
                None => {
                    return Err(ParseError::new(
                        self.pos,
                        "unexpected end of input inside SD-ELEMENT: missing ']' (RFC 5424 6)",
                    ))
                }
            }
        }
        if !id.contains('@') {
            check_registered_params(id, &params, &offsets)?;
        }
        Ok(SdElement { id: id.to_string(), params })
    }

    /// SD-NAME = 1*32PRINTUSASCII except '=', SP, ']', '"' (RFC 5424 §6);
    /// must be followed by one of `terms`.
    fn sd_name(&mut self, what: &str, terms: &[u8]) -> Result<&'a str, ParseError> {
        let start = self.pos;
        let mut end = start;
        while self.input.get(end).is_some_and(|&b| is_sd_name_char(b)) {
            end += 1;
        }
        if end == start {
            let reason = match self.peek() {
                None => format!("unexpected end of input: expected {what}"),
                Some(b' ') if what == "SD-ID" => "SP after '[': the SD-ID MUST immediately follow \
                     '[' (SD-ELEMENT = \"[\" SD-ID ..., RFC 5424 6.3.5 example 4)"
                    .to_string(),
                Some(b' ') => "two SPs in SD-ELEMENT: exactly one SP precedes each SD-PARAM \
                     (SD-ELEMENT = \"[\" SD-ID *(SP SD-PARAM) \"]\", RFC 5424 6)"
                    .to_string(),
                Some(b']') if what == "SD-ID" => "empty SD-ID (SD-NAME = 1*32PRINTUSASCII, RFC 5424 6)".to_string(),
                Some(b']') => "SP before ']': SD-ELEMENT = \"[\" SD-ID *(SP SD-PARAM) \"]\" \
                     allows no trailing SP (RFC 5424 6)"
                    .to_string(),
                Some(b) => format!(
                    "empty {what}: {} cannot start an SD-NAME (1*32PRINTUSASCII except '=', SP, \
                     ']', '\"', RFC 5424 6)",
                    describe(b)
                ),
            };
            return Err(ParseError::new(start, reason));
        }
        if end - start > MAX_SD_NAME_LEN {
            return Err(ParseError::new(
                start + MAX_SD_NAME_LEN,
                format!(
                    "{what} is {} characters, longer than 32 (SD-NAME = 1*32PRINTUSASCII, RFC 5424 6)",
                    end - start
                ),
            ));
        }
        let name = ascii_str(&self.input[start..end], start)?;
        match self.input.get(end) {
            Some(b) if terms.contains(b) => {}
            None => return Err(ParseError::new(end, format!("unexpected end of input after {what} \"{name}\""))),
            Some(&b) => {
                let expected: Vec<String> = terms.iter().map(|&t| describe(t)).collect();
                return Err(ParseError::new(
                    end,
                    format!(
                        "{what} \"{name}\" followed by {} where {} was expected (SD-NAME is \
                         PRINTUSASCII except '=', SP, ']', '\"', RFC 5424 6)",
                        describe(b),
                        expected.join(" or ")
                    ),
                ));
            }
        }
        self.pos = end;
        Ok(name)
    }

    /// SD-PARAM = PARAM-NAME "=" %d34 PARAM-VALUE %d34 (RFC 5424 §6, §6.3.3).
    #[allow(clippy::too_many_lines)] // one linear walk over the ABNF production
    fn sd_param(&mut self) -> Result<(String, String), ParseError> {
        let name = self.sd_name("PARAM-NAME", b"=")?;
        self.pos += 1; // '='
        match self.peek() {
            Some(b'"') => self.pos += 1,
            Some(b) => {
                return Err(ParseError::new(
                    self.pos,
                    format!(
                        "PARAM-VALUE of \"{name}\" must be enclosed in '\"', found {} \
                         (SD-PARAM = PARAM-NAME \"=\" %d34 PARAM-VALUE %d34, RFC 5424 6)",
                        describe(b)
                    ),
                ))
            }
            None => {
                return Err(ParseError::new(self.pos, "unexpected end of input: expected '\"' opening PARAM-VALUE"))
            }
        }
        let vstart = self.pos;
        let mut i = vstart;
        loop {
            match self.input.get(i) {
                None => {
                    return Err(ParseError::new(
                        i,
                        format!(
                            "unterminated PARAM-VALUE of \"{name}\" (opened at byte {}): missing \
                             closing '\"'",
                            vstart - 1
                        ),
                    ))
                }
                Some(b'"') => break,
                Some(b'\\') => match self.input.get(i + 1) {
                    Some(b'"' | b'\\' | b']') => i += 2,
                    // RFC 5424 6.3.3 receiver rule: keep '\' and treat the next char normally.
                    Some(_) if self.opts.accept_invalid_escapes => i += 1,
                    Some(&b) => {
                        return Err(ParseError::new(
                            i,
                            format!(
                                "invalid escape sequence '\\' followed by {} in PARAM-VALUE of \
                                 \"{name}\": a literal '\\' MUST be escaped as '\\\\'; only \
                                 '\\\"', '\\\\' and '\\]' are escapes (RFC 5424 6.3.3)",
                                describe(b)
                            ),
                        ))
                    }
                    None => return Err(ParseError::new(i + 1, "unexpected end of input after '\\' in PARAM-VALUE")),
                },
                Some(b']') => {
                    return Err(ParseError::new(
                        i,
                        format!(
                            "unescaped ']' in PARAM-VALUE of \"{name}\": ']' MUST be escaped as \
                             '\\]' (RFC 5424 6.3.3)"
                        ),
                    ))
                }
                Some(_) => i += 1,
            }
        }
        let raw = std::str::from_utf8(&self.input[vstart..i]).map_err(|e| {
            ParseError::new(
                vstart + e.valid_up_to(),
                format!(
                    "PARAM-VALUE of \"{name}\" is not valid shortest-form UTF-8 (RFC 5424 6.3, \
                     6.3.3, RFC 3629)"
                ),
            )
        })?;
        let value = unescape(raw);
        self.pos = i + 1; // closing '"'
        match self.peek() {
            Some(b' ' | b']') => {}
            None => {
                return Err(ParseError::new(
                    self.pos,
                    "unexpected end of input inside SD-ELEMENT: missing ']' (RFC 5424 6)",
                ))
            }
            Some(b) => {
                return Err(ParseError::new(
                    self.pos,
                    format!(
                        "after the closing '\"' of PARAM-VALUE of \"{name}\" expected SP or ']', \
                         found {}: unescaped '\"' inside PARAM-VALUE? ('\"' MUST be escaped as \
                         '\\\"', RFC 5424 6.3.3)",
                        describe(b)
                    ),
                ))
            }
        }
        Ok((name.to_string(), value))
    }
}

/// Removes the three escapes of RFC 5424 §6.3.3; any other backslash is kept.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&next @ ('"' | '\\' | ']')) = chars.peek() {
                out.push(next);
                chars.next();
                continue;
            }
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------
// TIMESTAMP (RFC 5424 §6, §6.2.3)
// ---------------------------------------------------------------------------

struct Ts<'a> {
    s: &'a [u8],
    i: usize,
    base: usize,
}

impl Ts<'_> {
    fn err(&self, at: usize, reason: impl Into<String>) -> ParseError {
        let mut full = String::from("TIMESTAMP: ");
        full.push_str(&reason.into());
        ParseError::new(self.base + at, full)
    }

    fn digits(&mut self, n: usize, what: &str) -> Result<(usize, u32), ParseError> {
        let start = self.i;
        let mut v = 0u32;
        for _ in 0..n {
            match self.s.get(self.i) {
                Some(&b) if b.is_ascii_digit() => {
                    v = v * 10 + u32::from(b - b'0');
                    self.i += 1;
                }
                Some(&b) => {
                    return Err(
                        self.err(self.i, format!("expected {n} digits for {what}, found {} (RFC 5424 6)", describe(b)))
                    )
                }
                None => {
                    return Err(self.err(self.i, format!("ends early: expected {n} digits for {what} (RFC 5424 6)")))
                }
            }
        }
        Ok((start, v))
    }

    fn lit(&mut self, c: u8, what: &str) -> Result<(), ParseError> {
        match self.s.get(self.i) {
            Some(&b) if b == c => {
                self.i += 1;
                Ok(())
            }
            Some(&b) => {
                Err(self
                    .err(self.i, format!("expected '{}' {what}, found {} (RFC 5424 6)", char::from(c), describe(b))))
            }
            None => Err(self.err(self.i, format!("ends early: expected '{}' {what} (RFC 5424 6)", char::from(c)))),
        }
    }

    fn range(&self, at: usize, v: u32, lo: u32, hi: u32, what: &str) -> Result<(), ParseError> {
        if (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(self.err(at, format!("{what} {v:02} out of range {lo:02}-{hi:02} (RFC 5424 6)")))
        }
    }
}

fn is_leap_year(y: u32) -> bool {
    // Gregorian rule, written as a match to stay MSRV-1.85 and clippy friendly.
    match (y % 400, y % 100, y % 4) {
        (0, _, _) => true,
        (_, 0, _) => false,
        (_, _, 0) => true,
        _ => false,
    }
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(y) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Validates a non-NILVALUE TIMESTAMP; `base` is its offset in the message.
#[allow(clippy::too_many_lines)] // one linear walk over the ABNF production
fn validate_timestamp(s: &[u8], base: usize) -> Result<(), ParseError> {
    let mut t = Ts { s, i: 0, base };
    // FULL-DATE = DATE-FULLYEAR "-" DATE-MONTH "-" DATE-MDAY
    let (_, year) = t.digits(4, "DATE-FULLYEAR")?;
    t.lit(b'-', "after DATE-FULLYEAR")?;
    let (at, month) = t.digits(2, "DATE-MONTH")?;
    t.range(at, month, 1, 12, "DATE-MONTH")?;
    t.lit(b'-', "after DATE-MONTH")?;
    let (at, mday) = t.digits(2, "DATE-MDAY")?;
    let max_day = days_in_month(year, month);
    if !(1..=max_day).contains(&mday) {
        return Err(
            t.err(at, format!("DATE-MDAY {mday:02} invalid for {year:04}-{month:02} (01-{max_day}, RFC 5424 6)"))
        );
    }
    // "T" - upper case and REQUIRED (RFC 5424 6.2.3)
    match s.get(t.i) {
        Some(b'T') => t.i += 1,
        Some(b't') => {
            return Err(t.err(t.i, "lowercase 't': the \"T\" character MUST be upper case (RFC 5424 6.2.3)".to_string()))
        }
        Some(&b) => {
            return Err(t.err(
                t.i,
                format!(
                    "expected 'T' between FULL-DATE and FULL-TIME, found {}; usage of \"T\" is \
                     REQUIRED (RFC 5424 6.2.3)",
                    describe(b)
                ),
            ))
        }
        None => {
            return Err(t.err(t.i, "ends after FULL-DATE: \"T\" FULL-TIME is REQUIRED (RFC 5424 6, 6.2.3)".to_string()))
        }
    }
    // PARTIAL-TIME = TIME-HOUR ":" TIME-MINUTE ":" TIME-SECOND [TIME-SECFRAC]
    let (at, hour) = t.digits(2, "TIME-HOUR")?;
    t.range(at, hour, 0, 23, "TIME-HOUR")?;
    t.lit(b':', "after TIME-HOUR")?;
    let (at, minute) = t.digits(2, "TIME-MINUTE")?;
    t.range(at, minute, 0, 59, "TIME-MINUTE")?;
    t.lit(b':', "after TIME-MINUTE")?;
    let (at, second) = t.digits(2, "TIME-SECOND")?;
    if second == 60 {
        return Err(t.err(at, "TIME-SECOND 60: leap seconds MUST NOT be used (RFC 5424 6.2.3)".to_string()));
    }
    t.range(at, second, 0, 59, "TIME-SECOND")?;
    // TIME-SECFRAC = "." 1*6DIGIT
    if s.get(t.i) == Some(&b'.') {
        t.i += 1;
        let frac_start = t.i;
        while s.get(t.i).is_some_and(u8::is_ascii_digit) {
            t.i += 1;
        }
        let n = t.i - frac_start;
        if n == 0 {
            return Err(t.err(
                frac_start,
                "TIME-SECFRAC: '.' must be followed by 1 to 6 digits (\".\" 1*6DIGIT, RFC 5424 6)".to_string(),
            ));
        }
        if n > MAX_SECFRAC_DIGITS {
            return Err(t.err(
                frac_start + MAX_SECFRAC_DIGITS,
                format!(
                    "TIME-SECFRAC has {n} digits, more than 6 (\".\" 1*6DIGIT, RFC 5424 6, \
                     6.2.3.1 example 5)"
                ),
            ));
        }
    }
    // TIME-OFFSET = "Z" / TIME-NUMOFFSET ; TIME-NUMOFFSET = ("+" / "-") TIME-HOUR ":" TIME-MINUTE
    match s.get(t.i) {
        Some(b'Z') => t.i += 1,
        Some(b'z') => {
            return Err(t.err(t.i, "lowercase 'z': the \"Z\" character MUST be upper case (RFC 5424 6.2.3)".to_string()))
        }
        Some(b'+' | b'-') => {
            t.i += 1;
            let (at, oh) = t.digits(2, "TIME-NUMOFFSET hour")?;
            t.range(at, oh, 0, 23, "TIME-NUMOFFSET hour")?;
            t.lit(b':', "in TIME-NUMOFFSET")?;
            let (at, om) = t.digits(2, "TIME-NUMOFFSET minute")?;
            t.range(at, om, 0, 59, "TIME-NUMOFFSET minute")?;
        }
        Some(&b) => {
            return Err(t.err(
                t.i,
                format!("expected TIME-OFFSET ('Z', '+hh:mm' or '-hh:mm'), found {} (RFC 5424 6)", describe(b)),
            ))
        }
        None => {
            return Err(t.err(
                t.i,
                "missing TIME-OFFSET ('Z', '+hh:mm' or '-hh:mm'; FULL-TIME = PARTIAL-TIME \
                 TIME-OFFSET, RFC 5424 6)"
                    .to_string(),
            ))
        }
    }
    if t.i != s.len() {
        return Err(t.err(t.i, format!("trailing {} after TIME-OFFSET (RFC 5424 6)", describe(s[t.i]))));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// SD-ID and registered SD-PARAMs (RFC 5424 §6.3.2, §6.3.3, §7)
// ---------------------------------------------------------------------------

/// 6.3.2: `name@<private enterprise number>` or an IANA-registered name.
fn validate_sd_id(id: &str, offset: usize) -> Result<(), ParseError> {
    match id.find('@') {
        Some(at) => {
            if at == 0 {
                return Err(ParseError::new(
                    offset,
                    format!(
                        "SD-ID \"{id}\": empty name before '@' (format name@<private enterprise \
                         number>, RFC 5424 6.3.2)"
                    ),
                ));
            }
            let pen = &id[at + 1..];
            if let Some(second) = pen.find('@') {
                return Err(ParseError::new(
                    offset + at + 1 + second,
                    format!(
                        "SD-ID \"{id}\" contains more than one '@' (the name MUST NOT contain '@', \
                         RFC 5424 6.3.2)"
                    ),
                ));
            }
            validate_enterprise_number(pen).map_err(|(rel, why)| {
                ParseError::new(
                    offset + at + 1 + rel,
                    format!(
                        "SD-ID \"{id}\": the part after '@' MUST be a private enterprise number: \
                         {why} (RFC 5424 6.3.2, 7.2.2)"
                    ),
                )
            })
        }
        None if IANA_SD_IDS.contains(&id) => Ok(()),
        None => Err(ParseError::new(
            offset,
            format!(
                "SD-ID \"{id}\" has no '@' and is not IANA-registered (timeQuality, origin, meta); \
                 private SD-IDs MUST use name@<private enterprise number> (RFC 5424 6.3.2, 7)"
            ),
        )),
    }
}

/// 7.2.2: a decimal PEN optionally followed by "."-separated decimal sub-identifiers.
/// Error: (offset within `s`, reason).
fn validate_enterprise_number(s: &str) -> Result<(), (usize, String)> {
    if s.is_empty() {
        return Err((0, "it is empty".to_string()));
    }
    let mut offset = 0;
    for arc in s.split('.') {
        if arc.is_empty() {
            return Err((offset, "empty component (sub-identifiers are separated by single periods)".to_string()));
        }
        if let Some(bad) = arc.bytes().position(|b| !b.is_ascii_digit()) {
            return Err((offset + bad, format!("{} is not a decimal digit", describe(arc.as_bytes()[bad]))));
        }
        if arc.len() > 1 && arc.starts_with('0') {
            return Err((offset, format!("component \"{arc}\" has a leading zero")));
        }
        offset += arc.len() + 1;
    }
    Ok(())
}

/// Plain decimal integer without leading zeros ("0" allowed).
fn canonical_uint(v: &str) -> Result<u64, String> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("\"{v}\" is not a decimal integer"));
    }
    if v.len() > 1 && v.starts_with('0') {
        return Err(format!("\"{v}\" has a leading zero"));
    }
    v.bytes()
        .try_fold(0u64, |acc, b| acc.checked_mul(10)?.checked_add(u64::from(b - b'0')))
        .ok_or_else(|| format!("\"{v}\" is too large"))
}

/// Syntactic approximation of a BCP 47 language tag (RFC 5424 §7.3.3).
fn check_language_tag(v: &str) -> Result<(), String> {
    let mut subtags = v.split('-');
    let first = subtags.next().unwrap_or_default();
    let first_ok = ((2..=8).contains(&first.len()) && first.bytes().all(|b| b.is_ascii_alphabetic()))
        || first.eq_ignore_ascii_case("x")
        || first.eq_ignore_ascii_case("i");
    let rest_ok = subtags.all(|t| !t.is_empty() && t.len() <= 8 && t.bytes().all(|b| b.is_ascii_alphanumeric()));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(format!("\"{v}\" is not a BCP 47 language tag (RFC 5424 7.3.3)"))
    }
}

/// RFC 5424 §6.3.3 (IANA controls PARAM-NAMEs of `@`-less SD-IDs) and §7.
fn check_registered_params(id: &str, params: &[(String, String)], offsets: &[usize]) -> Result<(), ParseError> {
    for ((name, value), &off) in params.iter().zip(offsets) {
        let v = value.as_str();
        let check: Result<(), String> = match (id, name.as_str()) {
            ("timeQuality", "tzKnown" | "isSynced") => {
                if v == "0" || v == "1" {
                    Ok(())
                } else {
                    Err(format!(
                        "timeQuality {name}=\"{v}\": the value MUST be \"0\" or \"1\" \
                         (RFC 5424 7.1.1, 7.1.2)"
                    ))
                }
            }
            ("timeQuality", "syncAccuracy") => {
                canonical_uint(v).map(|_| ()).map_err(|e| format!("timeQuality syncAccuracy: {e} (RFC 5424 7.1.3)"))
            }
            ("origin", "ip") => {
                if v.parse::<Ipv4Addr>().is_ok() || v.parse::<Ipv6Addr>().is_ok() {
                    Ok(())
                } else {
                    Err(format!("origin ip=\"{v}\" is not a textual IPv4/IPv6 address (RFC 5424 7.2.1, 6.2.4)"))
                }
            }
            ("origin", "enterpriseId") => validate_enterprise_number(v)
                .map_err(|(_, why)| format!("origin enterpriseId=\"{v}\": {why} (RFC 5424 7.2.2)")),
            ("origin", "software") if v.chars().count() > MAX_SOFTWARE_CHARS => {
                Err(format!("origin software is {} characters, longer than 48 (RFC 5424 7.2.3)", v.chars().count()))
            }
            ("origin", "swVersion") if v.chars().count() > MAX_SW_VERSION_CHARS => {
                Err(format!("origin swVersion is {} characters, longer than 32 (RFC 5424 7.2.4)", v.chars().count()))
            }
            ("origin", "software" | "swVersion") => Ok(()),
            ("meta", "sequenceId") => match canonical_uint(v) {
                Ok(n) if (1..=MAX_SEQUENCE_ID).contains(&n) => Ok(()),
                Ok(n) => Err(format!("meta sequenceId {n} out of range 1..=2147483647 (RFC 5424 7.3.1)")),
                Err(e) => Err(format!("meta sequenceId: {e} (RFC 5424 7.3.1)")),
            },
            ("meta", "sysUpTime") => match canonical_uint(v) {
                Ok(n) if u32::try_from(n).is_ok() => Ok(()),
                Ok(n) => Err(format!("meta sysUpTime {n} exceeds TimeTicks range (RFC 5424 7.3.2, RFC 3418)")),
                Err(e) => Err(format!("meta sysUpTime: {e} (RFC 5424 7.3.2)")),
            },
            ("meta", "language") => check_language_tag(v),
            _ => Err(format!(
                "PARAM-NAME \"{name}\" is not registered for SD-ID \"{id}\" (IANA controls the \
                 PARAM-NAMEs of SD-IDs without '@', RFC 5424 6.3.3, 7)"
            )),
        };
        check.map_err(|reason| ParseError::new(off, reason))?;
    }
    if id == "timeQuality" {
        let unsynced = params.iter().any(|(n, v)| n == "isSynced" && v == "0");
        if unsynced {
            if let Some(i) = params.iter().position(|(n, _)| n == "syncAccuracy") {
                return Err(ParseError::new(
                    offsets.get(i).copied().unwrap_or_default(),
                    "timeQuality: syncAccuracy MUST NOT be specified when isSynced is \"0\" \
                     (RFC 5424 7.1.3)",
                ));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Self-tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    const BOM_STR: &str = "\u{FEFF}";

    /// Asserts rejection at `offset` with a reason containing `needle`.
    fn reject(input: &[u8], offset: usize, needle: &str) {
        let shown = String::from_utf8_lossy(input);
        match parse(input) {
            Ok(m) => panic!("expected rejection ({needle}) of {shown:?}, got {m:?}"),
            Err(e) => {
                assert!(e.reason.contains(needle), "reason {:?} lacks {needle:?} for {shown:?}", e.reason);
                assert_eq!(e.offset, offset, "offset for {shown:?}: {}", e.reason);
            }
        }
    }

    /// Message with the given TIMESTAMP; the timestamp starts at byte 6.
    fn with_ts(ts: &str) -> String {
        format!("<34>1 {ts} host app - - - msg")
    }
    const TS: usize = 6;

    /// Message with the given STRUCTURED-DATA (and rest); SD starts at byte 16.
    fn with_sd(sd: &str) -> String {
        format!("<34>1 - h a p m {sd}")
    }
    const SD: usize = 16;

    // ---- RFC 5424 6.5 examples -------------------------------------------

    #[test]
    fn rfc_6_5_example_1() {
        let raw = format!(
            "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - {BOM_STR}'su root' failed for lonvick on /dev/pts/8"
        );
        let m = parse(raw.as_bytes()).expect("example 1 is valid");
        assert_eq!((m.pri, m.facility, m.severity, m.version), (34, 4, 2, 1));
        assert_eq!(m.timestamp, Some("2003-10-11T22:14:15.003Z"));
        assert_eq!(m.hostname, Some("mymachine.example.com"));
        assert_eq!(m.app_name, Some("su"));
        assert_eq!(m.procid, None);
        assert_eq!(m.msgid, Some("ID47"));
        assert!(m.structured_data.is_empty());
        assert_eq!(m.msg, Some(Msg::Utf8("'su root' failed for lonvick on /dev/pts/8")));
    }

    #[test]
    fn rfc_6_5_example_2() {
        let raw =
            b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.";
        let m = parse(raw).expect("example 2 is valid");
        assert_eq!((m.pri, m.facility, m.severity), (165, 20, 5));
        assert_eq!(m.timestamp, Some("2003-08-24T05:14:15.000003-07:00"));
        assert_eq!(m.hostname, Some("192.0.2.1"));
        assert_eq!(m.app_name, Some("myproc"));
        assert_eq!(m.procid, Some("8710"));
        assert_eq!(m.msgid, None);
        assert!(m.structured_data.is_empty());
        assert_eq!(m.msg, Some(Msg::Any(&b"%% It's time to make the do-nuts."[..])));
    }

    #[test]
    fn rfc_6_5_example_3() {
        let raw = format!(
            "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] {BOM_STR}An application event log entry..."
        );
        let m = parse(raw.as_bytes()).expect("example 3 is valid");
        assert_eq!(m.app_name, Some("evntslog"));
        assert_eq!(m.structured_data.len(), 1);
        let e = &m.structured_data[0];
        assert_eq!(e.id, "exampleSDID@32473");
        assert_eq!(
            e.params,
            vec![
                ("iut".to_string(), "3".to_string()),
                ("eventSource".to_string(), "Application".to_string()),
                ("eventID".to_string(), "1011".to_string()),
            ]
        );
        assert_eq!(m.msg, Some(Msg::Utf8("An application event log entry...")));
    }

    #[test]
    fn rfc_6_5_example_4() {
        let raw = b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]";
        let m = parse(raw).expect("example 4 is valid");
        assert_eq!(m.structured_data.len(), 2);
        assert_eq!(m.sd_param("examplePriority@32473", "class"), Some("high"));
        assert_eq!(m.sd_param("exampleSDID@32473", "eventID"), Some("1011"));
        assert_eq!(m.msg, None);
    }

    // ---- other valid inputs ----------------------------------------------

    #[test]
    fn rfc_6_2_3_1_timestamp_examples_are_valid() {
        for ts in [
            "1985-04-12T23:20:50.52Z",
            "1985-04-12T19:20:50.52-04:00",
            "2003-10-11T22:14:15.003Z",
            "2003-08-24T05:14:15.000003-07:00",
        ] {
            let raw = with_ts(ts);
            assert_eq!(parse(raw.as_bytes()).map(|m| m.timestamp), Ok(Some(ts)), "{ts}");
        }
    }

    #[test]
    fn valid_boundaries() {
        for raw in [
            "<0>1 - - - - - -".to_string(),
            "<191>1 - - - - - -".to_string(),
            with_ts("2004-02-29T00:00:00Z"),
            with_ts("2000-02-29T23:59:59.999999+23:59"),
            with_ts("0000-01-01T00:00:00-00:00"),
            with_ts("2003-12-31T12:00:00.1Z"),
            format!("<34>1 - {} - - - -", "h".repeat(255)),
            format!("<34>1 - - {} - - -", "a".repeat(48)),
            format!("<34>1 - - - {} - -", "p".repeat(128)),
            format!("<34>1 - - - - {} -", "m".repeat(32)),
            with_sd(&format!("[{}@1]", "n".repeat(30))),
            with_sd(&format!("[a@1 {}=\"\"]", "k".repeat(32))),
        ] {
            assert!(parse(raw.as_bytes()).is_ok(), "{raw}: {:?}", parse(raw.as_bytes()));
        }
        let m = parse(b"<0>1 - - - - - -").expect("valid");
        assert_eq!((m.pri, m.facility, m.severity), (0, 0, 0));
        let m = parse(b"<191>1 - - - - - -").expect("valid");
        assert_eq!((m.facility, m.severity), (23, 7));
    }

    #[test]
    fn all_nil_and_empty_msg() {
        let m = parse(b"<13>1 - - - - - -").expect("valid");
        assert_eq!(
            (m.timestamp, m.hostname, m.app_name, m.procid, m.msgid, m.msg),
            (None, None, None, None, None, None)
        );
        // [SP MSG] with MSG-ANY = *OCTET: trailing SP gives an empty MSG.
        let m = parse(b"<13>1 - - - - - - ").expect("valid");
        assert_eq!(m.msg, Some(Msg::Any(&b""[..])));
        // BOM alone is MSG-UTF8 with an empty string.
        let m = parse(b"<13>1 - - - - - - \xEF\xBB\xBF").expect("valid");
        assert_eq!(m.msg, Some(Msg::Utf8("")));
    }

    #[test]
    fn rfc_6_3_5_examples_1_and_2_valid() {
        let one = r#"[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]"#;
        let raw = with_sd(one);
        let m = parse(raw.as_bytes()).expect("valid");
        assert_eq!(m.structured_data.len(), 1);
        let raw = with_sd(&format!(r#"{one}[examplePriority@32473 class="high"]"#));
        let m = parse(raw.as_bytes()).expect("valid");
        assert_eq!(m.structured_data.len(), 2);
    }

    #[test]
    fn rfc_7_examples_valid() {
        for sd in [
            "[timeQuality tzKnown=\"0\" isSynced=\"0\"]",
            "[timeQuality tzKnown=\"1\" isSynced=\"1\"]",
            "[timeQuality tzKnown=\"1\" isSynced=\"1\" syncAccuracy=\"60000000\"]",
            "[origin ip=\"192.0.2.1\" ip=\"192.0.2.129\"]",
            "[origin ip=\"2001:db8::1\" enterpriseId=\"32473.1.2\" software=\"siem-relay\" swVersion=\"0.1.0\"]",
            "[meta sequenceId=\"1\" sysUpTime=\"0\" language=\"en-US\"]",
            "[meta sequenceId=\"2147483647\"]",
        ] {
            let raw = with_sd(sd);
            assert!(parse(raw.as_bytes()).is_ok(), "{sd}: {:?}", parse(raw.as_bytes()));
        }
        let raw = with_sd("[origin ip=\"192.0.2.1\" ip=\"192.0.2.129\"]");
        let m = parse(raw.as_bytes()).expect("valid");
        let ips: Vec<&str> = m.sd("origin").map(|e| e.params_named("ip").collect()).unwrap_or_default();
        assert_eq!(ips, ["192.0.2.1", "192.0.2.129"]);
    }

    #[test]
    fn param_value_escapes_are_unescaped() {
        let raw = with_sd(r#"[a@1 v="q\"b\\s\]e" w="" u="é ünïcode"] x"#);
        let m = parse(raw.as_bytes()).expect("valid");
        let e = &m.structured_data[0];
        assert_eq!(e.param("v"), Some(r#"q"b\s]e"#));
        assert_eq!(e.param("w"), Some(""));
        assert_eq!(e.param("u"), Some("é ünïcode"));
        assert_eq!(m.msg, Some(Msg::Any(&b"x"[..])));
    }

    #[test]
    fn param_value_may_contain_control_chars_and_sp() {
        let raw = with_sd("[a@1 v=\"tab\there nul\0 [x\"]");
        let m = parse(raw.as_bytes()).expect("valid");
        assert_eq!(m.sd_param("a@1", "v"), Some("tab\there nul\0 [x"));
    }

    #[test]
    fn repeated_param_names_allowed() {
        let raw = with_sd("[a@1 k=\"1\" k=\"2\"]");
        let m = parse(raw.as_bytes()).expect("valid");
        assert_eq!(m.structured_data[0].params_named("k").collect::<Vec<_>>(), ["1", "2"]);
    }

    #[test]
    fn msg_any_may_be_arbitrary_octets() {
        let m = parse(b"<13>1 - - - - - - \xFF\xFE\x00 raw").expect("MSG-ANY is *OCTET");
        assert_eq!(m.msg, Some(Msg::Any(&b"\xFF\xFE\x00 raw"[..])));
        // Starts with EF BB but not a full BOM: MSG-ANY.
        assert!(parse(b"<13>1 - - - - - - \xEF\xBBx").is_ok());
    }

    // ---- PRI (6, 6.2.1) --------------------------------------------------

    #[test]
    fn pri_must_start_with_lt() {
        reject(b"34>1 - - - - - -", 0, "must start with '<'");
        reject(b"", 0, "empty input");
    }

    #[test]
    fn pri_empty() {
        reject(b"<>1 - - - - - -", 1, "empty PRIVAL");
    }

    #[test]
    fn pri_leading_zero() {
        reject(b"<01>1 - - - - - -", 1, "leading zero in PRIVAL");
        reject(b"<00>1 - - - - - -", 1, "leading zero in PRIVAL");
    }

    #[test]
    fn pri_out_of_range() {
        reject(b"<192>1 - - - - - -", 1, "out of range 0..=191");
        reject(b"<999>1 - - - - - -", 1, "out of range 0..=191");
    }

    #[test]
    fn pri_too_many_digits() {
        reject(b"<1000>1 - - - - - -", 4, "more than 3 digits");
    }

    #[test]
    fn pri_non_digit_and_unclosed() {
        reject(b"<3a>1 - - - - - -", 2, "expected DIGIT or '>'");
        reject(b"<-1>1 - - - - - -", 1, "must be decimal digits");
        reject(b"<34", 3, "expected '>' closing PRI");
    }

    // ---- VERSION (6, 6.2.2) ----------------------------------------------

    #[test]
    fn version_missing() {
        reject(b"<34> - - - - - -", 4, "VERSION missing");
        reject(b"<34>", 4, "missing VERSION");
    }

    #[test]
    fn version_leading_zero() {
        reject(b"<34>01 - - - - - -", 4, "NONZERO-DIGIT");
        reject(b"<34>0 - - - - - -", 4, "NONZERO-DIGIT");
    }

    #[test]
    fn version_unsupported() {
        reject(b"<34>2 - - - - - -", 4, "unsupported VERSION 2");
        reject(b"<34>10 - - - - - -", 4, "unsupported VERSION 10");
    }

    #[test]
    fn version_too_many_digits() {
        reject(b"<34>1000 - - - - - -", 7, "more than 3 digits");
    }

    #[test]
    fn version_must_be_followed_by_sp() {
        reject(b"<34>1x - - - - - -", 5, "expected SP after VERSION");
        reject(b"<34>1", 5, "expected SP TIMESTAMP");
    }

    // ---- field separation (6) --------------------------------------------

    #[test]
    fn fields_separated_by_exactly_one_sp() {
        reject(b"<34>1  - - - - - -", 6, "TIMESTAMP: empty field");
        reject(b"<34>1 -  - - - - -", 8, "HOSTNAME: empty field");
        reject(b"<34>1 - h  - - - -", 10, "APP-NAME: empty field");
        reject(b"<34>1 - h a  - - -", 12, "PROCID: empty field");
        reject(b"<34>1 - h a p  - -", 14, "MSGID: empty field");
        reject(b"<34>1 - h a p m  -", 16, "extra SP before STRUCTURED-DATA");
    }

    #[test]
    fn truncated_header() {
        reject(b"<34>1 - host", 12, "expected SP APP-NAME");
        reject(b"<34>1 - h a p m", 15, "expected SP STRUCTURED-DATA");
        reject(b"<34>1 - h a p m ", 16, "missing STRUCTURED-DATA");
    }

    // ---- TIMESTAMP (6, 6.2.3) --------------------------------------------

    #[test]
    fn timestamp_lowercase_t() {
        reject(with_ts("2003-10-11t22:14:15Z").as_bytes(), TS + 10, "lowercase 't'");
    }

    #[test]
    fn timestamp_lowercase_z() {
        reject(with_ts("2003-10-11T22:14:15z").as_bytes(), TS + 19, "lowercase 'z'");
    }

    #[test]
    fn timestamp_t_required() {
        reject(with_ts("2003-10-11 22:14:15Z").as_bytes(), TS + 10, "\"T\" FULL-TIME is REQUIRED");
        reject(with_ts("2003-10-11_22:14:15Z").as_bytes(), TS + 10, "expected 'T'");
    }

    #[test]
    fn timestamp_month_range() {
        reject(with_ts("2003-13-11T22:14:15Z").as_bytes(), TS + 5, "DATE-MONTH 13 out of range 01-12");
        reject(with_ts("2003-00-11T22:14:15Z").as_bytes(), TS + 5, "DATE-MONTH 00 out of range");
    }

    #[test]
    fn timestamp_mday_range() {
        reject(with_ts("2003-10-32T22:14:15Z").as_bytes(), TS + 8, "DATE-MDAY 32 invalid");
        reject(with_ts("2003-10-00T22:14:15Z").as_bytes(), TS + 8, "DATE-MDAY 00 invalid");
        reject(with_ts("2003-04-31T22:14:15Z").as_bytes(), TS + 8, "DATE-MDAY 31 invalid for 2003-04");
    }

    #[test]
    fn timestamp_leap_years() {
        reject(with_ts("2003-02-29T22:14:15Z").as_bytes(), TS + 8, "(01-28");
        reject(with_ts("1900-02-29T22:14:15Z").as_bytes(), TS + 8, "(01-28");
        reject(with_ts("2004-02-30T22:14:15Z").as_bytes(), TS + 8, "(01-29");
        assert!(is_valid(with_ts("2000-02-29T22:14:15Z").as_bytes()));
    }

    #[test]
    fn timestamp_hour_minute_range() {
        reject(with_ts("2003-10-11T24:00:00Z").as_bytes(), TS + 11, "TIME-HOUR 24 out of range 00-23");
        reject(with_ts("2003-10-11T22:60:00Z").as_bytes(), TS + 14, "TIME-MINUTE 60 out of range 00-59");
    }

    #[test]
    fn timestamp_no_leap_second() {
        reject(with_ts("2003-12-31T23:59:60Z").as_bytes(), TS + 17, "leap seconds MUST NOT be used");
        reject(with_ts("2003-12-31T23:59:61Z").as_bytes(), TS + 17, "TIME-SECOND 61 out of range");
    }

    #[test]
    fn timestamp_secfrac_too_long() {
        // RFC 5424 6.2.3.1 example 5.
        reject(with_ts("2003-08-24T05:14:15.000000003-07:00").as_bytes(), TS + 26, "9 digits, more than 6");
        reject(with_ts("2003-08-24T05:14:15.1234567Z").as_bytes(), TS + 26, "7 digits, more than 6");
    }

    #[test]
    fn timestamp_secfrac_empty() {
        reject(with_ts("2003-08-24T05:14:15.Z").as_bytes(), TS + 20, "1 to 6 digits");
    }

    #[test]
    fn timestamp_offset_ranges() {
        reject(with_ts("2003-08-24T05:14:15+24:00").as_bytes(), TS + 20, "TIME-NUMOFFSET hour 24");
        reject(with_ts("2003-08-24T05:14:15-07:60").as_bytes(), TS + 23, "TIME-NUMOFFSET minute 60");
    }

    #[test]
    fn timestamp_offset_syntax() {
        reject(with_ts("2003-08-24T05:14:15+0700").as_bytes(), TS + 22, "expected ':' in TIME-NUMOFFSET");
        reject(with_ts("2003-08-24T05:14:15+7:00").as_bytes(), TS + 21, "TIME-NUMOFFSET hour");
        reject(with_ts("2003-08-24T05:14:15").as_bytes(), TS + 19, "missing TIME-OFFSET");
        reject(with_ts("2003-08-24T05:14:15ZZ").as_bytes(), TS + 20, "trailing 'Z' after TIME-OFFSET");
        reject(with_ts("2003-08-24T05:14:15UTC").as_bytes(), TS + 19, "expected TIME-OFFSET");
    }

    #[test]
    fn timestamp_date_syntax() {
        reject(with_ts("03-10-11T22:14:15Z").as_bytes(), TS + 2, "expected 4 digits for DATE-FULLYEAR");
        reject(with_ts("2003/10/11T22:14:15Z").as_bytes(), TS + 4, "expected '-' after DATE-FULLYEAR");
        reject(with_ts("2003-1-11T22:14:15Z").as_bytes(), TS + 6, "expected 2 digits for DATE-MONTH");
        reject(with_ts("2003-10-11T22:14Z").as_bytes(), TS + 16, "expected ':' after TIME-MINUTE");
    }

    // ---- HOSTNAME, APP-NAME, PROCID, MSGID (6, 6.2.4-6.2.7) ------------

    #[test]
    fn hostname_too_long() {
        let raw = format!("<34>1 - {} - - - -", "h".repeat(256));
        reject(raw.as_bytes(), 8 + 255, "HOSTNAME is 256 octets, longer than the maximum 255");
    }

    #[test]
    fn app_name_too_long() {
        let raw = format!("<34>1 - - {} - - -", "a".repeat(49));
        reject(raw.as_bytes(), 10 + 48, "APP-NAME is 49 octets, longer than the maximum 48");
    }

    #[test]
    fn procid_too_long() {
        let raw = format!("<34>1 - - - {} - -", "p".repeat(129));
        reject(raw.as_bytes(), 12 + 128, "PROCID is 129 octets, longer than the maximum 128");
    }

    #[test]
    fn msgid_too_long() {
        let raw = format!("<34>1 - - - - {} -", "m".repeat(33));
        reject(raw.as_bytes(), 14 + 32, "MSGID is 33 octets, longer than the maximum 32");
    }

    #[test]
    fn header_fields_printusascii_only() {
        reject("<34>1 - hôst - - - -".as_bytes(), 9, "HOSTNAME: octet 0xC3 is not PRINTUSASCII");
        reject(b"<34>1 - h\x7F - - - -", 9, "HOSTNAME: octet 0x7F");
        reject(b"<34>1 - h a\tb - - -", 11, "APP-NAME: octet 0x09");
        reject(b"<34>1 - h a p\x00 - -", 13, "PROCID: octet 0x00");
        reject(b"<34>1 - h a p m\x01 -", 15, "MSGID: octet 0x01");
    }

    // ---- STRUCTURED-DATA (6, 6.3) ----------------------------------------

    #[test]
    fn sd_nilvalue_followed_by_garbage() {
        reject(with_sd("-x").as_bytes(), SD + 1, "NILVALUE STRUCTURED-DATA must be followed by SP");
    }

    #[test]
    fn sd_must_be_nil_or_element() {
        reject(with_sd("msg without sd").as_bytes(), SD, "must be NILVALUE '-' or start with '['");
    }

    #[test]
    fn sd_element_followed_by_garbage() {
        reject(with_sd("[a@1]x").as_bytes(), SD + 5, "after SD-ELEMENT expected '[', SP or end");
    }

    #[test]
    fn sd_sp_between_elements_example_3() {
        // RFC 5424 6.3.5 example 3: by the ABNF the 2nd element becomes MSG.
        let raw = with_sd("[exampleSDID@32473 iut=\"3\"] [examplePriority@32473 class=\"high\"]");
        let m = parse(raw.as_bytes()).expect("ABNF-valid");
        assert_eq!(m.structured_data.len(), 1);
        assert_eq!(m.msg, Some(Msg::Any(&b"[examplePriority@32473 class=\"high\"]"[..])));
        let opts = ParseOptions { reject_msg_starting_with_bracket: true, ..ParseOptions::default() };
        let e = parse_with(raw.as_bytes(), opts).expect_err("rejected with option");
        assert_eq!(e.offset, SD + 28);
        assert!(e.reason.contains("6.3.5 example 3"), "{}", e.reason);
    }

    #[test]
    fn sd_sp_after_bracket_example_4() {
        reject(
            with_sd("[ exampleSDID@32473 iut=\"3\"][examplePriority@32473 class=\"high\"]").as_bytes(),
            SD + 1,
            "SD-ID MUST immediately follow",
        );
    }

    #[test]
    fn sd_empty_id() {
        reject(with_sd("[]").as_bytes(), SD + 1, "empty SD-ID");
    }

    #[test]
    fn sd_id_too_long() {
        let id = format!("{}@32473", "x".repeat(27)); // 33 characters
        reject(with_sd(&format!("[{id}]")).as_bytes(), SD + 1 + 32, "SD-ID is 33 characters, longer than 32");
    }

    #[test]
    fn sd_id_forbidden_chars() {
        reject(with_sd("[a\"b@1]").as_bytes(), SD + 2, "followed by '\"'");
        reject(with_sd("[a=b@1]").as_bytes(), SD + 2, "followed by '='");
        reject(with_sd("[a\tb@1]").as_bytes(), SD + 2, "followed by octet 0x09");
        reject(with_sd("[\"a@1]").as_bytes(), SD + 1, "empty SD-ID: '\"' cannot start");
        reject(with_sd("[aé@1]").as_bytes(), SD + 2, "followed by octet 0xC3");
    }

    #[test]
    fn sd_id_unregistered_without_at() {
        reject(with_sd("[exampleSDID]").as_bytes(), SD + 1, "not IANA-registered");
        // RFC 5424 6.3.5 example 5 uses a *hypothetical* registration.
        reject(with_sd("[sigSig ver=\"1\"]").as_bytes(), SD + 1, "not IANA-registered");
        // SD-IDs are case-sensitive (6.3.2).
        reject(with_sd("[timequality]").as_bytes(), SD + 1, "not IANA-registered");
    }

    #[test]
    fn sd_id_private_format() {
        reject(with_sd("[@32473]").as_bytes(), SD + 1, "empty name before '@'");
        reject(with_sd("[name@]").as_bytes(), SD + 6, "it is empty");
        reject(with_sd("[name@abc]").as_bytes(), SD + 6, "'a' is not a decimal digit");
        reject(with_sd("[name@32473.]").as_bytes(), SD + 12, "empty component");
        reject(with_sd("[name@1..2]").as_bytes(), SD + 8, "empty component");
        reject(with_sd("[name@032473]").as_bytes(), SD + 6, "leading zero");
        reject(with_sd("[a@b@32473]").as_bytes(), SD + 4, "more than one '@'");
        assert!(is_valid(with_sd("[name@32473.1.2]").as_bytes()));
        assert!(is_valid(with_sd("[name@32473.0]").as_bytes()));
    }

    #[test]
    fn sd_duplicate_id() {
        reject(with_sd("[a@1 x=\"1\"][b@1][a@1 y=\"2\"]").as_bytes(), SD + 17, "duplicate SD-ID \"a@1\"");
        reject(with_sd("[meta][meta]").as_bytes(), SD + 7, "duplicate SD-ID");
    }

    #[test]
    fn sd_param_name_rules() {
        reject(with_sd("[a@1 =\"x\"]").as_bytes(), SD + 5, "empty PARAM-NAME");
        reject(with_sd("[a@1 k]").as_bytes(), SD + 6, "where '=' was expected");
        reject(with_sd("[a@1 k x=\"1\"]").as_bytes(), SD + 6, "where '=' was expected");
        reject(
            with_sd(&format!("[a@1 {}=\"\"]", "k".repeat(33))).as_bytes(),
            SD + 5 + 32,
            "PARAM-NAME is 33 characters",
        );
    }

    #[test]
    fn sd_extra_and_trailing_sp() {
        reject(with_sd("[a@1  k=\"1\"]").as_bytes(), SD + 5, "two SPs in SD-ELEMENT");
        reject(with_sd("[a@1 k=\"1\" ]").as_bytes(), SD + 11, "SP before ']'");
        reject(with_sd("[a@1 ]").as_bytes(), SD + 5, "SP before ']'");
    }

    #[test]
    fn sd_param_value_must_be_quoted() {
        reject(with_sd("[a@1 k=1]").as_bytes(), SD + 7, "must be enclosed in '\"'");
        reject(with_sd("[a@1 k='1']").as_bytes(), SD + 7, "must be enclosed in '\"'");
    }

    #[test]
    fn sd_unescaped_bracket_in_value() {
        reject(with_sd("[a@1 k=\"x]y\"]").as_bytes(), SD + 9, "unescaped ']'");
    }

    #[test]
    fn sd_unescaped_quote_in_value() {
        reject(with_sd("[a@1 k=\"say \"hi\"\"]").as_bytes(), SD + 13, "unescaped '\"' inside PARAM-VALUE");
    }

    #[test]
    fn sd_invalid_escape_rejected_by_default() {
        reject(with_sd(r#"[a@1 k="C:\temp"]"#).as_bytes(), SD + 10, "invalid escape sequence");
        reject(with_sd(r#"[a@1 k="a\nb"]"#).as_bytes(), SD + 9, "MUST be escaped as '\\\\'");
    }

    #[test]
    fn sd_invalid_escape_kept_literally_with_receiver_rule() {
        let opts = ParseOptions { accept_invalid_escapes: true, ..ParseOptions::default() };
        let raw = with_sd(r#"[a@1 k="C:\temp\\x\"y\]z\n"]"#);
        let m = parse_with(raw.as_bytes(), opts).expect("receiver rule");
        assert_eq!(m.sd_param("a@1", "k"), Some(r#"C:\temp\x"y]z\n"#));
        // A lone '\' before the closing quote escapes it, exposing the ']'.
        let e = parse_with(with_sd(r#"[a@1 k="x\"]"#).as_bytes(), opts).expect_err("unescaped ]");
        assert!(e.reason.contains("unescaped ']'"), "{}", e.reason);
    }

    #[test]
    fn sd_value_invalid_utf8() {
        let mut raw = with_sd("[a@1 k=\"ab").into_bytes();
        raw.extend_from_slice(b"\xFF\"]");
        reject(&raw, SD + 10, "not valid shortest-form UTF-8");
        // Overlong encoding of '/' (C0 AF) is not shortest form.
        let mut raw = with_sd("[a@1 k=\"").into_bytes();
        raw.extend_from_slice(b"\xC0\xAF\"]");
        reject(&raw, SD + 8, "not valid shortest-form UTF-8");
        // UTF-16 surrogate encoded in UTF-8 (ED A0 80) is invalid per RFC 3629.
        let mut raw = with_sd("[a@1 k=\"").into_bytes();
        raw.extend_from_slice(b"\xED\xA0\x80\"]");
        reject(&raw, SD + 8, "not valid shortest-form UTF-8");
    }

    #[test]
    fn sd_unterminated() {
        reject(with_sd("[a@1 k=\"v").as_bytes(), SD + 9, "unterminated PARAM-VALUE");
        reject(with_sd("[a@1 k=\"v\"").as_bytes(), SD + 10, "missing ']'");
        reject(with_sd("[a@1").as_bytes(), SD + 4, "unexpected end of input after SD-ID");
        reject(with_sd("[a@1 k=\"v\\").as_bytes(), SD + 10, "after '\\'");
    }

    // ---- registered SD-IDs (6.3.3, 7) ------------------------------------

    #[test]
    fn time_quality_rules() {
        reject(with_sd("[timeQuality tzKnown=\"2\"]").as_bytes(), SD + 13, "MUST be \"0\" or \"1\"");
        reject(with_sd("[timeQuality isSynced=\"yes\"]").as_bytes(), SD + 13, "MUST be \"0\" or \"1\"");
        reject(
            with_sd("[timeQuality isSynced=\"0\" syncAccuracy=\"10\"]").as_bytes(),
            SD + 26,
            "MUST NOT be specified when isSynced is \"0\"",
        );
        reject(with_sd("[timeQuality syncAccuracy=\"1e6\"]").as_bytes(), SD + 13, "not a decimal integer");
        reject(with_sd("[timeQuality tzknown=\"1\"]").as_bytes(), SD + 13, "not registered for SD-ID \"timeQuality\"");
    }

    #[test]
    fn origin_rules() {
        reject(with_sd("[origin ip=\"999.1.1.1\"]").as_bytes(), SD + 8, "not a textual IPv4/IPv6");
        reject(with_sd("[origin ip=\"host.example\"]").as_bytes(), SD + 8, "not a textual IPv4/IPv6");
        reject(with_sd("[origin enterpriseId=\"32473.\"]").as_bytes(), SD + 8, "empty component");
        let long = "s".repeat(49);
        reject(with_sd(&format!("[origin software=\"{long}\"]")).as_bytes(), SD + 8, "longer than 48");
        let long = "v".repeat(33);
        reject(with_sd(&format!("[origin swVersion=\"{long}\"]")).as_bytes(), SD + 8, "longer than 32");
        // Length is in characters, not octets.
        assert!(is_valid(with_sd(&format!("[origin software=\"{}\"]", "é".repeat(48))).as_bytes()));
        reject(with_sd("[origin x=\"1\"]").as_bytes(), SD + 8, "not registered for SD-ID \"origin\"");
    }

    #[test]
    fn meta_rules() {
        reject(with_sd("[meta sequenceId=\"0\"]").as_bytes(), SD + 6, "out of range 1..=2147483647");
        reject(with_sd("[meta sequenceId=\"2147483648\"]").as_bytes(), SD + 6, "out of range 1..=2147483647");
        reject(with_sd("[meta sequenceId=\"01\"]").as_bytes(), SD + 6, "leading zero");
        reject(with_sd("[meta sysUpTime=\"4294967296\"]").as_bytes(), SD + 6, "TimeTicks");
        reject(with_sd("[meta sysUpTime=\"1.5\"]").as_bytes(), SD + 6, "not a decimal integer");
        reject(with_sd("[meta language=\"english language\"]").as_bytes(), SD + 6, "BCP 47");
        reject(with_sd("[meta lang=\"en\"]").as_bytes(), SD + 6, "not registered for SD-ID \"meta\"");
    }

    // ---- MSG (6, 6.4) ----------------------------------------------------

    #[test]
    fn msg_bom_requires_valid_utf8() {
        reject(b"<13>1 - - - - - - \xEF\xBB\xBFok\xFF", 23, "MSG-UTF8");
        // Overlong NUL (C0 80) is not shortest form.
        reject(b"<13>1 - - - - - - \xEF\xBB\xBF\xC0\x80", 21, "shortest-form");
        // Truncated multi-byte sequence at the end.
        reject(b"<13>1 - - - - - - \xEF\xBB\xBF\xE2\x82", 21, "MSG-UTF8");
    }

    #[test]
    fn validate_utf8_bom_rule_direct() {
        assert_eq!(validate_utf8_bom_rule(b"\xEF\xBB\xBFh\xC3\xA9"), Ok(Msg::Utf8("hé")));
        assert_eq!(validate_utf8_bom_rule(b"plain"), Ok(Msg::Any(&b"plain"[..])));
        assert_eq!(validate_utf8_bom_rule(b"\xEF\xBB\xBF\xFF").map_err(|e| e.offset), Err(3));
        assert_eq!(Msg::Utf8("x").as_bytes(), b"x");
    }

    // ---- RFC 6587 3.4.1 octet counting -----------------------------------

    #[test]
    fn octet_counting_multiple_frames() {
        let a = "<34>1 - - - - - - one";
        let b = format!("<165>1 2003-10-11T22:14:15.003Z h app 1 ID [meta sequenceId=\"7\"] {BOM_STR}two é");
        let stream = format!("{} {a}{} {b}", a.len(), b.len());
        let frames = split_octet_counted(stream.as_bytes()).expect("valid stream");
        assert_eq!(frames, vec![a.as_bytes(), b.as_bytes()]);
        let msgs = parse_octet_counted(stream.as_bytes()).expect("valid messages");
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[1].sd_param("meta", "sequenceId"), Some("7"));
        assert_eq!(msgs[1].msg, Some(Msg::Utf8("two é")));
        // MSG-LEN counts octets, and frames may contain LF.
        let c = "x\ny";
        assert_eq!(split_octet_counted(format!("3 {c}").as_bytes()), Ok(vec![c.as_bytes()]));
        assert_eq!(split_octet_counted(b""), Ok(vec![]));
    }

    #[test]
    fn octet_counting_zero_length() {
        let e = split_octet_counted(b"0 ").expect_err("zero");
        assert_eq!((e.offset, e.reason.contains("MSG-LEN is zero")), (0, true), "{}", e.reason);
        let e = split_octet_counted(b"1 a0 ").expect_err("zero in 2nd frame");
        assert_eq!(e.offset, 3);
    }

    #[test]
    fn octet_counting_leading_zero() {
        let e = split_octet_counted(b"05 hello").expect_err("leading zero");
        assert_eq!((e.offset, e.reason.contains("leading zero")), (0, true), "{}", e.reason);
    }

    #[test]
    fn octet_counting_truncated_frame() {
        let e = split_octet_counted(b"10 abc").expect_err("truncated");
        assert_eq!(e.offset, 0);
        assert!(e.reason.contains("MSG-LEN is 10 but only 3 octets remain"), "{}", e.reason);
        let e = split_octet_counted(b"3 abc12").expect_err("truncated after len");
        assert_eq!(e.offset, 7);
        assert!(e.reason.contains("expected SP"), "{}", e.reason);
    }

    #[test]
    fn octet_counting_missing_sp() {
        let e = split_octet_counted(b"5hello").expect_err("missing SP");
        assert_eq!(e.offset, 1);
        assert!(e.reason.contains("expected SP after MSG-LEN, found 'h'"), "{}", e.reason);
        let e = split_octet_counted(b"5\thello").expect_err("TAB is not SP");
        assert_eq!(e.offset, 1);
    }

    #[test]
    fn octet_counting_trailing_garbage() {
        let e = split_octet_counted(b"3 abc\n").expect_err("trailing LF");
        assert_eq!(e.offset, 5);
        assert!(e.reason.contains("trailing garbage"), "{}", e.reason);
        let e = split_octet_counted(b"<34>1 - - - - - -").expect_err("not octet-counted");
        assert_eq!(e.offset, 0);
        let e = split_octet_counted(b" 3 abc").expect_err("leading SP");
        assert_eq!(e.offset, 0);
    }

    #[test]
    fn octet_counting_overflow() {
        let e = split_octet_counted(b"99999999999999999999999999 x").expect_err("overflow");
        assert!(e.reason.contains("overflows"), "{}", e.reason);
    }

    #[test]
    fn octet_counting_parse_error_offsets_are_stream_relative() {
        let bad = "<34>01 - - - - - -";
        let stream = format!("21 <34>1 - - - - - - one{} {bad}", bad.len());
        let e = parse_octet_counted(stream.as_bytes()).expect_err("second frame invalid");
        assert_eq!(e.offset, stream.find(bad).map(|i| i + 4).unwrap_or_default());
    }

    // ---- RFC 5424 6.1 truncation -----------------------------------------

    #[test]
    fn truncation_rules() {
        let original = vec![b'x'; 600];
        assert_eq!(validate_truncation(&original, &original[..480], 480), Ok(()));
        assert!(validate_truncation(&original, &original[..479], 480).is_ok());
        assert!(validate_truncation(&original, &original[..481], 480).is_err());
        assert!(validate_truncation(&original, &original[..400], 400).is_err()); // limit < 480
        let mut altered = original[..480].to_vec();
        altered[10] = b'y';
        assert_eq!(validate_truncation(&original, &altered, 480).map_err(|e| e.offset), Err(10));
        let short = b"short message";
        assert!(validate_truncation(short, short, 480).is_ok());
        assert!(validate_truncation(short, b"short", 480).is_err());
    }

    #[test]
    fn error_display_mentions_offset() {
        let e = parse(b"<01>1 - - - - - -").expect_err("invalid");
        assert!(e.to_string().starts_with("at byte 1: "), "{e}");
    }
}
