//! HEVC pictures for posters, decoded by libde265 (a small LGPL HEVC decoder; Debian's
//! `libde265-0`, already on most systems with ffmpeg or an image viewer), loaded at run time
//! with `dlopen`: nothing at build time, and where the library is missing HEVC titles keep the
//! player's placeholder until the operator uploads a poster (said once in the log).
//!
//! Only a poster is ever decoded here (one keyframe, off the runtime's threads); playback never
//! decodes anything.

use std::ffi::{c_int, c_void};
use std::sync::OnceLock;

type Ctx = *mut c_void;
type Img = *const c_void;

type NewDecoder = unsafe extern "C" fn() -> Ctx;
type WithCtx = unsafe extern "C" fn(Ctx) -> c_int;
type PushNal = unsafe extern "C" fn(Ctx, *const c_void, c_int, i64, *mut c_void) -> c_int;
type Decode = unsafe extern "C" fn(Ctx, *mut c_int) -> c_int;
type NextPicture = unsafe extern "C" fn(Ctx) -> Img;
type OfChannel = unsafe extern "C" fn(Img, c_int) -> c_int;
type Chroma = unsafe extern "C" fn(Img) -> c_int;
type Plane = unsafe extern "C" fn(Img, c_int, *mut c_int) -> *const u8;
type IsOk = unsafe extern "C" fn(c_int) -> c_int;

/// The functions of libde265 used here (its C API, `de265.h`).
struct Lib {
    new_decoder: NewDecoder,
    free_decoder: WithCtx,
    push_nal: PushNal,
    flush_data: WithCtx,
    decode: Decode,
    next_picture: NextPicture,
    width: OfChannel,
    height: OfChannel,
    chroma: Chroma,
    bits: OfChannel,
    plane: Plane,
    is_ok: IsOk,
}

// SAFETY: the struct holds only function pointers into a library that is never unloaded.
unsafe impl Send for Lib {}
unsafe impl Sync for Lib {}

fn lib() -> Option<&'static Lib> {
    static LIB: OnceLock<Option<Lib>> = OnceLock::new();
    LIB.get_or_init(|| {
        let lib = load();
        if lib.is_none() {
            tracing::warn!("libde265.so.0 not found: HEVC titles get no poster from a frame (install libde265-0, or upload posters)");
        }
        lib
    })
    .as_ref()
}

fn load() -> Option<Lib> {
    // SAFETY: dlopen/dlsym with NUL-terminated names; each symbol is cast to the signature
    // de265.h declares for it. The handle is never closed, so the pointers stay valid.
    unsafe {
        let h = libc::dlopen(c"libde265.so.0".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if h.is_null() {
            return None;
        }
        macro_rules! sym {
            ($name:literal, $t:ty) => {{
                let p = libc::dlsym(h, $name.as_ptr());
                if p.is_null() {
                    return None;
                }
                std::mem::transmute::<*mut c_void, $t>(p)
            }};
        }
        Some(Lib {
            new_decoder: sym!(c"de265_new_decoder", NewDecoder),
            free_decoder: sym!(c"de265_free_decoder", WithCtx),
            push_nal: sym!(c"de265_push_NAL", PushNal),
            flush_data: sym!(c"de265_flush_data", WithCtx),
            decode: sym!(c"de265_decode", Decode),
            next_picture: sym!(c"de265_get_next_picture", NextPicture),
            width: sym!(c"de265_get_image_width", OfChannel),
            height: sym!(c"de265_get_image_height", OfChannel),
            chroma: sym!(c"de265_get_chroma_format", Chroma),
            bits: sym!(c"de265_get_bits_per_pixel", OfChannel),
            plane: sym!(c"de265_get_image_plane", Plane),
            is_ok: sym!(c"de265_isOK", IsOk),
        })
    }
}

/// Whether HEVC can be decoded here.
pub fn available() -> bool {
    lib().is_some()
}

/// A decoder, freed on drop.
struct Decoder<'a> {
    lib: &'a Lib,
    ctx: Ctx,
}

impl Drop for Decoder<'_> {
    fn drop(&mut self) {
        // SAFETY: ctx came from de265_new_decoder and is freed once.
        unsafe {
            (self.lib.free_decoder)(self.ctx);
        }
    }
}

/// Decodes one keyframe — parameter sets and the sample's NAL units (no start codes, no length
/// prefixes) — into RGB (width, height). None when it does not decode, is not 4:2:0 or 4:0:0,
/// or is larger than `max_pixels`.
pub fn decode_rgb(nals: &[&[u8]], max_pixels: usize) -> Option<(Vec<u8>, usize, usize)> {
    let lib = lib()?;
    // SAFETY: every call gets the context made here (freed by Decoder's drop) and buffers that
    // outlive the call (libde265 copies pushed NAL data); the picture's planes are read within
    // the sizes libde265 reports for them, before the decoder is freed.
    unsafe {
        let ctx = (lib.new_decoder)();
        if ctx.is_null() {
            return None;
        }
        let dec = Decoder { lib, ctx };
        for n in nals {
            if n.is_empty() || n.len() > 64 << 20 {
                continue;
            }
            let err = (lib.push_nal)(
                dec.ctx,
                n.as_ptr().cast(),
                n.len() as c_int,
                0,
                std::ptr::null_mut(),
            );
            if (lib.is_ok)(err) == 0 {
                return None;
            }
        }
        (lib.flush_data)(dec.ctx);
        let mut img: Img = std::ptr::null();
        for _ in 0..64 {
            let mut more: c_int = 0;
            let err = (lib.decode)(dec.ctx, &mut more);
            img = (lib.next_picture)(dec.ctx);
            if !img.is_null() || more == 0 || (lib.is_ok)(err) == 0 {
                break;
            }
        }
        if img.is_null() {
            return None;
        }
        let (w, h) = ((lib.width)(img, 0), (lib.height)(img, 0));
        if w <= 0 || h <= 0 || (w as usize) * (h as usize) > max_pixels {
            return None;
        }
        let (w, h) = (w as usize, h as usize);
        let chroma = (lib.chroma)(img); // 0 mono, 1 4:2:0, 2 4:2:2, 3 4:4:4
        let bits = (lib.bits)(img, 0);
        if !(8..=16).contains(&bits) || !matches!(chroma, 0 | 1) {
            return None;
        }
        let bytes = if bits > 8 { 2 } else { 1 };
        let read_plane = |c: c_int, pw: usize, ph: usize| -> Option<Vec<u8>> {
            let mut stride: c_int = 0;
            let p = (lib.plane)(img, c, &mut stride);
            if p.is_null() || (stride as usize) < pw * bytes {
                return None;
            }
            let stride = stride as usize;
            let mut out = vec![0u8; pw * ph];
            for y in 0..ph {
                let row = std::slice::from_raw_parts(p.add(y * stride), pw * bytes);
                for x in 0..pw {
                    out[y * pw + x] = if bytes == 1 {
                        row[x]
                    } else {
                        (u16::from_le_bytes([row[2 * x], row[2 * x + 1]]) >> (bits - 8)) as u8
                    };
                }
            }
            Some(out)
        };
        let luma = read_plane(0, w, h)?;
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let (cb, cr) = if chroma == 1 {
            (read_plane(1, cw, ch)?, read_plane(2, cw, ch)?)
        } else {
            (vec![128; cw * ch], vec![128; cw * ch])
        };
        Some((yuv420_to_rgb(&luma, &cb, &cr, w, h), w, h))
    }
}

/// BT.709 limited-range Y'CbCr 4:2:0 to RGB (HD and UHD HEVC).
fn yuv420_to_rgb(y: &[u8], u: &[u8], v: &[u8], w: usize, h: usize) -> Vec<u8> {
    let cw = w.div_ceil(2);
    let mut rgb = vec![0u8; w * h * 3];
    for row in 0..h {
        for col in 0..w {
            let yy = (y[row * w + col] as f32 - 16.0) * 1.164;
            let c = (row / 2) * cw + col / 2;
            let (cb, cr) = (u[c] as f32 - 128.0, v[c] as f32 - 128.0);
            let o = (row * w + col) * 3;
            rgb[o] = (yy + 1.793 * cr).clamp(0.0, 255.0) as u8;
            rgb[o + 1] = (yy - 0.213 * cb - 0.533 * cr).clamp(0.0, 255.0) as u8;
            rgb[o + 2] = (yy + 2.112 * cb).clamp(0.0, 255.0) as u8;
        }
    }
    rgb
}

/// The NAL units of a length-prefixed (hvcC-style) sample; None when a length runs past the end.
pub fn split_nals(sample: &[u8], length_size: usize) -> Option<Vec<&[u8]>> {
    if !(1..=4).contains(&length_size) {
        return None;
    }
    let mut out = Vec::new();
    let mut p = 0;
    while p < sample.len() {
        let len_bytes = sample.get(p..p + length_size)?;
        let n = len_bytes.iter().fold(0usize, |a, b| a << 8 | *b as usize);
        p += length_size;
        out.push(sample.get(p..p + n)?);
        p += n;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nal_units_are_split_by_their_length_prefixes() {
        let s = [0, 0, 0, 2, 0x40, 0x01, 0, 0, 0, 1, 0x42];
        assert_eq!(
            split_nals(&s, 4).unwrap(),
            vec![&[0x40, 0x01][..], &[0x42][..]]
        );
        assert!(split_nals(&s[..8], 4).is_none(), "truncated");
        assert!(split_nals(&s, 0).is_none());
        assert_eq!(split_nals(&[], 4).unwrap().len(), 0);
    }

    #[test]
    fn grey_and_colours_convert() {
        let rgb = yuv420_to_rgb(&[126; 4], &[128], &[128], 2, 2);
        assert!(rgb.iter().all(|&c| (126..=130).contains(&c)), "{rgb:?}");
        // BT.709 red: Y 63, Cb 102, Cr 240
        let red = yuv420_to_rgb(&[63], &[102], &[240], 1, 1);
        assert!(red[0] > 230 && red[1] < 30 && red[2] < 30, "{red:?}");
    }

    #[test]
    fn garbage_does_not_decode_or_crash() {
        if !available() {
            return; // the integration test requires libde265 where it runs
        }
        assert!(decode_rgb(
            &[&[0x40, 0x01, 0xff, 0xff], &[0x26, 0x01, 1, 2, 3]],
            1 << 20
        )
        .is_none());
        assert!(decode_rgb(&[], 1 << 20).is_none());
    }
}
