//! CEF escaping ("Implementing ArcSight CEF", Character Encoding).
//!
//! * Header fields: `\` -> `\\` and `|` -> `\|`. Line breaks are not allowed in the header at
//!   all (only extension values may span lines), so CR and LF become spaces.
//! * Extension values: `\` -> `\\`, `=` -> `\=`, CR -> `\r`, LF -> `\n`. A pipe is written as
//!   it is: escaping it there is not defined and parsers would keep the backslash.

/// Appends a header field, escaped.
pub fn push_header(out: &mut Vec<u8>, text: &str) {
    push_escaped(out, text.as_bytes(), |byte| match byte {
        b'\\' => Some(b"\\\\"),
        b'|' => Some(b"\\|"),
        b'\r' | b'\n' => Some(b" "),
        _ => None,
    });
}

/// Appends an extension value, escaped.
pub fn push_value(out: &mut Vec<u8>, text: &str) {
    push_escaped(out, text.as_bytes(), |byte| match byte {
        b'\\' => Some(b"\\\\"),
        b'=' => Some(b"\\="),
        b'\r' => Some(b"\\r"),
        b'\n' => Some(b"\\n"),
        _ => None,
    });
}

/// Appends `text` with each byte that `replace` maps written as its replacement, copying the
/// runs in between whole (most values need no escaping at all).
fn push_escaped(out: &mut Vec<u8>, text: &[u8], replace: impl Fn(u8) -> Option<&'static [u8]>) {
    let mut copied = 0;
    for (at, &byte) in text.iter().enumerate() {
        if let Some(replacement) = replace(byte) {
            out.extend_from_slice(&text[copied..at]);
            out.extend_from_slice(replacement);
            copied = at + 1;
        }
    }
    out.extend_from_slice(&text[copied..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text: &str) -> String {
        let mut out = Vec::new();
        push_header(&mut out, text);
        String::from_utf8(out).expect("utf8")
    }

    fn value(text: &str) -> String {
        let mut out = Vec::new();
        push_value(&mut out, text);
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn header_escapes_pipe_and_backslash_only() {
        assert_eq!(header(r"a|b\c=d"), r"a\|b\\c=d");
        assert_eq!(header("line\r\nbreak"), "line  break");
        assert_eq!(header("ünï|"), r"ünï\|");
    }

    #[test]
    fn extension_escapes_equals_backslash_and_line_breaks() {
        assert_eq!(value(r"a=b\c|d"), r"a\=b\\c|d");
        assert_eq!(value("one\ntwo\r\nthree"), r"one\ntwo\r\nthree");
        assert_eq!(value(r"\="), r"\\\=");
        assert_eq!(value("spaces stay"), "spaces stay");
    }
}
