//! Framing of messages on stream transports (RFC 6587) and in files.

/// How messages are delimited on a byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// RFC 6587 section 3.4.1 (required by RFC 5425 section 4.3): `MSG-LEN SP SYSLOG-MSG`, where
    /// MSG-LEN is the decimal octet count without leading zeros. Transparent: any byte may
    /// appear in the message.
    OctetCounting,
    /// RFC 6587 section 3.4.2, non-transparent framing with LF as the trailer. A message must not
    /// contain LF itself, so any LF inside is written as a space.
    Lf,
}

impl Framing {
    pub const NAMES: &'static str = "\"octet_counting\" or \"lf\"";

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "octet_counting" => Some(Framing::OctetCounting),
            "lf" => Some(Framing::Lf),
            _ => None,
        }
    }

    /// Appends `message` to `out` as one frame.
    pub fn frame(self, message: &[u8], out: &mut Vec<u8>) {
        match self {
            Framing::OctetCounting => {
                out.extend_from_slice(itoa::Buffer::new().format(message.len()).as_bytes());
                out.push(b' ');
                out.extend_from_slice(message);
            }
            Framing::Lf => {
                let start = out.len();
                out.extend_from_slice(message);
                for byte in &mut out[start..] {
                    if *byte == b'\n' {
                        *byte = b' ';
                    }
                }
                out.push(b'\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Framing;

    #[test]
    fn octet_counting_prefixes_the_exact_length() {
        let mut out = Vec::new();
        Framing::OctetCounting.frame(b"<13>1 - - - - - -", &mut out);
        Framing::OctetCounting.frame("é\n".as_bytes(), &mut out);
        assert_eq!(out, "17 <13>1 - - - - - -3 é\n".as_bytes());
    }

    #[test]
    fn lf_framing_never_lets_a_newline_through() {
        let mut out = Vec::new();
        Framing::Lf.frame(b"a\nb\r\nc", &mut out);
        assert_eq!(out, b"a b\r c\n");
    }
}
