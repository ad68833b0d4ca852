// The viewer page used the way people use it: with a TV remote only (1920×1080, arrows, OK, Back,
// digits) and on a phone (390×844, touch). Each check is one bug of issue 19 that got in the way:
// a jump back inside the live buffer shows the time-shift state and "Back to live"; focus lands on
// the player when an overlay closes after playing; the grid's detail bar prints no "null"; on touch
// the controls hide again and a swipe over them still changes channel; focus survives the group
// chips' redraw; the search box lets go of ←/→ so the grid button, the language menu and the
// control bar are reachable; ↑ means the next channel number in the list and on the picture; the
// guide overlays are opaque, short programmes are not cut, the focused grid cell stays clear of the
// channel names; dates follow the browser's locale, day tabs stop where the guide does, and an
// off-air channel has no scrub bar.
// Usage: node player-remote.mjs BASE_URL SHOT_DIR CONFIG_JSON
//   CONFIG: {"past":{"start","stop","title"},"current":{"start","title"},"last_stop":unix s}
// Prints one JSON line: {"checks":{name:true|message},"shots":[…]}; tests/player.rs asserts on it.
import { chromium } from 'playwright-core';

const [base, shotDir, cfgText] = process.argv.slice(2);
const cfg = JSON.parse(cfgText);
const checks = {};
const shots = [];
const ok = (name, cond, why) => { checks[name] = cond ? true : String(why ?? 'failed'); return cond; };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required'],
});
let page;
const errors = [];
async function until(what, fn, ms = 20000, arg) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await page.evaluate(fn, arg); if (last) return last; } catch (e) { last = String(e); }
    await page.waitForTimeout(200);
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}
/** Like until() but gives back null instead of throwing (the check then says what it saw). */
async function soon(fn, ms, arg) { try { return await until('', fn, ms, arg); } catch { return null; } }
async function shot(name) {
  const p = `${shotDir}/${name}`;
  await page.screenshot({ path: p });
  shots.push(p);
}
const key = (k) => page.keyboard.press(k);
const focused = () => page.evaluate(() => {
  const a = document.activeElement;
  return a ? { id: a.id, tag: a.tagName, group: a.dataset.group, ch: a.dataset.id, start: a.dataset.start,
    inList: !!a.closest('#channels'), inControls: !!a.closest('#controls'), inGroups: !!a.closest('#groups'),
    on: a.classList.contains('on') } : null;
});
const playing = (label) => until(`${label}: playing`, () => {
  const v = document.getElementById('v');
  return v.currentTime > 0.5 && !v.paused && v.readyState >= 2;
}, 30000);
const bar = () => page.evaluate(() => ({
  mode: atoll.mode, badge: document.getElementById('c-mode').textContent,
  live: !document.getElementById('b-live').hidden, pos: document.getElementById('s-pos').textContent,
  behind: atoll.now() - (atoll.playingWall() || 0),
}));

/** The page afresh on the demo channel (nothing remembered), playing. */
async function fresh(channel = 'demo') {
  await page.evaluate(() => localStorage.clear()).catch(() => {});
  await page.goto(`${base}/?channel=${channel}`, { waitUntil: 'load' });
  await until('channel list', () => document.querySelectorAll('#channels li').length === 3);
  await playing(`live ${channel}`);
}
/** Runs one step; an exception fails the checks it names that have not run yet, the next steps
 *  still run (each starts afresh), so every check says something. */
async function step(names, fn) {
  try { await fn(); } catch (e) {
    for (const n of names) if (!(n in checks)) ok(n, false, String(e && e.message || e).split('\n')[0]);
  }
}

async function newPage(opts) {
  const ctx = await browser.newContext({ locale: 'en-US', timezoneId: 'UTC', ...opts });
  page = await ctx.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  return ctx;
}

try {
  // ================= TV remote, 1920×1080 =================
  const tv = await newPage({ viewport: { width: 1920, height: 1080 } });
  await fresh();

  await step(['jump_in_buffer_shows_timeshift', 'back_to_live_from_buffer'], async () => {
    // item 1: after 40 s of live, ← jumps back inside the buffer: the badge and "Back to live" say so
    await until('40 s of live in the buffer', () => {
      const v = document.getElementById('v');
      return v.buffered.length && v.currentTime - v.buffered.start(0) > 40;
    }, 60000);
    await key('Escape'); // the list row had the focus at the start: Back hands it to the picture
    const before = await bar();
    await key('ArrowLeft');
    const shifted = await soon(() => atoll.now() - atoll.playingWall() > 30 && !document.getElementById('v').seeking, 6000);
    await page.waitForTimeout(1200);
    const b1 = await bar();
    await shot('remote-shifted.png');
    ok('jump_in_buffer_shows_timeshift', before.badge === 'LIVE' && shifted && b1.mode === 'live' && b1.badge !== 'LIVE' && b1.live
      && /behind live/.test(b1.pos), JSON.stringify({ before, b1, shifted }));
    await key('l');
    const b2 = await soon(() => atoll.now() - atoll.playingWall() < 20 && document.getElementById('c-mode').textContent === 'LIVE'
      && document.getElementById('b-live').hidden, 8000);
    ok('back_to_live_from_buffer', !!b2, JSON.stringify(await bar()));
  });

  await step(['group_focus_survives_redraw'], async () => {
    await fresh();
    // item 5: ←/→ on the group chips switches the group and the focus stays on the chip (the chips
    // are past the lowest number: ↓ from the first row)
    await page.focus('#channels li[data-id="demo"]');
    await key('ArrowDown');
    const g0 = await focused();
    await key('ArrowRight');
    const g1 = await focused();
    const shown1 = await page.evaluate(() => [...document.querySelectorAll('#channels li')].map((li) => li.dataset.id));
    await key('ArrowRight');
    const g2 = await focused();
    await key('ArrowLeft');
    await key('ArrowLeft');
    const g3 = await focused();
    ok('group_focus_survives_redraw', g0 && g0.inGroups && g1 && g1.inGroups && g1.on && g1.group !== g0.group
      && g2 && g2.inGroups && g2.on && g3 && g3.inGroups && g3.group === '' && shown1.length < 3,
    JSON.stringify({ g0, g1, g2, g3, shown1 }));
  });

  await step(['topbar_reachable_by_remote', 'back_returns_focus_to_opener'], async () => {
    await fresh();
    await page.focus('#groups button.on');
    // item 6: from the chips ↑ to the search box, → to the grid button, → to the language menu; OK
    // there switches the language; ← back and OK opens the grid; OK on the picture reaches the bar
    await key('ArrowUp');
    const s0 = await focused();
    await key('ArrowRight');
    const s1 = await focused();
    await key('ArrowRight');
    const s2 = await focused();
    await shot('remote-topbar.png');
    await key('Enter');
    const zh = await page.evaluate(() => document.documentElement.lang);
    await key('Enter');
    const en = await page.evaluate(() => document.documentElement.lang);
    await key('ArrowLeft');
    const s3 = await focused();
    await key('Enter');
    const grid = await soon(() => atoll.overlay === 'grid' && document.activeElement.classList.contains('xp'), 5000);
    ok('topbar_reachable_by_remote', s0.id === 'search' && s1.id === 'btn-grid' && s2.id === 'lang' && zh === 'zh-CN'
      && en === 'en' && s3.id === 'btn-grid' && grid, JSON.stringify({ s0, s1, s2, zh, en, s3, grid }));

    if (grid) {
      await key('Escape');
      await until('grid closed', () => atoll.overlay === null);
    }
    const back = await focused();
    ok('back_returns_focus_to_opener', back.id === 'btn-grid', JSON.stringify(back));
  });

  await step(['grid_detail_no_null', 'day_tabs_end_with_guide'], async () => {
    await fresh();
    await key('Escape');
    await key('g');
    await until('grid', () => atoll.overlay === 'grid' && document.activeElement.classList.contains('xp'));
    // item 3: no "null" after a title without a sub-title in the grid's detail bar
    const detail = await page.evaluate(() => document.getElementById('x-detail').textContent);
    ok('grid_detail_no_null', detail.length > 5 && !detail.includes('null'), detail);
    // item 9: the day tabs end with the guide's last day
    const tabs = await page.evaluate(() => [...document.querySelectorAll('#x-days button')].map((b) => b.textContent));
    const lastDay = new Date(cfg.last_stop * 1000); lastDay.setUTCHours(0, 0, 0, 0);
    const today = new Date(); today.setUTCHours(0, 0, 0, 0);
    const wantFuture = Math.round((lastDay - today) / 86400000);
    const future = tabs.slice(tabs.indexOf('Today') + 1);
    ok('day_tabs_end_with_guide', tabs.includes('Today') && future.length === wantFuture, JSON.stringify({ tabs, wantFuture }));
    await shot('remote-grid.png');
    await key('Escape');
  });

  await step(['controls_reachable_by_remote'], async () => {
    await fresh();
    // item 6 (the control bar): ← from the list row to the picture, OK there → the control bar
    await key('ArrowLeft');
    const p0 = await focused();
    await key('Enter');
    const c0 = await focused();
    await shot('remote-controls.png');
    let cg = c0;
    for (let i = 0; i < 10 && cg && cg.id !== 'b-guide'; i++) { await key('ArrowRight'); cg = await focused(); }
    await key('Enter');
    const guide = await soon(() => atoll.overlay === 'guide', 5000);
    await key('Escape');
    await until('guide closed', () => atoll.overlay === null);
    await key('ArrowUp');
    const p1 = await focused();
    ok('controls_reachable_by_remote', p0.id === 'stage' && c0.inControls && cg && cg.id === 'b-guide' && guide && p1.id === 'stage',
      JSON.stringify({ p0, c0, cg, guide, p1 }));
  });

  await step(['focus_on_player_after_overlay'], async () => {
    await fresh();
    await key('Escape');
    // item 2: E, ↑ to the past programme, OK: catch-up plays and the focus is on the player, so →
    // seeks (no guide reopens) and the first ← is not swallowed
    const pastSel = `#g-list li[data-start="${cfg.past.start}"]`;
    for (let i = 0; i < 60; i++) {
      await key('e');
      await until('guide', () => atoll.overlay === 'guide' && document.querySelectorAll('#g-list li').length > 0);
      if (await page.evaluate((sel) => { const li = document.querySelector(sel); return li && li.classList.contains('cu'); }, pastSel)) break;
      await key('Escape');
      await page.waitForTimeout(1000);
    }
    for (let i = 0; i < 5; i++) {
      if ((await focused()).start === String(cfg.past.start)) break;
      await key('ArrowUp');
    }
    await key('Enter');
    await until('catch-up', () => atoll.mode === 'catchup' && atoll.overlay === null);
    await playing('catch-up');
    const f0 = await focused();
    await key('ArrowRight');
    await page.waitForTimeout(300);
    const r1 = await page.evaluate(() => ({ overlay: atoll.overlay, pos: document.getElementById('s-pos').textContent }));
    await page.waitForTimeout(1200);
    await key('ArrowLeft');
    await page.waitForTimeout(300);
    const l1 = await page.evaluate(() => ({ overlay: atoll.overlay, active: document.activeElement.id,
      pos: document.getElementById('s-pos').textContent }));
    ok('focus_on_player_after_overlay', f0.id === 'stage' && r1.overlay === null && l1.overlay === null && l1.active === 'stage'
      && l1.pos !== r1.pos, JSON.stringify({ f0, r1, l1 }));
  });

  await step(['up_is_next_number_everywhere'], async () => {
    await fresh();
    await key('Escape');
    // item 7: ↑ in the list and on the picture both go to the next higher channel number
    await key('l');
    await until('live', () => atoll.mode === 'live');
    await key('ArrowUp');
    const z1 = await soon(() => atoll.channel === 'news', 4000);
    await page.focus('#channels li[data-id="news"]');
    await key('ArrowUp');
    const l7 = await focused();
    ok('up_is_next_number_everywhere', !!z1 && l7.ch === 'sports', JSON.stringify({ z1, l7 }));
  });

  await step(['off_air_has_no_scrub_bar', 'dates_in_browser_locale'], async () => {
    await fresh();
    await key('Escape');
    // item 9: an off-air channel has no scrub bar; the guide's day tabs are in the browser's locale
    await key('5');
    await until('sports', () => atoll.channel === 'sports', 6000);
    await page.waitForTimeout(500);
    const off = await page.evaluate(() => ({ scrub: document.getElementById('scrub').offsetParent !== null,
      badge: document.getElementById('c-mode').textContent }));
    await shot('remote-offair.png');
    ok('off_air_has_no_scrub_bar', !off.scrub && off.badge === 'Off air', JSON.stringify(off));
    await key('1');
    await until('demo', () => atoll.channel === 'demo', 6000);
    await key('e');
    await until('guide', () => atoll.overlay === 'guide' && document.querySelectorAll('#g-days button').length > 0);
    const days = await page.evaluate(() => [...document.querySelectorAll('#g-days button')].map((b) => b.textContent));
    const old = days.filter((d) => !['Today', 'Yesterday', 'Tomorrow'].includes(d));
    ok('dates_in_browser_locale', old.every((d) => /^[A-Z][a-z]{2}, [A-Z][a-z]{2} \d{1,2}$/.test(d)), JSON.stringify(days));
    await key('Escape');
  });

  await tv.close();

  // ================= phone, 390×844, touch =================
  const phone = await newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  await step(['touch_controls_hide', 'swipe_over_controls_zaps'], async () => {
    await fresh();
    await until('controls hidden after the start', () => !document.getElementById('app').classList.contains('ui'), 9000);
    // item 4: a tap shows the controls, 5 s later they hide again (no pointer ever leaves on touch);
    // taps land mid-picture (a message may sit at its top)
    const pic = await page.evaluate(() => { const r = document.getElementById('v').getBoundingClientRect(); return { x: r.left + r.width / 2, y: r.top + r.height / 2 }; });
    await page.touchscreen.tap(pic.x, pic.y);
    const shown = await soon(() => document.getElementById('app').classList.contains('ui'), 2000);
    await page.waitForTimeout(400); // the fade-in
    await shot('phone-controls.png');
    const hidden = await soon(() => !document.getElementById('app').classList.contains('ui'), 9000);
    await page.waitForTimeout(400);
    await shot('phone-hidden.png');
    ok('touch_controls_hide', shown && hidden, JSON.stringify({ shown, hidden }));
    // …and a swipe up on the picture changes channel also where the shown controls cover it
    if (!(await page.evaluate(() => document.getElementById('app').classList.contains('ui')))) await page.touchscreen.tap(pic.x, pic.y);
    await until('controls shown', () => document.getElementById('app').classList.contains('ui'), 2000);
    const at = await page.evaluate(() => {
      const r = document.getElementById('controls').getBoundingClientRect();
      const x = r.left + r.width / 2, y = r.top + 12;
      return { x, y, hit: document.elementFromPoint(x, y).id };
    });
    const cdp = await phone.newCDPSession(page);
    const touch = (type, y) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: type === 'touchEnd' ? [] : [{ x: at.x, y }] });
    await touch('touchStart', at.y);
    for (let i = 1; i <= 5; i++) { await touch('touchMove', at.y - i * 30); await page.waitForTimeout(16); }
    await touch('touchEnd');
    const swiped = await soon(() => atoll.channel !== 'demo' && atoll.channel, 4000);
    ok('swipe_over_controls_zaps', swiped === 'news', JSON.stringify({ at, swiped }));
  });

  await step(['phone_guide_opaque', 'phone_grid_cell_clear_of_names', 'short_programmes_not_cut'], async () => {
    await fresh();
    // item 8: the guide overlay is opaque; short programmes are not cut; the focused grid cell is
    // clear of the channel names
    if (!(await page.evaluate(() => document.getElementById('app').classList.contains('ui')))) {
      const pic = await page.evaluate(() => { const r = document.getElementById('v').getBoundingClientRect(); return { x: r.left + r.width / 2, y: r.top + r.height / 2 }; });
      await page.touchscreen.tap(pic.x, pic.y);
      await until('controls shown', () => document.getElementById('app').classList.contains('ui'), 3000);
    }
    await page.tap('#b-guide');
    await until('phone guide', () => atoll.overlay === 'guide' && document.querySelectorAll('#g-list li').length > 0);
    await page.waitForTimeout(300);
    const see = await page.evaluate(() => {
      const ov = document.getElementById('guide');
      const bg = getComputedStyle(ov).backgroundColor;
      const rows = [...document.querySelectorAll('#g-list li')].map((li) => getComputedStyle(li).backgroundColor);
      const r = ov.getBoundingClientRect();
      const top = document.elementFromPoint(r.left + r.width / 2, r.bottom - 40);
      return { bg, rows: rows.slice(0, 3), topInOverlay: !!(top && top.closest('#guide')) };
    });
    await shot('phone-guide.png');
    const opaque = /^rgb\(/.test(see.bg) || /, 1\)$/.test(see.bg);
    ok('phone_guide_opaque', opaque && see.topInOverlay, JSON.stringify(see));
    await page.tap('#g-close');
    await until('guide closed', () => atoll.overlay === null);
    await page.evaluate(() => document.getElementById('btn-grid').click());
    await until('phone grid', () => atoll.overlay === 'grid' && document.activeElement.classList.contains('xp'));
    await page.waitForTimeout(300);
    const cell = await page.evaluate(() => {
      const a = document.activeElement.getBoundingClientRect();
      const names = document.querySelector('.xrow:not(.xhead) .xch').getBoundingClientRect();
      const tiny = [...document.querySelectorAll('#x-body .xp')].filter((b) => b.getBoundingClientRect().width < 48 && b !== document.activeElement)
        .map((b) => {
          const t = b.querySelector('b');
          return { w: b.getBoundingClientRect().width, shown: t && getComputedStyle(t).display !== 'none' ? t.getBoundingClientRect().width : 0, text: t ? t.textContent : '' };
        });
      return { cellLeft: a.left, namesRight: names.right, tiny };
    });
    await shot('phone-grid.png');
    ok('phone_grid_cell_clear_of_names', cell.cellLeft >= cell.namesRight - 1, JSON.stringify(cell));
    ok('short_programmes_not_cut', cell.tiny.length > 0 && cell.tiny.every((c) => c.shown === 0), JSON.stringify(cell.tiny));
  });

  await phone.close();
} catch (e) {
  checks.script = String(e && e.stack || e);
  try { await shot('remote-failure.png'); } catch { /* no page */ }
} finally {
  ok('no_page_errors', errors.length === 0, errors.join('; '));
  await browser.close();
}
console.log(JSON.stringify({ checks, shots }));
