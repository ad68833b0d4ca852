#![allow(dead_code)]

use std::fmt::Write;
use std::path::PathBuf;

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/xmltv")
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(name)).expect("fixture")
}

/// A generated guide: `channels` channels × `days` days of 30-minute programmes, local times at
/// +0800 starting 2026-11-24 00:00 local, Chinese titles and descriptions.
pub fn generated_guide(channels: usize, days: usize) -> String {
    let mut s = String::with_capacity(channels * days * 48 * 420);
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE tv SYSTEM \"xmltv.dtd\">\n");
    s.push_str("<tv generator-info-name=\"atoll-test\">\n");
    for c in 0..channels {
        let _ = writeln!(
            s,
            "  <channel id=\"ch{c}.cn\">\n    <display-name lang=\"zh\">频道{c} 综合</display-name>\n    <icon src=\"http://logo.example/{c}.png\"/>\n  </channel>"
        );
    }
    for c in 0..channels {
        for d in 0..days {
            for h in 0..48 {
                let (y, m, day) = ymd(2026, 11, 24 + d as u32);
                let (sh, sm) = (h / 2, (h % 2) * 30);
                let (eh, em) = ((h + 1) / 2, ((h + 1) % 2) * 30);
                let start = format!("{y:04}{m:02}{day:02}{sh:02}{sm:02}00 +0800");
                let stop = if eh == 24 {
                    let (y2, m2, d2) = ymd(2026, 11, 25 + d as u32);
                    format!("{y2:04}{m2:02}{d2:02}000000 +0800")
                } else {
                    format!("{y:04}{m:02}{day:02}{eh:02}{em:02}00 +0800")
                };
                let _ = writeln!(
                    s,
                    "  <programme start=\"{start}\" stop=\"{stop}\" channel=\"ch{c}.cn\">\n    <title lang=\"zh\">新闻联播 第{d}天 {h}号 &amp; 天气预报</title>\n    <sub-title lang=\"zh\">第{h}集</sub-title>\n    <desc lang=\"zh\">今天的主要内容：国内外重要新闻、经济、体育。&#x4E2D;&#25991; &lt;直播&gt;</desc>\n    <category lang=\"zh\">新闻</category>\n    <icon src=\"http://img.example/p{h}.jpg\"/>\n    <episode-num system=\"xmltv_ns\">0.{h}.</episode-num>\n  </programme>"
                );
            }
        }
    }
    s.push_str("</tv>\n");
    s
}

/// Calendar day `day` of a month may overflow: normalise (enough for 2026-11/12).
fn ymd(y: i64, m: u32, day: u32) -> (i64, u32, u32) {
    let days = media::time::days_from_civil(y, m, 1) + i64::from(day) - 1;
    media::time::civil_from_days(days)
}

pub fn strip_lines(mut v: Vec<epg::Programme>) -> Vec<epg::Programme> {
    for p in &mut v {
        p.line = 0;
    }
    v
}
