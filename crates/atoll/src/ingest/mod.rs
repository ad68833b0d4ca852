//! Ingest: sockets and pull clients that drive the pure protocol crates and feed a channel.
//!
//! Every source, whatever its protocol, ends as [`SourceEvent`]s carrying [`media::MediaEvent`]s
//! into its channel's bounded event queue (an edge's `origin://` source carries the origin's
//! finished segments instead: [`origin`]). Ingest never imports `api`; the channel runner
//! (`hub`) decides which source is on air.

pub mod hls_pull;
pub mod http_client;
pub mod http_ts;
pub mod origin;
pub mod rtmp_pull;
pub mod rtmp_server;
pub mod testsrc;
pub mod udp;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::sync::mpsc;

/// What a running source reports.
#[derive(Debug)]
pub enum SourceEvent {
    /// Connected (or listening) and reading; the text says to what.
    Connected(String),
    Media(media::MediaEvent),
    /// A failure; the source retries by itself.
    Error(String),
    /// An RTMP publisher attached to its channel (publish channels).
    PublisherConnected {
        peer: SocketAddr,
    },
    /// The RTMP publisher left; `reason` is for the logs only, never matched.
    PublisherGone {
        reason: String,
    },
    /// A finished segment from an origin, to be served as it is (`origin://` sources).
    Segment(Box<origin::Relayed>),
    /// The origin answered (with or without a new segment): it is there.
    Alive,
}

/// A source event tagged with the source slot and the generation of the task that sent it
/// (events of a stopped task are ignored).
#[derive(Debug)]
pub struct Tagged {
    pub slot: usize,
    pub generation: u64,
    pub event: SourceEvent,
}

/// The sending side a source task gets.
#[derive(Clone)]
pub struct SourceTx {
    pub tx: mpsc::Sender<Tagged>,
    pub slot: usize,
    pub generation: u64,
    /// For publishers: closed (its sender dropped) when the channel no longer wants this
    /// publisher (reconfigured, key changed, replaced, stopped); the connection then ends.
    pub dismissed: Option<tokio::sync::watch::Receiver<()>>,
}

impl SourceTx {
    /// Sends an event; false when the channel is gone (the task should end).
    pub async fn send(&self, event: SourceEvent) -> bool {
        self.tx
            .send(Tagged {
                slot: self.slot,
                generation: self.generation,
                event,
            })
            .await
            .is_ok()
    }

    pub fn blocking_send(&self, event: SourceEvent) -> bool {
        self.tx
            .blocking_send(Tagged {
                slot: self.slot,
                generation: self.generation,
                event,
            })
            .is_ok()
    }
}

/// A parsed source URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// MPEG-TS over UDP. `udp://@239.1.1.1:1234` listens (joins the group when multicast);
    /// `?localaddr=IP` (or `?iface=IP`) picks the interface that joins.
    Udp {
        addr: SocketAddr,
        iface: Option<Ipv4Addr>,
    },
    /// `rtmp://host[:port]/app/stream`, pulled.
    RtmpPull { url: String },
    /// `http(s)://…` ending in `.m3u8`: HLS pull.
    Hls { url: String },
    /// Any other `http(s)://…`: an endless MPEG-TS body.
    HttpTs { url: String },
    /// `testsrc://[?size=WxH&fps=N]`: the built-in test pattern.
    TestSrc { width: u32, height: u32, fps: u32 },
    /// `origin://{channel}`: the channel's segments from the cluster's origins (edges only; set
    /// by the edge when it follows the origin's lineup).
    Origin { channel: String },
}

impl SourceSpec {
    pub fn parse(url: &str) -> Result<SourceSpec, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("'{url}' is not a URL (expected scheme://…)"))?;
        let (body, query) = rest.split_once('?').unwrap_or((rest, ""));
        let param = |name: &str| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        match scheme.to_ascii_lowercase().as_str() {
            "udp" => {
                let hostport = body.trim_start_matches('@').trim_end_matches('/');
                let hostport = if hostport.starts_with(':') {
                    format!("0.0.0.0{hostport}")
                } else {
                    hostport.to_string()
                };
                let addr: SocketAddr = hostport
                    .parse()
                    .map_err(|_| format!("udp source '{url}': expected udp://[@]IP:PORT"))?;
                let iface = match param("localaddr").or_else(|| param("iface")) {
                    Some(v) => Some(v.parse().map_err(|_| {
                        format!("udp source '{url}': localaddr '{v}' is not an IPv4 address")
                    })?),
                    None => None,
                };
                Ok(SourceSpec::Udp { addr, iface })
            }
            "rtmp" => {
                let path = body.split_once('/').map(|(_, p)| p).unwrap_or("");
                if body.is_empty() || !path.contains('/') {
                    return Err(format!(
                        "rtmp source '{url}': expected rtmp://host[:port]/app/stream"
                    ));
                }
                Ok(SourceSpec::RtmpPull {
                    url: url.to_string(),
                })
            }
            "http" | "https" => {
                if body.is_empty() || body.starts_with('/') {
                    return Err(format!("{scheme} source '{url}': missing host"));
                }
                let path = body.split_once('/').map(|(_, p)| p).unwrap_or("");
                if path.to_ascii_lowercase().ends_with(".m3u8") {
                    Ok(SourceSpec::Hls {
                        url: url.to_string(),
                    })
                } else {
                    Ok(SourceSpec::HttpTs {
                        url: url.to_string(),
                    })
                }
            }
            "origin" => {
                if body.is_empty()
                    || body.len() > 64
                    || !body.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                    })
                {
                    return Err(format!(
                        "origin source '{url}': expected origin://CHANNEL-ID"
                    ));
                }
                Ok(SourceSpec::Origin {
                    channel: body.to_string(),
                })
            }
            "testsrc" => {
                let (width, height) = match param("size") {
                    Some(s) => {
                        let (w, h) = s.split_once('x').ok_or("testsrc size must be WxH")?;
                        let w: u32 = w.parse().map_err(|_| "testsrc width is not a number")?;
                        let h: u32 = h.parse().map_err(|_| "testsrc height is not a number")?;
                        if !(16..=1920).contains(&w)
                            || !(16..=1080).contains(&h)
                            || w % 2 == 1
                            || h % 2 == 1
                        {
                            return Err("testsrc size must be even and at most 1920x1080".into());
                        }
                        (w, h)
                    }
                    None => (640, 360),
                };
                let fps = match param("fps") {
                    Some(f) => f
                        .parse()
                        .ok()
                        .filter(|f| (1..=60).contains(f))
                        .ok_or("testsrc fps must be 1..60")?,
                    None => 25,
                };
                Ok(SourceSpec::TestSrc { width, height, fps })
            }
            other => Err(format!(
                "source '{url}': unsupported scheme '{other}' (use udp, rtmp, http or testsrc)"
            )),
        }
    }
}

/// Reconnect delays for pull sources: 1 s, 2 s, 4 s, then every 5 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((1000u64 << attempt.min(3)).min(5000))
}

/// Reconnect pacing for one source: the delay grows while attempts fail fast, and starts again at
/// 1 s after an attempt that ran for a while (it was streaming), so a single upstream hiccup costs
/// one second, not the longest delay.
pub struct Reconnect {
    attempt: u32,
    started: std::time::Instant,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            attempt: 0,
            started: std::time::Instant::now(),
        }
    }
}

impl Reconnect {
    /// An attempt begins.
    pub fn begin(&mut self) {
        self.started = std::time::Instant::now();
    }

    /// Waits before the next attempt.
    pub async fn pause(&mut self) {
        if self.started.elapsed() >= Duration::from_secs(10) {
            self.attempt = 0;
        }
        tokio::time::sleep(backoff(self.attempt)).await;
        self.attempt = self.attempt.saturating_add(1);
    }
}

/// Starts the task that reads one source. The task stops when the returned handle is dropped.
pub fn spawn_source(spec: SourceSpec, label: String, tx: SourceTx) -> SourceTask {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handle = match spec {
        SourceSpec::Udp { addr, iface } => tokio::spawn(udp::run(addr, iface, tx)),
        SourceSpec::HttpTs { url } => tokio::spawn(http_ts::run(url, tx)),
        SourceSpec::Hls { url } => tokio::spawn(hls_pull::run(url, tx)),
        SourceSpec::RtmpPull { url } => tokio::spawn(rtmp_pull::run(url, tx)),
        SourceSpec::TestSrc { width, height, fps } => {
            let stop = stop.clone();
            tokio::task::spawn_blocking(move || testsrc::run(width, height, fps, label, tx, stop))
        }
        SourceSpec::Origin { channel } => {
            return spawn_origin(channel, origin::DEFAULT_MAX_SEGMENT_BYTES, tx)
        }
    };
    SourceTask { handle, stop }
}

/// Starts an edge channel's `origin://` source (segments of at most `max_segment_bytes`).
pub fn spawn_origin(channel: String, max_segment_bytes: usize, tx: SourceTx) -> SourceTask {
    SourceTask {
        handle: tokio::spawn(origin::run(channel, max_segment_bytes, tx)),
        stop: Default::default(),
    }
}

pub struct SourceTask {
    handle: tokio::task::JoinHandle<()>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SourceTask {
    /// The task ended by itself (it gave up or panicked): the runner restarts it.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl Drop for SourceTask {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_head_end_urls() {
        assert_eq!(
            SourceSpec::parse("udp://@239.1.1.1:1234?localaddr=127.0.0.1").unwrap(),
            SourceSpec::Udp {
                addr: "239.1.1.1:1234".parse().unwrap(),
                iface: Some(Ipv4Addr::LOCALHOST)
            }
        );
        assert_eq!(
            SourceSpec::parse("udp://127.0.0.1:5000").unwrap(),
            SourceSpec::Udp {
                addr: "127.0.0.1:5000".parse().unwrap(),
                iface: None
            }
        );
        assert!(matches!(
            SourceSpec::parse("rtmp://up/app/stream"),
            Ok(SourceSpec::RtmpPull { .. })
        ));
        assert!(matches!(
            SourceSpec::parse("http://h/x/index.m3u8"),
            Ok(SourceSpec::Hls { .. })
        ));
        assert!(matches!(
            SourceSpec::parse("http://h:8000/x.ts"),
            Ok(SourceSpec::HttpTs { .. })
        ));
        assert!(matches!(
            SourceSpec::parse("https://h/x/index.m3u8"),
            Ok(SourceSpec::Hls { .. })
        ));
        assert_eq!(
            SourceSpec::parse("testsrc://?size=320x240&fps=30").unwrap(),
            SourceSpec::TestSrc {
                width: 320,
                height: 240,
                fps: 30
            }
        );
        for bad in [
            "",
            "udp://nothing",
            "rtmp://host",
            "ftp://x/y",
            "http:///x",
            "testsrc://?size=3x3",
            "https:///x.m3u8",
        ] {
            assert!(SourceSpec::parse(bad).is_err(), "{bad}");
        }
    }
}
