// Accounts: users (admins), API tokens, the audit log, and changing one's own password.

import { api, h, clear, modal, field, showFieldError, clearErrors, errText, toast, fmtTime, fmtBytes, fmtDuration, badge, confirmBox, session } from './ui.js';
import { t, tOr } from './i18n.js';

const NAME_RE = /^[a-z0-9_.-]{1,64}$/;

/** Sets a password: for oneself (asks the current one) or, as admin, for another user. */
export function passwordDialog(name, { own = false } = {}) {
  return modal(t('users.password_title', { name }), close => {
    const fCur = own ? field('current_password', t('users.current_password'), h('input', { type: 'password', autocomplete: 'current-password' })) : null;
    const fNew = field('password', t('users.new_password'), h('input', { type: 'password', autocomplete: 'new-password', minlength: 8 }));
    const fRep = field('repeat', t('users.repeat_password'), h('input', { type: 'password', autocomplete: 'new-password' }));
    const err = h('div.form-error', { role: 'alert' });
    const form = h('form', { novalidate: true }, fCur, fNew, fRep, err,
      h('div.actions', h('button', { type: 'button', onclick: () => close(undefined) }, t('common.cancel')), h('button.primary', { type: 'submit' }, t('common.save'))));
    form.addEventListener('submit', async e => {
      e.preventDefault();
      clearErrors(form);
      const pw = form.elements.password.value;
      if (pw.length < 8) return fNew.setError(t('v.password'));
      if (pw !== form.elements.repeat.value) return fRep.setError(t('v.mismatch'));
      const body = { password: pw };
      if (own) body.current_password = form.elements.current_password.value;
      try {
        await api('PUT', `/api/users/${encodeURIComponent(name)}`, body);
        toast(t('common.saved'));
        close(true);
      } catch (ex) { showFieldError(form, ex, err); }
    });
    return form;
  }, { id: 'password-dialog' });
}

function userDialog() {
  return modal(t('users.add'), close => {
    const fName = field('name', t('users.name'), h('input', { autocomplete: 'off', maxlength: 64, spellcheck: 'false' }));
    const fRole = field('role', t('users.role'), h('select', h('option', { value: 'operator' }, t('users.role.operator')), h('option', { value: 'admin' }, t('users.role.admin'))));
    const fPw = field('password', t('users.new_password'), h('input', { type: 'password', autocomplete: 'new-password' }));
    const err = h('div.form-error', { role: 'alert' });
    const form = h('form', { novalidate: true }, fName, fRole, fPw, err,
      h('div.actions', h('button', { type: 'button', onclick: () => close(undefined) }, t('common.cancel')), h('button.primary', { type: 'submit' }, t('common.add'))));
    form.addEventListener('submit', async e => {
      e.preventDefault();
      clearErrors(form);
      const body = { name: form.elements.name.value.trim(), role: form.elements.role.value, password: form.elements.password.value };
      if (!NAME_RE.test(body.name)) return fName.setError(t('v.username'));
      if (body.password.length < 8) return fPw.setError(t('v.password'));
      try { close(await api('POST', '/api/users', body)); toast(t('common.saved')); } catch (ex) { showFieldError(form, ex, err); }
    });
    return form;
  }, { id: 'user-dialog' });
}

export function usersPage() {
  const tbody = h('tbody');
  const errBox = h('div.page-error', { role: 'alert' });
  const me = session.user && session.user.user;
  const refresh = async () => {
    let list;
    try { list = await api('GET', '/api/users'); errBox.textContent = ''; } catch (e) { errBox.textContent = errText(e); return; }
    clear(tbody).append(...list.map(u => h('tr', { dataset: { name: u.name } },
      h('td', h('strong', u.name), u.name === me ? h('span.muted', ` (${t('users.you')})`) : null),
      h('td', h('select', {
        'aria-label': `${t('users.role')} ${u.name}`,
        disabled: u.name === me,
        onchange: async e => {
          const role = e.target.value;
          // a change of rights is asked first: taking admin away, or giving it
          const ok = await confirmBox(t(`users.to_${role}_title`, { name: u.name }), t(`users.to_${role}_text`, { name: u.name }),
            t(`users.to_${role}`), role === 'operator');
          if (!ok) { e.target.value = u.role; return; }
          try { await api('PUT', `/api/users/${encodeURIComponent(u.name)}`, { role }); toast(t('common.saved')); } catch (ex) { toast(errText(ex), 'error'); }
          refresh();
        },
      }, ['admin', 'operator'].map(r => h('option', { value: r, selected: u.role === r }, t(`users.role_short.${r}`))))),
      h('td', u.disabled ? badge('offline', t('users.disabled')) : badge('live', t('users.enabled'))),
      h('td', fmtTime(u.created_utc)),
      h('td', u.last_login_utc ? fmtTime(u.last_login_utc) : t('common.never')),
      h('td.actions',
        h('button.small', { type: 'button', onclick: () => passwordDialog(u.name, { own: false }) }, t('users.password')),
        u.name === me ? null : h(`button.small${u.disabled ? '' : '.danger'}`, {
          type: 'button',
          onclick: async () => {
            if (!u.disabled && !await confirmBox(t('users.disable_title', { name: u.name }), t('users.disable_text', { name: u.name }), t('users.disable'))) return;
            try { await api('PUT', `/api/users/${encodeURIComponent(u.name)}`, { disabled: !u.disabled }); } catch (ex) { toast(errText(ex), 'error'); }
            refresh();
          },
        }, u.disabled ? t('users.enable') : t('users.disable'))))));
  };
  const el = h('section.page.page-users',
    h('div.page-head', h('h1', t('users.title')), h('button.primary#add-user', { type: 'button', onclick: async () => { if (await userDialog()) refresh(); } }, `+ ${t('users.add')}`)),
    errBox,
    h('div.table-wrap', h('table.plain#users-table',
      h('thead', h('tr', h('th', t('users.name')), h('th', t('users.role')), h('th', t('users.state')), h('th', t('users.created')), h('th', t('users.last_login')), h('th'))),
      tbody)));
  refresh();
  return { el, destroy: () => {} };
}

export function tokensPage() {
  const tbody = h('tbody');
  const note = h('div.muted');
  const errBox = h('div.page-error', { role: 'alert' });
  const refresh = async () => {
    let list;
    try { list = await api('GET', '/api/tokens'); errBox.textContent = ''; } catch (e) { errBox.textContent = errText(e); return; }
    note.textContent = list.length ? '' : t('tok.empty');
    clear(tbody).append(...list.map(k => h('tr', { dataset: { name: k.name, id: k.id } },
      h('td', k.name), h('td', k.user || ''), h('td', fmtTime(k.created_utc)), h('td.last-used', k.last_used_utc ? fmtTime(k.last_used_utc) : t('common.never')),
      h('td.actions', h('button.small.danger', {
        type: 'button',
        onclick: async () => {
          if (!await confirmBox(t('tok.revoke'), t('tok.revoke_q', { name: k.name }), t('tok.revoke'))) return;
          try { await api('DELETE', `/api/tokens/${k.id}`); } catch (ex) { toast(errText(ex), 'error'); }
          refresh();
        },
      }, t('tok.revoke'))))));
  };
  const create = () => modal(t('tok.create'), close => {
    const fName = field('name', t('tok.name'), h('input', { maxlength: 100, autocomplete: 'off' }));
    const err = h('div.form-error', { role: 'alert' });
    const out = h('div');
    const submit = h('button.primary', { type: 'submit' }, t('tok.create'));
    const form = h('form', { novalidate: true }, fName, err, out,
      h('div.actions', h('button', { type: 'button', onclick: () => close(true) }, t('common.close')), submit));
    form.addEventListener('submit', async e => {
      e.preventDefault();
      clearErrors(form);
      const name = form.elements.name.value.trim();
      if (!name) return fName.setError(t('v.required'));
      try {
        const r = await api('POST', '/api/tokens', { name });
        const tok = h('input.mono#new-token', { readonly: true, value: r.token, onfocus: ev => ev.target.select() });
        clear(out).append(h('p.warn', t('tok.shown_once')), h('div.line', tok,
          h('button.small', { type: 'button', onclick: async () => { tok.select(); try { await navigator.clipboard.writeText(r.token); } catch (_) { document.execCommand('copy'); } toast(t('common.copied')); } }, t('common.copy'))));
        submit.disabled = true;
        form.elements.name.readOnly = true;
        refresh();
      } catch (ex) { showFieldError(form, ex, err); }
    });
    return form;
  }, { id: 'token-dialog' });
  const el = h('section.page.page-tokens',
    h('div.page-head', h('h1', t('tok.title')), h('button.primary', { type: 'button', onclick: create }, `+ ${t('tok.create')}`)),
    h('p.muted', t('tok.text')),
    errBox,
    h('div.table-wrap', h('table.plain#tokens-table',
      h('thead', h('tr', h('th', t('tok.name')), h('th', t('tok.user')), h('th', t('tok.created')), h('th', t('tok.last_used')), h('th'))),
      tbody)),
    note);
  refresh();
  // "Last used" changes as scripts use their tokens: follow it (the server notes a use at most once a minute)
  const timer = setInterval(() => { if (!document.hidden && !document.querySelector('dialog.modal')) refresh(); }, 10_000);
  return { el, destroy: () => clearInterval(timer) };
}

export function auditPage() {
  const tbody = h('tbody');
  const note = h('div.muted');
  const errBox = h('div.page-error', { role: 'alert' });
  let last = null;
  const more = h('button', { type: 'button', hidden: true, onclick: () => load(true) }, t('common.more'));
  const load = async append => {
    let list;
    const q = append && last !== null ? `&before=${last}` : '';
    try { list = await api('GET', `/api/audit?limit=100${q}`); errBox.textContent = ''; } catch (e) { errBox.textContent = errText(e); return; }
    if (!append) clear(tbody);
    tbody.append(...list.map(a => h(`tr.a-${(a.action || '').replace(/[^a-z_]/g, '-')}`, { dataset: { action: a.action || '' } },
      h('td.time', fmtTime(a.at_utc)), h('td', a.user || ''), h('td.mono.small', a.ip || ''),
      h('td.action', { title: a.action || '' }, tOr(`audit.a.${a.action}`, a.action || '')),
      h('td.target', auditTarget(a)),
      h('td.small.detail', auditDetail(a.detail, /\.create$/.test(a.action || ''))))));
    if (list.length) last = list[list.length - 1].id;
    more.hidden = list.length < 100;
    note.textContent = tbody.children.length ? '' : t('audit.empty');
  };
  const el = h('section.page.page-audit',
    h('div.page-head', h('h1', t('audit.title')), h('button', { type: 'button', onclick: () => { last = null; load(false); } }, t('common.refresh'))),
    errBox,
    h('div.table-wrap', h('table.plain#audit-table',
      h('thead', h('tr', h('th', t('audit.time')), h('th', t('audit.user')), h('th', 'IP'), h('th', t('audit.action')), h('th', t('audit.target')), h('th', t('audit.detail')))),
      tbody)),
    note, more);
  load(false);
  return { el, destroy: () => {} };
}

/** The target of an audit entry: a name the detail carries next to a bare number (tokens, EPG sources, titles). */
function auditTarget(a) {
  const d = a.detail && typeof a.detail === 'object' ? a.detail : {};
  const name = d.name || d.title;
  if (name && /^\d+$/.test(a.target || '')) return [name, ' ', h('span.muted.mono', `#${a.target}`)];
  return h('span.mono', a.target || '');
}

/** One detail value, readable: sizes, durations, yes/no, lists. */
function detailValue(k, v) {
  if (v === null || v === undefined) return t('common.none');
  if (typeof v === 'boolean') return v ? t('common.yes') : t('common.no');
  if (typeof v === 'number' && /bytes/.test(k)) return fmtBytes(v);
  if (typeof v === 'number' && /_s$/.test(k)) return fmtDuration(v);
  if (typeof v === 'string') return k === 'archive' || k === 'role' || v === '(changed)' ? tOr(`audit.v.${v}`, v) : v;
  if (Array.isArray(v)) return v.length ? v.map(x => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ') : t('common.none');
  return JSON.stringify(v);
}

/** An audit entry's detail as "field: value" pairs in the console's language (no raw JSON). */
export function auditDetail(d, skipEmpty = false) {
  if (d === null || d === undefined || d === '') return '';
  if (typeof d !== 'object' || Array.isArray(d)) return String(d);
  // what was created: only the fields given a value
  // (a null is a field not given)
  const empty = v => v === '' || (Array.isArray(v) && !v.length);
  return Object.entries(d).filter(([, v]) => v !== null && !(skipEmpty && empty(v))).map(([k, v]) => h('span.kvp', h('b', `${tOr(`audit.k.${k}`, tOr(`f.${k}`, k))}: `), detailValue(k, v)));
}
