//! Microsoft Teams messages for Workflows ("When a Teams webhook request is received")
//! webhooks: one Adaptive Card in a message attachment.
//!
//! ```text
//! {"type":"message",
//!  "attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,
//!    "content":{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4",
//!      "body":[{"type":"TextBlock","text":TITLE,"weight":"Bolder","size":"Medium","wrap":true},
//!              {"type":"FactSet","facts":[{"title":"Severity","value":"high"}, ...]},
//!              {"type":"TextBlock","text":DESCRIPTION,"wrap":true}]}}]}
//! ```
//! * The envelope is the one Microsoft documents for sending Adaptive Cards to Teams webhooks
//!   ("Create and send messages" / "Send Adaptive Cards using an incoming webhook",
//!   learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors); the Workflows webhook
//!   trigger takes the same body, and Workflows post Adaptive Cards only (no legacy
//!   MessageCard). Schema version 1.4: Teams renders up to 1.5, and 1.4 covers everything used
//!   here on every Teams client.
//! * TITLE is the event's title, or its type when it has none. The facts are Severity, Event
//!   type, Host (when the event has one), Id, Time, then every configured field the event has
//!   (a FactSet has no documented item limit). The description block (the event's
//!   `description`) is left out when there is none.
//! * Size: "The message size limit is 28 KB" (same page; the Teams connector in Power Automate
//!   documents "about 28 KB" and fails larger posts with 413 "Request Entity too large"). The
//!   whole body, as sent, is kept within `max_bytes` (default [`DEFAULT_MAX_BYTES`], under 28 KB
//!   to leave room for what Teams adds around the card). While it is too long, the longest of
//!   the title, the fact values and the description are cut to one common length, just enough
//!   to fit, on character boundaries; each cut text ends with an ellipsis (`…`) and the outcome
//!   reports `truncated`. Lengths are measured as the texts are escaped in the JSON, so the body
//!   uses the room it has. No fact is dropped and no text gets shorter than `…`, except the
//!   description, which is left out instead.
//! * Text is sent as it is: Adaptive Card TextBlocks and facts render a small Markdown subset in
//!   Teams (`**bold**`, `_italic_`, lists, `[text](url)`) with no escape, and never HTML.

use serde::Serialize;

use super::json::{card_facts, card_title, description_text, ELLIPSIS};
use super::text::char_boundary;
use super::Encoded;
use crate::event::Event;

/// Body size kept to by default: below Teams' 28 KB message limit, with headroom.
pub const DEFAULT_MAX_BYTES: usize = 27_000;
/// The smallest `max_bytes` a config may set: the card around the text needs about 500 bytes
/// plus the labels, and the facts need room to be more than ellipses.
pub const MIN_MAX_BYTES: usize = 2048;

/// Settings of a `teams` sink, built once from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamsSettings {
    /// Facts after the standard five: `(label, dotted event field path)`.
    pub fields: Vec<(String, String)>,
    /// Upper bound on the whole JSON body, in bytes.
    pub max_bytes: usize,
}

impl Default for TeamsSettings {
    /// The [`super::json::DEFAULT_CARD_FIELDS`] and [`DEFAULT_MAX_BYTES`].
    fn default() -> Self {
        TeamsSettings { fields: super::json::default_card_fields(), max_bytes: DEFAULT_MAX_BYTES }
    }
}

#[derive(Serialize)]
struct Message<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    attachments: [Attachment<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Attachment<'a> {
    content_type: &'static str,
    content_url: Option<&'static str>,
    content: Card<'a>,
}

#[derive(Serialize)]
struct Card<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    version: &'static str,
    body: Vec<Element<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type")]
enum Element<'a> {
    TextBlock {
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        weight: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        size: Option<&'static str>,
        wrap: bool,
    },
    FactSet {
        facts: Vec<Fact<'a>>,
    },
}

#[derive(Serialize)]
struct Fact<'a> {
    title: &'a str,
    value: &'a str,
}

/// The texts of a card, owned so they can be cut.
struct Texts<'a> {
    title: String,
    facts: Vec<(&'a str, String)>,
    description: Option<String>,
}

impl Texts<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        let mut body = Vec::with_capacity(3);
        body.push(Element::TextBlock { text: &self.title, weight: Some("Bolder"), size: Some("Medium"), wrap: true });
        let facts = self.facts.iter().map(|(title, value)| Fact { title, value }).collect();
        body.push(Element::FactSet { facts });
        if let Some(description) = &self.description {
            body.push(Element::TextBlock { text: description, weight: None, size: None, wrap: true });
        }
        let message = Message {
            kind: "message",
            attachments: [Attachment {
                content_type: "application/vnd.microsoft.card.adaptive",
                content_url: None,
                content: Card {
                    schema: "http://adaptivecards.io/schemas/adaptive-card.json",
                    kind: "AdaptiveCard",
                    version: "1.4",
                    body,
                },
            }],
        };
        // Serialising strings into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &message);
    }

    /// Cuts the longest texts down to one common length, just enough to take `excess` bytes out
    /// of the JSON; a description cut to nothing but an ellipsis is left out. Returns false when
    /// every text is already as short as it can be.
    fn cut(&mut self, excess: usize) -> bool {
        let mut texts: Vec<(usize, &mut String)> = std::iter::once(&mut self.title)
            .chain(self.facts.iter_mut().map(|(_, value)| value))
            .chain(self.description.as_mut())
            .map(|text| (json_len(text), text))
            .filter(|(len, _)| *len > ELLIPSIS.len())
            .collect();
        let Some(longest) = texts.iter().map(|(len, _)| *len).max() else {
            return false;
        };
        // The largest common length `cap` whose cuts save `excess` bytes; at least an ellipsis.
        let savings = |cap: usize| texts.iter().map(|(len, _)| len.saturating_sub(cap)).sum::<usize>();
        let (mut cap, mut too_long) = (ELLIPSIS.len(), longest);
        if savings(cap) >= excess {
            while too_long - cap > 1 {
                let mid = cap + (too_long - cap) / 2;
                if savings(mid) >= excess {
                    cap = mid;
                } else {
                    too_long = mid;
                }
            }
        }
        for (_, text) in &mut texts {
            cut_to(text, cap);
        }
        if self.description.as_deref() == Some(ELLIPSIS) {
            self.description = None;
        }
        true
    }
}

/// Bytes `c` takes inside a JSON string as serde_json writes it: `"`, `\` and the control
/// characters with a short escape take two, other control characters six (`\u001f`), the rest
/// their UTF-8 length.
fn json_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => 2,
        '\0'..='\u{1f}' => 6,
        _ => c.len_utf8(),
    }
}

/// Bytes `text` takes inside a JSON string.
fn json_len(text: &str) -> usize {
    text.chars().map(json_char_len).sum()
}

/// Cuts `text` on a character boundary so that, with the ellipsis it then ends with, it takes at
/// most `cap` bytes in JSON (or is just the ellipsis, when `cap` is smaller than that).
fn cut_to(text: &mut String, cap: usize) {
    if json_len(text) <= cap {
        return;
    }
    let room = cap.saturating_sub(ELLIPSIS.len());
    let mut used = 0;
    let keep = text
        .char_indices()
        .find(|&(_, c)| {
            used += json_char_len(c);
            used > room
        })
        .map_or(text.len(), |(at, _)| at);
    text.truncate(keep);
    text.push_str(ELLIPSIS);
}

/// `text`, cut to at most `max` bytes (ellipsis included) on a character boundary: no text can
/// be longer than the whole body, and capping first spares serialising a huge event whole.
fn capped(text: &str, max: usize, truncated: &mut bool) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    *truncated = true;
    let mut text = text[..char_boundary(text.as_bytes(), max.saturating_sub(ELLIPSIS.len()))].to_owned();
    text.push_str(ELLIPSIS);
    text
}

impl TeamsSettings {
    /// Appends the message for `event` to `out` (compact JSON, no trailing newline), at most
    /// `max_bytes` long unless `max_bytes` is below [`MIN_MAX_BYTES`] and even the shortest card
    /// does not fit.
    pub fn encode(&self, event: &Event, out: &mut Vec<u8>) -> Encoded {
        let start = out.len();
        let max = self.max_bytes;
        let mut truncated = false;
        let mut texts = Texts {
            title: capped(card_title(event), max, &mut truncated),
            facts: card_facts(event, &self.fields)
                .into_iter()
                .map(|fact| (fact.label, capped(&fact.value, max, &mut truncated)))
                .collect(),
            description: description_text(event).map(|text| capped(&text, max, &mut truncated)),
        };
        loop {
            out.truncate(start);
            texts.write(out);
            let excess = (out.len() - start).saturating_sub(max);
            if excess == 0 {
                break;
            }
            // Lengths are measured as escaped in the JSON, so one cut usually suffices; another
            // round covers what character boundaries leave over.
            if !texts.cut(excess) {
                break;
            }
            truncated = true;
        }
        Encoded { truncated, ..Encoded::default() }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::encode::json::testing::{event, pretty, FINDING};

    fn encode(settings: &TeamsSettings, json: &str) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let outcome = settings.encode(&event(json), &mut out);
        assert_eq!(outcome.invalid_fields, 0);
        (out, outcome.truncated)
    }

    fn body(out: &[u8]) -> Vec<Value> {
        let message: Value = serde_json::from_slice(out).expect("output is JSON");
        message["attachments"][0]["content"]["body"].as_array().expect("body").clone()
    }

    fn facts(body: &[Value]) -> Vec<(String, String)> {
        body[1]["facts"]
            .as_array()
            .expect("facts")
            .iter()
            .map(|fact| (fact["title"].as_str().expect("title").into(), fact["value"].as_str().expect("value").into()))
            .collect()
    }

    #[test]
    fn golden_finding() {
        let settings = TeamsSettings {
            fields: vec![
                ("Source IP".into(), "source_ip".into()),
                ("User".into(), "user".into()),
                ("URL".into(), "url".into()),
                ("CWE".into(), "data.cwe".into()),
            ],
            ..TeamsSettings::default()
        };
        let (out, truncated) = encode(&settings, FINDING);
        assert!(!truncated);
        assert!(!out.contains(&b'\n'), "compact, no trailing newline");
        assert_eq!(pretty(&out), include_str!("../../tests/golden/teams_finding.json").trim_end());
    }

    #[test]
    fn golden_minimal_event() {
        let (out, truncated) = encode(
            &TeamsSettings::default(),
            r#"{"event":"login_failed","id":"l-1","timestamp":"2024-05-01T08:00:01Z","severity":3,"user":"root"}"#,
        );
        assert!(!truncated);
        assert_eq!(pretty(&out), include_str!("../../tests/golden/teams_minimal.json").trim_end());
    }

    #[test]
    fn missing_title_host_and_description() {
        let (out, truncated) = encode(
            &TeamsSettings { fields: vec![("Gone".into(), "gone".into())], ..TeamsSettings::default() },
            r#"{"event":"scan_started","id":"s-1","timestamp":"2024-05-01T12:00:00Z","title":"","description":"  "}"#,
        );
        assert!(!truncated);
        assert_eq!(
            body(&out),
            [
                json!({"type": "TextBlock", "text": "scan_started", "weight": "Bolder", "size": "Medium", "wrap": true}),
                json!({"type": "FactSet", "facts": [
                    {"title": "Severity", "value": "info"},
                    {"title": "Event type", "value": "scan_started"},
                    {"title": "Id", "value": "s-1"},
                    {"title": "Time", "value": "2024-05-01T12:00:00Z"},
                ]}),
            ]
        );
    }

    #[test]
    fn text_is_not_escaped_beyond_json() {
        let (out, _) = encode(
            &TeamsSettings { fields: vec![], ..TeamsSettings::default() },
            r#"{"event":"x","title":"a & <b> \"q\"","description":"**x** é\n"}"#,
        );
        let body = body(&out);
        assert_eq!(body[0]["text"], "a & <b> \"q\"");
        assert_eq!(body[2], json!({"type": "TextBlock", "text": "**x** é\n", "wrap": true}));
        assert!(String::from_utf8(out).expect("utf8").contains("é"), "non-ASCII is written as UTF-8, not \\u");
    }

    #[test]
    fn huge_event_is_cut_to_max_bytes() {
        let fields: Vec<(String, String)> = (1..=15).map(|n| (format!("Field {n}"), format!("f{n}"))).collect();
        let values: String = (1..=15).map(|n| format!(r#","f{n}":"{}""#, "v".repeat(2000))).collect();
        let json = format!(
            r#"{{"event":"e","id":"1","timestamp":"2024-05-01T12:00:00Z","title":"{}","description":"{}"{values}}}"#,
            "T".repeat(5000),
            "d\\\"".repeat(40_000),
        );
        let settings = TeamsSettings { fields, ..TeamsSettings::default() };
        let (out, truncated) = encode(&settings, &json);
        assert!(truncated);
        assert!(out.len() <= DEFAULT_MAX_BYTES, "{} bytes", out.len());
        assert!(out.len() > DEFAULT_MAX_BYTES - 64, "uses the room it has: {} bytes", out.len());
        let body = body(&out);
        let title = body[0]["text"].as_str().expect("title");
        assert!(title.starts_with("TTTT") && title.ends_with('…'));
        let facts = facts(&body);
        assert_eq!(facts.len(), 4 + 15, "no fact is dropped");
        assert_eq!(
            facts[..4].iter().map(|(title, _)| title.as_str()).collect::<Vec<_>>(),
            ["Severity", "Event type", "Id", "Time"]
        );
        assert_eq!(facts[3].1, "2024-05-01T12:00:00Z", "short values are kept");
        let description = body[2]["text"].as_str().expect("description");
        assert!(description.starts_with("d\"d\"") && description.ends_with('…'));
    }

    #[test]
    fn description_goes_first_when_it_is_the_longest() {
        let json = format!(r#"{{"event":"e","title":"short title","description":"{}"}}"#, "é".repeat(20_000));
        let (out, truncated) = encode(&TeamsSettings { max_bytes: 4000, ..TeamsSettings::default() }, &json);
        assert!(truncated);
        assert!(out.len() <= 4000 && out.len() > 3990, "{} bytes", out.len());
        let body = body(&out);
        assert_eq!(body[0]["text"], "short title");
        let description = body[2]["text"].as_str().expect("description");
        assert!(description.ends_with("éé…"));
    }

    #[test]
    fn the_longest_texts_are_cut_to_one_length_and_short_ones_kept() {
        let json = format!(
            r#"{{"event":"e","id":"1","timestamp":"2024-05-01T12:00:00Z","title":"{}","url":"{}","description":"tiny"}}"#,
            "t".repeat(3000),
            "\\".repeat(3000),
        );
        let settings = TeamsSettings { max_bytes: MIN_MAX_BYTES, ..TeamsSettings::default() };
        let (out, truncated) = encode(&settings, &json);
        assert!(truncated);
        assert!(out.len() <= MIN_MAX_BYTES && out.len() > MIN_MAX_BYTES - 8, "{} bytes", out.len());
        let body = body(&out);
        let title = body[0]["text"].as_str().expect("title");
        let url = facts(&body)[4].1.clone();
        assert!(title.ends_with("t…") && url.ends_with("\\…"));
        // Equal room in the JSON: each backslash takes two bytes there.
        assert!(title.len().abs_diff(2 * url.len() - 3) <= 2, "{} / {}", title.len(), url.len());
        assert_eq!(body[2]["text"], "tiny");
    }

    #[test]
    fn below_the_shortest_card_everything_is_an_ellipsis_and_the_description_goes() {
        let (out, truncated) = encode(&TeamsSettings { max_bytes: 10, ..TeamsSettings::default() }, FINDING);
        assert!(truncated);
        let body = body(&out);
        assert_eq!(body.len(), 2, "no description");
        assert_eq!(body[0]["text"], "…");
        let values: Vec<String> = facts(&body).into_iter().map(|(_, value)| value).collect();
        assert_eq!(values, ["…", "…", "…", "f-1", "…", "…", "…", "…"], "what is no longer than `…` stays");
    }

    #[test]
    fn within_the_limit_is_untouched() {
        let (whole, truncated) = encode(&TeamsSettings::default(), FINDING);
        assert!(!truncated);
        let (exact, truncated) = encode(&TeamsSettings { max_bytes: whole.len(), ..TeamsSettings::default() }, FINDING);
        assert!(!truncated);
        assert_eq!(exact, whole);
        let (smaller, truncated) =
            encode(&TeamsSettings { max_bytes: whole.len() - 1, ..TeamsSettings::default() }, FINDING);
        assert!(truncated);
        assert!(smaller.len() < whole.len());
    }
}
