// @iptv/xtream-api (npm), a client no one here wrote, against Atoll's Xtream Codes API.
// usage: node xtream-api-client.mjs http://127.0.0.1:PORT USER PASS [TIMESHIFT_START_MS]
// Run by crates/atoll/tests/xc.rs (the package comes from web/package.json's devDependencies).
// The library has NO runtime schema validation; the default (serializerType "none") returns raw
// JSON.  So this script (a) asserts the raw shapes the library's TypeScript types declare
// (src/types.ts), and (b) runs every method through the standardized, JSON:API and camelCase
// serializers, which dereference fields and throw on missing ones.  Exit code != 0 on failure.
import assert from 'node:assert/strict';
import { Xtream } from '@iptv/xtream-api';
import { standardizedSerializer } from '@iptv/xtream-api/standardized';
import { JSONAPISerializer } from '@iptv/xtream-api/jsonapi';
import { camelCaseSerializer } from '@iptv/xtream-api/camelcase';

const [url, username, password, shiftStart] = process.argv.slice(2);
const STRICT_TYPES = process.env.STRICT_TYPES !== '0'; // set STRICT_TYPES=0 to only warn

const T = {
  s: (v) => typeof v === 'string',
  n: (v) => typeof v === 'number',
  b: (v) => typeof v === 'boolean',
  sN: (v) => typeof v === 'string' || v === null,
  nN: (v) => typeof v === 'number' || v === null,
  aS: (v) => Array.isArray(v) && v.every((x) => typeof x === 'string'),
  aN: (v) => Array.isArray(v) && v.every((x) => typeof x === 'number'),
  o: (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
  numish: (v) => (typeof v === 'number' || typeof v === 'string') && v !== '' && !Number.isNaN(Number(v)),
};
// declared types from @iptv/xtream-api dist/types/index.d.ts (only fields it or a client relies on)
const SHAPES = {
  user_info: { username: T.s, password: T.s, message: T.s, auth: T.n, status: T.s, exp_date: T.s,
    is_trial: T.s, active_cons: T.numish, created_at: T.s, max_connections: T.s, allowed_output_formats: T.aS },
  server_info: { url: T.s, port: T.s, https_port: T.s, server_protocol: T.s, rtmp_port: T.s,
    timezone: T.s, timestamp_now: T.n, time_now: T.s },
  category: { category_id: T.s, category_name: T.s, parent_id: T.n },
  channel: { num: T.n, name: T.s, stream_type: T.s, stream_id: T.n, stream_icon: T.s,
    epg_channel_id: T.sN, added: T.s, category_id: T.s, category_ids: T.aN, custom_sid: T.sN,
    tv_archive: T.n, direct_source: T.s, tv_archive_duration: T.numish },
  movie_listing: { num: T.n, name: T.s, stream_type: T.s, stream_id: T.n, stream_icon: T.s,
    rating: T.numish, rating_5based: T.n, added: T.s, category_id: T.s, category_ids: T.aN,
    container_extension: T.s },
  show_listing: { num: T.n, name: T.s, series_id: T.n, cover: T.s, last_modified: T.s,
    rating: T.s, rating_5based: T.n, backdrop_path: T.aS, category_id: T.s, category_ids: T.aN },
  movie_info: { tmdb_id: T.numish, name: T.s, backdrop_path: T.aS },
  movie_data: { stream_id: T.n, name: T.s, added: T.s, category_id: T.s, category_ids: T.aN,
    container_extension: T.s },
  season: { id: T.n, name: T.s, season_number: T.n, episode_count: T.n, cover: T.s },
  show_info: { name: T.s, cover: T.s, last_modified: T.s, backdrop_path: T.aS, category_id: T.s,
    category_ids: T.aN },
  episode: { id: T.s, episode_num: T.numish, title: T.s, container_extension: T.s, info: T.o,
    added: T.s, season: T.n },
  epg: { id: T.s, epg_id: T.s, title: T.s, lang: T.s, start: T.s, end: T.s, description: T.s,
    channel_id: T.s, start_timestamp: T.s, stop_timestamp: T.s },
};
let warnings = 0;
function shape(name, obj) {
  assert.ok(T.o(obj), `${name}: not an object: ${JSON.stringify(obj)}`);
  for (const [k, ok] of Object.entries(SHAPES[name])) {
    if (!ok(obj[k])) {
      const msg = `${name}.${k} has wrong type/value: ${JSON.stringify(obj[k])}`;
      if (STRICT_TYPES) assert.fail(msg);
      console.warn('WARN', msg); warnings++;
    }
  }
}
const isB64 = (s) => /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0;

// ---------- raw mode (default, serializerType 'none') ----------
const x = new Xtream({ url, username, password }); // preferredFormat defaults to 'ts'
assert.equal(x.serializerType, 'none');

const profile = await x.getProfile();            // action=get_profile -> .user_info
shape('user_info', profile);
assert.equal(profile.auth, 1);
const server = await x.getServerInfo();          // action=get_server_info -> .server_info
shape('server_info', server);

const liveCats = await x.getChannelCategories(); // get_live_categories
const vodCats = await x.getMovieCategories();    // get_vod_categories
const serCats = await x.getShowCategories();     // get_series_categories
for (const c of [...liveCats, ...vodCats, ...serCats]) shape('category', c);
assert.ok(liveCats.length && vodCats.length && serCats.length, 'empty category list');

const channels = await x.getChannels();          // (get_profile once) + get_live_streams
assert.ok(Array.isArray(channels) && channels.length, 'no channels');
for (const c of channels) {
  shape('channel', c);
  assert.match(c.url, new RegExp(`^${url}/live/${username}/${password}/${c.stream_id}\\.(ts|m3u8)$`));
}
const byCat = await x.getChannels({ categoryId: liveCats[0].category_id, page: 1, limit: 1 });
assert.ok(byCat.length <= 1);

const movies = await x.getMovies();              // get_vod_streams
assert.ok(movies.length, 'no movies');
for (const m of movies) {
  shape('movie_listing', m);
  assert.equal(m.url, `${url}/movie/${username}/${password}/${m.stream_id}.${m.container_extension}`);
}
const movie = await x.getMovie({ movieId: movies[0].stream_id }); // get_vod_info&vod_id=
shape('movie_info', movie.info);
shape('movie_data', movie.movie_data);
assert.equal(movie.movie_data.stream_id, movies[0].stream_id);

const shows = await x.getShows();                // get_series
assert.ok(shows.length, 'no shows');
for (const s of shows) shape('show_listing', s);
const show = await x.getShow({ showId: shows[0].series_id }); // get_series_info&series_id=
assert.ok(Array.isArray(show.seasons), 'seasons must be an array');
for (const s of show.seasons) shape('season', s);
shape('show_info', show.info);
assert.ok(T.o(show.episodes), 'episodes must be an object keyed by season number');
let eps = 0;
for (const [k, list] of Object.entries(show.episodes)) {
  assert.ok(/^\d+$/.test(k) && Array.isArray(list), `episodes[${k}]`);
  for (const e of list) {
    shape('episode', e); eps++;
    assert.equal(e.url, `${url}/series/${username}/${password}/${e.id}.${e.container_extension}`);
  }
}
assert.ok(eps > 0, 'no episodes');

// the channel the test's guide covers (the first with listings)
let sid = channels[0].stream_id;
for (const c of channels) {
  if ((await x.getShortEPG({ channelId: c.stream_id })).epg_listings.length) { sid = c.stream_id; break; }
}
const short = await x.getShortEPG({ channelId: sid, limit: 2 }); // get_short_epg&stream_id=&limit=
assert.ok(Array.isArray(short.epg_listings) && short.epg_listings.length <= 2);
const full = await x.getFullEPG({ channelId: sid });              // get_simple_data_table&stream_id=
assert.ok(Array.isArray(full.epg_listings) && full.epg_listings.length > 0, 'no guide listings');
for (const e of [...short.epg_listings, ...full.epg_listings]) {
  shape('epg', e);
  assert.ok(isB64(e.title) && isB64(e.description), 'title/description must be base64');
}

// generated URLs must be servable
const ts = x.generateStreamUrl({ type: 'channel', streamId: sid, extension: 'ts',
  timeshift: { start: new Date(Number(shiftStart ?? Date.now() - 60e3)), duration: 1 } });
assert.match(ts, /\/timeshift\/[^/]+\/[^/]+\/1\/\d{4}-\d\d-\d\d:\d\d-\d\d\/\d+\.ts$/);
for (const u of [channels[0].url, movies[0].url, Object.values(show.episodes)[0][0].url, ts]) {
  const r = await fetch(u);
  assert.ok(r.ok, `${u} -> ${r.status}`);
  await r.body?.cancel();
}

// ---------- serializers (throw on missing fields) ----------
for (const ser of [standardizedSerializer, JSONAPISerializer, camelCaseSerializer]) {
  const y = new Xtream({ url, username, password, serializer: ser });
  await y.getProfile(); await y.getServerInfo();
  await y.getChannelCategories(); await y.getMovieCategories(); await y.getShowCategories();
  await y.getChannels(); await y.getMovies(); await y.getShows();
  await y.getMovie({ movieId: movies[0].stream_id });
  await y.getShow({ showId: shows[0].series_id });
  await y.getShortEPG({ channelId: sid }); await y.getFullEPG({ channelId: sid });
}
const st = new Xtream({ url, username, password, serializer: standardizedSerializer });
const stShow = await st.getShow({ showId: shows[0].series_id });
assert.ok(stShow.seasons.some((s) => s.episodes.length > 0), 'standardized: no episode matched a season');
const stEpg = await st.getShortEPG({ channelId: sid });
assert.ok(stEpg.every((e) => !Number.isNaN(e.start.getTime())), 'standardized: bad EPG start');

console.log(`OK timeshift=${ts} channels=${channels.length} movies=${movies.length} shows=${shows.length} episodes=${eps} warnings=${warnings}`);
