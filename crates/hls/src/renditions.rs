//! A channel's audio languages and subtitles as HLS renditions (RFC 8216 4.3.4.1 `EXT-X-MEDIA`).
//!
//! A channel's segments are full MPEG-TS: every audio track and subtitle stream, as the
//! set-top boxes and `/mpegts` viewers get them. When a segment carries more than one audio
//! track, or a teletext subtitle page, HLS players are offered a master playlist instead: one
//! video variant and one rendition per audio track and per subtitle page. Each rendition's
//! playlist is the channel's media playlist with its segment names prefixed
//! ([`Rendition::prefix`]); each rendition segment is cut from the full segment by PID
//! ([`Tracks::cut`]), so a rendition never drifts from the video and needs nothing stored.
//! Subtitle segments are WebVTT made from the teletext page (the caller's, see
//! `mpegts::teletext`).
//!
//! The file names stay those of every existing URL form (live `index.m3u8`/`{seq}.ts`, each
//! catch-up dialect): `a1-index-1795000000-3600.m3u8`, `a1-rec-1795000000000.ts`,
//! `v-1795000123.ts`, `s0-1795000123.vtt`.

use std::fmt::Write;

use media::Codec;
use mpegts::program::{EsKind, Program};

use crate::vod::{master_playlist, Master, Rendition as MediaRendition};

/// Most audio renditions offered (the rest of a program's audio tracks stay on `/mpegts`).
pub const MAX_AUDIO: usize = 8;
/// Most subtitle renditions offered.
pub const MAX_SUBTITLES: usize = 8;

/// One rendition of a master playlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendition {
    /// The video variant (video only).
    Video,
    /// The n-th audio track (audio only).
    Audio(u8),
    /// The n-th subtitle page (WebVTT).
    Subtitles(u8),
}

impl Rendition {
    /// The prefix of its file names: `v-`, `a{n}-`, `s{n}-`.
    pub fn prefix(self) -> String {
        match self {
            Rendition::Video => "v-".into(),
            Rendition::Audio(n) => format!("a{n}-"),
            Rendition::Subtitles(n) => format!("s{n}-"),
        }
    }

    /// Splits a rendition's file name into the rendition and the channel's own file name
    /// (`a1-index.m3u8` → (Audio(1), `index.m3u8`); `s0-12.vtt` → (Subtitles(0), `12.ts`): a
    /// subtitle segment is named after the TS segment it is made from). `None` for any other
    /// name (`archive-…`, `video-timeshift_abs-…` are not renditions).
    pub fn split(file: &str) -> Option<(Rendition, String)> {
        let (head, rest) = file.split_once('-')?;
        let r = match head.as_bytes() {
            [b'v'] => Rendition::Video,
            [b'a', d] if d.is_ascii_digit() && ((d - b'0') as usize) < MAX_AUDIO => {
                Rendition::Audio(d - b'0')
            }
            [b's', d] if d.is_ascii_digit() && ((d - b'0') as usize) < MAX_SUBTITLES => {
                Rendition::Subtitles(d - b'0')
            }
            _ => return None,
        };
        let name = match r {
            Rendition::Subtitles(_) => match rest.strip_suffix(".vtt") {
                Some(stem) => format!("{stem}.ts"),
                None if rest.ends_with(".m3u8") => rest.to_string(),
                None => return None,
            },
            _ if rest.ends_with(".ts") || rest.ends_with(".m3u8") => rest.to_string(),
            _ => return None,
        };
        Some((r, name))
    }
}

/// An audio track offered as a rendition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTrack {
    pub pid: u16,
    pub codec: Codec,
    /// ISO 639-2 code as the source sent it (lower-cased), if any.
    pub language: Option<String>,
    /// Audio description for the visually impaired.
    pub description: bool,
}

/// A teletext subtitle page offered as a rendition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubtitleTrack {
    pub pid: u16,
    pub language: Option<String>,
    /// Magazine 1..=8.
    pub magazine: u8,
    /// Page, two BCD digits.
    pub page: u8,
    /// A page for the hearing impaired.
    pub hearing_impaired: bool,
}

/// What a segment carries, as renditions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tracks {
    pub video: Option<(u16, Codec)>,
    pub audio: Vec<AudioTrack>,
    pub subtitles: Vec<SubtitleTrack>,
    /// The RFC 6381 codecs of the video and the first audio track, when known.
    pub codecs: Option<String>,
}

/// The RFC 6381 name of an audio codec in TS (AAC-LC assumed for ADTS: the profile HLS
/// players decode).
fn audio_codec_string(c: Codec) -> Option<&'static str> {
    match c {
        Codec::Aac => Some("mp4a.40.2"),
        Codec::Mpeg1Audio => Some("mp4a.40.34"),
        Codec::Ac3 => Some("ac-3"),
        Codec::Eac3 => Some("ec-3"),
        _ => None,
    }
}

/// `avc1.PPCCLL` from the first SPS in an Annex B access unit's start.
fn avc1(payload: &[u8]) -> Option<String> {
    let i = payload
        .windows(4)
        .position(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 7)?;
    let sps = payload.get(i + 3..i + 7)?;
    Some(format!("avc1.{:02x}{:02x}{:02x}", sps[1], sps[2], sps[3]))
}

impl Tracks {
    /// The renditions of a program (video first, audio tracks and teletext subtitle pages in
    /// PMT order, at most [`MAX_AUDIO`] and [`MAX_SUBTITLES`]); `ts` is the segment it was read
    /// from (for the codec strings).
    pub fn from_program(p: &Program, ts: &[u8]) -> Tracks {
        let mut t = Tracks::default();
        for es in &p.streams {
            match es.kind() {
                EsKind::Video(c) if t.video.is_none() => t.video = Some((es.pid, c)),
                EsKind::Audio(codec) if t.audio.len() < MAX_AUDIO => t.audio.push(AudioTrack {
                    pid: es.pid,
                    codec,
                    language: es.language().and_then(mpegts::program::language_code),
                    description: es.is_audio_description(),
                }),
                // each teletext subtitle page becomes a WebVTT rendition (`webvtt`)
                EsKind::Teletext => {
                    for page in es.teletext_pages().into_iter().filter(|p| p.is_subtitle()) {
                        if t.subtitles.len() < MAX_SUBTITLES {
                            t.subtitles.push(SubtitleTrack {
                                pid: es.pid,
                                language: mpegts::program::language_code(page.language),
                                magazine: page.magazine,
                                page: page.page,
                                hearing_impaired: page.kind == 5,
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        let video = match t.video {
            Some((pid, Codec::H264)) => mpegts::program::first_payload(ts, pid).and_then(avc1),
            Some(_) => None,
            None => Some(String::new()),
        };
        let audio = t.audio.first().map(|a| audio_codec_string(a.codec));
        t.codecs = match (video, audio) {
            (Some(v), Some(Some(a))) if v.is_empty() => Some(a.to_string()),
            (Some(v), Some(Some(a))) => Some(format!("{v},{a}")),
            (Some(v), None) if !v.is_empty() => Some(v),
            _ => None,
        };
        t
    }

    /// The renditions of the segment `ts` (None when it has no PAT/PMT).
    pub fn read(ts: &[u8]) -> Option<Tracks> {
        mpegts::program::read_program(ts).map(|p| Tracks::from_program(&p, ts))
    }

    /// Whether players get a master playlist: more than one audio track, or subtitles.
    pub fn needs_master(&self) -> bool {
        self.audio.len() > 1 || !self.subtitles.is_empty()
    }

    /// The index of the default audio track: the first in `preferred` language (ISO 639-2,
    /// `chi`/`zho` and the other bibliographic/terminology pairs taken as one), else the first
    /// that is not audio description, else the first.
    pub fn default_audio(&self, preferred: Option<&str>) -> usize {
        let want = preferred.map(canonical_639_2);
        want.and_then(|w| {
            self.audio.iter().position(|a| {
                !a.description && a.language.as_deref().map(canonical_639_2) == Some(w)
            })
        })
        .or_else(|| self.audio.iter().position(|a| !a.description))
        .unwrap_or(0)
    }

    /// The master playlist: every rendition's URI is its prefix and `stem` (the channel's own
    /// playlist name for this request, e.g. `index.m3u8` or `index-1795000000-3600.m3u8`).
    /// `bandwidth` is the peak bits per second of the full segments.
    pub fn master(&self, stem: &str, bandwidth: u64, preferred: Option<&str>) -> String {
        let default = self.default_audio(preferred);
        let names = |langs: Vec<Option<&str>>| -> Vec<String> {
            let mut out: Vec<String> = Vec::new();
            for (i, l) in langs.iter().enumerate() {
                let base = language_name(*l);
                let same = langs[..i].iter().filter(|x| *x == l).count();
                out.push(if same == 0 {
                    base
                } else {
                    format!("{base} {}", same + 1)
                });
            }
            out
        };
        let audio_names = names(self.audio.iter().map(|a| a.language.as_deref()).collect());
        let audio: Vec<MediaRendition> = self
            .audio
            .iter()
            .enumerate()
            .map(|(i, a)| MediaRendition {
                name: if a.description {
                    format!("{} (AD)", audio_names[i])
                } else {
                    audio_names[i].clone()
                },
                language: a.language.clone(),
                default: i == default,
                channels: 0,
                describes_video: a.description,
                uri: format!("{}{stem}", Rendition::Audio(i as u8).prefix()),
            })
            .collect();
        let sub_names = names(
            self.subtitles
                .iter()
                .map(|s| s.language.as_deref())
                .collect(),
        );
        let subtitles: Vec<MediaRendition> = self
            .subtitles
            .iter()
            .enumerate()
            .map(|(i, s)| MediaRendition {
                name: if s.hearing_impaired {
                    format!("{} (SDH)", sub_names[i])
                } else {
                    sub_names[i].clone()
                },
                language: s.language.clone(),
                default: false,
                channels: 0,
                describes_video: false,
                uri: format!("{}{stem}", Rendition::Subtitles(i as u8).prefix()),
            })
            .collect();
        let video_uri = format!("{}{stem}", Rendition::Video.prefix());
        master_playlist(&Master {
            bandwidth,
            codecs: self.codecs.as_deref().unwrap_or(""),
            width: 0,
            height: 0,
            video_uri: if self.video.is_some() {
                &video_uri
            } else {
                // an audio-only channel: the "variant" is its first audio track
                &audio[0].uri
            },
            audio: &audio,
            subtitles: &subtitles,
        })
    }

    /// The PIDs a rendition's segments keep (None: no such rendition, or a subtitle one, which
    /// is text, not TS).
    pub fn pids(&self, r: Rendition) -> Option<Vec<u16>> {
        match r {
            Rendition::Video => self.video.map(|(pid, _)| vec![pid]),
            Rendition::Audio(n) => self.audio.get(n as usize).map(|a| vec![a.pid]),
            Rendition::Subtitles(_) => None,
        }
    }

    /// A rendition's segment cut from the full segment `ts` (None for an unknown rendition).
    pub fn cut(&self, ts: &[u8], r: Rendition) -> Option<Vec<u8>> {
        let keep = self.pids(r)?;
        let program = mpegts::program::read_program(ts)?;
        Some(mpegts::program::filter_pids(ts, &program, &keep))
    }
}

/// How long before a segment's start the previous segment's teletext may begin for its page on
/// screen to carry over (a larger gap is taken as a timestamp discontinuity, and `prev` is
/// ignored).
const MAX_CARRY_OVER_90K: i64 = 10 * 60 * 90_000;

/// The WebVTT of subtitle rendition `n` for the full segment `ts` lasting `duration_90k`
/// (`prev`: the segment before it, for a subtitle already on screen when `ts` starts).
///
/// The segment starts at its first video PTS (else the first PTS of any stream); the file maps
/// that to local zero (`X-TIMESTAMP-MAP`) and holds the cues of the track's teletext page that
/// overlap [start, start + `duration_90k`), clipped to it (`mpegts::teletext`). A page shown
/// before `prev` began (never retransmitted since) is not known here. An unknown rendition, or
/// a segment without any PTS, gives an empty WebVTT file.
pub fn webvtt(tracks: &Tracks, n: u8, prev: Option<&[u8]>, ts: &[u8], duration_90k: i64) -> String {
    use mpegts::teletext::{cues_from_ts_parts, unwrap_near, webvtt_segment};
    const EMPTY: &str = "WEBVTT\n\n";
    let Some(track) = tracks.subtitles.get(n as usize) else {
        return EMPTY.into();
    };
    let start_raw = tracks
        .video
        .and_then(|(pid, _)| mpegts::program::first_pts(ts, pid))
        .or_else(|| mpegts::program::first_pts_any(ts));
    let Some(start_raw) = start_raw else {
        return EMPTY.into();
    };
    // the cues, the segment's start on their timeline, and how long before it the first
    // teletext PES came
    let decode = |parts: &[&[u8]]| {
        let (cues, base) = cues_from_ts_parts(parts, track.pid, track.magazine, track.page);
        let start = base.map_or(start_raw as i64, |b| unwrap_near(start_raw, b));
        let lead = base.map_or(0, |b| start - b as i64);
        (cues, start, lead)
    };
    let (mut cues, mut start, lead) = decode(&[prev.unwrap_or_default(), ts]);
    if prev.is_some() && !(0..=MAX_CARRY_OVER_90K).contains(&lead) {
        (cues, start, _) = decode(&[ts]);
    }
    webvtt_segment(&cues, start, start + duration_90k.max(0))
}

/// One rendition's media playlist from the channel's: every segment URI gets the rendition's
/// prefix (and, for subtitles, the `.vtt` name of the same segment); tags are kept as they are.
pub fn rendition_playlist(playlist: &str, r: Rendition) -> String {
    let prefix = r.prefix();
    let mut out = String::with_capacity(playlist.len() + 64 * 8);
    for line in playlist.lines() {
        if line.is_empty() || line.starts_with('#') {
            out.push_str(line);
        } else {
            out.push_str(&prefix);
            match (r, line.strip_suffix(".ts")) {
                (Rendition::Subtitles(_), Some(stem)) => {
                    let _ = write!(out, "{stem}.vtt");
                }
                _ => out.push_str(line),
            }
        }
        out.push('\n');
    }
    out
}

/// The ISO 639-2 bibliographic and terminology codes of one language as one (`chi` = `zho`).
pub fn canonical_639_2(code: &str) -> &str {
    match code {
        "zho" => "chi",
        "deu" => "ger",
        "fra" => "fre",
        "nld" => "dut",
        "ces" => "cze",
        "ell" => "gre",
        "fas" => "per",
        "msa" => "may",
        "ron" => "rum",
        "slk" => "slo",
        "sqi" => "alb",
        "hye" => "arm",
        "eus" => "baq",
        "mya" => "bur",
        "kat" => "geo",
        "isl" => "ice",
        "mkd" => "mac",
        "mri" => "mao",
        "cym" => "wel",
        "bod" => "tib",
        other => other,
    }
}

/// The ISO 639-2 code of a common language's ISO 639-1 code (`en` → `eng`, `zh` → `chi`; the
/// bibliographic form where the two differ, as [`canonical_639_2`] gives), lower-case input
/// only; None for a code not listed.
pub fn from_639_1(code: &str) -> Option<&'static str> {
    Some(match code {
        "ar" => "ara",
        "bn" => "ben",
        "cs" => "cze",
        "da" => "dan",
        "de" => "ger",
        "el" => "gre",
        "en" => "eng",
        "es" => "spa",
        "fa" => "per",
        "fi" => "fin",
        "fr" => "fre",
        "he" => "heb",
        "hi" => "hin",
        "hu" => "hun",
        "id" => "ind",
        "it" => "ita",
        "ja" => "jpn",
        "ko" => "kor",
        "ms" => "may",
        "nl" => "dut",
        "no" => "nor",
        "pl" => "pol",
        "pt" => "por",
        "ro" => "rum",
        "ru" => "rus",
        "sv" => "swe",
        "ta" => "tam",
        "th" => "tha",
        "tl" => "tgl",
        "tr" => "tur",
        "uk" => "ukr",
        "ur" => "urd",
        "vi" => "vie",
        "zh" => "chi",
        _ => return None,
    })
}

/// A preferred audio language as stored: an ISO 639-2 code (three ASCII letters, lower-cased),
/// or a common language's ISO 639-1 code turned into its 639-2 form ([`from_639_1`]); None for
/// anything else (the empty string included: "no preference" is the caller's to allow).
pub fn normalize_639_2(code: &str) -> Option<String> {
    if !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let lower = code.to_ascii_lowercase();
    match lower.len() {
        3 => Some(lower),
        2 => from_639_1(&lower).map(str::to_string),
        _ => None,
    }
}

/// A language's name as a viewer reads it on a menu (its own name), from an ISO 639-1/-2 code
/// or BCP 47 tag; the code itself for a language not listed; "Original" for none.
pub fn language_name(code: Option<&str>) -> String {
    let Some(code) = code else {
        return "Original".into();
    };
    let base = code
        .split(['-', '_'])
        .next()
        .unwrap_or(code)
        .to_ascii_lowercase();
    let name = match base.as_str() {
        "en" | "eng" => "English",
        "zh" | "chi" | "zho" | "cmn" => "中文",
        "yue" => "粵語",
        "fr" | "fra" | "fre" => "Français",
        "de" | "deu" | "ger" => "Deutsch",
        "es" | "spa" => "Español",
        "pt" | "por" => "Português",
        "ru" | "rus" => "Русский",
        "ja" | "jpn" => "日本語",
        "ko" | "kor" => "한국어",
        "ar" | "ara" => "العربية",
        "hi" | "hin" => "हिन्दी",
        "it" | "ita" => "Italiano",
        "id" | "ind" => "Bahasa Indonesia",
        "ms" | "msa" | "may" => "Bahasa Melayu",
        "th" | "tha" => "ไทย",
        "vi" | "vie" => "Tiếng Việt",
        "tl" | "fil" | "tgl" => "Filipino",
        _ => return code.to_string(),
    };
    name.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracks() -> Tracks {
        Tracks {
            video: Some((0x100, Codec::H264)),
            audio: vec![
                AudioTrack {
                    pid: 0x101,
                    codec: Codec::Aac,
                    language: Some("chi".into()),
                    description: false,
                },
                AudioTrack {
                    pid: 0x102,
                    codec: Codec::Mpeg1Audio,
                    language: Some("eng".into()),
                    description: false,
                },
                AudioTrack {
                    pid: 0x103,
                    codec: Codec::Aac,
                    language: Some("eng".into()),
                    description: true,
                },
            ],
            subtitles: vec![SubtitleTrack {
                pid: 0x120,
                language: Some("eng".into()),
                magazine: 8,
                page: 0x88,
                hearing_impaired: false,
            }],
            codecs: Some("avc1.64001f,mp4a.40.2".into()),
        }
    }

    #[test]
    fn file_names_of_renditions() {
        let cases = [
            ("a1-index.m3u8", Some((Rendition::Audio(1), "index.m3u8"))),
            ("v-1795000123.ts", Some((Rendition::Video, "1795000123.ts"))),
            ("s0-12.vtt", Some((Rendition::Subtitles(0), "12.ts"))),
            (
                "s0-index-1795000000-60.m3u8",
                Some((Rendition::Subtitles(0), "index-1795000000-60.m3u8")),
            ),
            (
                "a0-rec-1795000000000.ts",
                Some((Rendition::Audio(0), "rec-1795000000000.ts")),
            ),
            ("archive-1795000000-60.ts", None),
            ("video-timeshift_abs-1795000000.m3u8", None),
            ("a9-index.m3u8", None),
            ("a10-index.m3u8", None),
            ("s0-12.ts", None),
            ("a0-12.vtt", None),
            ("a0-mpegts", None),
            ("index.m3u8", None),
            ("x-index.m3u8", None),
        ];
        for (file, want) in cases {
            assert_eq!(
                Rendition::split(file),
                want.map(|(r, s)| (r, s.to_string())),
                "{file}"
            );
        }
        for r in [
            Rendition::Video,
            Rendition::Audio(3),
            Rendition::Subtitles(7),
        ] {
            let name = format!("{}index.m3u8", r.prefix());
            assert_eq!(Rendition::split(&name), Some((r, "index.m3u8".into())));
        }
    }

    #[test]
    fn master_offers_every_language_with_the_preferred_one_default() {
        let t = tracks();
        assert!(t.needs_master());
        let m = t.master("index-1795000000-60.m3u8", 2_500_000, Some("eng"));
        assert!(m.contains("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"中文\",LANGUAGE=\"chi\",DEFAULT=NO,AUTOSELECT=YES,URI=\"a0-index-1795000000-60.m3u8\"\n"), "{m}");
        assert!(m.contains("NAME=\"English\",LANGUAGE=\"eng\",DEFAULT=YES,AUTOSELECT=YES,URI=\"a1-index-1795000000-60.m3u8\""), "{m}");
        assert!(m.contains("NAME=\"English 2 (AD)\",LANGUAGE=\"eng\",DEFAULT=NO,AUTOSELECT=YES,CHARACTERISTICS=\"public.accessibility.describes-video\",URI=\"a2-"), "{m}");
        assert!(m.contains("#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English\",LANGUAGE=\"eng\",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI=\"s0-index-1795000000-60.m3u8\""), "{m}");
        assert!(m.contains("#EXT-X-STREAM-INF:BANDWIDTH=2500000,CODECS=\"avc1.64001f,mp4a.40.2\",AUDIO=\"audio\",SUBTITLES=\"subs\"\nv-index-1795000000-60.m3u8\n"), "{m}");
        // no preference, or one not carried: the first track that is not audio description
        assert_eq!(t.default_audio(None), 0);
        assert_eq!(t.default_audio(Some("fre")), 0);
        assert_eq!(t.default_audio(Some("zho")), 0);
        let mut one = tracks();
        one.audio.truncate(1);
        one.subtitles.clear();
        assert!(!one.needs_master());
    }

    #[test]
    fn rendition_playlists_rename_segments_only() {
        let p = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:10\n\
                 #EXT-X-PROGRAM-DATE-TIME:2026-11-18T11:06:40.000Z\n#EXTINF:6.000,\n10.ts\n\
                 #EXT-X-DISCONTINUITY\n#EXTINF:6.000,\nrec-1795000006000.ts\n#EXT-X-ENDLIST\n";
        let a = rendition_playlist(p, Rendition::Audio(1));
        assert!(
            a.contains("#EXTINF:6.000,\na1-10.ts\n") && a.contains("\na1-rec-1795000006000.ts\n")
        );
        assert!(a.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n") && a.ends_with("#EXT-X-ENDLIST\n"));
        let s = rendition_playlist(p, Rendition::Subtitles(0));
        assert!(s.contains("\ns0-10.vtt\n") && s.contains("\ns0-rec-1795000006000.vtt\n"));
        // and the names it writes are the ones it reads back
        assert_eq!(Rendition::split("s0-10.vtt").unwrap().1, "10.ts");
    }

    /// A segment: PSI, 25 video frames from `video_pts` (1 s), and a teletext PES of page 888
    /// on 0x120 per (pts, lines), each before the first frame not before it (pages after the
    /// last frame are left out).
    fn segment(video_pts: i64, pages: &[(i64, &[&str])]) -> Vec<u8> {
        use bytes::{Bytes, BytesMut};
        use media::{Frame, StreamInfo, Track, Ts90k, VideoConfig};
        use mpegts::teletext::{encode_page, pes_packet, ts_packets};
        let info = StreamInfo {
            video: Some(VideoConfig {
                codec: Some(Codec::H264),
                width: 64,
                height: 64,
                fps_milli: 25_000,
                sps: vec![Bytes::from_static(&[0x67, 0x42, 0xc0, 0x1e, 0x8c])],
                pps: vec![Bytes::from_static(&[0x68, 0xce, 0x3c, 0x80])],
            }),
            audio: Vec::new(),
            data: Vec::new(),
        };
        let mut mux = mpegts::Muxer::new(&info);
        let mut out = BytesMut::new();
        mux.write_psi(&mut out);
        let mut cc = 0;
        let mut pages = pages.iter().peekable();
        for i in 0..25i64 {
            let pts = video_pts + i * 3600;
            while let Some((p, lines)) = pages.next_if(|(p, _)| *p <= pts) {
                let pes = pes_packet(*p, &encode_page(8, 0x88, lines, true));
                out.extend_from_slice(&ts_packets(0x120, &pes, &mut cc));
            }
            mux.write_frame(
                &Frame {
                    track: Track::Video,
                    codec: Codec::H264,
                    pts_90k: Ts90k(pts),
                    dts_90k: Ts90k(pts),
                    keyframe: i == 0,
                    data: Bytes::from(vec![0, 0, 0, 1, 0x65, 0x88, 0x80, i as u8]),
                },
                &mut out,
            );
        }
        out.to_vec()
    }

    #[test]
    fn webvtt_of_a_teletext_page() {
        let t = tracks();
        let prev = segment(0, &[(45_000, &["already on screen"][..])]);
        let ts = segment(
            90_000,
            &[
                (135_000, &["second", "<two> & lines"][..]),
                (171_000, &[][..]),
            ],
        );
        let vtt = webvtt(&t, 0, Some(&prev), &ts, 90_000);
        assert_eq!(
            vtt,
            "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:90000,LOCAL:00:00:00.000\n\n\
             00:00:00.000 --> 00:00:00.500\nalready on screen\n\n\
             00:00:00.500 --> 00:00:00.900\nsecond\n&lt;two&gt; &amp; lines\n\n"
        );
        // without the previous segment, the page on screen at the start is not known
        let vtt = webvtt(&t, 0, None, &ts, 90_000);
        assert!(!vtt.contains("already") && vtt.contains("00:00:00.500 --> 00:00:00.900\nsecond"));
        // a previous segment far away in time (a discontinuity) is ignored
        let far = segment(1 << 32, &[(45_000 + (1 << 32), &["elsewhere"][..])]);
        assert!(!webvtt(&t, 0, Some(&far), &ts, 90_000).contains("elsewhere"));
        // across the 33-bit wrap
        let wrap = (1i64 << 33) - 45_000;
        let prev = segment(wrap - 90_000, &[(wrap - 45_000, &["before the wrap"][..])]);
        let ts = segment(wrap, &[(wrap + 45_000, &["after the wrap"][..])]);
        let vtt = webvtt(&t, 0, Some(&prev), &ts, 180_000);
        assert_eq!(
            vtt,
            format!(
                "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{wrap},LOCAL:00:00:00.000\n\n\
                 00:00:00.000 --> 00:00:00.500\nbefore the wrap\n\n\
                 00:00:00.500 --> 00:00:02.000\nafter the wrap\n\n"
            )
        );
        // an unknown rendition, or a segment without timestamps
        assert_eq!(webvtt(&t, 1, None, &ts, 90_000), "WEBVTT\n\n");
        assert_eq!(webvtt(&t, 0, None, &ts[..376], 90_000), "WEBVTT\n\n");
        // no video: the first PTS of any stream
        let mut audio_only = t.clone();
        audio_only.video = None;
        let vtt = webvtt(&audio_only, 0, None, &ts, 180_000);
        assert!(vtt.contains(&format!("MPEGTS:{wrap},")), "{vtt}");
    }

    #[test]
    fn language_names() {
        assert_eq!(language_name(Some("eng")), "English");
        assert_eq!(language_name(Some("zh-Hans")), "中文");
        assert_eq!(language_name(Some("xx")), "xx");
        assert_eq!(language_name(None), "Original");
        assert_eq!(canonical_639_2("zho"), "chi");
    }

    #[test]
    fn preferred_language_codes_are_stored_as_639_2() {
        assert_eq!(normalize_639_2("eng").as_deref(), Some("eng"));
        assert_eq!(normalize_639_2("ZHO").as_deref(), Some("zho"));
        assert_eq!(normalize_639_2("en").as_deref(), Some("eng"));
        assert_eq!(normalize_639_2("ZH").as_deref(), Some("chi"));
        assert_eq!(normalize_639_2("de").as_deref(), Some("ger"));
        // an unlisted two-letter code, other lengths, non-letters, non-ASCII
        assert_eq!(normalize_639_2("xx"), None);
        assert_eq!(normalize_639_2(""), None);
        assert_eq!(normalize_639_2("e"), None);
        assert_eq!(normalize_639_2("engl"), None);
        assert_eq!(normalize_639_2("en1"), None);
        assert_eq!(normalize_639_2("en-US"), None);
        assert_eq!(normalize_639_2("中文"), None);
        assert_eq!(normalize_639_2("éng"), None);
        // every listed code maps to a three-letter code named like its 639-1 code
        for c in [
            "ar", "en", "zh", "fr", "de", "es", "pt", "ru", "ja", "ko", "hi", "it",
        ] {
            let t = from_639_1(c).unwrap();
            assert_eq!(t.len(), 3);
            assert_eq!(language_name(Some(t)), language_name(Some(c)));
        }
        // and matches a track tagged with either 639-2 form
        assert_eq!(
            canonical_639_2(from_639_1("zh").unwrap()),
            canonical_639_2("zho")
        );
    }
}
