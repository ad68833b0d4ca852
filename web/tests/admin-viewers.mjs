// The console's Viewers page (viewer accounts for IPTV apps) in headless Chromium: sign in, open
// Viewers from the navigation, the help box (this server's URL, the viewer_accounts setting), both
// languages; add an account through the dialog (a missing password refused next to its field, a
// reserved name refused by the server next to its field, a generated password and the account's
// M3U link), see it listed, see the table refresh by itself (an expired account added through the
// API shows up in red), edit its max connections, count an app's connection (an MPEG-TS stream
// opened with the account), import a CSV (counts, the generated passwords and their download), a
// CSV with a bad line refused with its line number and nothing changed, disable an account in its
// row, search, delete one with confirmation, and export the CSV.
//
// Usage: node admin-viewers.mjs BASE_URL ADMIN_PASSWORD SCREENSHOT_DIR GOOD_CSV BAD_CSV
// Prints one JSON line: {"ok","steps":[{"name","ok","ms","error"?}],"screenshots","error","pageErrors",
// "added":{username,password,expires,vod_category},"generated":[{username,password}],"downloaded","refusedLines",
// "deleted","export","viewers"}
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [base, adminPassword, shotDir, goodCsv, badCsv] = process.argv.slice(2);
const budgetS = +(process.env.ADMIN_TEST_BUDGET_S || 240);
const result = {
  ok: false, steps: [], screenshots: [], error: null, pageErrors: [],
  added: null, generated: null, downloaded: null, refusedLines: null, deleted: null, export: null, viewers: null,
};
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

/** fetch() inside the page (with its session cookie), capped at 8 s. */
async function pageFetch(page, url, init = {}) {
  return page.evaluate(async ([url, init]) => {
    try {
      const r = await fetch(url, { ...init, signal: AbortSignal.timeout(8000) });
      const text = await r.text();
      let body = null;
      try { body = JSON.parse(text); } catch (_) { body = text.slice(0, 200); }
      return { status: r.status, body };
    } catch (e) {
      return { status: 0, body: String(e) };
    }
  }, [url, init]);
}

/** A state-changing API call from the page: JSON body and the session's CSRF header. */
async function pageSend(page, method, url, body) {
  const s = await pageFetch(page, '/api/session');
  const csrf = (s.body && s.body.csrf) || '';
  return pageFetch(page, url, {
    method,
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf, 'X-Requested-With': 'atoll-console' },
    body: JSON.stringify(body),
  });
}

/** Clicks `selector` and returns the text of the file the page downloads. */
async function downloadOf(page, selector) {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }), page.click(selector)]);
  const p = await dl.path();
  return { name: dl.suggestedFilename(), text: fs.readFileSync(p, 'utf8') };
}

const row = u => `#viewer-table tr[data-username="${u}"]`;
const cell = (u, c) => `${row(u)} td.c-${c}`;
const dlg = '#viewer-dialog';
const pad = n => String(n).padStart(2, '0');
const dateIn = days => {
  const d = new Date(Date.now() + days * 86400_000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
};
const USER = 'cabin-101';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

let stream = null; // an app's open MPEG-TS stream (Node fetch), closed at the end
try {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US', acceptDownloads: true });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', e => result.pageErrors.push(String(e)));
  const origin = new URL(base).origin;

  await step('sign in and open Viewers from the navigation (next to Users)', async () => {
    await page.goto(`${base}/admin#/channels`);
    await page.waitForSelector('#login-form', { timeout: 15000 });
    await page.fill('#login-user', 'admin');
    await page.fill('#login-password', adminPassword);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('nav.main a[data-nav="viewers"]', { timeout: 15000 });
    const label = (await page.textContent('nav.main a[data-nav="viewers"]')).trim();
    if (label !== 'Viewers') throw new Error(`navigation label: ${label}`);
    const next = await page.$eval('nav.main a[data-nav="viewers"]', a => a.nextElementSibling && a.nextElementSibling.dataset.nav);
    if (next !== 'users') throw new Error(`the link after Viewers is ${next}, not Users`);
    await page.click('nav.main a[data-nav="viewers"]');
    await page.waitForSelector('nav.main a[data-nav="viewers"].on');
    await page.waitForSelector('#viewer-table');
    await page.waitForFunction(() => {
      const e = document.querySelector('#viewer-empty');
      return e && !e.hidden && e.textContent.length > 0;
    });
    if (!page.url().endsWith('#/viewers')) throw new Error(`URL: ${page.url()}`);
  });

  await step('the help box gives this server\'s URL and the viewer_accounts setting', async () => {
    const v = await page.inputValue('#viewer-origin');
    if (v !== origin) throw new Error(`server URL shown: ${v}, expected ${origin}`);
    const text = await page.textContent('#viewer-help');
    if (!text.includes('viewer_accounts = true') || !/Xtream Codes/.test(text) || !/404/.test(text)) throw new Error(`help: ${text}`);
  });

  await step('the page is in Chinese too', async () => {
    await page.selectOption('#lang', 'zh');
    await page.waitForFunction(() => document.querySelector('nav.main a[data-nav="viewers"]')?.textContent === '观众账号'
      && document.querySelector('.page-viewers h1')?.textContent === '观众账号');
    const heads = await page.$$eval('#viewer-table th', ths => ths.map(th => th.textContent).join('|'));
    if (!heads.includes('用户名') || !heads.includes('当前连接')) throw new Error(`headers: ${heads}`);
    await page.selectOption('#lang', 'en');
    await page.waitForFunction(() => document.querySelector('.page-viewers h1')?.textContent === 'Viewer accounts');
  });

  let password = null;
  let vodCategory = null;
  const expires = dateIn(30);
  await step('add: a missing password and a reserved name are refused next to their fields, then saved', async () => {
    await page.click('#add-viewer');
    await page.waitForSelector(dlg);
    // the channel groups of the lineup are offered
    const groups = await page.$$eval(`${dlg} .field[data-field="groups"] input[type=checkbox]`, els => els.map(e => e.value));
    if (!groups.includes('Demo') || !groups.includes('News')) throw new Error(`groups offered: ${groups}`);
    // and the library's categories, in the server's order
    const cats = await page.$$eval(`${dlg} .field[data-field="vod_categories"] input[type=checkbox]`, els => els.map(e => e.value));
    const lib = await pageFetch(page, '/api/vod/categories');
    const libCats = ((lib.body && lib.body.categories) || []).map(c => c.name);
    if (cats.join('|') !== libCats.join('|')) throw new Error(`VOD categories offered: ${cats}, the library has ${libCats}`);
    await page.fill(`${dlg} input[name=username]`, USER);
    await page.click(`${dlg} button[type=submit]`);
    await page.waitForSelector(`${dlg} .field[data-field="password"].invalid`, { timeout: 5000 });
    // a generated password: 10 characters, shown in clear
    await page.click('#viewer-pw-generate');
    password = await page.inputValue(`${dlg} input[name=password]`);
    const type = await page.getAttribute(`${dlg} input[name=password]`, 'type');
    if (!/^[A-Za-z0-9]{10}$/.test(password) || type !== 'text') throw new Error(`generated password "${password}" in a ${type} input`);
    if (await page.$(`${dlg} .field.invalid`)) throw new Error('the password error stayed after generating one');
    // "live" is reserved: the server's 400 names the field, shown next to it
    await page.fill(`${dlg} input[name=username]`, 'live');
    await page.click(`${dlg} button[type=submit]`);
    await page.waitForSelector(`${dlg} .field[data-field="username"].invalid`, { timeout: 8000 });
    const msg = (await page.textContent(`${dlg} .field[data-field="username"] .field-error`)).trim();
    if (!msg) throw new Error('no message at the username field');
    const invalid = await page.$$eval(`${dlg} .field.invalid`, els => els.map(e => e.dataset.field));
    if (invalid.join() !== 'username') throw new Error(`invalid fields: ${invalid}`);
    // the real account
    await page.fill(`${dlg} input[name=username]`, USER);
    const link = await page.inputValue('#viewer-m3u');
    const want = `${origin}/get.php?username=${USER}&password=${password}&type=m3u_plus&output=ts`;
    if (link !== want) throw new Error(`M3U link: ${link}, expected ${want}`);
    await page.fill(`${dlg} input[name=max_connections]`, '2');
    await page.fill(`${dlg} input[name=expires]`, expires);
    await page.check(`${dlg} .field[data-field="groups"] input[value="Demo"]`);
    if (cats.length) {
      vodCategory = cats[0];
      await page.check(`${dlg} .field[data-field="vod_categories"] input[value="${vodCategory}"]`);
    }
    await page.fill(`${dlg} input[name=note]`, 'Deck 3, cabin 101');
    await shot(page, 'admin-viewers-dialog.png');
    await page.click(`${dlg} button[type=submit]`);
    await page.waitForSelector(dlg, { state: 'detached', timeout: 8000 });
    result.added = { username: USER, password, expires, vod_category: vodCategory };
  });

  await step('the account is listed with its settings', async () => {
    await page.waitForSelector(row(USER), { timeout: 8000 });
    const c = await page.$eval(row(USER), tr => Object.fromEntries([...tr.cells].map(td => [td.className.split(' ')[0], td.textContent.trim()])));
    if (c['c-max'] !== '2') throw new Error(`max connections: ${c['c-max']}`);
    if (c['c-active'] !== '0') throw new Error(`active: ${c['c-active']}`);
    if (!c['c-expires'].includes(expires)) throw new Error(`expires: ${c['c-expires']}`);
    if (!c['c-packages'].includes('Demo') || (vodCategory && !c['c-packages'].includes(vodCategory))) throw new Error(`packages: ${c['c-packages']}`);
    if (c['c-note'] !== 'Deck 3, cabin 101') throw new Error(`note: ${c['c-note']}`);
    if (c['c-last_seen'] !== 'never') throw new Error(`last seen: ${c['c-last_seen']}`);
    if (!(await page.isChecked(`${row(USER)} input.enabled-toggle`))) throw new Error('not shown enabled');
    const r = await pageFetch(page, `/api/viewers/${USER}`);
    if (r.status !== 200 || r.body.max_connections !== 2 || r.body.expires !== expires
      || JSON.stringify(r.body.packages) !== JSON.stringify({ groups: ['Demo'], vod_categories: vodCategory ? [vodCategory] : [] })) {
      throw new Error(`GET /api/viewers/${USER}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    if (JSON.stringify(r.body).includes(password)) throw new Error('the API shows the password');
  });

  await step('the table refreshes by itself: an expired account added through the API shows up in red', async () => {
    const r = await pageSend(page, 'POST', '/api/viewers', { username: 'old-cabin', password: 'old-password', expires: '2020-01-01', note: 'last season' });
    if (r.status !== 201) throw new Error(`POST /api/viewers: ${r.status} ${JSON.stringify(r.body)}`);
    await page.waitForSelector(`${cell('old-cabin', 'expires')}.expired`, { timeout: 12000 });
    const color = await page.$eval(cell('old-cabin', 'expires'), td => getComputedStyle(td).color);
    if (color !== 'rgb(180, 35, 24)') throw new Error(`expired date colour: ${color}`);
    const ok = await page.$eval(cell(USER, 'expires'), td => td.classList.contains('expired'));
    if (ok) throw new Error(`${USER} is shown expired`);
  });

  await step('edit: the user name is read-only, the password kept, max connections changed to 3', async () => {
    await page.click(`${row(USER)} button.edit`);
    await page.waitForSelector(dlg);
    if (!(await page.$eval(`${dlg} input[name=username]`, i => i.readOnly))) throw new Error('the user name can be edited');
    if (await page.inputValue(`${dlg} input[name=password]`) !== '') throw new Error('the password field is not empty');
    if (!(await page.isHidden('#viewer-m3u'))) throw new Error('an M3U link without a password');
    if (await page.inputValue(`${dlg} input[name=max_connections]`) !== '2') throw new Error('max connections not filled in');
    if (await page.inputValue(`${dlg} input[name=expires]`) !== expires) throw new Error('expiry not filled in');
    if (!(await page.isChecked(`${dlg} .field[data-field="groups"] input[value="Demo"]`))) throw new Error('group Demo not ticked');
    // focus starts in the first editable field (the password); Esc-free keyboard path: type, Enter
    const focused = await page.evaluate(() => document.activeElement && document.activeElement.name);
    if (focused !== 'password') throw new Error(`focus on ${focused}`);
    await page.fill(`${dlg} input[name=max_connections]`, '3');
    await page.press(`${dlg} input[name=max_connections]`, 'Enter');
    await page.waitForSelector(dlg, { state: 'detached', timeout: 8000 });
    await page.waitForFunction(s => document.querySelector(s)?.textContent === '3', cell(USER, 'max'), { timeout: 8000 });
    const r = await pageFetch(page, `/api/viewers/${USER}`);
    if (r.body.max_connections !== 3 || r.body.expires !== expires || r.body.note !== 'Deck 3, cabin 101'
      || JSON.stringify(r.body.packages.groups) !== '["Demo"]') {
      throw new Error(`after the edit: ${JSON.stringify(r.body)}`);
    }
  });

  await step('an app\'s open stream is counted in the Active column (5 s refresh)', async () => {
    const q = `username=${encodeURIComponent(USER)}&password=${encodeURIComponent(password)}`;
    const lr = await fetch(`${base}/player_api.php?${q}&action=get_live_streams`, { signal: AbortSignal.timeout(8000) });
    if (lr.status !== 200) throw new Error(`get_live_streams: ${lr.status} ${await lr.text()}`);
    const streams = await lr.json();
    const demo = streams.find(s => s.epg_channel_id === 'demo') || streams[0];
    if (!demo) throw new Error(`no stream: ${JSON.stringify(streams).slice(0, 300)}`);
    const ac = new AbortController();
    const res = await fetch(`${base}/${encodeURIComponent(USER)}/${encodeURIComponent(password)}/${demo.stream_id}`, { signal: ac.signal });
    if (res.status !== 200) throw new Error(`the stream answered ${res.status}`);
    const reader = res.body.getReader();
    stream = { ac, reader };
    const first = await reader.read();
    if (first.done || !first.value.length) throw new Error('the stream sent nothing');
    // keep reading in the background so the server never blocks on a full socket
    (async () => { try { for (;;) { const r = await reader.read(); if (r.done) break; } } catch (_) { /* aborted */ } })();
    await page.waitForFunction(s => document.querySelector(s)?.textContent === '1', cell(USER, 'active'), { timeout: 15000 });
    ac.abort();
    stream = null;
  }, { critical: false });

  await step('import a CSV: counts, the generated passwords, and their download', async () => {
    await page.click('#viewer-import');
    await page.waitForSelector('#viewer-import-dialog');
    await page.setInputFiles('#viewer-import-file', goodCsv);
    await page.waitForSelector('#viewer-import-counts', { timeout: 10000 });
    const counts = (await page.textContent('#viewer-import-counts')).trim();
    if (counts !== '3 created, 0 updated.') throw new Error(`counts: ${counts}`);
    const gen = await page.$$eval('#viewer-generated tbody tr', trs => trs.map(tr => ({ username: tr.cells[0].textContent, password: tr.cells[1].textContent })));
    if (gen.map(g => g.username).join() !== 'cabin-202,cabin-203' || !gen.every(g => g.password.length > 0)) {
      throw new Error(`generated: ${JSON.stringify(gen)}`);
    }
    result.generated = gen;
    const d = await downloadOf(page, '#viewer-generated-download');
    result.downloaded = d.text;
    const lines = d.text.trim().split(/\r?\n/);
    const want = ['username,password', ...gen.map(g => `${g.username},${g.password}`)];
    if (lines.join('\n') !== want.join('\n') || !d.name.endsWith('.csv')) throw new Error(`download ${d.name}: ${JSON.stringify(d.text)}`);
  });

  await step('a CSV with a bad line is refused with its line number, and nothing changes', async () => {
    await page.setInputFiles('#viewer-import-file', badCsv);
    await page.waitForSelector('#viewer-import-refused', { timeout: 10000 });
    const lines = await page.$$eval('#viewer-import-errors tbody tr', trs => trs.map(tr => ({ line: +tr.cells[0].textContent, message: tr.cells[1].textContent })));
    // lines are counted from the header (line 1): the bad one is line 3
    if (lines.length !== 1 || lines[0].line !== 3 || !lines[0].message) throw new Error(`errors shown: ${JSON.stringify(lines)}`);
    if (await page.$('#viewer-generated')) throw new Error('the earlier result stayed');
    result.refusedLines = lines;
    const r = await pageFetch(page, '/api/viewers/cabin-301');
    if (r.status !== 404) throw new Error(`cabin-301 (a good line of the refused file) answered ${r.status}`);
    await page.click('#viewer-import-close');
    await page.waitForSelector('#viewer-import-dialog', { state: 'detached' });
    for (const u of ['cabin-201', 'cabin-202', 'cabin-203']) await page.waitForSelector(row(u), { timeout: 8000 });
    const pk = (await page.textContent(cell('cabin-201', 'packages'))).trim();
    if (!pk.includes('Demo, News')) throw new Error(`cabin-201 packages: ${pk}`);
    const all = (await page.textContent(cell('cabin-202', 'packages'))).trim();
    if (all !== 'all') throw new Error(`cabin-202 packages: ${all}`);
  });

  await step('disable an account with its row toggle', async () => {
    await page.click(`${row('cabin-203')} input.enabled-toggle`);
    await page.waitForSelector(`${row('cabin-203')}.off`, { timeout: 8000 });
    if (await page.isChecked(`${row('cabin-203')} input.enabled-toggle`)) throw new Error('still shown enabled');
    const r = await pageFetch(page, '/api/viewers/cabin-203');
    if (r.body.enabled !== false) throw new Error(`GET /api/viewers/cabin-203: ${JSON.stringify(r.body)}`);
  });

  await step('search filters by user name and note', async () => {
    const visible = () => page.$$eval('#viewer-table tbody tr', trs => trs.filter(tr => !tr.hidden).map(tr => tr.dataset.username).join());
    await page.fill('#viewer-q', 'deck 2');
    if (await visible() !== 'cabin-201,cabin-202,cabin-203') throw new Error(`"deck 2" shows ${await visible()}`);
    await page.fill('#viewer-q', 'CABIN-1');
    if (await visible() !== USER) throw new Error(`"CABIN-1" shows ${await visible()}`);
    await page.fill('#viewer-q', 'nobody-like-this');
    if (await visible() !== '' || await page.isHidden('#viewer-empty')) throw new Error('no "no match" message');
    await page.fill('#viewer-q', '');
    if ((await visible()).split(',').length !== 5) throw new Error(`all rows: ${await visible()}`);
  });

  await step('delete an account (with confirmation)', async () => {
    await page.click(`${row('cabin-202')} button.del`);
    await page.waitForSelector('dialog.modal button.danger');
    await page.click('dialog.modal button.danger');
    await page.waitForSelector(row('cabin-202'), { state: 'detached', timeout: 10000 });
    const r = await pageFetch(page, '/api/viewers/cabin-202');
    if (r.status !== 404) throw new Error(`GET /api/viewers/cabin-202 after delete: ${r.status}`);
    result.deleted = 'cabin-202';
  });

  await step('export CSV downloads every account, without passwords', async () => {
    const d = await downloadOf(page, '#viewer-export');
    result.export = d.text;
    const lines = d.text.trim().split(/\r?\n/);
    if (lines[0] !== 'username,password,enabled,expires,max_connections,groups,vod_categories,note') throw new Error(`header: ${lines[0]}`);
    const mine = lines.find(l => l.startsWith(`${USER},`));
    if (!mine || mine.split(',')[1] !== '') throw new Error(`${USER}'s line: ${mine}`);
    if (d.text.includes(password)) throw new Error('the export holds a password');
    await shot(page, 'admin-viewers.png');
  });

  const r = await pageFetch(page, '/api/viewers');
  result.viewers = r.body;
} catch (e) {
  result.error = String(e && e.message || e).split('\n')[0];
} finally {
  clearTimeout(killer);
  if (stream) stream.ac.abort();
  await browser.close();
  finish();
}
