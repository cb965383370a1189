//! Wall-clock time for latency stamps (`sent_ns`, CLOCK_REALTIME in nanoseconds, comparable
//! across processes on one machine) and RFC 3339 formatting of it without a date crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `seconds` as a Duration for timeouts and schedules: negative and NaN are 0, and anything
/// past ten years (or infinite) is ten years, so that adding it to an `Instant` cannot overflow.
pub fn secs(seconds: f64) -> Duration {
    const CAP: Duration = Duration::from_secs(10 * 365 * 86_400);
    Duration::try_from_secs_f64(seconds.max(0.0)).map_or(CAP, |d| d.min(CAP))
}

/// Nanoseconds since the Unix epoch (CLOCK_REALTIME); 0 for a clock set before 1970.
pub fn realtime_ns() -> u64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
        Err(_) => 0,
    }
}

/// Appends `unix_ns` as an RFC 3339 date-time with microseconds, in the zone `offset_min`
/// minutes east of UTC (`Z` for 0): `2024-05-01T12:00:00.123456Z`, `...+02:00`.
pub fn push_rfc3339_micros(out: &mut String, unix_ns: u64, offset_min: i32) {
    use std::fmt::Write as _;
    let local_s = (unix_ns / 1_000_000_000) as i64 + i64::from(offset_min) * 60;
    let micros = (unix_ns / 1_000) % 1_000_000;
    let days = local_s.div_euclid(86_400);
    let secs = local_s.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}", secs / 3600, (secs / 60) % 60, secs % 60);
    if offset_min == 0 {
        out.push('Z');
    } else {
        let sign = if offset_min < 0 { '-' } else { '+' };
        let abs = offset_min.unsigned_abs();
        let _ = write!(out, "{sign}{:02}:{:02}", abs / 60, abs % 60);
    }
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(ns: u64, off: i32) -> String {
        let mut s = String::new();
        push_rfc3339_micros(&mut s, ns, off);
        s
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(fmt(0, 0), "1970-01-01T00:00:00.000000Z");
        // 2024-02-29T23:59:59.123456789Z (a leap day).
        assert_eq!(fmt(1_709_251_199_123_456_789, 0), "2024-02-29T23:59:59.123456Z");
        assert_eq!(fmt(1_709_251_199_123_456_789, 120), "2024-03-01T01:59:59.123456+02:00");
        assert_eq!(fmt(1_709_251_199_123_456_789, -330), "2024-02-29T18:29:59.123456-05:30");
    }

    #[test]
    fn secs_never_panics() {
        assert_eq!(secs(1.5), Duration::from_millis(1500));
        assert_eq!(secs(-1.0), Duration::ZERO);
        assert_eq!(secs(f64::NAN), Duration::ZERO);
        assert_eq!(secs(f64::INFINITY), secs(1e300));
        assert!(std::time::Instant::now().checked_add(secs(f64::INFINITY)).is_some());
    }

    #[test]
    fn realtime_is_after_2020() {
        assert!(realtime_ns() > 1_577_836_800_000_000_000);
    }
}
