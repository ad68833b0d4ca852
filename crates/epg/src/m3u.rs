//! Extended M3U playlists (`#EXTM3U` / `#EXTINF` with `tvg-*` and catch-up attributes).

/// The `#EXTM3U` line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct M3uHeader {
    /// Guide URL, written both as `url-tvg` and `x-tvg-url` (Kodi reads `x-tvg-url` first,
    /// others read `url-tvg`). Empty: neither is written.
    pub url_tvg: String,
}

/// Catch-up attributes of one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catchup {
    /// `default`, `append`, `shift`, `flussonic`, `fs`, `xc`, `vod`.
    pub mode: String,
    /// `catchup-days`; 0 = not written.
    pub days: u32,
    /// `catchup-source`: a URL template with app placeholders (`{utc}`, `{duration}`, …).
    pub source: String,
}

impl Catchup {
    /// The recommended form (see the crate docs): `catchup="default"` with an absolute
    /// Flussonic-style template, `{channel_base}/index-{utc}-{duration}.m3u8[?query]`.
    /// `channel_base` is e.g. `http://tv.example:8080/live/cctv1`; `query` is e.g. a viewer
    /// token (`token=…`) or empty.
    pub fn recommended(channel_base: &str, days: u32, query: &str) -> Catchup {
        let mut source = format!(
            "{}/index-{{utc}}-{{duration}}.m3u8",
            channel_base.trim_end_matches('/')
        );
        if !query.is_empty() {
            source.push('?');
            source.push_str(query.trim_start_matches('?'));
        }
        Catchup {
            mode: "default".into(),
            days,
            source,
        }
    }

    /// [`Catchup::recommended`] for an Atoll channel: `base` is the public base URL
    /// (`http://host:port`, no trailing path), `channel_id` our channel id (percent-encoded
    /// outside `A-Z a-z 0-9 - . _ ~`), and `catchup-days` is the archive retention rounded up to
    /// whole days (at least 1).
    pub fn for_atoll(base: &str, channel_id: &str, retention_hours: u32) -> Catchup {
        let days = retention_hours.div_ceil(24).max(1);
        let channel_base = format!(
            "{}/live/{}",
            base.trim_end_matches('/'),
            percent_encode_segment(channel_id)
        );
        Catchup::recommended(&channel_base, days, "")
    }
}

/// Percent-encodes one URL path segment (everything outside `A-Z a-z 0-9 - . _ ~`).
pub fn percent_encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One channel of a playlist. Empty strings mean "attribute absent".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct M3uEntry {
    pub tvg_id: String,
    pub tvg_name: String,
    pub tvg_logo: String,
    pub tvg_chno: Option<i64>,
    pub group_title: String,
    /// Display name (after the comma).
    pub name: String,
    pub url: String,
    pub catchup: Option<Catchup>,
}

/// Writes an extended M3U playlist (`\n` line ends):
///
/// ```text
/// #EXTM3U url-tvg="…" x-tvg-url="…"
/// #EXTINF:-1 tvg-id="…" tvg-name="…" tvg-logo="…" tvg-chno="…" group-title="…" catchup="…" catchup-days="…" catchup-source="…",Name
/// http://…
/// ```
///
/// Empty attributes are left out. Attribute values are sanitised, since M3U has no escaping:
/// `"` becomes `'`, control characters (newlines, tabs) become spaces, and the value is trimmed.
/// In the display name, newlines become spaces and `,` becomes `‚` (U+201A): Kodi takes the name
/// after the *last* comma of the line. URLs lose whitespace and control characters.
pub fn write_m3u(header: &M3uHeader, entries: &[M3uEntry]) -> String {
    let mut s = String::with_capacity(64 + entries.len() * 256);
    s.push_str("#EXTM3U");
    let tvg = attr_value(&header.url_tvg);
    if !tvg.is_empty() {
        push_attr(&mut s, "url-tvg", &tvg);
        push_attr(&mut s, "x-tvg-url", &tvg);
    }
    s.push('\n');
    for e in entries {
        s.push_str("#EXTINF:-1");
        push_attr(&mut s, "tvg-id", &attr_value(&e.tvg_id));
        push_attr(&mut s, "tvg-name", &attr_value(&e.tvg_name));
        push_attr(&mut s, "tvg-logo", &attr_value(&e.tvg_logo));
        if let Some(n) = e.tvg_chno {
            push_attr(&mut s, "tvg-chno", &n.to_string());
        }
        push_attr(&mut s, "group-title", &attr_value(&e.group_title));
        if let Some(c) = &e.catchup {
            push_attr(&mut s, "catchup", &attr_value(&c.mode));
            if c.days > 0 {
                push_attr(&mut s, "catchup-days", &c.days.to_string());
            }
            push_attr(&mut s, "catchup-source", &attr_value(&c.source));
        }
        s.push(',');
        let name: String = e
            .name
            .chars()
            .map(|c| match c {
                ',' => '\u{201A}',
                c if c.is_control() => ' ',
                c => c,
            })
            .collect();
        s.push_str(name.trim());
        s.push('\n');
        let url: String = e
            .url
            .chars()
            .filter(|c| !c.is_whitespace() && !c.is_control())
            .collect();
        s.push_str(&url);
        s.push('\n');
    }
    s
}

fn attr_value(v: &str) -> String {
    v.chars()
        .map(|c| match c {
            '"' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

fn push_attr(s: &mut String, key: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    s.push(' ');
    s.push_str(key);
    s.push_str("=\"");
    s.push_str(value);
    s.push('"');
}

/// Parses `key="value"` / `key=value` attributes up to the first comma outside quotes; returns
/// the attributes and the rest after that comma.
fn parse_attrs(line: &str) -> (Vec<(String, String)>, Option<&str>) {
    let mut attrs = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            return (attrs, None);
        }
        if b[i] == b',' {
            return (attrs, Some(&line[i + 1..]));
        }
        let k0 = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = line[k0..i].to_ascii_lowercase();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            let value;
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let v0 = i + 1;
                let end = b[v0..].iter().position(|&c| c == q).map(|p| v0 + p);
                match end {
                    Some(e) => {
                        value = line[v0..e].to_owned();
                        i = e + 1;
                    }
                    None => {
                        // unterminated quote: the value runs to the end, no name
                        attrs.push((key, line[v0..].to_owned()));
                        return (attrs, None);
                    }
                }
            } else {
                let v0 = i;
                while i < b.len() && b[i] != b',' && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = line[v0..i].to_owned();
            }
            attrs.push((key, value));
        } else if !key.is_empty() {
            attrs.push((key, String::new()));
        }
    }
}

/// Parses the `#EXTM3U` header line, if the text has one.
pub fn parse_m3u_header(text: &str) -> Option<M3uHeader> {
    let first = text.trim_start_matches('\u{feff}').lines().next()?.trim();
    let rest = first.strip_prefix("#EXTM3U")?;
    let (attrs, _) = parse_attrs(rest);
    let get = |k: &str| attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    Some(M3uHeader {
        url_tvg: get("x-tvg-url")
            .or_else(|| get("url-tvg"))
            .unwrap_or_default(),
    })
}

/// Parses an (extended) M3U playlist as an IPTV app would: each `#EXTINF` line's attributes and
/// name (after the first comma outside quotes) apply to the next non-comment line, the URL.
/// `#EXTGRP:` supplies a group when `group-title` is absent. The legacy `timeshift="N"` attribute
/// reads as `catchup="shift"` with N days. Other `#` lines are ignored; a URL without `#EXTINF`
/// becomes an entry with only a URL.
pub fn parse_m3u(text: &str) -> Vec<M3uEntry> {
    let mut out = Vec::new();
    let mut cur: Option<M3uEntry> = None;
    let mut extgrp: Option<String> = None;
    for raw in text.trim_start_matches('\u{feff}').lines() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            let dur_end = rest
                .find(|c: char| c.is_ascii_whitespace() || c == ',')
                .unwrap_or(rest.len());
            let (attrs, name) = parse_attrs(&rest[dur_end..]);
            let get = |k: &str| {
                attrs
                    .iter()
                    .find(|(a, _)| a == k)
                    .map(|(_, v)| v.trim().to_owned())
            };
            let catchup = match (get("catchup"), get("timeshift")) {
                (Some(mode), _) => Some(Catchup {
                    mode,
                    days: get("catchup-days")
                        .and_then(|d| d.parse().ok())
                        .unwrap_or(0),
                    source: get("catchup-source").unwrap_or_default(),
                }),
                (None, Some(days)) => Some(Catchup {
                    mode: "shift".into(),
                    days: days.parse().unwrap_or(0),
                    source: String::new(),
                }),
                (None, None) => None,
            };
            cur = Some(M3uEntry {
                tvg_id: get("tvg-id").unwrap_or_default(),
                tvg_name: get("tvg-name").unwrap_or_default(),
                tvg_logo: get("tvg-logo").unwrap_or_default(),
                tvg_chno: get("tvg-chno").and_then(|n| n.parse().ok()),
                group_title: get("group-title").unwrap_or_default(),
                name: name.unwrap_or("").trim().to_owned(),
                url: String::new(),
                catchup,
            });
            extgrp = None;
        } else if let Some(g) = line.strip_prefix("#EXTGRP:") {
            extgrp = Some(g.trim().to_owned());
        } else if line.starts_with('#') {
            continue;
        } else {
            let mut e = cur.take().unwrap_or_default();
            if e.group_title.is_empty() {
                if let Some(g) = extgrp.take() {
                    e.group_title = g;
                }
            }
            e.url = line.to_owned();
            out.push(e);
            extgrp = None;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_and_parse_round_trip() {
        let header = M3uHeader {
            url_tvg: "http://tv.example:8080/epg.xml.gz".into(),
        };
        let entries = vec![
            M3uEntry {
                tvg_id: "cctv1".into(),
                tvg_name: "CCTV-1 综合".into(),
                tvg_logo: "http://tv.example:8080/logo/cctv1.png".into(),
                tvg_chno: Some(1),
                group_title: "央视".into(),
                name: "CCTV-1 综合".into(),
                url: "http://tv.example:8080/live/cctv1/index.m3u8".into(),
                catchup: Some(Catchup::recommended(
                    "http://tv.example:8080/live/cctv1",
                    7,
                    "",
                )),
            },
            M3uEntry {
                tvg_id: "x".into(),
                name: "Plain".into(),
                url: "http://tv.example:8080/live/x/mpegts".into(),
                ..Default::default()
            },
        ];
        let text = write_m3u(&header, &entries);
        assert!(text.starts_with(
            "#EXTM3U url-tvg=\"http://tv.example:8080/epg.xml.gz\" x-tvg-url=\"http://tv.example:8080/epg.xml.gz\"\n"
        ));
        assert!(text.contains(
            "#EXTINF:-1 tvg-id=\"cctv1\" tvg-name=\"CCTV-1 综合\" tvg-logo=\"http://tv.example:8080/logo/cctv1.png\" tvg-chno=\"1\" group-title=\"央视\" catchup=\"default\" catchup-days=\"7\" catchup-source=\"http://tv.example:8080/live/cctv1/index-{utc}-{duration}.m3u8\",CCTV-1 综合\nhttp://tv.example:8080/live/cctv1/index.m3u8\n"
        ), "{text}");
        assert_eq!(parse_m3u(&text), entries);
        assert_eq!(parse_m3u_header(&text), Some(header));
    }

    #[test]
    fn for_atoll() {
        let c = Catchup::for_atoll("http://tv.example:8080/", "cctv1", 72);
        assert_eq!(c.mode, "default");
        assert_eq!(c.days, 3);
        assert_eq!(
            c.source,
            "http://tv.example:8080/live/cctv1/index-{utc}-{duration}.m3u8"
        );
        assert_eq!(Catchup::for_atoll("http://h", "a b", 1).days, 1);
        assert_eq!(Catchup::for_atoll("http://h", "a b", 25).days, 2);
        assert_eq!(
            Catchup::for_atoll("http://h", "a b", 1).source,
            "http://h/live/a%20b/index-{utc}-{duration}.m3u8"
        );
        let c = Catchup::recommended("http://h/live/x", 7, "token=abc");
        assert_eq!(
            c.source,
            "http://h/live/x/index-{utc}-{duration}.m3u8?token=abc"
        );
    }

    #[test]
    fn values_are_sanitised() {
        let e = M3uEntry {
            tvg_id: "a\"b".into(),
            tvg_name: "line\nbreak".into(),
            group_title: "News, Sports".into(),
            name: "Name, with comma\r\n".into(),
            url: " http://h/x y\n".into(),
            ..Default::default()
        };
        let text = write_m3u(&M3uHeader::default(), &[e]);
        assert_eq!(
            text,
            "#EXTM3U\n#EXTINF:-1 tvg-id=\"a'b\" tvg-name=\"line break\" group-title=\"News, Sports\",Name\u{201A} with comma\nhttp://h/xy\n"
        );
        assert_eq!(text.lines().count(), 3);
        let back = parse_m3u(&text);
        assert_eq!(back[0].group_title, "News, Sports");
        assert_eq!(back[0].tvg_id, "a'b");
    }

    #[test]
    fn parses_kodi_readme_examples() {
        let text = "#EXTM3U tvg-shift=\"-4.5\" x-tvg-url=\"http://path-to-xmltv/guide.xml\"\n\
#EXTINF:0 tvg-id=\"channel-x\" tvg-name=\"Channel_X\" group-title=\"Entertainment\" tvg-chno=\"10\" tvg-logo=\"http://path-to-icons/channel-x.png\" radio=\"true\" tvg-shift=\"-3.5\",Channel X\n\
#EXTVLCOPT:program=745\n\
#KODIPROP:key=val\n\
http://path-to-stream/live/channel-x.ts\n\
#EXTINF:0 tvg-id=\"channel-y\" tvg-name=\"Channel_Y\",Channel Y\n\
#EXTGRP:Entertainment\n\
http://path-to-stream/live/channel-y.ts\n\
#EXTINF:0,Channel Z\r\n\
http://path-to-stream/live/channel-z.ts\r\n\
#EXTINF:0 tvg-id=\"channel-e\" tvg-name=\"Channel-E\" timeshift=\"3\",Channel E\n\
http://path-to-stream/live/channel-e.ts\n\
#EXTINF:0 tvg-id=\"channel-f\" tvg-name=\"Channel-F\" catchup=\"default\" catchup-days=\"1\" catchup-source=\"http://yoururl/channeld/video-{utc}-{duration}.m3u8\",Channel F\n\
http://yoururl/channeld/video.m3u8\n";
        let v = parse_m3u(text);
        assert_eq!(v.len(), 5);
        assert_eq!(v[0].tvg_chno, Some(10));
        assert_eq!(v[0].name, "Channel X");
        assert_eq!(v[1].group_title, "Entertainment");
        assert_eq!(v[2].name, "Channel Z");
        assert_eq!(v[2].url, "http://path-to-stream/live/channel-z.ts");
        assert_eq!(v[3].catchup.as_ref().unwrap().mode, "shift");
        assert_eq!(v[3].catchup.as_ref().unwrap().days, 3);
        let c = v[4].catchup.as_ref().unwrap();
        assert_eq!(
            (c.mode.as_str(), c.days, c.source.as_str()),
            (
                "default",
                1,
                "http://yoururl/channeld/video-{utc}-{duration}.m3u8"
            )
        );
        assert_eq!(
            parse_m3u_header(text).unwrap().url_tvg,
            "http://path-to-xmltv/guide.xml"
        );
    }
}
