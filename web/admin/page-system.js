// The system page: CPU, memory, disks, uptime, version, ingest and viewers per channel, and the
// server's clock next to this computer's (a wrong system clock breaks archive and guide times).

import { api, h, clear, fmtBytes, fmtBitrate, fmtDuration, fmtUtc, fmtTime, errText, toMs, session, confirmBox, toast } from './ui.js';
import { t } from './i18n.js';
import { stateBadge } from './page-channels.js';

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
            h('td', stateBadge(c)),
            h('td.num', fmtBitrate(c.input_bitrate_bps || 0)),
            h('td.num', String(c.viewers || 0))))))),
    );
  };

  // recordings kept from deleted channels (admins): size, span, when retention removes them, and
  // a button to free the space now
  const keptCard = h('div.card#sys-kept', { hidden: true });
  const refreshKept = async () => {
    if (!session.user || session.user.role !== 'admin') return;
    let r;
    try { r = await api('GET', '/api/archive/kept'); } catch (e) {
      keptCard.hidden = false;
      clear(keptCard).append(h('h2', t('kept.title')), h('p.form-error', errText(e)));
      return;
    }
    if (destroyed) return;
    const list = r.archives || [];
    const total = list.reduce((x, a) => x + (a.bytes || 0), 0);
    keptCard.hidden = false;
    clear(keptCard).append(
      h('h2', t('kept.title')),
      h('p.muted', t('kept.text', { h: r.retention_hours })),
      list.length
        ? h('table.plain#kept-table',
          h('thead', h('tr', h('th', t('ch.col.id')), h('th.num', t('kept.size')), h('th', t('kept.span')), h('th', t('kept.until')), h('th', ''))),
          h('tbody', list.map(a => h('tr', { dataset: { channel: a.channel, bytes: String(a.bytes) } },
            h('td.mono', a.channel),
            h('td.num', fmtBytes(a.bytes)),
            h('td', `${fmtTime(a.from, { seconds: false })} – ${fmtTime(a.to, { seconds: false })}`),
            h('td', fmtTime(a.removed_by_retention_at, { seconds: false })),
            h('td.actions', h('button.small.danger.kept-remove', {
              type: 'button',
              onclick: async e => {
                const ok = await confirmBox(t('kept.remove_title', { id: a.channel }), t('kept.remove_text', { id: a.channel, size: fmtBytes(a.bytes) }), t('kept.remove'));
                if (!ok) return;
                const btn = e.target;
                btn.disabled = true;
                try {
                  const res = await api('DELETE', `/api/archive/kept/${encodeURIComponent(a.channel)}`);
                  toast(t('kept.removed', { id: a.channel, size: fmtBytes(res.bytes_freed) }));
                } catch (err) {
                  toast(errText(err), 'error');
                }
                refreshKept();
              },
            }, t('kept.remove')))))),
          h('tfoot', h('tr', h('td', t('kept.total')), h('td.num', fmtBytes(total)), h('td', { colspan: 3 }))))
        : h('p.muted#kept-none', t('kept.none')));
  };

  const el = h('section.page.page-system', h('div.page-head', h('h1', t('sys.title'))), errBox, body, keptCard);
  refresh();
  refreshKept();
  timer = setInterval(() => { if (!document.hidden) refresh(); }, 3000);
  const keptTimer = setInterval(() => { if (!document.hidden) refreshKept(); }, 30_000);
  return { el, destroy: () => { destroyed = true; clearInterval(timer); clearInterval(keptTimer); } };
}
