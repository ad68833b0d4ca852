//! Writing: a segment (file, then row, then the gap before it) and stop markers.

use super::*;

/// What every stored segment must be: a valid channel id, whole TS packets starting with 0x47
/// (the test recovery applies too), a positive duration, a start after 1970.
pub(crate) fn validate(
    channel: &str,
    start_utc: UtcMs,
    duration_90k: i64,
    data: &[u8],
) -> Result<()> {
    if !valid_channel(channel) {
        return Err(ArchiveError::InvalidChannel(channel.to_string()));
    }
    let invalid = |why| ArchiveError::InvalidSegment {
        channel: channel.to_string(),
        why,
    };
    if data.is_empty() || !data.len().is_multiple_of(188) || data[0] != 0x47 {
        return Err(invalid("not whole TS packets starting with 0x47"));
    }
    if duration_90k <= 0 || duration_90k > i64::MAX / 2 {
        return Err(invalid("duration must be positive"));
    }
    if !(0..=i64::MAX / 2).contains(&start_utc.0) {
        return Err(invalid("start before 1970"));
    }
    Ok(())
}

/// Alignment of `O_DIRECT` writes (address, length, offset): the largest logical block size.
const DIRECT_ALIGN: usize = 4096;
/// A direct-write buffer larger than this is freed after its write.
const DIRECT_BUF_KEEP: usize = 16 << 20;

impl Archive {
    /// Stores one segment: file first (temp, fsync, rename), then its row, so an indexed row always
    /// has its complete file. Records a gap when the segment starts more than [`ADJACENT_MS`] after
    /// the channel's previous one: with the `mark_stopped` reason if one was given, 'crash' if this
    /// is the channel's first segment since open, else 'source_lost'.
    ///
    /// Segments of a channel must start strictly after the previous one ([`ArchiveError::OutOfOrder`]
    /// otherwise: e.g. after the wall clock stepped back; the segment is not stored).
    pub fn write_segment(
        &self,
        channel: &str,
        start_utc: UtcMs,
        duration_90k: i64,
        discontinuity: bool,
        data: &[u8],
    ) -> Result<SegmentRow> {
        self.write_segment_received(channel, start_utc, duration_90k, discontinuity, data, None)
    }

    /// As [`Archive::write_segment`], with the monotonic time (`received_mono_ms`, any origin, the
    /// same for every call) at which the segment was finished. The archive then tells a wall-clock
    /// step from a lost source: when the wall-clock distance between this segment and the
    /// channel's previous one differs from the monotonic distance by more than [`CLOCK_STEP_MS`],
    /// or a segment was refused because it started before the previous one ended (the clock went
    /// back; overlaps up to [`ADJACENT_MS`] are jitter and accepted), the next hole is recorded as
    /// a 'clock_step' gap (unless a `mark_stopped` reason says otherwise). No segment that
    /// overlaps the previous one by more than [`ADJACENT_MS`] is ever stored.
    pub fn write_segment_received(
        &self,
        channel: &str,
        start_utc: UtcMs,
        duration_90k: i64,
        discontinuity: bool,
        data: &[u8],
        received_mono_ms: Option<i64>,
    ) -> Result<SegmentRow> {
        validate(channel, start_utc, duration_90k, data)?;
        let start = start_utc.0;
        let state = self.chan(channel);
        let mut st = lock(&state);
        self.load_state(channel, &mut st)?;
        if let (Some(rx), Some(prev_rx), Some(prev_start)) =
            (received_mono_ms, st.last_received_mono_ms, st.last_start)
        {
            let skew_ms = (start - prev_start) - (rx - prev_rx);
            if skew_ms.abs() > CLOCK_STEP_MS && !st.clock_stepped {
                tracing::warn!(
                    channel,
                    skew_ms,
                    "archive: the wall clock stepped while recording"
                );
                st.clock_stepped = true;
            }
        }
        if let Some(last) = st.last_start {
            let overlaps = st.last_end.is_some_and(|e| start < e - ADJACENT_MS);
            if overlaps && start > last {
                if !st.clock_stepped {
                    tracing::warn!(
                        channel,
                        start,
                        "archive: segment overlaps the previous one (clock stepped back): refused"
                    );
                }
                st.clock_stepped = true;
                return Err(ArchiveError::ClockStepBack {
                    channel: channel.to_string(),
                    start_utc_ms: start,
                    last_end_utc_ms: st.last_end.unwrap_or(last),
                });
            }
            if start <= last {
                st.clock_stepped = true;
                return Err(ArchiveError::OutOfOrder {
                    channel: channel.to_string(),
                    start_utc_ms: start,
                    last_start_utc_ms: last,
                });
            }
        }

        let (rel, path) =
            self.write_file(&mut st, channel, start, duration_90k, discontinuity, data)?;

        // The row (and the gap before it).
        let end = start + layout::duration_ms(duration_90k);
        let gap = match st.last_end {
            Some(prev_end) if start - prev_end > ADJACENT_MS => Some(Gap {
                from_utc_ms: prev_end,
                to_utc_ms: start,
                reason: match st.stop {
                    Some((_, why)) => why,
                    None if st.clock_stepped => GapReason::ClockStep,
                    None if !st.written_since_open => GapReason::Crash,
                    None => GapReason::SourceLost,
                },
            }),
            _ => None,
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let inserted = (|| -> rusqlite::Result<()> {
            let mut w = lock(&self.writer);
            let tx = w.transaction()?;
            tx.prepare_cached(
                "INSERT INTO segment (channel, start_utc_ms, id, duration_90k, end_utc_ms, bytes, discontinuity)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![channel, start, id, duration_90k, end, data.len() as i64, discontinuity as i64])?;
            if let Some(g) = gap {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO gap (channel, from_utc_ms, to_utc_ms, reason) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![channel, g.from_utc_ms, g.to_utc_ms, g.reason.as_str()])?;
            }
            if st.stop.is_some() {
                tx.prepare_cached(
                    "UPDATE channel_state SET stopped_utc_ms = NULL, stopped_reason = NULL WHERE channel = ?1",
                )?
                .execute([channel])?;
            }
            tx.commit()
        })();
        if let Err(e) = inserted {
            // Keep "no file without a row" when we can; if this fails too, open re-indexes it.
            let _ = fs::remove_file(&path);
            return Err(e).ctx(|| format!("index segment {}", rel.display()));
        }
        if let Some(g) = gap {
            tracing::info!(
                channel,
                from = g.from_utc_ms,
                to = g.to_utc_ms,
                reason = g.reason.as_str(),
                "archive: gap"
            );
        }
        st.last_start = Some(start);
        st.last_end = Some(end);
        st.stop = None;
        st.written_since_open = true;
        st.clock_stepped = false;
        st.last_received_mono_ms = received_mono_ms;
        Ok(SegmentRow {
            id,
            channel: channel.to_string(),
            start_utc_ms: start,
            duration_90k,
            end_utc_ms: end,
            bytes: data.len() as i64,
            discontinuity,
            path,
        })
    }

    /// Writes `data` as the file `path`: with `O_DIRECT` while the filesystem takes it, else
    /// through the page cache; then fdatasync when the archive syncs.
    fn write_data(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        if self.direct_io.load(Ordering::Relaxed) {
            match self.write_direct(path, data) {
                Ok(()) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    tracing::info!(
                        path = %path.display(),
                        "the archive's filesystem refuses O_DIRECT ({e}): writing segments through the page cache"
                    );
                    self.direct_io.store(false, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        let mut f = File::create(path)?;
        f.write_all(data)?;
        if self.fsync {
            f.sync_data()?;
        }
        Ok(())
    }

    /// `data` written with `O_DIRECT` from an aligned copy padded to [`DIRECT_ALIGN`], the
    /// file then cut to `data`'s length.
    fn write_direct(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let padded = data.len().div_ceil(DIRECT_ALIGN) * DIRECT_ALIGN;
        let mut buf = self.direct_buf.lock().unwrap_or_else(|e| e.into_inner());
        if buf.len() < padded + DIRECT_ALIGN {
            buf.resize(padded + DIRECT_ALIGN, 0);
        }
        let off = buf.as_ptr().align_offset(DIRECT_ALIGN);
        let region = &mut buf[off..off + padded];
        region[..data.len()].copy_from_slice(data);
        region[data.len()..].fill(0);
        let written = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)?;
            f.write_all(region)?;
            f.set_len(data.len() as u64)?;
            if self.fsync {
                f.sync_data()?;
            }
            Ok(())
        })();
        // one unusually large segment does not keep its buffer
        if buf.len() > DIRECT_BUF_KEEP {
            *buf = Vec::new();
        }
        written
    }

    /// A segment's file: written to the channel's `.tmp`, synced, renamed into its hour
    /// directory (made when missing). Returns its relative and absolute paths.
    pub(crate) fn write_file(
        &self,
        st: &mut ChanState,
        channel: &str,
        start: i64,
        duration_90k: i64,
        discontinuity: bool,
        data: &[u8],
    ) -> Result<(PathBuf, PathBuf)> {
        let rel = rel_path(channel, start, duration_90k, discontinuity);
        let path = self.root.join(&rel);
        let dir = path
            .parent()
            .expect("segment path has a parent")
            .to_path_buf();
        let tmp_dir = self.root.join(channel).join(TMP_DIR);
        if st.hour_dir.as_ref() != Some(&dir) {
            self.make_dirs(&dir, &tmp_dir)?;
            st.hour_dir = Some(dir.clone());
        }
        let file_name = path.file_name().expect("file name").to_owned();
        let mut tmp_name = file_name.clone();
        tmp_name.push(TMP_SUFFIX);
        let tmp = tmp_dir.join(tmp_name);
        if let Err(e) = self.write_data(&tmp, data) {
            let _ = fs::remove_file(&tmp);
            return Err(io_err("write", &tmp)(e));
        }
        let mut attempt = 0;
        while let Err(e) = fs::rename(&tmp, &path) {
            attempt += 1;
            // Retention removes hour directories it empties; one may go between our check and
            // the rename. Make it again.
            if e.kind() == io::ErrorKind::NotFound
                && attempt < 3
                && self.make_dirs(&dir, &tmp_dir).is_ok()
            {
                continue;
            }
            let _ = fs::remove_file(&tmp);
            st.hour_dir = None;
            return Err(io_err("rename", &path)(e));
        }
        let synced_recently =
            matches!(st.last_dir_sync_utc_ms, Some(t) if (0..1000).contains(&(start - t)));
        if self.fsync && !synced_recently {
            fsync_dir(&dir)?;
            st.last_dir_sync_utc_ms = Some(start);
        }

        Ok((rel, path))
    }

    /// Creates a segment's hour directory (and the channel's `.tmp`); new directory entries are
    /// made durable (once an hour).
    pub(crate) fn make_dirs(&self, dir: &Path, tmp_dir: &Path) -> Result<()> {
        let new_dirs = !dir.is_dir();
        fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        fs::create_dir_all(tmp_dir).map_err(io_err("create", tmp_dir))?;
        if new_dirs && self.fsync {
            let day = dir.parent().expect("day dir");
            fsync_dir(day)?;
            fsync_dir(day.parent().expect("channel dir"))?;
            fsync_dir(&self.root)?;
        }
        Ok(())
    }

    /// Recording of `channel` stopped on purpose, or its source was lost, at `at`: the next segment
    /// records the gap with `reason` instead of 'crash'/'source_lost'. Survives restarts, so the
    /// binary calls it (RecordingStopped) for every recording channel on graceful shutdown.
    pub fn mark_stopped(&self, channel: &str, at: UtcMs, reason: GapReason) -> Result<()> {
        if !valid_channel(channel) {
            return Err(ArchiveError::InvalidChannel(channel.to_string()));
        }
        let state = self.chan(channel);
        let mut st = lock(&state);
        self.load_state(channel, &mut st)?;
        // kept in memory even when the index cannot take it (a full disk): the gap still gets
        // its reason while the process lives
        st.stop = Some((at.0, reason));
        let w = lock(&self.writer);
        w.execute(
            "INSERT INTO channel_state (channel, stopped_utc_ms, stopped_reason) VALUES (?1, ?2, ?3)
             ON CONFLICT (channel) DO UPDATE SET stopped_utc_ms = ?2, stopped_reason = ?3",
            params![channel, at.0, reason.as_str()],
        )
        .ctx(|| format!("mark {channel} stopped"))?;
        Ok(())
    }
}
