//! Streaming, tolerant XMLTV parser on top of `quick_xml::Reader` (no DOM).

use std::io::{BufRead, Cursor, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::model::{EpisodeNum, Guide, LangText, Programme, Rating, Warning, XChannel};
use crate::time::parse_xmltv_time;

/// At most this many warnings are kept in [`Guide::warnings`]; the rest are only counted.
pub const MAX_WARNINGS: usize = 1000;

/// A fatal problem: the document as a whole cannot be trusted and the caller should keep its last
/// good guide. `line` is 1-based (0 when the problem is before any line, e.g. gzip magic).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: u64,
    pub message: String,
    /// Set when the document broke one of the [`ParseLimits`] (not a fault in the XML itself).
    pub limit: Option<ParseLimit>,
}

/// Which of the [`ParseLimits`] a document broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseLimit {
    /// [`ParseLimits::max_event_bytes`]
    EventBytes,
    /// [`ParseLimits::max_entries`]
    Entries,
}

fn fatal(line: u64, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
        limit: None,
    }
}

fn over_limit(line: u64, message: impl Into<String>, limit: ParseLimit) -> ParseError {
    ParseError {
        limit: Some(limit),
        ..fatal(line, message)
    }
}

/// Parses a whole XMLTV document held in memory. Same as [`parse_reader`].
pub fn parse(xml: &[u8]) -> Result<Guide, ParseError> {
    parse_reader(xml)
}

/// Parses an XMLTV document from any buffered reader, streaming: memory is bounded by the
/// largest single element plus the resulting [`Guide`], never by the document as a tree.
///
/// Encodings: UTF-8 (with or without BOM, also declared as `US-ASCII`), and `ISO-8859-1`/`latin1`
/// and `windows-1252`, transcoded here. Any other declared encoding, UTF-16, gzip data or bytes
/// that are not valid UTF-8 are fatal, with the line.
pub fn parse_reader<R: BufRead>(input: R) -> Result<Guide, ParseError> {
    parse_reader_with(input, &ParseLimits::default())
}

/// The parser's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseLimits {
    /// Most bytes one XML event (a start tag, a text run, a comment…) may span: the parser's
    /// memory beyond the resulting guide. A document over it fails, with the line.
    pub max_event_bytes: usize,
    /// Most `<channel>` plus `<programme>` entries one document may hold (the resulting guide's
    /// memory). A document over it fails, with the line.
    pub max_entries: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_event_bytes: 1 << 20,
            max_entries: 500_000,
        }
    }
}

/// [`parse_reader`] with explicit limits.
pub fn parse_reader_with<R: BufRead>(
    mut input: R,
    limits: &ParseLimits,
) -> Result<Guide, ParseError> {
    let (max, entries) = (limits.max_event_bytes, limits.max_entries);
    let mut prefix = Vec::with_capacity(1024);
    (&mut input)
        .take(1024)
        .read_to_end(&mut prefix)
        .map_err(|e| fatal(1, format!("read error: {e}")))?;
    let encoding = sniff_encoding(&prefix)?;
    let chained = Cursor::new(prefix).chain(input);
    match encoding {
        Enc::Utf8 => run(Tracked::new(chained, max), entries),
        Enc::Latin1 => run(Tracked::new(SingleByte::new(chained, false), max), entries),
        Enc::Cp1252 => run(Tracked::new(SingleByte::new(chained, true), max), entries),
    }
}

// ---------------------------------------------------------------------------------------------
// Encodings

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enc {
    Utf8,
    Latin1,
    Cp1252,
}

fn sniff_encoding(prefix: &[u8]) -> Result<Enc, ParseError> {
    if prefix.starts_with(&[0x1f, 0x8b]) {
        return Err(fatal(
            0,
            "gzip-compressed data, not XML: decompress it before parsing",
        ));
    }
    if prefix.starts_with(&[0xff, 0xfe])
        || prefix.starts_with(&[0xfe, 0xff])
        || prefix.starts_with(&[0x00, b'<'])
        || prefix.starts_with(&[b'<', 0x00])
    {
        return Err(fatal(
            1,
            "UTF-16 encoded document: unsupported encoding (only UTF-8, ISO-8859-1 and windows-1252)",
        ));
    }
    let p = prefix
        .strip_prefix(&[0xef, 0xbb, 0xbf][..])
        .unwrap_or(prefix);
    let start = p
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(p.len());
    let p = &p[start..];
    if !p.starts_with(b"<?xml") {
        return Ok(Enc::Utf8);
    }
    let Some(end) = find(p, b"?>") else {
        return Ok(Enc::Utf8); // unterminated declaration: the XML reader reports it
    };
    let decl = &p[..end];
    let Some(at) = find(decl, b"encoding") else {
        return Ok(Enc::Utf8);
    };
    let rest = &decl[at + 8..];
    let rest = trim_ascii_start(rest);
    let Some(rest) = rest.strip_prefix(b"=") else {
        return Ok(Enc::Utf8);
    };
    let rest = trim_ascii_start(rest);
    let Some((&q, rest)) = rest.split_first() else {
        return Ok(Enc::Utf8);
    };
    if q != b'"' && q != b'\'' {
        return Ok(Enc::Utf8);
    }
    let Some(close) = rest.iter().position(|&c| c == q) else {
        return Ok(Enc::Utf8);
    };
    let name = String::from_utf8_lossy(&rest[..close]).to_ascii_lowercase();
    match name.as_str() {
        "utf-8" | "utf8" | "us-ascii" | "ascii" => Ok(Enc::Utf8),
        "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1" | "cp819"
        | "iso-ir-100" => Ok(Enc::Latin1),
        "windows-1252" | "cp1252" | "x-cp1252" => Ok(Enc::Cp1252),
        _ => Err(fatal(
            1,
            format!(
                "<?xml?> declares encoding {:?}, which is not supported \
                 (only UTF-8, ISO-8859-1 and windows-1252); convert the file to UTF-8",
                String::from_utf8_lossy(&rest[..close])
            ),
        )),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

/// windows-1252 code points for 0x80..=0x9F (undefined ones map like latin1).
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{81}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{8D}', '\u{017D}', '\u{8F}',
    '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{9D}', '\u{017E}', '\u{0178}',
];

/// Transcodes a single-byte encoding (ISO-8859-1 or windows-1252) to UTF-8, as a `BufRead`.
struct SingleByte<R> {
    inner: R,
    cp1252: bool,
    out: Vec<u8>,
    pos: usize,
}

impl<R: BufRead> SingleByte<R> {
    fn new(inner: R, cp1252: bool) -> Self {
        SingleByte {
            inner,
            cp1252,
            out: Vec::with_capacity(16 * 1024),
            pos: 0,
        }
    }
}

impl<R: BufRead> Read for SingleByte<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for SingleByte<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos >= self.out.len() {
            self.out.clear();
            self.pos = 0;
            let src = self.inner.fill_buf()?;
            let n = src.len().min(8 * 1024);
            for &b in &src[..n] {
                let c = if self.cp1252 && (0x80..0xa0).contains(&b) {
                    CP1252_HIGH[usize::from(b - 0x80)]
                } else {
                    char::from(b)
                };
                let mut tmp = [0u8; 4];
                self.out
                    .extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
            self.inner.consume(n);
        }
        Ok(&self.out[self.pos..])
    }
    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.out.len());
    }
}

/// Counts lines of consumed bytes and validates that they are UTF-8, as a `BufRead` in front of
/// the XML reader.
struct Tracked<R> {
    inner: R,
    st: Utf8State,
    /// Bytes consumed since the current XML event began, and the most allowed.
    since_event: usize,
    max_event: usize,
}

#[derive(Default)]
struct Utf8State {
    /// Number of `\n` consumed so far.
    newlines: u64,
    pending: [u8; 4],
    pending_len: usize,
    /// Line of the first invalid UTF-8 sequence.
    utf8_error: Option<u64>,
}

impl<R: BufRead> Tracked<R> {
    fn new(inner: R, max_event: usize) -> Self {
        Tracked {
            inner,
            st: Utf8State::default(),
            since_event: 0,
            max_event,
        }
    }
    fn line(&self) -> u64 {
        self.st.newlines + 1
    }
}

impl Utf8State {
    /// Accounts for consumed bytes: counts newlines, validates UTF-8 across chunk boundaries.
    fn feed(&mut self, mut data: &[u8]) {
        let total_nl = count_newlines(data);
        if self.utf8_error.is_none() && !(self.pending_len == 0 && data.is_ascii()) {
            self.check(&mut data);
        }
        self.newlines += total_nl;
    }

    fn check(&mut self, data: &mut &[u8]) {
        let line = self.newlines + 1;
        while self.pending_len > 0 {
            let Some((&b, rest)) = data.split_first() else {
                return;
            };
            self.pending[self.pending_len] = b;
            self.pending_len += 1;
            *data = rest;
            match std::str::from_utf8(&self.pending[..self.pending_len]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() && self.pending_len < 4 => {}
                Err(_) => {
                    self.utf8_error = Some(line);
                    return;
                }
            }
        }
        if let Err(e) = std::str::from_utf8(data) {
            let valid = e.valid_up_to();
            match e.error_len() {
                None => {
                    let rest = &data[valid..];
                    self.pending[..rest.len()].copy_from_slice(rest);
                    self.pending_len = rest.len();
                }
                Some(_) => {
                    self.utf8_error = Some(line + count_newlines(&data[..valid]));
                }
            }
        }
    }
}

fn count_newlines(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

impl<R: BufRead> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Tracked<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.since_event > self.max_event {
            return Err(std::io::Error::other(format!(
                "one XML element or text run larger than {} bytes",
                self.max_event
            )));
        }
        // never more than one past the limit at a time, so the check above comes in time
        let room = (self.max_event + 1 - self.since_event).max(1);
        let avail = self.inner.fill_buf()?;
        Ok(&avail[..avail.len().min(room)])
    }
    fn consume(&mut self, amt: usize) {
        if amt == 0 {
            return;
        }
        self.since_event = self.since_event.saturating_add(amt);
        // The bytes being consumed are the front of the inner buffer (`fill_buf` on a non-empty
        // buffer does not read).
        if let Ok(buf) = self.inner.fill_buf() {
            let n = amt.min(buf.len());
            self.st.feed(&buf[..n]);
        }
        self.inner.consume(amt);
    }
}

// ---------------------------------------------------------------------------------------------
// The event loop

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Title,
    SubTitle,
    Desc,
    Category,
    EpisodeNum,
    Date,
    DisplayName,
    ChannelUrl,
    RatingValue,
}

/// Text being collected for a leaf element.
struct Capture {
    /// Stack depth of the leaf element (its index in `stack`).
    depth: usize,
    field: Field,
    /// `lang` or `system`.
    attr: Option<String>,
    text: String,
    error: Option<String>,
    line: u64,
    name: &'static str,
}

struct ProgrammeBuilder {
    p: Programme,
    /// Why the whole programme is skipped.
    bad: Option<String>,
    /// `system` of the open `<rating>`.
    rating: Option<Option<String>>,
}

struct ChannelBuilder {
    c: XChannel,
    bad: Option<String>,
}

struct State {
    guide: Guide,
    stack: Vec<(Vec<u8>, u64)>,
    root_seen: bool,
    root_closed: bool,
    programme: Option<ProgrammeBuilder>,
    channel: Option<ChannelBuilder>,
    capture: Option<Capture>,
}

impl State {
    fn warn(&mut self, line: u64, element: &str, message: impl Into<String>) {
        if self.guide.warnings.len() < MAX_WARNINGS {
            self.guide.warnings.push(Warning {
                line,
                element: element.to_owned(),
                message: message.into(),
            });
        } else {
            self.guide.suppressed_warnings += 1;
        }
    }
}

fn name_str(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// All attributes as (name, value); an attribute error is returned as `Err(message)`.
fn attributes(
    e: &BytesStart<'_>,
    decoder: quick_xml::encoding::Decoder,
) -> Result<Vec<(Vec<u8>, String)>, String> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| format!("bad attribute: {err}"))?;
        let v = a
            .decode_and_unescape_value(decoder)
            .map_err(|err| format!("bad value of attribute {}: {err}", name_str(a.key.as_ref())))?;
        out.push((a.key.as_ref().to_vec(), v.into_owned()));
    }
    Ok(out)
}

fn attr<'a>(attrs: &'a [(Vec<u8>, String)], name: &[u8]) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k.as_slice() == name)
        .map(|(_, v)| v.as_str())
}

fn lang_of(attrs: &[(Vec<u8>, String)], name: &[u8]) -> Option<String> {
    attr(attrs, name)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn run<R: BufRead>(input: Tracked<R>, max_entries: usize) -> Result<Guide, ParseError> {
    let mut reader = Reader::from_reader(input);
    {
        let cfg = reader.config_mut();
        cfg.trim_text(false);
        cfg.check_end_names = true;
        cfg.expand_empty_elements = false;
    }
    let mut st = State {
        guide: Guide::default(),
        stack: Vec::with_capacity(16),
        root_seen: false,
        root_closed: false,
        programme: None,
        channel: None,
        capture: None,
    };
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        buf.shrink_to(64 << 10); // one big event does not pin its buffer for the rest
        reader.get_mut().since_event = 0;
        let line = reader.get_ref().line();
        let ev = reader.read_event_into(&mut buf);
        if let Some(bad_line) = reader.get_ref().st.utf8_error {
            return Err(fatal(
                bad_line,
                format!(
                    "invalid UTF-8{}: the file is not UTF-8 (declare its real encoding, e.g. \
                     <?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>, or convert it)",
                    open_context(&st)
                ),
            ));
        }
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                let tracked = reader.get_ref();
                if tracked.since_event > tracked.max_event {
                    return Err(over_limit(
                        tracked.line(),
                        format!(
                            "one XML element or text run larger than {} bytes",
                            tracked.max_event
                        ),
                        ParseLimit::EventBytes,
                    ));
                }
                return Err(fatal(
                    tracked.line(),
                    format!("malformed XML{}: {e}", open_context(&st)),
                ));
            }
        };
        let decoder = reader.decoder();
        match ev {
            Event::Start(e) => {
                start_element(&mut st, &e, line, decoder)?;
                st.stack.push((e.name().as_ref().to_vec(), line));
            }
            Event::Empty(e) => {
                start_element(&mut st, &e, line, decoder)?;
                st.stack.push((e.name().as_ref().to_vec(), line));
                end_element(&mut st);
                if st.guide.programmes.len() + st.guide.channels.len() > max_entries {
                    return Err(over_limit(
                        line,
                        format!("more than {max_entries} channels and programmes"),
                        ParseLimit::Entries,
                    ));
                }
            }
            Event::End(_) => {
                end_element(&mut st);
                if st.guide.programmes.len() + st.guide.channels.len() > max_entries {
                    return Err(over_limit(
                        line,
                        format!("more than {max_entries} channels and programmes"),
                        ParseLimit::Entries,
                    ));
                }
            }
            Event::Text(t) => {
                let in_capture = matches!(&st.capture, Some(c) if c.depth + 1 == st.stack.len());
                if in_capture {
                    let s = t
                        .xml10_content()
                        .map_err(|e| fatal(line, format!("bad text{}: {e}", open_context(&st))))?;
                    if let Some(c) = st.capture.as_mut() {
                        c.text.push_str(&s);
                    }
                } else if st.stack.is_empty() && !t.iter().all(u8::is_ascii_whitespace) {
                    if !st.root_seen {
                        return Err(fatal(
                            line,
                            "text before the root element: this is not an XML document",
                        ));
                    }
                    st.warn(line, "tv", "text after the end of </tv> ignored");
                }
            }
            Event::CData(t) => {
                if let Some(c) = st.capture.as_mut() {
                    if c.depth + 1 == st.stack.len() {
                        let s = t.xml10_content().map_err(|e| fatal(line, format!("{e}")))?;
                        c.text.push_str(&s);
                    }
                }
            }
            Event::GeneralRef(r) => {
                let depth = st.stack.len();
                if let Some(c) = st.capture.as_mut() {
                    if c.depth + 1 == depth {
                        match r.resolve_char_ref() {
                            Ok(Some(ch)) => c.text.push(ch),
                            Ok(None) => {
                                let name = String::from_utf8_lossy(&r).into_owned();
                                match quick_xml::escape::resolve_predefined_entity(&name) {
                                    Some(s) => c.text.push_str(s),
                                    None => {
                                        if c.error.is_none() {
                                            c.error = Some(format!("unknown entity &{name};"));
                                        }
                                    }
                                }
                            }
                            Err(e) => {
                                if c.error.is_none() {
                                    c.error = Some(format!("bad character reference: {e}"));
                                }
                            }
                        }
                    }
                } else if st.stack.is_empty() && !st.root_seen {
                    return Err(fatal(
                        line,
                        "entity before the root element: this is not an XML document",
                    ));
                }
            }
            Event::Eof => {
                if reader.get_ref().st.pending_len > 0 {
                    return Err(fatal(
                        reader.get_ref().line(),
                        "invalid UTF-8 at the end of the file (truncated multi-byte character)",
                    ));
                }
                if let Some((name, open_line)) = st.stack.last() {
                    let root_line = st.stack.first().map(|s| s.1).unwrap_or(0);
                    return Err(fatal(
                        reader.get_ref().line(),
                        format!(
                            "unexpected end of file (truncated document): <{}> opened at line {} \
                             is not closed, and <tv> from line {} is not closed",
                            name_str(name),
                            open_line,
                            root_line
                        ),
                    ));
                }
                if !st.root_seen {
                    return Err(fatal(
                        reader.get_ref().line(),
                        "no <tv> root element: empty or not an XMLTV document",
                    ));
                }
                break;
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    Ok(st.guide)
}

/// `" inside <programme> (line 12)"` for error messages.
fn open_context(st: &State) -> String {
    match st.stack.last() {
        Some((name, line)) => format!(" inside <{}> opened at line {line}", name_str(name)),
        None => String::new(),
    }
}

fn start_element(
    st: &mut State,
    e: &BytesStart<'_>,
    line: u64,
    decoder: quick_xml::encoding::Decoder,
) -> Result<(), ParseError> {
    let depth = st.stack.len();
    let name = e.name();
    let name = name.as_ref();
    if depth == 0 {
        if st.root_seen {
            return Err(fatal(
                line,
                format!("second root element <{}> after </tv>", name_str(name)),
            ));
        }
        if name != b"tv" {
            return Err(fatal(
                line,
                format!(
                    "root element is <{}>, expected <tv>: not an XMLTV document",
                    name_str(name)
                ),
            ));
        }
        st.root_seen = true;
        if let Ok(attrs) = attributes(e, decoder) {
            st.guide.generator = attr(&attrs, b"generator-info-name").map(str::to_owned);
        }
        return Ok(());
    }
    if st.capture.is_some() {
        return Ok(()); // markup nested in a text element: ignored
    }
    if depth == 1 {
        match name {
            b"programme" => {
                let mut b = ProgrammeBuilder {
                    p: Programme::new(String::new(), media::UtcMs(0), None, ""),
                    bad: None,
                    rating: None,
                };
                b.p.line = line;
                match attributes(e, decoder) {
                    Err(m) => b.bad = Some(m),
                    Ok(attrs) => {
                        match attr(&attrs, b"channel").map(str::trim) {
                            Some(c) if !c.is_empty() => b.p.channel = c.to_owned(),
                            _ => b.bad = Some("missing channel attribute".into()),
                        }
                        if b.bad.is_none() {
                            match attr(&attrs, b"start") {
                                None => b.bad = Some("missing start attribute".into()),
                                Some(s) => match parse_xmltv_time(s) {
                                    Ok(t) => b.p.start = t,
                                    Err(m) => b.bad = Some(format!("start: {m}")),
                                },
                            }
                        }
                        if b.bad.is_none() {
                            if let Some(s) = attr(&attrs, b"stop") {
                                if !s.trim().is_empty() {
                                    match parse_xmltv_time(s) {
                                        Ok(t) => b.p.stop = Some(t),
                                        Err(m) => st.warn(
                                            line,
                                            "programme",
                                            format!("stop ignored (ends at the next start): {m}"),
                                        ),
                                    }
                                }
                            }
                        }
                    }
                }
                st.programme = Some(b);
            }
            b"channel" => {
                let mut b = ChannelBuilder {
                    c: XChannel {
                        line,
                        ..XChannel::default()
                    },
                    bad: None,
                };
                match attributes(e, decoder) {
                    Err(m) => b.bad = Some(m),
                    Ok(attrs) => match attr(&attrs, b"id").map(str::trim) {
                        Some(id) if !id.is_empty() => b.c.id = id.to_owned(),
                        _ => b.bad = Some("missing id attribute".into()),
                    },
                }
                st.channel = Some(b);
            }
            _ => {}
        }
        return Ok(());
    }
    // depth >= 2
    let parent = &st.stack[depth - 1].0;
    let in_programme = st.programme.is_some() && depth == 2;
    let in_channel = st.channel.is_some() && depth == 2;
    let in_rating = st.programme.is_some() && depth == 3 && parent.as_slice() == b"rating";
    let (field, attr_name, elem): (Field, &[u8], &'static str) = if in_programme {
        match name {
            b"title" => (Field::Title, b"lang", "title"),
            b"sub-title" => (Field::SubTitle, b"lang", "sub-title"),
            b"desc" => (Field::Desc, b"lang", "desc"),
            b"category" => (Field::Category, b"lang", "category"),
            b"episode-num" => (Field::EpisodeNum, b"system", "episode-num"),
            b"date" => (Field::Date, b"", "date"),
            b"icon" => {
                if let Ok(attrs) = attributes(e, decoder) {
                    if let (Some(b), Some(src)) = (st.programme.as_mut(), attr(&attrs, b"src")) {
                        if b.p.icon.is_none() && !src.trim().is_empty() {
                            b.p.icon = Some(src.trim().to_owned());
                        }
                    }
                }
                return Ok(());
            }
            b"rating" => {
                let system = attributes(e, decoder)
                    .ok()
                    .and_then(|a| lang_of(&a, b"system"));
                if let Some(b) = st.programme.as_mut() {
                    b.rating = Some(system);
                }
                return Ok(());
            }
            _ => return Ok(()),
        }
    } else if in_channel {
        match name {
            b"display-name" => (Field::DisplayName, b"lang", "display-name"),
            b"url" => (Field::ChannelUrl, b"", "url"),
            b"icon" => {
                if let Ok(attrs) = attributes(e, decoder) {
                    if let (Some(b), Some(src)) = (st.channel.as_mut(), attr(&attrs, b"src")) {
                        if b.c.icon.is_none() && !src.trim().is_empty() {
                            b.c.icon = Some(src.trim().to_owned());
                        }
                    }
                }
                return Ok(());
            }
            _ => return Ok(()),
        }
    } else if in_rating && name == b"value" {
        (Field::RatingValue, b"", "value")
    } else {
        return Ok(());
    };
    let mut cap = Capture {
        depth,
        field,
        attr: None,
        text: String::new(),
        error: None,
        line,
        name: elem,
    };
    match attributes(e, decoder) {
        Ok(attrs) => {
            if !attr_name.is_empty() {
                cap.attr = lang_of(&attrs, attr_name);
            }
        }
        Err(m) => cap.error = Some(m),
    }
    if field == Field::RatingValue {
        cap.attr = st
            .programme
            .as_ref()
            .and_then(|b| b.rating.clone())
            .flatten();
    }
    st.capture = Some(cap);
    Ok(())
}

fn end_element(st: &mut State) {
    let Some((name, line)) = st.stack.pop() else {
        return;
    };
    let depth = st.stack.len();
    if matches!(&st.capture, Some(c) if c.depth == depth) {
        let c = st.capture.take().expect("checked");
        finish_capture(st, c);
        return;
    }
    match depth {
        0 => st.root_closed = true,
        1 => match name.as_slice() {
            b"programme" => {
                if let Some(b) = st.programme.take() {
                    match b.bad {
                        Some(m) => st.warn(line, "programme", format!("skipped: {m}")),
                        None => st.guide.programmes.push(b.p),
                    }
                }
            }
            b"channel" => {
                if let Some(b) = st.channel.take() {
                    match b.bad {
                        Some(m) => st.warn(line, "channel", format!("skipped: {m}")),
                        None => st.guide.channels.push(b.c),
                    }
                }
            }
            _ => {}
        },
        2 if name.as_slice() == b"rating" => {
            if let Some(b) = st.programme.as_mut() {
                b.rating = None;
            }
        }
        _ => {}
    }
}

fn finish_capture(st: &mut State, c: Capture) {
    if let Some(m) = c.error {
        let skipped = if matches!(c.field, Field::DisplayName | Field::ChannelUrl) {
            "channel kept"
        } else {
            "programme kept"
        };
        st.warn(c.line, c.name, format!("element skipped ({skipped}): {m}"));
        return;
    }
    let text = c.text.trim();
    if text.is_empty() {
        return;
    }
    let text = text.to_owned();
    if let Some(b) = st.programme.as_mut() {
        let p = &mut b.p;
        match c.field {
            Field::Title => p.titles.push(LangText { lang: c.attr, text }),
            Field::SubTitle => p.sub_titles.push(LangText { lang: c.attr, text }),
            Field::Desc => p.descs.push(LangText { lang: c.attr, text }),
            Field::Category => p.categories.push(LangText { lang: c.attr, text }),
            Field::EpisodeNum => p.episode_nums.push(EpisodeNum {
                system: c.attr,
                value: text,
            }),
            Field::Date => {
                if p.date.is_none() {
                    p.date = Some(text)
                }
            }
            Field::RatingValue => p.ratings.push(Rating {
                system: c.attr,
                value: text,
            }),
            Field::DisplayName | Field::ChannelUrl => {}
        }
    } else if let Some(b) = st.channel.as_mut() {
        match c.field {
            Field::DisplayName => b.c.display_names.push(LangText { lang: c.attr, text }),
            Field::ChannelUrl => b.c.urls.push(text),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_huge_text_run_is_refused_not_buffered() {
        let mut xml = b"<tv>".to_vec();
        xml.extend(std::iter::repeat_n(b' ', 3 << 20));
        xml.extend_from_slice(b"</tv>");
        let e = parse_reader_with(
            &xml[..],
            &ParseLimits {
                max_event_bytes: 1 << 20,
                max_entries: 10,
            },
        )
        .unwrap_err();
        assert!(e.message.contains("larger than 1048576 bytes"), "{e}");
        assert_eq!(e.limit, Some(ParseLimit::EventBytes));
        assert!(parse_reader_with(
            &xml[..],
            &ParseLimits {
                max_event_bytes: 4 << 20,
                max_entries: 10,
            }
        )
        .is_ok());
        // many small events are fine whatever the total
        let mut ok = b"<tv>".to_vec();
        for _ in 0..3000 {
            ok.extend_from_slice(&[b' '; 1000]);
            ok.extend_from_slice(b"<!-- -->");
        }
        ok.extend_from_slice(b"</tv>");
        assert!(parse_reader_with(
            &ok[..],
            &ParseLimits {
                max_event_bytes: 64 << 10,
                max_entries: 10,
            }
        )
        .is_ok());
        // and the entries are counted, written either way
        let lim = ParseLimits {
            max_event_bytes: 1 << 20,
            max_entries: 10,
        };
        let doc = |n: usize, last_empty: bool| {
            let mut x = String::from("<tv>");
            for i in 0..n {
                if last_empty && i + 1 == n {
                    x.push_str(&format!("<channel id=\"c{i}\"/>"));
                } else {
                    x.push_str(&format!("<channel id=\"c{i}\"></channel>"));
                }
            }
            x + "</tv>"
        };
        assert_eq!(
            parse_reader_with(doc(10, false).as_bytes(), &lim)
                .unwrap()
                .channels
                .len(),
            10
        );
        for last_empty in [false, true] {
            let e = parse_reader_with(doc(11, last_empty).as_bytes(), &lim).unwrap_err();
            assert_eq!(e.message, "more than 10 channels and programmes");
            assert_eq!(e.limit, Some(ParseLimit::Entries));
        }
    }

    #[test]
    fn lines_are_tracked() {
        let xml = b"<?xml version=\"1.0\"?>\n<tv>\n  <channel id=\"a\">\n    <display-name>A</display-name>\n  </channel>\n\n  <programme channel=\"a\" start=\"bad\">\n    <title>x</title>\n  </programme>\n  <programme channel=\"a\" start=\"20260101000000\">\n    <title>x &nbsp; y</title>\n  </programme>\n</tv>\n";
        let g = parse(xml).unwrap();
        assert_eq!(g.channels[0].line, 3);
        assert_eq!(g.warnings.len(), 2, "{:?}", g.warnings);
        assert_eq!(g.warnings[0].line, 7);
        assert_eq!(g.warnings[0].element, "programme");
        assert_eq!(g.warnings[1].line, 11);
        assert_eq!(g.warnings[1].element, "title");
        assert!(g.warnings[1].message.contains("&nbsp;"));
        assert_eq!(g.programmes.len(), 1);
        assert_eq!(g.programmes[0].line, 10);
        assert!(g.programmes[0].titles.is_empty());
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff_encoding(b"<tv/>").unwrap(), Enc::Utf8);
        assert_eq!(
            sniff_encoding(b"\xef\xbb\xbf<?xml version='1.0' encoding = 'Latin1' ?>").unwrap(),
            Enc::Latin1
        );
        assert_eq!(
            sniff_encoding(b"<?xml version=\"1.0\" encoding=\"windows-1252\"?>").unwrap(),
            Enc::Cp1252
        );
        let e = sniff_encoding(b"<?xml version=\"1.0\" encoding=\"GB2312\"?>").unwrap_err();
        assert!(e.message.contains("GB2312"), "{e}");
        assert!(sniff_encoding(b"\x1f\x8b\x08").is_err());
        assert!(sniff_encoding(b"\xff\xfe<\0").is_err());
    }
}
