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

    /// Appends one frame to `out` whose message `write` appends, in place: no copy of the
    /// message. An octet count is written before it with room for three digits (messages of
    /// 100-999 bytes); other lengths move the message once to fit their count.
    pub fn frame_with<R>(self, out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        const GUESS: usize = 3;
        match self {
            Framing::OctetCounting => {
                let prefix = out.len();
                out.extend_from_slice(b"000 ");
                let start = out.len();
                let written = write(out);
                let mut count = itoa::Buffer::new();
                let count = count.format(out.len() - start).as_bytes();
                match out.get_mut(prefix..prefix + GUESS) {
                    Some(room) if count.len() == GUESS => room.copy_from_slice(count),
                    _ => drop(out.splice(prefix..prefix + GUESS, count.iter().copied())),
                }
                written
            }
            Framing::Lf => {
                let start = out.len();
                let written = write(out);
                for byte in out.iter_mut().skip(start) {
                    if *byte == b'\n' {
                        *byte = b' ';
                    }
                }
                out.push(b'\n');
                written
            }
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
    fn framing_in_place_matches_framing_a_copy() {
        for framing in [Framing::OctetCounting, Framing::Lf] {
            for len in [0, 1, 9, 10, 99, 100, 101, 999, 1000, 12345] {
                let message: Vec<u8> =
                    (0..len).map(|i| if i % 7 == 3 { b'\n' } else { b'a' + (i % 26) as u8 }).collect();
                let (mut copied, mut in_place) = (b"head".to_vec(), b"head".to_vec());
                framing.frame(&message, &mut copied);
                let written = framing.frame_with(&mut in_place, |out| {
                    out.extend_from_slice(&message);
                    len
                });
                assert_eq!(written, len);
                assert_eq!(in_place, copied, "{framing:?}, {len} bytes");
            }
        }
    }

    #[test]
    fn lf_framing_never_lets_a_newline_through() {
        let mut out = Vec::new();
        Framing::Lf.frame(b"a\nb\r\nc", &mut out);
        assert_eq!(out, b"a b\r c\n");
    }
}
