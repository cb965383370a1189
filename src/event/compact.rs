//! A strict JSON (RFC 8259) reader for event lines: it checks one line, writes it back without
//! insignificant white space, and records where each top-level member's key and value are in
//! that compact text.
//!
//! This is what lets an event live as one string plus one small index instead of a tree of
//! allocated values: every later lookup and every JSON output reads the compact text, and
//! strings keep their original escapes (unescaped only when a consumer asks for the text).
//!
//! What is rejected, as serde_json rejects it: anything outside the RFC 8259 grammar (trailing
//! commas, single quotes, comments, leading zeros, bare control characters in strings, ...),
//! `\u` escapes that are lone surrogates, numbers too large for an `f64`, and nesting deeper
//! than [`MAX_DEPTH`].

use super::FieldValue;

/// Deepest nesting of arrays and objects accepted (serde_json's default recursion limit).
pub const MAX_DEPTH: usize = 128;

/// Where something is in the compact text (byte offsets; the text is bounded by
/// `max_event_bytes`, far below 4 GiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        // Lines are limited to far less than 4 GiB before they get here (see `Event::decode`).
        Span { start: start as u32, end: end as u32 }
    }

    pub fn of(self, text: &str) -> &str {
        text.get(self.start as usize..self.end as usize).unwrap_or_default()
    }
}

/// One top-level member: its key as written between the quotes (escapes kept), and its value's
/// JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub key: Span,
    pub value: Span,
    /// The key holds escapes, so comparing it needs unescaping (rare).
    pub escaped_key: bool,
    /// The value is a string that holds escapes.
    pub escaped_value: bool,
}

impl Member {
    /// This member's value in `json`, the text the member was read from.
    pub fn value_in(self, json: &str) -> FieldValue<'_> {
        let text = self.value.of(json);
        if self.escaped_value {
            FieldValue::from_json(text)
        } else {
            FieldValue::from_plain_json(text)
        }
    }

    /// Whether this member's key is `name`.
    pub fn key_is(&self, json: &str, name: &str) -> bool {
        let key = self.key.of(json);
        if self.escaped_key {
            super::value::unescape(key) == name
        } else {
            key == name
        }
    }
}

/// Why a line is not an acceptable JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Not JSON; the message says what and at which column (1-based, in bytes).
    Invalid(String),
    /// Valid JSON, but not an object.
    NotAnObject,
}

/// Checks `input` and appends its compact form to `out`, and its top-level members to
/// `members`. `out` and `members` may hold data from earlier use; only what is appended counts,
/// and spans are offsets into `out` as a whole.
pub fn compact(input: &str, out: &mut String, members: &mut Vec<Member>) -> Result<(), Rejection> {
    let base = out.len();
    let mut reader = Reader { input, bytes: input.as_bytes(), at: 0, out, members, base, removed: 0, copied_to: 0 };
    reader.skip_white_space();
    let is_object = reader.peek() == Some(b'{');
    reader.value(0)?;
    reader.skip_white_space();
    if reader.at != reader.bytes.len() {
        return Err(reader.error("trailing characters"));
    }
    reader.flush(reader.at);
    if is_object {
        Ok(())
    } else {
        Err(Rejection::NotAnObject)
    }
}

/// Reads `input`; the compact text is written lazily: everything between two stretches of
/// white space is copied in one go, so an already compact line is copied once, whole.
struct Reader<'a, 'o> {
    input: &'a str,
    bytes: &'a [u8],
    at: usize,
    out: &'o mut String,
    members: &'o mut Vec<Member>,
    /// Length of `out` before this line.
    base: usize,
    /// White space dropped so far.
    removed: usize,
    /// Input before this has been copied to `out` or dropped.
    copied_to: usize,
}

impl Reader<'_, '_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn error(&self, what: &str) -> Rejection {
        Rejection::Invalid(format!("{what} at column {}", self.at + 1))
    }

    fn skip_white_space(&mut self) {
        let start = self.at;
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
        if self.at > start {
            self.flush(start);
            self.removed += self.at - start;
            self.copied_to = self.at;
        }
    }

    /// Copies what is not yet copied, up to `end` (an ASCII byte or the end of the input, so a
    /// character boundary).
    fn flush(&mut self, end: usize) {
        self.out.push_str(self.input.get(self.copied_to..end).unwrap_or_default());
        self.copied_to = end;
    }

    /// Where the input at `self.at` is (or will be) in the compact text.
    fn out_at(&self) -> usize {
        self.base + self.at - self.removed
    }

    /// One value at nesting `depth` (0 for the line itself). Returns whether it is a string
    /// that holds escapes.
    fn value(&mut self, depth: usize) -> Result<bool, Rejection> {
        let plain = |done: Result<(), Rejection>| done.map(|()| false);
        match self.peek() {
            Some(b'{') => plain(self.object(depth)),
            Some(b'[') => plain(self.array(depth)),
            Some(b'"') => self.string(),
            Some(b't') => plain(self.literal("true")),
            Some(b'f') => plain(self.literal("false")),
            Some(b'n') => plain(self.literal("null")),
            Some(b'-' | b'0'..=b'9') => plain(self.number()),
            Some(_) => Err(self.error("expected value")),
            None => Err(self.error("EOF while parsing a value")),
        }
    }

    fn nested(&self, depth: usize) -> Result<usize, Rejection> {
        if depth >= MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        Ok(depth + 1)
    }

    fn object(&mut self, depth: usize) -> Result<(), Rejection> {
        let inner = self.nested(depth)?;
        self.at += 1;
        self.skip_white_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a key (a string)"));
            }
            let key_start = self.out_at() + 1;
            let escaped_key = self.string()?;
            let key = Span::new(key_start, self.out_at() - 1);
            self.skip_white_space();
            if self.peek() != Some(b':') {
                return Err(self.error("expected `:`"));
            }
            self.at += 1;
            self.skip_white_space();
            let value_start = self.out_at();
            let escaped_value = self.value(inner)?;
            if depth == 0 {
                let value = Span::new(value_start, self.out_at());
                self.members.push(Member { key, value, escaped_key, escaped_value });
            }
            self.skip_white_space();
            match self.peek() {
                Some(b',') => {
                    self.at += 1;
                    self.skip_white_space();
                }
                Some(b'}') => {
                    self.at += 1;
                    return Ok(());
                }
                Some(_) => return Err(self.error("expected `,` or `}`")),
                None => return Err(self.error("EOF while parsing an object")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), Rejection> {
        let inner = self.nested(depth)?;
        self.at += 1;
        self.skip_white_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.value(inner)?;
            self.skip_white_space();
            match self.peek() {
                Some(b',') => {
                    self.at += 1;
                    self.skip_white_space();
                }
                Some(b']') => {
                    self.at += 1;
                    return Ok(());
                }
                Some(_) => return Err(self.error("expected `,` or `]`")),
                None => return Err(self.error("EOF while parsing a list")),
            }
        }
    }

    /// A string, copied as written (escapes kept), after checking every escape. Returns whether
    /// it holds escapes.
    fn string(&mut self) -> Result<bool, Rejection> {
        let mut escaped = false;
        self.at += 1;
        loop {
            // Plain text runs are the common case: find the run's end with a vectorised search,
            // then check the run for control characters (also vectorised: no early exit).
            let rest = &self.bytes[self.at..];
            let Some(run) = memchr::memchr2(b'"', b'\\', rest) else {
                self.at = self.bytes.len();
                return Err(self.error("EOF while parsing a string"));
            };
            if rest[..run].iter().fold(false, |control, &b| control | (b < 0x20)) {
                self.at += rest[..run].iter().position(|&b| b < 0x20).unwrap_or(0);
                return Err(self.error("control character (\\u0000-\\u001F) found while parsing a string"));
            }
            self.at += run;
            match self.bytes[self.at] {
                b'"' => {
                    self.at += 1;
                    return Ok(escaped);
                }
                _ => {
                    escaped = true;
                    self.escape()?;
                }
            }
        }
    }

    /// Checks the escape at `self.at` (a backslash) and moves past it.
    fn escape(&mut self) -> Result<(), Rejection> {
        self.at += 1;
        match self.peek() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.at += 1;
                Ok(())
            }
            Some(b'u') => {
                self.at += 1;
                let unit = self.hex4()?;
                match unit {
                    0xD800..=0xDBFF => {
                        if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                            return Err(self.error("lone leading surrogate in hex escape"));
                        }
                        self.at += 2;
                        if !(0xDC00..=0xDFFF).contains(&self.hex4()?) {
                            return Err(self.error("lone leading surrogate in hex escape"));
                        }
                        Ok(())
                    }
                    0xDC00..=0xDFFF => Err(self.error("lone trailing surrogate in hex escape")),
                    _ => Ok(()),
                }
            }
            _ => Err(self.error("invalid escape")),
        }
    }

    fn hex4(&mut self) -> Result<u16, Rejection> {
        let digits = self.bytes.get(self.at..self.at + 4).ok_or_else(|| self.error("EOF while parsing a string"))?;
        let mut unit = 0u16;
        for &digit in digits {
            let value = (digit as char).to_digit(16).ok_or_else(|| self.error("invalid \\u escape"))?;
            unit = unit * 16 + value as u16;
        }
        self.at += 4;
        Ok(unit)
    }

    fn literal(&mut self, word: &'static str) -> Result<(), Rejection> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(())
        } else {
            Err(self.error("expected value"))
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, finite as an `f64`.
    fn number(&mut self) -> Result<(), Rejection> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("invalid number")),
        }
        let integer_digits = self.at - start;
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        let exponent = matches!(self.peek(), Some(b'e' | b'E'));
        if exponent {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        // Every number must be a finite f64 (as serde_json requires). Without an exponent, up to
        // 300 integer digits are far below f64::MAX (about 1.8e308), so only the rest is parsed.
        let text = self.input.get(start..self.at).unwrap_or_default();
        if (exponent || integer_digits > 300) && !text.parse::<f64>().is_ok_and(f64::is_finite) {
            return Err(self.error("number out of range"));
        }
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str) -> Result<(String, Vec<(String, String)>), Rejection> {
        let (mut out, mut members) = (String::new(), Vec::new());
        compact(input, &mut out, &mut members)?;
        let pairs = members.iter().map(|m| (m.key.of(&out).to_owned(), m.value.of(&out).to_owned())).collect();
        Ok((out, pairs))
    }

    #[test]
    fn removes_white_space_and_indexes_top_level_members() {
        let (out, members) =
            run(" { \"a\" : 1 ,\t\"b\\\"\":{ \"c\" : [ 1 , \"x y\" , true , null ] } ,\"d\":-0.5e+3 }\r\n")
                .expect("valid");
        assert_eq!(out, r#"{"a":1,"b\"":{"c":[1,"x y",true,null]},"d":-0.5e+3}"#);
        assert_eq!(
            members,
            [
                ("a".to_owned(), "1".to_owned()),
                ("b\\\"".to_owned(), r#"{"c":[1,"x y",true,null]}"#.to_owned()),
                ("d".to_owned(), "-0.5e+3".to_owned())
            ]
        );
    }

    #[test]
    fn agrees_with_serde_json_on_what_is_json() {
        let cases = [
            "{}",
            "[]",
            "{\"a\":[]}",
            "{\"a\":\"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\"}",
            "{\"a\":\"caf\u{e9} \u{1F600}\"}",
            "{\"a\":1e308,\"b\":-0,\"c\":0.0,\"d\":12345678901234567890123}",
            "{\"a\":1e309}",
            "{\"a\":1,}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":.5}",
            "{\"a\":+1}",
            "{\"a\":1e}",
            "{'a':1}",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":\"\\udc00\"}",
            "{\"a\":\"\\ud800\\u0041\"}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12g4\"}",
            "{\"a\":\"tab\there\"}",
            "{\"a\":tru}",
            "{\"a\":nul}",
            "{\"a\" 1}",
            "{\"a\":1 \"b\":2}",
            "{\"a\":[1 2]}",
            "{\"a\":[1,]}",
            "{1:2}",
            "{\"a\":1}}",
            "{\"a\":1} x",
            "{\"a\":",
            "{\"a",
            "",
            "   ",
            "nul",
            "\"just a string\"",
            "42",
        ];
        for case in cases {
            let ours = run(case);
            let theirs = serde_json::from_str::<serde_json::Value>(case);
            match (&ours, &theirs) {
                (Ok(_), Ok(value)) => assert!(value.is_object(), "{case:?}"),
                (Err(Rejection::NotAnObject), Ok(value)) => assert!(!value.is_object(), "{case:?}"),
                (Err(Rejection::Invalid(_)), Err(_)) => {}
                _ => panic!("{case:?}: ours {ours:?}, serde_json {theirs:?}"),
            }
            if let (Ok((out, _)), Ok(value)) = (&ours, &theirs) {
                let again: serde_json::Value = serde_json::from_str(out).expect("compact output is JSON");
                assert_eq!(&again, value, "{case:?}");
            }
        }
    }

    #[test]
    fn nesting_is_limited() {
        let deep = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        assert!(run(&deep(MAX_DEPTH - 1)).is_ok());
        assert_eq!(
            run(&deep(MAX_DEPTH)),
            Err(Rejection::Invalid(format!("recursion limit exceeded at column {}", MAX_DEPTH + 5)))
        );
    }

    #[test]
    fn errors_say_what_and_where() {
        assert_eq!(run("{\"a\":1,}"), Err(Rejection::Invalid("expected a key (a string) at column 8".into())));
        assert_eq!(run("{\"a\":1} x"), Err(Rejection::Invalid("trailing characters at column 9".into())));
    }
}
