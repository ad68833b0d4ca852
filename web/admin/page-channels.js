// The channel table: live state, recording toggle, archive coverage bar; filters and sort.

import { api, h, clear, badge, fmtBitrate, fmtVideo, errText, toast, fmtTime, confirmBox } from './ui.js';
import { t } from './i18n.js';
import { live, listen, refreshChannels, coverageSoon } from './store.js';
import { drawTimeline } from './timeline.js';
import { openChannelDialog, deleteChannel } from './channel-dialog.js';

const PREFS = 'atoll.channels.view';

export function recState(ch) {
  if (!ch.record) return 'stopped';
  const d = live.recording.get(ch.id);
  if (d && d.state === 'error') return 'error';
  if (!ch.active) return 'waiting for source';
  return ch.state === 'live' ? 'recording' : 'waiting for source';
}

export function stateKind(ch) {
  if (!ch.active) return 'inactive';
  // a push channel with no encoder attached waits for one: nothing is being connected to
  if (ch.awaiting_encoder && ch.state !== 'live') return 'waiting';
  return ch.state || 'offline';
}

export function stateBadge(ch) {
  const k = stateKind(ch);
  return badge(k, t(`state.${k}`, null), ch.last_error || undefined);
}

export function recBadge(ch) {
  const r = recState(ch);
  const d = live.recording.get(ch.id);
  // a push channel's recording waits for its encoder, not for a source to connect to
  const text = r === 'waiting for source' && ch.awaiting_encoder ? t('state.waiting') : t(`rec.${r}`);
  return badge(`rec-${r}`, text, (d && d.last_error) || undefined);
}

/** The server URL an encoder publishes a push channel to (OBS: "Server"). */
export function publishServer(ch) {
  const p = ch.publish || { port: '1935', app: 'live' };
  const host = /:/.test(location.hostname) ? `[${location.hostname}]` : location.hostname;
  return `rtmp://${host}:${p.port}/${p.app}`;
}

/** A short form of a source URL for the table (scheme + host + tail). */
export function shortUrl(u) {
  if (!u) return '';
  return u.length > 42 ? `${u.slice(0, 28)}…${u.slice(-12)}` : u;
}

export async function toggleRecording(ch, btn) {
  const action = ch.record ? 'stop' : 'start';
  // stopping leaves a hole in the archive that cannot be filled later: asked first
  if (action === 'stop' && !await confirmBox(t('rec.stop_title', { name: ch.name }), t('rec.stop_text', { name: ch.name }), t('rec.stop_long'))) return;
  if (btn) btn.disabled = true;
  try {
    const r = await api('POST', `/api/channels/${encodeURIComponent(ch.id)}/recording/${action}`);
    if (r) live.recording.set(ch.id, r);
    ch.record = action === 'start';
    coverageSoon(ch.id, 0);
    if (action === 'start') { coverageSoon(ch.id, 7000); }
    await refreshChannels();
  } catch (e) {
    toast(errText(e), 'error');
  } finally {
    if (btn) btn.disabled = false;
  }
}

const COLUMNS = [
  { key: 'number', label: 'ch.col.number', sort: c => c.number ?? 1e9, cls: 'num' },
  { key: 'logo', label: 'ch.col.logo', cls: 'logo' },
  { key: 'name', label: 'ch.col.name', sort: c => c.name.toLowerCase() },
  { key: 'id', label: 'ch.col.id', sort: c => c.id, cls: 'mono' },
  { key: 'group', label: 'ch.col.group', sort: c => (c.group || '').toLowerCase() },
  { key: 'sources', label: 'ch.col.sources', cls: 'sources' },
  { key: 'state', label: 'ch.col.state', sort: c => ({ live: 0, connecting: 1, offline: 2, inactive: 3 }[stateKind(c)] ?? 2) * 1e12 - (c.input_bitrate_bps || 0), cls: 'state' },
  { key: 'viewers', label: 'ch.col.viewers', sort: c => -(c.viewers || 0), cls: 'num' },
  { key: 'recording', label: 'ch.col.recording', sort: c => ['recording', 'error', 'waiting for source', 'stopped'].indexOf(recState(c)), cls: 'rec' },
  { key: 'archive', label: 'ch.col.archive_plain', cls: 'archive' },
  { key: 'actions', label: 'ch.col.actions', cls: 'actions' },
];

export function channelsPage(ctx) {
  let prefs = { q: '', group: '', state: '', rec: '', sort: 'number', dir: 1 };
  try { Object.assign(prefs, JSON.parse(localStorage.getItem(PREFS) || '{}')); } catch (_) { /* ignore */ }
  const savePrefs = () => { try { localStorage.setItem(PREFS, JSON.stringify(prefs)); } catch (_) { /* ignore */ } };

  const q = h('input#ch-filter', { type: 'search', placeholder: t('ch.filter.text'), value: prefs.q, 'aria-label': t('ch.filter.text') });
  const group = h('select#ch-group', { 'aria-label': t('ch.filter.group') });
  const state = h('select#ch-state', { 'aria-label': t('ch.filter.state') },
    h('option', { value: '' }, `${t('ch.filter.state')}: ${t('common.all')}`),
    ['live', 'connecting', 'waiting', 'idle', 'offline', 'inactive'].map(s => h('option', { value: s, selected: prefs.state === s }, t(`state.${s}`))));
  const rec = h('select#ch-rec', { 'aria-label': t('ch.filter.rec') },
    h('option', { value: '' }, `${t('ch.filter.rec')}: ${t('common.all')}`),
    ['recording', 'waiting for source', 'error', 'stopped'].map(s => h('option', { value: s, selected: prefs.rec === s }, t(`rec.${s}`))));
  const summary = h('div.summary.muted');
  const errBox = h('div.page-error', { role: 'alert' });

  const headRow = h('tr');
  const thead = h('thead', headRow);
  const tbody = h('tbody');
  const table = h('table.channels#channel-table', thead, tbody);
  const empty = h('div.empty');

  const drawHead = () => {
    clear(headRow);
    for (const col of COLUMNS) {
      let label = t(col.label);
      if (col.key === 'archive') label = t('ch.col.archive_plain');
      const th = h(`th.c-${col.key}`, { scope: 'col' }, label);
      if (col.sort) {
        th.classList.add('sortable');
        th.tabIndex = 0;
        const active = prefs.sort === col.key;
        if (active) th.setAttribute('aria-sort', prefs.dir > 0 ? 'ascending' : 'descending');
        th.append(h('span.sort-ind', active ? (prefs.dir > 0 ? ' ▲' : ' ▼') : ''));
        const go = () => {
          if (prefs.sort === col.key) prefs.dir = -prefs.dir; else { prefs.sort = col.key; prefs.dir = 1; }
          savePrefs();
          drawHead();
          render();
        };
        th.addEventListener('click', go);
        th.addEventListener('keydown', e => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); go(); } });
      }
      headRow.append(th);
    }
  };
  drawHead();

  const rows = new Map(); // id -> {tr, cells:{key: td}, sig:{key: string}}

  const cell = (row, key, sig, build) => {
    if (row.sig[key] === sig) return;
    row.sig[key] = sig;
    const td = row.cells[key];
    clear(td);
    const content = build();
    td.append(...[].concat(content).filter(x => x !== null && x !== undefined && x !== false));
  };

  const updateRow = (row, ch) => {
    const tr = row.tr;
    const kind = stateKind(ch);
    const rs = recState(ch);
    tr.dataset.state = kind;
    tr.dataset.rec = rs;
    tr.classList.toggle('inactive', !ch.active);
    cell(row, 'number', String(ch.number ?? ''), () => ch.number ?? '');
    cell(row, 'logo', ch.logo || '', () => ch.logo ? h('img', { src: ch.logo, alt: '', loading: 'lazy', onerror: e => { e.target.style.visibility = 'hidden'; } }) : null);
    cell(row, 'name', ch.name, () => h('a', { href: `#/channel/${encodeURIComponent(ch.id)}` }, ch.name));
    cell(row, 'id', ch.id, () => ch.id);
    cell(row, 'group', ch.group || '', () => ch.group || '');
    cell(row, 'sources', JSON.stringify([ch.sources, ch.active_source]), () => {
      const s = ch.sources || [];
      if (!s.length) return h('span.muted', { title: ch.publish ? publishServer(ch) : '' }, t('ch.publish'));
      return [h('span.src', { title: s.join('\n') }, shortUrl(s[0])), s.length > 1 ? h('span.more', ` ${t('ch.sources_more', { n: s.length - 1 })}`) : null];
    });
    const bitrate = ch.input_bitrate_bps || 0;
    cell(row, 'state', JSON.stringify([kind, ch.slate, ch.active_source, Math.round(bitrate / 10000), ch.video && fmtVideo(ch.video), ch.last_error]), () => {
      const detail = [];
      if (kind === 'live' || kind === 'connecting') {
        if (ch.active_source && (ch.sources || []).length > 1) detail.push(`#${(ch.sources.indexOf(ch.active_source) + 1) || '?'}`);
        if (bitrate) detail.push(fmtBitrate(bitrate));
        const v = ch.video;
        if (v && v.width) detail.push(`${v.width}×${v.height}`);
      }
      return [
        stateBadge(ch),
        ch.slate && kind !== 'live' ? h('span.slate', ` ${t('state.slate')}`) : null,
        detail.length ? h('div.detail', { title: ch.active_source || '' }, detail.join(' · ')) : null,
        kind !== 'live' && ch.last_error && ch.active ? h('div.detail.err', { title: ch.last_error }, ch.last_error) : null,
      ];
    });
    cell(row, 'viewers', String(ch.viewers || 0), () => String(ch.viewers || 0));
    const d = live.recording.get(ch.id);
    cell(row, 'recording', JSON.stringify([rs, ch.record, d && d.last_error]), () => [
      recBadge(ch),
      h(`button.small.rec-toggle.${ch.record ? 'stop' : 'start'}`, {
        type: 'button',
        title: ch.record ? t('rec.stop_long') : t('rec.start_long'),
        'aria-label': `${ch.record ? t('rec.stop_long') : t('rec.start_long')} ${ch.name}`,
        onclick: e => toggleRecording(ch, e.currentTarget),
      }, ch.record ? `■ ${t('rec.stop')}` : `● ${t('rec.start')}`),
    ]);
    const cov = live.coverage.get(ch.id);
    const now = Math.floor(Date.now() / 1000);
    const win = (ch.retention_hours || 72) * 3600;
    cell(row, 'archive', cov ? `${cov.fetchedAt}|${row.cells.archive.clientWidth}|${Math.floor(now / 60)}` : 'none', () => {
      const bar = h('div.timeline.small', { dataset: { channel: ch.id } });
      // draw after insertion so the bar knows its width
      requestAnimationFrame(() => drawTimeline(bar, cov, now - win, now));
      drawTimeline(bar, cov, now - win, now);
      return [bar, h('div.detail.muted', `${ch.retention_hours} h`)];
    });
    cell(row, 'actions', ch.id, () => [
      h('button.small.edit', { type: 'button', 'aria-label': `${t('common.edit')} ${ch.name}`, onclick: () => edit(ch.id) }, t('common.edit')),
      h('button.small.danger.del', { type: 'button', 'aria-label': `${t('common.delete')} ${ch.name}`, onclick: () => del(ch.id) }, t('common.delete')),
    ]);
  };

  const edit = async id => {
    const ch = (live.channels || []).find(c => c.id === id);
    if (!ch) return;
    const saved = await openChannelDialog(ch, { groups: groups() });
    if (saved) refreshChannels();
  };
  const del = async id => {
    const ch = (live.channels || []).find(c => c.id === id);
    if (!ch) return;
    if (await deleteChannel(ch)) refreshChannels();
  };
  const groups = () => [...new Set((live.channels || []).map(c => c.group).filter(Boolean))].sort();

  const render = () => {
    const list = live.channels;
    errBox.textContent = live.error ? errText(live.error) : '';
    if (!list) return;
    // group filter options
    const gs = groups();
    const sig = JSON.stringify(gs);
    if (group.dataset.sig !== sig) {
      group.dataset.sig = sig;
      clear(group).append(h('option', { value: '' }, `${t('ch.filter.group')}: ${t('common.all')}`), ...gs.map(g => h('option', { value: g, selected: prefs.group === g }, g)));
    }
    const needle = prefs.q.trim().toLowerCase();
    const shown = list.filter(c =>
      (!needle || [c.name, c.id, c.group, String(c.number ?? ''), ...(c.sources || [])].some(x => (x || '').toLowerCase().includes(needle)))
      && (!prefs.group || c.group === prefs.group)
      && (!prefs.state || stateKind(c) === prefs.state)
      && (!prefs.rec || recState(c) === prefs.rec));
    const col = COLUMNS.find(c => c.key === prefs.sort && c.sort) || COLUMNS[0];
    shown.sort((a, b) => {
      const x = col.sort(a), y = col.sort(b);
      return (x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : 1) * prefs.dir;
    });
    const keep = new Set(shown.map(c => c.id));
    for (const [id, row] of rows) if (!keep.has(id)) { row.tr.remove(); rows.delete(id); }
    let prev = null;
    for (const ch of shown) {
      let row = rows.get(ch.id);
      if (!row) {
        const tr = h('tr', { dataset: { id: ch.id } });
        const cells = {};
        for (const c of COLUMNS) { cells[c.key] = h(`td.c-${c.key}`); tr.append(cells[c.key]); }
        row = { tr, cells, sig: {} };
        rows.set(ch.id, row);
      }
      updateRow(row, ch);
      const want = prev ? prev.nextSibling : tbody.firstChild;
      if (want !== row.tr) tbody.insertBefore(row.tr, want);
      prev = row.tr;
    }
    const liveN = list.filter(c => stateKind(c) === 'live').length;
    const viewers = list.reduce((s, c) => s + (c.viewers || 0), 0);
    summary.textContent = `${t('ch.count', { shown: shown.length, total: list.length, live: liveN, viewers })} · ${t('ch.updated', { t: fmtTime(live.updatedAt).slice(11) })}`;
    empty.textContent = list.length ? (shown.length ? '' : t('ch.nomatch')) : t('ch.empty');
    empty.hidden = !!shown.length;
  };

  q.addEventListener('input', () => { prefs.q = q.value; savePrefs(); render(); });
  group.addEventListener('change', () => { prefs.group = group.value; savePrefs(); render(); });
  state.addEventListener('change', () => { prefs.state = state.value; savePrefs(); render(); });
  rec.addEventListener('change', () => { prefs.rec = rec.value; savePrefs(); render(); });

  const addBtn = h('button.primary#add-channel', {
    type: 'button',
    onclick: async () => {
      const saved = await openChannelDialog(null, { groups: groups() });
      if (saved) { if (saved.id) coverageSoon(saved.id, 7000); refreshChannels(); }
    },
  }, `+ ${t('ch.add')}`);

  const el = h('section.page.page-channels',
    h('div.page-head', h('h1', t('ch.title')), addBtn),
    h('div.toolbar', q, group, state, rec, summary),
    errBox,
    h('div.table-wrap', table),
    empty);

  const onResize = () => { for (const row of rows.values()) row.sig.archive = ''; render(); };
  let resizeT = null;
  const resized = () => { clearTimeout(resizeT); resizeT = setTimeout(onResize, 200); };
  window.addEventListener('resize', resized);
  const unlisten = listen(render);
  render();
  return { el, destroy: () => { unlisten(); window.removeEventListener('resize', resized); } };
}
