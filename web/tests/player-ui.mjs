// Drives Atoll's viewer page in headless Chromium like a viewer would: the channel list loads, live
// plays, a click switches channel, remote keys zap and enter numbers, the grid and the channel guide
// open, a past programme plays from the archive (its segment's PROGRAM-DATE-TIME checked against the
// programme's start), start-over and back-to-live work, an offline channel and a programme outside
// the archive say so, the language switch and volume/last channel are remembered, and every request
// goes to Atoll itself carrying the viewer token.
// Usage: node player-ui.mjs BASE_URL SHOT_DIR CONFIG_JSON
//   CONFIG: {"past":{"start","stop","title"},"old":{"start","title"},"current":{"start","title"},
//            "channels":N,"token":"…"}
// Prints one JSON line: {"checks":{name:true|message},"shots":[…]}; the Rust driver asserts on it.
import { chromium } from 'playwright-core';

const [base, shotDir, cfgText] = process.argv.slice(2);
const cfg = JSON.parse(cfgText);
const checks = {};
const shots = [];
const requests = [];
const playlists = new Map();
const ok = (name, cond, why) => { checks[name] = cond ? true : String(why ?? 'failed'); return cond; };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required'],
});
let page;
const errors = [];
async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await page.evaluate(fn); if (last) return last; } catch (e) { last = String(e); }
    await page.waitForTimeout(250);
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}
const state = () => page.evaluate(() => ({
  channel: atoll.channel, mode: atoll.mode, overlay: atoll.overlay,
  t: document.getElementById('v').currentTime, paused: document.getElementById('v').paused,
  wall: atoll.playingWall(), now: atoll.now(),
  msg: document.getElementById('msg').hidden ? null : document.getElementById('msg').textContent,
  msgKind: document.getElementById('msg').className,
}));
/** The picture advances by 1.5 s of media with no error on the video element. */
async function advances(label) {
  const s0 = await until(`${label}: playing`, () => {
    const v = document.getElementById('v');
    return v.currentTime > 0.5 && !v.paused && v.readyState >= 2 && { t: v.currentTime };
  }, 25000);
  await until(`${label}: play head advancing`, `document.getElementById('v').currentTime > ${s0.t + 1.5}`, 15000);
  const ve = await page.evaluate(() => window.__videoErrors.splice(0));
  return ve.length ? ve.join('; ') : true;
}
async function shot(name) {
  const p = `${shotDir}/${name}`;
  await page.screenshot({ path: p });
  shots.push(p);
}

const tokenQ = `token=${cfg.token}`;
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, locale: 'en-US' });
  page = await ctx.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => requests.push(r.url()));
  page.on('response', async (r) => {
    if (/\.m3u8/.test(r.url()) && r.status() === 200) {
      try { playlists.set(r.url(), await r.text()); } catch { /* body gone */ }
    }
  });
  await page.addInitScript(() => {
    window.__videoErrors = [];
    document.addEventListener('DOMContentLoaded', () => {
      document.getElementById('v').addEventListener('error', (e) => {
        const v = e.target;
        window.__videoErrors.push(v.error ? `${v.error.code} ${v.error.message}` : 'error');
      });
    });
  });
  const t0 = Date.now();
  await page.goto(`${base}/?${tokenQ}`, { waitUntil: 'load' });

  // 1. the channel list: every channel with number, name, now, progress bar
  await until('channel list', `document.querySelectorAll('#channels li').length === ${cfg.channels}`);
  const demoRow = await page.evaluate(() => {
    const li = document.querySelector('#channels li[data-id="demo"]');
    return { num: li.querySelector('.num').textContent, name: li.querySelector('.name').textContent,
      now: li.querySelector('.now').textContent, bar: !!li.querySelector('.bar i') };
  });
  ok('list_row', demoRow.num === '1' && demoRow.name.includes('Atoll Demo') && demoRow.now.includes(cfg.current.title) && demoRow.bar,
    JSON.stringify(demoRow));

  // 2. live plays at once
  ok('live_plays', (await advances('live demo')) === true, 'video error');
  const s = await state();
  ok('live_channel', s.channel === 'demo' && s.mode === 'live', JSON.stringify(s));
  ok('live_started_fast', Date.now() - t0 < 15000, `${Date.now() - t0} ms to play`);
  ok('live_is_live', s.wall && s.now - s.wall < 20, `playing ${s.now - s.wall} s behind`);
  await page.mouse.move(900, 400);
  await shot('player-channels.png');

  // 3. switch channels with a click
  await page.click('#channels li[data-id="news"]');
  await until('news tuned', () => atoll.channel === 'news');
  ok('switch_click', (await advances('live news')) === true, 'video error');
  const sn = await state();
  ok('switch_live', sn.wall && Math.abs(sn.now - sn.wall) < 20, JSON.stringify(sn));

  // 4. remote keys: in the list ↓ (the number before) then OK; from the picture ↑ zaps; digits
  await page.focus('#channels li[data-id="news"]');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await until('demo by list keys', () => atoll.channel === 'demo');
  ok('keys_list', (await advances('demo by keys')) === true, 'video error');
  await page.keyboard.press('Escape'); // leave the list: keys now drive the picture
  await page.keyboard.press('ArrowUp');
  await until('zap up to news', () => atoll.channel === 'news');
  await page.keyboard.press('ArrowDown');
  await until('zap down to demo', () => atoll.channel === 'demo');
  ok('keys_zap', true);
  await page.keyboard.press('5');
  await until('number 5', () => atoll.channel === 'sports', 6000);
  // an offline channel: the slate plays and the page says why
  ok('offline_slate_plays', (await advances('offline slate')) === true, 'video error');
  const so = await until('offline message', () => !document.getElementById('msg').hidden
    && document.getElementById('msg').className === 'offline' && document.getElementById('msg').textContent);
  ok('offline_message', /off the air/.test(so), so);
  await page.keyboard.press('1');
  await page.keyboard.press('Enter');
  await until('number 1 + OK', () => atoll.channel === 'demo', 4000);
  ok('keys_digits', true);

  // 5. the grid of all channels, moved through with arrows
  await page.keyboard.press('g');
  await until('grid', () => atoll.overlay === 'grid' && document.querySelectorAll('#x-body .xp').length > 3);
  const g0 = await until('grid focus', () => document.activeElement.classList.contains('xp') && document.activeElement.dataset.ch);
  await page.keyboard.press('ArrowDown');
  const g1 = await page.evaluate(() => document.activeElement.dataset.ch);
  await page.keyboard.press('ArrowRight');
  const g2 = await page.evaluate(() => +document.activeElement.dataset.start);
  ok('grid_keys', g0 === 'demo' && g1 === 'news' && g2 > 0, JSON.stringify({ g0, g1, g2 }));
  await page.keyboard.press('ArrowUp');
  await shot('player-grid.png');
  await page.keyboard.press('Escape');
  await until('grid closed', () => atoll.overlay === null);

  // 6. the channel guide (→ from the list), then catch-up of the past programme with one click
  const openGuide = async () => {
    await page.focus('#channels li[data-id="demo"]');
    await page.keyboard.press('ArrowRight');
    await until('guide', () => atoll.overlay === 'guide' && document.querySelectorAll('#g-list li').length > 0);
  };
  await openGuide();
  // the past programme becomes playable once it has ended (the test made it end ~20 s after start)
  const pastSel = `#g-list li[data-start="${cfg.past.start}"]`;
  for (let i = 0; i < 60; i++) {
    if (await page.evaluate((sel) => { const li = document.querySelector(sel); return li && li.classList.contains('past') && li.classList.contains('cu'); }, pastSel)) break;
    await page.keyboard.press('Escape');
    await page.waitForTimeout(1000);
    await openGuide();
  }
  const oldCls = await page.evaluate((sel) => document.querySelector(sel)?.className, `#g-list li[data-start="${cfg.old.start}"]`);
  ok('guide_marks_not_archived', oldCls && oldCls.includes('past') && !oldCls.includes('cu'), oldCls);
  await shot('player-guide.png');
  await page.click(`${pastSel} .act.primary`);
  await until('catch-up mode', () => atoll.mode === 'catchup' && atoll.overlay === null);
  ok('catchup_plays', (await advances('catch-up')) === true, 'video error');
  const wallAtStart = await until('playing date', () => atoll.playingWall());
  const url = [...playlists.keys()].find((u) => u.includes(`/live/demo/index-${cfg.past.start}-`));
  ok('catchup_url', !!url, [...playlists.keys()].join(' '));
  if (url) {
    const text = playlists.get(url);
    const pdt = Date.parse(text.match(/#EXT-X-PROGRAM-DATE-TIME:(\S+)/)[1]) / 1000;
    const off = parseFloat((text.match(/#EXT-X-START:TIME-OFFSET=([0-9.]+)/) || [0, '0'])[1]);
    // the first segment starts at the keyframe at or before the programme's start (2 s segments)…
    ok('catchup_segment_pdt', pdt <= cfg.past.start + 0.05 && pdt > cfg.past.start - 2.5,
      `first segment PDT ${pdt} vs programme start ${cfg.past.start}`);
    ok('catchup_start_offset', Math.abs(pdt + off - cfg.past.start) < 0.05, `PDT ${pdt} + START ${off}`);
    ok('catchup_url_token', url.includes(tokenQ), url);
  }
  // …and the picture on screen is from the programme's start, not from live
  ok('catchup_playing_at_start', wallAtStart >= cfg.past.start - 0.5 && wallAtStart < cfg.past.start + 8,
    `playing ${wallAtStart}, programme starts ${cfg.past.start}`);
  await page.mouse.move(900, 400);
  await shot('player-catchup.png');

  // 7. a programme that is not in the archive says so
  await openGuide();
  await page.click(`#g-list li[data-start="${cfg.old.start}"]`);
  const na = await until('not-in-archive message', () => !document.getElementById('msg').hidden && document.getElementById('msg').textContent);
  ok('not_in_archive_message', na.includes('not in the archive') && na.includes(cfg.old.title), na);
  await page.keyboard.press('Escape');

  // 8. start over the current programme, then back to live
  await page.click('#channels li[data-id="demo"]');
  await until('demo live', () => atoll.channel === 'demo' && atoll.mode === 'live');
  await advances('demo live again');
  await page.mouse.move(900, 400);
  await until('start-over button', () => !document.getElementById('b-startover').hidden);
  await page.click('#b-startover');
  await until('timeshift', () => atoll.mode === 'timeshift');
  ok('startover_plays', (await advances('start over')) === true, 'video error');
  const so2 = await until('start-over date', () => atoll.playingWall());
  ok('startover_at_programme_start', so2 >= cfg.current.start - 0.5 && so2 < cfg.current.start + 8,
    `playing ${so2}, programme starts ${cfg.current.start}`);
  ok('startover_url', [...playlists.keys()].some((u) => u.includes(`/live/demo/timeshift_abs-${cfg.current.start}.m3u8`)),
    [...playlists.keys()].join(' '));
  // ← seeks back 30 s on the timeshift window
  await page.mouse.move(900, 400);
  await until('live button', () => !document.getElementById('b-live').hidden);
  await page.click('#b-live');
  await until('live again', () => atoll.mode === 'live');
  const sl = await until('live date', () => atoll.playingWall() && { wall: atoll.playingWall(), now: atoll.now() });
  ok('back_to_live', sl.now - sl.wall < 20, JSON.stringify(sl));

  // 9. language switch (remembered), volume and last channel remembered across a reload
  await page.evaluate(() => { document.getElementById('v').volume = 0.3; });
  await page.click('#channels li[data-id="news"]');
  await until('news', () => atoll.channel === 'news');
  await page.selectOption('#lang', 'zh');
  const zh = await page.evaluate(() => ({ lang: document.documentElement.lang, guide: document.getElementById('b-guide').textContent, ph: document.getElementById('search').placeholder }));
  ok('i18n_zh', zh.lang === 'zh-CN' && zh.guide === '节目单' && zh.ph === '搜索频道', JSON.stringify(zh));
  await page.reload({ waitUntil: 'load' });
  await until('reloaded', () => atoll.channel);
  const after = await page.evaluate(() => ({ ch: atoll.channel, lang: document.documentElement.lang, vol: document.getElementById('v').volume }));
  ok('remembers', after.ch === 'news' && after.lang === 'zh-CN' && Math.abs(after.vol - 0.3) < 0.01, JSON.stringify(after));
  await page.selectOption('#lang', 'en');

  // 10. search
  await page.fill('#search', 'Sports');
  const found = await page.evaluate(() => [...document.querySelectorAll('#channels li')].map((li) => li.dataset.id));
  ok('search', found.length === 1 && found[0] === 'sports', JSON.stringify(found));

  // 11. the service worker (127.0.0.1 is a secure origin) keeps the page shell, never media or API
  const sw = await page.evaluate(async () => {
    if (!('serviceWorker' in navigator)) return 'no service worker support';
    const reg = await navigator.serviceWorker.ready;
    if (!reg.active) return 'not active';
    const keys = [];
    for (const n of await caches.keys()) {
      for (const r of await (await caches.open(n)).keys()) keys.push(new URL(r.url).pathname);
    }
    return keys;
  });
  ok('service_worker_shell_only', Array.isArray(sw) && sw.includes('/') && sw.includes('/assets/hls.min.js')
    && !sw.some((k) => /^\/(live|api)\//.test(k)), JSON.stringify(sw));
} catch (e) {
  checks.script = String(e && e.stack || e);
  try { await shot('player-failure.png'); } catch { /* no page */ }
} finally {
  // everything comes from Atoll itself, and API/HLS requests carry the viewer token
  const origin = new URL(base).origin;
  const foreign = requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:'));
  ok('same_origin_only', foreign.length === 0, foreign.slice(0, 5).join(' '));
  const media = requests.filter((u) => u.startsWith(origin) && /\/(api|live)\//.test(u));
  const missing = media.filter((u) => !u.includes(tokenQ));
  ok('token_everywhere', media.length > 10 && missing.length === 0, `${missing.length}/${media.length} without token: ${missing.slice(0, 3).join(' ')}`);
  ok('segments_requested', media.some((u) => /\.ts\?/.test(u)), 'no segment requests');
  ok('no_page_errors', errors.length === 0, errors.join('; '));
  await browser.close();
}
console.log(JSON.stringify({ checks, shots }));
