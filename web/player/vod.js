// The Films / Series (VOD) section: the library (a "Continue watching" row, a row per category or
// one category as a grid, search through the server), a series' episodes by season, a title's
// details (poster, tracks, resume), and playback of its HLS in the page's video element with a
// seek bar over the title's duration, audio and subtitle choice, and the position kept per title
// on this device. Remote keys move focus spatially (arrows to the nearest item that way).
import { t, language, locale, languages } from './i18n.js';
import * as store from './storage.js';
import { $, S, api, el, fmtDur, hideMsg, icon, showMsg, video, withToken } from './core.js';
import { destroy, load, tryPlay, tune } from './playback.js';
import { showControls } from './scrub.js';
import { focusRow } from './channels.js';
import { isFull, toggleFull } from './layout.js';
import { audioTracks, closeMenu, langName, menuKey, menuOpen, onTracksChange, renderTrackButtons, subtitleTracks, toggleMenu } from './tracks.js';

export { langName };

const POS_KEY = 'atoll.vodpos';
const V = {
  titles: [],
  cats: [],
  loaded: false,
  cat: store.get('atoll.vodcat') || '', // category id ('' = all, rows per category)
  q: '',
  results: null, // titles of the last search
  stack: [], // 'library' | 'series' | 'details' | 'play'
  series: null, // { name, episodes }
  title: null, // the title of the details screen / playing
  focus: {}, // screen -> the element to focus when coming back to it
  started: false, // the playing title has played (positions are saved from then on)
  savedAt: 0,
  ignorePop: 0,
};

// ---------- helpers ----------
const top = () => V.stack[V.stack.length - 1];
const isEn = () => language() === 'en';

export function fmtRuntime(sec) {
  sec = Math.round(sec || 0);
  if (sec <= 0) return '';
  if (sec < 60) return t('dur_s', { s: sec });
  const m = Math.round(sec / 60);
  if (m < 60) return t('dur_m', { m });
  return t('dur_h_m', { h: Math.floor(m / 60), m: m % 60 });
}

function seLabel(ti) {
  if (ti.season == null && ti.episode == null) return '';
  if (ti.season != null && ti.episode != null) return t('se_short', { s: ti.season, e: ti.episode });
  return ti.episode != null ? t('episode_n', { n: ti.episode }) : t('season_n', { n: ti.season });
}

function subTitle(ti) {
  return isEn() && ti.title_en && ti.title_en !== ti.title ? ti.title_en : '';
}

function metaLine(ti) {
  return [ti.year, fmtRuntime(ti.duration_s)].filter(Boolean).join(' · ');
}

function poster(src, label, cls) {
  const ph = el('div', { class: cls + ' ph' }, el('span', { text: label }));
  if (!src) return ph;
  const img = el('img', { class: cls, src: withToken(src), alt: '', loading: 'lazy', draggable: 'false' });
  img.onerror = () => img.replaceWith(ph);
  return img;
}

// ---------- saved positions (per title, on this device) ----------
function positions() {
  try { return JSON.parse(store.get(POS_KEY) || '{}') || {}; } catch { return {}; }
}
export function savedPos(id) {
  const p = positions()[id];
  return p && p.p > 10 && p.p < 0.95 * p.d ? p.p : 0;
}
function savePos(force) {
  const ti = S.mode === 'vod' && V.title;
  if (!ti || !V.started || top() !== 'play' || video.seeking && !force) return;
  const d = ti.duration_s || video.duration || 0;
  const p = video.currentTime;
  if (!(p >= 0) || !d) return;
  const all = positions();
  if (p >= 0.95 * d) delete all[ti.id];
  else all[ti.id] = { p: Math.round(p * 10) / 10, d, at: Date.now() };
  // the 200 most recent are kept
  const keep = Object.entries(all).sort((a, b) => b[1].at - a[1].at).slice(0, 200);
  store.set(POS_KEY, JSON.stringify(Object.fromEntries(keep)));
  V.savedAt = performance.now();
}
function continueList() {
  const all = positions();
  return Object.entries(all)
    .filter(([, p]) => p.p > 10 && p.p < 0.95 * p.d)
    .sort((a, b) => b[1].at - a[1].at)
    .map(([id, p]) => ({ ti: V.titles.find((x) => String(x.id) === id), p }))
    .filter((x) => x.ti);
}

// ---------- data ----------
async function loadLibrary() {
  const d = await api('/api/player/vod?limit=1000');
  V.titles = d.titles || [];
  V.cats = d.categories || [];
  V.loaded = true;
  if (V.cat && !V.cats.some((c) => String(c.id) === V.cat)) V.cat = '';
}

let searchTimer = 0, searchSeq = 0;
function onSearch(q) {
  V.q = q.trim();
  clearTimeout(searchTimer);
  if (!V.q) { V.results = null; renderLibrary(); return; }
  searchTimer = setTimeout(async () => {
    const seq = ++searchSeq;
    try {
      const d = await api('/api/player/vod?limit=1000&q=' + encodeURIComponent(V.q));
      if (seq !== searchSeq) return;
      V.results = d.titles || [];
    } catch { V.results = []; }
    renderLibrary();
  }, 250);
}

/** Films and one entry per series (its episodes in season/episode order), in list order. */
function groupSeries(list) {
  const out = [], bySeries = new Map();
  for (const ti of list) {
    if (!ti.series) { out.push({ ti }); continue; }
    let g = bySeries.get(ti.series);
    if (!g) { g = { series: ti.series, episodes: [] }; bySeries.set(ti.series, g); out.push(g); }
    g.episodes.push(ti);
  }
  const n = (x) => (x == null ? 1e9 : x);
  for (const g of bySeries.values()) {
    g.episodes.sort((a, b) => n(a.season) - n(b.season) || n(a.episode) - n(b.episode) || a.id - b.id);
  }
  return out;
}

// ---------- library rendering ----------
function tile(item, extra = {}) {
  if (item.series) {
    const first = item.episodes.find((e) => e.poster) || item.episodes[0];
    return el('button', {
      class: 'vt series', 'data-series': item.series, onclick: () => openSeries(item.series),
    },
    el('div', { class: 'pwrap' }, poster(first.poster, item.series, 'pimg'),
      el('span', { class: 'badge ser', text: t('episodes_n', { n: item.episodes.length }) })),
    el('div', { class: 'cap' },
      el('div', { class: 'tt', text: item.series }),
      el('div', { class: 'mt dim', text: [first.year, first.category].filter(Boolean).join(' · ') })));
  }
  const ti = item.ti;
  const p = extra.p;
  return el('button', {
    class: 'vt', 'data-id': ti.id, onclick: () => openDetails(ti),
  },
  el('div', { class: 'pwrap' }, poster(ti.poster, ti.series ? `${ti.series} ${seLabel(ti)}` : ti.title, 'pimg'),
    p ? el('div', { class: 'bar' }, el('i', { style: `width:${Math.min(100, (p.p / p.d) * 100).toFixed(1)}%` })) : null),
  el('div', { class: 'cap' },
    el('div', { class: 'tt', text: ti.series ? `${ti.series} · ${seLabel(ti)}` : ti.title }),
    subTitle(ti) ? el('div', { class: 'te dim', text: subTitle(ti) }) : null,
    el('div', { class: 'mt dim', text: p ? t('left_n', { t: fmtDur(p.d - p.p) }) : metaLine(ti) })));
}

function row(id, name, tiles) {
  return el('section', { class: 'vrow', 'data-row': id },
    el('h3', { text: name }),
    el('div', { class: 'vrow-scroll' }, ...tiles));
}

function renderCats() {
  const nav = $('#vcats');
  const cats = V.cats.filter((c) => c.titles > 0);
  nav.hidden = !!V.q || cats.length < 2;
  nav.replaceChildren(...[{ id: '', name: t('all') }, ...cats].map((c) => el('button', {
    'data-cat': String(c.id), class: String(c.id) === V.cat ? 'on' : '', role: 'tab',
    'aria-selected': String(c.id) === V.cat ? 'true' : 'false',
    text: c.name,
    onclick: () => { V.cat = String(c.id); store.set('atoll.vodcat', V.cat); renderLibrary(); },
  })));
}

export function renderLibrary() {
  if (!V.loaded) return;
  renderCats();
  const body = $('#vlib');
  const had = document.activeElement && body.contains(document.activeElement) ? document.activeElement : null;
  const hadKey = had && (had.dataset.id ? `[data-id="${had.dataset.id}"]` : had.dataset.series ? `[data-series="${CSS.escape(had.dataset.series)}"]` : null);
  const hadRow = had && had.closest('.vrow') && had.closest('.vrow').dataset.row;
  const kids = [];
  if (V.q) {
    const list = V.results;
    if (list == null) kids.push(el('p', { class: 'empty', text: '…' }));
    else if (!list.length) kids.push(el('p', { class: 'empty', text: t('no_title_match', { q: V.q }) }));
    else kids.push(el('h3', { class: 'vgrid-h', text: t('results_for', { q: V.q }) }),
      el('div', { class: 'vgrid' }, ...groupSeries(list).map((x) => tile(x))));
  } else if (!V.titles.length) {
    kids.push(el('p', { class: 'empty', text: t('no_titles') }));
  } else {
    const cont = continueList();
    if (cont.length) kids.push(row('continue', t('continue_watching'), cont.map((c) => tile({ ti: c.ti }, { p: c.p }))));
    if (V.cat) {
      const c = V.cats.find((x) => String(x.id) === V.cat);
      kids.push(el('h3', { class: 'vgrid-h', text: c ? c.name : '' }),
        el('div', { class: 'vgrid' }, ...groupSeries(V.titles.filter((x) => String(x.category_id) === V.cat)).map((x) => tile(x))));
    } else {
      for (const c of V.cats) {
        const list = V.titles.filter((x) => x.category_id === c.id);
        if (list.length) kids.push(row('cat-' + c.id, c.name, groupSeries(list).map((x) => tile(x))));
      }
      const other = V.titles.filter((x) => x.category_id == null || !V.cats.some((c) => c.id === x.category_id));
      if (other.length) kids.push(row('other', t('other'), groupSeries(other).map((x) => tile(x))));
    }
  }
  body.replaceChildren(...kids);
  if (hadKey) {
    const again = (hadRow && body.querySelector(`.vrow[data-row="${hadRow}"] ${hadKey}`)) || body.querySelector(hadKey);
    if (again) again.focus({ preventScroll: true });
  }
}

// ---------- series and details ----------
function renderSeries() {
  const g = V.series;
  $('#vs-title').textContent = g.name;
  const kids = [];
  let season;
  for (const ti of g.episodes) {
    if (ti.season !== season) {
      season = ti.season;
      kids.push(el('h3', { text: season == null ? t('episodes') : t('season_n', { n: season }) }));
    }
    const p = positions()[ti.id];
    kids.push(el('button', { class: 'ep', 'data-id': ti.id, onclick: () => openDetails(ti) },
      poster(ti.poster, seLabel(ti) || ti.title, 'epimg'),
      el('div', { class: 'epmeta' },
        el('div', { class: 'tt', text: [ti.episode != null ? t('episode_n', { n: ti.episode }) : '', ti.title].filter(Boolean).join(' · ') }),
        subTitle(ti) ? el('div', { class: 'te dim', text: subTitle(ti) }) : null,
        el('div', { class: 'mt dim', text: metaLine(ti) }),
        p && p.p < 0.95 * p.d ? el('div', { class: 'bar' }, el('i', { style: `width:${Math.min(100, (p.p / p.d) * 100).toFixed(1)}%` })) : null)));
  }
  $('#vs-list').replaceChildren(...kids);
}

function renderDetails() {
  const ti = V.title;
  if (!ti) return;
  const label = ti.series ? `${ti.series} ${seLabel(ti)}` : ti.title;
  $('#vd-poster').replaceChildren(poster(ti.poster, label, 'dimg'));
  $('#vd-title').textContent = ti.series ? `${ti.series} · ${seLabel(ti)}${ti.title && ti.title !== ti.series ? ' · ' + ti.title : ''}` : ti.title;
  $('#vd-title-en').textContent = subTitle(ti);
  $('#vd-title-en').hidden = !subTitle(ti);
  $('#vd-meta').replaceChildren(...[ti.year, ti.genre, fmtRuntime(ti.duration_s), ti.category,
    ti.video && ti.video.height ? `${ti.video.height}p` : null].filter(Boolean).map((x) => el('span', { text: String(x) })));
  $('#vd-desc').textContent = ti.description || '';
  $('#vd-desc').hidden = !ti.description;
  const audio = (ti.audio || []).map((a) => langName(a.language));
  const subs = (ti.subtitles || []).map((s) => langName(s.language));
  $('#vd-audio').textContent = audio.length ? audio.join(', ') : t('none');
  $('#vd-subs').textContent = subs.length ? subs.join(', ') : t('none');
  const pos = savedPos(ti.id);
  const resume = $('#vd-resume');
  resume.hidden = !pos;
  resume.textContent = t('resume_from', { t: fmtDur(pos) });
  resume.onclick = () => play(ti, savedPos(ti.id));
  const playBtn = $('#vd-play');
  playBtn.textContent = pos ? t('play_start') : t('play');
  playBtn.className = pos ? '' : 'primary';
  playBtn.onclick = () => play(ti, 0);
}

// ---------- screens and navigation (Back on remotes, phones and browsers) ----------
function show(screen) {
  $('#vod').dataset.screen = screen;
  $('#vlibrary').hidden = screen !== 'library';
  $('#vseries').hidden = screen !== 'series';
  $('#vdetails').hidden = screen !== 'details';
  const playing = screen === 'play';
  $('#vod').hidden = playing;
  $('#app').classList.toggle('vodplay', playing);
}

function remember() {
  const s = top();
  const a = document.activeElement;
  if (s && a && a !== document.body && ($('#vod').contains(a))) V.focus[s] = a;
}

function push(screen) {
  remember();
  V.stack.push(screen);
  history.pushState({ vod: V.stack.length }, '');
  show(screen);
}

function restoreFocus(screen, fallback) {
  const f = V.focus[screen];
  if (f && document.contains(f) && f.offsetParent !== null) { f.focus({ preventScroll: true }); f.scrollIntoView({ block: 'nearest', inline: 'nearest' }); return; }
  const el2 = fallback && $(fallback);
  if (el2) el2.focus({ preventScroll: true });
}

/** Back to the screen at depth `to` (1 = the library, 0 = Live TV), with the browser history
 *  entries of the screens left (unless a Back of the browser already went there: `fromPop`). */
function backTo(to, fromPop) {
  if (V.stack.length <= to) return;
  const wasPlaying = top() === 'play';
  V.stack.length = to;
  const st = history.state;
  if (!fromPop && st && st.vod > to) { V.ignorePop++; history.go(to - st.vod); }
  if (wasPlaying) stopPlayback();
  const now = top();
  if (!now) { leaveVod(); return; }
  show(now);
  if (now === 'library') { renderLibrary(); restoreFocus('library', '#vlib .vt'); }
  else if (now === 'series') { renderSeries(); restoreFocus('series', '#vs-list .ep'); }
  else if (now === 'details') {
    renderDetails();
    // after playing, the resume button is what Enter should press (or Play when finished)
    (savedPos(V.title.id) ? $('#vd-resume') : $('#vd-play')).focus({ preventScroll: true });
  }
}

/** One level up: playback → details, details → series or library, library → Live TV. */
export function up(fromPop) { backTo(V.stack.length - 1, fromPop); }

function openSeries(name) {
  const episodes = V.titles.filter((x) => x.series === name);
  V.series = { name, episodes: groupSeries(episodes)[0]?.episodes || [] };
  push('series');
  renderSeries();
  const first = $('#vs-list .ep');
  if (first) first.focus({ preventScroll: true });
}

function openDetails(ti) {
  V.title = ti;
  push('details');
  renderDetails();
  (savedPos(ti.id) ? $('#vd-resume') : $('#vd-play')).focus({ preventScroll: true });
}

/** Shows the Films / Series section: live playback stops, the library loads. */
export async function openVod() {
  if (S.view === 'vod') return;
  S.view = 'vod';
  store.set('atoll.section', 'vod');
  destroy();
  hideMsg();
  S.mode = 'vod';
  $('#app').classList.add('vodview');
  V.stack = ['library'];
  V.focus = {};
  history.pushState({ vod: 1 }, '');
  show('library');
  $('#vtab-vod').focus({ preventScroll: true });
  try {
    await loadLibrary();
  } catch {
    $('#vlib').replaceChildren(el('p', { class: 'empty', text: t('library_failed') }));
    return;
  }
  renderLibrary();
}

/** Back to Live TV: the last channel plays again. */
export function showLive() {
  if (S.view !== 'vod') return;
  if (V.stack.length) backTo(0);
  else leaveVod();
}

function leaveVod() {
  S.view = 'live';
  store.set('atoll.section', 'live');
  $('#vod').hidden = true;
  $('#app').classList.remove('vodplay', 'vodview');
  S.mode = 'live';
  if (S.current) { tune(S.current); focusRow(S.current.id); } else $('#tab-live').focus();
}

// ---------- playback ----------
function play(ti, from) {
  V.title = ti;
  V.started = false;
  closeMenu({ refocus: false });
  push('play');
  S.mode = 'vod';
  // fragmented MP4 renditions where the server offers them (the stored samples as they are:
  // the cheapest to serve); MPEG-TS otherwise
  const url = ti.hls_fmp4 || ti.hls;
  S.vodRetry = () => {
    const at = video.currentTime || from;
    load(url, { start: at });
  };
  $('#vt-title').textContent = ti.series ? `${ti.series} · ${seLabel(ti)}` : ti.title;
  $('#vt-sub').textContent = ti.series ? ti.title : subTitle(ti);
  hideMsg();
  load(url, { start: from > 0 ? from : undefined });
  renderVodControls();
  showControls();
  $('#stage').focus({ preventScroll: true });
}

function stopPlayback() {
  savePos(true);
  V.started = false;
  S.vodRetry = null;
  closeMenu();
  destroy();
  hideMsg();
  if (isFull()) toggleFull();
}

function duration() {
  const d = V.title && V.title.duration_s;
  return d > 0 ? d : (isFinite(video.duration) ? video.duration : 0);
}

export function seekTo(sec) {
  const d = duration();
  if (!d) return;
  video.currentTime = Math.min(Math.max(0, sec), Math.max(0, d - 0.5));
  renderVodControls();
  showControls();
}
export function seekRel(sec) { seekTo(video.currentTime + sec); }

export function renderVodControls() {
  if (S.mode !== 'vod' || top() !== 'play') return;
  const d = duration();
  const pos = video.currentTime || 0;
  const pct = d ? Math.min(100, (pos / d) * 100) : 0;
  let buf = 0;
  for (let i = 0; i < video.buffered.length; i++) {
    if (video.buffered.start(i) <= pos + 0.5) buf = Math.max(buf, video.buffered.end(i));
  }
  const tr = $('#vbar .track');
  tr.querySelector('.played').style.width = pct + '%';
  tr.querySelector('.buf').style.width = (d ? Math.min(100, (buf / d) * 100) : 0) + '%';
  tr.querySelector('.head').style.left = pct + '%';
  $('#vt-pos').textContent = fmtDur(pos);
  $('#vt-dur').textContent = d ? `${fmtDur(d)}  (${t('left_n', { t: fmtDur(Math.max(0, d - pos)) })})` : '';
  const bar = $('#vbar');
  bar.setAttribute('aria-valuemax', String(Math.round(d)));
  bar.setAttribute('aria-valuenow', String(Math.round(pos)));
  bar.setAttribute('aria-valuetext', `${fmtDur(pos)} / ${fmtDur(d)}`);
  $('#vb-play').innerHTML = icon(video.paused ? 'play' : 'pause');
  $('#vb-play').title = video.paused ? t('play') : t('pause');
  renderTrackButtons($('#vb-audio'), $('#vb-subs'));
}


// ---------- remote keys: spatial focus ----------
function visible(x) {
  if (x.disabled || x.closest('[hidden]')) return false;
  const r = x.getClientRects();
  return r.length > 0 && r[0].width > 0;
}
function focusables(scope) {
  return [...scope.querySelectorAll('button, input, select, [tabindex="0"]')].filter(visible);
}

/** Moves focus to the nearest item in direction `dir` inside `scope`. */
export function spatial(dir, from, scope) {
  const items = focusables(scope).filter((x) => x !== from);
  if (!items.length) return null;
  if (!from || !scope.contains(from)) { items[0].focus(); return items[0]; }
  const r = from.getBoundingClientRect();
  const cx = (r.left + r.right) / 2, cy = (r.top + r.bottom) / 2;
  let best = null, bestScore = Infinity;
  for (const x of items) {
    const q = x.getBoundingClientRect();
    const qx = (q.left + q.right) / 2, qy = (q.top + q.bottom) / 2;
    let main, cross;
    if (dir === 'left' || dir === 'right') {
      if (dir === 'right' ? qx <= cx + 1 : qx >= cx - 1) continue;
      cross = Math.max(0, q.top - r.bottom, r.top - q.bottom);
      if (cross > 0) continue; // stays on its row
      main = dir === 'right' ? q.left - r.right : r.left - q.right;
    } else {
      if (dir === 'down' ? qy <= cy + 1 : qy >= cy - 1) continue;
      // items scrolled out of their row are not aimed at
      const sc = x.closest('.vrow-scroll');
      if (sc) { const s = sc.getBoundingClientRect(); if (qx < s.left || qx > s.right) continue; }
      main = dir === 'down' ? q.top - r.bottom : r.top - q.bottom;
      cross = Math.abs(qx - cx) - (r.width + q.width) / 4;
      cross = Math.max(0, cross);
    }
    const score = Math.max(0, main) + cross * 2;
    if (score < bestScore) { bestScore = score; best = x; }
  }
  if (best) {
    best.focus({ preventScroll: true });
    best.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    const rowEl = (dir === 'up' || dir === 'down') && best.closest('.vrow');
    if (rowEl) rowEl.scrollIntoView({ block: 'nearest' });
  }
  return best;
}

/** Keys while the Films / Series section is shown; true when the key was used. */
export function vodKey(k, a, e) {
  const inText = a && (a.tagName === 'INPUT' && a.type !== 'range' || a.tagName === 'SELECT');
  if (top() === 'play') return playKey(k, a);
  const scope = $('#vod');
  if (inText) {
    if (k === 'back' && e.key !== 'Backspace') {
      if (a.id === 'vsearch' && a.value) { a.value = ''; onSearch(''); } else a.blur();
      return true;
    }
    if (k === 'up' || k === 'down' || k === 'ok' && a.id === 'vsearch') {
      spatial(k === 'ok' ? 'down' : k, a, scope);
      return true;
    }
    return false;
  }
  switch (k) {
    case 'back': up(); return true;
    case 'up': case 'down': case 'left': case 'right':
      if (!a || !scope.contains(a)) { const f = focusables(scope).find((x) => x.closest('#vlib, #vs-list, #vdetails')) || focusables(scope)[0]; if (f) f.focus(); }
      else spatial(k, a, scope);
      return true;
    case 'chup': case 'chdown': for (let i = 0; i < 3; i++) spatial(k === 'chup' ? 'up' : 'down', document.activeElement, scope); return true;
    case 'ok': if (a && scope.contains(a)) a.click(); return true;
    case 'full': toggleFull(); return true;
    default: return /^d[0-9]$/.test(k);
  }
}

function playKey(k, a) {
  const ctl = $('#vctl');
  if (menuOpen()) {
    menuKey(k, a);
    showControls();
    return true;
  }
  const inCtl = a && ctl.contains(a);
  switch (k) {
    case 'playpause': video.paused ? tryPlay() : video.pause(); showControls(); return true;
    case 'mute': video.muted = !video.muted; return true;
    case 'full': toggleFull(); return true;
    case 'chup': seekRel(+30); return true;
    case 'chdown': seekRel(-30); return true;
    case 'back':
      if (inCtl && $('#app').classList.contains('ui')) { a.blur(); $('#stage').focus({ preventScroll: true }); $('#app').classList.remove('ui'); }
      else up();
      return true;
    default:
  }
  if (!inCtl) {
    if (k === 'left' || k === 'right') { seekRel(k === 'left' ? -10 : 10); return true; }
    if (k === 'up' || k === 'down' || k === 'ok') { showControls(); $('#vb-play').focus({ preventScroll: true }); return true; }
    return /^d[0-9]$/.test(k);
  }
  showControls();
  if (a.id === 'vbar' && (k === 'left' || k === 'right')) { seekRel(k === 'left' ? -10 : 10); return true; }
  if (k === 'ok') { a.id === 'vbar' ? (video.paused ? tryPlay() : video.pause()) : a.click(); return true; }
  if (['up', 'down', 'left', 'right'].includes(k)) { spatial(k, a, ctl); return true; }
  return true;
}

// ---------- set-up ----------
export function initVod() {
  const toVod = () => openVod();
  $('#tab-vod').onclick = toVod;
  $('#tab-live').onclick = () => { if (S.view === 'vod') showLive(); };
  $('#vtab-live').onclick = () => showLive();
  $('#vtab-vod').onclick = () => backTo(1);
  $('#vsearch').addEventListener('input', (e) => onSearch(e.target.value));
  $('#vs-back').onclick = () => up();
  $('#vd-back').onclick = () => up();
  $('#vb-back').onclick = () => up();
  $('#vb-play').onclick = () => { video.paused ? tryPlay() : video.pause(); };
  $('#vb-r30').onclick = () => seekRel(-30);
  $('#vb-r10').onclick = () => seekRel(-10);
  $('#vb-f10').onclick = () => seekRel(+10);
  $('#vb-f30').onclick = () => seekRel(+30);
  $('#vb-audio').onclick = () => { toggleMenu('audio', $('#vb-audio')); showControls(); };
  $('#vb-subs').onclick = () => { toggleMenu('subs', $('#vb-subs')); showControls(); };
  onTracksChange(renderVodControls);
  $('#vb-full').onclick = toggleFull;
  $('#vb-full').innerHTML = icon('full');
  const vl = $('#vlang');
  vl.replaceChildren(...languages.map(([v, name]) => el('option', { value: v, text: name })));
  vl.value = language();
  vl.onchange = () => { const l = $('#lang'); l.value = vl.value; l.dispatchEvent(new Event('change')); };

  // the seek bar: click or drag anywhere
  {
    const bar = $('#vbar');
    const at = (ev) => {
      const r = bar.querySelector('.track').getBoundingClientRect();
      return Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width)) * duration();
    };
    let dragging = false;
    bar.addEventListener('pointerdown', (e) => { dragging = true; bar.setPointerCapture(e.pointerId); showControls(); });
    bar.addEventListener('pointermove', (e) => {
      const hv = bar.querySelector('.hover');
      hv.hidden = false;
      hv.textContent = fmtDur(at(e));
      hv.style.left = (e.clientX - bar.querySelector('.track').getBoundingClientRect().left) + 'px';
      if (dragging) {
        const pct = duration() ? (at(e) / duration()) * 100 : 0;
        bar.querySelector('.played').style.width = pct + '%';
        bar.querySelector('.head').style.left = pct + '%';
      }
      showControls();
    });
    bar.addEventListener('pointerleave', () => { bar.querySelector('.hover').hidden = true; });
    bar.addEventListener('pointerup', (e) => { if (dragging) { dragging = false; seekTo(at(e)); } });
  }

  video.addEventListener('playing', () => { if (S.mode === 'vod' && top() === 'play') V.started = true; });
  video.addEventListener('timeupdate', () => {
    if (S.mode !== 'vod' || top() !== 'play') return;
    if (performance.now() - V.savedAt > 5000) savePos();
  });
  video.addEventListener('pause', () => { savePos(); renderVodControls(); });
  video.addEventListener('play', renderVodControls);
  video.addEventListener('seeked', () => { savePos(); renderVodControls(); });
  video.addEventListener('ended', () => {
    if (S.mode !== 'vod' || top() !== 'play') return;
    const all = positions();
    delete all[V.title.id];
    store.set(POS_KEY, JSON.stringify(all));
    V.started = false;
    up();
  });
  window.addEventListener('pagehide', () => savePos(true));
  document.addEventListener('visibilitychange', () => { if (document.hidden) savePos(true); });
  // the browser's (or phone's) Back: to the screen of the entry it went to
  window.addEventListener('popstate', (e) => {
    if (V.ignorePop > 0) { V.ignorePop--; return; }
    if (S.view !== 'vod' || !V.stack.length) return;
    const depth = (e.state && e.state.vod) || 0;
    if (depth < V.stack.length) backTo(depth, true);
  });
  $('#stage').addEventListener('pointermove', () => { if (S.mode === 'vod') renderVodControls(); });
  setInterval(() => { if ($('#app').classList.contains('ui')) renderVodControls(); }, 500);
}

/** Re-renders what is on screen (after a language change). */
export function renderVod() {
  $('#vlang').value = language();
  if (S.view !== 'vod') return;
  renderLibrary();
  if (V.series && top() === 'series') renderSeries();
  if (V.title && top() === 'details') renderDetails();
  renderVodControls();
}

/** For tests and debugging. */
export const vodDebug = {
  get screen() { return S.view === 'vod' ? top() : null; },
  get title() { return V.title && V.title.id; },
  get audio() { return audioTracks(); },
  get subtitles() { return subtitleTracks(); },
  positions,
};
