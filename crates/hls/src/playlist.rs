//! Media playlist rendering (RFC 8216). Rendered once per change by the caller, never per request.

use std::fmt::Write;

use media::UtcMs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaylistKind {
    /// Sliding window: no PLAYLIST-TYPE, no ENDLIST.
    Live,
    /// Growing playlist from a fixed start (start-over, timeshift): `#EXT-X-PLAYLIST-TYPE:EVENT`.
    Event,
    /// Complete (catch-up range, VOD): `#EXT-X-PLAYLIST-TYPE:VOD` + `#EXT-X-ENDLIST`.
    Vod,
}

#[derive(Debug, Clone)]
pub struct PlaylistSegment {
    pub uri: String,
    pub duration_90k: i64,
    pub start_utc: UtcMs,
    pub discontinuity: bool,
}

/// `#EXT-X-TARGETDURATION` for a set of segments: the longest EXTINF rounded to the nearest
/// integer (RFC 8216 4.3.3.1), and never less than `min_s`.
pub fn target_duration_s(segments: &[PlaylistSegment], min_s: u64) -> u64 {
    segments
        .iter()
        .map(|s| ((s.duration_90k + 45_000) / 90_000) as u64)
        .max()
        .unwrap_or(0)
        .max(min_s)
}

/// Renders a media playlist. `media_sequence` is the sequence number of `segments[0]`;
/// `discontinuity_sequence` counts the discontinuities that slid out before it.
/// `start_offset_s` writes `#EXT-X-START:TIME-OFFSET=…,PRECISE=YES`.
pub fn render_media_playlist(
    kind: PlaylistKind,
    target_s: u64,
    media_sequence: u64,
    discontinuity_sequence: u64,
    segments: &[PlaylistSegment],
    start_offset_s: Option<f64>,
) -> String {
    let mut s = String::with_capacity(128 + segments.len() * 110);
    s.push_str("#EXTM3U\n#EXT-X-VERSION:3\n");
    let _ = writeln!(s, "#EXT-X-TARGETDURATION:{target_s}");
    let _ = writeln!(s, "#EXT-X-MEDIA-SEQUENCE:{media_sequence}");
    if discontinuity_sequence > 0 {
        let _ = writeln!(s, "#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}");
    }
    match kind {
        PlaylistKind::Live => {}
        PlaylistKind::Event => s.push_str("#EXT-X-PLAYLIST-TYPE:EVENT\n"),
        PlaylistKind::Vod => s.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n"),
    }
    if let Some(off) = start_offset_s {
        let _ = writeln!(s, "#EXT-X-START:TIME-OFFSET={off:.3},PRECISE=YES");
    }
    for seg in segments {
        if seg.discontinuity {
            s.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let _ = writeln!(s, "#EXT-X-PROGRAM-DATE-TIME:{}", seg.start_utc.to_rfc3339());
        let _ = writeln!(s, "#EXTINF:{:.3},", seg.duration_90k as f64 / 90_000.0);
        s.push_str(&seg.uri);
        s.push('\n');
    }
    if kind == PlaylistKind::Vod {
        s.push_str("#EXT-X-ENDLIST\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_playlist() {
        let segs: Vec<_> = (0..3)
            .map(|k| PlaylistSegment {
                uri: format!("{}.ts", 10 + k),
                duration_90k: 540_000 + k * 9000,
                start_utc: UtcMs(1_795_000_000_000 + k * 6000),
                discontinuity: k == 2,
            })
            .collect();
        let t = target_duration_s(&segs, 6);
        assert_eq!(t, 6);
        let p = render_media_playlist(PlaylistKind::Live, t, 10, 0, &segs, None);
        assert_eq!(
            p,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:10\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-18T11:06:40.000Z\n#EXTINF:6.000,\n10.ts\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-18T11:06:46.000Z\n#EXTINF:6.100,\n11.ts\n\
             #EXT-X-DISCONTINUITY\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-18T11:06:52.000Z\n#EXTINF:6.200,\n12.ts\n"
        );
        let v = render_media_playlist(PlaylistKind::Vod, 7, 0, 2, &segs, Some(12.5));
        assert!(v.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"));
        assert!(v.contains("#EXT-X-DISCONTINUITY-SEQUENCE:2\n"));
        assert!(v.contains("#EXT-X-START:TIME-OFFSET=12.500,PRECISE=YES\n"));
        assert!(v.ends_with("#EXT-X-ENDLIST\n"));
    }
}
