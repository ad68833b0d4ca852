// Viewer accounts: the logins IPTV apps use through the Xtream Codes API (a cabin, a room, a
// household). The list (live connection counts refreshed every 5 s, search), the add/edit dialog
// (a generated password shown in clear for the cabin card, expiry, connection limit, channel groups
// and VOD categories, the account's M3U link), enable/disable in the row, delete, and the CSV
// import (created/updated counts, the generated passwords, or the refused lines) and export.

import { api, h, clear, modal, field, showFieldError, clearErrors, errText, toast, fmtTime, confirmBox, download, ApiError } from './ui.js';
import { t } from './i18n.js';

const POLL_MS = 5000;
const USER_RE = /^[A-Za-z0-9._@-]{1,64}$/;
const CSV_HEADER = 'username,password,enabled,expires,max_connections,groups,vod_categories,note';
/** No 0/O, 1/l/I: the password is read off a card and typed with a remote. */
const PW_ALPHABET = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A random password of `n` characters of PW_ALPHABET (crypto random, no modulo bias). */
export function generatePassword(n = 10) {
  const limit = 256 - (256 % PW_ALPHABET.length);
  let out = '';
  while (out.length < n) {
    for (const b of crypto.getRandomValues(new Uint8Array(n * 2))) {
      if (b < limit && out.length < n) out += PW_ALPHABET[b % PW_ALPHABET.length];
    }
  }
  return out;
}

const pad = n => String(n).padStart(2, '0');
/** Today's date in this browser, YYYY-MM-DD. */
function today() {
  const d = new Date();
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
/** An account expiring before today has expired (the server counts the whole last day). */
const expired = v => !!v.expires && v.expires < today();

/** One CSV cell: quoted when it holds a comma, a quote or a line break. */
function csvCell(s) {
  s = String(s ?? '');
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function stamp() {
  const d = new Date();
  return `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}`;
}

/** The M3U link of an account for apps that take a playlist URL. */
export function m3uLink(username, password) {
  const q = new URLSearchParams({ username, password, type: 'm3u_plus', output: 'ts' });
  return `${location.origin}/get.php?${q}`;
}

async function copyText(text, input) {
  if (input) input.select();
  try { await navigator.clipboard.writeText(text); } catch (_) { document.execCommand('copy'); }
  toast(t('common.copied'));
}

/** The field an API error names, mapped onto the dialog's fields. */
function dialogField(e) {
  if (!(e instanceof ApiError)) return null;
  const f = e.field || '';
  if (f === 'packages' || f === 'packages.groups' || f === 'groups') return 'groups';
  if (f === 'packages.vod_categories' || f === 'vod_categories') return 'vod_categories';
  if (!f && e.status === 409) return 'username';
  return f || null;
}

/**
 * A group of checkboxes (`options`, with the `selected` ones checked even when no longer offered)
 * behaving like a `field()`: `data-field`, `.setError()`. Nothing checked means "all".
 */
function choiceField(name, label, options, selected, emptyText, hint) {
  const sel = new Set(selected || []);
  const all = [...options];
  for (const s of sel) if (!all.includes(s)) all.push(s);
  const labelId = `lbl-${name}`;
  const err = h('div.field-error', { id: `err-${name}`, role: 'alert' });
  const list = h('div.choice-list', { role: 'group', 'aria-labelledby': labelId, 'aria-describedby': err.id, id: `f-${name}` },
    all.length
      ? all.map(o => h('label.check', h('input', { type: 'checkbox', name, value: o, checked: sel.has(o) }), ' ', o))
      : h('span.muted.small', emptyText));
  const wrap = h(`div.field.f-${name}`, { dataset: { field: name } },
    h('span.label', { id: labelId }, label), list, hint ? h('div.hint', hint) : null, err);
  wrap.setError = msg => {
    err.textContent = msg || '';
    wrap.classList.toggle('invalid', !!msg);
  };
  wrap.values = () => [...list.querySelectorAll('input:checked')].map(i => i.value);
  return wrap;
}

/** The channel groups (from the lineup) and VOD categories offered in the dialog. */
async function loadChoices() {
  const [channels, cats] = await Promise.all([
    api('GET', '/api/channels').catch(() => []),
    api('GET', '/api/vod/categories').catch(() => null),
  ]);
  const groups = [...new Set((Array.isArray(channels) ? channels : []).map(c => (c.group || '').trim()).filter(Boolean))]
    .sort((a, b) => a.localeCompare(b));
  const categories = ((cats && cats.categories) || []).map(c => c.name).filter(Boolean);
  return { groups, categories };
}

/** The add (v = null) or edit dialog; resolves with the saved account, or undefined. */
export function openViewerDialog(v, { groups = [], categories = [] } = {}) {
  const editing = !!v;
  const a = v || { username: '', enabled: true, expires: null, max_connections: 1, packages: { groups: [], vod_categories: [] }, note: '' };
  const pk = a.packages || {};
  return modal(editing ? t('viewers.edit', { name: a.username }) : t('viewers.add'), close => {
    const inp = (name, attrs) => h('input', { name, autocomplete: 'off', ...attrs });
    const user = inp('username', { value: a.username, readonly: editing, required: !editing, maxlength: 64, spellcheck: 'false', autocapitalize: 'none' });
    const fUser = field('username', t('viewers.f.username'), user, editing ? null : t('viewers.f.username_hint'));

    // password: typed, or generated and shown in clear so it can be written on the card
    const pw = inp('password', { type: 'password', autocomplete: 'new-password', maxlength: 128, spellcheck: 'false', autocapitalize: 'none', placeholder: editing ? t('viewers.f.password_keep') : '' });
    const showBtn = h('button.small#viewer-pw-show', { type: 'button', 'aria-pressed': 'false' }, t('viewers.f.show'));
    const reveal = on => {
      pw.type = on ? 'text' : 'password';
      pw.classList.toggle('mono', on);
      showBtn.setAttribute('aria-pressed', String(on));
      showBtn.textContent = on ? t('viewers.f.hide') : t('viewers.f.show');
    };
    showBtn.addEventListener('click', () => { reveal(pw.type === 'password'); pw.focus(); });
    const genBtn = h('button.small#viewer-pw-generate', {
      type: 'button',
      onclick: () => { pw.value = generatePassword(10); reveal(true); fPw.setError(''); updateLink(); pw.focus(); pw.select(); },
    }, t('viewers.f.generate'));
    const fPw = field('password', t('viewers.f.password'), pw, editing ? t('viewers.f.password_keep_hint') : t('viewers.f.password_hint'));
    const pwLine = h('div.line');
    pw.replaceWith(pwLine);
    pwLine.append(pw, genBtn, showBtn);

    const fEnabled = field('enabled', t('viewers.f.enabled'), inp('enabled', { type: 'checkbox', checked: a.enabled !== false }));
    const exp = inp('expires', { type: 'date', value: a.expires || '' });
    const fExp = field('expires', t('viewers.f.expires'), exp, t('viewers.f.expires_hint'));
    const expLine = h('div.line');
    exp.replaceWith(expLine);
    expLine.append(exp, h('button.small#viewer-no-expiry', { type: 'button', onclick: () => { exp.value = ''; exp.focus(); } }, t('viewers.f.no_expiry')));
    const fMax = field('max_connections', t('viewers.f.max_connections'),
      inp('max_connections', { type: 'number', min: 1, max: 100, step: 1, value: a.max_connections ?? 1, required: true }), t('viewers.f.max_connections_hint'));
    const fGroups = choiceField('groups', t('viewers.f.groups'), groups, pk.groups, t('viewers.f.no_groups'), t('viewers.f.all_hint'));
    const fCats = choiceField('vod_categories', t('viewers.f.vod_categories'), categories, pk.vod_categories, t('viewers.f.no_categories'), t('viewers.f.all_hint'));
    const fNote = field('note', t('viewers.f.note'), inp('note', { value: a.note || '', maxlength: 500, placeholder: t('viewers.f.note_ph') }));

    // the account's M3U link (the password is only known when typed or generated here)
    const link = h('input.mono#viewer-m3u', { readonly: true, 'aria-label': t('viewers.f.m3u') });
    const linkNote = h('div.muted.small#viewer-m3u-note');
    const copyBtn = h('button.small', { type: 'button', onclick: () => copyText(link.value, link) }, t('common.copy'));
    const linkLine = h('div.line', link, copyBtn);
    const updateLink = () => {
      const u = user.value.trim();
      const ok = !!pw.value && USER_RE.test(u);
      link.value = ok ? m3uLink(u, pw.value) : '';
      linkLine.hidden = !ok;
      linkNote.textContent = ok ? '' : t('viewers.f.m3u_needs_pw');
    };
    user.addEventListener('input', updateLink);
    pw.addEventListener('input', updateLink);
    updateLink();
    const linkBox = h('div.field.m3u-box', h('span.label', t('viewers.f.m3u')), linkLine, linkNote);

    const formErr = h('div.form-error', { role: 'alert' });
    const saveBtn = h('button.primary', { type: 'submit' }, editing ? t('common.save') : t('common.add'));
    const form = h('form.viewer-form', { novalidate: true },
      h('div.grid2',
        h('div.col', fUser, fPw, h('div.row2', fExp, fMax), fEnabled, fNote),
        h('div.col', fGroups, fCats, linkBox)),
      formErr,
      h('div.actions', h('button.cancel', { type: 'button', onclick: () => close(undefined) }, t('common.cancel')), saveBtn));

    // a field's error goes once it is changed
    form.addEventListener('input', ev => {
      const w = ev.target.closest && ev.target.closest('.field');
      if (w && w.setError) w.setError('');
    });
    form.addEventListener('submit', async ev => {
      ev.preventDefault();
      clearErrors(form);
      const problems = [];
      const body = {};
      const username = user.value.trim();
      if (!editing) {
        if (!username) problems.push([fUser, t('v.required')]);
        else if (!USER_RE.test(username)) problems.push([fUser, t('viewers.v.username')]);
        body.username = username;
      }
      const password = pw.value;
      if (!editing && !password) problems.push([fPw, t('v.required')]);
      if (password) body.password = password;
      body.enabled = form.elements.enabled.checked;
      const e = exp.value.trim();
      if (e && !/^\d{4}-\d\d-\d\d$/.test(e)) problems.push([fExp, t('viewers.v.date')]);
      body.expires = e || null;
      const m = form.elements.max_connections.value.trim();
      if (!/^\d+$/.test(m) || +m < 1 || +m > 100) problems.push([fMax, t('viewers.v.max_connections')]);
      body.max_connections = +m;
      body.packages = { groups: fGroups.values(), vod_categories: fCats.values() };
      body.note = form.elements.note.value.trim();
      if (problems.length) {
        for (const [f, msg] of problems) f.setError(msg);
        const first = form.querySelector('.field.invalid input');
        if (first) first.focus();
        return;
      }
      saveBtn.disabled = true;
      try {
        const saved = editing
          ? await api('PUT', `/api/viewers/${encodeURIComponent(a.username)}`, body)
          : await api('POST', '/api/viewers', body);
        toast(t('common.saved'));
        close(saved || true);
      } catch (ex) {
        const f = dialogField(ex);
        if (f && f !== ex.field) ex.field = f;
        showFieldError(form, ex, formErr);
      } finally {
        saveBtn.disabled = false;
      }
    });
    return form;
  }, { wide: true, id: 'viewer-dialog' });
}

/** The CSV import dialog; `onDone()` runs after accounts were created or updated. */
function importDialog(onDone) {
  return modal(t('viewers.import.title'), close => {
    const file = h('input#viewer-import-file', { type: 'file', accept: '.csv,text/csv,text/plain' });
    const result = h('div.import-result#viewer-import-result', { role: 'status' });
    const run = async f => {
      clear(result).append(h('p.muted', t('viewers.import.running', { name: f.name })));
      file.disabled = true;
      try {
        const r = await api('POST', '/api/viewers/import', f, { contentType: 'text/csv' });
        clear(result).append(h('p.ok#viewer-import-counts', t('viewers.import.done', { created: r.created ?? 0, updated: r.updated ?? 0 })));
        const gen = r.generated || [];
        if (gen.length) {
          const csv = `username,password\r\n${gen.map(g => `${csvCell(g.username)},${csvCell(g.password)}`).join('\r\n')}\r\n`;
          result.append(
            h('p.warn', t('viewers.import.generated', { n: gen.length })),
            h('table.plain#viewer-generated',
              h('thead', h('tr', h('th', t('viewers.col.username')), h('th', t('viewers.f.password')))),
              h('tbody', gen.map(g => h('tr', { dataset: { username: g.username } }, h('td.mono', g.username), h('td.mono.pw', g.password))))),
            h('div.actions.left', h('button.primary#viewer-generated-download', {
              type: 'button', onclick: () => download(`atoll-viewer-passwords-${stamp()}.csv`, csv, 'text/csv'),
            }, t('viewers.import.download'))));
        }
        if ((r.errors || []).length) result.append(errorTable(r.errors));
        onDone();
      } catch (e) {
        clear(result);
        const errors = e instanceof ApiError && e.body && Array.isArray(e.body.errors) ? e.body.errors : null;
        if (errors && errors.length) {
          result.append(h('p.err#viewer-import-refused', t('viewers.import.refused', { n: errors.length })), errorTable(errors));
        } else {
          result.append(h('p.err#viewer-import-refused', e instanceof ApiError && e.status === 413 ? `${t('viewers.import.too_big')} ${errText(e)}` : errText(e)));
        }
      } finally {
        file.disabled = false;
        file.value = '';
      }
    };
    file.addEventListener('change', () => { const f = file.files && file.files[0]; if (f) run(f); });
    return [
      h('p', t('viewers.import.text')),
      h('pre.csv-head', CSV_HEADER),
      h('p.muted.small', t('viewers.import.rules')),
      h('div.actions.left', h('button.small#viewer-import-template', {
        type: 'button',
        onclick: () => download('atoll-viewers-template.csv', `${CSV_HEADER}\r\ncabin-101,,true,,2,,,Deck 3\r\n`, 'text/csv'),
      }, t('viewers.import.template'))),
      h('div.field', h('label', { for: 'viewer-import-file' }, t('viewers.import.file')), file),
      result,
      h('div.actions', h('button#viewer-import-close', { type: 'button', onclick: () => close(true) }, t('common.close'))),
    ];
  }, { id: 'viewer-import-dialog' });
}

function errorTable(errors) {
  return h('table.plain#viewer-import-errors',
    h('thead', h('tr', h('th.num', t('viewers.import.line')), h('th', t('viewers.import.message')))),
    h('tbody', errors.map(e => h('tr', { dataset: { line: String(e.line ?? '') } }, h('td.num', String(e.line ?? '')), h('td', e.message ?? '')))));
}

export function viewersPage() {
  let destroyed = false;
  let viewers = null; // last GET /api/viewers
  let timer = null;
  let seq = 0;
  const rows = new Map(); // username -> {tr, sig, update(v)}

  const q = h('input#viewer-q', { type: 'search', placeholder: t('viewers.search'), 'aria-label': t('viewers.search'), autocomplete: 'off' });
  const summary = h('div.summary.muted#viewer-summary');
  const errBox = h('div.page-error#viewer-error', { role: 'alert' });
  const cols = ['username', 'enabled', 'expires', 'max', 'active', 'packages', 'last_seen', 'note', 'actions'];
  const tbody = h('tbody');
  const table = h('table.plain.viewers#viewer-table',
    h('thead', h('tr', cols.map(c => h('th', { scope: 'col', class: `c-${c}${['max', 'active'].includes(c) ? ' num' : ''}` }, c === 'actions' ? '' : t(`viewers.col.${c}`))))),
    tbody);
  const empty = h('div.empty#viewer-empty', { hidden: true });

  const packagesCell = p => {
    const g = (p && p.groups) || [];
    const c = (p && p.vod_categories) || [];
    if (!g.length && !c.length) return h('span.muted', t('viewers.all'));
    return [
      h('div', `${t('viewers.pk.groups')}: `, g.length ? g.join(', ') : h('span.muted', t('viewers.all'))),
      h('div', `${t('viewers.pk.vod')}: `, c.length ? c.join(', ') : h('span.muted', t('viewers.all'))),
    ];
  };

  const makeRow = v => {
    const name = v.username;
    const toggle = h('input.enabled-toggle', {
      type: 'checkbox', role: 'switch', checked: v.enabled, dataset: { k: 'toggle' },
      'aria-label': `${t('viewers.col.enabled')} ${name}`,
      onchange: async e => {
        const want = e.target.checked;
        e.target.disabled = true;
        try {
          await api('PUT', `/api/viewers/${encodeURIComponent(name)}`, { enabled: want });
          toast(want ? t('viewers.enabled_toast', { name }) : t('viewers.disabled_toast', { name }));
        } catch (ex) {
          e.target.checked = !want;
          toast(errText(ex), 'error');
        }
        e.target.disabled = false;
        refresh();
      },
    });
    const active = h('td.c-active.num');
    const seen = h('td.c-last_seen.time');
    const isExpired = expired(v);
    const tr = h('tr', { dataset: { username: name }, class: [v.enabled ? '' : 'off', isExpired ? 'expired' : ''].filter(Boolean).join(' ') },
      h('td.c-username', h('strong', name)),
      h('td.c-enabled', h('label.check.switch', toggle, ' ', h('span', v.enabled ? t('viewers.on') : t('viewers.off')))),
      h('td', { class: `c-expires${isExpired ? ' expired' : ''}`, title: isExpired ? t('viewers.expired') : null },
        v.expires ? [v.expires, isExpired ? h('span.exp-tag', ` ${t('viewers.expired')}`) : null] : h('span.muted', t('viewers.never_expires'))),
      h('td.c-max.num', String(v.max_connections ?? '')),
      active,
      h('td.c-packages.small', packagesCell(v.packages)),
      seen,
      h('td.c-note', { title: v.note || null }, v.note || ''),
      h('td.c-actions.actions',
        h('button.small.edit', { type: 'button', dataset: { k: 'edit' }, 'aria-label': `${t('common.edit')} ${name}`, onclick: () => edit(name) }, t('common.edit')),
        h('button.small.danger.del', { type: 'button', dataset: { k: 'del' }, 'aria-label': `${t('common.delete')} ${name}`, onclick: () => del(name) }, t('common.delete'))));
    const update = x => {
      const n = x.active_connections ?? 0;
      active.textContent = String(n);
      active.classList.toggle('busy', n > 0);
      active.classList.toggle('full', n > 0 && n >= (x.max_connections || 1));
      active.title = t('viewers.active_of', { n, max: x.max_connections ?? '' });
      seen.textContent = x.last_seen ? fmtTime(x.last_seen, { seconds: false }) : t('common.never');
    };
    return { tr, update };
  };

  const applyFilter = () => {
    const needle = q.value.trim().toLowerCase();
    let shown = 0;
    let conns = 0;
    for (const v of viewers || []) {
      const r = rows.get(v.username);
      const match = !needle || v.username.toLowerCase().includes(needle) || (v.note || '').toLowerCase().includes(needle);
      if (r) r.tr.hidden = !match;
      if (match) shown++;
      conns += v.active_connections || 0;
    }
    const total = (viewers || []).length;
    summary.textContent = total ? t('viewers.count', { shown, total, conns }) : '';
    empty.hidden = viewers === null || shown > 0;
    empty.textContent = total ? t('viewers.nomatch') : t('viewers.empty');
  };

  /** Updates the table in place: the 5 s refresh keeps focus and scroll where they are. */
  const draw = () => {
    const day = today();
    const names = new Set(viewers.map(v => v.username));
    for (const [name, r] of rows) if (!names.has(name)) { r.tr.remove(); rows.delete(name); }
    viewers.forEach((v, i) => {
      const sig = JSON.stringify([v.enabled, v.expires, v.max_connections, v.packages, v.note, day]);
      let r = rows.get(v.username);
      if (!r || r.sig !== sig) {
        const nr = makeRow(v);
        nr.sig = sig;
        if (r) {
          const focused = r.tr.contains(document.activeElement) ? document.activeElement.dataset.k : null;
          r.tr.replaceWith(nr.tr);
          if (focused) { const el = nr.tr.querySelector(`[data-k="${focused}"]`); if (el) el.focus(); }
        }
        rows.set(v.username, nr);
        r = nr;
      }
      r.update(v);
      if (tbody.children[i] !== r.tr) tbody.insertBefore(r.tr, tbody.children[i] || null);
    });
    applyFilter();
  };

  const refresh = async () => {
    const my = ++seq;
    clearTimeout(timer);
    try {
      const r = await api('GET', '/api/viewers');
      if (destroyed || my !== seq) return;
      viewers = (r && r.viewers) || [];
      errBox.textContent = '';
      draw();
    } catch (e) {
      if (destroyed || my !== seq) return;
      errBox.textContent = errText(e);
    }
    if (!destroyed) timer = setTimeout(poll, POLL_MS);
  };
  const poll = () => { if (destroyed) return; if (document.hidden) timer = setTimeout(poll, POLL_MS); else refresh(); };
  const onVisible = () => { if (!document.hidden && !destroyed) refresh(); };
  document.addEventListener('visibilitychange', onVisible);

  const add = async () => {
    const saved = await openViewerDialog(null, await loadChoices());
    if (saved) refresh();
  };
  const edit = async name => {
    let v = (viewers || []).find(x => x.username === name);
    const [fresh, choices] = await Promise.all([
      api('GET', `/api/viewers/${encodeURIComponent(name)}`).catch(e => e),
      loadChoices(),
    ]);
    if (!(fresh instanceof Error)) v = fresh;
    else if (!v || (fresh instanceof ApiError && fresh.status === 404)) { toast(errText(fresh), 'error'); refresh(); return; }
    const saved = await openViewerDialog(v, choices);
    if (saved) refresh();
  };
  const del = async name => {
    if (!await confirmBox(t('viewers.del.title', { name }), t('viewers.del.text'), t('common.delete'))) return;
    try {
      await api('DELETE', `/api/viewers/${encodeURIComponent(name)}`);
      toast(t('viewers.deleted', { name }));
    } catch (e) { toast(errText(e), 'error'); }
    refresh();
    q.focus();
  };
  const exportCsv = async btn => {
    btn.disabled = true;
    try {
      const res = await api('GET', '/api/viewers/export', null, { raw: true });
      download(`atoll-viewers-${stamp()}.csv`, await res.text(), 'text/csv');
    } catch (e) { toast(errText(e), 'error'); }
    btn.disabled = false;
  };

  q.addEventListener('input', applyFilter);

  const origin = h('input.mono#viewer-origin', { readonly: true, value: location.origin, 'aria-label': t('viewers.help.server'), size: Math.max(20, location.origin.length) });
  const help = h('div.card.viewer-help#viewer-help',
    h('h2', t('viewers.help.title')),
    h('p', t('viewers.help.apps')),
    h('dl.kv',
      h('dt', t('viewers.help.server')), h('dd', h('div.line.origin-line', origin, h('button.small', { type: 'button', onclick: () => copyText(origin.value, origin) }, t('common.copy')))),
      h('dt', t('viewers.help.login')), h('dd', t('viewers.help.login_text'))),
    h('p.muted.small', t('viewers.help.m3u')),
    h('p.small.setting-note', t('viewers.help.setting_before'), h('code', 'viewer_accounts = true'), t('viewers.help.setting_after')));

  const el = h('section.page.page-viewers',
    h('div.page-head', h('h1', t('viewers.title')), h('div.spacer'),
      h('button#viewer-import', { type: 'button', onclick: async () => { await importDialog(refresh); refresh(); } }, t('viewers.import.button')),
      h('button#viewer-export', { type: 'button', onclick: e => exportCsv(e.currentTarget) }, t('viewers.export')),
      h('button.primary#add-viewer', { type: 'button', onclick: add }, `+ ${t('viewers.add')}`)),
    help,
    h('div.toolbar', q, summary),
    errBox,
    h('div.table-wrap', table),
    empty);

  refresh();
  return {
    el,
    destroy: () => {
      destroyed = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    },
  };
}
