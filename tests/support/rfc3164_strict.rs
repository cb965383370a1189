//! A strict RFC 3164 checker written from the RFC (sections 4.1 to 4.1.3), for tests: it accepts
//! `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: CONTENT` exactly as a careful sender writes it and
//! rejects what the RFC forbids: a packet over the limit, a HOSTNAME with its domain or with
//! non-printing characters, a TAG over 32 characters, and any control character in CONTENT
//! (4.1.3: "visible (printing) characters").

/// The parts of a valid message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub pri: u8,
    pub timestamp: &'a str,
    pub hostname: &'a str,
    pub tag: &'a str,
    pub pid: &'a str,
    pub content: &'a str,
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Parses one message of at most `max` bytes (RFC 3164 4.1: 1024 for a packet).
pub fn parse(bytes: &[u8], max: usize) -> Result<Message<'_>, String> {
    parse_with(bytes, max, false)
}

/// Like [`parse`], with `tabs_in_content` allowing tab characters in CONTENT: the one
/// deviation QRadar's LEEF guide asks for (tab-delimited LEEF behind an RFC 3164 header).
pub fn parse_with(bytes: &[u8], max: usize, tabs_in_content: bool) -> Result<Message<'_>, String> {
    if bytes.len() > max {
        return Err(format!("{} bytes, more than {max}", bytes.len()));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let rest = text.strip_prefix('<').ok_or("PRI must start with '<'")?;
    let (pri, rest) = rest.split_once('>').ok_or("PRI must end with '>'")?;
    let valid_pri = !pri.is_empty()
        && pri.len() <= 3
        && pri.bytes().all(|b| b.is_ascii_digit())
        && (pri == "0" || !pri.starts_with('0'));
    let pri: u8 = pri.parse().ok().filter(|&n| valid_pri && n <= 191).ok_or_else(|| format!("bad PRI {pri:?}"))?;

    let timestamp = rest.get(..15).ok_or("TIMESTAMP cut short")?;
    check_timestamp(timestamp)?;
    let rest = rest[15..].strip_prefix(' ').ok_or("a space must follow TIMESTAMP")?;

    let (hostname, rest) = rest.split_once(' ').ok_or("a space must follow HOSTNAME")?;
    if hostname.is_empty() || !hostname.bytes().all(|b| (33..=126).contains(&b)) {
        return Err(format!("HOSTNAME {hostname:?} must be printable ASCII without spaces"));
    }
    if hostname.contains('.') && hostname.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("HOSTNAME {hostname:?} carries a domain (4.1.2)"));
    }

    let (tag, rest) = rest.split_once('[').ok_or("TAG must be followed by [PID]")?;
    if tag.is_empty()
        || tag.len() > 32
        || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
    {
        return Err(format!("bad TAG {tag:?}"));
    }
    let (pid, rest) = rest.split_once("]: ").ok_or("[PID] must be followed by \": \"")?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad PID {pid:?}"));
    }
    if let Some(c) = rest.chars().find(|&c| c.is_control() && !(tabs_in_content && c == '\t')) {
        return Err(format!("control character {c:?} in CONTENT"));
    }
    Ok(Message { pri, timestamp, hostname, tag, pid, content: rest })
}

/// `Mmm dd hh:mm:ss`, the day padded with a space (4.1.2).
fn check_timestamp(text: &str) -> Result<(), String> {
    let bad = || format!("bad TIMESTAMP {text:?}");
    let b = text.as_bytes();
    if !MONTHS.contains(&&text[..3]) || b[3] != b' ' || b[6] != b' ' || b[9] != b':' || b[12] != b':' {
        return Err(bad());
    }
    let day = match (b[4], b[5]) {
        (b' ', d @ b'1'..=b'9') => d - b'0',
        (t @ b'1'..=b'3', d @ b'0'..=b'9') => (t - b'0') * 10 + (d - b'0'),
        _ => return Err(bad()),
    };
    let two = |at: usize| -> Option<u8> {
        let (t, d) = (b[at], b[at + 1]);
        (t.is_ascii_digit() && d.is_ascii_digit()).then(|| (t - b'0') * 10 + (d - b'0'))
    };
    match (two(7), two(10), two(13)) {
        (Some(h), Some(m), Some(s)) if (1..=31).contains(&day) && h < 24 && m < 60 && s < 60 => Ok(()),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_a_careful_sender_writes() {
        let message = parse(b"<34>Oct  1 22:14:15 mymachine su[12]: 'su root' failed", 1024).expect("valid");
        assert_eq!((message.pri, message.hostname, message.tag), (34, "mymachine", "su"));
        assert_eq!(message.content, "'su root' failed");
        assert!(parse("<0>Dec 31 23:59:59 10.0.0.1 a/b.c[1]: é".as_bytes(), 1024).is_ok());
    }

    #[test]
    fn rejects_what_the_rfc_forbids() {
        for bad in [
            "<192>Oct  1 22:14:15 h t[1]: x",
            "<034>Oct  1 22:14:15 h t[1]: x",
            "<34>Oct 01 22:14:15 h t[1]: x",
            "<34>Oct  1 24:14:15 h t[1]: x",
            "<34>Oct  1 22:14:15 h.example.net t[1]: x",
            "<34>Oct  1 22:14:15 h t[1]: tab\there",
            "<34>Oct  1 22:14:15 h t[1]: nul\0",
            "<34>Oct  1 22:14:15 h has:colon[1]: x",
            "<34>Oct  1 22:14:15 h t: x",
        ] {
            assert!(parse(bad.as_bytes(), 1024).is_err(), "{bad:?}");
        }
        assert!(parse(format!("<34>Oct  1 22:14:15 h t[1]: {}", "x".repeat(1000)).as_bytes(), 1024).is_err());
    }
}
