// The Library (VOD) page: the catalogue (search, category filter, pages of 200), uploads with the
// resumable tus client (progress, then the import's progress and outcome), the imports of every
// origin (upload, watch folder, CLI), the edit dialog (fields, poster) and deletion.

import { api, session, h, clear, badge, errText, toast, fmtBytes, fmtDuration, fmtTime, confirmBox } from './ui.js';
import { t, tOr } from './i18n.js';
import { TusUpload, rememberedUploads, forget, fileKey } from './tus.js';
import { openVodDialog, posterUrl } from './vod-dialog.js';

const PAGE = 200;
const PREFS = 'atoll.vod.view';

/** "zh, en" from a title's audio or subtitle tracks. */
function langs(tracks) {
  const l = [...new Set((tracks || []).map(x => x.language || 'und'))];
  return l.join(', ');
}

function sxe(v) {
  if (v.season === null && v.episode === null) return '';
  const p = n => (n === null || n === undefined ? '?' : String(n).padStart(2, '0'));
  return `S${p(v.season)}E${p(v.episode)}`;
}

function pct(x) { return `${Math.round(Math.max(0, Math.min(1, x || 0)) * 100)}%`; }

function importBadge(state) {
  const kind = { done: 'live', failed: 'offline', importing: 'connecting', queued: 'idle' }[state] || 'idle';
  return badge(kind, tOr(`vod.imp.state.${state}`, state), state);
}

// ---------------------------------------------------------------------------------------------
// Uploads: kept at module level so that they go on while another console page is shown; the
// Library page re-attaches the list when it is opened again.

const up = {
  list: null, // the element listing uploads (created once)
  uploads: [], // {key, file, el, active, tus, bar, status, detail, errLine, cancel, meta}
  queue: [],
  working: 0,
  hooks: { titles: () => {}, imports: () => {}, pending: () => {}, importsNow: () => [] },
};
const PARALLEL = 2;

export function uploadsActive() { return up.uploads.some(u => u.active); }

function uploadList() {
  if (!up.list) up.list = h('div.upload-list#vod-uploads');
  return up.list;
}

function setState(u, state, text) {
  u.el.dataset.state = state;
  u.status.textContent = text;
  if (['done', 'refused', 'cancelled', 'error'].includes(state)) {
    u.active = false;
    u.cancel.textContent = t('vod.up.dismiss');
    u.cancel.classList.add('dismiss');
  }
  up.hooks.pending();
}

/** Queues `files` for upload with the optional title (one file only) and category. */
function addFiles(files, { title = '', category = '' } = {}) {
  const list = [...files];
  for (const file of list) {
    const key = fileKey(file);
    if (up.uploads.some(u => u.key === key && u.active)) { toast(t('vod.up.already', { name: file.name })); continue; }
    const bar = h('progress', { max: 1, value: 0 });
    const status = h('span.status', t('vod.up.waiting'));
    const detail = h('span.detail.muted');
    const errLine = h('div.upload-error.err', { role: 'alert' });
    const cancel = h('button.small.cancel', { type: 'button' }, t('common.cancel'));
    const el = h('div.upload', { dataset: { key, name: file.name, state: 'waiting' } },
      h('div.line', h('span.name', { title: file.name }, file.name), h('span.size.muted', fmtBytes(file.size)), status, detail, h('span.grow'), cancel),
      bar, errLine);
    const u = { key, file, el, active: true, tus: null, bar, status, detail, errLine, cancel, meta: { title: list.length === 1 ? title : '', category } };
    cancel.addEventListener('click', async () => {
      if (u.active) {
        u.cancelled = true;
        const i = up.queue.indexOf(u);
        if (i >= 0) up.queue.splice(i, 1);
        if (u.tus) await u.tus.terminate();
        setState(u, 'cancelled', t('vod.up.cancelled'));
      } else {
        el.remove();
        const i = up.uploads.indexOf(u);
        if (i >= 0) up.uploads.splice(i, 1);
      }
    });
    up.uploads.push(u);
    uploadList().prepend(el);
    up.queue.push(u);
  }
  pump();
}

function pump() {
  while (up.working < PARALLEL && up.queue.length) {
    const u = up.queue.shift();
    up.working++;
    runUpload(u).finally(() => { up.working--; pump(); });
  }
}

async function runUpload(u) {
  if (u.cancelled) return;
  const started = Date.now();
  const tus = new TusUpload(u.file, {
    metadata: u.meta,
    onProgress: (sent, total) => {
      u.bar.value = total ? sent / total : 1;
      const secs = (Date.now() - started) / 1000;
      const base = tus.resumedFrom || 0;
      u.detail.textContent = `${pct(total ? sent / total : 1)} · ${fmtBytes(sent)} / ${fmtBytes(total)}${secs > 1 && sent > base ? ` · ${fmtBytes((sent - base) / secs)}/s` : ''}`;
    },
    onStatus: (key, params) => {
      u.el.dataset.state = key.replace('vod.up.', '');
      u.status.textContent = t(key, params);
    },
  });
  u.tus = tus;
  let res;
  try {
    res = await tus.start();
  } catch (e) {
    if (u.cancelled) return;
    setState(u, 'error', t('vod.up.failed'));
    u.errLine.textContent = `${errText(e)}${tus.url ? ` — ${t('vod.up.resume_hint')}` : ''}`;
    return;
  }
  u.el.dataset.url = res.url;
  if (res.resumedFrom !== null) {
    u.el.dataset.resumedFrom = String(res.resumedFrom);
    u.errLine.className = 'upload-note muted';
    u.errLine.textContent = t('vod.up.resumed', { from: fmtBytes(res.resumedFrom) });
  }
  u.bar.value = 1;
  if (!res.importId) { setState(u, 'error', t('vod.up.no_import')); return; }
  u.el.dataset.import = res.importId;
  u.el.dataset.state = 'importing';
  u.status.textContent = t('vod.up.importing');
  u.bar.value = 0;
  u.bar.classList.add('import');
  up.hooks.imports();
  // follow the import
  for (;;) {
    let r = null;
    try { r = await api('GET', `/api/vod/imports/${encodeURIComponent(res.importId)}`); } catch (_) { /* try again */ }
    if (r) {
      const listed = up.hooks.importsNow().find(x => x.id === r.id);
      const p = Math.max(r.progress || 0, (listed && listed.progress) || 0);
      if (r.state === 'done') {
        u.bar.value = 1;
        u.el.dataset.titleId = String(r.title_id ?? '');
        setState(u, 'done', t('vod.up.done'));
        u.detail.textContent = t('vod.imp.as', { id: r.title_id });
        toast(t('vod.up.done_toast', { name: u.file.name }));
        up.hooks.titles();
        up.hooks.imports();
        return;
      }
      if (r.state === 'failed') {
        setState(u, 'refused', t('vod.up.refused'));
        u.detail.textContent = '';
        u.bar.value = 0;
        u.errLine.className = 'upload-error err';
        u.errLine.textContent = r.error || t('vod.imp.state.failed');
        up.hooks.imports();
        return;
      }
      u.status.textContent = t(r.state === 'queued' ? 'vod.up.queued' : 'vod.up.importing');
      u.bar.value = p;
      u.detail.textContent = pct(p);
    }
    await new Promise(ok => setTimeout(ok, 1000));
  }
}

window.addEventListener('beforeunload', e => {
  if (up.uploads.some(u => u.active && u.tus && u.tus.url && u.tus.offset < u.file.size)) { e.preventDefault(); e.returnValue = ''; }
});

export function vodPage() {
  const prefs = { q: '', category: '' };
  try { Object.assign(prefs, JSON.parse(sessionStorage.getItem(PREFS) || '{}')); } catch (_) { /* ignore */ }
  const savePrefs = () => { try { sessionStorage.setItem(PREFS, JSON.stringify(prefs)); } catch (_) { /* ignore */ } };
  let offset = 0;
  let categories = [];
  let destroyed = false;
  const timers = new Set();
  const later = (f, ms) => { const id = setTimeout(() => { timers.delete(id); if (!destroyed) f(); }, ms); timers.add(id); return id; };

  // ------------------------------------------------------------------------------------------
  // Titles

  const q = h('input#vod-q', { type: 'search', placeholder: t('vod.search'), value: prefs.q, 'aria-label': t('vod.search') });
  const cat = h('select#vod-cat', { 'aria-label': t('vod.col.category') });
  const summary = h('div.summary.muted#vod-summary');
  const errBox = h('div.page-error#vod-error', { role: 'alert' });
  const cols = ['poster', 'title', 'category', 'series', 'year', 'duration', 'video', 'audio', 'subtitles', 'size', 'added', 'actions'];
  const tbody = h('tbody');
  const table = h('table.vod#vod-table',
    h('thead', h('tr', cols.map(c => h(`th.c-${c}`, { scope: 'col' }, c === 'poster' ? '' : t(`vod.col.${c}`))))),
    tbody);
  const empty = h('div.empty#vod-empty');
  const pager = h('div.pager#vod-pager');
  let titles = [];

  const drawCategories = () => {
    const sig = JSON.stringify(categories.map(c => [c.name, c.titles]));
    if (cat.dataset.sig === sig) return;
    cat.dataset.sig = sig;
    clear(cat).append(
      h('option', { value: '' }, `${t('vod.col.category')}: ${t('common.all')}`),
      ...categories.map(c => h('option', { value: c.name, selected: prefs.category === c.name }, `${c.name} (${c.titles})`)));
    if (prefs.category && !categories.some(c => c.name === prefs.category)) {
      cat.append(h('option', { value: prefs.category, selected: true }, prefs.category));
    }
  };

  const row = v => {
    const src = posterUrl(v);
    const poster = src
      ? h('img.poster', { src, alt: '', loading: 'lazy', onerror: e => { e.target.replaceWith(h('div.poster.placeholder', '🎬')); } })
      : h('div.poster.placeholder', { title: t('vod.no_poster') }, '🎬');
    const video = v.video ? [v.video.codec, v.video.width && v.video.height ? `${v.video.width}×${v.video.height}` : null].filter(Boolean).join(' ') : '';
    return h('tr', { dataset: { id: String(v.id) } },
      h('td.c-poster', poster),
      h('td.c-title',
        h('div.t-main', v.title),
        v.title_en ? h('div.t-en.muted', v.title_en) : null,
        v.source_name ? h('div.t-src.muted.small', { title: v.source_name }, v.source_name) : null),
      h('td.c-category', v.category || h('span.muted', t('common.none'))),
      h('td.c-series', v.series ? [h('div', v.series), h('div.muted.small', sxe(v))] : sxe(v)),
      h('td.c-year.num', v.year ?? ''),
      h('td.c-duration.num', v.duration_s ? fmtDuration(v.duration_s) : ''),
      h('td.c-video.mono', video),
      h('td.c-audio', { title: (v.audio || []).map(a => [a.language || 'und', a.codec, a.channels ? `${a.channels} ch` : ''].join(' ')).join('\n') }, langs(v.audio)),
      h('td.c-subtitles', langs(v.subtitles)),
      h('td.c-size.num', fmtBytes(v.size_bytes)),
      h('td.c-added', fmtTime(v.added, { seconds: false })),
      h('td.c-actions.actions',
        h('a.button.small.play', { href: v.file, target: '_blank', rel: 'noopener', title: t('vod.play_title') }, `▶ ${t('vod.play')}`),
        h('a.button.small.hls', { href: v.hls, target: '_blank', rel: 'noopener', title: t('vod.hls_title') }, 'HLS'),
        h('button.small.edit', { type: 'button', 'aria-label': `${t('common.edit')} ${v.title}`, onclick: () => edit(v.id) }, t('common.edit')),
        h('button.small.danger.del', { type: 'button', 'aria-label': `${t('common.delete')} ${v.title}`, onclick: () => del(v.id) }, t('common.delete'))));
  };

  let listSeq = 0;
  const loadTitles = async () => {
    const seq = ++listSeq;
    const p = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
    if (prefs.q.trim()) p.set('q', prefs.q.trim());
    if (prefs.category) p.set('category', prefs.category);
    try {
      const [list, cats] = await Promise.all([
        api('GET', `/api/vod?${p}`),
        api('GET', '/api/vod/categories').catch(() => null),
      ]);
      if (seq !== listSeq || destroyed) return;
      errBox.textContent = '';
      if (cats) { categories = cats.categories || []; drawCategories(); refreshCatList(); }
      titles = list.titles || [];
      const total = list.total ?? titles.length;
      if (!titles.length && offset > 0 && total > 0) { offset = Math.max(0, Math.floor((total - 1) / PAGE) * PAGE); loadTitles(); return; }
      clear(tbody).append(...titles.map(row));
      const filtered = !!(prefs.q.trim() || prefs.category);
      empty.textContent = titles.length ? '' : (filtered ? t('vod.nomatch') : t('vod.empty'));
      empty.hidden = !!titles.length;
      summary.textContent = total ? t('vod.count', { from: offset + 1, to: offset + titles.length, total }) : '';
      clear(pager);
      if (total > PAGE) {
        pager.append(
          h('button.small#vod-prev', { type: 'button', disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); loadTitles(); } }, `‹ ${t('vod.prev')}`),
          h('span.muted', t('vod.page', { n: Math.floor(offset / PAGE) + 1, of: Math.ceil(total / PAGE) })),
          h('button.small#vod-next', { type: 'button', disabled: offset + PAGE >= total, onclick: () => { offset += PAGE; loadTitles(); } }, `${t('vod.next')} ›`));
      }
    } catch (e) {
      if (seq !== listSeq || destroyed) return;
      errBox.textContent = errText(e);
    }
  };

  let qTimer = null;
  q.addEventListener('input', () => {
    clearTimeout(qTimer);
    qTimer = setTimeout(() => { prefs.q = q.value; savePrefs(); offset = 0; loadTitles(); }, 250);
  });
  cat.addEventListener('change', () => { prefs.category = cat.value; savePrefs(); offset = 0; loadTitles(); });

  const edit = async id => {
    let v = titles.find(x => x.id === id);
    try { v = await api('GET', `/api/vod/${id}`); } catch (e) { if (!v) { toast(errText(e), 'error'); return; } }
    const r = await openVodDialog(v, { categories: categories.map(c => c.name) });
    if (r) loadTitles();
  };
  const del = async id => {
    const v = titles.find(x => x.id === id);
    if (!v) return;
    const ok = await confirmBox(t('vod.del.title', { title: v.title }), t('vod.del.text', { size: fmtBytes(v.size_bytes) }), t('common.delete'));
    if (!ok) return;
    try {
      await api('DELETE', `/api/vod/${id}`);
      toast(t('vod.deleted', { title: v.title }));
    } catch (e) {
      toast(errText(e), 'error');
    }
    loadTitles();
  };

  // ------------------------------------------------------------------------------------------
  // Imports (every origin)

  const impBody = h('tbody');
  const impTable = h('table.plain.vod-imports#vod-imports',
    h('thead', h('tr', ['started', 'origin', 'file', 'state', 'progress', 'outcome'].map(c => h(`th.c-${c}`, t(`vod.imp.${c}`))))),
    impBody);
  const impEmpty = h('div.empty', t('vod.imp.empty'));
  const impErr = h('div.page-error', { role: 'alert' });
  let imports = [];
  const seenDone = new Set();
  let firstImports = true;

  const drawImports = () => {
    clear(impBody);
    for (const r of imports.slice(0, 50)) {
      const running = r.state === 'queued' || r.state === 'importing';
      impBody.append(h('tr', { dataset: { id: r.id, state: r.state, origin: r.origin } },
        h('td.time', fmtTime(r.started_utc_ms)),
        h('td', tOr(`vod.origin.${r.origin}`, r.origin)),
        h('td.file', { title: r.source_name }, r.source_name),
        h('td.state', importBadge(r.state)),
        h('td.progress', running ? [h('progress', { max: 1, value: r.progress || 0 }), ' ', pct(r.progress)] : (r.state === 'done' ? '100%' : '')),
        h('td.outcome',
          r.state === 'failed' ? h('span.err.import-error', r.error || t('vod.imp.state.failed'))
            : r.state === 'done' && r.title_id ? h('span', t('vod.imp.as', { id: r.title_id }))
              : '')));
    }
    impEmpty.hidden = imports.length > 0;
  };

  const anyRunning = () => imports.some(r => r.state === 'queued' || r.state === 'importing') || uploadsActive();

  let impTimer = null;
  const loadImports = async () => {
    clearTimeout(impTimer);
    try {
      const r = await api('GET', '/api/vod/imports');
      if (destroyed) return;
      imports = r.imports || [];
      impErr.textContent = '';
      let newDone = false;
      for (const x of imports) {
        if (x.state === 'done' && !seenDone.has(x.id)) { seenDone.add(x.id); if (!firstImports) newDone = true; }
      }
      firstImports = false;
      drawImports();
      if (newDone) loadTitles();
    } catch (e) {
      if (destroyed) return;
      impErr.textContent = errText(e);
    }
    if (!destroyed) impTimer = later(loadImports, anyRunning() ? 1500 : 10000);
  };

  // ------------------------------------------------------------------------------------------
  // Uploads

  const fileInput = h('input#vod-file', { type: 'file', multiple: true, accept: 'video/*,.mp4,.m4v,.mov,.mkv,.ts,.m2ts,.mts' });
  const upTitle = h('input#vod-up-title', { placeholder: t('vod.up.title_ph'), maxlength: 300, autocomplete: 'off' });
  const catList = h('datalist#vod-up-cats');
  const upCat = h('input#vod-up-category', { placeholder: t('vod.up.category_ph'), maxlength: 100, list: 'vod-up-cats', autocomplete: 'off' });
  const pendingBox = h('div.pending#vod-pending');
  const refreshCatList = () => clear(catList).append(...categories.map(c => h('option', { value: c.name })));
  const choose = files => {
    if (!files || !files.length) return;
    addFiles(files, { title: upTitle.value.trim(), category: upCat.value.trim() });
    if (files.length === 1) upTitle.value = '';
    fileInput.value = '';
    loadImports();
  };

  fileInput.addEventListener('change', () => choose(fileInput.files));

  // unfinished uploads remembered in this browser
  const drawPending = async () => {
    const active = new Set(up.uploads.filter(u => u.active).map(u => u.key));
    const list = rememberedUploads().filter(p => !active.has(p.key));
    clear(pendingBox);
    if (!list.length) return;
    pendingBox.append(h('h3', t('vod.pending.title')), h('p.muted.small', t('vod.pending.text')));
    for (const p of list) {
      const info = h('span.muted');
      pendingBox.append(h('div.pending-row', { dataset: { key: p.key, url: p.url } },
        h('span.name', p.name), ' ', h('span.muted', fmtBytes(p.size)), ' ', info, ' ',
        h('button.small.danger', {
          type: 'button',
          onclick: async e => {
            e.currentTarget.disabled = true;
            forget(p.key);
            try { await fetch(p.url, { method: 'DELETE', headers: { 'Tus-Resumable': '1.0.0', 'X-Requested-With': 'atoll-console', 'X-CSRF-Token': (session.user && session.user.csrf) || '' }, credentials: 'same-origin' }); } catch (_) { /* ignore */ }
            drawPending();
          },
        }, t('vod.pending.discard'))));
      api('GET', p.url).then(r => { info.textContent = r.import_id ? t('vod.pending.complete') : `${pct(r.offset / (r.length || 1))} ${t('vod.pending.sent')}`; })
        .catch(e => { if (e.status === 404) { forget(p.key); info.textContent = t('vod.pending.gone'); } });
    }
  };

  const drop = h('div.dropzone#vod-dropzone',
    h('div.drop-text', t('vod.up.drop')),
    h('div.upload-form',
      h('label.button.primary.choose', { for: 'vod-file' }, `+ ${t('vod.up.choose')}`), fileInput,
      h('label.sr', { for: 'vod-up-title' }, t('vod.up.title')), upTitle,
      h('label.sr', { for: 'vod-up-category' }, t('vod.up.category')), upCat, catList),
    h('div.hint.muted.small', t('vod.up.hint')));

  // drag and drop anywhere on the page
  let dragDepth = 0;
  const el = h('section.page.page-vod');
  el.addEventListener('dragenter', e => { if (e.dataTransfer && [...e.dataTransfer.types].includes('Files')) { e.preventDefault(); dragDepth++; el.classList.add('dragging'); } });
  el.addEventListener('dragover', e => { if (e.dataTransfer && [...e.dataTransfer.types].includes('Files')) { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; } });
  el.addEventListener('dragleave', () => { dragDepth = Math.max(0, dragDepth - 1); if (!dragDepth) el.classList.remove('dragging'); });
  el.addEventListener('drop', e => {
    if (!e.dataTransfer || !e.dataTransfer.files.length) return;
    e.preventDefault();
    dragDepth = 0;
    el.classList.remove('dragging');
    choose(e.dataTransfer.files);
  });

  el.append(
    h('div.page-head', h('h1', t('vod.title')), h('div.spacer'),
      h('button.small#vod-refresh', { type: 'button', onclick: () => { loadTitles(); loadImports(); } }, t('common.refresh'))),
    h('div.cols.vod-top',
      h('div.card.upload-card', h('h2', t('vod.up.heading')), drop, pendingBox, uploadList()),
      h('div.card.imports-card', h('h2', t('vod.imp.heading')), impErr, h('div.imports-wrap', impTable), impEmpty)),
    h('div.toolbar', q, cat, summary),
    errBox,
    h('div.table-wrap', table),
    empty,
    pager);

  up.hooks = { titles: loadTitles, imports: loadImports, pending: drawPending, importsNow: () => imports };

  loadTitles();
  loadImports();
  drawPending();

  return {
    el,
    destroy: () => {
      destroyed = true;
      clearTimeout(qTimer);
      for (const id of timers) clearTimeout(id);
      // uploads go on in the background; the list is shown again when the page is opened
      up.hooks = { titles: () => {}, imports: () => {}, pending: () => {}, importsNow: () => [] };
      uploadList().remove();
    },
  };
}
