// The console's Nodes page on an origin with a real edge reporting to it: the edge's row shows it
// healthy with its clock offset and origin; its capacity is edited (a bad subnet is refused next
// to the field first); the history shows it joined.
//
// Usage: node admin-nodes.mjs BASE_URL ADMIN_PASSWORD SCREENSHOT_DIR EDGE_NAME
// Prints one JSON line: {"ok":bool,"steps":[{"name","ok","ms","error"?}],"screenshots":[…],"error":…}
import { chromium } from 'playwright-core';
import path from 'node:path';

const [base, adminPassword, shotDir, edge] = process.argv.slice(2);
const result = { ok: false, steps: [], screenshots: [], error: null, pageErrors: [] };
const finish = () => {
  result.ok = !result.error && result.steps.length > 0 && result.steps.every(s => s.ok);
  console.log(JSON.stringify(result));
};
const killer = setTimeout(() => { result.error = 'the run took longer than 120 s'; finish(); process.exit(1); }, 120_000);

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
  const page = await (await browser.newContext({ locale: 'en-US' })).newPage();
  page.on('pageerror', e => result.pageErrors.push(String(e)));
  const row = `#nodes-table tr[data-name="${edge}"]`;
  await step('sign in and open Nodes', async () => {
    await page.goto(`${base}/admin#/nodes`);
    await page.fill('#login-user', 'admin');
    await page.fill('#login-password', adminPassword);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('nav.main a[data-nav="nodes"].on', { timeout: 15000 });
  });
  await step('the edge is listed healthy, with its clock offset and origin', async () => {
    await page.waitForSelector(`${row} .badge.b-live`, { timeout: 20000 });
    const clock = await page.textContent(`${row} td.clock`);
    if (!/^[+-]?\d+\.\d s$/.test(clock.trim())) throw new Error(`clock offset cell: ${clock}`);
    const origin = await page.textContent(`${row} td:nth-child(11)`);
    if (!origin.startsWith('http://')) throw new Error(`origin in use: ${origin}`);
  });
  await step('a bad subnet is refused next to the field', async () => {
    await page.click(`${row} td.actions button`);
    await page.waitForSelector('#node-dialog');
    await page.fill('#node-dialog textarea[name=subnets]', 'not-a-subnet');
    await page.click('#node-dialog button[type=submit]');
    await page.waitForSelector('#node-dialog .field[data-field="subnets"].invalid', { timeout: 5000 });
  });
  await step('capacity and subnets saved', async () => {
    await page.fill('#node-dialog input[name=max_viewers]', '3000');
    await page.fill('#node-dialog input[name=max_mbps]', '300');
    await page.fill('#node-dialog textarea[name=subnets]', '10.1.0.0/16\n10.2.0.0/16');
    await page.click('#node-dialog button[type=submit]');
    await page.waitForSelector('#node-dialog', { state: 'detached', timeout: 5000 });
    await page.waitForFunction(r => {
      const el = document.querySelector(`${r} td.cap`);
      return el && el.textContent.includes('3000') && el.textContent.includes('10.2.0.0/16');
    }, row, { timeout: 10000 });
  });
  await step('the history shows the edge joining', async () => {
    await page.waitForFunction(e => [...document.querySelectorAll('#node-events tr')]
      .some(tr => tr.textContent.includes(e) && tr.textContent.includes('joined')), edge, { timeout: 10000 });
    const p = path.join(shotDir, 'admin-nodes.png');
    await page.screenshot({ path: p, fullPage: true });
    result.screenshots.push(p);
  });
} catch (e) {
  result.error = String(e && e.message || e).split('\n')[0];
} finally {
  clearTimeout(killer);
  await browser.close();
  finish();
}
