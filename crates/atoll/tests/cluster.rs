//! Edges against real origins, all running binaries on loopback: an edge follows the origin's
//! lineup and serves the origin's own segments (same bytes, numbers and times), records them for
//! catch-up, refuses local channel changes, and moves to the next origin when its origin dies.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const T: Duration = Duration::from_secs(60);
const KEY: &str = "\"cluster-test-key-0123456789\"";
const KEY_RAW: &str = "cluster-test-key-0123456789";

fn origin(name: &str) -> Atoll {
    Atoll::start_with(name, &[("segment_seconds", "2"), ("cluster_key", KEY)])
}

fn edge(name: &str, origins: &[&Atoll]) -> Atoll {
    let list: Vec<String> = origins
        .iter()
        .map(|o| format!("\"http://127.0.0.1:{}\"", o.http))
        .collect();
    let origins = format!("[{}]", list.join(", "));
    Atoll::start_with(
        name,
        &[
            ("segment_seconds", "2"),
            ("role", "\"edge\""),
            ("origins", &origins),
            ("cluster_key", KEY),
            ("node_name", &format!("\"{name}\"")),
        ],
    )
}

/// (seq, extinf, pdt, discontinuity before it) of every segment of a live playlist.
fn segments(text: &str) -> Vec<(u64, String, String, bool)> {
    let mut out = Vec::new();
    let (mut pdt, mut inf, mut disc) = (String::new(), String::new(), false);
    for l in text.lines() {
        if let Some(p) = l.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pdt = p.to_string();
        } else if let Some(d) = l.strip_prefix("#EXTINF:") {
            inf = d.to_string();
        } else if l == "#EXT-X-DISCONTINUITY" {
            disc = true;
        } else if let Some(seq) = l.strip_suffix(".ts") {
            out.push((seq.parse().unwrap(), inf.clone(), pdt.clone(), disc));
            disc = false;
        }
    }
    out
}

fn playlist(a: &Atoll, id: &str) -> String {
    let (s, b) = a.get(&format!("/live/{id}/index.m3u8"));
    if s != 200 {
        return String::new();
    }
    String::from_utf8(b).unwrap()
}

fn wait_segments(a: &Atoll, id: &str, n: usize) -> String {
    let mut text = String::new();
    a.wait_for(&format!("{n} segments of {id}"), T, || {
        text = playlist(a, id);
        segments(&text).len() >= n
    });
    text
}

#[test]
fn an_edge_serves_the_origins_own_segments_and_records_them() {
    require("ffprobe");
    let o = origin("cl-origin");
    let e1 = edge("cl-edge1", &[&o]);
    let e2 = edge("cl-edge2", &[&o]);
    // the edges took the origin's lineup: the demo channel, fed from the origin
    for e in [&e1, &e2] {
        e.wait_for("the demo channel on the edge", T, || {
            e.api("GET", "/api/channels", None).1[0]["id"] == "demo"
        });
    }
    let edge_text = wait_segments(&e1, "demo", 4);
    wait_segments(&e2, "demo", 4);
    // the same numbers, durations, times, and bytes on the origin and both edges
    let origin_text = playlist(&o, "demo");
    let on_origin = segments(&origin_text);
    let on_edge = segments(&edge_text);
    let mut compared = 0;
    for (seq, inf, pdt, _) in &on_edge {
        let Some(theirs) = on_origin.iter().find(|s| s.0 == *seq) else {
            continue;
        };
        assert_eq!((&theirs.1, &theirs.2), (inf, pdt), "segment {seq}");
        let path = format!("/live/demo/{seq}.ts");
        let (s0, b0) = o.get(&path);
        let (s1, b1) = e1.get(&path);
        let (s2, b2) = e2.get(&path);
        if s0 != 200 {
            continue; // slid out of the origin's window meanwhile
        }
        assert_eq!((s1, s2), (200, 200), "{path}");
        assert!(b0 == b1 && b0 == b2, "{path}: bytes differ");
        compared += 1;
    }
    assert!(
        compared >= 2,
        "compared {compared}\n{origin_text}\n{edge_text}"
    );
    // a real player reads the edge's live playlist
    let streams = ffprobe_streams(&e1.url("/live/demo/index.m3u8"));
    assert!(streams.iter().any(|s| s.starts_with("h264")), "{streams:?}");

    // the edge records the channel: a catch-up range plays from its own archive
    e1.wait_for("segments in the edge's archive", T, || {
        e1.api("GET", "/api/channels/demo/recording", None).1["segments"]
            .as_i64()
            .unwrap_or(0)
            >= 3
    });
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let range = format!("/live/demo/index-{}-120.m3u8", now_s - 100);
    let (s, body) = e1.get(&range);
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("#EXT-X-ENDLIST"), "{text}");
    let (_, dur) = ffmpeg_read(&e1.url(&range), 30);
    assert!(dur >= 4.0, "{dur} s read from the edge's archive");

    // the edge's channels are the origin's: local changes are refused
    let (s, v) = e1.api(
        "POST",
        "/api/channels",
        Some(&json!({"id": "local", "name": "Local"}).to_string()),
    );
    assert_eq!((s, v["error"].as_str()), (409, Some("edge")), "{v}");
    let (s, _) = e1.api("DELETE", "/api/channels/demo", None);
    assert_eq!(s, 409);
    // and the cluster API wants the key
    let (s, _) = e1.get("/api/cluster/lineup");
    assert_eq!(s, 401);
    let (s, _, _) = raw(
        o.http,
        "GET",
        "/api/cluster/lineup",
        &[("x-atoll-cluster-key", "wrong-key-wrong-key-wrong")],
        b"",
    );
    assert_eq!(s, 401);
    let (s, _, b) = raw(
        o.http,
        "GET",
        "/api/cluster/lineup",
        &[("x-atoll-cluster-key", KEY_RAW)],
        b"",
    );
    assert_eq!(s, 200);
    let lineup: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(lineup["channels"][0]["id"], "demo");
    assert!(
        lineup["channels"][0].get("sources").is_none(),
        "no sources go to edges"
    );
    // origin:// is not a source an origin takes
    let (s, v) = o.api(
        "POST",
        "/api/channels",
        Some(&json!({"id": "loop", "name": "Loop", "sources": ["origin://demo"]}).to_string()),
    );
    assert_eq!((s, v["field"].as_str()), (422, Some("sources")), "{v}");
}

#[test]
fn an_edge_follows_the_origins_lineup_within_seconds() {
    let o = origin("cl-lineup-origin");
    let e = edge("cl-lineup-edge", &[&o]);
    let ids = |a: &Atoll| -> Vec<String> {
        a.api("GET", "/api/channels", None)
            .1
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|c| c["id"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    e.wait_for("the demo channel", T, || ids(&e) == ["demo"]);
    let body = json!({"id": "news", "name": "News", "number": 7, "sources": ["testsrc://?size=320x240"], "record": false});
    assert_eq!(
        o.api("POST", "/api/channels", Some(&body.to_string())).0,
        201
    );
    let added = Instant::now();
    e.wait_for("news on the edge", Duration::from_secs(5), || {
        ids(&e).contains(&"news".to_string())
    });
    assert!(added.elapsed() < Duration::from_secs(5));
    let on_edge = e.channel("news");
    assert_eq!(on_edge["name"], "News");
    assert_eq!(on_edge["number"], 7);
    assert_eq!(on_edge["record"], false);
    // and it plays there
    wait_segments(&e, "news", 2);
    // renamed and renumbered
    let (s, _) = o.api(
        "PUT",
        "/api/channels/news",
        Some(&json!({"name": "World News", "number": 8}).to_string()),
    );
    assert_eq!(s, 200);
    e.wait_for("the change on the edge", Duration::from_secs(5), || {
        let c = e.channel("news");
        c["name"] == "World News" && c["number"] == 8
    });
    // deleted
    assert_eq!(o.api("DELETE", "/api/channels/news", None).0, 204);
    e.wait_for("news gone from the edge", Duration::from_secs(5), || {
        !ids(&e).contains(&"news".to_string())
    });
    assert_eq!(e.get("/live/news/index.m3u8").0, 404);
}

#[test]
fn an_edge_moves_to_the_next_origin_when_its_origin_dies() {
    let mut a = origin("cl-fail-a");
    let b = origin("cl-fail-b");
    let e = edge("cl-fail-edge", &[&a, &b]);
    wait_segments(&e, "demo", 3);
    let before = segments(&playlist(&e, "demo"));
    let last_before = before.last().unwrap().0;
    assert!(
        e.channel("demo")["active_source"]
            .as_str()
            .unwrap_or_default()
            .contains(&a.http.to_string()),
        "{}",
        e.channel("demo")
    );
    a.child.kill().unwrap(); // SIGKILL: no goodbye
    a.child.wait().unwrap();
    let killed = Instant::now();
    // new segments keep coming, now from B, numbered after what the edge served
    let mut text = String::new();
    e.wait_for("segments from the second origin", T, || {
        text = playlist(&e, "demo");
        segments(&text).iter().filter(|s| s.0 > last_before).count() >= 3
    });
    assert!(
        killed.elapsed() < Duration::from_secs(20),
        "{:?}",
        killed.elapsed()
    );
    let after = segments(&text);
    for w in after.windows(2) {
        assert!(w[1].0 > w[0].0, "numbers rise: {text}");
        assert!(w[1].2 > w[0].2, "times rise: {text}");
    }
    assert!(
        after.iter().any(|s| s.0 > last_before && s.3),
        "the switch is a discontinuity: {text}"
    );
    let ch = e.channel("demo");
    assert_eq!(ch["state"], "live", "{ch}");
    assert!(
        ch["active_source"]
            .as_str()
            .unwrap_or_default()
            .contains(&b.http.to_string()),
        "{ch}"
    );
}
