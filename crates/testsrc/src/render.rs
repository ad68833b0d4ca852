//! Drawing the test card and the slate into a YUV 4:2:0 canvas.
//!
//! The static parts (bars, label, slate text) are drawn once into a background canvas; each
//! frame copies it and draws the moving parts (gradient band, sweeping box, clock, counter).

use media::time::civil_from_days;

use crate::canvas::{rgb, Canvas, Yuv};
use crate::font::{draw_text_centered, fit_scale, text_height, text_width};
use crate::Pattern;

const BLACK: Yuv = rgb(0, 0, 0);
const WHITE: Yuv = rgb(255, 255, 255);
/// 75 % colour bars, left to right.
const BARS: [Yuv; 7] = [
    rgb(191, 191, 191),
    rgb(191, 191, 0),
    rgb(0, 191, 191),
    rgb(0, 191, 0),
    rgb(191, 0, 191),
    rgb(191, 0, 0),
    rgb(0, 0, 191),
];
const CARD_BOTTOM: Yuv = rgb(24, 24, 24);
const SWEEP_BOX: Yuv = rgb(230, 40, 40);
const SLATE_BG: Yuv = rgb(18, 22, 34);
const SLATE_TEXT: Yuv = rgb(225, 225, 225);
const SLATE_LABEL: Yuv = rgb(150, 175, 215);
const SLATE_ACCENT: Yuv = rgb(200, 120, 30);
const INFO: Yuv = rgb(150, 150, 150);

/// "HH:MM:SS.mmm" of a local time in milliseconds since the epoch.
pub(crate) fn clock_text(local_ms: i64) -> String {
    let ms = local_ms.rem_euclid(1000);
    let sod = local_ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}.{ms:03}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// "YYYY-MM-DD UTC+HH:MM FRAME n" (just "UTC" when the offset is zero).
pub(crate) fn info_text(local_ms: i64, utc_offset_min: i32, frame: u64) -> String {
    let (y, m, d) = civil_from_days(local_ms.div_euclid(86_400_000));
    let zone = if utc_offset_min == 0 {
        "UTC".to_string()
    } else {
        let sign = if utc_offset_min < 0 { '-' } else { '+' };
        let a = utc_offset_min.unsigned_abs();
        format!("UTC{sign}{:02}:{:02}", a / 60, a % 60)
    };
    format!("{y:04}-{m:02}-{d:02} {zone} FRAME {frame:06}")
}

/// Where things go; computed once per (size, pattern, label).
#[derive(Debug, Clone, Default)]
struct Layout {
    clock_scale: u32,
    clock_y: i32,
    info_scale: u32,
    info_y: i32,
    /// Test card: the moving gradient band [band_y0, band_y1).
    band_y0: i32,
    band_y1: i32,
}

pub(crate) struct Renderer {
    w: u32,
    h: u32,
    fps: u32,
    utc_offset_min: i32,
    show_clock: bool,
    pattern: Pattern,
    label: String,
    background: Canvas,
    layout: Layout,
}

impl Renderer {
    pub fn new(
        w: u32,
        h: u32,
        fps: u32,
        utc_offset_min: i32,
        pattern: Pattern,
        label: String,
        show_clock: bool,
    ) -> Renderer {
        let mut r = Renderer {
            w,
            h,
            fps,
            utc_offset_min,
            show_clock,
            pattern,
            label,
            background: Canvas::new(w as usize, h as usize),
            layout: Layout::default(),
        };
        r.rebuild();
        r
    }

    pub fn set_pattern(&mut self, p: Pattern) {
        self.pattern = p;
        self.rebuild();
    }

    pub fn set_label(&mut self, label: String) {
        self.label = label;
        self.rebuild();
    }

    /// The largest text scale for the clock at this picture size.
    fn base_scale(&self) -> u32 {
        (self.w / 100).min(self.h / 50).max(1)
    }

    fn rebuild(&mut self) {
        let s = self.base_scale();
        self.background = Canvas::new(self.w as usize, self.h as usize);
        let bg = &mut self.background;
        let (w, h) = (self.w as i32, self.h as i32);
        let info_scale = (s / 2).max(1);
        let margin = (h / 30).max(2);
        // the info line is at most this long ("YYYY-MM-DD UTC+HH:MM FRAME nnnnnn")
        let info_sample = info_text(0, self.utc_offset_min, 999_999);
        let info_scale = fit_scale(&info_sample, self.w * 19 / 20, info_scale);
        let clock_scale = fit_scale("00:00:00.000", self.w * 19 / 20, s);
        let gap = (h / 40).max(2);
        match &self.pattern {
            Pattern::TestCard => {
                let bars_h = (h * 58 / 100) & !1;
                let band_y1 = (h * 68 / 100) & !1;
                for (i, c) in BARS.iter().enumerate() {
                    let x0 = (w * i as i32 / 7) & !1;
                    let x1 = (w * (i as i32 + 1) / 7) & !1;
                    let x1 = if i == 6 { w } else { x1 };
                    bg.fill_rect(x0, 0, x1 - x0, bars_h, *c);
                }
                bg.fill_rect(0, band_y1, w, h - band_y1, CARD_BOTTOM);
                if !self.label.is_empty() {
                    let ls = fit_scale(&self.label, self.w * 9 / 10, (s * 2 / 3).max(1));
                    let tw = text_width(&self.label, ls) as i32;
                    let th = text_height(ls) as i32;
                    let pad = 2 * ls as i32;
                    let y = margin + pad;
                    bg.fill_rect(
                        (w - tw) / 2 - pad,
                        y - pad,
                        tw + 2 * pad,
                        th + 2 * pad,
                        BLACK,
                    );
                    draw_text_centered(bg, y, &self.label, ls, WHITE);
                }
                let block = text_height(clock_scale) as i32 + gap + text_height(info_scale) as i32;
                let clock_y = band_y1 + (h - band_y1 - block) / 2;
                self.layout = Layout {
                    clock_scale,
                    clock_y,
                    info_scale,
                    info_y: clock_y + text_height(clock_scale) as i32 + gap,
                    band_y0: bars_h,
                    band_y1,
                };
            }
            Pattern::Slate { text } => {
                bg.fill_rect(0, 0, w, h, SLATE_BG);
                let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
                let ts = lines
                    .iter()
                    .map(|l| fit_scale(l, self.w * 9 / 10, s))
                    .min()
                    .unwrap_or(s);
                let ls = fit_scale(&self.label, self.w * 9 / 10, (s * 2 / 3).max(1));
                let clock_scale = fit_scale("00:00:00.000", self.w * 9 / 10, (s * 2 / 3).max(1));
                let group_gap = (h / 12).max(4);
                let line_gap = 3 * ts as i32;
                let text_h = lines.len() as i32 * text_height(ts) as i32
                    + (lines.len() as i32 - 1).max(0) * line_gap;
                let label_h = if self.label.is_empty() {
                    0
                } else {
                    text_height(ls) as i32 + group_gap
                };
                let total = text_h
                    + label_h
                    + group_gap
                    + text_height(clock_scale) as i32
                    + gap
                    + text_height(info_scale) as i32;
                let mut y = (h - total) / 2;
                for l in &lines {
                    draw_text_centered(bg, y, l, ts, SLATE_TEXT);
                    y += text_height(ts) as i32 + line_gap;
                }
                if !lines.is_empty() {
                    y -= line_gap;
                }
                // an accent rule under the message
                let rule_w = w / 3;
                bg.fill_rect(
                    ((w - rule_w) / 2) & !1,
                    y + group_gap / 2 - 1,
                    rule_w,
                    (ts as i32 / 2).max(2) & !1,
                    SLATE_ACCENT,
                );
                y += group_gap;
                if !self.label.is_empty() {
                    draw_text_centered(bg, y, &self.label, ls, SLATE_LABEL);
                    y += text_height(ls) as i32 + group_gap;
                }
                self.layout = Layout {
                    clock_scale,
                    clock_y: y,
                    info_scale,
                    info_y: y + text_height(clock_scale) as i32 + gap,
                    band_y0: 0,
                    band_y1: 0,
                };
            }
        }
    }

    /// Draws frame number `frame` showing wall-clock time `utc_ms` into `out`.
    pub fn render(&self, out: &mut Canvas, frame: u64, utc_ms: i64) {
        out.copy_from(&self.background);
        let l = &self.layout;
        let (w, fps) = (self.w as i64, self.fps.max(1) as u64);
        if matches!(self.pattern, Pattern::TestCard) {
            // a luma ramp scrolling right to left, one full cycle every 8 s
            let off = ((frame * w as u64) / (fps * 8)) as i64;
            for row in l.band_y0..l.band_y1 {
                let line = out.luma_row_mut(row as usize);
                for (x, p) in line.iter_mut().enumerate() {
                    let t = (x as i64 + off).rem_euclid(w);
                    *p = (16 + t * 219 / (w - 1).max(1)) as u8;
                }
            }
            // a box sweeping left and right, one round trip every 4 s
            let bw = ((w / 16) & !1).max(2) as i32;
            let period = (4 * fps).max(2);
            let half = period / 2;
            let phase = frame % period;
            let tri = if phase < half { phase } else { period - phase };
            let x = ((tri as i64 * (w - bw as i64)) / half as i64) as i32 & !1;
            let bh = l.band_y1 - l.band_y0;
            out.fill_rect(x, l.band_y0, bw, bh, BLACK);
            out.fill_rect(x + 2, l.band_y0 + 2, bw - 4, bh - 4, SWEEP_BOX);
        }
        if !self.show_clock {
            return;
        }
        let local = utc_ms + self.utc_offset_min as i64 * 60_000;
        draw_text_centered(out, l.clock_y, &clock_text(local), l.clock_scale, WHITE);
        let info = info_text(local, self.utc_offset_min, frame);
        draw_text_centered(out, l.info_y, &info, l.info_scale, INFO);
    }

    #[cfg(test)]
    pub fn background(&self) -> &Canvas {
        &self.background
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_and_info_text() {
        // 2026-11-18T11:06:40.123Z
        let t = 1_795_000_000_123;
        assert_eq!(clock_text(t), "11:06:40.123");
        assert_eq!(clock_text(0), "00:00:00.000");
        assert_eq!(clock_text(-1), "23:59:59.999");
        assert_eq!(info_text(t, 0, 12), "2026-11-18 UTC FRAME 000012");
        assert_eq!(
            info_text(t + 90 * 60_000, 90, 1_234_567),
            "2026-11-18 UTC+01:30 FRAME 1234567"
        );
        assert_eq!(
            info_text(t - 300 * 60_000, -300, 0),
            "2026-11-18 UTC-05:00 FRAME 000000"
        );
    }

    #[test]
    fn frames_differ_and_slate_is_dark() {
        let r = Renderer::new(640, 360, 25, 0, Pattern::TestCard, "CH 1".into(), true);
        let mut a = Canvas::new(640, 360);
        let mut b = Canvas::new(640, 360);
        r.render(&mut a, 0, 0);
        r.render(&mut b, 1, 40);
        assert_ne!(a.y_plane(), b.y_plane());
        let slate = Renderer::new(
            640,
            360,
            25,
            60,
            Pattern::Slate {
                text: "CHANNEL UNAVAILABLE".into(),
            },
            "CH 1".into(),
            true,
        );
        let mean = |c: &Canvas| c.y_plane().iter().map(|&v| v as u64).sum::<u64>() / 640 / 360;
        assert!(mean(slate.background()) < 50);
        assert!(mean(r.background()) > 60);
        // odd and tiny sizes do not panic
        for (w, h) in [(16, 16), (32, 18), (1920, 1080), (100, 640)] {
            for p in [
                Pattern::TestCard,
                Pattern::Slate {
                    text: "A\nB\n\nC".into(),
                },
                Pattern::Slate {
                    text: String::new(),
                },
            ] {
                let r = Renderer::new(w, h, 30, 0, p, "SOME LONG CHANNEL LABEL".into(), true);
                let mut c = Canvas::new(w as usize, h as usize);
                for f in [0, 1, 59, 60, 61, 119] {
                    r.render(&mut c, f, f as i64 * 33);
                }
            }
        }
    }
}
