//! Encoders: pure functions from an [`Event`] and a sink's settings to the bytes of one message.
//!
//! Syslog formats (`rfc5424`, `rfc3164`, `cef`, `leef`) go over any transport; webhook bodies (`json`,
//! `slack`, `teams`, `hec`) over HTTP only. Encoders know nothing of transports: framing (octet counting, LF, datagrams) is added by
//! `transport::framing`. Everything static about a sink's output is validated when the config is
//! built, so encoding itself cannot fail; it can only truncate, which it reports.

pub mod cef;
pub mod fit;
pub mod hec;
pub mod json;
pub mod leef;
pub mod pairs;
pub mod rfc3164;
pub mod rfc5424;
pub mod slack;
pub mod syslog;
pub mod teams;
pub mod text;
pub mod typed;

use crate::event::Event;

/// What MSG carries in syslog formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageSource {
    /// The event's `title`, or its type when it has none.
    Title,
    /// The whole event as compact JSON.
    Json,
}

/// What happened while encoding one event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct Encoded {
    /// The message, or a value in it, was cut to fit a length limit.
    pub truncated: bool,
    /// Fields left out because their value did not have the type their key requires.
    pub invalid_fields: u32,
    /// Characters the format cannot carry were written as spaces (RFC 3164 content, CEF, LEEF).
    pub sanitized: bool,
}

/// A sink's encoder, chosen by its `format`.
#[derive(Debug, Clone)]
pub enum Encoder {
    Rfc5424(rfc5424::Rfc5424),
    Rfc3164(rfc3164::Rfc3164),
    Cef(cef::Cef),
    Leef(leef::Leef),
    Json(json::JsonSettings),
    Slack(slack::SlackSettings),
    Teams(teams::TeamsSettings),
    SplunkHec(hec::HecSettings),
}

impl Encoder {
    /// The `format` this encoder writes.
    pub fn name(&self) -> &'static str {
        match self {
            Encoder::Rfc5424(_) => "rfc5424",
            Encoder::Rfc3164(_) => "rfc3164",
            Encoder::Cef(_) => "cef",
            Encoder::Leef(_) => "leef",
            Encoder::Json(_) => "json",
            Encoder::Slack(_) => "slack",
            Encoder::Teams(_) => "teams",
            Encoder::SplunkHec(_) => "splunk_hec",
        }
    }

    /// The least `max_message_bytes` that holds this encoder's longest header, for the formats
    /// whose records a size limit fits by cutting text (`None` for the others).
    pub fn min_message_bytes(&self) -> Option<usize> {
        match self {
            Encoder::Rfc5424(encoder) => Some(encoder.min_message_bytes()),
            Encoder::Rfc3164(encoder) => Some(encoder.header.longest()),
            Encoder::Cef(encoder) => Some(encoder.min_message_bytes()),
            Encoder::Leef(encoder) => Some(encoder.min_message_bytes()),
            Encoder::Json(_) | Encoder::Slack(_) | Encoder::Teams(_) | Encoder::SplunkHec(_) => None,
        }
    }

    /// The `max_message_bytes` this encoder fits its records into (`None`: no limit).
    pub fn max_message_bytes(&self) -> Option<usize> {
        match self {
            Encoder::Rfc5424(encoder) => encoder.max_bytes,
            Encoder::Rfc3164(encoder) => Some(encoder.max_bytes),
            Encoder::Cef(encoder) => encoder.max_bytes(),
            Encoder::Leef(encoder) => encoder.max_bytes(),
            Encoder::Teams(encoder) => Some(encoder.max_bytes),
            Encoder::Json(_) | Encoder::Slack(_) | Encoder::SplunkHec(_) => None,
        }
    }

    /// Appends one encoded message (no framing) to `out`.
    pub fn encode(&self, event: &Event, out: &mut Vec<u8>) -> Encoded {
        match self {
            Encoder::Rfc5424(encoder) => encoder.encode(event, out),
            Encoder::Rfc3164(encoder) => encoder.encode(event, out),
            Encoder::Cef(encoder) => encoder.encode(event, out),
            Encoder::Leef(encoder) => encoder.encode(event, out),
            Encoder::Json(encoder) => encoder.encode(event, out),
            Encoder::Slack(encoder) => encoder.encode(event, out),
            Encoder::Teams(encoder) => encoder.encode(event, out),
            Encoder::SplunkHec(encoder) => encoder.encode(event, out),
        }
    }
}
