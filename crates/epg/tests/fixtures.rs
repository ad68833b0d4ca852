//! The public sample guides in ../shared/fixtures/xmltv parse, with counts checked by grep.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // an integration test: real tools and files

mod common;

use common::fixture;
use epg::{parse, LangText};

#[test]
fn simple_xml() {
    let g = parse(&fixture("simple.xml")).unwrap();
    assert!(g.warnings.is_empty(), "{:?}", g.warnings);
    assert_eq!(g.channels.len(), 0);
    assert_eq!(g.programmes.len(), 2);
    let p = &g.programmes[0];
    assert_eq!(p.channel, "bbc2.bbc.co.uk");
    // "20010829000500 BST" (BST = +0100)
    assert_eq!(p.start.to_rfc3339(), "2001-08-28T23:05:00.000Z");
    assert_eq!(p.stop, None);
    assert_eq!(p.title(), "The Phil Silvers Show");
    assert!(p.desc().unwrap().starts_with("Bilko claims"));
    assert!(p.desc().unwrap().ends_with("New York."));
    let p = &g.programmes[1];
    assert_eq!(p.sub_title(), Some("Meet the Propaniacs"));
    assert_eq!(p.category(), Some("animation"));
    assert_eq!(p.line, 13);
    // Neither has a stop and each is alone on its channel: normalise drops both (documented).
    let (n, w) = epg::normalise(g.programmes);
    assert!(n.is_empty());
    assert_eq!(w.len(), 2);
}

#[test]
fn test_xml_latin1_declared() {
    let g = parse(&fixture("test.xml")).unwrap();
    assert!(g.warnings.is_empty(), "{:?}", g.warnings);
    assert_eq!(g.channels.len(), 2);
    assert_eq!(g.channels[1].id, "das-erste.de");
    assert_eq!(
        g.channels[1].display_names,
        vec![
            LangText::new(Some("de"), "ARD"),
            LangText::new(Some("de"), "Das Erste")
        ]
    );
    assert_eq!(g.programmes.len(), 1);
    let p = &g.programmes[0];
    assert_eq!(p.start.to_rfc3339(), "2000-06-03T16:33:00.000Z");
    assert_eq!(p.titles.len(), 2);
    assert_eq!(p.title_in("en"), "blah");
    assert_eq!(p.desc(), Some("Blah Blah Blah."));
    assert_eq!(p.date.as_deref(), Some("19901011"));
    assert_eq!(p.categories, vec![LangText::new(Some("en"), "Comedy")]);
    assert_eq!(
        p.icon.as_deref(),
        Some("http://image.example.com/dgXPhzNJH8H.jpg")
    );
    assert_eq!(p.episode_nums.len(), 1);
    assert_eq!(p.episode().as_deref(), Some("S03E10"));
    assert_eq!(p.ratings.len(), 1); // star-rating is not a rating
    assert_eq!(p.ratings[0].system.as_deref(), Some("MPAA"));
    assert_eq!(p.ratings[0].value, "PG");
    assert_eq!(g.generator.as_deref(), Some("my listings generator"));
}

#[test]
fn multilanguage_xml() {
    let g = parse(&fixture("multilanguage.xml")).unwrap();
    assert!(g.warnings.is_empty(), "{:?}", g.warnings);
    assert_eq!(g.channels.len(), 1);
    assert_eq!(g.programmes.len(), 2);
    let total_titles: usize = g.programmes.iter().map(|p| p.titles.len()).sum();
    let total_cats: usize = g.programmes.iter().map(|p| p.categories.len()).sum();
    assert_eq!(total_titles, 9);
    assert_eq!(total_cats, 6);
    let p = &g.programmes[0];
    assert_eq!(
        p.titles[4],
        LangText::new(None, "Homes Under the Hammer - Empty Language")
    );
    assert_eq!(
        p.titles[5],
        LangText::new(None, "Homes Under the Hammer - No Language")
    );
    assert_eq!(p.title_in("en"), "Homes Under the Hammer - English");
    assert_eq!(p.stop.unwrap().0 - p.start.0, 3_600_000);
    let (n, w) = epg::normalise(g.programmes.clone());
    assert_eq!(n, g.programmes);
    assert!(w.is_empty());
}

#[test]
fn custom_xml_with_bom() {
    let g = parse(&fixture("custom.xml")).unwrap();
    assert!(g.warnings.is_empty(), "{:?}", g.warnings);
    assert_eq!(g.channels.len(), 1);
    let c = &g.channels[0];
    assert_eq!(c.id, "EPG123.10108.schedulesdirect.org");
    assert_eq!(c.display_names.len(), 5);
    assert_eq!(c.display_names[1].text, "CTV Toronto");
    assert_eq!(c.icon.as_deref(), Some("s10108_dark_360w_270h.png"));
    assert_eq!(c.urls, vec!["https://example.com/channel_one".to_owned()]);
    assert_eq!(g.programmes.len(), 1);
    let p = &g.programmes[0];
    assert_eq!(p.title(), "Unforgettable");
    assert_eq!(p.sub_title(), Some("Trajectories"));
    assert_eq!(p.categories.len(), 2);
    assert_eq!(p.episode_nums.len(), 2);
    assert_eq!(p.episode().as_deref(), Some("S01E10"));
    assert_eq!(p.icon.as_deref(), Some("p8680420_b_v3_bc.jpg"));
    assert_eq!(p.ratings.len(), 3);
    assert_eq!(p.ratings[2].value, "TV-14");
    assert_eq!(p.date.as_deref(), Some("20111122"));
    assert_eq!(p.start.to_rfc3339(), "2020-07-29T01:00:00.000Z");
    assert_eq!(p.stop.unwrap().to_rfc3339(), "2020-07-29T02:01:00.000Z");
}

#[test]
fn every_fixture_parses_streaming_with_tiny_buffers() {
    for entry in std::fs::read_dir(common::fixtures_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("xml") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let whole = parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let r = std::io::BufReader::with_capacity(3, bytes.as_slice());
        let streamed = epg::parse_reader(r).unwrap();
        assert_eq!(whole, streamed, "{}", path.display());
    }
}
