//! Laying out a fast-start MP4: `ftyp`, `moov`, then `mdat`, for samples the caller copies in.

use crate::codec::pack_language;
use crate::{invalid, CodecConfig, Error, TrackKind};

/// One track to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackOut {
    /// [`TrackKind::Video`] (with an H.264 or H.265 codec) or [`TrackKind::Audio`] (AAC, MP3,
    /// AC-3, E-AC-3); anything else is refused.
    pub kind: TrackKind,
    /// Codec and decoder configuration record written into the sample entry. H.264/H.265
    /// samples are length-prefixed NAL units with 4-byte lengths unless the record says
    /// otherwise; `nal_length_size`, `sps`, `pps`, `vps` are not written (the record is).
    pub codec: CodecConfig,
    /// Media timescale, ticks per second (e.g. 90000 for video, the sample rate for audio).
    pub timescale: u32,
    /// ISO 639-2 language (three letters) for `mdhd`; `None` writes "und".
    pub language: Option<String>,
    /// Video width in pixels (sample entry and `tkhd`); ignored for audio.
    pub width: u32,
    /// Video height in pixels; ignored for audio.
    pub height: u32,
    /// Audio sample rate in Hz for the sample entry (0: taken from the `dac3`/`dec3` when
    /// there is one); rates above 65535 are written as 0 in the 16.16 field.
    pub sample_rate: u32,
    /// Audio channel count for the sample entry (0: 2, or from `dac3`/`dec3`).
    pub channels: u16,
    /// Media time (media timescale) where presentation starts, written as a one-entry `elst`
    /// (e.g. the first sample's composition offset, or the AAC priming delay); 0 = no `elst`.
    /// Must not be negative.
    pub edit_media_start: i64,
    /// The samples, in decode order.
    pub samples: Vec<SampleOut>,
}

/// One sample to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleOut {
    /// Size in bytes.
    pub size: u32,
    /// Duration in the track's media timescale.
    pub duration: u32,
    /// Composition time minus decode time, in the media timescale (may be negative: `ctts`
    /// version 1 is written then).
    pub cts_offset: i32,
    /// A sync sample (key frame).
    pub sync: bool,
}

/// The file layout produced by [`fast_start`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `ftyp` + `moov` + `mdat` header: write this first, then the samples' bytes in `order`.
    pub header: Vec<u8>,
    /// (track index, sample index) in file order.
    pub order: Vec<(u16, u32)>,
    /// Size of the whole file in bytes (header plus every sample).
    pub total_size: u64,
}

/// Target chunk duration: half a second of each track.
const CHUNK_DIVISOR: u32 = 2;

/// A run of consecutive samples of one track stored together.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    track: usize,
    first: usize,
    count: usize,
    start_dts: u64,
    /// Offset from the first byte of the mdat payload.
    rel_offset: u64,
}

/// Lays out a fast-start MP4: `ftyp` (major brand isom, compatible isom, iso2, avc1, mp41),
/// `moov` (`mvhd`; per track `tkhd`, `edts/elst` when `edit_media_start` is not 0,
/// `mdia(mdhd, hdlr, minf(vmhd|smhd, dinf/dref, stbl(stsd, stts, ctts, stss, stsc, stsz,
/// stco|co64)))`), then the `mdat` header (64-bit size when the payload needs it).
///
/// `ctts` is written when an offset is not 0 (version 1 when one is negative), `stss` when
/// not every sample is a sync sample, `co64` instead of `stco` when a chunk starts past
/// 4 GiB. Samples are interleaved in chunks of about 0.5 s of each track, ordered by decode
/// time (ties: lower track index first). Track IDs are the track index + 1. `movie_timescale`
/// is the `mvhd` timescale (e.g. 1000).
pub fn fast_start(tracks: &[TrackOut], movie_timescale: u32) -> Result<Layout, Error> {
    if movie_timescale == 0 {
        return Err(invalid("movie timescale"));
    }
    if tracks.len() > usize::from(u16::MAX) {
        return Err(Error::TooLarge {
            what: "track count",
            limit: u64::from(u16::MAX),
        });
    }
    for t in tracks {
        validate(t)?;
    }

    // chunks per track
    let mut chunks: Vec<Chunk> = Vec::new();
    for (ti, t) in tracks.iter().enumerate() {
        let target = u64::from((t.timescale / CHUNK_DIVISOR).max(1));
        let mut dts = 0u64;
        let mut i = 0usize;
        while i < t.samples.len() {
            let start = dts;
            let first = i;
            while i < t.samples.len() && dts - start < target {
                dts += u64::from(t.samples[i].duration);
                i += 1;
            }
            chunks.push(Chunk {
                track: ti,
                first,
                count: i - first,
                start_dts: start,
                rel_offset: 0,
            });
        }
    }
    // file order: by start time, then track, then chunk order within the track
    let mut order: Vec<usize> = (0..chunks.len()).collect();
    order.sort_by(|&a, &b| {
        let (ca, cb) = (&chunks[a], &chunks[b]);
        let ta = u128::from(tracks[ca.track].timescale);
        let tb = u128::from(tracks[cb.track].timescale);
        (u128::from(ca.start_dts) * tb)
            .cmp(&(u128::from(cb.start_dts) * ta))
            .then(ca.track.cmp(&cb.track))
            .then(a.cmp(&b))
    });
    lay_out(tracks, movie_timescale, chunks, &order)
}

/// As [`fast_start`], with the samples stored in the given groups, in this file order: each
/// group is `(track index, first sample, sample count)`, and each track's groups must follow
/// one another and cover all its samples. A group is one chunk, its samples' bytes contiguous:
/// grouping each track's samples by HLS segment makes every segment one byte range of the file
/// (an fMP4 segment is then a small header plus that range).
pub fn fast_start_in_groups(
    tracks: &[TrackOut],
    movie_timescale: u32,
    groups: &[(u16, u32, u32)],
) -> Result<Layout, Error> {
    if movie_timescale == 0 {
        return Err(invalid("movie timescale"));
    }
    if tracks.len() > usize::from(u16::MAX) {
        return Err(Error::TooLarge {
            what: "track count",
            limit: u64::from(u16::MAX),
        });
    }
    for t in tracks {
        validate(t)?;
    }
    let mut next = vec![0usize; tracks.len()];
    let mut dts = vec![0u64; tracks.len()];
    let mut chunks = Vec::with_capacity(groups.len());
    for &(track, first, count) in groups {
        let ti = usize::from(track);
        let t = tracks.get(ti).ok_or_else(|| invalid("group track"))?;
        let (first, count) = (first as usize, count as usize);
        if first != next[ti] || count == 0 || first + count > t.samples.len() {
            return Err(invalid("groups (each track's must follow one another)"));
        }
        chunks.push(Chunk {
            track: ti,
            first,
            count,
            start_dts: dts[ti],
            rel_offset: 0,
        });
        dts[ti] += t.samples[first..first + count]
            .iter()
            .map(|s| u64::from(s.duration))
            .sum::<u64>();
        next[ti] = first + count;
    }
    if next.iter().zip(tracks).any(|(n, t)| *n != t.samples.len()) {
        return Err(invalid("groups (every sample in one)"));
    }
    let order: Vec<usize> = (0..chunks.len()).collect();
    lay_out(tracks, movie_timescale, chunks, &order)
}

fn lay_out(
    tracks: &[TrackOut],
    movie_timescale: u32,
    mut chunks: Vec<Chunk>,
    order: &[usize],
) -> Result<Layout, Error> {
    let mut rel = 0u64;
    let mut file_order = Vec::with_capacity(tracks.iter().map(|t| t.samples.len()).sum());
    for &ci in order {
        let c = &mut chunks[ci];
        c.rel_offset = rel;
        let t = &tracks[c.track];
        for s in c.first..c.first + c.count {
            rel += u64::from(t.samples[s].size);
            file_order.push((c.track as u16, s as u32));
        }
    }
    let mdat_payload = rel;
    let max_rel = chunks.iter().map(|c| c.rel_offset).max().unwrap_or(0);

    let ftyp = ftyp();
    let mdat_header_len: u64 = if mdat_payload + 8 > u64::from(u32::MAX) {
        16
    } else {
        8
    };
    let mut co64 = false;
    let mut moov_len = moov(tracks, &chunks, movie_timescale, 0, false)?.len() as u64;
    let mut base = ftyp.len() as u64 + moov_len + mdat_header_len;
    if base + max_rel > u64::from(u32::MAX) {
        co64 = true;
        moov_len = moov(tracks, &chunks, movie_timescale, 0, true)?.len() as u64;
        base = ftyp.len() as u64 + moov_len + mdat_header_len;
    }
    let moov = moov(tracks, &chunks, movie_timescale, base, co64)?;
    debug_assert_eq!(moov.len() as u64, moov_len);

    let mut header = ftyp;
    header.extend_from_slice(&moov);
    if mdat_header_len == 16 {
        header.extend_from_slice(&1u32.to_be_bytes());
        header.extend_from_slice(b"mdat");
        header.extend_from_slice(&(mdat_payload + 16).to_be_bytes());
    } else {
        header.extend_from_slice(&((mdat_payload + 8) as u32).to_be_bytes());
        header.extend_from_slice(b"mdat");
    }
    let total_size = header.len() as u64 + mdat_payload;
    Ok(Layout {
        header,
        order: file_order,
        total_size,
    })
}

fn validate(t: &TrackOut) -> Result<(), Error> {
    if t.timescale == 0 {
        return Err(invalid("track timescale"));
    }
    if u32::try_from(t.samples.len()).is_err() {
        return Err(Error::TooLarge {
            what: "sample count",
            limit: u64::from(u32::MAX),
        });
    }
    if t.edit_media_start < 0 {
        return Err(invalid("edit_media_start"));
    }
    match (&t.kind, &t.codec) {
        (_, CodecConfig::Unsupported { .. }) => Err(Error::Unsupported { what: "codec" }),
        (TrackKind::Video, CodecConfig::H264 { .. } | CodecConfig::H265 { .. }) => {
            if t.width > 0xffff || t.height > 0xffff {
                return Err(invalid("video size"));
            }
            Ok(())
        }
        (
            TrackKind::Audio,
            CodecConfig::Aac { .. }
            | CodecConfig::Mp3
            | CodecConfig::Ac3 { .. }
            | CodecConfig::Eac3 { .. },
        ) => Ok(()),
        (TrackKind::Video | TrackKind::Audio, _) => Err(invalid("codec for the track kind")),
        _ => Err(Error::Unsupported {
            what: "track kind (only video and audio are written)",
        }),
    }
}

/// A byte buffer with nested boxes whose sizes are patched on close.
#[derive(Default)]
struct W {
    buf: Vec<u8>,
}

impl W {
    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }
    fn open(&mut self, kind: &[u8; 4]) -> usize {
        let start = self.buf.len();
        self.u32(0);
        self.bytes(kind);
        start
    }
    fn open_full(&mut self, kind: &[u8; 4], version: u8, flags: u32) -> usize {
        let start = self.open(kind);
        self.u32((u32::from(version) << 24) | (flags & 0xff_ffff));
        start
    }
    fn close(&mut self, start: usize) -> Result<(), Error> {
        let size = u32::try_from(self.buf.len() - start).map_err(|_| Error::TooLarge {
            what: "box size",
            limit: u64::from(u32::MAX),
        })?;
        self.buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
        Ok(())
    }
    fn matrix(&mut self) {
        for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
            self.u32(v);
        }
    }
}

fn ftyp() -> Vec<u8> {
    let mut w = W::default();
    let s = w.open(b"ftyp");
    w.bytes(b"isom");
    w.u32(0x200);
    for b in [b"isom", b"iso2", b"avc1", b"mp41"] {
        w.bytes(b);
    }
    let _ = w.close(s);
    w.buf
}

/// Media duration (sum of sample durations) of a track, in its timescale.
fn media_duration(t: &TrackOut) -> u64 {
    t.samples.iter().map(|s| u64::from(s.duration)).sum()
}

/// Presentation duration of a track in the movie timescale.
fn presented(t: &TrackOut, movie_timescale: u32) -> u64 {
    let d = media_duration(t).saturating_sub(t.edit_media_start.max(0) as u64);
    u64::try_from(u128::from(d) * u128::from(movie_timescale) / u128::from(t.timescale))
        .unwrap_or(u64::MAX)
}

fn moov(
    tracks: &[TrackOut],
    chunks: &[Chunk],
    movie_timescale: u32,
    base: u64,
    co64: bool,
) -> Result<Vec<u8>, Error> {
    let mut w = W::default();
    let moov = w.open(b"moov");
    let duration = tracks
        .iter()
        .map(|t| presented(t, movie_timescale))
        .max()
        .unwrap_or(0);
    let long = duration > u64::from(u32::MAX);
    let mvhd = w.open_full(b"mvhd", u8::from(long), 0);
    time_fields(&mut w, long, movie_timescale, duration);
    w.u32(0x0001_0000); // rate
    w.u16(0x0100); // volume
    w.zeros(10);
    w.matrix();
    w.zeros(24);
    w.u32(tracks.len() as u32 + 1);
    w.close(mvhd)?;
    for (ti, t) in tracks.iter().enumerate() {
        let track_chunks: Vec<&Chunk> = chunks.iter().filter(|c| c.track == ti).collect();
        trak(
            &mut w,
            t,
            ti as u32 + 1,
            movie_timescale,
            &track_chunks,
            base,
            co64,
        )?;
    }
    w.close(moov)?;
    Ok(w.buf)
}

/// creation/modification time (0), timescale, duration, as in mvhd/mdhd.
fn time_fields(w: &mut W, long: bool, timescale: u32, duration: u64) {
    if long {
        w.u64(0);
        w.u64(0);
        w.u32(timescale);
        w.u64(duration);
    } else {
        w.u32(0);
        w.u32(0);
        w.u32(timescale);
        w.u32(duration as u32);
    }
}

fn trak(
    w: &mut W,
    t: &TrackOut,
    id: u32,
    movie_timescale: u32,
    chunks: &[&Chunk],
    base: u64,
    co64: bool,
) -> Result<(), Error> {
    let video = t.kind == TrackKind::Video;
    let trak = w.open(b"trak");
    let duration = presented(t, movie_timescale);
    let long = duration > u64::from(u32::MAX);
    let tkhd = w.open_full(b"tkhd", u8::from(long), 3);
    if long {
        w.u64(0);
        w.u64(0);
        w.u32(id);
        w.u32(0);
        w.u64(duration);
    } else {
        w.u32(0);
        w.u32(0);
        w.u32(id);
        w.u32(0);
        w.u32(duration as u32);
    }
    w.zeros(8);
    w.u16(0); // layer
    w.u16(0); // alternate group
    w.u16(if video { 0 } else { 0x0100 });
    w.u16(0);
    w.matrix();
    let (width, height) = if video { (t.width, t.height) } else { (0, 0) };
    w.u32(width << 16);
    w.u32(height << 16);
    w.close(tkhd)?;

    if t.edit_media_start != 0 {
        let edts = w.open(b"edts");
        let media_time = t.edit_media_start;
        let long = duration > u64::from(u32::MAX) || media_time > i64::from(i32::MAX);
        let elst = w.open_full(b"elst", u8::from(long), 0);
        w.u32(1);
        if long {
            w.u64(duration);
            w.u64(media_time as u64);
        } else {
            w.u32(duration as u32);
            w.u32(media_time as u32);
        }
        w.u32(0x0001_0000);
        w.close(elst)?;
        w.close(edts)?;
    }

    let mdia = w.open(b"mdia");
    let media = media_duration(t);
    let long = media > u64::from(u32::MAX);
    let mdhd = w.open_full(b"mdhd", u8::from(long), 0);
    time_fields(w, long, t.timescale, media);
    w.u16(pack_language(t.language.as_deref()));
    w.u16(0);
    w.close(mdhd)?;
    let hdlr = w.open_full(b"hdlr", 0, 0);
    w.u32(0);
    w.bytes(if video { b"vide" } else { b"soun" });
    w.zeros(12);
    w.bytes(if video {
        b"VideoHandler\0"
    } else {
        b"SoundHandler\0"
    });
    w.close(hdlr)?;

    let minf = w.open(b"minf");
    if video {
        let vmhd = w.open_full(b"vmhd", 0, 1);
        w.zeros(8);
        w.close(vmhd)?;
    } else {
        let smhd = w.open_full(b"smhd", 0, 0);
        w.zeros(4);
        w.close(smhd)?;
    }
    let dinf = w.open(b"dinf");
    let dref = w.open_full(b"dref", 0, 0);
    w.u32(1);
    let url = w.open_full(b"url ", 0, 1);
    w.close(url)?;
    w.close(dref)?;
    w.close(dinf)?;

    let stbl = w.open(b"stbl");
    let stsd = w.open_full(b"stsd", 0, 0);
    w.u32(1);
    sample_entry(w, t, id)?;
    w.close(stsd)?;

    // stts
    let stts = w.open_full(b"stts", 0, 0);
    let runs = run_lengths(t.samples.iter().map(|s| s.duration));
    w.u32(runs.len() as u32);
    for (n, d) in runs {
        w.u32(n);
        w.u32(d);
    }
    w.close(stts)?;

    if t.samples.iter().any(|s| s.cts_offset != 0) {
        let negative = t.samples.iter().any(|s| s.cts_offset < 0);
        let ctts = w.open_full(b"ctts", u8::from(negative), 0);
        let runs = run_lengths(t.samples.iter().map(|s| s.cts_offset));
        w.u32(runs.len() as u32);
        for (n, o) in runs {
            w.u32(n);
            w.u32(o as u32);
        }
        w.close(ctts)?;
    }

    if !t.samples.iter().all(|s| s.sync) {
        let stss = w.open_full(b"stss", 0, 0);
        let n = t.samples.iter().filter(|s| s.sync).count();
        w.u32(n as u32);
        for (i, _) in t.samples.iter().enumerate().filter(|(_, s)| s.sync) {
            w.u32(i as u32 + 1);
        }
        w.close(stss)?;
    }

    let stsc = w.open_full(b"stsc", 0, 0);
    let mut entries: Vec<(u32, u32)> = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        if entries.last().is_none_or(|&(_, n)| n != c.count as u32) {
            entries.push((i as u32 + 1, c.count as u32));
        }
    }
    w.u32(entries.len() as u32);
    for (first, n) in entries {
        w.u32(first);
        w.u32(n);
        w.u32(1);
    }
    w.close(stsc)?;

    let stsz = w.open_full(b"stsz", 0, 0);
    let fixed = match t.samples.first() {
        Some(f) if t.samples.iter().all(|s| s.size == f.size) => f.size,
        _ => 0,
    };
    w.u32(fixed);
    w.u32(t.samples.len() as u32);
    if fixed == 0 {
        for s in &t.samples {
            w.u32(s.size);
        }
    }
    w.close(stsz)?;

    let stco = w.open_full(if co64 { b"co64" } else { b"stco" }, 0, 0);
    w.u32(chunks.len() as u32);
    for c in chunks {
        let off = base + c.rel_offset;
        if co64 {
            w.u64(off);
        } else {
            w.u32(u32::try_from(off).unwrap_or(0));
        }
    }
    w.close(stco)?;

    w.close(stbl)?;
    w.close(minf)?;
    w.close(mdia)?;
    w.close(trak)?;
    Ok(())
}

/// The initialisation segment of one track for fragmented MP4 (HLS `EXT-X-MAP`, CMAF): `ftyp`
/// (iso6, cmfc) and a `moov` holding the track (ID 1) with its sample entry and empty sample
/// tables, and `mvex/trex`. The track's samples are not used.
pub fn init_segment(t: &TrackOut) -> Result<Vec<u8>, Error> {
    validate(t)?;
    let empty = TrackOut {
        samples: Vec::new(),
        edit_media_start: 0,
        ..t.clone()
    };
    let mut w = W::default();
    let ftyp = w.open(b"ftyp");
    w.bytes(b"iso6");
    w.u32(0);
    for b in [b"iso6", b"cmfc", b"mp41"] {
        w.bytes(b);
    }
    w.close(ftyp)?;
    let moov = w.open(b"moov");
    let mvhd = w.open_full(b"mvhd", 0, 0);
    time_fields(&mut w, false, 1000, 0);
    w.u32(0x0001_0000);
    w.u16(0x0100);
    w.zeros(10);
    w.matrix();
    w.zeros(24);
    w.u32(2);
    w.close(mvhd)?;
    trak(&mut w, &empty, 1, 1000, &[], 0, false)?;
    let mvex = w.open(b"mvex");
    let trex = w.open_full(b"trex", 0, 0);
    w.u32(1); // track ID
    w.u32(1); // sample description index
    w.u32(0); // default duration
    w.u32(0); // default size
    w.u32(0); // default flags
    w.close(trex)?;
    w.close(mvex)?;
    w.close(moov)?;
    Ok(w.buf)
}

/// A media segment's header for fragmented MP4: `moof` (`mfhd` with `sequence`, `traf` of track 1
/// with `tfhd` default-base-is-moof, `tfdt` = `base_decode_time` in the track's timescale, and a
/// `trun` giving every sample's duration, size, flags (sync or not) and composition offset)
/// followed by the `mdat` header. The samples' bytes, in order, follow it.
pub fn fragment_header(
    sequence: u32,
    base_decode_time: u64,
    samples: &[SampleOut],
) -> Result<Vec<u8>, Error> {
    let payload: u64 = samples.iter().map(|s| u64::from(s.size)).sum();
    let mdat_header_len: usize = if payload + 8 > u64::from(u32::MAX) {
        16
    } else {
        8
    };
    let mut w = W::default();
    let moof = w.open(b"moof");
    let mfhd = w.open_full(b"mfhd", 0, 0);
    w.u32(sequence);
    w.close(mfhd)?;
    let traf = w.open(b"traf");
    let tfhd = w.open_full(b"tfhd", 0, 0x02_0000);
    w.u32(1);
    w.close(tfhd)?;
    let tfdt = w.open_full(b"tfdt", 1, 0);
    w.u64(base_decode_time);
    w.close(tfdt)?;
    // data offset, duration, size, flags, composition offset (signed: version 1)
    let trun = w.open_full(
        b"trun",
        1,
        0x00_0001 | 0x00_0100 | 0x00_0200 | 0x00_0400 | 0x00_0800,
    );
    w.u32(u32::try_from(samples.len()).map_err(|_| Error::TooLarge {
        what: "fragment sample count",
        limit: u64::from(u32::MAX),
    })?);
    let data_offset_at = w.buf.len();
    w.u32(0);
    for s in samples {
        w.u32(s.duration);
        w.u32(s.size);
        w.u32(if s.sync { 0x0200_0000 } else { 0x0101_0000 });
        w.u32(s.cts_offset as u32);
    }
    w.close(trun)?;
    w.close(traf)?;
    w.close(moof)?;
    let data_offset =
        u32::try_from(w.buf.len() + mdat_header_len).map_err(|_| Error::TooLarge {
            what: "moof size",
            limit: u64::from(u32::MAX),
        })?;
    w.buf[data_offset_at..data_offset_at + 4].copy_from_slice(&data_offset.to_be_bytes());
    if mdat_header_len == 16 {
        w.u32(1);
        w.bytes(b"mdat");
        w.u64(payload + 16);
    } else {
        w.u32((payload + 8) as u32);
        w.bytes(b"mdat");
    }
    Ok(w.buf)
}

/// (run length, value) pairs.
fn run_lengths<T: PartialEq + Copy>(values: impl Iterator<Item = T>) -> Vec<(u32, T)> {
    let mut out: Vec<(u32, T)> = Vec::new();
    for v in values {
        match out.last_mut() {
            Some((n, last)) if *last == v => *n += 1,
            _ => out.push((1, v)),
        }
    }
    out
}

fn sample_entry(w: &mut W, t: &TrackOut, id: u32) -> Result<(), Error> {
    match &t.codec {
        CodecConfig::H264 { avcc, .. } => visual_entry(w, t, b"avc1", b"avcC", avcc),
        CodecConfig::H265 { hvcc, .. } => visual_entry(w, t, b"hvc1", b"hvcC", hvcc),
        CodecConfig::Aac { asc } => audio_entry(w, t, b"mp4a", (2, t.sample_rate), |w| {
            esds(w, id, 0x40, Some(asc))
        }),
        CodecConfig::Mp3 => audio_entry(w, t, b"mp4a", (2, t.sample_rate), |w| {
            esds(w, id, 0x6b, None)
        }),
        CodecConfig::Ac3 { dac3 } => {
            let (rate, ch) = crate::codec::ac3_info(dac3)?;
            audio_entry(w, t, b"ac-3", (ch, rate), |w| {
                let b = w.open(b"dac3");
                w.bytes(dac3);
                w.close(b)
            })
        }
        CodecConfig::Eac3 { dec3 } => {
            let (rate, ch) = crate::codec::eac3_info(dec3)?;
            audio_entry(w, t, b"ec-3", (ch, rate), |w| {
                let b = w.open(b"dec3");
                w.bytes(dec3);
                w.close(b)
            })
        }
        CodecConfig::Unsupported { .. } => Err(Error::Unsupported { what: "codec" }),
    }
}

fn visual_entry(
    w: &mut W,
    t: &TrackOut,
    kind: &[u8; 4],
    config: &[u8; 4],
    record: &[u8],
) -> Result<(), Error> {
    let e = w.open(kind);
    w.zeros(6);
    w.u16(1);
    w.zeros(16);
    w.u16(t.width as u16);
    w.u16(t.height as u16);
    w.u32(0x0048_0000);
    w.u32(0x0048_0000);
    w.u32(0);
    w.u16(1);
    w.zeros(32);
    w.u16(0x0018);
    w.u16(0xffff);
    let c = w.open(config);
    w.bytes(record);
    w.close(c)?;
    w.close(e)
}

/// An ISO audio sample entry (version 0); `defaults` = (channels, rate) used when the track
/// leaves them 0.
fn audio_entry(
    w: &mut W,
    t: &TrackOut,
    kind: &[u8; 4],
    defaults: (u16, u32),
    child: impl FnOnce(&mut W) -> Result<(), Error>,
) -> Result<(), Error> {
    let e = w.open(kind);
    w.zeros(6);
    w.u16(1);
    w.zeros(8);
    w.u16(if t.channels != 0 {
        t.channels
    } else {
        defaults.0
    });
    w.u16(16);
    w.u32(0);
    let rate = if t.sample_rate != 0 {
        t.sample_rate
    } else {
        defaults.1
    };
    w.u32(if rate <= 0xffff { rate << 16 } else { 0 });
    child(w)?;
    w.close(e)
}

/// Appends an MPEG-4 descriptor with the minimal 7-bits-per-byte length.
fn descriptor(out: &mut Vec<u8>, tag: u8, body: &[u8]) -> Result<(), Error> {
    let len = body.len();
    if len >= 1 << 28 {
        return Err(Error::TooLarge {
            what: "esds descriptor",
            limit: (1 << 28) - 1,
        });
    }
    out.push(tag);
    let mut shift = 21;
    while shift > 0 && len >> shift == 0 {
        shift -= 7;
    }
    while shift > 0 {
        out.push(0x80 | ((len >> shift) & 0x7f) as u8);
        shift -= 7;
    }
    out.push((len & 0x7f) as u8);
    out.extend_from_slice(body);
    Ok(())
}

fn esds(w: &mut W, id: u32, oti: u8, dsi: Option<&[u8]>) -> Result<(), Error> {
    let mut dc = vec![oti, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    if let Some(dsi) = dsi {
        descriptor(&mut dc, 0x05, dsi)?;
    }
    let mut es = Vec::new();
    es.extend_from_slice(&(id as u16).to_be_bytes());
    es.push(0);
    descriptor(&mut es, 0x04, &dc)?;
    descriptor(&mut es, 0x06, &[0x02])?;
    let mut body = Vec::new();
    descriptor(&mut body, 0x03, &es)?;
    let b = w.open_full(b"esds", 0, 0);
    w.bytes(&body);
    w.close(b)
}
