//! Seeds a node's archive for benchmarks (bench/edge.sh): `archive-seed --root DIR --segment
//! FILE --channels a,b,… [--hours 72] [--seg-secs 6] [--end-ms T]`.
//!
//! For each channel, HOURS of SEG-second segments ending at T (default: now, rounded down to a
//! segment) are indexed, each file a hard link to FILE (one inode per channel: the disk holds one
//! segment per channel, so reading the archive later reads the same bytes again — a benchmark
//! says so). Run it on a stopped node's archive directory (`{data}/archive`) before it starts.

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use archive::Archive;
use media::UtcMs;

fn main() {
    let mut root = None;
    let mut segment = None;
    let mut channels: Vec<String> = Vec::new();
    let (mut hours, mut seg_secs) = (72i64, 6i64);
    let mut end_ms = None;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    let usage = "usage: archive-seed --root DIR --segment FILE --channels a,b,… [--hours 72] [--seg-secs 6] [--end-ms T]";
    while let Some(a) = it.next() {
        let mut v = || {
            it.next()
                .cloned()
                .unwrap_or_else(|| panic!("{a} needs a value\n{usage}"))
        };
        match a.as_str() {
            "--root" => root = Some(PathBuf::from(v())),
            "--segment" => segment = Some(PathBuf::from(v())),
            "--channels" => channels.extend(v().split(',').map(str::to_string)),
            "--hours" => hours = v().parse().expect("--hours: a number"),
            "--seg-secs" => seg_secs = v().parse().expect("--seg-secs: a number"),
            "--end-ms" => end_ms = Some(v().parse::<i64>().expect("--end-ms: a number")),
            _ => panic!("unknown argument {a}\n{usage}"),
        }
    }
    let (Some(root), Some(segment)) = (root, segment) else {
        panic!("{usage}");
    };
    assert!(!channels.is_empty() && hours > 0 && seg_secs > 0, "{usage}");
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let step = seg_secs * 1000;
    let end = end_ms.unwrap_or(now_ms) / step * step;
    let from = end - hours * 3_600_000;
    let (archive, _) = Archive::open(&root, UtcMs(now_ms)).expect("open the archive");
    let t = Instant::now();
    let mut total = 0;
    for ch in &channels {
        let n = archive
            .bench_seed_files(ch, &segment, from, end, seg_secs * 90_000)
            .unwrap_or_else(|e| panic!("seeding {ch}: {e}"));
        total += n;
        eprintln!("archive-seed: {ch}: {n} segments");
    }
    println!(
        "archive-seed: {total} segments ({} h × {} channel(s)) in {:.1} s, from {from} to {end} ms",
        hours,
        channels.len(),
        t.elapsed().as_secs_f64()
    );
}
