//! Silent raw AAC-LC frames, built bit by bit (no encoder needed).

use media::aac::Asc;

/// Sample rate of the test audio.
pub const SAMPLE_RATE: u32 = 48_000;
/// Channels of the test audio (mono).
pub const CHANNELS: u8 = 1;
/// Duration of one AAC frame (1024 samples at 48 kHz) in 90 kHz ticks.
pub const FRAME_TICKS: i64 = 1920;

/// The AudioSpecificConfig: AAC-LC (object type 2), 48 kHz (index 3), mono.
pub fn asc() -> Asc {
    Asc {
        object_type: 2,
        sample_rate_index: 3,
        sample_rate: SAMPLE_RATE,
        channels: CHANNELS,
    }
}

/// One raw AAC-LC `raw_data_block()` (ISO/IEC 14496-3, 4.4.2.1) holding silence:
///
/// ```text
/// single_channel_element:
///   id_syn_ele                = 0 (ID_SCE)   3 bits
///   element_instance_tag      = 0            4
///   individual_channel_stream:
///     global_gain             = 160          8
///     ics_info:
///       ics_reserved_bit      = 0            1
///       window_sequence       = 0 (ONLY_LONG) 2
///       window_shape          = 0            1
///       max_sfb               = 0            6
///       predictor_data_present= 0            1
///     section_data / scale_factor_data: empty (max_sfb = 0)
///     pulse_data_present      = 0            1
///     tns_data_present        = 0            1
///     gain_control_data_present = 0          1
///     spectral_data: empty
/// id_syn_ele                  = 7 (ID_END)   3
/// byte_alignment: none needed (32 bits total)
/// ```
pub fn silent_frame() -> [u8; 4] {
    let mut w = BitWriter::default();
    w.put(0, 3); // ID_SCE
    w.put(0, 4); // element_instance_tag
    w.put(160, 8); // global_gain (any value: no spectral data follows)
    w.put(0, 1); // ics_reserved_bit
    w.put(0, 2); // window_sequence ONLY_LONG_SEQUENCE
    w.put(0, 1); // window_shape
    w.put(0, 6); // max_sfb
    w.put(0, 1); // predictor_data_present
    w.put(0, 1); // pulse_data_present
    w.put(0, 1); // tns_data_present
    w.put(0, 1); // gain_control_data_present
    w.put(7, 3); // ID_END
    let v = w.finish();
    [v[0], v[1], v[2], v[3]]
}

#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl BitWriter {
    fn put(&mut self, v: u32, bits: u32) {
        for i in (0..bits).rev() {
            self.acc = (self.acc << 1) | ((v >> i) & 1);
            self.n += 1;
            if self.n == 8 {
                self.out.push(self.acc as u8);
                self.acc = 0;
                self.n = 0;
            }
        }
    }
    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push((self.acc << (8 - self.n)) as u8);
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_frame_bits() {
        // 000 0000 10100000 0 00 0 000000 0 0 0 0 111
        assert_eq!(silent_frame(), [0x01, 0x40, 0x00, 0x07]);
    }

    #[test]
    fn asc_bytes() {
        assert_eq!(asc().serialize(), [0x11, 0x88]);
        assert_eq!(Asc::parse(&[0x11, 0x88]), Some(asc()));
        assert_eq!(media::aac::frame_duration_90k(SAMPLE_RATE), FRAME_TICKS);
    }
}
