// The system page: CPU, memory, disks, uptime, version, ingest and viewers per channel, and the
// server's clock next to this computer's (a wrong system clock breaks archive and guide times).

import { api, h, clear, fmtBytes, fmtBitrate, fmtDuration, fmtUtc, fmtTime, errText, toMs, badge } from './ui.js';
import { t } from './i18n.js';

export function systemPage() {
  const body = h('div');
  const errBox = h('div.page-error', { role: 'alert' });
  let timer = null;
  let destroyed = false;

  const kv = (...pairs) => h('dl.kv', pairs.map(([k, v, cls]) => [h('dt', k), h(`dd${cls ? `.${cls}` : ''}`, v)]));
  const meter = (frac, cls = '') => h(`div.meter${cls}`, h('span', { style: { width: `${Math.max(0, Math.min(1, frac)) * 100}%` } }));

  // the kernel's view of NTP/GPS synchronisation (GET /api/system: clock)
  const syncLine = (c) => {
    if (!c) return h('div.muted#sys-sync', { dataset: { sync: 'unknown' } }, t('sys.sync_unknown'));
    const err = c.est_error_ms >= 1000 ? `${(c.est_error_ms / 1000).toFixed(1)} s` : `${c.est_error_ms.toFixed(1)} ms`;
    if (!c.synchronized) return h('div.warn#sys-sync', { role: 'alert', dataset: { sync: 'unsynchronized' } }, t('sys.sync_bad', { e: err }));
    if (c.warning) return h('div.warn#sys-sync', { role: 'alert', dataset: { sync: 'error' } }, t('sys.sync_error', { e: err }));
    return h('div.ok#sys-sync', { dataset: { sync: 'synchronized' } }, t('sys.sync_ok', { e: err }));
  };

  const refresh = async () => {
    const sent = Date.now();
    let s;
    try {
      s = await api('GET', '/api/system');
      errBox.textContent = '';
    } catch (e) {
      errBox.textContent = errText(e);
      return;
    }
    if (destroyed) return;
    const rtt = Date.now() - sent;
    const serverMs = toMs(s.now_utc);
    const skewMs = serverMs === null ? null : serverMs - (sent + rtt / 2);
    const skewBad = skewMs !== null && Math.abs(skewMs) > 5000 + rtt;
    const cpu = s.cpu || {};
    const mem = s.memory || {};
    const used = mem.total_bytes != null && mem.available_bytes != null ? mem.total_bytes - mem.available_bytes : null;
    const chans = (s.channels || []).slice().sort((a, b) => (b.input_bitrate_bps || 0) - (a.input_bitrate_bps || 0));
    const totalBps = chans.reduce((x, c) => x + (c.input_bitrate_bps || 0), 0);
    clear(body).append(
      h('div.cols3',
        h('div.card#sys-clock', h('h2', t('sys.clock')),
          h('div.bigclock', { dataset: { skewMs: skewMs === null ? '' : String(Math.round(skewMs)) } }, fmtUtc(serverMs)),
          h('div.muted', `${t('sys.clock_local')}: ${fmtTime(serverMs)}`),
          skewBad
            ? h('div.warn', { role: 'alert' }, t('sys.clock_skew', { d: fmtDuration(Math.abs(skewMs) / 1000) }))
            : h('div.ok', t('sys.clock_ok', { d: fmtDuration(Math.max(1, Math.round((Math.abs(skewMs || 0) + rtt) / 1000))) })),
          syncLine(s.clock)),
        h('div.card', h('h2', 'Atoll'), kv(
          [t('sys.version'), s.version || t('common.none'), 'mono'],
          [t('sys.uptime'), fmtDuration(s.uptime_s)],
          [t('sys.viewers_total'), String(s.viewers_total ?? chans.reduce((x, c) => x + (c.viewers || 0), 0))],
          [t('sys.bitrate_total'), fmtBitrate(totalBps)])),
        h('div.card', h('h2', `${t('sys.cpu')} / ${t('sys.memory')}`),
          h('div.metric', h('div', t('sys.cpu')), meter((cpu.usage_percent || 0) / 100),
            h('div.muted', t('sys.cpu_detail', { p: cpu.usage_percent != null ? cpu.usage_percent.toFixed(0) : '?', n: cpu.cores ?? '?', l: (cpu.load || []).map(x => (+x).toFixed(2)).join(' ') }))),
          h('div.metric', h('div', t('sys.memory')), meter(used != null ? used / mem.total_bytes : 0),
            h('div.muted', t('sys.memory_detail', { used: fmtBytes(used), total: fmtBytes(mem.total_bytes), rss: fmtBytes(mem.process_rss_bytes) }))))),
      h('div.card', h('h2', t('sys.disks')),
        h('table.plain',
          h('thead', h('tr', h('th', t('sys.disk.path')), h('th', t('sys.disk.used')), h('th', t('sys.disk.free')), h('th', t('sys.disk.archive')))),
          h('tbody', (s.disks || []).map(d => {
            const usedD = (d.total_bytes || 0) - (d.free_bytes || 0);
            const frac = d.total_bytes ? usedD / d.total_bytes : 0;
            return h('tr',
              h('td.mono', d.path),
              h('td', meter(frac, frac > 0.9 ? '.bad' : frac > 0.8 ? '.warnm' : ''), `${fmtBytes(usedD)} / ${fmtBytes(d.total_bytes)}`),
              h('td', fmtBytes(d.free_bytes)),
              h('td', fmtBytes(d.archive_bytes)));
          })))),
      h('div.card', h('h2', t('sys.channels')),
        h('table.plain#sys-channels',
          h('thead', h('tr', h('th', t('ch.col.id')), h('th', t('ch.col.state')), h('th.num', t('chp.bitrate')), h('th.num', t('ch.col.viewers')))),
          h('tbody', chans.map(c => h('tr',
            h('td', h('a', { href: `#/channel/${encodeURIComponent(c.id)}` }, c.id)),
            h('td', badge(c.state || 'offline', t(`state.${c.state || 'offline'}`))),
            h('td.num', fmtBitrate(c.input_bitrate_bps || 0)),
            h('td.num', String(c.viewers || 0))))))),
    );
  };

  const el = h('section.page.page-system', h('div.page-head', h('h1', t('sys.title'))), errBox, body);
  refresh();
  timer = setInterval(() => { if (!document.hidden) refresh(); }, 3000);
  return { el, destroy: () => { destroyed = true; clearInterval(timer); } };
}
