// Drives the live player's audio and subtitle menu in headless Chromium like a viewer with a TV
// remote: a channel carrying two audio languages (AAC `chi` and `eng`; its preferred language
// set to English) and a teletext subtitle page opens on the English track, the remote opens the
// audio menu and switches to Chinese, the subtitle menu turns the English subtitles on (a cue
// shows), the play head keeps advancing, and after a reload the channel comes back with the
// same choice (remembered per channel).
//
// Usage: node player-tracks.mjs BASE_URL SCREENSHOT_DIR CONFIG_JSON
//   CONFIG: {"channel":"id","cue":"text a cue starts with"}
// Prints one JSON line: {"ok":bool,"steps":[{"name","ok","ms","error"?}],"screenshots":[…],
//   "error":…,"pageErrors":[…],"facts":{…}}; the Rust driver asserts on it.
import { chromium } from 'playwright-core';
import path from 'node:path';

const [base, shotDir, cfgText] = process.argv.slice(2);
const cfg = JSON.parse(cfgText);
const budgetS = +(process.env.ADMIN_TEST_BUDGET_S || 180);
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

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    result.steps.push({ name, ok: true, ms: Date.now() - t0 });
  } catch (e) {
    const msg = String(e && e.message || e).split('\n').slice(0, 4).join(' | ');
    result.steps.push({ name, ok: false, ms: Date.now() - t0, error: msg });
    try { await shot(`tracks-failed-${result.steps.length}.png`); } catch { /* no page */ }
    throw new Error(`step "${name}" failed: ${msg}`);
  }
}
async function shot(file) {
  const p = path.join(shotDir, file);
  await page.screenshot({ path: p });
  result.screenshots.push(p);
}
async function until(what, fn, ms = 20000, arg) {
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
  return a ? { id: a.id, text: a.textContent.trim().slice(0, 60), mi: a.classList.contains('mi') } : null;
});
const key = async (k, n = 1) => { for (let i = 0; i < n; i++) { await page.keyboard.press(k); await page.waitForTimeout(150); } };
/** The play head advances by `by` seconds with no error on the video element. */
async function advances(label, by = 1.5) {
  const s0 = await until(`${label}: playing`, () => {
    const v = document.getElementById('v');
    return !v.paused && v.readyState >= 2 && v.currentTime > 0 && { t: v.currentTime };
  }, 30000).catch(async (e) => {
    const why = await page.evaluate(() => {
      const v = document.getElementById('v');
      const b = [];
      for (let i = 0; i < v.buffered.length; i++) b.push([v.buffered.start(i), v.buffered.end(i)]);
      return { paused: v.paused, ready: v.readyState, t: v.currentTime, buffered: b, errors: window.__hlsErrors, msg: document.getElementById('msg').textContent };
    });
    throw new Error(`${e.message} ${JSON.stringify(why)}`);
  });
  await until(`${label}: play head advancing`, (t) => document.getElementById('v').currentTime > t, 20000, s0.t + by);
  const ve = await page.evaluate(() => window.__videoErrors.splice(0));
  assert(!ve.length, `video errors: ${ve.join('; ')}`);
  return s0.t;
}
const hlsState = () => page.evaluate(() => {
  const h = atoll.hls;
  return h && {
    audio: h.audioTracks.map((a) => a.lang), audioTrack: h.audioTrack,
    subs: h.subtitleTracks.map((s) => s.lang), subtitleTrack: h.subtitleTrack, display: h.subtitleDisplay,
    audioLabel: document.getElementById('b-audio').textContent, audioHidden: document.getElementById('b-audio').hidden,
    subsLabel: document.getElementById('b-subs').textContent, subsHidden: document.getElementById('b-subs').hidden,
  };
});
const cueShown = () => until('a subtitle cue on screen', () => {
  const v = document.getElementById('v');
  for (const tt of v.textTracks) {
    if (tt.mode !== 'showing' || !tt.activeCues) continue;
    for (const c of tt.activeCues) if (c.text) return { text: c.text, t: v.currentTime, lang: tt.language };
  }
  return false;
}, 30000);
async function openChannel() {
  await until('the channel list', (id) => !!document.querySelector(`#channels li[data-id="${id}"]`), 20000, cfg.channel);
  await page.click(`#channels li[data-id="${cfg.channel}"]`);
  await until('the channel tuned', (id) => atoll.channel === id && atoll.hls, 20000, cfg.channel);
  await page.evaluate(() => {
    window.__hlsErrors = [];
    atoll.hls.on('hlsError', (_, d) => window.__hlsErrors.push(`${d.type}/${d.details}${d.fatal ? ' fatal' : ''}${d.reason ? ' ' + d.reason : ''}${d.error ? ' ' + d.error.message : ''}`));
  });
  await until('both audio renditions', () => atoll.hls && atoll.hls.audioTracks.length === 2, 30000);
}

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

  await step('the channel opens on its preferred language, English', async () => {
    await page.goto(base + '/', { waitUntil: 'load' });
    await openChannel();
    await advances('live');
    const s = await until('the English track chosen', async () => {
      const h = atoll.hls;
      return h && h.audioTrack >= 0 && h.audioTracks[h.audioTrack].lang === 'eng' && !document.getElementById('b-audio').hidden
        && document.getElementById('b-audio').textContent;
    });
    result.facts.initial = await hlsState();
    assert(s === 'Audio: English', `audio button says ${s}`);
    assert(!result.facts.initial.subsHidden && result.facts.initial.subsLabel === 'Subtitles: Off', JSON.stringify(result.facts.initial));
  });

  await step('the remote switches the audio to Chinese', async () => {
    await page.mouse.move(1, 1);
    await page.focus('#stage');
    await key('Enter');
    let a = await active();
    assert(a.id === 'b-play', `Enter on the picture focused ${JSON.stringify(a)}`);
    for (let i = 0; i < 12 && (await active()).id !== 'b-audio'; i++) await key('ArrowRight');
    a = await active();
    assert(a.id === 'b-audio', `could not reach the audio button (focus: ${JSON.stringify(a)})`);
    await key('Enter');
    await until('the audio menu', () => !document.getElementById('vmenu').hidden && document.activeElement.classList.contains('mi'));
    const items = await page.evaluate(() => [...document.querySelectorAll('#vmenu .mi')].map((b) => b.textContent));
    result.facts.audioMenu = items;
    // the menu opens on the track that plays (English, second); ↑ goes to Chinese
    await key('ArrowUp');
    a = await active();
    assert(a.mi && a.text.includes('中文'), `the first item is ${a.text}`);
    await key('Enter');
    const sw = await until('hls.js on the Chinese track', () => {
      const h = atoll.hls;
      return h && h.audioTrack >= 0 && h.audioTracks[h.audioTrack].lang === 'chi' && document.getElementById('vmenu').hidden
        && document.getElementById('b-audio').textContent;
    });
    assert(sw === 'Audio: 中文', `audio button says ${sw}`);
    const a0 = await (async () => {
      const end = Date.now() + 15000;
      while (Date.now() < end) {
        const n = requests.filter((u) => /\/a0-\d+\.ts$/.test(new URL(u).pathname)).length;
        if (n >= 1) return n;
        await page.waitForTimeout(200);
      }
      return 0;
    })();
    assert(a0 >= 1, 'no segment of the Chinese rendition (a0-) was loaded');
    result.facts.chineseSegments = a0;
    await advances('after the audio switch', 2);
    await shot('tracks-audio.png');
  });

  await step('the subtitle menu turns the English subtitles on', async () => {
    await page.mouse.move(640, 300);
    await page.click('#b-subs');
    await until('the subtitle menu', () => !document.getElementById('vmenu').hidden && document.querySelectorAll('#vmenu .mi').length === 2);
    await page.click('#vmenu .mi[data-i="0"]');
    await until('hls.js on the subtitle track', () => atoll.hls && atoll.hls.subtitleTrack === 0 && atoll.hls.subtitleDisplay);
    const cue = await cueShown();
    assert(cue.text.startsWith(cfg.cue), `cue "${cue.text}"`);
    result.facts.cue = cue;
    const label = await page.evaluate(() => document.getElementById('b-subs').textContent);
    assert(label === 'Subtitles: English', `subtitle button says ${label}`);
    await advances('with subtitles', 2);
    await shot('tracks-subtitles.png');
  });

  await step('after a reload the channel keeps its audio and subtitles', async () => {
    await page.reload({ waitUntil: 'load' });
    await openChannel();
    const s = await until('the remembered choice', () => {
      const h = atoll.hls;
      return h && h.audioTrack >= 0 && h.audioTracks[h.audioTrack].lang === 'chi' && h.subtitleTrack === 0 && h.subtitleDisplay
        && { audio: document.getElementById('b-audio').textContent, subs: document.getElementById('b-subs').textContent };
    }, 30000).catch(async (e) => { throw new Error(`${e.message} ${JSON.stringify(await hlsState())}`); });
    result.facts.afterReload = s;
    await cueShown();
    await advances('after the reload', 2);
  });
} catch (e) {
  result.error = String(e && e.message || e);
} finally {
  clearTimeout(killer);
  finish();
  await browser.close().catch(() => {});
}
