import { test } from 'node:test';
import assert from 'node:assert/strict';
import { History, forgetUser, dropUnowned, userKey, userPrefix, HISTORY_MAX } from '../static/js/userstore.js';
import { errorRange } from '../static/js/sqlerror.js';

// memoryStorage is the Storage interface over a Map.
function memoryStorage() {
  const m = new Map();
  return {
    get length() { return m.size; },
    key: (i) => [...m.keys()][i] ?? null,
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => { m.set(k, String(v)); },
    removeItem: (k) => { m.delete(k); },
    keys: () => [...m.keys()],
  };
}

test('keys are per user', () => {
  assert.equal(userPrefix('u1'), 'querygate.u.u1.');
  assert.equal(userKey('u1', 'history.d1'), 'querygate.u.u1.history.d1');
  assert.throws(() => userPrefix(''));
});

test('history: newest first, deduplicated, capped, searchable', () => {
  const s = memoryStorage();
  const h = new History(s, 'u1', 'd1');
  h.add('SELECT 1', 1);
  h.add('SELECT 2', 2);
  h.add('SELECT 1', 3);
  h.add('  ', 4);
  assert.deepEqual(h.list(), [{ text: 'SELECT 1', at: 3 }, { text: 'SELECT 2', at: 2 }]);
  for (let i = 0; i < HISTORY_MAX + 50; i++) h.add(`SELECT ${i} FROM t`, i);
  assert.equal(h.list().length, HISTORY_MAX);
  assert.equal(h.list()[0].text, `SELECT ${HISTORY_MAX + 49} FROM t`);
  assert.deepEqual(h.search('Select 249').map((e) => e.text), ['SELECT 249 FROM t']);
  assert.equal(h.search('from  24').length, 12); // 240…249, 224, 124
  assert.ok(!h.list().some((e) => e.text === 'SELECT 49 FROM t')); // dropped at the cap
  h.clear();
  assert.deepEqual(h.list(), []);
});

test('one user never sees another user\'s history; forgetUser removes only that user', () => {
  const s = memoryStorage();
  new History(s, 'alice', 'd1').add('SELECT secret_of_alice');
  new History(s, 'alice', 'd2').add('SELECT 2');
  s.setItem(userKey('alice', 'editors.d1'), '{}');
  new History(s, 'bob', 'd1').add('SELECT bob');
  assert.deepEqual(new History(s, 'bob', 'd1').list().map((e) => e.text), ['SELECT bob']);
  forgetUser(s, 'alice');
  assert.deepEqual(s.keys(), ['querygate.u.bob.history.d1', 'querygate.out.alice']);
  // A user id that is a prefix of another's is not confused with it.
  new History(s, 'bo', 'd1').add('x');
  forgetUser(s, 'bo');
  assert.deepEqual(s.keys(), ['querygate.u.bob.history.d1', 'querygate.out.alice', 'querygate.out.bo']);
});

test('dropUnowned removes the old shared keys only', () => {
  const s = memoryStorage();
  s.setItem('querygate.last.d1', '{"query":"SELECT 1"}');
  s.setItem('querygate.draft.d1', '{}');
  s.setItem('querygate.u.bob.history.d1', '[]');
  s.setItem('other.app', 'x');
  s.setItem('querygate.theme', 'dark');
  dropUnowned(s);
  assert.deepEqual(s.keys(), ['querygate.u.bob.history.d1', 'other.app', 'querygate.theme']);
});

test('a broken stored value reads as empty', () => {
  const s = memoryStorage();
  s.setItem(userKey('u', 'history.d'), '{not json');
  assert.deepEqual(new History(s, 'u', 'd').list(), []);
  s.setItem(userKey('u', 'history.d'), '{"a":1}');
  assert.deepEqual(new History(s, 'u', 'd').list(), []);
});

test('errorRange: PostgreSQL position, MySQL line', () => {
  assert.deepEqual(errorRange('SELECT 1 FRM x', { position: 10 }), { from: 9, to: 12 });
  assert.deepEqual(errorRange('SELECT 😀, nope', { position: 11 }), { from: 11, to: 15 });
  assert.deepEqual(errorRange('SELECT (', { position: 9 }), { from: 7, to: 8 });
  assert.deepEqual(errorRange('SELECT 1,\n2,\n3 FRM x y', { line: 3, message: "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'y' at line 3" }), { from: 21, to: 22 });
  assert.deepEqual(errorRange('SELEC 1', { line: 1, message: 'something else' }), { from: 0, to: 7 });
  assert.equal(errorRange('SELECT 1', { line: 5 }), null);
  assert.equal(errorRange('SELECT 1', { message: 'x' }), null);
});

test('nothing is written after a logout forgot the user', () => {
  const s = memoryStorage();
  const h = new History(s, 'u9', 'd1');
  h.add('SELECT 1');
  forgetUser(s, 'u9');
  h.add('SELECT 2'); // a write on the page's way out
  assert.deepEqual(s.keys(), ['querygate.out.u9']); // only the logged-out mark
});

test('a logout in one tab stops the pages of that user in another tab from writing', async () => {
  // Each import URL is a module of its own, as each tab has its own.
  const tab1 = await import('../static/js/userstore.js?tab=1');
  const tab2 = await import('../static/js/userstore.js?tab=2');
  const s = memoryStorage(); // localStorage is shared by the tabs
  const h2 = new tab2.History(s, 'u7', 'd1');
  h2.add('SELECT 1');
  new tab2.History(s, 'u8', 'd1').add('SELECT 8');
  tab1.forgetUser(s, 'u7');
  h2.add('SELECT secret'); // tab 2's workspace saving on its way out
  assert.deepEqual(s.keys().filter((k) => k.startsWith('querygate.u.u7.')), []);
  // Another user's pages go on writing.
  new tab2.History(s, 'u8', 'd1').add('SELECT 9');
  assert.equal(new tab2.History(s, 'u8', 'd1').list().length, 2);
  // Signed in again (a page of theirs loaded): their pages write again.
  tab2.signedIn(s, 'u7');
  h2.add('SELECT 2');
  assert.equal(h2.list().length, 1);
});
