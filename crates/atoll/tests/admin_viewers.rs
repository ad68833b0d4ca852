//! The console's Viewers page (viewer accounts for IPTV apps) in a real browser: headless Chromium
//! (playwright-core) runs web/tests/admin-viewers.mjs against a server with `viewer_accounts = true`:
//! the page is reached from the navigation, an account is added through the dialog (a missing
//! password and a reserved name refused next to their fields first; a generated password; the
//! account's M3U link; a channel group and a VOD category ticked), listed, the table refreshes by
//! itself, its max connections edited, an app's stream counted in the Active column, a CSV imported
//! (counts, generated passwords and their download), a CSV with a bad line refused with nothing
//! changed, an account disabled in its row, the search, one deleted, and the CSV exported. The
//! server's API and the Xtream Codes login are checked afterwards. Screenshots land in
//! target/screenshots/ (admin-viewers.png, admin-viewers-dialog.png).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const HEADER: &str = "username,password,enabled,expires,max_connections,groups,vod_categories,note";

/// `/player_api.php` for an account: (status, JSON body).
fn xc_login(a: &Atoll, user: &str, password: &str) -> (u16, Value) {
    let (s, b) = a.get(&format!(
        "/player_api.php?username={user}&password={password}"
    ));
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

#[test]
fn viewers_page_add_edit_import_disable_delete_export_in_chromium() {
    let a = Atoll::start_with("admin-viewers", &[("viewer_accounts", "true")]);
    // a second channel group to choose from (inactive: nothing to pull)
    let news = json!({"id": "news", "name": "News", "group": "News", "sources": ["testsrc://"], "active": false, "record": false});
    let (s, v) = a.api("POST", "/api/channels", Some(&news.to_string()));
    assert_eq!(s, 201, "{v}");
    let dir = temp_dir("admin-viewers-files");
    // a library category to choose from
    let film = dir.join("film.mp4");
    make_small_film(&film);
    vod_import(&a, &film, "Island Story", "Films");
    // the Active column counts an app's stream of the demo channel
    a.wait_playlist("demo", 1, Duration::from_secs(40));

    let good = dir.join("cabins.csv");
    std::fs::write(
        &good,
        format!(
            "{HEADER}\ncabin-201,given-pass-1,true,,2,Demo|News,,Deck 2\ncabin-202,,true,2099-12-31,1,,,Deck 2\ncabin-203,,true,,1,,,Deck 2\n"
        ),
    )
    .unwrap();
    // the second line is fine, the third is not: nothing may be imported
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        format!(
            "{HEADER}\ncabin-301,,true,,1,,,fine\ncabin-302,,true,,500,,,too many connections\n"
        ),
    )
    .unwrap();

    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let (v, report) = browser_script(
        "tests/admin-viewers.mjs",
        &[
            &a.url(""),
            PASSWORD,
            &shots.to_string_lossy(),
            &good.to_string_lossy(),
            &bad.to_string_lossy(),
        ],
        240,
    );
    assert_eq!(
        v["ok"],
        true,
        "the Viewers page flow failed: {}\n{report}page errors: {}\n--- atoll log (tail) ---\n{}",
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

    // the server has what the page did, sorted by user name, without passwords
    let (s, list) = a.api("GET", "/api/viewers", None);
    assert_eq!(s, 200, "{list}");
    let viewers = list["viewers"].as_array().expect("viewers");
    let names: Vec<&str> = viewers
        .iter()
        .map(|x| x["username"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        ["cabin-101", "cabin-201", "cabin-203", "old-cabin"],
        "{list}"
    );
    let by = |n: &str| viewers.iter().find(|x| x["username"] == n).unwrap().clone();

    let added = &v["added"];
    let password = added["password"].as_str().expect("added.password");
    assert_eq!(password.len(), 10, "the generated password: {password}");
    assert!(
        !list.to_string().contains(password),
        "GET /api/viewers shows a password: {list}"
    );
    let c101 = by("cabin-101");
    assert_eq!(c101["max_connections"], 3, "edited in the dialog: {c101}");
    assert_eq!(c101["enabled"], true, "{c101}");
    assert_eq!(c101["expires"], added["expires"], "{c101}");
    assert_eq!(c101["packages"]["groups"], json!(["Demo"]), "{c101}");
    assert_eq!(added["vod_category"], "Films", "{added}");
    assert_eq!(
        c101["packages"]["vod_categories"],
        json!(["Films"]),
        "{c101}"
    );
    assert_eq!(c101["note"], "Deck 3, cabin 101", "{c101}");

    let c201 = by("cabin-201");
    assert_eq!(
        c201["packages"]["groups"],
        json!(["Demo", "News"]),
        "{c201}"
    );
    assert_eq!(c201["max_connections"], 2, "{c201}");
    assert_eq!(c201["note"], "Deck 2", "{c201}");
    assert_eq!(by("cabin-203")["enabled"], false, "disabled in its row");
    assert_eq!(by("old-cabin")["expires"], "2020-01-01");

    // deleted through the page; the refused file changed nothing
    assert_eq!(v["deleted"], "cabin-202");
    for gone in ["cabin-202", "cabin-301", "cabin-302"] {
        let (s, b) = a.api("GET", &format!("/api/viewers/{gone}"), None);
        assert_eq!(s, 404, "{gone}: {b}");
    }
    let refused = v["refusedLines"].as_array().expect("refusedLines");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(
        refused[0]["line"], 3,
        "counted from the header: {refused:?}"
    );

    // the generated passwords: shown for the two new accounts without one, and downloaded
    let generated = v["generated"].as_array().expect("generated");
    let gen_names: Vec<&str> = generated
        .iter()
        .map(|g| g["username"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(gen_names, ["cabin-202", "cabin-203"], "{generated:?}");
    let downloaded = v["downloaded"].as_str().expect("downloaded");
    assert!(downloaded.starts_with("username,password"), "{downloaded}");
    for g in generated {
        assert!(
            downloaded.contains(&format!(
                "{},{}",
                g["username"].as_str().unwrap(),
                g["password"].as_str().unwrap()
            )),
            "{downloaded}"
        );
    }

    // the export as the page downloaded it: the header, every account, no passwords
    let export = v["export"].as_str().expect("export");
    assert_eq!(
        export.lines().next().map(str::trim_end),
        Some(HEADER),
        "{export}"
    );
    for n in ["cabin-101", "cabin-201", "cabin-203", "old-cabin"] {
        assert!(
            export.lines().any(|l| l.starts_with(&format!("{n},,"))),
            "{n} missing or with a password: {export}"
        );
    }

    // the passwords work in an IPTV app's login: the one generated in the dialog, the one given
    // in the CSV; the account disabled in its row is refused
    let (s, b) = xc_login(&a, "cabin-101", password);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["user_info"]["auth"], 1, "{b}");
    assert_eq!(b["user_info"]["max_connections"], "3", "{b}");
    let (s, b) = xc_login(&a, "cabin-201", "given-pass-1");
    assert_eq!((s, &b["user_info"]["auth"]), (200, &json!(1)), "{b}");
    let c203 = generated[1]["password"].as_str().unwrap();
    let (s, b) = xc_login(&a, "cabin-203", c203);
    assert_eq!(s, 403, "a disabled account: {b}");
    assert_eq!(b["user_info"]["status"], "Disabled", "{b}");
    let (s, _) = xc_login(&a, "cabin-101", "not-the-password");
    assert_eq!(s, 401);

    assert!(shots.join("admin-viewers.png").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
