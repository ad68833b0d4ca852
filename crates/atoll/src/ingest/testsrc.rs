//! The built-in test source: the `testsrc` crate's encoder driven at real pace on a blocking thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use media::{MediaEvent, Ts90k, UtcMs};

use super::{SourceEvent, SourceTx};

pub fn run(width: u32, height: u32, fps: u32, label: String, tx: SourceTx, stop: Arc<AtomicBool>) {
    let cfg = testsrc::TestSourceConfig {
        width,
        height,
        fps,
        gop: fps * 2,
        label,
        ..testsrc::TestSourceConfig::default()
    };
    let mut src = match testsrc::TestSource::new(cfg) {
        Ok(s) => s,
        Err(e) => {
            tx.blocking_send(SourceEvent::Error(format!("test source: {e}")));
            return;
        }
    };
    if !tx.blocking_send(SourceEvent::Connected(format!(
        "test pattern {width}x{height} @ {fps} fps"
    ))) || !tx.blocking_send(SourceEvent::Media(MediaEvent::Info(src.info())))
    {
        return;
    }
    let start = Instant::now();
    let start_wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // keyframes on the wall-clock grid: two origins running this channel cut the same segments
    src.align_gop_to_wall(UtcMs(start_wall.as_millis() as i64));
    let mut frames = Vec::new();
    let frame_time = Duration::from_micros(1_000_000 / fps as u64);
    while !stop.load(Ordering::Relaxed) {
        let elapsed = start.elapsed();
        let until = Ts90k((elapsed.as_micros() as i64) * 9 / 100);
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        src.generate(until, UtcMs(wall.as_millis() as i64), &mut frames);
        for f in frames.drain(..) {
            if !tx.blocking_send(SourceEvent::Media(MediaEvent::Frame(f))) {
                return;
            }
        }
        std::thread::sleep(frame_time);
    }
}
