//! Settings: defaults, then the config file, then environment, then command-line flags.

use std::path::PathBuf;

use serde::Deserialize;

pub const HELP: &str = "\
atoll — IPTV for closed networks: live channels in (RTMP, UDP, HLS, HTTP-TS), HLS and MPEG-TS out.

USAGE:
    atoll [serve] [OPTIONS]
    atoll user list [OPTIONS]
    atoll user add NAME [--role admin|operator] [OPTIONS]   (default role: operator)
    atoll user passwd NAME [OPTIONS]
    atoll user disable NAME [OPTIONS]
    atoll user enable NAME [OPTIONS]
    atoll cluster promote [OPTIONS]   make this backup origin the writer (stops following)
    atoll backup FILE [OPTIONS]        a consistent copy of the database (channels, accounts,
                                       tokens, guides, EPG, VOD catalogue, settings; not the
                                       archive or film files) into FILE, while the server runs
    atoll restore FILE --data DIR [--force]
                                       puts a backup into DIR (stop the server first; --force
                                       replaces a database there, kept as atoll.db.before-restore-*)
    atoll vod import [--title T] [--category C] [OPTIONS] PATH…
      Adds films to the library (MP4/MOV, MKV, MPEG-TS; remuxed, never transcoded; subtitle
      files beside them, NAME.srt or NAME.LANG.srt, are kept). Prints each new title's id or
      why the file was refused; exits 1 if any was refused. Works while the server runs.
      The password is read from ATOLL_USER_PASSWORD, or asked for on the terminal (or one line
      of standard input). Works while the server runs; the account's console sessions end.

OPTIONS:
    --config FILE   TOML settings file (see README.md for every key)
    --data DIR      where the database (atoll.db) lives            [env ATOLL_DATA, default ./atoll-data]
    --http ADDR     HTTP listen address for viewers, API and admin [env ATOLL_HTTP, default 0.0.0.0:8080]
    --rtmp ADDR     RTMP listen address for encoders               [env ATOLL_RTMP, default 0.0.0.0:1935]
    --role ROLE     origin (default) or edge
    --origin URL    an edge's origin, http://HOST:PORT; repeat for backups, in order of preference
    --follow URL    a backup origin: follow this primary's configuration until promoted
    --cluster-key KEY  shared secret of the cluster's nodes         [env ATOLL_CLUSTER_KEY]
    --node-name NAME   this node's name in the cluster              [default: the host name]
    --public-url URL   base of the absolute URLs this node gives out (http://edge-deck1:8080)
    -h, --help      print this help
    -V, --version   print the version

ENVIRONMENT:
    ATOLL_ADMIN_PASSWORD   password of the 'admin' account created on first start
                           (without it a random one is generated and printed once)
    ATOLL_LOG              log filter, e.g. info, debug, atoll=debug (default info)
    ATOLL_CA_FILE          PEM file of extra CA certificates trusted for https:// sources and
                           guides (a closed network's own CA); the system's are trusted too

On first start with an empty data directory Atoll creates the channel 'demo' (a built-in
test pattern), so http://HOST:8080/live/demo/index.m3u8 plays at once.
";

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub data: PathBuf,
    pub http: String,
    pub rtmp: String,
    /// Target HLS segment duration, seconds.
    pub segment_seconds: u64,
    /// Segments in the live playlist.
    pub playlist_window: usize,
    /// Seconds of silence before a source is taken off air.
    pub failover_silence_seconds: u64,
    /// Seconds a higher-priority source must stream before Atoll switches back to it.
    pub failover_return_seconds: u64,
    /// Base of the absolute URLs in playlist.m3u (e.g. `http://tv.example:8080`); default: the
    /// Host the client asked for.
    pub public_url: Option<String>,
    /// Where the catch-up archive lives (default: `{data}/archive`).
    pub archive_dir: Option<PathBuf>,
    /// Cap on the archive's total size in bytes; the oldest segments go first.
    pub archive_max_bytes: Option<u64>,
    /// Keep at least this share of the archive's disk free (percent); the oldest segments go first.
    pub archive_min_free_percent: Option<f64>,
    /// Write archive segment files with O_DIRECT (no copy into the page cache, and 72 h of
    /// archive does not push everything else out of it); off, or a filesystem that refuses it
    /// (found at the first write): through the page cache.
    pub archive_direct_io: bool,
    /// Viewer URLs: "open" (default) or "token" (a signed, expiring `?token=` is required).
    pub viewer_access: String,
    /// Addresses allowed to watch, as CIDR subnets; empty = all.
    pub viewer_subnets: Vec<String>,
    /// "origin" (default: channels are configured and ingested here) or "edge" (the lineup, the
    /// guide and every channel's segments come from `origins`).
    pub role: String,
    /// An edge's origins, in order of preference (`http://origin-a:8080`).
    pub origins: Vec<String>,
    /// A backup origin: the primary whose configuration it follows read-only, until promoted.
    pub follow: Option<String>,
    /// The shared secret nodes of one cluster authenticate with (same as `[cluster] key`).
    pub cluster_key: Option<String>,
    /// This node's name in the cluster (default: the host name).
    pub node_name: Option<String>,
    /// An edge pulls a channel that does not record only while it is watched, and this many
    /// seconds after its last viewer.
    pub edge_idle_seconds: u64,
    /// Cluster settings of an origin.
    pub cluster: ClusterConfig,
    // Limits: RTMP
    /// RTMP connections open at once (publishers and not yet authenticated ones) beyond one
    /// place per channel.
    pub rtmp_max_connections: usize,
    /// RTMP connections not yet publishing with a valid key, beyond one place per channel; when
    /// full, a new connection evicts the least advanced one that has waited longest.
    pub rtmp_max_unauthenticated: usize,
    /// A connection must complete handshake, `connect` and an accepted `publish` within this.
    pub rtmp_handshake_timeout_ms: u64,
    /// Largest audio/video message one RTMP connection may send, bytes.
    pub rtmp_max_message_bytes: usize,
    /// Largest command / metadata message, bytes.
    pub rtmp_max_command_bytes: usize,
    /// Chunk streams per RTMP connection.
    pub rtmp_max_chunk_streams: usize,
    /// Memory one RTMP connection's decoder may hold (read buffer + unfinished messages), bytes.
    pub rtmp_max_connection_buffer_bytes: usize,
    /// Failed publish keys from one address within `rtmp_key_failure_window_ms` before that
    /// address is refused for `rtmp_key_backoff_ms` (even with the right key).
    pub rtmp_key_max_failures: u32,
    pub rtmp_key_failure_window_ms: u64,
    pub rtmp_key_backoff_ms: u64,
    /// Addresses the publish-key limiter remembers.
    pub rtmp_key_limiter_addresses: usize,
    // Limits: guide sources and probe
    /// The only directory guide file sources may be read from (default: `{data}/guides`).
    pub guide_dir: Option<PathBuf>,
    /// Most bytes one guide fetch may download (or a guide file may hold), before gunzip.
    pub guide_max_fetch_bytes: u64,
    /// Most bytes of XML one guide may expand to (after gunzip); counted while parsing.
    pub guide_max_xml_bytes: u64,
    /// Most bytes one XML element or text run of a guide may span (the parser's working memory).
    pub guide_max_element_bytes: usize,
    /// Most channels plus programmes one guide may hold (the parsed guide's memory).
    pub guide_max_entries: usize,
    /// Longest one guide sync (download, gunzip, parse) may take, seconds.
    pub guide_fetch_timeout_seconds: u64,
    /// Guide sources synced at the same time (each independently of the others).
    pub guide_max_concurrent_syncs: usize,
    /// Probes (`POST /api/probe`) running at once, whoever asks; beyond: 429 with Retry-After.
    pub probe_max_concurrent: usize,
    /// Probes one operator account may start per minute (admins: only the concurrency cap).
    pub probe_per_minute: u32,
    /// Largest test pattern a probe may encode, in pixels per second (width × height × fps).
    pub probe_testsrc_max_pixels_per_second: u64,
    // Limits: HTTP front door and sign-in
    /// Seconds a client has to send a whole request head (from its connection or first byte).
    pub http_header_timeout_seconds: u64,
    /// Seconds an idle keep-alive connection (between requests) stays open.
    pub http_keepalive_idle_seconds: u64,
    /// Seconds a write to a client may make no progress before the connection is closed.
    pub http_write_timeout_seconds: u64,
    /// Kernel send buffer (SO_SNDBUF) of a connection once it carries a streamed body (live
    /// MPEG-TS, catch-up TS from a time, archive download): what a viewer that stops reading
    /// holds in the kernel until the write timeout (the kernel doubles it for its bookkeeping).
    pub http_stream_send_buffer_bytes: usize,
    /// Open HTTP connections in all (further capped at the open-file limit minus
    /// `http_reserved_fds`); at the cap the longest-idle connection is closed for a new one.
    pub http_max_connections: usize,
    /// Open HTTP connections per client address (0 = no per-address cap).
    pub http_max_connections_per_ip: usize,
    /// File descriptors kept back from HTTP for the archive, database, sources and RTMP.
    pub http_reserved_fds: usize,
    /// Addresses and accounts the sign-in limiter remembers (each table).
    pub signin_max_tracked: usize,
    /// Failed sign-ins allowed per client address within `signin_fail_window_seconds`.
    pub signin_max_fails_per_ip: usize,
    /// Failed sign-ins allowed per account within `signin_fail_window_seconds`.
    pub signin_max_fails_per_account: usize,
    /// The sliding window (seconds) failed sign-ins are counted in.
    pub signin_fail_window_seconds: u64,
    // Limits: archive and store
    /// Read-only SQLite connections for reads (sign-in, player data, API GETs): they never wait
    /// for the writer (a guide import). 1..64.
    pub store_read_connections: usize,
    /// Finished segments queued for the archive writer; when full a segment is dropped and the
    /// hole is a 'recorder_overflow' gap. 1..100000.
    pub recorder_queue_segments: usize,
    /// Bytes those queued segments hold at most (all channels); beyond it a segment is dropped
    /// the same way. 1 MiB..64 GiB.
    pub recorder_queue_bytes: u64,
    /// Segments one catch-up playlist lists at most (range and start-over); 100..10000000.
    pub catchup_max_playlist_segments: usize,
    // Limits: live media (segmenter, failover, live segment files)
    /// Live segments waiting for the writer of their `sendfile` copies (all channels); beyond
    /// this a segment gets no file and is served from memory. 1..100000.
    pub live_segment_write_queue: usize,
    /// A segment this long (seconds) is cut even without a keyframe; 0 = 3 × `segment_seconds`.
    pub segment_max_seconds: u64,
    /// A segment holding this many bytes is cut even without a keyframe.
    pub segment_max_bytes: u64,
    /// A source that sends no keyframe for this many seconds is treated as silent (failover, slate).
    pub no_keyframe_seconds: u64,
    /// Where live segment copies for `sendfile` go: a directory (unlinked files), or unset for
    /// memory (memfd; a directory under /var/tmp only where memfd is missing).
    pub live_segment_dir: Option<PathBuf>,
    /// With `live_segment_dir` unset: a channel that answered at least this many segment
    /// requests during one segment's time (about that many viewers) puts its next segment in
    /// `<data>/live-segments` (page cache, cheaper to `sendfile` at thousands of viewers) rather
    /// than a memfd. 0 = always memfds.
    pub live_segment_disk_requests: u64,
    /// Bytes one channel's continuous MPEG-TS feed keeps for its viewers (`/mpegts`); a viewer
    /// further behind is dropped, a new one starts at the newest segment start in it.
    /// 64 KiB..1 GiB.
    pub ts_buffer_bytes: usize,
    /// Bytes of audio/video/subtitle rendition segments (cut by PID from the live segments on a
    /// viewer's first request) one channel keeps for the next viewers; the oldest go first.
    /// 64 KiB..1 GiB.
    pub rendition_cache_bytes: usize,

    // The VOD library
    /// Where films and series are stored (default: `{data}/vod`; `incoming/` in it is the
    /// watch folder).
    pub vod_dir: Option<PathBuf>,
    /// Largest file accepted by upload, MiB. 1..10485760.
    pub vod_max_upload_mib: u64,
    /// Largest index (moov box) of an imported or stored MP4, MiB. 1..4096.
    pub vod_max_index_mib: u64,
    /// Most samples (frames) in one file. 1000..1000000000.
    pub vod_max_samples: u64,
    /// Largest subtitle file, bytes. 1024..268435456.
    pub vod_max_subtitle_bytes: u64,
    /// Imports waiting at most (one runs at a time); more are refused. 1..10000.
    pub vod_import_queue: usize,
    /// Target length of VOD segments, seconds (cut at the keyframe after it). 2..30.
    pub vod_segment_seconds: u64,
    /// Memory for the indexes of titles being watched, MiB. 1..65536.
    pub vod_index_cache_mib: u64,
    /// A file in the watch folder is imported once its size stays the same this long. 1..3600.
    pub vod_watch_stable_seconds: u64,
    /// An unfinished upload is removed this long after its last write, hours. 1..720.
    pub vod_upload_expiry_hours: u64,
    /// Edges: mirror every title of the origin in the background (false: only titles viewers
    /// start here, fetched on first play and kept).
    pub vod_mirror_background: bool,
    /// Edges: disk the mirrored titles may take, MiB (0 = no cap but the free share below).
    pub vod_mirror_max_mib: u64,
    /// Edges: keep this share of the library's disk free (percent), evicting the copies
    /// unwatched the longest. 0..90.
    pub vod_mirror_min_free_percent: f64,

    // Viewer accounts and the Xtream Codes API
    /// IPTV apps log in with viewer accounts (`/player_api.php`, `/get.php`, stream URLs with
    /// a username and password). Off: those URLs answer 404.
    pub viewer_accounts: bool,
    /// The zone of the XC API's time strings (EPG start/end, time_now, timeshift starts):
    /// `UTC` or a fixed offset like `+08:00`.
    pub xc_timezone: String,
    /// An HLS or file session of an account ends this long after its last request. 5..3600.
    pub viewer_session_idle_seconds: u64,
    /// Most viewer accounts. 1..10000000.
    pub viewer_max_accounts: usize,
    /// Largest CSV import of viewer accounts, KiB. 1..1048576.
    pub viewer_import_max_kib: usize,
}

/// `[cluster]` in the TOML file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// The cluster key (the same as the top-level `cluster_key`).
    pub key: Option<String>,
    /// "on": viewer entry URLs answer 302 to the best healthy edge for the client; "off" (default).
    pub redirect: String,
    /// Where the edge-selection DNS responder listens (`0.0.0.0:53`); unset: no DNS.
    pub dns_listen: Option<String>,
    /// The service name it answers for (`tv.island.lan`): the zone delegated to it.
    pub dns_name: Option<String>,
    /// TTL of its answers, seconds.
    pub dns_ttl: u32,
    /// DNS-over-TCP connections served at once; more are closed at accept.
    pub dns_tcp_max_connections: usize,
    /// A DNS-over-TCP client must send each message within this many seconds.
    pub dns_tcp_idle_seconds: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            key: None,
            redirect: "off".into(),
            dns_listen: None,
            dns_name: None,
            dns_ttl: 10,
            dns_tcp_max_connections: 64,
            dns_tcp_idle_seconds: 5,
        }
    }
}

/// A node name: 1..64 of A-Z, a-z, 0-9, '-', '_', '.'.
pub fn valid_node_name(n: &str) -> Result<(), String> {
    if n.is_empty()
        || n.len() > 64
        || !n
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err("node_name must be 1..64 of A-Z, a-z, 0-9, '-', '_', '.'".into());
    }
    Ok(())
}

/// What a node does in a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Origin,
    Edge,
}

impl Config {
    /// An edge's mirror of the origin's library.
    pub fn vod_mirror(&self) -> crate::vod::mirror::Settings {
        crate::vod::mirror::Settings {
            background: self.vod_mirror_background,
            max_bytes: self.vod_mirror_max_mib << 20,
            min_free_percent: self.vod_mirror_min_free_percent,
        }
    }

    /// Viewer accounts and the XC API.
    pub fn xc(&self) -> crate::xc::Settings {
        crate::xc::Settings {
            enabled: self.viewer_accounts,
            zone: crate::xc::wire::Zone::parse(&self.xc_timezone).unwrap_or_default(),
            session_idle_ms: self.viewer_session_idle_seconds as i64 * 1000,
            max_accounts: self.viewer_max_accounts,
            import_max_bytes: self.viewer_import_max_kib << 10,
            rtmp_port: self
                .rtmp
                .rsplit_once(':')
                .map_or("1935", |(_, p)| p)
                .to_string(),
        }
    }

    /// The VOD library's settings.
    pub fn vod(&self) -> crate::vod::Settings {
        crate::vod::Settings {
            dir: self
                .vod_dir
                .clone()
                .unwrap_or_else(|| self.data.join("vod")),
            import: crate::vod::import::Limits {
                max_index_bytes: self.vod_max_index_mib << 20,
                max_samples: self.vod_max_samples,
                max_subtitle_bytes: self.vod_max_subtitle_bytes,
                segment_90k: self.vod_segment_seconds as i64 * 90_000,
            },
            max_upload_bytes: self.vod_max_upload_mib << 20,
            import_queue: self.vod_import_queue,
            segment_seconds: self.vod_segment_seconds,
            index_cache_bytes: (self.vod_index_cache_mib << 20) as usize,
            watch_stable: std::time::Duration::from_secs(self.vod_watch_stable_seconds),
            upload_expiry: std::time::Duration::from_secs(self.vod_upload_expiry_hours * 3600),
        }
    }

    pub fn role(&self) -> Role {
        if self.role == "edge" {
            Role::Edge
        } else {
            Role::Origin
        }
    }

    /// The cluster key, from `cluster_key` or `[cluster] key`.
    pub fn cluster_key(&self) -> Option<&str> {
        self.cluster_key
            .as_deref()
            .or(self.cluster.key.as_deref())
            .filter(|k| !k.is_empty())
    }

    /// Where viewers reach this node: `public_url`, else `http://{http}` when it listens on one
    /// address (not 0.0.0.0 or [::]).
    pub fn public_url(&self) -> Option<String> {
        if let Some(u) = &self.public_url {
            return Some(u.trim_end_matches('/').to_string());
        }
        let addr: std::net::SocketAddr = self.http.parse().ok()?;
        (!addr.ip().is_unspecified()).then(|| format!("http://{addr}"))
    }

    /// This node's name: the setting, or the host name.
    pub fn node_name(&self) -> String {
        self.node_name.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "atoll".into())
        })
    }
}

/// The shortest cluster key accepted.
pub const MIN_CLUSTER_KEY: usize = 16;

impl Default for Config {
    fn default() -> Self {
        Config {
            data: PathBuf::from("atoll-data"),
            http: "0.0.0.0:8080".into(),
            rtmp: "0.0.0.0:1935".into(),
            segment_seconds: 6,
            playlist_window: 6,
            failover_silence_seconds: 5,
            failover_return_seconds: 5,
            public_url: None,
            archive_dir: None,
            archive_max_bytes: None,
            archive_min_free_percent: None,
            archive_direct_io: true,
            viewer_access: "open".into(),
            viewer_subnets: Vec::new(),
            role: "origin".into(),
            origins: Vec::new(),
            follow: None,
            cluster_key: None,
            node_name: None,
            edge_idle_seconds: 60,
            cluster: ClusterConfig::default(),
            // Limits: RTMP
            rtmp_max_connections: 64,
            rtmp_max_unauthenticated: 16,
            rtmp_handshake_timeout_ms: 5_000,
            rtmp_max_message_bytes: rtmp::server::DEFAULT_SERVER_MAX_MESSAGE,
            rtmp_max_command_bytes: rtmp::server::DEFAULT_SERVER_MAX_CONTROL_MESSAGE,
            rtmp_max_chunk_streams: rtmp::server::DEFAULT_SERVER_MAX_CHUNK_STREAMS,
            rtmp_max_connection_buffer_bytes: rtmp::server::DEFAULT_SERVER_MAX_BUFFERED,
            rtmp_key_max_failures: 5,
            rtmp_key_failure_window_ms: 60_000,
            rtmp_key_backoff_ms: 60_000,
            rtmp_key_limiter_addresses: 4_096,
            // Limits: guide sources and probe
            guide_dir: None,
            guide_max_fetch_bytes: 64 << 20,
            guide_max_xml_bytes: 128 << 20,
            guide_max_element_bytes: 1 << 20,
            guide_max_entries: 500_000,
            guide_fetch_timeout_seconds: 300,
            guide_max_concurrent_syncs: 4,
            probe_max_concurrent: 2,
            probe_per_minute: 12,
            probe_testsrc_max_pixels_per_second: 1280 * 720 * 30,
            // Limits: HTTP front door and sign-in
            http_header_timeout_seconds: 10,
            http_keepalive_idle_seconds: 60,
            http_write_timeout_seconds: 30,
            http_stream_send_buffer_bytes: 256 << 10,
            http_max_connections: 50_000,
            http_max_connections_per_ip: 2_048,
            http_reserved_fds: 256,
            signin_max_tracked: 10_000,
            signin_max_fails_per_ip: crate::auth::MAX_FAILS_PER_IP,
            signin_max_fails_per_account: crate::auth::MAX_FAILS_PER_ACCOUNT,
            signin_fail_window_seconds: (crate::auth::FAIL_WINDOW_MS / 1000) as u64,
            // Limits: archive and store
            store_read_connections: 4,
            recorder_queue_segments: 256,
            recorder_queue_bytes: 128 << 20,
            // 7 days of 6 s segments (the longest catch-up range)
            catchup_max_playlist_segments: 7 * 24 * 3600 / 6,
            live_segment_write_queue: crate::hub::live::SEGMENT_WRITE_QUEUE,
            // Limits: live media (segmenter, failover, live segment files)
            segment_max_seconds: 0,
            segment_max_bytes: 64 << 20,
            no_keyframe_seconds: 10,
            live_segment_dir: None,
            live_segment_disk_requests: 500,
            ts_buffer_bytes: crate::hub::tsfeed::TS_BUFFER_BYTES,
            rendition_cache_bytes: crate::hub::renditions::RENDITION_CACHE_BYTES,
            vod_dir: None,
            vod_max_upload_mib: 64 << 10,
            vod_max_index_mib: 256,
            vod_max_samples: 5_000_000,
            vod_max_subtitle_bytes: 16 << 20,
            vod_import_queue: 64,
            vod_segment_seconds: 6,
            vod_index_cache_mib: 256,
            vod_watch_stable_seconds: 10,
            vod_upload_expiry_hours: 24,
            vod_mirror_background: true,
            vod_mirror_max_mib: 0,
            vod_mirror_min_free_percent: 10.0,
            viewer_accounts: false,
            xc_timezone: "UTC".into(),
            viewer_session_idle_seconds: 30,
            viewer_max_accounts: crate::xc::accounts::DEFAULT_MAX_ACCOUNTS,
            viewer_import_max_kib: 1024,
        }
    }
}

pub enum Command {
    Serve(Config),
    /// `atoll user …`: account maintenance on the database in the configured data directory.
    User(UserCommand, Config),
    /// `atoll cluster promote`: on the database in the configured data directory.
    ClusterPromote(Config),
    /// `atoll vod import [--title T] [--category C] PATH…`: into the library of the configured
    /// data directory (works while the server runs).
    VodImport(VodImport, Config),
    /// `atoll backup FILE`: the database of the configured data directory into FILE.
    Backup(PathBuf, Config),
    /// `atoll restore FILE [--force]`: FILE into the configured data directory.
    Restore(Restore, Config),
    Help,
    Version,
}

/// Parses the command line (without the program name) and the environment.
pub fn parse(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Command, String> {
    let mut it = args.iter().peekable();
    let mut user_cmd = None;
    let mut promote = false;
    let mut vod_import: Option<VodImport> = None;
    let mut backup: Option<PathBuf> = None;
    let mut restore: Option<Restore> = None;
    if it.peek().map(|s| s.as_str()) == Some("serve") {
        it.next();
    } else if let Some(verb @ ("backup" | "restore")) = it.peek().map(|s| s.as_str()) {
        let verb = verb.to_string();
        it.next();
        let file: PathBuf = it
            .next()
            .filter(|f| !f.starts_with('-'))
            .ok_or(format!("atoll {verb}: name the backup FILE"))?
            .into();
        if verb == "backup" {
            backup = Some(file);
        } else {
            restore = Some(Restore { file, force: false });
        }
    } else if it.peek().map(|s| s.as_str()) == Some("cluster") {
        it.next();
        match it.next().map(|s| s.as_str()) {
            Some("promote") => promote = true,
            _ => return Err("atoll cluster: say promote".into()),
        }
    } else if it.peek().map(|s| s.as_str()) == Some("vod") {
        it.next();
        match it.next().map(|s| s.as_str()) {
            Some("import") => vod_import = Some(VodImport::default()),
            _ => return Err("atoll vod: say import".into()),
        }
    } else if it.peek().map(|s| s.as_str()) == Some("user") {
        it.next();
        let action = it
            .next()
            .ok_or("atoll user: say list, add, passwd, disable or enable")?
            .clone();
        let name = match action.as_str() {
            "list" => String::new(),
            "add" | "passwd" | "disable" | "enable" => it
                .next()
                .filter(|n| !n.starts_with('-'))
                .ok_or(format!("atoll user {action}: the account name is missing"))?
                .clone(),
            other => {
                return Err(format!(
                    "atoll user: unknown action '{other}' (list, add, passwd, disable, enable)"
                ))
            }
        };
        user_cmd = Some(UserCommand {
            action,
            name,
            role: "operator".into(),
        });
    }
    let (mut config_file, mut data, mut http, mut rtmp) = (None, None, None, None);
    let (mut role, mut origins, mut cluster_key, mut node_name, mut public_url) =
        (None, Vec::new(), None, None, None);
    let mut follow = None;
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value (see atoll --help)"))
        };
        match flag {
            "-h" | "--help" | "help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--config" => config_file = Some(value("--config")?),
            "--data" => data = Some(value("--data")?),
            "--http" => http = Some(value("--http")?),
            "--rtmp" => rtmp = Some(value("--rtmp")?),
            "--role" if user_cmd.is_none() => role = Some(value("--role")?),
            "--origin" => origins.push(value("--origin")?),
            "--follow" => follow = Some(value("--follow")?),
            "--cluster-key" => cluster_key = Some(value("--cluster-key")?),
            "--node-name" => node_name = Some(value("--node-name")?),
            "--public-url" => public_url = Some(value("--public-url")?),
            "--title" if vod_import.is_some() => {
                let v = value("--title")?;
                if let Some(i) = vod_import.as_mut() {
                    i.title = Some(v);
                }
            }
            "--category" if vod_import.is_some() => {
                let v = value("--category")?;
                if let Some(i) = vod_import.as_mut() {
                    i.category = Some(v);
                }
            }
            path if vod_import.is_some() && !path.starts_with('-') => {
                if let Some(i) = vod_import.as_mut() {
                    i.paths.push(path.into());
                }
            }
            "--force" if restore.is_some() => {
                if let Some(r) = restore.as_mut() {
                    r.force = true;
                }
            }
            "--role" if user_cmd.is_some() => {
                let r = value("--role")?;
                if r != "admin" && r != "operator" {
                    return Err("--role must be admin or operator".into());
                }
                if let Some(u) = user_cmd.as_mut() {
                    u.role = r;
                }
            }
            other => return Err(format!("unknown argument '{other}' (see atoll --help)")),
        }
    }
    let data_named = data.is_some() || env("ATOLL_DATA").is_some() || config_file.is_some();
    let mut cfg = match &config_file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("config file {path}: {e}"))?;
            toml::from_str::<Config>(&text).map_err(|e| format!("config file {path}: {e}"))?
        }
        None => Config::default(),
    };
    if let Some(v) = env("ATOLL_DATA") {
        cfg.data = v.into();
    }
    if let Some(v) = env("ATOLL_HTTP") {
        cfg.http = v;
    }
    if let Some(v) = env("ATOLL_RTMP") {
        cfg.rtmp = v;
    }
    if let Some(v) = env("ATOLL_CLUSTER_KEY") {
        cfg.cluster_key = Some(v);
    }
    if let Some(v) = data {
        cfg.data = v.into();
    }
    if let Some(v) = role {
        cfg.role = v;
    }
    if !origins.is_empty() {
        cfg.origins = origins;
    }
    if let Some(v) = follow {
        cfg.follow = Some(v);
    }
    if let Some(v) = cluster_key {
        cfg.cluster_key = Some(v);
    }
    if let Some(v) = node_name {
        cfg.node_name = Some(v);
    }
    if let Some(v) = public_url {
        cfg.public_url = Some(v);
    }
    if let Some(v) = http {
        cfg.http = v;
    }
    if let Some(v) = rtmp {
        cfg.rtmp = v;
    }
    // sequence numbers start at the channel's start second: segments of 2 s or more keep them
    // from ever catching up with the clock, so segment URLs never repeat across restarts
    if !(2..=60).contains(&cfg.segment_seconds) {
        return Err("segment_seconds must be 2..60".into());
    }
    if !(3..=30).contains(&cfg.playlist_window) {
        return Err("playlist_window must be 3..30".into());
    }
    if cfg
        .archive_min_free_percent
        .is_some_and(|p| !(0.0..=90.0).contains(&p))
    {
        return Err("archive_min_free_percent must be 0..90".into());
    }
    if !(1..=64).contains(&cfg.store_read_connections) {
        return Err("store_read_connections must be 1..64".into());
    }
    if !(1..=100_000).contains(&cfg.recorder_queue_segments) {
        return Err("recorder_queue_segments must be 1..100000".into());
    }
    if !((1 << 20)..=(64 << 30)).contains(&cfg.recorder_queue_bytes) {
        return Err("recorder_queue_bytes must be 1 MiB..64 GiB (1048576..68719476736)".into());
    }
    if !((64 << 10)..=(4 << 30)).contains(&cfg.segment_max_bytes) {
        return Err("segment_max_bytes must be 64 KiB..4 GiB (65536..4294967296)".into());
    }
    if !((64 << 10)..=(1 << 30)).contains(&cfg.ts_buffer_bytes) {
        return Err("ts_buffer_bytes must be 64 KiB..1 GiB (65536..1073741824)".into());
    }
    if !((16 << 10)..=(64 << 20)).contains(&cfg.http_stream_send_buffer_bytes) {
        return Err(
            "http_stream_send_buffer_bytes must be 16 KiB..64 MiB (16384..67108864)".into(),
        );
    }
    if !((64 << 10)..=(1 << 30)).contains(&cfg.rendition_cache_bytes) {
        return Err("rendition_cache_bytes must be 64 KiB..1 GiB (65536..1073741824)".into());
    }
    if !(100..=10_000_000).contains(&cfg.catchup_max_playlist_segments) {
        return Err("catchup_max_playlist_segments must be 100..10000000".into());
    }
    if cfg.live_segment_disk_requests > 10_000_000 {
        return Err("live_segment_disk_requests must be 0..10000000".into());
    }
    if !(1..=100_000).contains(&cfg.live_segment_write_queue) {
        return Err("live_segment_write_queue must be 1..100000".into());
    }
    if cfg.viewer_access != "open" && cfg.viewer_access != "token" {
        return Err("viewer_access must be \"open\" or \"token\"".into());
    }
    for s in &cfg.viewer_subnets {
        crate::viewer::Subnet::parse(s).map_err(|e| format!("viewer_subnets: {e}"))?;
    }
    if !(1..=1_000).contains(&cfg.signin_max_fails_per_ip) {
        return Err("signin_max_fails_per_ip must be 1..1000".into());
    }
    if !(1..=1_000).contains(&cfg.signin_max_fails_per_account) {
        return Err("signin_max_fails_per_account must be 1..1000".into());
    }
    if !(1..=86_400).contains(&cfg.signin_fail_window_seconds) {
        return Err("signin_fail_window_seconds must be 1..86400".into());
    }
    match cfg.role.as_str() {
        "origin" => {}
        "edge" => {
            if cfg.origins.is_empty() {
                return Err("an edge needs at least one --origin URL (origins)".into());
            }
            if cfg.cluster_key().is_none() {
                return Err("an edge needs the cluster key (--cluster-key, cluster_key)".into());
            }
        }
        other => {
            return Err(format!(
                "role must be \"origin\" or \"edge\" (got \"{other}\")"
            ))
        }
    }
    if let Some(f) = &cfg.follow {
        if cfg.role != "origin" {
            return Err("--follow is for a backup origin (role origin)".into());
        }
        if cfg.cluster_key().is_none() {
            return Err(
                "a backup origin needs the cluster key (--cluster-key, cluster_key)".into(),
            );
        }
        if cfg.origins.contains(f) {
            return Err("--follow names the primary origin; --origin is for edges".into());
        }
    }
    for o in cfg.origins.iter().chain(cfg.follow.iter()) {
        let rest = o.strip_prefix("http://").ok_or_else(|| {
            format!("origins: '{o}' must be an http:// URL (http://origin-a:8080)")
        })?;
        if rest.trim_end_matches('/').contains('/') || rest.is_empty() {
            return Err(format!(
                "origins: '{o}' must be scheme, host and port only (http://origin-a:8080)"
            ));
        }
    }
    if cfg.origins.len() > 8 {
        return Err("origins: at most 8".into());
    }
    if let Some(k) = cfg.cluster_key() {
        if k.len() < MIN_CLUSTER_KEY || !k.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "cluster_key must be at least {MIN_CLUSTER_KEY} printable characters, no spaces"
            ));
        }
    }
    if let Some(n) = &cfg.node_name {
        valid_node_name(n)?;
    }
    if let Some(l) = &cfg.cluster.dns_listen {
        l.parse::<std::net::SocketAddr>()
            .map_err(|_| format!("[cluster] dns_listen: '{l}' is not an address:port"))?;
        let name =
            cfg.cluster.dns_name.as_deref().ok_or(
                "[cluster] dns_listen needs dns_name (the service name, e.g. tv.island.lan)",
            )?;
        crate::cluster::dns::Zone::new(name, None, cfg.cluster.dns_ttl)
            .map_err(|e| format!("[cluster] {e}"))?;
    }
    if !(5..=86_400).contains(&cfg.edge_idle_seconds) {
        return Err("edge_idle_seconds must be 5..86400".into());
    }
    if !(1..=10_000).contains(&cfg.cluster.dns_tcp_max_connections) {
        return Err("[cluster] dns_tcp_max_connections must be 1..10000".into());
    }
    if !(1..=300).contains(&cfg.cluster.dns_tcp_idle_seconds) {
        return Err("[cluster] dns_tcp_idle_seconds must be 1..300".into());
    }
    if !(1..=3600).contains(&cfg.cluster.dns_ttl) {
        return Err("[cluster] dns_ttl must be 1..3600".into());
    }
    if cfg.cluster.redirect != "on" && cfg.cluster.redirect != "off" {
        return Err("[cluster] redirect must be \"on\" or \"off\"".into());
    }
    if let Some(u) = &cfg.public_url {
        if !u.starts_with("http://") && !u.starts_with("https://") {
            return Err(format!(
                "public_url: '{u}' must start with http:// or https://"
            ));
        }
    }
    if !(1..=600).contains(&cfg.failover_silence_seconds) {
        return Err("failover_silence_seconds must be 1..600".into());
    }
    for (name, v, lo, hi) in [
        ("vod_max_upload_mib", cfg.vod_max_upload_mib, 1, 10 << 20),
        ("vod_max_index_mib", cfg.vod_max_index_mib, 1, 4096),
        ("vod_max_samples", cfg.vod_max_samples, 1000, 1_000_000_000),
        (
            "vod_max_subtitle_bytes",
            cfg.vod_max_subtitle_bytes,
            1024,
            256 << 20,
        ),
        ("vod_import_queue", cfg.vod_import_queue as u64, 1, 10_000),
        ("vod_segment_seconds", cfg.vod_segment_seconds, 2, 30),
        ("vod_index_cache_mib", cfg.vod_index_cache_mib, 1, 65536),
        (
            "vod_watch_stable_seconds",
            cfg.vod_watch_stable_seconds,
            1,
            3600,
        ),
        (
            "vod_upload_expiry_hours",
            cfg.vod_upload_expiry_hours,
            1,
            720,
        ),
    ] {
        if !(lo..=hi).contains(&v) {
            return Err(format!("{name} must be {lo}..{hi}"));
        }
    }
    if let Some(file) = backup {
        return Ok(Command::Backup(file, cfg));
    }
    if let Some(r) = restore {
        if !data_named {
            return Err("atoll restore: say which data directory with --data DIR".into());
        }
        return Ok(Command::Restore(r, cfg));
    }
    if let Some(v) = vod_import {
        if v.paths.is_empty() {
            return Err("atoll vod import: name one or more files".into());
        }
        return Ok(Command::VodImport(v, cfg));
    }
    if !(0.0..=90.0).contains(&cfg.vod_mirror_min_free_percent) {
        return Err("vod_mirror_min_free_percent must be 0..90".into());
    }
    crate::xc::wire::Zone::parse(&cfg.xc_timezone).map_err(|e| format!("xc_timezone: {e}"))?;
    for (name, v, lo, hi) in [
        (
            "viewer_session_idle_seconds",
            cfg.viewer_session_idle_seconds,
            5,
            3600,
        ),
        (
            "viewer_max_accounts",
            cfg.viewer_max_accounts as u64,
            1,
            10_000_000,
        ),
        (
            "viewer_import_max_kib",
            cfg.viewer_import_max_kib as u64,
            1,
            1 << 20,
        ),
    ] {
        if !(lo..=hi).contains(&v) {
            return Err(format!("{name} must be {lo}..{hi}"));
        }
    }
    Ok(match user_cmd {
        Some(u) => Command::User(u, cfg),
        None if promote => Command::ClusterPromote(cfg),
        None => Command::Serve(cfg),
    })
}

/// `atoll restore` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restore {
    pub file: PathBuf,
    /// Replace a database already in the data directory (kept beside it).
    pub force: bool,
}

/// `atoll vod import` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VodImport {
    pub title: Option<String>,
    pub category: Option<String>,
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCommand {
    /// list, add, passwd, disable, enable
    pub action: String,
    pub name: String,
    /// For add: admin or operator.
    pub role: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn precedence_flags_over_env_over_defaults() {
        let env = |k: &str| match k {
            "ATOLL_HTTP" => Some("127.0.0.1:9000".to_string()),
            "ATOLL_DATA" => Some("/env".to_string()),
            _ => None,
        };
        let Command::Serve(c) = parse(&args("serve --data /flag"), env).unwrap() else {
            panic!()
        };
        assert_eq!(c.data, PathBuf::from("/flag"));
        assert_eq!(c.http, "127.0.0.1:9000");
        assert_eq!(c.rtmp, "0.0.0.0:1935");
        let Command::Serve(c) = parse(&args("--rtmp=127.0.0.1:1"), |_| None).unwrap() else {
            panic!()
        };
        assert_eq!(c.rtmp, "127.0.0.1:1");
        assert!(matches!(
            parse(&args("--help"), |_| None),
            Ok(Command::Help)
        ));
        assert!(parse(&args("--bogus"), |_| None).is_err());
        // backup and restore
        let Ok(Command::Backup(f, c)) = parse(&args("backup /b/x.db --data /d"), |_| None) else {
            panic!()
        };
        assert_eq!((f, c.data), (PathBuf::from("/b/x.db"), PathBuf::from("/d")));
        let Ok(Command::Restore(r, c)) = parse(&args("restore x.db --data /d --force"), |_| None)
        else {
            panic!()
        };
        assert_eq!(
            (r.file, r.force, c.data),
            ("x.db".into(), true, "/d".into())
        );
        let e = parse(&args("restore x.db"), |_| None).err().unwrap();
        assert!(e.contains("--data"), "{e}");
        assert!(parse(&args("backup"), |_| None).is_err());
        assert!(parse(&args("backup x.db --force"), |_| None).is_err());
        let Command::User(u, c) =
            parse(&args("user add bob --role admin --data /d"), |_| None).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (u.action.as_str(), u.name.as_str(), u.role.as_str()),
            ("add", "bob", "admin")
        );
        assert_eq!(c.data, PathBuf::from("/d"));
        assert!(parse(&args("user add"), |_| None).is_err());
        assert!(parse(&args("user frob x"), |_| None).is_err());
        assert!(parse(&args("user add x --role king"), |_| None).is_err());
        assert!(parse(&args("--role admin"), |_| None).is_err());
        assert!(parse(&args("--data"), |_| None).is_err());
    }

    #[test]
    fn edge_flags() {
        let key = "0123456789abcdef";
        let Command::Serve(c) = parse(
            &args(&format!(
                "serve --role edge --origin http://127.0.0.1:1 --origin http://127.0.0.2:1/ \
                 --cluster-key {key} --node-name deck1 --public-url http://e:8080"
            )),
            |_| None,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(c.role(), Role::Edge);
        assert_eq!(c.origins, ["http://127.0.0.1:1", "http://127.0.0.2:1/"]);
        assert_eq!(c.cluster_key(), Some(key));
        assert_eq!(c.node_name(), "deck1");
        assert_eq!(c.public_url.as_deref(), Some("http://e:8080"));
        let env = |k: &str| (k == "ATOLL_CLUSTER_KEY").then(|| key.to_string());
        let Command::Serve(c) = parse(&args("--role edge --origin http://o:1"), env).unwrap()
        else {
            panic!()
        };
        assert_eq!(c.cluster_key(), Some(key));
        for bad in [
            "--role edge --cluster-key 0123456789abcdef",
            "--role edge --origin http://o:1",
            "--role edge --origin https://o:1 --cluster-key 0123456789abcdef",
            "--role edge --origin http://o:1/live --cluster-key 0123456789abcdef",
            "--role edge --origin http://o:1 --cluster-key short",
            "--role relay",
            "--node-name a/b",
        ] {
            assert!(parse(&args(bad), |_| None).is_err(), "{bad}");
        }
        assert_eq!(Config::default().role(), Role::Origin);
        // a backup origin
        let Command::Serve(c) = parse(
            &args(&format!(
                "--follow http://origin-a:8080 --cluster-key {key}"
            )),
            |_| None,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(c.follow.as_deref(), Some("http://origin-a:8080"));
        assert!(parse(&args("--follow http://origin-a:8080"), |_| None).is_err());
        assert!(parse(
            &args(&format!("--follow ftp://a --cluster-key {key}")),
            |_| None
        )
        .is_err());
        assert!(matches!(
            parse(&args("cluster promote --data /d"), |_| None),
            Ok(Command::ClusterPromote(c)) if c.data == std::path::Path::new("/d")
        ));
        assert!(parse(&args("cluster demote"), |_| None).is_err());
    }
}
