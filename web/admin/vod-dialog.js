// The Library's edit dialog: a title's fields (errors from the server shown next to the field they
// name), its poster (JPEG, uploaded when chosen, with a preview), its subtitle tracks (add an
// SRT/WebVTT file with its language, remove one) and an HLS preview.

import { api, h, clear, modal, field, showFieldError, clearErrors, errText, toast, loadHls, playHls, fmtDuration, ApiError } from './ui.js';
import { t } from './i18n.js';

/** Poster URLs with a cache-buster once replaced (the server caches posters for an hour). */
const posterBust = new Map();
export function posterUrl(v) {
  if (!v.poster) return null;
  const b = posterBust.get(v.id);
  return b ? `${v.poster}?v=${b}` : v.poster;
}
export function bustPoster(id) { posterBust.set(id, Date.now()); }

const TEXT = ['title', 'title_en', 'description', 'category', 'genre', 'series'];
const INTS = ['year', 'season', 'episode'];

/** Opens the dialog for title `v`; resolves truthy when something was saved. */
export function openVodDialog(v0, { categories = [] } = {}) {
  let v = v0;
  let changed = false;
  let stopPreview = null;
  let objectUrl = null;
  return modal(t('vod.edit.title', { title: v.title }), close => {
    const inp = (name, attrs) => h('input', { name, autocomplete: 'off', ...attrs });
    const fTitle = field('title', t('vod.f.title'), inp('title', { value: v.title || '', required: true, maxlength: 300 }));
    const fTitleEn = field('title_en', t('vod.f.title_en'), inp('title_en', { value: v.title_en || '', maxlength: 300 }));
    const fDesc = field('description', t('vod.f.description'), h('textarea', { name: 'description', rows: 4, maxlength: 10000 }, v.description || ''));
    const catOptions = h('datalist#vod-cat-options', categories.map(c => h('option', { value: c })));
    const fCat = field('category', t('vod.f.category'), inp('category', { value: v.category || '', list: 'vod-cat-options', maxlength: 100 }), t('vod.f.category_hint'));
    const fYear = field('year', t('vod.f.year'), inp('year', { type: 'number', step: 1, value: v.year ?? '', placeholder: '2024' }));
    const fGenre = field('genre', t('vod.f.genre'), inp('genre', { value: v.genre || '', maxlength: 200 }));
    const fSeries = field('series', t('vod.f.series'), inp('series', { value: v.series || '', maxlength: 300 }), t('vod.f.series_hint'));
    const fSeason = field('season', t('vod.f.season'), inp('season', { type: 'number', step: 1, min: 0, value: v.season ?? '' }));
    const fEpisode = field('episode', t('vod.f.episode'), inp('episode', { type: 'number', step: 1, min: 0, value: v.episode ?? '' }));

    // poster
    const src = posterUrl(v);
    const preview = h('div.poster-preview#vod-poster-preview', src ? h('img', { src, alt: t('vod.f.poster') }) : h('div.poster.placeholder.big', '🎬'));
    const posterInput = h('input#vod-poster-file', { type: 'file', accept: 'image/jpeg,.jpg,.jpeg' });
    const posterStatus = h('div.poster-status.muted', { role: 'status' });
    const fPoster = field('poster', t('vod.f.poster'), posterInput, t('vod.f.poster_hint'));
    posterInput.addEventListener('change', async () => {
      const file = posterInput.files && posterInput.files[0];
      if (!file) return;
      fPoster.setError('');
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      objectUrl = URL.createObjectURL(file);
      clear(preview).append(h('img', { src: objectUrl, alt: t('vod.f.poster') }));
      posterStatus.textContent = t('vod.f.poster_uploading');
      try {
        await api('PUT', `/api/vod/${v.id}/poster`, file, { contentType: 'image/jpeg' });
        bustPoster(v.id);
        changed = true;
        posterStatus.textContent = t('vod.f.poster_saved');
        preview.dataset.saved = '1';
      } catch (e) {
        posterStatus.textContent = '';
        fPoster.setError(errText(e));
        const old = posterUrl(v);
        clear(preview).append(old ? h('img', { src: old, alt: '' }) : h('div.poster.placeholder.big', '🎬'));
      } finally {
        posterInput.value = '';
      }
    });

    // subtitles: the tracks there are, remove one, add a file with its language
    const subList = h('ul.sub-list#vod-sub-list');
    const renderSubs = () => {
      clear(subList);
      (v.subtitles || []).forEach((s, n) => subList.append(h('li',
        h('span', s.language || 'und'), ' ',
        h('button.small.danger', {
          type: 'button', 'data-sub': String(n),
          onclick: async () => {
            try {
              v = await api('DELETE', `/api/vod/${v.id}/subtitles/${n}`);
              changed = true;
              renderSubs();
            } catch (e) { fSubs.setError(errText(e)); }
          },
        }, t('vod.sub.remove')))));
      if (!(v.subtitles || []).length) subList.append(h('li.muted', t('vod.sub.none')));
    };
    renderSubs();
    const subLang = h('input#vod-sub-lang', { placeholder: t('vod.sub.lang'), maxlength: 35, size: 8, autocomplete: 'off' });
    const subInput = h('input#vod-sub-file', { type: 'file', accept: '.srt,.vtt,application/x-subrip,text/vtt' });
    const fSubs = field('subtitles', t('vod.col.subtitles'), h('div', subList, h('div.row2', subLang, subInput)), t('vod.sub.hint'));
    subInput.addEventListener('change', async () => {
      const file = subInput.files && subInput.files[0];
      if (!file) return;
      fSubs.setError('');
      const vtt = /\.vtt$/i.test(file.name);
      const lang = subLang.value.trim() || (file.name.match(/\.([A-Za-z]{2,3}(?:-[A-Za-z0-9]+)?)\.(srt|vtt)$/i) || [])[1] || '';
      try {
        v = await api('POST', `/api/vod/${v.id}/subtitles?language=${encodeURIComponent(lang)}`, file,
          { contentType: vtt ? 'text/vtt' : 'application/x-subrip' });
        changed = true;
        subLang.value = '';
        renderSubs();
      } catch (e) {
        fSubs.setError(errText(e));
      } finally {
        subInput.value = '';
      }
    });

    // HLS preview
    const video = h('video.preview', { controls: true, playsinline: true, preload: 'none' });
    const playBtn = h('button.small.preview-play', {
      type: 'button',
      onclick: async () => {
        playBtn.disabled = true;
        await loadHls();
        if (video.isConnected && !stopPreview) { stopPreview = playHls(video, v.hls_fmp4 || v.hls); video.muted = false; }
      },
    }, `▶ ${t('vod.preview')}`);
    const media = [
      v.duration_s ? fmtDuration(v.duration_s) : null,
      v.video ? [v.video.codec, v.video.width && `${v.video.width}×${v.video.height}`].filter(Boolean).join(' ') : null,
      (v.audio || []).length ? `${t('vod.col.audio')}: ${(v.audio || []).map(a => `${a.language || 'und'} ${a.codec || ''}`.trim()).join(', ')}` : null,
      (v.subtitles || []).length ? `${t('vod.col.subtitles')}: ${(v.subtitles || []).map(s => s.language || 'und').join(', ')}` : null,
    ].filter(Boolean).join(' · ');

    const formErr = h('div.form-error', { role: 'alert' });
    const saveBtn = h('button.primary', { type: 'submit' }, t('common.save'));
    const form = h('form.vod-form', { novalidate: true },
      h('div.grid2',
        h('div.col', fTitle, fTitleEn, fDesc, h('div.row2', fCat, fGenre), h('div.row2', fYear, h('div')),
          fSeries, h('div.row2', fSeason, fEpisode)),
        h('div.col', h('div.poster-box', preview, h('div', fPoster, posterStatus)), fSubs,
          h('div.preview-box', h('h3', t('vod.preview')), video, h('div.actions.left', playBtn,
            h('a.button.small', { href: v.file, target: '_blank', rel: 'noopener' }, t('vod.open_mp4')))),
          h('p.muted.small.media-info', media),
          v.source_name ? h('p.muted.small', `${t('vod.source')}: ${v.source_name}`) : null)),
      catOptions,
      formErr,
      h('div.actions',
        h('button.cancel', { type: 'button', onclick: () => close(changed || undefined) }, t('common.cancel')),
        saveBtn));

    form.addEventListener('submit', async ev => {
      ev.preventDefault();
      clearErrors(form);
      const body = {};
      const problems = [];
      for (const k of TEXT) {
        const val = form.elements[k].value.trim();
        if (val !== (v[k] ?? '')) body[k] = val;
      }
      if ('title' in body && !body.title) problems.push(['title', t('v.required')]);
      for (const k of INTS) {
        const raw = form.elements[k].value.trim();
        let val;
        if (raw === '') val = null;
        else if (/^-?\d+$/.test(raw)) val = +raw;
        else { problems.push([k, t('vod.v.int')]); continue; }
        if (val !== (v[k] ?? null)) body[k] = val;
      }
      if (problems.length) {
        for (const [f, msg] of problems) form.querySelector(`.field[data-field="${f}"]`).setError(msg);
        const first = form.querySelector('.field.invalid input, .field.invalid textarea');
        if (first) first.focus();
        return;
      }
      if (!Object.keys(body).length) { close(changed || undefined); return; }
      saveBtn.disabled = true;
      try {
        const saved = await api('PUT', `/api/vod/${v.id}`, body);
        toast(t('common.saved'));
        close(saved || true);
      } catch (e) {
        if (e instanceof ApiError && e.status === 422 && e.field && !form.querySelector(`.field[data-field="${e.field}"]`)) {
          formErr.textContent = `${e.field}: ${errText(e)}`;
        } else {
          showFieldError(form, e, formErr);
        }
      } finally {
        saveBtn.disabled = false;
      }
    });
    return form;
  }, { wide: true, id: 'vod-dialog' }).then(r => r || (changed ? true : undefined)).finally(() => {
    if (stopPreview) stopPreview();
    if (objectUrl) URL.revokeObjectURL(objectUrl);
  });
}
