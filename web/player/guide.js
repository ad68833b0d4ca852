// Guide data and views: a channel's programmes (for the control bar), the per-channel guide with
// catch-up and start-over, and the all-channel grid.
import { t } from './i18n.js';
import { $, S, addDays, api, dayStart, el, fmtDay, fmtTime, now, showMsg } from './core.js';
import { archiveStartText, playProgramme, tune } from './playback.js';
import { logo, progress } from './channels.js';
import { renderControls } from './scrub.js';
import { closeOverlay, openOverlay } from './layout.js';

// ---------- guide data ----------
export async function loadEpg(ch) {
  const n = now();
  const from = Math.floor(Math.min(n - 6 * 3600, (ch.catchup.from || n) - 3600));
  const to = Math.floor(n + 2 * 86400);
  try {
    const d = await api(`/api/epg?channel=${ch.id}&from=${from}&to=${to}`);
    S.epg.set(ch.id, { list: d.programmes, at: n });
    if (S.current === ch) renderControls();
  } catch { /* no guide: the bar falls back to the timeshift window */ }
}
export function programmeAt(ch, tm) {
  const e = ch && S.epg.get(ch.id);
  if (!e) return null;
  return e.list.find((p) => p.start <= tm && tm < p.stop) || null;
}

// ---------- per-channel guide ----------
/** Days ahead of today the guide and the grid look for programmes (their tabs end at the last). */
export const GUIDE_DAYS_AHEAD = 7;
export async function openGuide(ch, day) {
  if (!ch) return;
  S.guideCh = ch;
  openOverlay('guide');
  $('#g-num').textContent = ch.number ?? '';
  $('#g-name').textContent = ch.name;
  const lg = $('#g-logo');
  lg.hidden = !ch.logo;
  if (ch.logo) lg.src = ch.logo;
  const today = dayStart(now());
  const first = ch.catchup.from ? Math.min(dayStart(ch.catchup.from), today) : today;
  const ol = $('#g-list');
  ol.replaceChildren();
  // the whole range at once: the day tabs run from the archive's first day to the guide's last
  let all = [];
  try {
    all = (await api(`/api/epg?channel=${ch.id}&from=${first}&to=${addDays(today, GUIDE_DAYS_AHEAD)}`)).programmes;
  } catch { /* shown as empty */ }
  if (S.guideCh !== ch || S.overlay !== 'guide') return;
  const lastStop = all.reduce((m, p) => Math.max(m, p.stop), 0);
  const last = Math.max(today, lastStop ? dayStart(lastStop - 1) : today);
  const days = [];
  for (let d = first; d <= last; d = addDays(d, 1)) days.push(d);
  day = days.includes(day) ? day : today;
  $('#g-days').replaceChildren(...days.map((d) => el('button', {
    class: d === day ? 'on' : '', tabindex: '-1', 'data-day': d, text: fmtDay(d),
    onclick: () => openGuide(ch, d),
  })));
  const progs = all.filter((p) => p.stop > day && p.start < addDays(day, 1));
  $('#g-empty').hidden = progs.length > 0;
  const n = now();
  ol.replaceChildren(...progs.map((p) => {
    const state = p.stop <= n ? 'past' : p.start <= n ? 'now' : 'future';
    const acts = [];
    if (state === 'now') {
      acts.push(el('button', { class: 'act primary', tabindex: '-1', text: t('watch_live'), onclick: (e) => { e.stopPropagation(); tune(ch); closeOverlay(); } }));
      if (p.catchup) acts.push(el('button', { class: 'act', tabindex: '-1', text: t('start_over'), onclick: (e) => { e.stopPropagation(); timeshiftFrom(ch, p.start); closeOverlay(); } }));
    } else if (state === 'past' && p.catchup) {
      acts.push(el('button', { class: 'act primary', tabindex: '-1', text: '▶ ' + t('catchup'), onclick: (e) => { e.stopPropagation(); playProgramme(ch, p); closeOverlay(); } }));
    }
    return el('li', {
      tabindex: '-1', class: `${state}${p.catchup ? ' cu' : ''}`, 'data-start': p.start,
      onclick: () => { if (state !== 'future') { playProgramme(ch, p); if (state === 'now' || p.catchup) closeOverlay(); } },
    },
    el('span', { class: 'time', text: fmtTime(p.start) }),
    el('div', { class: 'body' },
      el('div', { class: 'title' }, el('span', { text: p.title }),
        state === 'now' ? el('span', { class: 'badge live', text: t('now') }) : null,
        state === 'past' ? el('span', { class: 'badge ' + (p.catchup ? 'cu' : 'na'), text: p.catchup ? t('catchup') : t('not_archived') }) : null),
      p.sub_title ? el('div', { class: 'sub', text: p.sub_title }) : null,
      p.description ? el('div', { class: 'desc', text: p.description }) : null,
      state === 'now' ? el('div', { class: 'bar' }, el('i', { style: `width:${progress(p).toFixed(1)}%` })) : null),
    el('div', { class: 'acts' }, ...acts));
  }));
  const target = ol.querySelector('li.now') || ol.querySelector('li.future') || ol.lastElementChild || ol.firstElementChild;
  if (target) { target.focus({ preventScroll: true }); target.scrollIntoView({ block: 'center' }); }
}

/** Plays `ch` from wall time `tm` out of the archive (its oldest kept second at the earliest). */
export function timeshiftFrom(ch, tm) {
  const af = ch.catchup.from;
  if (!af) { showMsg(t('no_catchup'), 'info', 4000); return; }
  if (tm < af) tm = af + 1;
  tune(ch, { mode: 'timeshift', from: tm });
  if (tm === af + 1 && S.current === ch) showMsg(t('time_not_in_archive', { t: archiveStartText(ch) }), 'info', 5000);
}

// ---------- all-channel grid ----------
export const PX_PER_MIN = 4;
/** A programme cell narrower than this (px) shows no text until focused (it would be cut). */
export const CELL_TEXT_MIN_PX = 48;
let guideEnd = null; // { at, end }: the last programme's end in the grid's days ahead (unix s)
/** The end of the last programme of any channel within GUIDE_DAYS_AHEAD (0: none), from the
 *  grid API in 2-day steps (its limit), until a step finds nothing; kept for 10 minutes. */
async function lastProgrammeEnd() {
  const n = now();
  if (guideEnd && guideEnd.at > n - 600) return guideEnd.end;
  const today = dayStart(n), stop = addDays(today, GUIDE_DAYS_AHEAD);
  let end = 0;
  for (let a = today; a < stop; a = addDays(a, 2)) {
    let d;
    try { d = await api(`/api/player/guide?from=${a}&to=${Math.min(addDays(a, 2), stop)}`); } catch { break; }
    const found = Object.values(d.channels).reduce((m, list) => list.reduce((x, p) => Math.max(x, p.stop), m), 0);
    if (!found) break;
    end = Math.max(end, found);
  }
  guideEnd = { at: n, end };
  return end;
}
export async function openGrid(day) {
  openOverlay('grid');
  const n = now();
  const today = dayStart(n);
  const oldest = Math.min(...S.channels.map((c) => c.catchup.from || n), n);
  const end0 = await lastProgrammeEnd();
  if (S.overlay !== 'grid') return;
  const last = Math.max(today, end0 ? dayStart(end0 - 1) : today);
  const days = [];
  for (let d = dayStart(oldest); d <= last; d = addDays(d, 1)) days.push(d);
  day = days.includes(day) ? day : today;
  S.gridDay = day;
  $('#x-days').replaceChildren(...days.map((d) => el('button', {
    class: d === day ? 'on' : '', tabindex: '-1', text: fmtDay(d), onclick: () => openGrid(d),
  })));
  const end = addDays(day, 1);
  let data;
  try { data = await api(`/api/player/guide?from=${day}&to=${end}`); } catch { data = { channels: {} }; }
  if (S.overlay !== 'grid' || S.gridDay !== day) return;
  const width = ((end - day) / 60) * PX_PER_MIN;
  const x = (s) => ((Math.max(day, Math.min(end, s)) - day) / 60) * PX_PER_MIN;
  const head = el('div', { class: 'xrow xhead' }, el('div', { class: 'xch' }));
  const times = el('div', { class: 'xcells', style: `width:${width}px` });
  for (let s = day; s < end; s += 1800) times.append(el('span', { class: 'xtime', style: `left:${x(s)}px`, text: fmtTime(s) }));
  head.append(times);
  const rows = [head];
  for (const c of S.channels) {
    const cells = el('div', { class: 'xcells', style: `width:${width}px` });
    const progs = (data.channels[c.id] || []);
    for (const p of progs) {
      const state = p.stop <= n ? 'past' : p.start <= n ? 'now' : 'future';
      const w = Math.max(2, x(p.stop) - x(p.start) - 2);
      cells.append(el('button', {
        class: `xp ${state}${p.catchup ? ' cu' : ''}${w < CELL_TEXT_MIN_PX ? ' tiny' : ''}`, tabindex: '-1', style: `left:${x(p.start)}px;width:${w}px`,
        'data-ch': c.id, 'data-start': p.start, 'data-stop': p.stop,
        title: `${fmtTime(p.start)}–${fmtTime(p.stop)} ${p.title}`,
        onclick: () => { playProgramme(c, p); if (state === 'now' || (state === 'past' && p.catchup)) closeOverlay(); },
        onfocus: () => gridDetail(c, p, state),
      }, el('b', { text: p.title }), el('small', { text: `${fmtTime(p.start)}${p.catchup && state === 'past' ? ' ⟲' : ''}` })));
    }
    if (!progs.length) {
      cells.append(el('button', {
        class: 'xp none', tabindex: '-1', style: `left:0;width:${width - 2}px`, 'data-ch': c.id, 'data-start': day, 'data-stop': end,
        onclick: () => { tune(c); closeOverlay(); }, onfocus: () => gridDetail(c, null),
      }, el('b', { text: `${c.name} — ${t('no_programme')}` })));
    }
    rows.push(el('div', { class: 'xrow' + (c === S.current ? ' current' : '') },
      el('div', { class: 'xch', 'data-ch': c.id, onclick: () => { tune(c); closeOverlay(); } },
        el('span', { class: 'num', text: c.number ?? '' }), logo(c, 'logo'), el('span', { class: 'name', text: c.name })),
      cells));
  }
  const body = $('#x-body');
  body.replaceChildren(...rows);
  if (n >= day && n < end) body.append(el('div', { class: 'xnow', style: `left:calc(var(--xch) + ${x(n)}px)` }));
  const sc = $('#x-scroll');
  const focusT = n >= day && n < end ? n : day + 18 * 3600;
  sc.scrollLeft = Math.max(0, x(focusT) - 200);
  const row = S.current && body.querySelector(`.xp[data-ch="${CSS.escape(S.current.id)}"]`) ? S.current.id : (S.channels[0] && S.channels[0].id);
  if (row) gridFocus(row, focusT);
}

export function gridFocus(chId, tm) {
  const cells = [...document.querySelectorAll(`#x-body .xp[data-ch="${CSS.escape(chId)}"]`)];
  if (!cells.length) return false;
  const cell = cells.find((b) => +b.dataset.start <= tm && tm < +b.dataset.stop)
    || cells.reduce((best, b) => (Math.abs(+b.dataset.start - tm) < Math.abs(+best.dataset.start - tm) ? b : best));
  cell.focus({ preventScroll: true });
  const sc = $('#x-scroll');
  const r = cell.getBoundingClientRect(), v = sc.getBoundingClientRect();
  // the cell's start is kept in the part of the view the sticky channel names leave free
  const names = sc.querySelector('.xrow:not(.xhead) .xch');
  const free = (names ? names.getBoundingClientRect().right : v.left) + 16;
  const room = v.right - free;
  if (r.left < free) sc.scrollLeft -= free - r.left;
  else if (r.left > v.right - Math.min(120, room / 3)) sc.scrollLeft += r.left - (free + Math.min(100, room / 4));
  const y = cell.getBoundingClientRect(), head = sc.querySelector('.xhead');
  const top = v.top + (head ? head.offsetHeight : 0);
  if (y.top < top) sc.scrollTop -= top - y.top + 4;
  else if (y.bottom > v.bottom) sc.scrollTop += y.bottom - v.bottom + 4;
  return true;
}

export function gridDetail(c, p, state) {
  const d = $('#x-detail');
  if (!p) { d.replaceChildren(el('b', { text: c.name })); return; }
  // (replaceChildren writes a null as the text "null": absent parts are left out first)
  d.replaceChildren(...[
    el('span', { class: 'dim', text: `${c.number ?? ''} ${c.name} · ${fmtDay(dayStart(p.start))} ${fmtTime(p.start)}–${fmtTime(p.stop)} ` }),
    el('b', { text: p.title }),
    p.sub_title ? el('span', { text: ' · ' + p.sub_title }) : null,
    el('span', {
      class: 'badge ' + (state === 'now' ? 'live' : state === 'past' ? (p.catchup ? 'cu' : 'na') : ''),
      text: state === 'now' ? t('now') : state === 'past' ? (p.catchup ? t('catchup') : t('not_archived')) : t('upcoming'),
    })].filter(Boolean));
}
