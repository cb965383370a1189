//! CEF escaping ("Implementing ArcSight CEF", Character Encoding).
//!
//! * Header fields: `\` -> `\\` and `|` -> `\|`. Line breaks are not allowed in the header at
//!   all (only extension values may span lines), so CR and LF become spaces.
//! * Extension values: `\` -> `\\`, `=` -> `\=`, CR -> `\r`, LF -> `\n`. A pipe is written as
//!   it is: escaping it there is not defined and parsers would keep the backslash.

/// Appends a header field, escaped.
pub fn push_header(out: &mut Vec<u8>, text: &str) {
    for &byte in text.as_bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'|' => out.extend_from_slice(b"\\|"),
            b'\r' | b'\n' => out.push(b' '),
            other => out.push(other),
        }
    }
}

/// Appends an extension value, escaped.
pub fn push_value(out: &mut Vec<u8>, text: &str) {
    for &byte in text.as_bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'=' => out.extend_from_slice(b"\\="),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\n' => out.extend_from_slice(b"\\n"),
            other => out.push(other),
        }
    }
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
