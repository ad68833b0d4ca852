//! The Debian package, installed for real: `packaging/build-deb.sh` packages the test binary
//! (stripped), `lintian` finds no error, `dpkg -i` creates the atoll user and /var/lib/atoll,
//! `systemd-analyze verify` accepts the installed unit, the unit's ExecStart run as its user
//! with its environment, working directory, umask and open-file limit serves the demo channel,
//! `dpkg -r` keeps the data and `dpkg --purge` removes it.
//!
//! systemd is not PID 1 on the test machines, so the service is not started by systemctl: the
//! unit's own lines are read and carried out instead (the listen addresses moved to free ports
//! through ATOLL_HTTP/ATOLL_RTMP, which override the config file).
//!
//! It changes the machine (a package, a system user), so it runs only as root on a machine
//! without an atoll package or its directories (CI's throwaway machines), and skips with a
//! message anywhere else (a developer's machine with a real install is never touched).
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn sh(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cmd)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Why this machine must not be used, if so.
fn unsafe_here() -> Option<String> {
    let (_, uid) = sh("id", &["-u"]);
    if uid.trim() != "0" {
        return Some("not running as root".into());
    }
    if Command::new("dpkg").arg("--version").output().is_err() {
        return Some("no dpkg (not Debian)".into());
    }
    let (_, status) = sh("dpkg-query", &["-W", "-f=${Status}", "atoll"]);
    if status.contains("installed") || status.contains("config-files") {
        return Some(format!("an atoll package is on this machine ({status})"));
    }
    for p in ["/var/lib/atoll", "/etc/atoll", "/usr/bin/atoll"] {
        if Path::new(p).exists() {
            return Some(format!("{p} exists"));
        }
    }
    None
}

/// Purges the package however the test ends.
struct Purge;
impl Drop for Purge {
    fn drop(&mut self) {
        let _ = sh("dpkg", &["--purge", "atoll"]);
    }
}

/// `Key=` values of the `[Service]` section of a unit file, in order.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix(&format!("{key}=")))
        .map(|v| v.trim().to_string())
        .collect()
}

/// Carries out the unit: its ExecStart as its User, in its WorkingDirectory, with its UMask,
/// Environment and LimitNOFILE (capped by the machine's hard limit), the listen addresses on
/// free ports; returns once the demo channel has two segments: (process, HTTP port, playlist).
fn run_unit(unit: &str, log: &Path) -> (Killer, u16, String) {
    let exec = unit_values(unit, "ExecStart");
    let user = unit_values(unit, "User");
    let dir = unit_values(unit, "WorkingDirectory");
    let umask = unit_values(unit, "UMask");
    let nofile: u64 = unit_values(unit, "LimitNOFILE")[0].parse().unwrap();
    assert_eq!((exec.len(), user.len(), dir.len()), (1, 1, 1), "{unit}");
    // the machine may cap the open-file limit below the unit's (containers)
    let (_, hard) = sh("sh", &["-c", "ulimit -Hn"]);
    let hard: u64 = hard.trim().parse().unwrap_or(nofile);
    let nofile = nofile.min(hard);
    let (http_port, rtmp_port) = (free_port(), free_port());
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "umask {}; exec prlimit --nofile={nofile}:{nofile} setpriv --reuid {u} --regid {u} --init-groups {}",
            umask.first().map(String::as_str).unwrap_or("0022"),
            exec[0],
            u = user[0],
        ))
        .current_dir(&dir[0])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("ATOLL_HTTP", format!("127.0.0.1:{http_port}"))
        .env("ATOLL_RTMP", format!("127.0.0.1:{rtmp_port}"));
    for e in unit_values(unit, "Environment") {
        let (k, v) = e.split_once('=').unwrap();
        cmd.env(k, v);
    }
    let mut child = Killer(
        cmd.stdout(Stdio::from(std::fs::File::create(log).unwrap()))
            .stderr(Stdio::from(
                std::fs::File::options().append(true).open(log).unwrap(),
            ))
            .spawn()
            .unwrap(),
    );
    let log_text = || std::fs::read_to_string(log).unwrap_or_default();
    let start = Instant::now();
    let mut playlist = String::new();
    while start.elapsed() < Duration::from_secs(40) {
        let (s, b) = http(http_port, "GET", "/live/demo/index.m3u8", None, None);
        playlist = String::from_utf8_lossy(&b).into_owned();
        if s == 200 && playlist.matches("#EXTINF").count() >= 2 {
            break;
        }
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the service exited:\n{}",
            log_text()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        playlist.matches("#EXTINF").count() >= 2,
        "no demo segments:\n{playlist}\n{}",
        log_text()
    );
    (child, http_port, playlist)
}

/// SIGTERM, as systemd stops it; waits for the graceful stop.
fn stop_unit(mut child: Killer, log: &Path) {
    unsafe_free_sigterm(child.0.id());
    let start = Instant::now();
    while child.0.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(text.contains("stopped"), "{text}");
}

#[test]
fn the_package_installs_runs_the_demo_channel_and_purges() {
    if let Some(why) = unsafe_here() {
        eprintln!("SKIPPED the Debian package test: {why} (it installs and purges a package)");
        return;
    }
    for tool in ["lintian", "systemd-analyze"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .unwrap()
                .status
                .success(),
            "{tool} is needed (apt-get install lintian systemd; .ci/run does it)"
        );
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out_dir = temp_dir("deb");
    let t0 = Instant::now();
    let out = Command::new(root.join("packaging/build-deb.sh"))
        .env("ATOLL_BIN", env!("CARGO_BIN_EXE_atoll"))
        .env("ATOLL_DEB_DIR", &out_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deb = PathBuf::from(stdout.lines().last().unwrap().trim());
    let name = deb.file_name().unwrap().to_string_lossy().to_string();
    let (_, arch) = sh("dpkg", &["--print-architecture"]);
    assert_eq!(
        name,
        format!("atoll_{}_{}.deb", env!("CARGO_PKG_VERSION"), arch.trim())
    );
    eprintln!("built {name} in {:?}", t0.elapsed());

    // lintian: no errors (warnings are shown; there are no overrides)
    let (_, lint) = sh("lintian", &["--tag-display-limit", "0", path_str(&deb)]);
    let errors: Vec<&str> = lint.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(errors.is_empty(), "lintian errors:\n{lint}");
    eprintln!(
        "lintian: {}",
        if lint.trim().is_empty() {
            "clean"
        } else {
            lint.trim()
        }
    );

    let _purge = Purge;
    let (ok, text) = sh("dpkg", &["-i", path_str(&deb)]);
    assert!(ok, "dpkg -i: {text}");
    let (ok, pw) = sh("getent", &["passwd", "atoll"]);
    assert!(ok && pw.contains("/var/lib/atoll"), "the atoll user: {pw}");
    let (_, owner) = sh("stat", &["-c", "%U %a", "/var/lib/atoll"]);
    assert_eq!(owner.trim(), "atoll 750");
    let (_, conf) = sh("stat", &["-c", "%U:%G %a", "/etc/atoll/atoll.toml"]);
    assert_eq!(
        conf.trim(),
        "root:atoll 640",
        "the settings may hold the cluster key"
    );
    for f in [
        "/usr/share/atoll/prometheus/atoll-alerts.yml",
        "/usr/share/atoll/grafana/atoll-dashboard.json",
        "/usr/share/man/man1/atoll.1.gz",
    ] {
        assert!(Path::new(f).exists(), "{f} is in the package");
    }
    let unit_path = "/lib/systemd/system/atoll.service";
    let (ok, verify) = sh("systemd-analyze", &["verify", unit_path]);
    assert!(
        ok && verify.trim().is_empty(),
        "systemd-analyze verify: {verify}"
    );

    // the unit, carried out
    let unit = std::fs::read_to_string(unit_path).unwrap();
    assert_eq!(unit_values(&unit, "Restart"), ["on-failure"]);
    assert_eq!(unit_values(&unit, "RestartPreventExitStatus"), ["2 3"]);
    // bad settings exit 2, which the unit does not restart
    let code = Command::new("/usr/bin/atoll")
        .args(["serve", "--config", "/nonexistent.toml"])
        .output()
        .unwrap()
        .status
        .code();
    assert_eq!(code, Some(2));
    let log = out_dir.join("service.log");
    let (child, http_port, playlist) = run_unit(&unit, &log);
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let seg = playlist
        .lines()
        .rfind(|l| l.ends_with(".ts"))
        .unwrap()
        .to_string();
    let (s, ts) = http(http_port, "GET", &format!("/live/demo/{seg}"), None, None);
    assert_eq!(s, 200);
    assert!(ts.len() > 10_000 && ts[0] == 0x47, "a TS segment");
    // the admin account was made and its password shown once; the data is the atoll user's
    let text = log_text();
    let pw = text
        .split("created account 'admin' with password ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no admin password in the log:\n{text}"));
    let (s, _) = http(http_port, "GET", "/api/channels", Some(("admin", pw)), None);
    assert_eq!(s, 200);
    let (_, owner) = sh("stat", &["-c", "%U %a", "/var/lib/atoll/atoll.db"]);
    assert_eq!(owner.trim(), "atoll 640", "the unit's UMask=0027 applies");
    stop_unit(child, &log);

    // the README's backup (as the atoll user) and restore (as root, over the old database)
    let bk = out_dir.join("bk");
    std::fs::create_dir_all(&bk).unwrap();
    assert!(sh("chown", &["atoll:atoll", path_str(&bk)]).0);
    let file = bk.join("atoll-backup.db");
    let (ok, text) = sh(
        "runuser",
        &[
            "-u",
            "atoll",
            "--",
            "/usr/bin/atoll",
            "backup",
            path_str(&file),
            "--data",
            "/var/lib/atoll",
        ],
    );
    assert!(ok && text.contains("1 accounts"), "{text}");
    let (ok, text) = sh(
        "sh",
        &["-c", "ATOLL_USER_PASSWORD=later-pw-123 runuser -u atoll -- /usr/bin/atoll user add later --data /var/lib/atoll"],
    );
    assert!(ok, "{text}");
    let (ok, text) = sh(
        "/usr/bin/atoll",
        &[
            "restore",
            path_str(&file),
            "--data",
            "/var/lib/atoll",
            "--force",
        ],
    );
    assert!(ok, "{text}");
    for f in ["atoll.db", "atoll.running"] {
        let (_, owner) = sh("stat", &["-c", "%U", &format!("/var/lib/atoll/{f}")]);
        assert_eq!(owner.trim(), "atoll", "{f} stays the service's");
    }
    let (_, users) = sh(
        "/usr/bin/atoll",
        &["user", "list", "--data", "/var/lib/atoll"],
    );
    assert!(
        users.contains("admin") && !users.contains("later"),
        "{users}"
    );
    let log2 = out_dir.join("service2.log");
    let (child, http_port, _) = run_unit(&unit, &log2);
    let (s, _) = http(http_port, "GET", "/api/channels", Some(("admin", pw)), None);
    assert_eq!(s, 200, "the restored server signs in the same admin");
    stop_unit(child, &log2);

    // remove keeps the data and the settings; purge deletes them
    let (ok, text) = sh("dpkg", &["-r", "atoll"]);
    assert!(ok, "dpkg -r: {text}");
    assert!(!Path::new("/usr/bin/atoll").exists());
    assert!(
        Path::new("/var/lib/atoll/atoll.db").exists(),
        "dpkg -r keeps the data"
    );
    assert!(
        Path::new("/etc/atoll/atoll.toml").exists(),
        "dpkg -r keeps the settings"
    );
    let (ok, text) = sh("dpkg", &["--purge", "atoll"]);
    assert!(ok, "dpkg --purge: {text}");
    assert!(
        !Path::new("/var/lib/atoll").exists(),
        "purge deletes the data"
    );
    assert!(
        !Path::new("/etc/atoll").exists(),
        "purge deletes the settings"
    );
    let _ = std::fs::remove_dir_all(&out_dir);
}
