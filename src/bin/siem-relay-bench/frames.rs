//! Splitting a byte stream into syslog frames: RFC 6587 octet counting (`MSG-LEN SP MSG`,
//! section 3.4.1) or one frame per LF-terminated line (3.4.2). Bytes arrive in reads of any
//! size: a frame may span reads, and a read may hold many frames.

use std::fmt;

/// Longest frame accepted (a larger length prefix is malformed).
pub const MAX_FRAME: usize = 64 << 20;

/// How frames are delimited on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// RFC 6587 3.4.1: `MSG-LEN SP MSG`, MSG-LEN = NONZERO-DIGIT *DIGIT.
    Octet,
    /// RFC 6587 3.4.2: MSG LF (an empty line is not a frame; a CR before the LF is dropped).
    Lf,
}

/// A stream that cannot be split further: the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What was left at the end of a stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Leftover {
    /// Nothing: the stream ended on a frame boundary.
    None,
    /// LF framing: a last line without its LF, returned as a frame.
    Frame(Vec<u8>),
    /// Octet counting: a frame cut off (prefix or body incomplete), `n` bytes.
    Truncated(usize),
}

/// Incremental frame splitter for one connection.
#[derive(Debug)]
pub struct Splitter {
    framing: Framing,
    /// Bytes of an incomplete frame carried over from earlier reads.
    pending: Vec<u8>,
    /// LF framing: how much of `pending` is known to hold no LF.
    scanned: usize,
}

/// Result of looking at the start of a buffer.
enum Next {
    /// A frame at `start..end`; the next one starts at `end`.
    Frame { start: usize, end: usize },
    /// More bytes are needed.
    Incomplete,
}

impl Splitter {
    pub fn new(framing: Framing) -> Splitter {
        Splitter { framing, pending: Vec::new(), scanned: 0 }
    }

    /// Splits `data` (the next bytes of the stream), calling `frame` for each complete frame.
    /// After an error the splitter must not be used again.
    pub fn push(&mut self, data: &[u8], mut frame: impl FnMut(&[u8])) -> Result<(), Malformed> {
        if self.pending.is_empty() {
            // Common case: frames straight out of the read buffer, only the tail is copied.
            let used = split_all(self.framing, data, 0, &mut frame)?;
            self.pending.extend_from_slice(&data[used..]);
            self.scanned = self.pending.len();
            return Ok(());
        }
        self.pending.extend_from_slice(data);
        let used = split_all(self.framing, &self.pending, self.scanned, &mut frame)?;
        self.pending.drain(..used);
        // Whatever is left was searched for an LF to its end (octet counting ignores this).
        self.scanned = self.pending.len();
        Ok(())
    }

    /// Call at the end of the stream.
    pub fn finish(&mut self) -> Leftover {
        let rest = std::mem::take(&mut self.pending);
        let rest = match self.framing {
            Framing::Lf => strip_cr(&rest).to_vec(),
            Framing::Octet => rest,
        };
        if rest.is_empty() {
            Leftover::None
        } else if self.framing == Framing::Lf {
            Leftover::Frame(rest)
        } else {
            Leftover::Truncated(rest.len())
        }
    }
}

/// Splits as many frames as `buf` holds; returns how many bytes they took. `lf_scanned`: a
/// prefix of `buf` already known to hold no LF.
fn split_all(
    framing: Framing,
    buf: &[u8],
    lf_scanned: usize,
    frame: &mut impl FnMut(&[u8]),
) -> Result<usize, Malformed> {
    let mut at = 0;
    let mut skip = lf_scanned;
    loop {
        let next = match framing {
            Framing::Octet => next_octet(&buf[at..])?,
            Framing::Lf => next_lf(&buf[at..], skip),
        };
        skip = 0;
        match next {
            Next::Frame { start, end } => {
                let body = &buf[at + start..at + end];
                let body = if framing == Framing::Lf { strip_cr(&body[..body.len() - 1]) } else { body };
                if !(framing == Framing::Lf && body.is_empty()) {
                    frame(body);
                }
                at += end;
            }
            Next::Incomplete => return Ok(at),
        }
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// One LF-terminated line (the frame includes its LF here; it is cut by the caller).
fn next_lf(buf: &[u8], skip: usize) -> Next {
    let skip = skip.min(buf.len());
    match buf[skip..].iter().position(|&b| b == b'\n') {
        Some(i) => Next::Frame { start: 0, end: skip + i + 1 },
        None => Next::Incomplete,
    }
}

/// One octet-counted frame: `MSG-LEN SP MSG`.
fn next_octet(buf: &[u8]) -> Result<Next, Malformed> {
    const MAX_DIGITS: usize = 9; // MAX_FRAME has 8 digits
    let mut len: usize = 0;
    for (i, &b) in buf.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                if i == 0 && b == b'0' {
                    return Err(Malformed("octet-counted frame length starts with 0".into()));
                }
                if i >= MAX_DIGITS {
                    return Err(Malformed(format!("octet-counted frame length longer than {MAX_DIGITS} digits")));
                }
                len = len * 10 + usize::from(b - b'0');
            }
            b' ' if i > 0 => {
                if len > MAX_FRAME {
                    return Err(Malformed(format!("octet-counted frame of {len} bytes (most: {MAX_FRAME})")));
                }
                let start = i + 1;
                let end = start + len;
                return Ok(if buf.len() >= end { Next::Frame { start, end } } else { Next::Incomplete });
            }
            other => {
                return Err(Malformed(format!(
                    "expected an octet-counted frame length, found byte 0x{other:02x} at offset {i}"
                )))
            }
        }
    }
    Ok(Next::Incomplete)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` and collects frames (or the error).
    fn split(framing: Framing, chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Result<(), Malformed>, Leftover) {
        let mut s = Splitter::new(framing);
        let mut frames = Vec::new();
        for chunk in chunks {
            if let Err(e) = s.push(chunk, |f| frames.push(f.to_vec())) {
                return (frames, Err(e), Leftover::None);
            }
        }
        let left = s.finish();
        (frames, Ok(()), left)
    }

    fn octet_stream(msgs: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in msgs {
            out.extend_from_slice(format!("{} ", m.len()).as_bytes());
            out.extend_from_slice(m);
        }
        out
    }

    #[test]
    fn octet_frames_in_one_read() {
        let stream = octet_stream(&[b"<14>1 - - - - - - a", b"b c\nd", b"x"]);
        let (frames, r, left) = split(Framing::Octet, &[&stream]);
        assert_eq!(r, Ok(()));
        assert_eq!(frames, vec![b"<14>1 - - - - - - a".to_vec(), b"b c\nd".to_vec(), b"x".to_vec()]);
        assert_eq!(left, Leftover::None);
    }

    #[test]
    fn octet_frames_across_every_possible_read_boundary() {
        let msgs: Vec<Vec<u8>> = (0..30).map(|i| vec![b'a' + (i % 26) as u8; i * 7 + 1]).collect();
        let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        let stream = octet_stream(&refs);
        for chunk in 1..=stream.len().min(64) {
            let chunks: Vec<&[u8]> = stream.chunks(chunk).collect();
            let (frames, r, left) = split(Framing::Octet, &chunks);
            assert_eq!(r, Ok(()), "chunk size {chunk}");
            assert_eq!(frames, msgs, "chunk size {chunk}");
            assert_eq!(left, Leftover::None);
        }
        // Split in two at every offset.
        for cut in 0..=stream.len() {
            let (frames, r, _) = split(Framing::Octet, &[&stream[..cut], &stream[cut..]]);
            assert_eq!(r, Ok(()));
            assert_eq!(frames, msgs, "cut at {cut}");
        }
    }

    #[test]
    fn octet_truncated_frame_at_end_is_reported() {
        let (frames, r, left) = split(Framing::Octet, &[b"3 abc5 ab"]);
        assert_eq!(r, Ok(()));
        assert_eq!(frames, vec![b"abc".to_vec()]);
        assert_eq!(left, Leftover::Truncated(4));
        let (_, _, left) = split(Framing::Octet, &[b"3 abc12"]);
        assert_eq!(left, Leftover::Truncated(2));
    }

    #[test]
    fn malformed_octet_prefixes_are_errors() {
        for bad in [&b"<14>1 - - -"[..], b"0 x", b" 3 abc", b"12a abc", b"1234567890 x", b"3\nabc", b"-1 x"] {
            let (frames, r, _) = split(Framing::Octet, &[bad]);
            assert!(r.is_err(), "{:?} should be malformed", String::from_utf8_lossy(bad));
            assert!(frames.is_empty());
        }
        // Too long a frame.
        let (_, r, _) = split(Framing::Octet, &[b"99999999 x"]);
        assert!(r.is_err());
        // A good frame, then garbage: the good one is kept.
        let (frames, r, _) = split(Framing::Octet, &[b"2 okX"]);
        assert_eq!(frames, vec![b"ok".to_vec()]);
        assert!(r.is_err());
    }

    #[test]
    fn lf_frames_across_reads_with_crlf_and_blank_lines() {
        let stream = b"first\r\nsecond line\n\nthird\nlast-no-lf";
        for chunk in 1..=stream.len() {
            let chunks: Vec<&[u8]> = stream.chunks(chunk).collect();
            let (frames, r, left) = split(Framing::Lf, &chunks);
            assert_eq!(r, Ok(()));
            assert_eq!(frames, vec![b"first".to_vec(), b"second line".to_vec(), b"third".to_vec()], "chunk {chunk}");
            assert_eq!(left, Leftover::Frame(b"last-no-lf".to_vec()));
        }
    }

    #[test]
    fn lf_long_line_in_many_small_reads() {
        let mut stream = vec![b'x'; 100_000];
        stream.push(b'\n');
        let chunks: Vec<&[u8]> = stream.chunks(10).collect();
        let (frames, r, left) = split(Framing::Lf, &chunks);
        assert_eq!(r, Ok(()));
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].len(), 100_000);
        assert_eq!(left, Leftover::None);
    }
}
