//! MPEG-TS over UDP, unicast or multicast (IGMP join on a chosen interface).

use std::net::{Ipv4Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::{SourceEvent, SourceTx};

fn bind(addr: SocketAddr, iface: Option<Ipv4Addr>) -> std::io::Result<UdpSocket> {
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Only a multicast group may be shared by several sockets; a unicast address bound twice (two
    // channels configured with the same port by mistake) must fail loudly, not steal the feed.
    if addr.ip().is_multicast() {
        sock.set_reuse_address(true)?;
    }
    // 4 MiB of kernel buffer absorbs bursts while the runner is busy (kernel may clamp it).
    let _ = sock.set_recv_buffer_size(4 << 20);
    match addr {
        SocketAddr::V4(v4) if v4.ip().is_multicast() => {
            // bind the group address so only this group's datagrams arrive
            sock.bind(&SocketAddr::from((*v4.ip(), v4.port())).into())?;
            sock.join_multicast_v4(v4.ip(), &iface.unwrap_or(Ipv4Addr::UNSPECIFIED))?;
        }
        _ => sock.bind(&addr.into())?,
    }
    sock.set_nonblocking(true)?;
    UdpSocket::from_std(sock.into())
}

pub async fn run(addr: SocketAddr, iface: Option<Ipv4Addr>, tx: SourceTx) {
    let mut attempt = 0u32;
    let sock = loop {
        match bind(addr, iface) {
            Ok(s) => break s,
            Err(e) => {
                if !tx
                    .send(SourceEvent::Error(format!("udp bind {addr}: {e}")))
                    .await
                {
                    return;
                }
                tokio::time::sleep(super::backoff(attempt)).await;
                attempt += 1;
            }
        }
    };
    let what = match iface {
        Some(i) => format!("listening on udp {addr} (interface {i})"),
        None => format!("listening on udp {addr}"),
    };
    if !tx.send(SourceEvent::Connected(what)).await {
        return;
    }
    let mut demux = mpegts::Demuxer::new();
    let mut buf = vec![0u8; 65_536];
    let mut events = Vec::new();
    let mut warned_no_pmt = false;
    let mut packets_seen = 0u64;
    loop {
        let n = match sock.recv(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                if !tx.send(SourceEvent::Error(format!("udp recv: {e}"))).await {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        demux.push(&buf[..n], &mut events);
        packets_seen += 1;
        if !warned_no_pmt
            && packets_seen == 2000
            && demux.info().video.is_none()
            && demux.info().audio.is_empty()
        {
            warned_no_pmt = true;
            let st = demux.stats();
            let _ = tx
                .send(SourceEvent::Error(format!(
                    "udp {addr}: 2000 datagrams but no playable stream yet (no PAT/PMT or no known codec; {st:?})"
                )))
                .await;
        }
        for ev in events.drain(..) {
            if !tx.send(SourceEvent::Media(ev)).await {
                return;
            }
        }
    }
}
