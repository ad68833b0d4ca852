//! A stored title's index, read once and cached: its sample tables (from `moov`, parsed by
//! `crates/mp4`), the segment plan (`hls::vod`), its playlists and each rendition's fMP4
//! initialisation segment; and the segments themselves, cut from `media.mp4` on request: a
//! `moof` header made from the sample table and the samples' bytes, which the import stored as
//! one byte range per segment and rendition (`segment_groups`), so a segment is a small header
//! plus one read of the file.

use std::collections::HashMap;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use hls::vod::{Cut, Rendition, VideoSample};
use mp4::{CodecConfig, Movie, TrackKind};

/// Why a stored file's index could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Bad(String),
}

/// Reads the `moov` box of the MP4/MOV at `path` (within `limits`: index size, samples) and parses it.
pub fn read_movie(path: &Path, limits: &super::import::Limits) -> Result<Movie, IndexError> {
    let f = File::open(path)?;
    let size = f.metadata()?.len();
    read_movie_from(&f, size, limits)
}

/// The same, from an open file of `size` bytes: walks the top-level boxes to `moov`.
pub fn read_movie_from(
    f: &File,
    size: u64,
    limits: &super::import::Limits,
) -> Result<Movie, IndexError> {
    read_movie_in(f, size, size, limits)?
        .ok_or_else(|| IndexError::Bad("the file is truncated (in a box header)".into()))
}

/// The same, from a file of which only the first `have` of `size` bytes are there yet (an
/// edge's copy being mirrored): Ok(None) until the index has arrived.
pub fn read_movie_in(
    f: &File,
    have: u64,
    size: u64,
    limits: &super::import::Limits,
) -> Result<Option<Movie>, IndexError> {
    let max_index_bytes = limits.max_index_bytes;
    let bad = |s: String| IndexError::Bad(s);
    let mut off = 0u64;
    let mut moov = None;
    let mut saw_mdat = false;
    let mut fragmented = false;
    let mut head = [0u8; 16];
    while off < size {
        let n = ((size - off) as usize).min(16);
        if off + n as u64 > have {
            return Ok(None);
        }
        f.read_exact_at(&mut head[..n], off)?;
        let h = mp4::parse_box_header(&head[..n], off)
            .map_err(|e| bad(format!("not an MP4/MOV file: {e}")))?
            .ok_or_else(|| bad("the file is truncated (in a box header)".into()))?;
        let box_size = h.size.unwrap_or(size - off);
        if box_size < h.header_len as u64 {
            return Err(bad(format!(
                "not an MP4/MOV file: a box of {box_size} bytes"
            )));
        }
        let end = off.saturating_add(box_size);
        if end > size {
            return Err(bad(format!(
                "the file is truncated: its {} box runs {} bytes past the end",
                String::from_utf8_lossy(&h.kind),
                end - size
            )));
        }
        match &h.kind {
            b"moov" => {
                if box_size > max_index_bytes {
                    return Err(bad(format!(
                        "its index (moov) is {box_size} bytes, more than the {max_index_bytes} allowed (vod_max_index_mib)"
                    )));
                }
                if end > have {
                    return Ok(None);
                }
                let mut b = vec![0u8; box_size as usize];
                f.read_exact_at(&mut b, off)?;
                moov = Some(b);
                if have < size {
                    // a partial copy: what follows the index is the media data
                    saw_mdat = true;
                    break;
                }
            }
            b"mdat" => saw_mdat = true,
            b"moof" => fragmented = true,
            _ => {}
        }
        off = end;
    }
    let Some(moov) = moov else {
        return Err(bad(
            "the file has no index (moov box): it is truncated or still being written".into(),
        ));
    };
    let mp4_limits = mp4::Limits {
        max_samples: limits.max_samples,
        max_entries: limits.max_samples,
        ..mp4::Limits::default()
    };
    let movie = mp4::read::parse_moov(&moov, &mp4_limits)
        .map_err(|e| bad(format!("its index (moov) is invalid: {e}")))?;
    if fragmented || movie.fragmented {
        return Err(bad(
            "fragmented MP4 (moof boxes) is not supported: remux it as a regular MP4".into(),
        ));
    }
    if !saw_mdat && movie.tracks.iter().any(|t| !t.samples.is_empty()) {
        return Err(bad(
            "the file has no media data (mdat box): it is truncated".into(),
        ));
    }
    Ok(Some(movie))
}

/// Media time of a sample's presentation on the title's timeline, 90 kHz.
fn pts_90k(t: &mp4::Track, s: &mp4::Sample) -> i64 {
    let ts = t.timescale.max(1) as i128;
    let media = s.dts as i128 + s.cts_offset as i128 - t.edit_media_start as i128;
    (media * 90_000 / ts) as i64
}

/// The title's length: the end of its longest track, milliseconds.
pub fn duration_ms(m: &Movie) -> i64 {
    m.tracks
        .iter()
        .filter(|t| matches!(t.kind, TrackKind::Video | TrackKind::Audio))
        .filter_map(|t| {
            t.samples
                .iter()
                .map(|s| pts_90k(t, s) + (s.duration as i64 * 90_000 / t.timescale.max(1) as i64))
                .max()
        })
        .max()
        .unwrap_or(0)
        .max(0)
        / 90
}

/// Timestamps written into the segments are the title's time plus this (10 s), so decode times
/// before presentation (B-frames) never go below zero.
pub const PTS_OFFSET_90K: i64 = 900_000;

/// Presentation times (90 kHz, on the title's timeline) of samples given as (dts, cts offset)
/// in a track's timescale with its edit.
fn presentation_90k(
    timescale: u32,
    edit_media_start: i64,
    samples: impl Iterator<Item = (i64, i32)>,
) -> Vec<i64> {
    let ts = timescale.max(1) as i128;
    samples
        .map(|(dts, cts)| {
            ((dts as i128 + cts as i128 - edit_media_start as i128) * 90_000 / ts) as i64
        })
        .collect()
}

/// The segments of a title: its cuts (video), and for each audio track each cut's samples.
fn plan_tracks(
    video: &[i64],
    video_sync: &[bool],
    audio: &[Vec<i64>],
    end_90k: i64,
    target_90k: i64,
) -> (Vec<Cut>, Vec<Vec<Range<usize>>>) {
    let vs: Vec<VideoSample> = video
        .iter()
        .zip(video_sync)
        .map(|(&pts_90k, &keyframe)| VideoSample { pts_90k, keyframe })
        .collect();
    let cuts = hls::vod::plan(&vs, end_90k, target_90k);
    let parts = audio.iter().map(|a| hls::vod::assign(a, &cuts)).collect();
    (cuts, parts)
}

/// How the import stores a title's samples: one group (one byte range of the file) per segment
/// and track, in segment order: video, then each audio track. None without a video keyframe.
pub fn segment_groups(tracks: &[mp4::TrackOut], target_90k: i64) -> Option<Vec<(u16, u32, u32)>> {
    let vi = tracks.iter().position(|t| t.kind == TrackKind::Video)?;
    let times = |t: &mp4::TrackOut| {
        let mut dts = 0i64;
        presentation_90k(
            t.timescale,
            t.edit_media_start,
            t.samples.iter().map(|s| {
                let d = dts;
                dts += s.duration as i64;
                (d, s.cts_offset)
            }),
        )
    };
    let v = &tracks[vi];
    let audio_idx: Vec<usize> = (0..tracks.len())
        .filter(|&i| tracks[i].kind == TrackKind::Audio)
        .collect();
    let audio: Vec<Vec<i64>> = audio_idx.iter().map(|&i| times(&tracks[i])).collect();
    let sync: Vec<bool> = v.samples.iter().map(|s| s.sync).collect();
    let (cuts, parts) = plan_tracks(&times(v), &sync, &audio, 0, target_90k);
    if cuts.is_empty() {
        return None;
    }
    let mut groups = Vec::new();
    for (k, c) in cuts.iter().enumerate() {
        // samples before the first keyframe go with the first segment's (never served)
        let first = if k == 0 { 0 } else { c.video.start };
        groups.push((vi as u16, first as u32, (c.video.end - first) as u32));
        for (a, &ti) in audio_idx.iter().enumerate() {
            let r = &parts[a][k];
            if !r.is_empty() {
                groups.push((ti as u16, r.start as u32, r.len() as u32));
            }
        }
    }
    Some(groups)
}

/// A title ready to serve as HLS.
pub struct Title {
    pub movie: Movie,
    /// The stored file, opened once while the index is cached (segments `pread` from it);
    /// None for an edge's copy still arriving.
    pub file: std::sync::OnceLock<Arc<File>>,
    /// Index of the video track in `movie.tracks`.
    video: usize,
    /// Indices of the audio tracks.
    audio: Vec<usize>,
    pub cuts: Vec<Cut>,
    /// For each audio track, each cut's samples.
    audio_parts: Vec<Vec<Range<usize>>>,
    pub master: String,
    /// fMP4 initialisation segments: the video's, and each audio rendition's.
    pub video_init: Bytes,
    pub audio_init: Vec<Bytes>,
    pub video_playlist: String,
    /// The same renditions as fragmented MP4 (`index-fmp4.m3u8`, `vf.m3u8`, `af{n}.m3u8`).
    pub master_fmp4: String,
    pub video_playlist_fmp4: String,
    pub audio_playlists_fmp4: Vec<String>,
    pub audio_playlists: Vec<String>,
    /// Subtitle playlists (one WebVTT file each: `s{n}.vtt`).
    pub subtitle_playlists: Vec<String>,
    /// Bytes of memory the index holds (for the cache's budget).
    pub cost: usize,
}

/// Subtitle tracks as stored beside the file (`media` JSON of the row).
#[derive(Debug, Clone)]
pub struct SubtitleFile {
    pub language: Option<String>,
    pub file: String,
}

pub use hls::renditions::language_name;

/// The RFC 6381 codec string of a track (`avc1.64001f`, `hvc1.1.6.L93.B0`, `mp4a.40.2`, …).
pub fn codecs_string(c: &CodecConfig) -> Option<String> {
    match c {
        CodecConfig::H264 { sps, .. } => {
            let s = sps.first()?;
            if s.len() < 4 {
                return None;
            }
            Some(format!("avc1.{:02x}{:02x}{:02x}", s[1], s[2], s[3]))
        }
        CodecConfig::H265 { hvcc, .. } => {
            if hvcc.len() < 13 {
                return None;
            }
            let space = ["", "A", "B", "C"][(hvcc[1] >> 6) as usize];
            let tier = if hvcc[1] & 0x20 != 0 { 'H' } else { 'L' };
            let profile = hvcc[1] & 0x1f;
            let compat = u32::from_be_bytes([hvcc[2], hvcc[3], hvcc[4], hvcc[5]]).reverse_bits();
            let level = hvcc[12];
            let mut s = format!("hvc1.{space}{profile}.{compat:x}.{tier}{level}");
            // constraint bytes, trailing zero bytes left out
            let cons = &hvcc[6..12];
            let n = cons
                .iter()
                .rposition(|b| *b != 0)
                .map(|i| i + 1)
                .unwrap_or(0);
            for b in &cons[..n] {
                s.push_str(&format!(".{b:X}"));
            }
            Some(s)
        }
        CodecConfig::Aac { asc } => {
            let aot = asc.first().map(|b| b >> 3).unwrap_or(2);
            Some(format!("mp4a.40.{}", aot.max(1)))
        }
        CodecConfig::Ac3 { .. } => Some("ac-3".into()),
        CodecConfig::Eac3 { .. } => Some("ec-3".into()),
        CodecConfig::Mp3 => Some("mp4a.40.34".into()),
        CodecConfig::Unsupported { .. } => None,
    }
}

impl Title {
    /// Plans the title's segments (`target_90k` long at least, cut at keyframes).
    pub fn new(
        movie: Movie,
        subtitles: &[SubtitleFile],
        target_90k: i64,
    ) -> Result<Title, IndexError> {
        let video = movie
            .tracks
            .iter()
            .position(|t| t.kind == TrackKind::Video)
            .ok_or_else(|| IndexError::Bad("the stored file has no video track".into()))?;
        let audio: Vec<usize> = movie
            .tracks
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                t.kind == TrackKind::Audio && !matches!(t.codec, CodecConfig::Unsupported { .. })
            })
            .map(|(i, _)| i)
            .collect();
        let vt = &movie.tracks[video];
        let end_90k = duration_ms(&movie) * 90;
        let times = |t: &mp4::Track| {
            presentation_90k(
                t.timescale,
                t.edit_media_start,
                t.samples.iter().map(|s| (s.dts, s.cts_offset)),
            )
        };
        let audio_times: Vec<Vec<i64>> = audio.iter().map(|&a| times(&movie.tracks[a])).collect();
        let sync: Vec<bool> = vt.samples.iter().map(|s| s.sync).collect();
        let (cuts, audio_parts) = plan_tracks(&times(vt), &sync, &audio_times, end_90k, target_90k);
        if cuts.is_empty() {
            return Err(IndexError::Bad("the video track has no keyframe".into()));
        }
        let video_playlist = hls::vod::media_playlist(&cuts, "v/", ".ts", None);
        let audio_playlists = (0..audio.len())
            .map(|n| hls::vod::media_playlist(&cuts, &format!("a{n}/"), ".ts", None))
            .collect();
        let video_playlist_fmp4 =
            hls::vod::media_playlist(&cuts, "vf/", ".m4s", Some("vf/init.mp4"));
        let audio_playlists_fmp4 = (0..audio.len())
            .map(|n| {
                hls::vod::media_playlist(
                    &cuts,
                    &format!("af{n}/"),
                    ".m4s",
                    Some(&format!("af{n}/init.mp4")),
                )
            })
            .collect();
        let init = |t: &mp4::Track| {
            mp4::init_segment(&track_out(t))
                .map(Bytes::from)
                .map_err(|e| IndexError::Bad(format!("track {}: {e}", t.id)))
        };
        let video_init = init(vt)?;
        let audio_init = audio
            .iter()
            .map(|&a| init(&movie.tracks[a]))
            .collect::<Result<Vec<_>, _>>()?;
        let total_90k = cuts.last().map(|c| c.end_90k).unwrap_or(0);
        let subtitle_playlists = (0..subtitles.len())
            .map(|n| hls::vod::subtitle_playlist(total_90k, &format!("s{n}.vtt")))
            .collect();
        // bandwidth: the largest segment's bits per second, all renditions (RFC 8216 4.3.4.2)
        let peak = cuts
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let mut bytes: u64 = vt.samples[c.video.clone()]
                    .iter()
                    .map(|s| s.size as u64)
                    .sum();
                if let (Some(&a), Some(parts)) = (audio.first(), audio_parts.first()) {
                    bytes += movie.tracks[a].samples[parts[k].clone()]
                        .iter()
                        .map(|s| s.size as u64)
                        .sum::<u64>();
                }
                // TS overhead about 5 %
                bytes * 8 * 105 / 100 * 90_000 / c.duration_90k().max(1) as u64
            })
            .max()
            .unwrap_or(0);
        let mut codecs: Vec<String> = codecs_string(&vt.codec).into_iter().collect();
        if let Some(&a) = audio.first() {
            codecs.extend(codecs_string(&movie.tracks[a].codec));
        }
        let codecs = codecs.join(",");
        let renditions: Vec<Rendition> = audio
            .iter()
            .enumerate()
            .map(|(n, &a)| {
                let t = &movie.tracks[a];
                Rendition {
                    name: unique_name(
                        language_name(t.language.as_deref()),
                        n,
                        audio
                            .iter()
                            .take(n)
                            .map(|&b| movie.tracks[b].language.as_deref()),
                        t.language.as_deref(),
                    ),
                    language: t.language.clone(),
                    default: n == 0,
                    channels: t.channels,
                    describes_video: false,
                    uri: format!("a{n}.m3u8"),
                }
            })
            .collect();
        let subs: Vec<Rendition> = subtitles
            .iter()
            .enumerate()
            .map(|(n, s)| Rendition {
                name: unique_name(
                    language_name(s.language.as_deref()),
                    n,
                    subtitles.iter().take(n).map(|x| x.language.as_deref()),
                    s.language.as_deref(),
                ),
                language: s.language.clone(),
                default: false,
                channels: 0,
                describes_video: false,
                uri: format!("s{n}.m3u8"),
            })
            .collect();
        let master = hls::vod::master_playlist(&hls::vod::Master {
            bandwidth: peak,
            codecs: &codecs,
            width: vt.width,
            height: vt.height,
            video_uri: "v.m3u8",
            audio: &renditions,
            subtitles: &subs,
        });
        let renditions_fmp4: Vec<Rendition> = renditions
            .iter()
            .enumerate()
            .map(|(n, r)| Rendition {
                uri: format!("af{n}.m3u8"),
                ..r.clone()
            })
            .collect();
        let master_fmp4 = hls::vod::master_playlist(&hls::vod::Master {
            bandwidth: peak,
            codecs: &codecs,
            width: vt.width,
            height: vt.height,
            video_uri: "vf.m3u8",
            audio: &renditions_fmp4,
            subtitles: &subs,
        });
        let samples: usize = movie.tracks.iter().map(|t| t.samples.len()).sum();
        let cost = samples * std::mem::size_of::<mp4::Sample>()
            + cuts.len() * (std::mem::size_of::<Cut>() + 64 * (1 + audio.len()));
        Ok(Title {
            movie,
            file: std::sync::OnceLock::new(),
            video,
            audio,
            cuts,
            audio_parts,
            master,
            video_init,
            audio_init,
            video_playlist,
            master_fmp4,
            video_playlist_fmp4,
            audio_playlists_fmp4,
            audio_playlists,
            subtitle_playlists,
            cost,
        })
    }

    /// The track and the samples of segment `k` of the video (`audio: None`) or of audio
    /// rendition `n`; None when `k` or `n` is out of range.
    pub fn segment_samples(
        &self,
        audio: Option<usize>,
        k: usize,
    ) -> Option<(&mp4::Track, Range<usize>)> {
        Some(match audio {
            None => (
                &self.movie.tracks[self.video],
                self.cuts.get(k)?.video.clone(),
            ),
            Some(n) => (
                &self.movie.tracks[*self.audio.get(n)?],
                self.audio_parts.get(n)?.get(k)?.clone(),
            ),
        })
    }

    /// The initialisation segment of the video (`None`) or of audio rendition `n`.
    pub fn init(&self, audio: Option<usize>) -> Option<Bytes> {
        match audio {
            None => Some(self.video_init.clone()),
            Some(n) => self.audio_init.get(n).cloned(),
        }
    }

    /// Segment `k` read from `file` (the stored media.mp4), as MPEG-TS or fragmented MP4.
    pub fn segment(
        &self,
        file: &File,
        format: Format,
        audio: Option<usize>,
        k: usize,
    ) -> Option<std::io::Result<(Bytes, Bytes)>> {
        let (track, range) = self.segment_samples(audio, k)?;
        let runs = runs(track, range.clone());
        let mut data = Vec::with_capacity(runs.len());
        for &(off, len) in &runs {
            let mut buf = vec![0u8; len as usize];
            if let Err(e) = file.read_exact_at(&mut buf, off) {
                return Some(Err(e));
            }
            data.push(Bytes::from(buf));
        }
        Some(build(format, track, range, k, &runs, &data))
    }
}

/// The two shapes a title's HLS segments come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// MPEG-TS (`index.m3u8`): every player, old TV boxes and ffmpeg-based ones included.
    Ts,
    /// Fragmented MP4 (`index-fmp4.m3u8`, CMAF): the samples as stored, behind a small header.
    Fmp4,
}

/// A segment's bytes as (head, body).
pub fn build(
    format: Format,
    track: &mp4::Track,
    range: Range<usize>,
    k: usize,
    runs: &[(u64, u64)],
    data: &[Bytes],
) -> std::io::Result<(Bytes, Bytes)> {
    match format {
        Format::Ts => Ok((Bytes::new(), mux_ts(track, range, runs, data))),
        Format::Fmp4 => fragment(track, range, k, runs, data),
    }
}

/// A stored track's description for an fMP4 initialisation segment.
fn track_out(t: &mp4::Track) -> mp4::TrackOut {
    mp4::TrackOut {
        kind: t.kind,
        codec: t.codec.clone(),
        timescale: t.timescale,
        language: t.language.clone(),
        width: t.width,
        height: t.height,
        sample_rate: t.sample_rate,
        channels: t.channels,
        edit_media_start: 0,
        samples: Vec::new(),
    }
}

/// The `moof`+`mdat` header of segment `k` (the samples `range` of `track`) as fragmented MP4.
/// Decode times are the title's time plus [`PTS_OFFSET_90K`], as in every rendition; an empty
/// range (audio that ended before the video) gives an empty fragment at the track's end.
pub fn fragment_head(track: &mp4::Track, range: Range<usize>, k: usize) -> std::io::Result<Bytes> {
    let start = range.start;
    let samples = &track.samples[range];
    let first_dts = match (
        samples.first(),
        start.checked_sub(1).and_then(|i| track.samples.get(i)),
    ) {
        (Some(f), _) => f.dts,
        (None, Some(prev)) => prev.dts + prev.duration as i64,
        (None, None) => 0,
    };
    let ts = track.timescale.max(1) as i128;
    let base =
        first_dts as i128 - track.edit_media_start as i128 + PTS_OFFSET_90K as i128 * ts / 90_000;
    let out: Vec<mp4::SampleOut> = samples
        .iter()
        .map(|s| mp4::SampleOut {
            size: s.size,
            duration: s.duration,
            cts_offset: s.cts_offset,
            sync: s.sync,
        })
        .collect();
    mp4::fragment_header(k as u32 + 1, base.max(0) as u64, &out)
        .map(Bytes::from)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Segment `k` (the samples `range` of `track`) as fragmented MP4: its header
/// ([`fragment_head`]) and the samples' bytes (one piece when the import stored them as one
/// range).
pub fn fragment(
    track: &mp4::Track,
    range: Range<usize>,
    k: usize,
    runs: &[(u64, u64)],
    data: &[Bytes],
) -> std::io::Result<(Bytes, Bytes)> {
    let header = fragment_head(track, range.clone(), k)?;
    let samples = &track.samples[range];
    let body = match data {
        [one] if runs.len() == 1 => one.clone(),
        many => {
            let mut b = BytesMut::with_capacity(many.iter().map(Bytes::len).sum());
            for d in many {
                b.extend_from_slice(d);
            }
            b.freeze()
        }
    };
    let want: u64 = samples.iter().map(|s| s.size as u64).sum();
    if body.len() as u64 != want {
        return Err(std::io::Error::other(
            "the samples' bytes do not match the index",
        ));
    }
    Ok((header, body))
}

/// The byte runs (offset, length) holding `range`'s samples: adjacent samples (usually whole
/// chunks) read as one, up to 4 MiB a run.
pub fn runs(track: &mp4::Track, range: Range<usize>) -> Vec<(u64, u64)> {
    let samples = &track.samples[range];
    let mut out: Vec<(u64, u64)> = Vec::new();
    for s in samples {
        match out.last_mut() {
            Some((off, len)) if *off + *len == s.offset && *len < (4 << 20) => {
                *len += s.size as u64
            }
            _ => out.push((s.offset, s.size as u64)),
        }
    }
    out
}

/// "English", "English 2" when two renditions share a language.
fn unique_name<'a>(
    name: String,
    _n: usize,
    before: impl Iterator<Item = Option<&'a str>>,
    lang: Option<&str>,
) -> String {
    let same = before.filter(|l| *l == lang).count();
    if same == 0 {
        name
    } else {
        format!("{name} {}", same + 1)
    }
}

fn stream_info(track: &mp4::Track) -> (media::StreamInfo, media::Codec) {
    let mut info = media::StreamInfo::default();
    let codec = match &track.codec {
        CodecConfig::H264 { sps, pps, .. } => {
            info.video = Some(media::VideoConfig {
                codec: Some(media::Codec::H264),
                width: track.width,
                height: track.height,
                fps_milli: 0,
                sps: sps.clone(),
                pps: pps.clone(),
            });
            media::Codec::H264
        }
        CodecConfig::H265 { vps, sps, pps, .. } => {
            info.video = Some(media::VideoConfig {
                codec: Some(media::Codec::H265),
                width: track.width,
                height: track.height,
                fps_milli: 0,
                sps: vps.iter().chain(sps).cloned().collect(),
                pps: pps.clone(),
            });
            media::Codec::H265
        }
        c => {
            let codec = match c {
                CodecConfig::Aac { .. } => media::Codec::Aac,
                CodecConfig::Ac3 { .. } => media::Codec::Ac3,
                CodecConfig::Eac3 { .. } => media::Codec::Eac3,
                _ => media::Codec::Mpeg1Audio,
            };
            info.audio = vec![media::AudioConfig {
                codec: Some(codec),
                sample_rate: track.sample_rate,
                channels: track.channels as u8,
                asc: match c {
                    CodecConfig::Aac { asc } => Some(asc.clone()),
                    _ => None,
                },
                ..Default::default()
            }];
            codec
        }
    };
    (info, codec)
}

/// The samples `range` of `track` as one MPEG-TS segment (PAT/PMT first; the continuity
/// counters flagged as discontinuous, since each segment is made on its own), from the bytes of
/// its [`runs`]. Video access units are made complete here (AUD, and the parameter sets on
/// keyframes) while the length prefixes become start codes, so the muxer never scans them.
pub fn mux_ts(
    track: &mp4::Track,
    range: Range<usize>,
    runs: &[(u64, u64)],
    data: &[Bytes],
) -> Bytes {
    let samples = &track.samples[range];
    let (info, codec) = stream_info(track);
    let mut mux = mpegts::Muxer::new(&info);
    let payload: u64 = samples.iter().map(|s| s.size as u64).sum();
    let mut out = BytesMut::with_capacity((payload as usize) * 110 / 100 + 4096);
    mux.mark_discontinuity();
    mux.write_psi(&mut out);
    let (nal_len, params, aud): (Option<usize>, Vec<Bytes>, &[u8]) = match &track.codec {
        CodecConfig::H264 {
            nal_length_size,
            sps,
            pps,
            ..
        } => (
            Some(*nal_length_size as usize),
            sps.iter().chain(pps).cloned().collect(),
            &[0, 0, 0, 1, 0x09, 0xf0],
        ),
        CodecConfig::H265 {
            nal_length_size,
            vps,
            sps,
            pps,
            ..
        } => (
            Some(*nal_length_size as usize),
            vps.iter().chain(sps).chain(pps).cloned().collect(),
            &[0, 0, 0, 1, 0x46, 0x01, 0x50],
        ),
        _ => (None, Vec::new(), &[]),
    };
    let hevc = matches!(track.codec, CodecConfig::H265 { .. });
    let mut au = BytesMut::new();
    let mut run = 0;
    for s in samples {
        while run < runs.len() && runs[run].0 + runs[run].1 <= s.offset {
            run += 1;
        }
        let (Some((start, len)), Some(buf)) = (runs.get(run).copied(), data.get(run)) else {
            break;
        };
        let at = (s.offset - start) as usize;
        let end = at + s.size as usize;
        if s.offset < start || end as u64 > len || end > buf.len() {
            continue; // not in the bytes given: left out, the rest plays
        }
        let data = match nal_len {
            Some(n) => {
                au.reserve(s.size as usize + 64);
                au.extend_from_slice(aud);
                if s.sync {
                    for p in &params {
                        au.extend_from_slice(&[0, 0, 0, 1]);
                        au.extend_from_slice(p);
                    }
                }
                // length-prefixed NAL units → start codes, leaving out AUDs and parameter sets
                // already written
                let mut p = at;
                let mut ok = true;
                while p < end {
                    if p + n > end {
                        ok = false;
                        break;
                    }
                    let l = buf[p..p + n]
                        .iter()
                        .fold(0usize, |a, b| (a << 8) | *b as usize);
                    p += n;
                    if l == 0 || p + l > end {
                        ok = false;
                        break;
                    }
                    let nal = &buf[p..p + l];
                    let t = if hevc {
                        (nal[0] >> 1) & 0x3f
                    } else {
                        nal[0] & 0x1f
                    };
                    let skip = if hevc {
                        matches!(t, 32..=35)
                    } else {
                        matches!(t, 7..=9)
                    };
                    if !skip {
                        au.extend_from_slice(&[0, 0, 0, 1]);
                        au.extend_from_slice(nal);
                    }
                    p += l;
                }
                if !ok {
                    au.clear();
                    continue; // a damaged sample: left out, the rest plays
                }
                au.split().freeze()
            }
            None => buf.slice(at..end),
        };
        let pts = pts_90k(track, s) + PTS_OFFSET_90K;
        let ts = track.timescale.max(1) as i128;
        let dts = ((s.dts as i128 - track.edit_media_start as i128) * 90_000 / ts) as i64
            + PTS_OFFSET_90K;
        let frame = media::Frame {
            track: if codec.is_video() {
                media::Track::Video
            } else {
                media::Track::Audio(0)
            },
            codec,
            pts_90k: media::Ts90k(pts),
            dts_90k: media::Ts90k(dts.min(pts)),
            keyframe: s.sync,
            data,
        };
        if nal_len.is_some() {
            mux.write_prepared_frame(&frame, &mut out);
        } else {
            mux.write_frame(&frame, &mut out);
        }
    }
    out.freeze()
}

/// The WebVTT file of a subtitle rendition, with the header that maps its times onto the
/// segments' (`X-TIMESTAMP-MAP`, RFC 8216 3.5).
pub fn subtitle_with_timestamp_map(vtt: &str) -> String {
    let body = vtt.trim_start_matches('\u{feff}');
    let (first, rest) = body.split_once('\n').unwrap_or((body, ""));
    format!(
        "{}\nX-TIMESTAMP-MAP=MPEGTS:{PTS_OFFSET_90K},LOCAL:00:00:00.000\n{rest}",
        first.trim_end()
    )
}

/// Titles' indexes in memory, within a budget of bytes; the least recently used go first.
pub struct Cache {
    budget: usize,
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    /// id → (file identity, title, last use)
    map: HashMap<i64, (FileKey, Arc<Title>, u64)>,
    used: usize,
    tick: u64,
}

/// Which file an index was read from (a re-import replaces it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKey {
    pub len: u64,
    pub mtime_ns: i128,
    pub ino: u64,
}

impl FileKey {
    /// An edge's copy still arriving: known by the origin's size and checksum.
    pub fn arriving(size: u64, sha256: &str) -> FileKey {
        let h = sha256
            .bytes()
            .take(16)
            .fold(0u64, |h, b| h.wrapping_mul(131).wrapping_add(b as u64));
        FileKey {
            len: size,
            mtime_ns: -1,
            ino: h,
        }
    }

    pub fn of(meta: &std::fs::Metadata) -> FileKey {
        use std::os::unix::fs::MetadataExt;
        FileKey {
            len: meta.len(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            ino: meta.ino(),
        }
    }
}

impl Cache {
    pub fn new(budget_bytes: usize) -> Cache {
        Cache {
            budget: budget_bytes,
            inner: Mutex::new(CacheInner::default()),
        }
    }

    pub fn get(&self, id: i64, key: FileKey) -> Option<Arc<Title>> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.tick += 1;
        let tick = g.tick;
        match g.map.get_mut(&id) {
            Some((k, t, used)) if *k == key => {
                *used = tick;
                Some(t.clone())
            }
            _ => None,
        }
    }

    pub fn put(&self, id: i64, key: FileKey, title: Arc<Title>) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.tick += 1;
        let tick = g.tick;
        if let Some((_, old, _)) = g.map.remove(&id) {
            g.used -= old.cost;
        }
        g.used += title.cost;
        g.map.insert(id, (key, title, tick));
        // evict the least recently used until within budget (the newest always stays)
        while g.used > self.budget && g.map.len() > 1 {
            let Some((&victim, _)) = g
                .map
                .iter()
                .filter(|(k, _)| **k != id)
                .min_by_key(|(_, (_, _, used))| *used)
            else {
                break;
            };
            if let Some((_, t, _)) = g.map.remove(&victim) {
                g.used -= t.cost;
            }
        }
    }

    pub fn forget(&self, id: i64) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, t, _)) = g.map.remove(&id) {
            g.used -= t.cost;
        }
    }

    /// (titles, bytes) held.
    pub fn usage(&self) -> (usize, usize) {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (g.map.len(), g.used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_strings() {
        let sps = Bytes::from_static(&[0x67, 0x64, 0x00, 0x1f, 0xac]);
        let c = CodecConfig::H264 {
            avcc: Bytes::new(),
            nal_length_size: 4,
            sps: vec![sps],
            pps: vec![],
        };
        assert_eq!(codecs_string(&c).unwrap(), "avc1.64001f");
        // HEVC Main, level 3.1: hvcC starts 01 01 60 00 00 00 90 00 00 00 00 00 5d
        let hvcc = Bytes::from_static(&[
            0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5d,
        ]);
        let c = CodecConfig::H265 {
            hvcc,
            nal_length_size: 4,
            vps: vec![],
            sps: vec![],
            pps: vec![],
        };
        assert_eq!(codecs_string(&c).unwrap(), "hvc1.1.6.L93.90");
        let aac = CodecConfig::Aac {
            asc: Bytes::from_static(&[0x12, 0x10]),
        };
        assert_eq!(codecs_string(&aac).unwrap(), "mp4a.40.2");
    }

    #[test]
    fn subtitle_header_maps_times() {
        let v = subtitle_with_timestamp_map("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi\n");
        assert!(
            v.starts_with("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n\n00:00:01")
        );
    }

    #[test]
    fn language_names() {
        assert_eq!(language_name(Some("eng")), "English");
        assert_eq!(language_name(Some("zh-Hans")), "中文");
        assert_eq!(language_name(Some("xx")), "xx");
        assert_eq!(language_name(None), "Original");
        assert_eq!(
            unique_name("English".into(), 1, [Some("eng")].into_iter(), Some("eng")),
            "English 2"
        );
    }
}
