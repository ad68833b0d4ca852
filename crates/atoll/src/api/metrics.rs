//! `/metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;

pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    let now = st.hub.settings.clock.now_mono_ms();
    let mut channels = st.hub.all();
    channels.sort_by(|a, b| a.id.cmp(&b.id));
    let mut out = String::with_capacity(4096);
    let _ = writeln!(out, "# HELP atoll_uptime_seconds Seconds since the process started.\n# TYPE atoll_uptime_seconds gauge");
    let _ = writeln!(
        out,
        "atoll_uptime_seconds {}",
        st.started.elapsed().as_secs()
    );
    if let Some(s) = crate::clock::sync_state() {
        let _ = writeln!(out, "# HELP atoll_clock_synchronized 1 when the kernel says the system clock is synchronised (NTP/GPS), 0 when not.\n# TYPE atoll_clock_synchronized gauge\natoll_clock_synchronized {}", s.synchronized as u8);
        let _ = writeln!(out, "# HELP atoll_clock_est_error_seconds The kernel's estimated error of the system clock, seconds.\n# TYPE atoll_clock_est_error_seconds gauge\natoll_clock_est_error_seconds {}", s.est_error_us as f64 / 1e6);
    }
    if let Some(lib) = &st.vod {
        let (titles, bytes) = lib.cache.usage();
        let _ = writeln!(out, "# HELP atoll_vod_index_cache_titles Titles whose HLS index is held in memory.\n# TYPE atoll_vod_index_cache_titles gauge\natoll_vod_index_cache_titles {titles}");
        if lib.mirror().is_some() {
            use crate::vod::mirror::{MIRRORED_BYTES, MIRRORED_TITLES, PASSED_THROUGH_BYTES};
            use std::sync::atomic::Ordering::Relaxed;
            let _ = writeln!(out, "# HELP atoll_vod_mirrored_bytes_total Bytes of VOD files mirrored from the origin.\n# TYPE atoll_vod_mirrored_bytes_total counter\natoll_vod_mirrored_bytes_total {}", MIRRORED_BYTES.load(Relaxed));
            let _ = writeln!(out, "# HELP atoll_vod_mirrored_titles_total VOD titles mirrored and verified.\n# TYPE atoll_vod_mirrored_titles_total counter\natoll_vod_mirrored_titles_total {}", MIRRORED_TITLES.load(Relaxed));
            let _ = writeln!(out, "# HELP atoll_vod_passed_through_bytes_total Bytes read from the origin for viewers of titles not mirrored yet.\n# TYPE atoll_vod_passed_through_bytes_total counter\natoll_vod_passed_through_bytes_total {}", PASSED_THROUGH_BYTES.load(Relaxed));
        }
        let _ = writeln!(out, "# HELP atoll_vod_index_cache_bytes Memory held by cached VOD indexes (vod_index_cache_mib).\n# TYPE atoll_vod_index_cache_bytes gauge\natoll_vod_index_cache_bytes {bytes}");
    }
    type Getter = fn(&crate::hub::ChannelHandle, i64) -> u64;
    let families: &[(&str, &str, &str, Getter)] = &[
        (
            "atoll_channel_up",
            "gauge",
            "1 when a source is on air, 0 when offline or on the slate.",
            |h, _| (h.status().state == crate::hub::State::Live) as u64,
        ),
        (
            "atoll_channel_input_bitrate_bps",
            "gauge",
            "Input bitrate of the source on air, bits per second.",
            |h, _| h.status().input_bitrate_bps,
        ),
        (
            "atoll_channel_viewers_hls",
            "gauge",
            "HLS viewers (address + user agent seen in the last 30 s).",
            |h, now| h.live.hls_sessions.count(now) as u64,
        ),
        (
            "atoll_channel_viewers_mpegts",
            "gauge",
            "Open HTTP MPEG-TS connections.",
            |h, _| h.live.ts_viewers.load(Ordering::Relaxed) as u64,
        ),
        (
            "atoll_channel_segments_total",
            "counter",
            "Segments produced.",
            |h, _| h.counters.segments.load(Ordering::Relaxed),
        ),
        (
            "atoll_channel_frames_in_total",
            "counter",
            "Frames received from all sources.",
            |h, _| h.counters.frames_in.load(Ordering::Relaxed),
        ),
        (
            "atoll_channel_bytes_in_total",
            "counter",
            "Elementary stream bytes received from all sources.",
            |h, _| h.counters.bytes_in.load(Ordering::Relaxed),
        ),
        (
            "atoll_channel_dropped_frames_total",
            "counter",
            "Frames dropped while waiting for a keyframe.",
            |h, _| h.counters.dropped_frames.load(Ordering::Relaxed),
        ),
        (
            "atoll_channel_errors_total",
            "counter",
            "Source errors (connect failures, protocol errors, silence).",
            |h, _| h.counters.errors.load(Ordering::Relaxed),
        ),
        (
            "atoll_channel_failovers_total",
            "counter",
            "Switches from one live source to another.",
            |h, _| h.counters.failovers.load(Ordering::Relaxed),
        ),
        (
            "atoll_channel_slow_viewers_dropped_total",
            "counter",
            "MPEG-TS viewers disconnected for reading too slowly.",
            |h, _| h.live.slow_viewers_dropped.load(Ordering::Relaxed),
        ),
        (
            "atoll_channel_forced_cuts_total",
            "counter",
            "Segments cut at the duration or size limit without a keyframe.",
            |h, _| h.counters.forced_cuts.load(Ordering::Relaxed),
        ),
        (
            "atoll_channel_clock_steps_total",
            "counter",
            "Wall-clock steps seen while the channel ran (each is a discontinuity).",
            |h, _| h.counters.clock_steps.load(Ordering::Relaxed),
        ),
        (
            "atoll_channel_open_segment_bytes",
            "gauge",
            "Bytes of the segment being built (bounded by segment_max_bytes).",
            |h, _| h.counters.open_segment_bytes.load(Ordering::Relaxed),
        ),
        (
            "atoll_channel_ts_buffer_bytes",
            "gauge",
            "Bytes the continuous MPEG-TS feed holds for its viewers (bounded by ts_buffer_bytes).",
            |h, _| h.live.ts.held_bytes() as u64,
        ),
        (
            "atoll_channel_live_memory_bytes",
            "gauge",
            "Bytes of live-window segments held in memory (until their file is written).",
            |h, _| h.live.window_bytes().0,
        ),
        (
            "atoll_channel_live_file_bytes",
            "gauge",
            "Bytes of live-window segments held in segment files (memfd or live_segment_dir).",
            |h, _| h.live.window_bytes().1,
        ),
        (
            "atoll_channel_live_segments_on_disk",
            "gauge",
            "Live-window segments whose file is in a directory's page cache, not a memfd (live_segment_dir, or a popular channel: live_segment_disk_requests).",
            |h, _| h.live.segments_on_disk(),
        ),
        (
            "atoll_channel_rendition_cache_bytes",
            "gauge",
            "Bytes of rendition segments cut and cached for viewers (bounded by rendition_cache_bytes).",
            |h, _| h.live.cuts.bytes() as u64,
        ),
    ];
    for (name, kind, help, get) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for h in &channels {
            let _ = writeln!(out, "{name}{{channel=\"{}\"}} {}", h.id, get(h, now));
        }
    }
    let _ = writeln!(out, "# HELP atoll_channel_state Channel state (1 for the current one).\n# TYPE atoll_channel_state gauge");
    for h in &channels {
        let s = h.status().state;
        for name in ["live", "offline", "connecting"] {
            let _ = writeln!(
                out,
                "atoll_channel_state{{channel=\"{}\",state=\"{name}\"}} {}",
                h.id,
                (s.as_str() == name) as u8
            );
        }
    }
    if let Some(r) = &st.hub.settings.recorder {
        let _ = writeln!(out, "# HELP atoll_recorder_dropped_segments_total Segments the recorder dropped because the archive writer was behind (recorder_overflow gaps).\n# TYPE atoll_recorder_dropped_segments_total counter");
        let _ = writeln!(
            out,
            "atoll_recorder_dropped_segments_total {}",
            r.dropped.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP atoll_recorder_queue_bytes Bytes of segments waiting for the archive writer (bounded by recorder_queue_bytes).\n# TYPE atoll_recorder_queue_bytes gauge");
        let _ = writeln!(out, "atoll_recorder_queue_bytes {}", r.queued_bytes());
        let _ = writeln!(out, "# HELP atoll_recorder_disk_full_errors_total Segment writes that failed because the archive disk was full.\n# TYPE atoll_recorder_disk_full_errors_total counter");
        let _ = writeln!(
            out,
            "atoll_recorder_disk_full_errors_total {}",
            r.disk_full_errors.load(Ordering::Relaxed)
        );
    }
    front_door(&mut out);
    operations(&st, &channels, &mut out).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

/// Process-wide totals of the HTTP and RTMP front doors (refusals, evictions, timeouts).
fn front_door(out: &mut String) {
    use crate::fastpath::stats as http;
    use crate::ingest::rtmp_server::stats as rtmp;
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let _ = writeln!(out, "# HELP atoll_http_refused_connections_total HTTP connections closed at accept: reason per_ip (http_max_connections_per_ip) or full (http_max_connections, none idle to evict).\n# TYPE atoll_http_refused_connections_total counter");
    let _ = writeln!(
        out,
        "atoll_http_refused_connections_total{{reason=\"per_ip\"}} {}",
        get(&http::REFUSED_PER_IP)
    );
    let _ = writeln!(
        out,
        "atoll_http_refused_connections_total{{reason=\"full\"}} {}",
        get(&http::REFUSED_FULL)
    );
    let _ = writeln!(out, "# HELP atoll_http_evicted_connections_total Idle keep-alive HTTP connections closed to admit a new one at http_max_connections.\n# TYPE atoll_http_evicted_connections_total counter");
    let _ = writeln!(
        out,
        "atoll_http_evicted_connections_total {}",
        get(&http::EVICTED)
    );
    let _ = writeln!(out, "# HELP atoll_http_timeouts_total HTTP connections ended by a timeout: kind read (header or keep-alive) or write (client not reading).\n# TYPE atoll_http_timeouts_total counter");
    let _ = writeln!(
        out,
        "atoll_http_timeouts_total{{kind=\"read\"}} {}",
        get(&http::READ_TIMEOUTS)
    );
    let _ = writeln!(
        out,
        "atoll_http_timeouts_total{{kind=\"write\"}} {}",
        get(&http::WRITE_TIMEOUTS)
    );
    let _ = writeln!(out, "# HELP atoll_rtmp_refused_connections_total RTMP connections closed at accept (rtmp_max_connections open).\n# TYPE atoll_rtmp_refused_connections_total counter");
    let _ = writeln!(
        out,
        "atoll_rtmp_refused_connections_total {}",
        get(&rtmp::REFUSED_CONNECTIONS)
    );
    let _ = writeln!(out, "# HELP atoll_rtmp_evicted_unauthenticated_total Unauthenticated RTMP connections evicted to make room (rtmp_max_unauthenticated).\n# TYPE atoll_rtmp_evicted_unauthenticated_total counter");
    let _ = writeln!(
        out,
        "atoll_rtmp_evicted_unauthenticated_total {}",
        get(&rtmp::EVICTED_UNAUTHENTICATED)
    );
    let _ = writeln!(out, "# HELP atoll_rtmp_refused_publishes_total RTMP publish requests refused (application, stream key, back-off, channel).\n# TYPE atoll_rtmp_refused_publishes_total counter");
    let _ = writeln!(
        out,
        "atoll_rtmp_refused_publishes_total {}",
        get(&rtmp::REFUSED_PUBLISHES)
    );
    let _ = writeln!(out, "# HELP atoll_guide_limit_hits_total Guide syncs stopped by a limit, by setting (the source keeps its last good guide).\n# TYPE atoll_guide_limit_hits_total counter");
    for (setting, n) in crate::guide::stats::SETTINGS
        .iter()
        .zip(&crate::guide::stats::LIMIT_HITS)
    {
        let _ = writeln!(
            out,
            "atoll_guide_limit_hits_total{{setting=\"{setting}\"}} {}",
            get(n)
        );
    }
    let _ = writeln!(out, "# HELP atoll_live_segment_files_skipped_total Live segments served from memory because the segment file writer's queue was full (live_segment_write_queue).\n# TYPE atoll_live_segment_files_skipped_total counter");
    let _ = writeln!(
        out,
        "atoll_live_segment_files_skipped_total {}",
        get(&crate::hub::live::SEGMENT_FILES_SKIPPED)
    );
}

/// What the shipped alert rules and dashboard read (packaging/prometheus, packaging/grafana):
/// recording failures and gaps, the archive per channel and its disk, the process's CPU, bytes
/// sent, and (origins) the cluster's nodes.
/// Every channel of the lineup gets its series (0 before anything happened, so that
/// `increase()` sees the first gap); a channel deleted or not recording any more reads as not
/// failing.
async fn operations(
    st: &super::AppState,
    channels: &[std::sync::Arc<crate::hub::ChannelHandle>],
    out: &mut String,
) {
    if let Some(r) = &st.hub.settings.recorder {
        let all: std::collections::HashMap<String, crate::recorder::WriteStatus> =
            r.all_status().into_iter().collect();
        let _ = writeln!(out, "# HELP atoll_channel_recording_failing 1 while the channel records and its archive writes fail (disk full or I/O error), 0 once one succeeds or it stops recording.\n# TYPE atoll_channel_recording_failing gauge");
        for h in channels {
            let failing = h.status().recording && all.get(&h.id).is_some_and(|s| s.failing);
            let _ = writeln!(
                out,
                "atoll_channel_recording_failing{{channel=\"{}\"}} {}",
                h.id, failing as u8
            );
        }
        let _ = writeln!(out, "# HELP atoll_archive_gaps_total Holes marked in a channel's archive since the start, by reason (source_lost, recording_stopped, recorder_overflow, clock_step, disk_full, write_error).\n# TYPE atoll_archive_gaps_total counter");
        for h in channels {
            for reason in [
                "source_lost",
                "recording_stopped",
                "recorder_overflow",
                "clock_step",
                "disk_full",
                "write_error",
            ] {
                let n = all
                    .get(&h.id)
                    .and_then(|s| s.gaps.get(reason))
                    .copied()
                    .unwrap_or(0);
                let _ = writeln!(
                    out,
                    "atoll_archive_gaps_total{{channel=\"{}\",reason=\"{reason}\"}} {n}",
                    h.id
                );
            }
        }
    }
    let a = st.archive.clone();
    let dir = st.archive_dir.clone();
    let (usage, disk, cpu) = tokio::task::spawn_blocking(move || {
        (
            a.usage().unwrap_or_default(),
            crate::sys::disk_space(&dir),
            crate::sys::process_cpu_seconds(),
        )
    })
    .await
    .unwrap_or_default();
    let _ = writeln!(out, "# HELP atoll_channel_archive_bytes Bytes of the channel's recordings in the archive.\n# TYPE atoll_channel_archive_bytes gauge");
    for (ch, bytes, _) in &usage {
        let _ = writeln!(
            out,
            "atoll_channel_archive_bytes{{channel=\"{ch}\"}} {bytes}"
        );
    }
    let _ = writeln!(out, "# HELP atoll_channel_archive_segments Segments of the channel in the archive (times the segment length: the hours of catch-up).\n# TYPE atoll_channel_archive_segments gauge");
    for (ch, _, n) in &usage {
        let _ = writeln!(
            out,
            "atoll_channel_archive_segments{{channel=\"{ch}\"}} {n}"
        );
    }
    let _ = writeln!(out, "# HELP atoll_segment_seconds Target length of a live and archive segment (segment_seconds).\n# TYPE atoll_segment_seconds gauge\natoll_segment_seconds {}", st.hub.settings.segment_s);
    if let Some((total, free)) = disk {
        let _ = writeln!(out, "# HELP atoll_archive_disk_total_bytes Size of the archive's filesystem.\n# TYPE atoll_archive_disk_total_bytes gauge\natoll_archive_disk_total_bytes {total}");
        let _ = writeln!(out, "# HELP atoll_archive_disk_free_bytes Bytes of the archive's filesystem Atoll may still use.\n# TYPE atoll_archive_disk_free_bytes gauge\natoll_archive_disk_free_bytes {free}");
    }
    if let Some(cpu) = cpu {
        let _ = writeln!(out, "# HELP atoll_process_cpu_seconds_total CPU time of the Atoll process (user + system).\n# TYPE atoll_process_cpu_seconds_total counter\natoll_process_cpu_seconds_total {cpu}");
    }
    let _ = writeln!(out, "# HELP atoll_http_sent_bytes_total Bytes written to HTTP clients (viewers, apps, edges): the node's egress.\n# TYPE atoll_http_sent_bytes_total counter\natoll_http_sent_bytes_total {}", crate::fastpath::stats::BYTES_OUT.load(Ordering::Relaxed));
    let _ = writeln!(out, "# HELP atoll_node_info This node: its role (origin or edge), name and version; always 1.\n# TYPE atoll_node_info gauge\natoll_node_info{{role=\"{}\",node=\"{}\",version=\"{}\"}} 1", st.role, st.node_name.replace(['"', '\\', '\n'], "_"), env!("CARGO_PKG_VERSION"));
    let now = st.clock.now_mono_ms();
    let nodes = st.nodes.list();
    let _ = writeln!(out, "# HELP atoll_cluster_node_healthy On an origin: 1 while a node of the cluster reports (within 3 report intervals), 0 when it stopped.\n# TYPE atoll_cluster_node_healthy gauge");
    for (name, node, _) in &nodes {
        let up = node.as_ref().is_some_and(|n| n.healthy(now));
        let _ = writeln!(
            out,
            "atoll_cluster_node_healthy{{node=\"{name}\"}} {}",
            up as u8
        );
    }
}
