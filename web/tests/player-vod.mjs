// Drives the Films / Series section of Atoll's viewer page in headless Chromium like a viewer with a
// TV remote (arrow keys, Enter, Escape) and a mouse: switch from Live TV to Films, find the imported
// film with its poster, open its details (tracks listed), play it, turn on the subtitle and see its
// cue, switch the audio to the second language, seek to the middle, pause and go back, see
// "Continue watching" (also in Chinese), reload, resume near the saved position, open the series'
// episodes in order, search, and go back to Live TV which plays again.
//
// Usage: node player-vod.mjs BASE_URL SCREENSHOT_DIR CONFIG_JSON
//   CONFIG: {"id":N,"title":"…","duration":s,"cue":{"text","from","to"},
//            "meta":{"title_en","year","genre","description"},
//            "series":{"name","episodes":[{"id","season","episode"}]}|null,"token":"…"|null}
//   With a token the page is opened as `/?token=…`, and every request for the library, posters and
//   the title's playlists and segments must carry it.
// Prints one JSON line: {"ok":bool,"steps":[{"name","ok","ms","error"?}],"screenshots":[…],
//   "error":…,"pageErrors":[…],"facts":{…}}; the Rust driver asserts on it.
import { chromium } from 'playwright-core';
import path from 'node:path';

const [base, shotDir, cfgText] = process.argv.slice(2);
const cfg = JSON.parse(cfgText);
const budgetS = +(process.env.ADMIN_TEST_BUDGET_S || 240);
const result = { ok: false, steps: [], screenshots: [], error: null, pageErrors: [], facts: {} };
let printed = false;
const finish = () => {
  if (printed) return;
  printed = true;
  result.ok = !result.error && result.steps.length > 0 && result.steps.every((s) => s.ok);
  console.log(JSON.stringify(result));
};
const killer = setTimeout(() => {
  result.error = `the whole run took longer than ${budgetS} s (last step: ${result.steps.at(-1)?.name ?? 'none'})`;
  finish();
  process.exit(1);
}, budgetS * 1000);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required'],
});
let page;
const requests = [];

async function step(name, fn, { critical = true } = {}) {
  const t0 = Date.now();
  try {
    await fn();
    result.steps.push({ name, ok: true, ms: Date.now() - t0 });
    return true;
  } catch (e) {
    const msg = String(e && e.message || e).split('\n').slice(0, 4).join(' | ');
    result.steps.push({ name, ok: false, ms: Date.now() - t0, error: msg });
    try { await shot(`vod-failed-${result.steps.length}.png`); } catch { /* no page */ }
    if (critical) throw new Error(`step "${name}" failed: ${msg}`);
    return false;
  }
}
async function shot(file) {
  const p = path.join(shotDir, file);
  await page.screenshot({ path: p });
  result.screenshots.push(p);
}
/** Polls `fn` (a page function or expression) until truthy; returns its value. */
async function until(what, fn, ms = 15000, arg) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await page.evaluate(fn, arg); if (last) return last; } catch (e) { last = String(e); }
    await page.waitForTimeout(200);
  }
  throw new Error(`timed out after ${ms / 1000} s waiting for ${what} (last: ${JSON.stringify(last)})`);
}
const assert = (cond, msg) => { if (!cond) throw new Error(msg); };
const active = () => page.evaluate(() => {
  const a = document.activeElement;
  return a ? { id: a.id, dataId: a.dataset.id || null, series: a.dataset.series || null, text: a.textContent.trim().slice(0, 60),
    row: a.closest('.vrow') ? a.closest('.vrow').dataset.row : null } : null;
});
const key = async (k, n = 1) => { for (let i = 0; i < n; i++) { await page.keyboard.press(k); await page.waitForTimeout(120); } };
const vstate = () => page.evaluate(() => {
  const v = document.getElementById('v');
  return { t: v.currentTime, paused: v.paused, ready: v.readyState, screen: atoll.vod.screen, view: atoll.view, mode: atoll.mode };
});
/** Presses arrow keys until the focused element matches `want` (a function of active()). */
async function navigate(what, want, plan) {
  for (const k of plan) {
    const a = await active();
    if (want(a)) return a;
    await key(k);
  }
  const a = await active();
  assert(want(a), `could not reach ${what} with the arrow keys (focus: ${JSON.stringify(a)})`);
  return a;
}
/** The play head advances by `by` seconds with no error on the video element. */
async function advances(label, by = 1.5) {
  const s0 = await until(`${label}: playing`, () => {
    const v = document.getElementById('v');
    return !v.paused && v.readyState >= 2 && v.currentTime > 0 && { t: v.currentTime };
  }, 20000);
  await until(`${label}: play head advancing`, (t) => document.getElementById('v').currentTime > t, 15000, s0.t + by);
  const ve = await page.evaluate(() => window.__videoErrors.splice(0));
  assert(!ve.length, `video errors: ${ve.join('; ')}`);
  return s0.t;
}
const tileSel = `#vlib .vt[data-id="${cfg.id}"]`;

try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, locale: 'en-US' });
  page = await ctx.newPage();
  page.on('pageerror', (e) => result.pageErrors.push(String(e)));
  page.on('request', (r) => requests.push(r.url()));
  await page.addInitScript(() => {
    window.__videoErrors = [];
    document.addEventListener('DOMContentLoaded', () => {
      document.getElementById('v').addEventListener('error', (e) => {
        const v = e.target;
        if (v.error) window.__videoErrors.push(`${v.error.code} ${v.error.message}`);
      });
    });
  });

  await step('the page opens on Live TV', async () => {
    await page.goto(base + '/' + (cfg.token ? `?token=${encodeURIComponent(cfg.token)}` : ''), { waitUntil: 'load' });
    await until('the channel list', () => document.querySelectorAll('#channels li').length > 0);
    const s = await vstate();
    assert(s.view === 'live', `view ${s.view}`);
  });

  await step('the remote reaches the Films tab and opens it', async () => {
    await page.focus('#search');
    await key('ArrowUp');
    let a = await active();
    assert(a.id === 'tab-live', `ArrowUp from the search box focused ${JSON.stringify(a)}`);
    await key('ArrowRight');
    a = await active();
    assert(a.id === 'tab-vod', `ArrowRight focused ${JSON.stringify(a)}`);
    await key('Enter');
    await until('the Films section', () => atoll.view === 'vod' && atoll.vod.screen === 'library' && !document.getElementById('vod').hidden);
  });

  await step('the film is listed with its poster loaded', async () => {
    const info = await until('the film tile with a loaded poster', (sel) => {
      const tile = document.querySelector(sel);
      const img = tile && tile.querySelector('img.pimg');
      return img && img.complete && img.naturalWidth > 0
        && { text: tile.textContent, w: img.naturalWidth, te: (tile.querySelector('.te') || {}).textContent, mt: tile.querySelector('.mt').textContent, row: tile.closest('.vrow') && tile.closest('.vrow').querySelector('h3').textContent };
    }, 15000, tileSel);
    assert(info.text.includes(cfg.title), `tile text ${info.text}`);
    assert(info.row === 'Films', `the film's row is "${info.row}"`);
    assert(info.te === cfg.meta.title_en && info.mt.startsWith(`${cfg.meta.year} · `), `tile subtitle/meta ${JSON.stringify(info)}`);
    result.facts.posterWidth = info.w;
    // a series is one tile (its episodes' poster, or a placeholder tile with its name)
    if (cfg.series) {
      const st = await until('the series tile', (n) => {
        const s = document.querySelector(`#vlib .vt[data-series="${CSS.escape(n)}"]`);
        const img = s && s.querySelector('img.pimg');
        const ph = s && s.querySelector('.ph');
        return s && (ph || img && img.complete) && { text: s.textContent, ph: !!ph, img: img ? img.naturalWidth : null };
      }, 10000, cfg.series.name);
      assert(st.text.includes(cfg.series.name) && st.text.includes(`${cfg.series.episodes.length} episodes`)
        && (st.ph ? st.text.split(cfg.series.name).length > 2 : st.img > 0), `series tile ${JSON.stringify(st)}`);
      result.facts.seriesTile = st;
    }
    await shot('vod-library.png');
    // a category chip shows that category alone, All the rows again
    if (cfg.series) {
      await page.click('#vcats button:text-is("Series")');
      const g = await until('the Series category', () => document.querySelector('#vlib .vgrid') && {
        h: document.querySelector('#vlib .vgrid-h').textContent,
        films: document.querySelectorAll('#vlib .vt[data-id]').length,
        series: document.querySelectorAll('#vlib .vt[data-series]').length,
      });
      assert(g.h === 'Series' && g.films === 0 && g.series === 1, `category grid ${JSON.stringify(g)}`);
      await page.click('#vcats button:text-is("All")');
      await until('the rows again', () => document.querySelector('#vlib .vrow'));
    }
  });

  await step('arrow keys and Enter open the details', async () => {
    await navigate('the film tile', (a) => a.dataId === String(cfg.id),
      ['ArrowDown', 'ArrowDown', 'ArrowDown', 'ArrowRight', 'ArrowRight', 'ArrowDown', 'ArrowRight', 'ArrowRight', 'ArrowDown', 'ArrowRight']);
    await key('Enter');
    const d = await until('the details', () => atoll.vod.screen === 'details' && {
      title: document.getElementById('vd-title').textContent,
      audio: document.getElementById('vd-audio').textContent,
      subs: document.getElementById('vd-subs').textContent,
      img: document.querySelector('#vd-poster img') ? document.querySelector('#vd-poster img').naturalWidth : 0,
      focus: document.activeElement.id,
      play: document.getElementById('vd-play').textContent,
      en: document.getElementById('vd-title-en').textContent,
      meta: [...document.querySelectorAll('#vd-meta span')].map((x) => x.textContent),
      desc: document.getElementById('vd-desc').textContent,
    });
    const m = cfg.meta;
    assert(d.en === m.title_en && d.desc === m.description && d.meta.includes(String(m.year)) && d.meta.includes(m.genre)
      && d.meta.includes('30 s'), `details ${JSON.stringify(d)}`);
    assert(d.title === cfg.title, `title ${d.title}`);
    assert(d.audio === 'English, French', `audio ${d.audio}`);
    assert(d.subs === 'English', `subtitles ${d.subs}`);
    assert(d.focus === 'vd-play' && d.play === 'Play', `focus ${d.focus} (${d.play})`);
    result.facts.details = d;
    await shot('vod-details.png');
  });

  await step('Enter plays the film', async () => {
    await key('Enter');
    await until('playback screen', () => atoll.vod.screen === 'play' && atoll.mode === 'vod');
    await advances('film');
    const dur = await page.evaluate(() => document.getElementById('vt-dur').textContent);
    result.facts.durationLabel = dur;
  });

  await step('the subtitle turns on and its cue shows', async () => {
    await page.mouse.move(640, 300);
    await page.click('#vb-subs');
    await until('the subtitle menu', () => !document.getElementById('vmenu').hidden && document.querySelectorAll('#vmenu .mi').length === 2);
    await page.click('#vmenu .mi[data-i="0"]');
    await until('hls.js on the subtitle track', () => atoll.hls && atoll.hls.subtitleTrack === 0 && atoll.hls.subtitleDisplay);
    // into the cue's time (from the bar, as a viewer would click it)
    const mid = (cfg.cue.from + cfg.cue.to) / 2 - 1;
    const box = await page.locator('#vbar .track').boundingBox();
    await page.mouse.move(640, 300);
    await page.mouse.click(box.x + box.width * (mid / cfg.duration), box.y + box.height / 2);
    const cue = await until('the cue active on a showing text track', () => {
      const v = document.getElementById('v');
      for (const tt of v.textTracks) {
        if (tt.mode !== 'showing' || !tt.activeCues) continue;
        for (const c of tt.activeCues) if (c.text) return { text: c.text, t: v.currentTime, label: tt.label };
      }
      return false;
    }, 20000);
    assert(cue.text.includes(cfg.cue.text), `cue "${cue.text}"`);
    assert(cue.t >= cfg.cue.from - 0.5 && cue.t <= cfg.cue.to + 0.5, `cue active at ${cue.t}`);
    result.facts.cue = cue;
    const label = await page.evaluate(() => document.getElementById('vb-subs').textContent);
    assert(label === 'Subtitles: English', `subtitle button says ${label}`);
    await shot('vod-subtitle.png');
    // and Off again
    await page.mouse.move(640, 300);
    await page.click('#vb-subs');
    await page.click('#vmenu .mi[data-i="-1"]');
    const off = await until('subtitles off', () => {
      const v = document.getElementById('v');
      return atoll.hls.subtitleTrack === -1 && ![...v.textTracks].some((x) => x.mode === 'showing')
        && document.getElementById('vb-subs').textContent;
    });
    assert(off === 'Subtitles: Off', off);
  });

  await step('the remote switches the audio to the second language', async () => {
    await page.mouse.move(1, 1);
    await page.focus('#stage');
    await key('ArrowUp');
    let a = await active();
    assert(a.id === 'vb-play', `ArrowUp in playback focused ${JSON.stringify(a)}`);
    await navigate('the audio button', (x) => x.id === 'vb-audio', ['ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight']);
    await key('Enter');
    await until('the audio menu', () => !document.getElementById('vmenu').hidden && document.activeElement.classList.contains('mi'));
    await key('ArrowDown');
    a = await active();
    assert(a.text.includes('Français'), `the second item is ${a.text}`);
    await key('Enter');
    const sw = await until('hls.js switched to the second audio track', () => {
      const h = atoll.hls;
      return h && h.audioTrack === 1 && { lang: h.audioTracks[1].lang, name: h.audioTracks[1].name, label: document.getElementById('vb-audio').textContent };
    });
    assert(sw.lang === 'fra' && sw.label === 'Audio: Français', JSON.stringify(sw));
    // the French rendition's playlist and segments are what loads now
    const fra = await (async () => {
      const end = Date.now() + 10000;
      while (Date.now() < end) {
        const n = requests.filter((u) => /\/vod\/\d+\/af?1[./]/.test(new URL(u).pathname)).length;
        if (n >= 2) return n;
        await page.waitForTimeout(200);
      }
      return 0;
    })();
    assert(fra >= 2, 'no request for the second audio rendition (a1)');
    result.facts.audioRequests = fra;
    result.facts.audio = sw;
    await advances('after the audio switch', 1);
  });

  let saved = 0;
  await step('a click in the middle of the seek bar seeks there and plays on', async () => {
    const box = await page.locator('#vbar .track').boundingBox();
    await page.mouse.move(640, 300);
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    const half = cfg.duration / 2;
    const landed = await until('the play head near the middle', (h) => {
      const v = document.getElementById('v');
      return Math.abs(v.currentTime - h) < 1.5 && !v.seeking && v.currentTime;
    }, 15000, half);
    await until('playing on from the middle', (t) => document.getElementById('v').currentTime > t + 1, 15000, landed);
    result.facts.seekLanded = landed;
    await shot('vod-playing.png');
    // pause there (the remote's play/pause key)
    await page.focus('#stage');
    await key('Space');
    saved = await until('paused', () => document.getElementById('v').paused && document.getElementById('v').currentTime);
    result.facts.pausedAt = saved;
  });

  await step('Back returns to the details, which offer to resume', async () => {
    for (let i = 0; i < 3 && (await vstate()).screen === 'play'; i++) await key('Escape');
    const d = await until('the details again', () => atoll.vod.screen === 'details' && {
      resume: document.getElementById('vd-resume').hidden ? null : document.getElementById('vd-resume').textContent,
      focus: document.activeElement.id,
    });
    const mmss = `${Math.floor(saved / 60)}:${String(Math.floor(saved % 60)).padStart(2, '0')}`;
    assert(d.resume && d.resume.startsWith('Resume from ') && d.resume.includes(mmss.slice(0, -1)), `resume button ${JSON.stringify(d)} (paused at ${saved})`);
    assert(d.focus === 'vd-resume', `focus ${d.focus}`);
    const stored = await page.evaluate((id) => atoll.vod.positions()[id], cfg.id);
    assert(stored && Math.abs(stored.p - saved) < 1, `stored position ${JSON.stringify(stored)}`);
    assert((await vstate()).paused, 'the video still plays after leaving');
  });

  await step('the library shows Continue watching', async () => {
    await key('Escape');
    const c = await until('the Continue watching row', (id) => {
      const r = document.querySelector('#vlib .vrow[data-row="continue"]');
      return atoll.vod.screen === 'library' && r && { h: r.querySelector('h3').textContent, has: !!r.querySelector(`.vt[data-id="${id}"]`), first: r === document.querySelector('#vlib .vrow') };
    }, 10000, cfg.id);
    assert(c.h === 'Continue watching' && c.has && c.first, JSON.stringify(c));
    await shot('vod-continue.png');
  });

  await step('the Chinese UI names the section and its rows', async () => {
    await page.selectOption('#vlang', 'zh');
    const zh = await until('Chinese strings', () => ({
      tab: document.getElementById('vtab-vod').textContent,
      live: document.getElementById('vtab-live').textContent,
      cont: (document.querySelector('#vlib .vrow[data-row="continue"] h3') || {}).textContent,
      search: document.getElementById('vsearch').placeholder,
      lang: document.documentElement.lang,
      te: !!document.querySelector('#vlib .vt .te'),
    }));
    assert(!zh.te, 'the English title is shown in the Chinese UI');
    assert(zh.tab === '电影 / 剧集' && zh.live === '直播电视' && zh.cont === '继续观看' && zh.search === '搜索电影和剧集' && zh.lang === 'zh-CN', JSON.stringify(zh));
    result.facts.zh = zh;
    await shot('vod-zh.png');
    await page.selectOption('#vlang', 'en');
    await until('English again', () => document.getElementById('vtab-vod').textContent === 'Films / Series');
  });

  await step('after a reload, Continue watching resumes near the saved position', async () => {
    await page.reload({ waitUntil: 'load' });
    await until('the Films section again', (id) => atoll.view === 'vod' && document.querySelector(`#vlib .vrow[data-row="continue"] .vt[data-id="${id}"]`), 15000, cfg.id);
    await page.focus('#vtab-vod');
    await navigate('the Continue watching tile', (a) => a.row === 'continue' && a.dataId === String(cfg.id), ['ArrowDown', 'ArrowDown', 'ArrowDown']);
    await key('Enter');
    const d = await until('the details with resume', () => atoll.vod.screen === 'details' && document.activeElement.id === 'vd-resume' && document.activeElement.textContent);
    result.facts.resumeLabel = d;
    await key('Enter');
    const t0 = await advances('resumed', 1);
    assert(Math.abs(t0 - saved) < 2.5, `resumed at ${t0}, saved ${saved}`);
    result.facts.resumedAt = t0;
    // ← on the remote: back 10 s
    await page.focus('#stage');
    const before = await page.evaluate(() => document.getElementById('v').currentTime);
    await key('ArrowLeft');
    const after = await until('10 s back', (b) => {
      const v = document.getElementById('v');
      return Math.abs(v.currentTime - (b - 10)) < 1.5 && v.currentTime;
    }, 10000, before);
    result.facts.back10 = [before, after];
    await page.focus('#stage');
    await key('Escape');
    await until('details', () => atoll.vod.screen === 'details');
    await key('Escape');
    await until('library', () => atoll.vod.screen === 'library');
  });

  if (cfg.series) {
    await step("a series tile lists its episodes by season and episode", async () => {
      await page.click(`#vlib .vt[data-series="${cfg.series.name}"]`);
      const eps = await until('the episode list', () => atoll.vod.screen === 'series' && {
        title: document.getElementById('vs-title').textContent,
        heads: [...document.querySelectorAll('#vs-list h3')].map((h) => h.textContent),
        ids: [...document.querySelectorAll('#vs-list .ep')].map((e) => +e.dataset.id),
        focus: document.activeElement.classList.contains('ep'),
      });
      const want = [...cfg.series.episodes].sort((a, b) => a.season - b.season || a.episode - b.episode).map((e) => e.id);
      assert(eps.title === cfg.series.name && JSON.stringify(eps.ids) === JSON.stringify(want), `${JSON.stringify(eps)} want ${want}`);
      assert(eps.heads.includes('Season 1') && eps.focus, JSON.stringify(eps));
      await key('ArrowDown');
      await key('Enter');
      const det = await until('the episode details', () => atoll.vod.screen === 'details' && document.getElementById('vd-title').textContent);
      assert(det.includes(cfg.series.name), det);
      await shot('vod-series.png');
      // the browser's Back button goes up a screen too
      await page.goBack();
      await until('the episode list again', () => atoll.vod.screen === 'series');
      await key('Escape');
      await until('library', () => atoll.vod.screen === 'library');
    });
  }

  await step('search finds the film through the server', async () => {
    await page.fill('#vsearch', cfg.title.slice(0, 5));
    const r = await until('search results', (id) => {
      const h = document.querySelector('#vlib .vgrid-h');
      return h && { h: h.textContent, ids: [...document.querySelectorAll('#vlib .vt[data-id]')].map((x) => +x.dataset.id) };
    }, 10000, cfg.id);
    assert(r.ids.includes(cfg.id), JSON.stringify(r));
    await page.fill('#vsearch', 'zzz-nothing');
    await until('no match', () => (document.querySelector('#vlib .empty') || {}).textContent === 'Nothing matches “zzz-nothing”');
    await page.focus('#vsearch');
    await key('Escape');
    await until('the rows again', () => document.querySelector('#vlib .vrow'));
  });

  await step('Back from the library returns to Live TV, which plays again', async () => {
    await page.focus('#vtab-vod');
    await key('Escape');
    await until('the live view', () => atoll.view === 'live' && atoll.mode === 'live' && document.getElementById('vod').hidden);
    await advances('live', 1);
    const s = await vstate();
    result.facts.liveChannel = await page.evaluate(() => atoll.channel);
    assert(result.facts.liveChannel, JSON.stringify(s));
  });
  if (cfg.token) {
    await step('the viewer token is on every library, poster and title request', async () => {
      const vod = requests.filter((u) => { const p = new URL(u).pathname; return p.startsWith('/vod/') || p.startsWith('/api/player/vod'); });
      const missing = vod.filter((u) => new URL(u).searchParams.get('token') !== cfg.token);
      const kinds = ['/api/player/vod', '/poster.jpg', 'index-fmp4.m3u8', 'init.mp4', '.m4s', '.vtt'];
      for (const k of kinds) assert(vod.some((u) => u.includes(k)), `no ${k} request seen`);
      assert(!missing.length, `without the token: ${missing.slice(0, 5).join(' ')}`);
      result.facts.vodRequests = vod.length;
    });
  }
} catch (e) {
  result.error = String(e && e.message || e);
} finally {
  clearTimeout(killer);
  try { await browser.close(); } catch { /* gone */ }
  finish();
}
