//! CEF escaping ("Implementing ArcSight CEF", Character Encoding).
//!
//! * Header fields: `\` -> `\\` and `|` -> `\|`. Line breaks are not allowed in the header at
//!   all (only extension values may span lines), so CR, LF and every other control character
//!   become spaces.
//! * Extension values: `\` -> `\\`, `=` -> `\=`, CR -> `\r`, LF -> `\n`; other control
//!   characters (a NUL, a tab, C1) become spaces, as no escape exists for them. A pipe is
//!   written as it is: escaping it there is not defined and parsers would keep the backslash.

use crate::encode::text::push_text;

/// Appends a header field, escaped; returns whether a control character became a space.
pub fn push_header(out: &mut Vec<u8>, text: &str) -> bool {
    push_text(out, text, |byte| match byte {
        b'\\' => Some(b"\\\\"),
        b'|' => Some(b"\\|"),
        _ => None,
    })
}

/// Appends an extension value, escaped; returns whether a control character became a space.
pub fn push_value(out: &mut Vec<u8>, text: &str) -> bool {
    push_text(out, text, |byte| match byte {
        b'\\' => Some(b"\\\\"),
        b'=' => Some(b"\\="),
        b'\r' => Some(b"\\r"),
        b'\n' => Some(b"\\n"),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text: &str) -> String {
        let mut out = Vec::new();
        let _ = push_header(&mut out, text);
        String::from_utf8(out).expect("utf8")
    }

    fn value(text: &str) -> String {
        let mut out = Vec::new();
        let _ = push_value(&mut out, text);
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn header_escapes_pipe_and_backslash_only() {
        assert_eq!(header(r"a|b\c=d"), r"a\|b\\c=d");
        assert_eq!(header("line\r\nbreak"), "line  break");
        assert_eq!(header("ünï|"), r"ünï\|");
        assert_eq!(header("nul\0tab\tc1\u{85}"), "nul tab c1 ");
    }

    #[test]
    fn extension_escapes_equals_backslash_and_line_breaks() {
        assert_eq!(value(r"a=b\c|d"), r"a\=b\\c|d");
        assert_eq!(value("one\ntwo\r\nthree"), r"one\ntwo\r\nthree");
        assert_eq!(value(r"\="), r"\\\=");
        assert_eq!(value("spaces stay"), "spaces stay");
        assert_eq!(value("nul\0tab\t"), "nul tab ");
    }
}
