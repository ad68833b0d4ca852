//! AAC framing: AudioSpecificConfig and ADTS.

use crate::bits::BitReader;

pub const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// The fields of an AudioSpecificConfig we need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asc {
    pub object_type: u8,
    pub sample_rate_index: u8,
    pub sample_rate: u32,
    pub channels: u8,
}

impl Asc {
    pub fn parse(d: &[u8]) -> Option<Asc> {
        let mut r = BitReader::new(d);
        let mut object_type = r.bits(5).ok()? as u8;
        if object_type == 31 {
            object_type = 32 + r.bits(6).ok()? as u8;
        }
        let sample_rate_index = r.bits(4).ok()? as u8;
        let sample_rate = if sample_rate_index == 15 {
            r.bits(24).ok()?
        } else {
            *SAMPLE_RATES.get(sample_rate_index as usize)?
        };
        let channels = r.bits(4).ok()? as u8;
        Some(Asc {
            object_type,
            sample_rate_index,
            sample_rate,
            channels,
        })
    }

    /// A two-byte AudioSpecificConfig.
    pub fn serialize(&self) -> [u8; 2] {
        let v: u16 = ((self.object_type as u16 & 0x1f) << 11)
            | ((self.sample_rate_index as u16 & 0xf) << 7)
            | ((self.channels as u16 & 0xf) << 3);
        v.to_be_bytes()
    }

    /// The 7-byte ADTS header (no CRC) for a raw frame of `payload_len` bytes.
    pub fn adts_header(&self, payload_len: usize) -> [u8; 7] {
        let len = payload_len + 7;
        let profile = self.object_type.saturating_sub(1).min(3);
        [
            0xff,
            0xf1,
            (profile << 6) | ((self.sample_rate_index & 0xf) << 2) | ((self.channels >> 2) & 1),
            ((self.channels & 3) << 6) | ((len >> 11) as u8 & 3),
            (len >> 3) as u8,
            (((len & 7) as u8) << 5) | 0x1f,
            0xfc,
        ]
    }
}

/// One parsed ADTS header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adts {
    pub asc: Asc,
    /// Header length (7, or 9 with CRC).
    pub header_len: usize,
    /// Whole frame length including the header.
    pub frame_len: usize,
}

/// Parses the ADTS header at the start of `d`.
pub fn parse_adts(d: &[u8]) -> Option<Adts> {
    if d.len() < 7 || d[0] != 0xff || d[1] & 0xf6 != 0xf0 {
        return None;
    }
    let protection_absent = d[1] & 1;
    let profile = d[2] >> 6;
    let sample_rate_index = (d[2] >> 2) & 0xf;
    let channels = ((d[2] & 1) << 2) | (d[3] >> 6);
    let frame_len = (((d[3] & 3) as usize) << 11) | ((d[4] as usize) << 3) | ((d[5] >> 5) as usize);
    let header_len = if protection_absent == 1 { 7 } else { 9 };
    if frame_len < header_len {
        return None;
    }
    Some(Adts {
        asc: Asc {
            object_type: profile + 1,
            sample_rate_index,
            sample_rate: *SAMPLE_RATES.get(sample_rate_index as usize)?,
            channels,
        },
        header_len,
        frame_len,
    })
}

/// Samples per AAC frame (AAC-LC and HE-AAC core).
pub const SAMPLES_PER_FRAME: i64 = 1024;

/// Duration of one AAC frame in 90 kHz ticks (rounded) at `sample_rate`.
pub fn frame_duration_90k(sample_rate: u32) -> i64 {
    if sample_rate == 0 {
        return 1920;
    }
    SAMPLES_PER_FRAME * 90_000 / sample_rate as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asc_and_adts_round_trip() {
        let asc = Asc::parse(&[0x12, 0x10]).unwrap();
        assert_eq!(asc.sample_rate, 44100);
        assert_eq!(asc.channels, 2);
        assert_eq!(asc.object_type, 2);
        assert_eq!(asc.serialize(), [0x12, 0x10]);
        let h = asc.adts_header(100);
        let a = parse_adts(&h).unwrap();
        assert_eq!(a.asc, asc);
        assert_eq!(a.frame_len, 107);
        for n in 0..7 {
            assert!(parse_adts(&h[..n]).is_none());
        }
    }
}
