//! Event-type patterns for sink filters: `*` matches any run of characters, `?` exactly one.

/// A compiled event-type pattern such as `finding_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: Box<str>,
}

impl Glob {
    pub fn new(pattern: &str) -> Self {
        Glob { pattern: pattern.into() }
    }

    /// Whether the pattern matches everything, so filters can skip the comparison entirely.
    pub fn is_match_all(&self) -> bool {
        !self.pattern.is_empty() && self.pattern.bytes().all(|c| c == b'*')
    }

    /// Iterative wildcard match with single-star backtracking: no allocation, linear in practice
    /// and never exponential, whatever the pattern. Works on bytes: `*` and `?` are ASCII, so they
    /// never occur inside a multi-byte character, and `?` consumes one whole character.
    pub fn matches(&self, text: &str) -> bool {
        let pattern = self.pattern.as_bytes();
        let text = text.as_bytes();
        let char_len = |at: usize| text[at..].iter().skip(1).take_while(|&&b| b & 0xC0 == 0x80).count() + 1;
        let (mut p, mut t) = (0, 0);
        let mut backtrack: Option<(usize, usize)> = None;
        while t < text.len() {
            match pattern.get(p) {
                Some(b'*') => {
                    backtrack = Some((p, t));
                    p += 1;
                }
                Some(b'?') => {
                    p += 1;
                    t += char_len(t);
                }
                Some(&c) if c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match backtrack {
                    Some((star, matched)) => {
                        let resume = matched + char_len(matched);
                        p = star + 1;
                        t = resume;
                        backtrack = Some((star, resume));
                    }
                    None => return false,
                },
            }
        }
        pattern[p..].iter().all(|&c| c == b'*')
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn matches_stars_and_question_marks() {
        let cases = [
            ("*", "anything", true),
            ("*", "", true),
            ("finding_*", "finding_added", true),
            ("finding_*", "finding_", true),
            ("finding_*", "findings", false),
            ("*_added", "finding_added", true),
            ("scan_?", "scan_1", true),
            ("scan_?", "scan_12", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("", "", true),
            ("", "x", false),
            ("sc?n", "scän", true),
            ("*ä", "xxä", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(Glob::new(pattern).matches(text), expected, "{pattern:?} vs {text:?}");
        }
    }
}
