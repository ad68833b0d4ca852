//! XMLTV date-times: `YYYYMMDDhhmmss +hhmm` and its variants, to and from [`UtcMs`].

use media::time::{civil_from_days, days_from_civil};
use media::UtcMs;

/// Parses an XMLTV date-time into UTC.
///
/// Accepted: 8, 10, 12 or 14 digits (`YYYYMMDD[hh[mm[ss]]]`, missing parts are zero), then an
/// optional timezone, with or without a space before it:
/// - numeric `+hhmm`, `-hhmm`, `+hh:mm`, `+hh` (at most ±14:00; every offset is honoured:
///   `20261124190000 +0800` is 2026-11-24T11:00:00Z);
/// - `Z`, `UTC`, `UT`, `GMT`;
/// - a few unambiguous abbreviations: `BST`, `WET`, `WEST`, `CET`, `CEST`, `MET`, `MEST`, `EET`,
///   `EEST`, `MSK`, `EST`, `EDT`, `CDT`, `MST`, `MDT`, `PST`, `PDT`, `AKST`, `AKDT`, `HST`, `JST`,
///   `KST`, `HKT`, `AEST`, `AEDT`. `CST` and `IST` are ambiguous (China/US Central,
///   India/Ireland/Israel) and are refused.
///
/// No timezone means UTC (as the DTD says).
pub fn parse_xmltv_time(s: &str) -> Result<UtcMs, String> {
    let s = s.trim();
    let ndigits = s.bytes().take_while(u8::is_ascii_digit).count();
    if !matches!(ndigits, 8 | 10 | 12 | 14) {
        return Err(format!(
            "bad time {s:?}: expected YYYYMMDDhhmmss (8, 10, 12 or 14 digits), found {ndigits} digits"
        ));
    }
    let d = s.as_bytes();
    let num = |a: usize, b: usize| -> i64 {
        d[a..b]
            .iter()
            .fold(0i64, |acc, c| acc * 10 + i64::from(c - b'0'))
    };
    let year = num(0, 4);
    let month = num(4, 6);
    let day = num(6, 8);
    let hour = if ndigits >= 10 { num(8, 10) } else { 0 };
    let min = if ndigits >= 12 { num(10, 12) } else { 0 };
    let sec = if ndigits >= 14 { num(12, 14) } else { 0 };
    if !(1..=12).contains(&month) {
        return Err(format!("bad time {s:?}: month {month} out of range"));
    }
    if day < 1 || day > days_in_month(year, month as u32) {
        return Err(format!("bad time {s:?}: day {day} out of range"));
    }
    if hour > 23 || min > 59 || sec > 59 {
        return Err(format!("bad time {s:?}: time of day out of range"));
    }
    let offset_s = parse_tz(s[ndigits..].trim()).map_err(|e| format!("bad time {s:?}: {e}"))?;
    let days = days_from_civil(year, month as u32, day as u32);
    let local = days * 86_400 + hour * 3600 + min * 60 + sec;
    Ok(UtcMs((local - offset_s) * 1000))
}

/// Offset east of UTC in seconds.
fn parse_tz(tz: &str) -> Result<i64, String> {
    if tz.is_empty() {
        return Ok(0);
    }
    let b = tz.as_bytes();
    if b[0] == b'+' || b[0] == b'-' {
        let sign = if b[0] == b'-' { -1 } else { 1 };
        let rest: String = tz[1..].chars().filter(|c| *c != ':').collect();
        if !rest.bytes().all(|c| c.is_ascii_digit()) || !matches!(rest.len(), 2 | 4) {
            return Err(format!("timezone {tz:?} is not ±hhmm"));
        }
        let h: i64 = rest[0..2].parse().unwrap_or(99);
        let m: i64 = if rest.len() == 4 {
            rest[2..4].parse().unwrap_or(99)
        } else {
            0
        };
        if h > 14 || m > 59 || (h == 14 && m > 0) {
            return Err(format!("timezone offset {tz:?} out of range"));
        }
        return Ok(sign * (h * 3600 + m * 60));
    }
    let hours: i64 = match tz.to_ascii_uppercase().as_str() {
        "Z" | "UTC" | "UT" | "GMT" | "WET" => 0,
        "BST" | "WEST" | "CET" | "MET" => 1,
        "CEST" | "MEST" | "EET" => 2,
        "EEST" | "MSK" => 3,
        "EST" | "CDT" => -5,
        "EDT" => -4,
        "MST" => -7,
        "MDT" => -6,
        "PST" => -8,
        "PDT" => -7,
        "AKST" => -9,
        "AKDT" => -8,
        "HST" => -10,
        "JST" | "KST" => 9,
        "HKT" => 8,
        "AEST" => 10,
        "AEDT" => 11,
        "CST" | "IST" => {
            return Err(format!(
                "ambiguous timezone abbreviation {tz:?}; use a numeric offset like +0800"
            ))
        }
        _ => return Err(format!("unknown timezone {tz:?}")),
    };
    Ok(hours * 3600)
}

fn days_in_month(y: i64, m: u32) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

/// Formats as `YYYYMMDDhhmmss +0000` (sub-second parts are truncated toward the past).
pub fn format_xmltv_time(t: UtcMs) -> String {
    let secs = t.0.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02} +0000",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc(s: &str) -> String {
        parse_xmltv_time(s).unwrap().to_rfc3339()
    }

    #[test]
    fn offsets_are_honoured() {
        assert_eq!(rfc("20261124190000 +0800"), "2026-11-24T11:00:00.000Z");
        assert_eq!(rfc("20261124190000 -0530"), "2026-11-25T00:30:00.000Z");
        assert_eq!(rfc("20261124190000+0800"), "2026-11-24T11:00:00.000Z");
        assert_eq!(rfc("20261124190000 +08:00"), "2026-11-24T11:00:00.000Z");
        assert_eq!(rfc("20261124190000 +08"), "2026-11-24T11:00:00.000Z");
        assert_eq!(rfc("20261124190000 Z"), "2026-11-24T19:00:00.000Z");
        assert_eq!(rfc("20261124190000"), "2026-11-24T19:00:00.000Z");
        assert_eq!(rfc("202611241900"), "2026-11-24T19:00:00.000Z");
        assert_eq!(rfc("200006031633"), "2000-06-03T16:33:00.000Z");
        assert_eq!(rfc("20010829000500 BST"), "2001-08-28T23:05:00.000Z");
        assert_eq!(rfc("20260101"), "2026-01-01T00:00:00.000Z");
        assert_eq!(rfc("20260101000000 +0000"), "2026-01-01T00:00:00.000Z");
        assert_eq!(rfc("20240229120000 +1400"), "2024-02-28T22:00:00.000Z");
    }

    #[test]
    fn bad_times_are_errors() {
        for s in [
            "",
            "2026",
            "202611241900000",
            "20261324190000 +0800",
            "20260230190000",
            "20230229000000",
            "20261124250000",
            "20261124190000 +2500",
            "20261124190000 +08000",
            "20261124190000 CST",
            "20261124190000 XYZ",
            "2026112419000a",
        ] {
            assert!(parse_xmltv_time(s).is_err(), "{s:?} accepted");
        }
    }

    #[test]
    fn format_round_trips() {
        for s in [
            "20261124110000 +0000",
            "19991231235959 +0000",
            "19700101000000 +0000",
        ] {
            assert_eq!(format_xmltv_time(parse_xmltv_time(s).unwrap()), s);
        }
        assert_eq!(format_xmltv_time(UtcMs(-1)), "19691231235959 +0000");
    }
}
