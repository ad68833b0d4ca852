// Shared pieces of the viewer page: DOM helpers, the viewer token and API calls, the page state,
// time formatting and on-screen messages.
import { t, locale } from './i18n.js';
import * as store from './storage.js';

export const $ = (s) => document.querySelector(s);
export const video = $('#v');
// a viewer token given once (`?token=`) is kept, so the installed app (started at `/`) has it too
export const token = (() => {
  const q = new URLSearchParams(location.search).get('token');
  if (q) store.set('atoll.token', q);
  return q || store.get('atoll.token');
})();

/** Appends the viewer token (from `?token=` of the page) to a same-origin URL. */
export function withToken(url) {
  if (!token || /[?&]token=/.test(url)) return url;
  try {
    if (new URL(url, location.href).origin !== location.origin) return url;
  } catch { return url; }
  return url + (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token);
}

export async function api(path) {
  const r = await fetch(withToken(path), { cache: 'no-store' });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

export function el(tag, attrs = {}, ...kids) {
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
export const ICON = {
  play: '<path d="M8 5v14l11-7z"/>',
  pause: '<path d="M6 5h4v14H6zm8 0h4v14h-4z"/>',
  vol: '<path d="M3 9v6h4l5 5V4L7 9H3zm13.5 3A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4zM14 3.2v2.1a7 7 0 0 1 0 13.4v2.1a9 9 0 0 0 0-17.6z"/>',
  muted: '<path d="M3 9v6h4l5 5V4L7 9H3zm13.6 3 2.7-2.7-1.4-1.4-2.7 2.7-2.7-2.7-1.4 1.4 2.7 2.7-2.7 2.7 1.4 1.4 2.7-2.7 2.7 2.7 1.4-1.4z"/>',
  full: '<path d="M4 4h6v2H6v4H4zm10 0h6v6h-2V6h-4zM4 14h2v4h4v2H4zm14 0h2v6h-6v-2h4z"/>',
  list: '<path d="M3 5h18v2H3zm0 6h18v2H3zm0 6h18v2H3z"/>',
  grid: '<path d="M3 4h18v4H3zm0 6h8v4H3zm10 0h8v4h-8zM3 16h18v4H3z"/>',
};
export const icon = (name) => `<svg viewBox="0 0 24 24" width="22" height="22" fill="currentColor" aria-hidden="true">${ICON[name]}</svg>`;

// ---------- state ----------
export const S = {
  channels: [],
  skew: 0, // server clock minus this device's clock, seconds (boxes often have no NTP)
  group: store.get('atoll.group') || '',
  query: '',
  current: null,
  mode: 'live', // live | timeshift | catchup | vod (the Films / Series section)
  view: 'live', // live | vod: the section shown
  vodRetry: null, // reloads the playing title where it stopped (set by vod.js)
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
  seekPending: null, // the wall time that seek presses or a scrub drag are heading for
};
export const now = () => Date.now() / 1000 + S.skew;

// ---------- time formatting ----------
// (hour 'numeric': 16:05 where the locale counts 24 hours, 4:05 PM rather than 04:05 PM elsewhere)
export const fmtTime = (s) => new Date(s * 1000).toLocaleTimeString(locale(), { hour: 'numeric', minute: '2-digit' });
export const fmtClock = (s) => new Date(s * 1000).toLocaleTimeString(locale(), { hour: 'numeric', minute: '2-digit', second: '2-digit' });
export function dayStart(s) { const d = new Date(s * 1000); d.setHours(0, 0, 0, 0); return d.getTime() / 1000; }
export function addDays(s, n) { const d = new Date(s * 1000); d.setDate(d.getDate() + n); d.setHours(0, 0, 0, 0); return d.getTime() / 1000; }
export function fmtDay(s) {
  const today = dayStart(now());
  if (s === today) return t('today');
  if (s === addDays(today, -1)) return t('yesterday');
  if (s === addDays(today, 1)) return t('tomorrow');
  // the month by name: a numeric 03/12 reads as 3 December in one locale and March 12 in another
  return new Date(s * 1000).toLocaleDateString(locale(), { weekday: 'short', day: 'numeric', month: 'short' });
}
export function fmtDur(sec) {
  sec = Math.max(0, Math.round(sec));
  const h = Math.floor(sec / 3600), m = Math.floor(sec / 60) % 60, s = sec % 60;
  return (h ? h + ':' + String(m).padStart(2, '0') : m) + ':' + String(s).padStart(2, '0');
}

// ---------- messages ----------
let msgTimer = 0;
export function showMsg(text, kind = 'info', ms = 0) {
  const m = $('#msg');
  m.textContent = text;
  m.className = kind;
  m.hidden = false;
  clearTimeout(msgTimer);
  if (ms) msgTimer = setTimeout(() => { m.hidden = true; }, ms);
}
export function hideMsg() { clearTimeout(msgTimer); $('#msg').hidden = true; }
export function spinner(on) { $('#spinner').hidden = !on; }

/** The standing message for the current channel's live state (offline: the slate plays). */
export function stateMsg() {
  const c = S.current;
  if (!c || S.mode !== 'live') return;
  if (c.state === 'offline' || c.slate) showMsg(t('ch_offline', { name: c.name }), 'offline');
  else if (c.state === 'connecting') showMsg(t('ch_connecting', { name: c.name }), 'info');
  else if (['offline', 'info'].includes($('#msg').className)) hideMsg();
}
