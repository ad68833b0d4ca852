//! PES header parsing/writing and 33-bit timestamp fields.

/// Mask for the 33-bit PTS/DTS fields.
pub(crate) const TS_MASK: u64 = (1 << 33) - 1;

/// A parsed PES packet: raw 33-bit timestamps and the byte range of its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PesHeader {
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    /// Offset of the elementary stream payload in the PES packet.
    pub payload_offset: usize,
}

/// Reads a 5-byte PTS/DTS field (marker bits ignored).
pub(crate) fn read_ts(b: &[u8]) -> Option<u64> {
    let b = b.get(..5)?;
    Some(
        (((b[0] >> 1) & 7) as u64) << 30
            | ((b[1] as u64) << 22)
            | (((b[2] >> 1) as u64) << 15)
            | ((b[3] as u64) << 7)
            | (b[4] >> 1) as u64,
    )
}

/// Writes a 5-byte PTS/DTS field with the 4-bit `prefix` (0b0010 PTS only, 0b0011 PTS with DTS,
/// 0b0001 DTS).
pub(crate) fn write_ts(prefix: u8, ts: u64) -> [u8; 5] {
    let ts = ts & TS_MASK;
    [
        (prefix << 4) | (((ts >> 30) & 7) as u8) << 1 | 1,
        (ts >> 22) as u8,
        (((ts >> 15) & 0x7f) as u8) << 1 | 1,
        (ts >> 7) as u8,
        ((ts & 0x7f) as u8) << 1 | 1,
    ]
}

/// Stream ids whose PES packets have no optional header (padding, private_stream_2, ECM, ...).
fn has_no_optional_header(stream_id: u8) -> bool {
    matches!(
        stream_id,
        0xbc | 0xbe | 0xbf | 0xf0 | 0xf1 | 0xf2 | 0xf8 | 0xff
    )
}

/// Parses the header of a complete PES packet. `None` when malformed.
pub(crate) fn parse_pes(d: &[u8]) -> Option<PesHeader> {
    if d.len() < 6 || d[..3] != [0, 0, 1] {
        return None;
    }
    if has_no_optional_header(d[3]) {
        return Some(PesHeader {
            pts: None,
            dts: None,
            payload_offset: 6,
        });
    }
    if d.len() < 9 || d[6] & 0xc0 != 0x80 {
        return None;
    }
    let flags = d[7] >> 6;
    let hdl = d[8] as usize;
    let payload_offset = 9 + hdl;
    if payload_offset > d.len() {
        return None;
    }
    let hdr = &d[9..payload_offset];
    let (pts, dts) = match flags {
        2 => (Some(read_ts(hdr)?), None),
        3 => (Some(read_ts(hdr)?), Some(read_ts(hdr.get(5..)?)?)),
        _ => (None, None),
    };
    Some(PesHeader {
        pts,
        dts,
        payload_offset,
    })
}

/// Interprets a 33-bit difference as a signed value in [-2^32, 2^32).
pub(crate) fn signed_33(diff: u64) -> i64 {
    let d = (diff & TS_MASK) as i64;
    if d >= 1 << 32 {
        d - (1 << 33)
    } else {
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_round_trip() {
        for ts in [
            0u64,
            1,
            90_000,
            TS_MASK,
            TS_MASK - 1,
            0x1_2345_6789,
            1 << 32,
        ] {
            assert_eq!(read_ts(&write_ts(2, ts)), Some(ts));
        }
        assert_eq!(signed_33(TS_MASK), -1);
        assert_eq!(signed_33(3000), 3000);
    }
}
