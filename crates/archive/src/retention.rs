//! Retention, usage and deleting a channel.

use super::*;

impl Archive {
    /// Deletes segments past their channel's age (`per_channel_hours`, else `default_hours`: a
    /// segment goes when it ended at or before `now − hours`), then, while the total is above
    /// `max_bytes`, the oldest segments of all channels. Pinned segments are skipped. Rows are
    /// deleted in batches, each in one transaction (synchronous=FULL) that also records the paths in
    /// `pending_delete`; files are unlinked after the commit.
    pub fn enforce_retention(
        &self,
        now: UtcMs,
        policy: &RetentionPolicy,
    ) -> Result<RetentionReport> {
        let _m = lock(&self.maintenance);
        let mut report = RetentionReport::default();
        let channels: Vec<(String, u64)> =
            self.usage()?.into_iter().map(|(c, b, _)| (c, b)).collect();

        // By age.
        for (ch, _) in &channels {
            let cutoff = now.0 - i64::from(policy.hours_for(ch)) * MS_PER_HOUR;
            let mut after = i64::MIN;
            loop {
                let batch: Vec<RawRow> = self.read(|c| {
                    let mut stmt = c
                        .prepare_cached(&format!(
                            "SELECT {RAW_COLS} FROM segment
                              WHERE channel = ?1 AND start_utc_ms > ?2 AND start_utc_ms < ?3
                              ORDER BY start_utc_ms LIMIT ?4"
                        ))
                        .ctx(|| format!("retention of {ch}"))?;
                    let rows = stmt
                        .query_map(params![ch, after, cutoff, DELETE_BATCH as i64], raw_row)
                        .ctx(|| format!("retention of {ch}"))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .ctx(|| format!("retention of {ch}"))?;
                    Ok(rows)
                })?;
                let Some(last) = batch.last() else { break };
                after = last.start_utc_ms;
                let full = batch.len() == DELETE_BATCH;
                let due: Vec<RawRow> = batch
                    .into_iter()
                    .filter(|r| r.end_utc_ms <= cutoff)
                    .collect();
                self.delete_rows(ch, due, &mut report)?;
                if !full {
                    break;
                }
            }
        }

        // By total size: oldest first across channels.
        if let Some(max) = policy.max_bytes {
            let mut total: u64 = self.usage()?.iter().map(|(_, b, _)| b).sum();
            // Per channel: everything at or before the cursor is deleted or pinned.
            let mut cursor: HashMap<String, i64> = HashMap::new();
            const PER_CHANNEL: i64 = 256;
            while total > max {
                let mut merged: Vec<(String, RawRow)> = Vec::new();
                let mut horizon = i64::MAX;
                for (ch, _) in &channels {
                    let after = cursor.get(ch).copied().unwrap_or(i64::MIN);
                    let rows: Vec<RawRow> = self.read(|c| {
                        let mut stmt = c
                            .prepare_cached(&format!(
                                "SELECT {RAW_COLS} FROM segment WHERE channel = ?1 AND start_utc_ms > ?2
                                  ORDER BY start_utc_ms LIMIT ?3"
                            ))
                            .ctx(|| format!("retention of {ch}"))?;
                        let rows = stmt
                            .query_map(params![ch, after, PER_CHANNEL], raw_row)
                            .ctx(|| format!("retention of {ch}"))?
                            .collect::<rusqlite::Result<Vec<_>>>()
                            .ctx(|| format!("retention of {ch}"))?;
                        Ok(rows)
                    })?;
                    if rows.len() as i64 == PER_CHANNEL {
                        horizon = horizon.min(rows.last().map_or(i64::MAX, |r| r.start_utc_ms));
                    }
                    merged.extend(rows.into_iter().map(|r| (ch.clone(), r)));
                }
                if merged.is_empty() {
                    break;
                }
                merged.sort_by_key(|(_, r)| r.start_utc_ms);
                let mut take: HashMap<String, Vec<RawRow>> = HashMap::new();
                let mut freed = 0u64;
                {
                    let pins = lock(&self.pins);
                    for (ch, r) in merged {
                        if r.start_utc_ms > horizon || total - freed <= max {
                            break;
                        }
                        cursor.insert(ch.clone(), r.start_utc_ms);
                        if pins.contains_key(&r.id) {
                            report.pinned_skipped += 1;
                            continue;
                        }
                        freed += r.bytes as u64;
                        take.entry(ch).or_default().push(r);
                    }
                }
                let before = report.bytes_freed;
                for (ch, rows) in take {
                    self.delete_rows(&ch, rows, &mut report)?;
                }
                // Every round moves at least one cursor (the oldest row in view is at or before
                // the horizon), so pinned rows cannot stall the loop.
                total = total.saturating_sub(report.bytes_freed - before);
            }
        }

        // Gaps older than what is kept.
        {
            let w = lock(&self.writer);
            for (ch, _) in &channels {
                report.gaps_deleted += w
                    .execute(
                        "DELETE FROM gap WHERE channel = ?1 AND to_utc_ms <= coalesce(
                            (SELECT min(start_utc_ms) FROM segment WHERE channel = ?1), 9223372036854775807)",
                        [ch],
                    )
                    .ctx(|| format!("old gaps of {ch}"))?;
            }
        }
        if report.segments_deleted > 0 {
            tracing::info!(?report, "archive retention");
        }
        Ok(report)
    }

    /// Deletes `rows` of `ch` that are not pinned: rows and pending paths in one durable
    /// transaction, then the files, then the pending paths.
    pub(crate) fn delete_rows(
        &self,
        ch: &str,
        rows: Vec<RawRow>,
        report: &mut RetentionReport,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut paths: Vec<String> = Vec::with_capacity(rows.len());
        {
            // Pins are checked and the rows deleted under the pin lock: a pin taken after this
            // commit finds the row gone (and, via open_segment, the file gone).
            let pins = lock(&self.pins);
            let mut w = lock(&self.writer);
            w.pragma_update(None, "synchronous", "FULL")
                .ctx(|| "synchronous".into())?;
            let result = (|| -> rusqlite::Result<()> {
                let tx = w.transaction()?;
                {
                    let mut del = tx.prepare_cached(
                        "DELETE FROM segment WHERE channel = ?1 AND start_utc_ms = ?2",
                    )?;
                    let mut pend = tx.prepare_cached(
                        "INSERT OR IGNORE INTO pending_delete (path) VALUES (?1)",
                    )?;
                    for r in &rows {
                        if pins.contains_key(&r.id) {
                            report.pinned_skipped += 1;
                            continue;
                        }
                        if del.execute(params![ch, r.start_utc_ms])? == 0 {
                            continue;
                        }
                        let rel = rel_path(ch, r.start_utc_ms, r.duration_90k, r.discontinuity);
                        let rel = rel.to_string_lossy().into_owned();
                        pend.execute([&rel])?;
                        paths.push(rel);
                        report.segments_deleted += 1;
                        report.bytes_freed += r.bytes as u64;
                    }
                }
                tx.commit()
            })();
            let restored = w.pragma_update(None, "synchronous", "NORMAL");
            result.ctx(|| format!("delete segments of {ch}"))?;
            restored.ctx(|| "synchronous".into())?;
        }
        let mut dirs: Vec<PathBuf> = Vec::new();
        for p in &paths {
            let abs = self.root.join(p);
            remove_file_if_exists(&abs)?;
            if let Some(d) = abs.parent() {
                if dirs.last().map(|l| l.as_path()) != Some(d) {
                    dirs.push(d.to_path_buf());
                }
            }
        }
        // Empty hour and day directories go too (fails harmlessly when not empty).
        for d in dirs {
            if fs::remove_dir(&d).is_ok() {
                if let Some(day) = d.parent() {
                    let _ = fs::remove_dir(day);
                }
            }
        }
        let w = lock(&self.writer);
        let tx = w.unchecked_transaction().ctx(|| "pending deletes".into())?;
        {
            let mut stmt = tx
                .prepare_cached("DELETE FROM pending_delete WHERE path = ?1")
                .ctx(|| "pending deletes".into())?;
            for p in &paths {
                stmt.execute([p]).ctx(|| "pending deletes".into())?;
            }
        }
        tx.commit().ctx(|| "pending deletes".into())?;
        Ok(())
    }

    /// Bytes and segments per channel with segments, by channel id. O(channels): running totals.
    pub fn usage(&self) -> Result<Vec<(String, u64, i64)>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT channel, bytes, segments FROM channel_state WHERE segments > 0 ORDER BY channel",
                )
                .ctx(|| "usage".into())?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?)))
                .ctx(|| "usage".into())?
                .collect::<rusqlite::Result<Vec<_>>>()
                .ctx(|| "usage".into())?;
            Ok(rows)
        })
    }

    /// Removes a channel's whole archive (segments, gaps, stop marker); returns the bytes freed.
    /// The directory is first renamed into `{root}/.trash` (atomic), then rows are dropped, then
    /// the files removed: a crash at any point leaves nothing of the channel after the next open.
    /// Pins are not honoured here (open files stay readable).
    pub fn delete_channel(&self, channel: &str) -> Result<u64> {
        if !valid_channel(channel) {
            return Err(ArchiveError::InvalidChannel(channel.to_string()));
        }
        let _m = lock(&self.maintenance);
        let state = self.chan(channel);
        let mut st = lock(&state);
        let dir = self.root.join(channel);
        let trash_root = self.root.join(TRASH_DIR);
        let trash = trash_root.join(format!(
            "{channel}.{}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        ));
        let moved = dir.is_dir();
        if moved {
            fs::create_dir_all(&trash_root).map_err(io_err("create", &trash_root))?;
            fs::rename(&dir, &trash).map_err(io_err("rename", &dir))?;
            if self.fsync {
                fsync_dir(&self.root)?;
            }
        }
        let bytes: i64 = {
            let mut w = lock(&self.writer);
            let tx = w.transaction().ctx(|| format!("delete {channel}"))?;
            let bytes = tx
                .query_row(
                    "SELECT bytes FROM channel_state WHERE channel = ?1",
                    [channel],
                    |r| r.get(0),
                )
                .optional()
                .ctx(|| format!("delete {channel}"))?
                .unwrap_or(0);
            tx.execute("DELETE FROM segment WHERE channel = ?1", [channel])
                .ctx(|| format!("delete {channel}"))?;
            tx.execute("DELETE FROM gap WHERE channel = ?1", [channel])
                .ctx(|| format!("delete {channel}"))?;
            tx.execute(
                "UPDATE channel_state SET stopped_utc_ms = NULL, stopped_reason = NULL WHERE channel = ?1",
                [channel],
            )
            .ctx(|| format!("delete {channel}"))?;
            tx.commit().ctx(|| format!("delete {channel}"))?;
            bytes
        };
        *st = ChanState::default();
        if moved {
            fs::remove_dir_all(&trash).map_err(io_err("remove", &trash))?;
            let _ = fs::remove_dir(&trash_root);
        }
        Ok(bytes as u64)
    }
}
