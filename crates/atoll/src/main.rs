//! The `atoll` binary: configuration, logging, wiring and graceful shutdown.
#![recursion_limit = "256"]

mod api;
mod auth;
mod backup;
mod cli;
mod clock;
mod cluster;
mod config;
mod fastpath;
mod guide;
mod hub;
mod ingest;
mod journal;
mod live_answer;
mod logs;
mod recorder;
mod store;
mod sys;
mod viewer;
mod vod;
mod xc;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use media::Clock;
use tokio::sync::watch;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match config::parse(&args, |k| std::env::var(k).ok()) {
        Ok(config::Command::Serve(cfg)) => cfg,
        Ok(config::Command::Help) => {
            print!("{}", config::HELP);
            return;
        }
        Ok(config::Command::User(cmd, cfg)) => {
            if let Err(e) = cli::user(&cmd, &cfg) {
                eprintln!("atoll user: {e:#}");
                std::process::exit(1);
            }
            return;
        }
        Ok(config::Command::ClusterPromote(cfg)) => {
            if let Err(e) = cli::promote(&cfg) {
                eprintln!("atoll cluster promote: {e:#}");
                std::process::exit(1);
            }
            return;
        }
        Ok(config::Command::VodImport(cmd, cfg)) => {
            match cli::vod_import(&cmd, &cfg) {
                Ok(true) => {}
                Ok(false) => std::process::exit(1),
                Err(e) => {
                    eprintln!("atoll vod import: {e:#}");
                    std::process::exit(1);
                }
            }
            return;
        }
        Ok(config::Command::Backup(file, cfg)) => {
            if let Err(e) = backup::backup(&file, &cfg) {
                eprintln!("atoll backup: {e:#}");
                std::process::exit(1);
            }
            return;
        }
        Ok(config::Command::Restore(r, cfg)) => {
            if let Err(e) = backup::restore(&r, &cfg) {
                eprintln!("atoll restore: {e:#}");
                std::process::exit(1);
            }
            return;
        }
        Ok(config::Command::Version) => {
            println!("atoll {}", env!("CARGO_PKG_VERSION"));
            return;
        }
        Err(e) => {
            eprintln!("atoll: {e}");
            std::process::exit(2);
        }
    };
    let filter = std::env::var("ATOLL_LOG").unwrap_or_else(|_| "info".into());
    logs::init(
        &filter,
        std::io::IsTerminal::is_terminal(&std::io::stdout())
            && std::env::var_os("NO_COLOR").is_none(),
    );
    // before any thread starts: the soft open-file limit goes up to the hard one
    let nofile = fastpath::raise_nofile_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(serve(cfg, nofile.ok())) {
        tracing::error!("{e:#}");
        // a database from a newer version will not open however often it is tried: exit 3,
        // which the systemd unit does not restart (as 2, bad settings)
        let newer = e.chain().any(|c| {
            matches!(
                c.downcast_ref::<store::StoreError>(),
                Some(store::StoreError::NewerSchema { .. })
            )
        });
        std::process::exit(if newer { 3 } else { 1 });
    }
}

/// Where channels put their live segment files (see `hub::live::SegmentPlace`): the popular
/// channels' directory is made here; if it cannot be, they stay in memfds.
fn live_segment_place(cfg: &config::Config) -> hub::live::SegmentPlace {
    let popular_dir = if cfg.live_segment_dir.is_none() && cfg.live_segment_disk_requests > 0 {
        let dir = cfg.data.join("live-segments");
        match std::fs::create_dir_all(&dir) {
            Ok(()) => Some(dir),
            Err(e) => {
                tracing::warn!(
                    "{}: {e}; popular channels' live segments stay in memory",
                    dir.display()
                );
                None
            }
        }
    } else {
        None
    };
    hub::live::SegmentPlace {
        dir: cfg.live_segment_dir.clone(),
        popular_dir,
        popular_requests: cfg.live_segment_disk_requests,
    }
}

/// The HTTP front door's limits; the connection cap stays below the open-file limit with
/// `http_reserved_fds` kept back for the archive, database, sources and RTMP.
fn http_limits(cfg: &config::Config, nofile: Option<u64>) -> fastpath::Limits {
    let secs = |s: u64| std::time::Duration::from_secs(s.max(1));
    let by_files = nofile
        .map(|n| (n as usize).saturating_sub(cfg.http_reserved_fds).max(16))
        .unwrap_or(usize::MAX);
    let max_connections = cfg.http_max_connections.max(1).min(by_files);
    match nofile {
        Some(n) => tracing::info!(
            "open-file limit {n}: up to {max_connections} HTTP connections \
             ({} kept for the archive, database, sources and RTMP)",
            cfg.http_reserved_fds
        ),
        None => tracing::warn!("could not read the open-file limit"),
    }
    if max_connections < cfg.http_max_connections {
        tracing::warn!(
            "the open-file limit allows only {max_connections} HTTP connections \
             (http_max_connections = {}); raise it (LimitNOFILE=, ulimit -n) for more viewers",
            cfg.http_max_connections
        );
    }
    fastpath::Limits {
        header_timeout: secs(cfg.http_header_timeout_seconds),
        idle_timeout: secs(cfg.http_keepalive_idle_seconds),
        write_timeout: secs(cfg.http_write_timeout_seconds),
        stream_send_buffer: cfg.http_stream_send_buffer_bytes,
        max_connections,
        max_per_ip: cfg.http_max_connections_per_ip,
        hand_over_playlists: cfg.cluster.redirect == "on",
    }
}

/// The viewer-token keys (`viewer_access = "token"`): with a cluster key, tokens are signed with
/// the key every node derives from it (valid on every edge and origin) and this node's own stored
/// key is still accepted; without, the node's own key.
fn viewer_token_keys(cfg: &config::Config, store: &store::Store) -> anyhow::Result<viewer::Rules> {
    if cfg.viewer_access != "token" {
        return Ok(viewer::Rules::default());
    }
    let own = store.with(store::viewer_token_key)?;
    Ok(match cfg.cluster_key() {
        Some(k) => viewer::Rules {
            token_key: Some(viewer::cluster_token_key(k)),
            also_accepted: vec![own],
            ..Default::default()
        },
        None => viewer::Rules {
            token_key: Some(own),
            ..Default::default()
        },
    })
}

async fn serve(cfg: config::Config, nofile: Option<u64>) -> anyhow::Result<()> {
    let http_limits = http_limits(&cfg, nofile);
    let clock: Arc<dyn Clock> = Arc::new(clock::SystemClock::default());
    std::fs::create_dir_all(&cfg.data)
        .with_context(|| format!("creating data directory {}", cfg.data.display()))?;
    // held while serving: `atoll restore` will not replace the database under a running server
    let _running = backup::hold_running_lock(&cfg.data)
        .with_context(|| format!("locking {}", cfg.data.display()))?;
    let db_path = cfg.data.join("atoll.db");
    let first_start = !db_path.exists();
    let store = store::Store::open_with_readers(&db_path, cfg.store_read_connections)
        .with_context(|| format!("opening {}", db_path.display()))?;
    let now_utc = clock.now_utc().0;
    if let Some(pw) =
        auth::ensure_admin(&store, std::env::var("ATOLL_ADMIN_PASSWORD").ok(), now_utc)?
    {
        // shown once on standard output, never kept in the console's log ring
        tracing::warn!(target: logs::SHOWN_ONCE, "created account 'admin' with password {pw} (shown once; set ATOLL_ADMIN_PASSWORD on first start to choose it)");
    }
    let edge = cfg.role() == config::Role::Edge;
    if first_start && !edge {
        let demo = store::Channel {
            id: "demo".into(),
            name: "Atoll Demo".into(),
            number: Some(1),
            group: "Demo".into(),
            logo: String::new(),
            sources: vec!["testsrc://".into()],
            publish_key: None,
            active: true,
            record: true,
            retention_hours: 6,
            epg_id: String::new(),
            audio_language: String::new(),
        };
        store.with(|c| store::insert_channel(c, &demo, now_utc))?;
        tracing::info!(
            "first start: created the demo channel (testsrc://) at /live/demo/index.m3u8"
        );
    }

    let archive_dir = cfg
        .archive_dir
        .clone()
        .unwrap_or_else(|| cfg.data.join("archive"));
    let (archive, recovery) = archive::Archive::open(&archive_dir, clock.now_utc())
        .with_context(|| format!("opening the archive in {}", archive_dir.display()))?;
    if recovery.repaired_anything() || recovery.crash_gaps > 0 {
        tracing::warn!(?recovery, "archive recovered after an unclean stop");
    }
    archive.set_direct_io(cfg.archive_direct_io);
    let archive = Arc::new(archive);
    let (events, events_rx) = journal::EventSink::new();
    let recorder = Arc::new(
        recorder::Recorder::start_with(
            archive.clone(),
            Some(events.clone()),
            cfg.recorder_queue_segments,
            cfg.recorder_queue_bytes,
        )
        .context("starting the archive writer")?,
    );

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    hub::live::set_segment_write_queue(cfg.live_segment_write_queue);
    let slate = Arc::new(hub::slate::SlateLoop::build().context("encoding the slate")?);
    let hub = Arc::new(hub::Hub::new(
        hub::Settings {
            clock: clock.clone(),
            segment_s: cfg.segment_seconds,
            window: cfg.playlist_window,
            failover_silence_ms: cfg.failover_silence_seconds as i64 * 1000,
            return_after_ms: cfg.failover_return_seconds as i64 * 1000,
            slate_after_ms: 1500,
            relay_idle_ms: cfg.edge_idle_seconds as i64 * 1000,
            slate,
            recorder: Some(recorder.clone()),
            events: Some(events.clone()),
            media: hub::channel::MediaLimits {
                segment_max_90k: cfg.segment_max_seconds as i64 * 90_000,
                segment_max_bytes: cfg.segment_max_bytes.min(usize::MAX as u64) as usize,
                no_keyframe_ms: cfg.no_keyframe_seconds as i64 * 1000,
                segment_place: live_segment_place(&cfg),
                ts_buffer_bytes: cfg.ts_buffer_bytes,
                rendition_cache_bytes: cfg.rendition_cache_bytes,
                ..Default::default()
            },
        },
        shutdown_rx.clone(),
    ));
    for ch in store.with(|c| store::list_channels(c))? {
        if ch.active {
            hub.apply(ch).await;
        }
    }

    // an edge: the origins, the choice between them, the lineup they give, and reports to them
    let mut cluster_tasks = Vec::new();
    let nodes = Arc::new(cluster::nodes::Nodes::new(
        store
            .with(|c| store::list_cluster_nodes(c))?
            .into_iter()
            .collect(),
    ));
    if let (Some(listen), Some(name)) = (&cfg.cluster.dns_listen, &cfg.cluster.dns_name) {
        let listen: std::net::SocketAddr = listen.parse().context("[cluster] dns_listen")?;
        // this node's own address: answered when no edge can take the client
        let own = cfg
            .public_url()
            .as_deref()
            .and_then(cluster::nodes::ipv4_host)
            .or(match listen.ip() {
                std::net::IpAddr::V4(v4) if !v4.is_unspecified() => Some(v4),
                _ => None,
            });
        let zone =
            cluster::dns::Zone::new(name, own, cfg.cluster.dns_ttl).map_err(anyhow::Error::msg)?;
        cluster_tasks.push(
            cluster::dns_server::start(
                listen,
                zone,
                nodes.clone(),
                clock.clone(),
                own,
                cluster::dns_server::Limits {
                    max_tcp: cfg.cluster.dns_tcp_max_connections,
                    tcp_idle: std::time::Duration::from_secs(cfg.cluster.dns_tcp_idle_seconds),
                },
                shutdown_rx.clone(),
            )
            .await
            .with_context(|| format!("binding DNS on {listen}"))?,
        );
    }
    // a backup origin: the primary's configuration, until promoted
    let promoted = store
        .with(|c| store::node_setting(c, cluster::follow::PROMOTED))?
        .is_some();
    let following = Arc::new(std::sync::atomic::AtomicBool::new(
        cfg.follow.is_some() && !promoted,
    ));
    let mut primary_up = None;
    if let (Some(primary), false) = (&cfg.follow, promoted) {
        let key = cfg.cluster_key().unwrap_or_default();
        let up = ingest::origin::Upstream::new(std::slice::from_ref(primary), key, clock.clone());
        primary_up = Some(up.clone());
        tracing::info!(%primary, "backup origin: following the primary's configuration (read-only until `atoll cluster promote`)");
        cluster_tasks.push(tokio::spawn(cluster::follow::run(
            up,
            store.clone(),
            hub.clone(),
            nodes.clone(),
            clock.clone(),
            cluster::follow::Mode::Backup {
                following: following.clone(),
            },
            shutdown_rx.clone(),
        )));
    } else if cfg.follow.is_some() {
        tracing::warn!("--follow is set but this node was promoted: it takes changes itself");
    }
    if edge {
        let key = cfg.cluster_key().unwrap_or_default();
        let up = ingest::origin::Upstream::new(&cfg.origins, key, clock.clone());
        ingest::origin::install(up.clone());
        tracing::info!(origins = ?up.origins, node = %cfg.node_name(), "edge: following the origin");
        cluster_tasks.push(tokio::spawn(up.clone().watch(shutdown_rx.clone())));
        cluster_tasks.push(tokio::spawn(cluster::follow::run(
            up.clone(),
            store.clone(),
            hub.clone(),
            nodes.clone(),
            clock.clone(),
            cluster::follow::Mode::Edge,
            shutdown_rx.clone(),
        )));
        cluster_tasks.push(tokio::spawn(cluster::backfill::run(
            up.clone(),
            archive.clone(),
            hub.clone(),
            clock.clone(),
            cfg.segment_max_bytes.min(usize::MAX as u64) as usize,
            shutdown_rx.clone(),
        )));
        let identity = Arc::new(cluster::report::Identity {
            node: cfg.node_name(),
            role: "edge",
            public_url: cfg.public_url(),
            archive_dir: archive_dir.clone(),
        });
        cluster_tasks.push(tokio::spawn(cluster::report::run(
            up,
            identity,
            hub.clone(),
            clock.clone(),
            shutdown_rx.clone(),
        )));
    }

    let http = fastpath::bind(&cfg.http)
        .await
        .with_context(|| format!("binding HTTP on {}", cfg.http))?;
    let rtmp = tokio::net::TcpListener::bind(&cfg.rtmp)
        .await
        .with_context(|| format!("binding RTMP on {}", cfg.rtmp))?;
    tracing::info!(
        "atoll {} serving HTTP on {} and RTMP on {} (data in {})",
        env!("CARGO_PKG_VERSION"),
        http.local_addr()?,
        rtmp.local_addr()?,
        cfg.data.display()
    );

    let rtmp_task = tokio::spawn(ingest::rtmp_server::serve(
        rtmp,
        hub.clone(),
        ingest::rtmp_server::Limits::from_config(&cfg),
        clock.clone(),
        shutdown_rx.clone(),
    ));
    let retention = tokio::spawn(recorder::retention_loop(
        archive.clone(),
        archive_dir.clone(),
        store.clone(),
        clock.clone(),
        cfg.archive_max_bytes,
        cfg.archive_min_free_percent,
        recorder.space_wanted.clone(),
        shutdown_rx.clone(),
    ));
    let (events_stop, events_stop_rx) = tokio::sync::oneshot::channel();
    let viewer_rules = Arc::new(viewer::Rules {
        subnets: cfg
            .viewer_subnets
            .iter()
            .map(|s| viewer::Subnet::parse(s).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()?,
        ..viewer_token_keys(&cfg, &store)?
    });
    let clock_task = tokio::spawn(clock::watch_sync(
        std::time::Duration::from_secs(30),
        shutdown_rx.clone(),
    ));
    let events_task = tokio::spawn(journal::run_writer(
        store.clone(),
        events_rx,
        clock.clone(),
        events_stop_rx,
    ));
    let epg_wake = Arc::new(tokio::sync::Notify::new());
    guide::set_from_config(&cfg);
    let epg_task = tokio::spawn(guide::sync_loop(
        store.clone(),
        clock.clone(),
        epg_wake.clone(),
        following.clone(),
        shutdown_rx.clone(),
    ));
    // the VOD library (an edge's is the origin's, mirrored)
    let vod = if edge {
        match ingest::origin::upstream() {
            Some(up) => Some(
                vod::Library::start_mirror(
                    cfg.vod(),
                    cfg.vod_mirror(),
                    store.clone(),
                    up,
                    None,
                    shutdown_rx.clone(),
                )
                .context("opening the VOD library")?,
            ),
            None => None,
        }
    } else if let Some(up) = primary_up {
        // a backup origin mirrors the primary's whole library (background), until promoted
        let mut ms = cfg.vod_mirror();
        ms.background = true;
        Some(
            vod::Library::start_mirror(
                cfg.vod(),
                ms,
                store.clone(),
                up,
                Some(following.clone()),
                shutdown_rx.clone(),
            )
            .context("opening the VOD library")?,
        )
    } else {
        let now = clock.now_utc().0;
        if let Ok(n) = store.with(|c| vod::catalog::abandon_unfinished(c, now)) {
            if n > 0 {
                tracing::warn!("{n} VOD imports were cut short by the last stop; upload or drop those files again");
            }
        }
        Some(
            vod::Library::start(cfg.vod(), store.clone(), shutdown_rx.clone())
                .context("opening the VOD library")?,
        )
    };
    let login_limits = auth::LoginLimits {
        max_fails_per_ip: cfg.signin_max_fails_per_ip,
        max_fails_per_account: cfg.signin_max_fails_per_account,
        window_ms: cfg.signin_fail_window_seconds as i64 * 1000,
        max_keys: cfg.signin_max_tracked,
    };
    let viewers = Arc::new(xc::Viewers::new(store.clone(), cfg.xc(), login_limits));
    viewers
        .reload_blocking()
        .context("reading the viewer accounts")?;
    {
        // sessions of devices gone quiet are forgotten now and then
        let (v, clock, mut stop) = (viewers.clone(), clock.clone(), shutdown_rx.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => v.prune(clock.now_mono_ms()),
                    _ = stop.changed() => break,
                }
            }
        });
    }
    let state = api::AppState {
        hub: hub.clone(),
        archive: archive.clone(),
        archive_dir: archive_dir.clone(),
        clock: clock.clone(),
        epg_wake: epg_wake.clone(),
        public_url: cfg.public_url.clone(),
        store: store.clone(),
        auth: Arc::new(auth::Authenticator::new(store.clone(), login_limits)),
        viewers,
        started: Instant::now(),
        config_writes: Arc::default(),
        playlists: Arc::default(),
        viewer: viewer_rules.clone(),
        catchup_max_playlist_segments: cfg.catchup_max_playlist_segments,
        cluster_key: cfg.cluster_key().map(Arc::from),
        node_name: cfg.node_name(),
        role: if edge { "edge" } else { "origin" },
        nodes,
        redirect: cfg.cluster.redirect == "on",
        following,
        fills: Arc::new(cluster::backfill::OnRequest::new(
            if edge {
                ingest::origin::upstream()
            } else {
                None
            },
            archive.clone(),
            cfg.segment_max_bytes.min(usize::MAX as u64) as usize,
        )),
        vod,
    };
    // hot live-HLS requests are answered in front of hyper (sendfile); the rest go to axum
    let server = fastpath::serve(
        http,
        hub.clone(),
        viewer_rules,
        state.vod.clone(),
        api::router(state),
        http_limits,
        shutdown_rx.clone(),
    );
    let server_task = tokio::spawn(server);

    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = shutdown_tx.send(true);
    let _ = rtmp_task.await;
    // endless /mpegts responses end when their channel's runner stops; give HTTP a bounded grace
    hub.join().await;
    let _ = retention.await;
    let _ = epg_task.await;
    let _ = clock_task.await;
    for t in cluster_tasks {
        let _ = t.await;
    }
    // the runners marked their recordings stopped; let the writer store what is queued
    let rec = recorder.clone();
    let _ = tokio::task::spawn_blocking(move || rec.close()).await;
    let _ = events_stop.send(());
    let _ = events_task.await;
    match tokio::time::timeout(std::time::Duration::from_secs(5), server_task).await {
        Ok(r) => r.context("http server task")?.context("http server")?,
        Err(_) => tracing::warn!("HTTP connections still open after 5 s; closing"),
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
