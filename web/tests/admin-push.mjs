// An operator sets up an RTMP push channel in the admin console (/admin) in headless Chromium at
// 1366×768 and follows it through a day: the Add dialog has no test-pattern source filled in, the
// channel waits for its encoder (not "connecting"), the channel page shows the server URL and
// stream key (copy buttons), an encoder (ffmpeg) publishing to exactly what the page shows brings
// it live, losing the encoder shows the error with its time, and once live again the error is
// history. The archive gap of that loss shows at every zoom of the timeline. Deleting the channel
// with "keep" says truthfully what keeping means, and the System page lists the kept recordings
// with their size and removes them.
//
// Usage: node admin-push.mjs BASE_URL ADMIN_PASSWORD SCREENSHOT_DIR RTMP_PORT CLIP
// Prints one JSON line: {"ok":bool,"steps":[{"name","ok","ms","error"?}],"screenshots":[…],"error":…}
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import path from 'node:path';

const [base, adminPassword, shotDir, rtmpPort, clip] = process.argv.slice(2);
const budgetS = +(process.env.ADMIN_TEST_BUDGET_S || 240);
const result = { ok: false, steps: [], screenshots: [], error: null, pageErrors: [] };
let printed = false;
const encoders = [];
const stopEncoders = () => { for (const p of encoders) if (p.exitCode === null) p.kill('SIGKILL'); };
const finish = () => {
  if (printed) return;
  printed = true;
  stopEncoders();
  result.ok = !result.error && result.steps.length > 0 && result.steps.every(s => s.ok);
  console.log(JSON.stringify(result));
};
const killer = setTimeout(() => {
  result.error = `the whole run took longer than ${budgetS} s (last step: ${result.steps.at(-1)?.name ?? 'none'})`;
  finish();
  process.exit(1);
}, budgetS * 1000);

const ID = 'push-ui';
const KEY = 'pk-123';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    result.steps.push({ name, ok: true, ms: Date.now() - t0 });
  } catch (e) {
    const msg = String(e && e.message || e).split('\n').slice(0, 4).join(' | ');
    result.steps.push({ name, ok: false, ms: Date.now() - t0, error: msg });
    throw new Error(`step "${name}" failed: ${msg}`);
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

/** An encoder: ffmpeg publishing the clip in a loop at real pace to `url`. */
function encoder(url) {
  const p = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', clip, '-c', 'copy', '-f', 'flv', url], { stdio: 'ignore' });
  encoders.push(p);
  return p;
}

async function setLang(page, lang) {
  await page.selectOption('#lang', lang);
  const want = lang === 'zh' ? '频道' : 'Channels';
  await page.waitForFunction(w => document.querySelector('#nav a[data-nav="channels"]')?.textContent === w, want, { timeout: 5000 });
}

const row = `#channel-table tr[data-id="${ID}"]`;
const text = (page, sel) => page.evaluate(s => document.querySelector(s)?.textContent ?? null, sel);

try {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'en-US' });
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', e => result.pageErrors.push(String(e)));

  await step('admin signs in (after one wrong password)', async () => {
    await page.goto(`${base}/admin#/channels`);
    await page.waitForSelector('#login-form');
    await page.fill('#login-user', 'admin');
    await page.fill('#login-password', 'not-the-password');
    await page.click('#login-form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#login-error')?.textContent.trim().length > 0, null, { timeout: 15000 });
    await page.fill('#login-password', adminPassword);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#channel-table tbody tr[data-id="demo"]', { timeout: 20000 });
  });

  await step('the Add dialog does not fill in a test-pattern source', async () => {
    await page.click('#add-channel');
    await page.waitForSelector('#channel-dialog form');
    const srcs = await page.$$eval('#channel-dialog .source-row input.src', l => l.map(i => i.value));
    if (srcs.length !== 1 || srcs[0] !== '') throw new Error(`the new channel's sources are ${JSON.stringify(srcs)}, not one empty row`);
  });

  await step('save a push channel (no source, a publish key, recording on)', async () => {
    await page.fill('#channel-dialog input[name=id]', ID);
    await page.fill('#channel-dialog input[name=name]', 'Push UI');
    await page.fill('#channel-dialog input[name=publish_key]', KEY);
    await page.check('#channel-dialog input[name=record]');
    await page.click('#channel-dialog button[type=submit]');
    await page.waitForSelector('#channel-dialog', { state: 'detached', timeout: 10000 });
    await page.waitForSelector(row, { timeout: 10000 });
  });

  await step('the table says it waits for its encoder, not "connecting"', async () => {
    await page.waitForSelector(`${row}[data-state="waiting"]`, { timeout: 10000 });
    const s = await text(page, `${row} td.c-state .badge`);
    if (!/waiting for encoder/.test(s)) throw new Error(`state cell: "${s}"`);
  });

  let full = '';
  await step('the channel page shows the server URL and stream key, with copy buttons', async () => {
    await page.click(`${row} td.c-name a`);
    await page.waitForSelector('#publish-box:not([hidden]) input.pub-server');
    const server = await page.inputValue('#publish-box input.pub-server');
    const host = new URL(base).hostname;
    if (server !== `rtmp://${host}:${rtmpPort}/live`) throw new Error(`server URL "${server}"`);
    const key = await page.inputValue('#publish-box input.pub-key');
    if (key !== `${ID}?key=${KEY}`) throw new Error(`stream key "${key}"`);
    full = await page.inputValue('#publish-box input.pub-full');
    if (full !== `${server}/${key}`) throw new Error(`whole URL "${full}"`);
    await page.click('#publish-box button.copy-pub-key');
    const clip1 = await page.evaluate(() => navigator.clipboard.readText());
    if (clip1 !== key) throw new Error(`the copy button put "${clip1}" on the clipboard`);
    await page.click('#publish-box button.copy-pub-server');
    const clip2 = await page.evaluate(() => navigator.clipboard.readText());
    if (clip2 !== server) throw new Error(`the copy button put "${clip2}" on the clipboard`);
    const badge = await text(page, '.head-badges .badge');
    if (!/waiting for encoder/.test(badge)) throw new Error(`header badge "${badge}"`);
    if (!/Waiting for the encoder/.test(await text(page, '#publish-box'))) throw new Error('the box does not say it waits for the encoder');
    await shot(page, 'admin-push-waiting.png');
    await setLang(page, 'zh');
    await page.waitForFunction(() => /等待编码器/.test(document.querySelector('.head-badges')?.textContent || ''), null, { timeout: 5000 });
    if (!/推流码/.test(await text(page, '#publish-box'))) throw new Error('the box is not in Chinese');
    await shot(page, 'admin-push-waiting-zh.png');
    await setLang(page, 'en');
  });

  await step('an encoder publishing to that URL brings the channel live', async () => {
    encoder(full);
    await page.waitForSelector('.head-badges .badge.b-live', { timeout: 40000 });
    await until('"An encoder is publishing"', 15000, async () => /An encoder is publishing/.test(await text(page, '#publish-box') || ''));
    await until('recorded seconds on the timeline', 40000, async () =>
      +(await page.getAttribute('#channel-timeline', 'data-covered-s') || 0) > 4);
  });

  await step('losing the encoder shows the error in red with its time', async () => {
    stopEncoders();
    await until('the last error in red', 20000, async () => {
      const e = await text(page, '#channel-status dd.err');
      return e && /publisher disconnected/.test(e) && /\d\d:\d\d:\d\d/.test(e) ? e : null;
    });
  });

  await step('live again, the error is shown as history, not in red', async () => {
    await new Promise(r => setTimeout(r, 3000)); // an archive gap of a few seconds
    encoder(full);
    await page.waitForSelector('.head-badges .badge.b-live', { timeout: 40000 });
    await until('the error as history', 15000, async () => {
      const old = await text(page, '#channel-status dd.err-old');
      const red = await page.$('#channel-status dd.err');
      return old && /publisher disconnected/.test(old) && !red;
    });
    const label = await page.evaluate(() => document.querySelector('#channel-status dd.err-old')?.previousElementSibling?.textContent);
    if (!/Earlier error/.test(label || '')) throw new Error(`the history row is labelled "${label}"`);
  });

  await step('the archive gap shows at every zoom', async () => {
    const gapsAt = async z => {
      await page.selectOption('.page-channel select[aria-label]', z);
      return +(await page.getAttribute('#channel-timeline', 'data-gaps') || 0);
    };
    // the hole shows once the second run's segments are archived and fetched (every 10 s)
    const inHour = await until('a gap in the last-hour view', 60000, async () => {
      await page.evaluate(() => window.dispatchEvent(new Event('resize')));
      return (await gapsAt('1')) || null;
    });
    const all = await gapsAt('all');
    const day = await gapsAt('24');
    if (all !== inHour || day !== inHour) throw new Error(`gaps: last hour ${inHour}, last 24 h ${day}, whole window ${all}`);
    const marks = await page.$$eval('#channel-timeline span.gap', l => l.map(s => s.getBoundingClientRect().width));
    if (!marks.length || marks.some(w => w < 2)) throw new Error(`gap marks ${JSON.stringify(marks)} px wide`);
    await gapsAt('all');
    await shot(page, 'admin-push-channel.png');
    await setLang(page, 'zh');
    await page.waitForFunction(() => /之前的错误/.test(document.querySelector('#channel-status')?.textContent || ''), null, { timeout: 5000 });
    // event details and the role badge in Chinese too
    await until('the status history in Chinese', 15000, async () => {
      const ev = await text(page, '#event-log') || '';
      return /操作人：admin/.test(ev) && /没有信号源在播出/.test(ev) && /推流端已断开：对方关闭了连接/.test(ev) && /\/live\/push-ui 已播出/.test(ev) && !/by admin|no source on air| on air/.test(ev);
    });
    const role = await text(page, '#who .role');
    if (role !== '管理员') throw new Error(`the role badge says "${role}"`);
    await shot(page, 'admin-push-channel-zh.png');
    await setLang(page, 'en');
  });

  await step('delete the channel keeping its recordings: the dialog says what keeping means', async () => {
    stopEncoders();
    await page.goto(`${base}/admin#/channels`);
    await page.waitForSelector(row);
    await page.click(`${row} button.del`);
    await page.waitForSelector('#delete-dialog');
    const t = await text(page, '#delete-dialog');
    if (!/viewers cannot watch/i.test(t) || /for catch-up/.test(t) || !/72 h/.test(t)) throw new Error(`the delete dialog says: ${t}`);
    await page.check('#delete-dialog input[value=keep]');
    await page.click('#delete-dialog button.danger');
    await page.waitForSelector(row, { state: 'detached', timeout: 10000 });
  });

  await step('the System page lists the kept recordings with their size and removes them', async () => {
    await page.goto(`${base}/admin#/system`);
    const kept = `#kept-table tr[data-channel="${ID}"]`;
    await page.waitForSelector(kept, { timeout: 15000 });
    const bytes = +(await page.getAttribute(kept, 'data-bytes'));
    if (!(bytes > 0)) throw new Error(`kept bytes ${bytes}`);
    const size = await text(page, `${kept} td.num`);
    if (!/\d.*[kKMG]i?B/.test(size)) throw new Error(`size cell "${size}"`);
    await page.waitForSelector('#sys-clock .bigclock', { timeout: 15000 });
    const demo = await text(page, '#sys-channels tr:has(a[href="#/channel/demo"]) .badge');
    if (demo !== 'live') throw new Error(`the live demo channel's badge on the System page says "${demo}"`);
    await shot(page, 'admin-system-kept.png');
    await setLang(page, 'zh');
    await page.waitForFunction(() => /已删除频道保留的录像/.test(document.querySelector('#sys-kept')?.textContent || ''), null, { timeout: 10000 });
    await page.waitForSelector('#sys-clock .bigclock', { timeout: 15000 });
    await shot(page, 'admin-system-kept-zh.png');
    await setLang(page, 'en');
    await page.waitForSelector(kept, { timeout: 15000 });
    await page.click(`${kept} button.kept-remove`);
    await page.waitForSelector('dialog.modal button.danger');
    await page.click('dialog.modal button.danger');
    await page.waitForSelector('#kept-none', { timeout: 10000 });
  });

  await step('the audit log reads in words: the removal, its size, the failed sign-in', async () => {
    await page.goto(`${base}/admin#/audit`);
    const rm = '#audit-table tr[data-action="archive.remove"]';
    await page.waitForSelector(rm, { timeout: 10000 });
    const act = await text(page, `${rm} td.action`);
    if (act !== 'removed kept recordings') throw new Error(`action cell "${act}"`);
    const det = await text(page, `${rm} td.detail`);
    if (!/freed: [\d.]+ [kKMG]?B/.test(det) || /[{}"]/.test(det)) throw new Error(`detail cell "${det}"`);
    const failed = await text(page, '#audit-table tr[data-action="session.sign_in_failed"] td.action');
    if (failed !== 'failed sign-in') throw new Error(`failed sign-in row: "${failed}"`);
    await shot(page, 'admin-audit.png');
    await setLang(page, 'zh');
    await page.waitForFunction(() => document.querySelector('#audit-table tr[data-action="archive.remove"] td.action')?.textContent === '删除保留的录像', null, { timeout: 10000 });
    const detZh = await text(page, `${rm} td.detail`);
    if (!/释放/.test(detZh)) throw new Error(`Chinese detail cell "${detZh}"`);
    if (await text(page, '#audit-table tr[data-action="session.sign_in_failed"] td.action') !== '登录失败') throw new Error('the failed sign-in is not in Chinese');
    await shot(page, 'admin-audit-zh.png');
    await setLang(page, 'en');
  });
} catch (e) {
  result.error = String(e && e.message || e);
} finally {
  clearTimeout(killer);
  stopEncoders();
  await browser.close().catch(() => {});
  finish();
}
