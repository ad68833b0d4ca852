// The playback engine (hls.js where MSE exists, native HLS on Safari/iOS, error recovery, the
// frozen-picture watchdog) and tuning: live, start-over (timeshift) and catch-up of a channel,
// seeking in wall-clock time. A VOD section plays through the same load()/tryPlay().
import { t } from './i18n.js';
import * as store from './storage.js';
import { $, S, dayStart, fmtDay, fmtTime, hideMsg, icon, now, showMsg, spinner, stateMsg, token, video, withToken } from './core.js';
import { filtered, focusRow, markCurrent } from './channels.js';
import { renderControls, renderScrub, showControls } from './scrub.js';
import { loadEpg, programmeAt } from './guide.js';
import { closeMenu, hlsPreferences, wireHls } from './tracks.js';

// ---------- playback engine ----------
export function destroy() {
  clearTimeout(S.retryTimer);
  closeMenu({ refocus: false });
  if (S.hls) { S.hls.destroy(); S.hls = null; }
  video.removeAttribute('src');
  video.load();
}

/** Plays `url`; `start` (seconds) begins a VOD title there instead of at its start. */
export function load(url, { start } = {}) {
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
      startPosition: start > 0 ? start : -1,
      // the audio language and subtitles this viewer chose for this channel (or for films)
      ...hlsPreferences(),
    });
    S.hls = hls;
    wireHls(hls);
    hls.on(Hls.Events.ERROR, (_, d) => onHlsError(hls, d));
    hls.on(Hls.Events.MANIFEST_PARSED, () => tryPlay());
    hls.loadSource(src);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = src;
    if (start > 0) video.addEventListener('loadedmetadata', () => { video.currentTime = start; }, { once: true });
    tryPlay();
  } else {
    spinner(false);
    showMsg(t('unsupported'), 'error');
  }
}

export async function tryPlay() {
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

export function onHlsError(hls, d) {
  if (hls !== S.hls || !d.fatal) return;
  const code = d.response && d.response.code;
  if (d.type === Hls.ErrorTypes.MEDIA_ERROR && S.mediaRecoveries++ < 3) {
    hls.recoverMediaError();
    return;
  }
  spinner(false);
  const manifest = d.details === Hls.ErrorDetails.MANIFEST_LOAD_ERROR;
  if (S.mode === 'vod') {
    // a film: gone from the library (404) is final, anything else is retried where it stopped
    if (manifest && (code === 404 || code === 400 || code === 403)) { destroy(); showMsg(t('vod_unavailable'), 'error'); return; }
    showMsg(code === 0 || code === undefined ? t('network_down') : t('vod_retry'), 'error');
    S.retryTimer = setTimeout(() => { if (S.hls === hls && S.vodRetry) S.vodRetry(); }, 3000);
    return;
  }
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
export function playingWall() {
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

/** Video element events and the frozen-picture watchdog. */
export function initPlayback() {
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
    store.set('atoll.volume', String(video.volume));
    store.set('atoll.muted', video.muted ? '1' : '0');
    $('#volume').value = video.muted ? 0 : video.volume;
    $('#b-mute').innerHTML = icon(video.muted || video.volume === 0 ? 'muted' : 'vol');
    if (!video.muted) $('#unmute').hidden = true;
  });
  video.addEventListener('play', renderControls);
  video.addEventListener('pause', renderControls);

  // a live picture that froze for 20 s while it should play is reloaded
  setInterval(() => {
    if (!S.current && S.mode !== 'vod' || video.paused || S.mode === 'catchup' || !$('#msg').hidden && $('#msg').className === 'error') return;
    if (performance.now() - S.lastProgress.at > 20000) {
      S.lastProgress.at = performance.now();
      if (S.mode === 'vod') { if (S.vodRetry) S.vodRetry(); return; }
      tune(S.current, { mode: S.mode, from: S.from });
    }
  }, 5000);
}

// ---------- tuning ----------
export function tune(ch, { mode = 'live', from = 0, prog = null } = {}) {
  if (!ch) return;
  const changed = S.current !== ch;
  S.current = ch;
  S.mode = mode;
  S.from = Math.floor(from);
  S.prog = prog;
  store.set('atoll.last', ch.id);
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

export function zap(dir) {
  const list = filtered().includes(S.current) ? filtered() : S.channels;
  if (!list.length) return;
  const i = list.indexOf(S.current);
  const next = list[(i + dir + list.length) % list.length];
  tune(next);
  focusRow(next.id, false);
}

/** Back to live: a jump inside what is loaded when live is still what plays, else a reload. */
export function goLive() {
  if (S.mode === 'live' && S.hls && S.hls.liveSyncPosition != null) {
    video.currentTime = S.hls.liveSyncPosition;
    tryPlay();
    renderControls();
    showControls();
    return;
  }
  tune(S.current, { mode: 'live' });
}

/** Wall time (unix s) of where live play sits: hls.js's live sync position (a few segments
 *  behind the newest, what "live" plays after a tune), or 12 s before now without it. */
export function liveEdgeWall() {
  const n = now();
  const wall = playingWall();
  if (S.mode === 'live' && S.hls && S.hls.liveSyncPosition != null && wall != null) {
    return Math.min(n, wall + (S.hls.liveSyncPosition - video.currentTime));
  }
  return n - 12;
}

/** Seconds behind the live edge that count as time-shifted (the badge, "Back to live"). */
export const SHIFTED_MIN_S = 5;
/** Whether wall time `pos` on the current channel is behind live: catch-up always, and any
 *  position behind the live edge, also a jump back inside the live buffer (and more than 12 s
 *  behind the clock: what live play is behind it anyway with short segments). */
export function isShifted(pos) {
  return S.mode === 'catchup' || (liveEdgeWall() - pos > SHIFTED_MIN_S && now() - pos > 12);
}

export function archiveStartText(ch) {
  const f = ch && ch.catchup && ch.catchup.from;
  return f ? `${fmtDay(dayStart(f))} ${fmtTime(f)}` : '—';
}

/** Plays the current channel from wall time `t`: inside what is loaded by seeking, else by
 *  loading a start-over (timeshift) playlist from the archive; at the live edge, live. */
export function seekWall(target) {
  const ch = S.current;
  if (!ch) return;
  const n = now();
  if (target >= n - 8) {
    goLive();
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

let seekTimer = 0;
/** Remote-friendly relative seek: presses add up, the jump happens once they stop. */
export function seekBy(sec) {
  if (!S.current) return;
  const base = S.seekPending ?? playingWall() ?? now();
  S.seekPending = Math.min(now(), base + sec);
  showControls();
  renderScrub(S.seekPending);
  clearTimeout(seekTimer);
  seekTimer = setTimeout(() => { const t0 = S.seekPending; S.seekPending = null; seekWall(t0); }, 700);
}

export function startOver() {
  const p = programmeAt(S.current, playingWall() ?? now());
  if (!p) return;
  if (S.mode === 'catchup') { seekWall(p.start); return; }
  seekWall(p.start);
}

export function playProgramme(ch, p) {
  const n = now();
  if (p.start > n) { showMsg(t('future', { title: p.title }), 'info', 3000); return; }
  if (p.stop > n) { tune(ch); return; }
  if (!p.catchup) { showMsg(t('not_in_archive', { title: p.title }), 'error', 5000); return; }
  tune(ch, { mode: 'catchup', prog: { start: p.start, stop: p.stop, title: p.title } });
}
