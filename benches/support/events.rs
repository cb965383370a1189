//! The synthetic events the benches feed: realistic findings of about 360 bytes with field
//! variety. Include with `#[path = "support/events.rs"] mod events;`.

/// Realistic finding events of about 360 bytes, with field variety.
pub fn lines(count: usize) -> Vec<Vec<u8>> {
    let severities = ["critical", "high", "medium", "low", "info"];
    (0..count)
        .map(|n| {
            format!(
                r#"{{"event":"finding_added","id":"f-{n:08}","timestamp":"2024-05-01T12:{:02}:{:02}.{:06}Z","severity":"{}","title":"SQL injection in /api/v1/items/{n} parameter q","host":"web-{}.prod.example.net","source_ip":"10.{}.{}.{}","user":"svc-scanner","url":"https://web.example.net/api/v1/items/{n}?q=1","data":{{"cwe":"CWE-89","cvss":9.1}}}}"#,
                n / 60 % 60,
                n % 60,
                n % 1_000_000,
                severities[n % 5],
                n % 16,
                n % 256,
                n / 256 % 256,
                n % 7
            )
            .into_bytes()
        })
        .collect()
}
