//! A UDP channel with DVB teletext subtitles, for the renditions and player tests.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::{fixture_clip, path_str, require, Killer};

/// ffmpeg's stream of the fixture clip (looped at real pace, `ffmpeg_args` choosing its streams
/// and codecs), re-muxed with the project's muxer with a teletext subtitle page 888 (`eng`)
/// added — ffmpeg cannot encode teletext: "Subtitle {n}" every 2 s of video, each page on a
/// video frame's PTS — and sent to `127.0.0.1:port` over UDP. With `dvb_subtitles`, a DVB
/// bitmap subtitle stream (`fre`, composition page 1) rides along: a display set (an empty page
/// composition, then end of display set) with every teletext page — ffmpeg cannot encode those
/// from text either.
pub struct TeletextFeed {
    ffmpeg: Option<Killer>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TeletextFeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        drop(self.ffmpeg.take()); // its output ends: the thread's read returns
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn teletext_feed(port: u16, ffmpeg_args: &[&str], dvb_subtitles: bool) -> TeletextFeed {
    require("ffmpeg");
    let clip = fixture_clip();
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re"])
        .args(["-stream_loop", "-1", "-i", path_str(&clip)])
        .args(ffmpeg_args)
        .args(["-f", "mpegts", "pipe:1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdout.take().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let thread = std::thread::spawn(move || {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let teletext = media::DataConfig {
            codec: Some(media::Codec::Teletext),
            language: Some("eng".into()),
            // teletext_descriptor: eng, type 2 (subtitle page), magazine 8 (0), page 88
            descriptors: Bytes::from_static(&[0x56, 5, b'e', b'n', b'g', 0x10, 0x88]),
        };
        let dvbsub = media::DataConfig {
            codec: Some(media::Codec::DvbSubtitle),
            language: Some("fre".into()),
            // subtitling_descriptor: fre, type 0x10 (normal), composition and ancillary page 1
            descriptors: Bytes::from_static(&[0x59, 8, b'f', b'r', b'e', 0x10, 0, 1, 0, 1]),
        };
        let mut demux = mpegts::Demuxer::new();
        let mut mux: Option<mpegts::Muxer> = None;
        let mut buf = vec![0u8; 188 * 28];
        let mut evs = Vec::new();
        let mut out = BytesMut::new();
        let mut next_page_90k = None;
        let mut n = 0;
        while !stopped.load(Ordering::Relaxed) {
            let Ok(got) = input.read(&mut buf) else { break };
            if got == 0 {
                break;
            }
            demux.push(&buf[..got], &mut evs);
            for e in evs.drain(..) {
                match e {
                    media::MediaEvent::Info(mut info) => {
                        info.data = vec![teletext.clone()];
                        if dvb_subtitles {
                            info.data.push(dvbsub.clone());
                        }
                        match mux.as_mut() {
                            Some(m) => m.set_info(&info),
                            None => {
                                let mut m = mpegts::Muxer::new(&info);
                                m.write_psi(&mut out);
                                mux = Some(m);
                            }
                        }
                    }
                    media::MediaEvent::Frame(f) => {
                        let Some(m) = mux.as_mut() else { continue };
                        if f.track == media::Track::Video && f.keyframe {
                            m.write_psi(&mut out);
                        }
                        m.write_frame(&f, &mut out);
                        if f.track == media::Track::Video
                            && next_page_90k.is_none_or(|t| f.pts_90k.0 >= t)
                        {
                            let text = format!("Subtitle {n}");
                            n += 1;
                            next_page_90k = Some(f.pts_90k.0 + 180_000);
                            let page = media::Frame {
                                track: media::Track::Data(0),
                                codec: media::Codec::Teletext,
                                pts_90k: f.pts_90k,
                                dts_90k: f.pts_90k,
                                keyframe: true,
                                data: Bytes::from(mpegts::teletext::encode_page(
                                    8,
                                    0x88,
                                    &[&text],
                                    true,
                                )),
                            };
                            m.write_frame(&page, &mut out);
                            if dvb_subtitles {
                                let set = media::Frame {
                                    track: media::Track::Data(1),
                                    codec: media::Codec::DvbSubtitle,
                                    // EN 300 743: data_identifier 0x20, stream 0; a page
                                    // composition (page 1, time-out 5 s, version 0, mode change,
                                    // no regions); end of display set; end marker
                                    data: Bytes::from_static(&[
                                        0x20, 0x00, 0x0f, 0x10, 0, 1, 0, 2, 5, 0x0b, 0x0f, 0x80, 0,
                                        1, 0, 0, 0xff,
                                    ]),
                                    ..page
                                };
                                m.write_frame(&set, &mut out);
                            }
                        }
                    }
                }
            }
            while out.len() >= 1316 {
                let d = out.split_to(1316);
                let _ = sock.send_to(&d, ("127.0.0.1", port));
            }
        }
    });
    TeletextFeed {
        ffmpeg: Some(Killer(child)),
        stop,
        thread: Some(thread),
    }
}
