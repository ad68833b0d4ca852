// Small helpers shared by every page: the API client, DOM building (never innerHTML with data),
// formatting, dialogs and notices.

import { t, getLang } from './i18n.js';

// ---------------------------------------------------------------------------------------------
// API client

export const session = {
  user: null, // {user, role, csrf, expires_utc}
  basic: null, // "Basic …" — only when the server has no /api/session yet (older builds)
  onUnauthorized: () => {},
};

export class ApiError extends Error {
  constructor(status, body, path) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.error) || `http_${status}`;
    this.field = (body && body.field) || null;
    this.path = path;
    this.body = body;
  }
}

/**
 * Calls the API. `body` is sent as JSON unless it is a string (sent as is, with `contentType`).
 * Resolves with the parsed JSON (or null for 204); rejects with ApiError. A 401 outside the
 * sign-in calls ends the session (the sign-in form is shown).
 */
export async function api(method, path, body, { contentType, raw, quiet401 } = {}) {
  const headers = { 'Accept': 'application/json', 'X-Requested-With': 'atoll-console' };
  if (session.basic) headers['Authorization'] = session.basic;
  if (method !== 'GET' && method !== 'HEAD' && session.user && session.user.csrf) {
    headers['X-CSRF-Token'] = session.user.csrf;
  }
  let payload;
  if (body !== undefined && body !== null) {
    if (typeof body === 'string' || body instanceof Blob) {
      payload = body;
      headers['Content-Type'] = contentType || 'text/plain';
    } else {
      payload = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
    }
  }
  let res;
  try {
    // With HTTP Basic (older servers) no cookie is needed, and 'omit' keeps the browser from
    // answering a 401's WWW-Authenticate challenge with its own login box.
    res = await fetch(path, { method, headers, body: payload, credentials: session.basic ? 'omit' : 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, { error: 'network', message: t('common.network') }, path);
  }
  if (raw) {
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null), path);
    return res;
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (_) { data = { error: `http_${res.status}`, message: text.slice(0, 300) }; }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data, path);
    if (res.status === 401 && !quiet401) session.onUnauthorized(err);
    throw err;
  }
  return data;
}

// ---------------------------------------------------------------------------------------------
// DOM

/** h('div.card#x', {onclick, title, ...}, children…) — children are nodes or text. */
export function h(spec, attrs, ...children) {
  const m = /^([a-z0-9-]+)?((?:[.#][\w-]+)*)$/i.exec(spec);
  const el = document.createElement((m && m[1]) || 'div');
  if (m && m[2]) {
    for (const part of m[2].match(/[.#][\w-]+/g)) {
      if (part[0] === '.') el.classList.add(part.slice(1)); else el.id = part.slice(1);
    }
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Copies `text` to the clipboard (selecting `input` first, for the fallback) and says so. */
export async function copyText(text, input) {
  if (input) input.select();
  let ok = true;
  try { await navigator.clipboard.writeText(text); } catch (_) { ok = document.execCommand('copy'); }
  toast(ok ? t('common.copied') : t('common.copy_failed'));
}

export function clear(el) { while (el.firstChild) el.firstChild.remove(); return el; }

// ---------------------------------------------------------------------------------------------
// Formatting

/** Milliseconds since the epoch from unix seconds, milliseconds or an RFC 3339 string. */
export function toMs(v) {
  if (v === null || v === undefined || v === '') return null;
  if (typeof v === 'number') return v > 1e11 ? v : v * 1000;
  const n = Date.parse(v);
  return Number.isNaN(n) ? null : n;
}

const pad = n => String(n).padStart(2, '0');
export function fmtTime(v, { seconds = true } = {}) {
  const ms = toMs(v);
  if (ms === null) return t('common.none');
  const d = new Date(ms);
  const s = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return seconds ? `${s}:${pad(d.getSeconds())}` : s;
}
export function fmtUtc(v) {
  const ms = toMs(v);
  if (ms === null) return t('common.none');
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

export function fmtBitrate(bps) {
  if (!bps) return '0';
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(bps >= 1e7 ? 0 : 1)} Mb/s`;
  return `${Math.round(bps / 1e3)} kb/s`;
}

export function fmtBytes(b) {
  if (b === null || b === undefined) return t('common.none');
  const u = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  let v = b;
  while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${u[i]}`;
}

export function fmtDuration(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return t('common.none');
  s = Math.max(0, Math.round(s));
  const zh = getLang() === 'zh';
  const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const U = zh ? { d: '天', h: '小时', m: '分', s: '秒' } : { d: 'd', h: 'h', m: 'm', s: 's' };
  const sp = zh ? '' : ' ';
  if (d) return `${d}${U.d}${sp}${hr}${U.h}`;
  if (hr) return `${hr}${U.h}${sp}${m}${U.m}`;
  if (m) return `${m}${U.m}${sp}${sec}${U.s}`;
  return `${sec}${U.s}`;
}

export function fmtVideo(v) {
  if (!v) return '';
  const parts = [];
  if (v.codec) parts.push(v.codec);
  if (v.width && v.height) parts.push(`${v.width}×${v.height}`);
  if (v.fps) parts.push(`${Math.round(v.fps * 100) / 100} fps`);
  return parts.join(' ');
}
export function fmtAudio(a) {
  if (!a) return '';
  const parts = [];
  if (a.codec) parts.push(a.codec);
  if (a.sample_rate) parts.push(`${a.sample_rate / 1000} kHz`);
  if (a.channels) parts.push(a.channels === 2 ? 'stereo' : a.channels === 1 ? 'mono' : `${a.channels} ch`);
  return parts.join(' ');
}

// ---------------------------------------------------------------------------------------------
// Notices and dialogs

export function toast(text, kind = 'ok') {
  let box = document.getElementById('toasts');
  if (!box) { box = h('div#toasts', { role: 'status', 'aria-live': 'polite' }); document.body.append(box); }
  const el = h(`div.toast.${kind}`, text);
  box.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 3500);
}

/** A message for any error: API errors say what the server said. */
export function errText(e) {
  if (e instanceof ApiError) {
    if (e.status === 403 && e.code === 'forbidden') return t('common.forbidden');
    if (e.status === 404 && e.code === 'not_found' && /no such page/.test(e.message)) return t('common.not_available', { path: e.path });
    return e.message || e.code;
  }
  return String(e && e.message || e);
}

/**
 * Opens a modal <dialog>. `build(close)` returns the body nodes. Resolves with the value passed to
 * close() (undefined when cancelled with Esc or the close button).
 */
export function modal(title, build, { wide = false, id } = {}) {
  return new Promise(resolve => {
    const dlg = h(`dialog.modal${wide ? '.wide' : ''}`, { id, 'aria-label': title });
    let done = false;
    const close = v => {
      if (done) return;
      done = true;
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    dlg.addEventListener('cancel', e => { e.preventDefault(); close(undefined); });
    dlg.append(
      h('header', h('h2', title), h('button.icon.x', { type: 'button', title: t('common.close'), 'aria-label': t('common.close'), onclick: () => close(undefined) }, '×')),
      h('div.body', build(close)),
    );
    document.body.append(dlg);
    dlg.showModal();
    const first = dlg.querySelector('input:not([readonly]):not([type=hidden]), select, textarea');
    if (first) first.focus();
  });
}

/** A yes/no question; resolves true when confirmed. */
export function confirmBox(title, text, okLabel, danger = true) {
  return modal(title, close => [
    h('p', text),
    h('div.actions',
      h('button', { type: 'button', onclick: () => close(false) }, t('common.cancel')),
      h(`button.${danger ? 'danger' : 'primary'}`, { type: 'button', onclick: () => close(true) }, okLabel)),
  ]).then(v => v === true);
}

/**
 * A labelled form field. `input` is the control; the returned wrapper has `.setError(msg)`.
 */
export function field(name, label, input, hint) {
  const err = h('div.field-error', { id: `err-${name}`, role: 'alert' });
  input.name = input.name || name;
  input.id = input.id || `f-${name}`;
  input.setAttribute('aria-describedby', err.id);
  const wrap = h(`div.field.f-${name}`, { dataset: { field: name } },
    input.type === 'checkbox'
      ? h('label.check', input, ' ', label)
      : [h('label', { for: input.id }, label), input],
    hint ? h('div.hint', hint) : null,
    err);
  wrap.setError = msg => {
    err.textContent = msg || '';
    wrap.classList.toggle('invalid', !!msg);
    input.toggleAttribute('aria-invalid', !!msg);
  };
  // an edited value is no longer the one the error was about
  input.addEventListener('input', () => { if (wrap.classList.contains('invalid')) wrap.setError(''); });
  return wrap;
}

/** Shows `e` next to the field it names inside `form` (or in the form's general error box). */
export function showFieldError(form, e, fallbackBox) {
  const name = e instanceof ApiError ? e.field : null;
  const w = name && form.querySelector(`.field[data-field="${CSS.escape(name)}"]`);
  if (w && w.setError) {
    w.setError(errText(e));
    const input = w.querySelector('input, select, textarea');
    if (input) input.focus();
    return;
  }
  const box = fallbackBox || form.querySelector('.form-error');
  if (box) box.textContent = (name ? `${name}: ` : '') + errText(e);
  else toast(errText(e), 'error');
}

export function clearErrors(form) {
  for (const w of form.querySelectorAll('.field')) if (w.setError) w.setError('');
  for (const b of form.querySelectorAll('.form-error')) b.textContent = '';
}

/** A state badge: colour + text. */
export function badge(kind, text, title) {
  return h(`span.badge.b-${kind.replace(/\s+/g, '-')}`, { title }, text);
}

/** Plays `url` (HLS) in `video` with hls.js where needed; returns a stop function. */
export function playHls(video, url) {
  video.muted = true;
  video.playsInline = true;
  let hls = null;
  if (window.Hls && window.Hls.isSupported()) {
    hls = new window.Hls({ liveSyncDurationCount: 2, maxBufferLength: 12, backBufferLength: 0 });
    hls.loadSource(url);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = url;
  }
  video.play().catch(() => {});
  return () => {
    if (hls) hls.destroy();
    video.removeAttribute('src');
    video.load();
  };
}

let hlsLoading = null;
/** Loads /assets/hls.min.js once (a classic script defining window.Hls). */
export function loadHls() {
  if (window.Hls) return Promise.resolve();
  if (!hlsLoading) {
    hlsLoading = new Promise((resolve) => {
      const s = document.createElement('script');
      s.src = '/assets/hls.min.js';
      s.onload = () => resolve();
      s.onerror = () => resolve();
      document.head.append(s);
    });
  }
  return hlsLoading;
}

/** Downloads `text` as a file. */
export function download(name, text, type = 'application/json') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 5000);
}
