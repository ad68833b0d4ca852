// The console's Library (VOD) page in headless Chromium: sign in, open Library, upload an MP4
// through the page's file input (tus) and follow it through the import, see it listed, edit it (a
// bad year is refused next to its field first), upload a poster and see the thumbnail, upload a
// file that is refused and see the server's reason, drop a file onto the page, interrupt an upload (PATCH
// requests aborted), reload the page, choose the same file again and check that it continued from
// the offset the server kept, and delete the first title.
//
// Usage: node admin-vod.mjs BASE_URL ADMIN_PASSWORD SCREENSHOT_DIR SMALL_MP4 BIG_MP4 POSTER_JPG BOGUS_MP4
// Prints one JSON line: {"ok","steps":[{"name","ok","ms","error"?}],"screenshots","error",
// "pageErrors","resume":{serverOffset,firstPatchOffset,postsAfterReload},"refusal","edited","deletedId"}
import { chromium } from 'playwright-core';
import path from 'node:path';

const [base, adminPassword, shotDir, smallFile, bigFile, posterFile, bogusFile, srtFile] = process.argv.slice(2);
const budgetS = +(process.env.ADMIN_TEST_BUDGET_S || 240);
const result = { ok: false, steps: [], screenshots: [], error: null, pageErrors: [], resume: {}, refusal: null, edited: null, deletedId: null };
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

/** fetch() inside the page (with its session cookie). */
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

const upload = name => `#vod-uploads .upload[data-name="${name}"]`;
const SMALL = path.basename(smallFile);
const BIG = path.basename(bigFile);
const BOGUS = path.basename(bogusFile);

/** Waits for an upload row to reach `state`; fails early when it ends in another final state. */
async function uploadEnds(page, name, state, ms) {
  const h = await page.waitForFunction(([sel, want]) => {
    const el = document.querySelector(sel);
    if (!el) return false;
    const s = el.dataset.state;
    if (s === want) return { ok: true };
    if (['done', 'refused', 'error', 'cancelled'].includes(s)) return { ok: false, s, text: el.textContent };
    return false;
  }, [upload(name), state], { timeout: ms, polling: 250 });
  const v = await h.jsonValue();
  if (!v.ok) throw new Error(`the upload of ${name} ended ${v.s}, not ${state}: ${v.text}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

try {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', e => result.pageErrors.push(String(e)));
  page.on('dialog', d => d.accept().catch(() => {}));
  // every upload request, for the resume check
  const requests = [];
  page.on('request', r => {
    if (r.url().includes('/api/vod/uploads')) requests.push({ method: r.method(), url: r.url(), offset: r.headers()['upload-offset'] ?? null, at: Date.now() });
  });

  await step('sign in and open the Library from the navigation', async () => {
    await page.goto(`${base}/admin#/channels`);
    await page.waitForSelector('#login-form', { timeout: 15000 });
    await page.fill('#login-user', 'admin');
    await page.fill('#login-password', adminPassword);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('nav.main a[data-nav="vod"]', { timeout: 15000 });
    const label = (await page.textContent('nav.main a[data-nav="vod"]')).trim();
    if (label !== 'Library') throw new Error(`navigation label: ${label}`);
    await page.click('nav.main a[data-nav="vod"]');
    await page.waitForSelector('nav.main a[data-nav="vod"].on');
    await page.waitForSelector('#vod-table');
    await page.waitForFunction(() => !document.querySelector('#vod-empty').hidden && document.querySelector('#vod-empty').textContent.length > 0);
  });

  await step('the page is in Chinese too', async () => {
    await page.selectOption('#lang', 'zh');
    await page.waitForFunction(() => document.querySelector('nav.main a[data-nav="vod"]')?.textContent === '片库'
      && document.querySelector('.page-vod h1')?.textContent === '片库');
    const heads = await page.$$eval('#vod-table th', ths => ths.map(th => th.textContent).join('|'));
    if (!heads.includes('片名') || !heads.includes('字幕')) throw new Error(`headers: ${heads}`);
    await page.selectOption('#lang', 'en');
    await page.waitForFunction(() => document.querySelector('.page-vod h1')?.textContent === 'Library');
  });

  let titleId = null;
  let importId = null;
  await step('upload an MP4 through the file input: progress, import, done', async () => {
    await page.fill('#vod-up-title', 'Island Story');
    await page.fill('#vod-up-category', 'Films');
    await page.setInputFiles('#vod-file', smallFile);
    await page.waitForSelector(upload(SMALL));
    await uploadEnds(page, SMALL, 'done', 90000);
    const d = await page.$eval(upload(SMALL), el => ({ ...el.dataset, bar: el.querySelector('progress').value }));
    if (!d.import || !d.titleId) throw new Error(`upload row: ${JSON.stringify(d)}`);
    if (d.bar !== 1) throw new Error(`progress bar at ${d.bar}`);
    titleId = +d.titleId;
    importId = d.import;
  });

  await step('the title is listed with its media details', async () => {
    const row = `#vod-table tr[data-id="${titleId}"]`;
    await page.waitForSelector(row, { timeout: 15000 });
    const cells = await page.$eval(row, tr => Object.fromEntries([...tr.cells].map(td => [td.className.split(' ')[0], td.textContent.trim()])));
    if (!cells['c-title'].includes('Island Story')) throw new Error(`title: ${cells['c-title']}`);
    if (cells['c-category'] !== 'Films') throw new Error(`category: ${cells['c-category']}`);
    if (!/h264/i.test(cells['c-video']) || !cells['c-video'].includes('320×240')) throw new Error(`video: ${cells['c-video']}`);
    if (!/^\d+s$/.test(cells['c-duration'])) throw new Error(`duration: ${cells['c-duration']}`);
    if (!cells['c-audio']) throw new Error('no audio language');
    if (!/\d/.test(cells['c-size']) || !/\d{4}-\d\d-\d\d/.test(cells['c-added'])) throw new Error(`size/added: ${cells['c-size']} ${cells['c-added']}`);
    const play = await page.$eval(`${row} a.play`, a => [a.getAttribute('href'), a.target]);
    if (play[0] !== `/vod/${titleId}/file.mp4` || play[1] !== '_blank') throw new Error(`play link: ${play}`);
    const head = await page.evaluate(async u => (await fetch(u, { headers: { Range: 'bytes=0-99' } })).status, play[0]);
    if (head !== 206 && head !== 200) throw new Error(`the play link answers ${head}`);
    // the import may have taken a poster from the file; otherwise a placeholder is shown
    if (!(await page.$(`${row} td.c-poster .poster`))) throw new Error('no poster or placeholder');
  });

  await step('the imports panel shows the upload done', async () => {
    await page.waitForSelector(`#vod-imports tr[data-id="${importId}"][data-state="done"][data-origin="upload"]`, { timeout: 15000 });
  });

  await step('search and the category filter', async () => {
    await page.fill('#vod-q', 'nothing-like-this');
    await page.waitForFunction(() => document.querySelectorAll('#vod-table tbody tr').length === 0 && !document.querySelector('#vod-empty').hidden);
    await page.fill('#vod-q', 'island');
    await page.waitForFunction(id => document.querySelector(`#vod-table tr[data-id="${id}"]`), titleId);
    await page.fill('#vod-q', '');
    await page.waitForFunction(() => [...document.querySelectorAll('#vod-cat option')].some(o => o.value === 'Films'));
    await page.selectOption('#vod-cat', 'Films');
    await page.waitForFunction(id => document.querySelectorAll('#vod-table tbody tr').length === 1 && document.querySelector(`#vod-table tr[data-id="${id}"]`), titleId);
    await page.selectOption('#vod-cat', '');
  }, { critical: false });

  await step('edit: a bad year is refused next to its field, then title/category/year saved', async () => {
    const row = `#vod-table tr[data-id="${titleId}"]`;
    await page.click(`${row} button.edit`);
    await page.waitForSelector('#vod-dialog');
    await page.fill('#vod-dialog input[name=title]', 'Island Story (edited)');
    await page.fill('#vod-dialog input[name=category]', 'Documentaries');
    await page.fill('#vod-dialog input[name=year]', '1200');
    await page.click('#vod-dialog button[type=submit]');
    await page.waitForSelector('#vod-dialog .field[data-field="year"].invalid', { timeout: 8000 });
    const msg = await page.textContent('#vod-dialog .field[data-field="year"] .field-error');
    if (!/1880/.test(msg)) throw new Error(`year error: ${msg}`);
    const other = await page.$$eval('#vod-dialog .field.invalid', els => els.map(e => e.dataset.field));
    if (other.length !== 1) throw new Error(`invalid fields: ${other}`);
    await page.fill('#vod-dialog input[name=year]', '2021');
    await page.click('#vod-dialog button[type=submit]');
    await page.waitForSelector('#vod-dialog', { state: 'detached', timeout: 8000 });
    await page.waitForFunction(r => {
      const tr = document.querySelector(r);
      return tr && tr.querySelector('.c-title').textContent.includes('Island Story (edited)')
        && tr.querySelector('.c-category').textContent === 'Documentaries'
        && tr.querySelector('.c-year').textContent === '2021';
    }, row, { timeout: 8000 });
  });

  await step('a poster is uploaded from the dialog, previewed, and shown as the thumbnail', async () => {
    const row = `#vod-table tr[data-id="${titleId}"]`;
    await page.click(`${row} button.edit`);
    await page.waitForSelector('#vod-dialog');
    await page.setInputFiles('#vod-poster-file', posterFile);
    await page.waitForSelector('#vod-poster-preview[data-saved="1"] img', { timeout: 10000 });
    await shot(page, 'admin-vod-dialog.png');
    await page.click('#vod-dialog button.cancel');
    await page.waitForSelector('#vod-dialog', { state: 'detached' });
    await page.waitForFunction(r => {
      const img = document.querySelector(`${r} td.c-poster img.poster`);
      return img && img.complete && img.naturalWidth === 200 && img.naturalHeight === 300;
    }, row, { timeout: 10000 });
    const r = await pageFetch(page, `/api/vod/${titleId}`);
    result.edited = r.body;
    if (!r.body || !r.body.poster) throw new Error(`after the poster: ${JSON.stringify(r.body)}`);
  });

  await step('a subtitle file is added with its language from the dialog, then removed', async () => {
    const row = `#vod-table tr[data-id="${titleId}"]`;
    await page.click(`${row} button.edit`);
    await page.waitForSelector('#vod-dialog');
    await page.fill('#vod-sub-lang', 'zh');
    await page.setInputFiles('#vod-sub-file', srtFile);
    await page.waitForFunction(() => [...document.querySelectorAll('#vod-sub-list li span')].some(s => s.textContent === 'zh'), null, { timeout: 10000 });
    const r = await pageFetch(page, `/api/vod/${titleId}`);
    if (!r.body || !r.body.subtitles || r.body.subtitles.length !== 1 || r.body.subtitles[0].language !== 'zh') {
      throw new Error(`after adding the subtitles: ${JSON.stringify(r.body && r.body.subtitles)}`);
    }
    const vtt = await page.evaluate(async id => (await fetch(`/vod/${id}/s0.vtt`)).text(), titleId);
    if (!vtt.includes('海浪来了')) throw new Error(`the subtitle file: ${vtt}`);
    result.subtitleAdded = true;
    await page.click('#vod-sub-list button[data-sub="0"]');
    await page.waitForFunction(() => !document.querySelector('#vod-sub-list button[data-sub]'), null, { timeout: 10000 });
    const r2 = await pageFetch(page, `/api/vod/${titleId}`);
    if (r2.body.subtitles.length !== 0) throw new Error('the subtitle was not removed');
    result.subtitleRemoved = true;
    await page.click('#vod-dialog button.cancel');
    await page.waitForSelector('#vod-dialog', { state: 'detached' });
  });

  await step('the dialog previews the title over HLS (hls.js)', async () => {
    const row = `#vod-table tr[data-id="${titleId}"]`;
    await page.click(`${row} button.edit`);
    await page.waitForSelector('#vod-dialog');
    await page.click('#vod-dialog button.preview-play');
    await page.waitForFunction(() => {
      const v = document.querySelector('#vod-dialog video.preview');
      return v && v.readyState >= 2 && v.videoWidth === 320;
    }, null, { timeout: 20000 });
    await page.click('#vod-dialog button.cancel');
    await page.waitForSelector('#vod-dialog', { state: 'detached' });
  }, { critical: false });

  await step('a file that is not a film is refused, with the reason shown', async () => {
    await page.setInputFiles('#vod-file', bogusFile);
    await uploadEnds(page, BOGUS, 'refused', 60000);
    const reason = (await page.textContent(`${upload(BOGUS)} .upload-error`)).trim();
    if (!reason) throw new Error('no reason shown');
    result.refusal = reason;
    await page.waitForFunction(r => [...document.querySelectorAll('#vod-imports tr[data-state="failed"] .import-error')]
      .some(e => e.textContent === r), reason, { timeout: 10000 });
  });

  await step('a file dropped onto the page is uploaded too', async () => {
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['dropped, not a film\n'.repeat(100)], 'Dropped.mp4', { type: 'video/mp4', lastModified: 1 }));
      const target = document.querySelector('#vod-table');
      for (const type of ['dragenter', 'dragover', 'drop']) {
        target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
      }
    });
    await uploadEnds(page, 'Dropped.mp4', 'refused', 30000);
    if (await page.$eval('.page-vod', el => el.classList.contains('dragging'))) throw new Error('the drop highlight stayed');
  }, { critical: false });

  let uploadUrl = null;
  await step('an upload interrupted mid-way is remembered, with its offset kept by the server', async () => {
    await page.evaluate(() => { window.atollTusChunk = 256 * 1024; });
    let patches = 0;
    await page.route('**/api/vod/uploads/*', route => {
      if (route.request().method() !== 'PATCH') return route.continue();
      patches += 1;
      return patches <= 4 ? route.continue() : route.abort('connectionreset');
    });
    await page.setInputFiles('#vod-file', bigFile);
    await page.waitForFunction(sel => ['retrying', 'error'].includes(document.querySelector(sel)?.dataset.state), upload(BIG), { timeout: 30000 });
    const saved = await page.evaluate(name => {
      for (let i = 0; i < localStorage.length; i++) {
        const k = localStorage.key(i);
        if (k.startsWith('atoll.tus.') && k.includes(name)) return JSON.parse(localStorage.getItem(k));
      }
      return null;
    }, BIG);
    if (!saved || !saved.url) throw new Error('the upload URL was not remembered');
    uploadUrl = saved.url;
    const r = await pageFetch(page, uploadUrl);
    if (r.status !== 200) throw new Error(`GET ${uploadUrl}: ${r.status} ${JSON.stringify(r.body)}`);
    result.resume.serverOffset = r.body.offset;
    result.resume.length = r.body.length;
    if (!(r.body.offset > 0 && r.body.offset < r.body.length)) throw new Error(`server offset ${r.body.offset} of ${r.body.length}`);
    await page.unroute('**/api/vod/uploads/*');
  });

  await step('after a reload, choosing the same file resumes from that offset and imports it', async () => {
    await page.reload();
    await page.waitForSelector('#vod-table');
    const mark = Date.now();
    await page.waitForSelector(`#vod-pending .pending-row[data-url="${uploadUrl}"]`, { timeout: 10000 });
    await page.setInputFiles('#vod-file', bigFile);
    await uploadEnds(page, BIG, 'done', 120000);
    const after = requests.filter(r => r.at >= mark);
    const firstPatch = after.find(r => r.method === 'PATCH');
    result.resume.postsAfterReload = after.filter(r => r.method === 'POST').length;
    result.resume.firstPatchOffset = firstPatch ? +firstPatch.offset : null;
    result.resume.firstPatchUrl = firstPatch ? new URL(firstPatch.url).pathname : null;
    const d = await page.$eval(upload(BIG), el => ({ ...el.dataset }));
    result.resume.shownResumedFrom = d.resumedFrom ? +d.resumedFrom : null;
    if (result.resume.firstPatchOffset !== result.resume.serverOffset) throw new Error(`resumed at ${result.resume.firstPatchOffset}, the server had ${result.resume.serverOffset}`);
    if (result.resume.firstPatchUrl !== uploadUrl) throw new Error(`PATCH to ${result.resume.firstPatchUrl}, not ${uploadUrl}`);
    if (result.resume.postsAfterReload !== 0) throw new Error('a new upload was created');
    if (result.resume.shownResumedFrom !== result.resume.serverOffset) throw new Error(`the page says resumed from ${d.resumedFrom}`);
    await page.waitForSelector(`#vod-table tr[data-id="${d.titleId}"]`, { timeout: 10000 });
    const left = await page.evaluate(() => Object.keys(localStorage).filter(k => k.startsWith('atoll.tus.')));
    if (left.length) throw new Error(`uploads still remembered: ${left}`);
    await shot(page, 'admin-vod.png');
  });

  await step('delete the first title (with confirmation)', async () => {
    const row = `#vod-table tr[data-id="${titleId}"]`;
    await page.waitForSelector(row);
    await page.click(`${row} button.del`);
    await page.waitForSelector('dialog.modal button.danger');
    await page.click('dialog.modal button.danger');
    await page.waitForSelector(row, { state: 'detached', timeout: 10000 });
    const r = await pageFetch(page, `/api/vod/${titleId}`);
    if (r.status !== 404) throw new Error(`GET /api/vod/${titleId} after delete: ${r.status}`);
    result.deletedId = titleId;
  });
} catch (e) {
  result.error = String(e && e.message || e).split('\n')[0];
} finally {
  clearTimeout(killer);
  await browser.close();
  finish();
}
