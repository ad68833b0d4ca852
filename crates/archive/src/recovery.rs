//! Crash recovery at open (and the full check, `verify`): rows and files reconciled.

use super::*;

impl Archive {
    /// Full check of every row against every file (what `open` does for the tail of each channel
    /// only): repairs damage done behind the store's back (files removed or added by hand, a
    /// restored backup). Runs channel by channel while the store serves; O(segments).
    pub fn verify(&self) -> Result<RecoveryReport> {
        let _m = lock(&self.maintenance);
        let mut report = RecoveryReport::default();
        for ch in self.known_channels()? {
            let state = self.chan(&ch);
            let mut st = lock(&state);
            self.reconcile_channel(&ch, i64::MIN, &mut report)?;
            // Rows may have changed: reload at the next write.
            st.loaded = false;
            st.hour_dir = None;
        }
        Ok(report)
    }

    pub(crate) fn recover(&self) -> Result<RecoveryReport> {
        let mut report = RecoveryReport::default();
        // 1. Deletes committed but not finished: unlink and clear.
        let pending: Vec<String> = {
            let w = lock(&self.writer);
            let mut stmt = w
                .prepare("SELECT path FROM pending_delete")
                .ctx(|| "pending deletes".into())?;
            let rows = stmt
                .query_map([], |r| r.get(0))
                .ctx(|| "pending deletes".into())?
                .collect::<rusqlite::Result<Vec<String>>>()
                .ctx(|| "pending deletes".into())?;
            rows
        };
        if !pending.is_empty() {
            for p in &pending {
                remove_file_if_exists(&self.root.join(p))?;
            }
            lock(&self.writer)
                .execute("DELETE FROM pending_delete", [])
                .ctx(|| "pending deletes".into())?;
            report.deletes_finished += pending.len();
        }
        // 2. Channels deleted while their files were being removed.
        let trash = self.root.join(TRASH_DIR);
        if trash.exists() {
            fs::remove_dir_all(&trash).map_err(io_err("remove", &trash))?;
            report.deletes_finished += 1;
        }
        // 3. Each channel's tail.
        for ch in self.known_channels()? {
            let last = self.last_row(&ch)?;
            let from = last.map_or(i64::MIN, |r| r.start_utc_ms.saturating_sub(TAIL_CHECK_MS));
            self.reconcile_channel(&ch, from, &mut report)?;
        }
        report.crash_gaps = lock(&self.writer)
            .query_row(
                "SELECT count(*) FROM channel_state WHERE segments > 0 AND stopped_utc_ms IS NULL",
                [],
                |r| r.get::<_, i64>(0),
            )
            .ctx(|| "crash gaps".into())? as usize;
        Ok(report)
    }

    /// Channels with a directory or with rows.
    pub(crate) fn known_channels(&self) -> Result<Vec<String>> {
        let mut set: HashSet<String> = list_dir(&self.root)?
            .into_iter()
            .filter(|(name, e)| {
                valid_channel(name) && e.file_type().map(|t| t.is_dir()).unwrap_or(false)
            })
            .map(|(name, _)| name)
            .collect();
        let w = lock(&self.writer);
        let mut stmt = w
            .prepare_cached("SELECT channel FROM channel_state WHERE segments > 0")
            .ctx(|| "channels".into())?;
        for ch in stmt
            .query_map([], |r| r.get::<_, String>(0))
            .ctx(|| "channels".into())?
        {
            set.insert(ch.ctx(|| "channels".into())?);
        }
        let mut v: Vec<String> = set.into_iter().collect();
        v.sort();
        Ok(v)
    }

    pub(crate) fn last_row(&self, channel: &str) -> Result<Option<RawRow>> {
        let w = lock(&self.writer);
        let mut stmt = w
            .prepare_cached(&format!(
                "SELECT {RAW_COLS} FROM segment WHERE channel = ?1 ORDER BY start_utc_ms DESC LIMIT 1"
            ))
            .ctx(|| format!("last segment of {channel}"))?;
        stmt.query_row([channel], raw_row)
            .optional()
            .ctx(|| format!("last segment of {channel}"))
    }

    /// Makes rows with `start_utc_ms >= from` and files agree (docs/archive.md, "Recovery").
    /// The caller holds the channel's lock (or is `open`).
    pub(crate) fn reconcile_channel(
        &self,
        ch: &str,
        from: i64,
        report: &mut RecoveryReport,
    ) -> Result<()> {
        let chan_dir = self.root.join(ch);
        // Segments being written at the crash.
        for (name, e) in list_dir(&chan_dir.join(TMP_DIR))? {
            if name.ends_with(TMP_SUFFIX) {
                remove_file_if_exists(&e.path())?;
                report.tmp_removed += 1;
            }
        }
        if !chan_dir.is_dir() {
            // Deleted (delete_channel moves the directory away before dropping rows) or removed by hand.
            let n = lock(&self.writer)
                .execute("DELETE FROM segment WHERE channel = ?1", [ch])
                .ctx(|| format!("drop rows of {ch}"))?;
            if n > 0 {
                tracing::warn!(
                    channel = ch,
                    rows = n,
                    "archive: channel directory missing, rows dropped"
                );
            }
            report.rows_dropped += n;
            return Ok(());
        }
        // Rows from `from` on, by file name. Only this channel's writer (whose lock the caller
        // holds) or retention (excluded likewise) could change them meanwhile.
        let mut rows: HashMap<String, RawRow> = HashMap::new();
        {
            let w = lock(&self.writer);
            let mut stmt = w
                .prepare_cached(&format!(
                    "SELECT {RAW_COLS} FROM segment WHERE channel = ?1 AND start_utc_ms >= ?2"
                ))
                .ctx(|| format!("rows of {ch}"))?;
            let it = stmt
                .query_map(params![ch, from], raw_row)
                .ctx(|| format!("rows of {ch}"))?;
            for r in it {
                let r = r.ctx(|| format!("rows of {ch}"))?;
                rows.insert(
                    layout::file_name(r.start_utc_ms, r.duration_90k, r.discontinuity),
                    r,
                );
            }
        }
        let starts: HashSet<i64> = rows.values().map(|r| r.start_utc_ms).collect();
        // Walk the files without holding the index.
        let mut drop_starts: Vec<i64> = Vec::new();
        let mut orphans: Vec<(i64, i64, bool, i64)> = Vec::new();
        for (day, day_e) in list_dir(&chan_dir)? {
            if day.starts_with('.') || !day_e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            for (hour, hour_e) in list_dir(&day_e.path())? {
                let Some(hour_start) = parse_hour_dir(&day, &hour) else {
                    continue;
                };
                if hour_start.saturating_add(MS_PER_HOUR) <= from {
                    continue;
                }
                for (name, e) in list_dir(&hour_e.path())? {
                    let path = e.path();
                    let Some((start, dur_90k, disc)) = parse_file_name(&name) else {
                        tracing::warn!(path = %path.display(), "archive: stray file left alone");
                        continue;
                    };
                    if start < from {
                        continue;
                    }
                    let len = e.metadata().map_err(io_err("stat", &path))?.len();
                    if let Some(r) = rows.remove(&name) {
                        if r.bytes as u64 == len {
                            continue;
                        }
                        // The row describes another file than this one: drop it, judge the file alone.
                        tracing::warn!(path = %path.display(), len, row_bytes = r.bytes, "archive: row with wrong size dropped");
                        drop_starts.push(r.start_utc_ms);
                    } else if starts.contains(&start) {
                        // Same start as an indexed segment under another name: cannot be indexed.
                        tracing::warn!(path = %path.display(), "archive: duplicate segment removed");
                        remove_file_if_exists(&path)?;
                        report.orphans_removed += 1;
                        continue;
                    }
                    if hour_dir(start) == format!("{day}/{hour}") && sane_ts(&path, len) {
                        tracing::warn!(path = %path.display(), "archive: orphan segment indexed");
                        orphans.push((start, dur_90k, disc, len as i64));
                    } else {
                        tracing::warn!(path = %path.display(), len, "archive: incomplete segment removed");
                        remove_file_if_exists(&path)?;
                        report.orphans_removed += 1;
                    }
                }
            }
        }
        for r in rows.values() {
            tracing::warn!(
                channel = ch,
                start = r.start_utc_ms,
                "archive: row without file dropped"
            );
            drop_starts.push(r.start_utc_ms);
        }
        if drop_starts.is_empty() && orphans.is_empty() {
            return Ok(());
        }
        let mut w = lock(&self.writer);
        let tx = w.transaction().ctx(|| format!("reconcile {ch}"))?;
        for start in &drop_starts {
            tx.execute(
                "DELETE FROM segment WHERE channel = ?1 AND start_utc_ms = ?2",
                params![ch, start],
            )
            .ctx(|| format!("drop row {ch}/{start}"))?;
        }
        for (start, dur_90k, disc, len) in &orphans {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            tx.execute(
                "INSERT INTO segment (channel, start_utc_ms, id, duration_90k, end_utc_ms, bytes, discontinuity)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![ch, start, id, dur_90k, start + layout::duration_ms(*dur_90k), len, *disc as i64],
            )
            .ctx(|| format!("index orphan {ch}/{start}"))?;
        }
        tx.commit().ctx(|| format!("reconcile {ch}"))?;
        report.rows_dropped += drop_starts.len();
        report.orphans_indexed += orphans.len();
        Ok(())
    }
}
