//! Hostile HTTP clients against the running binary: connections that send nothing, half a
//! head or idle after a response; clients that read nothing; 1,100 idle connections under an
//! open-file limit of 1024; one address opening too many connections; cross-site state changes
//! with cached credentials; parallel password guessing.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::*;

/// Reads (and discards) until the server closes the connection; returns how long that took
/// from `since`. Panics when it is still open after `max`.
fn closed_within(s: &mut TcpStream, since: Instant, max: Duration) -> Duration {
    let mut buf = [0u8; 65536];
    loop {
        let left = max.saturating_sub(since.elapsed());
        assert!(!left.is_zero(), "connection still open after {max:?}");
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return since.elapsed(),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("connection still open after {max:?}")
            }
            Err(_) => return since.elapsed(), // reset
        }
    }
}

/// Reads one response with a Content-Length body from a keep-alive connection; returns the status.
fn read_response(s: &mut TcpStream) -> u16 {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_string();
            let len: usize = head_value(&head, "content-length")
                .and_then(|v| v.parse().ok())
                .expect("a Content-Length");
            if got.len() >= end + 4 + len {
                return head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap();
            }
        }
        let n = s.read(&mut buf).expect("reading a response");
        assert!(n > 0, "closed before a whole response");
        got.extend_from_slice(&buf[..n]);
    }
}

fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).unwrap()
}

#[test]
fn slow_heads_and_idle_keepalive_connections_are_closed_on_both_paths() {
    let a = Atoll::start_with(
        "hostile-timeouts",
        &[
            ("http_header_timeout_seconds", "2"),
            ("http_keepalive_idle_seconds", "5"),
        ],
    );
    a.wait_playlist("demo", 1, Duration::from_secs(60));
    let max = Duration::from_secs(12);

    // nothing at all: the head must come within the header timeout
    let mut s = connect(a.http);
    let t = closed_within(&mut s, Instant::now(), max);
    assert!(
        t < Duration::from_millis(4500),
        "silent connection closed after {t:?}"
    );

    // half a head (the fast path holds it)
    let mut s = connect(a.http);
    s.write_all(b"GET /live/demo/index.m3u8 HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let t = closed_within(&mut s, Instant::now(), max);
    assert!(t < Duration::from_millis(4500), "half a head kept {t:?}");

    // a head trickled a byte at a time (slowloris): the timeout runs from its first byte
    let mut s = connect(a.http);
    let mut w = s.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for b in
            b"GET /live/demo/index.m3u8 HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        {
            if w.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    });
    let t = closed_within(&mut s, Instant::now(), max);
    assert!(t < Duration::from_millis(4500), "trickled head kept {t:?}");
    trickle.join().unwrap();

    // idle after a fast-path answer: the keep-alive time
    let mut s = connect(a.http);
    s.write_all(b"GET /live/demo/index.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s), 200);
    let t = closed_within(&mut s, Instant::now(), max);
    assert!(
        t > Duration::from_secs(3) && t < Duration::from_secs(8),
        "idle fast-path connection closed after {t:?} (keep-alive 5 s)"
    );

    // idle after an answer from axum/hyper
    let mut s = connect(a.http);
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s), 200);
    let t = closed_within(&mut s, Instant::now(), max);
    assert!(
        t > Duration::from_secs(3) && t < Duration::from_secs(8),
        "idle hyper connection closed after {t:?} (keep-alive 5 s)"
    );

    // half of the next head on a hyper connection: the header timeout, not the keep-alive time
    let mut s = connect(a.http);
    s.write_all(b"GET /api/channels HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s), 401);
    s.write_all(b"GET /api/channels HTTP/1.1\r\nHo").unwrap();
    let t = closed_within(&mut s, Instant::now(), max);
    assert!(
        t < Duration::from_millis(4500),
        "half a head on a hyper connection kept {t:?}"
    );
}

/// Pipelines `n` requests for `path` on a connection with a small receive buffer and reads
/// nothing for a while; then counts the answers that arrive before the server closes.
fn pipeline_without_reading(port: u16, path: &str, n: usize, hold: Duration) -> usize {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&SockAddr::from(std::net::SocketAddr::from((
        [127, 0, 0, 1],
        port,
    ))))
    .unwrap();
    let mut s: TcpStream = sock.into();
    let mut w = s.try_clone().unwrap();
    w.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").repeat(n);
    // the server stops reading while it cannot write: send from another thread
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(req.as_bytes());
    });
    std::thread::sleep(hold); // the behaviour under test is a timeout of the server's
    let mut got = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => got.extend_from_slice(&buf[..k]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "{path}: the server kept the connection of a client that read nothing \
                     (answered all {n} once it read)"
                )
            }
            Err(_) => break,
        }
    }
    writer.join().unwrap();
    got.windows(12).filter(|w| w == b"HTTP/1.1 200").count()
}

#[test]
fn writes_to_a_client_that_reads_nothing_time_out() {
    let a = Atoll::start_with("hostile-write", &[("http_write_timeout_seconds", "2")]);
    let playlist = a.wait_playlist("demo", 2, Duration::from_secs(60));
    let seg = playlist
        .lines()
        .rfind(|l| l.ends_with(".ts"))
        .unwrap()
        .to_string();
    // the fast path (sendfile)
    let n = pipeline_without_reading(
        a.http,
        &format!("/live/demo/{seg}"),
        400,
        Duration::from_secs(5),
    );
    assert!(n < 400, "fast path answered {n} of 400");
    // axum/hyper
    let n = pipeline_without_reading(a.http, "/api/openapi.json", 2000, Duration::from_secs(5));
    assert!(n < 2000, "hyper answered {n} of 2000");
    assert_eq!(a.get("/healthz").0, 200);
}

#[test]
fn eleven_hundred_idle_connections_under_1024_files_starve_neither_viewers_nor_the_archive() {
    let a = Atoll::start_wrapped(
        "hostile-idle",
        &["prlimit", "--nofile=1024:1024"],
        &[
            ("segment_seconds", "2"),
            // long timeouts: the caps, not the timeouts, must hold the server up here
            ("http_header_timeout_seconds", "120"),
            ("http_keepalive_idle_seconds", "120"),
        ],
    );
    assert!(
        a.log_text().contains("open-file limit 1024"),
        "{}",
        a.log_text()
    );
    a.wait_playlist("demo", 2, Duration::from_secs(60));
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // 1,100 idle connections from 11 addresses: nothing, half a head, idle after a request
    let mut held = Vec::new();
    for i in 0..1100usize {
        let from = [127, 0, 0, 2 + (i / 100) as u8];
        let Ok(mut s) = connect_from(from, a.http) else {
            continue;
        };
        let _ = match i % 3 {
            0 => Ok(()),
            1 => s.write_all(b"GET /live/demo/index.m3u8 HTTP/1.1\r\nHost: x\r\n"),
            _ => s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
        };
        held.push(s);
    }
    assert!(held.len() >= 1000, "only {} connections opened", held.len());
    // a normal viewer still gets its playlist within a second, again and again
    for _ in 0..5 {
        let start = Instant::now();
        let (status, _, body) = raw(a.http, "GET", "/live/demo/index.m3u8", &[], b"");
        let took = start.elapsed();
        assert_eq!(
            status,
            200,
            "{}\n{}",
            String::from_utf8_lossy(&body),
            tail(&a.log_text(), 30)
        );
        assert!(
            took < Duration::from_secs(1),
            "playlist took {took:?} with 1,100 idle connections"
        );
    }
    // the recorder keeps writing: the archive runs on past the attack without a gap
    let path = format!(
        "/api/channels/demo/archive?from={}&to={}",
        t0 as i64 - 4,
        t0 as i64 + 600
    );
    let mut last = serde_json::Value::Null;
    a.wait_for(
        "12 s archived during the attack",
        Duration::from_secs(60),
        || {
            last = a.api("GET", &path, None).1;
            last["intervals"]
                .as_array()
                .and_then(|i| i.last())
                .and_then(|i| i["to"].as_f64())
                .is_some_and(|to| to >= t0 + 12.0)
        },
    );
    drop(held);
    assert_eq!(last["gaps"].as_array().map(Vec::len), Some(0), "{last}");
    let ivals = last["intervals"].as_array().unwrap();
    assert_eq!(ivals.len(), 1, "one unbroken interval: {last}");
    assert!(ivals[0]["from"].as_f64().unwrap() <= t0, "{last}");
    assert!(
        !a.log_text().contains("Too many open files"),
        "{}",
        a.log_text()
    );
}

#[test]
fn one_address_over_its_cap_is_refused_while_others_are_served() {
    let a = Atoll::start_with("hostile-perip", &[("http_max_connections_per_ip", "20")]);
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(connect_from([127, 0, 0, 5], a.http).unwrap());
    }
    // the 21st from the same address is closed at once
    let mut extra = connect_from([127, 0, 0, 5], a.http).unwrap();
    let t = closed_within(&mut extra, Instant::now(), Duration::from_secs(3));
    assert!(t < Duration::from_secs(2), "{t:?}");
    // counted in /metrics (asked from another address)
    let m = String::from_utf8(a.get("/metrics").1).unwrap();
    assert!(
        m.contains("atoll_http_refused_connections_total{reason=\"per_ip\"} 1\n"),
        "{m}"
    );
    // another address is served meanwhile
    let mut other = connect_from([127, 0, 0, 6], a.http).unwrap();
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut other), 200);
    // and the first address again once one of its connections is gone
    drop(held.pop());
    let mut again = None;
    a.wait_for("a place for 127.0.0.5", Duration::from_secs(5), || {
        let Ok(mut s) = connect_from([127, 0, 0, 5], a.http) else {
            return false;
        };
        let ok = s
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .is_ok()
            && {
                let mut b = [0u8; 12];
                s.read_exact(&mut b).is_ok() && &b == b"HTTP/1.1 200"
            };
        again = Some(s);
        ok
    });
}

#[test]
fn cross_site_state_changes_are_refused_whatever_the_credentials() {
    let a = Atoll::start("hostile-csrf");
    let auth = basic("admin", PASSWORD);
    let origin = format!("http://127.0.0.1:{}", a.http);
    let body = br#"{"name":"mallory","password":"longenough-1","role":"admin"}"#;
    // text/plain (what an HTML form can send) with cached Basic credentials
    let (s, _, b) = raw(
        a.http,
        "POST",
        "/api/users",
        &[("Authorization", &auth), ("Content-Type", "text/plain")],
        body,
    );
    assert_eq!(s, 415, "{}", String::from_utf8_lossy(&b));
    assert!(String::from_utf8_lossy(&b).contains("application/json"));
    // a form's default type, and none at all with a body
    for ct in [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let (s, _, _) = raw(
            a.http,
            "POST",
            "/api/users",
            &[("Authorization", &auth), ("Content-Type", ct)],
            body,
        );
        assert_eq!(s, 415, "{ct}");
    }
    // a foreign Origin: refused even with JSON, for Basic, tokens and the console cookie
    let (s, tok) = a.api("POST", "/api/tokens", Some(r#"{"name":"t"}"#));
    assert_eq!(s, 201, "{tok}");
    let bearer = format!("Bearer {}", tok["token"].as_str().unwrap());
    let (s, head, b) = raw(
        a.http,
        "POST",
        "/api/session",
        &[("Content-Type", "application/json")],
        format!(r#"{{"user":"admin","password":"{PASSWORD}"}}"#).as_bytes(),
    );
    assert_eq!(s, 200);
    let cookie = head_value(&head, "set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = serde_json::from_slice::<serde_json::Value>(&b).unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_string();
    for creds in [
        vec![("Authorization", auth.as_str())],
        vec![("Authorization", bearer.as_str())],
        vec![("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())],
    ] {
        let mut h = creds.clone();
        h.push(("Content-Type", "application/json"));
        h.push(("Origin", "http://evil.example"));
        let (s, _, b) = raw(a.http, "POST", "/api/users", &h, body);
        assert_eq!(s, 403, "{creds:?}: {}", String::from_utf8_lossy(&b));
        let mut h = creds.clone();
        h.push(("Origin", "http://evil.example"));
        let (s, _, _) = raw(a.http, "DELETE", "/api/channels/demo", &h, b"");
        assert_eq!(s, 403, "{creds:?} DELETE");
    }
    let (s, _, _) = raw(
        a.http,
        "POST",
        "/api/users",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("Origin", "null"),
        ],
        body,
    );
    assert_eq!(s, 403, "Origin: null");
    let (s, users) = a.api("GET", "/api/users", None);
    assert_eq!(s, 200);
    assert!(!users.to_string().contains("mallory"), "{users}");
    // the server's own origin works
    let (s, _, b) = raw(
        a.http,
        "POST",
        "/api/users",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json; charset=utf-8"),
            ("Origin", &origin),
        ],
        body,
    );
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&b));
    // page navigations never get a Basic challenge (no browser password dialog to cache)
    for (path, accept) in [
        ("/api/channels", "text/html,application/xhtml+xml,*/*;q=0.8"),
        ("/api/users", "text/html"),
    ] {
        let (s, head, _) = raw(a.http, "GET", path, &[("Accept", accept)], b"");
        assert_eq!(s, 401, "{path}");
        assert!(head_value(&head, "www-authenticate").is_none(), "{path}");
    }
    let (s, head, _) = raw(
        a.http,
        "GET",
        "/api/channels",
        &[("Sec-Fetch-Mode", "navigate")],
        b"",
    );
    assert_eq!(s, 401);
    assert!(head_value(&head, "www-authenticate").is_none());
    // scripts still get it
    let (s, head, _) = raw(a.http, "GET", "/api/channels", &[], b"");
    assert_eq!(s, 401);
    assert!(head_value(&head, "www-authenticate").is_some());
}

/// Sends `n` requests at once (the right password at index n/2); returns the statuses.
fn parallel(n: usize, one: impl Fn(usize) -> u16 + Send + Sync + 'static) -> Vec<u16> {
    let one = Arc::new(one);
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (one, barrier) = (one.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                one(i)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn parallel_sign_ins_check_at_most_the_limit_of_passwords() {
    let a = Atoll::start("hostile-signin");
    let port = a.http;
    let statuses = parallel(100, move |i| {
        let pw = if i == 50 { PASSWORD } else { "wrong-guess" };
        raw(
            port,
            "POST",
            "/api/session",
            &[("Content-Type", "application/json")],
            format!(r#"{{"user":"admin","password":"{pw}"}}"#).as_bytes(),
        )
        .0
    });
    let checked: Vec<_> = statuses.iter().filter(|s| **s != 429).collect();
    assert!(
        checked.len() <= 5,
        "{} of 100 parallel sign-ins were checked (limit 5): {statuses:?}",
        checked.len()
    );
    assert!(
        statuses.iter().all(|s| [401, 429, 200].contains(s)),
        "{statuses:?}"
    );
}

#[test]
fn parallel_basic_guesses_check_at_most_the_limit_of_passwords() {
    let a = Atoll::start("hostile-basic");
    let (s, v) = a.api(
        "POST",
        "/api/users",
        Some(r#"{"name":"carol","password":"carols-password","role":"operator"}"#),
    );
    assert_eq!(s, 201, "{v}");
    let port = a.http;
    let statuses = parallel(100, move |i| {
        let pw = if i == 50 {
            "carols-password"
        } else {
            "wrong-guess"
        };
        let auth = basic("carol", pw);
        raw(
            port,
            "GET",
            "/api/channels",
            &[("Authorization", &auth)],
            b"",
        )
        .0
    });
    let checked = statuses.iter().filter(|s| **s != 429).count();
    assert!(
        checked <= 5,
        "{checked} of 100 parallel Basic guesses were checked (limit 5): {statuses:?}"
    );
}
