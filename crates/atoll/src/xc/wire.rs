//! The Xtream Codes API's conventions, pure (times and values in, text out): the one time zone
//! every time string uses, the start times apps put in timeshift URLs, and the stable numbers
//! apps need where Atoll has names (channel groups, series).

use media::time::{civil_from_days, days_from_civil};

/// The zone of every XC time string: EPG `start`/`end`, `time_now`, and the timeshift start
/// apps copy from the EPG strings into their URLs. A fixed offset from UTC (`xc_timezone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Zone {
    pub offset_s: i64,
}

impl Zone {
    /// `UTC`, `+08:00`, `-05:30`, `+8` (at most ±14:00).
    pub fn parse(s: &str) -> Result<Zone, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("z") {
            return Ok(Zone::default());
        }
        let bad = || format!("'{s}' is not UTC or an offset like +08:00");
        let (sign, rest) = match t.as_bytes().first() {
            Some(b'+') => (1, &t[1..]),
            Some(b'-') => (-1, &t[1..]),
            _ => return Err(bad()),
        };
        let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
        let digits =
            |x: &str| !x.is_empty() && x.len() <= 2 && x.bytes().all(|b| b.is_ascii_digit());
        if !digits(h) || !digits(m) {
            return Err(bad());
        }
        let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if m >= 60 || h * 60 + m > 14 * 60 {
            return Err(bad());
        }
        Ok(Zone {
            offset_s: sign * (h * 3600 + m * 60),
        })
    }

    /// The name apps are told (`server_info.timezone`): `UTC`, an IANA `Etc/GMT-8` for whole
    /// hours (the sign is reversed in those names), else `+05:30`.
    pub fn name(&self) -> String {
        let o = self.offset_s;
        if o == 0 {
            "UTC".into()
        } else if o % 3600 == 0 {
            format!("Etc/GMT{:+}", -o / 3600)
        } else {
            let a = o.abs();
            format!(
                "{}{:02}:{:02}",
                if o < 0 { '-' } else { '+' },
                a / 3600,
                a % 3600 / 60
            )
        }
    }

    /// `YYYY-MM-DD HH:MM:SS` of a unix time, in this zone.
    pub fn datetime(&self, unix_s: i64) -> String {
        let (y, mo, d, h, mi, s) = self.fields(unix_s);
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
    }

    fn fields(&self, unix_s: i64) -> (i64, u32, u32, i64, i64, i64) {
        let local = unix_s + self.offset_s;
        let (days, sod) = (local.div_euclid(86_400), local.rem_euclid(86_400));
        let (y, mo, d) = civil_from_days(days);
        (y, mo, d, sod / 3600, sod % 3600 / 60, sod % 60)
    }

    /// Unix seconds of a wall-clock time in this zone (None for an impossible date).
    pub fn unix(&self, y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
        if !(1970..=2200).contains(&y)
            || !(1..=12).contains(&mo)
            || !(1..=31).contains(&d)
            || h > 23
            || mi > 59
            || s > 59
        {
            return None;
        }
        let days = days_from_civil(y, mo, d);
        // 31 February is not a date: it must come back as itself
        if civil_from_days(days) != (y, mo, d) {
            return None;
        }
        Some(days * 86_400 + (h * 3600 + mi * 60 + s) as i64 - self.offset_s)
    }

    /// The first second after the day `YYYY-MM-DD` in this zone (an account expiring that day
    /// may watch until then).
    pub fn end_of_day(&self, date: &str) -> Option<i64> {
        let (y, mo, d) = parse_date(date)?;
        Some(self.unix(y, mo, d, 0, 0, 0)? + 86_400)
    }

    /// A timeshift start as apps write it: `YYYY-MM-DD:HH-MM[-SS]`, `YYYY-MM-DD_HH-MM[-SS]`,
    /// `YYYY-MM-DD HH:MM[:SS]`, or unix seconds; wall-clock forms are in this zone.
    pub fn parse_start(&self, s: &str) -> Result<i64, String> {
        let t = s.trim();
        let bad =
            || format!("start '{s}' is not YYYY-MM-DD:HH-MM, YYYY-MM-DD_HH-MM or unix seconds");
        if !t.is_empty() && t.len() <= 12 && t.bytes().all(|b| b.is_ascii_digit()) {
            let v: i64 = t.parse().map_err(|_| bad())?;
            return (1..4_102_444_800).contains(&v).then_some(v).ok_or_else(bad);
        }
        if t.len() < 16 || !t.is_char_boundary(10) {
            return Err(bad());
        }
        let (date, time) = (&t[..10], &t[11..]);
        if !matches!(t.as_bytes()[10], b':' | b'_' | b' ' | b'T') {
            return Err(bad());
        }
        let (y, mo, d) = parse_date(date).ok_or_else(bad)?;
        let parts: Vec<&str> = time.split(['-', ':']).collect();
        let num = |x: &str| -> Option<u32> {
            (x.len() == 2 && x.bytes().all(|b| b.is_ascii_digit()))
                .then(|| x.parse().ok())
                .flatten()
        };
        let (h, mi, sec) = match parts.as_slice() {
            [h, m] => (num(h), num(m), Some(0)),
            [h, m, s] => (num(h), num(m), num(s)),
            _ => return Err(bad()),
        };
        let (Some(h), Some(mi), Some(sec)) = (h, mi, sec) else {
            return Err(bad());
        };
        self.unix(y, mo, d, h, mi, sec).ok_or_else(bad)
    }
}

/// `YYYY-MM-DD` → (year, month, day), checked to be a real date.
pub fn parse_date(s: &str) -> Option<(i64, u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        s.get(r.clone())
            .filter(|x| x.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|x| x.parse().ok())
    };
    let (y, mo, d) = (digits(0..4)? as i64, digits(5..7)?, digits(8..10)?);
    if !(1970..=2200).contains(&y) || !(1..=12).contains(&mo) || d == 0 {
        return None;
    }
    (civil_from_days(days_from_civil(y, mo, d)) == (y, mo, d)).then_some((y, mo, d))
}

/// A stable number for a name (a channel group, a series), as apps need numeric ids where
/// Atoll has names: FNV-1a, kept to 1..10^9 so every app parses it (`int()`, `Number`).
pub fn name_id(kind: &str, name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in kind.bytes().chain([0]).chain(name.bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % 999_999_999) as i64 + 1
}

/// `H:MM:SS` of a duration, as `duration` fields carry it.
pub fn hms(secs: i64) -> String {
    let s = secs.max(0);
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

/// Usernames apps can carry in a URL path and a query: `A-Z a-z 0-9 . _ - @`, 1..64, and not a
/// word the server's own paths start with (`/live/…`, `/movie/…`: the short stream URL
/// `/{user}/{password}/{id}` would be taken for them).
pub fn valid_username(u: &str) -> Result<(), &'static str> {
    if u.is_empty() || u.len() > 64 {
        return Err("must be 1 to 64 characters");
    }
    if !u
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".-_@".contains(&b))
    {
        return Err("may hold only letters, digits and . _ - @ (apps cut names at ':')");
    }
    if RESERVED.contains(&u.to_ascii_lowercase().as_str()) || u == "." || u == ".." {
        return Err("is a word the server's own URLs use; choose another");
    }
    Ok(())
}

const RESERVED: &[&str] = &[
    "live",
    "movie",
    "series",
    "timeshift",
    "streaming",
    "vod",
    "api",
    "assets",
    "admin",
    "healthz",
    "metrics",
    "import",
    "export",
];

/// A password as apps send it: 1..128 characters, no control characters, no `/` (it is a path
/// segment in stream URLs).
pub fn valid_password(p: &str) -> Result<(), &'static str> {
    if p.is_empty() || p.chars().count() > 128 {
        return Err("must be 1 to 128 characters");
    }
    if p.chars().any(|c| c.is_control() || c == '/') {
        return Err("may not hold '/' or control characters (it is part of stream URLs)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_parse_and_name() {
        assert_eq!(Zone::parse("UTC").unwrap().offset_s, 0);
        assert_eq!(Zone::parse("+08:00").unwrap().offset_s, 8 * 3600);
        assert_eq!(Zone::parse("-05:30").unwrap().offset_s, -(5 * 3600 + 1800));
        assert_eq!(Zone::parse("+8").unwrap().offset_s, 8 * 3600);
        for bad in ["", "8", "+15:00", "+08:60", "Asia/Shanghai", "+0a:00"] {
            assert!(Zone::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Zone::parse("+08:00").unwrap().name(), "Etc/GMT-8");
        assert_eq!(Zone::parse("-05:30").unwrap().name(), "-05:30");
        assert_eq!(Zone::default().name(), "UTC");
    }

    #[test]
    fn datetime_and_start_round_trip_in_a_zone() {
        let z = Zone::parse("+08:00").unwrap();
        // 2026-12-02 00:30:00 UTC = 08:30 in +08:00
        let t = 1_796_171_400;
        assert_eq!(Zone::default().datetime(t), "2026-12-02 00:30:00");
        assert_eq!(z.datetime(t), "2026-12-02 08:30:00");
        for s in [
            "2026-12-02:08-30",
            "2026-12-02_08-30",
            "2026-12-02:08-30-00",
            "2026-12-02 08:30:00",
            "2026-12-02 08:30",
        ] {
            assert_eq!(z.parse_start(s), Ok(t), "{s}");
        }
        assert_eq!(z.parse_start("1796171400"), Ok(t));
        // the EPG string an app copies back gives the same instant
        let epg = z.datetime(t);
        let url = format!("{}:{}", &epg[..10], epg[11..16].replace(':', "-"));
        assert_eq!(z.parse_start(&url), Ok(t));
    }

    #[test]
    fn bad_starts_are_refused_with_the_reason() {
        let z = Zone::default();
        for s in [
            "",
            "2026-02-30:10-00",
            "2026-12-02:25-00",
            "2026-12-02",
            "2026-12-02:1-00",
            "yesterday",
            "2026-12-02x10-00",
            "0",
            "99999999999",
            "2026-12-02:10-00-00-00",
            "２026-12-02:10-00",
        ] {
            let e = z.parse_start(s).unwrap_err();
            assert!(e.contains("is not"), "{s}: {e}");
        }
    }

    #[test]
    fn end_of_day_is_midnight_after_in_the_zone() {
        let z = Zone::parse("+08:00").unwrap();
        let end = z.end_of_day("2026-12-31").unwrap();
        assert_eq!(z.datetime(end), "2027-01-01 00:00:00");
        assert!(z.end_of_day("2026-13-01").is_none());
        assert!(parse_date("2028-02-29").is_some());
        assert!(parse_date("2027-02-29").is_none());
    }

    #[test]
    fn name_ids_are_stable_positive_and_distinct() {
        assert_eq!(name_id("group", "News"), name_id("group", "News"));
        assert_ne!(name_id("group", "News"), name_id("series", "News"));
        let ids: std::collections::HashSet<i64> = (0..10_000)
            .map(|i| name_id("g", &format!("group {i}")))
            .collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|i| (1..=999_999_999).contains(i)));
    }

    #[test]
    fn usernames_and_passwords() {
        for ok in ["cabin12", "deck.3_a-b@ship", "A"] {
            assert!(valid_username(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a:b",
            "a b",
            "live",
            "Movie",
            "x/y",
            "..",
            &"a".repeat(65),
            "é",
        ] {
            assert!(valid_username(bad).is_err(), "{bad}");
        }
        assert!(valid_password("s3cret!").is_ok());
        assert!(valid_password("a/b").is_err());
        assert!(valid_password("").is_err());
        assert!(valid_password("a\nb").is_err());
    }

    #[test]
    fn hms_formats() {
        assert_eq!(hms(5400), "01:30:00");
        assert_eq!(hms(59), "00:00:59");
    }
}
