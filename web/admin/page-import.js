// Import and export of the channel lineup (JSON as exported, or an M3U playlist).

import { api, h, clear, errText, download, toast } from './ui.js';
import { t, tOr } from './i18n.js';
import { refreshChannels } from './store.js';
import { humanSources } from './channel-dialog.js';

export function importPage() {
  const file = h('input#import-file', { type: 'file', accept: '.json,.m3u,.m3u8,application/json,audio/x-mpegurl,text/plain' });
  const text = h('textarea#import-text', { rows: 10, spellcheck: 'false', placeholder: '#EXTM3U\n#EXTINF:-1 tvg-id="news" tvg-chno="2" group-title="News",News 24\nudp://@239.1.1.1:1234' });
  const result = h('div.import-result#import-result', { role: 'status' });
  const exportErr = h('div.page-error', { role: 'alert' });

  file.addEventListener('change', async () => {
    const f = file.files && file.files[0];
    if (f) text.value = await f.text();
  });

  const runImport = async btn => {
    const body = text.value.trim();
    clear(result);
    if (!body) { result.textContent = t('imp.empty'); return; }
    const m3u = body.startsWith('#EXTM3U');
    if (!m3u) {
      try { JSON.parse(body); } catch (e) { result.append(h('div.err', `JSON: ${e.message}`)); return; }
    }
    btn.disabled = true;
    try {
      const r = await api('POST', '/api/channels/import', body, { contentType: m3u ? 'audio/x-mpegurl' : 'application/json' });
      const errors = r.errors || [];
      const n = errors.length;
      const errs = n === 0 ? t('imp.errors_0') : n === 1 ? t('imp.errors_1') : t('imp.errors_n', { n });
      result.append(h(`p.${n ? 'warn' : 'ok'}`, t('imp.result', { created: r.created ?? 0, updated: r.updated ?? 0, errors: errs })));
      if (n) {
        // entries counted from 1, as a person counts them (the API's index is from 0)
        result.append(h('table.plain#import-errors', h('thead', h('tr', h('th', t('imp.err.index')), h('th', t('imp.err.id')), h('th', t('imp.err.field')), h('th', t('imp.err.message')))),
          h('tbody', errors.map(e => h('tr',
            h('td.num', Number.isInteger(e.index) ? String(e.index + 1) : ''),
            h('td.mono', e.id ?? ''),
            h('td', e.field ? tOr(`f.${e.field}`, e.field) : ''),
            h('td', humanSources(e.message ?? '')))))));
      }
      refreshChannels();
    } catch (e) {
      result.append(h('div.err', errText(e)));
    } finally {
      btn.disabled = false;
    }
  };

  const el = h('section.page.page-import',
    h('div.page-head', h('h1', t('imp.title'))),
    h('div.card', h('h2', t('imp.export')), h('p', t('imp.export_text')),
      h('button.primary#export-btn', {
        type: 'button',
        onclick: async () => {
          exportErr.textContent = '';
          try {
            const r = await api('GET', '/api/channels/export');
            const d = new Date();
            const stamp = `${d.getFullYear()}${String(d.getMonth() + 1).padStart(2, '0')}${String(d.getDate()).padStart(2, '0')}`;
            download(`atoll-channels-${stamp}.json`, JSON.stringify(r, null, 2));
            toast(`${(r.channels || []).length} ✓`);
          } catch (e) { exportErr.textContent = errText(e); }
        },
      }, t('imp.export_btn')), exportErr),
    h('div.card', h('h2', t('imp.import')), h('p', t('imp.import_text')),
      h('div.field', h('label', { for: 'import-file' }, t('imp.file')), file),
      h('div.field', h('label', { for: 'import-text' }, t('imp.paste')), text),
      h('div.actions.left', h('button.primary#import-btn', { type: 'button', onclick: e => runImport(e.currentTarget) }, t('imp.run'))),
      result));
  return { el, destroy: () => {} };
}
