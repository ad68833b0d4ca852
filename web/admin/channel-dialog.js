// The Add/Edit channel dialog (validation naming the bad field, probe, preview) and the delete
// confirmation (keep or remove the archive).

import { api, h, modal, field, showFieldError, clearErrors, errText, fmtVideo, fmtAudio, fmtBitrate, fmtBytes, loadHls, playHls, toast, ApiError } from './ui.js';
import { t } from './i18n.js';

export const ID_RE = /^[a-z0-9_-]{1,64}$/;
const SCHEMES = ['udp', 'rtmp', 'http', 'https', 'testsrc'];
/** The preferred audio languages offered by name (ISO 639-2, as the server stores them). */
export const AUDIO_LANGUAGES = ['eng', 'chi', 'yue', 'spa', 'fre', 'ger', 'por', 'rus', 'jpn', 'kor', 'ara', 'hin', 'ita', 'ind', 'may', 'tha', 'vie'];
const OTHER = '*other';

/** A server message's `sources[i]` (from 0) as a person counts: "source i+1". */
export function humanSources(msg) {
  return String(msg).replace(/sources\[(\d+)\]/g, (_, i) => t('f.source_n', { n: +i + 1 }));
}

/** A client-side problem with a source URL, or null. */
export function sourceProblem(url) {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(url);
  if (!m) return t('v.url');
  if (!SCHEMES.includes(m[1].toLowerCase())) return t('v.scheme', { scheme: `${m[1]}://` });
  return null;
}

/**
 * Opens the dialog. `ch` is the channel to edit, or null to add one. Resolves with the saved
 * channel, or undefined when cancelled.
 */
export function openChannelDialog(ch, { groups = [] } = {}) {
  const editing = !!ch;
  const c = ch || { id: '', name: '', number: null, group: '', logo: '', sources: [], publish_key: null, active: true, record: true, retention_hours: 72, epg_id: '', audio_language: '' };
  let stopPreview = null;

  const title = editing ? t('dlg.edit', { id: c.id }) : t('dlg.add');
  return modal(title, close => {
    const inp = (name, attrs) => h('input', { name, autocomplete: 'off', ...attrs });
    const fId = field('id', t('f.id'), inp('id', { value: c.id, readonly: editing, required: true, maxlength: 64, spellcheck: 'false', pattern: '[a-z0-9_\\-]{1,64}' }), editing ? null : t('f.id.hint'));
    const fName = field('name', t('f.name'), inp('name', { value: c.name, required: true, maxlength: 200 }));
    const fNumber = field('number', t('f.number'), inp('number', { type: 'number', min: 1, max: 99999, step: 1, value: c.number ?? '' }));
    const groupList = h('datalist#group-options', groups.map(g => h('option', { value: g })));
    const fGroup = field('group', t('f.group'), inp('group', { value: c.group || '', list: 'group-options', maxlength: 100 }));
    const fLogo = field('logo', t('f.logo'), inp('logo', { value: c.logo || '', placeholder: 'http://… /logos/x.png' }));
    const fKey = field('publish_key', t('f.publish_key'), inp('publish_key', { value: c.publish_key || '', maxlength: 128, spellcheck: 'false' }));
    const fActive = field('active', t('f.active'), inp('active', { type: 'checkbox', checked: c.active !== false }));
    const fRecord = field('record', t('f.record'), inp('record', { type: 'checkbox', checked: !!c.record }));
    const fRet = field('retention_hours', t('f.retention_hours'), inp('retention_hours', { type: 'number', min: 1, max: 8760, step: 1, value: c.retention_hours ?? 72 }));
    // the guide's channels no channel takes yet are suggested (what an operator looks for here)
    const epgList = h('datalist#epg-id-options');
    const fEpg = field('epg_id', t('f.epg_id'), inp('epg_id', { value: c.epg_id || '', maxlength: 200, list: 'epg-id-options', spellcheck: 'false' }), t('f.epg_id.suggest'));
    // the preferred audio language: a common one by name, none, or any ISO 639-2 code typed in
    const lang = c.audio_language || '';
    const known = lang === '' || AUDIO_LANGUAGES.includes(lang);
    const langOther = h('input', { name: 'audio_language_other', autocomplete: 'off', maxlength: 3, spellcheck: 'false', placeholder: 'ISO 639-2',
      'aria-label': t('f.audio_language.other'), value: known ? '' : lang, hidden: known });
    const langSelect = h('select', {
      onchange: () => { langOther.hidden = langSelect.value !== OTHER; if (!langOther.hidden) langOther.focus(); },
    },
    h('option', { value: '' }, t('f.audio_language.none')),
    AUDIO_LANGUAGES.map(code => h('option', { value: code }, `${t(`lang.${code}`)} (${code})`)),
    h('option', { value: OTHER }, t('f.audio_language.other')));
    langSelect.value = known ? lang : OTHER;
    const fAudio = field('audio_language', t('f.audio_language'), langSelect, t('f.audio_language.hint'));
    fAudio.insertBefore(langOther, fAudio.querySelector('.hint'));
    langOther.addEventListener('input', () => fAudio.setError(''));
    api('GET', '/api/epg/sources').then(list => {
      const ids = [...new Set(list.flatMap(s => s.unmatched_channels || []))].sort().slice(0, 500);
      epgList.append(...ids.map(id => h('option', { value: id })));
    }).catch(() => { /* no suggestions */ });

    // sources: one row per URL, each with its own probe
    const rows = h('div.source-rows');
    const addRow = (url = '') => {
      const input = h('input.src', { value: url, placeholder: 'udp://@239.1.1.1:1234', spellcheck: 'false', autocomplete: 'off', 'aria-label': t('f.sources'),
        // an edited source is no longer the one the error was about
        oninput: () => {
          input.classList.remove('invalid');
          result.className = 'probe-result';
          result.textContent = '';
          if (!rows.querySelector('.src.invalid')) rows.closest('.field')?.setError('');
        } });
      const result = h('div.probe-result');
      const probe = h('button.small', {
        type: 'button',
        onclick: async () => {
          const url = input.value.trim();
          result.className = 'probe-result';
          const bad = url ? sourceProblem(url) : t('v.required');
          if (bad) { result.classList.add('bad'); result.textContent = bad; return; }
          probe.disabled = true;
          result.textContent = t('f.probing');
          try {
            const r = await api('POST', '/api/probe', { url });
            result.classList.add('good');
            result.textContent = t('f.probe_ok', { video: fmtVideo(r.video) || 'no video', audio: fmtAudio(r.audio) ? `· ${fmtAudio(r.audio)}` : '', bitrate: r.bitrate_bps ? `· ${fmtBitrate(r.bitrate_bps)}` : '' }).trim();
          } catch (e) {
            result.classList.add('bad');
            result.textContent = errText(e);
          } finally {
            probe.disabled = false;
          }
        },
      }, t('f.probe'));
      const row = h('div.source-row',
        h('div.line', input, probe,
          h('button.small.icon', { type: 'button', title: t('f.up'), 'aria-label': t('f.up'), onclick: () => { if (row.previousElementSibling) rows.insertBefore(row, row.previousElementSibling); } }, '↑'),
          h('button.small.icon', { type: 'button', title: t('f.remove'), 'aria-label': t('f.remove'), onclick: () => row.remove() }, '✕')),
        result);
      rows.append(row);
      return input;
    };
    for (const s of c.sources || []) addRow(s);
    // one empty row to type into; left empty, the channel takes RTMP push from an encoder
    if (!rows.children.length) addRow();
    const srcWrap = h('div', rows, h('button.small', { type: 'button', onclick: () => addRow().focus() }, `+ ${t('f.add_source')}`));
    const fSources = field('sources', t('f.sources'), h('input', { type: 'hidden' }), t('f.sources.hint'));
    fSources.insertBefore(srcWrap, fSources.querySelector('.hint'));

    const formErr = h('div.form-error', { role: 'alert' });
    const saveBtn = h('button.primary', { type: 'submit' }, t('common.save'));

    // preview (an existing channel's live stream)
    const video = h('video.preview', { muted: true, playsinline: true, controls: true });
    const preview = h('div.preview-box', h('h3', t('f.preview')),
      editing ? video : h('p.muted', t('f.preview_after_save')));
    if (editing) loadHls().then(() => { if (video.isConnected) stopPreview = playHls(video, `/live/${encodeURIComponent(c.id)}/index.m3u8`); });

    const form = h('form.channel-form', { novalidate: true },
      h('div.grid2',
        h('div.col', fId, fName, h('div.row2', fNumber, fGroup), fLogo, fSources),
        h('div.col', preview, fKey, h('div.row2', fActive, fRecord), h('div.row2', fRet, fEpg), fAudio)),
      groupList,
      epgList,
      formErr,
      h('div.actions',
        h('button', { type: 'button', onclick: () => close(undefined) }, t('common.cancel')),
        saveBtn));

    const value = name => form.elements[name].value.trim();
    form.addEventListener('submit', async ev => {
      ev.preventDefault();
      clearErrors(form);
      for (const r of rows.querySelectorAll('.src')) r.classList.remove('invalid');
      const body = {};
      const problems = [];
      const id = value('id');
      if (!editing) {
        if (!id) problems.push(['id', t('v.required')]);
        else if (!ID_RE.test(id)) problems.push(['id', t('v.id')]);
        body.id = id;
      }
      body.name = value('name');
      if (!body.name) problems.push(['name', t('v.required')]);
      const num = value('number');
      if (num === '') body.number = null;
      else if (!/^\d+$/.test(num) || +num < 1 || +num > 99999) problems.push(['number', t('v.number')]);
      else body.number = +num;
      body.group = value('group');
      body.logo = value('logo');
      if (body.logo && !/^(https?:\/\/.+|\/.*)$/.test(body.logo)) problems.push(['logo', t('v.logo')]);
      body.sources = [...rows.querySelectorAll('.src')].map(i => i.value.trim()).filter(Boolean);
      [...rows.querySelectorAll('.src')].forEach((i, k) => {
        const v = i.value.trim();
        const bad = v && sourceProblem(v);
        if (bad) { i.classList.add('invalid'); problems.push(['sources', t('v.source_n', { n: k + 1, url: v, problem: bad })]); }
      });
      const key = value('publish_key');
      body.publish_key = key || null;
      body.active = form.elements.active.checked;
      body.record = form.elements.record.checked;
      const ret = value('retention_hours');
      if (!/^\d+$/.test(ret) || +ret < 1 || +ret > 8760) problems.push(['retention_hours', t('v.retention')]);
      else body.retention_hours = +ret;
      body.epg_id = value('epg_id');
      if (langSelect.value !== OTHER) body.audio_language = langSelect.value;
      else {
        const code = langOther.value.trim().toLowerCase();
        if (!/^[a-z]{3}$/.test(code)) problems.push(['audio_language', t('v.audio_language')]);
        else body.audio_language = code;
      }
      if (problems.length) {
        const seen = new Set();
        for (const [f, msg] of problems) {
          if (seen.has(f)) continue;
          seen.add(f);
          form.querySelector(`.field[data-field="${f}"]`).setError(msg);
        }
        const first = form.querySelector('.field.invalid input:not([type=hidden]):not([hidden]), .field.invalid select, .src.invalid');
        // a bad typed code: the code box, not the list above it
        if (first === langSelect && !langOther.hidden) langOther.focus();
        else if (first) first.focus();
        return;
      }
      if (editing) {
        // send only what changed
        for (const k of Object.keys(body)) {
          if (JSON.stringify(body[k] ?? null) === JSON.stringify(normalise(k, c[k]))) delete body[k];
        }
      }
      saveBtn.disabled = true;
      try {
        const saved = editing
          ? (Object.keys(body).length ? await api('PUT', `/api/channels/${encodeURIComponent(c.id)}`, body) : c)
          : await api('POST', '/api/channels', body);
        toast(t('common.saved'));
        close(saved || c);
      } catch (e) {
        if (e instanceof ApiError && e.field === 'sources') {
          const m = /sources\[(\d+)\]/.exec(e.message);
          const input = m && [...rows.querySelectorAll('.src')].filter(i => i.value.trim())[+m[1]];
          if (input) input.classList.add('invalid');
          e.message = humanSources(e.message);
        }
        showFieldError(form, e, formErr);
      } finally {
        saveBtn.disabled = false;
      }
    });
    return form;
  }, { wide: true, id: 'channel-dialog' }).finally(() => { if (stopPreview) stopPreview(); });
}

function normalise(k, v) {
  if (k === 'publish_key') return v || null;
  if (k === 'group' || k === 'logo' || k === 'epg_id' || k === 'audio_language') return v || '';
  if (k === 'number') return v ?? null;
  return v ?? null;
}

/** Asks, then deletes `ch`; resolves true when deleted. */
export async function deleteChannel(ch) {
  let size = '';
  try {
    const r = await api('GET', `/api/channels/${encodeURIComponent(ch.id)}/recording`);
    size = fmtBytes(r.bytes || 0);
  } catch (_) { size = t('common.none'); }
  // a deleted channel's recordings are kept for the server's default retention, not the channel's
  let keptHours = 72;
  try { keptHours = (await api('GET', '/api/archive/usage')).deleted_channel_retention_hours || keptHours; } catch (_) { /* the default */ }
  const choice = await modal(t('del.title', { name: ch.name }), close => {
    const keep = h('input', { type: 'radio', name: 'archive', value: 'keep', checked: true });
    const remove = h('input', { type: 'radio', name: 'archive', value: 'remove' });
    const err = h('div.form-error', { role: 'alert' });
    const btn = h('button.danger', {
      type: 'button',
      onclick: async () => {
        btn.disabled = true;
        const mode = remove.checked ? 'remove' : 'keep';
        try {
          await api('DELETE', `/api/channels/${encodeURIComponent(ch.id)}?archive=${mode}`);
          close(mode);
        } catch (e) {
          err.textContent = errText(e);
          btn.disabled = false;
        }
      },
    }, t('del.confirm'));
    return [
      h('p', t('del.text', { size })),
      h('div.choices',
        h('label.choice', keep, ' ', t('del.keep', { h: keptHours, id: ch.id })),
        h('label.choice', remove, ' ', t('del.remove'))),
      err,
      h('div.actions', h('button', { type: 'button', onclick: () => close(undefined) }, t('common.cancel')), btn),
    ];
  }, { id: 'delete-dialog' });
  return !!choice;
}
