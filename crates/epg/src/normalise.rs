//! Normalising schedules and merging re-imports. See the crate docs for the rules.

use std::collections::BTreeMap;

use media::UtcMs;

use crate::model::{Programme, Warning};

fn warn(p: &Programme, message: String) -> Warning {
    Warning {
        line: p.line,
        element: "programme".into(),
        message: format!(
            "{} {} {:?}: {message}",
            p.channel,
            p.start.to_rfc3339(),
            p.title()
        ),
    }
}

/// Normalises schedules (one or several channels). Output is sorted by (channel, start); within a
/// channel starts are unique, every programme has `stop > start`, and no two overlap.
///
/// Rules, applied per channel in this order:
/// 1. sort by start (stable: file order among equal starts);
/// 2. same start twice: the one listed **later** in the input wins (warning for the other);
/// 3. an explicit `stop <= start`: dropped (warning);
/// 4. a missing `stop` ends at the next programme's start; the **last** programme without `stop`
///    is dropped (warning): there is no honest end to give it;
/// 5. overlap: a later-starting programme truncates the earlier one's `stop` to its own start
///    (warning).
///
/// Idempotent: normalising a normalised schedule returns it unchanged with no warnings.
pub fn normalise(programmes: Vec<Programme>) -> (Vec<Programme>, Vec<Warning>) {
    let mut warnings = Vec::new();
    let mut progs = programmes;
    // Stable sort keeps input order for equal (channel, start).
    progs.sort_by(|a, b| a.channel.cmp(&b.channel).then(a.start.cmp(&b.start)));

    // Rule 2: keep the last of each (channel, start) run.
    let mut dedup: Vec<Programme> = Vec::with_capacity(progs.len());
    for p in progs {
        if let Some(last) = dedup.last_mut() {
            if last.channel == p.channel && last.start == p.start {
                let old = std::mem::replace(last, p);
                if old != *last {
                    warnings.push(warn(
                        &old,
                        "dropped: another programme starts at the same time later in the file"
                            .into(),
                    ));
                }
                continue;
            }
        }
        dedup.push(p);
    }

    // Rule 3.
    let mut kept: Vec<Programme> = Vec::with_capacity(dedup.len());
    for p in dedup {
        match p.stop {
            Some(stop) if stop <= p.start => {
                warnings.push(warn(&p, "dropped: stop is not after start".into()))
            }
            _ => kept.push(p),
        }
    }

    // Rules 4 and 5.
    let mut out: Vec<Programme> = Vec::with_capacity(kept.len());
    let n = kept.len();
    let mut iter = kept.into_iter().peekable();
    for _ in 0..n {
        let mut p = iter.next().expect("n items");
        let next_start = iter
            .peek()
            .filter(|q| q.channel == p.channel)
            .map(|q| q.start);
        match (p.stop, next_start) {
            (None, Some(ns)) => p.stop = Some(ns),
            (None, None) => {
                warnings.push(warn(
                    &p,
                    "dropped: last programme of the channel has no stop time".into(),
                ));
                continue;
            }
            (Some(stop), Some(ns)) if stop > ns => {
                warnings.push(warn(
                    &p,
                    format!(
                        "overlaps the next programme: stop moved from {} to {}",
                        stop.to_rfc3339(),
                        ns.to_rfc3339()
                    ),
                ));
                p.stop = Some(ns);
            }
            _ => {}
        }
        out.push(p);
    }
    (out, warnings)
}

/// Merges a re-import into the stored schedule. Both inputs should be normalised; the output is
/// normalised (sorted by channel then start).
///
/// For each channel present in `incoming`, with `cutoff = max(first incoming start, now)`:
/// - stored programmes starting **before** `cutoff` are kept (the past is never rewritten, so
///   catch-up keeps its titles; a kept programme still running at `cutoff` is truncated by the
///   next incoming one, per the overlap rule of [`normalise`]);
/// - stored programmes starting at or after `cutoff` are replaced by the incoming ones starting at
///   or after `cutoff`;
/// - incoming programmes starting before `cutoff` only fill holes: each is added if it overlaps
///   no kept stored programme (so a first import brings its past, a re-import changes nothing).
///
/// Channels absent from `incoming` keep their schedule. Finally every programme that ended at or
/// before `keep_past_from` (the archive window's start) is dropped, on every channel.
///
/// Idempotent: `merge(&merge(e, i, now, k), i, now, k) == merge(e, i, now, k)`, and merging the
/// result of an import with the same file later (larger `now`) changes only the pruning.
pub fn merge(
    existing: &[Programme],
    incoming: &[Programme],
    now: UtcMs,
    keep_past_from: UtcMs,
) -> Vec<Programme> {
    let mut by_channel: BTreeMap<&str, (Vec<&Programme>, Vec<&Programme>)> = BTreeMap::new();
    for p in existing {
        by_channel.entry(&p.channel).or_default().0.push(p);
    }
    for p in incoming {
        by_channel.entry(&p.channel).or_default().1.push(p);
    }
    let mut out: Vec<Programme> = Vec::with_capacity(existing.len() + incoming.len());
    for (_, (mut old, mut new)) in by_channel {
        if new.is_empty() {
            out.extend(old.into_iter().cloned());
            continue;
        }
        old.sort_by_key(|p| p.start);
        new.sort_by_key(|p| p.start);
        let cutoff = new[0].start.max(now);
        let kept: Vec<&Programme> = old.into_iter().filter(|p| p.start < cutoff).collect();
        let overlaps_kept = |p: &Programme| {
            let p_stop = p.stop.unwrap_or(UtcMs(i64::MAX));
            kept.iter().any(|q| {
                let q_stop = q.stop.unwrap_or(UtcMs(i64::MAX));
                q.start < p_stop && p.start < q_stop
            })
        };
        let fill: Vec<&Programme> = new
            .iter()
            .copied()
            .filter(|p| p.start < cutoff && !overlaps_kept(p))
            .collect();
        out.extend(kept.iter().map(|p| (*p).clone()));
        out.extend(fill.into_iter().cloned());
        out.extend(new.into_iter().filter(|p| p.start >= cutoff).cloned());
    }
    out.retain(|p| p.stop.is_none_or(|s| s > keep_past_from));
    normalise(out).0
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000;

    fn p(ch: &str, start_min: i64, stop_min: Option<i64>, title: &str) -> Programme {
        Programme::new(
            ch,
            UtcMs(start_min * M),
            stop_min.map(|s| UtcMs(s * M)),
            title,
        )
    }

    fn titles(v: &[Programme]) -> Vec<(String, i64, i64)> {
        v.iter()
            .map(|p| {
                (
                    p.title().to_owned(),
                    p.start.0 / M,
                    p.stop.map(|s| s.0 / M).unwrap_or(-1),
                )
            })
            .collect()
    }

    #[test]
    fn normalise_rules() {
        let input = vec![
            p("a", 60, None, "C"),
            p("a", 0, Some(40), "A"),     // overlaps B: truncated to 30
            p("a", 30, None, "B-first"),  // same start as B-second: dropped
            p("a", 30, None, "B-second"), // stop = 60
            p("a", 90, Some(90), "zero"), // zero length: dropped
            p("a", 120, None, "last"),    // last without stop: dropped
            p("b", 10, Some(20), "other"),
            p("a", 100, Some(110), "D"),
        ];
        let (out, w) = normalise(input);
        assert_eq!(
            titles(&out),
            vec![
                ("A".into(), 0, 30),
                ("B-second".into(), 30, 60),
                ("C".into(), 60, 100),
                ("D".into(), 100, 110),
                ("other".into(), 10, 20),
            ]
        );
        assert_eq!(w.len(), 4, "{w:#?}");
        // idempotent
        let (again, w2) = normalise(out.clone());
        assert_eq!(again, out);
        assert!(w2.is_empty());
    }

    #[test]
    fn exact_duplicates_are_silent() {
        let (out, w) = normalise(vec![p("a", 0, Some(10), "x"), p("a", 0, Some(10), "x")]);
        assert_eq!(out.len(), 1);
        assert!(w.is_empty());
    }

    #[test]
    fn merge_keeps_past_replaces_future() {
        let now = UtcMs(1000 * M);
        let keep = UtcMs(100 * M);
        let existing = vec![
            p("a", 0, Some(100), "too old"),
            p("a", 100, Some(500), "past1"),
            p("a", 500, Some(990), "past2"),
            p("a", 990, Some(1020), "current"),
            p("a", 1020, Some(1100), "old future"),
            p("b", 0, Some(2000), "other channel"),
        ];
        // The new file starts in the past and disagrees about it.
        let incoming = vec![
            p("a", 400, Some(600), "new past"),
            p("a", 600, Some(1000), "new past 2"),
            p("a", 1000, Some(1030), "new current"),
            p("a", 1030, Some(1200), "new future"),
        ];
        let out = merge(&existing, &incoming, now, keep);
        assert_eq!(
            titles(&out),
            vec![
                ("past1".into(), 100, 500),
                ("past2".into(), 500, 990),
                ("current".into(), 990, 1000),
                ("new current".into(), 1000, 1030),
                ("new future".into(), 1030, 1200),
                ("other channel".into(), 0, 2000),
            ]
        );
        // Re-importing the same file changes nothing, now and later.
        assert_eq!(merge(&out, &incoming, now, keep), out);
        let later = merge(&out, &incoming, UtcMs(1040 * M), keep);
        assert_eq!(later, out);
    }

    #[test]
    fn first_import_brings_its_past_and_future_start_keeps_gap() {
        let now = UtcMs(1000 * M);
        let incoming = vec![
            p("a", 800, Some(900), "past"),
            p("a", 900, Some(1100), "current"),
            p("a", 1100, Some(1200), "future"),
        ];
        let out = merge(&[], &incoming, now, UtcMs(0));
        assert_eq!(out, incoming);
        assert_eq!(merge(&out, &incoming, now, UtcMs(0)), out);

        // A later file that starts in the future keeps what we have until it starts.
        let incoming2 = vec![p("a", 1150, Some(1300), "new")];
        let out2 = merge(&out, &incoming2, now, UtcMs(0));
        assert_eq!(
            titles(&out2),
            vec![
                ("past".into(), 800, 900),
                ("current".into(), 900, 1100),
                ("future".into(), 1100, 1150),
                ("new".into(), 1150, 1300),
            ]
        );
        assert_eq!(merge(&out2, &incoming2, now, UtcMs(0)), out2);
    }
}
