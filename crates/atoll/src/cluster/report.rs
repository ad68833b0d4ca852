//! Every node reports to every origin every 2 s ([`wire::REPORT_EVERY_MS`]): viewers, egress,
//! CPU, free disk, channels pulled and recorded, how far behind its newest segment is, and its
//! wall clock (the origin derives the offset: clock trouble shows before catch-up breaks).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use media::Clock;
use tokio::sync::watch;

use crate::hub::{Hub, State};
use crate::ingest::origin::wire::{self, Report};
use crate::ingest::origin::Upstream;

/// What a report says of this node that does not change.
pub struct Identity {
    pub node: String,
    pub role: &'static str,
    pub public_url: Option<String>,
    pub archive_dir: PathBuf,
}

/// The figures of one report (blocking: reads /proc and statvfs).
fn figures(
    id: &Identity,
    hub: &Hub,
    clock: &dyn Clock,
    egress_mbps: f64,
    origin_in_use: Option<String>,
) -> Report {
    let now_mono = clock.now_mono_ms();
    let now_utc = clock.now_utc().0;
    let mut viewers = 0u64;
    let (mut pulled, mut recorded) = (0u64, 0u64);
    let mut lag: Option<f64> = None;
    for h in hub.all() {
        viewers += h.live.hls_sessions.count(now_mono) as u64
            + h.live.ts_viewers.load(Ordering::Relaxed) as u64;
        let st = h.status();
        if st.state != State::Offline {
            pulled += 1;
        }
        if st.recording {
            recorded += 1;
        }
        if let Some(last) = h.live.snapshot().segments.back() {
            let end_ms = last.start_utc.0 + last.duration_90k / 90;
            let behind = (now_utc - end_ms).max(0) as f64 / 1000.0;
            lag = Some(lag.map_or(behind, |l: f64| l.max(behind)));
        }
    }
    let cpu = crate::sys::sample().cpu_percent.unwrap_or(0.0);
    let disk_free = crate::sys::disk_space(&id.archive_dir)
        .map(|(_, free)| free)
        .unwrap_or(0);
    Report {
        node: id.node.clone(),
        role: id.role.to_string(),
        public_url: id.public_url.clone(),
        viewers,
        egress_mbps,
        cpu_percent: cpu,
        disk_free_bytes: disk_free,
        channels_pulled: pulled,
        channels_recorded: recorded,
        archive_lag_s: lag,
        origin_in_use,
        sent_utc_ms: now_utc,
    }
}

/// Reports to every origin until shutdown.
pub async fn run(
    up: Arc<Upstream>,
    id: Arc<Identity>,
    hub: Arc<Hub>,
    clock: Arc<dyn Clock>,
    mut shutdown: watch::Receiver<bool>,
) {
    let every = Duration::from_millis(wire::REPORT_EVERY_MS as u64);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = (
        clock.now_mono_ms(),
        crate::fastpath::stats::BYTES_OUT.load(Ordering::Relaxed),
    );
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let now = clock.now_mono_ms();
        let bytes = crate::fastpath::stats::BYTES_OUT.load(Ordering::Relaxed);
        let secs = ((now - last.0) as f64 / 1000.0).max(0.001);
        let mbps = bytes.saturating_sub(last.1) as f64 * 8.0 / 1e6 / secs;
        last = (now, bytes);
        let (i, h, c) = (id.clone(), hub.clone(), clock.clone());
        let in_use = up.origins.get(up.current()).cloned();
        let Ok(report) =
            tokio::task::spawn_blocking(move || figures(&i, &h, c.as_ref(), mbps, in_use)).await
        else {
            continue;
        };
        let Ok(body) = serde_json::to_vec(&report) else {
            continue;
        };
        let body = Bytes::from(body);
        let sends = (0..up.origins.len()).map(|o| {
            let (up, body) = (up.clone(), body.clone());
            async move {
                if let Err(e) = up
                    .post_json(o, "/api/cluster/report", body, 4096, Duration::from_secs(2))
                    .await
                {
                    tracing::debug!("report to {}: {e}", up.origins[o]);
                }
            }
        });
        futures_util::future::join_all(sends).await;
    }
}
