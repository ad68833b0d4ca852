//! A channel's continuous MPEG-TS feed (`/live/{id}/mpegts`): one ring of the newest chunks,
//! bounded by bytes, that every TS viewer reads at its own cursor.
//!
//! The ring is the feed's only buffer: a new viewer starts at the newest segment start still in
//! it (PAT/PMT and a keyframe follow), a viewer whose cursor fell off the ring's tail is told it
//! lagged (and is dropped by its response); the publisher never waits for anyone. The chunks
//! are the segmenter's own `Bytes` (the open segment holds the same ones), so the ring costs no
//! copy; what it keeps alive beyond the open segment is bounded by `max_bytes` (the setting
//! `ts_buffer_bytes`). The newest chunk always stays, even when it alone is larger (an edge
//! feeds whole segments as chunks). While no viewer reads, the ring keeps only what a new
//! viewer would start with — the chunks from the newest segment start, which the open segment
//! holds anyway — so an unwatched channel's feed costs nothing beyond its open segment.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;

/// Default bound of a channel's TS ring (setting `ts_buffer_bytes`): 8 s of a 2 Mbit/s channel.
pub const TS_BUFFER_BYTES: usize = 2 << 20;

/// One chunk of the continuous TS stream.
#[derive(Clone, Debug)]
pub struct TsChunk {
    pub data: Bytes,
    /// A viewer may start here: PAT/PMT and a keyframe follow.
    pub segment_start: bool,
}

struct Ring {
    chunks: VecDeque<TsChunk>,
    /// Index (since the feed began) of `chunks[0]`.
    first: u64,
    bytes: usize,
    max_bytes: usize,
    /// Index of the newest chunk that starts a segment.
    segment_start: Option<u64>,
    closed: bool,
}

impl Ring {
    fn end(&self) -> u64 {
        self.first + self.chunks.len() as u64
    }
}

pub struct TsFeed {
    ring: Mutex<Ring>,
    notify: Notify,
    /// Readers alive (each [`TsReader`] holds one count until dropped).
    readers: Arc<AtomicUsize>,
}

/// Why a viewer gets no more chunks.
#[derive(Debug, PartialEq, Eq)]
pub enum TsEnd {
    /// The viewer fell this many chunks behind the ring's tail.
    Lagged(u64),
    /// The channel stopped.
    Closed,
}

/// A viewer's cursor in the feed.
pub struct TsReader {
    next: u64,
    /// False until the first segment start: a viewer who joined when no segment start was in
    /// the ring skips to the next one.
    started: bool,
    _count: ReaderCount,
}

/// One reader counted in [`TsFeed::readers`] while it lives.
struct ReaderCount(Arc<AtomicUsize>);

impl Drop for ReaderCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl TsFeed {
    pub fn new(max_bytes: usize) -> TsFeed {
        TsFeed {
            ring: Mutex::new(Ring {
                chunks: VecDeque::new(),
                first: 0,
                bytes: 0,
                max_bytes: max_bytes.max(1),
                segment_start: None,
                closed: false,
            }),
            notify: Notify::new(),
            readers: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a chunk (never waits); the oldest chunks leave while the ring is over its bound.
    pub fn push(&self, data: Bytes, segment_start: bool) {
        {
            let mut r = self.ring();
            if r.closed {
                return;
            }
            if segment_start {
                r.segment_start = Some(r.end());
            }
            r.bytes += data.len();
            r.chunks.push_back(TsChunk {
                data,
                segment_start,
            });
            while r.bytes > r.max_bytes && r.chunks.len() > 1 {
                if let Some(gone) = r.chunks.pop_front() {
                    r.bytes -= gone.data.len();
                    r.first += 1;
                }
            }
            // nobody reading: keep only what a new viewer starts with (from the newest segment
            // start; nothing when that is gone). Counted under the ring's lock by `subscribe`.
            if self.readers.load(Ordering::Relaxed) == 0 {
                let keep_from = match r.segment_start {
                    Some(s) if s >= r.first => s,
                    _ => r.end(),
                };
                while r.first < keep_from {
                    if let Some(gone) = r.chunks.pop_front() {
                        r.bytes -= gone.data.len();
                    }
                    r.first += 1;
                }
            }
        }
        self.notify.notify_waiters();
    }

    /// A new viewer, at the newest segment start in the ring (None once the channel stopped).
    pub fn subscribe(&self) -> Option<TsReader> {
        let r = self.ring();
        if r.closed {
            return None;
        }
        self.readers.fetch_add(1, Ordering::Relaxed);
        let count = ReaderCount(self.readers.clone());
        Some(match r.segment_start {
            Some(s) if s >= r.first => TsReader {
                next: s,
                started: true,
                _count: count,
            },
            _ => TsReader {
                next: r.end(),
                started: false,
                _count: count,
            },
        })
    }

    /// The next chunk for `reader`, if one is there.
    pub fn try_next(&self, reader: &mut TsReader) -> Option<Result<Bytes, TsEnd>> {
        let r = self.ring();
        if r.closed {
            return Some(Err(TsEnd::Closed));
        }
        loop {
            if reader.next < r.first {
                return Some(Err(TsEnd::Lagged(r.first - reader.next)));
            }
            let c = r.chunks.get((reader.next - r.first) as usize)?;
            reader.next += 1;
            if !reader.started && !c.segment_start {
                continue;
            }
            reader.started = true;
            return Some(Ok(c.data.clone()));
        }
    }

    /// The next chunk for `reader`, waiting for it.
    pub async fn next(&self, reader: &mut TsReader) -> Result<Bytes, TsEnd> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // registered before looking, so a push between the look and the wait is not missed
            notified.as_mut().enable();
            if let Some(r) = self.try_next(reader) {
                return r;
            }
            notified.await;
        }
    }

    /// Forgets the chunks (an edge stopped pulling an unwatched channel): new viewers wait for
    /// the next segment start; viewers reading on are told they lagged.
    pub fn clear(&self) {
        let mut r = self.ring();
        r.first = r.end();
        r.chunks.clear();
        r.bytes = 0;
        r.segment_start = None;
    }

    /// The channel stopped: every viewer's stream ends, new ones are refused.
    pub fn close(&self) {
        {
            let mut r = self.ring();
            r.closed = true;
            r.first = r.end();
            r.chunks.clear();
            r.bytes = 0;
        }
        self.notify.notify_waiters();
    }

    /// Bytes the ring holds now.
    pub fn held_bytes(&self) -> usize {
        self.ring().bytes
    }

    /// Viewers reading the feed now.
    #[cfg(test)]
    fn readers(&self) -> usize {
        self.readers.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_viewer_that_never_reads_never_blocks_the_feed_and_is_told_it_lagged() {
        let feed = TsFeed::new(100 * 188);
        let mut slow = feed.subscribe().unwrap();
        let mut fast = feed.subscribe().unwrap();
        for i in 0..5000u32 {
            feed.push(Bytes::from(vec![i as u8; 188]), i % 50 == 0); // never blocks
            assert!(matches!(feed.try_next(&mut fast), Some(Ok(_))));
            assert!(feed.held_bytes() <= 100 * 188, "the ring holds its bound");
        }
        assert!(matches!(
            feed.try_next(&mut slow),
            Some(Err(TsEnd::Lagged(_)))
        ));
        // a new viewer starts on the newest segment start
        let mut joined = feed.subscribe().unwrap();
        let first = feed.try_next(&mut joined).unwrap().unwrap();
        assert_eq!(first[0], (4950 % 256) as u8);
        let mut n = 1;
        while let Some(Ok(_)) = feed.try_next(&mut joined) {
            n += 1;
        }
        assert_eq!(n, 50);
        // closing ends every viewer's stream (read up or not) and refuses new ones
        feed.push(Bytes::from_static(&[0x47; 188]), false);
        feed.close();
        assert_eq!(feed.try_next(&mut joined), Some(Err(TsEnd::Closed)));
        assert_eq!(feed.try_next(&mut fast), Some(Err(TsEnd::Closed)));
        assert!(feed.subscribe().is_none());
        assert_eq!(feed.held_bytes(), 0);
    }

    #[test]
    fn a_segment_larger_than_the_ring_makes_new_viewers_wait_for_the_next_start() {
        let feed = TsFeed::new(10 * 188);
        for i in 0..30u32 {
            feed.push(Bytes::from(vec![i as u8; 188]), i == 0);
        }
        let mut r = feed.subscribe().unwrap();
        assert!(feed.try_next(&mut r).is_none());
        feed.push(Bytes::from(vec![1; 188]), false);
        assert!(feed.try_next(&mut r).is_none(), "not a start: skipped");
        feed.push(Bytes::from(vec![2; 188]), true);
        assert_eq!(feed.try_next(&mut r).unwrap().unwrap()[0], 2);
        // cleared: readers behind are told, new ones wait for a start
        feed.push(Bytes::from(vec![3; 188]), false);
        feed.clear();
        assert!(matches!(feed.try_next(&mut r), Some(Err(TsEnd::Lagged(1)))));
        let mut late = feed.subscribe().unwrap();
        feed.push(Bytes::from(vec![4; 188]), false);
        feed.push(Bytes::from(vec![5; 188]), true);
        assert_eq!(feed.try_next(&mut late).unwrap().unwrap()[0], 5);
    }

    #[test]
    fn with_no_viewer_the_ring_keeps_only_the_newest_segment() {
        let feed = TsFeed::new(100 * 188);
        for i in 0..95u32 {
            feed.push(Bytes::from(vec![i as u8; 188]), i % 10 == 0);
        }
        // chunks 90..94: the newest segment so far
        assert_eq!(feed.held_bytes(), 5 * 188);
        let mut r = feed.subscribe().unwrap();
        assert_eq!(feed.readers(), 1);
        assert_eq!(feed.try_next(&mut r).unwrap().unwrap()[0], 90);
        // a viewer reading: the ring fills up to its bound again
        for i in 95..300u32 {
            feed.push(Bytes::from(vec![i as u8; 188]), i % 10 == 0);
        }
        assert_eq!(feed.held_bytes(), 100 * 188);
        assert!(matches!(feed.try_next(&mut r), Some(Err(TsEnd::Lagged(_)))));
        drop(r);
        assert_eq!(feed.readers(), 0);
        feed.push(Bytes::from(vec![0; 188]), false);
        // 290..299 and the new chunk
        assert_eq!(feed.held_bytes(), 11 * 188);
        // a segment start gone with the bound (no viewer): nothing is worth keeping
        let small = TsFeed::new(4 * 188);
        for i in 0..10u32 {
            small.push(Bytes::from(vec![i as u8; 188]), i == 0);
        }
        assert_eq!(small.held_bytes(), 0);
        let mut late = small.subscribe().unwrap();
        small.push(Bytes::from(vec![7; 188]), true);
        assert_eq!(small.try_next(&mut late).unwrap().unwrap()[0], 7);
    }

    #[tokio::test]
    async fn a_waiting_viewer_wakes_on_push_and_on_close() {
        let feed = std::sync::Arc::new(TsFeed::new(1 << 20));
        let mut r = feed.subscribe().unwrap();
        let f = feed.clone();
        let t = tokio::spawn(async move {
            let a = f.next(&mut r).await;
            let b = f.next(&mut r).await;
            (a, b)
        });
        tokio::task::yield_now().await;
        feed.push(Bytes::from_static(b"x"), true);
        tokio::task::yield_now().await;
        feed.close();
        let (a, b) = t.await.unwrap();
        assert_eq!(a.unwrap(), Bytes::from_static(b"x"));
        assert_eq!(b, Err(TsEnd::Closed));
    }
}
