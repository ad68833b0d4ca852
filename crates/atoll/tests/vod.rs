//! The VOD library against real peers: files made by ffmpeg, uploaded with a real tus client
//! (tuspy), imported by the CLI and the watch folder; ffprobe and ffmpeg read the stored MP4 and
//! the HLS cut on the fly; curl asks for byte ranges.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Makes a test file with ffmpeg: 8 s of testsrc (320x240, 25 fps, a keyframe every 2 s).
fn make(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    require("ffmpeg");
    let out = dir.join(name);
    let st = Command::new("ffmpeg")
        .args([
            "-y",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25:duration=8",
        ])
        .args(args)
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "ffmpeg could not make {name}");
    out
}

const SINE: [&str; 4] = [
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440:sample_rate=48000:duration=8",
];
const X264: [&str; 8] = [
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-g",
    "50",
    "-pix_fmt",
    "yuv420p",
];

fn with(parts: &[&[&str]]) -> Vec<String> {
    parts
        .iter()
        .flat_map(|p| p.iter().map(|s| s.to_string()))
        .collect()
}

fn make_v(dir: &Path, name: &str, parts: &[&[&str]]) -> PathBuf {
    let v = with(parts);
    let refs: Vec<&str> = v.iter().map(String::as_str).collect();
    make(dir, name, &refs)
}

/// Seconds of media ffprobe sees at `url` (the format's duration).
fn duration_of(url: &str) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| {
            panic!(
                "ffprobe {url} gave no duration: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
}

/// ffprobe's streams at `url`: "type,codec,language" each (each stream once, by index).
fn streams_of(url: &str) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_streams", "-of", "json", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut seen = std::collections::BTreeMap::new();
    for s in v["streams"].as_array().cloned().unwrap_or_default() {
        let idx = s["index"].as_i64().unwrap_or(-1);
        let lang = s["tags"]["language"].as_str().unwrap_or("");
        let line = format!(
            "{},{},{lang}",
            s["codec_type"].as_str().unwrap_or(""),
            s["codec_name"].as_str().unwrap_or("")
        );
        seen.insert(idx, line);
    }
    seen.into_values().collect()
}

/// `ffmpeg [-ss at] -i url -c copy -f null -`: (exit ok, stderr).
fn ffmpeg_null(url: &str, at: Option<f64>, decode: bool) -> (bool, String) {
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-nostdin", "-v", "error"]);
    if let Some(t) = at {
        c.args(["-ss", &format!("{t:.2}")]);
    }
    c.args(["-i", url]);
    if decode {
        c.args(["-frames:v", "10"]);
    } else {
        c.args(["-c", "copy"]);
    }
    c.args(["-f", "null", "-"]);
    let out = c.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// tuspy, installed by .ci/run (pip install tuspy).
fn require_tuspy() {
    let ok = Command::new("python3")
        .args(["-c", "import tusclient"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "the tus client tuspy is required (pip install tuspy)");
}

/// Uploads `files` with tuspy (chunks of `chunk` bytes; `resume` = existing upload URLs to
/// continue instead); prints and returns each upload's URL.
fn tus_upload(a: &Atoll, files: &[(&Path, &str)], resume: Option<&str>) -> Vec<String> {
    require_tuspy();
    let script = r#"
import sys, json
from tusclient import client
base, auth, resume = sys.argv[1], sys.argv[2], sys.argv[3]
c = client.TusClient(base + "/api/vod/uploads", headers={"Authorization": auth})
urls = []
for arg in sys.argv[4:]:
    path, title = arg.split("|", 1)
    meta = {"filename": path.rsplit("/", 1)[-1]}
    if title:
        meta["title"] = title
    if resume:
        u = c.uploader(path, url=resume, chunk_size=256 * 1024)
    else:
        u = c.uploader(path, chunk_size=256 * 1024, metadata=meta)
    u.upload()
    urls.append(u.url)
print(json.dumps(urls))
"#;
    let mut c = Command::new("python3");
    c.args([
        "-c",
        script,
        &a.url(""),
        &basic("admin", PASSWORD),
        resume.unwrap_or(""),
    ]);
    for (p, title) in files {
        c.arg(format!("{}|{title}", p.display()));
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "tuspy failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        tail(&a.log_text(), 20)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Waits for an upload's import to end; returns the import row.
fn import_of_upload(a: &Atoll, upload_url: &str) -> Value {
    let path = upload_url
        .find("/api/vod/uploads/")
        .map(|i| &upload_url[i..])
        .unwrap();
    let mut import_id = String::new();
    a.wait_for("the upload's import", Duration::from_secs(60), || {
        let (s, v) = a.api("GET", path, None);
        assert_eq!(s, 200, "{v}");
        match v["import_id"].as_str() {
            Some(i) => {
                import_id = i.to_string();
                true
            }
            None => false,
        }
    });
    wait_import(a, &import_id)
}

fn wait_import(a: &Atoll, id: &str) -> Value {
    let mut row = Value::Null;
    a.wait_for("the import to finish", Duration::from_secs(120), || {
        row = a.api("GET", &format!("/api/vod/imports/{id}"), None).1;
        matches!(row["state"].as_str(), Some("done") | Some("failed"))
    });
    row
}

fn library_entries(a: &Atoll) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(a.dir.join("data/vod"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn every_accepted_format_uploads_with_tus_and_plays_as_hls_and_as_a_file() {
    let dir = temp_dir("vod-formats");
    let srt = dir.join("subs.srt");
    std::fs::write(
        &srt,
        "1\r\n00:00:01,000 --> 00:00:03,000\r\nHello island\r\n\r\n2\r\n00:00:04,000 --> 00:00:06,500\r\n你好\r\n",
    )
    .unwrap();
    let srt_s = srt.to_str().unwrap();
    let files = [
        (
            "fast.mp4",
            make_v(
                &dir,
                "fast.mp4",
                &[&SINE, &X264, &["-c:a", "aac", "-movflags", "+faststart"]],
            ),
            "h264",
            vec!["aac"],
        ),
        (
            "slow.mp4",
            make_v(&dir, "slow.mp4", &[&SINE, &X264, &["-c:a", "aac"]]),
            "h264",
            vec!["aac"],
        ),
        (
            "film.mov",
            make_v(
                &dir,
                "film.mov",
                &[&SINE, &X264, &["-c:a", "aac", "-f", "mov"]],
            ),
            "h264",
            vec!["aac"],
        ),
        (
            "two.mkv",
            make_v(
                &dir,
                "two.mkv",
                &[
                    &SINE,
                    &[
                        "-f",
                        "lavfi",
                        "-i",
                        "sine=frequency=880:sample_rate=44100:duration=8",
                        "-i",
                        srt_s,
                    ],
                    &["-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s"],
                    &X264,
                    &[
                        "-c:a",
                        "aac",
                        "-c:s",
                        "srt",
                        "-metadata:s:a:0",
                        "language=eng",
                        "-metadata:s:a:1",
                        "language=fra",
                        "-metadata:s:s:0",
                        "language=chi",
                    ],
                ],
            ),
            "h264",
            vec!["aac", "aac"],
        ),
        (
            "clip.ts",
            make_v(
                &dir,
                "clip.ts",
                &[&SINE, &X264, &["-c:a", "aac", "-f", "mpegts"]],
            ),
            "h264",
            vec!["aac"],
        ),
        (
            "hevc.mp4",
            make_v(
                &dir,
                "hevc.mp4",
                &[
                    &SINE,
                    &[
                        "-c:v",
                        "libx265",
                        "-preset",
                        "ultrafast",
                        "-x265-params",
                        "keyint=50:log-level=error",
                        "-pix_fmt",
                        "yuv420p",
                        "-tag:v",
                        "hvc1",
                        "-c:a",
                        "aac",
                    ],
                ],
            ),
            "hevc",
            vec!["aac"],
        ),
        (
            "ac3.mp4",
            make_v(&dir, "ac3.mp4", &[&SINE, &X264, &["-c:a", "ac3"]]),
            "h264",
            vec!["ac3"],
        ),
    ];
    let a = Atoll::start("vod-formats");
    let list: Vec<(&Path, &str)> = files.iter().map(|(n, p, _, _)| (p.as_path(), *n)).collect();
    let urls = tus_upload(&a, &list, None);
    assert_eq!(urls.len(), files.len());
    for ((name, src, vcodec, acodecs), url) in files.iter().zip(&urls) {
        let row = import_of_upload(&a, url);
        assert_eq!(
            row["state"],
            "done",
            "{name}: {row}\n{}",
            tail(&a.log_text(), 20)
        );
        let id = row["title_id"].as_i64().unwrap();
        let (s, t) = a.api("GET", &format!("/api/vod/{id}"), None);
        assert_eq!(s, 200);
        assert_eq!(t["title"], *name, "the upload's title metadata");
        assert_eq!(t["video"]["codec"], *vcodec, "{name}: {t}");
        assert_eq!(
            (t["video"]["width"].as_i64(), t["video"]["height"].as_i64()),
            (Some(320), Some(240)),
            "{name}: {t}"
        );
        let audio: Vec<&str> = t["audio"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["codec"].as_str().unwrap())
            .collect();
        assert_eq!(&audio, acodecs, "{name}: {t}");

        // the stored file: a fast-start MP4 ffprobe reads with the same tracks
        let stored = a.dir.join(format!("data/vod/{id}/media.mp4"));
        let head = std::fs::read(&stored).unwrap();
        let moov = head.windows(4).position(|w| w == b"moov").unwrap();
        let mdat = head.windows(4).position(|w| w == b"mdat").unwrap();
        assert!(moov < mdat, "{name}: moov before mdat (fast start)");
        let st = streams_of(stored.to_str().unwrap());
        assert!(
            st.iter().any(|s| s.starts_with(&format!("video,{vcodec}"))),
            "{name}: {st:?}"
        );

        // HLS: ffmpeg reads it all without errors, with the source's duration
        let hls = a.url(&format!("/vod/{id}/index.m3u8"));
        let (ok, err) = ffmpeg_null(&hls, None, false);
        assert!(
            ok && err.trim().is_empty(),
            "{name}: ffmpeg read {hls}: {err}"
        );
        let (want, got) = (duration_of(src.to_str().unwrap()), duration_of(&hls));
        assert!(
            (want - got).abs() <= 0.1,
            "{name}: source {want} s, HLS {got} s"
        );
        // a seek to the middle decodes from there
        let (ok, err) = ffmpeg_null(&hls, Some(want / 2.0), true);
        assert!(ok && !err.contains("rror"), "{name}: seek: {err}");
        // the same renditions as fragmented MP4 (the player's): read whole, same duration,
        // and each segment decodes after its init segment (ffmpeg 5.1 cannot seek in fMP4 HLS
        // itself: its own fMP4 HLS output fails the same way, so segments are checked one by one)
        let fmp4 = a.url(&format!("/vod/{id}/index-fmp4.m3u8"));
        let (ok, err) = ffmpeg_null(&fmp4, None, false);
        assert!(
            ok && err.trim().is_empty(),
            "{name}: ffmpeg read {fmp4}: {err}"
        );
        let got = duration_of(&fmp4);
        assert!(
            (want - got).abs() <= 0.1,
            "{name}: source {want} s, fMP4 HLS {got} s"
        );
        let dir = temp_dir("vod-fmp4");
        for (init, seg) in [("vf/init.mp4", "vf/1.m4s"), ("af0/init.mp4", "af0/1.m4s")] {
            let mut bytes = a.get(&format!("/vod/{id}/{init}")).1;
            let (s, b) = a.get(&format!("/vod/{id}/{seg}"));
            assert_eq!(s, 200, "{name}: {seg}");
            bytes.extend_from_slice(&b);
            let f = dir.join("joined.mp4");
            std::fs::write(&f, &bytes).unwrap();
            let (ok, err) = ffmpeg_null(f.to_str().unwrap(), None, true);
            assert!(
                ok && err.trim().is_empty(),
                "{name}: {init} + {seg} decode: {err}"
            );
        }
        let hls_streams = streams_of(&hls);
        assert_eq!(
            hls_streams
                .iter()
                .filter(|s| s.starts_with("audio,"))
                .count(),
            acodecs.len(),
            "{name}: an audio rendition per track: {hls_streams:?}"
        );
        // a poster from a frame (H.264 by openh264, HEVC by libde265), a picture of the video
        let (ps, poster) = a.get(&format!("/vod/{id}/poster.jpg"));
        assert_eq!(ps, 200, "{name} ({vcodec}): poster");
        assert!(poster.starts_with(&[0xff, 0xd8, 0xff]), "{name}: a JPEG");
        assert_eq!(t["poster"], format!("/vod/{id}/poster.jpg"));
        let probe = ffprobe_streams(&a.url(&format!("/vod/{id}/poster.jpg")));
        assert_eq!(
            probe,
            ["mjpeg,320,240"],
            "{name}: the poster decodes as a picture"
        );
        // file.mp4 is the stored file
        let (s, body) = a.get(&format!("/vod/{id}/file.mp4"));
        assert_eq!(s, 200);
        assert_eq!(body.len(), head.len());
    }

    // the MKV: two audio languages and the SRT, in the master playlist and the API
    let mkv_id = {
        let (_, v) = a.api("GET", "/api/vod?q=two", None);
        v["titles"][0]["id"].as_i64().unwrap()
    };
    let (_, t) = a.api("GET", &format!("/api/vod/{mkv_id}"), None);
    let langs: Vec<&str> = t["audio"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["language"].as_str().unwrap())
        .collect();
    assert_eq!(langs, ["eng", "fra"], "{t}");
    assert_eq!(t["subtitles"][0]["language"], "chi", "{t}");
    let (_, master) = a.get(&format!("/vod/{mkv_id}/index.m3u8"));
    let master = String::from_utf8(master).unwrap();
    assert!(
        master.contains(
            "TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"English\",LANGUAGE=\"eng\",DEFAULT=YES"
        ),
        "{master}"
    );
    assert!(
        master.contains("NAME=\"Français\",LANGUAGE=\"fra\""),
        "{master}"
    );
    assert!(
        master.contains("TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"中文\",LANGUAGE=\"chi\""),
        "{master}"
    );
    let (s, vtt) = a.get(&format!("/vod/{mkv_id}/s0.vtt"));
    let vtt = String::from_utf8(vtt).unwrap();
    assert_eq!(s, 200);
    assert!(
        vtt.starts_with("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n"),
        "{vtt}"
    );
    // on the file's own timeline (ffmpeg writes the MKV's video and subtitles ~23 ms after its audio)
    assert!(
        vtt.contains("00:00:01.0")
            && vtt.contains(" --> 00:00:03.0")
            && vtt.contains("\nHello island\n")
            && vtt.contains("你好"),
        "{vtt}"
    );
    // the French rendition is its own audio: ffprobe reads 44.1 kHz there
    let a1 = a.url(&format!("/vod/{mkv_id}/a1.m3u8"));
    let (ok, err) = ffmpeg_null(&a1, None, false);
    assert!(ok && err.trim().is_empty(), "{err}");
    let probe = ffprobe_streams(&a1);
    assert!(probe.iter().any(|s| s.contains("44100")), "{probe:?}");
}

#[test]
fn an_interrupted_upload_resumes_where_it_stopped() {
    let dir = temp_dir("vod-resume");
    let src = make_v(&dir, "resume.mp4", &[&SINE, &X264, &["-c:a", "aac"]]);
    let bytes = std::fs::read(&src).unwrap();
    let a = Atoll::start("vod-resume");
    let auth = basic("admin", PASSWORD);
    let len = bytes.len().to_string();
    // create, then send half the bytes of a PATCH and drop the connection
    let (s, head, _) = raw(
        a.http,
        "POST",
        "/api/vod/uploads",
        &[
            ("Authorization", &auth),
            ("Tus-Resumable", "1.0.0"),
            ("Upload-Length", &len),
            ("Upload-Metadata", "filename cmVzdW1lLm1wNA=="),
        ],
        b"",
    );
    assert_eq!(s, 201, "{head}");
    let loc = head_value(&head, "location").unwrap();
    {
        use std::io::Write;
        let mut c = std::net::TcpStream::connect(("127.0.0.1", a.http)).unwrap();
        let req = format!(
            "PATCH {loc} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nTus-Resumable: 1.0.0\r\n\
             Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: {len}\r\n\r\n"
        );
        c.write_all(req.as_bytes()).unwrap();
        c.write_all(&bytes[..bytes.len() / 2]).unwrap();
        std::thread::sleep(Duration::from_millis(500));
    } // dropped mid-body
    let mut offset = 0;
    a.wait_for(
        "the partial upload's offset",
        Duration::from_secs(10),
        || {
            let (_, h, _) = raw(
                a.http,
                "HEAD",
                &loc,
                &[("Authorization", &auth), ("Tus-Resumable", "1.0.0")],
                b"",
            );
            offset = head_value(&h, "upload-offset")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            offset == bytes.len() / 2
        },
    );
    // a PATCH at the wrong offset is refused with the right one
    let (s, h, _) = raw(
        a.http,
        "PATCH",
        &loc,
        &[
            ("Authorization", &auth),
            ("Tus-Resumable", "1.0.0"),
            ("Content-Type", "application/offset+octet-stream"),
            ("Upload-Offset", "0"),
            ("Content-Length", "1"),
        ],
        b"x",
    );
    assert_eq!(s, 409, "{h}");
    assert_eq!(head_value(&h, "upload-offset").unwrap(), offset.to_string());
    // tuspy resumes it
    let url = a.url(&loc);
    tus_upload(&a, &[(src.as_path(), "")], Some(&url));
    let row = import_of_upload(&a, &url);
    assert_eq!(row["state"], "done", "{row}");
    let id = row["title_id"].as_i64().unwrap();
    let (want, got) = (
        duration_of(src.to_str().unwrap()),
        duration_of(&a.url(&format!("/vod/{id}/index.m3u8"))),
    );
    assert!((want - got).abs() <= 0.1, "{want} vs {got}");
    // the upload's bytes are gone once imported
    assert_eq!(
        std::fs::read_dir(a.dir.join("data/vod/.uploads"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn byte_ranges_of_file_mp4_as_curl_asks() {
    require("curl");
    let dir = temp_dir("vod-ranges");
    let src = make_v(&dir, "r.mp4", &[&SINE, &X264, &["-c:a", "aac"]]);
    let a = Atoll::start("vod-ranges");
    let out = Command::new(env!("CARGO_BIN_EXE_atoll"))
        .args(["vod", "import", "--data"])
        .arg(a.dir.join("data"))
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    let id: i64 = line.trim().rsplit(' ').next().unwrap().parse().unwrap();
    let stored = std::fs::read(a.dir.join(format!("data/vod/{id}/media.mp4"))).unwrap();
    let n = stored.len();
    let url = a.url(&format!("/vod/{id}/file.mp4"));
    let curl = |range: &str| -> (u16, String, Vec<u8>) {
        let dir = temp_dir("vod-curl");
        let (h, b) = (dir.join("h"), dir.join("b"));
        let out = Command::new("curl")
            .args(["-s", "-r", range, "-D"])
            .arg(&h)
            .arg("-o")
            .arg(&b)
            .arg("-w")
            .arg("%{http_code}")
            .arg(&url)
            .output()
            .unwrap();
        let code = String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0);
        (
            code,
            std::fs::read_to_string(&h).unwrap_or_default(),
            std::fs::read(&b).unwrap_or_default(),
        )
    };
    let (s, h, b) = curl("0-99");
    assert_eq!(s, 206, "{h}");
    assert_eq!(b, &stored[..100]);
    assert_eq!(
        head_value(&h, "content-range").unwrap(),
        format!("bytes 0-99/{n}")
    );
    assert_eq!(head_value(&h, "accept-ranges").unwrap(), "bytes");
    let mid = n / 2;
    let (s, _, b) = curl(&format!("{mid}-{}", mid + 4095));
    assert_eq!(s, 206);
    assert_eq!(b, &stored[mid..mid + 4096]);
    let (s, h, b) = curl("-500");
    assert_eq!(s, 206);
    assert_eq!(b, &stored[n - 500..]);
    assert_eq!(head_value(&h, "content-length").unwrap(), "500");
    let (s, _, b) = curl(&format!("{}-", n - 10));
    assert_eq!((s, b.as_slice()), (206, &stored[n - 10..]));
    let (s, h, _) = curl(&format!("{n}-"));
    assert_eq!(s, 416, "{h}");
    assert_eq!(
        head_value(&h, "content-range").unwrap(),
        format!("bytes */{n}")
    );
    let (s, _, _) = curl(&format!("{}-{}", n + 5, n + 10));
    assert_eq!(s, 416);
    // no range: the whole file with its length
    let (s, h, _) = raw(a.http, "GET", &format!("/vod/{id}/file.mp4"), &[], b"");
    assert_eq!(s, 200);
    assert_eq!(head_value(&h, "content-length").unwrap(), n.to_string());
}

#[test]
fn files_that_need_transcoding_or_are_truncated_are_refused_and_change_nothing() {
    let dir = temp_dir("vod-refused");
    let webm = make(
        &dir,
        "vp9.webm",
        &[
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-t",
            "2",
        ],
    );
    let good = make_v(
        &dir,
        "good.mp4",
        &[&SINE, &X264, &["-c:a", "aac", "-movflags", "+faststart"]],
    );
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.join("truncated.mp4");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let slow = make_v(&dir, "slow.mp4", &[&SINE, &X264, &["-c:a", "aac"]]);
    let sbytes = std::fs::read(&slow).unwrap();
    let truncated_slow = dir.join("truncated-slow.mp4");
    std::fs::write(&truncated_slow, &sbytes[..sbytes.len() / 2]).unwrap();
    let noise = dir.join("noise.mp4");
    std::fs::write(
        &noise,
        (0..100_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let a = Atoll::start("vod-refused");
    let before = library_entries(&a);
    let urls = tus_upload(
        &a,
        &[
            (webm.as_path(), ""),
            (truncated.as_path(), ""),
            (truncated_slow.as_path(), ""),
            (noise.as_path(), ""),
        ],
        None,
    );
    let reasons: Vec<String> = urls
        .iter()
        .map(|u| {
            let row = import_of_upload(&a, u);
            assert_eq!(row["state"], "failed", "{row}");
            row["error"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(reasons[0].contains("video codec vp9"), "{}", reasons[0]);
    assert!(reasons[0].contains("transcoding"), "{}", reasons[0]);
    assert!(reasons[1].contains("truncated"), "{}", reasons[1]);
    assert!(reasons[2].contains("truncated"), "{}", reasons[2]);
    assert!(
        reasons[3].contains("not a file we can import"),
        "{}",
        reasons[3]
    );
    // nothing in the catalogue, nothing on disk (staging and uploads empty)
    let (_, v) = a.api("GET", "/api/vod", None);
    assert_eq!(v["total"], 0, "{v}");
    assert_eq!(library_entries(&a), before);
    for d in [".staging", ".uploads"] {
        assert_eq!(
            std::fs::read_dir(a.dir.join("data/vod").join(d))
                .unwrap()
                .count(),
            0,
            "{d}"
        );
    }
    // the CLI says so too, and exits 1
    let out = Command::new(env!("CARGO_BIN_EXE_atoll"))
        .args(["vod", "import", "--data"])
        .arg(a.dir.join("data"))
        .arg(&webm)
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("vp9.webm: refused: video codec vp9"),
        "{text}"
    );
    assert!(text.contains("good.mp4: imported as "), "{text}");
}

#[test]
fn the_watch_folder_imports_dropped_files_with_their_subtitles() {
    let dir = temp_dir("vod-watch");
    let src = make_v(
        &dir,
        "Island.Story.2024.mp4",
        &[&SINE, &X264, &["-c:a", "aac"]],
    );
    let a = Atoll::start_with("vod-watch", &[("vod_watch_stable_seconds", "1")]);
    let incoming = a.dir.join("data/vod/incoming");
    std::fs::write(
        incoming.join("Island.Story.2024.en.srt"),
        "1\n00:00:00,500 --> 00:00:02,000\nWelcome\n",
    )
    .unwrap();
    std::fs::copy(&src, incoming.join("Island.Story.2024.mp4")).unwrap();
    std::fs::write(incoming.join("broken.mkv"), b"\x1a\x45\xdf\xa3 not really").unwrap();
    let mut titles = Value::Null;
    a.wait_for(
        "the dropped file in the library",
        Duration::from_secs(60),
        || {
            titles = a.api("GET", "/api/vod", None).1;
            titles["total"] == 1
        },
    );
    let t = &titles["titles"][0];
    assert_eq!(t["title"], "Island Story 2024", "{t}");
    assert_eq!(t["subtitles"][0]["language"], "en", "{t}");
    a.wait_for(
        "the broken file moved aside",
        Duration::from_secs(30),
        || incoming.join("failed/broken.mkv.error.txt").exists(),
    );
    assert!(
        !incoming.join("Island.Story.2024.mp4").exists(),
        "imported files leave incoming/"
    );
    let (_, imports) = a.api("GET", "/api/vod/imports", None);
    assert!(
        imports["imports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["origin"] == "watch" && i["state"] == "failed"),
        "{imports}"
    );
}

#[test]
fn the_catalogue_api_edits_searches_deletes_and_names_bad_fields() {
    let dir = temp_dir("vod-api");
    let src = make_v(&dir, "a.mp4", &[&SINE, &X264, &["-c:a", "aac"]]);
    let a = Atoll::start("vod-api");
    let out = Command::new(env!("CARGO_BIN_EXE_atoll"))
        .args([
            "vod",
            "import",
            "--title",
            "海岛故事",
            "--category",
            "Films",
            "--data",
        ])
        .arg(a.dir.join("data"))
        .arg(&src)
        .output()
        .unwrap();
    assert!(out.status.success());
    let (_, v) = a.api("GET", "/api/vod", None);
    let id = v["titles"][0]["id"].as_i64().unwrap();
    assert_eq!(v["titles"][0]["title"], "海岛故事");
    assert_eq!(v["titles"][0]["category"], "Films");
    let (s, t) = a.api("PUT", &format!("/api/vod/{id}"), Some(r#"{"title_en": "Island Story", "year": 2024, "series": "Islands", "season": 1, "episode": 2, "genre": "Documentary"}"#));
    assert_eq!(s, 200, "{t}");
    assert_eq!(
        (
            t["title_en"].as_str(),
            t["year"].as_i64(),
            t["episode"].as_i64()
        ),
        (Some("Island Story"), Some(2024), Some(2))
    );
    for (body, field) in [
        (r#"{"year": 1200}"#, "year"),
        (r#"{"title": ""}"#, "title"),
        (r#"{"title": 5}"#, "title"),
        (r#"{"duration_s": 5}"#, "duration_s"),
    ] {
        let (s, e) = a.api("PUT", &format!("/api/vod/{id}"), Some(body));
        assert_eq!((s, e["field"].as_str()), (422, Some(field)), "{body}: {e}");
    }
    // a subtitle file added to the title, kept as WebVTT and offered as a rendition
    let auth = basic("admin", PASSWORD);
    let sub = |ctype: &str, lang: &str, body: &[u8]| {
        raw(
            a.http,
            "POST",
            &format!("/api/vod/{id}/subtitles?language={lang}"),
            &[("Authorization", &auth), ("Content-Type", ctype)],
            body,
        )
    };
    let srt = b"1\r\n00:00:01,000 --> 00:00:02,500\r\nTide is coming\r\n";
    let (s, _, body) = sub("application/x-subrip", "en", srt);
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    let t: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(t["subtitles"][0]["language"], "en", "{t}");
    let (_, master) = a.get(&format!("/vod/{id}/index.m3u8"));
    assert!(String::from_utf8_lossy(&master)
        .contains("TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English\",LANGUAGE=\"en\""));
    let (_, vtt) = a.get(&format!("/vod/{id}/s0.vtt"));
    assert!(String::from_utf8_lossy(&vtt).contains("00:00:01.000 --> 00:00:02.500\nTide is coming"));
    assert_eq!(
        sub("text/plain", "en", srt).0,
        415,
        "a form's type is refused"
    );
    let (s, _, e) = sub("application/x-subrip", "e_n", srt);
    assert_eq!(
        (
            s,
            serde_json::from_slice::<Value>(&e).unwrap()["field"].clone()
        ),
        (422, Value::from("language"))
    );
    let (s, _, e) = sub("text/vtt", "fr", b"not a subtitle at all");
    assert_eq!(
        (
            s,
            serde_json::from_slice::<Value>(&e).unwrap()["field"].clone()
        ),
        (422, Value::from("body"))
    );
    let (s, t) = a.api("DELETE", &format!("/api/vod/{id}/subtitles/0"), None);
    assert_eq!(
        (s, t["subtitles"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{t}"
    );
    assert_eq!(a.get(&format!("/vod/{id}/s0.vtt")).0, 404);
    let (_, found) = a.api("GET", "/api/vod?q=island", None);
    assert_eq!(found["total"], 1);
    let (_, none) = a.api("GET", "/api/vod?q=nothing-like-it", None);
    assert_eq!(none["total"], 0);
    let (_, cats) = a.api("GET", "/api/vod/categories", None);
    assert_eq!(cats["categories"][0]["name"], "Films");
    let (s, _) = a.get("/api/player/vod");
    assert_eq!(s, 200);
    let (s, e) = a.api("GET", "/api/vod?limit=0", None);
    assert_eq!((s, e["field"].as_str()), (422, Some("limit")));
    let (s, _) = a.api("DELETE", &format!("/api/vod/{id}"), None);
    assert_eq!(s, 204);
    assert!(!a.dir.join(format!("data/vod/{id}")).exists());
    assert_eq!(a.get(&format!("/vod/{id}/index.m3u8")).0, 404);
    let (_, audit) = a.api("GET", "/api/audit", None);
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .or(audit.as_array())
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"vod.update") && actions.contains(&"vod.delete"),
        "{actions:?}"
    );
}

#[test]
fn uploads_have_limits() {
    let a = Atoll::start_with("vod-limits", &[("vod_max_upload_mib", "1")]);
    let auth = basic("admin", PASSWORD);
    let post = |len: &str, tus: &str| {
        raw(
            a.http,
            "POST",
            "/api/vod/uploads",
            &[
                ("Authorization", &auth),
                ("Tus-Resumable", tus),
                ("Upload-Length", len),
            ],
            b"",
        )
    };
    assert_eq!(post("2000000", "1.0.0").0, 413, "over vod_max_upload_mib");
    assert_eq!(post("1000", "0.2.2").0, 412, "another tus version");
    assert_eq!(post("x", "1.0.0").0, 400);
    assert_eq!(post("0", "1.0.0").0, 400, "an empty file");
    assert_eq!(
        std::fs::read_dir(a.dir.join("data/vod/.uploads"))
            .unwrap()
            .count(),
        0,
        "refused uploads leave nothing"
    );
    // no credentials, no upload
    let (s, _, _) = raw(
        a.http,
        "POST",
        "/api/vod/uploads",
        &[("Tus-Resumable", "1.0.0"), ("Upload-Length", "10")],
        b"",
    );
    assert_eq!(s, 401);
    let (s, h, _) = post("10", "1.0.0");
    assert_eq!(s, 201);
    let loc = head_value(&h, "location").unwrap();
    // more bytes than announced: refused, the upload keeps only what fits
    let (s, _, _) = raw(
        a.http,
        "PATCH",
        &loc,
        &[
            ("Authorization", &auth),
            ("Tus-Resumable", "1.0.0"),
            ("Content-Type", "application/offset+octet-stream"),
            ("Upload-Offset", "0"),
            ("Content-Length", "20"),
        ],
        &[0u8; 20],
    );
    assert_eq!(s, 413);
    // a form-like content type is refused before anything is written
    let (s, _, _) = raw(
        a.http,
        "PATCH",
        &loc,
        &[
            ("Authorization", &auth),
            ("Tus-Resumable", "1.0.0"),
            ("Content-Type", "text/plain"),
            ("Upload-Offset", "0"),
            ("Content-Length", "1"),
        ],
        b"x",
    );
    assert_eq!(s, 415);
    let (s, h, _) = raw(a.http, "OPTIONS", "/api/vod/uploads", &[], b"");
    assert_eq!(s, 204);
    assert_eq!(
        head_value(&h, "tus-max-size").unwrap(),
        (1u64 << 20).to_string()
    );
    let (s, _, _) = raw(
        a.http,
        "DELETE",
        &loc,
        &[("Authorization", &auth), ("Tus-Resumable", "1.0.0")],
        b"",
    );
    assert_eq!(s, 204);
    let (s, _, _) = raw(
        a.http,
        "HEAD",
        &loc,
        &[("Authorization", &auth), ("Tus-Resumable", "1.0.0")],
        b"",
    );
    assert_eq!(s, 404);
}

#[test]
fn audio_that_ends_before_the_video_still_has_every_segment() {
    let dir = temp_dir("vod-short-audio");
    // 14 s of video, 5 s of audio: the audio renditions' last segments hold nothing
    let src = make(
        &dir,
        "short-audio.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25:duration=14",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=5",
            "-map",
            "1:v",
            "-map",
            "2:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "50",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ],
    );
    let a = Atoll::start("vod-short-audio");
    let out = Command::new(env!("CARGO_BIN_EXE_atoll"))
        .args(["vod", "import", "--data"])
        .arg(a.dir.join("data"))
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let id: i64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    for (playlist, ext) in [("a0.m3u8", ".ts"), ("af0.m3u8", ".m4s")] {
        let (_, text) = a.get(&format!("/vod/{id}/{playlist}"));
        let text = String::from_utf8(text).unwrap();
        let segs: Vec<&str> = text.lines().filter(|l| l.ends_with(ext)).collect();
        assert!(segs.len() >= 2, "{text}");
        for s in segs {
            let dirname = playlist.trim_end_matches(".m3u8");
            assert_eq!(a.get(&format!("/vod/{id}/{s}")).0, 200, "{dirname}: {s}");
        }
    }
    let (errors, _) = ffmpeg_read(&a.url(&format!("/vod/{id}/index-fmp4.m3u8")), 60);
    assert!(errors.trim().is_empty(), "{errors}");
}
