// The console's tables and messages at 1366×768 (English, then Chinese): every row's buttons are
// inside the visible table (Channels, EPG sources), error messages read like sentences (sources
// counted from 1, only the bad source red, no stale error after an edit, a taken number names its
// channel, the import report counts entries from 1 and "1 error"), a lockout says minutes, the
// guide's unmatched XMLTV ids are shown and suggested in the channel's EPG id field, and the API
// tokens list updates "Last used" by itself.
//
// Usage: node admin-tables.mjs BASE_URL ADMIN_PASSWORD SCREENSHOT_DIR API_TOKEN
// The server is set up by tests/admin_ui.rs: channels (one numbered 7, named "News Channel"), an
// EPG source whose guide has ids no channel uses (news.example, sport.example), an operator
// "victim" (password victim-password) and an API token of admin's never used yet.
// Prints one JSON line: {"ok":bool,"steps":[…],"screenshots":[…],"error":…}
import { chromium } from 'playwright-core';
import path from 'node:path';

const [base, adminPassword, shotDir, apiToken] = process.argv.slice(2);
const budgetS = +(process.env.ADMIN_TEST_BUDGET_S || 180);
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

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

/** Runs every step; a failed one is recorded and the run goes on (each step starts from a URL). */
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    result.steps.push({ name, ok: true, ms: Date.now() - t0 });
  } catch (e) {
    const msg = String(e && e.message || e).split('\n').slice(0, 4).join(' | ');
    result.steps.push({ name, ok: false, ms: Date.now() - t0, error: msg });
  }
}

async function shot(page, file) {
  const p = path.join(shotDir, file);
  await page.screenshot({ path: p, fullPage: true });
  result.screenshots.push(p);
}

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

const text = (page, sel) => page.evaluate(s => document.querySelector(s)?.textContent ?? null, sel);

async function signIn(page, user, password) {
  await page.goto(`${base}/admin#/channels`);
  await page.waitForSelector('#login-form');
  await page.fill('#login-user', user);
  await page.fill('#login-password', password);
  await page.click('#login-form button[type=submit]');
}

async function setLang(page, lang) {
  await page.selectOption('#lang', lang);
  const want = lang === 'zh' ? '频道' : 'Channels';
  await page.waitForFunction(w => document.querySelector('#nav a[data-nav="channels"]')?.textContent === w, want, { timeout: 5000 });
}

/** Buttons of `rows` that are not wholly inside the table's visible box and the window. */
async function clippedButtons(page, rows) {
  return page.evaluate(sel => {
    const out = [];
    for (const b of document.querySelectorAll(`${sel} button`)) {
      const wrap = b.closest('.table-wrap') || document.body;
      const w = wrap.getBoundingClientRect();
      const r = b.getBoundingClientRect();
      if (r.right > Math.min(w.right, window.innerWidth) + 0.5 || r.left < w.left - 0.5) out.push(`${b.textContent} (${Math.round(r.left)}–${Math.round(r.right)} px, table ${Math.round(w.left)}–${Math.round(w.right)})`);
    }
    return out;
  }, rows);
}

try {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'en-US' });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', e => result.pageErrors.push(String(e)));

  await step('a lockout says how long in minutes, not "294 s"', async () => {
    let msg = '';
    for (let i = 0; i < 7 && !/Too many/.test(msg); i++) {
      await signIn(page, 'victim', 'wrong-password');
      await page.waitForFunction(() => document.querySelector('#login-error')?.textContent.trim().length > 0, null, { timeout: 15000 });
      msg = await text(page, '#login-error');
    }
    if (!/Try again in \d+ min\./.test(msg) || /\d{3} s/.test(msg)) throw new Error(`the lockout says "${msg}"`);
  });

  await step('admin signs in', async () => {
    await signIn(page, 'admin', adminPassword);
    await page.waitForSelector('#channel-table tbody tr[data-id="demo"]', { timeout: 20000 });
  });

  for (const lang of ['en', 'zh']) {
    await step(`every channel row's Edit and Delete are visible at 1366 px (${lang})`, async () => {
      await page.goto(`${base}/admin#/channels`);
      if (lang === 'zh') await setLang(page, 'zh');
      await page.waitForSelector('#channel-table tbody tr[data-id="news"] button.del');
      await until('the failing channel\'s error in its row', 20000, async () => (await text(page, '#channel-table tr[data-id="movies"] td.c-state .err')) || null);
      const bad = await clippedButtons(page, '#channel-table tbody tr');
      // and the top bar: every page's link wholly visible
      const nav = await page.evaluate(() => {
        const n = document.querySelector('nav.main').getBoundingClientRect();
        return [...document.querySelectorAll('nav.main a')].filter(a => a.getBoundingClientRect().right > n.right + 0.5).map(a => a.textContent);
      });
      if (nav.length) bad.push(`top bar links cut: ${nav.join(', ')}`);
      await shot(page, `admin-channels-1366-${lang}.png`);
      if (bad.length) throw new Error(`clipped: ${bad.join('; ')}`);
    });

    await step(`every EPG source row's buttons are visible and the unmatched ids shown (${lang})`, async () => {
      await page.goto(`${base}/admin#/epg`);
      const row = '#epg-table tbody tr[data-id]';
      await until('the guide synced', 20000, async () => /news\.example/.test(await text(page, `${row} .unmatched`) || ''));
      const shown = await page.evaluate(s => { const e = document.querySelector(s); const r = e?.getBoundingClientRect(); return r && r.width > 0 && r.height > 0 ? e.textContent : null; }, `${row} .unmatched`);
      if (!/news\.example/.test(shown || '') || !/sport\.example/.test(shown || '')) throw new Error(`unmatched ids shown: "${shown}"`);
      const bad = await clippedButtons(page, row);
      await shot(page, `admin-epg-1366-${lang}.png`);
      if (bad.length) throw new Error(`clipped: ${bad.join('; ')}`);
    });
    if (lang === 'zh') await setLang(page, 'en');
  }

  await step('the EPG id field suggests the guide\'s unmatched ids', async () => {
    await page.goto(`${base}/admin#/channels`);
    await page.click('#add-channel');
    await page.waitForSelector('#channel-dialog form');
    const list = await page.getAttribute('#channel-dialog input[name=epg_id]', 'list');
    const opts = await until('suggestions', 5000, async () => page.evaluate(id => [...(document.getElementById(id)?.options || [])].map(o => o.value), list));
    if (!opts.includes('news.example') || !opts.includes('sport.example')) throw new Error(`suggested: ${JSON.stringify(opts)}`);
  });

  await step('a bad second source: "Source 2", only that one red, the error goes when it is edited', async () => {
    // the dialog from the step before
    await page.fill('#channel-dialog input[name=id]', 'tables-test');
    await page.fill('#channel-dialog input[name=name]', 'Tables Test');
    await page.fill('#channel-dialog .source-row input.src', 'udp://@239.1.1.1:1234');
    await page.click('#channel-dialog button:has-text("Add source")');
    await page.fill('#channel-dialog .source-row:nth-child(2) input.src', 'ftp://example/x');
    await page.click('#channel-dialog button[type=submit]');
    const err = '#channel-dialog .field[data-field="sources"] .field-error';
    await page.waitForFunction(s => document.querySelector(s)?.textContent.length > 0, err, { timeout: 5000 });
    const msg = await text(page, err);
    if (!/^Source 2 \(ftp:\/\/example\/x\)/.test(msg) || /sources\[/.test(msg)) throw new Error(`the sources error says "${msg}"`);
    const borders = await page.$$eval('#channel-dialog input.src', l => l.map(i => getComputedStyle(i).borderTopColor));
    if (borders[0] === borders[1]) throw new Error(`both sources have the border ${borders[0]}`);
    await page.fill('#channel-dialog .source-row:nth-child(2) input.src', 'udp://@239.1.1.2:1234');
    const after = await text(page, err);
    if (after) throw new Error(`after the edit the field still says "${after}"`);
  });

  await step('a taken number names the channel that has it', async () => {
    await page.fill('#channel-dialog input[name=number]', '7');
    await page.click('#channel-dialog button[type=submit]');
    const err = '#channel-dialog .field[data-field="number"] .field-error';
    await page.waitForFunction(s => document.querySelector(s)?.textContent.length > 0, err, { timeout: 10000 });
    const msg = await text(page, err);
    if (!/News Channel/.test(msg) || !/\bnews\b/.test(msg)) throw new Error(`the number error says "${msg}"`);
    await page.click('#channel-dialog button:has-text("Cancel")');
  });

  await step('the import report counts entries from 1 and says "1 error"', async () => {
    await page.goto(`${base}/admin#/import`);
    const lineup = { channels: [
      { id: 'imp-a', name: 'Import A', sources: ['testsrc://'], active: false },
      { id: 'imp-b', name: 'Import B', sources: ['testsrc://'], active: false },
      { id: 'imp-c', name: 'Import C', sources: ['ftp://nowhere/x'], active: false },
    ] };
    await page.fill('#import-text', JSON.stringify(lineup));
    await page.click('#import-btn');
    await page.waitForSelector('#import-errors tbody tr', { timeout: 10000 });
    const summary = await text(page, '#import-result p');
    if (!/1 error\b/.test(summary) || /1 errors/.test(summary)) throw new Error(`summary "${summary}"`);
    const cells = await page.$$eval('#import-errors tbody tr td', l => l.map(td => td.textContent));
    if (cells[0] !== '3' || cells[1] !== 'imp-c') throw new Error(`the error row says ${JSON.stringify(cells)}`);
    if (/sources\[/.test(cells[3])) throw new Error(`the problem says "${cells[3]}"`);
    await shot(page, 'admin-import-1366-en.png');
  });

  await step('the API tokens list updates "Last used" by itself', async () => {
    await page.goto(`${base}/admin#/tokens`);
    const cell = '#tokens-table tbody tr[data-name="tables-token"] td.last-used';
    await page.waitForSelector(cell);
    if ((await text(page, cell)) !== 'never') throw new Error(`before use: "${await text(page, cell)}"`);
    // a script uses the token (not through this page)
    const r = await fetch(`${base}/api/channels`, { headers: { Authorization: `Bearer ${apiToken}` } });
    if (r.status !== 200) throw new Error(`the token answered ${r.status}`);
    await until('"Last used" without a reload', 20000, async () => /\d\d:\d\d/.test(await text(page, cell) || ''));
  });
} catch (e) {
  result.error = String(e && e.message || e);
} finally {
  clearTimeout(killer);
  await browser.close().catch(() => {});
  finish();
}
