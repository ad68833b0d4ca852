//! parse → normalise → write_xmltv → parse is exact, and the output is DTD-valid (xmllint).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // an integration test: real tools and files

mod common;

use std::process::Command;

use epg::{normalise, parse, write_xmltv, ExportChannel, LangText, Programme, UtcMs};

fn export_channels(g: &epg::Guide) -> Vec<ExportChannel> {
    g.channels
        .iter()
        .map(|c| ExportChannel {
            id: c.id.clone(),
            name: c
                .display_names
                .first()
                .map(|d| d.text.clone())
                .unwrap_or_default(),
            icon: c.icon.clone(),
        })
        .collect()
}

#[test]
fn chinese_plus0800_round_trip_is_exact() {
    let xml = common::generated_guide(3, 2);
    let g = parse(xml.as_bytes()).unwrap();
    assert!(g.warnings.is_empty(), "{:?}", g.warnings);
    assert_eq!(g.programmes.len(), 3 * 2 * 48);
    let p = &g.programmes[38]; // 19:00 local on day 0, channel 0
    assert_eq!(p.start.to_rfc3339(), "2026-11-24T11:00:00.000Z");
    assert_eq!(p.title(), "新闻联播 第0天 38号 & 天气预报");
    assert_eq!(
        p.desc(),
        Some("今天的主要内容：国内外重要新闻、经济、体育。中文 <直播>")
    );
    let (progs, w) = normalise(g.programmes.clone());
    assert!(w.is_empty(), "{w:?}");

    let mut out = Vec::new();
    write_xmltv(&export_channels(&g), &progs, "atoll", &mut out);
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(text.contains("<title lang=\"zh\">新闻联播 第0天 38号 &amp; 天气预报</title>"));
    assert!(text.contains("start=\"20261124110000 +0000\" stop=\"20261124113000 +0000\""));
    let g2 = parse(&out).unwrap();
    assert!(g2.warnings.is_empty());
    assert_eq!(
        common::strip_lines(g2.programmes),
        common::strip_lines(progs)
    );
    assert_eq!(g2.channels.len(), 3);
    assert_eq!(g2.channels[1].display_names[0].text, "频道1 综合");
    xmllint_valid(&out, "generated");
}

fn tricky_programme() -> Programme {
    let mut p = Programme::new(
        "a&b \"c\" <d>",
        UtcMs(1_795_000_000_000),
        Some(UtcMs(1_795_000_000_000 + 1_800_000)),
        "",
    );
    p.titles = vec![
        LangText::new(Some("zh"), "标题 <一> & \"二\" 'three' ]]> \u{1}ctl"),
        LangText::new(None, "second"),
    ];
    p.sub_titles = vec![LangText::new(Some("en"), "sub")];
    p.descs = vec![LangText::new(None, "line one\nline two\ttab")];
    p.categories = vec![LangText::new(Some("zh"), "新闻")];
    p.date = Some("2026".into());
    p.icon = Some("http://x/i.png?a=1&b=2".into());
    p.episode_nums = vec![
        epg::EpisodeNum {
            system: Some("xmltv_ns".into()),
            value: "0.1.".into(),
        },
        epg::EpisodeNum {
            system: None,
            value: "S01E02".into(),
        },
    ];
    p.ratings = vec![epg::Rating {
        system: Some("CN".into()),
        value: "G".into(),
    }];
    p
}

#[test]
fn escaping_and_every_field_round_trip() {
    let p = tricky_programme();
    let mut untitled = Programme::new("a&b \"c\" <d>", p.stop.unwrap(), None, "");
    untitled.stop = Some(UtcMs(p.stop.unwrap().0 + 60_000));
    let chans = vec![ExportChannel {
        id: "a&b \"c\" <d>".into(),
        name: "频道 & <name>".into(),
        icon: Some("http://x/l.png?x=\"1\"".into()),
    }];
    let mut out = Vec::new();
    write_xmltv(
        &chans,
        &[p.clone(), untitled.clone()],
        "gen \"x\" & y",
        &mut out,
    );
    let g = parse(&out).unwrap();
    assert!(g.warnings.is_empty(), "{:?}", g.warnings);
    let mut expected = p.clone();
    expected.titles[0].text = "标题 <一> & \"二\" 'three' ]]> ctl".into(); // control char dropped
    assert_eq!(common::strip_lines(g.programmes.clone())[0], expected);
    assert!(g.programmes[1].titles.is_empty());
    assert_eq!(g.channels[0].id, chans[0].id);
    assert_eq!(g.channels[0].display_names[0].text, chans[0].name);
    assert_eq!(g.channels[0].icon, chans[0].icon);
    assert_eq!(g.generator.as_deref(), Some("gen \"x\" & y"));
    xmllint_valid(&out, "tricky");
}

#[test]
fn fixtures_re_exported_are_dtd_valid() {
    for name in ["simple.xml", "test.xml", "multilanguage.xml", "custom.xml"] {
        let g = parse(&common::fixture(name)).unwrap();
        let mut out = Vec::new();
        write_xmltv(&export_channels(&g), &g.programmes, "atoll", &mut out);
        let g2 = parse(&out).unwrap();
        assert_eq!(
            common::strip_lines(g2.programmes),
            common::strip_lines(g.programmes),
            "{name}"
        );
        xmllint_valid(&out, name);
    }
}

/// Validates with `xmllint --dtdvalid` against the XMLTV DTD; xmllint is required (a missing
/// tool fails the test; `apt-get install -y libxml2-utils`).
fn xmllint_valid(xml: &[u8], label: &str) {
    let dtd = common::fixtures_dir().join("xmltv.dtd");
    let path = std::env::temp_dir().join(format!(
        "epg-xmllint-{}-{}.xml",
        std::process::id(),
        label.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    ));
    std::fs::write(&path, xml).unwrap();
    let res = Command::new("xmllint")
        .arg("--noout")
        .arg("--dtdvalid")
        .arg(&dtd)
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    match res {
        Err(e) => panic!("running xmllint (required; apt-get install -y libxml2-utils): {e}"),
        Ok(o) => assert!(
            o.status.success(),
            "xmllint rejected {label}:\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
    }
}
