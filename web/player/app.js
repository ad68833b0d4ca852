// Atoll's viewer page: channel list, live play (hls.js where MSE exists, native HLS on
// Safari/iOS), per-channel guide and an all-channel grid with catch-up, start-over and a scrub
// bar over the timeshift window, TV-remote keys, zh/en UI. Plain ES modules, no framework:
// core (shared state and helpers), storage (guarded localStorage), playback (engine and tuning),
// channels (the list), guide (guide data, guide and grid), scrub (control and scrub bars),
// layout (overlays, fullscreen), keys (keyboard and remote), vod (the Films / Series section).
// This file wires them and starts.
import { t, setLanguage, detectLanguage, languages, language } from './i18n.js';
import * as store from './storage.js';
import { $, S, el, icon, now, showMsg, video } from './core.js';
import { goLive, initPlayback, playingWall, seekBy, startOver, tryPlay, tune, zap } from './playback.js';
import { focusRow, refreshChannels, renderGroups, renderList } from './channels.js';
import { initScrub, renderControls, showControls } from './scrub.js';
import { openGrid, openGuide } from './guide.js';
import { closeOverlay, initLayout, isFull, openList, setListHidden, toggleFull } from './layout.js';
import { initKeys } from './keys.js';
import { initVod, openVod, renderVod, vodDebug } from './vod.js';
import { initTracks, onTracksChange, toggleMenu } from './tracks.js';

// ---------- buttons, pointer, touch ----------
$('#b-play').onclick = () => { video.paused ? tryPlay() : video.pause(); };
$('#b-back').onclick = () => seekBy(-30);
$('#b-fwd').onclick = () => seekBy(+30);
$('#b-live').onclick = goLive;
$('#b-startover').onclick = startOver;
$('#b-guide').onclick = () => openGuide(S.current);
$('#b-audio').onclick = () => { toggleMenu('audio', $('#b-audio')); showControls(); };
$('#b-subs').onclick = () => { toggleMenu('subs', $('#b-subs')); showControls(); };
onTracksChange(() => { if (S.mode !== 'vod') renderControls(); });
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
  store.set('atoll.nolist', h ? '1' : '0');
  setListHidden(h);
};
$('#g-close').onclick = () => closeOverlay(false, true);
$('#x-close').onclick = () => closeOverlay(false, true);
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
// swipe up/down on the picture changes channel on phones, also where the shown controls cover it
// (a swipe that starts on a button, the scrub bar or the volume is theirs)
{
  let y0 = null, x0 = 0;
  const stage = $('#stage');
  stage.addEventListener('touchstart', (e) => {
    if (e.touches.length !== 1 || e.target.closest('button, input, #scrub, #vbar, #vmenu')) { y0 = null; return; }
    y0 = e.touches[0].clientY; x0 = e.touches[0].clientX;
  }, { passive: true });
  stage.addEventListener('touchend', (e) => {
    if (y0 == null || S.mode === 'vod') { y0 = null; return; }
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
    renderVod();
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
initPlayback();
initTracks();
initScrub();
initLayout();
initKeys();
initVod();
const vol = parseFloat(store.get('atoll.volume'));
if (!isNaN(vol)) video.volume = Math.min(1, Math.max(0, vol));
video.muted = store.get('atoll.muted') === '1';
setListHidden(store.get('atoll.nolist') === '1');

async function start() {
  try {
    await refreshChannels();
  } catch {
    showMsg(t('network_down'), 'error');
    setTimeout(start, 3000);
    return;
  }
  const params = new URLSearchParams(location.search);
  const want = params.get('channel') || store.get('atoll.last');
  const ch = S.channels.find((c) => c.id === want) || S.channels[0];
  // the section last used comes back (Films / Series, or live TV)
  const section = params.get('section') || (params.get('channel') ? 'live' : store.get('atoll.section'));
  if (section === 'vod') {
    S.current = ch || null;
    openVod();
  } else if (ch) {
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
  get view() { return S.view; },
  vod: vodDebug,
  playingWall,
  now,
  language,
};

start();
