//! H.264 framing helpers: Annex B <-> AVCC, NAL iteration, SPS parsing.

use bytes::{BufMut, Bytes, BytesMut};

use crate::bits::{unescape_rbsp, BitReader, OutOfBits};

pub const NAL_SLICE: u8 = 1;
pub const NAL_IDR: u8 = 5;
pub const NAL_SEI: u8 = 6;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;
pub const NAL_AUD: u8 = 9;

pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map(|b| b & 0x1f).unwrap_or(0)
}

/// Iterates the NAL units (without start codes) of an Annex B buffer: lazily, without
/// allocating, finding start codes with `memchr` (a frame is scanned by the demuxer and the
/// muxer alike, so this is on every channel's path).
pub fn annexb_nals(data: &[u8]) -> AnnexBNals<'_> {
    AnnexBNals {
        data,
        next: find_start_code(data, 0).map(|(_, after)| after),
    }
}

/// The NAL units of an Annex B buffer ([`annexb_nals`]).
#[derive(Debug, Clone)]
pub struct AnnexBNals<'a> {
    data: &'a [u8],
    /// Where the next NAL unit starts (just after its start code).
    next: Option<usize>,
}

impl<'a> Iterator for AnnexBNals<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let s = self.next?;
            let (mut e, next) = match find_start_code(self.data, s) {
                Some((at, after)) => (at, Some(after)),
                None => (self.data.len(), None),
            };
            self.next = next;
            // trailing zero bytes belong to the next 4-byte start code
            while e > s && self.data[e - 1] == 0 {
                e -= 1;
            }
            if e > s {
                return Some(&self.data[s..e]);
            }
        }
    }
}

/// The first `00 00 01` at or after `from`: (its position, the position after it).
fn find_start_code(data: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut one = from + 2; // the `01` of a start code at `from` at the earliest
    while one < data.len() {
        let j = one + memchr::memchr(1, &data[one..])?;
        if data[j - 1] == 0 && data[j - 2] == 0 {
            return Some((j - 2, j + 1));
        }
        one = j + 1;
    }
    None
}

/// Converts length-prefixed NAL units (AVCC, as in FLV/MP4) to Annex B.
/// Returns None when a length runs past the buffer.
pub fn avcc_to_annexb(data: &[u8], length_size: usize) -> Option<BytesMut> {
    let mut out = BytesMut::with_capacity(data.len() + 16);
    let mut p = 0;
    while p < data.len() {
        if p + length_size > data.len() {
            return None;
        }
        let mut len = 0usize;
        for b in &data[p..p + length_size] {
            len = (len << 8) | *b as usize;
        }
        p += length_size;
        if p + len > data.len() {
            return None;
        }
        out.put_slice(&[0, 0, 0, 1]);
        out.put_slice(&data[p..p + len]);
        p += len;
    }
    Some(out)
}

/// Annex B to AVCC with 4-byte lengths.
pub fn annexb_to_avcc(data: &[u8]) -> BytesMut {
    let mut out = BytesMut::with_capacity(data.len() + 16);
    for nal in annexb_nals(data) {
        out.put_u32(nal.len() as u32);
        out.put_slice(nal);
    }
    out
}

/// The AVCDecoderConfigurationRecord (FLV sequence header / MP4 avcC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcDecoderConfig {
    pub length_size: usize,
    pub sps: Vec<Bytes>,
    pub pps: Vec<Bytes>,
}

impl AvcDecoderConfig {
    pub fn parse(d: &[u8]) -> Option<Self> {
        if d.len() < 7 || d[0] != 1 {
            return None;
        }
        let length_size = (d[4] & 3) as usize + 1;
        let nsps = (d[5] & 0x1f) as usize;
        let mut p = 6;
        let mut sps = Vec::new();
        for _ in 0..nsps {
            let len = u16::from_be_bytes([*d.get(p)?, *d.get(p + 1)?]) as usize;
            p += 2;
            sps.push(Bytes::copy_from_slice(d.get(p..p + len)?));
            p += len;
        }
        let npps = *d.get(p)? as usize;
        p += 1;
        let mut pps = Vec::new();
        for _ in 0..npps {
            let len = u16::from_be_bytes([*d.get(p)?, *d.get(p + 1)?]) as usize;
            p += 2;
            pps.push(Bytes::copy_from_slice(d.get(p..p + len)?));
            p += len;
        }
        Some(AvcDecoderConfig {
            length_size,
            sps,
            pps,
        })
    }

    pub fn serialize(&self) -> Bytes {
        let mut out = BytesMut::new();
        let s0 = self.sps.first().map(|s| &s[..]).unwrap_or(&[0, 0, 0, 0]);
        out.put_u8(1);
        out.put_u8(*s0.get(1).unwrap_or(&0x42));
        out.put_u8(*s0.get(2).unwrap_or(&0));
        out.put_u8(*s0.get(3).unwrap_or(&0x1e));
        out.put_u8(0xfc | (self.length_size as u8 - 1));
        out.put_u8(0xe0 | self.sps.len() as u8);
        for s in &self.sps {
            out.put_u16(s.len() as u16);
            out.put_slice(s);
        }
        out.put_u8(self.pps.len() as u8);
        for p in &self.pps {
            out.put_u16(p.len() as u16);
            out.put_slice(p);
        }
        out.freeze()
    }
}

/// What we read from an SPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpsInfo {
    pub profile_idc: u8,
    pub level_idc: u8,
    pub width: u32,
    pub height: u32,
    /// Frame rate ×1000 from VUI timing info (0 = not present).
    pub fps_milli: u32,
}

/// Parses an SPS NAL unit (with its one-byte NAL header, without start code).
pub fn parse_sps(nal: &[u8]) -> Result<SpsInfo, OutOfBits> {
    let rbsp = unescape_rbsp(nal);
    let mut r = BitReader::new(&rbsp);
    r.skip(8)?; // nal header
    let profile_idc = r.bits(8)? as u8;
    r.skip(8)?; // constraint flags
    let level_idc = r.bits(8)? as u8;
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = 0;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()?;
        }
        r.ue()?; // bit_depth_luma
        r.ue()?; // bit_depth_chroma
        r.bit()?; // qpprime_y_zero_transform_bypass
        if r.bit()? == 1 {
            let n = if chroma_format_idc != 3 { 8 } else { 12 };
            for i in 0..n {
                if r.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..size {
                        if next != 0 {
                            let delta = r.se()?;
                            next = (last + delta + 256) % 256;
                        }
                        last = if next == 0 { last } else { next };
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    let poc_type = r.ue()?;
    if poc_type == 0 {
        r.ue()?;
    } else if poc_type == 1 {
        r.bit()?;
        r.se()?;
        r.se()?;
        let n = r.ue()?;
        for _ in 0..n.min(255) {
            r.se()?;
        }
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_allowed
    let w_mbs = r.ue()? + 1;
    let h_map_units = r.ue()? + 1;
    let frame_mbs_only = r.bit()?;
    if frame_mbs_only == 0 {
        r.bit()?; // mb_adaptive_frame_field
    }
    r.bit()?; // direct_8x8_inference
    let (mut cl, mut cr, mut ct, mut cb) = (0, 0, 0, 0);
    if r.bit()? == 1 {
        cl = r.ue()?;
        cr = r.ue()?;
        ct = r.ue()?;
        cb = r.ue()?;
    }
    let chroma_array_type = if separate_colour_plane == 1 {
        0
    } else {
        chroma_format_idc
    };
    let (sub_w, sub_h) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let crop_x = if chroma_array_type == 0 { 1 } else { sub_w };
    let crop_y = (if chroma_array_type == 0 { 1 } else { sub_h }) * (2 - frame_mbs_only);
    let width = (w_mbs * 16).saturating_sub((cl + cr) * crop_x);
    let height = ((2 - frame_mbs_only) * h_map_units * 16).saturating_sub((ct + cb) * crop_y);
    let mut fps_milli = 0;
    if r.bit().unwrap_or(0) == 1 {
        // VUI
        fps_milli = parse_vui_fps(&mut r).unwrap_or(0);
    }
    Ok(SpsInfo {
        profile_idc,
        level_idc,
        width,
        height,
        fps_milli,
    })
}

fn parse_vui_fps(r: &mut BitReader) -> Result<u32, OutOfBits> {
    if r.bit()? == 1 {
        let idc = r.bits(8)?;
        if idc == 255 {
            r.skip(32)?;
        }
    }
    if r.bit()? == 1 {
        r.bit()?;
    }
    if r.bit()? == 1 {
        r.skip(4)?;
        if r.bit()? == 1 {
            r.skip(24)?;
        }
    }
    if r.bit()? == 1 {
        r.ue()?;
        r.ue()?;
    }
    if r.bit()? == 1 {
        let num_units = r.bits(32)? as u64;
        let time_scale = r.bits(32)? as u64;
        if num_units > 0 {
            return Ok((time_scale * 1000 / (2 * num_units)) as u32);
        }
    }
    Ok(0)
}

/// True when the access unit holds an IDR slice.
pub fn is_keyframe(annexb: &[u8]) -> bool {
    annexb_nals(annexb).any(|n| nal_type(n) == NAL_IDR)
}

/// Builds a [`crate::VideoConfig`] from SPS/PPS NAL units.
pub fn video_config(sps: Vec<Bytes>, pps: Vec<Bytes>) -> crate::VideoConfig {
    let info = sps
        .first()
        .and_then(|s| parse_sps(s).ok())
        .unwrap_or_default();
    crate::VideoConfig {
        codec: Some(crate::Codec::H264),
        width: info.width,
        height: info.height,
        fps_milli: info.fps_milli,
        sps,
        pps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The byte-by-byte scan `annexb_nals` replaced: the reference it must agree with.
    fn annexb_nals_reference(data: &[u8]) -> Vec<&[u8]> {
        let mut starts = Vec::new();
        let mut i = 0;
        while i + 3 <= data.len() {
            if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
                starts.push(i + 3);
                i += 3;
            } else {
                i += 1;
            }
        }
        let mut out = Vec::new();
        for (k, &s) in starts.iter().enumerate() {
            let mut e = starts.get(k + 1).map_or(data.len(), |n| n - 3);
            while e > s && data[e - 1] == 0 {
                e -= 1;
            }
            if e > s {
                out.push(&data[s..e]);
            }
        }
        out
    }

    proptest! {
        #[test]
        fn annexb_nals_agrees_with_the_byte_scan(
            // bytes drawn mostly from 0, 1 and 3 so start codes, emulation and runs of zeros abound
            data in proptest::collection::vec(
                prop_oneof![4 => Just(0u8), 2 => Just(1u8), 1 => Just(3u8), 1 => any::<u8>()],
                0..200,
            )
        ) {
            prop_assert_eq!(annexb_nals(&data).collect::<Vec<_>>(), annexb_nals_reference(&data));
        }
    }

    #[test]
    fn annexb_nals_edges() {
        for data in [
            &[][..],
            &[0, 0, 1],
            &[0, 0, 0, 1],
            &[1, 1, 1],
            &[0, 0, 1, 0x65, 0, 0],
            &[0, 0, 1, 0, 0, 1, 0x41],
            &[9, 0, 0, 1, 0x67, 0, 0, 0, 1, 0x68, 0, 0, 1],
        ] {
            assert_eq!(
                annexb_nals(data).collect::<Vec<_>>(),
                annexb_nals_reference(data),
                "{data:?}"
            );
        }
    }

    // SPS of an x264 1280x720 High profile stream.
    const SPS_720P: [u8; 25] = [
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03,
        0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x83, 0x19,
    ];

    #[test]
    fn sps_720p() {
        let s = parse_sps(&SPS_720P).unwrap();
        assert_eq!((s.width, s.height), (1280, 720));
        assert_eq!(s.profile_idc, 100);
    }

    #[test]
    fn nal_iteration_and_avcc_round_trip() {
        let ab = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 9, 9,
        ];
        let nals: Vec<_> = annexb_nals(&ab).collect();
        assert_eq!(
            nals,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 9, 9][..]]
        );
        let avcc = annexb_to_avcc(&ab);
        let back = avcc_to_annexb(&avcc, 4).unwrap();
        assert_eq!(annexb_nals(&back).collect::<Vec<_>>(), nals);
        assert!(is_keyframe(&ab));
    }

    #[test]
    fn truncated_inputs_do_not_panic() {
        for n in 0..SPS_720P.len() {
            let _ = parse_sps(&SPS_720P[..n]);
        }
        let rec = AvcDecoderConfig {
            length_size: 4,
            sps: vec![Bytes::from_static(&SPS_720P)],
            pps: vec![Bytes::from_static(&[0x68, 0xeb, 0xe3, 0xcb])],
        };
        let ser = rec.serialize();
        assert_eq!(AvcDecoderConfig::parse(&ser).unwrap(), rec);
        for n in 0..ser.len() {
            let _ = AvcDecoderConfig::parse(&ser[..n]);
        }
        assert!(avcc_to_annexb(&[0, 0, 0, 9, 1], 4).is_none());
    }
}
