//! Builders and parsers for protocol control, user control and command messages.

use bytes::{Bytes, BytesMut};

use crate::amf0::{self, Amf0Value};
use crate::chunk::*;
use crate::RtmpError;

/// Chunk stream ids used for what we send.
pub const CSID_CONTROL: u32 = 2;
pub const CSID_COMMAND: u32 = 3;
pub const CSID_AUDIO: u32 = 4;
pub const CSID_DATA: u32 = 5;
pub const CSID_VIDEO: u32 = 6;

pub const UC_STREAM_BEGIN: u16 = 0;
pub const UC_STREAM_EOF: u16 = 1;
pub const UC_STREAM_DRY: u16 = 2;
pub const UC_SET_BUFFER_LENGTH: u16 = 3;
pub const UC_STREAM_IS_RECORDED: u16 = 4;
pub const UC_PING_REQUEST: u16 = 6;
pub const UC_PING_RESPONSE: u16 = 7;

fn control(type_id: u8, payload: &[u8]) -> Message {
    Message {
        csid: CSID_CONTROL,
        timestamp: 0,
        type_id,
        stream_id: 0,
        payload: Bytes::copy_from_slice(payload),
    }
}

pub fn window_ack_size(n: u32) -> Message {
    control(MSG_WINDOW_ACK_SIZE, &n.to_be_bytes())
}

/// Set Peer Bandwidth with limit type 2 (dynamic).
pub fn set_peer_bandwidth(n: u32) -> Message {
    let mut p = n.to_be_bytes().to_vec();
    p.push(2);
    control(MSG_SET_PEER_BANDWIDTH, &p)
}

pub fn acknowledgement(seq: u32) -> Message {
    control(MSG_ACK, &seq.to_be_bytes())
}

pub fn user_control(event: u16, data: &[u8]) -> Message {
    let mut p = event.to_be_bytes().to_vec();
    p.extend_from_slice(data);
    control(MSG_USER_CONTROL, &p)
}

/// An AMF0 command message (`name`, transaction id, args...).
pub fn command(stream_id: u32, name: &str, txn: f64, args: &[Amf0Value]) -> Message {
    let mut out = BytesMut::new();
    Amf0Value::str(name).encode(&mut out);
    Amf0Value::Number(txn).encode(&mut out);
    for a in args {
        a.encode(&mut out);
    }
    Message {
        csid: CSID_COMMAND,
        timestamp: 0,
        type_id: MSG_COMMAND_AMF0,
        stream_id,
        payload: out.freeze(),
    }
}

/// An AMF0 data message (e.g. `onMetaData`).
pub fn data(stream_id: u32, values: &[Amf0Value]) -> Message {
    Message {
        csid: CSID_DATA,
        timestamp: 0,
        type_id: MSG_DATA_AMF0,
        stream_id,
        payload: amf0::encode_all(values),
    }
}

/// `onStatus(0, null, {level, code, description})` on `stream_id`.
pub fn on_status(stream_id: u32, level: &str, code: &str, description: &str) -> Message {
    let mut m = command(
        stream_id,
        "onStatus",
        0.0,
        &[
            Amf0Value::Null,
            Amf0Value::object([
                ("level", Amf0Value::str(level)),
                ("code", Amf0Value::str(code)),
                ("description", Amf0Value::str(description)),
            ]),
        ],
    );
    m.csid = CSID_DATA;
    m
}

/// A decoded command message.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub name: String,
    pub txn: f64,
    /// The command object (often Null) followed by the optional arguments.
    pub args: Vec<Amf0Value>,
}

impl Command {
    /// Parses an AMF0 command (type 20) or AMF3 command (type 17, whose first
    /// byte is a format selector followed by AMF0).
    pub fn parse(msg: &Message) -> Result<Command, RtmpError> {
        let p = match msg.type_id {
            MSG_COMMAND_AMF3 => msg.payload.get(1..).unwrap_or(&[]),
            _ => &msg.payload[..],
        };
        let mut v = amf0::decode_all(p)?.into_iter();
        let name = match v.next() {
            Some(Amf0Value::String(s)) => s,
            other => {
                return Err(RtmpError::Malformed {
                    what: "command",
                    detail: format!("expected a command name, got {other:?}"),
                })
            }
        };
        let txn = v.next().and_then(|t| t.as_f64()).unwrap_or(0.0);
        Ok(Command {
            name,
            txn,
            args: v.collect(),
        })
    }

    /// The n-th argument after the command object.
    pub fn arg(&self, n: usize) -> Option<&Amf0Value> {
        self.args.get(n + 1)
    }
}

/// Splits an aggregate message into its audio/video/data sub-messages, with
/// timestamps rebased on the aggregate's timestamp.
pub fn split_aggregate(msg: &Message) -> Result<Vec<Message>, RtmpError> {
    let d = &msg.payload;
    let mut p = 0;
    let mut out = Vec::new();
    let mut base: Option<u32> = None;
    while p + 11 <= d.len() {
        let t = d[p];
        let size = ((d[p + 1] as usize) << 16) | ((d[p + 2] as usize) << 8) | d[p + 3] as usize;
        let ts = u32::from_be_bytes([d[p + 7], d[p + 4], d[p + 5], d[p + 6]]);
        p += 11;
        if p + size > d.len() {
            return Err(RtmpError::Malformed {
                what: "aggregate",
                detail: format!("sub-message of {size} bytes runs past the end"),
            });
        };
        let b = *base.get_or_insert(ts);
        out.push(Message {
            csid: msg.csid,
            timestamp: msg.timestamp.wrapping_add(ts.wrapping_sub(b)),
            type_id: t,
            stream_id: msg.stream_id,
            payload: msg.payload.slice(p..p + size),
        });
        p += size + 4; // back pointer
    }
    Ok(out)
}

/// Protocol bookkeeping shared by both session kinds: counts received bytes
/// and tells when an Acknowledgement is due.
#[derive(Debug, Default)]
pub(crate) struct AckState {
    pub received: u64,
    pub last_ack: u64,
    pub peer_window: u32,
}

impl AckState {
    pub fn on_bytes(&mut self, n: usize) -> Option<Message> {
        self.received += n as u64;
        if self.peer_window > 0 && self.received - self.last_ack >= self.peer_window as u64 {
            self.last_ack = self.received;
            Some(acknowledgement(self.received as u32))
        } else {
            None
        }
    }
}

pub(crate) fn be_u32(p: &[u8], what: &'static str) -> Result<u32, RtmpError> {
    match p.get(..4) {
        Some(v) => Ok(u32::from_be_bytes([v[0], v[1], v[2], v[3]])),
        None => Err(RtmpError::Malformed {
            what,
            detail: format!("{} bytes, need 4", p.len()),
        }),
    }
}

/// `onMetaData` object of a data message (`@setDataFrame`-wrapped or not).
pub fn metadata_of(msg: &Message) -> Result<Option<Amf0Value>, RtmpError> {
    let p = match msg.type_id {
        MSG_DATA_AMF3 => msg.payload.get(1..).unwrap_or(&[]),
        _ => &msg.payload[..],
    };
    let v = amf0::decode_all(p)?;
    let mut it = v.into_iter().peekable();
    if it.peek().and_then(|v| v.as_str()) == Some("@setDataFrame") {
        it.next();
    }
    if it.next().as_ref().and_then(|v| v.as_str()) != Some("onMetaData") {
        return Ok(None);
    }
    Ok(it.next())
}

/// Splits a stream name into (name, query): `"test?key=abc"` → `("test", "key=abc")`.
pub fn split_query(name: &str) -> (String, String) {
    match name.split_once('?') {
        Some((n, q)) => (n.to_string(), q.to_string()),
        None => (name.to_string(), String::new()),
    }
}

/// Audio, video and aggregate messages into the demuxer. Non-fatal problems go
/// to `warn`.
pub(crate) fn demux_media(
    demux: &mut crate::flv::FlvDemuxer,
    m: &Message,
    out: &mut Vec<media::MediaEvent>,
    warn: &mut Vec<String>,
) {
    let r = match m.type_id {
        MSG_AUDIO => demux.audio(m.timestamp, &m.payload, out),
        MSG_VIDEO => demux.video(m.timestamp, &m.payload, out),
        MSG_AGGREGATE => match split_aggregate(m) {
            Ok(subs) => {
                for s in subs.iter().filter(|s| s.type_id != MSG_AGGREGATE) {
                    demux_media(demux, s, out, warn);
                }
                Ok(())
            }
            Err(e) => Err(e),
        },
        _ => Ok(()),
    };
    if let Err(e) = r {
        warn.push(e.to_string());
    }
}

/// Parses a user control message: (event type, event data).
pub fn parse_user_control(m: &Message) -> Result<(u16, &[u8]), RtmpError> {
    match m.payload.get(..2) {
        Some(t) => Ok((u16::from_be_bytes([t[0], t[1]]), &m.payload[2..])),
        None => Err(RtmpError::Malformed {
            what: "user control",
            detail: "shorter than 2 bytes".into(),
        }),
    }
}
