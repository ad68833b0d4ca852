// The console's operations views: the system page shows the kernel's clock synchronisation
// (a warning when unsynchronised or off by more than a second), and the Log page lists the
// server's last warnings (with the channel and the reason) and changes the log level at run time.
//
// Usage: node admin-ops.mjs BASE_URL ADMIN_PASSWORD SCREENSHOT_DIR EXPECT_SYNC [LOG_TEXT] [LANG]
//   EXPECT_SYNC: synchronized | unsynchronized | error — what #sys-sync must say (any: skip)
//   LOG_TEXT: a text one of the warnings on the Log page must contain ('' = skip the Log page)
//   LANG: en (default) or zh — the console's language
// Prints one JSON line: {"ok":bool,"steps":[{"name","ok","ms","error"?}],"screenshots":[…],"error":…}
import { chromium } from 'playwright-core';
import path from 'node:path';

const [base, adminPassword, shotDir, expectSync, logText = '', lang = 'en'] = process.argv.slice(2);
const result = { ok: false, steps: [], screenshots: [], error: null, pageErrors: [], texts: {} };
const finish = () => {
  result.ok = !result.error && result.steps.length > 0 && result.steps.every(s => s.ok);
  console.log(JSON.stringify(result));
};
const killer = setTimeout(() => { result.error = 'the run took longer than 90 s'; finish(); process.exit(1); }, 90_000);

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    result.steps.push({ name, ok: true, ms: Date.now() - t0 });
  } catch (e) {
    result.steps.push({ name, ok: false, ms: Date.now() - t0, error: String(e && e.message || e).split('\n')[0] });
    throw e;
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
try {
  const ctx = await browser.newContext({ locale: lang === 'zh' ? 'zh-CN' : 'en-US' });
  const page = await ctx.newPage();
  page.on('pageerror', e => result.pageErrors.push(String(e)));
  await step('sign in and open System', async () => {
    await page.goto(`${base}/admin#/system`);
    await page.fill('#login-user', 'admin');
    await page.fill('#login-password', adminPassword);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#sys-clock .bigclock', { timeout: 15000 });
  });
  if (expectSync !== 'any') await step(`the clock card says ${expectSync}`, async () => {
    await page.waitForSelector('#sys-sync', { timeout: 10000 });
    const got = await page.getAttribute('#sys-sync', 'data-sync');
    const text = await page.textContent('#sys-sync');
    const alert = await page.getAttribute('#sys-sync', 'role');
    result.texts.sync = text;
    if (got !== expectSync) throw new Error(`#sys-sync says ${got}: ${text}`);
    if ((expectSync !== 'synchronized') !== (alert === 'alert')) throw new Error(`warning shown wrongly (role=${alert}): ${text}`);
    const p = path.join(shotDir, `admin-system-clock-${expectSync}.png`);
    await page.screenshot({ path: p, fullPage: true });
    result.screenshots.push(p);
  });
  if (logText) {
    await step('the Log page lists the last warnings', async () => {
      await page.goto(`${base}/admin#/log`);
      await page.waitForFunction(t => [...document.querySelectorAll('#log-table tbody tr')]
        .some(tr => tr.textContent.includes(t)), logText, { timeout: 15000 });
      result.texts.log = await page.textContent('#log-table tbody');
      const p = path.join(shotDir, `admin-log-${lang}.png`);
      await page.screenshot({ path: p, fullPage: true });
      result.screenshots.push(p);
    });
    await step('the log level is changed at run time', async () => {
      await page.selectOption('#log-level', 'debug');
      await page.click('#log-level-apply');
      await page.waitForFunction(() => document.querySelector('#log-level-current')?.textContent.includes('debug'), null, { timeout: 10000 });
      result.texts.level = await page.textContent('#log-level-current');
    });
  }
} catch (e) {
  result.error = String(e && e.message || e).split('\n')[0];
} finally {
  clearTimeout(killer);
  await browser.close();
  finish();
}
