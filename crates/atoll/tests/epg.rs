//! The guide against real files and a real (failing) HTTP server; exports checked as apps and
//! validators read them (epg's M3U reader as Kodi parses it, xmllint against the XMLTV DTD).

mod common;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(30);

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/xmltv")
        .canonicalize()
        .unwrap()
}

/// XMLTV time in +0800 for unix seconds.
fn xmltv_time_plus8(t: i64) -> String {
    let local = t + 8 * 3600;
    let (y, m, d) = media::time::civil_from_days(local.div_euclid(86_400));
    let sod = local.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02} +0800",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// A guide for XMLTV channel `cctv1.cn`: 30-minute programmes with Chinese titles, from 2 h ago for 6 h.
fn chinese_guide(first_title: &str) -> String {
    let start = now_s() / 1800 * 1800 - 2 * 3600;
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tv generator-info-name=\"test\">\n",
    );
    x.push_str(
        "  <channel id=\"cctv1.cn\"><display-name lang=\"zh\">中央一台</display-name></channel>\n",
    );
    x.push_str("  <channel id=\"other.cn\"><display-name>Other</display-name></channel>\n");
    for k in 0..12 {
        let (a, b) = (start + k * 1800, start + (k + 1) * 1800);
        let title = if k == 0 {
            first_title.to_string()
        } else {
            format!("新闻联播 第{k}集")
        };
        x.push_str(&format!(
            "  <programme start=\"{}\" stop=\"{}\" channel=\"cctv1.cn\"><title lang=\"zh\">{title}</title>\
             <desc lang=\"zh\">今日要闻 &amp; 天气预报</desc><category lang=\"en\">News</category></programme>\n",
            xmltv_time_plus8(a),
            xmltv_time_plus8(b)
        ));
    }
    x.push_str("</tv>\n");
    x
}

fn source_status(a: &Atoll, id: i64) -> Value {
    a.api("GET", &format!("/api/epg/sources/{id}"), None).1
}

#[test]
fn guide_sync_api_and_exports() {
    let a = Atoll::start("epg");
    // file sources are read from the guide directory only (default {data}/guides)
    let dir = a.dir.join("data").join("guides");
    let guide_path = dir.join("guide.xml");
    std::fs::write(&guide_path, chinese_guide("开播典礼")).unwrap();
    let (s, v) = a.api("POST", "/api/channels", Some(r#"{"id":"cctv1","name":"CCTV-1","sources":["testsrc://"],"number":11,"epg_id":"cctv1.cn"}"#));
    assert_eq!(s, 201, "{v}");
    // no epg_id: matched by its exact display name
    let (s, v) = a.api(
        "POST",
        "/api/channels",
        Some(r#"{"id":"byname","name":"中央一台","sources":[]}"#),
    );
    assert_eq!(s, 201, "{v}");
    let body = json!({"name": "local", "url": guide_path.to_str().unwrap()}).to_string();
    let (s, src) = a.api("POST", "/api/epg/sources", Some(&body));
    assert_eq!(s, 201, "{src}");
    let id = src["id"].as_i64().unwrap();
    a.wait_for("first sync", T, || {
        source_status(&a, id)["last_success"].is_string()
    });
    let st = source_status(&a, id);
    assert_eq!(st["programmes_seen"], 12, "{st}");
    assert_eq!(st["programmes_imported"], 24, "{st}");
    let by_name = a.api("GET", "/api/epg?channel=byname", None).1;
    assert_eq!(
        by_name["programmes"].as_array().unwrap().len(),
        12,
        "{by_name}"
    );
    assert_eq!(st["unmatched_channels"], json!(["other.cn"]));
    // the guide API: UTF-8 round-trips exactly, times honour +0800
    let (s, g) = a.api("GET", "/api/epg?channel=cctv1", None);
    assert_eq!(s, 200, "{g}");
    let progs = g["programmes"].as_array().unwrap();
    assert_eq!(progs.len(), 12, "{g}");
    assert_eq!(progs[0]["title"], "开播典礼");
    assert_eq!(progs[0]["description"], "今日要闻 & 天气预报");
    assert_eq!(
        progs[0]["start"].as_i64().unwrap(),
        now_s() / 1800 * 1800 - 2 * 3600
    );
    assert!(progs[0]["url"]
        .as_str()
        .unwrap_or("/live/cctv1/index-")
        .starts_with("/live/cctv1/index-"));
    let (_, nn) = a.api("GET", "/api/epg/now", None);
    let row = nn
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["channel"] == "cctv1")
        .unwrap()
        .clone();
    assert!(
        row["now"]["title"]
            .as_str()
            .unwrap()
            .starts_with("新闻联播"),
        "{row}"
    );
    assert!(row["next"]["title"].is_string());
    let (_, found) = a.api("GET", "/api/epg/search?q=%E5%BC%80%E6%92%AD", None); // 开播
    assert_eq!(found["results"].as_array().unwrap().len(), 2, "{found}"); // both channels carry it
                                                                          // re-importing the same file changes nothing
    let before = a.api("GET", "/api/epg?channel=cctv1", None).1;
    assert_eq!(
        a.api("POST", &format!("/api/epg/sources/{id}/sync"), None)
            .0,
        202
    );
    let first_success = st["last_success"].clone();
    a.wait_for("second sync", T, || {
        source_status(&a, id)["last_success"] != first_success
    });
    assert_eq!(a.api("GET", "/api/epg?channel=cctv1", None).1, before);
    // a broken file keeps the last good guide and says what was wrong, and where
    let broken = chinese_guide("开播典礼");
    std::fs::write(&guide_path, &broken[..broken.len() / 2]).unwrap();
    assert_eq!(
        a.api("POST", &format!("/api/epg/sources/{id}/sync"), None)
            .0,
        202
    );
    a.wait_for("failed sync", T, || {
        source_status(&a, id)["last_error"].is_string()
    });
    let st = source_status(&a, id);
    let err = st["last_error"].as_str().unwrap();
    assert!(err.contains("line"), "{err}");
    assert_eq!(st["consecutive_failures"], 1);
    assert_eq!(
        a.api("GET", "/api/epg?channel=cctv1", None).1,
        before,
        "the last good guide stays"
    );
    // exports: the M3U as an app reads it
    let (s, m3u) = a.get("/playlist.m3u");
    assert_eq!(s, 200);
    let m3u = String::from_utf8(m3u).unwrap();
    let header = m3u.lines().next().unwrap();
    assert!(
        header.contains(&format!(
            "url-tvg=\"http://127.0.0.1:{}/epg.xml.gz\"",
            a.http
        )),
        "{header}"
    );
    let entries = epg::parse_m3u(&m3u);
    let e = entries
        .iter()
        .find(|e| e.tvg_id == "cctv1")
        .expect("cctv1 in the playlist");
    assert_eq!(e.tvg_chno, Some(11));
    assert_eq!(e.name, "CCTV-1");
    assert!(e.url.ends_with("/live/cctv1/index.m3u8"), "{}", e.url);
    assert!(
        e.catchup.is_some(),
        "recording channels offer catch-up: {m3u}"
    );
    // the XMLTV export is valid against the DTD and carries our ids
    let (s, xml) = a.get("/epg.xml");
    assert_eq!(s, 200);
    let xml_path = dir.join("export.xml");
    std::fs::write(&xml_path, &xml).unwrap();
    let out = Command::new("xmllint")
        .args(["--noout", "--dtdvalid"])
        .arg(fixtures().join("xmltv.dtd"))
        .arg(&xml_path)
        .output()
        .expect("xmllint (apt-get install -y libxml2-utils)");
    assert!(
        out.status.success(),
        "epg.xml is not valid: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(xml.clone()).unwrap();
    assert!(
        text.contains("<channel id=\"cctv1\">") && text.contains("开播典礼"),
        "{text}"
    );
    let (s, gz) = a.get("/epg.xml.gz");
    assert_eq!(s, 200);
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, xml);
}

#[test]
fn fixtures_import_and_a_failing_server_is_retried() {
    // file sources are read from the guide directory only
    let a = Atoll::start_with(
        "epgfix",
        &[(
            "guide_dir",
            &format!("{:?}", fixtures().display().to_string()),
        )],
    );
    for name in ["test.xml", "multilanguage.xml", "custom.xml", "simple.xml"] {
        let body =
            json!({"name": name, "url": fixtures().join(name).to_str().unwrap()}).to_string();
        let (s, v) = a.api("POST", "/api/epg/sources", Some(&body));
        assert_eq!(s, 201, "{v}");
    }
    a.wait_for("fixtures synced", T, || {
        let (_, list) = a.api("GET", "/api/epg/sources", None);
        list.as_array()
            .unwrap()
            .iter()
            .all(|s| s["last_success"].is_string())
    });
    // a server that always fails: the error is recorded and the next attempt is 30 s later
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            let mut buf = [0u8; 2048];
            let _ = c.read(&mut buf);
            let _ = c.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let body = json!({"name": "flaky", "url": format!("http://127.0.0.1:{port}/guide.xml.gz")})
        .to_string();
    let (s, v) = a.api("POST", "/api/epg/sources", Some(&body));
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    a.wait_for("a failed attempt", T, || {
        source_status(&a, id)["consecutive_failures"] == 1
    });
    let st = source_status(&a, id);
    assert!(st["last_error"].as_str().unwrap().contains("503"), "{st}");
    let parse = |k: &str| {
        let s = st[k].as_str().unwrap();
        let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
        let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
        let t: Vec<f64> = time.split(':').map(|x| x.parse().unwrap()).collect();
        media::time::days_from_civil(d[0], d[1] as u32, d[2] as u32) as f64 * 86400.0
            + t[0] * 3600.0
            + t[1] * 60.0
            + t[2]
    };
    let gap = parse("next_attempt") - parse("last_attempt");
    assert!((gap - 30.0).abs() < 1.0, "retry after {gap} s: {st}");
}
