//! A live channel's HLS renditions (`hls::renditions`): when its newest segment carries several
//! audio languages or subtitles, the master playlist and each rendition's playlist, rendered
//! once per segment with the channel's own playlist; and the rendition segments, cut from the
//! full segments on a viewer's first request and then shared (`CutCache`).

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use hls::renditions::{rendition_playlist, Rendition, Tracks};

/// What a multi-track channel offers, as of its newest segment.
pub struct LiveRenditions {
    /// The master playlist (`index.m3u8`).
    pub master: Bytes,
    /// Each rendition's media playlist (`v-index.m3u8`, `a{n}-index.m3u8`, `s{n}-index.m3u8`).
    pub playlists: Vec<(Rendition, Bytes)>,
}

impl LiveRenditions {
    /// The renditions of a channel whose newest segment is `newest`, with its media playlist
    /// `playlist`; None when it has one audio track and no subtitles (the playlist is enough).
    pub fn build(
        newest: &[u8],
        playlist: &str,
        peak_bps: u64,
        preferred_audio: Option<&str>,
    ) -> Option<LiveRenditions> {
        let tracks = Tracks::read(newest).filter(Tracks::needs_master)?;
        let master = Bytes::from(tracks.master("index.m3u8", peak_bps, preferred_audio));
        let mut all = Vec::new();
        if tracks.video.is_some() {
            all.push(Rendition::Video);
        }
        all.extend((0..tracks.audio.len()).map(|n| Rendition::Audio(n as u8)));
        all.extend((0..tracks.subtitles.len()).map(|n| Rendition::Subtitles(n as u8)));
        let playlists = all
            .into_iter()
            .map(|r| (r, Bytes::from(rendition_playlist(playlist, r))))
            .collect();
        Some(LiveRenditions { master, playlists })
    }

    pub fn playlist(&self, r: Rendition) -> Option<Bytes> {
        self.playlists
            .iter()
            .find(|(x, _)| *x == r)
            .map(|(_, b)| b.clone())
    }
}

/// Default bound of a channel's rendition cut cache (setting `rendition_cache_bytes`).
pub const RENDITION_CACHE_BYTES: usize = 32 << 20;

/// Rendition segments already cut, newest last: at most [`CutCache::MAX_ENTRIES`] and
/// `max_bytes` (the oldest go first; the newest cut always stays, even when larger alone), and
/// only of segments still held, so a channel nobody watches by rendition holds none.
pub struct CutCache {
    entries: Mutex<VecDeque<(u64, Rendition, Bytes)>>,
    max_bytes: usize,
}

impl Default for CutCache {
    fn default() -> Self {
        CutCache::new(RENDITION_CACHE_BYTES)
    }
}

impl CutCache {
    pub const MAX_ENTRIES: usize = 32;

    /// A cache holding at most `max_bytes` of cuts.
    pub fn new(max_bytes: usize) -> Self {
        CutCache {
            entries: Mutex::new(VecDeque::new()),
            max_bytes,
        }
    }

    /// Rendition `r` of segment `seq`: from the cache, or made by `make` and kept.
    /// `oldest_held` is the first segment the channel still holds (older cuts are dropped).
    pub fn get_or_make(
        &self,
        seq: u64,
        r: Rendition,
        oldest_held: u64,
        make: impl FnOnce() -> Option<Bytes>,
    ) -> Option<Bytes> {
        {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, _, b)) = entries.iter().find(|(s, x, _)| *s == seq && *x == r) {
                return Some(b.clone());
            }
        }
        let made = make()?;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|(s, _, _)| *s >= oldest_held);
        if !entries.iter().any(|(s, x, _)| *s == seq && *x == r) {
            entries.push_back((seq, r, made.clone()));
        }
        let mut bytes: usize = entries.iter().map(|(_, _, b)| b.len()).sum();
        while entries.len() > Self::MAX_ENTRIES || (bytes > self.max_bytes && entries.len() > 1) {
            if let Some((_, _, b)) = entries.pop_front() {
                bytes -= b.len();
            }
        }
        Some(made)
    }

    /// Drops everything (the channel stopped).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(_, _, b)| b.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_cache_is_bounded_and_forgets_segments_no_longer_held() {
        let c = CutCache::default();
        let mut made = 0;
        for seq in 0..100u64 {
            for r in [Rendition::Video, Rendition::Audio(0)] {
                let b = c.get_or_make(seq, r, seq.saturating_sub(5), || {
                    made += 1;
                    Some(Bytes::from(vec![0u8; 1000]))
                });
                assert!(b.is_some());
                // a second viewer gets the same bytes without a new cut
                c.get_or_make(seq, r, seq.saturating_sub(5), || panic!("cut twice"));
            }
        }
        assert_eq!(made, 200);
        // only the held segments' cuts remain: 6 segments × 2 renditions
        assert_eq!(c.bytes(), 12 * 1000);
        let big = CutCache::default();
        for seq in 0..10u64 {
            big.get_or_make(seq, Rendition::Video, 0, || {
                Some(Bytes::from(vec![0u8; 12 << 20]))
            });
        }
        assert!(big.bytes() <= RENDITION_CACHE_BYTES);
        // a smaller bound: the oldest cuts go, the newest stays even when larger alone
        let small = CutCache::new(2500);
        for seq in 0..5u64 {
            small.get_or_make(seq, Rendition::Video, 0, || {
                Some(Bytes::from(vec![0u8; 1000]))
            });
            assert!(small.bytes() <= 2500);
        }
        small.get_or_make(9, Rendition::Video, 0, || {
            Some(Bytes::from(vec![0u8; 4000]))
        });
        assert_eq!(small.bytes(), 4000);
        assert!(small.get_or_make(9, Rendition::Video, 0, || None).is_some());
        c.clear();
        assert_eq!(c.bytes(), 0);
    }
}
