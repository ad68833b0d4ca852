//! Reading a non-fragmented `moov`: tracks, codec configurations and expanded sample tables.

use bytes::Bytes;

use crate::bits::Cursor;
use crate::codec;
use crate::{invalid, parse_box_header, truncated, CodecConfig, Error, Limits, TrackKind};

/// A movie: the `mvhd` values and every track of a `moov`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movie {
    /// Movie timescale (`mvhd`), ticks per second.
    pub timescale: u32,
    /// Movie duration (`mvhd`), in the movie timescale.
    pub duration: u64,
    /// The tracks in `moov` order.
    pub tracks: Vec<Track>,
    /// An `mvex` box was present (fragmented file: samples are in `moof` boxes, not supported;
    /// the tracks' sample lists hold only what the `moov` itself lists, usually nothing).
    pub fragmented: bool,
}

/// One track (`trak`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    /// Track ID (`tkhd`).
    pub id: u32,
    /// What the track carries (`hdlr`).
    pub kind: TrackKind,
    /// Codec and decoder configuration from the first sample entry (`stsd`). Samples that
    /// reference another sample description are read as if they used the first.
    pub codec: CodecConfig,
    /// Media timescale (`mdhd`), ticks per second; never 0.
    pub timescale: u32,
    /// ISO 639-2/T three letters from `mdhd` (see [`codec::mp4_language`]: `None` for "und",
    /// QuickTime "unspecified" or unknown codes; QuickTime Macintosh codes are translated, so 0
    /// reads as "eng").
    pub language: Option<String>,
    /// Video width in pixels: the visual sample entry's, or the `tkhd` width (16.16 fixed,
    /// integer part) when the entry has none; 0 for non-video.
    pub width: u32,
    /// Video height in pixels (as `width`).
    pub height: u32,
    /// Audio sample rate in Hz: the sample entry's (16.16 integer part, or the f64 of a
    /// QuickTime v2 sound description); for AAC the larger of that and the AudioSpecificConfig's
    /// output rate ([`codec::asc_info`], SBR-aware); for AC-3 the `dac3` rate, for E-AC-3 the
    /// `dec3` rate unless it is a reduced rate. 0 for non-audio.
    pub sample_rate: u32,
    /// Audio channels: the sample entry's; for AAC the AudioSpecificConfig's
    /// channelConfiguration when it is not 0; for AC-3/E-AC-3 from `dac3`/`dec3` (incl. LFE).
    /// 0 for non-audio.
    pub channels: u16,
    /// Track media duration (`mdhd`), in the media timescale.
    pub duration: u64,
    /// Media time (media timescale) where presentation starts: the media_time of the first
    /// non-empty `elst` entry; 0 without an edit list. Edits after the first non-empty one are
    /// ignored.
    pub edit_media_start: i64,
    /// Presentation delay before the track starts, in the media timescale: the sum of the
    /// durations of the empty edits (media_time -1) that precede the first non-empty edit,
    /// converted from the movie timescale (rounded down); 0 without empty edits.
    pub edit_empty_delay: u64,
    /// Every sample, in decode order.
    pub samples: Vec<Sample>,
}

/// One sample (access unit) of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Absolute file offset of the sample's first byte.
    pub offset: u64,
    /// Size in bytes.
    pub size: u32,
    /// Decode time in the media timescale; the first sample is 0.
    pub dts: i64,
    /// Duration in the media timescale (`stts`).
    pub duration: u32,
    /// Composition time minus decode time, in the media timescale (`ctts`; 0 without one).
    pub cts_offset: i32,
    /// A sync sample (key frame): listed in `stss`, or every sample when there is no `stss`.
    pub sync: bool,
}

/// Child boxes as (type, payload).
type Kids<'a> = Vec<([u8; 4], &'a [u8])>;

/// The direct children of a container payload as (type, payload). A size-0 box extends to the
/// end of `buf`; fewer than 8 bytes left at the end (a QuickTime terminator) end the list.
fn children(buf: &[u8], lenient: bool) -> Result<Kids<'_>, Error> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while buf.len().saturating_sub(pos) >= 8 {
        let rest = &buf[pos..];
        let h = match parse_box_header(rest, 0) {
            Ok(Some(h)) => h,
            Ok(None) if lenient => break,
            Ok(None) => return Err(truncated("box header")),
            Err(_) if lenient => break,
            Err(e) => return Err(e),
        };
        let size = match h.size {
            None => rest.len(),
            Some(s) => match usize::try_from(s).ok().filter(|&s| s <= rest.len()) {
                Some(s) => s,
                None if lenient => break,
                None => return Err(truncated("box")),
            },
        };
        out.push((h.kind, &rest[usize::from(h.header_len)..size]));
        pos += size;
    }
    Ok(out)
}

fn find<'a>(kids: &[([u8; 4], &'a [u8])], kind: &[u8; 4]) -> Option<&'a [u8]> {
    kids.iter().find(|(k, _)| k == kind).map(|(_, p)| *p)
}

fn require<'a>(
    kids: &[([u8; 4], &'a [u8])],
    kind: &[u8; 4],
    what: &'static str,
) -> Result<&'a [u8], Error> {
    find(kids, kind).ok_or(Error::Missing { what })
}

/// Reads a table's entry count and checks it against the bytes left and the limit.
fn table_count(
    c: &mut Cursor<'_>,
    entry_size: usize,
    limits: &Limits,
    what: &'static str,
) -> Result<usize, Error> {
    let n = c.u32(what)?;
    if u64::from(n) > limits.max_entries {
        return Err(Error::TooLarge {
            what,
            limit: limits.max_entries,
        });
    }
    let n = usize::try_from(n).map_err(|_| invalid(what))?;
    if n.checked_mul(entry_size).is_none_or(|b| b > c.remaining()) {
        return Err(truncated(what));
    }
    Ok(n)
}

/// Parses a complete `moov` box (header included) into the movie: every track with its full
/// sample table expanded. Trailing bytes after the box are ignored.
pub fn parse_moov(moov: &[u8], limits: &Limits) -> Result<Movie, Error> {
    let h = parse_box_header(moov, 0)?.ok_or_else(|| truncated("moov header"))?;
    if h.kind != *b"moov" {
        return Err(invalid("moov box type"));
    }
    let end = match h.size {
        None => moov.len(),
        Some(s) => usize::try_from(s)
            .ok()
            .filter(|&s| s <= moov.len())
            .ok_or_else(|| truncated("moov"))?,
    };
    let kids = children(&moov[usize::from(h.header_len)..end], false)?;
    let mut c = Cursor::new(require(&kids, b"mvhd", "mvhd")?);
    let version = c.u8("mvhd")?;
    c.skip(3, "mvhd")?;
    let (timescale, duration) = if version == 1 {
        c.skip(16, "mvhd")?;
        (c.u32("mvhd")?, c.u64("mvhd")?)
    } else {
        c.skip(8, "mvhd")?;
        (c.u32("mvhd")?, u64::from(c.u32("mvhd")?))
    };
    if timescale == 0 {
        return Err(invalid("mvhd timescale"));
    }
    let fragmented = find(&kids, b"mvex").is_some();
    let mut tracks = Vec::new();
    let mut budget = limits.max_samples;
    for (kind, body) in &kids {
        if kind != b"trak" {
            continue;
        }
        if tracks.len() >= limits.max_tracks {
            return Err(Error::TooLarge {
                what: "track count",
                limit: limits.max_tracks as u64,
            });
        }
        tracks.push(parse_trak(body, timescale, limits, &mut budget)?);
    }
    Ok(Movie {
        timescale,
        duration,
        tracks,
        fragmented,
    })
}

fn parse_trak(
    body: &[u8],
    movie_timescale: u32,
    limits: &Limits,
    budget: &mut u64,
) -> Result<Track, Error> {
    let kids = children(body, false)?;
    let mut c = Cursor::new(require(&kids, b"tkhd", "tkhd")?);
    let version = c.u8("tkhd")?;
    c.skip(3, "tkhd")?;
    let id = if version == 1 {
        c.skip(16, "tkhd")?;
        let id = c.u32("tkhd")?;
        c.skip(4 + 8, "tkhd")?;
        id
    } else {
        c.skip(8, "tkhd")?;
        let id = c.u32("tkhd")?;
        c.skip(4 + 4, "tkhd")?;
        id
    };
    c.skip(8 + 2 + 2 + 2 + 2 + 36, "tkhd")?;
    let tkhd_width = c.u32("tkhd width")? >> 16;
    let tkhd_height = c.u32("tkhd height")? >> 16;

    let mdia = children(require(&kids, b"mdia", "mdia")?, false)?;
    let mut c = Cursor::new(require(&mdia, b"mdhd", "mdhd")?);
    let version = c.u8("mdhd")?;
    c.skip(3, "mdhd")?;
    let (timescale, duration) = if version == 1 {
        c.skip(16, "mdhd")?;
        (c.u32("mdhd")?, c.u64("mdhd")?)
    } else {
        c.skip(8, "mdhd")?;
        (c.u32("mdhd")?, u64::from(c.u32("mdhd")?))
    };
    if timescale == 0 {
        return Err(invalid("mdhd timescale"));
    }
    let language = codec::mp4_language(c.u16("mdhd language")?);
    let mut c = Cursor::new(require(&mdia, b"hdlr", "hdlr")?);
    c.skip(8, "hdlr")?;
    let kind = TrackKind::from_handler(c.fourcc("hdlr handler type")?);

    let (edit_media_start, empty_movie) = match find(&kids, b"edts")
        .map(|e| children(e, false))
        .transpose()?
    {
        Some(edts) => match find(&edts, b"elst") {
            Some(elst) => parse_elst(elst, limits)?,
            None => (0, 0),
        },
        None => (0, 0),
    };
    let edit_empty_delay = u64::try_from(
        u128::from(empty_movie) * u128::from(timescale) / u128::from(movie_timescale),
    )
    .unwrap_or(u64::MAX);

    let minf = children(require(&mdia, b"minf", "minf")?, false)?;
    let stbl = children(require(&minf, b"stbl", "stbl")?, false)?;
    let entry = parse_stsd(require(&stbl, b"stsd", "stsd")?, kind)?;
    let samples = parse_samples(&stbl, limits, budget)?;
    let (width, height) = if kind == TrackKind::Video {
        if entry.width != 0 && entry.height != 0 {
            (entry.width, entry.height)
        } else {
            (tkhd_width, tkhd_height)
        }
    } else {
        (0, 0)
    };
    Ok(Track {
        id,
        kind,
        codec: entry.codec,
        timescale,
        language,
        width,
        height,
        sample_rate: entry.sample_rate,
        channels: entry.channels,
        duration,
        edit_media_start,
        edit_empty_delay,
        samples,
    })
}

/// (media_time of the first non-empty edit, sum of the leading empty edits' durations in the
/// movie timescale).
fn parse_elst(elst: &[u8], limits: &Limits) -> Result<(i64, u64), Error> {
    let mut c = Cursor::new(elst);
    let version = c.u8("elst")?;
    c.skip(3, "elst")?;
    let n = table_count(
        &mut c,
        if version == 1 { 20 } else { 12 },
        limits,
        "elst entries",
    )?;
    let mut empty = 0u64;
    for _ in 0..n {
        let (dur, media_time) = if version == 1 {
            (c.u64("elst")?, c.u64("elst")? as i64)
        } else {
            (u64::from(c.u32("elst")?), i64::from(c.u32("elst")? as i32))
        };
        c.skip(4, "elst")?;
        if media_time == -1 {
            empty = empty.saturating_add(dur);
        } else {
            return Ok((media_time, empty));
        }
    }
    Ok((0, empty))
}

/// What the first sample entry says.
struct Entry {
    codec: CodecConfig,
    width: u32,
    height: u32,
    sample_rate: u32,
    channels: u16,
}

const VISUAL: [&[u8; 4]; 4] = [b"avc1", b"avc3", b"hvc1", b"hev1"];
const AUDIO: [&[u8; 4]; 5] = [b"mp4a", b"ac-3", b"ec-3", b".mp3", b"ms\0\x55"];

fn parse_stsd(stsd: &[u8], kind: TrackKind) -> Result<Entry, Error> {
    let mut c = Cursor::new(stsd);
    c.skip(4, "stsd")?;
    if c.u32("stsd entry count")? == 0 {
        return Err(Error::Missing {
            what: "sample entry",
        });
    }
    let rest = c.rest();
    let h = parse_box_header(rest, 0)?.ok_or_else(|| truncated("sample entry"))?;
    let size = match h.size {
        None => rest.len(),
        Some(s) => usize::try_from(s)
            .ok()
            .filter(|&s| s <= rest.len())
            .ok_or_else(|| truncated("sample entry"))?,
    };
    let fourcc = h.kind;
    let mut c = Cursor::new(&rest[usize::from(h.header_len)..size]);
    c.skip(8, "sample entry")?; // reserved, data_reference_index
    let mut e = Entry {
        codec: CodecConfig::Unsupported { fourcc },
        width: 0,
        height: 0,
        sample_rate: 0,
        channels: 0,
    };
    if VISUAL.contains(&&fourcc) || kind == TrackKind::Video {
        c.skip(16, "visual sample entry")?;
        e.width = u32::from(c.u16("visual sample entry width")?);
        e.height = u32::from(c.u16("visual sample entry height")?);
        c.skip(50, "visual sample entry")?;
        let kids = children(c.rest(), true)?;
        match &fourcc {
            b"avc1" | b"avc3" => {
                let avcc = require(&kids, b"avcC", "avcC")?;
                let (nal_length_size, sps, pps) = codec::parse_avcc(avcc)?;
                e.codec = CodecConfig::H264 {
                    avcc: Bytes::copy_from_slice(avcc),
                    nal_length_size,
                    sps,
                    pps,
                };
            }
            b"hvc1" | b"hev1" => {
                let hvcc = require(&kids, b"hvcC", "hvcC")?;
                let (nal_length_size, vps, sps, pps) = codec::parse_hvcc(hvcc)?;
                e.codec = CodecConfig::H265 {
                    hvcc: Bytes::copy_from_slice(hvcc),
                    nal_length_size,
                    vps,
                    sps,
                    pps,
                };
            }
            _ => {}
        }
    } else if AUDIO.contains(&&fourcc) || kind == TrackKind::Audio {
        let version = c.u16("audio sample entry")?;
        c.skip(6, "audio sample entry")?; // revision, vendor
        e.channels = c.u16("audio sample entry channels")?;
        c.skip(6, "audio sample entry")?; // sample size, compression id, packet size
        e.sample_rate = c.u32("audio sample entry rate")? >> 16;
        match version {
            0 => {}
            1 => c.skip(16, "QuickTime sound description v1")?,
            2 => {
                c.skip(4, "QuickTime sound description v2")?;
                let rate = f64::from_bits(c.u64("QuickTime sound description v2")?);
                e.sample_rate = if rate.is_finite() && rate >= 0.0 && rate <= f64::from(u32::MAX) {
                    rate as u32
                } else {
                    0
                };
                e.channels = u16::try_from(c.u32("QuickTime sound description v2")?).unwrap_or(0);
                c.skip(20, "QuickTime sound description v2")?;
            }
            _ => {
                return Err(Error::Unsupported {
                    what: "sound sample entry version",
                })
            }
        }
        let kids = children(c.rest(), true)?;
        match &fourcc {
            b"mp4a" => {
                let esds = match find(&kids, b"esds") {
                    Some(esds) => esds,
                    None => {
                        let wave = find(&kids, b"wave").ok_or(Error::Missing { what: "esds" })?;
                        let wave = children(wave, true)?;
                        require(&wave, b"esds", "esds")?
                    }
                };
                let (oti, dsi) = parse_esds(esds)?;
                e.codec = match oti {
                    0x40 | 0x66..=0x68 => {
                        let asc = dsi.ok_or(Error::Missing {
                            what: "AudioSpecificConfig",
                        })?;
                        if let Some((rate, channels)) = codec::asc_info(asc) {
                            e.sample_rate = e.sample_rate.max(rate);
                            if channels != 0 {
                                e.channels = channels;
                            }
                        }
                        CodecConfig::Aac {
                            asc: Bytes::copy_from_slice(asc),
                        }
                    }
                    0x69 | 0x6b => CodecConfig::Mp3,
                    _ => CodecConfig::Unsupported { fourcc },
                };
            }
            b"ac-3" => {
                let dac3 = require(&kids, b"dac3", "dac3")?;
                let (rate, channels) = codec::ac3_info(dac3)?;
                (e.sample_rate, e.channels) = (rate, channels);
                e.codec = CodecConfig::Ac3 {
                    dac3: Bytes::copy_from_slice(dac3),
                };
            }
            b"ec-3" => {
                let dec3 = require(&kids, b"dec3", "dec3")?;
                let (rate, channels) = codec::eac3_info(dec3)?;
                if rate != 0 {
                    e.sample_rate = rate;
                }
                e.channels = channels;
                e.codec = CodecConfig::Eac3 {
                    dec3: Bytes::copy_from_slice(dec3),
                };
            }
            b".mp3" | b"ms\0\x55" => e.codec = CodecConfig::Mp3,
            _ => {}
        }
    }
    Ok(e)
}

/// Reads an MPEG-4 descriptor header: (tag, length) with the 7-bits-per-byte length.
fn descriptor(c: &mut Cursor<'_>) -> Result<(u8, usize), Error> {
    let tag = c.u8("esds descriptor")?;
    let mut len = 0usize;
    for _ in 0..4 {
        let b = c.u8("esds descriptor length")?;
        len = (len << 7) | usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            return Ok((tag, len));
        }
    }
    Err(invalid("esds descriptor length"))
}

/// (objectTypeIndication, DecoderSpecificInfo) of an `esds` payload.
fn parse_esds(esds: &[u8]) -> Result<(u8, Option<&[u8]>), Error> {
    let mut c = Cursor::new(esds);
    c.skip(4, "esds")?;
    let (mut tag, mut len) = descriptor(&mut c)?;
    if tag == 0x03 {
        let mut es = Cursor::new(c.take(len, "ES_Descriptor")?);
        es.skip(2, "ES_Descriptor")?;
        let flags = es.u8("ES_Descriptor")?;
        if flags & 0x80 != 0 {
            es.skip(2, "ES_Descriptor")?;
        }
        if flags & 0x40 != 0 {
            let n = es.u8("ES_Descriptor URL")?;
            es.skip(usize::from(n), "ES_Descriptor URL")?;
        }
        if flags & 0x20 != 0 {
            es.skip(2, "ES_Descriptor")?;
        }
        c = es;
        (tag, len) = descriptor(&mut c)?;
    }
    // skip descriptors until the DecoderConfigDescriptor
    while tag != 0x04 {
        c.skip(len, "esds descriptor")?;
        (tag, len) = descriptor(&mut c)?;
    }
    let mut dc = Cursor::new(c.take(len, "DecoderConfigDescriptor")?);
    let oti = dc.u8("DecoderConfigDescriptor")?;
    dc.skip(12, "DecoderConfigDescriptor")?;
    while dc.remaining() > 0 {
        let (tag, len) = descriptor(&mut dc)?;
        let body = dc.take(len, "DecoderSpecificInfo")?;
        if tag == 0x05 {
            return Ok((oti, Some(body)));
        }
    }
    Ok((oti, None))
}

/// Where sample sizes come from.
enum Sizes<'a> {
    Fixed(u32),
    /// A table of `bits`-bit entries (4, 8, 16 or 32).
    Table {
        data: &'a [u8],
        bits: u8,
    },
}

impl Sizes<'_> {
    fn get(&self, i: usize) -> u32 {
        match *self {
            Sizes::Fixed(s) => s,
            Sizes::Table { data, bits } => match bits {
                32 => data
                    .get(i * 4..i * 4 + 4)
                    .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
                16 => data
                    .get(i * 2..i * 2 + 2)
                    .map_or(0, |b| u32::from(u16::from_be_bytes([b[0], b[1]]))),
                8 => data.get(i).map_or(0, |b| u32::from(*b)),
                _ => data
                    .get(i / 2)
                    .map_or(0, |b| u32::from(if i & 1 == 0 { b >> 4 } else { b & 0xf })),
            },
        }
    }
}

fn parse_samples(
    stbl: &[([u8; 4], &[u8])],
    limits: &Limits,
    budget: &mut u64,
) -> Result<Vec<Sample>, Error> {
    // sizes and the sample count
    let (count, sizes) = if let Some(stsz) = find(stbl, b"stsz") {
        let mut c = Cursor::new(stsz);
        c.skip(4, "stsz")?;
        let fixed = c.u32("stsz")?;
        let n = c.u32("stsz sample count")?;
        check_count(n, limits, budget)?;
        if fixed != 0 {
            (n as usize, Sizes::Fixed(fixed))
        } else {
            let bytes = (n as usize)
                .checked_mul(4)
                .filter(|&b| b <= c.remaining())
                .ok_or_else(|| truncated("stsz"))?;
            (
                n as usize,
                Sizes::Table {
                    data: c.take(bytes, "stsz")?,
                    bits: 32,
                },
            )
        }
    } else if let Some(stz2) = find(stbl, b"stz2") {
        let mut c = Cursor::new(stz2);
        c.skip(7, "stz2")?;
        let bits = c.u8("stz2 field size")?;
        if ![4, 8, 16].contains(&bits) {
            return Err(invalid("stz2 field size"));
        }
        let n = c.u32("stz2 sample count")?;
        check_count(n, limits, budget)?;
        let bytes = (n as u64 * u64::from(bits)).div_ceil(8);
        if bytes > c.remaining() as u64 {
            return Err(truncated("stz2"));
        }
        (
            n as usize,
            Sizes::Table {
                data: c.take(bytes as usize, "stz2")?,
                bits,
            },
        )
    } else {
        return Err(Error::Missing { what: "stsz" });
    };
    *budget -= count as u64;
    if count == 0 {
        return Ok(Vec::new());
    }

    // chunk offsets
    let (offsets, wide) = match (find(stbl, b"stco"), find(stbl, b"co64")) {
        (Some(t), _) => (t, false),
        (None, Some(t)) => (t, true),
        (None, None) => return Err(Error::Missing { what: "stco" }),
    };
    let mut c = Cursor::new(offsets);
    c.skip(4, "stco")?;
    let chunk_count = table_count(&mut c, if wide { 8 } else { 4 }, limits, "stco entries")?;
    let offsets = c.rest();
    let chunk_offset = |i: usize| -> u64 {
        if wide {
            let b = &offsets[i * 8..i * 8 + 8];
            u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
        } else {
            let b = &offsets[i * 4..i * 4 + 4];
            u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        }
    };

    // sample-to-chunk runs
    let mut c = Cursor::new(require(stbl, b"stsc", "stsc")?);
    c.skip(4, "stsc")?;
    let runs = table_count(&mut c, 12, limits, "stsc entries")?;
    let mut stsc = Vec::with_capacity(runs);
    for _ in 0..runs {
        let first = c.u32("stsc")?;
        let per_chunk = c.u32("stsc")?;
        c.skip(4, "stsc")?;
        if first == 0 || stsc.last().is_some_and(|&(f, _)| first <= f) {
            return Err(invalid("stsc first_chunk"));
        }
        stsc.push((first, per_chunk));
    }
    if stsc.first().is_some_and(|&(f, _)| f != 1) {
        return Err(invalid("stsc first_chunk"));
    }

    let mut samples = Vec::with_capacity(count);
    'runs: for (i, &(first, per_chunk)) in stsc.iter().enumerate() {
        let first = first as usize - 1;
        let end = stsc
            .get(i + 1)
            .map_or(chunk_count, |&(f, _)| (f as usize - 1).min(chunk_count));
        for chunk in first..end {
            let mut offset = chunk_offset(chunk);
            for _ in 0..per_chunk {
                if samples.len() == count {
                    break 'runs;
                }
                let size = sizes.get(samples.len());
                samples.push(Sample {
                    offset,
                    size,
                    dts: 0,
                    duration: 0,
                    cts_offset: 0,
                    sync: true,
                });
                offset = offset
                    .checked_add(u64::from(size))
                    .ok_or_else(|| invalid("sample offset"))?;
            }
        }
    }
    if samples.len() < count {
        return Err(invalid("stsc/stco cover fewer samples than stsz"));
    }

    // decode times
    let mut c = Cursor::new(require(stbl, b"stts", "stts")?);
    c.skip(4, "stts")?;
    let n = table_count(&mut c, 8, limits, "stts entries")?;
    let mut i = 0usize;
    let mut dts = 0i64;
    let mut last = 0u32;
    for _ in 0..n {
        let run = c.u32("stts")? as usize;
        let delta = c.u32("stts")?;
        last = delta;
        for s in samples.iter_mut().skip(i).take(run) {
            s.dts = dts;
            s.duration = delta;
            dts = dts
                .checked_add(i64::from(delta))
                .ok_or_else(|| invalid("stts total duration"))?;
        }
        i = i.saturating_add(run);
        if i >= count {
            break;
        }
    }
    for s in samples.iter_mut().skip(i) {
        s.dts = dts;
        s.duration = last;
        dts = dts
            .checked_add(i64::from(last))
            .ok_or_else(|| invalid("stts total duration"))?;
    }

    // composition offsets: version 0 and 1 are both read as signed (as ffmpeg does)
    if let Some(ctts) = find(stbl, b"ctts") {
        let mut c = Cursor::new(ctts);
        c.skip(4, "ctts")?;
        let n = table_count(&mut c, 8, limits, "ctts entries")?;
        let mut i = 0usize;
        for _ in 0..n {
            let run = c.u32("ctts")? as usize;
            let off = c.u32("ctts")? as i32;
            for s in samples.iter_mut().skip(i).take(run) {
                s.cts_offset = off;
            }
            i = i.saturating_add(run);
            if i >= count {
                break;
            }
        }
    }

    // sync samples; numbers out of range are ignored
    if let Some(stss) = find(stbl, b"stss") {
        let mut c = Cursor::new(stss);
        c.skip(4, "stss")?;
        let n = table_count(&mut c, 4, limits, "stss entries")?;
        for s in samples.iter_mut() {
            s.sync = false;
        }
        for _ in 0..n {
            let k = c.u32("stss")? as usize;
            if let Some(s) = k.checked_sub(1).and_then(|k| samples.get_mut(k)) {
                s.sync = true;
            }
        }
    }
    Ok(samples)
}

fn check_count(n: u32, limits: &Limits, budget: &u64) -> Result<(), Error> {
    if u64::from(n) > limits.max_entries {
        return Err(Error::TooLarge {
            what: "sample count",
            limit: limits.max_entries,
        });
    }
    if u64::from(n) > *budget {
        return Err(Error::TooLarge {
            what: "sample count, all tracks",
            limit: limits.max_samples,
        });
    }
    Ok(())
}
