//! Client ↔ server sessions talking in memory.

use bytes::Bytes;
use media::{Frame, MediaEvent};
use proptest::prelude::*;

use crate::flv::tests::{frames, info};
use crate::*;

fn url(s: &str) -> RtmpUrl {
    RtmpUrl::parse(s).unwrap()
}

#[derive(Default)]
struct Log {
    server: Vec<ServerEvent>,
    client: Vec<ClientEvent>,
}

/// Moves bytes both ways until quiet. `split` feeds in small pieces.
fn pump(c: &mut ClientSession, s: &mut ServerSession, log: &mut Log, split: usize) {
    loop {
        let mut moved = false;
        while let Some(b) = c.poll_transmit() {
            moved = true;
            for p in b.chunks(split) {
                s.push(p).unwrap();
            }
        }
        while let Some(b) = s.poll_transmit() {
            moved = true;
            for p in b.chunks(split) {
                c.push(p).unwrap();
            }
        }
        while let Some(e) = s.poll_event() {
            log.server.push(e);
        }
        while let Some(e) = c.poll_event() {
            log.client.push(e);
        }
        if !moved {
            break;
        }
    }
}

fn server() -> ServerSession {
    ServerSession::new(ServerConfig::default(), [7; HANDSHAKE_RANDOM_LEN])
}

fn publish_session(split: usize) -> (ClientSession, ServerSession, Log) {
    let mut c = ClientSession::publish(
        ClientConfig::default(),
        url("rtmp://127.0.0.1:1936/live/test?key=abc"),
        [3; HANDSHAKE_RANDOM_LEN],
    );
    let mut s = server();
    let mut log = Log::default();
    pump(&mut c, &mut s, &mut log, split);
    (c, s, log)
}

fn media_of(ev: &[ServerEvent]) -> Vec<MediaEvent> {
    ev.iter()
        .filter_map(|e| match e {
            ServerEvent::Media(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn publish_round_trip() {
    for split in [usize::MAX, 7, 1] {
        let (mut c, mut s, mut log) = publish_session(split);
        assert_eq!(
            log.server,
            vec![
                ServerEvent::Connect {
                    app: "live".into(),
                    tc_url: "rtmp://127.0.0.1:1936/live".into()
                },
                ServerEvent::PublishRequest {
                    stream_id: 1,
                    app: "live".into(),
                    stream_key: "test".into(),
                    query: "key=abc".into()
                }
            ]
        );
        assert_eq!(log.client, vec![ClientEvent::Connected]);
        assert!(c.send_info(&info()).is_err()); // not yet started
        s.accept_publish().unwrap();
        pump(&mut c, &mut s, &mut log, split);
        assert_eq!(log.client.last(), Some(&ClientEvent::PublishStarted));
        assert!(s.is_publishing());
        log.server.clear();
        c.send_info(&info()).unwrap();
        for f in frames() {
            assert!(c.send_media(&f).unwrap());
        }
        pump(&mut c, &mut s, &mut log, split);
        assert!(
            matches!(&log.server[0], ServerEvent::Metadata(m) if m.get("width").and_then(|w| w.as_f64()) == Some(1280.0))
        );
        let media = media_of(&log.server);
        // video info, then combined info
        assert_eq!(media[1], MediaEvent::Info(info()));
        let got: Vec<Frame> = media[2..]
            .iter()
            .map(|m| match m {
                MediaEvent::Frame(f) => f.clone(),
                e => panic!("{e:?}"),
            })
            .collect();
        assert_eq!(got, frames());
        log.server.clear();
        c.unpublish().unwrap();
        pump(&mut c, &mut s, &mut log, split);
        assert_eq!(
            log.server,
            vec![ServerEvent::Unpublish, ServerEvent::Closed]
        );
    }
}

#[test]
fn bad_key_rejected() {
    let (mut c, mut s, mut log) = publish_session(usize::MAX);
    s.reject(RejectReason::Unauthorized).unwrap();
    pump(&mut c, &mut s, &mut log, usize::MAX);
    assert_eq!(
        log.client.last(),
        Some(&ClientEvent::Error(
            "NetStream.Publish.Unauthorized: Publishing is not authorized.".into()
        ))
    );
    assert!(!s.is_publishing());
    assert!(s.accept_publish().is_err());
    assert!(c.send_media(&frames()[0]).is_err());
}

#[test]
fn play_round_trip() {
    for split in [usize::MAX, 5] {
        let mut c = ClientSession::play(
            ClientConfig {
                chunk_size: 1000,
                ..Default::default()
            },
            url("rtmp://example.com/app/chan/1?token=t"),
            [3; HANDSHAKE_RANDOM_LEN],
        );
        let mut s = server();
        let mut log = Log::default();
        pump(&mut c, &mut s, &mut log, split);
        assert_eq!(
            log.server[1],
            ServerEvent::PlayRequest {
                stream_id: 1,
                app: "app".into(),
                stream_name: "chan/1".into(),
                query: "token=t".into()
            }
        );
        assert!(s.send_info(&info()).is_err());
        s.accept_play().unwrap();
        s.send_info(&info()).unwrap();
        for f in frames() {
            s.send_media(&f).unwrap();
        }
        // an unsupported frame is skipped
        let mut ac3 = frames()[1].clone();
        ac3.codec = media::Codec::Ac3;
        assert!(!s.send_media(&ac3).unwrap());
        s.end_play().unwrap();
        pump(&mut c, &mut s, &mut log, split);
        assert_eq!(log.client[0], ClientEvent::Connected);
        assert_eq!(log.client[1], ClientEvent::PlayStarted);
        assert!(matches!(&log.client[2], ClientEvent::Metadata(_)));
        let media: Vec<MediaEvent> = log
            .client
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Media(m) => Some(m.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(media[1], MediaEvent::Info(info()));
        assert_eq!(media.len(), 2 + frames().len());
        for (a, b) in media[2..].iter().zip(frames()) {
            assert_eq!(a, &MediaEvent::Frame(b));
        }
        assert_eq!(log.client.last(), Some(&ClientEvent::StreamEnd));
    }
}

#[test]
fn play_not_found() {
    let mut c = ClientSession::play(
        ClientConfig::default(),
        url("rtmp://h/app/nope"),
        [0; HANDSHAKE_RANDOM_LEN],
    );
    let mut s = server();
    let mut log = Log::default();
    pump(&mut c, &mut s, &mut log, usize::MAX);
    s.reject(RejectReason::NotFound).unwrap();
    pump(&mut c, &mut s, &mut log, usize::MAX);
    assert!(
        matches!(log.client.last(), Some(ClientEvent::Error(e)) if e.starts_with("NetStream.Play.StreamNotFound"))
    );
}

#[test]
fn eof_while_publishing() {
    let (mut c, mut s, mut log) = publish_session(usize::MAX);
    s.accept_publish().unwrap();
    pump(&mut c, &mut s, &mut log, usize::MAX);
    s.handle_eof();
    assert_eq!(s.poll_event(), Some(ServerEvent::Unpublish));
    assert_eq!(s.poll_event(), Some(ServerEvent::Closed));
    assert_eq!(s.poll_event(), None);
}

#[test]
fn acks_and_pings() {
    use crate::chunk::*;
    use crate::message::*;
    let mut s = server();
    let mut hs = Handshake::client([0; HANDSHAKE_RANDOM_LEN]);
    s.push(&hs.take_transmit().unwrap()).unwrap();
    let s012 = s.poll_transmit().unwrap();
    assert_eq!(hs.push(&s012).unwrap(), 3073);
    let mut out = bytes::BytesMut::from(&hs.take_transmit().unwrap()[..]);
    let mut enc = ChunkEncoder::new();
    enc.set_chunk_size(4096, &mut out);
    enc.write(&window_ack_size(1_000_000), &mut out);
    let connect = command(
        0,
        "connect",
        1.0,
        &[Amf0Value::object([("app", Amf0Value::str("live"))])],
    );
    enc.write(&connect, &mut out);
    enc.write(&user_control(UC_PING_REQUEST, &[0, 0, 1, 2]), &mut out);
    for _ in 0..30 {
        enc.write(
            &Message {
                csid: 9,
                timestamp: 0,
                type_id: MSG_VIDEO, // not publishing: ignored, but counted for acks
                stream_id: 1,
                payload: Bytes::from(vec![0u8; 100_000]),
            },
            &mut out,
        );
    }
    for piece in out.chunks(64 * 1024) {
        s.push(piece).unwrap();
    }
    let mut dec = ChunkDecoder::default();
    while let Some(b) = s.poll_transmit() {
        dec.push(&b);
    }
    let mut msgs = Vec::new();
    while let Some(m) = dec.poll_message().unwrap() {
        msgs.push((m.type_id, m.payload.to_vec()));
    }
    assert_eq!(
        msgs[0],
        (MSG_WINDOW_ACK_SIZE, 2_500_000u32.to_be_bytes().to_vec())
    );
    assert_eq!(msgs[1].0, MSG_SET_PEER_BANDWIDTH);
    assert_eq!(msgs[2], (MSG_SET_CHUNK_SIZE, vec![0, 0, 16, 0]));
    assert_eq!(msgs[3].0, MSG_COMMAND_AMF0);
    assert!(msgs.contains(&(MSG_USER_CONTROL, vec![0, 7, 0, 0, 1, 2])));
    let acks: Vec<u32> = msgs
        .iter()
        .filter(|m| m.0 == MSG_ACK)
        .map(|m| u32::from_be_bytes(m.1[..4].try_into().unwrap()))
        .collect();
    assert_eq!(acks.len(), 2, "{acks:?}"); // ~3.0 MB received, 1 MB window, 64 KiB reads
    assert!(acks.windows(2).all(|w| w[1] - w[0] >= 1_000_000));
}

#[test]
fn rtmp_url() {
    let u = url("rtmp://[::1]:19350/live/a/b?k=1");
    assert_eq!(
        (u.host.as_str(), u.port, u.app.as_str(), u.stream.as_str()),
        ("::1", 19350, "live", "a/b?k=1")
    );
    assert_eq!(u.tc_url, "rtmp://[::1]:19350/live");
    let u = url("rtmp://host/live/x");
    assert_eq!(u.port, 1935);
    for bad in [
        "http://h/a/b",
        "rtmp://h/a",
        "rtmp://h:99999/a/b",
        "rtmp:///a/b",
        "rtmp://h/a/",
    ] {
        assert!(RtmpUrl::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn garbage_before_connect_is_an_error() {
    let mut s = server();
    let mut c = ClientSession::play(
        ClientConfig::default(),
        url("rtmp://h/a/b"),
        [0; HANDSHAKE_RANDOM_LEN],
    );
    let c01 = c.poll_transmit().unwrap();
    s.push(&c01).unwrap();
    let s012 = s.poll_transmit().unwrap();
    c.push(&s012).unwrap();
    let c2 = c.poll_transmit().unwrap();
    // C2 and the first chunk of connect are in the same buffer; replace connect with play
    let mut enc = ChunkEncoder::new();
    let mut out = bytes::BytesMut::from(&c2[..1536]);
    enc.write(
        &crate::message::command(0, "play", 2.0, &[Amf0Value::Null]),
        &mut out,
    );
    assert!(matches!(s.push(&out), Err(RtmpError::Protocol(_))));
    assert!(matches!(s.push(&[0]), Err(RtmpError::Failed(_))));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn server_random_bytes_never_panic(d in proptest::collection::vec(any::<u8>(), 0..4000), first in any::<bool>()) {
        let mut s = server();
        let mut d = d;
        if first && !d.is_empty() { d[0] = 3; }
        let _ = s.push(&d);
        while s.poll_event().is_some() {}
    }

    #[test]
    fn server_mutated_session_never_panics(idx in 0usize..100_000, val in any::<u8>(), cut in 0usize..100_000) {
        // a recorded publish session (client → server bytes), mutated and truncated
        let mut c = ClientSession::publish(ClientConfig::default(), url("rtmp://h/live/k"), [1; HANDSHAKE_RANDOM_LEN]);
        let mut s = server();
        let mut log = Log::default();
        let mut rec = Vec::new();
        rec.extend_from_slice(&c.poll_transmit().unwrap());
        s.push(&rec).unwrap();
        c.push(&s.poll_transmit().unwrap()).unwrap();
        loop {
            let mut moved = false;
            while let Some(b) = c.poll_transmit() { moved = true; rec.extend_from_slice(&b); s.push(&b).unwrap(); }
            while let Some(b) = s.poll_transmit() { moved = true; c.push(&b).unwrap(); }
            while let Some(e) = s.poll_event() { if matches!(e, ServerEvent::PublishRequest{..}) { s.accept_publish().unwrap(); } log.server.push(e); }
            while let Some(e) = c.poll_event() { if e == ClientEvent::PublishStarted {
                c.send_info(&info()).unwrap();
                for f in frames() { c.send_media(&f).unwrap(); }
            } }
            if !moved { break; }
        }
        let i = 1537 + idx % (rec.len() - 1537);
        rec[i] = val;
        rec.truncate(cut.max(1537) % (rec.len() + 1));
        let mut s = server();
        let _ = s.push(&rec);
        while let Some(e) = s.poll_event() {
            if matches!(e, ServerEvent::PublishRequest{..}) { let _ = s.accept_publish(); }
        }
    }

    #[test]
    fn client_random_bytes_never_panic(d in proptest::collection::vec(any::<u8>(), 0..4000)) {
        let mut c = ClientSession::play(ClientConfig::default(), url("rtmp://h/a/b"), [0; HANDSHAKE_RANDOM_LEN]);
        let mut d = d;
        if !d.is_empty() { d[0] = 3; }
        let _ = c.push(&d);
    }

    #[test]
    fn chunk_decoder_random_bytes_never_panic(d in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut dec = ChunkDecoder::new(1 << 20);
        dec.push(&d);
        while let Ok(Some(_)) = dec.poll_message() {}
    }
}

/// The server session applies its configured decoder limits: chunk streams, command size,
/// memory.
#[test]
fn server_session_limits() {
    use crate::chunk::*;
    let handshaken = |limits: ChunkLimits| {
        let mut s = ServerSession::new(
            ServerConfig {
                limits,
                ..ServerConfig::default()
            },
            [0; HANDSHAKE_RANDOM_LEN],
        );
        let mut hs = Handshake::client([0; HANDSHAKE_RANDOM_LEN]);
        s.push(&hs.take_transmit().unwrap()).unwrap();
        hs.push(&s.poll_transmit().unwrap()).unwrap();
        s.push(&hs.take_transmit().unwrap()).unwrap();
        s
    };
    let d = ServerConfig::default().limits;
    // unfinished messages on more chunk streams than allowed
    let mut s = handshaken(d);
    let mut enc = ChunkEncoder::new();
    let mut out = bytes::BytesMut::new();
    for csid in 3..(3 + d.max_chunk_streams as u32 + 1) {
        let m = Message {
            csid,
            timestamp: 0,
            type_id: MSG_VIDEO,
            stream_id: 1,
            payload: Bytes::from(vec![0u8; 1000]),
        };
        let mut one = bytes::BytesMut::new();
        enc.write(&m, &mut one);
        let basic = if csid < 64 { 1 } else { 2 };
        out.extend_from_slice(&one[..basic + 11 + 128]);
    }
    assert_eq!(
        s.push(&out),
        Err(RtmpError::TooManyChunkStreams {
            limit: d.max_chunk_streams
        })
    );
    // a command larger than the control-message limit is refused from its header
    let mut s = handshaken(d);
    let mut out = bytes::BytesMut::new();
    let big = crate::message::command(
        0,
        "connect",
        1.0,
        &[Amf0Value::StrictArray(vec![
            Amf0Value::Null;
            d.max_control_message
        ])],
    );
    ChunkEncoder::new().write(&big, &mut out);
    assert!(matches!(
        s.push(&out[..200]),
        Err(RtmpError::MessageTooLarge { .. })
    ));
    // memory: one big unfinished video message beyond the budget
    let small = ChunkLimits {
        max_buffered: 64 << 10,
        ..d
    };
    let mut s = handshaken(small);
    let mut out = bytes::BytesMut::new();
    ChunkEncoder::new().write(
        &Message {
            csid: 6,
            timestamp: 0,
            type_id: MSG_VIDEO,
            stream_id: 1,
            payload: Bytes::from(vec![0u8; 200 << 10]),
        },
        &mut out,
    );
    let r = out
        .chunks(4096)
        .map(|c| s.push(c))
        .find(|r| r.is_err())
        .expect("the budget is exceeded");
    assert!(matches!(r, Err(RtmpError::BufferLimit { .. })), "{r:?}");
}
