// Atoll's viewer page: channel list, live play (hls.js where MSE exists, native HLS on
// Safari/iOS), per-channel guide and an all-channel grid with catch-up, start-over and a scrub
// bar over the timeshift window, TV-remote keys, zh/en UI. Plain ES modules, no framework.
import { t, setLanguage, detectLanguage, languages, language, locale } from './i18n.js';

const $ = (s) => document.querySelector(s);
const video = $('#v');
// a viewer token given once (`?token=`) is kept, so the installed app (started at `/`) has it too
const token = (() => {
  const q = new URLSearchParams(location.search).get('token');
  try {
    if (q) localStorage.setItem('atoll.token', q);
    return q || localStorage.getItem('atoll.token');
  } catch { return q; }
})();

/** Appends the viewer token (from `?token=` of the page) to a same-origin URL. */
function withToken(url) {
  if (!token || /[?&]token=/.test(url)) return url;
  try {
    if (new URL(url, location.href).origin !== location.origin) return url;
  } catch { return url; }
  return url + (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token);
}

async function api(path) {
  const r = await fetch(withToken(path), { cache: 'no-store' });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}


// Icons drawn inline (TV boxes often lack emoji fonts).
const ICON = {
  play: '<path d="M8 5v14l11-7z"/>',
  pause: '<path d="M6 5h4v14H6zm8 0h4v14h-4z"/>',
  vol: '<path d="M3 9v6h4l5 5V4L7 9H3zm13.5 3A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4zM14 3.2v2.1a7 7 0 0 1 0 13.4v2.1a9 9 0 0 0 0-17.6z"/>',
  muted: '<path d="M3 9v6h4l5 5V4L7 9H3zm13.6 3 2.7-2.7-1.4-1.4-2.7 2.7-2.7-2.7-1.4 1.4 2.7 2.7-2.7 2.7 1.4 1.4 2.7-2.7 2.7 2.7 1.4-1.4z"/>',
  full: '<path d="M4 4h6v2H6v4H4zm10 0h6v6h-2V6h-4zM4 14h2v4h4v2H4zm14 0h2v6h-6v-2h4z"/>',
  list: '<path d="M3 5h18v2H3zm0 6h18v2H3zm0 6h18v2H3z"/>',
  grid: '<path d="M3 4h18v4H3zm0 6h8v4H3zm10 0h8v4h-8zM3 16h18v4H3z"/>',
};
const icon = (name) => `<svg viewBox="0 0 24 24" width="22" height="22" fill="currentColor" aria-hidden="true">${ICON[name]}</svg>`;

// ---------- state ----------
const S = {
  channels: [],
  skew: 0, // server clock minus this device's clock, seconds (boxes often have no NTP)
  group: localStorage.getItem('atoll.group') || '',
  query: '',
  current: null,
  mode: 'live', // live | timeshift | catchup
  from: 0, // timeshift start (unix s)
  prog: null, // the catch-up programme
  hls: null,
  mediaRecoveries: 0,
  retryTimer: 0,
  epg: new Map(), // channel id -> { list, from, to, at }
  listHidden: false,
  gridDay: null,
  gridData: null,
  guideCh: null,
  overlay: null, // 'guide' | 'grid' | 'list' (list as an overlay when hidden)
  lastProgress: { t: 0, at: 0 },
};
const now = () => Date.now() / 1000 + S.skew;

// ---------- time formatting ----------
const fmtTime = (s) => new Date(s * 1000).toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit' });
const fmtClock = (s) => new Date(s * 1000).toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit', second: '2-digit' });
function dayStart(s) { const d = new Date(s * 1000); d.setHours(0, 0, 0, 0); return d.getTime() / 1000; }
function addDays(s, n) { const d = new Date(s * 1000); d.setDate(d.getDate() + n); d.setHours(0, 0, 0, 0); return d.getTime() / 1000; }
function fmtDay(s) {
  const today = dayStart(now());
  if (s === today) return t('today');
  if (s === addDays(today, -1)) return t('yesterday');
  if (s === addDays(today, 1)) return t('tomorrow');
  return new Date(s * 1000).toLocaleDateString(locale(), { weekday: 'short', day: 'numeric', month: 'numeric' });
}
function fmtDur(sec) {
  sec = Math.max(0, Math.round(sec));
  const h = Math.floor(sec / 3600), m = Math.floor(sec / 60) % 60, s = sec % 60;
  return (h ? h + ':' + String(m).padStart(2, '0') : m) + ':' + String(s).padStart(2, '0');
}

// ---------- messages ----------
let msgTimer = 0;
function showMsg(text, kind = 'info', ms = 0) {
  const m = $('#msg');
  m.textContent = text;
  m.className = kind;
  m.hidden = false;
  clearTimeout(msgTimer);
  if (ms) msgTimer = setTimeout(() => { m.hidden = true; }, ms);
}
function hideMsg() { clearTimeout(msgTimer); $('#msg').hidden = true; }
function spinner(on) { $('#spinner').hidden = !on; }

/** The standing message for the current channel's live state (offline: the slate plays). */
function stateMsg() {
  const c = S.current;
  if (!c || S.mode !== 'live') return;
  if (c.state === 'offline' || c.slate) showMsg(t('ch_offline', { name: c.name }), 'offline');
  else if (c.state === 'connecting') showMsg(t('ch_connecting', { name: c.name }), 'info');
  else if (['offline', 'info'].includes($('#msg').className)) hideMsg();
}

// ---------- playback engine ----------
function destroy() {
  clearTimeout(S.retryTimer);
  if (S.hls) { S.hls.destroy(); S.hls = null; }
  video.removeAttribute('src');
  video.load();
}

function load(url) {
  destroy();
  S.mediaRecoveries = 0;
  S.lastProgress = { t: -1, at: performance.now() };
  spinner(true);
  const src = withToken(url);
  if (window.Hls && Hls.isSupported()) {
    const hls = new Hls({
      // every playlist and segment request carries the viewer token too
      xhrSetup: token ? (xhr, u) => { const w = withToken(u); if (w !== u) xhr.open('GET', w, true); } : undefined,
      maxBufferLength: 30,
      backBufferLength: 60,
      manifestLoadingMaxRetry: 1,
      levelLoadingMaxRetry: 4,
      fragLoadingMaxRetry: 6,
    });
    S.hls = hls;
    hls.on(Hls.Events.ERROR, (_, d) => onHlsError(hls, d));
    hls.on(Hls.Events.MANIFEST_PARSED, () => tryPlay());
    hls.loadSource(src);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = src;
    tryPlay();
  } else {
    spinner(false);
    showMsg(t('unsupported'), 'error');
  }
}

async function tryPlay() {
  try {
    await video.play();
  } catch (e) {
    if (e && e.name === 'NotAllowedError' && !video.muted) {
      // autoplay with sound is refused until the viewer touches the page: play muted meanwhile
      video.muted = true;
      $('#unmute').hidden = false;
      try { await video.play(); } catch { /* waits for a gesture */ }
    }
  }
}

function onHlsError(hls, d) {
  if (hls !== S.hls || !d.fatal) return;
  const code = d.response && d.response.code;
  if (d.type === Hls.ErrorTypes.MEDIA_ERROR && S.mediaRecoveries++ < 3) {
    hls.recoverMediaError();
    return;
  }
  spinner(false);
  const manifest = d.details === Hls.ErrorDetails.MANIFEST_LOAD_ERROR;
  if (S.mode !== 'live' && manifest && (code === 404 || code === 400)) {
    destroy();
    if (S.mode === 'catchup') showMsg(t('not_in_archive', { title: S.prog.title }), 'error');
    else showMsg(t('time_not_in_archive', { t: archiveStartText(S.current) }), 'error');
    renderControls();
    return;
  }
  showMsg(code === 0 || code === undefined ? t('network_down') : t('load_failed'), 'error');
  const again = { mode: S.mode, from: S.from, prog: S.prog };
  S.retryTimer = setTimeout(() => { if (S.hls === hls) tune(S.current, again); }, 3000);
}

/** Wall-clock time (unix s, server time) of the frame on screen, from #EXT-X-PROGRAM-DATE-TIME. */
function playingWall() {
  if (S.hls) {
    const d = S.hls.playingDate;
    return d && !isNaN(d.getTime()) ? d.getTime() / 1000 : null;
  }
  if (video.getStartDate) {
    const ms = video.getStartDate().getTime();
    if (ms && !isNaN(ms)) return ms / 1000 + video.currentTime;
  }
  return null;
}

video.addEventListener('playing', () => { spinner(false); if (['error'].includes($('#msg').className) && S.mode !== 'live') hideMsg(); stateMsg(); });
video.addEventListener('waiting', () => spinner(true));
video.addEventListener('timeupdate', () => {
  if (video.currentTime !== S.lastProgress.t) S.lastProgress = { t: video.currentTime, at: performance.now() };
  if (!video.paused && $('#spinner').hidden === false && video.readyState >= 3) spinner(false);
});
video.addEventListener('ended', () => {
  // a catch-up programme ran out: carry on from its end, to live once caught up
  if (S.mode === 'catchup' && S.prog) {
    if (S.prog.stop < now() - 15) tune(S.current, { mode: 'timeshift', from: S.prog.stop });
    else tune(S.current, { mode: 'live' });
  }
});
video.addEventListener('volumechange', () => {
  localStorage.setItem('atoll.volume', String(video.volume));
  localStorage.setItem('atoll.muted', video.muted ? '1' : '0');
  $('#volume').value = video.muted ? 0 : video.volume;
  $('#b-mute').innerHTML = icon(video.muted || video.volume === 0 ? 'muted' : 'vol');
  if (!video.muted) $('#unmute').hidden = true;
});
video.addEventListener('play', renderControls);
video.addEventListener('pause', renderControls);

// a live picture that froze for 20 s while it should play is reloaded
setInterval(() => {
  if (!S.current || video.paused || S.mode === 'catchup' || !$('#msg').hidden && $('#msg').className === 'error') return;
  if (performance.now() - S.lastProgress.at > 20000) {
    S.lastProgress.at = performance.now();
    tune(S.current, { mode: S.mode, from: S.from });
  }
}, 5000);

// ---------- tuning ----------
function tune(ch, { mode = 'live', from = 0, prog = null } = {}) {
  if (!ch) return;
  const changed = S.current !== ch;
  S.current = ch;
  S.mode = mode;
  S.from = Math.floor(from);
  S.prog = prog;
  localStorage.setItem('atoll.last', ch.id);
  hideMsg();
  let url;
  if (mode === 'catchup') url = `/live/${ch.id}/index-${prog.start}-${Math.max(1, prog.stop - prog.start)}.m3u8`;
  else if (mode === 'timeshift') url = `/live/${ch.id}/timeshift_abs-${S.from}.m3u8`;
  else url = ch.url;
  load(url);
  if (changed) loadEpg(ch);
  markCurrent();
  renderControls();
  showControls();
  stateMsg();
}

function zap(dir) {
  const list = filtered().includes(S.current) ? filtered() : S.channels;
  if (!list.length) return;
  const i = list.indexOf(S.current);
  const next = list[(i + dir + list.length) % list.length];
  tune(next);
  focusRow(next.id, false);
}

function goLive() { tune(S.current, { mode: 'live' }); }

function archiveStartText(ch) {
  const f = ch && ch.catchup && ch.catchup.from;
  return f ? `${fmtDay(dayStart(f))} ${fmtTime(f)}` : '—';
}

/** Plays the current channel from wall time `t`: inside what is loaded by seeking, else by
 *  loading a start-over (timeshift) playlist from the archive; at the live edge, live. */
function seekWall(target) {
  const ch = S.current;
  if (!ch) return;
  const n = now();
  if (target >= n - 8) {
    if (S.mode !== 'live') goLive();
    else if (S.hls && S.hls.liveSyncPosition) video.currentTime = S.hls.liveSyncPosition;
    return;
  }
  const pos = playingWall();
  if (pos != null && video.seekable.length) {
    const mt = video.currentTime + (target - pos);
    const lo = video.seekable.start(0), hi = video.seekable.end(video.seekable.length - 1);
    if (mt >= lo && mt <= hi - (S.mode === 'live' ? 4 : 0.5)) { video.currentTime = mt; return; }
  }
  const af = ch.catchup && ch.catchup.from;
  if (!ch.catchup.record && !af) { showMsg(t('no_catchup'), 'info', 4000); return; }
  if (!af) { showMsg(t('time_not_in_archive', { t: '—' }), 'info', 4000); return; }
  const early = target < af;
  tune(ch, { mode: 'timeshift', from: early ? af + 1 : target });
  if (early) showMsg(t('time_not_in_archive', { t: archiveStartText(ch) }), 'info', 5000);
}

let seekPending = null, seekTimer = 0;
/** Remote-friendly relative seek: presses add up, the jump happens once they stop. */
function seekBy(sec) {
  if (!S.current) return;
  const base = seekPending ?? playingWall() ?? now();
  seekPending = Math.min(now(), base + sec);
  showControls();
  renderScrub(seekPending);
  clearTimeout(seekTimer);
  seekTimer = setTimeout(() => { const t0 = seekPending; seekPending = null; seekWall(t0); }, 700);
}

function startOver() {
  const p = programmeAt(S.current, playingWall() ?? now());
  if (!p) return;
  if (S.mode === 'catchup') { seekWall(p.start); return; }
  seekWall(p.start);
}

function playProgramme(ch, p) {
  const n = now();
  if (p.start > n) { showMsg(t('future', { title: p.title }), 'info', 3000); return; }
  if (p.stop > n) { tune(ch); return; }
  if (!p.catchup) { showMsg(t('not_in_archive', { title: p.title }), 'error', 5000); return; }
  tune(ch, { mode: 'catchup', prog: { start: p.start, stop: p.stop, title: p.title } });
}

// ---------- guide data ----------
async function loadEpg(ch) {
  const n = now();
  const from = Math.floor(Math.min(n - 6 * 3600, (ch.catchup.from || n) - 3600));
  const to = Math.floor(n + 2 * 86400);
  try {
    const d = await api(`/api/epg?channel=${ch.id}&from=${from}&to=${to}`);
    S.epg.set(ch.id, { list: d.programmes, at: n });
    if (S.current === ch) renderControls();
  } catch { /* no guide: the bar falls back to the timeshift window */ }
}
function programmeAt(ch, tm) {
  const e = ch && S.epg.get(ch.id);
  if (!e) return null;
  return e.list.find((p) => p.start <= tm && tm < p.stop) || null;
}

// ---------- channel list ----------
function filtered() {
  const q = S.query.trim().toLowerCase();
  return S.channels.filter((c) => (!S.group || c.group === S.group) && (!q
    || c.name.toLowerCase().includes(q)
    || String(c.number ?? '') === q
    || (c.now && c.now.title.toLowerCase().includes(q))));
}

function logo(c, cls) {
  const initials = c.name.replace(/[^\p{L}\p{N}]+/gu, ' ').trim().split(' ').map((w) => [...w][0]).join('').slice(0, 3) || '?';
  const ph = el('span', { class: cls + ' ph', text: initials });
  if (!c.logo) return ph;
  const img = el('img', { class: cls, src: c.logo, alt: '', loading: 'lazy' });
  img.onerror = () => img.replaceWith(ph);
  return img;
}

function progress(p) {
  if (!p) return 0;
  return Math.min(100, Math.max(0, ((now() - p.start) / Math.max(1, p.stop - p.start)) * 100));
}

function rowFor(c) {
  const off = c.state !== 'live' || c.slate;
  const li = el('li', {
    role: 'option', tabindex: '-1', 'data-id': c.id,
    class: (c === S.current ? 'current ' : '') + (off ? 'off' : ''),
    'aria-selected': c === S.current ? 'true' : 'false',
    onclick: () => { tune(c); if (S.listHidden) closeOverlay(); },
  },
  el('span', { class: 'num', text: c.number ?? '' }),
  logo(c, 'logo'),
  el('div', { class: 'meta' },
    el('div', { class: 'name' }, el('span', { text: c.name }),
      off ? el('span', { class: 'badge off', text: t('offline') }) : null,
      c.catchup.record && c.catchup.from ? el('span', { class: 'badge cu', title: t('hours_archive', { n: c.catchup.hours }), text: '⟲' }) : null),
    el('div', { class: 'now', text: c.now ? `${fmtTime(c.now.start)} ${c.now.title}` : '' }),
    c.now ? el('div', { class: 'bar' }, el('i', { style: `width:${progress(c.now).toFixed(1)}%` })) : null));
  return li;
}

function renderGroups() {
  const groups = [...new Set(S.channels.map((c) => c.group).filter(Boolean))];
  if (S.group && !groups.includes(S.group)) S.group = '';
  const nav = $('#groups');
  nav.hidden = groups.length < 2;
  nav.replaceChildren(...['', ...groups].map((g) => el('button', {
    role: 'tab', tabindex: '-1', 'data-group': g, class: g === S.group ? 'on' : '',
    'aria-selected': g === S.group ? 'true' : 'false',
    text: g || t('all'),
    onclick: () => { S.group = g; localStorage.setItem('atoll.group', g); renderGroups(); renderList(); },
  })));
}

function renderList() {
  const ul = $('#channels');
  const focused = document.activeElement && document.activeElement.closest('#channels li');
  const fid = focused && focused.dataset.id;
  const list = filtered();
  ul.replaceChildren(...list.map(rowFor));
  const empty = $('#list-empty');
  empty.hidden = list.length > 0;
  empty.textContent = S.channels.length ? t('no_match', { q: S.query }) : t('no_channels');
  if (fid) focusRow(fid, false);
}

function markCurrent() {
  for (const li of document.querySelectorAll('#channels li')) {
    const on = S.current && li.dataset.id === S.current.id;
    li.classList.toggle('current', !!on);
    li.setAttribute('aria-selected', on ? 'true' : 'false');
  }
}

function focusRow(id, focus = true) {
  const li = document.querySelector(`#channels li[data-id="${CSS.escape(id)}"]`);
  if (!li) return false;
  if (focus) li.focus({ preventScroll: true });
  li.scrollIntoView({ block: 'nearest' });
  return true;
}

async function refreshChannels() {
  const d = await api('/api/player/channels');
  S.skew = d.now - Date.now() / 1000;
  if (Math.abs(S.skew) < 2) S.skew = 0;
  const old = S.current && S.current.id;
  S.channels = d.channels;
  if (old) {
    const c = S.channels.find((x) => x.id === old);
    if (c) S.current = c;
  }
  renderGroups();
  renderList();
  stateMsg();
  renderControls();
}

// ---------- controls and scrub bar ----------
let hideTimer = 0;
function showControls() {
  const app = $('#app');
  app.classList.add('ui');
  clearTimeout(hideTimer);
  hideTimer = setTimeout(() => {
    if (!video.paused && !$('#stage').matches(':hover') && !document.activeElement.closest('#controls')) app.classList.remove('ui');
  }, 5000);
  renderControls();
}

function scrubWindow() {
  const n = now();
  const ch = S.current;
  if (S.mode === 'catchup' && S.prog) return [S.prog.start, S.prog.stop];
  const pos = playingWall() ?? (S.mode === 'live' ? n : S.from);
  const p = programmeAt(ch, pos);
  if (p) return [p.start, p.stop];
  const af = ch && ch.catchup.from;
  const a = Math.max(n - 3600, af || n - 60);
  return [Math.min(a, pos), n];
}

function renderScrub(pending) {
  if (!S.current) return;
  const n = now();
  const [a, b] = scrubWindow();
  const span = Math.max(1, b - a);
  const pct = (x) => Math.min(100, Math.max(0, ((x - a) / span) * 100));
  const pos = pending ?? playingWall() ?? (S.mode === 'live' ? n : S.from);
  const af = S.current.catchup.from || n - 40;
  const track = $('#scrub .track');
  track.querySelector('.avail').style.cssText = `left:${pct(Math.max(a, af))}%;width:${pct(Math.min(b, n)) - pct(Math.max(a, af))}%`;
  track.querySelector('.played').style.width = pct(pos) + '%';
  track.querySelector('.head').style.left = pct(pos) + '%';
  $('#s-start').textContent = fmtTime(a);
  $('#s-end').textContent = fmtTime(b);
  const behind = n - pos;
  $('#s-pos').textContent = S.mode === 'catchup' || behind > 12
    ? `${fmtClock(pos)} · ${t('behind_live', { t: fmtDur(behind) })}` : t('live');
  const sc = $('#scrub');
  sc.setAttribute('aria-valuenow', pct(pos).toFixed(0));
  sc.setAttribute('aria-valuetext', fmtClock(pos));
}

function renderControls() {
  const c = S.current;
  if (!c) return;
  $('#c-num').textContent = c.number ?? '';
  $('#c-name').textContent = c.name;
  const lg = $('#c-logo');
  lg.hidden = !c.logo;
  if (c.logo) lg.src = c.logo;
  const n = now();
  const pos = playingWall() ?? (S.mode === 'live' ? n : S.from);
  const p = S.mode === 'catchup' ? S.prog : (programmeAt(c, pos) || (S.mode === 'live' ? c.now : null));
  $('#c-title').textContent = p ? p.title : '';
  $('#c-time').textContent = p ? ` ${fmtTime(p.start)}–${fmtTime(p.stop)}` : '';
  const mode = $('#c-mode');
  const behind = n - pos > 12;
  mode.textContent = S.mode === 'catchup' ? t('catchup_mode') : (S.mode === 'timeshift' && behind ? t('timeshift_mode') : t('live'));
  mode.className = 'badge ' + (S.mode === 'live' || !behind ? 'live' : 'ts');
  $('#b-live').hidden = S.mode === 'live';
  const canArchive = !!(c.catchup.record && c.catchup.from);
  $('#b-startover').hidden = !(canArchive && p && p.start >= c.catchup.from - 60);
  $('#b-play').innerHTML = icon(video.paused ? 'play' : 'pause');
  $('#b-play').title = video.paused ? t('play') : t('pause');
  renderScrub(seekPending);
}
setInterval(() => { if ($('#app').classList.contains('ui')) renderControls(); }, 1000);

function scrubAt(ev) {
  const r = $('#scrub .track').getBoundingClientRect();
  const [a, b] = scrubWindow();
  const f = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
  return a + f * (b - a);
}
{
  const sc = $('#scrub');
  let dragging = false;
  sc.addEventListener('pointerdown', (e) => { dragging = true; sc.setPointerCapture(e.pointerId); seekPending = scrubAt(e); renderScrub(seekPending); });
  sc.addEventListener('pointermove', (e) => {
    const hv = sc.querySelector('.hover');
    const tm = scrubAt(e);
    hv.hidden = false;
    hv.textContent = fmtTime(tm);
    hv.style.left = ((e.clientX - sc.querySelector('.track').getBoundingClientRect().left)) + 'px';
    if (dragging) { seekPending = Math.min(now(), tm); renderScrub(seekPending); }
    showControls();
  });
  sc.addEventListener('pointerleave', () => { sc.querySelector('.hover').hidden = true; });
  sc.addEventListener('pointerup', (e) => {
    if (!dragging) return;
    dragging = false;
    const tm = Math.min(now(), scrubAt(e));
    seekPending = null;
    seekWall(tm);
  });
}

// ---------- per-channel guide ----------
async function openGuide(ch, day) {
  if (!ch) return;
  S.guideCh = ch;
  openOverlay('guide');
  $('#g-num').textContent = ch.number ?? '';
  $('#g-name').textContent = ch.name;
  const lg = $('#g-logo');
  lg.hidden = !ch.logo;
  if (ch.logo) lg.src = ch.logo;
  const today = dayStart(now());
  const first = ch.catchup.from ? dayStart(ch.catchup.from) : today;
  const days = [];
  for (let d = first; d <= addDays(today, 6); d = addDays(d, 1)) days.push(d);
  day = day ?? today;
  $('#g-days').replaceChildren(...days.map((d) => el('button', {
    class: d === day ? 'on' : '', tabindex: '-1', 'data-day': d, text: fmtDay(d),
    onclick: () => openGuide(ch, d),
  })));
  const ol = $('#g-list');
  ol.replaceChildren();
  let progs = [];
  try {
    progs = (await api(`/api/epg?channel=${ch.id}&from=${day}&to=${addDays(day, 1)}`)).programmes;
  } catch { /* shown as empty */ }
  if (S.guideCh !== ch || S.overlay !== 'guide') return;
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
function timeshiftFrom(ch, tm) {
  const af = ch.catchup.from;
  if (!af) { showMsg(t('no_catchup'), 'info', 4000); return; }
  if (tm < af) tm = af + 1;
  tune(ch, { mode: 'timeshift', from: tm });
  if (tm === af + 1 && S.current === ch) showMsg(t('time_not_in_archive', { t: archiveStartText(ch) }), 'info', 5000);
}

// ---------- all-channel grid ----------
const PX_PER_MIN = 4;
async function openGrid(day) {
  openOverlay('grid');
  const n = now();
  const today = dayStart(n);
  const oldest = Math.min(...S.channels.map((c) => c.catchup.from || n), n);
  const days = [];
  for (let d = dayStart(oldest); d <= addDays(today, 6); d = addDays(d, 1)) days.push(d);
  day = day ?? today;
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
        class: `xp ${state}${p.catchup ? ' cu' : ''}`, tabindex: '-1', style: `left:${x(p.start)}px;width:${w}px`,
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

function gridFocus(chId, tm) {
  const cells = [...document.querySelectorAll(`#x-body .xp[data-ch="${CSS.escape(chId)}"]`)];
  if (!cells.length) return false;
  const cell = cells.find((b) => +b.dataset.start <= tm && tm < +b.dataset.stop)
    || cells.reduce((best, b) => (Math.abs(+b.dataset.start - tm) < Math.abs(+best.dataset.start - tm) ? b : best));
  cell.focus({ preventScroll: true });
  const sc = $('#x-scroll');
  const r = cell.getBoundingClientRect(), v = sc.getBoundingClientRect();
  const chw = parseFloat(getComputedStyle(document.documentElement).getPropertyValue('--xch')) || 180;
  if (r.left < v.left + chw) sc.scrollLeft -= v.left + chw - r.left + 20;
  else if (r.left > v.right - 120) sc.scrollLeft += r.left - (v.right - 300);
  cell.scrollIntoView({ block: 'nearest' });
  return true;
}

function gridDetail(c, p, state) {
  const d = $('#x-detail');
  if (!p) { d.replaceChildren(el('b', { text: c.name })); return; }
  d.replaceChildren(
    el('span', { class: 'dim', text: `${c.number ?? ''} ${c.name} · ${fmtDay(dayStart(p.start))} ${fmtTime(p.start)}–${fmtTime(p.stop)} ` }),
    el('b', { text: p.title }),
    p.sub_title ? el('span', { text: ' · ' + p.sub_title }) : null,
    el('span', {
      class: 'badge ' + (state === 'now' ? 'live' : state === 'past' ? (p.catchup ? 'cu' : 'na') : ''),
      text: state === 'now' ? t('now') : state === 'past' ? (p.catchup ? t('catchup') : t('not_archived')) : t('upcoming'),
    }));
}

// ---------- overlays and history (Back on phones and TV boxes closes them) ----------
function openOverlay(name) {
  if (S.overlay && S.overlay !== name) closeOverlay(true);
  if (S.overlay !== name) history.pushState({ overlay: name }, '');
  S.overlay = name;
  if (name === 'list') $('#app').classList.add('listopen');
  else $('#' + name).hidden = false;
}
function closeOverlay(silent) {
  const o = S.overlay;
  if (!o) return;
  S.overlay = null;
  if (o === 'list') $('#app').classList.remove('listopen');
  else $('#' + o).hidden = true;
  if (!silent && history.state && history.state.overlay) history.back();
  if (o === 'guide' && S.guideCh && !S.listHidden) focusRow(S.guideCh.id);
  else $('#stage').focus({ preventScroll: true });
}
window.addEventListener('popstate', () => { if (S.overlay) closeOverlay(true); });

function openList() {
  if (S.listHidden) openOverlay('list');
  if (!(S.current && focusRow(S.current.id))) {
    const first = $('#channels li');
    if (first) first.focus();
  }
}

function setListHidden(h) {
  S.listHidden = h;
  $('#app').classList.toggle('nolist', h);
  if (!h && S.overlay === 'list') closeOverlay(true);
  $('#b-list').title = t(h ? 'show_list' : 'hide_list');
}

// ---------- fullscreen ----------
function isFull() { return !!(document.fullscreenElement || document.webkitFullscreenElement); }
function toggleFull() {
  if (isFull()) (document.exitFullscreen || document.webkitExitFullscreen).call(document);
  else {
    const app = $('#app');
    if (app.requestFullscreen) app.requestFullscreen().catch(() => {});
    else if (app.webkitRequestFullscreen) app.webkitRequestFullscreen();
    else if (video.webkitEnterFullscreen) video.webkitEnterFullscreen(); // iPhone
  }
}
for (const ev of ['fullscreenchange', 'webkitfullscreenchange']) {
  document.addEventListener(ev, () => { setListHidden(isFull() || localStorage.getItem('atoll.nolist') === '1'); showControls(); });
}

// ---------- keys: keyboard and TV remote ----------
let digits = '', digitTimer = 0;
function digit(d) {
  digits = (digits + d).slice(-4);
  const osd = $('#osd-number');
  osd.textContent = digits;
  osd.hidden = false;
  clearTimeout(digitTimer);
  digitTimer = setTimeout(commitDigits, 1500);
}
function commitDigits() {
  clearTimeout(digitTimer);
  $('#osd-number').hidden = true;
  if (!digits) return;
  const n = Number(digits);
  digits = '';
  const ch = S.channels.find((c) => c.number === n);
  if (ch) { tune(ch); focusRow(ch.id, document.activeElement && !!document.activeElement.closest('#channels')); }
  else showMsg(t('ch_unknown', { n }), 'info', 2500);
}

function keyOf(e) {
  const k = e.key;
  const code = e.keyCode;
  if (/^[0-9]$/.test(k)) return 'd' + k;
  switch (k) {
    case 'ArrowUp': case 'Up': return 'up';
    case 'ArrowDown': case 'Down': return 'down';
    case 'ArrowLeft': case 'Left': return 'left';
    case 'ArrowRight': case 'Right': return 'right';
    case 'Enter': case 'Select': case 'Accept': return 'ok';
    case 'Escape': case 'Esc': case 'Backspace': case 'GoBack': case 'BrowserBack': case 'XF86Back': return 'back';
    case 'PageUp': case 'ChannelUp': return 'chup';
    case 'PageDown': case 'ChannelDown': return 'chdown';
    case ' ': case 'MediaPlayPause': case 'MediaPlay': case 'MediaPause': return 'playpause';
    case 'g': case 'G': case 'Guide': case 'F2': return 'guide';
    case 'e': case 'E': case 'Info': case 'F3': return 'chguide';
    case 'f': case 'F': return 'full';
    case 'm': case 'M': case 'AudioVolumeMute': return 'mute';
    case 'l': case 'L': case 'Live': return 'live';
    case 'MediaRewind': return 'left';
    case 'MediaFastForward': return 'right';
    default:
  }
  if (code === 461 || code === 10009) return 'back'; // webOS, Tizen remotes
  if (code === 427) return 'chup';
  if (code === 428) return 'chdown';
  return null;
}

function moveIn(items, cur, dir) {
  if (!items.length) return null;
  const i = items.indexOf(cur);
  const j = i < 0 ? 0 : Math.min(items.length - 1, Math.max(0, i + dir));
  items[j].focus({ preventScroll: true });
  items[j].scrollIntoView({ block: 'nearest', inline: 'nearest' });
  return items[j];
}

document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.altKey || e.metaKey) return;
  const a = document.activeElement;
  const k = keyOf(e);
  if (!k) return;
  // text fields keep their keys, except the ones that leave them
  if (a && (a.tagName === 'INPUT' && a.type !== 'range' || a.tagName === 'SELECT')) {
    if (a.id === 'search') {
      if (k === 'down' || k === 'ok') {
        e.preventDefault();
        const first = $('#channels li');
        if (first) { first.focus(); if (k === 'ok') first.click(); }
      } else if (k === 'back' && e.key !== 'Backspace') { e.preventDefault(); a.value = ''; S.query = ''; renderList(); a.blur(); openList(); }
    } else if (k === 'back' && e.key !== 'Backspace') { a.blur(); }
    return;
  }
  e.preventDefault();
  if (/^d[0-9]$/.test(k)) { digit(k.slice(1)); return; }
  if (k === 'ok' && digits) { commitDigits(); return; }
  if (S.overlay === 'grid') return gridKey(k, a);
  if (S.overlay === 'guide') return guideKey(k, a);
  if (a && a.closest('#groups')) return groupsKey(k, a);
  if (a && a.closest('#channels')) return listKey(k, a);
  if (a && a.closest('#controls') && a.tagName === 'BUTTON' && ['left', 'right', 'ok', 'up', 'back'].includes(k)) return controlsKey(k, a);
  playerKey(k);
});

function common(k) {
  switch (k) {
    case 'playpause': video.paused ? tryPlay() : video.pause(); showControls(); return true;
    case 'mute': video.muted = !video.muted; return true;
    case 'full': toggleFull(); return true;
    case 'live': if (S.current) goLive(); return true;
    case 'guide': openGrid(); return true;
    case 'chguide': openGuide(S.current); return true;
    default: return false;
  }
}

function playerKey(k) {
  if (common(k)) return;
  switch (k) {
    case 'up': case 'chup': zap(+1); break;
    case 'down': case 'chdown': zap(-1); break;
    case 'left': seekBy(-30); break;
    case 'right': seekBy(+30); break;
    case 'ok': openList(); break;
    case 'back':
      if (!$('#app').classList.contains('ui')) { showControls(); break; }
      if (isFull()) toggleFull();
      else if (!S.listHidden) openList();
      break;
    default:
  }
}

function controlsKey(k, a) {
  const btns = [...document.querySelectorAll('#controls .buttons button')].filter((b) => !b.hidden);
  showControls();
  if (k === 'left') moveIn(btns, a, -1);
  else if (k === 'right') moveIn(btns, a, +1);
  else if (k === 'ok') a.click();
  else { a.blur(); $('#stage').focus({ preventScroll: true }); }
}

function listKey(k, a) {
  if (common(k)) return;
  const items = [...document.querySelectorAll('#channels li')];
  const ch = S.channels.find((c) => c.id === a.dataset.id);
  switch (k) {
    case 'up':
      if (items.indexOf(a) === 0) { const g = $('#groups button.on'); if (g && !$('#groups').hidden) g.focus(); else $('#search').focus(); } else moveIn(items, a, -1);
      break;
    case 'down': moveIn(items, a, +1); break;
    case 'chup': moveIn(items, a, -8); break;
    case 'chdown': moveIn(items, a, +8); break;
    case 'ok':
      if (ch === S.current && S.listHidden) closeOverlay();
      else { tune(ch); if (S.listHidden) closeOverlay(); }
      break;
    case 'right': openGuide(ch); break;
    case 'left': case 'back':
      if (S.listHidden) closeOverlay();
      else { a.blur(); $('#stage').focus({ preventScroll: true }); showControls(); }
      break;
    default:
  }
}

function groupsKey(k, a) {
  const tabs = [...document.querySelectorAll('#groups button')];
  if (k === 'left' || k === 'right') { const b = moveIn(tabs, a, k === 'left' ? -1 : 1); if (b) b.click(); b && b.focus(); }
  else if (k === 'down' || k === 'ok') { const li = $('#channels li'); if (li) li.focus(); }
  else if (k === 'up') $('#search').focus();
  else if (k === 'back') { if (S.listHidden) closeOverlay(); else $('#stage').focus(); }
}

function guideKey(k, a) {
  if (k === 'back') { closeOverlay(); return; }
  if (k === 'guide') { closeOverlay(true); openGrid(); return; }
  if (common(k)) return;
  const items = [...document.querySelectorAll('#g-list li')];
  const li = a && a.closest('#g-list li');
  const days = [...document.querySelectorAll('#g-days button')];
  const on = days.findIndex((b) => b.classList.contains('on'));
  switch (k) {
    case 'up': case 'down': moveIn(items, li, k === 'up' ? -1 : 1); break;
    case 'chup': case 'chdown': moveIn(items, li, k === 'chup' ? -6 : 6); break;
    case 'left': case 'right': {
      const acts = li ? [...li.querySelectorAll('.act')] : [];
      const i = acts.indexOf(a);
      if (k === 'right' && i < acts.length - 1) acts[i + 1].focus();
      else if (k === 'left' && i > 0) acts[i - 1].focus();
      else if (k === 'left' && i === 0) li.focus();
      else if (days[on + (k === 'left' ? -1 : 1)]) days[on + (k === 'left' ? -1 : 1)].click();
      break;
    }
    case 'ok': if (a) a.click(); break;
    default:
  }
}

function gridKey(k, a) {
  if (k === 'back') { closeOverlay(); return; }
  if (k === 'guide') { closeOverlay(); return; }
  if (common(k)) return;
  const cell = a && a.closest('.xp');
  if (!cell) { const f = $('#x-body .xp'); if (f) f.focus(); return; }
  const ch = cell.dataset.ch;
  const row = [...document.querySelectorAll(`#x-body .xp[data-ch="${CSS.escape(ch)}"]`)];
  const tm = Math.max(+cell.dataset.start, S.gridDay);
  const ids = S.channels.map((c) => c.id);
  switch (k) {
    case 'left': case 'right': {
      const i = row.indexOf(cell) + (k === 'left' ? -1 : 1);
      if (row[i]) gridFocus(ch, +row[i].dataset.start);
      else {
        const days = [...document.querySelectorAll('#x-days button')];
        const on = days.findIndex((b) => b.classList.contains('on'));
        if (days[on + (k === 'left' ? -1 : 1)]) days[on + (k === 'left' ? -1 : 1)].click();
      }
      break;
    }
    case 'up': case 'down': case 'chup': case 'chdown': {
      const step = { up: -1, down: 1, chup: -8, chdown: 8 }[k];
      const j = Math.min(ids.length - 1, Math.max(0, ids.indexOf(ch) + step));
      gridFocus(ids[j], tm);
      break;
    }
    case 'ok': cell.click(); break;
    default:
  }
}

// ---------- buttons, pointer, touch ----------
$('#b-play').onclick = () => { video.paused ? tryPlay() : video.pause(); };
$('#b-back').onclick = () => seekBy(-30);
$('#b-fwd').onclick = () => seekBy(+30);
$('#b-live').onclick = goLive;
$('#b-startover').onclick = startOver;
$('#b-guide').onclick = () => openGuide(S.current);
$('#btn-grid').onclick = () => openGrid();
$('#b-mute').onclick = () => { video.muted = !video.muted; };
$('#volume').oninput = (e) => { video.volume = +e.target.value; video.muted = video.volume === 0; };
$('#b-full').onclick = toggleFull;
$('#b-full').innerHTML = icon('full');
$('#b-list').innerHTML = icon('list');
$('#btn-grid').innerHTML = icon('grid');
$('#b-mute').innerHTML = icon('vol');
$('#b-list').onclick = () => {
  if (isFull()) { S.overlay === 'list' ? closeOverlay() : openList(); return; }
  const h = !S.listHidden;
  localStorage.setItem('atoll.nolist', h ? '1' : '0');
  setListHidden(h);
};
$('#g-close').onclick = () => closeOverlay();
$('#x-close').onclick = () => closeOverlay();
$('#unmute').onclick = () => { video.muted = false; if (video.volume === 0) video.volume = 0.5; $('#unmute').hidden = true; tryPlay(); };
$('#search').addEventListener('input', (e) => { S.query = e.target.value; renderList(); });
$('#stage').tabIndex = -1;
$('#stage').addEventListener('pointermove', () => showControls());
$('#stage').addEventListener('click', (e) => {
  if (e.target === video || e.target === $('#stage')) {
    if (S.overlay === 'list') { closeOverlay(); return; }
    $('#app').classList.contains('ui') && e.pointerType !== 'mouse' ? $('#app').classList.remove('ui') : showControls();
  }
});
video.addEventListener('dblclick', toggleFull);
// swipe up/down on the picture changes channel on phones
{
  let y0 = null, x0 = 0;
  video.addEventListener('touchstart', (e) => { y0 = e.touches[0].clientY; x0 = e.touches[0].clientX; }, { passive: true });
  video.addEventListener('touchend', (e) => {
    if (y0 == null) return;
    const dy = e.changedTouches[0].clientY - y0, dx = e.changedTouches[0].clientX - x0;
    y0 = null;
    if (Math.abs(dy) > 80 && Math.abs(dy) > 2 * Math.abs(dx)) zap(dy < 0 ? +1 : -1);
  }, { passive: true });
}

// ---------- language ----------
{
  const sel = $('#lang');
  sel.replaceChildren(...languages.map(([v, name]) => el('option', { value: v, text: name })));
  const lang = detectLanguage();
  sel.value = lang;
  setLanguage(lang, false);
  sel.onchange = () => {
    setLanguage(sel.value, true);
    renderGroups();
    renderList();
    renderControls();
    if (S.overlay === 'guide') openGuide(S.guideCh);
    if (S.overlay === 'grid') openGrid(S.gridDay);
  };
}

// ---------- PWA ----------
if ('serviceWorker' in navigator && window.isSecureContext) {
  navigator.serviceWorker.register('/sw.js').catch(() => {});
}
let installPrompt = null;
window.addEventListener('beforeinstallprompt', (e) => {
  e.preventDefault();
  installPrompt = e;
  if (!$('#install')) {
    $('.topbar').append(el('button', {
      id: 'install', class: 'icon', title: t('install'), text: '⤓',
      onclick: () => { installPrompt && installPrompt.prompt(); },
    }));
  }
});

// ---------- start ----------
const vol = parseFloat(localStorage.getItem('atoll.volume'));
if (!isNaN(vol)) video.volume = Math.min(1, Math.max(0, vol));
video.muted = localStorage.getItem('atoll.muted') === '1';
setListHidden(localStorage.getItem('atoll.nolist') === '1');

async function start() {
  try {
    await refreshChannels();
  } catch {
    showMsg(t('network_down'), 'error');
    setTimeout(start, 3000);
    return;
  }
  const want = new URLSearchParams(location.search).get('channel') || localStorage.getItem('atoll.last');
  const ch = S.channels.find((c) => c.id === want) || S.channels[0];
  if (ch) {
    tune(ch);
    focusRow(ch.id, !S.listHidden);
  }
  setInterval(() => refreshChannels().catch(() => {}), 30000);
}
document.addEventListener('visibilitychange', () => { if (!document.hidden) refreshChannels().catch(() => {}); });

// for tests and debugging: what the page is doing
window.atoll = {
  get channel() { return S.current && S.current.id; },
  get mode() { return S.mode; },
  get overlay() { return S.overlay; },
  get hls() { return S.hls; },
  playingWall,
  now,
  language,
};

start();
