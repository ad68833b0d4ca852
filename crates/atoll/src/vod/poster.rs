//! A poster for a title imported without one: a keyframe of its video about a tenth of the way in
//! (past the opening titles), decoded — H.264 with openh264 (already in the binary for the test
//! card), HEVC with libde265 loaded at run time (`vod::hevc`) — scaled to at most 480 pixels wide
//! and written as a JPEG. Where libde265 is missing, HEVC titles keep the player's placeholder
//! until the operator uploads a poster.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use mp4::{CodecConfig, Movie, TrackKind};
use openh264::formats::YUVSource;

/// A decoded picture: RGB bytes, width, height.
type Rgb = (Vec<u8>, usize, usize);
/// Decodes one keyframe sample of a track.
type Decoder<'a> = dyn Fn(&[u8]) -> Option<Rgb> + 'a;

/// Widest poster made, pixels.
const MAX_WIDTH: usize = 480;
/// Largest picture decoded for a poster (a hostile SPS cannot make us allocate more).
const MAX_PIXELS: usize = 4096 * 2304;
/// Keyframes tried before giving up (a black first frame is common: try a few).
const TRIES: usize = 4;

/// Writes `poster.jpg` from the stored `media.mp4`; Ok(false) when there is no H.264 or HEVC
/// video (or no HEVC decoder), or no keyframe decodes.
pub fn from_video(media: &Path, movie: &Movie, out: &Path) -> std::io::Result<bool> {
    let Some(t) = movie.tracks.iter().find(|t| t.kind == TrackKind::Video) else {
        return Ok(false);
    };
    let decoder: Box<Decoder> = match &t.codec {
        CodecConfig::H264 {
            sps,
            pps,
            nal_length_size,
            ..
        } => {
            let n = *nal_length_size as usize;
            Box::new(move |sample| decode(sps, pps, sample, n))
        }
        CodecConfig::H265 {
            vps,
            sps,
            pps,
            nal_length_size,
            ..
        } if super::hevc::available() => {
            let n = *nal_length_size as usize;
            Box::new(move |sample| {
                let mut nals: Vec<&[u8]> =
                    vps.iter().chain(sps).chain(pps).map(|b| &b[..]).collect();
                nals.extend(super::hevc::split_nals(sample, n)?);
                super::hevc::decode_rgb(&nals, MAX_PIXELS)
            })
        }
        _ => return Ok(false),
    };
    let keys: Vec<usize> = t
        .samples
        .iter()
        .enumerate()
        .filter(|(_, s)| s.sync)
        .map(|(i, _)| i)
        .collect();
    if keys.is_empty() {
        return Ok(false);
    }
    let file = File::open(media)?;
    // from a tenth of the way in, then later keyframes (skipping near-black ones)
    let first = keys.len() / 10;
    let mut best: Option<(Vec<u8>, usize, usize)> = None;
    for &k in keys
        .iter()
        .skip(first)
        .step_by((keys.len() / 20).max(1))
        .take(TRIES)
    {
        let s = &t.samples[k];
        if s.size as usize > 32 << 20 {
            continue;
        }
        let mut sample = vec![0u8; s.size as usize];
        file.read_exact_at(&mut sample, s.offset)?;
        let Some(frame) = decoder(&sample) else {
            continue;
        };
        let bright = mean_luma(&frame.0);
        let done = bright > 40;
        best = Some(frame);
        if done {
            break;
        }
    }
    let Some((rgb, w, h)) = best else {
        return Ok(false);
    };
    let (rgb, w, h) = scale(&rgb, w, h);
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 85)
        .encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
        .map_err(std::io::Error::other)?;
    std::fs::write(out, jpeg)?;
    Ok(true)
}

/// Decodes one IDR access unit (AVCC sample) into RGB.
fn decode(
    sps: &[bytes::Bytes],
    pps: &[bytes::Bytes],
    sample: &[u8],
    nal_length_size: usize,
) -> Option<(Vec<u8>, usize, usize)> {
    let mut au = Vec::with_capacity(sample.len() + 256);
    for p in sps.iter().chain(pps) {
        au.extend_from_slice(&[0, 0, 0, 1]);
        au.extend_from_slice(p);
    }
    au.extend_from_slice(&media::h264::avcc_to_annexb(sample, nal_length_size)?);
    let mut dec = openh264::decoder::Decoder::new().ok()?;
    let yuv = match dec.decode(&au) {
        Ok(Some(y)) => y,
        // the decoder may hold the picture back until flushed
        _ => {
            let mut frames = dec.flush_remaining().ok()?;
            let y = frames.pop()?;
            let (w, h) = y.dimensions();
            if w == 0 || h == 0 || w * h > MAX_PIXELS {
                return None;
            }
            let mut rgb = vec![0u8; w * h * 3];
            y.write_rgb8(&mut rgb);
            return Some((rgb, w, h));
        }
    };
    let (w, h) = yuv.dimensions();
    if w == 0 || h == 0 || w * h > MAX_PIXELS {
        return None;
    }
    let mut rgb = vec![0u8; w * h * 3];
    yuv.write_rgb8(&mut rgb);
    Some((rgb, w, h))
}

fn mean_luma(rgb: &[u8]) -> u32 {
    let px = (rgb.len() / 3).max(1);
    let step = (px / 4096).max(1);
    let (mut sum, mut n) = (0u64, 0u64);
    for p in rgb.chunks_exact(3).step_by(step) {
        sum += (p[0] as u64 * 299 + p[1] as u64 * 587 + p[2] as u64 * 114) / 1000;
        n += 1;
    }
    (sum / n.max(1)) as u32
}

/// Box-filter downscale to at most [`MAX_WIDTH`] wide, keeping the aspect ratio.
fn scale(rgb: &[u8], w: usize, h: usize) -> (Vec<u8>, usize, usize) {
    if w <= MAX_WIDTH {
        return (rgb.to_vec(), w, h);
    }
    let nw = MAX_WIDTH;
    let nh = (h * nw / w).max(1);
    let mut out = vec![0u8; nw * nh * 3];
    for y in 0..nh {
        let (y0, y1) = (y * h / nh, ((y + 1) * h / nh).max(y * h / nh + 1));
        for x in 0..nw {
            let (x0, x1) = (x * w / nw, ((x + 1) * w / nw).max(x * w / nw + 1));
            let mut acc = [0u32; 3];
            let mut n = 0;
            for sy in y0..y1.min(h) {
                for sx in x0..x1.min(w) {
                    let i = (sy * w + sx) * 3;
                    for c in 0..3 {
                        acc[c] += rgb[i + c] as u32;
                    }
                    n += 1;
                }
            }
            let o = (y * nw + x) * 3;
            for c in 0..3 {
                out[o + c] = (acc[c] / n.max(1)) as u8;
            }
        }
    }
    (out, nw, nh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_keeps_the_aspect_and_averages() {
        let (w, h) = (960, 540);
        let rgb = vec![200u8; w * h * 3];
        let (out, nw, nh) = scale(&rgb, w, h);
        assert_eq!((nw, nh), (480, 270));
        assert!(out.iter().all(|&b| b == 200));
        let small = vec![1u8; 320 * 240 * 3];
        assert_eq!(scale(&small, 320, 240).1, 320);
        assert_eq!(mean_luma(&[255, 255, 255, 0, 0, 0]), 127);
    }
}
