//! EBML primitives: variable-length integers, element headers, typed payload readers.

use crate::{invalid, Error};

/// Element IDs (with their length marker bits, as written in the file).
pub(crate) mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const VOID: u32 = 0xEC;
    pub const CRC32: u32 = 0xBF;

    pub const SEGMENT: u32 = 0x1853_8067;
    pub const SEEK_HEAD: u32 = 0x114D_9B74;
    pub const INFO: u32 = 0x1549_A966;
    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const CUES: u32 = 0x1C53_BB6B;
    pub const CHAPTERS: u32 = 0x1043_A770;
    pub const TAGS: u32 = 0x1254_C367;
    pub const ATTACHMENTS: u32 = 0x1941_A469;

    pub const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
    pub const DURATION: u32 = 0x4489;
    pub const TITLE: u32 = 0x7BA9;

    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const FLAG_DEFAULT: u32 = 0x88;
    pub const FLAG_FORCED: u32 = 0x55AA;
    pub const DEFAULT_DURATION: u32 = 0x23_E383;
    pub const NAME: u32 = 0x536E;
    pub const LANGUAGE: u32 = 0x22_B59C;
    pub const LANGUAGE_BCP47: u32 = 0x22_B59D;
    pub const CODEC_ID: u32 = 0x86;
    pub const CODEC_PRIVATE: u32 = 0x63A2;
    pub const CODEC_DELAY: u32 = 0x56AA;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    pub const AUDIO: u32 = 0xE1;
    pub const SAMPLING_FREQUENCY: u32 = 0xB5;
    pub const CHANNELS: u32 = 0x9F;
    pub const CONTENT_ENCODINGS: u32 = 0x6D80;
    pub const CONTENT_ENCODING: u32 = 0x6240;
    pub const CONTENT_ENCODING_SCOPE: u32 = 0x5032;
    pub const CONTENT_ENCODING_TYPE: u32 = 0x5033;
    pub const CONTENT_COMPRESSION: u32 = 0x5034;
    pub const CONTENT_COMP_ALGO: u32 = 0x4254;
    pub const CONTENT_COMP_SETTINGS: u32 = 0x4255;
    pub const CONTENT_ENCRYPTION: u32 = 0x5035;

    pub const TIMESTAMP: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
    pub const BLOCK_GROUP: u32 = 0xA0;
    pub const BLOCK: u32 = 0xA1;
    pub const BLOCK_DURATION: u32 = 0x9B;
    pub const REFERENCE_BLOCK: u32 = 0xFB;
}

/// A readable name for an element ID, for error messages.
pub(crate) fn name(element: u32) -> String {
    let n = match element {
        id::EBML => "EBML header",
        id::SEGMENT => "Segment",
        id::SEEK_HEAD => "SeekHead",
        id::INFO => "Info",
        id::TRACKS => "Tracks",
        id::CLUSTER => "Cluster",
        id::CUES => "Cues",
        id::CHAPTERS => "Chapters",
        id::TAGS => "Tags",
        id::ATTACHMENTS => "Attachments",
        id::VOID => "Void",
        id::CRC32 => "CRC-32",
        id::TIMESTAMP => "Cluster Timestamp",
        id::SIMPLE_BLOCK => "SimpleBlock",
        id::BLOCK_GROUP => "BlockGroup",
        _ => return format!("element {element:#x}"),
    };
    n.to_string()
}

/// The length in bytes (1..=8) of a variable-length integer starting with `first`, or `None`
/// for a zero first byte (longer than 8 bytes: invalid).
fn vint_len(first: u8) -> Option<usize> {
    match first.leading_zeros() {
        n @ 0..=7 => Some(n as usize + 1),
        _ => None,
    }
}

/// Reads an element ID (1 to 4 bytes, marker bits kept) at the start of `b`.
/// `Ok(None)` when `b` is too short to hold it.
pub(crate) fn read_id(b: &[u8]) -> Result<Option<(u32, usize)>, Error> {
    let Some(&first) = b.first() else {
        return Ok(None);
    };
    let len = match vint_len(first) {
        Some(l @ 1..=4) => l,
        _ => {
            return Err(invalid(format!(
                "element ID starting with byte {first:#04x}"
            )))
        }
    };
    let Some(bytes) = b.get(..len) else {
        return Ok(None);
    };
    Ok(Some((
        bytes.iter().fold(0u32, |a, &x| (a << 8) | u32::from(x)),
        len,
    )))
}

/// A decoded variable-length integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Vint {
    /// The value, marker bit removed.
    pub value: u64,
    /// Encoded length in bytes (1..=8).
    pub len: usize,
    /// All value bits set: for an element size, "unknown size".
    pub all_ones: bool,
}

/// Reads a variable-length integer (1 to 8 bytes) at the start of `b`.
/// `Ok(None)` when `b` is too short to hold it.
pub(crate) fn read_vint(b: &[u8]) -> Result<Option<Vint>, Error> {
    let Some(&first) = b.first() else {
        return Ok(None);
    };
    let Some(len) = vint_len(first) else {
        return Err(invalid("variable-length integer starting with byte 0x00"));
    };
    let Some(bytes) = b.get(..len) else {
        return Ok(None);
    };
    // marker bit removed from the first byte; u16 so that a shift by 8 is defined
    let first_bits = u64::from((0xFFu16 >> len) as u8 & first);
    let value = bytes[1..]
        .iter()
        .fold(first_bits, |a, &x| (a << 8) | u64::from(x));
    let max = (1u64 << (7 * len)) - 1;
    Ok(Some(Vint {
        value,
        len,
        all_ones: value == max,
    }))
}

/// Reads a signed variable-length integer (EBML lacing size differences): the unsigned value
/// minus the bias `2^(7*len-1) - 1`.
pub(crate) fn read_signed_vint(b: &[u8]) -> Result<Option<(i64, usize)>, Error> {
    let Some(v) = read_vint(b)? else {
        return Ok(None);
    };
    // len <= 8: value < 2^56, bias < 2^55, both fit in i64
    let bias = (1i64 << (7 * v.len - 1)) - 1;
    let value = i64::try_from(v.value).map_err(|_| invalid("signed integer"))? - bias;
    Ok(Some((value, v.len)))
}

/// An unsigned integer element payload (0 to 8 bytes, big-endian).
pub(crate) fn read_uint(b: &[u8], what: &str) -> Result<u64, Error> {
    if b.len() > 8 {
        return Err(invalid(format!("{what}: {}-byte integer", b.len())));
    }
    Ok(b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
}

/// A float element payload: 0 bytes (0.0), 4 or 8 bytes big-endian IEEE 754.
pub(crate) fn read_float(b: &[u8], what: &str) -> Result<f64, Error> {
    match b.len() {
        0 => Ok(0.0),
        4 => {
            let mut a = [0u8; 4];
            a.copy_from_slice(b);
            Ok(f64::from(f32::from_be_bytes(a)))
        }
        8 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Ok(f64::from_be_bytes(a))
        }
        n => Err(invalid(format!("{what}: {n}-byte float"))),
    }
}

/// A string element payload: UTF-8 (invalid sequences replaced), trailing NULs removed.
pub(crate) fn read_string(b: &[u8]) -> String {
    let end = b.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1);
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Iterates over the children of a fully buffered master element: `(id, payload)` pairs.
/// A child that overruns its parent or has an unknown size yields one error, then the
/// iteration ends.
pub(crate) struct Children<'a> {
    data: &'a [u8],
    parent: &'static str,
}

impl<'a> Children<'a> {
    /// Children of the master element `parent` (its name, for errors) whose payload is `data`.
    pub(crate) fn new(data: &'a [u8], parent: &'static str) -> Self {
        Children { data, parent }
    }

    fn next_child(&mut self) -> Result<(u32, &'a [u8]), Error> {
        let overrun = || invalid(format!("{}: a child element overruns it", self.parent));
        let (element, id_len) = read_id(self.data)?.ok_or_else(overrun)?;
        let rest = &self.data[id_len..];
        let size = read_vint(rest)?.ok_or_else(overrun)?;
        if size.all_ones {
            return Err(invalid(format!(
                "{}: child {} has an unknown size",
                self.parent,
                name(element)
            )));
        }
        let rest = &rest[size.len..];
        let len = usize::try_from(size.value).map_err(|_| overrun())?;
        if len > rest.len() {
            return Err(overrun());
        }
        let (payload, tail) = rest.split_at(len);
        self.data = tail;
        Ok((element, payload))
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<(u32, &'a [u8]), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        let r = self.next_child();
        if r.is_err() {
            self.data = &[];
        }
        Some(r)
    }
}
