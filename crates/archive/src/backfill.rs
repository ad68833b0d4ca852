//! Back-filling: a segment recorded elsewhere (an edge's origin) stored into a hole of this
//! archive after the fact. Only into a recorded gap, never over a segment, and never at or after
//! the channel's newest segment (that is the live writer's side); the gap shrinks, splits or
//! goes.

use super::*;

/// What [`Archive::backfill_segment`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backfilled {
    /// Stored.
    Stored(SegmentRow),
    /// Not stored: it overlaps a segment already here.
    Overlaps,
    /// Not stored: it is not before the channel's newest segment (or the channel has none).
    NotInThePast,
}

impl Archive {
    /// Stores a segment into a hole of `channel`'s archive (see the module docs). The gap rows it
    /// covers are cut around it, so a fully filled gap disappears.
    pub fn backfill_segment(
        &self,
        channel: &str,
        start_utc: UtcMs,
        duration_90k: i64,
        discontinuity: bool,
        data: &[u8],
    ) -> Result<Backfilled> {
        writing::validate(channel, start_utc, duration_90k, data)?;
        if duration_90k > 3_600 * 90_000 {
            return Err(ArchiveError::InvalidSegment {
                channel: channel.to_string(),
                why: "a back-filled segment is at most an hour long",
            });
        }
        let start = start_utc.0;
        let end = start + layout::duration_ms(duration_90k);
        let state = self.chan(channel);
        let mut st = lock(&state);
        self.load_state(channel, &mut st)?;
        match st.last_start {
            Some(last) if end <= last + ADJACENT_MS => {}
            _ => return Ok(Backfilled::NotInThePast),
        }
        // any segment overlapping by more than the jitter allowance: refused
        let overlapping: i64 = self.read(|c| {
            c.prepare_cached(
                "SELECT count(*) FROM segment
                  WHERE channel = ?1 AND start_utc_ms < ?3 AND end_utc_ms > ?2",
            )
            .and_then(|mut s| {
                s.query_row(
                    params![channel, start + ADJACENT_MS, end - ADJACENT_MS],
                    |r| r.get(0),
                )
            })
            .ctx(|| format!("segments around {start} of {channel}"))
        })?;
        if overlapping > 0 {
            return Ok(Backfilled::Overlaps);
        }
        let (rel, path) =
            self.write_file(&mut st, channel, start, duration_90k, discontinuity, data)?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let inserted = (|| -> rusqlite::Result<()> {
            let mut w = lock(&self.writer);
            let tx = w.transaction()?;
            tx.prepare_cached(
                "INSERT INTO segment (channel, start_utc_ms, id, duration_90k, end_utc_ms, bytes, discontinuity)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![channel, start, id, duration_90k, end, data.len() as i64, discontinuity as i64])?;
            // the gaps it covers: cut around [start, end)
            let gaps: Vec<(i64, i64, String)> = tx
                .prepare_cached(
                    "SELECT from_utc_ms, to_utc_ms, reason FROM gap
                      WHERE channel = ?1 AND from_utc_ms < ?3 AND to_utc_ms > ?2",
                )?
                .query_map(params![channel, start, end], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            for (from, to, reason) in gaps {
                tx.prepare_cached("DELETE FROM gap WHERE channel = ?1 AND from_utc_ms = ?2")?
                    .execute(params![channel, from])?;
                for (a, b) in [(from, start), (end, to)] {
                    if b - a > ADJACENT_MS {
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO gap (channel, from_utc_ms, to_utc_ms, reason)
                             VALUES (?1, ?2, ?3, ?4)",
                        )?
                        .execute(params![channel, a, b, reason])?;
                    }
                }
            }
            tx.commit()
        })();
        if let Err(e) = inserted {
            let _ = fs::remove_file(&path);
            return Err(e).ctx(|| format!("index back-filled segment {}", rel.display()));
        }
        Ok(Backfilled::Stored(SegmentRow {
            id,
            channel: channel.to_string(),
            start_utc_ms: start,
            duration_90k,
            end_utc_ms: end,
            bytes: data.len() as i64,
            discontinuity,
            path,
        }))
    }
}
