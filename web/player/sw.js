// Atoll's service worker: makes the player installable and lets its shell (page, scripts, styles,
// icons) open when the server is briefly unreachable. Network first, cache as a fallback, and only
// for those files: live and catch-up playlists and segments (/live/…), films (/vod/…) and the API
// are never touched, so a viewer always gets the current picture, guide and library.
const CACHE = 'atoll-shell-v4';
const SHELL = ['/', '/assets/player/app.js', '/assets/player/core.js', '/assets/player/storage.js',
  '/assets/player/playback.js', '/assets/player/channels.js', '/assets/player/guide.js',
  '/assets/player/scrub.js', '/assets/player/layout.js', '/assets/player/keys.js', '/assets/player/vod.js', '/assets/player/tracks.js',
  '/assets/player/i18n.js', '/assets/player/style.css',
  '/assets/hls.min.js', '/manifest.webmanifest', '/assets/player/icons/icon.svg',
  '/assets/player/icons/icon-192.png'];

self.addEventListener('install', (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).catch(() => {}));
  self.skipWaiting();
});

self.addEventListener('activate', (e) => {
  e.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

function isShell(url) {
  return url.origin === self.location.origin
    && (url.pathname === '/' || url.pathname === '/manifest.webmanifest'
      || url.pathname === '/assets/hls.min.js' || url.pathname.startsWith('/assets/player/'));
}

self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== 'GET' || !isShell(url)) return; // live, catch-up, API: straight to the network
  e.respondWith(fetch(e.request).then((r) => {
    if (r.ok) {
      const copy = r.clone();
      caches.open(CACHE).then((c) => c.put(url.pathname, copy));
    }
    return r;
  }).catch(() => caches.match(url.pathname).then((r) => r || Response.error())));
});
