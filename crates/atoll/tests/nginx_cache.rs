//! `docs/nginx-cache.conf`, the documented nginx `proxy_cache` edge, run as it is in front of a
//! real Atoll: live, catch-up and a film play through it (ffmpeg), segments are served from its
//! cache, and a film's download passes through with its byte ranges.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(60);

struct Nginx(Child);

impl Drop for Nginx {
    /// SIGTERM to the master, which stops its workers (SIGKILL would leave them listening).
    fn drop(&mut self) {
        unsafe_free_sigterm(self.0.id());
        let end = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < end {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn nginx_proxy_cache_in_front_of_an_origin_serves_live_catch_up_and_films() {
    require("nginx");
    require("ffprobe");
    let o = Atoll::start_with("nginx-origin", &[("segment_seconds", "2")]);
    let dir = o.dir.join("nginx");
    std::fs::create_dir_all(dir.join("cache")).unwrap();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let port = free_port();
    let template = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/nginx-cache.conf"),
    )
    .unwrap();
    let conf = template
        .replace("ORIGIN", &format!("127.0.0.1:{}", o.http))
        .replace("LISTEN", &format!("127.0.0.1:{port}"))
        .replace("CACHE_DIR", path_str(&dir.join("cache")))
        .replace(
            "worker_processes auto;",
            &format!(
                "worker_processes 1;\npid {};",
                path_str(&dir.join("nginx.pid"))
            ),
        );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let _nginx = Nginx(
        Command::new("nginx")
            .args([
                "-p",
                path_str(&dir),
                "-c",
                path_str(&dir.join("nginx.conf")),
                "-e",
                path_str(&dir.join("logs/error.log")),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    o.wait_for("nginx up", T, || {
        http(port, "GET", "/healthz", None, None).0 == 200
    });
    o.wait_playlist("demo", 3, T);
    // live through the cache
    let live = format!("http://127.0.0.1:{port}/live/demo/index.m3u8");
    let streams = ffprobe_streams(&live);
    assert!(streams.iter().any(|s| s.starts_with("h264")), "{streams:?}");
    // a segment: the second request is a cache hit, the same bytes
    let (_, b) = o.get("/live/demo/index.m3u8");
    let text = String::from_utf8(b).unwrap();
    let seg = text
        .lines()
        .rfind(|l| l.ends_with(".ts"))
        .unwrap()
        .to_string();
    let path = format!("/live/demo/{seg}");
    let (s1, h1, b1) = raw(port, "GET", &path, &[], b"");
    let (s2, h2, b2) = raw(port, "GET", &path, &[], b"");
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(
        head_value(&h1, "x-cache-status").as_deref(),
        Some("MISS"),
        "{h1}"
    );
    assert_eq!(
        head_value(&h2, "x-cache-status").as_deref(),
        Some("HIT"),
        "{h2}"
    );
    assert!(b1 == b2 && b1 == o.get(&path).1);
    // catch-up through the cache
    o.wait_for("recorded", T, || {
        o.api("GET", "/api/channels/demo/recording", None).1["segments"]
            .as_i64()
            .unwrap_or(0)
            >= 4
    });
    let range = format!(
        "http://127.0.0.1:{port}/live/demo/index-{}-60.m3u8",
        now_s() - 30
    );
    let (_, dur) = ffmpeg_read(&range, 30);
    assert!(dur >= 4.0, "{dur} s of catch-up through nginx");
    // the endless MPEG-TS stream passes through
    let (_, dur) = ffmpeg_read(&format!("http://127.0.0.1:{port}/live/demo/mpegts"), 3);
    assert!(dur >= 2.0, "{dur} s of MPEG-TS through nginx");
    // a film: its playlists and segments are cached (one fetch from the origin), it plays whole
    let film = o.dir.join("film.mp4");
    make_small_film(&film);
    let id = vod_import(&o, &film, "Reef", "Films");
    let master = format!("http://127.0.0.1:{port}/vod/{id}/index.m3u8");
    let (_, dur) = ffmpeg_read(&master, 30);
    assert!(dur >= 7.0, "{dur} s of the 8 s film through nginx");
    let seg = format!("/vod/{id}/v/0.ts");
    let (s1, h1, b1) = raw(port, "GET", &seg, &[], b"");
    assert_eq!(s1, 200, "{h1}");
    assert_eq!(
        head_value(&h1, "x-cache-status").as_deref(),
        Some("HIT"),
        "played once already: {h1}"
    );
    assert!(b1 == o.get(&seg).1);
    // the download streams through, byte ranges and all
    let (s, h, b) = raw(
        port,
        "GET",
        &format!("/vod/{id}/file.mp4"),
        &[("Range", "bytes=0-99")],
        b"",
    );
    assert_eq!((s, b.len()), (206, 100), "{h}");
}
