// The control bar and the scrub bar over the programme (or the timeshift window): rendering,
// auto-hide, pointer seeking.
import { t } from './i18n.js';
import { $, S, fmtClock, fmtDur, fmtTime, icon, now, video } from './core.js';
import { isShifted, playingWall, seekWall } from './playback.js';
import { programmeAt } from './guide.js';
import { renderTrackButtons } from './tracks.js';

// ---------- controls and scrub bar ----------
let hideTimer = 0;
// how the viewer last used the page: 'mouse', 'touch' (or pen) or 'key'. A mouse resting on the
// picture keeps the controls; a finger leaves :hover set after every tap, so on touch they hide
// after 5 s whatever :hover says.
let input = 'key';
addEventListener('pointerdown', (e) => { input = e.pointerType === 'mouse' ? 'mouse' : 'touch'; }, true);
addEventListener('pointermove', (e) => { if (e.pointerType === 'mouse') input = 'mouse'; }, true);
addEventListener('keydown', () => { input = 'key'; }, true);
export function showControls() {
  const app = $('#app');
  app.classList.add('ui');
  clearTimeout(hideTimer);
  hideTimer = setTimeout(() => {
    if (video.paused) return;
    if (input === 'mouse' && $('#stage').matches(':hover')) return;
    const a = document.activeElement;
    if (a && a.closest('#controls, #vctl, #vmenu')) {
      // a remote moving through the bar keeps it; a tapped button keeps only the focus it took
      if (input === 'key') return;
      $('#stage').focus({ preventScroll: true });
    }
    app.classList.remove('ui');
  }, 5000);
  renderControls();
}

export function scrubWindow() {
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

export function renderScrub(pending) {
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
  $('#s-pos').textContent = isShifted(pos)
    ? `${fmtClock(pos)} · ${t('behind_live', { t: fmtDur(n - pos) })}` : t('live');
  const sc = $('#scrub');
  sc.setAttribute('aria-valuenow', pct(pos).toFixed(0));
  sc.setAttribute('aria-valuetext', fmtClock(pos));
}

export function renderControls() {
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
  // any position behind the live edge is time-shifted, also a jump back inside the live buffer
  const shifted = isShifted(S.seekPending ?? pos);
  // an off-air channel plays its slate: its badge says so rather than LIVE
  const offAir = S.mode === 'live' && !shifted && (c.state !== 'live' || !!c.slate);
  mode.textContent = S.mode === 'catchup' ? t('catchup_mode') : shifted ? t('timeshift_mode') : offAir ? t('offline') : t('live');
  mode.className = 'badge ' + (shifted ? 'ts' : offAir ? 'off' : 'live');
  $('#b-live').hidden = S.mode === 'live' && !shifted;
  // an off-air channel plays its slate: there is nothing to scrub through while live
  $('#scrub').hidden = S.mode === 'live' && (c.state !== 'live' || !!c.slate);
  const canArchive = !!(c.catchup.record && c.catchup.from);
  $('#b-startover').hidden = !(canArchive && p && p.start >= c.catchup.from - 60);
  $('#b-play').innerHTML = icon(video.paused ? 'play' : 'pause');
  $('#b-play').title = video.paused ? t('play') : t('pause');
  renderTrackButtons($('#b-audio'), $('#b-subs'));
  renderScrub(S.seekPending);
}

export function scrubAt(ev) {
  const r = $('#scrub .track').getBoundingClientRect();
  const [a, b] = scrubWindow();
  const f = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
  return a + f * (b - a);
}

/** Redraws the bar every second while shown; pointer seeking on the scrub bar. */
export function initScrub() {
  setInterval(() => { if ($('#app').classList.contains('ui')) renderControls(); }, 1000);
  {
    const sc = $('#scrub');
    let dragging = false;
    sc.addEventListener('pointerdown', (e) => { dragging = true; sc.setPointerCapture(e.pointerId); S.seekPending = scrubAt(e); renderScrub(S.seekPending); });
    sc.addEventListener('pointermove', (e) => {
      const hv = sc.querySelector('.hover');
      const tm = scrubAt(e);
      hv.hidden = false;
      hv.textContent = fmtTime(tm);
      hv.style.left = ((e.clientX - sc.querySelector('.track').getBoundingClientRect().left)) + 'px';
      if (dragging) { S.seekPending = Math.min(now(), tm); renderScrub(S.seekPending); }
      showControls();
    });
    sc.addEventListener('pointerleave', () => { sc.querySelector('.hover').hidden = true; });
    sc.addEventListener('pointerup', (e) => {
      if (!dragging) return;
      dragging = false;
      const tm = Math.min(now(), scrubAt(e));
      S.seekPending = null;
      seekWall(tm);
    });
  }
}
