//! https pull: an HLS source and an XMLTV guide served over TLS by a real server (Python's
//! http.server with a certificate from a test CA made with openssl), trusted through ATOLL_CA_FILE.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::json;

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
fn make_certs(dir: &Path) {
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(Command::new("openssl")
        .args(["req", "-x509"])
        .args(ec)
        .args(["-keyout", &p("ca.key"), "-out", &p("ca.pem")])
        .args(["-days", "2", "-subj", "/CN=Atoll Test CA"]));
    run(Command::new("openssl").args(["req"]).args(ec).args([
        "-keyout",
        &p("srv.key"),
        "-out",
        &p("srv.csr"),
        "-subj",
        "/CN=127.0.0.1",
    ]));
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .args([
            "x509",
            "-req",
            "-in",
            &p("srv.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
        ])
        .args([
            "-CAcreateserial",
            "-out",
            &p("srv.pem"),
            "-days",
            "2",
            "-extfile",
            &p("ext.cnf"),
        ]));
}

const SERVER: &str = r#"
import http.server, ssl, sys, functools
host, port, root, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
httpd = http.server.ThreadingHTTPServer((host, port), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
print("ready", flush=True)
httpd.serve_forever()
"#;

#[test]
fn pulls_hls_and_a_guide_over_https() {
    let dir = temp_dir("https");
    make_certs(&dir);
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    let st = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-i",
            path_str(&fixture_clip()),
            "-c",
            "copy",
            "-f",
            "hls",
            "-hls_time",
            "2",
        ])
        .args(["-hls_list_size", "0", "-hls_playlist_type", "vod"])
        .arg(www.join("index.m3u8"))
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(
        www.join("guide.xml"),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tv><channel id=\"sec\"><display-name>Secure</display-name></channel></tv>\n",
    )
    .unwrap();
    // the same certificate (for 127.0.0.1) served on 127.0.0.1 and on 127.0.0.2
    let serve = |host: &str, port: u16| {
        let mut server = Command::new("python3")
            .args([
                "-c",
                SERVER,
                host,
                &port.to_string(),
                path_str(&www),
                path_str(&dir.join("srv.pem")),
                path_str(&dir.join("srv.key")),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the https test server");
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(server.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        Killer(server)
    };
    let port = free_port();
    let _server = serve("127.0.0.1", port);
    let _other = serve("127.0.0.2", port);
    let a = Atoll::start_full(
        "https",
        &[],
        &[("ATOLL_CA_FILE", path_str(&dir.join("ca.pem")))],
    );
    let body = json!({"id": "secure", "name": "Secure", "sources": [format!("https://127.0.0.1:{port}/index.m3u8")]}).to_string();
    assert_eq!(a.api("POST", "/api/channels", Some(&body)).0, 201);
    a.wait_playlist("secure", 2, Duration::from_secs(40));
    assert_eq!(
        ffprobe_streams(&a.url("/live/secure/index.m3u8")),
        vec!["aac,48000".to_string(), "h264,320,240".to_string()]
    );
    assert_eq!(
        a.channel("secure")["active_source"],
        format!("https://127.0.0.1:{port}/index.m3u8")
    );
    // a guide over https
    let body = json!({"name": "tls guide", "url": format!("https://127.0.0.1:{port}/guide.xml")})
        .to_string();
    let (s, src) = a.api("POST", "/api/epg/sources", Some(&body));
    assert_eq!(s, 201, "{src}");
    let id = src["id"].as_i64().unwrap();
    a.wait_for("guide over https", Duration::from_secs(20), || {
        a.api("GET", &format!("/api/epg/sources/{id}"), None).1["channels_seen"] == 1
    });
    // a host the certificate does not cover is refused, with the reason
    let body = json!({"name": "wrong name", "url": format!("https://127.0.0.2:{port}/guide.xml")})
        .to_string();
    let (_, src) = a.api("POST", "/api/epg/sources", Some(&body));
    let id = src["id"].as_i64().unwrap();
    a.wait_for("a TLS failure", Duration::from_secs(20), || {
        let st = a.api("GET", &format!("/api/epg/sources/{id}"), None).1;
        st["last_error"].as_str().is_some_and(|e| {
            e.contains("TLS handshake") && e.to_lowercase().contains("certificate")
        })
    });
    std::fs::remove_dir_all(&dir).ok();
}
