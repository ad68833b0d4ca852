//! HLS for a stored film, cut on the fly (sans-IO): where the segments of a title begin and end,
//! which samples of each track go in which segment, and the master and media playlists.
//!
//! Cuts are made at video keyframes once a segment reaches the target duration, so every
//! segment starts on a keyframe (seeking anywhere starts at the keyframe before it). Audio and
//! subtitle renditions are cut at the same presentation times as the video, so every rendition
//! has the same segments (RFC 8216 6.2.4, "the same number of segments, aligned"), and a video
//! segment is never empty: a segment holds at least its keyframe.

use std::fmt::Write;
use std::ops::Range;

/// One segment of the title: presentation times (90 kHz, on the title's timeline) and the video
/// samples it holds (decode-order indices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub start_90k: i64,
    pub end_90k: i64,
    pub video: Range<usize>,
}

impl Cut {
    pub fn duration_90k(&self) -> i64 {
        self.end_90k - self.start_90k
    }
}

/// A video sample as the planner needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoSample {
    pub pts_90k: i64,
    pub keyframe: bool,
}

/// Cuts a video track (samples in decode order) into segments of about `target_90k`, each
/// starting at a keyframe; the last ends at `end_90k` (the end of the longest track). Samples
/// before the first keyframe are left out (they cannot be decoded). Empty when there is no
/// keyframe.
pub fn plan(video: &[VideoSample], end_90k: i64, target_90k: i64) -> Vec<Cut> {
    let target_90k = target_90k.max(1);
    let mut cuts: Vec<Cut> = Vec::new();
    let Some(first) = video.iter().position(|s| s.keyframe) else {
        return cuts;
    };
    let mut start_idx = first;
    let mut start_pts = video[first].pts_90k;
    for (i, s) in video.iter().enumerate().skip(first + 1) {
        if s.keyframe && s.pts_90k - start_pts >= target_90k {
            cuts.push(Cut {
                start_90k: start_pts,
                end_90k: s.pts_90k,
                video: start_idx..i,
            });
            start_idx = i;
            start_pts = s.pts_90k;
        }
    }
    let last_end = video
        .iter()
        .map(|s| s.pts_90k)
        .max()
        .unwrap_or(start_pts)
        .max(end_90k)
        .max(start_pts + 1);
    cuts.push(Cut {
        start_90k: start_pts,
        end_90k: last_end,
        video: start_idx..video.len(),
    });
    // the first segment covers the title from its start (audio before the first keyframe)
    if let Some(c) = cuts.first_mut() {
        c.start_90k = c.start_90k.min(0);
    }
    cuts
}

/// The samples of another track (presentation times in decode order, rising) that go in each
/// cut: those presented from the cut's start to the next cut's start; the first cut takes
/// everything before it and the last everything after.
pub fn assign(times_90k: &[i64], cuts: &[Cut]) -> Vec<Range<usize>> {
    let mut out = Vec::with_capacity(cuts.len());
    let mut from = 0;
    for (k, _) in cuts.iter().enumerate() {
        let to = match cuts.get(k + 1) {
            Some(next) => from + times_90k[from..].partition_point(|&t| t < next.start_90k),
            None => times_90k.len(),
        };
        out.push(from..to);
        from = to;
    }
    out
}

/// The media playlist of one rendition: `{prefix}{k}{ext}` for every cut; with `init` (fragmented
/// MP4 segments) an `EXT-X-MAP` names the initialisation segment (version 7).
pub fn media_playlist(cuts: &[Cut], prefix: &str, ext: &str, init: Option<&str>) -> String {
    let target = cuts
        .iter()
        .map(|c| (c.duration_90k() + 89_999) / 90_000)
        .max()
        .unwrap_or(1)
        .max(1);
    let mut s = String::with_capacity(160 + cuts.len() * 32);
    let _ = writeln!(
        s,
        "#EXTM3U\n#EXT-X-VERSION:{}",
        if init.is_some() { 7 } else { 3 }
    );
    let _ = writeln!(s, "#EXT-X-TARGETDURATION:{target}");
    s.push_str("#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    if let Some(uri) = init {
        let _ = writeln!(s, "#EXT-X-MAP:URI=\"{uri}\"");
    }
    for (k, c) in cuts.iter().enumerate() {
        let _ = writeln!(s, "#EXTINF:{:.3},", c.duration_90k() as f64 / 90_000.0);
        let _ = writeln!(s, "{prefix}{k}{ext}");
    }
    s.push_str("#EXT-X-ENDLIST\n");
    s
}

/// A subtitle playlist: one WebVTT file for the whole title.
pub fn subtitle_playlist(duration_90k: i64, uri: &str) -> String {
    let secs = (duration_90k.max(1) + 89_999) / 90_000;
    format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{secs}\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:{:.3},\n{uri}\n#EXT-X-ENDLIST\n",
        duration_90k as f64 / 90_000.0
    )
}

/// An alternative rendition (`EXT-X-MEDIA`).
#[derive(Debug, Clone)]
pub struct Rendition {
    pub name: String,
    /// BCP 47 / ISO 639 code, if known.
    pub language: Option<String>,
    pub default: bool,
    /// Audio channels (`CHANNELS`), 0 = unknown.
    pub channels: u16,
    /// Audio description (`CHARACTERISTICS="public.accessibility.describes-video"`).
    pub describes_video: bool,
    pub uri: String,
}

/// The master playlist: the video variant, its audio renditions and its subtitle renditions.
pub struct Master<'a> {
    pub bandwidth: u64,
    pub codecs: &'a str,
    pub width: u32,
    pub height: u32,
    pub video_uri: &'a str,
    pub audio: &'a [Rendition],
    pub subtitles: &'a [Rendition],
}

fn quoted(s: &str) -> String {
    // attribute strings cannot hold quotes or line breaks
    s.chars()
        .filter(|c| *c != '"' && *c != '\n' && *c != '\r')
        .collect()
}

pub fn master_playlist(m: &Master) -> String {
    let mut s = String::from("#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let media = |s: &mut String, kind: &str, group: &str, r: &Rendition| {
        let _ = write!(
            s,
            "#EXT-X-MEDIA:TYPE={kind},GROUP-ID=\"{group}\",NAME=\"{}\"",
            quoted(&r.name)
        );
        if let Some(l) = &r.language {
            let _ = write!(s, ",LANGUAGE=\"{}\"", quoted(l));
        }
        let d = if r.default { "YES" } else { "NO" };
        let _ = write!(s, ",DEFAULT={d},AUTOSELECT=YES");
        if kind == "AUDIO" && r.channels > 0 {
            let _ = write!(s, ",CHANNELS=\"{}\"", r.channels);
        }
        if kind == "AUDIO" && r.describes_video {
            s.push_str(",CHARACTERISTICS=\"public.accessibility.describes-video\"");
        }
        if kind == "SUBTITLES" {
            s.push_str(",FORCED=NO");
        }
        let _ = writeln!(s, ",URI=\"{}\"", quoted(&r.uri));
    };
    for r in m.audio {
        media(&mut s, "AUDIO", "audio", r);
    }
    for r in m.subtitles {
        media(&mut s, "SUBTITLES", "subs", r);
    }
    let _ = write!(s, "#EXT-X-STREAM-INF:BANDWIDTH={}", m.bandwidth.max(1));
    if !m.codecs.is_empty() {
        let _ = write!(s, ",CODECS=\"{}\"", quoted(m.codecs));
    }
    if m.width > 0 && m.height > 0 {
        let _ = write!(s, ",RESOLUTION={}x{}", m.width, m.height);
    }
    if !m.audio.is_empty() {
        s.push_str(",AUDIO=\"audio\"");
    }
    if !m.subtitles.is_empty() {
        s.push_str(",SUBTITLES=\"subs\"");
    }
    let _ = writeln!(s, "\n{}", m.video_uri);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gop(n: usize, every: usize, frame_90k: i64) -> Vec<VideoSample> {
        (0..n)
            .map(|i| VideoSample {
                pts_90k: i as i64 * frame_90k,
                keyframe: i % every == 0,
            })
            .collect()
    }

    #[test]
    fn cuts_at_keyframes_past_the_target() {
        // 25 fps, a keyframe every 2 s, 10 s: target 6 s → cuts at 6 s (keyframe at 6 s) and the rest
        let v = gop(250, 50, 3600);
        let cuts = plan(&v, 250 * 3600, 6 * 90_000);
        assert_eq!(cuts.len(), 2);
        assert_eq!(cuts[0].video, 0..150);
        assert_eq!((cuts[0].start_90k, cuts[0].end_90k), (0, 540_000));
        assert_eq!(cuts[1].video, 150..250);
        assert_eq!(cuts[1].end_90k, 900_000);
        let p = media_playlist(&cuts, "v/", ".ts", None);
        assert!(p.contains("#EXTINF:6.000,\nv/0.ts\n#EXTINF:4.000,\nv/1.ts\n#EXT-X-ENDLIST"));
        assert!(p.contains("#EXT-X-TARGETDURATION:6\n") && p.contains("#EXT-X-VERSION:3\n"));
        let f = media_playlist(&cuts, "v/", ".m4s", Some("v/init.mp4"));
        assert!(
            f.contains("#EXT-X-VERSION:7\n")
                && f.contains("#EXT-X-MAP:URI=\"v/init.mp4\"\n#EXTINF:6.000,\nv/0.m4s\n")
        );
    }

    #[test]
    fn leading_non_keyframes_are_left_out_and_no_keyframe_gives_nothing() {
        let mut v = gop(100, 50, 3600);
        v[0].keyframe = false;
        let cuts = plan(&v, 0, 90_000);
        assert_eq!(cuts[0].video.start, 50);
        assert_eq!(cuts[0].start_90k, 0, "the first cut starts the title");
        assert!(plan(&gop(10, 1000, 3600)[1..], 0, 90_000).is_empty());
    }

    #[test]
    fn audio_follows_the_video_cuts() {
        let v = gop(250, 50, 3600);
        let cuts = plan(&v, 0, 4 * 90_000);
        let audio: Vec<i64> = (0..470).map(|i| i * 1920 - 500).collect();
        let parts = assign(&audio, &cuts);
        assert_eq!(parts.len(), cuts.len());
        assert_eq!(parts[0].start, 0);
        assert_eq!(parts.last().unwrap().end, audio.len());
        for (k, r) in parts.iter().enumerate() {
            if k > 0 {
                assert!(audio[r.start] >= cuts[k].start_90k);
                assert!(audio[r.start - 1] < cuts[k].start_90k);
            }
        }
    }

    #[test]
    fn master_lists_renditions() {
        let a = [
            Rendition {
                name: "English".into(),
                language: Some("eng".into()),
                default: true,
                channels: 2,
                describes_video: false,
                uri: "a0.m3u8".into(),
            },
            Rendition {
                name: "Fran\"çais".into(),
                language: Some("fra".into()),
                default: false,
                channels: 6,
                describes_video: false,
                uri: "a1.m3u8".into(),
            },
        ];
        let s = [Rendition {
            name: "中文".into(),
            language: Some("zh".into()),
            default: false,
            channels: 0,
            describes_video: false,
            uri: "s0.m3u8".into(),
        }];
        let m = master_playlist(&Master {
            bandwidth: 2_000_000,
            codecs: "avc1.64001f,mp4a.40.2",
            width: 1280,
            height: 720,
            video_uri: "v.m3u8",
            audio: &a,
            subtitles: &s,
        });
        assert!(m.contains("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"English\",LANGUAGE=\"eng\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"a0.m3u8\"\n"));
        assert!(m.contains("NAME=\"Français\""));
        assert!(m.contains("#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"中文\",LANGUAGE=\"zh\",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI=\"s0.m3u8\""));
        assert!(m.ends_with("#EXT-X-STREAM-INF:BANDWIDTH=2000000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,AUDIO=\"audio\",SUBTITLES=\"subs\"\nv.m3u8\n"));
    }

    proptest! {
        #[test]
        fn every_sample_after_the_first_keyframe_is_in_exactly_one_cut(
            keys in proptest::collection::vec(any::<bool>(), 1..400),
            target in 1i64..500_000,
        ) {
            let v: Vec<VideoSample> = keys.iter().enumerate()
                .map(|(i, k)| VideoSample { pts_90k: i as i64 * 3000, keyframe: *k }).collect();
            let cuts = plan(&v, 0, target);
            match v.iter().position(|s| s.keyframe) {
                None => prop_assert!(cuts.is_empty()),
                Some(first) => {
                    prop_assert_eq!(cuts[0].video.start, first);
                    prop_assert_eq!(cuts.last().unwrap().video.end, v.len());
                    for w in cuts.windows(2) {
                        prop_assert_eq!(w[0].video.end, w[1].video.start);
                        prop_assert_eq!(w[0].end_90k, w[1].start_90k);
                    }
                    for c in &cuts {
                        prop_assert!(v[c.video.start].keyframe, "starts on a keyframe");
                        prop_assert!(!c.video.is_empty(), "never an empty video segment");
                        prop_assert!(c.end_90k > c.start_90k);
                    }
                    let times: Vec<i64> = (0..300).map(|i| i * 1500 - 700).collect();
                    let parts = assign(&times, &cuts);
                    prop_assert_eq!(parts.iter().map(|r| r.len()).sum::<usize>(), times.len());
                }
            }
        }
    }
}
