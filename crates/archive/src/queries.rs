//! Reading: range queries on the read connections, pins and opening a segment.

use super::*;

impl Archive {
    /// Runs `f` on a read connection (WAL: readers never wait for the writer).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        for r in &self.readers {
            if let Ok(c) = r.try_lock() {
                return f(&c);
            }
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        f(&lock(&self.readers[i]))
    }

    /// Segments overlapping `[from, to)`, in start order.
    pub fn segments(&self, channel: &str, from: UtcMs, to: UtcMs) -> Result<Vec<SegmentRow>> {
        self.segments_limit(channel, from, to, usize::MAX)
    }

    /// The first `limit` segments starting strictly after `after_start_utc_ms`, in start order:
    /// the next batch of a reader that follows the recording (one index seek, `limit` rows).
    pub fn segments_after(
        &self,
        channel: &str,
        after_start_utc_ms: i64,
        limit: usize,
    ) -> Result<Vec<SegmentRow>> {
        let raw = self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {RAW_COLS} FROM segment
                      WHERE channel = ?1 AND start_utc_ms > ?2
                      ORDER BY start_utc_ms LIMIT ?3"
                ))
                .ctx(|| format!("segments of {channel}"))?;
            let rows = stmt
                .query_map(
                    params![
                        channel,
                        after_start_utc_ms,
                        limit.min(i64::MAX as usize) as i64
                    ],
                    raw_row,
                )
                .ctx(|| format!("segments of {channel}"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .ctx(|| format!("segments of {channel}"))?;
            Ok(rows)
        })?;
        Ok(raw.into_iter().map(|r| self.row(channel, r)).collect())
    }

    /// As [`Archive::segments`], at most the first `limit`.
    pub fn segments_limit(
        &self,
        channel: &str,
        from: UtcMs,
        to: UtcMs,
        limit: usize,
    ) -> Result<Vec<SegmentRow>> {
        if to <= from || limit == 0 {
            return Ok(Vec::new());
        }
        let raw = self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {RAW_COLS} FROM segment
                      WHERE channel = ?1
                        AND start_utc_ms >= coalesce((SELECT start_utc_ms FROM segment
                              WHERE channel = ?1 AND start_utc_ms <= ?2
                              ORDER BY start_utc_ms DESC LIMIT 1), ?2)
                        AND start_utc_ms < ?3 AND end_utc_ms > ?2
                      ORDER BY start_utc_ms LIMIT ?4"
                ))
                .ctx(|| format!("segments of {channel}"))?;
            let rows = stmt
                .query_map(
                    params![channel, from.0, to.0, limit.min(i64::MAX as usize) as i64],
                    raw_row,
                )
                .ctx(|| format!("segments of {channel}"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .ctx(|| format!("segments of {channel}"))?;
            Ok(rows)
        })?;
        // Consecutive segments share their hour directory: build its path once per hour.
        let chan_dir = self.root.join(channel);
        let mut dir: Option<(i64, PathBuf)> = None;
        Ok(raw
            .into_iter()
            .map(|r| {
                let hour = r.start_utc_ms.div_euclid(MS_PER_HOUR);
                if dir.as_ref().map(|d| d.0) != Some(hour) {
                    dir = Some((hour, chan_dir.join(hour_dir(r.start_utc_ms))));
                }
                let d = &dir.as_ref().expect("set above").1;
                let mut path = PathBuf::with_capacity(d.as_os_str().len() + 32);
                path.push(d);
                path.push(layout::file_name(
                    r.start_utc_ms,
                    r.duration_90k,
                    r.discontinuity,
                ));
                SegmentRow {
                    path,
                    id: r.id,
                    channel: channel.to_string(),
                    start_utc_ms: r.start_utc_ms,
                    duration_90k: r.duration_90k,
                    end_utc_ms: r.end_utc_ms,
                    bytes: r.bytes,
                    discontinuity: r.discontinuity,
                }
            })
            .collect())
    }

    /// The last segment starting at or before `t` (the one to start a playlist at `t` with:
    /// every segment begins with a keyframe).
    pub fn segment_at_or_before(&self, channel: &str, t: UtcMs) -> Result<Option<SegmentRow>> {
        let raw = self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {RAW_COLS} FROM segment WHERE channel = ?1 AND start_utc_ms <= ?2
                  ORDER BY start_utc_ms DESC LIMIT 1"
            ))
            .and_then(|mut s| s.query_row(params![channel, t.0], raw_row).optional())
            .ctx(|| format!("segment of {channel} at {}", t.0))
        })?;
        Ok(raw.map(|r| self.row(channel, r)))
    }

    /// Start of the channel's oldest kept segment (where catch-up can begin), if any.
    pub fn earliest(&self, channel: &str) -> Result<Option<UtcMs>> {
        self.read(|c| {
            c.prepare_cached("SELECT min(start_utc_ms) FROM segment WHERE channel = ?1")
                .and_then(|mut s| s.query_row(params![channel], |r| r.get::<_, Option<i64>>(0)))
                .ctx(|| format!("earliest segment of {channel}"))
        })
        .map(|v| v.map(UtcMs))
    }

    /// Recorded coverage within `[from, to)`: segments merged when the next starts at most
    /// [`ADJACENT_MS`] after the previous ends (time adjacency only; a discontinuity does not
    /// split coverage), clipped to the range.
    pub fn intervals(&self, channel: &str, from: UtcMs, to: UtcMs) -> Result<Vec<(UtcMs, UtcMs)>> {
        if to <= from {
            return Ok(Vec::new());
        }
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT start_utc_ms, end_utc_ms FROM segment
                      WHERE channel = ?1
                        AND start_utc_ms >= coalesce((SELECT start_utc_ms FROM segment
                              WHERE channel = ?1 AND start_utc_ms <= ?2
                              ORDER BY start_utc_ms DESC LIMIT 1), ?2)
                        AND start_utc_ms < ?3 AND end_utc_ms > ?2
                      ORDER BY start_utc_ms",
                )
                .ctx(|| format!("intervals of {channel}"))?;
            let mut rows = stmt
                .query(params![channel, from.0, to.0])
                .ctx(|| format!("intervals of {channel}"))?;
            let mut out: Vec<(i64, i64)> = Vec::new();
            while let Some(r) = rows.next().ctx(|| format!("intervals of {channel}"))? {
                let (s, e): (i64, i64) = (
                    r.get(0).ctx(|| "start".into())?,
                    r.get(1).ctx(|| "end".into())?,
                );
                match out.last_mut() {
                    Some(last) if s - last.1 <= ADJACENT_MS => last.1 = last.1.max(e),
                    _ => out.push((s, e)),
                }
            }
            Ok(out
                .into_iter()
                .map(|(s, e)| (UtcMs(s.max(from.0)), UtcMs(e.min(to.0))))
                .collect())
        })
    }

    /// Recorded gaps overlapping `[from, to)`, in time order (not clipped).
    pub fn gaps(&self, channel: &str, from: UtcMs, to: UtcMs) -> Result<Vec<Gap>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT from_utc_ms, to_utc_ms, reason FROM gap
                      WHERE channel = ?1 AND from_utc_ms < ?3 AND to_utc_ms > ?2
                      ORDER BY from_utc_ms",
                )
                .ctx(|| format!("gaps of {channel}"))?;
            let rows = stmt
                .query_map(params![channel, from.0, to.0], |r| {
                    let reason: String = r.get(2)?;
                    Ok(Gap {
                        from_utc_ms: r.get(0)?,
                        to_utc_ms: r.get(1)?,
                        reason: GapReason::parse(&reason).unwrap_or(GapReason::SourceLost),
                    })
                })
                .ctx(|| format!("gaps of {channel}"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .ctx(|| format!("gaps of {channel}"))?;
            Ok(rows)
        })
    }

    /// Pins segment `id` until the guard is dropped: retention skips it (and deletes it at a later
    /// run). Pin before opening the file; once open, the file stays readable even if deleted.
    pub fn pin(&self, id: i64) -> PinGuard {
        *lock(&self.pins).entry(id).or_insert(0) += 1;
        PinGuard {
            pins: self.pins.clone(),
            id,
        }
    }

    /// Pins `row` and opens its file: the reader's way in. `None` when the segment was deleted
    /// since `row` was read (the file is gone).
    pub fn open_segment(&self, row: &SegmentRow) -> Result<Option<(File, PinGuard)>> {
        let guard = self.pin(row.id);
        match File::open(&row.path) {
            Ok(f) => Ok(Some((f, guard))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("open", &row.path)(e)),
        }
    }
}
