//! A strict JSON (RFC 8259) reader for event lines: it checks one line, writes it back without
//! insignificant white space, and records where each object member's key and value are in that
//! compact text (members of the top-level object, and of objects nested in it through objects,
//! each with its parent: the members that dotted field paths can name).
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

/// [`Member::parent`] of the top-level object's members.
pub const ROOT: u32 = PARENT_BITS;
/// Bits of [`Member::links`]: the parent index, and two flags.
const PARENT_BITS: u32 = (1 << 30) - 1;
/// The key holds escapes, so comparing it needs unescaping (rare).
const ESCAPED_KEY: u32 = 1 << 30;
/// The value is a string that holds escapes.
const ESCAPED_VALUE: u32 = 1 << 31;

/// One object member: its key as written between the quotes (escapes kept), and its value's
/// JSON text. 16 bytes: events hold one per member, so this is most of an event's index. The
/// key's end is not stored: in compact text a value always follows its key as `"key":value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    key_start: u32,
    pub value: Span,
    /// The parent index ([`PARENT_BITS`]) and the escape flags.
    links: u32,
}

impl Member {
    /// A member whose key starts at `key_start` and whose value is at `value` (compact text
    /// `"key":value`). `parent` is the index of the member whose value holds this one, or
    /// [`ROOT`]; indexes stay below 2^30, since a line of at most 2^31 bytes cannot hold more
    /// members.
    pub fn new(key_start: usize, value: Span, parent: u32, escaped_key: bool) -> Member {
        let links = (parent & PARENT_BITS) | if escaped_key { ESCAPED_KEY } else { 0 };
        Member { key_start: key_start as u32, value, links }
    }

    /// The index of the member whose value is the object holding this one, or [`ROOT`].
    pub fn parent(&self) -> u32 {
        self.links & PARENT_BITS
    }

    /// The key as written between its quotes.
    pub fn key(&self) -> Span {
        Span { start: self.key_start, end: self.value.start.saturating_sub(2).max(self.key_start) }
    }

    fn escaped_key(&self) -> bool {
        self.links & ESCAPED_KEY != 0
    }

    /// The key, unescaped.
    pub fn unescaped_key<'a>(&self, json: &'a str) -> std::borrow::Cow<'a, str> {
        let key = self.key().of(json);
        if self.escaped_key() {
            super::value::unescape(key)
        } else {
            std::borrow::Cow::Borrowed(key)
        }
    }

    /// This member's value in `json`, the text the member was read from.
    pub fn value_in(self, json: &str) -> FieldValue<'_> {
        let text = self.value.of(json);
        if self.links & ESCAPED_VALUE != 0 {
            FieldValue::from_json(text)
        } else {
            FieldValue::from_plain_json(text)
        }
    }

    /// Whether this member's key is `name`. Called for every member on every lookup, so the
    /// common case compares lengths, then bytes.
    #[inline]
    pub fn key_is(&self, json: &str, name: &str) -> bool {
        if self.escaped_key() {
            return super::value::unescape(self.key().of(json)) == name;
        }
        let key = self.key();
        let (start, end) = (key.start as usize, key.end as usize);
        end.checked_sub(start) == Some(name.len()) && json.as_bytes().get(start..end) == Some(name.as_bytes())
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

/// What the reader found wrong and where (a byte offset): small, so that every step of the
/// reader returns it in registers; the message is made only once, for the caller.
#[derive(Debug, Clone, Copy)]
struct Fault {
    what: &'static str,
    at: usize,
}

/// Checks `input` and appends its compact form to `out`, and its top-level members to
/// `members`. `out` and `members` may hold data from earlier use; only what is appended counts,
/// and spans are offsets into `out` as a whole.
pub fn compact(input: &str, out: &mut String, members: &mut Vec<Member>) -> Result<(), Rejection> {
    let base = out.len();
    let mut reader = Reader { input, bytes: input.as_bytes(), at: 0, out, members, base, removed: 0, copied_to: 0 };
    reader.skip_white_space();
    let is_object = reader.peek() == Some(b'{');
    let read = reader.value(0, Some(ROOT)).and_then(|_| {
        reader.skip_white_space();
        if reader.at == reader.bytes.len() {
            Ok(())
        } else {
            Err(reader.error("trailing characters"))
        }
    });
    if let Err(Fault { what, at }) = read {
        return Err(Rejection::Invalid(format!("{what} at column {}", at + 1)));
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

    fn error(&self, what: &'static str) -> Fault {
        Fault { what, at: self.at }
    }

    /// Skips white space; most calls find none, so that case is inlined.
    #[inline(always)]
    fn skip_white_space(&mut self) {
        if matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.drop_white_space();
        }
    }

    fn drop_white_space(&mut self) {
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

    /// One value at nesting `depth` (0 for the line itself); if it is an object, its members
    /// are indexed with parent `members_parent` (`None`: not indexed). Returns whether the value
    /// is a string that holds escapes.
    fn value(&mut self, depth: usize, members_parent: Option<u32>) -> Result<bool, Fault> {
        let plain = |done: Result<(), Fault>| done.map(|()| false);
        match self.peek() {
            Some(b'{') => plain(self.object(depth, members_parent)),
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

    fn nested(&self, depth: usize) -> Result<usize, Fault> {
        if depth >= MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        Ok(depth + 1)
    }

    fn object(&mut self, depth: usize, parent: Option<u32>) -> Result<(), Fault> {
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
            self.skip_white_space();
            if self.peek() != Some(b':') {
                return Err(self.error("expected `:`"));
            }
            self.at += 1;
            self.skip_white_space();
            let value_start = self.out_at();
            match parent {
                Some(parent) => {
                    // Pushed before its value is read, so members of a nested object can name
                    // it as their parent.
                    let index = self.members.len();
                    let placeholder = Span::new(value_start, value_start);
                    self.members.push(Member::new(key_start, placeholder, parent, escaped_key));
                    let escaped_value = self.value(inner, Some(index as u32))?;
                    let value = Span::new(value_start, self.out_at());
                    if let Some(member) = self.members.get_mut(index) {
                        member.value = value;
                        if escaped_value {
                            member.links |= ESCAPED_VALUE;
                        }
                    }
                }
                None => {
                    self.value(inner, None)?;
                }
            }
            if !self.more(b'}', "expected `,` or `}`", "EOF while parsing an object")? {
                return Ok(());
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), Fault> {
        let inner = self.nested(depth)?;
        self.at += 1;
        self.skip_white_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        loop {
            // Members of objects inside arrays cannot be named by a field path.
            self.value(inner, None)?;
            if !self.more(b']', "expected `,` or `]`", "EOF while parsing a list")? {
                return Ok(());
            }
        }
    }

    /// After a member or an element: a `,` means more follow (`true`), `close` ends the object
    /// or array (`false`); anything else is an error.
    fn more(&mut self, close: u8, expected: &'static str, eof: &'static str) -> Result<bool, Fault> {
        self.skip_white_space();
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                self.skip_white_space();
                Ok(true)
            }
            Some(byte) if byte == close => {
                self.at += 1;
                Ok(false)
            }
            Some(_) => Err(self.error(expected)),
            None => Err(self.error(eof)),
        }
    }

    /// A string, copied as written (escapes kept), after checking every escape. Returns whether
    /// it holds escapes.
    fn string(&mut self) -> Result<bool, Fault> {
        let mut escaped = false;
        self.at += 1;
        loop {
            // Plain text runs are the common case: skip them eight bytes at a time.
            let Some(run) = string_stop(&self.bytes[self.at..]) else {
                self.at = self.bytes.len();
                return Err(self.error("EOF while parsing a string"));
            };
            self.at += run;
            match self.bytes[self.at] {
                b'"' => {
                    self.at += 1;
                    return Ok(escaped);
                }
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                _ => return Err(self.error("control character (\\u0000-\\u001F) found while parsing a string")),
            }
        }
    }

    /// Checks the escape at `self.at` (a backslash) and moves past it.
    fn escape(&mut self) -> Result<(), Fault> {
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

    fn hex4(&mut self) -> Result<u16, Fault> {
        let digits = self.bytes.get(self.at..self.at + 4).ok_or_else(|| self.error("EOF while parsing a string"))?;
        let mut unit = 0u16;
        for &digit in digits {
            let value = (digit as char).to_digit(16).ok_or_else(|| self.error("invalid \\u escape"))?;
            unit = unit * 16 + value as u16;
        }
        self.at += 4;
        Ok(unit)
    }

    fn literal(&mut self, word: &'static str) -> Result<(), Fault> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(())
        } else {
            Err(self.error("expected value"))
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, finite as an `f64`.
    fn number(&mut self) -> Result<(), Fault> {
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

/// The index of the first byte of `bytes` that ends a plain run inside a string: `"`, `\` or a
/// control character (below 0x20). Eight bytes per step (SWAR): for each condition, the lowest
/// flagged byte of a word is exact (false flags only appear above a true one), so the lowest
/// flag over all three is the first stop.
fn string_stop(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |word: u64| word.wrapping_sub(ONES) & !word & HIGH;
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else { break };
        let word = u64::from_le_bytes(word);
        let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
        let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
        let stops = quote | backslash | control;
        if stops != 0 {
            return Some(at + (stops.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks.remainder().iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20).map(|found| at + found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str) -> Result<(String, Vec<(String, String)>), Rejection> {
        let (mut out, mut members) = (String::new(), Vec::new());
        compact(input, &mut out, &mut members)?;
        let pairs = members.iter().map(|m| (m.key().of(&out).to_owned(), m.value.of(&out).to_owned())).collect();
        Ok((out, pairs))
    }

    #[test]
    fn removes_white_space_and_indexes_members() {
        let (out, members) =
            run(" { \"a\" : 1 ,\t\"b\\\"\":{ \"c\" : [ 1 , \"x y\" , true , null ] } ,\"d\":-0.5e+3 }\r\n")
                .expect("valid");
        assert_eq!(out, r#"{"a":1,"b\"":{"c":[1,"x y",true,null]},"d":-0.5e+3}"#);
        assert_eq!(
            members,
            [
                ("a".to_owned(), "1".to_owned()),
                ("b\\\"".to_owned(), r#"{"c":[1,"x y",true,null]}"#.to_owned()),
                ("c".to_owned(), r#"[1,"x y",true,null]"#.to_owned()),
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
    fn finds_the_first_stop_in_every_position() {
        for length in 0..24 {
            for stop_at in 0..=length {
                for stop in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                    // Bytes next to the stops (0x20, 0x21, 0x5b, 0x5d, high bytes) must not count.
                    let mut bytes: Vec<u8> =
                        (0..length).map(|i| [0x20, 0x21, 0x5b, 0x5d, 0xc3, 0xa9, b'a'][i % 7]).collect();
                    if stop_at < length {
                        bytes[stop_at] = stop;
                        // A later stop must not win over the first.
                        if stop_at + 1 < length {
                            bytes[stop_at + 1] = b'"';
                        }
                    }
                    let expected = (stop_at < length).then_some(stop_at);
                    assert_eq!(string_stop(&bytes), expected, "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn indexes_members_of_nested_objects_but_not_inside_arrays() {
        let (mut out, mut members) = (String::new(), Vec::new());
        compact(r#"{"a":{"b":{"c":1},"d":[{"e":2}]},"f":3}"#, &mut out, &mut members).expect("valid");
        let found: Vec<(&str, u32)> = members.iter().map(|m| (m.key().of(&out), m.parent())).collect();
        assert_eq!(found, [("a", ROOT), ("b", 0), ("c", 1), ("d", 0), ("f", ROOT)]);
        assert_eq!(members[1].value.of(&out), r#"{"c":1}"#);
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
