//! The guide data model shared by the parser, the normaliser and the writers.

use media::UtcMs;

/// A text with an optional language (`lang` attribute). An empty `lang=""` is read as `None`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LangText {
    pub lang: Option<String>,
    pub text: String,
}

impl LangText {
    pub fn new(lang: Option<&str>, text: impl Into<String>) -> Self {
        LangText {
            lang: lang.map(str::to_owned),
            text: text.into(),
        }
    }
}

/// `<episode-num system="…">value</episode-num>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EpisodeNum {
    /// `xmltv_ns`, `onscreen`, `dd_progid`, … (`None` when absent; the DTD default is `onscreen`).
    pub system: Option<String>,
    pub value: String,
}

/// `<rating system="…"><value>…</value></rating>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rating {
    pub system: Option<String>,
    pub value: String,
}

/// An XMLTV `<channel>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct XChannel {
    pub id: String,
    /// In file order; the first is the most canonical.
    pub display_names: Vec<LangText>,
    /// The first `<icon src>`.
    pub icon: Option<String>,
    pub urls: Vec<String>,
    /// Line of the `<channel>` start tag (diagnostics only).
    pub line: u64,
}

/// One programme transmission. Times are UTC; `stop` is exclusive (half-open interval).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programme {
    /// XMLTV channel id (the `channel` attribute).
    pub channel: String,
    pub start: UtcMs,
    pub stop: Option<UtcMs>,
    pub titles: Vec<LangText>,
    pub sub_titles: Vec<LangText>,
    pub descs: Vec<LangText>,
    pub categories: Vec<LangText>,
    pub episode_nums: Vec<EpisodeNum>,
    /// The first `<icon src>` (IPTV apps use only the first).
    pub icon: Option<String>,
    /// `<date>` as written (e.g. `2011`, `20111122`).
    pub date: Option<String>,
    pub ratings: Vec<Rating>,
    /// Line of the `<programme>` start tag in the source file (diagnostics; 0 when not parsed).
    pub line: u64,
}

impl Programme {
    /// A programme with only the required fields.
    pub fn new(channel: impl Into<String>, start: UtcMs, stop: Option<UtcMs>, title: &str) -> Self {
        Programme {
            channel: channel.into(),
            start,
            stop,
            titles: if title.is_empty() {
                Vec::new()
            } else {
                vec![LangText::new(None, title)]
            },
            sub_titles: Vec::new(),
            descs: Vec::new(),
            categories: Vec::new(),
            episode_nums: Vec::new(),
            icon: None,
            date: None,
            ratings: Vec::new(),
            line: 0,
        }
    }

    /// The first title, or `""`.
    pub fn title(&self) -> &str {
        first(&self.titles)
    }
    /// The first sub-title, if any.
    pub fn sub_title(&self) -> Option<&str> {
        self.sub_titles.first().map(|t| t.text.as_str())
    }
    /// The first description, if any.
    pub fn desc(&self) -> Option<&str> {
        self.descs.first().map(|t| t.text.as_str())
    }
    /// The first category, if any.
    pub fn category(&self) -> Option<&str> {
        self.categories.first().map(|t| t.text.as_str())
    }
    /// A display form of the episode: the `onscreen` number if present (e.g. `S01E02`), else the
    /// `xmltv_ns` number rendered as `S{s+1}E{e+1}` (zero-based in XMLTV), else the first value.
    pub fn episode(&self) -> Option<String> {
        if let Some(e) = self
            .episode_nums
            .iter()
            .find(|e| e.system.as_deref() == Some("onscreen"))
        {
            return Some(e.value.clone());
        }
        if let Some(e) = self
            .episode_nums
            .iter()
            .find(|e| e.system.as_deref() == Some("xmltv_ns"))
        {
            if let Some(s) = xmltv_ns_display(&e.value) {
                return Some(s);
            }
        }
        self.episode_nums.first().map(|e| e.value.clone())
    }
    /// The first text in `lang`, falling back to the first text at all.
    pub fn title_in(&self, lang: &str) -> &str {
        self.titles
            .iter()
            .find(|t| t.lang.as_deref() == Some(lang))
            .map(|t| t.text.as_str())
            .unwrap_or_else(|| self.title())
    }
    /// Duration in ms when `stop` is known.
    pub fn duration_ms(&self) -> Option<i64> {
        self.stop.map(|s| s.0 - self.start.0)
    }
}

fn first(v: &[LangText]) -> &str {
    v.first().map(|t| t.text.as_str()).unwrap_or("")
}

/// `"2 . 9 . 0/1"` → `S03E10`; `"18.50/30."` → `S19E51`; `".5."` → `E06`.
fn xmltv_ns_display(v: &str) -> Option<String> {
    let mut parts = v.split('.');
    let num = |p: Option<&str>| -> Option<u32> {
        let p = p?.trim();
        let p = p.split('/').next()?.trim();
        if p.is_empty() {
            None
        } else {
            p.parse::<u32>().ok().map(|n| n.saturating_add(1))
        }
    };
    let season = num(parts.next());
    let episode = num(parts.next());
    match (season, episode) {
        (Some(s), Some(e)) => Some(format!("S{s:02}E{e:02}")),
        (None, Some(e)) => Some(format!("E{e:02}")),
        (Some(s), None) => Some(format!("S{s:02}")),
        (None, None) => None,
    }
}

/// A non-fatal problem: one element was skipped or repaired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line of the element's start tag (0 when not from a file, e.g. from `normalise`).
    pub line: u64,
    /// The element concerned, e.g. `programme`, `channel`, `desc`.
    pub element: String,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: <{}>: {}",
            self.line, self.element, self.message
        )
    }
}

/// A parsed XMLTV document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Guide {
    pub channels: Vec<XChannel>,
    /// In file order, not normalised (see [`crate::normalise`]).
    pub programmes: Vec<Programme>,
    /// At most [`crate::MAX_WARNINGS`] warnings are kept; the rest are counted in
    /// `suppressed_warnings`.
    pub warnings: Vec<Warning>,
    pub suppressed_warnings: u64,
    /// `generator-info-name` of `<tv>`, if any.
    pub generator: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episode_display() {
        let mut p = Programme::new("c", UtcMs(0), None, "t");
        p.episode_nums.push(EpisodeNum {
            system: Some("xmltv_ns".into()),
            value: "2 . 9 . 0/1".into(),
        });
        assert_eq!(p.episode().as_deref(), Some("S03E10"));
        p.episode_nums.push(EpisodeNum {
            system: Some("onscreen".into()),
            value: "S01E02".into(),
        });
        assert_eq!(p.episode().as_deref(), Some("S01E02"));
        assert_eq!(xmltv_ns_display("18.50/30.").as_deref(), Some("S19E51"));
        assert_eq!(xmltv_ns_display(".5.").as_deref(), Some("E06"));
        assert_eq!(xmltv_ns_display("..").as_deref(), None);
    }
}
