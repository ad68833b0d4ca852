//! Tolerated problems become warnings; fatal ones say exactly what and where.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // an integration test: real tools and files

mod common;

use epg::{parse, parse_reader};

const GOOD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<tv>
  <channel id="a"><display-name>A</display-name></channel>
  <programme start="20261124190000 +0800" stop="20261124200000 +0800" channel="a">
    <title>一</title>
  </programme>
  <programme start="2026112420 +0800" stop="20261124210000 +0800" channel="a">
    <title>bad date</title>
  </programme>
  <programme start="20261124210000 +0800" stop="20261124220000 +0800" channel="a">
    <title>三</title>
  </programme>
</tv>
"#;

#[test]
fn bad_date_is_one_warning_and_the_rest_imports() {
    let mut xml = GOOD.replace("2026112420 +0800", "20261124XX0000 +0800");
    xml = xml.replace("bad date", "二");
    let g = parse(xml.as_bytes()).unwrap();
    assert_eq!(g.programmes.len(), 2);
    assert_eq!(g.programmes[0].title(), "一");
    assert_eq!(g.programmes[1].title(), "三");
    assert_eq!(g.warnings.len(), 1, "{:?}", g.warnings);
    let w = &g.warnings[0];
    assert_eq!((w.line, w.element.as_str()), (7, "programme"));
    assert!(w.message.contains("20261124XX0000"), "{w}");
}

#[test]
fn missing_attributes_and_bad_stop() {
    let xml = r#"<tv>
<programme start="20260101000000"><title>no channel</title></programme>
<programme channel="a"><title>no start</title></programme>
<programme channel="a" start="20260101000000" stop="tomorrow"><title>bad stop</title></programme>
<channel><display-name>no id</display-name></channel>
<programme channel="a" start="20260101010000" stop="20260101020000"><title>ok &amp; fine &#x4E2D;</title><desc>&bogus; entity</desc></programme>
</tv>"#;
    let g = parse(xml.as_bytes()).unwrap();
    let lines: Vec<(u64, &str)> = g
        .warnings
        .iter()
        .map(|w| (w.line, w.element.as_str()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (2, "programme"),
            (3, "programme"),
            (4, "programme"),
            (5, "channel"),
            (6, "desc")
        ],
        "{:#?}",
        g.warnings
    );
    assert_eq!(g.programmes.len(), 2);
    assert_eq!(g.programmes[0].stop, None);
    assert_eq!(g.programmes[1].title(), "ok & fine 中");
    assert!(g.programmes[1].descs.is_empty());
}

#[test]
fn truncated_document_is_fatal_with_line() {
    let cut = GOOD.find("<title>三").unwrap() + 4;
    let e = parse(&GOOD.as_bytes()[..cut]).unwrap_err();
    assert_eq!(e.line, 11, "{e}");
    assert!(
        e.message.contains("<programme>") || e.message.contains("programme"),
        "{e}"
    );

    let cut = GOOD.find("</tv>").unwrap();
    let e = parse(&GOOD.as_bytes()[..cut]).unwrap_err();
    assert!(e.message.contains("unexpected end of file"), "{e}");
    assert!(e.message.contains("<tv> from line 2"), "{e}");
    assert_eq!(e.line, 13);
}

#[test]
fn not_xmltv_is_fatal() {
    for (input, needle) in [
        (&b""[..], "no <tv> root"),
        (b"   \n ", "no <tv> root"),
        (b"{\"json\": true}", "not an XML document"),
        (
            b"<html><body>502 Bad Gateway</body></html>",
            "root element is <html>",
        ),
        (b"\x1f\x8b\x08\x00\x00\x00", "gzip"),
        (
            b"<?xml version=\"1.0\" encoding=\"GB2312\"?><tv></tv>",
            "GB2312",
        ),
        (b"<tv><programme></tv>", "malformed XML"),
        (b"<tv></tv><tv></tv>", "second root"),
    ] {
        let e = parse(input).unwrap_err();
        assert!(
            e.message.contains(needle),
            "{:?}: {e}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn wrong_encoding_is_fatal_with_line() {
    // Latin-1 bytes in a file that says (or defaults to) UTF-8.
    let xml = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tv>\n<programme channel=\"a\" start=\"20260101000000\">\n<title>Caf\xe9</title></programme>\n</tv>\n";
    let e = parse(xml).unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.contains("UTF-8"), "{e}");
    // Even inside an element we do not read.
    let xml = b"<tv>\n<programme channel=\"a\" start=\"20260101000000\"><credits><actor>Jos\xe9</actor></credits></programme></tv>";
    assert_eq!(parse(xml).unwrap_err().line, 2);
    // The same bytes declared as Latin-1 are transcoded.
    let xml = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<tv>\n<programme channel=\"a\" start=\"20260101000000\">\n<title>Caf\xe9 \x80</title></programme>\n</tv>\n";
    let g = parse(xml).unwrap();
    assert_eq!(g.programmes[0].title(), "Caf\u{e9} \u{80}");
    let xml = b"<?xml version=\"1.0\" encoding=\"windows-1252\"?>\n<tv><programme channel=\"a\" start=\"20260101000000\"><title>\x93Caf\xe9\x94 \x80</title></programme></tv>";
    let g = parse(xml).unwrap();
    assert_eq!(
        g.programmes[0].title(),
        "\u{201c}Caf\u{e9}\u{201d} \u{20ac}"
    );
}

#[test]
fn streaming_matches_slice_across_utf8_chunk_boundaries() {
    let xml = common::generated_guide(2, 1);
    let whole = parse(xml.as_bytes()).unwrap();
    for cap in [1, 2, 3, 5, 7, 64] {
        let r = std::io::BufReader::with_capacity(cap, xml.as_bytes());
        assert_eq!(parse_reader(r).unwrap(), whole, "capacity {cap}");
    }
}
