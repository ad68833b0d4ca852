//! File names and directories of the on-disk layout (docs/archive.md):
//! `{root}/{channel}/{YYYYMMDD}/{HH}/{start_utc_ms}_{duration_ms}[_d].ts`, UTC.

use std::path::PathBuf;

use media::time::civil_from_days;

pub(crate) const MS_PER_HOUR: i64 = 3_600_000;
const MS_PER_DAY: i64 = 86_400_000;

/// Per-channel directory for files being written (`{channel}/.tmp`).
pub(crate) const TMP_DIR: &str = ".tmp";
/// Root directory a deleted channel is moved to before its files are removed.
pub(crate) const TRASH_DIR: &str = ".trash";
pub(crate) const TMP_SUFFIX: &str = ".tmp";

/// Channel ids as in the configuration database: `[a-z0-9_-]{1,64}`. They are directory names,
/// so nothing else may pass (no `.`, `/`, or upper case that would collide on other file systems).
pub fn valid_channel(channel: &str) -> bool {
    (1..=64).contains(&channel.len())
        && channel
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Duration in whole milliseconds as written in the file name (at least 1). Re-indexing a file
/// gives `duration_ms * 90` ticks, which maps back to the same name.
pub(crate) fn duration_ms(duration_90k: i64) -> i64 {
    ((duration_90k + 45) / 90).max(1)
}

pub(crate) fn file_name(start_utc_ms: i64, duration_90k: i64, discontinuity: bool) -> String {
    format!(
        "{start_utc_ms}_{}{}.ts",
        duration_ms(duration_90k),
        if discontinuity { "_d" } else { "" }
    )
}

/// `{YYYYMMDD}/{HH}` of a start time.
pub(crate) fn hour_dir(start_utc_ms: i64) -> String {
    let days = start_utc_ms.div_euclid(MS_PER_DAY);
    let hour = start_utc_ms.rem_euclid(MS_PER_DAY) / MS_PER_HOUR;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}/{hour:02}")
}

/// Path relative to the root.
pub(crate) fn rel_path(
    channel: &str,
    start_utc_ms: i64,
    duration_90k: i64,
    discontinuity: bool,
) -> PathBuf {
    let mut p = PathBuf::from(channel);
    p.push(hour_dir(start_utc_ms));
    p.push(file_name(start_utc_ms, duration_90k, discontinuity));
    p
}

/// Parses a segment file name into (start_utc_ms, duration_90k, discontinuity).
pub(crate) fn parse_file_name(name: &str) -> Option<(i64, i64, bool)> {
    let stem = name.strip_suffix(".ts")?;
    let (stem, disc) = match stem.strip_suffix("_d") {
        Some(s) => (s, true),
        None => (stem, false),
    };
    let (start, dur) = stem.split_once('_')?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(start) || !digits(dur) {
        return None;
    }
    let start: i64 = start.parse().ok()?;
    let dur_ms: i64 = dur.parse().ok()?;
    if !(1..=i64::MAX / 90).contains(&dur_ms) {
        return None;
    }
    Some((start, dur_ms * 90, disc))
}

/// Start of the hour a `{YYYYMMDD}` + `{HH}` directory pair covers.
pub(crate) fn parse_hour_dir(day: &str, hour: &str) -> Option<i64> {
    if day.len() != 8
        || hour.len() != 2
        || !day.bytes().chain(hour.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let y: i64 = day[..4].parse().ok()?;
    let m: u32 = day[4..6].parse().ok()?;
    let d: u32 = day[6..].parse().ok()?;
    let h: i64 = hour.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 {
        return None;
    }
    Some(media::time::days_from_civil(y, m, d) * MS_PER_DAY + h * MS_PER_HOUR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        // 2024-03-05 13:59:59.999 UTC
        let t = 1_709_647_199_999;
        assert_eq!(hour_dir(t), "20240305/13");
        assert_eq!(parse_hour_dir("20240305", "13"), Some(t - t % MS_PER_HOUR));
        let p = rel_path("news", t, 540_000, true);
        assert_eq!(p, PathBuf::from("news/20240305/13/1709647199999_6000_d.ts"));
        assert_eq!(
            parse_file_name("1709647199999_6000_d.ts"),
            Some((t, 540_000, true))
        );
        assert_eq!(
            parse_file_name("1709647199999_6000.ts"),
            Some((t, 540_000, false))
        );
        // 29.97 fps: 3003-tick frames do not fall on whole ms; the name rounds, and a re-indexed
        // duration maps back to the same name.
        let d = 180 * 3003;
        let (_, back, _) = parse_file_name(&file_name(t, d, false)).unwrap();
        assert_eq!(file_name(t, back, false), file_name(t, d, false));
        assert_eq!(duration_ms(1), 1);
        for bad in [
            "x.ts",
            "1_2.ts.tmp",
            "_1.ts",
            "1_.ts",
            "1_0.ts",
            "-1_5.ts",
            "1_2_x.ts",
            "1_2",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
        assert!(valid_channel("news-24_hd"));
        for bad in ["", ".tmp", "News", "a/b", "..", &"a".repeat(65)] {
            assert!(!valid_channel(bad), "{bad}");
        }
    }
}
