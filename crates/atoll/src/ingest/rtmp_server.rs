//! The RTMP listener: encoders publish to rtmp://host:1935/live/{channel}[?key=SECRET].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand_core::{OsRng, RngCore};
use rtmp::{RejectReason, ServerConfig, ServerEvent, ServerSession, HANDSHAKE_RANDOM_LEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::{SourceEvent, SourceTx};
use crate::hub::Hub;

/// The RTMP application name publishers use.
pub const APP: &str = "live";
/// A connection that sends nothing for this long is dropped.
const IDLE: Duration = Duration::from_secs(30);

pub async fn serve(listener: TcpListener, hub: Arc<Hub>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(stream, peer, hub.clone(), shutdown.clone()));
                }
                Err(e) => {
                    tracing::warn!("rtmp accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}

/// Resolves when the channel has dismissed this connection's publisher; never without one.
async fn dismissed(publisher: &mut Option<(String, SourceTx)>) {
    match publisher.as_mut().and_then(|(_, tx)| tx.dismissed.as_mut()) {
        Some(rx) => while rx.changed().await.is_ok() {},
        None => std::future::pending().await,
    }
}

fn key_from_query(query: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "key")
        .map(|(_, v)| v.to_string())
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    hub: Arc<Hub>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut random = [0u8; HANDSHAKE_RANDOM_LEN];
    OsRng.fill_bytes(&mut random);
    let mut session = ServerSession::new(ServerConfig::default(), random);
    let mut publisher: Option<(String, SourceTx)> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let reason = 'conn: loop {
        let n = tokio::select! {
            r = tokio::time::timeout(IDLE, stream.read(&mut buf)) => match r {
                Err(_) => break 'conn format!("no data for {} s", IDLE.as_secs()),
                Ok(Err(e)) => break 'conn format!("read: {e}"),
                Ok(Ok(0)) => {
                    session.handle_eof();
                    0
                }
                Ok(Ok(n)) => n,
            },
            _ = shutdown.changed() => break 'conn "server shutting down".to_string(),
            _ = dismissed(&mut publisher) => break 'conn "the channel dismissed this publisher (reconfigured, key changed or replaced)".to_string(),
        };
        if n > 0 {
            if let Err(e) = session.push(&buf[..n]) {
                break 'conn format!("protocol error: {e}");
            }
        }
        let mut close = n == 0;
        while let Some(ev) = session.poll_event() {
            match ev {
                ServerEvent::Connect { app, .. } => {
                    tracing::debug!(%peer, %app, "rtmp connect");
                }
                ServerEvent::PublishRequest {
                    app,
                    stream_key,
                    query,
                    ..
                } => {
                    let refusal = if app != APP {
                        Some((
                            RejectReason::NotFound,
                            format!(
                                "unknown application '{app}' (use rtmp://host/{APP}/{{channel}})"
                            ),
                        ))
                    } else if publisher.is_some() {
                        Some((
                            RejectReason::BadName,
                            "connection is already publishing".to_string(),
                        ))
                    } else {
                        match hub
                            .attach_publisher(&stream_key, key_from_query(&query))
                            .await
                        {
                            Ok(tx) => {
                                tracing::info!(channel = %stream_key, %peer, "rtmp publish started");
                                let _ = tx
                                    .send(SourceEvent::PublisherConnected { peer })
                                    .await;
                                publisher = Some((stream_key.clone(), tx));
                                let _ = session.accept_publish();
                                None
                            }
                            Err(reason) => {
                                let kind = if reason.contains("key") {
                                    RejectReason::Unauthorized
                                } else {
                                    RejectReason::BadName
                                };
                                Some((kind, reason))
                            }
                        }
                    };
                    if let Some((kind, reason)) = refusal {
                        tracing::warn!(channel = %stream_key, %peer, "rtmp publish refused: {reason}");
                        let _ = session.reject(kind);
                        close = true;
                    }
                }
                ServerEvent::PlayRequest { stream_name, .. } => {
                    tracing::warn!(channel = %stream_name, %peer, "rtmp play refused: RTMP playback is not offered (use HLS or /mpegts)");
                    let _ = session.reject(RejectReason::NotFound);
                    close = true;
                }
                ServerEvent::Media(m) => {
                    if let Some((_, tx)) = &publisher {
                        if !tx.send(SourceEvent::Media(m)).await {
                            break 'conn "channel stopped".to_string();
                        }
                    }
                }
                ServerEvent::Metadata(_) => {}
                ServerEvent::Warning(w) => {
                    tracing::debug!(%peer, "rtmp: {w}");
                }
                ServerEvent::Unpublish | ServerEvent::Closed => close = true,
            }
        }
        while let Some(out) = session.poll_transmit() {
            if let Err(e) = stream.write_all(&out).await {
                break 'conn format!("write: {e}");
            }
        }
        if close {
            break 'conn "closed by peer".to_string();
        }
    };
    match publisher {
        Some((channel, tx)) => {
            tracing::info!(%channel, %peer, "rtmp publish ended: {reason}");
            let _ = tx
                .send(SourceEvent::PublisherGone { reason })
                .await;
        }
        None if reason.starts_with("protocol error") => {
            tracing::warn!(%peer, "rtmp connection dropped: {reason}")
        }
        None => tracing::debug!(%peer, "rtmp connection ended: {reason}"),
    }
}
