// Audio languages and subtitles of what plays — the renditions of an HLS master playlist (hls.js)
// or the native player's tracks (Safari, iOS) — and the menu that picks them, for live TV,
// start-over and catch-up as for films. The choice is remembered on this device: per channel
// for TV (`atoll.audio.{id}`, `atoll.subs.{id}`), once for films (`atoll.vodaudio`,
// `atoll.vodsubs`). Remote keys: ↑/↓ move in the menu, OK picks, ←/→/Back close it.
import { t, language, locale } from './i18n.js';
import * as store from './storage.js';
import { $, S, el, video } from './core.js';

const M = {
  menu: null, // 'audio' | 'subs' while the menu is open
  back: null, // the button that opened it (focus returns there)
  listeners: [],
};

export function langName(code, fallback) {
  if (!code || code === 'und') return fallback || t('unknown_lang');
  try {
    const n = new Intl.DisplayNames([locale()], { type: 'language' }).of(code);
    if (n && n !== 'root' && n.toLowerCase() !== code.toLowerCase()) return n;
  } catch { /* not a language code */ }
  return fallback || code;
}

/** Calls `fn` whenever the tracks or the choice change (each view redraws its buttons). */
export function onTracksChange(fn) { M.listeners.push(fn); }
function changed() {
  for (const fn of M.listeners) fn();
  if (M.menu) renderMenu();
}

/** Where the choice of what plays now is remembered. */
function prefKeys() {
  if (S.mode === 'vod') return { audio: 'atoll.vodaudio', subs: 'atoll.vodsubs' };
  const id = S.current ? S.current.id : '';
  return { audio: `atoll.audio.${id}`, subs: `atoll.subs.${id}` };
}

/** The remembered choice for what plays now, as hls.js's `audioPreference` and
 * `subtitlePreference` (it picks the renditions by them from the start). */
export function hlsPreferences() {
  const k = prefKeys();
  const audio = store.get(k.audio), subs = store.get(k.subs);
  return {
    audioPreference: audio ? { lang: audio } : undefined,
    subtitlePreference: subs && subs !== 'off' ? { lang: subs } : undefined,
  };
}

/** Follows an hls.js instance's renditions: applies the remembered choice as they appear. */
export function wireHls(hls) {
  const E = window.Hls.Events;
  hls.on(E.AUDIO_TRACKS_UPDATED, () => {
    const want = store.get(prefKeys().audio);
    const i = want ? hls.audioTracks.findIndex((a) => a.lang === want) : -1;
    if (i >= 0 && i !== hls.audioTrack) hls.audioTrack = i;
    changed();
  });
  hls.on(E.SUBTITLE_TRACKS_UPDATED, () => {
    const want = store.get(prefKeys().subs);
    const i = want && want !== 'off' ? hls.subtitleTracks.findIndex((s) => s.lang === want) : -1;
    hls.subtitleDisplay = i >= 0;
    hls.subtitleTrack = i;
    changed();
  });
  hls.on(E.AUDIO_TRACK_SWITCHED, changed);
  hls.on(E.SUBTITLE_TRACK_SWITCH, changed);
}

export function audioTracks() {
  if (S.hls) return S.hls.audioTracks.map((a, i) => ({ i, name: a.name || langName(a.lang), lang: a.lang, on: S.hls.audioTrack === i }));
  const at = video.audioTracks;
  return at ? [...at].map((a, i) => ({ i, name: a.label || langName(a.language), lang: a.language, on: a.enabled })) : [];
}
export function subtitleTracks() {
  if (S.hls) return S.hls.subtitleTracks.map((s, i) => ({ i, name: s.name || langName(s.lang), lang: s.lang, on: S.hls.subtitleTrack === i && S.hls.subtitleDisplay }));
  return [...video.textTracks].filter((x) => x.kind === 'subtitles' || x.kind === 'captions')
    .map((x, i) => ({ i, name: x.label || langName(x.language), lang: x.language, on: x.mode === 'showing' }));
}
export function setAudio(i) {
  const list = audioTracks();
  if (!list[i]) return;
  if (S.hls) S.hls.audioTrack = i;
  else [...video.audioTracks].forEach((a, j) => { a.enabled = j === i; });
  if (list[i].lang) store.set(prefKeys().audio, list[i].lang);
  changed();
}
export function setSubtitle(i) {
  const list = subtitleTracks();
  if (S.hls) {
    S.hls.subtitleDisplay = i >= 0;
    S.hls.subtitleTrack = i;
  } else {
    const tts = [...video.textTracks].filter((x) => x.kind === 'subtitles' || x.kind === 'captions');
    tts.forEach((x, j) => { x.mode = j === i ? 'showing' : 'disabled'; });
  }
  store.set(prefKeys().subs, i >= 0 && list[i] ? list[i].lang || 'off' : 'off');
  changed();
}

/** Shows or hides a view's two buttons: audio when there is a choice, subtitles when any. */
export function renderTrackButtons(audioBtn, subsBtn) {
  const au = audioTracks(), su = subtitleTracks();
  const a = au.find((x) => x.on);
  audioBtn.hidden = au.length < 2;
  audioBtn.textContent = t('audio_lang', { l: a ? a.name : '—' });
  const s = su.find((x) => x.on);
  subsBtn.hidden = su.length === 0;
  subsBtn.textContent = t('subs_lang', { l: s ? s.name : t('subs_off') });
}

// ---------- the menu ----------
function renderMenu() {
  const m = $('#vmenu');
  const items = M.menu === 'audio'
    ? audioTracks().map((x) => ({ ...x, pick: () => setAudio(x.i) }))
    : [{ i: -1, name: t('subs_off'), on: !subtitleTracks().some((x) => x.on), pick: () => setSubtitle(-1) },
      ...subtitleTracks().map((x) => ({ ...x, pick: () => setSubtitle(x.i) }))];
  // redrawn only when something changed (it is refreshed with the controls)
  const sig = M.menu + language() + JSON.stringify(items.map((x) => [x.name, x.on]));
  if (m.dataset.sig === sig) return;
  m.dataset.sig = sig;
  const focused = document.activeElement && m.contains(document.activeElement) ? document.activeElement.dataset.i : null;
  m.replaceChildren(el('h4', { text: M.menu === 'audio' ? t('audio') : t('subtitles') }),
    ...items.map((x) => el('button', {
      class: 'mi' + (x.on ? ' on' : ''), 'data-i': String(x.i), role: 'menuitemradio', 'aria-checked': x.on ? 'true' : 'false',
      text: (x.on ? '✓ ' : '') + x.name,
      onclick: () => { x.pick(); closeMenu(); },
    })));
  if (focused != null) { const b = m.querySelector(`[data-i="${focused}"]`); if (b) b.focus({ preventScroll: true }); }
}

export function menuOpen() { return M.menu; }

/** Opens (or, when open on the same kind, closes) the menu of `kind` from button `from`. */
export function toggleMenu(kind, from) {
  if (M.menu === kind) { closeMenu(); return; }
  M.menu = kind;
  M.back = from;
  $('#vmenu').hidden = false;
  $('#vmenu').dataset.sig = '';
  renderMenu();
  const b = $('#vmenu .mi.on') || $('#vmenu .mi');
  if (b) b.focus({ preventScroll: true });
}

export function closeMenu({ refocus = true } = {}) {
  if (!M.menu) return;
  M.menu = null;
  $('#vmenu').hidden = true;
  $('#vmenu').dataset.sig = '';
  if (refocus && M.back && !M.back.hidden) M.back.focus({ preventScroll: true });
  M.back = null;
}

/** A remote key while the menu is open. */
export function menuKey(k, a) {
  const items = [...document.querySelectorAll('#vmenu .mi')];
  const i = items.indexOf(a);
  if (k === 'up' || k === 'down') {
    const j = Math.max(0, Math.min(items.length - 1, (i < 0 ? 0 : i + (k === 'up' ? -1 : 1))));
    if (items[j]) items[j].focus();
  } else if (k === 'ok') { if (a && a.closest('#vmenu')) a.click(); }
  else if (k === 'back' || k === 'left' || k === 'right') closeMenu();
  return true;
}

/** Native HLS (Safari): tracks appear on the element. */
export function initTracks() {
  if (video.audioTracks) video.audioTracks.addEventListener('addtrack', changed);
  video.textTracks.addEventListener('addtrack', changed);
}
