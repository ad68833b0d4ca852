//! Archive index benchmark: `cargo run --release -p archive --bin archive-bench -- [options]`.
//!
//! Populates an index with CHANNELS × HOURS of SEG-second segments (100 × 72 h × 6 s = 4.32 M rows
//! by default). Rows older than the last 15 minutes are inserted without files through the hidden
//! bulk path; the last 15 minutes of every channel are written for real (small files, no fsync),
//! because `open` checks each channel's last 10 minutes against the disk. Then it measures range
//! queries, restart, usage and retention, and the CPU cost of recording (`write_segment` with fsync
//! and realistic segment sizes).
//!
//! Options: --dir PATH (default $TMPDIR/archive-bench), --channels N, --hours N, --seg-secs N,
//! --queries N, --record-segments N, --compare-layouts ROWS (only compare the two SQLite layouts).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use archive::{Archive, RetentionPolicy};
use media::UtcMs;

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

struct Opts {
    dir: PathBuf,
    channels: usize,
    hours: i64,
    seg_secs: i64,
    queries: usize,
    record_segments: usize,
    compare_layouts: Option<usize>,
}

fn parse() -> Opts {
    let mut o = Opts {
        dir: std::env::temp_dir().join("archive-bench"),
        channels: 100,
        hours: 72,
        seg_secs: 6,
        queries: 200,
        record_segments: 300,
        compare_layouts: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--dir" => o.dir = PathBuf::from(v()),
            "--channels" => o.channels = v().parse().unwrap(),
            "--hours" => o.hours = v().parse().unwrap(),
            "--seg-secs" => o.seg_secs = v().parse().unwrap(),
            "--queries" => o.queries = v().parse().unwrap(),
            "--record-segments" => o.record_segments = v().parse().unwrap(),
            "--compare-layouts" => o.compare_layouts = Some(v().parse().unwrap()),
            _ => panic!("unknown option {a}"),
        }
    }
    o
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn ts(packets: usize) -> Vec<u8> {
    let mut v = vec![0xffu8; packets * 188];
    for p in 0..packets {
        v[p * 188] = 0x47;
    }
    v
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// CPU time of this (single-threaded) process's main thread, from the scheduler.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn dir_size(p: &Path) -> u64 {
    ["archive.db", "archive.db-wal"]
        .iter()
        .map(|f| std::fs::metadata(p.join(f)).map(|m| m.len()).unwrap_or(0))
        .sum()
}

fn main() {
    let o = parse();
    if let Some(rows) = o.compare_layouts {
        compare_layouts(&o, rows);
        return;
    }
    let _ = std::fs::remove_dir_all(&o.dir);
    let seg_ms = o.seg_secs * 1000;
    let seg_90k = o.seg_secs * 90_000;
    let per_channel = (o.hours * 3_600_000 / seg_ms) as usize;
    let real_per_channel = ((15 * 60 * 1000) / seg_ms) as usize;
    let bulk_per_channel = per_channel - real_per_channel;
    let channels: Vec<String> = (0..o.channels).map(|i| format!("ch{i:03}")).collect();
    let end = T0 + per_channel as i64 * seg_ms;
    println!(
        "archive-bench: {} channels x {} h of {} s segments = {} rows ({} bulk rows without files, {} written with files)",
        o.channels,
        o.hours,
        o.seg_secs,
        per_channel * o.channels,
        bulk_per_channel * o.channels,
        real_per_channel * o.channels
    );

    // Populate, in time order across channels as a recorder would.
    let t = Instant::now();
    let (a, _) = Archive::open_with(&o.dir, UtcMs(T0), false).unwrap();
    let chunk = (3_600_000 / seg_ms) as usize; // one hour of all channels per transaction
    let mut i = 0;
    while i < bulk_per_channel {
        let n = chunk.min(bulk_per_channel - i);
        let rows = (i..i + n).flat_map(|k| {
            channels.iter().map(move |c| {
                (
                    c.as_str(),
                    T0 + k as i64 * seg_ms,
                    seg_90k,
                    188 * 12_000,
                    k % 5000 == 0,
                )
            })
        });
        a.bench_insert_rows(rows).unwrap();
        i += n;
    }
    let bulk = t.elapsed();
    let t = Instant::now();
    let data = ts(10);
    for k in bulk_per_channel..per_channel {
        for c in &channels {
            a.write_segment(c, UtcMs(T0 + k as i64 * seg_ms), seg_90k, false, &data)
                .unwrap();
        }
    }
    let real = t.elapsed();
    println!(
        "populate: {:.1} s bulk ({:.0} rows/s) + {:.1} s write_segment without fsync ({:.0} us each)",
        bulk.as_secs_f64(),
        (bulk_per_channel * o.channels) as f64 / bulk.as_secs_f64(),
        real.as_secs_f64(),
        real.as_secs_f64() * 1e6 / (real_per_channel * o.channels) as f64
    );
    println!(
        "index size: {:.1} MB (archive.db + WAL)",
        dir_size(&o.dir) as f64 / 1e6
    );

    // Range queries.
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for (label, span_ms) in [("1 h", 3_600_000i64), ("72 h", 72 * 3_600_000)] {
        let span_ms = span_ms.min(end - T0);
        let mut seg_t = Vec::new();
        let mut iv_t = Vec::new();
        let mut rows = 0;
        for _ in 0..o.queries {
            let c = &channels[rng.below(o.channels as u64) as usize];
            let from = T0 + rng.below((end - T0 - span_ms + 1) as u64) as i64;
            let t = Instant::now();
            let s = a.segments(c, UtcMs(from), UtcMs(from + span_ms)).unwrap();
            seg_t.push(ms(t.elapsed()));
            rows += s.len();
            let t = Instant::now();
            let iv = a.intervals(c, UtcMs(from), UtcMs(from + span_ms)).unwrap();
            iv_t.push(ms(t.elapsed()));
            assert!(!iv.is_empty());
        }
        println!(
            "segments() {label:>4}: p50 {:.2} ms  p99 {:.2} ms  ({} rows/query avg; {} queries)  | intervals() p50 {:.2} ms p99 {:.2} ms",
            pct(&mut seg_t, 0.5),
            pct(&mut seg_t, 0.99),
            rows / o.queries,
            o.queries,
            pct(&mut iv_t, 0.5),
            pct(&mut iv_t, 0.99),
        );
    }
    let t = Instant::now();
    let mut n = 0;
    for _ in 0..o.queries {
        let c = &channels[rng.below(o.channels as u64) as usize];
        let at = T0 + rng.below((end - T0) as u64) as i64;
        n += a.segment_at_or_before(c, UtcMs(at)).unwrap().is_some() as usize;
    }
    println!(
        "segment_at_or_before(): {:.3} ms avg ({n} found)",
        ms(t.elapsed()) / o.queries as f64
    );
    drop(a);

    // Restart.
    let t = Instant::now();
    let (a, report) = Archive::open(&o.dir, UtcMs(end)).unwrap();
    let open_t = t.elapsed();
    println!("open (restart): {:.1} ms  report: {report:?}", ms(open_t));
    let t = Instant::now();
    let usage = a.usage().unwrap();
    let usage_t = t.elapsed();
    let t = Instant::now();
    let stats = a.stats().unwrap();
    let stats_t = t.elapsed();
    println!(
        "usage(): {:.3} ms ({} channels)  stats(): {:.3} ms -> {} segments, {:.1} GB indexed, index {:.1} MB",
        ms(usage_t),
        usage.len(),
        ms(stats_t),
        stats.segments,
        stats.bytes as f64 / 1e9,
        stats.index_bytes as f64 / 1e6
    );

    // Retention: 10 minutes past the window, i.e. 100 segments per channel due.
    let t = Instant::now();
    let policy = RetentionPolicy {
        default_hours: o.hours as u32,
        ..Default::default()
    };
    let r = a.enforce_retention(UtcMs(end + 600_000), &policy).unwrap();
    println!(
        "enforce_retention (10 min past the window): {:.1} ms, {} segments deleted (rows only: their files do not exist)",
        ms(t.elapsed()),
        r.segments_deleted
    );
    drop(a);
    let _ = std::fs::remove_dir_all(&o.dir);

    // Recording cost: write_segment with fsync and realistic sizes (3 Mbit/s x 6 s = 2.25 MB).
    if o.record_segments > 0 {
        let dir = o.dir.with_extension("rec");
        let _ = std::fs::remove_dir_all(&dir);
        let (a, _) = Archive::open(&dir, UtcMs(T0)).unwrap();
        let data = ts(2_250_000 / 188);
        let chans = 10;
        let t = Instant::now();
        let cpu0 = cpu_ns();
        for k in 0..o.record_segments {
            let c = format!("rec{}", k % chans);
            a.write_segment(
                &c,
                UtcMs(T0 + (k / chans) as i64 * seg_ms),
                seg_90k,
                false,
                &data,
            )
            .unwrap();
        }
        let wall = t.elapsed();
        let cpu = cpu_ns().zip(cpu0).map(|(b, a)| b - a);
        let per = |x: f64| x / o.record_segments as f64;
        println!(
            "write_segment 2.25 MB with fsync: {:.2} ms wall, {} CPU per segment -> {} of a core per recorded channel (one segment per {} s)",
            per(ms(wall)),
            cpu.map_or("n/a".into(), |c| format!("{:.2} ms", per(c as f64 / 1e6))),
            cpu.map_or("n/a".into(), |c| format!(
                "{:.3} %",
                per(c as f64 / 1e6) / (o.seg_secs as f64 * 1e3) * 100.0
            )),
            o.seg_secs
        );
        drop(a);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Same rows in the two candidate SQLite layouts, raw SQL: size, insert time, 1 h / 72 h query.
fn compare_layouts(o: &Opts, rows: usize) {
    let layouts = [
        (
            "rowid table + covering index",
            "CREATE TABLE segment (id INTEGER PRIMARY KEY, channel TEXT NOT NULL, start_utc_ms INTEGER NOT NULL,
               duration_90k INTEGER NOT NULL, end_utc_ms INTEGER NOT NULL, bytes INTEGER NOT NULL,
               discontinuity INTEGER NOT NULL) STRICT;
             CREATE INDEX segment_range ON segment (channel, start_utc_ms, end_utc_ms, duration_90k, bytes, discontinuity, id);",
        ),
        (
            "WITHOUT ROWID (channel, start_utc_ms)",
            "CREATE TABLE segment (channel TEXT NOT NULL, start_utc_ms INTEGER NOT NULL, id INTEGER NOT NULL,
               duration_90k INTEGER NOT NULL, end_utc_ms INTEGER NOT NULL, bytes INTEGER NOT NULL,
               discontinuity INTEGER NOT NULL, PRIMARY KEY (channel, start_utc_ms)) STRICT, WITHOUT ROWID;",
        ),
    ];
    let per_channel = rows / o.channels;
    let seg_ms = o.seg_secs * 1000;
    for (name, schema) in layouts {
        let path = o.dir.with_extension("layout.db");
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(path.with_extension("db-wal"));
        let mut c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c.pragma_update(None, "synchronous", "NORMAL").unwrap();
        c.execute_batch(schema).unwrap();
        let t = Instant::now();
        let mut id = 0i64;
        for k0 in (0..per_channel).step_by(600) {
            let tx = c.transaction().unwrap();
            {
                let mut st = tx
                    .prepare("INSERT INTO segment (channel, start_utc_ms, id, duration_90k, end_utc_ms, bytes, discontinuity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)")
                    .unwrap();
                for k in k0..(k0 + 600).min(per_channel) {
                    for ch in 0..o.channels {
                        id += 1;
                        let s = T0 + k as i64 * seg_ms;
                        st.execute(rusqlite::params![
                            format!("ch{ch:03}"),
                            s,
                            id,
                            o.seg_secs * 90_000,
                            s + seg_ms,
                            2_256_000
                        ])
                        .unwrap();
                    }
                }
            }
            tx.commit().unwrap();
        }
        let insert = t.elapsed();
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        let end = T0 + per_channel as i64 * seg_ms;
        let mut rng = Rng(7);
        let mut line = format!(
            "{name:<40} insert {:.1} s, size {:.1} MB ({:.1} B/row)",
            insert.as_secs_f64(),
            size as f64 / 1e6,
            size as f64 / (per_channel * o.channels) as f64
        );
        for span in [3_600_000i64, 72 * 3_600_000] {
            let span = span.min(end - T0);
            let mut v = Vec::new();
            let mut st = c
                .prepare("SELECT start_utc_ms, id, duration_90k, end_utc_ms, bytes, discontinuity FROM segment WHERE channel = ?1 AND start_utc_ms >= ?2 AND start_utc_ms < ?3 ORDER BY start_utc_ms")
                .unwrap();
            for _ in 0..o.queries {
                let ch = format!("ch{:03}", rng.below(o.channels as u64));
                let from = T0 + rng.below((end - T0 - span + 1) as u64) as i64;
                let t = Instant::now();
                let n = st
                    .query_map(rusqlite::params![ch, from, from + span], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(4)?,
                        ))
                    })
                    .unwrap()
                    .count();
                v.push(ms(t.elapsed()));
                assert!(n > 0);
            }
            line += &format!(
                "; {} h query p50 {:.2} ms p99 {:.2} ms",
                span / 3_600_000,
                pct(&mut v, 0.5),
                pct(&mut v, 0.99)
            );
        }
        println!("{line}");
        drop(c);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(path.with_extension("db-wal"));
        let _ = std::fs::remove_file(path.with_extension("db-shm"));
    }
}
