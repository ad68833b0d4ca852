//! The live player's audio and subtitle menu against a real server in headless Chromium
//! (web/tests/player-tracks.mjs): a UDP channel fed by ffmpeg with the fixture clip's audio twice
//! as AAC (`chi`, `eng`; Chromium has no MP2 decoder) and a teletext subtitle page added by the
//! project's muxer, its preferred language set to English. The script sees English chosen,
//! switches to Chinese with the remote keys, turns the subtitles on (a cue shows), and after a
//! reload gets the same choice back. Screenshots land in target/screenshots/ (tracks-*.png).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use serde_json::json;

#[test]
fn the_live_player_switches_audio_language_and_subtitles_and_remembers_them() {
    let a = Atoll::start_with("player-tracks", &[("segment_seconds", "2")]);
    let port = free_udp_port();
    let body = json!({"id": "duo", "name": "Duo", "number": 7, "audio_language": "en",
                      "sources": [format!("udp://127.0.0.1:{port}")]})
    .to_string();
    let (s, v) = a.api("POST", "/api/channels", Some(&body));
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        v["audio_language"], "eng",
        "a 639-1 code is stored as 639-2: {v}"
    );
    let _feed = teletext_feed(
        port,
        &[
            "-map",
            "0:v",
            "-map",
            "0:a",
            "-map",
            "0:a",
            "-c",
            "copy",
            "-metadata:s:a:0",
            "language=chi",
            "-metadata:s:a:1",
            "language=eng",
        ],
        false,
    );
    // the master names English the default, and offers the subtitles
    a.wait_for("the master playlist", Duration::from_secs(60), || {
        let (s, b) = a.get("/live/duo/index.m3u8");
        let m = String::from_utf8_lossy(&b);
        s == 200 && m.contains("TYPE=SUBTITLES") && m.matches("TYPE=AUDIO").count() == 2
    });
    let (_, m) = a.get("/live/duo/index.m3u8");
    let master = String::from_utf8_lossy(&m).to_string();
    let eng = master
        .lines()
        .find(|l| l.contains("TYPE=AUDIO") && l.contains("LANGUAGE=\"eng\""))
        .unwrap_or_else(|| panic!("{master}"));
    assert!(eng.contains("DEFAULT=YES"), "{master}");

    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let cfg = json!({"channel": "duo", "cue": "Subtitle "});
    let (v, report) = browser_script(
        "tests/player-tracks.mjs",
        &[&a.url(""), &shots.to_string_lossy(), &cfg.to_string()],
        180,
    );
    assert_flow_ok(&v, &report, &a, "the audio/subtitle flow");
    let f = &v["facts"];
    assert_eq!(f["initial"]["audio"], json!(["chi", "eng"]), "{f}");
    assert_eq!(f["initial"]["subs"], json!(["eng"]), "{f}");
    assert!(
        f["cue"]["text"]
            .as_str()
            .unwrap_or("")
            .starts_with("Subtitle "),
        "{f}"
    );
    assert_eq!(f["afterReload"]["audio"], "Audio: 中文", "{f}");
    assert_eq!(f["afterReload"]["subs"], "Subtitles: English", "{f}");
    assert!(shots.join("tracks-subtitles.png").exists());
}
