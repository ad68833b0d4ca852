// Keyboard and TV-remote keys: channel numbers, zapping, seeking, and moving focus in the list,
// the guide and the grid.
import { t } from './i18n.js';
import { $, S, showMsg, video } from './core.js';
import { goLive, seekBy, tryPlay, tune, zap } from './playback.js';
import { focusRow, renderList } from './channels.js';
import { showControls } from './scrub.js';
import { gridFocus, openGrid, openGuide } from './guide.js';
import { closeOverlay, isFull, openList, toggleFull } from './layout.js';
import { vodKey } from './vod.js';
import { menuKey, menuOpen } from './tracks.js';

// ---------- keys: keyboard and TV remote ----------
let digits = '', digitTimer = 0;
export function digit(d) {
  digits = (digits + d).slice(-4);
  const osd = $('#osd-number');
  osd.textContent = digits;
  osd.hidden = false;
  clearTimeout(digitTimer);
  digitTimer = setTimeout(commitDigits, 1500);
}
export function commitDigits() {
  clearTimeout(digitTimer);
  $('#osd-number').hidden = true;
  if (!digits) return;
  const n = Number(digits);
  digits = '';
  const ch = S.channels.find((c) => c.number === n);
  if (ch) { tune(ch); focusRow(ch.id, document.activeElement && !!document.activeElement.closest('#channels')); }
  else showMsg(t('ch_unknown', { n }), 'info', 2500);
}

export function keyOf(e) {
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

export function moveIn(items, cur, dir) {
  if (!items.length) return null;
  const i = items.indexOf(cur);
  const j = i < 0 ? 0 : Math.min(items.length - 1, Math.max(0, i + dir));
  items[j].focus({ preventScroll: true });
  items[j].scrollIntoView({ block: 'nearest', inline: 'nearest' });
  return items[j];
}


/** The one keydown handler of the page. */
export function initKeys() {
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.altKey || e.metaKey) return;
    const a = document.activeElement;
    const k = keyOf(e);
    if (!k) return;
    // the Films / Series section has its own keys
    if (S.view === 'vod') { if (vodKey(k, a, e)) e.preventDefault(); return; }
    // text fields keep their keys, except the ones that leave them
    if (a && (a.tagName === 'INPUT' && a.type !== 'range' || a.tagName === 'SELECT')) {
      if (a.closest('.topbar')) { if (topbarKey(k, a, e)) e.preventDefault(); }
      else if (k === 'back' && e.key !== 'Backspace') { a.blur(); }
      return;
    }
    e.preventDefault();
    if (/^d[0-9]$/.test(k)) { digit(k.slice(1)); return; }
    if (k === 'ok' && digits) { commitDigits(); return; }
    if (menuOpen()) { menuKey(k, a); showControls(); return; }
    if (S.overlay === 'grid') return gridKey(k, a);
    if (S.overlay === 'guide') return guideKey(k, a);
    if (a && a.closest('#sections')) return sectionsKey(k, a);
    if (a && a.closest('.topbar')) return topbarKey(k, a, e);
    if (a && a.closest('#groups')) return groupsKey(k, a);
    if (a && a.closest('#channels')) return listKey(k, a);
    if (a && a.closest('#controls') && a.tagName === 'BUTTON' && ['left', 'right', 'ok', 'up', 'back'].includes(k)) return controlsKey(k, a);
    playerKey(k);
  });
}

export function common(k) {
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

export function playerKey(k) {
  if (common(k)) return;
  switch (k) {
    case 'up': case 'chup': zap(+1); break;
    case 'down': case 'chdown': zap(-1); break;
    case 'left': seekBy(-30); break;
    case 'right': seekBy(+30); break;
    case 'ok': {
      // OK shows the control bar and puts the focus on it (Play/Pause); ↑ or Back leave it
      showControls();
      const b = $('#b-play');
      if (b) b.focus({ preventScroll: true });
      break;
    }
    case 'back':
      if (!$('#app').classList.contains('ui')) { showControls(); break; }
      if (isFull()) toggleFull();
      else if (!S.listHidden) openList();
      break;
    default:
  }
}

export function controlsKey(k, a) {
  const btns = [...document.querySelectorAll('#controls .buttons button')].filter((b) => !b.hidden);
  showControls();
  if (k === 'left') moveIn(btns, a, -1);
  else if (k === 'right') moveIn(btns, a, +1);
  else if (k === 'ok') a.click();
  else { a.blur(); $('#stage').focus({ preventScroll: true }); }
}

export function listKey(k, a) {
  if (common(k)) return;
  const items = [...document.querySelectorAll('#channels li')];
  const ch = S.channels.find((c) => c.id === a.dataset.id);
  // one rule for the list and the picture, as on TV remotes: ↑ and Channel + go to the next
  // channel number, ↓ and Channel − to the one before (in the list, numbers grow downwards)
  switch (k) {
    case 'up': moveIn(items, a, +1); break;
    case 'down':
      if (items.indexOf(a) === 0) { const g = $('#groups button.on'); if (g && !$('#groups').hidden) g.focus(); else $('#search').focus(); } else moveIn(items, a, -1);
      break;
    case 'chup': moveIn(items, a, +8); break;
    case 'chdown': moveIn(items, a, -8); break;
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

/** The search box, the grid button and the language menu (and Install): ←/→ move between them
 *  (from the search box once the caret is at its end), ↑ to the section tabs, ↓ to the list.
 *  Returns whether the key was used (the search box keeps the others for its text). */
export function topbarKey(k, a, e) {
  const items = [...document.querySelectorAll('.topbar input, .topbar button, .topbar select')].filter((x) => x.offsetParent !== null);
  const text = a.id === 'search';
  const caretEnd = text && a.selectionStart === a.value.length && a.selectionEnd === a.value.length;
  const toList = () => { const g = $('#groups button.on'); if (g && !$('#groups').hidden && !text) g.focus(); else { const li = $('#channels li'); if (li) li.focus(); return li; } return null; };
  switch (k) {
    case 'left':
      if (text && !(a.selectionStart === 0 && a.selectionEnd === 0)) return false;
      moveIn(items, a, -1); return true;
    case 'right':
      if (text && !caretEnd) return false;
      moveIn(items, a, +1); return true;
    case 'up': { const tab = $('#sections button.on'); if (tab) tab.focus(); return true; }
    case 'down': toList(); return true;
    case 'ok':
      if (text) { const li = toList(); if (li) li.click(); }
      else if (a.tagName === 'SELECT') {
        // OK steps to the next language (a closed menu cannot be opened from a remote)
        a.selectedIndex = (a.selectedIndex + 1) % a.options.length;
        a.dispatchEvent(new Event('change'));
      } else a.click();
      return true;
    case 'back':
      if (e.key === 'Backspace' && text) return false;
      if (text) { a.value = ''; S.query = ''; renderList(); }
      a.blur();
      openList();
      return true;
    default:
      return !text && !/^d[0-9]$/.test(k) ? (common(k), true) : false;
  }
}

/** The Live TV / Films tabs above the search box. */
export function sectionsKey(k, a) {
  const tabs = [...document.querySelectorAll('#sections button')];
  if (k === 'left' || k === 'right') moveIn(tabs, a, k === 'left' ? -1 : 1);
  else if (k === 'ok') a.click();
  else if (k === 'down') $('#search').focus();
  else if (k === 'back') { if (S.listHidden) closeOverlay(); else $('#stage').focus(); }
}

export function groupsKey(k, a) {
  const tabs = [...document.querySelectorAll('#groups button')];
  if (k === 'left' || k === 'right') { const b = moveIn(tabs, a, k === 'left' ? -1 : 1); if (b && b !== a) b.click(); }
  else if (k === 'down' || k === 'ok') { const li = $('#channels li'); if (li) li.focus(); }
  else if (k === 'up') $('#search').focus();
  else if (k === 'back') { if (S.listHidden) closeOverlay(); else $('#stage').focus(); }
}

export function guideKey(k, a) {
  if (k === 'back') { closeOverlay(false, true); return; }
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

export function gridKey(k, a) {
  if (k === 'back' || k === 'guide') { closeOverlay(false, true); return; }
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
