//! A generated 100 channels × 14 days guide (≈ 67k programmes, Chinese text) imports quickly.
//! Run with `cargo test -p epg --release --test large -- --nocapture` to see the timings.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // an integration test: real tools and files

mod common;

use std::time::Instant;

#[test]
fn large_guide_parses_streaming() {
    let xml = common::generated_guide(100, 14);
    let t = Instant::now();
    let g = epg::parse_reader(std::io::BufReader::new(xml.as_bytes())).unwrap();
    let parse_ms = t.elapsed().as_millis();
    assert_eq!(g.channels.len(), 100);
    assert_eq!(g.programmes.len(), 100 * 14 * 48);
    assert!(g.warnings.is_empty());
    let t = Instant::now();
    let (n, w) = epg::normalise(g.programmes);
    let norm_ms = t.elapsed().as_millis();
    assert_eq!(n.len(), 100 * 14 * 48);
    assert!(w.is_empty());
    let t = Instant::now();
    let merged = epg::merge(&n, &n, n[n.len() / 2].start, n[0].start);
    let merge_ms = t.elapsed().as_millis();
    assert_eq!(merged, n);
    println!(
        "large guide: {:.1} MB, {} programmes: parse {parse_ms} ms, normalise {norm_ms} ms, \
         merge {merge_ms} ms",
        xml.len() as f64 / 1e6,
        n.len()
    );
}
