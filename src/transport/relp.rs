//! RELP, the Reliable Event Logging Protocol (rsyslog's librelp, `doc/relp.md`): its frames,
//! responses and offers, without any I/O.
//!
//! ```text
//! RELP-FRAME = TXNR SP COMMAND SP DATALEN [SP DATA] TRAILER
//! TXNR       = 1*9DIGIT        ; 1, 2, ... 999999999, then 1 again; 0 is for server hints
//! COMMAND    = 1*32ALPHA       ; open, syslog, close, rsp, serverclose
//! DATALEN    = 1*9DIGIT        ; octets of DATA; 0 means no SP and no DATA
//! TRAILER    = LF
//! RSP DATA   = 3DIGIT [SP HUMANMSG] [LF CMDDATA]   ; 200 is OK, anything else an error
//! ```
//!
//! Frames the receiver sends are parsed strictly: a framing error ends the session (the spec:
//! "the peer that detects the problem closes the underlying connection").

use std::fmt;

/// The largest DATA of a frame: relp.md fixes it at 128 KiB ("in relp version 1, it is always
/// 128K"), and librelp's receivers refuse or cut larger frames.
pub const MAX_DATA: usize = 128 * 1024;
/// The last transaction number; the next one is 1 again.
pub const TXNR_MAX: u32 = 999_999_999;
/// The only command this client uses besides the protocol's own.
pub const SYSLOG: &str = "syslog";

/// The transaction number after `txnr`.
pub fn next_txnr(txnr: u32) -> u32 {
    if txnr >= TXNR_MAX {
        1
    } else {
        txnr + 1
    }
}

/// Appends one frame.
pub fn write_frame(out: &mut Vec<u8>, txnr: u32, command: &str, data: &[u8]) {
    let mut numbers = itoa::Buffer::new();
    out.extend_from_slice(numbers.format(txnr).as_bytes());
    out.push(b' ');
    out.extend_from_slice(command.as_bytes());
    out.push(b' ');
    out.extend_from_slice(numbers.format(data.len()).as_bytes());
    if !data.is_empty() {
        out.push(b' ');
        out.extend_from_slice(data);
    }
    out.push(b'\n');
}

/// The `open` command's offers: the protocol version librelp speaks (`0`: see the README's
/// RELP section for why not the `1` of relp.md), who we are, and the one command we need.
pub fn open_offers() -> Vec<u8> {
    format!(
        "relp_version=0\nrelp_software=siem-relay,{},https://github.com/siem-relay\ncommands={SYSLOG}",
        env!("CARGO_PKG_VERSION")
    )
    .into_bytes()
}

/// One frame from the receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub txnr: u32,
    pub command: String,
    pub data: Vec<u8>,
}

/// Why the receiver's bytes are not RELP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid RELP from the receiver: {}", self.0)
    }
}

impl std::error::Error for FrameError {}

fn invalid<T>(why: impl Into<String>) -> Result<T, FrameError> {
    Err(FrameError(why.into()))
}

/// Takes the first whole frame off the front of `buf`: `Ok(None)` if more bytes are needed.
pub fn take_frame(buf: &mut Vec<u8>) -> Result<Option<Frame>, FrameError> {
    let mut at = 0;
    let Some(txnr) = number(buf, &mut at, "TXNR")? else { return Ok(None) };
    let Some(command) = command(buf, &mut at)? else { return Ok(None) };
    let Some(datalen) = number(buf, &mut at, "DATALEN")? else { return Ok(None) };
    let datalen = usize::try_from(datalen).unwrap_or(usize::MAX);
    if datalen > MAX_DATA {
        return invalid(format!("DATALEN {datalen} over the {MAX_DATA}-octet maximum"));
    }
    // After DATALEN: LF (no data), or SP, DATA, LF. `number` stopped at the separator.
    let separator = buf[at - 1];
    let data = match (datalen, separator) {
        (0, b'\n') => Vec::new(),
        (0, _) => return invalid("DATALEN 0 followed by data"),
        (_, b'\n') => return invalid(format!("DATALEN {datalen} but no data")),
        (n, _) => {
            if buf.len() < at + n + 1 {
                return Ok(None);
            }
            let data = buf[at..at + n].to_vec();
            at += n;
            if buf[at] != b'\n' {
                return invalid(format!("frame {txnr} {command}: no LF trailer after {n} octets of data"));
            }
            at += 1;
            data
        }
    };
    buf.drain(..at);
    Ok(Some(Frame { txnr, command, data }))
}

/// A decimal field of 1 to 9 digits, ended by SP (or LF for DATALEN); advances `at` past the
/// separator.
fn number(buf: &[u8], at: &mut usize, what: &str) -> Result<Option<u32>, FrameError> {
    let start = *at;
    let mut value: u32 = 0;
    loop {
        let Some(&byte) = buf.get(*at) else {
            return if *at - start > 9 { invalid(format!("{what} longer than 9 digits")) } else { Ok(None) };
        };
        *at += 1;
        match byte {
            b'0'..=b'9' if *at - start <= 9 => value = value * 10 + u32::from(byte - b'0'),
            b'0'..=b'9' => return invalid(format!("{what} longer than 9 digits")),
            b' ' | b'\n' if *at - start > 1 => {
                if byte == b'\n' && what != "DATALEN" {
                    return invalid(format!("LF after {what}"));
                }
                return Ok(Some(value));
            }
            _ => return invalid(format!("{what}: expected a digit, found {:?}", char::from(byte))),
        }
    }
}

/// COMMAND: 1 to 32 ASCII letters, ended by SP.
fn command(buf: &[u8], at: &mut usize) -> Result<Option<String>, FrameError> {
    let start = *at;
    loop {
        let Some(&byte) = buf.get(*at) else { return Ok(None) };
        *at += 1;
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' if *at - start <= 32 => {}
            b' ' if *at - start > 1 => return Ok(Some(String::from_utf8_lossy(&buf[start..*at - 1]).into_owned())),
            _ => return invalid(format!("COMMAND: expected 1 to 32 letters, found {:?}", char::from(byte))),
        }
    }
}

/// A `rsp` frame's data: the status code, the human-readable text, and the command data after
/// the first LF (the accepted offers, for `open`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<'a> {
    pub code: u16,
    pub text: String,
    pub data: &'a [u8],
}

impl Response<'_> {
    pub fn is_ok(&self) -> bool {
        self.code == 200
    }
}

/// Parses a `rsp` frame's data.
pub fn parse_response(data: &[u8]) -> Result<Response<'_>, FrameError> {
    let (head, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(lf) => (&data[..lf], &data[lf + 1..]),
        None => (data, &data[data.len()..]),
    };
    let code_ok = head.len() >= 3 && head[..3].iter().all(u8::is_ascii_digit) && (head.len() == 3 || head[3] == b' ');
    if !code_ok {
        return invalid(format!("rsp data does not start with a 3-digit status: {:?}", String::from_utf8_lossy(head)));
    }
    let code = head[..3].iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    let text = String::from_utf8_lossy(head.get(4..).unwrap_or_default()).into_owned();
    Ok(Response { code, text, data: rest })
}

/// The offers in an `open` or its response (one per line, `name[=value,value...]`).
pub fn offers(data: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    data.split(|&b| b == b'\n').filter(|line| !line.is_empty()).map(|line| match line.iter().position(|&b| b == b'=') {
        Some(eq) => (&line[..eq], &line[eq + 1..]),
        None => (line, &line[line.len()..]),
    })
}

/// Checks the receiver's answer to `open`: it must accept a `relp_version` and offer the
/// `syslog` command.
pub fn check_open_response(data: &[u8]) -> Result<(), String> {
    let response = parse_response(data).map_err(|e| e.to_string())?;
    if !response.is_ok() {
        return Err(format!("the receiver refused the session: {} {}", response.code, response.text));
    }
    let mut version = false;
    let mut syslog = false;
    for (name, value) in offers(response.data) {
        match name {
            b"relp_version" => version = true,
            b"commands" => syslog |= value.split(|&b| b == b',').any(|c| c == SYSLOG.as_bytes()),
            _ => {}
        }
    }
    match (version, syslog) {
        (false, _) => Err("the receiver's open response has no relp_version offer".to_owned()),
        (_, false) => Err("the receiver does not offer the syslog command".to_owned()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_written_with_and_without_data() {
        let mut out = Vec::new();
        write_frame(&mut out, 2, "syslog", b"<13>1 - - - - - - hi");
        write_frame(&mut out, 3, "close", b"");
        assert_eq!(out, b"2 syslog 20 <13>1 - - - - - - hi\n3 close 0\n");
    }

    #[test]
    fn transaction_numbers_wrap_from_the_maximum_to_one() {
        assert_eq!(next_txnr(1), 2);
        assert_eq!(next_txnr(TXNR_MAX - 1), TXNR_MAX);
        assert_eq!(next_txnr(TXNR_MAX), 1);
    }

    #[test]
    fn frames_are_taken_whole_and_only_whole() {
        let stream = b"1 rsp 6 200 OK\n0 serverclose 0\n2 rsp 39 200 OK\nrelp_version=0\ncommands=syslog,x\n";
        for split in 0..stream.len() {
            let mut buf = stream[..split].to_vec();
            let mut frames = Vec::new();
            while let Some(frame) = take_frame(&mut buf).expect("valid") {
                frames.push(frame);
            }
            buf.extend_from_slice(&stream[split..]);
            while let Some(frame) = take_frame(&mut buf).expect("valid") {
                frames.push(frame);
            }
            assert!(buf.is_empty());
            assert_eq!(frames.len(), 3, "split at {split}");
            assert_eq!(frames[1], Frame { txnr: 0, command: "serverclose".into(), data: Vec::new() });
            assert_eq!(parse_response(&frames[0].data).expect("rsp").code, 200);
            assert_eq!(check_open_response(&frames[2].data), Ok(()));
        }
    }

    #[test]
    fn malformed_frames_are_refused_with_the_reason() {
        for (bytes, reason) in [
            (&b"x rsp 0\n"[..], "TXNR: expected a digit"),
            (b"1234567890 rsp 0\n", "longer than 9 digits"),
            (b"1 r5p 0\n", "COMMAND"),
            (b"1 rsp 3 abcX", "no LF trailer"),
            (b"1 rsp 0 x\n", "DATALEN 0 followed by data"),
            (b"1 rsp 5\n", "but no data"),
            (b"1 rsp 999999999 ", "over the"),
            (b"1\nrsp", "LF after TXNR"),
            (b" 1 rsp 0\n", "TXNR: expected a digit"),
        ] {
            let error = take_frame(&mut bytes.to_vec()).expect_err(&String::from_utf8_lossy(bytes));
            assert!(error.0.contains(reason), "{:?}: {error}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn responses_carry_code_text_and_data() {
        let response = parse_response(b"500 queue full").expect("rsp");
        assert_eq!((response.code, response.text.as_str(), response.is_ok()), (500, "queue full", false));
        assert_eq!(parse_response(b"200").expect("rsp").code, 200);
        assert!(parse_response(b"").is_err());
        assert!(parse_response(b"20x OK").is_err());
        assert!(check_open_response(b"200 OK\nrelp_version=0\ncommands=eventlog").is_err());
        assert!(check_open_response(b"200 OK\ncommands=syslog").is_err());
        assert!(check_open_response(b"500 go away").expect_err("refused").contains("500 go away"));
        let offers = open_offers();
        assert!(offers.starts_with(b"relp_version=0\n") && offers.ends_with(b"\ncommands=syslog"));
    }
}
