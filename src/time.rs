//! Timestamps as instants: RFC 3339 with any offset; naive timestamps read in a configured zone.
//!
//! ```
//! use batch_sync::time::{Zone, parse_instant};
//! let utc = Zone::parse("UTC").unwrap();
//! let a = parse_instant("2026-03-01T10:00:00+02:00", &utc).unwrap();
//! let b = parse_instant("2026-03-01T08:00:00Z", &utc).unwrap();
//! assert_eq!(a, b);
//! let berlin = Zone::parse("Europe/Berlin").unwrap();
//! assert_eq!(parse_instant("2026-03-01 09:00:00", &berlin).unwrap(), b);
//! ```
//!
//! A naive time that falls in a daylight-saving gap is read with the offset in force before
//! the gap; an ambiguous one (clocks turned back) takes the earlier instant. Fractions beyond
//! nanoseconds are truncated; a leap second `:60` reads as `:59.999999999`.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone};

/// The zone in which naive timestamps are read.
#[derive(Debug, Clone, PartialEq)]
pub enum Zone {
    /// UTC.
    Utc,
    /// A fixed offset in seconds east of UTC.
    Fixed(i32),
    /// An IANA time zone.
    Named(chrono_tz::Tz),
}

/// An instant: seconds since the Unix epoch and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    secs: i64,
    nanos: u32,
}

impl Zone {
    /// `UTC`, `Z`, `+02:00`, `-0530`, or an IANA name such as `Europe/Berlin`.
    pub fn parse(s: &str) -> Result<Zone, String> {
        if s.eq_ignore_ascii_case("utc") || s == "Z" || s == "Etc/UTC" {
            return Ok(Zone::Utc);
        }
        if let Some(off) = parse_offset(s.as_bytes()) {
            return Ok(Zone::Fixed(off));
        }
        s.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            format!("unknown time zone \"{s}\" (use UTC, an offset like +02:00, or an IANA name)")
        })
    }

    fn resolve(&self, naive: NaiveDateTime) -> i64 {
        let local = naive.and_utc().timestamp();
        match self {
            Zone::Utc => local,
            Zone::Fixed(off) => local - i64::from(*off),
            Zone::Named(tz) => match tz.offset_from_local_datetime(&naive) {
                chrono::LocalResult::Single(o) => local - i64::from(o.fix().local_minus_utc()),
                chrono::LocalResult::Ambiguous(a, b) => {
                    let (a, b) = (a.fix().local_minus_utc(), b.fix().local_minus_utc());
                    local - i64::from(a.max(b))
                }
                chrono::LocalResult::None => {
                    // In a gap: use the offset in force just before it.
                    let before = naive - chrono::Duration::hours(6);
                    let o = tz.offset_from_utc_datetime(&before).fix().local_minus_utc();
                    local - i64::from(o)
                }
            },
        }
    }
}

fn parse_offset(b: &[u8]) -> Option<i32> {
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = match b.len() {
        3 => (num(&b[1..3])?, 0),
        5 => (num(&b[1..3])?, num(&b[3..5])?),
        6 if b[3] == b':' => (num(&b[1..3])?, num(&b[4..6])?),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h as i32 * 3600 + m as i32 * 60))
}

fn num(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u32, |n, &d| {
        n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

/// A date/time split into its parts.
struct Parts {
    date: NaiveDate,
    time: Option<(NaiveTime, u32)>,
    offset: Option<i32>,
}

fn split(s: &str) -> Option<Parts> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(&b[0..4])? as i32, num(&b[5..7])?, num(&b[8..10])?)?;
    if b.len() == 10 {
        return Some(Parts {
            date,
            time: None,
            offset: None,
        });
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 16 || b[13] != b':' {
        return None;
    }
    let (h, mi) = (num(&b[11..13])?, num(&b[14..16])?);
    let mut i = 16;
    let mut sec = 0;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b':') {
        sec = num(b.get(i + 1..i + 3)?)?;
        i += 3;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                if i - start < 9 {
                    nanos = nanos * 10 + u32::from(b[i] - b'0');
                }
                i += 1;
            }
            if i == start {
                return None;
            }
            for _ in (i - start)..9 {
                nanos *= 10;
            }
        }
    }
    if sec == 60 {
        sec = 59;
        nanos = 999_999_999;
    }
    let time = NaiveTime::from_hms_opt(h, mi, sec)?;
    let rest = &b[i..];
    let offset = match rest {
        [] => None,
        [b'Z' | b'z'] => Some(0),
        _ => Some(parse_offset(rest)?),
    };
    Some(Parts {
        date,
        time: Some((time, nanos)),
        offset,
    })
}

/// Reads a timestamp (or a date, as its midnight) as an instant; naive values are read in `zone`.
pub fn parse_instant(s: &str, zone: &Zone) -> Result<Instant, String> {
    let p = split(s).ok_or_else(|| format!("\"{s}\" is not an RFC 3339 timestamp"))?;
    let (time, nanos) = p.time.unwrap_or((NaiveTime::MIN, 0));
    let naive = p.date.and_time(time);
    let secs = match p.offset {
        Some(off) => naive.and_utc().timestamp() - i64::from(off),
        None => zone.resolve(naive),
    };
    Ok(Instant { secs, nanos })
}

/// Reads a date or timestamp as a calendar date (`YYYY-MM-DD`) in `zone`.
pub fn parse_date(s: &str, zone: &Zone) -> Result<String, String> {
    let p = split(s).ok_or_else(|| format!("\"{s}\" is not a date or RFC 3339 timestamp"))?;
    if p.time.is_none() || p.offset.is_none() {
        return Ok(p.date.format("%Y-%m-%d").to_string());
    }
    let instant = parse_instant(s, zone)?;
    let utc = chrono::DateTime::from_timestamp(instant.secs, 0).ok_or("timestamp out of range")?;
    let date = match zone {
        Zone::Utc => utc.date_naive(),
        Zone::Fixed(off) => (utc + chrono::Duration::seconds(i64::from(*off))).date_naive(),
        Zone::Named(tz) => utc.with_timezone(tz).date_naive(),
    };
    Ok(date.format("%Y-%m-%d").to_string())
}

impl Instant {
    /// RFC 3339 in UTC with `Z`, with the shortest fraction that keeps the value.
    pub fn to_rfc3339(self) -> String {
        let Some(dt) = chrono::DateTime::from_timestamp(self.secs, 0) else {
            return String::new();
        };
        let mut s = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
        if self.nanos > 0 {
            let frac = format!("{:09}", self.nanos);
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
        s.push('Z');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_zones() {
        let utc = Zone::Utc;
        let z = parse_instant("2026-11-26T12:00:00Z", &utc).unwrap();
        assert_eq!(
            parse_instant("2026-11-26T13:00:00.000+01:00", &utc).unwrap(),
            z
        );
        assert_eq!(parse_instant("2026-11-26 07:00:00-0500", &utc).unwrap(), z);
        assert_eq!(parse_instant("2026-11-26T12:00:00", &utc).unwrap(), z);
        assert_eq!(
            parse_instant("2026-11-26T14:00:00", &Zone::parse("+02:00").unwrap()).unwrap(),
            z
        );
        assert_eq!(
            parse_instant(
                "2026-11-26T07:00:00",
                &Zone::parse("America/New_York").unwrap()
            )
            .unwrap(),
            z
        );
        assert!(parse_instant("2026-02-30T00:00:00Z", &utc).is_err());
        assert!(parse_instant("yesterday", &utc).is_err());
        assert!(Zone::parse("Mars/Olympus").is_err());
    }

    #[test]
    fn dst_gap_and_overlap() {
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        // 2026-03-29 02:30 does not exist in Berlin: read with +01:00 (before the gap).
        let gap = parse_instant("2026-03-29T02:30:00", &berlin).unwrap();
        assert_eq!(gap.to_rfc3339(), "2026-03-29T01:30:00Z");
        // 2026-10-25 02:30 happens twice: the earlier instant (+02:00).
        let amb = parse_instant("2026-10-25T02:30:00", &berlin).unwrap();
        assert_eq!(amb.to_rfc3339(), "2026-10-25T00:30:00Z");
    }

    #[test]
    fn fractions_and_dates() {
        let t = parse_instant("2026-01-01T00:00:00.1234567891Z", &Zone::Utc).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-01-01T00:00:00.123456789Z");
        assert_eq!(
            parse_date("2026-01-01T23:30:00-02:00", &Zone::Utc).unwrap(),
            "2026-01-02"
        );
        assert_eq!(parse_date("2026-01-01", &Zone::Utc).unwrap(), "2026-01-01");
    }
}
