//! RTMP pull: play rtmp://host/app/stream and feed the channel; reconnects on failure.

use std::time::Duration;

use rand_core::{OsRng, RngCore};
use rtmp::{ClientConfig, ClientEvent, ClientSession, RtmpUrl, HANDSHAKE_RANDOM_LEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{SourceEvent, SourceTx};

pub async fn run(url: String, tx: SourceTx) {
    let mut reconnect = super::Reconnect::default();
    loop {
        reconnect.begin();
        match pull_once(&url, &tx).await {
            Ok(false) => return,
            Ok(true) => {}
            Err(e) => {
                // errors quote the URL: never its password
                let e = super::http_client::redact_text(&e);
                if !tx.send(SourceEvent::Error(e)).await {
                    return;
                }
            }
        }
        reconnect.pause().await;
    }
}

/// Ok(false): the channel is gone. Err: the pull failed (retry).
async fn pull_once(url: &str, tx: &SourceTx) -> Result<bool, String> {
    let parsed = RtmpUrl::parse(url).map_err(|e| e.to_string())?;
    let url = &super::http_client::redact(url);
    let addr = format!("{}:{}", parsed.host, parsed.port);
    let mut stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&addr))
        .await
        .map_err(|_| format!("rtmp connect to {url} timed out"))?
        .map_err(|e| format!("rtmp connect to {url}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut random = [0u8; HANDSHAKE_RANDOM_LEN];
    OsRng.fill_bytes(&mut random);
    let mut session = ClientSession::play(ClientConfig::default(), parsed, random);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while let Some(out) = session.poll_transmit() {
            stream
                .write_all(&out)
                .await
                .map_err(|e| format!("rtmp write: {e}"))?;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .map_err(|_| format!("rtmp {url}: no data for 10 s"))?
            .map_err(|e| format!("rtmp read: {e}"))?;
        if n == 0 {
            return Err(format!("rtmp {url}: connection closed by server"));
        }
        session
            .push(&buf[..n])
            .map_err(|e| format!("rtmp {url}: {e}"))?;
        while let Some(ev) = session.poll_event() {
            match ev {
                ClientEvent::PlayStarted => {
                    if !tx
                        .send(SourceEvent::Connected(format!("rtmp play {url}")))
                        .await
                    {
                        return Ok(false);
                    }
                }
                ClientEvent::Media(m) => {
                    if !tx.send(SourceEvent::Media(m)).await {
                        return Ok(false);
                    }
                }
                ClientEvent::Error(e) => return Err(format!("rtmp {url}: {e}")),
                ClientEvent::StreamEnd => return Err(format!("rtmp {url}: stream ended")),
                ClientEvent::Connected | ClientEvent::Metadata(_) | ClientEvent::PublishStarted => {
                }
                ClientEvent::Warning(w) => tracing::debug!("rtmp {url}: {w}"),
            }
        }
    }
}
