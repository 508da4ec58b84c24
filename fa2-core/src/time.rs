//! Timestamp and duration parsing for every form that telemetry exports use, always to UTC.
//!
//! The parsers are hand-written over bytes because they run once per log line on the hot
//! path; chrono is used only to assemble the final value.

use chrono::{DateTime, Datelike, DurationRound, NaiveDate, NaiveDateTime, TimeZone, Utc};
use std::time::Duration;

/// A parsed leading timestamp and how many bytes of the input it used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeadingTimestamp {
    pub ts: DateTime<Utc>,
    pub len: usize,
    /// Whether the text said its zone (an offset, `Z`, `UTC`, or an epoch). A timestamp without
    /// one was read as UTC: the caller decides whose wall clock it really is ([`in_zone`]).
    pub zoned: bool,
}

/// Parses a full timestamp string in any supported textual form (RFC 3339 / ISO 8601 with `T`
/// or space, optional fraction and offset, `YYYY-MM-DD HH:MM:SS,mmm`, `YYYY/MM/DD HH:MM:SS`)
/// or as epoch seconds / milliseconds. A timestamp without an offset is taken as UTC.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Some(lead) = parse_iso_prefix(s.as_bytes())
        && lead.len == s.len()
    {
        return Some(lead.ts);
    }
    if let Some(lead) = parse_clf_prefix(s.as_bytes())
        && lead.len == s.len()
    {
        return Some(lead.ts);
    }
    parse_epoch(s)
}

/// Parses epoch seconds (`1723807141.348`), milliseconds (`1723803540110`), microseconds or
/// nanoseconds (see [`epoch_auto`]).
pub fn parse_epoch(s: &str) -> Option<DateTime<Utc>> {
    let v: f64 = s.trim().parse().ok()?;
    epoch_auto(v)
}

/// Interprets a number as epoch seconds, milliseconds, microseconds or nanoseconds, decided by
/// magnitude: 1e11 seconds is the year 5138, so anything larger is a finer unit, and each
/// further factor of 1000 is the next unit (a date after 1973 in every unit).
pub fn epoch_auto(v: f64) -> Option<DateTime<Utc>> {
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let millis = if v > 1e17 {
        v / 1e6
    } else if v > 1e14 {
        v / 1e3
    } else if v > 1e11 {
        v
    } else {
        v * 1000.0
    };
    let ms = millis.round() as i64;
    Utc.timestamp_millis_opt(ms).single()
}

/// Re-reads a timestamp that was parsed as UTC because its text had no zone as a wall-clock
/// time in `zone` (the configured `timezone`). The earlier instant wins in a DST fold; a time
/// in a DST gap is taken one hour later, as clocks show it.
pub fn in_zone(ts: DateTime<Utc>, zone: chrono_tz::Tz) -> DateTime<Utc> {
    let naive = ts.naive_utc();
    match zone.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        chrono::LocalResult::None => zone
            .from_local_datetime(&(naive + chrono::Duration::hours(1)))
            .earliest()
            .map_or(ts, |t| t.with_timezone(&Utc)),
    }
}

/// Parses the common log format time `10/Oct/2000:13:55:36 -0700` (nginx, Apache, API Gateway
/// `$context.requestTime`), optionally inside `[...]`; returns the time and the bytes used.
fn parse_clf_prefix(b: &[u8]) -> Option<LeadingTimestamp> {
    let (b, open) = match b.first() {
        Some(b'[') => (&b[1..], 1),
        _ => (b, 0),
    };
    let day = digits(b, 0, 2)?;
    if *b.get(2)? != b'/' || *b.get(6)? != b'/' || *b.get(11)? != b':' {
        return None;
    }
    let mon = b.get(3..6)?;
    let month = MONTHS.iter().position(|m| m.as_slice() == mon)? as u32 + 1;
    let year = digits(b, 7, 4)?;
    let hour = digits(b, 12, 2)?;
    let minute = digits(b, 15, 2)?;
    let second = digits(b, 18, 2)?;
    if b.get(14) != Some(&b':') || b.get(17) != Some(&b':') || b.get(20) != Some(&b' ') {
        return None;
    }
    let sign = match b.get(21)? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let oh = digits(b, 22, 2)?;
    let om = digits(b, 24, 2)?;
    let mut len = 26;
    if open == 1 {
        if b.get(26) != Some(&b']') {
            return None;
        }
        len += 1;
    }
    let naive = NaiveDate::from_ymd_opt(year as i32, month, day)?.and_hms_opt(
        hour,
        minute,
        second.min(59),
    )?;
    let offset = sign * (oh as i64 * 3600 + om as i64 * 60);
    let ts = Utc.from_utc_datetime(&naive) - chrono::Duration::seconds(offset);
    Some(LeadingTimestamp {
        ts,
        len: len + open,
        zoned: true,
    })
}

/// `Thu Aug 31 01:07:25 UTC 2017` (Java's `Date.toString()`, as API Gateway execution logs
/// write it), with a UTC zone name only: other zone names are ambiguous abbreviations.
fn parse_java_prefix(b: &[u8]) -> Option<LeadingTimestamp> {
    // `Www ` then a syslog time, then ` ZZZ yyyy`
    if !b.get(0..3)?.iter().all(u8::is_ascii_alphabetic) || *b.get(3)? != b' ' {
        return None;
    }
    let inner = parse_syslog_prefix(&b[4..], 2000)?;
    let rest = &b[4 + inner.len..];
    let zone_end = rest.iter().skip(1).position(|&c| c == b' ')? + 1;
    let zone = std::str::from_utf8(rest.get(1..zone_end)?).ok()?;
    if rest.first() != Some(&b' ') || !is_utc_name(zone) {
        return None;
    }
    let year = digits(rest, zone_end + 1, 4)?;
    if rest
        .get(zone_end + 5)
        .is_some_and(|c| c.is_ascii_alphanumeric())
    {
        return None;
    }
    let naive = inner.ts.naive_utc();
    let naive =
        NaiveDate::from_ymd_opt(year as i32, naive.month(), naive.day())?.and_time(naive.time());
    Some(LeadingTimestamp {
        ts: Utc.from_utc_datetime(&naive),
        len: 4 + inner.len + zone_end + 5,
        zoned: true,
    })
}

/// A leading epoch in seconds (10 digits, optional fraction) or milliseconds (13 digits), in
/// 2001..2286, followed by white space: other numbers at the start of a line are not times.
fn parse_epoch_prefix(b: &[u8]) -> Option<LeadingTimestamp> {
    let int = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if int != 10 && int != 13 {
        return None;
    }
    let mut len = int;
    if int == 10 && b.get(len) == Some(&b'.') {
        len += 1 + b[len + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
    }
    if !b.get(len).is_none_or(|c| c.is_ascii_whitespace()) {
        return None;
    }
    let text = std::str::from_utf8(&b[..len]).ok()?;
    let ts = parse_epoch(text)?;
    if ts.year() < 2001 {
        return None;
    }
    Some(LeadingTimestamp {
        ts,
        len,
        zoned: true,
    })
}

/// Converts epoch milliseconds.
pub fn from_millis(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

/// Parses a time as chat tools and notifications write it, always with its zone: RFC 1123 /
/// RFC 2822 (`Tue, 24 Nov 2026 03:00:00 UTC`, also `GMT`, `UT`, `Z` or `+0000`, the weekday
/// and the seconds optional; a weekday that does not match the date is ignored), the Java
/// `Date` form (`Tue Nov 24 03:00:00 UTC 2026`), an ISO time followed by ` UTC` or ` GMT`, and
/// the day/month/2-digit-year form of CloudWatch alarm reasons (`24/11/26 03:00:00`, UTC).
/// A wall time without a zone is not read here: whose zone it is depends on who wrote it.
pub fn parse_chat_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.len() < 8 || !s.is_ascii() {
        return None;
    }
    parse_rfc2822_lenient(s)
        .or_else(|| parse_java_date(s))
        .or_else(|| {
            let (head, zone) = s.rsplit_once(' ')?;
            if !is_utc_name(zone) {
                return None;
            }
            parse_iso_prefix(head.trim_end().as_bytes())
                .filter(|l| l.len == head.trim_end().len())
                .map(|l| l.ts)
        })
        .or_else(|| {
            let naive = NaiveDateTime::parse_from_str(s, "%d/%m/%y %H:%M:%S")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%d/%m/%y %H:%M"))
                .ok()?;
            Some(Utc.from_utc_datetime(&naive))
        })
}

fn is_utc_name(zone: &str) -> bool {
    ["UTC", "GMT", "UT", "Z"]
        .iter()
        .any(|z| zone.eq_ignore_ascii_case(z))
}

/// chrono reads RFC 2822 strictly: not `UTC` (only `GMT`, `UT`), and not a weekday that
/// disagrees with the date.
fn parse_rfc2822_lenient(s: &str) -> Option<DateTime<Utc>> {
    let s = match s.rsplit_once(' ') {
        Some((head, zone)) if zone.eq_ignore_ascii_case("UTC") => format!("{head} GMT"),
        _ => s.to_string(),
    };
    let parse = |t: &str| {
        DateTime::parse_from_rfc2822(t)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    parse(&s).or_else(|| parse(s.split_once(", ")?.1))
}

/// `EEE MMM dd HH:mm:ss zzz yyyy` with a UTC zone name.
fn parse_java_date(s: &str) -> Option<DateTime<Utc>> {
    let f: Vec<&str> = s.split_whitespace().collect();
    let [_, month, day, time, zone, year] = f.as_slice() else {
        return None;
    };
    if !is_utc_name(zone) {
        return None;
    }
    let text = format!("{month} {day} {year} {time}");
    let naive = NaiveDateTime::parse_from_str(&text, "%b %d %Y %H:%M:%S").ok()?;
    Some(Utc.from_utc_datetime(&naive))
}

/// Parses a timestamp at the start of a log line: ISO forms (see [`parse_timestamp`]), the
/// common log format time `[10/Oct/2000:13:55:36 -0700]`, Java's `Thu Aug 31 01:07:25 UTC 2017`
/// (API Gateway execution logs), epoch seconds or milliseconds, or syslog `Mon DD HH:MM:SS`,
/// whose missing year is taken from `syslog_year`.
pub fn parse_leading(line: &str, syslog_year: i32) -> Option<LeadingTimestamp> {
    let b = line.as_bytes();
    match b.first()? {
        c if c.is_ascii_digit() => parse_iso_prefix(b)
            .or_else(|| parse_clf_prefix(b))
            .or_else(|| parse_epoch_prefix(b)),
        b'[' => parse_clf_prefix(b),
        _ => parse_java_prefix(b).or_else(|| parse_syslog_prefix(b, syslog_year)),
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let slice = b.get(at..at + n)?;
    let mut v = 0u32;
    for &c in slice {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.,fraction][Z|±HH:MM|±HHMM]` (also `/` as date separator).
fn parse_iso_prefix(b: &[u8]) -> Option<LeadingTimestamp> {
    let year = digits(b, 0, 4)?;
    let sep = *b.get(4)?;
    if sep != b'-' && sep != b'/' {
        return None;
    }
    let month = digits(b, 5, 2)?;
    if *b.get(7)? != sep {
        return None;
    }
    let day = digits(b, 8, 2)?;
    let t = *b.get(10)?;
    if t != b'T' && t != b' ' {
        return None;
    }
    let hour = digits(b, 11, 2)?;
    if *b.get(13)? != b':' {
        return None;
    }
    let minute = digits(b, 14, 2)?;
    if *b.get(16)? != b':' {
        return None;
    }
    let second = digits(b, 17, 2)?;
    let mut i = 19;
    let mut nanos = 0u32;
    if matches!(b.get(i), Some(b'.') | Some(b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        let mut scale = 100_000_000u32;
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            nanos += u32::from(c - b'0') * scale;
            scale /= 10;
            i += 1;
        }
    }
    let mut offset_secs: i32 = 0;
    let mut zoned = false;
    match b.get(i) {
        Some(b'Z') | Some(b'z') => {
            i += 1;
            zoned = true;
        }
        Some(&c @ (b'+' | b'-')) => {
            let oh = digits(b, i + 1, 2);
            if let Some(oh) = oh {
                let (om, used) = if b.get(i + 3) == Some(&b':') {
                    (digits(b, i + 4, 2)?, 6)
                } else if let Some(om) = digits(b, i + 3, 2) {
                    (om, 5)
                } else {
                    (0, 3)
                };
                let sign = if c == b'-' { -1 } else { 1 };
                offset_secs = sign * (oh as i32 * 3600 + om as i32 * 60);
                i += used;
                zoned = true;
            }
        }
        _ => {}
    }
    // A timestamp glued to more digits or letters is something else (an id, a version).
    if b.get(i).is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let naive = date.and_hms_nano_opt(hour, minute, second.min(59), nanos)?;
    let ts = Utc.from_utc_datetime(&naive) - chrono::Duration::seconds(i64::from(offset_secs));
    Some(LeadingTimestamp { ts, len: i, zoned })
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `Mon DD HH:MM:SS` (day may be space-padded).
fn parse_syslog_prefix(b: &[u8], year: i32) -> Option<LeadingTimestamp> {
    let mon = b.get(0..3)?;
    let month = MONTHS.iter().position(|m| m.as_slice() == mon)? as u32 + 1;
    if *b.get(3)? != b' ' {
        return None;
    }
    let mut i = 4;
    if b.get(i) == Some(&b' ') {
        i += 1;
    }
    let day = if let Some(d) = digits(b, i, 2) {
        i += 2;
        d
    } else {
        let d = digits(b, i, 1)?;
        i += 1;
        d
    };
    if *b.get(i)? != b' ' {
        return None;
    }
    i += 1;
    let hour = digits(b, i, 2)?;
    let minute = digits(b, i + 3, 2)?;
    let second = digits(b, i + 6, 2)?;
    if b.get(i + 2) != Some(&b':') || b.get(i + 5) != Some(&b':') {
        return None;
    }
    i += 8;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let naive = date.and_hms_opt(hour, minute, second.min(59))?;
    Some(LeadingTimestamp {
        ts: Utc.from_utc_datetime(&naive),
        len: i,
        zoned: false,
    })
}

/// The year to assume for syslog timestamps: the year of the analysis window's start.
pub fn syslog_year_for(reference: DateTime<Utc>) -> i32 {
    reference.year()
}

/// Parses a duration such as `90s`, `30m`, `2h`, `1d`, `1h30m` or `500ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration: use a number and a unit, like 30m".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("`{s}` has no unit: use s, m, h or d, like 30m"))?;
        if n_end == 0 {
            return Err(format!(
                "`{s}` is not a duration: use a number and a unit, like 90s, 30m, 2h or 1d"
            ));
        }
        let too_large = || format!("`{s}`: number too large");
        let n: u64 = rest[..n_end].parse().map_err(|_| too_large())?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..u_end];
        rest = &rest[u_end..];
        // Checked: the text comes from flags, forms and environment variables.
        let part = match unit {
            "ms" => Some(Duration::from_millis(n)),
            "s" | "sec" => Some(Duration::from_secs(n)),
            "m" | "min" => n.checked_mul(60).map(Duration::from_secs),
            "h" => n.checked_mul(3600).map(Duration::from_secs),
            "d" => n.checked_mul(86_400).map(Duration::from_secs),
            other => {
                return Err(format!(
                    "`{s}`: unknown unit `{other}`: use s, m, h or d, like 30m"
                ));
            }
        };
        total = part
            .and_then(|p| total.checked_add(p))
            .ok_or_else(too_large)?;
    }
    Ok(total)
}

/// A duration as people write it: `1d 2h`, `30m`, `90s` is `1m 30s`, `500ms`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let parts = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3600, "h"),
        (secs % 3600 / 60, "m"),
        (secs % 60, "s"),
    ];
    let parts: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    parts.join(" ")
}

/// `t` rounded down to its minute.
pub fn floor_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(chrono::Duration::minutes(1)).unwrap_or(t)
}

/// `t` rounded up to the next whole minute (unchanged if it is one, or if there is no next
/// minute in chrono's range).
pub fn ceil_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = floor_minute(t);
    if floor == t {
        t
    } else {
        floor
            .checked_add_signed(chrono::Duration::minutes(1))
            .unwrap_or(t)
    }
}

/// Formats a timestamp as RFC 3339 with millisecond precision and a `Z` suffix.
pub fn rfc3339(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Serde helpers for `Option<DateTime<Utc>>` as RFC 3339 strings with milliseconds.
pub mod serde_opt_rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(ts) => s.serialize_str(&super::rfc3339(*ts)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let v: Option<String> = Option::deserialize(d)?;
        match v {
            None => Ok(None),
            Some(s) => super::parse_timestamp(&s)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("bad timestamp `{s}`"))),
        }
    }
}

/// Serde helpers for `DateTime<Utc>` as RFC 3339 strings with milliseconds.
pub mod serde_rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339(*v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_timestamp(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("bad timestamp `{s}`")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn leading_forms_of_common_logs() {
        // API Gateway execution log line, from the API Gateway Developer Guide, "Tutorial:
        // Create a REST API with a Lambda non-proxy integration" (test-invoke output):
        // https://docs.aws.amazon.com/apigateway/latest/developerguide/getting-started-lambda-non-proxy-integration.html
        let l = parse_leading(
            "Thu Aug 31 01:07:25 UTC 2017 : Starting execution for request: test-invoke-request",
            1999,
        )
        .unwrap();
        assert_eq!(l.ts, utc("2017-08-31T01:07:25Z"));
        assert_eq!(l.len, 28);
        assert!(l.zoned);
        // a zone name other than UTC/GMT is an ambiguous abbreviation: not read as a time
        assert!(
            parse_leading("Thu Aug 31 01:07:25 PDT 2017 : x", 2017).is_none_or(|l| l.len == 19)
        );
        // common log format, the Apache docs' example time
        let c = parse_leading("[10/Oct/2000:13:55:36 -0700] GET /apache_pb.gif", 2024).unwrap();
        assert_eq!(c.ts, utc("2000-10-10T20:55:36Z"));
        assert_eq!(c.len, 28);
        assert!(c.zoned);
        assert_eq!(
            parse_timestamp("10/Oct/2000:13:55:36 -0700"),
            Some(utc("2000-10-10T20:55:36Z"))
        );
        assert!(parse_leading("[10/Oct/2000:13:55:36 -0700 missing bracket", 2024).is_none());
        // epoch prefixes: seconds with a fraction, milliseconds; other numbers are not times
        let e = parse_leading("1723807290.123 worker started", 2024).unwrap();
        assert_eq!(e.ts, utc("2024-08-16T11:21:30.123Z"));
        assert_eq!(e.len, 14);
        let m = parse_leading("1723807290123\tERROR x", 2024).unwrap();
        assert_eq!(m.ts, utc("2024-08-16T11:21:30.123Z"));
        assert!(parse_leading("0000000042 bytes", 2024).is_none());
        assert!(parse_leading("17238072901 eleven digits", 2024).is_none());
        assert!(parse_leading("1723807290abc", 2024).is_none());
        // zoned or not
        assert!(
            !parse_leading("2024-08-02 09:00:00,123 INFO", 2024)
                .unwrap()
                .zoned
        );
        assert!(
            !parse_leading("2024/08/02 09:00:00 INFO", 2024)
                .unwrap()
                .zoned
        );
        assert!(!parse_leading("Aug 31 01:07:25 host x", 2017).unwrap().zoned);
        assert!(
            parse_leading("2024-08-02T09:00:00+09:00 x", 2024)
                .unwrap()
                .zoned
        );
    }

    #[test]
    fn epochs_by_magnitude_and_zones() {
        let want = utc("2024-08-16T11:21:30.123Z");
        for v in [
            1723807290.123,
            1723807290123.0,
            1723807290123000.0,
            1723807290123000000.0,
        ] {
            assert_eq!(epoch_auto(v), Some(want), "{v}");
        }
        let tokyo: chrono_tz::Tz = "Asia/Tokyo".parse().unwrap();
        assert_eq!(
            in_zone(utc("2024-08-02T09:00:00Z"), tokyo),
            utc("2024-08-02T00:00:00Z")
        );
        // a wall time in New York's spring-forward gap is read an hour later
        let ny: chrono_tz::Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            in_zone(utc("2024-03-10T02:30:00Z"), ny),
            utc("2024-03-10T07:30:00Z")
        );
    }

    #[test]
    fn iso_forms() {
        let want = utc("2024-08-16T10:19:00.176Z");
        for s in [
            "2024-08-16T10:19:00.176Z",
            "2024-08-16 10:19:00.176",
            "2024-08-16 10:19:00,176",
            "2024-08-16T10:19:00.176000Z",
            "2024-08-16T19:19:00.176+09:00",
            "2024-08-16T19:19:00.176+0900",
            "2024-08-16T05:19:00.176-05:00",
            "2024/08/16 10:19:00.176",
        ] {
            assert_eq!(parse_timestamp(s), Some(want), "{s}");
        }
        assert_eq!(
            parse_timestamp("2024-08-16T10:19:00Z"),
            Some(utc("2024-08-16T10:19:00Z"))
        );
        assert_eq!(
            parse_timestamp("2024-08-16T11:48:00+00:00"),
            Some(utc("2024-08-16T11:48:00Z"))
        );
    }

    #[test]
    fn epochs() {
        assert_eq!(
            parse_timestamp("1723803540110"),
            Some(utc("2024-08-16T10:19:00.110Z"))
        );
        assert_eq!(
            parse_timestamp("1723807141.348"),
            Some(utc("2024-08-16T11:19:01.348Z"))
        );
        assert_eq!(parse_timestamp("-5"), None);
        assert_eq!(parse_timestamp("nan"), None);
    }

    #[test]
    fn leading_and_syslog() {
        let l = parse_leading("2024-08-16T10:19:00.804Z (3d88) Method completed", 2024).unwrap();
        assert_eq!(l.ts, utc("2024-08-16T10:19:00.804Z"));
        assert_eq!(l.len, 24);
        let s = parse_leading("Aug 16 10:19:00 host sshd[12]: hello", 2024).unwrap();
        assert_eq!(s.ts, utc("2024-08-16T10:19:00Z"));
        assert_eq!(s.len, 15);
        let s = parse_leading("Aug  6 01:02:03 host x", 2024).unwrap();
        assert_eq!(s.ts, utc("2024-08-06T01:02:03Z"));
        assert!(parse_leading("at com.example.Foo(Foo.java:12)", 2024).is_none());
        assert!(parse_leading("2024-13-45T10:19:00Z bad", 2024).is_none());
        assert!(parse_leading("20240816 no", 2024).is_none());
        assert!(parse_leading("", 2024).is_none());
        assert!(parse_leading("2024-08-16T10:19:00.1Zabc", 2024).is_none());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("").is_err());
        // overflow is an error, not a panic
        for s in [
            "999999999999999999d",
            "99999999999999999999s",
            "18446744073709551615s1s",
        ] {
            let e = parse_duration(s).unwrap_err();
            assert!(e.contains("too large"), "{s}: {e}");
        }
        assert_eq!(
            parse_duration("400000000d").unwrap(),
            Duration::from_secs(400_000_000 * 86_400)
        );
        assert_eq!(format_duration(Duration::from_secs(90)), "1m 30s");
        assert_eq!(format_duration(Duration::from_secs(86_400 + 7200)), "1d 2h");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(
            format_duration(parse_duration("400000000d").unwrap()),
            "400000000d"
        );
    }

    #[test]
    fn chat_forms_carry_their_zone() {
        let want = Some(utc("2026-11-24T03:00:00Z"));
        for s in [
            "Tue, 24 Nov 2026 03:00:00 UTC",
            "Tue, 24 Nov 2026 03:00:00 GMT",
            "Tue, 24 Nov 2026 03:00:00 utc",
            "24 Nov 2026 03:00:00 +0000",
            "Tue, 24 Nov 2026 12:00:00 +0900",
            "Tue, 24 Nov 2026 03:00 UTC",
            // the date wins over a weekday that disagrees
            "Mon, 24 Nov 2026 03:00:00 UTC",
            "Tue Nov 24 03:00:00 UTC 2026",
            "2026-11-24 03:00:00 UTC",
            "2026-11-24T03:00:00 GMT",
            "24/11/26 03:00:00",
            "  24/11/26 03:00  ",
        ] {
            assert_eq!(parse_chat_timestamp(s), want, "{s}");
        }
        for s in [
            "2026-11-24 03:00:00",
            "2026-11-24T03:00:00Z",
            "1795489200",
            "Tue, 24 Nov 2026 03:00:00 JST",
            "Tue Nov 24 03:00:00 JST 2026",
            "$Timestamp",
            "",
            "Tue, 31 Nov 2026 03:00:00 UTC",
        ] {
            assert_eq!(parse_chat_timestamp(s), None, "{s}");
        }
    }

    #[test]
    fn minutes_round() {
        let t = utc("2026-11-24T03:00:30.5Z");
        assert_eq!(floor_minute(t), utc("2026-11-24T03:00:00Z"));
        assert_eq!(ceil_minute(t), utc("2026-11-24T03:01:00Z"));
        let whole = utc("2026-11-24T03:00:00Z");
        assert_eq!((floor_minute(whole), ceil_minute(whole)), (whole, whole));
        let last = DateTime::<Utc>::MAX_UTC;
        assert_eq!(ceil_minute(last), last);
    }
}
