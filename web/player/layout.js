// Overlays (guide, grid, and the channel list when it is hidden) with Back-button history, list
// visibility, and fullscreen.
import { t } from './i18n.js';
import * as store from './storage.js';
import { $, S, video } from './core.js';
import { focusRow } from './channels.js';
import { showControls } from './scrub.js';

// ---------- overlays and history (Back on phones and TV boxes closes them) ----------
let opener = null; // what had focus when the first overlay opened (Back returns there)
export function openOverlay(name) {
  const a = document.activeElement;
  if (!S.overlay && a && !a.closest('.overlay')) opener = a;
  if (S.overlay && S.overlay !== name) closeOverlay(true);
  if (S.overlay !== name) history.pushState({ overlay: name }, '');
  S.overlay = name;
  if (name === 'list') $('#app').classList.add('listopen');
  else $('#' + name).hidden = false;
}
/** Closes the overlay shown. Focus goes to the player (where ←/→ seek), or with `back` (the
 *  viewer dismissed it: Back, ✕) to what had it before the overlay opened, when still shown. */
export function closeOverlay(silent, back = false) {
  const o = S.overlay;
  if (!o) return;
  S.overlay = null;
  if (o === 'list') $('#app').classList.remove('listopen');
  else $('#' + o).hidden = true;
  if (!silent && history.state && history.state.overlay) history.back();
  const from = opener;
  opener = null;
  if (back && from && from.isConnected && from.offsetParent !== null && from !== document.body) from.focus({ preventScroll: true });
  else $('#stage').focus({ preventScroll: true });
}

export function openList() {
  if (S.listHidden) openOverlay('list');
  if (!(S.current && focusRow(S.current.id))) {
    const first = $('#channels li');
    if (first) first.focus();
  }
}

export function setListHidden(h) {
  S.listHidden = h;
  $('#app').classList.toggle('nolist', h);
  if (!h && S.overlay === 'list') closeOverlay(true);
  $('#b-list').title = t(h ? 'show_list' : 'hide_list');
}

// ---------- fullscreen ----------
export function isFull() { return !!(document.fullscreenElement || document.webkitFullscreenElement); }
export function toggleFull() {
  if (isFull()) (document.exitFullscreen || document.webkitExitFullscreen).call(document);
  else {
    const app = $('#app');
    if (app.requestFullscreen) app.requestFullscreen().catch(() => {});
    else if (app.webkitRequestFullscreen) app.webkitRequestFullscreen();
    else if (video.webkitEnterFullscreen) video.webkitEnterFullscreen(); // iPhone
  }
}

/** Back closes overlays; leaving fullscreen restores the list. */
export function initLayout() {
  window.addEventListener('popstate', () => { if (S.overlay) closeOverlay(true, true); });
  for (const ev of ['fullscreenchange', 'webkitfullscreenchange']) {
    document.addEventListener(ev, () => { setListHidden(isFull() || store.get('atoll.nolist') === '1'); showControls(); });
  }
}
