//! HLS pull: follows a live media playlist (or the best variant of a master playlist), downloads
//! new segments in order and feeds them to the demuxer, releasing frames at real pace so the
//! channel sees a steady stream rather than one burst per segment. A playlist with ENDLIST is
//! looped (handy for test sources).

use std::time::Duration;

use media::MediaEvent;
use tokio::time::Instant;

use super::{http_client, SourceEvent, SourceTx};

/// A media playlist as far as a puller needs it.
#[derive(Debug, Default, PartialEq)]
pub struct MediaPlaylist {
    pub target_duration_s: u64,
    pub media_sequence: u64,
    pub segments: Vec<String>,
    pub endlist: bool,
}

/// Either the variants of a master playlist (uri, bandwidth) or a media playlist.
#[derive(Debug, PartialEq)]
pub enum Playlist {
    Master(Vec<(String, u64)>),
    Media(MediaPlaylist),
}

pub fn parse_playlist(text: &str) -> Result<Playlist, String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next() != Some("#EXTM3U") {
        return Err("not an HLS playlist (no #EXTM3U)".into());
    }
    let mut variants = Vec::new();
    let mut media = MediaPlaylist {
        target_duration_s: 6,
        ..Default::default()
    };
    let mut pending_bandwidth: Option<u64> = None;
    for line in lines {
        if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            let bw = attrs
                .split(',')
                .find_map(|kv| kv.strip_prefix("BANDWIDTH="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            pending_bandwidth = Some(bw);
        } else if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            media.target_duration_s = v.parse().map_err(|_| format!("bad TARGETDURATION '{v}'"))?;
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            media.media_sequence = v.parse().map_err(|_| format!("bad MEDIA-SEQUENCE '{v}'"))?;
        } else if line == "#EXT-X-ENDLIST" {
            media.endlist = true;
        } else if line.starts_with('#') {
            continue;
        } else if let Some(bw) = pending_bandwidth.take() {
            variants.push((line.to_string(), bw));
        } else {
            media.segments.push(line.to_string());
        }
    }
    if !variants.is_empty() {
        return Ok(Playlist::Master(variants));
    }
    Ok(Playlist::Media(media))
}

/// Releases frames no earlier than their timestamps say (allowing a small lead).
struct Pacer {
    base: Option<(Instant, i64)>,
    last_dts: i64,
}

const LEAD: Duration = Duration::from_millis(1500);

impl Pacer {
    async fn wait(&mut self, dts_90k: i64) {
        let now = Instant::now();
        let jump = (dts_90k - self.last_dts).abs() > 5 * 90_000;
        self.last_dts = dts_90k;
        let (t0, d0) = match self.base {
            Some(b) if !jump => b,
            _ => {
                self.base = Some((now, dts_90k));
                return;
            }
        };
        let due = t0 + Duration::from_millis(((dts_90k - d0).max(0) / 90) as u64);
        if due > now + LEAD {
            tokio::time::sleep_until(due - LEAD).await;
        } else if now.saturating_duration_since(due) > Duration::from_secs(10) {
            // we fell far behind (slow download): restart pacing here
            self.base = Some((now, dts_90k));
        }
    }
}

pub async fn run(url: String, tx: SourceTx) {
    let mut reconnect = super::Reconnect::default();
    loop {
        reconnect.begin();
        match follow(&url, &tx).await {
            Ok(()) => return,
            Err(e) => {
                if !tx.send(SourceEvent::Error(e)).await {
                    return;
                }
            }
        }
        reconnect.pause().await;
    }
}

/// Follows the playlist until an error (Err) or the channel goes away (Ok).
async fn follow(url: &str, tx: &SourceTx) -> Result<(), String> {
    let mut playlist_url = url.to_string();
    let mut next_seq: Option<u64> = None;
    let mut demux = mpegts::Demuxer::new();
    let mut pacer = Pacer {
        base: None,
        last_dts: 0,
    };
    let mut events = Vec::new();
    let mut connected = false;
    let mut stale_reloads = 0;
    let mut master_hops = 0;
    loop {
        let (final_url, body) = http_client::get_body(&playlist_url, 4 << 20).await?;
        // what may be shown: never the password
        let shown = http_client::redact(&final_url);
        let text = String::from_utf8_lossy(&body);
        let media = match parse_playlist(&text).map_err(|e| format!("{shown}: {e}"))? {
            Playlist::Master(mut variants) => {
                master_hops += 1;
                if master_hops > 3 {
                    return Err(format!(
                        "{shown}: master playlists lead to more master playlists"
                    ));
                }
                variants.sort_by_key(|v| std::cmp::Reverse(v.1));
                playlist_url = http_client::resolve(&final_url, &variants[0].0);
                continue;
            }
            Playlist::Media(m) => m,
        };
        if !connected {
            connected = true;
            if !tx
                .send(SourceEvent::Connected(format!("HLS {shown}")))
                .await
            {
                return Ok(());
            }
        }
        let first = media.media_sequence;
        let last_plus_one = first + media.segments.len() as u64;
        let start = match next_seq {
            Some(n) if n >= first && n <= last_plus_one => n,
            Some(n) if n > last_plus_one && !media.endlist => {
                return Err(format!("{shown}: media sequence went backwards"))
            }
            // first fetch, fell behind, or a looped VOD: start 3 segments from the end (live) or at 0 (VOD)
            _ => {
                if media.endlist {
                    first
                } else {
                    last_plus_one.saturating_sub(3).max(first)
                }
            }
        };
        if start == last_plus_one {
            stale_reloads += 1;
            if stale_reloads > 6 {
                return Err(format!(
                    "{shown}: playlist has not advanced for {} reloads",
                    stale_reloads
                ));
            }
            tokio::time::sleep(Duration::from_millis(media.target_duration_s.max(1) * 500)).await;
            continue;
        }
        stale_reloads = 0;
        for seq in start..last_plus_one {
            let seg_url = http_client::resolve(&final_url, &media.segments[(seq - first) as usize]);
            let (_, data) = http_client::get_body(&seg_url, 64 << 20).await?;
            demux.push(&data, &mut events);
            for ev in events.drain(..) {
                if let MediaEvent::Frame(f) = &ev {
                    pacer.wait(f.dts_90k.0).await;
                }
                if !tx.send(SourceEvent::Media(ev)).await {
                    return Ok(());
                }
            }
            next_seq = Some(seq + 1);
        }
        if media.endlist {
            next_seq = None; // loop a finished playlist
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_master_and_media() {
        let m = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\nlow/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2000000\nhigh/index.m3u8\n";
        assert_eq!(
            parse_playlist(m).unwrap(),
            Playlist::Master(vec![
                ("low/index.m3u8".into(), 800_000),
                ("high/index.m3u8".into(), 2_000_000)
            ])
        );
        let p = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:17\n#EXTINF:4.0,\na.ts\n#EXTINF:4.0,\nb.ts\n";
        assert_eq!(
            parse_playlist(p).unwrap(),
            Playlist::Media(MediaPlaylist {
                target_duration_s: 4,
                media_sequence: 17,
                segments: vec!["a.ts".into(), "b.ts".into()],
                endlist: false
            })
        );
        assert!(parse_playlist("garbage").is_err());
        assert!(parse_playlist("#EXTM3U\n#EXT-X-TARGETDURATION:x\n").is_err());
    }
}
