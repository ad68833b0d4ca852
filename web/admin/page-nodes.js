// The cluster's nodes (on an origin): each edge's role, health, load and clock offset as its last
// report says, the capacity and client subnets the operator gave it (edit), and the history:
// joined, unhealthy, healthy again, origin switches.

import { api, h, clear, modal, field, showFieldError, clearErrors, errText, toast, fmtTime, fmtBytes, badge } from './ui.js';
import { t } from './i18n.js';

function capacityDialog(n) {
  return modal(t('nodes.edit', { name: n.name }), close => {
    const fViewers = field('max_viewers', t('nodes.max_viewers'), h('input', { type: 'number', min: 0, value: n.max_viewers ?? '' }), t('nodes.no_cap'));
    const fMbps = field('max_mbps', t('nodes.max_mbps'), h('input', { type: 'number', min: 0, step: 'any', value: n.max_mbps ?? '' }), t('nodes.no_cap'));
    const fSubnets = field('subnets', t('nodes.subnets'), h('textarea', { rows: 3, spellcheck: 'false', placeholder: '10.1.0.0/16' }, (n.subnets || []).join('\n')), t('nodes.subnets_hint'));
    const err = h('div.form-error', { role: 'alert' });
    const form = h('form', { novalidate: true }, fViewers, fMbps, fSubnets, err,
      h('div.actions', h('button', { type: 'button', onclick: () => close(undefined) }, t('common.cancel')), h('button.primary', { type: 'submit' }, t('common.save'))));
    form.addEventListener('submit', async e => {
      e.preventDefault();
      clearErrors(form);
      const num = v => (v.trim() === '' ? null : +v);
      const body = {
        max_viewers: num(form.elements.max_viewers.value),
        max_mbps: num(form.elements.max_mbps.value),
        subnets: form.elements.subnets.value.split(/[\s,]+/).filter(Boolean),
      };
      try {
        const r = await api('PUT', `/api/cluster/nodes/${encodeURIComponent(n.name)}`, body);
        toast(t('common.saved'));
        close(r || true);
      } catch (ex) {
        showFieldError(form, ex, err);
      }
    });
    return form;
  }, { id: 'node-dialog' });
}

export function nodesPage() {
  const tbody = h('tbody');
  const events = h('tbody');
  const note = h('div.muted');
  const errBox = h('div.page-error', { role: 'alert' });
  let timer = null;
  let destroyed = false;

  const offset = ms => {
    if (ms == null) return '';
    const s = `${ms > 0 ? '+' : ''}${(ms / 1000).toFixed(1)} s`;
    return Math.abs(ms) > 2000 ? h('span.warn', { title: t('nodes.clock_warn') }, s) : s;
  };

  const refresh = async () => {
    let list, hist;
    try {
      [list, hist] = await Promise.all([api('GET', '/api/cluster/nodes'), api('GET', '/api/cluster/events')]);
      errBox.textContent = '';
    } catch (e) {
      errBox.textContent = errText(e);
      return;
    }
    if (destroyed) return;
    note.textContent = list.length ? '' : t('nodes.empty');
    clear(tbody).append(...list.map(n => h('tr', { dataset: { name: n.name } },
      h('td', h('strong', n.name), h('div.mono.muted.small', n.public_url || '')),
      h('td', n.role || ''),
      h('td', n.healthy ? badge('live', t('nodes.healthy')) : badge('offline', t('nodes.unhealthy'))),
      h('td', fmtTime(n.last_report)),
      h('td.num', String(n.viewers ?? '')),
      h('td.num', n.egress_mbps != null ? n.egress_mbps.toFixed(1) : ''),
      h('td.num', n.cpu != null ? `${n.cpu.toFixed(0)} %` : ''),
      h('td.num', n.disk_free != null ? fmtBytes(n.disk_free) : ''),
      h('td.num.clock', offset(n.clock_offset_ms)),
      h('td.num', n.channels ? `${n.channels.pulled} / ${n.channels.recorded}` : ''),
      h('td.mono.small', n.origin_in_use || ''),
      h('td.cap', `${n.max_viewers ?? '∞'} · ${n.max_mbps ?? '∞'} Mbit/s`, h('div.mono.muted.small', (n.subnets || []).join(' '))),
      h('td.actions', h('button.small', { type: 'button', onclick: async () => { if (await capacityDialog(n)) refresh(); } }, t('common.edit'))))));
    clear(events).append(...hist.slice(0, 100).map(e => h('tr',
      h('td', fmtTime(e.at)), h('td', e.node), h('td', t(`nodes.ev.${e.kind}`)), h('td.mono.small', e.detail))));
  };

  const el = h('section.page.page-nodes',
    h('div.page-head', h('h1', t('nodes.title'))),
    errBox,
    h('div.table-wrap', h('table.plain#nodes-table',
      h('thead', h('tr', h('th', t('nodes.name')), h('th', t('nodes.role')), h('th', t('nodes.health')), h('th', t('nodes.last_report')),
        h('th.num', t('ch.col.viewers')), h('th.num', 'Mbit/s'), h('th.num', t('sys.cpu')), h('th.num', t('sys.disk.free')),
        h('th.num', t('nodes.clock')), h('th.num', t('nodes.channels')), h('th', t('nodes.origin')), h('th', t('nodes.capacity')), h('th'))),
      tbody)),
    note,
    h('h2', t('nodes.history')),
    h('div.table-wrap', h('table.plain#node-events', h('tbody', events))));
  refresh();
  timer = setInterval(() => { if (!document.hidden) refresh(); }, 3000);
  return { el, destroy: () => { destroyed = true; clearInterval(timer); } };
}
