//! The viewer page's Films / Series section against a real server in headless Chromium
//! (web/tests/player-vod.mjs): a 30 s H.264 film with two audio languages (eng 440 Hz, fra 880 Hz)
//! and an English SRT subtitle is made with ffmpeg and imported with `atoll vod import` while the
//! server runs, given a poster, and two more imports become a series' episodes. The script switches
//! from Live TV to Films with the keyboard, finds the film and its poster, opens the details,
//! plays it, turns the subtitle on (its cue becomes active) and off, switches the audio to French,
//! seeks to the middle, pauses, goes back, sees "Continue watching" (also in Chinese), reloads,
//! resumes near the saved position, steps back 10 s, opens the series' episodes, filters by
//! category, searches, and returns to Live TV, with the viewer token on every request. Screenshots land in target/screenshots/ (vod-*.png).
//!
//! The film is 30 s rather than ~10 s: "Continue watching" lists titles stopped after 10 s and
//! before 95 %, so a shorter film leaves no room to stop in.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const CUE: &str = "Hello from the subtitle";

#[test]
fn films_section_plays_seeks_switches_tracks_and_resumes_in_chromium() {
    require("ffmpeg");
    let dir = temp_dir("player-vod-media");
    // not film.srt: a file of that name next to film.mkv would be imported as a second subtitle
    let srt = dir.join("cue.srt");
    std::fs::write(&srt, format!("1\n00:00:01,000 --> 00:00:06,000\n{CUE}\n\n")).unwrap();
    let film = dir.join("film.mkv");
    ffmpeg_run(&[
        "-y",
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25:duration=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=880:duration=30",
        "-i",
        path_str(&srt),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-map",
        "2:a",
        "-map",
        "3:s",
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
        "-c:s",
        "srt",
        "-metadata:s:a:0",
        "language=eng",
        "-metadata:s:a:1",
        "language=fra",
        "-metadata:s:s:0",
        "language=eng",
        path_str(&film),
    ]);
    let poster = dir.join("poster.jpg");
    ffmpeg_run(&[
        "-y",
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=200x300",
        "-frames:v",
        "1",
        path_str(&poster),
    ]);

    let a = Atoll::start("player-vod");
    // the film, and two episodes of a series (imported last episode first: the page orders them)
    let id = vod_import(&a, &film, "Test Film", "Films");
    let ep2 = vod_import(&a, &film, "Second Night", "Series");
    let ep1 = vod_import(&a, &film, "Pilot", "Series");
    for (ep, n) in [(ep2, 2), (ep1, 1)] {
        let body = json!({"series": "Atoll Tales", "season": 1, "episode": n}).to_string();
        let (s, v) = a.api("PUT", &format!("/api/vod/{ep}"), Some(&body));
        assert_eq!(s, 200, "{v}");
    }
    let meta = json!({"title_en": "The Test Film", "year": 2024, "genre": "Drama",
                      "description": "A film for the test."});
    let (s, v) = a.api("PUT", &format!("/api/vod/{id}"), Some(&meta.to_string()));
    assert_eq!(s, 200, "{v}");
    let jpeg = std::fs::read(&poster).unwrap();
    let auth = basic("admin", PASSWORD);
    let (s, _, body) = raw(
        a.http,
        "PUT",
        &format!("/api/vod/{id}/poster"),
        &[("Authorization", &auth), ("Content-Type", "image/jpeg")],
        &jpeg,
    );
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));

    // what the page will be given
    let (s, list) = a.get("/api/player/vod");
    assert_eq!(s, 200);
    let list: Value = serde_json::from_slice(&list).unwrap();
    let t = list["titles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("{list}"))
        .clone();
    assert_eq!(t["poster"], format!("/vod/{id}/poster.jpg"), "{t}");
    assert_eq!(t["audio"].as_array().unwrap().len(), 2, "{t}");
    assert_eq!(t["subtitles"].as_array().unwrap().len(), 1, "{t}");
    assert_eq!(t["subtitles"][0]["language"], "eng", "{t}");
    let duration = t["duration_s"].as_f64().unwrap();
    assert!((duration - 30.0).abs() < 0.5, "{t}");
    // the live channel plays too (the script ends on Live TV)
    a.wait_playlist("demo", 1, Duration::from_secs(40));

    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let cfg = json!({
        "id": id,
        "title": "Test Film",
        "duration": duration,
        "meta": meta,
        "cue": {"text": CUE, "from": 1.0, "to": 6.0},
        "series": {"name": "Atoll Tales", "episodes": [
            {"id": ep2, "season": 1, "episode": 2},
            {"id": ep1, "season": 1, "episode": 1},
        ]},
        "token": "vod-viewer-7",
    });
    let (v, report) = browser_script(
        "tests/player-vod.mjs",
        &[&a.url(""), &shots.to_string_lossy(), &cfg.to_string()],
        240,
    );
    assert_flow_ok(&v, &report, &a, "the Films / Series flow");
    let f = &v["facts"];
    // the poster came from the server, the cue showed at its time, French is playing
    assert_eq!(f["posterWidth"], 200, "{f}");
    assert_eq!(f["cue"]["text"], CUE, "{f}");
    assert_eq!(f["audio"]["lang"], "fra", "{f}");
    assert_eq!(f["audio"]["label"], "Audio: Français", "{f}");
    // the seek landed in the middle; the reload resumed where the viewer paused
    let landed = f["seekLanded"].as_f64().unwrap();
    assert!((landed - duration / 2.0).abs() < 1.5, "{f}");
    let (paused, resumed) = (
        f["pausedAt"].as_f64().unwrap(),
        f["resumedAt"].as_f64().unwrap(),
    );
    assert!(paused > 10.0 && (resumed - paused).abs() < 2.5, "{f}");
    assert_eq!(f["zh"]["cont"], "继续观看", "{f}");
    assert_eq!(f["liveChannel"], "demo", "{f}");
    assert!(shots.join("vod-library.png").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
