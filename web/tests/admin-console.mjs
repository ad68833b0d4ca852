// Drives the admin console (/admin) in headless Chromium through an operator's day: sign in (a
// wrong password first), switch the language, add a channel with a testsrc:// source (after
// validation errors that name the field), see it go live, start recording, see the archive
// coverage bar grow, edit it, stop recording, look at the channel and system pages, delete it,
// and check that an operator account cannot see Users.
//
// Usage: node admin-console.mjs BASE_URL ADMIN_PASSWORD SCREENSHOT_DIR
// Prints one JSON line: {"ok":bool,"steps":[{"name","ok","ms","error"?}],"screenshots":[…],"error":…}
// Every wait has a timeout, and the whole run is capped (ADMIN_TEST_BUDGET_S, default 240 s), so a
// missing endpoint fails with the step's name instead of hanging.
import { chromium } from 'playwright-core';
import path from 'node:path';

const [base, adminPassword, shotDir] = process.argv.slice(2);
const budgetS = +(process.env.ADMIN_TEST_BUDGET_S || 240);
const result = { ok: false, steps: [], screenshots: [], error: null, pageErrors: [] };
let printed = false;
const finish = () => {
  if (printed) return;
  printed = true;
  result.ok = !result.error && result.steps.length > 0 && result.steps.every(s => s.ok);
  console.log(JSON.stringify(result));
};
const killer = setTimeout(() => {
  result.error = `the whole run took longer than ${budgetS} s (last step: ${result.steps.at(-1)?.name ?? 'none'})`;
  finish();
  process.exit(1);
}, budgetS * 1000);

const ID = 'ui-test';
// Development against a server without session sign-in: the console falls back to HTTP Basic;
// the session checks are then recorded as failures but do not stop the run.
const DEV = !!process.env.ADMIN_TEST_ALLOW_BASIC;
const NAME = 'UI Test Channel';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--autoplay-policy=no-user-gesture-required'],
});

/** Runs one step; a failed step is recorded. `critical` failures end the run. */
async function step(name, fn, { critical = true } = {}) {
  const t0 = Date.now();
  try {
    await fn();
    result.steps.push({ name, ok: true, ms: Date.now() - t0 });
    return true;
  } catch (e) {
    const msg = String(e && e.message || e).split('\n').slice(0, 4).join(' | ');
    result.steps.push({ name, ok: false, ms: Date.now() - t0, error: msg });
    if (critical) throw new Error(`step "${name}" failed: ${msg}`);
    return false;
  }
}

async function shot(page, file) {
  const p = path.join(shotDir, file);
  await page.screenshot({ path: p, fullPage: true });
  result.screenshots.push(p);
}

/** Polls `f` (in Node) until it returns truthy; throws `what` after `ms`. */
async function until(what, ms, f) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await f();
    if (last) return last;
    await new Promise(r => setTimeout(r, 400));
  }
  throw new Error(`timed out after ${ms / 1000} s waiting for ${what} (last: ${JSON.stringify(last)})`);
}


/**
 * fetch() inside the page (with its cookie), capped at 8 s: a 401 that carries
 * `WWW-Authenticate: Basic` makes Chromium wait for a login box nobody answers.
 */
async function pageFetch(page, url, init = {}) {
  return page.evaluate(async ([url, init]) => {
    try {
      const r = await fetch(url, { ...init, signal: AbortSignal.timeout(8000) });
      const text = await r.text();
      let body = null;
      try { body = JSON.parse(text); } catch (_) { body = text.slice(0, 200); }
      return { status: r.status, body };
    } catch (e) {
      return { status: 0, body: `no answer in 8 s (${e.name}); a 401 with WWW-Authenticate: Basic makes the browser wait for its login box` };
    }
  }, [url, init]);
}

const row = `#channel-table tr[data-id="${ID}"]`;
const fieldError = name => `#channel-dialog .field[data-field="${name}"] .field-error`;

async function signIn(page, user, password) {
  await page.goto(`${base}/admin#/channels`);
  await page.waitForSelector('#login-form', { timeout: 15000 });
  await page.fill('#login-user', user);
  await page.fill('#login-password', password);
  await page.click('#login-form button[type=submit]');
}

async function signOut(page) {
  await page.click('#logout');
  await page.waitForSelector('#login-form', { timeout: 10000 });
}

try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', e => result.pageErrors.push(String(e)));

  await step('the sign-in page loads', async () => {
    await page.goto(`${base}/admin`);
    await page.waitForSelector('#login-form', { timeout: 15000 });
  });

  await step('sign-in endpoint exists (POST /api/session)', async () => {
    const { status } = await pageFetch(page, '/api/session', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user: 'nobody', password: 'x' }),
    });
    if (status === 404 || status === 405) throw new Error(`POST /api/session answered ${status}: the server has no session sign-in yet`);
  }, { critical: !DEV });

  await step('a wrong password shows an error', async () => {
    await page.fill('#login-user', 'admin');
    await page.fill('#login-password', 'definitely-wrong');
    await page.click('#login-form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#login-error')?.textContent.trim().length > 0, null, { timeout: 15000 });
    if (await page.$('#channel-table')) throw new Error('signed in with a wrong password');
  });

  await step('admin signs in (session cookie)', async () => {
    await page.fill('#login-password', adminPassword);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#channel-table tbody tr[data-id="demo"]', { timeout: 20000 });
  });

  await step('the session is a cookie with a CSRF token (GET /api/session)', async () => {
    const s = await pageFetch(page, '/api/session');
    if (s.status !== 200 || !s.body || s.body.role !== 'admin' || !s.body.csrf) throw new Error(`GET /api/session: ${JSON.stringify(s)}`);
  }, { critical: !DEV });

  await step('a state-changing request without the CSRF header is refused', async () => {
    const r = await pageFetch(page, '/api/channels/demo', {
      method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: '{}',
    });
    if (r.status !== 403) throw new Error(`PUT without X-CSRF-Token answered ${r.status}, not 403: ${JSON.stringify(r.body)}`);
  }, { critical: false });

  await step('the language switches to Chinese, is remembered, and back', async () => {
    await page.selectOption('#lang', 'zh');
    await page.waitForFunction(() => document.querySelector('#nav a[data-nav="channels"]')?.textContent === '频道', null, { timeout: 5000 });
    await page.reload();
    await page.waitForSelector('#channel-table, #login-form', { timeout: 15000 });
    if (await page.$('#login-form')) {
      // without a session cookie (HTTP Basic fallback) a reload signs out: check the form's language
      const h1 = await page.textContent('#login-form h1');
      if (h1 !== '登录 Atoll') throw new Error(`after reload the sign-in form says "${h1}"`);
      if (!DEV) throw new Error('a reload signed the user out (the session cookie did not keep the session)');
      await page.fill('#login-password', adminPassword);
      await page.click('#login-form button[type=submit]');
      await page.waitForSelector('#channel-table', { timeout: 15000 });
    }
    const nav = await page.textContent('#nav a[data-nav="channels"]');
    if (nav !== '频道') throw new Error(`after reload the nav says "${nav}"`);
    const lang = await page.evaluate(() => document.documentElement.lang);
    if (!lang.startsWith('zh')) throw new Error(`<html lang> is ${lang}`);
    await page.selectOption('#lang', 'en');
    await page.waitForFunction(() => document.querySelector('#nav a[data-nav="channels"]')?.textContent === 'Channels', null, { timeout: 5000 });
  });

  await step('validation errors name the field in the dialog', async () => {
    await page.click('#add-channel');
    await page.waitForSelector('#channel-dialog form');
    await page.fill('#channel-dialog input[name=id]', 'Bad ID!');
    await page.fill('#channel-dialog input[name=name]', NAME);
    await page.fill('#channel-dialog .source-row input.src', 'ftp://example/x');
    await page.click('#channel-dialog button[type=submit]');
    await page.waitForFunction(s => document.querySelector(s)?.textContent.trim().length > 0, fieldError('id'), { timeout: 5000 });
    const srcErr = await page.textContent(fieldError('sources'));
    if (!/ftp/.test(srcErr)) throw new Error(`the sources field says "${srcErr}"`);
    // a duplicate id is found by the server (409) and shown at the id field
    await page.fill('#channel-dialog input[name=id]', 'demo');
    await page.fill('#channel-dialog .source-row input.src', 'testsrc://?size=640x360&fps=25');
    await page.click('#channel-dialog button[type=submit]');
    await page.waitForFunction(s => /./.test(document.querySelector(s)?.textContent || ''), fieldError('id'), { timeout: 10000 });
    const idErr = await page.textContent(fieldError('id'));
    if (!/exist|duplicate|already|conflict/i.test(idErr)) throw new Error(`the id field says "${idErr}" for a duplicate id`);
  });

  await step('probe shows the source\'s codecs and resolution', async () => {
    await page.click('#channel-dialog .source-row button:has-text("Probe")');
    await page.waitForFunction(() => {
      const r = document.querySelector('#channel-dialog .probe-result');
      return r && (r.classList.contains('good') || r.classList.contains('bad'));
    }, null, { timeout: 20000 });
    const txt = await page.textContent('#channel-dialog .probe-result');
    if (!/640×360/.test(txt) || !/h264/i.test(txt)) throw new Error(`probe result: "${txt}"`);
  }, { critical: false });

  await step('add a channel with a testsrc:// source (recording off)', async () => {
    await page.fill('#channel-dialog input[name=id]', ID);
    await page.fill('#channel-dialog input[name=number]', '901');
    await page.fill('#channel-dialog input[name=group]', 'Tests');
    await page.uncheck('#channel-dialog input[name=record]');
    // the preferred audio language, picked by name
    const opt = await page.textContent('#channel-dialog select[name=audio_language] option[value=jpn]');
    if (opt !== 'Japanese (jpn)') throw new Error(`the Japanese option reads "${opt}"`);
    await page.selectOption('#channel-dialog select[name=audio_language]', 'jpn');
    await page.click('#channel-dialog button[type=submit]');
    await page.waitForSelector('#channel-dialog', { state: 'detached', timeout: 10000 });
    await page.waitForSelector(row, { timeout: 10000 });
    const r = await pageFetch(page, `/api/channels/${ID}`);
    if (r.body.audio_language !== 'jpn') throw new Error(`saved audio_language=${JSON.stringify(r.body.audio_language)}`);
  });

  await step('the channel turns live', async () => {
    await page.waitForSelector(`${row}[data-state="live"]`, { timeout: 40000 });
    const res = await page.textContent(`${row} td.c-state`);
    if (!/\d+×\d+/.test(res)) throw new Error(`state cell: "${res}"`);
  });

  let covered0 = 0;
  await step('start recording from the table', async () => {
    await page.click(`${row} button.rec-toggle.start`);
    await page.waitForSelector(`${row}[data-rec="recording"]`, { timeout: 15000 });
  });

  await step('the archive coverage bar shows the first recording', async () => {
    covered0 = await until('recorded seconds in the coverage bar', 60000, async () => {
      const v = +(await page.getAttribute(`${row} .timeline`, 'data-covered-s') || 0);
      return v > 0 ? v : 0;
    });
  });

  await step('the coverage bar grows', async () => {
    await until(`more than ${covered0} s in the coverage bar`, 60000, async () =>
      +(await page.getAttribute(`${row} .timeline`, 'data-covered-s') || 0) > covered0);
    await shot(page, 'admin-channels.png');
  });

  await step('edit the channel', async () => {
    await page.click(`${row} button.edit`);
    await page.waitForSelector('#channel-dialog form');
    const idRo = await page.getAttribute('#channel-dialog input[name=id]', 'readonly');
    if (idRo === null) throw new Error('the id is editable in the edit dialog');
    await page.fill('#channel-dialog input[name=name]', `${NAME} (edited)`);
    await page.fill('#channel-dialog input[name=number]', '902');
    // the saved language is shown; another one typed as a code: a bad one is named at the field
    const shown = await page.inputValue('#channel-dialog select[name=audio_language]');
    if (shown !== 'jpn') throw new Error(`the dialog shows audio language "${shown}"`);
    await page.selectOption('#channel-dialog select[name=audio_language]', '*other');
    await page.fill('#channel-dialog input[name=audio_language_other]', 'n1d');
    await page.click('#channel-dialog button[type=submit]');
    await page.waitForFunction(s => /ISO 639-2/.test(document.querySelector(s)?.textContent || ''), fieldError('audio_language'), { timeout: 5000 });
    await shot(page, 'admin-channel-dialog.png');
    await page.fill('#channel-dialog input[name=audio_language_other]', 'NLD');
    await page.click('#channel-dialog button[type=submit]');
    await page.waitForSelector('#channel-dialog', { state: 'detached', timeout: 10000 });
    const saved = await pageFetch(page, `/api/channels/${ID}`);
    if (saved.body.audio_language !== 'nld') throw new Error(`saved audio_language=${JSON.stringify(saved.body.audio_language)}`);
    await page.waitForFunction(s => /\(edited\)/.test(document.querySelector(s)?.textContent || '') , `${row} td.c-name`, { timeout: 10000 });
    const num = (await page.textContent(`${row} td.c-number`)).trim();
    if (num !== '902') throw new Error(`number cell says ${num}`);
  });

  await step('filter and sort the table', async () => {
    await page.fill('#ch-filter', 'edited');
    await page.waitForFunction(() => document.querySelectorAll('#channel-table tbody tr').length === 1, null, { timeout: 5000 });
    await page.fill('#ch-filter', '');
    await page.click('#channel-table th.c-number');
    await page.waitForFunction(() => document.querySelector('#channel-table tbody tr')?.dataset.id === 'ui-test', null, { timeout: 5000 });
    await page.click('#channel-table th.c-number');
  }, { critical: false });

  await step('stop recording asks first; cancelled, it keeps recording', async () => {
    await page.click(`${row} button.rec-toggle.stop`);
    await page.waitForSelector('dialog.modal button.danger', { timeout: 5000 });
    const q = await page.textContent('dialog.modal');
    if (!/gap/.test(q)) throw new Error(`the stop question says: ${q}`);
    await page.click('dialog.modal button:not(.danger):not(.x)');
    await page.waitForSelector('dialog.modal', { state: 'detached', timeout: 5000 });
    await new Promise(r => setTimeout(r, 3000)); // a refresh or two of the table
    const rec = await page.getAttribute(row, 'data-rec');
    if (rec !== 'recording') throw new Error(`after Cancel the recording is "${rec}"`);
    const r = await pageFetch(page, `/api/channels/${ID}`);
    if (r.body.record !== true) throw new Error(`after Cancel the server says record=${r.body.record}`);
  });

  await step('stop recording', async () => {
    await page.click(`${row} button.rec-toggle.stop`);
    await page.click('dialog.modal button.danger');
    await page.waitForSelector(`${row}[data-rec="stopped"]`, { timeout: 15000 });
  });

  await step('the channel page shows preview, timeline and status history', async () => {
    await page.click(`${row} td.c-name a`);
    await page.waitForSelector('#channel-timeline');
    await until('recorded seconds on the channel timeline', 20000, async () =>
      +(await page.getAttribute('#channel-timeline', 'data-covered-s') || 0) > 0);
    await until('the preview playing', 30000, async () =>
      page.evaluate(() => (document.querySelector('video.preview')?.currentTime || 0) > 1));
    await until('events in the status history', 15000, async () =>
      page.evaluate(() => document.querySelectorAll('#event-log tbody tr').length > 0));
    await shot(page, 'admin-channel.png');
  }, { critical: false });

  await step('the system page shows the clock, CPU, memory and disks', async () => {
    await page.goto(`${base}/admin#/system`);
    await page.waitForSelector('#sys-clock .bigclock', { timeout: 15000 });
    await page.waitForSelector('#sys-channels tbody tr', { timeout: 10000 });
    await shot(page, 'admin-system.png');
  }, { critical: false });

  await step('delete the channel, removing its recordings', async () => {
    await page.goto(`${base}/admin#/channels`);
    await page.waitForSelector(row);
    await page.click(`${row} button.del`);
    await page.waitForSelector('#delete-dialog');
    const text = await page.textContent('#delete-dialog');
    if (!/retention/i.test(text)) throw new Error(`the delete dialog does not say what happens to the archive: ${text}`);
    await page.check('#delete-dialog input[value=remove]');
    await page.click('#delete-dialog button.danger');
    await page.waitForSelector(row, { state: 'detached', timeout: 10000 });
    const { status: st } = await pageFetch(page, `/api/channels/${ID}`);
    if (st !== 404 && !DEV) throw new Error(`GET the deleted channel answered ${st}`);
  });

  await step('admin adds an operator account', async () => {
    await page.goto(`${base}/admin#/users`);
    await page.click('#add-user');
    await page.waitForSelector('#user-dialog form');
    await page.fill('#user-dialog input[name=name]', 'op1');
    await page.selectOption('#user-dialog select[name=role]', 'operator');
    await page.fill('#user-dialog input[name=password]', 'operator-pw-1');
    await page.click('#user-dialog button[type=submit]');
    await page.waitForSelector('#users-table tr[data-name="op1"]', { timeout: 10000 });
  }, { critical: !DEV });

  await step('a role change asks first: cancelled it changes nothing, confirmed it applies', async () => {
    const sel = '#users-table tr[data-name="op1"] select';
    const roleOf = async () => (await pageFetch(page, '/api/users')).body.find(u => u.name === 'op1')?.role;
    // giving admin rights
    await page.selectOption(sel, 'admin');
    await page.waitForSelector('dialog.modal', { timeout: 5000 });
    await page.click('dialog.modal button:not(.primary):not(.danger):not(.x)');
    await page.waitForSelector('dialog.modal', { state: 'detached', timeout: 5000 });
    if (await page.inputValue(sel) !== 'operator') throw new Error('after Cancel the dropdown shows admin');
    if (await roleOf() !== 'operator') throw new Error('Cancel changed the role');
    await page.selectOption(sel, 'admin');
    await page.click('dialog.modal button.primary');
    await until('op1 an admin', 10000, async () => (await roleOf()) === 'admin');
    // taking them away: a warning, then back to operator
    await page.waitForFunction(s => document.querySelector(s)?.value === 'admin', sel, { timeout: 10000 });
    await page.selectOption(sel, 'operator');
    await page.waitForSelector('dialog.modal button.danger', { timeout: 5000 });
    const q = await page.textContent('dialog.modal');
    if (!/no longer/.test(q)) throw new Error(`the demotion question says: ${q}`);
    await page.click('dialog.modal button.danger');
    await until('op1 an operator again', 10000, async () => (await roleOf()) === 'operator');
    // disabling asks too (cancelled here)
    await page.waitForFunction(s => document.querySelector(s)?.value === 'operator', sel, { timeout: 10000 });
    await page.click('#users-table tr[data-name="op1"] button.danger');
    await page.waitForSelector('dialog.modal', { timeout: 5000 });
    await page.click('dialog.modal button:not(.danger):not(.x)');
    const u = (await pageFetch(page, '/api/users')).body.find(x => x.name === 'op1');
    if (u.disabled) throw new Error('Cancel disabled the account');
  }, { critical: !DEV });

  await step('an operator cannot see Users', async () => {
    await signOut(page);
    await signIn(page, 'op1', 'operator-pw-1');
    await page.waitForSelector('#channel-table', { timeout: 15000 });
    if (await page.$('#nav a[data-nav="users"]')) throw new Error('the Users link is shown to an operator');
    if (await page.$('#nav a[data-nav="audit"]')) throw new Error('the Audit link is shown to an operator');
    const { status: st } = await pageFetch(page, '/api/users');
    if (st !== 403) throw new Error(`GET /api/users as operator answered ${st}`);
    await signOut(page);
  }, { critical: !DEV });
} catch (e) {
  result.error = String(e && e.message || e);
} finally {
  clearTimeout(killer);
  await browser.close().catch(() => {});
  finish();
}
