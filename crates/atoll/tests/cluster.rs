//! Edges against real origins, all running binaries on loopback: an edge follows the origin's
//! lineup and serves the origin's own segments (same bytes, numbers and times), records them for
//! catch-up, refuses local channel changes, and moves to the next origin when its origin dies.

mod common;

use std::process::Command;
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
    edge_with(name, origins, &[])
}

fn edge_with(name: &str, origins: &[&Atoll], extra: &[(&str, &str)]) -> Atoll {
    let list: Vec<String> = origins
        .iter()
        .map(|o| format!("\"http://127.0.0.1:{}\"", o.http))
        .collect();
    let origins = format!("[{}]", list.join(", "));
    let node = format!("\"{name}\"");
    let mut cfg = vec![
        ("segment_seconds", "2"),
        ("role", "\"edge\""),
        ("origins", &origins),
        ("cluster_key", KEY),
        ("node_name", &node),
    ];
    cfg.extend_from_slice(extra);
    Atoll::start_with(name, &cfg)
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
    // the edge knows what the channel carries (read from the origin's segments)
    let ch = e1.channel("demo");
    assert_eq!(
        ch["video"]["codec"],
        o.channel("demo")["video"]["codec"],
        "{ch}"
    );
    assert!(ch["video"]["width"].as_u64().unwrap_or(0) > 0, "{ch}");
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
    let e = edge_with("cl-lineup-edge", &[&o], &[("edge_idle_seconds", "5")]);
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
    // it does not record: the edge pulls it only when asked for
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(e.channel("news")["state"], "idle");
    wait_segments(&e, "news", 2);
    // the state follows on the relay's next tick (segments the origin already had come at once)
    e.wait_for("news live on the edge", Duration::from_secs(5), || {
        e.channel("news")["state"] == "live"
    });
    // and stops pulling a while after the last viewer (the channel API asks nothing)
    e.wait_for("news idle again", Duration::from_secs(20), || {
        e.channel("news")["state"] == "idle"
    });
    assert_eq!(e.get("/api/player/channels").0, 200);
    // the origin's guide follows: a source on the origin, its programmes on the edge
    let guides = o.dir.join("data").join("guides");
    std::fs::create_dir_all(&guides).unwrap();
    std::fs::write(
        guides.join("news.xml"),
        guide_xml("news.test", "Bulletin", 8),
    )
    .unwrap();
    let (s, _) = o.api(
        "PUT",
        "/api/channels/news",
        Some(&json!({"epg_id": "news.test"}).to_string()),
    );
    assert_eq!(s, 200);
    let (s, v) = o.api(
        "POST",
        "/api/epg/sources",
        Some(&json!({"name": "news", "url": "news.xml"}).to_string()),
    );
    assert_eq!(s, 201, "{v}");
    let titles = |a: &Atoll| -> Vec<String> {
        a.api("GET", "/api/epg?channel=news", None).1["programmes"]
            .as_array()
            .map(|p| {
                p.iter()
                    .map(|p| p["title"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    o.wait_for("the guide on the origin", T, || titles(&o).len() == 8);
    e.wait_for(
        "the same guide on the edge",
        Duration::from_secs(10),
        || titles(&e) == titles(&o),
    );
    // renamed, renumbered and another preferred audio language
    let (s, _) = o.api(
        "PUT",
        "/api/channels/news",
        Some(&json!({"name": "World News", "number": 8, "audio_language": "en"}).to_string()),
    );
    assert_eq!(s, 200);
    e.wait_for("the change on the edge", Duration::from_secs(5), || {
        let c = e.channel("news");
        c["name"] == "World News" && c["number"] == 8 && c["audio_language"] == "eng"
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

/// GET `path` from `port` with the connection's source address `from` (127.0.0.x): the status
/// and the Location header.
fn get_from(from: &str, port: u16, path: &str) -> (u16, Option<String>) {
    let sock = std::net::TcpListener::bind((from, 0)).unwrap(); // the address is usable
    drop(sock);
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(
        &format!("{from}:0")
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    s.connect(
        &format!("127.0.0.1:{port}")
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    let mut stream: std::net::TcpStream = s.into();
    use std::io::{Read, Write};
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = Vec::new();
    let _ = stream.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp);
    let head = text.split("\r\n\r\n").next().unwrap_or("").to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head_value(&head, "location"))
}

#[test]
fn edges_report_and_viewers_are_sent_to_a_healthy_edge_of_their_subnet() {
    require("ffprobe");
    let o = Atoll::start_with(
        "cl-redirect-origin",
        &[
            ("segment_seconds", "2"),
            ("cluster_key", KEY),
            ("cluster", "{ redirect = \"on\" }"),
        ],
    );
    let mut e1 = edge("cl-redirect-e1", &[&o]);
    let e2 = edge("cl-redirect-e2", &[&o]);
    // both edges report: healthy, with their load and a clock offset near zero
    let nodes = || o.api("GET", "/api/cluster/nodes", None).1;
    o.wait_for("two healthy edges", T, || {
        nodes()
            .as_array()
            .is_some_and(|n| n.iter().filter(|n| n["healthy"] == true).count() == 2)
    });
    for n in nodes().as_array().unwrap() {
        assert_eq!(n["role"], "edge", "{n}");
        assert!(n["clock_offset_ms"].as_i64().unwrap().abs() < 2_000, "{n}");
        assert!(
            n["cpu"].is_number() && n["disk_free"].as_u64().unwrap() > 0,
            "{n}"
        );
        assert!(
            n["public_url"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:"),
            "{n}"
        );
    }
    // a bad report is refused, naming the field, and changes nothing
    let report = |body: &[u8]| {
        raw(
            o.http,
            "POST",
            "/api/cluster/report",
            &[
                ("x-atoll-cluster-key", KEY_RAW),
                ("Content-Type", "application/json"),
            ],
            body,
        )
    };
    let bad = json!({"node": "a/b", "role": "edge", "public_url": null, "viewers": 0, "egress_mbps": 0.0,
        "cpu_percent": 0.0, "disk_free_bytes": 0, "channels_pulled": 0, "channels_recorded": 0,
        "archive_lag_s": null, "sent_utc_ms": 0});
    let (s, _, b) = report(bad.to_string().as_bytes());
    assert_eq!(s, 422, "{}", String::from_utf8_lossy(&b));
    assert!(String::from_utf8_lossy(&b).contains("\"field\":\"node\""));
    assert_eq!(report(b"{not json").0, 400);
    assert_eq!(report(&vec![b' '; 64 << 10]).0, 413);
    assert_eq!(nodes().as_array().unwrap().len(), 2);
    // the operator gives each edge its subnet
    for (name, subnet) in [
        ("cl-redirect-e1", "127.0.0.2/32"),
        ("cl-redirect-e2", "127.0.0.3/32"),
    ] {
        let (s, v) = o.api(
            "PUT",
            &format!("/api/cluster/nodes/{name}"),
            Some(&json!({"max_viewers": 3000, "max_mbps": 300, "subnets": [subnet]}).to_string()),
        );
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = o.api(
        "PUT",
        "/api/cluster/nodes/cl-redirect-e1",
        Some(&json!({"subnets": ["not a subnet"]}).to_string()),
    );
    assert_eq!((s, v["field"].as_str()), (422, Some("subnets")), "{v}");
    wait_segments(&e1, "demo", 2);
    wait_segments(&e2, "demo", 2);
    let e1_url = format!("http://127.0.0.1:{}", e1.http);
    let e2_url = format!("http://127.0.0.1:{}", e2.http);
    // each client is sent to the edge of its subnet, to the same URL
    let (s, loc) = get_from("127.0.0.2", o.http, "/live/demo/index.m3u8");
    assert_eq!(s, 302);
    assert_eq!(
        loc.as_deref(),
        Some(&*format!("{e1_url}/live/demo/index.m3u8?abs=1"))
    );
    let (s, loc) = get_from("127.0.0.3", o.http, "/live/demo/mpegts");
    assert_eq!(s, 302);
    assert_eq!(
        loc.as_deref(),
        Some(&*format!("{e2_url}/live/demo/mpegts?abs=1"))
    );
    // segments are not redirected (a player that resolved them against the origin still plays)
    let seq = segments(&playlist(&e1, "demo")).last().unwrap().0; // the origin's numbers
    assert_eq!(
        get_from("127.0.0.2", o.http, &format!("/live/demo/{seq}.ts")).0,
        200
    );
    // the edge writes absolute URLs for a redirected player
    let (s, b) = e1.get("/live/demo/index.m3u8?abs=1");
    assert_eq!(s, 200);
    let text = String::from_utf8(b).unwrap();
    let uris: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(
        !uris.is_empty()
            && uris
                .iter()
                .all(|u| u.starts_with(&format!("{e1_url}/live/demo/"))),
        "{text}"
    );
    // a real player follows the redirect and plays from the edge
    let streams = ffprobe_streams(&o.url("/live/demo/index.m3u8"));
    assert!(streams.iter().any(|s| s.starts_with("h264")), "{streams:?}");
    // an edge that stops reporting is no longer named: its subnet goes to the other edge
    e1.child.kill().unwrap();
    e1.child.wait().unwrap();
    let killed = Instant::now();
    o.wait_for("the dead edge passed over", Duration::from_secs(15), || {
        get_from("127.0.0.2", o.http, "/live/demo/index.m3u8")
            .1
            .as_deref()
            == Some(&*format!("{e2_url}/live/demo/index.m3u8?abs=1"))
    });
    assert!(
        killed.elapsed() < Duration::from_secs(10),
        "{:?}",
        killed.elapsed()
    );
    assert!(nodes()
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["name"] == "cl-redirect-e1" && n["healthy"] == false));
    // with no edge left the origin serves the viewer itself
    drop(e2);
    o.wait_for("no edge left", Duration::from_secs(15), || {
        get_from("127.0.0.3", o.http, "/live/demo/index.m3u8").0 == 200
    });
}

/// `dig` against the responder; the whole output.
fn dig(port: u16, args: &[&str]) -> String {
    let out = std::process::Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+time=2",
            "+tries=1",
            "+nocookie",
        ])
        .args(args)
        .output()
        .expect("dig");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn dig_a(port: u16, args: &[&str]) -> String {
    let mut a = vec!["tv.island.lan", "A", "+short"];
    a.extend_from_slice(args);
    dig(port, &a).trim().to_string()
}

#[test]
fn dns_names_the_best_healthy_edge_for_the_asking_subnet() {
    require("dig");
    let dns_port = free_udp_port();
    let cluster = format!(
        "{{ dns_listen = \"127.0.0.1:{dns_port}\", dns_name = \"tv.island.lan\", dns_ttl = 10, \
         dns_tcp_max_connections = 8, dns_tcp_idle_seconds = 2 }}"
    );
    let o = Atoll::start_with(
        "cl-dns-origin",
        &[
            ("segment_seconds", "2"),
            ("cluster_key", KEY),
            ("cluster", &cluster),
        ],
    );
    // a backup origin answers too: it follows the primary's settings for each node
    let backup_dns_port = free_udp_port();
    let b = Atoll::start_with(
        "cl-dns-backup",
        &[
            ("segment_seconds", "2"),
            ("cluster_key", KEY),
            ("follow", &format!("\"http://127.0.0.1:{}\"", o.http)),
            (
                "cluster",
                &cluster.replace(&dns_port.to_string(), &backup_dns_port.to_string()),
            ),
        ],
    );
    let edge_at = |name: &str, addr: &str| {
        Atoll::start_with(
            name,
            &[
                ("segment_seconds", "2"),
                ("role", "\"edge\""),
                (
                    "origins",
                    &format!(
                        "[\"http://127.0.0.1:{}\", \"http://127.0.0.1:{}\"]",
                        o.http, b.http
                    ),
                ),
                ("cluster_key", KEY),
                ("node_name", &format!("\"{name}\"")),
                ("public_url", &format!("\"http://{addr}:8080\"")),
            ],
        )
    };
    let mut e1 = edge_at("cl-dns-e1", "127.0.0.12");
    let mut e2 = edge_at("cl-dns-e2", "127.0.0.13");
    for (name, subnets) in [
        ("cl-dns-e1", json!(["10.1.0.0/16", "127.0.0.2/32"])),
        ("cl-dns-e2", json!(["10.2.0.0/16", "127.0.0.3/32"])),
    ] {
        let (s, _) = o.api(
            "PUT",
            &format!("/api/cluster/nodes/{name}"),
            Some(&json!({"subnets": subnets}).to_string()),
        );
        assert_eq!(s, 200);
    }
    o.wait_for("both edges named", T, || {
        dig_a(dns_port, &["+subnet=10.1.2.0/24"]) == "127.0.0.12"
            && dig_a(dns_port, &["+subnet=10.2.9.0/24"]) == "127.0.0.13"
    });
    b.wait_for("both edges named by the backup", T, || {
        dig_a(backup_dns_port, &["+subnet=10.1.2.0/24"]) == "127.0.0.12"
            && dig_a(backup_dns_port, &["+subnet=10.2.9.0/24"]) == "127.0.0.13"
    });
    let settings = |a: &Atoll| {
        let mut v: Vec<String> = a
            .api("GET", "/api/cluster/nodes", None)
            .1
            .as_array()
            .unwrap()
            .iter()
            .map(|n| format!("{} {} {}", n["name"], n["subnets"], n["max_viewers"]))
            .collect();
        v.sort();
        v
    };
    assert_eq!(settings(&b), settings(&o));
    // the asker's own address when there is no client subnet, over UDP and TCP
    assert_eq!(dig_a(dns_port, &["-b", "127.0.0.2"]), "127.0.0.12");
    assert_eq!(dig_a(dns_port, &["-b", "127.0.0.3", "+tcp"]), "127.0.0.13");
    // authoritative, short TTL, the subnet echoed with the scope of the operator's rule
    let full = dig(
        dns_port,
        &["tv.island.lan", "A", "+subnet=10.1.2.0/24", "+norec"],
    );
    assert!(full.contains(" aa"), "{full}");
    assert!(full.contains("CLIENT-SUBNET: 10.1.2.0/24/16"), "{full}");
    assert!(
        full.lines()
            .any(|l| l.starts_with("tv.island.lan.") && l.contains("\t10\tIN\tA\t127.0.0.12")),
        "{full}"
    );
    // the zone: SOA and NS at the apex, NXDOMAIN below, REFUSED outside
    assert!(dig(dns_port, &["tv.island.lan", "SOA", "+short"]).contains("ns.tv.island.lan."));
    assert!(dig(dns_port, &["tv.island.lan", "NS", "+short"]).contains("ns.tv.island.lan."));
    assert!(dig(dns_port, &["nope.tv.island.lan", "A"]).contains("status: NXDOMAIN"));
    assert!(dig(dns_port, &["example.com", "A"]).contains("status: REFUSED"));
    // hostile clients: TCP connections that send nothing (more than the cap) and UDP garbage;
    // UDP answers go on at once, TCP once the idle ones are closed
    let idle: Vec<std::net::TcpStream> = (0..20)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", dns_port)).ok())
        .collect();
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut state = 0x1234_5678_9abc_def0u64;
    for i in 0..2_000usize {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = 1 + (state % 600) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|j| (state >> (j % 56)) as u8 ^ i as u8)
            .collect();
        let _ = junk.send_to(&bytes, ("127.0.0.1", dns_port));
    }
    assert_eq!(dig_a(dns_port, &["+subnet=10.1.2.0/24"]), "127.0.0.12");
    o.wait_for("TCP answered again", Duration::from_secs(10), || {
        dig_a(dns_port, &["+subnet=10.1.2.0/24", "+tcp"]) == "127.0.0.12"
    });
    drop(idle);
    // an edge that stops reporting is not named any more: its clients go to the other edge
    e1.child.kill().unwrap();
    e1.child.wait().unwrap();
    let killed = Instant::now();
    o.wait_for("the dead edge dropped", Duration::from_secs(15), || {
        dig_a(dns_port, &["+subnet=10.1.2.0/24"]) == "127.0.0.13"
    });
    assert!(
        killed.elapsed() < Duration::from_secs(10),
        "{:?}",
        killed.elapsed()
    );
    // no edge left: the origin's own address
    e2.child.kill().unwrap();
    e2.child.wait().unwrap();
    o.wait_for("the origin itself", Duration::from_secs(15), || {
        dig_a(dns_port, &["+subnet=10.2.9.0/24"]) == "127.0.0.1"
    });
}

/// A TCP relay to `to` that the test can cut (connections refused, open ones closed) and restore:
/// the backbone link of an edge.
struct Link {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Link {
    fn new(to: u16) -> Link {
        use std::sync::atomic::Ordering::Relaxed;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::<std::net::TcpStream>::new()));
        let (c, o) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for a in l.incoming() {
                let Ok(a) = a else { continue };
                if c.load(Relaxed) {
                    continue; // dropped: the peer sees its connection closed
                }
                let Ok(b) = std::net::TcpStream::connect(("127.0.0.1", to)) else {
                    continue;
                };
                {
                    let mut o = o.lock().unwrap();
                    o.push(a.try_clone().unwrap());
                    o.push(b.try_clone().unwrap());
                }
                for (mut r, mut w) in [(a.try_clone().unwrap(), b.try_clone().unwrap()), (b, a)] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut r, &mut w);
                        let _ = w.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Link { port, cut, open }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.store(cut, std::sync::atomic::Ordering::Relaxed);
        if cut {
            for s in self.open.lock().unwrap().drain(..) {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

#[test]
fn an_edge_cut_off_from_its_origin_back_fills_its_archive() {
    let o = origin("cl-backfill-origin");
    let link = Link::new(o.http);
    let e = Atoll::start_with(
        "cl-backfill-edge",
        &[
            ("segment_seconds", "2"),
            ("role", "\"edge\""),
            ("origins", &format!("[\"http://127.0.0.1:{}\"]", link.port)),
            ("cluster_key", KEY),
        ],
    );
    e.wait_for("the edge recording", T, || {
        e.api("GET", "/api/channels/demo/recording", None).1["segments"]
            .as_i64()
            .unwrap_or(0)
            >= 3
    });
    let cut_at = now_s();
    link.set_cut(true);
    e.wait_for("the edge noticing", T, || {
        e.channel("demo")["state"] != "live"
    });
    std::thread::sleep(Duration::from_secs(20));
    link.set_cut(false);
    let restored_at = now_s();
    wait_segments(&e, "demo", 3);
    // the hole while cut off is recorded as a gap, then filled from the origin's archive
    let gaps = |a: &Atoll| {
        a.api(
            "GET",
            &format!(
                "/api/channels/demo/archive?from={}&to={}",
                cut_at - 4,
                restored_at + 4
            ),
            None,
        )
        .1["gaps"]
            .as_array()
            .map(|g| g.len())
            .unwrap_or(99)
    };
    assert_eq!(gaps(&o), 0, "the origin recorded all along");
    e.wait_for("the hole seen on the edge", Duration::from_secs(15), || {
        gaps(&e) >= 1
    });
    e.wait_for(
        "the edge's hole back-filled",
        Duration::from_secs(90),
        || gaps(&e) == 0,
    );
    // and the minute plays from the edge's own archive
    let range = format!(
        "/live/demo/index-{}-{}.m3u8",
        cut_at - 2,
        restored_at - cut_at + 4
    );
    let (_, dur) = ffmpeg_read(&e.url(&range), 60);
    assert!(
        dur >= (restored_at - cut_at) as f64,
        "{dur} s played of the {} s cut off",
        restored_at - cut_at
    );
}

#[test]
fn a_backup_origin_follows_the_primary_read_only_until_promoted() {
    let p = origin("cl-primary");
    let b = Atoll::start_with(
        "cl-backup",
        &[
            ("segment_seconds", "2"),
            ("cluster_key", KEY),
            ("follow", &format!("\"http://127.0.0.1:{}\"", p.http)),
        ],
    );
    // the primary's channels, sources and keys included, within seconds
    let sports = json!({"id": "sports", "name": "Sports", "sources": ["testsrc://?size=320x240"], "audio_language": "spa"});
    let studio = json!({"id": "studio", "name": "Studio", "publish_key": "studio-key-1"});
    for c in [&sports, &studio] {
        assert_eq!(p.api("POST", "/api/channels", Some(&c.to_string())).0, 201);
    }
    b.wait_for(
        "the primary's channels on the backup",
        Duration::from_secs(5),
        || {
            b.api("GET", "/api/channels/studio", None).0 == 200
                && b.api("GET", "/api/channels/sports", None).0 == 200
        },
    );
    assert_eq!(
        b.channel("sports")["sources"],
        p.channel("sports")["sources"]
    );
    assert_eq!(b.channel("studio")["publish_key"], "studio-key-1");
    assert_eq!(b.channel("sports")["audio_language"], "spa");
    assert_eq!(b.channel("studio")["audio_language"], "");
    // it ingests them itself
    wait_segments(&b, "sports", 2);
    // and refuses changes of its own while following
    let (s, v) = b.api(
        "POST",
        "/api/channels",
        Some(&json!({"id": "mine", "name": "Mine"}).to_string()),
    );
    assert_eq!((s, v["error"].as_str()), (409, Some("following")), "{v}");
    // the primary's library too: the catalogue and a verified copy of every file
    let film = vod_film(&temp_dir("cl-backup-vod"));
    let id = vod_import(&p, &film);
    let copy = b.dir.join(format!("data/vod/{id}/media.mp4"));
    b.wait_for(
        "the film mirrored on the backup",
        Duration::from_secs(60),
        || copy.exists(),
    );
    assert!(
        std::fs::read(&copy).unwrap()
            == std::fs::read(p.dir.join(format!("data/vod/{id}/media.mp4"))).unwrap()
    );
    let (s, v) = b.api("PUT", &format!("/api/vod/{id}"), Some(r#"{"title": "x"}"#));
    assert_eq!((s, v["error"].as_str()), (409, Some("following")), "{v}");
    // the primary's guide sources too: kept, but not synced by the backup while it follows
    let src = json!({
        "name": "Primary's guide",
        "url": format!("http://127.0.0.1:{}/epg.xml", p.http),
        "refresh_minutes": 60
    });
    let (s, v) = p.api("POST", "/api/epg/sources", Some(&src.to_string()));
    assert_eq!(s, 201, "{v}");
    let source = format!("/api/epg/sources/{}", v["id"]);
    b.wait_for(
        "the primary's guide source on the backup",
        Duration::from_secs(5),
        || b.api("GET", &source, None).0 == 200,
    );
    let on_backup = b.api("GET", &source, None).1;
    assert_eq!(
        (&on_backup["name"], &on_backup["url"]),
        (&src["name"], &src["url"]),
        "{on_backup}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(b.api("GET", &source, None).1["last_attempt"].is_null());
    // promoted from the command line while it runs: it takes changes, and follows no more
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_atoll"))
        .args(["cluster", "promote", "--data"])
        .arg(b.dir.join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("promoted"));
    b.wait_for("the backup taking changes", Duration::from_secs(5), || {
        b.api(
            "POST",
            "/api/channels",
            Some(
                &json!({"id": "mine", "name": "Mine", "sources": ["testsrc://?size=320x240"]})
                    .to_string(),
            ),
        )
        .0 == 201
    });
    assert_eq!(
        p.api(
            "POST",
            "/api/channels",
            Some(&json!({"id": "later", "name": "Later"}).to_string())
        )
        .0,
        201
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(b.api("GET", "/api/channels/later", None).0, 404);
    assert_eq!(b.api("GET", "/api/channels/mine", None).0, 200);
    assert!(b.log_text().contains("promoted"));
    // the guide sources are its own now: it syncs them itself
    b.wait_for(
        "the backup syncing the guide source",
        Duration::from_secs(30),
        || b.api("GET", &source, None).1["last_attempt"].is_string(),
    );
    // the library is its own now: edits are taken and the film plays from its copy
    let (s, v) = b.api(
        "PUT",
        &format!("/api/vod/{id}"),
        Some(r#"{"title": "Backup's own"}"#),
    );
    assert_eq!(s, 200, "{v}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        b.api("GET", &format!("/api/vod/{id}"), None).1["title"],
        "Backup's own"
    );
    let (errors, _) = ffmpeg_read(&b.url(&format!("/vod/{id}/index.m3u8")), 60);
    assert!(errors.trim().is_empty(), "{errors}");
}

#[test]
fn the_consoles_nodes_page_shows_and_edits_a_real_edge() {
    let o = origin("cl-ui-origin");
    let _e = edge("cl-ui-edge", &[&o]);
    o.wait_for("the edge reporting", T, || {
        o.api("GET", "/api/cluster/nodes", None).1[0]["healthy"] == true
    });
    let shots =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let (v, report) = browser_script(
        "tests/admin-nodes.mjs",
        &[&o.url(""), PASSWORD, &shots.to_string_lossy(), "cl-ui-edge"],
        120,
    );
    assert_eq!(
        v["ok"], true,
        "{}\n{report}page errors: {}",
        v["error"], v["pageErrors"]
    );
    assert!(
        v["pageErrors"].as_array().is_none_or(|a| a.is_empty()),
        "{}",
        v["pageErrors"]
    );
    // what the page saved is what the API has
    let n = &o.api("GET", "/api/cluster/nodes", None).1[0];
    assert_eq!(n["max_viewers"], 3000);
    assert_eq!(n["subnets"], json!(["10.1.0.0/16", "10.2.0.0/16"]));
}

#[test]
fn a_catch_up_range_an_edge_lacks_is_fetched_from_the_origin_for_the_viewer() {
    let o = origin("cl-range-origin");
    o.wait_for("recorded on the origin", T, || {
        o.api("GET", "/api/channels/demo/recording", None).1["segments"]
            .as_i64()
            .unwrap_or(0)
            >= 12
    });
    // a range the origin recorded before the edge existed
    let from = now_s() - 22;
    let range = format!("/live/demo/index-{from}-12.m3u8");
    let e = edge("cl-range-edge", &[&o]);
    e.wait_for("the edge following", T, || {
        e.channel("demo")["id"] == "demo"
    });
    let (s, b) = e.get(&range);
    let first = String::from_utf8_lossy(&b).into_owned();
    assert!(
        s == 503
            || (s == 200 && first.contains("#EXT-X-PLAYLIST-TYPE:EVENT"))
            || first.contains("#EXT-X-ENDLIST"),
        "{s} {first}"
    );
    // the playlist grows until the range is whole, then it is the origin's
    let mut text = String::new();
    e.wait_for(
        "the whole range on the edge",
        Duration::from_secs(30),
        || {
            let (s, b) = e.get(&range);
            text = String::from_utf8_lossy(&b).into_owned();
            s == 200 && text.contains("#EXT-X-ENDLIST")
        },
    );
    let (_, ob) = o.get(&range);
    assert_eq!(
        text,
        String::from_utf8_lossy(&ob),
        "the same playlist as the origin's"
    );
    for uri in text.lines().filter(|l| l.ends_with(".ts")) {
        let path = format!("/live/demo/{uri}");
        assert_eq!(e.get(&path).1, o.get(&path).1, "{uri}");
    }
    let (_, dur) = ffmpeg_read(&e.url(&range), 30);
    assert!(dur >= 10.0, "{dur} s played from the edge");
}

/// A 20 s 640x480 H.264 + AAC MP4 (about 10 MB: several of the mirror's 4 MiB ranges) and an SRT.
fn vod_film(dir: &std::path::Path) -> std::path::PathBuf {
    require("ffmpeg");
    let film = dir.join("Reef.Film.mp4");
    let st = Command::new("ffmpeg")
        .args([
            "-y",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=640x480:rate=25:duration=20",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=20",
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "50",
            "-b:v",
            "4M",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ])
        .arg(&film)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(
        dir.join("Reef.Film.en.srt"),
        "1\n00:00:01,000 --> 00:00:04,000\nOn the reef\n",
    )
    .unwrap();
    film
}

fn vod_import(a: &Atoll, file: &std::path::Path) -> i64 {
    let out = Command::new(env!("CARGO_BIN_EXE_atoll"))
        .args(["vod", "import", "--data"])
        .arg(a.dir.join("data"))
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn an_edge_mirrors_the_origins_library_verified_and_follows_its_changes() {
    let dir = temp_dir("cluster-vod");
    let film = vod_film(&dir);
    let o = origin("vod-origin");
    let id = vod_import(&o, &film);
    let e = edge("vod-edge", &[&o]);
    // the catalogue, with the origin's id, within seconds
    let mut t = serde_json::Value::Null;
    e.wait_for("the title on the edge", Duration::from_secs(15), || {
        t = e.api("GET", &format!("/api/vod/{id}"), None).1;
        t["title"] == "Reef Film"
    });
    assert_eq!(t["subtitles"][0]["language"], "en", "{t}");
    // the file, mirrored in the background and identical
    let theirs = std::fs::read(o.dir.join(format!("data/vod/{id}/media.mp4"))).unwrap();
    let mine = e.dir.join(format!("data/vod/{id}/media.mp4"));
    e.wait_for("the file mirrored", Duration::from_secs(60), || {
        mine.exists()
    });
    assert!(
        std::fs::read(&mine).unwrap() == theirs,
        "the mirrored copy is the origin's file"
    );
    assert!(e.metric("atoll_vod_mirrored_titles_total") >= 1);
    for f in ["poster.jpg", "sub-0.vtt"] {
        assert!(
            e.dir.join(format!("data/vod/{id}/{f}")).exists(),
            "{f} mirrored"
        );
    }
    // played from the edge: HLS with the origin's duration, and the file
    let hls = e.url(&format!("/vod/{id}/index.m3u8"));
    let (errors, secs) = ffmpeg_read(&hls, 60);
    assert!(errors.trim().is_empty(), "{errors}");
    assert!((secs - 20.0).abs() < 0.5, "{secs}");
    let (s, b) = e.get(&format!("/vod/{id}/file.mp4"));
    assert_eq!((s, b.len()), (200, theirs.len()));
    // changes are the origin's: made there, refused here
    let (s, _) = o.api(
        "PUT",
        &format!("/api/vod/{id}"),
        Some(r#"{"title": "珊瑚礁", "category": "Nature"}"#),
    );
    assert_eq!(s, 200);
    e.wait_for("the new title on the edge", Duration::from_secs(15), || {
        let t = e.api("GET", &format!("/api/vod/{id}"), None).1;
        t["title"] == "珊瑚礁" && t["category"] == "Nature"
    });
    let (s, v) = e.api("PUT", &format!("/api/vod/{id}"), Some(r#"{"title": "x"}"#));
    assert_eq!((s, v["error"].as_str()), (409, Some("edge")), "{v}");
    let (s, _) = o.api("DELETE", &format!("/api/vod/{id}"), None);
    assert_eq!(s, 204);
    e.wait_for(
        "the title gone from the edge",
        Duration::from_secs(15),
        || {
            e.api("GET", &format!("/api/vod/{id}"), None).0 == 404
                && !e.dir.join(format!("data/vod/{id}")).exists()
        },
    );
}

#[test]
fn an_edge_plays_a_title_it_has_not_mirrored_at_once_resumes_the_copy_and_keeps_it() {
    let dir = temp_dir("cluster-vod-demand");
    let film = vod_film(&dir);
    let o = origin("vod-demand-origin");
    let id = vod_import(&o, &film);
    let theirs = std::fs::read(o.dir.join(format!("data/vod/{id}/media.mp4"))).unwrap();
    // only what viewers start is fetched
    let e = edge_with(
        "vod-demand-edge",
        &[&o],
        &[("vod_mirror_background", "false")],
    );
    e.wait_for("the title on the edge", Duration::from_secs(15), || {
        e.api("GET", &format!("/api/vod/{id}"), None).0 == 200
    });
    std::thread::sleep(Duration::from_secs(3));
    let title_dir = e.dir.join(format!("data/vod/{id}"));
    assert!(
        !title_dir.join("media.mp4").exists(),
        "nothing mirrored before a viewer asks"
    );
    // a copy broken off at 40 % (a link that went down): the mirror continues from there
    std::fs::create_dir_all(&title_dir).unwrap();
    let seeded = theirs.len() * 2 / 5;
    std::fs::write(title_dir.join("media.mp4.part"), &theirs[..seeded]).unwrap();
    // a viewer: the edge plays it at once (its index from the part, the rest from the origin)
    let hls = e.url(&format!("/vod/{id}/index.m3u8"));
    let (errors, secs) = ffmpeg_read(&hls, 60);
    assert!(errors.trim().is_empty(), "{errors}");
    assert!((secs - 20.0).abs() < 0.5, "{secs}");
    // and keeps it: complete, verified, identical, fetched from where the part ended
    e.wait_for("the copy completed", Duration::from_secs(60), || {
        title_dir.join("media.mp4").exists()
    });
    assert!(std::fs::read(title_dir.join("media.mp4")).unwrap() == theirs);
    let fetched = e.metric("atoll_vod_mirrored_bytes_total");
    assert_eq!(
        fetched as usize,
        theirs.len() - seeded,
        "only the missing bytes came over the link"
    );
    // a damaged copy is refused by its checksum and fetched again
    std::fs::remove_file(title_dir.join("media.mp4")).unwrap();
    let mut bad = theirs[..seeded].to_vec();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    std::fs::write(title_dir.join("media.mp4.part"), &bad).unwrap();
    let (s, _, _) = raw(
        e.http,
        "GET",
        &format!("/vod/{id}/file.mp4"),
        &[("Range", "bytes=0-99")],
        b"",
    );
    assert_eq!(s, 206);
    e.wait_for("the damaged copy replaced", Duration::from_secs(60), || {
        std::fs::read(title_dir.join("media.mp4")).is_ok_and(|b| b == theirs)
    });
    assert!(
        e.log_text().contains("is not the origin's"),
        "{}",
        tail(&e.log_text(), 20)
    );
}

/// The primary origin is SIGKILLed while real-pace players (the project's load tool,
/// `atoll-load`) watch through an edge: the edge goes on from the backup origin with no player
/// stalling or skipping a segment, and the edge's archive has no gap across the switch. The
/// backup ingests the same channel itself; both cut it on the wall-clock grid (the test card's
/// keyframes are on it, as a multicast both receive would be), so the backup's next segment
/// starts where the primary's last one ended.
#[test]
fn killing_the_primary_origin_stalls_no_edge_viewer_and_leaves_no_gap_in_the_edge_archive() {
    // 6 s segments of 2 s GOPs: cut by media time alone, two origins started at different
    // moments would cut at different keyframes two times in three
    let mut a = Atoll::start_with(
        "cl-kill-primary",
        &[("segment_seconds", "6"), ("cluster_key", KEY)],
    );
    let b = Atoll::start_with(
        "cl-kill-backup",
        &[
            ("segment_seconds", "6"),
            ("cluster_key", KEY),
            ("follow", &format!("\"http://127.0.0.1:{}\"", a.http)),
        ],
    );
    wait_segments(&b, "demo", 3);
    let e = edge("cl-kill-edge", &[&a, &b]);
    wait_segments(&e, "demo", 3);
    e.wait_for("the edge recording", T, || {
        e.api("GET", "/api/channels/demo/recording", None).1["segments"]
            .as_i64()
            .unwrap_or(0)
            >= 3
    });
    // the two origins cut the same segments: same duration, wall start within 100 ms
    let pdt_ms = |p: &str| {
        let hms = p.split('T').nth(1).unwrap_or_default();
        let (hms, frac) = hms.split_once('.').unwrap_or((hms, "0"));
        let f: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap_or(0)).collect();
        let ms: i64 = frac
            .chars()
            .take(3)
            .collect::<String>()
            .parse()
            .unwrap_or(0);
        (f[0] * 3600 + f[1] * 60 + f[2]) * 1000 + ms
    };
    let (on_a, on_b) = (
        segments(&playlist(&a, "demo")),
        segments(&playlist(&b, "demo")),
    );
    let same = on_a
        .iter()
        .filter(|s| {
            on_b.iter()
                .any(|t| t.1 == s.1 && (pdt_ms(&t.2) - pdt_ms(&s.2)).abs() <= 100)
        })
        .count();
    assert!(same >= 2, "{on_a:?}\n{on_b:?}");

    let from = now_s();
    let url = e.url("/live/demo/index.m3u8");
    let load = std::thread::spawn(move || {
        let args: Vec<String> = [
            "--url",
            &url,
            "--viewers",
            "20",
            "--ramp",
            "2",
            "--duration",
            "30",
            "--threads",
            "1",
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        atoll_load::run_args(&args)
    });
    std::thread::sleep(Duration::from_secs(8)); // every player joined and buffered
    a.child.kill().unwrap(); // SIGKILL: no goodbye
    a.child.wait().unwrap();
    let killed = now_s();
    let (code, line) = load.join().unwrap().unwrap().expect("a result");
    let r: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(code, 0, "{line}");
    assert_eq!(r["stalls"], 0, "a player ran dry: {line}");
    assert_eq!(r["skipped"], 0, "a player skipped a segment: {line}");
    assert!(r["segments"].as_u64().unwrap_or(0) >= 20 * 4, "{line}");
    let ch = e.channel("demo");
    assert!(
        ch["active_source"]
            .as_str()
            .unwrap_or_default()
            .contains(&b.http.to_string()),
        "{ch}"
    );
    // the edge's archive runs on across the switch without a gap
    let to = now_s() - 12;
    assert!(to > killed + 6, "{to} {killed}");
    let cov = e
        .api(
            "GET",
            &format!("/api/channels/demo/archive?from={from}&to={to}"),
            None,
        )
        .1;
    assert_eq!(cov["gaps"].as_array().map(|g| g.len()), Some(0), "{cov}");
}

/// With viewer tokens on, a token handed out by the origin opens the edge too (every node signs
/// with the key derived from the cluster key), so a viewer redirected to an edge keeps playing;
/// a forged one opens neither.
#[test]
fn a_viewer_token_from_the_origin_opens_the_edge() {
    let token_on = ("viewer_access", "\"token\"");
    let o = Atoll::start_with(
        "cl-token-origin",
        &[("segment_seconds", "2"), ("cluster_key", KEY), token_on],
    );
    let e = edge_with("cl-token-edge", &[&o], &[token_on]);
    let (s, t) = o.api("POST", "/api/viewer-tokens", Some(r#"{"ttl_s": 3600}"#));
    assert_eq!(s, 200, "{t}");
    let token = t["token"].as_str().unwrap().to_string();
    let path = format!("/live/demo/index.m3u8?token={token}");
    let mut text = String::new();
    e.wait_for("the edge's playlist with the origin's token", T, || {
        let (s, b) = e.get(&path);
        text = String::from_utf8_lossy(&b).into_owned();
        s == 200 && text.lines().filter(|l| l.contains(".ts?token=")).count() >= 2
    });
    // its segment URLs carry the token and play on the edge
    let seg = text
        .lines()
        .find(|l| l.contains(".ts?token="))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(e.get(&format!("/live/demo/{seg}")).0, 200, "{seg}");
    assert_eq!(e.get("/live/demo/index.m3u8").0, 401);
    let forged = format!("{}.AAAAAAAAAAAAAAAAAAAAAA", 4_000_000_000i64);
    assert_eq!(
        e.get(&format!("/live/demo/index.m3u8?token={forged}")).0,
        403
    );
}
