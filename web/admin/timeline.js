// Archive coverage: fetched per channel from /api/channels/{id}/archive, kept up to date by asking
// only for the recent tail, and drawn as a bar (recorded = green, gaps = red, nothing = grey).

import { api, h, clear, fmtDuration, fmtTime } from './ui.js';
import { t, tOr } from './i18n.js';

const TOL = 0.5; // seconds: intervals closer than this are one

function mergeIntervals(list) {
  const s = list.filter(i => i.to > i.from).sort((a, b) => a.from - b.from);
  const out = [];
  for (const i of s) {
    const last = out[out.length - 1];
    if (last && i.from <= last.to + TOL) last.to = Math.max(last.to, i.to);
    else out.push({ from: i.from, to: i.to });
  }
  return out;
}

/** The archive coverage of one channel over its retained window. */
export class Coverage {
  constructor(id) {
    this.id = id;
    this.intervals = [];
    this.gaps = [];
    this.windowFrom = 0;
    this.lastTo = null; // the `to` of the last fetch (unix s)
    this.fetchedAt = 0; // Date.now() of the last fetch
    this.fullAt = 0;
    this.error = null;
  }

  /** Fetches the whole window (every 5 min or when asked) or only the tail since the last fetch. */
  async refresh(retentionHours, { full = false } = {}) {
    const now = Date.now() / 1000;
    const windowFrom = now - retentionHours * 3600;
    const needFull = full || this.lastTo === null || Date.now() - this.fullAt > 300_000 || this.windowFrom > windowFrom + 60 || retentionHours * 3600 !== this.windowLen;
    const from = needFull ? Math.floor(windowFrom) : Math.max(Math.floor(windowFrom), Math.floor(this.lastTo - 120));
    const to = Math.ceil(now + 60);
    const r = await api('GET', `/api/channels/${encodeURIComponent(this.id)}/archive?from=${from}&to=${to}`);
    const ivals = (r.intervals || []).map(i => ({ from: +i.from, to: +i.to }));
    const gaps = (r.gaps || []).map(g => ({ from: +g.from, to: +g.to, reason: g.reason }));
    if (needFull) {
      this.intervals = mergeIntervals(ivals);
      this.gaps = gaps;
      this.fullAt = Date.now();
    } else {
      const old = this.intervals
        .filter(i => i.from < from)
        .map(i => ({ from: i.from, to: Math.min(i.to, from) }));
      this.intervals = mergeIntervals([...old, ...ivals]);
      const seen = new Set(gaps.map(g => `${g.from}|${g.reason}`));
      this.gaps = [...this.gaps.filter(g => g.to <= from && !seen.has(`${g.from}|${g.reason}`)), ...gaps];
    }
    this.windowLen = retentionHours * 3600;
    this.windowFrom = windowFrom;
    this.intervals = this.intervals
      .filter(i => i.to > windowFrom)
      .map(i => ({ from: Math.max(i.from, windowFrom), to: i.to }));
    this.gaps = this.gaps.filter(g => g.to > windowFrom).sort((a, b) => a.from - b.from);
    this.lastTo = to;
    this.fetchedAt = Date.now();
    this.error = null;
    return this;
  }

  /** Seconds recorded in [from, to]. */
  covered(from = -Infinity, to = Infinity) {
    let s = 0;
    for (const i of this.intervals) s += Math.max(0, Math.min(i.to, to) - Math.max(i.from, from));
    return s;
  }
}

/**
 * Draws `cov` over [from, to] into `el` (a .timeline element). Holes between recorded intervals
 * and the gaps the server reports are red; before the first recording and after the last is grey.
 */
export function drawTimeline(el, cov, from, to, { ticks = false } = {}) {
  clear(el);
  el.classList.add('timeline');
  const span = Math.max(1, to - from);
  const width = el.clientWidth || 160;
  const minSec = span / width; // one pixel
  const pct = x => `${((Math.max(from, Math.min(to, x)) - from) / span) * 100}%`;
  const wid = (a, b) => `${(Math.max(0, Math.min(to, b) - Math.max(from, a)) / span) * 100}%`;
  const part = (cls, a, b, title) => {
    if (Math.min(to, b) <= Math.max(from, a)) return;
    // keep anything real at least a pixel wide, so a first segment shows at once
    const seg = h(`span.${cls}`, { title });
    seg.style.left = `min(${pct(a)}, calc(100% - 2px))`;
    seg.style.width = wid(a, b);
    seg.style.minWidth = '2px';
    el.append(seg);
  };
  const ivals = cov ? cov.intervals : [];
  // recorded runs, merged where closer than a pixel (the gaps between them are drawn on top)
  let run = null;
  for (const i of ivals) {
    if (run && i.from - run.to < minSec) run.to = i.to;
    else { if (run) part('rec', run.from, run.to, `${fmtTime(run.from)} – ${fmtTime(run.to)}`); run = { ...i }; }
  }
  if (run) part('rec', run.from, run.to, `${fmtTime(run.from)} – ${fmtTime(run.to)}`);
  // Every gap shows at every zoom: one narrower than a pixel is still drawn, as a 2 px mark
  // (a 42 s stop is 1/6000 of a 72 h window), so the count never depends on the zoom.
  const gapPart = (a, b, reason) => {
    part(b - a < minSec * 2 ? 'gap.mark' : 'gap', a, b,
      `${fmtTime(a)} – ${fmtTime(b)} (${fmtDuration(b - a)}) ${reason}`);
  };
  // holes between recorded intervals (closer than TOL they were merged into one)
  for (let k = 1; k < ivals.length; k++) {
    const a = ivals[k - 1].to, b = ivals[k].from;
    const g = cov.gaps.find(g => g.from < b + TOL && g.to > a - TOL);
    gapPart(a, b, g ? tOr(`gap.${g.reason}`, g.reason) : t('chp.legend.gap'));
  }
  // gaps the server reports outside the holes (before the first recording of the window)
  for (const g of cov ? cov.gaps : []) {
    if (ivals.length && g.from >= ivals[0].from - TOL) continue; // a hole above
    gapPart(g.from, g.to, tOr(`gap.${g.reason}`, g.reason));
  }
  if (ticks) {
    const step = span > 48 * 3600 ? 24 * 3600 : span > 6 * 3600 ? 3600 * (span > 24 * 3600 ? 6 : 2) : span > 3600 ? 1800 : 600;
    const first = Math.ceil(from / step) * step;
    for (let x = first; x < to; x += step) {
      const d = new Date(x * 1000);
      const label = step >= 24 * 3600 ? `${d.getMonth() + 1}/${d.getDate()}` : `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
      el.append(h('span.tick', { style: { left: pct(x) } }, h('i', label)));
    }
  }
  const covered = cov ? cov.covered(from, to) : 0;
  const nGaps = el.querySelectorAll('.gap').length;
  el.dataset.coveredS = String(Math.round(covered * 10) / 10);
  el.dataset.gaps = String(nGaps);
  el.title = t('ch.coverage', { covered: fmtDuration(covered), window: fmtDuration(span), gaps: nGaps });
}
