// The console's shell: sign-in, navigation (hash routes), language switch, sign-out.

import { api, h, clear, session, errText, fmtDuration, ApiError } from './ui.js';
import { t, tOr, setLang, getLang, LANGS } from './i18n.js';
import { resetLive } from './store.js';
import { channelsPage } from './page-channels.js';
import { channelPage } from './page-channel.js';
import { systemPage } from './page-system.js';
import { logPage } from './page-log.js';
import { epgPage } from './page-epg.js';
import { nodesPage } from './page-nodes.js';
import { importPage } from './page-import.js';
import { vodPage } from './page-vod.js';
import { usersPage, tokensPage, auditPage, passwordDialog } from './page-accounts.js';
import { viewersPage } from './page-viewers.js';

const root = document.getElementById('app');
let current = null; // {el, destroy}
let loginMessage = '';

const NAV = [
  { path: 'channels', label: 'nav.channels' },
  { path: 'vod', label: 'nav.vod' },
  { path: 'system', label: 'nav.system' },
  { path: 'log', label: 'nav.log' },
  { path: 'epg', label: 'nav.epg' },
  { path: 'nodes', label: 'nav.nodes' },
  { path: 'import', label: 'nav.import' },
  { path: 'viewers', label: 'nav.viewers' },
  { path: 'users', label: 'nav.users', admin: true },
  { path: 'tokens', label: 'nav.tokens' },
  { path: 'audit', label: 'nav.audit', admin: true },
];

const isAdmin = () => session.user && session.user.role === 'admin';

function langSwitch() {
  return h('select#lang', {
    'aria-label': 'Language / 语言',
    onchange: e => { setLang(e.target.value); document.title = t('app.title'); if (session.user) showApp(); else showLogin(); },
  }, LANGS.map(([code, name]) => h('option', { value: code, selected: getLang() === code }, name)));
}

function destroyPage() {
  if (current) { try { current.destroy(); } catch (_) { /* ignore */ } current = null; }
}

// ---------------------------------------------------------------------------------------------
// Sign-in

function showLogin() {
  destroyPage();
  resetLive();
  document.title = t('app.title');
  const user = h('input#login-user', { name: 'user', autocomplete: 'username', required: true, value: 'admin', autocapitalize: 'none', spellcheck: 'false' });
  const pw = h('input#login-password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const err = h('div.form-error#login-error', { role: 'alert' }, loginMessage);
  const btn = h('button.primary', { type: 'submit' }, t('login.submit'));
  const form = h('form.login#login-form', { novalidate: true },
    h('div.login-head', h('div.brand', 'Atoll'), langSwitch()),
    h('h1', t('login.title')),
    h('label', { for: 'login-user' }, t('login.user')), user,
    h('label', { for: 'login-password' }, t('login.password')), pw,
    err, btn);
  form.addEventListener('submit', async e => {
    e.preventDefault();
    err.textContent = '';
    btn.disabled = true;
    try {
      await signIn(user.value.trim(), pw.value);
      loginMessage = '';
      showApp();
    } catch (ex) {
      pw.value = '';
      pw.focus();
      if (ex instanceof ApiError && ex.status === 429) {
        const s = +(ex.body && ex.body.retry_after ? ex.body.retry_after : (ex.retryAfter || 60));
        // a lockout of minutes is said in whole minutes (rounded up), not "294 s"
        err.textContent = t('login.rate_limited', { d: s >= 60 ? t('login.minutes', { n: Math.ceil(s / 60) }) : fmtDuration(s) });
      } else if (ex instanceof ApiError && ex.status === 401) {
        err.textContent = t('login.wrong');
      } else if (ex instanceof ApiError && ex.status === 403 && ex.code === 'disabled') {
        err.textContent = t('login.disabled');
      } else {
        err.textContent = errText(ex);
      }
    } finally {
      btn.disabled = false;
    }
  });
  clear(root).append(h('main.login-wrap', form));
  (user.value ? pw : user).focus();
}

/** Signs in with a session cookie; on a server without /api/session, falls back to HTTP Basic. */
async function signIn(user, password) {
  try {
    const res = await fetch('/api/session', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-Requested-With': 'atoll-console' },
      body: JSON.stringify({ user, password }),
      credentials: 'same-origin',
    });
    const body = await res.json().catch(() => null);
    if (res.ok) { session.user = body; session.basic = null; return; }
    if (res.status !== 404 && res.status !== 405) {
      const e = new ApiError(res.status, body, '/api/session');
      e.retryAfter = res.headers.get('Retry-After');
      throw e;
    }
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw new ApiError(0, { error: 'network', message: t('common.network') }, '/api/session');
  }
  // older server: HTTP Basic on every request (kept in memory only)
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  session.basic = `Basic ${btoa(String.fromCharCode(...bytes))}`;
  try {
    await api('GET', '/api/channels', null, { quiet401: true });
  } catch (e) {
    session.basic = null;
    throw e;
  }
  session.user = { user, role: 'admin', csrf: null, basic: true };
}

async function signOut() {
  try { if (!session.basic) await api('DELETE', '/api/session', null, { quiet401: true }); } catch (_) { /* already gone */ }
  session.user = null;
  session.basic = null;
  loginMessage = '';
  location.hash = '#/channels';
  showLogin();
}

session.onUnauthorized = () => {
  if (!session.user) return;
  session.user = null;
  session.basic = null;
  loginMessage = t('login.expired');
  showLogin();
};

// ---------------------------------------------------------------------------------------------
// The app

function route() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [page, ...rest] = hash.split('/');
  return { page: page || 'channels', arg: rest.length ? decodeURIComponent(rest.join('/')) : null };
}

function showApp() {
  document.title = t('app.title');
  const { page } = route();
  const u = session.user;
  const nav = h('nav.main#nav', { 'aria-label': t('nav.menu') },
    NAV.filter(n => !n.admin || isAdmin()).map(n => h('a', {
      href: `#/${n.path}`,
      class: (page === n.path || (n.path === 'channels' && page === 'channel')) ? 'on' : '',
      dataset: { nav: n.path },
    }, t(n.label))));
  const userBox = h('div.user',
    h('span.who#who', { title: t(`users.role.${u.role}`) }, u.user, ' ', h('span.role', tOr(`users.role_short.${u.role}`, u.role))),
    u.basic ? null : h('button.small.link', { type: 'button', onclick: () => passwordDialog(u.user, { own: true }) }, t('nav.password')),
    h('button.small#logout', { type: 'button', onclick: signOut }, t('nav.logout')));
  const main = h('main#main');
  clear(root).append(h('header.top', h('a.brand', { href: '#/channels' }, 'Atoll'), nav, h('div.right', langSwitch(), userBox)), main);
  renderPage(main);
}

function renderPage(main = document.getElementById('main')) {
  if (!main) return;
  destroyPage();
  const { page, arg } = route();
  for (const a of document.querySelectorAll('nav.main a')) a.classList.toggle('on', a.dataset.nav === page || (a.dataset.nav === 'channels' && page === 'channel'));
  const ctx = { user: session.user };
  const pages = {
    channels: () => channelsPage(ctx),
    channel: () => (arg ? channelPage(ctx, arg) : channelsPage(ctx)),
    system: () => systemPage(ctx),
    log: () => logPage(ctx),
    epg: () => epgPage(ctx),
    nodes: () => nodesPage(ctx),
    import: () => importPage(ctx),
    vod: () => vodPage(ctx),
    viewers: () => viewersPage(ctx),
    users: () => (isAdmin() ? usersPage(ctx) : forbidden()),
    tokens: () => tokensPage(ctx),
    audit: () => (isAdmin() ? auditPage(ctx) : forbidden()),
  };
  current = (pages[page] || pages.channels)();
  clear(main).append(current.el);
  main.focus({ preventScroll: true });
}

function forbidden() {
  return { el: h('section.page', h('p.page-error', t('common.forbidden'))), destroy: () => {} };
}

window.addEventListener('hashchange', () => { if (session.user) renderPage(); });

async function start() {
  document.title = t('app.title');
  try {
    session.user = await api('GET', '/api/session', null, { quiet401: true });
    showApp();
  } catch (e) {
    session.user = null;
    showLogin();
  }
}

start();
