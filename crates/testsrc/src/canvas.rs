//! A planar YUV 4:2:0 (I420) picture we draw into directly.

/// A BT.601 limited-range Y'CbCr colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Yuv {
    pub y: u8,
    pub u: u8,
    pub v: u8,
}

/// Converts 8-bit RGB to BT.601 limited-range Y'CbCr (Y 16..235, Cb/Cr 16..240).
pub(crate) const fn rgb(r: u8, g: u8, b: u8) -> Yuv {
    let (r, g, b) = (r as i32, g as i32, b as i32);
    // coefficients ×65536 (rounded) of ITU-R BT.601 with 219/224 scaling
    let y = 16 * 65536 + 16829 * r + 33039 * g + 6416 * b;
    let u = 128 * 65536 - 9714 * r - 19070 * g + 28784 * b;
    let v = 128 * 65536 + 28784 * r - 24103 * g - 4681 * b;
    Yuv {
        y: ((y + 32768) >> 16) as u8,
        u: ((u + 32768) >> 16) as u8,
        v: ((v + 32768) >> 16) as u8,
    }
}

#[derive(Clone)]
pub(crate) struct Canvas {
    w: usize,
    h: usize,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl Canvas {
    /// A black picture. `w` and `h` should be even (4:2:0); odd sizes round the chroma planes up.
    pub fn new(w: usize, h: usize) -> Canvas {
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        Canvas {
            w,
            h,
            y: vec![16; w * h],
            u: vec![128; cw * ch],
            v: vec![128; cw * ch],
        }
    }

    pub fn width(&self) -> usize {
        self.w
    }
    #[cfg(test)]
    pub fn height(&self) -> usize {
        self.h
    }
    pub fn y_plane(&self) -> &[u8] {
        &self.y
    }
    pub fn u_plane(&self) -> &[u8] {
        &self.u
    }
    pub fn v_plane(&self) -> &[u8] {
        &self.v
    }
    pub fn chroma_width(&self) -> usize {
        self.w.div_ceil(2)
    }

    /// Copies another canvas of the same size into this one.
    pub fn copy_from(&mut self, o: &Canvas) {
        debug_assert_eq!((self.w, self.h), (o.w, o.h));
        self.y.copy_from_slice(&o.y);
        self.u.copy_from_slice(&o.u);
        self.v.copy_from_slice(&o.v);
    }

    /// Clips a span [p, p+len) to [0, max); returns (start, end) or None when empty.
    fn clip(p: i32, len: i32, max: usize) -> Option<(usize, usize)> {
        let a = (p as i64).max(0);
        let b = (p as i64 + len as i64).min(max as i64);
        (a < b).then_some((a as usize, b as usize))
    }

    /// Fills the rectangle at (x, y) of size w×h (clipped to the picture).
    /// Chroma samples are written for every 2×2 block the rectangle touches.
    pub fn fill_rect(&mut self, x: i32, y: i32, w: i32, h: i32, c: Yuv) {
        let (Some((x0, x1)), Some((y0, y1))) = (Self::clip(x, w, self.w), Self::clip(y, h, self.h))
        else {
            return;
        };
        for row in y0..y1 {
            self.y[row * self.w + x0..row * self.w + x1].fill(c.y);
        }
        let cw = self.chroma_width();
        let (cx0, cx1) = (x0 / 2, x1.div_ceil(2));
        for row in y0 / 2..y1.div_ceil(2) {
            self.u[row * cw + cx0..row * cw + cx1].fill(c.u);
            self.v[row * cw + cx0..row * cw + cx1].fill(c.v);
        }
    }

    /// Sets the luma of one row span directly (used for gradients); chroma is left alone.
    pub fn luma_row_mut(&mut self, row: usize) -> &mut [u8] {
        &mut self.y[row * self.w..(row + 1) * self.w]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bt601_conversion() {
        assert_eq!(
            rgb(0, 0, 0),
            Yuv {
                y: 16,
                u: 128,
                v: 128
            }
        );
        assert_eq!(
            rgb(255, 255, 255),
            Yuv {
                y: 235,
                u: 128,
                v: 128
            }
        );
        // primaries: values from the BT.601 tables
        assert_eq!(
            rgb(255, 0, 0),
            Yuv {
                y: 81,
                u: 90,
                v: 240
            }
        );
        assert_eq!(
            rgb(0, 255, 0),
            Yuv {
                y: 145,
                u: 54,
                v: 34
            }
        );
        assert_eq!(
            rgb(0, 0, 255),
            Yuv {
                y: 41,
                u: 240,
                v: 110
            }
        );
    }

    #[test]
    fn fill_rect_clips_and_covers_chroma() {
        let mut c = Canvas::new(8, 6);
        let red = rgb(255, 0, 0);
        c.fill_rect(-3, 5, 5, 10, red);
        for y in 0..6 {
            for x in 0..8 {
                let lit = y == 5 && x < 2;
                assert_eq!(c.y_plane()[y * 8 + x] == red.y, lit, "({x},{y})");
            }
        }
        // chroma row 2 (luma rows 4-5), column 0 (luma cols 0-1)
        assert_eq!(c.v_plane()[2 * 4], red.v);
        assert_eq!(c.v_plane()[2 * 4 + 1], 128);
        c.fill_rect(100, 100, 5, 5, red);
        c.fill_rect(0, 0, 0, 5, red);
        c.fill_rect(0, 0, -4, 5, red);
    }
}
