//! Event timestamps: parsing RFC 3339 input and writing the forms syslog needs.
//!
//! Parsing and formatting are hand-written because the daemon needs exactly three things (RFC 3339
//! in, RFC 5424 `TIMESTAMP` out, RFC 3164 `Mmm dd hh:mm:ss` out) and a date-time crate would be
//! the largest dependency in the tree for them.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A calendar timestamp with its UTC offset, as the event gave it.
///
/// The wall-clock fields and offset are kept as received so that what a SIEM shows is what the
/// agent wrote; only the precision is capped on output (RFC 5424 section 6.2.3.1 allows at most
/// six fraction digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    /// Fraction of a second in nanoseconds.
    nanos: u32,
    /// How many fraction digits the source had (0-9); output keeps at most six of them.
    frac_digits: u8,
    /// `None` for `Z`, otherwise the numeric offset in minutes east of UTC.
    offset_minutes: Option<i16>,
    /// `-00:00`: RFC 3339 section 4.3's "UTC, local offset unknown", kept as written.
    unknown_local_offset: bool,
}

/// The Java `SimpleDateFormat` pattern of [`Timestamp::write_leef`], sent as LEEF's
/// `devTimeFormat` (the form IBM's LEEF guide shows: `2017-10-18T11:26:03.060+0200`).
pub const LEEF_DEVTIME_FORMAT: &str = "yyyy-MM-dd'T'HH:mm:ss.SSSZ";

/// Why a timestamp could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timestamp {0:?} is not an RFC 3339 date-time (e.g. 2024-05-01T12:00:00Z)")]
pub struct TimestampError(pub String);

impl Timestamp {
    /// The current time in UTC with microsecond precision.
    pub fn now() -> Self {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Self::from_unix(since_epoch.as_secs() as i64, since_epoch.subsec_nanos(), 6)
    }

    /// Builds a UTC timestamp from seconds and nanoseconds since the Unix epoch.
    pub fn from_unix(secs: i64, nanos: u32, frac_digits: u8) -> Self {
        let days = secs.div_euclid(86_400);
        let secs_of_day = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Timestamp {
            year: year.clamp(0, 9999) as u16,
            month,
            day,
            hour: (secs_of_day / 3600) as u8,
            minute: (secs_of_day / 60 % 60) as u8,
            second: (secs_of_day % 60) as u8,
            nanos,
            frac_digits,
            offset_minutes: None,
            unknown_local_offset: false,
        }
    }

    /// Parses an RFC 3339 `date-time` (section 5.6). Lower-case `t`/`z` are accepted as RFC 3339
    /// allows; a leap second (`:60`) is kept as `:59.999999`, because RFC 5424 section 6.2.3 forbids
    /// leap seconds on the wire.
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimestampError> {
        parse(text.as_bytes()).ok_or_else(|| TimestampError(text.to_owned()))
    }

    /// Milliseconds since the Unix epoch (used by formats that carry epoch time).
    pub fn unix_millis(&self) -> i64 {
        let days = days_from_civil(i64::from(self.year), self.month, self.day);
        let local = days * 86_400 + i64::from(self.hour) * 3600 + i64::from(self.minute) * 60 + i64::from(self.second);
        let utc = local - i64::from(self.offset_minutes.unwrap_or(0)) * 60;
        utc * 1000 + i64::from(self.nanos / 1_000_000)
    }

    /// Writes the RFC 5424 `TIMESTAMP` (section 6.2.3): `FULL-DATE "T" FULL-TIME`, upper-case `T`
    /// and `Z`, at most six fraction digits (truncated, never rounded up into the next second).
    pub fn write_rfc5424(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 32];
        let n = self.fill_rfc5424(&mut buf);
        out.extend_from_slice(&buf[..n]);
    }

    fn fill_rfc5424(&self, buf: &mut [u8; 32]) -> usize {
        let mut n = 0;
        let mut put = |bytes: &[u8]| {
            buf[n..n + bytes.len()].copy_from_slice(bytes);
            n += bytes.len();
        };
        put(&digits4(self.year));
        put(b"-");
        put(&digits2(self.month));
        put(b"-");
        put(&digits2(self.day));
        put(b"T");
        put(&digits2(self.hour));
        put(b":");
        put(&digits2(self.minute));
        put(b":");
        put(&digits2(self.second));
        let frac = usize::from(self.frac_digits.min(6));
        if frac > 0 {
            let micros = self.nanos / 1000;
            let all = [
                (micros / 100_000 % 10) as u8,
                (micros / 10_000 % 10) as u8,
                (micros / 1000 % 10) as u8,
                (micros / 100 % 10) as u8,
                (micros / 10 % 10) as u8,
                (micros % 10) as u8,
            ];
            put(b".");
            for digit in &all[..frac] {
                put(&[b'0' + digit]);
            }
        }
        match self.offset_minutes {
            None => put(b"Z"),
            Some(offset) => {
                let sign = if offset < 0 || self.unknown_local_offset { b"-" } else { b"+" };
                put(sign);
                let abs = offset.unsigned_abs();
                put(&digits2((abs / 60) as u8));
                put(b":");
                put(&digits2((abs % 60) as u8));
            }
        }
        n
    }

    /// Writes LEEF's `devTime` in the form of [`LEEF_DEVTIME_FORMAT`]: the event's own wall
    /// clock and offset, milliseconds (cut, never rounded) and a `+hhmm` zone (`+0000` for `Z`).
    pub fn write_leef(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 32];
        let plain = Timestamp { frac_digits: 0, offset_minutes: Some(0), unknown_local_offset: false, ..*self };
        let n = plain.fill_rfc5424(&mut buf);
        // `fill_rfc5424` wrote `yyyy-MM-ddTHH:mm:ss+00:00`: keep the date and time.
        out.extend_from_slice(&buf[..n - "+00:00".len()]);
        out.push(b'.');
        let millis = self.nanos / 1_000_000;
        out.extend_from_slice(&[
            b'0' + (millis / 100) as u8,
            b'0' + (millis / 10 % 10) as u8,
            b'0' + (millis % 10) as u8,
        ]);
        let offset = self.offset_minutes.unwrap_or(0);
        out.push(if offset < 0 || self.unknown_local_offset { b'-' } else { b'+' });
        let abs = offset.unsigned_abs();
        out.extend_from_slice(&digits2((abs / 60) as u8));
        out.extend_from_slice(&digits2((abs % 60) as u8));
    }

    /// Writes the RFC 3164 `TIMESTAMP` (section 4.1.2): `Mmm dd hh:mm:ss`, the day padded with a
    /// space, in UTC (the format has no zone, so one fixed zone is the only unambiguous choice).
    pub fn write_rfc3164(&self, out: &mut Vec<u8>) {
        const MONTHS: [&[u8; 3]; 12] =
            [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
        let utc = self.to_utc();
        out.extend_from_slice(MONTHS[usize::from(utc.month - 1)]);
        out.push(b' ');
        if utc.day < 10 {
            out.extend_from_slice(&[b' ', b'0' + utc.day]);
        } else {
            out.extend_from_slice(&digits2(utc.day));
        }
        out.push(b' ');
        out.extend_from_slice(&digits2(utc.hour));
        out.push(b':');
        out.extend_from_slice(&digits2(utc.minute));
        out.push(b':');
        out.extend_from_slice(&digits2(utc.second));
    }

    /// The same instant in UTC.
    pub fn to_utc(&self) -> Self {
        if self.offset_minutes.is_none() {
            return *self;
        }
        let millis = self.unix_millis();
        let mut utc = Self::from_unix(millis.div_euclid(1000), self.nanos, self.frac_digits);
        utc.nanos = self.nanos;
        utc
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 32];
        let n = self.fill_rfc5424(&mut buf);
        // Only ASCII digits and punctuation are ever written.
        f.write_str(std::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)
    }
}

fn digits2(value: u8) -> [u8; 2] {
    [b'0' + value / 10 % 10, b'0' + value % 10]
}

fn digits4(value: u16) -> [u8; 4] {
    [
        b'0' + (value / 1000 % 10) as u8,
        b'0' + (value / 100 % 10) as u8,
        b'0' + (value / 10 % 10) as u8,
        b'0' + (value % 10) as u8,
    ]
}

fn parse(s: &[u8]) -> Option<Timestamp> {
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(range)?;
        part.iter().try_fold(0u32, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0')))
    };
    let expect = |index: usize, allowed: &[u8]| s.get(index).is_some_and(|b| allowed.contains(b));
    if !(expect(4, b"-") && expect(7, b"-") && expect(10, b"Tt") && expect(13, b":") && expect(16, b":")) {
        return None;
    }
    let year = num(0..4)?;
    let month = num(5..7)?;
    let day = num(8..10)?;
    let hour = num(11..13)?;
    let minute = num(14..16)?;
    let mut second = num(17..19)?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut pos = 19;
    let (mut nanos, mut frac_digits) = (0u32, 0u8);
    if s.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while s.get(pos).is_some_and(u8::is_ascii_digit) {
            if pos - start < 9 {
                nanos = nanos * 10 + u32::from(s[pos] - b'0');
            }
            pos += 1;
        }
        let count = pos - start;
        if count == 0 {
            return None;
        }
        for _ in count..9 {
            nanos *= 10;
        }
        frac_digits = count.min(9) as u8;
    }
    let unknown_local_offset = s.get(pos..) == Some(b"-00:00".as_slice());
    let offset_minutes = match s.get(pos)? {
        b'Z' | b'z' if pos + 1 == s.len() => None,
        sign @ (b'+' | b'-') if pos + 6 == s.len() && expect(pos + 3, b":") => {
            let hours = num(pos + 1..pos + 3)?;
            let minutes = num(pos + 4..pos + 6)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = (hours * 60 + minutes) as i16;
            Some(if *sign == b'-' { -total } else { total })
        }
        _ => return None,
    };
    if second == 60 {
        second = 59;
        nanos = 999_999_999;
        frac_digits = frac_digits.max(6);
    }
    Some(Timestamp {
        year: year as u16,
        month: month as u8,
        day: day as u8,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
        nanos,
        frac_digits,
        offset_minutes,
        unknown_local_offset,
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc5424(text: &str) -> String {
        Timestamp::parse_rfc3339(text).expect("valid").to_string()
    }

    #[test]
    fn leef_devtime_keeps_the_wall_clock_and_offset_with_milliseconds() {
        let leef = |text: &str| {
            let mut out = Vec::new();
            Timestamp::parse_rfc3339(text).expect("valid").write_leef(&mut out);
            String::from_utf8(out).expect("ascii")
        };
        assert_eq!(leef("2017-10-18T11:26:03.060789+02:00"), "2017-10-18T11:26:03.060+0200");
        assert_eq!(leef("2024-05-01T12:00:00Z"), "2024-05-01T12:00:00.000+0000");
        assert_eq!(leef("2024-05-01T12:00:00.9-05:30"), "2024-05-01T12:00:00.900-0530");
    }

    #[test]
    fn keeps_offset_and_caps_fraction_at_six_digits() {
        assert_eq!(rfc5424("2024-05-01T12:00:00Z"), "2024-05-01T12:00:00Z");
        assert_eq!(rfc5424("2024-05-01t12:00:00.5z"), "2024-05-01T12:00:00.5Z");
        assert_eq!(rfc5424("2024-05-01T12:00:00.123456789+02:00"), "2024-05-01T12:00:00.123456+02:00");
        assert_eq!(rfc5424("2024-05-01T12:00:00.999999999-07:30"), "2024-05-01T12:00:00.999999-07:30");
        assert_eq!(rfc5424("2024-05-01T12:00:00.000-00:00"), "2024-05-01T12:00:00.000-00:00");
        assert_eq!(rfc5424("2024-05-01T12:00:00+00:00"), "2024-05-01T12:00:00+00:00");
    }

    #[test]
    fn leap_second_becomes_end_of_previous_second() {
        assert_eq!(rfc5424("2016-12-31T23:59:60Z"), "2016-12-31T23:59:59.999999Z");
    }

    #[test]
    fn rejects_malformed_dates() {
        for bad in [
            "",
            "2024-05-01",
            "2024-05-01 12:00:00Z",
            "2024-13-01T12:00:00Z",
            "2023-02-29T12:00:00Z",
            "2024-04-31T12:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:60:00Z",
            "2024-05-01T12:00:61Z",
            "2024-05-01T12:00:00.Z",
            "2024-05-01T12:00:00",
            "2024-05-01T12:00:00+0200",
            "2024-05-01T12:00:00+24:00",
            "2024-05-01T12:00:00Zjunk",
            "２024-05-01T12:00:00Z",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad:?} must be rejected");
        }
        assert!(Timestamp::parse_rfc3339("2024-02-29T12:00:00Z").is_ok());
    }

    #[test]
    fn unix_conversions_round_trip() {
        let ts = Timestamp::from_unix(1_714_564_800, 0, 0);
        assert_eq!(ts.to_string(), "2024-05-01T12:00:00Z");
        assert_eq!(ts.unix_millis(), 1_714_564_800_000);
        let east = Timestamp::parse_rfc3339("2024-05-01T14:00:00.250+02:00").expect("valid");
        assert_eq!(east.unix_millis(), 1_714_564_800_250);
        assert_eq!(Timestamp::from_unix(-1, 0, 0).to_string(), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn rfc3164_form_is_utc_with_space_padded_day() {
        let mut out = Vec::new();
        Timestamp::parse_rfc3339("2024-05-02T01:02:03+03:00").expect("valid").write_rfc3164(&mut out);
        assert_eq!(out, b"May  1 22:02:03");
        out.clear();
        Timestamp::parse_rfc3339("2024-11-22T17:45:00Z").expect("valid").write_rfc3164(&mut out);
        assert_eq!(out, b"Nov 22 17:45:00");
    }
}
