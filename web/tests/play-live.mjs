// Opens Atoll's page in headless Chromium, lets it play the first channel, and reports whether the
// video's play head advanced without an error. Usage: node play-live.mjs URL [SCREENSHOT.png]
// [--no-storage]. With --no-storage the page runs as in Android WebViews without DOM storage: any
// access to window.localStorage or window.sessionStorage throws.
// Prints one JSON line: {"ok":bool,"currentTime":s,"error":…,"channel":…,"storageBlocked":bool}
import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
const noStorage = args.includes('--no-storage');
const [url, shot] = args.filter((a) => !a.startsWith('--'));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--autoplay-policy=no-user-gesture-required'],
});
const result = { ok: false, currentTime: 0, error: null, channel: null, storageBlocked: false };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const errors = [];
  page.on('pageerror', e => errors.push(String(e)));
  if (noStorage) {
    await page.addInitScript(() => {
      for (const name of ['localStorage', 'sessionStorage']) {
        Object.defineProperty(window, name, {
          configurable: true,
          get() { throw new DOMException(`access to ${name} is denied`, 'SecurityError'); },
        });
      }
    });
  }
  await page.goto(url, { waitUntil: 'load' });
  await page.evaluate(() => {
    const v = document.getElementById('v');
    window.__videoErrors = [];
    v.addEventListener('error', () => window.__videoErrors.push(v.error && v.error.message || 'error'));
  });
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    const t = await page.evaluate(() => document.getElementById('v').currentTime);
    result.currentTime = t;
    if (t > 4) break;
    await page.waitForTimeout(500);
  }
  result.storageBlocked = await page.evaluate(() => { try { window.localStorage.getItem('x'); return false; } catch { return true; } });
  result.channel = await page.evaluate(() => (document.querySelector('#channels li.current') || {}).dataset?.id ?? null);
  const videoErrors = await page.evaluate(() => window.__videoErrors);
  result.error = [...errors, ...videoErrors].join('; ') || null;
  result.ok = result.currentTime > 4 && !result.error;
  if (shot) await page.screenshot({ path: shot });
} catch (e) {
  result.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
