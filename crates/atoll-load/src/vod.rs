//! The pure parts of VOD mode: a multivariant (master) playlist reduced to what a player picks
//! from it — the first video variant and the default audio rendition — and a small seeded
//! random number generator (titles and start positions, reproducible with `--seed`).

/// What a player plays from a master playlist: URIs as written (relative to the master).
#[derive(Debug, Default, PartialEq)]
pub struct Master {
    pub video: String,
    /// The audio rendition's media playlist, when the audio is not in the video variant.
    pub audio: Option<String>,
}

/// The attribute list of a tag (`NAME=value,NAME="quoted, with commas"`), quotes removed.
pub fn attributes(list: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = list.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().to_string();
        rest = &rest[eq + 1..];
        let value;
        if let Some(q) = rest.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            value = q[..end].to_string();
            rest = q.get(end + 1..).unwrap_or("");
            rest = rest.split_once(',').map_or("", |(_, r)| r);
        } else {
            let (v, r) = rest.split_once(',').unwrap_or((rest, ""));
            value = v.trim().to_string();
            rest = r;
        }
        out.push((name, value));
        rest = rest.trim_start();
    }
    out
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A variant whose CODECS lists only audio codecs (an audio-only variant).
fn audio_only(codecs: &str) -> bool {
    let audio = |c: &str| {
        let c = c.trim().to_ascii_lowercase();
        ["mp4a", "ac-3", "ec-3", "opus", "flac", "mp3", "alac"]
            .iter()
            .any(|p| c.starts_with(p))
    };
    !codecs.trim().is_empty() && codecs.split(',').all(audio)
}

/// `Ok(None)` when `text` is a media playlist, `Ok(Some(_))` for a master playlist: the first
/// video variant (`EXT-X-STREAM-INF` and the URI line after it; audio-only variants are passed
/// over when there is another) and the audio rendition a player selects — the `DEFAULT=YES`
/// `EXT-X-MEDIA:TYPE=AUDIO` of the variant's `AUDIO` group, else any `DEFAULT=YES` one, else
/// the group's first; renditions without a URI (audio muxed in the variant) give none.
pub fn parse_master(text: &str) -> Result<Option<Master>, &'static str> {
    let mut lines = text.lines().map(str::trim);
    if lines.next().map(|l| l.trim_start_matches('\u{feff}')) != Some("#EXTM3U") {
        return Err("not an M3U8 playlist (no #EXTM3U)");
    }
    struct Variant {
        uri: String,
        audio_group: Option<String>,
        audio_only: bool,
    }
    struct Audio {
        group: String,
        default: bool,
        uri: Option<String>,
    }
    let mut variants: Vec<Variant> = Vec::new();
    let mut audios: Vec<Audio> = Vec::new();
    let mut pending: Option<Vec<(String, String)>> = None;
    let mut is_master = false;
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if let Some(list) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            is_master = true;
            pending = Some(attributes(list));
        } else if let Some(list) = line.strip_prefix("#EXT-X-MEDIA:") {
            is_master = true;
            let a = attributes(list);
            if attr(&a, "TYPE") == Some("AUDIO") {
                audios.push(Audio {
                    group: attr(&a, "GROUP-ID").unwrap_or_default().to_string(),
                    default: attr(&a, "DEFAULT").is_some_and(|d| d.eq_ignore_ascii_case("YES")),
                    uri: attr(&a, "URI")
                        .filter(|u| !u.is_empty())
                        .map(str::to_string),
                });
            }
        } else if line.starts_with("#EXTINF:") {
            if is_master {
                return Err("EXTINF in a master playlist");
            }
            return Ok(None);
        } else if line.starts_with('#') {
            continue;
        } else if let Some(a) = pending.take() {
            variants.push(Variant {
                uri: line.to_string(),
                audio_group: attr(&a, "AUDIO").map(str::to_string),
                audio_only: attr(&a, "CODECS").is_some_and(audio_only),
            });
        }
    }
    if !is_master {
        return Ok(None);
    }
    let v = variants
        .iter()
        .find(|v| !v.audio_only)
        .or(variants.first())
        .ok_or("a master playlist without a variant")?;
    let in_group: Vec<&Audio> = audios
        .iter()
        .filter(|a| v.audio_group.as_deref().map_or(true, |g| g == a.group))
        .collect();
    let chosen = in_group
        .iter()
        .copied()
        .find(|a| a.default)
        .or_else(|| audios.iter().find(|a| a.default))
        .or(in_group.first().copied());
    Ok(Some(Master {
        video: v.uri.clone(),
        audio: chosen.and_then(|a| a.uri.clone()),
    }))
}

/// splitmix64: small, fast, and good enough to spread viewers over titles and positions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playlist::resolve;

    const ATOLL: &str = "#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-INDEPENDENT-SEGMENTS\n\
        #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"English, stereo\",LANGUAGE=\"en\",\
        DEFAULT=NO,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"a0.m3u8\"\n\
        #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"Français\",LANGUAGE=\"fr\",\
        DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"6\",URI=\"a1.m3u8\"\n\
        #EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"en\",DEFAULT=YES,AUTOSELECT=YES,\
        FORCED=NO,URI=\"s0.m3u8\"\n\
        #EXT-X-STREAM-INF:BANDWIDTH=2300000,CODECS=\"avc1.64001f,mp4a.40.2\",\
        RESOLUTION=1280x720,AUDIO=\"audio\",SUBTITLES=\"subs\"\nv.m3u8\n";

    #[test]
    fn attribute_lists_with_quoted_commas() {
        let a = attributes("TYPE=AUDIO,NAME=\"a, b\",DEFAULT=YES,URI=\"x/y.m3u8\"");
        assert_eq!(
            a,
            [
                ("TYPE", "AUDIO"),
                ("NAME", "a, b"),
                ("DEFAULT", "YES"),
                ("URI", "x/y.m3u8")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(attributes(""), vec![]);
        assert_eq!(
            attributes("BANDWIDTH=1"),
            vec![("BANDWIDTH".into(), "1".into())]
        );
    }

    #[test]
    fn atoll_master_picks_video_and_default_audio() {
        let m = parse_master(ATOLL).unwrap().unwrap();
        assert_eq!(m.video, "v.m3u8");
        assert_eq!(m.audio.as_deref(), Some("a1.m3u8"));
        assert_eq!(resolve("/vod/7/index.m3u8", &m.video), "/vod/7/v.m3u8");
        assert_eq!(
            resolve("/vod/7/index.m3u8", m.audio.as_deref().unwrap()),
            "/vod/7/a1.m3u8"
        );
        assert_eq!(resolve("/vod/7/a1.m3u8", "a1/12.ts"), "/vod/7/a1/12.ts");
    }

    #[test]
    fn ffmpeg_master_with_audio_group() {
        // what `ffmpeg -f hls -master_pl_name … -var_stream_map "v:0,agroup:aud a:0,agroup:aud,default:yes"` writes
        let text = "#EXTM3U\n#EXT-X-VERSION:3\n\
            #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"group_aud\",NAME=\"audio_0\",DEFAULT=YES,URI=\"1/index.m3u8\"\n\
            #EXT-X-STREAM-INF:BANDWIDTH=2340800,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\",AUDIO=\"group_aud\"\n\
            0/index.m3u8\n";
        let m = parse_master(text).unwrap().unwrap();
        assert_eq!(m.video, "0/index.m3u8");
        assert_eq!(m.audio.as_deref(), Some("1/index.m3u8"));
        let base = "/vod/t03/index.m3u8";
        assert_eq!(resolve(base, &m.video), "/vod/t03/0/index.m3u8");
        assert_eq!(
            resolve("/vod/t03/0/index.m3u8", "seg4.ts"),
            "/vod/t03/0/seg4.ts"
        );
        assert_eq!(
            resolve(base, "http://h:8080/x/1/index.m3u8"),
            "/x/1/index.m3u8"
        );
        assert_eq!(
            resolve(base, "../t04/0/index.m3u8"),
            "/vod/t04/0/index.m3u8"
        );
        assert_eq!(
            resolve(base, "./1/index.m3u8?t=a/b"),
            "/vod/t03/1/index.m3u8?t=a/b"
        );
        assert_eq!(
            resolve("/vod/t03/index.m3u8?token=x", "1/index.m3u8"),
            "/vod/t03/1/index.m3u8"
        );
    }

    #[test]
    fn audio_only_variants_and_groups() {
        // an audio-only variant first, two groups, no DEFAULT in the variant's group
        let text = "#EXTM3U\n\
            #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"lo\",NAME=\"x\",DEFAULT=YES,URI=\"lo.m3u8\"\n\
            #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"hi\",NAME=\"y\",DEFAULT=NO,URI=\"hi-en.m3u8\"\n\
            #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"hi\",NAME=\"z\",DEFAULT=YES,URI=\"hi-fr.m3u8\"\n\
            #EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS=\"mp4a.40.2\"\naudio.m3u8\n\
            #EXT-X-STREAM-INF:BANDWIDTH=3000000,CODECS=\"avc1.4d401f,mp4a.40.2\",AUDIO=\"hi\"\nhd.m3u8\n\
            #EXT-X-STREAM-INF:BANDWIDTH=1000000,AUDIO=\"lo\"\nsd.m3u8\n";
        let m = parse_master(text).unwrap().unwrap();
        assert_eq!(m.video, "hd.m3u8");
        assert_eq!(m.audio.as_deref(), Some("hi-fr.m3u8"));
        // audio in the variant itself: no rendition URI, so no separate audio
        let muxed = "#EXTM3U\n\
            #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"main\",DEFAULT=YES\n\
            #EXT-X-STREAM-INF:BANDWIDTH=1000000,AUDIO=\"a\"\nmain.m3u8\n";
        let m = parse_master(muxed).unwrap().unwrap();
        assert_eq!((m.video.as_str(), m.audio), ("main.m3u8", None));
        // no audio rendition at all
        let plain = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\nw.m3u8\n";
        assert_eq!(
            parse_master(plain).unwrap(),
            Some(Master {
                video: "v.m3u8".into(),
                audio: None
            })
        );
    }

    #[test]
    fn media_playlists_are_not_masters() {
        let media = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n\
            #EXTINF:6.000,\nv/0.ts\n#EXT-X-ENDLIST\n";
        assert_eq!(parse_master(media).unwrap(), None);
        assert!(parse_master("<html>").is_err());
        assert!(parse_master("#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,URI=\"a.m3u8\"\n").is_err());
    }

    #[test]
    fn rng_is_seeded_and_in_range() {
        let (mut a, mut b, mut c) = (Rng::new(1, 7), Rng::new(1, 7), Rng::new(1, 8));
        let xs: Vec<usize> = (0..100).map(|_| a.below(20)).collect();
        let ys: Vec<usize> = (0..100).map(|_| b.below(20)).collect();
        let zs: Vec<usize> = (0..100).map(|_| c.below(20)).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        assert!(xs.iter().all(|&x| x < 20));
        // every value shows up over many draws
        let mut seen = [false; 20];
        (0..2000).for_each(|_| seen[a.below(20)] = true);
        assert!(seen.iter().all(|&s| s));
        assert_eq!(a.below(0), 0);
    }
}
