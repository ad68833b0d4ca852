//! Client side: pull (`play`) from or push (`publish`) to an RTMP server.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use media::{Frame, MediaEvent, StreamInfo};

use crate::amf0::Amf0Value;
use crate::chunk::*;
use crate::flv::{FlvDemuxer, FlvMuxer, TagKind};
use crate::handshake::{Handshake, HANDSHAKE_RANDOM_LEN};
use crate::message::*;
use crate::server::metadata_object;
use crate::{RtmpError, DEFAULT_MAX_MESSAGE};

/// `rtmp://host[:port]/app/stream[?query]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpUrl {
    pub host: String,
    /// 1935 when absent.
    pub port: u16,
    pub app: String,
    /// Stream name including any `?query` (sent as is in play/publish).
    pub stream: String,
    /// `rtmp://host[:port]/app`.
    pub tc_url: String,
}

impl RtmpUrl {
    pub fn parse(url: &str) -> Result<RtmpUrl, RtmpError> {
        let bad = || RtmpError::BadUrl(url.to_string());
        let rest = url.strip_prefix("rtmp://").ok_or_else(bad)?;
        let (authority, path) = rest.split_once('/').ok_or_else(bad)?;
        let (host, port) = if let Some(h) = authority.strip_prefix('[') {
            // [v6]:port
            let (h, p) = h.split_once(']').ok_or_else(bad)?;
            (h.to_string(), p.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => p.parse::<u16>().map_err(|_| bad())?,
            None => 1935,
        };
        let (app, stream) = path.split_once('/').ok_or_else(bad)?;
        if host.is_empty() || app.is_empty() || stream.is_empty() {
            return Err(bad());
        }
        let tc_url = format!("rtmp://{authority}/{app}");
        Ok(RtmpUrl {
            host,
            port,
            app: app.to_string(),
            stream: stream.to_string(),
            tc_url,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    pub chunk_size: u32,
    pub window_ack: u32,
    pub max_message: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            chunk_size: 4096,
            window_ack: 2_500_000,
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// NetConnection.Connect.Success received.
    Connected,
    /// NetStream.Play.Start received (play mode).
    PlayStarted,
    /// NetStream.Publish.Start received (publish mode): `send_info` / `send_media` now work.
    PublishStarted,
    Media(MediaEvent),
    Metadata(Amf0Value),
    /// Something non-fatal was skipped.
    Warning(String),
    /// The server refused (connect `_error`, or an `onStatus` with level `error`):
    /// `"code: description"`. The session is dead; close the connection.
    Error(String),
    /// The server ended the stream (Play.Stop, Play.UnpublishNotify, Play.Complete, StreamEOF).
    StreamEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Play,
    Publish,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshake,
    Connecting,
    CreatingStream,
    Starting,
    Active,
    /// Unpublished by us.
    Ended,
    Failed,
}

const TXN_CONNECT: f64 = 1.0;

/// Sans-IO client session: same push / poll_event / poll_transmit shape as
/// [`crate::ServerSession`]. C0+C1 are queued at creation.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    mode: Mode,
    url: RtmpUrl,
    hs: Handshake,
    dec: ChunkDecoder,
    enc: ChunkEncoder,
    out: BytesMut,
    events: VecDeque<ClientEvent>,
    phase: Phase,
    create_txn: f64,
    next_txn: f64,
    sid: u32,
    ack: AckState,
    demux: FlvDemuxer,
    mux: FlvMuxer,
    failed: Option<RtmpError>,
}

impl ClientSession {
    /// A session that will `play` `url.stream`.
    pub fn play(config: ClientConfig, url: RtmpUrl, random: [u8; HANDSHAKE_RANDOM_LEN]) -> Self {
        Self::new(config, url, random, Mode::Play)
    }

    /// A session that will `publish` to `url.stream` (live).
    pub fn publish(config: ClientConfig, url: RtmpUrl, random: [u8; HANDSHAKE_RANDOM_LEN]) -> Self {
        Self::new(config, url, random, Mode::Publish)
    }

    fn new(
        config: ClientConfig,
        url: RtmpUrl,
        random: [u8; HANDSHAKE_RANDOM_LEN],
        mode: Mode,
    ) -> Self {
        let mut hs = Handshake::client(random);
        let mut out = BytesMut::new();
        if let Some(b) = hs.take_transmit() {
            out.extend_from_slice(&b);
        }
        ClientSession {
            config,
            mode,
            url,
            hs,
            dec: ChunkDecoder::new(config.max_message),
            enc: ChunkEncoder::new(),
            out,
            events: VecDeque::new(),
            phase: Phase::Handshake,
            create_txn: 0.0,
            next_txn: 2.0,
            sid: 0,
            ack: AckState::default(),
            demux: FlvDemuxer::new(),
            mux: FlvMuxer::new(),
            failed: None,
        }
    }

    pub fn url(&self) -> &RtmpUrl {
        &self.url
    }

    /// Play started / publish started and not failed.
    pub fn is_active(&self) -> bool {
        self.phase == Phase::Active
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.split().freeze())
        }
    }

    pub fn pending_transmit(&self) -> usize {
        self.out.len()
    }

    /// Feeds bytes read from the socket; an error is a protocol violation.
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
            data = &data[n..];
            if self.hs.is_done() {
                if let Some(b) = self.hs.take_transmit() {
                    self.out.extend_from_slice(&b);
                }
                self.start_connect();
            }
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

    fn send(&mut self, m: &Message) {
        self.enc.write(m, &mut self.out);
    }

    fn txn(&mut self) -> f64 {
        let t = self.next_txn;
        self.next_txn += 1.0;
        t
    }

    fn start_connect(&mut self) {
        self.enc
            .set_chunk_size(self.config.chunk_size, &mut self.out);
        let mut props = vec![
            ("app", Amf0Value::str(self.url.app.clone())),
            ("flashVer", Amf0Value::str("FMLE/3.0 (compatible; Atoll)")),
            ("tcUrl", Amf0Value::str(self.url.tc_url.clone())),
        ];
        match self.mode {
            Mode::Publish => props.push(("type", Amf0Value::str("nonprivate"))),
            Mode::Play => {
                props.push(("fpad", Amf0Value::Boolean(false)));
                props.push(("capabilities", Amf0Value::Number(15.0)));
                props.push(("audioCodecs", Amf0Value::Number(4071.0)));
                props.push(("videoCodecs", Amf0Value::Number(252.0)));
                props.push(("videoFunction", Amf0Value::Number(1.0)));
            }
        }
        let c = command(0, "connect", TXN_CONNECT, &[Amf0Value::object(props)]);
        self.send(&c);
        self.phase = Phase::Connecting;
    }

    fn fail(&mut self, msg: String) {
        if self.phase != Phase::Failed {
            self.phase = Phase::Failed;
            self.events.push_back(ClientEvent::Error(msg));
        }
    }

    fn handle(&mut self, m: Message) -> Result<(), RtmpError> {
        match m.type_id {
            MSG_WINDOW_ACK_SIZE => {
                self.ack.peer_window = be_u32(&m.payload, "Window Acknowledgement Size")?;
            }
            MSG_SET_PEER_BANDWIDTH => {
                let n = be_u32(&m.payload, "Set Peer Bandwidth")?;
                if n != self.config.window_ack {
                    self.config.window_ack = n;
                    self.send(&window_ack_size(n));
                }
            }
            MSG_USER_CONTROL => {
                let (ev, data) = parse_user_control(&m)?;
                match ev {
                    UC_PING_REQUEST => {
                        let r = user_control(UC_PING_RESPONSE, data);
                        self.send(&r);
                    }
                    UC_STREAM_EOF if self.phase == Phase::Active && self.mode == Mode::Play => {
                        self.events.push_back(ClientEvent::StreamEnd)
                    }
                    _ => {}
                }
            }
            MSG_COMMAND_AMF0 | MSG_COMMAND_AMF3 => {
                let cmd = Command::parse(&m)?;
                self.command(cmd);
            }
            MSG_DATA_AMF0 | MSG_DATA_AMF3 => {
                if let Ok(Some(v)) = metadata_of(&m) {
                    self.events.push_back(ClientEvent::Metadata(v));
                }
            }
            MSG_AUDIO | MSG_VIDEO | MSG_AGGREGATE if self.mode == Mode::Play => {
                let mut evs = Vec::new();
                let mut warns = Vec::new();
                demux_media(&mut self.demux, &m, &mut evs, &mut warns);
                self.events
                    .extend(warns.into_iter().map(ClientEvent::Warning));
                self.events.extend(evs.into_iter().map(ClientEvent::Media));
            }
            _ => {}
        }
        Ok(())
    }

    fn command(&mut self, cmd: Command) {
        let info = cmd.arg(0);
        let field = |k: &str| {
            info.and_then(|o| o.get(k))
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let (code, level, desc) = (field("code"), field("level"), field("description"));
        match cmd.name.as_str() {
            "_result" if cmd.txn == TXN_CONNECT && self.phase == Phase::Connecting => {
                self.events.push_back(ClientEvent::Connected);
                self.send(&window_ack_size(self.config.window_ack));
                let stream = self.url.stream.clone();
                if self.mode == Mode::Publish {
                    for name in ["releaseStream", "FCPublish"] {
                        let t = self.txn();
                        let c = command(
                            0,
                            name,
                            t,
                            &[Amf0Value::Null, Amf0Value::str(stream.clone())],
                        );
                        self.send(&c);
                    }
                }
                self.create_txn = self.txn();
                let c = command(0, "createStream", self.create_txn, &[Amf0Value::Null]);
                self.send(&c);
                self.phase = Phase::CreatingStream;
            }
            "_result" if cmd.txn == self.create_txn && self.phase == Phase::CreatingStream => {
                let Some(sid) = cmd.arg(0).and_then(|v| v.as_f64()) else {
                    self.fail("createStream: no stream id in _result".into());
                    return;
                };
                self.sid = sid as u32;
                let stream = Amf0Value::str(self.url.stream.clone());
                let t = self.txn();
                let mut c = match self.mode {
                    Mode::Play => command(
                        self.sid,
                        "play",
                        t,
                        &[Amf0Value::Null, stream, Amf0Value::Number(-2000.0)],
                    ),
                    Mode::Publish => command(
                        self.sid,
                        "publish",
                        t,
                        &[Amf0Value::Null, stream, Amf0Value::str("live")],
                    ),
                };
                c.csid = CSID_DATA;
                self.send(&c);
                if self.mode == Mode::Play {
                    let mut d = self.sid.to_be_bytes().to_vec();
                    d.extend_from_slice(&3000u32.to_be_bytes());
                    self.send(&user_control(UC_SET_BUFFER_LENGTH, &d));
                }
                self.phase = Phase::Starting;
            }
            "_error" if cmd.txn == TXN_CONNECT || cmd.txn == self.create_txn => {
                self.fail(format!(
                    "{} failed: {code}: {desc}",
                    if cmd.txn == TXN_CONNECT {
                        "connect"
                    } else {
                        "createStream"
                    }
                ));
            }
            "onStatus" => {
                if level == "error" {
                    self.fail(format!("{code}: {desc}"));
                    return;
                }
                match code.as_str() {
                    "NetStream.Play.Start"
                        if self.mode == Mode::Play && self.phase == Phase::Starting =>
                    {
                        self.phase = Phase::Active;
                        self.events.push_back(ClientEvent::PlayStarted);
                    }
                    "NetStream.Publish.Start"
                        if self.mode == Mode::Publish && self.phase == Phase::Starting =>
                    {
                        self.phase = Phase::Active;
                        self.events.push_back(ClientEvent::PublishStarted);
                    }
                    "NetStream.Play.Stop"
                    | "NetStream.Play.UnpublishNotify"
                    | "NetStream.Play.Complete" => self.events.push_back(ClientEvent::StreamEnd),
                    _ => {}
                }
            }
            "onFCPublish" | "onBWDone" | "_result" | "_error" | "onFCUnpublish" => {}
            "close" => self.fail("server closed the connection".into()),
            _ => {}
        }
    }

    fn publishing_sid(&self) -> Result<u32, RtmpError> {
        if self.mode == Mode::Publish && self.phase == Phase::Active {
            Ok(self.sid)
        } else {
            Err(RtmpError::Protocol("not publishing".into()))
        }
    }

    fn send_tag(&mut self, kind: TagKind, timestamp: u32, body: Bytes) {
        let (csid, type_id) = match kind {
            TagKind::Audio => (CSID_AUDIO, MSG_AUDIO),
            TagKind::Video => (CSID_VIDEO, MSG_VIDEO),
        };
        let m = Message {
            csid,
            timestamp,
            type_id,
            stream_id: self.sid,
            payload: body,
        };
        self.send(&m);
    }

    /// Publish mode: queues `@setDataFrame onMetaData` and the sequence headers.
    pub fn send_info(&mut self, info: &StreamInfo) -> Result<(), RtmpError> {
        let sid = self.publishing_sid()?;
        let md = data(
            sid,
            &[
                Amf0Value::str("@setDataFrame"),
                Amf0Value::str("onMetaData"),
                metadata_object(info),
            ],
        );
        self.send(&md);
        for t in self.mux.info(info) {
            self.send_tag(t.kind, t.timestamp, t.body);
        }
        Ok(())
    }

    /// Publish mode: queues one frame (`Ok(false)` when its codec can't go in FLV).
    pub fn send_media(&mut self, frame: &Frame) -> Result<bool, RtmpError> {
        self.publishing_sid()?;
        match self.mux.frame(frame) {
            Some(t) => {
                self.send_tag(t.kind, t.timestamp, t.body);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Publish mode: queues FCUnpublish + deleteStream (then close the socket).
    pub fn unpublish(&mut self) -> Result<(), RtmpError> {
        let sid = self.publishing_sid()?;
        let stream = Amf0Value::str(self.url.stream.clone());
        let t = self.txn();
        self.send(&command(0, "FCUnpublish", t, &[Amf0Value::Null, stream]));
        let t = self.txn();
        self.send(&command(
            0,
            "deleteStream",
            t,
            &[Amf0Value::Null, Amf0Value::Number(sid as f64)],
        ));
        self.phase = Phase::Ended;
        Ok(())
    }
}
