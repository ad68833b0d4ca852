//! HLS renditions against real peers: a UDP channel sent by ffmpeg with two audio languages
//! (AAC `chi` + MP2 `eng`) is offered as a master playlist with one audio rendition per
//! language — live, catch-up and start-over — and ffmpeg/ffprobe read every rendition back.
//! A second UDP channel carries a DVB teletext subtitle page (ffmpeg cannot encode teletext: the
//! test re-muxes ffmpeg's stream with the project's own muxer and adds the page) and is offered
//! with a WebVTT subtitle rendition whose cues sit on the video's PTS.
//! Segments are 2 s here to keep the test short.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::json;

const T: Duration = Duration::from_secs(60);
const CONFIG: &[(&str, &str)] = &[
    ("segment_seconds", "2"),
    // a small rendition cache (256 KiB): the duo test asks for more cuts than it holds
    ("rendition_cache_bytes", "262144"),
];

/// ffmpeg looping the fixture clip to UDP with its audio twice: AAC tagged `chi`, MP2 tagged
/// `eng` (as a satellite receiver's output would carry them).
fn two_language_feed(port: u16) -> Killer {
    let clip = fixture_clip();
    Killer(ffmpeg_bg(&[
        "-re",
        "-stream_loop",
        "-1",
        "-i",
        path_str(&clip),
        "-map",
        "0:v",
        "-map",
        "0:a",
        "-map",
        "0:a",
        "-c:v",
        "copy",
        "-c:a:0",
        "copy",
        "-c:a:1",
        "mp2",
        "-b:a:1",
        "128k",
        "-metadata:s:a:0",
        "language=chi",
        "-metadata:s:a:1",
        "language=eng",
        "-f",
        "mpegts",
        &format!("udp://127.0.0.1:{port}?pkt_size=1316"),
    ]))
}

/// ffprobe's "codec_name,codec_type,language" per stream of a URL (each stream once).
fn probe_languages(url: &str) -> Vec<String> {
    let mut v = ffprobe_entries(
        url,
        &[],
        "stream=codec_type,codec_name:stream_tags=language",
    );
    v.sort();
    v.dedup();
    v
}

/// Every stream's start_time (seconds of PTS) in a segment, in stream order.
fn start_times(url: &str) -> Vec<f64> {
    let by_index: std::collections::BTreeMap<u32, f64> =
        ffprobe_entries(url, &[], "stream=index,start_time")
            .iter()
            .filter_map(|l| {
                let (i, t) = l.split_once(',')?;
                Some((i.parse().ok()?, t.parse().ok()?))
            })
            .collect();
    by_index.into_values().collect()
}

/// The start_time of a one-stream segment (a rendition's).
fn start_time(url: &str) -> f64 {
    *start_times(url)
        .first()
        .unwrap_or_else(|| panic!("no start_time for {url}"))
}

/// How many packets (frames) the first stream of a segment has.
fn packets(url: &str) -> u64 {
    ffprobe_entries(
        url,
        &["-count_packets", "-select_streams", "0"],
        "stream=nb_read_packets",
    )
    .iter()
    .find_map(|l| l.parse().ok())
    .unwrap_or_else(|| panic!("no packet count for {url}"))
}

/// ffmpeg reading `url` (errors only on stderr) into the file `out`, with `args` between.
fn ffmpeg_to_file(url: &str, args: &[&str], out: &std::path::Path) -> std::process::Output {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error"])
        .args(["-rw_timeout", "15000000", "-i", url])
        .args(args)
        .args(["-y", path_str(out)])
        .output()
        .unwrap()
}

/// The `URI="…"` of the EXT-X-MEDIA line of `kind` with `LANGUAGE="lang"`.
fn rendition_uri(master: &str, kind: &str, lang: &str) -> String {
    master
        .lines()
        .find(|l| {
            l.starts_with(&format!("#EXT-X-MEDIA:TYPE={kind},"))
                && l.contains(&format!("LANGUAGE=\"{lang}\""))
        })
        .and_then(|l| l.split("URI=\"").nth(1))
        .and_then(|u| u.split('"').next())
        .unwrap_or_else(|| panic!("no {kind} rendition for {lang} in\n{master}"))
        .to_string()
}

/// The variant's URI (the line after EXT-X-STREAM-INF).
fn variant_uri(master: &str) -> String {
    let mut lines = master.lines();
    lines.find(|l| l.starts_with("#EXT-X-STREAM-INF:"));
    lines.next().expect("variant URI").to_string()
}

/// Checks a master playlist at `base` + `file`: both languages offered, every rendition read by
/// ffmpeg without errors, each audio rendition's segment in sync with the video's.
fn check_master(a: &Atoll, base: &str, file: &str, live: bool) {
    let (s, body) = a.get(&format!("{base}{file}"));
    let master = String::from_utf8_lossy(&body).to_string();
    assert_eq!(s, 200, "{base}{file}: {master}");
    assert!(master.contains("#EXT-X-STREAM-INF:"), "{master}");
    let chi = rendition_uri(&master, "AUDIO", "chi");
    let eng = rendition_uri(&master, "AUDIO", "eng");
    assert!(master.contains("NAME=\"中文\"") && master.contains("NAME=\"English\""));
    assert_eq!(
        master.matches("DEFAULT=YES").count(),
        1,
        "one default: {master}"
    );
    let video = variant_uri(&master);

    // ffprobe on the master playlist: the video and both languages
    let streams = probe_languages(&a.url(&format!("{base}{file}")));
    for want in ["aac,audio,chi", "mp2,audio,eng"] {
        assert!(
            streams.iter().any(|s| s == want),
            "{want} not in {streams:?}"
        );
    }
    assert!(
        streams.iter().any(|s| s.starts_with("h264,video")),
        "{streams:?}"
    );

    // each rendition on its own: read without errors, and of the right kind only
    for (uri, want) in [
        (&video, "h264,video"),
        (&chi, "aac,audio"),
        (&eng, "mp2,audio"),
    ] {
        let url = a.url(&format!("{base}{uri}"));
        let (errors, secs) = ffmpeg_read(&url, 4);
        assert!(errors.is_empty(), "{uri}: {errors}");
        assert!(secs > 1.0, "{uri}: read {secs} s");
        let kinds = probe_languages(&url);
        assert_eq!(kinds.len(), 1, "{uri}: {kinds:?}");
        assert!(kinds[0].starts_with(want), "{uri}: {kinds:?}");
    }

    // A/V sync on both languages: the same segment of each rendition starts within 100 ms
    // of the video's (as the source's tracks do)
    let (_, vp) = a.get(&format!("{base}{video}"));
    let vp = String::from_utf8_lossy(&vp).to_string();
    let seg = vp
        .lines()
        .rfind(|l| !l.starts_with('#') && !l.is_empty())
        .expect("a segment")
        .to_string();
    assert!(seg.starts_with("v-"), "{vp}");
    let name = &seg[2..];
    // the full segment: video, then the two audio tracks, each with its start
    let full = start_times(&a.url(&format!("{base}{name}")));
    assert_eq!(full.len(), 3, "{full:?}");
    let v0 = start_time(&a.url(&format!("{base}{seg}")));
    assert!((v0 - full[0]).abs() < 0.001, "video {v0} vs {full:?}");
    // every track is whole: each language's frames cover the segment's video (AAC frames are
    // 1024 samples, MP2 1152, at 48 kHz; 25 fps video)
    let video_s = packets(&a.url(&format!("{base}{seg}"))) as f64 * 0.04;
    for (i, lang) in ["chi", "eng"].into_iter().enumerate() {
        let prefix = rendition_uri(&master, "AUDIO", lang)
            .split('-')
            .next()
            .unwrap()
            .to_string();
        let n = packets(&a.url(&format!("{base}{prefix}-{name}")));
        let audio_s = n as f64 * [1024.0, 1152.0][i] / 48_000.0;
        assert!(
            (audio_s - video_s).abs() < 0.25 * video_s,
            "{lang}: {n} frames, {audio_s} s of audio in {video_s} s of video"
        );
    }
    for (i, lang) in ["chi", "eng"].into_iter().enumerate() {
        let prefix = rendition_uri(&master, "AUDIO", lang)
            .split('-')
            .next()
            .unwrap()
            .to_string();
        let t = start_time(&a.url(&format!("{base}{prefix}-{name}")));
        // the rendition keeps the full segment's timestamps exactly …
        assert!(
            (t - full[1 + i]).abs() < 0.001,
            "{lang}: rendition audio starts at {t}, in the full segment at {}",
            full[1 + i]
        );
        // … and its audio is where the source put it next to the video: a segment holds each
        // track from its first PES after the keyframe cut, and ffmpeg's muxer packs up to
        // ~0.4 s of audio in one PES (so the first audio PTS is near, not at, the video's)
        assert!(
            (t - v0).abs() < 0.5,
            "{lang}: audio starts at {t}, video at {v0} ({base}{seg})"
        );
    }
    if live {
        let (_, ap) = a.get(&format!("{base}{chi}"));
        check_live_playlist(&String::from_utf8_lossy(&ap));
    }
}

#[test]
fn two_audio_languages_live_catchup_and_start_over() {
    let a = Atoll::start_with("renditions", CONFIG);
    let t0 = now_s();
    let port = free_udp_port();
    let body = json!({"id": "duo", "name": "Duo", "sources": [format!("udp://127.0.0.1:{port}")]})
        .to_string();
    let (s, v) = a.api("POST", "/api/channels", Some(&body));
    assert_eq!(s, 201, "{v}");
    let _feed = two_language_feed(port);
    a.wait_for("the master playlist", T, || {
        let (s, b) = a.get("/live/duo/index.m3u8");
        s == 200 && String::from_utf8_lossy(&b).contains("#EXT-X-STREAM-INF")
    });
    // wait for a few segments in the renditions' window
    a.wait_for("four segments", T, || {
        let (s, b) = a.get("/live/duo/v-index.m3u8");
        s == 200 && String::from_utf8_lossy(&b).matches("#EXTINF").count() >= 4
    });
    check_master(&a, "/live/duo/", "index.m3u8", true);

    // every rendition segment of the window asked for: more cuts than the channel's rendition
    // cache may hold (rendition_cache_bytes 256 KiB); it never holds more than that
    let mut asked = std::collections::BTreeMap::new();
    for _ in 0..2 {
        for r in ["v-", "a0-", "a1-"] {
            let (_, p) = a.get(&format!("/live/duo/{r}index.m3u8"));
            for seg in String::from_utf8_lossy(&p)
                .lines()
                .filter(|l| l.starts_with(r))
            {
                let (s, b) = a.get(&format!("/live/duo/{seg}"));
                assert_eq!(s, 200, "{seg}");
                asked.insert(seg.to_string(), b.len());
                let held = a.metric("atoll_channel_rendition_cache_bytes{channel=\"duo\"}");
                assert!(held <= 256 << 10, "the cut cache holds {held} bytes");
            }
        }
    }
    let asked: usize = asked.values().sum();
    assert!(asked > 256 << 10, "only {asked} bytes of cuts asked for");

    // a rendition the channel does not have, and rendition names on other files
    for bad in ["a2-index.m3u8", "s0-index.m3u8", "a0-mpegts", "a1-999.ts"] {
        assert_eq!(a.get(&format!("/live/duo/{bad}")).0, 404, "{bad}");
    }
    // the full segments keep both tracks (set-top boxes, /mpegts, the archive)
    let (_, p) = a.get("/live/duo/v-index.m3u8");
    let p = String::from_utf8_lossy(&p).to_string();
    let last = p.lines().rfind(|l| l.starts_with("v-")).unwrap();
    let full = probe_languages(&a.url(&format!("/live/duo/{}", &last[2..])));
    assert!(
        full.iter().any(|s| s == "aac,audio,chi") && full.iter().any(|s| s == "mp2,audio,eng"),
        "{full:?}"
    );

    // … and so does /mpegts, the stream set-top boxes and VLC read
    let ts = probe_languages(&a.url("/live/duo/mpegts"));
    assert!(
        ts.iter().any(|s| s == "aac,audio,chi") && ts.iter().any(|s| s == "mp2,audio,eng"),
        "/mpegts: {ts:?}"
    );
    // the API lists the tracks
    let (_, v) = a.api("GET", "/api/channels/duo", None);
    let audio = v["tracks"]["audio"]
        .as_array()
        .expect("tracks.audio")
        .clone();
    let got: Vec<(String, String)> = audio
        .iter()
        .map(|t| {
            (
                t["codec"].as_str().unwrap_or("").to_string(),
                t["language"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![("aac".into(), "chi".into()), ("mp2".into(), "eng".into())],
        "{v}"
    );
    assert_eq!(audio[1]["kind"], "main");

    // catch-up: a range of the archive, and start-over from a time
    let from = t0 + 2;
    a.wait_for("16 s recorded", T, || now_s() > from + 18);
    check_master(&a, "/live/duo/", &format!("index-{from}-12.m3u8"), false);
    let (s, b) = a.get(&format!("/live/duo/a1-archive-{from}-12.m3u8"));
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    assert!(String::from_utf8_lossy(&b).contains("a1-rec-"));
    let (s, b) = a.get(&format!("/live/duo/timeshift_abs-{from}.m3u8"));
    let so = String::from_utf8_lossy(&b).to_string();
    assert_eq!(s, 200, "{so}");
    assert!(
        so.contains(&format!("URI=\"a1-timeshift_abs-{from}.m3u8\"")),
        "{so}"
    );
    // the apps' shift mode: the live URL with ?utc= gives the same master, canonical names
    let (s, b) = a.get(&format!("/live/duo/index.m3u8?utc={from}"));
    assert_eq!(s, 200);
    assert!(String::from_utf8_lossy(&b).contains(&format!("a0-timeshift_abs-{from}.m3u8")));
    // the catch-up download keeps both languages
    let dl = probe_languages(&a.url(&format!("/live/duo/archive-{from}-12.ts")));
    assert!(
        dl.iter().any(|s| s == "aac,audio,chi") && dl.iter().any(|s| s == "mp2,audio,eng"),
        "archive TS: {dl:?}"
    );
    // a rendition of an endless TS is not a thing
    assert_eq!(a.get(&format!("/live/duo/a1-archive-{from}-12.ts")).0, 404);
}

/// The cues of a WebVTT file: (start s, end s, text), times made absolute (90 kHz / 90000) with
/// its `X-TIMESTAMP-MAP`; and the map's MPEGTS value.
fn vtt_cues(vtt: &str) -> (i64, Vec<(f64, f64, String)>) {
    assert!(vtt.starts_with("WEBVTT"), "{vtt}");
    let map = vtt
        .lines()
        .find_map(|l| l.strip_prefix("X-TIMESTAMP-MAP="))
        .unwrap_or_else(|| panic!("no X-TIMESTAMP-MAP in {vtt}"));
    let mpegts: i64 = map
        .split(',')
        .find_map(|p| p.strip_prefix("MPEGTS:"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{map}"));
    assert!(map.contains("LOCAL:00:00:00.000"), "{map}");
    let secs = |t: &str| -> f64 {
        let p: Vec<f64> = t.split(':').map(|x| x.parse().unwrap()).collect();
        p.iter().fold(0.0, |a, x| a * 60.0 + x)
    };
    let mut cues = Vec::new();
    let mut lines = vtt.lines();
    while let Some(l) = lines.next() {
        if let Some((a, b)) = l.split_once(" --> ") {
            let text = lines.next().unwrap_or("").to_string();
            let base = mpegts as f64 / 90_000.0;
            cues.push((
                base + secs(a),
                base + secs(b.split(' ').next().unwrap()),
                text,
            ));
        }
    }
    (mpegts, cues)
}

#[test]
fn a_teletext_page_becomes_a_webvtt_subtitle_rendition() {
    let a = Atoll::start_with("renditions-ttx", CONFIG);
    let t0 = now_s();
    let port = free_udp_port();
    let body =
        json!({"id": "ttx", "name": "Teletext", "sources": [format!("udp://127.0.0.1:{port}")]})
            .to_string();
    let (s, v) = a.api("POST", "/api/channels", Some(&body));
    assert_eq!(s, 201, "{v}");
    let _feed = teletext_feed(port, &["-c", "copy"], true);
    a.wait_for("the master playlist", T, || {
        let (s, b) = a.get("/live/ttx/index.m3u8");
        s == 200 && String::from_utf8_lossy(&b).contains("TYPE=SUBTITLES")
    });
    let (_, m) = a.get("/live/ttx/index.m3u8");
    let master = String::from_utf8_lossy(&m).to_string();
    let subs = rendition_uri(&master, "SUBTITLES", "eng");
    assert_eq!(subs, "s0-index.m3u8");
    assert!(
        master.contains("SUBTITLES=\""),
        "the variant names the group: {master}"
    );

    // ffprobe on the master playlist: the video and the audio (ffmpeg 5.1's HLS demuxer skips
    // subtitle renditions; the WebVTT rendition is read on its own below)
    let m = probe_languages(&a.url("/live/ttx/index.m3u8"));
    assert!(
        m.iter().any(|s| s.starts_with("h264,video"))
            && m.iter().any(|s| s.starts_with("aac,audio")),
        "master: {m:?}"
    );
    // the TS outputs carry the teletext stream with its language
    let ts = probe_languages(&a.url("/live/ttx/mpegts"));
    let (_, v) = a.api("GET", "/api/channels/ttx", None);
    assert!(
        ts.iter().any(|s| s == "dvb_teletext,subtitle,eng"),
        "/mpegts: {ts:?}"
    );
    // DVB bitmap subtitles pass through on the TS outputs (with their language and packets),
    // and are no HLS rendition
    assert!(
        ts.iter().any(|s| s == "dvb_subtitle,subtitle,fre"),
        "/mpegts: {ts:?}"
    );
    let dvbsub_packets = |url: &str| -> u64 {
        ffprobe_entries(
            url,
            &["-count_packets", "-select_streams", "s"],
            "stream=codec_name,nb_read_packets",
        )
        .iter()
        .find_map(|l| l.strip_prefix("dvb_subtitle,")?.parse().ok())
        .unwrap_or_else(|| panic!("no dvb_subtitle stream in {url}"))
    };
    let mpegts_sample = temp_dir("ttx-mpegts").join("sample.ts");
    let got = ffmpeg_to_file(
        &a.url("/live/ttx/mpegts"),
        &["-map", "0", "-c", "copy", "-t", "5", "-f", "mpegts"],
        &mpegts_sample,
    );
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert!(
        dvbsub_packets(path_str(&mpegts_sample)) >= 1,
        "display sets on /mpegts"
    );
    assert!(!master.contains("LANGUAGE=\"fre\""), "{master}");
    assert_eq!(v["tracks"]["subtitles"][1]["codec"], "dvbsub", "{v}");
    assert_eq!(v["tracks"]["subtitles"][0]["codec"], "teletext", "{v}");
    assert_eq!(
        v["tracks"]["subtitles"][0]["pages"][0]["page"], "888",
        "{v}"
    );

    a.wait_for("four subtitle segments", T, || {
        let (s, b) = a.get("/live/ttx/s0-index.m3u8");
        s == 200 && String::from_utf8_lossy(&b).matches("#EXTINF").count() >= 4
    });
    let (_, p) = a.get("/live/ttx/s0-index.m3u8");
    let p = String::from_utf8_lossy(&p).to_string();
    let segs: Vec<&str> = p.lines().filter(|l| l.starts_with("s0-")).collect();
    assert!(segs.iter().all(|s| s.ends_with(".vtt")), "{p}");
    let mut all = Vec::new();
    for seg in &segs {
        let (s, b) = a.get(&format!("/live/ttx/{seg}"));
        assert_eq!(s, 200, "{seg}");
        let vtt = String::from_utf8_lossy(&b).to_string();
        let (mpegts, cues) = vtt_cues(&vtt);
        // the map is the video segment's first PTS: cues sit on the video's timeline
        let video = format!("v-{}.ts", &seg[3..seg.len() - 4]);
        let v0 = start_time(&a.url(&format!("/live/ttx/{video}")));
        assert!(
            (mpegts as f64 / 90_000.0 - v0).abs() < 0.002,
            "{seg}: MPEGTS {mpegts} vs video start {v0}"
        );
        all.extend(cues);
    }
    let texts: Vec<&str> = all.iter().map(|c| c.2.as_str()).collect();
    assert!(
        texts.iter().filter(|t| t.starts_with("Subtitle ")).count() >= 3,
        "cues: {all:?}"
    );
    // one page every 2 s of video: the cue starts of consecutive pages are 2 s apart (a page
    // still on screen at a segment's start is cut into that segment too: same text)
    let mut starts: Vec<(String, f64)> = Vec::new();
    for c in &all {
        if starts.last().is_none_or(|l| l.0 != c.2) {
            starts.push((c.2.clone(), c.0));
        }
    }
    for w in starts.windows(2) {
        let gap = w[1].1 - w[0].1;
        assert!((gap - 2.0).abs() < 0.05, "cue starts {starts:?}");
    }

    // catch-up: the range's master offers the subtitles, and its WebVTT has the pages
    let from = t0 + 2;
    a.wait_for("16 s recorded", T, || now_s() > from + 18);
    let (s, b) = a.get(&format!("/live/ttx/index-{from}-12.m3u8"));
    let cm = String::from_utf8_lossy(&b).to_string();
    assert_eq!(s, 200, "{cm}");
    let csubs = rendition_uri(&cm, "SUBTITLES", "eng");
    let m = probe_languages(&a.url(&format!("/live/ttx/index-{from}-12.m3u8")));
    assert!(
        m.iter().any(|s| s.starts_with("h264,video"))
            && m.iter().any(|s| s.starts_with("aac,audio")),
        "catch-up master: {m:?}"
    );
    // the archive kept both subtitle streams: the range's TS download carries them
    let dl = probe_languages(&a.url(&format!("/live/ttx/archive-{from}-12.ts")));
    assert!(
        dl.iter().any(|s| s == "dvb_teletext,subtitle,eng")
            && dl.iter().any(|s| s == "dvb_subtitle,subtitle,fre"),
        "catch-up download: {dl:?}"
    );
    assert!(
        dvbsub_packets(&a.url(&format!("/live/ttx/archive-{from}-12.ts"))) >= 3,
        "display sets in the archive"
    );
    let (s, b) = a.get(&format!("/live/ttx/{csubs}"));
    let cp = String::from_utf8_lossy(&b).to_string();
    assert_eq!(s, 200, "{cp}");
    let mut texts = Vec::new();
    for seg in cp.lines().filter(|l| l.starts_with("s0-")) {
        let (s, b) = a.get(&format!("/live/ttx/{seg}"));
        assert_eq!(s, 200, "{seg}");
        texts.extend(
            vtt_cues(&String::from_utf8_lossy(&b))
                .1
                .into_iter()
                .map(|c| c.2),
        );
    }
    assert!(
        texts.iter().filter(|t| t.starts_with("Subtitle ")).count() >= 3,
        "catch-up cues: {texts:?}"
    );
    // ffmpeg reads the range's subtitle rendition through and gets the same pages
    let out = temp_dir("ttx-read").join("subs.vtt");
    let st = ffmpeg_to_file(
        &a.url(&format!("/live/ttx/{csubs}")),
        &["-c:s", "webvtt"],
        &out,
    );
    assert!(
        st.status.success() && st.stderr.is_empty(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let read = std::fs::read_to_string(&out).unwrap();
    let pages: std::collections::BTreeSet<&str> = read
        .lines()
        .filter(|l| l.starts_with("Subtitle "))
        .collect();
    assert!(pages.len() >= 3, "ffmpeg read {read}");
}
