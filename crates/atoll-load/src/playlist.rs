//! Just enough of an HLS media playlist: target duration, media sequence, segments.

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub seq: u64,
    pub duration_s: f64,
    pub uri: String,
}

#[derive(Debug, Default, PartialEq)]
pub struct Playlist {
    pub target_s: f64,
    pub segments: Vec<Segment>,
}

pub fn parse(text: &str) -> Result<Playlist, &'static str> {
    let mut lines = text.lines().map(str::trim);
    if lines.next() != Some("#EXTM3U") {
        return Err("not an M3U8 playlist (no #EXTM3U)");
    }
    let mut target_s = 0.0;
    let mut seq = 0u64;
    let mut pending: Option<f64> = None;
    let mut segments = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            target_s = v.trim().parse().map_err(|_| "bad EXT-X-TARGETDURATION")?;
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            seq = v.trim().parse().map_err(|_| "bad EXT-X-MEDIA-SEQUENCE")?;
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            let d = v.split(',').next().unwrap_or_default().trim();
            pending = Some(d.parse().map_err(|_| "bad EXTINF")?);
        } else if line.starts_with("#EXT-X-STREAM-INF") {
            return Err("a multivariant playlist: give the URL of a media playlist");
        } else if line.starts_with('#') {
            continue;
        } else if let Some(d) = pending.take() {
            segments.push(Segment {
                seq,
                duration_s: d,
                uri: line.to_string(),
            });
            seq += 1;
        }
    }
    if target_s <= 0.0 {
        target_s = segments
            .iter()
            .map(|s| s.duration_s)
            .fold(0.0, f64::max)
            .max(1.0);
    }
    Ok(Playlist { target_s, segments })
}

/// The request path of `uri` relative to the playlist at `base_path` (same host assumed).
pub fn resolve(base_path: &str, uri: &str) -> String {
    if let Some(rest) = uri
        .strip_prefix("http://")
        .or_else(|| uri.strip_prefix("https://"))
    {
        return match rest.find('/') {
            Some(p) => rest[p..].to_string(),
            None => "/".into(),
        };
    }
    if uri.starts_with('/') {
        return uri.to_string();
    }
    let base = base_path.split('?').next().unwrap_or_default();
    let dir = match base.rfind('/') {
        Some(p) => &base[..=p],
        None => "/",
    };
    normalize(&format!("{dir}{uri}"))
}

/// Removes `.` and `..` path segments (RFC 3986 5.2.4); the query is left alone.
fn normalize(path: &str) -> String {
    let (p, query) = match path.find('?') {
        Some(i) => (&path[..i], &path[i..]),
        None => (path, ""),
    };
    if !p.split('/').any(|s| s == "." || s == "..") {
        return path.to_string();
    }
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = p.split('/').skip(1).collect();
    for (i, s) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match *s {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}{query}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_live_playlist() {
        let p = parse(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:41\n\
             #EXTINF:6.000,\n41.ts\n#EXTINF:5.960,\n42.ts\n",
        )
        .unwrap();
        assert_eq!(p.target_s, 6.0);
        assert_eq!(p.segments.len(), 2);
        assert_eq!(p.segments[1].seq, 42);
        assert_eq!(p.segments[1].uri, "42.ts");
        assert!((p.segments[1].duration_s - 5.96).abs() < 1e-9);
    }

    #[test]
    fn resolves() {
        assert_eq!(resolve("/live/demo/index.m3u8", "7.ts"), "/live/demo/7.ts");
        assert_eq!(
            resolve("/live/bench.m3u8", "bench-3.ts"),
            "/live/bench-3.ts"
        );
        assert_eq!(resolve("/a/b.m3u8", "/x/1.ts"), "/x/1.ts");
        assert_eq!(resolve("/a/b.m3u8", "http://h:1/y/2.ts"), "/y/2.ts");
        assert_eq!(resolve("/a/b/c.m3u8", "../d/1.ts"), "/a/d/1.ts");
        assert_eq!(resolve("/a/b/c.m3u8", "./1.ts?x=../y"), "/a/b/1.ts?x=../y");
        assert_eq!(resolve("/a/c.m3u8", "../../1.ts"), "/1.ts");
    }
}
