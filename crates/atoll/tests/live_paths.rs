//! The two HTTP paths of a live answer give the same answer: the fast path (the first request
//! of a connection, answered in front of hyper) and axum/hyper (a request on a connection whose
//! first request was something else: hyper keeps such a connection). Every live URL form is asked
//! both ways and status, headers (but Date and Connection) and body are compared.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

const T: Duration = Duration::from_secs(90);

#[derive(Debug, PartialEq, Eq, Clone)]
struct Answer {
    status: u16,
    /// lowercase name, value; sorted; without date / connection / keep-alive
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn split_head(head: &str) -> (u16, Vec<(String, String)>) {
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .filter(|(k, _)| !matches!(k.as_str(), "date" | "connection" | "keep-alive"))
        .collect();
    headers.sort();
    (status, headers)
}

/// Reads one response with a Content-Length body (keep-alive) from `s`.
fn read_one(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_string();
            let len: usize = head_value(&head, "content-length")
                .and_then(|v| v.parse().ok())
                .expect("a Content-Length");
            if got.len() >= end + 4 + len {
                return got;
            }
        }
        let n = s.read(&mut b).expect("read");
        assert!(
            n > 0,
            "closed mid-answer: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&b[..n]);
    }
}

/// One request on a new connection: first on it (the fast path takes what it takes), or after
/// a `/healthz` on the same connection (hyper has the connection by then).
fn ask(port: u16, method: &str, path: &str, ua: &str, via_hyper: bool) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    if via_hyper {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let first = read_one(&mut s);
        assert!(first.starts_with(b"HTTP/1.1 200"), "/healthz");
    }
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: {ua}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head for {path}"));
    let head = String::from_utf8_lossy(&resp[..end]).to_string();
    let (status, headers) = split_head(&head);
    Answer {
        status,
        headers,
        body: resp[end + 4..].to_vec(),
    }
}

fn header<'a>(a: &'a Answer, name: &str) -> Option<&'a str> {
    a.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Asks both ways (again, when the playlist moved on in between) and returns the answer.
fn same_both_ways(port: u16, method: &str, path: &str) -> Answer {
    let mut last = None;
    for _ in 0..5 {
        let fast = ask(port, method, path, "compare", false);
        let slow = ask(port, method, path, "compare", true);
        let fast2 = ask(port, method, path, "compare", false);
        if fast == slow || slow == fast2 {
            return slow;
        }
        last = Some((fast, slow));
    }
    let (fast, slow) = last.unwrap();
    panic!(
        "{method} {path}: the fast path said {} {:?} ({} bytes), hyper said {} {:?} ({} bytes)",
        fast.status,
        fast.headers,
        fast.body.len(),
        slow.status,
        slow.headers,
        slow.body.len()
    );
}

fn viewers_hls(a: &Atoll) -> u64 {
    a.channel("demo")["viewers_hls"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

#[test]
fn every_live_url_form_gets_the_same_answer_from_the_fast_path_and_from_hyper() {
    let a = Atoll::start_with(
        "live-paths",
        &[("segment_seconds", "2"), ("playlist_window", "3")],
    );
    let text = a.wait_playlist("demo", 2, T);
    let (_, segs) = check_live_playlist(&text);
    let seq_of = |uri: &str| -> u64 { uri.strip_suffix(".ts").unwrap().parse().unwrap() };
    let first = seq_of(&segs[0].1);
    let newest = seq_of(&segs.last().unwrap().1);
    // a segment served counts its viewer on either path; a refused name counts no one
    let before = viewers_hls(&a);
    assert_eq!(before, 0, "no segment was asked for yet");
    assert_eq!(
        ask(
            a.http,
            "GET",
            &format!("/live/demo/{newest}.ts"),
            "fast-viewer",
            false
        )
        .status,
        200
    );
    assert_eq!(
        viewers_hls(&a),
        before + 1,
        "the fast path counted its viewer"
    );
    assert_eq!(
        ask(
            a.http,
            "GET",
            &format!("/live/demo/{newest}.ts"),
            "hyper-viewer",
            true
        )
        .status,
        200
    );
    assert_eq!(viewers_hls(&a), before + 2, "hyper counted its viewer");
    for via_hyper in [false, true] {
        let got = ask(
            a.http,
            "GET",
            &format!("/live/demo/+{newest}.ts"),
            &format!("refused-{via_hyper}"),
            via_hyper,
        );
        assert_eq!(got.status, 404);
    }
    assert_eq!(
        viewers_hls(&a),
        before + 2,
        "a refused name counted a viewer"
    );
    // a segment that was served once and has left the window since
    let t0 = Instant::now();
    while a.get(&format!("/live/demo/{first}.ts")).0 != 404 {
        assert!(t0.elapsed() < T, "segment {first} never expired");
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = a.wait_playlist("demo", 2, T);
    let (_, segs) = check_live_playlist(&text);
    let current = seq_of(&segs.last().unwrap().1);

    let ok_playlist = "application/vnd.apple.mpegurl";
    let ok_segment = "video/mp2t";
    let nf = "text/plain; charset=utf-8";
    // (file, expected status, expected Content-Type)
    let forms: Vec<(String, u16, &str)> = vec![
        ("index.m3u8".into(), 200, ok_playlist),
        (format!("{current}.ts"), 200, ok_segment),
        (format!("{first}.ts"), 404, nf),
        (format!("{}.ts", current + 1000), 404, nf),
        (format!("+{current}.ts"), 404, nf),
        (format!("0{current}.ts"), 404, nf),
        (format!("-{current}.ts"), 404, nf),
        ("-1.ts".into(), 404, nf),
        ("+1.ts".into(), 404, nf),
        ("01.ts".into(), 404, nf),
        (".ts".into(), 404, nf),
        ("18446744073709551615.ts".into(), 404, nf),
        ("18446744073709551616.ts".into(), 404, nf),
        ("99999999999999999999999999999.ts".into(), 404, nf),
        ("abc.ts".into(), 404, nf),
        (format!("{current}.TS"), 404, nf),
        ("index.M3U8".into(), 404, nf),
        ("nothing".into(), 404, nf),
    ];
    let mut asked = 0;
    for (file, status, ctype) in &forms {
        for channel in ["demo", "no-such-channel"] {
            for query in ["", "?x=1", "?"] {
                for method in ["GET", "HEAD"] {
                    let path = format!("/live/{channel}/{file}{query}");
                    let got = same_both_ways(a.http, method, &path);
                    asked += 1;
                    let (status, ctype) = if channel == "demo" {
                        (*status, *ctype)
                    } else {
                        (404, nf)
                    };
                    assert_eq!(got.status, status, "{method} {path}");
                    assert_eq!(header(&got, "content-type"), Some(ctype), "{method} {path}");
                    assert_eq!(
                        header(&got, "access-control-allow-origin"),
                        Some("*"),
                        "{method} {path}"
                    );
                    if method == "HEAD" {
                        assert!(got.body.is_empty(), "{method} {path}");
                    } else {
                        assert_eq!(
                            header(&got, "content-length"),
                            Some(got.body.len().to_string().as_str()),
                            "{method} {path}"
                        );
                    }
                    if status == 200 && file.ends_with(".ts") && method == "GET" {
                        assert_eq!(got.body.len() % 188, 0);
                        assert_eq!(got.body[0], 0x47);
                    }
                }
            }
        }
    }
    assert_eq!(asked, forms.len() * 12);
}
