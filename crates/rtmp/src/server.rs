//! Server side of one RTMP connection (publishers pushing to us, players pulling).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use media::{Frame, MediaEvent, StreamInfo};

use crate::amf0::Amf0Value;
use crate::chunk::*;
use crate::flv::{FlvDemuxer, FlvMuxer, TagKind};
use crate::handshake::{Handshake, HANDSHAKE_RANDOM_LEN};
use crate::message::*;
use crate::RtmpError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    /// Chunk size we send with (announced with Set Chunk Size after connect).
    pub chunk_size: u32,
    /// Window Acknowledgement Size / Set Peer Bandwidth we announce.
    pub window_ack: u32,
    /// What the chunk decoder may hold: message sizes, chunk streams, memory.
    pub limits: ChunkLimits,
}

/// Largest audio/video message a server session accepts by default (a 4K keyframe fits).
pub const DEFAULT_SERVER_MAX_MESSAGE: usize = 4 << 20;
/// Largest command / metadata message a server session accepts by default.
pub const DEFAULT_SERVER_MAX_CONTROL_MESSAGE: usize = 64 << 10;
/// Chunk streams a server session accepts by default (encoders use fewer than 10).
pub const DEFAULT_SERVER_MAX_CHUNK_STREAMS: usize = 64;
/// Memory one server session's chunk decoder may hold by default.
pub const DEFAULT_SERVER_MAX_BUFFERED: usize = 10 << 20;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            chunk_size: 4096,
            window_ack: 2_500_000,
            limits: ChunkLimits {
                max_message: DEFAULT_SERVER_MAX_MESSAGE,
                max_control_message: DEFAULT_SERVER_MAX_CONTROL_MESSAGE,
                max_chunk_streams: DEFAULT_SERVER_MAX_CHUNK_STREAMS,
                max_buffered: DEFAULT_SERVER_MAX_BUFFERED,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// The client connected to `app` (answered automatically with NetConnection.Connect.Success).
    Connect { app: String, tc_url: String },
    /// Answer with [`ServerSession::accept_publish`] or [`ServerSession::reject`].
    PublishRequest {
        stream_id: u32,
        app: String,
        /// The stream name without the query.
        stream_key: String,
        /// The part after '?', e.g. `key=SECRET` (empty when absent).
        query: String,
    },
    /// Answer with [`ServerSession::accept_play`] or [`ServerSession::reject`].
    PlayRequest {
        stream_id: u32,
        app: String,
        stream_name: String,
        query: String,
    },
    /// Media from an accepted publisher.
    Media(MediaEvent),
    /// The publisher's `onMetaData` object (informational).
    Metadata(Amf0Value),
    /// Something non-fatal was skipped (unsupported codec, malformed tag, ...).
    Warning(String),
    /// The publisher stopped publishing (FCUnpublish / closeStream / deleteStream / EOF).
    Unpublish,
    /// The client deleted its stream or the connection ended ([`ServerSession::handle_eof`]).
    Closed,
}

/// How to refuse a publish or play request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// `NetStream.Publish.BadName` (e.g. stream already being published) / `NetStream.Play.Failed`.
    BadName,
    /// `NetStream.Publish.Unauthorized` / `NetStream.Play.Unauthorized` (bad key).
    Unauthorized,
    /// `NetStream.Play.StreamNotFound` (for publish: `NetStream.Publish.BadName`).
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Handshake or waiting for `connect`.
    Connecting,
    Connected,
    PublishPending {
        sid: u32,
        key: String,
    },
    Publishing {
        sid: u32,
    },
    PlayPending {
        sid: u32,
        name: String,
    },
    Playing {
        sid: u32,
    },
}

/// Sans-IO server session: `push` socket bytes, drain `poll_event`, write
/// `poll_transmit` to the socket.
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    hs: Handshake,
    dec: ChunkDecoder,
    enc: ChunkEncoder,
    out: BytesMut,
    events: VecDeque<ServerEvent>,
    phase: Phase,
    app: String,
    next_stream_id: u32,
    ack: AckState,
    demux: FlvDemuxer,
    mux: FlvMuxer,
    failed: Option<RtmpError>,
    closed: bool,
}

impl ServerSession {
    pub fn new(config: ServerConfig, random: [u8; HANDSHAKE_RANDOM_LEN]) -> Self {
        ServerSession {
            config,
            hs: Handshake::server(random),
            dec: ChunkDecoder::with_limits(config.limits),
            enc: ChunkEncoder::new(),
            out: BytesMut::new(),
            events: VecDeque::new(),
            phase: Phase::Connecting,
            app: String::new(),
            next_stream_id: 1,
            ack: AckState::default(),
            demux: FlvDemuxer::new(),
            mux: FlvMuxer::new(),
            failed: None,
            closed: false,
        }
    }

    /// Feeds bytes read from the socket. An error is a protocol violation:
    /// drop the connection (later calls keep failing).
    pub fn push(&mut self, data: &[u8]) -> Result<(), RtmpError> {
        if let Some(e) = &self.failed {
            return Err(RtmpError::Failed(e.to_string()));
        }
        let r = self.push_inner(data);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    fn push_inner(&mut self, mut data: &[u8]) -> Result<(), RtmpError> {
        if !self.hs.is_done() {
            let n = self.hs.push(data)?;
            if let Some(b) = self.hs.take_transmit() {
                self.out.extend_from_slice(&b);
            }
            data = &data[n..];
        }
        if data.is_empty() {
            return Ok(());
        }
        self.dec.push(data);
        while let Some(m) = self.dec.poll_message()? {
            self.handle(m)?;
        }
        if let Some(a) = self.ack.on_bytes(data.len()) {
            self.send(&a);
        }
        Ok(())
    }

    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Bytes to write to the socket (everything queued so far), if any.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.split().freeze())
        }
    }

    /// Bytes queued for the socket (for back-pressure decisions when playing).
    pub fn pending_transmit(&self) -> usize {
        self.out.len()
    }

    /// The app of the `connect` command (empty before).
    pub fn app(&self) -> &str {
        &self.app
    }

    pub fn is_publishing(&self) -> bool {
        matches!(self.phase, Phase::Publishing { .. })
    }

    pub fn is_playing(&self) -> bool {
        matches!(self.phase, Phase::Playing { .. })
    }

    /// The socket reached EOF (or failed): emits `Unpublish` if publishing, then `Closed`.
    pub fn handle_eof(&mut self) {
        if self.is_publishing() {
            self.events.push_back(ServerEvent::Unpublish);
        }
        self.phase = Phase::Connected;
        self.close_event();
    }

    fn close_event(&mut self) {
        if !self.closed {
            self.closed = true;
            self.events.push_back(ServerEvent::Closed);
        }
    }

    fn send(&mut self, m: &Message) {
        self.enc.write(m, &mut self.out);
    }

    fn handle(&mut self, m: Message) -> Result<(), RtmpError> {
        match m.type_id {
            MSG_WINDOW_ACK_SIZE => {
                self.ack.peer_window = be_u32(&m.payload, "Window Acknowledgement Size")?;
            }
            MSG_USER_CONTROL => {
                let (ev, data) = parse_user_control(&m)?;
                if ev == UC_PING_REQUEST {
                    let r = user_control(UC_PING_RESPONSE, data);
                    self.send(&r);
                }
            }
            MSG_COMMAND_AMF0 | MSG_COMMAND_AMF3 => {
                let cmd = Command::parse(&m)?;
                self.command(&m, cmd)?;
            }
            MSG_DATA_AMF0 | MSG_DATA_AMF3 => match metadata_of(&m) {
                Ok(Some(v)) => self.events.push_back(ServerEvent::Metadata(v)),
                Ok(None) => {}
                Err(e) => self
                    .events
                    .push_back(ServerEvent::Warning(format!("data message: {e}"))),
            },
            MSG_AUDIO | MSG_VIDEO | MSG_AGGREGATE => {
                if let Phase::Publishing { sid } = self.phase {
                    if m.stream_id == sid {
                        let mut evs = Vec::new();
                        let mut warns = Vec::new();
                        demux_media(&mut self.demux, &m, &mut evs, &mut warns);
                        self.events
                            .extend(warns.into_iter().map(ServerEvent::Warning));
                        self.events.extend(evs.into_iter().map(ServerEvent::Media));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn result(&mut self, txn: f64, args: &[Amf0Value]) {
        let m = command(0, "_result", txn, args);
        self.send(&m);
    }

    fn command(&mut self, m: &Message, cmd: Command) -> Result<(), RtmpError> {
        let connected = self.phase != Phase::Connecting;
        match cmd.name.as_str() {
            "connect" => {
                if connected {
                    return Err(RtmpError::Protocol("second connect command".into()));
                }
                let obj = cmd.args.first();
                let field = |k: &str| {
                    obj.and_then(|o| o.get(k))
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_string()
                };
                self.app = field("app").trim_end_matches('/').to_string();
                let tc_url = field("tcUrl");
                let (w, cs) = (self.config.window_ack, self.config.chunk_size);
                self.send(&window_ack_size(w));
                self.send(&set_peer_bandwidth(w));
                self.enc.set_chunk_size(cs, &mut self.out);
                self.result(
                    cmd.txn,
                    &[
                        Amf0Value::object([
                            ("fmsVer", Amf0Value::str("FMS/3,0,1,123")),
                            ("capabilities", Amf0Value::Number(31.0)),
                        ]),
                        Amf0Value::object([
                            ("level", Amf0Value::str("status")),
                            ("code", Amf0Value::str("NetConnection.Connect.Success")),
                            ("description", Amf0Value::str("Connection succeeded.")),
                            ("objectEncoding", Amf0Value::Number(0.0)),
                        ]),
                    ],
                );
                self.phase = Phase::Connected;
                self.events.push_back(ServerEvent::Connect {
                    app: self.app.clone(),
                    tc_url,
                });
            }
            _ if !connected => {
                return Err(RtmpError::Protocol(format!(
                    "command {:?} before connect",
                    cmd.name
                )))
            }
            "releaseStream" | "FCPublish" if cmd.txn != 0.0 => {
                self.result(cmd.txn, &[Amf0Value::Null, Amf0Value::Undefined]);
            }
            "createStream" => {
                let sid = self.next_stream_id;
                self.next_stream_id = self.next_stream_id.wrapping_add(1).max(1);
                self.result(cmd.txn, &[Amf0Value::Null, Amf0Value::Number(sid as f64)]);
            }
            "getStreamLength" if cmd.txn != 0.0 => {
                self.result(cmd.txn, &[Amf0Value::Null, Amf0Value::Number(0.0)]);
            }
            "publish" | "play" => {
                if !matches!(self.phase, Phase::Connected) {
                    return Err(RtmpError::Protocol(format!(
                        "{} while a stream is already active",
                        cmd.name
                    )));
                }
                let name = cmd.arg(0).and_then(|v| v.as_str()).unwrap_or("");
                let (key, query) = split_query(name);
                let sid = m.stream_id;
                let app = self.app.clone();
                if cmd.name == "publish" {
                    self.phase = Phase::PublishPending {
                        sid,
                        key: key.clone(),
                    };
                    self.events.push_back(ServerEvent::PublishRequest {
                        stream_id: sid,
                        app,
                        stream_key: key,
                        query,
                    });
                } else {
                    self.phase = Phase::PlayPending {
                        sid,
                        name: key.clone(),
                    };
                    self.events.push_back(ServerEvent::PlayRequest {
                        stream_id: sid,
                        app,
                        stream_name: key,
                        query,
                    });
                }
            }
            "FCUnpublish" | "closeStream" | "deleteStream" => {
                match self.phase {
                    Phase::Publishing { sid } => {
                        self.events.push_back(ServerEvent::Unpublish);
                        if cmd.name != "deleteStream" {
                            let s = on_status(
                                sid,
                                "status",
                                "NetStream.Unpublish.Success",
                                "Stream unpublished.",
                            );
                            self.send(&s);
                        }
                    }
                    Phase::Connected => {}
                    _ => {}
                }
                self.phase = Phase::Connected;
                if cmd.name == "deleteStream" {
                    self.close_event();
                }
            }
            _ => {} // _checkbw, pause, receiveAudio, ...: ignored
        }
        Ok(())
    }

    /// Accepts the pending publish: queues StreamBegin and `NetStream.Publish.Start`.
    pub fn accept_publish(&mut self) -> Result<(), RtmpError> {
        let Phase::PublishPending { sid, key } = self.phase.clone() else {
            return Err(RtmpError::Protocol("no pending publish request".into()));
        };
        self.send(&user_control(UC_STREAM_BEGIN, &sid.to_be_bytes()));
        let s = on_status(
            sid,
            "status",
            "NetStream.Publish.Start",
            &format!("{key} is now published."),
        );
        self.send(&s);
        self.phase = Phase::Publishing { sid };
        Ok(())
    }

    /// Accepts the pending play: queues StreamBegin, `NetStream.Play.Reset`,
    /// `NetStream.Play.Start` and `|RtmpSampleAccess`. Then call
    /// [`ServerSession::send_info`] and [`ServerSession::send_media`].
    pub fn accept_play(&mut self) -> Result<(), RtmpError> {
        let Phase::PlayPending { sid, name } = self.phase.clone() else {
            return Err(RtmpError::Protocol("no pending play request".into()));
        };
        self.send(&user_control(UC_STREAM_BEGIN, &sid.to_be_bytes()));
        for code in ["NetStream.Play.Reset", "NetStream.Play.Start"] {
            let s = on_status(sid, "status", code, &format!("Playing {name}."));
            self.send(&s);
        }
        let d = data(
            sid,
            &[
                Amf0Value::str("|RtmpSampleAccess"),
                Amf0Value::Boolean(true),
                Amf0Value::Boolean(true),
            ],
        );
        self.send(&d);
        self.phase = Phase::Playing { sid };
        Ok(())
    }

    /// Rejects the pending publish or play with an error `onStatus`.
    pub fn reject(&mut self, reason: RejectReason) -> Result<(), RtmpError> {
        let (sid, code, desc) = match (&self.phase, reason) {
            (Phase::PublishPending { sid, .. }, RejectReason::Unauthorized) => (
                *sid,
                "NetStream.Publish.Unauthorized",
                "Publishing is not authorized.",
            ),
            (Phase::PublishPending { sid, .. }, _) => {
                (*sid, "NetStream.Publish.BadName", "Stream name rejected.")
            }
            (Phase::PlayPending { sid, .. }, RejectReason::Unauthorized) => (
                *sid,
                "NetStream.Play.Unauthorized",
                "Playback is not authorized.",
            ),
            (Phase::PlayPending { sid, .. }, RejectReason::NotFound) => {
                (*sid, "NetStream.Play.StreamNotFound", "Stream not found.")
            }
            (Phase::PlayPending { sid, .. }, RejectReason::BadName) => {
                (*sid, "NetStream.Play.Failed", "Stream name rejected.")
            }
            _ => return Err(RtmpError::Protocol("no pending request to reject".into())),
        };
        let s = on_status(sid, "error", code, desc);
        self.send(&s);
        self.phase = Phase::Connected;
        Ok(())
    }

    fn playing_sid(&self) -> Result<u32, RtmpError> {
        match self.phase {
            Phase::Playing { sid } => Ok(sid),
            _ => Err(RtmpError::Protocol("not playing".into())),
        }
    }

    fn send_tag(&mut self, sid: u32, kind: TagKind, timestamp: u32, body: Bytes) {
        let (csid, type_id) = match kind {
            TagKind::Audio => (CSID_AUDIO, MSG_AUDIO),
            TagKind::Video => (CSID_VIDEO, MSG_VIDEO),
        };
        let m = Message {
            csid,
            timestamp,
            type_id,
            stream_id: sid,
            payload: body,
        };
        self.send(&m);
    }

    /// Queues `onMetaData` and the AVC / AAC sequence headers for a player.
    pub fn send_info(&mut self, info: &StreamInfo) -> Result<(), RtmpError> {
        let sid = self.playing_sid()?;
        let md = data(sid, &[Amf0Value::str("onMetaData"), metadata_object(info)]);
        self.send(&md);
        for t in self.mux.info(info) {
            self.send_tag(sid, t.kind, t.timestamp, t.body);
        }
        Ok(())
    }

    /// Queues one frame for a player (H.264, AAC, MPEG audio; others are skipped
    /// and `Ok(false)` returned).
    pub fn send_media(&mut self, frame: &Frame) -> Result<bool, RtmpError> {
        let sid = self.playing_sid()?;
        match self.mux.frame(frame) {
            Some(t) => {
                self.send_tag(sid, t.kind, t.timestamp, t.body);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Tells a player the stream ended (StreamEOF + `NetStream.Play.UnpublishNotify`).
    pub fn end_play(&mut self) -> Result<(), RtmpError> {
        let sid = self.playing_sid()?;
        self.send(&user_control(UC_STREAM_EOF, &sid.to_be_bytes()));
        let s = on_status(
            sid,
            "status",
            "NetStream.Play.UnpublishNotify",
            "Stream ended.",
        );
        self.send(&s);
        self.phase = Phase::Connected;
        Ok(())
    }
}

/// An `onMetaData` ECMA array describing `info`.
pub fn metadata_object(info: &StreamInfo) -> Amf0Value {
    let mut p: Vec<(String, Amf0Value)> = Vec::new();
    if let Some(v) = &info.video {
        p.push(("width".into(), Amf0Value::Number(v.width as f64)));
        p.push(("height".into(), Amf0Value::Number(v.height as f64)));
        if v.fps_milli > 0 {
            p.push((
                "framerate".into(),
                Amf0Value::Number(v.fps_milli as f64 / 1000.0),
            ));
        }
        if v.codec == Some(media::Codec::H264) {
            p.push(("videocodecid".into(), Amf0Value::Number(7.0)));
        }
    }
    if let Some(a) = info.audio.first() {
        p.push((
            "audiosamplerate".into(),
            Amf0Value::Number(a.sample_rate as f64),
        ));
        p.push(("stereo".into(), Amf0Value::Boolean(a.channels >= 2)));
        match a.codec {
            Some(media::Codec::Aac) => p.push(("audiocodecid".into(), Amf0Value::Number(10.0))),
            Some(media::Codec::Mpeg1Audio) => {
                p.push(("audiocodecid".into(), Amf0Value::Number(2.0)))
            }
            _ => {}
        }
    }
    Amf0Value::EcmaArray(p)
}
