//! Random and truncated input never panics; truncation before `</tv>` is always fatal.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // an integration test: real tools and files

mod common;

use proptest::prelude::*;

fn sample(fixture: bool) -> Vec<u8> {
    if fixture {
        common::fixture("custom.xml")
    } else {
        common::generated_guide(2, 1).into_bytes()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = epg::parse(&bytes);
        let _ = epg::parse_reader(std::io::BufReader::with_capacity(7, bytes.as_slice()));
    }

    #[test]
    fn random_xmlish_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("<tv>"), Just("</tv>"), Just("<programme channel=\"a\" start=\"20260101000000 +0800\">"),
        Just("</programme>"), Just("<title>"), Just("</title>"), Just("&amp;"), Just("&#x4E2D;"),
        Just("&bad;"), Just("中文"), Just("<channel id=\"a\">"), Just("</channel>"),
        Just("<display-name>"), Just("</display-name>"), Just("<rating><value>"), Just("</value></rating>"),
        Just("<![CDATA[x]]>"), Just("<!-- c -->"), Just("\n"), Just("<icon src=\"x\"/>"),
        Just("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"), Just("\u{feff}"), Just("&#0;"),
        Just("&#xD800;"), Just("<"), Just(">"), Just("\""),
    ], 0..40)) {
        let s: String = parts.concat();
        let _ = epg::parse(s.as_bytes());
    }

    #[test]
    fn truncations_never_panic_and_are_fatal(cut in 0usize..100_000) {
        let xml = common::generated_guide(2, 1).into_bytes();
        let end = xml.windows(5).rposition(|w| w == b"</tv>").unwrap();
        let cut = cut % (xml.len() + 1);
        let r = epg::parse(&xml[..cut]);
        if cut < end {
            let e = r.unwrap_err();
            prop_assert!(e.line >= 1);
        }
    }

    #[test]
    fn mutations_never_panic(
        fixture in any::<bool>(),
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        n in 1usize..8,
    ) {
        let mut xml = sample(fixture);
        let i = pos.index(xml.len());
        for k in 0..n {
            if i + k < xml.len() {
                xml[i + k] = byte;
            }
        }
        let _ = epg::parse(&xml);
    }

    #[test]
    fn normalise_is_idempotent_and_merge_with_self_is_stable(
        items in proptest::collection::vec((0u8..3, 0i64..50, proptest::option::of(0i64..60), 0u8..4), 0..40),
        now in 0i64..60,
        keep in 0i64..30,
    ) {
        let progs: Vec<epg::Programme> = items
            .iter()
            .map(|(c, s, e, t)| epg::Programme::new(
                format!("c{c}"),
                epg::UtcMs(s * 60_000),
                e.map(|e| epg::UtcMs(e * 60_000)),
                &format!("t{t}"),
            ))
            .collect();
        let (n, _) = epg::normalise(progs);
        let (n2, w2) = epg::normalise(n.clone());
        prop_assert_eq!(&n2, &n);
        prop_assert!(w2.is_empty());
        let now = epg::UtcMs(now * 60_000);
        let keep = epg::UtcMs(keep * 60_000);
        let once = epg::merge(&[], &n, now, keep);
        let twice = epg::merge(&once, &n, now, keep);
        prop_assert_eq!(&twice, &once);
        let (again, _) = epg::normalise(once.clone());
        prop_assert_eq!(again, once);
    }
}
