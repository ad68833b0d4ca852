//! Import: one file in (MP4/MOV, Matroska, MPEG-TS), one fast-start MP4 out, remuxed, never
//! transcoded. Blocking (runs on a thread of its own). The pure work is `crates/mp4` (boxes and
//! sample tables, both ways), `crates/mkv` (Matroska and the subtitle formats) and
//! `crates/mpegts`; this file moves bytes between them and the disk.
//!
//! Nothing half-imported is left behind: everything is written under
//! `{vod_dir}/.staging/{import}/`, checked by reading the new file's index back, and only then
//! does the caller insert the row and move the directory to `{vod_dir}/{id}/`.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use mp4::write::{SampleOut, TrackOut};
use mp4::{CodecConfig, TrackKind};
use serde_json::{json, Value};

/// Limits of one import (settings `vod_max_index_mib` …).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest `moov` box read from an MP4/MOV (its whole sample table), bytes.
    pub max_index_bytes: u64,
    /// Most samples in all tracks of one file.
    pub max_samples: u64,
    /// Largest subtitle file (sidecar), bytes.
    pub max_subtitle_bytes: u64,
    /// HLS segment target (`vod_segment_seconds`), 90 kHz: the stored file keeps each segment's
    /// samples together.
    pub segment_90k: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_index_bytes: 256 << 20,
            max_samples: 5_000_000,
            max_subtitle_bytes: 16 << 20,
            segment_90k: 6 * 90_000,
        }
    }
}

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file's problem, in words for the operator (unsupported codec, truncated, …).
    #[error("{0}")]
    Refused(String),
    /// The server's problem (disk full, permissions).
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

fn refused(s: impl Into<String>) -> ImportError {
    ImportError::Refused(s.into())
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ImportError {
    let context = context.into();
    move |source| ImportError::Io { context, source }
}

/// One subtitle track, as WebVTT cues.
#[derive(Debug, Clone)]
pub struct Subtitle {
    pub language: Option<String>,
    pub cues: Vec<mkv::subtitle::Cue>,
}

/// What was found in a file, ready to be written.
struct Demuxed {
    tracks: Vec<InTrack>,
    subtitles: Vec<Subtitle>,
    /// Tracks left out, in words (logged and kept in the import's outcome).
    notes: Vec<String>,
}

/// A track: its description and samples for the writer, and where each sample's bytes are.
struct InTrack {
    out: TrackOut,
    /// (offset, size) in the source file, or in the spool when `spooled`.
    loc: Vec<(u64, u32)>,
    spooled: bool,
}

/// The outcome: the staging directory holding `media.mp4` (+ `sub-{n}.vtt`), and the row.
#[derive(Debug)]
pub struct Imported {
    pub staging: PathBuf,
    pub title: super::catalog::NewTitle,
    pub notes: Vec<String>,
}

/// Subtitle files beside `path`: `name.srt`, `name.LANG.srt`, `name.vtt`, `name.LANG.vtt`.
pub fn sidecars(path: &Path) -> Vec<(PathBuf, Option<String>)> {
    let (Some(dir), Some(stem)) = (path.parent(), path.file_stem().and_then(|s| s.to_str())) else {
        return Vec::new();
    };
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(stem) else {
            continue;
        };
        let lower = rest.to_ascii_lowercase();
        let Some(mid) = lower
            .strip_suffix(".srt")
            .or_else(|| lower.strip_suffix(".vtt"))
        else {
            continue;
        };
        let lang = match mid {
            "" => None,
            m if m.starts_with('.')
                && (2..=8).contains(&(m.len() - 1))
                && m[1..]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-') =>
            {
                Some(rest[1..1 + m.len() - 1].to_string())
            }
            _ => continue,
        };
        out.push((e.path(), lang));
    }
    out.sort();
    out
}

/// What to import.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: PathBuf,
    /// The name it had (an upload's filename; else the path's file name).
    pub source_name: String,
    pub title: Option<String>,
    pub category: Option<String>,
    /// Subtitle files with their languages.
    pub subtitles: Vec<(PathBuf, Option<String>)>,
}

/// Imports `req` into `staging` (made here; removed on error). `progress` gets 0..1.
pub fn import(
    req: &Request,
    staging: &Path,
    limits: &Limits,
    progress: &mut dyn FnMut(f64),
) -> Result<Imported, ImportError> {
    std::fs::create_dir_all(staging).map_err(io(format!("creating {}", staging.display())))?;
    let r = import_into(req, staging, limits, progress);
    if r.is_err() {
        let _ = std::fs::remove_dir_all(staging);
    }
    r
}

fn import_into(
    req: &Request,
    staging: &Path,
    limits: &Limits,
    progress: &mut dyn FnMut(f64),
) -> Result<Imported, ImportError> {
    let src = File::open(&req.path).map_err(io(format!("opening {}", req.path.display())))?;
    let size = src
        .metadata()
        .map_err(io(format!("reading {}", req.path.display())))?
        .len();
    let mut head = vec![0u8; 4096.min(size as usize)];
    src.read_exact_at(&mut head, 0)
        .map_err(io(format!("reading {}", req.path.display())))?;
    let spool_path = staging.join("spool");
    let mut demuxed = match sniff(&head) {
        Container::Mp4 => demux_mp4(&src, size, limits)?,
        Container::Matroska => {
            let mut spool = File::create(&spool_path).map_err(io("creating the spool file"))?;
            demux_mkv(&src, size, &mut spool, limits, &mut |p| progress(p * 0.5))?
        }
        Container::MpegTs => {
            let mut spool = File::create(&spool_path).map_err(io("creating the spool file"))?;
            demux_ts(&src, size, &mut spool, limits, &mut |p| progress(p * 0.5))?
        }
        Container::Unknown => {
            return Err(refused(
                "not a file we can import: MP4/MOV, Matroska (MKV) or MPEG-TS expected",
            ))
        }
    };
    let spool = if demuxed.tracks.iter().any(|t| t.spooled) {
        Some(File::open(&spool_path).map_err(io("opening the spool file"))?)
    } else {
        None
    };
    choose_tracks(&mut demuxed)?;
    for (path, lang) in &req.subtitles {
        match read_subtitle_file(path, limits) {
            Ok(cues) => demuxed.subtitles.push(Subtitle {
                language: lang.clone(),
                cues,
            }),
            Err(e) => demuxed
                .notes
                .push(format!("subtitle file {} left out: {e}", path.display())),
        }
    }

    // write media.mp4: the header, then every sample's bytes in the layout's order
    let outs: Vec<TrackOut> = demuxed.tracks.iter().map(|t| t.out.clone()).collect();
    // each HLS segment of each rendition stored as one byte range (see index::segment_groups)
    let layout = match super::index::segment_groups(&outs, limits.segment_90k) {
        Some(groups) => mp4::fast_start_in_groups(&outs, 1000, &groups),
        None => mp4::write::fast_start(&outs, 1000),
    }
    .map_err(|e| refused(format!("cannot lay out the MP4: {e}")))?;
    let media_path = staging.join("media.mp4");
    let file = File::create(&media_path).map_err(io("creating media.mp4"))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    w.write_all(&layout.header)
        .map_err(io("writing media.mp4"))?;
    let mut sha = ring::digest::Context::new(&ring::digest::SHA256);
    sha.update(&layout.header);
    let base = if spool.is_some() { 0.5 } else { 0.0 };
    let total = layout.order.len().max(1);
    let mut buf = Vec::new();
    for (n, &(ti, si)) in layout.order.iter().enumerate() {
        let t = &demuxed.tracks[ti as usize];
        let (off, len) = t.loc[si as usize];
        buf.resize(len as usize, 0);
        let from = if t.spooled {
            spool.as_ref().unwrap_or(&src)
        } else {
            &src
        };
        from.read_exact_at(&mut buf, off).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                refused("the file is truncated: sample data runs past its end")
            } else {
                ImportError::Io {
                    context: "reading samples".into(),
                    source: e,
                }
            }
        })?;
        w.write_all(&buf).map_err(io("writing media.mp4"))?;
        sha.update(&buf);
        if n % 4096 == 0 {
            progress(base + (1.0 - base) * 0.95 * n as f64 / total as f64);
        }
    }
    let file = w.into_inner().map_err(|e| ImportError::Io {
        context: "writing media.mp4".into(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io("syncing media.mp4"))?;
    drop(spool);
    let _ = std::fs::remove_file(&spool_path);

    // read the new file's index back: what is stored is what is described
    let stored = super::index::read_movie(&media_path, limits)
        .map_err(|e| refused(format!("the remuxed file does not read back: {e}")))?;
    let mut subtitles = Vec::new();
    for (n, s) in demuxed.subtitles.iter().enumerate() {
        let name = format!("sub-{n}.vtt");
        let text = mkv::subtitle::write_webvtt(&s.cues);
        std::fs::write(staging.join(&name), text).map_err(io(format!("writing {name}")))?;
        subtitles.push(json!({"language": s.language, "file": name}));
    }
    let file_size = std::fs::metadata(&media_path)
        .map_err(io("reading media.mp4"))?
        .len();
    // a poster from a frame of the video (H.264); a failure only means no poster
    let poster = match super::poster::from_video(&media_path, &stored, &staging.join("poster.jpg"))
    {
        Ok(made) => made,
        Err(e) => {
            demuxed.notes.push(format!("no poster made: {e}"));
            false
        }
    };
    let media = describe(&stored, subtitles);
    let sha256: String = sha
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let duration_ms = super::index::duration_ms(&stored);
    progress(1.0);
    let title = req
        .title
        .clone()
        .unwrap_or_else(|| title_from_name(&req.source_name));
    Ok(Imported {
        staging: staging.to_path_buf(),
        title: super::catalog::NewTitle {
            title,
            category: req.category.clone(),
            duration_ms,
            media,
            size_bytes: file_size as i64,
            source_name: req.source_name.clone(),
            poster,
            sha256,
        },
        notes: demuxed.notes,
    })
}

/// "The.Big.Film.2019.mkv" → "The Big Film 2019".
pub fn title_from_name(name: &str) -> String {
    let stem = Path::new(name)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(name);
    let t: String = stem
        .chars()
        .map(|c| if c == '.' || c == '_' { ' ' } else { c })
        .collect();
    let t = t.trim();
    if t.is_empty() {
        "Untitled".into()
    } else {
        t.chars().take(300).collect()
    }
}

/// The tracks as the API describes them.
pub fn describe(m: &mp4::Movie, subtitles: Vec<Value>) -> Value {
    let video = m
        .tracks
        .iter()
        .find(|t| t.kind == TrackKind::Video)
        .map(|t| json!({"codec": codec_name(&t.codec), "width": t.width, "height": t.height}));
    let audio: Vec<Value> = m
        .tracks
        .iter()
        .filter(|t| t.kind == TrackKind::Audio)
        .map(|t| {
            json!({"codec": codec_name(&t.codec), "language": t.language,
                   "channels": t.channels, "sample_rate": t.sample_rate})
        })
        .collect();
    json!({"video": video, "audio": audio, "subtitles": subtitles})
}

pub fn codec_name(c: &CodecConfig) -> String {
    match c {
        CodecConfig::H264 { .. } => "h264".into(),
        CodecConfig::H265 { .. } => "hevc".into(),
        CodecConfig::Aac { .. } => "aac".into(),
        CodecConfig::Ac3 { .. } => "ac3".into(),
        CodecConfig::Eac3 { .. } => "eac3".into(),
        CodecConfig::Mp3 => "mp3".into(),
        CodecConfig::Unsupported { fourcc } => fourcc_name(fourcc),
    }
}

fn fourcc_name(f: &[u8; 4]) -> String {
    String::from_utf8_lossy(f).trim().to_string()
}

enum Container {
    Mp4,
    Matroska,
    MpegTs,
    Unknown,
}

fn sniff(head: &[u8]) -> Container {
    if head.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        return Container::Matroska;
    }
    if head.len() >= 8
        && matches!(
            &head[4..8],
            b"ftyp" | b"moov" | b"mdat" | b"free" | b"skip" | b"wide" | b"pnot"
        )
    {
        return Container::Mp4;
    }
    // MPEG-TS: sync bytes every 188 bytes (at least three in a row)
    if head.len() >= 188 * 3 && (0..3).all(|k| head[k * 188] == 0x47) {
        return Container::MpegTs;
    }
    Container::Unknown
}

/// Keeps one video track (H.264 or HEVC) and every audio track we can serve; refuses a file
/// without video, or whose video or every audio track needs transcoding.
fn choose_tracks(d: &mut Demuxed) -> Result<(), ImportError> {
    let mut video_seen = Vec::new();
    let mut audio_bad = Vec::new();
    let mut kept = Vec::new();
    let mut have_video = false;
    let mut audio_ok = 0;
    for t in std::mem::take(&mut d.tracks) {
        let supported = !matches!(t.out.codec, CodecConfig::Unsupported { .. });
        match t.out.kind {
            TrackKind::Video => {
                let name = codec_name(&t.out.codec);
                if supported && !have_video && !t.out.samples.is_empty() {
                    have_video = true;
                    kept.push(t);
                } else {
                    if have_video {
                        d.notes
                            .push(format!("a second video track ({name}) left out"));
                    }
                    video_seen.push(name);
                }
            }
            TrackKind::Audio => {
                if supported && !t.out.samples.is_empty() {
                    audio_ok += 1;
                    kept.push(t);
                } else {
                    let name = codec_name(&t.out.codec);
                    d.notes.push(format!(
                        "an audio track ({name}) left out: only AAC, AC-3, E-AC-3 and MP3 are served"
                    ));
                    audio_bad.push(name);
                }
            }
            _ => {}
        }
    }
    if !have_video {
        return Err(refused(match video_seen.first() {
            Some(c) => format!(
                "video codec {c} cannot be served without transcoding (H.264 or HEVC needed)"
            ),
            None => "no video track (H.264 or HEVC video is needed)".into(),
        }));
    }
    if audio_ok == 0 && !audio_bad.is_empty() {
        return Err(refused(format!(
            "audio codec {} cannot be served without transcoding (AAC, AC-3, E-AC-3 or MP3 needed)",
            audio_bad.join(", ")
        )));
    }
    d.tracks = kept;
    Ok(())
}

fn read_subtitle_file(path: &Path, limits: &Limits) -> Result<Vec<mkv::subtitle::Cue>, String> {
    let mut f = File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    (&mut f)
        .take(limits.max_subtitle_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limits.max_subtitle_bytes {
        return Err(format!(
            "larger than {} bytes (vod_max_subtitle_bytes)",
            limits.max_subtitle_bytes
        ));
    }
    let text = decode_text(&bytes);
    let is_vtt = text.trim_start_matches('\u{feff}').starts_with("WEBVTT");
    let cues = if is_vtt {
        mkv::subtitle::parse_webvtt(&text)
    } else {
        mkv::subtitle::parse_srt(&text)
    };
    cues.map_err(|e| e.to_string())
}

/// UTF-8 (with or without BOM), else UTF-16 with a BOM, else Latin-1.
fn decode_text(b: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(b) {
        return s.trim_start_matches('\u{feff}').to_string();
    }
    let utf16 = |le: bool| {
        let units: Vec<u16> = b[2..]
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16_lossy(&units)
    };
    match b {
        [0xff, 0xfe, ..] => utf16(true),
        [0xfe, 0xff, ..] => utf16(false),
        _ => b.iter().map(|&c| c as char).collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// MP4 / MOV

fn demux_mp4(src: &File, size: u64, limits: &Limits) -> Result<Demuxed, ImportError> {
    let movie =
        super::index::read_movie_from(src, size, limits).map_err(|e| refused(e.to_string()))?;
    let samples: u64 = movie.tracks.iter().map(|t| t.samples.len() as u64).sum();
    if samples > limits.max_samples {
        return Err(refused(format!(
            "{samples} samples: more than the {} allowed (vod_max_samples)",
            limits.max_samples
        )));
    }
    let mut d = Demuxed {
        tracks: Vec::new(),
        subtitles: Vec::new(),
        notes: Vec::new(),
    };
    for t in movie.tracks {
        if t.samples
            .iter()
            .any(|s| s.offset.saturating_add(s.size as u64) > size)
        {
            return Err(refused(
                "the file is truncated: its sample table points past the end of the file",
            ));
        }
        match t.kind {
            TrackKind::Video | TrackKind::Audio => {
                if t.edit_empty_delay > 0 {
                    d.notes.push(format!(
                        "track {} starts {} ticks late (an empty edit); it is played from the start",
                        t.id, t.edit_empty_delay
                    ));
                }
                let loc = t.samples.iter().map(|s| (s.offset, s.size)).collect();
                let samples = t
                    .samples
                    .iter()
                    .map(|s| SampleOut {
                        size: s.size,
                        duration: s.duration,
                        cts_offset: s.cts_offset,
                        sync: s.sync,
                    })
                    .collect();
                d.tracks.push(InTrack {
                    out: TrackOut {
                        kind: t.kind,
                        codec: t.codec.clone(),
                        timescale: t.timescale,
                        language: t.language.clone(),
                        width: t.width,
                        height: t.height,
                        sample_rate: t.sample_rate,
                        channels: t.channels,
                        edit_media_start: t.edit_media_start,
                        samples,
                    },
                    loc,
                    spooled: false,
                });
            }
            TrackKind::Subtitle => match &t.codec {
                CodecConfig::Unsupported {
                    fourcc: [b't', b'x', b'3', b'g'],
                } => {
                    let cues = tx3g_cues(src, &t);
                    if !cues.is_empty() {
                        d.subtitles.push(Subtitle {
                            language: t.language.clone(),
                            cues,
                        });
                    }
                }
                c => d
                    .notes
                    .push(format!("subtitle track ({}) left out", codec_name(c))),
            },
            TrackKind::Other(_) => {}
        }
    }
    Ok(d)
}

/// 3GPP timed text (mov_text): each sample is a 16-bit length and UTF-8 text.
fn tx3g_cues(src: &File, t: &mp4::Track) -> Vec<mkv::subtitle::Cue> {
    let ts = t.timescale.max(1) as i64;
    let mut cues = Vec::new();
    for s in t.samples.iter().take(200_000) {
        if s.size < 2 || s.size > 64 * 1024 {
            continue;
        }
        let mut b = vec![0u8; s.size as usize];
        if src.read_exact_at(&mut b, s.offset).is_err() {
            continue;
        }
        let n = (u16::from_be_bytes([b[0], b[1]]) as usize).min(b.len() - 2);
        let text = String::from_utf8_lossy(&b[2..2 + n]).trim().to_string();
        if text.is_empty() {
            continue;
        }
        let start_ms = (s.dts - t.edit_media_start) * 1000 / ts;
        let end_ms = (s.dts + s.duration as i64 - t.edit_media_start) * 1000 / ts;
        cues.push(mkv::subtitle::Cue {
            start_ms,
            end_ms,
            text,
        });
    }
    cues
}

// ---------------------------------------------------------------------------------------------
// Spooled sources (Matroska, MPEG-TS): samples are copied to a spool file as they are read, with
// their times; the sample tables are made once the whole file is read.

/// A track being gathered from a spooled source: times in 90 kHz.
struct Gather {
    kind: TrackKind,
    codec: CodecConfig,
    language: Option<String>,
    width: u32,
    height: u32,
    sample_rate: u32,
    channels: u16,
    /// (pts_90k, dts_90k or None = derive, keyframe, spool offset, size)
    samples: Vec<(i64, Option<i64>, bool, u64, u32)>,
    /// Length of a frame, 90 kHz, when the source says (the last sample's duration).
    default_duration_90k: Option<i64>,
}

struct Spool<'a> {
    file: BufWriter<&'a mut File>,
    len: u64,
    samples: u64,
    max_samples: u64,
}

impl Spool<'_> {
    fn add(&mut self, data: &[u8]) -> Result<(u64, u32), ImportError> {
        self.samples += 1;
        if self.samples > self.max_samples {
            return Err(refused(format!(
                "more than {} samples (vod_max_samples)",
                self.max_samples
            )));
        }
        let off = self.len;
        self.file
            .write_all(data)
            .map_err(io("writing the spool file"))?;
        self.len += data.len() as u64;
        Ok((off, data.len() as u32))
    }
}

/// Decode times for frames that carry presentation times only (Matroska video): the sorted
/// presentation times, shifted back by the largest reordering delay, so every decode time is
/// at or before its presentation time and they rise.
pub fn derive_dts(pts: &[i64]) -> Vec<i64> {
    let mut sorted = pts.to_vec();
    sorted.sort_unstable();
    let delay = sorted
        .iter()
        .zip(pts)
        .map(|(s, p)| s - p)
        .max()
        .unwrap_or(0)
        .max(0);
    sorted.iter().map(|s| s - delay).collect()
}

/// The gathered tracks as writer tracks: 90 kHz timescale, durations from the next decode
/// time, composition offsets from presentation times, and an edit list that starts every track
/// at the file's earliest presentation time (so audio and video keep their offset).
fn finish_gathered(gathered: Vec<Gather>) -> Vec<InTrack> {
    let mut prepared = Vec::new();
    for g in gathered {
        if g.samples.is_empty() {
            continue;
        }
        let pts: Vec<i64> = g.samples.iter().map(|s| s.0).collect();
        let dts: Vec<i64> = if g.samples.iter().all(|s| s.1.is_some()) {
            g.samples.iter().map(|s| s.1.unwrap_or(s.0)).collect()
        } else if g.kind == TrackKind::Video {
            derive_dts(&pts)
        } else {
            pts.clone()
        };
        prepared.push((g, pts, dts));
    }
    let start = prepared
        .iter()
        .filter_map(|(_, pts, _)| pts.iter().min().copied())
        .min()
        .unwrap_or(0);
    let mut out = Vec::new();
    for (g, pts, dts) in prepared {
        let n = g.samples.len();
        let mut samples = Vec::with_capacity(n);
        let mut loc = Vec::with_capacity(n);
        let mut last_dur = g.default_duration_90k.unwrap_or(3000).max(1);
        for i in 0..n {
            let dur = if i + 1 < n {
                (dts[i + 1] - dts[i]).max(0)
            } else {
                last_dur
            };
            if i + 1 < n && dur > 0 {
                last_dur = dur;
            }
            let (_, _, key, off, size) = g.samples[i];
            samples.push(SampleOut {
                size,
                duration: dur.clamp(0, u32::MAX as i64) as u32,
                cts_offset: (pts[i] - dts[i]).clamp(i32::MIN as i64, i32::MAX as i64) as i32,
                sync: key || g.kind == TrackKind::Audio,
            });
            loc.push((off, size));
        }
        // presentation time in the file = dts - dts[0] + cts - edit; want pts - start
        let edit_media_start = start - dts[0];
        out.push(InTrack {
            out: TrackOut {
                kind: g.kind,
                codec: g.codec,
                timescale: 90_000,
                language: g.language,
                width: g.width,
                height: g.height,
                sample_rate: g.sample_rate,
                channels: g.channels,
                // a track starting later than the file cannot be delayed by an edit list here:
                // it starts with the others (noted by the caller when large)
                edit_media_start: edit_media_start.max(0),
                samples,
            },
            loc,
            spooled: true,
        });
    }
    out
}

/// The codec configuration an audio track needs, from its first frame where the container
/// gives none (AC-3, E-AC-3, MP3).
fn audio_config_from_frame(codec: &CodecConfig, frame: &[u8]) -> Option<(CodecConfig, u32, u16)> {
    match codec {
        CodecConfig::Ac3 { dac3 } if dac3.is_empty() => {
            let d = mp4::codec::dac3_from_frame(frame).ok()?;
            let (rate, ch) = mp4::codec::ac3_info(&d).ok()?;
            Some((CodecConfig::Ac3 { dac3: d }, rate, ch))
        }
        CodecConfig::Eac3 { dec3 } if dec3.is_empty() => {
            let d = mp4::codec::dec3_from_frame(frame).ok()?;
            let (rate, ch) = mp4::codec::eac3_info(&d).ok()?;
            Some((CodecConfig::Eac3 { dec3: d }, rate, ch))
        }
        CodecConfig::Mp3 => {
            let (rate, ch) = mpeg_audio_header(frame)?;
            Some((CodecConfig::Mp3, rate, ch))
        }
        _ => None,
    }
}

/// Sample rate and channels from an MPEG audio frame header.
pub fn mpeg_audio_header(b: &[u8]) -> Option<(u32, u16)> {
    if b.len() < 4 || b[0] != 0xff || b[1] & 0xe0 != 0xe0 {
        return None;
    }
    let version = (b[1] >> 3) & 3; // 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
    let rate_idx = ((b[2] >> 2) & 3) as usize;
    let base = [44_100, 48_000, 32_000, 0][rate_idx];
    let rate = match version {
        3 => base,
        2 => base / 2,
        0 => base / 4,
        _ => return None,
    };
    if rate == 0 {
        return None;
    }
    let channels = if b[3] >> 6 == 3 { 1 } else { 2 };
    Some((rate, channels))
}

fn mkv_codec(t: &mkv::TrackEntry) -> (TrackKind, CodecConfig) {
    let private = t.codec_private.clone().unwrap_or_default();
    let unsupported = |id: &str| {
        let mut f = [b' '; 4];
        for (i, b) in id
            .trim_start_matches(['V', 'A', 'S'])
            .trim_start_matches('_')
            .bytes()
            .take(4)
            .enumerate()
        {
            f[i] = b.to_ascii_lowercase();
        }
        CodecConfig::Unsupported { fourcc: f }
    };
    match (t.kind, t.codec_id.as_str()) {
        (mkv::TrackKind::Video, "V_MPEG4/ISO/AVC") => {
            let parsed = media::h264::AvcDecoderConfig::parse(&private);
            match parsed {
                Some(p) => (
                    TrackKind::Video,
                    CodecConfig::H264 {
                        avcc: private.clone(),
                        nal_length_size: p.length_size as u8,
                        sps: p.sps,
                        pps: p.pps,
                    },
                ),
                None => (TrackKind::Video, unsupported("V_AVC?")),
            }
        }
        (mkv::TrackKind::Video, "V_MPEGH/ISO/HEVC") => {
            match mp4::codec::parse_hvcc(&private).ok() {
                Some((len, vps, sps, pps)) => (
                    TrackKind::Video,
                    CodecConfig::H265 {
                        hvcc: private.clone(),
                        nal_length_size: len,
                        vps,
                        sps,
                        pps,
                    },
                ),
                None => (TrackKind::Video, unsupported("V_HEVC?")),
            }
        }
        (mkv::TrackKind::Video, id) => (TrackKind::Video, unsupported(id)),
        (mkv::TrackKind::Audio, "A_AAC") | (mkv::TrackKind::Audio, "A_AAC/MPEG4/LC")
            if !private.is_empty() =>
        {
            (TrackKind::Audio, CodecConfig::Aac { asc: private })
        }
        (mkv::TrackKind::Audio, "A_AC3") => {
            (TrackKind::Audio, CodecConfig::Ac3 { dac3: Bytes::new() })
        }
        (mkv::TrackKind::Audio, "A_EAC3") => {
            (TrackKind::Audio, CodecConfig::Eac3 { dec3: Bytes::new() })
        }
        (mkv::TrackKind::Audio, "A_MPEG/L3") => (TrackKind::Audio, CodecConfig::Mp3),
        (mkv::TrackKind::Audio, id) => (TrackKind::Audio, unsupported(id)),
        (mkv::TrackKind::Subtitle, id) => (TrackKind::Subtitle, unsupported(id)),
        (_, id) => (TrackKind::Other(*b"othr"), unsupported(id)),
    }
}

const READ_CHUNK: usize = 1 << 20;

/// A Matroska text subtitle track being read: number, codec id, language, and its frames
/// (time ms, duration ms, text).
type TextTrack = (u64, String, Option<String>, Vec<(i64, Option<u64>, Bytes)>);

fn demux_mkv(
    src: &File,
    size: u64,
    spool_file: &mut File,
    limits: &Limits,
    progress: &mut dyn FnMut(f64),
) -> Result<Demuxed, ImportError> {
    let mut demux = mkv::Demuxer::new(mkv::Limits::default());
    let mut spool = Spool {
        file: BufWriter::with_capacity(1 << 20, spool_file),
        len: 0,
        samples: 0,
        max_samples: limits.max_samples,
    };
    let mut d = Demuxed {
        tracks: Vec::new(),
        subtitles: Vec::new(),
        notes: Vec::new(),
    };
    // track number → index into gathered / subtitle frames
    let mut av: Vec<(u64, usize)> = Vec::new();
    let mut gathered: Vec<Gather> = Vec::new();
    let mut subs: Vec<TextTrack> = Vec::new();
    let mut first_frames: Vec<Option<Bytes>> = Vec::new();
    let mut saw_tracks = false;
    let mut buf = vec![0u8; READ_CHUNK];
    let mut off = 0u64;
    let mut r = src;
    loop {
        let n = r.read(&mut buf).map_err(io("reading the file"))?;
        if n == 0 {
            break;
        }
        off += n as u64;
        demux.push(&buf[..n]);
        loop {
            let ev = demux.poll().map_err(|e| refused(mkv_error(e)))?;
            let Some(ev) = ev else { break };
            match ev {
                mkv::Event::Tracks(tracks) => {
                    if saw_tracks {
                        continue;
                    }
                    saw_tracks = true;
                    for t in tracks {
                        let (kind, codec) = mkv_codec(&t);
                        match kind {
                            TrackKind::Subtitle => {
                                if matches!(t.codec_id.as_str(), "S_TEXT/UTF8" | "S_TEXT/WEBVTT") {
                                    subs.push((
                                        t.number,
                                        t.codec_id.clone(),
                                        t.language.clone(),
                                        Vec::new(),
                                    ));
                                } else {
                                    demux.ignore_track(t.number);
                                    d.notes.push(format!(
                                        "subtitle track {} ({}) left out: only text subtitles are kept",
                                        t.number, t.codec_id
                                    ));
                                }
                            }
                            TrackKind::Other(_) => demux.ignore_track(t.number),
                            _ => {
                                if matches!(codec, CodecConfig::Unsupported { .. }) {
                                    demux.ignore_track(t.number);
                                }
                                av.push((t.number, gathered.len()));
                                first_frames.push(None);
                                gathered.push(Gather {
                                    kind,
                                    codec,
                                    language: t.language.clone(),
                                    width: t.width,
                                    height: t.height,
                                    sample_rate: t.sample_rate as u32,
                                    channels: t.channels as u16,
                                    samples: Vec::new(),
                                    default_duration_90k: t
                                        .default_duration_ns
                                        .map(|ns| (ns as i128 * 9 / 100_000) as i64),
                                });
                            }
                        }
                    }
                }
                mkv::Event::Frame(f) => {
                    if let Some(&(_, i)) = av.iter().find(|(n, _)| *n == f.track) {
                        let g = &mut gathered[i];
                        if matches!(g.codec, CodecConfig::Unsupported { .. }) {
                            continue;
                        }
                        if g.kind == TrackKind::Video && g.samples.is_empty() && !f.keyframe {
                            continue; // a file must start on a keyframe
                        }
                        if first_frames[i].is_none() {
                            first_frames[i] = Some(f.data.clone());
                        }
                        let (o, s) = spool.add(&f.data)?;
                        let pts_90k = (f.pts_ns as i128 * 9 / 100_000) as i64;
                        g.samples.push((pts_90k, None, f.keyframe, o, s));
                    } else if let Some(s) = subs.iter_mut().find(|s| s.0 == f.track) {
                        if s.3.len() < 200_000 {
                            s.3.push((
                                f.pts_ns / 1_000_000,
                                f.duration_ns.map(|d| d / 1_000_000),
                                f.data,
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        progress(off as f64 / size.max(1) as f64);
    }
    demux.finish().map_err(|e| refused(mkv_error(e)))?;
    if !saw_tracks {
        return Err(refused("the Matroska file has no track list"));
    }
    spool.file.flush().map_err(io("writing the spool file"))?;
    for (i, g) in gathered.iter_mut().enumerate() {
        if let Some(frame) = &first_frames[i] {
            if let Some((c, rate, ch)) = audio_config_from_frame(&g.codec, frame) {
                g.codec = c;
                g.sample_rate = rate;
                g.channels = ch;
            }
        }
        if matches!(&g.codec, CodecConfig::Ac3 { dac3 } if dac3.is_empty())
            || matches!(&g.codec, CodecConfig::Eac3 { dec3 } if dec3.is_empty())
        {
            g.codec = CodecConfig::Unsupported { fourcc: *b"ac-3" };
        }
    }
    for (_, codec_id, language, frames) in subs {
        let cues = mkv::subtitle::cues_from_frames(&frames, &codec_id);
        if !cues.is_empty() {
            d.subtitles.push(Subtitle { language, cues });
        }
    }
    let unsupported: Vec<Gather> = gathered
        .iter()
        .filter(|g| matches!(g.codec, CodecConfig::Unsupported { .. }))
        .map(|g| Gather {
            kind: g.kind,
            codec: g.codec.clone(),
            language: None,
            width: 0,
            height: 0,
            sample_rate: 0,
            channels: 0,
            samples: Vec::new(),
            default_duration_90k: None,
        })
        .collect();
    gathered.retain(|g| !matches!(g.codec, CodecConfig::Unsupported { .. }));
    d.tracks = finish_gathered(gathered);
    // unsupported tracks stay visible to choose_tracks (for the refusal's words)
    for g in unsupported {
        d.tracks.push(InTrack {
            out: TrackOut {
                kind: g.kind,
                codec: g.codec,
                timescale: 90_000,
                language: None,
                width: 0,
                height: 0,
                sample_rate: 0,
                channels: 0,
                edit_media_start: 0,
                samples: Vec::new(),
            },
            loc: Vec::new(),
            spooled: true,
        });
    }
    Ok(d)
}

fn mkv_error(e: mkv::Error) -> String {
    match e {
        mkv::Error::Truncated { .. } => format!("the file is truncated ({e})"),
        e => format!("not a Matroska file we can read: {e}"),
    }
}

fn demux_ts(
    src: &File,
    size: u64,
    spool_file: &mut File,
    limits: &Limits,
    progress: &mut dyn FnMut(f64),
) -> Result<Demuxed, ImportError> {
    let mut demux = mpegts::Demuxer::new();
    let mut spool = Spool {
        file: BufWriter::with_capacity(1 << 20, spool_file),
        len: 0,
        samples: 0,
        max_samples: limits.max_samples,
    };
    let mut video: Option<Gather> = None;
    let mut audio: Option<Gather> = None;
    let mut info = media::StreamInfo::default();
    let mut events = Vec::new();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut off = 0u64;
    let mut r = src;
    let mut done = false;
    while !done {
        let n = r.read(&mut buf).map_err(io("reading the file"))?;
        if n == 0 {
            demux.flush(&mut events);
            done = true;
        } else {
            off += n as u64;
            demux.push(&buf[..n], &mut events);
        }
        for ev in events.drain(..) {
            match ev {
                media::MediaEvent::Info(i) => info = i,
                media::MediaEvent::Frame(f) => {
                    let data = match f.codec {
                        media::Codec::H264 => strip_params(&f.data, false),
                        media::Codec::H265 => strip_params(&f.data, true),
                        _ => f.data.to_vec(),
                    };
                    // a TS film keeps its video and first audio track
                    let slot = match f.track {
                        media::Track::Video => &mut video,
                        media::Track::Audio(0) => &mut audio,
                        _ => continue,
                    };
                    if slot.is_none() {
                        let Some(g) = ts_track(&f, &info) else {
                            continue;
                        };
                        *slot = Some(g);
                    }
                    let Some(g) = slot.as_mut() else { continue };
                    if f.track == media::Track::Video && g.samples.is_empty() && !f.keyframe {
                        continue;
                    }
                    if data.is_empty() {
                        continue;
                    }
                    let (o, s) = spool.add(&data)?;
                    g.samples
                        .push((f.pts_90k.0, Some(f.dts_90k.0), f.keyframe, o, s));
                }
            }
        }
        progress(off as f64 / size.max(1) as f64);
    }
    spool.file.flush().map_err(io("writing the spool file"))?;
    let stats = demux.stats();
    let mut d = Demuxed {
        tracks: Vec::new(),
        subtitles: Vec::new(),
        notes: Vec::new(),
    };
    if video.is_none() && audio.is_none() {
        return Err(refused(format!(
            "no audio or video found in the MPEG-TS file ({stats:?})"
        )));
    }
    let gathered: Vec<Gather> = video.into_iter().chain(audio).collect();
    d.tracks = finish_gathered(gathered);
    Ok(d)
}

/// A writer track for the first frame of an MPEG-TS stream.
fn ts_track(f: &media::Frame, info: &media::StreamInfo) -> Option<Gather> {
    let (kind, codec, width, height, rate, ch) = match f.codec {
        media::Codec::H264 | media::Codec::H265 => {
            let v = info.video.clone().unwrap_or_default();
            let codec = if f.codec == media::Codec::H264 {
                let sps: Vec<Bytes> = v.sps.clone();
                let pps: Vec<Bytes> = v.pps.clone();
                match mp4::codec::avcc_from_parameter_sets(&sps, &pps) {
                    Ok(avcc) => CodecConfig::H264 {
                        avcc,
                        nal_length_size: 4,
                        sps,
                        pps,
                    },
                    Err(_) => return None,
                }
            } else {
                // VideoConfig.sps holds VPS + SPS for HEVC
                let (vps, sps): (Vec<Bytes>, Vec<Bytes>) = v
                    .sps
                    .iter()
                    .cloned()
                    .partition(|n| n.first().map(|b| (b >> 1) & 0x3f) == Some(32));
                match mp4::codec::hvcc_from_parameter_sets(&vps, &sps, &v.pps) {
                    Ok(hvcc) => CodecConfig::H265 {
                        hvcc,
                        nal_length_size: 4,
                        vps,
                        sps,
                        pps: v.pps.clone(),
                    },
                    Err(_) => return None,
                }
            };
            (TrackKind::Video, codec, v.width, v.height, 0, 0)
        }
        media::Codec::Aac => {
            let a = info.audio.first().cloned().unwrap_or_default();
            let asc = a.asc.clone()?;
            (
                TrackKind::Audio,
                CodecConfig::Aac { asc },
                0,
                0,
                a.sample_rate,
                a.channels as u16,
            )
        }
        media::Codec::Ac3 | media::Codec::Eac3 | media::Codec::Mpeg1Audio => {
            let empty = match f.codec {
                media::Codec::Ac3 => CodecConfig::Ac3 { dac3: Bytes::new() },
                media::Codec::Eac3 => CodecConfig::Eac3 { dec3: Bytes::new() },
                _ => CodecConfig::Mp3,
            };
            let (c, rate, ch) = audio_config_from_frame(&empty, &f.data)?;
            (TrackKind::Audio, c, 0, 0, rate, ch)
        }
        media::Codec::Teletext | media::Codec::DvbSubtitle => return None,
    };
    let language = match kind {
        TrackKind::Audio => info.audio.first().and_then(|a| a.language.clone()),
        _ => None,
    };
    Some(Gather {
        kind,
        codec,
        language,
        width,
        height,
        sample_rate: rate,
        channels: ch,
        samples: Vec::new(),
        default_duration_90k: None,
    })
}

/// Annex B access unit → 4-byte length-prefixed NAL units without access unit delimiters and
/// parameter sets (those are in the sample entry).
fn strip_params(annexb: &[u8], hevc: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(annexb.len() + 16);
    for nal in media::h264::annexb_nals(annexb) {
        let drop = if hevc {
            matches!((nal[0] >> 1) & 0x3f, 32..=35)
        } else {
            matches!(nal[0] & 0x1f, 7..=9)
        };
        if !drop {
            out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            out.extend_from_slice(nal);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_times_from_presentation_times() {
        // I P B B (decode order), presentation 0, 3, 1, 2 (frames)
        let pts = [0, 3, 1, 2];
        let dts = derive_dts(&pts);
        assert_eq!(dts, vec![-1, 0, 1, 2]);
        for (d, p) in dts.iter().zip(pts) {
            assert!(*d <= p);
        }
        assert!(dts.windows(2).all(|w| w[0] < w[1]));
        // no reordering: unchanged
        assert_eq!(derive_dts(&[0, 10, 20]), vec![0, 10, 20]);
    }

    #[test]
    fn names_and_sidecars() {
        assert_eq!(
            title_from_name("The.Big_Film.2019.mkv"),
            "The Big Film 2019"
        );
        assert_eq!(title_from_name(".mp4"), "mp4");
        let dir = std::env::temp_dir().join(format!("atoll-sidecar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in [
            "film.mkv",
            "film.srt",
            "film.zh.srt",
            "film.en-GB.vtt",
            "film2.srt",
            "film.x.y.srt",
        ] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let found: Vec<_> = sidecars(&dir.join("film.mkv"))
            .into_iter()
            .map(|(p, l)| (p.file_name().unwrap().to_str().unwrap().to_string(), l))
            .collect();
        assert_eq!(
            found,
            vec![
                ("film.en-GB.vtt".to_string(), Some("en-GB".to_string())),
                ("film.srt".to_string(), None),
                ("film.zh.srt".to_string(), Some("zh".to_string())),
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mpeg_audio_headers() {
        // MPEG-1 layer III, 44.1 kHz, joint stereo
        assert_eq!(
            mpeg_audio_header(&[0xff, 0xfb, 0x90, 0x44]),
            Some((44_100, 2))
        );
        // MPEG-2, 24 kHz, mono
        assert_eq!(
            mpeg_audio_header(&[0xff, 0xf3, 0x84, 0xc4]),
            Some((24_000, 1))
        );
        assert_eq!(mpeg_audio_header(&[0x00, 0x00, 0x00, 0x00]), None);
    }

    #[test]
    fn text_encodings() {
        assert_eq!(decode_text("\u{feff}hi".as_bytes()), "hi");
        assert_eq!(decode_text(&[0xff, 0xfe, b'h', 0, b'i', 0]), "hi");
        assert_eq!(decode_text(&[b'c', 0xe9]), "cé");
    }
}
