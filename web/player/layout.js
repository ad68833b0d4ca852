// Overlays (guide, grid, and the channel list when it is hidden) with Back-button history, list
// visibility, and fullscreen.
import { t } from './i18n.js';
import * as store from './storage.js';
import { $, S, video } from './core.js';
import { focusRow } from './channels.js';
import { showControls } from './scrub.js';

// ---------- overlays and history (Back on phones and TV boxes closes them) ----------
export function openOverlay(name) {
  if (S.overlay && S.overlay !== name) closeOverlay(true);
  if (S.overlay !== name) history.pushState({ overlay: name }, '');
  S.overlay = name;
  if (name === 'list') $('#app').classList.add('listopen');
  else $('#' + name).hidden = false;
}
export function closeOverlay(silent) {
  const o = S.overlay;
  if (!o) return;
  S.overlay = null;
  if (o === 'list') $('#app').classList.remove('listopen');
  else $('#' + o).hidden = true;
  if (!silent && history.state && history.state.overlay) history.back();
  if (o === 'guide' && S.guideCh && !S.listHidden) focusRow(S.guideCh.id);
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
  window.addEventListener('popstate', () => { if (S.overlay) closeOverlay(true); });
  for (const ev of ['fullscreenchange', 'webkitfullscreenchange']) {
    document.addEventListener(ev, () => { setListHidden(isFull() || store.get('atoll.nolist') === '1'); showControls(); });
  }
}
