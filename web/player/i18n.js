// UI strings in English and Chinese. The language follows the browser's (navigator.languages)
// until the viewer picks one, which is remembered (storage key "atoll.lang", see storage.js).
import * as store from './storage.js';

const en = {
  title: 'Atoll TV',
  search: 'Search channels',
  all: 'All',
  favourites: 'Favourites',
  guide: 'Guide',
  tv_guide: 'TV guide',
  channels: 'Channels',
  no_channels: 'No channels',
  no_match: 'No channel matches “{q}”',
  no_programme: 'No programme information',
  live: 'LIVE',
  go_live: 'Back to live',
  start_over: 'Start over',
  watch_live: 'Watch live',
  watch: 'Watch',
  catchup: 'Catch-up',
  catchup_play: 'Play from the archive',
  not_archived: 'Not in the archive',
  upcoming: 'Upcoming',
  now: 'Now',
  next: 'Next',
  play: 'Play',
  pause: 'Pause',
  mute: 'Mute',
  unmute: 'Unmute',
  tap_unmute: 'Tap to unmute',
  fullscreen: 'Full screen',
  back30: 'Back 30 s',
  fwd30: 'Forward 30 s',
  hide_list: 'Hide channel list',
  show_list: 'Channel list',
  close: 'Close',
  today: 'Today',
  yesterday: 'Yesterday',
  tomorrow: 'Tomorrow',
  language: 'Language',
  min_left: '{n} min left',
  behind_live: '{t} behind live',
  ch_offline: '{name} is off the air. The channel will resume automatically when its signal returns.',
  ch_connecting: '{name} is connecting…',
  ch_unknown: 'Channel {n} does not exist',
  not_in_archive: '“{title}” is not in the archive.',
  time_not_in_archive: 'That time is not in the archive (catch-up starts at {t}).',
  no_catchup: 'This channel has no catch-up.',
  future: '“{title}” has not started yet.',
  load_failed: 'The channel could not be loaded. Retrying…',
  play_failed: 'Playback failed: {e}',
  unsupported: 'This browser cannot play HLS video.',
  network_down: 'Cannot reach the server. Retrying…',
  catchup_mode: 'Catch-up',
  timeshift_mode: 'Timeshift',
  keys_help: '↑↓ channels · OK list · ←→ seek · digits: channel number · G guide · Back close',
  hours_archive: '{n} h catch-up',
  offline: 'Off air',
  install: 'Install app',
  // Films / Series
  live_tv: 'Live TV',
  films_series: 'Films / Series',
  search_vod: 'Search films and series',
  continue_watching: 'Continue watching',
  other: 'Other',
  no_titles: 'No films or series yet',
  no_title_match: 'Nothing matches “{q}”',
  results_for: 'Results for “{q}”',
  episodes_n: '{n} episodes',
  episodes: 'Episodes',
  season_n: 'Season {n}',
  episode_n: 'Episode {n}',
  se_short: 'S{s} E{e}',
  resume_from: 'Resume from {t}',
  play_start: 'Play from the beginning',
  audio: 'Audio',
  subtitles: 'Subtitles',
  subs_off: 'Off',
  audio_lang: 'Audio: {l}',
  subs_lang: 'Subtitles: {l}',
  none: 'None',
  back: 'Back',
  back10: 'Back 10 s',
  fwd10: 'Forward 10 s',
  seek: 'Position',
  left_n: '{t} left',
  dur_s: '{s} s',
  dur_m: '{m} min',
  dur_h_m: '{h} h {m} min',
  unknown_lang: 'Unknown',
  vod_unavailable: 'This title is no longer available.',
  vod_retry: 'The title could not be loaded. Retrying…',
  library_failed: 'The library could not be loaded.',
};

const zh = {
  title: 'Atoll 电视',
  search: '搜索频道',
  all: '全部',
  favourites: '收藏',
  guide: '节目单',
  tv_guide: '电视节目指南',
  channels: '频道',
  no_channels: '没有频道',
  no_match: '没有与“{q}”匹配的频道',
  no_programme: '暂无节目信息',
  live: '直播',
  go_live: '回到直播',
  start_over: '从头观看',
  watch_live: '观看直播',
  watch: '观看',
  catchup: '回看',
  catchup_play: '从回看库播放',
  not_archived: '不在回看库中',
  upcoming: '即将播出',
  now: '正在播出',
  next: '下一个',
  play: '播放',
  pause: '暂停',
  mute: '静音',
  unmute: '取消静音',
  tap_unmute: '点击取消静音',
  fullscreen: '全屏',
  back30: '后退 30 秒',
  fwd30: '前进 30 秒',
  hide_list: '隐藏频道列表',
  show_list: '频道列表',
  close: '关闭',
  today: '今天',
  yesterday: '昨天',
  tomorrow: '明天',
  language: '语言',
  min_left: '剩余 {n} 分钟',
  behind_live: '落后直播 {t}',
  ch_offline: '{name} 暂时停播，信号恢复后将自动继续播放。',
  ch_connecting: '{name} 正在连接…',
  ch_unknown: '没有 {n} 号频道',
  not_in_archive: '《{title}》不在回看库中。',
  time_not_in_archive: '该时间不在回看库中（回看从 {t} 开始）。',
  no_catchup: '此频道不提供回看。',
  future: '《{title}》尚未开始。',
  load_failed: '频道加载失败，正在重试…',
  play_failed: '播放失败：{e}',
  unsupported: '此浏览器无法播放 HLS 视频。',
  network_down: '无法连接服务器，正在重试…',
  catchup_mode: '回看',
  timeshift_mode: '时移',
  keys_help: '↑↓ 换台 · OK 频道列表 · ←→ 快退/快进 · 数字键 选台 · G 节目单 · 返回 关闭',
  hours_archive: '可回看 {n} 小时',
  offline: '停播',
  install: '安装应用',
  // Films / Series
  live_tv: '直播电视',
  films_series: '电影 / 剧集',
  search_vod: '搜索电影和剧集',
  continue_watching: '继续观看',
  other: '其他',
  no_titles: '暂无电影或剧集',
  no_title_match: '没有与“{q}”匹配的内容',
  results_for: '“{q}”的搜索结果',
  episodes_n: '共 {n} 集',
  episodes: '剧集',
  season_n: '第 {n} 季',
  episode_n: '第 {n} 集',
  se_short: '第{s}季 第{e}集',
  resume_from: '从 {t} 继续播放',
  play_start: '从头播放',
  audio: '音轨',
  subtitles: '字幕',
  subs_off: '关闭',
  audio_lang: '音轨：{l}',
  subs_lang: '字幕：{l}',
  none: '无',
  back: '返回',
  back10: '后退 10 秒',
  fwd10: '前进 10 秒',
  seek: '播放位置',
  left_n: '剩余 {t}',
  dur_s: '{s} 秒',
  dur_m: '{m} 分钟',
  dur_h_m: '{h} 小时 {m} 分钟',
  unknown_lang: '未知',
  vod_unavailable: '此影片已不可用。',
  vod_retry: '影片加载失败，正在重试…',
  library_failed: '无法加载片库。',
};

export const dictionaries = { en, zh };
export const languages = [['en', 'English'], ['zh', '中文']];

export function detectLanguage() {
  const saved = store.get('atoll.lang');
  if (saved && dictionaries[saved]) return saved;
  for (const l of navigator.languages || [navigator.language || 'en']) {
    const base = String(l).toLowerCase().split('-')[0];
    if (dictionaries[base]) return base;
  }
  return 'en';
}

let current = 'en';
export function setLanguage(lang, remember) {
  current = dictionaries[lang] ? lang : 'en';
  if (remember) store.set('atoll.lang', current);
  document.documentElement.lang = current === 'zh' ? 'zh-CN' : 'en';
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-title]')) {
    el.title = t(el.dataset.i18nTitle);
    el.setAttribute('aria-label', el.title);
  }
  for (const el of document.querySelectorAll('[data-i18n-placeholder]')) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  document.title = t('title');
}
export function language() { return current; }
/** The locale dates and times are written in: the browser's own for the page's language (en-US
 *  writes "Thu, Dec 3", en-GB "Thu 3 Dec"), else a default for the language. */
export function locale() {
  for (const l of navigator.languages || [navigator.language || '']) {
    if (String(l).toLowerCase().split('-')[0] !== current) continue;
    try { if (Intl.DateTimeFormat.supportedLocalesOf([l]).length) return l; } catch { /* not a locale */ }
  }
  return current === 'zh' ? 'zh-CN' : 'en-GB';
}

export function t(key, vars) {
  let s = dictionaries[current][key] ?? dictionaries.en[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}
