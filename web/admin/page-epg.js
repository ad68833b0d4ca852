// EPG sources: list with status and last error, add/edit, sync now, delete.

import { api, h, clear, modal, field, showFieldError, clearErrors, errText, toast, fmtTime, badge, confirmBox } from './ui.js';
import { t } from './i18n.js';

function sourceDialog(src) {
  const editing = !!src;
  const s = src || { name: '', url: '', refresh_minutes: 360, enabled: true };
  return modal(editing ? t('epg.edit') : t('epg.add'), close => {
    const fName = field('name', t('epg.name'), h('input', { value: s.name, required: true, maxlength: 200 }));
    const fUrl = field('url', t('epg.url'), h('input', { value: s.url, required: true, placeholder: 'http://epg.local/guide.xml.gz', spellcheck: 'false' }));
    const fRefresh = field('refresh_minutes', t('epg.refresh_minutes'), h('input', { type: 'number', min: 5, max: 10080, value: s.refresh_minutes }));
    const fEnabled = field('enabled', t('epg.enabled'), h('input', { type: 'checkbox', checked: s.enabled }));
    const err = h('div.form-error', { role: 'alert' });
    const form = h('form', { novalidate: true }, fName, fUrl, fRefresh, fEnabled, err,
      h('div.actions', h('button', { type: 'button', onclick: () => close(undefined) }, t('common.cancel')), h('button.primary', { type: 'submit' }, t('common.save'))));
    form.addEventListener('submit', async e => {
      e.preventDefault();
      clearErrors(form);
      const body = {
        name: form.elements.name.value.trim(),
        url: form.elements.url.value.trim(),
        refresh_minutes: +form.elements.refresh_minutes.value,
        enabled: form.elements.enabled.checked,
      };
      if (!body.name) return fName.setError(t('v.required'));
      if (!body.url) return fUrl.setError(t('v.required'));
      try {
        const r = editing ? await api('PUT', `/api/epg/sources/${s.id}`, body) : await api('POST', '/api/epg/sources', body);
        toast(t('common.saved'));
        close(r || true);
      } catch (ex) {
        showFieldError(form, ex, err);
      }
    });
    return form;
  }, { id: 'epg-dialog' });
}

export function epgPage() {
  const tbody = h('tbody');
  const note = h('div.muted');
  const errBox = h('div.page-error', { role: 'alert' });
  let timer = null;

  const status = s => {
    if (!s.enabled) return badge('inactive', t('epg.disabled'));
    if (s.last_error && s.consecutive_failures) return badge('offline', t('epg.failing', { n: s.consecutive_failures }));
    if (s.last_success) return badge('live', t('epg.ok'));
    return badge('connecting', t('epg.pending'));
  };

  const refresh = async () => {
    let list;
    try { list = await api('GET', '/api/epg/sources'); errBox.textContent = ''; } catch (e) { errBox.textContent = errText(e); return; }
    note.textContent = list.length ? '' : t('epg.empty');
    clear(tbody).append(...list.map(s => {
      const un = Array.isArray(s.unmatched_channels) ? s.unmatched_channels : [];
      return h('tr', { dataset: { id: s.id } },
        h('td.src',
          h('strong', s.name), h('div.mono.muted.small.url', { title: s.url }, s.url),
          // the guide's channels no channel takes: their ids, to put in a channel's EPG id
          un.length ? h('div.small.unmatched', h('span.muted', `${t('epg.unmatched_n', { n: un.length })}: `),
            h('span.mono', un.slice(0, 12).join(', ')), un.length > 12 ? h('span.muted', ` ${t('ch.sources_more', { n: un.length - 12 })}`) : null) : null),
        h('td', status(s), s.last_error ? h('div.small.err.last-error', { title: s.last_error }, s.last_error) : null),
        h('td.time.small', h('div', fmtTime(s.last_success)), h('div.muted', `${t('epg.next_attempt')}: ${fmtTime(s.next_attempt, { seconds: false })}`)),
        h('td.num', `${s.channels_seen ?? 0} / ${s.programmes_imported ?? 0}`),
        h('td.actions',
        h('button.small', { type: 'button', onclick: async e => {
          e.currentTarget.disabled = true;
          try { await api('POST', `/api/epg/sources/${s.id}/sync`); toast(t('epg.sync_started')); } catch (ex) { toast(errText(ex), 'error'); }
          setTimeout(refresh, 1500);
        } }, t('epg.sync')),
        h('button.small', { type: 'button', onclick: async () => { if (await sourceDialog(s)) refresh(); } }, t('common.edit')),
        h('button.small.danger', { type: 'button', onclick: async () => {
          if (!await confirmBox(t('epg.del', { name: s.name }), s.url, t('common.delete'))) return;
          try { await api('DELETE', `/api/epg/sources/${s.id}`); refresh(); } catch (ex) { toast(errText(ex), 'error'); }
        } }, t('common.delete'))));
    }));
  };

  const el = h('section.page.page-epg',
    h('div.page-head', h('h1', t('epg.title')), h('button.primary', { type: 'button', onclick: async () => { if (await sourceDialog(null)) refresh(); } }, `+ ${t('epg.add')}`)),
    errBox,
    h('div.table-wrap', h('table.plain#epg-table',
      h('thead', h('tr', h('th', t('epg.name')), h('th', t('epg.status')), h('th', t('epg.last_success')), h('th.num', t('epg.counts')), h('th'))),
      tbody)),
    note);
  refresh();
  timer = setInterval(() => { if (!document.hidden) refresh(); }, 10000);
  return { el, destroy: () => clearInterval(timer) };
}
