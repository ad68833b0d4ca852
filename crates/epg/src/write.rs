//! XMLTV export, valid against the XMLTV DTD.

use crate::model::{LangText, Programme};
use crate::time::format_xmltv_time;

/// A channel of our lineup as exported in `epg.xml` (`id` must equal the playlist's `tvg-id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportChannel {
    pub id: String,
    pub name: String,
    pub icon: Option<String>,
}

/// Writes an XMLTV document (UTF-8) to `out`: channels in the given order, then programmes in
/// the given order (normalise them first). Child elements follow the DTD's order: `title+`,
/// `sub-title*`, `desc*`, `date?`, `category*`, `icon*`, `episode-num*`, `rating*`. A programme
/// without a title gets an empty `<title/>` (the DTD requires one; the parser drops empty
/// titles again). Times are written as `YYYYMMDDhhmmss +0000`. Characters XML 1.0 cannot carry
/// (C0 controls other than tab/newline/CR, U+FFFE/U+FFFF) are dropped.
pub fn write_xmltv(
    channels: &[ExportChannel],
    programmes: &[Programme],
    generator: &str,
    out: &mut Vec<u8>,
) {
    let mut s = String::with_capacity(256 + programmes.len() * 256);
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str("<!DOCTYPE tv SYSTEM \"xmltv.dtd\">\n");
    s.push_str("<tv");
    if !generator.is_empty() {
        s.push_str(" generator-info-name=\"");
        esc_attr(&mut s, generator);
        s.push('"');
    }
    s.push_str(">\n");
    for c in channels {
        s.push_str("  <channel id=\"");
        esc_attr(&mut s, &c.id);
        s.push_str("\">\n    <display-name>");
        esc_text(&mut s, &c.name);
        s.push_str("</display-name>\n");
        if let Some(icon) = c.icon.as_deref().filter(|i| !i.is_empty()) {
            s.push_str("    <icon src=\"");
            esc_attr(&mut s, icon);
            s.push_str("\"/>\n");
        }
        s.push_str("  </channel>\n");
    }
    for p in programmes {
        s.push_str("  <programme start=\"");
        s.push_str(&format_xmltv_time(p.start));
        s.push('"');
        if let Some(stop) = p.stop {
            s.push_str(" stop=\"");
            s.push_str(&format_xmltv_time(stop));
            s.push('"');
        }
        s.push_str(" channel=\"");
        esc_attr(&mut s, &p.channel);
        s.push_str("\">\n");
        if p.titles.is_empty() {
            s.push_str("    <title/>\n");
        }
        lang_elems(&mut s, "title", &p.titles);
        lang_elems(&mut s, "sub-title", &p.sub_titles);
        lang_elems(&mut s, "desc", &p.descs);
        if let Some(d) = &p.date {
            s.push_str("    <date>");
            esc_text(&mut s, d);
            s.push_str("</date>\n");
        }
        lang_elems(&mut s, "category", &p.categories);
        if let Some(icon) = p.icon.as_deref().filter(|i| !i.is_empty()) {
            s.push_str("    <icon src=\"");
            esc_attr(&mut s, icon);
            s.push_str("\"/>\n");
        }
        for e in &p.episode_nums {
            s.push_str("    <episode-num");
            if let Some(sys) = &e.system {
                s.push_str(" system=\"");
                esc_attr(&mut s, sys);
                s.push('"');
            }
            s.push('>');
            esc_text(&mut s, &e.value);
            s.push_str("</episode-num>\n");
        }
        for r in &p.ratings {
            s.push_str("    <rating");
            if let Some(sys) = &r.system {
                s.push_str(" system=\"");
                esc_attr(&mut s, sys);
                s.push('"');
            }
            s.push_str(">\n      <value>");
            esc_text(&mut s, &r.value);
            s.push_str("</value>\n    </rating>\n");
        }
        s.push_str("  </programme>\n");
    }
    s.push_str("</tv>\n");
    out.extend_from_slice(s.as_bytes());
}

fn lang_elems(s: &mut String, name: &str, v: &[LangText]) {
    for t in v {
        s.push_str("    <");
        s.push_str(name);
        if let Some(lang) = &t.lang {
            s.push_str(" lang=\"");
            esc_attr(s, lang);
            s.push('"');
        }
        s.push('>');
        esc_text(s, &t.text);
        s.push_str("</");
        s.push_str(name);
        s.push_str(">\n");
    }
}

fn xml_char_ok(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn esc_text(s: &mut String, t: &str) {
    for c in t.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '\r' => s.push_str("&#13;"),
            c if xml_char_ok(c) => s.push(c),
            _ => {}
        }
    }
}

fn esc_attr(s: &mut String, t: &str) {
    for c in t.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&apos;"),
            '\t' => s.push_str("&#9;"),
            '\n' => s.push_str("&#10;"),
            '\r' => s.push_str("&#13;"),
            c if xml_char_ok(c) => s.push(c),
            _ => {}
        }
    }
}
