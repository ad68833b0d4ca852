// One channel: live preview, status, recording, archive timeline of the whole window, disk use,
// and the status history (event log).

import { api, h, clear, fmtBitrate, fmtVideo, fmtAudio, fmtBytes, fmtTime, errText, loadHls, playHls, copyText, ApiError } from './ui.js';
import { t, tOr } from './i18n.js';
import { live, listen, refreshChannels, coverageSoon } from './store.js';
import { Coverage, drawTimeline } from './timeline.js';
import { stateBadge, recBadge, toggleRecording, publishServer } from './page-channels.js';
import { openChannelDialog, deleteChannel } from './channel-dialog.js';

export function channelPage(ctx, id) {
  const title = h('h1', id);
  const headBadges = h('span.head-badges');
  const video = h('video.preview.big', { muted: true, playsinline: true, controls: true });
  const status = h('dl.kv#channel-status');
  const publishCard = h('div.card.publish-box#publish-box', { hidden: true });
  let publishShown = '';
  const recBox = h('dl.kv');
  const recActions = h('div.actions.left');
  const diskBox = h('dl.kv');
  const timeline = h('div.timeline.big#channel-timeline', { dataset: { channel: id } });
  const legend = h('div.legend',
    h('span.sw.rec'), t('chp.legend.rec'), h('span.sw.gap'), t('chp.legend.gap'), h('span.sw.none'), t('chp.legend.none'));
  const covText = h('div.muted.cov-text');
  const events = h('tbody');
  const eventsNote = h('div.muted');
  const errBox = h('div.page-error', { role: 'alert' });
  let zoom = 'all';
  const zoomSel = h('select', { 'aria-label': t('chp.zoom'), onchange: e => { zoom = e.target.value; drawCov(); } },
    ['all', '24', '1'].map(z => h('option', { value: z }, t(`chp.zoom.${z}`))));

  const cov = new Coverage(id);
  let stopPlayer = null;
  let destroyed = false;
  let timers = [];
  let usage = null;

  const ch = () => (live.channels || []).find(c => c.id === id);

  const row = (k, v, cls) => [h('dt', k), h(`dd${cls ? `.${cls}` : ''}`, v)];
  // every audio track (language, codec, audio description) and subtitle stream the source carries
  const audioRows = (c) => {
    const audio = c.tracks && c.tracks.audio && c.tracks.audio.length ? c.tracks.audio : (c.audio ? [c.audio] : []);
    const track = (a) => [a.language || '', fmtAudio(a), a.kind === 'description' ? `(${t('chp.described')})` : ''].filter(Boolean).join(' · ');
    const rows = row(t('chp.audio'), audio.length > 1 ? h('ol.tracks', audio.map(a => h('li', track(a)))) : (audio.length ? track(audio[0]) : t('common.none')));
    const subs = (c.tracks && c.tracks.subtitles) || [];
    if (subs.length) {
      const sub = (s) => [s.language || '', s.codec, ...(s.pages || []).map(p => `${p.page}${p.language ? ` ${p.language}` : ''}`)].filter(Boolean).join(' · ');
      rows.push(...row(t('chp.subtitles'), h('ol.tracks', subs.map(s => h('li', sub(s))))));
    }
    return rows;
  };

  const drawCov = () => {
    const c = ch();
    const now = Date.now() / 1000;
    const win = ((c && c.retention_hours) || 72) * 3600;
    const span = zoom === 'all' ? win : Math.min(win, +zoom * 3600);
    drawTimeline(timeline, cov, now - span, now, { ticks: true });
    covText.textContent = timeline.title;
  };

  const render = () => {
    const c = ch();
    if (!c) {
      if (live.channels) { clear(status).append(h('p', t('chp.not_found', { id }))); }
      return;
    }
    title.textContent = `${c.number ? `${c.number} · ` : ''}${c.name}`;
    clear(headBadges).append(stateBadge(c), ' ', recBadge(c));
    const v = c.viewers || 0;
    clear(status).append(
      ...row('ID', c.id, 'mono'),
      ...row(t('chp.source'), c.active_source || t('common.none'), 'mono'),
      ...row(t('chp.bitrate'), fmtBitrate(c.input_bitrate_bps || 0)),
      ...row(t('chp.video'), fmtVideo(c.video) || t('common.none')),
      ...audioRows(c),
      ...row(t('chp.viewers'), t('chp.viewers_detail', { n: v, hls: c.viewers_hls || 0, ts: c.viewers_mpegts || 0 })),
      ...row(t('f.sources'), (c.sources || []).length ? h('ol.srclist', c.sources.map(s => h('li', { class: s === c.active_source ? 'on' : '' }, s))) : t('ch.publish')),
      ...row(t('chp.urls'), [h('a', { href: c.urls?.hls || `/live/${id}/index.m3u8`, target: '_blank' }, 'HLS'), ' · ', h('a', { href: c.urls?.mpegts || `/live/${id}/mpegts`, target: '_blank' }, 'MPEG-TS')]),
      ...lastErrorRows(c),
    );
    renderPublish(c);
    const r = live.recording.get(id);
    clear(recBox).append(
      ...row(t('chp.recording'), recBadge(c)),
      ...row(t('chp.since'), r && r.since ? fmtTime(r.since) : t('common.none')),
      ...row(t('chp.last_segment'), r && r.last_segment ? fmtTime(r.last_segment) : t('common.none')),
      ...row(t('chp.bytes'), r ? fmtBytes(r.bytes) : t('common.none')),
      ...row(t('chp.segments'), r ? String(r.segments) : t('common.none')),
      ...row(t('chp.kept'), r ? `${(r.hours_kept || 0).toFixed(2)} / ${r.retention_hours} h` : t('common.none')),
      ...(r && r.last_error ? row(t('chp.last_error'), r.last_error, 'err') : []),
    );
    clear(recActions).append(
      h(`button.rec-toggle.${c.record ? 'stop' : 'start'}`, { type: 'button', onclick: async e => { await toggleRecording(c, e.currentTarget); refreshRec(); } }, c.record ? `■ ${t('rec.stop_long')}` : `● ${t('rec.start_long')}`));
    const total = usage ? usage.total_bytes : null;
    clear(diskBox).append(
      ...row(t('chp.disk_channel'), r ? fmtBytes(r.bytes) : t('common.none')),
      ...row(t('chp.disk_total'), fmtBytes(total)),
      ...row(t('chp.disk_free'), usage && usage.disk_free_bytes != null ? `${fmtBytes(usage.disk_free_bytes)} / ${fmtBytes(usage.disk_total_bytes)}` : t('common.none')),
    );
    drawCov();
  };

  // the last error with its time: red while the channel is not on air, history once it is
  const lastErrorRows = c => {
    if (!c.last_error) return [];
    const when = c.last_error_at ? `${fmtTime(c.last_error_at)} · ` : '';
    const msg = evMessage(c.last_error);
    if (c.state === 'live') return row(t('chp.last_error_old'), `${when}${msg}`, 'err-old');
    return row(t('chp.last_error'), `${when}${msg}`, 'err');
  };

  // what the encoder of a push channel needs: OBS's "Server" and "Stream key", and the whole URL
  const renderPublish = c => {
    const key = c.publish ? `${publishServer(c)}|${c.publish.stream_key}|${stateKindText(c)}` : '';
    if (key === publishShown) return;
    publishShown = key;
    publishCard.hidden = !c.publish;
    clear(publishCard);
    if (!c.publish) return;
    const server = publishServer(c);
    const full = `${server}/${c.publish.stream_key}`;
    const copyLine = (value, cls) => {
      const input = h(`input.${cls}`, { value, readonly: true, spellcheck: 'false', onfocus: e => e.target.select() });
      return h('div.line', input, h(`button.small.copy-${cls}`, { type: 'button', onclick: () => copyText(value, input) }, t('common.copy')));
    };
    publishCard.append(
      h('h2', t('pub.title')),
      h('p.muted', c.awaiting_encoder ? t('pub.waiting') : t('pub.attached')),
      h('dl.kv',
        h('dt', t('pub.server')), h('dd', copyLine(server, 'pub-server')),
        h('dt', t('pub.key')), h('dd', copyLine(c.publish.stream_key, 'pub-key')),
        h('dt', t('pub.full')), h('dd', copyLine(full, 'pub-full'))),
      h('p.muted.hint', c.publish_key ? t('pub.hint_key') : t('pub.hint_nokey')));
  };
  const stateKindText = c => (c.awaiting_encoder ? 'w' : 'a');

  const refreshRec = async () => {
    try {
      const r = await api('GET', `/api/channels/${encodeURIComponent(id)}/recording`);
      live.recording.set(id, r);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) errBox.textContent = errText(e);
    }
    try { usage = await api('GET', '/api/archive/usage'); } catch (_) { /* optional */ }
    const c = ch();
    try { await cov.refresh((c && c.retention_hours) || 72); } catch (_) { /* keep old */ }
    if (!destroyed) render();
  };

  const refreshEvents = async () => {
    try {
      const list = await api('GET', `/api/channels/${encodeURIComponent(id)}/events?limit=100`);
      eventsNote.textContent = list.length ? '' : t('chp.no_events');
      clear(events).append(...list.map(e => h(`tr.ev-${e.kind}`,
        h('td.time', fmtTime(e.at_utc)),
        h('td', h(`span.evkind.k-${e.kind}`, tOr(`ev.${e.kind}`, e.kind))),
        h('td', e.message && /^[a-z_]+$/.test(e.message) ? tOr(`gap.${e.message}`, e.message) : evMessage(e.message || '')))));
    } catch (e) {
      eventsNote.textContent = errText(e);
    }
  };

  const editBtn = h('button', {
    type: 'button',
    onclick: async () => {
      const c = ch();
      if (!c) return;
      // the dialog has its own preview: pause ours meanwhile
      video.pause();
      const saved = await openChannelDialog(c, {});
      video.play().catch(() => {});
      if (saved) { await refreshChannels(); refreshEvents(); }
    },
  }, t('common.edit'));
  const delBtn = h('button.danger', {
    type: 'button',
    onclick: async () => {
      const c = ch();
      if (c && await deleteChannel(c)) { await refreshChannels(); location.hash = '#/channels'; }
    },
  }, t('common.delete'));

  const el = h('section.page.page-channel',
    h('div.page-head', h('a.back', { href: '#/channels' }, t('chp.back')), title, headBadges, h('span.spacer'), editBtn, delBtn),
    errBox,
    h('div.cols',
      h('div.card.preview-card', h('h2', t('chp.preview')), video),
      h('div.card', h('h2', t('chp.status')), status)),
    publishCard,
    h('div.card', h('div.card-head', h('h2', t('chp.archive')), zoomSel), timeline, legend, covText),
    h('div.cols',
      h('div.card', h('h2', t('chp.recording')), recBox, recActions),
      h('div.card', h('h2', t('chp.disk')), diskBox)),
    h('div.card', h('h2', t('chp.events')),
      h('table.events#event-log', h('thead', h('tr', h('th', t('ev.col.time')), h('th', t('ev.col.kind')), h('th', t('ev.col.message')))), events),
      eventsNote));

  loadHls().then(() => { if (!destroyed) stopPlayer = playHls(video, `/live/${encodeURIComponent(id)}/index.m3u8`); });
  const unlisten = listen(render);
  refreshRec();
  refreshEvents();
  coverageSoon(id, 0);
  timers.push(setInterval(refreshRec, 10_000));
  timers.push(setInterval(refreshEvents, 10_000));
  const onResize = () => drawCov();
  window.addEventListener('resize', onResize);

  return {
    el,
    destroy: () => {
      destroyed = true;
      unlisten();
      timers.forEach(clearInterval);
      window.removeEventListener('resize', onResize);
      if (stopPlayer) stopPlayer();
    },
  };
}


// The server writes event details in English; the known forms are said in the console's language
// (source URLs, addresses and names kept as they are).
const EV_FIXED = {
  'no source on air': 'evm.no_source',
  'switched off, or the server is stopping': 'evm.switched_off',
  'the server stopped unexpectedly': 'evm.crash',
  'removed by retention': 'evm.retention',
  'recording interrupted': 'evm.interrupted',
  'origin stopped sending segments': 'evm.origin_stopped',
  'segments from the origin': 'evm.origin_segments',
  'sources reconfigured': 'evm.reconfigured',
  'publisher disconnected': 'evm.publisher_gone_plain',
  'closed by peer': 'evm.closed_by_peer',
};
const EV_FORMS = [
  [/^by (.+)$/, m => t('evm.by', { name: m[1] })],
  [/^rtmp publish from (.+)$/, m => t('evm.publish_from', { peer: m[1] })],
  [/^publisher disconnected: (.+)$/, m => t('evm.publisher_gone', { why: evMessage(m[1]) })],
  [/^no media for (\d+) s$/, m => t('evm.no_media', { s: m[1] })],
  [/^no keyframe for (\d+) s$/, m => t('evm.no_keyframe', { s: m[1] })],
  [/^wall clock stepped by (-?\d+) ms$/, m => t('evm.clock_step', { ms: m[1] })],
  [/^(.+) on air$/, m => t('evm.on_air', { src: m[1] })],
  [/^(.+) -> (.+)$/, m => t('evm.failover', { from: m[1], to: m[2] })],
  [/^(rtmp publish \/live\/\S+|[a-z]+:\/\/\S+): (.+)$/, m => `${m[1]}: ${evMessage(m[2])}`],
];
export function evMessage(msg) {
  if (EV_FIXED[msg]) return t(EV_FIXED[msg]);
  for (const [re, f] of EV_FORMS) {
    const m = re.exec(msg);
    if (m) return f(m);
  }
  return msg;
}
