//! The console's Library page in a real browser: headless Chromium (playwright-core) runs
//! web/tests/admin-vod.mjs against a fresh server with files made by ffmpeg: an MP4 uploaded
//! through the page's file input (tus, then the import), the title listed, edited (a bad year is
//! refused next to its field), a poster uploaded and shown, the HLS preview, a refused file with
//! its reason, a file dropped onto the page, an upload interrupted (PATCH requests aborted) and
//! resumed from the server's offset after a page reload, and the title deleted. The server's API
//! is checked afterwards. Screenshots land in target/screenshots/ (admin-vod.png,
//! admin-vod-dialog.png).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn ffmpeg(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    require("ffmpeg");
    let out = dir.join(name);
    let st = Command::new("ffmpeg")
        .args(["-y", "-v", "error"])
        .args(args)
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "ffmpeg could not make {name}");
    out
}

#[test]
fn library_page_upload_edit_poster_refusal_resume_delete_in_chromium() {
    let dir = temp_dir("admin-vod-files");
    let small = ffmpeg(
        &dir,
        "Small Film.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25:duration=6",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=6",
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
            "-shortest",
        ],
    );
    let big = ffmpeg(
        &dir,
        "Big Film.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=640x480:rate=25:duration=30",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=30",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "2M",
            "-g",
            "50",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ],
    );
    let poster = ffmpeg(
        &dir,
        "poster.jpg",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=200x300",
            "-frames:v",
            "1",
        ],
    );
    // a text file named .mp4: refused with its reason
    let bogus = dir.join("Not A Film.mp4");
    std::fs::write(
        &bogus,
        "this is not a video file, only some text\n".repeat(200),
    )
    .unwrap();
    let srt = dir.join("island.zh.srt");
    std::fs::write(&srt, "1\n00:00:01,000 --> 00:00:03,000\n海浪来了\n").unwrap();
    let big_len = std::fs::metadata(&big).unwrap().len();
    assert!(big_len > 2_000_000, "the resume file is {big_len} bytes");

    let a = Atoll::start("admin-vod");
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let (v, report) = browser_script(
        "tests/admin-vod.mjs",
        &[
            &a.url(""),
            PASSWORD,
            &shots.to_string_lossy(),
            &small.to_string_lossy(),
            &big.to_string_lossy(),
            &poster.to_string_lossy(),
            &bogus.to_string_lossy(),
            &srt.to_string_lossy(),
        ],
        240,
    );
    assert_eq!(
        v["ok"],
        true,
        "the Library page flow failed: {}\n{report}page errors: {}\n--- atoll log (tail) ---\n{}",
        v["error"],
        v["pageErrors"],
        tail(&a.log_text(), 60)
    );
    assert!(
        v["pageErrors"]
            .as_array()
            .map(|a| a.is_empty())
            .unwrap_or(true),
        "JavaScript errors in the console: {}",
        v["pageErrors"]
    );

    // the resume: the first PATCH after the reload carried the offset the server had kept
    let saved = v["resume"]["serverOffset"]
        .as_u64()
        .expect("resume.serverOffset");
    let first = v["resume"]["firstPatchOffset"]
        .as_u64()
        .expect("resume.firstPatchOffset");
    assert!(
        saved > 0 && saved < big_len,
        "offset kept by the server: {saved} of {big_len}"
    );
    assert_eq!(
        first, saved,
        "the upload resumed from the server's offset, not from 0"
    );
    assert_eq!(
        v["resume"]["postsAfterReload"], 0,
        "no new upload was created: {}",
        v["resume"]
    );

    // the dialog added a subtitle track and removed it again
    assert_eq!(
        (&v["subtitleAdded"], &v["subtitleRemoved"]),
        (
            &serde_json::Value::Bool(true),
            &serde_json::Value::Bool(true)
        ),
        "{report}"
    );

    // the refusal reason shown is the server's
    let reason = v["refusal"].as_str().unwrap_or("");
    assert!(!reason.is_empty(), "no refusal reason shown");

    // the server agrees: the small film was deleted, the resumed one stays; the imports list
    // has every upload, the refused ones with their reasons
    let (s, list) = a.api("GET", "/api/vod", None);
    assert_eq!(s, 200, "{list}");
    let titles = list["titles"].as_array().unwrap();
    let deleted = v["deletedId"].as_i64().expect("deletedId");
    assert!(
        titles.iter().all(|t| t["id"].as_i64() != Some(deleted)),
        "title {deleted} still listed: {list}"
    );
    let (s, _) = a.api("GET", &format!("/api/vod/{deleted}"), None);
    assert_eq!(s, 404, "the deleted title is gone");
    assert_eq!(list["total"], 1, "only the resumed film is left: {list}");
    let big_title = &titles[0];
    assert_eq!(big_title["size_bytes"].as_u64().map(|n| n > 0), Some(true));
    assert_eq!(big_title["video"]["width"], 640, "{big_title}");
    assert_eq!(big_title["source_name"], "Big Film.mp4", "{big_title}");

    let (_, imports) = a.api("GET", "/api/vod/imports", None);
    let rows = imports["imports"].as_array().unwrap();
    let by_name = |n: &str| {
        rows.iter()
            .filter(|r| r["source_name"] == n)
            .collect::<Vec<_>>()
    };
    assert_eq!(by_name("Small Film.mp4").len(), 1, "{imports}");
    assert_eq!(by_name("Small Film.mp4")[0]["state"], "done");
    assert_eq!(
        by_name("Big Film.mp4").len(),
        1,
        "one import for the resumed upload: {imports}"
    );
    assert_eq!(by_name("Big Film.mp4")[0]["state"], "done");
    let bad = by_name("Not A Film.mp4");
    assert_eq!(bad.len(), 1, "{imports}");
    assert_eq!(bad[0]["state"], "failed");
    assert_eq!(
        bad[0]["error"].as_str(),
        Some(reason),
        "the page showed the server's reason"
    );

    // the edits made through the dialog were seen by the server before the delete
    let edited = &v["edited"];
    assert_eq!(edited["title"], "Island Story (edited)", "{edited}");
    assert_eq!(edited["category"], "Documentaries", "{edited}");
    assert_eq!(edited["year"], 2021, "{edited}");
    assert!(
        edited["poster"].as_str().is_some(),
        "a poster was set: {edited}"
    );
    let (_, cats) = a.api("GET", "/api/vod/categories", None);
    assert!(
        cats["categories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "Documentaries"),
        "the new category exists: {cats}"
    );
    assert!(shots.join("admin-vod.png").exists());
}
