//! Slack messages for incoming webhooks (and `chat.postMessage`), built with Block Kit.
//!
//! ```text
//! {"text": FALLBACK,
//!  "blocks": [
//!    {"type":"header","text":{"type":"plain_text","text":TITLE}},
//!    {"type":"section","fields":[{"type":"mrkdwn","text":"*Severity*\nhigh","verbatim":true}, ...]},
//!    {"type":"section","text":{"type":"mrkdwn","text":DESCRIPTION,"verbatim":true}},
//!    {"type":"context","elements":[{"type":"mrkdwn","text":FOOTER,"verbatim":true}]}]}
//! ```
//! Shapes and limits from Slack's reference (docs.slack.dev / api.slack.com):
//! * Block Kit "Header block": `text` is a `plain_text` object of at most 150 characters.
//!   TITLE is the event's title, or its type when it has none.
//! * "Section block": at most 10 `fields`, each text at most 2000 characters; a section's `text`
//!   at most 3000 characters. The fields are Severity, Event type, Host (when the event has one),
//!   Id, Time, then the configured fields the event has, until there are 10; the rest are left
//!   out. The description section (the event's `description`) is left out when there is none.
//! * "Context block": at most 10 elements; a text object is at most 3000 characters. Left out
//!   when the footer is empty.
//! * "Blocks": at most 50 per message (this format writes at most 4).
//! * Top-level `text` (the notification and screen-reader fallback when `blocks` are present):
//!   Slack truncates it at 40,000 characters (changelog "Truncating really long messages",
//!   2018), so it is cut here first. FALLBACK is `[SEVERITY] TITLE`, then ` (HOST)` when the
//!   event has a host.
//! * "Formatting text for app surfaces", *Escaping text*: `&`, `<` and `>` are Slack's control
//!   characters and are written as `&amp;`, `&lt;` and `&gt;` in every text taken from an event
//!   or the config (never any other entity). With `<` escaped an event cannot inject links or
//!   mentions (`<!channel>`, `<@U123>`); `"verbatim": true` on the mrkdwn objects also turns off
//!   Slack's automatic parsing of URLs, channel names and mentions in them. Other mrkdwn markup
//!   (`*bold*`, `_italic_`, `` `code` ``) has no escape in Slack and shows as formatting.
//!
//! Over-long text is never rejected: it is cut on a character boundary, an ellipsis (`…`) is
//! appended within the limit, and the outcome reports `truncated`. Lengths are counted after
//! escaping and in UTF-16 code units, which are never fewer than characters, so a text within
//! the limit here is within it however Slack counts characters.

use serde::Serialize;

use super::json::{card_facts, card_title, description_text, severity_text, ELLIPSIS};
use super::Encoded;
use crate::event::Event;

/// Header block text (plain_text), characters.
pub const HEADER_MAX: usize = 150;
/// Section block `fields`: items per section.
pub const FIELDS_MAX: usize = 10;
/// Section block `fields`: characters per item.
pub const FIELD_TEXT_MAX: usize = 2000;
/// Section block `text`, and any text object (context elements), characters.
pub const SECTION_TEXT_MAX: usize = 3000;
/// Top-level `text`, characters.
pub const TEXT_MAX: usize = 40_000;
/// Blocks per message.
pub const BLOCKS_MAX: usize = 50;

/// Footer shown in the context block unless the sink configures another.
pub const DEFAULT_FOOTER: &str = "siem-relay";

/// Settings of a `slack` sink, built once from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackSettings {
    /// Extra fields after the standard five: `(label, dotted event field path)`. Only as many as
    /// fit in [`FIELDS_MAX`] are shown; labels should be short (they count toward each field's
    /// [`FIELD_TEXT_MAX`]).
    pub fields: Vec<(String, String)>,
    /// Text of the context block at the bottom (mrkdwn, escaped like event text); empty for no
    /// context block.
    pub footer: String,
}

impl Default for SlackSettings {
    /// The [`super::json::DEFAULT_CARD_FIELDS`] and [`DEFAULT_FOOTER`].
    fn default() -> Self {
        SlackSettings { fields: super::json::default_card_fields(), footer: DEFAULT_FOOTER.to_owned() }
    }
}

#[derive(Serialize)]
struct Message {
    text: String,
    blocks: Vec<Block>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Header {
        text: Text,
    },
    Section {
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<Text>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        fields: Vec<Text>,
    },
    Context {
        elements: Vec<Text>,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Text {
    PlainText { text: String },
    Mrkdwn { text: String, verbatim: bool },
}

impl Text {
    fn mrkdwn(text: String) -> Self {
        Text::Mrkdwn { text, verbatim: true }
    }
}

impl SlackSettings {
    /// Appends the message for `event` to `out` (compact JSON, no trailing newline).
    pub fn encode(&self, event: &Event, out: &mut Vec<u8>) -> Encoded {
        let mut truncated = false;
        let title = card_title(event);
        let severity = severity_text(event.severity());

        let mut fallback = format!("[{severity}] {title}");
        if let Some(host) = event.host().filter(|host| !host.is_empty()) {
            fallback.push_str(" (");
            fallback.push_str(host);
            fallback.push(')');
        }
        let mut text = String::new();
        truncated |= push_escaped(&mut text, &fallback, TEXT_MAX);

        let mut blocks = Vec::with_capacity(4);
        let mut header = String::new();
        truncated |= push_escaped(&mut header, title, HEADER_MAX);
        blocks.push(Block::Header { text: Text::PlainText { text: header } });

        let facts = card_facts(event, &self.fields);
        truncated |= facts.len() > FIELDS_MAX;
        let fields = facts
            .iter()
            .take(FIELDS_MAX)
            .map(|fact| {
                let mut text = String::from("*");
                // The label gets what the value leaves, minus the `*`, `*` and line break.
                truncated |= push_escaped(&mut text, fact.label, FIELD_TEXT_MAX - 3);
                text.push_str("*\n");
                let room = FIELD_TEXT_MAX - units(&text);
                truncated |= push_escaped(&mut text, &fact.value, room);
                Text::mrkdwn(text)
            })
            .collect();
        blocks.push(Block::Section { text: None, fields });

        if let Some(description) = description_text(event) {
            let mut text = String::new();
            truncated |= push_escaped(&mut text, &description, SECTION_TEXT_MAX);
            blocks.push(Block::Section { text: Some(Text::mrkdwn(text)), fields: Vec::new() });
        }
        if !self.footer.is_empty() {
            let mut text = String::new();
            truncated |= push_escaped(&mut text, &self.footer, SECTION_TEXT_MAX);
            blocks.push(Block::Context { elements: vec![Text::mrkdwn(text)] });
        }
        debug_assert!(blocks.len() <= BLOCKS_MAX);

        // Serialising strings into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &Message { text, blocks });
        Encoded { truncated, ..Encoded::default() }
    }
}

/// Slack's escaping (`&`, `<`, `>`) of one character.
fn escape(c: char) -> Option<&'static str> {
    match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        _ => None,
    }
}

/// Length in UTF-16 code units.
fn units(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// Length of `c` once escaped, in UTF-16 code units.
fn escaped_units(c: char) -> usize {
    escape(c).map_or(c.len_utf16(), str::len)
}

/// Appends `text` escaped, at most `max` UTF-16 units of it: when the escaped text is longer, it
/// is cut on a character boundary (never inside an entity) and ends with [`ELLIPSIS`] within
/// `max`. Returns whether it was cut.
fn push_escaped(out: &mut String, text: &str, max: usize) -> bool {
    let whole = text.chars().map(escaped_units).sum::<usize>() <= max;
    let room = if whole { max } else { max.saturating_sub(units(ELLIPSIS)) };
    let mut used = 0;
    for c in text.chars() {
        used += escaped_units(c);
        if used > room {
            break;
        }
        match escape(c) {
            Some(entity) => out.push_str(entity),
            None => out.push(c),
        }
    }
    if !whole && max >= units(ELLIPSIS) {
        out.push_str(ELLIPSIS);
    }
    !whole
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::encode::json::testing::{event, pretty, FINDING};

    fn settings(fields: &[(&str, &str)]) -> SlackSettings {
        let fields = fields.iter().map(|(label, path)| ((*label).to_owned(), (*path).to_owned())).collect();
        SlackSettings { fields, ..SlackSettings::default() }
    }

    fn encode(settings: &SlackSettings, json: &str) -> (Value, bool) {
        let mut out = Vec::new();
        let outcome = settings.encode(&event(json), &mut out);
        assert_eq!(outcome.invalid_fields, 0);
        (serde_json::from_slice(&out).expect("output is JSON"), outcome.truncated)
    }

    fn field_texts(message: &Value) -> Vec<&str> {
        message["blocks"][1]["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|field| field["text"].as_str().expect("text"))
            .collect()
    }

    #[test]
    fn golden_finding() {
        let mut out = Vec::new();
        let outcome = settings(&[("Source IP", "source_ip"), ("User", "user"), ("URL", "url"), ("CWE", "data.cwe")])
            .encode(&event(FINDING), &mut out);
        assert!(!outcome.truncated);
        assert!(!out.contains(&b'\n'), "compact, no trailing newline");
        assert_eq!(pretty(&out), include_str!("../../tests/golden/slack_finding.json").trim_end());
    }

    #[test]
    fn golden_truncated() {
        let fields: Vec<(String, String)> = (1..=15).map(|n| (format!("F{n}"), format!("f{n}"))).collect();
        let values: String = (1..=15).map(|n| format!(r#","f{n}":"v{n}""#)).collect();
        let json = format!(
            r#"{{"event":"finding_added","id":"f-2","timestamp":"2024-05-01T12:00:00Z","severity":7,"title":"{}","description":"{}"{values}}}"#,
            "T".repeat(200),
            "<d>".repeat(1000) + &"D".repeat(2000),
        );
        let mut out = Vec::new();
        let outcome = SlackSettings { fields, footer: String::new() }.encode(&event(&json), &mut out);
        assert!(outcome.truncated);
        assert_eq!(pretty(&out), include_str!("../../tests/golden/slack_truncated.json").trim_end());
    }

    #[test]
    fn escapes_control_characters_in_every_event_text() {
        let (message, truncated) = encode(
            &SlackSettings { fields: vec![("A&B <x>".into(), "v".into())], footer: "<!channel> & co".into() },
            r#"{"event":"e<1>","id":"i&d","title":"<@U123> & <!here>","host":"h>","description":"a < b && c > d &amp;","v":"<https://evil|click>"}"#,
        );
        assert!(!truncated);
        assert_eq!(message["text"], "[info] &lt;@U123&gt; &amp; &lt;!here&gt; (h&gt;)");
        assert_eq!(message["blocks"][0]["text"]["text"], "&lt;@U123&gt; &amp; &lt;!here&gt;");
        assert_eq!(
            field_texts(&message),
            [
                "*Severity*\ninfo",
                "*Event type*\ne&lt;1&gt;",
                "*Host*\nh&gt;",
                "*Id*\ni&amp;d",
                "*Time*\n2024-05-01T12:00:00Z",
                "*A&amp;B &lt;x&gt;*\n&lt;https://evil|click&gt;",
            ]
        );
        assert_eq!(message["blocks"][2]["text"]["text"], "a &lt; b &amp;&amp; c &gt; d &amp;amp;");
        assert_eq!(message["blocks"][3]["elements"][0]["text"], "&lt;!channel&gt; &amp; co");
    }

    #[test]
    fn header_is_cut_to_150_characters_with_an_ellipsis() {
        let title = "x".repeat(200);
        let (message, truncated) = encode(&settings(&[]), &format!(r#"{{"event":"e","title":"{title}"}}"#));
        assert!(truncated);
        assert_eq!(message["blocks"][0]["text"]["text"], format!("{}…", "x".repeat(149)));
        // The fallback text has room for the whole title.
        assert_eq!(message["text"], format!("[info] {title}"));

        let (message, truncated) = encode(&settings(&[]), &format!(r#"{{"event":"e","title":"{}"}}"#, "x".repeat(150)));
        assert!(!truncated);
        assert_eq!(message["blocks"][0]["text"]["text"], "x".repeat(150));
    }

    #[test]
    fn cuts_count_escapes_and_never_split_an_entity_or_a_character() {
        // 50 `&` escape to 250 units: 29 whole entities (145) and the ellipsis fit in 150.
        let (message, truncated) = encode(&settings(&[]), &format!(r#"{{"event":"e","title":"{}"}}"#, "&".repeat(50)));
        assert!(truncated);
        assert_eq!(message["blocks"][0]["text"]["text"], format!("{}…", "&amp;".repeat(29)));
        // U+1F600 is two UTF-16 units: 74 of them and the ellipsis make 149.
        let (message, _) = encode(&settings(&[]), &format!(r#"{{"event":"e","title":"{}"}}"#, "😀".repeat(100)));
        assert_eq!(message["blocks"][0]["text"]["text"], format!("{}…", "😀".repeat(74)));
    }

    #[test]
    fn description_is_cut_to_3000_characters() {
        let description = "d".repeat(5000);
        let (message, truncated) = encode(&settings(&[]), &format!(r#"{{"event":"e","description":"{description}"}}"#));
        assert!(truncated);
        let text = message["blocks"][2]["text"]["text"].as_str().expect("text");
        assert_eq!(text.chars().count(), 3000);
        assert_eq!(text, format!("{}…", "d".repeat(2999)));
        assert_eq!(message["blocks"][2]["text"]["type"], "mrkdwn");
    }

    #[test]
    fn at_most_ten_fields_each_at_most_2000_characters() {
        let fields: Vec<(String, String)> = (1..=15).map(|n| (format!("F{n}"), format!("f{n}"))).collect();
        let values: String = (1..=15).map(|n| format!(r#","f{n}":"{n}""#)).collect();
        let (message, truncated) = encode(
            &SlackSettings { fields: fields.clone(), footer: String::new() },
            &format!(r#"{{"event":"e","host":"h"{values}}}"#),
        );
        assert!(truncated);
        let texts = field_texts(&message);
        assert_eq!(texts.len(), 10);
        assert_eq!(texts[5..], ["*F1*\n1", "*F2*\n2", "*F3*\n3", "*F4*\n4", "*F5*\n5"]);

        // Fields the event lacks take no room, and fitting exactly is not a cut.
        let values: String = (11..=15).map(|n| format!(r#","f{n}":"{n}""#)).collect();
        let (message, truncated) =
            encode(&SlackSettings { fields, footer: String::new() }, &format!(r#"{{"event":"e","host":"h"{values}}}"#));
        assert!(!truncated);
        assert_eq!(field_texts(&message)[5..], ["*F11*\n11", "*F12*\n12", "*F13*\n13", "*F14*\n14", "*F15*\n15"]);

        let (message, truncated) =
            encode(&settings(&[("Big", "big")]), &format!(r#"{{"event":"e","big":"{}"}}"#, "b".repeat(3000)));
        assert!(truncated);
        let big = field_texts(&message)[4];
        assert_eq!(big.chars().count(), 2000);
        assert_eq!(big, format!("*Big*\n{}…", "b".repeat(2000 - 7)));
    }

    #[test]
    fn fallback_text_is_cut_to_40000_characters() {
        let title = "t".repeat(50_000);
        let (message, truncated) = encode(&settings(&[]), &format!(r#"{{"event":"e","title":"{title}","host":"h"}}"#));
        assert!(truncated);
        let text = message["text"].as_str().expect("text");
        assert_eq!(text.chars().count(), 40_000);
        assert!(text.starts_with("[info] ttt") && text.ends_with("tt…"));
    }

    #[test]
    fn missing_title_host_description_and_footer() {
        let (message, truncated) = encode(
            &SlackSettings { fields: vec![("User".into(), "user".into())], footer: String::new() },
            r#"{"event":"login_failed","id":"l-1","timestamp":"2024-05-01T08:00:01Z","severity":"low","user":null}"#,
        );
        assert!(!truncated);
        assert_eq!(
            message,
            json!({
                "text": "[low] login_failed",
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": "login_failed"}},
                    {"type": "section", "fields": [
                        {"type": "mrkdwn", "text": "*Severity*\nlow", "verbatim": true},
                        {"type": "mrkdwn", "text": "*Event type*\nlogin_failed", "verbatim": true},
                        {"type": "mrkdwn", "text": "*Id*\nl-1", "verbatim": true},
                        {"type": "mrkdwn", "text": "*Time*\n2024-05-01T08:00:01Z", "verbatim": true},
                    ]},
                ]
            })
        );
    }

    #[test]
    fn push_escaped_edge_cases() {
        let cut = |text: &str, max| {
            let mut out = String::from(">");
            let truncated = push_escaped(&mut out, text, max);
            (out, truncated)
        };
        assert_eq!(cut("", 0), (">".to_owned(), false));
        assert_eq!(cut("abc", 3), (">abc".to_owned(), false));
        assert_eq!(cut("abcd", 3), (">ab…".to_owned(), true));
        assert_eq!(cut("abcd", 1), (">…".to_owned(), true));
        assert_eq!(cut("abcd", 0), (">".to_owned(), true));
        assert_eq!(cut("a&b", 7), (">a&amp;b".to_owned(), false));
        assert_eq!(cut("a&b", 6), (">a…".to_owned(), true));
    }
}
