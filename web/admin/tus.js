// A small tus 1.0 client (creation + core protocol) for the Library page: POST creates the upload,
// PATCH sends the file in chunks at the server's offset; a failed chunk is retried a few times with
// back-off after asking the server (HEAD) where it stands. The upload's URL is remembered in
// localStorage per file (name + size + lastModified), so choosing the same file again after a page
// reload or a dropped connection resumes it instead of starting over.

import { session } from './ui.js';

const STORE = 'atoll.tus.';
const DEFAULT_CHUNK = 8 * 1024 * 1024;
const RETRY_MS = [500, 1000, 2000, 4000, 8000];

/** The localStorage key of a file. */
export function fileKey(file) {
  return `${STORE}${file.name}|${file.size}|${file.lastModified}`;
}

/** Unfinished uploads remembered in this browser: [{key, url, name, size, created}]. */
export function rememberedUploads() {
  const out = [];
  try {
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      if (!k || !k.startsWith(STORE)) continue;
      try { out.push({ key: k, ...JSON.parse(localStorage.getItem(k)) }); } catch (_) { /* ignore */ }
    }
  } catch (_) { /* storage blocked */ }
  return out.sort((a, b) => (b.created || 0) - (a.created || 0));
}

export function forget(key) {
  try { localStorage.removeItem(key); } catch (_) { /* ignore */ }
}

function remember(key, v) {
  try { localStorage.setItem(key, JSON.stringify(v)); } catch (_) { /* ignore */ }
}

function b64(s) {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export class TusError extends Error {
  constructor(message, status = 0, body = null) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** Headers every tus request carries (the console's CSRF token on state changes). */
function baseHeaders(method) {
  const hd = { 'Tus-Resumable': '1.0.0', 'X-Requested-With': 'atoll-console' };
  if (session.basic) hd['Authorization'] = session.basic;
  if (method !== 'GET' && method !== 'HEAD' && session.user && session.user.csrf) hd['X-CSRF-Token'] = session.user.csrf;
  return hd;
}

async function bodyMessage(res) {
  const text = await res.text().catch(() => '');
  try { const j = JSON.parse(text); return j.message || j.error || text; } catch (_) { return text.slice(0, 300) || `HTTP ${res.status}`; }
}

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const tm = setTimeout(resolve, ms);
  if (signal) signal.addEventListener('abort', () => { clearTimeout(tm); reject(new TusError('aborted')); }, { once: true });
});

/**
 * One file's upload. Callbacks: onProgress(sent, total), onStatus(text key, params).
 * `start()` resolves with {url, importId, resumedFrom}.
 */
export class TusUpload {
  constructor(file, { endpoint = '/api/vod/uploads', metadata = {}, onProgress = () => {}, onStatus = () => {} } = {}) {
    this.file = file;
    this.endpoint = endpoint;
    this.metadata = metadata;
    this.onProgress = onProgress;
    this.onStatus = onStatus;
    this.key = fileKey(file);
    this.url = null;
    this.offset = 0;
    this.resumedFrom = null;
    this.ctl = new AbortController();
    this.xhr = null;
  }

  get chunkSize() {
    const c = +window.atollTusChunk;
    return c > 0 ? c : DEFAULT_CHUNK;
  }

  abort() {
    this.ctl.abort();
    if (this.xhr) this.xhr.abort();
  }

  /** Abandons the upload on the server and forgets it. */
  async terminate() {
    this.abort();
    forget(this.key);
    if (this.url) {
      try { await fetch(this.url, { method: 'DELETE', headers: baseHeaders('DELETE'), credentials: 'same-origin' }); } catch (_) { /* ignore */ }
    }
  }

  async head(url) {
    const res = await fetch(url, { method: 'HEAD', headers: baseHeaders('HEAD'), credentials: 'same-origin', cache: 'no-store', signal: this.ctl.signal });
    if (!res.ok) return { status: res.status, offset: null };
    const off = parseInt(res.headers.get('Upload-Offset'), 10);
    return { status: res.status, offset: Number.isFinite(off) ? off : null };
  }

  async create() {
    const meta = { filename: this.file.name, ...this.metadata };
    const header = Object.entries(meta)
      .filter(([, v]) => v !== undefined && v !== null && String(v) !== '')
      .map(([k, v]) => `${k} ${b64(String(v))}`).join(',');
    const res = await fetch(this.endpoint, {
      method: 'POST',
      headers: { ...baseHeaders('POST'), 'Upload-Length': String(this.file.size), 'Upload-Metadata': header },
      credentials: 'same-origin',
      signal: this.ctl.signal,
    });
    if (res.status !== 201) throw new TusError(await bodyMessage(res), res.status);
    const loc = res.headers.get('Location');
    if (!loc) throw new TusError('the server sent no Location', res.status);
    this.url = new URL(loc, location.href).pathname;
    this.offset = 0;
    remember(this.key, { url: this.url, name: this.file.name, size: this.file.size, created: Date.now() });
  }

  /** PATCH one chunk from this.offset with XHR (for upload progress). Resolves {status, offset, importId}. */
  patch(end) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      this.xhr = xhr;
      xhr.open('PATCH', this.url);
      for (const [k, v] of Object.entries(baseHeaders('PATCH'))) xhr.setRequestHeader(k, v);
      xhr.setRequestHeader('Content-Type', 'application/offset+octet-stream');
      xhr.setRequestHeader('Upload-Offset', String(this.offset));
      const start = this.offset;
      xhr.upload.onprogress = e => this.onProgress(Math.min(start + e.loaded, end), this.file.size);
      xhr.onload = () => {
        this.xhr = null;
        const off = parseInt(xhr.getResponseHeader('Upload-Offset'), 10);
        let message = '';
        if (xhr.status >= 300) {
          try { const j = JSON.parse(xhr.responseText); message = j.message || j.error || ''; } catch (_) { message = xhr.responseText.slice(0, 300); }
        }
        resolve({ status: xhr.status, offset: Number.isFinite(off) ? off : null, importId: xhr.getResponseHeader('X-Atoll-Import'), message });
      };
      xhr.onerror = () => { this.xhr = null; reject(new TusError('network error')); };
      xhr.onabort = () => { this.xhr = null; reject(new TusError('aborted')); };
      xhr.send(this.file.slice(start, end));
    });
  }

  /** The import of a complete upload (GET {url} → import_id). */
  async importOf() {
    const res = await fetch(this.url, { headers: { ...baseHeaders('GET'), Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store', signal: this.ctl.signal });
    if (!res.ok) return null;
    const j = await res.json().catch(() => null);
    return j && j.import_id;
  }

  async start() {
    const saved = (() => { try { return JSON.parse(localStorage.getItem(this.key) || 'null'); } catch (_) { return null; } })();
    if (saved && saved.url) {
      this.onStatus('vod.up.resuming');
      let hd = null;
      try { hd = await this.head(saved.url); } catch (e) { if (this.ctl.signal.aborted) throw new TusError('aborted'); }
      if (hd && hd.status === 200 && hd.offset !== null) {
        this.url = saved.url;
        this.offset = hd.offset;
        this.resumedFrom = hd.offset;
        this.onProgress(this.offset, this.file.size);
      } else {
        forget(this.key); // expired or gone: start over
      }
    }
    if (!this.url) {
      this.onStatus('vod.up.starting');
      await this.create();
    }
    let importId = null;
    if (this.offset >= this.file.size) importId = await this.importOf();
    let failures = 0;
    while (this.offset < this.file.size) {
      if (this.ctl.signal.aborted) throw new TusError('aborted');
      this.onStatus('vod.up.uploading');
      const end = Math.min(this.file.size, this.offset + this.chunkSize);
      let r = null;
      let problem = null;
      try {
        r = await this.patch(end);
      } catch (e) {
        if (this.ctl.signal.aborted) throw new TusError('aborted');
        problem = e;
      }
      if (r && r.status === 204 && r.offset !== null) {
        this.offset = r.offset;
        failures = 0;
        this.onProgress(this.offset, this.file.size);
        if (r.importId) importId = r.importId;
        continue;
      }
      if (r && r.status === 409 && r.offset !== null) {
        // the server has a different offset: carry on from there
        this.offset = r.offset;
        if (++failures > RETRY_MS.length) throw new TusError(r.message || 'offset conflict', 409);
        continue;
      }
      if (r && (r.status === 404 || r.status === 410)) {
        forget(this.key);
        throw new TusError(r.message || 'the upload is gone on the server', r.status);
      }
      if (r && r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 423 && r.status !== 429) {
        throw new TusError(r.message || `HTTP ${r.status}`, r.status);
      }
      // network error or 5xx: wait, ask the server where it stands, try again
      if (failures >= RETRY_MS.length) throw new TusError((problem && problem.message) || (r && r.message) || 'the upload failed', r ? r.status : 0);
      this.onStatus('vod.up.retrying', { n: failures + 1, max: RETRY_MS.length });
      await sleep(RETRY_MS[failures], this.ctl.signal);
      failures++;
      try {
        const hd = await this.head(this.url);
        if (hd.status === 404) { forget(this.key); throw new TusError('the upload is gone on the server', 404); }
        if (hd.offset !== null) { this.offset = hd.offset; this.onProgress(this.offset, this.file.size); }
      } catch (e) {
        if (e instanceof TusError && e.status === 404) throw e;
        if (this.ctl.signal.aborted) throw new TusError('aborted');
      }
    }
    if (!importId) importId = await this.importOf();
    forget(this.key);
    return { url: this.url, importId, resumedFrom: this.resumedFrom };
  }
}
