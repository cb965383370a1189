//! Event text written into records: where it may be cut, and what happens to control
//! characters. Every encoder's size limit and character rule goes through these few functions,
//! so "fit this record in N bytes" never splits a character or an escape sequence.

/// The largest length `<= max` at which `bytes[..len]` ends on a UTF-8 character boundary (for
/// text that is not UTF-8, a boundary is any byte that is not a continuation byte).
pub fn char_boundary(bytes: &[u8], max: usize) -> usize {
    if max >= bytes.len() {
        return bytes.len();
    }
    let mut cut = max;
    while cut > 0 && bytes[cut] & 0xC0 == 0x80 {
        cut -= 1;
    }
    cut
}

/// Like [`char_boundary`], for text escaped with backslash sequences of two ASCII bytes (CEF's
/// `\\`, `\|`, `\=`, `\n`, `\r`): the cut never leaves half an escape behind.
pub fn escaped_boundary(bytes: &[u8], max: usize) -> usize {
    let cut = char_boundary(bytes, max);
    let trailing = bytes[..cut].iter().rev().take_while(|&&b| b == b'\\').count();
    cut - trailing % 2
}

/// Length of the first unit of `escaped` that a cut may keep: one character, or one escape
/// sequence (0 for empty text).
pub fn first_unit(escaped: &[u8]) -> usize {
    match escaped.first() {
        None => 0,
        Some(b'\\') => 2.min(escaped.len()),
        Some(_) => {
            let mut end = 1;
            while escaped.get(end).is_some_and(|b| b & 0xC0 == 0x80) {
                end += 1;
            }
            end
        }
    }
}

/// No escapes: text is copied as it is, but for control characters.
pub fn no_escapes(_: u8) -> Option<&'static [u8]> {
    None
}

/// Appends `text` with each byte that `escapes` maps (`Some(replacement)`, or `None` to copy
/// it) written as its replacement and every other
/// control character (C0 0x00-0x1F, DEL, C1 U+0080-U+009F: Unicode's `Cc`) written as one
/// space; runs in between are copied whole. Returns whether a control character was replaced
/// (escapes are lossless and do not count).
pub fn push_text(out: &mut Vec<u8>, text: &str, escapes: impl Fn(u8) -> Option<&'static [u8]>) -> bool {
    let bytes = text.as_bytes();
    let special = |byte: u8| byte < 0x20 || byte == 0x7F || byte == 0xC2 || escapes(byte).is_some();
    // Most text needs nothing: one pass without early exit (which the compiler vectorises)
    // decides, and the text is copied whole.
    if !bytes.iter().fold(false, |any, &byte| any | special(byte)) {
        out.extend_from_slice(bytes);
        return false;
    }
    let mut copied = 0;
    let mut replaced = false;
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        let (replacement, width): (&[u8], usize) = if let Some(escape) = escapes(byte) {
            (escape, 1)
        } else if byte < 0x20 || byte == 0x7F {
            replaced = true;
            (b" ", 1)
        } else if byte == 0xC2 && bytes.get(at + 1).is_some_and(|next| (0x80..=0x9F).contains(next)) {
            replaced = true;
            (b" ", 2)
        } else {
            at += 1;
            continue;
        };
        out.extend_from_slice(&bytes[copied..at]);
        out.extend_from_slice(replacement);
        at += width;
        copied = at;
    }
    out.extend_from_slice(&bytes[copied..]);
    replaced
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pushed(text: &str, escapes: fn(u8) -> Option<&'static [u8]>) -> (String, bool) {
        let mut out = Vec::new();
        let replaced = push_text(&mut out, text, escapes);
        (String::from_utf8(out).expect("utf8 in, utf8 out"), replaced)
    }

    #[test]
    fn cuts_never_split_a_character() {
        let text = "aé€😀".as_bytes();
        let cuts: Vec<usize> = (0..=text.len()).map(|max| char_boundary(text, max)).collect();
        assert_eq!(cuts, [0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10]);
    }

    #[test]
    fn cuts_never_split_an_escape() {
        let escaped = br"a\|\\b";
        let cuts: Vec<usize> = (0..=escaped.len()).map(|max| escaped_boundary(escaped, max)).collect();
        assert_eq!(cuts, [0, 1, 1, 3, 3, 5, 6]);
        assert_eq!(first_unit(br"\|x"), 2);
        assert_eq!(first_unit("€x".as_bytes()), 3);
        assert_eq!(first_unit(b""), 0);
    }

    #[test]
    fn control_characters_become_spaces_and_are_reported() {
        assert_eq!(pushed("plain é text", no_escapes), ("plain é text".to_owned(), false));
        assert_eq!(pushed("a\0b\tc\r\nd\u{7f}e\u{85}f\u{9f}", no_escapes), ("a b c  d e f ".to_owned(), true));
        // U+00A0 (C2 A0) is a printing character, not C1.
        assert_eq!(pushed("\u{a0}\u{80}", no_escapes), ("\u{a0} ".to_owned(), true));
    }

    #[test]
    fn escapes_take_precedence_over_the_control_rule() {
        fn lf(byte: u8) -> Option<&'static [u8]> {
            (byte == b'\n').then_some(b"\\n")
        }
        assert_eq!(pushed("a\nb", lf), ("a\\nb".to_owned(), false));
        assert_eq!(pushed("a\rb", lf), ("a b".to_owned(), true));
    }
}
