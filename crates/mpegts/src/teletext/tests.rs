use super::*;

const PID: u16 = 0x102;

fn decode(pes: &[(i64, Vec<u8>)], end: i64) -> Vec<Cue> {
    let mut d = Decoder::new(8, 0x88);
    let mut out = Vec::new();
    for (pts, data) in pes {
        d.push_pes(*pts, data, &mut out);
    }
    d.finish(end, &mut out);
    out
}

fn cue(start: i64, end: Option<i64>, text: &str) -> Cue {
    Cue {
        start_90k: start,
        end_90k: end,
        text: text.into(),
    }
}

/// A PES data field of the given packets (subtitle data units, no stuffing).
fn units(packets: &[[u8; 42]]) -> Vec<u8> {
    let mut out = vec![DATA_IDENTIFIER];
    for (i, p) in packets.iter().enumerate() {
        data_unit(p, 7 + i as u8, &mut out);
    }
    out
}

fn row_packet(magazine: u8, row: u8, text: &str) -> [u8; 42] {
    let mut p = [with_odd_parity(b' '); 42];
    p[..2].copy_from_slice(&address(magazine, row));
    for (i, b) in text.bytes().take(40).enumerate() {
        p[2 + i] = with_odd_parity(b);
    }
    p
}

fn serial(mut header: [u8; 42]) -> [u8; 42] {
    let n = hamming_8_4(header[9]).unwrap();
    header[9] = hamming_8_4_encode(n | 1);
    header
}

#[test]
fn hamming_8_4_table_and_correction() {
    let known = [
        0x15, 0x02, 0x49, 0x5e, 0x64, 0x73, 0x38, 0x2f, 0xd0, 0xc7, 0x8c, 0x9b, 0xa1, 0xb6, 0xfd,
        0xea,
    ];
    for (d, &code) in known.iter().enumerate() {
        assert_eq!(hamming_8_4_encode(d as u8), code);
        assert_eq!(hamming_8_4(code), Some(d as u8));
        for bit in 0..8 {
            assert_eq!(
                hamming_8_4(code ^ (1 << bit)),
                Some(d as u8),
                "single error"
            );
            for bit2 in bit + 1..8 {
                assert_eq!(hamming_8_4(code ^ (1 << bit) ^ (1 << bit2)), None);
            }
        }
    }
    // 16 codes × 9 decodable bytes each; the rest are double errors
    assert_eq!(
        (0..=255u8).filter(|&b| hamming_8_4(b).is_some()).count(),
        144
    );
}

#[test]
fn odd_parity_table() {
    for c in 0..128u8 {
        let b = with_odd_parity(c);
        assert_eq!(b.count_ones() % 2, 1);
        assert_eq!(odd_parity(b), Some(c));
        assert_eq!(odd_parity(b ^ 0x80), None);
        assert_eq!(odd_parity(b ^ 0x01), None);
    }
    assert_eq!(with_odd_parity(b'A'), 0xc1);
    assert_eq!(with_odd_parity(b' '), 0x20);
}

#[test]
fn national_subsets() {
    use national::*;
    assert_eq!(g0_char(0x23, ENGLISH), '£');
    assert_eq!(g0_char(0x5f, ENGLISH), '#');
    assert_eq!(g0_char(b'A', GERMAN), 'A');
    let german: String = [0x5b, 0x5c, 0x5d, 0x7b, 0x7c, 0x7d, 0x7e, 0x40]
        .iter()
        .map(|&c| g0_char(c, GERMAN))
        .collect();
    assert_eq!(german, "ÄÖÜäöüß§");
    let french: String = [0x23, 0x40, 0x5f, 0x60, 0x7e]
        .iter()
        .map(|&c| g0_char(c, FRENCH))
        .collect();
    assert_eq!(french, "éà#èç");
    let swedish: String = [0x5b, 0x5c, 0x5d, 0x7b, 0x7c, 0x7d, 0x40]
        .iter()
        .map(|&c| g0_char(c, SWEDISH))
        .collect();
    assert_eq!(swedish, "ÄÖÅäöåÉ");
    let italian: String = [0x40, 0x5c, 0x60, 0x7b, 0x7c, 0x7d, 0x7e]
        .iter()
        .map(|&c| g0_char(c, ITALIAN))
        .collect();
    assert_eq!(italian, "éçùàòèì");
    let spanish: String = [
        0x23, 0x40, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0x60, 0x7c, 0x7d, 0x7e,
    ]
    .iter()
    .map(|&c| g0_char(c, SPANISH))
    .collect();
    assert_eq!(spanish, "ç¡áéíóú¿ñèà");
    // control codes (colours, boxes, sizes) are spaces
    for c in 0..0x20 {
        assert_eq!(g0_char(c, ENGLISH), ' ');
    }
    // every encodable character of every subset reads back
    for n in 0..8u8 {
        for code in 0x20..0x7f_u8 {
            let c = g0_char(code, n);
            assert_eq!(g0_code(c, n), Some(code), "subset {n} code {code:#x}");
        }
    }
}

#[test]
fn round_trip_encode_decode() {
    let pes = encode_page(8, 0x88, &["Hello, world!", "  second line  "], true);
    // 45-byte PES header + data: a multiple of 184 bytes
    assert_eq!((pes.len() - 1) % UNIT_SIZE, 0);
    assert_eq!((45 + pes.len()) % 184, 0);
    let cues = decode(&[(90_000, pes)], 180_000);
    assert_eq!(
        cues,
        [cue(90_000, Some(180_000), "Hello, world!\nsecond line")]
    );
}

#[test]
fn languages_round_trip() {
    for text in [
        "Grüße aus Köln, Straße",
        "Très élégant, garçon",
        "¿Qué año? Mañana",
        "Är det så här? Ja, öl",
        "perché città più",
        "Price: £5 #1 @ home",
    ] {
        let cues = decode(&[(0, encode_page(8, 0x88, &[text], true))], 100);
        assert_eq!(cues, [cue(0, Some(100), text)], "{text}");
    }
    // a character no subset has
    let cues = decode(&[(0, encode_page(8, 0x88, &["a € b"], true))], 100);
    assert_eq!(cues[0].text, "a ? b");
}

#[test]
fn replaced_merged_and_erased() {
    let a = encode_page(8, 0x88, &["first"], true);
    let b = encode_page(8, 0x88, &["second", "two lines"], true);
    let clear = encode_page(8, 0x88, &[], true);
    let pes = [
        (1000, a.clone()),
        (2000, a.clone()), // the same page again: one cue
        (3000, b),
        (4000, clear.clone()),
        (5000, clear),
        (6000, a),
    ];
    let cues = decode(&pes, 7000);
    assert_eq!(
        cues,
        [
            cue(1000, Some(3000), "first"),
            cue(3000, Some(4000), "second\ntwo lines"),
            cue(6000, Some(7000), "first"),
        ]
    );
    // finish_open leaves the last one open
    let mut d = Decoder::new(8, 0x88);
    let mut out = Vec::new();
    d.push_pes(10, &encode_page(8, 0x88, &["x"], true), &mut out);
    d.finish_open(&mut out);
    assert_eq!(out, [cue(10, None, "x")]);
}

#[test]
fn without_erase_rows_are_kept() {
    let a = encode_page(8, 0x88, &["top", "bottom"], true);
    let b = encode_page(8, 0x88, &["new bottom"], false);
    let cues = decode(&[(0, a), (10, b)], 20);
    assert_eq!(
        cues,
        [
            cue(0, Some(10), "top\nbottom"),
            cue(10, Some(20), "top\nnew bottom")
        ]
    );
}

#[test]
fn other_pages_and_magazines_are_ignored() {
    let cues = decode(
        &[
            (0, encode_page(1, 0x88, &["magazine 1"], true)),
            (10, encode_page(8, 0x89, &["page 889"], true)),
            (20, encode_page(8, 0x88, &["ours"], true)),
            (30, encode_page(8, 0x89, &["page 889 again"], true)),
        ],
        40,
    );
    assert_eq!(cues, [cue(20, Some(40), "ours")]);
    // magazine 0 in the descriptor means 8
    let mut d = Decoder::new(0, 0x88);
    let mut out = Vec::new();
    d.push_pes(0, &encode_page(8, 0x88, &["eight"], true), &mut out);
    d.finish(5, &mut out);
    assert_eq!(out, [cue(0, Some(5), "eight")]);
}

#[test]
fn parallel_and_serial_mode() {
    let ours = header_packet(8, 0x88, true, true, 0);
    let row = row_packet(8, 22, "subtitle");
    let other_mag = header_packet(1, 0x00, true, false, 0);
    let same_mag = header_packet(8, 0x00, true, false, 0);

    // parallel: a header of another magazine does not complete the page, one of the same does
    let cues = decode(
        &[
            (100, units(&[ours, row])),
            (200, units(&[other_mag, row_packet(1, 22, "other")])),
            (300, units(&[row_packet(8, 23, "more")])),
            (400, units(&[same_mag])),
        ],
        500,
    );
    assert_eq!(cues, [cue(400, Some(500), "subtitle\nmore")]);

    // serial: any header completes it, and rows of other magazines never join it
    let cues = decode(
        &[
            (100, units(&[serial(ours), row])),
            (200, units(&[serial(other_mag), row_packet(1, 23, "other")])),
            (300, units(&[row_packet(8, 23, "late")])),
        ],
        500,
    );
    assert_eq!(cues, [cue(200, Some(500), "subtitle")]);

    // a page is completed by its own next header too
    let cues = decode(
        &[
            (100, units(&[ours, row])),
            (200, units(&[ours, row_packet(8, 22, "next")])),
            (300, units(&[same_mag])),
        ],
        400,
    );
    assert_eq!(
        cues,
        [cue(200, Some(300), "subtitle"), cue(300, Some(400), "next")]
    );
}

#[test]
fn header_flags() {
    let h = parse_header(&header_packet(8, 0x88, true, true, national::GERMAN));
    assert_eq!(h.page, Some(0x88));
    assert!(h.erase && h.subtitle && !h.newsflash);
    assert_eq!(h.serial, Some(false));
    assert_eq!(h.national, national::GERMAN);
    let h = parse_header(&serial(header_packet(3, 0x01, false, false, 0)));
    assert_eq!(h.page, Some(0x01));
    assert!(!h.erase && !h.subtitle);
    assert_eq!(h.serial, Some(true));
    let mut bad = header_packet(8, 0x88, true, true, 0);
    bad[2] ^= 0x03; // double error in the page units
    assert_eq!(parse_header(&bad).page, None);
}

#[test]
fn bad_parity_is_a_space_and_single_bit_errors_are_corrected() {
    let mut pes = encode_page(8, 0x88, &["abc"], true);
    // the row's data unit is the second one: find 'b' (bit-reversed, odd parity)
    let b = with_odd_parity(b'b').reverse_bits();
    let i = 1
        + UNIT_SIZE
        + 6
        + pes[1 + UNIT_SIZE + 6..]
            .iter()
            .position(|&x| x == b)
            .unwrap();
    pes[i] ^= 0x01;
    // a single bit error in the row's address is corrected
    pes[1 + UNIT_SIZE + 4] ^= 0x10;
    let cues = decode(&[(0, pes)], 10);
    assert_eq!(cues, [cue(0, Some(10), "a c")]);
}

#[test]
fn units_other_than_teletext_and_bad_framing_are_skipped() {
    let mut pes = encode_page(8, 0x88, &["kept"], true);
    // a VPS unit (0xC3, 13 bytes) in front of the rest
    let mut with_vps = vec![pes[0], 0xc3, 13];
    with_vps.extend_from_slice(&[0x55; 13]);
    with_vps.extend_from_slice(&pes[1..]);
    assert_eq!(decode(&[(0, with_vps)], 10), [cue(0, Some(10), "kept")]);
    // a data_identifier that is not EBU data
    let mut other = pes.clone();
    other[0] = 0x99;
    assert_eq!(decode(&[(0, other)], 10), []);
    // a wrong framing code on the row: the page is empty
    pes[1 + UNIT_SIZE + 3] = 0x27;
    assert_eq!(decode(&[(0, pes)], 10), []);
}

#[test]
fn random_and_truncated_input_never_panics() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let good = encode_page(8, 0x88, &["Grüße", "line two"], true);
    let mut d = Decoder::new(8, 0x88);
    let mut out = Vec::new();
    for len in 0..good.len() {
        d.push_pes(len as i64, &good[..len], &mut out);
    }
    for i in 0..2000 {
        let mut m = good.clone();
        for _ in 0..(i % 40) {
            let r = next();
            let at = r as usize % m.len();
            m[at] = (r >> 32) as u8;
        }
        let cut = next() as usize % (m.len() + 1);
        d.push_pes(next() as i64 >> 2, &m[..cut], &mut out);
        let random: Vec<u8> = (0..next() % 600).map(|_| next() as u8).collect();
        d.push_pes(i, &random, &mut out);
    }
    d.finish(i64::MAX, &mut out);
    for c in &out {
        assert!(c.text.lines().count() <= 23);
        assert!(c.text.lines().all(|l| l.chars().count() <= COLUMNS));
        assert!(c.end_90k.is_none_or(|e| e > c.start_90k));
    }

    // transport stream: truncated and mutated
    let ts = stream(&[(1000, &["one"][..]), (2000, &["two"][..])]);
    for len in (0..ts.len()).step_by(7) {
        let _ = cues_from_ts(&ts[..len], PID, 8, 0x88);
    }
    for _ in 0..500 {
        let mut m = ts.clone();
        for _ in 0..10 {
            let r = next();
            let at = r as usize % m.len();
            m[at] = (r >> 32) as u8;
        }
        let _ = cues_from_ts(&m, PID, 8, 0x88);
        let random: Vec<u8> = (0..next() % 2000)
            .map(|i| if i % 188 == 0 { 0x47 } else { next() as u8 })
            .collect();
        let cues = cues_from_ts(&random, (next() & 0x1fff) as u16, 8, 0x88);
        let _ = webvtt_segment(&cues, next() as i64, next() as i64);
    }
}

/// A TS of one teletext PES per (pts, lines), page 888 on [`PID`].
fn stream(pages: &[(i64, &[&str])]) -> Vec<u8> {
    let mut cc = 0;
    let mut ts = Vec::new();
    for (pts, lines) in pages {
        let pes = pes_packet(*pts, &encode_page(8, 0x88, lines, true));
        assert_eq!(pes.len() % 184, 0);
        ts.extend(ts_packets(PID, &pes, &mut cc));
    }
    ts
}

#[test]
fn cues_from_a_transport_stream() {
    // one TS packet per PES, but two for the four-line page
    let ts = stream(&[
        (90_000, &["one"][..]),
        (180_000, &["two", "2", "3", "4"][..]),
        (270_000, &[][..]),
        (360_000, &["three & <four>"][..]),
    ]);
    assert_eq!(ts.len(), 5 * 188);
    assert_eq!(
        cues_from_ts(&ts, PID, 8, 0x88),
        [
            cue(90_000, Some(180_000), "one"),
            cue(180_000, Some(270_000), "two\n2\n3\n4"),
            cue(360_000, None, "three & <four>"),
        ]
    );
    // another pid: nothing
    assert_eq!(cues_from_ts(&ts, PID + 1, 8, 0x88), []);
    // split in two parts at any packet: the same
    for cut in [188, 188 * 2, 188 * 3, 188 * 4] {
        let (cues, base) = cues_from_ts_parts(&[&ts[..cut], &ts[cut..]], PID, 8, 0x88);
        assert_eq!(cues.len(), 3, "{cut}");
        assert_eq!(base, Some(90_000));
    }
    // a lost packet drops that PES only
    let mut lossy = ts.clone();
    lossy.drain(188 * 2..188 * 3); // the second packet of the second PES
    assert_eq!(
        cues_from_ts(&lossy, PID, 8, 0x88),
        [
            cue(90_000, Some(270_000), "one"),
            cue(360_000, None, "three & <four>"),
        ]
    );
    // a PES cut short by the end of the buffer is not decoded
    assert_eq!(
        cues_from_ts(&ts[..188 * 2], PID, 8, 0x88),
        [cue(90_000, None, "one")]
    );
}

#[test]
fn pts_wrap_is_unwrapped() {
    let near = (1i64 << 33) - 90_000;
    let ts = stream(&[(near, &["before"][..]), (near + 180_000, &["after"][..])]);
    let (cues, base) = cues_from_ts_parts(&[&ts], PID, 8, 0x88);
    assert_eq!(base, Some(near as u64));
    assert_eq!(
        cues,
        [
            cue(near, Some(near + 180_000), "before"),
            cue(near + 180_000, None, "after")
        ]
    );
    // a segment start written after the wrap lands on the same timeline
    assert_eq!(unwrap_near(90_000, near as u64), near + 180_000);
    assert_eq!(unwrap_near(near as u64 - 5, near as u64), near - 5);
    let vtt = webvtt_segment(&cues, near + 180_000, near + 360_000);
    assert!(
        vtt.starts_with("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:90000,LOCAL:00:00:00.000\n\n"),
        "{vtt}"
    );
    assert!(
        vtt.contains("00:00:00.000 --> 00:00:02.000\nafter\n"),
        "{vtt}"
    );
}

#[test]
fn webvtt_segment_clips_and_escapes() {
    let cues = [
        cue(0, Some(90_000), "before the segment"),
        cue(90_000, Some(270_000), "straddles the start"),
        cue(450_000, Some(540_000), "a <b> & c\nline 2"),
        cue(810_000, Some(1_000_000), "straddles the end"),
        cue(1_000_000, None, "after the end"),
    ];
    let vtt = webvtt_segment(&cues, 180_000, 900_000);
    assert_eq!(
        vtt,
        "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:180000,LOCAL:00:00:00.000\n\n\
         00:00:00.000 --> 00:00:01.000\nstraddles the start\n\n\
         00:00:03.000 --> 00:00:04.000\na &lt;b&gt; &amp; c\nline 2\n\n\
         00:00:07.000 --> 00:00:08.000\nstraddles the end\n\n"
    );
    // an open cue runs to the segment end; hours are written
    let open = [cue(100, None, "open")];
    let vtt = webvtt_segment(&open, 0, 90_000 * 3700);
    assert!(
        vtt.ends_with("00:00:00.001 --> 01:01:40.000\nopen\n\n"),
        "{vtt}"
    );
    // extreme bounds do not overflow
    let _ = webvtt_segment(&open, i64::MIN, i64::MAX);
    let _ = webvtt_segment(&[cue(i64::MIN, Some(i64::MAX), "x")], i64::MIN, i64::MAX);
    // nothing overlapping: the header only
    assert_eq!(
        webvtt_segment(&open, -900, 100),
        "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:8589933692,LOCAL:00:00:00.000\n\n"
    );
}
