//! Synthetic security events: seeded, realistic in size and in variety (event types,
//! severities as names and scores, titles with quotes, backslashes, `]` and non-ASCII text,
//! nested `data`). The events come out at 210-480 bytes (about 340 on average); some are
//! padded with a `description` so that lines average about `size_target` bytes (366 for the
//! default 360, ranging 210-620) for targets from 300 up.
//!
//! Every line ends with `"sent_ns":<19 digits>}`: the send time in CLOCK_REALTIME nanoseconds,
//! always 19 digits wide (true from 2001 to 2286) so that a replayed file can have it
//! overwritten in place at send time (see [`patch_sent_ns`]) without changing any length.

use crate::prng::Prng;

const EVENT_TYPES: &[&str] = &[
    "finding_added",
    "finding_added",
    "finding_added",
    "vuln_confirmed",
    "scan_started",
    "scan_finished",
    "host_discovered",
    "auth_failed",
    "auth_failed",
    "malware_detected",
    "policy_violation",
    "finding_resolved",
];

const SEVERITY_NAMES: &[&str] = &["critical", "high", "medium", "low", "info", "High", "MEDIUM"];

const TITLES: &[&str] = &[
    "SQL injection in /login (parameter \"user\")",
    "Reflected XSS in search parameter q",
    "Path traversal: C:\\Windows\\win.ini is readable",
    "Outdated OpenSSL 1.0.2k on port 443",
    "Weak TLS configuration: TLS 1.0 enabled",
    "Élévation de privilèges via sudoers (règle NOPASSWD)",
    "Schwache Verschlüsselung: Zertifikat läuft ab",
    "Default credentials accepted by admin console",
    "Array index [0] out of bounds ] in parser",
    "Open redirect via \"next\" parameter",
    "SSH password authentication enabled",
    "Directory listing enabled on /backup/",
    "Server-side request forgery in image proxy",
    "Kerberoastable service account svc_sql",
    "Brute force: 25 failed logins for 'admin'",
    "EICAR test file detected in C:\\Users\\Public\\Downloads",
    "Port scan finished: 1024 ports, 3 open",
    "New host answered ICMP and ARP",
    "Session cookie without Secure and HttpOnly flags",
    "Log4Shell (CVE-2021-44228) payload reflected — confirmed",
];

const HOSTS: &[&str] = &[
    "web-01.corp.example",
    "web-02.corp.example",
    "db-3",
    "mail.example.org",
    "10.0.4.17",
    "vpn-gw.dmz.example.net",
    "k8s-node-12.prod.internal",
    "dc01.ad.example.com",
    "fileserver",
    "2001:db8::17",
];

const URL_HOSTS: &[&str] = &["web-01.corp.example", "shop.example.com", "10.0.4.17", "[2001:db8::17]:8443", "intranet"];

const PATHS: &[&str] = &[
    "/login",
    "/api/v2/users?id=42",
    "/search?q=%3Cscript%3E",
    "/admin/console",
    "/static/js/app.min.js",
    "/download?file=../../etc/passwd",
    "/graphql",
    "/wp-admin/admin-ajax.php",
];

const TAGS: &[&str] =
    &["owasp-a03", "xss", "sqli", "pci", "external", "internal", "confirmed", "auth", "crypto", "cve", "exposed"];

const CWES: &[&str] = &["CWE-79", "CWE-89", "CWE-22", "CWE-287", "CWE-326", "CWE-601", "CWE-918", "CWE-798"];

const SCANNERS: &[(&str, &str)] =
    &[("zap", "2.14.0"), ("nuclei", "3.1.4"), ("nessus", "10.6.2"), ("openvas", "22.4"), ("burp", "2023.10.3")];

const USERS: &[&str] = &["admin", "root", "jdoe", "svc_backup", "m.müller", "o'brien", "guest"];

const WORDS: &[&str] = &[
    "the",
    "request",
    "response",
    "contained",
    "payload",
    "was",
    "reflected",
    "without",
    "encoding",
    "server",
    "header",
    "version",
    "disclosed",
    "attacker",
    "could",
    "inject",
    "script",
    "session",
    "token",
    "exposed",
    "credentials",
    "valid",
    "for",
    "user",
    "account",
    "remote",
    "code",
    "execution",
    "possible",
    "via",
    "crafted",
    "input",
    "field",
    "configuration",
    "allows",
    "weak",
    "cipher",
    "suites",
    "réseau",
    "accès",
    "\"quoted\"",
    "back\\slash",
    "[bracket]",
];

/// Length of the fixed-width tail `,"sent_ns":NNNNNNNNNNNNNNNNNNN}\n`.
const TAIL_LEN: usize = 11 + 19 + 2;

/// Builds synthetic event lines.
pub struct EventGen {
    prng: Prng,
    size_target: usize,
    line: String,
}

impl EventGen {
    pub fn new(prng: Prng, size_target: usize) -> EventGen {
        EventGen { prng, size_target: size_target.max(120), line: String::with_capacity(2048) }
    }

    /// Appends one event (one JSON object and `\n`) to `out`: its `timestamp` and `sent_ns`
    /// are `now_ns`.
    pub fn push_event(&mut self, out: &mut Vec<u8>, now_ns: u64) {
        let p = &mut self.prng;
        let s = &mut self.line;
        s.clear();
        // Desired length: skewed towards the low end, mean about `size_target`.
        let t = self.size_target as f64;
        let want = (t * (0.5 + 1.2 * p.unit().powi(4))) as usize;

        let kind = p.pick(EVENT_TYPES);
        s.push_str("{\"event\":\"");
        s.push_str(kind);
        s.push_str("\",\"id\":\"");
        push_uuid(s, p);
        s.push_str("\",\"timestamp\":\"");
        let offset = if p.percent(20) { p.pick(&[60, 120, -300, 330]) } else { 0 };
        crate::clock::push_rfc3339_micros(s, now_ns, offset);
        s.push_str("\",\"severity\":");
        if p.percent(70) {
            push_json_str(s, p.pick(SEVERITY_NAMES));
        } else {
            push_num(s, p.below(11));
        }
        if p.percent(95) {
            s.push_str(",\"title\":");
            push_json_str(s, p.pick(TITLES));
        }
        if p.percent(90) {
            s.push_str(",\"host\":");
            push_json_str(s, p.pick(HOSTS));
        }
        s.push_str(",\"data\":{");
        match kind {
            "finding_added" | "vuln_confirmed" | "finding_resolved" | "policy_violation" => {
                s.push_str("\"url\":\"https://");
                s.push_str(p.pick(URL_HOSTS));
                s.push_str(p.pick(PATHS));
                s.push_str("\",\"cwe\":");
                push_json_str(s, p.pick(CWES));
                s.push_str(",\"cvss\":");
                push_num(s, p.below(10));
                s.push('.');
                push_num(s, p.below(10));
                if p.percent(50) {
                    s.push_str(",\"port\":");
                    push_num(s, p.pick(&[80, 443, 8080, 8443, 22, 3389]));
                }
                if p.percent(60) {
                    push_tags(s, p);
                }
                if p.percent(25) {
                    let (name, version) = p.pick(SCANNERS);
                    s.push_str(",\"scanner\":{\"name\":\"");
                    s.push_str(name);
                    s.push_str("\",\"version\":\"");
                    s.push_str(version);
                    s.push_str("\",\"rule_id\":");
                    push_num(s, p.range(10_000, 99_999));
                    s.push('}');
                }
            }
            "scan_started" | "scan_finished" => {
                s.push_str("\"scan_id\":");
                push_num(s, p.range(1, 999_999));
                s.push_str(",\"profile\":");
                push_json_str(s, p.pick(&["full", "quick", "web-app", "pci-dss"]));
                s.push_str(",\"targets\":");
                push_num(s, p.range(1, 4096));
                if kind == "scan_finished" {
                    s.push_str(",\"findings\":{\"critical\":");
                    push_num(s, p.below(3));
                    s.push_str(",\"high\":");
                    push_num(s, p.below(12));
                    s.push_str(",\"medium\":");
                    push_num(s, p.below(40));
                    s.push_str("},\"duration_s\":");
                    push_num(s, p.range(5, 86_400));
                }
            }
            "host_discovered" => {
                s.push_str("\"ip\":\"10.");
                push_num(s, p.below(256));
                s.push('.');
                push_num(s, p.below(256));
                s.push('.');
                push_num(s, p.range(1, 254));
                s.push_str("\",\"open_ports\":[");
                let n = p.range(1, 6);
                for i in 0..n {
                    if i > 0 {
                        s.push(',');
                    }
                    push_num(s, p.pick(&[22, 25, 53, 80, 135, 139, 443, 445, 3306, 3389, 5432, 8080]));
                }
                s.push_str("],\"os\":{\"family\":");
                push_json_str(s, p.pick(&["linux", "windows", "bsd"]));
                s.push_str(",\"confidence\":0.");
                push_num(s, p.range(10, 99));
                s.push('}');
            }
            _ => {
                s.push_str("\"user\":");
                push_json_str(s, p.pick(USERS));
                s.push_str(",\"source_ip\":\"192.0.2.");
                push_num(s, p.range(1, 254));
                s.push_str("\",\"attempts\":");
                push_num(s, p.range(1, 500));
                if p.percent(50) {
                    push_tags(s, p);
                }
            }
        }
        s.push('}');
        // Pad with a description when the event came out shorter than wanted.
        let now = s.len() + TAIL_LEN;
        if want > now + 24 {
            s.push_str(",\"description\":\"");
            let goal = s.len() + (want - now - 17);
            let mut first = true;
            while s.len() < goal {
                if !first {
                    s.push(' ');
                }
                first = false;
                push_str_escaped(s, p.pick(WORDS));
            }
            s.push('"');
        }
        s.push_str(",\"sent_ns\":");
        push_sent_ns(s, now_ns);
        s.push_str("}\n");
        out.extend_from_slice(s.as_bytes());
    }
}

fn push_num(s: &mut String, n: u64) {
    use std::fmt::Write as _;
    let _ = write!(s, "{n}");
}

fn push_sent_ns(s: &mut String, ns: u64) {
    use std::fmt::Write as _;
    let _ = write!(s, "{ns:019}");
}

fn push_uuid(s: &mut String, p: &mut Prng) {
    use std::fmt::Write as _;
    let a = p.next_u64();
    let b = p.next_u64();
    let _ = write!(
        s,
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    );
}

fn push_tags(s: &mut String, p: &mut Prng) {
    s.push_str(",\"tags\":[");
    let n = p.range(1, 3);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        push_json_str(s, p.pick(TAGS));
    }
    s.push(']');
}

/// Appends `v` as a JSON string.
fn push_json_str(s: &mut String, v: &str) {
    s.push('"');
    push_str_escaped(s, v);
    s.push('"');
}

/// Appends the JSON string escaping of `v` (without quotes).
fn push_str_escaped(s: &mut String, v: &str) {
    use std::fmt::Write as _;
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
}

/// The marker in front of the 19 send-time digits.
const SENT_NS_KEY: &[u8] = b"\"sent_ns\":";

/// Overwrites the 19-digit `sent_ns` value in one event line (with or without its `\n`) with
/// `now_ns`; returns false (line unchanged) when the line has no such field. Fast path: the
/// field is last, as [`EventGen`] writes it.
pub fn patch_sent_ns(line: &mut [u8], now_ns: u64) -> bool {
    let body_end = match line.last() {
        Some(b'\n') => line.len() - 1,
        _ => line.len(),
    };
    let body_end = if body_end > 0 && line[body_end - 1] == b'\r' { body_end - 1 } else { body_end };
    let tail = SENT_NS_KEY.len() + 19 + 1;
    let start = if body_end >= tail
        && line[body_end - 1] == b'}'
        && &line[body_end - tail..body_end - tail + SENT_NS_KEY.len()] == SENT_NS_KEY
    {
        body_end - 20
    } else {
        match line.windows(SENT_NS_KEY.len()).position(|w| w == SENT_NS_KEY) {
            Some(at) => at + SENT_NS_KEY.len(),
            None => return false,
        }
    };
    let end = start + 19;
    let fits = line.get(start..end).is_some_and(|d| d.iter().all(u8::is_ascii_digit))
        && !line.get(end).is_some_and(u8::is_ascii_digit);
    if !fits {
        return false;
    }
    let mut v = now_ns;
    for digit in line[start..end].iter_mut().rev() {
        *digit = b'0' + (v % 10) as u8;
        v /= 10;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(seed: u64, n: usize, target: usize) -> Vec<Vec<u8>> {
        let mut g = EventGen::new(Prng::new(seed), target);
        (0..n)
            .map(|i| {
                let mut out = Vec::new();
                g.push_event(&mut out, 1_700_000_000_000_000_000 + i as u64);
                out
            })
            .collect()
    }

    #[test]
    fn events_are_valid_json_objects_with_the_required_fields() {
        for line in lines(3, 2000, 360) {
            assert_eq!(line.last(), Some(&b'\n'));
            assert!(!line[..line.len() - 1].contains(&b'\n'));
            let v: serde_json::Value = serde_json::from_slice(&line).expect("valid JSON");
            assert!(v["event"].as_str().is_some_and(|e| !e.is_empty()));
            assert!(v["id"].as_str().is_some());
            assert!(v["timestamp"].as_str().is_some());
            assert!(v["severity"].is_string() || v["severity"].as_u64().is_some_and(|s| s <= 10));
            assert!(v["data"].is_object());
            assert!(v["sent_ns"].as_u64().is_some_and(|ns| ns >= 1_700_000_000_000_000_000));
        }
    }

    #[test]
    fn sizes_average_near_the_target_and_vary() {
        let all = lines(5, 20_000, 360);
        let total: usize = all.iter().map(Vec::len).sum();
        let avg = total as f64 / all.len() as f64;
        let min = all.iter().map(Vec::len).min().unwrap_or(0);
        let max = all.iter().map(Vec::len).max().unwrap_or(0);
        assert!((330.0..=390.0).contains(&avg), "average {avg}");
        assert!(min < 260 && max > 480, "min {min} max {max}");
        assert!(max < 700, "max {max}");
    }

    #[test]
    fn same_seed_gives_the_same_events() {
        assert_eq!(lines(9, 50, 360), lines(9, 50, 360));
        assert_ne!(lines(9, 50, 360), lines(10, 50, 360));
    }

    #[test]
    fn patching_rewrites_only_the_send_time() {
        for mut line in lines(4, 200, 360) {
            let before = line.clone();
            assert!(patch_sent_ns(&mut line, 1_800_000_000_123_456_789));
            assert_eq!(line.len(), before.len());
            let v: serde_json::Value = serde_json::from_slice(&line).expect("json");
            assert_eq!(v["sent_ns"].as_u64(), Some(1_800_000_000_123_456_789));
            let w: serde_json::Value = serde_json::from_slice(&before).expect("json");
            assert_eq!(v["id"], w["id"]);
        }
        // Not last: found by search. Missing or not 19 digits: unchanged.
        let mut moved = b"{\"sent_ns\":1700000000000000000,\"event\":\"x\"}".to_vec();
        assert!(patch_sent_ns(&mut moved, 1_800_000_000_000_000_001));
        assert!(moved.starts_with(b"{\"sent_ns\":1800000000000000001,"));
        let mut none = b"{\"event\":\"x\"}\n".to_vec();
        assert!(!patch_sent_ns(&mut none, 1));
        let mut short = b"{\"event\":\"x\",\"sent_ns\":12}\n".to_vec();
        assert!(!patch_sent_ns(&mut short, 1));
        assert_eq!(short, b"{\"event\":\"x\",\"sent_ns\":12}\n");
    }
}
