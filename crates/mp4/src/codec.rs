//! Decoder configuration records and language codes, pure functions.
//!
//! Used by the writer's callers when the source (MPEG-TS, MKV) has no ready-made record, and by
//! the reader to interpret what it finds.

use bytes::{BufMut, Bytes, BytesMut};

use crate::bits::{rbsp, BitReader, Cursor};
use crate::{invalid, truncated, Error};

/// H.264 profiles whose SPS carries chroma_format_idc and bit depths (and whose `avcC` gets the
/// extension with them).
const AVC_HIGH_PROFILES: [u8; 4] = [100, 110, 122, 144];

/// An AVCDecoderConfigurationRecord (`avcC` payload) for these parameter sets.
///
/// `sps` and `pps` are NAL units with their one-byte header and without start codes. Profile,
/// compatibility flags and level come from the first SPS; lengthSizeMinusOne is 3 (4-byte NAL
/// lengths). For the high profiles (100, 110, 122, 144) the extension (chroma_format,
/// bit_depth_luma_minus8, bit_depth_chroma_minus8, no SPS extensions) is added when the first
/// SPS parses that far, and omitted otherwise.
pub fn avcc_from_parameter_sets(sps: &[Bytes], pps: &[Bytes]) -> Result<Bytes, Error> {
    let first = sps.first().ok_or(Error::Missing { what: "H.264 SPS" })?;
    if first.len() < 4 {
        return Err(truncated("H.264 SPS"));
    }
    if sps.len() > 31 {
        return Err(Error::TooLarge {
            what: "H.264 SPS count",
            limit: 31,
        });
    }
    if pps.len() > 255 {
        return Err(Error::TooLarge {
            what: "H.264 PPS count",
            limit: 255,
        });
    }
    if pps.is_empty() {
        return Err(Error::Missing { what: "H.264 PPS" });
    }
    for s in sps {
        if s.first().map(|b| b & 0x1f) != Some(7) {
            return Err(invalid("H.264 SPS NAL type"));
        }
    }
    for p in pps {
        if p.first().map(|b| b & 0x1f) != Some(8) {
            return Err(invalid("H.264 PPS NAL type"));
        }
    }
    let mut out = BytesMut::new();
    out.put_u8(1);
    out.put_slice(&first[1..4]);
    out.put_u8(0xfc | 3);
    out.put_u8(0xe0 | sps.len() as u8);
    for s in sps {
        put_nal16(&mut out, s, "H.264 SPS length")?;
    }
    out.put_u8(pps.len() as u8);
    for p in pps {
        put_nal16(&mut out, p, "H.264 PPS length")?;
    }
    if AVC_HIGH_PROFILES.contains(&first[1]) {
        if let Some((chroma, luma, chroma_depth)) = avc_high_fields(first) {
            out.put_u8(0xfc | (chroma as u8 & 3));
            out.put_u8(0xf8 | (luma as u8 & 7));
            out.put_u8(0xf8 | (chroma_depth as u8 & 7));
            out.put_u8(0);
        }
    }
    Ok(out.freeze())
}

/// chroma_format_idc, bit_depth_luma_minus8, bit_depth_chroma_minus8 of a high-profile SPS.
fn avc_high_fields(sps: &[u8]) -> Option<(u32, u32, u32)> {
    let data = rbsp(sps.get(4..)?);
    let mut r = BitReader::new(&data);
    let _sps_id = r.ue()?;
    let chroma = r.ue()?;
    if chroma > 3 {
        return None;
    }
    if chroma == 3 {
        r.bit()?;
    }
    let luma = r.ue()?;
    let chroma_depth = r.ue()?;
    if luma > 6 || chroma_depth > 6 {
        return None;
    }
    Some((chroma, luma, chroma_depth))
}

fn put_nal16(out: &mut BytesMut, nal: &[u8], what: &'static str) -> Result<(), Error> {
    let len = u16::try_from(nal.len()).map_err(|_| Error::TooLarge {
        what,
        limit: 0xffff,
    })?;
    out.put_u16(len);
    out.put_slice(nal);
    Ok(())
}

/// An HEVCDecoderConfigurationRecord (`hvcC` payload) for these parameter sets (NAL units with
/// their two-byte header, no start codes).
///
/// The general profile_tier_level (12 bytes) is copied from the first SPS after emulation
/// prevention removal; chroma_format_idc and the bit depths are parsed from the SPS;
/// numTemporalLayers and temporalIdNested come from the SPS too. min_spatial_segmentation,
/// parallelismType, avgFrameRate and constantFrameRate are 0 ("unknown"); lengthSizeMinusOne
/// is 3. The three arrays (VPS, SPS, PPS) have array_completeness = 1.
pub fn hvcc_from_parameter_sets(
    vps: &[Bytes],
    sps: &[Bytes],
    pps: &[Bytes],
) -> Result<Bytes, Error> {
    let first = sps.first().ok_or(Error::Missing { what: "H.265 SPS" })?;
    if vps.is_empty() {
        return Err(Error::Missing { what: "H.265 VPS" });
    }
    if pps.is_empty() {
        return Err(Error::Missing { what: "H.265 PPS" });
    }
    for (set, ty, what) in [
        (vps, 32u8, "H.265 VPS NAL type"),
        (sps, 33, "H.265 SPS NAL type"),
        (pps, 34, "H.265 PPS NAL type"),
    ] {
        for n in set {
            if n.len() < 2 || (n[0] >> 1) & 0x3f != ty {
                return Err(invalid(what));
            }
        }
    }
    let data = rbsp(&first[2..]);
    if data.len() < 13 {
        return Err(truncated("H.265 SPS"));
    }
    let max_sub_layers_minus1 = (data[0] >> 1) & 7;
    let temporal_id_nesting = data[0] & 1;
    let ptl = &data[1..13];
    let mut r = BitReader::new(&data);
    r.skip(8 + 96).ok_or_else(|| truncated("H.265 SPS"))?;
    let (chroma, luma, chroma_depth) =
        hevc_sps_tail(&mut r, max_sub_layers_minus1).ok_or_else(|| invalid("H.265 SPS"))?;
    let mut out = BytesMut::new();
    out.put_u8(1);
    out.put_slice(ptl);
    out.put_u16(0xf000);
    out.put_u8(0xfc);
    out.put_u8(0xfc | (chroma as u8 & 3));
    out.put_u8(0xf8 | (luma as u8 & 7));
    out.put_u8(0xf8 | (chroma_depth as u8 & 7));
    out.put_u16(0);
    out.put_u8(((max_sub_layers_minus1 + 1) << 3) | (temporal_id_nesting << 2) | 3);
    out.put_u8(3);
    for (set, ty) in [(vps, 32u8), (sps, 33), (pps, 34)] {
        out.put_u8(0x80 | ty);
        let n = u16::try_from(set.len()).map_err(|_| Error::TooLarge {
            what: "H.265 parameter set count",
            limit: 0xffff,
        })?;
        out.put_u16(n);
        for nal in set {
            put_nal16(&mut out, nal, "H.265 parameter set length")?;
        }
    }
    Ok(out.freeze())
}

/// From after the general profile_tier_level of an H.265 SPS: chroma_format_idc,
/// bit_depth_luma_minus8, bit_depth_chroma_minus8.
fn hevc_sps_tail(r: &mut BitReader<'_>, max_sub_layers_minus1: u8) -> Option<(u32, u32, u32)> {
    let mut profile_present = [false; 8];
    let mut level_present = [false; 8];
    for i in 0..usize::from(max_sub_layers_minus1) {
        profile_present[i] = r.bit()? == 1;
        level_present[i] = r.bit()? == 1;
    }
    if max_sub_layers_minus1 > 0 {
        for _ in max_sub_layers_minus1..8 {
            r.bits(2)?;
        }
    }
    for i in 0..usize::from(max_sub_layers_minus1) {
        if profile_present[i] {
            r.skip(88)?;
        }
        if level_present[i] {
            r.skip(8)?;
        }
    }
    let _sps_id = r.ue()?;
    let chroma = r.ue()?;
    if chroma > 3 {
        return None;
    }
    if chroma == 3 {
        r.bit()?;
    }
    let _width = r.ue()?;
    let _height = r.ue()?;
    if r.bit()? == 1 {
        for _ in 0..4 {
            r.ue()?;
        }
    }
    let luma = r.ue()?;
    let chroma_depth = r.ue()?;
    if luma > 8 || chroma_depth > 8 {
        return None;
    }
    Some((chroma, luma, chroma_depth))
}

/// Parameter sets of an `avcC` payload: (nal_length_size, SPS list, PPS list).
pub fn parse_avcc(avcc: &[u8]) -> Result<(u8, Vec<Bytes>, Vec<Bytes>), Error> {
    let mut c = Cursor::new(avcc);
    let version = c.u8("avcC")?;
    if version != 1 {
        return Err(invalid("avcC version"));
    }
    c.skip(3, "avcC")?;
    let nal_length_size = (c.u8("avcC")? & 3) + 1;
    if nal_length_size == 3 {
        return Err(invalid("avcC lengthSizeMinusOne"));
    }
    let n_sps = c.u8("avcC")? & 0x1f;
    let mut sps = Vec::new();
    for _ in 0..n_sps {
        let len = c.u16("avcC SPS length")?;
        sps.push(Bytes::copy_from_slice(
            c.take(usize::from(len), "avcC SPS")?,
        ));
    }
    let n_pps = c.u8("avcC PPS count")?;
    let mut pps = Vec::new();
    for _ in 0..n_pps {
        let len = c.u16("avcC PPS length")?;
        pps.push(Bytes::copy_from_slice(
            c.take(usize::from(len), "avcC PPS")?,
        ));
    }
    Ok((nal_length_size, sps, pps))
}

/// Parameter sets of an `hvcC` payload: (nal_length_size, VPS, SPS, PPS). Arrays of other NAL
/// types (SEI) are skipped.
#[allow(clippy::type_complexity)]
pub fn parse_hvcc(hvcc: &[u8]) -> Result<(u8, Vec<Bytes>, Vec<Bytes>, Vec<Bytes>), Error> {
    let mut c = Cursor::new(hvcc);
    c.skip(21, "hvcC")?;
    let nal_length_size = (c.u8("hvcC")? & 3) + 1;
    if nal_length_size == 3 {
        return Err(invalid("hvcC lengthSizeMinusOne"));
    }
    let arrays = c.u8("hvcC array count")?;
    let (mut vps, mut sps, mut pps) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..arrays {
        let ty = c.u8("hvcC array")? & 0x3f;
        let n = c.u16("hvcC NAL count")?;
        for _ in 0..n {
            let len = c.u16("hvcC NAL length")?;
            let nal = Bytes::copy_from_slice(c.take(usize::from(len), "hvcC NAL unit")?);
            match ty {
                32 => vps.push(nal),
                33 => sps.push(nal),
                34 => pps.push(nal),
                _ => {}
            }
        }
    }
    Ok((nal_length_size, vps, sps, pps))
}

/// Sample rates of AC-3 fscod 0..=2, in Hz.
const AC3_RATES: [u32; 3] = [48_000, 44_100, 32_000];
/// Full-bandwidth channels for each acmod.
const ACMOD_CHANNELS: [u16; 8] = [2, 1, 2, 3, 3, 4, 4, 5];

/// A `dac3` payload (3 bytes) from an AC-3 syncframe (at least its first 7 bytes): fscod,
/// bsid, bsmod, acmod, lfeon and bit_rate_code = frmsizecod >> 1.
pub fn dac3_from_frame(frame: &[u8]) -> Result<Bytes, Error> {
    let mut r = BitReader::new(frame);
    let t = || truncated("AC-3 syncframe header");
    if r.bits(16).ok_or_else(t)? != 0x0b77 {
        return Err(invalid("AC-3 syncword"));
    }
    r.bits(16).ok_or_else(t)?; // crc1
    let fscod = r.bits(2).ok_or_else(t)?;
    let frmsizecod = r.bits(6).ok_or_else(t)?;
    let bsid = r.bits(5).ok_or_else(t)?;
    let bsmod = r.bits(3).ok_or_else(t)?;
    let acmod = r.bits(3).ok_or_else(t)?;
    if fscod == 3 {
        return Err(invalid("AC-3 fscod"));
    }
    if bsid > 10 {
        return Err(Error::Unsupported {
            what: "AC-3 bsid above 10 (E-AC-3?)",
        });
    }
    if frmsizecod > 37 {
        return Err(invalid("AC-3 frmsizecod"));
    }
    if acmod & 1 != 0 && acmod != 1 {
        r.bits(2).ok_or_else(t)?; // cmixlev
    }
    if acmod & 4 != 0 {
        r.bits(2).ok_or_else(t)?; // surmixlev
    }
    if acmod == 2 {
        r.bits(2).ok_or_else(t)?; // dsurmod
    }
    let lfeon = r.bit().ok_or_else(t)?;
    let v: u32 = (fscod << 22)
        | (bsid << 17)
        | (bsmod << 14)
        | (acmod << 11)
        | (lfeon << 10)
        | ((frmsizecod >> 1) << 5);
    let b = v.to_be_bytes();
    Ok(Bytes::copy_from_slice(&b[1..4]))
}

/// A `dec3` payload (5 bytes, one independent substream, no dependent substreams) from an
/// E-AC-3 syncframe: data_rate (kbit/s, from the frame size and sample rate), fscod, bsid,
/// bsmod (0 unless the bitstream information carries it), acmod, lfeon.
pub fn dec3_from_frame(frame: &[u8]) -> Result<Bytes, Error> {
    let mut r = BitReader::new(frame);
    let t = || truncated("E-AC-3 syncframe header");
    if r.bits(16).ok_or_else(t)? != 0x0b77 {
        return Err(invalid("E-AC-3 syncword"));
    }
    let strmtyp = r.bits(2).ok_or_else(t)?;
    let _substreamid = r.bits(3).ok_or_else(t)?;
    let frmsiz = r.bits(11).ok_or_else(t)?;
    let fscod = r.bits(2).ok_or_else(t)?;
    let (sample_rate, numblkscod) = if fscod == 3 {
        let fscod2 = r.bits(2).ok_or_else(t)?;
        let rate = *AC3_RATES
            .get(fscod2 as usize)
            .ok_or_else(|| invalid("E-AC-3 fscod2"))?;
        (rate / 2, 3)
    } else {
        (AC3_RATES[fscod as usize], r.bits(2).ok_or_else(t)?)
    };
    let acmod = r.bits(3).ok_or_else(t)?;
    let lfeon = r.bit().ok_or_else(t)?;
    let bsid = r.bits(5).ok_or_else(t)?;
    if !(11..=16).contains(&bsid) {
        return Err(invalid("E-AC-3 bsid"));
    }
    if strmtyp == 1 {
        return Err(Error::Unsupported {
            what: "E-AC-3 frame starting with a dependent substream",
        });
    }
    let blocks = [1u32, 2, 3, 6][numblkscod as usize];
    let bsmod = eac3_bsmod(&mut r, strmtyp, acmod, lfeon, blocks).unwrap_or(0);
    let frame_bytes = (u64::from(frmsiz) + 1) * 2;
    let data_rate = frame_bytes * 8 * u64::from(sample_rate) / (256 * u64::from(blocks)) / 1000;
    let data_rate = data_rate.min(0x1fff) as u32;
    let mut out = BytesMut::with_capacity(5);
    out.put_u16((data_rate << 3) as u16); // num_ind_sub = 0: one substream
    let sub: u32 = (fscod << 22) | (bsid << 17) | (bsmod << 12) | (acmod << 9) | (lfeon << 8);
    out.put_slice(&sub.to_be_bytes()[1..4]);
    Ok(out.freeze())
}

/// Reads on from after bsid to bsmod (in the informational metadata), `None` when absent.
fn eac3_bsmod(
    r: &mut BitReader<'_>,
    strmtyp: u32,
    acmod: u32,
    lfeon: u32,
    blocks: u32,
) -> Option<u32> {
    r.bits(5)?; // dialnorm
    if r.bit()? == 1 {
        r.bits(8)?; // compr
    }
    if acmod == 0 {
        r.bits(5)?;
        if r.bit()? == 1 {
            r.bits(8)?;
        }
    }
    if strmtyp == 1 && r.bit()? == 1 {
        r.bits(16)?; // chanmap
    }
    if r.bit()? == 1 {
        // mixmdate
        if acmod > 2 {
            r.bits(2)?;
        }
        if acmod & 1 != 0 && acmod > 2 {
            r.bits(6)?;
        }
        if acmod & 4 != 0 {
            r.bits(6)?;
        }
        if lfeon == 1 && r.bit()? == 1 {
            r.bits(5)?;
        }
        if strmtyp == 0 {
            if r.bit()? == 1 {
                r.bits(6)?;
            }
            if acmod == 0 && r.bit()? == 1 {
                r.bits(6)?;
            }
            if r.bit()? == 1 {
                r.bits(6)?;
            }
            match r.bits(2)? {
                1 => {
                    r.bits(5)?;
                }
                2 => {
                    r.bits(12)?;
                }
                3 => {
                    let len = r.bits(5)?;
                    r.skip(8 * (len as usize + 2))?;
                }
                _ => {}
            }
            if acmod < 2 {
                if r.bit()? == 1 {
                    r.bits(14)?;
                }
                if acmod == 0 && r.bit()? == 1 {
                    r.bits(14)?;
                }
            }
            if r.bit()? == 1 {
                if blocks == 1 {
                    r.bits(5)?;
                } else {
                    for _ in 0..blocks {
                        if r.bit()? == 1 {
                            r.bits(5)?;
                        }
                    }
                }
            }
        }
    }
    if r.bit()? == 1 {
        return r.bits(3);
    }
    None
}

/// (sample rate in Hz, channels incl. LFE) from a `dac3` payload.
pub fn ac3_info(dac3: &[u8]) -> Result<(u32, u16), Error> {
    let b = dac3.get(..3).ok_or_else(|| truncated("dac3"))?;
    let v = u32::from_be_bytes([0, b[0], b[1], b[2]]);
    let fscod = (v >> 22) & 3;
    let acmod = (v >> 11) & 7;
    let lfeon = (v >> 10) & 1;
    let rate = *AC3_RATES
        .get(fscod as usize)
        .ok_or_else(|| invalid("dac3 fscod"))?;
    Ok((rate, ACMOD_CHANNELS[acmod as usize] + lfeon as u16))
}

/// (sample rate in Hz, channels incl. LFE and dependent substreams' channels) of the first
/// independent substream of a `dec3` payload. The sample rate is 0 when fscod is 3 (a reduced
/// rate that `dec3` does not tell).
pub fn eac3_info(dec3: &[u8]) -> Result<(u32, u16), Error> {
    let b = dec3.get(..5).ok_or_else(|| truncated("dec3"))?;
    let v = u32::from_be_bytes([b[2], b[3], b[4], 0]);
    let fscod = v >> 30;
    let acmod = (v >> 17) & 7;
    let lfeon = (v >> 16) & 1;
    let num_dep_sub = (v >> 9) & 0xf;
    let rate = AC3_RATES.get(fscod as usize).copied().unwrap_or(0);
    let mut channels = ACMOD_CHANNELS[acmod as usize] + lfeon as u16;
    if num_dep_sub > 0 {
        let chan_loc = (v & 0x1ff) as u16;
        // Lc/Rc, Lrs/Rrs, Cs, Ts, Lsd/Rsd, Lw/Rw, Lvh/Rvh, Cvh, LFE2
        const PER_BIT: [u16; 9] = [2, 2, 1, 1, 2, 2, 2, 1, 1];
        for (i, n) in PER_BIT.iter().enumerate() {
            if chan_loc & (0x100 >> i) != 0 {
                channels += n;
            }
        }
    }
    Ok((rate, channels))
}

/// (sample rate in Hz, channels) from an AudioSpecificConfig, when it tells them. The sample
/// rate is the output rate: for explicit SBR (object type 5 or 29) the extension rate.
/// Channels is 0 for channelConfiguration 0 (a program config element).
pub fn asc_info(asc: &[u8]) -> Option<(u32, u16)> {
    const RATES: [u32; 13] = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
    ];
    let mut r = BitReader::new(asc);
    let read_rate = |r: &mut BitReader<'_>| -> Option<u32> {
        let idx = r.bits(4)?;
        if idx == 15 {
            r.bits(24)
        } else {
            RATES.get(idx as usize).copied()
        }
    };
    let mut aot = r.bits(5)?;
    if aot == 31 {
        aot = 32 + r.bits(6)?;
    }
    let mut rate = read_rate(&mut r)?;
    let config = r.bits(4)?;
    if aot == 5 || aot == 29 {
        rate = read_rate(&mut r)?;
    }
    let channels = match config {
        1..=6 => config as u16,
        7 | 12 | 14 => 8,
        11 => 7,
        13 => 24,
        _ => 0,
    };
    Some((rate, channels))
}

/// Macintosh language codes (QuickTime `mdhd`) 0..=94 as ISO 639-2/T; "" = none.
const MAC_LANGUAGES: [&str; 95] = [
    "eng", "fra", "deu", "ita", "nld", "swe", "spa", "dan", "por", "nor", // 0-9
    "heb", "jpn", "ara", "fin", "ell", "isl", "mlt", "tur", "hrv", "zho", // 10-19
    "urd", "hin", "tha", "kor", "lit", "pol", "hun", "est", "lav", "sme", // 20-29
    "fao", "fas", "rus", "zho", "nld", "gle", "sqi", "ron", "ces", "slk", // 30-39
    "slv", "yid", "srp", "mkd", "bul", "ukr", "bel", "uzb", "kaz", "aze", // 40-49
    "aze", "hye", "kat", "ron", "kir", "tgk", "tuk", "mon", "mon", "pus", // 50-59
    "kur", "kas", "snd", "bod", "nep", "san", "mar", "ben", "asm", "guj", // 60-69
    "pan", "ori", "mal", "kan", "tam", "tel", "sin", "mya", "khm", "lao", // 70-79
    "vie", "ind", "tgl", "msa", "msa", "amh", "tir", "orm", "som", "swa", // 80-89
    "kin", "run", "nya", "mlg", "epo", // 90-94
];
/// Macintosh language codes 128..=150 as ISO 639-2/T.
const MAC_LANGUAGES_128: [&str; 23] = [
    "cym", "eus", "cat", "lat", "que", "grn", "aym", "tat", "uig", "dzo", "jav", "sun", "glg",
    "afr", "bre", "iku", "gla", "glv", "gle", "ton", "ell", "kal", "aze",
];

/// The language of an `mdhd` language field.
///
/// Values from 0x400 are the packed ISO 639-2/T form (three 5-bit letters + 0x60); "und" and
/// anything that is not three lowercase letters give `None`. Values below 0x400 are QuickTime
/// Macintosh language codes (ffmpeg's MOV muxer writes these for the languages it knows, e.g.
/// 0 for English, 1 for French): they are mapped to ISO 639-2/T like ffmpeg does, so 0 reads as
/// "eng". 0x7FFF (QuickTime "unspecified") and unknown codes give `None`.
pub fn mp4_language(packed: u16) -> Option<String> {
    if packed < 0x400 {
        let code = usize::from(packed);
        let s = if code < 95 {
            MAC_LANGUAGES[code]
        } else {
            MAC_LANGUAGES_128.get(code.checked_sub(128)?).copied()?
        };
        return (!s.is_empty()).then(|| s.to_string());
    }
    if packed == 0x7fff {
        return None;
    }
    let letters = [(packed >> 10) & 0x1f, (packed >> 5) & 0x1f, packed & 0x1f];
    let mut s = String::with_capacity(3);
    for l in letters {
        let c = char::from(u8::try_from(l + 0x60).ok()?);
        if !c.is_ascii_lowercase() {
            return None;
        }
        s.push(c);
    }
    (s != "und").then_some(s)
}

/// The packed ISO 639-2 `mdhd` language field for `language` (three ASCII letters, case is
/// ignored); "und" for `None` or anything else.
pub fn pack_language(language: Option<&str>) -> u16 {
    let und = 0x55c4; // "und"
    let Some(l) = language else { return und };
    let b = l.as_bytes();
    if b.len() != 3 || !b.iter().all(u8::is_ascii_alphabetic) {
        return und;
    }
    b.iter().fold(0u16, |acc, c| {
        (acc << 5) | u16::from(c.to_ascii_lowercase() - 0x60)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// x264 320x240 constrained baseline SPS and PPS (ffmpeg -c:v libx264 -profile:v baseline).
    pub(crate) const SPS_BASELINE: &[u8] = &[
        0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
        0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0xa4, 0x80,
    ];
    pub(crate) const PPS: &[u8] = &[0x68, 0xcb, 0x83, 0xcb, 0x20];
    const SPS_720P_HIGH: &[u8] = &[
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03,
        0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x83, 0x19,
    ];

    #[test]
    fn avcc_baseline_and_high() {
        let avcc = avcc_from_parameter_sets(
            &[Bytes::from_static(SPS_BASELINE)],
            &[Bytes::from_static(PPS)],
        )
        .unwrap();
        assert_eq!(&avcc[..6], &[1, 0x42, 0xc0, 0x0d, 0xff, 0xe1]);
        assert_eq!(avcc.len(), 6 + 2 + SPS_BASELINE.len() + 1 + 2 + PPS.len());
        let (n, sps, pps) = parse_avcc(&avcc).unwrap();
        assert_eq!(
            (n, sps[0].as_ref(), pps[0].as_ref()),
            (4, SPS_BASELINE, PPS)
        );

        let avcc = avcc_from_parameter_sets(
            &[Bytes::from_static(SPS_720P_HIGH)],
            &[Bytes::from_static(PPS)],
        )
        .unwrap();
        // extension: 4:2:0, 8-bit, no SPS ext
        assert_eq!(&avcc[avcc.len() - 4..], &[0xfd, 0xf8, 0xf8, 0]);
        assert!(avcc_from_parameter_sets(&[], &[Bytes::from_static(PPS)]).is_err());
        assert!(
            avcc_from_parameter_sets(&[Bytes::from_static(PPS)], &[Bytes::from_static(PPS)])
                .is_err()
        );
    }

    /// x265 (ffmpeg -c:v libx265 -pix_fmt yuv420p) 320x240 Main VPS/SPS/PPS.
    pub(crate) const HEVC_VPS: &[u8] = &[
        0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
        0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x95, 0x98, 0x09,
    ];
    pub(crate) const HEVC_SPS: &[u8] = &[
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x08, 0x0f, 0x16, 0x59, 0x59, 0xa4, 0x93, 0x2b, 0xc0, 0x5a,
        0x02, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x32, 0x10,
    ];
    pub(crate) const HEVC_PPS: &[u8] = &[0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40];

    #[test]
    fn hvcc_from_sets() {
        let hvcc = hvcc_from_parameter_sets(
            &[Bytes::from_static(HEVC_VPS)],
            &[Bytes::from_static(HEVC_SPS)],
            &[Bytes::from_static(HEVC_PPS)],
        )
        .unwrap();
        assert_eq!(hvcc[0], 1);
        // Main profile, compat flags 0x60000000, level 60 (2.0)
        assert_eq!(&hvcc[1..6], &[0x01, 0x60, 0, 0, 0]);
        assert_eq!(hvcc[12], 60);
        assert_eq!(hvcc[16], 0xfd, "4:2:0");
        assert_eq!((hvcc[17], hvcc[18]), (0xf8, 0xf8), "8-bit");
        assert_eq!(hvcc[21] & 3, 3);
        let (n, vps, sps, pps) = parse_hvcc(&hvcc).unwrap();
        assert_eq!(n, 4);
        assert_eq!(
            (vps[0].as_ref(), sps[0].as_ref(), pps[0].as_ref()),
            (HEVC_VPS, HEVC_SPS, HEVC_PPS)
        );
    }

    #[test]
    fn hvcc_444_chroma_parsed() {
        // libx265 RExt 4:4:4 8-bit SPS
        const SPS: &[u8] = &[
            0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9e, 0x08, 0x00, 0x00, 0x03,
            0x00, 0x00, 0x3c, 0x90, 0x01, 0x41, 0x01, 0xe2, 0xcb, 0x2b, 0x34, 0x92, 0x65, 0x78,
            0x0b, 0x70, 0x20, 0x20, 0x00, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x06,
            0x42,
        ];
        let hvcc = hvcc_from_parameter_sets(
            &[Bytes::from_static(HEVC_VPS)],
            &[Bytes::from_static(SPS)],
            &[Bytes::from_static(HEVC_PPS)],
        )
        .unwrap();
        assert_eq!(hvcc[1], 0x04, "RExt profile");
        assert_eq!(hvcc[16], 0xff, "4:4:4");
        assert_eq!((hvcc[17], hvcc[18]), (0xf8, 0xf8));
    }

    /// AC-3 syncframe headers built per A/52 5.3: 48 kHz, frmsizecod 28 (bit_rate_code 14,
    /// 384 kbit/s), bsid 8, bsmod 0, acmod 7 (3/2), lfeon 1; then 44.1 kHz stereo.
    #[test]
    fn dac3_fields() {
        // syncword, crc1, fscod=00 frmsizecod=011100 (28 -> bit_rate_code 14),
        // bsid=01000 bsmod=000, acmod=111 cmixlev=01 surmixlev=01 lfeon=1 ...
        let mut frame = vec![0x0b, 0x77, 0x12, 0x34, 0b0001_1100, 0b0100_0000];
        // acmod 111, cmixlev 01, surmixlev 01, lfeon 1, then padding
        frame.push(0b1110_1011);
        frame.push(0);
        let d = dac3_from_frame(&frame).unwrap();
        let v = u32::from_be_bytes([0, d[0], d[1], d[2]]);
        assert_eq!(v >> 22, 0, "fscod");
        assert_eq!((v >> 17) & 0x1f, 8, "bsid");
        assert_eq!((v >> 14) & 7, 0, "bsmod");
        assert_eq!((v >> 11) & 7, 7, "acmod");
        assert_eq!((v >> 10) & 1, 1, "lfeon");
        assert_eq!((v >> 5) & 0x1f, 14, "bit_rate_code");
        assert_eq!(ac3_info(&d).unwrap(), (48_000, 6));

        // 44.1 kHz stereo (acmod 2: dsurmod), bsmod 2, no LFE
        let frame = [0x0b, 0x77, 0, 0, 0b0100_1010, 0b0100_0010, 0b0100_0000];
        let d = dac3_from_frame(&frame).unwrap();
        let v = u32::from_be_bytes([0, d[0], d[1], d[2]]);
        assert_eq!(v >> 22, 1);
        assert_eq!((v >> 14) & 7, 2);
        assert_eq!((v >> 11) & 7, 2);
        assert_eq!((v >> 10) & 1, 0);
        assert_eq!((v >> 5) & 0x1f, 5);
        assert_eq!(ac3_info(&d).unwrap(), (44_100, 2));
        assert!(dac3_from_frame(&frame[..5]).is_err());
        assert!(dac3_from_frame(&[0; 8]).is_err());
    }

    #[test]
    fn dec3_fields() {
        // syncword; strmtyp 00, substreamid 000, frmsiz = 767 (1536 bytes);
        // fscod 00 (48 kHz), numblkscod 11 (6 blocks), acmod 111, lfeon 1, bsid 10000 (16),
        // dialnorm 5 bits, compre 0, mixmdate 0, infomdate 1, bsmod 011.
        let mut w = Writer::default();
        w.put(0x0b77, 16);
        w.put(0, 2);
        w.put(0, 3);
        w.put(767, 11);
        w.put(0, 2);
        w.put(3, 2);
        w.put(7, 3);
        w.put(1, 1);
        w.put(16, 5);
        w.put(27, 5);
        w.put(0, 1);
        w.put(0, 1);
        w.put(1, 1);
        w.put(3, 3);
        w.put(0, 16);
        let frame = w.finish();
        let d = dec3_from_frame(&frame).unwrap();
        assert_eq!(d.len(), 5);
        let data_rate = u16::from_be_bytes([d[0], d[1]]) >> 3;
        // 1536 bytes * 8 * 48000 / 1536 samples = 384 kbit/s
        assert_eq!(data_rate, 384);
        assert_eq!(d[1] & 7, 0, "num_ind_sub");
        let v = u32::from_be_bytes([d[2], d[3], d[4], 0]);
        assert_eq!(v >> 30, 0, "fscod");
        assert_eq!((v >> 25) & 0x1f, 16, "bsid");
        assert_eq!((v >> 20) & 7, 3, "bsmod");
        assert_eq!((v >> 17) & 7, 7, "acmod");
        assert_eq!((v >> 16) & 1, 1, "lfeon");
        assert_eq!((v >> 9) & 0xf, 0, "num_dep_sub");
        assert_eq!(eac3_info(&d).unwrap(), (48_000, 6));
        assert!(dec3_from_frame(&frame[..4]).is_err());
    }

    #[derive(Default)]
    pub(crate) struct Writer {
        bits: Vec<bool>,
    }

    impl Writer {
        pub(crate) fn put(&mut self, v: u32, n: u32) {
            for i in (0..n).rev() {
                self.bits.push((v >> i) & 1 == 1);
            }
        }
        pub(crate) fn finish(self) -> Vec<u8> {
            self.bits
                .chunks(8)
                .map(|c| {
                    c.iter()
                        .enumerate()
                        .fold(0u8, |a, (i, b)| a | (u8::from(*b) << (7 - i)))
                })
                .collect()
        }
    }

    #[test]
    fn languages() {
        assert_eq!(
            mp4_language(pack_language(Some("fra"))).as_deref(),
            Some("fra")
        );
        assert_eq!(pack_language(Some("und")), 0x55c4);
        assert_eq!(pack_language(None), 0x55c4);
        assert_eq!(pack_language(Some("x1")), 0x55c4);
        assert_eq!(mp4_language(0x55c4), None);
        assert_eq!(mp4_language(0).as_deref(), Some("eng"));
        assert_eq!(mp4_language(1).as_deref(), Some("fra"));
        assert_eq!(mp4_language(0x7fff), None);
        assert_eq!(mp4_language(100), None);
        assert_eq!(mp4_language(128).as_deref(), Some("cym"));
        assert_eq!(mp4_language(0x15c7).as_deref(), Some("eng"));
    }

    #[test]
    fn asc() {
        assert_eq!(asc_info(&[0x12, 0x10]), Some((44_100, 2)));
        // HE-AAC explicit: aot 5, 24 kHz core (idx 6), stereo, ext 48 kHz (idx 3), aot 2
        assert_eq!(asc_info(&[0x2b, 0x11, 0x88, 0x00]), Some((48_000, 2)));
        assert_eq!(asc_info(&[0x12]), None);
    }
}
