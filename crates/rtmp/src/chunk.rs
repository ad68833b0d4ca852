//! The RTMP chunk stream: decoder (reassembles messages) and encoder.

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};

use crate::{RtmpError, DEFAULT_MAX_MESSAGE};

pub const MSG_SET_CHUNK_SIZE: u8 = 1;
pub const MSG_ABORT: u8 = 2;
pub const MSG_ACK: u8 = 3;
pub const MSG_USER_CONTROL: u8 = 4;
pub const MSG_WINDOW_ACK_SIZE: u8 = 5;
pub const MSG_SET_PEER_BANDWIDTH: u8 = 6;
pub const MSG_AUDIO: u8 = 8;
pub const MSG_VIDEO: u8 = 9;
pub const MSG_DATA_AMF3: u8 = 15;
pub const MSG_COMMAND_AMF3: u8 = 17;
pub const MSG_DATA_AMF0: u8 = 18;
pub const MSG_COMMAND_AMF0: u8 = 20;
pub const MSG_AGGREGATE: u8 = 22;

/// The chunk size every connection starts with.
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Largest chunk size we accept or send (the top bit must be zero).
pub const MAX_CHUNK_SIZE: u32 = 0x7fff_ffff;

/// One reassembled RTMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Chunk stream id it arrived on / is sent on (2 for protocol control).
    pub csid: u32,
    /// Absolute timestamp in milliseconds (32-bit, wraps).
    pub timestamp: u32,
    pub type_id: u8,
    /// Message stream id (0 for control and NetConnection commands).
    pub stream_id: u32,
    pub payload: Bytes,
}

#[derive(Debug, Default, Clone)]
struct InState {
    has_header: bool,
    timestamp: u32,
    /// Delta (fmt 1/2) or absolute timestamp (fmt 0) of the last header; reused by fmt 3.
    delta: u32,
    /// The last header carried an extended timestamp with this value.
    ext: Option<u32>,
    len: usize,
    type_id: u8,
    stream_id: u32,
    /// The unfinished message: its own buffer (never a slice of the read buffer), grown as
    /// chunks arrive, so what it pins is what it holds.
    partial: Option<Vec<u8>>,
}

/// Bookkeeping a chunk stream costs besides its unfinished message (map entry, header state).
const STREAM_OVERHEAD: usize = std::mem::size_of::<(u32, InState)>() + 16;

/// What one connection's chunk decoder may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Largest audio / video / aggregate message.
    pub max_message: usize,
    /// Largest other message (commands, metadata, protocol control): these are decoded as
    /// AMF0 into values, so they are kept small.
    pub max_control_message: usize,
    /// Chunk streams one connection may use (encoders use a handful).
    pub max_chunk_streams: usize,
    /// Memory the decoder may hold: the read buffer's capacity, every unfinished message's
    /// capacity and the per-stream state. Exceeding it is [`RtmpError::BufferLimit`].
    pub max_buffered: usize,
}

impl ChunkLimits {
    /// Limits derived from one message size (the pull client's and older callers' shape).
    pub fn for_message(max_message: usize) -> Self {
        ChunkLimits {
            max_message,
            max_control_message: max_message,
            max_chunk_streams: 1024,
            max_buffered: max_message.saturating_mul(2),
        }
    }
}

impl Default for ChunkLimits {
    fn default() -> Self {
        Self::for_message(DEFAULT_MAX_MESSAGE)
    }
}

/// Chunk stream decoder. Push socket bytes with [`ChunkDecoder::push`], then
/// take messages with [`ChunkDecoder::poll_message`] until it returns `Ok(None)`.
///
/// Set Chunk Size and Abort messages are applied here (and still returned).
/// Every message payload is copied into its own right-sized buffer, so a message kept by
/// the caller never pins the read buffer, and the decoder's accounting
/// ([`ChunkDecoder::held`]) is the memory it really holds.
#[derive(Debug)]
pub struct ChunkDecoder {
    /// Read buffer: bytes from `start` on are not decoded yet.
    buf: Vec<u8>,
    start: usize,
    chunk_size: u32,
    limits: ChunkLimits,
    streams: HashMap<u32, InState>,
    /// Capacity of the unfinished messages over all chunk streams.
    partial_bytes: usize,
}

impl Default for ChunkDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_MESSAGE)
    }
}

fn be24(b: &[u8]) -> u32 {
    ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32
}

fn is_media(type_id: u8) -> bool {
    matches!(type_id, MSG_AUDIO | MSG_VIDEO | MSG_AGGREGATE)
}

impl ChunkDecoder {
    pub fn new(max_message: usize) -> Self {
        Self::with_limits(ChunkLimits::for_message(max_message))
    }

    pub fn with_limits(limits: ChunkLimits) -> Self {
        ChunkDecoder {
            buf: Vec::new(),
            start: 0,
            chunk_size: DEFAULT_CHUNK_SIZE,
            limits,
            streams: HashMap::new(),
            partial_bytes: 0,
        }
    }

    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Bytes buffered but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Memory the decoder holds: read buffer capacity + unfinished messages' capacity +
    /// per-chunk-stream state.
    pub fn held(&self) -> usize {
        self.buf.capacity() + self.partial_bytes + self.streams.len() * STREAM_OVERHEAD
    }

    /// Chunk streams seen on this connection.
    pub fn chunk_streams(&self) -> usize {
        self.streams.len()
    }

    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 && (self.start == self.buf.len() || self.start >= self.buf.len() / 2) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    fn check_held(&self) -> Result<(), RtmpError> {
        let size = self.held();
        if size > self.limits.max_buffered {
            return Err(RtmpError::BufferLimit {
                size,
                limit: self.limits.max_buffered,
            });
        }
        Ok(())
    }

    /// Decodes buffered chunks until one message is complete.
    pub fn poll_message(&mut self) -> Result<Option<Message>, RtmpError> {
        self.check_held()?;
        loop {
            match self.decode_chunk()? {
                ChunkResult::NeedMore => {
                    if self.start == self.buf.len() {
                        // everything decoded: give a grown read buffer back
                        self.buf.clear();
                        self.start = 0;
                        if self.buf.capacity() > 256 * 1024 {
                            self.buf = Vec::new();
                        }
                    }
                    return Ok(None);
                }
                ChunkResult::Partial => continue,
                ChunkResult::Message(m) => {
                    match m.type_id {
                        MSG_SET_CHUNK_SIZE => {
                            let n = parse_u32(&m.payload, "Set Chunk Size")?;
                            if n == 0 || n > MAX_CHUNK_SIZE {
                                return Err(RtmpError::BadChunkSize(n));
                            }
                            self.chunk_size = n;
                        }
                        MSG_ABORT => {
                            let csid = parse_u32(&m.payload, "Abort")?;
                            if let Some(p) =
                                self.streams.get_mut(&csid).and_then(|s| s.partial.take())
                            {
                                self.partial_bytes -= p.capacity();
                            }
                        }
                        _ => {}
                    }
                    return Ok(Some(m));
                }
            }
        }
    }

    fn decode_chunk(&mut self) -> Result<ChunkResult, RtmpError> {
        let b = &self.buf[self.start..];
        if b.is_empty() {
            return Ok(ChunkResult::NeedMore);
        }
        let fmt = b[0] >> 6;
        let (csid, mut p) = match b[0] & 0x3f {
            0 => match b.get(1) {
                Some(v) => (64 + *v as u32, 2),
                None => return Ok(ChunkResult::NeedMore),
            },
            1 => match b.get(1..3) {
                Some(v) => (64 + v[0] as u32 + ((v[1] as u32) << 8), 3),
                None => return Ok(ChunkResult::NeedMore),
            },
            c => (c as u32, 1),
        };
        let hlen = [11, 7, 3, 0][fmt as usize];
        let Some(h) = b.get(p..p + hlen) else {
            return Ok(ChunkResult::NeedMore);
        };
        p += hlen;
        if !self.streams.contains_key(&csid) && self.streams.len() >= self.limits.max_chunk_streams
        {
            return Err(RtmpError::TooManyChunkStreams {
                limit: self.limits.max_chunk_streams,
            });
        }
        let st = self.streams.entry(csid).or_default();
        if fmt != 0 && !st.has_header {
            return Err(RtmpError::MissingHeader { csid, fmt });
        }
        // Work on copies; commit only when the whole chunk is available.
        let mut ns = InState {
            partial: None,
            ..st.clone_header()
        };
        let new_message = st.partial.is_none() || fmt != 3;
        if fmt < 3 {
            let ts_field = be24(&h[0..3]);
            if fmt <= 1 {
                ns.len = be24(&h[3..6]) as usize;
                ns.type_id = h[6];
            }
            if fmt == 0 {
                ns.stream_id = u32::from_le_bytes([h[7], h[8], h[9], h[10]]);
            }
            let ts = if ts_field == 0xff_ffff {
                let Some(e) = b.get(p..p + 4) else {
                    return Ok(ChunkResult::NeedMore);
                };
                p += 4;
                let e = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
                ns.ext = Some(e);
                e
            } else {
                ns.ext = None;
                ts_field
            };
            ns.delta = ts;
            ns.timestamp = if fmt == 0 {
                ts
            } else {
                st.timestamp.wrapping_add(ts)
            };
        } else {
            // fmt 3: same header. The extended timestamp field is repeated when the
            // previous header had one (Adobe spec, FFmpeg, OBS); some encoders omit it
            // on continuation chunks, so only consume it there if it matches.
            if let Some(prev) = st.ext {
                let Some(e) = b.get(p..p + 4) else {
                    return Ok(ChunkResult::NeedMore);
                };
                let e = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
                if e == prev || new_message {
                    p += 4;
                    ns.delta = e;
                    ns.ext = Some(e);
                }
            }
            if new_message {
                ns.timestamp = st.timestamp.wrapping_add(ns.delta);
            }
        }
        if new_message {
            let limit = if is_media(ns.type_id) {
                self.limits.max_message
            } else {
                self.limits.max_control_message
            };
            if ns.len > limit {
                return Err(RtmpError::MessageTooLarge {
                    size: ns.len,
                    limit,
                });
            }
        }
        let have = if new_message {
            0
        } else {
            st.partial.as_ref().map_or(0, |x| x.len())
        };
        let n = (ns.len - have).min(self.chunk_size as usize);
        if b.len() < p + n {
            return Ok(ChunkResult::NeedMore);
        }
        // Commit.
        let data = &b[p..p + n];
        self.start += p + n;
        let old = if new_message { None } else { st.partial.take() };
        if let Some(dropped) = st.partial.take() {
            // a new message header on a stream with an unfinished one: that one is abandoned
            self.partial_bytes -= dropped.capacity();
        }
        *st = ns;
        st.has_header = true;
        let message = |st: &InState, payload: Bytes| Message {
            csid,
            timestamp: st.timestamp,
            type_id: st.type_id,
            stream_id: st.stream_id,
            payload,
        };
        match old {
            None if n >= st.len => Ok(ChunkResult::Message(message(
                st,
                Bytes::copy_from_slice(data),
            ))),
            None => {
                let partial = data.to_vec();
                self.partial_bytes += partial.capacity();
                st.partial = Some(partial);
                self.check_held()?;
                Ok(ChunkResult::Partial)
            }
            Some(mut partial) => {
                self.partial_bytes -= partial.capacity();
                partial.reserve(n);
                partial.extend_from_slice(data);
                if partial.len() >= st.len {
                    Ok(ChunkResult::Message(message(st, Bytes::from(partial))))
                } else {
                    self.partial_bytes += partial.capacity();
                    st.partial = Some(partial);
                    self.check_held()?;
                    Ok(ChunkResult::Partial)
                }
            }
        }
    }
}

impl InState {
    fn clone_header(&self) -> InState {
        InState {
            has_header: self.has_header,
            timestamp: self.timestamp,
            delta: self.delta,
            ext: self.ext,
            len: self.len,
            type_id: self.type_id,
            stream_id: self.stream_id,
            partial: None,
        }
    }
}

enum ChunkResult {
    NeedMore,
    Partial,
    Message(Message),
}

fn parse_u32(p: &[u8], what: &'static str) -> Result<u32, RtmpError> {
    match p.get(..4) {
        Some(v) => Ok(u32::from_be_bytes([v[0], v[1], v[2], v[3]])),
        None => Err(RtmpError::Malformed {
            what,
            detail: format!("{} bytes, need 4", p.len()),
        }),
    }
}

#[derive(Debug, Clone, Copy)]
struct OutState {
    timestamp: u32,
    len: usize,
    type_id: u8,
    stream_id: u32,
}

/// Chunk stream encoder. Header compression: fmt 1 / fmt 2 when the previous
/// message on the same chunk stream allows it, fmt 3 for continuation chunks.
#[derive(Debug)]
pub struct ChunkEncoder {
    chunk_size: u32,
    streams: HashMap<u32, OutState>,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkEncoder {
    pub fn new() -> Self {
        ChunkEncoder {
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: HashMap::new(),
        }
    }

    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Writes a Set Chunk Size message (with the current size) and switches to `size`.
    pub fn set_chunk_size(&mut self, size: u32, out: &mut BytesMut) {
        let size = size.clamp(1, MAX_CHUNK_SIZE);
        self.write(
            &Message {
                csid: 2,
                timestamp: 0,
                type_id: MSG_SET_CHUNK_SIZE,
                stream_id: 0,
                payload: Bytes::copy_from_slice(&size.to_be_bytes()),
            },
            out,
        );
        self.chunk_size = size;
    }

    fn basic_header(fmt: u8, csid: u32, out: &mut BytesMut) {
        let fmt = fmt << 6;
        match csid {
            2..=63 => out.put_u8(fmt | csid as u8),
            64..=319 => {
                out.put_u8(fmt);
                out.put_u8((csid - 64) as u8);
            }
            _ => {
                let c = csid - 64;
                out.put_u8(fmt | 1);
                out.put_u8(c as u8);
                out.put_u8((c >> 8) as u8);
            }
        }
    }

    /// Encodes `msg` into chunks. `msg.csid` must be in 2..=65599.
    pub fn write(&mut self, msg: &Message, out: &mut BytesMut) {
        let csid = msg.csid.clamp(2, 65599);
        let len = msg.payload.len().min(0xff_ffff);
        let prev = self.streams.get(&csid).copied();
        let (fmt, ts_field) = match prev {
            Some(p)
                if p.stream_id == msg.stream_id
                    && msg.timestamp >= p.timestamp
                    && msg.timestamp - p.timestamp < 0x8000_0000 =>
            {
                let d = msg.timestamp - p.timestamp;
                if p.len == len && p.type_id == msg.type_id {
                    (2, d)
                } else {
                    (1, d)
                }
            }
            _ => (0, msg.timestamp),
        };
        let ext = ts_field >= 0xff_ffff;
        Self::basic_header(fmt, csid, out);
        let f = if ext { 0xff_ffff } else { ts_field };
        out.put_slice(&f.to_be_bytes()[1..]);
        if fmt <= 1 {
            out.put_slice(&(len as u32).to_be_bytes()[1..]);
            out.put_u8(msg.type_id);
        }
        if fmt == 0 {
            out.put_u32_le(msg.stream_id);
        }
        if ext {
            out.put_u32(ts_field);
        }
        let cs = self.chunk_size as usize;
        let payload = &msg.payload[..len];
        let mut first = true;
        for piece in payload.chunks(cs) {
            if !first {
                Self::basic_header(3, csid, out);
                if ext {
                    out.put_u32(ts_field);
                }
            }
            first = false;
            out.put_slice(piece);
        }
        self.streams.insert(
            csid,
            OutState {
                timestamp: msg.timestamp,
                len,
                type_id: msg.type_id,
                stream_id: msg.stream_id,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(csid: u32, ts: u32, t: u8, sid: u32, len: usize, seed: u8) -> Message {
        Message {
            csid,
            timestamp: ts,
            type_id: t,
            stream_id: sid,
            payload: (0..len)
                .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
                .collect::<Vec<_>>()
                .into(),
        }
    }

    fn sample_stream() -> (Vec<Message>, Bytes) {
        let mut enc = ChunkEncoder::new();
        let mut out = BytesMut::new();
        let mut msgs = vec![
            msg(3, 0, 20, 0, 300, 1),
            msg(6, 40, 9, 1, 1000, 2),
            msg(4, 40, 8, 1, 200, 3),
            msg(6, 80, 9, 1, 1000, 4),         // fmt 2
            msg(6, 0x0100_0000, 9, 1, 500, 5), // extended timestamp, fmt 1
            msg(6, 0x0100_0040, 9, 1, 500, 6),
            msg(400, 7, 18, 1, 10, 7),         // 3-byte csid
            msg(70, 7, 18, 1, 0, 8),           // 2-byte csid, empty
            msg(6, 0xffff_fff0, 9, 1, 300, 9), // ext, backwards → fmt 0
        ];
        for m in &msgs {
            enc.write(m, &mut out);
        }
        enc.set_chunk_size(4096, &mut out);
        msgs.push(Message {
            csid: 2,
            timestamp: 0,
            type_id: 1,
            stream_id: 0,
            payload: Bytes::from_static(&[0, 0, 16, 0]),
        });
        for m in [
            msg(6, 0xffff_fff0u32.wrapping_add(40), 9, 1, 9000, 10),
            msg(4, 5, 8, 1, 5000, 11),
        ] {
            enc.write(&m, &mut out);
            msgs.push(m);
        }
        (msgs, out.freeze())
    }

    fn decode_all(dec: &mut ChunkDecoder) -> Vec<Message> {
        let mut v = Vec::new();
        while let Some(m) = dec.poll_message().unwrap() {
            v.push(m);
        }
        v
    }

    #[test]
    fn round_trip_whole() {
        let (msgs, bytes) = sample_stream();
        let mut dec = ChunkDecoder::default();
        dec.push(&bytes);
        assert_eq!(decode_all(&mut dec), msgs);
        assert_eq!(dec.chunk_size(), 4096);
        assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn split_at_every_boundary() {
        let (msgs, bytes) = sample_stream();
        for cut in 0..bytes.len() {
            let mut dec = ChunkDecoder::default();
            dec.push(&bytes[..cut]);
            let mut got = decode_all(&mut dec);
            dec.push(&bytes[cut..]);
            got.extend(decode_all(&mut dec));
            assert_eq!(got, msgs, "cut at {cut}");
        }
    }

    #[test]
    fn byte_by_byte() {
        let (msgs, bytes) = sample_stream();
        let mut dec = ChunkDecoder::default();
        let mut got = Vec::new();
        for b in bytes.iter() {
            dec.push(&[*b]);
            got.extend(decode_all(&mut dec));
        }
        assert_eq!(got, msgs);
    }

    #[test]
    fn fmt3_new_message_and_ext_quirk() {
        // fmt 0 with extended timestamp, 2 chunks of 128 (continuation WITHOUT the
        // extended field), then a fmt 3 new message (with it) → ts doubles.
        let mut b = BytesMut::new();
        b.put_slice(&[0x04, 0xff, 0xff, 0xff, 0, 0, 200, 8, 1, 0, 0, 0]);
        b.put_u32(0x0100_0000);
        b.put_slice(&[0xaa; 128]);
        b.put_u8(0xc4);
        b.put_slice(&[0xbb; 72]);
        b.put_u8(0xc4);
        b.put_u32(0x0100_0000);
        b.put_slice(&[0xcc; 128]);
        b.put_u8(0xc4);
        b.put_u32(0x0100_0000); // continuation WITH the field
        b.put_slice(&[0xdd; 72]);
        // fmt 2 delta 10 then fmt 3 new message → +10 again
        b.put_slice(&[0x84, 0, 0, 10]);
        b.put_slice(&[0xee; 128]);
        b.put_u8(0xc4);
        b.put_slice(&[0xee; 72]);
        b.put_u8(0xc4);
        b.put_slice(&[0xef; 128]);
        b.put_u8(0xc4);
        b.put_slice(&[0xef; 72]);
        let mut dec = ChunkDecoder::default();
        dec.push(&b);
        let m = decode_all(&mut dec);
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].timestamp, 0x0100_0000);
        assert_eq!(&m[0].payload[126..130], &[0xaa, 0xaa, 0xbb, 0xbb]);
        assert_eq!(m[1].timestamp, 0x0200_0000);
        assert_eq!(&m[1].payload[126..130], &[0xcc, 0xcc, 0xdd, 0xdd]);
        assert_eq!(m[2].timestamp, 0x0200_000a);
        assert_eq!(m[3].timestamp, 0x0200_0014);
        assert!(m.iter().all(|m| m.payload.len() == 200 && m.stream_id == 1));
    }

    #[test]
    fn oversized_message_is_error() {
        let mut b = BytesMut::new();
        b.put_slice(&[0x04, 0, 0, 0]);
        b.put_slice(&2_000_000u32.to_be_bytes()[1..]);
        b.put_slice(&[9, 1, 0, 0, 0]);
        let mut dec = ChunkDecoder::new(1_000_000);
        dec.push(&b);
        let e = dec.poll_message().unwrap_err();
        assert_eq!(
            e.to_string(),
            "chunk message of 2000000 bytes exceeds limit 1000000"
        );
        let mut dec = ChunkDecoder::new(100);
        let mut enc = ChunkEncoder::new();
        let mut out = BytesMut::new();
        enc.write(&msg(5, 0, 9, 1, 101, 0), &mut out);
        dec.push(&out);
        assert!(matches!(
            dec.poll_message(),
            Err(RtmpError::MessageTooLarge {
                size: 101,
                limit: 100
            })
        ));
    }

    #[test]
    fn many_unfinished_messages_hit_the_buffer_limit() {
        let mut enc = ChunkEncoder::new();
        let mut out = BytesMut::new();
        for csid in 10..26 {
            let mut m = BytesMut::new();
            enc.write(&msg(csid, 0, 9, 1, 1000, 0), &mut m);
            out.put_slice(&m[..12 + 128]); // first chunk only
        }
        let limits = ChunkLimits {
            max_buffered: 4000,
            ..ChunkLimits::for_message(1000)
        };
        let mut dec = ChunkDecoder::with_limits(limits);
        dec.push(&out);
        match dec.poll_message() {
            Err(RtmpError::BufferLimit { size, limit: 4000 }) => assert!(size > 4000),
            other => panic!("{other:?}"),
        }
    }

    /// The unfinished messages of many chunk streams are accounted by what they pin: each
    /// is its own small buffer, not a slice of a big read buffer.
    #[test]
    fn unfinished_messages_hold_their_own_small_buffers() {
        let mut enc = ChunkEncoder::new();
        let mut out = BytesMut::new();
        for csid in 10..1010 {
            let mut m = BytesMut::new();
            enc.write(&msg(csid, 0, 9, 1, 1000, 0), &mut m);
            let basic = match csid {
                0..=63 => 1,
                64..=319 => 2,
                _ => 3,
            };
            out.put_slice(&m[..basic + 11 + 128]); // the first chunk of a 1000-byte message
        }
        let limits = ChunkLimits {
            max_chunk_streams: 10_000,
            max_buffered: 1 << 20,
            ..ChunkLimits::for_message(1000)
        };
        let mut dec = ChunkDecoder::with_limits(limits);
        dec.push(&out);
        assert_eq!(dec.poll_message().unwrap(), None);
        assert_eq!(dec.chunk_streams(), 1000);
        // the read buffer is released once decoded; each stream holds a few bytes + state
        assert!(
            dec.held() < 1000 * (STREAM_OVERHEAD + 128 + 32) + out.len(),
            "{}",
            dec.held()
        );
        assert_eq!(dec.buffered(), 0);
        // a message keeps only its own bytes
        let mut dec = ChunkDecoder::default();
        let mut big = BytesMut::new();
        enc.write(&msg(5, 0, 9, 1, 100, 0), &mut big);
        big.put_slice(&[0u8; 60_000]); // garbage after it, still in the read buffer
        dec.push(&big);
        let m = dec.poll_message().unwrap().unwrap();
        assert_eq!(m.payload.len(), 100);
    }

    #[test]
    fn chunk_streams_are_capped() {
        let mut enc = ChunkEncoder::new();
        let mut out = BytesMut::new();
        for csid in 10..20 {
            enc.write(&msg(csid, 0, 9, 1, 10, 0), &mut out);
        }
        let limits = ChunkLimits {
            max_chunk_streams: 9,
            ..ChunkLimits::default()
        };
        let mut dec = ChunkDecoder::with_limits(limits);
        dec.push(&out);
        for _ in 0..9 {
            assert!(dec.poll_message().unwrap().is_some());
        }
        assert_eq!(
            dec.poll_message(),
            Err(RtmpError::TooManyChunkStreams { limit: 9 })
        );
    }

    #[test]
    fn control_messages_have_their_own_size_limit() {
        let limits = ChunkLimits {
            max_control_message: 100,
            ..ChunkLimits::for_message(10_000)
        };
        let mut enc = ChunkEncoder::new();
        let mut out = BytesMut::new();
        enc.write(&msg(5, 0, MSG_VIDEO, 1, 5000, 0), &mut out);
        enc.write(&msg(3, 0, MSG_COMMAND_AMF0, 0, 101, 0), &mut out);
        let mut dec = ChunkDecoder::with_limits(limits);
        dec.push(&out);
        assert_eq!(dec.poll_message().unwrap().unwrap().payload.len(), 5000);
        assert_eq!(
            dec.poll_message(),
            Err(RtmpError::MessageTooLarge {
                size: 101,
                limit: 100
            })
        );
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic_and_stay_bounded(
            d in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000),
            cut in 1usize..64,
        ) {
            let limits = ChunkLimits {
                max_message: 4096,
                max_control_message: 512,
                max_chunk_streams: 8,
                max_buffered: 64 << 10,
            };
            let mut dec = ChunkDecoder::with_limits(limits);
            for part in d.chunks(cut) {
                dec.push(part);
                loop {
                    match dec.poll_message() {
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(_) => return Ok(()),
                    }
                }
                proptest::prop_assert!(dec.chunk_streams() <= 8);
            }
        }
    }

    #[test]
    fn missing_header_and_bad_chunk_size() {
        let mut dec = ChunkDecoder::default();
        dec.push(&[0x45, 0, 0, 0, 0, 0, 1, 9]);
        assert!(matches!(
            dec.poll_message(),
            Err(RtmpError::MissingHeader { csid: 5, fmt: 1 })
        ));
        let mut dec = ChunkDecoder::default();
        dec.push(&[0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(dec.poll_message(), Err(RtmpError::BadChunkSize(0)));
    }

    #[test]
    fn abort_discards_partial() {
        let mut enc = ChunkEncoder::new();
        let mut out = BytesMut::new();
        enc.write(&msg(5, 0, 9, 1, 300, 0), &mut out);
        let first = out.split_to(12 + 128);
        let mut dec = ChunkDecoder::default();
        dec.push(&first);
        assert_eq!(dec.poll_message().unwrap(), None);
        let mut ab = BytesMut::new();
        enc.write(
            &Message {
                csid: 2,
                timestamp: 0,
                type_id: MSG_ABORT,
                stream_id: 0,
                payload: Bytes::from_static(&[0, 0, 0, 5]),
            },
            &mut ab,
        );
        dec.push(&ab);
        assert_eq!(dec.poll_message().unwrap().unwrap().type_id, MSG_ABORT);
        let m = msg(5, 40, 9, 1, 50, 1);
        let mut o2 = BytesMut::new();
        enc.write(&m, &mut o2);
        dec.push(&o2);
        assert_eq!(dec.poll_message().unwrap().unwrap(), m);
    }
}
