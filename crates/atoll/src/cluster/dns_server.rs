//! The DNS responder's sockets (`[cluster] dns_listen`): UDP answered in one loop (each answer is
//! a lookup in memory), TCP with a cap on connections, a deadline per message and a cap on
//! messages per connection. The answers are [`super::dns::answer`]'s.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use media::Clock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{watch, Semaphore};

use super::dns::{answer, Pick, Zone};
use super::nodes::Nodes;

/// Messages one TCP connection may send.
pub const TCP_MESSAGES: usize = 16;

/// The responder's limits (settings `[cluster] dns_tcp_*`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// TCP connections served at once; more are closed at accept.
    pub max_tcp: usize,
    /// A TCP client must send each message within this.
    pub tcp_idle: Duration,
}

/// Who answers: the nodes' choice, or this node when no edge can take the client.
struct Picker {
    nodes: Arc<Nodes>,
    clock: Arc<dyn Clock>,
    fallback: Option<Ipv4Addr>,
}

impl Picker {
    fn pick(&self, ip: IpAddr) -> Option<Pick> {
        match self.nodes.dns_pick(ip, self.clock.now_mono_ms()) {
            Some((addr, scope)) => Some(Pick { addr, scope }),
            None => self.fallback.map(|addr| Pick { addr, scope: 0 }),
        }
    }
}

/// Binds UDP and TCP on `addr` (so a bad address fails at start) and serves until shutdown.
pub async fn start(
    addr: SocketAddr,
    zone: Zone,
    nodes: Arc<Nodes>,
    clock: Arc<dyn Clock>,
    fallback: Option<Ipv4Addr>,
    limits: Limits,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let udp = UdpSocket::bind(addr).await?;
    let tcp = TcpListener::bind(addr).await?;
    tracing::info!(%addr, name = %zone.apex, "DNS responder listening (UDP and TCP)");
    let picker = Arc::new(Picker {
        nodes,
        clock,
        fallback,
    });
    let zone = Arc::new(zone);
    Ok(tokio::spawn(async move {
        let u = tokio::spawn(serve_udp(
            udp,
            zone.clone(),
            picker.clone(),
            shutdown.clone(),
        ));
        let t = tokio::spawn(serve_tcp(tcp, zone, picker, limits, shutdown));
        let _ = u.await;
        let _ = t.await;
    }))
}

async fn serve_udp(
    sock: UdpSocket,
    zone: Arc<Zone>,
    picker: Arc<Picker>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, peer) = tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!("dns udp: {e}");
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        if let Some(out) = answer(&buf[..n], peer.ip(), &zone, false, |ip| picker.pick(ip)) {
            let _ = sock.send_to(&out, peer).await;
        }
    }
}

async fn serve_tcp(
    listener: TcpListener,
    zone: Arc<Zone>,
    picker: Arc<Picker>,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_tcp));
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!("dns tcp accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue; // full: the connection is dropped
        };
        let (zone, picker, shutdown) = (zone.clone(), picker.clone(), shutdown.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = tcp_connection(stream, peer, &zone, &picker, limits.tcp_idle) => {}
                _ = stopping(shutdown) => {}
            }
            drop(slot);
        });
    }
}

async fn stopping(mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

async fn tcp_connection(
    mut s: TcpStream,
    peer: SocketAddr,
    zone: &Zone,
    picker: &Picker,
    idle: Duration,
) {
    let mut buf = vec![0u8; 65_535];
    for _ in 0..TCP_MESSAGES {
        let read = async {
            let len = s.read_u16().await? as usize;
            s.read_exact(&mut buf[..len]).await?;
            Ok::<usize, std::io::Error>(len)
        };
        let Ok(Ok(len)) = tokio::time::timeout(idle, read).await else {
            return;
        };
        let Some(out) = answer(&buf[..len], peer.ip(), zone, true, |ip| picker.pick(ip)) else {
            return;
        };
        let mut framed = Vec::with_capacity(out.len() + 2);
        framed.extend_from_slice(&(out.len() as u16).to_be_bytes());
        framed.extend_from_slice(&out);
        if tokio::time::timeout(idle, s.write_all(&framed))
            .await
            .map_or(true, |r| r.is_err())
        {
            return;
        }
    }
}
