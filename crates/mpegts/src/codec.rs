//! Small codec header parsers the demuxer needs beyond what `media` provides:
//! HEVC NAL types and SPS dimensions, MPEG audio and (E-)AC-3 sync frame headers.

use media::bits::{unescape_rbsp, BitReader, OutOfBits};

pub(crate) const HEVC_NAL_VPS: u8 = 32;
pub(crate) const HEVC_NAL_SPS: u8 = 33;
pub(crate) const HEVC_NAL_PPS: u8 = 34;
pub(crate) const HEVC_NAL_AUD: u8 = 35;

/// The NAL unit type of an HEVC NAL (two-byte header).
pub(crate) fn hevc_nal_type(nal: &[u8]) -> u8 {
    nal.first().map(|b| (b >> 1) & 0x3f).unwrap_or(0xff)
}

/// IRAP pictures (BLA, IDR, CRA): NAL types 16..=21.
pub(crate) fn hevc_is_irap(nal_type: u8) -> bool {
    (16..=21).contains(&nal_type)
}

/// Reads the coded picture size from an HEVC SPS NAL (with its 2-byte header).
pub(crate) fn hevc_sps_dimensions(nal: &[u8]) -> Result<(u32, u32), OutOfBits> {
    let rbsp = unescape_rbsp(nal);
    let mut r = BitReader::new(&rbsp);
    r.skip(16)?; // NAL header
    r.skip(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)? as usize;
    r.skip(1)?; // temporal_id_nesting
                // profile_tier_level(1, max_sub_layers_minus1)
    r.skip(96)?; // general profile/tier/flags/level
    let mut sub_profile = [false; 8];
    let mut sub_level = [false; 8];
    for i in 0..max_sub_layers_minus1 {
        sub_profile[i] = r.bit()? == 1;
        sub_level[i] = r.bit()? == 1;
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1))?;
    }
    for i in 0..max_sub_layers_minus1 {
        if sub_profile[i] {
            r.skip(88)?;
        }
        if sub_level[i] {
            r.skip(8)?;
        }
    }
    r.ue()?; // sps_seq_parameter_set_id
    let chroma_format_idc = r.ue()?;
    let mut separate_colour_plane = 0;
    if chroma_format_idc == 3 {
        separate_colour_plane = r.bit()?;
    }
    let width = r.ue()?;
    let height = r.ue()?;
    let chroma = if separate_colour_plane == 1 {
        0
    } else {
        chroma_format_idc
    };
    let (sub_w, sub_h) = match chroma {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    if r.bit()? == 1 {
        let (l, rr, t, b) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        return Ok((
            width.saturating_sub(sub_w * l.saturating_add(rr)),
            height.saturating_sub(sub_h * t.saturating_add(b)),
        ));
    }
    Ok((width, height))
}

/// Sample rate and channel count of an MPEG audio (layer I/II/III) frame header.
pub(crate) fn mpeg_audio_header(d: &[u8]) -> Option<(u32, u8)> {
    let d = d.get(..4)?;
    if d[0] != 0xff || d[1] & 0xe0 != 0xe0 {
        return None;
    }
    let version = (d[1] >> 3) & 3;
    let layer = (d[1] >> 1) & 3;
    let rate_idx = ((d[2] >> 2) & 3) as usize;
    if layer == 0 || rate_idx == 3 {
        return None;
    }
    let base = [44100, 48000, 32000][rate_idx];
    let rate = match version {
        3 => base,
        2 => base / 2,
        0 => base / 4,
        _ => return None,
    };
    let channels = if d[3] >> 6 == 3 { 1 } else { 2 };
    Some((rate, channels))
}

/// Which of AC-3 / E-AC-3 a sync frame is, with its sample rate and channel count (incl. LFE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ac3Header {
    pub enhanced: bool,
    pub sample_rate: u32,
    pub channels: u8,
}

const ACMOD_CHANNELS: [u8; 8] = [2, 1, 2, 3, 3, 4, 4, 5];

/// Parses an AC-3 or E-AC-3 sync frame header (syncword 0x0B77).
pub(crate) fn ac3_header(d: &[u8]) -> Option<Ac3Header> {
    if d.len() < 8 || d[0] != 0x0b || d[1] != 0x77 {
        return None;
    }
    let bsid = d[5] >> 3;
    let mut r = BitReader::new(&d[2..]);
    if bsid <= 10 {
        r.skip(16).ok()?; // crc1
        let fscod = r.bits(2).ok()?;
        let sample_rate = *[48000, 44100, 32000].get(fscod as usize)?;
        r.skip(6 + 5 + 3).ok()?; // frmsizecod, bsid, bsmod
        let acmod = r.bits(3).ok()? as usize;
        if acmod & 1 != 0 && acmod != 1 {
            r.skip(2).ok()?;
        }
        if acmod & 4 != 0 {
            r.skip(2).ok()?;
        }
        if acmod == 2 {
            r.skip(2).ok()?;
        }
        let lfe = r.bit().ok()? as u8;
        Some(Ac3Header {
            enhanced: false,
            sample_rate,
            channels: ACMOD_CHANNELS[acmod] + lfe,
        })
    } else if bsid <= 16 {
        r.skip(2 + 3 + 11).ok()?; // strmtyp, substreamid, frmsiz
        let fscod = r.bits(2).ok()?;
        let sample_rate = if fscod == 3 {
            *[24000, 22050, 16000].get(r.bits(2).ok()? as usize)?
        } else {
            r.skip(2).ok()?; // numblkscod
            [48000, 44100, 32000][fscod as usize]
        };
        let acmod = r.bits(3).ok()? as usize;
        let lfe = r.bit().ok()? as u8;
        Some(Ac3Header {
            enhanced: true,
            sample_rate,
            channels: ACMOD_CHANNELS[acmod] + lfe,
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hevc_sps_1080p() {
        // SPS of an x265 1920x1080 (coded 1088 + conformance window) stream.
        let sps = [
            0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9e, 0x08, 0x00, 0x00, 0x03,
            0x00, 0x00, 0x78, 0x90, 0x00, 0x78, 0x10, 0x02, 0x1c, 0xb2, 0xca, 0xcd, 0x24, 0x99,
            0x5e, 0x02, 0xdc, 0x08, 0x08, 0x00, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00,
            0x03, 0x01, 0x90, 0x80,
        ];
        assert_eq!(hevc_nal_type(&sps), HEVC_NAL_SPS);
        assert_eq!(hevc_sps_dimensions(&sps), Ok((1920, 1080)));
        for n in 0..sps.len() {
            let _ = hevc_sps_dimensions(&sps[..n]);
        }
    }

    #[test]
    fn audio_headers() {
        // MPEG-1 layer II, 48 kHz, stereo.
        assert_eq!(
            mpeg_audio_header(&[0xff, 0xfd, 0x84, 0x04]),
            Some((48000, 2))
        );
        // AC-3: 48 kHz, acmod 7 (3/2) + LFE.
        let ac3 = [0x0b, 0x77, 0, 0, 0x1e, 0x40, 0xe1, 0];
        let h = ac3_header(&ac3).unwrap();
        assert!(!h.enhanced);
        assert_eq!(h.sample_rate, 48000);
        assert_eq!(h.channels, 6);
        // E-AC-3: bsid 16, fscod 0 (48 kHz), acmod 2, no LFE.
        let eac3 = [0x0b, 0x77, 0x00, 0x10, 0x34, 0x80, 0, 0];
        let h = ac3_header(&eac3).unwrap();
        assert!(h.enhanced);
        assert_eq!((h.sample_rate, h.channels), (48000, 2));
        for n in 0..8 {
            assert!(ac3_header(&ac3[..n]).is_none());
        }
    }
}
