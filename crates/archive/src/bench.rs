//! Only for `archive-bench` and `archive-seed` (feature `bench`): filling an index fast, without
//! writing segment files one by one.

use std::sync::atomic::Ordering;

use rusqlite::params;

use crate::types::io_err;
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

    /// Bulk seeding for benchmarks: segments of `duration_90k` from `from_utc_ms` until
    /// `to_utc_ms` for `channel`, each file a hard link to `source` (a TS segment; copied once
    /// into the channel's directory so the links stay on one file system and under the per-inode
    /// link limit for 72 h of 6 s segments). Rows are inserted in one transaction per 10,000.
    /// Every segment is marked as following a discontinuity (the same bytes repeat). Returns the
    /// number of segments.
    pub fn bench_seed_files(
        &self,
        channel: &str,
        source: &std::path::Path,
        from_utc_ms: i64,
        to_utc_ms: i64,
        duration_90k: i64,
    ) -> Result<usize> {
        let step = layout::duration_ms(duration_90k);
        let chan_dir = self.root.join(channel);
        std::fs::create_dir_all(&chan_dir).map_err(io_err("create", &chan_dir))?;
        let seed = chan_dir.join(".seed.ts");
        std::fs::copy(source, &seed).map_err(io_err("copy", source))?;
        let bytes = std::fs::metadata(&seed)
            .map_err(io_err("stat", &seed))?
            .len() as i64;
        let mut n = 0;
        let mut batch = Vec::new();
        let mut t = from_utc_ms;
        while t + step <= to_utc_ms {
            let rel = layout::rel_path(channel, t, duration_90k, true);
            let path = self.root.join(&rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io_err("create", dir))?;
            }
            std::fs::hard_link(&seed, &path).map_err(io_err("link", &path))?;
            batch.push(t);
            if batch.len() == 10_000 {
                n += self.bench_insert_rows(
                    batch
                        .drain(..)
                        .map(|s| (channel, s, duration_90k, bytes, true)),
                )?;
            }
            t += step;
        }
        n += self.bench_insert_rows(
            batch
                .drain(..)
                .map(|s| (channel, s, duration_90k, bytes, true)),
        )?;
        std::fs::remove_file(&seed).map_err(io_err("remove", &seed))?;
        Ok(n)
    }
}
