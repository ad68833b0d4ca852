//! A small embedded 5×7 bitmap font, drawn scaled by an integer factor.
//!
//! Covers `0-9`, `A-Z` (lower case maps to upper case), space and `: . - / + _ # ( ) ! ? , ' & = *`.
//! Any other character is drawn as `?`.

use crate::canvas::{Canvas, Yuv};

/// Glyph width in font pixels.
pub const GLYPH_W: u32 = 5;
/// Glyph height in font pixels.
pub const GLYPH_H: u32 = 7;
/// Horizontal advance per character in font pixels (glyph plus one pixel of spacing).
pub const ADVANCE: u32 = GLYPH_W + 1;

/// One glyph: seven rows, top to bottom; bit 4 is the leftmost column.
pub type Glyph = [u8; GLYPH_H as usize];

const FALLBACK: char = '?';

/// Every character the font draws natively (upper-case form).
pub const CHARSET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ :.-/+_#()!?,'&=*";

/// The glyph for `c` (lower case is mapped to upper case); `None` when the font lacks it.
pub fn glyph(c: char) -> Option<Glyph> {
    let g = match c.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        ' ' => [0x00; 7],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '!' => [0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04],
        '?' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08],
        '\'' => [0x0C, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00],
        '&' => [0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D],
        '=' => [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00],
        '*' => [0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00],
        _ => return None,
    };
    Some(g)
}

/// The glyph drawn for `c`: its own, or the `?` glyph.
pub fn glyph_or_fallback(c: char) -> Glyph {
    glyph(c).or_else(|| glyph(FALLBACK)).unwrap_or([0; 7])
}

/// Width in pixels of `text` drawn at `scale` (no trailing spacing after the last character).
pub fn text_width(text: &str, scale: u32) -> u32 {
    let n = text.chars().count() as u32;
    if n == 0 {
        0
    } else {
        (n * ADVANCE - 1) * scale
    }
}

/// Height in pixels of one line of text at `scale`.
pub fn text_height(scale: u32) -> u32 {
    GLYPH_H * scale
}

/// The largest scale `<= preferred` (and at least 1) at which `text` fits in `max_width` pixels.
pub fn fit_scale(text: &str, max_width: u32, preferred: u32) -> u32 {
    let unit = text_width(text, 1).max(1);
    (max_width / unit).clamp(1, preferred.max(1))
}

/// Draws `text` with its top-left corner at (`x`, `y`); pixels outside the canvas are clipped.
pub(crate) fn draw_text(canvas: &mut Canvas, x: i32, y: i32, text: &str, scale: u32, color: Yuv) {
    let s = scale as i32;
    let mut cx = x;
    for c in text.chars() {
        let g = glyph_or_fallback(c);
        for (row, bits) in g.iter().enumerate() {
            let mut col = 0;
            while col < GLYPH_W as i32 {
                // draw horizontal runs of lit pixels as one rectangle
                if bits & (0x10 >> col) != 0 {
                    let start = col;
                    while col < GLYPH_W as i32 && bits & (0x10 >> col) != 0 {
                        col += 1;
                    }
                    canvas.fill_rect(
                        cx + start * s,
                        y + row as i32 * s,
                        (col - start) * s,
                        s,
                        color,
                    );
                } else {
                    col += 1;
                }
            }
        }
        cx += ADVANCE as i32 * s;
    }
}

/// Draws `text` horizontally centred on the canvas with its top at `y`.
pub(crate) fn draw_text_centered(canvas: &mut Canvas, y: i32, text: &str, scale: u32, color: Yuv) {
    let w = text_width(text, scale) as i32;
    let x = (canvas.width() as i32 - w) / 2;
    draw_text(canvas, x, y, text, scale, color);
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHITE: Yuv = Yuv {
        y: 235,
        u: 128,
        v: 128,
    };

    /// Bounding box (x0, y0, x1, y1) exclusive of pixels with luma == 235.
    fn lit_bbox(c: &Canvas) -> Option<(usize, usize, usize, usize)> {
        let (w, h) = (c.width(), c.height());
        let mut bb: Option<(usize, usize, usize, usize)> = None;
        for y in 0..h {
            for x in 0..w {
                if c.y_plane()[y * w + x] == 235 {
                    bb = Some(match bb {
                        None => (x, y, x + 1, y + 1),
                        Some((a, b, cc, d)) => (a.min(x), b.min(y), cc.max(x + 1), d.max(y + 1)),
                    });
                }
            }
        }
        bb
    }

    #[test]
    fn every_glyph_renders() {
        let mut seen = std::collections::HashSet::new();
        for ch in CHARSET.chars() {
            let g = glyph(ch).unwrap_or_else(|| panic!("missing glyph {ch:?}"));
            assert!(g.iter().all(|r| r & !0x1f == 0), "{ch:?} wider than 5");
            if ch == ' ' {
                assert!(g.iter().all(|r| *r == 0));
                continue;
            }
            assert!(seen.insert(g), "glyph {ch:?} duplicates another");
            let mut c = Canvas::new(16, 16);
            draw_text(&mut c, 2, 2, &ch.to_string(), 2, WHITE);
            let (x0, y0, x1, y1) = lit_bbox(&c).unwrap_or_else(|| panic!("{ch:?} drew nothing"));
            assert!(
                x0 >= 2 && y0 >= 2 && x1 <= 12 && y1 <= 16,
                "{ch:?} out of cell"
            );
            // the number of lit pixels equals the glyph's bit count × scale²
            let lit = c.y_plane().iter().filter(|&&v| v == 235).count() as u32;
            let bits: u32 = g.iter().map(|r| r.count_ones()).sum();
            assert_eq!(lit, bits * 4, "{ch:?}");
        }
        // lower case maps to upper case; unknown characters fall back to '?'
        assert_eq!(glyph('a'), glyph('A'));
        assert_eq!(glyph('z'), glyph('Z'));
        assert_eq!(glyph('~'), None);
        assert_eq!(glyph_or_fallback('~'), glyph('?').unwrap());
        assert_eq!(glyph_or_fallback('é'), glyph('?').unwrap());
    }

    #[test]
    fn text_width_matches_drawing() {
        assert_eq!(text_width("", 3), 0);
        assert_eq!(text_width("A", 1), 5);
        assert_eq!(text_width("AB", 1), 11);
        assert_eq!(text_width("12:34:56.789", 6), (12 * 6 - 1) * 6);
        assert_eq!(text_height(4), 28);
        // "H" and "M" light both their outer columns and all rows, so the drawn bounding box
        // of a string bracketed by them is exactly text_width × text_height.
        for (text, scale) in [("HXM", 1), ("H12:34.5M", 3), ("HAM", 4), ("HÉM", 2)] {
            let mut c = Canvas::new(200, 40);
            draw_text(&mut c, 3, 5, text, scale, WHITE);
            let (x0, y0, x1, y1) = lit_bbox(&c).unwrap();
            assert_eq!((x0, y0), (3, 5), "{text}");
            assert_eq!((x1 - x0) as u32, text_width(text, scale), "{text}");
            assert_eq!((y1 - y0) as u32, text_height(scale), "{text}");
        }
    }

    #[test]
    fn fit_scale_fits() {
        assert_eq!(fit_scale("ABC", 1000, 4), 4);
        assert_eq!(fit_scale("ABC", 17, 4), 1);
        assert_eq!(fit_scale("ABC", 34, 4), 2);
        assert_eq!(fit_scale("ABC", 5, 4), 1); // never below 1
        assert_eq!(fit_scale("", 5, 3), 3);
        for s in 1..10 {
            let t = "CHANNEL UNAVAILABLE";
            let max = text_width(t, s) + 3;
            assert_eq!(fit_scale(t, max, 20), s);
        }
    }

    #[test]
    fn clipping_does_not_panic() {
        let mut c = Canvas::new(8, 8);
        draw_text(&mut c, -20, -3, "HELLO WORLD", 3, WHITE);
        draw_text(&mut c, 5, 6, "HELLO", 3, WHITE);
        draw_text(&mut c, i32::MIN / 4, i32::MAX / 4, "X", 1, WHITE);
    }
}
