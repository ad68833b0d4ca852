// Remembered settings (volume, last channel, list visibility, viewer token, language) in
// localStorage where the browser allows it. Some Android WebViews on TV boxes have no storage, or
// throw on any access to `window.localStorage`: there the settings live in memory for the session
// and the player works the same. Every use of storage by the player goes through this module.

const memory = new Map();

/** The browser's localStorage if it can be read and written, else null. */
const backend = (() => {
  try {
    const s = window.localStorage;
    const probe = 'atoll.probe';
    s.setItem(probe, '1');
    s.removeItem(probe);
    return s;
  } catch {
    return null;
  }
})();

/** Whether settings survive a reload (false where storage is unavailable). */
export const persistent = backend !== null;

/** The stored string for `key`, or null. */
export function get(key) {
  if (backend) {
    try {
      const v = backend.getItem(key);
      if (v !== null) return v;
    } catch { /* fall back to memory */ }
  }
  return memory.has(key) ? memory.get(key) : null;
}

/** Stores `value` (as a string) under `key`; never throws (missing, full or revoked storage). */
export function set(key, value) {
  const v = String(value);
  memory.set(key, v);
  if (backend) {
    try { backend.setItem(key, v); } catch { /* memory keeps it */ }
  }
}
