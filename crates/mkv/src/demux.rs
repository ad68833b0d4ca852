//! Streaming Matroska / WebM demultiplexer: bytes in, [`Event`]s out.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use crate::ebml::{self, id, name, read_float, read_string, read_uint, Children};
use crate::{invalid, Error, Limits};

/// Default TimestampScale: nanoseconds per tick (1 ms ticks).
const DEFAULT_TIMESTAMP_SCALE: u64 = 1_000_000;

/// Kind of a track (Matroska TrackType).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    /// TrackType 1.
    Video,
    /// TrackType 2.
    Audio,
    /// TrackType 0x11.
    Subtitle,
    /// Any other TrackType (complex 3, logo 0x10, buttons 0x12, control 0x20, metadata 0x21,
    /// or 0 when the element is missing), with its value.
    Other(u64),
}

impl TrackKind {
    /// The kind for a TrackType value.
    pub fn from_type(track_type: u64) -> Self {
        match track_type {
            1 => TrackKind::Video,
            2 => TrackKind::Audio,
            0x11 => TrackKind::Subtitle,
            other => TrackKind::Other(other),
        }
    }
}

/// One track of the file (a Matroska TrackEntry).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackEntry {
    /// TrackNumber: the number [`Frame::track`] refers to (non-zero).
    pub number: u64,
    /// TrackType.
    pub kind: TrackKind,
    /// CodecID, e.g. "V_MPEG4/ISO/AVC", "V_MPEGH/ISO/HEVC", "V_VP9", "A_AAC", "A_AC3",
    /// "A_EAC3", "A_MPEG/L3", "A_OPUS", "S_TEXT/UTF8", "S_TEXT/WEBVTT".
    pub codec_id: String,
    /// CodecPrivate bytes (e.g. the AVCDecoderConfigurationRecord for AVC, the
    /// AudioSpecificConfig for AAC), if present. With header stripping scoped to the codec
    /// private data, the stripped bytes are already put back.
    pub codec_private: Option<Bytes>,
    /// LanguageBCP47 when present (as given), else Language (ISO 639-2, e.g. "fre"), which
    /// defaults to "eng" when absent, as the specification says. Always `Some` for now; kept an
    /// option for formats without a language.
    pub language: Option<String>,
    /// Name: a human-readable track name, if present.
    pub name: Option<String>,
    /// FlagDefault (default true).
    pub default: bool,
    /// FlagForced (default false).
    pub forced: bool,
    /// Video PixelWidth in pixels, 0 when absent (non-video tracks).
    pub width: u32,
    /// Video PixelHeight in pixels, 0 when absent (non-video tracks).
    pub height: u32,
    /// Audio SamplingFrequency in Hz: 8000.0 by default for audio tracks, 0.0 for others.
    pub sample_rate: f64,
    /// Audio Channels: 1 by default for audio tracks, 0 for others.
    pub channels: u32,
    /// DefaultDuration: nanoseconds per frame, if given.
    pub default_duration_ns: Option<u64>,
    /// CodecDelay in nanoseconds (decoder delay to drop, e.g. Opus pre-skip), 0 by default.
    pub codec_delay_ns: u64,
}

/// One coded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Track number (see [`TrackEntry::number`]). Frames of numbers absent from Tracks are
    /// delivered too.
    pub track: u64,
    /// Presentation time in nanoseconds: (cluster Timestamp + the block's signed relative
    /// timestamp) × TimestampScale; may be negative. In a laced block the k-th frame (from 0)
    /// adds k × the track's DefaultDuration when known; otherwise all frames of the block share
    /// the block's time.
    pub pts_ns: i64,
    /// BlockDuration of a BlockGroup, in nanoseconds, for an unlaced block; `None` for
    /// SimpleBlocks, blocks without BlockDuration and laced blocks (the duration then covers
    /// all of the block's frames).
    pub duration_ns: Option<u64>,
    /// SimpleBlock: its keyframe flag. Block in a BlockGroup: true when the group has no
    /// ReferenceBlock.
    pub keyframe: bool,
    /// The frame bytes, with header-stripped bytes put back.
    pub data: Bytes,
}

/// What the demuxer reports, in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The EBML header was checked: DocType is "matroska" or "webm" (anything else is
    /// [`Error::NotMatroska`]). Always the first event.
    Header {
        /// "matroska" or "webm".
        doc_type: String,
    },
    /// Segment Info.
    Info {
        /// TimestampScale: nanoseconds per timestamp tick (default 1_000_000).
        timestamp_scale_ns: u64,
        /// Duration of the segment in nanoseconds, if present.
        duration_ns: Option<f64>,
        /// Title, if present.
        title: Option<String>,
    },
    /// The track list (Tracks). Comes before the frames in any ordinary file.
    Tracks(Vec<TrackEntry>),
    /// One frame; a laced block gives one event per frame.
    Frame(Frame),
}

/// What the demuxer keeps per track to decode its blocks.
#[derive(Debug, Clone)]
struct TrackState {
    number: u64,
    /// Header-stripping bytes to put before each frame.
    strip: Option<Bytes>,
    /// Why the frames cannot be decoded (zlib, encryption...), reported at the first block.
    unsupported: Option<String>,
    default_duration_ns: Option<u64>,
    ignored: bool,
}

/// An open master element whose children are read one by one (Segment, Cluster).
#[derive(Debug, Clone, Copy)]
struct Container {
    id: u32,
    /// Absolute end offset, `None` for an unknown size.
    end: Option<u64>,
}

/// Streaming Matroska / WebM demultiplexer.
///
/// Push the file's bytes in order, in chunks of any size, with [`push`](Demuxer::push); after
/// each push call [`poll`](Demuxer::poll) until it returns `Ok(None)`; at the end of the input
/// call [`finish`](Demuxer::finish) to detect a truncated file.
///
/// Memory: the demuxer holds the bytes pushed but not yet consumed plus at most one element
/// payload being assembled (a SimpleBlock, BlockGroup or header element, at most
/// [`Limits::max_element`] bytes) and the frames of one block. Elements it does not need are
/// skipped by counting bytes. Memory stays bounded as long as the caller polls between pushes.
///
/// Reads only the first Segment: anything after it (a second, chained segment, trailing
/// garbage) is ignored. Unknown-size Segment and Cluster elements (live / streamed files) are
/// supported: an unknown-size Cluster ends where a Segment-level element (Cluster, Cues, Tags,
/// ...) or a top-level element begins.
#[derive(Debug)]
pub struct Demuxer {
    limits: Limits,
    /// Bytes pushed and not yet consumed.
    buf: BytesMut,
    /// Absolute offset of `buf[0]` in the input.
    pos: u64,
    /// Bytes still to skip, and the element they belong to.
    skip: u64,
    skip_id: u32,
    /// An element whose header was read and whose payload is being buffered: (id, size).
    pending: Option<(u32, usize)>,
    /// The part of the pending element's payload received so far; its capacity never exceeds
    /// the element's size, so the finished payload owns exactly its bytes (frames handed out
    /// keep only their own block alive, not the input buffer).
    payload: Vec<u8>,
    /// Open Segment / Cluster.
    stack: Vec<Container>,
    seen_header: bool,
    seen_segment: bool,
    /// The first Segment ended: the rest of the input is ignored.
    done: bool,
    timestamp_scale: u64,
    cluster_ts: u64,
    tracks: Vec<TrackState>,
    /// Tracks whose frames are dropped (see [`Demuxer::ignore_track`]).
    ignored: Vec<u64>,
    queue: VecDeque<Event>,
    error: Option<Error>,
}

impl Default for Demuxer {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl Demuxer {
    /// A demuxer for one file, with the given limits.
    pub fn new(limits: Limits) -> Self {
        Demuxer {
            limits,
            buf: BytesMut::new(),
            pos: 0,
            skip: 0,
            skip_id: 0,
            pending: None,
            payload: Vec::new(),
            stack: Vec::new(),
            seen_header: false,
            seen_segment: false,
            done: false,
            timestamp_scale: DEFAULT_TIMESTAMP_SCALE,
            cluster_ts: 0,
            tracks: Vec::new(),
            ignored: Vec::new(),
            queue: VecDeque::new(),
            error: None,
        }
    }

    /// Adds the next bytes of the file (any chunking). Bytes of skipped elements are dropped
    /// right away when possible; the rest is kept until [`poll`](Demuxer::poll) consumes it.
    pub fn push(&mut self, data: &[u8]) {
        let mut data = data;
        if self.error.is_some() || self.done {
            return;
        }
        if self.buf.is_empty() {
            if self.skip > 0 {
                let n = skip_len(self.skip, data.len());
                self.skip -= n as u64;
                self.pos += n as u64;
                data = &data[n..];
            } else if let Some((_, size)) = self.pending {
                let n = self.take_payload(data, size);
                data = &data[n..];
            }
        }
        self.buf.extend_from_slice(data);
    }

    /// Drops the frames of track `number` from now on (they are still read, but neither decoded
    /// nor reported). Use it for tracks the caller does not want, e.g. a zlib-compressed
    /// bitmap subtitle track, whose blocks would otherwise give [`Error::Unsupported`].
    pub fn ignore_track(&mut self, number: u64) {
        if !self.ignored.contains(&number) && self.ignored.len() < 1024 {
            self.ignored.push(number);
        }
        for t in &mut self.tracks {
            if t.number == number {
                t.ignored = true;
            }
        }
    }

    /// The next event, `Ok(None)` when more bytes are needed (or the input is done). An error
    /// is final: every later call returns it again.
    pub fn poll(&mut self) -> Result<Option<Event>, Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        match self.step() {
            Ok(ev) => Ok(ev),
            Err(e) => {
                self.error = Some(e.clone());
                self.queue.clear();
                self.buf = BytesMut::new();
                Err(e)
            }
        }
    }

    /// Call at the end of the input, after [`poll`](Demuxer::poll) returned `Ok(None)`:
    /// `Err(Error::Truncated)` if the input stopped inside an element (a truncated file, or
    /// an empty input), the error already returned by `poll` if there was one, `Ok` otherwise.
    pub fn finish(&mut self) -> Result<(), Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.done {
            return Ok(());
        }
        let truncated = |what: String| Err(Error::Truncated { what });
        if !self.seen_header {
            return truncated(name(id::EBML));
        }
        if let Some((element, _)) = self.pending {
            return truncated(name(element));
        }
        if self.skip > 0 {
            return truncated(name(self.skip_id));
        }
        if !self.buf.is_empty() {
            return truncated(format!("an element header at byte {}", self.pos));
        }
        let open = self
            .stack
            .iter()
            .find(|c| c.end.is_some_and(|end| end > self.pos));
        if let Some(c) = open {
            return truncated(name(c.id));
        }
        if !self.seen_segment {
            return truncated(name(id::SEGMENT));
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Option<Event>, Error> {
        loop {
            if let Some(ev) = self.queue.pop_front() {
                return Ok(Some(ev));
            }
            if self.done {
                self.buf = BytesMut::new();
                return Ok(None);
            }
            if self.skip > 0 {
                let n = skip_len(self.skip, self.buf.len());
                self.buf.advance(n);
                self.skip -= n as u64;
                self.pos += n as u64;
                if self.skip > 0 {
                    return Ok(None);
                }
            }
            if let Some((element, size)) = self.pending {
                let buf = std::mem::take(&mut self.buf);
                let n = self.take_payload(&buf, size);
                self.buf = buf;
                self.buf.advance(n);
                if self.payload.len() < size {
                    return Ok(None);
                }
                let payload = Bytes::from(std::mem::take(&mut self.payload));
                self.pending = None;
                self.handle(element, payload)?;
                continue;
            }
            // close the containers whose end was reached (an unknown-size child of a known-size
            // parent closes with it)
            if let Some(i) = self
                .stack
                .iter()
                .position(|c| c.end.is_some_and(|end| self.pos >= end))
            {
                self.stack.truncate(i);
                if self.stack.is_empty() {
                    // the Segment is complete
                    self.done = true;
                }
                continue;
            }
            if !self.seen_header {
                let magic = id::EBML.to_be_bytes();
                let n = self.buf.len().min(4);
                if self.buf[..n] != magic[..n] {
                    return Err(Error::NotMatroska {
                        what: "the input does not start with an EBML header".into(),
                    });
                }
            }
            let Some((element, id_len)) = ebml::read_id(&self.buf)? else {
                return Ok(None);
            };
            let Some(size) = ebml::read_vint(&self.buf[id_len..])? else {
                return Ok(None);
            };
            // the end of an unknown-size Cluster / Segment is the start of an element that
            // cannot be its child
            if let Some(top) = self.stack.last() {
                if top.end.is_none()
                    && ((top.id == id::CLUSTER && (is_segment_child(element) || is_top(element)))
                        || (top.id == id::SEGMENT && is_top(element)))
                {
                    self.stack.pop();
                    if self.stack.is_empty() {
                        self.done = true;
                    }
                    continue;
                }
            }
            let header_len = (id_len + size.len) as u64;
            let start = self.pos + header_len;
            let end = if size.all_ones {
                None
            } else {
                let end = start
                    .checked_add(size.value)
                    .ok_or_else(|| invalid(format!("size of {}", name(element))))?;
                if let Some(parent_end) = self.stack.iter().filter_map(|c| c.end).min() {
                    if end > parent_end {
                        return Err(invalid(format!(
                            "{} at byte {}: it overruns its parent",
                            name(element),
                            self.pos
                        )));
                    }
                }
                Some(end)
            };
            self.buf.advance(id_len + size.len);
            self.pos = start;
            let parent = self.stack.last().map(|c| c.id);
            match (parent, element) {
                (None, id::EBML) if !self.seen_header => self.buffer(element, end)?,
                (None, id::SEGMENT) if !self.seen_segment => {
                    self.seen_segment = true;
                    self.stack.push(Container { id: element, end });
                }
                (None, _) if self.seen_segment => {
                    // a second segment or trailing bytes: ignored
                    self.done = true;
                }
                (Some(id::SEGMENT), id::INFO | id::TRACKS) => self.buffer(element, end)?,
                (Some(id::SEGMENT), id::CLUSTER) => {
                    self.cluster_ts = 0;
                    self.stack.push(Container { id: element, end });
                }
                (Some(id::CLUSTER), id::TIMESTAMP | id::SIMPLE_BLOCK | id::BLOCK_GROUP) => {
                    self.buffer(element, end)?
                }
                _ => self.skip(element, end)?,
            }
        }
    }

    /// Bytes held: unconsumed input plus the capacity of the pending payload.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len() + self.payload.capacity()
    }

    /// Appends the start of `data` to the pending payload of `size` bytes; returns how many
    /// bytes were taken. Capacity grows by doubling, capped at `size`.
    fn take_payload(&mut self, data: &[u8], size: usize) -> usize {
        let n = (size - self.payload.len()).min(data.len());
        let want = self.payload.len() + n;
        if want > self.payload.capacity() {
            let cap = want.max(self.payload.capacity().saturating_mul(2).min(size));
            self.payload.reserve_exact(cap - self.payload.len());
        }
        self.payload.extend_from_slice(&data[..n]);
        self.pos += n as u64;
        n
    }

    /// Sets up the buffering of the payload of `element` ending at `end`.
    fn buffer(&mut self, element: u32, end: Option<u64>) -> Result<(), Error> {
        let Some(end) = end else {
            return Err(Error::Unsupported {
                what: format!("{} with an unknown size", name(element)),
            });
        };
        let size = end - self.pos;
        if size > self.limits.max_element {
            return Err(Error::TooLarge {
                what: name(element),
                size,
                limit: self.limits.max_element,
            });
        }
        let size = usize::try_from(size).map_err(|_| Error::TooLarge {
            what: name(element),
            size,
            limit: usize::MAX as u64,
        })?;
        self.pending = Some((element, size));
        Ok(())
    }

    /// Sets up the skipping of the payload of `element` ending at `end`.
    fn skip(&mut self, element: u32, end: Option<u64>) -> Result<(), Error> {
        let Some(end) = end else {
            return Err(Error::Unsupported {
                what: format!("{} with an unknown size", name(element)),
            });
        };
        self.skip = end - self.pos;
        self.skip_id = element;
        Ok(())
    }

    /// Handles the complete payload of a buffered element.
    fn handle(&mut self, element: u32, payload: Bytes) -> Result<(), Error> {
        match element {
            id::EBML => {
                let doc_type = parse_ebml_header(&payload)?;
                self.seen_header = true;
                self.queue.push_back(Event::Header { doc_type });
            }
            id::INFO => {
                let ev = parse_info(&payload)?;
                if let Event::Info {
                    timestamp_scale_ns, ..
                } = ev
                {
                    self.timestamp_scale = timestamp_scale_ns;
                }
                self.queue.push_back(ev);
            }
            id::TRACKS => {
                let (entries, states) = parse_tracks(&payload, &self.limits, &self.ignored)?;
                self.tracks = states;
                self.queue.push_back(Event::Tracks(entries));
            }
            id::TIMESTAMP => self.cluster_ts = read_uint(&payload, "Cluster Timestamp")?,
            id::SIMPLE_BLOCK => self.block(payload, None, None)?,
            id::BLOCK_GROUP => {
                let mut block = None;
                let mut duration = None;
                let mut referenced = false;
                for child in Children::new(&payload, "BlockGroup") {
                    let (cid, data) = child?;
                    match cid {
                        id::BLOCK => block = Some(payload.slice_ref(data)),
                        id::BLOCK_DURATION => duration = Some(read_uint(data, "BlockDuration")?),
                        id::REFERENCE_BLOCK => referenced = true,
                        _ => {}
                    }
                }
                let block = block.ok_or_else(|| invalid("BlockGroup without a Block"))?;
                self.block(block, Some(!referenced), duration)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Decodes a SimpleBlock (`keyframe` None: from its flags) or the Block of a BlockGroup
    /// and queues its frames. `duration` is BlockDuration in ticks.
    fn block(
        &mut self,
        data: Bytes,
        keyframe: Option<bool>,
        duration: Option<u64>,
    ) -> Result<(), Error> {
        let short = || invalid("Block shorter than its header");
        let track = ebml::read_vint(&data)?.ok_or_else(short)?;
        let header = data.get(track.len..track.len + 3).ok_or_else(short)?;
        let rel = i16::from_be_bytes([header[0], header[1]]);
        let flags = header[2];
        let body = data.slice(track.len + 3..);
        let state = self.tracks.iter().find(|t| t.number == track.value);
        if state.is_some_and(|s| s.ignored) || self.ignored.contains(&track.value) {
            return Ok(());
        }
        if let Some(why) = state.and_then(|s| s.unsupported.as_ref()) {
            return Err(Error::Unsupported { what: why.clone() });
        }
        let strip = state.and_then(|s| s.strip.clone());
        let default_duration = state.and_then(|s| s.default_duration_ns);
        let keyframe = keyframe.unwrap_or(flags & 0x80 != 0);
        let frames = split_lacing(&body, (flags >> 1) & 3, self.limits.max_lace_frames)?;

        let scale = i64::try_from(self.timestamp_scale).map_err(|_| invalid("TimestampScale"))?;
        let time_err = || invalid("block timestamp (overflows 64-bit nanoseconds)");
        let ticks = i64::try_from(self.cluster_ts)
            .ok()
            .and_then(|t| t.checked_add(i64::from(rel)))
            .ok_or_else(time_err)?;
        let base = ticks.checked_mul(scale).ok_or_else(time_err)?;
        let duration_ns = match duration {
            Some(d) if frames.len() == 1 => Some(
                d.checked_mul(self.timestamp_scale)
                    .ok_or_else(|| invalid("BlockDuration (overflows 64-bit nanoseconds)"))?,
            ),
            _ => None,
        };
        let mut pts = base;
        for (k, range) in frames.iter().enumerate() {
            if k > 0 {
                if let Some(dd) = default_duration {
                    pts = i64::try_from(dd)
                        .ok()
                        .and_then(|dd| pts.checked_add(dd))
                        .ok_or_else(time_err)?;
                }
            }
            let payload = body.slice(range.clone());
            let data = match &strip {
                Some(prefix) => {
                    let mut v = Vec::with_capacity(prefix.len() + payload.len());
                    v.extend_from_slice(prefix);
                    v.extend_from_slice(&payload);
                    Bytes::from(v)
                }
                None => payload,
            };
            self.queue.push_back(Event::Frame(Frame {
                track: track.value,
                pts_ns: pts,
                duration_ns,
                keyframe,
                data,
            }));
        }
        Ok(())
    }
}

fn skip_len(skip: u64, available: usize) -> usize {
    usize::try_from(skip).map_or(available, |s| s.min(available))
}

/// Level-0 elements.
fn is_top(element: u32) -> bool {
    matches!(element, id::EBML | id::SEGMENT)
}

/// Level-1 elements (children of Segment).
fn is_segment_child(element: u32) -> bool {
    matches!(
        element,
        id::SEEK_HEAD
            | id::INFO
            | id::TRACKS
            | id::CLUSTER
            | id::CUES
            | id::CHAPTERS
            | id::TAGS
            | id::ATTACHMENTS
    )
}

/// Splits the body of a block (after track, timestamp and flags) into frame byte ranges.
/// `lacing`: 0 none, 1 Xiph, 2 fixed-size, 3 EBML.
fn split_lacing(
    body: &[u8],
    lacing: u8,
    max_frames: usize,
) -> Result<Vec<std::ops::Range<usize>>, Error> {
    if lacing == 0 {
        return Ok(std::iter::once(0..body.len()).collect());
    }
    let kind = match lacing {
        1 => "Xiph lacing",
        2 => "fixed-size lacing",
        _ => "EBML lacing",
    };
    let bad = |what: &str| invalid(format!("{kind}: {what}"));
    let (&count_minus_one, mut rest) = body.split_first().ok_or_else(|| bad("no frame count"))?;
    let count = usize::from(count_minus_one) + 1;
    if count > max_frames {
        return Err(Error::TooLarge {
            what: format!("{kind}: number of frames"),
            size: count as u64,
            limit: max_frames as u64,
        });
    }
    let mut sizes: Vec<usize> = Vec::with_capacity(count);
    match lacing {
        1 => {
            for _ in 1..count {
                let mut size = 0usize;
                loop {
                    let (&b, r) = rest.split_first().ok_or_else(|| bad("truncated sizes"))?;
                    rest = r;
                    size = size
                        .checked_add(usize::from(b))
                        .ok_or_else(|| bad("size overflow"))?;
                    if b != 255 {
                        break;
                    }
                }
                sizes.push(size);
            }
        }
        3 => {
            if count > 1 {
                let first = ebml::read_vint(rest)?.ok_or_else(|| bad("truncated sizes"))?;
                rest = &rest[first.len..];
                let mut size = i64::try_from(first.value).map_err(|_| bad("size"))?;
                sizes.push(usize::try_from(size).map_err(|_| bad("size"))?);
                for _ in 2..count {
                    let (diff, len) =
                        ebml::read_signed_vint(rest)?.ok_or_else(|| bad("truncated sizes"))?;
                    rest = &rest[len..];
                    size = size
                        .checked_add(diff)
                        .filter(|s| *s >= 0)
                        .ok_or_else(|| bad("negative frame size"))?;
                    sizes.push(usize::try_from(size).map_err(|_| bad("size"))?);
                }
            }
        }
        _ => {
            if rest.len() % count != 0 {
                return Err(bad("data not a multiple of the frame count"));
            }
            let each = rest.len() / count;
            for _ in 1..count {
                sizes.push(each);
            }
        }
    }
    let header_len = body.len() - rest.len();
    let mut total = 0usize;
    for s in &sizes {
        total = total.checked_add(*s).ok_or_else(|| bad("size overflow"))?;
    }
    let last = rest
        .len()
        .checked_sub(total)
        .ok_or_else(|| bad("frame sizes exceed the block"))?;
    sizes.push(last);
    let mut ranges = Vec::with_capacity(count);
    let mut at = header_len;
    for s in sizes {
        ranges.push(at..at + s);
        at += s;
    }
    Ok(ranges)
}

/// Checks the EBML header; returns the DocType.
fn parse_ebml_header(data: &[u8]) -> Result<String, Error> {
    let mut doc_type = "matroska".to_string();
    for child in Children::new(data, "EBML header") {
        let (cid, payload) = child?;
        match cid {
            id::DOC_TYPE => doc_type = read_string(payload),
            id::EBML_READ_VERSION => {
                let v = read_uint(payload, "EBMLReadVersion")?;
                if v > 1 {
                    return Err(Error::Unsupported {
                        what: format!("EBMLReadVersion {v}"),
                    });
                }
            }
            id::EBML_MAX_ID_LENGTH => {
                let v = read_uint(payload, "EBMLMaxIDLength")?;
                if v > 4 {
                    return Err(Error::Unsupported {
                        what: format!("EBMLMaxIDLength {v}"),
                    });
                }
            }
            id::EBML_MAX_SIZE_LENGTH => {
                let v = read_uint(payload, "EBMLMaxSizeLength")?;
                if v > 8 {
                    return Err(Error::Unsupported {
                        what: format!("EBMLMaxSizeLength {v}"),
                    });
                }
            }
            _ => {}
        }
    }
    if doc_type != "matroska" && doc_type != "webm" {
        return Err(Error::NotMatroska {
            what: format!("DocType {doc_type:?}"),
        });
    }
    Ok(doc_type)
}

/// Parses Segment Info into [`Event::Info`].
fn parse_info(data: &[u8]) -> Result<Event, Error> {
    let mut scale = DEFAULT_TIMESTAMP_SCALE;
    let mut duration = None;
    let mut title = None;
    for child in Children::new(data, "Info") {
        let (cid, payload) = child?;
        match cid {
            id::TIMESTAMP_SCALE => {
                scale = read_uint(payload, "TimestampScale")?;
                if scale == 0 {
                    return Err(invalid("TimestampScale 0"));
                }
            }
            id::DURATION => duration = Some(read_float(payload, "Duration")?),
            id::TITLE => title = Some(read_string(payload)),
            _ => {}
        }
    }
    Ok(Event::Info {
        timestamp_scale_ns: scale,
        duration_ns: duration.map(|d| d * scale as f64),
        title,
    })
}

/// Parses Tracks.
fn parse_tracks(
    data: &[u8],
    limits: &Limits,
    ignored: &[u64],
) -> Result<(Vec<TrackEntry>, Vec<TrackState>), Error> {
    let mut entries = Vec::new();
    let mut states = Vec::new();
    for child in Children::new(data, "Tracks") {
        let (cid, payload) = child?;
        if cid != id::TRACK_ENTRY {
            continue;
        }
        if entries.len() >= limits.max_tracks {
            let count = Children::new(data, "Tracks")
                .filter(|c| matches!(c, Ok((id::TRACK_ENTRY, _))))
                .count();
            return Err(Error::TooLarge {
                what: "Tracks: number of tracks".into(),
                size: count as u64,
                limit: limits.max_tracks as u64,
            });
        }
        let (entry, mut state) = parse_track_entry(payload)?;
        if entries
            .iter()
            .any(|e: &TrackEntry| e.number == entry.number)
        {
            return Err(invalid(format!(
                "Tracks: track number {} twice",
                entry.number
            )));
        }
        state.ignored = ignored.contains(&entry.number);
        entries.push(entry);
        states.push(state);
    }
    Ok((entries, states))
}

/// Parses one TrackEntry.
fn parse_track_entry(data: &[u8]) -> Result<(TrackEntry, TrackState), Error> {
    let mut t = TrackEntry {
        number: 0,
        kind: TrackKind::Other(0),
        codec_id: String::new(),
        codec_private: None,
        language: None,
        name: None,
        default: true,
        forced: false,
        width: 0,
        height: 0,
        sample_rate: 0.0,
        channels: 0,
        default_duration_ns: None,
        codec_delay_ns: 0,
    };
    let mut language = None;
    let mut bcp47 = None;
    let mut audio = None;
    let mut encodings = None;
    let small = |v: u64, what: &str| {
        u32::try_from(v).map_err(|_| invalid(format!("TrackEntry: {what} {v}")))
    };
    for child in Children::new(data, "TrackEntry") {
        let (cid, p) = child?;
        match cid {
            id::TRACK_NUMBER => t.number = read_uint(p, "TrackNumber")?,
            id::TRACK_TYPE => t.kind = TrackKind::from_type(read_uint(p, "TrackType")?),
            id::CODEC_ID => t.codec_id = read_string(p),
            id::CODEC_PRIVATE => t.codec_private = Some(Bytes::copy_from_slice(p)),
            id::LANGUAGE => language = Some(read_string(p)),
            id::LANGUAGE_BCP47 => bcp47 = Some(read_string(p)),
            id::NAME => t.name = Some(read_string(p)),
            id::FLAG_DEFAULT => t.default = read_uint(p, "FlagDefault")? != 0,
            id::FLAG_FORCED => t.forced = read_uint(p, "FlagForced")? != 0,
            id::DEFAULT_DURATION => {
                t.default_duration_ns = Some(read_uint(p, "DefaultDuration")?).filter(|d| *d > 0)
            }
            id::CODEC_DELAY => t.codec_delay_ns = read_uint(p, "CodecDelay")?,
            id::VIDEO => {
                for v in Children::new(p, "Video") {
                    let (vid, vp) = v?;
                    match vid {
                        id::PIXEL_WIDTH => t.width = small(read_uint(vp, "PixelWidth")?, "width")?,
                        id::PIXEL_HEIGHT => {
                            t.height = small(read_uint(vp, "PixelHeight")?, "height")?
                        }
                        _ => {}
                    }
                }
            }
            id::AUDIO => {
                let mut rate = 8000.0;
                let mut channels = 1;
                for a in Children::new(p, "Audio") {
                    let (aid, ap) = a?;
                    match aid {
                        id::SAMPLING_FREQUENCY => rate = read_float(ap, "SamplingFrequency")?,
                        id::CHANNELS => channels = small(read_uint(ap, "Channels")?, "channels")?,
                        _ => {}
                    }
                }
                audio = Some((rate, channels));
            }
            id::CONTENT_ENCODINGS => encodings = Some(p),
            _ => {}
        }
    }
    if t.number == 0 {
        return Err(invalid("TrackEntry without a TrackNumber"));
    }
    if let Some((rate, channels)) = audio.or((t.kind == TrackKind::Audio).then_some((8000.0, 1))) {
        t.sample_rate = rate;
        t.channels = channels;
    }
    t.language = Some(bcp47.or(language).unwrap_or_else(|| "eng".to_string()));
    let mut state = TrackState {
        number: t.number,
        strip: None,
        unsupported: None,
        default_duration_ns: t.default_duration_ns,
        ignored: false,
    };
    if let Some(enc) = encodings {
        match parse_content_encodings(enc, t.number)? {
            Encoding::None => {}
            Encoding::Strip {
                prefix,
                frames,
                private,
            } => {
                if frames {
                    state.strip = Some(prefix.clone());
                }
                if private {
                    if let Some(cp) = &t.codec_private {
                        let mut v = prefix.to_vec();
                        v.extend_from_slice(cp);
                        t.codec_private = Some(Bytes::from(v));
                    }
                }
            }
            Encoding::Unsupported(why) => state.unsupported = Some(why),
        }
    }
    Ok((t, state))
}

/// A track's content encoding, as far as this crate handles it.
enum Encoding {
    None,
    /// Header stripping: `prefix` removed from each frame (`frames`) and/or CodecPrivate
    /// (`private`).
    Strip {
        prefix: Bytes,
        frames: bool,
        private: bool,
    },
    /// Anything else; the reason.
    Unsupported(String),
}

fn parse_content_encodings(data: &[u8], track: u64) -> Result<Encoding, Error> {
    let mut result = Encoding::None;
    let mut count = 0;
    for child in Children::new(data, "ContentEncodings") {
        let (cid, p) = child?;
        if cid != id::CONTENT_ENCODING {
            continue;
        }
        count += 1;
        if count > 1 {
            return Ok(Encoding::Unsupported(format!(
                "track {track}: several ContentEncodings"
            )));
        }
        let mut scope = 1;
        let mut kind = 0;
        let mut algo = None;
        let mut settings: &[u8] = &[];
        let mut encrypted = false;
        for e in Children::new(p, "ContentEncoding") {
            let (eid, ep) = e?;
            match eid {
                id::CONTENT_ENCODING_SCOPE => scope = read_uint(ep, "ContentEncodingScope")?,
                id::CONTENT_ENCODING_TYPE => kind = read_uint(ep, "ContentEncodingType")?,
                id::CONTENT_ENCRYPTION => encrypted = true,
                id::CONTENT_COMPRESSION => {
                    algo = Some(0);
                    for c in Children::new(ep, "ContentCompression") {
                        let (ccid, cp) = c?;
                        match ccid {
                            id::CONTENT_COMP_ALGO => algo = Some(read_uint(cp, "ContentCompAlgo")?),
                            id::CONTENT_COMP_SETTINGS => settings = cp,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if encrypted || kind == 1 {
            return Ok(Encoding::Unsupported(format!(
                "track {track}: encrypted content"
            )));
        }
        if kind != 0 {
            return Ok(Encoding::Unsupported(format!(
                "track {track}: ContentEncodingType {kind}"
            )));
        }
        result = match algo.unwrap_or(0) {
            3 => Encoding::Strip {
                prefix: Bytes::copy_from_slice(settings),
                frames: scope & 1 != 0,
                private: scope & 2 != 0,
            },
            a => {
                let algo_name = match a {
                    0 => "zlib".to_string(),
                    1 => "bzlib".to_string(),
                    2 => "lzo1x".to_string(),
                    other => format!("unknown algorithm {other}"),
                };
                Encoding::Unsupported(format!(
                    "track {track}: {algo_name} compression (ContentCompAlgo {a})"
                ))
            }
        };
    }
    Ok(result)
}
