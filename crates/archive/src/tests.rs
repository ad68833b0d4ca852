use std::collections::BTreeMap;
use std::sync::atomic::AtomicU32;

use super::*;

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "archive-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// 2024-03-05 13:59:00 UTC: segments cross an hour (and directory) boundary soon.
const T0: i64 = 1_709_647_140_000;
const SEG_90K: i64 = 6 * 90_000;
const SEG_MS: i64 = 6_000;

fn ts(packets: usize, fill: u8) -> Vec<u8> {
    let mut v = vec![fill; packets * 188];
    for p in 0..packets {
        v[p * 188] = 0x47;
    }
    v
}

fn open(dir: &TempDir) -> (Archive, RecoveryReport) {
    Archive::open_with(&dir.0, UtcMs(T0), false).unwrap()
}

/// Writes `n` contiguous 6 s segments from `start`.
fn write_run(a: &Archive, ch: &str, start: i64, n: usize) -> Vec<SegmentRow> {
    (0..n)
        .map(|i| {
            a.write_segment(
                ch,
                UtcMs(start + i as i64 * SEG_MS),
                SEG_90K,
                false,
                &ts(2 + i % 3, i as u8),
            )
            .unwrap()
        })
        .collect()
}

/// The store's invariant: every row has its file, of its size; every segment file has a row;
/// the running totals match the rows; no temporary files are left (after open).
fn check_invariant(a: &Archive) {
    let mut rows: BTreeMap<PathBuf, i64> = BTreeMap::new();
    let mut totals: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    {
        let w = lock(&a.writer);
        let mut stmt = w
            .prepare(
                "SELECT channel, start_utc_ms, duration_90k, discontinuity, bytes FROM segment",
            )
            .unwrap();
        let it = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)? != 0,
                    r.get::<_, i64>(4)?,
                ))
            })
            .unwrap();
        for r in it {
            let (ch, start, dur, disc, bytes) = r.unwrap();
            rows.insert(rel_path(&ch, start, dur, disc), bytes);
            let t = totals.entry(ch).or_default();
            t.0 += bytes as u64;
            t.1 += 1;
        }
    }
    let mut files: BTreeMap<PathBuf, i64> = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<PathBuf, i64>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, files);
            } else if p.parent() != Some(root) {
                files.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    e.metadata().unwrap().len() as i64,
                );
            }
        }
    }
    walk(&a.root, &a.root, &mut files);
    assert_eq!(rows, files, "rows and files differ");
    let usage: BTreeMap<String, (u64, i64)> = a
        .usage()
        .unwrap()
        .into_iter()
        .map(|(c, b, n)| (c, (b, n)))
        .collect();
    assert_eq!(usage, totals, "running totals differ from rows");
}

#[test]
fn write_read_round_trip() {
    let dir = TempDir::new();
    let (a, report) = Archive::open(&dir.0, UtcMs(T0)).unwrap();
    assert_eq!(report, RecoveryReport::default());
    let written = write_run(&a, "news", T0, 20);
    assert_eq!(
        written[0].path,
        dir.0.join("news/20240305/13/1709647140000_6000.ts")
    );
    assert_eq!(
        written[10].path,
        dir.0.join("news/20240305/14/1709647200000_6000.ts")
    );
    let d = a
        .write_segment(
            "news",
            UtcMs(T0 + 20 * SEG_MS),
            SEG_90K + 1,
            true,
            &ts(4, 9),
        )
        .unwrap();
    assert!(d.path.ends_with("1709647260000_6000_d.ts"));

    let got = a
        .segments("news", UtcMs(T0), UtcMs(T0 + 3_600_000))
        .unwrap();
    assert_eq!(got.len(), 21);
    assert_eq!(&got[..20], &written[..]);
    assert_eq!(got[20], d);
    for (i, r) in got.iter().enumerate() {
        assert_eq!(fs::read(&r.path).unwrap().len() as i64, r.bytes);
        assert_eq!(r.end_utc_ms - r.start_utc_ms, SEG_MS);
        if i < 20 {
            assert_eq!(fs::read(&r.path).unwrap(), ts(2 + i % 3, i as u8));
        }
    }
    assert!(got[20].discontinuity && got[20].duration_90k == SEG_90K + 1);
    // Ids are distinct and stable.
    let ids: HashSet<i64> = got.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 21);
    assert!(a
        .segments("other", UtcMs(T0), UtcMs(T0 + 3_600_000))
        .unwrap()
        .is_empty());
    assert_eq!(
        a.stats().unwrap(),
        ArchiveStats {
            channels: 1,
            segments: 21,
            bytes: got.iter().map(|r| r.bytes as u64).sum(),
            index_bytes: a.stats().unwrap().index_bytes,
            pinned: 0
        }
    );
    check_invariant(&a);
}

#[test]
fn segments_written_direct_and_through_the_page_cache_read_back_the_same() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = TempDir::new();
    let (a, _) = Archive::open(&dir.0, UtcMs(T0)).unwrap();
    // does this filesystem take O_DIRECT at all? (then the archive must still be using it)
    let probe = dir.0.join("probe");
    let direct_here = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(&probe)
        .is_ok();
    let _ = fs::remove_file(&probe);
    // sizes around the 4096-byte alignment, a large segment, and a small one after it
    let sizes = [1usize, 21, 22, 44, 8000, 3, 100_000, 2];
    let mut at = T0;
    for (i, &packets) in sizes.iter().enumerate() {
        if i == 4 {
            a.set_direct_io(false);
        } else if i == 5 {
            a.set_direct_io(true);
        }
        let data = ts(packets, i as u8 + 1);
        let row = a
            .write_segment("direct", UtcMs(at), SEG_90K, false, &data)
            .unwrap();
        assert_eq!(fs::read(&row.path).unwrap(), data, "{packets} packets");
        assert_eq!(row.bytes as usize, data.len());
        at += SEG_MS;
    }
    assert_eq!(a.direct_io(), direct_here);
    // the 18.8 MB segment's buffer was not kept
    assert!(a.direct_buf.lock().unwrap().len() <= 1 << 20);
    check_invariant(&a);
}

#[test]
fn range_queries_at_boundaries() {
    let dir = TempDir::new();
    let (a, _) = open(&dir);
    write_run(&a, "c", T0, 3); // [T0, T0+6s) [T0+6s, T0+12s) [T0+12s, T0+18s)
    let starts = |from: i64, to: i64| -> Vec<i64> {
        a.segments("c", UtcMs(T0 + from), UtcMs(T0 + to))
            .unwrap()
            .iter()
            .map(|r| (r.start_utc_ms - T0) / 1000)
            .collect()
    };
    assert_eq!(starts(6_000, 12_000), vec![6]);
    assert_eq!(starts(5_999, 6_000), vec![0]);
    assert_eq!(starts(5_999, 6_001), vec![0, 6]);
    assert_eq!(starts(6_000, 6_001), vec![6]);
    assert_eq!(starts(-10_000, 0), Vec::<i64>::new());
    assert_eq!(starts(-10_000, 1), vec![0]);
    assert_eq!(starts(17_999, 30_000), vec![12]);
    assert_eq!(starts(18_000, 30_000), Vec::<i64>::new());
    assert_eq!(starts(7_000, 7_000), Vec::<i64>::new());
    assert_eq!(starts(-1_000_000, 1_000_000), vec![0, 6, 12]);

    let at = |t: i64| {
        a.segment_at_or_before("c", UtcMs(T0 + t))
            .unwrap()
            .map(|r| (r.start_utc_ms - T0) / 1000)
    };
    assert_eq!(at(-1), None);
    assert_eq!(at(0), Some(0));
    assert_eq!(at(5_999), Some(0));
    assert_eq!(at(6_000), Some(6));
    assert_eq!(at(1_000_000), Some(12));
}

#[test]
fn intervals_merge_on_time_adjacency() {
    let dir = TempDir::new();
    let (a, _) = open(&dir);
    let seg = |start: i64, disc: bool| {
        a.write_segment("c", UtcMs(T0 + start), SEG_90K, disc, &ts(1, 0))
            .unwrap();
    };
    seg(0, false);
    seg(6_000, false);
    seg(12_500, true); // 500 ms hole, a discontinuity: still one interval
    seg(19_500, false); // exactly 1 s hole: merged
    seg(26_501, false); // 1.001 s hole: split
    seg(40_000, false);
    let iv = |from: i64, to: i64| -> Vec<(i64, i64)> {
        a.intervals("c", UtcMs(T0 + from), UtcMs(T0 + to))
            .unwrap()
            .into_iter()
            .map(|(s, e)| (s.0 - T0, e.0 - T0))
            .collect()
    };
    assert_eq!(
        iv(-5_000, 100_000),
        vec![(0, 25_500), (26_501, 32_501), (40_000, 46_000)]
    );
    // Clipped to the range.
    assert_eq!(
        iv(3_000, 41_000),
        vec![(3_000, 25_500), (26_501, 32_501), (40_000, 41_000)]
    );
    assert_eq!(iv(33_000, 39_000), vec![]);
    // The 1.001 s and 7.5 s holes are recorded gaps; the shorter ones are not.
    let gaps = a.gaps("c", UtcMs(T0), UtcMs(T0 + 100_000)).unwrap();
    assert_eq!(
        gaps.iter()
            .map(|g| (g.from_utc_ms - T0, g.to_utc_ms - T0))
            .collect::<Vec<_>>(),
        vec![(25_500, 26_501), (32_501, 40_000)]
    );
}

#[test]
fn gaps_are_recorded_with_their_reason() {
    let dir = TempDir::new();
    let (a, _) = open(&dir);
    write_run(&a, "c", T0, 2); // ends T0+12s
                               // Hole while recording, nothing said: source lost.
    write_run(&a, "c", T0 + 60_000, 1); // ends T0+66s
    a.mark_stopped("c", UtcMs(T0 + 66_000), GapReason::RecordingStopped)
        .unwrap();
    write_run(&a, "c", T0 + 600_000, 1); // ends T0+606s
    a.mark_stopped("c", UtcMs(T0 + 606_000), GapReason::SourceLost)
        .unwrap();
    write_run(&a, "c", T0 + 700_000, 1);
    // Stop marker survives a restart: no 'crash' for a stopped channel.
    a.mark_stopped("c", UtcMs(T0 + 706_000), GapReason::RecordingStopped)
        .unwrap();
    drop(a);
    let (a, report) = open(&dir);
    assert_eq!(report.crash_gaps, 0);
    write_run(&a, "c", T0 + 800_000, 1);
    // A stop followed by a prompt restart of recording records no gap (hole <= 1 s).
    a.mark_stopped("c", UtcMs(T0 + 806_000), GapReason::RecordingStopped)
        .unwrap();
    write_run(&a, "c", T0 + 806_500, 1);

    let gaps = a.gaps("c", UtcMs(T0), UtcMs(T0 + 1_000_000)).unwrap();
    let got: Vec<(i64, i64, GapReason)> = gaps
        .iter()
        .map(|g| (g.from_utc_ms - T0, g.to_utc_ms - T0, g.reason))
        .collect();
    assert_eq!(
        got,
        vec![
            (12_000, 60_000, GapReason::SourceLost),
            (66_000, 600_000, GapReason::RecordingStopped),
            (606_000, 700_000, GapReason::SourceLost),
            (706_000, 800_000, GapReason::RecordingStopped),
        ]
    );
    // Range selection: overlapping gaps only.
    let g = a.gaps("c", UtcMs(T0 + 59_999), UtcMs(T0 + 66_001)).unwrap();
    assert_eq!(g.len(), 2);
    assert_eq!(
        a.gaps("c", UtcMs(T0 + 60_000), UtcMs(T0 + 66_000))
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn rejects_bad_input() {
    let dir = TempDir::new();
    let (a, _) = open(&dir);
    assert!(matches!(
        a.write_segment("Bad/..", UtcMs(T0), SEG_90K, false, &ts(1, 0)),
        Err(ArchiveError::InvalidChannel(_))
    ));
    for data in [Vec::new(), vec![0x47; 100], vec![0u8; 188]] {
        assert!(matches!(
            a.write_segment("c", UtcMs(T0), SEG_90K, false, &data),
            Err(ArchiveError::InvalidSegment { .. })
        ));
    }
    assert!(a
        .write_segment("c", UtcMs(T0), 0, false, &ts(1, 0))
        .is_err());
    a.write_segment("c", UtcMs(T0), SEG_90K, false, &ts(1, 0))
        .unwrap();
    let e = a
        .write_segment("c", UtcMs(T0), SEG_90K, false, &ts(1, 0))
        .unwrap_err();
    assert!(matches!(e, ArchiveError::OutOfOrder { .. }), "{e}");
    assert!(e.to_string().contains("channel c"));
    assert!(a
        .write_segment("c", UtcMs(T0 - 1), SEG_90K, false, &ts(1, 0))
        .is_err());
    check_invariant(&a);
}

#[test]
fn crash_recovery_repairs_each_state() {
    let dir = TempDir::new();
    let (a, _) = open(&dir);
    let rows = write_run(&a, "news", T0, 20); // across the 14:00 boundary
    write_run(&a, "sport", T0, 3);
    a.mark_stopped("sport", UtcMs(T0 + 18_000), GapReason::RecordingStopped)
        .unwrap();
    drop(a); // kill -9: nothing is flushed or marked on drop

    // 1. A segment being written at the crash.
    let tmp = dir.0.join("news/.tmp/1709647260000_6000.ts.tmp");
    fs::write(&tmp, ts(1, 1)).unwrap();
    // 2. A complete file renamed but not indexed (the crash hit between rename and insert).
    let orphan = dir.0.join("news/20240305/14/1709647260000_6000_d.ts");
    fs::write(&orphan, ts(3, 7)).unwrap();
    // 3. A row whose file is gone (power loss took the directory entry).
    fs::remove_file(&rows[19].path).unwrap();
    // 4. Half-written files with valid names: not whole packets, or not TS at all.
    let half = dir.0.join("news/20240305/14/1709647266000_6000.ts");
    fs::write(&half, &ts(2, 0)[..300]).unwrap();
    let garbage = dir.0.join("news/20240305/14/1709647272000_6000.ts");
    fs::write(&garbage, vec![0u8; 188]).unwrap();
    // A file that is not ours is left alone (and not counted).
    fs::write(dir.0.join("news/20240305/14/README"), b"x").unwrap();

    let (a, report) = open(&dir);
    assert_eq!(
        report,
        RecoveryReport {
            tmp_removed: 1,
            orphans_indexed: 1,
            orphans_removed: 2,
            rows_dropped: 1,
            crash_gaps: 1, // news; sport was stopped
            deletes_finished: 0
        }
    );
    assert!(!tmp.exists() && !half.exists() && !garbage.exists() && orphan.exists());
    fs::remove_file(dir.0.join("news/20240305/14/README")).unwrap();
    check_invariant(&a);
    let got = a
        .segments("news", UtcMs(T0), UtcMs(T0 + 3_600_000))
        .unwrap();
    assert_eq!(got.len(), 20); // 19 surviving + the re-indexed orphan
    let last = got.last().unwrap();
    assert_eq!(
        (last.start_utc_ms, last.bytes, last.discontinuity),
        (T0 + 120_000, 3 * 188, true)
    );
    assert_eq!(last.duration_90k, SEG_90K);

    // Reopening again is idempotent: nothing more to repair, the crash gap still pending.
    drop(a);
    let (a, report) = open(&dir);
    assert_eq!(
        report,
        RecoveryReport {
            crash_gaps: 1,
            ..Default::default()
        }
    );

    // The crash gap is recorded at the next segment, from the last indexed end.
    write_run(&a, "news", T0 + 300_000, 1);
    write_run(&a, "sport", T0 + 300_000, 1);
    let g = a.gaps("news", UtcMs(0), UtcMs(i64::MAX)).unwrap();
    assert_eq!(
        g,
        vec![Gap {
            from_utc_ms: T0 + 126_000,
            to_utc_ms: T0 + 300_000,
            reason: GapReason::Crash
        }]
    );
    let g = a.gaps("sport", UtcMs(0), UtcMs(i64::MAX)).unwrap();
    assert_eq!(g[0].reason, GapReason::RecordingStopped);
    check_invariant(&a);
    drop(a);
    let (_, report) = open(&dir);
    assert_eq!(
        report,
        RecoveryReport {
            crash_gaps: 2,
            ..Default::default()
        }
    );
}

#[test]
fn crash_during_deletes_is_finished_at_open() {
    let dir = TempDir::new();
    let (a, _) = open(&dir);
    let rows = write_run(&a, "a", T0, 5);
    write_run(&a, "b", T0, 5);
    // Retention committed rows 0..2 away and died before unlinking their files.
    {
        let w = lock(&a.writer);
        for r in &rows[..2] {
            w.execute(
                "DELETE FROM segment WHERE channel = 'a' AND start_utc_ms = ?1",
                [r.start_utc_ms],
            )
            .unwrap();
            let rel = r
                .path
                .strip_prefix(&dir.0)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            w.execute("INSERT INTO pending_delete (path) VALUES (?1)", [rel])
                .unwrap();
        }
    }
    drop(a);
    // delete_channel moved b away and died before dropping its rows.
    fs::create_dir_all(dir.0.join(".trash")).unwrap();
    fs::rename(dir.0.join("b"), dir.0.join(".trash/b.99")).unwrap();

    let (a, report) = open(&dir);
    assert_eq!(report.deletes_finished, 3);
    assert_eq!(report.rows_dropped, 5);
    assert_eq!(report.orphans_indexed, 0);
    assert!(!dir.0.join(".trash").exists() && !rows[0].path.exists());
    assert_eq!(a.usage().unwrap(), vec![("a".to_string(), 9 * 188, 3)]); // rows 2..5: 4 + 2 + 3 packets
    check_invariant(&a);
}

#[test]
fn delete_channel_removes_everything() {
    let dir = TempDir::new();
    let (a, _) = open(&dir);
    write_run(&a, "a", T0, 5);
    write_run(&a, "b", T0, 5);
    write_run(&a, "b", T0 + 100_000, 1); // a gap
    let bytes = a.usage().unwrap()[1].1;
    assert_eq!(a.delete_channel("b").unwrap(), bytes);
    assert!(!dir.0.join("b").exists() && !dir.0.join(".trash").exists());
    assert!(a
        .segments("b", UtcMs(0), UtcMs(i64::MAX))
        .unwrap()
        .is_empty());
    assert!(a.gaps("b", UtcMs(0), UtcMs(i64::MAX)).unwrap().is_empty());
    check_invariant(&a);
    // Recording can start again, with no gap to the deleted past.
    write_run(&a, "b", T0 + 500_000, 2);
    assert!(a.gaps("b", UtcMs(0), UtcMs(i64::MAX)).unwrap().is_empty());
    assert_eq!(a.delete_channel("never").unwrap(), 0);
    check_invariant(&a);
}

#[test]
fn retention_by_age_spares_pinned_until_unpinned() {
    let dir = TempDir::new();
    let (a, _) = open(&dir);
    // 10 h of 60 s segments on two channels; a gap on "a" at 1 h.
    let seg = 60_000;
    for i in 0..600i64 {
        let t = T0 + i * seg;
        if !(60..62).contains(&i) {
            a.write_segment("a", UtcMs(t), seg * 90, false, &ts(1, 0))
                .unwrap();
        }
        a.write_segment("b", UtcMs(t), seg * 90, false, &ts(1, 0))
            .unwrap();
    }
    assert_eq!(a.gaps("a", UtcMs(0), UtcMs(i64::MAX)).unwrap().len(), 1);
    let now = T0 + 600 * seg; // end of the last segment
    let rows = a.segments("a", UtcMs(T0), UtcMs(T0 + 3 * seg)).unwrap();
    let pin = a.pin(rows[1].id);
    let pin2 = a.pin(rows[1].id); // pins count
    let (file, pin3) = a.open_segment(&rows[2]).unwrap().unwrap();

    let policy = RetentionPolicy {
        default_hours: 8,
        per_channel_hours: [("b".to_string(), 2)].into(),
        max_bytes: None,
    };
    let r = a.enforce_retention(UtcMs(now), &policy).unwrap();
    // a keeps 8 h (480 segments) + 2 pinned; b keeps 2 h.
    assert_eq!(r.segments_deleted, (120 - 2 - 2) + (600 - 120));
    assert_eq!(r.pinned_skipped, 2);
    assert_eq!(r.bytes_freed, r.segments_deleted as u64 * 188);
    assert_eq!(r.gaps_deleted, 0); // the gap is newer than the oldest (pinned) segment
    let a_rows = a.segments("a", UtcMs(0), UtcMs(i64::MAX)).unwrap();
    assert_eq!(a_rows.len(), 482);
    assert_eq!(a_rows[0].id, rows[1].id);
    assert_eq!(a_rows[1].id, rows[2].id);
    assert_eq!(a_rows[2].start_utc_ms, now - 8 * 3_600_000);
    let b_rows = a.segments("b", UtcMs(0), UtcMs(i64::MAX)).unwrap();
    assert_eq!(b_rows.len(), 120);
    assert_eq!(b_rows[0].start_utc_ms, now - 2 * 3_600_000);
    assert_eq!(a.stats().unwrap().pinned, 2);
    check_invariant(&a);

    // Unpinning lets a later run delete them; then the old gap goes too.
    drop(pin); // rows[1] is still pinned by pin2
    let r = a.enforce_retention(UtcMs(now), &policy).unwrap();
    assert_eq!((r.segments_deleted, r.pinned_skipped), (0, 2));
    drop((pin2, pin3));
    let r = a.enforce_retention(UtcMs(now), &policy).unwrap();
    assert_eq!(
        (r.segments_deleted, r.pinned_skipped, r.gaps_deleted),
        (2, 0, 1)
    );
    drop(file);
    assert_eq!(a.stats().unwrap().pinned, 0);
    assert!(a.gaps("a", UtcMs(0), UtcMs(i64::MAX)).unwrap().is_empty());
    // Emptied hour directories are removed.
    assert!(!dir.0.join("a/20240305/13").exists());
    check_invariant(&a);
    // Idempotent.
    assert_eq!(
        a.enforce_retention(UtcMs(now), &policy).unwrap(),
        RetentionReport::default()
    );
}

#[test]
fn retention_by_size_takes_oldest_across_channels() {
    let dir = TempDir::new();
    let (a, _) = open(&dir);
    // Channel "a" starts 30 min before "b"; 1-packet segments every 6 s.
    for i in 0..600i64 {
        a.write_segment("a", UtcMs(T0 + i * SEG_MS), SEG_90K, false, &ts(1, 0))
            .unwrap();
    }
    for i in 0..600i64 {
        a.write_segment(
            "b",
            UtcMs(T0 + 1_800_000 + i * SEG_MS),
            SEG_90K,
            false,
            &ts(1, 0),
        )
        .unwrap();
    }
    let pinned = a.segments("a", UtcMs(T0), UtcMs(T0 + 1)).unwrap().remove(0);
    let pin = a.pin(pinned.id);
    let policy = RetentionPolicy {
        max_bytes: Some(500 * 188),
        ..Default::default()
    };
    let r = a.enforce_retention(UtcMs(T0 + 3_600_000), &policy).unwrap();
    assert_eq!(r.segments_deleted, 700);
    let total: u64 = a.usage().unwrap().iter().map(|u| u.1).sum();
    assert_eq!(total, 500 * 188);
    // Oldest first, skipping the pin: a's 299 segments before b starts, then 200 pairs of
    // same-time segments, then a's next one (ties go in channel order).
    let a_left = a.segments("a", UtcMs(0), UtcMs(i64::MAX)).unwrap();
    let b_left = a.segments("b", UtcMs(0), UtcMs(i64::MAX)).unwrap();
    assert_eq!(a_left[0].id, pinned.id);
    assert_eq!((a_left.len(), b_left.len()), (100, 400));
    assert_eq!(a_left[1].start_utc_ms, T0 + 501 * SEG_MS);
    assert_eq!(b_left[0].start_utc_ms, T0 + 1_800_000 + 200 * SEG_MS);
    // A lower cap while pinned takes the next oldest; once unpinned, the pinned one goes.
    let policy = RetentionPolicy {
        max_bytes: Some(499 * 188),
        ..Default::default()
    };
    let r = a.enforce_retention(UtcMs(T0 + 3_600_000), &policy).unwrap();
    assert_eq!((r.segments_deleted, r.pinned_skipped), (1, 1));
    assert_eq!(
        a.segments("b", UtcMs(0), UtcMs(i64::MAX)).unwrap().len(),
        399
    );
    drop(pin);
    let policy = RetentionPolicy {
        max_bytes: Some(498 * 188),
        ..Default::default()
    };
    let r = a.enforce_retention(UtcMs(T0 + 3_600_000), &policy).unwrap();
    assert_eq!(r.segments_deleted, 1);
    assert_ne!(
        a.segments("a", UtcMs(0), UtcMs(i64::MAX)).unwrap()[0].id,
        pinned.id
    );
    check_invariant(&a);
}

#[test]
fn verify_repairs_damage_anywhere() {
    let dir = TempDir::new();
    let (a, _) = open(&dir);
    let rows = write_run(&a, "c", T0, 400); // 40 min
    drop(a);
    // Damage far from the tail: open does not look there...
    fs::remove_file(&rows[5].path).unwrap();
    let orphan = rows[7]
        .path
        .with_file_name(format!("{}_6000.ts", T0 + 7 * SEG_MS + 10));
    fs::write(&orphan, ts(1, 0)).unwrap();
    let (a, report) = open(&dir);
    assert!(!report.repaired_anything());
    // ...verify does.
    let report = a.verify().unwrap();
    assert_eq!((report.rows_dropped, report.orphans_indexed), (1, 1));
    check_invariant(&a);
    assert_eq!(a.verify().unwrap(), RecoveryReport::default());
    // Writing goes on after a verify.
    write_run(&a, "c", T0 + 400 * SEG_MS, 1);
    check_invariant(&a);
}

/// Tiny deterministic PRNG (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn random_operations_keep_rows_and_files_in_step() {
    for seed in 1..=4u64 {
        let dir = TempDir::new();
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let (mut a, _) = open(&dir);
        let channels = ["a", "b", "c"];
        let mut clock: HashMap<&str, i64> = channels.iter().map(|c| (*c, T0)).collect();
        let mut pins: Vec<PinGuard> = Vec::new();
        let mut now = T0;
        for step in 0..400 {
            match rng.below(100) {
                0..=69 => {
                    let ch = channels[rng.below(3) as usize];
                    let t = clock.get_mut(ch).unwrap();
                    // Mostly contiguous, sometimes a hole, sometimes out of order.
                    *t += match rng.below(20) {
                        0 => 600_000,
                        1 => -1,
                        _ => SEG_MS,
                    };
                    let r = a.write_segment(
                        ch,
                        UtcMs(*t),
                        SEG_90K,
                        rng.below(10) == 0,
                        &ts(1 + rng.below(4) as usize, step as u8),
                    );
                    if let Err(e) = &r {
                        assert!(matches!(e, ArchiveError::OutOfOrder { .. }), "{e}");
                    }
                    now = now.max(*t + SEG_MS);
                }
                70..=74 => {
                    let ch = channels[rng.below(3) as usize];
                    a.mark_stopped(ch, UtcMs(clock[ch]), GapReason::RecordingStopped)
                        .unwrap();
                }
                75..=79 => {
                    let ch = channels[rng.below(3) as usize];
                    if let Some(r) = a.segments(ch, UtcMs(0), UtcMs(i64::MAX)).unwrap().first() {
                        pins.push(a.pin(r.id));
                    }
                }
                80..=84 => {
                    pins.clear();
                }
                85..=89 => {
                    let policy = RetentionPolicy {
                        default_hours: 1,
                        max_bytes: Some(rng.below(100 * 188)),
                        ..Default::default()
                    };
                    a.enforce_retention(UtcMs(now), &policy).unwrap();
                }
                90..=91 => {
                    a.delete_channel(channels[rng.below(3) as usize]).unwrap();
                }
                92..=95 => {
                    // Crash and restart, maybe with a segment half written.
                    pins.clear();
                    drop(a);
                    if rng.below(2) == 0 {
                        let ch = channels[rng.below(3) as usize];
                        let t = clock[ch] + SEG_MS;
                        let tmp = dir.0.join(ch).join(".tmp");
                        fs::create_dir_all(&tmp).unwrap();
                        fs::write(tmp.join(format!("{t}_6000.ts.tmp")), ts(1, 0)).unwrap();
                    }
                    let (b, report) = open(&dir);
                    assert_eq!(
                        report.orphans_indexed + report.rows_dropped + report.orphans_removed,
                        0
                    );
                    a = b;
                }
                _ => {
                    assert_eq!(a.verify().unwrap(), RecoveryReport::default());
                }
            }
            if step % 25 == 0 {
                check_invariant(&a);
            }
        }
        check_invariant(&a);
        drop(pins);
    }
}

#[test]
fn writers_and_readers_run_concurrently() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Archive>();
    let dir = TempDir::new();
    let (a, _) = open(&dir);
    let a = Arc::new(a);
    let writers: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|ch| {
            let a = a.clone();
            std::thread::spawn(move || write_run(&a, ch, T0, 200).len())
        })
        .collect();
    let reader = {
        let a = a.clone();
        std::thread::spawn(move || {
            let mut seen = 0;
            for _ in 0..200 {
                for ch in ["a", "b", "c"] {
                    let rows = a.segments(ch, UtcMs(T0), UtcMs(T0 + 200 * SEG_MS)).unwrap();
                    // Whatever a reader sees is complete on disk, unless retention removed it
                    // since (open_segment says so with None).
                    if let Some(r) = rows.last() {
                        if let Some((f, _pin)) = a.open_segment(r).unwrap() {
                            assert_eq!(f.metadata().unwrap().len() as i64, r.bytes);
                        }
                    }
                    seen = seen.max(rows.len());
                }
            }
            seen
        })
    };
    let retention = {
        let a = a.clone();
        std::thread::spawn(move || {
            for i in 0..20 {
                let policy = RetentionPolicy {
                    default_hours: 1,
                    ..Default::default()
                };
                a.enforce_retention(UtcMs(T0 + 3_600_000 + i * 30 * SEG_MS), &policy)
                    .unwrap();
            }
        })
    };
    for w in writers {
        assert_eq!(w.join().unwrap(), 200);
    }
    reader.join().unwrap();
    retention.join().unwrap();
    check_invariant(&a);
}

/// Writes segment `i` of a run starting at wall time `start`, received at monotonic `mono`.
fn write_rx(a: &Archive, ch: &str, start: i64, mono: i64) -> Result<SegmentRow> {
    a.write_segment_received(ch, UtcMs(start), SEG_90K, false, &ts(1, 0), Some(mono))
}

#[test]
fn clock_step_back_refuses_overlaps_and_records_a_clock_step_gap() {
    let dir = TempDir::new();
    let (a, _) = open(&dir);
    // 10 segments recorded normally: wall and monotonic time advance together.
    for i in 0..10 {
        write_rx(&a, "c", T0 + i * SEG_MS, i * SEG_MS).unwrap();
    }
    let end = T0 + 10 * SEG_MS;
    // The wall clock steps back one hour: every segment for the next hour would overlap.
    let back = 3_600_000;
    let mut refused = 0;
    let mut i = 10;
    loop {
        let start = T0 + i * SEG_MS - back;
        match write_rx(&a, "c", start, i * SEG_MS) {
            Ok(_) => break,
            Err(ArchiveError::ClockStepBack { .. }) | Err(ArchiveError::OutOfOrder { .. }) => {
                refused += 1
            }
            Err(e) => panic!("{e}"),
        }
        i += 1;
    }
    assert!(refused > 500, "{refused}");
    // No two stored segments overlap (beyond the 1 s of jitter allowed).
    let rows = a.segments("c", UtcMs(0), UtcMs(i64::MAX)).unwrap();
    for w in rows.windows(2) {
        assert!(w[1].start_utc_ms >= w[0].end_utc_ms - ADJACENT_MS, "{w:?}");
    }
    // Writing resumed where the wall clock caught up with the recording: no hole in wall time.
    assert_eq!(rows.len(), 11);
    assert_eq!(rows[10].start_utc_ms, end);
    assert_eq!(a.gaps("c", UtcMs(0), UtcMs(i64::MAX)).unwrap(), vec![]);
    // Stepped back while the channel was on a hole: the hole is a clock step, not a lost source.
    let mono = i * SEG_MS;
    let next = end + SEG_MS;
    write_rx(&a, "c", next - 1_800_000, mono + SEG_MS).unwrap_err();
    write_rx(&a, "c", next + 300_000, mono + 2 * SEG_MS).unwrap();
    let gaps = a.gaps("c", UtcMs(0), UtcMs(i64::MAX)).unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].reason, GapReason::ClockStep);
    assert_eq!(gaps[0].from_utc_ms, next);
}

#[test]
fn clock_step_forward_is_a_clock_step_gap_not_source_lost() {
    let dir = TempDir::new();
    let (a, _) = open(&dir);
    for i in 0..5 {
        write_rx(&a, "c", T0 + i * SEG_MS, i * SEG_MS).unwrap();
    }
    // The wall clock jumps one hour forward while the media (monotonic time) runs on.
    for i in 5..10 {
        write_rx(&a, "c", T0 + i * SEG_MS + 3_600_000, i * SEG_MS).unwrap();
    }
    // Later a real hole with the same wall distance but matching monotonic time: source lost.
    write_rx(
        &a,
        "c",
        T0 + 20 * SEG_MS + 7_200_000,
        20 * SEG_MS + 3_600_000,
    )
    .unwrap();
    let gaps = a.gaps("c", UtcMs(0), UtcMs(i64::MAX)).unwrap();
    let got: Vec<_> = gaps.iter().map(|g| g.reason).collect();
    assert_eq!(got, vec![GapReason::ClockStep, GapReason::SourceLost]);
    assert_eq!(gaps[0].from_utc_ms, T0 + 5 * SEG_MS);
    assert_eq!(gaps[0].to_utc_ms, T0 + 5 * SEG_MS + 3_600_000);
    // Small overlaps (wall-clock nudges) are not clock steps and are stored.
    let last = T0 + 20 * SEG_MS + 7_200_000;
    write_rx(&a, "c", last + SEG_MS - 100, 21 * SEG_MS + 3_600_000).unwrap();
    assert_eq!(a.gaps("c", UtcMs(0), UtcMs(i64::MAX)).unwrap().len(), 2);
}

#[test]
fn new_gap_reasons_survive_a_reopen_and_old_databases_migrate() {
    let dir = TempDir::new();
    {
        // A database at schema 1 (before these reasons) with one segment.
        let conn = rusqlite::Connection::open(dir.0.join("archive.db")).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
    }
    let (a, _) = open(&dir);
    write_run(&a, "c", T0, 1);
    for (k, reason) in [
        GapReason::RecorderOverflow,
        GapReason::DiskFull,
        GapReason::WriteError,
        GapReason::ClockStep,
    ]
    .into_iter()
    .enumerate()
    {
        let at = T0 + (k as i64 * 2 + 1) * 60_000;
        a.mark_stopped("c", UtcMs(at - 50_000), reason).unwrap();
        write_run(&a, "c", at, 1);
    }
    drop(a);
    let (a, _) = open(&dir);
    let got: Vec<_> = a
        .gaps("c", UtcMs(0), UtcMs(i64::MAX))
        .unwrap()
        .iter()
        .map(|g| g.reason.as_str())
        .collect();
    assert_eq!(
        got,
        vec![
            "recorder_overflow",
            "disk_full",
            "write_error",
            "clock_step"
        ]
    );
    assert_eq!(a.stats().unwrap().segments, 5);
}

#[test]
fn following_reads_are_bounded_batches_after_a_key() {
    let dir = TempDir::new();
    let (a, _) = open(&dir);
    write_run(&a, "c", T0, 30);
    write_run(&a, "d", T0, 3);
    let got = a.segments_after("c", T0 + 5 * SEG_MS, 8).unwrap();
    let starts: Vec<i64> = got.iter().map(|r| (r.start_utc_ms - T0) / SEG_MS).collect();
    assert_eq!(starts, (6..14).collect::<Vec<_>>());
    assert!(got[0].path.is_file());
    assert_eq!(a.segments_after("c", T0 + 29 * SEG_MS, 8).unwrap().len(), 0);
    assert_eq!(a.segments_after("d", i64::MIN, 8).unwrap().len(), 3);
    // Playlists take at most `limit` rows.
    let rows = a
        .segments_limit("c", UtcMs(T0), UtcMs(T0 + 30 * SEG_MS), 10)
        .unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[9].start_utc_ms, T0 + 9 * SEG_MS);
    // The follow query is an index seek, not a scan of every later row.
    let plan: Vec<String> = a
        .read(|c| {
            let mut s = c
                .prepare(
                    "EXPLAIN QUERY PLAN SELECT start_utc_ms FROM segment
                      WHERE channel = 'c' AND start_utc_ms > 0 ORDER BY start_utc_ms LIMIT 8",
                )
                .unwrap();
            let rows = s
                .query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<rusqlite::Result<Vec<_>>>()
                .unwrap();
            Ok(rows)
        })
        .unwrap();
    assert!(
        plan.iter().any(|p| p.contains("SEARCH"))
            && !plan.iter().any(|p| p.contains("TEMP B-TREE")),
        "{plan:?}"
    );
}

#[test]
fn backfill_fills_a_gap_and_cuts_it_around_what_came() {
    let dir = TempDir::new();
    let (a, _) = open(&dir);
    write_run(&a, "c", T0, 2); // ends T0+12s
    write_run(&a, "c", T0 + 60_000, 2); // a 48 s source_lost gap before it
    let seg = |start: i64| {
        a.backfill_segment("c", UtcMs(T0 + start), SEG_90K, false, &ts(3, 9))
            .unwrap()
    };
    let gaps = |a: &Archive| -> Vec<(i64, i64)> {
        a.gaps("c", UtcMs(T0), UtcMs(T0 + 100_000))
            .unwrap()
            .iter()
            .map(|g| (g.from_utc_ms - T0, g.to_utc_ms - T0))
            .collect()
    };
    // into the middle of the gap: split in two
    assert!(matches!(seg(30_000), Backfilled::Stored(_)));
    assert_eq!(gaps(&a), [(12_000, 30_000), (36_000, 60_000)]);
    // over a segment (also the one just stored), at or after the newest: refused, nothing changes
    assert_eq!(seg(3_000), Backfilled::Overlaps);
    assert_eq!(seg(33_000), Backfilled::Overlaps);
    assert_eq!(seg(66_000), Backfilled::NotInThePast);
    assert_eq!(seg(200_000), Backfilled::NotInThePast);
    // the rest, segment by segment: the gaps go away
    for s in [12_000, 18_000, 24_000, 36_000, 42_000, 48_000, 54_000] {
        assert!(matches!(seg(s), Backfilled::Stored(_)), "{s}");
    }
    assert_eq!(gaps(&a), Vec::<(i64, i64)>::new());
    let starts: Vec<i64> = a
        .segments("c", UtcMs(T0), UtcMs(T0 + 100_000))
        .unwrap()
        .iter()
        .map(|r| r.start_utc_ms - T0)
        .collect();
    assert_eq!(starts, (0..12).map(|i| i * 6_000).collect::<Vec<_>>());
    check_invariant(&a);
    // the live writer goes on after its newest segment, and a restart keeps everything
    write_run(&a, "c", T0 + 72_000, 1);
    drop(a);
    let (a, report) = open(&dir);
    assert!(!report.repaired_anything(), "{report:?}");
    assert_eq!(
        a.segments("c", UtcMs(T0), UtcMs(T0 + 100_000))
            .unwrap()
            .len(),
        13
    );
    check_invariant(&a);
    assert!(a
        .backfill_segment("c", UtcMs(T0 + 1_000), SEG_90K, false, b"not ts")
        .is_err());
}
