// Live data shared by the pages: the channel list (polled every 2.5 s while a page listens and the
// tab is visible) and each channel's archive coverage and recording status (refreshed on a slower,
// staggered schedule so 100 channels do not mean 100 requests every few seconds).

import { api } from './ui.js';
import { Coverage } from './timeline.js';

const POLL_MS = 2500;

export const live = {
  channels: null, // array from GET /api/channels
  error: null,
  updatedAt: 0,
  coverage: new Map(), // id -> Coverage
  recording: new Map(), // id -> GET /recording answer
  listeners: new Set(),
  timer: null,
  covTimer: null,
  due: new Map(), // id -> Date.now() when coverage is next due
  inflight: 0,
};

function emit() { for (const f of live.listeners) f(live); }

export async function refreshChannels() {
  try {
    live.channels = await api('GET', '/api/channels');
    live.error = null;
    live.updatedAt = Date.now();
    const ids = new Set(live.channels.map(c => c.id));
    for (const id of [...live.coverage.keys()]) if (!ids.has(id)) { live.coverage.delete(id); live.recording.delete(id); live.due.delete(id); }
  } catch (e) {
    live.error = e;
  }
  emit();
}

function loop() {
  clearTimeout(live.timer);
  live.timer = setTimeout(async () => {
    if (!document.hidden && live.listeners.size) await refreshChannels();
    if (live.listeners.size) loop();
  }, POLL_MS);
}

/** Coverage refresh period for a channel: quick while recording, slow otherwise. */
function period(ch) {
  const n = live.channels ? live.channels.length : 1;
  return ch.record ? Math.max(10_000, n * 300) : 60_000;
}

async function refreshCoverage(ch) {
  live.inflight++;
  live.due.set(ch.id, Date.now() + period(ch));
  try {
    let cov = live.coverage.get(ch.id);
    if (!cov) { cov = new Coverage(ch.id); live.coverage.set(ch.id, cov); }
    const [, rec] = await Promise.all([
      cov.refresh(ch.retention_hours || 72),
      api('GET', `/api/channels/${encodeURIComponent(ch.id)}/recording`).catch(() => null),
    ]);
    if (rec) live.recording.set(ch.id, rec);
  } catch (e) {
    const cov = live.coverage.get(ch.id);
    if (cov) cov.error = e;
  } finally {
    live.inflight--;
  }
  emit();
}

function covLoop() {
  clearTimeout(live.covTimer);
  live.covTimer = setTimeout(() => {
    if (!document.hidden && live.channels) {
      const now = Date.now();
      for (const ch of live.channels) {
        if (live.inflight >= 3) break;
        if ((live.due.get(ch.id) ?? 0) <= now) refreshCoverage(ch);
      }
    }
    if (live.listeners.size) covLoop();
  }, 500);
}

/** Asks for `id`'s coverage soon (after recording was started, for instance). */
export function coverageSoon(id, inMs = 0) {
  live.due.set(id, Date.now() + inMs);
}

/** Subscribes `f` to updates; returns the unsubscribe function. */
export function listen(f) {
  live.listeners.add(f);
  if (live.listeners.size === 1) {
    refreshChannels();
    loop();
    covLoop();
  } else if (live.channels) {
    f(live);
  }
  return () => {
    live.listeners.delete(f);
    if (!live.listeners.size) { clearTimeout(live.timer); clearTimeout(live.covTimer); }
  };
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && live.listeners.size) refreshChannels();
});

/** Forgets everything (sign-out). */
export function resetLive() {
  live.channels = null;
  live.coverage.clear();
  live.recording.clear();
  live.due.clear();
}
