// The channel list: groups, search, rows with now-playing and progress, and the periodic refresh
// of the lineup (which also measures the server's clock skew).
import { t } from './i18n.js';
import * as store from './storage.js';
import { $, S, api, el, fmtTime, now, stateMsg } from './core.js';
import { tune } from './playback.js';
import { renderControls } from './scrub.js';
import { closeOverlay } from './layout.js';

// ---------- channel list ----------
export function filtered() {
  const q = S.query.trim().toLowerCase();
  return S.channels.filter((c) => (!S.group || c.group === S.group) && (!q
    || c.name.toLowerCase().includes(q)
    || String(c.number ?? '') === q
    || (c.now && c.now.title.toLowerCase().includes(q))));
}

export function logo(c, cls) {
  const initials = c.name.replace(/[^\p{L}\p{N}]+/gu, ' ').trim().split(' ').map((w) => [...w][0]).join('').slice(0, 3) || '?';
  const ph = el('span', { class: cls + ' ph', text: initials });
  if (!c.logo) return ph;
  const img = el('img', { class: cls, src: c.logo, alt: '', loading: 'lazy' });
  img.onerror = () => img.replaceWith(ph);
  return img;
}

export function progress(p) {
  if (!p) return 0;
  return Math.min(100, Math.max(0, ((now() - p.start) / Math.max(1, p.stop - p.start)) * 100));
}

export function rowFor(c) {
  const off = c.state !== 'live' || c.slate;
  const li = el('li', {
    role: 'option', tabindex: '-1', 'data-id': c.id,
    class: (c === S.current ? 'current ' : '') + (off ? 'off' : ''),
    'aria-selected': c === S.current ? 'true' : 'false',
    onclick: () => { tune(c); if (S.listHidden) closeOverlay(); },
  },
  el('span', { class: 'num', text: c.number ?? '' }),
  logo(c, 'logo'),
  el('div', { class: 'meta' },
    el('div', { class: 'name' }, el('span', { text: c.name }),
      off ? el('span', { class: 'badge off', text: t('offline') }) : null,
      c.catchup.record && c.catchup.from ? el('span', { class: 'badge cu', title: t('hours_archive', { n: c.catchup.hours }), text: '⟲' }) : null),
    el('div', { class: 'now', text: c.now ? `${fmtTime(c.now.start)} ${c.now.title}` : '' }),
    c.now ? el('div', { class: 'bar' }, el('i', { style: `width:${progress(c.now).toFixed(1)}%` })) : null));
  return li;
}

export function renderGroups() {
  const groups = [...new Set(S.channels.map((c) => c.group).filter(Boolean))];
  if (S.group && !groups.includes(S.group)) S.group = '';
  const nav = $('#groups');
  const a = document.activeElement;
  const had = a && a.closest('#groups') ? a.dataset.group : null;
  nav.hidden = groups.length < 2;
  nav.replaceChildren(...['', ...groups].map((g) => el('button', {
    role: 'tab', tabindex: '-1', 'data-group': g, class: g === S.group ? 'on' : '',
    'aria-selected': g === S.group ? 'true' : 'false',
    text: g || t('all'),
    onclick: () => { S.group = g; store.set('atoll.group', g); renderGroups(); renderList(); },
  })));
  // the redraw keeps the focus where it was (the chip of the same group, or the one chosen)
  if (had != null) {
    const b = nav.querySelector(`button[data-group="${CSS.escape(had)}"]`) || nav.querySelector('button.on');
    if (b && !nav.hidden) { b.focus({ preventScroll: true }); b.scrollIntoView({ block: 'nearest', inline: 'nearest' }); }
    else if (!focusRow(S.current ? S.current.id : '')) { const li = $('#channels li'); if (li) li.focus(); }
  }
}

export function renderList() {
  const ul = $('#channels');
  const focused = document.activeElement && document.activeElement.closest('#channels li');
  const fid = focused && focused.dataset.id;
  const list = filtered();
  ul.replaceChildren(...list.map(rowFor));
  const empty = $('#list-empty');
  empty.hidden = list.length > 0;
  empty.textContent = S.channels.length ? t('no_match', { q: S.query }) : t('no_channels');
  if (fid) focusRow(fid, false);
}

export function markCurrent() {
  for (const li of document.querySelectorAll('#channels li')) {
    const on = S.current && li.dataset.id === S.current.id;
    li.classList.toggle('current', !!on);
    li.setAttribute('aria-selected', on ? 'true' : 'false');
  }
}

export function focusRow(id, focus = true) {
  const li = document.querySelector(`#channels li[data-id="${CSS.escape(id)}"]`);
  if (!li) return false;
  if (focus) li.focus({ preventScroll: true });
  li.scrollIntoView({ block: 'nearest' });
  return true;
}

export async function refreshChannels() {
  const d = await api('/api/player/channels');
  S.skew = d.now - Date.now() / 1000;
  if (Math.abs(S.skew) < 2) S.skew = 0;
  const old = S.current && S.current.id;
  S.channels = d.channels;
  if (old) {
    const c = S.channels.find((x) => x.id === old);
    if (c) S.current = c;
  }
  renderGroups();
  renderList();
  stateMsg();
  renderControls();
}
