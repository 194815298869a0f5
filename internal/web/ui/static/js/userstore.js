// What the pages keep in this browser, per user: query history, the
// workspace's named editors, drafts. Every key starts with the user's
// prefix, so that on a shared browser one user never sees another's, and
// logging out removes them all (app.js). The server keeps none of it.
// No page or DOM behind it: node's test runner loads it with a Map-backed
// storage.

/** userPrefix is the start of every key of one user. */
export function userPrefix(userID) {
  if (!userID) throw new Error('userstore: no user');
  return `querygate.u.${userID}.`;
}

/** userKey is the key of one thing of one user ("history.<datasource id>"). */
export function userKey(userID, name) {
  return userPrefix(userID) + name;
}

// keysOf lists the keys of a Storage.
function keysOf(storage) {
  const out = [];
  for (let i = 0; i < storage.length; i++) out.push(storage.key(i));
  return out;
}

// forgotten is set once a logout removed the user's keys: the page then
// writes nothing more (a write on its way out would bring a key back).
let forgotten = false;

/**
 * outKey marks, in the browser's storage itself, that userID logged out:
 * pages of that user still open in other tabs then write nothing either
 * (their module never saw the logout).
 */
export function outKey(userID) {
  if (!userID) throw new Error('userstore: no user');
  return `querygate.out.${userID}`;
}

/**
 * forgetUser removes every key of userID from storage and marks the user
 * logged out; from then on no page of that user writes a key, in this tab
 * or another, until a page of theirs loads again (signedIn).
 */
export function forgetUser(storage, userID) {
  forgotten = true;
  const p = userPrefix(userID);
  for (const k of keysOf(storage)) if (k.startsWith(p)) storage.removeItem(k);
  try { storage.setItem(outKey(userID), '1'); } catch { /* full or off */ }
}

/**
 * signedIn clears the logged-out mark of userID: a page of theirs loaded,
 * so they are signed in again.
 */
export function signedIn(storage, userID) {
  if (userID) storage.removeItem(outKey(userID));
}

// ownerOf is the user whose key k is ("" for none).
function ownerOf(k) {
  const p = 'querygate.u.';
  if (!k.startsWith(p)) return '';
  return k.slice(p.length).split('.')[0];
}

/**
 * dropUnowned removes the keys earlier versions kept for every user alike
 * ("querygate.last.<id>", "querygate.draft.<id>"): on a shared browser
 * they showed one person's last query to the next. Settings of the
 * browser itself ("querygate.theme") stay.
 */
export function dropUnowned(storage) {
  for (const k of keysOf(storage)) if (k.startsWith('querygate.last.') || k.startsWith('querygate.draft.')) storage.removeItem(k);
}

/** readJSON reads a JSON value, or fallback when missing or unreadable. */
export function readJSON(storage, key, fallback) {
  try {
    const v = JSON.parse(storage.getItem(key) || 'null');
    return v === null ? fallback : v;
  } catch {
    return fallback;
  }
}

/** writeJSON writes a JSON value; a full or disabled storage is ignored. */
export function writeJSON(storage, key, value) {
  if (forgotten) return;
  const owner = ownerOf(key);
  if (owner && storage.getItem(outKey(owner)) !== null) return; // logged out in another tab
  try { storage.setItem(key, JSON.stringify(value)); } catch { /* full or off */ }
}

/** HISTORY_MAX is how many queries a user's history keeps per datasource. */
export const HISTORY_MAX = 200;

/**
 * History is one user's query history on one datasource in this browser,
 * newest first: {text, at} entries (text is what was run; at is a time in
 * ms). Running a text again moves it to the top.
 */
export class History {
  constructor(storage, userID, datasourceID, max = HISTORY_MAX) {
    this.storage = storage;
    this.key = userKey(userID, `history.${datasourceID}`);
    this.max = max;
  }

  list() {
    const v = readJSON(this.storage, this.key, []);
    return Array.isArray(v) ? v.filter((e) => e && typeof e.text === 'string') : [];
  }

  add(text, at = Date.now()) {
    if (!text || !text.trim()) return;
    const rest = this.list().filter((e) => e.text !== text);
    writeJSON(this.storage, this.key, [{ text, at }, ...rest].slice(0, this.max));
  }

  /** search returns the entries whose text holds every word of q (case-blind). */
  search(q) {
    const words = (q || '').toLowerCase().split(/\s+/).filter(Boolean);
    return this.list().filter((e) => words.every((w) => e.text.toLowerCase().includes(w)));
  }

  clear() {
    this.storage.removeItem(this.key);
  }
}
