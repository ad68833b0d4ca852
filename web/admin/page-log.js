// The Log page: the server's last warnings and errors (a ring of 500 kept in memory), newest
// first, each with its channel and reason; admins change the log level while it runs.

import { api, h, clear, fmtTime, errText, toast } from './ui.js';
import { t } from './i18n.js';

const LEVELS = ['error', 'warn', 'info', 'debug', 'trace'];

export function logPage(ctx) {
  const admin = ctx.user && ctx.user.role === 'admin';
  const errBox = h('div.page-error', { role: 'alert' });
  const current = h('span.mono#log-level-current');
  const dropped = h('div.muted#log-dropped');
  const tbody = h('tbody');
  const select = h('select#log-level', { 'aria-label': t('log.level') },
    LEVELS.map(l => h('option', { value: l }, l)));
  const apply = h('button.small#log-level-apply', {
    type: 'button',
    onclick: async () => {
      try {
        const r = await api('PUT', '/api/log/level', { filter: select.value });
        current.textContent = r.filter;
        toast(t('log.level_set', { f: r.filter }));
      } catch (e) {
        errBox.textContent = errText(e);
      }
    },
  }, t('log.apply'));
  let timer = null;
  let destroyed = false;

  const refresh = async () => {
    let r;
    try {
      r = await api('GET', '/api/log?limit=200');
      errBox.textContent = '';
    } catch (e) {
      errBox.textContent = errText(e);
      return;
    }
    if (destroyed) return;
    current.textContent = r.filter;
    if (LEVELS.includes(r.filter) && document.activeElement !== select) select.value = r.filter;
    dropped.textContent = r.dropped ? t('log.dropped', { n: r.dropped, cap: r.capacity }) : '';
    clear(tbody).append(...(r.entries.length
      ? r.entries.map(e => h('tr', { dataset: { level: e.level } },
        h('td.mono', fmtTime(e.at_utc_ms)),
        h(`td.lvl-${e.level.toLowerCase()}`, e.level === 'ERROR' ? t('log.error') : t('log.warn')),
        h('td', e.channel ? h('a', { href: `#/channel/${encodeURIComponent(e.channel)}` }, e.channel) : t('common.none')),
        h('td', e.message, e.fields ? h('div.muted.mono', e.fields) : null)))
      : [h('tr', h('td', { colSpan: 4 }, t('log.empty')))]));
  };

  const el = h('section.page.page-log',
    h('div.page-head', h('h1', t('log.title'))),
    errBox,
    h('div.card',
      h('p.muted', t('log.text')),
      h('div.row', h('span', `${t('log.level')}: `), current,
        admin ? [' ', select, ' ', apply] : null)),
    h('div.card',
      dropped,
      h('table.plain#log-table',
        h('thead', h('tr', h('th', t('log.col.time')), h('th', t('log.col.level')), h('th', t('log.col.channel')), h('th', t('log.col.message')))),
        tbody)));
  refresh();
  timer = setInterval(() => { if (!document.hidden) refresh(); }, 5000);
  return { el, destroy: () => { destroyed = true; clearInterval(timer); } };
}
