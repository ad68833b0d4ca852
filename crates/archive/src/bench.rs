//! Only for `archive-bench` (feature `bench`): filling an index fast, without segment files.

use std::sync::atomic::Ordering;

use rusqlite::params;

use crate::{layout, lock, Archive, IndexContext, Result};

impl Archive {
    /// Bulk insert of rows without files, for the benchmark only: `(channel, start_utc_ms,
    /// duration_90k, bytes, discontinuity)`, in one transaction. Breaks the store's invariant
    /// (rows without files) unless the caller creates the files.
    pub fn bench_insert_rows<'a>(
        &self,
        rows: impl IntoIterator<Item = (&'a str, i64, i64, i64, bool)>,
    ) -> Result<usize> {
        let mut w = lock(&self.writer);
        let tx = w.transaction().ctx(|| "bench insert".into())?;
        let mut n = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO segment (channel, start_utc_ms, id, duration_90k, end_utc_ms, bytes, discontinuity)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .ctx(|| "bench insert".into())?;
            for (ch, start, dur, bytes, disc) in rows {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                stmt.execute(params![
                    ch,
                    start,
                    id,
                    dur,
                    start + layout::duration_ms(dur),
                    bytes,
                    disc as i64
                ])
                .ctx(|| "bench insert".into())?;
                n += 1;
            }
        }
        tx.commit().ctx(|| "bench insert".into())?;
        Ok(n)
    }
}
