//! Text subtitles: SRT and WebVTT parsing, WebVTT writing, and cues from the frames of a
//! Matroska text subtitle track. Pure string processing, times in milliseconds.

use bytes::Bytes;

use crate::{invalid, Error};

/// Most cues a parse accepts ([`Error::TooLarge`] beyond; [`cues_from_frames`] stops there).
pub const MAX_CUES: usize = 200_000;
/// Most cue text a parse accepts, in bytes, summed over all cues ([`Error::TooLarge`] beyond;
/// [`cues_from_frames`] stops there).
pub const MAX_TEXT_BYTES: usize = 16 << 20;
/// How long a Matroska subtitle frame without a duration is shown at most, in ms.
pub const DEFAULT_CUE_MS: i64 = 5_000;

/// One subtitle cue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// Start time in milliseconds.
    pub start_ms: i64,
    /// End time in milliseconds (not before `start_ms` in parsed cues).
    pub end_ms: i64,
    /// The text, lines separated by `\n` (no `\r`), markup (e.g. `<i>`) kept as given.
    pub text: String,
}

/// Collects cues within [`MAX_CUES`] and [`MAX_TEXT_BYTES`].
#[derive(Default)]
struct Collector {
    cues: Vec<Cue>,
    text_bytes: usize,
}

impl Collector {
    fn push(&mut self, cue: Cue) -> Result<(), Error> {
        if self.cues.len() >= MAX_CUES {
            return Err(Error::TooLarge {
                what: "subtitles: number of cues".into(),
                size: self.cues.len() as u64 + 1,
                limit: MAX_CUES as u64,
            });
        }
        let total = self.text_bytes.saturating_add(cue.text.len());
        if total > MAX_TEXT_BYTES {
            return Err(Error::TooLarge {
                what: "subtitles: total text bytes".into(),
                size: total as u64,
                limit: MAX_TEXT_BYTES as u64,
            });
        }
        self.text_bytes = total;
        self.cues.push(cue);
        Ok(())
    }
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Lines without their `\n` / `\r\n` ending.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l))
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses `[h:]mm:ss.mmm` (also `,` before the milliseconds when `comma`) into ms.
/// Hours may have any number of digits (up to 9); the fraction 1 to 3 digits.
fn parse_timestamp(s: &str, comma: bool) -> Option<i64> {
    let (hms, frac) = s.rsplit_once(|c| c == '.' || (comma && c == ','))?;
    if !all_digits(frac) || frac.len() > 3 {
        return None;
    }
    let mut ms: i64 = frac.parse().ok()?;
    for _ in frac.len()..3 {
        ms *= 10;
    }
    let parts: Vec<&str> = hms.split(':').collect();
    let (h, m, sec) = match parts.as_slice() {
        [m, s] => ("0", *m, *s),
        [h, m, s] => (*h, *m, *s),
        _ => return None,
    };
    if !all_digits(h) || h.len() > 9 || !all_digits(m) || m.len() > 2 {
        return None;
    }
    if !all_digits(sec) || sec.len() > 2 {
        return None;
    }
    let (h, m, sec): (i64, i64, i64) = (h.parse().ok()?, m.parse().ok()?, sec.parse().ok()?);
    if m > 59 || sec > 59 {
        return None;
    }
    Some(((h * 60 + m) * 60 + sec) * 1000 + ms)
}

/// Parses a timing line `start --> end [settings]`.
fn parse_timing(line: &str, comma: bool) -> Option<(i64, i64)> {
    let (a, b) = line.split_once("-->")?;
    let start = parse_timestamp(a.trim(), comma)?;
    let end = parse_timestamp(b.split_whitespace().next()?, comma)?;
    (end >= start).then_some((start, end))
}

/// Parses SubRip (SRT) text. Tolerant: a byte order mark, CRLF line ends, a missing final
/// blank line or missing blank lines between cues, `,` or `.` before the milliseconds, and
/// position settings after the end time are accepted; malformed cues (bad timing line, end
/// before start) are skipped. Errors: [`Error::Invalid`] when the input is not blank but no cue
/// parses, [`Error::TooLarge`] beyond [`MAX_CUES`] / [`MAX_TEXT_BYTES`].
pub fn parse_srt(text: &str) -> Result<Vec<Cue>, Error> {
    let text = strip_bom(text);
    let mut out = Collector::default();
    let mut current: Option<Cue> = None;
    for line in lines(text) {
        if line.contains("-->") {
            if let Some((start_ms, end_ms)) = parse_timing(line, true) {
                if let Some(mut cue) = current.take() {
                    // no blank line before this cue: its counter ended up in the previous text
                    if let Some((head, last)) = cue.text.rsplit_once('\n') {
                        if all_digits(last.trim()) {
                            cue.text.truncate(head.len());
                        }
                    } else if all_digits(cue.text.trim()) {
                        cue.text.clear();
                    }
                    out.push(cue)?;
                }
                current = Some(Cue {
                    start_ms,
                    end_ms,
                    text: String::new(),
                });
                continue;
            }
        }
        if line.trim().is_empty() {
            if let Some(cue) = current.take() {
                out.push(cue)?;
            }
            continue;
        }
        if let Some(cue) = &mut current {
            if !cue.text.is_empty() {
                cue.text.push('\n');
            }
            cue.text.push_str(line);
            if cue.text.len() > MAX_TEXT_BYTES {
                return Err(Error::TooLarge {
                    what: "subtitles: cue text bytes".into(),
                    size: cue.text.len() as u64,
                    limit: MAX_TEXT_BYTES as u64,
                });
            }
        }
        // other lines outside a cue (counters, garbage) are ignored
    }
    if let Some(cue) = current.take() {
        out.push(cue)?;
    }
    if out.cues.is_empty() && !text.trim().is_empty() {
        return Err(invalid("SRT: no cue could be parsed"));
    }
    Ok(out.cues)
}

/// Whether `line` starts a block of kind `keyword` (followed by nothing, a space or a tab).
fn starts_block(line: &str, keyword: &str) -> bool {
    line.strip_prefix(keyword)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// Parses WebVTT text. The `WEBVTT` header line is required ([`Error::Invalid`] without it);
/// a byte order mark and CRLF line ends are accepted; hours are optional in timestamps; cue
/// settings after the end time are ignored; NOTE, STYLE and REGION blocks are skipped; cue
/// identifiers are allowed (and dropped). Malformed cue blocks are skipped.
/// [`Error::TooLarge`] beyond [`MAX_CUES`] / [`MAX_TEXT_BYTES`].
pub fn parse_webvtt(text: &str) -> Result<Vec<Cue>, Error> {
    let text = strip_bom(text);
    let mut it = lines(text);
    let first = it.next().unwrap_or("");
    if !starts_block(first, "WEBVTT") {
        return Err(invalid("WebVTT: missing WEBVTT header"));
    }
    // the rest of the header block
    for line in it.by_ref() {
        if line.trim().is_empty() {
            break;
        }
    }
    let mut out = Collector::default();
    let mut block: Vec<&str> = Vec::new();
    let mut text_bytes = 0usize;
    for line in it.chain(std::iter::once("")) {
        if !line.trim().is_empty() {
            text_bytes = text_bytes.saturating_add(line.len());
            if text_bytes > MAX_TEXT_BYTES {
                return Err(Error::TooLarge {
                    what: "subtitles: cue text bytes".into(),
                    size: text_bytes as u64,
                    limit: MAX_TEXT_BYTES as u64,
                });
            }
            block.push(line);
            continue;
        }
        text_bytes = 0;
        if block.is_empty() {
            continue;
        }
        let skip = ["NOTE", "STYLE", "REGION"]
            .iter()
            .any(|k| starts_block(block[0], k));
        if !skip {
            let timing_at = if block[0].contains("-->") {
                Some(0)
            } else if block.len() > 1 && block[1].contains("-->") {
                Some(1)
            } else {
                None
            };
            if let Some(i) = timing_at {
                if let Some((start_ms, end_ms)) = parse_timing(block[i], false) {
                    out.push(Cue {
                        start_ms,
                        end_ms,
                        text: block[i + 1..].join("\n"),
                    })?;
                }
            }
        }
        block.clear();
    }
    Ok(out.cues)
}

/// `HH:MM:SS.mmm`; negative times are written as 0.
fn format_timestamp(ms: i64) -> String {
    let ms = ms.max(0);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Writes cues as WebVTT: the `WEBVTT` header, then per cue a blank line, the timing line
/// `HH:MM:SS.mmm --> HH:MM:SS.mmm` and the text lines. So that no text can break the file,
/// `-->` in the text becomes `->` (any run of dashes before `>` becomes one), empty text lines (which would end the cue) are dropped and
/// `\r` line ends are removed; an end before the start is written as the start; negative times
/// as 0.
pub fn write_webvtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n");
    for cue in cues {
        out.push('\n');
        out.push_str(&format_timestamp(cue.start_ms));
        out.push_str(" --> ");
        out.push_str(&format_timestamp(cue.end_ms.max(cue.start_ms)));
        out.push('\n');
        for raw in lines(&cue.text) {
            if raw.trim().is_empty() {
                continue;
            }
            let mut line = String::with_capacity(raw.len());
            for c in raw.chars().filter(|&c| c != '\r') {
                if c == '>' {
                    // never "-->": keep a single '-' before a '>'
                    while line.ends_with("--") {
                        line.pop();
                    }
                }
                line.push(c);
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Turns the frames of a Matroska text subtitle track into cues. `frames` are
/// `(pts_ms, duration_ms, payload)` in track order; `codec_id` is the track's CodecID:
/// "S_TEXT/UTF8" (and "S_TEXT/ASCII") frames hold the plain text, "S_TEXT/WEBVTT" frames the
/// cue text; any other codec gives no cues. A frame without a duration ends at the start of
/// the next frame when that is later, but lasts at most [`DEFAULT_CUE_MS`] (5 s). Empty frames are
/// skipped; CRLF becomes LF; invalid UTF-8 is replaced. Stops silently at [`MAX_CUES`] cues
/// or [`MAX_TEXT_BYTES`] of text.
pub fn cues_from_frames(frames: &[(i64, Option<u64>, Bytes)], codec_id: &str) -> Vec<Cue> {
    if !matches!(codec_id, "S_TEXT/UTF8" | "S_TEXT/ASCII" | "S_TEXT/WEBVTT") {
        return Vec::new();
    }
    let mut out = Collector::default();
    for (i, (pts, duration, data)) in frames.iter().enumerate() {
        let raw = String::from_utf8_lossy(data);
        let text = raw
            .trim_end_matches(['\0', '\r', '\n'])
            .replace("\r\n", "\n");
        if text.trim().is_empty() {
            continue;
        }
        let end = match duration {
            Some(d) => pts.saturating_add(i64::try_from(*d).unwrap_or(i64::MAX)),
            None => {
                let cap = pts.saturating_add(DEFAULT_CUE_MS);
                frames
                    .get(i + 1)
                    .map(|f| f.0)
                    .filter(|next| next > pts)
                    .map_or(cap, |next| next.min(cap))
            }
        };
        if out
            .push(Cue {
                start_ms: *pts,
                end_ms: end,
                text,
            })
            .is_err()
        {
            break;
        }
    }
    out.cues
}
