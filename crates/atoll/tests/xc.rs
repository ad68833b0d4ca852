//! Viewer accounts and the Xtream Codes API against real clients no one here wrote: pyxtream
//! (PyPI) and @iptv/xtream-api (npm) log in, list and check their schemas; ffmpeg/ffprobe play
//! the stream URLs they build, and the timeshift URLs Kodi's `xc` mode and XStreamity build from
//! the EPG strings; the project's Kodi-rules M3U reader reads `get.php`. Refused accounts
//! (expired, disabled, wrong password, over the limit) get what apps expect and no stream.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(90);

fn xc(a: &Atoll, query: &str) -> (u16, Value) {
    let (s, b) = a.get(&format!("/player_api.php?{query}"));
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

fn add_viewer(a: &Atoll, body: Value) {
    let (s, v) = a.api("POST", "/api/viewers", Some(&body.to_string()));
    assert_eq!(s, 201, "{v}");
}

/// Head and the first bytes of a GET with a User-Agent (a device), reading at most `n` bytes.
fn first_bytes(port: u16, path: &str, ua: &str, n: usize) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    std::io::Write::write_all(
        &mut s,
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {ua}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    while buf.len() < n {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
    let status = String::from_utf8_lossy(&buf)
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    (status, buf)
}

/// An open MPEG-TS stream of a device: the socket, kept reading in the background.
struct Watching(
    Option<std::thread::JoinHandle<()>>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
);

fn watch(port: u16, path: &str, ua: &str) -> Watching {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (p, u, st) = (path.to_string(), ua.to_string(), stop.clone());
    let started = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(0));
    let started2 = started.clone();
    let h = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        std::io::Write::write_all(
            &mut s,
            format!("GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {u}\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let mut chunk = [0u8; 16384];
        let mut head = Vec::new();
        while !st.load(std::sync::atomic::Ordering::SeqCst) {
            if let Ok(k) = s.read(&mut chunk) {
                if k == 0 {
                    break;
                }
                if head.len() < 16 {
                    head.extend_from_slice(&chunk[..k.min(16)]);
                    let code = String::from_utf8_lossy(&head)
                        .split_whitespace()
                        .nth(1)
                        .and_then(|x| x.parse().ok())
                        .unwrap_or(0);
                    started2.store(code, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }
    });
    let t = Instant::now();
    while started.load(std::sync::atomic::Ordering::SeqCst) == 0 && t.elapsed() < T {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        started.load(std::sync::atomic::Ordering::SeqCst),
        200,
        "{path} as {ua}"
    );
    Watching(Some(h), stop)
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.1.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

/// XMLTV with one-minute programmes on `xmltv_id` from 10 minutes ago to an hour ahead
/// (so a programme starts on every minute, as the timeshift URLs need).
fn minute_guide(xmltv_id: &str) -> String {
    let t0 = now_s() / 60 * 60 - 600;
    let fmt = |t: i64| {
        let (d, s) = (t.div_euclid(86_400), t.rem_euclid(86_400));
        let (y, m, dd) = media::time::civil_from_days(d);
        format!(
            "{y:04}{m:02}{dd:02}{:02}{:02}{:02} +0000",
            s / 3600,
            s % 3600 / 60,
            s % 60
        )
    };
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tv>\n<channel id=\"{xmltv_id}\"><display-name>{xmltv_id}</display-name></channel>\n"
    );
    for i in 0..70 {
        let t = t0 + i * 60;
        x.push_str(&format!(
            "<programme start=\"{}\" stop=\"{}\" channel=\"{xmltv_id}\"><title>News at {t}</title><desc>Minute {i} 新闻</desc></programme>\n",
            fmt(t),
            fmt(t + 60)
        ));
    }
    x.push_str("</tv>\n");
    x
}

fn recorded_from_s(a: &Atoll, id: &str) -> Option<i64> {
    let (_, v) = a.api("GET", &format!("/api/channels/{id}/archive"), None);
    v["intervals"]
        .as_array()?
        .first()
        .and_then(|i| i["from"].as_f64())
        .map(|f| f.ceil() as i64)
}

fn recorded_to_s(a: &Atoll, id: &str) -> i64 {
    let (_, v) = a.api("GET", &format!("/api/channels/{id}/archive"), None);
    v["intervals"]
        .as_array()
        .and_then(|l| l.last().cloned())
        .and_then(|i| i["to"].as_f64())
        .map_or(0, |t| t as i64)
}

/// "2026-11-24T09:42:25.683Z" → unix seconds.
fn rfc3339_s(s: &str) -> f64 {
    let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let t: Vec<f64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    media::time::days_from_civil(d[0], d[1] as u32, d[2] as u32) as f64 * 86400.0
        + t[0] * 3600.0
        + t[1] * 60.0
        + t[2]
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{}", tail(&text, 60));
    text
}

#[test]
fn iptv_apps_log_in_list_everything_and_play_live_catchup_films_and_episodes() {
    require("ffmpeg");
    require("python3");
    require("node");
    let a = Atoll::start_with(
        "xc",
        &[("viewer_accounts", "true"), ("segment_seconds", "2")],
    );
    let guides = a.dir.join("data").join("guides");
    std::fs::create_dir_all(&guides).unwrap();
    std::fs::write(guides.join("news.xml"), minute_guide("news.xc")).unwrap();
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"news","name":"News 24","group":"News","sources":["testsrc://"],"number":5,"epg_id":"news.xc"}"#),
    );
    assert_eq!(s, 201, "{v}");
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"sport","name":"Sport","group":"Sport","sources":["testsrc://"],"number":6,"record":false}"#),
    );
    assert_eq!(s, 201, "{v}");
    let body = json!({"name": "guide", "url": guides.join("news.xml").to_str().unwrap()});
    let (s, v) = a.api("POST", "/api/epg/sources", Some(&body.to_string()));
    assert_eq!(s, 201, "{v}");
    // a film and an episode of a series
    let media = temp_dir("xc-media");
    let film = media.join("film.mp4");
    make_small_film(&film);
    let film_id = vod_import(&a, &film, "A Film", "Films");
    let ep_id = vod_import(&a, &film, "Pilot", "Shows");
    let (s, v) = a.api(
        "PUT",
        &format!("/api/vod/{ep_id}"),
        Some(r#"{"series":"The Show","season":1,"episode":1}"#),
    );
    assert_eq!(s, 200, "{v}");
    add_viewer(
        &a,
        json!({"username": "cabin.12@deck-3_a", "password": "Pw12345", "max_connections": 8}),
    );
    let (user, pw) = ("cabin.12@deck-3_a", "Pw12345");
    let login = format!("username={user}&password={pw}");

    // the login object
    let (s, v) = xc(&a, &login);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["user_info"]["auth"], 1);
    assert_eq!(v["user_info"]["status"], "Active");
    assert_eq!(v["user_info"]["username"], user);
    assert!(v["user_info"]["exp_date"].is_string() && v["user_info"]["max_connections"] == "8");
    assert_eq!(v["server_info"]["timezone"], "UTC");
    assert_eq!(v["server_info"]["port"], a.http.to_string());
    // the same by POST form, and unknown actions answer the login object
    let (s, _, b) = raw(
        a.http,
        "POST",
        "/player_api.php",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", "http://app.example"),
        ],
        format!("{login}&action=get_profile").as_bytes(),
    );
    let v2: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        (s, v2["user_info"]["auth"].clone()),
        (200, json!(1)),
        "{v2}"
    );
    assert_eq!(
        xc(&a, &format!("{login}&action=no_such_thing")).1["user_info"]["auth"],
        1
    );

    // the lineup: stream ids, groups, catch-up days
    let (_, streams) = xc(&a, &format!("{login}&action=get_live_streams"));
    let news = streams
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["epg_channel_id"] == "news")
        .cloned()
        .unwrap_or_else(|| panic!("{streams}"));
    let sid = news["stream_id"].as_i64().unwrap();
    assert_eq!(news["tv_archive"], 1);
    assert_eq!(news["tv_archive_duration"], 3);
    assert_eq!(news["stream_type"], "live");
    assert!(news["category_id"].is_string() && news["added"].is_string());
    let sport = streams
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["epg_channel_id"] == "sport")
        .unwrap();
    assert_eq!(sport["tv_archive"], 0);
    let sport_sid = sport["stream_id"].as_i64().unwrap();
    let (_, cats) = xc(&a, &format!("{login}&action=get_live_categories"));
    let news_cat = cats
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category_name"] == "News")
        .unwrap()["category_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, only) = xc(
        &a,
        &format!("{login}&action=get_live_streams&category_id={news_cat}"),
    );
    assert_eq!(only.as_array().unwrap().len(), 1, "{only}");

    // wait for the guide, and for the archive to hold a whole minute from a minute boundary
    a.wait_for("the guide", T, || {
        xc(&a, &format!("{login}&action=get_short_epg&stream_id={sid}")).1["epg_listings"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    });
    let mut rec_from = None;
    a.wait_for("recording", T, || {
        rec_from = recorded_from_s(&a, "news");
        rec_from.is_some()
    });
    let minute = (rec_from.unwrap() + 59) / 60 * 60 + 60;
    a.wait_for("a whole minute archived", Duration::from_secs(200), || {
        recorded_to_s(&a, "news") >= minute + 64
    });

    // the clients no one here wrote
    let py = run(Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/xc/pyxtream_client.py"))
        .args([&a.url(""), user, pw]));
    assert!(py.contains("OK groups="), "{py}");
    let js = run(Command::new("node")
        .arg(web_dir().join("tests/xtream-api-client.mjs"))
        .args([&a.url(""), user, pw, &(minute * 1000).to_string()]));
    assert!(js.contains("OK timeshift="), "{js}");

    // the stream URLs apps build, read by ffprobe
    let base = format!("/live/{user}/{pw}/{sid}");
    for path in [
        format!("{base}.ts"),
        format!("{base}.m3u8"),
        format!("/{user}/{pw}/{sid}"),
    ] {
        let streams = ffprobe_streams(&a.url(&path));
        assert!(
            streams.iter().any(|s| s.starts_with("h264")),
            "{path}: {streams:?}"
        );
    }
    for path in [
        format!("/movie/{user}/{pw}/{film_id}.mp4"),
        format!("/series/{user}/{pw}/{ep_id}.mkv"),
    ] {
        let streams = ffprobe_streams(&a.url(&path));
        assert_eq!(
            streams,
            vec!["aac,44100".to_string(), "h264,320,240".to_string()],
            "{path}"
        );
    }
    // a film is not an episode, and the other way round
    assert_eq!(a.get(&format!("/series/{user}/{pw}/{film_id}.mp4")).0, 404);
    // byte ranges on the film, as players seek
    let (s, head, body) = raw(
        a.http,
        "GET",
        &format!("/movie/{user}/{pw}/{film_id}.mp4"),
        &[("Range", "bytes=0-99")],
        b"",
    );
    assert_eq!((s, body.len()), (206, 100), "{head}");

    // catch-up the way XStreamity builds it: the EPG start string, as YYYY-MM-DD:HH-MM
    let (_, table) = xc(
        &a,
        &format!("{login}&action=get_simple_data_table&stream_id={sid}"),
    );
    let listing = table["epg_listings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            l["start_timestamp"]
                .as_str()
                .and_then(|x| x.parse::<i64>().ok())
                == Some(minute)
        })
        .unwrap_or_else(|| panic!("no programme at {minute}: {table}"))
        .clone();
    assert_eq!(listing["has_archive"], 1, "{listing}");
    let start = listing["start"].as_str().unwrap(); // "YYYY-MM-DD HH:MM:SS"
    let date = format!("{}:{}", &start[..10], start[11..16].replace(':', "-"));
    let title = base64_decode(listing["title"].as_str().unwrap());
    assert_eq!(title, format!("News at {minute}"));
    let ts_url = format!("/timeshift/{user}/{pw}/1/{date}/{sid}.ts");
    let (errors, secs) = ffmpeg_read(&a.url(&ts_url), 60);
    assert!(
        errors.is_empty() && secs >= 55.0,
        "{ts_url}: {errors} {secs}"
    );
    // the .m3u8 form leads to a range playlist starting within one segment of the asked time
    let (s, head, _) = raw(
        a.http,
        "GET",
        &format!("/timeshift/{user}/{pw}/1/{date}/{sid}.m3u8"),
        &[],
        b"",
    );
    assert_eq!(s, 302, "{head}");
    let loc = head_value(&head, "location").unwrap();
    let (s, b) = a.get(&loc);
    let text = String::from_utf8_lossy(&b).to_string();
    assert_eq!(s, 200, "{loc}: {text}");
    let pdt = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:"))
        .map(rfc3339_s)
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        pdt <= minute as f64 + 0.05 && pdt > minute as f64 - 2.1,
        "first segment at {pdt} for {minute}\n{text}"
    );
    let (errors, secs) = ffmpeg_read(&a.url(&loc), 60);
    assert!(
        errors.is_empty() && (secs - 60.0).abs() <= 2.5,
        "{errors} {secs}"
    );
    // the query form and the other start formats name the same range
    for start in [
        date.replacen(':', "_", 1),
        minute.to_string(),
        format!("{date}-00"),
    ] {
        let q = format!("/streaming/timeshift.php?username={user}&password={pw}&stream={sid}&start={start}&duration=1");
        let (s, b) = first_bytes(a.http, &q, "vlc", 4096);
        assert_eq!(
            s,
            200,
            "{q}: {}",
            String::from_utf8_lossy(&b[..b.len().min(300)])
        );
    }
    let (s, _) = first_bytes(
        a.http,
        &format!(
            "/timeshift/{user}/{pw}/1/{}/{sid}.ts",
            date.replacen(':', "_", 1)
        ),
        "vlc",
        4096,
    );
    assert_eq!(s, 200);
    // a channel that is not recorded has no catch-up; a bad start is a 400 with the reason
    assert_eq!(
        first_bytes(
            a.http,
            &format!("/timeshift/{user}/{pw}/1/{date}/{sport_sid}.ts"),
            "vlc",
            1
        )
        .0,
        404
    );
    let (s, b) = a.get(&format!("/timeshift/{user}/{pw}/1/yesterday/{sid}.ts"));
    assert_eq!(s, 400);
    assert!(String::from_utf8_lossy(&b).contains("YYYY-MM-DD:HH-MM"));

    // get.php read back by the Kodi-rules M3U reader: channels, groups, the xc catch-up template
    let (s, b) = a.get(&format!("/get.php?{login}&type=m3u_plus&output=ts"));
    assert_eq!(s, 200);
    let text = String::from_utf8(b).unwrap();
    let entries = epg::parse_m3u(&text);
    let e = entries
        .iter()
        .find(|e| e.tvg_id == "news")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(e.group_title, "News");
    assert_eq!(e.url, a.url(&format!("/{user}/{pw}/{sid}")));
    let c = e.catchup.as_ref().expect("catch-up attributes");
    assert_eq!((c.mode.as_str(), c.days), ("xc", 3));
    // Kodi fills its placeholders from the programme: the URL it plays is the one above
    let kodi = c
        .source
        .replace("{duration:60}", "1")
        .replace("{Y}", &start[..4])
        .replace("{m}", &start[5..7])
        .replace("{d}", &start[8..10])
        .replace("{H}", &start[11..13])
        .replace("{M}", &start[14..16]);
    assert_eq!(kodi, a.url(&ts_url));
    let sport_entry = entries.iter().find(|e| e.tvg_id == "sport").unwrap();
    assert!(sport_entry.catchup.is_none(), "not recorded: no catch-up");
    let header = epg::parse_m3u_header(&text).expect("#EXTM3U header");
    assert!(
        header.url_tvg.contains("/xmltv.php?username="),
        "{header:?}"
    );
    let (s, b) = a.get(&format!("/get.php?{login}&type=m3u_plus&output=m3u8"));
    assert_eq!(s, 200);
    assert!(String::from_utf8_lossy(&b).contains(&format!("/live/{user}/{pw}/{sid}.m3u8")));
    // xmltv.php: the account's guide
    let (s, b) = a.get(&format!("/xmltv.php?{login}"));
    assert_eq!(s, 200);
    let xml = String::from_utf8(b).unwrap();
    assert!(xml.contains(&format!("News at {minute}")) && xml.contains("channel=\"news\""));
    // panel_api.php (older apps)
    let (s, b) = a.get(&format!("/panel_api.php?{login}"));
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(s, 200);
    assert!(v["available_channels"][sid.to_string()].is_object(), "{v}");
    assert!(v["categories"]["movie"]
        .as_array()
        .is_some_and(|l| !l.is_empty()));
    // VOD listings
    let (_, films) = xc(&a, &format!("{login}&action=get_vod_streams"));
    assert_eq!(films.as_array().unwrap().len(), 1, "{films}");
    assert_eq!(films[0]["stream_id"], film_id);
    let (_, info) = xc(&a, &format!("{login}&action=get_vod_info&vod_id={film_id}"));
    assert_eq!(info["info"]["duration_secs"], 8, "{info}");
    let (_, missing) = xc(&a, &format!("{login}&action=get_vod_info&vod_id=999"));
    assert_eq!(missing["info"], json!([]));
    let (_, series) = xc(&a, &format!("{login}&action=get_series"));
    let series_id = series[0]["series_id"].as_i64().unwrap();
    let (_, si) = xc(
        &a,
        &format!("{login}&action=get_series_info&series_id={series_id}"),
    );
    assert_eq!(si["episodes"]["1"][0]["id"], ep_id.to_string(), "{si}");
    // the device's sessions show in the console's view of the account
    let (_, acct) = a.api("GET", &format!("/api/viewers/{user}"), None);
    assert!(acct["active_connections"].as_u64().unwrap() >= 1, "{acct}");
    assert!(acct["last_seen"].is_string(), "{acct}");
}

fn base64_decode(s: &str) -> String {
    let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = table.iter().position(|t| *t == c).expect("base64") as u32;
        bits = bits << 6 | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn refused_accounts_get_what_apps_expect_and_no_stream() {
    let a = Atoll::start_with(
        "xc-refused",
        &[
            ("viewer_accounts", "true"),
            ("viewer_session_idle_seconds", "5"),
            ("segment_seconds", "2"),
        ],
    );
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"news","name":"News","group":"News","sources":["testsrc://"]}"#),
    );
    assert_eq!(s, 201, "{v}");
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"sport","name":"Sport","group":"Sport","sources":["testsrc://"]}"#),
    );
    assert_eq!(s, 201, "{v}");
    add_viewer(
        &a,
        json!({"username": "one", "password": "pw-one", "max_connections": 1}),
    );
    add_viewer(
        &a,
        json!({"username": "old", "password": "pw", "expires": "2020-01-31"}),
    );
    add_viewer(
        &a,
        json!({"username": "off", "password": "pw", "enabled": false}),
    );
    add_viewer(
        &a,
        json!({"username": "sporty", "password": "pw", "packages": {"groups": ["Sport"]}}),
    );
    let (_, streams) = xc(&a, "username=one&password=pw-one&action=get_live_streams");
    let sid_of = |id: &str| {
        streams
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["epg_channel_id"] == id)
            .unwrap()["stream_id"]
            .as_i64()
            .unwrap()
    };
    let (news, sport) = (sid_of("news"), sid_of("sport"));
    a.wait_for("news live", T, || a.channel("news")["state"] == "live");

    // no account, or a wrong password: 401 with auth 0, and no stream
    for path in ["/player_api.php", "/get.php", "/panel_api.php"] {
        let (s, _, _) = raw(
            a.http,
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"action=get_live_streams",
        );
        assert_eq!(s, 401, "POST {path} without an account");
    }
    let (s, v) = xc(&a, "username=one&password=nope");
    assert_eq!((s, v["user_info"]["auth"].clone()), (401, json!(0)), "{v}");
    assert_eq!(
        first_bytes(a.http, &format!("/live/one/nope/{news}.ts"), "x", 1).0,
        401
    );
    // expired and disabled: 403 with the status apps show, and no stream
    let (s, v) = xc(&a, "username=old&password=pw");
    assert_eq!(
        (s, v["user_info"]["status"].as_str()),
        (403, Some("Expired")),
        "{v}"
    );
    let (s, v) = xc(&a, "username=off&password=pw");
    assert_eq!(
        (s, v["user_info"]["status"].as_str()),
        (403, Some("Disabled")),
        "{v}"
    );
    for u in ["old", "off"] {
        assert_eq!(
            first_bytes(a.http, &format!("/live/{u}/pw/{news}.ts"), "x", 1).0,
            403
        );
        assert_eq!(a.get(&format!("/get.php?username={u}&password=pw")).0, 403);
    }
    // packages: the Sport account sees Sport only; News is not there for it
    let (_, only) = xc(&a, "username=sporty&password=pw&action=get_live_streams");
    let names: Vec<&str> = only
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Sport"]);
    assert_eq!(
        first_bytes(a.http, &format!("/live/sporty/pw/{news}.ts"), "x", 1).0,
        404
    );
    assert_eq!(
        first_bytes(a.http, &format!("/sporty/pw/{sport}"), "x", 188).0,
        200
    );

    // one connection: a second device is refused while the first watches, then gets in
    let first = watch(a.http, &format!("/live/one/pw-one/{news}.ts"), "box-A");
    let (s, b) = first_bytes(
        a.http,
        &format!("/live/one/pw-one/{sport}.ts"),
        "phone-B",
        512,
    );
    assert_eq!(s, 429, "{}", String::from_utf8_lossy(&b));
    assert!(String::from_utf8_lossy(&b).contains("max_connections (1)"));
    let (s, _) = first_bytes(
        a.http,
        &format!("/live/one/pw-one/{sport}.m3u8"),
        "phone-B",
        1,
    );
    assert_eq!(s, 429, "HLS too");
    // the same device zaps freely
    assert_eq!(
        first_bytes(
            a.http,
            &format!("/live/one/pw-one/{sport}.ts"),
            "box-A",
            188
        )
        .0,
        200
    );
    let (_, v) = xc(&a, "username=one&password=pw-one");
    assert_eq!(v["user_info"]["active_cons"], "1", "{v}");
    drop(first);
    // the stream ended: the place is free after viewer_session_idle_seconds
    a.wait_for(
        "the first device's session ends",
        Duration::from_secs(30),
        || {
            first_bytes(
                a.http,
                &format!("/live/one/pw-one/{sport}.ts"),
                "phone-B",
                188,
            )
            .0 == 200
        },
    );

    // wrong passwords are rate-limited like staff sign-ins (then even the right one waits)
    for _ in 0..5 {
        xc(&a, "username=sporty&password=guess");
    }
    let (s, head, _) = raw(
        a.http,
        "GET",
        "/player_api.php?username=sporty&password=pw",
        &[],
        b"",
    );
    assert_eq!(s, 429, "{head}");
    assert!(head_value(&head, "retry-after").is_some(), "{head}");
    assert!(a.alive_check());
}

#[test]
fn viewer_accounts_api_csv_limits_and_separation_from_staff() {
    let a = Atoll::start_with("xc-admin", &[("viewer_import_max_kib", "4")]);
    // off by default: the XC URLs answer 404, the accounts API works
    assert_eq!(a.get("/player_api.php?username=x&password=y").0, 404);
    add_viewer(
        &a,
        json!({"username": "cabin1", "password": "pw1", "note": "deck 3"}),
    );
    // bad fields are named
    for (body, field) in [
        (json!({"username": "a:b", "password": "x"}), "username"),
        (json!({"username": "live", "password": "x"}), "username"),
        (json!({"username": "ok"}), "password"),
        (
            json!({"username": "ok", "password": "x", "max_connections": 0}),
            "max_connections",
        ),
        (
            json!({"username": "ok", "password": "x", "expires": "2027-02-30"}),
            "expires",
        ),
        (
            json!({"username": "ok", "password": "x", "packages": {"groups": "News"}}),
            "packages.groups",
        ),
    ] {
        let (s, v) = a.api("POST", "/api/viewers", Some(&body.to_string()));
        assert!((400..500).contains(&s), "{body}: {s} {v}");
        assert_eq!(v["field"], field, "{body}: {v}");
    }
    let (s, _) = a.api(
        "POST",
        "/api/viewers",
        Some(&json!({"username": "cabin1", "password": "x"}).to_string()),
    );
    assert_eq!(s, 409);
    // change, read back; the password never comes back
    let (s, v) = a.api(
        "PUT",
        "/api/viewers/cabin1",
        Some(r#"{"max_connections":3,"expires":"2030-01-01","packages":{"groups":["News"]}}"#),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["max_connections"].clone(), v["expires"].clone()),
        (json!(3), json!("2030-01-01"))
    );
    assert!(!v.to_string().contains("pw1") && !v.to_string().contains("argon2"));
    // CSV import: all or nothing, generated passwords returned once
    let csv = "username,password,max_connections,groups,note\ncabin2,,2,News|Sport,deck 4\ncabin1,newpw,,,\ncabin3,,1,,\n";
    let (s, head, b) = raw(
        a.http,
        "POST",
        "/api/viewers/import",
        &[
            ("Authorization", &basic("admin", PASSWORD)),
            ("Content-Type", "text/csv"),
        ],
        csv.as_bytes(),
    );
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(s, 200, "{head} {v}");
    assert_eq!(
        (v["created"].clone(), v["updated"].clone()),
        (json!(2), json!(1)),
        "{v}"
    );
    let generated = v["generated"].as_array().unwrap();
    assert_eq!(generated.len(), 2);
    assert!(generated
        .iter()
        .all(|g| g["password"].as_str().unwrap().len() >= 8));
    let bad = "username,max_connections\ncabin4,1\nbad:name,1\ncabin5,900\n";
    let (s, _, b) = raw(
        a.http,
        "POST",
        "/api/viewers/import",
        &[
            ("Authorization", &basic("admin", PASSWORD)),
            ("Content-Type", "text/csv"),
        ],
        bad.as_bytes(),
    );
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(s, 400, "{v}");
    let lines: Vec<i64> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, vec![3, 4], "{v}");
    assert_eq!(
        a.api("GET", "/api/viewers/cabin4", None).0,
        404,
        "nothing imported"
    );
    // a CSV over viewer_import_max_kib is refused; a form's text/plain is refused (CSRF)
    let big = format!("username\n{}", "x\n".repeat(3000));
    let (s, _, _) = raw(
        a.http,
        "POST",
        "/api/viewers/import",
        &[
            ("Authorization", &basic("admin", PASSWORD)),
            ("Content-Type", "text/csv"),
        ],
        big.as_bytes(),
    );
    assert_eq!(s, 413);
    let (s, _, _) = raw(
        a.http,
        "POST",
        "/api/viewers/import",
        &[
            ("Authorization", &basic("admin", PASSWORD)),
            ("Content-Type", "text/plain"),
        ],
        csv.as_bytes(),
    );
    assert_eq!(s, 415);
    // export: every account, no password
    let (s, _, b) = raw(
        a.http,
        "GET",
        "/api/viewers/export",
        &[("Authorization", &basic("admin", PASSWORD))],
        b"",
    );
    let text = String::from_utf8(b).unwrap();
    assert_eq!(s, 200);
    assert!(text.starts_with(
        "username,password,enabled,expires,max_connections,groups,vod_categories,note"
    ));
    assert!(
        text.contains("cabin2,,true,,2,News|Sport,,deck 4"),
        "{text}"
    );
    assert!(!text.contains("newpw"));
    // a viewer account is no staff account
    let (s, _) = http(
        a.http,
        "GET",
        "/api/channels",
        Some(("cabin1", "newpw")),
        None,
    );
    assert_eq!(s, 401);
    // audit log, then delete
    let (_, log) = a.api("GET", "/api/audit", None);
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for want in ["viewer.create", "viewer.update", "viewer.import"] {
        assert!(actions.contains(&want), "{actions:?}");
    }
    assert!(
        !log.to_string().contains("newpw"),
        "passwords never reach the audit log"
    );
    assert_eq!(a.api("DELETE", "/api/viewers/cabin3", None).0, 204);
    assert_eq!(a.api("DELETE", "/api/viewers/cabin3", None).0, 404);
    let (_, list) = a.api("GET", "/api/viewers", None);
    let names: Vec<&str> = list["viewers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["cabin1", "cabin2"]);
}
